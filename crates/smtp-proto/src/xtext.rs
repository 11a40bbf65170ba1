//! RFC 3461 xtext, used by `ENVID=`, `ORCPT=` and `AUTH=`.

/// Decode xtext: printable ASCII except `+` and `=` stands for itself,
/// `+HH` (two hex digits) for any byte. Returns `None` on malformed input
/// or if the result is not UTF-8. Lowercase hex is accepted on input.
pub fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                let h = b.get(i + 1..i + 3)?;
                let hi = (h[0] as char).to_digit(16)?;
                let lo = (h[1] as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'=' => return None,
            c @ b'!'..=b'~' => {
                out.push(c);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// Encode as xtext: `+`, `=`, and anything outside `!`..`~` become `+HH`
/// (uppercase hex), byte by byte.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if (b'!'..=b'~').contains(&c) && c != b'+' && c != b'=' {
            out.push(c as char);
        } else {
            out.push('+');
            out.push(char::from(HEX[usize::from(c >> 4)]));
            out.push(char::from(HEX[usize::from(c & 15)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for s in [
            "",
            "abc",
            "a+b",
            "a=b",
            "a b",
            "rfc822;x@y",
            "jörg",
            "\u{1}\u{7f}",
        ] {
            assert_eq!(decode(&encode(s)).as_deref(), Some(s), "{s:?}");
        }
        assert_eq!(encode("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(decode("a+2Bb"), Some("a+b".into()));
        assert_eq!(decode("a+2bb"), Some("a+b".into()));
    }

    #[test]
    fn malformed() {
        for s in ["a+ZZ", "a+2", "a+", "a=b", "a b", "é", "+FF"] {
            assert_eq!(decode(s), None, "{s:?}");
        }
    }
}
