//! The server side of the SASL mechanisms: PLAIN (RFC 4616), LOGIN
//! (draft-murchison-sasl-login) and CRAM-MD5 (RFC 2195), as state
//! machines over decoded bytes. PLAIN and LOGIN yield a password;
//! CRAM-MD5 a proof that only a passdb with the plaintext password
//! (`{PLAIN}`) can check.

use std::fmt;

/// The longest user name and password accepted.
pub const MAX_USER: usize = 255;
pub const MAX_PASSWORD: usize = 1024;

/// A mechanism this service implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Login,
    CramMd5,
}

impl Mechanism {
    pub fn from_name(name: &str) -> Option<Mechanism> {
        match name.to_ascii_uppercase().as_str() {
            "PLAIN" => Some(Mechanism::Plain),
            "LOGIN" => Some(Mechanism::Login),
            "CRAM-MD5" => Some(Mechanism::CramMd5),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::CramMd5 => "CRAM-MD5",
        }
    }

    /// Dovecot's MECH flags.
    pub fn flags(self) -> &'static str {
        match self {
            Mechanism::Plain | Mechanism::Login => "plaintext",
            Mechanism::CramMd5 => "dictionary\tactive",
        }
    }

    pub fn plaintext(self) -> bool {
        self != Mechanism::CramMd5
    }
}

/// What the client proved.
pub enum Proof {
    /// PLAIN, LOGIN: the password itself.
    Password(Vec<u8>),
    /// CRAM-MD5: HMAC-MD5 of our challenge, keyed with the password.
    CramMd5 {
        challenge: Vec<u8>,
        digest: [u8; 16],
    },
}

impl Proof {
    /// Whether this proves knowledge of `password` (the plaintext).
    pub fn matches_plaintext(&self, password: &[u8]) -> bool {
        match self {
            Proof::Password(p) => crate::crypt::constant_time_eq(p, password),
            Proof::CramMd5 { challenge, digest } => {
                crate::crypt::constant_time_eq(&hmac_md5(password, challenge), digest)
            }
        }
    }
}

/// HMAC-MD5 (RFC 2104), CRAM-MD5's digest.
pub fn hmac_md5(key: &[u8], msg: &[u8]) -> [u8; 16] {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<md5::Md5> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<md5::Md5> as KeyInit>::new(&Default::default()));
    mac.update(msg);
    let mut out = [0u8; 16];
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// Credentials a mechanism gathered. The password is never formatted.
pub struct Credentials {
    pub user: String,
    pub proof: Proof,
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
        if let Proof::Password(p) = &mut self.proof {
            p.fill(0);
        }
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
    /// CRAM-MD5: the challenge sent.
    CramWaiting(Vec<u8>),
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
                Mechanism::CramMd5 => State::Finished,
            },
        };
        let step = match (mech, initial) {
            (Mechanism::CramMd5, Some(_)) => Step::Invalid("CRAM-MD5 takes no initial response"),
            (Mechanism::CramMd5, None) => {
                let challenge = format!(
                    "<{}.{}@{}>",
                    u64::from_le_bytes(util::random::bytes::<8>()),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0),
                    util::host::hostname()
                )
                .into_bytes();
                x.state = State::CramWaiting(challenge.clone());
                Step::Challenge(challenge)
            }
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
                    Ok(password) => Step::Done(Credentials {
                        user,
                        proof: Proof::Password(password),
                    }),
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
                Ok(password) => Step::Done(Credentials {
                    user,
                    proof: Proof::Password(password),
                }),
                Err(e) => Step::Invalid(e),
            },
            State::CramWaiting(challenge) => {
                // "user hexdigest" (RFC 2195).
                let Some(sp) = data.iter().rposition(|&b| b == b' ') else {
                    return Step::Invalid("Invalid input");
                };
                let user = match valid_user(&data[..sp]) {
                    Ok(u) => u,
                    Err(e) => return Step::Invalid(e),
                };
                let hex = &data[sp + 1..];
                let mut digest = [0u8; 16];
                if hex.len() != 32 {
                    return Step::Invalid("Invalid input");
                }
                for (i, pair) in hex.chunks(2).enumerate() {
                    let Some(v) = std::str::from_utf8(pair)
                        .ok()
                        .and_then(|p| u8::from_str_radix(p, 16).ok())
                    else {
                        return Step::Invalid("Invalid input");
                    };
                    digest[i] = v;
                }
                Step::Done(Credentials {
                    user,
                    proof: Proof::CramMd5 { challenge, digest },
                })
            }
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
        assert_eq!(c.user, "alice");
        assert!(c.proof.matches_plaintext(b"pw") && !c.proof.matches_plaintext(b"px"));
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

    #[test]
    fn cram_md5() {
        // RFC 2195's example.
        assert_eq!(
            hmac_md5(
                b"tanstaaftanstaaf",
                b"<1896.697170952@postoffice.reston.mci.net>"
            ),
            [
                0xb9, 0x13, 0xa6, 0x02, 0xc7, 0xed, 0xa7, 0xa4, 0x95, 0xb4, 0xe6, 0xe7, 0x33, 0x4d,
                0x38, 0x90
            ]
        );
        let (mut x, s) = Exchange::start(Mechanism::CramMd5, None);
        let Step::Challenge(ch) = s else {
            panic!("no challenge")
        };
        assert!(ch.starts_with(b"<") && ch.ends_with(b">"));
        let d: String = hmac_md5(b"secret", &ch)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let c = done(x.step(format!("alice {d}").as_bytes()));
        assert_eq!(c.user, "alice");
        assert!(c.proof.matches_plaintext(b"secret"));
        assert!(!c.proof.matches_plaintext(b"wrong"));
        let (mut x, _) = Exchange::start(Mechanism::CramMd5, None);
        assert!(matches!(x.step(b"alice nothex"), Step::Invalid(_)));
        assert!(matches!(
            Exchange::start(Mechanism::CramMd5, Some(b"x")).1,
            Step::Invalid(_)
        ));
    }
}
