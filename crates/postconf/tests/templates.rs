//! `postconf -t` and `postconf -b`: the bounce templates (bounce(5)).
//! The golden file is Postfix 3.7's own `postconf -t` output.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh directory with `main` as main.cf, kept when the test fails.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str, main: &str) -> Dir {
        let path =
            std::env::temp_dir().join(format!("postconf-templates-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create test dir");
        std::fs::write(path.join("main.cf"), main).expect("main.cf");
        Dir(path)
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("write");
        p.display().to_string()
    }

    /// Exit status, stdout, stderr of `postconf -c DIR args…`.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let o = Command::new(env!("CARGO_BIN_EXE_postconf"))
            .arg("-c")
            .arg(&self.0)
            .args(args)
            .env_remove("MAIL_CONFIG")
            .output()
            .expect("run postconf");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test directory kept: {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn the_built_in_templates_are_postfixs() {
    let d = Dir::new("t", "myhostname = mail.example.test\n");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/postconf-t.txt");
    let want = std::fs::read_to_string(golden).expect("golden file");
    assert_eq!(d.run(&["-t"]), (0, want, String::new()));
    let (code, text, err) = d.run(&["-b"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(text.starts_with(
        "expanded_failure_text = <<EOF\nThis is the mail system at host mail.example.test.\n"
    ));
    assert!(
        text.contains("for more than 0 hour(s).\nIt will be retried until it is 5 day(s) old.\n")
    );
}

#[test]
fn a_template_file_from_the_command_line_or_main_cf() {
    let d = Dir::new(
        "b",
        "myhostname = mail.example.test\nmaximal_queue_lifetime = 2d\n",
    );
    let file = d.file(
        "bounce.cf",
        "failure_template = <<EOF\nCharset: utf-8\nSubject: Unzustellbar\n\nHier ist $myhostname: Grüße, ${maximal_queue_lifetime_hours}h.\nEOF\nbogus_template = x\n",
    );
    let (code, text, err) = d.run(&["-b", &file]);
    assert_eq!(code, 0, "{err}");
    assert!(text.starts_with(
        "expanded_failure_text = <<EOF\nHier ist mail.example.test: Grüße, 48h.\nEOF\n\nexpanded_delay_text = <<EOF\n"
    ));
    assert_eq!(
        err,
        format!("postconf: warning: {file}, line 7: unknown template name: bogus_template -- ignoring this template\n")
    );
    // The same file named by bounce_template_file.
    d.file(
        "main.cf",
        &format!("myhostname = mail.example.test\nbounce_template_file = {file}\n"),
    );
    let (code, text, _) = d.run(&["-t"]);
    assert_eq!(code, 0);
    assert!(text.starts_with("failure_template = <<EOF\nCharset: utf-8\nFrom: Mail Delivery System <MAILER-DAEMON>\nSubject: Unzustellbar\nPostmaster-Subject: Postmaster Copy: Undelivered Mail\n\nHier ist $myhostname: Grüße, ${maximal_queue_lifetime_hours}h.\nEOF\n"));
    // Fatal errors name the file and line.
    let bad = d.file("bad.cf", "# x\nfailure_template <<EOF\n");
    let (code, _, err) = d.run(&["-b", &bad]);
    assert_eq!(code, 78);
    assert_eq!(
        err,
        format!("postconf: fatal: {bad}, line 2: missing '=' after attribute name: \"failure_template <<EOF\"\n")
    );
    let undefined = d.file(
        "undefined.cf",
        "delay_template = <<EOF\nhi $no_such_name\nEOF\n",
    );
    let (code, _, err) = d.run(&["-b", &undefined]);
    assert_eq!(code, 78);
    assert!(
        err.ends_with("undefined.cf: undefined $name in delay template: hi $no_such_name\n"),
        "{err}"
    );
    let (code, _, err) = d.run(&["-t", "/nonexistent/bounce.cf"]);
    assert_eq!(
        (code, err.as_str()),
        (
            66,
            "postconf: fatal: open /nonexistent/bounce.cf: No such file or directory\n"
        )
    );
    let (code, _, err) = d.run(&["-b", "-t"]);
    assert_eq!(
        (code, err.as_str()),
        (64, "postconf: fatal: specify one of -b and -t\n")
    );
}
