//! The client side of the Dovecot auth protocol, for smtpd (and pop3d,
//! imapd): connect to the socket (ours or a real Dovecot's), read the
//! handshake, and run authentications, asking the caller for each
//! continuation.

use crate::protocol::{self, Mech, ServerLine};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Why the auth service could not be used.
#[derive(Debug)]
pub enum ClientError {
    Connect(io::Error),
    Io(io::Error),
    /// The server said something this client does not accept.
    Protocol(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect(e) => write!(f, "connect: {e}"),
            ClientError::Io(e) => write!(f, "{e}"),
            ClientError::Protocol(e) => write!(f, "protocol error: {e}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// Who is authenticating, as the server should know it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `smtp`, `pop3`, `imap`.
    pub service: String,
    pub rip: Option<IpAddr>,
    pub lip: Option<IpAddr>,
    pub rport: Option<u16>,
    pub lport: Option<u16>,
    /// The client connection is TLS-encrypted.
    pub secured: bool,
}

/// The end of an authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok {
        user: String,
        /// What the passdb knows of the user (a passwd-file line's uid,
        /// gid and home).
        fields: crate::passdb::UserFields,
    },
    /// `reason` is for the client's eyes (Postfix shows it after 535).
    Fail {
        user: Option<String>,
        reason: Option<String>,
        temp: bool,
    },
    /// The caller gave up (the SMTP client sent `*`).
    Aborted,
}

/// A connection to the auth service, handshake done.
pub struct Client {
    stream: UnixStream,
    buf: Vec<u8>,
    mechs: Vec<Mech>,
    next_id: u32,
}

impl Client {
    /// Connects to `path` and reads the server's handshake.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).map_err(ClientError::Connect)?;
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|_| stream.set_write_timeout(Some(timeout)))
            .map_err(ClientError::Io)?;
        let mut c = Client {
            stream,
            buf: Vec::new(),
            mechs: Vec::new(),
            next_id: 1,
        };
        c.stream
            .write_all(
                format!(
                    "VERSION\t{}\t{}\nCPID\t{}\n",
                    protocol::VERSION_MAJOR,
                    protocol::VERSION_MINOR,
                    std::process::id()
                )
                .as_bytes(),
            )
            .map_err(ClientError::Io)?;
        let mut version = false;
        loop {
            match c.read_line()? {
                ServerLine::Version { major, .. } => {
                    if major != protocol::VERSION_MAJOR {
                        return Err(ClientError::Protocol(format!(
                            "server speaks protocol version {major}"
                        )));
                    }
                    version = true;
                }
                _ if !version => {
                    return Err(ClientError::Protocol("handshake without VERSION".into()))
                }
                ServerLine::Mech(m) => c.mechs.push(m),
                ServerLine::Spid(_) | ServerLine::Cuid(_) | ServerLine::Cookie(_) => {}
                ServerLine::Done => return Ok(c),
                other => {
                    return Err(ClientError::Protocol(format!(
                        "unexpected line in handshake: {other:?}"
                    )))
                }
            }
        }
    }

    /// The mechanisms the server offers.
    pub fn mechanisms(&self) -> &[Mech] {
        &self.mechs
    }

    fn read_line(&mut self) -> Result<ServerLine, ClientError> {
        loop {
            if let Some(line) = protocol::take_line(&mut self.buf)
                .map_err(|e| ClientError::Protocol(e.to_string()))?
            {
                return ServerLine::parse(&line).map_err(|e| ClientError::Protocol(e.to_string()));
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(ClientError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed by the authentication server",
                    )))
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ClientError::Io(e)),
            }
        }
    }

    /// Runs one authentication. `initial` is the client's initial
    /// response as sent (base64; `=` for empty). `next` gets each
    /// challenge (base64) and returns the client's answer (base64), or
    /// None to abort.
    pub fn authenticate(
        &mut self,
        mech: &str,
        req: &Request,
        initial: Option<&str>,
        next: &mut dyn FnMut(&str) -> Option<String>,
    ) -> Result<Outcome, ClientError> {
        let invalid = |what: &str| Outcome::Fail {
            user: None,
            reason: Some(format!("Invalid base64 data in {what}")),
            temp: false,
        };
        if !self.mechs.iter().any(|m| m.name.eq_ignore_ascii_case(mech)) {
            return Ok(Outcome::Fail {
                user: None,
                reason: Some("Invalid authentication mechanism".into()),
                temp: false,
            });
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let mut line = format!(
            "AUTH\t{id}\t{}\tservice={}\tnologin",
            mech.to_ascii_uppercase(),
            protocol::escape(&req.service)
        );
        if let Some(ip) = req.lip {
            line.push_str(&format!("\tlip={ip}"));
        }
        if let Some(ip) = req.rip {
            line.push_str(&format!("\trip={ip}"));
        }
        if let Some(p) = req.lport {
            line.push_str(&format!("\tlport={p}"));
        }
        if let Some(p) = req.rport {
            line.push_str(&format!("\trport={p}"));
        }
        if req.secured {
            line.push_str("\tsecured");
        }
        if let Some(i) = initial {
            let i = if i == "=" { "" } else { i };
            if crate::base64::decode(i).is_none() {
                return Ok(invalid("initial response"));
            }
            line.push_str(&format!("\tresp={i}"));
        }
        line.push('\n');
        self.stream
            .write_all(line.as_bytes())
            .map_err(ClientError::Io)?;
        loop {
            match self.read_line()? {
                ServerLine::Ok {
                    id: r,
                    user,
                    fields,
                } if r == id => {
                    return match user {
                        Some(user) => Ok(Outcome::Ok { user, fields }),
                        None => Err(ClientError::Protocol("OK without user".into())),
                    }
                }
                ServerLine::Fail {
                    id: r,
                    user,
                    reason,
                    temp,
                } if r == id => return Ok(Outcome::Fail { user, reason, temp }),
                ServerLine::Cont { id: r, data } if r == id => {
                    let Some(answer) = next(&data) else {
                        return Ok(Outcome::Aborted);
                    };
                    let answer = answer.trim();
                    if crate::base64::decode(answer).is_none() {
                        return Ok(invalid("continued response"));
                    }
                    self.stream
                        .write_all(format!("CONT\t{id}\t{answer}\n").as_bytes())
                        .map_err(ClientError::Io)?;
                }
                // Replies to requests given up earlier.
                ServerLine::Ok { .. } | ServerLine::Fail { .. } | ServerLine::Cont { .. } => {}
                other => return Err(ClientError::Protocol(format!("unexpected line: {other:?}"))),
            }
        }
    }
}
