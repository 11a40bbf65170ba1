//! The auth service end to end: the real master runs auth (and smtpd and
//! cleanup); a raw Dovecot-protocol client talks to `private/auth`, and
//! Python's smtplib logs in with SMTP AUTH PLAIN and LOGIN, as a system
//! user created the way the seeds do (useradd + chpasswd, so yescrypt)
//! or a passwd-file user; and mailsuite's smtp client logging in to a
//! second mailsuite as its relayhost (`smtp_sasl_password_maps`).

use kit::{wait_until, Instance};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

/// Standard base64, as SASL wants it.
fn b64(data: &[u8]) -> String {
    util::base64::encode(data)
}

/// A raw client of the Dovecot auth protocol.
struct Raw {
    r: BufReader<UnixStream>,
    w: UnixStream,
}

impl Raw {
    fn connect(inst: &Instance) -> (Raw, Vec<String>) {
        let path = inst.dir.join("queue/private/auth");
        assert!(
            wait_until(5 * SECOND, || path.exists()),
            "no auth socket\n{}",
            inst.maillog()
        );
        let s = UnixStream::connect(&path).expect("connect auth");
        s.set_read_timeout(Some(20 * SECOND)).expect("timeout");
        let mut raw = Raw {
            r: BufReader::new(s.try_clone().expect("clone")),
            w: s,
        };
        let mut hello = Vec::new();
        loop {
            let l = raw.line().expect("handshake line");
            let done = l == "DONE";
            hello.push(l);
            if done {
                break;
            }
        }
        raw.send("VERSION\t1\t2\nCPID\t4242");
        (raw, hello)
    }

    fn send(&mut self, line: &str) {
        self.w
            .write_all(format!("{line}\n").as_bytes())
            .expect("send");
    }

    fn line(&mut self) -> Option<String> {
        let mut l = String::new();
        match self.r.read_line(&mut l) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(l.trim_end_matches('\n').to_string()),
        }
    }

    fn ask(&mut self, line: &str) -> String {
        self.send(line);
        self.line().unwrap_or_default()
    }
}

fn passwd_file_instance(name: &str, extra: &str) -> Instance {
    let inst = Instance::new(name);
    let users = inst.dir.join("users");
    std::fs::write(
        &users,
        // "Hello world!" in SHA512-CRYPT (the SHA-crypt test vector).
        "alice:{PLAIN}wonderland-42:1000:1000::/home/alice::\nbob:{SHA512-CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1\n",
    )
    .expect("users");
    inst.main_cf(&format!(
        "alias_maps =\nsmtpd_error_sleep_time = 0\nmynetworks = 127.0.0.1/32\npassdb = passwd-file:{}\nauth_mechanisms = plain login\nauth_failure_delay = 1s\n{extra}",
        users.display()
    ));
    inst
}

#[test]
fn dovecot_protocol_against_a_passwd_file() {
    let inst = passwd_file_instance("auth-raw", "login_trusted_networks = 198.51.100.0/24\n");
    inst.master_cf("auth unix - - n - - auth\n");
    inst.start();
    let (mut c, hello) = Raw::connect(&inst);
    assert_eq!(hello[0], "VERSION\t1\t2");
    assert!(
        hello.contains(&"MECH\tPLAIN\tplaintext".to_string()),
        "{hello:?}"
    );
    assert!(
        hello.contains(&"MECH\tLOGIN\tplaintext".to_string()),
        "{hello:?}"
    );
    assert!(hello.iter().any(|l| l.starts_with("SPID\t")));
    assert!(hello.iter().any(|l| l.starts_with("COOKIE\t")));

    let good = b64(b"\0alice\0wonderland-42");
    assert_eq!(
        c.ask(&format!(
            "AUTH\t1\tPLAIN\tservice=smtp\trip=127.0.0.1\tresp={good}"
        )),
        "OK\t1\tuser=alice\tuserdb_uid=1000\tuserdb_gid=1000\tuserdb_home=/home/alice"
    );
    // bob's SHA512-CRYPT hash, through LOGIN's two steps.
    assert_eq!(
        c.ask("AUTH\t2\tLOGIN\tservice=imap\tsecured\trip=203.0.113.9"),
        "CONT\t2\tVXNlcm5hbWU6"
    );
    assert_eq!(
        c.ask(&format!("CONT\t2\t{}", b64(b"bob"))),
        "CONT\t2\tUGFzc3dvcmQ6"
    );
    assert_eq!(
        c.ask(&format!("CONT\t2\t{}", b64(b"Hello world!"))),
        "OK\t2\tuser=bob"
    );

    // A wrong password: FAIL after auth_failure_delay, and no reason given.
    let bad = b64(b"\0alice\0not-the-password");
    let t = Instant::now();
    assert_eq!(
        c.ask(&format!(
            "AUTH\t3\tPLAIN\tservice=smtp\trip=127.0.0.1\tresp={bad}"
        )),
        "FAIL\t3\tuser=alice"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    // The throttle: the next failure from that address waits twice as long.
    let t = Instant::now();
    assert_eq!(
        c.ask(&format!(
            "AUTH\t4\tPLAIN\tservice=smtp\trip=127.0.0.1\tresp={bad}"
        )),
        "FAIL\t4\tuser=alice"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        t.elapsed()
    );

    // disable_plaintext_auth (default yes): not secured, not local, not trusted.
    let r = c.ask(&format!(
        "AUTH\t5\tPLAIN\tservice=pop3\trip=192.0.2.1\tlip=127.0.0.1\tresp={good}"
    ));
    assert!(
        r.starts_with("FAIL\t5\treason=Plaintext authentication disallowed"),
        "{r}"
    );
    // ... but allowed from login_trusted_networks and when secured.
    assert_eq!(
        c.ask(&format!(
            "AUTH\t6\tPLAIN\tservice=pop3\trip=198.51.100.5\tresp={good}"
        )),
        "OK\t6\tuser=alice\tuserdb_uid=1000\tuserdb_gid=1000\tuserdb_home=/home/alice"
    );
    assert_eq!(
        c.ask(&format!(
            "AUTH\t7\tPLAIN\tservice=imap\tsecured\trip=192.0.2.1\tresp={good}"
        )),
        "OK\t7\tuser=alice\tuserdb_uid=1000\tuserdb_gid=1000\tuserdb_home=/home/alice"
    );
    // SMTP is Postfix's to decide (smtpd_tls_auth_only), as with Dovecot.
    assert_eq!(
        c.ask(&format!(
            "AUTH\t10\tPLAIN\tservice=smtp\trip=192.0.2.1\tlip=127.0.0.1\tresp={good}"
        )),
        "OK\t10\tuser=alice\tuserdb_uid=1000\tuserdb_gid=1000\tuserdb_home=/home/alice"
    );
    let r = c.ask("AUTH\t8\tCRAM-MD5\tservice=smtp\trip=127.0.0.1");
    assert!(r.starts_with("FAIL\t8\treason=Unsupported"), "{r}");

    // A malformed line ends the connection.
    c.send("AUTH\tnot-a-number\tPLAIN\tservice=smtp");
    assert_eq!(c.line(), None);

    let log = inst.maillog();
    assert!(
        log.contains("user=<alice>, method=PLAIN, rip=127.0.0.1, service=smtp: authentication failed (password mismatch)"),
        "{log}"
    );
    for secret in [
        "not-the-password",
        "wonderland-42",
        "Hello world!",
        &bad,
        &good,
    ] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
    inst.stop();
}

fn has_python() -> bool {
    Command::new("python3")
        .args(["-c", "import smtplib"])
        .output()
        .is_ok_and(|o| o.status.success())
}

const SMTP_CLIENT: &str = r#"
import smtplib, sys
port, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def conn():
    s = smtplib.SMTP("127.0.0.1", port, source_address=("127.0.0.2", 0), timeout=30)
    s.ehlo("client.example")
    return s
s = conn()
print("EHLO-AUTH", s.esmtp_features.get("auth", "-").strip())
try:
    s.sendmail("a@example.com", ["x@remote.example"], "Subject: no\r\n\r\nno\r\n")
    print("UNAUTH-RELAY accepted")
except smtplib.SMTPRecipientsRefused as e:
    print("UNAUTH-RELAY", e.recipients["x@remote.example"][0])
s.quit()
for mech in ["PLAIN", "LOGIN"]:
    s = conn()
    s.user, s.password = user, pw
    if mech == "PLAIN":
        code, resp = s.auth("PLAIN", s.auth_plain)
    else:
        code, resp = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
    print(mech, code, resp.decode())
    try:
        s.login(user, pw)
    except smtplib.SMTPException as e:
        print("AGAIN", e)
    s.sendmail("a@example.com", ["x@remote.example"], "Subject: t\r\n\r\nhi\r\n")
    print("RELAYED", mech)
    s.quit()
s = conn()
try:
    s.login(user, "wrong-" + pw)
    print("WRONG accepted")
except smtplib.SMTPAuthenticationError as e:
    print("WRONG", e.smtp_code, e.smtp_error.decode())
s.quit()
"#;

/// Logs in over SMTP with PLAIN and LOGIN from 127.0.0.2 (outside
/// mynetworks), relays, and fails with a wrong password.
/// `ours`: the auth service is mailsuite's (whose log lines are checked).
fn smtp_auth_round(inst: &Instance, user: &str, password: &str, ours: bool) {
    let port = inst.port("127.0.0.1:0");
    let path = inst.dir.join("client.py");
    std::fs::write(&path, SMTP_CLIENT).expect("script");
    let out = Command::new("python3")
        .arg(&path)
        .args([&port.to_string(), user, password])
        .stdin(Stdio::null())
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python: {}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr),
        inst.maillog()
    );
    let log = inst.maillog();
    assert!(stdout.contains("EHLO-AUTH PLAIN LOGIN"), "{stdout}\n{log}");
    assert!(stdout.contains("UNAUTH-RELAY 454"), "{stdout}");
    assert!(
        stdout.contains("PLAIN 235 2.7.0 Authentication successful"),
        "{stdout}\n{log}"
    );
    assert!(
        stdout.contains("LOGIN 235 2.7.0 Authentication successful"),
        "{stdout}\n{log}"
    );
    assert!(
        stdout.contains("RELAYED PLAIN") && stdout.contains("RELAYED LOGIN"),
        "{stdout}"
    );
    assert!(
        stdout.contains("WRONG 535 5.7.8 Error: authentication failed:"),
        "{stdout}"
    );
    assert!(
        inst.wait_log(
            &format!("sasl_method=LOGIN, sasl_username={user}"),
            1,
            5 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    let log = inst.maillog();
    assert!(
        log.contains(&format!(
            "client=unknown[127.0.0.2], sasl_method=PLAIN, sasl_username={user}"
        )),
        "{log}"
    );
    assert!(log.contains("SASL PLAIN authentication failed"), "{log}");
    // The queue files carry the SASL attributes and the protocol name.
    let cat = postcat_incoming(inst);
    assert!(cat.contains(&format!("sasl_username={user}")), "{cat}");
    assert!(cat.contains("sasl_method=LOGIN"), "{cat}");
    assert!(cat.contains("ESMTPA"), "{cat}");
    assert!(
        !ours || log.contains(&format!("user=<{user}>, method=PLAIN, rip=127.0.0.2")),
        "{log}"
    );
    for secret in [
        password.to_string(),
        b64(password.as_bytes()),
        b64(format!("\0{user}\0{password}").as_bytes()),
        b64(format!("\0{user}\0wrong-{password}").as_bytes()),
    ] {
        assert!(!log.contains(&secret), "{secret} in the log:\n{log}");
    }
}

/// Every file under `dir`, recursively.
/// `postcat` of every file in the incoming queue, concatenated.
fn postcat_incoming(inst: &Instance) -> String {
    queue_files(&inst.dir.join("queue/incoming"))
        .iter()
        .map(|f| {
            let out = Command::new(inst.bin.join("postcat"))
                .env("MAIL_CONFIG", &inst.dir)
                .arg(f)
                .output()
                .expect("postcat");
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
        .collect()
}

fn queue_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(queue_files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

const SMTP_MASTER_CF: &str = "127.0.0.1:0 inet n - n - - smtpd -o smtpd_sasl_auth_enable=yes\ncleanup unix n - n - 0 cleanup\nauth unix - - n - - auth\n";
const SASL_MAIN_CF: &str = "smtpd_sasl_type = dovecot\nsmtpd_sasl_path = private/auth\n";

#[test]
fn smtp_auth_with_a_passwd_file_user() {
    if !has_python() {
        eprintln!("skipped: python3 missing");
        return;
    }
    let inst = passwd_file_instance("auth-smtp-file", SASL_MAIN_CF);
    inst.master_cf(SMTP_MASTER_CF);
    inst.start();
    smtp_auth_round(&inst, "alice", "wonderland-42", true);
    inst.stop();
}

/// CRAM-MD5 (RFC 2195) through smtpd and the auth service: offered when
/// auth_mechanisms lists it, accepted for a passwd-file user with a
/// {PLAIN} password, refused (535) with a wrong one and for a user whose
/// password is only a hash; ARGON2ID passwords as doveadm writes them.
#[test]
fn smtp_auth_cram_md5_and_argon2id() {
    if !has_python() {
        eprintln!("skipped: python3 missing");
        return;
    }
    let inst = passwd_file_instance(
        "auth-cram",
        &format!("{SASL_MAIN_CF}auth_mechanisms = plain login cram-md5 scram-sha-256\n"),
    );
    // carol's password in Dovecot's ARGON2ID (doveadm pw -s ARGON2ID -p argon-secret).
    let users = inst.dir.join("users");
    let mut text = std::fs::read_to_string(&users).expect("users");
    text.push_str("carol:{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$J3QX0j/Chr46salZAvkHkQ$xbX5qYU49oVHmcf9xYoaBTY8VjynGqZ8w9MKcSo4/KQ\n");
    std::fs::write(&users, text).expect("users");
    inst.master_cf(SMTP_MASTER_CF);
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let script = format!(
        r#"
import smtplib
def try_(user, pw, mech):
    s = smtplib.SMTP("127.0.0.1", {port}, timeout=20)
    s.ehlo()
    s.user, s.password = user, pw
    try:
        auth = {{"CRAM-MD5": s.auth_cram_md5, "PLAIN": s.auth_plain}}[mech]
        code, msg = s.auth(mech, auth, initial_response_ok=(mech == "PLAIN"))
    except smtplib.SMTPAuthenticationError as e:
        code, msg = e.smtp_code, e.smtp_error
    s.quit()
    return code
def scram(user, pw):
    # RFC 5802 / 7677, written out: smtplib has no SCRAM.
    import base64, hashlib, hmac, os
    b64 = lambda b: base64.b64encode(b).decode()
    s = smtplib.SMTP("127.0.0.1", {port}, timeout=20)
    s.ehlo()
    cnonce = b64(os.urandom(18))
    bare = "n=" + user + ",r=" + cnonce
    code, msg = s.docmd("AUTH", "SCRAM-SHA-256 " + b64(("n,," + bare).encode()))
    if code != 334:
        return code
    sf = base64.b64decode(msg).decode()
    f = dict(a.split("=", 1) for a in sf.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", pw.encode(), base64.b64decode(f["s"]), int(f["i"]))
    ck = hmac.new(salted, b"Client Key", "sha256").digest()
    wp = "c=biws,r=" + f["r"]
    am = (bare + "," + sf + "," + wp).encode()
    sig = hmac.new(hashlib.sha256(ck).digest(), am, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(ck, sig))
    code, msg = s.docmd(b64((wp + ",p=" + b64(proof)).encode()))
    if code != 334:
        return code
    want = "v=" + b64(hmac.new(hmac.new(salted, b"Server Key", "sha256").digest(), am, "sha256").digest())
    if base64.b64decode(msg).decode() != want:
        return "bad-server-signature"
    code, msg = s.docmd("")
    s.quit()
    return code
s = smtplib.SMTP("127.0.0.1", {port}); s.ehlo(); print("ehlo-auth", s.esmtp_features.get("auth", "")); s.quit()
print("alice-scram", scram("alice", "wonderland-42"))
print("alice-scram-wrong", scram("alice", "wonderland-43"))
print("alice-cram", try_("alice", "wonderland-42", "CRAM-MD5"))
print("alice-cram-wrong", try_("alice", "wonderland-43", "CRAM-MD5"))
print("bob-cram", try_("bob", "Hello world!", "CRAM-MD5"))
print("carol-plain", try_("carol", "argon-secret", "PLAIN"))
print("carol-wrong", try_("carol", "argon-secreT", "PLAIN"))
"#
    );
    let out = kit::python_lines(&[], &script, &[]);
    assert!(
        kit::field(&out, "ehlo-auth").contains("CRAM-MD5"),
        "{out:#?}"
    );
    assert_eq!(kit::field(&out, "alice-cram"), "235", "{}", inst.maillog());
    assert!(
        kit::field(&out, "ehlo-auth").contains("SCRAM-SHA-256"),
        "{out:#?}"
    );
    assert_eq!(kit::field(&out, "alice-scram"), "235", "{}", inst.maillog());
    assert_eq!(kit::field(&out, "alice-scram-wrong"), "535");
    assert_eq!(kit::field(&out, "alice-cram-wrong"), "535");
    assert_eq!(
        kit::field(&out, "bob-cram"),
        "535",
        "a hash cannot answer CRAM-MD5"
    );
    assert_eq!(kit::field(&out, "carol-plain"), "235");
    assert_eq!(kit::field(&out, "carol-wrong"), "535");
    assert!(!inst.maillog().contains("wonderland") && !inst.maillog().contains("argon-secret"));
    inst.stop();
}

#[test]
fn smtp_auth_with_a_system_user() {
    if !kit::is_root() || !has_python() {
        eprintln!("skipped: needs root (useradd, /etc/shadow) and python3");
        return;
    }
    let user = kit::SystemUser::new("auth");
    let password = format!("Sys-{}-secret", std::process::id());
    user.set_password(&password);
    let shadow = std::fs::read_to_string("/etc/shadow").expect("shadow");
    assert!(
        shadow.contains(&format!("{}:$y$", user.name)),
        "chpasswd did not write yescrypt"
    );
    let inst = Instance::new("auth-smtp-system");
    inst.main_cf(&format!(
        "alias_maps =\nsmtpd_error_sleep_time = 0\nmynetworks = 127.0.0.1/32\nauth_mechanisms = plain login\nauth_failure_delay = 1s\n{SASL_MAIN_CF}"
    ));
    inst.master_cf(SMTP_MASTER_CF);
    inst.start();
    smtp_auth_round(&inst, &user.name, &password, true);
    // The auth service dropped root after reading the shadow database.
    let pids = inst.workers("auth");
    for pid in pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let uid = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .unwrap_or_default()
            .to_string();
        assert!(!uid.contains("\t0\t"), "auth runs as root: {uid}");
    }
    inst.stop();
}

/// A raw SMTP client: sends CRLF lines, reads whole (multi-line) replies.
struct Smtp {
    r: BufReader<std::net::TcpStream>,
    w: std::net::TcpStream,
}

impl Smtp {
    fn connect(port: u16) -> Smtp {
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(20 * SECOND)).expect("timeout");
        let mut c = Smtp {
            r: BufReader::new(s.try_clone().expect("clone")),
            w: s,
        };
        assert!(c.reply().starts_with("220 "));
        c
    }

    fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut l = String::new();
            if self.r.read_line(&mut l).unwrap_or(0) == 0 {
                return all;
            }
            all.push_str(&l);
            if l.as_bytes().get(3) != Some(&b'-') {
                return all.trim_end().to_string();
            }
        }
    }

    fn ask(&mut self, line: &str) -> String {
        self.w
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("send");
        self.reply()
    }
}

#[test]
fn smtp_auth_commands_and_replies() {
    let inst = passwd_file_instance(
        "auth-smtp-raw",
        &format!("{SASL_MAIN_CF}broken_sasl_auth_clients = yes\n"),
    );
    inst.master_cf(SMTP_MASTER_CF);
    inst.start();
    let port = inst.port("127.0.0.1:0");

    let mut c = Smtp::connect(port);
    assert_eq!(
        c.ask("AUTH PLAIN"),
        "503 5.5.1 Error: authentication not enabled"
    );
    let ehlo = c.ask("EHLO client.example");
    assert!(ehlo.contains("250-AUTH PLAIN LOGIN"), "{ehlo}");
    assert!(ehlo.contains("250-AUTH=PLAIN LOGIN"), "{ehlo}");
    let r = c.ask("AUTH CRAM-MD5");
    assert_eq!(
        r,
        "535 5.7.8 Error: authentication failed: Invalid authentication mechanism"
    );
    assert_eq!(c.ask("AUTH LOGIN"), "334 VXNlcm5hbWU6");
    assert_eq!(c.ask("*"), "501 5.7.0 Authentication aborted");
    assert_eq!(c.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert_eq!(
        c.ask("AUTH PLAIN"),
        "503 5.5.1 Error: MAIL transaction in progress"
    );
    assert_eq!(c.ask("RSET"), "250 2.0.0 Ok");
    assert_eq!(c.ask("AUTH PLAIN"), "334");
    let r = c.ask(&b64(b"\0alice\0wonderland-42"));
    assert_eq!(r, "235 2.7.0 Authentication successful");
    assert_eq!(
        c.ask(&format!("AUTH PLAIN {}", b64(b"\0alice\0wonderland-42"))),
        "503 5.5.1 Error: already authenticated"
    );
    assert!(c.ask("QUIT").starts_with("221"));

    // Not base64 in a continuation.
    let mut c = Smtp::connect(port);
    c.ask("EHLO client.example");
    assert_eq!(c.ask("AUTH PLAIN"), "334");
    let r = c.ask("not base64!");
    assert!(
        r.starts_with("535 5.7.8 Error: authentication failed: Invalid base64"),
        "{r}"
    );
    c.ask("QUIT");

    inst.stop();
}

#[test]
fn smtpd_tls_auth_only_refuses_auth_without_tls() {
    let inst = passwd_file_instance(
        "auth-tls-only",
        &format!("{SASL_MAIN_CF}smtpd_tls_auth_only = yes\n"),
    );
    inst.master_cf(SMTP_MASTER_CF);
    inst.start();
    let mut c = Smtp::connect(inst.port("127.0.0.1:0"));
    let ehlo = c.ask("EHLO client.example");
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    assert_eq!(
        c.ask("AUTH PLAIN"),
        "538 5.7.11 Encryption required for requested authentication mechanism"
    );
    c.ask("QUIT");
    inst.stop();
}

#[test]
fn smtp_noplaintext_hides_plain_and_login() {
    let inst = passwd_file_instance(
        "auth-noplain",
        &format!("{SASL_MAIN_CF}smtpd_sasl_security_options = noanonymous, noplaintext\n"),
    );
    inst.master_cf(SMTP_MASTER_CF);
    inst.start();
    let mut c = Smtp::connect(inst.port("127.0.0.1:0"));
    let ehlo = c.ask("EHLO client.example");
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    let r = c.ask(&format!("AUTH PLAIN {}", b64(b"\0alice\0wonderland-42")));
    assert_eq!(
        r,
        "535 5.7.8 Error: authentication failed: Invalid authentication mechanism"
    );
    c.ask("QUIT");
    inst.stop();
}

const LOGIN_MISMATCH_CLIENT: &str = r#"
import base64, smtplib, sys
port = int(sys.argv[1])
def conn(src):
    s = smtplib.SMTP("127.0.0.1", port, source_address=(src, 0), timeout=30)
    s.ehlo("client.example")
    return s
def send(s, sender):
    try:
        s.sendmail(sender, ["x@remote.example"], "Subject: t\r\n\r\nhi\r\n")
        return "accepted"
    except smtplib.SMTPRecipientsRefused as e:
        code, msg = e.recipients["x@remote.example"]
        return "%d %s" % (code, msg.decode())
s = conn("127.0.0.2")
print("EHLO-AUTH", s.esmtp_features.get("auth", "-").strip())
print("UNAUTH alice@example.com:", send(s, "alice@example.com"))
print("UNAUTH stranger@else.example:", send(s, "stranger@else.example"))
s.login("alice", "wonderland-42")
for sender in ["alice@example.com", "alice+list@example.com", "bob@example.com",
               "someone@team.example", "stranger@else.example"]:
    print("ALICE %s:" % sender, send(s, sender))
s.quit()
s = conn("127.0.0.3")
print("EXCEPTED-EHLO-AUTH", s.esmtp_features.get("auth", "-").strip())
code, resp = s.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0alice\0wonderland-42").decode())
print("EXCEPTED-AUTH", code, resp.decode())
print("EXCEPTED alice@example.com:", send(s, "alice@example.com"))
s.quit()
"#;

/// smtpd_sender_login_maps with reject_sender_login_mismatch, and
/// smtpd_sasl_exceptions_networks, through Python's smtplib.
#[test]
fn sender_login_mismatch_and_sasl_exceptions_networks() {
    if !has_python() {
        eprintln!("skipped: python3 missing");
        return;
    }
    let inst = passwd_file_instance(
        "auth-login-maps",
        &format!(
            "{SASL_MAIN_CF}recipient_delimiter = +\n\
             smtpd_sender_login_maps = inline:{{ alice@example.com=alice, bob@example.com=bob, @team.example=bob }}\n\
             smtpd_sender_restrictions = reject_sender_login_mismatch\n\
             smtpd_sasl_exceptions_networks = 127.0.0.3\n"
        ),
    );
    inst.master_cf(SMTP_MASTER_CF);
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let path = inst.dir.join("login-maps.py");
    std::fs::write(&path, LOGIN_MISMATCH_CLIENT).expect("script");
    let out = Command::new("python3")
        .arg(&path)
        .arg(port.to_string())
        .stdin(Stdio::null())
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python: {}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr),
        inst.maillog()
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "EHLO-AUTH PLAIN LOGIN",
            "UNAUTH alice@example.com: 553 5.7.1 <alice@example.com>: Sender address rejected: not logged in",
            "UNAUTH stranger@else.example: 454 4.7.1 <x@remote.example>: Relay access denied",
            "ALICE alice@example.com: accepted",
            "ALICE alice+list@example.com: accepted",
            "ALICE bob@example.com: 553 5.7.1 <bob@example.com>: Sender address rejected: not owned by user alice",
            "ALICE someone@team.example: 553 5.7.1 <someone@team.example>: Sender address rejected: not owned by user alice",
            "ALICE stranger@else.example: 553 5.7.1 <stranger@else.example>: Sender address rejected: not owned by user alice",
            "EXCEPTED-EHLO-AUTH -",
            "EXCEPTED-AUTH 235 2.7.0 Authentication successful",
            "EXCEPTED alice@example.com: accepted",
        ],
        "{}",
        inst.maillog()
    );
    let log = inst.maillog();
    for line in [
        "NOQUEUE: reject: RCPT from unknown[127.0.0.2]: 553 5.7.1 <alice@example.com>: Sender address rejected: not logged in; from=<alice@example.com> to=<x@remote.example> proto=ESMTP helo=<client.example>",
        "NOQUEUE: reject: RCPT from unknown[127.0.0.2]: 553 5.7.1 <someone@team.example>: Sender address rejected: not owned by user alice; from=<someone@team.example> to=<x@remote.example> proto=ESMTPA helo=<client.example>",
    ] {
        assert!(log.contains(line), "{line}\n{log}");
    }
    assert!(
        log.contains("client=unknown[127.0.0.3], sasl_method=PLAIN, sasl_username=alice"),
        "{log}"
    );
    inst.stop();
}

/// A real Dovecot stands in for the auth service: smtpd's
/// `smtpd_sasl_path` points at its auth socket.
#[test]
fn smtpd_with_a_real_dovecot_auth_socket() {
    if !kit::is_root() || !std::path::Path::new("/usr/sbin/dovecot").exists() || !has_python() {
        eprintln!("skipped: needs root, Debian's dovecot-core and python3");
        return;
    }
    let inst = passwd_file_instance("auth-dovecot", "smtpd_sasl_type = dovecot\n");
    let dv = inst.dir.join("dovecot");
    std::fs::create_dir_all(&dv).expect("dovecot dir");
    let socket = dv.join("auth-client");
    let conf = dv.join("dovecot.conf");
    std::fs::write(
        &conf,
        format!(
            "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\nprotocols =\n\
             auth_mechanisms = plain login\nssl = no\nauth_failure_delay = 1s\n\
             passdb {{\n  driver = passwd-file\n  args = {users}\n}}\n\
             userdb {{\n  driver = static\n  args = uid=nobody gid=nogroup home={d}/home\n}}\n\
             service auth {{\n  unix_listener {sock} {{\n    mode = 0666\n  }}\n}}\n",
            d = dv.display(),
            users = inst.dir.join("users").display(),
            sock = socket.display()
        ),
    )
    .expect("dovecot.conf");
    let mut dovecot = Command::new("/usr/sbin/dovecot")
        .arg("-F")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dovecot");
    let up = wait_until(10 * SECOND, || socket.exists());
    inst.main_cf(&format!("smtpd_sasl_path = {}\n", socket.display()));
    inst.master_cf(
        "127.0.0.1:0 inet n - n - - smtpd -o smtpd_sasl_auth_enable=yes\ncleanup unix n - n - 0 cleanup\n",
    );
    if up {
        inst.start();
    }
    let result = std::panic::catch_unwind(|| {
        assert!(up, "dovecot's auth socket did not appear");
        smtp_auth_round(&inst, "alice", "wonderland-42", false);
    });
    // SAFETY: kill(2) on the dovecot master this test started.
    unsafe {
        libc::kill(dovecot.id() as i32, libc::SIGTERM);
    }
    let _ = dovecot.wait();
    if up {
        inst.stop();
    }
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// Dovecot's own client, `doveadm auth test`, against mailsuite's auth
/// service.
#[test]
fn doveadm_auth_test_against_the_auth_service() {
    if !std::path::Path::new("/usr/bin/doveadm").exists() {
        eprintln!("skipped: doveadm (dovecot-core) missing");
        return;
    }
    let inst = passwd_file_instance("auth-doveadm", "");
    inst.master_cf("auth unix - - n - - auth\n");
    inst.start();
    let socket = inst.dir.join("queue/private/auth");
    assert!(wait_until(5 * SECOND, || socket.exists()));
    let conf = inst.dir.join("doveadm.conf");
    std::fs::write(
        &conf,
        format!("base_dir = {}/dovecot-run\n", inst.dir.display()),
    )
    .expect("conf");
    let run = |user: &str, password: &str| {
        let out = Command::new("/usr/bin/doveadm")
            .arg("-c")
            .arg(&conf)
            .args(["auth", "test", "-a"])
            .arg(&socket)
            .args(["-x", "service=smtp", "-x", "rip=127.0.0.1", user, password])
            .output()
            .expect("doveadm");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, text) = run("alice", "wonderland-42");
    assert!(
        ok && text.contains("auth succeeded"),
        "{text}\n{}",
        inst.maillog()
    );
    let (ok, text) = run("alice", "nope");
    assert!(!ok && text.contains("auth failed"), "{text}");
    inst.stop();
}

/// With smtpd_tls_auth_only, AUTH appears after STARTTLS and the session
/// is ESMTPSA.
#[test]
fn smtp_auth_after_starttls() {
    if !has_python() {
        eprintln!("skipped: python3 missing");
        return;
    }
    let inst = passwd_file_instance("auth-starttls", SASL_MAIN_CF);
    let Some((cert, key)) = kit::self_signed(&inst.dir, "mail.example.test") else {
        eprintln!("skipped: openssl missing");
        return;
    };
    inst.main_cf(&format!(
        "smtpd_tls_security_level = may\nsmtpd_tls_cert_file = {}\nsmtpd_tls_key_file = {}\nsmtpd_tls_auth_only = yes\nsmtpd_tls_received_header = yes\nsmtpd_sasl_authenticated_header = yes\n",
        cert.display(),
        key.display()
    ));
    inst.master_cf(SMTP_MASTER_CF);
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let script = inst.dir.join("tls.py");
    std::fs::write(
        &script,
        r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), source_address=("127.0.0.2", 0), timeout=30)
s.ehlo("client.example")
print("BEFORE", s.esmtp_features.get("auth", "-").strip())
s.starttls(context=ctx)
s.ehlo("client.example")
print("AFTER", s.esmtp_features.get("auth", "-").strip())
print("LOGIN", s.login("alice", "wonderland-42")[0])
s.sendmail("a@example.com", ["x@remote.example"], "Subject: tls\r\n\r\nhi\r\n")
s.quit()
"#,
    )
    .expect("script");
    let out = Command::new("python3")
        .arg(&script)
        .arg(port.to_string())
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr),
        inst.maillog()
    );
    assert!(stdout.contains("BEFORE -"), "{stdout}");
    assert!(stdout.contains("AFTER PLAIN LOGIN"), "{stdout}");
    assert!(stdout.contains("LOGIN 235"), "{stdout}");
    let cat = postcat_incoming(&inst);
    assert!(cat.contains("ESMTPSA"), "{cat}");
    assert!(cat.contains("sasl_username=alice"), "{cat}");
    // smtpd_tls_received_header and smtpd_sasl_authenticated_header, in
    // Postfix's order.
    let received = cat
        .split("Received: from client.example (")
        .nth(1)
        .and_then(|r| r.split("\tby mail.example.test").next())
        .unwrap_or_else(|| panic!("{cat}"));
    let tls = received
        .find("\n\t(using TLSv1.")
        .unwrap_or_else(|| panic!("{received}"));
    let auth = received
        .find("\n\t(Authenticated sender: alice)\n")
        .unwrap_or_else(|| panic!("{received}"));
    assert!(tls < auth, "{received}");
    inst.stop();
}

#[test]
fn relayhost_with_smtp_auth_to_a_second_mailsuite() {
    if !has_python() {
        eprintln!("skipped: python3 missing");
        return;
    }
    // The provider: relaying needs AUTH (the client comes from 127.0.0.2,
    // outside its mynetworks); no qmgr, so the message stays in its
    // incoming queue to be looked at.
    let remote = passwd_file_instance("auth-relay-remote", SASL_MAIN_CF);
    remote.master_cf(SMTP_MASTER_CF);
    remote.start();
    let port = remote.port("127.0.0.1:0");

    // The "send through my provider" set-up.
    let inst = Instance::new("auth-relay");
    std::fs::write(
        inst.dir.join("sasl_passwd"),
        // bob's mail goes with bob's own account at the provider
        // (smtp_sender_dependent_authentication).
        format!("[127.0.0.1]:{port} alice:wonderland-42\nbob@example.org bob:Hello world!\n"),
    )
    .expect("sasl_passwd");
    inst.main_cf(&format!(
        "alias_maps =\nmynetworks = 127.0.0.0/8\nrelayhost = [127.0.0.1]:{port}\nsmtp_bind_address = 127.0.0.2\nsmtp_sasl_auth_enable = yes\nsmtp_sasl_password_maps = texthash:{}/sasl_passwd\nsmtp_sasl_security_options = noanonymous\nsmtp_sender_dependent_authentication = yes\n",
        inst.dir.display()
    ));
    inst.master_cf("127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nsmtp unix - - n - - smtp\nbounce unix - - n - 0 bounce\n");
    inst.start();
    let script = format!(
        "import smtplib\ns = smtplib.SMTP('127.0.0.1', {})\ns.sendmail('me@example.org', ['far@remote.example'], b'Subject: via the provider\\r\\n\\r\\nhello\\r\\n')\ns.sendmail('bob@example.org', ['far@remote.example'], b'Subject: from bob\\r\\n\\r\\nhello\\r\\n')\ns.quit()\n",
        inst.port("127.0.0.1:0")
    );
    kit::python_lines(&[], &script, &[]);
    assert!(
        inst.wait_log("status=sent (250 2.0.0 Ok: queued as ", 2, 15 * SECOND),
        "{}\n--- provider ---\n{}",
        inst.maillog(),
        remote.maillog()
    );
    let log = remote.maillog();
    assert!(
        log.contains("client=unknown[127.0.0.2], sasl_method=PLAIN, sasl_username=alice"),
        "{log}"
    );
    assert!(
        log.contains("client=unknown[127.0.0.2], sasl_method=PLAIN, sasl_username=bob"),
        "bob's mail with bob's account: {log}"
    );
    let cat = postcat_incoming(&remote);
    assert!(cat.contains("sasl_username=alice"), "{cat}");
    assert!(cat.contains("far@remote.example"), "{cat}");
    assert!(
        !inst.maillog().contains("wonderland-42"),
        "the password reached the log"
    );
    inst.stop();
    remote.stop();
}

/// swaks as a mail client on the two submission ports of Postfix's
/// master.cf: 587 (STARTTLS, then AUTH) and 465 (`smtpd_tls_wrappermode`,
/// TLS from the first byte).
#[test]
fn submission_587_and_smtps_465_with_swaks() {
    if !Path::new("/usr/bin/swaks").exists() {
        eprintln!("skipped: swaks missing");
        return;
    }
    let inst = passwd_file_instance("auth-submission", SASL_MAIN_CF);
    let Some((cert, key)) = kit::self_signed(&inst.dir, "mail.example.test") else {
        eprintln!("skipped: openssl missing");
        return;
    };
    inst.main_cf(&format!(
        "smtpd_tls_cert_file = {}\nsmtpd_tls_key_file = {}\n",
        cert.display(),
        key.display()
    ));
    let restrictions = "-o smtpd_sasl_auth_enable=yes -o smtpd_relay_restrictions= -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject";
    inst.master_cf(&format!(
        "127.0.0.1:0 inet n - n - - smtpd -o smtpd_tls_security_level=encrypt -o smtpd_tls_auth_only=yes {restrictions}\n\
         127.0.0.3:0 inet n - n - - smtpd -o smtpd_tls_wrappermode=yes {restrictions}\n\
         cleanup unix n - n - 0 cleanup\nauth unix - - n - - auth\n"
    ));
    inst.start();
    let swaks = |port: u16, server: &str, tls: &str, password: &str| {
        Command::new("swaks")
            .args(["--server", &format!("{server}:{port}"), tls])
            .args([
                "--auth",
                "PLAIN",
                "--auth-user",
                "alice",
                "--auth-password",
                password,
            ])
            .args(["--from", "alice@example.org", "--to", "far@remote.example"])
            .args(["--timeout", "10"])
            .output()
            .expect("swaks")
    };
    let submission = inst.port("127.0.0.1:0");
    let smtps = inst.port("127.0.0.3:0");

    // 587: AUTH is not offered before STARTTLS; with it, the mail is relayed.
    let out = swaks(submission, "127.0.0.1", "--tls", "wonderland-42");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", inst.maillog());
    assert!(text.contains("<-  220 2.0.0 Ready to start TLS"), "{text}");
    assert!(
        text.contains("235 2.7.0 Authentication successful"),
        "{text}"
    );
    assert!(text.contains("250 2.0.0 Ok: queued as "), "{text}");
    // Without TLS: no AUTH offered, and MAIL needs STARTTLS first.
    let out = Command::new("swaks")
        .args(["--server", &format!("127.0.0.1:{submission}")])
        .args(["--from", "alice@example.org", "--to", "far@remote.example"])
        .args(["--timeout", "10"])
        .output()
        .expect("swaks");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(!text.contains("250-AUTH"), "{text}");
    assert!(
        text.contains("530 5.7.0 Must issue a STARTTLS command first"),
        "{text}"
    );

    // 465: TLS from the first byte.
    let out = swaks(smtps, "127.0.0.3", "--tlsc", "wonderland-42");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", inst.maillog());
    assert!(
        text.contains("235 2.7.0 Authentication successful"),
        "{text}"
    );
    assert!(text.contains("250 2.0.0 Ok: queued as "), "{text}");
    // A wrong password on 465: 535, nothing relayed.
    let out = swaks(smtps, "127.0.0.3", "--tlsc", "wrong");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("535 5.7.8"), "{text}");

    let log = inst.maillog();
    assert_eq!(
        log.matches("Anonymous TLS connection established from")
            .count(),
        3,
        "{log}"
    );
    assert_eq!(
        log.matches("sasl_method=PLAIN, sasl_username=alice")
            .count(),
        2,
        "{log}"
    );
    let cat = postcat_incoming(&inst);
    assert_eq!(cat.matches("protocol_name=ESMTPSA").count(), 2, "{cat}");
    // By default (as Postfix) the Received: header names neither the TLS
    // cipher nor the login.
    assert!(
        !cat.contains("(using ") && !cat.contains("(Authenticated sender"),
        "{cat}"
    );
    inst.stop();
}

/// `smtpd_sasl_mechanism_filter`: only the mechanisms it lets through are
/// offered and taken.
#[test]
fn the_mechanism_filter_narrows_what_is_offered() {
    let inst = passwd_file_instance(
        "auth-mech-filter",
        &format!("{SASL_MAIN_CF}smtpd_sasl_mechanism_filter = !plain, static:all\n"),
    );
    inst.master_cf(SMTP_MASTER_CF);
    inst.start();
    let mut c = Smtp::connect(inst.port("127.0.0.1:0"));
    let ehlo = c.ask("EHLO client.example");
    assert!(ehlo.contains("250-AUTH LOGIN"), "{ehlo}");
    assert!(!ehlo.contains("PLAIN"), "{ehlo}");
    assert_eq!(
        c.ask(&format!("AUTH PLAIN {}", b64(b"\0alice\0wonderland-42"))),
        "535 5.7.8 Error: authentication failed: Invalid authentication mechanism"
    );
    assert_eq!(c.ask("AUTH LOGIN"), "334 VXNlcm5hbWU6");
    assert_eq!(c.ask(&b64(b"alice")), "334 UGFzc3dvcmQ6");
    assert_eq!(
        c.ask(&b64(b"wonderland-42")),
        "235 2.7.0 Authentication successful"
    );
}
