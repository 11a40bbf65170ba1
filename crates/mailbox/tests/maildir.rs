//! Maildir delivery: byte-exact content (prepended headers, long lines
//! rebuilt from pieces, a missing last line end added), Dovecot-style
//! names, unique names under concurrency (threads and processes), size
//! limit and failures leaving nothing behind, Maildir++ folders.

mod common;

use common::{spawn_child, tagged_message, TestDir, CHILD_ENV};
use mailbox::maildir::{self, MaildirOptions};
use mailbox::{BytesSource, ErrorKind, Fault, Prepended};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).expect("stat").permissions().mode() & 0o7777
}

#[test]
fn byte_exact_with_headers_long_lines_and_no_final_newline() {
    let d = TestDir::new("md_exact");
    let md = d.join("Maildir");
    let long = "L".repeat(10_000);
    let body = format!("Subject: x\r\n\r\nFrom here\n{long}\n\n.\nno newline at end");
    let mut src = Prepended::new(
        vec![
            mailbox::source::return_path("a@example.com"),
            mailbox::source::x_original_to("b@example.com").expect("header"),
            mailbox::source::delivered_to("b@example.com"),
        ],
        BytesSource::with_max_piece(body.as_bytes(), 2048),
    );
    let opts = MaildirOptions {
        hostname: Some("mx/1:2,3".into()),
        ..MaildirOptions::default()
    };
    let r = maildir::deliver(&md, &mut src, &opts).expect("deliver");
    let expected = format!(
        "Return-Path: <a@example.com>\nX-Original-To: b@example.com\nDelivered-To: b@example.com\n{body}\n"
    );
    assert_eq!(fs::read(&r.path).expect("read"), expected.as_bytes());
    assert_eq!(r.size, expected.len() as u64);
    assert_eq!(
        r.virtual_size,
        expected.len() as u64 + expected.matches('\n').count() as u64
    );
    // new/SECS.MUSECSPPIDQN.HOST,S=size,W=vsize
    let name = r
        .path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert_eq!(r.path.parent(), Some(md.join("new").as_path()));
    let suffix = format!(".mx\\0571\\0722\\0543,S={},W={}", r.size, r.virtual_size);
    assert!(name.ends_with(&suffix), "{name}");
    let unique = name.strip_suffix(&suffix).expect("suffix");
    let (secs, rest) = unique.split_once(".M").expect(".M");
    assert!(secs.parse::<u64>().is_ok(), "{name}");
    let (usecs, rest) = rest.split_once('P').expect("P");
    assert!(usecs.parse::<u32>().is_ok_and(|u| u < 1_000_000), "{name}");
    let (pid, q) = rest.split_once('Q').expect("Q");
    assert_eq!(pid, std::process::id().to_string());
    assert!(q.parse::<u64>().is_ok(), "{name}");
    // Directories made 0700, the file 0600, nothing left in tmp/.
    for sub in ["", "tmp", "new", "cur"] {
        assert_eq!(mode(&md.join(sub)), 0o700, "{sub}");
    }
    assert_eq!(mode(&r.path), 0o600);
    assert!(names(&md.join("tmp")).is_empty());
    assert_eq!(names(&md.join("new")).len(), 1);
}

#[test]
fn empty_and_plain_messages() {
    let d = TestDir::new("md_plain");
    let md = d.join("Maildir");
    let r = maildir::deliver(&md, &mut BytesSource::new(b""), &MaildirOptions::default())
        .expect("empty");
    assert_eq!(fs::read(&r.path).expect("read"), b"");
    assert!(r.path.to_string_lossy().ends_with(",S=0,W=0"));
    let msg = b"Subject: y\n\nFrom is not quoted in a Maildir\n";
    let r = maildir::deliver(&md, &mut BytesSource::new(msg), &MaildirOptions::default())
        .expect("plain");
    assert_eq!(fs::read(&r.path).expect("read"), msg);
}

fn check_unique(md: &Path, tags: &[String]) {
    let files = names(&md.join("new"));
    assert_eq!(files.len(), tags.len(), "file count");
    let mut seen = BTreeSet::new();
    for f in &files {
        let data = fs::read(md.join("new").join(f)).expect("read");
        let text = String::from_utf8_lossy(&data);
        let tag = text
            .lines()
            .find_map(|l| l.strip_prefix("X-Tag: "))
            .expect("tag")
            .to_string();
        assert_eq!(data, tagged_message(&tag, 20), "{f}");
        assert!(seen.insert(tag));
    }
    assert_eq!(seen, tags.iter().cloned().collect::<BTreeSet<_>>());
    assert!(names(&md.join("tmp")).is_empty(), "tmp/ not empty");
}

#[test]
fn unique_under_thread_concurrency() {
    let d = TestDir::new("md_threads");
    let md = d.join("Maildir");
    std::thread::scope(|s| {
        for t in 0..8 {
            let md = &md;
            s.spawn(move || {
                for i in 0..50 {
                    let m = tagged_message(&format!("t{t}-{i}"), 20);
                    maildir::deliver(md, &mut BytesSource::new(&m), &MaildirOptions::default())
                        .expect("deliver");
                }
            });
        }
    });
    let tags: Vec<String> = (0..8)
        .flat_map(|t| (0..50).map(move |i| format!("t{t}-{i}")))
        .collect();
    check_unique(&md, &tags);
}

/// Child-process entry point; a no-op in a normal test run.
#[test]
fn child_entry() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    assert_eq!(mode, "deliver");
    let md = std::env::var("MAILDIR").expect("MAILDIR");
    let id = std::env::var("CHILD_ID").expect("CHILD_ID");
    for i in 0..50 {
        let m = tagged_message(&format!("p{id}-{i}"), 20);
        maildir::deliver(
            Path::new(&md),
            &mut BytesSource::new(&m),
            &MaildirOptions::default(),
        )
        .expect("deliver");
    }
}

#[test]
fn unique_under_process_concurrency() {
    let d = TestDir::new("md_procs");
    let md = d.join("Maildir");
    let children: Vec<_> = (0..4)
        .map(|id| {
            spawn_child(
                "child_entry",
                "deliver",
                &[
                    ("MAILDIR", md.display().to_string()),
                    ("CHILD_ID", id.to_string()),
                ],
            )
        })
        .collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success(), "child failed");
    }
    let tags: Vec<String> = (0..4)
        .flat_map(|p| (0..50).map(move |i| format!("p{p}-{i}")))
        .collect();
    check_unique(&md, &tags);
}

#[test]
fn size_limit_and_failures_leave_nothing() {
    let d = TestDir::new("md_fail");
    let md = d.join("Maildir");
    let m = tagged_message("x", 1000);
    let e = maildir::deliver(
        &md,
        &mut BytesSource::new(&m),
        &MaildirOptions {
            size_limit: 1000,
            ..MaildirOptions::default()
        },
    )
    .expect_err("limit");
    assert_eq!((e.status(), e.kind()), ("5.2.2", ErrorKind::MailboxFull));
    assert_eq!(
        e.maildir_text(),
        "maildir delivery failed: error writing message: File too large"
    );
    let exact = maildir::deliver(
        &md,
        &mut BytesSource::new(&m),
        &MaildirOptions {
            size_limit: m.len() as u64,
            ..MaildirOptions::default()
        },
    )
    .expect("exactly at the limit");
    fs::remove_file(&exact.path).expect("rm");
    for (fault, status) in [
        (
            Fault::WriteFails {
                after: 5000,
                errno: libc::ENOSPC,
            },
            "4.3.0",
        ),
        (
            Fault::WriteFails {
                after: 0,
                errno: libc::EIO,
            },
            "4.3.0",
        ),
        (
            Fault::FsyncFails {
                errno: libc::EDQUOT,
            },
            "5.2.2",
        ),
    ] {
        let opts = MaildirOptions {
            fault: Some(fault),
            ..MaildirOptions::default()
        };
        let e = maildir::deliver(&md, &mut BytesSource::new(&m), &opts).expect_err("fault");
        assert_eq!(e.status(), status, "{fault:?}: {e}");
    }
    assert!(names(&md.join("tmp")).is_empty());
    assert!(names(&md.join("new")).is_empty());
}

#[test]
fn unwritable_maildir_is_a_create_error() {
    let d = TestDir::new("md_unwritable");
    // A file where the Maildir should be.
    let md = d.join("Maildir");
    fs::write(&md, b"").expect("file");
    let e = maildir::deliver(
        &md,
        &mut BytesSource::new(b"x\n"),
        &MaildirOptions::default(),
    )
    .expect_err("not a dir");
    assert!(
        e.reason()
            .starts_with(&format!("create maildir file {}/tmp/", md.display())),
        "{e}"
    );
    assert_eq!(e.status(), "5.2.0");
    assert!(!e.is_temporary());
}

#[test]
fn maildirplusplus_folders() {
    let d = TestDir::new("md_folders");
    let root = d.join("Maildir");
    let sent = maildir::create_folder(&root, "Archive/2024").expect("create");
    assert_eq!(sent, root.join(".Archive.2024"));
    assert!(sent.join("maildirfolder").is_file());
    for sub in ["tmp", "new", "cur"] {
        assert!(sent.join(sub).is_dir());
        assert!(root.join(sub).is_dir(), "the root Maildir is made too");
    }
    assert_eq!(
        maildir::create_folder(&root, "Archive/2024").expect("again"),
        sent
    );
    let r = maildir::deliver(
        &sent,
        &mut BytesSource::new(b"Subject: f\n\n"),
        &MaildirOptions::default(),
    )
    .expect("deliver");
    assert!(r.path.starts_with(sent.join("new")));
    assert_eq!(maildir::create_folder(&root, "INBOX").expect("inbox"), root);
    assert!(!root.join("maildirfolder").exists());
    assert!(maildir::create_folder(&root, "../escape").is_err());
}
