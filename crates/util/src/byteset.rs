//! A set of bytes written as Postfix writes one in main.cf
//! (`smtpd_expansion_filter`, `message_reject_characters`): the bytes
//! themselves, with the C escapes `\a \b \f \n \r \t \v`, `\ddd` (up to
//! three octal digits) and `\\`.

/// A set of byte values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteSet([bool; 256]);

impl ByteSet {
    /// The set `spec` writes.
    pub fn parse(spec: &str) -> ByteSet {
        let mut set = [false; 256];
        let b = spec.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = if b[i] == b'\\' && i + 1 < b.len() {
                i += 1;
                match b[i] {
                    b'a' => 0x07,
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'v' => 0x0b,
                    d @ b'0'..=b'7' => {
                        let mut v = u32::from(d - b'0');
                        let mut n = 1;
                        while n < 3 && i + 1 < b.len() && (b'0'..=b'7').contains(&b[i + 1]) {
                            i += 1;
                            n += 1;
                            v = v * 8 + u32::from(b[i] - b'0');
                        }
                        (v & 0xff) as u8
                    }
                    other => other,
                }
            } else {
                b[i]
            };
            set[usize::from(c)] = true;
            i += 1;
        }
        ByteSet(set)
    }

    pub fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b)]
    }

    pub fn is_empty(&self) -> bool {
        !self.0.iter().any(|&x| x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_read() {
        let s = ByteSet::parse("\\0\\t\\40\\\\x\\177");
        for b in [0u8, b'\t', b' ', b'\\', b'x', 0x7f] {
            assert!(s.contains(b), "{b}");
        }
        assert!(!s.contains(b'y'));
        assert!(ByteSet::parse("").is_empty());
    }
}
