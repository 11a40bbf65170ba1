//! Decoding for SEARCH: RFC 2047 encoded words in header values,
//! Content-Transfer-Encoding (base64, quoted-printable) and a few
//! charsets.
//!
//! Charsets decoded: UTF-8, US-ASCII, ISO-8859-1 (and its aliases) and
//! Windows-1252. Any other charset is unknown: an encoded word in it is
//! kept as written (`=?koi8-r?B?...?=`), and a body in it is decoded as
//! UTF-8 with U+FFFD for invalid sequences. Undeclared 8-bit header
//! bytes that are not UTF-8 are read as ISO-8859-1.

/// The bytes of a transfer-encoded body, decoded. `encoding` is the
/// Content-Transfer-Encoding value (case-insensitive); base64 and
/// quoted-printable are decoded, anything else (7bit, 8bit, binary,
/// unknown) is returned as it is.
pub fn transfer_decode(encoding: &str, body: &[u8]) -> Vec<u8> {
    if encoding.eq_ignore_ascii_case("base64") {
        base64_decode(body)
    } else if encoding.eq_ignore_ascii_case("quoted-printable") {
        qp_decode(body)
    } else {
        body.to_vec()
    }
}

fn b64_value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Base64 as found in mail (RFC 2045 §6.8): line breaks and any other
/// character outside the alphabet are skipped, decoding stops at the
/// first `=`, a trailing partial group is decoded as far as it goes.
/// Never fails.
pub fn base64_decode(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in text {
        if c == b'=' {
            break;
        }
        let Some(v) = b64_value(c) else { continue };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Quoted-printable (RFC 2045 §6.7): `=XX` escapes, soft line breaks
/// (`=` then optional blanks then LF or CRLF). A malformed `=` is kept
/// literally.
pub fn qp_decode(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c != b'=' {
            out.push(c);
            i += 1;
            continue;
        }
        if let (Some(h), Some(l)) = (
            text.get(i + 1).copied().and_then(hex),
            text.get(i + 2).copied().and_then(hex),
        ) {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        // Soft line break, possibly with trailing blanks before it.
        let mut j = i + 1;
        while j < text.len() && (text[j] == b' ' || text[j] == b'\t') {
            j += 1;
        }
        if j == text.len() {
            i = j;
        } else if text[j] == b'\n' {
            i = j + 1;
        } else if text[j] == b'\r' && text.get(j + 1) == Some(&b'\n') {
            i = j + 2;
        } else {
            out.push(b'=');
            i += 1;
        }
    }
    out
}

/// Q encoding of RFC 2047 §4.2: quoted-printable with `_` for space.
fn q_decode(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'_' => out.push(b' '),
            b'=' => {
                if let (Some(h), Some(l)) = (
                    text.get(i + 1).copied().and_then(hex),
                    text.get(i + 2).copied().and_then(hex),
                ) {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                out.push(b'=');
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// Windows-1252 0x80..=0x9F; 0 marks the five undefined positions
/// (decoded as the C1 control of the same value, like ISO-8859-1).
const CP1252: [u16; 32] = [
    0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
    0x0152, 0, 0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC,
    0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
];

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

fn cp1252(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => match CP1252[(b - 0x80) as usize] {
                0 => b as char,
                u => char::from_u32(u as u32).unwrap_or('\u{FFFD}'),
            },
            _ => b as char,
        })
        .collect()
}

/// Decodes `bytes` in `charset` (case-insensitive; an RFC 2231 `*lang`
/// suffix is ignored). None if the charset is not one this crate knows
/// (see the module header). UTF-8 and US-ASCII decode lossily.
pub fn decode_charset(bytes: &[u8], charset: &str) -> Option<String> {
    let cs = charset
        .split('*')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match cs.as_str() {
        "utf-8" | "utf8" | "us-ascii" | "ascii" | "ansi_x3.4-1968" | "" => {
            Some(String::from_utf8_lossy(bytes).into_owned())
        }
        "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1" => {
            Some(latin1(bytes))
        }
        "windows-1252" | "cp1252" | "x-cp1252" => Some(cp1252(bytes)),
        _ => None,
    }
}

/// Undeclared bytes: UTF-8 when they are, else ISO-8859-1.
pub(crate) fn bytes_to_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => latin1(bytes),
    }
}

/// Unfolds a header value (RFC 5322 §2.2.3) the way Dovecot does:
/// each line's trailing blanks and its line break are removed, so a
/// blank continuation line adds nothing; then both ends are trimmed.
pub fn unfold(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    for line in value.split(|&b| b == b'\n') {
        let end = line.iter().rposition(|&b| !is_wsp(b)).map_or(0, |e| e + 1);
        out.extend_from_slice(&line[..end]);
    }
    trim(&out).to_vec()
}

pub(crate) fn is_wsp(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

pub(crate) fn trim(b: &[u8]) -> &[u8] {
    let s = b.iter().position(|&c| !is_wsp(c)).unwrap_or(b.len());
    let e = b.iter().rposition(|&c| !is_wsp(c)).map_or(s, |e| e + 1);
    &b[s..e]
}

/// One encoded word starting at `text[0..]` (`=?cs?e?data?=`): the
/// decoded text and the length consumed, or None if it is not one (or
/// its charset is unknown).
fn encoded_word(text: &[u8]) -> Option<(String, usize)> {
    if !text.starts_with(b"=?") {
        return None;
    }
    let cs_end = 2 + text[2..].iter().position(|&b| b == b'?')?;
    let charset = std::str::from_utf8(&text[2..cs_end]).ok()?;
    let enc = *text.get(cs_end + 1)?;
    if text.get(cs_end + 2) != Some(&b'?') {
        return None;
    }
    let data_start = cs_end + 3;
    let rel = text[data_start..].windows(2).position(|w| w == b"?=")?;
    let data = &text[data_start..data_start + rel];
    if data.iter().any(|&b| b == b' ' || b == b'\t') || charset.is_empty() {
        return None;
    }
    let raw = match enc {
        b'B' | b'b' => base64_decode(data),
        b'Q' | b'q' => q_decode(data),
        _ => return None,
    };
    let decoded = decode_charset(&raw, charset)?;
    Some((decoded, data_start + rel + 2))
}

/// A header value as text: unfolded, RFC 2047 encoded words decoded
/// (blanks between two adjacent encoded words dropped), encoded words in
/// an unknown charset kept as written.
pub fn decode_header(raw: &[u8]) -> String {
    let v = unfold(raw);
    let mut out = String::with_capacity(v.len());
    let mut plain_start = 0;
    let mut last_was_word = false;
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'=' && v.get(i + 1) == Some(&b'?') {
            if let Some((text, used)) = encoded_word(&v[i..]) {
                let between = &v[plain_start..i];
                if !(last_was_word && between.iter().all(|&b| is_wsp(b))) {
                    out.push_str(&bytes_to_text(between));
                }
                out.push_str(&text);
                i += used;
                plain_start = i;
                last_was_word = true;
                continue;
            }
        }
        if !is_wsp(v[i]) {
            last_was_word = false;
        }
        i += 1;
    }
    out.push_str(&bytes_to_text(&v[plain_start..]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_tolerant() {
        assert_eq!(base64_decode(b"aGVs\r\nbG8=\r\n"), b"hello");
        assert_eq!(base64_decode(b"aGVsbG8"), b"hello");
        assert_eq!(base64_decode(b"a GV*sbG8=junk"), b"hello");
        assert_eq!(base64_decode(b""), b"");
    }

    #[test]
    fn quoted_printable() {
        assert_eq!(
            qp_decode(b"caf=C3=A9 =\r\nau lait=\nx"),
            "café au laitx".as_bytes()
        );
        assert_eq!(qp_decode(b"a=3db =  \r\nc"), b"a=b c");
        assert_eq!(qp_decode(b"50=% off="), b"50=% off");
    }

    #[test]
    fn header_words() {
        assert_eq!(decode_header(b"=?utf-8?Q?caf=C3=A9?= ok"), "café ok");
        assert_eq!(
            decode_header(b"=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?="),
            "If you can read this yo =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?="
        );
        assert_eq!(decode_header(b"=?utf-8?q?a?= =?utf-8?q?b?="), "ab");
        assert_eq!(decode_header(b"=?utf-8?q?a?= x =?utf-8?q?b?="), "a x b");
        assert_eq!(decode_header(b"=?iso-8859-1?q?J=F6rg?="), "Jörg");
        assert_eq!(
            decode_header(b"=?windows-1252?q?=93hi=94?="),
            "\u{201c}hi\u{201d}"
        );
        assert_eq!(decode_header(b"=?utf-8*en?B?w6k=?="), "é");
        assert_eq!(decode_header(b"=?broken"), "=?broken");
        assert_eq!(decode_header(b"=?utf-8?X?abc?="), "=?utf-8?X?abc?=");
        assert_eq!(decode_header(b"caf\xe9"), "café");
    }

    #[test]
    fn charsets() {
        assert_eq!(decode_charset(b"\xe9", "ISO-8859-1").as_deref(), Some("é"));
        assert_eq!(decode_charset(b"x", "koi8-r"), None);
        assert_eq!(transfer_decode("BASE64", b"aGk="), b"hi");
        assert_eq!(transfer_decode("7bit", b"=41"), b"=41");
    }
}
