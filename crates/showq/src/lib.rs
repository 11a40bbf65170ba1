//! The queue listing, shared by the `showq` daemon and `postqueue`.
//!
//! * [`scan`]: one pass over the queue directories in Postfix's order
//!   (maildrop, active, incoming, deferred, hold), reading only the envelope
//!   and extracted segments of each file (the content is skipped with one
//!   seek) and the defer log, into a reused [`Message`].
//! * [`format`]: Postfix's two output forms, the JSON object per line of
//!   `postqueue -j` (which is also what the showq service sends) and the
//!   sendmail-style listing of `postqueue -p`.
//! * [`json`]: reading the JSON lines back (postqueue reading showq).
//!
//! Nothing in a queue file or a defer log is trusted: a file that does not
//! parse is skipped with a warning, and every text is made printable before
//! it is shown.

pub mod format;
pub mod json;
pub mod scan;

pub use scan::{Scanner, QUEUES};

/// One recipient as listed: the address and why it waits ("" when unknown).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rcpt {
    pub address: String,
    pub reason: String,
}

/// One message as listed. Reused from message to message: the strings and
/// the recipient slots keep their capacity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub queue_name: String,
    pub queue_id: String,
    /// Seconds since the epoch.
    pub arrival_time: i64,
    /// Bytes of content (the size record), or of the file when unknown.
    pub message_size: u64,
    pub forced_expire: bool,
    /// Printable and quoted; the null sender is `empty_address_recipient`.
    pub sender: String,
    slots: Vec<Rcpt>,
    used: usize,
}

impl Message {
    /// Empties the message, keeping its allocations.
    pub fn clear(&mut self) {
        self.queue_name.clear();
        self.queue_id.clear();
        self.arrival_time = 0;
        self.message_size = 0;
        self.forced_expire = false;
        self.sender.clear();
        self.used = 0;
    }

    /// Drops the recipients, keeping their slots.
    pub fn clear_recipients(&mut self) {
        self.used = 0;
    }

    /// The recipients, in listing order.
    pub fn recipients(&self) -> &[Rcpt] {
        &self.slots[..self.used]
    }

    /// A new, empty recipient slot at the end.
    pub fn push_rcpt(&mut self) -> &mut Rcpt {
        if self.used == self.slots.len() {
            self.slots.push(Rcpt::default());
        }
        let r = &mut self.slots[self.used];
        r.address.clear();
        r.reason.clear();
        self.used += 1;
        r
    }

    /// Appends a recipient.
    pub fn add_rcpt(&mut self, address: &str, reason: &str) {
        let r = self.push_rcpt();
        r.address.push_str(address);
        r.reason.push_str(reason);
    }
}

/// Appends `s` to `out` as Postfix's `printable(s, '?')` with UTF-8 on:
/// control characters become `?`.
pub fn push_printable(out: &mut String, s: &str) {
    for c in s.chars() {
        out.push(if c.is_control() { '?' } else { c });
    }
}

/// Appends `bytes` as text: invalid UTF-8 and control characters become `?`.
pub fn push_printable_bytes(out: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => push_printable(out, s),
        Err(_) => {
            for chunk in bytes.utf8_chunks() {
                push_printable(out, chunk.valid());
                if !chunk.invalid().is_empty() {
                    out.push('?');
                }
            }
        }
    }
}

/// Appends an address as Postfix's `quote_822_local` then `printable`
/// show it: the local part (before the last `@`) in double quotes when it
/// is not a dot-string.
pub fn push_address(out: &mut String, bytes: &[u8]) {
    let raw = String::from_utf8_lossy(bytes);
    let (local, domain) = match raw.rfind('@') {
        Some(at) => (&raw[..at], &raw[at..]),
        None => (&raw[..], ""),
    };
    if addr::local::is_dot_string(local) {
        push_printable_bytes(out, bytes);
        return;
    }
    let quoted = addr::local::quote_local(local);
    push_printable(out, &quoted.replace('\u{FFFD}', "?"));
    push_printable(out, &domain.replace('\u{FFFD}', "?"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_quoted_and_printable() {
        let mut s = String::new();
        push_address(&mut s, b"john doe@example.com");
        assert_eq!(s, "\"john doe\"@example.com");
        s.clear();
        push_address(&mut s, b"user@example.com");
        assert_eq!(s, "user@example.com");
        s.clear();
        push_address(&mut s, b"a\x01b@x\xffy");
        assert_eq!(s, "\"a?b\"@x?y");
    }

    #[test]
    fn message_slots_are_reused() {
        let mut m = Message::default();
        m.add_rcpt("a@b", "why");
        m.add_rcpt("c@d", "");
        m.clear();
        m.add_rcpt("e@f", "");
        assert_eq!(m.recipients().len(), 1);
        assert_eq!(m.recipients()[0].address, "e@f");
        assert_eq!(m.recipients()[0].reason, "");
    }
}
