//! imapd on mbox (`mail_location = mbox:~/mail:INBOX=SPOOL/%u`), as
//! Dovecot serves it: mail delivered by SMTP → local into the spool
//! mbox, then imaplib: SELECT, FETCH byte-exact (`>From ` unquoted),
//! STORE seen by a second session and after a reconnect, EXPUNGE,
//! APPEND, CREATE/LIST/RENAME/DELETE of mbox folders (files under
//! ~/mail, '/' hierarchy), COPY, a delivery reported during IDLE; then
//! the spool file itself, as s-nail reads it (Status:/X-Status:).
//! RENAME INBOX moves the spool's messages into a new folder and leaves
//! the spool empty for the next delivery; a STORE on a large mbox
//! rewrites headers in place (same inode, same size) once they fit.

use kit::{field, is_root, Instance, SystemUser};
use std::process::Command;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

const SCENARIO: &str = r#"
import imaplib, smtplib, sys, re, socket, time
host, port, smtp, user, pw, rcpt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
def ok(r):
    typ, data = r
    assert typ == "OK", (typ, data)
    return data
def send(n, body):
    s = smtplib.SMTP("127.0.0.1", smtp, timeout=10)
    s.sendmail("sender@example.org", [rcpt], b"Subject: msg %d\r\nFrom: sender@example.org\r\n\r\n" % n + body)
    s.quit()
def flags(M, seq):
    typ, data = M.fetch(seq, "(FLAGS)")
    return norm(re.search(rb"FLAGS \((.*?)\)", data[0]).group(1).decode())
def norm(f):
    return " ".join(sorted(x for x in f.split() if x != "\\Recent"))
M = imaplib.IMAP4(host, port)
ok(M.login(user, pw))
typ, lines = M.list()
print("list0", " ".join(sorted(l.decode().split(" ")[-1].strip('"') for l in lines)))
print("delim", lines[0].decode().split('"')[1])
typ, data = M.select("INBOX")
print("exists", data[0].decode())
bodies = {1: b"body one\r\n", 2: b"From the start of a line\r\nsecond\r\n", 3: b"three\r\n"}
typ, data = M.fetch("1:*", "(UID RFC822.SIZE BODY.PEEK[])")
uids = []
for item in data:
    if isinstance(item, tuple):
        meta, msg = item
        size = int(re.search(rb"RFC822.SIZE (\d+)", meta).group(1))
        assert size == len(msg), (size, len(msg))
        n = int(re.search(rb"Subject: msg (\d+)", msg).group(1))
        assert msg.split(b"\r\n\r\n", 1)[1] == bodies[n], msg
        uids.append(re.search(rb"UID (\d+)", meta).group(1).decode())
print("uids", " ".join(uids))
print("bodies-exact", "yes")
ok(M.store("1", "+FLAGS", r"(\Seen \Flagged $Work)"))
ok(M.store("3", "+FLAGS", r"\Answered"))
print("flags1", flags(M, "1"))
# A second session sees them.
S = imaplib.IMAP4(host, port)
ok(S.login(user, pw))
S.select("INBOX")
print("other-flags1", flags(S, "1"))
print("other-flags3", flags(S, "3"))
# EXPUNGE of 2.
ok(M.store("2", "+FLAGS.SILENT", r"\Deleted"))
typ, data = M.expunge()
print("expunge", " ".join(d.decode() for d in data))
# The other session learns of it at its next command.
S.noop()
print("other-expunge", " ".join(d.decode() for d in S.untagged_responses.get("EXPUNGE", [])))
typ, data = S.fetch("1:*", "(UID)")
print("other-uids", " ".join(re.search(rb"UID (\d+)", d).group(1).decode() for d in data))
S.logout()
# APPEND with a From line in the body and flags.
msg = b"Subject: appended\r\nFrom: me@example.org\r\n\r\nFrom here on\r\nend\r\n"
typ, data = M.append("INBOX", r"(\Seen $Later)", None, msg)
assert typ == "OK", data
print("appenduid", re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1).decode())
M.noop()
typ, data = M.fetch("3", "(FLAGS BODY.PEEK[])")
print("append-flags", norm(re.search(rb"FLAGS \((.*?)\)", data[0][0]).group(1).decode()))
got = data[0][1]
print("append-body", "exact" if got == msg else repr(got))
# Folders: a directory level, a file in it, another folder.
ok(M.create("Lists/"))
ok(M.create("Lists/rust"))
ok(M.create("Work"))
typ, data = M.create("Work")
print("create-again", typ)
typ, lines = M.list()
print("list1", " ".join(sorted(l.decode().split(" ")[-1].strip('"') for l in lines)))
print("lists-attrs", [l.decode() for l in lines if l.decode().endswith(' Lists') or l.decode().endswith(' "Lists"')][0].split(")")[0])
# COPY 1 (\Seen \Flagged $Work) into Work, into Lists/rust too.
typ, data = M.copy("1", "Work")
assert typ == "OK", data
print("copyuid", re.search(rb"COPYUID \d+ (\S+) (\d+)", data[0]).group(2).decode())
ok(M.copy("1:2", "Lists/rust"))
ok(M.subscribe("Work"))
ok(M.rename("Work", "Archive"))
typ, lines = M.lsub()
print("lsub", " ".join(sorted(l.decode().split(" ")[-1].strip('"') for l in lines)))
typ, data = M.select("Archive")
print("archive-exists", data[0].decode())
print("archive-flags", flags(M, "1"))
typ, data = M.fetch("1", "(BODY.PEEK[TEXT])")
print("archive-body", data[0][1].decode().strip())
typ, data = M.status("Lists/rust", "(MESSAGES UNSEEN UIDNEXT)")
print("status-rust", data[0].decode())
typ, data = M.delete("Lists")
print("delete-parent", typ)
ok(M.delete("Lists/rust"))
ok(M.delete("Lists"))
typ, lines = M.list()
print("list2", " ".join(sorted(l.decode().split(" ")[-1].strip('"') for l in lines)))
# IDLE on INBOX: a delivery is reported.
M.select("INBOX")
tag = M._new_tag().decode()
M.send(("%s IDLE\r\n" % tag).encode())
print("idle-cont", M.readline().decode().strip())
send(4, b"during idle\r\n")
M.sock.settimeout(15)
seen = ""
deadline = time.time() + 15
while time.time() < deadline:
    line = M.readline().decode().strip()
    if line.endswith("EXISTS"):
        seen = line
        break
print("idle-exists", seen)
M.send(b"DONE\r\n")
while True:
    line = M.readline().decode()
    if line.startswith(tag):
        print("idle-done", line.split(" ")[1])
        break
M.logout()
# A reconnect sees the flags and UIDs kept.
R = imaplib.IMAP4(host, port)
ok(R.login(user, pw))
typ, data = R.select("INBOX")
print("reconnect-exists", data[0].decode())
typ, data = R.fetch("1:*", "(UID FLAGS)")
print("reconnect", " | ".join("%s:%s" % (re.search(rb"UID (\d+)", d).group(1).decode(), norm(re.search(rb"FLAGS \((.*?)\)", d).group(1).decode())) for d in data))
R.logout()
print("done")
"#;

#[test]
fn imap_on_an_mbox_spool() {
    if !is_root() {
        eprintln!("skipped: useradd, local delivery and imapd's user switch need root");
        return;
    }
    let (user, password, inst, mbox, smtp, imap) =
        mbox_instance("imb", "imap_idle_notify_interval = 1s\n");
    let rcpt = format!("{}@localhost", user.name);
    let bodies = [
        "body one\\r\\n",
        "From the start of a line\\r\\nsecond\\r\\n",
        "three\\r\\n",
    ];
    for (i, b) in bodies.iter().enumerate() {
        let n = i + 1;
        let message = format!(
            "Subject: msg {n}\r\nFrom: sender@example.org\r\n\r\n{}",
            b.replace("\\r\\n", "\r\n")
        );
        kit::smtp_send(smtp, "sender@example.org", &[rcpt.as_str()], &message);
        assert!(
            inst.wait_log("status=sent", n, 10 * SECOND),
            "{}",
            inst.maillog()
        );
    }
    let raw = std::fs::read_to_string(&mbox).expect("spool mbox");
    assert!(raw.contains("\n>From the start of a line\n"), "{raw}");
    let lines = run_python(
        SCENARIO,
        &[
            "127.0.0.1",
            &imap.to_string(),
            &smtp.to_string(),
            &user.name,
            &password,
            &rcpt,
        ],
        &inst,
    );
    assert_eq!(field(&lines, "list0"), "Drafts INBOX Junk Sent Trash");
    assert_eq!(field(&lines, "delim"), "/");
    assert_eq!(field(&lines, "exists"), "3");
    assert_eq!(field(&lines, "uids"), "1 2 3");
    assert_eq!(field(&lines, "flags1"), "$Work \\Flagged \\Seen");
    assert_eq!(field(&lines, "other-flags1"), "$Work \\Flagged \\Seen");
    assert_eq!(field(&lines, "other-flags3"), "\\Answered");
    assert_eq!(field(&lines, "expunge"), "2");
    assert_eq!(field(&lines, "other-expunge"), "2");
    assert_eq!(field(&lines, "other-uids"), "1 3");
    assert_eq!(field(&lines, "appenduid"), "4");
    assert_eq!(field(&lines, "append-flags"), "$Later \\Seen");
    assert_eq!(field(&lines, "append-body"), "exact");
    assert_eq!(field(&lines, "create-again"), "NO");
    assert_eq!(
        field(&lines, "list1"),
        "Drafts INBOX Junk Lists Lists/rust Sent Trash Work"
    );
    assert!(field(&lines, "lists-attrs").contains("\\Noselect"));
    assert_eq!(field(&lines, "copyuid"), "1");
    assert_eq!(field(&lines, "lsub"), "Archive Drafts Junk Sent Trash");
    assert_eq!(field(&lines, "archive-exists"), "1");
    assert_eq!(field(&lines, "archive-flags"), "$Work \\Flagged \\Seen");
    assert_eq!(field(&lines, "archive-body"), "body one");
    assert!(
        field(&lines, "status-rust").contains("MESSAGES 2"),
        "{}",
        field(&lines, "status-rust")
    );
    assert_eq!(field(&lines, "delete-parent"), "NO");
    assert_eq!(
        field(&lines, "list2"),
        "Archive Drafts INBOX Junk Sent Trash"
    );
    assert_eq!(field(&lines, "idle-cont"), "+ idling");
    assert_eq!(field(&lines, "idle-exists"), "* 4 EXISTS");
    assert_eq!(field(&lines, "idle-done"), "OK");
    assert_eq!(field(&lines, "reconnect-exists"), "4");
    assert_eq!(
        field(&lines, "reconnect"),
        "1:$Work \\Flagged \\Seen | 3:\\Answered | 4:$Later \\Seen | 5:"
    );
    // The files as mail readers see them.
    let home = &user.home;
    assert!(home.join("mail/Archive").is_file());
    assert!(home.join("mail/.subscriptions").is_file());
    assert!(home.join("mail/.imap/INBOX/mailsuite-modseq").is_file());
    let raw = std::fs::read_to_string(&mbox).expect("spool mbox");
    assert!(!raw.contains("Subject: msg 2"), "{raw}");
    assert!(raw.contains("\n>From here on\n"), "{raw}");
    let m1 = &raw[..raw.find("Subject: msg 3").expect("msg 3")];
    assert!(
        m1.contains("Status: RO\n") && m1.contains("X-Status: F\n"),
        "{raw}"
    );
    // X-Keywords ends in padding spaces (room for in-place changes).
    assert!(
        m1.lines()
            .any(|l| l.starts_with("X-Keywords: $Work ") && l.trim_end() == "X-Keywords: $Work"),
        "{raw}"
    );
    // s-nail reads the spool: 4 messages, message 1 read and flagged.
    let out = Command::new("s-nail")
        .args(["-N", "-R", "-S", "headline=%>%a%m %s", "-H", "-f"])
        .arg(&mbox)
        .env("HOME", &inst.dir)
        .env("MAILRC", "/dev/null")
        .output()
        .expect("s-nail");
    let summary = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = summary.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        rows.len(),
        4,
        "{summary}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(rows[0].contains("msg 1"), "{summary}");
    assert!(
        rows[3].contains('N') || rows[3].contains('U'),
        "the delivery during IDLE is new/unread: {summary}"
    );
    inst.stop();
}

/// A user whose INBOX is an mbox spool, with `extra` main.cf lines;
/// returns (user, password, the instance, the spool file, SMTP port,
/// IMAP port).
fn mbox_instance(
    tag: &str,
    extra: &str,
) -> (SystemUser, String, Instance, std::path::PathBuf, u16, u16) {
    let user = SystemUser::new(tag);
    let password = format!("Imb-{}-secret", std::process::id());
    user.set_password(&password);
    let inst = Instance::new(&format!("imap-mbox-{tag}"));
    let spool = inst.dir.join("spool");
    std::fs::create_dir_all(&spool).expect("spool");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    inst.main_cf(&format!(
        "mail_spool_directory = {d}\nmail_location = mbox:~/mail:INBOX={d}/%u\nalias_maps =\nalias_database =\nmydestination = $myhostname, localhost\nauth_failure_delay = 0\n{extra}",
        d = spool.display()
    ));
    inst.master_cf("127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nlocal unix - n n - - local\nbounce unix - - n - 0 bounce\nauth unix - - n - - auth\n[127.0.0.1]:0 inet n n n - - imapd\n");
    inst.start();
    let smtp = inst.port("127.0.0.1:0");
    let imap = inst.port("[127.0.0.1]:0");
    let mbox = spool.join(&user.name);
    (user, password, inst, mbox, smtp, imap)
}

fn run_python(script: &str, args: &[&str], inst: &Instance) -> Vec<String> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3");
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert!(
        out.status.success() && lines.last().map(String::as_str) == Some("done"),
        "{lines:#?}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        inst.maillog()
    );
    lines
}

const RENAME_INBOX: &str = r#"
import imaplib, smtplib, sys, re, time
host, port, smtp, user, pw, rcpt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
def ok(r):
    typ, data = r
    assert typ == "OK", (typ, data)
    return data
def norm(f):
    return " ".join(sorted(x for x in f.split() if x != "\\Recent"))
def listing(M, seq):
    typ, data = M.fetch(seq, "(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    out = []
    for d in data:
        if isinstance(d, tuple):
            uid = re.search(rb"UID (\d+)", d[0]).group(1).decode()
            fl = norm(re.search(rb"FLAGS \((.*?)\)", d[0]).group(1).decode())
            subj = d[1].decode().strip().split(": ", 1)[1]
            out.append("%s:%s:%s" % (uid, subj, fl))
    return " | ".join(out)
M = imaplib.IMAP4(host, port)
ok(M.login(user, pw))
typ, data = M.select("INBOX")
print("exists", data[0].decode())
ok(M.store("1", "+FLAGS", r"\Seen"))
ok(M.store("2", "+FLAGS", r"(\Flagged $Work)"))
print("before", listing(M, "1:*"))
# INBOX stays selected in a second session.
S = imaplib.IMAP4(host, port)
ok(S.login(user, pw))
S.select("INBOX")
typ, data = M.rename("INBOX", "old-mail")
print("rename", typ, data[0].decode())
typ, data = M.rename("INBOX", "old-mail")
print("rename-again", typ, data[0].decode())
typ, lines = M.list()
print("list", " ".join(sorted(l.decode().split(" ")[-1].strip('"') for l in lines)))
typ, data = M.status("INBOX", "(MESSAGES UIDNEXT)")
print("status-inbox", data[0].decode())
ok(S.noop())
print("other-expunges", len(S.untagged_responses.get("EXPUNGE", [])))
S.logout()
typ, data = M.select("old-mail")
print("old-exists", data[0].decode())
print("old", listing(M, "1:*"))
typ, data = M.select("INBOX")
print("inbox-exists", data[0].decode())
# A delivery after the rename lands in INBOX.
s = smtplib.SMTP("127.0.0.1", smtp, timeout=10)
s.sendmail("sender@example.org", [rcpt], b"Subject: msg 4\r\nFrom: sender@example.org\r\n\r\nafter the rename\r\n")
s.quit()
n = 0
deadline = time.time() + 20
while time.time() < deadline:
    typ, data = M.status("INBOX", "(MESSAGES)")
    n = int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))
    if n:
        break
    time.sleep(0.2)
ok(M.noop())
print("inbox-after", listing(M, "1:*"))
typ, data = M.status("old-mail", "(MESSAGES)")
print("status-old", data[0].decode())
M.logout()
print("done")
"#;

#[test]
fn rename_inbox_on_an_mbox_spool() {
    if !is_root() {
        eprintln!("skipped: useradd, local delivery and imapd's user switch need root");
        return;
    }
    let (user, password, inst, mbox, smtp, imap) = mbox_instance("imr", "");
    let rcpt = format!("{}@localhost", user.name);
    for n in 1..=3 {
        let message = format!("Subject: msg {n}\r\nFrom: sender@example.org\r\n\r\nbody {n}\r\n");
        kit::smtp_send(smtp, "sender@example.org", &[rcpt.as_str()], &message);
        assert!(
            inst.wait_log("status=sent", n, 10 * SECOND),
            "{}",
            inst.maillog()
        );
    }
    let lines = run_python(
        RENAME_INBOX,
        &[
            "127.0.0.1",
            &imap.to_string(),
            &smtp.to_string(),
            &user.name,
            &password,
            &rcpt,
        ],
        &inst,
    );
    assert_eq!(field(&lines, "exists"), "3");
    let before = "1:msg 1:\\Seen | 2:msg 2:$Work \\Flagged | 3:msg 3:";
    assert_eq!(field(&lines, "before"), before);
    assert!(field(&lines, "rename").starts_with("OK"), "{lines:#?}");
    assert!(
        field(&lines, "rename-again").starts_with("NO [ALREADYEXISTS]"),
        "{lines:#?}"
    );
    assert_eq!(
        field(&lines, "list"),
        "Drafts INBOX Junk Sent Trash old-mail"
    );
    assert!(
        field(&lines, "status-inbox").contains("MESSAGES 0"),
        "{lines:#?}"
    );
    assert_eq!(field(&lines, "other-expunges"), "3");
    // The messages, their UIDs and flags are in the new folder.
    assert_eq!(field(&lines, "old-exists"), "3");
    assert_eq!(field(&lines, "old"), before);
    assert_eq!(field(&lines, "inbox-exists"), "0");
    // UIDs are not reused in INBOX.
    assert_eq!(field(&lines, "inbox-after"), "4:msg 4:");
    assert!(
        field(&lines, "status-old").contains("MESSAGES 3"),
        "{lines:#?}"
    );
    // On disk: the spool has only the new delivery, ~/mail/old-mail the rest.
    let spool = std::fs::read_to_string(&mbox).expect("spool");
    assert!(
        spool.contains("Subject: msg 4") && !spool.contains("Subject: msg 1"),
        "{spool}"
    );
    let old = std::fs::read_to_string(user.home.join("mail/old-mail")).expect("old-mail");
    for n in 1..=3 {
        assert!(old.contains(&format!("Subject: msg {n}\n")), "{old}");
    }
    assert!(!old.contains("msg 4"), "{old}");
    inst.stop();
}

const LARGE_STORE: &str = r#"
import imaplib, sys, re, os, time
host, port, user, pw, spool = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
def ok(r):
    typ, data = r
    assert typ == "OK", (typ, data)
    return data
def norm(f):
    return " ".join(sorted(x for x in f.split() if x != "\\Recent"))
def flags(M, seq):
    typ, data = M.fetch(seq, "(FLAGS)")
    return norm(re.search(rb"FLAGS \((.*?)\)", data[0]).group(1).decode())
def timed_store(M, seq, op, fl):
    st = os.stat(spool)
    t = time.monotonic()
    ok(M.store(seq, op, fl))
    took = time.monotonic() - t
    st2 = os.stat(spool)
    same = "same" if st.st_ino == st2.st_ino else "new"
    size = "same" if st.st_size == st2.st_size else "changed"
    return "%s %s %.3f" % (same, size, took)
M = imaplib.IMAP4(host, port)
ok(M.login(user, pw))
typ, data = M.select("INBOX")
print("exists", data[0].decode())
S = imaplib.IMAP4(host, port)
ok(S.login(user, pw))
S.select("INBOX")
# Delivered messages have no flag headers yet: the first STORE rewrites.
print("first", timed_store(M, "1:*", "+FLAGS.SILENT", r"\Seen"))
# From now on the headers fit: in place.
print("one", timed_store(M, "1000", "+FLAGS", r"(\Flagged $Work)"))
print("flags1000", flags(M, "1000"))
print("all", timed_store(M, "1:*", "-FLAGS.SILENT", r"\Seen"))
print("kw", timed_store(M, "2000", "+FLAGS", r"(\Answered $Later $Todo)"))
ok(S.noop())
print("other1000", flags(S, "1000"))
print("other2000", flags(S, "2000"))
print("other1", flags(S, "1"))
S.logout()
M.logout()
R = imaplib.IMAP4(host, port)
ok(R.login(user, pw))
typ, data = R.select("INBOX")
print("reconnect-exists", data[0].decode())
print("reconnect1000", flags(R, "1000"))
print("reconnect2000", flags(R, "2000"))
typ, data = R.fetch("1000", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
print("subject1000", data[0][1].decode().strip())
R.logout()
print("done")
"#;

#[test]
fn store_in_place_on_a_large_mbox() {
    if !is_root() {
        eprintln!("skipped: useradd and imapd's user switch need root");
        return;
    }
    let (user, password, inst, mbox, _smtp, imap) = mbox_instance("ims", "");
    // 2,000 messages as local delivery writes them, about 4 MB.
    let mut data = String::new();
    let line = "x".repeat(72);
    for n in 1..=2000 {
        data.push_str(&format!(
            "From sender@example.org  Mon Nov  4 08:02:03 2024\nSubject: bulk {n}\nFrom: sender@example.org\nMessage-ID: <{n}@example.org>\n\n"
        ));
        for _ in 0..25 {
            data.push_str(&line);
            data.push('\n');
        }
        data.push('\n');
    }
    std::fs::write(&mbox, &data).expect("spool");
    let st = Command::new("chown")
        .arg(format!("{0}:{0}", user.name))
        .arg(&mbox)
        .status()
        .expect("chown");
    assert!(st.success());
    let lines = run_python(
        LARGE_STORE,
        &[
            "127.0.0.1",
            &imap.to_string(),
            &user.name,
            &password,
            &mbox.to_string_lossy(),
        ],
        &inst,
    );
    assert_eq!(field(&lines, "exists"), "2000");
    // (inode, size, seconds)
    let parts = |key: &str| -> (String, String, f64) {
        let v: Vec<&str> = field(&lines, key).split(' ').collect();
        (
            v[0].to_string(),
            v[1].to_string(),
            v[2].parse().expect("seconds"),
        )
    };
    let (ino, size, _) = parts("first");
    assert_eq!((ino.as_str(), size.as_str()), ("new", "changed"));
    for key in ["one", "all", "kw"] {
        let (ino, size, took) = parts(key);
        assert_eq!(
            (ino.as_str(), size.as_str()),
            ("same", "same"),
            "{key}: in place"
        );
        // Writing one header block is quick; even 2,000 of them.
        assert!(took < 3.0, "{key}: {took}s");
    }
    let (_, _, one) = parts("one");
    assert!(one < 1.0, "one in-place STORE took {one}s");
    assert_eq!(field(&lines, "flags1000"), "$Work \\Flagged \\Seen");
    assert_eq!(field(&lines, "other1000"), "$Work \\Flagged");
    assert_eq!(field(&lines, "other2000"), "$Later $Todo \\Answered");
    assert_eq!(field(&lines, "other1"), "");
    assert_eq!(field(&lines, "reconnect-exists"), "2000");
    assert_eq!(field(&lines, "reconnect1000"), "$Work \\Flagged");
    assert_eq!(field(&lines, "reconnect2000"), "$Later $Todo \\Answered");
    assert_eq!(field(&lines, "subject1000"), "Subject: bulk 1000");
    // The headers as mail readers see them.
    let raw = std::fs::read_to_string(&mbox).expect("spool");
    let m = &raw[raw.find("Subject: bulk 2000\n").expect("2000")..];
    let head = &m[..m.find("\n\n").expect("header end")];
    assert!(head.contains("\nStatus: O\n"), "{head}");
    assert!(head.contains("\nX-Status: A\n"), "{head}");
    assert!(
        head.lines()
            .any(|l| l.trim_end() == "X-Keywords: $Later $Todo"),
        "{head}"
    );
    inst.stop();
}
