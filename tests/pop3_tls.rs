//! pop3d's TLS and login policy with real clients: STLS (RFC 2595) and
//! pop3s on a TLS-wrapped port through Python's poplib, curl and
//! fetchmail (downloading into an mbox); the plaintext policy seen from
//! another network (a client in a network namespace: refused without
//! TLS, allowed after STLS and from login_trusted_networks); and a user
//! who exists only in a passwd-file, served with the uid, gid and home
//! of that file.

use kit::{field, is_root, python_lines, uids_of, wait_until, Instance, NetNs, SystemUser};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// The poplib side; each mode prints what the test checks. Messages are
/// summarised as `subject:length:crc32` of their lines.
const CLIENT: &str = r#"
import poplib, ssl, sys, zlib
mode, host, port, user, pw = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
def digest(lines):
    subj = [l.decode() for l in lines if l.startswith(b"Subject:")][0]
    data = b"\r\n".join(lines)
    return "%s:%d:%08x" % (subj.replace(" ", "_"), len(data), zlib.crc32(data))
def session(p):
    print("pass", p.pass_(pw).decode() if p.user(user) else "")
    n, _ = p.stat()
    print("stat", n)
    print("msgs", *[digest(p.retr(i)[1]) for i in range(1, n + 1)])
    print("quit", p.quit().decode())
if mode == "plain":
    p = poplib.POP3(host, port, timeout=20)
    print("capa", *sorted(p.capa()))
    try:
        session(p)
    except poplib.error_proto as e:
        print("refused", e.args[0].decode())
elif mode == "stls":
    p = poplib.POP3(host, port, timeout=20)
    print("capa-before", *sorted(p.capa()))
    print("stls", p.stls(context=ctx).decode())
    print("cipher", p.sock.version())
    print("capa-after", *sorted(p.capa()))
    session(p)
elif mode == "pop3s":
    p = poplib.POP3_SSL(host, port, timeout=20, context=ctx)
    print("greeting", p.getwelcome().decode())
    print("cipher", p.sock.version())
    session(p)
"#;

fn client(
    wrapper: &[&str],
    mode: &str,
    host: &str,
    port: u16,
    user: &str,
    pw: &str,
) -> Vec<String> {
    let port = port.to_string();
    python_lines(wrapper, CLIENT, &[mode, host, &port, user, pw])
}

/// Sends a small and a 300 KB message (many TLS records) to `rcpt`.
fn send_two(port: u16, rcpt: &str) {
    let script = format!(
        "import smtplib\ns = smtplib.SMTP('127.0.0.1', {port}, timeout=20)\nbig = b''.join(b'line %06d of the big one, and some text to make it longer\\r\\n' % i for i in range(5000))\ns.sendmail('sender@example.org', ['{rcpt}'], b'Subject: small\\r\\nFrom: sender@example.org\\r\\n\\r\\nsmall body\\r\\n.dot\\r\\n')\ns.sendmail('sender@example.org', ['{rcpt}'], b'Subject: big\\r\\nFrom: sender@example.org\\r\\n\\r\\n' + big)\ns.quit()\n"
    );
    python_lines(&[], &script, &[]);
}

fn base(name: &str) -> Instance {
    let inst = Instance::new(name);
    inst.main_cf(
        "home_mailbox = Maildir/\nmail_location = maildir:~/Maildir\nalias_maps =\nalias_database =\nmydestination = $myhostname, localhost\nauth_failure_delay = 0\n",
    );
    inst
}

#[test]
fn pop3_stls_and_pop3s_with_poplib_curl_and_fetchmail() {
    if !is_root() {
        eprintln!("skipped: useradd and pop3d's user switch need root");
        return;
    }
    let inst = base("pop3tls");
    let Some((cert, key)) = kit::self_signed(&inst.dir, "mail.example.test") else {
        eprintln!("skipped: no openssl");
        return;
    };
    // Dovecot's `<file` form for the certificate, a plain path for the key.
    inst.main_cf(&format!(
        "ssl = yes\nssl_cert = <{}\nssl_key = {}\n",
        cert.display(),
        key.display()
    ));
    inst.master_cf(
        "127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nlocal unix - n n - - local\nbounce unix - - n - 0 bounce\nauth unix - - n - - auth\n[127.0.0.1]:0 inet n n n - - pop3d\n127.0.0.2:0 inet n n n - - pop3d -o pop3d_tls_wrappermode=yes\n",
    );
    let user = SystemUser::new("ptls");
    let password = format!("Tls-{}-pw", std::process::id());
    user.set_password(&password);
    inst.start();
    let smtp = inst.port("127.0.0.1:0");
    let pop = inst.port("[127.0.0.1]:0");
    let pops = inst.port("127.0.0.2:0");
    send_two(smtp, &format!("{}@localhost", user.name));
    assert!(
        inst.wait_log("status=sent", 2, 20 * SECOND),
        "{}",
        inst.maillog()
    );
    let u = user.name.as_str();

    // Plaintext from the local host: allowed, and the reference digests.
    let plain = client(&[], "plain", "127.0.0.1", pop, u, &password);
    assert_eq!(field(&plain, "pass"), "+OK Logged in.", "{plain:#?}");
    assert!(field(&plain, "capa").contains("STLS"), "{plain:#?}");
    let msgs = field(&plain, "msgs").to_string();
    assert!(
        msgs.contains("Subject:_small:") && msgs.contains("Subject:_big:"),
        "{msgs}"
    );

    // STLS: offered before, gone after; the same bytes come through.
    let stls = client(&[], "stls", "127.0.0.1", pop, u, &password);
    assert_eq!(field(&stls, "stls"), "+OK Begin TLS negotiation now.");
    assert!(field(&stls, "cipher").starts_with("TLSv1."), "{stls:#?}");
    assert!(field(&stls, "capa-before").contains("STLS"));
    assert!(!field(&stls, "capa-after").contains("STLS"), "{stls:#?}");
    assert_eq!(field(&stls, "pass"), "+OK Logged in.");
    assert_eq!(field(&stls, "msgs"), msgs, "RETR over STLS");
    assert_eq!(field(&stls, "quit"), "+OK Logging out.");

    // pop3s: TLS from the first byte.
    let s = client(&[], "pop3s", "127.0.0.2", pops, u, &password);
    assert_eq!(field(&s, "greeting"), "+OK Dovecot ready.");
    assert_eq!(field(&s, "msgs"), msgs, "RETR over pop3s");
    assert!(
        inst.log_lines("pop3-login: Login: ")
            .iter()
            .any(|l| l.contains(", TLS")),
        "{}",
        inst.maillog()
    );

    // curl, pop3s:// and pop3:// with STLS required.
    for (url, extra) in [
        (format!("pop3s://127.0.0.2:{pops}/1"), None),
        (format!("pop3://127.0.0.1:{pop}/1"), Some("--ssl-reqd")),
    ] {
        let mut c = Command::new("curl");
        c.args([
            "-sSk",
            "--max-time",
            "20",
            "--user",
            &format!("{u}:{password}"),
        ]);
        if let Some(e) = extra {
            c.arg(e);
        }
        let out = c.arg(&url).output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("Subject: "), "curl {url}: {text}");
    }

    // A TLS session: the relay is the pre-login process (nobody), the
    // session is the user; the user's process holds no TCP socket.
    let mut p = std::process::Command::new("python3")
        .args(["-c", &format!(
            "import poplib, ssl, time\nctx = ssl.create_default_context()\nctx.check_hostname = False\nctx.verify_mode = ssl.CERT_NONE\np = poplib.POP3_SSL('127.0.0.2', {pops}, context=ctx)\np.user('{u}')\np.pass_('{password}')\nprint('in', flush=True)\ntime.sleep(3)\np.quit()\n"
        )])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let uid = user_uid(u);
    // Logged in: the session process is there for the next 3 seconds (an
    // earlier session's may still be exiting, so wait for the login).
    let mut said = String::new();
    let stdout = p.stdout.take().expect("stdout");
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut said).expect("read");
    assert_eq!(said.trim(), "in");
    let mut session = None;
    assert!(
        wait_until(5 * SECOND, || {
            session = pids_of_uid("pop3d", uid).last().copied();
            session.is_some()
        }),
        "no session process as the user"
    );
    let session_pid = session.unwrap_or_default();
    assert!(
        uids_of("pop3d").contains(&65534),
        "no relay as nobody: {:?}",
        uids_of("pop3d")
    );
    assert_eq!(
        tcp_sockets(session_pid),
        0,
        "the user's process holds the client socket"
    );
    assert!(p.wait().expect("python").success());

    // fetchmail over pop3s into an mbox; it deletes what it fetched.
    let home = inst.dir.join("fetchhome");
    std::fs::create_dir_all(&home).expect("mkdir");
    let mbox = inst.dir.join("fetched.mbox");
    let rc = home.join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "set no bouncemail\npoll 127.0.0.2 service {pops} protocol pop3 user \"{u}\" password \"{password}\" ssl no sslcertck mda \"/bin/sh -c '{{ echo From fetchmail@localhost Sat Nov 21 10:00:00 2026; cat; echo; }} >> {}'\"\n",
            mbox.display()
        ),
    )
    .expect("write rc");
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    if Command::new("fetchmail").arg("--version").output().is_err() {
        eprintln!("fetchmail missing: that part is skipped");
    } else {
        let out = Command::new("fetchmail")
            .env("HOME", &home)
            .args(["-f"])
            .arg(&rc)
            .args(["--nosyslog", "-d0", "--pidfile"])
            .arg(home.join("pid"))
            .output()
            .expect("fetchmail");
        assert!(
            out.status.success(),
            "fetchmail: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            inst.maillog()
        );
        let text = std::fs::read_to_string(&mbox).expect("mbox");
        assert_eq!(
            text.matches("\nFrom fetchmail@localhost").count() + 1,
            2,
            "two messages"
        );
        assert!(text.contains("Subject: small") && text.contains("Subject: big"));
        assert!(text.contains("line 004999 of the big one"));
        let after = client(&[], "plain", "127.0.0.1", pop, u, &password);
        assert_eq!(
            field(&after, "stat"),
            "0",
            "fetchmail deleted what it fetched"
        );
    }

    // ssl_min_protocol = TLSv1.3 turns a TLS 1.2-only client away.
    assert!(inst
        .postconf(&["-e", "ssl_min_protocol = TLSv1.3"])
        .status
        .success());
    assert!(inst.mailsuite(&["reload"]).status.success());
    // A pop3s session from Python's ssl with at most TLS version `max`
    // (and `cipher` for TLS 1.2): what it got (`what`: s.version() or
    // s.cipher()[0]) and the greeting, or "got refused".
    let session = |max: &str, cipher: &str, what: &str| {
        let script = format!(
            "import ssl, socket\nctx = ssl.create_default_context()\nctx.check_hostname = False\nctx.verify_mode = ssl.CERT_NONE\nctx.maximum_version = ssl.TLSVersion.{max}\nif '{cipher}': ctx.set_ciphers('{cipher}')\ntry:\n    s = ctx.wrap_socket(socket.create_connection(('127.0.0.2', {pops}), timeout=10))\n    print('got', {what}, s.recv(100).decode().strip())\nexcept (ssl.SSLError, OSError) as e:\n    print('got refused')\n"
        );
        python_lines(&[], &script, &[]).join(" ")
    };
    let probe = |max: &str| session(max, "", "s.version()");
    assert!(
        wait_until(10 * SECOND, || probe("TLSv1_2") == "got refused"),
        "TLS 1.2 still accepted: {}",
        probe("TLSv1_2")
    );
    assert_eq!(probe("TLSv1_3"), "got TLSv1.3 +OK Dovecot ready.");

    // ssl_cipher_list (OpenSSL's syntax) chooses TLS 1.2's suites.
    assert!(inst
        .postconf(&[
            "-e",
            "ssl_min_protocol = TLSv1.2",
            "ssl_cipher_list = ALL:!AES256:!CHACHA20",
        ])
        .status
        .success());
    assert!(inst.mailsuite(&["reload"]).status.success());
    let with_cipher = |cipher: &str| session("TLSv1_2", cipher, "s.cipher()[0]");
    assert!(
        wait_until(10 * SECOND, || with_cipher("ECDHE-ECDSA-AES256-GCM-SHA384")
            == "got refused"),
        "an excluded suite still accepted: {}",
        with_cipher("ECDHE-ECDSA-AES256-GCM-SHA384")
    );
    assert_eq!(
        with_cipher("ECDHE-ECDSA-AES128-GCM-SHA256"),
        "got ECDHE-ECDSA-AES128-GCM-SHA256 +OK Dovecot ready."
    );
    inst.stop();
}

fn user_uid(name: &str) -> u32 {
    let out = Command::new("id").args(["-u", name]).output().expect("id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("uid")
}

fn pids_of_uid(comm: &str, uid: u32) -> Vec<i32> {
    let out = Command::new("ps")
        .args(["-eo", "pid=,uid=,comm="])
        .output()
        .expect("ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() == 3 && w[2] == comm && w[1].parse() == Ok(uid)).then(|| w[0].parse().ok())?
        })
        .collect()
}

/// How many TCP sockets process `pid` holds.
fn tcp_sockets(pid: i32) -> usize {
    let mut inodes = std::collections::HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for l in std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
        {
            if let Some(i) = l.split_whitespace().nth(9) {
                inodes.insert(i.to_string());
            }
        }
    }
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|t| {
            t.to_string_lossy()
                .strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']'))
                .map(str::to_string)
        })
        .filter(|i| inodes.contains(i))
        .count()
}

#[test]
fn pop3_plaintext_policy_for_a_client_on_another_network() {
    let Some(ns) = NetNs::new("pop") else {
        eprintln!("skipped: needs root and ip(8) for a network namespace");
        return;
    };
    let inst = base("pop3net");
    let Some((cert, key)) = kit::self_signed(&inst.dir, "mail.example.test") else {
        eprintln!("skipped: no openssl");
        return;
    };
    inst.main_cf(&format!(
        "ssl_cert = {}\nssl_key = {}\n",
        cert.display(),
        key.display()
    ));
    let service = format!("{}:0", ns.host_ip);
    inst.master_cf(&format!(
        "auth unix - - n - - auth\n{service} inet n n n - - pop3d\n"
    ));
    let user = SystemUser::new("pnet");
    let password = format!("Net-{}-pw", std::process::id());
    user.set_password(&password);
    inst.start();
    let port = inst.port(&service);
    let exec = ns.exec();
    let u = user.name.as_str();

    // Not secured, not local, not trusted: no USER, no SASL, refused.
    let out = client(&exec, "plain", &ns.host_ip, port, u, &password);
    let capa = field(&out, "capa");
    assert!(
        capa.contains("STLS") && !capa.contains("USER") && !capa.contains("SASL"),
        "{capa}"
    );
    assert_eq!(
        field(&out, "refused"),
        "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
    );
    // After STLS the same client logs in.
    let out = client(&exec, "stls", &ns.host_ip, port, u, &password);
    assert_eq!(field(&out, "pass"), "+OK Logged in.", "{out:#?}");
    assert!(field(&out, "capa-after").contains("USER"));
    // From login_trusted_networks, plaintext is allowed.
    let set = format!("login_trusted_networks={}/32", ns.ns_ip);
    let o = inst.postconf(&["-e", &set]);
    assert!(o.status.success());
    let o = inst.mailsuite(&["reload"]);
    assert!(o.status.success());
    assert!(
        wait_until(10 * SECOND, || {
            let out = client(&exec, "plain", &ns.host_ip, port, u, &password);
            out.iter().any(|l| l == "pass +OK Logged in.")
        }),
        "trusted network still refused\n{}",
        inst.maillog()
    );
    inst.stop();
}

#[test]
fn pop3_user_from_a_passwd_file_without_a_system_account() {
    let inst = base("pop3pwfile");
    // As root, an id no system account has; otherwise our own (a
    // single-user instance serves only the account it runs as).
    let (uid, gid) = if is_root() {
        let n = 61_000 + std::process::id() % 1000;
        (n, n)
    } else {
        // SAFETY: getuid/getgid cannot fail.
        unsafe { (libc::getuid(), libc::getgid()) }
    };
    let home = inst.dir.join("vmail/demo");
    let new = home.join("Maildir/new");
    std::fs::create_dir_all(&new).expect("mkdir");
    std::fs::create_dir_all(home.join("Maildir/cur")).expect("mkdir");
    std::fs::create_dir_all(home.join("Maildir/tmp")).expect("mkdir");
    for i in 1..=2 {
        std::fs::write(
            new.join(format!("17000000{i}.M{i}P1.host")),
            format!("Subject: stored {i}\nFrom: a@example.org\n\nbody {i}\n"),
        )
        .expect("write message");
    }
    if is_root() {
        chown_tree(&inst.dir.join("vmail"), uid, gid);
    }
    let users = inst.dir.join("users");
    std::fs::write(
        &users,
        format!(
            "# Dovecot's passwd-file format\ndemo@example.test:{{PLAIN}}demo-secret:{uid}:{gid}::{}::\n",
            home.display()
        ),
    )
    .expect("users");
    inst.main_cf(&format!(
        "passdb = passwd-file:{}\nfirst_valid_uid = 1000\n",
        users.display()
    ));
    inst.master_cf("auth unix - - n - - auth\n[127.0.0.1]:0 inet n n n - - pop3d\n");
    inst.start();
    let pop = inst.port("[127.0.0.1]:0");
    let hold = format!(
        "import poplib, time\np = poplib.POP3('127.0.0.1', {pop})\np.user('demo@example.test')\nprint('pass', p.pass_('demo-secret').decode(), flush=True)\nprint('stat', p.stat()[0], flush=True)\ntime.sleep(2)\nprint('quit', p.quit().decode())\n"
    );
    let child = Command::new("python3")
        .args(["-c", &hold])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    if is_root() {
        assert!(
            wait_until(5 * SECOND, || !pids_of_uid("pop3d", uid).is_empty()),
            "no session as uid {uid}\n{}",
            inst.maillog()
        );
        let pid = pids_of_uid("pop3d", uid)[0];
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        let groups = status
            .lines()
            .find_map(|l| l.strip_prefix("Groups:"))
            .expect("Groups")
            .trim()
            .to_string();
        assert_eq!(groups, gid.to_string(), "only the passwd-file gid");
    }
    let out = child.wait_with_output().expect("python");
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        field(&lines, "pass"),
        "+OK Logged in.",
        "{}",
        inst.maillog()
    );
    assert_eq!(field(&lines, "stat"), "2");
    assert_eq!(field(&lines, "quit"), "+OK Logging out.");
    // A uid below first_valid_uid is refused (as root the check applies).
    if is_root() {
        std::fs::write(
            &users,
            format!(
                "low@example.test:{{PLAIN}}pw:999:999::{}::\n",
                home.display()
            ),
        )
        .expect("users");
        let out = client(&[], "plain", "127.0.0.1", pop, "low@example.test", "pw");
        assert!(
            field(&out, "refused").starts_with("-ERR [SYS/TEMP]")
                || field(&out, "refused").contains("Temporary"),
            "{out:#?}"
        );
        assert!(inst.maillog().contains("outside first_valid_uid"));
    }
    inst.stop();
}

fn chown_tree(dir: &Path, uid: u32, gid: u32) {
    let out = Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(dir)
        .output()
        .expect("chown");
    assert!(out.status.success());
}
