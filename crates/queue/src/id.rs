//! Queue IDs in Postfix's long form (`enable_long_queue_ids = yes`).
//!
//! An ID is the concatenation of (Postfix `global/mail_queue.h`, MQID_LG_*):
//!
//! | part | encoding | width |
//! |------|----------|-------|
//! | seconds since the epoch | base 52 | at least 6 characters, `0`-padded |
//! | microseconds | base 52 | exactly 4 characters, `0`-padded |
//! | separator | the letter `z` | 1 |
//! | inode number of the queue file | base 51 (no `z`) | as many as needed |
//!
//! The alphabet is Postfix's "safe" one (`global/safe_ultostr.c`): the ten
//! digits, then the upper- and lower-case letters without vowels,
//! `0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz`; base 51 leaves out
//! the last letter, `z`, so the last `z` in an ID is always the separator.
//! The alphabet is in ASCII order and the time part has a fixed width (six
//! base-52 digits last until the year 2596), so IDs sort by arrival time as
//! plain strings. E.g. `4Xk2mN2VXxz` +`…`: seconds `4Xk2mN`, microseconds
//! `2VXx`, then `z` and the inode.
//!
//! Uniqueness comes from the inode, as in Postfix (and Zmailer before it):
//! the queue file is created under a temporary name, and its inode, which no
//! other file on the file system has while it exists, names it; the time is
//! taken at the rename.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Postfix's safe alphabet, in ASCII order.
pub const SAFE_CHARS: &[u8; 52] = b"0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz";
/// Base of the seconds and microseconds fields.
pub const TIME_BASE: u64 = 52;
/// Minimum width of the seconds field.
pub const SEC_PAD: usize = 6;
/// Exact width of the microseconds field.
pub const USEC_PAD: usize = 4;
/// Separator between the time and the inode.
pub const INUM_SEP: u8 = b'z';
/// Base of the inode field.
pub const INUM_BASE: u64 = 51;
/// Longest name Postfix accepts as a queue file name (VALID_HOSTNAME_LEN).
pub const MAX_ID_LEN: usize = 255;

/// Why a string is not a long queue ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdError {
    /// Empty, too long, or a character outside `[A-Za-z0-9_]`.
    BadCharacters(String),
    /// No `z` separator after at least ten time characters.
    NoSeparator(String),
    /// A character outside the safe alphabet, or a value that overflows.
    BadField(String),
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdError::BadCharacters(s) => write!(f, "bad mail queue ID: {s}"),
            IdError::NoSeparator(s) => {
                write!(f, "not a long queue ID (no time/inode separator): {s}")
            }
            IdError::BadField(s) => write!(f, "not a long queue ID (bad time or inode field): {s}"),
        }
    }
}

impl std::error::Error for IdError {}

/// Postfix's `mail_queue_id_ok()`: non-empty, at most 255 characters, only
/// ASCII letters, digits and `_`. This is the check that keeps a name given
/// on a command line (`postcat -q`, `postsuper -d`) from reaching outside
/// the queue: no `/`, no `.`.
pub fn is_valid_queue_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Encodes `val` in `base` with the safe alphabet, left-padded with `0` to `pad`.
pub fn safe_encode(mut val: u64, base: u64, pad: usize) -> String {
    let mut out = Vec::new();
    while val != 0 {
        out.push(SAFE_CHARS[(val % base) as usize]);
        val /= base;
    }
    while out.len() < pad {
        out.push(b'0');
    }
    out.reverse();
    out.into_iter().map(char::from).collect()
}

fn safe_value(c: u8) -> Option<u64> {
    SAFE_CHARS.iter().position(|&s| s == c).map(|p| p as u64)
}

/// Decodes a safe-alphabet number; None on an empty string, a character
/// outside the first `base` characters, or overflow.
pub fn safe_decode(s: &str, base: u64) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u64, |acc, c| {
        let v = safe_value(c).filter(|&v| v < base)?;
        acc.checked_mul(base)?.checked_add(v)
    })
}

/// Position of the separator, as Postfix's MQID_FIND_LG_INUM_SEPARATOR: the
/// last `z`, at least ten characters in.
pub fn separator_position(id: &str) -> Option<usize> {
    id.bytes()
        .rposition(|b| b == INUM_SEP)
        .filter(|&p| p >= SEC_PAD + USEC_PAD)
}

/// A long queue ID, checked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(String);

impl QueueId {
    /// The ID for a file with inode `inode` entered at `sec`.`usec`.
    pub fn new(sec: u64, usec: u32, inode: u64) -> QueueId {
        let usec = u64::from(usec.min(999_999));
        QueueId(format!(
            "{}{}{}{}",
            safe_encode(sec, TIME_BASE, SEC_PAD),
            safe_encode(usec, TIME_BASE, USEC_PAD),
            char::from(INUM_SEP),
            safe_encode(inode, INUM_BASE, 0)
        ))
    }

    /// The ID for `inode` at time `t`.
    pub fn at(t: SystemTime, inode: u64) -> QueueId {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        QueueId::new(d.as_secs(), d.subsec_micros(), inode)
    }

    /// Checks that `s` is a long queue ID: safe characters, a time part of at
    /// least ten characters, microseconds below one million, an inode part.
    pub fn parse(s: &str) -> Result<QueueId, IdError> {
        if !is_valid_queue_id(s) {
            return Err(IdError::BadCharacters(s.to_string()));
        }
        let sep = separator_position(s).ok_or_else(|| IdError::NoSeparator(s.to_string()))?;
        let bad = || IdError::BadField(s.to_string());
        let (sec, usec) = (&s[..sep - USEC_PAD], &s[sep - USEC_PAD..sep]);
        safe_decode(sec, TIME_BASE).ok_or_else(bad)?;
        safe_decode(usec, TIME_BASE)
            .filter(|&u| u < 1_000_000)
            .ok_or_else(bad)?;
        safe_decode(&s[sep + 1..], INUM_BASE).ok_or_else(bad)?;
        Ok(QueueId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Seconds and microseconds of the time part.
    pub fn time_parts(&self) -> (u64, u32) {
        time_of(&self.0).unwrap_or((0, 0))
    }

    /// The time the ID was made.
    pub fn time(&self) -> SystemTime {
        let (s, u) = self.time_parts();
        // (an ID's time too far out for SystemTime is the epoch, as a bad one)
        UNIX_EPOCH
            .checked_add(Duration::new(s, u * 1000))
            .unwrap_or(UNIX_EPOCH)
    }

    /// The inode number of the queue file the ID was made for.
    pub fn inode(&self) -> u64 {
        inode_of(&self.0).unwrap_or(0)
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for QueueId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for QueueId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<QueueId, IdError> {
        QueueId::parse(s)
    }
}

/// The (seconds, microseconds) of a long ID, or None if `id` is not one.
pub fn time_of(id: &str) -> Option<(u64, u32)> {
    let sep = separator_position(id)?;
    let sec = safe_decode(id.get(..sep - USEC_PAD)?, TIME_BASE)?;
    let usec = safe_decode(id.get(sep - USEC_PAD..sep)?, TIME_BASE).filter(|&u| u < 1_000_000)?;
    Some((sec, usec as u32))
}

/// The inode number in a long ID.
pub fn inode_of(id: &str) -> Option<u64> {
    let sep = separator_position(id)?;
    safe_decode(id.get(sep + 1..)?, INUM_BASE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabet_is_sorted_and_vowel_free() {
        assert!(SAFE_CHARS.windows(2).all(|w| w[0] < w[1]));
        assert!(!SAFE_CHARS.iter().any(|c| b"AEIOUaeiou".contains(c)));
    }

    #[test]
    fn encodes_like_postfix() {
        assert_eq!(safe_encode(0, 52, 4), "0000");
        assert_eq!(safe_encode(51, 52, 0), "z");
        assert_eq!(safe_encode(52, 52, 0), "10");
        assert_eq!(safe_encode(50, 51, 0), "y");
        let id = QueueId::new(1_700_000_000, 123_456, 987_654);
        assert_eq!(id.time_parts(), (1_700_000_000, 123_456));
        assert_eq!(id.inode(), 987_654);
        assert_eq!(QueueId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(id.as_str().len(), 6 + 4 + 1 + 4);
    }

    #[test]
    fn known_id_decodes() {
        // A real Postfix 3.x ID.
        let (sec, _usec) = time_of("4Xk2mN2VXxz1a").expect("long id");
        assert!(sec > 1_500_000_000 && sec < 2_000_000_000, "{sec}");
    }

    #[test]
    fn sorts_by_time() {
        let mut last = String::new();
        for (s, u, i) in [
            (1_000_000_000u64, 0u32, 99_999_999u64),
            (1_000_000_000, 1, 1),
            (1_000_000_001, 0, 5),
            (1_700_000_000, 999_999, 0),
            (4_000_000_000, 0, 0),
        ] {
            let id = QueueId::new(s, u, i).to_string();
            assert!(id > last, "{id} after {last}");
            last = id;
        }
    }

    #[test]
    fn rejects_bad_ids() {
        for bad in [
            "",
            "../etc",
            "a.b",
            "ABCDEF",
            "0000000000z",
            "zzzzzzzzzzzz1",
            "4Xk2mN2VXxzA/",
        ] {
            assert!(QueueId::parse(bad).is_err(), "{bad}");
        }
        assert!(!is_valid_queue_id("a/b"));
        assert!(!is_valid_queue_id(&"a".repeat(256)));
        assert!(is_valid_queue_id("example_com"));
        // Microseconds field out of range.
        let big = format!(
            "{}{}z1",
            safe_encode(1, 52, 6),
            safe_encode(1_000_000, 52, 4)
        );
        assert!(QueueId::parse(&big).is_err());
    }
}
