//! Tests of the parsers and builders; every parser test runs its input
//! through every 2-way split (and every 3-way split for short inputs).

use crate::testutil::*;
use crate::*;

fn tolerant() -> ParserConfig {
    ParserConfig::default()
}

fn strict() -> ParserConfig {
    ParserConfig {
        strict: true,
        ..ParserConfig::default()
    }
}

fn mb(l: &str, d: &str) -> Mailbox {
    Mailbox {
        local: l.into(),
        domain: Some(d.into()),
    }
}

/// Parse one line (with CRLF added) under every split.
fn one(cfg: ParserConfig, line: &str) -> Result<Command, CommandError> {
    let input = format!("{line}\r\n");
    let mut got = same_for_all_splits(input.as_bytes(), |c| run_commands(cfg, c));
    assert_eq!(got.len(), 1, "{line:?}");
    let (r, bare) = got.remove(0);
    assert!(!bare);
    r
}

#[test]
fn simple_commands() {
    let cases: Vec<(&str, Result<Command, CommandError>)> = vec![
        (
            "HELO mx.example.com",
            Ok(Command::Helo("mx.example.com".into())),
        ),
        ("helo  a b ", Ok(Command::Helo("a b".into()))),
        ("EHLO [192.0.2.1]", Ok(Command::Ehlo("[192.0.2.1]".into()))),
        ("ehlo x", Ok(Command::Ehlo("x".into()))),
        ("HELO", Err(CommandError::Syntax(Verb::Helo))),
        ("EHLO   ", Err(CommandError::Syntax(Verb::Ehlo))),
        ("DATA", Ok(Command::Data)),
        ("data", Ok(Command::Data)),
        ("DATA x", Err(CommandError::Syntax(Verb::Data))),
        ("RSET", Ok(Command::Rset)),
        ("RSET x", Err(CommandError::Syntax(Verb::Rset))),
        ("NOOP", Ok(Command::Noop)),
        ("NOOP whatever you like", Ok(Command::Noop)),
        ("QUIT", Ok(Command::Quit)),
        ("QUIT x", Ok(Command::Quit)),
        ("VRFY root", Ok(Command::Vrfy("root".into()))),
        (
            "VRFY jörg@example.com SMTPUTF8",
            Ok(Command::Vrfy("jörg@example.com SMTPUTF8".into())),
        ),
        ("VRFY", Err(CommandError::Syntax(Verb::Vrfy))),
        ("EXPN list", Ok(Command::Expn("list".into()))),
        ("EXPN", Ok(Command::Expn("".into()))),
        ("HELP", Ok(Command::Help(None))),
        ("HELP MAIL", Ok(Command::Help(Some("MAIL".into())))),
        ("STARTTLS", Ok(Command::StartTls)),
        ("starttls x", Err(CommandError::Syntax(Verb::StartTls))),
        (
            "AUTH PLAIN",
            Ok(Command::Auth {
                mechanism: "PLAIN".into(),
                initial: None,
            }),
        ),
        (
            "auth plain AGZvbwBiYXI=",
            Ok(Command::Auth {
                mechanism: "PLAIN".into(),
                initial: Some("AGZvbwBiYXI=".into()),
            }),
        ),
        (
            "AUTH LOGIN =",
            Ok(Command::Auth {
                mechanism: "LOGIN".into(),
                initial: Some("=".into()),
            }),
        ),
        ("AUTH", Err(CommandError::Syntax(Verb::Auth))),
        ("AUTH A B C", Err(CommandError::Syntax(Verb::Auth))),
        ("ETRN example.com", Ok(Command::Etrn("example.com".into()))),
        ("ETRN", Err(CommandError::Syntax(Verb::Etrn))),
        (
            "XFORWARD NAME=mx.example.org ADDR=192.0.2.1",
            Ok(Command::Xforward(vec![
                ("NAME".into(), "mx.example.org".into()),
                ("ADDR".into(), "192.0.2.1".into()),
            ])),
        ),
        (
            "xforward helo=[UNAVAILABLE]",
            Ok(Command::Xforward(vec![(
                "helo".into(),
                "[UNAVAILABLE]".into(),
            )])),
        ),
        ("XFORWARD", Err(CommandError::Syntax(Verb::Xforward))),
        (
            "XCLIENT ADDR=192.0.2.1 LOGIN=joe",
            Ok(Command::Xclient(vec![
                ("ADDR".into(), "192.0.2.1".into()),
                ("LOGIN".into(), "joe".into()),
            ])),
        ),
        ("XCLIENT", Err(CommandError::Syntax(Verb::Xclient))),
        ("XFORWARD NAME", Err(CommandError::Syntax(Verb::Xforward))),
        ("XFORWARD =x", Err(CommandError::Syntax(Verb::Xforward))),
        (
            "BDAT 100",
            Ok(Command::Bdat {
                size: 100,
                last: false,
            }),
        ),
        (
            "bdat 0 last",
            Ok(Command::Bdat {
                size: 0,
                last: true,
            }),
        ),
        ("BDAT", Err(CommandError::Syntax(Verb::Bdat))),
        ("BDAT x", Err(CommandError::Syntax(Verb::Bdat))),
        ("BDAT -1", Err(CommandError::Syntax(Verb::Bdat))),
        ("BDAT 1 FIRST", Err(CommandError::Syntax(Verb::Bdat))),
        ("BDAT 1 LAST x", Err(CommandError::Syntax(Verb::Bdat))),
        (
            "BDAT 99999999999999999999999",
            Err(CommandError::Syntax(Verb::Bdat)),
        ),
        ("FOO bar", Ok(Command::Unknown("FOO".into()))),
        (
            "MAILFROM:<a@b>",
            Ok(Command::Unknown("MAILFROM:<a@b>".into())),
        ),
        ("", Err(CommandError::Empty)),
        ("   ", Err(CommandError::Empty)),
        ("  NOOP", Ok(Command::Noop)),
        ("NOOP\tx", Ok(Command::Noop)),
    ];
    for (line, want) in cases {
        assert_eq!(one(tolerant(), line), want, "{line:?}");
    }
}

#[test]
fn mail_from() {
    let m = |sender: Option<Mailbox>| MailFrom {
        sender,
        ..MailFrom::default()
    };
    let a = Some(mb("a", "b.example"));
    let cases: Vec<(&str, Result<MailFrom, CommandError>)> = vec![
        ("MAIL FROM:<a@b.example>", Ok(m(a.clone()))),
        ("mail from:<a@b.example>", Ok(m(a.clone()))),
        ("MAIL FROM: <a@b.example>", Ok(m(a.clone()))),
        ("MAIL  FROM:<a@b.example>  ", Ok(m(a.clone()))),
        ("MAIL FROM:a@b.example", Ok(m(a.clone()))),
        ("MAIL FROM:<>", Ok(m(None))),
        ("MAIL FROM:<@x.example,@y.example:a@b.example>", Ok(m(a.clone()))),
        ("MAIL FROM:<\"john doe\"@b.example>", Ok(m(Some(mb("john doe", "b.example"))))),
        ("MAIL FROM:<\"a>b\"@b.example> SIZE=1", Ok(MailFrom { size: Some(1), ..m(Some(mb("a>b", "b.example"))) })),
        ("MAIL FROM:<jörg@b.example> SMTPUTF8", Ok(MailFrom { smtputf8: true, ..m(Some(mb("jörg", "b.example"))) })),
        (
            "MAIL FROM:<a@b.example> SIZE=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ+2B1 AUTH=<>",
            Ok(MailFrom {
                sender: a.clone(),
                size: Some(1000),
                body: Some(Body::EightBitMime),
                smtputf8: true,
                ret: Some(Ret::Hdrs),
                envid: Some("QQ+1".into()),
                auth: Some("<>".into()),
                verp: None,
            }),
        ),
        ("MAIL FROM:<a@b.example> body=7bit ret=full", Ok(MailFrom { body: Some(Body::SevenBit), ret: Some(Ret::Full), ..m(a.clone()) })),
        ("MAIL FROM:<a@b.example> BODY=BINARYMIME", Ok(MailFrom { body: Some(Body::BinaryMime), ..m(a.clone()) })),
        ("MAIL FROM:<a@b.example> SIZE=10 SIZE=20", Ok(MailFrom { size: Some(20), ..m(a.clone()) })),
        ("MAIL FROM:<a@b.example> AUTH=x+2By@z.example", Ok(MailFrom { auth: Some("x+y@z.example".into()), ..m(a.clone()) })),
        ("MAIL", Err(CommandError::Syntax(Verb::Mail))),
        ("MAIL FROM:", Err(CommandError::Syntax(Verb::Mail))),
        ("MAIL FROM:   ", Err(CommandError::Syntax(Verb::Mail))),
        ("MAIL TO:<a@b.example>", Err(CommandError::Syntax(Verb::Mail))),
        ("MAIL FROM <a@b.example>", Err(CommandError::Syntax(Verb::Mail))),
        ("MAIL FROM:<a b>", Err(CommandError::BadSender(AddrError::BadLocalPart))),
        ("MAIL FROM:<a@b.example", Err(CommandError::BadSender(AddrError::Brackets))),
        ("MAIL FROM:<a@-b.example>", Err(CommandError::BadSender(AddrError::BadDomain))),
        ("MAIL FROM:<a@b.example> SIZE=abc", Err(CommandError::BadSize)),
        ("MAIL FROM:<a@b.example> SIZE=", Err(CommandError::BadSize)),
        ("MAIL FROM:<a@b.example> SIZE=99999999999999999999999", Err(CommandError::SizeOverflow)),
        ("MAIL FROM:<a@b.example> BODY=FOO", Err(CommandError::Unsupported("BODY=FOO".into()))),
        ("MAIL FROM:<a@b.example> FOO=bar", Err(CommandError::Unsupported("FOO=bar".into()))),
        ("MAIL FROM:<a@b.example> SMTPUTF8=x", Err(CommandError::Unsupported("SMTPUTF8=x".into()))),
        ("MAIL FROM:<a@b.example> SIZE", Err(CommandError::Unsupported("SIZE".into()))),
        ("MAIL FROM:<a@b.example> RET=XX", Err(CommandError::BadRet)),
        ("MAIL FROM:<a@b.example> RET=FULL RET=FULL", Err(CommandError::BadRet)),
        ("MAIL FROM:<a@b.example> ENVID=a+ZZ", Err(CommandError::BadEnvid)),
        ("MAIL FROM:<a@b.example> ENVID=a+00", Err(CommandError::BadEnvid)),
        ("MAIL FROM:<a@b.example> ENVID=a ENVID=b", Err(CommandError::BadEnvid)),
        ("MAIL FROM:<a@b.example> AUTH=", Err(CommandError::BadAuthParam)),
        ("MAIL FROM:<a@b.example> AUTH=<> AUTH=<>", Err(CommandError::BadAuthParam)),
        ("MAIL FROM:<a@b.example> <c@d.example>", Err(CommandError::Unsupported("<c@d.example>".into()))),
        ("MAIL FROM:<a@b.example> é", Err(CommandError::Unsupported("é".into()))),
        ("MAIL FROM:<a@b.example> XVERP XVERP", Err(CommandError::Unsupported("XVERP".into()))),
        ("MAIL FROM:<a@b.example> XVERP=", Err(CommandError::Unsupported("XVERP=".into()))),
        (
            "MAIL FROM:<a@b.example> xverp",
            Ok(MailFrom { sender: Some(mb("a", "b.example")), verp: Some(String::new()), ..MailFrom::default() }),
        ),
        (
            "MAIL FROM:<a@b.example> XVERP=-=",
            Ok(MailFrom { sender: Some(mb("a", "b.example")), verp: Some("-=".into()), ..MailFrom::default() }),
        ),
    ];
    for (line, want) in cases {
        assert_eq!(one(tolerant(), line), want.map(Command::Mail), "{line:?}");
    }
}

#[test]
fn rcpt_to() {
    let r = |l: &str, d: &str| RcptTo {
        rcpt: mb(l, d),
        ..RcptTo::default()
    };
    let cases: Vec<(&str, Result<RcptTo, CommandError>)> = vec![
        ("RCPT TO:<c@d.example>", Ok(r("c", "d.example"))),
        ("rcpt to: <c@d.example>", Ok(r("c", "d.example"))),
        (
            "RCPT TO:<postmaster>",
            Ok(RcptTo {
                rcpt: Mailbox {
                    local: "postmaster".into(),
                    domain: None,
                },
                ..RcptTo::default()
            }),
        ),
        (
            "RCPT TO:<c@[IPv6:2001:db8::1]>",
            Ok(r("c", "[IPv6:2001:db8::1]")),
        ),
        (
            "RCPT TO:<c@d.example> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;c+2Bx@d.example",
            Ok(RcptTo {
                notify: Some(Notify {
                    success: true,
                    failure: true,
                    delay: true,
                }),
                orcpt: Some(Orcpt {
                    addr_type: "rfc822".into(),
                    addr: "c+x@d.example".into(),
                }),
                ..r("c", "d.example")
            }),
        ),
        (
            "RCPT TO:<c@d.example> notify=never",
            Ok(RcptTo {
                notify: Some(Notify::NEVER),
                ..r("c", "d.example")
            }),
        ),
        (
            "RCPT TO:<c@d.example> NOTIFY=delay",
            Ok(RcptTo {
                notify: Some(Notify {
                    delay: true,
                    ..Notify::NEVER
                }),
                ..r("c", "d.example")
            }),
        ),
        (
            "RCPT TO:<c@d.example> ORCPT=utf-8;x@y",
            Ok(RcptTo {
                orcpt: Some(Orcpt {
                    addr_type: "utf-8".into(),
                    addr: "x@y".into(),
                }),
                ..r("c", "d.example")
            }),
        ),
        (
            "RCPT TO:<>",
            Err(CommandError::BadRecipient(AddrError::Empty)),
        ),
        ("RCPT", Err(CommandError::Syntax(Verb::Rcpt))),
        (
            "RCPT FROM:<c@d.example>",
            Err(CommandError::Syntax(Verb::Rcpt)),
        ),
        (
            "RCPT TO:<x y>",
            Err(CommandError::BadRecipient(AddrError::BadLocalPart)),
        ),
        (
            "RCPT TO:<c@[300.1.1.1]>",
            Err(CommandError::BadRecipient(AddrError::BadAddressLiteral)),
        ),
        (
            "RCPT TO:<c@d.example> NOTIFY=FOO",
            Err(CommandError::BadNotify),
        ),
        (
            "RCPT TO:<c@d.example> NOTIFY=NEVER,SUCCESS",
            Err(CommandError::BadNotify),
        ),
        (
            "RCPT TO:<c@d.example> NOTIFY=",
            Err(CommandError::BadNotify),
        ),
        (
            "RCPT TO:<c@d.example> NOTIFY=DELAY NOTIFY=DELAY",
            Err(CommandError::BadNotify),
        ),
        (
            "RCPT TO:<c@d.example> ORCPT=foo",
            Err(CommandError::BadOrcpt),
        ),
        (
            "RCPT TO:<c@d.example> ORCPT=;x",
            Err(CommandError::BadOrcpt),
        ),
        (
            "RCPT TO:<c@d.example> ORCPT=rfc822;a+Z",
            Err(CommandError::BadOrcpt),
        ),
        (
            "RCPT TO:<c@d.example> FOO=1",
            Err(CommandError::Unsupported("FOO=1".into())),
        ),
        (
            "RCPT TO:<c@d.example> SIZE=1",
            Err(CommandError::Unsupported("SIZE=1".into())),
        ),
    ];
    for (line, want) in cases {
        assert_eq!(one(tolerant(), line), want.map(Command::Rcpt), "{line:?}");
    }
}

#[test]
fn strict_mode() {
    let ok = [
        "MAIL FROM:<a@b.example>",
        "MAIL FROM:<> SIZE=1",
        "RCPT TO:<Postmaster>",
        "BDAT 1 LAST",
        "EHLO x",
    ];
    for l in ok {
        assert!(one(strict(), l).is_ok(), "{l}");
    }
    let bad: Vec<(&str, CommandError)> = vec![
        (
            "MAIL FROM: <a@b.example>",
            CommandError::BadSender(AddrError::Empty),
        ),
        (
            "MAIL FROM:a@b.example",
            CommandError::BadSender(AddrError::BracketsRequired),
        ),
        ("MAIL  FROM:<a@b.example>", CommandError::Syntax(Verb::Mail)),
        (
            "MAIL FROM:<a..b@x.example>",
            CommandError::BadSender(AddrError::BadLocalPart),
        ),
        (
            "MAIL FROM:<a@b.example>x",
            CommandError::BadSender(AddrError::Brackets),
        ),
        (
            "RCPT TO:<root>",
            CommandError::BadRecipient(AddrError::MissingDomain),
        ),
        ("BDAT  1", CommandError::Syntax(Verb::Bdat)),
        ("EHLO  x", CommandError::Syntax(Verb::Ehlo)),
        ("  NOOP", CommandError::Empty),
    ];
    for (l, e) in bad {
        let got = one(strict(), l);
        // Where strict mode hands a blank-led token to the address parser,
        // any address error will do; otherwise the exact error.
        match (&got, &e) {
            (Err(CommandError::BadSender(_)), CommandError::BadSender(AddrError::Empty)) => {}
            _ => assert_eq!(got, Err(e), "{l}"),
        }
    }
}

#[test]
fn utf8_switch() {
    let no_utf8 = ParserConfig {
        utf8: false,
        ..ParserConfig::default()
    };
    assert_eq!(
        one(no_utf8, "MAIL FROM:<jörg@b.example>"),
        Err(CommandError::BadUtf8)
    );
    assert_eq!(one(no_utf8, "NOOP é"), Err(CommandError::BadUtf8));
    assert!(one(tolerant(), "MAIL FROM:<jörg@bücher.example>").is_ok());
    assert!(one(tolerant(), "RCPT TO:<用户@例子.广告>").is_ok());
    assert_eq!(one(tolerant(), "NOOP é"), Err(CommandError::BadUtf8));
    assert_eq!(
        one(tolerant(), "HELO é.example"),
        Err(CommandError::BadUtf8)
    );
    assert_eq!(one(tolerant(), "É"), Err(CommandError::BadUtf8));
    let r = same_for_all_splits(b"MAIL FROM:<\xff@x>\r\n\xfe\r\n", |c| {
        run_commands(tolerant(), c)
    });
    assert_eq!(
        r,
        vec![
            (Err(CommandError::BadUtf8), false),
            (Err(CommandError::BadUtf8), false)
        ]
    );
    let r = same_for_all_splits(b"NOOP\0x\r\n", |c| run_commands(tolerant(), c));
    assert_eq!(r, vec![(Err(CommandError::Control), false)]);
}

#[test]
fn bare_lf_is_accepted_and_flagged() {
    let r = same_for_all_splits(b"NOOP\nRSET\r\nQUIT\n", |c| run_commands(tolerant(), c));
    assert_eq!(
        r,
        vec![
            (Ok(Command::Noop), true),
            (Ok(Command::Rset), false),
            (Ok(Command::Quit), true)
        ]
    );
    // A CR not before LF is a control character in the line.
    let r = same_for_all_splits(b"RSET\r\r\nNOOP\x1b\r\n", |c| run_commands(tolerant(), c));
    assert_eq!(
        r,
        vec![
            (Err(CommandError::Control), false),
            (Err(CommandError::Control), false)
        ]
    );
}

#[test]
fn long_lines_are_skipped_and_resynchronised() {
    let cfg = ParserConfig {
        line_limit: 16,
        ..ParserConfig::default()
    };
    let mut input = b"NOOP 45678901234\r\n".to_vec(); // exactly 16
    input.extend_from_slice(b"NOOP 456789012345\r\n"); // 17
    input.extend_from_slice(&[b'x'; 100]);
    input.extend_from_slice(b"\nQUIT\r\n");
    let r = same_for_all_splits(&input, |c| run_commands(cfg, c));
    assert_eq!(
        r,
        vec![
            (Ok(Command::Noop), false),
            (Err(CommandError::LineTooLong), false),
            (Err(CommandError::LineTooLong), true),
            (Ok(Command::Quit), false),
        ]
    );
    // Memory stays bounded however long the line.
    let mut p = CommandParser::new(cfg);
    let big = vec![b'a'; 1 << 20];
    for _ in 0..4 {
        assert_eq!(p.parse(&mut big.iter()), Err(CommandError::NeedsMoreData));
    }
    assert!(p.buffered() <= 17);
    assert_eq!(
        p.parse(&mut b"\r\nNOOP\r\n".iter()),
        Err(CommandError::LineTooLong)
    );
}

#[test]
fn a_line_that_arrived_in_pieces_is_replaced_whole() {
    let mut p = CommandParser::new(tolerant());
    assert_eq!(p.parse(&mut b"HE".iter()), Err(CommandError::NeedsMoreData));
    assert_eq!(
        p.parse(&mut b"LO\r\n".iter()),
        Err(CommandError::Syntax(Verb::Helo))
    );
    assert_eq!(p.last_line(), b"HELO");
    assert_eq!(
        p.reparse(b"HELO client.example"),
        Ok(Command::Helo("client.example".into()))
    );
    assert_eq!(p.last_line(), b"HELO client.example");
    // The next line starts afresh.
    assert_eq!(p.parse(&mut b"NOOP\r\n".iter()), Ok(Command::Noop));
    assert_eq!(p.last_line(), b"NOOP");
}

#[test]
fn pipelined_session_with_data() {
    let input =
        b"EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n\
Subject: hi\r\n\r\n..leading dot\r\n.\r\nbody\r\n.\r\nQUIT\r\n";
    let r = same_for_all_splits(input, |c| run_session(tolerant(), 2048, c));
    assert_eq!(r.len(), 8);
    assert_eq!(r[3], Event::Cmd(Ok(Command::Data), false));
    let body = b"Subject: hi\r\n\r\n.leading dot\r\n".to_vec();
    let size = body.len() as u64;
    assert_eq!(r[4], Event::Data(body, size, false, 0));
    assert_eq!(r[5], Event::Cmd(Ok(Command::Unknown("body".into())), false));
    assert_eq!(r[6], Event::Cmd(Ok(Command::Unknown(".".into())), false));
    assert_eq!(r[7], Event::Cmd(Ok(Command::Quit), false));
}

#[test]
fn pipelined_session_with_bdat() {
    let input = b"BDAT 5\r\nab\r\nNBDAT 0\r\nBDAT 3 LAST\r\n.\r\nNOOP\r\n";
    let r = same_for_all_splits(input, |c| run_session(tolerant(), 2048, c));
    assert_eq!(
        r,
        vec![
            Event::Cmd(
                Ok(Command::Bdat {
                    size: 5,
                    last: false
                }),
                false
            ),
            Event::Chunk(b"ab\r\nN".to_vec()),
            Event::Cmd(
                Ok(Command::Bdat {
                    size: 0,
                    last: false
                }),
                false
            ),
            Event::Chunk(Vec::new()),
            Event::Cmd(
                Ok(Command::Bdat {
                    size: 3,
                    last: true
                }),
                false
            ),
            Event::Chunk(b".\r\n".to_vec()),
            Event::Cmd(Ok(Command::Noop), false),
        ]
    );
    let r = same_for_all_splits(b"BDAT 10\r\nabc", |c| run_session(tolerant(), 2048, c));
    assert_eq!(r[1], Event::Partial(b"abc".to_vec()));
}

/// (input, message, done, rest, bare LF seen)
type DataCase = (&'static [u8], &'static [u8], bool, &'static [u8], bool);

#[test]
fn data_decoder_cases() {
    let cases: Vec<DataCase> = vec![
        (b".\r\n", b"", true, b"", false),
        (b"a\r\n.\r\nNOOP\r\n", b"a\r\n", true, b"NOOP\r\n", false),
        (b"a\r\n..\r\n.\r\n", b"a\r\n.\r\n", true, b"", false),
        (b"..a\r\n...\r\n.\r\n", b".a\r\n..\r\n", true, b"", false),
        (b"a\n.\n", b"a\r\n", true, b"", true),
        (b"a\r\n.\n", b"a\r\n", true, b"", true),
        (b"a\n.\r\n", b"a\r\n", true, b"", true),
        (b"a\rb\r\n.\r\n", b"a\rb\r\n", true, b"", false),
        (b"a\r\r\n.\r\n", b"a\r\r\n", true, b"", false),
        (b".\rx\r\n.\r\n", b"\rx\r\n", true, b"", false),
        (b".\r.\r\n.\r\n", b"\r.\r\n", true, b"", false),
        (b"\r.\r\n.\r\n", b"\r.\r\n", true, b"", false),
        (b"a.\r\n.b\r\n.\r\n", b"a.\r\nb\r\n", true, b"", false),
        (b"\r\n\r\n.\r\n", b"\r\n\r\n", true, b"", false),
        (b"a\r\n. \r\n.\r\n", b"a\r\n \r\n", true, b"", false),
        (b"a\r\n", b"a\r\n", false, b"", false),
        (b"a\r\n.", b"a\r\n", false, b"", false),
        (b"a\r\n.\r", b"a\r\n", false, b"", false),
        (b"a", b"a", false, b"", false),
        (b"a\r", b"a", false, b"", false),
        (b"\0\xff\r\n.\r\n", b"\0\xff\r\n", true, b"", false),
        (b"x\r\n.\r\n.\r\n", b"x\r\n", true, b".\r\n", false),
    ];
    for (input, msg, done, rest, bare) in cases {
        let got = same_for_all_splits(input, run_data);
        assert_eq!(
            got,
            (msg.to_vec(), done, rest.to_vec(), bare),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn a_strict_end_is_crlf_dot_crlf_only() {
    // (input, message, done, rest): SMTP smuggling's end markers are
    // content; only CRLF.CRLF ends the message.
    type StrictCase = (&'static [u8], &'static [u8], bool, &'static [u8]);
    let cases: Vec<StrictCase> = vec![
        (b"a\r\n.\r\n", b"a\r\n", true, b""),
        (b".\r\n", b"", true, b""),
        (
            b"a\n.\nMAIL FROM:<x>\r\n.\r\n",
            b"a\r\n.\r\nMAIL FROM:<x>\r\n",
            true,
            b"",
        ),
        (b"a\r\n.\nRCPT\r\n.\r\n", b"a\r\n.\r\nRCPT\r\n", true, b""),
        (b"a\n.\r\nRCPT\r\n.\r\nX", b"a\r\n.\r\nRCPT\r\n", true, b"X"),
        (b"a\n..b\r\n.\r\n", b"a\r\n.b\r\n", true, b""),
    ];
    let strict = DataConfig {
        strict_end: true,
        ..DataConfig::default()
    };
    for (input, msg, done, rest) in cases {
        let (out, d, r, _) = same_for_all_splits(input, |c| run_data_with(strict, c));
        assert_eq!(
            (out, d, r),
            (msg.to_vec(), done, rest.to_vec()),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn data_decoder_keeps_bare_lf_when_asked() {
    let mut d = DataDecoder::new(DataConfig {
        convert_bare_lf: false,
        ..DataConfig::default()
    });
    let mut out = Vec::new();
    assert_eq!(
        d.decode(&mut b"a\nb\r\n.\n".iter(), &mut out),
        DataStatus::Done
    );
    assert_eq!(out, b"a\nb\r\n");
    assert!(d.bare_lf_seen());
    assert_eq!(d.size(), 5);
    // Done is sticky and consumes nothing.
    let mut it = b"NOOP\r\n".iter();
    assert_eq!(d.decode(&mut it, &mut out), DataStatus::Done);
    assert_eq!(it.as_slice(), b"NOOP\r\n");
}

#[test]
fn data_decoder_line_lengths_and_size() {
    let mut input = Vec::new();
    input.extend_from_slice(&[b'a'; 10]);
    input.extend_from_slice(b"\r\n");
    input.extend_from_slice(&[b'b'; 11]);
    input.extend_from_slice(b"\r\n.");
    input.extend_from_slice(&[b'c'; 11]); // 12 on the wire, 11 after unstuffing
    input.extend_from_slice(b"\r\n.\r\n");
    let run = |chunks: &[&[u8]]| {
        let mut d = DataDecoder::new(DataConfig {
            line_limit: 10,
            ..DataConfig::default()
        });
        let mut out = Vec::new();
        for c in chunks {
            d.decode(&mut c.iter(), &mut out);
        }
        (
            d.size(),
            d.long_lines(),
            d.max_line_len(),
            out.len() as u64,
            d.is_done(),
        )
    };
    let (size, long, max, len, done) = same_for_all_splits(&input, run);
    assert!(done);
    assert_eq!((size, long, max), (38, 2, 11));
    assert_eq!(size, len);
}

#[test]
fn data_decoder_streams_large_messages() {
    let mut d = DataDecoder::default();
    let chunk = vec![b'x'; 65536];
    let mut total = 0u64;
    for _ in 0..64 {
        let mut out = Vec::new();
        assert_eq!(
            d.decode(&mut chunk.iter(), &mut out),
            DataStatus::NeedsMoreData
        );
        total += out.len() as u64;
    }
    let mut out = Vec::new();
    assert_eq!(
        d.decode(&mut b"\r\n.\r\n".iter(), &mut out),
        DataStatus::Done
    );
    assert_eq!(total + out.len() as u64, d.size());
    assert_eq!(d.size(), 64 * 65536 + 2);
    assert_eq!(d.long_lines(), 1);
}

#[test]
fn bdat_reader_exact_counts() {
    let run = |chunks: &[&[u8]]| {
        let mut b = BdatReader::new(4);
        let mut out = Vec::new();
        let mut rest = Vec::new();
        let mut done = false;
        for c in chunks {
            let mut it = c.iter();
            if b.read(&mut it, &mut out) == DataStatus::Done {
                done = true;
                rest.extend_from_slice(it.as_slice());
            }
        }
        (out, done, rest, b.remaining())
    };
    assert_eq!(
        same_for_all_splits(b"a.\r\nNOOP", run),
        (b"a.\r\n".to_vec(), true, b"NOOP".to_vec(), 0)
    );
    assert_eq!(
        same_for_all_splits(b"ab", run),
        (b"ab".to_vec(), false, Vec::new(), 2)
    );
}

#[test]
fn reply_wire_form() {
    assert_eq!(Reply::ok().to_bytes(), b"250 2.0.0 Ok\r\n");
    assert_eq!(
        Reply::start_data().to_bytes(),
        b"354 End data with <CR><LF>.<CR><LF>\r\n"
    );
    assert_eq!(
        Reply::syntax(Verb::Helo).to_bytes(),
        b"501 Syntax: HELO hostname\r\n"
    );
    let m = Reply::multi(250, Some((2, 0, 0)), vec!["a".into(), "b".into()]);
    assert_eq!(m.to_bytes(), b"250-2.0.0 a\r\n250 2.0.0 b\r\n");
    let inj = Reply::new(550, Some((5, 1, 1)), "x\r\n250 fake");
    assert_eq!(inj.to_bytes(), b"550 5.1.1 x  250 fake\r\n");
    assert_eq!(Reply::multi(250, None, vec![]).to_bytes(), b"250\r\n");
    assert_eq!(
        Reply::multi(250, None, vec!["".into(), "".into()]).to_bytes(),
        b"250-\r\n250\r\n"
    );
    assert_eq!(
        Reply::new(421, Some((4, 4, 2)), "").to_bytes(),
        b"421 4.4.2\r\n"
    );
    assert_eq!(
        Reply::timeout("mx.example").to_string(),
        "421 4.4.2 mx.example Error: timeout exceeded"
    );
    assert!(Reply::ok().is_positive() && Reply::start_data().is_intermediate());
    assert!(Reply::insufficient_storage().is_transient() && Reply::bad_sender().is_permanent());
}

/// The texts smtpd 3.7.11 was seen to send (see the crate's report).
#[test]
fn postfix_texts() {
    let want: Vec<(Reply, &str)> = vec![
        (Reply::ok(), "250 2.0.0 Ok"),
        (Reply::mail_ok(), "250 2.1.0 Ok"),
        (Reply::rcpt_ok(), "250 2.1.5 Ok"),
        (
            Reply::queued("28B1A98E39A"),
            "250 2.0.0 Ok: queued as 28B1A98E39A",
        ),
        (
            Reply::chunk_queued(5, "CAFBC98E061"),
            "250 2.0.0 Ok: 5 bytes queued as CAFBC98E061",
        ),
        (Reply::bye(), "221 2.0.0 Bye"),
        (Reply::vrfy("root"), "252 2.0.0 root"),
        (Reply::start_data(), "354 End data with <CR><LF>.<CR><LF>"),
        (Reply::bad_syntax(), "500 5.5.2 Error: bad syntax"),
        (Reply::bad_utf8(), "500 5.5.2 Error: bad UTF-8 syntax"),
        (
            Reply::not_recognized(),
            "500 5.5.2 Error: command not recognized",
        ),
        (
            Reply::not_implemented(),
            "502 5.5.1 Error: command not implemented",
        ),
        (Reply::need_mail(), "503 5.5.1 Error: need MAIL command"),
        (Reply::need_rcpt(), "503 5.5.1 Error: need RCPT command"),
        (Reply::nested_mail(), "503 5.5.1 Error: nested MAIL command"),
        (
            Reply::auth_not_enabled(),
            "503 5.5.1 Error: authentication not enabled",
        ),
        (
            Reply::no_valid_recipients(),
            "554 5.5.1 Error: no valid recipients",
        ),
        (
            Reply::size_exceeds_limit(),
            "552 5.3.4 Message size exceeds fixed limit",
        ),
        (
            Reply::message_too_big(),
            "552 5.3.4 Error: message file too big",
        ),
        (
            Reply::chunk_too_big(),
            "552 5.3.4 Chunk exceeds message size limit",
        ),
        (Reply::null_bdat(), "551 5.7.1 Null BDAT request"),
        (
            Reply::bdat_discarded(0),
            "551 5.0.0 Discarded 0 bytes after earlier error",
        ),
        (
            Reply::insufficient_storage(),
            "452 4.3.1 Insufficient system storage",
        ),
        (Reply::timeout("mx"), "421 4.4.2 mx Error: timeout exceeded"),
        (Reply::bad_sender(), "501 5.1.7 Bad sender address syntax"),
        (
            Reply::bad_recipient(),
            "501 5.1.3 Bad recipient address syntax",
        ),
        (Reply::syntax(Verb::Helo), "501 Syntax: HELO hostname"),
        (Reply::syntax(Verb::Ehlo), "501 Syntax: EHLO hostname"),
        (
            Reply::syntax(Verb::Mail),
            "501 5.5.4 Syntax: MAIL FROM:<address>",
        ),
        (
            Reply::syntax(Verb::Rcpt),
            "501 5.5.4 Syntax: RCPT TO:<address>",
        ),
        (
            Reply::syntax(Verb::Vrfy),
            "501 5.5.4 Syntax: VRFY address [SMTPUTF8]",
        ),
        (Reply::syntax(Verb::Rset), "501 5.5.4 Syntax: RSET"),
        (
            Reply::syntax(Verb::Bdat),
            "521 5.5.4 Syntax: BDAT count [LAST]",
        ),
        (Reply::syntax(Verb::Etrn), "500 Syntax: ETRN domain"),
        (
            CommandError::BadSize.reply(),
            "501 5.5.4 Bad message size syntax",
        ),
        (
            CommandError::BadRet.reply(),
            "501 5.5.4 Bad RET parameter syntax",
        ),
        (
            CommandError::BadEnvid.reply(),
            "501 5.5.4 Bad ENVID parameter syntax",
        ),
        (
            CommandError::BadNotify.reply(),
            "501 5.5.4 Error: Bad NOTIFY parameter syntax",
        ),
        (
            CommandError::BadOrcpt.reply(),
            "501 5.5.4 Error: Bad ORCPT parameter syntax",
        ),
        (
            CommandError::Unsupported("BODY=FOO".into()).reply(),
            "555 5.5.4 Unsupported option: BODY=FOO",
        ),
        (
            CommandError::Syntax(Verb::Mail).reply(),
            "501 5.5.4 Syntax: MAIL FROM:<address>",
        ),
        (
            CommandError::BadSender(AddrError::Empty).reply(),
            "501 5.1.7 Bad sender address syntax",
        ),
        (CommandError::Empty.reply(), "500 5.5.2 Error: bad syntax"),
    ];
    for (r, s) in want {
        assert_eq!(r.to_bytes(), format!("{s}\r\n").into_bytes());
    }
    assert!(CommandError::Syntax(Verb::Bdat).is_fatal());
    assert!(!CommandError::BadSize.is_fatal());
    assert_eq!(
        CommandError::BadSender(AddrError::BadDomain).to_string(),
        "5.1.7 Bad sender address syntax: malformed domain name"
    );
}

#[test]
fn discarded_keywords_are_forgotten() {
    let mut caps = Capabilities::from_ehlo(&Reply::multi(
        250,
        None,
        vec![
            "mx.example.test".into(),
            "PIPELINING".into(),
            "SIZE 1000".into(),
            "XFORWARD NAME ADDR".into(),
            "XVERP".into(),
            "CHUNKING".into(),
        ],
    ));
    let words: Vec<String> = ["Pipelining", "xforward", "dsn", "silent-discard", "verp"]
        .iter()
        .map(|w| w.to_string())
        .collect();
    assert_eq!(caps.discard(&words), ["PIPELINING", "XFORWARD", "VERP"]);
    assert!(!caps.pipelining && caps.chunking && caps.size == Some(1000));
    assert!(caps.xforward().is_empty());
}

#[test]
fn discard_log_is_postfix_mask_order() {
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        Capabilities::discard_log(&words(&["chunking", "dsn", "Pipelining", "etrn", "xyzzy"])),
        Some("ETRN PIPELINING DSN CHUNKING".into())
    );
    assert_eq!(
        Capabilities::discard_log(&words(&["xclient", "verp", "size"])),
        Some("SIZE VERP XCLIENT".into())
    );
    assert_eq!(Capabilities::discard_log(&words(&["xyzzy"])), None);
    assert_eq!(
        Capabilities::discard_log(&words(&["dsn", "silent-discard"])),
        None
    );
    assert_eq!(
        Capabilities::discard_log(&words(&["dsn", "enhancedstatuscodes"])),
        None
    );
}

#[test]
fn xforward_offer_and_command() {
    let mut caps = Capabilities::default();
    assert!(caps.xforward().is_empty());
    caps.add_keyword("XFORWARD NAME ADDR proto HELO");
    caps.add_keyword("XCLIENT NAME");
    assert_eq!(caps.xforward(), ["NAME", "ADDR", "PROTO", "HELO"]);
    let cmd = Command::Xforward(vec![
        ("NAME".into(), "mx.example.org".into()),
        ("IDENT".into(), "4Xk2mN2VXxz".into()),
    ]);
    assert_eq!(
        cmd.to_bytes(),
        b"XFORWARD NAME=mx.example.org IDENT=4Xk2mN2VXxz\r\n"
    );
    assert_eq!(
        Reply::syntax(Verb::Xforward).to_string(),
        "501 5.5.4 Syntax: XFORWARD attribute=value..."
    );
}

/// Postfix 3.7.11's EHLO reply, byte for byte.
const POSTFIX_EHLO: &[u8] =
    b"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n\
250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";

#[test]
fn ehlo_capabilities_both_ways() {
    let caps = Capabilities {
        pipelining: true,
        size: Some(10240000),
        vrfy: true,
        etrn: true,
        enhanced_status_codes: true,
        eightbitmime: true,
        dsn: true,
        smtputf8: true,
        chunking: true,
        ..Capabilities::default()
    };
    assert_eq!(caps.ehlo_reply("mx.example.test").to_bytes(), POSTFIX_EHLO);
    let replies = same_for_all_splits(POSTFIX_EHLO, |c| run_replies(512, 100, c));
    let Ok(reply) = &replies[0] else {
        panic!("{replies:?}")
    };
    assert_eq!(Capabilities::from_ehlo(reply), caps);

    let mut c = Capabilities::default();
    for l in [
        "STARTTLS",
        "AUTH PLAIN login",
        "AUTH=PLAIN LOGIN CRAM-MD5",
        "size",
        "XCLIENT NAME ADDR",
        "BINARYMIME",
    ] {
        c.add_keyword(l);
    }
    assert!(c.starttls && c.binarymime);
    assert_eq!(c.auth, ["PLAIN", "LOGIN", "CRAM-MD5"]);
    assert_eq!(c.size, Some(0));
    assert_eq!(c.other, ["XCLIENT NAME ADDR"]);
    let lines = c.keywords();
    assert_eq!(
        lines,
        [
            "SIZE",
            "STARTTLS",
            "AUTH PLAIN LOGIN CRAM-MD5",
            "XCLIENT NAME ADDR",
            "BINARYMIME"
        ]
    );
}

#[test]
fn reply_parser() {
    let input = b"220 mx ESMTP Postfix\r\n250-2.0.0 a\r\n250 2.0.0 b\r\n550 5.1.1 <x@y>: Recipient address rejected\r\n\
354 End data with <CR><LF>.<CR><LF>\r\n250\r\n421 4.4.2 mx Error: timeout exceeded\n250 2.0.0\r\n";
    let got = same_for_all_splits(input, |c| run_replies(512, 100, c));
    let want = vec![
        Ok(Reply::greeting("mx ESMTP Postfix")),
        Ok(Reply::multi(
            250,
            Some((2, 0, 0)),
            vec!["a".into(), "b".into()],
        )),
        Ok(Reply::new(
            550,
            Some((5, 1, 1)),
            "<x@y>: Recipient address rejected",
        )),
        Ok(Reply::start_data()),
        Ok(Reply::new(250, None, "")),
        Ok(Reply::timeout("mx")),
        Ok(Reply::new(250, Some((2, 0, 0)), "")),
    ];
    assert_eq!(got, want);
    // An enhanced code of the wrong class is text, not a code.
    let got = run_replies(512, 100, &[b"250 5.0.0 odd\r\n"]);
    assert_eq!(got, vec![Ok(Reply::new(250, None, "5.0.0 odd"))]);
    // Built replies read back as themselves.
    for r in [
        Reply::ok(),
        Reply::no_valid_recipients(),
        Reply::multi(452, Some((4, 3, 1)), vec!["x".into(), "y z".into()]),
    ] {
        assert_eq!(run_replies(512, 100, &[&r.to_bytes()]), vec![Ok(r)]);
    }
}

#[test]
fn reply_parser_errors_resynchronise() {
    let input = b"hello\r\n250-a\r\n251 b\r\n25\r\n2500 x\r\n250 ok\r\n";
    let got = same_for_all_splits(input, |c| run_replies(512, 100, c));
    assert_eq!(
        got,
        vec![
            Err(ReplyError::BadSyntax("hello".into())),
            Err(ReplyError::CodeMismatch),
            Err(ReplyError::BadSyntax("25".into())),
            Err(ReplyError::BadSyntax("2500 x".into())),
            Ok(Reply::new(250, None, "ok")),
        ]
    );
    let mut many = Vec::new();
    for _ in 0..5 {
        many.extend_from_slice(b"250-x\r\n");
    }
    many.extend_from_slice(b"250 end\r\n220 next\r\n");
    // Lines over the count are passed over, as Postfix does.
    let got = same_for_all_splits(&many, |c| run_replies(512, 3, c));
    let three = Reply {
        lines: vec!["x".into(); 3],
        ..Reply::new(250, None, "")
    };
    assert_eq!(got, vec![Ok(three), Ok(Reply::new(220, None, "next"))]);
    let long = [
        b"250-".as_slice(),
        &[b'x'; 50],
        b"\r\n250 end\r\n220 next\r\n",
    ]
    .concat();
    // A line over the limit is cut to it.
    let got = same_for_all_splits(&long, |c| run_replies(16, 10, c));
    let cut = Reply {
        lines: vec!["x".repeat(12), "end".into()],
        ..Reply::new(250, None, "")
    };
    assert_eq!(got, vec![Ok(cut), Ok(Reply::new(220, None, "next"))]);
}

#[test]
fn client_command_builders_round_trip() {
    let cmds = vec![
        Command::Ehlo("client.example".into()),
        Command::Helo("client.example".into()),
        Command::Mail(MailFrom::default()),
        Command::Mail(MailFrom {
            sender: Some(mb("john doe", "example.com")),
            size: Some(12345),
            body: Some(Body::EightBitMime),
            smtputf8: true,
            ret: Some(Ret::Full),
            envid: Some("id+1=2 x".into()),
            auth: Some("a+b@example.com".into()),
            verp: Some("+=".into()),
        }),
        Command::Mail(MailFrom {
            sender: Some(mb("a", "b.example")),
            auth: Some("<>".into()),
            ..MailFrom::default()
        }),
        Command::Rcpt(RcptTo {
            rcpt: mb("c", "[192.0.2.1]"),
            ..RcptTo::default()
        }),
        Command::Rcpt(RcptTo {
            rcpt: mb("jörg", "bücher.example"),
            notify: Some(Notify {
                success: true,
                failure: false,
                delay: true,
            }),
            orcpt: Some(Orcpt {
                addr_type: "rfc822".into(),
                addr: "c+x=y@d.example".into(),
            }),
        }),
        Command::Rcpt(RcptTo {
            rcpt: mb("c", "d.example"),
            notify: Some(Notify::NEVER),
            orcpt: None,
        }),
        Command::Data,
        Command::Bdat {
            size: 65536,
            last: false,
        },
        Command::Bdat {
            size: 0,
            last: true,
        },
        Command::Rset,
        Command::Noop,
        Command::Quit,
        Command::Vrfy("root".into()),
        Command::Expn("list".into()),
        Command::Help(None),
        Command::StartTls,
        Command::Auth {
            mechanism: "PLAIN".into(),
            initial: Some("AGEAYg==".into()),
        },
        Command::Auth {
            mechanism: "LOGIN".into(),
            initial: None,
        },
        Command::Etrn("example.com".into()),
    ];
    for c in cmds {
        let bytes = c.to_bytes();
        let got = same_for_all_splits(&bytes, |ch| run_commands(strict(), ch));
        assert_eq!(
            got,
            vec![(Ok(c.clone()), false)],
            "{}",
            String::from_utf8_lossy(&bytes)
        );
    }
    let m = MailFrom {
        sender: Some(mb("a", "b.example")),
        size: Some(1),
        ..MailFrom::default()
    };
    assert_eq!(m.to_bytes(), b"MAIL FROM:<a@b.example> SIZE=1\r\n");
    let r = RcptTo {
        rcpt: mb("c", "d.example"),
        notify: Some(Notify {
            success: true,
            failure: true,
            delay: false,
        }),
        orcpt: Some(Orcpt {
            addr_type: "rfc822".into(),
            addr: "c+1@d.example".into(),
        }),
    };
    assert_eq!(
        r.to_bytes(),
        b"RCPT TO:<c@d.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c+2B1@d.example\r\n"
    );
    assert_eq!(
        Command::Bdat {
            size: 3,
            last: true
        }
        .to_bytes(),
        b"BDAT 3 LAST\r\n"
    );
}

#[test]
fn verbs() {
    assert_eq!(Command::Data.verb(), Some(Verb::Data));
    assert_eq!(Command::Unknown("X".into()).verb(), None);
    assert_eq!(Verb::StartTls.to_string(), "STARTTLS");
    assert_eq!(
        Reply::after_bdat(Verb::Mail).to_string(),
        "503 5.5.1 Error: MAIL after BDAT"
    );
}

/// Thousands of pseudo-random inputs through every parser, in random
/// splits: nothing may panic or loop, and splitting must not change the
/// result.
#[test]
fn random_inputs_do_not_panic() {
    let mut rng = Lcg::new(0x5eed_1234);
    for round in 0..4000 {
        let input = rng.smtp_bytes();
        let cut = rng.below(input.len() + 1);
        let cut2 = cut + rng.below(input.len() - cut + 1);
        let chunks: [&[u8]; 3] = [&input[..cut], &input[cut..cut2], &input[cut2..]];
        let limit = 8 + rng.below(64);
        let cfg = ParserConfig {
            line_limit: limit,
            strict: round % 2 == 0,
            utf8: round % 3 != 0,
        };
        assert_eq!(
            run_session(cfg, limit, &chunks),
            run_session(cfg, limit, &[input.as_slice()])
        );
        assert_eq!(
            run_replies(limit, 4, &chunks),
            run_replies(limit, 4, &[input.as_slice()])
        );
        assert_eq!(run_data(&chunks), run_data(&[input.as_slice()]));
        for line in input.split(|&b| b == b'\n') {
            let _ = parse_line(line, cfg);
            let s = String::from_utf8_lossy(line);
            let _ = xtext::decode(&s);
            let _ = addr::parse_path(
                &s,
                addr::PathOptions {
                    utf8: true,
                    strict: false,
                },
            );
            let _ = addr::parse_address_list(&s);
            let mut c = Capabilities::default();
            c.add_keyword(&s);
        }
    }
}
