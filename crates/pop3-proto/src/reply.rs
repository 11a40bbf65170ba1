//! Replies: `+OK` / `-ERR`, RFC 2449/3206 response codes, and the
//! multi-line listings (CAPA, LIST, UIDL). Texts are Dovecot's.

use std::fmt;

/// An extended response code (RFC 2449 §8, RFC 3206), written in
/// brackets after `-ERR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespCode {
    /// `[AUTH]`: the credentials are wrong or not allowed (RFC 3206).
    Auth,
    /// `[SYS/TEMP]`: a temporary system problem (RFC 3206).
    SysTemp,
    /// `[SYS/PERM]`: a permanent system problem (RFC 3206).
    SysPerm,
    /// `[IN-USE]`: the mailbox is locked by another session (RFC 2449).
    InUse,
    /// `[LOGIN-DELAY]`: logged in too recently (RFC 2449).
    LoginDelay,
    /// Any other code, as written.
    Other(String),
}

impl RespCode {
    pub fn as_str(&self) -> &str {
        match self {
            RespCode::Auth => "AUTH",
            RespCode::SysTemp => "SYS/TEMP",
            RespCode::SysPerm => "SYS/PERM",
            RespCode::InUse => "IN-USE",
            RespCode::LoginDelay => "LOGIN-DELAY",
            RespCode::Other(s) => s,
        }
    }
}

impl fmt::Display for RespCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A single-line reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub ok: bool,
    pub code: Option<RespCode>,
    /// The text; CR and LF are dropped when written.
    pub text: String,
}

impl Reply {
    /// `+OK text` (`+OK` alone for an empty text).
    pub fn ok(text: impl Into<String>) -> Reply {
        Reply {
            ok: true,
            code: None,
            text: text.into(),
        }
    }

    /// `-ERR text`.
    pub fn err(text: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            code: None,
            text: text.into(),
        }
    }

    /// `-ERR [CODE] text`.
    pub fn err_code(code: RespCode, text: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            code: Some(code),
            text: text.into(),
        }
    }

    /// Appends the reply line with its CRLF.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if self.ok { b"+OK" } else { b"-ERR" });
        if let Some(c) = &self.code {
            out.extend_from_slice(b" [");
            out.extend_from_slice(c.as_str().as_bytes());
            out.push(b']');
        }
        if !self.text.is_empty() {
            out.push(b' ');
            out.extend(self.text.bytes().filter(|&b| b != b'\r' && b != b'\n'));
        }
        out.extend_from_slice(b"\r\n");
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_to(&mut v);
        v
    }

    /// The greeting, e.g. `+OK Dovecot ready.`; with an APOP timestamp
    /// (`<pid.time@host>`) appended when given.
    pub fn greeting(text: &str, apop_stamp: Option<&str>) -> Reply {
        match apop_stamp {
            Some(s) => Reply::ok(format!("{text} {s}")),
            None => Reply::ok(text),
        }
    }

    /// USER accepted: `+OK`.
    pub fn user_ok() -> Reply {
        Reply::ok("")
    }

    /// `+OK Logged in.`
    pub fn logged_in() -> Reply {
        Reply::ok("Logged in.")
    }

    /// `-ERR [AUTH] Authentication failed.`
    pub fn auth_failed() -> Reply {
        Reply::err_code(RespCode::Auth, "Authentication failed.")
    }

    /// `-ERR [AUTH] Plaintext authentication disallowed on non-secure
    /// (SSL/TLS) connections.`
    pub fn plaintext_disallowed() -> Reply {
        Reply::err_code(
            RespCode::Auth,
            "Plaintext authentication disallowed on non-secure (SSL/TLS) connections.",
        )
    }

    /// `-ERR [SYS/TEMP] Temporary authentication failure.`
    pub fn auth_temp_failure() -> Reply {
        Reply::err_code(RespCode::SysTemp, "Temporary authentication failure.")
    }

    /// `-ERR Authentication aborted by client.`
    pub fn auth_aborted() -> Reply {
        Reply::err("Authentication aborted by client.")
    }

    /// `-ERR Unsupported authentication mechanism.`
    pub fn auth_unsupported() -> Reply {
        Reply::err("Unsupported authentication mechanism.")
    }

    /// `-ERR No username given.` (PASS before USER).
    pub fn no_username() -> Reply {
        Reply::err("No username given.")
    }

    /// `-ERR APOP not enabled.`
    pub fn apop_disabled() -> Reply {
        Reply::err("APOP not enabled.")
    }

    /// An AUTH challenge: `+ base64` (`+ ` for an empty one, RFC 5034).
    pub fn auth_challenge(base64: &str) -> Vec<u8> {
        let mut v = Vec::with_capacity(base64.len() + 4);
        v.extend_from_slice(b"+ ");
        v.extend(base64.bytes().filter(|&b| b != b'\r' && b != b'\n'));
        v.extend_from_slice(b"\r\n");
        v
    }

    /// `-ERR [IN-USE] Mailbox is locked by another POP3 session.`
    pub fn in_use() -> Reply {
        Reply::err_code(
            RespCode::InUse,
            "Mailbox is locked by another POP3 session.",
        )
    }

    /// `-ERR [SYS/TEMP] text` for a mailbox that could not be opened.
    pub fn sys_temp(text: impl Into<String>) -> Reply {
        Reply::err_code(RespCode::SysTemp, text)
    }

    /// `-ERR [SYS/PERM] text`.
    pub fn sys_perm(text: impl Into<String>) -> Reply {
        Reply::err_code(RespCode::SysPerm, text)
    }

    /// `+OK COUNT SIZE`.
    pub fn stat(count: usize, size: u64) -> Reply {
        Reply::ok(format!("{count} {size}"))
    }

    /// `+OK N SIZE` (LIST n).
    pub fn list_one(n: usize, size: u64) -> Reply {
        Reply::ok(format!("{n} {size}"))
    }

    /// `+OK N UIDL` (UIDL n).
    pub fn uidl_one(n: usize, uidl: &str) -> Reply {
        Reply::ok(format!("{n} {uidl}"))
    }

    /// `+OK SIZE octets` (before a RETR body).
    pub fn retr(size: u64) -> Reply {
        Reply::ok(format!("{size} octets"))
    }

    /// `+OK` (before a TOP body, a CAPA or UIDL listing).
    pub fn plain_ok() -> Reply {
        Reply::ok("")
    }

    /// `+OK Marked to be deleted.`
    pub fn deleted() -> Reply {
        Reply::ok("Marked to be deleted.")
    }

    /// `-ERR There's no message N.`
    pub fn no_such_message(n: u64) -> Reply {
        Reply::err(format!("There's no message {n}."))
    }

    /// `-ERR Message is deleted.`
    pub fn message_deleted() -> Reply {
        Reply::err("Message is deleted.")
    }

    /// `+OK Logging out.` or, after deletions, `+OK Logging out, messages
    /// deleted.`
    pub fn logout(deleted: bool) -> Reply {
        Reply::ok(if deleted {
            "Logging out, messages deleted."
        } else {
            "Logging out."
        })
    }

    /// `+OK Begin TLS negotiation now.`
    pub fn stls() -> Reply {
        Reply::ok("Begin TLS negotiation now.")
    }

    /// `-ERR TLS is already active.`
    pub fn tls_active() -> Reply {
        Reply::err("TLS is already active.")
    }

    /// `-ERR TLS support isn't enabled.`
    pub fn tls_unavailable() -> Reply {
        Reply::err("TLS support isn't enabled.")
    }

    /// `-ERR Unknown command: VERB` — also for a verb not allowed in this
    /// state, as Dovecot answers.
    pub fn unknown_command(verb: &str) -> Reply {
        Reply::err(format!("Unknown command: {verb}"))
    }

    /// `-ERR Too many invalid commands.`
    pub fn too_many_bad_commands() -> Reply {
        Reply::err("Too many invalid commands.")
    }

    /// `-ERR Disconnected for inactivity.`
    pub fn idle_timeout() -> Reply {
        Reply::err("Disconnected for inactivity.")
    }

    /// `-ERR Server shutting down.`
    pub fn shutting_down() -> Reply {
        Reply::err("Server shutting down.")
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.to_bytes();
        f.write_str(String::from_utf8_lossy(&b[..b.len() - 2]).as_ref())
    }
}

/// What CAPA lists (RFC 2449 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// `STLS` (offered before login, when TLS is set up and not active).
    pub stls: bool,
    /// `USER` (plaintext USER/PASS allowed now).
    pub user: bool,
    /// `SASL` mechanisms (empty: no SASL line).
    pub sasl: Vec<String>,
    /// `IMPLEMENTATION text`, if any.
    pub implementation: Option<String>,
    /// `LOGIN-DELAY n`, if any.
    pub login_delay: Option<u32>,
    /// `EXPIRE NEVER`-style value, if any.
    pub expire: Option<String>,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            stls: false,
            user: true,
            sasl: vec!["PLAIN".into(), "LOGIN".into()],
            implementation: None,
            login_delay: None,
            expire: None,
        }
    }
}

/// The CAPA answer: `+OK`, then Dovecot's list (CAPA, TOP, UIDL,
/// RESP-CODES, PIPELINING, AUTH-RESP-CODE, STLS, USER, SASL …), `.`.
pub fn capa(c: &Capabilities) -> Vec<u8> {
    let mut out = Reply::ok("").to_bytes();
    let mut line = |s: &str| {
        out.extend_from_slice(s.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    line("CAPA");
    line("TOP");
    line("UIDL");
    line("RESP-CODES");
    line("PIPELINING");
    line("AUTH-RESP-CODE");
    if c.stls {
        line("STLS");
    }
    if c.user {
        line("USER");
    }
    if !c.sasl.is_empty() {
        line(&format!("SASL {}", c.sasl.join(" ")));
    }
    if let Some(d) = c.login_delay {
        line(&format!("LOGIN-DELAY {d}"));
    }
    if let Some(e) = &c.expire {
        line(&format!("EXPIRE {e}"));
    }
    if let Some(i) = &c.implementation {
        line(&format!("IMPLEMENTATION {i}"));
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// A LIST or UIDL listing built line by line:
/// `+OK N messages:` (LIST) or `+OK` (UIDL), `N VALUE` lines, `.`.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    out: Vec<u8>,
}

impl Listing {
    /// Starts a LIST answer for `count` messages.
    pub fn list(count: usize) -> Listing {
        Listing {
            out: Reply::ok(format!("{count} messages:")).to_bytes(),
        }
    }

    /// Starts a UIDL answer.
    pub fn uidl() -> Listing {
        Listing {
            out: Reply::ok("").to_bytes(),
        }
    }

    /// Adds `N VALUE`.
    pub fn entry(&mut self, n: usize, value: impl fmt::Display) {
        self.out
            .extend_from_slice(format!("{n} {value}\r\n").as_bytes());
    }

    /// Bytes so far (to flush a long listing early); they are taken.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Ends the listing with `.`.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(b".\r\n");
        self.out
    }
}
