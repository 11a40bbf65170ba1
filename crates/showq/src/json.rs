//! Reading `postqueue -j` lines back into a [`Message`]: what postqueue
//! does with the showq service's answer. A small, strict JSON reader for
//! one object per line; members it does not know are skipped, as
//! postqueue(1) tells consumers to do.

use crate::Message;
use std::fmt;

/// A line that is not a listing object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub at: usize,
    pub what: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

impl std::error::Error for ParseError {}

struct P<'a> {
    s: &'a [u8],
    i: usize,
}

impl P<'_> {
    fn err(&self, what: &'static str) -> ParseError {
        ParseError { at: self.i, what }
    }

    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(|b| b" \t\r\n".contains(b)) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Result<(), ParseError> {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(match c {
                b'{' => "expected '{'",
                b'}' => "expected '}'",
                b'[' => "expected '['",
                b':' => "expected ':'",
                b'"' => "expected a string",
                _ => "unexpected character",
            }))
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.err("bad \\u escape"))?;
        self.i += 4;
        Ok(h)
    }

    /// A string, appended to `out`.
    fn string(&mut self, out: &mut String) -> Result<(), ParseError> {
        self.eat(b'"')?;
        loop {
            let start = self.i;
            while self
                .s
                .get(self.i)
                .is_some_and(|&b| b != b'"' && b != b'\\' && b >= 0x20)
            {
                self.i += 1;
            }
            let run = std::str::from_utf8(&self.s[start..self.i])
                .map_err(|_| self.err("string is not UTF-8"))?;
            out.push_str(run);
            match self.s.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.i += 1;
                    let e = *self.s.get(self.i).ok_or_else(|| self.err("bad escape"))?;
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let mut c = self.hex4()?;
                            if (0xD800..0xDC00).contains(&c)
                                && self.s.get(self.i..self.i + 2) == Some(b"\\u")
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                c = 0x10000
                                    + ((c - 0xD800) << 10)
                                    + (lo.wrapping_sub(0xDC00) & 0x3ff);
                            }
                            out.push(char::from_u32(c).unwrap_or('?'));
                        }
                        _ => return Err(self.err("bad escape")),
                    }
                }
                _ => return Err(self.err("unterminated string")),
            }
        }
    }

    fn number(&mut self) -> Result<i64, ParseError> {
        self.ws();
        let start = self.i;
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| self.err("expected a number"))
    }

    fn boolean(&mut self) -> Result<bool, ParseError> {
        self.ws();
        for (word, v) in [(&b"true"[..], true), (&b"false"[..], false)] {
            if self.s[self.i..].starts_with(word) {
                self.i += word.len();
                return Ok(v);
            }
        }
        Err(self.err("expected true or false"))
    }

    /// Skips any value.
    fn skip(&mut self, depth: usize) -> Result<(), ParseError> {
        if depth > 32 {
            return Err(self.err("nested too deeply"));
        }
        match self.peek() {
            Some(b'"') => self.string(&mut String::new()),
            Some(b'{') => {
                self.i += 1;
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.string(&mut String::new())?;
                    self.eat(b':')?;
                    self.skip(depth + 1)?;
                    if self.peek() == Some(b',') {
                        self.i += 1;
                    } else {
                        return self.eat(b'}');
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.skip(depth + 1)?;
                    if self.peek() == Some(b',') {
                        self.i += 1;
                    } else {
                        return self.eat(b']');
                    }
                }
            }
            Some(b't' | b'f') => self.boolean().map(|_| ()),
            Some(b'n') if self.s[self.i..].starts_with(b"null") => {
                self.i += 4;
                Ok(())
            }
            _ => self.number().map(|_| ()),
        }
    }

    /// Calls `member` for each member name of an object; `member` must
    /// consume the value (returning false makes it skipped here).
    fn object(
        &mut self,
        key: &mut String,
        mut member: impl FnMut(&mut Self, &str) -> Result<bool, ParseError>,
    ) -> Result<(), ParseError> {
        self.eat(b'{')?;
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            key.clear();
            self.string(key)?;
            self.eat(b':')?;
            if !member(self, key)? {
                self.skip(0)?;
            }
            if self.peek() == Some(b',') {
                self.i += 1;
            } else {
                return self.eat(b'}');
            }
        }
    }
}

/// Parses one listing line into `m` (cleared first). All of queue_name,
/// queue_id, arrival_time, message_size, sender and recipients must be
/// there; forced_expire may be missing (false).
pub fn parse_line(line: &[u8], m: &mut Message) -> Result<(), ParseError> {
    m.clear();
    let mut p = P { s: line, i: 0 };
    let mut seen = 0u8;
    let mut key = String::new();
    let mut inner = String::new();
    p.object(&mut key, |p, k| {
        match k {
            "queue_name" => {
                p.string(&mut m.queue_name)?;
                seen |= 1;
            }
            "queue_id" => {
                p.string(&mut m.queue_id)?;
                seen |= 2;
            }
            "arrival_time" => {
                m.arrival_time = p.number()?;
                seen |= 4;
            }
            "message_size" => {
                m.message_size = u64::try_from(p.number()?).unwrap_or(0);
                seen |= 8;
            }
            "forced_expire" => m.forced_expire = p.boolean()?,
            "sender" => {
                p.string(&mut m.sender)?;
                seen |= 16;
            }
            "recipients" => {
                p.eat(b'[')?;
                if p.peek() == Some(b']') {
                    p.i += 1;
                } else {
                    loop {
                        let r = m.push_rcpt();
                        let mut has_address = false;
                        p.object(&mut inner, |p, k| match k {
                            "address" => {
                                has_address = true;
                                p.string(&mut r.address).map(|()| true)
                            }
                            "delay_reason" => p.string(&mut r.reason).map(|()| true),
                            _ => Ok(false),
                        })?;
                        if !has_address {
                            return Err(p.err("recipient without an address"));
                        }
                        if p.peek() == Some(b',') {
                            p.i += 1;
                        } else {
                            p.eat(b']')?;
                            break;
                        }
                    }
                }
                seen |= 32;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    p.ws();
    if p.i != line.len() {
        return Err(p.err("data after the object"));
    }
    if seen != 63 {
        return Err(p.err("missing member"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::json_line;

    #[test]
    fn round_trip() {
        let mut m = Message {
            queue_name: "hold".into(),
            queue_id: "4jWjHp60ybz1T1Rm".into(),
            arrival_time: 1_795_243_206,
            message_size: 252,
            forced_expire: true,
            sender: "\"a \\\"b\"@x\ty".into(),
            ..Message::default()
        };
        m.add_rcpt("b@example.net", "why\u{1}é");
        m.add_rcpt("c@example.net", "");
        let mut line = Vec::new();
        json_line(&mut line, &m);
        let mut back = Message::default();
        parse_line(line.trim_ascii_end(), &mut back).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn unknown_members_are_skipped_and_bad_lines_refused() {
        let mut m = Message::default();
        let line = br#"{"x": [1, {"y": null}], "queue_name": "deferred", "queue_id": "A", "arrival_time": 1, "message_size": 2, "sender": "s", "recipients": [{"address": "r", "z": "q"}]}"#;
        parse_line(line, &mut m).unwrap();
        assert_eq!(m.recipients()[0].address, "r");
        for bad in [
            &b""[..],
            b"{",
            b"{\"queue_name\": \"a\"}",
            b"{\"queue_name\": \"a\", \"queue_id\": \"A\", \"arrival_time\": 1, \"message_size\": 2, \"sender\": \"s\", \"recipients\": [{}]}",
            b"[]",
            b"{\"queue_name\": \"a\\q\"}",
        ] {
            assert!(parse_line(bad, &mut m).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
