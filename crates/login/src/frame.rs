//! The one channel between the unprivileged pre-login process and its
//! root parent: a socketpair carrying tiny, strictly checked frames.
//!
//! child → parent, a login attempt: `u32 len, user, u32 len, password,
//! u8 method, u8 tls` (big-endian lengths; user at most [`MAX_USER`]
//! bytes, password at most [`MAX_PASS`]; tls 1 when the client
//! connection is TLS-encrypted, else 0).
//! parent → child: one line, `OK`, `FAIL` or `TEMP`.
//! child → parent after `OK`, the hand-over: `u32 len, tag, u32 len,
//! bytes` — the login command's tag (IMAP; empty for POP3), at most
//! [`MAX_TAG`] visible ASCII characters, which the user's session
//! answers once it is ready, then what the client already sent after
//! its login command (pipelining), at most [`MAX_PENDING`] bytes,
//! handed over unparsed; the parent reads it only after it has become
//! the user.

use std::io::{self, Read, Write};

pub const MAX_USER: usize = 255;
pub const MAX_PASS: usize = 1024;
pub const MAX_PENDING: usize = 16384;
pub const MAX_TAG: usize = 1024;

/// How the client logged in (for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    UserPass,
    Plain,
    Login,
}

impl Method {
    fn code(self) -> u8 {
        match self {
            Method::UserPass => 0,
            Method::Plain => 1,
            Method::Login => 2,
        }
    }

    fn from_code(c: u8) -> Option<Method> {
        match c {
            0 => Some(Method::UserPass),
            1 => Some(Method::Plain),
            2 => Some(Method::Login),
            _ => None,
        }
    }

    /// As Dovecot logs it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::UserPass | Method::Plain => "PLAIN",
            Method::Login => "LOGIN",
        }
    }
}

/// A login attempt as the parent accepts it.
pub struct Attempt {
    pub user: String,
    pub pass: Vec<u8>,
    pub method: Method,
    /// The client talks TLS to the pre-login process (which then stays
    /// on as the session's TLS relay).
    pub tls: bool,
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Attempt({:?}, <password>, {:?}, tls={})",
            self.user, self.method, self.tls
        )
    }
}

/// The parent's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Ok,
    Fail,
    Temp,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Whether `user` may be sent at all (both sides check).
pub fn user_ok(user: &str) -> bool {
    !user.is_empty() && user.len() <= MAX_USER && !user.chars().any(|c| c.is_control() || c == '\t')
}

/// Whether `pass` may be sent.
pub fn pass_ok(pass: &[u8]) -> bool {
    pass.len() <= MAX_PASS && !pass.contains(&0)
}

pub fn write_attempt(
    w: &mut impl Write,
    user: &str,
    pass: &[u8],
    m: Method,
    tls: bool,
) -> io::Result<()> {
    if !user_ok(user) || !pass_ok(pass) {
        return Err(bad("login attempt out of bounds"));
    }
    let mut out = Vec::with_capacity(10 + user.len() + pass.len());
    out.extend_from_slice(&(user.len() as u32).to_be_bytes());
    out.extend_from_slice(user.as_bytes());
    out.extend_from_slice(&(pass.len() as u32).to_be_bytes());
    out.extend_from_slice(pass);
    out.push(m.code());
    out.push(u8::from(tls));
    w.write_all(&out)
}

fn read_len(r: &mut impl Read, max: usize) -> io::Result<usize> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    let n = u32::from_be_bytes(b) as usize;
    if n > max {
        return Err(bad("frame length out of bounds"));
    }
    Ok(n)
}

/// Reads one attempt; `Ok(None)` when the child closed the channel
/// between frames (the client went away or quit).
pub fn read_attempt(r: &mut impl Read) -> io::Result<Option<Attempt>> {
    let mut first = [0u8; 1];
    loop {
        match r.read(&mut first) {
            Ok(0) => return Ok(None),
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let mut rest = [0u8; 3];
    r.read_exact(&mut rest)?;
    let ulen = u32::from_be_bytes([first[0], rest[0], rest[1], rest[2]]) as usize;
    if ulen > MAX_USER {
        return Err(bad("user name too long"));
    }
    let mut user = vec![0u8; ulen];
    r.read_exact(&mut user)?;
    let plen = read_len(r, MAX_PASS)?;
    let mut pass = vec![0u8; plen];
    r.read_exact(&mut pass)?;
    let mut m = [0u8; 2];
    r.read_exact(&mut m)?;
    let user = String::from_utf8(user).map_err(|_| bad("user name is not UTF-8"))?;
    if !user_ok(&user) {
        return Err(bad("user name with control characters"));
    }
    if !pass_ok(&pass) {
        return Err(bad("password with NUL"));
    }
    let method = Method::from_code(m[0]).ok_or_else(|| bad("unknown method"))?;
    let tls = match m[1] {
        0 => false,
        1 => true,
        _ => return Err(bad("bad TLS flag")),
    };
    Ok(Some(Attempt {
        user,
        pass,
        method,
        tls,
    }))
}

pub fn write_answer(w: &mut impl Write, a: Answer) -> io::Result<()> {
    w.write_all(match a {
        Answer::Ok => b"OK\n",
        Answer::Fail => b"FAIL\n",
        Answer::Temp => b"TEMP\n",
    })
}

pub fn read_answer(r: &mut impl Read) -> io::Result<Answer> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while line.len() < 16 {
        r.read_exact(&mut b)?;
        if b[0] == b'\n' {
            return match line.as_slice() {
                b"OK" => Ok(Answer::Ok),
                b"FAIL" => Ok(Answer::Fail),
                b"TEMP" => Ok(Answer::Temp),
                _ => Err(bad("unknown answer")),
            };
        }
        line.push(b[0]);
    }
    Err(bad("answer too long"))
}

/// Whether `tag` may be handed over: visible ASCII, at most [`MAX_TAG`].
pub fn tag_ok(tag: &str) -> bool {
    tag.len() <= MAX_TAG && tag.bytes().all(|b| b.is_ascii_graphic())
}

pub fn write_hand_over(w: &mut impl Write, tag: &str, pending: &[u8]) -> io::Result<()> {
    if !tag_ok(tag) {
        return Err(bad("login tag out of bounds"));
    }
    let p = &pending[..pending.len().min(MAX_PENDING)];
    let mut out = Vec::with_capacity(8 + tag.len() + p.len());
    out.extend_from_slice(&(tag.len() as u32).to_be_bytes());
    out.extend_from_slice(tag.as_bytes());
    out.extend_from_slice(&(p.len() as u32).to_be_bytes());
    out.extend_from_slice(p);
    w.write_all(&out)
}

/// The login's tag and the pending client bytes.
pub fn read_hand_over(r: &mut impl Read) -> io::Result<(String, Vec<u8>)> {
    let n = read_len(r, MAX_TAG)?;
    let mut tag = vec![0u8; n];
    r.read_exact(&mut tag)?;
    let tag = String::from_utf8(tag)
        .ok()
        .filter(|t| tag_ok(t))
        .ok_or_else(|| bad("bad login tag"))?;
    let n = read_len(r, MAX_PENDING)?;
    let mut v = vec![0u8; n];
    r.read_exact(&mut v)?;
    Ok((tag, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempt_round_trip_and_limits() {
        let mut v = Vec::new();
        write_attempt(&mut v, "bob", b"pw d", Method::Plain, true).expect("write");
        let a = read_attempt(&mut v.as_slice())
            .expect("read")
            .expect("some");
        assert_eq!((a.user.as_str(), a.pass.as_slice()), ("bob", &b"pw d"[..]));
        assert_eq!(a.method, Method::Plain);
        assert!(a.tls);
        assert!(read_attempt(&mut &b""[..]).expect("eof").is_none());
        // A forged frame: user name too long, control characters, bad method.
        let mut f = 300u32.to_be_bytes().to_vec();
        f.extend(vec![b'a'; 300]);
        assert!(read_attempt(&mut f.as_slice()).is_err());
        let mut f = 3u32.to_be_bytes().to_vec();
        f.extend_from_slice(b"a\nb");
        f.extend_from_slice(&0u32.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        assert!(read_attempt(&mut f.as_slice()).is_err());
        let mut f = 1u32.to_be_bytes().to_vec();
        f.extend_from_slice(b"a");
        f.extend_from_slice(&0u32.to_be_bytes());
        f.extend_from_slice(&[0, 2]);
        assert!(read_attempt(&mut f.as_slice()).is_err(), "bad TLS flag");
        let mut f = 1u32.to_be_bytes().to_vec();
        f.extend_from_slice(b"a");
        f.extend_from_slice(&0u32.to_be_bytes());
        f.extend_from_slice(&[9, 0]);
        assert!(read_attempt(&mut f.as_slice()).is_err());
        assert!(write_attempt(&mut Vec::new(), "a\u{7f}", b"", Method::Plain, false).is_err());
        let mut v = Vec::new();
        write_answer(&mut v, Answer::Temp).expect("write");
        assert_eq!(read_answer(&mut v.as_slice()).expect("read"), Answer::Temp);
        let mut v = Vec::new();
        write_hand_over(&mut v, "", b"STAT\r\n").expect("write");
        let (tag, pending) = read_hand_over(&mut v.as_slice()).expect("read");
        assert_eq!((tag.as_str(), pending.as_slice()), ("", &b"STAT\r\n"[..]));
        let mut v = Vec::new();
        write_hand_over(&mut v, "a1", b"").expect("write");
        assert_eq!(read_hand_over(&mut v.as_slice()).expect("read").0, "a1");
        assert!(
            write_hand_over(&mut Vec::new(), "a b", b"").is_err(),
            "space in a tag"
        );
        let mut f = 3u32.to_be_bytes().to_vec();
        f.extend_from_slice(b"a\rb");
        f.extend_from_slice(&0u32.to_be_bytes());
        assert!(read_hand_over(&mut f.as_slice()).is_err(), "CR in a tag");
    }
}
