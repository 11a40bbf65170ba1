//! postcat against queue files written with queue::Writer, and, where
//! Postfix is installed, against Postfix's own postcat on the same files.

use queue::model::Attributes;
use queue::{DsnNotify, DsnRet, Envelope, Extracted, HashSpec, Recipient, Timestamp, Writer};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh directory per test with main.cf and a queue, kept on failure.
struct Setup {
    dir: PathBuf,
}

impl Setup {
    fn new(name: &str) -> Setup {
        let dir = std::env::temp_dir().join(format!("postcat_test_{name}_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for q in [
            "incoming", "active", "deferred", "hold", "maildrop", "corrupt",
        ] {
            std::fs::create_dir_all(dir.join("queue").join(q)).expect("mkdir");
        }
        std::fs::write(
            dir.join("main.cf"),
            format!("queue_directory = {}\n", dir.join("queue").display()),
        )
        .expect("main.cf");
        Setup { dir }
    }

    fn queue(&self) -> PathBuf {
        self.dir.join("queue")
    }

    fn postcat(&self, args: &[&str]) -> Output {
        self.postcat_stdin(args, None)
    }

    fn postcat_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        use std::io::Write;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_postcat"));
        cmd.args(args)
            .env("MAIL_CONFIG", &self.dir)
            .env("TZ", "UTC")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("spawn postcat");
        let mut pipe = child.stdin.take().expect("stdin");
        if let Some(bytes) = stdin {
            pipe.write_all(bytes).expect("write stdin");
        }
        drop(pipe);
        child.wait_with_output().expect("wait")
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn envelope() -> Envelope {
    Envelope {
        arrival: Timestamp {
            sec: 1_700_000_000,
            usec: 5,
        },
        create_time: Some(1_700_000_001),
        fullname: Some("Alice".into()),
        sender: "alice@example.org".into(),
        dsn_ret: Some(DsnRet::Full),
        dsn_envid: Some("ENV1".into()),
        attrs: Attributes {
            client_name: Some("localhost".into()),
            client_address: Some("127.0.0.1".into()),
            protocol_name: Some("ESMTP".into()),
            ..Attributes::default()
        },
        recipients: vec![
            Recipient {
                address: "bob@example.net".into(),
                original: Some("bob@example.net".into()),
                dsn_orcpt: Some("rfc822;bob@example.net".into()),
                dsn_notify: Some(DsnNotify(DsnNotify::FAILURE)),
                ..Recipient::default()
            },
            Recipient {
                address: "carol@example.net".into(),
                done: true,
                ..Recipient::default()
            },
        ],
        ..Envelope::default()
    }
}

fn extracted() -> Extracted {
    Extracted {
        recipients: vec![Recipient::new("dave@example.com")],
        errors_to: Some("errors@example.org".into()),
        ..Extracted::default()
    }
}

const MESSAGE: &[u8] = b"Received: from localhost\r\n\tby mail.example.org\r\nSubject: test\r\n\r\nHello\r\n  indented\r\nBye\r\n";

fn write_file(dir: &Path, content: &[u8]) -> PathBuf {
    let mut w = Writer::new(dir, &envelope()).expect("writer");
    w.write_content(content).expect("content");
    w.finish(&extracted()).expect("finish").1
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn default_output_has_postfix_markers_and_labels() {
    let s = Setup::new("default");
    let path = write_file(&s.queue().join("incoming"), MESSAGE);
    let p = path.to_string_lossy().into_owned();
    let out = s.postcat(&[&p]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let expected = format!(
        "*** ENVELOPE RECORDS {p} ***
message_size:              89             322               3               0              82               0
message_arrival_time: Tue Nov 14 22:13:20 2023
create_time: Tue Nov 14 22:13:21 2023
sender_fullname: Alice
sender: alice@example.org
named_attribute: client_name=localhost
named_attribute: client_address=127.0.0.1
named_attribute: protocol_name=ESMTP
dsn_return_flags: 1
dsn_envelope_id: ENV1
dsn_original_recipient: rfc822;bob@example.net
dsn_notify_flags: 4
original_recipient: bob@example.net
recipient: bob@example.net
done_recipient: carol@example.net
*** MESSAGE CONTENTS {p} ***
Received: from localhost
\tby mail.example.org
Subject: test

Hello
  indented
Bye
*** HEADER EXTRACTED {p} ***
recipient: dave@example.com
errors_to: errors@example.org
*** MESSAGE FILE END {p} ***
"
    );
    assert_eq!(text(&out.stdout), expected);
}

#[test]
fn section_flags() {
    let s = Setup::new("sections");
    let path = write_file(&s.queue().join("incoming"), MESSAGE);
    let p = path.to_string_lossy().into_owned();
    let out = s.postcat(&["-h", &p]);
    assert_eq!(
        text(&out.stdout),
        "Received: from localhost\n\tby mail.example.org\nSubject: test\n"
    );
    let out = s.postcat(&["-b", &p]);
    assert_eq!(text(&out.stdout), "\nHello\n  indented\nBye\n");
    let out = s.postcat(&["-bh", &p]);
    assert_eq!(
        out.stdout,
        MESSAGE
            .iter()
            .copied()
            .filter(|&b| b != b'\r')
            .collect::<Vec<u8>>()
    );
    let out = s.postcat(&["-e", &p]);
    let o = text(&out.stdout);
    assert!(o.contains("*** MESSAGE CONTENTS"));
    assert!(o.contains("recipient: dave@example.com\n"));
    assert!(!o.contains("Subject"));
    // -o and -d prefixes.
    let out = s.postcat(&["-od", "-e", &p]);
    let o = text(&out.stdout);
    let first = o.lines().nth(1).expect("second line");
    assert!(first.starts_with("        0  67 message_size:"), "{first}");
}

#[test]
fn queue_search_finds_hashed_and_corrupt_files() {
    let s = Setup::new("search");
    let spec = HashSpec {
        names: vec!["deferred".into(), "defer".into()],
        depth: 1,
    };
    let mut w = Writer::in_queue(&s.queue(), "deferred", &spec, &envelope()).expect("writer");
    w.write_content(MESSAGE).expect("content");
    let (id, path) = w.finish(&extracted()).expect("finish");
    let rel = path.strip_prefix(s.queue()).expect("in queue");
    assert_eq!(rel.components().count(), 3, "deferred/X/ID");
    let out = s.postcat(&["-q", "-e", id.as_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let banner = format!("*** ENVELOPE RECORDS {} ***\n", rel.display());
    assert!(
        text(&out.stdout).starts_with(&banner),
        "{}",
        text(&out.stdout)
    );
    // After quarantine, -q still finds it.
    queue::quarantine(&s.queue(), &path, "test").expect("quarantine");
    let out = s.postcat(&["-q", "-h", id.as_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("Received:"));
    // Unknown and bad IDs.
    let out = s.postcat(&["-q", "4Xk2mN2VXxz1a"]);
    assert_eq!(out.status.code(), Some(66));
    assert_eq!(
        text(&out.stderr),
        "postcat: fatal: open queue file 4Xk2mN2VXxz1a: No such file or directory\n"
    );
    let out = s.postcat(&["-q", "../main.cf"]);
    assert_eq!(out.status.code(), Some(64));
    assert_eq!(
        text(&out.stderr),
        "postcat: fatal: bad mail queue ID: ../main.cf\n"
    );
}

#[test]
fn stdin_usage_and_bad_input() {
    let s = Setup::new("stdin");
    let path = write_file(&s.queue().join("incoming"), MESSAGE);
    let bytes = std::fs::read(&path).expect("read");
    let out = s.postcat_stdin(&["-e"], Some(&bytes));
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("*** ENVELOPE RECORDS stdin ***\nmessage_size:"));
    // Usage.
    let out = s.postcat(&["-x"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).starts_with("postcat: fatal: usage: postcat"));
    // A missing file.
    let out = s.postcat(&["/nonexistent/file"]);
    assert_eq!(out.status.code(), Some(66));
    // Not a queue file: a warning, the next file is still shown.
    let junk = s.dir.join("junk");
    std::fs::write(&junk, "hello\n").expect("write");
    let j = junk.to_string_lossy().into_owned();
    let p = path.to_string_lossy().into_owned();
    let out = s.postcat(&["-e", &j, &p]);
    assert_eq!(out.status.code(), Some(65));
    assert_eq!(
        text(&out.stderr),
        format!("postcat: warning: {j}: input is not a valid queue file\n")
    );
    assert!(text(&out.stdout).starts_with(&format!("*** ENVELOPE RECORDS {p} ***")));
    // Truncated: what came before is shown, then a fatal error.
    let cut = s.dir.join("cut");
    std::fs::write(&cut, &bytes[..bytes.len() - 30]).expect("write");
    let c = cut.to_string_lossy().into_owned();
    let out = s.postcat(&[&c]);
    assert_eq!(out.status.code(), Some(65));
    assert!(text(&out.stdout).contains("*** MESSAGE CONTENTS"));
    assert!(text(&out.stderr).starts_with(&format!(
        "postcat: fatal: {c}: record read error: truncated record"
    )));
}

/// Postfix's postcat, when installed, prints the same bytes for our files.
#[test]
fn same_output_as_postfix_postcat() {
    let real = Path::new("/usr/sbin/postcat");
    if !real.exists() {
        eprintln!("skipped: no /usr/sbin/postcat");
        return;
    }
    let s = Setup::new("compat");
    // Postfix's postcat reads main.cf from -c; an empty one will do.
    let pf = s.dir.join("postfix");
    std::fs::create_dir_all(&pf).expect("mkdir");
    std::fs::write(pf.join("main.cf"), "").expect("main.cf");
    let mut long = MESSAGE.to_vec();
    long.extend(std::iter::repeat_n(b'x', 5000));
    long.extend_from_slice(b"\nend\n");
    long.extend(std::iter::repeat_n(b'y', 3000));
    let files = [
        write_file(&s.queue().join("incoming"), MESSAGE),
        write_file(&s.queue().join("incoming"), &long),
        write_file(&s.queue().join("incoming"), b""),
    ];
    let flag_sets: [&[&str]; 11] = [
        &[],
        &["-e"],
        &["-h"],
        &["-b"],
        &["-bh"],
        &["-eh"],
        &["-o"],
        &["-d"],
        &["-v"],
        &["-ov"],
        &["-s", "97"],
    ];
    for f in &files {
        let p = f.to_string_lossy().into_owned();
        for flags in flag_sets {
            let mut args: Vec<&str> = flags.to_vec();
            args.push(&p);
            let ours = s.postcat(&args);
            let theirs = Command::new(real)
                .arg("-c")
                .arg(&pf)
                .args(&args)
                .env("TZ", "UTC")
                .output()
                .expect("run postfix postcat");
            assert_eq!(theirs.status.code(), Some(0), "{}", text(&theirs.stderr));
            assert_eq!(ours.status.code(), Some(0), "{}", text(&ours.stderr));
            assert!(
                ours.stdout == theirs.stdout,
                "{flags:?} {p}:\n--- ours\n{}\n--- postfix\n{}",
                text(&ours.stdout),
                text(&theirs.stdout)
            );
        }
    }
}
