//! The pre-login dialogue, run by a child process that has already
//! dropped to mail_owner: greeting, CAPA, USER/PASS, AUTH PLAIN and
//! LOGIN, QUIT. Credentials go to the root parent as one frame
//! ([`crate::frame`]); this process never learns whether the user exists
//! beyond OK/FAIL, and it exits once the parent takes over.

use crate::conn::{Conn, End};
use crate::frame::{self, Answer, Method};
use crate::Settings;
use pop3_proto::{capa, AuthResponse, Capabilities, Command, Reply, State};
use std::os::unix::net::UnixStream;

/// Failed logins before the connection is closed.
pub const MAX_AUTH_ATTEMPTS: u32 = 3;
/// Bad commands before the connection is closed (Dovecot's limit).
pub const MAX_BAD_COMMANDS: u32 = 20;

fn mechanisms(s: &Settings) -> Vec<String> {
    s.mechanisms
        .iter()
        .filter(|m| *m == "PLAIN" || *m == "LOGIN")
        .cloned()
        .collect()
}

/// Runs the dialogue and exits the process.
pub fn run(conn: Conn, chan: UnixStream, s: &Settings, plaintext_ok: bool) -> ! {
    let mut l = Login {
        conn,
        chan,
        plaintext_ok,
        failures: 0,
    };
    let code = match l.dialogue(s) {
        Ok(()) | Err(End::Closed) | Err(End::Idle) => 0,
        Err(End::Io(_)) => 0,
    };
    std::process::exit(code)
}

struct Login {
    conn: Conn,
    chan: UnixStream,
    plaintext_ok: bool,
    failures: u32,
}

enum Step {
    Again,
    Done,
}

impl Login {
    fn dialogue(&mut self, s: &Settings) -> Result<(), End> {
        self.conn.reply(&Reply::greeting(&s.greeting, None))?;
        let mut user: Option<String> = None;
        let mut bad = 0;
        loop {
            let cmd = match self.conn.command()? {
                Ok(c) if c.allowed_in(State::Authorization) => c,
                Ok(c) => {
                    bad += 1;
                    self.conn
                        .reply(&Reply::unknown_command(c.verb().as_str()))?;
                    if bad >= MAX_BAD_COMMANDS {
                        return self.conn.reply(&Reply::too_many_bad_commands());
                    }
                    continue;
                }
                Err(e) => {
                    bad += 1;
                    self.conn.reply(&e.reply())?;
                    if bad >= MAX_BAD_COMMANDS {
                        return self.conn.reply(&Reply::too_many_bad_commands());
                    }
                    continue;
                }
            };
            let step = match cmd {
                Command::Capa => {
                    let mut c = Capabilities {
                        user: self.plaintext_ok,
                        sasl: if self.plaintext_ok {
                            mechanisms(s)
                        } else {
                            Vec::new()
                        },
                        ..Capabilities::default()
                    };
                    c.stls = false;
                    self.conn.send(&capa(&c))?;
                    Step::Again
                }
                Command::Quit => {
                    self.conn.reply(&Reply::ok("Logging out"))?;
                    Step::Done
                }
                Command::Stls => {
                    self.conn.reply(&Reply::tls_unavailable())?;
                    Step::Again
                }
                Command::Apop { .. } => {
                    self.conn.reply(&Reply::apop_disabled())?;
                    Step::Again
                }
                Command::User(u) => {
                    if !self.plaintext_ok {
                        self.conn.reply(&Reply::plaintext_disallowed())?;
                    } else {
                        user = Some(u);
                        self.conn.reply(&Reply::user_ok())?;
                    }
                    Step::Again
                }
                Command::Pass(p) => {
                    if !self.plaintext_ok {
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
                    if self.plaintext_ok {
                        for m in mechanisms(s) {
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
                    if !mechanisms(s).contains(&m) {
                        self.conn.reply(&Reply::auth_unsupported())?;
                        Step::Again
                    } else if !self.plaintext_ok {
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
            if let Step::Done = step {
                return Ok(());
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
        let decoded = std::str::from_utf8(&raw)
            .ok()
            .and_then(|t| util::base64::decode(t.trim()));
        match decoded {
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
        let mut parts = data.split(|&b| b == 0);
        let (Some(authz), Some(authc), Some(pass), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return self.failed();
        };
        let Ok(user) = std::str::from_utf8(authc) else {
            return self.failed();
        };
        if !authz.is_empty() && authz != authc {
            // No master users: authorizing as someone else fails.
            return self.failed();
        }
        let user = user.to_string();
        let pass = pass.to_vec();
        self.attempt(&user, &pass, Method::Plain)
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
            Step::Done
        } else {
            Step::Again
        })
    }

    /// Asks the parent; on OK hands over the unparsed input and ends.
    fn attempt(&mut self, user: &str, pass: &[u8], m: Method) -> Result<Step, End> {
        if !frame::user_ok(user) || !frame::pass_ok(pass) {
            return self.failed();
        }
        let answer = frame::write_attempt(&mut self.chan, user, pass, m)
            .and_then(|()| frame::read_answer(&mut self.chan));
        match answer {
            Ok(Answer::Ok) => {
                let pending = self.conn.take_pending();
                frame::write_pending(&mut self.chan, &pending).map_err(End::Io)?;
                Ok(Step::Done)
            }
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
