//! cleanup end to end: the real master runs cleanup on `public/cleanup`;
//! the test speaks the cleanup protocol as smtpd and pickup do, then reads
//! the queue file with the queue crate's validating reader.

use ipc::cleanup::{flags, notify, Body, Envelope, Recipient, Reply, Request, Source, Status};
use kit::{wait_until, CleanupConn, Instance};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

fn instance(name: &str, extra: &str) -> Instance {
    let inst = Instance::new(name);
    inst.main_cf(&format!("myorigin = example.test\n{extra}"));
    inst.master_cf("cleanup unix n - n - 0 cleanup\n");
    inst.start();
    inst
}

/// Content frames of this size.
const CHUNK: usize = 7000;

struct Conn;

impl Conn {
    fn open(inst: &Instance, source: Source, fl: u32) -> (CleanupConn, String) {
        CleanupConn::open(inst, source, fl, CHUNK)
    }
}

fn smtp_envelope(sender: &str, rcpts: &[&str]) -> Envelope {
    Envelope {
        sender: sender.into(),
        arrival: 1_800_000_000,
        body: Body::EightBitMime,
        attributes: vec![
            ("client_name".into(), "client.example".into()),
            ("client_address".into(), "192.0.2.7".into()),
            ("helo_name".into(), "helo.example".into()),
            ("protocol_name".into(), "ESMTP".into()),
        ],
        recipients: rcpts
            .iter()
            .map(|r| Recipient {
                address: r.to_string(),
                orcpt: None,
                notify: notify::FAILURE,
            })
            .collect(),
        ..Envelope::default()
    }
}

/// Sends one message through a new connection from `source`; it must be
/// queued. Its ID and the queue file's envelope, extracted part and text.
fn enqueue(
    inst: &Instance,
    source: Source,
    env: Envelope,
    content: &[u8],
) -> (String, queue::Envelope, queue::Extracted, String) {
    let (c, id) = Conn::open(inst, source, 0);
    assert!(matches!(
        c.message(env, content),
        Reply::Done {
            status: Status::Queued,
            ..
        }
    ));
    let (env, x, text) = queued(inst, "incoming", &id);
    (id, env, x, text)
}

fn queued(inst: &Instance, dir: &str, id: &str) -> (queue::Envelope, queue::Extracted, String) {
    let path: PathBuf = inst.dir.join("queue").join(dir).join(id);
    let mut qf = queue::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = String::from_utf8(qf.content_bytes(b"\n").expect("content")).expect("utf8");
    (qf.envelope.clone(), qf.extracted.clone(), text)
}

#[test]
fn a_message_from_smtpd_is_queued_with_a_received_header_and_exact_content() {
    let inst = instance("cleanup-basic", "");
    let (c, id) = Conn::open(&inst, Source::Smtpd, 0);
    let body = "Subject: hi\r\nFrom: a@remote.example\r\n\r\nline one\r\n.leading dot kept\r\n\r\nÜmlaut 8-bit\r\n";
    assert_eq!(
        c.message(
            smtp_envelope("a@remote.example", &["bob@example.test"]),
            body.as_bytes()
        ),
        Reply::Done {
            status: Status::Queued,
            text: String::new()
        }
    );
    let (env, _, text) = queued(&inst, "incoming", &id);
    assert_eq!(env.sender, "a@remote.example");
    assert_eq!(env.recipients.len(), 1);
    assert_eq!(env.recipients[0].address, "bob@example.test");
    assert_eq!(
        env.recipients[0].dsn_notify.map(|n| n.0),
        Some(notify::FAILURE)
    );
    let expected_received = format!(
        "Received: from helo.example (client.example [192.0.2.7])\n\tby mail.example.test (mailsuite) with ESMTP id {id}\n\tfor <bob@example.test>; "
    );
    assert!(text.starts_with(&expected_received), "{text}");
    assert!(
        text.ends_with(
            "Subject: hi\nFrom: a@remote.example\n\nline one\n.leading dot kept\n\nÜmlaut 8-bit\n"
        ),
        "{text}"
    );
    // A remote client does not get headers added.
    assert!(!text.contains("Message-Id:"));
    assert!(inst.wait_log(&format!("{id}: message-id=<>"), 1, 5 * SECOND));
}

/// Every CR before a line's LF goes with the line end, in the headers and
/// the body alike (Postfix's smtp_get); a CR inside a line stays.
#[test]
fn crs_before_a_line_end_go_with_it() {
    let inst = instance("cleanup-crs", "");
    let body = "Subject: hi\r\r\nFrom: a@remote.example\r\n\r\nbody\r\r\r\nmid\rdle\r\n";
    let (_, _, _, text) = enqueue(
        &inst,
        Source::Smtpd,
        smtp_envelope("a@remote.example", &["bob@example.test"]),
        body.as_bytes(),
    );
    assert!(
        text.ends_with("Subject: hi\nFrom: a@remote.example\n\nbody\nmid\rdle\n"),
        "{text:?}"
    );
}

#[test]
fn a_local_submission_gets_missing_headers_and_myorigin() {
    let inst = instance("cleanup-local", "");
    let mut env = smtp_envelope("root", &["dream"]);
    env.attributes = vec![("uid".into(), "0".into())];
    let (id, env, _, text) = enqueue(&inst, Source::Pickup, env, b"Subject: local\n\nhello\n");
    assert_eq!(env.sender, "root@example.test");
    assert_eq!(env.recipients[0].address, "dream@example.test");
    assert_eq!(env.recipients[0].original.as_deref(), Some("dream"));
    assert!(
        text.starts_with(&format!(
            "Received: by mail.example.test (mailsuite, from userid 0)\n\tid {id}; "
        )),
        "{text}"
    );
    let mid = format!("Message-Id: <20270115080000.{id}@mail.example.test>");
    assert!(
        text.contains(&mid) || text.contains(&format!(".{id}@mail.example.test>")),
        "{text}"
    );
    assert!(text.contains("\nDate: "), "{text}");
    assert!(text.contains("\nFrom: root@example.test\n"), "{text}");
    assert!(inst.wait_log(&format!("{id}: message-id=<"), 1, 5 * SECOND));
}

#[test]
fn sendmail_t_takes_recipients_from_the_headers_and_drops_bcc() {
    let inst = instance("cleanup-extract", "");
    let (c, id) = Conn::open(&inst, Source::Pickup, flags::EXTRACT_RECIPIENTS);
    let env = Envelope {
        sender: "alice".into(),
        arrival: 1_800_000_000,
        ..Envelope::default()
    };
    let msg = b"To: Bob <bob@example.test>, carol\nCc: dave@example.test, \"e f\"@example.test\nBcc: secret@example.test\nSubject: t\n\nbody\n";
    assert!(matches!(
        c.message(env, msg),
        Reply::Done {
            status: Status::Queued,
            ..
        }
    ));
    let (_, extracted, text) = queued(&inst, "incoming", &id);
    let got: Vec<&str> = extracted
        .recipients
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    assert_eq!(
        got,
        vec![
            "bob@example.test",
            "carol@example.test",
            "dave@example.test",
            // In internal form, as every envelope address.
            "e f@example.test",
            "secret@example.test"
        ]
    );
    assert!(!text.contains("Bcc:"), "{text}");
}

#[test]
fn header_and_body_checks_reject_hold_discard_and_rewrite() {
    let inst = instance(
        "cleanup-checks",
        "header_checks = inline:{ {/^Subject:.*secret/ REJECT Sensitive words are not allowed}, {/^Subject:.*audit/ HOLD}, {/^X-Drop:/ DISCARD}, {/^X-Internal:/ IGNORE} }\nbody_checks = inline:{ {/confidential/ REJECT 554 body says no} }\n",
    );
    // inline tables take literal keys; the patterns need regexp tables.
    std::fs::write(
        inst.dir.join("header_checks"),
        "/^Subject:.*secret/ REJECT Sensitive words are not allowed\n/^Subject:.*audit/ HOLD\n/^X-Drop:/ DISCARD\n/^X-Internal:/ IGNORE\n",
    )
    .expect("write");
    std::fs::write(
        inst.dir.join("body_checks"),
        "/confidential/ REJECT 554 body says no\n",
    )
    .expect("write");
    let out = inst.postconf(&[
        "-e",
        &format!(
            "header_checks = regexp:{}",
            inst.dir.join("header_checks").display()
        ),
        &format!(
            "body_checks = regexp:{}",
            inst.dir.join("body_checks").display()
        ),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(inst.mailsuite(&["reload"]).status.success());
    assert!(inst.wait_log("reload -- version", 1, 5 * SECOND));
    std::thread::sleep(Duration::from_millis(300));

    let env = || smtp_envelope("a@remote.example", &["bob@example.test"]);
    let (c, _) = Conn::open(&inst, Source::Smtpd, 0);
    assert_eq!(
        c.message(env(), b"Subject: top secret\n\nx\n"),
        Reply::Done {
            status: Status::Rejected,
            text: "550 5.7.1 Sensitive words are not allowed".into()
        }
    );
    assert!(
        inst.wait_log(
            "reject: header Subject: top secret from client.example[192.0.2.7]",
            1,
            5 * SECOND
        ),
        "{}",
        inst.maillog()
    );

    let (c, _) = Conn::open(&inst, Source::Smtpd, 0);
    assert_eq!(
        c.message(env(), b"Subject: ok\n\nthis is confidential\n"),
        Reply::Done {
            status: Status::Rejected,
            text: "554 5.7.1 body says no".into()
        }
    );
    // body_checks_size_limit (51200): what lies past it is not inspected.
    let mut big = b"Subject: ok\n\n".to_vec();
    while big.len() < 52_000 {
        big.extend_from_slice(&[b'x'; 99]);
        big.push(b'\n');
    }
    big.extend_from_slice(b"this is confidential\n");
    let (c, _) = Conn::open(&inst, Source::Smtpd, 0);
    assert!(matches!(
        c.message(env(), &big),
        Reply::Done {
            status: Status::Queued,
            ..
        }
    ));
    let (c, _) = Conn::open(&inst, Source::Smtpd, 0);
    assert!(matches!(
        c.message(env(), &big[big.len() - 30_000..]),
        Reply::Done {
            status: Status::Rejected,
            ..
        }
    ));

    let (c, id) = Conn::open(&inst, Source::Smtpd, 0);
    assert!(matches!(
        c.message(env(), b"Subject: for audit\nX-Internal: drop me\n\nx\n"),
        Reply::Done {
            status: Status::Queued,
            ..
        }
    ));
    let (_, _, text) = queued(&inst, "hold", &id);
    assert!(!text.contains("X-Internal"), "{text}");
    assert!(!inst.dir.join("queue/incoming").join(&id).exists());

    let (c, id) = Conn::open(&inst, Source::Smtpd, 0);
    assert_eq!(
        c.message(env(), b"X-Drop: yes\n\nx\n"),
        Reply::Done {
            status: Status::Discarded,
            text: String::new()
        }
    );
    assert!(!inst.dir.join("queue/incoming").join(&id).exists());
    assert_eq!(
        std::fs::read_dir(inst.dir.join("queue/incoming"))
            .expect("incoming")
            .count(),
        1,
        "rejected mail left files (the one is the big message)"
    );
}

#[test]
fn limits_and_vanishing_clients_leave_nothing() {
    let inst = instance(
        "cleanup-limits",
        "message_size_limit = 1000\nhopcount_limit = 3\nqueue_file_attribute_count_limit = 4\n",
    );
    // queue_file_attribute_count_limit: smtp_envelope's four would pass
    // (the messages below), a fifth is too many.
    let mut env = smtp_envelope("a@b.example", &["c@d.example"]);
    env.attributes.push(("client_port".into(), "4000".into()));
    let (c, id) = Conn::open(&inst, Source::Smtpd, 0);
    assert_eq!(
        c.message(env, b"Subject: x\n\nx\n"),
        Reply::Done {
            status: Status::TryAgain,
            text: "451 4.3.0 Error: internal error".into()
        }
    );
    assert!(inst.wait_log(
        &format!("{id}: message rejected: attribute count exceeds limit 4"),
        1,
        std::time::Duration::from_secs(5)
    ));

    let (c, _) = Conn::open(&inst, Source::Smtpd, 0);
    let big = vec![b'x'; 5000];
    assert_eq!(
        c.message(smtp_envelope("a@b.example", &["c@d.example"]), &big),
        Reply::Done {
            status: Status::Rejected,
            text: "552 5.3.4 Error: message file too big".into()
        }
    );
    let (c, _) = Conn::open(&inst, Source::Smtpd, 0);
    assert_eq!(
        c.message(
            smtp_envelope("a@b.example", &["c@d.example"]),
            b"Received: 1\nReceived: 2\nReceived: 3\n\nloop\n"
        ),
        Reply::Done {
            status: Status::Rejected,
            text: "554 5.4.0 Error: too many hops".into()
        }
    );
    // Gone after Open, and gone halfway through the content.
    let (c, _) = Conn::open(&inst, Source::Smtpd, 0);
    drop(c);
    let (mut c, _) = Conn::open(&inst, Source::Smtpd, 0);
    c.send(&Request::Envelope(smtp_envelope(
        "a@b.example",
        &["c@d.example"],
    )));
    c.send(&Request::Content(b"Subject: half\n\nsome of it".to_vec()));
    drop(c);
    // Garbage instead of frames.
    let mut raw = UnixStream::connect(ipc::cleanup::socket_path(
        &inst.dir.join("queue"),
        "cleanup",
    ))
    .expect("connect");
    std::io::Write::write_all(&mut raw, b"EHLO I am not cleanup's client\r\n").expect("write");
    drop(raw);
    // Each cleanup drops its unfinished file when it sees its client gone.
    let incoming = || {
        std::fs::read_dir(inst.dir.join("queue/incoming"))
            .expect("incoming")
            .count()
    };
    assert!(
        wait_until(5 * SECOND, || incoming() == 0),
        "{} files left in incoming",
        incoming()
    );
    // And the next message still goes through.
    let (c, id) = Conn::open(&inst, Source::Smtpd, 0);
    assert!(matches!(
        c.message(
            smtp_envelope("a@b.example", &["c@d.example"]),
            b"Subject: fine\n\nok\n"
        ),
        Reply::Done {
            status: Status::Queued,
            ..
        }
    ));
    assert!(inst.dir.join("queue/incoming").join(&id).exists());
}

#[test]
fn virtual_aliases_and_canonical_maps_rewrite_the_envelope() {
    let inst = instance(
        "cleanup-maps",
        "virtual_alias_maps = regexp:{ {/^joe@/ never@example.test} }, inline:{ { team@example.test = ann@example.test, ben@example.test }, ben@example.test=ben@elsewhere.example, joe@example.test=jo@elsewhere.example, webmaster=web@elsewhere.example }\nsender_canonical_maps = inline:{ root@example.test=admin@example.test }\nrecipient_delimiter = +\n",
    );
    let (c, id) = Conn::open(&inst, Source::Pickup, 0);
    let env = Envelope {
        sender: "root".into(),
        arrival: 1_800_000_000,
        recipients: vec![
            Recipient {
                address: "team".into(),
                orcpt: None,
                notify: 0,
            },
            // Found without its extension, which goes on to the result
            // (propagate_unmatched_extensions); the regexp table sees only
            // the whole address.
            Recipient {
                address: "joe+lists@example.test".into(),
                orcpt: None,
                notify: 0,
            },
            // A bare user key matches in local domains only ($myorigin,
            // example.test here, and $mydestination).
            Recipient {
                address: "webmaster@localhost".into(),
                orcpt: None,
                notify: 0,
            },
            Recipient {
                address: "webmaster@remote.example".into(),
                orcpt: None,
                notify: 0,
            },
        ],
        ..Envelope::default()
    };
    assert!(matches!(
        c.message(env, b"Subject: x\n\ny\n"),
        Reply::Done {
            status: Status::Queued,
            ..
        }
    ));
    let (env, _, _) = queued(&inst, "incoming", &id);
    assert_eq!(env.sender, "admin@example.test");
    let got: Vec<&str> = env.recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(
        got,
        vec![
            "ann@example.test",
            "ben@elsewhere.example",
            "jo+lists@elsewhere.example",
            "web@elsewhere.example",
            "webmaster@remote.example"
        ]
    );
    assert!(env.recipients[..2]
        .iter()
        .all(|r| r.original.as_deref() == Some("team")));
}

/// always_bcc, sender_bcc_maps and recipient_bcc_maps add blind copies,
/// each once, never reported to the sender (NOTIFY=NEVER), and expanded
/// like any recipient; the mail system's own notices get none.
/// virtual_alias_expansion_limit and virtual_alias_recursion_limit: an
/// expansion past either makes the message wait (Postfix's "451 4.6.0
/// Alias expansion error"); nothing goes to part of the list. A loop is no
/// error: the address that comes round again stays.
#[test]
fn virtual_alias_expansion_has_limits() {
    let inst = instance(
        "cleanup-alias-limits",
        "virtual_alias_expansion_limit = 3\nvirtual_alias_recursion_limit = 3\n\
         virtual_alias_maps = inline:{ {list@example.test = a@x.test, b@x.test, c@x.test, d@x.test}, {small@example.test = a@x.test, b@x.test}, deep@example.test=d1@example.test, d1@example.test=d2@example.test, d2@example.test=d3@example.test, d3@example.test=end@x.test, loop@example.test=l1@example.test, l1@example.test=loop@example.test }\n",
    );
    let send = |rcpt: &str| {
        let (c, id) = Conn::open(&inst, Source::Smtpd, 0);
        (
            c.message(
                smtp_envelope("s@example.org", &[rcpt]),
                b"Subject: x\n\nx\n",
            ),
            id,
        )
    };
    for (rcpt, what) in [
        ("list@example.test", "map expansion size"),
        ("deep@example.test", "map nesting"),
    ] {
        let (reply, id) = send(rcpt);
        assert_eq!(
            reply,
            Reply::Done {
                status: Status::TryAgain,
                text: "451 4.6.0 Alias expansion error".into()
            },
            "{rcpt}"
        );
        assert!(
            inst.wait_log(&format!("{id}: virtual_alias_maps {what} for {rcpt} is unreasonable -- message not accepted, try again later"), 1, 5 * SECOND),
            "{}",
            inst.maillog()
        );
    }
    let (_, env, _, _) = enqueue(
        &inst,
        Source::Smtpd,
        smtp_envelope(
            "s@example.org",
            &["small@example.test", "loop@example.test"],
        ),
        b"Subject: x\n\nx\n",
    );
    let got: Vec<&str> = env.recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(got, ["a@x.test", "b@x.test", "loop@example.test"]);
}

#[test]
fn bcc_maps_add_blind_copies() {
    let inst = instance(
        "cleanup-bcc",
        "always_bcc = archive@example.test\nsender_bcc_maps = inline:{ @sales.example=sales-log@example.test }\nrecipient_bcc_maps = inline:{ boss@example.test=boss-copy@example.test, ceo@example.test=archive@example.test }\nvirtual_alias_maps = inline:{ { sales-log@example.test = log1@example.test, log2@example.test } }\n",
    );
    let env = smtp_envelope(
        "ann@sales.example",
        &[
            "boss@example.test",
            "ceo@example.test",
            "other@example.test",
        ],
    );
    let (_, env, _, _) = enqueue(&inst, Source::Smtpd, env, b"Subject: x\n\ny\n");
    let got: Vec<&str> = env.recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(
        got,
        vec![
            "boss@example.test",
            "ceo@example.test",
            "other@example.test",
            "archive@example.test",
            "log1@example.test",
            "log2@example.test",
            "boss-copy@example.test",
        ]
    );
    for r in &env.recipients[3..] {
        assert_eq!(
            r.dsn_notify,
            Some(queue::DsnNotify(queue::DsnNotify::NEVER)),
            "{r:?}"
        );
    }
    assert_eq!(
        env.recipients[0].dsn_notify,
        Some(queue::DsnNotify(notify::FAILURE))
    );

    // A notice from the mail system itself gets no copy.
    let env = smtp_envelope("", &["ann@sales.example"]);
    let (_, env, _, _) = enqueue(&inst, Source::Internal, env, b"Subject: notice\n\nz\n");
    assert_eq!(env.recipients.len(), 1);
}

/// Header addresses go through the canonical maps and masquerading too
/// (Postfix's canonical_classes and masquerade_classes), and in local mail
/// bare names get @$myorigin: display names, groups and comments stay, and
/// masquerade_exceptions holds; a rewritten header is folded as Postfix
/// folds the headers it rebuilds (under 70 characters a line). Headers of
/// remote mail are left alone while remote_header_rewrite_domain is
/// empty, as in Postfix.
#[test]
fn header_addresses_are_canonicalized_and_masqueraded() {
    let inst = instance(
        "cleanup-header-addrs",
        "masquerade_domains = example.test\nmasquerade_exceptions = root\nsender_canonical_maps = inline:{ joe@example.test=joe.bloggs@example.test }\n",
    );
    let content = b"From: Joe <joe@example.test>\nTo: \"Ann\" <ann@mail.example.test>, root@mail.example.test, dream\nCc: team: bob@host.example.test (Bob);\nSubject: joe@example.test\n\nbody\n";
    let mut env = smtp_envelope("joe", &["ann@mail.example.test"]);
    env.attributes = vec![("uid".into(), "0".into())];
    let (_, env, _, text) = enqueue(&inst, Source::Pickup, env, content);
    assert_eq!(env.sender, "joe.bloggs@example.test");
    assert!(
        text.contains("\nFrom: Joe <joe.bloggs@example.test>\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "\nTo: \"Ann\" <ann@example.test>, root@mail.example.test,\n\tdream@example.test\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("\nCc: team: bob@example.test (Bob);\n"),
        "{text}"
    );
    assert!(
        text.contains("\nSubject: joe@example.test\n"),
        "other headers stay: {text}"
    );

    // The same from a remote client: the envelope is rewritten, the headers not.
    let env = smtp_envelope("joe@example.test", &["ann@mail.example.test"]);
    let (_, env, _, text) = enqueue(&inst, Source::Smtpd, env, content);
    assert_eq!(env.sender, "joe.bloggs@example.test");
    assert!(text.contains("\nFrom: Joe <joe@example.test>\nTo: \"Ann\" <ann@mail.example.test>, root@mail.example.test, dream\n"), "{text}");
}

/// masquerade_classes and the canonical classes say where each rewriting
/// applies: here the envelope recipient is masqueraded too, the headers
/// not, and sender_canonical_maps leaves the From: header alone.
#[test]
fn address_classes_choose_where_rewriting_applies() {
    let inst = instance(
        "cleanup-classes",
        "masquerade_domains = example.test\nmasquerade_classes = envelope_sender, envelope_recipient\n\
         sender_canonical_maps = inline:{ joe@example.test=joe.bloggs@example.test }\nsender_canonical_classes = envelope_sender\n",
    );
    let content = b"From: Joe <joe@example.test>\nTo: ann@mail.example.test\n\nbody\n";
    let mut env = smtp_envelope("joe", &["ann@mail.example.test"]);
    env.attributes = vec![("uid".into(), "0".into())];
    let (_, env, _, text) = enqueue(&inst, Source::Pickup, env, content);
    assert_eq!(env.sender, "joe.bloggs@example.test");
    assert_eq!(env.recipients[0].address, "ann@example.test");
    assert!(
        text.contains("\nFrom: Joe <joe@example.test>\nTo: ann@mail.example.test\n"),
        "{text}"
    );
}

/// strict_7bit_headers, strict_8bitmime_body and
/// strict_mime_encoding_domain (all off by default, as in Postfix): 8-bit
/// text in a header, 8-bit text in a body whose encoding says 7-bit, a
/// base64 multipart: each refused with 550 5.6.0 and Postfix's log line.
#[test]
fn strict_mime_checks_refuse_what_they_name() {
    let lax = instance("cleanup-lax-mime", "");
    let env = || smtp_envelope("a@remote.example", &["bob@example.test"]);
    let eight_bit_header = "Subject: caf\u{e9}\n\nplain\n".as_bytes();
    enqueue(&lax, Source::Smtpd, env(), eight_bit_header);
    let inst = instance(
        "cleanup-strict-mime",
        "strict_8bitmime = yes\nstrict_mime_encoding_domain = yes\n",
    );
    let refused = |content: &[u8]| {
        let (c, _) = Conn::open(&inst, Source::Smtpd, 0);
        match c.message(env(), content) {
            Reply::Done { text, .. } => text,
            other => format!("{other:?}"),
        }
    };
    assert_eq!(
        refused(eight_bit_header),
        "550 5.6.0 improper use of 8-bit data in message header"
    );
    assert_eq!(
        refused("Subject: x\n\ncaf\u{e9}\n".as_bytes()),
        "550 5.6.0 improper use of 8-bit data in message body"
    );
    // Declared 8bit: fine.
    enqueue(
        &inst,
        Source::Smtpd,
        env(),
        "Subject: x\nMIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\n\ncaf\u{e9}\n".as_bytes(),
    );
    // In a part whose encoding says 7bit, even under an 8bit message.
    let part = "Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\ncaf\u{e9}\n--b--\n";
    assert_eq!(
        refused(part.as_bytes()),
        "550 5.6.0 improper use of 8-bit data in message body"
    );
    let part_8bit = part.replace(
        "Content-Type: text/plain\n",
        "Content-Type: text/plain\nContent-Transfer-Encoding: 8bit\n",
    );
    enqueue(&inst, Source::Smtpd, env(), part_8bit.as_bytes());
    assert_eq!(
        refused(b"Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\nContent-Transfer-Encoding: base64\n\n--b\n\nx\n--b--\n"),
        "550 5.6.0 invalid message/* or multipart/* encoding domain"
    );
    assert!(
        inst.wait_log(
            "reject: mime-error improper use of 8-bit data in message header: Subject: caf?? from ",
            1,
            5 * SECOND
        ),
        "{}",
        inst.maillog()
    );
}

#[test]
fn message_reject_and_strip_characters() {
    let inst = instance(
        "cleanup-chars",
        "message_reject_characters = \\0\nmessage_strip_characters = \\177\\a\n",
    );
    let env = || smtp_envelope("a@remote.example", &["bob@example.test"]);
    let (c, _) = Conn::open(&inst, Source::Smtpd, 0);
    assert_eq!(
        c.message(env(), b"Subject: nul\n\nbad \0 byte\n"),
        Reply::Done {
            status: Status::Rejected,
            text: "550 5.7.1 disallowed character".into()
        }
    );
    assert!(
        inst.wait_log("reject: character reject bad ", 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );
    let (_, _, _, text) = enqueue(
        &inst,
        Source::Smtpd,
        env(),
        b"Subject: bell\x07 and del\x7f\n\nbody\x7f text\n",
    );
    assert!(text.contains("Subject: bell and del\n"), "{text}");
    assert!(text.contains("\nbody text\n"), "{text}");
}

#[test]
fn header_from_format_standard_and_obsolete() {
    for (format, want) in [
        ("", "\nFrom: Root User <root@example.test>\n"),
        (
            "header_from_format = obsolete\n",
            "\nFrom: root@example.test (Root User)\n",
        ),
    ] {
        let inst = instance(&format!("cleanup-from-{}", want.len()), format);
        let mut env = smtp_envelope("root", &["dream"]);
        env.attributes = vec![
            ("uid".into(), "0".into()),
            ("fullname".into(), "Root User".into()),
        ];
        let (_, _, _, text) = enqueue(&inst, Source::Pickup, env, b"Subject: local\n\nhello\n");
        assert!(text.contains(want), "{format:?}: {text}");
    }
}

/// message_drop_headers (Postfix's default: bcc, content-length,
/// resent-bcc, return-path) leaves those out of every message, from SMTP
/// too; undisclosed_recipients_header is added to a local submission with
/// no visible recipients.
#[test]
fn dropped_headers_and_undisclosed_recipients() {
    let inst = instance(
        "cleanup-drop",
        "undisclosed_recipients_header = To: undisclosed-recipients:;\n",
    );
    let content = b"Return-Path: <forged@example.org>\nBcc: secret@example.test\nContent-Length: 12\nResent-Bcc: hidden@example.test\nSubject: drop\nX-Kept: yes\n\nbody\n";
    let (_, _, _, text) = enqueue(
        &inst,
        Source::Smtpd,
        smtp_envelope("a@remote.example", &["bob@example.test"]),
        content,
    );
    for gone in ["Return-Path:", "Bcc:", "Content-Length:", "Resent-Bcc:"] {
        assert!(!text.contains(gone), "{gone} in\n{text}");
    }
    assert!(
        text.contains("\nSubject: drop\nX-Kept: yes\n\nbody\n"),
        "{text}"
    );
    // A remote client's message gets no headers added.
    assert!(!text.contains("undisclosed-recipients"), "{text}");
    let mut env = smtp_envelope("root", &["dream"]);
    env.attributes = vec![("uid".into(), "0".into())];
    let (_, _, _, text) = enqueue(&inst, Source::Pickup, env, b"Subject: nobody named\n\nhi\n");
    assert!(text.contains("\nTo: undisclosed-recipients:;\n"), "{text}");
    let mut env = smtp_envelope("root", &["dream"]);
    env.attributes = vec![("uid".into(), "0".into())];
    let (_, _, _, text) = enqueue(&inst, Source::Pickup, env, b"Cc: dream\n\nhi\n");
    assert!(!text.contains("undisclosed"), "{text}");
    inst.stop();

    // Only what the list names is dropped.
    let inst = instance(
        "cleanup-drop-some",
        "message_drop_headers = content-length\n",
    );
    let (_, _, _, text) = enqueue(
        &inst,
        Source::Smtpd,
        smtp_envelope("a@remote.example", &["bob@example.test"]),
        content,
    );
    assert!(!text.contains("Content-Length:"), "{text}");
    assert!(text.contains("\nBcc: secret@example.test\n"), "{text}");
    assert!(
        text.contains("Return-Path: <forged@example.org>\n"),
        "{text}"
    );
}

/// Only the mail system's own verify service may mark a message as an
/// address verification probe (which is never delivered): the mark from
/// smtpd or pickup is dropped.
#[test]
fn only_internal_mail_may_be_a_probe() {
    let inst = instance("cleanup-probe-mark", "");
    let mark = (
        ipc::cleanup::ADDRESS_VERIFY_PROBE.to_string(),
        "yes".to_string(),
    );
    let is_probe = |env: &queue::Envelope| {
        env.attrs
            .other
            .iter()
            .any(|(n, _)| n == ipc::cleanup::ADDRESS_VERIFY_PROBE)
    };
    let mut env = smtp_envelope("a@remote.example", &["bob@example.test"]);
    env.attributes.push(mark.clone());
    let (_, queued, _, _) = enqueue(&inst, Source::Smtpd, env, b"Subject: x\n\nbody\n");
    assert!(!is_probe(&queued), "smtpd may not mark a probe");
    let mut env = smtp_envelope("double-bounce", &["bob@example.test"]);
    env.attributes = vec![mark];
    let (_, queued, _, _) = enqueue(&inst, Source::Internal, env, b"Subject: probe\n\n");
    assert!(
        is_probe(&queued),
        "the verify service's probe keeps its mark"
    );
}

/// A header line longer than line_length_limit reaches cleanup in pieces:
/// the pieces after the first are still that header (Postfix appends
/// REC_TYPE_CONT records to the header), not the end of the header block
/// nor a header of their own.
#[test]
fn a_header_line_longer_than_line_length_limit_stays_one_header() {
    let inst = instance("cleanup-longhdr", "line_length_limit = 512\n");
    let long = format!("Subject: {}X-Not: a header\n", "s".repeat(600));
    let msg = format!("{long}From: a@remote.example\n\nbody\n");
    let (_, _, _, text) = enqueue(
        &inst,
        Source::Smtpd,
        smtp_envelope("a@remote.example", &["bob@example.test"]),
        msg.as_bytes(),
    );
    let (head, body) = text.split_once("\n\n").expect("a header and a body");
    assert_eq!(body, "body\n", "{text:?}");
    assert!(
        head.ends_with(&format!("\n{long}From: a@remote.example")),
        "{text:?}"
    ); // A long first body line with no empty line before it stays one line.
    let first = "b".repeat(600);
    let (_, _, _, text) = enqueue(
        &inst,
        Source::Smtpd,
        smtp_envelope("a@remote.example", &["bob@example.test"]),
        format!("Subject: x\n{first}\nmore\n").as_bytes(),
    );
    assert!(
        text.ends_with(&format!("\nSubject: x\n\n{first}\nmore\n")),
        "{text:?}"
    );
}

/// Aliases that share their members level after level (x1 and y1 both
/// expand to x2 and y2, and so on) make few addresses but very many
/// paths: as in Postfix, each path counts toward
/// virtual_alias_expansion_limit, so the expansion ends (and the message
/// waits) instead of walking 2^40 paths.
#[test]
fn virtual_aliases_sharing_members_do_not_expand_forever() {
    let levels = 40;
    let mut entries = vec!["{top@example.test = x1@example.test, y1@example.test}".to_string()];
    for i in 1..levels {
        for n in ["x", "y"] {
            entries.push(format!(
                "{{{n}{i}@example.test = x{j}@example.test, y{j}@example.test}}",
                j = i + 1
            ));
        }
    }
    let inst = instance(
        "cleanup-alias-paths",
        &format!("virtual_alias_maps = inline:{{ {} }}\n", entries.join(", ")),
    );
    let (c, id) = Conn::open(&inst, Source::Smtpd, 0);
    assert_eq!(
        c.message(
            smtp_envelope("s@example.org", &["top@example.test"]),
            b"Subject: x\n\nx\n",
        ),
        Reply::Done {
            status: Status::TryAgain,
            text: "451 4.6.0 Alias expansion error".into()
        }
    );
    assert!(inst.wait_log(
        &format!(
            "{id}: virtual_alias_maps map expansion size for top@example.test is unreasonable"
        ),
        1,
        5 * SECOND
    ));
}

/// `sendmail -t` recipients are expanded by virtual_alias_maps as the
/// envelope's are (Postfix's cleanup_out_recipient), not queued as the
/// alias itself.
#[test]
fn sendmail_t_recipients_are_expanded_by_virtual_aliases() {
    let inst = instance(
        "cleanup-extract-virtual",
        "virtual_alias_maps = inline:{ {list@example.test = a@x.test, b@x.test}, loop1@example.test=loop2@example.test, loop2@example.test=loop3@example.test }\nvirtual_alias_recursion_limit = 1\n",
    );
    let env = || Envelope {
        sender: "alice".into(),
        arrival: 1_800_000_000,
        ..Envelope::default()
    };
    let (c, id) = Conn::open(&inst, Source::Pickup, flags::EXTRACT_RECIPIENTS);
    let msg = b"To: List <list@example.test>, carol@x.test\nSubject: t\n\nbody\n";
    assert!(matches!(
        c.message(env(), msg),
        Reply::Done {
            status: Status::Queued,
            ..
        }
    ));
    let (_, extracted, _) = queued(&inst, "incoming", &id);
    let got: Vec<&str> = extracted
        .recipients
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    assert_eq!(got, ["a@x.test", "b@x.test", "carol@x.test"]);
    // Past its limits the message waits, as with envelope recipients.
    let (c, _) = Conn::open(&inst, Source::Pickup, flags::EXTRACT_RECIPIENTS);
    assert_eq!(
        c.message(env(), b"To: loop1@example.test\n\nbody\n"),
        Reply::Done {
            status: Status::TryAgain,
            text: "451 4.6.0 Alias expansion error".into()
        }
    );
}

/// A full name (sendmail -F, the password file) is the user's text: a
/// line break in it becomes a space instead of starting a header line of
/// its own, and a name with specials is quoted (standard format) or its
/// parentheses escaped (obsolete format), so that the added From: still
/// names one address, as Postfix writes it.
#[test]
fn a_full_name_cannot_break_the_added_from_header() {
    for (format, full, want) in [
        (
            "",
            "Doe, John\nBcc: evil@x.test",
            "\nFrom: \"Doe, John Bcc: evil@x.test\" <root@example.test>\n",
        ),
        (
            "",
            "Say \"hi\"",
            "\nFrom: \"Say \\\"hi\\\"\" <root@example.test>\n",
        ),
        (
            "header_from_format = obsolete\n",
            "a) b (c\r\nd",
            "\nFrom: root@example.test (a\\) b \\(c  d)\n",
        ),
    ] {
        let inst = instance(&format!("cleanup-fullname-{}", want.len()), format);
        let mut env = smtp_envelope("root", &["dream"]);
        env.attributes = vec![("uid".into(), "0".into()), ("fullname".into(), full.into())];
        let (_, _, _, text) = enqueue(&inst, Source::Pickup, env, b"Subject: local\n\nhello\n");
        assert!(text.contains(want), "{full:?}: {text}");
        assert!(!text.contains("\nBcc:"), "{text}");
    }
}

/// A blind copy from a header_checks BCC action is expanded by
/// virtual_alias_maps, as Postfix's cleanup_addr_bcc sends it through
/// cleanup_out_recipient.
#[test]
fn a_header_checks_bcc_is_expanded_by_virtual_aliases() {
    let inst = instance(
        "cleanup-bcc-virtual",
        "header_checks = regexp:{ {/^Subject:.*copy/ BCC archive@example.test} }\nvirtual_alias_maps = inline:{ archive@example.test=store@x.test }\n",
    );
    let (_, _, x, _) = enqueue(
        &inst,
        Source::Smtpd,
        smtp_envelope("a@remote.example", &["bob@example.test"]),
        b"Subject: copy me\n\nbody\n",
    );
    let got: Vec<&str> = x.recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(got, ["store@x.test"]);
}

/// A recipient given twice is queued once (the same address, original,
/// ORCPT and NOTIFY, case aside), as Postfix's cleanup does with
/// duplicate_filter_limit (compared side by side: Postfix 3.7 queued 2 of
/// RCPT TO dup, dup, DUP and dup NOTIFY=SUCCESS); past the limit repeats
/// are kept rather than remembered.
#[test]
fn a_recipient_given_twice_is_queued_once() {
    let inst = instance("cleanup-dups", "");
    let mut env = smtp_envelope(
        "me@example.test",
        &[
            "dup@far.example",
            "dup@far.example",
            "DUP@far.example",
            "dup@far.example",
        ],
    );
    env.recipients[3].notify = notify::SUCCESS;
    let (_, env, _, _) = enqueue(&inst, Source::Smtpd, env, b"Subject: d\n\nx\n");
    let got: Vec<(&str, Option<u8>)> = env
        .recipients
        .iter()
        .map(|r| (r.address.as_str(), r.dsn_notify.map(|n| n.0)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("dup@far.example", Some(notify::FAILURE)),
            ("dup@far.example", Some(notify::SUCCESS))
        ]
    );
    inst.stop();

    let inst = instance("cleanup-dups-limit", "duplicate_filter_limit = 1\n");
    let env = smtp_envelope(
        "me@example.test",
        &[
            "a@far.example",
            "a@far.example",
            "b@far.example",
            "b@far.example",
        ],
    );
    let (_, env, _, _) = enqueue(&inst, Source::Smtpd, env, b"Subject: d\n\nx\n");
    let got: Vec<&str> = env.recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(got, vec!["a@far.example", "b@far.example", "b@far.example"]);
}

/// A recipient without an ORCPT gets one, as Postfix's cleanup records it:
/// `rfc822;` and the address after canonical mapping, before virtual
/// aliasing (`utf-8;` for a UTF-8 address in SMTPUTF8 mail); one given is
/// kept, and blind copies get none (compared side by side with Postfix
/// 3.7: `sendmail canonx` gave `rfc822;nosuchcanon@local.test`, a virtual
/// alias `rfc822;valias@local.test`, `sendmail jörg@local.test`
/// `utf-8;jörg@local.test`).
#[test]
fn a_recipient_without_orcpt_gets_its_address_as_one() {
    let inst = instance(
        "cleanup-orcpt",
        "recipient_canonical_maps = inline:{ canonx@example.test=canonical@example.test }\n\
         virtual_alias_maps = inline:{ {valias@example.test=v1@far.example, v2@far.example} }\n\
         always_bcc = archive@example.test\n",
    );
    let mut env = smtp_envelope(
        "me@example.test",
        &["bare", "canonx", "valias@example.test", "given@far.example"],
    );
    env.recipients[3].orcpt = Some("rfc822;first@elsewhere.example".into());
    let (_, env, _, _) = enqueue(&inst, Source::Pickup, env, b"Subject: o\n\nx\n");
    let got: Vec<(&str, Option<&str>)> = env
        .recipients
        .iter()
        .map(|r| (r.address.as_str(), r.dsn_orcpt.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("bare@example.test", Some("rfc822;bare@example.test")),
            (
                "canonical@example.test",
                Some("rfc822;canonical@example.test")
            ),
            ("v1@far.example", Some("rfc822;valias@example.test")),
            ("v2@far.example", Some("rfc822;valias@example.test")),
            ("given@far.example", Some("rfc822;first@elsewhere.example")),
            ("archive@example.test", None),
        ]
    );
    let mut env = smtp_envelope("me@example.test", &["jörg@example.test"]);
    env.smtputf8 = true;
    let (_, env, _, _) = enqueue(&inst, Source::Pickup, env, b"Subject: o\n\nx\n");
    assert_eq!(
        env.recipients[0].dsn_orcpt.as_deref(),
        Some("utf-8;jörg@example.test")
    );
}

/// UTF-8 in a MIME part's header flags the mail SMTPUTF8 as UTF-8 in its
/// own headers does, for the classes smtputf8_autodetect_classes names
/// (sendmail and verify by default), as Postfix's cleanup does (compared
/// side by side: Postfix 3.7 queued such a sendmail message with its
/// SMTPUTF8 flags set, a plain one without).
#[test]
fn utf8_in_a_part_header_asks_for_smtputf8() {
    let inst = instance("cleanup-part-utf8", "");
    let content = "Subject: t\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain\n\nhi\n--b1\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"résumé.pdf\"\n\nAAAA\n--b1--\n";
    let utf8 = |source, content: &str| {
        let env = smtp_envelope("me@example.test", &["you@far.example"]);
        let (_, env, _, text) = enqueue(&inst, source, env, content.as_bytes());
        assert!(
            text.contains("résumé") || !content.contains("résumé"),
            "{text}"
        );
        env.smtputf8
    };
    assert!(utf8(Source::Pickup, content));
    assert!(!utf8(Source::Pickup, "Subject: t\n\nplain\n"));
    // Mail from smtpd is not of an autodetect class by default.
    assert!(!utf8(Source::Smtpd, content));
}

/// The mail system's own mail (notices, forwarded copies) gets a Received
/// that names no user, as Postfix's post_mail() and local's forward.c
/// write it; a local submission names the user's ID.
#[test]
fn internal_mail_is_received_from_no_user() {
    let inst = instance("cleanup-internal-received", "");
    for (source, by) in [
        (Source::Internal, "(mailsuite)"),
        (Source::Pickup, "(mailsuite, from userid 1000)"),
    ] {
        let mut env = smtp_envelope("", &["postmaster@example.test"]);
        env.attributes = vec![("uid".into(), "1000".into())];
        let (id, _, _, text) = enqueue(&inst, source, env, b"Subject: n\n\nx\n");
        assert!(
            text.starts_with(&format!("Received: by mail.example.test {by}\n\tid {id}; ")),
            "{text}"
        );
    }
}

/// detect_8bit_encoding_header: `Content-Transfer-Encoding: 8bit` in a MIME
/// part's header makes the message 8bit as in its own header (compared
/// side by side: Postfix 3.7 queued both with encoding=8bit); after the
/// envelope it is said in the extracted segment, which readers prefer.
#[test]
fn an_8bit_part_makes_the_message_8bit() {
    let inst = instance("cleanup-part-8bit", "");
    let encoding = |content: &str| {
        let mut env = smtp_envelope("me@example.test", &["you@far.example"]);
        env.body = Body::Unspecified;
        let (id, _, _, _) = enqueue(&inst, Source::Pickup, env, content.as_bytes());
        let path = inst.dir.join("queue/incoming").join(&id);
        queue::open(&path).expect("queue file").encoding()
    };
    let part = "Subject: t\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\nhi\n--b1--\n";
    assert_eq!(encoding(part), Some(queue::Encoding::EightBit));
    let top = "Subject: t\nMIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\n\nhi\n";
    assert_eq!(encoding(top), Some(queue::Encoding::EightBit));
    assert_ne!(
        encoding("Subject: t\n\nhi\n"),
        Some(queue::Encoding::EightBit)
    );
}
