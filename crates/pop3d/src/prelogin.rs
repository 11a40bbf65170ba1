//! The pre-login dialogue, run by a child process that has already
//! dropped to mail_owner: greeting, CAPA, STLS, USER/PASS, AUTH PLAIN and
//! LOGIN, QUIT. Credentials go to the root parent through the login
//! crate's [`Gate`]; this process never learns whether the user exists
//! beyond OK/FAIL. After a login it hands the connection over (and, on
//! TLS, stays on as the session's relay).

use crate::conn::{Conn, End};
use crate::Settings;
use login::{frame, Answer, Gate, Method, Stream};
use pop3_proto::{capa, AuthResponse, Capabilities, Command, Reply, State};

use login::MAX_AUTH_ATTEMPTS;

/// Bad commands before the connection is closed (Dovecot's limit).
pub const MAX_BAD_COMMANDS: u32 = 20;

/// Runs the dialogue; returns when the client is gone or logged out
/// without logging in (the process then exits).
pub fn run(stream: Stream, gate: Gate, s: &Settings) {
    let mut l = Login {
        conn: Conn::new(stream, Vec::new()),
        gate,
        failures: 0,
        bad: 0,
    };
    let mut greet = true;
    loop {
        match l.dialogue(s, std::mem::take(&mut greet)) {
            Ok(Next::LoggedIn) => {
                if l.conn.flush().is_err() {
                    return;
                }
                let pending = l.conn.take_pending();
                l.gate.hand_over(l.conn.stream, "", &pending);
            }
            Ok(Next::StartTls) => {
                if l.conn.flush().is_err() {
                    return;
                }
                // Whatever the client sent after STLS is dropped unread
                // (RFC 2595: no plaintext injection into the TLS session).
                match l.gate.start_tls(l.conn.stream) {
                    Ok(t) => l.conn = Conn::new(t, Vec::new()),
                    Err(e) => {
                        maillog::info!("pop3-login: Disconnected: {e}");
                        return;
                    }
                }
            }
            Ok(Next::Quit) | Err(_) => {
                let _ = l.conn.flush();
                return;
            }
        }
    }
}

struct Login {
    conn: Conn,
    gate: Gate,
    failures: u32,
    bad: u32,
}

/// How the dialogue ended.
enum Next {
    Quit,
    StartTls,
    LoggedIn,
}

enum Step {
    Again,
    Done(Next),
}

impl Login {
    fn plaintext_ok(&self) -> bool {
        self.gate.plaintext_ok(&self.conn.stream)
    }

    fn dialogue(&mut self, s: &Settings, greet: bool) -> Result<Next, End> {
        if greet {
            self.conn.reply(&Reply::greeting(&s.greeting, None))?;
        }
        let mut user: Option<String> = None;
        loop {
            let cmd = match self.conn.command()? {
                Ok(c) if c.allowed_in(State::Authorization) => c,
                Ok(c) => {
                    self.bad += 1;
                    self.conn
                        .reply(&Reply::unknown_command(c.verb().as_str()))?;
                    if self.bad >= MAX_BAD_COMMANDS {
                        self.conn.reply(&Reply::too_many_bad_commands())?;
                        return Ok(Next::Quit);
                    }
                    continue;
                }
                Err(e) => {
                    self.bad += 1;
                    self.conn.reply(&e.reply())?;
                    if self.bad >= MAX_BAD_COMMANDS {
                        self.conn.reply(&Reply::too_many_bad_commands())?;
                        return Ok(Next::Quit);
                    }
                    continue;
                }
            };
            // Bad commands are counted in a row (Dovecot's bad_counter).
            self.bad = 0;
            let step = match cmd {
                Command::Capa => {
                    let plaintext = self.plaintext_ok();
                    let c = Capabilities {
                        user: plaintext,
                        sasl: if plaintext {
                            self.gate.mechanisms().to_vec()
                        } else {
                            Vec::new()
                        },
                        stls: self.gate.can_start_tls(&self.conn.stream),
                        ..Capabilities::default()
                    };
                    self.conn.send(&capa(&c))?;
                    Step::Again
                }
                Command::Quit => {
                    self.conn.reply(&Reply::ok("Logging out"))?;
                    Step::Done(Next::Quit)
                }
                Command::Stls => {
                    if self.gate.can_start_tls(&self.conn.stream) {
                        self.conn.reply(&Reply::stls())?;
                        Step::Done(Next::StartTls)
                    } else if self.conn.stream.is_tls() {
                        self.conn.reply(&Reply::tls_active())?;
                        Step::Again
                    } else {
                        self.conn.reply(&Reply::tls_unavailable())?;
                        Step::Again
                    }
                }
                Command::Apop { .. } => {
                    self.conn.reply(&Reply::apop_disabled())?;
                    Step::Again
                }
                Command::User(u) => {
                    if !self.plaintext_ok() {
                        self.conn.reply(&Reply::plaintext_disallowed())?;
                    } else {
                        user = Some(u);
                        self.conn.reply(&Reply::user_ok())?;
                    }
                    Step::Again
                }
                Command::Pass(p) => {
                    if !self.plaintext_ok() {
                        self.conn.reply(&Reply::plaintext_disallowed())?;
                        Step::Again
                    } else {
                        match user.take() {
                            None => {
                                self.conn.reply(&Reply::no_username())?;
                                Step::Again
                            }
                            Some(u) => self.attempt(&u, &p.0, Method::UserPass)?,
                        }
                    }
                }
                Command::Auth {
                    mechanism: None, ..
                } => {
                    let mut out = Reply::plain_ok().to_bytes();
                    if self.plaintext_ok() {
                        for m in self.gate.mechanisms().to_vec() {
                            out.extend_from_slice(m.as_bytes());
                            out.extend_from_slice(b"\r\n");
                        }
                    }
                    out.extend_from_slice(b".\r\n");
                    self.conn.send(&out)?;
                    Step::Again
                }
                Command::Auth {
                    mechanism: Some(m),
                    initial,
                } => {
                    if !self.gate.mechanisms().contains(&m) {
                        self.conn.reply(&Reply::auth_unsupported())?;
                        Step::Again
                    } else if !self.plaintext_ok() {
                        self.conn.reply(&Reply::plaintext_disallowed())?;
                        Step::Again
                    } else {
                        let initial = initial.map(|i| i.0);
                        if m == "PLAIN" {
                            self.auth_plain(initial)?
                        } else {
                            self.auth_login(initial)?
                        }
                    }
                }
                other => {
                    self.conn
                        .reply(&Reply::unknown_command(other.verb().as_str()))?;
                    Step::Again
                }
            };
            if let Step::Done(next) = step {
                return Ok(next);
            }
        }
    }

    /// One SASL response: the initial one or a `+ ` continuation.
    /// `None`: answered already (cancelled or bad).
    fn response(
        &mut self,
        initial: Option<Vec<u8>>,
        challenge: &str,
    ) -> Result<Option<Vec<u8>>, End> {
        let raw = match initial {
            Some(i) => i,
            None => {
                self.conn.send(&Reply::auth_challenge(challenge))?;
                match self.conn.auth_response()? {
                    Ok(AuthResponse::Data(d)) => d.0,
                    Ok(AuthResponse::Cancel) => {
                        self.conn.reply(&Reply::auth_aborted())?;
                        return Ok(None);
                    }
                    Err(e) => {
                        self.conn.reply(&e.reply())?;
                        return Ok(None);
                    }
                }
            }
        };
        match login::sasl::decode_response(&raw) {
            Some(d) => Ok(Some(d)),
            None => {
                self.conn
                    .reply(&Reply::err("Invalid base64 data in continued response"))?;
                Ok(None)
            }
        }
    }

    fn auth_plain(&mut self, initial: Option<Vec<u8>>) -> Result<Step, End> {
        let Some(data) = self.response(initial, "")? else {
            return Ok(Step::Again);
        };
        match login::sasl::plain(&data) {
            Some((user, pass)) => self.attempt(&user, &pass, Method::Plain),
            None => self.failed(),
        }
    }

    fn auth_login(&mut self, initial: Option<Vec<u8>>) -> Result<Step, End> {
        let Some(user) = self.response(initial, "VXNlcm5hbWU6")? else {
            return Ok(Step::Again);
        };
        let Some(pass) = self.response(None, "UGFzc3dvcmQ6")? else {
            return Ok(Step::Again);
        };
        let Ok(user) = String::from_utf8(user) else {
            return self.failed();
        };
        self.attempt(&user, &pass, Method::Login)
    }

    fn failed(&mut self) -> Result<Step, End> {
        self.failures += 1;
        self.conn.reply(&Reply::auth_failed())?;
        Ok(if self.failures >= MAX_AUTH_ATTEMPTS {
            Step::Done(Next::Quit)
        } else {
            Step::Again
        })
    }

    /// Asks the root parent.
    fn attempt(&mut self, user: &str, pass: &[u8], m: Method) -> Result<Step, End> {
        if !frame::user_ok(user) || !frame::pass_ok(pass) {
            return self.failed();
        }
        match self.gate.attempt(&self.conn.stream, user, pass, m) {
            Ok(Answer::Ok) => Ok(Step::Done(Next::LoggedIn)),
            Ok(Answer::Fail) => self.failed(),
            Ok(Answer::Temp) => {
                self.conn.reply(&Reply::auth_temp_failure())?;
                Ok(Step::Again)
            }
            Err(e) => {
                let _ = self.conn.reply(&Reply::auth_temp_failure());
                Err(End::Io(e))
            }
        }
    }
}
