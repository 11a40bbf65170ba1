//! postmap as a user runs it: a temp dir with a main.cf, the real binary.

// Test helpers outside #[test] functions may panic on setup failures.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const POSTMAP: &str = env!("CARGO_BIN_EXE_postmap");

/// One directory per test with `cf/main.cf`; kept when the test fails.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str, main_cf: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("postmap-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(p.join("cf")).unwrap();
        std::fs::write(p.join("cf/main.cf"), main_cf).unwrap();
        Dir(p)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }

    fn file(&self, name: &str, text: &str) -> String {
        std::fs::write(self.0.join(name), text).unwrap();
        self.path(name)
    }

    /// Runs postmap with `-c cf` in the directory, feeding `stdin`.
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(POSTMAP)
            .arg("-c")
            .arg(self.0.join("cf"))
            .args(args)
            .current_dir(&self.0)
            .env_remove("MAIL_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn build_query_and_exit_status() {
    let d = Dir::new("build", "");
    d.file(
        "t",
        "Foo bar\nfoo baz\n# comment\n\nkey1 value one\n  continued here\nbadline\n  \nx\ty\n",
    );
    let o = d.run(&["t"], "");
    assert_eq!(code(&o), 0);
    assert_eq!(
        text(&o.stderr),
        "postmap: warning: t.db: duplicate entry: \"foo\"\n\
         postmap: warning: t, line 7: expected format: key whitespace value\n"
    );
    assert!(d.0.join("t.db").exists());
    let o = d.run(&["-q", "FOO", "t"], "");
    assert_eq!((code(&o), text(&o.stdout)), (0, "bar\n".into()));
    let o = d.run(&["-q", "key1", "hash:t"], "");
    assert_eq!(text(&o.stdout), "value one  continued here\n");
    let o = d.run(&["-q", "nope", "t"], "");
    assert_eq!((code(&o), text(&o.stdout)), (1, String::new()));
    let o = d.run(&["-s", "t"], "");
    assert_eq!(
        text(&o.stdout),
        "foo\tbar\nkey1\tvalue one  continued here\nx\ty\n"
    );
    let o = d.run(&["-q", "-", "t"], "k1\nX\nfoo\n");
    assert_eq!((code(&o), text(&o.stdout)), (0, "X\ty\nfoo\tbar\n".into()));
    let o = d.run(&["-q", "-", "t"], "k1\n");
    assert_eq!(code(&o), 1);
}

#[test]
fn texthash_answers_like_hash() {
    let d = Dir::new("texthash", "");
    d.file("t", "Foo bar\nfoo baz\nbadline\n");
    let o = d.run(&["-q", "foo", "texthash:t"], "");
    assert_eq!(text(&o.stdout), "bar\n");
    assert_eq!(
        text(&o.stderr),
        "postmap: warning: t, line 2: duplicate entry: \"foo\"\n\
         postmap: warning: t, line 3: expected format: key whitespace value -- ignoring this line\n"
    );
    let o = d.run(&["texthash:t"], "");
    assert_eq!(code(&o), 64);
    assert_eq!(
        text(&o.stderr),
        "postmap: fatal: unsupported dictionary type: texthash does not support bulk-mode creation.\n"
    );
}

#[test]
fn a_key_that_is_not_utf8_is_looked_up_not_a_panic() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let d = Dir::new("latin1", "");
    std::fs::write(d.0.join("t"), b"caf\xe9 latin\nplain v\n").unwrap();
    let o = Command::new(POSTMAP)
        .arg("-c")
        .arg(d.0.join("cf"))
        .args([
            OsStr::new("-q"),
            OsStr::from_bytes(b"caf\xe9"),
            OsStr::new("texthash:t"),
        ])
        .current_dir(&d.0)
        .env_remove("MAIL_CONFIG")
        .output()
        .unwrap();
    // As Postfix: the key in the file is found.
    assert_eq!(
        (code(&o), text(&o.stdout)),
        (0, "latin\n".into()),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn errors_and_their_status() {
    let d = Dir::new("errors", "");
    let o = d.run(&["missing"], "");
    assert_eq!(code(&o), 66);
    assert_eq!(
        text(&o.stderr),
        "postmap: fatal: open missing: No such file or directory\n"
    );
    let o = d.run(&["-q", "x", "missing"], "");
    assert_eq!(code(&o), 66);
    assert_eq!(
        text(&o.stderr),
        "postmap: fatal: open database missing.db: No such file or directory\n"
    );
    let o = d.run(&["-q", "x", "nis:mail.aliases"], "");
    assert_eq!(code(&o), 64);
    assert_eq!(
        text(&o.stderr),
        "postmap: fatal: unsupported dictionary type: nis\n"
    );
    let o = d.run(&["-q", "x", "-s", "t"], "");
    assert_eq!(code(&o), 64);
    assert_eq!(
        text(&o.stderr),
        "postmap: fatal: specify only one of -s or -q or -d\n"
    );
    let o = d.run(&[], "");
    assert_eq!(code(&o), 64);
    let o = d.run(&["-h", "-q", "x", "t"], "");
    assert_eq!(
        text(&o.stderr),
        "postmap: fatal: specify -b -h or -m only with \"-q -\"\n"
    );
    let o = d.run(&["-q", "x", "fail:t"], "");
    assert_eq!(code(&o), 75);
    let o = d.run(&["-s", "regexp:{{/x/ y}}"], "");
    assert_eq!(
        text(&o.stderr),
        "postmap: fatal: table regexp:{{/x/ y}}: sequence operation is not supported\n"
    );
    // No main.cf: as Postfix, a fatal error.
    let o = Command::new(POSTMAP)
        .args(["-c", &d.path("nowhere"), "-q", "x", "static:y"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 66, "{}", text(&o.stderr));
}

#[test]
fn mail_config_and_default_database_type() {
    let d = Dir::new("btree", "default_database_type = btree\n");
    d.file(
        "virtual",
        "zed@example.com z\nalpha@example.com a\nmid@example.com m\n",
    );
    let run = |args: &[&str]| {
        Command::new(POSTMAP)
            .args(args)
            .current_dir(&d.0)
            .env("MAIL_CONFIG", d.0.join("cf"))
            .output()
            .unwrap()
    };
    assert_eq!(code(&run(&["virtual"])), 0);
    let o = run(&["-s", "virtual"]);
    assert_eq!(
        text(&o.stdout),
        "alpha@example.com\ta\nmid@example.com\tm\nzed@example.com\tz\n"
    );
    let o = run(&["-q", "MID@example.com", "btree:virtual"]);
    assert_eq!(text(&o.stdout), "m\n");
}

#[test]
fn incremental_replace_and_delete() {
    let d = Dir::new("incr", "");
    d.file("f", "k v\n");
    assert_eq!(code(&d.run(&["f"], "")), 0);
    let o = d.run(&["-i", "f"], "a b\na c\nk other\nbad\n");
    assert_eq!(code(&o), 0);
    assert_eq!(
        text(&o.stderr),
        format!(
            "postmap: warning: f.db: duplicate entry: \"a\"\n\
             postmap: warning: f.db: duplicate entry: \"k\"\n\
             postmap: warning: stdin, line 4: expected format: key whitespace value\n"
        )
    );
    let o = d.run(&["-s", "f"], "");
    assert_eq!(text(&o.stdout), "k\tv\na\tb\n");
    let o = d.run(&["-r", "-i", "f"], "k new\n");
    assert_eq!(text(&o.stderr), "");
    assert_eq!(text(&d.run(&["-q", "k", "f"], "").stdout), "new\n");
    let o = d.run(&["-w", "-i", "f"], "a ignored\n");
    assert_eq!(text(&o.stderr), "");
    assert_eq!(text(&d.run(&["-q", "a", "f"], "").stdout), "b\n");
    // The source file is untouched by -i.
    assert_eq!(std::fs::read_to_string(d.0.join("f")).unwrap(), "k v\n");
    assert_eq!(code(&d.run(&["-d", "K", "f"], "")), 0);
    assert_eq!(code(&d.run(&["-d", "k", "f"], "")), 1);
    assert_eq!(code(&d.run(&["-d", "-", "f"], "zz\na\n")), 0);
    assert_eq!(text(&d.run(&["-s", "f"], "").stdout), "");
    let o = d.run(&["-d", "x", "texthash:f"], "");
    assert_eq!(code(&o), 64);
}

#[test]
fn no_folding_with_f() {
    let d = Dir::new("fold", "");
    d.file("g", "Kx v\n");
    assert_eq!(code(&d.run(&["-f", "g"], "")), 0);
    assert_eq!(text(&d.run(&["-s", "g"], "").stdout), "Kx\tv\n");
    assert_eq!(code(&d.run(&["-q", "kx", "g"], "")), 1);
    assert_eq!(code(&d.run(&["-f", "-q", "Kx", "g"], "")), 0);
    assert_eq!(code(&d.run(&["-q", "kx", "texthash:g"], "")), 0);
    assert_eq!(code(&d.run(&["-f", "-q", "kx", "texthash:g"], "")), 1);
}

#[test]
fn pattern_tables_and_message_keys() {
    let d = Dir::new("patterns", "");
    d.file(
        "hb",
        "/^subject:/ SUBJ\n/^body/ BODY\n/^(.*)@example\\.com$/ local $1\n/./ ANY\n",
    );
    let o = d.run(&["-q", "Bob@EXAMPLE.com", "regexp:hb"], "");
    assert_eq!(text(&o.stdout), "local Bob\n");
    let o = d.run(&["-q", "Bob@EXAMPLE.com", "pcre:hb"], "");
    assert_eq!(text(&o.stdout), "local Bob\n");
    let msg = "Subject: hi\n there\nFrom: a\n\nbody line\nline2\n";
    let o = d.run(&["-hq", "-", "regexp:hb"], msg);
    assert_eq!(text(&o.stdout), "Subject: hi\n there\tSUBJ\nFrom: a\tANY\n");
    let o = d.run(&["-bq", "-", "regexp:hb"], msg);
    assert_eq!(text(&o.stdout), "body line\tBODY\nline2\tANY\n");
    let o = d.run(&["-hbq", "-", "regexp:hb"], msg);
    assert_eq!(text(&o.stdout).lines().count(), 5);
    d.file("c.cidr", "192.168.0.0/16 OK\n2001:db8::/32 V6\n");
    let o = d.run(&["-q", "192.168.1.9", "cidr:c.cidr"], "");
    assert_eq!(text(&o.stdout), "OK\n");
    let o = d.run(&["-q", "2001:DB8::1", "cidr:c.cidr"], "");
    assert_eq!(text(&o.stdout), "V6\n");
    let o = d.run(&["-q", "X", "inline:{ X=V, {y = a b} }"], "");
    assert_eq!(text(&o.stdout), "V\n");
    let o = d.run(&["-s", "inline:{ X=V, {y = a b} }"], "");
    assert_eq!(text(&o.stdout), "x\tV\ny\ta b\n");
    let o = d.run(&["-q", "k", "static:{ a b }"], "");
    assert_eq!(text(&o.stdout), "a b\n");
    let o = d.run(&["-q", "root", "unix:passwd.byname"], "");
    assert!(text(&o.stdout).starts_with("root:"));
}

#[test]
fn new_tables_take_the_source_permissions() {
    let d = Dir::new("perms", "");
    let src = d.file("secret", "user pass\n");
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(code(&d.run(&["secret"], "")), 0);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&d.0.join("secret.db")), 0o640);
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o600)).unwrap();
    d.file("other", "a b\n");
    std::fs::set_permissions(d.0.join("other"), std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(code(&d.run(&["-p", "other"], "")), 0);
    assert_eq!(mode(&d.0.join("other.db")), 0o644);
    assert_eq!(code(&d.run(&["other"], "")), 0);
    assert_eq!(
        mode(&d.0.join("other.db")),
        0o644,
        "a rebuilt table keeps its mode"
    );
}

#[test]
fn an_open_table_sees_the_rebuilt_file() {
    let d = Dir::new("rebuild", "");
    d.file("access", "1.2.3 REJECT\n");
    assert_eq!(code(&d.run(&["access"], "")), 0);
    let ctx = maps::Ctx::new().with_warn(|_| {});
    let list = maps::MapList::open(
        "smtpd_client_restrictions",
        &format!("hash:{}", d.path("access")),
        &ctx,
    )
    .unwrap();
    let probes = maps::access::client_probes("unknown", "1.2.3.4", true);
    let hit = maps::access::search(&list, &probes).unwrap().unwrap();
    assert_eq!((hit.key.as_str(), hit.value.as_str()), ("1.2.3", "REJECT"));
    d.file("access", "1.2.3 REJECT\n1.2.3.4 OK\n");
    assert_eq!(code(&d.run(&["access"], "")), 0);
    let hit = maps::access::search(&list, &probes).unwrap().unwrap();
    assert_eq!((hit.key.as_str(), hit.value.as_str()), ("1.2.3.4", "OK"));
    // The directory holds the source and the table, no temp files.
    let mut names: Vec<String> = std::fs::read_dir(&d.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["access", "access.db", "cf"]);
}

#[test]
fn a_failed_write_leaves_the_old_table() {
    let d = Dir::new("failwrite", "");
    d.file("t", "k old\n");
    assert_eq!(code(&d.run(&["t"], "")), 0);
    d.file("t", "k new\n");
    let o = Command::new(POSTMAP)
        .args(["-c", &d.path("cf"), "t"])
        .current_dir(&d.0)
        .env(util::safe_file::FAIL_POINT_ENV, "rename")
        .output()
        .unwrap();
    assert_eq!(code(&o), 74, "{}", text(&o.stderr));
    assert!(text(&o.stderr).starts_with("postmap: fatal: cannot update database t.db: "));
    assert_eq!(text(&d.run(&["-q", "k", "t"], "").stdout), "old\n");
}

/// Where real Postfix is installed, its postmap and ours agree on what a
/// texthash table answers (the .db formats differ by design).
#[test]
fn agrees_with_real_postfix_on_texthash() {
    let real = Path::new("/usr/sbin/postmap");
    if !real.exists() {
        eprintln!("skipped: no /usr/sbin/postmap");
        return;
    }
    let d = Dir::new("real", "");
    d.file(
        "t",
        "Foo bar\nfoo baz\n# c\nkey1 value one\n  continued\nbad\n\"a b\" q\nk2: v\n  lead x\n",
    );
    for key in ["foo", "FOO", "key1", "bad", "\"a b\"", "k2:", "none"] {
        let ours = d.run(&["-q", key, "texthash:t"], "");
        let theirs = Command::new(real)
            .args(["-c", &d.path("cf"), "-q", key, "texthash:t"])
            .current_dir(&d.0)
            .output()
            .unwrap();
        assert_eq!(text(&ours.stdout), text(&theirs.stdout), "key {key}");
        assert_eq!(code(&ours), code(&theirs), "key {key}");
        // Real postmap, on a loaded machine, has been seen to print its
        // warnings more than once (each of them, in order); the lines and
        // their order are what must agree.
        let once = |s: String| {
            let mut seen = Vec::new();
            for l in s.lines() {
                if !seen.contains(&l.to_string()) {
                    seen.push(l.to_string());
                }
            }
            seen
        };
        assert_eq!(
            once(text(&ours.stderr)),
            once(text(&theirs.stderr)),
            "key {key}"
        );
    }
}
