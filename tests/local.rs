//! Local delivery end to end, as root with real system users made by
//! `useradd` as the seeds do: SMTP (Python smtplib) → smtpd → cleanup →
//! qmgr → local → Maildir or mbox; aliases built by `newaliases` (to a
//! user, to a file, to a command); the maillog tells the whole story under
//! one queue ID.

use kit::{is_root, sink_dumps, wait_until, Instance, SystemUser};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

fn smtp_send(port: u16, rcpt: &str, body: &str) {
    kit::smtp_send(port, "sender@example.org", &[rcpt], body);
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

const BODY: &str = "Subject: to the mailbox\r\nFrom: sender@example.org\r\n\r\nFrom the start of a line\r\n.dot line\r\nlast line\r\n";

#[test]
fn smtp_to_maildir_for_a_system_user() {
    let Some(user) = kit::root_user("md") else {
        return;
    };
    let inst = Instance::local_delivery("local-maildir", "home_mailbox = Maildir/\n");
    inst.newaliases("# none\n");
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        &format!("{}@localhost", user.name),
        BODY,
    );
    let new = user.home.join("Maildir/new");
    assert!(
        wait_until(15 * SECOND, || files(&new).len() == 1),
        "maildir: {:?}\n{}",
        files(&new),
        inst.maillog()
    );
    let path = &files(&new)[0];
    let text = std::fs::read_to_string(path).expect("read");
    assert!(text.starts_with(&format!("Return-Path: <sender@example.org>\nX-Original-To: {0}@localhost\nDelivered-To: {0}@localhost\nReceived: from ", user.name)), "{text}");
    assert!(
        text.ends_with("\n\nFrom the start of a line\n.dot line\nlast line\n"),
        "{text}"
    );
    use std::os::unix::fs::MetadataExt;
    let uid = user.uid();
    assert_eq!(
        std::fs::metadata(path).expect("stat").uid(),
        uid,
        "delivered as the user"
    );
    assert!(inst.wait_log("status=sent (delivered to maildir)", 1, 5 * SECOND));
    let line = inst
        .log_lines("status=sent (delivered to maildir)")
        .pop()
        .expect("line");
    let id = line.split(": ").nth(1).expect("id").to_string();
    assert!(
        line.contains(&format!(
            "to=<{}@localhost>, relay=local, delay=",
            user.name
        )),
        "{line}"
    );
    assert!(line.contains("dsn=2.0.0"), "{line}");
    // The whole life of the message under one queue ID; qmgr logs "removed" after local's reply.
    assert!(inst.wait_log(&format!("{id}: removed"), 1, 5 * SECOND));
    for step in [
        "client=localhost[127.0.0.1]",
        "message-id=",
        "from=<sender@example.org>, size=",
        "status=sent",
        "removed",
    ] {
        let found = inst
            .maillog()
            .lines()
            .any(|l| l.contains(&format!(": {id}: ")) && l.contains(step));
        assert!(found, "no '{step}' for {id} in\n{}", inst.maillog());
    }
}

#[test]
fn mbox_in_the_spool_and_aliases_to_users_files_and_commands() {
    let Some(user) = kit::root_user("mb") else {
        return;
    };
    let inst = Instance::local_delivery("local-mbox", "");
    let spool = inst.dir.join("mail");
    std::fs::create_dir_all(&spool).expect("spool");
    inst.main_cf(&format!("mail_spool_directory = {}\n", spool.display()));
    let file = inst.dir.join("archive.mbox");
    let out = inst.dir.join("cmd-out");
    std::fs::write(&file, "").expect("touch");
    std::os::unix::fs::chown(&file, Some(65534), Some(65534)).expect("chown");
    std::fs::write(&out, "").expect("touch");
    std::os::unix::fs::chown(&out, Some(65534), Some(65534)).expect("chown");
    // A file name ending in "/" is a Maildir (alias deliveries run as
    // default_privs, nobody).
    let maildir = inst.dir.join("kept");
    for d in ["", "tmp", "new", "cur"] {
        std::fs::create_dir_all(maildir.join(d)).expect("maildir");
        std::os::unix::fs::chown(maildir.join(d), Some(65534), Some(65534)).expect("chown");
    }
    inst.newaliases(&format!(
        "dream: {u}\nteam: {u}, {f}\ncmd: \"|cat > {o}\"\nkeep: {m}/\n",
        u = user.name,
        f = file.display(),
        o = out.display(),
        m = maildir.display()
    ));
    // biff (yes by default): comsat on udp 512 hears "user@offset".
    let comsat = std::net::UdpSocket::bind(("127.0.0.1", 512)).ok();
    inst.start();
    let port = inst.port("127.0.0.1:0");
    smtp_send(port, "dream@localhost", BODY);
    let mbox = spool.join(&user.name);
    assert!(
        wait_until(15 * SECOND, || std::fs::read_to_string(&mbox)
            .map(|t| t.matches("\nlast line\n").count() == 1)
            .unwrap_or(false)),
        "{}",
        inst.maillog()
    );
    let text = std::fs::read_to_string(&mbox).expect("mbox");
    assert!(text.starts_with("From sender@example.org  "), "{text}");
    if let Some(comsat) = &comsat {
        comsat.set_read_timeout(Some(5 * SECOND)).expect("timeout");
        let mut buf = [0u8; 256];
        let (n, _) = comsat.recv_from(&mut buf).expect("biff notice");
        assert_eq!(
            String::from_utf8_lossy(&buf[..n]),
            format!("{}@0", user.name)
        );
    } else {
        eprintln!("udp 512 is taken here: the biff notice is not checked");
    }
    assert!(
        text.contains(&format!(
            "X-Original-To: dream@localhost\nDelivered-To: {}@localhost\n",
            user.name
        )) || text.contains("X-Original-To: dream@localhost\n"),
        "{text}"
    );
    assert!(
        text.contains("\n>From the start of a line\n"),
        "From_ quoted: {text}"
    );
    assert!(text.ends_with("last line\n\n"), "{text}");
    // As local(8) logs an alias: the destination, with orig_to (the
    // target's domain is $myorigin, here $myhostname).
    let dream = format!(
        "to=<{}@mail.example.test>, orig_to=<dream@localhost>, relay=local, ",
        user.name
    );
    assert!(inst.wait_log(&dream, 1, 5 * SECOND), "{}", inst.maillog());
    assert!(inst.log_lines(&dream)[0].contains("status=sent (delivered to mailbox)"));

    // The seeds read their mail with `mail` (s-nail).
    let listing = Command::new("s-nail")
        .args(["-R", "-#", "-H", "-f"])
        .arg(&mbox)
        .env("HOME", &inst.dir)
        .output();
    if let Ok(listing) = listing {
        let shown = String::from_utf8_lossy(&listing.stdout);
        assert!(
            shown.contains("to the mailbox"),
            "s-nail could not read the mbox: {shown}"
        );
    }

    smtp_send(port, "team@localhost", BODY);
    assert!(
        wait_until(15 * SECOND, || std::fs::read_to_string(&file)
            .map(|t| t.contains("last line"))
            .unwrap_or(false)),
        "{}",
        inst.maillog()
    );
    smtp_send(port, "cmd@localhost", BODY);
    assert!(
        wait_until(15 * SECOND, || std::fs::read_to_string(&out)
            .map(|t| t.contains("last line"))
            .unwrap_or(false)),
        "{}",
        inst.maillog()
    );
    assert!(std::fs::read_to_string(&out)
        .expect("out")
        .starts_with("Return-Path: <sender@example.org>\n"));
    assert!(
        inst.wait_log("status=sent (delivered to command: cat >", 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );
    // team: the mailbox copy went through forwarding or directly; both end in the user's mbox.
    assert!(
        wait_until(15 * SECOND, || std::fs::read_to_string(&mbox)
            .map(|t| t.matches("\nlast line\n").count() == 2)
            .unwrap_or(false)),
        "{}",
        inst.maillog()
    );
    // A line for each destination of team: the user, and the file (logged
    // as the alias itself).
    let team_user = format!(
        "to=<{}@mail.example.test>, orig_to=<team@localhost>, relay=local, ",
        user.name
    );
    assert!(
        inst.wait_log(&team_user, 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );
    assert!(inst.log_lines(&team_user)[0].contains("status=sent (delivered to mailbox)"));
    // local logs the file's line after writing it.
    assert!(
        inst.wait_log(": to=<team@localhost>, relay=local, ", 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );
    let team_file = inst.log_lines(": to=<team@localhost>, relay=local, ");
    assert_eq!(team_file.len(), 1, "{}", inst.maillog());
    assert!(
        team_file[0].contains(&format!(
            "status=sent (delivered to file: {})",
            file.display()
        )),
        "{}",
        team_file[0]
    );
    assert!(inst.log_lines(": to=<cmd@localhost>, relay=local, ")[0]
        .contains("status=sent (delivered to command: cat >"));
    smtp_send(port, "keep@localhost", BODY);
    assert!(
        inst.wait_log("status=sent (delivered to maildir: ", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    let files: Vec<_> = std::fs::read_dir(maildir.join("new"))
        .expect("new")
        .flatten()
        .collect();
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(files[0].path()).expect("message");
    assert!(
        text.contains("last line") && !text.starts_with("From "),
        "{text}"
    );
}

/// A list alias with an `owner-` alias (aliases(5)): the expansion goes
/// out as a new message from owner-list, so a failed member's bounce goes
/// to the owner, not to whoever wrote to the list.
#[test]
fn a_list_with_an_owner_sends_its_errors_to_the_owner() {
    let Some(member) = kit::root_user("lm") else {
        return;
    };
    let owner = SystemUser::new("lo");
    let inst = Instance::local_delivery("local-owner", "home_mailbox = Maildir/\n");
    inst.newaliases(&format!(
        "ml: {}, gone-member-zz\nowner-ml: {}\n",
        member.name, owner.name
    ));
    inst.start();
    smtp_send(inst.port("127.0.0.1:0"), "ml@localhost", BODY);
    let member_new = member.home.join("Maildir/new");
    let owner_new = owner.home.join("Maildir/new");
    assert!(
        wait_until(20 * SECOND, || files(&member_new).len() == 1
            && files(&owner_new).len() == 1),
        "{}",
        inst.maillog()
    );
    let text = std::fs::read_to_string(&files(&member_new)[0]).expect("read");
    assert!(
        text.starts_with("Return-Path: <owner-ml@mail.example.test>\n"),
        "{text}"
    );
    let bounce = std::fs::read_to_string(&files(&owner_new)[0]).expect("read");
    assert!(
        bounce.contains("Subject: Undelivered Mail Returned to Sender\n")
            && bounce.contains("unknown user: \"gone-member-zz\""),
        "{bounce}"
    );
    // Logged by the local that made the new message, which another one
    // may have delivered first.
    assert!(
        inst.wait_log(", orig_to=<ml@localhost>, relay=local, ", 2, 5 * SECOND),
        "{}",
        inst.maillog()
    );
    let forwarded = inst.log_lines(", orig_to=<ml@localhost>, relay=local, ");
    assert_eq!(forwarded.len(), 2, "{}", inst.maillog());
    assert!(forwarded
        .iter()
        .all(|l| l.contains("status=sent (forwarded as ")));
}

#[test]
fn unknown_local_users_are_refused_at_rcpt() {
    let inst = Instance::local_delivery("local-unknown", "");
    inst.newaliases("postmaster: root\n");
    inst.start();
    let script = format!(
        "import smtplib\ns = smtplib.SMTP('127.0.0.1', {})\ns.ehlo()\ns.mail('a@example.org')\nprint(s.rcpt('no-such-user-here@localhost'))\n",
        inst.port("127.0.0.1:0")
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("550") && text.contains("User unknown in local recipient table"),
        "{text}"
    );
}

#[test]
fn a_bounce_comes_back_to_a_local_sender() {
    let Some(user) = kit::root_user("bo") else {
        return;
    };
    // The postmaster (here the same user) gets a copy of bounces too.
    let inst = Instance::local_delivery(
        "local-bounce",
        &format!(
            "home_mailbox = Maildir/\nnotify_classes = bounce, resource, software\nbounce_notice_recipient = {}@localhost\n",
            user.name
        ),
    );
    inst.newaliases("# none\n");
    inst.start();
    let out = inst.sendmail(
        &[
            "-f",
            &format!("{}@localhost", user.name),
            "-N",
            "failure",
            "-V",
            "env-42",
            "no-such-user-xyz@localhost",
        ],
        b"Subject: lost\n\nwhere did it go\n",
    );
    assert!(out.status.success(), "{out:?}");
    let new = user.home.join("Maildir/new");
    assert!(
        wait_until(20 * SECOND, || files(&new).len() == 2),
        "{}",
        inst.maillog()
    );
    let texts: Vec<String> = files(&new)
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("read"))
        .collect();
    let copy = texts
        .iter()
        .find(|t| t.contains("Subject: Postmaster Copy: Undelivered Mail\n"))
        .expect("the postmaster's copy");
    assert!(copy.starts_with("Return-Path: <double-bounce@"), "{copy}");
    assert!(
        copy.contains("Content-Type: text/rfc822-headers\n"),
        "{copy}"
    );
    assert!(
        copy.contains("\nSubject: lost\n") && !copy.contains("where did it go"),
        "headers only: {copy}"
    );
    assert!(inst.wait_log("postmaster non-delivery notification: ", 1, 5 * SECOND));
    let text = texts
        .iter()
        .find(|t| t.contains("Subject: Undelivered Mail Returned to Sender\n"))
        .expect("the sender's notice")
        .clone();
    assert!(text.starts_with("Return-Path: <>\n"), "{text}");
    assert!(
        text.contains("Subject: Undelivered Mail Returned to Sender\n"),
        "{text}"
    );
    assert!(
        text.contains("<no-such-user-xyz@localhost>: unknown user: \"no-such-user-xyz\""),
        "{text}"
    );
    assert!(text.contains("Action: failed\nStatus: 5.1.1\n"), "{text}");
    assert!(text.contains("Original-Envelope-Id: env-42\n"), "{text}");
    assert!(text.contains("Content-Type: message/rfc822\n"), "{text}");
    assert!(
        text.contains("\nSubject: lost\n") && text.contains("\n\nwhere did it go\n"),
        "the message comes back: {text}"
    );
    assert!(inst.wait_log("sender non-delivery notification: ", 1, 5 * SECOND));
    let line = inst
        .log_lines("status=bounced (unknown user")
        .pop()
        .expect("bounced line");
    let id = line.split(": ").nth(1).expect("id").to_string();
    assert!(
        inst.wait_log(&format!("{id}: removed"), 1, 10 * SECOND),
        "{}",
        inst.maillog()
    );
}

#[test]
fn notify_success_sends_a_delivery_report() {
    let Some(user) = kit::root_user("ok") else {
        return;
    };
    let inst = Instance::local_delivery("local-success", "home_mailbox = Maildir/\n");
    inst.newaliases("# none\n");
    inst.start();
    let me = format!("{}@localhost", user.name);
    let out = inst.sendmail(
        &["-f", &me, "-N", "success,failure", &me],
        b"Subject: tell me\n\nhello\n",
    );
    assert!(out.status.success(), "{out:?}");
    let new = user.home.join("Maildir/new");
    assert!(
        wait_until(20 * SECOND, || files(&new).len() == 2),
        "{}",
        inst.maillog()
    );
    let texts: Vec<String> = files(&new)
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("read"))
        .collect();
    let report = texts
        .iter()
        .find(|t| t.contains("Subject: Successful Mail Delivery Report"))
        .expect("a success report");
    assert!(
        report.contains("Action: delivered\nStatus: 2.0.0\n"),
        "{report}"
    );
    assert!(inst.wait_log("sender delivery status notification: ", 1, 5 * SECOND));
}

#[test]
fn a_forward_file_cannot_make_local_read_as_root_or_hang() {
    let Some(user) = kit::root_user("fw") else {
        return;
    };
    let inst = Instance::local_delivery(
        "local-forward",
        "home_mailbox = Maildir/\ncommand_time_limit = 2s\n",
    );
    inst.newaliases("# none\n");
    // The user's own .forward: an include of a file only root may read,
    // and a command that never reads its input.
    user.forward(":include:/etc/shadow\n\"|sleep 60\"\n");
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        &format!("{}@localhost", user.name),
        BODY,
    );
    assert!(
        inst.wait_log("status=deferred", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    let log = inst.maillog();
    assert!(
        log.contains("cannot read :include: file /etc/shadow: Permission denied"),
        "{log}"
    );
    assert!(
        !log.contains("unknown user: \"root:"),
        "shadow content leaked: {log}"
    );
}

/// `fallback_transport` and `mailbox_transport_maps`: local hands the
/// address to another delivery agent (here lmtp, to smtp-sink speaking
/// LMTP), which delivers and logs it; local marks it done, and an agent
/// that cannot be reached defers it.
#[test]
fn local_passes_mailboxes_and_unknown_users_to_other_transports() {
    if !kit::have("smtp-sink") {
        eprintln!("skipped: smtp-sink (postfix package) not installed");
        return;
    }
    let inst = Instance::new("local-pass");
    let d = inst.dir.display().to_string();
    let sock = inst.dir.join("lmtp.sock");
    inst.main_cf(&format!(
        "mydestination = $myhostname, localhost\nalias_maps = hash:{d}/aliases\nalias_database = hash:{d}/aliases\n\
         local_recipient_maps =\nfallback_transport = lmtp:unix:{sock}\n\
         mailbox_transport_maps = inline:{{ parked=nowhere, stuck=lmtp:unix:{d}/absent.sock }}\n\
         mailbox_command_maps = regexp:{d}/commands\n",
        sock = sock.display()
    ));
    // A command table may not put the address into the command.
    std::fs::write(
        inst.dir.join("commands"),
        "/^(.*)$/ /bin/sh -c 'touch /tmp/$1'\n",
    )
    .expect("commands");
    inst.master_cf(
        "127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\n\
         local unix - n n - - local\nlmtp unix - - n - - lmtp\nbounce unix - - n - 0 bounce\n",
    );
    inst.newaliases("list: ghost1, ghost2\n");
    let dump = inst.dir.join("sink");
    let _sink = kit::lmtp_sink(&sock, &dump);
    inst.start();
    let port = inst.port("127.0.0.1:0");
    for rcpt in [
        "ghost@localhost",
        "list@localhost",
        "parked@localhost",
        "stuck@localhost",
    ] {
        smtp_send(port, rcpt, BODY);
    }
    let relay = format!("relay=mail.example.test[{}]", sock.display());
    assert!(
        inst.wait_log(&format!("{relay}, "), 3, 20 * SECOND)
            && inst.wait_log("to=<parked@localhost>", 1, 5 * SECOND)
            && inst.wait_log("to=<stuck@localhost>", 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );
    let line = |to: &str| -> String {
        let mut l = inst.log_lines(&format!("to=<{to}>"));
        assert_eq!(l.len(), 1, "one line for {to}:\n{}", inst.maillog());
        l.pop().unwrap_or_default()
    };
    // The unknown user and the alias's two unknown users: delivered and
    // logged by lmtp only, the alias's with orig_to.
    for (to, orig) in [
        ("ghost@localhost", None),
        ("ghost1@mail.example.test", Some("list@localhost")),
        ("ghost2@mail.example.test", Some("list@localhost")),
    ] {
        let l = line(to);
        assert!(l.contains("mailsuite/lmtp["), "{l}");
        assert!(l.contains(&relay), "{l}");
        assert!(l.contains("status=sent (250 2."), "{l}");
        if let Some(o) = orig {
            assert!(l.contains(&format!("orig_to=<{o}>")), "{l}");
        }
    }
    // A transport that is not there: local defers it itself.
    let l = line("parked@localhost");
    assert!(l.contains("mailsuite/local["), "{l}");
    assert!(
        l.contains("status=deferred (mail transport unavailable)"),
        "{l}"
    );
    // An agent that is there but cannot deliver: it defers and logs.
    let l = line("stuck@localhost");
    assert!(l.contains("mailsuite/lmtp["), "{l}");
    assert!(l.contains("status=deferred"), "{l}");
    assert_eq!(sink_dumps(&dump).len(), 3, "{}", inst.maillog());
    // The delivered messages leave the queue; the two deferred ones wait.
    assert!(
        wait_until(10 * SECOND, || inst.log_lines(": removed").len() == 2),
        "{}",
        inst.maillog()
    );
    // qmgr moves a deferred message after the agent's log line.
    let deferred = || -> usize {
        files(&inst.dir.join("queue/deferred"))
            .iter()
            .map(|d| if d.is_dir() { files(d).len() } else { 1 })
            .sum()
    };
    assert!(
        wait_until(10 * SECOND, || deferred() == 2),
        "{} deferred\n{}",
        deferred(),
        inst.maillog()
    );
    assert!(
        inst.maillog()
            .contains("$number substitution is not allowed in this table"),
        "{}",
        inst.maillog()
    );
    inst.stop();
}

/// The usual Postfix + Dovecot set-up: `mailbox_transport =
/// lmtp:unix:private/dovecot-lmtp`, with Debian's Dovecot LMTP server
/// writing the system users' Maildirs, also through an alias.
#[test]
fn mailbox_transport_to_a_real_dovecot_lmtp() {
    if !is_root() || !Path::new("/usr/lib/dovecot/lmtp").exists() {
        eprintln!("skipped: needs root and Debian's dovecot-lmtpd");
        return;
    }
    let alice = SystemUser::new("lmtpa");
    let bob = SystemUser::new("lmtpb");
    let inst = Instance::local_delivery(
        "local-dovecot-lmtp",
        "mailbox_transport = lmtp:unix:private/dovecot-lmtp\n",
    );
    let cf = std::fs::read_to_string(inst.dir.join("master.cf")).expect("master.cf");
    inst.master_cf(&format!("{cf}lmtp unix - - n - - lmtp\n"));
    inst.newaliases(&format!("team: {}, {}\n", alice.name, bob.name));
    let dv = inst.dir.join("dovecot");
    std::fs::create_dir_all(&dv).expect("dovecot dir");
    // Dovecot's listener inside the queue's private/, as the howtos have it.
    let private = inst.dir.join("queue/private");
    std::fs::create_dir_all(&private).expect("private");
    let sock = private.join("dovecot-lmtp");
    let conf = dv.join("dovecot.conf");
    std::fs::write(
        &conf,
        format!(
            "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\n\
             protocols = lmtp\nssl = no\nmail_location = maildir:~/Maildir\n\
             postmaster_address = postmaster@localhost\nauth_username_format = %Ln\n\
             passdb {{\n  driver = passwd\n}}\nuserdb {{\n  driver = passwd\n}}\n\
             service lmtp {{\n  unix_listener {sock} {{\n    mode = 0666\n  }}\n}}\n",
            d = dv.display(),
            sock = sock.display()
        ),
    )
    .expect("dovecot.conf");
    let dovecot = kit::Proc(
        Command::new("/usr/sbin/dovecot")
            .arg("-F")
            .arg("-c")
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("dovecot"),
    );
    assert!(
        wait_until(10 * SECOND, || sock.exists()),
        "dovecot's LMTP socket did not appear"
    );
    inst.start();
    let port = inst.port("127.0.0.1:0");
    smtp_send(port, &format!("{}@localhost", alice.name), BODY);
    smtp_send(port, "team@localhost", BODY);
    let maildir = |u: &SystemUser| u.home.join("Maildir/new");
    assert!(
        wait_until(20 * SECOND, || files(&maildir(&alice)).len() == 2
            && files(&maildir(&bob)).len() == 1),
        "alice {:?}, bob {:?}\n{}\n{}",
        files(&maildir(&alice)),
        files(&maildir(&bob)),
        inst.maillog(),
        std::fs::read_to_string(dv.join("dovecot.log")).unwrap_or_default()
    );
    let text = std::fs::read_to_string(&files(&maildir(&bob))[0]).expect("read");
    assert!(text.contains("Subject: to the mailbox"), "{text}");
    // Dovecot wrote it as bob, and lmtp logged each delivery with Dovecot's reply.
    use std::os::unix::fs::MetadataExt;
    let bob_uid = std::fs::metadata(&bob.home).expect("home").uid();
    assert_eq!(
        std::fs::metadata(&files(&maildir(&bob))[0])
            .expect("stat")
            .uid(),
        bob_uid
    );
    assert!(
        inst.wait_log(" Saved)", 3, 5 * SECOND),
        "{}",
        inst.maillog()
    );
    for l in inst.log_lines(" Saved)") {
        assert!(l.contains("mailsuite/lmtp["), "{l}");
        assert!(l.contains("status=sent (250 2.0.0 <"), "{l}");
    }
    assert_eq!(inst.log_lines("orig_to=<team@localhost>").len(), 2);
    assert!(
        wait_until(10 * SECOND, || inst.log_lines(": removed").len() == 2),
        "{}",
        inst.maillog()
    );
    inst.stop();
    drop(dovecot);
}

/// Debian's own /etc/postfix/master.cf, chroot column and all: smtpd,
/// pickup, cleanup, qmgr and others run chrooted in the queue directory,
/// and mail from SMTP and from sendmail still reaches the user's Maildir,
/// the passwd lookups going through proxymap outside the jail.
#[test]
fn debians_master_cf_with_its_chroots() {
    let debian = Path::new("/etc/postfix/master.cf");
    if !is_root() || !debian.exists() {
        eprintln!("skipped: needs root and Debian's postfix package");
        return;
    }
    let user = SystemUser::new("deb");
    let inst = Instance::new("local-debian-master");
    inst.main_cf(
        "mydestination = $myhostname, localhost\nalias_maps =\nalias_database =\nhome_mailbox = Maildir/\n",
    );
    let master_cf: String = std::fs::read_to_string(debian)
        .expect("Debian's master.cf")
        .lines()
        .map(|l| {
            let mut f = l.split_whitespace();
            match (f.next(), f.next()) {
                (Some("smtp"), Some("inet")) => l.replacen("smtp", "127.0.0.1:0", 1),
                _ => l.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        master_cf.contains("pickup    unix  n       -       y"),
        "chroot y as shipped"
    );
    inst.write("master.cf", &(master_cf + "\n"));
    // The services mailsuite does without are named as such, not warned of.
    let check = inst
        .command("mailsuite")
        .arg("check")
        .output()
        .expect("check");
    let said = String::from_utf8_lossy(&check.stderr);
    assert!(
        check.status.success() && !said.contains("warning"),
        "{said}"
    );
    assert!(said.contains("service tlsmgr/unix: not needed"), "{said}");
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        &format!("{}@localhost", user.name),
        BODY,
    );
    let out = inst.sendmail(
        &["-f", "root@localhost", &format!("{}@localhost", user.name)],
        b"Subject: posted\n\nthrough pickup\n",
    );
    assert!(out.status.success(), "{out:?}");
    let new = user.home.join("Maildir/new");
    assert!(
        wait_until(20 * SECOND, || files(&new).len() == 2),
        "{}",
        inst.maillog()
    );
    inst.stop();
}

/// prepend_delivered_header without `command` and `file`: those
/// deliveries get no Delivered-To:, nor does a user's mailbox (a file, as
/// in Postfix's mailbox.c), and enable_original_recipient = no: no
/// X-Original-To:, no orig_to=.
#[test]
fn delivered_to_and_original_recipient_as_configured() {
    if !is_root() {
        eprintln!("skipped: alias deliveries to files run as nobody (needs root)");
        return;
    }
    let user = SystemUser::new("dh");
    let inst = Instance::local_delivery(
        "local-headers",
        "prepend_delivered_header = forward\nenable_original_recipient = no\n",
    );
    let spool = inst.dir.join("mail");
    std::fs::create_dir_all(&spool).expect("spool");
    inst.main_cf(&format!("mail_spool_directory = {}\n", spool.display()));
    let file = inst.dir.join("archive.mbox");
    let out = inst.dir.join("cmd-out");
    for f in [&file, &out] {
        std::fs::write(f, "").expect("touch");
        std::os::unix::fs::chown(f, Some(65534), Some(65534)).expect("chown");
    }
    inst.newaliases(&format!(
        "tofile: {f}\ntocmd: \"|cat > {o}\"\n",
        f = file.display(),
        o = out.display()
    ));
    inst.start();
    let port = inst.port("127.0.0.1:0");
    smtp_send(port, "tofile@localhost", BODY);
    smtp_send(port, "tocmd@localhost", BODY);
    smtp_send(port, &format!("{}@localhost", user.name), BODY);
    let mbox = spool.join(&user.name);
    for f in [&file, &out, &mbox] {
        assert!(
            wait_until(15 * SECOND, || std::fs::read_to_string(f)
                .is_ok_and(|t| t.contains("last line"))),
            "{}",
            inst.maillog()
        );
        let text = std::fs::read_to_string(f).expect("delivered");
        assert!(text.contains("Return-Path: <sender@example.org>"), "{text}");
        assert!(!text.contains("Delivered-To:"), "{text}");
        assert!(!text.contains("X-Original-To:"), "{text}");
    }
    assert!(!inst.maillog().contains("orig_to="), "{}", inst.maillog());
}

/// require_home_directory = yes: a user whose home directory is not there
/// (an automount that failed) waits, with Postfix's reason; once it is
/// back, the mail is delivered. (By default the spool mailbox needs no
/// home.)
#[test]
fn require_home_directory_defers_until_the_home_is_there() {
    let Some(user) = kit::root_user("hd") else {
        return;
    };
    let inst = Instance::local_delivery("local-home", "require_home_directory = yes\n");
    let spool = inst.dir.join("mail");
    std::fs::create_dir_all(&spool).expect("spool");
    inst.main_cf(&format!("mail_spool_directory = {}\n", spool.display()));
    inst.newaliases("");
    let away = user.home.with_extension("away");
    std::fs::rename(&user.home, &away).expect("move the home away");
    inst.start();
    let port = inst.port("127.0.0.1:0");
    smtp_send(port, &format!("{}@localhost", user.name), BODY);
    let reason = format!(
        "status=deferred (cannot access home directory {}: No such file or directory)",
        user.home.display()
    );
    assert!(inst.wait_log(&reason, 1, 15 * SECOND), "{}", inst.maillog());
    std::fs::rename(&away, &user.home).expect("home back");
    let flush = Command::new(inst.bin.join("postqueue"))
        .env("MAIL_CONFIG", &inst.dir)
        .arg("-f")
        .output()
        .expect("postqueue -f");
    assert!(flush.status.success(), "{flush:?}");
    let mbox = spool.join(&user.name);
    assert!(
        wait_until(15 * SECOND, || std::fs::read_to_string(&mbox)
            .is_ok_and(|t| t.contains("last line"))),
        "{}",
        inst.maillog()
    );
}

/// local_delivery_status_filter: an unknown user's bounce becomes a
/// deferral with the table's text.
#[test]
fn a_delivery_status_filter_keeps_an_unknown_users_mail() {
    let inst = Instance::local_delivery("local-dsn-filter", "");
    std::fs::write(
        inst.dir.join("dsn_filter"),
        "/^5\\.1\\.1 unknown user: (.*)$/ 4.1.1 no account yet for $1\n",
    )
    .expect("filter");
    inst.main_cf(&format!(
        "local_delivery_status_filter = regexp:{}/dsn_filter\nlocal_recipient_maps =\n",
        inst.dir.display()
    ));
    inst.newaliases("");
    inst.start();
    smtp_send(inst.port("127.0.0.1:0"), "nosuchuser9@localhost", BODY);
    assert!(
        inst.wait_log(
            "dsn=4.1.1, status=deferred (no account yet for \"nosuchuser9\")",
            1,
            15 * SECOND
        ),
        "{}",
        inst.maillog()
    );
}

/// Two aliases that name each other: Postfix bounces the recipient
/// (5.4.6, an alias database loop) instead of calling it delivered with
/// nobody getting the mail.
#[test]
fn an_alias_loop_bounces_instead_of_losing_the_mail() {
    let inst = Instance::local_delivery("local-aliasloop", "");
    inst.newaliases("loopa: loopb\nloopb: loopa\n");
    inst.start();
    smtp_send(inst.port("127.0.0.1:0"), "loopa@localhost", BODY);
    assert!(
        inst.wait_log("to=<loopa@localhost>", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    let log = inst.maillog();
    assert!(!log.contains("status=sent"), "{log}");
    assert!(
        log.contains("status=bounced") && log.contains("dsn=5.4.6"),
        "{log}"
    );
}

/// A user whose .forward names the user with an extension: the second
/// time round the .forward is skipped and the mail goes to the mailbox,
/// as Postfix does, instead of being called forwarded to nobody.
#[test]
fn a_forward_naming_the_user_with_an_extension_reaches_the_mailbox() {
    let Some(user) = kit::root_user("fx") else {
        return;
    };
    let inst = Instance::local_delivery(
        "local-forward-self",
        "home_mailbox = Maildir/\nrecipient_delimiter = +\n",
    );
    inst.newaliases("# none\n");
    user.forward(&format!("{}+copy\n", user.name));
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        &format!("{}@localhost", user.name),
        BODY,
    );
    let new = user.home.join("Maildir/new");
    assert!(
        wait_until(15 * SECOND, || files(&new).len() == 1),
        "maildir: {:?}\n{}",
        files(&new),
        inst.maillog()
    );
}

/// A user's .forward that includes a file another user owns: the file's
/// destinations are delivered with the including user's rights, never the
/// file owner's (local(8): users must not make things happen with someone
/// else's rights by including a file their victim owns).
#[test]
fn an_include_from_a_forward_keeps_the_users_rights() {
    if !is_root() {
        eprintln!("skipped: useradd needs root");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let victim = SystemUser::new("iv");
    let user = SystemUser::new("iu");
    let inst = Instance::local_delivery(
        "local-include-rights",
        "home_mailbox = Maildir/\nallow_mail_to_files = alias, forward, include\n",
    );
    inst.newaliases("# none\n");
    // The victim's list names the victim's own archive.
    std::fs::set_permissions(&victim.home, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let list = victim.home.join("list");
    let archive = victim.home.join("archive");
    std::fs::write(&list, format!("{}\n", archive.display())).expect("list");
    std::fs::write(&archive, "").expect("archive");
    std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    for f in [&list, &archive] {
        std::os::unix::fs::chown(f, Some(victim.uid()), None).expect("chown");
    }
    user.forward(&format!(":include:{}\n", list.display()));
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        &format!("{}@localhost", user.name),
        BODY,
    );
    assert!(
        inst.wait_log("relay=local", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    let text = std::fs::read_to_string(&archive).expect("read");
    assert!(text.is_empty(), "written with the victim's rights: {text}");
    assert!(
        inst.maillog().contains("Permission denied"),
        "{}",
        inst.maillog()
    );
}

/// `~/file` in a .forward is the file under the user's home directory
/// (local(8)'s deliver_token_home); `~user/file` is refused.
#[test]
fn a_home_file_in_a_forward_lands_in_the_home_directory() {
    let Some(user) = kit::root_user("hf") else {
        return;
    };
    let inst = Instance::local_delivery("local-home-file", "home_mailbox = Maildir/\n");
    inst.newaliases("# none\n");
    user.forward("~/saved\n");
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        &format!("{}@localhost", user.name),
        BODY,
    );
    let saved = user.home.join("saved");
    assert!(
        wait_until(15 * SECOND, || std::fs::read_to_string(&saved)
            .is_ok_and(|t| t.contains("last line"))),
        "{}",
        inst.maillog()
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&saved).expect("stat").uid(), user.uid());
}

/// mailbox_command: `$extension` and the exported SENDER, EXTENSION,
/// LOCAL, DOMAIN, … come from the address, with every character outside
/// command_expansion_filter made '_' so that nothing a sender writes
/// reaches a shell as syntax (local(8)).
#[test]
fn mailbox_command_sees_the_address_censored() {
    let Some(user) = kit::root_user("mc") else {
        return;
    };
    let inst = Instance::local_delivery(
        "local-mailbox-command",
        "recipient_delimiter = +\nmailbox_command = env > $home/env.out; echo x${extension}x > $home/ext.out\n",
    );
    inst.newaliases("# none\n");
    inst.start();
    kit::smtp_send(
        inst.port("127.0.0.1:0"),
        "s`id`|x&y$z@example.org",
        &[&format!("{}+a$b`c@localhost", user.name)],
        BODY,
    );
    let ext = user.home.join("ext.out");
    assert!(
        wait_until(15 * SECOND, || ext.exists()),
        "{}",
        inst.maillog()
    );
    assert!(
        inst.wait_log("status=sent", 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );
    assert_eq!(std::fs::read_to_string(&ext).expect("ext"), "xa_b_cx\n");
    let env = std::fs::read_to_string(user.home.join("env.out")).expect("env");
    for want in [
        "EXTENSION=a_b_c\n".to_string(),
        format!("LOCAL={}+a_b_c\n", user.name),
        "DOMAIN=localhost\n".to_string(),
        "SENDER=s_id__x_y_z@example.org\n".to_string(),
    ] {
        assert!(env.contains(&want), "no {want:?} in\n{env}");
    }
}

/// With several recipient delimiters, the alias looked up first is the
/// local part as written (`sales-eu`), not one rebuilt with the first
/// delimiter (`sales+eu`).
#[test]
fn an_alias_with_the_second_delimiter_is_found() {
    let Some(user) = kit::root_user("dl") else {
        return;
    };
    let inst = Instance::local_delivery(
        "local-delimiters",
        "home_mailbox = Maildir/\nrecipient_delimiter = +-\n",
    );
    inst.newaliases(&format!("sales-eu: {}\n", user.name));
    inst.start();
    smtp_send(inst.port("127.0.0.1:0"), "sales-eu@localhost", BODY);
    let new = user.home.join("Maildir/new");
    assert!(
        wait_until(15 * SECOND, || files(&new).len() == 1),
        "{}",
        inst.maillog()
    );
}

/// Mail for root with a mailbox_command: the command runs as
/// default_privs, as Postfix's command.c does for root's rights, instead
/// of being deferred for ever.
#[test]
fn root_s_mailbox_command_runs_as_default_privs() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let out = kit::Scratch::new("root-mbcmd");
    std::fs::set_permissions(&*out, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    let inst = Instance::local_delivery(
        "local-root-command",
        &format!(
            "default_privs = nobody\nmailbox_command = id -u > {}/uid\n",
            out.display()
        ),
    );
    inst.newaliases("# none\n");
    inst.start();
    smtp_send(inst.port("127.0.0.1:0"), "root@localhost", BODY);
    assert!(
        inst.wait_log("relay=local", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    let nobody = nix::unistd::User::from_name("nobody")
        .ok()
        .flatten()
        .expect("nobody")
        .uid
        .as_raw();
    assert_eq!(
        std::fs::read_to_string(out.join("uid")).ok(),
        Some(format!("{nobody}\n")),
        "{}",
        inst.maillog()
    );
}
