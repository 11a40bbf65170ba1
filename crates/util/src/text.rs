//! Text from outside made safe for one log line.

/// `bytes` with every byte that is not printable ASCII (a control
/// character, DEL, or a byte of a non-ASCII character) as `?`, as
/// Postfix's printable() writes what a peer sent.
pub fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_printable_ascii_stays() {
        assert_eq!(
            super::printable(b"EHLO a\r\x1b[2J\xc3\xa9"),
            "EHLO a??[2J??"
        );
    }
}
