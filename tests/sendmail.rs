//! Local submission end to end: sendmail → postdrop → maildrop/ → pickup →
//! cleanup → incoming/, with the real commands and the real master, and
//! s-nail (the seeds' `mail`) as a user would run it.

use kit::{wait_until, Instance};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

fn instance(name: &str) -> Instance {
    let inst = Instance::new(name);
    inst.main_cf("myorigin = linuxprobe.com");
    inst.master_cf("pickup unix n - n 60 1 pickup\ncleanup unix n - n - 0 cleanup\n");
    inst
}

fn sendmail(inst: &Instance, args: &[&str], input: &[u8]) -> Output {
    inst.sendmail(args, input)
}

/// The finished queue files in `dir`: a file still being written has a
/// temporary name with a `.` (queue::Writer), which nothing takes for a
/// queue file.
fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| !name.contains('.'))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn only_queued(inst: &Instance) -> (queue::Envelope, queue::Extracted, String) {
    let incoming = inst.dir.join("queue/incoming");
    assert!(
        wait_until(10 * SECOND, || files(&incoming).len() == 1),
        "incoming: {:?}\n{}",
        files(&incoming),
        inst.maillog()
    );
    let path = incoming.join(&files(&incoming)[0]);
    let mut qf = queue::open(&path).expect("valid queue file");
    let text = String::from_utf8(qf.content_bytes(b"\n").expect("content")).expect("utf8");
    (qf.envelope.clone(), qf.extracted.clone(), text)
}

#[test]
fn sendmail_t_posts_through_pickup_and_cleanup() {
    let inst = instance("sendmail-t");
    inst.start();
    let (env, extracted, text) = posted(
        &inst,
        &["-t", "-F", "The Boss"],
        b"To: dream, boss@linuxprobe.com\nBcc: hidden\nSubject: seed test\n\nhello\n.\nnot read\n",
    );
    let me = util_login();
    assert_eq!(env.sender, format!("{me}@linuxprobe.com"));
    let rcpts = addresses(&extracted);
    assert_eq!(
        rcpts,
        vec![
            "dream@linuxprobe.com",
            "boss@linuxprobe.com",
            "hidden@linuxprobe.com"
        ]
    );
    assert!(!text.contains("Bcc:"), "{text}");
    assert!(
        text.contains(&format!("\nFrom: The Boss <{me}@linuxprobe.com>\n")),
        "{text}"
    );
    assert!(
        text.ends_with("\nhello\n"),
        "a lone dot ends the input without -i: {text}"
    );
    // pickup removes the maildrop file once cleanup has queued it.
    assert!(wait_until(5 * SECOND, || files(
        &inst.dir.join("queue/maildrop")
    )
    .is_empty()));
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    assert!(
        inst.wait_log(&format!(": uid={uid} from=<{me}>"), 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );
}

/// A message being resent (as mutt's bounce and `sendmail -t` scripts send
/// one): the recipients are the Resent- headers' only, and the missing
/// Resent-From:, Resent-Date: and Resent-Message-Id: are added while the
/// original From:, Date: and Message-ID: stay as they were, as Postfix's
/// cleanup does.
#[test]
fn sendmail_t_takes_a_resent_message_to_its_resent_recipients() {
    let inst = instance("sendmail-resent");
    inst.start();
    let (_, extracted, text) = posted(&inst, &["-t"], b"From: author@example.org\nTo: original@example.org\nDate: Mon, 2 Nov 2026 10:00:00 +0000\nMessage-ID: <first@example.org>\nResent-To: again@example.net\nResent-Cc: copy\nResent-Bcc: quiet@example.net\nSubject: once more\n\nhello\n");
    let rcpts = addresses(&extracted);
    assert_eq!(
        rcpts,
        vec![
            "again@example.net",
            "copy@linuxprobe.com",
            "quiet@example.net"
        ]
    );
    // The login's address, after its full name when its GECOS field has
    // one (Postfix's fullname()).
    let me = util_login();
    let resent_from = text
        .lines()
        .find_map(|l| l.strip_prefix("Resent-From: "))
        .unwrap_or_default();
    assert!(
        resent_from == format!("{me}@linuxprobe.com")
            || resent_from.ends_with(&format!(" <{me}@linuxprobe.com>")),
        "{text}"
    );
    assert!(text.contains("\nResent-Date: "), "{text}");
    assert!(text.contains("\nResent-Message-Id: <"), "{text}");
    assert!(text.contains("\nFrom: author@example.org\n"), "{text}");
    assert!(
        text.contains("\nMessage-ID: <first@example.org>\n"),
        "{text}"
    );
    assert!(!text.contains("Resent-Bcc"), "{text}");
    assert_eq!(text.matches("\nDate: ").count(), 1, "{text}");
    assert!(
        inst.wait_log(": resent-message-id=<", 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );
    assert!(inst.maillog().contains(": message-id=<first@example.org>"));
}

/// A resent message with a To: but no Resent-To: or Resent-Cc: has its
/// visible recipients: undisclosed_recipients_header is not added (Postfix
/// looks at To, Cc, Resent-To and Resent-Cc alike).
#[test]
fn a_resent_message_with_a_to_gets_no_undisclosed_recipients_header() {
    let inst = instance("sendmail-resent-to");
    inst.main_cf("undisclosed_recipients_header = To: undisclosed-recipients:;\n");
    inst.start();
    let (_, _, text) = posted(
        &inst,
        &["someone@example.net"],
        b"To: list@example.org\nResent-Sender: list-owner@example.org\nSubject: s\n\nbody\n",
    );
    assert!(!text.contains("undisclosed-recipients"), "{text}");
    assert!(text.contains("\nResent-Message-Id: <"), "{text}");
}

/// `sendmail ARGS` with `input`, which must succeed; then the one queue
/// file it made (see [`only_queued`]).
fn posted(
    inst: &Instance,
    args: &[&str],
    input: &[u8],
) -> (queue::Envelope, queue::Extracted, String) {
    let out = sendmail(inst, args, input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    only_queued(inst)
}

/// The recipients sendmail -t took from the headers.
fn addresses(extracted: &queue::Extracted) -> Vec<&str> {
    extracted
        .recipients
        .iter()
        .map(|r| r.address.as_str())
        .collect()
}

fn util_login() -> String {
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string())
}

#[test]
fn mail_posted_while_the_master_is_down_waits_in_maildrop() {
    let inst = instance("sendmail-down");
    // Set up the queue without starting anything.
    assert!(inst.mailsuite(&["check"]).status.success());
    let out = sendmail(
        &inst,
        &["-i", "-f", "sender@example.org", "root@linuxprobe.com"],
        b"Subject: offline\n\n.\nstill body\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(files(&inst.dir.join("queue/maildrop")).len(), 1);
    inst.start();
    let (env, _, text) = only_queued(&inst);
    assert_eq!(env.sender, "sender@example.org");
    assert_eq!(env.recipients[0].address, "root@linuxprobe.com");
    assert!(
        text.ends_with("\n.\nstill body\n"),
        "-i keeps a lone dot: {text}"
    );
    assert!(wait_until(5 * SECOND, || files(
        &inst.dir.join("queue/maildrop")
    )
    .is_empty()));
}

#[test]
fn sendmail_usage_errors() {
    let inst = instance("sendmail-usage");
    assert!(inst.mailsuite(&["check"]).status.success());
    let out = sendmail(&inst, &[], b"Subject: x\n\ny\n");
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains(
        "Recipient addresses must be specified on the command line or via the -t option"
    ));
    let out = sendmail(&inst, &["-t"], b"Subject: x\n\ny\n");
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("No recipient addresses found in message header"));
    assert!(files(&inst.dir.join("queue/maildrop")).is_empty());
}

#[test]
fn s_nail_sends_through_sendmail_as_the_seeds_do() {
    if Command::new("s-nail").arg("-V").output().is_err() {
        eprintln!("skipped: s-nail is not installed (scripts/test installs it)");
        return;
    }
    let inst = instance("s-nail");
    inst.start();
    let mut child = Command::new("s-nail")
        .args([
            "-n",
            "-#",
            "-S",
            "ttycharset=utf-8",
            "-S",
            "sendcharsets=utf-8",
            "-S",
            "encoding=8bit",
            "-S",
            &format!("mta={}", inst.bin.join("sendmail").display()),
            "-s",
            "mail from linuxcast",
            "root@training.linuxcast.net",
        ])
        .env("MAIL_CONFIG", &inst.dir)
        .env("HOME", &inst.dir)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run s-nail");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all("你好, this is the body\n".as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (env, _, text) = only_queued(&inst);
    assert_eq!(env.recipients[0].address, "root@training.linuxcast.net");
    assert!(text.contains("Subject: mail from linuxcast"), "{text}");
    assert!(text.contains("你好, this is the body"), "{text}");
}

#[test]
fn sendmail_bs_speaks_smtp_on_standard_input() {
    let inst = instance("sendmail-bs");
    inst.start();
    let session = b"EHLO client.example\r\nMAIL FROM:<bs@example.org>\r\nRCPT TO:<root@linuxprobe.com>\r\nRCPT TO:<\"a b\"@linuxprobe.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;first+40x@y.example\r\nDATA\r\nSubject: stand-alone\r\n\r\n..dot\r\nbody\r\n.\r\nQUIT\r\n";
    let out = sendmail(&inst, &["-bs"], session);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("220 mail.example.test ESMTP"), "{text}");
    assert!(text.contains("250 2.0.0 Ok: queued"), "{text}");
    assert!(text.trim_end().ends_with("221 2.0.0 Bye"), "{text}");
    let (env, _, body) = only_queued(&inst);
    assert_eq!(env.sender, "bs@example.org");
    assert_eq!(env.recipients[0].address, "root@linuxprobe.com");
    // DSN parameters as smtpd keeps them; no ORCPT: the address as written.
    assert_eq!(
        env.recipients[0].dsn_orcpt.as_deref(),
        Some("rfc822;root@linuxprobe.com")
    );
    assert_eq!(env.recipients[1].address, "a b@linuxprobe.com");
    assert_eq!(
        env.recipients[1].dsn_orcpt.as_deref(),
        Some("rfc822;first@x@y.example")
    );
    assert_eq!(
        env.recipients[1].dsn_notify.map(|n| n.0),
        Some(ipc::cleanup::notify::SUCCESS | ipc::cleanup::notify::FAILURE)
    );
    assert!(
        body.ends_with("\n.dot\nbody\n"),
        "dot-stuffing undone: {body}"
    );
}

/// local_login_sender_maps (Postfix 3.6): a login may post only as the
/// senders its entry lists; postdrop refuses the rest with Postfix's
/// words and EX_NOPERM, and nothing is queued.
#[test]
fn local_login_sender_maps_limit_the_senders_a_login_may_use() {
    let inst = instance("sendmail-login-senders");
    let login = util_login();
    inst.main_cf(&format!(
        "local_login_sender_maps = inline:{{ {{{login} = {login}, @example.org}} }}\nrecipient_delimiter = +\n"
    ));
    inst.start();
    let refused = sendmail(
        &inst,
        &["-f", "boss@elsewhere.example", "someone@example.net"],
        b"Subject: forged\n\nno\n",
    );
    assert_eq!(refused.status.code(), Some(77), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("): not authorized to use sender='boss@elsewhere.example'"),
        "{stderr}"
    );
    assert!(files(&inst.dir.join("queue/maildrop")).is_empty());
    for sender in ["anyone+tag@example.org", login.as_str()] {
        let out = sendmail(
            &inst,
            &["-f", sender, "someone@example.net"],
            b"Subject: fine\n\nyes\n",
        );
        assert!(out.status.success(), "{sender}: {out:?}");
    }
    assert!(
        wait_until(10 * SECOND, || files(&inst.dir.join("queue/incoming"))
            .len()
            == 2),
        "{}",
        inst.maillog()
    );
}

/// The VERP forms, as Postfix's sendmail takes them: `-XV`, `-XVxy`, and
/// the old `-Vxy` with a warning (the queue file gets the `V` record);
/// any other `-X` is refused.
#[test]
fn verp_options_and_other_x_options() {
    let inst = instance("sendmail-verp");
    inst.start();
    let refused = sendmail(&inst, &["-X", "/tmp/log", "a@example.net"], b"x\n");
    assert_eq!(refused.status.code(), Some(64), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("unsupported: -X/"),
        "{refused:?}"
    );
    let bad = sendmail(
        &inst,
        &["-f", "list@example.org", "-XVab", "a@example.net"],
        b"x\n",
    );
    assert_eq!(bad.status.code(), Some(64), "{bad:?}");
    let old = sendmail(
        &inst,
        &["-f", "list@example.org", "-V-=", "a@example.net"],
        b"Subject: old form\n\nx\n",
    );
    assert!(old.status.success(), "{old:?}");
    assert!(
        String::from_utf8_lossy(&old.stderr)
            .contains("option -V-= is deprecated with Postfix 2.3; specify -XV-= instead"),
        "{old:?}"
    );
    let (env, _, _) = only_queued(&inst);
    assert_eq!(env.verp_delimiters.as_deref(), Some("-="));
    assert_eq!(env.sender, "list@example.org");
}

/// A relative table name in local_login_sender_maps is the queue
/// directory's (postdrop works there), never a file in the caller's
/// working directory that would let them choose their own senders.
#[test]
fn relative_login_sender_tables_are_not_the_callers() {
    let inst = instance("sendmail-login-relative");
    let login = util_login();
    inst.main_cf("local_login_sender_maps = texthash:login_senders\n");
    inst.start();
    let cwd = inst.dir.join("caller");
    std::fs::create_dir_all(&cwd).expect("dir");
    std::fs::write(cwd.join("login_senders"), format!("{login} *\n")).expect("table");
    let mut c = Command::new(inst.bin.join("sendmail"));
    c.current_dir(&cwd)
        .env("MAIL_CONFIG", &inst.dir)
        .args(["-f", "boss@elsewhere.example", "someone@example.net"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("sendmail");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"Subject: x\n\nx\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(!out.status.success(), "{out:?}");
    assert!(files(&inst.dir.join("queue/maildrop")).is_empty());
}

/// Debian's `myorigin = /etc/mailname` (its postinst writes it into every
/// main.cf): a myorigin that names a file is the file's first line, as
/// Debian's Postfix reads it; `mailsuite check` refuses an empty one.
#[test]
fn myorigin_may_name_a_file_as_on_debian() {
    let inst = Instance::new("sendmail-mailname");
    let mailname = inst.dir.join("mailname");
    std::fs::write(&mailname, "mail.debian.example\nsecond line\n").expect("mailname");
    inst.main_cf(&format!("myorigin = {}", mailname.display()));
    inst.master_cf("pickup unix n - n 60 1 pickup\ncleanup unix n - n - 0 cleanup\n");
    inst.start();
    let out = sendmail(&inst, &["-t"], b"To: dream\nSubject: mailname\n\nhello\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (env, extracted, text) = only_queued(&inst);
    let me = util_login();
    assert_eq!(env.sender, format!("{me}@mail.debian.example"));
    assert_eq!(extracted.recipients[0].address, "dream@mail.debian.example");
    assert!(text.contains("\nTo: dream@mail.debian.example\n"), "{text}");
    inst.stop();
    std::fs::write(&mailname, "\n").expect("empty mailname");
    let check = inst.mailsuite(&["check"]);
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(!check.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "parameter myorigin: myorigin file {} is empty",
            mailname.display()
        )),
        "{err}"
    );
}

/// Without -F, the From: that cleanup adds names the sender as Postfix's
/// sendmail finds the full name: `$NAME`, else the GECOS field (compared
/// side by side: Postfix 3.7 wrote `From: root <me@local.test>`).
#[test]
fn the_full_name_comes_from_name_without_f() {
    let inst = instance("sendmail-fullname");
    inst.start();
    let out = Command::new(inst.bin.join("sendmail"))
        .env("MAIL_CONFIG", &inst.dir)
        .env("NAME", "Jane Public")
        .args(["-f", "jane@linuxprobe.com", "root@linuxprobe.com"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(b"Subject: named\n\nhi\n")?;
            child.wait_with_output()
        })
        .expect("sendmail");
    assert!(out.status.success(), "{out:?}");
    let (_, _, text) = only_queued(&inst);
    assert!(
        text.contains("\nFrom: Jane Public <jane@linuxprobe.com>\n"),
        "{text}"
    );
}
