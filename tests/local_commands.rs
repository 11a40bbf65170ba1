//! Command deliveries of local(8) as Postfix makes them: the environment
//! (import_environment in the master, export_environment and the delivery's
//! own variables in local), the working directory
//! (command_execution_directory), the list conventions of
//! owner_request_special, and the Delivered-To: address of
//! frozen_delivered_to. Alias commands run as the test's user, or as
//! default_privs (nobody) when the tests run as root, so every test here
//! runs either way.

use kit::{wait_until, Instance, Scratch};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

const BODY: &str = "Subject: command\r\nFrom: sender@example.org\r\n\r\nlast line\r\n";

/// A directory every user may write to (the commands may run as nobody).
fn out_dir(tag: &str) -> Scratch {
    let out = Scratch::new(tag);
    std::fs::set_permissions(&*out, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    out
}

fn submit(inst: &Instance, rcpt: &str) {
    let out = inst.sendmail(&["-f", "sender@example.org", rcpt], BODY.as_bytes());
    assert!(
        out.status.success(),
        "sendmail: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The text of `file` once a command wrote a whole line into it.
fn written(inst: &Instance, file: &Path) -> String {
    assert!(
        wait_until(15 * SECOND, || std::fs::read_to_string(file)
            .is_ok_and(|t| t.ends_with('\n'))),
        "nothing in {}:\n{}",
        file.display(),
        inst.maillog()
    );
    std::fs::read_to_string(file).expect("read")
}

/// The master keeps what import_environment names (NAME from its own
/// environment, NAME=value as set) and nothing else; local gives a command
/// export_environment's variables and Postfix's own (no HOME or SHELL for
/// an alias: no user's rights apply), and runs it in the queue directory
/// when command_execution_directory is empty.
/// A local-delivery instance, started, whose aliases are `aliases` with
/// `{o}` standing for a fresh scratch directory (where reporter@'s
/// notices go, as `{o}/report`).
fn alias_instance(tag: &str, aliases: &str) -> (Scratch, Instance) {
    let out = out_dir(tag);
    let inst = Instance::local_delivery(tag, "");
    inst.newaliases(&aliases.replace("{o}", &out.display().to_string()));
    inst.start();
    (out, inst)
}

/// The whole notice or report that reached reporter@ (`out`/report).
fn read_report(inst: &Instance, out: &Path) -> String {
    let report = out.join("report");
    assert!(
        wait_until(15 * SECOND, || std::fs::read_to_string(&report)
            .is_ok_and(|t| t.trim_end().ends_with("--"))),
        "{}",
        inst.maillog()
    );
    std::fs::read_to_string(&report).expect("report")
}

/// Posts with `sendmail ARGS` from reporter@mail.example.test and returns
/// sendmail's output and the notice or report that reaches the reporter.
fn report_for(inst: &Instance, out: &Path, args: &[&str], input: &[u8]) -> (String, String) {
    let mut all = vec!["-f", "reporter@mail.example.test"];
    all.extend(args);
    let posted = inst.sendmail(&all, input);
    assert!(
        posted.status.success(),
        "sendmail: {}",
        String::from_utf8_lossy(&posted.stderr)
    );
    let text = read_report(inst, out);
    (String::from_utf8_lossy(&posted.stdout).into_owned(), text)
}

/// The human-readable part of a notice or report, its wrapped lines
/// joined again.
fn notification(text: &str) -> String {
    text.split("Content-Description: Notification")
        .nth(1)
        .and_then(|t| t.split("Content-Description: Delivery report").next())
        .unwrap_or_default()
        .replace("\n    ", " ")
}

/// Each of `lines` is in `text`, in this order.
fn assert_in_order(text: &str, lines: &[String], whole: &str) {
    let mut at = 0;
    for line in lines {
        let found = text[at..].find(line.as_str());
        assert!(found.is_some(), "{line}\n{whole}");
        at += found.unwrap_or_default() + line.len();
    }
}

#[test]
fn a_command_gets_postfix_s_environment() {
    let out = out_dir("cmd-env");
    let inst = Instance::local_delivery(
        "local-cmd-env",
        "import_environment = MAIL_CONFIG MAIL_DEBUG TZ LANG=C MS_IMPORTED MS_SET=fromimport\nexport_environment = TZ MAIL_CONFIG LANG MS_IMPORTED MS_SET MS_SECRET { MS_SPACED=a b }\n",
    );
    inst.newaliases(&format!(
        "envdump: \"|env > {o}/env; pwd > {o}/pwd\"\n",
        o = out.display()
    ));
    inst.start_with_env(&[("MS_IMPORTED", "yes"), ("MS_SECRET", "kept out")]);
    kit::smtp_send(
        inst.port("127.0.0.1:0"),
        "sender@example.org",
        &["envdump@localhost"],
        BODY,
    );
    let pwd = written(&inst, &out.join("pwd"));
    let env = std::fs::read_to_string(out.join("env")).expect("env");
    for want in [
        "MS_IMPORTED=yes\n",
        "MS_SET=fromimport\n",
        "MS_SPACED=a b\n",
        "LANG=C\n",
        "PATH=/usr/bin:/bin\n",
        "USER=envdump\n",
        "LOGNAME=envdump\n",
        "SENDER=sender@example.org\n",
        "RECIPIENT=envdump@localhost\n",
        "ORIGINAL_RECIPIENT=envdump@localhost\n",
        "LOCAL=envdump\n",
        "DOMAIN=localhost\n",
        "CLIENT_ADDRESS=127.0.0.1\n",
        "CLIENT_PROTOCOL=ESMTP\n",
        &format!("MAIL_CONFIG={}\n", inst.dir.display()),
    ] {
        assert!(env.contains(want), "no {want:?} in\n{env}");
    }
    for name in ["MS_SECRET=", "HOME=", "SHELL=", "EXTENSION="] {
        assert!(
            !env.lines().any(|l| l.starts_with(name)),
            "{name} in\n{env}"
        );
    }
    let queue = std::fs::canonicalize(inst.dir.join("queue")).expect("queue");
    assert_eq!(pwd.trim_end(), queue.display().to_string(), "{env}");
}

/// command_execution_directory with $name expansions (characters outside
/// execution_directory_expansion_filter made '_'); a directory the command
/// cannot enter defers the delivery, with Postfix's warning.
#[test]
fn command_execution_directory_is_expanded_and_entered() {
    let out = out_dir("cmd-dir");
    let cwd = out.join("cwd");
    std::fs::create_dir_all(cwd.join("runs/a_b")).expect("mkdir");
    for d in [cwd.clone(), cwd.join("runs"), cwd.join("runs/a_b")] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let inst = Instance::local_delivery(
        "local-cmd-dir",
        &format!(
            "recipient_delimiter = +\ncommand_execution_directory = {}/$user${{extension?/$extension}}\n",
            cwd.display()
        ),
    );
    inst.newaliases(&format!(
        "runs: \"|pwd > {o}/runs\"\nlost: \"|pwd > {o}/lost\"\n",
        o = out.display()
    ));
    inst.start();
    submit(&inst, "runs+a$b@localhost");
    submit(&inst, "lost@localhost");
    let pwd = written(&inst, &out.join("runs"));
    assert_eq!(
        pwd.trim_end(),
        cwd.join("runs/a_b").display().to_string(),
        "{}",
        inst.maillog()
    );
    assert!(
        inst.wait_log("to=<lost@localhost>", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    let line = inst.log_lines("to=<lost@localhost>").pop().expect("line");
    assert!(
        line.contains("dsn=4.3.0, status=deferred (temporary failure)"),
        "{line}"
    );
    let warning = format!(
        "warning: cannot change directory to \"{}/lost\" for uid=",
        cwd.display()
    );
    assert!(inst.maillog().contains(&warning), "{}", inst.maillog());
    assert!(!out.join("lost").exists());
}

fn owner_request_instance(name: &str, special: &str, out: &Path) -> Instance {
    let inst = Instance::local_delivery(
        name,
        &format!("recipient_delimiter = -\nowner_request_special = {special}\n"),
    );
    inst.newaliases(&format!(
        "ml: \"|env > {o}/ml\"\nowner-ml: listboss@example.org\nbob: \"|env > {o}/bob\"\n",
        o = out.display()
    ));
    inst.start();
    inst
}

/// owner_request_special = yes: a list with an owner- alias is delivered
/// from owner-list (its commands see that sender), and `bob-request` is
/// not bob's address with an extension.
#[test]
fn owner_request_special_yes_treats_list_names_specially() {
    let out = out_dir("ownreq-yes");
    let inst = owner_request_instance("local-ownreq-yes", "yes", &out);
    submit(&inst, "ml@localhost");
    submit(&inst, "bob-request@localhost");
    let env = written(&inst, &out.join("ml"));
    assert!(env.contains("SENDER=owner-ml@mail.example.test\n"), "{env}");
    assert!(
        inst.wait_log("to=<bob-request@localhost>", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    let line = inst
        .log_lines("to=<bob-request@localhost>")
        .pop()
        .expect("line");
    assert!(
        line.contains("status=bounced (unknown user: \"bob-request\")"),
        "{line}"
    );
    assert!(!out.join("bob").exists());
}

/// owner_request_special = no: owner-list and list-request are ordinary
/// names (the sender stays; `bob-request` is bob with the extension
/// `request`).
#[test]
fn owner_request_special_no_makes_list_names_ordinary() {
    let out = out_dir("ownreq-no");
    let inst = owner_request_instance("local-ownreq-no", "no", &out);
    submit(&inst, "ml@localhost");
    submit(&inst, "bob-request@localhost");
    let env = written(&inst, &out.join("ml"));
    assert!(env.contains("SENDER=sender@example.org\n"), "{env}");
    let env = written(&inst, &out.join("bob"));
    assert!(env.contains("EXTENSION=request\n"), "{env}");
    assert!(env.contains("USER=bob\n"), "{env}");
}

fn delivered_to_of(frozen: &str) -> String {
    let out = out_dir(&format!("frozen-{frozen}"));
    let inst = Instance::local_delivery(
        &format!("local-frozen-{frozen}"),
        &format!("frozen_delivered_to = {frozen}\n"),
    );
    inst.newaliases(&format!(
        "first: second\nsecond: \"|cat > {}/got\"\n",
        out.display()
    ));
    inst.start();
    submit(&inst, "first@localhost");
    let text = written(&inst, &out.join("got"));
    text.lines()
        .filter(|l| l.starts_with("Delivered-To: "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// frozen_delivered_to = yes: Delivered-To: names the recipient however
/// deep the aliases go; = no: the address whose alias was expanded last.
#[test]
fn frozen_delivered_to_decides_the_delivered_to_address() {
    assert_eq!(delivered_to_of("yes"), "Delivered-To: first@localhost");
    assert_eq!(
        delivered_to_of("no"),
        "Delivered-To: second@mail.example.test"
    );
}

/// `sendmail -bv`, as Postfix's: nothing is delivered; each recipient is
/// tried as a probe, and the sender gets a "Mail Delivery Status Report"
/// naming each one deliverable or undeliverable (with why).
#[test]
fn sendmail_bv_reports_what_delivery_would_do() {
    let (out, inst) = alias_instance("local-bv", "reporter: {o}/report\nknown: {o}/never\n");
    let (said, text) = report_for(
        &inst,
        &out,
        &[
            "-bv",
            "known@mail.example.test",
            "nosuchuser@mail.example.test",
        ],
        b"",
    );
    assert_eq!(
        said,
        "Mail Delivery Status Report will be mailed to <reporter@mail.example.test>.\n"
    );
    assert!(
        text.contains("Subject: Mail Delivery Status Report"),
        "{text}"
    );
    assert!(text.contains("Final-Recipient: rfc822; known@mail.example.test\nOriginal-Recipient: rfc822;known@mail.example.test\nAction: deliverable"), "{text}");
    assert!(
        text.contains(
            "<nosuchuser@mail.example.test>: delivery via local: unknown user: \"nosuchuser\""
        ),
        "{text}"
    );
    // Each recipient's line is followed by a blank line, as in Postfix.
    assert!(
        text.contains("/never\n\n<nosuchuser@mail.example.test>: ")
            && text.contains("unknown user: \"nosuchuser\"\n\n--"),
        "{text}"
    );
    // The returned headers are those of Postfix's probe.
    assert!(
        text.contains("Content-Description: Message Headers\nContent-Type: text/rfc822-headers\n"),
        "{text}"
    );
    assert!(text.contains("Subject: probe\n"), "{text}");
    // The alias's file was only looked at, never written.
    assert!(!out.join("never").exists());
    assert!(
        inst.wait_log(": sender delivery status notification: ", 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );
}

/// `sendmail -bv` follows aliases to their ends, as Postfix's local does
/// for a probe (compared side by side with Postfix 3.7): each final
/// destination of a recipient is in the report, "expanded from" it, with
/// what it would get; nothing is delivered, run or forwarded.
#[test]
fn sendmail_bv_follows_aliases_to_each_destination() {
    let (out, inst) = alias_instance(
        "local-bv-expand",
        "reporter: {o}/report\nafile: {o}/afile\nacmd: \"|touch {o}/ran\"\naremote: someone@remote.example\nalist: afile, acmd, aremote, root\nanest: alist\n",
    );
    let o = out.display();
    let (_, text) = report_for(&inst, &out, &["-bv", "anest@mail.example.test"], b"");
    // In the alias's order, as Postfix lists them.
    let expected = [
        format!("<afile@mail.example.test> (expanded from <anest@mail.example.test>): delivery via local: delivers to file: {o}/afile\n\n"),
        format!("<acmd@mail.example.test> (expanded from <anest@mail.example.test>): delivery via local: delivers to command: touch {o}/ran\n\n"),
        "<someone@remote.example> (expanded from <anest@mail.example.test>): delivery via local: forwards to someone@remote.example\n\n".to_string(),
        "<root@mail.example.test> (expanded from <anest@mail.example.test>): delivery via local: delivers to mailbox\n\n".to_string(),
    ];
    assert_in_order(&notification(&text), &expected, &text);
    // Lines are wrapped as Postfix wraps them.
    assert!(
        text.lines().all(|l| l.len() <= 79 || !l.contains(' ')),
        "{text}"
    );
    assert!(
        text.contains("Final-Recipient: rfc822; someone@remote.example\nOriginal-Recipient: rfc822;anest@mail.example.test\nAction: deliverable\nStatus: 2.0.0\n"),
        "{text}"
    );
    assert_eq!(text.matches("Final-Recipient:").count(), 4, "{text}");
    // Each destination is logged as Postfix's local logs a probe's.
    assert!(
        inst.wait_log(
            "to=<someone@remote.example>, orig_to=<anest@mail.example.test>, relay=local",
            1,
            5 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    assert!(
        inst.log_lines("status=deliverable (forwards to someone@remote.example)")
            .len()
            == 1
    );
    std::thread::sleep(SECOND);
    assert!(!out.join("afile").exists() && !out.join("ran").exists());
    // No copy went to remote.example (no smtp transport was asked).
    assert!(
        inst.log_lines("relay=none").is_empty(),
        "{}",
        inst.maillog()
    );
}

/// `sendmail -bv` for a user with a .forward: the file, mailbox and
/// command destinations keep the user's address, a forwarding address is
/// "expanded from" it, each in the .forward's order, as Postfix 3.7's
/// report shows them (compared side by side); nothing is delivered.
#[test]
fn sendmail_bv_follows_a_forward_file() {
    let Some(user) = kit::root_user("bvf") else {
        return;
    };
    let (out, inst) = alias_instance("local-bv-forward", "reporter: {o}/report\n");
    let o = out.display();
    user.forward(&format!(
        "~/saved\nsomeone@remote.example\n\\{u}\n\"|touch {o}/ran\"\n",
        u = user.name
    ));
    let rcpt = format!("{}@mail.example.test", user.name);
    let (_, text) = report_for(&inst, &out, &["-bv", &rcpt], b"");
    let home = user.home.display();
    let expected = [
        format!("<{rcpt}>: delivery via local: delivers to file: {home}/saved\n\n"),
        format!("<someone@remote.example> (expanded from <{rcpt}>): delivery via local: forwards to someone@remote.example\n\n"),
        format!("<{rcpt}>: delivery via local: delivers to mailbox\n\n"),
        format!("<{rcpt}>: delivery via local: delivers to command: touch {o}/ran\n\n"),
    ];
    assert_in_order(&notification(&text), &expected, &text);
    assert_eq!(text.matches("Final-Recipient:").count(), 4, "{text}");
    assert_eq!(
        text.matches(&format!("Original-Recipient: rfc822;{rcpt}\n"))
            .count(),
        4,
        "{text}"
    );
    std::thread::sleep(SECOND);
    assert!(!user.home.join("saved").exists() && !out.join("ran").exists());
}

/// A .forward naming a user who does not exist: the notice names that
/// address "expanded from" the recipient, with the recipient as
/// Original-Recipient, and the .forward's other destinations get their
/// copy (compared side by side with Postfix 3.7).
#[test]
fn a_bounce_names_the_forward_destination_that_failed() {
    let Some(user) = kit::root_user("bff") else {
        return;
    };
    let (out, inst) = alias_instance("local-bounce-forward", "reporter: {o}/report\n");
    user.forward("~/saved\nnosuchuser5\n");
    let rcpt = format!("{}@mail.example.test", user.name);
    let (_, text) = report_for(&inst, &out, &[&rcpt], BODY.as_bytes());
    assert!(
        notification(&text).contains(&format!(
            "\n<nosuchuser5@mail.example.test> (expanded from <{rcpt}>): unknown user: \"nosuchuser5\"\n\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("Final-Recipient: rfc822; nosuchuser5@mail.example.test\nOriginal-Recipient: rfc822;{rcpt}\nAction: failed\nStatus: 5.1.1\n")),
        "{text}"
    );
    assert!(written(&inst, &user.home.join("saved")).contains("last line"));
}

/// A bounce from an alias's expansion names the destination that failed,
/// "expanded from" the recipient, as Postfix's notices do (compared side
/// by side with Postfix 3.7); the rest of the alias is delivered.
#[test]
fn a_bounce_names_the_alias_destination_that_failed() {
    let (out, inst) = alias_instance(
        "local-bounce-expand",
        "reporter: {o}/report\nteam: {o}/kept, nosuchuser1\n",
    );
    let (_, text) = report_for(&inst, &out, &["team@mail.example.test"], BODY.as_bytes());
    // The notice's own headers in Postfix's order: Received naming no
    // user, then Date, then the template's From.
    let head: Vec<&str> = text.lines().take_while(|l| !l.is_empty()).collect();
    let at = head
        .iter()
        .position(|l| l.starts_with("Received: "))
        .unwrap_or_default();
    assert_eq!(
        head[at], "Received: by mail.example.test (mailsuite)",
        "{text}"
    );
    assert!(head[at + 2].starts_with("Date: "), "{text}");
    assert!(
        head[at + 3].starts_with("From: Mail Delivery System <MAILER-DAEMON@"),
        "{text}"
    );
    assert!(
        text.replace("\n    ", " ").contains(
            "\n<nosuchuser1@mail.example.test> (expanded from <team@mail.example.test>): unknown user: \"nosuchuser1\"\n\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("Final-Recipient: rfc822; nosuchuser1@mail.example.test\nOriginal-Recipient: rfc822;team@mail.example.test\nAction: failed\nStatus: 5.1.1\n"),
        "{text}"
    );
    assert!(written(&inst, &out.join("kept")).contains("last line"));
}

/// A bounce of SMTPUTF8 mail is a global one, part by part as Postfix
/// 3.7 writes it (compared side by side): a UTF-8 text part, a
/// message/global-delivery-status report naming the UTF-8 recipient as
/// type utf-8 and its ORCPT as smtpd recorded it, and message/global.
#[test]
fn a_bounce_of_smtputf8_mail_is_global() {
    let out = out_dir("local-bounce-utf8");
    let inst = Instance::local_delivery("local-bounce-utf8", "local_recipient_maps =\n");
    inst.newaliases(&format!("reporter: {}/report\n", out.display()));
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let script = format!(
        "import smtplib\ns = smtplib.SMTP('127.0.0.1', {port}, timeout=20)\ns.ehlo('client.example')\ns.sendmail('reporter@mail.example.test', ['jürgen@mail.example.test'], 'Subject: s\\r\\n\\r\\nx\\r\\n'.encode(), mail_options=['SMTPUTF8'])\ns.quit()\n"
    );
    kit::python_lines(&[], &script, &[]);
    let text = read_report(&inst, &out);
    let mime: Vec<&str> = text
        .lines()
        .filter(|l| {
            [
                "Content-",
                "MIME",
                "X-Mailsuite-Sender",
                "Final-",
                "Original-",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .collect();
    assert_eq!(
        mime,
        [
            "MIME-Version: 1.0",
            "Content-Type: multipart/report; report-type=delivery-status;",
            "Content-Transfer-Encoding: 8bit",
            "Content-Description: Notification",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            "Content-Description: Delivery report",
            "Content-Type: message/global-delivery-status",
            "Content-Transfer-Encoding: 8bit",
            "X-Mailsuite-Sender: rfc822; reporter@mail.example.test",
            "Final-Recipient: utf-8; jürgen@mail.example.test",
            "Original-Recipient: rfc822;jürgen@mail.example.test",
            "Content-Description: Undelivered Message",
            "Content-Type: message/global",
            "Content-Transfer-Encoding: 8bit",
        ],
        "{text}"
    );
}

/// NOTIFY=SUCCESS for an alias: the sender hears "alias expanded"
/// (Action: expanded), and what the alias forwards is not asked for
/// notices again (NOTIFY=NEVER), as Postfix's local does (compared side
/// by side with Postfix 3.7).
#[test]
fn a_success_notice_for_an_alias_says_it_expanded() {
    let (out, inst) = alias_instance(
        "local-expanded",
        "reporter: {o}/report\nteam: {o}/kept, someone@remote.example\n",
    );
    let port = inst.port("127.0.0.1:0");
    let script = format!(
        "import smtplib\ns = smtplib.SMTP('127.0.0.1', {port}, timeout=20)\ns.ehlo('client.example')\ns.sendmail('reporter@mail.example.test', ['team@mail.example.test'], b'Subject: s\\r\\n\\r\\nx\\r\\n', rcpt_options=['NOTIFY=SUCCESS'])\ns.quit()\n"
    );
    kit::python_lines(&[], &script, &[]);
    let text = read_report(&inst, &out);
    assert!(
        text.contains("\n<team@mail.example.test>: delivery via local: alias expanded\n"),
        "{text}"
    );
    assert!(
        text.contains("Action: expanded\nStatus: 2.0.0\nDiagnostic-Code: X-Postfix; delivery via local: alias expanded\n"),
        "{text}"
    );
    assert_eq!(text.matches("Final-Recipient:").count(), 1, "{text}");
    assert!(written(&inst, &out.join("kept")).contains("\nx\n"));
    // The forwarded copy waits for a transport this instance lacks; its
    // recipient asks for no notice of success.
    let out = inst
        .command("postqueue")
        .args(["-j"])
        .output()
        .expect("postqueue");
    let json = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(json.contains("someone@remote.example"), "{json}");
    let id = json
        .split("\"queue_id\": \"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("queue id")
        .to_string();
    let cat = inst
        .command("postcat")
        .args(["-e", "-q", &id])
        .output()
        .expect("postcat");
    let cat = String::from_utf8_lossy(&cat.stdout);
    assert!(cat.contains("dsn_notify_flags: 1"), "{cat}");
    // The copy keeps the recipient's ORCPT (smtpd recorded the address as
    // written), and its Received names no user, as Postfix's forward.c
    // writes them (compared side by side with Postfix 3.7).
    assert!(
        cat.contains("dsn_original_recipient: rfc822;team@mail.example.test\n"),
        "{cat}"
    );
    let copy = inst
        .command("postcat")
        .args(["-h", "-q", &id])
        .output()
        .expect("postcat");
    let copy = String::from_utf8_lossy(&copy.stdout);
    assert!(
        copy.starts_with(&format!(
            "Received: by mail.example.test (mailsuite)\n\tid {id}; "
        )),
        "{copy}"
    );
}
