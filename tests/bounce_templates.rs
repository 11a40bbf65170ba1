//! bounce_template_file end to end: a Postfix bounce(5) template file with
//! a failure template of its own (Subject, `Charset: utf-8`, a text in
//! German with `$myhostname` in it) changes the notice that comes back to
//! the sender, in the sender's virtual mailbox; the templates it leaves
//! out stay Postfix's, and an unknown template name is logged as a
//! warning, as in Postfix. A text that names an undefined `$name` stops
//! the bounce daemon, as it stops Postfix's: the failure waits in the
//! bounce log instead of going out with a broken text.

use kit::{dir_files as files, smtp_send, vmail_base, wait_until, Instance};
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

const TEMPLATES: &str = "\
# A localized failure notice.
failure_template = <<END_OF_TEXT
Charset: utf-8
From: Mail-System <MAILER-DAEMON>
Subject: Unzustellbare Nachricht

Hier ist das Mailsystem von $myhostname.

Ihre Nachricht konnte leider nicht zugestellt werden. Grüße, ${mail_name}.
Sie wird $maximal_queue_lifetime_days Tage lang versucht.
END_OF_TEXT

bogus_template = <<EOF
Subject: never used

x
EOF
";

#[test]
fn a_template_file_changes_the_failure_notice() {
    let inst = Instance::new("bounce-templates");
    let d = inst.dir.clone();
    let (base, uid, gid) = vmail_base(&inst, 5200);
    std::fs::write(
        d.join("vmailbox"),
        "alice@example.test example.test/alice/\n",
    )
    .expect("vmailbox");
    std::fs::write(d.join("bounce.cf"), TEMPLATES).expect("bounce.cf");
    inst.main_cf(&format!(
        "virtual_mailbox_domains = example.test\nvirtual_mailbox_base = {b}\nvirtual_mailbox_maps = texthash:{d}/vmailbox\nvirtual_uid_maps = static:{uid}\nvirtual_gid_maps = static:{gid}\nvirtual_minimum_uid = 100\nalias_maps =\nalias_database =\ntransport_maps = inline:{{ {{ bad.example = error:5.1.1 no such user here }} }}\nmaximal_queue_lifetime = 3d\nbounce_template_file = {d}/bounce.cf\n",
        b = base.display(),
        d = d.display()
    ));
    inst.master_cf("127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nvirtual unix - n n - - virtual\nbounce unix - - n - 0 bounce\n");
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        "alice@example.test",
        &["user@bad.example"],
        "From: alice@example.test\r\nSubject: lost in the post\r\n\r\nwhere did it go\r\n",
    );
    let new = base.join("example.test/alice/new");
    assert!(
        wait_until(20 * SECOND, || files(&new).len() == 1),
        "{}",
        inst.maillog()
    );
    let notice = std::fs::read_to_string(&files(&new)[0]).expect("the notice");
    assert!(notice.starts_with("Return-Path: <>\n"), "{notice}");
    assert!(
        notice.contains("\nSubject: Unzustellbare Nachricht\n"),
        "{notice}"
    );
    // cleanup completes the template's From as any local header address.
    assert!(
        notice.contains("\nFrom: Mail-System <MAILER-DAEMON@mail.example.test>\n"),
        "{notice}"
    );
    assert!(
        notice.contains("Content-Type: multipart/report; report-type=delivery-status;"),
        "{notice}"
    );
    assert!(
        notice.contains("Content-Transfer-Encoding: 8bit\n"),
        "{notice}"
    );
    assert!(
        notice.contains(
            "Content-Description: Notification\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n\
             Hier ist das Mailsystem von mail.example.test.\n\n\
             Ihre Nachricht konnte leider nicht zugestellt werden. Grüße, mailsuite.\n\
             Sie wird 3 Tage lang versucht.\n\n\
             <user@bad.example>: no such user here\n"
        ),
        "{notice}"
    );
    assert!(!notice.contains("This is the mail system"), "{notice}");
    // The rest of the notice is as before.
    assert!(
        notice.contains("Final-Recipient: rfc822; user@bad.example\n"),
        "{notice}"
    );
    assert!(
        notice.contains("Action: failed\nStatus: 5.1.1\n"),
        "{notice}"
    );
    assert!(
        notice.contains("\nSubject: lost in the post\n") && notice.contains("where did it go"),
        "{notice}"
    );
    assert!(
        inst.maillog().contains(&format!(
            "warning: {}/bounce.cf, line 13: unknown template name: bogus_template -- ignoring this template",
            d.display()
        )),
        "{}",
        inst.maillog()
    );
    inst.stop();
}

#[test]
fn an_undefined_name_in_a_template_is_fatal_to_the_daemon() {
    let inst = Instance::new("bounce-templates-bad");
    let d = inst.dir.clone();
    std::fs::write(
        d.join("bounce.cf"),
        "failure_template = <<EOF\nSubject: x\n\nhi $no_such_parameter\nEOF\n",
    )
    .expect("bounce.cf");
    inst.main_cf(&format!(
        "mydestination =\nalias_maps =\nalias_database =\ntransport_maps = inline:{{ {{ bad.example = error:5.1.1 no such user here }} }}\nbounce_template_file = {}/bounce.cf\n",
        d.display()
    ));
    inst.master_cf("127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nbounce unix - - n - 0 bounce\n");
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        "alice@example.org",
        &["user@bad.example"],
        "Subject: lost\r\n\r\nx\r\n",
    );
    let fatal = format!(
        "fatal: {}/bounce.cf: undefined $name in failure template: hi $no_such_parameter",
        d.display()
    );
    assert!(inst.wait_log(&fatal, 1, 20 * SECOND), "{}", inst.maillog());
    assert!(!inst.maillog().contains("sender non-delivery notification"));
    assert_eq!(
        files(&d.join("queue/bounce")).len(),
        1,
        "{}",
        inst.maillog()
    );
    inst.stop();
}
