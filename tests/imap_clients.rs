//! imapd against the real clients people point at an IMAP server, and
//! against the real Dovecot:
//!
//! - mbsync (isync) mirrors a 5,000-message Maildir to a local one
//!   byte for byte, then syncs changes made on both sides both ways,
//!   then finds nothing to do (no body fetched) on a third run;
//! - curl lists mailboxes, fetches by UID and section, searches and
//!   uploads (APPEND);
//! - s-nail reads INBOX over IMAP in batch mode and moves a message to
//!   another folder;
//! - one imaplib scenario (LIST, CREATE, SELECT, FETCH, STORE, COPY,
//!   MOVE, EXPUNGE, SEARCH, STATUS, RENAME, DELETE) runs against imapd
//!   and against a private Dovecot on identical copies of a Maildir and
//!   must print the same; then each server opens the Maildir the other
//!   one used and both must show the same UIDVALIDITY, UIDs, flags and
//!   keywords (a migration in either direction).
//!
//! The mail user is a passwd-file user, so this runs as root (with an
//! unused uid) and as an ordinary user; the Dovecot test needs root and
//! skips otherwise, as each test does when its client is not installed.

use kit::{field, have, is_root, python_lines, Instance};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

const SECOND: Duration = Duration::from_secs(1);
const PASSWORD: &str = "demo-secret";

/// A mailsuite instance with imapd, auth and passwd-file users whose
/// homes are `vmail/NAME` in the instance directory.
struct Imap {
    inst: Instance,
    uid: u32,
    gid: u32,
    users: Vec<(String, PathBuf)>,
}

impl Imap {
    /// Users are `NAME@example.test` with password [`PASSWORD`]; the
    /// second element is the home to use (None: `vmail/NAME`).
    fn new(name: &str, users: &[(&str, Option<&Path>)]) -> Imap {
        let inst = Instance::new(name);
        let (uid, gid) = if is_root() {
            let n = 61_000 + std::process::id() % 1000;
            (n, n)
        } else {
            // SAFETY: getuid/getgid cannot fail.
            unsafe { (libc::getuid(), libc::getgid()) }
        };
        let mut list = Vec::new();
        let mut passwd = String::new();
        for (u, home) in users {
            let home = home
                .map(Path::to_path_buf)
                .unwrap_or_else(|| inst.dir.join("vmail").join(u));
            let maildir = home.join("Maildir");
            for d in ["tmp", "new", "cur"] {
                std::fs::create_dir_all(maildir.join(d)).expect("mkdir");
            }
            passwd.push_str(&format!(
                "{u}@example.test:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{}::\n",
                home.display()
            ));
            list.push((u.to_string(), home));
        }
        let file = inst.dir.join("users");
        std::fs::write(&file, passwd).expect("users");
        inst.main_cf(&format!(
            "passdb = passwd-file:{}\nmail_location = maildir:~/Maildir\nauth_failure_delay = 0\nfirst_valid_uid = 1000\n",
            file.display()
        ));
        inst.master_cf("auth unix - - n - - auth\n[127.0.0.1]:0 inet n n n - - imapd\n");
        let imap = Imap {
            inst,
            uid,
            gid,
            users: list,
        };
        imap.own_all();
        imap
    }

    fn maildir(&self, user: &str) -> PathBuf {
        self.users
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, h)| h.join("Maildir"))
            .expect("user")
    }

    /// Gives every home to the mail user (as root).
    fn own_all(&self) {
        for (_, home) in &self.users {
            self.own(home);
        }
    }

    fn own(&self, path: &Path) {
        if is_root() {
            let out = Command::new("chown")
                .arg("-R")
                .arg(format!("{}:{}", self.uid, self.gid))
                .arg(path)
                .output()
                .expect("chown");
            assert!(out.status.success(), "chown {}", path.display());
        }
    }

    fn start(&self) -> u16 {
        self.inst.start();
        self.inst.port("[127.0.0.1]:0")
    }
}

/// Writes `text` as a Maildir message `name` in `sub` (new or cur) of
/// `maildir`, through tmp/ as a delivery does, with mtime `time`.
fn put(maildir: &Path, sub: &str, name: &str, text: &[u8], time: u64) {
    let tmp = maildir
        .join("tmp")
        .join(name.split(':').next().expect("name"));
    std::fs::write(&tmp, text).expect("write message");
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(time);
    std::fs::File::options()
        .write(true)
        .open(&tmp)
        .and_then(|f| f.set_modified(t))
        .expect("mtime");
    std::fs::rename(&tmp, maildir.join(sub).join(name)).expect("rename");
}

/// The message files of a Maildir (new/ and cur/): Message-ID → (flags
/// from the name, bytes with CRLF as LF and without the `X-TUID:`
/// header mbsync adds to each message it copies).
fn maildir_messages(maildir: &Path) -> BTreeMap<String, (String, Vec<u8>)> {
    let mut map = BTreeMap::new();
    for sub in ["new", "cur"] {
        let Ok(rd) = std::fs::read_dir(maildir.join(sub)) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let mut flags: Vec<char> = name
                .split_once(":2,")
                .map(|(_, f)| f.chars().filter(char::is_ascii_uppercase).collect())
                .unwrap_or_default();
            flags.sort();
            let flags: String = flags.into_iter().collect();
            let bytes = std::fs::read(e.path()).expect("read message");
            let lf = without_tuid(&lf_only(&bytes));
            let text = String::from_utf8_lossy(&lf);
            let id = text
                .lines()
                .find_map(|l| l.strip_prefix("Message-ID: "))
                .unwrap_or_else(|| panic!("no Message-ID in {name}"))
                .to_string();
            assert!(
                map.insert(id.clone(), (flags, lf)).is_none(),
                "{id} twice in {}",
                maildir.display()
            );
        }
    }
    map
}

fn without_tuid(b: &[u8]) -> Vec<u8> {
    let end = b.windows(2).position(|w| w == b"\n\n").unwrap_or(b.len());
    let mut v = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let nl = b[i..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(b.len(), |p| i + p + 1);
        if !(i < end && b[i..].starts_with(b"X-TUID: ")) {
            v.extend_from_slice(&b[i..nl]);
        }
        i = nl;
    }
    v
}

fn lf_only(b: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(b.len());
    for (i, &c) in b.iter().enumerate() {
        if c == b'\r' && b.get(i + 1) == Some(&b'\n') {
            continue;
        }
        v.push(c);
    }
    v
}

/// Message `i` of the generated mailbox: a few headers, a body whose
/// length varies, and some UTF-8 so that bytes are bytes.
fn generated(i: u32, tag: &str) -> Vec<u8> {
    let mut m = format!(
        "Return-Path: <sender{i}@example.org>\nFrom: Sender {i} <sender{i}@example.org>\nTo: demo@example.test\nSubject: {tag} message {i}\nDate: Tue, 14 Nov 2023 22:13:20 +0000\nMessage-ID: <{i}.{tag}@example.test>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
    );
    for l in 0..(i % 40 + 1) {
        m.push_str(&format!(
            "line {l} of message {i}: Grüße, ünïcödé and a long enough line to fill a mailbox\n"
        ));
    }
    m.into_bytes()
}

// ---------------------------------------------------------------- mbsync

fn mbsync(conf: &Path, extra: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let out = Command::new("mbsync")
        .arg("-c")
        .arg(conf)
        .args(extra)
        .arg("-a")
        .stdin(Stdio::null())
        .output()
        .expect("mbsync");
    (out, start.elapsed())
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn mbsync_mirrors_5000_messages_and_syncs_both_ways() {
    if !have("mbsync") {
        eprintln!("skipped: no mbsync (apt-get install isync)");
        return;
    }
    let started = Instant::now();
    let imap = Imap::new("imapmbsync", &[("demo", None)]);
    let far = imap.maildir("demo");
    // 5,000 messages straight into cur/, every 7th already \Seen.
    const N: u32 = 5000;
    for i in 1..=N {
        let flags = if i % 7 == 0 { "S" } else { "" };
        let name = format!("{}.M{i}P1.gen:2,{flags}", 1_600_000_000 + i);
        put(
            &far,
            "cur",
            &name,
            &generated(i, "mb"),
            1_600_000_000 + u64::from(i),
        );
    }
    imap.own_all();
    let port = imap.start();
    let near = imap.inst.dir.join("near");
    std::fs::create_dir_all(&near).expect("near");
    let conf = imap.inst.dir.join("mbsyncrc");
    std::fs::write(
        &conf,
        format!(
            "IMAPAccount far\nHost 127.0.0.1\nPort {port}\nUser demo@example.test\nPass {PASSWORD}\nSSLType None\nAuthMechs LOGIN\nTimeout 30\n\n\
             IMAPStore far\nAccount far\n\n\
             MaildirStore near\nPath {n}/\nInbox {n}/INBOX\n\n\
             Channel mirror\nFar :far:\nNear :near:\nPatterns INBOX\nCreate Both\nExpunge Both\nSyncState *\nSync All\n",
            n = near.display()
        ),
    )
    .expect("mbsyncrc");

    // 1. The first sync pulls everything, byte for byte.
    let (out, took) = mbsync(&conf, &[]);
    assert!(out.status.success(), "mbsync: {}", text(&out));
    eprintln!("mbsync: first sync of {N} in {took:?}");
    // One command per body: imapd must not rescan the Maildir for each
    // (that took 282 s here; Dovecot needs about 2 s).
    assert!(took < 45 * SECOND, "first sync took {took:?}");
    let near_inbox = near.join("INBOX");
    let theirs = maildir_messages(&near_inbox);
    let ours = maildir_messages(&far);
    assert_eq!(theirs.len(), N as usize);
    for (id, (flags, bytes)) in &ours {
        let (f, b) = theirs.get(id).unwrap_or_else(|| panic!("{id} not synced"));
        assert!(b == bytes, "{id}: bytes differ");
        assert_eq!(f, flags, "{id}: flags");
    }
    // The raw files too: the server's are LF, so mbsync's must be
    // identical but for the one header it adds.
    let raw = |dir: &Path, id: u32| -> Vec<u8> {
        let needle = format!("Message-ID: <{id}.mb@example.test>");
        for sub in ["cur", "new"] {
            for e in std::fs::read_dir(dir.join(sub)).expect("dir").flatten() {
                let b = std::fs::read(e.path()).expect("read");
                if String::from_utf8_lossy(&b).contains(&needle) {
                    return b;
                }
            }
        }
        panic!("{id} in {}", dir.display())
    };
    for id in [1, 1234, N] {
        let (n, f) = (raw(&near_inbox, id), raw(&far, id));
        assert!(n != f && without_tuid(&n) == f, "message {id}");
    }

    // 2. Changes on both sides.
    // Near: flag messages 10..=19, mark 20..=24 seen, add 3 messages.
    let mut flagged = Vec::new();
    // Listed before any rename: a file renamed within cur/ while
    // read_dir walks it may be listed again under its new name.
    let listed: Vec<std::fs::DirEntry> = ["cur", "new"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(near_inbox.join(sub)).expect("near"))
        .flatten()
        .collect();
    for e in listed {
        let b = std::fs::read(e.path()).expect("read");
        let t = String::from_utf8_lossy(&b);
        let Some(i) = t
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: <"))
            .and_then(|r| r.split('.').next())
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let add = match i {
            10..=19 => 'F',
            20..=24 => 'S',
            _ => continue,
        };
        let name = e.file_name().to_string_lossy().into_owned();
        let (base, flags) = name.split_once(":2,").unwrap_or((&name, ""));
        let mut f: Vec<char> = flags.chars().chain([add]).collect();
        f.sort();
        f.dedup();
        let new = format!("{base}:2,{}", f.into_iter().collect::<String>());
        std::fs::rename(e.path(), near_inbox.join("cur").join(new)).expect("flag");
        if add == 'F' {
            flagged.push(i);
        }
    }
    assert_eq!(flagged.len(), 10);
    for i in 1..=3 {
        let name = format!("{}.M{i}P2.near", 1_700_000_000 + i);
        put(
            &near_inbox,
            "new",
            &name,
            &generated(i, "near"),
            1_700_000_000 + u64::from(i),
        );
    }
    // Far: another client deletes 4001..=4020 (STORE \Deleted, EXPUNGE);
    // 5 deliveries arrive in new/.
    let script = r#"
import imaplib, sys
M = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
M.login("demo@example.test", sys.argv[2])
M.select("INBOX")
typ, data = M.store("4001:4020", "+FLAGS.SILENT", r"(\Deleted)")
assert typ == "OK", data
typ, data = M.expunge()
print("expunged", len(data))
M.logout()
"#;
    let out = python_lines(&[], script, &[&port.to_string(), PASSWORD]);
    assert_eq!(field(&out, "expunged"), "20");
    for i in 1..=5 {
        let name = format!("{}.M{i}P3.far", 1_700_000_100 + i);
        put(
            &far,
            "new",
            &name,
            &generated(i, "far"),
            1_700_000_100 + u64::from(i),
        );
    }
    imap.own(&far);
    let (out, took) = mbsync(&conf, &[]);
    assert!(out.status.success(), "mbsync: {}", text(&out));
    eprintln!("mbsync: second sync in {took:?}");
    let theirs = maildir_messages(&near_inbox);
    let ours = maildir_messages(&far);
    let want = N as usize - 20 + 5 + 3;
    assert_eq!(ours.len(), want, "server side");
    assert_eq!(theirs.len(), want, "near side");
    for (id, (flags, bytes)) in &ours {
        let (f, b) = theirs
            .get(id)
            .unwrap_or_else(|| panic!("{id} not on the near side"));
        assert!(b == bytes, "{id}: bytes differ");
        assert_eq!(f, flags, "{id}: flags");
    }
    for i in &flagged {
        let id = format!("<{i}.mb@example.test>");
        assert!(
            ours[&id].0.contains('F'),
            "{id} not \\Flagged on the server"
        );
    }
    assert!(ours["<22.mb@example.test>"].0.contains('S'));
    assert!(ours.contains_key("<2.near@example.test>"));
    assert!(theirs.contains_key("<5.far@example.test>"));
    assert!(!theirs.contains_key("<4010.mb@example.test>"));
    // The server agrees over IMAP: count, and the flags of two.
    let script = r#"
import imaplib, sys
M = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
M.login("demo@example.test", sys.argv[2])
typ, data = M.select("INBOX", readonly=True)
print("exists", data[0].decode())
typ, data = M.search(None, "FLAGGED")
print("flagged", len(data[0].split()))
typ, data = M.search(None, "HEADER", "Message-ID", "near@example.test")
print("uploaded", len(data[0].split()))
M.logout()
"#;
    let out = python_lines(&[], script, &[&port.to_string(), PASSWORD]);
    assert_eq!(field(&out, "exists"), want.to_string());
    assert_eq!(field(&out, "flagged"), "10");
    assert_eq!(field(&out, "uploaded"), "3");

    // 3. Nothing to do: no message fetched or stored, quickly.
    let (out, took) = mbsync(&conf, &["-Dn"]);
    let log = text(&out);
    assert!(out.status.success(), "mbsync: {log}");
    let bodies: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(">>>") && (l.contains("BODY") || l.contains("APPEND")))
        .collect();
    assert!(bodies.is_empty(), "idle sync fetched or stored: {bodies:?}");
    assert!(
        log.lines()
            .any(|l| l.contains(">>>") && l.contains("FETCH")),
        "mbsync -D n shows no traffic: {}",
        &log[..log.len().min(2000)]
    );
    assert!(took < 10 * SECOND, "idle sync took {took:?}");
    let sent: Vec<&str> = log.lines().filter(|l| l.contains(">>>")).collect();
    eprintln!("mbsync: idle sync sent {sent:?}");
    assert_eq!(maildir_messages(&near_inbox).len(), want);
    eprintln!(
        "mbsync: idle sync in {took:?}, whole test {:?}",
        started.elapsed()
    );
    imap.inst.stop();
}

// ---------------------------------------------------------------- curl

/// A small INBOX: three messages (the third multipart) in new/.
fn small_inbox(maildir: &Path) {
    let msgs: [&[u8]; 3] = [
        b"From: a@example.org\nSubject: message one\nMessage-ID: <1.small@example.test>\n\nbody one\n",
        b"From: b@example.org\nSubject: message two\nMessage-ID: <2.small@example.test>\n\nbody two\nline 2\n",
        MULTIPART.as_bytes(),
    ];
    for (i, m) in msgs.iter().enumerate() {
        let n = i as u64 + 1;
        put(
            maildir,
            "new",
            &format!("{}.M{n}P1.small", 1_700_000_000 + n),
            m,
            1_700_000_000 + n,
        );
    }
}

const MULTIPART: &str = "From: Sender <sender@example.org>\nTo: someone@example.test\nSubject: message three\nMessage-ID: <3.small@example.test>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XX\"\n\n--XX\nContent-Type: text/plain; charset=utf-8\n\nattachment-text in the first part\n--XX\nContent-Type: application/octet-stream; name=\"a.bin\"\nContent-Transfer-Encoding: base64\n\nAAECAwQFBgcICQ==\n--XX--\n";

fn curl(port: u16, path: &str, extra: &[&str]) -> (bool, Vec<u8>, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--user"])
        .arg(format!("demo@example.test:{PASSWORD}"))
        .args(extra)
        .arg(format!("imap://127.0.0.1:{port}/{path}"))
        .stdin(Stdio::null())
        .output()
        .expect("curl");
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn curl_lists_fetches_searches_and_uploads() {
    if !have("curl") {
        eprintln!("skipped: no curl");
        return;
    }
    let imap = Imap::new("imapcurl", &[("demo", None)]);
    let md = imap.maildir("demo");
    small_inbox(&md);
    imap.own_all();
    let port = imap.start();
    // The root URL lists the mailboxes.
    let (ok, out, err) = curl(port, "", &[]);
    assert!(ok, "curl list: {err}");
    let list = String::from_utf8_lossy(&out).into_owned();
    for name in ["INBOX", "Sent", "Drafts", "Trash", "Junk"] {
        assert!(
            list.lines()
                .any(|l| l.starts_with("* LIST (") && l.ends_with(&format!(" {name}"))),
            "{name} in {list}"
        );
    }
    // A whole message by UID, CRLF on the wire.
    let (ok, out, err) = curl(port, "INBOX;UID=2", &[]);
    assert!(ok, "curl fetch: {err}");
    assert_eq!(
        out,
        b"From: b@example.org\r\nSubject: message two\r\nMessage-ID: <2.small@example.test>\r\n\r\nbody two\r\nline 2\r\n"
    );
    // A section and a partial fetch.
    let (ok, out, err) = curl(port, "INBOX;UID=3;SECTION=1", &[]);
    assert!(ok, "curl section: {err}");
    assert_eq!(out, b"attachment-text in the first part");
    let (ok, out, err) = curl(port, "INBOX;UID=3;SECTION=2;PARTIAL=0.8", &[]);
    assert!(ok, "curl partial: {err}");
    assert_eq!(out, b"AAECAwQF");
    // (curl fetches BODY[], not BODY.PEEK[]: 2 and 3 are \Seen now.)
    // SEARCH, from the URL's query and as a custom command.
    let (ok, out, err) = curl(port, "INBOX?SUBJECT%20two", &[]);
    assert!(ok, "curl search: {err}");
    assert_eq!(String::from_utf8_lossy(&out).trim_end(), "* SEARCH 2");
    let (ok, out, err) = curl(
        port,
        "INBOX",
        &["-X", "UID SEARCH OR BODY attachment FROM a@"],
    );
    assert!(ok, "curl -X: {err}");
    assert_eq!(String::from_utf8_lossy(&out).trim_end(), "* SEARCH 1 3");
    let (ok, out, err) = curl(port, "", &["-X", "STATUS INBOX (MESSAGES UIDNEXT UNSEEN)"]);
    assert!(ok, "curl status: {err}");
    assert_eq!(
        String::from_utf8_lossy(&out).trim_end(),
        "* STATUS INBOX (MESSAGES 3 UIDNEXT 4 UNSEEN 1)"
    );
    // A message that does not exist: curl fails, the server said NO or
    // nothing; it must not hang.
    let (ok, out, _) = curl(port, "INBOX;UID=99", &[]);
    assert!(!ok || out.is_empty(), "UID 99 fetched {out:?}");
    // Upload: curl APPENDs the file to Drafts; it reads back the same.
    let draft = imap.inst.dir.join("draft.eml");
    let body = b"From: me@example.org\r\nSubject: uploaded by curl\r\nMessage-ID: <up@example.test>\r\n\r\nA draft.\r\n";
    std::fs::write(&draft, body).expect("draft");
    let (ok, _, err) = curl(port, "Drafts", &["-T", draft.to_str().expect("path")]);
    assert!(ok, "curl upload: {err}");
    let (ok, out, err) = curl(port, "Drafts;UID=1", &[]);
    assert!(ok, "curl fetch upload: {err}");
    assert_eq!(out, body);
    let (ok, out, err) = curl(port, "Drafts", &["-X", "FETCH 1 (FLAGS RFC822.SIZE)"]);
    assert!(ok, "curl fetch flags: {err}");
    let l = String::from_utf8_lossy(&out).into_owned();
    assert!(l.contains(&format!("RFC822.SIZE {}", body.len())), "{l}");
    imap.inst.stop();
}

// ---------------------------------------------------------------- s-nail

#[test]
fn s_nail_reads_and_moves_over_imap_in_batch_mode() {
    if !have("s-nail") {
        eprintln!("skipped: no s-nail");
        return;
    }
    let imap = Imap::new("imapsnail", &[("demo", None)]);
    let md = imap.maildir("demo");
    small_inbox(&md);
    imap.own_all();
    let port = imap.start();
    // The user and password in the URL (percent-encoded), as the manual
    // allows; `password-USER@HOST:PORT` would do as well.
    let folder = format!("imap://demo%40example.test:{PASSWORD}@127.0.0.1:{port}");
    let home = imap.inst.dir.join("snail-home");
    std::fs::create_dir_all(&home).expect("home");
    let mut child = Command::new("s-nail")
        // -vv: the IMAP conversation goes to stderr, for failures.
        .args([
            "-#",
            "-vv",
            "-n",
            "-N",
            "-S",
            "v15-compat",
            "-S",
            "imap-auth=login",
        ])
        .args(["-S", "ttycharset=utf-8", "-S", "expandaddr", "-S", "keep"])
        .arg("-S")
        .arg(format!("folder={folder}"))
        .env("HOME", &home)
        .env("MAILRC", "/dev/null")
        .env_remove("MAIL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("s-nail");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(
            b"file +INBOX\nheaders\necho ==print2\nprint 2\necho ==end\nmove 3 +Archive\nquit\n",
        )
        .expect("stdin");
    let out = child.wait_with_output().expect("s-nail");
    let log = text(&out);
    assert!(
        out.status.success(),
        "s-nail: {log}\n{}",
        imap.inst.maillog()
    );
    assert!(log.contains("message two"), "{log}");
    let printed = log
        .split("==print2")
        .nth(1)
        .and_then(|r| r.split("==end").next())
        .unwrap_or("");
    assert!(
        printed.contains("body two") && printed.contains("line 2"),
        "{log}"
    );
    // The move happened on the server: Archive exists and holds message
    // three; INBOX lost it.
    let script = r#"
import imaplib, sys
M = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
M.login("demo@example.test", sys.argv[2])
typ, data = M.select("Archive", readonly=True)
print("archive", typ, data[0].decode())
typ, data = M.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
print("subject", data[0][1].decode().strip() if typ == "OK" and data[0] else "-")
typ, data = M.select("INBOX", readonly=True)
print("inbox", data[0].decode())
typ, data = M.fetch("1:*", "(FLAGS)")
print("flags", " ".join(d.decode() for d in data))
M.logout()
"#;
    let out = python_lines(&[], script, &[&port.to_string(), PASSWORD]);
    assert_eq!(field(&out, "archive"), "OK 1", "{log}");
    assert_eq!(field(&out, "subject"), "Subject: message three");
    assert_eq!(field(&out, "inbox"), "2", "{out:?}\n{log}");
    // What s-nail printed it marked read (UID STORE +FLAGS at quit).
    assert!(
        field(&out, "flags").contains("2 (FLAGS (\\Seen"),
        "{out:?}\n{log}"
    );
    imap.inst.stop();
}

// ---------------------------------------------------------------- Dovecot

/// The scenario run against both servers; prints `key value` lines in
/// a form where only what must agree is left (no UIDVALIDITY, no
/// server texts, lists sorted). Left out on purpose, where the two
/// differ within what RFC 3501 allows: \Recent (RECENT, NEW, OLD:
/// Dovecot keeps "first recent UID" in its index, so every message of a
/// fresh Maildir and every copy is \Recent there; imapd counts only the
/// files a session moved out of new/), the order of the EXPUNGE
/// responses (descending there, ascending here), the day of an
/// INTERNALDATE (`06-Jan` there, ` 6-Jan` here), FETCH replies to a
/// STORE that changes nothing (none there), and reply texts.
const SCENARIO: &str = r#"
import imaplib, sys, re
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def ok(r):
    typ, data = r
    assert typ == "OK", (typ, data)
    return data
def flags(b):
    m = re.search(rb"FLAGS \(([^)]*)\)", b)
    return " ".join(sorted(f for f in m.group(1).decode().split() if f != "\\Recent"))
def fetches(data):
    out = []
    for d in data:
        if isinstance(d, tuple):
            d = d[0]
        if d is None or d == b")":
            continue
        m = re.match(rb"(\d+) \(", d)
        uid = re.search(rb"UID (\d+)", d)
        out.append("%s:%s:%s" % (m.group(1).decode(), uid.group(1).decode() if uid else "-", flags(d) if b"FLAGS" in d else "-"))
    return " ".join(out)
def tryc(f, *args):
    try:
        return f(*args)
    except imaplib.IMAP4.error as e:
        return ("BAD", [str(e).split(":")[0].encode()])
def pop(name):
    return [x.decode() if isinstance(x, bytes) else str(x) for x in M.untagged_responses.pop(name, [])]
M = imaplib.IMAP4(host, port)
ok(M.login(user, pw))
def listing(key):
    typ, lines = M.list()
    out = []
    for l in lines:
        m = re.match(rb'\((.*?)\) "(.)" (.*)', l)
        out.append("%s(%s)" % (m.group(3).decode().strip('"'), ",".join(sorted(m.group(1).decode().split()))))
    print(key, " ".join(sorted(out)))
listing("list")
ok(M.create("Projects"))
ok(M.create("Projects.2024"))
typ, data = M.create("Projects")
print("create-again", typ)
listing("list-created")
typ, lines = M.lsub()
print("lsub", " ".join(sorted(l.decode().split(" ")[-1].strip('"') for l in lines)))
typ, data = M.select("INBOX")
print("select", typ, data[0].decode())
for k in ("EXISTS", "UIDNEXT", "UNSEEN", "FLAGS", "PERMANENTFLAGS"):
    print("select-" + k.lower(), " ".join(pop(k)))
uids = ok(M.uid("SEARCH", None, "ALL"))[0].decode().split()
print("uids", " ".join(uids))
typ, data = M.fetch("1:*", "(UID FLAGS RFC822.SIZE INTERNALDATE)")
print("fetch-all", fetches(data))
for d in data:
    print("size-date", re.sub(rb'"0(\d)-', rb'" \1-', re.sub(rb"FLAGS \([^)]*\) ", b"", d)).decode())
typ, data = M.fetch("2", "(ENVELOPE)")
print("envelope", data[0].decode())
typ, data = M.fetch("8", "(BODYSTRUCTURE)")
print("bodystructure", data[0].decode())
typ, data = M.fetch("8", "(BODY)")
print("body", data[0].decode())
typ, data = M.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])")
print("header-fields", repr(data[0][1]))
typ, data = M.fetch("8", "(BODY.PEEK[1.MIME] BODY.PEEK[2]<2.6>)")
print("sections", repr(data))
typ, data = M.fetch("3", "(RFC822.HEADER)")
print("rfc822-header", repr(data[0][1]))
typ, data = M.fetch("1:2", "(BODY[TEXT])")
print("seen-by-body", fetches(M.fetch("1:3", "(FLAGS)")[1]))
# STORE: the untagged FETCH replies.
typ, data = M.store("1:3", "-FLAGS", r"(\Seen)")
print("store-unseen", fetches(data))
typ, data = M.store("1:3", "+FLAGS", r"(\Seen)")
print("store-seen", fetches(data))
typ, data = M.store("2", "+FLAGS", "($Work Project)")
print("store-keywords", fetches(data))
print("flags-after-keyword", " ".join(sorted(" ".join(pop("FLAGS")).strip("()").split())))
typ, data = M.store("4", "FLAGS", r"(\Flagged \Answered)")
print("store-replace", fetches(data))
typ, data = M.uid("STORE", uids[2], "-FLAGS", r"(\Seen)")
print("uid-store", fetches(data))
typ, data = M.store("5", "+FLAGS.SILENT", r"(\Draft)")
print("store-silent", repr([d for d in data if d]))
typ, data = M.store("2", "-FLAGS", "(Project)")
print("store-remove-keyword", fetches(data))
# COPY and MOVE.
typ, data = M.copy("1:2", "Projects")
print("copy", typ, " ".join(pop("COPYUID")[0].split()[1:]))
typ, data = M.uid("MOVE", uids[5], "Projects.2024")
print("move", typ, " ".join(pop("COPYUID")[0].split()[1:]), "expunge", " ".join(pop("EXPUNGE")))
typ, data = tryc(M.copy, "99", "Projects")
print("copy-bad", typ)
typ, data = M.copy("1", "No.Such")
print("copy-missing", typ, data[0].decode().split("]")[0])
# EXPUNGE.
ok(M.store("6:7", "+FLAGS.SILENT", r"(\Deleted)"))
typ, data = M.expunge()
left = list(range(1, 8))
gone = [left.pop(int(d) - 1) for d in data if d]
print("expunge", " ".join(str(g) for g in sorted(gone)))
typ, data = M.uid("SEARCH", None, "ALL")
print("uids-after", data[0].decode())
# SEARCH.
for crit in ["ALL", "SEEN", "UNSEEN", "FLAGGED", "ANSWERED", "DRAFT", "DELETED", "UNDELETED",
             "KEYWORD $Work", "UNKEYWORD $Work", 'SUBJECT "message 3"',
             "SUBJECT MESSAGE", "FROM alice", "FROM example.org", "TO bob", "CC carol", "BODY needle",
             "TEXT needle", "TEXT Alice", "LARGER 400", "SMALLER 300", "BEFORE 1-Jan-2024",
             "SINCE 1-Jan-2024", "ON 15-Nov-2023", "SENTBEFORE 1-Oct-2023", "SENTSINCE 1-Oct-2023",
             "SENTON 5-Nov-2023", 'HEADER X-Tag blue', 'HEADER X-Tag ""', "OR SEEN FLAGGED",
             "NOT SEEN", "2:4", "2,4:*", "UID %s:%s" % (uids[1], uids[3]), "UID 1:*",
             "SEEN NOT FLAGGED", "OR (SUBJECT one) (SUBJECT two)", "*", "NOT NOT DRAFT",
             "BODY attachment-text"]:
        typ, data = tryc(M.search, None, crit)
        print("search", crit, typ, data[0].decode() if typ == "OK" else "")
        typ, data = tryc(M.uid, "SEARCH", None, crit)
        print("uid-search", crit, typ, data[0].decode() if typ == "OK" else "")
for word in ["grüße", "GRÜSSE", "GRÜßE", "ü"]:
    M.literal = word.encode()
    typ, data = tryc(M.search, "UTF-8", "SUBJECT")
    print("search-utf8", word, typ, data[0].decode() if typ == "OK" else "")
typ, data = M._simple_command("SEARCH", "RETURN", "(MIN MAX COUNT ALL)", "SEEN")
print("esearch", re.sub(r'\(TAG "[^"]*"\) ', "", " ".join(pop("ESEARCH"))))
typ, data = M._simple_command("UID", "SEARCH", "RETURN", "()", "ALL")
print("esearch-uid", re.sub(r'\(TAG "[^"]*"\) ', "", " ".join(pop("ESEARCH"))))
typ, data = M._simple_command("SEARCH", "RETURN", "(COUNT)", "KEYWORD", "nothere")
print("esearch-none", re.sub(r'\(TAG "[^"]*"\) ', "", " ".join(pop("ESEARCH"))))
typ, data = tryc(M.search, None, "FROB")
print("search-bad", typ)
# STATUS.
M.close()
for mb in ["INBOX", "Projects", "Projects.2024", "Trash"]:
    typ, data = M.status(mb, "(MESSAGES UIDNEXT UNSEEN)")
    print("status", data[0].decode())
typ, data = M.status("No.Such", "(MESSAGES)")
print("status-missing", typ)
# The copies, with their flags.
for mb in ["Projects", "Projects.2024"]:
    typ, data = M.select(mb, readonly=True)
    print("exists", mb, data[0].decode())
    print("fetch", mb, fetches(M.fetch("1:*", "(UID FLAGS)")[1]))
M.close()
# Folders.
ok(M.rename("Projects.2024", "Old"))
typ, data = M.delete("Projects")
print("delete", typ)
typ, data = M.delete("INBOX")
print("delete-inbox", typ)
typ, data = M.rename("No.Such", "Other")
print("rename-missing", typ)
listing("list-final")
typ, lines = M.list('""', "%")
print("list-percent", " ".join(sorted(l.decode().split(" ")[-1].strip('"') for l in lines)))
typ, lines = M.list('""', "Ju*")
print("list-prefix", " ".join(sorted(l.decode().split(" ")[-1].strip('"') for l in lines)))
typ, data = M.select("INBOX")
print("final", fetches(M.fetch("1:*", "(UID FLAGS)")[1]))
print("logout", M.logout()[0])
"#;

/// Every mailbox, read-only: UIDVALIDITY, UIDNEXT, and each message's
/// UID and flags (keywords included).
const DUMP: &str = r#"
import imaplib, sys, re
M = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]))
M.login(sys.argv[3], sys.argv[4])
typ, lines = M.list()
names = sorted(re.match(rb'\(.*?\) "." (.*)', l).group(1).decode().strip('"') for l in lines)
for mb in names:
    typ, data = M.select(mb, readonly=True)
    n = int(data[0])
    print("mailbox", mb, "uidvalidity", M.untagged_responses["UIDVALIDITY"][0].decode(),
          "uidnext", M.untagged_responses["UIDNEXT"][0].decode(), "exists", n)
    if n:
        typ, data = M.fetch("1:*", "(UID FLAGS)")
        for d in data:
            uid = re.search(rb"UID (\d+)", d).group(1).decode()
            f = re.search(rb"FLAGS \(([^)]*)\)", d).group(1).decode().split()
            print("message", mb, uid, " ".join(sorted(x for x in f if x != "\\Recent")))
M.logout()
"#;

/// The seed mailbox of the comparison: 8 messages with various
/// headers, dates, sizes and flags, and a multipart one.
fn seed_maildir(maildir: &Path) {
    let people = ["alice", "bob", "carol", "dave"];
    for i in 1..=7u64 {
        let from = people[i as usize % 4];
        let to = people[(i as usize + 1) % 4];
        let mut m = format!(
            "From: {from} <{from}@example.org>\nTo: {to} <{to}@example.net>\nCc: carol@example.com\nSubject: message {i}{}\nDate: {} Nov 2023 10:00:00 +0000\nMessage-ID: <{i}.seed@example.test>\n",
            if i == 3 {
                " =?utf-8?q?Gr=C3=BC=C3=9Fe?="
            } else {
                ""
            },
            i
        );
        if i % 2 == 0 {
            m.push_str("X-Tag: blue\n");
        }
        m.push('\n');
        for l in 0..i * 3 {
            m.push_str(&format!(
                "line {l}{}\n",
                if i == 4 { " needle" } else { "" }
            ));
        }
        let flags = match i {
            3 => "S",
            5 => "FS",
            _ => "",
        };
        let (sub, name) = if flags.is_empty() && i % 2 == 1 {
            ("new", format!("{}.M{i}P9.seed", 1_699_000_000 + i))
        } else {
            (
                "cur",
                format!("{}.M{i}P9.seed:2,{flags}", 1_699_000_000 + i),
            )
        };
        // Internal dates straddle 1-Jan-2024 and one falls on 15-Nov-2023.
        let t = if i < 4 {
            1_700_050_000 + i
        } else {
            1_704_200_000 + i * 86_400
        };
        put(maildir, sub, &name, m.as_bytes(), t);
    }
    let mp = MULTIPART.replace("Message-ID: <3.small", "Message-ID: <8.seed");
    put(
        maildir,
        "cur",
        "1699000008.M8P9.seed:2,",
        mp.as_bytes(),
        1_705_000_000,
    );
}

/// A private Dovecot serving `users` (a passwd-file) over IMAP.
struct Dovecot {
    dir: PathBuf,
    child: Option<Child>,
    port: u16,
}

impl Dovecot {
    const BIN: &'static str = "/usr/sbin/dovecot";
    const IMAP: &'static str = "/usr/lib/dovecot/imap";

    fn start(dir: &Path, users: &Path) -> Dovecot {
        std::fs::create_dir_all(dir).expect("dovecot dir");
        let conf = dir.join("dovecot.conf");
        let mut last = String::new();
        for _ in 0..5 {
            let port = kit::free_port();
            let d = dir.display();
            let special: String = [
                ("Drafts", "\\Drafts"),
                ("Junk", "\\Junk"),
                ("Sent", "\\Sent"),
                ("Trash", "\\Trash"),
            ]
            .iter()
            .map(|(n, u)| {
                format!("  mailbox {n} {{\n    auto = subscribe\n    special_use = {u}\n  }}\n")
            })
            .collect();
            std::fs::write(
                &conf,
                format!(
                    "base_dir = {d}/base\nstate_dir = {d}/state\ninstance_name = ms-iclients-{port}\n\
                     log_path = {d}/dovecot.log\nlisten = 127.0.0.1\nprotocols = imap\nssl = no\n\
                     disable_plaintext_auth = no\nauth_mechanisms = plain login\n\
                     mail_location = maildir:~/Maildir\nfirst_valid_uid = 1000\n\
                     passdb {{\n  driver = passwd-file\n  args = {u}\n}}\n\
                     userdb {{\n  driver = passwd-file\n  args = {u}\n}}\n\
                     namespace inbox {{\n  inbox = yes\n  separator = .\n{special}}}\n\
                     service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n",
                    u = users.display()
                ),
            )
            .expect("dovecot.conf");
            let child = Command::new(Self::BIN)
                .arg("-F")
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn dovecot");
            let mut dv = Dovecot {
                dir: dir.to_path_buf(),
                child: Some(child),
                port,
            };
            match dv.ready() {
                Ok(()) => return dv,
                Err(e) => last = e,
            }
        }
        panic!("Dovecot did not start: {last}\n{}", Self::log(dir));
    }

    fn ready(&mut self) -> Result<(), String> {
        let start = Instant::now();
        while start.elapsed() < 10 * SECOND {
            if let Some(Ok(Some(st))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(format!("dovecot exited: {st}"));
            }
            if let Ok(s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(5 * SECOND));
                let mut line = String::new();
                let _ = BufReader::new(s).read_line(&mut line);
                return if line.contains("Dovecot") {
                    Ok(())
                } else {
                    Err(format!("port {} greeted {line:?}", self.port))
                };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("no IMAP listener after 10 s".into())
    }

    fn log(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("dovecot.log")).unwrap_or_default()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill on the pid of the child this test started.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let end = Instant::now() + 5 * SECOND;
            while Instant::now() < end {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Lines of `a` and `b` that differ, keyed by position.
fn differences(a: &[String], b: &[String]) -> Vec<String> {
    let mut d = Vec::new();
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i), b.get(i));
        if x != y {
            d.push(format!(
                "mailsuite: {}\n  dovecot: {}",
                x.map_or("-", String::as_str),
                y.map_or("-", String::as_str)
            ));
        }
    }
    d
}

#[test]
fn same_scenario_as_dovecot_and_migration_both_ways() {
    if !is_root() || !Path::new(Dovecot::BIN).exists() || !Path::new(Dovecot::IMAP).exists() {
        eprintln!("skipped: needs root, dovecot-core and dovecot-imapd");
        return;
    }
    // Two users on identical copies: `ms` served by mailsuite, `dv` by
    // Dovecot. Both servers read the same passwd-file.
    let imap = Imap::new("imapdovecot", &[("ms", None), ("dv", None)]);
    seed_maildir(&imap.maildir("ms"));
    seed_maildir(&imap.maildir("dv"));
    imap.own_all();
    let port = imap.start();
    let dovecot = Dovecot::start(&imap.inst.dir.join("dv"), &imap.inst.dir.join("users"));
    let ours = python_lines(
        &[],
        SCENARIO,
        &["127.0.0.1", &port.to_string(), "ms@example.test", PASSWORD],
    );
    let theirs = python_lines(
        &[],
        SCENARIO,
        &[
            "127.0.0.1",
            &dovecot.port.to_string(),
            "dv@example.test",
            PASSWORD,
        ],
    );
    let diff = differences(&ours, &theirs);
    assert!(
        diff.is_empty(),
        "imapd and Dovecot disagree:\n{}\n\nmailsuite:\n{}",
        diff.join("\n"),
        ours.join("\n")
    );
    assert_eq!(ours.last().map(String::as_str), Some("logout BYE"));

    // Migration: each server reads the Maildir the other one used.
    let dump = |p: u16, user: &str| {
        python_lines(&[], DUMP, &["127.0.0.1", &p.to_string(), user, PASSWORD])
    };
    let (ms_by_ms, ms_by_dv) = (
        dump(port, "ms@example.test"),
        dump(dovecot.port, "ms@example.test"),
    );
    assert_eq!(ms_by_ms, ms_by_dv, "mailsuite's Maildir as Dovecot sees it");
    let (dv_by_dv, dv_by_ms) = (
        dump(dovecot.port, "dv@example.test"),
        dump(port, "dv@example.test"),
    );
    assert_eq!(dv_by_dv, dv_by_ms, "Dovecot's Maildir as mailsuite sees it");
    assert!(
        dv_by_ms.iter().any(|l| l.contains("$Work")),
        "{dv_by_ms:#?}"
    );
    // Then each writes to the other's Maildir, and the other sees it.
    let change = r#"
import imaplib, sys
M = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
M.login(sys.argv[2], sys.argv[3])
M.select("INBOX")
assert M.store("1", "+FLAGS", r"(\Answered Migrated)")[0] == "OK"
assert M.store("2", "-FLAGS", r"($Work)")[0] == "OK"
typ, data = M.append("INBOX", r"(\Seen Later)", None, b"Subject: appended\r\nMessage-ID: <app@x>\r\n\r\nhi\r\n")
assert typ == "OK", data
M.logout()
"#;
    python_lines(
        &[],
        change,
        &[&port.to_string(), "dv@example.test", PASSWORD],
    );
    python_lines(
        &[],
        change,
        &[&dovecot.port.to_string(), "ms@example.test", PASSWORD],
    );
    let (a, b) = (
        dump(port, "dv@example.test"),
        dump(dovecot.port, "dv@example.test"),
    );
    assert_eq!(a, b, "mailsuite's changes to Dovecot's Maildir");
    assert!(b.iter().any(|l| l.contains("Migrated")), "{b:#?}");
    let (a, b) = (
        dump(port, "ms@example.test"),
        dump(dovecot.port, "ms@example.test"),
    );
    assert_eq!(a, b, "Dovecot's changes to mailsuite's Maildir");
    assert!(a.iter().any(|l| l.contains("Later")), "{a:#?}");
    eprintln!(
        "migration, final state of mailsuite's Maildir:\n{}",
        a.join("\n")
    );
    // Neither side complained about the other's files.
    let log = Dovecot::log(&dovecot.dir);
    assert!(
        !log.contains("Error:") && !log.contains("Warning:"),
        "Dovecot's log: {log}"
    );
    let errors: Vec<String> = imap
        .inst
        .maillog()
        .lines()
        .filter(|l| l.contains("error") || l.contains("warning"))
        .map(str::to_string)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    drop(dovecot);
    imap.inst.stop();
}
