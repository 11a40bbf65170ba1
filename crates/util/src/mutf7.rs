//! Modified UTF-7 (RFC 3501 §5.1.3), the wire form of mailbox names
//! unless UTF8=ACCEPT (RFC 6855) or IMAP4rev2 is in use: printable ASCII
//! stands for itself, `&` is `&-`, and anything else is UTF-16BE in
//! base64 (with `,` for `/`) between `&` and `-`.

use std::fmt;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// A name that is not valid modified UTF-7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mutf7Error;

impl fmt::Display for Mutf7Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid modified UTF-7 mailbox name")
    }
}

impl std::error::Error for Mutf7Error {}

/// `name` (UTF-8) in modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut run: Vec<u16> = Vec::new();
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut run, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            run.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut run, &mut out);
    out
}

fn flush(run: &mut Vec<u16>, out: &mut String) {
    if run.is_empty() {
        return;
    }
    out.push('&');
    let bytes: Vec<u8> = run.iter().flat_map(|u| u.to_be_bytes()).collect();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out.push('-');
    run.clear();
}

fn b64_value(b: u8) -> Option<u32> {
    B64.iter().position(|&c| c == b).map(|i| i as u32)
}

/// `name` (modified UTF-7) decoded to UTF-8. Strict, like Dovecot: 8-bit
/// and control bytes, unterminated or badly padded runs, and printable
/// ASCII hidden in base64 are errors.
pub fn decode(name: &[u8]) -> Result<String, Mutf7Error> {
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    while i < name.len() {
        let b = name[i];
        if !(0x20..=0x7e).contains(&b) {
            return Err(Mutf7Error);
        }
        i += 1;
        if b != b'&' {
            out.push(char::from(b));
            continue;
        }
        if name.get(i) == Some(&b'-') {
            out.push('&');
            i += 1;
            continue;
        }
        let mut bits = 0u32;
        let mut nbits = 0u32;
        let mut units: Vec<u16> = Vec::new();
        let mut pending: Option<u8> = None;
        loop {
            let c = *name.get(i).ok_or(Mutf7Error)?;
            i += 1;
            if c == b'-' {
                break;
            }
            bits = (bits << 6) | b64_value(c).ok_or(Mutf7Error)?;
            nbits += 6;
            if nbits >= 8 {
                nbits -= 8;
                let byte = (bits >> nbits) as u8;
                bits &= (1 << nbits) - 1;
                match pending.take() {
                    None => pending = Some(byte),
                    Some(hi) => units.push(u16::from_be_bytes([hi, byte])),
                }
            }
        }
        if units.is_empty() || pending.is_some() || nbits >= 6 || bits != 0 {
            return Err(Mutf7Error);
        }
        for c in char::decode_utf16(units) {
            let c = c.map_err(|_| Mutf7Error)?;
            if (' '..='~').contains(&c) {
                return Err(Mutf7Error);
            }
            out.push(c);
        }
    }
    Ok(out)
}
