//! SEARCH: whether a message matches a search key (RFC 3501 6.4.4).
//! Flags, sizes, dates and sets come from the mailbox; header and text
//! keys from the message parsed by the mime crate, loaded only when a
//! key needs it. Strings match as case-insensitive substrings of the
//! decoded text (RFC 2047 words, transfer encodings and charsets undone).
//! MODSEQ (RFC 7162) compares the message's mod-sequence.

use imap_proto::{SearchKey, SequenceSet};
use mailbox::imap::ImapMessage;
use mailbox::store::Flags;
use mime::Message;

/// What a search knows about one message.
pub struct Facts<'a> {
    pub seq: u32,
    pub largest_seq: u32,
    pub largest_uid: u32,
    pub msg: &'a ImapMessage,
    pub internal_date: i64,
    pub size: u64,
    /// The message's mod-sequence (RFC 7162).
    pub modseq: u64,
    /// Reads the message (once) when a key needs its content.
    pub load: &'a mut dyn FnMut() -> Option<Vec<u8>>,
    pub content: Option<Option<Vec<u8>>>,
    /// `$`: the saved search result (RFC 5182), as UIDs.
    pub saved: &'a [u32],
}

impl Facts<'_> {
    fn content(&mut self) -> Option<&[u8]> {
        if self.content.is_none() {
            self.content = Some((self.load)());
        }
        self.content.as_ref().and_then(|c| c.as_deref())
    }
}

/// Whether a key needs the message's content.
pub fn needs_content(k: &SearchKey) -> bool {
    match k {
        SearchKey::And(v) => v.iter().any(needs_content),
        SearchKey::Or(a, b) => needs_content(a) || needs_content(b),
        SearchKey::Not(a) => needs_content(a),
        SearchKey::Bcc(_)
        | SearchKey::Body(_)
        | SearchKey::Cc(_)
        | SearchKey::From(_)
        | SearchKey::Subject(_)
        | SearchKey::Text(_)
        | SearchKey::To(_)
        | SearchKey::Header(..)
        | SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_) => true,
        _ => false,
    }
}

fn lower(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_lowercase()
}

fn header_contains(m: &Message<'_>, name: &str, needle: &[u8]) -> bool {
    let needle = lower(needle);
    let h = m.header();
    let found = h
        .get(name)
        .any(|raw| mime::decode_header(raw).to_lowercase().contains(&needle));
    found
}

fn in_set(set: &SequenceSet, n: u32, largest: u32, saved: &[u32]) -> bool {
    if set.is_saved() {
        return saved.contains(&n);
    }
    set.contains(n, largest)
}

const DAY: i64 = 86_400;

/// The day (days since the epoch) of a Date: header, in its own zone.
fn sent_day(m: &Message<'_>) -> Option<i64> {
    m.date().map(|d| d.day_number())
}

/// Whether the message matches `k`.
pub fn matches(k: &SearchKey, f: &mut Facts<'_>) -> bool {
    let flag = |f: &Facts<'_>, x: Flags| f.msg.flags.contains(x);
    let kw = |f: &Facts<'_>, name: &str| {
        if name.eq_ignore_ascii_case("$Forwarded") {
            return f.msg.flags.contains(Flags::PASSED);
        }
        f.msg.keywords.iter().any(|k| k.eq_ignore_ascii_case(name))
    };
    let internal_day = f.internal_date.div_euclid(DAY);
    match k {
        SearchKey::And(v) => v.iter().all(|k| matches(k, f)),
        SearchKey::Or(a, b) => matches(a, f) || matches(b, f),
        SearchKey::Not(a) => !matches(a, f),
        SearchKey::SequenceSet(s) => in_set(s, f.seq, f.largest_seq, &[]),
        SearchKey::Uid(s) => in_set(s, f.msg.uid, f.largest_uid, f.saved),
        SearchKey::All => true,
        SearchKey::Answered => flag(f, Flags::REPLIED),
        SearchKey::Deleted => flag(f, Flags::TRASHED),
        SearchKey::Draft => flag(f, Flags::DRAFT),
        SearchKey::Flagged => flag(f, Flags::FLAGGED),
        SearchKey::Seen => flag(f, Flags::SEEN),
        SearchKey::Unanswered => !flag(f, Flags::REPLIED),
        SearchKey::Undeleted => !flag(f, Flags::TRASHED),
        SearchKey::Undraft => !flag(f, Flags::DRAFT),
        SearchKey::Unflagged => !flag(f, Flags::FLAGGED),
        SearchKey::Unseen => !flag(f, Flags::SEEN),
        SearchKey::Recent => f.msg.recent,
        SearchKey::New => f.msg.recent && !flag(f, Flags::SEEN),
        SearchKey::Old => !f.msg.recent,
        SearchKey::Keyword(k) => kw(f, k),
        SearchKey::Unkeyword(k) => !kw(f, k),
        SearchKey::Larger(n) => f.size > *n,
        SearchKey::Smaller(n) => f.size < *n,
        SearchKey::Before(d) => internal_day < d.to_unix() / DAY,
        SearchKey::On(d) => internal_day == d.to_unix() / DAY,
        SearchKey::Since(d) => internal_day >= d.to_unix() / DAY,
        SearchKey::Older(secs) => now() - f.internal_date > i64::from(*secs),
        SearchKey::Younger(secs) => now() - f.internal_date <= i64::from(*secs),
        // Flags have no private/shared distinction here: the message's
        // mod-sequence answers for every entry.
        SearchKey::ModSeq { modseq, .. } => f.modseq >= *modseq,
        content_key => {
            let Some(data) = f.content() else {
                return false;
            };
            let m = Message::parse(data);
            match content_key {
                SearchKey::Bcc(s) => header_contains(&m, "Bcc", s),
                SearchKey::Cc(s) => header_contains(&m, "Cc", s),
                SearchKey::From(s) => header_contains(&m, "From", s),
                SearchKey::To(s) => header_contains(&m, "To", s),
                SearchKey::Subject(s) => header_contains(&m, "Subject", s),
                SearchKey::Header(name, s) => {
                    if s.is_empty() {
                        let h = m.header();
                        let found = h.get(name).next().is_some();
                        found
                    } else {
                        header_contains(&m, name, s)
                    }
                }
                SearchKey::Body(s) => m.search_text().to_lowercase().contains(&lower(s)),
                SearchKey::Text(s) => {
                    let needle = lower(s);
                    let h = mime::decode_header(&mime::to_crlf(&m.data()[m.root().header.range()]));
                    h.to_lowercase().contains(&needle)
                        || m.search_text().to_lowercase().contains(&needle)
                }
                SearchKey::SentBefore(d) => sent_day(&m).is_some_and(|x| x < d.to_unix() / DAY),
                SearchKey::SentOn(d) => sent_day(&m).is_some_and(|x| x == d.to_unix() / DAY),
                SearchKey::SentSince(d) => sent_day(&m).is_some_and(|x| x >= d.to_unix() / DAY),
                _ => false,
            }
        }
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
