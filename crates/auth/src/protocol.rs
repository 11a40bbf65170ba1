//! The Dovecot auth protocol (client ↔ auth server, version 1.2), without
//! sockets: line framing, tab escaping, and typed parsing of every line
//! either side sends. Each line is validated: a length limit, UTF-8,
//! tab-separated fields, numeric ids, and known commands only.
//!
//! ```text
//! S: VERSION 1 2 / MECH PLAIN plaintext / SPID n / CUID n / COOKIE hex / DONE
//! C: VERSION 1 2 / CPID n
//! C: AUTH id mech service=smtp [secured] [rip=..] [lip=..] [resp=base64]
//! S: CONT id base64 | OK id user=.. | FAIL id [user=..] [reason=..]
//! C: CONT id base64
//! ```

use std::fmt;
use std::net::IpAddr;

/// The protocol version this side speaks.
pub const VERSION_MAJOR: u32 = 1;
pub const VERSION_MINOR: u32 = 2;
/// The longest line either side accepts, newline excluded.
pub const MAX_LINE: usize = 16384;

/// Why a line is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtoError {
    TooLong,
    NotUtf8,
    Empty,
    UnknownCommand(String),
    /// A field is missing or malformed: which command, what.
    Bad(&'static str, &'static str),
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoError::TooLong => write!(f, "line longer than {MAX_LINE} bytes"),
            ProtoError::NotUtf8 => write!(f, "line is not UTF-8"),
            ProtoError::Empty => write!(f, "empty line"),
            ProtoError::UnknownCommand(c) => {
                write!(f, "unknown command {}", crate::printable(c, 20))
            }
            ProtoError::Bad(cmd, what) => write!(f, "{cmd}: {what}"),
        }
    }
}

impl std::error::Error for ProtoError {}

/// Takes the next complete line (without `\n`, and without a `\r` before
/// it) out of `buf`. `Ok(None)`: no complete line yet. A line, complete
/// or not, longer than [`MAX_LINE`] is an error.
pub fn take_line(buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>, ProtoError> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(p) if p > MAX_LINE => Err(ProtoError::TooLong),
        Some(p) => {
            let mut line: Vec<u8> = buf.drain(..=p).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            Ok(Some(line))
        }
        None if buf.len() > MAX_LINE => Err(ProtoError::TooLong),
        None => Ok(None),
    }
}

/// The server's `OK` line: the canonical user name, then the userdb
/// fields a passdb supplied (`userdb_uid=`, `userdb_gid=`,
/// `userdb_home=`, Dovecot's names for passdb fields meant for userdb).
/// A system account carries `userdb_system_groups_user=` (Dovecot's
/// userdb passwd field naming the account whose groups the mail process
/// gets): without it, the mail process never becomes a system account.
pub fn ok_line(id: u32, user: &str, f: &crate::passdb::UserFields) -> String {
    let mut line = format!("OK\t{id}\tuser={}", escape(user));
    if let Some(uid) = f.uid {
        line.push_str(&format!("\tuserdb_uid={uid}"));
    }
    if let Some(gid) = f.gid {
        line.push_str(&format!("\tuserdb_gid={gid}"));
    }
    if let Some(home) = &f.home {
        line.push_str(&format!("\tuserdb_home={}", escape(home)));
    }
    if f.system {
        line.push_str(&format!("\tuserdb_system_groups_user={}", escape(user)));
    }
    line.push('\n');
    line
}

pub use util::tabescape::{escape, unescape};

fn fields(line: &[u8]) -> Result<Vec<&str>, ProtoError> {
    if line.len() > MAX_LINE {
        return Err(ProtoError::TooLong);
    }
    let text = std::str::from_utf8(line).map_err(|_| ProtoError::NotUtf8)?;
    if text.is_empty() {
        return Err(ProtoError::Empty);
    }
    Ok(text.split('\t').collect())
}

fn number(cmd: &'static str, s: Option<&&str>) -> Result<u32, ProtoError> {
    let s = s.ok_or(ProtoError::Bad(cmd, "missing number"))?;
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ProtoError::Bad(cmd, "bad number"));
    }
    s.parse().map_err(|_| ProtoError::Bad(cmd, "bad number"))
}

fn is_base64_text(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
}

/// The parameters of an AUTH request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthParams {
    pub service: String,
    /// The connection to the end user is encrypted (or otherwise trusted).
    pub secured: bool,
    pub valid_client_cert: bool,
    pub no_penalty: bool,
    pub nologin: bool,
    pub rip: Option<IpAddr>,
    pub lip: Option<IpAddr>,
    pub rport: Option<u16>,
    pub lport: Option<u16>,
    /// The initial response, still base64 (may be empty).
    pub resp: Option<String>,
    pub session: Option<String>,
}

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientLine {
    Version {
        major: u32,
        minor: u32,
    },
    Cpid(u32),
    Auth {
        id: u32,
        mech: String,
        params: AuthParams,
    },
    /// A continuation: base64 (may be empty).
    Cont {
        id: u32,
        data: String,
    },
}

impl ClientLine {
    /// Parses one line (without its newline).
    pub fn parse(line: &[u8]) -> Result<ClientLine, ProtoError> {
        let f = fields(line)?;
        match f[0] {
            "VERSION" => Ok(ClientLine::Version {
                major: number("VERSION", f.get(1))?,
                minor: number("VERSION", f.get(2))?,
            }),
            "CPID" => Ok(ClientLine::Cpid(number("CPID", f.get(1))?)),
            "AUTH" => {
                let id = number("AUTH", f.get(1))?;
                let mech = f
                    .get(2)
                    .ok_or(ProtoError::Bad("AUTH", "missing mechanism"))?;
                if mech.is_empty()
                    || mech.len() > 64
                    || !mech
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(ProtoError::Bad("AUTH", "bad mechanism name"));
                }
                let mut p = AuthParams::default();
                for a in &f[3..] {
                    let (k, v) = match a.split_once('=') {
                        Some((k, v)) => (k, Some(v)),
                        None => (*a, None),
                    };
                    let ip = |v: Option<&str>| {
                        v.and_then(|v| v.parse::<IpAddr>().ok())
                            .ok_or(ProtoError::Bad("AUTH", "bad address"))
                    };
                    let port = |v: Option<&str>| {
                        // Decimal digits only (u16's parser takes a '+').
                        v.filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                            .and_then(|v| v.parse::<u16>().ok())
                            .ok_or(ProtoError::Bad("AUTH", "bad port"))
                    };
                    match k {
                        "service" => {
                            p.service = unescape(v.unwrap_or(""))
                                .ok_or(ProtoError::Bad("AUTH", "bad escape"))?
                        }
                        "secured" => p.secured = true,
                        "valid-client-cert" => p.valid_client_cert = true,
                        "no-penalty" => p.no_penalty = true,
                        "nologin" => p.nologin = true,
                        "rip" => p.rip = Some(ip(v)?),
                        "lip" => p.lip = Some(ip(v)?),
                        "rport" => p.rport = Some(port(v)?),
                        "lport" => p.lport = Some(port(v)?),
                        "resp" => {
                            let v = v.unwrap_or("");
                            if !is_base64_text(v) {
                                return Err(ProtoError::Bad("AUTH", "bad base64 in resp"));
                            }
                            p.resp = Some(v.to_string());
                        }
                        "session" => p.session = v.and_then(unescape),
                        // Other parameters (local_name, ssl_cipher...) are ignored, as Dovecot does.
                        _ => {}
                    }
                }
                if p.service.is_empty() {
                    return Err(ProtoError::Bad("AUTH", "missing service"));
                }
                Ok(ClientLine::Auth {
                    id,
                    mech: mech.to_ascii_uppercase(),
                    params: p,
                })
            }
            "CONT" => {
                let id = number("CONT", f.get(1))?;
                let data = f.get(2).copied().unwrap_or("");
                if f.len() > 3 || !is_base64_text(data) {
                    return Err(ProtoError::Bad("CONT", "bad base64"));
                }
                Ok(ClientLine::Cont {
                    id,
                    data: data.to_string(),
                })
            }
            other => Err(ProtoError::UnknownCommand(other.to_string())),
        }
    }
}

/// A mechanism the server offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mech {
    pub name: String,
    /// Dovecot's flags: anonymous, plaintext, dictionary, active,
    /// forward-secrecy, mutual-auth, private.
    pub flags: Vec<String>,
}

impl Mech {
    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

/// What a server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerLine {
    Version {
        major: u32,
        minor: u32,
    },
    Mech(Mech),
    Spid(u32),
    Cuid(u32),
    Cookie(String),
    Done,
    /// The challenge, base64.
    Cont {
        id: u32,
        data: String,
    },
    Ok {
        id: u32,
        user: Option<String>,
        /// userdb fields sent along (absent ones: None; malformed ones
        /// make the line invalid).
        fields: crate::passdb::UserFields,
    },
    Fail {
        id: u32,
        user: Option<String>,
        reason: Option<String>,
        temp: bool,
    },
}

fn reply_args(f: &[&str]) -> (Option<String>, Option<String>, bool) {
    let mut user = None;
    let mut reason = None;
    let mut temp = false;
    for a in f {
        if let Some(u) = a.strip_prefix("user=") {
            user = unescape(u);
        } else if let Some(r) = a.strip_prefix("reason=") {
            reason = unescape(r);
        } else if *a == "temp" {
            temp = true;
        }
    }
    (user, reason, temp)
}

fn userdb_fields(f: &[&str]) -> Result<crate::passdb::UserFields, ProtoError> {
    let mut out = crate::passdb::UserFields::default();
    for a in f {
        if let Some(v) = a.strip_prefix("userdb_uid=") {
            out.uid = Some(
                v.parse()
                    .map_err(|_| ProtoError::Bad("OK", "bad userdb_uid"))?,
            );
        } else if let Some(v) = a.strip_prefix("userdb_gid=") {
            out.gid = Some(
                v.parse()
                    .map_err(|_| ProtoError::Bad("OK", "bad userdb_gid"))?,
            );
        } else if let Some(v) = a.strip_prefix("userdb_home=") {
            let home = unescape(v).ok_or(ProtoError::Bad("OK", "bad userdb_home"))?;
            if !home.starts_with('/') || home.contains('\0') {
                return Err(ProtoError::Bad("OK", "userdb_home is not an absolute path"));
            }
            out.home = Some(home);
        } else if a.starts_with("userdb_system_groups_user=") {
            out.system = true;
        }
    }
    Ok(out)
}

impl ServerLine {
    pub fn parse(line: &[u8]) -> Result<ServerLine, ProtoError> {
        let f = fields(line)?;
        match f[0] {
            "VERSION" => Ok(ServerLine::Version {
                major: number("VERSION", f.get(1))?,
                minor: number("VERSION", f.get(2))?,
            }),
            "MECH" => {
                let name = f.get(1).ok_or(ProtoError::Bad("MECH", "missing name"))?;
                if name.is_empty() || name.len() > 64 {
                    return Err(ProtoError::Bad("MECH", "bad name"));
                }
                Ok(ServerLine::Mech(Mech {
                    name: name.to_ascii_uppercase(),
                    flags: f[2..].iter().map(|s| s.to_string()).collect(),
                }))
            }
            "SPID" => Ok(ServerLine::Spid(number("SPID", f.get(1))?)),
            "CUID" => Ok(ServerLine::Cuid(number("CUID", f.get(1))?)),
            "COOKIE" => Ok(ServerLine::Cookie(
                f.get(1)
                    .ok_or(ProtoError::Bad("COOKIE", "missing cookie"))?
                    .to_string(),
            )),
            "DONE" => Ok(ServerLine::Done),
            "CONT" => {
                let id = number("CONT", f.get(1))?;
                let data = f.get(2).copied().unwrap_or("");
                if !is_base64_text(data) {
                    return Err(ProtoError::Bad("CONT", "bad base64"));
                }
                Ok(ServerLine::Cont {
                    id,
                    data: data.to_string(),
                })
            }
            "OK" => {
                let id = number("OK", f.get(1))?;
                let (user, _, _) = reply_args(&f[2..]);
                let fields = userdb_fields(&f[2..])?;
                Ok(ServerLine::Ok { id, user, fields })
            }
            "FAIL" => {
                let id = number("FAIL", f.get(1))?;
                let (user, reason, temp) = reply_args(&f[2..]);
                Ok(ServerLine::Fail {
                    id,
                    user,
                    reason,
                    temp,
                })
            }
            other => Err(ProtoError::UnknownCommand(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_lines_split_anywhere() {
        let input = b"VERSION\t1\t2\r\nCPID\t42\nAUTH\t1\tPLAIN\tservice=smtp\n";
        for cut in 0..input.len() {
            let mut buf = input[..cut].to_vec();
            let mut lines = Vec::new();
            while let Some(l) = take_line(&mut buf).expect("frame") {
                lines.push(l);
            }
            buf.extend_from_slice(&input[cut..]);
            while let Some(l) = take_line(&mut buf).expect("frame") {
                lines.push(l);
            }
            assert_eq!(lines.len(), 3, "cut at {cut}");
            assert_eq!(lines[0], b"VERSION\t1\t2");
            assert!(buf.is_empty());
        }
        let mut long = vec![b'a'; MAX_LINE + 1];
        assert_eq!(take_line(&mut long), Err(ProtoError::TooLong));
    }

    #[test]
    fn parses_client_lines() {
        assert_eq!(
            ClientLine::parse(b"VERSION\t1\t2"),
            Ok(ClientLine::Version { major: 1, minor: 2 })
        );
        assert_eq!(ClientLine::parse(b"CPID\t77"), Ok(ClientLine::Cpid(77)));
        let a = ClientLine::parse(
            b"AUTH\t7\tplain\tservice=smtp\tnologin\tlip=127.0.0.1\trip=192.0.2.1\tsecured\tresp=AGEAYg==",
        );
        let Ok(ClientLine::Auth { id, mech, params }) = a else {
            panic!("{a:?}");
        };
        assert_eq!((id, mech.as_str()), (7, "PLAIN"));
        assert!(params.secured && params.nologin);
        assert_eq!(params.rip, Some("192.0.2.1".parse().expect("ip")));
        assert_eq!(params.resp.as_deref(), Some("AGEAYg=="));
        assert_eq!(
            ClientLine::parse(b"CONT\t7\t"),
            Ok(ClientLine::Cont {
                id: 7,
                data: String::new()
            })
        );
    }

    #[test]
    fn rejects_bad_client_lines() {
        for bad in [
            &b""[..],
            b"VERSION\t1",
            b"VERSION\tx\t2",
            b"CPID\t99999999999",
            b"AUTH\t1",
            b"AUTH\tx\tPLAIN\tservice=smtp",
            b"AUTH\t1\tPL AIN\tservice=smtp",
            b"AUTH\t1\tPLAIN",
            b"AUTH\t1\tPLAIN\tservice=smtp\trip=nonsense",
            b"AUTH\t1\tPLAIN\tservice=smtp\trport=+25",
            b"AUTH\t1\tPLAIN\tservice=smtp\tlport=",
            b"AUTH\t1\tPLAIN\tservice=smtp\tresp=a\x01b",
            b"CONT\t1\tnot base64!",
            b"CONT\t1\tAA\textra",
            b"HELLO",
            b"\xff\xfe",
        ] {
            assert!(
                ClientLine::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn parses_server_lines() {
        assert_eq!(
            ServerLine::parse(b"MECH\tPLAIN\tplaintext"),
            Ok(ServerLine::Mech(Mech {
                name: "PLAIN".into(),
                flags: vec!["plaintext".into()]
            }))
        );
        assert_eq!(
            ServerLine::parse(b"OK\t3\tuser=al\x01tice"),
            Ok(ServerLine::Ok {
                id: 3,
                user: Some("al\tice".into()),
                fields: Default::default(),
            })
        );
        let f = crate::passdb::UserFields {
            uid: Some(1001),
            gid: Some(100),
            home: Some("/home/v\tx".into()),
            system: false,
        };
        let line = ok_line(4, "v@example.com", &f);
        assert_eq!(
            line,
            "OK\t4\tuser=v@example.com\tuserdb_uid=1001\tuserdb_gid=100\tuserdb_home=/home/v\x01tx\n"
        );
        assert_eq!(
            ServerLine::parse(line.trim_end().as_bytes()),
            Ok(ServerLine::Ok {
                id: 4,
                user: Some("v@example.com".into()),
                fields: f,
            })
        );
        // A system account says so; nothing else becomes one.
        let line = ok_line(5, "alice", &crate::passdb::UserFields::system());
        assert_eq!(line, "OK\t5\tuser=alice\tuserdb_system_groups_user=alice\n");
        match ServerLine::parse(line.trim_end().as_bytes()) {
            Ok(ServerLine::Ok { fields, .. }) => assert!(fields.system),
            other => panic!("{other:?}"),
        }
        match ServerLine::parse(b"OK\t6\tuser=alice") {
            Ok(ServerLine::Ok { fields, .. }) => assert!(!fields.system),
            other => panic!("{other:?}"),
        }
        for bad in [
            &b"OK\t4\tuser=a\tuserdb_uid=-1"[..],
            b"OK\t4\tuser=a\tuserdb_gid=x",
            b"OK\t4\tuser=a\tuserdb_home=relative",
        ] {
            assert!(ServerLine::parse(bad).is_err());
        }
        assert_eq!(
            ServerLine::parse(b"FAIL\t3\tuser=bob\ttemp\treason=try later"),
            Ok(ServerLine::Fail {
                id: 3,
                user: Some("bob".into()),
                reason: Some("try later".into()),
                temp: true
            })
        );
        assert_eq!(ServerLine::parse(b"DONE"), Ok(ServerLine::Done));
        assert!(ServerLine::parse(b"OK\tx").is_err());
    }

    #[test]
    fn escapes_round_trip() {
        let s = "a\tb\x01c\nd\re";
        assert_eq!(unescape(&escape(s)).as_deref(), Some(s));
        assert!(!escape(s).contains('\t'));
        assert_eq!(unescape("\x01x"), None);
    }
}
