//! Interoperability with the real Dovecot (Debian's `dovecot-core` and
//! `dovecot-pop3d`): a Maildir written by Dovecot keeps its UIDs,
//! UIDVALIDITY, flags and POP3 UIDLs when mailsuite serves it, and a
//! Maildir written by mailsuite keeps them when Dovecot serves it;
//! messages added or expunged on one side are seen by the other without
//! renumbering.
//!
//! Each test runs a private Dovecot instance in its own directory (own
//! `base_dir`, `state_dir`, log, a POP3 listener on a free loopback port,
//! one `passwd-file` user with the uid/gid of `nobody`), drives it with
//! `doveadm` (save, flags, fetch, mailbox status, expunge) and with its
//! POP3 server over loopback, and does mailsuite's side in a thread that
//! switched to the same uid/gid, so every file either side creates belongs
//! to the mail user. The tests skip (with a message) when not run as root
//! or when Dovecot is not installed.

mod common;

use common::TestDir;
use mailbox::maildir::{self, MaildirOptions};
use mailbox::maildir_store::{Maildir, MaildirOpenOptions};
use mailbox::pop3::Pop3Mailbox;
use mailbox::store::Flags;
use mailbox::wire::Part;
use mailbox::BytesSource;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DOVECOT: &str = "/usr/sbin/dovecot";
const DOVEADM: &str = "/usr/bin/doveadm";
const POP3_BIN: &str = "/usr/lib/dovecot/pop3";
/// The mail user: `nobody:nogroup`.
const MAIL_UID: u32 = 65534;
const MAIL_GID: u32 = 65534;
const USER: &str = "mstest";
const PASS: &str = "s3cret";

/// Whether the tests can run here; says why not otherwise.
fn can_run() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root (to run Dovecot and switch to the mail user)");
        return false;
    }
    for p in [DOVECOT, DOVEADM, POP3_BIN] {
        if !Path::new(p).exists() {
            eprintln!("skipped: {p} is missing (apt-get install dovecot-core dovecot-pop3d)");
            return false;
        }
    }
    true
}

/// Runs `f` in a thread whose credentials are the mail user's (the
/// raw syscalls change only the calling thread, so the rest of the test
/// process stays root).
fn as_user<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            let groups = [MAIL_GID as libc::gid_t];
            // SAFETY: plain system calls on this thread's credentials;
            // `groups` outlives the call.
            let rc = unsafe {
                [
                    libc::syscall(libc::SYS_setgroups, 1, groups.as_ptr()),
                    libc::syscall(libc::SYS_setresgid, MAIL_GID, MAIL_GID, MAIL_GID),
                    libc::syscall(libc::SYS_setresuid, MAIL_UID, MAIL_UID, MAIL_UID),
                ]
            };
            assert_eq!(rc, [0, 0, 0], "switch to the mail user");
            f()
        });
        match h.join() {
            Ok(v) => v,
            Err(e) => std::panic::resume_unwind(e),
        }
    })
}

/// A private Dovecot instance; stopped when dropped (also on panic).
struct Dovecot {
    root: PathBuf,
    conf: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Dovecot {
    /// Writes the configuration under `root` and starts Dovecot; the
    /// user's home is `root/home` (owned by the mail user), INBOX the
    /// Maildir `root/home/Maildir`.
    fn start(root: &Path) -> Dovecot {
        let home = root.join("home");
        std::fs::create_dir_all(&home).expect("create home");
        std::os::unix::fs::chown(&home, Some(MAIL_UID), Some(MAIL_GID)).expect("chown home");
        let passwd = root.join("passwd");
        std::fs::write(
            &passwd,
            format!(
                "{USER}:{{PLAIN}}{PASS}:{MAIL_UID}:{MAIL_GID}::{}::\n",
                home.display()
            ),
        )
        .expect("write passwd");
        let conf = root.join("dovecot.conf");
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let r = root.display();
            std::fs::write(
                &conf,
                format!(
                    "base_dir = {r}/base\n\
                     state_dir = {r}/state\n\
                     instance_name = mailsuite-test-{port}\n\
                     log_path = {r}/dovecot.log\n\
                     listen = 127.0.0.1\n\
                     protocols = pop3\n\
                     ssl = no\n\
                     disable_plaintext_auth = no\n\
                     auth_mechanisms = plain\n\
                     mail_location = maildir:{r}/home/Maildir\n\
                     passdb {{\n  driver = passwd-file\n  args = {r}/passwd\n}}\n\
                     userdb {{\n  driver = passwd-file\n  args = {r}/passwd\n}}\n\
                     service pop3-login {{\n  inet_listener pop3 {{\n    \
                     address = 127.0.0.1\n    port = {port}\n  }}\n}}\n"
                ),
            )
            .expect("write dovecot.conf");
            let child = Command::new(DOVECOT)
                .arg("-F")
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn dovecot");
            let mut dv = Dovecot {
                root: root.to_path_buf(),
                conf: conf.clone(),
                port,
                child: Some(child),
            };
            match dv.wait_ready() {
                Ok(()) => return dv,
                Err(e) => last_err = e,
            }
            // Dropping dv stops what started; try another port.
        }
        panic!("Dovecot did not start: {last_err}\n{}", log(root));
    }

    /// Waits until the POP3 listener greets as Dovecot.
    fn wait_ready(&mut self) -> Result<(), String> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    self.child = None;
                    return Err(format!("dovecot exited: {st}"));
                }
            }
            if let Ok(s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut line = String::new();
                let _ = BufReader::new(s).read_line(&mut line);
                if line.starts_with("+OK Dovecot") {
                    return Ok(());
                }
                return Err(format!("port {} greeted: {line:?}", self.port));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("no POP3 listener after 10 s".into())
    }

    /// Runs `doveadm -c CONF ARGS -u USER ...` with `stdin`; panics
    /// (with Dovecot's log) unless it succeeds. Returns stdout.
    fn doveadm(&self, cmd: &[&str], args: &[&str], stdin: &[u8]) -> String {
        let mut c = Command::new(DOVEADM);
        c.arg("-c").arg(&self.conf);
        c.args(cmd).args(["-u", USER]).args(args);
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn doveadm");
        child
            .stdin
            .take()
            .expect("doveadm stdin")
            .write_all(stdin)
            .expect("write doveadm stdin");
        let out = child.wait_with_output().expect("doveadm output");
        assert!(
            out.status.success(),
            "doveadm {cmd:?} {args:?}: {}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            log(&self.root)
        );
        String::from_utf8(out.stdout).expect("doveadm output is UTF-8")
    }

    /// `doveadm save`: Dovecot stores a message into INBOX.
    fn save(&self, msg: &[u8]) {
        self.doveadm(&["save"], &[], msg);
    }

    fn add_flag(&self, flag: &str, uid: u32) {
        self.doveadm(
            &["flags", "add"],
            &[flag, "mailbox", "INBOX", "uid", &uid.to_string()],
            b"",
        );
    }

    fn expunge(&self, uid: u32) {
        self.doveadm(
            &["expunge"],
            &["mailbox", "INBOX", "uid", &uid.to_string()],
            b"",
        );
    }

    /// `doveadm fetch 'uid flags'`: UID → sorted flags without `\Recent`.
    fn fetch(&self) -> BTreeMap<u32, Vec<String>> {
        let out = self.doveadm(
            &["-f", "flow", "fetch"],
            &["uid flags", "mailbox", "INBOX", "all"],
            b"",
        );
        let mut map = BTreeMap::new();
        for line in out.lines().filter(|l| !l.is_empty()) {
            // "uid=1 flags=\Seen \Recent"
            let rest = line
                .strip_prefix("uid=")
                .unwrap_or_else(|| panic!("fetch line {line:?}"));
            let (uid, flags) = rest
                .split_once(" flags=")
                .unwrap_or_else(|| panic!("fetch line {line:?}"));
            let uid: u32 = uid.parse().unwrap_or_else(|_| panic!("uid in {line:?}"));
            let mut f: Vec<String> = flags
                .split_ascii_whitespace()
                .filter(|f| *f != "\\Recent")
                .map(String::from)
                .collect();
            f.sort();
            map.insert(uid, f);
        }
        map
    }

    /// `doveadm mailbox status`: (UIDVALIDITY, UIDNEXT, MESSAGES).
    fn status(&self) -> (u32, u32, u32) {
        let out = self.doveadm(
            &["-f", "flow", "mailbox", "status"],
            &["uidvalidity uidnext messages", "INBOX"],
            b"",
        );
        let get = |key: &str| -> u32 {
            out.split_ascii_whitespace()
                .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{key} in {out:?}"))
        };
        (get("uidvalidity"), get("uidnext"), get("messages"))
    }

    /// A logged-in POP3 session with Dovecot's pop3 server.
    fn pop3(&self) -> Pop3Client {
        let s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to Dovecot POP3");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut c = Pop3Client {
            r: BufReader::new(s.try_clone().expect("clone stream")),
            w: s,
        };
        let greeting = c.line();
        assert!(greeting.starts_with("+OK"), "greeting {greeting:?}");
        c.ok(&format!("USER {USER}"));
        c.ok(&format!("PASS {PASS}"));
        c
    }
}

fn log(root: &Path) -> String {
    format!(
        "--- dovecot.log ---\n{}",
        std::fs::read_to_string(root.join("dovecot.log")).unwrap_or_default()
    )
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // kill $(cat BASE_DIR/master.pid), then wait for the master.
        let pid = std::fs::read_to_string(self.root.join("base/master.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<libc::pid_t>().ok())
            .filter(|p| *p > 1)
            .unwrap_or(child.id() as libc::pid_t);
        // SAFETY: sends SIGTERM to the Dovecot master this test started.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Just enough of a POP3 client.
struct Pop3Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Pop3Client {
    fn line(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).expect("read from POP3 server");
        l.trim_end_matches(['\r', '\n']).to_string()
    }

    fn ok(&mut self, cmd: &str) -> String {
        self.w
            .write_all(format!("{cmd}\r\n").as_bytes())
            .expect("write to POP3 server");
        let l = self.line();
        assert!(l.starts_with("+OK"), "{cmd}: {l:?}");
        l
    }

    /// A multi-line answer, dot-unstuffed, as raw bytes (CRLF kept).
    fn multi(&mut self, cmd: &str) -> Vec<u8> {
        self.ok(cmd);
        let mut out = Vec::new();
        loop {
            let mut l = Vec::new();
            let n = self
                .r
                .read_until(b'\n', &mut l)
                .expect("read from POP3 server");
            assert!(n > 0, "{cmd}: connection closed");
            if l == b".\r\n" {
                return out;
            }
            let l = if l.starts_with(b"..") {
                &l[1..]
            } else {
                &l[..]
            };
            out.extend_from_slice(l);
        }
    }

    /// UIDL or LIST: number → second word.
    fn listing(&mut self, cmd: &str) -> Vec<(usize, String)> {
        let text = String::from_utf8(self.multi(cmd)).expect("listing is text");
        text.lines()
            .map(|l| {
                let (n, v) = l
                    .split_once(' ')
                    .unwrap_or_else(|| panic!("{cmd} line {l:?}"));
                (
                    n.parse().unwrap_or_else(|_| panic!("{cmd} line {l:?}")),
                    v.to_string(),
                )
            })
            .collect()
    }

    fn quit(mut self) {
        self.ok("QUIT");
        let mut rest = Vec::new();
        let _ = self.r.read_to_end(&mut rest);
    }
}

/// What a POP3 server shows of one message: number, UIDL, size.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pop3Entry {
    n: usize,
    uidl: String,
    size: u64,
}

/// Dovecot's POP3 UIDL and LIST, merged.
fn dovecot_pop3_list(c: &mut Pop3Client) -> Vec<Pop3Entry> {
    let uidl = c.listing("UIDL");
    let list = c.listing("LIST");
    assert_eq!(uidl.len(), list.len(), "UIDL and LIST disagree");
    uidl.into_iter()
        .zip(list)
        .map(|((n, u), (n2, s))| {
            assert_eq!(n, n2);
            Pop3Entry {
                n,
                uidl: u,
                size: s.parse().expect("LIST size"),
            }
        })
        .collect()
}

/// mailsuite's POP3 view of the Maildir.
fn mailsuite_pop3_list(p: &Pop3Mailbox) -> Vec<Pop3Entry> {
    p.messages()
        .iter()
        .enumerate()
        .map(|(i, m)| Pop3Entry {
            n: i + 1,
            uidl: m.uidl.clone(),
            size: m.size,
        })
        .collect()
}

/// The IMAP names of a Maildir file's system flags, sorted, as doveadm
/// prints them.
fn imap_flags(f: Flags) -> Vec<String> {
    let mut v: Vec<String> = [
        (Flags::SEEN, "\\Seen"),
        (Flags::FLAGGED, "\\Flagged"),
        (Flags::REPLIED, "\\Answered"),
        (Flags::DRAFT, "\\Draft"),
        (Flags::TRASHED, "\\Deleted"),
    ]
    .iter()
    .filter(|(x, _)| f.contains(*x))
    .map(|(_, n)| n.to_string())
    .collect();
    v.sort();
    v
}

fn mailsuite_flags(m: &Maildir) -> BTreeMap<u32, Vec<String>> {
    m.messages()
        .iter()
        .map(|x| (x.uid, imap_flags(x.flags())))
        .collect()
}

fn open_opts() -> MaildirOpenOptions {
    MaildirOpenOptions {
        create: false,
        ..MaildirOpenOptions::default()
    }
}

fn message(n: u32) -> Vec<u8> {
    format!(
        "From: sender{n}@example.com\nTo: {USER}@example.com\nSubject: message {n}\n\n\
         body of message {n}\n.a line that starts with a dot\n\nlast line {n}\n"
    )
    .into_bytes()
}

/// Asserts byte-identical UIDLs last, after every other check, with the
/// case-insensitive comparison first so a case-only difference is named.
fn assert_same_uidls(dovecot: &[Pop3Entry], mailsuite: &[Pop3Entry]) {
    let lower = |v: &[Pop3Entry]| -> Vec<String> {
        v.iter().map(|e| e.uidl.to_ascii_lowercase()).collect()
    };
    assert_eq!(lower(dovecot), lower(mailsuite), "UIDLs differ");
    let exact = |v: &[Pop3Entry]| -> Vec<String> { v.iter().map(|e| e.uidl.clone()).collect() };
    assert_eq!(
        exact(dovecot),
        exact(mailsuite),
        "UIDLs differ only in letter case: Dovecot's %08Xu%08Xv is lower-case hex"
    );
}

#[test]
fn dovecot_first_then_mailsuite() {
    if !can_run() {
        return;
    }
    let d = TestDir::new("dovecot_first");
    let dv = Dovecot::start(d.path());
    let md = d.join("home/Maildir");
    for n in 1..=3 {
        dv.save(&message(n));
    }
    dv.add_flag("\\Seen", 1);
    dv.add_flag("\\Flagged", 2);
    let dv_flags = dv.fetch();
    let (validity, uidnext, count) = dv.status();
    assert_eq!(count, 3);
    assert_eq!(uidnext, 4);
    let want: BTreeMap<u32, Vec<String>> = [
        (1, vec!["\\Seen".to_string()]),
        (2, vec!["\\Flagged".to_string()]),
        (3, vec![]),
    ]
    .into_iter()
    .collect();
    assert_eq!(dv_flags, want, "Dovecot's own view");
    // Dovecot's POP3 server: UIDL and LIST only (RETR would set \Seen).
    let mut c = dv.pop3();
    let dv_pop3 = dovecot_pop3_list(&mut c);
    c.quit();
    assert_eq!(dv_pop3.len(), 3);

    // mailsuite opens the same Maildir, as the mail user.
    let (ms_validity, ms_next, ms_uids, ms_flags, ms_pop3, bodies) = as_user(|| {
        let mut m = Maildir::open(&md, open_opts()).expect("mailsuite opens Dovecot's Maildir");
        let uids: Vec<u32> = m.messages().iter().map(|x| x.uid).collect();
        let bodies: Vec<Vec<u8>> = (0..m.messages().len())
            .map(|i| m.read_message(i).expect("read"))
            .collect();
        let p = Pop3Mailbox::open_maildir(&md, open_opts()).expect("pop3 open");
        (
            m.uid_validity(),
            m.next_uid(),
            uids,
            mailsuite_flags(&m),
            mailsuite_pop3_list(&p),
            bodies,
        )
    });
    assert_eq!(ms_validity, validity, "UIDVALIDITY");
    assert_eq!(ms_next, uidnext, "next UID");
    assert_eq!(ms_uids, vec![1, 2, 3]);
    assert_eq!(ms_flags, dv_flags, "flags");
    let bodies_want: Vec<Vec<u8>> = (1..=3).map(message).collect();
    assert_eq!(bodies, bodies_want, "message contents");
    let sizes =
        |v: &[Pop3Entry]| -> Vec<(usize, u64)> { v.iter().map(|e| (e.n, e.size)).collect() };
    assert_eq!(sizes(&ms_pop3), sizes(&dv_pop3), "POP3 LIST sizes");

    // Dovecot still sees the same after mailsuite moved new/ to cur/ and
    // rewrote dovecot-uidlist.
    assert_eq!(dv.fetch(), dv_flags, "Dovecot after mailsuite");
    assert_eq!(dv.status(), (validity, uidnext, 3));
    let mut c = dv.pop3();
    let dv_pop3_again = dovecot_pop3_list(&mut c);
    c.quit();
    assert_eq!(dv_pop3_again, dv_pop3, "Dovecot's POP3 after mailsuite");

    assert_same_uidls(&dv_pop3, &ms_pop3);
}

#[test]
fn mailsuite_first_then_dovecot() {
    if !can_run() {
        return;
    }
    let d = TestDir::new("mailsuite_first");
    let dv = Dovecot::start(d.path());
    let md = d.join("home/Maildir");
    let opts = MaildirOptions {
        hostname: Some("mailsuite.test".into()),
        ..MaildirOptions::default()
    };
    let (mut m, ms_pop3, ms_bodies) = as_user(|| {
        for n in 1..=3 {
            maildir::deliver(&md, &mut BytesSource::new(&message(n)), &opts)
                .expect("mailsuite delivers");
        }
        let mut m = Maildir::open(&md, open_opts()).expect("mailsuite opens");
        m.change_flags(0, Flags::SEEN, Flags::NONE).expect("flag");
        m.change_flags(1, Flags::FLAGGED.union(Flags::REPLIED), Flags::NONE)
            .expect("flag");
        let mut p = Pop3Mailbox::open_maildir(&md, open_opts()).expect("pop3 open");
        let list = mailsuite_pop3_list(&p);
        let bodies: Vec<Vec<u8>> = (1..=3)
            .map(|n| {
                let mut b = Vec::new();
                p.reader(n, Part::Whole)
                    .expect("RETR")
                    .read_to_end(&mut b)
                    .expect("read");
                b
            })
            .collect();
        // No QUIT: this session changes nothing.
        drop(p);
        (m, list, bodies)
    });
    let ms_uids: Vec<u32> = m.messages().iter().map(|x| x.uid).collect();
    assert_eq!(ms_uids, vec![1, 2, 3]);
    let ms_flags = mailsuite_flags(&m);

    // Dovecot serves mailsuite's Maildir.
    assert_eq!(dv.fetch(), ms_flags, "Dovecot's UIDs and flags");
    assert_eq!(
        dv.status(),
        (m.uid_validity(), m.next_uid(), 3),
        "Dovecot's UIDVALIDITY, UIDNEXT"
    );
    let mut c = dv.pop3();
    let dv_pop3 = dovecot_pop3_list(&mut c);
    let sizes =
        |v: &[Pop3Entry]| -> Vec<(usize, u64)> { v.iter().map(|e| (e.n, e.size)).collect() };
    assert_eq!(sizes(&dv_pop3), sizes(&ms_pop3), "POP3 LIST sizes");
    for (n, body) in (1..=3).zip(&ms_bodies) {
        assert_eq!(
            &c.multi(&format!("RETR {n}")),
            body,
            "RETR {n}: Dovecot and mailsuite send the same bytes"
        );
    }
    c.quit();
    // RETR made every message \Seen in Dovecot.
    let dv_flags = dv.fetch();
    assert!(dv_flags.values().all(|f| f.contains(&"\\Seen".to_string())));

    // Dovecot adds a 4th message; mailsuite's sync numbers it next.
    dv.save(&message(4));
    let dv_flags = dv.fetch();
    assert_eq!(
        dv_flags.keys().copied().collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    let before: Vec<(u32, String)> = m
        .messages()
        .iter()
        .map(|x| (x.uid, x.name.base().to_string()))
        .collect();
    let max = m.messages().iter().map(|x| x.uid).max().expect("messages");
    let (ch, ms_pop3_4) = as_user(|| {
        let ch = m.sync().expect("sync");
        let p = Pop3Mailbox::open_maildir(&md, open_opts()).expect("pop3 open");
        (ch, mailsuite_pop3_list(&p))
    });
    assert_eq!(ch.new, vec![max + 1], "Dovecot's new message");
    assert!(ch.expunged.is_empty());
    assert_eq!(ch.flags_changed, vec![2, 3], "\\Seen set by Dovecot's RETR");
    let after: Vec<(u32, String)> = m
        .messages()
        .iter()
        .map(|x| (x.uid, x.name.base().to_string()))
        .take(3)
        .collect();
    assert_eq!(after, before, "the first three keep their UIDs");
    assert_eq!(mailsuite_flags(&m), dv_flags, "flags after sync");
    assert_eq!(m.next_uid(), dv.status().1);
    assert_eq!(
        m.read_message(3).expect("read 4th"),
        message(4),
        "Dovecot's message read by mailsuite"
    );
    let mut c = dv.pop3();
    let dv_pop3_4 = dovecot_pop3_list(&mut c);
    c.quit();
    assert_eq!(sizes(&dv_pop3_4), sizes(&ms_pop3_4), "POP3 LIST sizes");

    assert_same_uidls(&dv_pop3, &ms_pop3);
    assert_same_uidls(&dv_pop3_4, &ms_pop3_4);
}

#[test]
fn expunges_seen_on_both_sides_without_renumbering() {
    if !can_run() {
        return;
    }
    let d = TestDir::new("dovecot_expunge");
    let dv = Dovecot::start(d.path());
    let md = d.join("home/Maildir");
    for n in 1..=4 {
        dv.save(&message(n));
    }
    let (validity, _, _) = dv.status();
    let mut m = as_user(|| Maildir::open(&md, open_opts()).expect("open"));
    assert_eq!(
        m.messages().iter().map(|x| x.uid).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    // Dovecot expunges UID 2: mailsuite sees it gone, the rest unchanged.
    dv.expunge(2);
    let ch = as_user(|| m.sync().expect("sync"));
    assert_eq!(ch.expunged, vec![2]);
    assert!(ch.new.is_empty());
    assert_eq!(
        m.messages().iter().map(|x| x.uid).collect::<Vec<_>>(),
        vec![1, 3, 4]
    );
    // mailsuite expunges UID 3 (POP3 DELE + QUIT): Dovecot agrees.
    as_user(|| {
        let mut p = Pop3Mailbox::open_maildir(&md, open_opts()).expect("pop3");
        let n = p.messages().iter().position(|x| x.uid == 3).expect("uid 3") + 1;
        assert!(p.mark_deleted(n));
        assert_eq!(p.commit().expect("quit"), 1);
    });
    assert_eq!(dv.fetch().keys().copied().collect::<Vec<_>>(), vec![1, 4]);
    assert_eq!(dv.status(), (validity, 5, 2));
    // New mail on either side takes the next UID, never a freed one.
    dv.save(&message(5));
    let uid6 = as_user(|| {
        maildir::deliver(
            &md,
            &mut BytesSource::new(&message(6)),
            &MaildirOptions::default(),
        )
        .expect("deliver");
        let ch = m.sync().expect("sync");
        assert_eq!(ch.new, vec![5, 6]);
        m.messages().last().map(|x| x.uid)
    });
    assert_eq!(uid6, Some(6));
    assert_eq!(m.uid_validity(), validity);
    assert_eq!(
        dv.fetch().keys().copied().collect::<Vec<_>>(),
        vec![1, 4, 5, 6]
    );
    assert_eq!(dv.status(), (validity, 7, 4));
    let mut c = dv.pop3();
    let dv_pop3 = dovecot_pop3_list(&mut c);
    c.quit();
    let ms_pop3 = as_user(|| {
        mailsuite_pop3_list(&Pop3Mailbox::open_maildir(&md, open_opts()).expect("pop3"))
    });
    assert_eq!(
        ms_pop3.iter().map(|e| e.size).collect::<Vec<_>>(),
        dv_pop3.iter().map(|e| e.size).collect::<Vec<_>>()
    );
    assert_same_uidls(&dv_pop3, &ms_pop3);
}
