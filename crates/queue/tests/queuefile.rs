//! The queue file: round trips, truncation, corruption, long lines, binary
//! content, failure injection, concurrent writers, mark_done, quarantine.

use queue::model::{attr, Attributes};
use queue::record::{encode, RecordType};
use queue::writer::{FAIL_STEPS, TEXT_PIECE};
use queue::{
    DsnNotify, DsnRet, Encoding, Envelope, Extracted, FormatError, HashSpec, QueueError, QueueId,
    Recipient, Timestamp, Writer,
};
use std::path::{Path, PathBuf};

/// A fresh directory per test, kept when the test fails.
struct TestDir(PathBuf);

impl TestDir {
    fn new(name: &str) -> TestDir {
        let p = std::env::temp_dir().join(format!("queue_test_{name}_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("mkdir");
        TestDir(p)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn full_envelope() -> Envelope {
    Envelope {
        arrival: Timestamp {
            sec: 1_700_000_000,
            usec: 123_456,
        },
        create_time: Some(1_700_000_001),
        fullname: Some("Alice Example".into()),
        sender: "alice@example.org".into(),
        warn_time: Some(1_700_014_400),
        dsn_ret: Some(DsnRet::Hdrs),
        dsn_envid: Some("QQ314159".into()),
        verp_delimiters: Some("+=".into()),
        smtputf8: true,
        attrs: Attributes {
            client_name: Some("client.example.org".into()),
            client_address: Some("192.0.2.7".into()),
            helo_name: Some("client.example.org".into()),
            protocol_name: Some("ESMTPSA".into()),
            sasl_method: Some("PLAIN".into()),
            sasl_username: Some("alice".into()),
            rewrite_context: Some("remote".into()),
            encoding: Some(Encoding::EightBit),
            other: vec![("log_message_origin".into(), "client[192.0.2.7]".into())],
        },
        recipients: vec![
            Recipient {
                address: "bob@example.net".into(),
                original: Some("Bob@Example.NET".into()),
                dsn_orcpt: Some("rfc822;Bob@Example.NET".into()),
                dsn_notify: Some(DsnNotify(DsnNotify::SUCCESS | DsnNotify::FAILURE)),
                ..Recipient::default()
            },
            Recipient::new("carol@example.net"),
            Recipient {
                address: "dave@example.net".into(),
                done: true,
                dsn_notify: Some(DsnNotify(DsnNotify::NEVER)),
                ..Recipient::default()
            },
            Recipient::new("üser@exämple.net"),
        ],
    }
}

fn full_extracted() -> Extracted {
    Extracted {
        recipients: vec![Recipient {
            address: "erin@example.com".into(),
            original: Some("erin@example.com".into()),
            ..Recipient::default()
        }],
        return_receipt: Some("receipts@example.org".into()),
        errors_to: Some("errors@example.org".into()),
        attrs: vec![("dsn_orig_rcpt".into(), "x".into())],
    }
}

const MESSAGE: &[u8] =
    b"From: alice@example.org\r\nReply-To: R\r\nSubject: hi\r\n\r\nbody line\r\n.\r\n\r\nlast\r\n";

fn write(dir: &Path, env: &Envelope, content: &[u8], ext: &Extracted) -> (QueueId, PathBuf) {
    let mut w = Writer::new(dir, env).expect("writer");
    w.write_content(content).expect("content");
    w.finish(ext).expect("finish")
}

fn strip_offsets(mut v: Vec<Recipient>) -> Vec<Recipient> {
    for r in &mut v {
        r.offset = 0;
    }
    v
}

#[test]
fn round_trip_every_record_kind() {
    let d = TestDir::new("round_trip");
    let env = full_envelope();
    let ext = full_extracted();
    let (id, path) = write(&d.0, &env, MESSAGE, &ext);
    assert_eq!(path, d.0.join(id.as_str()));
    assert_eq!(files_in(&d.0), vec![id.to_string()], "only the queue file");
    let mut qf = queue::open(&path).expect("valid");
    let mut got = qf.envelope.clone();
    got.recipients = strip_offsets(got.recipients);
    assert_eq!(got, env);
    let mut gx = qf.extracted.clone();
    gx.recipients = strip_offsets(gx.recipients);
    assert_eq!(gx, ext);
    assert_eq!(qf.size.rcpt_count, 5);
    assert_eq!(qf.size.smtputf8, 1);
    assert_eq!(qf.content_bytes(b"\r\n").expect("content"), MESSAGE);
    assert_eq!(
        qf.size.content_length,
        MESSAGE.len() as u64 - MESSAGE.iter().filter(|&&b| b == b'\r').count() as u64,
        "LF line ends"
    );
    // Every record type letter appears.
    let bytes = std::fs::read(&path).expect("read");
    let mut rr = queue::record::RecordReader::new(&bytes[..], 0);
    let mut seen = std::collections::HashSet::new();
    while let Some(rec) = rr.next_record().expect("framing") {
        seen.insert(rec.rtype);
    }
    for t in RecordType::ALL {
        if t != RecordType::Cont {
            assert!(seen.contains(&t.byte()), "{:?} missing", t);
        }
    }
    // The file is "ready" (0700) as Postfix's qmgr expects.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn minimal_file_null_sender_no_recipients_empty_body() {
    let d = TestDir::new("minimal");
    let env = Envelope::default();
    let (_, path) = write(&d.0, &env, b"", &Extracted::default());
    let mut qf = queue::open(&path).expect("valid");
    assert_eq!(qf.envelope, env);
    assert_eq!(qf.content_bytes(b"\n").expect("content"), b"");
}

#[test]
fn long_lines_and_binary_content_round_trip() {
    let d = TestDir::new("long_binary");
    let mut content = Vec::new();
    content.extend_from_slice(b"Subject: long\n\n");
    content.extend(std::iter::repeat_n(b'x', TEXT_PIECE * 3 + 17));
    content.push(b'\n');
    content.extend(std::iter::repeat_n(b'y', TEXT_PIECE));
    content.push(b'\n');
    content.extend(std::iter::repeat_n(b'z', TEXT_PIECE * 2));
    content.push(b'\n');
    // Every byte value but LF, a bare CR in the middle, NULs.
    content.extend((0u8..=255).filter(|&b| b != b'\n'));
    content.extend_from_slice(b"\n\0\0a\rb\n");
    // A long last line without a line end.
    content.extend(std::iter::repeat_n(b'q', TEXT_PIECE * 2 + 1));
    for chunk in [1usize, 7, 4096, content.len()] {
        let mut w = Writer::new(&d.0, &Envelope::default()).expect("writer");
        for piece in content.chunks(chunk) {
            w.write_content(piece).expect("content");
        }
        let (_, path) = w.finish(&Extracted::default()).expect("finish");
        let mut qf = queue::open(&path).expect("valid");
        let got = qf.content_bytes(b"\n").expect("content");
        assert_eq!(got.len(), content.len(), "chunk {chunk}");
        assert!(got == content, "chunk {chunk}");
        assert_eq!(qf.size.content_length, content.len() as u64);
        // CRLF output differs only in the line ends.
        let crlf = qf.content_bytes(b"\r\n").expect("content");
        assert_eq!(
            crlf.len(),
            content.len() + content.iter().filter(|&&b| b == b'\n').count()
        );
        // Pieces are bounded.
        for p in qf.content().expect("content") {
            assert!(p.expect("piece").data.len() <= TEXT_PIECE);
        }
        std::fs::remove_file(&path).expect("rm");
    }
    // line(): whole lines, including a long one.
    let mut w = Writer::new(&d.0, &Envelope::default()).expect("writer");
    let long = vec![b'L'; TEXT_PIECE * 5 + 3];
    w.line(b"a").expect("line");
    w.line(&long).expect("line");
    w.line(b"").expect("line");
    let (_, path) = w.finish(&Extracted::default()).expect("finish");
    let mut qf = queue::open(&path).expect("valid");
    let mut want = b"a\n".to_vec();
    want.extend_from_slice(&long);
    want.extend_from_slice(b"\n\n");
    assert!(qf.content_bytes(b"\n").expect("content") == want);
}

#[test]
fn every_truncation_is_rejected_cleanly() {
    let d = TestDir::new("truncation");
    let (_, path) = write(&d.0, &full_envelope(), MESSAGE, &full_extracted());
    let bytes = std::fs::read(&path).expect("read");
    assert!(queue::reader::read_bytes(&bytes).is_ok());
    for cut in 0..bytes.len() {
        match queue::reader::read_bytes(&bytes[..cut]) {
            Ok(_) => panic!("truncation at {cut} of {} accepted", bytes.len()),
            Err(QueueError::Format(_)) => {}
            Err(e) => panic!("truncation at {cut}: not a format error: {e}"),
        }
    }
    // And trailing bytes after the end record.
    let mut more = bytes.clone();
    more.extend_from_slice(&encode(b'N', b"x"));
    assert!(matches!(
        queue::reader::read_bytes(&more),
        Err(QueueError::Format(FormatError::TrailingData { .. }))
    ));
}

/// xorshift64*, so the corruption test needs no crate and is repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_corruption_never_panics() {
    let d = TestDir::new("corruption");
    let (_, path) = write(&d.0, &full_envelope(), MESSAGE, &full_extracted());
    let bytes = std::fs::read(&path).expect("read");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut rejected = 0;
    for round in 0..20_000 {
        let mut b = bytes.clone();
        match round % 4 {
            0 => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            1 => {
                for _ in 0..1 + rng.below(8) {
                    let i = rng.below(b.len());
                    b[i] ^= 1 << rng.below(8);
                }
            }
            2 => {
                let i = rng.below(b.len());
                let n = rng.below(16).min(b.len() - i);
                b.drain(i..i + n);
            }
            _ => {
                let i = rng.below(b.len());
                let junk: Vec<u8> = (0..rng.below(16)).map(|_| rng.next() as u8).collect();
                b.splice(i..i, junk);
            }
        }
        if let Ok(mut qf) = queue::reader::read_bytes(&b) {
            // Whatever passes must also stream.
            for p in qf.content().expect("content") {
                let _ = p;
            }
        } else {
            rejected += 1;
        }
    }
    assert!(rejected > 15_000, "only {rejected} rejected");
    // Pure random bytes, some starting with a plausible size record.
    for _ in 0..2_000 {
        let mut b: Vec<u8> = (0..rng.below(300)).map(|_| rng.next() as u8).collect();
        if rng.below(2) == 0 {
            let mut head = encode(b'C', queue::SizeRecord::default().payload().as_bytes());
            head.append(&mut b);
            b = head;
        }
        assert!(queue::reader::read_bytes(&b).is_err());
    }
}

#[test]
fn structural_errors_are_typed() {
    let size = |s: &queue::SizeRecord| encode(b'C', s.payload().as_bytes());
    let cat = |parts: &[Vec<u8>]| parts.concat();
    let t = encode(b'T', b"1 2");
    let s = encode(b'S', b"a@b");
    let m = encode(b'M', b"");
    let x = encode(b'X', b"");
    let e = encode(b'E', b"");
    let ok = |rcpts: u64, data_offset: u64| queue::SizeRecord {
        data_offset,
        rcpt_count: rcpts,
        ..Default::default()
    };
    let head = size(&ok(0, 0)).len() as u64;
    let off = head + (t.len() + s.len() + m.len()) as u64;
    let good = cat(&[
        size(&ok(0, off)),
        t.clone(),
        s.clone(),
        m.clone(),
        x.clone(),
        e.clone(),
    ]);
    assert!(queue::reader::read_bytes(&good).is_ok());
    let err = |b: &[u8]| match queue::reader::read_bytes(b) {
        Err(QueueError::Format(f)) => f,
        Err(other) => panic!("not a format error: {other}"),
        Ok(_) => panic!("accepted"),
    };
    // No sender.
    let off2 = head + (t.len() + m.len()) as u64;
    let f = err(&cat(&[
        size(&ok(0, off2)),
        t.clone(),
        m.clone(),
        x.clone(),
        e.clone(),
    ]));
    assert_eq!(f, FormatError::Missing { what: "sender" });
    // Two senders.
    let f = err(&cat(&[
        size(&ok(0, off)),
        t.clone(),
        s.clone(),
        s.clone(),
        m.clone(),
        x.clone(),
        e.clone(),
    ]));
    assert!(
        matches!(f, FormatError::Misplaced { rtype: b'S', .. }),
        "{f}"
    );
    // A header-extracted record in the envelope.
    let f = err(&cat(&[
        size(&ok(0, off)),
        t.clone(),
        s.clone(),
        encode(b'r', b"x"),
        m.clone(),
        x.clone(),
        e.clone(),
    ]));
    assert!(
        matches!(f, FormatError::Misplaced { rtype: b'r', .. }),
        "{f}"
    );
    // VERP delimiters that are not two punctuation characters.
    for bad in [&b"+"[..], b"+a", b"+=-"] {
        let v = encode(b'V', bad);
        let f = err(&cat(&[
            size(&ok(0, off + v.len() as u64)),
            t.clone(),
            s.clone(),
            v,
            m.clone(),
            x.clone(),
            e.clone(),
        ]));
        assert!(
            matches!(f, FormatError::BadPayload { rtype: b'V', .. }),
            "{f}"
        );
    }
    // An unknown type.
    let f = err(&cat(&[
        size(&ok(0, off)),
        t.clone(),
        s.clone(),
        encode(b'?', b""),
        m.clone(),
    ]));
    assert!(
        matches!(f, FormatError::UnknownType { rtype: b'?', .. }),
        "{f}"
    );
    // An ORCPT without its recipient.
    let o = encode(b'o', b"rfc822;x@y");
    let off3 = off + o.len() as u64;
    let f = err(&cat(&[
        size(&ok(0, off3)),
        t.clone(),
        s.clone(),
        o,
        m.clone(),
        x.clone(),
        e.clone(),
    ]));
    assert!(matches!(f, FormatError::Dangling { .. }), "{f}");
    // Wrong counts.
    let f = err(&cat(&[
        size(&ok(3, off)),
        t.clone(),
        s.clone(),
        m.clone(),
        x.clone(),
        e.clone(),
    ]));
    assert_eq!(
        f,
        FormatError::SizeMismatch {
            field: "rcpt_count",
            recorded: 3,
            actual: 0
        }
    );
    // No end.
    let f = err(&cat(&[
        size(&ok(0, off)),
        t.clone(),
        s.clone(),
        m.clone(),
        x.clone(),
    ]));
    assert_eq!(f, FormatError::NoEnd);
    // Not starting with the size record.
    let f = err(&cat(&[t.clone(), s.clone()]));
    assert!(matches!(f, FormatError::Missing { .. }), "{f}");
    // Bad time.
    let f = err(&cat(&[
        size(&ok(0, off)),
        encode(b'T', b"1 2000000"),
        s,
        m,
        x,
        e,
    ]));
    assert!(
        matches!(f, FormatError::BadPayload { rtype: b'T', .. }),
        "{f}"
    );
}

#[test]
fn failure_injection_leaves_no_file() {
    let d = TestDir::new("failpoints");
    for step in FAIL_STEPS {
        let mut w = Writer::new(&d.0, &full_envelope()).expect("writer");
        w.write_content(MESSAGE).expect("content");
        w.fail_at(step);
        let r = w.finish(&full_extracted());
        assert!(
            matches!(r, Err(QueueError::Injected(s)) if s == step),
            "{step}: {r:?}"
        );
        assert!(
            files_in(&d.0).is_empty(),
            "{step}: left {:?}",
            files_in(&d.0)
        );
    }
    // An unfinished writer's file has no name (O_TMPFILE on this machine's
    // file systems), and dropping the writer leaves nothing.
    let mut w = Writer::new(&d.0, &full_envelope()).expect("writer");
    w.write_content(MESSAGE).expect("content");
    assert!(files_in(&d.0).is_empty(), "{:?}", files_in(&d.0));
    drop(w);
    assert!(files_in(&d.0).is_empty());
    // A bad value is refused before anything is written.
    let mut env = full_envelope();
    env.sender = "a\0b".into();
    assert!(matches!(
        Writer::new(&d.0, &env),
        Err(QueueError::BadValue { .. })
    ));
    env.sender = "a".into();
    env.attrs.other.push((attr::ENCODING.into(), "8bit".into()));
    assert!(matches!(
        Writer::new(&d.0, &env),
        Err(QueueError::BadValue { .. })
    ));
    assert!(files_in(&d.0).is_empty());
}

#[test]
fn concurrent_writers_get_unique_sortable_ids() {
    let d = TestDir::new("concurrent");
    let dir = d.0.clone();
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                for i in 0..25 {
                    let env = Envelope {
                        sender: format!("t{t}m{i}@example.org"),
                        ..Envelope::default()
                    };
                    let mut w = Writer::new(&dir, &env).expect("writer");
                    w.write_content(b"x\n").expect("content");
                    let (id, _) = w.finish(&Extracted::default()).expect("finish");
                    ids.push(id);
                }
                ids
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        let ids = h.join().expect("thread");
        // Within one thread, later IDs never sort before earlier ones' time.
        for w in ids.windows(2) {
            assert!(w[0].time_parts() <= w[1].time_parts());
        }
        all.extend(ids);
    }
    let n = all.len();
    let mut names: Vec<String> = all.iter().map(|i| i.to_string()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), n, "duplicate IDs");
    assert_eq!(files_in(&dir), names, "one file per ID, no temp files");
    for name in &names {
        assert!(QueueId::parse(name).is_ok());
        assert!(queue::open(&dir.join(name)).is_ok());
    }
}

#[test]
fn id_names_the_file_by_inode_and_time() {
    use std::os::unix::fs::MetadataExt;
    let d = TestDir::new("inode");
    let before = Timestamp::now();
    let (id, path) = write(&d.0, &Envelope::default(), b"", &Extracted::default());
    let after = Timestamp::now();
    assert_eq!(id.inode(), std::fs::metadata(&path).expect("stat").ino());
    let (s, u) = id.time_parts();
    let t = Timestamp { sec: s, usec: u };
    assert!(before <= t && t <= after);
}

#[test]
fn hashed_queue_writer_makes_subdirectories() {
    let d = TestDir::new("hashed");
    std::fs::create_dir_all(d.0.join("deferred")).expect("mkdir");
    let spec = HashSpec {
        names: vec!["deferred".into()],
        depth: 2,
    };
    let w = Writer::in_queue(&d.0, "deferred", &spec, &Envelope::default()).expect("writer");
    let (id, path) = w.finish(&Extracted::default()).expect("finish");
    assert_eq!(
        path,
        spec.path(&d.0, "deferred", id.as_str()).expect("path")
    );
    assert!(path.is_file());
    let rel = path.strip_prefix(&d.0).expect("under");
    assert_eq!(rel.components().count(), 4, "{}", rel.display());
    assert!(matches!(
        Writer::in_queue(&d.0, "../x", &spec, &Envelope::default()),
        Err(QueueError::BadQueueName(_))
    ));
}

#[test]
fn mark_done_in_place() {
    let d = TestDir::new("mark_done");
    let (_, path) = write(&d.0, &full_envelope(), MESSAGE, &full_extracted());
    let qf = queue::open(&path).expect("valid");
    let todo: Vec<u64> = qf
        .recipients()
        .filter(|r| !r.done)
        .map(|r| r.offset)
        .collect();
    assert_eq!(todo.len(), 4);
    let size_before = std::fs::metadata(&path).expect("stat").len();
    queue::mark_done(&path, todo[0]).expect("mark");
    queue::mark_done(&path, todo[0]).expect("idempotent");
    queue::mark_done(&path, todo[3]).expect("mark extracted");
    let qf = queue::open(&path).expect("still valid");
    let done: Vec<bool> = qf.recipients().map(|r| r.done).collect();
    assert_eq!(done, vec![true, false, true, false, true]);
    assert_eq!(std::fs::metadata(&path).expect("stat").len(), size_before);
    // Not a recipient record: refused, file unchanged.
    let bytes = std::fs::read(&path).expect("read");
    assert!(matches!(
        queue::mark_done(&path, 0),
        Err(QueueError::NotARecipient { .. })
    ));
    assert!(matches!(
        queue::mark_done(&path, 1 << 40),
        Err(QueueError::NotARecipient { .. })
    ));
    // Inside the content, even on an 'R' byte: refused.
    let r_in_body = qf.size.data_offset
        + bytes[qf.size.data_offset as usize..]
            .iter()
            .position(|&b| b == b'R')
            .expect("an R in the content") as u64;
    assert!(r_in_body < qf.size.data_offset + qf.size.data_size);
    assert!(matches!(
        queue::mark_done(&path, r_in_body),
        Err(QueueError::NotARecipient { .. })
    ));
    assert_eq!(std::fs::read(&path).expect("read"), bytes);
}

#[test]
fn quarantine_moves_to_corrupt() {
    let d = TestDir::new("quarantine");
    std::fs::create_dir_all(d.0.join("active")).expect("mkdir");
    let (id, path) = write(
        &d.0.join("active"),
        &Envelope::default(),
        b"x\n",
        &Extracted::default(),
    );
    let mut bytes = std::fs::read(&path).expect("read");
    let n = bytes.len();
    bytes.truncate(n - 2);
    std::fs::write(&path, &bytes).expect("write");
    let err = queue::open(&path).expect_err("corrupt");
    assert!(err.is_corrupt());
    let moved = queue::quarantine(&d.0, &path, &err.to_string()).expect("quarantine");
    assert_eq!(moved, d.0.join("corrupt").join(id.as_str()));
    assert!(moved.is_file());
    assert!(!path.exists());
}

#[test]
fn the_id_is_known_before_the_envelope_and_kept() {
    let d = TestDir::new("early_id");
    std::fs::create_dir_all(d.0.join("incoming")).expect("mkdir");
    let spec = HashSpec {
        names: vec![],
        depth: 1,
    };
    let mut w = Writer::create_in_queue(&d.0, "incoming", &spec).expect("writer");
    let early = w.id().clone();
    assert!(
        matches!(w.write_content(b"x\n"), Err(QueueError::BadValue { .. })),
        "content before envelope"
    );
    w.envelope(&full_envelope()).expect("envelope");
    assert!(w.envelope(&full_envelope()).is_err(), "envelope twice");
    w.write_content(MESSAGE).expect("content");
    let (id, path) = w.finish(&full_extracted()).expect("finish");
    assert_eq!(id, early);
    assert_eq!(path, d.0.join("incoming").join(id.as_str()));
    assert!(queue::open(&path).is_ok());
}

/// An offset from a delivery request that lands on an 'R' byte in the
/// envelope or extracted segment but not on a recipient record (the
/// sender's first letter, a length byte of 82, an extracted attribute) is
/// refused, whether or not the file was read first, and the file is left
/// as it was.
#[test]
fn mark_done_refuses_an_r_byte_that_starts_no_record() {
    let d = TestDir::new("mark_done_r_byte");
    let env = Envelope {
        sender: "Rob@example.org".into(),
        // An 82-byte payload: its length byte is 'R'.
        attrs: Attributes {
            other: vec![("x".into(), "y".repeat(80))],
            ..Attributes::default()
        },
        recipients: vec![Recipient::new("u@example.net")],
        ..Envelope::default()
    };
    let ext = Extracted {
        attrs: vec![("note".into(), "Rest".into())],
        ..Extracted::default()
    };
    let (_, path) = write(&d.0, &env, b"body\n", &ext);
    let bytes = std::fs::read(&path).expect("read");
    let qf = queue::open(&path).expect("valid");
    let rcpts: Vec<u64> = qf.recipients().map(|r| r.offset).collect();
    let stray: Vec<u64> = bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'R' && !rcpts.contains(&(i as u64)))
        .map(|(i, _)| i as u64)
        .filter(|&i| i + 2 < qf.size.data_offset || i >= qf.size.data_offset + qf.size.data_size)
        .collect();
    assert!(stray.len() >= 3, "{stray:?}");
    for off in stray {
        assert!(
            matches!(
                queue::mark_done(&path, off),
                Err(QueueError::NotARecipient { .. })
            ),
            "offset {off}"
        );
        let held = queue::Held::open(&path).expect("open");
        held.read().expect("valid");
        assert!(
            matches!(held.mark_done(off), Err(QueueError::NotARecipient { .. })),
            "offset {off}, read first"
        );
        assert_eq!(std::fs::read(&path).expect("read"), bytes, "offset {off}");
    }
    queue::mark_done(&path, rcpts[0]).expect("the recipient");
    assert!(queue::open(&path).expect("valid").envelope.recipients[0].done);
}

/// A size record whose offsets add up past 2^64 is refused, not a panic.
#[test]
fn mark_done_survives_a_size_record_that_overflows() {
    let d = TestDir::new("mark_done_overflow");
    let (_, path) = write(&d.0, &full_envelope(), MESSAGE, &full_extracted());
    let mut bytes = std::fs::read(&path).expect("read");
    let huge = format!("{} {} 1 0 0 0", u64::MAX, u64::MAX);
    let field = format!("{huge:<95}");
    bytes[2..2 + 95].copy_from_slice(field.as_bytes());
    std::fs::write(&path, &bytes).expect("write");
    assert!(matches!(
        queue::mark_done(&path, u64::MAX - 1),
        Err(QueueError::NotARecipient { .. })
    ));
}

/// The delay warning time is rewritten where its payload is, also when
/// the record's length is written in two bytes (a reader takes that as
/// well), not two bytes after the type byte, over the length and the
/// next record.
#[test]
fn set_warn_time_finds_the_payload_after_a_long_length() {
    let d = TestDir::new("warn_time");
    let (_, path) = write(&d.0, &full_envelope(), MESSAGE, &full_extracted());
    queue::set_warn_time(&path, 42).expect("set");
    let qf = queue::open(&path).expect("valid");
    assert_eq!(qf.envelope.warn_time, Some(42));
    // The same record with its length 15 as 0x8f 0x00.
    let bytes = std::fs::read(&path).expect("read");
    let mut rr = queue::record::RecordReader::new(&bytes[..], 0);
    let mut out = Vec::new();
    while let Some(rec) = rr.next_record().expect("record") {
        if rec.rtype == RecordType::Warn.byte() {
            out.extend_from_slice(&[rec.rtype, 0x8f, 0x00]);
            out.extend_from_slice(&rec.payload);
        } else {
            out.extend(encode(rec.rtype, &rec.payload));
        }
    }
    std::fs::write(&path, &out).expect("write");
    queue::set_warn_time(&path, 7).expect("set");
    let after = std::fs::read(&path).expect("read");
    let mut rr = queue::record::RecordReader::new(&after[..], 0);
    let mut types = Vec::new();
    while let Some(rec) = rr.next_record().expect("record intact") {
        if rec.rtype == RecordType::Warn.byte() {
            assert_eq!(rec.payload, format!("{:>15}", 7).as_bytes());
        }
        types.push(rec.rtype);
    }
    assert!(types.contains(&RecordType::Warn.byte()));
    assert_eq!(types.last(), Some(&RecordType::End.byte()));
}

/// Past the content, the walk to a recipient starts only where the size
/// record's extracted segment does: a size record that points elsewhere
/// (into a content line that reads as an 'R' record) makes the mark fail,
/// not land there.
#[test]
fn mark_done_past_the_content_needs_the_extracted_segment_where_the_size_record_says() {
    let d = TestDir::new("mark_done_moved_size");
    let (_, path) = write(&d.0, &full_envelope(), b"hi\nR\x03abc\n", &full_extracted());
    let qf = queue::open(&path).expect("valid");
    let mut bytes = std::fs::read(&path).expect("read");
    let fake = bytes
        .windows(5)
        .position(|w| w == b"R\x03abc")
        .expect("the line") as u64;
    let mut size = qf.size;
    size.data_size = fake - size.data_offset;
    bytes[2..2 + 95].copy_from_slice(size.payload().as_bytes());
    std::fs::write(&path, &bytes).expect("write");
    assert!(matches!(
        queue::mark_done(&path, fake),
        Err(QueueError::NotARecipient { .. })
    ));
    assert_eq!(std::fs::read(&path).expect("read"), bytes);
}
