//! The not-authenticated state, run by the pre-login process that has
//! already dropped to mail_owner: the greeting with CAPABILITY, NOOP,
//! ID, STARTTLS, LOGIN, AUTHENTICATE PLAIN and LOGIN (with SASL-IR),
//! LOGOUT. Credentials go to the root parent through the login crate's
//! [`Gate`]; on success this process answers the tagged OK and hands the
//! connection over (staying on as the TLS relay when TLS is active).

use crate::conn::{Conn, End};
use crate::Settings;
use imap_proto::{continuation, AuthLine, Code, Command, CommandBody, Data, State, StatusResponse};
use login::{frame, Answer, Gate, Method, Stream, MAX_AUTH_ATTEMPTS};

/// Bad commands before the connection is closed.
pub const MAX_BAD_COMMANDS: u32 = 20;

/// The capabilities before login.
fn capabilities(gate: &Gate, stream: &Stream) -> Vec<String> {
    let mut c: Vec<String> = [
        "IMAP4rev1",
        "IMAP4rev2",
        "SASL-IR",
        "LOGIN-REFERRALS",
        "ID",
        "ENABLE",
        "IDLE",
        "LITERAL+",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if gate.can_start_tls(stream) {
        c.push("STARTTLS".into());
    }
    if gate.plaintext_ok(stream) {
        for m in gate.mechanisms() {
            c.push(format!("AUTH={m}"));
        }
    } else {
        c.push("LOGINDISABLED".into());
    }
    c
}

/// How the dialogue ended.
enum Next {
    Quit,
    StartTls,
    /// Logged in by the command with this tag, which the user's
    /// session answers.
    LoggedIn(String),
}

struct Login {
    conn: Conn,
    gate: Gate,
    failures: u32,
    bad: u32,
}

/// Runs the dialogue; returns when the client is gone or logged out
/// without logging in (the process then exits).
pub fn run(stream: Stream, gate: Gate, s: &Settings) {
    let mut l = Login {
        conn: Conn::new(stream, Vec::new(), s.idle, s.parser_config()),
        gate,
        failures: 0,
        bad: 0,
    };
    let caps = capabilities(&l.gate, &l.conn.stream);
    l.conn
        .status(&StatusResponse::ok(None, s.greeting.clone()).with_code(Code::Capability(caps)));
    loop {
        match l.dialogue() {
            Ok(Next::LoggedIn(tag)) => {
                if l.conn.flush().is_err() {
                    return;
                }
                let pending = l.conn.take_pending();
                l.gate.hand_over(l.conn.stream, &tag, &pending);
            }
            Ok(Next::StartTls) => {
                if l.conn.flush().is_err() {
                    return;
                }
                // What the client sent after STARTTLS is dropped unread
                // (no plaintext injection into the TLS session).
                match l.gate.start_tls(l.conn.stream) {
                    Ok(t) => l.conn = Conn::new(t, Vec::new(), s.idle, s.parser_config()),
                    Err(e) => {
                        maillog::info!("imap-login: Disconnected: {e}");
                        return;
                    }
                }
            }
            Ok(Next::Quit) => {
                let _ = l.conn.flush();
                return;
            }
            Err(_) => return,
        }
    }
}

impl Login {
    fn dialogue(&mut self) -> Result<Next, End> {
        loop {
            let cmd = match self.conn.command()? {
                Ok(c) => c,
                Err(e) => {
                    self.conn.status(&e.response());
                    if self.too_many_bad() {
                        return Ok(Next::Quit);
                    }
                    continue;
                }
            };
            if !cmd.body.allowed_in(State::NotAuthenticated) {
                self.conn.status(&StatusResponse::bad(
                    Some(cmd.tag.clone()),
                    format!("Error in IMAP command {}: Login first.", cmd.body.name()),
                ));
                if self.too_many_bad() {
                    return Ok(Next::Quit);
                }
                continue;
            }
            // Bad commands are counted in a row (Dovecot's bad_counter).
            self.bad = 0;
            if let Some(next) = self.one(cmd)? {
                return Ok(next);
            }
        }
    }

    fn too_many_bad(&mut self) -> bool {
        self.bad += 1;
        if self.bad >= MAX_BAD_COMMANDS {
            self.conn
                .status(&StatusResponse::bye("Too many invalid IMAP commands."));
            return true;
        }
        false
    }

    fn ok(&mut self, tag: &str, text: &str) {
        self.conn
            .status(&StatusResponse::ok(Some(tag.to_string()), text));
    }

    fn one(&mut self, cmd: Command) -> Result<Option<Next>, End> {
        let tag = cmd.tag;
        match cmd.body {
            CommandBody::Capability => {
                let caps = capabilities(&self.gate, &self.conn.stream);
                self.conn.data(&Data::Capability(caps));
                self.ok(
                    &tag,
                    "Pre-login capabilities listed, post-login capabilities have more.",
                );
            }
            CommandBody::Noop => self.ok(&tag, "NOOP completed."),
            CommandBody::Id(_) => {
                self.conn.data(&Data::Id(crate::server_id()));
                self.ok(&tag, "ID completed.");
            }
            CommandBody::Logout => {
                self.conn.status(&StatusResponse::bye("Logging out"));
                self.ok(&tag, "Logout completed.");
                return Ok(Some(Next::Quit));
            }
            CommandBody::StartTls => {
                if self.gate.can_start_tls(&self.conn.stream) {
                    self.ok(&tag, "Begin TLS negotiation now.");
                    return Ok(Some(Next::StartTls));
                }
                let why = if self.conn.stream.is_tls() {
                    "TLS is already active."
                } else {
                    "TLS support isn't enabled."
                };
                self.conn.status(&StatusResponse::bad(Some(tag), why));
            }
            CommandBody::Login { username, password } => {
                if !self.gate.plaintext_ok(&self.conn.stream) {
                    self.conn.status(
                        &StatusResponse::no(
                            Some(tag),
                            "Plaintext authentication disallowed on non-secure (SSL/TLS) connections.",
                        )
                        .with_code(Code::PrivacyRequired),
                    );
                    return Ok(None);
                }
                return self.attempt(&tag, &username, &password.0, Method::UserPass);
            }
            CommandBody::Authenticate { mechanism, initial } => {
                if !self.gate.mechanisms().contains(&mechanism) {
                    self.conn.status(&StatusResponse::no(
                        Some(tag),
                        "Unsupported authentication mechanism.",
                    ));
                    return Ok(None);
                }
                if !self.gate.plaintext_ok(&self.conn.stream) {
                    self.conn.status(
                        &StatusResponse::no(
                            Some(tag),
                            "Plaintext authentication disallowed on non-secure (SSL/TLS) connections.",
                        )
                        .with_code(Code::PrivacyRequired),
                    );
                    return Ok(None);
                }
                let initial = initial.map(|i| i.0);
                return if mechanism == "PLAIN" {
                    self.auth_plain(&tag, initial)
                } else {
                    self.auth_login(&tag, initial)
                };
            }
            other => {
                self.conn.status(&StatusResponse::bad(
                    Some(tag),
                    format!("Error in IMAP command {}: Login first.", other.name()),
                ));
            }
        }
        Ok(None)
    }

    /// One SASL response: the initial one or a `+` continuation. `None`:
    /// answered already (cancelled or bad).
    fn response(
        &mut self,
        tag: &str,
        initial: Option<Vec<u8>>,
        challenge: &str,
    ) -> Result<Option<Vec<u8>>, End> {
        let raw = match initial {
            Some(i) => i,
            None => {
                self.conn.raw(&continuation(challenge));
                match self.conn.auth_line()? {
                    Ok(AuthLine::Data(d)) => d.0,
                    Ok(_) => {
                        self.conn.status(&StatusResponse::bad(
                            Some(tag.to_string()),
                            "Authentication aborted by client.",
                        ));
                        return Ok(None);
                    }
                    Err(e) => {
                        self.conn
                            .status(&StatusResponse::bad(Some(tag.to_string()), e.message()));
                        return Ok(None);
                    }
                }
            }
        };
        match login::sasl::decode_response(&raw) {
            Some(d) => Ok(Some(d)),
            None => {
                self.conn.status(&StatusResponse::bad(
                    Some(tag.to_string()),
                    "Invalid base64 data in continued response",
                ));
                Ok(None)
            }
        }
    }

    fn auth_plain(&mut self, tag: &str, initial: Option<Vec<u8>>) -> Result<Option<Next>, End> {
        let Some(data) = self.response(tag, initial, "")? else {
            return Ok(None);
        };
        match login::sasl::plain(&data) {
            Some((user, pass)) => self.attempt(tag, &user, &pass, Method::Plain),
            None => self.failed(tag),
        }
    }

    fn auth_login(&mut self, tag: &str, initial: Option<Vec<u8>>) -> Result<Option<Next>, End> {
        let Some(user) = self.response(tag, initial, "VXNlcm5hbWU6")? else {
            return Ok(None);
        };
        let Some(pass) = self.response(tag, None, "UGFzc3dvcmQ6")? else {
            return Ok(None);
        };
        let Ok(user) = String::from_utf8(user) else {
            return self.failed(tag);
        };
        self.attempt(tag, &user, &pass, Method::Login)
    }

    fn failed(&mut self, tag: &str) -> Result<Option<Next>, End> {
        self.failures += 1;
        self.conn.status(
            &StatusResponse::no(Some(tag.to_string()), "Authentication failed.")
                .with_code(Code::AuthenticationFailed),
        );
        if self.failures >= MAX_AUTH_ATTEMPTS {
            self.conn.status(&StatusResponse::bye(
                "Too many invalid authentication attempts.",
            ));
            return Ok(Some(Next::Quit));
        }
        Ok(None)
    }

    /// Asks the root parent; on OK the user's session that follows
    /// answers the tagged OK with the post-login capabilities.
    fn attempt(
        &mut self,
        tag: &str,
        user: &str,
        pass: &[u8],
        m: Method,
    ) -> Result<Option<Next>, End> {
        if !frame::user_ok(user) || !frame::pass_ok(pass) || !frame::tag_ok(tag) {
            return self.failed(tag);
        }
        // The answer can take the auth service's failure delay: send what
        // is buffered first.
        self.conn.flush()?;
        match self.gate.attempt(&self.conn.stream, user, pass, m) {
            // The user's session answers, once it is ready.
            Ok(Answer::Ok) => Ok(Some(Next::LoggedIn(tag.to_string()))),
            Ok(Answer::Fail) => self.failed(tag),
            Ok(Answer::Temp) => {
                self.conn.status(
                    &StatusResponse::no(Some(tag.to_string()), "Temporary authentication failure.")
                        .with_code(Code::Unavailable),
                );
                Ok(None)
            }
            Err(e) => {
                self.conn.status(
                    &StatusResponse::no(Some(tag.to_string()), "Temporary authentication failure.")
                        .with_code(Code::Unavailable),
                );
                let _ = self.conn.flush();
                Err(End::Io(e))
            }
        }
    }
}
