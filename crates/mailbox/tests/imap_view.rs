//! The IMAP side of the Maildir store: folders (create, list, rename
//! with children and INBOX, delete, both subscription file formats) and
//! a selected mailbox's view (concurrent delivery, flags changed by
//! another session, expunge numbering, expunges held back during FETCH,
//! keywords, COPY, APPEND, EXAMINE, STATUS).

mod common;

use common::TestDir;
use mailbox::folders::{FolderError, Folders};
use mailbox::imap::{self, Change, FlagOp, Selected};
use mailbox::maildir::{self, MaildirOptions};
use mailbox::store::{Flags, StoreError};
use mailbox::BytesSource;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn deliver(md: &Path, msg: &[u8]) -> PathBuf {
    maildir::deliver(
        md,
        &mut BytesSource::new(msg),
        &MaildirOptions {
            hostname: Some("mx".into()),
            ..MaildirOptions::default()
        },
    )
    .expect("deliver")
    .path
}

fn inbox(t: &TestDir) -> PathBuf {
    let p = t.join("Maildir");
    maildir::make_maildir(&p).expect("make");
    p
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn folders_create_list_rename_delete() {
    let t = TestDir::new("imap-folders");
    let root = inbox(&t);
    let f = Folders::new(&root);
    assert_eq!(f.list().expect("list"), ["INBOX"]);
    f.create("Archive").expect("create");
    f.create("Archive.2024").expect("create child");
    f.create("Archive.2024.Q1").expect("create grandchild");
    f.create("Sent").expect("create");
    assert!(matches!(f.create("Sent"), Err(FolderError::Exists)));
    assert!(matches!(f.create("inbox"), Err(FolderError::Exists)));
    assert!(matches!(f.create("a..b"), Err(FolderError::Invalid(_))));
    assert!(root.join(".Sent/maildirfolder").exists());
    assert_eq!(
        f.list().expect("list"),
        [
            "INBOX",
            "Archive",
            "Archive.2024",
            "Archive.2024.Q1",
            "Sent"
        ]
    );
    assert!(f.has_children("Archive"));
    assert!(!f.has_children("Sent"));
    assert!(!f.exists("archive.2024") && f.exists("Archive.2024"));

    // Subscriptions follow renames and deletes.
    f.set_subscribed("Archive.2024", true).expect("sub");
    f.set_subscribed("Sent", true).expect("sub");
    f.set_subscribed("Sent", true).expect("sub twice");
    assert_eq!(
        fs::read_to_string(root.join("subscriptions")).expect("read"),
        "Archive.2024\nSent\n"
    );

    let a = imap::append(
        &root.join(".Archive.2024"),
        b"x\r\n",
        Flags::SEEN,
        &[],
        None,
    )
    .expect("append");
    f.rename("Archive", "Old").expect("rename");
    assert_eq!(
        f.list().expect("list"),
        ["INBOX", "Old", "Old.2024", "Old.2024.Q1", "Sent"]
    );
    assert_eq!(f.subscriptions().expect("subs"), ["Old.2024", "Sent"]);
    let s = imap::status(&f.path("Old.2024").expect("path")).expect("status");
    assert_eq!((s.messages, s.uid_validity, s.uid_next), (1, a.0, 2));
    assert!(matches!(f.rename("Old", "Sent"), Err(FolderError::Exists)));
    assert!(matches!(f.rename("Nope", "X"), Err(FolderError::NotFound)));

    f.delete("Old").expect("delete");
    assert_eq!(
        f.list().expect("list"),
        ["INBOX", "Old.2024", "Old.2024.Q1", "Sent"]
    );
    f.delete("Sent").expect("delete");
    assert_eq!(f.subscriptions().expect("subs"), ["Old.2024"]);
    assert!(matches!(f.delete("Sent"), Err(FolderError::NotFound)));
    assert!(matches!(f.delete("INBOX"), Err(FolderError::Inbox)));
    // No hidden leftovers.
    assert!(files(&root).iter().all(|n| !n.starts_with("..")));

    // RENAME INBOX moves the messages, with their UIDs.
    deliver(&root, b"Subject: 1\n\none\n");
    deliver(&root, b"Subject: 2\n\ntwo\n");
    let sel = Selected::open(&root, false).expect("open");
    let uids: Vec<u32> = sel.messages().iter().map(|m| m.uid).collect();
    drop(sel);
    deliver(&root, b"Subject: 3\n\nthree (still in new/)\n");
    f.rename("INBOX", "Saved").expect("rename inbox");
    let saved = Selected::open(&f.path("Saved").expect("path"), false).expect("open");
    assert_eq!(saved.messages().len(), 3);
    assert_eq!(
        saved.messages()[..2]
            .iter()
            .map(|m| m.uid)
            .collect::<Vec<_>>(),
        uids
    );
    let inbox = Selected::open(&root, false).expect("open inbox");
    assert!(inbox.messages().is_empty());
    assert!(inbox.uid_next() > uids[1], "INBOX UIDs are not reused");
    assert!(f.exists("INBOX") && f.exists("Saved"));
}

#[test]
fn subscription_file_formats() {
    let t = TestDir::new("imap-subs");
    let root = inbox(&t);
    let f = Folders::new(&root);
    // Version 2, as Dovecot 2.3 keeps it once present.
    fs::write(
        root.join("subscriptions"),
        "V\t2\n\nINBOX\nArchive\t2024\nwith\x01ttab\n",
    )
    .expect("write");
    assert_eq!(
        f.subscriptions().expect("subs"),
        ["INBOX", "Archive.2024", "with\ttab"]
    );
    f.set_subscribed("Lists.rust", true).expect("sub");
    f.set_subscribed("INBOX", false).expect("unsub");
    assert_eq!(
        fs::read_to_string(root.join("subscriptions")).expect("read"),
        "V\t2\n\nArchive\t2024\nwith\x01ttab\nLists\trust\n"
    );
    // Version 1.
    fs::write(root.join("subscriptions"), "INBOX\nSent\nA.b\n").expect("write");
    assert_eq!(f.subscriptions().expect("subs"), ["INBOX", "Sent", "A.b"]);
    f.set_subscribed("Sent", false).expect("unsub");
    assert_eq!(
        fs::read_to_string(root.join("subscriptions")).expect("read"),
        "INBOX\nA.b\n"
    );
    assert!(!root.join("subscriptions.lock").exists());
}

#[test]
fn delivery_and_other_sessions_store_are_reported() {
    let t = TestDir::new("imap-concurrent");
    let root = inbox(&t);
    deliver(&root, b"Subject: 1\n\none\n");
    let mut a = Selected::open(&root, false).expect("open a");
    assert_eq!(a.messages().len(), 1);
    assert!(a.messages()[0].recent);
    assert_eq!(a.sync(true).expect("sync"), []);

    deliver(&root, b"Subject: 2\n\ntwo\n");
    assert_eq!(a.sync(false).expect("sync"), [Change::Exists(2)]);
    assert!(a.messages()[1].recent);

    let mut b = Selected::open(&root, false).expect("open b");
    assert_eq!(b.messages().len(), 2);
    assert!(b.messages().iter().all(|m| !m.recent), "a saw them first");

    b.store(1, FlagOp::Add, Flags::SEEN, &["$Junk".to_string()])
        .expect("store");
    assert_eq!(b.sync(true).expect("own store not reported"), []);
    assert_eq!(a.sync(true).expect("sync a"), [Change::Flags { seq: 2 }]);
    assert_eq!(a.messages()[1].flags, Flags::SEEN);
    assert_eq!(a.messages()[1].keywords, ["$Junk"]);
    assert_eq!(a.keywords(), ["$Junk"]);
    assert_eq!(a.seq_of_uid(a.messages()[1].uid), Some(2));
    assert_eq!(a.seq_of_uid(999), None);
}

/// A sync skips the rescan once the Maildir has settled (50 ms after its
/// last change, on a file system with nanosecond times) and nothing
/// changed; any later change is still seen.
#[test]
fn settled_maildir_is_not_rescanned_but_changes_are_seen() {
    let t = TestDir::new("imap-settled");
    let root = inbox(&t);
    deliver(&root, b"Subject: 1\n\none\n");
    let mut a = Selected::open(&root, false).expect("open a");
    let settle = || std::thread::sleep(std::time::Duration::from_millis(120));
    settle();
    assert_eq!(a.sync(true).expect("sync"), []);
    assert_eq!(a.sync(true).expect("skipped sync"), []);
    deliver(&root, b"Subject: 2\n\ntwo\n");
    assert_eq!(a.sync(true).expect("sync"), [Change::Exists(2)]);
    settle();
    assert_eq!(a.sync(true).expect("sync"), []);
    let mut b = Selected::open(&root, false).expect("open b");
    b.store(0, FlagOp::Add, Flags::FLAGGED, &["Later".to_string()])
        .expect("store");
    assert_eq!(a.sync(true).expect("sync"), [Change::Flags { seq: 1 }]);
    assert_eq!(a.keywords(), ["Later"]);
    settle();
    assert_eq!(a.sync(false).expect("sync"), []);
    // Message 2's file, found by its content: names sort by time only to the
    // second (the microseconds after M are not padded).
    let cur = root.join("cur");
    let second = files(&cur)
        .into_iter()
        .find(|f| fs::read(cur.join(f)).is_ok_and(|b| b.starts_with(b"Subject: 2")))
        .expect("message 2's file");
    fs::remove_file(cur.join(second)).expect("rm");
    // Held back while expunges may not be sent, then reported.
    let uid = a.messages()[1].uid;
    assert_eq!(a.sync(false).expect("sync"), []);
    settle();
    assert_eq!(
        a.sync(true).expect("sync"),
        [Change::Expunge { seq: 2, uid }]
    );
}

#[test]
fn expunge_numbering_and_held_back_expunges() {
    let t = TestDir::new("imap-expunge");
    let root = inbox(&t);
    for i in 1..=6 {
        deliver(&root, format!("Subject: {i}\n\n{i}\n").as_bytes());
    }
    let mut s = Selected::open(&root, false).expect("open");
    let uids: Vec<u32> = s.messages().iter().map(|m| m.uid).collect();
    for i in [1, 2, 4] {
        s.store(i, FlagOp::Add, Flags::TRASHED, &[]).expect("store");
    }
    let mut other = Selected::open(&root, false).expect("other");
    assert_eq!(s.expunge(None).expect("expunge"), [2, 2, 3]);
    assert_eq!(
        s.messages().iter().map(|m| m.uid).collect::<Vec<_>>(),
        [uids[0], uids[3], uids[5]]
    );
    assert_eq!(files(&root.join("cur")).len(), 3);

    // The other session: expunges held back during FETCH/STORE/SEARCH.
    deliver(&root, b"Subject: 7\n\n7\n");
    assert_eq!(other.sync(false).expect("sync"), [Change::Exists(7)]);
    assert_eq!(other.messages().len(), 7);
    assert!(other.messages()[1].expunged && other.messages()[2].expunged);
    assert!(matches!(other.read(1), Err(StoreError::Expunged(_))));
    assert_eq!(other.read(0).expect("read"), b"Subject: 1\n\n1\n");
    assert_eq!(
        other.sync(true).expect("sync"),
        [
            Change::Expunge {
                seq: 2,
                uid: uids[1]
            },
            Change::Expunge {
                seq: 2,
                uid: uids[2]
            },
            Change::Expunge {
                seq: 3,
                uid: uids[4]
            },
        ]
    );
    assert_eq!(other.messages().len(), 4);
    assert_eq!(s.sync(true).expect("sync s"), [Change::Exists(4)]);

    // UID EXPUNGE only touches the UIDs given.
    s.store(0, FlagOp::Add, Flags::TRASHED, &[]).expect("store");
    s.store(1, FlagOp::Add, Flags::TRASHED, &[]).expect("store");
    assert_eq!(s.expunge(Some(&[uids[3]])).expect("uid expunge"), [2]);
    assert_eq!(s.messages().len(), 3);
    // A file removed under us: read says Expunged, nothing panics.
    let p = fs::read_dir(root.join("cur"))
        .expect("cur")
        .map(|e| e.expect("e").path())
        .find(|p| !p.to_string_lossy().contains(":2,T"))
        .expect("file");
    fs::remove_file(p).expect("rm");
    let bad = (0..3).filter(|&i| s.read(i).is_err()).count();
    assert_eq!(bad, 1);
}

#[test]
fn keywords_round_trip_through_dovecot_keywords() {
    let t = TestDir::new("imap-keywords");
    let root = inbox(&t);
    deliver(&root, b"Subject: k\n\nk\n");
    let mut s = Selected::open(&root, false).expect("open");
    let kw = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (f, k) = s
        .store(0, FlagOp::Add, Flags::FLAGGED, &kw(&["$Forwarded", "Work"]))
        .expect("store");
    assert_eq!((f, k), (Flags::FLAGGED, kw(&["$Forwarded", "Work"])));
    assert_eq!(
        fs::read_to_string(root.join("dovecot-keywords")).expect("kw"),
        "0 $Forwarded\n1 Work\n"
    );
    let name = files(&root.join("cur")).remove(0);
    assert!(name.ends_with(":2,Fab"), "{name}");
    let (_, k) = s
        .store(0, FlagOp::Remove, Flags::NONE, &kw(&["$forwarded"]))
        .expect("remove");
    assert_eq!(k, kw(&["Work"]));
    let (f, k) = s
        .store(0, FlagOp::Replace, Flags::SEEN, &kw(&["Home"]))
        .expect("replace");
    assert_eq!((f, k), (Flags::SEEN, kw(&["Home"])));
    assert!(files(&root.join("cur"))[0].ends_with(":2,Sc"));
    let s2 = Selected::open(&root, true).expect("reopen");
    assert_eq!(s2.messages()[0].keywords, kw(&["Home"]));
    assert_eq!(s2.keywords(), kw(&["$Forwarded", "Work", "Home"]));
    // At most 26 per mailbox.
    let many: Vec<String> = (0..30).map(|i| format!("k{i}")).collect();
    let e = s
        .store(0, FlagOp::Add, Flags::NONE, &many)
        .expect_err("27th");
    assert!(e.to_string().contains("too many keywords"), "{e}");
}

#[test]
fn copy_append_examine_status() {
    let t = TestDir::new("imap-copy");
    let root = inbox(&t);
    let f = Folders::new(&root);
    f.create("Dest").expect("create");
    let dest = f.path("Dest").expect("path");
    for i in 1..=3 {
        deliver(&root, format!("Subject: {i}\n\nbody {i}\n").as_bytes());
    }
    let mut s = Selected::open(&root, false).expect("open");
    s.store(2, FlagOp::Add, Flags::SEEN, &["Tag".to_string()])
        .expect("store");
    // Dest already has one message and a different keyword table.
    let (dv, first) = imap::append(
        &dest,
        b"Subject: d\r\n\r\nd\r\n",
        Flags::NONE,
        &["Other".into()],
        Some(1_000_000_000),
    )
    .expect("append");
    assert_eq!(first, 1);
    let (v, pairs) = s.copy_to(&[0, 2], &dest).expect("copy");
    assert_eq!(v, dv);
    let src: Vec<u32> = s.messages().iter().map(|m| m.uid).collect();
    assert_eq!(pairs, [(src[0], 2), (src[2], 3)]);
    let mut d = Selected::open(&dest, false).expect("open dest");
    assert_eq!(d.messages().len(), 3);
    assert_eq!(d.messages()[2].flags, Flags::SEEN);
    assert_eq!(d.messages()[2].keywords, ["Tag"]);
    assert_eq!(d.read(2).expect("read"), b"Subject: 3\n\nbody 3\n");
    assert_eq!(d.read(0).expect("read"), b"Subject: d\n\nd\n");
    assert_eq!(d.size(0).expect("size"), 17);
    assert_eq!(d.internal_date(0).expect("date"), 1_000_000_000);
    assert_eq!(
        fs::read_to_string(dest.join("dovecot-keywords")).expect("kw"),
        "0 Other\n1 Tag\n"
    );
    assert_eq!(d.uid_next(), 4);

    // MOVE = copy_to + remove.
    let (_, pairs) = s.copy_to(&[1], &dest).expect("copy");
    assert_eq!(pairs, [(src[1], 4)]);
    assert_eq!(s.remove(&[1]).expect("remove"), [2]);
    assert_eq!(d.sync(true).expect("sync dest"), [Change::Exists(4)]);

    // APPEND into the selected mailbox is seen as EXISTS.
    let (_, uid) =
        imap::append(&root, b"Subject: new\n\nx\n", Flags::DRAFT, &[], None).expect("append");
    assert_eq!(s.sync(true).expect("sync"), [Change::Exists(3)]);
    assert_eq!(s.messages()[2].uid, uid);
    assert_eq!(s.messages()[2].flags, Flags::DRAFT);

    // EXAMINE leaves new/ alone; STATUS counts it as recent.
    deliver(&root, b"Subject: unseen\n\nu\n");
    let mut ro = Selected::open(&root, true).expect("examine");
    assert!(ro.read_only());
    assert_eq!(files(&root.join("new")).len(), 1);
    assert_eq!(ro.messages().len(), 4);
    assert!(ro.messages()[3].recent);
    assert!(ro.store(0, FlagOp::Add, Flags::SEEN, &[]).is_err());
    assert!(ro.expunge(None).is_err());
    let st = imap::status(&root).expect("status");
    assert_eq!(files(&root.join("new")).len(), 1);
    assert_eq!(st.messages, 4);
    assert_eq!(st.recent, 1);
    assert_eq!(st.unseen, 3, "message 3 is \\Seen");
    assert_eq!(st.deleted, 0);
    assert_eq!(st.uid_validity, s.uid_validity());
    assert_eq!(st.uid_next, uid + 2);
    let mut total = 0;
    for i in 0..4 {
        total += ro.size(i).expect("size");
    }
    assert_eq!(st.size, total);
    assert!(imap::status(&root.join(".Nope")).is_err());
}

#[test]
fn big_mailbox_sync_is_listing_only() {
    let t = TestDir::new("imap-big");
    let root = inbox(&t);
    // 5,000 names with W= (as delivered) that cannot be read: dangling
    // symlinks, so any open() of a message would fail (even as root).
    for i in 0..5000u32 {
        let n = format!("1700000000.M{i}P1Q1.mx,S=4,W=5");
        std::os::unix::fs::symlink("/nonexistent/x", root.join("new").join(n)).expect("symlink");
    }
    let start = Instant::now();
    let mut s = Selected::open(&root, false).expect("open");
    assert_eq!(s.messages().len(), 5000);
    assert_eq!(s.sync(true).expect("sync"), []);
    assert_eq!(s.size(4999).expect("size from W="), 5);
    let st = imap::status(&root).expect("status");
    assert_eq!((st.messages, st.size), (5000, 25_000));
    assert!(start.elapsed().as_secs() < 20, "{:?}", start.elapsed());
    // Reading one does fail: the files were never opened above.
    assert!(s.read(0).is_err());
    assert_eq!(s.seq_of_uid(5000), Some(5000));
}

/// Runs Dovecot's imap binary (PREAUTH, no daemon) as `nobody` on the
/// Maildir `root` with the commands `script`; returns its output. None
/// when not root or Dovecot's imap is not installed.
fn dovecot_imap(t: &TestDir, root: &Path, script: &str) -> Option<String> {
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    const IMAP: &str = "/usr/lib/dovecot/imap";
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !Path::new(IMAP).exists() {
        eprintln!("skipped: needs root and {IMAP}");
        return None;
    }
    let d = t.path().display();
    let conf = t.join("dovecot.conf");
    fs::write(
        &conf,
        format!(
            "base_dir = {d}/base\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\n\
             mail_location = maildir:{}\nssl = no\n",
            root.display()
        ),
    )
    .expect("conf");
    let st = std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(t.path())
        .status()
        .expect("chown");
    assert!(st.success());
    let mut child = std::process::Command::new(IMAP)
        .arg("-c")
        .arg(&conf)
        .env_clear()
        .env("USER", "nobody")
        .env("HOME", t.path())
        .uid(65534)
        .gid(65534)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn imap");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("imap output");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn dovecot_reads_what_we_write_and_we_read_its_changes() {
    let t = TestDir::new("imap-dovecot");
    let root = inbox(&t);
    let f = Folders::new(&root);
    f.create("Work.2024").expect("create");
    f.set_subscribed("Work.2024", true).expect("sub");
    let (v, uid) = imap::append(
        &root,
        b"Subject: a\r\n\r\nA\r\n",
        Flags::SEEN.union(Flags::FLAGGED),
        &["$Forwarded".into(), "Project".into()],
        Some(1_600_000_000),
    )
    .expect("append");
    deliver(&root, b"Subject: b\n\nB\n");
    let mut s = Selected::open(&root, false).expect("open");
    s.store(1, FlagOp::Add, Flags::REPLIED, &["Later".into()])
        .expect("store");
    let uid2 = s.messages()[1].uid;
    drop(s);
    let Some(out) = dovecot_imap(
        &t,
        &root,
        "a LIST \"\" \"*\"\r\nb LSUB \"\" \"*\"\r\nc SELECT INBOX\r\n\
         d UID FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE)\r\n\
         e UID STORE 1 +FLAGS (Dovecot)\r\nf SUBSCRIBE INBOX\r\n\
         g APPEND INBOX (\\Draft Later) {4+}\r\nxy\r\n\r\nh LOGOUT\r\n",
    ) else {
        return;
    };
    assert!(out.contains(&format!("[UIDVALIDITY {v}]")), "{out}");
    assert!(out.contains("(\\HasNoChildren) \".\" Work.2024"), "{out}");
    assert!(out.contains("* LSUB () \".\" Work.2024"), "{out}");
    let line = |uid: u32| {
        out.lines()
            .find(|l| l.contains("FETCH") && l.contains(&format!("UID {uid} ")))
            .unwrap_or_else(|| panic!("uid {uid} in {out}"))
            .to_string()
    };
    let l1 = line(uid);
    for f in [
        "\\Seen",
        "\\Flagged",
        "$Forwarded",
        "Project",
        "RFC822.SIZE 17",
    ] {
        assert!(l1.contains(f), "{f} in {l1}");
    }
    assert!(l1.contains("13-Sep-2020"), "{l1}");
    let l2 = line(uid2);
    assert!(l2.contains("\\Answered") && l2.contains("Later"), "{l2}");
    assert!(out.contains("g OK [APPENDUID"), "{out}");

    // Dovecot's changes, read back.
    let s = Selected::open(&root, true).expect("reopen");
    assert_eq!(s.messages().len(), 3);
    assert!(s.messages()[0].keywords.contains(&"Dovecot".to_string()));
    assert_eq!(s.messages()[2].flags, Flags::DRAFT);
    assert_eq!(s.messages()[2].keywords, ["Later"]);
    let subs = f.subscriptions().expect("subs");
    assert!(subs.contains(&"INBOX".to_string()) && subs.contains(&"Work.2024".to_string()));
}

/// Mod-sequences (CONDSTORE): the same from every handle and after a
/// reopen, moved on by a STORE, a delivery, an expunge, pop3d's \Seen
/// and an outside rename; expunged UIDs remembered for QRESYNC.
#[test]
fn modseqs_are_shared_persistent_and_move_on_every_change() {
    use mailbox::maildir_store::MaildirOpenOptions;
    use mailbox::pop3::Pop3Mailbox;
    use mailbox::wire::Part;
    let t = TestDir::new("imap-modseq");
    let root = inbox(&t);
    for i in 1..=3 {
        deliver(&root, format!("Subject: {i}\n\n{i}\n").as_bytes());
    }
    let mut a = Selected::open(&root, false).expect("open a");
    let h0 = a.highest_modseq();
    assert!(h0 >= 1);
    assert!((0..3).all(|i| a.modseq(i) <= h0));
    let mut b = Selected::open(&root, false).expect("open b");
    assert_eq!(b.highest_modseq(), h0);

    // A STORE in b: numbered at commit, seen by a at its next sync.
    b.store(1, FlagOp::Add, Flags::FLAGGED, &[]).expect("store");
    b.commit();
    let m1 = b.modseq(1);
    assert!(m1 > h0 && b.highest_modseq() == m1);
    assert_eq!(a.sync(true).expect("sync"), [Change::Flags { seq: 2 }]);
    assert_eq!((a.modseq(1), a.highest_modseq()), (m1, m1));
    // A STORE that changes nothing moves nothing.
    b.store(1, FlagOp::Add, Flags::FLAGGED, &[]).expect("store");
    b.commit();
    assert_eq!(b.highest_modseq(), m1);

    // A delivery, then an expunge.
    deliver(&root, b"Subject: 4\n\nfour\n");
    assert_eq!(a.sync(true).expect("sync"), [Change::Exists(4)]);
    let m4 = a.modseq(3);
    assert!(m4 > m1);
    let uid1 = a.messages()[0].uid;
    a.store(0, FlagOp::Add, Flags::TRASHED, &[]).expect("store");
    assert_eq!(a.expunge(None).expect("expunge"), [1]);
    let h_exp = a.highest_modseq();
    assert!(h_exp > m4);
    assert_eq!(a.vanished_since(m4), (vec![uid1], true));
    assert_eq!(a.vanished_since(h_exp), (vec![], true));
    b.sync(true).expect("sync b");
    assert_eq!(b.highest_modseq(), h_exp);

    // A new handle (a new process) reads the same numbers.
    let c = Selected::open(&root, true).expect("open c");
    assert_eq!(c.highest_modseq(), h_exp);
    assert_eq!(c.modseq(0), a.modseq(0));
    assert_eq!(imap::status(&root).expect("status").highest_modseq, h_exp);
    drop(c);

    // pop3d marks a retrieved message \Seen: a new mod-sequence.
    let mut p = Pop3Mailbox::open_maildir(&root, MaildirOpenOptions::default()).expect("pop3");
    drop(p.reader(1, Part::Whole).expect("retr"));
    p.commit().expect("quit");
    assert_eq!(a.sync(true).expect("sync"), [Change::Flags { seq: 1 }]);
    let h_pop = a.highest_modseq();
    assert!(h_pop > h_exp && a.modseq(0) == h_pop);

    // An outside program renames a file (adds F): seen at the next sync.
    let cur = root.join("cur");
    let name = files(&cur)
        .into_iter()
        .find(|n| !n.contains('F'))
        .expect("an unflagged file");
    fs::rename(cur.join(&name), cur.join(format!("{name}F"))).expect("rename");
    assert!(!a.sync(true).expect("sync").is_empty());
    assert!(a.highest_modseq() > h_pop);
    let d = Selected::open(&root, true).expect("open d");
    assert_eq!(d.highest_modseq(), a.highest_modseq());
}

/// An unchanged, settled Maildir's sync reads nothing, not even the
/// mod-sequence file; a change has it read (and fixed) again.
#[test]
fn an_unchanged_sync_does_not_read_the_modseq_file() {
    let t = TestDir::new("imap-modseq-fast");
    let root = inbox(&t);
    deliver(&root, b"Subject: 1\n\none\n");
    let mut a = Selected::open(&root, false).expect("open");
    std::thread::sleep(std::time::Duration::from_millis(120));
    assert_eq!(a.sync(true).expect("sync"), []);
    let h = a.highest_modseq();
    fs::write(root.join("mailsuite-modseq"), "garbage\n").expect("spoil");
    assert_eq!(a.sync(true).expect("skipped sync"), []);
    assert_eq!(a.highest_modseq(), h, "the file was not read");
    // A change: listed again, the file read, found unusable and written
    // anew with numbers that never go back.
    deliver(&root, b"Subject: 2\n\ntwo\n");
    assert_eq!(a.sync(true).expect("sync"), [Change::Exists(2)]);
    assert!(a.highest_modseq() > h);
    let text = fs::read_to_string(root.join("mailsuite-modseq")).expect("read");
    assert!(text.starts_with("mailsuite-modseq 1\n"), "{text}");
}
