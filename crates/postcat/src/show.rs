//! The record printer: Postfix's `postcat()` state machine, record by
//! record, so the output is Postfix's line for line.

use queue::record::{type_name, RecordReader, POSTFIX_ENVELOPE_TYPES};
use std::io::{self, Read, Write};

/// What to print (Postfix's PC_FLAG_*).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    pub envelope: bool,
    pub header: bool,
    pub body: bool,
    pub offsets: bool,
    pub decimal: bool,
    pub raw: bool,
    pub verbose: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Env,
    Header,
    Body,
}

/// How one file went.
#[derive(Debug)]
pub enum Outcome {
    /// Shown to the end (or as far as the flags asked).
    Done,
    /// The first byte is no envelope record type: nothing shown.
    NotQueueFile,
    /// A record that cannot be read; what came before was shown.
    RecordError(String),
}

/// Postfix's `is_header()`: the length of a header label ("Name:" or the
/// obsolete "Name :"), 0 when `s` does not start with one.
pub fn is_header(s: &[u8]) -> usize {
    #[derive(PartialEq)]
    enum St {
        Init,
        InChar,
        InCharSpace,
    }
    let mut st = St::Init;
    let mut len = 0;
    for &c in s {
        match c {
            b' ' | b'\t' => {
                if st == St::InChar {
                    st = St::InCharSpace;
                }
                if st != St::InCharSpace {
                    return 0;
                }
            }
            b':' => {
                return if st == St::Init { 0 } else { len };
            }
            _ => {
                if c == 0 || !c.is_ascii() || c.is_ascii_control() || st == St::InCharSpace {
                    return 0;
                }
                st = St::InChar;
                len += 1;
            }
        }
    }
    0
}

/// `atol()`: the leading decimal number, 0 if none.
fn atol(s: &[u8]) -> i64 {
    let s = s.trim_ascii_start();
    let (neg, s) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for &c in s.iter().take_while(|c| c.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add(i64::from(c - b'0'));
    }
    if neg {
        -v
    } else {
        v
    }
}

/// `asctime(localtime(&t))`: "Sat Nov 21 10:00:00 2020\n".
pub fn asctime(t: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let tt = t as libc::time_t;
    // SAFETY: tm is plain data; localtime_r writes it and reads only tt.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    if unsafe { libc::localtime_r(&tt, &mut tm) }.is_null() {
        return "???\n".to_string();
    }
    format!(
        "{} {}{:3} {:02}:{:02}:{:02} {}\n",
        DAYS.get(tm.tm_wday as usize).unwrap_or(&"???"),
        MONTHS.get(tm.tm_mon as usize).unwrap_or(&"???"),
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        i64::from(tm.tm_year) + 1900
    )
}

/// Splits "name=value" as Postfix's `split_nameval()`: whitespace around
/// the name and leading whitespace of the value trimmed.
fn split_nameval(s: &[u8]) -> Result<(&[u8], &[u8]), &'static str> {
    let s = s.trim_ascii_start();
    let Some(eq) = s.iter().position(|&b| b == b'=') else {
        return Err("missing '=' after attribute name");
    };
    let name = s[..eq].trim_ascii_end();
    if name.is_empty() {
        return Err("missing attribute name");
    }
    Ok((name, s[eq + 1..].trim_ascii()))
}

/// Prints the records of one file from `input` to `out`; `label` is the
/// name Postfix would print (the path as given, `deferred/A/ID`, `stdin`).
/// Warnings go to `warn`.
pub fn postcat<R: Read, W: Write>(
    input: R,
    start_offset: u64,
    label: &str,
    flags: Flags,
    out: &mut W,
    warn: &mut dyn FnMut(String),
) -> io::Result<Outcome> {
    let mut input = input;
    let mut head = Vec::new();
    if start_offset == 0 {
        let mut b = [0u8; 1];
        loop {
            match input.read(&mut b) {
                Ok(0) => break,
                Ok(_) => {
                    if !POSTFIX_ENVELOPE_TYPES.contains(&b[0]) {
                        out.flush()?;
                        warn(format!("{label}: input is not a valid queue file"));
                        return Ok(Outcome::NotQueueFile);
                    }
                    head.push(b[0]);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if flags.envelope {
            writeln!(out, "*** ENVELOPE RECORDS {label} ***")?;
        }
    }
    let mut rr = RecordReader::new(io::Cursor::new(head).chain(input), start_offset);
    let mut prev_type: u8 = 0;
    let mut state = State::Env;
    let mut do_print = flags.envelope;
    let mut seen_size = false;
    let prefix = |out: &mut W, offset: u64, rtype: u8| -> io::Result<()> {
        if flags.offsets {
            write!(out, "{offset:9} ")?;
        }
        if flags.decimal {
            write!(out, "{rtype:3} ")?;
        }
        Ok(())
    };
    let marker = |out: &mut W, offset: u64, rtype: u8, text: &str| -> io::Result<()> {
        prefix(out, offset, rtype)?;
        writeln!(out, "*** {text} {label} ***")
    };
    loop {
        let rec = match rr.next_record() {
            Ok(Some(rec)) => rec,
            Ok(None) => break,
            Err(e) => return Ok(Outcome::RecordError(e.to_string())),
        };
        let (offset, mut rtype, buf) = (rec.offset, rec.rtype, rec.payload);
        let text_record = rtype == b'L' || rtype == b'N';
        if text_record {
            if state == State::Header
                && (flags.header || flags.body)
                && prev_type != b'L'
                && !(is_header(&buf) > 0 || matches!(buf.first(), Some(b' ' | b'\t')))
            {
                state = State::Body;
                do_print = flags.body;
                if !do_print && !flags.envelope {
                    break;
                }
            }
        } else if rtype == b'M' {
            if state != State::Env {
                out.flush()?;
                warn(format!("{label}: out-of-order message content marker"));
            }
            if flags.envelope {
                marker(out, offset, rtype, "MESSAGE CONTENTS")?;
            }
            state = State::Header;
            do_print = flags.header;
            continue;
        } else if rtype == b'X' {
            if state != State::Header && state != State::Body {
                out.flush()?;
                warn(format!("{label}: out-of-order extracted segment marker"));
            }
            // Postfix 3.7 ends an unterminated last line only before the
            // marker, i.e. when the envelope is shown.
            if flags.envelope && do_print && prev_type == b'L' {
                out.write_all(b"\n")?;
            }
            if flags.envelope {
                marker(out, offset, rtype, "HEADER EXTRACTED")?;
            }
            state = State::Env;
            do_print = flags.envelope;
            if !do_print {
                break;
            }
            continue;
        } else if rtype == b'E' {
            if state != State::Env {
                out.flush()?;
                warn(format!("{label}: out-of-order message end marker"));
            }
            if flags.envelope {
                marker(out, offset, rtype, "MESSAGE FILE END")?;
            }
            if flags.raw {
                continue;
            }
            break;
        } else if rtype == b'C' {
            if do_print {
                prefix(out, offset, rtype)?;
                out.write_all(type_name(rtype).as_bytes())?;
                out.write_all(b": ")?;
                out.write_all(&buf)?;
                out.write_all(b"\n")?;
            }
            if seen_size {
                out.flush()?;
                warn("file contains multiple size records".to_string());
            }
            seen_size = true;
            continue;
        }
        if !do_print {
            continue;
        }
        prefix(out, offset, rtype)?;
        match rtype {
            b'T' => {
                write!(out, "{}: {}", type_name(rtype), asctime(atol(&buf)))?;
            }
            b'W' => {
                write!(out, "{}: {}", type_name(rtype), asctime(atol(&buf)))?;
            }
            b'L' => {
                if state == State::Env {
                    write!(out, "{}: ", type_name(rtype))?;
                } else if flags.verbose {
                    out.write_all(b"unterminated_text: ")?;
                }
                out.write_all(&buf)?;
                if state == State::Env || flags.verbose || flags.offsets {
                    rtype = 0;
                    out.write_all(b"\n")?;
                }
            }
            b'N' => {
                if flags.verbose {
                    write!(out, "{}: ", type_name(rtype))?;
                }
                out.write_all(&buf)?;
                out.write_all(b"\n")?;
            }
            b'A' => match split_nameval(&buf) {
                Err(why) => {
                    out.flush()?;
                    warn(format!(
                        "{label}: malformed attribute: {why}: {}",
                        String::from_utf8_lossy(&buf[..buf.len().min(100)])
                    ));
                }
                Ok((name, value)) if name == b"create_time" => {
                    write!(out, "create_time: {}", asctime(atol(value)))?;
                }
                Ok((name, value)) => {
                    write!(out, "{}: ", type_name(rtype))?;
                    out.write_all(name)?;
                    out.write_all(b"=")?;
                    out.write_all(value)?;
                    out.write_all(b"\n")?;
                }
            },
            _ => {
                write!(out, "{}: ", type_name(rtype))?;
                out.write_all(&buf)?;
                out.write_all(b"\n")?;
            }
        }
        prev_type = rtype;
    }
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_labels() {
        assert_eq!(is_header(b"Subject: x"), 7);
        assert_eq!(is_header(b"Subject : x"), 7);
        assert_eq!(is_header(b"X-A:"), 3);
        assert_eq!(is_header(b": x"), 0);
        assert_eq!(is_header(b"no colon"), 0);
        assert_eq!(is_header(b"two words: x"), 0);
        assert_eq!(is_header(b""), 0);
        assert_eq!(is_header(b" Subject: x"), 0);
    }

    #[test]
    fn nameval() {
        assert_eq!(split_nameval(b" a = b "), Ok((&b"a"[..], &b"b"[..])));
        assert!(split_nameval(b"ab").is_err());
        assert!(split_nameval(b"=b").is_err());
    }

    #[test]
    fn atol_like_c() {
        assert_eq!(atol(b"  123 456"), 123);
        assert_eq!(atol(b"x"), 0);
        assert_eq!(atol(b"-5"), -5);
    }
}
