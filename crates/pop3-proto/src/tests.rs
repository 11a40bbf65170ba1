//! Every command split at every byte (and in three where short), limits,
//! replies, dot-stuffing in any chunking, and pseudo-random input.

use crate::*;

/// Every way to cut `input` in two and, when short, in three.
fn splits(input: &[u8]) -> Vec<Vec<&[u8]>> {
    let mut out = vec![vec![input]];
    for i in 0..=input.len() {
        out.push(vec![&input[..i], &input[i..]]);
    }
    if input.len() <= 64 {
        for i in 0..=input.len() {
            for j in i..=input.len() {
                out.push(vec![&input[..i], &input[i..j], &input[j..]]);
            }
        }
    }
    out
}

/// Everything a parser yields for `chunks`, and what is left buffered.
fn run(cfg: ParserConfig, chunks: &[&[u8]]) -> (Vec<Result<Command, CommandError>>, usize) {
    let mut p = CommandParser::new(cfg);
    let mut out = Vec::new();
    for c in chunks {
        let mut it = c.iter();
        loop {
            match p.parse(&mut it) {
                Err(CommandError::NeedsMoreData) => break,
                r => out.push(r),
            }
        }
        assert!(it.as_slice().is_empty());
    }
    (out, p.buffered())
}

fn all_splits(input: &[u8]) -> Vec<Result<Command, CommandError>> {
    let cfg = ParserConfig::default();
    let want = run(cfg, &[input]);
    for s in splits(input) {
        assert_eq!(
            run(cfg, &s),
            want,
            "{:?} split {:?}",
            String::from_utf8_lossy(input),
            s
        );
    }
    want.0
}

fn one(input: &str) -> Result<Command, CommandError> {
    let mut v = all_splits(input.as_bytes());
    assert_eq!(v.len(), 1, "{input:?}: {v:?}");
    v.remove(0)
}

fn secret(s: &str) -> Secret {
    Secret(s.as_bytes().to_vec())
}

#[test]
fn every_command_at_every_split() {
    use Command::*;
    let cases: Vec<(&str, Result<Command, CommandError>)> = vec![
        ("USER bob\r\n", Ok(User("bob".into()))),
        ("user bob@example.com\n", Ok(User("bob@example.com".into()))),
        ("PASS  two words \r\n", Ok(Pass(secret(" two words ")))),
        ("PASS\r\n", Ok(Pass(secret("")))),
        (
            "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n",
            Ok(Apop {
                name: "mrose".into(),
                digest: "c4c9334bac560ecc979e58001b3e22fb".into(),
            }),
        ),
        (
            "AUTH\r\n",
            Ok(Auth {
                mechanism: None,
                initial: None,
            }),
        ),
        (
            "AUTH plain\r\n",
            Ok(Auth {
                mechanism: Some("PLAIN".into()),
                initial: None,
            }),
        ),
        (
            "AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n",
            Ok(Auth {
                mechanism: Some("PLAIN".into()),
                initial: Some(secret("AGJvYgBzZWNyZXQ=")),
            }),
        ),
        (
            "AUTH PLAIN =\r\n",
            Ok(Auth {
                mechanism: Some("PLAIN".into()),
                initial: Some(secret("")),
            }),
        ),
        ("CAPA\r\n", Ok(Capa)),
        ("STAT\r\n", Ok(Stat)),
        ("LIST\r\n", Ok(List(None))),
        ("LIST 2\r\n", Ok(List(Some(2)))),
        ("RETR 1\r\n", Ok(Retr(1))),
        ("TOP 1 10\r\n", Ok(Top(1, 10))),
        ("TOP 1 0\r\n", Ok(Top(1, 0))),
        ("TOP 1 99999999999999999999999\r\n", Ok(Top(1, u64::MAX))),
        ("DELE 3\r\n", Ok(Dele(3))),
        ("NOOP\r\n", Ok(Noop)),
        ("RSET\r\n", Ok(Rset)),
        ("QUIT\r\n", Ok(Quit)),
        ("quit\n", Ok(Quit)),
        ("UIDL\r\n", Ok(Uidl(None))),
        ("UIDL 7\r\n", Ok(Uidl(Some(7)))),
        ("STLS\r\n", Ok(Stls)),
        ("RETR 0\r\n", Ok(Retr(0))),
        ("RETR\r\n", Err(CommandError::BadNumber(String::new()))),
        ("RETR x\r\n", Err(CommandError::BadNumber("x".into()))),
        ("RETR +1\r\n", Err(CommandError::BadNumber("+1".into()))),
        (
            "RETR 99999999999\r\n",
            Err(CommandError::BadNumber("99999999999".into())),
        ),
        ("DELE 1 2\r\n", Err(CommandError::Noise("2".into()))),
        ("TOP 1\r\n", Err(CommandError::Syntax(Verb::Top))),
        ("TOP 1 2 3\r\n", Err(CommandError::Noise("3".into()))),
        ("STAT x\r\n", Err(CommandError::Syntax(Verb::Stat))),
        ("USER\r\n", Err(CommandError::Syntax(Verb::User))),
        ("APOP x\r\n", Err(CommandError::Syntax(Verb::Apop))),
        ("AUTH A B C\r\n", Err(CommandError::Syntax(Verb::Auth))),
        ("XTND XMIT\r\n", Err(CommandError::Unknown("XTND".into()))),
        ("\r\n", Err(CommandError::Empty)),
        ("USER a\0b\r\n", Err(CommandError::Control)),
        ("USER \u{e9}\r\n", Ok(User("\u{e9}".into()))),
    ];
    for (input, want) in cases {
        assert_eq!(one(input), want, "{input:?}");
    }
}

#[test]
fn pipelined_session_at_every_split() {
    let input = b"CAPA\r\nUSER bob\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL 1\r\nTOP 1 5\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n";
    let got = all_splits(input);
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|r| r.is_ok()));
    assert_eq!(got[9], Ok(Command::Quit));
}

#[test]
fn line_limits() {
    // 255 octets with CRLF is fine, 256 is not.
    let ok = format!("USER {}\r\n", "u".repeat(248));
    assert_eq!(ok.len(), 255);
    assert!(one(&ok).is_ok());
    let long = format!("USER {}\r\n", "u".repeat(249));
    assert_eq!(one(&long), Err(CommandError::LineTooLong));
    // AUTH may be longer (a SASL initial response).
    let auth = format!("AUTH PLAIN {}\r\n", "A".repeat(2000));
    assert!(matches!(one(&auth), Ok(Command::Auth { .. })));
    // A huge line is skipped to its end, buffering at most the limit,
    // and the next command still parses.
    let huge = format!("{}\r\nNOOP\r\n", "X".repeat(100_000));
    let (r, _) = run(ParserConfig::default(), &[huge.as_bytes()]);
    assert_eq!(r, vec![Err(CommandError::LineTooLong), Ok(Command::Noop)]);
    let mut p = CommandParser::default();
    let big = vec![b'X'; 50_000];
    let mut it = big.iter();
    assert_eq!(p.parse(&mut it), Err(CommandError::NeedsMoreData));
    assert!(p.buffered() <= DEFAULT_AUTH_LINE_LIMIT + 1);
}

#[test]
fn auth_responses() {
    let input = b"dGVzdA==\r\n*\r\n\r\n";
    let cfg = ParserConfig::default();
    let want = vec![
        AuthResponse::Data(secret("dGVzdA==")),
        AuthResponse::Cancel,
        AuthResponse::Data(secret("")),
    ];
    for s in splits(input) {
        let mut p = CommandParser::new(cfg);
        let mut got = Vec::new();
        for c in s {
            let mut it = c.iter();
            loop {
                match p.parse_auth_response(&mut it) {
                    Err(CommandError::NeedsMoreData) => break,
                    r => got.push(r.expect("response")),
                }
            }
        }
        assert_eq!(got, want);
    }
    // Secrets do not show in Debug.
    assert!(!format!("{:?}", secret("hunter2")).contains("hunter2"));
}

#[test]
fn states() {
    assert!(Verb::User.allowed_in(State::Authorization));
    assert!(!Verb::User.allowed_in(State::Transaction));
    assert!(Verb::Capa.allowed_in(State::Transaction));
    assert!(!Verb::Retr.allowed_in(State::Authorization));
    assert!(!Verb::Stls.allowed_in(State::Transaction));
}

#[test]
fn replies() {
    assert_eq!(Reply::logged_in().to_bytes(), b"+OK Logged in.\r\n");
    assert_eq!(Reply::user_ok().to_bytes(), b"+OK\r\n");
    assert_eq!(
        Reply::auth_failed().to_bytes(),
        b"-ERR [AUTH] Authentication failed.\r\n"
    );
    assert_eq!(
        Reply::in_use().to_bytes(),
        b"-ERR [IN-USE] Mailbox is locked by another POP3 session.\r\n"
    );
    assert_eq!(
        Reply::auth_temp_failure().to_bytes(),
        b"-ERR [SYS/TEMP] Temporary authentication failure.\r\n"
    );
    assert_eq!(Reply::stat(2, 320).to_bytes(), b"+OK 2 320\r\n");
    assert_eq!(Reply::retr(120).to_bytes(), b"+OK 120 octets\r\n");
    assert_eq!(
        Reply::no_such_message(9).to_bytes(),
        b"-ERR There's no message 9.\r\n"
    );
    assert_eq!(Reply::ok("a\r\nb").to_bytes(), b"+OK ab\r\n");
    assert_eq!(
        CommandError::Unknown("FOO".into()).reply().to_bytes(),
        b"-ERR Unknown command: FOO\r\n"
    );
    assert_eq!(Reply::auth_challenge(""), b"+ \r\n");
    let mut l = Listing::list(2);
    l.entry(1, 120);
    l.entry(2, 200);
    assert_eq!(l.finish(), b"+OK 2 messages:\r\n1 120\r\n2 200\r\n.\r\n");
    let c = capa(&Capabilities {
        stls: true,
        ..Capabilities::default()
    });
    assert_eq!(
        c,
        b"+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n"
    );
}

/// `input` with CRLF line ends and its last line ended.
fn crlf(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev = 0u8;
    for &b in input {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    match input.last() {
        None | Some(b'\n') => {}
        Some(b'\r') => out.push(b'\n'),
        Some(_) => out.extend_from_slice(b"\r\n"),
    }
    out
}

fn stuff(chunks: &[&[u8]]) -> Vec<u8> {
    let mut d = DotStuffer::new();
    let mut out = Vec::new();
    for c in chunks {
        d.encode(c, &mut out);
    }
    d.finish(&mut out);
    out
}

#[test]
fn dot_stuffing_in_any_chunking() {
    let cases: [(&[u8], &[u8]); 7] = [
        (b"", b".\r\n"),
        (b"a\r\n", b"a\r\n.\r\n"),
        (b".\r\n", b"..\r\n.\r\n"),
        (b"a\r\n.b\r\n..\r\nc", b"a\r\n..b\r\n...\r\nc\r\n.\r\n"),
        (b"x\n.y\n", b"x\r\n..y\r\n.\r\n"),
        (b"a.b\r\n", b"a.b\r\n.\r\n"),
        (b"end\r", b"end\r\n.\r\n"),
    ];
    for (input, want) in cases {
        for s in splits(input) {
            assert_eq!(stuff(&s), want, "{input:?} {s:?}");
        }
        assert_eq!(
            dot_unstuff(&stuff(&[input])),
            Some(crlf(input)),
            "{input:?}"
        );
    }
    assert_eq!(dot_unstuff(b"a\r\n"), None);
}

/// A small xorshift generator: the same "random" input on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_input_never_panics() {
    let alphabet: &[u8] = b"USERPASTLIDOQNXCH0123456789 \t\r\n.*=+-\0\xff\xc3";
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..3000 {
        let len = (rng.next() % 300) as usize;
        let input: Vec<u8> = (0..len)
            .map(|_| {
                if round % 3 == 0 {
                    rng.next() as u8
                } else {
                    alphabet[(rng.next() % alphabet.len() as u64) as usize]
                }
            })
            .collect();
        let cut = if len == 0 {
            0
        } else {
            (rng.next() as usize) % len
        };
        let cfg = ParserConfig {
            line_limit: 1 + (rng.next() % 300) as usize,
            auth_line_limit: 1 + (rng.next() % 300) as usize,
        };
        let a = run(cfg, &[&input]);
        let b = run(cfg, &[&input[..cut], &input[cut..]]);
        assert_eq!(a, b);
        let mut p = CommandParser::new(cfg);
        let mut it = input.iter();
        while !matches!(
            p.parse_auth_response(&mut it),
            Err(CommandError::NeedsMoreData)
        ) {}
        let mut d = DotStuffer::new();
        let mut out = Vec::new();
        d.encode(&input[..cut], &mut out);
        d.encode(&input[cut..], &mut out);
        d.finish(&mut out);
        assert!(out.ends_with(b"\r\n.\r\n") || out == b".\r\n");
        for e in a.0.iter().filter_map(|r| r.as_ref().err()) {
            let _ = e.reply().to_bytes();
        }
    }
}
