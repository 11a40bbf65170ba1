//! The server side of the SASL mechanisms: PLAIN (RFC 4616), LOGIN
//! (draft-murchison-sasl-login), CRAM-MD5 (RFC 2195) and SCRAM-SHA-256
//! (RFC 5802, 7677; no channel binding), as state machines over decoded
//! bytes. PLAIN and LOGIN yield a password; CRAM-MD5 and SCRAM a proof
//! that only a passdb with the plaintext password (`{PLAIN}`) can check.

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
    ScramSha256,
}

impl Mechanism {
    pub fn from_name(name: &str) -> Option<Mechanism> {
        match name.to_ascii_uppercase().as_str() {
            "PLAIN" => Some(Mechanism::Plain),
            "LOGIN" => Some(Mechanism::Login),
            "CRAM-MD5" => Some(Mechanism::CramMd5),
            "SCRAM-SHA-256" => Some(Mechanism::ScramSha256),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
        }
    }

    /// Dovecot's MECH flags.
    pub fn flags(self) -> &'static str {
        match self {
            Mechanism::Plain | Mechanism::Login => "plaintext",
            Mechanism::CramMd5 => "dictionary\tactive",
            Mechanism::ScramSha256 => "mutual-auth",
        }
    }

    pub fn plaintext(self) -> bool {
        matches!(self, Mechanism::Plain | Mechanism::Login)
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
    /// SCRAM-SHA-256: the client's proof over the exchange; once checked,
    /// the server's signature for the final message.
    Scram(Box<ScramProof>),
}

pub struct ScramProof {
    pub auth_message: Vec<u8>,
    pub salt: [u8; 16],
    pub iterations: u32,
    pub client_proof: [u8; 32],
    /// Set by a successful check: `v=…` for the server-final message.
    pub server_signature: std::sync::OnceLock<[u8; 32]>,
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<sha2::Sha256> as KeyInit>::new(&Default::default()));
    mac.update(msg);
    let mut out = [0u8; 32];
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// PBKDF2-HMAC-SHA-256 with one output block (SCRAM's Hi()).
fn hi(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut msg = salt.to_vec();
    msg.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac_sha256(password, &msg);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac_sha256(password, &u);
        for (o, x) in out.iter_mut().zip(u.iter()) {
            *o ^= x;
        }
    }
    out
}

impl ScramProof {
    fn check(&self, password: &[u8]) -> bool {
        use sha2::Digest;
        let salted = hi(password, &self.salt, self.iterations);
        let client_key = hmac_sha256(&salted, b"Client Key");
        let stored_key: [u8; 32] = sha2::Sha256::digest(client_key).into();
        let signature = hmac_sha256(&stored_key, &self.auth_message);
        let mut recovered = [0u8; 32];
        for (r, (p, s)) in recovered
            .iter_mut()
            .zip(self.client_proof.iter().zip(signature.iter()))
        {
            *r = p ^ s;
        }
        let candidate: [u8; 32] = sha2::Sha256::digest(recovered).into();
        if !crate::crypt::constant_time_eq(&candidate, &stored_key) {
            return false;
        }
        let server_key = hmac_sha256(&salted, b"Server Key");
        let _ = self
            .server_signature
            .set(hmac_sha256(&server_key, &self.auth_message));
        true
    }
}

impl Proof {
    /// Whether this proves knowledge of `password` (the plaintext).
    pub fn matches_plaintext(&self, password: &[u8]) -> bool {
        match self {
            Proof::Password(p) => crate::crypt::constant_time_eq(p, password),
            Proof::CramMd5 { challenge, digest } => {
                crate::crypt::constant_time_eq(&hmac_md5(password, challenge), digest)
            }
            Proof::Scram(s) => s.check(password),
        }
    }

    /// After a successful SCRAM check: the server-final message the
    /// client must receive (and acknowledge) before the OK.
    pub fn server_final(&self) -> Option<Vec<u8>> {
        match self {
            Proof::Scram(s) => s
                .server_signature
                .get()
                .map(|v| format!("v={}", util::base64::encode(v)).into_bytes()),
            _ => None,
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
    /// SCRAM: waiting for client-first.
    ScramFirst,
    /// SCRAM: server-first sent.
    ScramFinal {
        user: String,
        gs2_header: Vec<u8>,
        client_first_bare: Vec<u8>,
        server_first: Vec<u8>,
        nonce: String,
        salt: [u8; 16],
    },
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

/// PLAIN's `authzid NUL authcid NUL password` (RFC 4616): the user and
/// the password, each checked as every mechanism checks them. An
/// authorization identity other than the user is refused: there are no
/// master users.
pub fn plain(data: &[u8]) -> Result<(String, Vec<u8>), &'static str> {
    let mut parts = data.split(|&b| b == 0);
    let (Some(authz), Some(authc), Some(pass), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("Invalid input");
    };
    let user = valid_user(authc)?;
    if !authz.is_empty() && authz != authc {
        return Err("Authorization ID differs from the user name");
    }
    Ok((user, valid_password(pass)?))
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

/// The PBKDF2 rounds asked of SCRAM clients (RFC 7677's minimum).
pub const SCRAM_ITERATIONS: u32 = 4096;

/// SCRAM's `saslname` unescaping (`=2C` → `,`, `=3D` → `=`).
fn scram_name(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

impl Exchange {
    /// SCRAM's client-first message: `n,[a=authzid],n=user,r=nonce`.
    fn scram_first(&mut self, data: &[u8]) -> Step {
        let Ok(text) = std::str::from_utf8(data) else {
            return Step::Invalid("Invalid input");
        };
        let mut f = text.splitn(3, ',');
        let (Some(cb), Some(authz), Some(bare)) = (f.next(), f.next(), f.next()) else {
            return Step::Invalid("Invalid input");
        };
        if cb != "n" && cb != "y" {
            return Step::Invalid("Channel binding is not supported");
        }
        let mut user = None;
        let mut cnonce = None;
        for attr in bare.split(',') {
            if let Some(u) = attr.strip_prefix("n=") {
                user = scram_name(u);
            } else if let Some(r) = attr.strip_prefix("r=") {
                cnonce = Some(r.to_string());
            } else if attr.starts_with("m=") {
                return Step::Invalid("Invalid input");
            }
        }
        let (Some(user), Some(cnonce)) = (user, cnonce) else {
            return Step::Invalid("Invalid input");
        };
        if cnonce.is_empty() || !cnonce.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
            return Step::Invalid("Invalid input");
        }
        let user = match valid_user(user.as_bytes()) {
            Ok(u) => u,
            Err(e) => return Step::Invalid(e),
        };
        if let Some(a) = authz.strip_prefix("a=") {
            if scram_name(a).as_deref() != Some(user.as_str()) {
                return Step::Invalid("Authorization ID differs from the user name");
            }
        } else if !authz.is_empty() {
            return Step::Invalid("Invalid input");
        }
        let nonce = format!("{cnonce}{}", util::random::hex::<12>());
        let salt = util::random::bytes::<16>();
        let server_first = format!(
            "r={nonce},s={},i={SCRAM_ITERATIONS}",
            util::base64::encode(&salt)
        )
        .into_bytes();
        self.state = State::ScramFinal {
            user,
            gs2_header: format!("{cb},{authz},").into_bytes(),
            client_first_bare: bare.as_bytes().to_vec(),
            server_first: server_first.clone(),
            nonce,
            salt,
        };
        Step::Challenge(server_first)
    }

    /// Starts an exchange, with the initial response if the client sent one.
    pub fn start(mech: Mechanism, initial: Option<&[u8]>) -> (Exchange, Step) {
        let mut x = Exchange {
            mech,
            state: match mech {
                Mechanism::Plain => State::PlainWaiting,
                Mechanism::Login => State::LoginUser,
                Mechanism::CramMd5 => State::Finished,
                Mechanism::ScramSha256 => State::ScramFirst,
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
            // LOGIN takes an empty initial response for none (Dovecot's
            // mech_login_auth_initial).
            (Mechanism::Login, Some(data)) if !data.is_empty() => x.step(data),
            (Mechanism::Login, _) => Step::Challenge(b"Username:".to_vec()),
            (_, Some(data)) => x.step(data),
            (Mechanism::Plain | Mechanism::ScramSha256, None) => Step::Challenge(Vec::new()),
        };
        (x, step)
    }

    /// Feeds the client's next response.
    pub fn step(&mut self, data: &[u8]) -> Step {
        match std::mem::replace(&mut self.state, State::Finished) {
            State::PlainWaiting => match plain(data) {
                Ok((user, password)) => Step::Done(Credentials {
                    user,
                    proof: Proof::Password(password),
                }),
                Err(e) => Step::Invalid(e),
            },
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
            State::ScramFirst => self.scram_first(data),
            State::ScramFinal {
                user,
                gs2_header,
                client_first_bare,
                server_first,
                nonce,
                salt,
            } => {
                // c=biws,r=nonce,p=proof
                let Ok(text) = std::str::from_utf8(data) else {
                    return Step::Invalid("Invalid input");
                };
                let Some((without_proof, proof)) = text.rsplit_once(",p=") else {
                    return Step::Invalid("Invalid input");
                };
                let mut parts = without_proof.split(',');
                let (Some(c), Some(r)) = (parts.next(), parts.next()) else {
                    return Step::Invalid("Invalid input");
                };
                if c.strip_prefix("c=").and_then(util::base64::decode) != Some(gs2_header)
                    || r.strip_prefix("r=") != Some(nonce.as_str())
                {
                    return Step::Invalid("Invalid input");
                }
                let Some(proof) = util::base64::decode(proof).filter(|p| p.len() == 32) else {
                    return Step::Invalid("Invalid input");
                };
                let mut client_proof = [0u8; 32];
                client_proof.copy_from_slice(&proof);
                let mut auth_message = client_first_bare;
                auth_message.push(b',');
                auth_message.extend_from_slice(&server_first);
                auth_message.push(b',');
                auth_message.extend_from_slice(without_proof.as_bytes());
                Step::Done(Credentials {
                    user,
                    proof: Proof::Scram(Box::new(ScramProof {
                        auth_message,
                        salt,
                        iterations: SCRAM_ITERATIONS,
                        client_proof,
                        server_signature: std::sync::OnceLock::new(),
                    })),
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
        // An empty initial response (`AUTH LOGIN =`) is none, as in
        // Dovecot: the user name is asked for.
        let (mut x, s) = Exchange::start(Mechanism::Login, Some(b""));
        assert!(
            matches!(s, Step::Challenge(ref c) if c == b"Username:"),
            "{s:?}"
        );
        assert!(matches!(x.step(b"bob"), Step::Challenge(ref c) if c == b"Password:"));
        assert_eq!(done(x.step(b"x")).user, "bob");
    }

    /// A SCRAM-SHA-256 client, as RFC 5802 describes it.
    fn scram_client_final(
        password: &[u8],
        client_first_bare: &str,
        server_first: &str,
    ) -> (String, [u8; 32]) {
        use sha2::Digest;
        let mut salt = None;
        let mut nonce = "";
        let mut iters = 0;
        for a in server_first.split(',') {
            if let Some(s) = a.strip_prefix("s=") {
                salt = util::base64::decode(s);
            } else if let Some(r) = a.strip_prefix("r=") {
                nonce = r;
            } else if let Some(i) = a.strip_prefix("i=") {
                iters = i.parse().unwrap();
            }
        }
        let salted = hi(password, &salt.unwrap(), iters);
        let client_key = hmac_sha256(&salted, b"Client Key");
        let stored: [u8; 32] = sha2::Sha256::digest(client_key).into();
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let sig = hmac_sha256(&stored, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(sig.iter())
            .map(|(a, b)| a ^ b)
            .collect();
        let server_sig = hmac_sha256(
            &hmac_sha256(&salted, b"Server Key"),
            auth_message.as_bytes(),
        );
        (
            format!("{without_proof},p={}", util::base64::encode(&proof)),
            server_sig,
        )
    }

    #[test]
    fn scram_sha_256() {
        // RFC 7677's test vector for Hi().
        assert_eq!(
            util::base64::encode(&hi(
                b"pencil",
                &util::base64::decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap(),
                4096
            )),
            "xKSVEDI6tPlSysH6mUQZOeeOp01r6B3fcJbodRPcYV0="
        );
        let (mut x, s) = Exchange::start(
            Mechanism::ScramSha256,
            Some(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"),
        );
        let Step::Challenge(sf) = s else {
            panic!("no server-first")
        };
        let sf = String::from_utf8(sf).unwrap();
        assert!(
            sf.starts_with("r=rOprNGfwEbeRWgbNEkqO") && sf.ends_with(",i=4096"),
            "{sf}"
        );
        let (cf, server_sig) = scram_client_final(b"pencil", "n=user,r=rOprNGfwEbeRWgbNEkqO", &sf);
        let c = done(x.step(cf.as_bytes()));
        assert_eq!(c.user, "user");
        assert!(!c.proof.matches_plaintext(b"pencil!"));
        assert!(c.proof.server_final().is_none());
        assert!(c.proof.matches_plaintext(b"pencil"));
        assert_eq!(
            c.proof.server_final().unwrap(),
            format!("v={}", util::base64::encode(&server_sig)).into_bytes()
        );
        // Tampered nonce, channel binding, junk.
        let (mut x, _) = Exchange::start(Mechanism::ScramSha256, Some(b"n,,n=user,r=abc"));
        assert!(matches!(x.step(b"c=biws,r=other,p=AAAA"), Step::Invalid(_)));
        assert!(matches!(
            Exchange::start(Mechanism::ScramSha256, Some(b"p=tls-unique,,n=u,r=x")).1,
            Step::Invalid(_)
        ));
        assert!(matches!(
            Exchange::start(Mechanism::ScramSha256, Some(b"n,,n=u=ZZ,r=x")).1,
            Step::Invalid(_)
        ));
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
