//! mbox delivery: the From line, >From quoting, the empty line between
//! messages, locking under concurrency (threads and processes), failures
//! that leave the mailbox as it was, stale dotlocks, refused targets, and
//! a real mail reader (s-nail) reading what was written.

mod common;

use common::{spawn_child, tagged_message, TestDir, CHILD_ENV};
use mailbox::lock::{dotlock_path, kernel_lock, KernelLock};
use mailbox::mbox::{self, MboxOptions};
use mailbox::{BytesSource, ErrorKind, Fault, LockMethods, LockPolicy, Prepended};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn fast_opts() -> MboxOptions {
    MboxOptions {
        lock_policy: LockPolicy {
            attempts: 2000,
            delay: Duration::from_millis(2),
            stale_after: Duration::from_secs(500),
        },
        ..MboxOptions::default()
    }
}

fn deliver(
    path: &Path,
    sender: &str,
    msg: &[u8],
    opts: &MboxOptions,
) -> Result<mbox::MboxDelivered, mailbox::DeliveryError> {
    mbox::deliver(
        path,
        sender,
        SystemTime::now(),
        &mut BytesSource::new(msg),
        opts,
    )
}

/// Splits an mbox into (From line, message) pairs; each message must be
/// followed by the empty separator line, which is not part of it.
fn split_mbox(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut prev_empty = true;
    for line in data.split_inclusive(|&b| b == b'\n') {
        if prev_empty && line.starts_with(b"From ") {
            out.push((String::from_utf8_lossy(line).into_owned(), Vec::new()));
        } else {
            out.last_mut()
                .expect("mbox starts with a From line")
                .1
                .extend_from_slice(line);
        }
        prev_empty = line == b"\n";
    }
    for (from, body) in &mut out {
        assert!(
            body.ends_with(b"\n\n") || body == b"\n",
            "no empty line after message {from:?}"
        );
        body.pop();
    }
    out
}

#[test]
fn from_line_quoting_and_blank_line() {
    let d = TestDir::new("from_line");
    let mb = d.join("bob");
    let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let msg = b"Subject: q\n\nFrom me\n>From you\nFrom\nFromage\nx From y\n";
    let r = mbox::deliver(
        &mb,
        "alice@example.com",
        t,
        &mut Prepended::new(
            vec![
                mailbox::source::return_path("alice@example.com"),
                mailbox::source::delivered_to("bob@example.com"),
            ],
            BytesSource::new(msg),
        ),
        &fast_opts(),
    )
    .expect("deliver");
    assert_eq!(r.offset, 0);
    let first = fs::read(&mb).expect("read");
    assert_eq!(r.size, first.len() as u64);
    let expected_from = mbox::from_line("alice@example.com", t);
    let expected = format!(
        "{expected_from}Return-Path: <alice@example.com>\nDelivered-To: bob@example.com\n\
         Subject: q\n\n>From me\n>From you\nFrom\nFromage\nx From y\n\n"
    );
    assert_eq!(String::from_utf8_lossy(&first), expected);
    // asctime: "From alice@example.com  Www Mmm dd hh:mm:ss yyyy"
    let date = expected_from
        .strip_prefix("From alice@example.com  ")
        .expect("two spaces after the sender");
    assert_eq!(date.len(), 25, "{date:?}");
    assert!(date.ends_with(" 2023\n"));

    // Null sender, no final newline: one is added, then the empty line.
    let r2 = mbox::deliver(
        &mb,
        "",
        t,
        &mut BytesSource::new(b"Subject: b\n\nno newline"),
        &fast_opts(),
    )
    .expect("deliver 2");
    assert_eq!(r2.offset, first.len() as u64);
    let all = fs::read(&mb).expect("read");
    let tail = String::from_utf8_lossy(&all[first.len()..]).into_owned();
    assert!(tail.starts_with("From MAILER-DAEMON  "), "{tail}");
    assert!(tail.ends_with("\nSubject: b\n\nno newline\n\n"), "{tail:?}");
    let msgs = split_mbox(&all);
    assert_eq!(msgs.len(), 2);
    assert_eq!(
        fs::metadata(&mb).expect("stat").permissions().mode() & 0o777,
        0o600
    );
    assert!(!dotlock_path(&mb).exists(), "dotlock removed");
}

#[test]
fn long_lines_rebuilt_and_quoted_once() {
    let d = TestDir::new("long_lines");
    let mb = d.join("mbox");
    let mut msg = b"Subject: long\n\n".to_vec();
    let long_from = format!("From {}", "x".repeat(10_000));
    msg.extend_from_slice(long_from.as_bytes());
    msg.push(b'\n');
    msg.extend_from_slice("y".repeat(5000).as_bytes());
    mbox::deliver(
        &mb,
        "a@b",
        SystemTime::now(),
        &mut BytesSource::with_max_piece(&msg, 2048),
        &fast_opts(),
    )
    .expect("deliver");
    let msgs = split_mbox(&fs::read(&mb).expect("read"));
    assert_eq!(msgs.len(), 1);
    let mut expected = b"Subject: long\n\n>".to_vec();
    expected.extend_from_slice(long_from.as_bytes());
    expected.push(b'\n');
    expected.extend_from_slice("y".repeat(5000).as_bytes());
    expected.push(b'\n');
    assert_eq!(msgs[0].1, expected);
}

fn check_all_intact(mb: &Path, tags: &[String], lines: usize) {
    let msgs = split_mbox(&fs::read(mb).expect("read mbox"));
    assert_eq!(msgs.len(), tags.len(), "message count");
    let mut seen = std::collections::BTreeSet::new();
    for (from, body) in &msgs {
        let text = String::from_utf8_lossy(body);
        let tag = text
            .lines()
            .find_map(|l| l.strip_prefix("X-Tag: "))
            .unwrap_or_else(|| panic!("no tag in message after {from:?}"))
            .to_string();
        assert_eq!(
            body,
            &tagged_message(&tag, lines),
            "message {tag} interleaved or damaged"
        );
        assert!(seen.insert(tag.clone()), "{tag} twice");
    }
    let want: std::collections::BTreeSet<String> = tags.iter().cloned().collect();
    assert_eq!(seen, want);
}

fn threads_case(name: &str, locks: LockMethods) {
    let d = TestDir::new(name);
    let mb = d.join("mbox");
    let (threads, per, lines) = (6, 8, 3000); // ~200 KB each: many write(2)s
    let opts = MboxOptions {
        locks,
        ..fast_opts()
    };
    std::thread::scope(|s| {
        for t in 0..threads {
            let (mb, opts) = (&mb, &opts);
            s.spawn(move || {
                for i in 0..per {
                    let m = tagged_message(&format!("t{t}-{i}"), lines);
                    deliver(mb, "a@b", &m, opts).expect("deliver");
                }
            });
        }
    });
    let tags: Vec<String> = (0..threads)
        .flat_map(|t| (0..per).map(move |i| format!("t{t}-{i}")))
        .collect();
    check_all_intact(&mb, &tags, lines);
    assert!(!dotlock_path(&mb).exists());
}

#[test]
fn concurrent_threads_fcntl_and_dotlock() {
    threads_case("threads_both", LockMethods::default());
}

#[test]
fn concurrent_threads_fcntl_only() {
    threads_case("threads_fcntl", LockMethods::parse("fcntl").expect("parse"));
}

#[test]
fn concurrent_threads_dotlock_only() {
    threads_case(
        "threads_dotlock",
        LockMethods::parse("dotlock").expect("parse"),
    );
}

#[test]
fn concurrent_threads_flock_only() {
    threads_case("threads_flock", LockMethods::parse("flock").expect("parse"));
}

/// Child-process entry point; a no-op in a normal test run.
#[test]
fn child_entry() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let path = std::env::var("MBOX_PATH").expect("MBOX_PATH");
    let mb = Path::new(&path);
    match mode.as_str() {
        "deliver" => {
            let id = std::env::var("CHILD_ID").expect("CHILD_ID");
            let locks = LockMethods::parse(&std::env::var("LOCKS").expect("LOCKS")).expect("locks");
            let opts = MboxOptions {
                locks,
                ..fast_opts()
            };
            for i in 0..8 {
                let m = tagged_message(&format!("p{id}-{i}"), 3000);
                deliver(mb, "a@b", &m, &opts).expect("deliver");
            }
        }
        "rlimit" => {
            let extra: u64 = std::env::var("EXTRA")
                .expect("EXTRA")
                .parse()
                .expect("number");
            let size = fs::metadata(mb).expect("stat").len();
            // SAFETY: plain system calls on this process's own limits.
            unsafe {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let lim = libc::rlimit {
                    rlim_cur: size + extra,
                    rlim_max: size + extra,
                };
                assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
            }
            let m = tagged_message("big", 3000);
            let opts = MboxOptions {
                size_limit: 0,
                ..fast_opts()
            };
            let e = deliver(mb, "a@b", &m, &opts).expect_err("must hit RLIMIT_FSIZE");
            let out = format!("{}|{}|{:?}", e.status(), e.reason(), e.kind());
            fs::write(std::env::var("RESULT").expect("RESULT"), out).expect("result");
        }
        other => panic!("unknown child mode {other}"),
    }
}

#[test]
fn concurrent_processes_never_interleave() {
    for locks in ["fcntl, dotlock", "fcntl"] {
        let d = TestDir::new(&format!("procs_{}", locks.len()));
        let mb = d.join("mbox");
        let children: Vec<_> = (0..4)
            .map(|id| {
                spawn_child(
                    "child_entry",
                    "deliver",
                    &[
                        ("MBOX_PATH", mb.display().to_string()),
                        ("CHILD_ID", id.to_string()),
                        ("LOCKS", locks.to_string()),
                    ],
                )
            })
            .collect();
        for mut c in children {
            assert!(c.wait().expect("wait").success(), "child failed");
        }
        let tags: Vec<String> = (0..4)
            .flat_map(|p| (0..8).map(move |i| format!("p{p}-{i}")))
            .collect();
        check_all_intact(&mb, &tags, 3000);
    }
}

fn seed_mbox(d: &TestDir) -> (std::path::PathBuf, Vec<u8>) {
    let mb = d.join("mbox");
    deliver(&mb, "a@b", &tagged_message("first", 10), &fast_opts()).expect("seed");
    let before = fs::read(&mb).expect("read");
    (mb, before)
}

#[test]
fn failed_write_leaves_mailbox_as_before() {
    let d = TestDir::new("failed_write");
    let (mb, before) = seed_mbox(&d);
    let big = tagged_message("big", 5000);
    for (fault, status, kind) in [
        (
            Fault::WriteFails {
                after: 100_000,
                errno: libc::ENOSPC,
            },
            "4.3.0",
            ErrorKind::MailSystemFull,
        ),
        (
            Fault::WriteFails {
                after: 0,
                errno: libc::EIO,
            },
            "4.3.0",
            ErrorKind::Io,
        ),
        (
            Fault::WriteFails {
                after: 70_000,
                errno: libc::EDQUOT,
            },
            "5.2.2",
            ErrorKind::MailboxFull,
        ),
        (
            Fault::FsyncFails { errno: libc::EIO },
            "4.3.0",
            ErrorKind::Io,
        ),
    ] {
        let opts = MboxOptions {
            fault: Some(fault),
            ..fast_opts()
        };
        let e = deliver(&mb, "a@b", &big, &opts).expect_err("fault");
        assert_eq!((e.status(), e.kind()), (status, kind), "{fault:?}: {e}");
        assert!(e.reason().starts_with("error writing message: "), "{e}");
        assert_eq!(
            fs::read(&mb).expect("read"),
            before,
            "{fault:?} changed the mailbox"
        );
        assert!(!dotlock_path(&mb).exists());
    }
    let e = deliver(
        &mb,
        "a@b",
        &big,
        &MboxOptions {
            fault: Some(Fault::WriteFails {
                after: 10,
                errno: libc::ENOSPC,
            }),
            ..fast_opts()
        },
    )
    .expect_err("fault");
    assert_eq!(
        e.to_string(),
        "error writing message: No space left on device"
    );
    assert!(e.is_temporary());
}

#[test]
fn rlimit_fsize_failure_is_5_2_2_and_truncated() {
    let d = TestDir::new("rlimit");
    let (mb, before) = seed_mbox(&d);
    let result = d.join("result");
    let mut c = spawn_child(
        "child_entry",
        "rlimit",
        &[
            ("MBOX_PATH", mb.display().to_string()),
            ("EXTRA", "50000".into()),
            ("RESULT", result.display().to_string()),
        ],
    );
    assert!(c.wait().expect("wait").success(), "child failed");
    assert_eq!(
        fs::read_to_string(&result).expect("result"),
        "5.2.2|error writing message: File too large|MailboxFull"
    );
    assert_eq!(fs::read(&mb).expect("read"), before);
}

#[test]
fn mailbox_size_limit() {
    let d = TestDir::new("size_limit");
    let (mb, before) = seed_mbox(&d);
    let m = tagged_message("next", 100);
    let e = deliver(
        &mb,
        "a@b",
        &m,
        &MboxOptions {
            size_limit: before.len() as u64 + 500,
            ..fast_opts()
        },
    )
    .expect_err("limit");
    assert_eq!((e.status(), e.kind()), ("5.2.2", ErrorKind::MailboxFull));
    assert!(!e.is_temporary());
    assert_eq!(
        e.mbox_text(&mb, "bob"),
        format!(
            "cannot update mailbox {} for user bob. error writing message: File too large",
            mb.display()
        )
    );
    assert_eq!(fs::read(&mb).expect("read"), before);
    // Exactly at the limit is allowed: measure with no limit, then redo.
    let r = deliver(
        &mb,
        "a@b",
        &m,
        &MboxOptions {
            size_limit: 0,
            ..fast_opts()
        },
    )
    .expect("deliver");
    let exact = before.len() as u64 + r.size;
    fs::write(&mb, &before).expect("restore");
    deliver(
        &mb,
        "a@b",
        &m,
        &MboxOptions {
            size_limit: exact,
            ..fast_opts()
        },
    )
    .expect("exactly at the limit");
    fs::write(&mb, &before).expect("restore");
    deliver(
        &mb,
        "a@b",
        &m,
        &MboxOptions {
            size_limit: exact - 1,
            ..fast_opts()
        },
    )
    .expect_err("one byte over");
    assert_eq!(fs::read(&mb).expect("read"), before);
}

#[test]
fn stale_dotlock_is_removed_fresh_one_is_respected() {
    let d = TestDir::new("dotlock");
    let mb = d.join("mbox");
    fs::write(dotlock_path(&mb), b"").expect("lock");
    let busy = MboxOptions {
        lock_policy: LockPolicy {
            attempts: 3,
            delay: Duration::from_millis(10),
            stale_after: Duration::from_secs(500),
        },
        ..MboxOptions::default()
    };
    let e = deliver(&mb, "a@b", b"x\n", &busy).expect_err("locked");
    assert_eq!((e.status(), e.kind()), ("4.2.0", ErrorKind::LockBusy));
    assert_eq!(
        e.reason(),
        format!(
            "unable to create lock file {}: File exists",
            dotlock_path(&mb).display()
        )
    );
    assert!(
        dotlock_path(&mb).exists(),
        "a fresh lock is not ours to remove"
    );
    std::thread::sleep(Duration::from_millis(400));
    let stale = MboxOptions {
        lock_policy: LockPolicy {
            attempts: 5,
            delay: Duration::from_millis(50),
            stale_after: Duration::from_millis(300),
        },
        ..MboxOptions::default()
    };
    deliver(&mb, "a@b", b"x\n", &stale).expect("stale lock broken");
    assert!(!dotlock_path(&mb).exists());
    assert_eq!(split_mbox(&fs::read(&mb).expect("read")).len(), 1);
}

#[test]
fn held_fcntl_lock_is_lock_busy() {
    let d = TestDir::new("fcntl_busy");
    let (mb, before) = seed_mbox(&d);
    let holder = fs::OpenOptions::new().write(true).open(&mb).expect("open");
    kernel_lock(&holder, KernelLock::Fcntl, &LockPolicy::default()).expect("lock");
    let opts = MboxOptions {
        lock_policy: LockPolicy {
            attempts: 3,
            delay: Duration::from_millis(10),
            stale_after: Duration::from_secs(500),
        },
        ..MboxOptions::default()
    };
    let e = deliver(&mb, "a@b", b"x\n", &opts).expect_err("locked");
    assert_eq!((e.status(), e.kind()), ("4.2.0", ErrorKind::LockBusy));
    assert_eq!(
        e.reason(),
        "unable to lock for exclusive access: Resource temporarily unavailable"
    );
    assert!(
        !dotlock_path(&mb).exists(),
        "dotlock released after the failure"
    );
    drop(holder);
    deliver(&mb, "a@b", b"x\n", &opts).expect("free again");
    assert!(fs::read(&mb).expect("read").len() > before.len());
}

fn lchown(path: &Path, uid: u32) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("path");
    // SAFETY: a valid C string; changes only the link's owner.
    let rc = unsafe { libc::lchown(c.as_ptr(), uid, u32::MAX) };
    assert_eq!(rc, 0, "lchown");
}

#[test]
fn symlinks_refused_unless_root_owned() {
    let d = TestDir::new("symlink");
    let target = d.join("target");
    fs::write(&target, b"precious\n").expect("target");
    let link = d.join("mbox");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let am_root = unsafe { libc::geteuid() } == 0;
    if am_root {
        lchown(&link, 65534);
    }
    let e = deliver(&link, "a@b", b"x\n", &fast_opts()).expect_err("symlink");
    assert_eq!(
        (e.status(), e.kind(), e.reason()),
        ("5.2.0", ErrorKind::Symlink, "file is a symbolic link")
    );
    assert_eq!(fs::read(&target).expect("read"), b"precious\n");

    // A dangling symlink is not followed to create its target.
    let dangling = d.join("dangling");
    std::os::unix::fs::symlink(d.join("nowhere"), &dangling).expect("symlink");
    if am_root {
        lchown(&dangling, 65534);
    }
    let e = deliver(&dangling, "a@b", b"x\n", &fast_opts()).expect_err("dangling");
    assert_eq!(e.kind(), ErrorKind::Symlink);
    assert!(!d.join("nowhere").exists());

    if am_root {
        // Postfix's exception: a root-owned symlink is followed.
        lchown(&link, 0);
        deliver(&link, "a@b", b"x\n", &fast_opts()).expect("root-owned symlink");
        assert!(fs::read(&target).expect("read").len() > 9);
    }
}

#[test]
fn refused_targets() {
    let d = TestDir::new("refused");
    // Hard links.
    let a = d.join("a");
    fs::write(&a, b"").expect("a");
    fs::hard_link(&a, d.join("b")).expect("link");
    let e = deliver(&a, "a@b", b"x\n", &fast_opts()).expect_err("hard link");
    assert_eq!(
        (e.status(), e.kind(), e.reason()),
        ("5.2.0", ErrorKind::HardLinks, "file has 2 hard links")
    );
    // A directory.
    let dir = d.join("dir");
    fs::create_dir(&dir).expect("dir");
    let e = deliver(&dir, "a@b", b"x\n", &fast_opts()).expect_err("dir");
    assert_eq!((e.status(), e.kind()), ("5.2.0", ErrorKind::NotRegularFile));
    // A device: not a mailbox, but fine for a /file delivery.
    let e = deliver(Path::new("/dev/null"), "a@b", b"x\n", &fast_opts()).expect_err("device");
    assert_eq!(e.reason(), "destination /dev/null is not a regular file");
    let file_opts = MboxOptions {
        allow_non_regular: true,
        dotlock_may_fail: true,
        ..fast_opts()
    };
    deliver(Path::new("/dev/null"), "a@b", b"x\n", &file_opts).expect("/dev/null as a /file");
    // Ownership (strict_mailbox_ownership).
    let (mb, _) = seed_mbox(&d);
    let uid = fs::metadata(&mb).expect("stat").uid();
    let e = deliver(
        &mb,
        "a@b",
        b"x\n",
        &MboxOptions {
            owner: Some(uid + 1),
            ..fast_opts()
        },
    )
    .expect_err("owner");
    assert_eq!((e.status(), e.kind()), ("4.2.0", ErrorKind::NotOwned));
    deliver(
        &mb,
        "a@b",
        b"x\n",
        &MboxOptions {
            owner: Some(uid),
            ..fast_opts()
        },
    )
    .expect("owner ok");
    // Executable /file targets.
    fs::set_permissions(&mb, fs::Permissions::from_mode(0o700)).expect("chmod");
    let e = deliver(
        &mb,
        "a@b",
        b"x\n",
        &MboxOptions {
            refuse_executable: true,
            ..fast_opts()
        },
    )
    .expect_err("exec");
    assert_eq!((e.status(), e.kind()), ("5.7.1", ErrorKind::Executable));
}

#[test]
fn queue_file_source() {
    let d = TestDir::new("queue_source");
    let env = queue::Envelope {
        sender: "a@b".into(),
        recipients: vec![queue::Recipient::new("c@d")],
        ..Default::default()
    };
    let mut w = queue::Writer::new(d.path(), &env).expect("writer");
    let long = "From ".to_string() + &"z".repeat(5000);
    let content = format!("Subject: q\r\n\r\n{long}\r\nFrom x\r\nend");
    w.write_content(content.as_bytes()).expect("content");
    let (_, path) = w.finish(&queue::Extracted::default()).expect("finish");
    let mut qf = queue::open(&path).expect("open");
    let mb = d.join("mbox");
    let mut src = mailbox::QueueSource::new(&mut qf).expect("content");
    mbox::deliver(&mb, "a@b", SystemTime::now(), &mut src, &fast_opts()).expect("deliver");
    let msgs = split_mbox(&fs::read(&mb).expect("read"));
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        String::from_utf8_lossy(&msgs[0].1),
        format!("Subject: q\n\n>{long}\n>From x\nend\n")
    );
}

#[test]
fn s_nail_reads_the_mbox() {
    if std::process::Command::new("s-nail")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("s-nail not installed; skipped");
        return;
    }
    let d = TestDir::new("s_nail");
    let mb = d.join("mbox");
    for (i, s) in ["", "alice@example.com", "bob@example.org"]
        .iter()
        .enumerate()
    {
        let m = format!(
            "From: sender{i}@example.com\nSubject: hello number {i}\n\nFrom the body\nbye\n"
        );
        deliver(&mb, s, m.as_bytes(), &fast_opts()).expect("deliver");
    }
    let out = std::process::Command::new("s-nail")
        .args(["-:/", "-#", "-H", "-f"])
        .arg(&mb)
        .env("HOME", d.path())
        .env("MAILRC", "/dev/null")
        .output()
        .expect("run s-nail");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "s-nail failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for i in 0..3 {
        assert!(
            text.contains(&format!("hello number {i}")),
            "message {i} not listed:\n{text}"
        );
    }
    assert_eq!(
        text.lines().filter(|l| l.contains("hello number")).count(),
        3,
        "{text}"
    );
    // Printing a message shows the body as stored, ">From" included.
    let out = std::process::Command::new("s-nail")
        .args(["-:/", "-#", "-f"])
        .arg(&mb)
        .env("HOME", d.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .expect("stdin")
                .write_all(b"set crt=0\nprint 3\nquit\n")?;
            c.wait_with_output()
        })
        .expect("s-nail print");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("hello number 2") && text.contains(">From the body"),
        "{text}"
    );
}

/// A source that fails after some pieces, as a damaged queue file would.
struct Failing(usize);

impl mailbox::MessageSource for Failing {
    fn next_piece(&mut self) -> Result<Option<mailbox::Piece>, mailbox::SourceError> {
        if self.0 == 0 {
            return Err(mailbox::SourceError("bad record type".into()));
        }
        self.0 -= 1;
        Ok(Some(mailbox::Piece {
            data: vec![b'a'; 3000],
            end_of_line: true,
        }))
    }
}

#[test]
fn unreadable_message_is_deferred_and_undone() {
    let d = TestDir::new("source_fails");
    let (mb, before) = seed_mbox(&d);
    let e = mbox::deliver(
        &mb,
        "a@b",
        SystemTime::now(),
        &mut Failing(100),
        &fast_opts(),
    )
    .expect_err("source fails");
    assert_eq!((e.status(), e.kind()), ("4.3.0", ErrorKind::Source));
    assert_eq!(e.reason(), "error reading message: bad record type");
    assert_eq!(fs::read(&mb).expect("read"), before);

    let md = d.join("Maildir");
    let e = mailbox::maildir::deliver(&md, &mut Failing(100), &Default::default())
        .expect_err("source fails");
    assert_eq!(e.kind(), ErrorKind::Source);
    assert_eq!(fs::read_dir(md.join("tmp")).expect("tmp").count(), 0);
    assert_eq!(fs::read_dir(md.join("new")).expect("new").count(), 0);
}
