//! pipe: mail for a transport_maps destination goes to a master.cf
//! `pipe` service, which runs its `argv=` command with the message on its
//! input: a script that records what it got, and Debian's Dovecot LDA
//! writing a system user's Maildir (the classic `dovecot unix … pipe`
//! recipe). Exit statuses become sent, deferred and bounced as in Postfix.

use kit::{is_root, wait_until, Instance, SystemUser};
use std::path::Path;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// The user `user=` names: a system user as root (pipe refuses root), else
/// whoever runs the test.
fn command_user() -> (String, Option<SystemUser>) {
    if is_root() {
        let u = SystemUser::new("pipe");
        (u.name.clone(), Some(u))
    } else {
        (util_user(), None)
    }
}

fn util_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "nobody".into())
}

fn instance(name: &str, main_cf: &str, services: &str) -> Instance {
    let inst = Instance::new(name);
    inst.main_cf(&format!(
        "mydestination = $myhostname, localhost\nalias_maps =\nlocal_recipient_maps =\n\
         mynetworks = 127.0.0.0/8\n{main_cf}"
    ));
    inst.master_cf(&format!(
        "127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\n\
         qmgr unix n - n 300 1 qmgr\nbounce unix - - n - 0 bounce\n{services}"
    ));
    inst
}

fn send(port: u16, from: &str, rcpts: &[&str]) {
    kit::smtp_send(
        port,
        from,
        rcpts,
        "Subject: piped\r\n\r\n.a line with a dot\r\nFrom the start\r\nlast\r\n",
    );
}

#[test]
fn a_script_gets_the_message_and_its_exit_status_counts() {
    let (user, _keep) = command_user();
    let work = kit::Scratch::new("pipe-script");
    std::fs::set_permissions(&*work, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod");
    let script = work.join("record.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n# Records its arguments and input; the recipient's user part\n\
         # says how it ends.\nout=\"$(dirname \"$0\")/$1\"\nshift\nprintf '%s\\n' \"$@\" > \"$out.args\"\n\
         cat > \"$out.msg\"\ncase \"$3\" in\n  later) echo 'mailbox busy'; exit 75 ;;\n  \
         nobody) echo \"no such user: $3\" >&2; exit 67 ;;\n  crash) exit 3 ;;\n  \
         slow) sleep 30 ;;\nesac\nexit 0\n",
    )
    .expect("script");
    let inst = instance(
        "pipe-script",
        "transport_maps = inline:{ pipe.example=filter: }\nfilter_destination_recipient_limit = 1\n\
         filter_time_limit = 2s\nrecipient_delimiter = +\n",
        &format!(
            "filter unix - n n - - pipe flags=DORhu user={user} argv=/bin/sh {} \
             ${{queue_id}} ${{sender}} ${{recipient}} ${{user}} ${{extension}} ${{nexthop}} ${{original_recipient}}\n",
            script.display()
        ),
    );
    inst.start();
    let port = inst.port("127.0.0.1:0");
    send(port, "sender@example.org", &["Joe+Box@Pipe.Example"]);
    assert!(
        inst.wait_log("status=sent (delivered via filter service)", 1, 20 * SECOND),
        "{}",
        inst.maillog()
    );
    let line = &inst.log_lines("status=sent (delivered via filter service)")[0];
    assert!(
        line.contains("to=<Joe+Box@Pipe.Example>, relay=filter, "),
        "{line}"
    );
    let id = line
        .split(": to=<")
        .next()
        .and_then(|l| l.rsplit(' ').next())
        .expect("queue id");
    let args = std::fs::read_to_string(work.join(format!("{id}.args"))).expect("args");
    assert_eq!(
        args,
        "sender@example.org\njoe+box@pipe.example\njoe\nbox\npipe.example\nJoe+Box@Pipe.Example\n"
    );
    let msg = std::fs::read_to_string(work.join(format!("{id}.msg"))).expect("msg");
    assert!(
        msg.starts_with(
            "Return-Path: <sender@example.org>\nDelivered-To: joe+box@pipe.example\n\
             X-Original-To: Joe+Box@Pipe.Example\n"
        ),
        "{msg}"
    );
    // No dot-stuffing or From quoting without their flags.
    assert!(
        msg.ends_with("\n\n.a line with a dot\nFrom the start\nlast\n"),
        "{msg}"
    );

    // 75: deferred; 67: bounced with the command's words; any other code
    // bounced; past filter_time_limit: bounced, as in Postfix.
    send(port, "sender@example.org", &["later@pipe.example"]);
    send(port, "sender@example.org", &["nobody@pipe.example"]);
    send(port, "sender@example.org", &["crash@pipe.example"]);
    send(port, "sender@example.org", &["slow@pipe.example"]);
    let status = |who: &str, text: &str| {
        wait_until(30 * SECOND, || {
            inst.log_lines(&format!("to=<{who}@pipe.example>"))
                .iter()
                .any(|l| l.contains(text))
        })
    };
    assert!(
        status(
            "later",
            "status=deferred (temporary failure. Command output: mailbox busy)"
        ),
        "{}",
        inst.maillog()
    );
    assert!(
        status(
            "nobody",
            "dsn=5.1.1, status=bounced (user unknown. Command output: no such user: nobody)"
        ),
        "{}",
        inst.maillog()
    );
    assert!(
        status(
            "crash",
            "status=bounced (Command died with status 3: \"/bin/sh\")"
        ),
        "{}",
        inst.maillog()
    );
    assert!(
        status(
            "slow",
            "status=bounced (Command time limit exceeded: \"/bin/sh\")"
        ),
        "{}",
        inst.maillog()
    );
    // A recipient a command could take for an option never reaches it
    // (allow_min_user = no).
    send(port, "sender@example.org", &["-oQ@pipe.example"]);
    assert!(
        status("-oQ", "dsn=5.1.3, status=bounced (bad address syntax)"),
        "{}",
        inst.maillog()
    );
    assert!(
        !std::fs::read_dir(&*work)
            .expect("work")
            .flatten()
            .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("-oQ@"))),
        "the command saw it"
    );
    inst.stop();
}

#[test]
fn bad_attributes_stop_the_service_with_a_clear_line() {
    let inst = instance(
        "pipe-bad",
        "transport_maps = inline:{ pipe.example=filter:, unpriv.example=unpriv: }\n",
        "filter unix - n n - - pipe flags=Dz user=nobody argv=/bin/cat\n\
         unpriv unix - - n - - pipe user=nobody argv=/bin/cat\n",
    );
    inst.start();
    send(
        inst.port("127.0.0.1:0"),
        "sender@example.org",
        &["a@pipe.example", "b@unpriv.example"],
    );
    assert!(
        inst.wait_log("fatal: unknown flag: z (in flags=Dz)", 1, 20 * SECOND),
        "{}",
        inst.maillog()
    );
    // As root an unprivileged pipe could only run commands as mail_owner.
    if is_root() {
        assert!(
            inst.wait_log(
                "fatal: service unpriv: pipe runs commands as other users and needs root",
                1,
                20 * SECOND
            ),
            "{}",
            inst.maillog()
        );
    }
    inst.stop();
}

/// The Postfix + Dovecot recipe with the LDA: `dovecot unix … pipe
/// flags=DRhu user=… argv=/usr/lib/dovecot/dovecot-lda -f ${sender}`. The
/// LDA logs to its standard error, which ends up in the delivery line.
#[test]
fn dovecot_lda_writes_the_maildir() {
    let lda = Path::new("/usr/lib/dovecot/dovecot-lda");
    if !is_root() || !lda.exists() {
        eprintln!("skipped: needs root and Debian's dovecot-core");
        return;
    }
    let alice = SystemUser::new("lda");
    let dv = kit::Scratch::new("pipe-lda");
    std::fs::set_permissions(&*dv, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let conf = dv.join("dovecot.conf");
    std::fs::write(
        &conf,
        format!(
            "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = /dev/stderr\nssl = no\n\
             mail_location = maildir:~/Maildir\npostmaster_address = postmaster@localhost\n\
             userdb {{\n  driver = passwd\n}}\npassdb {{\n  driver = passwd\n}}\n",
            d = dv.display()
        ),
    )
    .expect("dovecot.conf");
    std::fs::set_permissions(&conf, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
    let inst = instance(
        "pipe-lda",
        "transport_maps = inline:{ lda.example=dovecot: }\ndovecot_destination_recipient_limit = 1\n",
        &format!(
            "dovecot unix - n n - - pipe flags=DRhu user={} argv={} -c {} -f ${{sender}}\n",
            alice.name,
            lda.display(),
            conf.display()
        ),
    );
    inst.start();
    send(
        inst.port("127.0.0.1:0"),
        "sender@example.org",
        &[&format!("{}@lda.example", alice.name)],
    );
    let new = alice.home.join("Maildir/new");
    assert!(
        wait_until(20 * SECOND, || kit::dir_files(&new).len() == 1),
        "{}",
        inst.maillog()
    );
    let text = std::fs::read_to_string(&kit::dir_files(&new)[0]).expect("read");
    assert!(text.contains("Subject: piped"), "{text}");
    assert!(
        text.contains(&format!("Delivered-To: {}@lda.example", alice.name)),
        "{text}"
    );
    assert!(
        inst.wait_log("relay=dovecot, ", 1, 5 * SECOND)
            && inst.log_lines("relay=dovecot, ")[0]
                .contains("status=sent (delivered via dovecot service (")
            && inst.log_lines("relay=dovecot, ")[0].contains("saved mail to INBOX"),
        "{}",
        inst.maillog()
    );
    // Written as alice, not as root.
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata(&alice.home).expect("home").uid();
    assert_eq!(
        std::fs::metadata(&kit::dir_files(&new)[0])
            .expect("stat")
            .uid(),
        uid
    );
    inst.stop();
}

/// A content filter that is a pipe command still never sees a recipient
/// it could take for an option (Postfix checks before the filter route).
#[test]
fn a_dash_recipient_bounces_even_behind_a_content_filter() {
    let (user, _keep) = command_user();
    let work = kit::Scratch::new("pipe-filter");
    std::fs::set_permissions(&*work, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod");
    let seen = work.join("seen");
    let script = work.join("filter.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1\" >> {}\n", seen.display()),
    )
    .expect("script");
    let inst = instance(
        "pipe-filter",
        "content_filter = filter:\n",
        &format!(
            "filter unix - n n - - pipe user={user} argv=/bin/sh {} ${{recipient}}\n",
            script.display()
        ),
    );
    inst.start();
    let port = inst.port("127.0.0.1:0");
    send(
        port,
        "sender@example.org",
        &["-oQ@example.org", "fine@example.org"],
    );
    assert!(
        inst.wait_log("to=<-oQ@example.org>", 1, 20 * SECOND)
            && inst.log_lines("to=<-oQ@example.org>")[0]
                .contains("dsn=5.1.3, status=bounced (bad address syntax)"),
        "{}",
        inst.maillog()
    );
    assert!(
        inst.wait_log("to=<fine@example.org>, relay=filter", 1, 20 * SECOND),
        "{}",
        inst.maillog()
    );
    let got = std::fs::read_to_string(&seen).unwrap_or_default();
    assert_eq!(got, "fine@example.org\n", "{}", inst.maillog());
    inst.stop();
}

/// pipe_delivery_status_filter: a command's failure turned into a
/// deferral with the table's words.
#[test]
fn a_delivery_status_filter_holds_a_failed_command() {
    let (user, _keep) = command_user();
    let scratch = kit::Scratch::new("pipe-dsn-filter");
    let table = scratch.join("dsn_filter");
    std::fs::write(
        &table,
        "/^5\\.[0-9]+\\.[0-9]+ (.*)$/ 4.3.0 held by the filter: $1\n",
    )
    .expect("filter");
    let inst = instance(
        "pipe-dsn-filter",
        &format!(
            "transport_maps = inline:{{ pipe.example=failing: }}\npipe_delivery_status_filter = regexp:{}\n",
            table.display()
        ),
        &format!("failing unix - n n - - pipe user={user} argv=/bin/false\n"),
    );
    inst.start();
    send(
        inst.port("127.0.0.1:0"),
        "sender@example.org",
        &["x@pipe.example"],
    );
    assert!(
        inst.wait_log(
            "dsn=4.3.0, status=deferred (held by the filter: ",
            1,
            20 * SECOND
        ),
        "{}",
        inst.maillog()
    );
}
