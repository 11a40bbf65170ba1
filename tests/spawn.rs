//! spawn: a master.cf `spawn` service runs its command for each
//! connection, the connection as the command's input and output — how
//! Postfix users start policy servers. A Python policy server refuses a
//! recipient, and Debian's policyd-spf (postfix-policyd-spf-python) adds
//! its Received-SPF: header, both through check_policy_service.

use kit::{is_root, Instance, LineClient, SystemUser};
use std::path::Path;
use std::process::Command;

/// A policy server on standard input and output: REJECT for recipients
/// named "blocked", DUNNO for the others, one answer per request.
const POLICY: &str = r#"import sys
attrs = {}
for line in sys.stdin:
    line = line.rstrip("\n")
    if line:
        name, _, value = line.partition("=")
        attrs[name] = value
        continue
    rcpt = attrs.get("recipient", "")
    if rcpt.startswith("blocked@"):
        print("action=REJECT no thanks, " + attrs.get("client_address", "?"))
    else:
        print("action=DUNNO")
    print()
    sys.stdout.flush()
    attrs = {}
"#;

/// The user `user=` names: a system user as root (spawn refuses root),
/// else whoever runs the test.
fn command_user() -> (String, Option<SystemUser>) {
    if is_root() {
        let u = SystemUser::new("spawn");
        (u.name.clone(), Some(u))
    } else {
        (
            std::env::var("USER").unwrap_or_else(|_| "nobody".into()),
            None,
        )
    }
}

/// One message to `rcpt` over SMTP: the reply to RCPT TO, and the queue
/// ID when it was queued.
fn try_rcpt(port: u16, rcpt: &str) -> (String, Option<String>) {
    let mut c = LineClient::connect(port);
    let _banner = c.read_line();
    let mut ask = |l: &str| c.ask_crlf(l).unwrap_or_default();
    ask("HELO client.example.org");
    ask("MAIL FROM:<someone@example.org>");
    let reply = ask(&format!("RCPT TO:<{rcpt}>"));
    if !reply.starts_with("250") {
        ask("QUIT");
        return (reply, None);
    }
    ask("DATA");
    let queued = ask("Subject: spawned\r\n\r\nbody\r\n.");
    ask("QUIT");
    let id = queued
        .strip_prefix("250 2.0.0 Ok: queued as ")
        .map(str::to_string);
    (reply, id)
}

fn postcat(inst: &Instance, id: &str) -> String {
    let out = Command::new(inst.bin.join("postcat"))
        .env("MAIL_CONFIG", &inst.dir)
        .args(["-q", id])
        .output()
        .expect("postcat");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn policy_servers_run_by_spawn() {
    let python = "/usr/bin/python3";
    if !Path::new(python).exists() {
        eprintln!("skipped: /usr/bin/python3 missing");
        return;
    }
    let (user, _keep) = command_user();
    let work = kit::Scratch::new("spawn");
    std::fs::set_permissions(&*work, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let script = work.join("policy.py");
    std::fs::write(&script, POLICY).expect("script");
    let spf = Path::new("/usr/bin/policyd-spf").exists() && is_root();
    let spf_conf = work.join("policyd-spf.conf");
    // Loopback is not skipped (the default skip_addresses has it), and
    // nothing is refused: without DNS the result is None.
    std::fs::write(
        &spf_conf,
        "debugLevel = 1\nTestOnly = 1\nHELO_reject = Fail\nMail_From_reject = Fail\n\
         skip_addresses = 192.0.2.0/24\n",
    )
    .expect("spf conf");
    let inst = Instance::new("spawn");
    inst.main_cf(&format!(
        "alias_maps =\nlocal_recipient_maps =\nmynetworks = 127.0.0.0/8\n\
         smtpd_recipient_restrictions = check_policy_service unix:private/policy, {}\
         permit_mynetworks, reject_unauth_destination\n",
        if spf {
            "check_policy_service unix:private/policyd-spf, "
        } else {
            ""
        }
    ));
    let spf_service = if spf {
        format!(
            "policyd-spf unix - n n - 0 spawn\n  user=policyd-spf argv=/usr/bin/policyd-spf {}\n",
            spf_conf.display()
        )
    } else {
        String::new()
    };
    inst.master_cf(&format!(
        "127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\n\
         policy unix - n n - 0 spawn\n  user={user} argv={python} {}\n{spf_service}",
        script.display()
    ));
    inst.start();
    let port = inst.port("127.0.0.1:0");

    let (reply, _) = try_rcpt(port, "blocked@remote.example");
    assert_eq!(
        reply,
        "554 5.7.1 <blocked@remote.example>: Recipient address rejected: no thanks, 127.0.0.1",
        "{}",
        inst.maillog()
    );
    let (reply, id) = try_rcpt(port, "welcome@remote.example");
    assert_eq!(reply, "250 2.1.5 Ok", "{}", inst.maillog());
    let id = id.expect("queued");
    if spf {
        let text = postcat(&inst, &id);
        assert!(
            text.contains("Received-SPF: None (mailfrom) identity=mailfrom; client-ip=127.0.0.1; helo=client.example.org; envelope-from=someone@example.org"),
            "{text}\n{}",
            inst.maillog()
        );
    } else {
        eprintln!("policyd-spf part skipped: needs root and postfix-policyd-spf-python");
    }
    inst.stop();
}
