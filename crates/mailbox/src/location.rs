//! `mail_location` as Dovecot writes it: `FORMAT:ROOT[:KEY=VALUE]...`,
//! e.g. `maildir:~/Maildir` or `mbox:~/mail:INBOX=/var/mail/%u`.
//!
//! Variables, with Dovecot's meanings: `%u` the whole user name, `%n` its
//! part before '@', `%d` its part after '@' (empty without one), `%h` the
//! home directory, `%%` a '%'; the long forms `%{user}`, `%{username}`,
//! `%{domain}`, `%{home}`; the modifier `L` lowercases (`%Lu`, `%Ln`).
//! A leading `~` (or `~/`) in a path is the home directory.
//!
//! Keys: `INBOX=` (the INBOX, mbox), `INDEX=`, `CONTROL=`, `LAYOUT=`
//! (`maildir++` or `fs`); others are kept as given. `::` in a value is a
//! literal ':', as in Dovecot.

use std::fmt;
use std::path::{Path, PathBuf};

/// Which store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Maildir,
    Mbox,
}

/// The user a location is expanded for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserVars {
    /// `%u`: the login name, maybe `user@domain`.
    pub user: String,
    /// `%h` and `~`.
    pub home: Option<PathBuf>,
}

/// A parsed, expanded `mail_location`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub format: Format,
    /// The Maildir, or the mbox folder directory.
    pub root: PathBuf,
    /// `INBOX=`: the INBOX when not under `root` (mbox: `/var/mail/%u`).
    pub inbox: Option<PathBuf>,
    /// `INDEX=`: where index files go (`MEMORY` kept as a path).
    pub index: Option<PathBuf>,
    /// `CONTROL=`: where control files (uidlist…) go.
    pub control: Option<PathBuf>,
    /// `LAYOUT=`.
    pub layout: Option<String>,
    /// Any other `KEY=VALUE`, expanded.
    pub other: Vec<(String, String)>,
}

/// Why a `mail_location` could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationError {
    /// Empty value (Dovecot would autodetect; mailsuite wants it said).
    Empty,
    /// Not `maildir:` or `mbox:`.
    UnknownFormat(String),
    /// No path after the format.
    NoRoot,
    /// A `%x` that is not known.
    UnknownVariable(String),
    /// `%h` or `~` used but the user has no home directory.
    NoHome,
    /// A `:KEY` without `=`.
    BadOption(String),
    /// The path is not absolute after expansion.
    NotAbsolute(String),
}

impl fmt::Display for LocationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocationError::Empty => f.write_str("mail_location is empty"),
            LocationError::UnknownFormat(s) => write!(f, "unknown mail storage format: {s}"),
            LocationError::NoRoot => f.write_str("mail_location has no path"),
            LocationError::UnknownVariable(s) => {
                write!(f, "unknown variable in mail_location: {s}")
            }
            LocationError::NoHome => {
                f.write_str("mail_location uses the home directory (~ or %h) but the user has none")
            }
            LocationError::BadOption(s) => write!(f, "bad mail_location option: {s}"),
            LocationError::NotAbsolute(s) => write!(f, "mail_location path is not absolute: {s}"),
        }
    }
}

impl std::error::Error for LocationError {}

/// Expands `%u %n %d %h %%`, `%{…}`, `%L` and a leading `~`.
pub fn expand(template: &str, vars: &UserVars) -> Result<String, LocationError> {
    let home = || {
        vars.home
            .as_ref()
            .map(|h| h.to_string_lossy().into_owned())
            .ok_or(LocationError::NoHome)
    };
    let mut out = String::new();
    let rest = if template == "~" {
        out.push_str(&home()?);
        ""
    } else if let Some(r) = template.strip_prefix("~/") {
        out.push_str(home()?.trim_end_matches('/'));
        out.push('/');
        r
    } else {
        template
    };
    let (user, domain) = match vars.user.split_once('@') {
        Some((n, d)) => (n, d),
        None => (vars.user.as_str(), ""),
    };
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut lower = false;
        let mut name = String::new();
        loop {
            match chars.next() {
                Some('L') if name.is_empty() && !lower => lower = true,
                Some('{') => {
                    for c in chars.by_ref() {
                        if c == '}' {
                            break;
                        }
                        name.push(c);
                    }
                    break;
                }
                Some(c) => {
                    name.push(c);
                    break;
                }
                None => return Err(LocationError::UnknownVariable("%".into())),
            }
        }
        let value = match name.as_str() {
            "%" => "%".to_string(),
            "u" | "user" => vars.user.clone(),
            "n" | "username" => user.to_string(),
            "d" | "domain" => domain.to_string(),
            "h" | "home" => home()?,
            other => return Err(LocationError::UnknownVariable(format!("%{other}"))),
        };
        if lower {
            out.push_str(&value.to_lowercase());
        } else {
            out.push_str(&value);
        }
    }
    Ok(out)
}

/// Splits at single ':'; `::` is a literal ':'.
fn split_colons(s: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ':' {
            if chars.peek() == Some(&':') {
                chars.next();
                if let Some(p) = parts.last_mut() {
                    p.push(':');
                }
            } else {
                parts.push(String::new());
            }
        } else if let Some(p) = parts.last_mut() {
            p.push(c);
        }
    }
    parts
}

fn abs_path(s: String) -> Result<PathBuf, LocationError> {
    if s.starts_with('/') {
        Ok(PathBuf::from(s))
    } else {
        Err(LocationError::NotAbsolute(s))
    }
}

impl Location {
    /// Parses and expands `spec` for `vars`.
    pub fn parse(spec: &str, vars: &UserVars) -> Result<Location, LocationError> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(LocationError::Empty);
        }
        let (fmt, rest) = spec
            .split_once(':')
            .ok_or_else(|| LocationError::UnknownFormat(spec.to_string()))?;
        let format = match fmt.to_ascii_lowercase().as_str() {
            "maildir" => Format::Maildir,
            "mbox" => Format::Mbox,
            _ => return Err(LocationError::UnknownFormat(fmt.to_string())),
        };
        let parts = split_colons(rest);
        let mut parts = parts.into_iter();
        let root = parts.next().unwrap_or_default();
        if root.is_empty() {
            return Err(LocationError::NoRoot);
        }
        let mut loc = Location {
            format,
            root: abs_path(expand(&root, vars)?)?,
            inbox: None,
            index: None,
            control: None,
            layout: None,
            other: Vec::new(),
        };
        for opt in parts {
            if opt.is_empty() {
                continue;
            }
            let (k, v) = opt
                .split_once('=')
                .ok_or_else(|| LocationError::BadOption(opt.clone()))?;
            let v = expand(v, vars)?;
            match k.to_ascii_uppercase().as_str() {
                "INBOX" => loc.inbox = Some(abs_path(v)?),
                "INDEX" if v == "MEMORY" => loc.index = Some(PathBuf::from(v)),
                "INDEX" => loc.index = Some(abs_path(v)?),
                "CONTROL" => loc.control = Some(abs_path(v)?),
                "LAYOUT" => loc.layout = Some(v),
                _ => loc.other.push((k.to_string(), v)),
            }
        }
        Ok(loc)
    }

    /// The INBOX: the Maildir root itself, or the mbox `INBOX=` file
    /// (`ROOT/inbox` without one, as Dovecot).
    pub fn inbox_path(&self) -> PathBuf {
        match (&self.inbox, self.format) {
            (Some(p), _) => p.clone(),
            (None, Format::Maildir) => self.root.clone(),
            (None, Format::Mbox) => self.root.join("inbox"),
        }
    }

    /// The directory for index files: `INDEX=` when set (`None` for
    /// MEMORY), else the Maildir root, or `ROOT/.imap` for mbox
    /// (Dovecot's places).
    pub fn index_dir(&self) -> Option<PathBuf> {
        match &self.index {
            Some(p) if p == Path::new("MEMORY") => None,
            Some(p) => Some(p.clone()),
            None => match self.format {
                Format::Maildir => Some(self.root.clone()),
                Format::Mbox => Some(self.root.join(".imap")),
            },
        }
    }

    /// The index file for mbox folder `mailbox` (`INBOX`, `Sent`,
    /// `lists/rust`): `NAME/mailsuite-mbox.index` under
    /// [`Self::index_dir`] (`~/mail/.imap/INBOX/…` by default, beside
    /// Dovecot's own `dovecot.index*`).
    /// `None` with `INDEX=MEMORY` or a name that could leave the
    /// directory.
    pub fn mbox_index_path(&self, mailbox: &str) -> Option<PathBuf> {
        let dir = self.index_dir()?;
        let ok = !mailbox.is_empty()
            && !mailbox.starts_with('/')
            && mailbox
                .split('/')
                .all(|l| !l.is_empty() && l != "." && l != ".." && !l.contains('\0'));
        ok.then(|| dir.join(mailbox).join("mailsuite-mbox.index"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(u: &str) -> UserVars {
        UserVars {
            user: u.into(),
            home: Some(PathBuf::from("/home/bob")),
        }
    }

    #[test]
    fn seeds() {
        let l = Location::parse("maildir:~/Maildir", &vars("bob")).expect("parse");
        assert_eq!(l.format, Format::Maildir);
        assert_eq!(l.root, PathBuf::from("/home/bob/Maildir"));
        assert_eq!(l.inbox_path(), PathBuf::from("/home/bob/Maildir"));
        let l = Location::parse("mbox:~/mail:INBOX=/var/mail/%u", &vars("bob")).expect("parse");
        assert_eq!(l.format, Format::Mbox);
        assert_eq!(l.root, PathBuf::from("/home/bob/mail"));
        assert_eq!(l.inbox_path(), PathBuf::from("/var/mail/bob"));
        assert_eq!(
            l.mbox_index_path("INBOX"),
            Some(PathBuf::from(
                "/home/bob/mail/.imap/INBOX/mailsuite-mbox.index"
            ))
        );
        assert_eq!(l.mbox_index_path("../x"), None);
    }

    #[test]
    fn variables() {
        let v = vars("Bob@Example.COM");
        assert_eq!(
            expand("/var/vmail/%d/%n/%h/%%/%u", &v),
            Ok("/var/vmail/Example.COM/Bob//home/bob/%/Bob@Example.COM".into())
        );
        assert_eq!(expand("/v/%Ld/%Ln", &v), Ok("/v/example.com/bob".into()));
        assert_eq!(
            expand("/v/%{domain}/%{username}", &v),
            Ok("/v/Example.COM/Bob".into())
        );
        assert!(matches!(
            expand("/x/%q", &v),
            Err(LocationError::UnknownVariable(_))
        ));
        let nohome = UserVars {
            user: "x".into(),
            home: None,
        };
        assert_eq!(expand("~/Maildir", &nohome), Err(LocationError::NoHome));
        let l = Location::parse("maildir:/v/%d/%n:LAYOUT=fs:INDEX=MEMORY", &v).expect("parse");
        assert_eq!(l.root, PathBuf::from("/v/Example.COM/Bob"));
        assert_eq!(l.layout.as_deref(), Some("fs"));
        assert_eq!(l.index_dir(), None);
        assert!(Location::parse("", &v).is_err());
        assert!(Location::parse("sdbox:~/x", &v).is_err());
        assert!(Location::parse("maildir:Maildir", &v).is_err());
        assert!(
            Location::parse("mbox:/a::b:INBOX=/c", &v).is_ok_and(|l| l.root == Path::new("/a:b"))
        );
    }
}
