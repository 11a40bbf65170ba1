//! Multi-line bodies (RFC 1939 §3): a line starting with '.' gets
//! another '.', and the body ends with `.` on a line of its own.

/// Streams a body into its multi-line form, chunk by chunk: every line
/// starting with '.' is dot-stuffed, a bare LF becomes CRLF, a last line
/// without an end gets one before the final `.` line. State between
/// chunks is a couple of flags, so any chunking gives the same bytes.
#[derive(Debug, Clone)]
pub struct DotStuffer {
    /// At the start of a line.
    bol: bool,
    /// The last byte written was CR (an LF after it is its pair).
    last_cr: bool,
    /// Bytes of body seen (to know whether the last line is open).
    any: bool,
}

impl Default for DotStuffer {
    fn default() -> Self {
        DotStuffer::new()
    }
}

impl DotStuffer {
    pub fn new() -> Self {
        DotStuffer {
            bol: true,
            last_cr: false,
            any: false,
        }
    }

    /// Encodes `input`, appending to `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 64 + 2);
        let mut start = 0;
        for (i, &b) in input.iter().enumerate() {
            if self.bol && b == b'.' {
                out.extend_from_slice(&input[start..i]);
                out.push(b'.');
                start = i;
            }
            if b == b'\n' && !self.last_cr {
                out.extend_from_slice(&input[start..i]);
                out.push(b'\r');
                start = i;
            }
            self.bol = b == b'\n';
            self.last_cr = b == b'\r';
        }
        out.extend_from_slice(&input[start..]);
        if !input.is_empty() {
            self.any = true;
        }
    }

    /// Ends the body: CRLF if the last line is open, then `.` CRLF.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.any && !self.bol {
            if self.last_cr {
                out.push(b'\n');
            } else {
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(b".\r\n");
        *self = DotStuffer::new();
    }
}

/// Undoes dot-stuffing of a complete multi-line body that ends with
/// `.` CRLF (for clients and tests): `None` when the terminator is
/// missing.
pub fn dot_unstuff(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len());
    for line in data.split_inclusive(|&b| b == b'\n') {
        if line == b".\r\n" {
            return Some(out);
        }
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    None
}
