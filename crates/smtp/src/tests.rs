//! The delivery agent against scripted servers on loopback: a real queue
//! file, a real request, and a server thread that answers each command
//! line as the test says and records what it got.

use crate::deliver::{handle, Protocol, Settings};
use ipc::delivery::{Outcome, Rcpt, Request, Response};
use queue::{Envelope, Extracted, HashSpec, Recipient, Timestamp, Writer};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

static N: AtomicUsize = AtomicUsize::new(0);

struct Setup {
    dir: PathBuf,
    settings: Settings,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn setup(extra: &str) -> Setup {
    setup_for(extra, Protocol::Smtp)
}

fn setup_for(extra: &str, proto: Protocol) -> Setup {
    let dir = std::env::temp_dir().join(format!(
        "smtp-unit-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("queue/active")).unwrap();
    std::fs::write(
        dir.join("main.cf"),
        format!(
            "queue_directory = {}/queue\nsmtp_helo_name = client.example\nsmtp_helo_timeout = 5s\nsmtp_skip_quit_response = no\nsmtp_connection_cache_on_demand = no\nlmtp_connection_cache_on_demand = no\n{extra}",
            dir.display()
        ),
    )
    .unwrap();
    let cfg = params::Config::load(&dir, &[]).unwrap();
    let settings = Settings::for_protocol(&cfg, dir.join("queue"), proto);
    Setup { dir, settings }
}

/// Writes a queue file and the request for it.
fn message(s: &Setup, port: u16, rcpts: &[&str], content: &[u8], smtputf8: bool) -> Request {
    message_with(s, port, rcpts, content, smtputf8, None, None)
}

fn message_with(
    s: &Setup,
    port: u16,
    rcpts: &[&str],
    content: &[u8],
    smtputf8: bool,
    dsn_ret: Option<queue::DsnRet>,
    dsn_envid: Option<&str>,
) -> Request {
    let env = Envelope {
        dsn_ret,
        dsn_envid: dsn_envid.map(str::to_string),
        arrival: Timestamp::now(),
        sender: "sender@example.org".into(),
        smtputf8,
        recipients: rcpts
            .iter()
            .map(|r| Recipient {
                dsn_notify: Some(queue::DsnNotify(queue::DsnNotify::FAILURE)),
                ..Recipient::new(*r)
            })
            .collect(),
        ..Envelope::default()
    };
    let spec = HashSpec {
        names: vec![],
        depth: 1,
    };
    let mut w = Writer::create_in_queue(&s.dir.join("queue"), "active", &spec).unwrap();
    w.envelope(&env).unwrap();
    w.write_content(content).unwrap();
    let (id, path) = w.finish(&Extracted::default()).unwrap();
    let qf = queue::open(&path).unwrap();
    let now = Timestamp::now().sec as f64;
    Request {
        queue_id: id.to_string(),
        queue_name: "active".into(),
        sender: "sender@example.org".into(),
        nexthop: format!("[127.0.0.1]:{port}"),
        arrival: now,
        active_since: now,
        sent_at: now,
        recipients: qf
            .recipients()
            .map(|r| Rcpt {
                address: r.address.clone(),
                original: None,
                orcpt: None,
                notify: r.dsn_notify.map(|n| n.0).unwrap_or(0),
                offset: r.offset,
            })
            .collect(),
        probe: false,
        user_verify: false,
    }
}

/// What the server saw: each line, with the number of the read it came in.
type Transcript = Vec<(usize, String)>;

/// A one-connection server: `answer` maps a command line (or "." at the
/// end of data) to the reply to send, or None to hang up.
fn server(
    greeting: &'static str,
    answer: impl Fn(&str) -> Option<String> + Send + 'static,
) -> (u16, std::thread::JoinHandle<Transcript>) {
    server_n(1, greeting, answer)
}

/// As [`server`], for `n` connections one after the other; each new
/// connection shows in the transcript as a line "CONNECT".
fn server_n(
    n: usize,
    greeting: &'static str,
    answer: impl Fn(&str) -> Option<String> + Send + 'static,
) -> (u16, std::thread::JoinHandle<Transcript>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let mut all = Vec::new();
        for _ in 0..n {
            all.push((0, "CONNECT".to_string()));
            all.extend(session(&l, greeting, &answer));
        }
        if n == 1 {
            all.remove(0);
        }
        all
    });
    (port, h)
}

fn session(
    l: &TcpListener,
    greeting: &str,
    answer: &impl Fn(&str) -> Option<String>,
) -> Transcript {
    let mut seen = Vec::new();
    let Ok((s, _)) = l.accept() else { return seen };
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    if w.write_all(greeting.as_bytes()).is_err() {
        return seen;
    }
    let mut in_data = false;
    let mut reads = 0;
    loop {
        if r.buffer().is_empty() {
            reads += 1;
        }
        // Bytes, not text: a TLS ClientHello may arrive here.
        let mut raw = Vec::new();
        if r.read_until(b'\n', &mut raw).unwrap_or(0) == 0 {
            return seen;
        }
        let line = String::from_utf8_lossy(&raw)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        seen.push((reads, line.clone()));
        if in_data && line != "." {
            continue;
        }
        in_data = false;
        let Some(reply) = answer(&line) else {
            return seen;
        };
        if reply.starts_with("354") {
            in_data = true;
        }
        if w.write_all(reply.as_bytes()).is_err() || line == "QUIT" {
            return seen;
        }
    }
}

const EHLO_FULL: &str =
    "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 100000\r\n250-8BITMIME\r\n250-DSN\r\n250 ENHANCEDSTATUSCODES\r\n";

fn standard(line: &str) -> Option<String> {
    let u = line.to_ascii_uppercase();
    Some(if u.starts_with("EHLO") {
        EHLO_FULL.to_string()
    } else if u.starts_with("MAIL") {
        "250 2.1.0 Ok\r\n".into()
    } else if u.starts_with("RCPT TO:<BAD@") {
        "550 5.1.1 <bad@remote.example>: Recipient address rejected: no such user\r\n".into()
    } else if u.starts_with("RCPT TO:<LATER@") {
        "451 4.3.0 try again later\r\n".into()
    } else if u.starts_with("RCPT") {
        "250 2.1.5 Ok\r\n".into()
    } else if u == "DATA" {
        "354 End data with <CR><LF>.<CR><LF>\r\n".into()
    } else if u == "." {
        "250 2.0.0 Ok: queued as ABC123\r\n".into()
    } else if u == "RSET" {
        "250 2.0.0 Ok\r\n".into()
    } else if u == "QUIT" {
        "221 2.0.0 Bye\r\n".into()
    } else {
        "502 5.5.2 Error: command not recognized\r\n".into()
    })
}

fn outcomes(r: &Response) -> Vec<Outcome> {
    r.results.iter().map(|x| x.outcome).collect()
}

#[test]
fn pipelined_transaction_with_per_recipient_results() {
    let s = setup("");
    let (port, h) = server("220 mx.example ESMTP\r\n", standard);
    let req = message(
        &s,
        port,
        &[
            "good@remote.example",
            "bad@remote.example",
            "later@remote.example",
        ],
        b"Subject: hi\n\n.leading dot\nbody\n",
        false,
    );
    let resp = handle(&s.settings, &req);
    let seen = h.join().unwrap();
    assert_eq!(
        outcomes(&resp),
        vec![Outcome::Sent, Outcome::Bounced, Outcome::Deferred]
    );
    let relay = format!("127.0.0.1[127.0.0.1]:{port}");
    assert_eq!(resp.results[0].relay, relay);
    assert_eq!(resp.results[0].dsn, "2.0.0");
    assert_eq!(resp.results[0].reason, "250 2.0.0 Ok: queued as ABC123");
    assert_eq!(resp.results[1].dsn, "5.1.1");
    assert_eq!(
        resp.results[1].reason,
        "host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <bad@remote.example>: Recipient address rejected: no such user (in reply to RCPT TO command)"
    );
    assert_eq!(resp.results[2].dsn, "4.3.0");
    // MAIL, the RCPTs and DATA came in one write.
    let mail = seen.iter().find(|(_, l)| l.starts_with("MAIL")).unwrap();
    let data = seen.iter().find(|(_, l)| l == "DATA").unwrap();
    assert_eq!(mail.0, data.0, "pipelined: {seen:?}");
    assert!(mail.1.contains(" SIZE="), "{}", mail.1);
    let rcpt = seen.iter().find(|(_, l)| l.starts_with("RCPT")).unwrap();
    assert_eq!(rcpt.1, "RCPT TO:<good@remote.example> NOTIFY=FAILURE");
    let lines: Vec<&str> = seen.iter().map(|(_, l)| l.as_str()).collect();
    let start = lines.iter().position(|l| *l == "DATA").unwrap();
    assert_eq!(
        &lines[start + 1..],
        &["Subject: hi", "", "..leading dot", "body", ".", "QUIT"]
    );
    // Only the delivered recipient is done in the queue file.
    let qf = queue::open(&s.dir.join("queue/active").join(&req.queue_id)).unwrap();
    let done: Vec<bool> = qf.recipients().map(|r| r.done).collect();
    assert_eq!(done, vec![true, false, false]);
}

/// An envelope address with a control character in it (from wherever it
/// came into the queue) is refused, not written into an SMTP command
/// where its CR LF would start another one.
#[test]
fn addresses_with_control_characters_are_refused() {
    let s = setup("");
    let (port, h) = server("220 mx.example ESMTP\r\n", standard);
    let req = message(
        &s,
        port,
        &[
            "good@remote.example",
            "evil@remote.example>\r\nRSET\r\nRCPT TO:<x@y",
        ],
        b"Subject: hi\n\nbody\n",
        false,
    );
    let resp = handle(&s.settings, &req);
    let seen = h.join().unwrap();
    assert_eq!(outcomes(&resp), vec![Outcome::Sent, Outcome::Bounced]);
    assert_eq!(resp.results[1].dsn, "5.1.3");
    assert_eq!(resp.results[1].reason, "bad recipient address syntax");
    assert!(
        !seen.iter().any(|(_, l)| l.contains("evil") || l == "RSET"),
        "{seen:?}"
    );
}

#[test]
fn over_the_size_limit_bounces_without_sending() {
    let s = setup("");
    let (port, h) = server("220 mx.example ESMTP\r\n", |l| {
        if l.starts_with("EHLO") {
            Some("250-mx.example\r\n250 SIZE 10\r\n".into())
        } else {
            standard(l)
        }
    });
    let req = message(
        &s,
        port,
        &["a@remote.example"],
        b"Subject: big\n\nxxxxxxxxxx\n",
        false,
    );
    let resp = handle(&s.settings, &req);
    let seen = h.join().unwrap();
    assert_eq!(outcomes(&resp), vec![Outcome::Bounced]);
    assert_eq!(resp.results[0].dsn, "5.3.4");
    assert!(
        resp.results[0].reason.starts_with("message size ")
            && resp.results[0]
                .reason
                .ends_with(" exceeds size limit 10 of server 127.0.0.1[127.0.0.1]"),
        "{}",
        resp.results[0].reason
    );
    assert!(!seen.iter().any(|(_, l)| l.starts_with("MAIL")), "{seen:?}");
}

#[test]
fn smtputf8_needed_but_not_offered_bounces() {
    let s = setup("");
    let (port, h) = server("220 mx.example ESMTP\r\n", standard);
    let req = message(
        &s,
        port,
        &["jösé@remote.example"],
        b"Subject: x\n\nhi\n",
        true,
    );
    let resp = handle(&s.settings, &req);
    h.join().unwrap();
    assert_eq!(outcomes(&resp), vec![Outcome::Bounced]);
    assert_eq!(resp.results[0].dsn, "5.6.7");
    assert_eq!(
        resp.results[0].reason,
        "SMTPUTF8 is required, but was not offered by host 127.0.0.1[127.0.0.1]"
    );
}

#[test]
fn helo_when_ehlo_is_refused_and_no_pipelining() {
    let s = setup("");
    let (port, h) = server("220 old.example SMTP\r\n", |l| {
        if l.starts_with("EHLO") {
            Some("502 5.5.1 what?\r\n".into())
        } else if l.starts_with("HELO") {
            Some("250 old.example\r\n".into())
        } else {
            standard(l)
        }
    });
    let req = message(
        &s,
        port,
        &["a@remote.example", "b@remote.example"],
        b"hi\n",
        false,
    );
    let resp = handle(&s.settings, &req);
    let seen = h.join().unwrap();
    assert_eq!(outcomes(&resp), vec![Outcome::Sent, Outcome::Sent]);
    let lines: Vec<&str> = seen.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(
        lines,
        vec![
            "EHLO client.example",
            "HELO client.example",
            "MAIL FROM:<sender@example.org>",
            "RCPT TO:<a@remote.example>",
            "RCPT TO:<b@remote.example>",
            "DATA",
            "hi",
            ".",
            "QUIT"
        ]
    );
    let reads: Vec<usize> = seen.iter().map(|(r, _)| *r).collect();
    assert!(
        reads[2] < reads[3] && reads[3] < reads[4],
        "one command at a time: {seen:?}"
    );
}

#[test]
fn busy_greeting_and_lost_connections_defer() {
    let s = setup("");
    let (port, h) = server("421 4.3.2 mx.example busy, come back later\r\n", standard);
    let req = message(&s, port, &["a@remote.example"], b"hi\n", false);
    let resp = handle(&s.settings, &req);
    h.join().unwrap();
    assert_eq!(outcomes(&resp), vec![Outcome::Deferred]);
    assert_eq!(resp.results[0].dsn, "4.3.2");
    assert_eq!(
        resp.results[0].reason,
        "host 127.0.0.1[127.0.0.1] refused to talk to me: 421 4.3.2 mx.example busy, come back later"
    );

    let (port, h) = server("220 mx.example ESMTP\r\n", |l| {
        if l == "." {
            None
        } else {
            standard(l)
        }
    });
    let req = message(&s, port, &["a@remote.example"], b"hi\n", false);
    let resp = handle(&s.settings, &req);
    h.join().unwrap();
    assert_eq!(outcomes(&resp), vec![Outcome::Deferred]);
    assert_eq!(resp.results[0].dsn, "4.4.2");
    assert_eq!(
        resp.results[0].reason,
        "lost connection with 127.0.0.1[127.0.0.1] while sending end of data -- message may be sent more than once"
    );
}

#[test]
fn a_5xx_to_mail_bounces_everyone() {
    let s = setup("");
    let (port, h) = server("220 mx.example ESMTP\r\n", |l| {
        if l.starts_with("MAIL") {
            Some("553-5.7.1 sender refused\r\n553 5.7.1 go away\r\n".into())
        } else {
            standard(l)
        }
    });
    let req = message(
        &s,
        port,
        &["a@remote.example", "b@remote.example"],
        b"hi\n",
        false,
    );
    let resp = handle(&s.settings, &req);
    h.join().unwrap();
    assert_eq!(outcomes(&resp), vec![Outcome::Bounced, Outcome::Bounced]);
    assert_eq!(
        resp.results[1].reason,
        "host 127.0.0.1[127.0.0.1] said: 553 5.7.1 sender refused go away (in reply to MAIL FROM command)"
    );
}

#[test]
fn auth_plain_and_login_with_the_password_table() {
    for (offer, expect) in [
        ("PLAIN LOGIN", vec!["AUTH PLAIN AHVzZXIAc2VjcmV0"]),
        ("LOGIN", vec!["AUTH LOGIN", "dXNlcg==", "c2VjcmV0"]),
    ] {
        let (port, h) = server("220 mx.example ESMTP\r\n", move |line| {
            Some(if line.starts_with("EHLO") {
                format!("250-mx.example\r\n250-AUTH {offer}\r\n250 PIPELINING\r\n")
            } else if line == "AUTH LOGIN" {
                "334 VXNlcm5hbWU6\r\n".into()
            } else if line == "dXNlcg==" {
                "334 UGFzc3dvcmQ6\r\n".into()
            } else if line.starts_with("AUTH PLAIN ") || line == "c2VjcmV0" {
                "235 2.7.0 Authentication successful\r\n".into()
            } else {
                return standard(line);
            })
        });
        let (s, table) = sasl_setup(port, "secret", "smtp_sasl_security_options = noanonymous\n");
        let req = message(&s, port, &["a@remote.example"], b"hi\n", false);
        let resp = handle(&s.settings, &req);
        let seen: Vec<String> = h.join().unwrap().into_iter().map(|(_, l)| l).collect();
        let _ = std::fs::remove_file(&table);
        assert_eq!(outcomes(&resp), vec![Outcome::Sent], "{resp:?}");
        let start = seen.iter().position(|l| l.starts_with("AUTH")).unwrap();
        assert_eq!(&seen[start..start + expect.len()], &expect[..], "{seen:?}");
        assert!(seen[start + expect.len()].starts_with("MAIL FROM:"));
    }
}

/// A setup whose password table has `user:password` for `[127.0.0.1]:port`.
fn sasl_setup(port: u16, password: &str, options: &str) -> (Setup, PathBuf) {
    // The port is another test's once this one's server is gone: a
    // count keeps the names apart.
    let table = std::env::temp_dir().join(format!(
        "sasl-{}-{port}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::write(&table, format!("[127.0.0.1]:{port} user:{password}\n")).unwrap();
    let s = setup(&format!(
        "smtp_sasl_auth_enable = yes\n{options}smtp_sasl_password_maps = texthash:{}\n",
        table.display()
    ));
    (s, table)
}

#[test]
fn auth_failure_is_a_soft_bounce_and_noplaintext_refuses() {
    let (port, h) = server("220 mx.example ESMTP\r\n", |line| {
        if line.starts_with("EHLO") {
            Some("250-mx.example\r\n250 AUTH PLAIN\r\n".into())
        } else if line.starts_with("AUTH") {
            Some("535 5.7.8 Error: authentication failed\r\n".into())
        } else {
            standard(line)
        }
    });
    let (s, table) = sasl_setup(port, "wrong", "smtp_sasl_security_options = noanonymous\n");
    let req = message(&s, port, &["a@remote.example"], b"hi\n", false);
    let resp = handle(&s.settings, &req);
    h.join().unwrap();
    let _ = std::fs::remove_file(&table);
    assert_eq!(outcomes(&resp), vec![Outcome::Deferred]);
    assert_eq!(resp.results[0].dsn, "4.7.8");
    assert_eq!(
        resp.results[0].reason,
        "SASL authentication failed; server 127.0.0.1[127.0.0.1] said: 535 5.7.8 Error: authentication failed"
    );

    // The default security options forbid plaintext mechanisms.
    let (port, h) = server("220 mx.example ESMTP\r\n", |line| {
        if line.starts_with("EHLO") {
            Some("250-mx.example\r\n250 AUTH PLAIN LOGIN\r\n".into())
        } else {
            standard(line)
        }
    });
    let (s, table) = sasl_setup(port, "pw", "");
    let req = message(&s, port, &["a@remote.example"], b"hi\n", false);
    let resp = handle(&s.settings, &req);
    h.join().unwrap();
    let _ = std::fs::remove_file(&table);
    assert_eq!(outcomes(&resp), vec![Outcome::Deferred]);
    assert_eq!(
        resp.results[0].reason,
        "SASL authentication failed; cannot authenticate to server 127.0.0.1[127.0.0.1]: no mechanism available"
    );
}

#[test]
fn lmtp_gets_one_reply_per_recipient() {
    let s = setup_for("lmtp_lhlo_name = client.example\n", Protocol::Lmtp);
    let (port, h) = server("220 lmtp.example LMTP\r\n", |line| {
        Some(if line.starts_with("LHLO") {
            "250-lmtp.example\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n".into()
        } else if line == "." {
            concat!(
                "250 2.0.0 <a@d> delivered\r\n",
                "552 5.2.2 <b@d> mailbox full\r\n",
                "451 4.3.0 <c@d> try later\r\n"
            )
            .into()
        } else {
            return standard(line);
        })
    });
    let req = message(&s, port, &["a@d", "b@d", "c@d"], b"hi\n", false);
    let resp = handle(&s.settings, &req);
    let seen = h.join().unwrap();
    assert_eq!(seen[0].1, "LHLO client.example");
    assert_eq!(
        outcomes(&resp),
        vec![Outcome::Sent, Outcome::Bounced, Outcome::Deferred]
    );
    assert_eq!(resp.results[0].reason, "250 2.0.0 <a@d> delivered");
    assert_eq!(
        resp.results[1].reason,
        "host 127.0.0.1[127.0.0.1] said: 552 5.2.2 <b@d> mailbox full (in reply to end of DATA command)"
    );
    assert_eq!(resp.results[2].dsn, "4.3.0");
}

#[test]
fn many_recipients_are_pipelined_in_batches() {
    let s = setup("");
    let (port, h) = server("220 mx.example ESMTP\r\n", standard);
    let names: Vec<String> = (0..300)
        .map(|i| format!("user{i:03}@remote.example"))
        .collect();
    let rcpts: Vec<&str> = names.iter().map(String::as_str).collect();
    let req = message(&s, port, &rcpts, b"hi\n", false);
    let resp = handle(&s.settings, &req);
    let seen = h.join().unwrap();
    assert!(resp.results.iter().all(|r| r.outcome == Outcome::Sent));
    let first = seen.iter().find(|(_, l)| l.starts_with("MAIL")).unwrap().0;
    let data = seen.iter().find(|(_, l)| l == "DATA").unwrap().0;
    assert!(data > first, "more than one batch: {first} {data}");
    assert_eq!(
        seen.iter().filter(|(_, l)| l.starts_with("RCPT")).count(),
        300
    );
}

#[test]
fn long_lines_are_broken_with_crlf_space() {
    let s = setup("smtp_line_length_limit = 10\n");
    let (port, h) = server("220 mx.example ESMTP\r\n", standard);
    let req = message(
        &s,
        port,
        &["a@remote.example"],
        b"Subject: x\n\n0123456789abcdefghijklmnopqrstuvwxyz\nshort\n",
        false,
    );
    let resp = handle(&s.settings, &req);
    let seen: Vec<String> = h.join().unwrap().into_iter().map(|(_, l)| l).collect();
    assert_eq!(outcomes(&resp), vec![Outcome::Sent]);
    let start = seen.iter().position(|l| l == "DATA").unwrap();
    assert_eq!(
        &seen[start + 1..],
        &[
            "Subject: x",
            "",
            "0123456789",
            " abcdefghi",
            " jklmnopqr",
            " stuvwxyz",
            "short",
            ".",
            "QUIT"
        ]
    );
}

#[test]
fn opportunistic_tls_falls_back_to_plaintext() {
    let s = setup("smtp_tls_security_level = may\n");
    let (port, h) = server_n(2, "220 mx.example ESMTP\r\n", |line| {
        Some(if line.starts_with("EHLO") {
            "250-mx.example\r\n250 STARTTLS\r\n".into()
        } else if line == "STARTTLS" {
            "220 2.0.0 Ready to start TLS\r\n".into()
        } else {
            return standard(line);
        })
    });
    let req = message(&s, port, &["a@remote.example"], b"hi\n", false);
    let resp = handle(&s.settings, &req);
    let seen: Vec<String> = h.join().unwrap().into_iter().map(|(_, l)| l).collect();
    assert_eq!(outcomes(&resp), vec![Outcome::Sent], "{resp:?}");
    let second = seen.iter().rposition(|l| l == "CONNECT").unwrap();
    assert!(seen[..second].iter().any(|l| l == "STARTTLS"), "{seen:?}");
    assert!(!seen[second..].iter().any(|l| l == "STARTTLS"), "{seen:?}");
    assert!(seen[second..].iter().any(|l| l.starts_with("MAIL FROM:")));
}

#[test]
fn tls_policy_maps_can_require_tls() {
    let (port, h) = server("220 mx.example ESMTP\r\n", standard);
    let table = std::env::temp_dir().join(format!(
        "tls-policy-{}-{port}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::write(&table, format!("[127.0.0.1]:{port} encrypt\n")).unwrap();
    let s = setup(&format!(
        "smtp_tls_policy_maps = texthash:{}\n",
        table.display()
    ));
    let req = message(&s, port, &["a@remote.example"], b"hi\n", false);
    let resp = handle(&s.settings, &req);
    let seen = h.join().unwrap();
    let _ = std::fs::remove_file(&table);
    assert_eq!(outcomes(&resp), vec![Outcome::Deferred]);
    assert_eq!(resp.results[0].dsn, "4.7.4");
    assert_eq!(
        resp.results[0].reason,
        "TLS is required, but was not offered by host 127.0.0.1[127.0.0.1]"
    );
    assert!(!seen.iter().any(|(_, l)| l.starts_with("MAIL")));
}

#[test]
fn a_second_request_reuses_the_cached_session() {
    let s = setup("smtp_connection_cache_on_demand = yes\n");
    let (port, h) = server("220 mx.example ESMTP\r\n", standard);
    let first = message(&s, port, &["a@remote.example"], b"one\n", false);
    let second = message(&s, port, &["b@remote.example"], b"two\n", false);
    assert_eq!(outcomes(&handle(&s.settings, &first)), vec![Outcome::Sent]);
    assert_eq!(outcomes(&handle(&s.settings, &second)), vec![Outcome::Sent]);
    // The reaper says QUIT after smtp_connection_cache_time_limit (2s).
    let seen: Vec<String> = h.join().unwrap().into_iter().map(|(_, l)| l).collect();
    assert_eq!(
        seen,
        vec![
            "EHLO client.example",
            "MAIL FROM:<sender@example.org> SIZE=5",
            "RCPT TO:<a@remote.example> NOTIFY=FAILURE",
            "DATA",
            "one",
            ".",
            "RSET",
            "MAIL FROM:<sender@example.org> SIZE=5",
            "RCPT TO:<b@remote.example> NOTIFY=FAILURE",
            "DATA",
            "two",
            ".",
            "QUIT"
        ]
    );
}

#[test]
fn fallback_relay_takes_what_the_destination_cannot() {
    let (port, h) = server("220 fallback.example ESMTP\r\n", standard);
    let s = setup(&format!("smtp_fallback_relay = [127.0.0.1]:{port}\n"));
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut req = message(&s, closed, &["a@remote.example"], b"hi\n", false);
    let resp = handle(&s.settings, &req);
    h.join().unwrap();
    assert_eq!(outcomes(&resp), vec![Outcome::Sent], "{resp:?}");
    assert_eq!(
        resp.results[0].relay,
        format!("127.0.0.1[127.0.0.1]:{port}")
    );

    // A destination that cannot be found goes to the fallback too.
    let (port2, h) = server("220 fallback.example ESMTP\r\n", standard);
    let s = setup(&format!(
        "smtp_fallback_relay = [127.0.0.1]:{port2}\nsmtp_host_lookup = native\n"
    ));
    req = message(&s, closed, &["b@remote.example"], b"hi\n", false);
    req.nexthop = "[no-such-host.invalid]".into();
    let resp = handle(&s.settings, &req);
    h.join().unwrap();
    assert_eq!(outcomes(&resp), vec![Outcome::Sent], "{resp:?}");
}

#[test]
fn eight_bit_bodies_and_dsn_envelope_parameters() {
    let s = setup("");
    let (port, h) = server("220 mx.example ESMTP\r\n", standard);
    let req = message_with(
        &s,
        port,
        &["a@remote.example"],
        "Subject: caf\u{e9}\n\ncaf\u{e9}\n".as_bytes(),
        false,
        Some(queue::DsnRet::Hdrs),
        Some("id+1"),
    );
    let resp = handle(&s.settings, &req);
    let seen = h.join().unwrap();
    assert_eq!(outcomes(&resp), vec![Outcome::Sent]);
    let mail = &seen.iter().find(|(_, l)| l.starts_with("MAIL")).unwrap().1;
    assert!(
        mail.ends_with(" BODY=8BITMIME RET=HDRS ENVID=id+2B1"),
        "{mail}"
    );
}

/// A smtp_bind_address this host does not have: Postfix logs the failed
/// bind and connects from the system's choice; with
/// smtp_bind_address_enforce the delivery waits instead.
/// A server that greets its one client with 421; the client's address.
fn greet_421(l: TcpListener) -> std::thread::JoinHandle<std::net::IpAddr> {
    std::thread::spawn(move || {
        let (mut c, peer) = l.accept().unwrap();
        let _ = c.write_all(b"421 4.3.2 not today\r\n");
        peer.ip()
    })
}

#[test]
fn a_bind_address_that_fails_is_left_out_unless_enforced() {
    let config = |enforce: &str| {
        setup(&format!(
            "smtp_bind_address = 192.0.2.1\nsmtp_bind_address_enforce = {enforce}\n"
        ))
    };
    // Left out: connected from the system's choice.
    let s = config("no");
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = greet_421(l);
    let req = message(&s, port, &["a@remote.example"], b"hi\n", false);
    let resp = handle(&s.settings, &req);
    assert_eq!(h.join().unwrap().to_string(), "127.0.0.1");
    assert!(resp.results[0].reason.contains("421 4.3.2 not today"));
    // Enforced: no connection, the delivery waits.
    let s = config("yes");
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let port = l.local_addr().unwrap().port();
    let req = message(&s, port, &["a@remote.example"], b"hi\n", false);
    let resp = handle(&s.settings, &req);
    assert!(l.accept().is_err(), "no connection was made");
    assert_eq!(outcomes(&resp), vec![Outcome::Deferred]);
    assert_eq!(
        resp.results[0].reason,
        format!("connect to 127.0.0.1[127.0.0.1]:{port}: bind 192.0.2.1: Cannot assign requested address")
    );
}

#[test]
fn smtp_bind_address_is_the_source_address() {
    let s = setup("smtp_bind_address = 127.0.0.2\n");
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = greet_421(l);
    let req = message(&s, port, &["a@remote.example"], b"hi\n", false);
    let resp = handle(&s.settings, &req);
    assert_eq!(h.join().unwrap().to_string(), "127.0.0.2");
    assert_eq!(outcomes(&resp), vec![Outcome::Deferred]);

    // A refused connection from a bound address reads as any other.
    let req = message(&s, port, &["b@remote.example"], b"hi\n", false);
    let resp = handle(&s.settings, &req);
    assert_eq!(
        resp.results[0].reason,
        format!("connect to 127.0.0.1[127.0.0.1]:{port}: Connection refused")
    );
}
