//! The Maildir reading side: a Maildir as Dovecot leaves it (its
//! `dovecot-uidlist` written by hand from Dovecot's format) keeps its UIDs,
//! UIDVALIDITY and POP3 UIDLs; new → cur as Dovecot; flags by rename;
//! deliveries during scans; POP3 deletions at QUIT only; folders; the
//! session lock.

mod common;

use common::{tagged_message, TestDir};
use mailbox::maildir::{self, MaildirOptions};
use mailbox::maildir_store::{list_folders, Maildir, MaildirOpenOptions};
use mailbox::pop3::{Pop3Mailbox, SessionLock};
use mailbox::store::{Flags, StoreError};
use mailbox::uidlist::UidList;
use mailbox::wire::Part;
use mailbox::BytesSource;
use std::fs;
use std::io::Read;
use std::path::Path;

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn deliver(md: &Path, msg: &[u8]) -> maildir::DeliveredPath {
    maildir::deliver(
        md,
        &mut BytesSource::new(msg),
        &MaildirOptions {
            hostname: Some("mx".into()),
            ..MaildirOptions::default()
        },
    )
    .expect("deliver")
}

/// What Dovecot 2.3 leaves after three deliveries, a session that read
/// them (moved to cur/, one Seen+Replied, one with keyword a), one
/// expunged (UID 2), and a POP3 UIDL kept from a migration on UID 3.
const DOVECOT_UIDLIST: &str = "3 V1700000000 N5 G2b7e1c5e0bd6a16527a20000b2a3c1d0\n\
1 :1700000001.M100P200.mx,S=30,W=32\n\
3 W40 P0000abcd1234 :1700000003.M300P400.mx,S=38,W=40\n\
4 :1700000004.M500P600.mx,S=10,W=11\n";

fn dovecot_maildir(md: &Path) {
    maildir::make_maildir(md).expect("maildir");
    let files = [
        (
            "cur/1700000001.M100P200.mx,S=30,W=32:2,RS",
            "Subject: one\n\nbody of one\nxx\n",
        ),
        (
            "cur/1700000003.M300P400.mx,S=38,W=40:2,a",
            "Subject: three\n\n.dot line\nthree\nyy\n",
        ),
        ("cur/1700000004.M500P600.mx,S=10,W=11:2,", "S: 4\n\nfour"),
        // Delivered after Dovecot last looked: no UID yet.
        ("new/1700000009.M900P900.mx,S=9,W=10", "S: 9\n\nnine"),
    ];
    for (name, body) in files {
        fs::write(md.join(name), body).expect("write");
    }
    fs::write(md.join("dovecot-uidlist"), DOVECOT_UIDLIST).expect("uidlist");
}

#[test]
fn dovecot_uidlist_round_trip() {
    let d = TestDir::new("mdr_dovecot");
    let md = d.join("Maildir");
    dovecot_maildir(&md);
    let m = Maildir::open(&md, MaildirOpenOptions::default()).expect("open");
    assert_eq!(m.uid_validity(), 1_700_000_000);
    let uids: Vec<u32> = m.messages().iter().map(|m| m.uid).collect();
    assert_eq!(uids, vec![1, 3, 4, 5]);
    assert_eq!(m.next_uid(), 6);
    assert_eq!(m.messages()[0].flags(), Flags::SEEN.union(Flags::REPLIED));
    assert_eq!(m.messages()[1].name.keywords, "a");
    // new/ moved to cur/ with an empty info, as Dovecot does.
    assert!(names(&md.join("new")).is_empty());
    assert!(names(&md.join("cur")).contains(&"1700000009.M900P900.mx,S=9,W=10:2,".to_string()));
    // The uidlist Dovecot will read back: same header, records kept
    // with their extensions, the new file appended.
    let written = fs::read_to_string(md.join("dovecot-uidlist")).expect("read");
    assert_eq!(
        written,
        format!(
            "{}5 :1700000009.M900P900.mx,S=9,W=10\n",
            DOVECOT_UIDLIST.replace(" N5 ", " N6 ")
        )
    );
    assert!(!md.join("dovecot-uidlist.lock").exists());
    // A second session sees the same UIDs without rewriting.
    let m2 = Maildir::open(&md, MaildirOpenOptions::default()).expect("open again");
    assert_eq!(m2.messages(), m.messages());
    // POP3: sizes from W=, Dovecot's UIDL format, the migrated UIDL kept.
    let p = Pop3Mailbox::open_maildir(&md, MaildirOpenOptions::default()).expect("pop3");
    let list: Vec<(u64, String)> = p
        .messages()
        .iter()
        .map(|m| (m.size, m.uidl.clone()))
        .collect();
    assert_eq!(
        list,
        vec![
            (32, "000000016553f100".to_string()),
            (40, "0000abcd1234".to_string()),
            (11, "000000046553f100".to_string()),
            (10, "000000056553f100".to_string()),
        ]
    );
    assert_eq!(p.stat(), (4, 93));
}

#[test]
fn uidlist_versions_and_fresh_maildir() {
    let d = TestDir::new("mdr_fresh");
    let md = d.join("Maildir");
    let a = deliver(&md, b"Subject: a\n\nA\n");
    let b = deliver(&md, b"Subject: b\n\nB\n");
    let m = Maildir::open(&md, MaildirOpenOptions::default()).expect("open");
    assert_eq!(m.messages().len(), 2);
    assert_eq!(m.messages()[0].uid, 1);
    assert_eq!(m.messages()[1].uid, 2);
    let l = UidList::read(&md).expect("read").expect("exists");
    assert_eq!(l.next_uid, 3);
    assert_eq!(l.guid.as_deref().map(str::len), Some(32));
    // Names sort by delivery time: a got the lower UID.
    let base = |p: &Path| p.file_name().expect("name").to_string_lossy().into_owned();
    assert_eq!(l.records[0].name, base(&a.path));
    assert_eq!(l.records[1].name, base(&b.path));
    // A version 1 uidlist (Dovecot 1.0) is read and rewritten as 3.
    let d1 = d.join("v1");
    maildir::make_maildir(&d1).expect("maildir");
    fs::write(d1.join("cur/111.x:2,S"), "a\n").expect("write");
    fs::write(d1.join("new/222.y"), "b\n").expect("write");
    fs::write(d1.join("dovecot-uidlist"), "1 1133215464 8\n7 111.x\n").expect("uidlist");
    let m = Maildir::open(&d1, MaildirOpenOptions::default()).expect("open v1");
    assert_eq!(m.uid_validity(), 1133215464);
    assert_eq!(
        m.messages().iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![7, 8]
    );
    let text = fs::read_to_string(d1.join("dovecot-uidlist")).expect("read");
    assert!(text.starts_with("3 V1133215464 N9"), "{text}");
    // A corrupt uidlist is an error, not a panic or a silent reset.
    fs::write(d1.join("dovecot-uidlist"), "3 V1 N2\nnot a record\n").expect("write");
    assert!(matches!(
        Maildir::open(&d1, MaildirOpenOptions::default()),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn flags_by_rename_and_renames_by_others() {
    let d = TestDir::new("mdr_flags");
    let md = d.join("Maildir");
    deliver(&md, b"Subject: a\n\nA\n");
    fs::write(md.join("cur/100.kw.mx:2,Sb"), "Subject: kw\n\nK\n").expect("write");
    let mut m = Maildir::open(&md, MaildirOpenOptions::default()).expect("open");
    let mut other = Maildir::open(&md, MaildirOpenOptions::default()).expect("open 2");
    let i = m
        .messages()
        .iter()
        .position(|x| x.name.base() == "100.kw.mx")
        .expect("kw");
    m.change_flags(i, Flags::FLAGGED.union(Flags::DRAFT), Flags::SEEN)
        .expect("flags");
    assert!(md.join("cur/100.kw.mx:2,DFb").exists());
    assert_eq!(m.messages()[i].flags(), Flags::FLAGGED.union(Flags::DRAFT));
    // The other session still has the old name: reading and flagging
    // follow the rename.
    let j = other
        .messages()
        .iter()
        .position(|x| x.name.base() == "100.kw.mx")
        .expect("kw");
    assert_eq!(other.read_message(j).expect("read"), b"Subject: kw\n\nK\n");
    other.set_flags(j, Flags::SEEN).expect("flags");
    assert!(md.join("cur/100.kw.mx:2,Sb").exists());
    let ch = m.sync().expect("sync");
    assert_eq!(ch.flags_changed, vec![m.messages()[i].uid]);
    // Expunge in one session; the other finds it gone.
    m.expunge(i).expect("expunge");
    assert!(matches!(
        other.read_message(j),
        Err(StoreError::Expunged(_))
    ));
    let ch = other.sync().expect("sync");
    assert_eq!(ch.expunged.len(), 1);
    // Read-only sessions leave new/ alone but still number it.
    deliver(&md, b"Subject: c\n\nC\n");
    let ro = Maildir::open(
        &md,
        MaildirOpenOptions {
            read_only: true,
            ..MaildirOpenOptions::default()
        },
    )
    .expect("ro");
    assert_eq!(names(&md.join("new")).len(), 1);
    assert!(ro.messages().last().expect("last").in_new);
}

#[test]
fn concurrent_delivery_during_scans() {
    let d = TestDir::new("mdr_concurrent");
    let md = d.join("Maildir");
    maildir::make_maildir(&md).expect("maildir");
    const N: usize = 200;
    let md2 = md.clone();
    let writer = std::thread::spawn(move || {
        for i in 0..N {
            deliver(&md2, &tagged_message(&format!("m{i}"), 3));
        }
    });
    let mut sessions: Vec<Maildir> = (0..2)
        .map(|_| Maildir::open(&md, MaildirOpenOptions::default()).expect("open"))
        .collect();
    let mut rounds = 0;
    loop {
        let done = writer.is_finished();
        for s in &mut sessions {
            s.sync().expect("sync");
            let uids: Vec<u32> = s.messages().iter().map(|m| m.uid).collect();
            assert!(
                uids.windows(2).all(|w| w[0] < w[1]),
                "UIDs ascending, unique"
            );
        }
        rounds += 1;
        assert!(rounds < 1_000_000);
        if done {
            break;
        }
    }
    writer.join().expect("writer");
    for s in &mut sessions {
        s.sync().expect("final sync");
    }
    let a = sessions[0].messages();
    assert_eq!(a.len(), N);
    assert_eq!(sessions[1].messages(), a);
    // Every message got one UID that maps to its file, same in the list.
    let l = UidList::read(&md).expect("read").expect("exists");
    assert_eq!(l.records.len(), N);
    for m in a {
        assert_eq!(l.find(m.name.base()).map(|r| r.uid), Some(m.uid));
    }
    assert!(names(&md.join("new")).is_empty());
}

#[test]
fn pop3_session_deletes_at_quit_only_and_keeps_new_mail() {
    let d = TestDir::new("mdr_pop3");
    let md = d.join("Maildir");
    deliver(&md, b"Subject: 1\n\n.starts with dot\nline\n");
    deliver(&md, b"Subject: 2\n\nsecond\n");
    let lock = SessionLock::acquire(&SessionLock::maildir_path(&md)).expect("lock");
    assert!(matches!(
        SessionLock::acquire(&SessionLock::maildir_path(&md)),
        Err(StoreError::LockBusy(_))
    ));
    let mut p = Pop3Mailbox::open_maildir(&md, MaildirOpenOptions::default()).expect("open");
    assert_eq!(p.stat().0, 2);
    let mut body = Vec::new();
    p.reader(1, Part::Whole)
        .expect("retr")
        .read_to_end(&mut body)
        .expect("read");
    assert_eq!(body, b"Subject: 1\r\n\r\n.starts with dot\r\nline\r\n");
    assert_eq!(body.len() as u64, p.get(1).expect("1").size);
    let mut top = Vec::new();
    p.reader(2, Part::Top(0))
        .expect("top")
        .read_to_end(&mut top)
        .expect("read");
    assert_eq!(top, b"Subject: 2\r\n\r\n");
    assert!(p.mark_deleted(1));
    assert!(!p.mark_deleted(1));
    assert!(p.get(1).is_none());
    p.reset();
    assert!(p.mark_deleted(1));
    assert!(p.mark_deleted(2));
    // Mail arriving during the session is not in it and survives QUIT.
    let late = deliver(&md, b"Subject: late\n\nlate\n");
    assert_eq!(p.stat().0, 0);
    assert_eq!(p.commit().expect("quit"), 2);
    drop(lock);
    let m = Maildir::open(&md, MaildirOpenOptions::default()).expect("reopen");
    assert_eq!(m.messages().len(), 1);
    let base = late
        .path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert_eq!(m.messages()[0].name.base(), base);
    assert_eq!(m.messages()[0].uid, 3);
    SessionLock::acquire(&SessionLock::maildir_path(&md)).expect("free again");
}

#[test]
fn retrieved_messages_are_marked_seen() {
    let d = TestDir::new("mdr_seen");
    let md = d.join("Maildir");
    deliver(&md, b"Subject: 1\n\none\n");
    let mut p = Pop3Mailbox::open_maildir(&md, MaildirOpenOptions::default()).expect("open");
    std::io::copy(
        &mut p.reader(1, Part::Whole).expect("retr"),
        &mut std::io::sink(),
    )
    .expect("read");
    p.commit().expect("quit");
    let m = Maildir::open(&md, MaildirOpenOptions::default()).expect("reopen");
    assert_eq!(m.messages()[0].flags(), Flags::SEEN);
}

#[test]
fn folders() {
    let d = TestDir::new("mdr_folders");
    let md = d.join("Maildir");
    for f in ["Sent", "Trash", "Archive/2024"] {
        maildir::create_folder(&md, f).expect("create");
    }
    fs::create_dir_all(md.join(".NotAMaildir")).expect("mkdir");
    assert_eq!(
        list_folders(&md).expect("list"),
        vec!["Archive.2024", "Sent", "Trash"]
    );
    assert!(md.join(".Sent/maildirfolder").exists());
    let sent = maildir::folder_path(&md, "Sent").expect("path");
    deliver(&sent, b"S: x\n\nx\n");
    let m = Maildir::open(&sent, MaildirOpenOptions::default()).expect("open folder");
    assert_eq!(m.messages().len(), 1);
    assert!(sent.join("dovecot-uidlist").exists());
}
