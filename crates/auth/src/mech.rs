//! The server side of the SASL mechanisms: PLAIN (RFC 4616) and LOGIN
//! (draft-murchison-sasl-login), as state machines over decoded bytes.

use std::fmt;

/// The longest user name and password accepted.
pub const MAX_USER: usize = 255;
pub const MAX_PASSWORD: usize = 1024;

/// A mechanism this service implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Login,
}

impl Mechanism {
    pub fn from_name(name: &str) -> Option<Mechanism> {
        match name.to_ascii_uppercase().as_str() {
            "PLAIN" => Some(Mechanism::Plain),
            "LOGIN" => Some(Mechanism::Login),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
        }
    }

    /// Dovecot's MECH flags.
    pub fn flags(self) -> &'static str {
        "plaintext"
    }

    pub fn plaintext(self) -> bool {
        true
    }
}

/// Credentials a mechanism gathered. The password is never formatted.
pub struct Credentials {
    pub user: String,
    pub password: Vec<u8>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Drop for Credentials {
    fn drop(&mut self) {
        self.password.fill(0);
    }
}

/// What the mechanism wants next.
#[derive(Debug)]
pub enum Step {
    /// Send this challenge (raw bytes; base64 on the wire).
    Challenge(Vec<u8>),
    Done(Credentials),
    /// The client's data is malformed: why (safe to log and to send).
    Invalid(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    PlainWaiting,
    LoginUser,
    LoginPassword(String),
    Finished,
}

/// One exchange.
#[derive(Debug)]
pub struct Exchange {
    pub mech: Mechanism,
    state: State,
}

fn valid_user(u: &[u8]) -> Result<String, &'static str> {
    if u.is_empty() {
        return Err("Empty username");
    }
    if u.len() > MAX_USER {
        return Err("Username too long");
    }
    let s = std::str::from_utf8(u).map_err(|_| "Username is not UTF-8")?;
    if s.chars().any(|c| c.is_control() || c == ':') {
        return Err("Username contains disallowed characters");
    }
    Ok(s.to_string())
}

fn valid_password(p: &[u8]) -> Result<Vec<u8>, &'static str> {
    if p.len() > MAX_PASSWORD {
        return Err("Password too long");
    }
    if p.contains(&0) {
        return Err("Password contains NUL");
    }
    Ok(p.to_vec())
}

impl Exchange {
    /// Starts an exchange, with the initial response if the client sent one.
    pub fn start(mech: Mechanism, initial: Option<&[u8]>) -> (Exchange, Step) {
        let mut x = Exchange {
            mech,
            state: match mech {
                Mechanism::Plain => State::PlainWaiting,
                Mechanism::Login => State::LoginUser,
            },
        };
        let step = match (mech, initial) {
            (_, Some(data)) => x.step(data),
            (Mechanism::Plain, None) => Step::Challenge(Vec::new()),
            (Mechanism::Login, None) => Step::Challenge(b"Username:".to_vec()),
        };
        (x, step)
    }

    /// Feeds the client's next response.
    pub fn step(&mut self, data: &[u8]) -> Step {
        match std::mem::replace(&mut self.state, State::Finished) {
            State::PlainWaiting => {
                let mut parts = data.split(|&b| b == 0);
                let (Some(authz), Some(authc), Some(pass), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return Step::Invalid("Invalid input");
                };
                let user = match valid_user(authc) {
                    Ok(u) => u,
                    Err(e) => return Step::Invalid(e),
                };
                if !authz.is_empty() && authz != authc {
                    return Step::Invalid("Authorization ID differs from the user name");
                }
                match valid_password(pass) {
                    Ok(password) => Step::Done(Credentials { user, password }),
                    Err(e) => Step::Invalid(e),
                }
            }
            State::LoginUser => match valid_user(data) {
                Ok(u) => {
                    self.state = State::LoginPassword(u);
                    Step::Challenge(b"Password:".to_vec())
                }
                Err(e) => Step::Invalid(e),
            },
            State::LoginPassword(user) => match valid_password(data) {
                Ok(password) => Step::Done(Credentials { user, password }),
                Err(e) => Step::Invalid(e),
            },
            State::Finished => Step::Invalid("Unexpected response"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(s: Step) -> Credentials {
        match s {
            Step::Done(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn plain_with_and_without_initial_response() {
        let (_, s) = Exchange::start(Mechanism::Plain, Some(b"\0alice\0pw"));
        let c = done(s);
        assert_eq!(
            (c.user.as_str(), c.password.as_slice()),
            ("alice", &b"pw"[..])
        );
        let (mut x, s) = Exchange::start(Mechanism::Plain, None);
        assert!(matches!(s, Step::Challenge(ref c) if c.is_empty()));
        assert_eq!(done(x.step(b"alice\0alice\0pw")).user, "alice");
        assert!(matches!(x.step(b"\0a\0b"), Step::Invalid(_)));
    }

    #[test]
    fn plain_rejects_malformed() {
        for bad in [
            &b""[..],
            b"alice",
            b"\0alice",
            b"\0\0pw",
            b"bob\0alice\0pw",
            b"\0al\nice\0pw",
            b"\0alice\0pw\0x",
        ] {
            let (_, s) = Exchange::start(Mechanism::Plain, Some(bad));
            assert!(matches!(s, Step::Invalid(_)), "{bad:?}");
        }
        let long = [b"\0".as_slice(), &[b'a'; 300], b"\0pw"].concat();
        assert!(matches!(
            Exchange::start(Mechanism::Plain, Some(&long)).1,
            Step::Invalid(_)
        ));
    }

    #[test]
    fn login_two_steps() {
        let (mut x, s) = Exchange::start(Mechanism::Login, None);
        assert!(matches!(s, Step::Challenge(ref c) if c == b"Username:"));
        assert!(matches!(x.step(b"alice"), Step::Challenge(ref c) if c == b"Password:"));
        let c = done(x.step(b"pw"));
        assert_eq!(c.user, "alice");
        assert!(!format!("{c:?}").contains("pw"));
        let (mut x, s) = Exchange::start(Mechanism::Login, Some(b"bob"));
        assert!(matches!(s, Step::Challenge(ref c) if c == b"Password:"));
        assert_eq!(done(x.step(b"x")).user, "bob");
    }
}
