//! The mbox reading side: messages as delivered (quoting undone), CRLF
//! streaming and sizes, expunge keeping every other byte, owner and mode
//! kept, the index (used, extended on append, invalidated on rewrite,
//! rebuilt when corrupt), and expunges racing deliveries.

mod common;

use common::{tagged_message, TestDir};
use mailbox::mbox::{self, MboxOptions};
use mailbox::mbox_store::{Mbox, MboxOpenOptions, SyncKind};
use mailbox::pop3::Pop3Mailbox;
use mailbox::wire::Part;
use mailbox::{BytesSource, LockPolicy};
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

fn policy() -> LockPolicy {
    LockPolicy {
        attempts: 5000,
        delay: Duration::from_millis(2),
        stale_after: Duration::from_secs(500),
    }
}

/// Delivers as local(8) would, retrying a temporary failure as the queue
/// manager would (a delivery that opened the file just before an expunge
/// renamed a new one into place gets 4.2.0 "file status changed").
fn deliver(path: &Path, msg: &[u8]) {
    for _ in 0..100 {
        match mbox::deliver(
            path,
            "a@example.com",
            SystemTime::now(),
            &mut BytesSource::new(msg),
            &MboxOptions {
                lock_policy: policy(),
                ..MboxOptions::default()
            },
        ) {
            Ok(_) => return,
            Err(e) if e.is_temporary() => continue,
            Err(e) => panic!("deliver: {e}"),
        }
    }
    panic!("delivery kept failing");
}

fn opts(index: Option<PathBuf>) -> MboxOpenOptions {
    MboxOpenOptions {
        lock_policy: policy(),
        index_path: index,
        ..MboxOpenOptions::default()
    }
}

fn read_all(r: &mut dyn Read) -> Vec<u8> {
    let mut v = Vec::new();
    r.read_to_end(&mut v).expect("read");
    v
}

const M1: &[u8] = b"Subject: one\n\nFrom the start\n>quoted\nend\n";
const M2: &[u8] = b"Subject: two\r\n\r\ncrlf body\r\n.dot\r\n";
const M3: &[u8] = b"Subject: three\n\nno final newline";

#[test]
fn read_messages_as_delivered() {
    let d = TestDir::new("mbr_read");
    let mb = d.join("bob");
    for m in [M1, M2, M3] {
        deliver(&mb, m);
    }
    let b = Mbox::open(&mb, opts(None)).expect("open");
    assert_eq!(b.messages().len(), 3);
    assert_eq!(b.read_message(0).expect("m1"), M1);
    assert_eq!(b.read_message(1).expect("m2"), M2);
    // Delivery added the missing last line end.
    assert_eq!(b.read_message(2).expect("m3"), [M3, b"\n"].concat());
    assert_eq!(b.messages()[0].size, M1.len() as u64);
    let crlf = read_all(&mut b.reader(0, Part::Whole).expect("reader"));
    assert_eq!(
        crlf,
        b"Subject: one\r\n\r\nFrom the start\r\n>quoted\r\nend\r\n"
    );
    assert_eq!(b.messages()[0].wire_size, crlf.len() as u64);
    let top = read_all(&mut b.reader(1, Part::Top(1)).expect("reader"));
    assert_eq!(top, b"Subject: two\r\n\r\ncrlf body\r\n");
    for (i, m) in b.messages().iter().enumerate() {
        let w = read_all(&mut b.reader(i, Part::Whole).expect("reader"));
        assert_eq!(m.wire_size, w.len() as u64, "message {i}");
        assert_eq!(m.uid, i as u32 + 1);
    }
    // mboxo quoting is ambiguous: a line that was ">From " before
    // delivery reads back as "From ".
    deliver(&mb, b"S: q\n\n>From x\n");
    let q = Mbox::open(&mb, opts(None)).expect("open");
    assert_eq!(q.read_message(3).expect("q"), b"S: q\n\nFrom x\n");
    // POP3 over the mbox.
    let p = Pop3Mailbox::open_mbox(&mb, opts(None)).expect("pop3");
    assert_eq!(p.messages().len(), 4);
    // Without an index each open takes a UIDVALIDITY of its own (the time
    // in seconds): this one's is the same or later.
    let uidl = &p.messages()[0].uidl;
    let validity = u32::from_str_radix(&uidl[uidl.len() - 8..], 16).expect("hex");
    assert!(validity >= b.uid_validity(), "{uidl}");
    assert_eq!(*uidl, mailbox::wire::pop3_uidl(1, validity));
    // A missing mbox is an empty mailbox.
    let e = Mbox::open(&d.join("nobody"), opts(None)).expect("missing");
    assert!(e.messages().is_empty());
}

#[test]
fn expunge_keeps_other_messages_byte_for_byte() {
    let d = TestDir::new("mbr_expunge");
    let mb = d.join("bob");
    let msgs: Vec<Vec<u8>> = (0..5)
        .map(|i| tagged_message(&format!("t{i}"), 20))
        .collect();
    for m in &msgs {
        deliver(&mb, m);
    }
    fs::set_permissions(&mb, fs::Permissions::from_mode(0o640)).expect("chmod");
    let before = fs::read(&mb).expect("read");
    let mut b = Mbox::open(&mb, opts(None)).expect("open");
    let spans: Vec<(usize, usize)> = b
        .messages()
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let next = b
                .messages()
                .get(i + 1)
                .map(|n| n.from_offset as usize)
                .unwrap_or(before.len());
            (m.from_offset as usize, next)
        })
        .collect();
    let uids: Vec<u32> = b.messages().iter().map(|m| m.uid).collect();
    b.expunge_uids(&[uids[1], uids[4]]).expect("expunge");
    let after = fs::read(&mb).expect("read");
    let want: Vec<u8> = [0, 2, 3]
        .iter()
        .flat_map(|&i| before[spans[i].0..spans[i].1].to_vec())
        .collect();
    assert_eq!(after, want);
    assert_eq!(
        fs::metadata(&mb).expect("stat").permissions().mode() & 0o7777,
        0o640
    );
    assert_eq!(
        b.messages().iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![uids[0], uids[2], uids[3]]
    );
    for (i, k) in [0, 2, 3].into_iter().enumerate() {
        assert_eq!(b.read_message(i).expect("read"), msgs[k]);
    }
    assert!(!mbox_lock_left(&mb));
    // Delivery still works on the rewritten file and is seen.
    deliver(&mb, b"Subject: after\n\nx\n");
    assert_eq!(b.sync().expect("sync"), SyncKind::Appended);
    assert_eq!(b.messages().len(), 4);
    assert_eq!(b.messages()[3].uid, uids[4] + 1);
}

fn mbox_lock_left(mb: &Path) -> bool {
    mailbox::lock::dotlock_path(mb).exists()
}

#[test]
fn index_used_extended_and_invalidated() {
    let d = TestDir::new("mbr_index");
    let mb = d.join("bob");
    let idx = d.join("index/bob.idx");
    for i in 0..3 {
        deliver(&mb, &tagged_message(&format!("i{i}"), 5));
    }
    let a = Mbox::open(&mb, opts(Some(idx.clone()))).expect("open");
    assert_eq!(a.last_sync(), SyncKind::Full);
    assert!(idx.exists());
    let v = a.uid_validity();
    // Unchanged file: the index is used, nothing parsed.
    let b = Mbox::open(&mb, opts(Some(idx.clone()))).expect("open");
    assert_eq!(b.last_sync(), SyncKind::Unchanged);
    assert_eq!(b.messages(), a.messages());
    assert_eq!(b.uid_validity(), v);
    // Appended: only the tail is parsed; old UIDs stay.
    deliver(&mb, &tagged_message("i3", 5));
    let c = Mbox::open(&mb, opts(Some(idx.clone()))).expect("open");
    assert_eq!(c.last_sync(), SyncKind::Appended);
    assert_eq!(&c.messages()[..3], a.messages());
    assert_eq!(c.messages()[3].uid, 4);
    assert_eq!(c.read_message(3).expect("read"), tagged_message("i3", 5));
    // Rewritten by someone else (a mail reader dropping the first
    // message): parsed again, the others keep their UIDs and
    // UIDVALIDITY.
    let data = fs::read(&mb).expect("read");
    let cut = c.messages()[1].from_offset as usize;
    fs::write(d.join("tmp"), &data[cut..]).expect("write");
    fs::rename(d.join("tmp"), &mb).expect("rename");
    let e = Mbox::open(&mb, opts(Some(idx.clone()))).expect("open");
    assert_eq!(e.last_sync(), SyncKind::Full);
    assert_eq!(e.uid_validity(), v);
    assert_eq!(
        e.messages().iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    assert_eq!(e.read_message(0).expect("read"), tagged_message("i1", 5));
    // Same size, new content (touched in place): not trusted.
    let mut data = fs::read(&mb).expect("read");
    let pos = data.len() - 10;
    data[pos] = b'#';
    std::thread::sleep(Duration::from_millis(20));
    fs::write(&mb, &data).expect("write");
    let f = Mbox::open(&mb, opts(Some(idx.clone()))).expect("open");
    assert_eq!(f.last_sync(), SyncKind::Full);
    // A corrupt index is rebuilt, not trusted and not fatal.
    fs::write(&idx, "mailsuite-mbox-index 1\nV1 N2 garbage\n1 2 3\n").expect("write");
    let g = Mbox::open(&mb, opts(Some(idx.clone()))).expect("open");
    assert_eq!(g.last_sync(), SyncKind::Full);
    assert_eq!(g.messages().len(), 3);
    // A reader notices the file changed under it.
    let data = fs::read(&mb).expect("read");
    fs::write(d.join("tmp"), &data[..data.len() / 2]).expect("write");
    fs::rename(d.join("tmp"), &mb).expect("rename");
    assert!(g.reader(2, Part::Whole).is_err());
}

#[test]
fn expunge_while_delivering() {
    let d = TestDir::new("mbr_race");
    let mb = d.join("bob");
    for i in 0..10 {
        deliver(&mb, &tagged_message(&format!("old{i}"), 10));
    }
    let mb2 = mb.clone();
    let writer = std::thread::spawn(move || {
        for i in 0..50 {
            deliver(&mb2, &tagged_message(&format!("new{i}"), 10));
        }
    });
    let mut b = Mbox::open(&mb, opts(Some(d.join("idx")))).expect("open");
    // Expunge the old messages one at a time while mail arrives.
    for _ in 0..10 {
        let first = b.messages()[0].uid;
        b.expunge_uids(&[first]).expect("expunge");
    }
    writer.join().expect("writer");
    b.sync().expect("sync");
    let fresh = Mbox::open(&mb, opts(None)).expect("reopen");
    assert_eq!(fresh.messages().len(), 50);
    for (i, _) in fresh.messages().iter().enumerate() {
        assert_eq!(
            fresh.read_message(i).expect("read"),
            tagged_message(&format!("new{i}"), 10)
        );
    }
    assert_eq!(b.messages().len(), 50);
    let uids: Vec<u32> = b.messages().iter().map(|m| m.uid).collect();
    assert!(uids.windows(2).all(|w| w[0] < w[1]));
}
