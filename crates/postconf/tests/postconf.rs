//! End-to-end tests of the postconf binary on temp configuration dirs.
//!
//! The golden `postconf -d` output is tests/golden/postconf-d.txt, with the
//! host-dependent values (myhostname, mydomain, mynetworks, mail_version)
//! replaced by placeholders. When the registry changes on purpose,
//! regenerate it with:
//!
//!     UPDATE_GOLDEN=1 cargo test -p postconf --test postconf golden
//!
//! and review the diff.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MASTER_CF: &str = "\
# comment
smtp      inet  n       -       y       -       -       smtpd
submission inet n       -       y       -       -       smtpd
  -o syslog_name=postfix/$service_name
  # a note
  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }
pickup    unix  n       -       y       60      1       pickup
qmgr      unix  n       -       n       300     1       qmgr
maildrop  unix  -       n       n       -       -       pipe flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}
";

/// A fresh directory, removed when the test passes and kept (its path
/// printed) when it fails.
struct Dir {
    path: PathBuf,
}

impl Dir {
    fn new(tag: &str) -> Dir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "postconf-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create test dir");
        Dir { path }
    }

    /// A directory with `main` as main.cf and the sample master.cf.
    fn with(tag: &str, main: &str) -> Dir {
        let d = Dir::new(tag);
        d.write("main.cf", main);
        d.write("master.cf", MASTER_CF);
        d
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path.join(name), text).expect("write test file");
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path.join(name)).expect("read test file")
    }

    fn s(&self) -> &str {
        self.path.to_str().expect("utf-8 temp path")
    }

    /// Runs `postconf -c DIR args...`.
    fn run(&self, args: &[&str]) -> Out {
        let mut all = vec!["-c", self.s()];
        all.extend_from_slice(args);
        run_with(&all, &[])
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test directory kept: {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_with(args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut c = Command::new(env!("CARGO_BIN_EXE_postconf"));
    c.args(args)
        .env_remove("MAIL_CONFIG")
        .env_remove("MAILSUITE_FAIL_POINT");
    for (k, v) in env {
        c.env(k, v);
    }
    let o: Output = c.output().expect("run postconf");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

// --- postconf -d ----------------------------------------------------------

fn mask_host_values(text: &str) -> String {
    text.lines()
        .map(|l| {
            for name in ["myhostname", "mydomain", "mynetworks", "mail_version"] {
                if l.starts_with(&format!("{name} =")) {
                    return format!("{name} = <{name}>");
                }
            }
            l.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn golden_defaults() {
    let out = run_with(&["-d"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stderr, "");
    let got = mask_host_values(&out.stdout);
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/postconf-d.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &got).expect("write golden file");
        return;
    }
    let want = std::fs::read_to_string(&golden).expect("golden file (UPDATE_GOLDEN=1 makes it)");
    assert_eq!(
        mask_host_values(&want),
        got,
        "postconf -d changed; if on purpose, UPDATE_GOLDEN=1 and review the diff"
    );
    // Sorted, one `name = value` or `name =` per line.
    let names: Vec<&str> = got.lines().filter_map(|l| l.split(" =").next()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn defaults_ignore_main_cf() {
    let d = Dir::with(
        "defaults",
        "myhostname = mail.example.test\nmessage_size_limit = 5\n",
    );
    let out = d.run(&["-d", "message_size_limit", "config_directory"]);
    assert_eq!(
        out.stdout,
        "message_size_limit = 10240000\nconfig_directory = /etc/mailsuite\n"
    );
    let out = d.run(&["-dh", "mail_name"]);
    assert_eq!(out.stdout, "mailsuite\n");
}

// --- showing ----------------------------------------------------------------

const SHOW_MAIN: &str = "\
# comment
myhostname = mail.example.test
mydestination = $myhostname,
    localhost
foo = bar
message_size_limit = 20000000
smtpd_banner = $myhostname ESMTP $mail_name aaaa bbbbbb cccccc dddddd eeeee fffff ggggg hhhhhh iiiii jjjjj kkkk lll
mydomain =
";

#[test]
fn a_large_main_cf_is_listed_without_quadratic_work() {
    // Each name was searched for in every value: minutes for 20000 names.
    let mut main = String::from("myhostname = mail.example.test\nsmtpd_banner = $p5 $p1x\n");
    for i in 0..20_000 {
        main.push_str(&format!("p{i} = v{i}\n"));
    }
    let d = Dir::with("large", &main);
    let out = d.run(&["-n", "p5", "p1"]);
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout, "p5 = v5\n");
    assert!(
        out.stderr.contains("p1: unknown parameter"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.matches("unused parameter").count(), 20_000 - 1);
}

#[test]
fn an_argument_that_is_not_utf8_is_refused_not_a_panic() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let d = Dir::with("latin1", SHOW_MAIN);
    let o = Command::new(env!("CARGO_BIN_EXE_postconf"))
        .args([OsStr::new("-c"), OsStr::new(d.s()), OsStr::new("-e")])
        .arg(OsStr::from_bytes(b"myorigin=caf\xe9.example"))
        .env_remove("MAIL_CONFIG")
        .output()
        .expect("run postconf");
    assert_eq!(o.status.code(), Some(64));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "postconf: fatal: argument is not UTF-8: \"myorigin=caf\u{fffd}.example\"\n"
    );
    assert_eq!(d.read("main.cf"), SHOW_MAIN);
}

#[test]
fn non_default_values() {
    let d = Dir::with("n", SHOW_MAIN);
    let out = d.run(&["-n"]);
    assert_eq!(out.code, 0);
    assert_eq!(
        out.stdout,
        format!(
            "config_directory = {}\nmessage_size_limit = 20000000\nmydestination = $myhostname, localhost\nmydomain =\nmyhostname = mail.example.test\nsmtpd_banner = $myhostname ESMTP $mail_name aaaa bbbbbb cccccc dddddd eeeee fffff ggggg hhhhhh iiiii jjjjj kkkk lll\n",
            d.s()
        )
    );
    assert_eq!(
        out.stderr,
        format!(
            "postconf: warning: {}/main.cf: unused parameter: foo=bar\n",
            d.s()
        )
    );
    // -f folds as Postfix does.
    let out = d.run(&["-nf", "smtpd_banner"]);
    assert_eq!(
        out.stdout,
        "smtpd_banner = $myhostname ESMTP $mail_name aaaa bbbbbb cccccc dddddd eeeee\n    fffff ggggg hhhhhh iiiii jjjjj kkkk lll\n"
    );
    // -q drops the unused-parameter warnings.
    assert_eq!(d.run(&["-nq"]).stderr, "");
}

#[test]
fn all_values_include_defaults() {
    let d = Dir::with("all", SHOW_MAIN);
    let out = d.run(&[]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("\nmyhostname = mail.example.test\n"));
    assert!(out.stdout.contains("\nmail_name = mailsuite\n"));
    assert!(
        !out.stdout.contains("foo = bar"),
        "unused names are not listed"
    );
    let names: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.split(" =").next())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn named_values_only_and_expanded() {
    let d = Dir::with("h", SHOW_MAIN);
    let out = d.run(&["-h", "myhostname", "mydomain"]);
    assert_eq!(out.stdout, "mail.example.test\n\n");
    let out = d.run(&["-x", "mydestination", "smtpd_banner"]);
    assert_eq!(
        out.stdout,
        "mydestination = mail.example.test, localhost\nsmtpd_banner = mail.example.test ESMTP mailsuite aaaa bbbbbb cccccc dddddd eeeee fffff ggggg hhhhhh iiiii jjjjj kkkk lll\n"
    );
    let out = d.run(&["-H", "myhostname"]);
    assert_eq!(out.stdout, "myhostname\n");
    let out = d.run(&["-n", "myhostname", "relay_domains"]);
    assert_eq!(out.stdout, "myhostname = mail.example.test\n");
}

#[test]
fn unknown_names_warn_as_postfix() {
    let d = Dir::with("unknown", "myhostname = mail.example.test\n");
    let out = d.run(&["myhostname", "nosuch", "mail_name"]);
    assert_eq!(out.code, 0, "Postfix exits 0 here too");
    assert_eq!(
        out.stdout,
        "myhostname = mail.example.test\nmail_name = mailsuite\n"
    );
    assert_eq!(out.stderr, "postconf: warning: nosuch: unknown parameter\n");
}

#[test]
fn overrides_with_o() {
    let d = Dir::with("o", "myhostname = mail.example.test\n");
    let out = d.run(&[
        "-n",
        "-o",
        "myhostname=o.example",
        "-o",
        "relay_domains = x",
    ]);
    assert_eq!(
        out.stdout,
        format!(
            "config_directory = {}\nmyhostname = o.example\nrelay_domains = x\n",
            d.s()
        )
    );
}

#[test]
fn json_output() {
    let d = Dir::with(
        "json",
        "myhostname = mail.example.test\nmydomain = example.test\n",
    );
    let out = d.run(&["-j", "-n"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("valid JSON");
    assert_eq!(v["myhostname"], "mail.example.test");
    assert_eq!(v["mydomain"], "example.test");
    assert_eq!(v["config_directory"], d.s());
    let out = d.run(&["-jx", "smtpd_banner"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("valid JSON");
    assert_eq!(
        v,
        serde_json::json!({"smtpd_banner": "mail.example.test ESMTP mailsuite"})
    );
    let out = d.run(&["-Mj", "submission/inet"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("valid JSON");
    assert_eq!(v[0]["service"], "submission");
    assert_eq!(v[0]["type"], "inet");
    assert_eq!(v[0]["private"], "n");
    assert_eq!(v[0]["command"], "smtpd");
    assert_eq!(
        v[0]["overrides"]["smtpd_client_restrictions"],
        "permit_sasl_authenticated, reject"
    );
    assert_eq!(d.run(&["-jh"]).code, 64);
}

#[test]
fn mail_config_versus_c() {
    let a = Dir::with("envA", "myhostname = a.example\n");
    let b = Dir::with("envB", "myhostname = b.example\n");
    let out = run_with(&["-h", "myhostname"], &[("MAIL_CONFIG", a.s())]);
    assert_eq!(out.stdout, "a.example\n");
    let out = run_with(
        &["-c", b.s(), "-h", "myhostname"],
        &[("MAIL_CONFIG", a.s())],
    );
    assert_eq!(out.stdout, "b.example\n", "-c wins over MAIL_CONFIG");
    let out = run_with(&["-n"], &[("MAIL_CONFIG", a.s())]);
    assert!(out
        .stdout
        .starts_with(&format!("config_directory = {}\n", a.s())));
    let out = run_with(&["-e", "myhostname=c.example"], &[("MAIL_CONFIG", a.s())]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(a.read("main.cf"), "myhostname = c.example\n");
    assert_eq!(b.read("main.cf"), "myhostname = b.example\n");
}

// --- editing main.cf ----------------------------------------------------------

const EDIT_MAIN: &str = "\
# head comment

myhostname = a.example
mydestination = $myhostname,
    localhost,
  # inner comment
    localhost.$mydomain

# tail
relay_domains=x
relay_domains = y
mynetworks = 127.0.0.0/8
";

#[test]
fn the_issue_done_when() {
    let d = Dir::with("done", "# my settings\n");
    let out = d.run(&["-e", "myhostname = mail.example.test"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(d.run(&["-h", "myhostname"]).stdout, "mail.example.test\n");
    assert!(d
        .run(&["-n"])
        .stdout
        .contains("\nmyhostname = mail.example.test\n"));
}

#[test]
fn edit_keeps_every_untouched_line() {
    let d = Dir::with("e", EDIT_MAIN);
    let out = d.run(&[
        "-e",
        "mydestination = a, b",
        "relay_domains=z",
        "newp  =  q  ",
        "mail_name=",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stderr,
        format!(
            "postconf: warning: {}/main.cf: multiple entries for \"relay_domains\"\n",
            d.s()
        )
    );
    assert_eq!(
        d.read("main.cf"),
        "\
# head comment

myhostname = a.example
mydestination = a, b
  # inner comment

# tail
relay_domains = z
relay_domains = z
mynetworks = 127.0.0.0/8
newp = q
mail_name = 
"
    );
}

#[test]
fn edit_without_e_flag() {
    let d = Dir::with("noe", "myhostname = a.example\n");
    let out = d.run(&["mydomain = example.test"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        d.read("main.cf"),
        "myhostname = a.example\nmydomain = example.test\n"
    );
}

#[test]
fn remove_with_x() {
    let d = Dir::with("X", EDIT_MAIN);
    let out = d.run(&["-X", "mydestination", "relay_domains", "nonexist"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        d.read("main.cf"),
        "# head comment\n\nmyhostname = a.example\n  # inner comment\n\n# tail\nmynetworks = 127.0.0.0/8\n"
    );
}

#[test]
fn comment_out_with_hash() {
    let d = Dir::with("hash", EDIT_MAIN);
    let out = d.run(&["-#", "mydestination", "myhostname"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        d.read("main.cf"),
        "\
# head comment

#myhostname = a.example
#mydestination = $myhostname,
#    localhost,
  # inner comment
#    localhost.$mydomain

# tail
relay_domains=x
relay_domains = y
mynetworks = 127.0.0.0/8
"
    );
}

#[test]
fn edit_usage_errors() {
    let d = Dir::with("eusage", EDIT_MAIN);
    for (args, msg) in [
        (
            vec!["-e", "foo"],
            "postconf: fatal: missing '=' after attribute name: \"foo\"\n",
        ),
        (
            vec!["-e", "=x"],
            "postconf: fatal: missing attribute name: \"=x\"\n",
        ),
        (
            vec!["-e"],
            "postconf: fatal: -e requires name=value argument\n",
        ),
        (vec!["-X"], "postconf: fatal: missing service argument\n"),
        (vec!["-X", "a=b"], "postconf: fatal: specify one of -e -X\n"),
        (vec!["-n", "-d"], "postconf: fatal: specify one of -d -n\n"),
    ] {
        let out = d.run(&args);
        assert_eq!(out.code, 64, "{args:?}");
        assert_eq!(out.stderr, msg, "{args:?}");
    }
    assert_eq!(d.read("main.cf"), EDIT_MAIN);
    let out = d.run(&["-z"]);
    assert_eq!(out.code, 64);
    assert!(out
        .stderr
        .starts_with("postconf: invalid option -- 'z'\npostconf: fatal: usage: postconf "));
}

#[test]
fn failed_write_leaves_main_cf_untouched() {
    let d = Dir::with("fail", EDIT_MAIN);
    for point in ["write", "fsync", "rename"] {
        let mut args = vec!["-c", d.s()];
        args.extend(["-e", "myhostname = b.example"]);
        let out = run_with(&args, &[("MAILSUITE_FAIL_POINT", point)]);
        assert_eq!(out.code, 74, "{point}");
        assert!(
            out.stderr.starts_with(&format!(
                "postconf: fatal: cannot update {}/main.cf: injected failure at {point}",
                d.s()
            )),
            "{}",
            out.stderr
        );
        assert_eq!(d.read("main.cf"), EDIT_MAIN, "{point}");
        let left: Vec<_> = std::fs::read_dir(&d.path)
            .expect("list dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 2, "no temp file left behind: {left:?}");
    }
}

#[test]
fn edits_that_break_the_configuration_are_refused() {
    let d = Dir::with("refuse", EDIT_MAIN);
    let out = d.run(&["-e", "message_size_limit = 10M"]);
    assert_eq!(out.code, 78);
    assert_eq!(
        out.stderr,
        format!(
            "postconf: fatal: {}/main.cf, line 13: parameter message_size_limit: bad numerical value \"10M\"\n",
            d.s()
        )
    );
    assert_eq!(d.read("main.cf"), EDIT_MAIN);
    // A bad file can still be fixed with -e.
    d.write("main.cf", "message_size_limit = 10M\n");
    let out = d.run(&["-e", "message_size_limit = 10000000"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(d.read("main.cf"), "message_size_limit = 10000000\n");
}

// --- bad input ------------------------------------------------------------------

#[test]
fn bad_main_cf_values_name_file_line_and_parameter() {
    for (text, want) in [
        ("message_size_limit = 10M\n", "line 1: parameter message_size_limit: bad numerical value \"10M\""),
        ("# x\nmax_idle = 10x\n", "line 2: parameter max_idle: bad time value \"10x\" (a number, then one of the units s, m, h, d, w)"),
        ("default_process_limit = 0\n", "line 1: parameter default_process_limit: value 0 is below the minimum 1"),
        (
            "myhostname = x.$mydomain\nmydomain = $myhostname\n",
            "line 2: parameter mydomain: recursive expansion: $mydomain -> $myhostname -> $mydomain",
        ),
        ("a = 1\nbogus line\n", "line 2: missing '=' after parameter name: \"bogus line\""),
    ] {
        let d = Dir::with("bad", text);
        for args in [vec!["-n"], vec![], vec!["-h", "myhostname"], vec!["-M"]] {
            let out = d.run(&args);
            assert_eq!(out.code, 78, "{text:?} {args:?}");
            assert_eq!(out.stdout, "");
            assert_eq!(
                out.stderr,
                format!("postconf: fatal: {}/main.cf, {want}\n", d.s()),
                "{text:?} {args:?}"
            );
        }
    }
}

#[test]
fn missing_main_cf() {
    let d = Dir::new("nomain");
    let out = d.run(&["-n"]);
    assert_eq!(out.code, 66);
    assert!(out.stderr.starts_with(&format!(
        "postconf: fatal: {}/main.cf: cannot read: ",
        d.s()
    )));
}

#[test]
fn bad_master_cf_line() {
    let d = Dir::with("badmaster", "myhostname = a.example\n");
    d.write("master.cf", "# x\nsmtp inet n - n - -\n");
    for args in [vec!["-M"], vec!["-n"]] {
        let out = d.run(&args);
        assert_eq!(out.code, 78);
        assert_eq!(
            out.stderr,
            format!(
                "postconf: fatal: {}/master.cf, line 2: entry has 7 fields, needs at least 8: \"smtp inet n - n - -\"\n",
                d.s()
            )
        );
    }
}

// --- master.cf ----------------------------------------------------------------------

#[test]
fn master_entries_in_postfix_columns() {
    let d = Dir::with("M", "myhostname = a.example\n");
    let out = d.run(&["-M"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "\
smtp       inet  n       -       y       -       -       smtpd
submission inet  n       -       y       -       -       smtpd -o syslog_name=postfix/$service_name -o {smtpd_client_restrictions=permit_sasl_authenticated, reject}
pickup     unix  n       -       y       60      1       pickup
qmgr       unix  n       -       n       300     1       qmgr
maildrop   unix  -       n       n       -       -       pipe flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}
"
    );
    let out = d.run(&["-Mfx", "submission/inet", "maildrop", "nonex/unix"]);
    assert_eq!(
        out.stdout,
        "\
submission inet  n       -       y       -       -       smtpd
    -o syslog_name=postfix/submission
    -o {smtpd_client_restrictions=permit_sasl_authenticated, reject}
maildrop   unix  -       n       n       -       -       pipe flags=DRXhu
    user=vmail argv=/usr/bin/maildrop -d ${recipient}
"
    );
    assert_eq!(
        out.stderr,
        "postconf: warning: unmatched request: \"nonex/unix\"\n"
    );
    let out = d.run(&["-M", "a/b/c"]);
    assert_eq!(out.code, 64);
}

#[test]
fn master_edits() {
    let d = Dir::with("Me", "myhostname = a.example\n");
    let out = d.run(&[
        "-M",
        "submission/inet=submission inet n - n - - smtpd -o syslog_name=postfix/submission -o smtpd_tls_security_level=encrypt",
        "new/unix = new unix - n n - 1 pipe user=x argv=/bin/true",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        d.read("master.cf"),
        "\
# comment
smtp      inet  n       -       y       -       -       smtpd
submission inet  n       -       n       -       -       smtpd
    -o syslog_name=postfix/submission
    -o smtpd_tls_security_level=encrypt
  # a note
pickup    unix  n       -       y       60      1       pickup
qmgr      unix  n       -       n       300     1       qmgr
maildrop  unix  -       n       n       -       -       pipe flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}
new        unix  -       n       n       -       1       pipe user=x
    argv=/bin/true
"
    );
    let out = d.run(&["-M#", "pickup/unix"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = d.run(&["-MX", "submission/inet", "nonex/unix"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        d.read("master.cf"),
        "\
# comment
smtp      inet  n       -       y       -       -       smtpd
  # a note
#pickup    unix  n       -       y       60      1       pickup
qmgr      unix  n       -       n       300     1       qmgr
maildrop  unix  -       n       n       -       -       pipe flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}
new        unix  -       n       n       -       1       pipe user=x
    argv=/bin/true
"
    );
}

#[test]
fn master_edit_errors() {
    let d = Dir::with("Mbad", "myhostname = a.example\n");
    for (args, code, want) in [
        (
            vec!["-M", "smtp/inet=smtp"],
            78,
            "smtp/inet: entry has 1 fields, needs at least 8: \"smtp\"",
        ),
        (
            vec!["-M", "smtp/inet=smtp bogus n - n - - smtpd"],
            78,
            "smtp/inet: unknown service type \"bogus\"",
        ),
        (
            vec!["-M", "smtp/inet=smtp inet n - n 5x - smtpd"],
            78,
            "smtp/inet: bad wakeup time field \"5x\"",
        ),
        (
            vec!["-M", "smtp=smtp inet n - n - - smtpd"],
            64,
            "-Me, -MX or -M# requires service_name/type",
        ),
        (
            vec!["-MX", "smtp"],
            64,
            "-Me, -MX or -M# requires service_name/type",
        ),
        (vec!["-Mf", "-X", "smtp/inet"], 64, "specify one of -f -X"),
    ] {
        let out = d.run(&args);
        assert_eq!(out.code, code, "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr, format!("postconf: fatal: {want}\n"), "{args:?}");
    }
    assert_eq!(d.read("master.cf"), MASTER_CF);
    let out = run_with(
        &["-c", d.s(), "-MX", "smtp/inet"],
        &[("MAILSUITE_FAIL_POINT", "rename")],
    );
    assert_eq!(out.code, 74);
    assert_eq!(d.read("master.cf"), MASTER_CF);
}

/// `postconf -F` and `-P`: master.cf fields and `-o` parameters one at a
/// time, shown and edited. Every expected text here is what Postfix 3.7's
/// postconf printed and wrote for the same master.cf.
#[test]
fn master_fields_and_parameters() {
    let d = Dir::with("FP", "myhostname = a.example\n");
    let out = d.run(&["-F", "submission/inet", "pickup/unix/wakeup"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "submission/inet/service = submission\nsubmission/inet/type = inet\nsubmission/inet/private = n\nsubmission/inet/unprivileged = -\nsubmission/inet/chroot = y\nsubmission/inet/wakeup = -\nsubmission/inet/process_limit = -\nsubmission/inet/command = smtpd -o syslog_name=postfix/$service_name -o {smtpd_client_restrictions=permit_sasl_authenticated, reject}\npickup/unix/wakeup = 60\n"
    );
    assert_eq!(
        d.run(&["-P"]).stdout,
        "submission/inet/smtpd_client_restrictions = permit_sasl_authenticated, reject\nsubmission/inet/syslog_name = postfix/$service_name\n"
    );
    assert_eq!(
        d.run(&["-Px", "submission/inet/syslog_name"]).stdout,
        "submission/inet/syslog_name = postfix/submission\n"
    );
    assert_eq!(
        d.run(&["-Ff", "maildrop/unix/command"]).stdout,
        "maildrop/unix/command = pipe flags=DRXhu user=vmail argv=/usr/bin/maildrop -d\n    ${recipient}\n"
    );
    let bad = d.run(&["-F", "smtp/inet/bogus"]);
    assert_eq!(bad.code, 64);
    assert!(bad
        .stderr
        .contains("fatal: invalid service attribute name: \"bogus\""));
    assert!(d
        .run(&["-F", "-P"])
        .stderr
        .contains("fatal: specify one of -F -P"));
    // Edits: -Pe replaces or adds a parameter, -PX removes one, -Fe
    // changes a column; the entries edited are rewritten in -M's layout.
    let spaced = d.run(&["-Pe", "submission/inet/a=b c"]);
    assert!(spaced
        .stderr
        .contains("fatal: -Pe does not accept whitespace in parameter value"));
    for args in [
        &[
            "-Pe",
            "submission/inet/syslog_name=sub",
            "submission/inet/smtpd_tls_security_level=encrypt",
        ][..],
        &["-PX", "submission/inet/smtpd_client_restrictions"][..],
        &["-Fe", "pickup/unix/wakeup=30", "smtp/inet/chroot=n"][..],
    ] {
        let out = d.run(args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
    }
    assert_eq!(
        d.read("master.cf"),
        "# comment\n  # a note\nsmtp       inet  n       -       n       -       -       smtpd\nsubmission inet  n       -       y       -       -       smtpd\n    -o syslog_name=sub\n    -o smtpd_tls_security_level=encrypt\npickup     unix  n       -       y       30      1       pickup\nqmgr      unix  n       -       n       300     1       qmgr\nmaildrop  unix  -       n       n       -       -       pipe flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}\n"
    );
    let unmatched = d.run(&["-Pe", "nosuch/inet/x=1"]);
    assert_eq!(unmatched.code, 0);
    assert!(unmatched
        .stderr
        .contains("warning: unmatched service_name/type: \"nosuch/inet/x=1\""));
}
