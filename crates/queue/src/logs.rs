//! Per-message delivery logs: `defer/ID` (why recipients wait), `bounce/ID`
//! (why recipients failed, for the non-delivery notice) and `trace/ID`
//! (what was delivered, for success notices), hashed like `deferred/`
//! where `hash_queue_names` says so.
//!
//! One entry per line, tab-separated `name=value` fields; tab, newline and
//! backslash in values are escaped as `\t`, `\n`, `\\`. Unknown fields are
//! ignored so the format can grow. Fields: `recipient`, `original`,
//! `orcpt`, `notify`, `offset` (of the recipient record in the queue file),
//! `status` (DSN code, e.g. 4.4.1), `action` (failed, delayed, delivered,
//! relayed, expanded), `relay`, `reason`, `time` (seconds).
//!
//! Appends are one `write(2)` each on an `O_APPEND` descriptor, then fsync,
//! so a crash never leaves half an entry in the middle; a partial last line
//! (crash mid-write, full disk) is skipped by the reader and cut off by
//! the next append. Appends and [`remove_entries`] hold an exclusive flock
//! on the log, so entries added while the bounce service reports others
//! are not lost.

use crate::error::QueueError;
use crate::path::HashSpec;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Which log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Log {
    Defer,
    Bounce,
    Trace,
}

impl Log {
    pub fn queue_name(self) -> &'static str {
        match self {
            Log::Defer => "defer",
            Log::Bounce => "bounce",
            Log::Trace => "trace",
        }
    }
}

/// One recipient's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    pub recipient: String,
    pub original: Option<String>,
    pub orcpt: Option<String>,
    pub notify: u8,
    pub offset: u64,
    pub status: String,
    pub action: String,
    pub relay: String,
    pub reason: String,
    pub time: u64,
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    unescape_into(&mut out, s.as_bytes());
    out
}

/// Appends the unescaped text of a log field to `out` (for readers that
/// reuse one buffer, like showq over thousands of logs).
pub fn unescape_into(out: &mut String, v: &[u8]) {
    let s = String::from_utf8_lossy(v);
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
}

impl Entry {
    /// The entry as one line (with its newline).
    pub fn to_line(&self) -> String {
        let mut f = vec![format!("recipient={}", escape(&self.recipient))];
        if let Some(o) = &self.original {
            f.push(format!("original={}", escape(o)));
        }
        if let Some(o) = &self.orcpt {
            f.push(format!("orcpt={}", escape(o)));
        }
        f.push(format!("notify={}", self.notify));
        f.push(format!("offset={}", self.offset));
        f.push(format!("status={}", escape(&self.status)));
        f.push(format!("action={}", escape(&self.action)));
        f.push(format!("relay={}", escape(&self.relay)));
        f.push(format!("reason={}", escape(&self.reason)));
        f.push(format!("time={}", self.time));
        f.join("\t") + "\n"
    }

    /// Parses one line; None when it is not a complete entry.
    pub fn parse(line: &str) -> Option<Entry> {
        let mut e = Entry::default();
        let mut has_recipient = false;
        for field in line.split('\t') {
            let (k, v) = field.split_once('=')?;
            match k {
                "recipient" => {
                    e.recipient = unescape(v);
                    has_recipient = true;
                }
                "original" => e.original = Some(unescape(v)),
                "orcpt" => e.orcpt = Some(unescape(v)),
                "notify" => e.notify = v.parse().ok()?,
                "offset" => e.offset = v.parse().ok()?,
                "status" => e.status = unescape(v),
                "action" => e.action = unescape(v),
                "relay" => e.relay = unescape(v),
                "reason" => e.reason = unescape(v),
                "time" => e.time = v.parse().ok()?,
                _ => {}
            }
        }
        has_recipient.then_some(e)
    }
}

/// Where the log of `id` lives.
pub fn path(queue_dir: &Path, spec: &HashSpec, log: Log, id: &str) -> Result<PathBuf, QueueError> {
    spec.path(queue_dir, log.queue_name(), id)
}

/// Appends entries (one write, then fsync), creating the file and hashed
/// directories as needed.
pub fn append(
    queue_dir: &Path,
    spec: &HashSpec,
    log: Log,
    id: &str,
    entries: &[Entry],
) -> Result<(), QueueError> {
    if entries.is_empty() {
        return Ok(());
    }
    let p = path(queue_dir, spec, log, id)?;
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| QueueError::io(format!("create {}", dir.display()), e))?;
    }
    let text: String = entries.iter().map(Entry::to_line).collect();
    let mut f = open_locked(&p, true)
        .map_err(|e| QueueError::io(format!("open {}", p.display()), e))?
        .ok_or_else(|| {
            QueueError::io(
                format!("open {}", p.display()),
                std::io::ErrorKind::NotFound.into(),
            )
        })?;
    drop_partial_line(&f).map_err(|e| QueueError::io(format!("truncate {}", p.display()), e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| QueueError::io(format!("write {}", p.display()), e))?;
    f.sync_all()
        .map_err(|e| QueueError::io(format!("fsync {}", p.display()), e))
}

/// Cuts off the half entry a write cut short left at the end of the log
/// (the reader skips it), so that the next entry starts a line of its own
/// instead of running on from it. The caller holds the log's lock.
fn drop_partial_line(f: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let len = f.metadata()?.len();
    let mut end = len;
    let mut buf = [0u8; 4096];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        f.read_exact_at(chunk, start)?;
        if let Some(nl) = chunk.iter().rposition(|&b| b == b'\n') {
            end = start + nl as u64 + 1;
            break;
        }
        end = start;
    }
    if end < len {
        f.set_len(end)?;
    }
    Ok(())
}

/// Reads every complete entry; an absent log is empty.
pub fn read(
    queue_dir: &Path,
    spec: &HashSpec,
    log: Log,
    id: &str,
) -> Result<Vec<Entry>, QueueError> {
    let p = path(queue_dir, spec, log, id)?;
    let text = match std::fs::read(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(QueueError::io(format!("read {}", p.display()), e)),
    };
    let text = String::from_utf8_lossy(&text);
    Ok(text
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .filter_map(|l| Entry::parse(l.trim_end_matches('\n')))
        .collect())
}

/// The log at `p` opened for appending under an exclusive flock (None:
/// there is none and `create` is false). The file is the one at the path
/// once the lock is held: a log replaced meanwhile is opened again.
fn open_locked(p: &Path, create: bool) -> std::io::Result<Option<std::fs::File>> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    loop {
        let f = match OpenOptions::new()
            .read(true)
            .append(true)
            .create(create)
            .mode(0o600)
            .open(p)
        {
            Ok(f) => f,
            Err(e) if !create && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let held = f.metadata()?;
        match std::fs::metadata(p) {
            Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => return Ok(Some(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => return Ok(None),
            _ => continue,
        }
    }
}

/// Takes `done` (entries read earlier and now reported) out of the log,
/// keeping whatever else it holds now, added since included; the log
/// goes when nothing is left. Under the log's lock, written aside and
/// renamed into place.
pub fn remove_entries(
    queue_dir: &Path,
    spec: &HashSpec,
    log: Log,
    id: &str,
    done: &[Entry],
) -> Result<(), QueueError> {
    let p = path(queue_dir, spec, log, id)?;
    let io = |what: &str, e: std::io::Error| QueueError::io(format!("{what} {}", p.display()), e);
    let Some(lock) = open_locked(&p, false).map_err(|e| io("open", e))? else {
        return Ok(());
    };
    let now = read(queue_dir, spec, log, id)?;
    let left: Vec<Entry> = now.into_iter().filter(|e| !done.contains(e)).collect();
    let result = replace(queue_dir, spec, log, id, &left);
    drop(lock);
    result
}

/// Replaces the log with `entries` (written aside, fsync'd, renamed into
/// place, so that a crash leaves the old log or the new one); no entries:
/// the log is removed.
pub fn replace(
    queue_dir: &Path,
    spec: &HashSpec,
    log: Log,
    id: &str,
    entries: &[Entry],
) -> Result<(), QueueError> {
    if entries.is_empty() {
        return remove(queue_dir, spec, log, id);
    }
    let p = path(queue_dir, spec, log, id)?;
    let aside = p.with_extension(format!("new{}", std::process::id()));
    let text: String = entries.iter().map(Entry::to_line).collect();
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&aside)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&aside, &p));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&aside);
        QueueError::io(format!("replace {}", p.display()), e)
    })
}

/// Removes the log; absent is fine.
pub fn remove(queue_dir: &Path, spec: &HashSpec, log: Log, id: &str) -> Result<(), QueueError> {
    let p = path(queue_dir, spec, log, id)?;
    match std::fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(QueueError::io(format!("remove {}", p.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_partial_lines_are_skipped() {
        let dir = std::env::temp_dir().join(format!("queue_logs_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let spec = HashSpec {
            names: vec!["defer".into()],
            depth: 1,
        };
        let id = "4jWj774S4Sz1Spg9";
        let e = Entry {
            recipient: "a@b.example".into(),
            original: Some("a".into()),
            status: "4.4.1".into(),
            action: "delayed".into(),
            relay: "none".into(),
            reason: "connect to b.example[192.0.2.1]:25: Connection refused\tand\\more\nlines"
                .into(),
            offset: 1234,
            notify: 6,
            time: 99,
            ..Entry::default()
        };
        append(&dir, &spec, Log::Defer, id, &[e.clone(), e.clone()]).unwrap();
        let p = path(&dir, &spec, Log::Defer, id).unwrap();
        assert!(
            p.strip_prefix(&dir).unwrap().components().count() == 3,
            "hashed: {}",
            p.display()
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"recipient=half")
            .unwrap();
        assert_eq!(
            read(&dir, &spec, Log::Defer, id).unwrap(),
            vec![e.clone(), e.clone()]
        );
        // Replaced whole (the half line goes too).
        let other = Entry {
            recipient: "c@d.example".into(),
            ..e.clone()
        };
        replace(&dir, &spec, Log::Defer, id, std::slice::from_ref(&other)).unwrap();
        assert_eq!(read(&dir, &spec, Log::Defer, id).unwrap(), vec![other]);
        replace(&dir, &spec, Log::Defer, id, &[]).unwrap();
        assert!(!p.exists());
        // Taking out what was reported keeps what came since.
        let (one, two, three) = (
            Entry {
                recipient: "1@x.example".into(),
                ..e.clone()
            },
            Entry {
                recipient: "2@x.example".into(),
                ..e.clone()
            },
            Entry {
                recipient: "3@x.example".into(),
                ..e.clone()
            },
        );
        append(&dir, &spec, Log::Defer, id, &[one.clone(), two.clone()]).unwrap();
        append(&dir, &spec, Log::Defer, id, std::slice::from_ref(&three)).unwrap();
        remove_entries(&dir, &spec, Log::Defer, id, std::slice::from_ref(&one)).unwrap();
        assert_eq!(
            read(&dir, &spec, Log::Defer, id).unwrap(),
            vec![two.clone(), three.clone()]
        );
        remove_entries(&dir, &spec, Log::Defer, id, &[two, three]).unwrap();
        assert!(!p.exists());
        remove_entries(&dir, &spec, Log::Defer, id, &[one]).unwrap();
        append(&dir, &spec, Log::Defer, id, &[e]).unwrap();
        remove(&dir, &spec, Log::Defer, id).unwrap();
        assert!(read(&dir, &spec, Log::Defer, id).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A write cut short (a full disk) leaves half an entry; the next
    /// append must not run its entry on from it, which read back as one
    /// entry with the half's recipient and lost the new one.
    #[test]
    fn an_append_after_a_partial_line_is_read_whole() {
        let dir = std::env::temp_dir().join(format!("queue_logs_partial_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let spec = HashSpec::none();
        let id = "4jWj774S4Sz1Spg9";
        let entry = |r: &str| Entry {
            recipient: r.into(),
            status: "5.1.1".into(),
            action: "failed".into(),
            reason: "no such user".into(),
            ..Entry::default()
        };
        append(&dir, &spec, Log::Bounce, id, &[entry("a@x.example")]).unwrap();
        let p = path(&dir, &spec, Log::Bounce, id).unwrap();
        let half = entry("b@x.example").to_line();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(&half.as_bytes()[..20])
            .unwrap();
        append(&dir, &spec, Log::Bounce, id, &[entry("c@x.example")]).unwrap();
        assert_eq!(
            read(&dir, &spec, Log::Bounce, id).unwrap(),
            vec![entry("a@x.example"), entry("c@x.example")]
        );
        // A log that is nothing but half an entry.
        std::fs::write(&p, &half.as_bytes()[..20]).unwrap();
        append(&dir, &spec, Log::Bounce, id, &[entry("d@x.example")]).unwrap();
        assert_eq!(
            read(&dir, &spec, Log::Bounce, id).unwrap(),
            vec![entry("d@x.example")]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
