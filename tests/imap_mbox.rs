//! imapd on mbox (`mail_location = mbox:~/mail:INBOX=SPOOL/%u`), as
//! Dovecot serves it: mail delivered by SMTP → local into the spool
//! mbox, then imaplib: SELECT, FETCH byte-exact (`>From ` unquoted),
//! STORE seen by a second session and after a reconnect, EXPUNGE,
//! APPEND, CREATE/LIST/RENAME/DELETE of mbox folders (files under
//! ~/mail, '/' hierarchy), COPY, a delivery reported during IDLE; then
//! the spool file itself, as s-nail reads it (Status:/X-Status:).

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
    let user = SystemUser::new("imb");
    let password = format!("Imb-{}-secret", std::process::id());
    user.set_password(&password);
    let inst = Instance::new("imap-mbox");
    let spool = inst.dir.join("spool");
    std::fs::create_dir_all(&spool).expect("spool");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    inst.main_cf(&format!(
        "mail_spool_directory = {d}\nmail_location = mbox:~/mail:INBOX={d}/%u\nalias_maps =\nalias_database =\nmydestination = $myhostname, localhost\nauth_failure_delay = 0\nimap_idle_notify_interval = 1s\n",
        d = spool.display()
    ));
    inst.master_cf("127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nlocal unix - n n - - local\nbounce unix - - n - 0 bounce\nauth unix - - n - - auth\n[127.0.0.1]:0 inet n n n - - imapd\n");
    inst.start();
    let smtp = inst.port("127.0.0.1:0");
    let imap = inst.port("[127.0.0.1]:0");
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
    let mbox = spool.join(&user.name);
    let raw = std::fs::read_to_string(&mbox).expect("spool mbox");
    assert!(raw.contains("\n>From the start of a line\n"), "{raw}");
    let out = Command::new("python3")
        .args([
            "-c",
            SCENARIO,
            "127.0.0.1",
            &imap.to_string(),
            &smtp.to_string(),
            &user.name,
            &password,
            &rcpt,
        ])
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
    assert!(m1.contains("X-Keywords: $Work\n"), "{raw}");
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
