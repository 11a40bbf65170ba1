//! Password databases, tried in the order the `passdb` parameter lists
//! them: `shadow` (the system's accounts: the hash from the shadow
//! database, verified by the system's crypt), `passwd-file:PATH`
//! (Dovecot's format), and any lookup table (`sqlite:/…/users.cf`,
//! `mysql:/…/users.cf`, `pgsql:`, `texthash:`, …) that answers a user
//! name with the password as Dovecot stores it (`{SCHEME}value`, or a
//! crypt string) — the virtual users of an SQL table, whose uid, gid and
//! home come from mail_uid, mail_gid and mail_home.

use crate::mech::Proof;
use crate::passwd_file::{self, Entry};
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::fmt;
use std::path::PathBuf;
use std::time::SystemTime;

extern "C" {
    // glibc's shadow enumeration (not in the libc crate for Linux).
    fn setspent();
    fn endspent();
}

/// What a passdb knows of a user besides the password: the userdb
/// fields of a passwd-file line (Dovecot passes them on as `userdb_uid`,
/// `userdb_gid`, `userdb_home`), or that the user is a system account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFields {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub home: Option<String>,
    /// The user is the system account of that name (passdb shadow): mail
    /// processes take uid, gid, home and groups from the passwd database.
    /// Users of every other passdb are table users, never system accounts,
    /// even when an account of the same name exists.
    pub system: bool,
}

impl UserFields {
    /// The fields of a system account (passdb shadow).
    pub fn system() -> UserFields {
        UserFields {
            system: true,
            ..UserFields::default()
        }
    }
}

/// The result of checking a user's password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The password is right; the user's canonical name and fields.
    Ok(String, UserFields),
    /// The user exists; the password is wrong.
    Mismatch,
    /// No database knows the user.
    Unknown,
    /// A database could not be consulted.
    TempFail(String),
}

/// A `passdb` setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "parameter passdb: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The system's accounts.
#[derive(Default)]
pub struct Shadow {
    /// Hashes read while privileged (user → hash); None: look up live.
    snapshot: Option<HashMap<String, String>>,
}

impl Shadow {
    /// Reads every shadow entry now (called before the privilege drop:
    /// only root may read /etc/shadow). Without the privilege the
    /// snapshot stays empty and lookups go live.
    pub fn snapshot(&mut self) -> usize {
        if !util::privs::is_root() {
            return 0;
        }
        let mut map = HashMap::new();
        let mut buf = vec![0 as libc::c_char; 16384];
        // SAFETY: setspent/getspent_r/endspent are used from this one
        // thread; `ent` and `buf` outlive each call and the strings read
        // from `ent` point into `buf`, copied before the next call.
        unsafe {
            setspent();
            loop {
                let mut ent: libc::spwd = std::mem::zeroed();
                let mut res: *mut libc::spwd = std::ptr::null_mut();
                let rc = libc::getspent_r(&mut ent, buf.as_mut_ptr(), buf.len(), &mut res);
                if rc != 0 || res.is_null() {
                    break;
                }
                if ent.sp_namp.is_null() || ent.sp_pwdp.is_null() {
                    continue;
                }
                let name = CStr::from_ptr(ent.sp_namp).to_string_lossy().into_owned();
                let hash = CStr::from_ptr(ent.sp_pwdp).to_string_lossy().into_owned();
                // Locked and password-less accounts can never log in: keep
                // only hashes that could match.
                if !hash.is_empty() && !hash.starts_with('!') && !hash.starts_with('*') {
                    map.insert(name, hash);
                }
            }
            endspent();
        }
        buf.fill(0);
        let n = map.len();
        self.snapshot = Some(map);
        n
    }

    fn hash(&self, user: &str) -> Option<String> {
        if let Some(m) = &self.snapshot {
            return m.get(user).cloned();
        }
        let name = CString::new(user).ok()?;
        let mut buf = vec![0 as libc::c_char; 16384];
        // SAFETY: as above, for one getspnam_r call.
        unsafe {
            let mut ent: libc::spwd = std::mem::zeroed();
            let mut res: *mut libc::spwd = std::ptr::null_mut();
            let rc = libc::getspnam_r(
                name.as_ptr(),
                &mut ent,
                buf.as_mut_ptr(),
                buf.len(),
                &mut res,
            );
            if rc != 0 || res.is_null() || ent.sp_pwdp.is_null() {
                return None;
            }
            Some(CStr::from_ptr(ent.sp_pwdp).to_string_lossy().into_owned())
        }
    }

    fn check(&self, user: &str, proof: &Proof) -> Outcome {
        let Proof::Password(password) = proof else {
            // Only a plaintext password can answer CRAM-MD5; shadow has hashes.
            return Outcome::Unknown;
        };
        // The account must exist in passwd too (a shadow entry alone is not a user).
        match util::privs::lookup_user(user) {
            Ok(Some(_)) => {}
            Ok(None) => return Outcome::Unknown,
            Err(e) => return Outcome::TempFail(format!("passwd lookup: {e}")),
        }
        match self.hash(user) {
            None => Outcome::Unknown,
            Some(h) if crate::crypt::verify(password, &h) => {
                Outcome::Ok(user.to_string(), UserFields::system())
            }
            Some(_) => Outcome::Mismatch,
        }
    }
}

/// A Dovecot passwd-file, re-read when it changes.
pub struct PasswdFile {
    pub path: PathBuf,
    entries: HashMap<String, Entry>,
    mtime: Option<SystemTime>,
}

impl PasswdFile {
    pub fn new(path: PathBuf) -> PasswdFile {
        PasswdFile {
            path,
            entries: HashMap::new(),
            mtime: None,
        }
    }

    /// Loads the file if it changed since the last load. A file that
    /// cannot be read keeps the last good contents (and says why).
    pub fn refresh(&mut self) -> Result<(), String> {
        let meta = std::fs::metadata(&self.path)
            .map_err(|e| format!("passwd-file {}: {e}", self.path.display()))?;
        let mtime = meta.modified().ok();
        if mtime.is_some() && mtime == self.mtime {
            return Ok(());
        }
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| format!("passwd-file {}: {e}", self.path.display()))?;
        let (entries, errors) = passwd_file::parse(&text);
        for e in errors {
            maillog::warning!("passwd-file {}: {e}", self.path.display());
        }
        self.entries = entries.into_iter().map(|e| (e.user.clone(), e)).collect();
        self.mtime = mtime;
        Ok(())
    }

    pub fn lookup(&self, user: &str) -> Option<&Entry> {
        self.entries.get(user)
    }
}

/// One configured database.
pub enum Passdb {
    Shadow(Shadow),
    PasswdFile(PasswdFile),
    /// A lookup table: user name → stored password.
    Map(Box<dyn maps::Map>),
}

impl Passdb {
    /// Parses the `passdb` list: `shadow`, `passwd`, `pam` (all meaning the
    /// system's accounts) and `passwd-file:PATH`.
    pub fn from_list(items: &[String]) -> Result<Vec<Passdb>, ConfigError> {
        let mut out = Vec::new();
        for it in items {
            let (driver, args) = it.split_once(':').unwrap_or((it.as_str(), ""));
            match driver {
                "shadow" | "passwd" | "pam" | "system" => {
                    out.push(Passdb::Shadow(Shadow::default()))
                }
                "passwd-file" if args.starts_with('/') => {
                    out.push(Passdb::PasswdFile(PasswdFile::new(PathBuf::from(args))))
                }
                "passwd-file" => {
                    return Err(ConfigError(format!(
                        "passwd-file needs an absolute path: {it}"
                    )))
                }
                _ if !args.is_empty() => match maps::open(it, &maps::Ctx::new()) {
                    Ok(m) => out.push(Passdb::Map(m)),
                    Err(e) => return Err(ConfigError(format!("{it}: {e}"))),
                },
                _ => return Err(ConfigError(format!("unknown driver: {it}"))),
            }
        }
        Ok(out)
    }

    /// The name Dovecot logs it by.
    pub fn name(&self) -> &'static str {
        match self {
            Passdb::Shadow(_) => "shadow",
            Passdb::PasswdFile(_) => "passwd-file",
            Passdb::Map(_) => "table",
        }
    }

    /// Runs before the privilege drop.
    pub fn prepare(&mut self) {
        match self {
            Passdb::Shadow(s) => {
                s.snapshot();
            }
            Passdb::PasswdFile(f) => {
                if let Err(e) = f.refresh() {
                    maillog::warning!("{e}");
                }
            }
            Passdb::Map(_) => {}
        }
    }

    pub fn check(&mut self, user: &str, proof: &Proof) -> Outcome {
        match self {
            Passdb::Shadow(s) => s.check(user, proof),
            Passdb::PasswdFile(f) => {
                if let Err(e) = f.refresh() {
                    if f.entries.is_empty() {
                        return Outcome::TempFail(e);
                    }
                    maillog::warning!("{e}; using the last contents read");
                }
                match f.lookup(user) {
                    None => Outcome::Unknown,
                    Some(e) if e.verify_proof(proof) => Outcome::Ok(
                        e.user.clone(),
                        UserFields {
                            uid: e.uid,
                            gid: e.gid,
                            home: e.home.clone(),
                            system: false,
                        },
                    ),
                    Some(_) => Outcome::Mismatch,
                }
            }
            Passdb::Map(m) => match m.lookup(user) {
                Err(e) => Outcome::TempFail(e.to_string()),
                Ok(None) => Outcome::Unknown,
                Ok(Some(stored)) => match passwd_file::parse_password(stored.trim()) {
                    Err(e) => Outcome::TempFail(format!("{}: {e}", m.spec())),
                    Ok((scheme, hash)) => {
                        if passwd_file::verify_proof(scheme, hash, proof) {
                            Outcome::Ok(user.to_string(), UserFields::default())
                        } else {
                            Outcome::Mismatch
                        }
                    }
                },
            },
        }
    }
}

/// Tries each database in order, as Dovecot's default
/// `result_failure = continue` does: the first success wins; otherwise
/// a mismatch anywhere is a mismatch, a failure to look up is a
/// temporary failure, and else the user is unknown.
pub fn check_all(dbs: &mut [Passdb], user: &str, proof: &Proof) -> (Outcome, &'static str) {
    let mut result = (Outcome::Unknown, "");
    for db in dbs.iter_mut() {
        let name = db.name();
        match db.check(user, proof) {
            Outcome::Ok(u, f) => return (Outcome::Ok(u, f), name),
            Outcome::Mismatch => result = (Outcome::Mismatch, name),
            Outcome::TempFail(e) if result.0 == Outcome::Unknown => {
                result = (Outcome::TempFail(e), name)
            }
            _ => {}
        }
    }
    result
}
