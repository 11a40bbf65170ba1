//! pop3d end to end, as root with a real system user (useradd +
//! chpasswd): mail delivered over SMTP → smtpd → cleanup → qmgr → local
//! → ~/Maildir, then read with Python's poplib (and curl when present)
//! through pop3d, which checks the password with the auth service over
//! `private/auth`: STAT, LIST, UIDL (stable across sessions), TOP, RETR,
//! DELE committed only at QUIT, wrong passwords, the session lock, mail
//! delivered during a session, and the processes' owners (pre-login as
//! mail_owner, the session as the user).

use kit::{field, is_root, wait_until, Instance, SystemUser};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// The poplib side; each mode prints what the test checks.
const CLIENT: &str = r#"
import poplib, sys
mode, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def login():
    p = poplib.POP3("127.0.0.1", port, timeout=10)
    print("greeting", p.getwelcome().decode())
    p.user(user)
    print("pass", p.pass_(pw).decode())
    return p
if mode == "first":
    p = login()
    print("stat", *p.stat())
    resp, items, _ = p.list()
    print("list", resp.decode(), *[i.decode() for i in items])
    resp, items, _ = p.uidl()
    print("uidl", *[i.decode().split()[1] for i in items])
    resp, lines, octets = p.top(1, 0)
    print("top-has-blank-end", lines[-1] == b"", b"" not in lines[:-1])
    print("top-subject", [l.decode() for l in lines if l.startswith(b"Subject:")][0])
    size2 = int(p.list(2).decode().split()[2])
    resp, lines, octets = p.retr(2)
    print("retr-resp", resp.decode(), size2, octets)
    i = lines.index(b"")
    print("retr-subject", [l.decode() for l in lines[:i] if l.startswith(b"Subject:")][0])
    print("retr-body", "|".join(l.decode() for l in lines[i + 1:]))
    print("dele", p.dele(1).decode())
    print("stat-after-dele", *p.stat())
    print("quit", p.quit().decode())
elif mode == "uidl":
    p = login()
    print("stat", *p.stat())
    resp, items, _ = p.uidl()
    print("uidl", *[i.decode().split()[1] for i in items])
    print("quit", p.quit().decode())
elif mode == "badpass":
    p = poplib.POP3("127.0.0.1", port, timeout=10)
    p.user(user)
    try:
        p.pass_(pw)
        print("result accepted")
    except poplib.error_proto as e:
        print("result", e.args[0].decode())
elif mode == "drop":
    p = login()
    p.dele(1)
    p.dele(2)
    p.sock.close()
    print("dropped")
"#;

fn python(args: &[&str]) -> Vec<String> {
    kit::python_lines(&[], CLIENT, args)
}

fn pop3d_uids() -> Vec<u32> {
    kit::uids_of("pop3d")
}

fn smtp_send(port: u16, rcpt: &str, n: u32) {
    let message = format!(
        "Subject: msg {n}\r\nFrom: sender@example.org\r\n\r\nbody {n} line\r\n.dot line {n}\r\n"
    );
    kit::smtp_send(port, "sender@example.org", &[rcpt], &message);
}

fn uid_of(name: &str) -> u32 {
    let out = Command::new("id").args(["-u", name]).output().expect("id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("uid")
}

/// A raw POP3 client for what poplib cannot show.
struct Raw {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Raw {
    fn connect(port: u16) -> (Raw, String) {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(10 * SECOND)).expect("timeout");
        let mut raw = Raw {
            r: BufReader::new(s.try_clone().expect("clone")),
            w: s,
        };
        let g = raw.line();
        (raw, g)
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        let _ = self.r.read_line(&mut l);
        l.trim_end().to_string()
    }

    fn ask(&mut self, cmd: &str) -> String {
        self.w
            .write_all(format!("{cmd}\r\n").as_bytes())
            .expect("send");
        self.line()
    }

    /// A multi-line answer, lines up to the final `.`.
    fn multi(&mut self, cmd: &str) -> Vec<String> {
        let first = self.ask(cmd);
        let mut v = vec![first];
        if !v[0].starts_with("+OK") {
            return v;
        }
        loop {
            let l = self.line();
            if l == "." || l.is_empty() && v.len() > 10_000 {
                return v;
            }
            v.push(l);
        }
    }
}

fn instance(name: &str) -> Instance {
    instance_with(
        name,
        "home_mailbox = Maildir/\nmail_location = maildir:~/Maildir\n",
    )
}

fn instance_with(name: &str, store: &str) -> Instance {
    let inst = Instance::new(name);
    inst.main_cf(store);
    inst.main_cf(
        "alias_maps =\nalias_database =\nmydestination = $myhostname, localhost\nauth_failure_delay = 0\n",
    );
    inst.master_cf(
        "127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nlocal unix - n n - - local\nbounce unix - - n - 0 bounce\nauth unix - - n - - auth\n[127.0.0.1]:0 inet n n n - - pop3d\n",
    );
    inst
}

#[test]
fn pop3_end_to_end_with_a_system_user() {
    if !is_root() {
        eprintln!("skipped: useradd and pop3d's user switch need root");
        return;
    }
    let user = SystemUser::new("pop");
    let password = format!("Pop-{}-secret", std::process::id());
    user.set_password(&password);
    let inst = instance("pop3");
    inst.start();
    let smtp = inst.port("127.0.0.1:0");
    let pop = inst.port("[127.0.0.1]:0");
    let pp = pop.to_string();
    let rcpt = format!("{}@localhost", user.name);
    for n in 1..=3 {
        smtp_send(smtp, &rcpt, n);
        assert!(
            inst.wait_log("status=sent", n as usize, 10 * SECOND),
            "delivery {n}\n{}",
            inst.maillog()
        );
    }
    let args = |mode: &'static str| [mode, pp.as_str(), user.name.as_str(), password.as_str()];

    // The pre-login process runs as mail_owner (nobody), before any login.
    let (mut raw, greeting) = Raw::connect(pop);
    assert_eq!(greeting, "+OK Dovecot ready.");
    let nobody = uid_of("nobody");
    assert!(
        wait_until(5 * SECOND, || pop3d_uids().contains(&nobody)),
        "no pop3d running as nobody: {:?}",
        pop3d_uids()
    );
    let capa = raw.multi("CAPA");
    for want in ["CAPA", "TOP", "UIDL", "RESP-CODES", "USER", "SASL PLAIN"] {
        assert!(capa.iter().any(|l| l == want), "{capa:?}");
    }
    assert!(!capa.iter().any(|l| l == "STLS"), "{capa:?}");
    assert_eq!(raw.ask("STAT"), "-ERR Unknown command: STAT");
    assert_eq!(raw.ask("PASS x"), "-ERR No username given.");
    let long = format!("USER {}", "x".repeat(300));
    assert_eq!(raw.ask(&long), "-ERR Input line too long.");
    assert_eq!(raw.ask("QUIT"), "+OK Logging out");

    // Session 1.
    let out = python(&args("first"));
    assert_eq!(field(&out, "greeting"), "+OK Dovecot ready.");
    assert_eq!(field(&out, "pass"), "+OK Logged in.");
    let stat: Vec<u64> = field(&out, "stat")
        .split(' ')
        .map(|x| x.parse().expect("number"))
        .collect();
    assert_eq!(stat[0], 3, "{out:#?}");
    let list = field(&out, "list");
    assert!(list.starts_with("+OK 3 messages:"), "{list}");
    let sizes: u64 = list
        .split(' ')
        .skip(4)
        .step_by(2)
        .map(|x| x.parse::<u64>().expect("size"))
        .sum();
    assert_eq!(sizes, stat[1], "LIST sizes vs STAT: {list}");
    let uidls1: Vec<String> = field(&out, "uidl").split(' ').map(String::from).collect();
    assert_eq!(uidls1.len(), 3, "{out:#?}");
    assert_eq!(field(&out, "top-has-blank-end"), "True True");
    // UIDs follow the order the Maildir sync found the files in new/,
    // not necessarily the delivery order: check contents, not positions.
    let top = field(&out, "top-subject");
    assert!(top.starts_with("Subject: msg "), "{top}");
    let retr = field(&out, "retr-resp");
    let parts: Vec<&str> = retr.split(' ').collect();
    assert_eq!(parts[0], "+OK", "{retr}");
    assert_eq!(parts[1], parts[3], "RETR octets vs LIST size: {retr}");
    assert_eq!(parts[1], parts[4], "RETR octets vs bytes received: {retr}");
    let k = field(&out, "retr-subject")
        .strip_prefix("Subject: msg ")
        .expect("subject")
        .to_string();
    assert_ne!(format!("Subject: msg {k}"), top, "RETR 2 is not message 1");
    assert_eq!(
        field(&out, "retr-body"),
        format!("body {k} line|.dot line {k}")
    );
    assert_eq!(field(&out, "dele"), "+OK Marked to be deleted.");
    assert_eq!(field(&out, "stat-after-dele").split(' ').next(), Some("2"));
    assert_eq!(field(&out, "quit"), "+OK Logging out, messages deleted.");
    assert!(
        inst.wait_log("Disconnected: Logged out", 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );
    // As Dovecot's pop3_logout_format: size= is the whole mailbox as
    // the session found it, deleted messages included.
    let log = inst.maillog();
    assert!(log.contains(&format!("del=1/3, size={}", stat[1])), "{log}");

    // Session 2: the survivors keep their UIDLs, twice.
    for _ in 0..2 {
        let out = python(&args("uidl"));
        assert_eq!(field(&out, "stat").split(' ').next(), Some("2"), "{out:#?}");
        let uidls: Vec<&str> = field(&out, "uidl").split(' ').collect();
        assert_eq!(uidls, [&uidls1[1], &uidls1[2]]);
        assert_eq!(field(&out, "quit"), "+OK Logging out.");
    }

    // A client that drops without QUIT deletes nothing. Its session
    // holds the mailbox until pop3d sees it gone and exits.
    python(&args("drop"));
    let me = uid_of(&user.name);
    assert!(
        wait_until(10 * SECOND, || !pop3d_uids().contains(&me)),
        "the dropped session's pop3d is still there: {:?}",
        pop3d_uids()
    );
    let out = python(&args("uidl"));
    assert_eq!(field(&out, "stat").split(' ').next(), Some("2"), "{out:#?}");
    let log = inst.maillog();
    let dropped = log
        .lines()
        .find(|l| l.contains("Disconnected: Connection closed") && l.contains(" top="))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(dropped.contains("del=0/2, size="), "{dropped}");

    // A wrong password.
    let bad = [
        "badpass",
        pp.as_str(),
        user.name.as_str(),
        "not-the-password",
    ];
    let out = python(&bad);
    assert_eq!(
        field(&out, "result"),
        "-ERR [AUTH] Authentication failed.",
        "{}",
        inst.maillog()
    );

    // An open session: the process is the user; a second session is
    // refused; mail delivered meanwhile survives its QUIT.
    let (mut a, _) = Raw::connect(pop);
    assert_eq!(a.ask(&format!("USER {}", user.name)), "+OK");
    assert_eq!(a.ask(&format!("PASS {password}")), "+OK Logged in.");
    assert!(
        wait_until(5 * SECOND, || pop3d_uids().contains(&me)),
        "no pop3d running as the user: {:?}",
        pop3d_uids()
    );
    let out = python(&[
        "badpass",
        pp.as_str(),
        user.name.as_str(),
        password.as_str(),
    ]);
    assert_eq!(
        field(&out, "result"),
        "-ERR [IN-USE] Mailbox is locked by another POP3 session."
    );
    assert!(a.ask("STAT").starts_with("+OK 2 "));
    smtp_send(smtp, &rcpt, 4);
    assert!(
        inst.wait_log("status=sent", 4, 10 * SECOND),
        "{}",
        inst.maillog()
    );
    assert!(
        a.ask("STAT").starts_with("+OK 2 "),
        "the list is the login's"
    );
    assert_eq!(a.ask("DELE 3"), "-ERR There's no message 3.");
    assert_eq!(a.ask("DELE 1"), "+OK Marked to be deleted.");
    assert_eq!(a.ask("DELE 1"), "-ERR Message is deleted.");
    assert_eq!(a.ask("RSET"), "+OK");
    assert_eq!(a.ask("DELE 1"), "+OK Marked to be deleted.");
    assert_eq!(a.ask("USER x"), "-ERR Unknown command: USER");
    assert_eq!(a.ask("QUIT"), "+OK Logging out, messages deleted.");
    let out = python(&args("uidl"));
    assert_eq!(field(&out, "stat").split(' ').next(), Some("2"), "{out:#?}");
    let uidls: Vec<&str> = field(&out, "uidl").split(' ').collect();
    assert_eq!(uidls[0], uidls1[2]);
    assert!(!uidls1.iter().any(|u| u == uidls[1]), "{uidls:?}");

    // AUTH PLAIN with an initial response, and curl.
    let (mut b, _) = Raw::connect(pop);
    let plain = {
        let mut m = vec![0u8];
        m.extend_from_slice(user.name.as_bytes());
        m.push(0);
        m.extend_from_slice(password.as_bytes());
        b64(&m)
    };
    assert_eq!(b.ask(&format!("AUTH PLAIN {plain}")), "+OK Logged in.");
    assert_eq!(b.ask("QUIT"), "+OK Logging out.");
    let (mut b, _) = Raw::connect(pop);
    assert_eq!(b.ask("AUTH PLAIN"), "+", "an empty challenge");
    assert_eq!(b.ask(&plain), "+OK Logged in.");
    assert_eq!(b.ask("QUIT"), "+OK Logging out.");
    if Command::new("curl").arg("--version").output().is_ok() {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "10"])
            .arg(format!(
                "pop3://{}:{}@127.0.0.1:{pop}/2",
                user.name, password
            ))
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Subject: msg 4") && text.contains("body 4 line"),
            "curl: {text}"
        );
    }
    let log = inst.maillog();
    assert!(
        log.contains(&format!(
            "Login: user=<{}>, method=PLAIN, rip=127.0.0.1",
            user.name
        )),
        "{log}"
    );
    assert!(!log.contains(&password), "the password reached the log");
    inst.stop();
}

/// Standard base64, as SASL wants it.
fn b64(data: &[u8]) -> String {
    util::base64::encode(data)
}

#[test]
fn pop3_idle_clients_are_disconnected_without_commit() {
    if !is_root() {
        eprintln!("skipped: useradd and pop3d's user switch need root");
        return;
    }
    let user = SystemUser::new("popidle");
    let password = format!("Idle-{}-secret", std::process::id());
    user.set_password(&password);
    let inst = instance("pop3-idle");
    inst.main_cf("pop3_client_idle_timeout = 1s\n");
    inst.start();
    let smtp = inst.port("127.0.0.1:0");
    let pop = inst.port("[127.0.0.1]:0");
    smtp_send(smtp, &format!("{}@localhost", user.name), 1);
    assert!(
        inst.wait_log("status=sent", 1, 10 * SECOND),
        "{}",
        inst.maillog()
    );
    // Before the login.
    let (mut a, greeting) = Raw::connect(pop);
    assert_eq!(greeting, "+OK Dovecot ready.");
    // Bad commands are counted in a row, before the login too.
    for _ in 0..25 {
        assert_eq!(a.ask("STAT"), "-ERR Unknown command: STAT");
        assert_eq!(a.multi("CAPA")[0], "+OK");
    }
    std::thread::sleep(2 * SECOND);
    assert_eq!(a.line(), "-ERR Disconnected for inactivity.");
    assert_eq!(a.line(), "", "connection closed");
    // After the login, with a deletion pending: nothing is committed.
    let (mut b, _) = Raw::connect(pop);
    assert_eq!(b.ask(&format!("USER {}", user.name)), "+OK");
    assert_eq!(b.ask(&format!("PASS {password}")), "+OK Logged in.");
    assert_eq!(b.ask("DELE 1"), "+OK Marked to be deleted.");
    std::thread::sleep(2 * SECOND);
    assert_eq!(b.line(), "-ERR Disconnected for inactivity.");
    let (mut c, _) = Raw::connect(pop);
    assert_eq!(c.ask(&format!("USER {}", user.name)), "+OK");
    assert_eq!(c.ask(&format!("PASS {password}")), "+OK Logged in.");
    assert!(c.ask("STAT").starts_with("+OK 1 "), "the deletion was kept");
    // Bad commands are counted in a row, as Dovecot does: a good one
    // starts the count again (and a message number that does not exist
    // is a bad one).
    for _ in 0..25 {
        assert_eq!(c.ask("LAST"), "-ERR Unknown command: LAST");
        assert_eq!(c.ask("RETR 9"), "-ERR There's no message 9.");
        assert_eq!(c.ask("NOOP"), "+OK");
    }
    assert!(c.ask("STAT").starts_with("+OK 1 "), "still served");
    assert_eq!(c.ask("QUIT"), "+OK Logging out.");
    // A pipelining client: what follows PASS in the same packet is served
    // after the login.
    let (mut e, _) = Raw::connect(pop);
    e.w.write_all(
        format!(
            "USER {}\r\nPASS {password}\r\nSTAT\r\nUIDL 1\r\nQUIT\r\n",
            user.name
        )
        .as_bytes(),
    )
    .expect("send");
    assert_eq!(e.line(), "+OK");
    assert_eq!(e.line(), "+OK Logged in.");
    assert!(e.line().starts_with("+OK 1 "));
    assert!(e.line().starts_with("+OK 1 "));
    assert_eq!(e.line(), "+OK Logging out.");
    let (mut c, _) = Raw::connect(pop);
    assert_eq!(c.ask(&format!("USER {}", user.name)), "+OK");
    assert_eq!(c.ask(&format!("PASS {password}")), "+OK Logged in.");
    // Three failed logins close the connection.
    let (mut d, _) = Raw::connect(pop);
    for _ in 0..3 {
        assert_eq!(d.ask(&format!("USER {}", user.name)), "+OK");
        assert_eq!(d.ask("PASS wrong"), "-ERR [AUTH] Authentication failed.");
    }
    assert_eq!(d.line(), "", "closed after three failures");
    assert_eq!(c.ask("QUIT"), "+OK Logging out.");
    inst.stop();
}

#[test]
fn pop3_on_an_mbox_spool() {
    if !is_root() {
        eprintln!("skipped: useradd and pop3d's user switch need root");
        return;
    }
    let user = SystemUser::new("popmb");
    let password = format!("Mbox-{}-secret", std::process::id());
    user.set_password(&password);
    let dir = std::env::temp_dir().join(format!("pop3-spool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("spool");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    let inst = instance_with(
        "pop3-mbox",
        &format!(
            "mail_spool_directory = {d}\nmail_location = mbox:~/mail:INBOX={d}/%u\n",
            d = dir.display()
        ),
    );
    inst.start();
    let smtp = inst.port("127.0.0.1:0");
    let pop = inst.port("[127.0.0.1]:0");
    let pp = pop.to_string();
    for n in 1..=3 {
        smtp_send(smtp, &format!("{}@localhost", user.name), n);
        assert!(
            inst.wait_log("status=sent", n as usize, 10 * SECOND),
            "{}",
            inst.maillog()
        );
    }
    let args = ["first", pp.as_str(), user.name.as_str(), password.as_str()];
    let out = python(&args);
    assert_eq!(field(&out, "pass"), "+OK Logged in.", "{}", inst.maillog());
    assert_eq!(field(&out, "stat").split(' ').next(), Some("3"));
    let uidls1: Vec<String> = field(&out, "uidl").split(' ').map(String::from).collect();
    assert_eq!(field(&out, "retr-subject"), "Subject: msg 2");
    assert_eq!(field(&out, "retr-body"), "body 2 line|.dot line 2");
    let retr = field(&out, "retr-resp");
    let parts: Vec<&str> = retr.split(' ').collect();
    assert_eq!(parts[1], parts[3], "RETR octets vs LIST size: {retr}");
    assert_eq!(parts[1], parts[4], "RETR octets vs bytes received: {retr}");
    assert_eq!(
        field(&out, "quit"),
        "+OK Logging out, messages deleted.",
        "{}",
        inst.maillog()
    );
    let out = python(&["uidl", pp.as_str(), user.name.as_str(), password.as_str()]);
    assert_eq!(field(&out, "stat").split(' ').next(), Some("2"), "{out:#?}");
    let uidls: Vec<&str> = field(&out, "uidl").split(' ').collect();
    assert_eq!(uidls, [&uidls1[1], &uidls1[2]]);
    let text = std::fs::read_to_string(dir.join(&user.name)).expect("mbox");
    assert!(!text.contains("Subject: msg 1"), "{text}");
    assert!(text.contains("Subject: msg 3"), "{text}");
    inst.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
