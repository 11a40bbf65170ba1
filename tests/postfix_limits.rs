//! Parameters that were accepted but had no effect, end to end with the
//! real master: header_address_token_limit, virtual_alias_address_length_limit,
//! smtputf8_autodetect_classes, detect_8bit_encoding_header (cleanup),
//! strict_smtputf8 (smtpd) and sendmail_fix_line_endings (sendmail →
//! postdrop → pickup → cleanup). What each does was checked against a
//! private Postfix 3.7.

use ipc::cleanup::{flags, notify, Envelope, Recipient, Reply, Source, Status};
use kit::{wait_until, CleanupConn, Instance, LineClient};
use std::path::Path;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

fn cleanup_instance(name: &str, extra: &str) -> Instance {
    let inst = Instance::new(name);
    inst.main_cf(&format!("myorigin = example.test\n{extra}"));
    inst.master_cf("cleanup unix n - n - 0 cleanup\n");
    inst.start();
    inst
}

/// Content frames of this size.
const CHUNK: usize = 60000;

struct Conn;

impl Conn {
    fn open(inst: &Instance, source: Source, fl: u32) -> (CleanupConn, String) {
        CleanupConn::open(inst, source, fl, CHUNK)
    }
}

fn envelope(sender: &str, rcpts: &[&str], attributes: Vec<(String, String)>) -> Envelope {
    Envelope {
        sender: sender.into(),
        arrival: 1_800_000_000,
        attributes,
        recipients: rcpts
            .iter()
            .map(|r| Recipient {
                address: r.to_string(),
                orcpt: None,
                notify: notify::NEVER,
            })
            .collect(),
        ..Envelope::default()
    }
}

fn remote() -> Vec<(String, String)> {
    vec![
        ("client_name".into(), "client.example".into()),
        ("client_address".into(), "192.0.2.7".into()),
        ("protocol_name".into(), "ESMTP".into()),
    ]
}

/// The queue file of a message cleanup queued: envelope, extracted part, text.
fn queued(inst: &Instance, id: &str) -> (queue::Envelope, queue::Extracted, String) {
    let path = inst.dir.join("queue/incoming").join(id);
    let mut qf = queue::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = String::from_utf8_lossy(&qf.content_bytes(b"\n").expect("content")).into_owned();
    (qf.envelope.clone(), qf.extracted.clone(), text)
}

/// Sends one message; it must be queued.
fn enqueue(
    inst: &Instance,
    source: Source,
    fl: u32,
    env: Envelope,
    content: &[u8],
) -> (queue::Envelope, queue::Extracted, String) {
    let (c, id) = Conn::open(inst, source, fl);
    let reply = c.message(env, content);
    assert!(
        matches!(
            reply,
            Reply::Done {
                status: Status::Queued,
                ..
            }
        ),
        "{reply:?}\n{}",
        inst.maillog()
    );
    queued(inst, &id)
}

/// Only the first header_address_token_limit tokens of an address header
/// are parsed: a rewrite that changes them rebuilds the header from them
/// alone; the addresses past the limit are not completed. Postfix 3.7
/// still takes all of them as recipients for sendmail -t.
#[test]
fn header_address_token_limit_bounds_header_rewriting() {
    let inst = cleanup_instance("limits-tokens", "header_address_token_limit = 7\n");
    let env = envelope("me@example.test", &["you@x.test"], vec![]);
    let (_, _, text) = enqueue(
        &inst,
        Source::Pickup,
        0,
        env.clone(),
        b"To: a1@x.test, a2@x.test, a3\nCc: c1@x.test, c2@x.test, c3\nSubject: t\n\nbody\n",
    );
    // a1 @ x . test , a2: the 7th token is the last one looked at.
    assert!(
        text.contains("\nTo: a1@x.test, a2@example.test\n"),
        "{text}"
    );
    assert!(
        text.contains("\nCc: c1@x.test, c2@example.test\n"),
        "{text}"
    );
    // Nothing changes in the first 7 tokens: the header stays whole.
    let (_, x, text) = enqueue(
        &inst,
        Source::Pickup,
        flags::EXTRACT_RECIPIENTS,
        envelope("me@example.test", &[], vec![]),
        b"To: a1@x.test, a2@x.test, a3\nSubject: t\n\nbody\n",
    );
    let _ = text;
    let rcpts: Vec<&str> = x.recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(rcpts, ["a1@x.test", "a2@x.test", "a3@example.test"]);
}

/// A header of 100,000 addresses (sendmail -t) costs neither the message
/// nor unbounded time: each address becomes a recipient once, and the
/// header is parsed for rewriting only up to the token limit.
#[test]
fn a_header_of_100000_addresses_is_queued() {
    let inst = cleanup_instance("limits-huge-header", "header_size_limit = 4000000\n");
    let mut content = b"To: u0@x.test".to_vec();
    for i in 1..100_000 {
        content.extend_from_slice(format!(",\n\tu{i}@x.test").as_bytes());
    }
    // A repeat is a recipient once.
    content.extend_from_slice(b",\n\tu7@x.test, last\nSubject: many\n\nbody\n");
    let (_, x, text) = enqueue(
        &inst,
        Source::Pickup,
        flags::EXTRACT_RECIPIENTS,
        envelope("me@example.test", &[], vec![]),
        &content,
    );
    assert_eq!(x.recipients.len(), 100_001);
    assert_eq!(x.recipients[99_999].address, "u99999@x.test");
    assert_eq!(x.recipients[100_000].address, "last@example.test");
    // Rewriting sees only the first header_address_token_limit tokens,
    // which end inside an address ("u1706@x."): its trailing dot goes, so
    // the header is rebuilt from what was seen and folded, as Postfix 3.7
    // rebuilds it (compared with postcat).
    assert!(
        text.contains("To: u0@x.test, u1@x.test, u2@x.test, u3@x.test, u4@x.test, u5@x.test,\n\tu6@x.test, u7@x.test,"),
        "{}",
        &text[..text.len().min(300)]
    );
    assert!(text.contains(" u1705@x.test, u1706@x\nSubject: many\n"));
    assert!(text.lines().all(|l| l.len() < 80));
}

/// An alias that expands to an address longer than
/// virtual_alias_address_length_limit keeps the message out, as Postfix:
/// a warning with the result (300 characters of it) and 451 4.6.0.
#[test]
fn virtual_alias_address_length_limit_refuses_long_results() {
    let long = format!("{}@x.test", "l".repeat(994)); // 1001 characters
    let ok = format!("{}@x.test", "k".repeat(993)); // 1000
    let inst = cleanup_instance(
        "limits-alias-length",
        &format!(
            "virtual_alias_maps = inline:{{ long@example.test={long}, ok@example.test={ok} }}\n"
        ),
    );
    let (c, id) = Conn::open(&inst, Source::Smtpd, 0);
    assert_eq!(
        c.message(
            envelope("s@example.org", &["long@example.test"], remote()),
            b"Subject: x\n\nx\n"
        ),
        Reply::Done {
            status: Status::TryAgain,
            text: "451 4.6.0 Alias expansion error".into()
        }
    );
    let shown = "l".repeat(300);
    assert!(
        inst.wait_log(
            &format!("warning: {id}: unreasonable virtual_alias_maps result {shown}... -- message not accepted, try again later"),
            1,
            5 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    let (env, _, _) = enqueue(
        &inst,
        Source::Smtpd,
        0,
        envelope("s@example.org", &["ok@example.test"], remote()),
        b"Subject: x\n\nx\n",
    );
    assert_eq!(env.recipients[0].address, ok);
    let inst2 = cleanup_instance(
        "limits-alias-length2",
        &format!("virtual_alias_address_length_limit = 2000\nvirtual_alias_maps = inline:{{ long@example.test={long} }}\n"),
    );
    let (env, _, _) = enqueue(
        &inst2,
        Source::Smtpd,
        0,
        envelope("s@example.org", &["long@example.test"], remote()),
        b"Subject: x\n\nx\n",
    );
    assert_eq!(env.recipients[0].address, long);
}

/// smtputf8_autodetect_classes (sendmail, verify): mail posted with
/// sendmail and address probes are flagged SMTPUTF8 when their envelope or
/// headers hold UTF-8; mail from smtpd only when the class names it.
#[test]
fn smtputf8_autodetect_classes_flag_utf8_mail() {
    let inst = cleanup_instance("limits-utf8", "");
    let flagged = |source: Source, sender: &str, rcpt: &str, attrs, content: &[u8]| {
        enqueue(&inst, source, 0, envelope(sender, &[rcpt], attrs), content)
            .0
            .smtputf8
    };
    let utf8_header = "Subject: caf\u{e9}\n\nbody\n".as_bytes();
    let ascii = b"Subject: cafe\n\nbody\n";
    assert!(flagged(
        Source::Pickup,
        "me@example.test",
        "you@x.test",
        vec![],
        utf8_header
    ));
    assert!(flagged(
        Source::Pickup,
        "j\u{f6}rg@example.test",
        "you@x.test",
        vec![],
        ascii
    ));
    assert!(flagged(
        Source::Pickup,
        "me@example.test",
        "j\u{f6}rg@x.test",
        vec![],
        ascii
    ));
    assert!(!flagged(
        Source::Pickup,
        "me@example.test",
        "you@x.test",
        vec![],
        ascii
    ));
    // UTF-8 in the body is not what it looks at.
    assert!(!flagged(
        Source::Pickup,
        "me@example.test",
        "you@x.test",
        vec![],
        "Subject: x\n\ncaf\u{e9}\n".as_bytes()
    ));
    // smtpd is not in the default classes.
    assert!(!flagged(
        Source::Smtpd,
        "me@example.test",
        "you@x.test",
        remote(),
        utf8_header
    ));
    // A probe is "verify"; the mail system's other mail is not named.
    let probe = vec![(
        ipc::cleanup::ADDRESS_VERIFY_PROBE.to_string(),
        "yes".to_string(),
    )];
    assert!(flagged(
        Source::Internal,
        "",
        "j\u{f6}rg@x.test",
        probe,
        ascii
    ));
    assert!(!flagged(
        Source::Internal,
        "",
        "j\u{f6}rg@x.test",
        vec![],
        ascii
    ));

    let inst = cleanup_instance("limits-utf8-smtpd", "smtputf8_autodetect_classes = smtpd\n");
    let (env, _, _) = enqueue(
        &inst,
        Source::Smtpd,
        0,
        envelope("me@example.test", &["you@x.test"], remote()),
        utf8_header,
    );
    assert!(env.smtputf8);
    let (env, _, _) = enqueue(
        &inst,
        Source::Pickup,
        0,
        envelope("me@example.test", &["you@x.test"], vec![]),
        utf8_header,
    );
    assert!(!env.smtputf8);
}

/// detect_8bit_encoding_header: `Content-Transfer-Encoding: 8bit` (or
/// binary) in the message header makes the queue file say encoding=8bit,
/// even over a declared 7BIT; `no` leaves the encoding to the envelope.
#[test]
fn detect_8bit_encoding_header_sets_the_encoding() {
    let content = b"Subject: x\nMIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\n\nascii only\n";
    let inst = cleanup_instance("limits-8bit", "");
    let env = envelope("me@example.test", &["you@x.test"], vec![]);
    let (q, _, _) = enqueue(&inst, Source::Pickup, 0, env.clone(), content);
    assert_eq!(q.attrs.encoding, Some(queue::Encoding::EightBit));
    let mut seven = env.clone();
    seven.body = ipc::cleanup::Body::SevenBit;
    let (q, _, _) = enqueue(
        &inst,
        Source::Pickup,
        0,
        seven.clone(),
        b"Subject: x\nContent-Transfer-Encoding:  BINARY\n\nx\n",
    );
    assert_eq!(q.attrs.encoding, Some(queue::Encoding::EightBit));
    let (q, _, _) = enqueue(
        &inst,
        Source::Pickup,
        0,
        seven.clone(),
        b"Subject: x\nContent-Transfer-Encoding: quoted-printable\n\nx\n",
    );
    assert_eq!(q.attrs.encoding, Some(queue::Encoding::SevenBit));
    let inst = cleanup_instance("limits-8bit-no", "detect_8bit_encoding_header = no\n");
    let (q, _, _) = enqueue(&inst, Source::Pickup, 0, env, content);
    assert_eq!(q.attrs.encoding, None);
}

fn smtpd_instance(name: &str, extra: &str) -> (Instance, u16) {
    let inst = Instance::new(name);
    inst.main_cf(&format!(
        "alias_maps =\nsmtpd_error_sleep_time = 0\nmynetworks = 127.0.0.1/32\n{extra}"
    ));
    inst.master_cf("127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\n");
    inst.start();
    let port = inst.port("127.0.0.1:0");
    (inst, port)
}

/// strict_smtputf8 = no (Postfix's default) takes UTF-8 addresses from a
/// client that did not ask for SMTPUTF8; yes refuses them with 553 5.6.7.
#[test]
fn strict_smtputf8_decides_about_utf8_without_smtputf8() {
    for (strict, mail, rcpt) in [
        ("no", "250 2.1.0 Ok", "250 2.1.5 Ok"),
        (
            "yes",
            "553 5.6.7 Must declare SMTPUTF8 to send unicode address",
            "553 5.6.7 Must declare SMTPUTF8 to send unicode address",
        ),
    ] {
        let (inst, port) = smtpd_instance(
            &format!("limits-strict-{strict}"),
            &format!("strict_smtputf8 = {strict}\n"),
        );
        let mut c = LineClient::connect(port);
        assert!(c.read_line().is_some_and(|l| l.starts_with("220 ")));
        assert!(c
            .ask_crlf("HELO client.example")
            .is_some_and(|l| l.starts_with("250 ")));
        let got = c.ask_crlf("MAIL FROM:<j\u{f6}rg@example.com>");
        assert_eq!(got.as_deref(), Some(mail), "{}", inst.maillog());
        assert_eq!(c.ask_crlf("RSET").as_deref(), Some("250 2.0.0 Ok"));
        assert_eq!(
            c.ask_crlf("MAIL FROM:<a@example.com>").as_deref(),
            Some("250 2.1.0 Ok")
        );
        let got = c.ask_crlf("RCPT TO:<b\u{f8}@example.test>");
        assert_eq!(got.as_deref(), Some(rcpt), "{}", inst.maillog());
        // With SMTPUTF8 they are taken either way.
        assert_eq!(c.ask_crlf("RSET").as_deref(), Some("250 2.0.0 Ok"));
        assert_eq!(
            c.ask_crlf("MAIL FROM:<j\u{f6}rg@example.com> SMTPUTF8")
                .as_deref(),
            Some("250 2.1.0 Ok")
        );
        assert_eq!(
            c.ask_crlf("RCPT TO:<b\u{f8}@example.test>").as_deref(),
            Some("250 2.1.5 Ok")
        );
        let _ = c.ask_crlf("QUIT");
    }
}

fn sendmail_instance(name: &str, extra: &str) -> Instance {
    let inst = Instance::new(name);
    inst.main_cf(&format!("myorigin = example.test\n{extra}"));
    inst.master_cf("pickup unix n - n 60 1 pickup\ncleanup unix n - n - 0 cleanup\n");
    inst.start();
    inst
}

/// The one message queued in `incoming/`, as its records' text.
fn only_queued(inst: &Instance) -> Vec<u8> {
    let incoming = inst.dir.join("queue/incoming");
    let files = |dir: &Path| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        !p.file_name()
                            .is_some_and(|n| n.to_string_lossy().contains('.'))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(
        wait_until(10 * SECOND, || files(&incoming).len() == 1),
        "{}",
        inst.maillog()
    );
    let path = &files(&incoming)[0];
    let mut qf = queue::open(path).expect("valid queue file");
    let text = qf.content_bytes(b"\n").expect("content");
    std::fs::remove_file(path).expect("remove");
    text
}

/// sendmail_fix_line_endings, to the byte of the stored message as Postfix
/// 3.7 stores it (with cleanup_replace_stray_cr_lf = no): `always` takes
/// every CR before a LF off; `strict` only when the first line ends in
/// CRLF; `never` leaves them, and ".\r" does not end the input.
#[test]
fn sendmail_fix_line_endings_decides_what_is_stored() {
    let crlf_first = b"Subject: x\r\nX: y\n\nline2\r\r\nmid\rx\r\n.\r\nafter\n";
    let lf_first = b"Subject: x\nX: y\r\n\nline2\r\r\n.\r\nafter\n";
    let body = |text: &[u8]| {
        let at = text
            .windows(11)
            .position(|w| w == b"\nSubject: x")
            .expect("the Subject header");
        // (less the headers cleanup adds to local mail)
        text[at + 1..]
            .split_inclusive(|&b| b == b'\n')
            .filter(|l| {
                ![&b"Message-Id: "[..], b"Date: ", b"From: "]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .flatten()
            .copied()
            .collect::<Vec<u8>>()
    };
    let cases: [(&str, &[u8], &[u8]); 5] = [
        ("always", crlf_first, b"Subject: x\nX: y\n\nline2\nmid\rx\n"),
        ("strict", crlf_first, b"Subject: x\nX: y\n\nline2\nmid\rx\n"),
        (
            "strict",
            lf_first,
            b"Subject: x\nX: y\r\n\nline2\r\r\n.\r\nafter\n",
        ),
        (
            "never",
            crlf_first,
            b"Subject: x\r\nX: y\n\nline2\r\r\nmid\rx\r\n.\r\nafter\n",
        ),
        ("always", lf_first, b"Subject: x\nX: y\n\nline2\n"),
    ];
    for mode in ["always", "strict", "never"] {
        let inst = sendmail_instance(
            &format!("limits-eol-{mode}"),
            &format!("sendmail_fix_line_endings = {mode}\n"),
        );
        for (m, input, want) in cases.iter().filter(|c| c.0 == mode) {
            let out = inst.sendmail(&["-f", "me@example.test", "you@x.test"], input);
            assert!(out.status.success(), "{out:?}");
            let text = only_queued(&inst);
            assert_eq!(
                String::from_utf8_lossy(&body(&text)),
                String::from_utf8_lossy(want),
                "{m}: {}",
                String::from_utf8_lossy(input)
            );
        }
    }
    // A value Postfix does not know stops sendmail (EX_TEMPFAIL, as Postfix).
    let inst = sendmail_instance("limits-eol-bad", "sendmail_fix_line_endings = sometimes\n");
    let out = inst.sendmail(&["you@x.test"], b"Subject: x\n\nx\n");
    assert_eq!(out.status.code(), Some(75), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("invalid sendmail_fix_line_endings value: sometimes"));
}
