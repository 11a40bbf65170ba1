//! Dovecot's passwd-file format:
//! `user:{SCHEME}hash:uid:gid:gecos:home:shell:extra_fields`, one user a
//! line, `#` comments. Fields after the password may be empty or absent.

use crate::crypt;
use std::fmt;

/// A password scheme the file may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `{PLAIN}` / `{CLEARTEXT}`: the password itself.
    Plain,
    /// `{CRYPT}`, `{SHA512-CRYPT}`, `{SHA256-CRYPT}`, `{MD5-CRYPT}`,
    /// `{BLF-CRYPT}`, no prefix: a crypt(3) string.
    Crypt,
    /// `{ARGON2ID}`, `{ARGON2I}`: a PHC string (`$argon2id$v=19$…`), as
    /// `doveadm pw -s ARGON2ID` writes it.
    Argon2,
}

impl Scheme {
    pub fn from_name(name: &str) -> Option<Scheme> {
        match name.to_ascii_uppercase().as_str() {
            "PLAIN" | "CLEARTEXT" => Some(Scheme::Plain),
            "CRYPT" | "DES-CRYPT" | "MD5-CRYPT" | "SHA256-CRYPT" | "SHA512-CRYPT" | "BLF-CRYPT" => {
                Some(Scheme::Crypt)
            }
            "ARGON2ID" | "ARGON2I" => Some(Scheme::Argon2),
            _ => None,
        }
    }
}

/// One user.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    pub user: String,
    pub scheme: Scheme,
    pub password: String,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub home: Option<String>,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The password stays out of debug output and so out of any log.
        f.debug_struct("Entry")
            .field("user", &self.user)
            .field("scheme", &self.scheme)
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("home", &self.home)
            .finish()
    }
}

impl Entry {
    /// Whether `password` is this user's.
    pub fn verify(&self, password: &[u8]) -> bool {
        verify(self.scheme, &self.password, password)
    }

    /// Whether `proof` is right for this user (see [`verify_proof`]).
    pub fn verify_proof(&self, proof: &crate::mech::Proof) -> bool {
        verify_proof(self.scheme, &self.password, proof)
    }
}

/// Whether `password` matches the stored one, `stored` in `scheme`.
pub fn verify(scheme: Scheme, stored: &str, password: &[u8]) -> bool {
    match scheme {
        Scheme::Plain => crypt::constant_time_eq(password, stored.as_bytes()),
        Scheme::Crypt => crypt::verify(password, stored),
        Scheme::Argon2 => {
            use argon2::password_hash::{PasswordHash, PasswordVerifier};
            PasswordHash::new(stored).is_ok_and(|h| {
                argon2::Argon2::default()
                    .verify_password(password, &h)
                    .is_ok()
            })
        }
    }
}

/// Whether `proof` is right for the stored password: a password against
/// any scheme; a CRAM-MD5 or SCRAM proof only against a plaintext one (a
/// hash cannot key the HMAC).
pub fn verify_proof(scheme: Scheme, stored: &str, proof: &crate::mech::Proof) -> bool {
    match (proof, scheme) {
        (crate::mech::Proof::Password(p), _) => verify(scheme, stored, p),
        (other, Scheme::Plain) => other.matches_plaintext(stored.as_bytes()),
        _ => false,
    }
}

/// A line that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub what: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

impl std::error::Error for LineError {}

fn id(s: Option<&str>, line: usize, what: &str) -> Result<Option<u32>, LineError> {
    match s {
        None | Some("") => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| LineError {
            line,
            what: format!("bad {what}"),
        }),
    }
}

/// A stored password: `{SCHEME}value`, or a crypt(3) string without a
/// prefix (Dovecot's default scheme, CRYPT).
pub fn parse_password(pw: &str) -> Result<(Scheme, &str), String> {
    match pw.strip_prefix('{').and_then(|r| r.split_once('}')) {
        Some((name, rest)) => match Scheme::from_name(name) {
            Some(s) => Ok((s, rest)),
            None => Err(format!(
                "unsupported password scheme {}",
                crate::printable(name, 32)
            )),
        },
        None => Ok((Scheme::Crypt, pw)),
    }
}

/// Parses one line; `Ok(None)` for blank lines and comments.
pub fn parse_line(text: &str, line: usize) -> Result<Option<Entry>, LineError> {
    let t = text.trim_end_matches(['\r', '\n']);
    if t.trim().is_empty() || t.trim_start().starts_with('#') {
        return Ok(None);
    }
    let mut f = t.split(':');
    let user = f.next().unwrap_or("");
    if user.is_empty() || user.chars().any(|c| c.is_control() || c == ' ') {
        return Err(LineError {
            line,
            what: "bad user name".into(),
        });
    }
    let pw = f.next().unwrap_or("");
    let (scheme, password) = parse_password(pw).map_err(|what| LineError { line, what })?;
    let uid = id(f.next(), line, "uid")?;
    let gid = id(f.next(), line, "gid")?;
    let _gecos = f.next();
    let home = f.next().filter(|h| !h.is_empty()).map(str::to_string);
    Ok(Some(Entry {
        user: user.to_string(),
        scheme,
        password: password.to_string(),
        uid,
        gid,
        home,
    }))
}

/// Parses a whole file: the good entries and the errors of bad lines.
pub fn parse(text: &str) -> (Vec<Entry>, Vec<LineError>) {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (i, l) in text.lines().enumerate() {
        match parse_line(l, i + 1) {
            Ok(Some(e)) => entries.push(e),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    (entries, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_as_doveadm_writes_it() {
        // `doveadm pw -s ARGON2ID -p argon-secret` (Dovecot 2.3.19).
        let line = "carol:{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$J3QX0j/Chr46salZAvkHkQ$xbX5qYU49oVHmcf9xYoaBTY8VjynGqZ8w9MKcSo4/KQ:::::";
        let e = parse_line(line, 1).expect("parse").expect("entry");
        assert_eq!(e.scheme, Scheme::Argon2);
        assert!(e.verify(b"argon-secret"));
        assert!(!e.verify(b"argon-secreT"));
        // A CRAM-MD5 proof needs the plaintext: never against a hash.
        let proof = crate::mech::Proof::CramMd5 {
            challenge: b"<1.2@h>".to_vec(),
            digest: crate::mech::hmac_md5(b"argon-secret", b"<1.2@h>"),
        };
        assert!(!e.verify_proof(&proof));
        let plain = parse_line("dave:{PLAIN}argon-secret", 1)
            .expect("parse")
            .expect("entry");
        assert!(plain.verify_proof(&proof));
    }

    #[test]
    fn parses_dovecot_lines() {
        let text = "# users\n\nalice:{PLAIN}secret:1000:1000::/home/alice::\nbob:{SHA512-CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1\ncarol:$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1:::\nbad:{NOPE}x\n:{PLAIN}x\ndan:{PLAIN}x:notanumber\n";
        let (entries, errors) = parse(text);
        assert_eq!(entries.len(), 3, "{entries:?}");
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(errors[0].line, 6);
        let a = &entries[0];
        assert_eq!((a.uid, a.gid), (Some(1000), Some(1000)));
        assert_eq!(a.home.as_deref(), Some("/home/alice"));
        assert!(a.verify(b"secret") && !a.verify(b"secreT") && !a.verify(b""));
        assert!(entries[1].verify(b"Hello world!"));
        assert!(!entries[1].verify(b"secret"));
        assert_eq!(entries[2].scheme, Scheme::Crypt);
        assert!(entries[2].verify(b"Hello world!"));
        assert!(!format!("{a:?}").contains("secret"));
    }
}
