//! Mod-sequences (RFC 7162 CONDSTORE/QRESYNC) of a Maildir, kept in
//! `mailsuite-modseq` in the control directory beside `dovecot-uidlist`
//! (Dovecot ignores the file), so every session, pop3d and imapd alike,
//! sees the same numbers, and they survive restarts.
//!
//! The file records, per UID, the message's mod-sequence and the info
//! letters (`:2,` flags and keyword letters, sorted) it had when that
//! mod-sequence was given. Whoever lists the Maildir and finds a
//! message whose letters differ from the record (a STORE by any session,
//! pop3d's \Seen, a rename by an outside program), a UID without a
//! record (a new message) or a record without a message (an expunge)
//! takes `mailsuite-modseq.lock` (a dotlock, as `dovecot-keywords.lock`),
//! reads the file again, gives each difference the next mod-sequence
//! (HIGHESTMODSEQ + 1, in UID order) and writes the file to the lock
//! file, fsyncs it and renames it into place. The first session to see a
//! change numbers it; the others then find it recorded.
//!
//! Expunged UIDs are kept with the mod-sequence of their expunge, up to
//! [`MAX_EXPUNGED`]; the highest mod-sequence of those dropped beyond
//! that is kept (`F`), so QRESYNC knows when its VANISHED (EARLIER) list
//! may be incomplete.
//!
//! Format (text, one record a line):
//!
//! ```text
//! mailsuite-modseq 1
//! V1700000000 H57 F0
//! m 1 3 FS
//! m 2 57 Sab
//! x 4 12
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

/// The file's name in the control directory.
pub const MODSEQ_FILE: &str = "mailsuite-modseq";
const MAGIC: &str = "mailsuite-modseq 1";
/// How many expunged UIDs are remembered.
pub const MAX_EXPUNGED: usize = 10_000;

/// The mod-sequences of one mailbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModSeqs {
    /// The UIDVALIDITY the records belong to.
    pub uid_validity: u32,
    /// HIGHESTMODSEQ.
    pub highest: u64,
    /// The highest mod-sequence of an expunge no longer in `expunged`.
    pub forgotten: u64,
    /// UID → (mod-sequence, info letters).
    pub msgs: HashMap<u32, (u64, String)>,
    /// Expunged UID → the mod-sequence of its expunge.
    pub expunged: BTreeMap<u32, u64>,
}

impl ModSeqs {
    /// Parses the file's contents; `None` when it is not one.
    pub fn parse(text: &str) -> Option<ModSeqs> {
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let mut m = ModSeqs::default();
        for w in lines.next()?.split(' ') {
            let (k, v) = w.split_at_checked(1)?;
            match k {
                "V" => m.uid_validity = v.parse().ok()?,
                "H" => m.highest = v.parse().ok()?,
                "F" => m.forgotten = v.parse().ok()?,
                _ => {}
            }
        }
        for l in lines {
            let mut f = l.splitn(4, ' ');
            let kind = f.next()?;
            let uid: u32 = f.next()?.parse().ok()?;
            let seq: u64 = f.next()?.parse().ok()?;
            match kind {
                "m" => {
                    m.msgs
                        .insert(uid, (seq, f.next().unwrap_or("").to_string()));
                }
                "x" => {
                    m.expunged.insert(uid, seq);
                }
                _ => return None,
            }
        }
        Some(m)
    }

    /// The file's contents.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{MAGIC}\nV{} H{} F{}\n",
            self.uid_validity, self.highest, self.forgotten
        );
        let mut msgs: Vec<(&u32, &(u64, String))> = self.msgs.iter().collect();
        msgs.sort_unstable_by_key(|(uid, _)| **uid);
        out.reserve(msgs.len() * 20 + self.expunged.len() * 16);
        for (uid, (seq, info)) in msgs {
            let _ = writeln!(out, "m {uid} {seq} {info}");
        }
        for (uid, seq) in &self.expunged {
            let _ = writeln!(out, "x {uid} {seq}");
        }
        out
    }

    /// Reads `control/mailsuite-modseq`: `None` when it is missing or
    /// not readable as one.
    pub fn read(control: &Path) -> Option<ModSeqs> {
        let text = fs::read_to_string(control.join(MODSEQ_FILE)).ok()?;
        ModSeqs::parse(&text)
    }

    /// Whether `current` (UID-ordered (UID, info letters) of what is on
    /// disk) differs from the records.
    pub fn needs_update(&self, uid_validity: u32, current: &[(u32, String)]) -> bool {
        if self.uid_validity != uid_validity || self.highest == 0 {
            return true;
        }
        current.len() != self.msgs.len()
            || current
                .iter()
                .any(|(uid, info)| self.msgs.get(uid).is_none_or(|(_, i)| i != info))
    }

    /// Gives every difference between the records and `current` the next
    /// mod-sequence; returns whether anything changed.
    pub fn apply(&mut self, uid_validity: u32, current: &[(u32, String)]) -> bool {
        let mut changed = false;
        if self.uid_validity != uid_validity {
            // A new UIDVALIDITY: every message is new. HIGHESTMODSEQ
            // keeps growing all the same.
            self.msgs.clear();
            self.expunged.clear();
            self.forgotten = 0;
            self.uid_validity = uid_validity;
            changed = true;
        }
        if self.highest == 0 {
            self.highest = 1;
            changed = true;
        }
        let mut present = std::collections::HashSet::with_capacity(current.len());
        for (uid, info) in current {
            present.insert(*uid);
            match self.msgs.get_mut(uid) {
                Some((_, i)) if i == info => {}
                Some((seq, i)) => {
                    self.highest += 1;
                    *seq = self.highest;
                    i.clone_from(info);
                    changed = true;
                }
                None => {
                    self.highest += 1;
                    self.msgs.insert(*uid, (self.highest, info.clone()));
                    self.expunged.remove(uid);
                    changed = true;
                }
            }
        }
        let mut gone: Vec<u32> = self
            .msgs
            .keys()
            .copied()
            .filter(|u| !present.contains(u))
            .collect();
        gone.sort_unstable();
        for uid in gone {
            self.msgs.remove(&uid);
            self.highest += 1;
            self.expunged.insert(uid, self.highest);
            changed = true;
        }
        if self.expunged.len() > MAX_EXPUNGED {
            let mut by_seq: Vec<(u64, u32)> = self.expunged.iter().map(|(u, s)| (*s, *u)).collect();
            by_seq.sort_unstable();
            let drop = by_seq.len() - MAX_EXPUNGED;
            for (seq, uid) in by_seq.into_iter().take(drop) {
                self.expunged.remove(&uid);
                self.forgotten = self.forgotten.max(seq);
            }
        }
        changed
    }

    /// The mod-sequence of `uid` (HIGHESTMODSEQ when it has none yet).
    pub fn of(&self, uid: u32) -> u64 {
        self.msgs.get(&uid).map_or(self.highest.max(1), |(s, _)| *s)
    }

    /// The UIDs expunged after mod-sequence `since`, ascending, and
    /// whether the list is complete (false: expunges that old were
    /// forgotten; the caller must assume any UID it does not have).
    pub fn vanished_since(&self, since: u64) -> (Vec<u32>, bool) {
        let v = self
            .expunged
            .iter()
            .filter(|(_, s)| **s > since)
            .map(|(u, _)| *u)
            .collect();
        (v, since >= self.forgotten)
    }
}

/// The info letters of a Maildir file name as the records keep them:
/// system flags then keyword letters, each sorted.
pub fn info_key(flags: crate::store::Flags, keywords: &str) -> String {
    let mut kw: Vec<char> = keywords.chars().collect();
    kw.sort_unstable();
    kw.dedup();
    let mut s = flags.letters();
    s.extend(kw);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(v: &[(u32, &str)]) -> Vec<(u32, String)> {
        v.iter().map(|(u, i)| (*u, i.to_string())).collect()
    }

    #[test]
    fn changes_get_the_next_modseq_and_expunges_are_remembered() {
        let mut m = ModSeqs::default();
        assert!(m.needs_update(7, &[]));
        assert!(m.apply(7, &cur(&[(1, ""), (2, "S")])));
        assert_eq!((m.highest, m.of(1), m.of(2)), (3, 2, 3));
        assert!(!m.needs_update(7, &cur(&[(1, ""), (2, "S")])));
        assert!(!m.apply(7, &cur(&[(1, ""), (2, "S")])));
        // A flag change, a new message, an expunge.
        assert!(m.needs_update(7, &cur(&[(2, "FS"), (3, "")])));
        m.apply(7, &cur(&[(2, "FS"), (3, "")]));
        assert_eq!((m.of(2), m.of(3), m.highest), (4, 5, 6));
        assert_eq!(m.vanished_since(3), (vec![1], true));
        assert_eq!(m.vanished_since(6), (vec![], true));
        let back = ModSeqs::parse(&m.to_text()).expect("parse");
        assert_eq!(back, m);
        assert!(ModSeqs::parse("junk\n").is_none());
        assert!(ModSeqs::parse(&format!("{MAGIC}\nV1 H2 F0\nq 1 1\n")).is_none());
        // A new UIDVALIDITY: all new, HIGHESTMODSEQ still grows.
        m.apply(8, &cur(&[(1, "")]));
        assert_eq!((m.of(1), m.highest), (7, 7));
        assert!(m.expunged.is_empty());
    }

    #[test]
    fn the_expunged_list_is_bounded() {
        let mut m = ModSeqs::default();
        let all: Vec<(u32, String)> = (1..=MAX_EXPUNGED as u32 + 10)
            .map(|u| (u, String::new()))
            .collect();
        m.apply(1, &all);
        m.apply(1, &[]);
        assert_eq!(m.expunged.len(), MAX_EXPUNGED);
        assert!(m.forgotten > 0);
        let (v, complete) = m.vanished_since(0);
        assert!(!complete && v.len() == MAX_EXPUNGED);
        assert!(m.vanished_since(m.forgotten).1);
    }

    #[test]
    fn info_keys_are_sorted() {
        use crate::store::Flags;
        assert_eq!(info_key(Flags::SEEN.union(Flags::FLAGGED), "ba"), "FSab");
    }
}
