//! Whole-message tests: real-world-shaped messages, sizes computed by
//! hand, hostile input, and a pseudo-random no-panic run.

use super::*;

const PLAIN: &[u8] = b"From: Alice <alice@example.org>\r\n\
To: bob@example.com\r\n\
Subject: Hello\r\n\
Date: Mon, 13 Jan 2025 10:00:00 +0100\r\n\
Message-ID: <1@example.org>\r\n\
\r\n\
Hi Bob,\r\n\
\r\n\
bye\r\n";

const ALT: &[u8] = b"From: a@x\r\n\
Subject: alt\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=\"XX\"\r\n\
\r\n\
preamble\r\n\
--XX\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
caf=C3=A9\r\n\
--XX\r\n\
Content-Type: text/html\r\n\
\r\n\
<p>caf&eacute;</p>\r\n\
\r\n\
--XX--\r\n\
epilogue\r\n";

const MIXED: &[u8] = b"Content-Type: multipart/mixed; boundary=outer\r\n\
\r\n\
--outer\r\n\
\r\n\
See attached.\r\n\
--outer\r\n\
Content-Type: application/pdf; name=\"r.pdf\"\r\n\
Content-Disposition: attachment;\r\n filename*0=\"re\"; filename*1=\"port.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-ID: <c1@x>\r\n\
Content-Description: The report\r\n\
Content-Language: en\r\n\
Content-Location: http://x/r.pdf\r\n\
\r\n\
JVBERi0xLjQK\r\n\
--outer--\r\n";

/// Boundary "b" is a prefix of the inner "bb".
const NESTED: &[u8] = b"From: outer@x\r\n\
Subject: fwd\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain\r\n\
\r\n\
see below\r\n\
--b\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
From: inner@y\r\n\
Subject: inner\r\n\
Content-Type: multipart/alternative; boundary=\"bb\"\r\n\
\r\n\
--bb\r\n\
\r\n\
inner text\r\n\
--bb\r\n\
Content-Type: text/html\r\n\
\r\n\
<b>x</b>\r\n\
--bb--\r\n\
--b--\r\n";

fn lf(m: &[u8]) -> Vec<u8> {
    m.iter().copied().filter(|&b| b != b'\r').collect()
}

fn sec(part: &[u32], text: SectionText) -> Section {
    Section::new(part, text)
}

fn fetch(m: &Message<'_>, part: &[u32], text: SectionText) -> Vec<u8> {
    m.fetch(&sec(part, text), None).expect("section")
}

fn addr(name: Option<&str>, mailbox: &str, host: &str) -> Address {
    Address {
        name: name.map(|n| n.as_bytes().to_vec()),
        adl: None,
        mailbox: Some(mailbox.as_bytes().to_vec()),
        host: Some(host.as_bytes().to_vec()),
    }
}

fn text_fields(bs: &BodyStructure) -> (&BodyFields, u64) {
    match bs {
        BodyStructure::Text { fields, lines, .. } => (fields, *lines),
        other => panic!("not text: {other:?}"),
    }
}

#[test]
fn plain_text_message() {
    let m = Message::parse(PLAIN);
    assert_eq!(m.size(), 156);
    assert_eq!(m.root().header.len(), 140);
    let env = m.envelope();
    assert_eq!(env.subject.as_deref(), Some(&b"Hello"[..]));
    assert_eq!(
        env.date.as_deref(),
        Some(&b"Mon, 13 Jan 2025 10:00:00 +0100"[..])
    );
    assert_eq!(env.from, vec![addr(Some("Alice"), "alice", "example.org")]);
    assert_eq!(env.sender, env.from);
    assert_eq!(env.reply_to, env.from);
    assert_eq!(env.to, vec![addr(None, "bob", "example.com")]);
    assert!(env.cc.is_empty() && env.bcc.is_empty() && env.in_reply_to.is_none());
    assert_eq!(env.message_id.as_deref(), Some(&b"<1@example.org>"[..]));
    let bs = m.body_structure();
    let (f, lines) = text_fields(&bs);
    assert_eq!(
        (f.media_type.as_str(), f.subtype.as_str()),
        ("text", "plain")
    );
    assert_eq!(
        f.params,
        vec![Param {
            name: "charset".into(),
            value: b"us-ascii".to_vec()
        }]
    );
    assert_eq!((f.encoding.as_str(), f.size, lines), ("7bit", 16, 3));
    assert_eq!(fetch(&m, &[], SectionText::Full), PLAIN);
    assert_eq!(fetch(&m, &[], SectionText::Header), &PLAIN[..140]);
    assert_eq!(fetch(&m, &[], SectionText::Text), b"Hi Bob,\r\n\r\nbye\r\n");
    assert_eq!(
        fetch(&m, &[1], SectionText::Full),
        b"Hi Bob,\r\n\r\nbye\r\n"
    );
    assert_eq!(fetch(&m, &[1], SectionText::Mime), &PLAIN[..140]);
    assert_eq!(
        fetch(
            &m,
            &[],
            SectionText::HeaderFields(vec!["subject".into(), "TO".into()])
        ),
        b"To: bob@example.com\r\nSubject: Hello\r\n\r\n"
    );
    assert_eq!(
        m.fetch(
            &sec(&[], SectionText::Full),
            Some(Partial {
                origin: 150,
                count: 100
            })
        ),
        Ok(b"\nbye\r\n".to_vec())
    );
    assert_eq!(
        m.fetch(&sec(&[2], SectionText::Full), None),
        Err(SectionError::NoSuchPart(vec![2]))
    );
    assert_eq!(
        m.fetch(&sec(&[0], SectionText::Full), None),
        Err(SectionError::NoSuchPart(vec![0]))
    );
    assert_eq!(
        m.fetch(&sec(&[1, 1], SectionText::Full), None),
        Err(SectionError::NoSuchPart(vec![1, 1]))
    );
    assert_eq!(
        m.fetch(&sec(&[1], SectionText::Header), None),
        Err(SectionError::NotMessage(vec![1]))
    );
    assert_eq!(
        m.fetch(&sec(&[], SectionText::Mime), None),
        Err(SectionError::MimeWithoutPart)
    );
    assert_eq!(m.date().map(|d| d.unix()), Some(1736758800));
}

#[test]
fn lf_and_crlf_agree() {
    for msg in [PLAIN, ALT, MIXED, NESTED] {
        let lf_msg = lf(msg);
        let a = Message::parse(msg);
        let b = Message::parse(&lf_msg);
        assert_eq!(a.size(), msg.len() as u64);
        assert_eq!(b.size(), msg.len() as u64);
        assert_eq!(b.span().bare_lfs(), (msg.len() - lf_msg.len()) as u64);
        assert_eq!(a.body_structure(), b.body_structure());
        assert_eq!(a.envelope(), b.envelope());
        for path in [&[][..], &[1], &[2], &[2, 1], &[2, 2]] {
            for t in [
                SectionText::Full,
                SectionText::Header,
                SectionText::Text,
                SectionText::Mime,
            ] {
                let s = sec(path, t);
                let p = Some(Partial {
                    origin: 3,
                    count: 40,
                });
                assert_eq!(a.fetch(&s, None), b.fetch(&s, None), "{s:?}");
                assert_eq!(a.fetch(&s, p), b.fetch(&s, p), "{s:?}");
                if let (Ok(Some(sa)), Ok(Some(sb))) = (a.section_span(&s), b.section_span(&s)) {
                    assert_eq!((sa.crlf_start, sa.crlf_end), (sb.crlf_start, sb.crlf_end));
                    assert_eq!(
                        sa.crlf_len(),
                        a.fetch(&s, None).map_or(0, |v| v.len() as u64)
                    );
                }
            }
        }
        let stored = b.section_raw(&sec(&[], SectionText::Full)).expect("whole");
        assert_eq!(&stored[..], &lf_msg[..]);
    }
}

#[test]
fn multipart_alternative() {
    let m = Message::parse(ALT);
    assert_eq!(m.size(), 286);
    assert_eq!((m.root().header.len(), m.root().body.len()), (98, 188));
    let BodyStructure::Multipart {
        parts,
        subtype,
        params,
        ..
    } = m.body_structure()
    else {
        panic!("not multipart")
    };
    assert_eq!(subtype, "alternative");
    assert_eq!(
        params,
        vec![Param {
            name: "boundary".into(),
            value: b"XX".to_vec()
        }]
    );
    assert_eq!(parts.len(), 2);
    let (f, lines) = text_fields(&parts[0]);
    assert_eq!(
        (f.size, lines, f.encoding.as_str()),
        (9, 0, "quoted-printable")
    );
    assert_eq!(f.params[0].value, b"utf-8");
    let (f, lines) = text_fields(&parts[1]);
    assert_eq!((f.subtype.as_str(), f.size, lines), ("html", 20, 1));
    assert_eq!(
        f.params,
        vec![Param {
            name: "charset".into(),
            value: b"us-ascii".to_vec()
        }]
    );
    assert_eq!(fetch(&m, &[1], SectionText::Full), b"caf=C3=A9");
    assert_eq!(fetch(&m, &[1], SectionText::Mime).len(), 88);
    assert_eq!(
        fetch(&m, &[2], SectionText::Full),
        b"<p>caf&eacute;</p>\r\n"
    );
    assert_eq!(m.part_text(m.part(&[1]).expect("part 1")), "café");
    assert!(m.search_text().contains("café\n<p>"));
    assert!(fetch(&m, &[], SectionText::Text).starts_with(b"preamble\r\n--XX\r\n"));
}

#[test]
fn multipart_mixed_attachment() {
    let m = Message::parse(MIXED);
    let BodyStructure::Multipart { parts, .. } = m.body_structure() else {
        panic!("not multipart")
    };
    let (f, lines) = text_fields(&parts[0]);
    assert_eq!((f.size, lines), (13, 0));
    let BodyStructure::Basic { fields, ext } = &parts[1] else {
        panic!("not basic")
    };
    assert_eq!(
        (fields.media_type.as_str(), fields.subtype.as_str()),
        ("application", "pdf")
    );
    assert_eq!(
        fields.params,
        vec![Param {
            name: "name".into(),
            value: b"r.pdf".to_vec()
        }]
    );
    assert_eq!(fields.id.as_deref(), Some(&b"<c1@x>"[..]));
    assert_eq!(fields.description.as_deref(), Some(&b"The report"[..]));
    assert_eq!((fields.encoding.as_str(), fields.size), ("base64", 12));
    let d = ext.disposition.as_ref().expect("disposition");
    assert_eq!(d.kind, "attachment");
    assert_eq!(
        d.params,
        vec![Param {
            name: "filename".into(),
            value: b"report.pdf".to_vec()
        }]
    );
    assert_eq!(ext.language, vec!["en".to_string()]);
    assert_eq!(ext.location.as_deref(), Some(&b"http://x/r.pdf"[..]));
    assert_eq!(ext.md5, None);
    let p2 = m.part(&[2]).expect("part 2");
    assert_eq!(
        transfer_decode(&p2.transfer_encoding(m.data()), &m.data()[p2.body.range()]),
        b"%PDF-1.4\n"
    );
    // No envelope fields at all.
    let env = m.envelope();
    assert_eq!(env, Envelope::default());
}

#[test]
fn nested_message_rfc822() {
    let m = Message::parse(NESTED);
    let BodyStructure::Multipart { parts, .. } = m.body_structure() else {
        panic!("not multipart")
    };
    assert_eq!(parts.len(), 2);
    let BodyStructure::Message {
        fields,
        envelope,
        body,
        lines,
        ..
    } = &parts[1]
    else {
        panic!("not message")
    };
    assert_eq!((fields.size, *lines), (154, 11));
    assert_eq!(envelope.subject.as_deref(), Some(&b"inner"[..]));
    assert_eq!(envelope.from, vec![addr(None, "inner", "y")]);
    let BodyStructure::Multipart {
        parts: inner,
        subtype,
        ..
    } = &**body
    else {
        panic!("inner not multipart")
    };
    assert_eq!((subtype.as_str(), inner.len()), ("alternative", 2));
    assert_eq!(fetch(&m, &[2, 1], SectionText::Full), b"inner text");
    assert_eq!(fetch(&m, &[2, 2], SectionText::Full), b"<b>x</b>");
    assert_eq!(
        fetch(&m, &[2, 2], SectionText::Mime),
        b"Content-Type: text/html\r\n\r\n"
    );
    let hdr = fetch(&m, &[2], SectionText::Header);
    assert!(hdr.starts_with(b"From: inner@y\r\n") && hdr.ends_with(b"\"bb\"\r\n\r\n"));
    assert_eq!(
        m.fetch(
            &sec(&[2], SectionText::Header),
            Some(Partial {
                origin: 6,
                count: 7
            })
        ),
        Ok(b"inner@y".to_vec())
    );
    assert_eq!(
        fetch(
            &m,
            &[2],
            SectionText::HeaderFieldsNot(vec!["content-type".into(), "from".into()])
        ),
        b"Subject: inner\r\n\r\n"
    );
    assert!(fetch(&m, &[2], SectionText::Text).starts_with(b"--bb\r\n\r\ninner text"));
    assert!(fetch(&m, &[2], SectionText::Text).ends_with(b"--bb--"));
    assert_eq!(
        fetch(&m, &[2], SectionText::Mime),
        b"Content-Type: message/rfc822\r\n\r\n"
    );
    assert!(fetch(&m, &[2], SectionText::Full).starts_with(b"From: inner@y"));
    assert_eq!(
        m.fetch(&sec(&[2, 1], SectionText::Header), None),
        Err(SectionError::NotMessage(vec![2, 1]))
    );
    assert_eq!(
        m.fetch(&sec(&[2, 3], SectionText::Full), None),
        Err(SectionError::NoSuchPart(vec![2, 3]))
    );
}

#[test]
fn message_rfc822_single_part_inside() {
    // Part 1.1 of a message/rfc822 holding a non-multipart message is
    // that message's body; BODY[1.2.HEADER] addressing of a nested one.
    let msg = b"Content-Type: multipart/mixed; boundary=o\n\n--o\n\nfirst\n--o\n\
Content-Type: multipart/mixed; boundary=i\n\n--i\n\nx\n--i\nContent-Type: message/rfc822\n\n\
Subject: deep\nX: 1\n\ndeep body\n--i--\n--o--\n";
    let m = Message::parse(msg);
    assert_eq!(fetch(&m, &[2, 2, 1], SectionText::Full), b"deep body");
    assert_eq!(
        m.fetch(
            &sec(&[2, 2], SectionText::Header),
            Some(Partial {
                origin: 0,
                count: 100
            })
        ),
        Ok(b"Subject: deep\r\nX: 1\r\n\r\n".to_vec())
    );
    assert_eq!(fetch(&m, &[2, 2], SectionText::Text), b"deep body");
    assert_eq!(
        m.fetch(&sec(&[2, 2, 2], SectionText::Full), None),
        Err(SectionError::NoSuchPart(vec![2, 2, 2]))
    );
}

#[test]
fn headers_only_and_no_blank_line() {
    let msg = b"From: a@x\r\nSubject: s\r\n";
    let m = Message::parse(msg);
    assert_eq!(m.root().header.len(), msg.len());
    assert!(m.root().body.is_empty());
    assert_eq!(fetch(&m, &[], SectionText::Text), b"");
    let bs = m.body_structure();
    let (f, lines) = text_fields(&bs);
    assert_eq!((f.size, lines), (0, 0));
    let msg = b"From: a@x\nSubject: s";
    let m = Message::parse(msg);
    assert_eq!(m.size(), msg.len() as u64 + 1);
    assert_eq!(
        fetch(&m, &[], SectionText::HeaderFields(vec!["Subject".into()])),
        b"Subject: s\r\n\r\n"
    );
    assert_eq!(
        fetch(&m, &[], SectionText::Header),
        b"From: a@x\r\nSubject: s"
    );
    let m = Message::parse(b"");
    assert_eq!(m.size(), 0);
    assert!(matches!(m.body_structure(), BodyStructure::Text { .. }));
    assert_eq!(fetch(&m, &[1], SectionText::Full), b"");
    // Body right away.
    let m = Message::parse(b"\r\nbody");
    assert_eq!((m.root().header.len(), m.root().body.len()), (2, 4));
}

#[test]
fn missing_end_boundary_and_oddities() {
    let msg = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nA\r\n--b\r\n\r\nB\r\n";
    let m = Message::parse(msg);
    assert_eq!(m.root().children().len(), 2);
    assert_eq!(fetch(&m, &[2], SectionText::Full), b"B\r\n");
    let BodyStructure::Multipart { parts, .. } = m.body_structure() else {
        panic!()
    };
    assert_eq!(text_fields(&parts[1]).1, 1);
    // No delimiter at all: one empty text/plain in BODYSTRUCTURE.
    let m = Message::parse(b"Content-Type: multipart/mixed; boundary=b\r\n\r\njust text\r\n");
    let BodyStructure::Multipart { parts, .. } = m.body_structure() else {
        panic!()
    };
    assert_eq!(text_fields(&parts[0]).0.size, 0);
    assert!(m.part(&[1]).is_err());
    // Multipart without boundary: no parts.
    let m = Message::parse(b"Content-Type: multipart/mixed\r\n\r\n--b\r\n\r\nx\r\n");
    let BodyStructure::Multipart { parts, params, .. } = m.body_structure() else {
        panic!()
    };
    assert_eq!((parts.len(), params.len()), (1, 0));
    // Invalid Content-Type: the default.
    let m = Message::parse(b"Content-Type: garbage\r\nContent-Transfer-Encoding: 8BIT\r\n\r\nx");
    let bs = m.body_structure();
    let (f, _) = text_fields(&bs);
    assert_eq!((f.subtype.as_str(), f.encoding.as_str()), ("plain", "8BIT"));
    // multipart/digest: parts default to message/rfc822.
    let m = Message::parse(
        b"Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: in\n\nhi\n--d--\n",
    );
    let BodyStructure::Multipart { parts, .. } = m.body_structure() else {
        panic!()
    };
    assert!(
        matches!(&parts[0], BodyStructure::Message { envelope, .. } if envelope.subject.as_deref() == Some(b"in"))
    );
}

#[test]
fn envelope_groups_and_defaults() {
    let msg = b"From: \"Doe, J.\" <j@x>\r\nSender:\r\nReply-To: r@x\r\nTo: undisclosed-recipients:;\r\n\
Cc: team: a@x, b@y;, c@z\r\nBcc: (none)\r\nIn-Reply-To: <p@x>\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n \r\n more\r\n\r\n";
    let m = Message::parse(msg);
    let env = m.envelope();
    assert_eq!(env.from, vec![addr(Some("Doe, J."), "j", "x")]);
    assert_eq!(env.sender, env.from);
    assert_eq!(env.reply_to, vec![addr(None, "r", "x")]);
    assert_eq!(env.to.len(), 2);
    assert!(env.to[0].is_group_start() && env.to[1].is_group_end());
    assert_eq!(env.cc.len(), 5);
    assert_eq!(env.cc[4], addr(None, "c", "z"));
    assert!(env.bcc.is_empty());
    assert_eq!(env.in_reply_to.as_deref(), Some(&b"<p@x>"[..]));
    assert_eq!(
        env.subject.as_deref(),
        Some(&b"=?utf-8?q?caf=C3=A9?= more"[..])
    );
    assert_eq!(
        decode_header(m.header().first("subject").expect("subject")),
        "café more"
    );
    assert_eq!(m.header().get("X-None").count(), 0);
}

fn depth(p: &Part) -> usize {
    match &p.kind {
        PartKind::Leaf => 1,
        PartKind::Multipart(c) => 1 + c.iter().map(depth).max().unwrap_or(0),
        PartKind::Message(m) => 1 + depth(m),
    }
}

#[test]
fn hostile_nesting() {
    let mut msg = Vec::new();
    for i in 0..3000 {
        msg.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n")
                .as_bytes(),
        );
    }
    msg.extend_from_slice(b"\r\nleaf\r\n");
    let m = Message::parse(&msg);
    assert_eq!(depth(m.root()), 101);
    let _ = m.body_structure();
    assert_eq!(m.size(), msg.len() as u64);
    let path = vec![1u32; 100];
    assert!(m.fetch(&sec(&path, SectionText::Mime), None).is_ok());

    let msg = b"Content-Type: message/rfc822\n\n".repeat(20_000);
    let m = Message::parse(&msg);
    assert_eq!(depth(m.root()), 101);
    let _ = m.body_structure();
    assert!(m.fetch(&sec(&[1; 50], SectionText::Header), None).is_ok());

    let mut msg = b"Content-Type: multipart/mixed; boundary=b\n\n".to_vec();
    msg.extend_from_slice(&b"--b\n\nx\n".repeat(1000));
    let m = Message::parse_with(
        &msg,
        Limits {
            max_depth: 100,
            max_parts: 10,
        },
    );
    assert_eq!(m.root().children().len(), 9);
}

#[test]
fn overlong_lines() {
    let mut msg = b"Subject: ".to_vec();
    msg.extend(std::iter::repeat_n(b'x', 1 << 20));
    msg.extend_from_slice(b"\n\n");
    msg.extend(std::iter::repeat_n(b'y', 1 << 20));
    let m = Message::parse(&msg);
    assert_eq!(m.envelope().subject.map(|s| s.len()), Some(1 << 20));
    let bs = m.body_structure();
    let (f, lines) = text_fields(&bs);
    assert_eq!((f.size, lines), (1 << 20, 0));
    assert_eq!(m.size(), msg.len() as u64 + 2);
    let got = m.fetch(
        &sec(&[], SectionText::Text),
        Some(Partial {
            origin: (1 << 20) - 2,
            count: 10,
        }),
    );
    assert_eq!(got, Ok(b"yy".to_vec()));
}

/// xorshift64*: deterministic, no crates.
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

const FRAGMENTS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\n\n",
    b"\r\n\r\n",
    b"--b",
    b"--b--",
    b"--bb",
    b"Content-Type: multipart/mixed; boundary=b",
    b"Content-Type: multipart/alternative; boundary=\"bb\"",
    b"Content-Type: multipart/digest; boundary=b",
    b"Content-Type: message/rfc822",
    b"Content-Type: text/plain; charset=\"iso-8859-1\"; x*0*=a; x*1=b",
    b"Content-Transfer-Encoding: base64",
    b"Content-Transfer-Encoding: quoted-printable",
    b"Content-Disposition: attachment; filename=\"a\"",
    b"From: \"a\" <b@c>, (x) g: d@e;, <",
    b"To: a@",
    b"Date: Mon, 1 Jan 2024 10:00 -0500",
    b"Subject: =?utf-8?q?=C3?= =?utf-8?b?w6k=?=",
    b" ",
    b"\t",
    b"abc",
    b":",
    b"<",
    b">",
    b"\"",
    b"(",
    b")",
    b"=",
    b"\r",
    b"@",
    b";",
    b",",
    b"=?",
    b"?=",
];

fn check_spans(data: &[u8], p: &Part, within: std::ops::Range<usize>) {
    for s in [p.header, p.body] {
        assert!(within.start <= s.start && s.start <= s.end && s.end <= within.end);
        assert_eq!(s.crlf_len(), to_crlf(&data[s.range()]).len() as u64);
    }
    assert_eq!(p.header.end, p.body.start);
    for c in p.children() {
        check_spans(data, c, p.body.range());
    }
    if let Some(inner) = p.message() {
        check_spans(data, inner, p.body.range());
    }
}

#[test]
fn pseudo_random_never_panics() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let texts = || {
        vec![
            SectionText::Full,
            SectionText::Header,
            SectionText::Text,
            SectionText::Mime,
            SectionText::HeaderFields(vec!["from".into(), "content-type".into()]),
            SectionText::HeaderFieldsNot(vec!["to".into()]),
        ]
    };
    for round in 0..1500 {
        let mut msg = Vec::new();
        let n = rng.below(80);
        for _ in 0..n {
            if rng.below(6) == 0 {
                msg.push(rng.next() as u8);
            } else {
                msg.extend_from_slice(FRAGMENTS[rng.below(FRAGMENTS.len())]);
            }
        }
        let m = Message::parse_with(
            &msg,
            Limits {
                max_depth: 1 + round % 8,
                max_parts: 50,
            },
        );
        check_spans(&msg, m.root(), 0..msg.len());
        assert_eq!(m.size(), to_crlf(&msg).len() as u64);
        let _ = m.envelope();
        let _ = m.body_structure();
        let _ = m.search_text();
        let _ = m.date();
        for (_, v) in m.header().fields() {
            let _ = decode_header(v);
            let _ = parse_address_list(v);
            let _ = parse_date(v);
        }
        for a in 0..4u32 {
            for b in 0..3u32 {
                for path in [vec![], vec![a], vec![a, b], vec![a, b, 1]] {
                    for t in texts() {
                        let s = Section::new(&path, t);
                        let partial = Partial {
                            origin: rng.below(50) as u64,
                            count: rng.below(50) as u64,
                        };
                        if let Ok(full) = m.fetch(&s, None) {
                            let cut = m.fetch(&s, Some(partial)).expect("partial");
                            assert!(cut.len() <= full.len());
                            if let Ok(Some(span)) = m.section_span(&s) {
                                assert_eq!(span.crlf_len(), full.len() as u64);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A test-only writer of IMAP syntax, enough to compare with Dovecot.
mod imap {
    use crate::*;

    fn s(v: &[u8]) -> String {
        let mut out = String::from("\"");
        for &b in v {
            if b == b'"' || b == b'\\' {
                out.push('\\');
            }
            out.push(b as char);
        }
        out.push('"');
        out
    }

    fn ns(v: Option<&[u8]>) -> String {
        v.map_or("NIL".into(), s)
    }

    fn params(p: &[Param]) -> String {
        if p.is_empty() {
            return "NIL".into();
        }
        let items: Vec<String> = p
            .iter()
            .map(|p| format!("{} {}", s(p.name.as_bytes()), s(&p.value)))
            .collect();
        format!("({})", items.join(" "))
    }

    fn addrs(list: &[Address]) -> String {
        if list.is_empty() {
            return "NIL".into();
        }
        let items: String = list
            .iter()
            .map(|a| {
                format!(
                    "({} {} {} {})",
                    ns(a.name.as_deref()),
                    ns(a.adl.as_deref()),
                    ns(a.mailbox.as_deref()),
                    ns(a.host.as_deref())
                )
            })
            .collect();
        format!("({items})")
    }

    pub fn envelope(e: &Envelope) -> String {
        format!(
            "{} {} {} {} {} {} {} {} {} {}",
            ns(e.date.as_deref()),
            ns(e.subject.as_deref()),
            addrs(&e.from),
            addrs(&e.sender),
            addrs(&e.reply_to),
            addrs(&e.to),
            addrs(&e.cc),
            addrs(&e.bcc),
            ns(e.in_reply_to.as_deref()),
            ns(e.message_id.as_deref())
        )
    }

    fn ext_tail(d: &Option<Disposition>, lang: &[String], loc: &Option<Vec<u8>>) -> String {
        let disp = match d {
            None => "NIL".into(),
            Some(d) => format!("({} {})", s(d.kind.as_bytes()), params(&d.params)),
        };
        let lang = if lang.is_empty() {
            "NIL".into()
        } else {
            let l: Vec<String> = lang.iter().map(|l| s(l.as_bytes())).collect();
            format!("({})", l.join(" "))
        };
        format!("{disp} {lang} {}", ns(loc.as_deref()))
    }

    fn fields(f: &BodyFields) -> String {
        format!(
            "{} {} {} {} {} {} {}",
            s(f.media_type.as_bytes()),
            s(f.subtype.as_bytes()),
            params(&f.params),
            ns(f.id.as_deref()),
            ns(f.description.as_deref()),
            s(f.encoding.as_bytes()),
            f.size
        )
    }

    /// BODYSTRUCTURE without the outer parentheses, as doveadm prints.
    pub fn body(b: &BodyStructure) -> String {
        match b {
            BodyStructure::Basic { fields: f, ext } => format!(
                "{} {} {}",
                fields(f),
                ns(ext.md5.as_deref()),
                ext_tail(&ext.disposition, &ext.language, &ext.location)
            ),
            BodyStructure::Text {
                fields: f,
                lines,
                ext,
            } => format!(
                "{} {lines} {} {}",
                fields(f),
                ns(ext.md5.as_deref()),
                ext_tail(&ext.disposition, &ext.language, &ext.location)
            ),
            BodyStructure::Message {
                fields: f,
                envelope: e,
                body: inner,
                lines,
                ext,
            } => format!(
                "{} ({}) ({}) {lines} {} {}",
                fields(f),
                envelope(e),
                body(inner),
                ns(ext.md5.as_deref()),
                ext_tail(&ext.disposition, &ext.language, &ext.location)
            ),
            BodyStructure::Multipart {
                parts,
                subtype,
                params: p,
                disposition,
                language,
                location,
            } => {
                let parts: String = parts.iter().map(|p| format!("({})", body(p))).collect();
                format!(
                    "{parts} {} {} {}",
                    s(subtype.as_bytes()),
                    params(p),
                    ext_tail(disposition, language, location)
                )
            }
        }
    }
}

/// Expected strings are what Dovecot 2.3.19 answered (doveadm fetch
/// imap.envelope imap.bodystructure) for the same messages, except
/// where a comment says otherwise.
#[test]
fn matches_dovecot() {
    let cases: &[(&[u8], u64, &str, &str)] = &[
        (
            PLAIN,
            156,
            r#""Mon, 13 Jan 2025 10:00:00 +0100" "Hello" (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) ((NIL NIL "bob" "example.com")) NIL NIL NIL "<1@example.org>""#,
            r#""text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 16 3 NIL NIL NIL NIL"#,
        ),
        (
            ALT,
            286,
            r#"NIL "alt" ((NIL NIL "a" "x")) ((NIL NIL "a" "x")) ((NIL NIL "a" "x")) NIL NIL NIL NIL NIL"#,
            r#"("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 9 0 NIL NIL NIL NIL)("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 20 1 NIL NIL NIL NIL) "alternative" ("boundary" "XX") NIL NIL NIL"#,
        ),
        (
            MIXED,
            375,
            "NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL",
            r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 13 0 NIL NIL NIL NIL)("application" "pdf" ("name" "r.pdf") "<c1@x>" "The report" "base64" 12 NIL ("attachment" ("filename" "report.pdf")) ("en") "http://x/r.pdf") "mixed" ("boundary" "outer") NIL NIL NIL"#,
        ),
        // Dovecot says 156 octets and 12 lines for the message/rfc822
        // part: it leaves the CRLF before the outer close delimiter in
        // the embedded message. RFC 2046 §5.1.1 gives it to the
        // delimiter, as for the other parts; so do we.
        (
            NESTED,
            320,
            r#"NIL "fwd" ((NIL NIL "outer" "x")) ((NIL NIL "outer" "x")) ((NIL NIL "outer" "x")) NIL NIL NIL NIL NIL"#,
            r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 9 0 NIL NIL NIL NIL)("message" "rfc822" NIL NIL NIL "7bit" 154 (NIL "inner" ((NIL NIL "inner" "y")) ((NIL NIL "inner" "y")) ((NIL NIL "inner" "y")) NIL NIL NIL NIL NIL) (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 0 NIL NIL NIL NIL)("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 8 0 NIL NIL NIL NIL) "alternative" ("boundary" "bb") NIL NIL NIL) 11 NIL NIL NIL NIL) "mixed" ("boundary" "b") NIL NIL NIL"#,
        ),
        (
            b"From: \"Doe, J.\" <j@x>\r\nSender:\r\nReply-To: r@x\r\nTo: undisclosed-recipients:;\r\nCc: team: a@x, b@y;, c@z\r\nBcc: (none)\r\nIn-Reply-To: <p@x>\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n \r\n more\r\n\r\n",
            180,
            r#"NIL "=?utf-8?q?caf=C3=A9?= more" (("Doe, J." NIL "j" "x")) (("Doe, J." NIL "j" "x")) ((NIL NIL "r" "x")) ((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) ((NIL NIL "team" NIL)(NIL NIL "a" "x")(NIL NIL "b" "y")(NIL NIL NIL NIL)(NIL NIL "c" "z")) NIL "<p@x>" NIL"#,
            r#""text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL"#,
        ),
        (
            b"Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: in\n\nhi\n--d--\n",
            79,
            "NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL",
            r#"("message" "rfc822" NIL NIL NIL "7bit" 17 (NIL "in" NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 2 0 NIL NIL NIL NIL) 2 NIL NIL NIL NIL) "digest" ("boundary" "d") NIL NIL NIL"#,
        ),
        (
            b"From: a@x\nSubject: s",
            21,
            r#"NIL "s" ((NIL NIL "a" "x")) ((NIL NIL "a" "x")) ((NIL NIL "a" "x")) NIL NIL NIL NIL NIL"#,
            r#""text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL"#,
        ),
        (
            b"Content-Type: multipart/mixed; boundary=b\r\n\r\njust text\r\n",
            56,
            "NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL",
            r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) "mixed" ("boundary" "b") NIL NIL NIL"#,
        ),
        (
            b"Content-Type: multipart/mixed\r\n\r\n--b\r\n\r\nx\r\n",
            43,
            "NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL",
            r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) "mixed" NIL NIL NIL NIL"#,
        ),
        // Dovecot joins RFC 2231 pieces without %-escaping the plain
        // one ("This%20is more") and puts charset last; ours below.
        (
            b"Content-Type: text/plain; title*0*=us-ascii'en'This%20is; title*1=\" more\"\r\nContent-Disposition: inline\r\nContent-Language: en, de\r\nContent-MD5: abc=\r\n\r\nhello",
            156,
            "NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL",
            r#""text" "plain" ("title*" "us-ascii'en'This%20is%20more" "charset" "us-ascii") NIL NIL "7bit" 5 0 "abc=" ("inline" NIL) ("en" "de") NIL"#,
        ),
    ];
    for (i, (msg, size, env, body)) in cases.iter().enumerate() {
        for bytes in [msg.to_vec(), lf(msg)] {
            let m = Message::parse(&bytes);
            assert_eq!(m.size(), *size, "case {i}");
            assert_eq!(imap::envelope(&m.envelope()), *env, "case {i}");
            assert_eq!(imap::body(&m.body_structure()), *body, "case {i}");
        }
    }
}

#[test]
fn pseudo_random_helpers_never_panic() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let alphabet = b"ab1:;,.<>@()[]\"\\=?_%*'/ \t\r\n+-\xc3\xa9\xff";
    for _ in 0..20_000 {
        let n = rng.below(40);
        let v: Vec<u8> = (0..n)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        let _ = parse_address_list(&v);
        let _ = parse_content_type(&v);
        let _ = parse_disposition(&v);
        let _ = parse_language(&v);
        let _ = decode_header(&v);
        let _ = parse_date(&v);
        let _ = decode_rfc2231(&v);
        let _ = qp_decode(&v);
        let _ = base64_decode(&v);
        let mut ct = b"text/plain; ".to_vec();
        ct.extend_from_slice(&v);
        let _ = parse_content_type(&ct);
        let mut d = b"=?utf-8?q?".to_vec();
        d.extend_from_slice(&v);
        let _ = decode_header(&d);
    }
}
