//! CONDSTORE, QRESYNC (RFC 7162) and QUOTA (RFC 9208) end to end, with
//! raw commands from Python: mod-sequences shared by two sessions and
//! moved on by another session's STORE (seen through FETCH
//! (CHANGEDSINCE)), STORE (UNCHANGEDSINCE) conflicts answered with
//! [MODIFIED], SEARCH MODSEQ, STATUS HIGHESTMODSEQ, a QRESYNC SELECT
//! after expunges answered with VANISHED (EARLIER) and the changed
//! flags, VANISHED for EXPUNGE once QRESYNC is on, HIGHESTMODSEQ the
//! same after a restart, GETQUOTAROOT/GETQUOTA numbers from
//! mailbox_size_limit and NO [OVERQUOTA] for an APPEND past it. If a
//! Dovecot is installed (and the tests run as root), the same client
//! lines go to it too, and the shapes of the answers are compared.

use kit::{field, is_root, python_lines, Instance};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A raw IMAP client; each scenario prints `key value` lines.
const CLIENT: &str = r#"
import socket, sys, re
class C:
    def __init__(s, port):
        s.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.f = s.sock.makefile("rb")
        s.n = 0
        s.greeting = s.line()
    def line(s):
        return s.f.readline().decode("utf-8", "replace").rstrip("\r\n")
    def run(s, cmd, literal=None):
        s.n += 1
        tag = "t%d" % s.n
        data = ("%s %s" % (tag, cmd)).encode()
        if literal is not None:
            data += b" {%d+}\r\n" % len(literal) + literal
        s.sock.sendall(data + b"\r\n")
        out = []
        while True:
            l = s.line()
            if l == "":
                raise Exception("connection closed after %r: %r" % (cmd, out))
            if l.startswith(tag + " "):
                return out, l[len(tag) + 1:]
            out.append(l)
    def ok(s, cmd, literal=None):
        out, done = s.run(cmd, literal)
        assert done.startswith("OK"), (cmd, out, done)
        return out
def code(lines, name):
    for l in lines:
        m = re.search(r"\[" + name + r" ([^\]]*)\]", l)
        if m:
            return m.group(1)
    return "-"
def modseqs(lines):
    # "uid:modseq" of every FETCH line that has both, sorted by UID.
    out = []
    for l in lines:
        u = re.search(r"UID (\d+)", l)
        m = re.search(r"MODSEQ \((\d+)\)", l)
        if "FETCH" in l and u and m:
            out.append((int(u.group(1)), int(m.group(1))))
    return sorted(out)
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
"#;

const SCENARIO: &str = r#"
A = C(port)
A.ok("LOGIN %s %s" % (user, pw))
caps = " ".join(A.ok("CAPABILITY"))
print("caps", " ".join(c for c in ["CONDSTORE", "QRESYNC", "QUOTA"] if c in caps.split()))
sel = A.ok("SELECT INBOX (CONDSTORE)")
h0 = int(code(sel, "HIGHESTMODSEQ"))
uv = code(sel, "UIDVALIDITY")
print("select-has-highestmodseq", h0 > 0)
f = modseqs(A.ok("UID FETCH 1:* (MODSEQ)"))
print("fetch-modseq-count", len(f), "max-is-highest", max(m for _, m in f) <= h0)
uids = [u for u, _ in f]
# A second session sees the same HIGHESTMODSEQ, in SELECT and STATUS.
B = C(port)
B.ok("LOGIN %s %s" % (user, pw))
print("status-same", code(B.ok("EXAMINE INBOX"), "HIGHESTMODSEQ") == str(h0))
B.ok("UNSELECT")
# STATUS HIGHESTMODSEQ (which turns CONDSTORE on: a third session).
D = C(port)
D.ok("LOGIN %s %s" % (user, pw))
st = D.ok("STATUS INBOX (HIGHESTMODSEQ MESSAGES)")
print("status-line", re.sub(r"HIGHESTMODSEQ \d+", "HIGHESTMODSEQ n", st[0]))
print("status-value", re.search(r"HIGHESTMODSEQ (\d+)", st[0]).group(1) == str(h0))
D.ok("LOGOUT")
# B changes message 2: its mod-sequence moves past h0.
B.ok("SELECT INBOX")
out = B.ok("STORE 2 +FLAGS (\\Flagged)")
print("store-plain-has-modseq", any("MODSEQ" in l for l in out))
m2 = modseqs(B.ok("UID FETCH %d (MODSEQ)" % uids[1]))[0][1]
print("other-store-bumps", m2 > h0)
# A hears of it after a NOOP, with MODSEQ (CONDSTORE is on), and
# FETCH (CHANGEDSINCE h0) lists message 2 only.
noop = A.ok("NOOP")
print("noop-fetch", [re.sub(r"MODSEQ \(\d+\)", "MODSEQ (n)", l) for l in noop if "FETCH" in l])
ch = A.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % h0)
print("changedsince", [(u, m == m2) for u, m in modseqs(ch)], "flagged", "\\Flagged" in " ".join(ch))
# SEARCH MODSEQ.
srch = A.ok("SEARCH MODSEQ %d" % (h0 + 1))
print("search-modseq", re.sub(r"MODSEQ \d+", "MODSEQ n", srch[0]), re.search(r"MODSEQ (\d+)", srch[0]).group(1) == str(m2))
print("search-modseq-none", A.ok("SEARCH MODSEQ %d" % (m2 + 1000))[0])
# STORE (UNCHANGEDSINCE): message 2 changed after h0 -> MODIFIED; 1 did not.
out, done = A.run("STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS (\\Seen)" % h0)
print("unchangedsince", re.sub(r"MODSEQ \(\d+\)", "MODSEQ (n)", " ".join(out)), "|", done)
m1 = modseqs(A.ok("UID FETCH %d (MODSEQ)" % uids[0]))[0][1]
print("stored-bumps", m1 > m2)
# A conflict with no sync in between: B stores, A at once.
B.ok("STORE 3 +FLAGS (\\Answered)")
out, done = A.run("UID STORE %d (UNCHANGEDSINCE %d) -FLAGS (\\Seen)" % (uids[2], m1))
print("unchangedsince-race", done)
A.ok("NOOP")
# .SILENT with CONDSTORE still answers with MODSEQ.
out = A.ok("STORE 4 +FLAGS.SILENT (\\Draft)")
print("silent", [re.sub(r"MODSEQ \(\d+\)", "MODSEQ (n)", l) for l in out])
hA = int(code(A.ok("EXAMINE INBOX"), "HIGHESTMODSEQ"))
hB = int(code(B.ok("EXAMINE INBOX"), "HIGHESTMODSEQ"))
print("two-sessions-same", hA == hB, hA > m1)
# QRESYNC: enable, expunge two messages in B, then A reselects with what
# it knew.
print("enable", A.ok("ENABLE QRESYNC")[0])
B.ok("SELECT INBOX")
B.ok("STORE 1,3 +FLAGS.SILENT (\\Deleted)")
print("expunge-plain", B.ok("EXPUNGE"))
B.ok("STORE 1 +FLAGS (\\Answered)")
sel = A.ok("SELECT INBOX (QRESYNC (%s %d %s))" % (uv, hA, "%d:%d" % (uids[0], uids[-1])))
print("qresync-vanished", [l for l in sel if "VANISHED" in l] == ["* VANISHED (EARLIER) %d,%d" % (uids[0], uids[2])])
print("qresync-fetch", [re.sub(r"MODSEQ \(\d+\)", "MODSEQ (n)", re.sub(r"^\* \d+ ", "* n ", l)) for l in sel if "FETCH" in l])
sel = A.ok("SELECT INBOX (QRESYNC (%s %d))" % (uv, h0))
print("qresync-all-vanished", [l for l in sel if "VANISHED" in l] == ["* VANISHED (EARLIER) %d,%d" % (uids[0], uids[2])])
print("qresync-all-fetch", len([l for l in sel if "FETCH" in l]))
out, done = A.run("SELECT INBOX (QRESYNC (1 1))")
print("qresync-wrong-validity", done.split(" ")[0], [l for l in out if "VANISHED" in l])
# UID FETCH (CHANGEDSINCE VANISHED).
out = A.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % hA)
print("fetch-vanished", [l for l in out if "VANISHED" in l] == ["* VANISHED (EARLIER) %d,%d" % (uids[0], uids[2])])
# EXPUNGE with QRESYNC on: VANISHED, not EXPUNGE.
A.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
out = A.ok("EXPUNGE")
print("expunge-qresync", [re.sub(r"\d+", "n", l) for l in out if "EXPUNGE" in l or "VANISHED" in l])
# B, without QRESYNC, hears of it as EXPUNGE.
print("other-hears", [l for l in B.ok("NOOP") if "EXPUNGE" in l or "VANISHED" in l])
print("final-highest", code(A.ok("EXAMINE INBOX"), "HIGHESTMODSEQ"))
A.ok("LOGOUT")
B.ok("LOGOUT")
print("done")
"#;

const QUOTA: &str = r#"
A = C(port)
A.ok("LOGIN %s %s" % (user, pw))
out = A.ok("GETQUOTAROOT INBOX")
print("quotaroot", out)
out, done = A.run('GETQUOTA ""')
print("getquota", out, done.split(" ")[0])
big = b"Subject: big\r\n\r\n" + b"x" * 70 * 1024 + b"\r\n"
out, done = A.run("APPEND INBOX", big)
print("append-big", done.split(" ")[0], done.split(" ")[1] if " " in done else "")
out, done = A.run("APPEND INBOX", b"Subject: small\r\n\r\nsmall\r\n")
print("append-small", done.split(" ")[0])
A.ok("SELECT INBOX")
out, done = A.run("COPY 1:* Trash")
print("copy", done.split(" ")[0], done.split(" ")[1] if " " in done else "")
A.ok("LOGOUT")
print("done")
"#;

const HIGHEST: &str = r#"
A = C(port)
A.ok("LOGIN %s %s" % (user, pw))
print("highest", code(A.ok("SELECT INBOX"), "HIGHESTMODSEQ"))
print("status", re.search(r"HIGHESTMODSEQ (\d+)", A.ok("STATUS INBOX (HIGHESTMODSEQ)")[0]).group(1))
print("modseqs", modseqs(A.ok("UID FETCH 1:* (MODSEQ)")))
A.ok("LOGOUT")
"#;

/// A message in cur/ without flags (not \Recent for anyone).
fn drop_message(maildir: &Path, n: u32, text: &str) {
    let name = format!("17000000{n:02}.M{n}P{}.test", std::process::id());
    let tmp = maildir.join("tmp").join(&name);
    std::fs::write(&tmp, text).expect("write message");
    std::fs::rename(&tmp, maildir.join("cur").join(format!("{name}:2,"))).expect("rename");
}

/// A passwd-file user whose Maildir holds `n` small messages.
fn instance(name: &str, n: u32, extra_main: &str) -> (Instance, PathBuf) {
    let inst = Instance::new(name);
    let (uid, gid) = if is_root() {
        let n = 63_000 + std::process::id() % 1000;
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
    for i in 1..=n {
        drop_message(
            &maildir,
            i,
            &format!("From: a@example.org\nSubject: message {i}\n\nbody {i}\n"),
        );
    }
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
        "passdb = passwd-file:{}\nmail_location = maildir:~/Maildir\nauth_failure_delay = 0\nfirst_valid_uid = 1000\n{extra_main}",
        users.display()
    ));
    inst.master_cf("auth unix - - n - - auth\n[127.0.0.1]:0 inet n n n - - imapd\n");
    (inst, maildir)
}

fn run(script: &str, port: u16) -> Vec<String> {
    python_lines(
        &[],
        &format!("{CLIENT}{script}"),
        &[
            "127.0.0.1",
            &port.to_string(),
            "demo@example.test",
            "demo-secret",
        ],
    )
}

#[test]
fn condstore_and_qresync_across_sessions_and_restarts() {
    let (inst, maildir) = instance("imapcondstore", 5, "");
    inst.start();
    let port = inst.port("[127.0.0.1]:0");
    let out = run(SCENARIO, port);
    let f = |k: &str| field(&out, k).to_string();
    assert_eq!(f("caps"), "CONDSTORE QRESYNC QUOTA", "{out:#?}");
    assert_eq!(f("select-has-highestmodseq"), "True");
    assert_eq!(f("fetch-modseq-count"), "5 max-is-highest True");
    assert_eq!(f("status-same"), "True", "{out:#?}");
    assert_eq!(
        f("status-line"),
        "* STATUS INBOX (HIGHESTMODSEQ n MESSAGES 5)"
    );
    assert_eq!(f("status-value"), "True");
    assert_eq!(f("store-plain-has-modseq"), "False", "{out:#?}");
    assert_eq!(f("other-store-bumps"), "True", "{out:#?}");
    assert_eq!(
        f("noop-fetch"),
        "['* 2 FETCH (FLAGS (\\\\Flagged) UID 2 MODSEQ (n))']",
        "{out:#?}"
    );
    assert_eq!(f("changedsince"), "[(2, True)] flagged True", "{out:#?}");
    assert_eq!(f("search-modseq"), "* SEARCH 2 (MODSEQ n) True", "{out:#?}");
    assert_eq!(f("search-modseq-none"), "* SEARCH");
    assert_eq!(
        f("unchangedsince"),
        "* 1 FETCH (FLAGS (\\Seen) MODSEQ (n)) | OK [MODIFIED 2] Conditional store failed",
        "{out:#?}"
    );
    assert_eq!(f("stored-bumps"), "True");
    assert_eq!(
        f("unchangedsince-race"),
        "OK [MODIFIED 3] Conditional store failed",
        "{out:#?}"
    );
    assert_eq!(f("silent"), "['* 4 FETCH (MODSEQ (n))']", "{out:#?}");
    assert_eq!(f("two-sessions-same"), "True True", "{out:#?}");
    assert_eq!(f("enable"), "* ENABLED QRESYNC");
    assert_eq!(
        f("expunge-plain"),
        "['* 1 EXPUNGE', '* 2 EXPUNGE']",
        "{out:#?}"
    );
    assert_eq!(f("qresync-vanished"), "True", "{out:#?}");
    assert_eq!(
        f("qresync-fetch"),
        "['* n FETCH (UID 2 FLAGS (\\\\Answered \\\\Flagged) MODSEQ (n))']",
        "{out:#?}"
    );
    assert_eq!(f("qresync-all-vanished"), "True", "{out:#?}");
    assert_eq!(f("qresync-all-fetch"), "2", "{out:#?}");
    assert_eq!(f("qresync-wrong-validity"), "OK []", "{out:#?}");
    assert_eq!(f("fetch-vanished"), "True", "{out:#?}");
    assert_eq!(f("expunge-qresync"), "['* VANISHED n']", "{out:#?}");
    assert_eq!(f("other-hears"), "['* 1 EXPUNGE']", "{out:#?}");
    let highest = f("final-highest");
    let before = run(HIGHEST, port);
    assert_eq!(field(&before, "highest"), highest, "{before:#?}");
    assert_eq!(field(&before, "status"), highest);
    // The numbers are in the control directory, beside dovecot-uidlist.
    let file = std::fs::read_to_string(maildir.join("mailsuite-modseq")).expect("modseq file");
    assert!(
        file.starts_with("mailsuite-modseq 1\n") && file.contains(&format!(" H{highest} ")),
        "{file}"
    );
    // A new master, new processes: the same numbers.
    inst.stop();
    inst.start();
    let port = inst.port("[127.0.0.1]:0");
    let after = run(HIGHEST, port);
    assert_eq!(before, after);
    // A flag changed by an outside program renaming the file gets a new
    // mod-sequence at the next sync.
    let cur = maildir.join("cur");
    let name = std::fs::read_dir(&cur)
        .expect("cur")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .expect("a message");
    // Toggle $Forwarded (P) in the info.
    let (base, info) = name.split_once(":2,").expect("info");
    let renamed = if info.contains('P') {
        format!("{base}:2,{}", info.replace('P', ""))
    } else {
        format!("{base}:2,{info}P")
    };
    std::fs::rename(cur.join(&name), cur.join(renamed)).expect("rename");
    let outside = run(HIGHEST, port);
    let h: u64 = field(&outside, "highest").parse().expect("number");
    assert!(h > highest.parse::<u64>().expect("number"), "{outside:#?}");
    inst.stop();
}

#[test]
fn quota_from_mailbox_size_limit() {
    // 100 KiB for all mailboxes together; 5 small messages are in.
    let (inst, _maildir) = instance("imapquota", 5, "mailbox_size_limit = 102400\n");
    inst.start();
    let port = inst.port("[127.0.0.1]:0");
    let out = run(QUOTA, port);
    assert_eq!(
        field(&out, "quotaroot"),
        "['* QUOTAROOT INBOX \"\"', '* QUOTA \"\" (STORAGE 0 100)']",
        "{out:#?}"
    );
    assert_eq!(
        field(&out, "getquota"),
        "['* QUOTA \"\" (STORAGE 0 100)'] OK"
    );
    assert_eq!(field(&out, "append-big"), "OK [APPENDUID", "{out:#?}");
    assert_eq!(field(&out, "append-small"), "OK");
    // 70 KiB in: copying it all again would pass 100 KiB.
    assert_eq!(field(&out, "copy"), "NO [OVERQUOTA]", "{out:#?}");
    inst.stop();

    // mailbox_size_limit = 0: no quota root, as Dovecot without quota.
    let (inst, _maildir) = instance("imapnoquota", 1, "mailbox_size_limit = 0\n");
    inst.start();
    let port = inst.port("[127.0.0.1]:0");
    let out = run(QUOTA, port);
    assert_eq!(
        field(&out, "quotaroot"),
        "['* QUOTAROOT INBOX']",
        "{out:#?}"
    );
    assert_eq!(field(&out, "getquota"), "[] NO");
    assert_eq!(field(&out, "copy"), "OK [COPYUID", "{out:#?}");
    inst.stop();
}

#[test]
fn append_past_the_quota_is_refused() {
    let (inst, _maildir) = instance("imapoverquota", 1, "mailbox_size_limit = 51200\n");
    inst.start();
    let port = inst.port("[127.0.0.1]:0");
    let out = run(QUOTA, port);
    assert_eq!(field(&out, "append-big"), "NO [OVERQUOTA]", "{out:#?}");
    assert_eq!(field(&out, "append-small"), "OK");
    inst.stop();
}
