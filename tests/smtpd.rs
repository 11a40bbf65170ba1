//! smtpd end to end: the real master runs smtpd and cleanup in a temp dir;
//! clients nobody here wrote (Python's smtplib, swaks) and raw sockets
//! talk to it; queue files are checked with postcat.

use kit::{wait_until, Instance};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

const MASTER_CF: &str = "127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\n";

/// An instance with smtpd and cleanup; `root` is a known local user.
fn start(name: &str, main_cf: &str) -> (Instance, u16) {
    let inst = Instance::new(name);
    inst.main_cf(&format!(
        "alias_maps =\nsmtpd_error_sleep_time = 0\nmynetworks = 127.0.0.1/32\n{main_cf}"
    ));
    inst.master_cf(MASTER_CF);
    inst.start();
    let port = inst.port("127.0.0.1:0");
    (inst, port)
}

fn has_python() -> bool {
    Command::new("python3")
        .arg("-c")
        .arg("import smtplib")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs a Python script (given the port as argv[1]) and returns stdout.
fn python(inst: &Instance, script: &str, port: u16) -> String {
    let path = inst.dir.join("client.py");
    std::fs::write(&path, script).expect("write script");
    let out = Command::new("python3")
        .arg(&path)
        .arg(port.to_string())
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python failed: {}\n{stdout}\nmaillog:\n{}",
        String::from_utf8_lossy(&out.stderr),
        inst.maillog()
    );
    stdout
}

/// Every file under queue/incoming (hashed subdirectories included).
fn incoming(inst: &Instance) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&inst.dir.join("queue/incoming"), &mut out);
    out.sort();
    out
}

/// The queue file whose name is `id` (or starts with it).
fn queue_file(inst: &Instance, id: &str) -> PathBuf {
    let mut found = None;
    wait_until(5 * SECOND, || {
        found = incoming(inst).into_iter().find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(id))
        });
        found.is_some()
    });
    found.unwrap_or_else(|| panic!("no queue file {id} in {:?}", incoming(inst)))
}

fn postcat(inst: &Instance, file: &Path) -> String {
    let out = Command::new(inst.bin.join("postcat"))
        .env("MAIL_CONFIG", &inst.dir)
        .arg(file)
        .output()
        .expect("run postcat");
    assert!(
        out.status.success(),
        "postcat: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A raw SMTP client for what smtplib cannot send.
struct Raw {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Raw {
    fn connect(port: u16) -> Raw {
        Raw::connect_from(None, port)
    }

    fn connect_from(source: Option<&str>, port: u16) -> Raw {
        let (raw, greeting) = Raw::open_from(source, port);
        assert!(greeting.starts_with("220 "), "{greeting}");
        raw
    }

    /// A connection and the server's first reply (a greeting or a refusal).
    fn open_from(source: Option<&str>, port: u16) -> (Raw, String) {
        let s = match source {
            None => TcpStream::connect(("127.0.0.1", port)).expect("connect"),
            Some(src) => {
                let sock = nix::sys::socket::socket(
                    nix::sys::socket::AddressFamily::Inet,
                    nix::sys::socket::SockType::Stream,
                    nix::sys::socket::SockFlag::empty(),
                    None,
                )
                .expect("socket");
                let local: SocketAddr = format!("{src}:0").parse().expect("addr");
                let remote: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
                nix::sys::socket::bind(
                    std::os::fd::AsRawFd::as_raw_fd(&sock),
                    &nix::sys::socket::SockaddrIn::from(match local {
                        SocketAddr::V4(a) => a,
                        SocketAddr::V6(_) => unreachable!(),
                    }),
                )
                .expect("bind");
                nix::sys::socket::connect(
                    std::os::fd::AsRawFd::as_raw_fd(&sock),
                    &nix::sys::socket::SockaddrIn::from(match remote {
                        SocketAddr::V4(a) => a,
                        SocketAddr::V6(_) => unreachable!(),
                    }),
                )
                .expect("connect");
                TcpStream::from(sock)
            }
        };
        s.set_read_timeout(Some(10 * SECOND)).expect("timeout");
        let mut raw = Raw {
            w: s.try_clone().expect("clone"),
            r: BufReader::new(s),
        };
        let greeting = raw.reply();
        (raw, greeting)
    }

    /// One whole reply, lines joined with '\n'; "" on EOF.
    fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut l = String::new();
            match self.r.read_line(&mut l) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let l = l.trim_end().to_string();
            let more = l.as_bytes().get(3) == Some(&b'-');
            lines.push(l);
            if !more {
                break;
            }
        }
        lines.join("\n")
    }

    fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).expect("send");
    }

    fn ask(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }
}

/// A normal message through smtplib; returns the queue id.
fn send_normal(inst: &Instance, port: u16) -> String {
    let out = python(
        inst,
        r#"
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=10)
s.ehlo('client.example.com')
s.mail('sender@example.com')
s.rcpt('root@mail.example.test')
code, msg = s.data(b'Subject: normal\r\n\r\nA normal message.\r\n')
print(code, msg.decode())
s.quit()
"#,
        port,
    );
    let id = out
        .trim()
        .strip_prefix("250 2.0.0 Ok: queued as ")
        .unwrap_or_else(|| panic!("not queued: {out}"))
        .to_string();
    assert!(!id.is_empty());
    id
}

#[test]
fn ehlo_message_dot_stuffing_and_utf8() {
    if !has_python() {
        eprintln!("python3 missing: skipped");
        return;
    }
    let (inst, port) = start("smtpd-basic", "");
    let out = python(
        &inst,
        r#"
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=10)
code, msg = s.ehlo('client.example.com')
print(code)
print(msg.decode())
body = (b'Subject: dots\r\n\r\n'
        b'.leading dot\r\n..two dots\r\n.\r\n'
        b'8bit: caf\xc3\xa9\r\nend\r\n')
s.mail('sender@example.com', ['BODY=8BITMIME'])
s.rcpt('root@mail.example.test')
code, msg = s.data(body)
print(code, msg.decode())
s.mail('j\u00f6rg@example.com', ['SMTPUTF8', 'BODY=8BITMIME'])
s.rcpt('root@mail.example.test', ['NOTIFY=SUCCESS,FAILURE', 'ORCPT=rfc822;root@mail.example.test'])
code, msg = s.data('Subject: caf\u00e9\r\n\r\nUTF-8 \u2713\r\n'.encode('utf-8'))
print(code, msg.decode())
print(s.docmd('MAIL FROM:<j\u00f6rg@example.com>'))
s.rset()
s.quit()
"#,
        port,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "250");
    for kw in [
        "mail.example.test",
        "PIPELINING",
        "SIZE 10240000",
        "VRFY",
        "ENHANCEDSTATUSCODES",
        "8BITMIME",
        "DSN",
        "SMTPUTF8",
        "CHUNKING",
    ] {
        assert!(out.contains(kw), "no {kw} in EHLO: {out}");
    }
    assert!(!out.contains("STARTTLS"), "STARTTLS without a certificate");
    let queued: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("250 2.0.0 Ok: queued as "))
        .collect();
    assert_eq!(queued.len(), 2, "{out}\n{}", inst.maillog());
    // strict_smtputf8 = no (Postfix's default): a UTF-8 address is taken
    // without SMTPUTF8.
    assert!(out.contains("(250, b'2.1.0 Ok')"), "{out}");

    let first = postcat(&inst, &queue_file(&inst, queued[0]));
    assert!(first.contains("sender: sender@example.com"), "{first}");
    assert!(
        first.contains("recipient: root@mail.example.test"),
        "{first}"
    );
    // No ORCPT: the address as the client wrote it, as Postfix's smtpd
    // records it.
    assert!(
        first.contains("dsn_original_recipient: rfc822;root@mail.example.test\n"),
        "{first}"
    );
    assert!(
        first.contains("\n\n.leading dot\n..two dots\n.\n8bit: café\nend\n"),
        "smtplib's dot-stuffing undone exactly: {first}"
    );
    let second = postcat(&inst, &queue_file(&inst, queued[1]));
    assert!(second.contains("sender: jörg@example.com"), "{second}");
    assert!(second.contains("UTF-8 ✓"), "{second}");

    // smtpd logs the session's end after its reply to QUIT.
    assert!(
        inst.wait_log("disconnect from localhost[127.0.0.1]", 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );
    let log = inst.maillog();
    assert!(log.contains("smtpd["), "{log}");
    assert!(log.contains("connect from localhost[127.0.0.1]"), "{log}");
    assert!(
        log.contains(&format!("{}: client=localhost[127.0.0.1]", queued[0])),
        "{log}"
    );
    assert!(
        log.contains("disconnect from localhost[127.0.0.1] ehlo=1 mail=3 rcpt=2 data=2 rset=1 quit=1 commands=10"),
        "{log}"
    );
}

/// Commands that arrive in pieces (a byte at a time here) are counted
/// under their names in the disconnect line, as whole ones are.
#[test]
fn commands_in_pieces_are_counted_by_name() {
    let (inst, port) = start("smtpd-pieces", "");
    let mut c = Raw::connect(port);
    for line in [
        "HELO client.example.com",
        "MAIL FROM:<a@example.com>",
        "NOOP",
    ] {
        for b in format!("{line}\r\n").bytes() {
            c.send(&[b]);
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(c.reply().starts_with("250"));
    }
    c.ask("QUIT");
    assert!(
        inst.wait_log(
            "disconnect from localhost[127.0.0.1] helo=1 mail=1 noop=1 quit=1 commands=4",
            1,
            10 * SECOND
        ),
        "{}",
        inst.maillog()
    );
}

#[test]
fn pipelining_bdat_and_limits() {
    let (inst, port) = start(
        "smtpd-pipe",
        "message_size_limit = 20000\nsmtpd_recipient_limit = 3\n",
    );
    // Pipelined transaction: all replies come back in order.
    let mut c = Raw::connect(port);
    let ehlo = c.ask("EHLO client.example.com");
    assert!(ehlo.contains("250-PIPELINING"), "{ehlo}");
    c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<root@mail.example.test>\r\nRCPT TO:<nobody-here@mail.example.test>\r\nDATA\r\n");
    assert_eq!(c.reply(), "250 2.1.0 Ok");
    assert_eq!(c.reply(), "250 2.1.5 Ok");
    assert_eq!(
        c.reply(),
        "550 5.1.1 <nobody-here@mail.example.test>: Recipient address rejected: User unknown in local recipient table"
    );
    assert_eq!(c.reply(), "354 End data with <CR><LF>.<CR><LF>");
    c.send(b"Subject: pipelined\r\n\r\nbody\r\n.\r\n");
    let queued = c.reply();
    assert!(queued.starts_with("250 2.0.0 Ok: queued as "), "{queued}");

    // BDAT in two chunks, the first with the command pipelined after it.
    assert_eq!(c.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert_eq!(c.ask("RCPT TO:<root@mail.example.test>"), "250 2.1.5 Ok");
    let part1 = b"Subject: chunked\r\n\r\nfirst part\r\n";
    let middle = b"middle\r\n";
    let part2 = b"second part\r\n.no dot stuffing here\r\n";
    let mut msg = format!("BDAT {}\r\n", part1.len()).into_bytes();
    msg.extend_from_slice(part1);
    msg.extend_from_slice(format!("BDAT {}\r\n", middle.len()).as_bytes());
    msg.extend_from_slice(middle);
    msg.extend_from_slice(format!("BDAT {} LAST\r\n", part2.len()).as_bytes());
    msg.extend_from_slice(part2);
    c.send(&msg);
    // Each chunk's own size (Postfix's words); LAST says the total.
    assert_eq!(c.reply(), format!("250 2.0.0 Ok: {} bytes", part1.len()));
    assert_eq!(c.reply(), format!("250 2.0.0 Ok: {} bytes", middle.len()));
    let last = c.reply();
    let total = part1.len() + middle.len() + part2.len();
    let prefix = format!("250 2.0.0 Ok: {total} bytes queued as ");
    let bdat_id = last
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{last}"))
        .to_string();
    let cat = postcat(&inst, &queue_file(&inst, &bdat_id));
    assert!(
        cat.contains("first part\nmiddle\nsecond part\n.no dot stuffing here\n"),
        "{cat}"
    );
    // A message that ends mid-line is counted with the line end it gets,
    // as Postfix counts it.
    assert_eq!(c.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert_eq!(c.ask("RCPT TO:<root@mail.example.test>"), "250 2.1.5 Ok");
    c.send(b"BDAT 8 LAST\r\nabcdefgh");
    let open = c.reply();
    assert!(
        open.starts_with("250 2.0.0 Ok: 10 bytes queued as "),
        "{open}"
    );
    let open_id = open.rsplit(' ').next().unwrap_or_default().to_string();
    let cat = postcat(&inst, &queue_file(&inst, &open_id));
    assert!(cat.contains("\nabcdefgh\n"), "{cat}");

    // SIZE= over the limit, then a message over the limit.
    assert_eq!(
        c.ask("MAIL FROM:<a@example.com> SIZE=30000"),
        "552 5.3.4 Message size exceeds fixed limit"
    );
    assert_eq!(c.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert_eq!(c.ask("RCPT TO:<root@mail.example.test>"), "250 2.1.5 Ok");
    assert_eq!(c.ask("DATA"), "354 End data with <CR><LF>.<CR><LF>");
    let line = "x".repeat(998);
    for _ in 0..30 {
        c.send(format!("{line}\r\n").as_bytes());
    }
    c.send(b".\r\n");
    assert_eq!(c.reply(), "552 5.3.4 Error: message file too big");

    // Too many recipients.
    assert_eq!(c.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    for _ in 0..3 {
        assert_eq!(c.ask("RCPT TO:<root@mail.example.test>"), "250 2.1.5 Ok");
    }
    assert_eq!(
        c.ask("RCPT TO:<root@mail.example.test>"),
        "452 4.5.3 Error: too many recipients"
    );
    assert_eq!(c.ask("RSET"), "250 2.0.0 Ok");
    assert_eq!(c.ask("QUIT"), "221 2.0.0 Bye");
    // Dropped transactions leave nothing once cleanup saw them go: the
    // three queued messages stay.
    assert!(
        wait_until(5 * SECOND, || incoming(&inst).len() == 3),
        "{:?}",
        incoming(&inst)
    );
}

#[test]
fn relay_allowed_from_mynetworks_and_refused_outside() {
    let (inst, port) = start("smtpd-relay", "");
    let mut inside = Raw::connect(port);
    inside.ask("EHLO inside.example.com");
    assert_eq!(inside.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert_eq!(inside.ask("RCPT TO:<x@remote.example>"), "250 2.1.5 Ok");
    assert_eq!(inside.ask("QUIT"), "221 2.0.0 Bye");

    let mut outside = Raw::connect_from(Some("127.0.0.2"), port);
    outside.ask("EHLO outside.example.com");
    assert_eq!(outside.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert_eq!(
        outside.ask("RCPT TO:<x@remote.example>"),
        "454 4.7.1 <x@remote.example>: Relay access denied"
    );
    // Local mail is still accepted from outside.
    assert_eq!(
        outside.ask("RCPT TO:<root@mail.example.test>"),
        "250 2.1.5 Ok"
    );
    assert_eq!(outside.ask("QUIT"), "221 2.0.0 Bye");
    assert!(
        wait_until(5 * SECOND, || {
            !inst
        .log_lines("NOQUEUE: reject: RCPT from unknown[127.0.0.2]: 454 4.7.1 <x@remote.example>: Relay access denied; from=<a@example.com> to=<x@remote.example> proto=ESMTP helo=<outside.example.com>")
        .is_empty()
        }),
        "{}",
        inst.maillog()
    );
    drop(inst);

    let (inst, port) = start(
        "smtpd-relay-strict",
        "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\nsmtpd_helo_required = yes\nsmtpd_helo_restrictions = reject_non_fqdn_helo_hostname\n",
    );
    let mut outside = Raw::connect_from(Some("127.0.0.2"), port);
    assert_eq!(
        outside.ask("MAIL FROM:<a@example.com>"),
        "503 5.5.1 Error: send HELO/EHLO first"
    );
    outside.ask("HELO outside.example.com");
    assert_eq!(outside.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert_eq!(
        outside.ask("RCPT TO:<x@remote.example>"),
        "554 5.7.1 <x@remote.example>: Relay access denied"
    );
    outside.ask("HELO outside");
    assert_eq!(outside.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert_eq!(
        outside.ask("RCPT TO:<root@mail.example.test>"),
        "504 5.5.2 <outside>: Helo command rejected: need fully-qualified hostname"
    );
    drop(inst);
}

/// notify_classes: a session with a policy or protocol error, when those
/// classes are named, sends error_notice_recipient Postfix's "SMTP server:
/// errors from" transcript (without AUTH's credentials or the message);
/// with the default classes (resource, software) the same session sends
/// nothing.
#[test]
fn notify_classes_mail_the_postmaster_a_transcript() {
    let (inst, port) = start(
        "smtpd-notify",
        "notify_classes = policy, protocol\nerror_notice_recipient = hostmaster@mail.example.test\n",
    );
    let mut outside = Raw::connect_from(Some("127.0.0.2"), port);
    outside.ask("EHLO outside.example.com");
    assert!(outside
        .ask("AUTH PLAIN AGFsaWNlAHNlY3JldA==")
        .starts_with("503 "));
    assert_eq!(outside.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert!(outside
        .ask("RCPT TO:<x@remote.example>")
        .ends_with("Relay access denied"));
    assert_eq!(outside.ask("QUIT"), "221 2.0.0 Bye");
    drop(outside);
    assert!(
        wait_until(5 * SECOND, || !inst.log_lines(": message-id=").is_empty()),
        "{:?}\n{}",
        incoming(&inst),
        inst.maillog()
    );
    let files = incoming(&inst);
    assert_eq!(files.len(), 1, "{files:?}");
    let text = postcat(&inst, &files[0]);
    for want in [
        "recipient: hostmaster@mail.example.test",
        "sender: double-bounce",
        "Subject: mailsuite SMTP server: errors from unknown[127.0.0.2]",
        "Transcript of session follows.",
        " In:  EHLO outside.example.com",
        " In:  AUTH PLAIN ********",
        " In:  RCPT TO:<x@remote.example>",
        " Out: 454 4.7.1 <x@remote.example>: Relay access denied",
        " In:  QUIT",
        "For other details, see the local mail logfile",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
    assert!(!text.contains("AGFsaWNl"), "{text}");
    drop(inst);

    // The defaults: no notice for policy and protocol errors.
    let (inst, port) = start("smtpd-notify-default", "");
    let mut outside = Raw::connect_from(Some("127.0.0.2"), port);
    outside.ask("EHLO outside.example.com");
    outside.ask("BOGUS");
    outside.ask("MAIL FROM:<a@example.com>");
    outside.ask("RCPT TO:<x@remote.example>");
    assert_eq!(outside.ask("QUIT"), "221 2.0.0 Bye");
    drop(outside);
    assert!(wait_until(5 * SECOND, || !inst
        .log_lines("disconnect from")
        .is_empty()));
    std::thread::sleep(Duration::from_millis(300));
    assert!(incoming(&inst).is_empty(), "{:?}", incoming(&inst));
    drop(inst);

    // software: a restriction that cannot be evaluated (Postfix's
    // "Server configuration error") is the postmaster's problem.
    let (inst, port) = start(
        "smtpd-notify-software",
        "notify_classes = software
smtpd_recipient_restrictions = permit_mynetworks, reject_no_such_thing
",
    );
    let mut outside = Raw::connect_from(Some("127.0.0.2"), port);
    outside.ask("EHLO outside.example.com");
    outside.ask("MAIL FROM:<a@example.com>");
    assert_eq!(
        outside.ask("RCPT TO:<root@mail.example.test>"),
        "451 4.3.5 Server configuration error"
    );
    assert_eq!(outside.ask("QUIT"), "221 2.0.0 Bye");
    drop(outside);
    assert!(
        wait_until(5 * SECOND, || incoming(&inst).len() == 1),
        "{}",
        inst.maillog()
    );
    let text = postcat(&inst, &incoming(&inst)[0]);
    assert!(
        text.contains(" Out: 451 4.3.5 Server configuration error"),
        "{text}"
    );
}

#[test]
fn bad_input_gets_clear_answers_and_loses_nothing() {
    let (inst, port) = start("smtpd-bad", "smtpd_hard_error_limit = 100\n");
    let mut c = Raw::connect(port);
    assert_eq!(c.ask("FOO bar"), "500 5.5.2 Error: command not recognized");
    assert_eq!(c.ask("HELP"), "500 5.5.2 Error: command not recognized");
    assert_eq!(c.ask("DATA"), "503 5.5.1 Error: need RCPT command");
    assert_eq!(
        c.ask("RCPT TO:<root@mail.example.test>"),
        "503 5.5.1 Error: need MAIL command"
    );
    assert_eq!(
        c.ask("MAIL FROM:<<<>"),
        "501 5.1.7 Bad sender address syntax"
    );
    c.send(b"NOOP\0garbage\r\n");
    assert_eq!(c.reply(), "500 5.5.2 Error: bad syntax");
    c.send(b"\xff\xfe\r\n");
    assert!(c.reply().starts_with("500 5.5.2"));
    let long = "A".repeat(5000);
    assert!(c.ask(&long).starts_with("500 5.5.2"), "over-long line");
    // 100 KB without a newline, then one: refused, and the session goes on.
    c.send("B".repeat(100_000).as_bytes());
    c.send(b"\r\n");
    assert!(c.reply().starts_with("500 5.5.2"));
    c.send(b"EHLO bare-lf.example.com\n");
    assert!(c.reply().starts_with("250-mail.example.test"));
    assert_eq!(c.ask("NOOP"), "250 2.0.0 Ok");

    // A client vanishing mid-DATA leaves no queue file.
    assert_eq!(c.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert_eq!(c.ask("RCPT TO:<root@mail.example.test>"), "250 2.1.5 Ok");
    assert_eq!(c.ask("DATA"), "354 End data with <CR><LF>.<CR><LF>");
    c.send(b"Subject: cut\r\n\r\nhalf a message");
    drop(c);
    assert!(
        inst.wait_log("lost connection after DATA (", 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );

    // And mid-BDAT.
    let mut c = Raw::connect(port);
    c.ask("EHLO client.example.com");
    assert_eq!(c.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert_eq!(c.ask("RCPT TO:<root@mail.example.test>"), "250 2.1.5 Ok");
    c.send(b"BDAT 1000 LAST\r\nSubject: cut\r\n\r\nonly some");
    drop(c);
    assert!(
        inst.wait_log("lost connection after BDAT (", 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );
    assert!(
        wait_until(5 * SECOND, || incoming(&inst).is_empty()),
        "partial files left: {:?}",
        incoming(&inst)
    );

    // Too many errors ends the session.
    drop(inst);
    let (inst, port) = start("smtpd-errors", "smtpd_hard_error_limit = 3\n");
    let mut c = Raw::connect(port);
    for _ in 0..3 {
        assert!(c.ask("BOGUS").starts_with("500"));
    }
    assert_eq!(
        c.ask("NOOP"),
        "421 4.7.0 mail.example.test Error: too many errors"
    );
    assert_eq!(c.reply(), "", "connection closed");
    assert!(inst.wait_log(
        "too many errors after UNKNOWN from localhost[127.0.0.1]",
        1,
        5 * SECOND
    ));

    // After all of that a normal message is still accepted.
    let id = if has_python() {
        send_normal(&inst, port)
    } else {
        send_raw_message(port)
    };
    postcat(&inst, &queue_file(&inst, &id));
}

/// A normal message over a raw connection; returns the queue id.
fn send_raw_message(port: u16) -> String {
    let mut c = Raw::connect(port);
    c.ask("EHLO client.example.com");
    assert_eq!(c.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert_eq!(c.ask("RCPT TO:<root@mail.example.test>"), "250 2.1.5 Ok");
    assert_eq!(c.ask("DATA"), "354 End data with <CR><LF>.<CR><LF>");
    let r = c.ask("Subject: after\r\n\r\nstill works\r\n.");
    c.ask("QUIT");
    r.strip_prefix("250 2.0.0 Ok: queued as ")
        .unwrap_or_else(|| panic!("{r}"))
        .to_string()
}

#[test]
fn ten_thousand_recipients_and_timeouts() {
    let (inst, port) = start(
        "smtpd-many",
        "smtpd_timeout = 2s\nsmtpd_error_sleep_time = 0s\nsmtpd_recipient_overshoot_limit = 500\n",
    );
    // Recipients beyond smtpd_recipient_limit (1,000): the next
    // smtpd_recipient_overshoot_limit (500) are refused, and each after
    // that counts as an error too, until smtpd_hard_error_limit (20) ends
    // the session, as in Postfix.
    let many = |c: &mut Raw, n: usize| {
        c.send(b"MAIL FROM:<a@example.com>\r\n");
        let mut batch = Vec::new();
        for _ in 0..n {
            batch.extend_from_slice(b"RCPT TO:<root@mail.example.test>\r\n");
        }
        let mut w = c.w.try_clone().expect("clone");
        std::thread::spawn(move || {
            let _ = w.write_all(&batch);
        });
        assert_eq!(c.reply(), "250 2.1.0 Ok");
        let (mut ok, mut too_many) = (0, 0);
        loop {
            match c.reply().as_str() {
                "250 2.1.5 Ok" => ok += 1,
                "452 4.5.3 Error: too many recipients" => too_many += 1,
                other => return (ok, too_many, other.to_string()),
            }
        }
    };
    let mut c = Raw::connect(port);
    c.ask("EHLO client.example.com");
    assert_eq!(
        many(&mut c, 1520),
        (
            1000,
            520,
            "421 4.7.0 mail.example.test Error: too many errors".to_string()
        )
    );
    assert!(inst.wait_log(
        "too many errors after RCPT from localhost[127.0.0.1]",
        1,
        5 * SECOND
    ));
    // 10,000 of them: the same end (the client may not see the 421: the
    // server closes with the rest of its commands unread).
    let mut c = Raw::connect(port);
    c.ask("EHLO client.example.com");
    let (ok, too_many, _) = many(&mut c, 10_000);
    assert!(ok <= 1000 && too_many <= 520, "{ok} {too_many}");
    assert!(inst.wait_log(
        "too many errors after RCPT from localhost[127.0.0.1]",
        2,
        5 * SECOND
    ));
    assert!(inst.wait_log("rcpt=1000/1520 commands=1002/1522", 2, 5 * SECOND));
    // The count starts again with each transaction: 1,000 taken, 500
    // refused, and a message queued with the 1,000.
    let mut c = Raw::connect(port);
    c.ask("EHLO client.example.com");
    c.send(b"MAIL FROM:<a@example.com>\r\n");
    assert_eq!(c.reply(), "250 2.1.0 Ok");
    for _ in 0..1000 {
        c.send(b"RCPT TO:<root@mail.example.test>\r\n");
    }
    for _ in 0..1000 {
        assert_eq!(c.reply(), "250 2.1.5 Ok");
    }
    for _ in 0..500 {
        assert_eq!(
            c.ask("RCPT TO:<root@mail.example.test>"),
            "452 4.5.3 Error: too many recipients"
        );
    }
    assert_eq!(c.ask("DATA"), "354 End data with <CR><LF>.<CR><LF>");
    let r = c.ask("Subject: many\r\n\r\nx\r\n.");
    assert!(r.starts_with("250 2.0.0 Ok: queued as "), "{r}");
    assert_eq!(c.ask("RSET"), "250 2.0.0 Ok");
    c.send(b"MAIL FROM:<a@example.com>\r\n");
    assert_eq!(c.reply(), "250 2.1.0 Ok");
    for _ in 0..1500 {
        c.send(b"RCPT TO:<root@mail.example.test>\r\n");
    }
    let mut replies = std::collections::BTreeMap::new();
    for _ in 0..1500 {
        *replies.entry(c.reply()).or_insert(0) += 1;
    }
    assert_eq!(
        replies.into_iter().collect::<Vec<_>>(),
        vec![
            ("250 2.1.5 Ok".to_string(), 1000),
            ("452 4.5.3 Error: too many recipients".to_string(), 500)
        ]
    );
    assert_eq!(c.ask("QUIT"), "221 2.0.0 Bye");

    // An idle client is told off after smtpd_timeout.
    let mut idle = Raw::connect(port);
    let mut buf = String::new();
    idle.r.read_to_string(&mut buf).ok();
    assert_eq!(
        buf.trim_end(),
        "421 4.4.2 mail.example.test Error: timeout exceeded"
    );
    assert!(inst.wait_log(
        "timeout after CONNECT from localhost[127.0.0.1]",
        1,
        5 * SECOND
    ));
}

#[test]
fn cleanup_unavailable_is_a_temporary_error() {
    let inst = Instance::new("smtpd-nocleanup");
    inst.main_cf("alias_maps =\n");
    inst.master_cf("127.0.0.1:0 inet n - n - - smtpd\n");
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let mut c = Raw::connect(port);
    c.ask("EHLO client.example.com");
    assert_eq!(c.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert_eq!(
        c.ask("RCPT TO:<root@mail.example.test>"),
        "451 4.3.0 Error: queue file write error"
    );
    assert!(inst.wait_log("/public/cleanup: No such file or directory", 1, 5 * SECOND));
}

#[test]
fn starttls_with_smtplib_and_a_failed_handshake() {
    if !has_python() {
        eprintln!("python3 missing: skipped");
        return;
    }
    let inst = Instance::new("smtpd-tls");
    let Some((cert, key)) = kit::self_signed(&inst.dir, "mail.example.test") else {
        eprintln!("openssl missing: skipped");
        return;
    };
    inst.main_cf(&format!(
        "alias_maps =\nsmtpd_tls_security_level = encrypt\nsmtpd_tls_cert_file = {}\nsmtpd_tls_key_file = {}\n",
        cert.display(),
        key.display()
    ));
    inst.master_cf(MASTER_CF);
    inst.start();
    let port = inst.port("127.0.0.1:0");

    // Garbage instead of a TLS handshake: the session ends, the server lives on.
    let mut bad = Raw::connect(port);
    assert!(bad.ask("EHLO x.example.com").contains("STARTTLS"));
    assert_eq!(
        bad.ask("MAIL FROM:<a@example.com>"),
        "530 5.7.0 Must issue a STARTTLS command first"
    );
    assert_eq!(bad.ask("STARTTLS"), "220 2.0.0 Ready to start TLS");
    bad.send(b"this is not a TLS client hello\r\n\r\n");
    let mut rest = Vec::new();
    bad.r.read_to_end(&mut rest).ok();
    assert!(
        !rest.starts_with(b"2"),
        "no SMTP reply after a failed handshake"
    );
    assert!(inst.wait_log("SSL_accept error from localhost[127.0.0.1]", 1, 5 * SECOND));

    let out = python(
        &inst,
        r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=10)
s.ehlo('client.example.com')
print(s.starttls(context=ctx))
code, msg = s.ehlo('client.example.com')
print('STARTTLS' in msg.decode())
s.mail('a@example.com')
s.rcpt('root@mail.example.test')
print(s.data(b'Subject: tls\r\n\r\nsecret\r\n'))
s.quit()
"#,
        port,
    );
    assert!(out.contains("(220, b'2.0.0 Ready to start TLS')"), "{out}");
    assert!(out.contains("\nFalse\n"), "STARTTLS offered again: {out}");
    let id = out
        .split("Ok: queued as ")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .unwrap_or_else(|| panic!("{out}"));
    postcat(&inst, &queue_file(&inst, id));
    assert!(inst.wait_log(
        "Anonymous TLS connection established from localhost[127.0.0.1]: TLSv1.3 with cipher",
        1,
        5 * SECOND
    ));
}

/// smtpd_tls_loglevel = 0 (Postfix's default) logs no TLS summary, and
/// smtpd_starttls_timeout bounds the whole handshake: a client that
/// trickles its ClientHello a byte at a time, each well within
/// smtpd_timeout, is cut off when the handshake's time is up.
#[test]
fn tls_loglevel_zero_and_the_starttls_time_limit() {
    if !has_python() {
        eprintln!("python3 missing: skipped");
        return;
    }
    let inst = Instance::new("smtpd-tls-limits");
    let Some((cert, key)) = kit::self_signed(&inst.dir, "mail.example.test") else {
        eprintln!("openssl missing: skipped");
        return;
    };
    inst.main_cf(&format!(
        "alias_maps =\nsmtpd_tls_security_level = may\nsmtpd_tls_cert_file = {}\nsmtpd_tls_key_file = {}\n\
         smtpd_tls_loglevel = 0\nsmtpd_timeout = 30s\nsmtpd_starttls_timeout = 2s\n",
        cert.display(),
        key.display()
    ));
    inst.master_cf(MASTER_CF);
    inst.start();
    let port = inst.port("127.0.0.1:0");

    let out = python(
        &inst,
        r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=10)
s.starttls(context=ctx)
s.sendmail('a@example.com', ['root@mail.example.test'], b'Subject: quiet\r\n\r\nx\r\n')
s.quit()
print('sent')
"#,
        port,
    );
    assert!(out.contains("sent"), "{out}");
    assert!(inst.wait_log(
        "disconnect from localhost[127.0.0.1] ehlo=2 starttls=1",
        1,
        5 * SECOND
    ));
    let log = inst.maillog();
    assert!(!log.contains("TLS connection established"), "{log}");

    // A ClientHello's record header, one byte every 300 ms.
    let mut slow = Raw::connect(port);
    slow.ask("EHLO slow.example.com");
    assert_eq!(slow.ask("STARTTLS"), "220 2.0.0 Ready to start TLS");
    let started = std::time::Instant::now();
    let mut w = slow.w.try_clone().expect("clone");
    let trickle = std::thread::spawn(move || {
        for b in [0x16u8, 0x03, 0x01, 0x02, 0x00].iter().cycle().take(40) {
            if w.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let mut rest = Vec::new();
    slow.r.read_to_end(&mut rest).ok();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(8),
        "the handshake ended after {took:?}"
    );
    assert!(inst.wait_log(
        "timeout after STARTTLS from localhost[127.0.0.1]",
        1,
        5 * SECOND
    ));
    trickle.join().expect("trickle");
}

#[test]
fn swaks_pipeline_and_tls() {
    if Command::new("swaks").arg("--version").output().is_err() {
        eprintln!("swaks missing: skipped");
        return;
    }
    let inst = Instance::new("smtpd-swaks");
    let Some((cert, key)) = kit::self_signed(&inst.dir, "mail.example.test") else {
        eprintln!("openssl missing: skipped");
        return;
    };
    inst.main_cf(&format!(
        "alias_maps =\nsmtpd_tls_security_level = may\nsmtpd_tls_cert_file = {}\nsmtpd_tls_key_file = {}\n",
        cert.display(),
        key.display()
    ));
    inst.master_cf(MASTER_CF);
    inst.start();
    let port = inst.port("127.0.0.1:0");
    for extra in [&["--pipeline"][..], &["--tls"][..]] {
        let out = Command::new("swaks")
            .args(["--server", &format!("127.0.0.1:{port}")])
            .args(["--from", "a@example.com", "--to", "root@mail.example.test"])
            .args(["--helo", "client.example.com"])
            .args(extra)
            .output()
            .expect("swaks");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}\n{}", inst.maillog());
        assert!(
            text.contains("<-  250 2.0.0 Ok: queued as ")
                || text.contains("<~  250 2.0.0 Ok: queued as "),
            "{text}"
        );
    }
    assert!(wait_until(5 * SECOND, || incoming(&inst).len() == 2));
}

/// XCLIENT from swaks, as a proxy in front (nginx's mail proxy) sends
/// it: the session becomes the named client's for relay control and the
/// log, LOGIN counts as a SASL login, and only authorized clients may.
#[test]
fn xclient_names_the_client_behind_a_proxy() {
    if Command::new("swaks").arg("--version").output().is_err() {
        eprintln!("swaks missing: skipped");
        return;
    }
    let (inst, port) = start(
        "smtpd-xclient",
        "smtpd_authorized_xclient_hosts = 127.0.0.1
local_recipient_maps =
smtpd_client_restrictions = reject_unknown_client_hostname
unknown_client_reject_code = 550
",
    );
    let swaks = |extra: &[&str]| {
        let out = Command::new("swaks")
            .args(["--server", &format!("127.0.0.1:{port}")])
            .args(["--from", "a@example.org", "--to", "far@remote.example"])
            .args(["--helo", "proxy.example.com"])
            .args([
                "--xclient-addr",
                "192.0.2.10",
                "--xclient-name",
                "spike.example.org",
            ])
            .args(extra)
            .output()
            .expect("swaks");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    // 127.0.0.1 may relay (mynetworks); the client it speaks for may not.
    let (ok, text) = swaks(&[]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("<** 454 4.7.1 <far@remote.example>: Relay access denied"),
        "{text}"
    );
    assert!(text.contains("<-  220 "), "greeted again: {text}");
    assert!(
        inst.wait_log(
            "NOQUEUE: reject: RCPT from spike.example.org[192.0.2.10]: 454 4.7.1 <far@remote.example>: Relay access denied",
            1,
            5 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    // With the login the proxy checked, it may.
    let (ok, text) = swaks(&["--xclient-login", "joe@example.org"]);
    assert!(ok, "{text}\n{}", inst.maillog());
    assert!(
        inst.wait_log(
            ": client=spike.example.org[192.0.2.10], sasl_method=XCLIENT, sasl_username=joe@example.org",
            1,
            5 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    // Not offered to, nor taken from, other clients.
    let mut c = Raw::connect_from(Some("127.0.0.2"), port);
    let ehlo = c.ask("EHLO client.example.com");
    assert!(!ehlo.contains("XCLIENT"), "{ehlo}");
    assert_eq!(
        c.ask("XCLIENT ADDR=192.0.2.1"),
        "550 5.7.0 Error: insufficient authorization"
    );
    let mut c = Raw::connect(port);
    let ehlo = c.ask("EHLO client.example.com");
    assert!(
        ehlo.contains("250-XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN"),
        "{ehlo}"
    );
    assert_eq!(
        c.ask("XCLIENT ADDR=1.2.3"),
        "501 5.5.4 Bad ADDR syntax: 1.2.3"
    );
    // A name the proxy could not look up for now defers, whatever
    // unknown_client_reject_code says; one that does not exist is refused.
    for (name, reply) in [
        ("[TEMPUNAVAIL]", "450 4.7.1"),
        ("[UNAVAILABLE]", "550 5.7.1"),
    ] {
        let mut c = Raw::connect(port);
        c.ask("EHLO proxy.example.com");
        let greeting = c.ask(&format!("XCLIENT NAME={name} ADDR=192.0.2.7"));
        assert!(greeting.starts_with("220 "), "{greeting}");
        c.ask("EHLO client.example.com");
        assert_eq!(c.ask("MAIL FROM:<a@example.org>"), "250 2.1.0 Ok");
        assert_eq!(
            c.ask("RCPT TO:<root@mail.example.test>"),
            format!("{reply} Client host rejected: cannot find your hostname, [192.0.2.7]")
        );
    }
    // REVERSE_NAME: the reverse name alone, for the checks that go by it.
    let (inst, port) = start(
        "smtpd-xclient-reverse",
        "smtpd_authorized_xclient_hosts = 127.0.0.1
local_recipient_maps =
smtpd_client_restrictions = reject_unknown_reverse_client_hostname, check_reverse_client_hostname_access inline:{ {ptr.bad.example=REJECT} }
",
    );
    for (attrs, reply) in [
        (
            "REVERSE_NAME=[UNAVAILABLE]",
            "450 4.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.7]",
        ),
        (
            "REVERSE_NAME=ptr.bad.example",
            "554 5.7.1 <ptr.bad.example>: Unverified Client host rejected: Access denied",
        ),
        ("REVERSE_NAME=ptr.good.example", "250 2.1.5 Ok"),
    ] {
        let mut c = Raw::connect(port);
        c.ask("EHLO proxy.example.com");
        let greeting = c.ask(&format!(
            "XCLIENT NAME=[UNAVAILABLE] {attrs} ADDR=192.0.2.7"
        ));
        assert!(greeting.starts_with("220 "), "{greeting}");
        c.ask("EHLO client.example.com");
        assert_eq!(c.ask("MAIL FROM:<a@example.org>"), "250 2.1.0 Ok");
        assert_eq!(
            c.ask("RCPT TO:<root@mail.example.test>"),
            reply,
            "{}",
            inst.maillog()
        );
    }
}

/// Runs openssl with `args` in `dir`; false when it failed.
fn openssl(dir: &Path, args: &[&str]) -> bool {
    Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The SHA-256 fingerprint of a certificate's public key (its DER
/// SubjectPublicKeyInfo), upper case with colons as Postfix writes it.
fn key_fingerprint(cert: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(
            "openssl x509 -noout -pubkey -in \"$1\" | openssl pkey -pubin -outform DER | openssl dgst -sha256 -c",
        )
        .arg("sh")
        .arg(cert)
        .output()
        .expect("openssl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .rsplit_once(' ')
        .map(|(_, f)| f.to_ascii_uppercase())
        .expect("key fingerprint")
}

/// A certificate's SHA-256 fingerprint as openssl prints it
/// (`AA:BB:…`), which is Postfix's form too.
fn fingerprint(cert: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(cert)
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .split_once('=')
        .map(|(_, f)| f.to_string())
        .expect("fingerprint")
}

/// Client certificates (smtpd_tls_ask_ccert): a listed fingerprint may
/// relay (permit_tls_clientcerts, relay_clientcerts), so may a
/// certificate a CA in smtpd_tls_CAfile signed (permit_tls_all_clientcerts),
/// check_ccert_access answers by fingerprint, and a client without one
/// may not. swaks shows the certificates.
#[test]
fn client_certificates_let_a_client_relay() {
    if Command::new("swaks").arg("--version").output().is_err() {
        eprintln!("swaks missing: skipped");
        return;
    }
    let inst = Instance::new("smtpd-ccert");
    let d = inst.dir.clone();
    let Some((cert, key)) = kit::self_signed(&d, "mail.example.test") else {
        eprintln!("openssl missing: skipped");
        return;
    };
    // A CA and a client it signed; a self-signed client; another one
    // that check_ccert_access turns away.
    let ca_ext = d.join("client.ext");
    std::fs::write(
        &ca_ext,
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .expect("ext");
    let ok = openssl(
        &d,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    ) && openssl(
        &d,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=signed.client",
            "-keyout",
            "signed.key",
            "-out",
            "signed.csr",
        ],
    ) && openssl(
        &d,
        &[
            "x509",
            "-req",
            "-in",
            "signed.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "client.ext",
            "-out",
            "signed.pem",
        ],
    );
    assert!(ok, "openssl could not make the certificates");
    for name in ["listed", "refused", "bykey"] {
        let sub = d.join(name);
        std::fs::create_dir_all(&sub).expect("dir");
        kit::self_signed(&sub, &format!("{name}.client")).expect("self-signed");
    }
    let listed = fingerprint(&d.join("listed/cert.pem"));
    let refused = fingerprint(&d.join("refused/cert.pem"));
    // One listed by its certificate, one by its public key.
    let by_key = key_fingerprint(&d.join("bykey/cert.pem"));
    std::fs::write(
        d.join("relay_clientcerts"),
        format!("{listed} listed.client\n{by_key} bykey.client\n"),
    )
    .expect("table");
    std::fs::write(
        d.join("ccert_access"),
        format!("{refused} REJECT not this one\n"),
    )
    .expect("table");
    inst.main_cf(&format!(
        "alias_maps =\nmynetworks = 192.0.2.0/24\nsmtpd_tls_security_level = may\n\
         smtpd_tls_cert_file = {}\nsmtpd_tls_key_file = {}\nsmtpd_tls_ask_ccert = yes\nsmtpd_tls_loglevel = 2\n\
         smtpd_tls_CAfile = {d}/ca.pem\nrelay_clientcerts = texthash:{d}/relay_clientcerts\n\
         smtpd_relay_restrictions = check_ccert_access texthash:{d}/ccert_access, permit_tls_clientcerts, \
         permit_tls_all_clientcerts, reject_unauth_destination\n",
        cert.display(),
        key.display(),
        d = d.display()
    ));
    inst.master_cf(MASTER_CF);
    inst.start();
    // swaks over TLS to `port`, with a client certificate or none.
    let swaks_to = |port: u16, client: Option<(&str, &str)>| {
        let mut c = Command::new("swaks");
        c.args(["--server", &format!("127.0.0.1:{port}"), "--tls"])
            .args(["--from", "a@example.org", "--to", "far@remote.example"]);
        if let Some((cert, key)) = client {
            c.arg("--tls-cert")
                .arg(d.join(cert))
                .arg("--tls-key")
                .arg(d.join(key));
        }
        let out = c.output().expect("swaks");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let port = inst.port("127.0.0.1:0");
    let swaks = |client| swaks_to(port, client);
    let (ok, text) = swaks(None);
    assert!(!ok && text.contains("Relay access denied"), "{text}");
    let (ok, text) = swaks(Some(("listed/cert.pem", "listed/key.pem")));
    assert!(ok, "{text}\n{}", inst.maillog());
    let (ok, text) = swaks(Some(("signed.pem", "signed.key")));
    assert!(ok, "{text}\n{}", inst.maillog());
    let (ok, text) = swaks(Some(("bykey/cert.pem", "bykey/key.pem")));
    assert!(ok, "{text}\n{}", inst.maillog());
    let (ok, text) = swaks(Some(("refused/cert.pem", "refused/key.pem")));
    assert!(
        !ok && text.contains("Client host rejected: not this one"),
        "{text}"
    );
    let log = inst.maillog();
    for line in [
        "Anonymous TLS connection established from localhost[127.0.0.1]: TLSv1.3",
        "Untrusted TLS connection established from localhost[127.0.0.1]: TLSv1.3",
        "Trusted TLS connection established from localhost[127.0.0.1]: TLSv1.3",
        &format!("localhost[127.0.0.1]: client certificate fingerprint={listed}"),
    ] {
        assert!(log.contains(line), "{line}\n{log}");
    }

    // smtpd_tls_req_ccert with mandatory TLS: a trusted certificate or
    // nothing.
    inst.stop();
    inst.main_cf("smtpd_tls_security_level = encrypt\nsmtpd_tls_req_ccert = yes\n");
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let swaks = |client| swaks_to(port, client).0;
    assert!(
        swaks(Some(("signed.pem", "signed.key"))),
        "{}",
        inst.maillog()
    );
    assert!(!swaks(Some(("listed/cert.pem", "listed/key.pem"))));
    assert!(
        inst.log_lines(
            "NOQUEUE: abort: TLS from localhost[127.0.0.1]: Client certificate not trusted"
        )
        .len()
            == 1,
        "{}",
        inst.maillog()
    );
    // The CA from a directory (smtpd_tls_CApath), other files beside it.
    inst.stop();
    let cadir = d.join("cadir");
    std::fs::create_dir_all(&cadir).expect("cadir");
    std::fs::copy(d.join("ca.pem"), cadir.join("ca.pem")).expect("copy");
    std::fs::write(cadir.join("README"), "not a certificate\n").expect("readme");
    inst.main_cf(&format!(
        "smtpd_tls_CAfile =\nsmtpd_tls_CApath = {}\n",
        cadir.display()
    ));
    inst.start();
    let port = inst.port("127.0.0.1:0");
    assert!(
        swaks_to(port, Some(("signed.pem", "signed.key"))).0,
        "{}",
        inst.maillog()
    );
    assert!(!swaks_to(port, Some(("listed/cert.pem", "listed/key.pem"))).0);
}

#[test]
fn curl_sends_over_smtp() {
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let (inst, port) = start("smtpd-curl", "");
    let msg = inst.dir.join("curl-message.txt");
    std::fs::write(
        &msg,
        "From: a@example.org\r\nTo: b@example.org\r\nSubject: curl\r\n\r\nsent by curl\r\n",
    )
    .expect("write");
    let out = Command::new("curl")
        .args([
            "-sS",
            "--url",
            &format!("smtp://127.0.0.1:{port}"),
            "--mail-from",
            "a@example.org",
            "--mail-rcpt",
            "b@example.org",
            "--upload-file",
        ])
        .arg(&msg)
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(wait_until(5 * SECOND, || incoming(&inst).len() == 1));
    let shown = postcat(&inst, &incoming(&inst)[0]);
    assert!(shown.contains("sender: a@example.org"), "{shown}");
    assert!(shown.contains("recipient: b@example.org"), "{shown}");
    assert!(
        shown.contains("Subject: curl") && shown.contains("sent by curl"),
        "{shown}"
    );
}

#[test]
fn smtpd_refuses_to_parse_network_input_as_root() {
    if !kit::is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let inst = Instance::new("smtpd-root");
    inst.master_cf("127.0.0.1:0 inet n n n - - smtpd\n");
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let _client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    assert!(
        inst.wait_log(
            "reads network input and must not run as root",
            1,
            10 * SECOND
        ),
        "{}",
        inst.maillog()
    );
}

/// `smtpd_delay_reject = no`: each restriction list at its own stage, as
/// Postfix: a refused client gets the refusal instead of the greeting and
/// 503 to everything but QUIT; HELO and sender refusals come at HELO and
/// MAIL.
#[test]
fn smtpd_delay_reject_no_refuses_at_each_stage() {
    let (inst, port) = start(
        "smtpd-early-client",
        "smtpd_delay_reject = no\nsmtpd_client_restrictions = check_client_access inline:{ 127.0.0.1=REJECT }\n",
    );
    let mut c = kit::LineClient::connect(port);
    let greeting = c.read_line().expect("greeting");
    assert!(
        greeting.starts_with("554 5.7.1 <")
            && greeting.ends_with(">: Client host rejected: Access denied"),
        "{greeting}"
    );
    let r = c.ask("HELO client.example").expect("reply");
    assert!(r.starts_with("503 5.7.0 Error: access denied for "), "{r}");
    assert_eq!(c.ask("QUIT").as_deref(), Some("221 2.0.0 Bye"));
    assert!(
        inst.wait_log("NOQUEUE: reject: CONNECT from ", 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );

    let (inst, port) = start(
        "smtpd-early-helo",
        "smtpd_delay_reject = no\nsmtpd_helo_restrictions = reject_invalid_helo_hostname\nsmtpd_sender_restrictions = check_sender_access inline:{ bad@example.org=REJECT }\n",
    );
    let mut c = kit::LineClient::connect(port);
    assert!(c.read_line().expect("greeting").starts_with("220 "));
    let r = c.ask("HELO bad_host!").expect("reply");
    assert_eq!(
        r,
        "501 5.5.2 <bad_host!>: Helo command rejected: Invalid name"
    );
    assert!(c
        .ask("HELO client.example")
        .expect("reply")
        .starts_with("250 "));
    let r = c.ask("MAIL FROM:<bad@example.org>").expect("reply");
    assert_eq!(
        r,
        "554 5.7.1 <bad@example.org>: Sender address rejected: Access denied"
    );
    assert!(c
        .ask("MAIL FROM:<ok@example.org>")
        .expect("reply")
        .starts_with("250 "));
    assert_eq!(c.ask("QUIT").as_deref(), Some("221 2.0.0 Bye"));
    let lines = inst.log_lines("NOQUEUE: reject: ");
    assert!(
        lines.iter().any(|l| l.contains("reject: HELO from ")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("reject: MAIL from ") && l.contains("from=<bad@example.org>")),
        "{lines:?}"
    );
}

/// A 421 or 521 reply, whichever restriction chose it, ends the session
/// after it is sent (Postfix's orderly disconnect).
#[test]
fn a_421_from_an_access_table_ends_the_session() {
    let (inst, port) = start(
        "smtpd-421",
        "smtpd_recipient_restrictions = check_recipient_access inline:{ {busy@mail.example.test=421 4.7.0 Come back later} {gone@mail.example.test=521 5.7.0 Go away} }, permit_mynetworks, reject\n",
    );
    for (rcpt, reply) in [
        (
            "busy",
            "421 4.7.0 <busy@mail.example.test>: Recipient address rejected: Come back later",
        ),
        (
            "gone",
            "521 5.7.0 <gone@mail.example.test>: Recipient address rejected: Go away",
        ),
    ] {
        let mut c = kit::LineClient::connect(port);
        assert!(c.read_line().expect("greeting").starts_with("220 "));
        assert!(c
            .ask("HELO client.example")
            .expect("reply")
            .starts_with("250 "));
        assert!(c
            .ask("MAIL FROM:<a@example.org>")
            .expect("reply")
            .starts_with("250 "));
        let r = c.ask(&format!("RCPT TO:<{rcpt}@mail.example.test>"));
        assert_eq!(r.as_deref(), Some(reply));
        // The connection is closed: no answer to what follows.
        assert_eq!(c.ask("NOOP"), None, "{}", inst.maillog());
    }
    assert!(
        inst.wait_log("disconnect from ", 2, 5 * SECOND),
        "{}",
        inst.maillog()
    );

    // Instead of the greeting (smtpd_delay_reject = no).
    let (inst, port) = start(
        "smtpd-421-connect",
        "smtpd_delay_reject = no\nsmtpd_client_restrictions = check_client_access inline:{ {127.0.0.1=421 4.3.2 Not now} }\n",
    );
    let mut c = kit::LineClient::connect(port);
    let greeting = c.read_line().expect("greeting");
    assert!(greeting.starts_with("421 4.3.2 <"), "{greeting}");
    assert_eq!(c.ask("HELO client.example"), None, "{}", inst.maillog());
}

/// XVERP is for smtpd_authorized_verp_clients only (empty by default): to
/// other clients it is neither offered nor taken.
#[test]
fn xverp_is_refused_to_clients_not_authorized() {
    let (inst, port) = start("smtpd-xverp", "smtpd_authorized_verp_clients = 127.0.0.1\n");
    let mut c = Raw::connect_from(Some("127.0.0.2"), port);
    let ehlo = c.ask("EHLO outside.example");
    assert!(!ehlo.contains("XVERP"), "{ehlo}");
    assert_eq!(
        c.ask("MAIL FROM:<owner@lists.example> XVERP"),
        "555 5.5.4 Unsupported option: XVERP"
    );
    assert_eq!(
        c.ask("MAIL FROM:<owner@lists.example> XVERP=+="),
        "555 5.5.4 Unsupported option: XVERP=+="
    );
    let mut c = Raw::connect(port);
    let ehlo = c.ask("EHLO inside.example");
    assert!(ehlo.contains("250-XVERP"), "{ehlo}");
    assert_eq!(
        c.ask("MAIL FROM:<owner@lists.example> XVERP=+="),
        "250 2.1.0 Ok"
    );
    drop(inst);
}

/// TLS session resumption across smtpd processes (Postfix's tlsmgr
/// tickets): each smtpd serves one client here (max_use = 1), and a client
/// that comes back resumes its session with the next one; with
/// smtpd_tls_session_cache_timeout = 0, it cannot.
#[test]
fn tls_sessions_resume_with_another_smtpd() {
    if !has_python() {
        eprintln!("python3 missing: skipped");
        return;
    }
    for (timeout, resumed) in [("3600s", "True"), ("0", "False")] {
        let inst = Instance::new("smtpd-tls-resume");
        let Some((cert, key)) = kit::self_signed(&inst.dir, "mail.example.test") else {
            eprintln!("openssl missing: skipped");
            return;
        };
        inst.main_cf(&format!(
            "alias_maps =\nsmtpd_tls_security_level = may\nsmtpd_tls_cert_file = {}\nsmtpd_tls_key_file = {}\nsmtpd_tls_session_cache_timeout = {timeout}\n",
            cert.display(),
            key.display()
        ));
        inst.master_cf(
            "127.0.0.1:0 inet n - n - - smtpd -o max_use=1\ncleanup unix n - n - 0 cleanup\n",
        );
        inst.start();
        let port = inst.port("127.0.0.1:0");
        let out = python(
            &inst,
            r#"
import socket, ssl, sys
port = int(sys.argv[1])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
def reply(f):
    while True:
        line = f.readline()
        if line[3:4] != b'-':
            return line
def session(old=None):
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    f = s.makefile('rb')
    reply(f)
    s.sendall(b'EHLO client.example\r\n'); reply(f)
    s.sendall(b'STARTTLS\r\n'); reply(f)
    t = ctx.wrap_socket(s, session=old)
    tf = t.makefile('rb')
    t.sendall(b'EHLO client.example\r\n'); reply(tf)
    t.sendall(b'QUIT\r\n'); reply(tf)
    reused, new = t.session_reused, t.session
    t.close()
    return reused, new
first, sess = session()
again, _ = session(sess)
print(first, again)
"#,
            port,
        );
        assert_eq!(out.trim(), format!("False {resumed}"), "{}", inst.maillog());
        // Two smtpd processes served them.
        let pids: std::collections::HashSet<String> = inst
            .log_lines("connect from localhost")
            .iter()
            .filter_map(|l| {
                l.split("smtpd[")
                    .nth(1)
                    .map(|r| r.split(']').next().unwrap_or("").to_string())
            })
            .collect();
        assert_eq!(pids.len(), 2, "{}", inst.maillog());
    }
}

/// Sends one MIME message that Python's email package builds (`build` is
/// Python code that sets `m`); prints the DATA reply.
fn send_mime(inst: &Instance, port: u16, build: &str) -> String {
    let script = format!(
        r#"
import smtplib, sys
from email.message import EmailMessage
def base(subject):
    m = EmailMessage()
    m['From'] = 'sender@example.com'
    m['To'] = 'root@mail.example.test'
    m['Subject'] = subject
    return m
{build}
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=10)
s.ehlo('client.example.com')
s.mail('sender@example.com')
s.rcpt('root@mail.example.test')
try:
    code, msg = s.data(m if isinstance(m, bytes) else m.as_bytes())
except smtplib.SMTPDataError as e:
    code, msg = e.smtp_code, e.smtp_error
print(code, msg.decode())
s.quit()
"#
    );
    python(inst, &script, port).trim().to_string()
}

#[test]
fn mime_parts_and_attached_messages_meet_their_header_checks() {
    if !has_python() {
        eprintln!("python3 missing: skipped");
        return;
    }
    // The tables, shared by the instances below.
    let dir = kit::Scratch::new("mime-rules");
    std::fs::write(
            dir.join("header_checks"),
            "/^Content-(Disposition|Type):.*name[[:space:]]*=[[:space:]]*\"?[^\"]*\\.(exe|scr)\"?/ REJECT Attachment type not allowed\n\
             /^Content-Description: old/ REPLACE Content-Description: new description\n\
             /^Subject:.*forbidden/ REJECT Forbidden subject\n",
        )
        .expect("header_checks");
    std::fs::write(
        dir.join("body_checks"),
        "/^X-Part-Tag:/ REJECT body saw a part header\n",
    )
    .expect("body_checks");
    let checks = |dir: &Path| {
        format!(
            "header_checks = regexp:{0}/header_checks\nbody_checks = regexp:{0}/body_checks\n",
            dir.display()
        )
    };
    let exe = "m = base('invoice')\nm.set_content('see attached')\nm.add_attachment(b'MZ\\x90\\x00', maintype='application', subtype='octet-stream', filename='invoice.exe')";
    let parts = "m = base('parts')\nm.set_content('text part')\nm.add_attachment('notes', filename='notes.txt')\np = m.get_payload()[1]\np['X-Part-Tag'] = '1'\np['Content-Description'] = 'old description'";
    let nested = "inner = base('forbidden plans')\ninner.set_content('inner body')\nm = base('fwd')\nm.set_content('forwarding')\nm.add_attachment(inner)";

    // Defaults: mime_header_checks and nested_header_checks are $header_checks.
    let (inst, port) = start("smtpd-mime-checks", &checks(&dir));
    assert_eq!(
        send_mime(&inst, port, exe),
        "550 5.7.1 Attachment type not allowed"
    );
    assert!(
        inst.wait_log(
            "reject: header Content-Disposition: attachment; filename=\"invoice.exe\" from localhost[127.0.0.1]",
            1,
            5 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    // A part's own header is no body line, and REPLACE rewrites it in place.
    let reply = send_mime(&inst, port, parts);
    let id = reply
        .strip_prefix("250 2.0.0 Ok: queued as ")
        .unwrap_or_else(|| panic!("{reply}\n{}", inst.maillog()));
    let text = postcat(&inst, &queue_file(&inst, id));
    assert!(
        text.contains("Content-Description: new description\n"),
        "{text}"
    );
    assert!(!text.contains("old description"), "{text}");
    assert!(text.contains("X-Part-Tag: 1\n"), "{text}");
    assert!(text.contains("filename=\"notes.txt\""), "{text}");
    let boundary = text
        .lines()
        .find_map(|l| l.split("boundary=\"").nth(1))
        .and_then(|b| b.split('"').next())
        .unwrap_or_else(|| panic!("no boundary in {text}"));
    assert!(text.contains(&format!("\n--{boundary}--")), "{text}");
    // The attached message's Subject meets nested_header_checks.
    assert_eq!(
        send_mime(&inst, port, nested),
        "550 5.7.1 Forbidden subject"
    );

    // nested_header_checks emptied: the attached message's headers pass,
    // the message's own still meet header_checks.
    let (inst2, port2) = start(
        "smtpd-mime-nested-off",
        &format!("{}nested_header_checks =\n", checks(&dir)),
    );
    assert!(send_mime(&inst2, port2, nested).starts_with("250 2.0.0 Ok: queued as "));
    assert_eq!(
        send_mime(
            &inst2,
            port2,
            "m = base('forbidden too')\nm.set_content('x')"
        ),
        "550 5.7.1 Forbidden subject"
    );

    // disable_mime_input_processing: the part headers are body text.
    let (inst3, port3) = start(
        "smtpd-mime-off",
        &format!("{}disable_mime_input_processing = yes\n", checks(&dir)),
    );
    assert!(send_mime(&inst3, port3, exe).starts_with("250 2.0.0 Ok: queued as "));
    assert_eq!(
        send_mime(&inst3, port3, parts),
        "550 5.7.1 body saw a part header"
    );

    // Deeper than mime_nesting_limit, with header checks in use: refused.
    let (inst4, port4) = start(
        "smtpd-mime-deep",
        &format!("{}mime_nesting_limit = 2\n", checks(&dir)),
    );
    let deep = "m = b'Subject: deep\\r\\nContent-Type: multipart/mixed; boundary=A\\r\\n\\r\\n--A\\r\\nContent-Type: multipart/mixed; boundary=B\\r\\n\\r\\n--B\\r\\nContent-Type: multipart/mixed; boundary=C\\r\\n\\r\\n--C\\r\\n\\r\\nx\\r\\n--C--\\r\\n--B--\\r\\n--A--\\r\\n'";
    assert_eq!(
        send_mime(&inst4, port4, deep),
        "550 5.6.0 MIME nesting exceeds safety limit"
    );
    assert!(
        inst4.wait_log(
            "reject: mime-error MIME nesting exceeds safety limit",
            1,
            5 * SECOND
        ),
        "{}",
        inst4.maillog()
    );
}

#[test]
fn dns_block_and_allow_lists_through_a_real_dns_server() {
    let have_dnsmasq = kit::have_dnsmasq();
    if !has_python() || !have_dnsmasq {
        eprintln!("skipped: python3 or dnsmasq missing");
        return;
    }
    let dns_port = kit::free_port();
    let _dns = kit::dnsmasq(
        dns_port,
        &[
            "--host-record=1.0.0.127.bl.test,127.0.0.2".into(),
            "--txt-record=1.0.0.127.bl.test,Blocked for testing".into(),
            "--host-record=1.0.0.127.other.test,127.0.0.10".into(),
            "--host-record=spammer.test.dbl.test,127.0.1.2".into(),
            "--host-record=1.0.0.127.bl2.test,127.0.0.4".into(),
            "--txt-record=1.0.0.127.bl2.test,Second list".into(),
            "--host-record=1.0.0.127.wl.test,127.0.10.1".into(),
        ],
    );
    let dir = kit::Scratch::new("rbl");
    std::fs::write(
        dir.join("rbl_reply"),
        "bl2.test $rbl_code 5.7.2 Custom: $client_address on $rbl_domain ($rbl_reason)\n",
    )
    .expect("rbl_reply");
    let (inst, port) = start(
        "smtpd-dns-lists",
        &format!(
            "dns_resolver_address = 127.0.0.1:{dns_port}\n\
             local_recipient_maps =\n\
             rbl_reply_maps = texthash:{}/rbl_reply\n\
             smtpd_restriction_classes = any_list, filtered_miss, filtered_hit, sender_list, mapped, allowed\n\
             any_list = reject_rbl_client bl.test\n\
             filtered_miss = reject_rbl_client other.test=127.0.0.[2..9]\n\
             filtered_hit = reject_rbl_client other.test=127.0.0.[9;10]\n\
             sender_list = reject_rhsbl_sender dbl.test\n\
             mapped = reject_rbl_client bl2.test\n\
             allowed = permit_dnswl_client wl.test, reject_rbl_client bl.test\n\
             smtpd_recipient_restrictions = reject_unauth_destination, check_recipient_access inline:{{ a@mail.example.test=any_list, b@mail.example.test=filtered_miss, c@mail.example.test=filtered_hit, d@mail.example.test=sender_list, e@mail.example.test=mapped, f@mail.example.test=allowed }}\n",
            dir.display()
        ),
    );
    let out = python(
        &inst,
        r#"
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=20)
s.ehlo('client.example.com')
for rcpt in 'abcdef':
    s.mail('x@spammer.test' if rcpt == 'd' else 'ok@sender.test')
    code, msg = s.rcpt(rcpt + '@mail.example.test')
    print(rcpt, code, msg.decode())
    s.rset()
s.quit()
"#,
        port,
    );
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(
        got,
        vec![
            "a 554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using bl.test; Blocked for testing",
            "b 250 2.1.5 Ok",
            "c 554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using other.test",
            "d 554 5.7.1 Service unavailable; Sender address [x@spammer.test] blocked using dbl.test",
            "e 554 5.7.2 Custom: 127.0.0.1 on bl2.test (Second list)",
            "f 250 2.1.5 Ok",
        ],
        "{}",
        inst.maillog()
    );
    assert!(
        inst.wait_log(
            "NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using bl.test; Blocked for testing; from=<ok@sender.test> to=<a@mail.example.test> proto=ESMTP helo=<client.example.com>",
            1,
            5 * SECOND
        ),
        "{}",
        inst.maillog()
    );
}

/// A policy server in Python (Postfix's policy delegation protocol) on
/// 127.0.0.1:`port`: it answers by recipient and writes each request, a
/// line of tab-separated `name=value`, to `log`.
const POLICY_SERVER: &str = r#"
import socketserver, sys
port, log = int(sys.argv[1]), sys.argv[2]
ANSWERS = {
    'reject@mail.example.test': 'REJECT 5.7.9 Policy says no',
    'later@mail.example.test': 'DEFER_IF_PERMIT Try again later',
    'tagged@mail.example.test': 'PREPEND X-Policy: checked by the test',
}
class H(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            attrs = {}
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                line = line.decode().rstrip('\n')
                if line == '':
                    break
                k, _, v = line.partition('=')
                attrs[k] = v
            with open(log, 'a') as f:
                f.write('\t'.join('%s=%s' % kv for kv in attrs.items()) + '\n')
            if attrs.get('recipient') == 'silent@mail.example.test':
                return
            action = ANSWERS.get(attrs.get('recipient'), 'DUNNO')
            self.wfile.write(('action=%s\n\n' % action).encode())
            self.wfile.flush()
class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
S(('127.0.0.1', port), H).serve_forever()
"#;

#[test]
fn check_policy_service_asks_a_policy_server_and_keeps_the_connection() {
    if !has_python() {
        eprintln!("python3 missing: skipped");
        return;
    }
    let policy_port = kit::free_port();
    let dir = kit::Scratch::new("policy");
    let script = dir.join("policy.py");
    std::fs::write(&script, POLICY_SERVER).expect("script");
    let log = dir.join("requests");
    let _server = kit::Proc(
        Command::new("python3")
            .arg(&script)
            .arg(policy_port.to_string())
            .arg(&log)
            .spawn()
            .expect("policy server"),
    );
    assert!(wait_until(10 * SECOND, || std::net::TcpStream::connect((
        "127.0.0.1",
        policy_port
    ))
    .is_ok()));
    let (inst, port) = start(
        "smtpd-policy",
        &format!(
            "local_recipient_maps =\n\
             smtpd_recipient_restrictions = reject_unauth_destination, check_policy_service {{ inet:127.0.0.1:{policy_port}, timeout=2s, policy_context=test-context, default_action=DUNNO, try_limit=1 }}\n"
        ),
    );
    let out = python(
        &inst,
        r#"
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=20)
s.ehlo('client.example.com')
s.mail('sender@example.com', ['SIZE=321'])
for rcpt in ['reject', 'later', 'silent', 'tagged', 'plain']:
    code, msg = s.rcpt(rcpt + '@mail.example.test')
    print(rcpt, code, msg.decode())
code, msg = s.data(b'Subject: policy\r\n\r\nbody\r\n')
print('data', code, msg.decode())
s.quit()
"#,
        port,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        &lines[..5],
        &[
            "reject 554 5.7.9 <reject@mail.example.test>: Recipient address rejected: Policy says no",
            "later 450 4.7.1 <later@mail.example.test>: Recipient address rejected: Try again later",
            "silent 250 2.1.5 Ok",
            "tagged 250 2.1.5 Ok",
            "plain 250 2.1.5 Ok",
        ],
        "{}",
        inst.maillog()
    );
    // A server that hangs up without answering: the request is tried once
    // more on a new connection (the old one may just have gone stale), then
    // default_action (DUNNO) stands, with Postfix's warning.
    assert!(
        inst.wait_log(
            "warning: problem talking to server inet:127.0.0.1:",
            1,
            5 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    let id = lines[5]
        .strip_prefix("data 250 2.0.0 Ok: queued as ")
        .unwrap_or_else(|| panic!("{out}\n{}", inst.maillog()));
    let text = postcat(&inst, &queue_file(&inst, id));
    assert!(text.contains("X-Policy: checked by the test\n"), "{text}");
    // What the server was told.
    let requests: Vec<std::collections::HashMap<String, String>> = std::fs::read_to_string(&log)
        .expect("requests")
        .lines()
        .map(|l| {
            l.split('\t')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect();
    assert_eq!(requests.len(), 6, "{requests:?}");
    assert_eq!(requests[2]["recipient"], "silent@mail.example.test");
    assert_eq!(requests[3]["recipient"], "silent@mail.example.test");
    let first = &requests[0];
    for (k, v) in [
        ("request", "smtpd_access_policy"),
        ("protocol_state", "RCPT"),
        ("protocol_name", "ESMTP"),
        ("client_address", "127.0.0.1"),
        ("helo_name", "client.example.com"),
        ("sender", "sender@example.com"),
        ("recipient", "reject@mail.example.test"),
        ("size", "321"),
        ("policy_context", "test-context"),
        ("server_address", "127.0.0.1"),
    ] {
        assert_eq!(
            first.get(k).map(String::as_str),
            Some(v),
            "{k} in {first:?}"
        );
    }
    assert!(!first["instance"].is_empty());
    assert!(
        requests.iter().all(|r| r["instance"] == first["instance"]),
        "one transaction, one instance"
    );
    assert_eq!(
        requests[5]["recipient_count"], "2",
        "two recipients accepted before the last"
    );
    assert_eq!(requests[5]["queue_id"], id);
}

#[test]
fn postgrey_greylists_through_check_policy_service() {
    let postgrey = Path::new("/usr/sbin/postgrey");
    if !postgrey.is_file() || !kit::is_root() || !has_python() {
        eprintln!("skipped: postgrey, root or python3 missing");
        return;
    }
    let policy_port = kit::free_port();
    let dir = kit::Scratch::new("postgrey");
    let empty = dir.join("empty");
    std::fs::write(&empty, "").expect("whitelist");
    let _server = kit::Proc(
        Command::new(postgrey)
            .arg(format!("--inet=127.0.0.1:{policy_port}"))
            .arg(format!("--dbdir={}", dir.display()))
            .args([
                "--delay=2",
                "--user=root",
                "--group=root",
                "--auto-whitelist-clients=0",
            ])
            .arg(format!("--whitelist-clients={}", empty.display()))
            .arg(format!("--whitelist-recipients={}", empty.display()))
            .arg(format!("--pidfile={}", dir.join("pid").display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("postgrey"),
    );
    assert!(wait_until(20 * SECOND, || std::net::TcpStream::connect((
        "127.0.0.1",
        policy_port
    ))
    .is_ok()));
    let (inst, port) = start(
        "smtpd-postgrey",
        &format!(
            "local_recipient_maps =\n\
             smtpd_recipient_restrictions = reject_unauth_destination, check_policy_service inet:127.0.0.1:{policy_port}\n"
        ),
    );
    let attempt = r#"
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=20)
s.ehlo('client.example.com')
s.mail('sender@example.com')
code, msg = s.rcpt('grey@mail.example.test')
print(code, msg.decode())
if code == 250:
    code, msg = s.data(b'Subject: greylisted\r\n\r\nbody\r\n')
    print(code, msg.decode())
s.quit()
"#;
    let first = python(&inst, attempt, port);
    assert!(
        first.starts_with("450 4.")
            && first.contains("<grey@mail.example.test>: Recipient address rejected: Greylisted"),
        "{first}\n{}",
        inst.maillog()
    );
    std::thread::sleep(Duration::from_secs(3));
    let second = python(&inst, attempt, port);
    let mut lines = second.lines();
    assert_eq!(
        lines.next(),
        Some("250 2.1.5 Ok"),
        "{second}\n{}",
        inst.maillog()
    );
    let id = lines
        .next()
        .and_then(|l| l.strip_prefix("250 2.0.0 Ok: queued as "))
        .unwrap_or_else(|| panic!("{second}"));
    let text = postcat(&inst, &queue_file(&inst, id));
    assert!(text.contains("X-Greylist: delayed "), "{text}");
}

/// SMTP smuggling (CVE-2023-51764's pattern): a second message hidden
/// behind `<LF>.<LF>` inside the first. Returns the replies to everything
/// after DATA's 354.
fn smuggle(port: u16) -> Vec<String> {
    let mut c = Raw::connect(port);
    assert!(c.ask("EHLO client.example.com").starts_with("250"));
    assert!(c.ask("MAIL FROM:<a@example.com>").starts_with("250"));
    assert!(c.ask("RCPT TO:<root@mail.example.test>").starts_with("250"));
    assert!(c.ask("DATA").starts_with("354"));
    c.send(
        b"Subject: first\r\n\r\nhello\n.\nMAIL FROM:<admin@example.com>\r\nRCPT TO:<root@mail.example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n",
    );
    let mut replies = Vec::new();
    loop {
        let r = c.reply();
        if r.is_empty() {
            break;
        }
        replies.push(r);
        if replies
            .last()
            .is_some_and(|r| r.starts_with("250 2.0.0 Ok: queued"))
        {
            c.send(b"QUIT\r\n");
        }
        if replies
            .last()
            .is_some_and(|r| r.starts_with("221") || r.starts_with("550"))
        {
            break;
        }
    }
    replies
}

#[test]
fn smtpd_forbid_bare_newline_stops_smtp_smuggling() {
    // Postfix < 3.9's default (no): <LF>.<LF> ends the data, and the rest is
    // taken as a second transaction.
    let (open, port) = start("smtpd-bare-no", "smtpd_forbid_bare_newline_exclusions =\n");
    let replies = smuggle(port);
    assert_eq!(
        replies
            .iter()
            .filter(|r| r.starts_with("250 2.0.0 Ok: queued"))
            .count(),
        2,
        "{replies:?}"
    );
    drop(open);

    // normalize: only CRLF.CRLF ends the data; the smuggled commands are
    // the first message's content.
    let (inst, port) = start(
        "smtpd-bare-normalize",
        "smtpd_forbid_bare_newline = normalize\nsmtpd_forbid_bare_newline_exclusions =\n",
    );
    let replies = smuggle(port);
    let queued: Vec<&String> = replies
        .iter()
        .filter(|r| r.starts_with("250 2.0.0 Ok: queued"))
        .collect();
    assert_eq!(queued.len(), 1, "{replies:?}");
    let id = queued[0].trim_start_matches("250 2.0.0 Ok: queued as ");
    let text = postcat(&inst, &queue_file(&inst, id));
    assert!(
        text.contains("hello\n.\nMAIL FROM:<admin@example.com>\n"),
        "{text}"
    );
    assert!(text.contains("Subject: smuggled\n"), "{text}");

    // reject: a bare LF anywhere is refused and the client disconnected.
    let (inst, port) = start(
        "smtpd-bare-reject",
        "smtpd_forbid_bare_newline = reject\nsmtpd_forbid_bare_newline_exclusions =\n",
    );
    let replies = smuggle(port);
    assert_eq!(
        replies,
        vec!["550 5.5.2 mail.example.test Error: bare <LF> received".to_string()],
        "{}",
        inst.maillog()
    );
    let mut c = Raw::connect(port);
    c.send(b"HELO client.example.com\n");
    assert_eq!(
        c.reply(),
        "550 5.5.2 mail.example.test Error: bare <LF> received"
    );
    assert_eq!(c.reply(), "", "disconnected");
    assert!(inst.wait_log(
        "disconnect: bare <LF> received from localhost[127.0.0.1] after HELO",
        1,
        5 * SECOND
    ));
    assert!(
        wait_until(5 * SECOND, || incoming(&inst).is_empty()),
        "{:?}",
        incoming(&inst)
    );

    // Clients in smtpd_forbid_bare_newline_exclusions keep the old rule.
    let (_excluded, port) = start(
        "smtpd-bare-excluded",
        "smtpd_forbid_bare_newline = reject\n",
    );
    let replies = smuggle(port);
    assert_eq!(
        replies
            .iter()
            .filter(|r| r.starts_with("250 2.0.0 Ok: queued"))
            .count(),
        2,
        "{replies:?}"
    );
}

#[test]
fn anvil_limits_connections_mail_and_recipients_per_client() {
    let inst = Instance::new("smtpd-anvil");
    inst.main_cf(
        "alias_maps =\nlocal_recipient_maps =\nsmtpd_error_sleep_time = 0\nmynetworks = 127.0.0.1/32\n\
         smtpd_client_connection_count_limit = 2\nsmtpd_client_message_rate_limit = 3\n\
         smtpd_client_recipient_rate_limit = 5\n",
    );
    inst.master_cf(&format!("{MASTER_CF}anvil unix - - n - 1 anvil\n"));
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let outside = || Raw::connect_from(Some("127.0.0.2"), port);
    let too_many = "421 4.7.0 mail.example.test Error: too many connections from 127.0.0.2";

    // Two connections from 127.0.0.2; the third is refused.
    let first = outside();
    let mut second = outside();
    assert_eq!(Raw::open_from(Some("127.0.0.2"), port).1, too_many);
    assert!(
        inst.wait_log(
            "warning: Connection concurrency limit exceeded: 3 from ",
            1,
            5 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    let line = &inst.log_lines("Connection concurrency limit exceeded")[0];
    assert!(
        line.contains("[127.0.0.2] for service 127.0.0.1:"),
        "{line}"
    );
    // $mynetworks (smtpd_client_event_limit_exceptions) is not counted.
    let _local = (Raw::connect(port), Raw::connect(port), Raw::connect(port));

    // Recipient and message rates, per anvil_rate_time_unit, across sessions.
    assert!(second.ask("MAIL FROM:<a@example.com>").starts_with("250"));
    for i in 0..5 {
        let r = second.ask(&format!("RCPT TO:<r{i}@mail.example.test>"));
        assert!(r.starts_with("250"), "{r}");
    }
    assert_eq!(
        second.ask("RCPT TO:<r5@mail.example.test>"),
        "450 4.7.1 Error: too many recipients from 127.0.0.2"
    );
    for _ in 0..2 {
        assert!(second.ask("RSET").starts_with("250"));
        assert!(second.ask("MAIL FROM:<a@example.com>").starts_with("250"));
    }
    assert!(second.ask("RSET").starts_with("250"));
    // What anvil counts for 127.0.0.2 (its lookup request).
    let anvil_count = || {
        let mut s = std::os::unix::net::UnixStream::connect(inst.dir.join("queue/private/anvil"))
            .expect("anvil socket");
        s.write_all(b"lookup 127.0.0.1:0:127.0.0.2\n")
            .expect("lookup");
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).expect("answer");
        line.split(' ')
            .find_map(|w| w.trim().strip_prefix("count="))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{line}"))
    };
    assert!(wait_until(5 * SECOND, || anvil_count() == 2));
    drop(first);
    assert!(wait_until(5 * SECOND, || anvil_count() == 1));
    let mut fresh = Raw::connect_from(Some("127.0.0.2"), port);
    assert_eq!(
        fresh.ask("MAIL FROM:<a@example.com>"),
        "450 4.7.1 Error: too much mail from 127.0.0.2"
    );
    assert!(inst.wait_log(
        "warning: Message delivery request rate limit exceeded: 4 from ",
        1,
        5 * SECOND
    ));
    assert!(inst.wait_log(
        "warning: Recipient address rate limit exceeded: 6 from ",
        1,
        5 * SECOND
    ));

    // A killed smtpd leaves no count behind: anvil forgets what a process
    // reported when its connection to anvil closes.
    // (the smtpd of `second`: the second "connect from" 127.0.0.2 logged)
    let connects = inst.log_lines("]: connect from unknown[127.0.0.2]");
    let pid: i32 = connects[1]
        .split("smtpd[")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{connects:?}"));
    drop(fresh);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    drop(second);
    assert!(wait_until(5 * SECOND, || anvil_count() == 0));
    let _a = outside();
    let _b = outside();
    assert_eq!(Raw::open_from(Some("127.0.0.2"), port).1, too_many);
}

/// System Python (for dkimpy, Debian's python3-dkim).
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// A private OpenDKIM (key `sel` for example.test, made by
/// opendkim-genkey) signing and verifying on 127.0.0.1; `extra` adds to its
/// configuration. Its directory, port and process; None when OpenDKIM,
/// its tools or dkimpy are missing.
fn opendkim(name: &str, extra: &str) -> Option<(kit::Scratch, u16, kit::Proc)> {
    let have = |p: &str| Path::new(p).is_file();
    let dkimpy = have(SYSTEM_PYTHON)
        && Command::new(SYSTEM_PYTHON)
            .args(["-c", "import dkim"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !have("/usr/sbin/opendkim") || !have("/usr/sbin/opendkim-genkey") || !dkimpy || !has_python()
    {
        return None;
    }
    let dir = kit::Scratch::new(&format!("opendkim-{name}"));
    let genkey = Command::new("/usr/sbin/opendkim-genkey")
        .args([
            "-D",
            &dir.display().to_string(),
            "-d",
            "example.test",
            "-s",
            "sel",
        ])
        .output()
        .expect("opendkim-genkey");
    assert!(
        genkey.status.success(),
        "{}",
        String::from_utf8_lossy(&genkey.stderr)
    );
    let port = kit::free_port();
    let conf = dir.join("opendkim.conf");
    std::fs::write(
        &conf,
        format!(
            "Syslog no\nMode sv\nDomain example.test\nSelector sel\nKeyFile {0}/sel.private\n\
             Socket inet:{port}@127.0.0.1\nPidFile {0}/pid\nBackground no\n\
             Canonicalization relaxed/simple\nRequireSafeKeys false\nUserID {1}\n{extra}",
            dir.display(),
            if kit::is_root() { "root" } else { "" }
        )
        .replace("UserID \n", ""),
    )
    .expect("conf");
    let proc = kit::Proc(
        Command::new("/usr/sbin/opendkim")
            .args(["-f", "-x"])
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("opendkim"),
    );
    assert!(wait_until(10 * SECOND, || TcpStream::connect((
        "127.0.0.1",
        port
    ))
    .is_ok()));
    Some((dir, port, proc))
}

/// Sends one message from alice@example.test to bob; the DATA reply.
fn send_from_alice(inst: &Instance, port: u16) -> String {
    python(
        inst,
        r#"
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30)
s.ehlo('client.example.com')
# The first refusal (a milter may refuse MAIL or RCPT), or DATA's reply.
for code, msg in (s.mail('alice@example.test'), s.rcpt('bob@mail.example.test')):
    if code >= 400:
        print(code, msg.decode())
        sys.exit(0)
code, msg = s.data(b'From: Alice <alice@example.test>\r\nTo: bob@mail.example.test\r\nSubject: signed\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\nMessage-ID: <m1@example.test>\r\n\r\nHello, signed world.\r\n')
print(code, msg.decode())
s.quit()
"#,
        port,
    )
    .trim()
    .to_string()
}

#[test]
fn milters_follow_each_smtpd_services_settings() {
    // OpenDKIM signs only for the daemon named ORIGINATING (the usual
    // submission recipe), not for 127.0.0.1 as such.
    let Some((_dir, milter_port, _opendkim)) =
        opendkim("daemon", "InternalHosts 192.0.2.1\nMTA ORIGINATING\n")
    else {
        eprintln!("skipped: opendkim, opendkim-tools or python3-dkim missing");
        return;
    };
    let (plain, submission, unfiltered) = (kit::free_port(), kit::free_port(), kit::free_port());
    let inst = Instance::new("smtpd-milter-services");
    inst.main_cf(&format!(
        "alias_maps =\nlocal_recipient_maps =\nmynetworks = 127.0.0.1/32\nsmtpd_milters = inet:127.0.0.1:{milter_port}\n"
    ));
    inst.master_cf(&format!(
        "127.0.0.1:{plain} inet n - n - - smtpd\n\
         127.0.0.1:{submission} inet n - n - - smtpd\n  -o milter_macro_daemon_name=ORIGINATING\n\
         127.0.0.1:{unfiltered} inet n - n - - smtpd\n  -o smtpd_milters=\n\
         cleanup unix n - n - 0 cleanup\n"
    ));
    inst.start();
    let signed = |port: u16| {
        let out = send_from_alice(&inst, port);
        let id = out
            .strip_prefix("250 2.0.0 Ok: queued as ")
            .unwrap_or_else(|| panic!("{out}\n{}", inst.maillog()))
            .to_string();
        postcat(&inst, &queue_file(&inst, &id)).contains("DKIM-Signature: ")
    };
    assert!(
        !signed(plain),
        "signed for the plain service:\n{}",
        inst.maillog()
    );
    assert!(
        signed(submission),
        "not signed for ORIGINATING:\n{}",
        inst.maillog()
    );
    assert!(!signed(unfiltered));
}

#[test]
fn opendkim_signs_through_smtpd_milters() {
    let Some((dir, milter_port, _opendkim)) = opendkim("sign", "InternalHosts 127.0.0.1\n") else {
        eprintln!("skipped: opendkim, opendkim-tools or python3-dkim missing");
        return;
    };
    let (inst, port) = start(
        "smtpd-opendkim",
        &format!("smtpd_milters = inet:127.0.0.1:{milter_port}\nlocal_recipient_maps =\n"),
    );
    let send = send_from_alice;
    let out = send(&inst, port);
    let id = out
        .trim()
        .strip_prefix("250 2.0.0 Ok: queued as ")
        .unwrap_or_else(|| panic!("{out}\n{}", inst.maillog()));
    let text = postcat(&inst, &queue_file(&inst, id));
    assert!(
        text.contains("DKIM-Signature: v=1; a=rsa-sha256;"),
        "{text}"
    );
    assert!(text.contains("d=example.test; s=sel;"), "{text}");
    // The signature verifies over the message as queued (dkimpy, with the
    // public key from opendkim-genkey's record instead of DNS).
    let message: String = text
        .split("*** MESSAGE CONTENTS")
        .nth(1)
        .and_then(|r| r.split_once('\n'))
        .map(|(_, m)| m)
        .and_then(|m| m.split("*** HEADER EXTRACTED").next())
        .unwrap_or_else(|| panic!("{text}"))
        .to_string();
    std::fs::write(dir.join("message"), message.replace('\n', "\r\n")).expect("message");
    let verify = Command::new(SYSTEM_PYTHON)
        .arg("-c")
        .arg(
            "import dkim, re, sys\n\
             txt = ''.join(re.findall(r'\"([^\"]*)\"', open(sys.argv[1]).read()))\n\
             msg = open(sys.argv[2], 'rb').read()\n\
             print(dkim.verify(msg, dnsfunc=lambda name, timeout=5: txt.encode()))\n",
        )
        .arg(dir.join("sel.txt"))
        .arg(dir.join("message"))
        .output()
        .expect("dkimpy");
    assert_eq!(
        String::from_utf8_lossy(&verify.stdout).trim(),
        "True",
        "{}\n{}",
        String::from_utf8_lossy(&verify.stderr),
        text
    );
    drop(inst);

    // A milter that cannot be reached: milter_default_action (tempfail by
    // default; accept lets the mail through unsigned).
    let dead = kit::free_port();
    let (inst, port) = start(
        "smtpd-milter-down",
        &format!("smtpd_milters = inet:127.0.0.1:{dead}\nlocal_recipient_maps =\n"),
    );
    assert_eq!(
        send(&inst, port).trim(),
        "451 4.7.1 Service unavailable - try again later"
    );
    let (inst, port) = start(
        "smtpd-milter-accept",
        &format!("smtpd_milters = {{ inet:127.0.0.1:{dead}, default_action=accept }}\nlocal_recipient_maps =\n"),
    );
    assert!(send(&inst, port).starts_with("250 2.0.0 Ok: queued as "));
}

/// receive_override_options = no_milters, as on the re-injection smtpd
/// after a content filter: that service's mail meets no milter. A value
/// Postfix does not know stops the service with a line naming it.
#[test]
fn receive_override_options_no_milters_and_a_bad_value() {
    let (dead, plain, unfiltered, bad) = (
        kit::free_port(),
        kit::free_port(),
        kit::free_port(),
        kit::free_port(),
    );
    let inst = Instance::new("smtpd-no-milters");
    inst.main_cf(&format!(
        "alias_maps =\nlocal_recipient_maps =\nmynetworks = 127.0.0.1/32\nsmtpd_milters = inet:127.0.0.1:{dead}\n"
    ));
    inst.master_cf(&format!(
        "127.0.0.1:{plain} inet n - n - - smtpd\n\
         127.0.0.1:{unfiltered} inet n - n - - smtpd -o receive_override_options=no_milters\n\
         127.0.0.1:{bad} inet n - n - - smtpd -o receive_override_options=no_milters,no_bounces\n\
         cleanup unix n - n - 0 cleanup\n"
    ));
    inst.start();
    assert_eq!(
        send_from_alice(&inst, plain),
        "451 4.7.1 Service unavailable - try again later"
    );
    assert!(
        send_from_alice(&inst, unfiltered).starts_with("250 2.0.0 Ok: queued as "),
        "{}",
        inst.maillog()
    );
    // The worker started for this client stops before it says anything.
    let _client = std::net::TcpStream::connect(("127.0.0.1", bad)).expect("connect");
    assert!(
        inst.wait_log(
            "fatal: unknown receive_override_options value \"no_bounces\"",
            1,
            10 * SECOND
        ),
        "{}",
        inst.maillog()
    );
}

#[test]
fn smtpd_reject_footer_follows_refusals() {
    let dir = kit::Scratch::new("footer");
    std::fs::write(
        dir.join("footers"),
        "/Relay access denied/ \\c (relaying needs a login: https://help.example/relay)\n",
    )
    .expect("footers");
    let (_inst, port) = start(
        "smtpd-footer",
        &format!(
            "smtpd_reject_footer = For help, write to postmaster@$server_name\\nand quote $client_address.\n\
             smtpd_reject_footer_maps = regexp:{}/footers\n",
            dir.display()
        ),
    );
    let mut c = Raw::connect_from(Some("127.0.0.2"), port);
    assert!(c.ask("HELO client.example.com").starts_with("250 "));
    assert!(c.ask("MAIL FROM:<a@example.com>").starts_with("250 "));
    assert_eq!(
        c.ask("RCPT TO:<nobody@remote.example>"),
        "454 4.7.1 <nobody@remote.example>: Relay access denied (relaying needs a login: https://help.example/relay)"
    );
    assert_eq!(
        c.ask("FROB"),
        "500-5.5.2 Error: command not recognized\n500-5.5.2 For help, write to postmaster@mail.example.test\n500 5.5.2 and quote 127.0.0.2."
    );
    // Positive replies are left alone.
    assert_eq!(c.ask("NOOP"), "250 2.0.0 Ok");
}

#[test]
fn relocated_users_are_refused_at_rcpt() {
    let (_inst, port) = start(
        "smtpd-relocated",
        "relocated_maps = inline:{ { olduser@mail.example.test = newuser@new.example (since May) } }\n",
    );
    let mut c = Raw::connect(port);
    assert!(c.ask("HELO client.example.com").starts_with("250 "));
    assert!(c.ask("MAIL FROM:<a@example.com>").starts_with("250 "));
    assert_eq!(
        c.ask("RCPT TO:<olduser@mail.example.test>"),
        "550 5.1.6 <olduser@mail.example.test>: Recipient address rejected: User has moved to newuser@new.example"
    );
    assert!(c
        .ask("RCPT TO:<root@mail.example.test>")
        .starts_with("250 "));
}

#[test]
fn smtpd_end_of_data_restrictions_refuse_after_the_content() {
    let (inst, port) = start("smtpd-eod", "smtpd_end_of_data_restrictions = reject\n");
    let mut c = Raw::connect(port);
    assert!(c.ask("HELO client.example.com").starts_with("250 "));
    assert!(c.ask("MAIL FROM:<a@example.com>").starts_with("250 "));
    assert!(c
        .ask("RCPT TO:<root@mail.example.test>")
        .starts_with("250 "));
    assert!(c.ask("DATA").starts_with("354 "));
    c.send(b"Subject: late\r\n\r\nbody\r\n.\r\n");
    assert_eq!(
        c.reply(),
        "554 5.7.1 <END-OF-MESSAGE>: End-of-data rejected: Access denied"
    );
    assert!(
        inst.wait_log("reject: END-OF-MESSAGE from localhost[127.0.0.1]: 554 5.7.1 <END-OF-MESSAGE>: End-of-data rejected: Access denied; from=<a@example.com> to=<root@mail.example.test> proto=SMTP helo=<client.example.com>", 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );
    // Nothing is queued, and the session goes on.
    assert!(
        wait_until(5 * SECOND, || incoming(&inst).is_empty()),
        "{:?}",
        incoming(&inst)
    );
    assert!(c.ask("NOOP").starts_with("250 "));
    // With two recipients the line names none, as Postfix's.
    assert!(c.ask("MAIL FROM:<b@example.com>").starts_with("250 "));
    for _ in 0..2 {
        assert!(c
            .ask("RCPT TO:<root@mail.example.test>")
            .starts_with("250 "));
    }
    assert!(c.ask("DATA").starts_with("354 "));
    c.send(b"Subject: late\r\n\r\nbody\r\n.\r\n");
    assert!(c.reply().starts_with("554 "));
    assert!(
        inst.wait_log("End-of-data rejected: Access denied; from=<b@example.com> proto=SMTP helo=<client.example.com>", 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );
}

#[test]
fn reject_unlisted_sender_refuses_forged_local_senders() {
    let (_inst, port) = start(
        "smtpd-unlisted-sender",
        "local_recipient_maps = inline:{ root=x, alice=x }\nsmtpd_reject_unlisted_sender = yes\n",
    );
    let mut c = Raw::connect_from(Some("127.0.0.2"), port);
    assert!(c.ask("HELO client.example.com").starts_with("250 "));
    assert!(c
        .ask("MAIL FROM:<nobody@mail.example.test>")
        .starts_with("250 "));
    assert_eq!(
        c.ask("RCPT TO:<alice@mail.example.test>"),
        "550 5.1.0 <nobody@mail.example.test>: Sender address rejected: User unknown in local recipient table"
    );
    assert!(c.ask("RSET").starts_with("250 "));
    assert!(c
        .ask("MAIL FROM:<alice@mail.example.test>")
        .starts_with("250 "));
    assert!(c
        .ask("RCPT TO:<root@mail.example.test>")
        .starts_with("250 "));
}

/// smtpd_forbidden_commands: an HTTP request, a command that does not
/// start with a letter, or a message header sent as a command ends the
/// session at once, as Postfix's does (checked against Debian's Postfix
/// 3.7); the list can be changed.
#[test]
fn forbidden_commands_end_the_session() {
    let (inst, port) = start("smtpd-forbidden", "");
    for line in [
        "GET / HTTP/1.1",
        "1234",
        "post /form",
        "Subject: hello",
        "  Subject: hello",
    ] {
        let mut c = Raw::connect(port);
        assert_eq!(
            c.ask(line),
            "221 2.7.0 Error: I can break rules, too. Goodbye.",
            "{line}"
        );
        assert_eq!(c.reply(), "", "connection closed after {line}");
        assert!(
            inst.wait_log(
                &format!("warning: non-SMTP command from localhost[127.0.0.1]: {line}"),
                1,
                5 * SECOND
            ),
            "{}",
            inst.maillog()
        );
    }
    let mut c = Raw::connect(port);
    assert_eq!(c.ask("foo bar"), "500 5.5.2 Error: command not recognized");
    assert_eq!(c.ask("NOOP"), "250 2.0.0 Ok");
    drop(c);
    drop(inst);
    let (_inst, port) = start(
        "smtpd-forbidden-list",
        "smtpd_forbidden_commands = CONNECT\n",
    );
    let mut c = Raw::connect(port);
    assert_eq!(
        c.ask("GET / HTTP/1.1"),
        "500 5.5.2 Error: command not recognized"
    );
    assert_eq!(
        c.ask("connect example.com:443"),
        "221 2.7.0 Error: I can break rules, too. Goodbye."
    );
}

/// `smtpd_tls_chain_files` (Postfix 3.4's way): an RSA key with its
/// certificate and an ECDSA key with its own, in two files; a client that
/// takes only ECDSA gets the ECDSA chain, one that takes only RSA the RSA
/// one (Python's ssl, TLS 1.2 cipher suites pick the algorithm).
#[test]
fn chain_files_serve_an_rsa_and_an_ecdsa_certificate() {
    if !has_python() {
        eprintln!("skipped: python3 missing");
        return;
    }
    let dir = kit::Scratch::new("chains");
    let make = |name: &str, newkey: &[&str]| -> bool {
        Command::new("openssl")
            .args(["req", "-x509", "-newkey"])
            .args(newkey)
            .args(["-nodes", "-days", "2", "-subj", "/CN=mail.example.test"])
            .arg("-keyout")
            .arg(dir.join(format!("{name}.key")))
            .arg("-out")
            .arg(dir.join(format!("{name}.crt")))
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !make("rsa", &["rsa:2048"]) || !make("ec", &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]) {
        eprintln!("skipped: openssl missing");
        return;
    }
    // The ECDSA key and its certificate in one file, the RSA pair in two.
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("read pem");
    std::fs::write(dir.join("ec.pem"), read("ec.key") + &read("ec.crt")).expect("ec.pem");
    let (inst, port) = start(
        "smtpd-chains",
        &format!(
            "smtpd_tls_security_level = may\nsmtpd_tls_chain_files = {d}/rsa.key, {d}/rsa.crt, {d}/ec.pem\n",
            d = dir.display()
        ),
    );
    let script = format!(
        r#"
import smtplib, ssl, sys
for name, ciphers in (("ec", "ECDHE-ECDSA-AES128-GCM-SHA256"), ("rsa", "ECDHE-RSA-AES128-GCM-SHA256")):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(ciphers)
    s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
    s.starttls(context=ctx)
    got = s.sock.getpeercert(binary_form=True)
    want = ssl.PEM_cert_to_DER_cert(open("{d}/" + name + ".crt").read())
    print(name, got == want)
    s.quit()
"#,
        d = dir.display()
    );
    let out = python(&inst, &script, port);
    assert_eq!(out, "ec True\nrsa True\n", "{}", inst.maillog());
}

/// `smtpd_upstream_proxy_protocol = haproxy` behind Debian's HAProxy, with
/// PROXY protocol versions 1 and 2: the real client (127.0.0.2, outside
/// mynetworks) is the one logged and judged, not the proxy (127.0.0.1,
/// inside); a client that does not speak the protocol is dropped.
#[test]
fn behind_haproxy_the_real_client_counts() {
    if !Path::new("/usr/sbin/haproxy").exists() {
        eprintln!("skipped: haproxy not installed");
        return;
    }
    let (inst, port) = start(
        "smtpd-haproxy",
        "smtpd_upstream_proxy_protocol = haproxy\nsmtpd_upstream_proxy_timeout = 1s\n",
    );
    let (v1, v2) = (kit::free_port(), kit::free_port());
    let cfg = inst.dir.join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
             frontend v1\n  bind 127.0.0.1:{v1}\n  default_backend b1\n\
             backend b1\n  server s 127.0.0.1:{port} send-proxy\n\
             frontend v2\n  bind 127.0.0.1:{v2}\n  default_backend b2\n\
             backend b2\n  server s 127.0.0.1:{port} send-proxy-v2\n"
        ),
    )
    .expect("haproxy.cfg");
    let _haproxy = kit::Proc(
        Command::new("/usr/sbin/haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("haproxy"),
    );
    assert!(
        wait_until(5 * SECOND, || TcpStream::connect(("127.0.0.1", v2)).is_ok()),
        "haproxy did not start"
    );
    for proxy_port in [v1, v2] {
        let mut c = Raw::connect_from(Some("127.0.0.2"), proxy_port);
        assert!(c.ask("EHLO client.example").starts_with("250-"));
        assert_eq!(c.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
        assert_eq!(
            c.ask("RCPT TO:<x@remote.example>"),
            "454 4.7.1 <x@remote.example>: Relay access denied"
        );
        c.ask("QUIT");
    }
    assert!(
        inst.wait_log("[127.0.0.2]: 454 4.7.1", 2, 5 * SECOND),
        "{}",
        inst.maillog()
    );
    assert_eq!(inst.log_lines(": connect from unknown[127.0.0.2]").len(), 2);
    // Straight to smtpd: no header, so no greeting, and the session ends.
    let mut direct = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    direct.set_read_timeout(Some(10 * SECOND)).expect("timeout");
    let mut buf = [0u8; 64];
    assert_eq!(direct.read(&mut buf).unwrap_or(0), 0, "no greeting");
    let mut talker = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    talker.write_all(b"EHLO x.example\r\n").expect("write");
    talker.set_read_timeout(Some(10 * SECOND)).expect("timeout");
    assert_eq!(talker.read(&mut buf).unwrap_or(0), 0, "dropped");
    assert!(inst.wait_log(
        "warning: haproxy read: timeout from [127.0.0.1]:",
        1,
        5 * SECOND
    ));
    assert!(inst.wait_log(
        "warning: haproxy read: no PROXY protocol header from [127.0.0.1]:",
        1,
        5 * SECOND
    ));
}

/// Stress mode, as Postfix's master has it: once the smtpd service reaches
/// its process limit, the workers started after that get `-o stress=yes`,
/// and the defaults written `${stress?{…}:{…}}` take their overload values
/// (here `smtpd_hard_error_limit`: 1 instead of 20).
#[test]
fn at_its_process_limit_smtpd_goes_into_stress_mode() {
    let inst = Instance::new("smtpd-stress");
    inst.main_cf("alias_maps =\nsmtpd_error_sleep_time = 0\n");
    inst.master_cf(
        "127.0.0.1:0 inet n - n - 2 smtpd -o max_use=1\ncleanup unix n - n - 0 cleanup\n",
    );
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let mut first = Raw::connect(port);
    let mut second = Raw::connect(port);
    assert!(
        inst.wait_log("has reached its process limit \"2\"", 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );
    assert!(inst.wait_log("STRESS_README.html", 1, 5 * SECOND));
    // The third client waits until the first leaves; its worker is new.
    let third = std::thread::spawn(move || {
        let mut c = Raw::connect(port);
        let refused = c.ask("FOO");
        let next = c.ask("NOOP");
        (refused, next)
    });
    std::thread::sleep(Duration::from_millis(300));
    first.ask("QUIT");
    let (refused, next) = third.join().expect("third client");
    assert!(refused.starts_with("500 5.5.2"), "{refused}");
    assert_eq!(next, "421 4.7.0 mail.example.test Error: too many errors");
    // The second client's worker started before: no stress for it.
    assert!(second.ask("FOO").starts_with("500 5.5.2"));
    assert_eq!(second.ask("NOOP"), "250 2.0.0 Ok");
}

/// smtpd keeps its cleanup connection for its next session; when cleanup
/// went away meanwhile (killed here, or its wait for a next message over),
/// the next message goes through a new connection, and nothing is lost.
#[test]
fn a_kept_cleanup_connection_that_went_away_is_replaced() {
    let inst = Instance::new("smtpd-cleanup-kept");
    inst.main_cf("alias_maps =\nmynetworks = 127.0.0.1/32\n");
    inst.master_cf("127.0.0.1:0 inet n - n - 1 smtpd\ncleanup unix n - n - 0 cleanup\n");
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let first = send_raw_message(port);
    let second = send_raw_message(port);
    for pid in inst.workers("cleanup") {
        // SAFETY: kill(2) on a cleanup process of this test's instance.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    let third = send_raw_message(port);
    // Past cleanup's wait for a next message (2 s) and smtpd's keep time.
    std::thread::sleep(Duration::from_millis(2500));
    let fourth = send_raw_message(port);
    for id in [first, second, third, fourth] {
        postcat(&inst, &queue_file(&inst, &id));
    }
    // The master notes the kill; smtpd and cleanup have nothing to warn of.
    assert!(
        inst.log_lines("warning")
            .iter()
            .all(|l| l.contains("mailsuite/master[") && l.contains("killed by signal 9")),
        "{}",
        inst.maillog()
    );
}

/// `smtpd_discard_ehlo_keyword_address_maps`: a client listed by address
/// gets its own list of keywords left out of the EHLO reply, instead of
/// `smtpd_discard_ehlo_keywords`.
#[test]
fn ehlo_keywords_discarded_per_client() {
    let dir = kit::Scratch::new("discard");
    let table = dir.join("discard.cidr");
    std::fs::write(&table, "127.0.0.2/32 pipelining, size\n").expect("table");
    let (inst, port) = start(
        "smtpd-discard-maps",
        &format!(
            "smtpd_discard_ehlo_keywords = dsn\nsmtpd_discard_ehlo_keyword_address_maps = cidr:{}\n",
            table.display()
        ),
    );
    let ehlo = |source: Option<&str>| Raw::connect_from(source, port).ask("EHLO client.example");
    let local = ehlo(None);
    assert!(
        local.contains("PIPELINING") && local.contains("SIZE"),
        "{local}"
    );
    assert!(!local.contains("DSN"), "{local}");
    let listed = ehlo(Some("127.0.0.2"));
    assert!(
        !listed.contains("PIPELINING") && !listed.contains("SIZE"),
        "{listed}"
    );
    assert!(listed.contains("DSN"), "{listed}");
    // Logged as Postfix logs it, the keywords in its order.
    for (words, count) in [("DSN", 1), ("PIPELINING SIZE", 1)] {
        let found = inst
            .log_lines(&format!("discarding EHLO keywords: {words}"))
            .into_iter()
            .filter(|l| l.contains("/smtpd[") && l.ends_with(words))
            .count();
        assert_eq!(found, count, "{words}: {}", inst.maillog());
    }
}

/// `smtpd_per_request_deadline` (on by default only under stress):
/// `smtpd_timeout` bounds a whole command line, so a client that trickles
/// it a byte at a time is cut off; message content earns time at
/// `smtpd_min_data_rate`, so slow but steady DATA still gets through.
#[test]
fn per_request_deadlines_cut_off_trickling_clients() {
    let (inst, port) = start(
        "smtpd-deadline",
        "smtpd_per_request_deadline = yes\nsmtpd_timeout = 2s\nsmtpd_min_data_rate = 1000\n",
    );
    // Content: 3 x 1000 bytes, 1.2 s apart (3.6 s in all, against 2 s plus
    // 1 s per 1000 bytes).
    let mut c = Raw::connect(port);
    c.ask("HELO client.example.com");
    assert_eq!(c.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert_eq!(c.ask("RCPT TO:<root@mail.example.test>"), "250 2.1.5 Ok");
    assert_eq!(c.ask("DATA"), "354 End data with <CR><LF>.<CR><LF>");
    c.send(b"Subject: slow\r\n\r\n");
    for _ in 0..3 {
        c.send(format!("{}\r\n", "x".repeat(998)).as_bytes());
        std::thread::sleep(Duration::from_millis(1200));
    }
    let queued = c.ask(".");
    assert!(queued.starts_with("250 2.0.0 Ok: queued as "), "{queued}");
    // A command line trickled a byte every 0.6 s: cut off after 2 s.
    let mut slow = Raw::connect(port);
    let started = std::time::Instant::now();
    for b in b"NOOP" {
        slow.send(&[*b]);
        std::thread::sleep(Duration::from_millis(600));
    }
    assert_eq!(
        slow.reply(),
        "421 4.4.2 mail.example.test Error: timeout exceeded"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(inst.wait_log(
        "timeout after CONNECT from localhost[127.0.0.1]",
        1,
        5 * SECOND
    ));
}

/// `smtpd_command_filter`: a table rewrites a command line before smtpd
/// reads it (here a parameter a broken client adds is dropped).
#[test]
fn the_command_filter_rewrites_commands() {
    let (inst, port) = start(
        "smtpd-command-filter",
        "smtpd_command_filter = regexp:{{/^(MAIL FROM:<[^>]*>) BOGUS=.*$/ $$1}}\n",
    );
    let mut c = Raw::connect(port);
    c.ask("EHLO client.example.com");
    assert_eq!(c.ask("MAIL FROM:<a@example.com> BOGUS=1"), "250 2.1.0 Ok");
    assert!(inst.wait_log(
        "localhost[127.0.0.1]: replacing command \"MAIL FROM:<a@example.com> BOGUS=1\" with \"MAIL FROM:<a@example.com>\"",
        1,
        5 * SECOND
    ), "{}", inst.maillog());
    // Untouched commands go through as they are.
    assert_eq!(c.ask("RCPT TO:<root@mail.example.test>"), "250 2.1.5 Ok");
    // A line that arrives in pieces is looked up whole.
    assert_eq!(c.ask("RSET"), "250 2.0.0 Ok");
    c.send(b"MAIL FROM:<b@example.com> BOG");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(c.ask("US=2"), "250 2.1.0 Ok");
    drop(inst);
    let (_inst, port) = start("smtpd-command-filter-none", "");
    let mut c = Raw::connect(port);
    c.ask("EHLO client.example.com");
    assert!(c
        .ask("MAIL FROM:<a@example.com> BOGUS=1")
        .starts_with("555 5.5.4"));
}

/// `tls_server_sni_maps`: the certificate a client gets follows the name
/// it asks for (SNI): a hash table built with `postmap -F` (by name), a
/// texthash table naming the files (by parent domain, `.domain`), and the
/// default certificate for any other name or none. The client is
/// OpenSSL's s_client.
#[test]
fn sni_maps_choose_the_certificate() {
    let inst = Instance::new("smtpd-sni");
    let pair = |sub: &str, cn: &str| {
        let d = inst.dir.join(sub);
        std::fs::create_dir_all(&d).expect("dir");
        kit::self_signed(&d, cn)
    };
    let Some((cert, key)) = pair("default", "mail.example.test") else {
        eprintln!("openssl missing: skipped");
        return;
    };
    let (a_cert, a_key) = pair("a", "a.example.test").expect("a");
    let (b_cert, b_key) = pair("b", "mx.b.example.test").expect("b");
    let d = inst.dir.display();
    // bad.example.test's key does not go with its certificate: left out,
    // with a warning; the rest still works.
    inst.write(
        "sni",
        &format!(
            "a.example.test {} {}\nbad.example.test {} {}\n",
            a_key.display(),
            a_cert.display(),
            b_key.display(),
            a_cert.display()
        ),
    );
    inst.write(
        "sni-text",
        &format!(
            ".b.example.test {}, {}\n",
            b_key.display(),
            b_cert.display()
        ),
    );
    inst.main_cf(&format!(
        "alias_maps =\nsmtpd_tls_security_level = may\nsmtpd_tls_cert_file = {}\nsmtpd_tls_key_file = {}\n\
         tls_server_sni_maps = hash:{d}/sni, texthash:{d}/sni-text\n",
        cert.display(),
        key.display()
    ));
    let postmap = |args: &[&str]| {
        Command::new(inst.bin.join("postmap"))
            .env("MAIL_CONFIG", &inst.dir)
            .args(args)
            .output()
            .expect("postmap")
    };
    let built = postmap(&["-F", &format!("hash:{d}/sni")]);
    assert!(built.status.success(), "{built:?}");
    // The table holds the files' contents (base64); -F -q shows them.
    let raw = postmap(&["-q", "a.example.test", &format!("hash:{d}/sni")]);
    assert!(!String::from_utf8_lossy(&raw.stdout).contains("BEGIN"));
    let shown = postmap(&["-F", "-q", "a.example.test", &format!("hash:{d}/sni")]);
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    let key_pem = std::fs::read_to_string(&a_key).expect("key");
    let cert_pem = std::fs::read_to_string(&a_cert).expect("cert");
    assert_eq!(shown, format!("{key_pem}{cert_pem}\n"));
    inst.master_cf(MASTER_CF);
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let subject = |sni: Option<&str>| {
        let mut c = Command::new("openssl");
        c.args(["s_client", "-starttls", "smtp", "-connect"])
            .arg(format!("127.0.0.1:{port}"));
        match sni {
            Some(n) => c.args(["-servername", n]),
            None => c.arg("-noservername"),
        };
        let out = c
            .stdin(std::process::Stdio::null())
            .output()
            .expect("openssl s_client");
        let text = String::from_utf8_lossy(&out.stdout).replace(' ', "");
        text.lines()
            .find_map(|l| l.strip_prefix("subject=CN="))
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(subject(Some("a.example.test")), "a.example.test");
    assert_eq!(subject(Some("MX.B.example.test")), "mx.b.example.test");
    assert_eq!(subject(Some("other.example")), "mail.example.test");
    assert_eq!(subject(None), "mail.example.test");
    assert_eq!(subject(Some("bad.example.test")), "mail.example.test");
    assert!(
        !inst
            .log_lines("warning: tls_server_sni_maps: bad.example.test: ")
            .is_empty(),
        "{}",
        inst.maillog()
    );
}

/// A before-queue filter (smtpd_proxy_filter) that misbehaves, scripted
/// by recipient: it hangs up at "drop", answers "garbage" with a line that
/// is no reply line in the middle of its reply, refuses "rej" and, when
/// "datarej" is a recipient, DATA. It writes what each connection got.
const MISBEHAVING_FILTER: &str = r#"
import socket, sys, threading, itertools
port, log = int(sys.argv[1]), sys.argv[2]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(5)
conns = itertools.count()
def serve(c, n):
    f = c.makefile("rb")
    out = open("%s.%d" % (log, n), "w")
    def say(b): c.sendall(b)
    say(b"220 filter ESMTP\r\n")
    rcpts = []
    for raw in f:
        out.write(repr(raw) + "\n"); out.flush()
        line = raw.rstrip(b"\r\n"); verb = line[:4].upper()
        if verb == b"EHLO": say(b"250-filter\r\n250 8BITMIME\r\n")
        elif verb == b"MAIL": say(b"250 2.1.0 Ok\r\n")
        elif verb == b"RCPT":
            who = line.split(b"<")[1].split(b"@")[0]; rcpts.append(who)
            if who == b"drop": c.close(); return
            elif who == b"garbage": say(b"250-ok\r\ngarbage line\r\n250 ok\r\n")
            elif who == b"rej": say(b"550 5.1.1 rej: no such user\r\n")
            else: say(b"250 2.1.5 Ok\r\n")
        elif verb == b"DATA" and b"datarej" in rcpts: say(b"451 4.7.1 try DATA later\r\n")
        elif verb == b"DATA":
            say(b"354 go\r\n")
            for body in f:
                out.write(repr(body) + "\n"); out.flush()
                if body == b".\r\n": break
            say(b"250 2.0.0 Ok: queued as FILTERED\r\n")
        elif verb == b"QUIT": say(b"221 bye\r\n"); break
        else: say(b"250 ok\r\n")
    c.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c, next(conns)), daemon=True).start()
"#;

/// [`MISBEHAVING_FILTER`] on `port`, once it listens, and the stem of the
/// files it writes what each connection got to (`.0` is the readiness
/// probe's).
fn misbehaving_filter(inst: &Instance, port: u16) -> (kit::Proc, PathBuf) {
    let log = inst.dir.join("filter");
    let filter = kit::Proc(
        Command::new("python3")
            .args(["-c", MISBEHAVING_FILTER, &port.to_string()])
            .arg(&log)
            .spawn()
            .expect("python3"),
    );
    assert!(wait_until(10 * SECOND, || TcpStream::connect((
        "127.0.0.1",
        port
    ))
    .is_ok()));
    (filter, log)
}

/// smtpd_proxy_filter against a filter that breaks: a connection that
/// broke after the filter took a recipient stays broken for the
/// transaction (451s, never a message with recipients missing); a reply
/// with a stray line in it is read past; a refused DATA leaves the
/// transaction for another try; smtpd's own Received: header and the
/// message reach the filter in CRLF lines.
#[test]
fn a_proxy_filter_that_misbehaves() {
    if !has_python() {
        eprintln!("skipped: python3 missing");
        return;
    }
    let filter_port = kit::free_port();
    let (inst, port) = start(
        "smtpd-proxy-filter",
        &format!("smtpd_proxy_filter = [127.0.0.1]:{filter_port}\n"),
    );
    let (_filter, log) = misbehaving_filter(&inst, filter_port);
    let script = r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
s.ehlo("client.example")
def tx(rcpts, body=b"Subject: x\r\n\r\nhello\r\n"):
    print("MAIL", s.mail("a@example.org")[0])
    for r in rcpts:
        print("RCPT", r, s.rcpt(r + "@example.net")[0])
    code = s.docmd("DATA")[0]
    print("DATA", code)
    if code == 354:
        s.send(body + b".\r\n")
        print("END", *s.getreply())
    s.rset()
tx(["a", "drop", "c"])
tx(["garbage", "rej", "b"])
s.mail("a@example.org"); s.rcpt("datarej@example.net")
print("DATA refused", s.docmd("DATA")[0], "again", s.docmd("DATA")[0])
s.quit()
"#;
    let out = python(&inst, script, port);
    assert_eq!(
        out,
        "MAIL 250\nRCPT a 250\nRCPT drop 451\nRCPT c 451\nDATA 451\n\
         MAIL 250\nRCPT garbage 250\nRCPT rej 550\nRCPT b 250\nDATA 354\n\
         END 250 b'2.0.0 Ok: queued as FILTERED'\n\
         DATA refused 451 again 451\n",
        "{}",
        inst.maillog()
    );
    // What each connection got (the first was the readiness probe).
    let got =
        |n: usize| std::fs::read_to_string(format!("{}.{n}", log.display())).unwrap_or_default();
    // The broken connection was not replaced: no message went anywhere
    // for "a" alone, or for "c".
    assert!(got(1).contains("RCPT TO:<drop@example.net>"), "{}", got(1));
    assert!(!got(2).contains("c@example.net"), "{}", got(2));
    // The second transaction's message arrived in CRLF lines, smtpd's
    // Received: header first.
    let message = got(2);
    assert!(
        message.contains(
            "b'Received: from client.example (localhost [127.0.0.1])\\r\\n'\nb'\\tby mail.example.test (mailsuite) with ESMTP;\\r\\n'\n"
        ),
        "{message}"
    );
    assert!(
        message
            .lines()
            .all(|l| l.ends_with("\\r\\n'") || l.ends_with("\\r\\n\"")),
        "every line ends in CRLF: {message}"
    );
    assert!(inst.wait_log(
        &format!("warning: received garbage from proxy [127.0.0.1]:{filter_port}: garbage line"),
        1,
        5 * SECOND
    ));
    assert_eq!(
        inst.log_lines(&format!(
            "warning: lost connection with proxy [127.0.0.1]:{filter_port}"
        ))
        .len(),
        1,
        "{}",
        inst.maillog()
    );
}

/// smtpd_proxy_options = speed_adjust: smtpd answers the recipients
/// itself and asks the filter only once the message is whole; the
/// filter's first refusal of the replayed commands, or its reply to the
/// message, answers the end of data.
#[test]
fn speed_adjust_asks_the_filter_once_the_message_is_whole() {
    if !has_python() {
        eprintln!("skipped: python3 missing");
        return;
    }
    let filter_port = kit::free_port();
    let (inst, port) = start(
        "smtpd-proxy-speed",
        &format!(
            "smtpd_proxy_filter = 127.0.0.1:{filter_port}\nsmtpd_proxy_options = speed_adjust\n"
        ),
    );
    let (_filter, log) = misbehaving_filter(&inst, filter_port);
    let got =
        |n: usize| std::fs::read_to_string(format!("{}.{n}", log.display())).unwrap_or_default();
    let mut c = Raw::connect(port);
    assert!(c.ask("EHLO client.example").starts_with("250"));
    assert_eq!(c.ask("MAIL FROM:<a@example.org>"), "250 2.1.0 Ok");
    assert_eq!(c.ask("RCPT TO:<a@example.net>"), "250 2.1.5 Ok");
    assert_eq!(c.ask("RCPT TO:<rej@example.net>"), "250 2.1.5 Ok");
    assert!(c.ask("DATA").starts_with("354 "));
    // Nothing has reached the filter yet (connection 0 was the probe).
    assert_eq!(got(1), "", "the filter waits for the whole message");
    c.send(b"Subject: x\r\n\r\nhello\r\n.\r\n");
    assert_eq!(c.reply(), "550 5.1.1 rej: no such user");
    assert!(got(1).contains("RCPT TO:<rej@example.net>"), "{}", got(1));
    assert!(!got(1).contains("DATA"), "{}", got(1));

    assert_eq!(c.ask("MAIL FROM:<a@example.org>"), "250 2.1.0 Ok");
    assert_eq!(c.ask("RCPT TO:<b@example.net>"), "250 2.1.5 Ok");
    assert!(c.ask("DATA").starts_with("354 "));
    c.send(b"Subject: y\r\n\r\n..dot line\r\n.\r\n");
    assert_eq!(c.reply(), "250 2.0.0 Ok: queued as FILTERED");
    let message = got(2);
    assert!(
        message.contains("b'Received: from client.example (localhost [127.0.0.1])\\r\\n'"),
        "{message}"
    );
    assert!(message.contains("b'..dot line\\r\\n'"), "{message}");
    assert!(inst.wait_log(
        "proxy-accept: END-OF-MESSAGE: 250 2.0.0 Ok: queued as FILTERED; from=<a@example.org> to=<b@example.net>",
        1,
        5 * SECOND
    ));
    // The spool files had no name, or lost it: incoming/ is empty.
    assert!(incoming(&inst).is_empty());
}

/// smtpd_noop_commands: a listed command gets `250 Ok` whatever follows
/// it, and counts as junk; smtpd_log_access_permit_actions logs the
/// built-in permit actions that decide, as Postfix's `permit:` lines.
#[test]
fn noop_commands_and_logged_permit_actions() {
    let (inst, port) = start(
        "smtpd-noop",
        "smtpd_noop_commands = XYZZY, plugh\nsmtpd_log_access_permit_actions = static:all\n\
         smtpd_junk_command_limit = 2\nsmtpd_hard_error_limit = 2\nsmtpd_error_sleep_time = 0s\n",
    );
    let mut c = Raw::connect(port);
    assert!(c.ask("EHLO client.example.com").starts_with("250-"));
    assert_eq!(c.ask("xyzzy <not> a [valid] command"), "250 Ok");
    assert_eq!(c.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert_eq!(c.ask("RCPT TO:<root@mail.example.test>"), "250 2.1.5 Ok");
    assert_eq!(c.ask("PLUGH"), "250 Ok");
    assert_eq!(c.ask("DATA"), "354 End data with <CR><LF>.<CR><LF>");
    let r = c.ask("Subject: noop\r\n\r\nx\r\n.");
    assert!(r.starts_with("250 2.0.0 Ok: queued as "), "{r}");
    // Junk, counted afresh after the message: as in Postfix, those after
    // the first smtpd_junk_command_limit + 1 (3) are errors, and the
    // second error meets smtpd_hard_error_limit.
    for _ in 0..5 {
        assert_eq!(c.ask("XYZZY"), "250 Ok");
    }
    assert_eq!(
        c.reply(),
        "421 4.7.0 mail.example.test Error: too many errors"
    );
    assert!(inst.wait_log(
        "NOQUEUE: permit: RCPT from localhost[127.0.0.1]: action=permit_mynetworks for Client host=localhost[127.0.0.1]; from=<a@example.com> to=<root@mail.example.test> proto=ESMTP helo=<client.example.com>",
        1,
        5 * SECOND
    ));
    // Not in the command counts.
    assert!(inst.wait_log("ehlo=1 mail=1 rcpt=1 data=1 commands=4", 1, 5 * SECOND));
}

/// Access table actions that shape the message rather than refuse it,
/// as Postfix's smtpd hands them to cleanup: HOLD (the hold queue),
/// DISCARD (250, and nothing kept), REDIRECT (every recipient replaced),
/// BCC (a blind copy), FILTER (this message's content filter), and
/// DEFER_IF_REJECT (a later 5XX refusal becomes a 4XX), each logged as
/// Postfix logs it.
#[test]
fn access_table_actions_hold_discard_redirect_bcc_filter() {
    let scratch = kit::Scratch::new("smtpd-actions-maps");
    let senders = scratch.join("senders");
    std::fs::write(
        &senders,
        "hold@example.com HOLD\n\
         discard@example.com DISCARD\n\
         redirect@example.com REDIRECT boss@example.net\n\
         bcc@example.com BCC audit@example.net\n\
         filter@example.com FILTER smtp:[127.0.0.1]:10025\n\
         deferme@example.com DEFER_IF_REJECT 4.7.2 please wait\n\
         badfilter@example.com FILTER nocolon\n",
    )
    .expect("senders");
    let recipients = scratch.join("recipients");
    std::fs::write(
        &recipients,
        "refused@mail.example.test REJECT go away\nheldrefused@mail.example.test HOLD\n",
    )
    .expect("recipients");
    let refusals = scratch.join("refusals");
    std::fs::write(&refusals, "heldrefused@mail.example.test REJECT no\n").expect("refusals");
    let (inst, port) = start(
        "smtpd-actions",
        &format!(
            "smtpd_recipient_restrictions = check_sender_access texthash:{}, check_recipient_access texthash:{}, check_recipient_access texthash:{}\n",
            senders.display(),
            recipients.display(),
            refusals.display()
        ),
    );
    // One message; the RCPT replies and the final reply.
    let send = |from: &str, to: &[&str]| -> (Vec<String>, String) {
        let mut c = Raw::connect(port);
        c.ask("EHLO client.example.com");
        assert_eq!(c.ask(&format!("MAIL FROM:<{from}>")), "250 2.1.0 Ok");
        let replies: Vec<String> = to
            .iter()
            .map(|t| c.ask(&format!("RCPT TO:<{t}>")))
            .collect();
        let end = if replies.iter().any(|r| r.starts_with("250")) {
            assert_eq!(c.ask("DATA"), "354 End data with <CR><LF>.<CR><LF>");
            c.ask(&format!("Subject: from {from}\r\n\r\nbody\r\n."))
        } else {
            String::new()
        };
        c.ask("QUIT");
        (replies, end)
    };
    let queued = |end: &str| -> String {
        end.strip_prefix("250 2.0.0 Ok: queued as ")
            .unwrap_or_else(|| panic!("{end}"))
            .to_string()
    };
    let find = |id: &str| -> Option<PathBuf> {
        fn walk(dir: &Path, id: &str) -> Option<PathBuf> {
            for e in std::fs::read_dir(dir).ok()?.flatten() {
                let p = e.path();
                if p.is_dir() {
                    if let Some(f) = walk(&p, id) {
                        return Some(f);
                    }
                } else if p.file_name().and_then(|n| n.to_str()) == Some(id) {
                    return Some(p);
                }
            }
            None
        }
        walk(&inst.dir.join("queue"), id)
    };
    let rcpt = "root@mail.example.test";

    let (_, end) = send("hold@example.com", &[rcpt]);
    let id = queued(&end);
    let mut held = None;
    assert!(
        wait_until(5 * SECOND, || {
            held = find(&id);
            held.as_ref()
                .is_some_and(|p| p.starts_with(inst.dir.join("queue/hold")))
        }),
        "{id} not in hold/: {held:?}"
    );
    assert!(inst.wait_log(
        "NOQUEUE: hold: RCPT from localhost[127.0.0.1]: <hold@example.com>: Sender address triggers HOLD action; from=<hold@example.com> to=<root@mail.example.test> proto=ESMTP helo=<client.example.com>",
        1,
        5 * SECOND
    ));

    // A HOLD stands when a later restriction refuses that recipient, as
    // in Postfix: the message the other recipient gets is held.
    let (replies, end) = send(
        "anyone@example.com",
        &["heldrefused@mail.example.test", rcpt],
    );
    assert_eq!(
        replies[0],
        "554 5.7.1 <heldrefused@mail.example.test>: Recipient address rejected: no"
    );
    let id = queued(&end);
    assert!(
        wait_until(5 * SECOND, || find(&id)
            .is_some_and(|p| p.starts_with(inst.dir.join("queue/hold")))),
        "{id} not in hold/"
    );

    let other = "nobody@mail.example.test";
    let (_, end) = send("discard@example.com", &[rcpt, other]);
    let id = queued(&end);
    assert!(inst.wait_log(
        &format!("{id}: discard: RCPT from localhost[127.0.0.1]: <discard@example.com>: Sender address triggers DISCARD action; from=<discard@example.com> to=<nobody@mail.example.test> proto=ESMTP helo=<client.example.com>"),
        1,
        5 * SECOND
    ));
    assert!(inst.wait_log(&format!("{id}: client=localhost"), 1, 5 * SECOND));
    assert!(wait_until(5 * SECOND, || inst
        .maillog()
        .contains("discard@example.com")
        && inst.maillog().matches(" disconnect from ").count() >= 2));
    assert_eq!(find(&id), None, "a discarded message was kept");

    // REDIRECT: the queue file names it; the queue manager delivers to it
    // once instead of to every recipient (tests/qmgr.rs).
    let (_, end) = send("redirect@example.com", &[rcpt, other]);
    let text = postcat(&inst, &queue_file(&inst, &queued(&end)));
    assert!(
        text.contains("named_attribute: redirect=boss@example.net\n"),
        "{text}"
    );
    assert!(
        text.contains("recipient: root@mail.example.test\n"),
        "{text}"
    );
    assert!(
        text.contains("recipient: nobody@mail.example.test\n"),
        "{text}"
    );
    assert!(inst.wait_log("NOQUEUE: redirect: RCPT from localhost[127.0.0.1]: <redirect@example.com>: Sender address triggers REDIRECT boss@example.net;", 1, 5 * SECOND));
    // One recipient: Received: names it as the client gave it.
    let (_, end) = send("redirect@example.com", &[rcpt]);
    let text = postcat(&inst, &queue_file(&inst, &queued(&end)));
    assert!(text.contains("\tfor <root@mail.example.test>;"), "{text}");

    // BCC: a blind copy that is never reported on (NOTIFY=NEVER).
    let (_, end) = send("bcc@example.com", &[rcpt]);
    let text = postcat(&inst, &queue_file(&inst, &queued(&end)));
    assert!(
        text.contains("recipient: root@mail.example.test\ndsn_notify_flags: 1\noriginal_recipient: audit@example.net\nrecipient: audit@example.net"),
        "{text}"
    );
    assert!(inst.wait_log("NOQUEUE: bcc: RCPT from localhost[127.0.0.1]: <bcc@example.com>: Sender address triggers BCC audit@example.net;", 1, 5 * SECOND));

    // FILTER: this message's content filter.
    let (_, end) = send("filter@example.com", &[rcpt]);
    let text = postcat(&inst, &queue_file(&inst, &queued(&end)));
    assert!(
        text.contains("named_attribute: content_filter=smtp:[127.0.0.1]:10025\n"),
        "{text}"
    );
    assert!(inst.wait_log("NOQUEUE: filter: RCPT from localhost[127.0.0.1]: <filter@example.com>: Sender address triggers FILTER smtp:[127.0.0.1]:10025;", 1, 5 * SECOND));
    // A FILTER without transport:destination is a configuration mistake,
    // warned about and skipped.
    let (_, end) = send("badfilter@example.com", &[rcpt]);
    let text = postcat(&inst, &queue_file(&inst, &queued(&end)));
    assert!(!text.contains("content_filter"), "{text}");
    assert!(inst.wait_log(
        "warning: access table check_sender_access entry \"badfilter@example.com\" requires transport:destination",
        1,
        5 * SECOND
    ));

    // DEFER_IF_REJECT: the later refusal for good comes as a deferral.
    let (replies, _) = send("deferme@example.com", &["refused@mail.example.test"]);
    assert_eq!(
        replies,
        ["450 4.7.2 <deferme@example.com>: Sender address rejected: please wait"]
    );
    let (replies, _) = send("anyone@example.com", &["refused@mail.example.test"]);
    assert_eq!(
        replies,
        ["554 5.7.1 <refused@mail.example.test>: Recipient address rejected: go away"]
    );
}

/// A milter written with Sendmail's libmilter (through pymilter): it
/// refuses senders and recipients as the SMTP dialogue happens, as with
/// Postfix, and sees each session once: the same conversation carries the
/// commands (in smtpd) and the message (in cleanup), message after
/// message.
const PYMILTER: &str = r#"
import Milter, sys
port, events = sys.argv[1], sys.argv[2]
def note(line):
    with open(events, 'a') as f:
        f.write(line + '\n')
class Test(Milter.Base):
    def __init__(self):
        self.messages = 0
        self.rcpts = 0
    def connect(self, name, family, addr):
        note('connect %s' % addr[0])
        return Milter.CONTINUE
    def hello(self, name):
        self.helo = name
        note('helo %s' % name)
        return Milter.CONTINUE
    def envfrom(self, sender, *args):
        note('mail %s' % sender)
        self.rcpts = 0
        if sender == '<tempfail@example.com>':
            return Milter.TEMPFAIL
        if sender == '<custom@example.com>':
            self.setreply('550', '5.7.0', 'sender refused by policy')
            return Milter.REJECT
        if sender == '<lines@example.com>':
            self.setreply('550', '5.7.2', 'first of two lines', 'second, 100%% sure')
            return Milter.REJECT
        if sender == '<discard@example.com>':
            return Milter.DISCARD
        if sender == '<bye@example.com>':
            self.setreply('421', '4.7.0', 'closing for maintenance')
            return Milter.TEMPFAIL
        self.sender = sender
        return Milter.CONTINUE
    def envrcpt(self, rcpt, *args):
        note('rcpt %s' % rcpt)
        if rcpt.startswith('<nobody@'):
            return Milter.REJECT
        if rcpt.startswith('<bin@'):
            import time
            time.sleep(3)
        self.rcpts += 1
        return Milter.CONTINUE
    def data(self):
        if self.sender == '<nodata@example.com>':
            return Milter.REJECT
        return Milter.CONTINUE
    def body(self, chunk):
        self.rejected = b'reject me' in chunk
        return Milter.CONTINUE
    def eom(self):
        self.messages += 1
        note('eom %d' % self.messages)
        if getattr(self, 'rejected', False):
            return Milter.REJECT
        self.addheader('X-Milter', 'message=%d rcpts=%d helo=%s' % (self.messages, self.rcpts, self.helo))
        return Milter.ACCEPT
    def abort(self):
        note('abort')
        return Milter.CONTINUE
    def close(self):
        note('close')
        return Milter.CONTINUE
Milter.factory = Test
Milter.set_flags(Milter.ADDHDRS)
Milter.runmilter('test', 'inet:%s@127.0.0.1' % port, 30)
"#;

#[test]
fn milters_act_during_the_smtp_dialogue() {
    let pymilter = Path::new(SYSTEM_PYTHON).is_file()
        && Command::new(SYSTEM_PYTHON)
            .args(["-c", "import Milter"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !pymilter {
        eprintln!("skipped: python3-milter missing");
        return;
    }
    let dir = kit::Scratch::new("pymilter");
    let events = dir.join("events");
    let port = kit::free_port();
    let _milter = kit::Proc(
        Command::new(SYSTEM_PYTHON)
            .args(["-c", PYMILTER, &port.to_string()])
            .arg(&events)
            .spawn()
            .expect("pymilter"),
    );
    assert!(wait_until(10 * SECOND, || TcpStream::connect((
        "127.0.0.1",
        port
    ))
    .is_ok()));
    let (inst, smtp) = start(
        "smtpd-live-milter",
        &format!("smtpd_milters = {{ inet:127.0.0.1:{port}, command_timeout=1s }}\n"),
    );
    let mut c = Raw::connect(smtp);
    assert!(c.ask("EHLO client.example.com").starts_with("250-"));
    assert_eq!(
        c.ask("MAIL FROM:<tempfail@example.com>"),
        "451 4.7.1 Service unavailable - try again later"
    );
    assert_eq!(
        c.ask("MAIL FROM:<custom@example.com>"),
        "550 5.7.0 sender refused by policy"
    );
    // A multi-line reply (smfi_setmlreply) goes to the client as one.
    assert_eq!(
        c.ask("MAIL FROM:<lines@example.com>"),
        "550-5.7.2 first of two lines\n550 5.7.2 second, 100% sure"
    );
    assert_eq!(c.ask("MAIL FROM:<ok@example.com>"), "250 2.1.0 Ok");
    assert_eq!(
        c.ask("RCPT TO:<nobody@mail.example.test>"),
        "550 5.7.1 Command rejected"
    );
    assert_eq!(c.ask("RCPT TO:<root@mail.example.test>"), "250 2.1.5 Ok");
    assert_eq!(c.ask("RCPT TO:<daemon@mail.example.test>"), "250 2.1.5 Ok");
    assert_eq!(c.ask("DATA"), "354 End data with <CR><LF>.<CR><LF>");
    let r = c.ask("Subject: one\r\n\r\nfirst\r\n.");
    let first = r
        .strip_prefix("250 2.0.0 Ok: queued as ")
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();
    // The second message, in the same session and the same conversation:
    // refused at its end.
    assert_eq!(c.ask("MAIL FROM:<ok@example.com>"), "250 2.1.0 Ok");
    assert_eq!(c.ask("RCPT TO:<root@mail.example.test>"), "250 2.1.5 Ok");
    assert_eq!(c.ask("DATA"), "354 End data with <CR><LF>.<CR><LF>");
    assert_eq!(
        c.ask("Subject: two\r\n\r\nplease reject me\r\n."),
        "550 5.7.1 Command rejected"
    );
    // The third: DISCARD at MAIL; accepted, and kept nowhere.
    assert_eq!(c.ask("MAIL FROM:<discard@example.com>"), "250 2.1.0 Ok");
    assert_eq!(c.ask("RCPT TO:<root@mail.example.test>"), "250 2.1.5 Ok");
    assert_eq!(c.ask("DATA"), "354 End data with <CR><LF>.<CR><LF>");
    let r = c.ask("Subject: three\r\n\r\nthird\r\n.");
    let third = r
        .strip_prefix("250 2.0.0 Ok: queued as ")
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();
    // The fourth is the milter's third message on this connection.
    assert_eq!(c.ask("MAIL FROM:<ok@example.com>"), "250 2.1.0 Ok");
    assert_eq!(c.ask("RCPT TO:<root@mail.example.test>"), "250 2.1.5 Ok");
    assert_eq!(c.ask("DATA"), "354 End data with <CR><LF>.<CR><LF>");
    let r = c.ask("Subject: four\r\n\r\nfourth\r\n.");
    let fourth = r
        .strip_prefix("250 2.0.0 Ok: queued as ")
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();
    assert_eq!(c.ask("QUIT"), "221 2.0.0 Bye");

    let text = postcat(&inst, &queue_file(&inst, &first));
    assert!(
        text.contains("X-Milter: message=1 rcpts=2 helo=client.example.com"),
        "{text}"
    );
    let text = postcat(&inst, &queue_file(&inst, &fourth));
    assert!(
        text.contains("X-Milter: message=3 rcpts=1 helo=client.example.com"),
        "{text}"
    );
    assert!(incoming(&inst)
        .iter()
        .all(|p| !p.to_string_lossy().contains(&third)));
    for line in [
        "NOQUEUE: milter-reject: MAIL from localhost[127.0.0.1]: 451 4.7.1 Service unavailable - try again later; from=<tempfail@example.com> proto=ESMTP helo=<client.example.com>",
        "NOQUEUE: milter-reject: MAIL from localhost[127.0.0.1]: 550 5.7.0 sender refused by policy; from=<custom@example.com> proto=ESMTP helo=<client.example.com>",
        "NOQUEUE: milter-reject: RCPT from localhost[127.0.0.1]: 550 5.7.1 Command rejected; from=<ok@example.com> to=<nobody@mail.example.test> proto=ESMTP helo=<client.example.com>",
        ": milter-reject: END-OF-MESSAGE from localhost[127.0.0.1]: 5.7.1 Command rejected; from=<ok@example.com> to=<root@mail.example.test> proto=ESMTP helo=<client.example.com>",
        "NOQUEUE: milter-discard: MAIL from localhost[127.0.0.1]: milter triggers DISCARD action; from=<discard@example.com> proto=ESMTP helo=<client.example.com>",
    ] {
        assert!(inst.wait_log(line, 1, 5 * SECOND), "{line}\n{}", inst.maillog());
    }
    // One connection for the whole session, closed at its end.
    assert!(wait_until(5 * SECOND, || std::fs::read_to_string(&events)
        .is_ok_and(|e| e.contains("close"))));
    let events = std::fs::read_to_string(&events).expect("events");
    assert_eq!(
        events
            .lines()
            .filter(|l| l.starts_with("connect 127.0.0.1"))
            .count(),
        1,
        "{events}"
    );
    assert_eq!(
        events.lines().filter(|l| l.starts_with("eom")).count(),
        3,
        "{events}"
    );

    // A milter that refuses DATA ends the transaction, as in Postfix.
    let mut c = Raw::connect(smtp);
    c.ask("EHLO client.example.com");
    assert_eq!(c.ask("MAIL FROM:<nodata@example.com>"), "250 2.1.0 Ok");
    assert_eq!(c.ask("RCPT TO:<root@mail.example.test>"), "250 2.1.5 Ok");
    assert_eq!(c.ask("DATA"), "550 5.7.1 Command rejected");
    assert_eq!(c.ask("DATA"), "503 5.5.1 Error: need RCPT command");
    // A milter that stops answering (command_timeout=1s) gets its default
    // action, tempfail, for that command and every one after it.
    assert_eq!(c.ask("MAIL FROM:<ok@example.com>"), "250 2.1.0 Ok");
    assert_eq!(
        c.ask("RCPT TO:<bin@mail.example.test>"),
        "451 4.7.1 Service unavailable - try again later"
    );
    assert_eq!(
        c.ask("RCPT TO:<root@mail.example.test>"),
        "451 4.7.1 Service unavailable - try again later"
    );
    assert_eq!(c.ask("RSET"), "250 2.0.0 Ok");
    assert_eq!(
        c.ask("MAIL FROM:<ok@example.com>"),
        "451 4.7.1 Service unavailable - try again later"
    );
    c.ask("QUIT");
    // A milter's 421 ends the session.
    let mut c = Raw::connect(smtp);
    c.ask("EHLO client.example.com");
    assert_eq!(
        c.ask("MAIL FROM:<bye@example.com>"),
        "421 4.7.0 closing for maintenance"
    );
    let mut rest = String::new();
    c.r.read_to_string(&mut rest).ok();
    assert_eq!(rest, "", "the session went on after 421");
}

/// reject_unknown_reverse_client_hostname (a client address with no PTR
/// name at all) and reject_unknown_helo_hostname, with the system
/// resolver.
#[test]
fn reverse_client_names_and_helo_names_are_looked_up() {
    let (inst, port) = start(
        "smtpd-reverse",
        "smtpd_client_restrictions = reject_unknown_reverse_client_hostname\n\
         smtpd_helo_restrictions = reject_unknown_helo_hostname\n",
    );
    // 127.0.0.1 is localhost; its HELO name must exist too.
    let mut c = Raw::connect(port);
    c.ask("EHLO localhost");
    assert_eq!(c.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert_eq!(c.ask("RCPT TO:<root@mail.example.test>"), "250 2.1.5 Ok");
    assert_eq!(c.ask("RSET"), "250 2.0.0 Ok");
    c.ask("EHLO no-such-host.invalid");
    assert_eq!(c.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert_eq!(
        c.ask("RCPT TO:<root@mail.example.test>"),
        "450 4.7.1 <no-such-host.invalid>: Helo command rejected: Host not found"
    );
    c.ask("QUIT");
    // 127.0.0.2 has no name here.
    let has_name = Command::new("getent")
        .args(["hosts", "127.0.0.2"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_name {
        eprintln!("127.0.0.2 has a name here: the reverse name check is not tried");
        return;
    }
    let mut c = Raw::connect_from(Some("127.0.0.2"), port);
    c.ask("EHLO localhost");
    assert_eq!(c.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert_eq!(
        c.ask("RCPT TO:<root@mail.example.test>"),
        "450 4.7.1 Client host rejected: cannot find your reverse hostname, [127.0.0.2]"
    );
    assert!(inst.wait_log(
        "NOQUEUE: reject: RCPT from unknown[127.0.0.2]: 450 4.7.1 Client host rejected: cannot find your reverse hostname, [127.0.0.2];",
        1,
        5 * SECOND
    ));
}

/// check_sender_mx_access against a real DNS server: a sender domain whose
/// mail exchanger sits at a loopback address (a common sign of forged
/// mail) is refused with the table's text, as Postfix's guides set it up
/// with a cidr table; a sender whose MX is elsewhere passes.
#[test]
fn sender_mx_records_are_checked_against_an_access_table() {
    let have_dnsmasq = kit::have_dnsmasq();
    if !have_dnsmasq {
        eprintln!("skipped: dnsmasq missing");
        return;
    }
    let dns_port = kit::free_port();
    let _dns = kit::dnsmasq(
        dns_port,
        &[
            "--mx-host=bogus.test,mx.bogus.test,10".into(),
            "--host-record=mx.bogus.test,127.0.0.9".into(),
            "--mx-host=fine.test,mx.fine.test,10".into(),
            "--host-record=mx.fine.test,192.0.2.25".into(),
            "--mx-host=backup.test,mx1.backup.test,10".into(),
            "--host-record=mx1.backup.test,192.0.2.10".into(),
            "--mx-host=backup.test,mx2.backup.test,20".into(),
            "--host-record=mx2.backup.test,127.0.0.1".into(),
        ],
    );
    let dir = kit::Scratch::new("bogus-mx");
    std::fs::write(
        dir.join("bogus_mx"),
        "127.0.0.0/8 REJECT Domain MX in loopback network\n",
    )
    .expect("bogus_mx");
    let (inst, port) = start(
        "smtpd-mx-access",
        &format!(
            "dns_resolver_address = 127.0.0.1:{dns_port}\n\
             smtpd_sender_restrictions = check_sender_mx_access cidr:{}/bogus_mx\n\
             smtpd_relay_restrictions = permit_mx_backup, reject_unauth_destination\n",
            dir.display()
        ),
    );
    let mut c = Raw::connect(port);
    c.ask("EHLO client.example.com");
    assert_eq!(c.ask("MAIL FROM:<a@bogus.test>"), "250 2.1.0 Ok");
    assert_eq!(
        c.ask("RCPT TO:<root@mail.example.test>"),
        "554 5.7.1 <a@bogus.test>: Sender address rejected: Domain MX in loopback network"
    );
    assert_eq!(c.ask("RSET"), "250 2.0.0 Ok");
    assert_eq!(c.ask("MAIL FROM:<a@fine.test>"), "250 2.1.0 Ok");
    assert_eq!(c.ask("RCPT TO:<root@mail.example.test>"), "250 2.1.5 Ok");
    // permit_mx_backup: this host (127.0.0.1) is backup.test's second MX,
    // not fine.test's.
    assert_eq!(c.ask("RCPT TO:<x@backup.test>"), "250 2.1.5 Ok");
    assert_eq!(
        c.ask("RCPT TO:<x@fine.test>"),
        "554 5.7.1 <x@fine.test>: Relay access denied"
    );
    c.ask("QUIT");
    assert!(inst.wait_log(
        "NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 554 5.7.1 <a@bogus.test>: Sender address rejected: Domain MX in loopback network; from=<a@bogus.test> to=<root@mail.example.test> proto=ESMTP helo=<client.example.com>",
        1,
        5 * SECOND
    ));
}

/// reject_unknown_helo_hostname and reject_unknown_sender_domain /
/// reject_unknown_recipient_domain against a real DNS server: a name with
/// only an MX record exists (Postfix asks for A, AAAA or MX); a domain with
/// a null MX (RFC 7505) does not accept mail, whatever its addresses
/// (550 5.7.27 for a sender, 556 5.1.10 for a recipient).
#[test]
fn mx_only_names_exist_and_null_mx_domains_take_no_mail() {
    if !kit::have_dnsmasq() {
        eprintln!("skipped: dnsmasq missing");
        return;
    }
    let dns_port = kit::free_port();
    let _dns = kit::dnsmasq(
        dns_port,
        &[
            "--mx-host=mxonly.test,mx.fine.test,10".into(),
            "--host-record=mx.fine.test,192.0.2.25".into(),
            // MX 0 "." (preference 0, the root name): a null MX.
            "--dns-rr=nullmx.test,15,000000".into(),
            "--host-record=nullmx.test,192.0.2.26".into(),
        ],
    );
    let (inst, port) = start(
        "smtpd-unknown-dns",
        &format!(
            "dns_resolver_address = 127.0.0.1:{dns_port}\n\
             local_recipient_maps =\n\
             smtpd_helo_restrictions = reject_unknown_helo_hostname\n\
             smtpd_sender_restrictions = reject_unknown_sender_domain\n\
             smtpd_recipient_restrictions = reject_unknown_recipient_domain, permit\n"
        ),
    );
    let mut c = Raw::connect(port);
    c.ask("EHLO mxonly.test");
    assert_eq!(c.ask("MAIL FROM:<a@mxonly.test>"), "250 2.1.0 Ok");
    assert_eq!(
        c.ask("RCPT TO:<root@mail.example.test>"),
        "250 2.1.5 Ok",
        "{}",
        inst.maillog()
    );
    assert_eq!(
        c.ask("RCPT TO:<x@nullmx.test>"),
        "556 5.1.10 <x@nullmx.test>: Recipient address rejected: Domain nullmx.test does not accept mail (nullMX)"
    );
    assert_eq!(c.ask("RSET"), "250 2.0.0 Ok");
    assert_eq!(c.ask("MAIL FROM:<a@nullmx.test>"), "250 2.1.0 Ok");
    assert_eq!(
        c.ask("RCPT TO:<root@mail.example.test>"),
        "550 5.7.27 <a@nullmx.test>: Sender address rejected: Domain nullmx.test does not accept mail (nullMX)"
    );
    assert_eq!(c.ask("RSET"), "250 2.0.0 Ok");
    c.ask("EHLO nowhere.test");
    assert_eq!(c.ask("MAIL FROM:<a@mxonly.test>"), "250 2.1.0 Ok");
    assert_eq!(
        c.ask("RCPT TO:<root@mail.example.test>"),
        "450 4.7.1 <nowhere.test>: Helo command rejected: Host not found"
    );
    c.ask("QUIT");
}

/// Actions from smtpd_end_of_data_restrictions reach cleanup after the
/// content, as Postfix's smtpd sends them: HOLD holds the message, BCC
/// adds a blind copy (in the extracted segment).
#[test]
fn end_of_data_restrictions_hold_and_copy() {
    let scratch = kit::Scratch::new("smtpd-eod-maps");
    let late = scratch.join("late");
    std::fs::write(
        &late,
        "latehold@example.com HOLD\nlatebcc@example.com BCC audit@example.net\n",
    )
    .expect("late");
    let (inst, port) = start(
        "smtpd-eod-actions",
        &format!(
            "smtpd_end_of_data_restrictions = check_sender_access texthash:{}\n",
            late.display()
        ),
    );
    let send = |from: &str| -> String {
        let mut c = Raw::connect(port);
        c.ask("EHLO client.example.com");
        assert_eq!(c.ask(&format!("MAIL FROM:<{from}>")), "250 2.1.0 Ok");
        assert_eq!(c.ask("RCPT TO:<root@mail.example.test>"), "250 2.1.5 Ok");
        assert_eq!(c.ask("DATA"), "354 End data with <CR><LF>.<CR><LF>");
        let r = c.ask("Subject: late\r\n\r\nbody\r\n.");
        c.ask("QUIT");
        r.strip_prefix("250 2.0.0 Ok: queued as ")
            .unwrap_or_else(|| panic!("{r}"))
            .to_string()
    };
    let held = send("latehold@example.com");
    let hold_dir = inst.dir.join("queue/hold");
    let in_hold = || {
        let mut dirs = vec![hold_dir.clone()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.to_string_lossy().ends_with(&held) {
                    return true;
                }
            }
        }
        false
    };
    assert!(wait_until(5 * SECOND, in_hold), "{held} not held");
    assert!(inst.wait_log(
        &format!("{held}: hold: END-OF-MESSAGE from localhost[127.0.0.1]: <latehold@example.com>: Sender address triggers HOLD action;"),
        1,
        5 * SECOND
    ));
    let copied = send("latebcc@example.com");
    let text = postcat(&inst, &queue_file(&inst, &copied));
    assert!(
        text.contains("*** HEADER EXTRACTED") && text.contains("recipient: audit@example.net"),
        "{text}"
    );
}

/// What OpenSSL's s_client negotiates with the smtpd at `port` (STARTTLS)
/// given its own options: the cipher, or "(NONE)" when the handshake fails.
fn s_client_cipher(port: u16, options: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-starttls", "smtp", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(options)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.split("Cipher is ").nth(1))
        .unwrap_or("(NONE)")
        .trim()
        .to_string()
}

/// The TLS 1.2 cipher suites follow Postfix's settings: the grade
/// (smtpd_tls_ciphers, or smtpd_tls_mandatory_ciphers where TLS is
/// required) names a tls_*_cipherlist in OpenSSL's syntax, and the
/// exclusions take suites out (smtpd_tls_exclude_ciphers always,
/// smtpd_tls_mandatory_exclude_ciphers too where TLS is required). TLS
/// 1.3's suites are not affected, as with OpenSSL. The log names suites
/// as OpenSSL does. smtpd_tls_eecdh_grade chooses the ECDH curves.
#[test]
fn cipher_grades_and_exclusions_choose_the_tls12_suites() {
    let inst = Instance::new("smtpd-ciphers");
    let Some((cert, key)) = kit::self_signed(&inst.dir, "mail.example.test") else {
        eprintln!("openssl missing: skipped");
        return;
    };
    let files = format!(
        "alias_maps =\nsmtpd_tls_cert_file = {}\nsmtpd_tls_key_file = {}\n",
        cert.display(),
        key.display()
    );
    // Opportunistic: smtpd_tls_ciphers (medium) less the exclusions.
    inst.main_cf(&format!(
        "{files}smtpd_tls_security_level = may\nsmtpd_tls_exclude_ciphers = AES128, CHACHA20\n\
         smtpd_tls_mandatory_exclude_ciphers = AES256\n"
    ));
    inst.master_cf(MASTER_CF);
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let tls12 = |cipher: &str| s_client_cipher(port, &["-tls1_2", "-cipher", cipher]);
    assert_eq!(tls12("ECDHE-ECDSA-AES128-GCM-SHA256"), "(NONE)");
    assert_eq!(tls12("ECDHE-ECDSA-CHACHA20-POLY1305"), "(NONE)");
    assert_eq!(
        tls12("ECDHE-ECDSA-AES256-GCM-SHA384"),
        "ECDHE-ECDSA-AES256-GCM-SHA384"
    );
    assert_eq!(tls12("HIGH"), "ECDHE-ECDSA-AES256-GCM-SHA384");
    assert_eq!(
        s_client_cipher(
            port,
            &["-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256"]
        ),
        "TLS_AES_128_GCM_SHA256"
    );
    assert!(
        inst.wait_log(
            "TLS connection established from localhost[127.0.0.1]: TLSv1.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384 (256/256 bits)",
            1,
            5 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    assert!(inst.wait_log(
        "TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits)",
        1,
        5 * SECOND
    ));
    inst.stop();

    // Mandatory: smtpd_tls_mandatory_ciphers, a high list of the
    // administrator's own, less both exclusion lists.
    inst.main_cf(&format!(
        "{files}smtpd_tls_security_level = encrypt\nsmtpd_tls_mandatory_ciphers = high\n\
         tls_high_cipherlist = ECDHE+AESGCM:@STRENGTH\nsmtpd_tls_exclude_ciphers = CHACHA20\n\
         smtpd_tls_mandatory_exclude_ciphers = AES256\nsmtpd_tls_eecdh_grade = ultra\n"
    ));
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let tls12 = |cipher: &str| s_client_cipher(port, &["-tls1_2", "-cipher", cipher]);
    assert_eq!(tls12("ECDHE-ECDSA-AES256-GCM-SHA384"), "(NONE)");
    assert_eq!(tls12("ECDHE-ECDSA-CHACHA20-POLY1305"), "(NONE)");
    assert_eq!(tls12("HIGH"), "ECDHE-ECDSA-AES128-GCM-SHA256");
    // smtpd_tls_eecdh_grade = ultra: ECDH on tls_eecdh_ultra_curve alone.
    let groups = |g: &str| s_client_cipher(port, &["-tls1_3", "-groups", g]);
    assert_eq!(groups("X25519"), "(NONE)");
    assert_eq!(groups("secp384r1"), "TLS_AES_256_GCM_SHA384");
    inst.stop();

    // A grade that is not one: a warning naming the parameter, and no STARTTLS.
    inst.main_cf(&format!(
        "{files}smtpd_tls_security_level = may\nsmtpd_tls_ciphers = strong\n"
    ));
    inst.start();
    let port = inst.port("127.0.0.1:0");
    assert_eq!(s_client_cipher(port, &["-tls1_2"]), "(NONE)");
    assert!(
        inst.wait_log(
            "cannot set up TLS: smtpd_tls_ciphers: invalid cipher grade \"strong\"; STARTTLS is not offered",
            1,
            5 * SECOND
        ),
        "{}",
        inst.maillog()
    );
}

/// With one recipient, smtpd_data_restrictions see it (Postfix's
/// smtpd_check_data): check_recipient_access applies at DATA; with
/// several, no recipient is known there. A single-recipient bounce
/// passes reject_multi_recipient_bounce at DATA.
#[test]
fn data_restrictions_know_the_only_recipient() {
    let (_inst, port) = start(
        "smtpd-data-rcpt",
        "smtpd_data_restrictions = reject_multi_recipient_bounce, check_recipient_access inline:{ {root@mail.example.test=REJECT not at DATA} }\n",
    );
    let mut c = Raw::connect(port);
    c.ask("EHLO client.example.com");
    assert_eq!(c.ask("MAIL FROM:<>"), "250 2.1.0 Ok");
    assert_eq!(c.ask("RCPT TO:<root@mail.example.test>"), "250 2.1.5 Ok");
    assert_eq!(
        c.ask("DATA"),
        "554 5.7.1 <root@mail.example.test>: Recipient address rejected: not at DATA"
    );
    assert_eq!(c.ask("RSET"), "250 2.0.0 Ok");
    assert_eq!(c.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert_eq!(c.ask("RCPT TO:<root@mail.example.test>"), "250 2.1.5 Ok");
    assert_eq!(c.ask("RCPT TO:<root@localhost>"), "250 2.1.5 Ok");
    assert_eq!(c.ask("DATA"), "354 End data with <CR><LF>.<CR><LF>");
}

/// smtpd_dns_reply_filter: a record the table says to IGNORE is not seen
/// by the restrictions. A DNS list entry filtered away does not list the
/// client; a null MX filtered away leaves nothing to refuse the domain
/// by, so Postfix's smtpd warns and lets the check pass — while an
/// unfiltered null MX still refuses.
#[test]
fn a_dns_reply_filter_hides_records_from_the_restrictions() {
    if !kit::have_dnsmasq() {
        eprintln!("skipped: dnsmasq missing");
        return;
    }
    let dns_port = kit::free_port();
    let _dns = kit::dnsmasq(
        dns_port,
        &[
            "--dns-rr=nullmx.test,15,000000".into(),
            "--dns-rr=nullmx2.test,15,000000".into(),
            "--host-record=1.0.0.127.quiet.test,127.0.0.2".into(),
        ],
    );
    let dir = kit::Scratch::new("smtpd-dns-filter");
    std::fs::write(
        dir.join("filter"),
        "/^nullmx\\.test\\. [0-9]+ IN MX 0 \\.$/ IGNORE\n\
         /^1\\.0\\.0\\.127\\.quiet\\.test\\. [0-9]+ IN A 127\\.0\\.0\\.2$/ ignore\n",
    )
    .expect("filter");
    let (inst, port) = start(
        "smtpd-dns-filter",
        &format!(
            "dns_resolver_address = 127.0.0.1:{dns_port}\n\
             smtpd_dns_reply_filter = regexp:{}/filter\n\
             local_recipient_maps =\n\
             smtpd_client_restrictions = reject_rbl_client quiet.test\n\
             smtpd_recipient_restrictions = reject_unknown_recipient_domain, permit\n",
            dir.display()
        ),
    );
    let mut c = Raw::connect(port);
    c.ask("EHLO client.example.com");
    assert_eq!(c.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert_eq!(
        c.ask("RCPT TO:<x@nullmx.test>"),
        "250 2.1.5 Ok",
        "{}",
        inst.maillog()
    );
    assert_eq!(
        c.ask("RCPT TO:<x@nullmx2.test>"),
        "556 5.1.10 <x@nullmx2.test>: Recipient address rejected: Domain nullmx2.test does not accept mail (nullMX)"
    );
    c.ask("QUIT");
    let log = inst.maillog();
    assert!(
        log.contains("ignoring DNS RR: 1.0.0.127.quiet.test. ")
            && log.contains("ignoring DNS RR: nullmx.test. ")
            && log.contains(
                "warning: nullmx.test: MX lookup error: Error looking up name=nullmx.test type=MX: DNS reply filter drops all results"
            ),
        "{log}"
    );
}
