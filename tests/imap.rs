//! imapd end to end with Python's imaplib (and curl, and raw lines where
//! imaplib cannot show what matters): login, LIST with SPECIAL-USE,
//! SELECT/EXAMINE, FETCH of every kind (ENVELOPE, BODYSTRUCTURE,
//! BODY[section]<partial>, RFC822.SIZE against the bytes), STORE with
//! keywords seen by a second session, SEARCH (flags, headers, body,
//! ESEARCH), COPY/MOVE with COPYUID, APPEND with APPENDUID, CREATE /
//! RENAME / DELETE / SUBSCRIBE, EXPUNGE numbering, IDLE reporting a
//! delivery within seconds, STARTTLS and imaps; a passwd-file user (so it
//! runs as root and as an ordinary user), and a system user fed by real
//! SMTP deliveries when run as root.

use kit::{field, is_root, python_lines, uids_of, wait_until, Instance, SystemUser};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// The imaplib scenario; prints `key value` lines, asserting as it goes.
const SCENARIO: &str = r#"
import imaplib, sys, re, email
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def ok(r):
    typ, data = r
    assert typ == "OK", (typ, data)
    return data
M = imaplib.IMAP4(host, port)
print("greeting", M.welcome.decode())
ok(M.login(user, pw))
caps = ok(M.capability())[0].decode().split()
print("caps", " ".join(sorted(caps)))
# LIST with special-use, after the first login created them.
typ, lines = M.list()
names = {}
for l in lines:
    m = re.match(rb'\((.*?)\) "(.)" (.*)', l)
    names[m.group(3).decode().strip('"')] = m.group(1).decode()
print("list", " ".join(sorted(names)))
print("sent-attrs", names["Sent"])
typ, data = M.select("INBOX")
print("exists", data[0].decode())
print("uidvalidity", M.untagged_responses.get("UIDVALIDITY", [b"?"])[0].decode())
# FETCH: sizes against the bytes, envelope, bodystructure.
typ, data = M.fetch("1:*", "(UID FLAGS RFC822.SIZE BODY.PEEK[] ENVELOPE)")
n = 0
for item in data:
    if isinstance(item, tuple):
        meta, body = item
        size = int(re.search(rb"RFC822.SIZE (\d+)", meta).group(1))
        assert size == len(body), (size, len(body))
        assert b"\\Seen" not in meta, meta
        n += 1
print("fetched", n)
typ, data = M.fetch("3", "(BODYSTRUCTURE)")
print("bodystructure", data[0].decode())
typ, data = M.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
print("subject-field", data[0][1].decode().strip())
typ, data = M.fetch("3", "(BODY.PEEK[2]<0.10>)")
print("partial", data[0][1].decode())
typ, data = M.fetch("2", "(BODY[TEXT])")
typ, data = M.fetch("2", "(FLAGS)")
print("seen-after-body", data[0].decode())
# STORE with a keyword.
typ, data = M.store("1", "+FLAGS", r"(\Flagged $Important)")
print("store", data[0].decode())
# A second session sees the keyword and flag.
S = imaplib.IMAP4(host, port)
ok(S.login(user, pw))
S.select("INBOX", readonly=True)
typ, data = S.fetch("1", "(FLAGS)")
print("other-session", data[0].decode())
# SEARCH.
print("search-subject", ok(M.search(None, "SUBJECT", '"message two"'))[0].decode())
print("search-flagged", ok(M.search(None, "FLAGGED"))[0].decode())
print("search-keyword", ok(M.search(None, "KEYWORD", "$Important"))[0].decode())
print("search-body", ok(M.search(None, "BODY", "attachment-text"))[0].decode())
print("search-unseen", ok(M.uid("SEARCH", None, "UNSEEN"))[0].decode())
print("search-not", ok(M.search(None, "NOT", "FROM", "nobody-like-this"))[0].decode())
typ, data = M._simple_command("SEARCH", "RETURN", "(MIN MAX COUNT)", "ALL")
print("esearch", M.untagged_responses.pop("ESEARCH", [b"?"])[0].decode())
# COPY and MOVE with UIDPLUS.
typ, data = M.copy("1", "Trash")
print("copy", M.untagged_responses.get("COPYUID", [b""])[0].decode() if typ == "OK" else typ)
typ, data = M.uid("MOVE", "2", "Sent")
assert typ == "OK", data
print("after-move", ok(M.noop()) and ok(M.search(None, "ALL"))[0].decode())
typ, data = M.status("Sent", "(MESSAGES UIDNEXT UNSEEN)")
print("status-sent", data[0].decode())
# APPEND.
msg = b"From: me@example.org\r\nSubject: draft one\r\n\r\nA draft.\r\n"
typ, data = M.append("Drafts", r"(\Draft)", imaplib.Time2Internaldate(1700000000), msg)
print("append", typ, data[0].decode())
S.select("Drafts")
typ, data = S.fetch("1", "(FLAGS INTERNALDATE BODY.PEEK[])")
print("appended-flags", data[0][0].decode())
assert data[0][1] == msg, data
# Folders.
ok(M.create("Archive.2024"))
ok(M.subscribe("Archive.2024"))
typ, lines = M.lsub()
print("lsub", " ".join(sorted(l.decode().split(" ")[-1].strip('"') for l in lines)))
ok(M.rename("Archive.2024", "Old.2024"))
typ, lines = M.list()
print("list-after-rename", " ".join(sorted(l.decode().split(" ")[-1].strip('"') for l in lines)))
ok(M.delete("Old.2024"))
typ, data = M.create("INBOX")
print("create-inbox", typ)
typ, data = M.select("No.Such")
print("select-missing", typ, data[0].decode())
# EXPUNGE numbering: delete 1 and 2 of the remaining.
M.select("INBOX")
ok(M.store("1:2", "+FLAGS.SILENT", r"\Deleted"))
typ, data = M.expunge()
print("expunge", " ".join(d.decode() for d in data))
print("logout", M.logout()[0])
S.logout()
print("done")
"#;

/// Writes a message file into a Maildir's new/ as a delivery would.
fn drop_message(maildir: &Path, n: u32, text: &str) {
    let name = format!("17000000{n:02}.M{n}P{}.test", std::process::id());
    let tmp = maildir.join("tmp").join(&name);
    std::fs::write(&tmp, text).expect("write message");
    std::fs::rename(&tmp, maildir.join("new").join(&name)).expect("rename");
}

const MULTIPART: &str = "From: Sender <sender@example.org>\nTo: someone@example.test\nSubject: message three\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XX\"\n\n--XX\nContent-Type: text/plain; charset=utf-8\n\nattachment-text in the first part\n--XX\nContent-Type: application/octet-stream; name=\"a.bin\"\nContent-Transfer-Encoding: base64\n\nAAECAwQFBgcICQ==\n--XX--\n";

/// A passwd-file user `demo@example.test` whose Maildir is in the
/// instance directory; as root with an unused uid, else our own.
fn passwd_file_instance(name: &str, extra_master: &str) -> (Instance, PathBuf, u32) {
    let inst = Instance::new(name);
    let (uid, gid) = if is_root() {
        let n = 62_000 + std::process::id() % 1000;
        (n, n)
    } else {
        // SAFETY: getuid/getgid cannot fail.
        unsafe { (libc::getuid(), libc::getgid()) }
    };
    let home = inst.dir.join("vmail/demo");
    let maildir = home.join("Maildir");
    for d in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(maildir.join(d)).expect("mkdir");
    }
    drop_message(
        &maildir,
        1,
        "From: a@example.org\nSubject: message one\n\nbody one\n",
    );
    drop_message(
        &maildir,
        2,
        "From: b@example.org\nSubject: message two\n\nbody two\nline 2\n",
    );
    drop_message(&maildir, 3, MULTIPART);
    if is_root() {
        let out = Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(inst.dir.join("vmail"))
            .output()
            .expect("chown");
        assert!(out.status.success());
    }
    let users = inst.dir.join("users");
    std::fs::write(
        &users,
        format!(
            "demo@example.test:{{PLAIN}}demo-secret:{uid}:{gid}::{}::\n",
            home.display()
        ),
    )
    .expect("users");
    inst.main_cf(&format!(
        "passdb = passwd-file:{}\nmail_location = maildir:~/Maildir\nauth_failure_delay = 0\nfirst_valid_uid = 1000\nimap_idle_notify_interval = 1s\n",
        users.display()
    ));
    inst.master_cf(&format!(
        "auth unix - - n - - auth\n[127.0.0.1]:0 inet n n n - - imapd\n{extra_master}"
    ));
    (inst, maildir, uid)
}

#[test]
fn imap_with_imaplib_through_every_command() {
    let (inst, maildir, uid) = passwd_file_instance("imap", "");
    inst.start();
    let port = inst.port("[127.0.0.1]:0");
    let p = port.to_string();
    let out = python_lines(
        &[],
        SCENARIO,
        &["127.0.0.1", &p, "demo@example.test", "demo-secret"],
    );
    assert!(
        field(&out, "greeting").starts_with("* OK [CAPABILITY IMAP4rev1"),
        "{out:#?}"
    );
    assert!(field(&out, "greeting").ends_with("Dovecot ready."));
    for c in [
        "IDLE",
        "UIDPLUS",
        "MOVE",
        "SPECIAL-USE",
        "NAMESPACE",
        "ESEARCH",
    ] {
        assert!(
            field(&out, "caps").split(' ').any(|x| x == c),
            "{c}: {out:#?}"
        );
    }
    assert_eq!(field(&out, "list"), "Drafts INBOX Junk Sent Trash");
    assert!(field(&out, "sent-attrs").contains("\\Sent"), "{out:#?}");
    assert_eq!(field(&out, "exists"), "3");
    assert_eq!(field(&out, "fetched"), "3");
    let bs = field(&out, "bodystructure");
    assert!(
        bs.contains("(\"text\" \"plain\" (\"charset\" \"utf-8\")")
            && bs.contains(
                "\"application\" \"octet-stream\" (\"name\" \"a.bin\") NIL NIL \"base64\""
            )
            && bs.contains("\"mixed\" (\"boundary\" \"XX\")"),
        "{bs}"
    );
    assert_eq!(field(&out, "subject-field"), "Subject: message one");
    assert_eq!(field(&out, "partial"), "AAECAwQFBg");
    assert!(
        field(&out, "seen-after-body").contains("\\Seen"),
        "{out:#?}"
    );
    let store = field(&out, "store");
    assert!(
        store.contains("\\Flagged") && store.contains("$Important"),
        "{store}"
    );
    let other = field(&out, "other-session");
    assert!(
        other.contains("\\Flagged") && other.contains("$Important"),
        "{other}"
    );
    assert_eq!(field(&out, "search-subject"), "2");
    assert_eq!(field(&out, "search-flagged"), "1");
    assert_eq!(field(&out, "search-keyword"), "1");
    assert_eq!(field(&out, "search-body"), "3");
    assert_eq!(field(&out, "search-not"), "1 2 3");
    let unseen = field(&out, "search-unseen");
    assert_eq!(unseen.split(' ').count(), 2, "UIDs of 1 and 3: {unseen}");
    let es = field(&out, "esearch");
    assert!(
        es.contains("MIN 1") && es.contains("MAX 3") && es.contains("COUNT 3"),
        "{es}"
    );
    assert!(field(&out, "copy").contains(' '), "{out:#?}");
    assert_eq!(field(&out, "after-move"), "1 2");
    let st = field(&out, "status-sent");
    assert!(
        st.contains("MESSAGES 1") && st.contains("UIDNEXT 2"),
        "{st}"
    );
    let app = field(&out, "append");
    assert!(app.starts_with("OK [APPENDUID "), "{app}");
    assert!(field(&out, "appended-flags").contains("\\Draft"));
    assert!(
        field(&out, "appended-flags").contains("14-Nov-2023"),
        "{out:#?}"
    );
    assert!(field(&out, "lsub").contains("Archive.2024"), "{out:#?}");
    assert!(
        field(&out, "list-after-rename").contains("Old.2024"),
        "{out:#?}"
    );
    assert_eq!(field(&out, "create-inbox"), "NO");
    assert!(field(&out, "select-missing").starts_with("NO [NONEXISTENT]"));
    assert_eq!(field(&out, "expunge"), "1 1", "{out:#?}");
    assert_eq!(out.last().map(String::as_str), Some("done"), "{out:#?}");
    // What is on disk is Dovecot's: uidlist, keywords, the Sent folder.
    let uidlist = std::fs::read_to_string(maildir.join("dovecot-uidlist")).expect("uidlist");
    assert!(uidlist.starts_with("3 V"), "{uidlist}");
    let keywords = std::fs::read_to_string(maildir.join("dovecot-keywords")).expect("keywords");
    assert!(keywords.contains("$Important"), "{keywords}");
    assert!(maildir.join(".Sent/cur").is_dir());
    let _ = uid;
    inst.stop();
}

/// A raw IMAP connection for IDLE.
struct Raw {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Raw {
    fn connect(port: u16) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(10 * SECOND)).expect("timeout");
        let mut raw = Raw {
            r: BufReader::new(s.try_clone().expect("clone")),
            w: s,
        };
        raw.line();
        raw
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        let _ = self.r.read_line(&mut l);
        l.trim_end().to_string()
    }

    fn send(&mut self, cmd: &str) {
        self.w
            .write_all(format!("{cmd}\r\n").as_bytes())
            .expect("send");
    }

    /// Sends a tagged command and returns every line up to its reply.
    fn run(&mut self, tag: &str, cmd: &str) -> Vec<String> {
        self.send(&format!("{tag} {cmd}"));
        let mut v = Vec::new();
        loop {
            let l = self.line();
            if l.is_empty() {
                return v;
            }
            let done = l.starts_with(&format!("{tag} "));
            v.push(l);
            if done {
                return v;
            }
        }
    }
}

#[test]
fn imap_idle_reports_a_delivery_and_other_sessions_changes() {
    let (inst, maildir, _) = passwd_file_instance("imapidle", "");
    inst.start();
    let port = inst.port("[127.0.0.1]:0");
    let mut a = Raw::connect(port);
    let login = a.run("a1", "LOGIN demo@example.test demo-secret");
    assert!(
        login.last().is_some_and(|l| l.starts_with("a1 OK")),
        "{login:?}"
    );
    let sel = a.run("a2", "SELECT INBOX");
    assert!(sel.iter().any(|l| l == "* 3 EXISTS"), "{sel:?}");
    a.send("a3 IDLE");
    assert_eq!(a.line(), "+ idling");
    let started = std::time::Instant::now();
    drop_message(
        &maildir,
        4,
        "From: c@example.org\nSubject: message four\n\nnew\n",
    );
    let mut got = Vec::new();
    loop {
        let l = a.line();
        assert!(!l.is_empty(), "no EXISTS during IDLE: {got:?}");
        if l == "* 4 EXISTS" {
            break;
        }
        got.push(l);
    }
    assert!(
        started.elapsed() < 3 * SECOND,
        "IDLE took {:?}",
        started.elapsed()
    );
    // Another session's STORE shows up in the idling one. Its LOGIN and
    // SELECT come in one write: the user's session answers the LOGIN (with
    // the post-login capabilities), then serves the SELECT sent with it.
    let mut b = Raw::connect(port);
    b.send("b1 LOGIN demo@example.test demo-secret\r\nb2 SELECT INBOX");
    let mut both = Vec::new();
    while !both.last().is_some_and(|l: &String| l.starts_with("b2 ")) {
        let l = b.line();
        assert!(
            !l.is_empty(),
            "no answer to a pipelined LOGIN and SELECT: {both:?}"
        );
        both.push(l);
    }
    let at = |p: &str| both.iter().position(|l| l.starts_with(p));
    let (login, exists) = (at("b1 OK [CAPABILITY IMAP4rev1"), at("* 4 EXISTS"));
    assert!(
        login.is_some() && login < exists && both.last().is_some_and(|l| l.starts_with("b2 OK")),
        "{both:?}"
    );
    let st = b.run("b3", "STORE 2 +FLAGS (\\Answered)");
    assert!(st.iter().any(|l| l.contains("\\Answered")), "{st:?}");
    let mut seen = Vec::new();
    loop {
        let l = a.line();
        assert!(!l.is_empty(), "no FETCH during IDLE: {seen:?}");
        if l.starts_with("* 2 FETCH") && l.contains("\\Answered") {
            break;
        }
        seen.push(l);
    }
    // The other session expunges; the idler hears of it.
    b.run("b4", "STORE 1 +FLAGS.SILENT (\\Deleted)");
    let ex = b.run("b5", "EXPUNGE");
    assert!(ex.iter().any(|l| l == "* 1 EXPUNGE"), "{ex:?}");
    loop {
        let l = a.line();
        assert!(!l.is_empty(), "no EXPUNGE during IDLE");
        if l == "* 1 EXPUNGE" {
            break;
        }
    }
    a.send("DONE");
    let mut tail = Vec::new();
    loop {
        let l = a.line();
        assert!(!l.is_empty(), "{tail:?}");
        let done = l.starts_with("a3 ");
        tail.push(l);
        if done {
            break;
        }
    }
    assert_eq!(
        tail.last().map(String::as_str),
        Some("a3 OK Idle completed.")
    );
    // Protocol errors: unknown command, bad state, bad set.
    let r = a.run("a4", "FROB");
    assert_eq!(
        r.last().map(String::as_str),
        Some("a4 BAD Error in IMAP command FROB: Unknown command.")
    );
    let r = a.run("a5", "FETCH 99 FLAGS");
    assert!(r.last().is_some_and(|l| l.starts_with("a5 BAD")), "{r:?}");
    let r = a.run("a6", "LOGOUT");
    assert!(r.iter().any(|l| l.starts_with("* BYE")), "{r:?}");
    inst.stop();
}

#[test]
fn imap_starttls_imaps_and_curl() {
    let (inst, _, _) = passwd_file_instance(
        "imaptls",
        "127.0.0.2:0 inet n n n - - imapd -o imapd_tls_wrappermode=yes\n",
    );
    let Some((cert, key)) = kit::self_signed(&inst.dir, "mail.example.test") else {
        eprintln!("skipped: no openssl");
        return;
    };
    inst.main_cf(&format!(
        "ssl_cert = <{}\nssl_key = <{}\n",
        cert.display(),
        key.display()
    ));
    inst.start();
    let port = inst.port("[127.0.0.1]:0");
    let ports = inst.port("127.0.0.2:0");
    let script = r#"
import imaplib, ssl, sys
port, ports = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
M = imaplib.IMAP4("127.0.0.1", port)
print("before", "STARTTLS" in M.capabilities)
M.starttls(ssl_context=ctx)
print("version", M.sock.version())
M.login("demo@example.test", "demo-secret")
typ, data = M.select("INBOX")
print("tls-exists", data[0].decode())
M.logout()
S = imaplib.IMAP4_SSL("127.0.0.2", ports, ssl_context=ctx)
S.login("demo@example.test", "demo-secret")
typ, data = S.select("INBOX")
typ, data = S.fetch("3", "(BODY.PEEK[])")
print("imaps-bytes", len(data[0][1]))
S.logout()
"#;
    let out = python_lines(&[], script, &[&port.to_string(), &ports.to_string()]);
    assert_eq!(field(&out, "before"), "True");
    assert!(field(&out, "version").starts_with("TLSv1."));
    assert_eq!(field(&out, "tls-exists"), "3");
    let size: usize = field(&out, "imaps-bytes").parse().expect("size");
    assert_eq!(size, MULTIPART.len() + MULTIPART.matches('\n').count());
    // curl over imaps: the message's body section.
    let out = Command::new("curl")
        .args([
            "-sSk",
            "--max-time",
            "20",
            "--user",
            "demo@example.test:demo-secret",
        ])
        .arg(format!("imaps://127.0.0.2:{ports}/INBOX;UID=1"))
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Subject: message one"));
    inst.stop();
}

#[test]
fn imap_system_user_reads_smtp_deliveries() {
    if !is_root() {
        eprintln!("skipped: useradd and imapd's user switch need root");
        return;
    }
    let user = SystemUser::new("imap");
    let password = format!("Imap-{}-pw", std::process::id());
    user.set_password(&password);
    let inst = Instance::new("imapsys");
    inst.main_cf("home_mailbox = Maildir/\nmail_location = maildir:~/Maildir\nalias_maps =\nalias_database =\nmydestination = $myhostname, localhost\nauth_failure_delay = 0\n");
    inst.master_cf("127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nlocal unix - n n - - local\nbounce unix - - n - 0 bounce\nauth unix - - n - - auth\n[127.0.0.1]:0 inet n n n - - imapd\n");
    inst.start();
    let smtp = inst.port("127.0.0.1:0");
    let imap = inst.port("[127.0.0.1]:0");
    let rcpt = format!("{}@localhost", user.name);
    let script = format!(
        "import smtplib\ns = smtplib.SMTP('127.0.0.1', {smtp}, timeout=10)\nfor i in range(3):\n    s.sendmail('x@example.org', ['{rcpt}'], b'Subject: smtp %d\\r\\n\\r\\nbody\\r\\n' % i)\ns.quit()\n"
    );
    python_lines(&[], &script, &[]);
    assert!(
        inst.wait_log("status=sent", 3, 20 * SECOND),
        "{}",
        inst.maillog()
    );
    let script = r#"
import imaplib, sys, time
M = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
M.login(sys.argv[2], sys.argv[3])
typ, data = M.select("INBOX")
print("exists", data[0].decode())
typ, data = M.search(None, "SUBJECT", "smtp")
print("found", data[0].decode())
time.sleep(2)
M.logout()
"#;
    // Before a login, the client is served by a pre-login process as
    // mail_owner (nobody).
    let mut waiting = Raw::connect(imap);
    assert!(
        wait_until(5 * SECOND, || uids_of("imapd").contains(&65534)),
        "no pre-login imapd as nobody: {:?}",
        uids_of("imapd")
    );
    waiting.send("a LOGOUT");
    drop(waiting);
    let child = Command::new("python3")
        .args(["-c", script, &imap.to_string(), &user.name, &password])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let uid = {
        let o = Command::new("id")
            .args(["-u", &user.name])
            .output()
            .expect("id");
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse::<u32>()
            .expect("uid")
    };
    assert!(
        wait_until(5 * SECOND, || uids_of("imapd").contains(&uid)),
        "no imapd session as the user: {:?}",
        uids_of("imapd")
    );
    let out = child.wait_with_output().expect("python");
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(field(&lines, "exists"), "3", "{}", inst.maillog());
    assert_eq!(field(&lines, "found"), "1 2 3");
    assert!(
        user.home.join("Maildir/.Sent/cur").is_dir(),
        "special-use folders created"
    );
    inst.stop();
}

/// IMAP4rev2 (RFC 9051) when the client enables it: no RECENT, SEARCH
/// answered with ESEARCH, mailbox names in UTF-8 instead of modified
/// UTF-7; on disk the folder is in modified UTF-7 either way, as
/// Dovecot's Maildir++ layout writes it.
#[test]
fn imap4rev2_after_enable() {
    let (inst, maildir, _) = passwd_file_instance("imaprev2", "");
    inst.start();
    let port = inst.port("[127.0.0.1]:0");
    let mut a = Raw::connect(port);
    let caps = a.run("a0", "CAPABILITY");
    assert!(caps[0].contains("IMAP4rev2"), "{caps:?}");
    a.run("a1", "LOGIN demo@example.test demo-secret");
    let c = a.run("a2", "CREATE Entw&APw-rfe");
    assert!(c.last().is_some_and(|l| l.starts_with("a2 OK")), "{c:?}");
    assert!(
        maildir.join(".Entw&APw-rfe/cur").is_dir(),
        "the folder on disk is in modified UTF-7"
    );
    let before = a.run("a3", "LIST \"\" Entw*");
    assert!(
        before.iter().any(|l| l.ends_with("Entw&APw-rfe")),
        "{before:?}"
    );
    let e = a.run("a4", "ENABLE IMAP4rev2");
    assert!(
        e.iter()
            .any(|l| l.eq_ignore_ascii_case("* ENABLED IMAP4rev2")),
        "{e:?}"
    );
    let after = a.run("a5", "LIST \"\" Entw*");
    assert!(
        after.iter().any(|l| l.contains("\"Entwürfe\"")),
        "{after:?}"
    );
    let sel = a.run("a6", "SELECT INBOX");
    assert!(sel.iter().any(|l| l == "* 3 EXISTS"), "{sel:?}");
    assert!(!sel.iter().any(|l| l.contains("RECENT")), "{sel:?}");
    let s = a.run("a7", "SEARCH ALL");
    assert!(
        s.iter().any(|l| l == "* ESEARCH (TAG \"a7\") ALL 1:3"),
        "{s:?}"
    );
    let f = a.run("a8", "SELECT \"Entwürfe\"");
    assert!(f.last().is_some_and(|l| l.starts_with("a8 OK")), "{f:?}");
    // mailbox_size_limit left at its default: no quota (as Dovecot
    // without a quota plugin), so a mailbox moved here keeps working.
    let q = a.run("a9", "GETQUOTAROOT INBOX");
    assert!(q.iter().any(|l| l == "* QUOTAROOT INBOX"), "{q:?}");
    assert!(!q.iter().any(|l| l.starts_with("* QUOTA ")), "{q:?}");
    a.run("a10", "LOGOUT");
    inst.stop();
}

/// A client that drops in the middle of a FETCH that set \Seen: what was
/// set is kept (on an mbox the flags are written when the command
/// ends, which it never does normally here).
#[test]
fn imap_mbox_seen_flags_survive_a_client_that_drops_mid_fetch() {
    let (inst, maildir, uid) = passwd_file_instance("imapmboxdrop", "");
    let home = maildir.parent().expect("home").to_path_buf();
    let inbox = home.join("inbox");
    let mut text = String::new();
    let filler = format!("{}\n", "x".repeat(99)).repeat(1000);
    for n in 1..=4 {
        text.push_str(&format!(
            "From sender@example.org Thu Jan  1 00:00:0{n} 2026\nFrom: sender@example.org\nSubject: big {n}\n\n{filler}\n"
        ));
    }
    std::fs::write(&inbox, text).expect("mbox");
    std::fs::create_dir_all(home.join("mail")).expect("mkdir");
    if is_root() {
        let out = Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{uid}"))
            .arg(&home)
            .output()
            .expect("chown");
        assert!(out.status.success());
    }
    inst.main_cf("mail_location = mbox:~/mail:INBOX=~/inbox\n");
    inst.start();
    let port = inst.port("[127.0.0.1]:0");
    let mut a = Raw::connect(port);
    let login = a.run("a1", "LOGIN demo@example.test demo-secret");
    assert!(
        login.last().is_some_and(|l| l.starts_with("a1 OK")),
        "{login:?}"
    );
    let sel = a.run("a2", "SELECT INBOX");
    assert!(sel.iter().any(|l| l == "* 4 EXISTS"), "{sel:?}");
    a.send("a3 FETCH 1:4 BODY[]");
    drop(a);
    assert!(
        inst.wait_log("imap(demo@example.test): Disconnected", 1, 10 * SECOND),
        "{}",
        inst.maillog()
    );
    let mut b = Raw::connect(port);
    b.run("b1", "LOGIN demo@example.test demo-secret");
    b.run("b2", "SELECT INBOX");
    let flags = b.run("b3", "FETCH 1 FLAGS");
    assert!(
        flags[0].starts_with("* 1 FETCH (FLAGS (") && flags[0].contains("\\Seen"),
        "{flags:?}\n{}",
        inst.maillog()
    );
    b.run("b4", "LOGOUT");
    inst.stop();
}

/// RFC 5182 2.1: SEARCH RETURN (SAVE MIN) saves only the smallest match
/// (with MAX, only those), not the whole result.
#[test]
fn imap_searchres_save_with_min_or_max() {
    let (inst, _, _) = passwd_file_instance("imapsaveminmax", "");
    inst.start();
    let port = inst.port("[127.0.0.1]:0");
    let mut a = Raw::connect(port);
    a.run("a1", "LOGIN demo@example.test demo-secret");
    let sel = a.run("a2", "SELECT INBOX");
    assert!(sel.iter().any(|l| l == "* 3 EXISTS"), "{sel:?}");
    let uids = |a: &mut Raw, tag: &str| -> Vec<String> {
        a.run(tag, "FETCH $ (UID)")
            .into_iter()
            .filter(|l| l.starts_with("* "))
            .collect()
    };
    a.run("a3", "SEARCH RETURN (SAVE MIN) ALL");
    assert_eq!(uids(&mut a, "a4"), ["* 1 FETCH (UID 1)"]);
    a.run("a5", "SEARCH RETURN (SAVE MIN MAX) ALL");
    assert_eq!(
        uids(&mut a, "a6"),
        ["* 1 FETCH (UID 1)", "* 3 FETCH (UID 3)"]
    );
    a.run("a7", "SEARCH RETURN (SAVE MAX COUNT) ALL");
    assert_eq!(uids(&mut a, "a8").len(), 3, "with COUNT: all saved");
    a.run("a9", "SEARCH RETURN (SAVE) ALL");
    assert_eq!(uids(&mut a, "b1").len(), 3);
    a.run("b2", "LOGOUT");
    inst.stop();
}

/// Invalid commands are counted in a row, as Dovecot does: a good
/// command starts the count again, before and after the login.
#[test]
fn imap_bad_commands_are_counted_in_a_row() {
    let (inst, _, _) = passwd_file_instance("imapbadrow", "");
    inst.start();
    let port = inst.port("[127.0.0.1]:0");
    let mut a = Raw::connect(port);
    for i in 0..25 {
        let r = a.run(&format!("p{i}"), "XYZZY");
        assert!(r[0].starts_with(&format!("p{i} BAD")), "{r:?}");
        let r = a.run(&format!("q{i}"), "NOOP");
        assert_eq!(r, [format!("q{i} OK NOOP completed.")]);
    }
    a.run("a1", "LOGIN demo@example.test demo-secret");
    a.run("a2", "SELECT INBOX");
    for i in 0..25 {
        let r = a.run(&format!("b{i}"), "XYZZY");
        assert!(r[0].starts_with(&format!("b{i} BAD")), "{r:?}");
        let r = a.run(&format!("c{i}"), "FETCH 9 UID");
        assert!(r[0].starts_with(&format!("c{i} BAD")), "{r:?}");
        let r = a.run(&format!("d{i}"), "NOOP");
        assert_eq!(r, [format!("d{i} OK NOOP completed.")]);
    }
    // Twenty in a row still close the connection.
    let mut last = Vec::new();
    for i in 0..20 {
        last = a.run(&format!("e{i}"), "FETCH 9 UID");
    }
    assert!(last[0].starts_with("e19 BAD"), "{last:?}");
    assert_eq!(a.line(), "* BYE Too many invalid IMAP commands.");
    inst.stop();
}
