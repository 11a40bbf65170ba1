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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

/// The file's name in the control directory.
pub const MODSEQ_FILE: &str = "mailsuite-modseq";
const MAGIC: &str = "mailsuite-modseq 1";
/// How many expunged UIDs are remembered.
pub const MAX_EXPUNGED: usize = 10_000;

/// A message's info as the records keep it: its flag letters, then its
/// keywords, each sorted. Maildir's (flags `DFPRST`, keyword letters
/// `a`–`z`) fit in one word and are compared without allocating; mbox
/// keywords are names and kept as text (`FS name1 name2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Info {
    /// Flag bits ([`crate::store::Flags`]) above bit 26, keyword letters
    /// `a`–`z` as bits 0–25.
    Letters(u32),
    Text(Box<str>),
}

impl Info {
    const FLAG_SHIFT: u32 = 26;

    /// A Maildir message's info: its flags and its keyword letters as
    /// bits (bit 0: `a`).
    pub fn maildir(flags: crate::store::Flags, keyword_mask: u32) -> Info {
        Info::Letters(u32::from(flags.0 & 0x3f) << Self::FLAG_SHIFT | keyword_mask & 0x03ff_ffff)
    }

    /// From the text form (as the file has it): flag letters then keyword
    /// letters, or anything else kept as it is.
    pub fn from_text(text: &str) -> Info {
        let mut bits = 0u32;
        let mut last = 0u8;
        for c in text.bytes() {
            // Letters as [`Info::write`] gives them: in ASCII order, each once.
            let bit = match c {
                b'a'..=b'z' => 1 << (c - b'a'),
                _ => match crate::store::Flags::from_letter(c) {
                    Some(f) => u32::from(f.0) << Self::FLAG_SHIFT,
                    None => return Info::Text(text.into()),
                },
            };
            if c <= last {
                return Info::Text(text.into());
            }
            last = c;
            bits |= bit;
        }
        Info::Letters(bits)
    }

    /// Appends the text form: flags letters then keyword letters.
    fn write(&self, out: &mut String) {
        match self {
            Info::Letters(bits) => {
                let flags = crate::store::Flags((bits >> Self::FLAG_SHIFT) as u8);
                out.extend(flags.letter_chars());
                out.extend(
                    (0..26)
                        .filter(|i| bits & 1 << i != 0)
                        .map(|i| char::from(b'a' + i as u8)),
                );
            }
            Info::Text(t) => out.push_str(t),
        }
    }
}

/// One message's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub uid: u32,
    pub modseq: u64,
    pub info: Info,
}

/// The mod-sequences of one mailbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModSeqs {
    /// The UIDVALIDITY the records belong to.
    pub uid_validity: u32,
    /// HIGHESTMODSEQ.
    pub highest: u64,
    /// The highest mod-sequence of an expunge no longer in `expunged`.
    pub forgotten: u64,
    /// The messages' records, in UID order, one per UID.
    pub msgs: Vec<Record>,
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
                "m" => m.msgs.push(Record {
                    uid,
                    modseq: seq,
                    info: Info::from_text(f.next().unwrap_or("")),
                }),
                "x" => {
                    m.expunged.insert(uid, seq);
                }
                _ => return None,
            }
        }
        if !m.msgs.is_sorted_by(|a, b| a.uid < b.uid) {
            // Not as written here: the last record of a UID counts.
            m.msgs.reverse();
            m.msgs.sort_by_key(|r| r.uid);
            m.msgs.dedup_by_key(|r| r.uid);
        }
        Some(m)
    }

    /// The file's contents.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(64 + self.msgs.len() * 20 + self.expunged.len() * 16);
        let _ = write!(
            out,
            "{MAGIC}\nV{} H{} F{}\n",
            self.uid_validity, self.highest, self.forgotten
        );
        for r in &self.msgs {
            let _ = write!(out, "m {} {} ", r.uid, r.modseq);
            r.info.write(&mut out);
            out.push('\n');
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

    /// The record of `uid`.
    pub fn get(&self, uid: u32) -> Option<&Record> {
        self.msgs
            .binary_search_by_key(&uid, |r| r.uid)
            .ok()
            .map(|i| &self.msgs[i])
    }

    /// Whether `current` (UID-ordered (UID, info) of what is on disk)
    /// differs from the records.
    pub fn needs_update(&self, uid_validity: u32, current: &[(u32, Info)]) -> bool {
        if self.uid_validity != uid_validity || self.highest == 0 {
            return true;
        }
        current.len() != self.msgs.len()
            || current
                .iter()
                .zip(&self.msgs)
                .any(|((uid, info), r)| *uid != r.uid || *info != r.info)
    }

    /// Gives every difference between the records and `current`
    /// (UID-ordered) the next mod-sequence: changed and new messages in
    /// UID order, then the expunges; returns whether anything changed.
    pub fn apply(&mut self, uid_validity: u32, current: &[(u32, Info)]) -> bool {
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
        let mut sorted;
        let mut current = current;
        if !current.is_sorted_by(|a, b| a.0 < b.0) {
            sorted = current.to_vec();
            sorted.sort_by_key(|c| c.0);
            sorted.dedup_by_key(|c| c.0);
            current = &sorted;
        }
        let mut old = std::mem::take(&mut self.msgs).into_iter().peekable();
        let mut msgs = Vec::with_capacity(current.len());
        let mut gone = Vec::new();
        for (uid, info) in current {
            while let Some(r) = old.next_if(|r| r.uid < *uid) {
                gone.push(r.uid);
            }
            match old.next_if(|r| r.uid == *uid) {
                Some(r) if r.info == *info => msgs.push(r),
                known => {
                    if known.is_none() {
                        self.expunged.remove(uid);
                    }
                    self.highest += 1;
                    msgs.push(Record {
                        uid: *uid,
                        modseq: self.highest,
                        info: info.clone(),
                    });
                    changed = true;
                }
            }
        }
        gone.extend(old.map(|r| r.uid));
        self.msgs = msgs;
        for uid in gone {
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
        self.get(uid).map_or(self.highest.max(1), |r| r.modseq)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(v: &[(u32, &str)]) -> Vec<(u32, Info)> {
        v.iter().map(|(u, i)| (*u, Info::from_text(i))).collect()
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
        let all: Vec<(u32, Info)> = (1..=MAX_EXPUNGED as u32 + 10)
            .map(|u| (u, Info::Letters(0)))
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
    fn maildir_infos_are_letters_and_others_text() {
        use crate::store::Flags;
        let fs = Info::maildir(Flags::SEEN.union(Flags::FLAGGED), 0b11);
        assert_eq!(fs, Info::from_text("FSab"));
        let mut t = String::new();
        fs.write(&mut t);
        assert_eq!(t, "FSab");
        assert_eq!(Info::from_text(""), Info::Letters(0));
        // mbox keywords are names; letters out of order are not Maildir's.
        assert_eq!(
            Info::from_text("S $Junk work"),
            Info::Text("S $Junk work".into())
        );
        assert_eq!(Info::from_text("ba"), Info::Text("ba".into()));
        assert_eq!(Info::from_text("SS"), Info::Text("SS".into()));
    }

    #[test]
    fn records_out_of_order_or_repeated_are_sorted_the_last_kept() {
        let m = ModSeqs::parse(&format!("{MAGIC}\nV1 H9 F0\nm 3 5 S\nm 1 2 \nm 3 9 F\n"))
            .expect("parse");
        let got: Vec<(u32, u64)> = m.msgs.iter().map(|r| (r.uid, r.modseq)).collect();
        assert_eq!(got, [(1, 2), (3, 9)]);
        assert_eq!(m.get(3).map(|r| &r.info), Some(&Info::from_text("F")));
        // Unsorted input to apply is numbered in UID order.
        let mut m = ModSeqs::default();
        m.apply(1, &cur(&[(5, ""), (2, "S")]));
        assert_eq!((m.of(2), m.of(5)), (2, 3));
    }
}
