//! The protocol against a scripted milter on a Unix socket: what it is sent,
//! and what its answers do to the message.

use super::*;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("milter-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("dir");
    d
}

fn defaults() -> Defaults {
    Defaults {
        connect_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_secs(5),
        content_timeout: Duration::from_secs(5),
        default_action: DefaultAction::TempFail,
        macros: Default::default(),
    }
}

fn message() -> Message {
    Message {
        myhostname: "mail.example.test".into(),
        daemon_name: "smtp".into(),
        queue_id: "4jQ1".into(),
        client: Some((
            "client.example".into(),
            "192.0.2.7".parse().expect("ip"),
            40000,
        )),
        helo: Some("helo.example".into()),
        auth: None,
        sender: "a@example.com".into(),
        recipients: vec!["b@example.test".into(), "c@example.test".into()],
        headers: vec![
            ("Subject".into(), "hello".into()),
            ("X-Spam".into(), "old".into()),
            ("To".into(), "b@example.test,\n\tc@example.test".into()),
        ],
        body: b"line one\nline two\n".to_vec(),
    }
}

fn packet(cmd: u8, data: &[u8]) -> Vec<u8> {
    let mut p = ((data.len() + 1) as u32).to_be_bytes().to_vec();
    p.push(cmd);
    p.extend_from_slice(data);
    p
}

/// A milter that negotiates `proto`, answers every command that expects an
/// answer with `c` (continue), and answers end-of-message with `eom`
/// (packets). Returns the commands it received.
fn milter(
    path: &Path,
    proto: u32,
    eom: Vec<Vec<u8>>,
) -> std::thread::JoinHandle<Vec<(u8, Vec<u8>)>> {
    milter_asking(path, proto, eom, Vec::new())
}

/// As [`milter`], asking for macro lists in its option negotiation
/// (`symlists`: SMFIM stage number and list).
fn milter_asking(
    path: &Path,
    proto: u32,
    eom: Vec<Vec<u8>>,
    symlists: Vec<(u32, &'static str)>,
) -> std::thread::JoinHandle<Vec<(u8, Vec<u8>)>> {
    let l = UnixListener::bind(path).expect("bind");
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        let mut got = Vec::new();
        loop {
            let mut len = [0u8; 4];
            if s.read_exact(&mut len).is_err() {
                break;
            }
            let mut p = vec![0u8; u32::from_be_bytes(len) as usize];
            s.read_exact(&mut p).expect("packet");
            let (cmd, data) = (p[0], p[1..].to_vec());
            got.push((cmd, data));
            let reply = match cmd {
                b'O' => {
                    let mut d = 6u32.to_be_bytes().to_vec();
                    d.extend_from_slice(&0x1ffu32.to_be_bytes());
                    d.extend_from_slice(&proto.to_be_bytes());
                    for (stage, list) in &symlists {
                        d.extend_from_slice(&stage.to_be_bytes());
                        d.extend_from_slice(list.as_bytes());
                        d.push(0);
                    }
                    vec![packet(b'O', &d)]
                }
                b'D' => vec![],
                b'Q' => break,
                b'E' => eom.clone(),
                b'L' if proto & P_NR_HDR != 0 => vec![],
                _ => vec![packet(b'c', &[])],
            };
            // (a client that has given up may have hung up already)
            if reply.iter().any(|r| s.write_all(r).is_err()) {
                break;
            }
        }
        got
    })
}

/// Each of `edits`, sent at the end of the message, is a protocol error
/// and leaves the message's headers and envelope as they were.
fn refused_edits<const N: usize>(d: &Path, prefix: &str, edits: [Vec<u8>; N]) {
    for (i, edit) in edits.into_iter().enumerate() {
        let sock = d.join(format!("{prefix}{i}"));
        let h = milter(&sock, 0, vec![edit, packet(b'c', &[])]);
        let mut msg = message();
        let got = inspect(&spec(&sock), &mut msg);
        assert!(got.is_err(), "{prefix} edit {i}: {got:?}");
        let fresh = message();
        assert_eq!(msg.headers, fresh.headers);
        assert_eq!(msg.recipients, fresh.recipients);
        assert_eq!(msg.sender, fresh.sender);
        h.join().expect("milter");
    }
}

fn spec(path: &Path) -> Spec {
    Spec::parse(
        &format!("unix:{}", path.display()),
        &defaults(),
        Path::new("/"),
    )
    .expect("spec")
}

#[test]
fn the_session_is_replayed_and_the_edits_applied() {
    let d = dir("edits");
    let sock = d.join("m");
    let mut chg = 1u32.to_be_bytes().to_vec();
    chg.extend_from_slice(b"X-Spam\0\0");
    let mut ins = 0u32.to_be_bytes().to_vec();
    ins.extend_from_slice(b"X-First\0 top\0");
    let h = milter(
        &sock,
        0,
        vec![
            packet(b'h', b"DKIM-Signature\0v=1; a=rsa-sha256;\r\n\tb=abc\0"),
            packet(b'm', &chg),
            packet(b'i', &ins),
            packet(b'b', b"new body\r\n"),
            packet(b'b', b"second\r\n"),
            packet(b'+', b"<d@example.test>\0"),
            packet(b'-', b"<b@example.test>\0"),
            packet(b'e', b"<bounce@example.com>\0"),
            packet(b'a', &[]),
        ],
    );
    let mut msg = message();
    assert_eq!(
        inspect(&spec(&sock), &mut msg).expect("inspect"),
        Verdict::Continue
    );
    let got = h.join().expect("milter");
    let cmds: String = got.iter().map(|(c, _)| *c as char).collect();
    // Macros (D) before each stage that has some with a value: Postfix's
    // default lists (none of the HELO stage's TLS macros without TLS).
    assert_eq!(cmds, "ODCHDMDRDRDTLLLDNBDEQ");
    let data = |c: u8| {
        got.iter()
            .find(|(x, _)| *x == c)
            .map(|(_, d)| d.clone())
            .expect("cmd")
    };
    assert_eq!(data(b'C'), b"client.example\x004\x9c\x40192.0.2.7\0");
    assert_eq!(data(b'M'), b"<a@example.com>\0");
    assert_eq!(
        got.iter()
            .filter(|(c, _)| *c == b'L')
            .nth(2)
            .map(|(_, d)| d.clone())
            .expect("To"),
        b"To\0b@example.test,\n\tc@example.test\0"
    );
    assert_eq!(data(b'B'), b"line one\r\nline two\r\n");
    assert_eq!(
        msg.headers,
        vec![
            ("X-First".to_string(), " top".to_string()),
            ("Subject".into(), "hello".into()),
            ("To".into(), "b@example.test,\n\tc@example.test".into()),
            (
                "DKIM-Signature".into(),
                "v=1; a=rsa-sha256;\n\tb=abc".into()
            ),
        ]
    );
    assert_eq!(msg.body, b"new body\nsecond\n");
    assert_eq!(msg.recipients, vec!["c@example.test", "d@example.test"]);
    assert_eq!(msg.sender, "bounce@example.com");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn verdicts_skipped_steps_and_broken_milters() {
    let d = dir("verdicts");
    // A reply code, and steps the milter skips (no HELO, no body) or does
    // not answer (headers).
    let sock = d.join("y");
    let h = milter(
        &sock,
        P_NOHELO | P_NOBODY | P_NR_HDR,
        vec![packet(b'y', b"554 5.7.1 Spam detected\0")],
    );
    let mut msg = message();
    assert_eq!(
        inspect(&spec(&sock), &mut msg).expect("inspect"),
        Verdict::Reject("554 5.7.1 Spam detected".into())
    );
    let cmds: String = h
        .join()
        .expect("milter")
        .iter()
        .map(|(c, _)| *c as char)
        .collect();
    assert_eq!(cmds, "ODCDMDRDRDTLLLDNDEQ");
    // A rejected message is left as it was.
    assert_eq!(msg.headers.len(), 3);

    let sock = d.join("q");
    let h = milter(
        &sock,
        0,
        vec![packet(b'q', b"looks odd\0"), packet(b'c', &[])],
    );
    assert_eq!(
        inspect(&spec(&sock), &mut message()).expect("q"),
        Verdict::Hold("looks odd".into())
    );
    h.join().expect("milter");

    let sock = d.join("t");
    let h = milter(&sock, 0, vec![packet(b't', &[])]);
    assert_eq!(
        inspect(&spec(&sock), &mut message()).expect("t"),
        Verdict::TempFail(TEMPFAIL_REPLY.into())
    );
    h.join().expect("milter");

    // Malformed reply codes break the protocol, as in Postfix (milter8.c):
    // the caller applies the default action. Well-formed ones stand.
    for (i, (reply, ok)) in [
        (&b"5\0"[..], false),
        (b"550\0", false),
        (b"5xx Go away\0", false),
        (b"550Go away\0", false),
        (b"550 4.7.1 Go away\0", false),
        (b"250 2.0.0 Fine\0", false),
        (b"550 Go away\0", true),
        (b"421-4.7.0 Busy\r\n421 4.7.0 Later\0", true),
        (b"550-5.7.1 First\r\nno code\0", false),
    ]
    .into_iter()
    .enumerate()
    {
        let sock = d.join(format!("y{i}"));
        let h = milter(&sock, 0, vec![packet(b'y', reply)]);
        let got = inspect(&spec(&sock), &mut message());
        assert_eq!(
            got.is_ok(),
            ok,
            "{:?}: {got:?}",
            String::from_utf8_lossy(reply)
        );
        h.join().expect("milter");
    }

    // A multi-line reply keeps its lines (joined with CR LF, whatever
    // ended them); "%%" is a "%" and a lone "%" goes, as in Postfix.
    let sock = d.join("ml");
    let h = milter(
        &sock,
        0,
        vec![packet(
            b'y',
            b"550-5.7.1 First line\n550 5.7.1 100%% sure, 5%0 off\0",
        )],
    );
    assert_eq!(
        inspect(&spec(&sock), &mut message()).expect("multi-line"),
        Verdict::Reject("550-5.7.1 First line\r\n550 5.7.1 100% sure, 50 off".into())
    );
    h.join().expect("milter");

    // A header name must be one: not empty, no blank, colon or control
    // character (it would make another header, or none, of the message).
    refused_edits(
        &d,
        "hdr",
        [
            packet(b'h', b"\0value\0"),
            packet(b'h', b"X-A: b\0value\0"),
            packet(b'i', b"\0\0\0\x01X\rY\0value\0"),
            packet(b'm', b"\0\0\0\x01Sub ject\0value\0"),
        ],
    );
    // Envelope addresses go on the wire of later SMTP sessions: control
    // characters in them break the protocol.
    refused_edits(
        &d,
        "ctl",
        [
            packet(b'+', b"<x@example.test>\r\nRSET\0"),
            packet(b'2', b"<x@exa\tmple.test>\0NOTIFY=NEVER\0"),
            packet(b'e', b"<a@b>\nDATA\0"),
            packet(b'e', b"<a@b\x7f>\0"),
        ],
    );

    // Nobody listening; a bad packet length.
    assert!(inspect(&spec(&d.join("none")), &mut message()).is_err());
    let sock = d.join("bad");
    let l = UnixListener::bind(&sock).expect("bind");
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        let mut buf = [0u8; 17];
        s.read_exact(&mut buf).expect("optneg");
        s.write_all(&[0xff, 0xff, 0xff, 0xff, b'O']).expect("write");
    });
    let e = inspect(&spec(&sock), &mut message()).expect_err("bad length");
    assert!(e.to_string().contains("packet length"), "{e}");
    t.join().expect("thread");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn specs_take_postfix_forms() {
    let q = Path::new("/var/spool/mailsuite");
    let s = Spec::parse("inet:127.0.0.1:8891", &defaults(), q).expect("inet");
    assert_eq!(s.endpoint, Endpoint::Inet("127.0.0.1:8891".into()));
    let s = Spec::parse("unix:private/milter", &defaults(), q).expect("unix");
    assert_eq!(s.endpoint, Endpoint::Unix(q.join("private/milter")));
    let s = Spec::parse(
        "{ inet:127.0.0.1:8891, connect_timeout=10s, command_timeout=1m, default_action=accept }",
        &defaults(),
        q,
    )
    .expect("braced");
    assert_eq!(s.connect_timeout, Duration::from_secs(10));
    assert_eq!(s.command_timeout, Duration::from_secs(60));
    assert_eq!(s.default_action, DefaultAction::Accept);
    // A port alone is the local host's, as Postfix's host_port takes it.
    let s = Spec::parse("inet:8891", &defaults(), q).expect("port alone");
    assert_eq!(s.endpoint, Endpoint::Inet("localhost:8891".into()));
    for bad in [
        "127.0.0.1:8891",
        "inet:no-such-service",
        "{ inet:1.2.3.4:5, frob=1 }",
        "{ inet:1.2.3.4:5, default_action=maybe }",
    ] {
        assert!(Spec::parse(bad, &defaults(), q).is_err(), "{bad}");
    }
}

#[test]
fn macros_as_configured_or_as_the_milter_asks() {
    let d = dir("macros");
    let sock = d.join("m");
    let mut lists = Macros::default();
    lists.lists[2] = Macros::list("i, {client_addr} {auth_authen} {nosuch}");
    lists.defaults = Macros::defaults("{nosuch}=fallback, other = x");
    lists.v = "mailsuite 1.0".into();
    let spec = Spec::parse(
        &format!("unix:{}", sock.display()),
        &Defaults {
            macros: std::sync::Arc::new(lists),
            ..defaults()
        },
        Path::new("/"),
    )
    .expect("spec");
    // The milter asks for its own RCPT (3) and connect (0) lists.
    let h = milter_asking(
        &sock,
        0,
        vec![packet(b'c', &[])],
        vec![(3, "{rcpt_addr} v"), (0, "j _")],
    );
    let mut msg = message();
    assert_eq!(
        inspect(&spec, &mut msg).expect("inspect"),
        Verdict::Continue
    );
    let got = h.join().expect("milter");
    let macros: Vec<&Vec<u8>> = got
        .iter()
        .filter(|(c, _)| *c == b'D')
        .map(|(_, d)| d)
        .collect();
    assert_eq!(
        macros[0],
        b"Cj\0mail.example.test\0_\0client.example [192.0.2.7]\0"
    );
    // No {auth_authen} without AUTH; {nosuch} from milter_macro_defaults.
    assert_eq!(
        macros[1],
        b"Mi\x004jQ1\x00{client_addr}\x00192.0.2.7\x00{nosuch}\x00fallback\x00"
    );
    assert_eq!(
        macros[2],
        b"R{rcpt_addr}\0b@example.test\0v\0mailsuite 1.0\0"
    );
    assert_eq!(
        macros[3],
        b"R{rcpt_addr}\0c@example.test\0v\0mailsuite 1.0\0"
    );
    let _ = std::fs::remove_dir_all(&d);
}
