//! mailsuite and the real Postfix (Debian's package) as each other's
//! peers, on loopback, with a system user made by `useradd`:
//!
//! * mailsuite's smtp client relays (`relayhost = [127.0.0.1]:PORT`) to a
//!   private Postfix, whose local(8) delivers to the user's Maildir;
//! * that Postfix relays (its own `relayhost`) to mailsuite's smtpd, and
//!   mailsuite's local delivers to the same Maildir;
//! * mailsuite relays to a Postfix with a self-signed certificate under
//!   `smtp_tls_security_level = encrypt`: STARTTLS is used (both logs and
//!   Postfix's Received header say so), and the same Postfix without a
//!   certificate makes mailsuite defer rather than send in the clear.
//!
//! Each side's maillog must show the other's queue ID in its `status=sent`
//! line, and the message must arrive whole: headers from both hops, a body
//! with dot-leading lines, a lone dot, 8-bit text and a 900-octet line.
//!
//! Needs root (Postfix's master, `useradd`) and /usr/sbin/postfix;
//! `scripts/test` installs the package.

use kit::{free_port, is_root, self_signed, wait_until, Instance, SystemUser};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// A private Postfix instance in `dir`; stopped (its own master only) when
/// dropped.
struct Postfix {
    dir: PathBuf,
    port: u16,
}

impl Postfix {
    /// Writes main.cf and master.cf for a Postfix that delivers
    /// `postfix.example.test` locally and relays the rest to `relay_port`;
    /// `extra` is appended to main.cf.
    fn new(dir: &Path, port: u16, relay_port: u16, extra: &str) -> Postfix {
        let queue = dir.join("queue");
        let data = dir.join("data");
        std::fs::create_dir_all(&queue).expect("postfix queue dir");
        std::fs::create_dir_all(&data).expect("postfix data dir");
        let chown = Command::new("chown")
            .args(["postfix:postfix"])
            .arg(&data)
            .status()
            .expect("chown");
        assert!(chown.success(), "chown postfix data_directory");
        let d = dir.display();
        std::fs::write(
            dir.join("main.cf"),
            format!(
                "compatibility_level = 3.6\nqueue_directory = {d}/queue\ndata_directory = {d}/data\n\
                 maillog_file = {d}/maillog\nmaillog_file_prefixes = {d}\n\
                 myhostname = postfix.example.test\nmydomain = example.test\nmyorigin = $myhostname\n\
                 inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\nmynetworks = 127.0.0.0/8\n\
                 mydestination = postfix.example.test\nrelayhost = [127.0.0.1]:{relay_port}\n\
                 home_mailbox = Maildir/\nalias_maps =\nalias_database =\nnotify_classes =\n\
                 smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n\
                 smtp_connect_timeout = 5s\n{extra}"
            ),
        )
        .expect("postfix main.cf");
        let services = [
            format!("127.0.0.1:{port} inet n - n - - smtpd"),
            "cleanup unix n - n - 0 cleanup".into(),
            "qmgr unix n - n 300 1 qmgr".into(),
            "rewrite unix - - n - - trivial-rewrite".into(),
            "bounce unix - - n - 0 bounce".into(),
            "defer unix - - n - 0 bounce".into(),
            "trace unix - - n - 0 bounce".into(),
            "verify unix - - n - 1 verify".into(),
            "proxymap unix - - n - - proxymap".into(),
            "smtp unix - - n - - smtp".into(),
            "relay unix - - n - - smtp".into(),
            "showq unix n - n - - showq".into(),
            "error unix - - n - - error".into(),
            "retry unix - - n - - error".into(),
            "discard unix - - n - - discard".into(),
            "local unix - n n - - local".into(),
            "anvil unix - - n - 1 anvil".into(),
            "scache unix - - n - 1 scache".into(),
            "tlsmgr unix - - n 1000? 1 tlsmgr".into(),
            "postlog unix-dgram n - n - 1 postlogd".into(),
        ];
        std::fs::write(dir.join("master.cf"), services.join("\n") + "\n")
            .expect("postfix master.cf");
        // A Postfix command waits for a main.cf changed in the last seconds
        // to settle; back-date both files.
        let settled = Command::new("touch")
            .args(["-d", "-10 sec"])
            .arg(dir.join("main.cf"))
            .arg(dir.join("master.cf"))
            .status()
            .expect("touch");
        assert!(settled.success());
        let pf = Postfix {
            dir: dir.to_path_buf(),
            port,
        };
        pf.run(&["set-permissions"]);
        pf
    }

    /// `postfix -c DIR ARGS`, with the daemons' inherited output in a file.
    fn run(&self, args: &[&str]) {
        let out = std::fs::File::create(self.dir.join("postfix-command.log")).expect("log");
        let status = Command::new("postfix")
            .arg("-c")
            .arg(&self.dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .status()
            .expect("postfix");
        assert!(
            status.success(),
            "postfix {args:?}: {}",
            std::fs::read_to_string(self.dir.join("postfix-command.log")).unwrap_or_default()
        );
    }

    fn start(&self) {
        self.run(&["start"]);
        assert!(
            wait_until(10 * SECOND, || std::net::TcpStream::connect((
                "127.0.0.1",
                self.port
            ))
            .is_ok()),
            "Postfix did not start: {}",
            self.maillog()
        );
    }

    fn maillog(&self) -> String {
        std::fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }

    fn log_lines(&self, pattern: &str) -> Vec<String> {
        self.maillog()
            .lines()
            .filter(|l| l.contains(pattern))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(&self.dir)
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // The next instance may want the port.
        let port = self.port;
        wait_until(10 * SECOND, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
        });
    }
}

fn smtp_send(port: u16, rcpt: &str, body: &[u8]) {
    let script = format!(
        "import smtplib, sys\nbody = sys.stdin.buffer.read()\ns = smtplib.SMTP('127.0.0.1', {port})\ns.ehlo()\ns.sendmail('sender@example.org', ['{rcpt}'], body)\ns.quit()\n"
    );
    let mut child = Command::new("python3")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(body).expect("write body");
    }
    let out = child.wait_with_output().expect("python3");
    assert!(
        out.status.success(),
        "smtplib: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The files in the user's `Maildir/new`.
fn new_mail(user: &SystemUser) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(user.home.join("Maildir/new"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// The queue ID a receiving server named in `250 2.0.0 Ok: queued as ID`.
/// A message from mailsuite (smtpd at `mailsuite_port`) to `user` at
/// Postfix, once mailsuite has sent it.
fn send_to_postfix(inst: &Instance, postfix: &Postfix, mailsuite_port: u16, user: &SystemUser) {
    smtp_send(
        mailsuite_port,
        &format!("{}@postfix.example.test", user.name),
        &body("mailsuite to postfix"),
    );
    assert!(
        inst.wait_log("status=sent (250 2.0.0 Ok: queued as ", 1, 20 * SECOND),
        "mailsuite: {}\npostfix: {}",
        inst.maillog(),
        postfix.maillog()
    );
}

/// Postfix's log line for the message it relayed to mailsuite at
/// `mailsuite_port`, once it is there.
fn relayed_to_mailsuite(postfix: &Postfix, inst: &Instance, mailsuite_port: u16) -> String {
    let relayed = format!("relay=127.0.0.1[127.0.0.1]:{mailsuite_port}");
    let find = || {
        postfix
            .log_lines("status=sent (250 2.0.0 Ok: queued as ")
            .into_iter()
            .find(|l| l.contains(&relayed))
    };
    assert!(
        wait_until(20 * SECOND, || find().is_some()),
        "postfix did not relay to mailsuite: {}\nmailsuite: {}",
        postfix.maillog(),
        inst.maillog()
    );
    find().expect("relayed line")
}

fn queued_as(line: &str) -> String {
    let at = line.find("queued as ").expect("queued as") + "queued as ".len();
    line[at..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

/// A body that exercises transparency and 8-bit transport.
fn body(subject: &str) -> Vec<u8> {
    let long = "x".repeat(900);
    format!(
        "Subject: {subject}\r\nFrom: sender@example.org\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         .one dot\r\n..two dots\r\n.\r\nGrüße aus Köln\r\n{long}\r\nlast line\r\n"
    )
    .into_bytes()
}

/// Checks the delivered file holds `subject`'s message whole and shows both
/// hops, newest first.
fn assert_delivered(path: &Path, subject: &str, first_hop: &str, second_hop: &str) {
    let text = std::fs::read(path).expect("delivered message");
    let text = String::from_utf8(text).expect("utf-8 survives");
    assert!(text.contains(&format!("Subject: {subject}\n")), "{text}");
    let body = text.split_once("\n\n").map(|(_, b)| b).unwrap_or("");
    let want = format!(
        ".one dot\n..two dots\n.\nGrüße aus Köln\n{}\nlast line\n",
        "x".repeat(900)
    );
    assert_eq!(body, want, "the body survives both hops");
    let received: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("Received: "))
        .collect();
    assert!(received.len() >= 2, "{text}");
    let by = |hop: &str| {
        text.find(&format!("by {hop}"))
            .unwrap_or_else(|| panic!("no Received by {hop}: {text}"))
    };
    assert!(by(second_hop) < by(first_hop), "newest hop first: {text}");
}

/// A mailsuite that delivers its own domain to Maildir and relays the rest
/// to Postfix on `postfix_port`.
fn mailsuite(name: &str, postfix_port: u16, extra: &str) -> Instance {
    let inst = Instance::new(name);
    inst.main_cf(&format!(
        "mydestination = $myhostname, localhost\nmynetworks = 127.0.0.0/8\n\
         relayhost = [127.0.0.1]:{postfix_port}\nhome_mailbox = Maildir/\nalias_maps =\n\
         smtp_connect_timeout = 5s\n{extra}"
    ));
    inst.master_cf(
        "127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nsmtp unix - - n - - smtp\nlocal unix - n n - - local\nbounce unix - - n - 0 bounce\nshowq unix n - n - - showq\n",
    );
    inst
}

/// A private Postfix in `inst`'s directory offering STARTTLS with a
/// self-signed certificate, logging its TLS sessions and naming them in
/// its Received header; `extra` is added to its main.cf.
fn tls_postfix(inst: &Instance, port: u16, relay_port: u16, extra: &str) -> Postfix {
    let dir = inst.dir.join("postfix");
    std::fs::create_dir_all(&dir).expect("postfix dir");
    let (cert, key) = self_signed(&dir, "postfix.example.test").expect("openssl");
    Postfix::new(
        &dir,
        port,
        relay_port,
        &format!(
            "smtpd_tls_security_level = may\nsmtpd_tls_cert_file = {}\nsmtpd_tls_key_file = {}\n\
             smtpd_tls_loglevel = 1\nsmtpd_tls_received_header = yes\n{extra}",
            cert.display(),
            key.display()
        ),
    )
}

/// True when the test can run: root, and Postfix installed.
fn can_run() -> bool {
    if !is_root() {
        eprintln!("skipped: a private Postfix and useradd need root");
        return false;
    }
    if !Path::new("/usr/sbin/postfix").is_file() {
        eprintln!("skipped: the postfix package is not installed");
        return false;
    }
    true
}

#[test]
fn mailsuite_and_postfix_relay_to_each_other() {
    if !can_run() {
        return;
    }
    let user = SystemUser::new("pf");
    let postfix_port = free_port();
    let inst = mailsuite("interop", postfix_port, "");
    inst.start();
    let mailsuite_port = inst.port("127.0.0.1:0");

    let postfix = Postfix::new(&inst.dir.join("postfix"), postfix_port, mailsuite_port, "");
    postfix.start();

    // mailsuite → Postfix → Maildir.
    send_to_postfix(&inst, &postfix, mailsuite_port, &user);
    let sent = inst.log_lines("status=sent (250 2.0.0 Ok: queued as ");
    assert!(
        sent[0].contains(&format!("relay=127.0.0.1[127.0.0.1]:{postfix_port}")),
        "{}",
        sent[0]
    );
    let postfix_id = queued_as(&sent[0]);
    assert!(
        wait_until(20 * SECOND, || postfix
            .log_lines(&format!("{postfix_id}: to=<"))
            .iter()
            .any(
                |l| l.contains("relay=local") && l.contains("status=sent (delivered to maildir)")
            )),
        "postfix did not deliver {postfix_id}: {}",
        postfix.maillog()
    );
    assert!(wait_until(5 * SECOND, || new_mail(&user).len() == 1));
    assert_delivered(
        &new_mail(&user)[0],
        "mailsuite to postfix",
        "mail.example.test",
        "postfix.example.test",
    );

    // Postfix → mailsuite → Maildir.
    smtp_send(
        postfix_port,
        &format!("{}@mail.example.test", user.name),
        &body("postfix to mailsuite"),
    );
    let line = relayed_to_mailsuite(&postfix, &inst, mailsuite_port);
    let mailsuite_id = queued_as(&line);
    assert!(
        wait_until(20 * SECOND, || inst
            .log_lines(&format!(
                "{mailsuite_id}: to=<{}@mail.example.test>",
                user.name
            ))
            .iter()
            .any(|l| l.contains("relay=local") && l.contains("status=sent"))),
        "mailsuite did not deliver {mailsuite_id}: {}",
        inst.maillog()
    );
    assert!(wait_until(5 * SECOND, || new_mail(&user).len() == 2));
    let second = new_mail(&user)
        .into_iter()
        .find(|p| {
            std::fs::read_to_string(p)
                .map(|t| t.contains("Subject: postfix to mailsuite"))
                .unwrap_or(false)
        })
        .expect("the second message");
    assert_delivered(
        &second,
        "postfix to mailsuite",
        "postfix.example.test",
        "mail.example.test",
    );
    inst.stop();
}

#[test]
fn starttls_to_postfix_with_a_self_signed_certificate() {
    if !can_run() {
        return;
    }
    let user = SystemUser::new("pt");
    let postfix_port = free_port();
    let inst = mailsuite(
        "interop-tls",
        postfix_port,
        "smtp_tls_security_level = encrypt\nsmtp_tls_loglevel = 1\n",
    );
    inst.start();
    let mailsuite_port = inst.port("127.0.0.1:0");

    // First a Postfix without a certificate: encrypt must not fall back.
    let plain_dir = inst.dir.join("postfix-plain");
    let plain = Postfix::new(&plain_dir, postfix_port, mailsuite_port, "");
    plain.start();
    let rcpt = format!("{}@postfix.example.test", user.name);
    smtp_send(mailsuite_port, &rcpt, &body("over tls"));
    assert!(
        inst.wait_log("status=deferred", 1, 20 * SECOND),
        "mailsuite: {}",
        inst.maillog()
    );
    let deferred = inst.log_lines("status=deferred").remove(0);
    assert!(
        deferred.contains("(TLS is required, but was not offered by host 127.0.0.1[127.0.0.1])"),
        "{deferred}"
    );
    assert!(new_mail(&user).is_empty(), "sent in the clear");
    drop(plain);

    // Then the same port with a certificate, and a flush.
    let postfix = tls_postfix(&inst, postfix_port, mailsuite_port, "");
    postfix.start();
    let out = Command::new(inst.bin.join("postqueue"))
        .env("MAIL_CONFIG", &inst.dir)
        .arg("-f")
        .output()
        .expect("postqueue -f");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        inst.wait_log("status=sent (250 2.0.0 Ok: queued as ", 1, 20 * SECOND),
        "mailsuite: {}\npostfix: {}",
        inst.maillog(),
        postfix.maillog()
    );
    let tls = inst
        .log_lines("TLS connection established to")
        .pop()
        .expect("a TLS line in mailsuite's log");
    assert!(
        tls.contains(&format!(
            "Untrusted TLS connection established to 127.0.0.1[127.0.0.1]:{postfix_port}: TLSv1."
        )),
        "{tls}"
    );
    assert!(
        wait_until(5 * SECOND, || !postfix
            .log_lines("TLS connection established from")
            .is_empty()),
        "{}",
        postfix.maillog()
    );
    assert!(
        wait_until(20 * SECOND, || new_mail(&user).len() == 1),
        "{}",
        postfix.maillog()
    );
    let text = std::fs::read_to_string(&new_mail(&user)[0]).expect("delivered");
    assert!(
        text.contains("(using TLSv1."),
        "Postfix's Received header names TLS: {text}"
    );
    assert_delivered(
        &new_mail(&user)[0],
        "over tls",
        "mail.example.test",
        "postfix.example.test",
    );
    inst.stop();
}

/// `smtp_tls_chain_files`: mailsuite's SMTP client shows its own
/// certificate to a Postfix that asks for one (`smtpd_tls_ask_ccert`);
/// Postfix's Received header names it.
#[test]
fn a_client_certificate_shown_to_postfix() {
    if !can_run() {
        return;
    }
    let user = SystemUser::new("pc");
    let postfix_port = free_port();
    // Kept until the end: the smtp worker reads the certificate when it
    // starts, which may be after the message is sent.
    let client_dir = kit::Scratch::new("ccert");
    let (ccert, ckey) = self_signed(&client_dir, "client.example.test").expect("openssl");
    let chain = client_dir.join("chain.pem");
    let pem = |p: &Path| std::fs::read_to_string(p).expect("pem");
    std::fs::write(&chain, pem(&ckey) + &pem(&ccert)).expect("chain");
    let inst = mailsuite(
        "interop-ccert",
        postfix_port,
        &format!(
            "smtp_tls_security_level = encrypt\nsmtp_tls_chain_files = {}\n",
            chain.display()
        ),
    );
    inst.start();
    let mailsuite_port = inst.port("127.0.0.1:0");
    let postfix = tls_postfix(
        &inst,
        postfix_port,
        mailsuite_port,
        "smtpd_tls_ask_ccert = yes\n",
    );
    postfix.start();
    smtp_send(
        mailsuite_port,
        &format!("{}@postfix.example.test", user.name),
        &body("with a client certificate"),
    );
    assert!(
        wait_until(20 * SECOND, || new_mail(&user).len() == 1),
        "mailsuite: {}\npostfix: {}",
        inst.maillog(),
        postfix.maillog()
    );
    let text = std::fs::read_to_string(&new_mail(&user)[0]).expect("delivered");
    assert!(
        text.contains("Client CN \"client.example.test\""),
        "Postfix's Received header names the client certificate: {text}"
    );
    inst.stop();
}

/// The queue ID at the start of a log line's message (`ID: to=<…>`).
/// Postfix's one `ID: client=…` line for queue ID `id`, once it is logged
/// (its daemons log through postlogd: the line may come later).
fn postfix_client_line(postfix: &Postfix, id: &str) -> String {
    let pattern = format!("{id}: client=");
    assert!(
        wait_until(10 * SECOND, || !postfix.log_lines(&pattern).is_empty()),
        "{}",
        postfix.maillog()
    );
    let lines = postfix.log_lines(&pattern);
    assert_eq!(lines.len(), 1, "{}", postfix.maillog());
    lines[0].clone()
}

fn line_id(line: &str) -> String {
    line.split(": ")
        .nth(1)
        .expect("a queue ID after the program")
        .to_string()
}

/// XFORWARD between mailsuite and Postfix, each sending it
/// (smtp_send_xforward_command) and each authorizing the other
/// (smtpd_authorized_xforward_hosts): the receiving side logs the
/// sender's queue ID and client.
#[test]
fn xforward_both_ways_with_postfix() {
    if !can_run() {
        return;
    }
    let user = SystemUser::new("xf");
    let xforward =
        "smtp_send_xforward_command = yes\nsmtpd_authorized_xforward_hosts = 127.0.0.0/8\n";
    let postfix_port = free_port();
    let inst = mailsuite("interop-xforward", postfix_port, xforward);
    inst.start();
    let mailsuite_port = inst.port("127.0.0.1:0");
    let postfix = Postfix::new(
        &inst.dir.join("postfix"),
        postfix_port,
        mailsuite_port,
        xforward,
    );
    postfix.start();

    // mailsuite → Postfix.
    send_to_postfix(&inst, &postfix, mailsuite_port, &user);
    let sent = &inst.log_lines("status=sent (250 2.0.0 Ok: queued as ")[0];
    let (ours, theirs) = (line_id(sent), queued_as(sent));
    let received = postfix_client_line(&postfix, &theirs);
    assert!(
        received.ends_with(&format!(
            ": client=localhost[127.0.0.1], orig_queue_id={ours}, orig_client=localhost[127.0.0.1]"
        )),
        "{received}"
    );

    // Postfix → mailsuite.
    smtp_send(
        postfix_port,
        &format!("{}@mail.example.test", user.name),
        &body("postfix to mailsuite"),
    );
    let line = relayed_to_mailsuite(&postfix, &inst, mailsuite_port);
    let (theirs, ours) = (line_id(&line), queued_as(&line));
    let received = inst.log_lines(&format!("{ours}: client="));
    assert_eq!(received.len(), 1, "{}", inst.maillog());
    assert!(
        received[0].ends_with(&format!(
            ": client=localhost[127.0.0.1], orig_queue_id={theirs}, orig_client=localhost[127.0.0.1]"
        )),
        "{}",
        received[0]
    );
    inst.stop();
}

/// The real Postfix as mailsuite's before-queue content filter
/// (`smtpd_proxy_filter`, Postfix's SMTPD_PROXY_README set-up): mailsuite's
/// smtpd passes each transaction to Postfix as it happens, Postfix's
/// replies are the client's (a recipient its access table refuses, a
/// message its header_checks reject at the end of data), and what Postfix
/// queues comes back to mailsuite's after-filter smtpd, which delivers it.
/// XFORWARD carries the real client through both hops. A filter that
/// cannot be reached gets the client a 451.
#[test]
fn postfix_as_a_before_queue_content_filter() {
    if !can_run() {
        return;
    }
    let user = SystemUser::new("pq");
    let (postfix_port, back, dead, front_dead) =
        (free_port(), free_port(), free_port(), free_port());
    let inst = Instance::new("interop-proxy-filter");
    inst.main_cf(
        "mydestination = $myhostname, localhost\nmynetworks = 127.0.0.0/8\n\
         home_mailbox = Maildir/\nalias_maps =\nsmtpd_proxy_timeout = 20s\n",
    );
    inst.master_cf(&format!(
        "127.0.0.1:0 inet n - n - - smtpd -o smtpd_proxy_filter=127.0.0.1:{postfix_port}\n\
         127.0.0.1:{back} inet n - n - - smtpd -o smtpd_authorized_xforward_hosts=127.0.0.0/8\n\
         127.0.0.1:{front_dead} inet n - n - - smtpd -o smtpd_proxy_filter=127.0.0.1:{dead}\n\
         cleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nlocal unix - n n - - local\n\
         bounce unix - - n - 0 bounce\nshowq unix n - n - - showq\n"
    ));
    inst.start();
    let front = inst.port("127.0.0.1:0");
    let pf_dir = inst.dir.join("postfix");
    std::fs::create_dir_all(&pf_dir).expect("postfix dir");
    std::fs::write(
        pf_dir.join("header_checks"),
        "/^Subject: .*SPAM/ REJECT spam is refused here\n",
    )
    .expect("header_checks");
    let postfix = Postfix::new(
        &pf_dir,
        postfix_port,
        back,
        &format!(
            "smtpd_authorized_xforward_hosts = 127.0.0.0/8\nsmtp_send_xforward_command = yes\n\
             header_checks = regexp:{}/header_checks\n\
             smtpd_recipient_restrictions = check_recipient_access inline:{{ {{ nobody@mail.example.test = REJECT no such person }} }}\n",
            pf_dir.display()
        ),
    );
    postfix.start();

    let script = r#"
import smtplib, sys
front, front_dead, rcpt = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
body = sys.stdin.buffer.read() if False else None
def session(port, rcpts, subject):
    s = smtplib.SMTP("127.0.0.1", port, source_address=("127.0.0.2", 0), timeout=30)
    s.ehlo("client.example")
    s.mail("sender@example.org")
    for r in rcpts:
        code, text = s.rcpt(r)
        print("RCPT", r.split("@")[0], code, text.decode())
    long = "x" * 900
    msg = ("Subject: %s\r\nFrom: sender@example.org\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           ".one dot\r\n..two dots\r\n.\r\nGrüße aus Köln\r\n%s\r\nlast line\r\n" % (subject, long)).encode()
    try:
        code, text = s.data(msg)
        print("DATA", code, text.decode())
    except smtplib.SMTPException as e:
        print("DATA", e)
    s.quit()
session(front, [rcpt, "nobody@mail.example.test"], "through the filter")
session(front, [rcpt], "SPAM offer")
session(front_dead, [rcpt], "no filter")
"#;
    let rcpt = format!("{}@mail.example.test", user.name);
    let out = kit::python_lines(
        &[],
        script,
        &[&front.to_string(), &front_dead.to_string(), &rcpt],
    );
    let want_rcpt = format!("RCPT {} 250 2.1.5 Ok", user.name);
    assert_eq!(out[0], want_rcpt, "{out:?}\n{}", inst.maillog());
    assert_eq!(
        out[1],
        "RCPT nobody 554 5.7.1 <nobody@mail.example.test>: Recipient address rejected: no such person",
        "{out:?}"
    );
    assert!(
        out[2].starts_with("DATA 250 2.0.0 Ok: queued as "),
        "{out:?}"
    );
    let theirs = queued_as(&out[2]);
    assert_eq!(out[3], want_rcpt, "{out:?}");
    assert_eq!(out[4], "DATA 550 5.7.1 spam is refused here", "{out:?}");
    assert_eq!(
        out[5..],
        [
            format!("RCPT {} 451 4.3.0 Error: queue file write error", user.name),
            "DATA (554, b'5.5.1 Error: no valid recipients')".to_string()
        ],
        "{out:?}"
    );

    // mailsuite's log: the filter's refusals and verdicts, and no queue
    // file of the front smtpd's own (both sessions that reached the filter).
    assert_eq!(
        inst.log_lines("NOQUEUE: client=unknown[127.0.0.2]").len(),
        2,
        "{}",
        inst.maillog()
    );
    for line in [
        format!(
            "warning: proxy 127.0.0.1:{postfix_port} rejected \"RCPT TO:<nobody@mail.example.test>\": \"554 5.7.1 <nobody@mail.example.test>: Recipient address rejected: no such person\""
        ),
        format!(
            "proxy-accept: END-OF-MESSAGE: 250 2.0.0 Ok: queued as {theirs}; from=<sender@example.org> to=<{rcpt}> proto=ESMTP helo=<client.example>"
        ),
        format!("proxy-reject: END-OF-MESSAGE: 550 5.7.1 spam is refused here; from=<sender@example.org> to=<{rcpt}>"),
        format!("warning: connect to proxy filter 127.0.0.1:{dead}: Connection refused"),
    ] {
        assert_eq!(inst.log_lines(&line).len(), 1, "{line}\n{}", inst.maillog());
    }
    // Postfix saw the real client through XFORWARD.
    let pf_client = &postfix_client_line(&postfix, &theirs);
    assert!(
        pf_client.ends_with(": client=localhost[127.0.0.1], orig_client=unknown[127.0.0.2]"),
        "{pf_client}"
    );
    // ... and handed the mail back to the after-filter smtpd, which
    // delivered it, whole, with the three hops' Received: headers.
    let line = relayed_to_mailsuite(&postfix, &inst, back);
    let ours = queued_as(&line);
    assert!(inst.wait_log(&format!("{ours}: removed"), 1, 20 * SECOND));
    let back_client = &inst.log_lines(&format!("{ours}: client="))[0];
    assert!(
        back_client.ends_with(&format!(
            ": client=localhost[127.0.0.1], orig_queue_id={theirs}, orig_client=unknown[127.0.0.2]"
        )),
        "{back_client}"
    );
    let delivered = new_mail(&user);
    assert_eq!(delivered.len(), 1, "{}", inst.maillog());
    assert_delivered(
        &delivered[0],
        "through the filter",
        "postfix.example.test",
        "mail.example.test",
    );
    let text = std::fs::read_to_string(&delivered[0]).expect("message");
    assert!(
        text.contains(&format!(
            "Received: from client.example (unknown [127.0.0.2])\n\tby mail.example.test (mailsuite) with ESMTP\n\tfor <{rcpt}>; "
        )),
        "the front smtpd's own Received:, without a queue ID: {text}"
    );
    assert_eq!(text.matches("Received: ").count(), 3, "{text}");
    inst.stop();
}
