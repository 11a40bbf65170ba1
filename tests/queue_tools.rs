//! The queue tools end to end: queue files written straight into a real
//! instance's queue, listed by `postqueue -p`/`-j` through the showq
//! service (and directly, as root, when it is down), and changed by
//! `postsuper -d/-h/-H/-r/-s`.

use kit::{is_root, Instance};
use queue::logs::{Entry, Log};
use queue::{Envelope, Extracted, HashSpec, Recipient, Timestamp, Writer};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const ARRIVAL: u64 = 1_795_243_206; // Sat Nov 21 06:40:06 2026 UTC
const REASON: &str = "connect to 127.0.0.1[127.0.0.1]:9: Connection refused";

fn spec() -> HashSpec {
    HashSpec {
        names: vec!["deferred".into(), "defer".into()],
        depth: 1,
    }
}

fn instance(name: &str) -> Instance {
    let inst = Instance::new(name);
    inst.master_cf("showq unix n - n - - showq\n");
    inst.start();
    inst
}

fn queue_dir(inst: &Instance) -> PathBuf {
    inst.dir.join("queue")
}

/// Writes a queue file into `queue`; recipients named with a leading `+`
/// are marked done. Returns the ID and the content size the listing shows.
fn message(inst: &Instance, queue: &str, sender: &str, rcpts: &[&str]) -> (String, u64) {
    let env = Envelope {
        arrival: Timestamp {
            sec: ARRIVAL,
            usec: 0,
        },
        sender: sender.into(),
        recipients: rcpts
            .iter()
            .map(|r| Recipient {
                done: r.starts_with('+'),
                ..Recipient::new(r.trim_start_matches('+'))
            })
            .collect(),
        ..Envelope::default()
    };
    let mut w = Writer::create_in_queue(&queue_dir(inst), queue, &spec()).expect("writer");
    w.envelope(&env).expect("envelope");
    w.write_content(b"Subject: test\n\nhello\n")
        .expect("content");
    let (id, path) = w.finish(&Extracted::default()).expect("finish");
    let size = queue::open(&path).expect("valid").size.data_size;
    (id.to_string(), size)
}

/// Where message `id` is, in whichever message queue.
fn find(q: &Path, id: &str) -> Option<PathBuf> {
    ["maildrop", "incoming", "active", "deferred", "hold"]
        .iter()
        .filter_map(|n| spec().path(q, n, id).ok())
        .find(|p| p.exists())
}

/// A defer log entry for the recipient at `offset` (0: unknown).
fn defer(inst: &Instance, id: &str, rcpt: &str, reason: &str) {
    let path = find(&queue_dir(inst), id);
    let offset = path
        .and_then(|p| queue::open(&p).ok())
        .and_then(|q| {
            q.envelope
                .recipients
                .iter()
                .find(|r| r.address == rcpt)
                .map(|r| r.offset)
        })
        .unwrap_or(0);
    let e = Entry {
        recipient: rcpt.into(),
        status: "4.4.1".into(),
        action: "delayed".into(),
        relay: "none".into(),
        reason: reason.into(),
        offset,
        ..Entry::default()
    };
    queue::logs::append(&queue_dir(inst), &spec(), Log::Defer, id, &[e]).expect("defer log");
}

/// As root, the daemons and postsuper run as `nobody`: give it the queue.
fn give_queue_to_mail_owner(inst: &Instance) {
    if !is_root() {
        return;
    }
    fn walk(p: &Path) {
        let _ = std::os::unix::fs::chown(p, Some(65534), Some(65534));
        if p.is_dir() {
            for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
                walk(&e.path());
            }
        }
    }
    for q in [
        "maildrop", "incoming", "active", "deferred", "hold", "defer", "bounce",
    ] {
        walk(&queue_dir(inst).join(q));
    }
}

fn run(inst: &Instance, program: &str, args: &[&str], as_nobody: bool) -> Output {
    let mut c = Command::new(inst.bin.join(program));
    c.args(args)
        .env("MAIL_CONFIG", &inst.dir)
        .env("TZ", "UTC")
        .stdin(Stdio::null());
    if as_nobody {
        c.uid(65534).gid(65534);
    }
    c.output().expect("run")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(files_in(&e.path()));
        } else {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

const PAD: &str = "                                               ";

fn sender_line(id: &str, mark: &str, size: u64, sender: &str) -> String {
    format!(
        "{:<17} {size:>8} Sat Nov 21 06:40:06 {sender}\n",
        format!("{id}{mark}")
    )
}

#[test]
fn listing_in_postfix_format_through_showq() {
    let inst = instance("qt-list");
    let empty = run(&inst, "postqueue", &["-p"], false);
    assert_eq!(
        text(&empty.stdout),
        "Mail queue is empty\n",
        "{}",
        text(&empty.stderr)
    );

    let (active, s1) = message(&inst, "active", "a@example.org", &["x@example.net"]);
    let (deferred, s2) = message(
        &inst,
        "deferred",
        "",
        &[
            "+gone@example.net",
            "r1@example.net",
            "r2@example.net",
            "john doe@example.net",
        ],
    );
    defer(&inst, &deferred, "r2@example.net", REASON);
    defer(&inst, &deferred, "r1@example.net", REASON);
    let (held, s3) = message(&inst, "hold", "h@example.org", &["y@example.net"]);
    defer(&inst, &held, "y@example.net", "host said: 450 try later");
    give_queue_to_mail_owner(&inst);

    let out = run(&inst, "postqueue", &["-p"], false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let want = format!(
        "----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------\n\
         {}{PAD}x@example.net\n\n\
         {}{:23}({REASON})\n{PAD}r2@example.net\n{PAD}r1@example.net\n{:58}(reason unavailable)\n{PAD}\"john doe\"@example.net\n\n\
         {}{:52}(host said: 450 try later)\n{PAD}y@example.net\n\n\
         -- {} Kbytes in 3 Requests.\n",
        sender_line(&active, "*", s1, "a@example.org"),
        sender_line(&deferred, "", s2, "MAILER-DAEMON"),
        "",
        "",
        sender_line(&held, "!", s3, "h@example.org"),
        "",
        (s1 + s2 + s3) / 1024
    );
    assert_eq!(text(&out.stdout), want);

    let out = run(&inst, "postqueue", &["-j"], false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        lines[1],
        format!(
            "{{\"queue_name\": \"deferred\", \"queue_id\": \"{deferred}\", \"arrival_time\": {ARRIVAL}, \"message_size\": {s2}, \"forced_expire\": false, \"sender\": \"MAILER-DAEMON\", \"recipients\": [{{\"address\": \"r2@example.net\", \"delay_reason\": \"{REASON}\"}}, {{\"address\": \"r1@example.net\", \"delay_reason\": \"{REASON}\"}}, {{\"address\": \"\\\"john doe\\\"@example.net\"}}]}}"
        )
    );
    assert!(lines[0].starts_with("{\"queue_name\": \"active\""));
    assert!(lines[2].starts_with("{\"queue_name\": \"hold\""));

    // mailq is sendmail -bp is postqueue -p.
    let mailq = run(&inst, "sendmail", &["-bp"], false);
    assert_eq!(text(&mailq.stdout), want, "{}", text(&mailq.stderr));

    // A corrupt file is skipped with a warning; the rest is listed.
    std::fs::write(
        queue_dir(&inst).join("incoming/4jWjHp5xLjz1T1Rg"),
        b"C\x05junk",
    )
    .expect("write");
    let mut perms = std::fs::metadata(queue_dir(&inst).join("incoming/4jWjHp5xLjz1T1Rg"))
        .expect("meta")
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
    std::fs::set_permissions(queue_dir(&inst).join("incoming/4jWjHp5xLjz1T1Rg"), perms)
        .expect("chmod");
    give_queue_to_mail_owner(&inst);
    let out = run(&inst, "postqueue", &["-p"], false);
    assert_eq!(text(&out.stdout), want);
    assert!(
        kit::wait_until(Duration::from_secs(5), || !inst
            .log_lines("incoming/4jWjHp5xLjz1T1Rg")
            .is_empty()),
        "{}",
        inst.maillog()
    );
}

#[test]
fn root_reads_the_queue_when_showq_is_down_and_others_cannot() {
    let inst = Instance::new("qt-down");
    inst.master_cf("showq unix n - n - - showq\n");
    inst.start();
    let (id, _) = message(&inst, "deferred", "s@example.org", &["r@example.net"]);
    give_queue_to_mail_owner(&inst);
    let through_showq = run(&inst, "postqueue", &["-p"], false);
    if is_root() {
        let nobody = run(&inst, "postqueue", &["-p"], true);
        assert_eq!(
            text(&nobody.stdout),
            text(&through_showq.stdout),
            "{}",
            text(&nobody.stderr)
        );
        let json = run(&inst, "postqueue", &["-j"], true);
        assert!(text(&json.stdout).contains(&id));
    }
    inst.stop();
    let direct = run(&inst, "postqueue", &["-p"], false);
    if is_root() {
        assert_eq!(text(&direct.stdout), text(&through_showq.stdout));
        assert!(
            text(&direct.stderr).contains(
                "warning: Mail system is down -- accessing queue directly (Connect to the mailsuite showq service: Connection refused)"
            ),
            "{}",
            text(&direct.stderr)
        );
        let nobody = run(&inst, "postqueue", &["-p"], true);
        assert_eq!(nobody.status.code(), Some(69));
        assert!(
            text(&nobody.stderr).contains("fatal: Queue report unavailable - mail system is down"),
            "{}",
            text(&nobody.stderr)
        );
    } else {
        assert_eq!(direct.status.code(), Some(69));
    }
    let flush = run(&inst, "postqueue", &["-f"], false);
    assert_eq!(flush.status.code(), Some(69));
    assert!(text(&flush.stderr).contains("Cannot flush mail queue - mail system is down"));
}

#[test]
fn flush_sends_the_qmgr_trigger() {
    let inst = Instance::new("qt-flush");
    inst.master_cf("showq unix n - n - - showq\n");
    inst.start();
    // Stand in for qmgr: a socket at public/qmgr that records what it gets.
    let sock = queue_dir(&inst).join("public/qmgr");
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
    if is_root() {
        let _ = std::os::unix::fs::chown(&sock, Some(65534), Some(65534));
    }
    let got = std::thread::spawn(move || {
        let mut all = Vec::new();
        for _ in 0..3 {
            let (mut s, _) = listener.accept().expect("accept");
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut s, &mut buf).expect("read");
            all.push(buf);
        }
        all
    });
    let out = run(&inst, "postqueue", &["-f"], false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    let (id, _) = message(&inst, "deferred", "s@example.org", &["r@example.net"]);
    let path = find(&queue_dir(&inst), &id).expect("path");
    let later = std::time::SystemTime::now() + Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(later))
        .expect("mtime");
    let out = run(&inst, "postqueue", &["-i", &id], false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mtime = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .expect("mtime");
    assert!(
        mtime < later - Duration::from_secs(60),
        "-i made the message due"
    );
    let out = run(&inst, "postqueue", &["-s", "Example.NET"], false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        got.join().expect("thread"),
        vec![
            b"FA".to_vec(),
            format!("DQ{id}\n").into_bytes(),
            b"Sexample.net\n".to_vec()
        ]
    );
    let bad = run(&inst, "postqueue", &["-i", "../x"], false);
    assert_eq!(bad.status.code(), Some(64));
    assert!(text(&bad.stderr).contains("Cannot flush queue ID - invalid name: \"../x\""));
    let usage = run(&inst, "postqueue", &["-p", "-f"], false);
    assert_eq!(usage.status.code(), Some(64));
}

#[test]
fn postsuper_deletes_holds_releases_requeues() {
    let inst = instance("qt-super");
    let q = queue_dir(&inst);
    let (a, _) = message(&inst, "deferred", "s@example.org", &["r@example.net"]);
    let (b, _) = message(&inst, "deferred", "s@example.org", &["r@example.net"]);
    let (c, _) = message(&inst, "incoming", "s@example.org", &["r@example.net"]);
    defer(&inst, &a, "r@example.net", REASON);
    give_queue_to_mail_owner(&inst);

    let out = run(&inst, "postsuper", &["-h", &a], false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        format!("postsuper: {a}: placed on hold\npostsuper: Placed on hold: 1 message\n")
    );
    assert_eq!(files_in(&q.join("hold")), vec![a.clone()]);
    // Held, it still shows its reason, with `!`.
    let listing = text(&run(&inst, "postqueue", &["-p"], false).stdout);
    assert!(listing.contains(&format!("{a}!")), "{listing}");
    assert!(listing.contains(REASON), "{listing}");

    let out = run(&inst, "postsuper", &["-H", "ALL"], false);
    assert_eq!(
        text(&out.stderr),
        "postsuper: Released from hold: 1 message\n"
    );
    assert!(files_in(&q.join("deferred")).contains(&a));
    assert!(files_in(&q.join("hold")).is_empty());
    let due = std::fs::metadata(find(&q, &a).expect("path"))
        .and_then(|m| m.modified())
        .expect("mtime");
    assert!(due.elapsed().unwrap_or_default() < Duration::from_secs(60));

    let out = run(&inst, "postsuper", &["-r", &b], false);
    assert_eq!(
        text(&out.stderr),
        format!("postsuper: {b}: requeued\npostsuper: Requeued: 1 message\n")
    );
    assert_eq!(files_in(&q.join("maildrop")), vec![b.clone()]);

    let out = run(
        &inst,
        "postsuper",
        &["-d", &a, "-d", "bad/id", "-d", "4jWjHp5xLjz1T1Rg"],
        false,
    );
    assert_eq!(
        text(&out.stderr),
        format!(
            "postsuper: {a}: removed\npostsuper: warning: invalid mail queue id: bad/id\npostsuper: Deleted: 1 message\n"
        )
    );
    assert!(!files_in(&q.join("deferred")).contains(&a));
    assert!(
        files_in(&q.join("defer")).is_empty(),
        "defer log removed too"
    );
    assert!(inst.maillog().contains("postsuper["), "{}", inst.maillog());
    assert!(!inst.log_lines(&format!("{a}: removed")).is_empty());

    // Hold ALL leaves maildrop alone; IDs from standard input.
    let out = run(&inst, "postsuper", &["-h", "ALL"], false);
    assert_eq!(text(&out.stderr), "postsuper: Placed on hold: 1 message\n");
    assert_eq!(files_in(&q.join("hold")), vec![c.clone()]);
    let mut child = Command::new(inst.bin.join("postsuper"))
        .args(["-d", "-"])
        .env("MAIL_CONFIG", &inst.dir)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::io::Write::write_all(
        &mut child.stdin.take().expect("stdin"),
        format!("{c}\n").as_bytes(),
    )
    .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        text(&out.stderr).ends_with("postsuper: Deleted: 1 message\n"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&inst, "postsuper", &["-d", "ALL"], false);
    assert_eq!(text(&out.stderr), "postsuper: Deleted: 1 message\n");
    assert!(files_in(&q.join("maildrop")).is_empty());
    let empty = run(&inst, "postqueue", &["-p"], false);
    assert_eq!(text(&empty.stdout), "Mail queue is empty\n");
}

#[test]
fn postsuper_structure_check() {
    let inst = instance("qt-struct");
    let q = queue_dir(&inst);
    let (a, _) = message(&inst, "deferred", "s@example.org", &["r@example.net"]);
    let right = find(&q, &a).expect("path");
    // Misplaced: at the top of deferred/ instead of its hash subdirectory.
    std::fs::rename(&right, q.join("deferred").join(&a)).expect("move");
    std::fs::write(q.join("deferred/not.an.id"), b"x").expect("write");
    // A defer log whose message is gone, old enough to be stale.
    defer(&inst, "4jWjHp5xLjz1T1Rg", "r@example.net", REASON);
    let stale = queue::logs::path(&q, &spec(), Log::Defer, "4jWjHp5xLjz1T1Rg").expect("path");
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .and_then(|f| f.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600)))
        .expect("mtime");
    give_queue_to_mail_owner(&inst);
    let out = run(&inst, "postsuper", &["-s"], false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(right.is_file(), "moved into its hash directory");
    assert!(!stale.exists(), "orphaned defer log removed");
    let err = text(&out.stderr);
    assert!(
        err.contains("warning: bogus file name: deferred/not.an.id"),
        "{err}"
    );
    assert!(
        err.contains("4jWjHp5xLjz1T1Rg: removed orphaned defer log"),
        "{err}"
    );
}

/// Not an assertion: how long `postqueue -p` takes over 20,000 deferred
/// messages (with a defer log each) through showq.
#[test]
fn timing_20000_deferred() {
    let inst = instance("qt-timing");
    let q = queue_dir(&inst);
    let (id, _) = message(
        &inst,
        "deferred",
        "sender@example.org",
        &["rcpt@example.net"],
    );
    defer(&inst, &id, "rcpt@example.net", REASON);
    let path = find(&q, &id).expect("path");
    let bytes = std::fs::read(&path).expect("read");
    let log =
        std::fs::read(queue::logs::path(&q, &spec(), Log::Defer, &id).expect("log")).expect("read");
    let n = 20_000u64;
    let t0 = Instant::now();
    for i in 1..n {
        let qid =
            queue::QueueId::new(ARRIVAL, (i * 37 % 1_000_000) as u32, 1_000_000 + i).to_string();
        let p = spec().path(&q, "deferred", &qid).expect("path");
        let _ = std::fs::create_dir_all(p.parent().expect("dir"));
        std::fs::write(&p, &bytes).expect("write");
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .expect("chmod");
        let l = spec().path(&q, "defer", &qid).expect("path");
        let _ = std::fs::create_dir_all(l.parent().expect("dir"));
        std::fs::write(&l, &log).expect("write");
    }
    give_queue_to_mail_owner(&inst);
    eprintln!("created {n} messages in {:?}", t0.elapsed());
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let out = Command::new(inst.bin.join("postqueue"))
            .arg("-p")
            .env("MAIL_CONFIG", &inst.dir)
            .stdout(Stdio::piped())
            .output()
            .expect("run");
        best = best.min(t.elapsed());
        let s = text(&out.stdout);
        assert!(
            s.ends_with(&format!(" Kbytes in {n} Requests.\n")),
            "{}",
            &s[s.len().saturating_sub(200)..]
        );
    }
    eprintln!("postqueue -p over {n} deferred messages: best of 3 {best:?} (Postfix 3.7 here: about 0.35 s)");
}

/// An argument that is not UTF-8 is a usage error (exit 64, shown with
/// its bad bytes replaced) for every command, not a panic.
#[test]
fn arguments_that_are_not_utf8_are_usage_errors() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let inst = instance("args-utf8");
    let bad = OsStr::from_bytes(b"caf\xe9");
    for (program, before) in [
        ("postsuper", &["-d"][..]),
        ("postqueue", &["-i"][..]),
        ("postcat", &["-q"][..]),
        ("postdrop", &["-c"][..]),
        ("sendmail", &["-f"][..]),
        ("mailsuite", &["-c"][..]),
        ("postalias", &["-q"][..]),
    ] {
        let out = Command::new(inst.bin.join(program))
            .env("MAIL_CONFIG", &inst.dir)
            .args(before)
            .arg(bad)
            .stdin(Stdio::null())
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{program}: {err}");
        assert!(
            err.contains("argument is not UTF-8: \"caf\u{fffd}\""),
            "{program}: {err}"
        );
    }
}

/// Postfix's own `qshape` (a Perl script admins run as `qshape deferred`)
/// reads mailsuite's queue files: the same record types and text fields
/// (C, T, S, R, M, X, E) and the same 0700 mode for a finished file. It
/// finds queue_directory with the `postconf` first in PATH, which here is
/// mailsuite's.
#[test]
fn postfix_qshape_reads_the_queue() {
    if !kit::have("qshape") || !kit::have("perl") {
        eprintln!("skipped: qshape (Debian's postfix) or perl not installed");
        return;
    }
    let inst = instance("qshape");
    message(
        &inst,
        "deferred",
        "a@from.example",
        &["u@one.example", "v@two.example"],
    );
    message(
        &inst,
        "deferred",
        "b@from.example",
        &["w@two.example", "+done@three.example"],
    );
    message(&inst, "hold", "c@from.example", &["x@four.example"]);
    let path = format!(
        "{}:{}",
        inst.bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("qshape")
        .args(["-c", &inst.dir.display().to_string(), "deferred"])
        .env("PATH", &path)
        .output()
        .expect("qshape");
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}{}", text(&out.stderr));
    let counts: Vec<(String, String)> = report
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_string(), f.next()?.to_string()))
        })
        .collect();
    // A recipient marked done is a D record, as Postfix writes it, so
    // qshape leaves it out; the held message is not in deferred.
    let want = [("TOTAL", "3"), ("two.example", "2"), ("one.example", "1")];
    for (domain, n) in want {
        assert!(
            counts.iter().any(|(d, c)| d == domain && c == n),
            "{domain} {n}:\n{report}"
        );
    }
    assert!(
        !report.contains("four.example") && !report.contains("three.example"),
        "{report}"
    );
    let senders = Command::new("qshape")
        .args(["-c", &inst.dir.display().to_string(), "-s", "deferred"])
        .env("PATH", &path)
        .output()
        .expect("qshape -s");
    assert!(
        text(&senders.stdout).contains("from.example"),
        "{}",
        text(&senders.stdout)
    );
}

/// authorized_mailq_users and authorized_flush_users, as Postfix's
/// postqueue checks them: a user the list leaves out may neither list nor
/// flush the queue (through postqueue or sendmail), one it names may, and
/// root always may. authorized_submit_users stops sendmail the same way.
#[test]
fn the_queue_commands_obey_the_authorized_users_lists() {
    let Some(user) = kit::root_user("acl") else {
        return;
    };
    let account = nix::unistd::User::from_name(&user.name)
        .expect("getpwnam")
        .expect("the user exists");
    let uid = account.uid.as_raw();
    let inst = Instance::new("qt-acl");
    inst.main_cf(
        "authorized_mailq_users = root\nauthorized_flush_users = !nobody, root\nauthorized_submit_users = root\n",
    );
    inst.master_cf("showq unix n - n - - showq\n");
    inst.start();
    let (id, _) = message(&inst, "deferred", "s@example.org", &["r@example.net"]);
    give_queue_to_mail_owner(&inst);
    let as_user = |program: &str, args: &[&str], input: &[u8]| -> Output {
        let mut child = Command::new(inst.bin.join(program))
            .args(args)
            .env("MAIL_CONFIG", &inst.dir)
            .uid(uid)
            // setgid_group's, as the installed set-group-ID commands have.
            .gid(65534)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run as the user");
        let _ = std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), input);
        child.wait_with_output().expect("wait")
    };
    let listed = as_user("postqueue", &["-p"], b"");
    assert_eq!(listed.status.code(), Some(69), "{}", text(&listed.stdout));
    assert!(
        text(&listed.stderr).contains(&format!(
            "fatal: User {}({uid}) is not allowed to view the mail queue",
            user.name
        )),
        "{}",
        text(&listed.stderr)
    );
    let mailq = as_user("sendmail", &["-bp"], b"");
    assert_eq!(mailq.status.code(), Some(69));
    assert!(!text(&mailq.stdout).contains(&id));
    let flushed = as_user("postqueue", &["-f"], b"");
    assert_eq!(flushed.status.code(), Some(69));
    assert!(
        text(&flushed.stderr).contains("is not allowed to flush the mail queue"),
        "{}",
        text(&flushed.stderr)
    );
    let submitted = as_user("sendmail", &["r@example.net"], b"Subject: x\n\nbody\n");
    assert_eq!(submitted.status.code(), Some(75));
    assert!(
        text(&submitted.stderr).contains("is not allowed to submit mail"),
        "{}",
        text(&submitted.stderr)
    );
    // Root may, whatever the lists say.
    let root = run(&inst, "postqueue", &["-p"], false);
    assert!(text(&root.stdout).contains(&id), "{}", text(&root.stderr));
    // Named, the user may.
    inst.main_cf(&format!(
        "authorized_mailq_users = {0}\nauthorized_flush_users = {0}\n",
        user.name
    ));
    let listed = as_user("postqueue", &["-p"], b"");
    assert!(
        text(&listed.stdout).contains(&id),
        "{}",
        text(&listed.stderr)
    );
    // Past the list, to the queue manager (which this instance lacks).
    let flushed = as_user("postqueue", &["-f"], b"");
    assert!(
        text(&flushed.stderr).contains("Cannot flush mail queue - mail system is down"),
        "{}",
        text(&flushed.stderr)
    );
}
