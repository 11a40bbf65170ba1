//! Every command split at every byte (and in three where short), literals
//! and continuations, limits, IDLE/AUTHENTICATE lines, responses, helpers,
//! and pseudo-random input.

use std::borrow::Cow;

use crate::*;

type Event = Result<Parsed, CommandError>;

/// Every way to cut `input` in two and, when short, in three.
fn splits(input: &[u8]) -> Vec<Vec<&[u8]>> {
    let mut out = vec![vec![input]];
    for i in 0..=input.len() {
        out.push(vec![&input[..i], &input[i..]]);
    }
    if input.len() <= 48 {
        for i in 0..=input.len() {
            for j in i..=input.len() {
                out.push(vec![&input[..i], &input[i..j], &input[j..]]);
            }
        }
    }
    out
}

/// Everything a parser yields for `chunks`, and what is left buffered.
fn run(cfg: ParserConfig, chunks: &[&[u8]]) -> (Vec<Event>, usize) {
    let mut p = CommandParser::new(cfg);
    let mut out = Vec::new();
    for c in chunks {
        let mut it = c.iter();
        loop {
            match p.parse(&mut it) {
                Ok(Parsed::NeedsMoreData) => break,
                r => out.push(r),
            }
        }
        assert!(it.as_slice().is_empty());
    }
    (out, p.buffered())
}

fn all_splits_cfg(cfg: ParserConfig, input: &[u8]) -> Vec<Event> {
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

fn all_splits(input: &[u8]) -> Vec<Event> {
    all_splits_cfg(ParserConfig::default(), input)
}

/// The one command `input` holds (literal continuations skipped).
fn one(input: &str) -> Result<CommandBody, CommandError> {
    let v: Vec<Event> = all_splits(input.as_bytes())
        .into_iter()
        .filter(|r| !matches!(r, Ok(Parsed::Continue(_))))
        .collect();
    assert_eq!(v.len(), 1, "{input:?}: {v:?}");
    match v.into_iter().next() {
        Some(Ok(Parsed::Command(c))) => Ok(c.body),
        Some(Err(e)) => Err(e),
        other => panic!("{input:?}: {other:?}"),
    }
}

fn ok(input: &str) -> CommandBody {
    match one(input) {
        Ok(b) => b,
        Err(e) => panic!("{input:?}: {e:?}"),
    }
}

fn err(input: &str) -> CommandError {
    match one(input) {
        Ok(b) => panic!("{input:?} parsed: {b:?}"),
        Err(e) => e,
    }
}

fn mb(s: &str) -> Mailbox {
    Mailbox(s.as_bytes().to_vec())
}

fn set(s: &[(u32, u32)]) -> SequenceSet {
    let n = |v| {
        if v == 0 {
            SeqNumber::Star
        } else {
            SeqNumber::Value(v)
        }
    };
    SequenceSet::Ranges(
        s.iter()
            .map(|&(a, b)| SeqRange {
                start: n(a),
                end: n(b),
            })
            .collect(),
    )
}

fn secret(s: &str) -> Secret {
    Secret(s.as_bytes().to_vec())
}

#[test]
fn simple_commands_at_every_split() {
    use CommandBody::*;
    let cases: Vec<(&str, CommandBody)> = vec![
        ("a CAPABILITY\r\n", Capability),
        ("a noop\r\n", Noop),
        ("a LOGOUT\n", Logout),
        ("a STARTTLS\r\n", StartTls),
        ("a CHECK\r\n", Check),
        ("a CLOSE\r\n", Close),
        ("a UNSELECT\r\n", Unselect),
        ("a EXPUNGE\r\n", Expunge(None)),
        ("a IDLE\r\n", Idle),
        ("a NAMESPACE\r\n", Namespace),
        ("a UID EXPUNGE 3:5\r\n", Expunge(Some(set(&[(3, 5)])))),
        (
            "a AUTHENTICATE plain\r\n",
            Authenticate {
                mechanism: "PLAIN".into(),
                initial: None,
            },
        ),
        (
            "a AUTHENTICATE PLAIN AGJvYgBzZWNyZXQ=\r\n",
            Authenticate {
                mechanism: "PLAIN".into(),
                initial: Some(secret("AGJvYgBzZWNyZXQ=")),
            },
        ),
        (
            "a AUTHENTICATE PLAIN =\r\n",
            Authenticate {
                mechanism: "PLAIN".into(),
                initial: Some(secret("")),
            },
        ),
        (
            "a LOGIN bob \"se cr\\\"et\"\r\n",
            Login {
                username: "bob".into(),
                password: secret("se cr\"et"),
            },
        ),
        (
            "a LOGIN {3}\r\nbob {6+}\r\nsecret\r\n",
            Login {
                username: "bob".into(),
                password: secret("secret"),
            },
        ),
        (
            "a SELECT inbox\r\n",
            Select {
                mailbox: mb("INBOX"),
                params: SelectParams::default(),
            },
        ),
        (
            "a EXAMINE \"Sent Items\" (CONDSTORE)\r\n",
            Examine {
                mailbox: mb("Sent Items"),
                params: SelectParams {
                    condstore: true,
                    qresync: None,
                },
            },
        ),
        (
            "a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n",
            Select {
                mailbox: mb("INBOX"),
                params: SelectParams {
                    condstore: false,
                    qresync: Some(QResync {
                        uidvalidity: 67890007,
                        modseq: 20050715194045000,
                        known_uids: Some(set(&[(41, 41), (43, 211), (214, 541)])),
                        seq_match: None,
                    }),
                },
            },
        ),
        (
            "a SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))\r\n",
            Select {
                mailbox: mb("INBOX"),
                params: SelectParams {
                    condstore: false,
                    qresync: Some(QResync {
                        uidvalidity: 67890007,
                        modseq: 90060115194045000,
                        known_uids: Some(set(&[(1, 29997)])),
                        seq_match: Some((
                            set(&[(5000, 5000), (7500, 7500), (9000, 9000), (9990, 9999)]),
                            SequenceSet::from_ids(&[
                                15000, 22500, 27000, 29970, 29973, 29976, 29979, 29982, 29985,
                                29988, 29991, 29994, 29997,
                            ]),
                        )),
                    }),
                },
            },
        ),
        (
            "a SELECT INBOX (QRESYNC (1 2 (3 4)))\r\n",
            Select {
                mailbox: mb("INBOX"),
                params: SelectParams {
                    condstore: false,
                    qresync: Some(QResync {
                        uidvalidity: 1,
                        modseq: 2,
                        known_uids: None,
                        seq_match: Some((set(&[(3, 3)]), set(&[(4, 4)]))),
                    }),
                },
            },
        ),
        (
            "a CREATE foo/bar\r\n",
            Create {
                mailbox: mb("foo/bar"),
                special_use: vec![],
            },
        ),
        (
            "a CREATE Sent (USE (\\Sent \\Archive))\r\n",
            Create {
                mailbox: mb("Sent"),
                special_use: vec!["Sent".into(), "Archive".into()],
            },
        ),
        ("a DELETE {3}\r\nfoo\r\n", Delete(mb("foo"))),
        (
            "a RENAME a \"b c\"\r\n",
            Rename {
                from: mb("a"),
                to: mb("b c"),
            },
        ),
        ("a SUBSCRIBE &U,BTFw-\r\n", Subscribe(mb("&U,BTFw-"))),
        ("a UNSUBSCRIBE x]y\r\n", Unsubscribe(mb("x]y"))),
        (
            "a LSUB \"\" %\r\n",
            Lsub {
                reference: mb(""),
                pattern: b"%".to_vec(),
            },
        ),
        (
            "a STATUS blurdybloop (UIDNEXT MESSAGES recent UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE DELETED)\r\n",
            Status {
                mailbox: mb("blurdybloop"),
                items: vec![
                    StatusItem::UidNext,
                    StatusItem::Messages,
                    StatusItem::Recent,
                    StatusItem::UidValidity,
                    StatusItem::Unseen,
                    StatusItem::HighestModSeq,
                    StatusItem::Size,
                    StatusItem::Deleted,
                ],
            },
        ),
        (
            "a COPY 2:4 MEETING\r\n",
            Copy {
                uid: false,
                set: set(&[(2, 4)]),
                mailbox: mb("MEETING"),
            },
        ),
        (
            "a UID MOVE 4:* Trash\r\n",
            Move {
                uid: true,
                set: set(&[(4, 0)]),
                mailbox: mb("Trash"),
            },
        ),
        (
            "a uid copy $ Archive\r\n",
            Copy {
                uid: true,
                set: SequenceSet::Saved,
                mailbox: mb("Archive"),
            },
        ),
        (
            "a ENABLE condstore UTF8=ACCEPT\r\n",
            Enable(vec!["CONDSTORE".into(), "UTF8=ACCEPT".into()]),
        ),
        ("a ID NIL\r\n", Id(None)),
        ("a ID ()\r\n", Id(Some(vec![]))),
        (
            "a ID (\"name\" \"sodr\" \"version\" NIL)\r\n",
            Id(Some(vec![
                ("name".into(), Some("sodr".into())),
                ("version".into(), None),
            ])),
        ),
        ("a GETQUOTA \"\"\r\n", GetQuota(vec![])),
        ("a GETQUOTAROOT INBOX\r\n", GetQuotaRoot(mb("INBOX"))),
        (
            "a SETQUOTA \"\" (STORAGE 512)\r\n",
            SetQuota {
                root: vec![],
                limits: vec![("STORAGE".into(), 512)],
            },
        ),
    ];
    for (input, want) in cases {
        assert_eq!(ok(input), want, "{input:?}");
    }
}

#[test]
fn list_commands() {
    let l = |input: &str| match ok(input) {
        CommandBody::List(l) => l,
        other => panic!("{other:?}"),
    };
    let basic = l("a LIST \"\" *\r\n");
    assert_eq!(basic.reference, mb(""));
    assert_eq!(basic.patterns, vec![b"*".to_vec()]);
    assert!(!basic.extended);
    let x = l("a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (% \"Other Users/*\") RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES UNSEEN) SUBSCRIBED)\r\n");
    assert_eq!(
        x.selection,
        vec![ListSelect::Subscribed, ListSelect::RecursiveMatch]
    );
    assert_eq!(x.patterns, vec![b"%".to_vec(), b"Other Users/*".to_vec()]);
    assert_eq!(
        x.returns,
        vec![
            ListReturn::Children,
            ListReturn::SpecialUse,
            ListReturn::Status(vec![StatusItem::Messages, StatusItem::Unseen]),
            ListReturn::Subscribed
        ]
    );
    assert!(x.extended);
    assert_eq!(
        l("a LIST (SPECIAL-USE REMOTE) \"\" foo/%\r\n").selection,
        vec![ListSelect::SpecialUse, ListSelect::Remote]
    );
    assert!(l("a LIST \"\" % RETURN ()\r\n").extended);
    assert!(l("a LIST () ~/ *\r\n").selection.is_empty());
    err("a LIST (RECURSIVEMATCH) \"\" *\r\n");
    err("a LIST (BOGUS) \"\" *\r\n");
    err("a LIST \"\" * RETURN (BOGUS)\r\n");
    err("a LIST \"\"\r\n");
}

#[test]
fn search_commands() {
    use SearchKey::*;
    let s = |input: &str| match ok(input) {
        CommandBody::Search { uid, search } => (uid, search),
        other => panic!("{other:?}"),
    };
    let (uid, x) = s("a SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n");
    assert!(!uid);
    assert_eq!(
        x.criteria,
        And(vec![
            Flagged,
            Since(Date::new(1994, 2, 1).expect("date")),
            Not(Box::new(From(b"Smith".to_vec()))),
        ])
    );
    let (uid, x) = s("a UID SEARCH CHARSET utf-8 TEXT {5}\r\nx\u{e9}yz\r\n");
    assert!(uid);
    assert_eq!(x.charset.as_deref(), Some("UTF-8"));
    assert_eq!(x.criteria, Text("x\u{e9}yz".as_bytes().to_vec()));
    let (_, x) = s("a SEARCH OR (SEEN 1:3) NOT (UID 5,7:* LARGER 100) HEADER X-Foo bar\r\n");
    assert_eq!(
        x.criteria,
        And(vec![
            Or(
                Box::new(And(vec![Seen, SequenceSet(set(&[(1, 3)]))])),
                Box::new(Not(Box::new(And(vec![
                    Uid(set(&[(5, 5), (7, 0)])),
                    Larger(100)
                ]))))
            ),
            Header("X-Foo".into(), b"bar".to_vec()),
        ])
    );
    let all_keys = "a SEARCH ALL ANSWERED BCC x BEFORE \"1-Jan-2000\" BODY y CC z DELETED DRAFT FLAGGED FROM f HEADER h v KEYWORD $Junk LARGER 1 NEW NOT OLD ON 31-Dec-1999 OR SEEN UNSEEN RECENT SENTBEFORE 1-Jan-2000 SENTON 1-Jan-2000 SENTSINCE 1-Jan-2000 SINCE 1-Jan-2000 SMALLER 2 SUBJECT s TEXT t TO u UID 1 UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNKEYWORD k UNSEEN 1:* OLDER 10 YOUNGER 20 MODSEQ 5 MODSEQ \"/flags/\\\\draft\" all 7 $\r\n";
    let (_, x) = s(all_keys);
    let And(keys) = x.criteria else {
        panic!("not And")
    };
    assert_eq!(keys.len(), 39, "{keys:?}");
    assert_eq!(
        keys[37],
        ModSeq {
            entry: Some((b"/flags/\\draft".to_vec(), EntryType::All)),
            modseq: 7
        }
    );
    assert_eq!(keys[38], SequenceSet(crate::SequenceSet::Saved));
    let (_, x) = s("a SEARCH RETURN (MIN COUNT SAVE) UNSEEN\r\n");
    assert_eq!(
        x.returns,
        Some(vec![
            SearchReturn::Min,
            SearchReturn::Count,
            SearchReturn::Save
        ])
    );
    let (_, x) = s("a SEARCH RETURN () ALL\r\n");
    assert_eq!(x.returns, Some(vec![]));
    for bad in [
        "a SEARCH\r\n",
        "a SEARCH (SEEN\r\n",
        "a SEARCH SEEN)\r\n",
        "a SEARCH BOGUS\r\n",
        "a SEARCH SINCE 31-Feb-2000\r\n",
        "a SEARCH SINCE 1-Foo-2000\r\n",
        "a SEARCH 0\r\n",
        "a SEARCH 1:0\r\n",
        "a SEARCH 4294967296\r\n",
        "a SEARCH LARGER 99999999999999999999\r\n",
        "a SEARCH MODSEQ 9223372036854775808\r\n",
        "a SEARCH OR SEEN\r\n",
        "a SEARCH RETURN (FOO) ALL\r\n",
        "a SEARCH KEYWORD\r\n",
        "a SEARCH 1,\r\n",
        "a SEARCH 1x\r\n",
    ] {
        let e = err(bad);
        assert_eq!(e.tag.as_deref(), Some("a"), "{bad:?}");
        assert!(matches!(e.kind, ErrorKind::Syntax(_)), "{bad:?} {e:?}");
    }
    // Deep nesting is refused, not a stack overflow.
    // (Long inputs: one split only.)
    for deep in [
        format!("a SEARCH {}ALL\r\n", "NOT ".repeat(10_000)),
        format!("a SEARCH {}ALL{}\r\n", "(".repeat(5_000), ")".repeat(5_000)),
    ] {
        let (got, _) = run(ParserConfig::default(), &[deep.as_bytes()]);
        assert!(
            matches!(&got[..], [Err(e)] if e.message().contains("deep")),
            "{got:?}"
        );
    }
}

#[test]
fn fetch_commands() {
    use FetchAttr::*;
    let f = |input: &str| match ok(input) {
        CommandBody::Fetch {
            uid,
            set,
            items,
            modifiers,
        } => (uid, set, items, modifiers),
        other => panic!("{other:?}"),
    };
    let (uid, s, items, m) = f("a FETCH 2:4 ALL\r\n");
    assert!(!uid);
    assert_eq!(s, set(&[(2, 4)]));
    assert_eq!(items, vec![Flags, InternalDate, Rfc822Size, Envelope]);
    assert_eq!(m, FetchModifiers::default());
    assert_eq!(f("a FETCH 1 fast\r\n").2.len(), 3);
    assert_eq!(f("a FETCH 1 FULL\r\n").2.len(), 5);
    assert_eq!(f("a FETCH 5:2 UID\r\n").1, set(&[(5, 2)]));
    let (uid, _, items, _) = f("a UID FETCH 1:* (FLAGS INTERNALDATE RFC822 RFC822.HEADER RFC822.SIZE RFC822.TEXT ENVELOPE BODY BODYSTRUCTURE UID MODSEQ BODY[] BODY.PEEK[HEADER.FIELDS (From to)]<0.1024> BODY[1.2.3.MIME] BODY[2.TEXT] BODY[3] BODY[HEADER.FIELDS.NOT (X-A)] BODY[TEXT]<10.20> BINARY[1.2] BINARY.PEEK[]<0.5> BINARY.SIZE[1])\r\n");
    assert!(uid);
    assert_eq!(items.len(), 21);
    assert_eq!(
        items[12],
        BodySection {
            peek: true,
            section: Section {
                part: vec![],
                text: Some(SectionText::HeaderFields(vec!["FROM".into(), "TO".into()]))
            },
            partial: Some((0, 1024))
        }
    );
    let names: Vec<String> = items.iter().map(FetchAttr::response_name).collect();
    assert_eq!(
        names[11..],
        [
            "BODY[]",
            "BODY[HEADER.FIELDS (FROM TO)]<0>",
            "BODY[1.2.3.MIME]",
            "BODY[2.TEXT]",
            "BODY[3]",
            "BODY[HEADER.FIELDS.NOT (X-A)]",
            "BODY[TEXT]<10>",
            "BINARY[1.2]",
            "BINARY[]<0>",
            "BINARY.SIZE[1]",
        ]
    );
    assert!(items[11].sets_seen());
    assert!(!items[12].sets_seen());
    let (_, _, _, m) = f("a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n");
    assert_eq!(
        m,
        FetchModifiers {
            changed_since: Some(12345),
            vanished: true
        }
    );
    for bad in [
        "a FETCH 1\r\n",
        "a FETCH 1 ()\r\n",
        "a FETCH 1 (FLAGS\r\n",
        "a FETCH 1 FLAGS)\r\n",
        "a FETCH 1 BOGUS\r\n",
        "a FETCH 1 (ALL)\r\n",
        "a FETCH 1 BODY[MIME]\r\n",
        "a FETCH 1 BODY[0]\r\n",
        "a FETCH 1 BODY[1.]\r\n",
        "a FETCH 1 BODY[HEADER.FIELDS]\r\n",
        "a FETCH 1 BODY[HEADER.FIELDS ()]\r\n",
        "a FETCH 1 BODY[]<1.0>\r\n",
        "a FETCH 1 BODY.PEEK\r\n",
        "a FETCH 1 (FLAGS) (VANISHED)\r\n",
        "a FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\n",
        "a FETCH 0 FLAGS\r\n",
        "a FETCH *:0 FLAGS\r\n",
        "a FETCH 1 FLAGS extra\r\n",
    ] {
        assert!(matches!(err(bad).kind, ErrorKind::Syntax(_)), "{bad:?}");
    }
}

#[test]
fn store_and_append() {
    assert_eq!(
        ok("a STORE 2:4 +FLAGS (\\Deleted)\r\n"),
        CommandBody::Store(StoreCommand {
            uid: false,
            set: set(&[(2, 4)]),
            mode: StoreMode::Add,
            silent: false,
            flags: vec![Flag::Deleted],
            unchanged_since: None,
        })
    );
    assert_eq!(
        ok("a UID STORE 1,3 (UNCHANGEDSINCE 320162338) -flags.silent \\seen $Forwarded \\X\r\n"),
        CommandBody::Store(StoreCommand {
            uid: true,
            set: set(&[(1, 1), (3, 3)]),
            mode: StoreMode::Remove,
            silent: true,
            flags: vec![
                Flag::Seen,
                Flag::Keyword("$Forwarded".into()),
                Flag::Extension("X".into())
            ],
            unchanged_since: Some(320162338),
        })
    );
    assert!(matches!(
        ok("a STORE 1 FLAGS ()\r\n"),
        CommandBody::Store(StoreCommand {
            mode: StoreMode::Replace,
            ..
        })
    ));
    for bad in [
        "a STORE 1 FLAGS\r\n",
        "a STORE 1 *FLAGS (\\Seen)\r\n",
        "a STORE 1 +FLAGS (\\*)\r\n",
        "a STORE 1 FLAGS (\\Seen\r\n",
    ] {
        assert!(matches!(err(bad).kind, ErrorKind::Syntax(_)), "{bad:?}");
    }
    let msg = "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\nSubject: afternoon meeting\r\n\r\nHello\r\n";
    let input = format!(
        "A003 APPEND saved-messages (\\Seen) \" 7-Feb-1994 21:52:25 -0800\" {{{}}}\r\n{msg}\r\n",
        msg.len()
    );
    let got = all_splits(input.as_bytes());
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0],
        Ok(Parsed::Continue(LiteralRequest {
            tag: "A003".into(),
            command: "APPEND".into(),
            size: msg.len() as u64,
        }))
    );
    let Ok(Parsed::Command(c)) = &got[1] else {
        panic!("{got:?}")
    };
    let CommandBody::Append { mailbox, messages } = &c.body else {
        panic!("{c:?}")
    };
    assert_eq!(mailbox, &mb("saved-messages"));
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].flags, vec![Flag::Seen]);
    let d = messages[0].date.expect("date");
    assert_eq!(d.to_unix(), 760686745);
    assert_eq!(messages[0].data, msg.as_bytes());
    // MULTIAPPEND, non-sync and binary literals (NUL allowed there).
    let b = ok("a APPEND x {2+}\r\nhi (\\Draft) ~{3+}\r\na\0b UTF8 (~{1+}\r\nc)\r\n");
    let CommandBody::Append { messages, .. } = b else {
        panic!()
    };
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0].data, b"hi");
    assert!(!messages[0].binary);
    assert_eq!(messages[1].flags, vec![Flag::Draft]);
    assert_eq!(messages[1].data, b"a\0b");
    assert!(messages[1].binary);
    assert_eq!(messages[2].data, b"c");
    for bad in [
        "a APPEND x\r\n",
        "a APPEND x \"hello\"\r\n",
        "a APPEND x (\\Seen)\r\n",
        "a APPEND x \"32-Jan-2000 00:00:00 +0000\" {1+}\r\nx\r\n",
        "a APPEND x {1+}\r\nx junk\r\n",
    ] {
        assert!(matches!(err(bad).kind, ErrorKind::Syntax(_)), "{bad:?}");
    }
}

#[test]
fn nasty_inputs() {
    let k = |input: &str| err(input).kind;
    // Tags.
    assert_eq!(k(" NOOP\r\n"), ErrorKind::BadTag);
    assert_eq!(k("a+ NOOP\r\n"), ErrorKind::BadTag);
    assert_eq!(k("a* NOOP\r\n"), ErrorKind::BadTag);
    assert_eq!(k("\"a\" NOOP\r\n"), ErrorKind::BadTag);
    assert_eq!(k("t\u{e9} NOOP\r\n"), ErrorKind::BadTag);
    assert_eq!(err("+ NOOP\r\n").tag, None);
    assert!(matches!(ok("a] NOOP\r\n"), CommandBody::Noop));
    assert_eq!(k("a\r\n"), ErrorKind::MissingCommand);
    assert_eq!(k("a \r\n"), ErrorKind::MissingCommand);
    // Unknown commands, in Dovecot's words.
    let e = err("a1 XYZZY foo\r\n");
    assert_eq!(e.kind, ErrorKind::UnknownCommand);
    assert_eq!(
        e.response().to_bytes(),
        b"a1 BAD Error in IMAP command XYZZY: Unknown command.\r\n"
    );
    assert_eq!(err("a UID NOOP\r\n").command.as_deref(), Some("UID NOOP"));
    assert_eq!(
        err("\0 NOOP\r\n").response().to_bytes(),
        b"* BAD Error in IMAP command received by server.\r\n"
    );
    // Quoted strings: NUL, bad escapes, unterminated; 8-bit is kept.
    assert!(matches!(k("a LOGIN \"a\0b\" c\r\n"), ErrorKind::Syntax(_)));
    assert!(matches!(k("a LOGIN \"a\\b\" c\r\n"), ErrorKind::Syntax(_)));
    assert!(matches!(k("a LOGIN \"ab c\r\n"), ErrorKind::Syntax(_)));
    assert!(matches!(
        k("a LOGIN {3}\r\na\0b c\r\n"),
        ErrorKind::Syntax(_)
    ));
    assert!(matches!(
        ok("a LOGIN \"j\u{f6}rg\" x\r\n"),
        CommandBody::Login { username, .. } if username == "j\u{f6}rg"
    ));
    // 8-bit in atoms.
    let e = err("a SELECT f\u{f6}o\r\n");
    assert!(matches!(e.kind, ErrorKind::Syntax(_)));
    assert_eq!(e.command.as_deref(), Some("SELECT"));
    assert!(matches!(k("a SELECT \u{f6}\r\n"), ErrorKind::Syntax(_)));
    // Parentheses.
    assert!(matches!(
        k("a STATUS x (MESSAGES\r\n"),
        ErrorKind::Syntax(_)
    ));
    assert!(matches!(
        k("a STATUS x MESSAGES)\r\n"),
        ErrorKind::Syntax(_)
    ));
    assert!(matches!(
        k("a STATUS x ((MESSAGES))\r\n"),
        ErrorKind::Syntax(_)
    ));
    assert!(matches!(k("a STATUS x ()\r\n"), ErrorKind::Syntax(_)));
    // Numbers.
    assert!(matches!(
        k("a FETCH 4294967296 UID\r\n"),
        ErrorKind::Syntax(_)
    ));
    assert!(matches!(
        ok("a FETCH 4294967295 UID\r\n"),
        CommandBody::Fetch { .. }
    ));
    assert!(matches!(
        k("a FETCH 1 BODY[]<99999999999999999999999.1>\r\n"),
        ErrorKind::Syntax(_)
    ));
    // Literal counts.
    assert_eq!(
        k("a LOGIN {99999999999999999999999}\r\n"),
        ErrorKind::BadLiteral
    );
    assert!(matches!(
        k("a LOGIN {18446744073709551615}\r\n"),
        ErrorKind::LiteralTooBig { .. }
    ));
    // A literal that is not at a line end is no literal.
    assert!(matches!(k("a LOGIN {3} bob\r\n"), ErrorKind::Syntax(_)));
    // `{3}` inside a quoted string ending the line is text.
    assert!(matches!(k("a LOGIN \"x {3}\r\n"), ErrorKind::Syntax(_)));
    assert_eq!(
        ok("a LOGIN \"x\" \"{3}\"\r\n"),
        CommandBody::Login {
            username: "x".into(),
            password: secret("{3}")
        }
    );
    // Extra or missing arguments.
    assert!(matches!(k("a NOOP x\r\n"), ErrorKind::Syntax(_)));
    assert!(matches!(k("a LOGIN bob\r\n"), ErrorKind::Syntax(_)));
    assert!(matches!(k("a SELECT\r\n"), ErrorKind::Syntax(_)));
    assert!(matches!(k("a SELECT  INBOX\r\n"), ErrorKind::Syntax(_)));
    assert!(matches!(
        k("a LOGIN \u{e9}x\u{ff} y\r\n"),
        ErrorKind::Syntax(_)
    ));
    assert!(matches!(k("a ENABLE\r\n"), ErrorKind::Syntax(_)));
    // Error answers name the command.
    assert_eq!(
        err("a7 SELECT\r\n").response().to_bytes(),
        b"a7 BAD Error in IMAP command SELECT: Missing arguments.\r\n"
    );
}

#[test]
fn empty_lines_are_ignored() {
    let got = all_splits(b"\r\n\na NOOP\r\n\r\n");
    assert_eq!(got.len(), 1);
}

#[test]
fn synchronising_literals_ask_once() {
    let input = b"a1 LOGIN {3}\r\nbob {6}\r\nsecret\r\na2 NOOP\r\n";
    let got = all_splits(input);
    assert_eq!(
        got,
        vec![
            Ok(Parsed::Continue(LiteralRequest {
                tag: "a1".into(),
                command: "LOGIN".into(),
                size: 3
            })),
            Ok(Parsed::Continue(LiteralRequest {
                tag: "a1".into(),
                command: "LOGIN".into(),
                size: 6
            })),
            Ok(Parsed::Command(Command {
                tag: "a1".into(),
                body: CommandBody::Login {
                    username: "bob".into(),
                    password: secret("secret")
                }
            })),
            Ok(Parsed::Command(Command {
                tag: "a2".into(),
                body: CommandBody::Noop
            })),
        ]
    );
    // Fed the announcement line twice over (nothing more), it asks once.
    let mut p = CommandParser::default();
    let mut it = b"a LOGIN {3}\r\n".iter();
    assert!(matches!(p.parse(&mut it), Ok(Parsed::Continue(_))));
    assert_eq!(p.parse(&mut it), Ok(Parsed::NeedsMoreData));
    assert_eq!(p.parse(&mut [].iter()), Ok(Parsed::NeedsMoreData));
    // {0} also waits for the continuation.
    let got = all_splits(b"a LOGIN {0}\r\n {0+}\r\n\r\n");
    assert_eq!(got.len(), 2);
    assert!(
        matches!(&got[1], Ok(Parsed::Command(c)) if c.body == CommandBody::Login { username: String::new(), password: secret("") })
    );
}

#[test]
fn rejected_literals() {
    // The server refuses a literal: the client does not send it, and the
    // next line is a new command.
    let mut p = CommandParser::default();
    let mut it = b"a APPEND x {10}\r\nb NOOP\r\n".iter();
    assert!(matches!(p.parse(&mut it), Ok(Parsed::Continue(_))));
    p.reject_literal();
    assert!(matches!(
        p.parse(&mut it),
        Ok(Parsed::Command(Command {
            body: CommandBody::Noop,
            ..
        }))
    ));
    let cfg = ParserConfig {
        max_append_literal: 100,
        max_line_length: 64,
        max_nonsync_literal: Some(LITERAL_MINUS_MAX),
    };
    // A synchronising APPEND literal over the limit: NO [TOOBIG], and the
    // client sends nothing more of that command.
    let got = all_splits_cfg(cfg, b"a APPEND x {101}\r\nb NOOP\r\n");
    assert_eq!(got.len(), 2);
    let Err(e) = &got[0] else { panic!() };
    assert!(e.is_too_big());
    assert_eq!(
        e.response().to_bytes(),
        b"a NO [TOOBIG] Mail too large.\r\n"
    );
    assert!(matches!(&got[1], Ok(Parsed::Command(c)) if c.tag == "b"));
    // A non-synchronising one is read and dropped, with the rest of its
    // command (here a second non-sync literal).
    let mut input = b"a APPEND x {101+}\r\n".to_vec();
    input.extend_from_slice(&[b'x'; 101]);
    input.extend_from_slice(b" {3+}\r\nabc\r\nb NOOP\r\n");
    let got = all_splits_cfg(cfg, &input);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(matches!(&got[0], Err(e) if e.is_too_big()));
    assert!(matches!(&got[1], Ok(Parsed::Command(c)) if c.tag == "b"));
    // LITERAL-: a non-sync literal over 4096 is BAD, and dropped.
    let cfg = ParserConfig {
        max_nonsync_literal: Some(LITERAL_MINUS_MAX),
        ..ParserConfig::default()
    };
    let mut input = b"a APPEND x {4097+}\r\n".to_vec();
    input.extend_from_slice(&[b'x'; 4097]);
    input.extend_from_slice(b"\r\nb NOOP\r\n");
    let (got, _) = run(cfg, &[&input]);
    assert_eq!(got.len(), 2);
    let Err(e) = &got[0] else { panic!() };
    assert_eq!(
        e.kind,
        ErrorKind::NonSyncLiteralTooBig {
            size: 4097,
            max: 4096
        }
    );
    assert!(e.response().to_bytes().starts_with(b"a BAD "));
    assert!(matches!(&got[1], Ok(Parsed::Command(c)) if c.tag == "b"));
    // A sync literal of 4097 is fine under LITERAL-.
    let (got, _) = run(cfg, &[b"a APPEND x {4097}\r\n"]);
    assert!(matches!(&got[0], Ok(Parsed::Continue(_))));
    // Non-APPEND literals count against the line limit.
    let cfg = ParserConfig {
        max_line_length: 30,
        ..ParserConfig::default()
    };
    let got = all_splits_cfg(cfg, b"a LOGIN {20}\r\nb NOOP\r\n");
    assert!(
        matches!(&got[0], Err(CommandError { kind: ErrorKind::LiteralTooBig { .. }, tag: Some(t), .. }) if t == "a")
    );
    assert!(!matches!(&got[0], Err(e) if e.is_too_big()));
    assert!(matches!(&got[1], Ok(Parsed::Command(c)) if c.tag == "b"));
    // Literals for unknown commands are refused before they are read.
    let got = all_splits(b"a FOO {3}\r\nb NOOP\r\n");
    assert!(matches!(&got[0], Err(e) if e.kind == ErrorKind::UnknownCommand));
    assert!(matches!(&got[1], Ok(Parsed::Command(c)) if c.tag == "b"));
    let got = all_splits(b"a+ FOO {3+}\r\nabc\r\nb NOOP\r\n");
    assert_eq!(got.len(), 2);
    assert!(matches!(&got[0], Err(e) if e.kind == ErrorKind::BadTag));
}

#[test]
fn long_lines_are_skipped() {
    let cfg = ParserConfig {
        max_line_length: 40,
        ..ParserConfig::default()
    };
    // Exactly the limit is fine, with or without CR.
    let line = format!("a LOGIN {} y\r\n", "x".repeat(30));
    assert_eq!(line.len(), 42);
    assert!(matches!(
        &all_splits_cfg(cfg, line.as_bytes())[0],
        Ok(Parsed::Command(_))
    ));
    assert!(matches!(
        &all_splits_cfg(cfg, line.replace('\r', "").as_bytes())[0],
        Ok(Parsed::Command(_))
    ));
    let line = format!("a LOGIN {} y\r\nb NOOP\r\n", "x".repeat(31));
    let got = all_splits_cfg(cfg, line.as_bytes());
    assert_eq!(got.len(), 2);
    let Err(e) = &got[0] else { panic!() };
    assert_eq!(e.kind, ErrorKind::LineTooLong);
    assert_eq!(e.tag.as_deref(), Some("a"));
    assert_eq!(e.command.as_deref(), Some("LOGIN"));
    assert!(matches!(&got[1], Ok(Parsed::Command(c)) if c.tag == "b"));
    // A huge line is never buffered whole; a non-sync literal announced at
    // its end is skipped too.
    let mut p = CommandParser::default();
    let big = vec![b'x'; 1 << 20];
    let mut it = big.iter();
    assert!(matches!(
        p.parse(&mut it),
        Err(CommandError {
            kind: ErrorKind::LineTooLong,
            ..
        })
    ));
    assert_eq!(p.parse(&mut it), Ok(Parsed::NeedsMoreData));
    assert_eq!(p.buffered(), 0);
    let mut rest = b" {5+}\r\n12345\r\nb NOOP\r\n".iter();
    assert!(matches!(
        p.parse(&mut rest),
        Ok(Parsed::Command(Command {
            body: CommandBody::Noop,
            ..
        }))
    ));
    // Literal text counts towards the limit across lines.
    let got = all_splits_cfg(
        cfg,
        b"a LOGIN {5+}\r\nhello {5+}\r\nworld xxxxxxxxxxxxxxxxxxxxxxx\r\n",
    );
    assert!(
        matches!(&got[0], Err(e) if e.kind == ErrorKind::LineTooLong),
        "{got:?}"
    );
}

#[test]
fn big_append_is_linear() {
    // 20 MB in 4 KiB reads: every read is appended once, never rescanned.
    let size = 20 << 20;
    let mut input = format!("a APPEND INBOX {{{size}}}\r\n").into_bytes();
    input.extend((0..size).map(|i| b'a' + (i % 26) as u8));
    input.extend_from_slice(b"\r\n");
    let mut p = CommandParser::default();
    let mut events = Vec::new();
    let start = std::time::Instant::now();
    for chunk in input.chunks(4096) {
        let mut it = chunk.iter();
        loop {
            match p.parse(&mut it) {
                Ok(Parsed::NeedsMoreData) => break,
                Ok(Parsed::Continue(r)) => events.push(r.size),
                Ok(Parsed::Command(c)) => {
                    let CommandBody::Append { messages, .. } = c.body else {
                        panic!()
                    };
                    assert_eq!(messages[0].data.len(), size);
                    assert_eq!(&messages[0].data[..3], b"abc");
                    events.push(0);
                }
                Err(e) => panic!("{e:?}"),
            }
        }
    }
    assert_eq!(events, vec![size as u64, 0]);
    assert!(start.elapsed().as_secs() < 20, "{:?}", start.elapsed());
}

#[test]
fn pipelined_session_at_every_split() {
    let input = b"a1 CAPABILITY\r\na2 LOGIN bob {6+}\r\nsecret\r\na3 SELECT INBOX\r\na4 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER])\r\na5 UID STORE 1 +FLAGS.SILENT (\\Seen)\r\na6 UID SEARCH UNSEEN\r\na7 IDLE\r\n";
    let got = all_splits(input);
    assert_eq!(got.len(), 7);
    assert!(got.iter().all(|r| matches!(r, Ok(Parsed::Command(_)))));
}

#[test]
fn idle_and_auth_lines() {
    let input = b"done\r\nDONE\nfoo\r\n";
    for s in splits(input) {
        let mut p = CommandParser::default();
        let mut got = Vec::new();
        for c in s {
            let mut it = c.iter();
            loop {
                match p.parse_idle_done(&mut it) {
                    Ok(IdleLine::NeedsMoreData) => break,
                    r => got.push(r),
                }
            }
        }
        assert_eq!(
            got,
            vec![
                Ok(IdleLine::Done),
                Ok(IdleLine::Done),
                Err(CommandError {
                    tag: None,
                    command: None,
                    kind: ErrorKind::ExpectedDone
                })
            ]
        );
    }
    let input = b"dGVzdA==\r\n*\r\n\r\n";
    for s in splits(input) {
        let mut p = CommandParser::default();
        let mut got = Vec::new();
        for c in s {
            let mut it = c.iter();
            loop {
                match p.parse_auth_line(&mut it) {
                    Ok(AuthLine::NeedsMoreData) => break,
                    r => got.push(r.expect("line")),
                }
            }
        }
        assert_eq!(
            got,
            vec![
                AuthLine::Data(secret("dGVzdA==")),
                AuthLine::Cancel,
                AuthLine::Data(secret(""))
            ]
        );
    }
    // Too long: skipped, then the parser goes on.
    let mut p = CommandParser::new(ParserConfig {
        max_line_length: 10,
        ..ParserConfig::default()
    });
    let mut it = b"xxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nDONE\r\n".iter();
    assert_eq!(
        p.parse_idle_done(&mut it).map_err(|e| e.kind),
        Err(ErrorKind::LineTooLong)
    );
    assert_eq!(p.parse_idle_done(&mut it), Ok(IdleLine::Done));
    assert!(!format!("{:?}", secret("hunter2")).contains("hunter2"));
    let mut p = CommandParser::default();
    let _ = p.parse(&mut b"a LOGIN bob hunter2".iter());
    assert!(!format!("{p:?}").contains("hunter2"));
}

#[test]
fn status_responses() {
    let t = Some("a1".to_string());
    let cases: Vec<(StatusResponse, &[u8])> = vec![
        (
            StatusResponse::ok(t.clone(), "Logged in"),
            b"a1 OK Logged in\r\n",
        ),
        (
            StatusResponse::no(t.clone(), "Authentication failed.")
                .with_code(Code::AuthenticationFailed),
            b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n",
        ),
        (
            StatusResponse::ok(None, "Dovecot ready.")
                .with_code(Code::Capability(vec!["IMAP4rev1".into(), "IDLE".into()])),
            b"* OK [CAPABILITY IMAP4rev1 IDLE] Dovecot ready.\r\n",
        ),
        (
            StatusResponse::ok(None, "Flags permitted.").with_code(Code::PermanentFlags(vec![
                Flag::Answered,
                Flag::Keyword("$Forwarded".into()),
                Flag::Wildcard,
            ])),
            b"* OK [PERMANENTFLAGS (\\Answered $Forwarded \\*)] Flags permitted.\r\n",
        ),
        (
            StatusResponse::ok(t.clone(), "Append completed.").with_code(Code::AppendUid {
                uidvalidity: 38505,
                uids: SequenceSet::from_ids(&[3955]),
            }),
            b"a1 OK [APPENDUID 38505 3955] Append completed.\r\n",
        ),
        (
            StatusResponse::ok(t.clone(), "Done").with_code(Code::CopyUid {
                uidvalidity: 38505,
                source: SequenceSet::from_ids(&[304, 319, 320, 321]),
                dest: SequenceSet::from_ids(&[3956, 3957, 3958, 3959]),
            }),
            b"a1 OK [COPYUID 38505 304,319:321 3956:3959] Done\r\n",
        ),
        (StatusResponse::bye("Logging out"), b"* BYE Logging out\r\n"),
        (StatusResponse::bad(t.clone(), "x\r\ny"), b"a1 BAD xy\r\n"),
        (
            StatusResponse::ok(None, "").with_code(Code::Closed),
            b"* OK [CLOSED]\r\n",
        ),
    ];
    for (r, want) in cases {
        assert_eq!(r.to_bytes(), want, "{}", String::from_utf8_lossy(want));
    }
    let simple = [
        (Code::Alert, "ALERT"),
        (Code::ReadOnly, "READ-ONLY"),
        (Code::ReadWrite, "READ-WRITE"),
        (Code::TryCreate, "TRYCREATE"),
        (Code::UidNext(4392), "UIDNEXT 4392"),
        (Code::UidValidity(3857529045), "UIDVALIDITY 3857529045"),
        (Code::Unseen(12), "UNSEEN 12"),
        (
            Code::HighestModSeq(715194045007),
            "HIGHESTMODSEQ 715194045007",
        ),
        (Code::NoModSeq, "NOMODSEQ"),
        (
            Code::Modified(SequenceSet::from_ids(&[7, 9])),
            "MODIFIED 7,9",
        ),
        (Code::AlreadyExists, "ALREADYEXISTS"),
        (Code::Nonexistent, "NONEXISTENT"),
        (Code::TooBig, "TOOBIG"),
        (Code::ServerBug, "SERVERBUG"),
        (Code::Unavailable, "UNAVAILABLE"),
        (Code::InUse, "INUSE"),
        (Code::OverQuota, "OVERQUOTA"),
        (Code::Limit, "LIMIT"),
        (Code::Cannot, "CANNOT"),
        (Code::BadCharset(vec!["UTF-8".into()]), "BADCHARSET (UTF-8)"),
        (Code::Other("X-FOO 1".into()), "X-FOO 1"),
    ];
    for (c, want) in simple {
        let mut v = Vec::new();
        c.write(&mut v);
        assert_eq!(String::from_utf8_lossy(&v), want);
    }
    assert_eq!(continuation("idling"), b"+ idling\r\n");
    assert_eq!(continuation(""), b"+ \r\n");
}

#[test]
fn untagged_data() {
    let r1 = WriteOptions::default();
    let r2 = WriteOptions {
        rev2: true,
        utf8: false,
    };
    let w = |d: Data<'_>, o| String::from_utf8_lossy(&d.to_bytes(o)).into_owned();
    assert_eq!(w(Data::Exists(172), r1), "* 172 EXISTS\r\n");
    assert_eq!(w(Data::Recent(1), r1), "* 1 RECENT\r\n");
    assert_eq!(w(Data::Recent(1), r2), "");
    assert_eq!(w(Data::Expunge(3), r1), "* 3 EXPUNGE\r\n");
    assert_eq!(
        w(
            Data::Vanished {
                earlier: true,
                uids: SequenceSet::from_ids(&[41, 43, 44, 45])
            },
            r1
        ),
        "* VANISHED (EARLIER) 41,43:45\r\n"
    );
    let flags = vec![Flag::Answered, Flag::Seen, Flag::Recent];
    assert_eq!(
        w(Data::Flags(flags.clone()), r1),
        "* FLAGS (\\Answered \\Seen \\Recent)\r\n"
    );
    assert_eq!(w(Data::Flags(flags), r2), "* FLAGS (\\Answered \\Seen)\r\n");
    let item = |name: &[u8], delim| ListItem {
        attributes: vec!["\\HasNoChildren".into()],
        delimiter: delim,
        mailbox: name.to_vec(),
        extended: vec![],
    };
    assert_eq!(
        w(Data::List(item(b"INBOX", Some('/'))), r1),
        "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
    );
    assert_eq!(
        w(Data::Lsub(item(b"Sent Items", None)), r1),
        "* LSUB (\\HasNoChildren) NIL \"Sent Items\"\r\n"
    );
    assert_eq!(
        w(Data::List(item(b"a\\b", Some('\\'))), r1),
        "* LIST (\\HasNoChildren) \"\\\\\" \"a\\\\b\"\r\n"
    );
    assert_eq!(
        w(Data::List(item(b"nil", Some('.'))), r1),
        "* LIST (\\HasNoChildren) \".\" \"nil\"\r\n"
    );
    let mut x = item("Entw\u{fc}rfe".as_bytes(), Some('/'));
    x.extended = vec![(
        "CHILDINFO".into(),
        Value::List(vec![Value::string(&b"SUBSCRIBED"[..])]),
    )];
    assert_eq!(
        w(Data::List(x.clone()), r1),
        "* LIST (\\HasNoChildren) \"/\" {9}\r\nEntw\u{fc}rfe (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
    );
    assert_eq!(
        w(Data::List(x), r2),
        "* LIST (\\HasNoChildren) \"/\" \"Entw\u{fc}rfe\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
    );
    let st = Data::Status {
        mailbox: b"blurdybloop".to_vec(),
        items: vec![
            (StatusItem::Messages, 231),
            (StatusItem::Recent, 0),
            (StatusItem::UidNext, 44292),
        ],
    };
    assert_eq!(
        w(st.clone(), r1),
        "* STATUS blurdybloop (MESSAGES 231 RECENT 0 UIDNEXT 44292)\r\n"
    );
    assert_eq!(
        w(st, r2),
        "* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n"
    );
    assert_eq!(
        w(Data::search_reply("a", false, &[2, 3, 4, 84], None, r1), r1),
        "* SEARCH 2 3 4 84\r\n"
    );
    assert_eq!(
        w(Data::search_reply("a", false, &[], Some(9), r1), r1),
        "* SEARCH (MODSEQ 9)\r\n"
    );
    assert_eq!(
        w(Data::search_reply("a", true, &[2, 3, 4, 84], None, r2), r2),
        "* ESEARCH (TAG \"a\") UID ALL 2:4,84\r\n"
    );
    assert_eq!(
        w(Data::search_reply("a", true, &[], None, r2), r2),
        "* ESEARCH (TAG \"a\") UID\r\n"
    );
    assert_eq!(
        w(
            Data::ESearch(ESearch {
                tag: Some("A285".into()),
                uid: true,
                min: Some(7),
                max: Some(3800),
                count: Some(15),
                ..ESearch::default()
            }),
            r1
        ),
        "* ESEARCH (TAG \"A285\") UID MIN 7 MAX 3800 COUNT 15\r\n"
    );
    assert_eq!(
        w(Data::Enabled(vec!["CONDSTORE".into()]), r1),
        "* ENABLED CONDSTORE\r\n"
    );
    assert_eq!(
        w(
            Data::Id(Some(vec![
                ("name".into(), Some("Dovecot".into())),
                ("x".into(), None)
            ])),
            r1
        ),
        "* ID (\"name\" \"Dovecot\" \"x\" NIL)\r\n"
    );
    assert_eq!(w(Data::Id(None), r1), "* ID NIL\r\n");
    assert_eq!(
        w(
            Data::Namespace {
                personal: vec![(String::new(), Some('/'))],
                other: vec![],
                shared: vec![("Shared/".into(), Some('/'))],
            },
            r1
        ),
        "* NAMESPACE ((\"\" \"/\")) NIL ((\"Shared/\" \"/\"))\r\n"
    );
    assert_eq!(
        w(
            Data::Quota {
                root: vec![],
                resources: vec![("STORAGE".into(), 10, 512), ("MESSAGE".into(), 1, 100)]
            },
            r1
        ),
        "* QUOTA \"\" (STORAGE 10 512 MESSAGE 1 100)\r\n"
    );
    assert_eq!(
        w(
            Data::QuotaRoot {
                mailbox: b"INBOX".to_vec(),
                roots: vec![b"".to_vec()]
            },
            r1
        ),
        "* QUOTAROOT INBOX \"\"\r\n"
    );
    assert_eq!(
        w(
            Data::Capability(vec!["IMAP4rev1".into(), "LITERAL+".into()]),
            r1
        ),
        "* CAPABILITY IMAP4rev1 LITERAL+\r\n"
    );
    let body = b"Subject: hi\r\n\r\nbody\r\n";
    let date = DateTime::parse(b"17-Jul-1996 02:44:25 -0700").expect("date");
    let fetch = Data::Fetch {
        seq: 12,
        items: vec![
            (Cow::Borrowed("UID"), Value::Number(5)),
            (Cow::Borrowed("FLAGS"), Value::flags(&[Flag::Seen])),
            (Cow::Borrowed("INTERNALDATE"), Value::date_time(&date)),
            (
                Cow::Owned(
                    FetchAttr::BodySection {
                        peek: true,
                        section: Section::default(),
                        partial: None,
                    }
                    .response_name(),
                ),
                Value::literal(&body[..]),
            ),
            (
                Cow::Borrowed("ENVELOPE"),
                Value::List(vec![
                    Value::Nil,
                    Value::string(&b"a \"quoted\" \\ subject"[..]),
                    Value::nstring(None::<&[u8]>),
                    Value::string(&b"line\r\nbreak"[..]),
                    Value::atom("\\Seen"),
                ]),
            ),
            (
                Cow::Borrowed("BINARY[]"),
                Value::Literal8(Cow::Borrowed(b"\0")),
            ),
        ],
    };
    assert_eq!(
        fetch.to_bytes(r1),
        b"* 12 FETCH (UID 5 FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" BODY[] {21}\r\nSubject: hi\r\n\r\nbody\r\n ENVELOPE (NIL \"a \\\"quoted\\\" \\\\ subject\" NIL {11}\r\nline\r\nbreak \\Seen) BINARY[] ~{1}\r\n\0)\r\n"
    );
    let mut v = Vec::new();
    write_literal_header(&mut v, 5);
    write_string(&mut v, &[b'x'; 2000], r1);
    assert!(v.starts_with(b"{5}\r\n{2000}\r\nxx"));
}

#[test]
fn sequence_sets() {
    assert_eq!(compress_ids(&[5, 1, 2, 3, 3, 0]), "1:3,5");
    assert_eq!(compress_ids(&[]), "");
    assert_eq!(
        compress_ids(&[u32::MAX, u32::MAX - 1]),
        "4294967294:4294967295"
    );
    let s = set(&[(5, 2), (7, 0), (1, 1)]);
    assert_eq!(s.to_string(), "5:2,7:*,1");
    assert_eq!(s.resolve(10), vec![(1, 5), (7, 10)]);
    assert_eq!(s.resolve(3), vec![(1, 7)]);
    assert!(s.contains(4, 10));
    assert!(!s.contains(6, 10));
    assert!(s.contains(10, 10));
    assert_eq!(
        s.iter_bounded(8).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 7, 8]
    );
    assert_eq!(s.iter_bounded(0).count(), 0);
    assert!(!SequenceSet::Saved.contains(1, 1));
    assert!(SequenceSet::Saved.resolve(5).is_empty());
}

#[test]
fn dates() {
    let d = Date::parse(b"1-Feb-1994").expect("date");
    assert_eq!(d, Date::new(1994, 2, 1).expect("date"));
    assert_eq!(d.to_string(), "1-Feb-1994");
    assert_eq!(Date::parse(b"01-feb-1994"), Some(d));
    assert_eq!(Date::new(1970, 1, 1).map(Date::to_unix), Some(0));
    assert!(Date::parse(b"29-Feb-2000").is_some());
    assert!(Date::parse(b"29-Feb-1900").is_none());
    assert!(Date::parse(b"1-Feb-94").is_none());
    assert!(Date::parse(b"001-Feb-1994").is_none());
    assert!(Date::parse(b"1-Feb-1994-").is_none());
    let t = DateTime::parse(b" 7-Feb-1994 21:52:25 -0800").expect("dt");
    assert_eq!(t.to_unix(), 760686745);
    assert_eq!(t.to_string(), " 7-Feb-1994 21:52:25 -0800");
    assert_eq!(DateTime::from_unix(760686745, -480), Some(t));
    assert_eq!(
        DateTime::from_unix(0, 0).map(|t| t.to_string()),
        Some(" 1-Jan-1970 00:00:00 +0000".to_string())
    );
    assert_eq!(
        DateTime::from_unix(-1, 90).map(|t| t.to_string()),
        Some(" 1-Jan-1970 01:29:59 +0130".to_string())
    );
    for bad in [
        &b"7-Feb-1994 21:52:25"[..],
        b"7-Feb-1994 24:00:00 +0000",
        b"7-Feb-1994 21:52:25 0800",
        b"7-Feb-1994 21:52 +0800",
        b"7-Feb-1994 21:52:25 +0860",
    ] {
        assert!(DateTime::parse(bad).is_none(), "{bad:?}");
    }
    // Round trip over a wide range.
    let mut t = -62_135_596_800i64; // 0001-01-01
    while t < 253_402_300_799 {
        let d = DateTime::from_unix(t, 0).expect("in range");
        assert_eq!(d.to_unix(), t);
        t += 86_400 * 97 + 3_607;
    }
}

#[test]
fn modified_utf7() {
    let cases = [
        ("INBOX", "INBOX"),
        ("&", "&-"),
        ("Entw\u{fc}rfe", "Entw&APw-rfe"),
        (
            "~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}",
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-",
        ),
        ("\u{1f600} a&b", "&2D3eAA- a&-b"),
        ("", ""),
    ];
    for (utf8, wire) in cases {
        assert_eq!(mutf7::encode(utf8), wire);
        assert_eq!(mutf7::decode(wire.as_bytes()).as_deref(), Ok(utf8));
    }
    for bad in [
        &b"&"[..],
        b"&U,BTFw",
        b"&AGE-",
        b"&Jjo!",
        b"caf\xc3\xa9",
        b"&2D0-",
        b"&AP-",
        b"a\tb",
    ] {
        assert!(mutf7::decode(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        mb("Entw&APw-rfe").decode_mutf7().as_deref(),
        Ok("Entw\u{fc}rfe")
    );
}

#[test]
fn states() {
    use CommandBody::*;
    assert!(Capability.allowed_in(State::NotAuthenticated));
    assert!(!Namespace.allowed_in(State::NotAuthenticated));
    assert!(Namespace.allowed_in(State::Selected));
    assert!(!Expunge(None).allowed_in(State::Authenticated));
    assert!(!StartTls.allowed_in(State::Authenticated));
    assert_eq!(Expunge(Some(set(&[(1, 1)]))).name(), "UID EXPUNGE");
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
    let words: [&[u8]; 24] = [
        b"a1 ",
        b"FETCH ",
        b"SEARCH ",
        b"UID ",
        b"APPEND ",
        b"LOGIN ",
        b"{3}\r\n",
        b"{2+}\r\n",
        b"~{1}\r\n",
        b"(",
        b")",
        b"\"",
        b"\\",
        b"1:*",
        b"BODY[",
        b"]",
        b"<0.1>",
        b"\r\n",
        b" ",
        b"NOT ",
        b"OR ",
        b"HEADER.FIELDS",
        b"\0",
        b"\xff",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..4000 {
        let mut input = Vec::new();
        let parts = rng.next() % 40;
        for _ in 0..parts {
            if round % 3 == 0 {
                input.push(rng.next() as u8);
            } else {
                input.extend_from_slice(words[(rng.next() % words.len() as u64) as usize]);
            }
        }
        let cut = if input.is_empty() {
            0
        } else {
            (rng.next() as usize) % input.len()
        };
        let cfg = ParserConfig {
            max_line_length: 1 + (rng.next() % 200) as usize,
            max_append_literal: rng.next() % 50,
            max_nonsync_literal: if round % 2 == 0 {
                None
            } else {
                Some(rng.next() % 8)
            },
        };
        let a = run(cfg, &[&input]);
        let b = run(cfg, &[&input[..cut], &input[cut..]]);
        assert_eq!(a, b);
        for e in a.0.iter().filter_map(|r| r.as_ref().err()) {
            let _ = e.response().to_bytes();
        }
        let mut p = CommandParser::new(cfg);
        let mut it = input.iter();
        while !matches!(p.parse_auth_line(&mut it), Ok(AuthLine::NeedsMoreData)) {}
        let _ = mutf7::decode(&input);
        let _ = DateTime::parse(&input);
    }
}
