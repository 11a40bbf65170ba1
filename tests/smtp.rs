//! Remote delivery end to end: Python's smtplib → smtpd → cleanup → qmgr →
//! smtp → a real remote server, Postfix's `smtp-sink` on loopback (in its
//! normal, hard-reject and soft-reject modes). Relaying through
//! `relayhost = [127.0.0.1]:PORT`; a closed port deferred and later
//! flushed; a 5xx at RCPT bounced back to the sender; and MX lookups
//! against a real DNS server (dnsmasq) on loopback with
//! `dns_resolver_address`.

use kit::{
    dnsmasq, free_port, have, is_root, self_signed, sink_dumps, smtp_sink as sink, wait_until,
    Instance,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

fn instance(name: &str, extra: &str) -> Instance {
    let inst = Instance::new(name);
    inst.main_cf(&format!(
        "mydestination = $myhostname, localhost\nmynetworks = 127.0.0.0/8\nsmtp_connect_timeout = 5s\n{extra}"
    ));
    inst.master_cf(
        "127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nsmtp unix - - n - - smtp\nbounce unix - - n - 0 bounce\nshowq unix n - n - - showq\n",
    );
    inst
}

/// True (and said) when Postfix's smtp-sink is not there: the test skips.
fn no_smtp_sink() -> bool {
    if have("smtp-sink") {
        return false;
    }
    eprintln!("skipped: smtp-sink (postfix package) not installed");
    true
}

fn smtp_send(port: u16, from: &str, rcpts: &[&str], body: &str) {
    kit::smtp_send(port, from, rcpts, body);
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in files(dir) {
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn queue_is_empty(inst: &Instance) -> bool {
    ["incoming", "active", "deferred"]
        .iter()
        .all(|q| files_under(&inst.dir.join("queue").join(q)).is_empty())
}

fn postqueue(inst: &Instance, arg: &str) -> String {
    let out = postqueue_args(inst, &[arg]);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `postqueue ARGS` for `inst`.
fn postqueue_args(inst: &Instance, args: &[&str]) -> std::process::Output {
    Command::new(inst.bin.join("postqueue"))
        .env("MAIL_CONFIG", &inst.dir)
        .args(args)
        .output()
        .expect("postqueue")
}

/// An instance relaying to a closed port, with one message deferred for
/// a@one.example and one for b@two.example; and its smtpd port.
fn two_sites_deferred(name: &str, extra: &str) -> (Instance, u16) {
    let port = free_port();
    let inst = instance(name, &format!("relayhost = [127.0.0.1]:{port}\n{extra}"));
    inst.start();
    let smtpd = inst.port("127.0.0.1:0");
    smtp_send(smtpd, "sender@example.org", &["a@one.example"], BODY);
    smtp_send(smtpd, "sender@example.org", &["b@two.example"], BODY);
    assert!(
        inst.wait_log("status=deferred (connect to ", 2, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    (inst, smtpd)
}

/// one.example's mail is tried again, and two.example's waits.
fn only_one_example_retried(inst: &Instance) {
    assert!(
        wait_until(15 * SECOND, || inst.log_lines("to=<a@one.example>").len()
            == 2),
        "one.example tried again: {}",
        inst.maillog()
    );
    std::thread::sleep(SECOND);
    assert_eq!(
        inst.log_lines("to=<b@two.example>").len(),
        1,
        "two.example waits: {}",
        inst.maillog()
    );
}

const BODY: &str = "Subject: over the wire\r\nFrom: sender@example.org\r\n\r\nfirst line\r\n.a line that starts with a dot\r\n..two dots\r\nlast line\r\n";

#[test]
fn relayhost_to_smtp_sink() {
    if no_smtp_sink() {
        return;
    }
    let port = free_port();
    let inst = instance("smtp-relay", &format!("relayhost = [127.0.0.1]:{port}\n"));
    let dump = inst.dir.join("sink");
    let _sink = sink(port, &dump, &[]);
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        "sender@example.org",
        &["one@remote.example", "two@remote.example"],
        BODY,
    );
    assert!(
        inst.wait_log("status=sent (250 2.0.0 Ok)", 2, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    let lines = inst.log_lines("status=sent");
    for (line, who) in lines.iter().zip(["one", "two"]) {
        assert!(
            line.contains(&format!(
                "to=<{who}@remote.example>, relay=127.0.0.1[127.0.0.1]:{port}, delay="
            )),
            "{line}"
        );
        assert!(line.contains(", delays="), "{line}");
        assert!(
            line.contains(", dsn=2.0.0, status=sent (250 2.0.0 Ok)"),
            "{line}"
        );
    }
    assert!(
        wait_until(5 * SECOND, || queue_is_empty(&inst)),
        "queue not empty"
    );
    assert!(wait_until(5 * SECOND, || sink_dumps(&dump).len() == 1));
    let text = std::fs::read_to_string(&sink_dumps(&dump)[0]).expect("dump");
    assert!(text.contains("X-Mail-Args: <sender@example.org>"), "{text}");
    assert!(
        text.contains("X-Rcpt-Args: <one@remote.example>") && text.contains("<two@remote.example>"),
        "both recipients in one transaction: {text}"
    );
    assert!(text.contains("X-Helo-Args: mail.example.test"), "{text}");
    assert!(
        text.contains("\nfirst line\n.a line that starts with a dot\n..two dots\nlast line\n"),
        "dots survive the round trip: {text}"
    );
}

/// What the SMTP client changes on the way out: smtp_generic_maps (a hash
/// table built with postmap, as generic(5) shows it) on the envelope and
/// the address headers, smtp_header_checks and smtp_body_checks (regexp).
/// The queue file and the log keep the local addresses.
#[test]
fn generic_maps_and_output_checks_rewrite_mail_on_its_way_out() {
    if no_smtp_sink() {
        return;
    }
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("smtp-generic-tables-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let generic = dir.join("generic");
    std::fs::write(
        &generic,
        "his@localdomain.local hisaccount@hisisp.example\n@localdomain.local hisaccount+local@hisisp.example\n",
    )
    .expect("generic");
    let inst = instance(
        "smtp-generic",
        &format!(
            "relayhost = [127.0.0.1]:{port}\nsmtp_generic_maps = hash:{g}\n\
             smtp_header_checks = regexp:{d}/header_checks\nsmtp_body_checks = regexp:{d}/body_checks\n",
            g = generic.display(),
            d = dir.display()
        ),
    );
    let postmap = Command::new(inst.bin.join("postmap"))
        .env("MAIL_CONFIG", &inst.dir)
        .arg(format!("hash:{}", generic.display()))
        .output()
        .expect("postmap");
    assert!(postmap.status.success(), "{postmap:?}");
    std::fs::write(
        dir.join("header_checks"),
        "/^X-Internal-Host:/ IGNORE\n/^Subject: (.*)draft/ REPLACE Subject: ${1}final\n/^X-Stop:/ REJECT no\n",
    )
    .expect("header_checks");
    std::fs::write(
        dir.join("body_checks"),
        "/^secret: / REPLACE secret: [removed]\n",
    )
    .expect("body_checks");
    let dump = inst.dir.join("sink");
    let _sink = sink(port, &dump, &[]);
    inst.start();
    let body = "From: Him <his@localdomain.local>\r\nTo: friend@remote.example,\r\n\tother@localdomain.local\r\n\
                X-Internal-Host: build7.localdomain.local\r\nX-Stop: 1\r\nSubject: the draft\r\n\r\n\
                hello\r\nsecret: hunter2\r\nFrom: his@localdomain.local, in the body\r\n";
    smtp_send(
        inst.port("127.0.0.1:0"),
        "his@localdomain.local",
        &["friend@remote.example"],
        body,
    );
    assert!(
        inst.wait_log("status=sent (250 2.0.0 Ok)", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    let log = inst.maillog();
    assert!(log.contains("from=<his@localdomain.local>"), "{log}");
    assert!(
        log.contains("X-Stop: 1") && log.contains("not available in the SMTP client"),
        "{log}"
    );
    assert!(wait_until(5 * SECOND, || sink_dumps(&dump).len() == 1));
    let text = std::fs::read_to_string(&sink_dumps(&dump)[0]).expect("dump");
    assert!(
        text.contains("X-Mail-Args: <hisaccount@hisisp.example>"),
        "{text}"
    );
    assert!(
        text.contains("X-Rcpt-Args: <friend@remote.example>"),
        "{text}"
    );
    assert!(
        text.contains("\nFrom: Him <hisaccount@hisisp.example>\n"),
        "{text}"
    );
    assert!(
        text.contains("\nTo: friend@remote.example,\n\thisaccount+local@hisisp.example\n"),
        "a folded header keeps its folding: {text}"
    );
    assert!(!text.contains("X-Internal-Host"), "{text}");
    assert!(text.contains("\nX-Stop: 1\n"), "{text}");
    assert!(text.contains("\nSubject: the final\n"), "{text}");
    assert!(text.contains("\nhello\nsecret: [removed]\n"), "{text}");
    assert!(
        text.contains("\nFrom: his@localdomain.local, in the body\n"),
        "the body is no header: {text}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_relayhost_list_is_tried_in_turn() {
    if no_smtp_sink() {
        return;
    }
    let (dead, port) = (free_port(), free_port());
    let inst = instance(
        "smtp-relay-list",
        &format!("relayhost = [127.0.0.1]:{dead}, [127.0.0.1]:{port}\n"),
    );
    let dump = inst.dir.join("sink");
    let _sink = sink(port, &dump, &[]);
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        "sender@example.org",
        &["far@remote.example"],
        BODY,
    );
    assert!(
        inst.wait_log(
            &format!("to=<far@remote.example>, relay=127.0.0.1[127.0.0.1]:{port}, "),
            1,
            15 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    assert!(
        inst.maillog().contains(&format!(
            "connect to 127.0.0.1[127.0.0.1]:{dead}: Connection refused"
        )),
        "the first one first: {}",
        inst.maillog()
    );
    assert!(wait_until(5 * SECOND, || sink_dumps(&dump).len() == 1));
}

/// A deferred message is tried again when its time comes, every
/// queue_run_delay, with nothing else waking the queue manager (its
/// master.cf wake-up is 300 s away).
#[test]
fn deferred_mail_is_retried_after_queue_run_delay() {
    if no_smtp_sink() {
        return;
    }
    let port = free_port();
    let inst = instance(
        "smtp-retry",
        &format!(
            "relayhost = [127.0.0.1]:{port}\nqueue_run_delay = 2s\nminimal_backoff_time = 2s\nmaximal_backoff_time = 4s\n"
        ),
    );
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        "sender@example.org",
        &["later@remote.example"],
        BODY,
    );
    assert!(
        inst.wait_log("status=deferred (connect to ", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    let dump = inst.dir.join("sink");
    let _sink = sink(port, &dump, &[]);
    assert!(
        inst.wait_log("status=sent (250 2.0.0 Ok)", 1, 20 * SECOND),
        "not retried: {}",
        inst.maillog()
    );
    assert!(wait_until(5 * SECOND, || sink_dumps(&dump).len() == 1));
}

/// Sends one message with NOTIFY=SUCCESS for its recipient.
fn send_notify_success(port: u16, from: &str, to: &str) {
    kit::python_lines(
        &[],
        &format!(
        "import smtplib\ns = smtplib.SMTP('127.0.0.1', {port})\ns.sendmail('{from}', ['{to}'], 'Subject: tell me\\r\\n\\r\\nhello\\r\\n', rcpt_options=['NOTIFY=SUCCESS'])\ns.quit()\n"
        ),
        &[],
    );
}

/// NOTIFY=SUCCESS through a relay, as Postfix does it: a server that
/// offers DSN takes the request on (no notice from here); one that does
/// not gets the message, and the sender a notice that says "relayed".
#[test]
fn notify_success_through_a_relay() {
    if no_smtp_sink() {
        return;
    }
    // Without DSN at the relay (smtp-sink -N): the notice, relayed too.
    let port = free_port();
    let inst = instance(
        "smtp-notify-relayed",
        &format!("relayhost = [127.0.0.1]:{port}\n"),
    );
    let dump = inst.dir.join("sink");
    let _sink = sink(port, &dump, &["-N"]);
    inst.start();
    send_notify_success(
        inst.port("127.0.0.1:0"),
        "sender@example.org",
        "far@remote.example",
    );
    // smtp-sink creates a dump file before it has written it: wait for the
    // notice's text too.
    let has_notice = || {
        sink_dumps(&dump).iter().any(|p| {
            std::fs::read_to_string(p).is_ok_and(|t| {
                t.contains("Successful Mail Delivery Report") && t.trim_end().ends_with("--")
            })
        })
    };
    assert!(
        wait_until(15 * SECOND, || sink_dumps(&dump).len() == 2 && has_notice()),
        "{}",
        inst.maillog()
    );
    let texts: Vec<String> = sink_dumps(&dump)
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("dump"))
        .collect();
    let notice = texts
        .iter()
        .find(|t| t.contains("Successful Mail Delivery Report"))
        .expect("a success notice");
    assert!(notice.contains("Action: relayed\n"), "{notice}");
    assert!(notice.contains("Remote-MTA: dns; 127.0.0.1\n"), "{notice}");
    assert!(
        notice.contains("Diagnostic-Code: smtp; 250 2.0.0 Ok"),
        "{notice}"
    );
    // bounce logs the notice once cleanup has it, which may be after
    // it reached the sink.
    assert!(
        inst.wait_log("sender delivery status notification", 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );

    // A relay that offers DSN gets NOTIFY=SUCCESS and sends the notice.
    let port = free_port();
    let inst = instance(
        "smtp-notify-passed",
        &format!("relayhost = [127.0.0.1]:{port}\n"),
    );
    let dump = inst.dir.join("sink");
    let _sink = sink(port, &dump, &[]);
    inst.start();
    send_notify_success(
        inst.port("127.0.0.1:0"),
        "sender@example.org",
        "far@remote.example",
    );
    assert!(
        inst.wait_log("status=sent (250 2.0.0 Ok)", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    assert!(wait_until(5 * SECOND, || sink_dumps(&dump).len() == 1));
    let text = std::fs::read_to_string(&sink_dumps(&dump)[0]).expect("dump");
    assert!(text.contains("NOTIFY=SUCCESS"), "{text}");
    std::thread::sleep(2 * SECOND);
    assert!(
        !inst.maillog().contains("delivery status notification"),
        "no notice from here: {}",
        inst.maillog()
    );
    // Every file, finished or not.
    assert_eq!(files(&dump).len(), 1);
}

/// RFC 6152: 8-bit mail to a server that does not offer 8BITMIME
/// (smtp-sink -8) goes quoted-printable, as Postfix sends it; so it does
/// when smtp_discard_ehlo_keywords (logged) or, by the server's address,
/// smtp_discard_ehlo_keyword_address_maps (silent-discard: not logged)
/// hide the 8BITMIME a server offers.
#[test]
fn eight_bit_mail_to_a_server_without_8bitmime_goes_quoted_printable() {
    if no_smtp_sink() {
        return;
    }
    for (name, sink_args, extra, logged) in [
        ("smtp-7bit", &["-8"][..], "", false),
        ("smtp-7bit-discard", &[][..], "smtp_discard_ehlo_keywords = 8bitmime\n", true),
        (
            "smtp-7bit-discard-map",
            &[][..],
            "smtp_discard_ehlo_keyword_address_maps = inline:{ {127.0.0.1 = silent-discard, 8bitmime} }\n",
            false,
        ),
    ] {
        let port = free_port();
        let inst = instance(name, &format!("relayhost = [127.0.0.1]:{port}\n{extra}"));
        let dump = inst.dir.join("sink");
        let _sink = sink(port, &dump, sink_args);
        inst.start();
        kit::python_lines(
            &[],
            &format!(
            "import smtplib\ns = smtplib.SMTP('127.0.0.1', {})\ns.sendmail('sender@example.org', ['far@remote.example'], 'Subject: 8bit\\r\\nMIME-Version: 1.0\\r\\nContent-Type: text/plain; charset=utf-8\\r\\nContent-Transfer-Encoding: 8bit\\r\\n\\r\\n你好, café\\r\\n'.encode(), mail_options=['BODY=8BITMIME'])\ns.quit()\n",
                inst.port("127.0.0.1:0")
            ),
            &[],
        );
        assert!(
            inst.wait_log("status=sent (250 2.0.0 Ok)", 1, 15 * SECOND),
            "{}",
            inst.maillog()
        );
        assert!(wait_until(5 * SECOND, || sink_dumps(&dump).len() == 1));
        let bytes = std::fs::read(&sink_dumps(&dump)[0]).expect("dump");
        assert!(
            bytes.iter().all(|&b| b < 0x80),
            "{name}: 8-bit bytes reached the server"
        );
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains("Content-Transfer-Encoding: quoted-printable\n")
                && text.contains("\n\n=E4=BD=A0=E5=A5=BD, caf=C3=A9\n"),
            "{name}: {text}"
        );
        assert!(!text.contains("BODY=8BITMIME"), "{text}");
        assert_eq!(
            inst.log_lines(&format!(
                "127.0.0.1[127.0.0.1]:{port}: discarding EHLO keywords: 8BITMIME"
            ))
            .len(),
            usize::from(logged),
            "{name}: {}",
            inst.maillog()
        );
        inst.stop();
    }
}

/// sender_dependent_relayhost_maps: mail from one sender goes through its
/// own relay, the rest through relayhost.
#[test]
fn sender_dependent_relayhost() {
    if no_smtp_sink() {
        return;
    }
    let (own, global) = (free_port(), free_port());
    let inst = instance(
        "smtp-sender-relay",
        &format!(
            "relayhost = [127.0.0.1]:{global}\nsender_dependent_relayhost_maps = inline:{{ special@example.org=[127.0.0.1]:{own} }}\n"
        ),
    );
    let (own_dump, global_dump) = (inst.dir.join("own"), inst.dir.join("global"));
    let _own = sink(own, &own_dump, &[]);
    let _global = sink(global, &global_dump, &[]);
    inst.start();
    let port = inst.port("127.0.0.1:0");
    smtp_send(port, "special@example.org", &["far@remote.example"], BODY);
    smtp_send(port, "other@example.org", &["far@remote.example"], BODY);
    assert!(
        wait_until(15 * SECOND, || sink_dumps(&own_dump).len() == 1
            && sink_dumps(&global_dump).len() == 1),
        "{}",
        inst.maillog()
    );
    let text = std::fs::read_to_string(&sink_dumps(&own_dump)[0]).expect("dump");
    assert!(
        text.contains("X-Mail-Args: <special@example.org>"),
        "{text}"
    );
    let text = std::fs::read_to_string(&sink_dumps(&global_dump)[0]).expect("dump");
    assert!(text.contains("X-Mail-Args: <other@example.org>"), "{text}");
}

/// content_filter, as with amavis: mail from the main smtpd goes to the
/// filter first; the filter's re-injection smtpd (`-o content_filter=`)
/// sends it on as usual.
#[test]
fn content_filter_sends_mail_to_the_filter_first() {
    if no_smtp_sink() {
        return;
    }
    let (filter, onward, reinject) = (free_port(), free_port(), free_port());
    let inst = instance(
        "smtp-filter",
        &format!("relayhost = [127.0.0.1]:{onward}\ncontent_filter = smtp:[127.0.0.1]:{filter}\n"),
    );
    inst.master_cf(&format!(
        "127.0.0.1:0 inet n - n - - smtpd\n127.0.0.1:{reinject} inet n - n - - smtpd -o content_filter=\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nsmtp unix - - n - - smtp\nbounce unix - - n - 0 bounce\n"
    ));
    let (filter_dump, onward_dump) = (inst.dir.join("filter"), inst.dir.join("onward"));
    let _filter = sink(filter, &filter_dump, &[]);
    let _onward = sink(onward, &onward_dump, &[]);
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        "in@example.org",
        &["far@remote.example"],
        BODY,
    );
    assert!(
        inst.wait_log(
            &format!("relay=127.0.0.1[127.0.0.1]:{filter}, "),
            1,
            15 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    assert!(wait_until(5 * SECOND, || sink_dumps(&filter_dump).len() == 1));
    // What the filter gives back is not filtered again.
    smtp_send(reinject, "back@example.org", &["far@remote.example"], BODY);
    assert!(
        wait_until(15 * SECOND, || sink_dumps(&onward_dump).len() == 1),
        "{}",
        inst.maillog()
    );
    assert_eq!(files(&filter_dump).len(), 1);
    let text = std::fs::read_to_string(&sink_dumps(&onward_dump)[0]).expect("dump");
    assert!(text.contains("X-Mail-Args: <back@example.org>"), "{text}");
}

/// One RCPT TO on `port`: the reply line.
fn rcpt_reply(port: u16, rcpt: &str) -> String {
    let mut c = kit::LineClient::connect(port);
    let _banner = c.read_line();
    let mut ask = |line: &str| c.ask_crlf(line).unwrap_or_default();
    ask("HELO client.example.org");
    ask("MAIL FROM:<in@example.org>");
    let reply = ask(&format!("RCPT TO:<{rcpt}>"));
    ask("QUIT");
    reply
}

/// The content filter set-up of Postfix's FILTER_README, with its
/// receive_override_options: the smtpd and pickup in front of the filter
/// map no addresses (the re-injection does, once), and the re-injection
/// smtpd checks neither headers (done on the way in) nor recipients.
#[test]
fn receive_override_options_as_in_the_filter_readme() {
    if no_smtp_sink() {
        return;
    }
    let (filter, onward, reinject) = (free_port(), free_port(), free_port());
    let inst = instance(
        "smtp-filter-overrides",
        &format!(
            "relayhost = [127.0.0.1]:{onward}\ncontent_filter = smtp:[127.0.0.1]:{filter}\n\
             virtual_alias_maps = inline:{{ alias@example.org=target@example.org }}\n\
             header_checks = regexp:$config_directory/header_checks\nalias_maps =\n"
        ),
    );
    inst.write("header_checks", "/^Subject:/ PREPEND X-Checked: yes\n");
    inst.master_cf(&format!(
        "127.0.0.1:0 inet n - n - - smtpd -o receive_override_options=no_address_mappings\n\
         127.0.0.1:{reinject} inet n - n - - smtpd -o content_filter=\n  \
         -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters\n\
         pickup unix n - n 60 1 pickup -o receive_override_options=no_address_mappings\n\
         cleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nsmtp unix - - n - - smtp\n\
         bounce unix - - n - 0 bounce\n"
    ));
    let (filter_dump, onward_dump) = (inst.dir.join("filter"), inst.dir.join("onward"));
    let _filter = sink(filter, &filter_dump, &[]);
    let _onward = sink(onward, &onward_dump, &[]);
    inst.start();
    let front = inst.port("127.0.0.1:0");

    // In front of the filter: headers checked, the alias not expanded.
    smtp_send(front, "in@example.org", &["alias@example.org"], BODY);
    assert!(
        wait_until(15 * SECOND, || sink_dumps(&filter_dump).len() == 1),
        "{}",
        inst.maillog()
    );
    let text = std::fs::read_to_string(&sink_dumps(&filter_dump)[0]).expect("dump");
    assert!(text.contains("X-Rcpt-Args: <alias@example.org>"), "{text}");
    assert_eq!(text.matches("X-Checked: yes").count(), 1, "{text}");

    // The same from sendmail through pickup.
    let out = inst.sendmail(
        &["-f", "local@example.org", "alias@example.org"],
        b"Subject: posted\n\nfrom the host\n",
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        wait_until(15 * SECOND, || sink_dumps(&filter_dump).len() == 2),
        "{}",
        inst.maillog()
    );
    let posted = sink_dumps(&filter_dump)
        .into_iter()
        .map(|f| std::fs::read_to_string(f).expect("dump"))
        .find(|t| t.contains("Subject: posted"))
        .expect("the posted message");
    assert!(
        posted.contains("X-Rcpt-Args: <alias@example.org>"),
        "{posted}"
    );

    // What the filter gives back: the alias expanded now, the headers
    // not checked again.
    smtp_send(
        reinject,
        "in@example.org",
        &["alias@example.org"],
        "X-Checked: yes\r\nSubject: scanned\r\n\r\nclean\r\n",
    );
    assert!(
        wait_until(15 * SECOND, || sink_dumps(&onward_dump).len() == 1),
        "{}",
        inst.maillog()
    );
    let text = std::fs::read_to_string(&sink_dumps(&onward_dump)[0]).expect("dump");
    assert!(text.contains("X-Rcpt-Args: <target@example.org>"), "{text}");
    assert_eq!(text.matches("X-Checked: yes").count(), 1, "{text}");

    // Unknown local recipients: refused in front, taken after the filter.
    let refused = rcpt_reply(front, "nobody-here@localhost");
    assert!(
        refused.starts_with("550 5.1.1 <nobody-here@localhost>: Recipient address rejected"),
        "{refused}"
    );
    assert_eq!(
        rcpt_reply(reinject, "nobody-here@localhost"),
        "250 2.1.5 Ok"
    );
}

/// The EHLO reply's lines on `port`.
fn ehlo_lines(port: u16) -> Vec<String> {
    let mut c = kit::LineClient::connect(port);
    let _banner = c.read_line();
    let mut lines = vec![c.ask_crlf("EHLO client.example.org").unwrap_or_default()];
    while lines.last().is_some_and(|l| l.starts_with("250-")) {
        lines.push(c.read_line().unwrap_or_default());
    }
    lines
}

/// XFORWARD through a content filter: the smtp client tells the
/// re-injection smtpd who sent the mail, and its log names the original
/// client and queue ID; only authorized clients are offered XFORWARD or
/// may use it.
#[test]
fn xforward_names_the_original_client_after_the_filter() {
    if no_smtp_sink() {
        return;
    }
    let (onward, reinject) = (free_port(), free_port());
    let inst = instance(
        "smtp-xforward",
        &format!(
            "relayhost = [127.0.0.1]:{onward}\ncontent_filter = smtp:[127.0.0.1]:{reinject}\n\
             smtp_send_xforward_command = yes\n"
        ),
    );
    inst.master_cf(&format!(
        "127.0.0.1:0 inet n - n - - smtpd\n\
         127.0.0.1:{reinject} inet n - n - - smtpd -o content_filter=\n  \
         -o smtpd_authorized_xforward_hosts=127.0.0.0/8\n\
         cleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nsmtp unix - - n - - smtp\n\
         bounce unix - - n - 0 bounce\n"
    ));
    let onward_dump = inst.dir.join("onward");
    let _onward = sink(onward, &onward_dump, &[]);
    inst.start();
    let front = inst.port("127.0.0.1:0");
    kit::python_lines(
        &[],
        &format!(
            "import smtplib\ns = smtplib.SMTP('127.0.0.1', {front}, timeout=20, source_address=('127.0.0.2', 0))\n\
             s.sendmail('in@example.org', ['far@remote.example'], b'Subject: through\\r\\n\\r\\nbody\\r\\n')\ns.quit()\n"
        ),
        &[],
    );
    assert!(
        wait_until(15 * SECOND, || sink_dumps(&onward_dump).len() == 1),
        "{}",
        inst.maillog()
    );
    let first = inst
        .log_lines(": client=")
        .into_iter()
        .find(|l| l.contains("[127.0.0.2]") && !l.contains("orig_client="))
        .unwrap_or_else(|| panic!("{}", inst.maillog()));
    let first_id = first
        .split(": client=")
        .next()
        .and_then(|l| l.rsplit(' ').next())
        .expect("queue id")
        .to_string();
    let second = inst.log_lines(", orig_queue_id=");
    assert_eq!(second.len(), 1, "{}", inst.maillog());
    assert!(
        second[0].contains(&format!(
            ": client=localhost[127.0.0.1], orig_queue_id={first_id}, orig_client="
        )) && second[0].ends_with("[127.0.0.2]"),
        "{}",
        second[0]
    );

    // Offered to authorized clients only, and refused to the others.
    assert!(ehlo_lines(reinject)
        .iter()
        .any(|l| l == "250-XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT"));
    assert!(!ehlo_lines(front).iter().any(|l| l.contains("XFORWARD")));
    let mut c = kit::LineClient::connect(front);
    let _banner = c.read_line();
    c.ask_crlf("HELO client.example.org");
    assert_eq!(
        c.ask_crlf("XFORWARD NAME=spoofed.example")
            .unwrap_or_default(),
        "550 5.7.0 Error: insufficient authorization"
    );
    let mut c = kit::LineClient::connect(reinject);
    let _banner = c.read_line();
    c.ask_crlf("HELO client.example.org");
    assert_eq!(
        c.ask_crlf("XFORWARD ADDR=not-an-address")
            .unwrap_or_default(),
        "501 5.5.4 Bad ADDR syntax: not-an-address"
    );
    c.ask_crlf("MAIL FROM:<in@example.org>");
    assert_eq!(
        c.ask_crlf("XFORWARD NAME=late.example").unwrap_or_default(),
        "503 5.5.1 Error: MAIL transaction in progress"
    );
    c.ask_crlf("RSET");

    // What XFORWARD tells lasts one transaction.
    let mut queued = Vec::new();
    for xforward in [
        Some("XFORWARD NAME=filtered.example ADDR=192.0.2.7 IDENT=ABC123"),
        None,
    ] {
        if let Some(x) = xforward {
            assert_eq!(c.ask_crlf(x).unwrap_or_default(), "250 2.0.0 Ok");
        }
        c.ask_crlf("MAIL FROM:<in@example.org>");
        c.ask_crlf("RCPT TO:<far@remote.example>");
        c.ask_crlf("DATA");
        let reply = c
            .ask_crlf("Subject: again\r\n\r\nbody\r\n.")
            .unwrap_or_default();
        let id = reply
            .strip_prefix("250 2.0.0 Ok: queued as ")
            .unwrap_or_else(|| panic!("{reply}"))
            .to_string();
        queued.push(id);
    }
    let client = |id: &str| {
        inst.log_lines(&format!("{id}: client="))
            .first()
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        client(&queued[0]).ends_with(
            ": client=localhost[127.0.0.1], orig_queue_id=ABC123, orig_client=filtered.example[192.0.2.7]"
        ),
        "{}",
        inst.maillog()
    );
    assert!(
        client(&queued[1]).ends_with(": client=localhost[127.0.0.1]"),
        "{}",
        inst.maillog()
    );
}

/// `postqueue -s site` tries the deferred mail for that site now, and
/// only that.
#[test]
fn postqueue_s_flushes_one_site() {
    let (inst, _) = two_sites_deferred("smtp-flush-site", "");
    let out = postqueue(&inst, "-s");
    assert!(out.contains("usage") || out.contains("option"), "{out}");
    let out = postqueue_args(&inst, &["-s", "one.example"]);
    assert!(out.status.success(), "{out:?}");
    only_one_example_retried(&inst);
}

/// ETRN (RFC 1985): a client asks for the mail deferred for its site;
/// only sites in fast_flush_domains that smtpd_etrn_restrictions let
/// through, and that site's mail only. Replies as Postfix 3.7 gives them.
#[test]
fn etrn_flushes_one_site_in_fast_flush_domains() {
    let (inst, smtpd) = two_sites_deferred(
        "smtp-etrn",
        "fast_flush_domains = one.example three.example\n\
         smtpd_etrn_restrictions = check_etrn_access inline:{ {three.example = REJECT go away} }\n",
    );
    let ehlo = ehlo_lines(smtpd);
    assert!(ehlo.iter().any(|l| l == "250-ETRN"), "{ehlo:?}");
    let mut c = kit::LineClient::connect(smtpd);
    let _banner = c.read_line();
    let mut ask = |line: &str| c.ask_crlf(line).unwrap_or_default();
    ask("HELO client.example.org");
    assert_eq!(
        ask("ETRN two.example"),
        "459 <two.example>: service unavailable"
    );
    assert_eq!(ask("ETRN #deferred"), "459 <deferred>: service unavailable");
    assert_eq!(ask("ETRN one.example extra"), "500 Syntax: ETRN domain");
    assert_eq!(ask("ETRN"), "500 Syntax: ETRN domain");
    assert_eq!(ask("ETRN bad!name"), "501 Error: invalid parameter syntax");
    assert_eq!(
        ask("ETRN three.example"),
        "554 5.7.1 <three.example>: Etrn command rejected: go away"
    );
    assert_eq!(
        inst.log_lines("NOQUEUE: reject: ETRN from localhost[127.0.0.1]: 554 5.7.1 <three.example>: Etrn command rejected: go away; proto=SMTP helo=<client.example.org>").len(),
        1,
        "{}",
        inst.maillog()
    );
    assert_eq!(ask("ETRN @one.example"), "250 Queuing started");
    only_one_example_retried(&inst);
}

#[test]
fn closed_port_defers_then_flush_delivers() {
    if no_smtp_sink() {
        return;
    }
    let port = free_port();
    let inst = instance("smtp-defer", &format!("relayhost = [127.0.0.1]:{port}\n"));
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        "sender@example.org",
        &[
            "zz@remote.example",
            "later@remote.example",
            "aa@remote.example",
        ],
        BODY,
    );
    let reason = format!("connect to 127.0.0.1[127.0.0.1]:{port}: Connection refused");
    assert!(
        inst.wait_log(&format!("status=deferred ({reason})"), 3, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    // One delivery, its recipients by domain and address, as Postfix's
    // qmgr sorts them (and so the log, the defer log and postqueue -p).
    let lines = inst.log_lines("status=deferred");
    for (line, rcpt) in lines.iter().zip(["aa", "later", "zz"]) {
        assert!(
            line.contains(&format!("to=<{rcpt}@remote.example>, relay=none, delay="))
                && line.contains("dsn=4.4.1"),
            "{lines:?}"
        );
    }
    // The reason is in the defer log, which qmgr writes after the line.
    assert!(
        wait_until(5 * SECOND, || postqueue(&inst, "-p")
            .contains(&format!("({reason})"))),
        "{}",
        postqueue(&inst, "-p")
    );
    let listing = postqueue(&inst, "-p");
    let order: Vec<&str> = listing
        .lines()
        .map(str::trim)
        .filter(|l| l.ends_with("@remote.example"))
        .collect();
    assert_eq!(
        order,
        [
            "aa@remote.example",
            "later@remote.example",
            "zz@remote.example"
        ],
        "{listing}"
    );

    let dump = inst.dir.join("sink");
    let _sink = sink(port, &dump, &[]);
    // The flush as Sendmail's users ask for it (postqueue -f: queue_tools).
    let out = Command::new(inst.bin.join("sendmail"))
        .env("MAIL_CONFIG", &inst.dir)
        .arg("-q")
        .output()
        .expect("sendmail -q");
    assert!(out.status.success(), "{out:?}");
    assert!(
        inst.wait_log("status=sent (250 2.0.0 Ok)", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    assert!(
        wait_until(5 * SECOND, || queue_is_empty(&inst)),
        "queue not empty"
    );
    let dumps = sink_dumps(&dump);
    assert_eq!(dumps.len(), 1);
    let text = std::fs::read_to_string(&dumps[0]).expect("dump");
    let rcpts: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("X-Rcpt-Args: <"))
        .filter_map(|l| l.split('>').next())
        .collect();
    assert_eq!(
        rcpts,
        [
            "aa@remote.example",
            "later@remote.example",
            "zz@remote.example"
        ],
        "{text}"
    );
    assert!(postqueue(&inst, "-p").contains("Mail queue is empty"));
}

/// Postfix's concurrency feedback: a destination that refuses connection
/// after connection is declared dead, and the rest of its mail waits
/// without a try ("delivery temporarily suspended"), until a flush.
#[test]
fn a_dead_destination_is_suspended_until_a_flush() {
    if no_smtp_sink() {
        return;
    }
    let port = free_port();
    // Two recipients per delivery: one message makes twelve deliveries to
    // the destination, all waiting at once. (With one, each recipient
    // would be a destination of its own, as in Postfix.)
    let inst = instance(
        "smtp-dead",
        &format!("relayhost = [127.0.0.1]:{port}\nsmtp_destination_recipient_limit = 2\n"),
    );
    inst.start();
    let rcpts: Vec<String> = (0..24).map(|i| format!("r{i}@remote.example")).collect();
    let rcpts: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    smtp_send(inst.port("127.0.0.1:0"), "sender@example.org", &rcpts, BODY);
    assert!(
        inst.wait_log("status=deferred", 24, 20 * SECOND),
        "{}",
        inst.maillog()
    );
    let refused = format!("connect to 127.0.0.1[127.0.0.1]:{port}: Connection refused");
    let tried = inst
        .log_lines(&format!("status=deferred ({refused})"))
        .len();
    let suspended = inst
        .log_lines(&format!(
            "status=deferred (delivery temporarily suspended: {refused})"
        ))
        .len();
    // Window 5: four failed deliveries in a row make one failed cohort
    // (1/5 + 1/4 + 1/3 + 1/2); one more may have been under way.
    assert!(
        tried == 8 || tried == 10,
        "{tried} recipients tried\n{}",
        inst.maillog()
    );
    assert_eq!(tried + suspended, 24, "{}", inst.maillog());
    let line = inst.log_lines("suspended").pop().expect("line");
    assert!(
        line.contains("relay=none") && line.contains("dsn=4.4.1"),
        "{line}"
    );
    // qmgr logs its own lines first, then writes the defer log.
    assert!(
        wait_until(5 * SECOND, || postqueue(&inst, "-p")
            .contains("(delivery temporarily suspended: ")),
        "{}",
        postqueue(&inst, "-p")
    );

    // The destination comes back; a flush revives it at once.
    let dump = inst.dir.join("sink");
    let _sink = sink(port, &dump, &[]);
    let out = postqueue(&inst, "-f");
    assert!(out.trim().is_empty(), "{out}");
    assert!(
        inst.wait_log("status=sent (250 2.0.0 Ok)", 24, 20 * SECOND),
        "{}",
        inst.maillog()
    );
    assert_eq!(
        sink_dumps(&dump).len(),
        12,
        "one transaction per two recipients"
    );
}

/// soft_bounce = yes, Postfix's safety net: a 5xx from the server and the
/// error transport's refusal are logged `status=SOFTBOUNCE`, the mail
/// stays in the queue, and nothing is returned to the sender.
#[test]
fn soft_bounce_keeps_what_would_bounce() {
    if no_smtp_sink() {
        return;
    }
    let bad = free_port();
    let good = free_port();
    let inst = instance(
        "smtp-soft-bounce",
        &format!(
            "soft_bounce = yes\n\
             transport_maps = inline:{{ {{remote.example=smtp:[127.0.0.1]:{bad}}} {{gone.example=error:5.1.2 no such domain}} {{example.org=smtp:[127.0.0.1]:{good}}} }}\n"
        ),
    );
    let _rejecting = sink(bad, &inst.dir.join("bad"), &["-f", "RCPT"]);
    let good_dump = inst.dir.join("good");
    let _accepting = sink(good, &good_dump, &[]);
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        "sender@example.org",
        &["nobody@remote.example", "x@gone.example"],
        BODY,
    );
    let said = "dsn=5.3.0, status=SOFTBOUNCE (host 127.0.0.1[127.0.0.1] said: 500 5.3.0 Error: command failed (in reply to RCPT TO command))";
    assert!(inst.wait_log(said, 1, 15 * SECOND), "{}", inst.maillog());
    assert!(
        inst.wait_log("to=<x@gone.example>, relay=none, ", 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );
    let line = inst.log_lines("to=<x@gone.example>").pop().expect("line");
    assert!(
        line.contains("dsn=5.1.2, status=SOFTBOUNCE (no such domain)"),
        "{line}"
    );
    // Deferred, both recipients, with their reasons; no bounce.
    assert!(
        wait_until(10 * SECOND, || postqueue(&inst, "-p")
            .contains("(no such domain)")),
        "{}",
        postqueue(&inst, "-p")
    );
    let listing = postqueue(&inst, "-p");
    assert!(listing.contains("nobody@remote.example"), "{listing}");
    std::thread::sleep(SECOND);
    assert!(sink_dumps(&good_dump).is_empty(), "a bounce was sent");
    assert!(
        !inst.maillog().contains("non-delivery notification"),
        "{}",
        inst.maillog()
    );
    inst.stop();

    // soft_bounce for one service only (master.cf -o): its bounces wait,
    // the error transport's (the queue manager's own) still bounce.
    let inst = instance(
        "smtp-soft-bounce-service",
        &format!(
            "transport_maps = inline:{{ {{remote.example=smtp:[127.0.0.1]:{bad}}} {{gone.example=error:5.1.2 no such domain}} {{example.org=smtp:[127.0.0.1]:{good}}} }}\n"
        ),
    );
    inst.master_cf(
        "127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nsmtp unix - - n - - smtp -o soft_bounce=yes\nbounce unix - - n - 0 bounce\nshowq unix n - n - - showq\n",
    );
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        "sender@example.org",
        &["nobody@remote.example", "x@gone.example"],
        BODY,
    );
    assert!(inst.wait_log(said, 1, 15 * SECOND), "{}", inst.maillog());
    assert!(
        inst.wait_log("sender non-delivery notification: ", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    assert!(
        wait_until(10 * SECOND, || postqueue(&inst, "-p")
            .contains("nobody@remote.example")),
        "{}",
        postqueue(&inst, "-p")
    );
    let listing = postqueue(&inst, "-p");
    assert!(!listing.contains("x@gone.example"), "{listing}");
}

/// An instance relaying through an smtp-sink that refuses every RCPT
/// (500 5.3.0), with `param` naming a regexp table of the one `rule`;
/// started, with a message to nobody@remote.example sent in.
fn through_a_rejecting_sink(name: &str, param: &str, rule: &str) -> (Instance, kit::Proc) {
    let bad = free_port();
    let inst = instance(name, "");
    std::fs::write(inst.dir.join("filter"), rule).expect("filter");
    inst.main_cf(&format!(
        "relayhost = [127.0.0.1]:{bad}\n{param} = regexp:{}/filter\n",
        inst.dir.display()
    ));
    let rejecting = sink(bad, &inst.dir.join("bad"), &["-f", "RCPT"]);
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        "sender@example.org",
        &["nobody@remote.example"],
        BODY,
    );
    (inst, rejecting)
}

/// smtp_reply_filter: each reply line from the server goes through the
/// table before the client reads it (Postfix's last-resort tool for
/// servers that answer oddly).
#[test]
fn a_reply_filter_rewrites_server_replies() {
    if no_smtp_sink() {
        return;
    }
    let (inst, _rejecting) = through_a_rejecting_sink(
        "smtp-reply-filter",
        "smtp_reply_filter",
        "/^500 5\\.3\\.0 (.*)$/ 450 4.3.0 softened: $1\n",
    );
    let said = "dsn=4.3.0, status=deferred (host 127.0.0.1[127.0.0.1] said: 450 4.3.0 softened: Error: command failed (in reply to RCPT TO command))";
    assert!(inst.wait_log(said, 1, 15 * SECOND), "{}", inst.maillog());
}

/// smtp_delivery_status_filter: a regexp table turns the server's 5xx
/// into a deferral with its own text.
#[test]
fn a_delivery_status_filter_defers_a_bounce() {
    if no_smtp_sink() {
        return;
    }
    let (inst, _rejecting) = through_a_rejecting_sink(
        "smtp-dsn-filter",
        "smtp_delivery_status_filter",
        "/^5\\.3\\.0 (.*)$/ 4.3.0 held by the filter: $1\n",
    );
    let said = "dsn=4.3.0, status=deferred (held by the filter: host 127.0.0.1[127.0.0.1] said: 500 5.3.0 Error: command failed (in reply to RCPT TO command))";
    assert!(inst.wait_log(said, 1, 15 * SECOND), "{}", inst.maillog());
    assert!(
        wait_until(5 * SECOND, || postqueue(&inst, "-p")
            .contains("held by the filter")),
        "{}",
        postqueue(&inst, "-p")
    );
    assert!(!inst.maillog().contains("non-delivery notification"));
}

#[test]
fn rcpt_5xx_bounces_to_the_sender() {
    if no_smtp_sink() {
        return;
    }
    let bad = free_port();
    let good = free_port();
    let inst = instance("smtp-bounce", "");
    std::fs::write(
        inst.dir.join("transport"),
        format!("remote.example smtp:[127.0.0.1]:{bad}\nexample.org smtp:[127.0.0.1]:{good}\n"),
    )
    .expect("transport");
    inst.main_cf(&format!(
        "transport_maps = texthash:{}/transport\n",
        inst.dir.display()
    ));
    let _rejecting = sink(bad, &inst.dir.join("bad"), &["-f", "RCPT"]);
    let good_dump = inst.dir.join("good");
    let _accepting = sink(good, &good_dump, &[]);
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        "sender@example.org",
        &["nobody@remote.example"],
        BODY,
    );
    let said = "status=bounced (host 127.0.0.1[127.0.0.1] said: 500 5.3.0 Error: command failed (in reply to RCPT TO command))";
    assert!(inst.wait_log(said, 1, 15 * SECOND), "{}", inst.maillog());
    let line = inst.log_lines(said).pop().expect("line");
    assert!(
        line.contains(&format!(
            "to=<nobody@remote.example>, relay=127.0.0.1[127.0.0.1]:{bad}, "
        )) && line.contains("dsn=5.3.0"),
        "{line}"
    );
    // The bounce goes back to the sender, through the accepting sink.
    assert!(
        wait_until(15 * SECOND, || sink_dumps(&good_dump).len() == 1),
        "no bounce arrived\n{}",
        inst.maillog()
    );
    let text = std::fs::read_to_string(&sink_dumps(&good_dump)[0]).expect("dump");
    assert!(
        text.contains("X-Mail-Args: <>"),
        "a bounce has a null sender: {text}"
    );
    assert!(text.contains("X-Rcpt-Args: <sender@example.org>"), "{text}");
    assert!(text.contains("nobody@remote.example"), "{text}");
    // (The notice's lines are wrapped at 79 columns, as Postfix's are.)
    assert!(
        text.replace("\n    ", " ")
            .contains("<nobody@remote.example>: host 127.0.0.1[127.0.0.1] said: 500 5.3.0 Error: command failed (in reply to RCPT TO command)"),
        "{text}"
    );
    assert!(
        wait_until(5 * SECOND, || queue_is_empty(&inst)),
        "queue not empty"
    );
}

#[test]
fn soft_rejection_at_rcpt_is_deferred() {
    if no_smtp_sink() {
        return;
    }
    let port = free_port();
    let inst = instance("smtp-soft", &format!("relayhost = [127.0.0.1]:{port}\n"));
    let _sink = sink(port, &inst.dir.join("sink"), &["-r", "RCPT"]);
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        "sender@example.org",
        &["soft@remote.example"],
        BODY,
    );
    let said = "status=deferred (host 127.0.0.1[127.0.0.1] said: 450 4.3.0 Error: command failed (in reply to RCPT TO command))";
    assert!(inst.wait_log(said, 1, 15 * SECOND), "{}", inst.maillog());
    assert!(inst.log_lines(said)[0].contains("dsn=4.3.0"));
    assert!(postqueue(&inst, "-p").contains("soft@remote.example"));
}

#[test]
fn mx_lookup_through_a_real_dns_server() {
    if !have("smtp-sink") || !have("dnsmasq") {
        eprintln!("skipped: smtp-sink or dnsmasq not installed");
        return;
    }
    let dns_port = free_port();
    let smtp_port = free_port();
    let _dns = dnsmasq(
        dns_port,
        &[
            "--mx-host=mx.test,mail.mx.test,10".into(),
            // The better MX has no address: it is skipped.
            "--mx-host=mx.test,gone.mx.test,5".into(),
            "--host-record=mail.mx.test,127.0.0.1".into(),
            "--host-record=plain.test,127.0.0.1".into(),
            "--mx-host=nullmx.test,.,0".into(),
            // The first MX is down (nothing listens on 127.0.0.2): the second takes it.
            "--mx-host=fallback.test,down.fallback.test,10".into(),
            "--mx-host=fallback.test,up.fallback.test,20".into(),
            "--host-record=down.fallback.test,127.0.0.2".into(),
            "--host-record=up.fallback.test,127.0.0.1".into(),
            // This host is the only MX (port 25): a loop. A backup MX here
            // leaves the primary, which is down: the mail waits.
            "--mx-host=self.test,mx.self.test,10".into(),
            "--host-record=mx.self.test,127.0.0.1".into(),
            "--mx-host=backup.test,primary.backup.test,10".into(),
            "--mx-host=backup.test,mx.backup.test,20".into(),
            "--host-record=primary.backup.test,127.0.0.2".into(),
            "--host-record=mx.backup.test,127.0.0.1".into(),
        ],
    );
    let inst = instance(
        "smtp-dns",
        &format!(
            "dns_resolver_address = 127.0.0.1:{dns_port}\ntransport_maps = inline:{{ mx.test=smtp:mx.test:{smtp_port}, plain.test=smtp:plain.test:{smtp_port}, nullmx.test=smtp:nullmx.test:{smtp_port}, nx.test=smtp:nx.test:{smtp_port}, fallback.test=smtp:fallback.test:{smtp_port}, self.test=smtp:self.test, backup.test=smtp:backup.test }}\n"
        ),
    );
    let dump = inst.dir.join("sink");
    let _sink = sink(smtp_port, &dump, &[]);
    inst.start();
    let port = inst.port("127.0.0.1:0");
    smtp_send(port, "sender@example.org", &["u@mx.test"], BODY);
    assert!(
        inst.wait_log(
            "to=<u@mx.test>, relay=mail.mx.test[127.0.0.1]:",
            1,
            15 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    assert!(inst.log_lines("to=<u@mx.test>")[0].contains("status=sent (250 "));
    smtp_send(port, "sender@example.org", &["u@plain.test"], BODY);
    assert!(
        inst.wait_log(
            "to=<u@plain.test>, relay=plain.test[127.0.0.1]:",
            1,
            15 * SECOND
        ),
        "no MX: the A record\n{}",
        inst.maillog()
    );
    smtp_send(port, "sender@example.org", &["u@nullmx.test"], BODY);
    assert!(
        inst.wait_log("to=<u@nullmx.test>, relay=none, ", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    let line = inst.log_lines("to=<u@nullmx.test>").pop().expect("line");
    assert!(
        line.contains(
            "dsn=5.1.0, status=bounced (Domain nullmx.test does not accept mail (nullMX))"
        ),
        "{line}"
    );
    smtp_send(port, "sender@example.org", &["u@nx.test"], BODY);
    assert!(
        inst.wait_log("to=<u@nx.test>, relay=none, ", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    let line = inst.log_lines("to=<u@nx.test>").pop().expect("line");
    assert!(
        line.contains("dsn=5.4.4, status=bounced (Host or domain name not found. Name service error for name=nx.test type=MX: Host not found)"),
        "{line}"
    );
    smtp_send(port, "sender@example.org", &["u@fallback.test"], BODY);
    assert!(
        inst.wait_log(
            "to=<u@fallback.test>, relay=up.fallback.test[127.0.0.1]:",
            1,
            15 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    assert!(
        inst.maillog().contains(&format!(
            "connect to down.fallback.test[127.0.0.2]:{smtp_port}: Connection refused"
        )),
        "{}",
        inst.maillog()
    );
    assert_eq!(
        sink_dumps(&dump).len(),
        3,
        "mx.test, plain.test and fallback.test arrived"
    );
    smtp_send(port, "sender@example.org", &["u@self.test"], BODY);
    assert!(
        inst.wait_log("to=<u@self.test>, relay=none, ", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    let line = inst.log_lines("to=<u@self.test>").pop().expect("line");
    assert!(
        line.contains("dsn=5.4.6, status=bounced (mail for self.test loops back to myself)"),
        "{line}"
    );
    smtp_send(port, "sender@example.org", &["u@backup.test"], BODY);
    assert!(
        inst.wait_log("to=<u@backup.test>, relay=none, ", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    let line = inst.log_lines("to=<u@backup.test>").pop().expect("line");
    assert!(
        line.contains(
            "status=deferred (connect to primary.backup.test[127.0.0.2]:25: Connection refused)"
        ),
        "only the better MX is tried: {line}"
    );
    assert!(!inst.maillog().contains("mx.backup.test[127.0.0.1]"));
}

/// smtp_dns_reply_filter: an MX record the table says to IGNORE is not
/// tried (the mail goes to the next MX without a connection to the first),
/// and a domain whose every MX record is ignored waits with 4.7.0, as
/// Postfix's SMTP client defers it.
#[test]
fn a_dns_reply_filter_drops_mx_records() {
    if !have("smtp-sink") || !have("dnsmasq") {
        eprintln!("skipped: smtp-sink or dnsmasq not installed");
        return;
    }
    let dns_port = free_port();
    let smtp_port = free_port();
    let _dns = dnsmasq(
        dns_port,
        &[
            "--mx-host=two.test,down.two.test,10".into(),
            "--mx-host=two.test,up.two.test,20".into(),
            "--host-record=down.two.test,127.0.0.2".into(),
            "--host-record=up.two.test,127.0.0.1".into(),
            "--mx-host=none.test,mx.none.test,10".into(),
            "--host-record=mx.none.test,127.0.0.1".into(),
        ],
    );
    let inst = instance(
        "smtp-dns-filter",
        &format!(
            "dns_resolver_address = 127.0.0.1:{dns_port}\n\
             smtp_dns_reply_filter = regexp:$config_directory/dns_filter\n\
             transport_maps = inline:{{ two.test=smtp:two.test:{smtp_port}, none.test=smtp:none.test:{smtp_port} }}\n"
        ),
    );
    std::fs::write(
        inst.dir.join("dns_filter"),
        "/^two\\.test\\. [0-9]+ IN MX 10 down\\.two\\.test\\.$/ IGNORE\n\
         /^none\\.test\\. [0-9]+ IN MX / IGNORE\n",
    )
    .expect("filter");
    let dump = inst.dir.join("sink");
    let _sink = sink(smtp_port, &dump, &[]);
    inst.start();
    let port = inst.port("127.0.0.1:0");
    smtp_send(
        port,
        "sender@example.org",
        &["u@two.test", "u@none.test"],
        BODY,
    );
    assert!(
        inst.wait_log(
            "to=<u@two.test>, relay=up.two.test[127.0.0.1]:",
            1,
            15 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    assert!(
        inst.wait_log("to=<u@none.test>, relay=none, ", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    let line = inst.log_lines("to=<u@none.test>").pop().expect("line");
    assert!(
        line.contains("dsn=4.7.0, status=deferred (Error looking up name=none.test type=MX: DNS reply filter drops all results)"),
        "{line}"
    );
    let log = inst.maillog();
    assert!(
        !log.contains("127.0.0.2"),
        "the ignored MX was tried:\n{log}"
    );
    assert!(
        log.contains("ignoring DNS RR: two.test. ") && log.contains(" IN MX 10 down.two.test."),
        "{log}"
    );
}

/// The receiving MTA for the TLS tests: a second mailsuite's smtpd with a
/// self-signed certificate for mx.remote.example (MAIN: more main.cf,
/// OPTIONS: its master.cf -o options) into its own queue (no qmgr, so the
/// message stays there to be looked at). None without openssl.
fn tls_receiver(name: &str, main: &str, options: &str) -> Option<(Instance, u16)> {
    tls_receiver_for(name, "mx.remote.example", main, options)
}

/// A second mailsuite whose smtpd offers TLS with a self-signed
/// certificate for `cn`.
fn tls_receiver_for(name: &str, cn: &str, main: &str, options: &str) -> Option<(Instance, u16)> {
    let remote = Instance::new(name);
    let (cert, key) = self_signed(&remote.dir, cn)?;
    if is_root() {
        for f in [&cert, &key] {
            std::os::unix::fs::chown(f, Some(65534), Some(65534)).expect("chown");
        }
    }
    remote.main_cf(&format!(
        "alias_maps =\nmynetworks = 127.0.0.0/8\nsmtpd_tls_cert_file = {}\nsmtpd_tls_key_file = {}\n{main}",
        cert.display(),
        key.display()
    ));
    remote.master_cf(&format!(
        "127.0.0.1:0 inet n - n - - smtpd{options}\ncleanup unix n - n - 0 cleanup\n"
    ));
    remote.start();
    let port = remote.port("127.0.0.1:0");
    Some((remote, port))
}

/// Relays one message to the TLS receiver at `port` (relayhost, with the
/// TLS settings in `tls`) and checks that it went over TLS 1.3.
fn relay_over_tls(name: &str, remote: &Instance, port: u16, tls: &str) -> Instance {
    relay_over_tls_as(name, remote, port, tls, "TLSv1.3 with cipher ")
}

/// As [`relay_over_tls`], checking that the client logged the session as
/// `session` (e.g. `TLSv1.2 with cipher …`).
fn relay_over_tls_as(
    name: &str,
    remote: &Instance,
    port: u16,
    tls: &str,
    session: &str,
) -> Instance {
    let inst = instance(name, &format!("relayhost = [127.0.0.1]:{port}\n{tls}"));
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        "sender@example.org",
        &["far@remote.example"],
        BODY,
    );
    assert!(
        inst.wait_log("status=sent (250 2.0.0 Ok: queued as ", 1, 15 * SECOND),
        "{}\n--- remote ---\n{}",
        inst.maillog(),
        remote.maillog()
    );
    let tls = inst
        .log_lines("TLS connection established to")
        .pop()
        .expect("TLS line");
    assert!(
        tls.contains(&format!(
            "Untrusted TLS connection established to 127.0.0.1[127.0.0.1]:{port}: {session}"
        )),
        "{tls}"
    );
    inst
}

/// The `fingerprint` level (a relayhost pinned by its certificate's
/// fingerprint in smtp_tls_policy_maps, `match=fp|fp`): the right one goes
/// (Verified, a self-signed certificate), another is refused and waits.
#[test]
fn fingerprint_level_pins_the_relayhosts_certificate() {
    let Some((remote, port)) =
        tls_receiver("smtp-fprint-remote", "smtpd_tls_security_level = may\n", "")
    else {
        eprintln!("skipped: openssl missing");
        return;
    };
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(remote.dir.join("cert.pem"))
        .output()
        .expect("openssl");
    let fp = String::from_utf8_lossy(&out.stdout)
        .trim()
        .split_once('=')
        .map(|(_, f)| f.to_string())
        .expect("fingerprint");
    let other = "AA:".repeat(31) + "AA";
    for (name, listed, sent) in [
        (
            "smtp-fprint",
            format!("{other}|{}", fp.to_lowercase()),
            true,
        ),
        ("smtp-fprint-wrong", other.clone(), false),
    ] {
        let inst = instance(
            name,
            &format!(
                "relayhost = [127.0.0.1]:{port}\n\
                 smtp_tls_policy_maps = inline:{{ {{[127.0.0.1]:{port} = fingerprint match={listed}}} }}\n"
            ),
        );
        inst.start();
        smtp_send(
            inst.port("127.0.0.1:0"),
            "sender@example.org",
            &["far@remote.example"],
            BODY,
        );
        if sent {
            assert!(
                inst.wait_log("status=sent (250 2.0.0 Ok: queued as ", 1, 15 * SECOND),
                "{}",
                inst.maillog()
            );
            assert!(
                inst.log_lines(&format!(
                    "Verified TLS connection established to 127.0.0.1[127.0.0.1]:{port}: TLSv1.3"
                ))
                .len()
                    == 1,
                "{}",
                inst.maillog()
            );
        } else {
            assert!(
                inst.wait_log(
                    "status=deferred (Server certificate not verified)",
                    1,
                    15 * SECOND
                ),
                "{}",
                inst.maillog()
            );
        }
        inst.stop();
    }
}

#[test]
fn starttls_to_a_second_mailsuite() {
    let Some((remote, remote_port)) =
        tls_receiver("smtp-tls-remote", "smtpd_tls_security_level = may\n", "")
    else {
        eprintln!("skipped: openssl missing");
        return;
    };

    let inst = relay_over_tls(
        "smtp-tls",
        &remote,
        remote_port,
        "smtp_tls_security_level = encrypt\n",
    );
    assert!(
        wait_until(5 * SECOND, || queue_is_empty(&inst)),
        "queue not empty"
    );
    let arrived = files_under(&remote.dir.join("queue/incoming"));
    assert_eq!(arrived.len(), 1, "{}", remote.maillog());
    let qf = queue::open(&arrived[0]).expect("queue file");
    assert_eq!(qf.envelope.sender, "sender@example.org");
    assert!(remote.maillog().contains("TLS"), "{}", remote.maillog());
}

/// smtp_tls_note_starttls_offer: a client that does not use TLS logs the
/// servers that offer it, as Postfix does (`Host offered STARTTLS:
/// [name]`).
#[test]
fn a_starttls_offer_not_taken_is_noted() {
    let Some((remote, remote_port)) =
        tls_receiver("smtp-note-remote", "smtpd_tls_security_level = may\n", "")
    else {
        eprintln!("skipped: openssl missing");
        return;
    };
    let inst = instance(
        "smtp-note-starttls",
        &format!(
            "relayhost = [127.0.0.1]:{remote_port}\nsmtp_tls_security_level = none\nsmtp_tls_note_starttls_offer = yes\n"
        ),
    );
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        "sender@example.org",
        &["far@remote.example"],
        BODY,
    );
    assert!(
        inst.wait_log("status=sent (250 2.0.0 Ok: queued as ", 1, 15 * SECOND),
        "{}\n--- remote ---\n{}",
        inst.maillog(),
        remote.maillog()
    );
    assert_eq!(
        inst.log_lines("Host offered STARTTLS: [127.0.0.1]").len(),
        1,
        "{}",
        inst.maillog()
    );
    assert!(inst.log_lines("TLS connection established").is_empty());
}

/// The `secure` level, as Postfix has it: the certificate must be trusted
/// and bear the next-hop domain or a name under it (smtp_tls_secure_cert_match
/// = nexthop, dot-nexthop), whatever DNS says the MX is called; a policy's
/// `match=` asks for other names. The mandatory protocols apply.
#[test]
fn secure_level_matches_the_next_hop_not_the_mx_name() {
    if !have("dnsmasq") {
        eprintln!("skipped: dnsmasq not installed");
        return;
    }
    let Some((remote, remote_port)) = tls_receiver_for(
        "smtp-secure-remote",
        "mx.secure.test",
        "smtpd_tls_security_level = may\n",
        "",
    ) else {
        eprintln!("skipped: openssl missing");
        return;
    };
    let dns_port = free_port();
    let _dns = dnsmasq(
        dns_port,
        &[
            "--mx-host=secure.test,mx.secure.test,10".into(),
            "--mx-host=elsewhere.test,mx.secure.test,10".into(),
            "--host-record=mx.secure.test,127.0.0.1".into(),
        ],
    );
    let ca = remote.dir.join("cert.pem");
    let inst = instance(
        "smtp-secure",
        &format!(
            "dns_resolver_address = 127.0.0.1:{dns_port}\nsmtp_tcp_port = {remote_port}\n\
             smtp_tls_CAfile = {}\nsmtp_tls_mandatory_protocols = !SSLv2, !SSLv3, !TLSv1, !TLSv1.1, !TLSv1.3\n\
             smtp_tls_policy_maps = inline:{{ secure.test=secure, {{elsewhere.test = secure match=nexthop:dot-nexthop}}, {{.test = secure match=mx.secure.test}} }}\n",
            ca.display()
        ),
    );
    inst.start();
    let port = inst.port("127.0.0.1:0");
    smtp_send(port, "sender@example.org", &["a@secure.test"], BODY);
    assert!(
        inst.wait_log("to=<a@secure.test>", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    let tls = inst
        .log_lines("TLS connection established")
        .pop()
        .expect("TLS line");
    assert!(
        tls.contains(&format!(
            "Verified TLS connection established to mx.secure.test[127.0.0.1]:{remote_port}: TLSv1.2 with cipher"
        )),
        "{tls}"
    );
    assert!(inst.log_lines("to=<a@secure.test>")[0].contains("status=sent (250 "));
    // elsewhere.test's MX is the same host, whose certificate does not
    // bear elsewhere.test: the mail waits.
    smtp_send(port, "sender@example.org", &["b@elsewhere.test"], BODY);
    assert!(
        inst.wait_log("to=<b@elsewhere.test>", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    let line = inst.log_lines("to=<b@elsewhere.test>").pop().expect("line");
    assert!(
        line.contains("status=deferred (")
            && line.contains("server certificate not verified")
            && line.contains("elsewhere.test or *.elsewhere.test"),
        "{line}"
    );
    // A policy may name the certificate's name itself.
    let inst2 = inst;
    smtp_send(port, "sender@example.org", &["c@mx.secure.test"], BODY);
    assert!(
        inst2.wait_log("to=<c@mx.secure.test>", 1, 15 * SECOND),
        "{}",
        inst2.maillog()
    );
    assert!(
        inst2.log_lines("to=<c@mx.secure.test>")[0].contains("status=sent (250 "),
        "{}",
        inst2.maillog()
    );
}

/// Relaying to a provider's port 465: TLS from the first byte
/// (smtp_tls_wrappermode), to a second mailsuite whose smtpd runs as
/// master.cf's smtps service does.
#[test]
fn smtps_wrappermode_to_a_second_mailsuite() {
    let Some((remote, remote_port)) =
        tls_receiver("smtp-smtps-remote", "", " -o smtpd_tls_wrappermode=yes")
    else {
        eprintln!("skipped: openssl missing");
        return;
    };
    let _inst = relay_over_tls(
        "smtp-smtps",
        &remote,
        remote_port,
        "smtp_tls_wrappermode = yes\nsmtp_tls_security_level = encrypt\n",
    );
    assert_eq!(files_under(&remote.dir.join("queue/incoming")).len(), 1);
}

#[test]
fn lmtp_over_a_unix_socket_to_smtp_sink() {
    if no_smtp_sink() {
        return;
    }
    let inst = instance("lmtp-unix", "");
    let sock = inst.dir.join("lmtp.sock");
    inst.main_cf(&format!(
        "transport_maps = inline:{{ remote.example=lmtp:unix:{} }}\n",
        sock.display()
    ));
    let text = std::fs::read_to_string(inst.dir.join("master.cf")).expect("master.cf");
    inst.master_cf(&format!("{text}lmtp unix - - n - - lmtp\n"));
    let dump = inst.dir.join("sink");
    let _sink = kit::lmtp_sink(&sock, &dump);
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        "sender@example.org",
        &["x@remote.example", "y@remote.example"],
        BODY,
    );
    let relay = format!("relay=mail.example.test[{}], ", sock.display());
    assert!(inst.wait_log(&relay, 2, 15 * SECOND), "{}", inst.maillog());
    for line in inst.log_lines(&relay) {
        assert!(line.contains("mailsuite/lmtp["), "{line}");
        assert!(line.contains(", status=sent (250 2."), "{line}");
    }
    assert!(
        wait_until(5 * SECOND, || queue_is_empty(&inst)),
        "queue not empty"
    );
    let text = std::fs::read_to_string(&sink_dumps(&dump)[0]).expect("dump");
    assert!(text.contains("X-Client-Proto: LMTP"), "{text}");
}

/// lmtp_sasl_auth_enable: the LMTP client authenticates with
/// lmtp_sasl_password_maps, as the SMTP client does with its own (shown
/// with debug_peer_list, the password masked).
#[test]
fn lmtp_authenticates_with_its_own_sasl_settings() {
    if no_smtp_sink() {
        return;
    }
    let inst = instance("lmtp-sasl", "");
    let sock = inst.dir.join("lmtp.sock");
    std::fs::write(
        inst.dir.join("lmtp_passwd"),
        format!(
            "mail.example.test lmtpuser:s3cret\nunix:{} lmtpuser:s3cret\n",
            sock.display()
        ),
    )
    .expect("passwd");
    inst.main_cf(&format!(
        "transport_maps = inline:{{ remote.example=lmtp:unix:{s} }}\n\
         lmtp_sasl_auth_enable = yes\nlmtp_sasl_password_maps = texthash:{d}/lmtp_passwd\n\
         lmtp_sasl_security_options =\ndebug_peer_list = mail.example.test\n",
        s = sock.display(),
        d = inst.dir.display()
    ));
    let text = std::fs::read_to_string(inst.dir.join("master.cf")).expect("master.cf");
    inst.master_cf(&format!("{text}lmtp unix - - n - - lmtp\n"));
    let dump = inst.dir.join("sink");
    let _sink = kit::lmtp_sink(&sock, &dump);
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        "sender@example.org",
        &["x@remote.example"],
        BODY,
    );
    assert!(
        inst.wait_log(", status=sent (250 2.", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    let auth = inst.log_lines(": AUTH ");
    assert!(
        auth.iter()
            .any(|l| l.contains("> ") && l.contains("AUTH PLAIN ********")),
        "{}",
        inst.maillog()
    );
    assert!(!inst.maillog().contains("s3cret"));
}

#[test]
fn a_second_message_reuses_the_connection() {
    if no_smtp_sink() {
        return;
    }
    let port = free_port();
    let inst = instance(
        "smtp-reuse",
        &format!("relayhost = [127.0.0.1]:{port}\nsmtp_connection_cache_time_limit = 10s\n"),
    );
    let dump = inst.dir.join("sink");
    let _sink = sink(port, &dump, &[]);
    inst.start();
    let smtpd = inst.port("127.0.0.1:0");
    smtp_send(smtpd, "sender@example.org", &["first@remote.example"], BODY);
    assert!(
        inst.wait_log("to=<first@remote.example>", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    smtp_send(
        smtpd,
        "sender@example.org",
        &["second@remote.example"],
        BODY,
    );
    assert!(
        inst.wait_log("to=<second@remote.example>", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    let line = inst
        .log_lines("to=<second@remote.example>")
        .pop()
        .expect("line");
    assert!(
        line.contains(&format!(
            "relay=127.0.0.1[127.0.0.1]:{port}, conn_use=2, delay="
        )) && line.contains("status=sent"),
        "{line}"
    );
    assert!(wait_until(5 * SECOND, || sink_dumps(&dump).len() == 2));
}

/// `smtp_destination_rate_delay`: qmgr sends one message at a time to a
/// destination, each a delay after the last ended; another transport's
/// destination (the relay transport, without a delay) is not held back.
#[test]
fn a_destination_rate_delay_spaces_deliveries() {
    if no_smtp_sink() {
        return;
    }
    let (slow_port, fast_port) = (free_port(), free_port());
    let inst = instance(
        "smtp-rate-delay",
        &format!(
            "smtp_destination_rate_delay = 1s\n\
             transport_maps = inline:{{ slow.example=smtp:[127.0.0.1]:{slow_port}, fast.example=relay:[127.0.0.1]:{fast_port} }}\n"
        ),
    );
    let text = std::fs::read_to_string(inst.dir.join("master.cf")).expect("master.cf");
    inst.master_cf(&format!("{text}relay unix - - n - - smtp\n"));
    let (slow_dump, fast_dump) = (inst.dir.join("slow"), inst.dir.join("fast"));
    let _slow = sink(slow_port, &slow_dump, &[]);
    let _fast = sink(fast_port, &fast_dump, &[]);
    inst.start();
    let smtpd = inst.port("127.0.0.1:0");
    // All six in one session: however slowly a client starts on a busy
    // machine, the fast ones arrive close together.
    kit::python_lines(
        &[],
        &format!(
            "import smtplib\ns = smtplib.SMTP('127.0.0.1', {smtpd}, timeout=20)\nfor n in range(3):\n    for rcpt in ('s%d@slow.example' % n, 'f%d@fast.example' % n):\n        s.sendmail('sender@example.org', [rcpt], {BODY:?}.encode())\ns.quit()\n"
        ),
        &[],
    );
    assert!(
        wait_until(30 * SECOND, || sink_dumps(&slow_dump).len() == 3
            && sink_dumps(&fast_dump).len() == 3),
        "{}",
        inst.maillog()
    );
    let times = |dir: &Path| -> Vec<std::time::SystemTime> {
        let mut t: Vec<_> = files(dir)
            .iter()
            .map(|f| {
                std::fs::metadata(f)
                    .and_then(|m| m.modified())
                    .expect("mtime")
            })
            .collect();
        t.sort();
        t
    };
    let gap = |a: std::time::SystemTime, b: std::time::SystemTime| {
        b.duration_since(a).unwrap_or_default()
    };
    let slow = times(&slow_dump);
    for pair in slow.windows(2) {
        assert!(
            gap(pair[0], pair[1]) >= Duration::from_millis(950),
            "deliveries to slow.example {:?} apart\n{}",
            gap(pair[0], pair[1]),
            inst.maillog()
        );
    }
    let fast = times(&fast_dump);
    assert!(
        gap(fast[0], fast[2]) < gap(slow[0], slow[2]),
        "fast.example was held back too: {:?}\n{}",
        gap(fast[0], fast[2]),
        inst.maillog()
    );
    assert!(
        wait_until(5 * SECOND, || inst.log_lines("status=sent").len() == 6),
        "{}",
        inst.maillog()
    );
}

/// `sender_dependent_default_transport_maps`: mail from one sender domain
/// leaves through another transport and gateway than the rest.
#[test]
fn sender_dependent_default_transport() {
    if no_smtp_sink() {
        return;
    }
    let (usual_port, special_port) = (free_port(), free_port());
    let inst = instance(
        "smtp-sender-transport",
        &format!(
            "relayhost = [127.0.0.1]:{usual_port}\n\
             sender_dependent_default_transport_maps = inline:{{ @special.example=relay:[127.0.0.1]:{special_port} }}\n"
        ),
    );
    let text = std::fs::read_to_string(inst.dir.join("master.cf")).expect("master.cf");
    inst.master_cf(&format!("{text}relay unix - - n - - smtp\n"));
    let (usual, special) = (inst.dir.join("usual"), inst.dir.join("special"));
    let _usual = sink(usual_port, &usual, &[]);
    let _special = sink(special_port, &special, &[]);
    inst.start();
    let smtpd = inst.port("127.0.0.1:0");
    smtp_send(smtpd, "a@special.example", &["u@remote.example"], BODY);
    smtp_send(smtpd, "b@other.example", &["v@remote.example"], BODY);
    assert!(
        wait_until(15 * SECOND, || files(&usual).len() == 1
            && files(&special).len() == 1),
        "{}",
        inst.maillog()
    );
    // The sinks make their files at MAIL FROM; smtp logs after the end.
    assert!(
        inst.wait_log("to=<u@remote.example>", 1, 15 * SECOND)
            && inst.wait_log("to=<v@remote.example>", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    let line = |to: &str| {
        inst.log_lines(&format!("to=<{to}>"))
            .pop()
            .unwrap_or_default()
    };
    assert!(
        line("u@remote.example").contains(&format!("]:{special_port}, ")),
        "{}",
        inst.maillog()
    );
    assert!(
        line("v@remote.example").contains(&format!("]:{usual_port}, ")),
        "{}",
        inst.maillog()
    );
}

/// `defer_transports`: mail for the smtp transport waits in the queue,
/// queue runs and all, until a flush takes it: `postqueue -i` one message,
/// `postqueue -f` the rest.
#[test]
fn defer_transports_hold_mail_until_a_flush() {
    if no_smtp_sink() {
        return;
    }
    let port = free_port();
    let inst = instance(
        "smtp-defer-transports",
        &format!(
            "relayhost = [127.0.0.1]:{port}\ndefer_transports = smtp\nqueue_run_delay = 1s\n\
             minimal_backoff_time = 1s\nmaximal_backoff_time = 1s\n"
        ),
    );
    let dump = inst.dir.join("sink");
    let _sink = sink(port, &dump, &[]);
    inst.start();
    let smtpd = inst.port("127.0.0.1:0");
    smtp_send(smtpd, "sender@example.org", &["a@one.example"], BODY);
    smtp_send(smtpd, "sender@example.org", &["b@two.example"], BODY);
    let held = "relay=none, delay=";
    assert!(
        inst.wait_log(
            "dsn=4.3.2, status=deferred (deferred transport)",
            2,
            15 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    for line in inst.log_lines("(deferred transport)") {
        assert!(line.contains(held), "{line}");
    }
    // Queue runs come and go: the mail stays, and the listing says why.
    assert!(
        inst.wait_log(
            "dsn=4.3.2, status=deferred (deferred transport)",
            4,
            15 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    assert!(sink_dumps(&dump).is_empty());
    // qmgr rewrites a message's defer log after each run's lines.
    assert!(
        wait_until(5 * SECOND, || postqueue(&inst, "-p")
            .matches("(deferred transport)")
            .count()
            == 2),
        "{}",
        postqueue(&inst, "-p")
    );
    let a_id = queue_id_of(&inst, "to=<a@one.example>");
    let out = postqueue_args(&inst, &["-i", &a_id]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        wait_until(15 * SECOND, || !inst
            .log_lines("to=<a@one.example>, relay=127.0.0.1")
            .is_empty()),
        "postqueue -i delivers that message: {}",
        inst.maillog()
    );
    assert!(inst
        .log_lines("to=<b@two.example>, relay=127.0.0.1")
        .is_empty());
    assert_eq!(postqueue(&inst, "-f"), "");
    assert!(
        wait_until(15 * SECOND, || !inst
            .log_lines("to=<b@two.example>, relay=127.0.0.1")
            .is_empty()),
        "postqueue -f delivers the rest: {}",
        inst.maillog()
    );
    assert!(wait_until(5 * SECOND, || sink_dumps(&dump).len() == 2));
    assert!(
        wait_until(5 * SECOND, || queue_is_empty(&inst)),
        "{}",
        postqueue(&inst, "-p")
    );
}

/// The queue ID of the first log line that matches `pattern`.
fn queue_id_of(inst: &Instance, pattern: &str) -> String {
    let lines = inst.log_lines(pattern);
    let line = lines.first().expect("a log line");
    let rest = line.split("]: ").nth(1).expect("a program's line");
    rest.split(':').next().expect("a queue ID").to_string()
}

/// An SMTP server with STARTTLS in Python's ssl module (OpenSSL) that
/// writes the server name each session's client asked for (SNI), or `-`
/// for none, to OUT, one line per message.
const SNI_SERVER: &str = r#"
import socket, ssl, sys
port, cert, key, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
asked = []
def sni(obj, name, c):
    asked.append(name or "-")
ctx.sni_callback = sni
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(5)
srv.settimeout(60)
def session(conn):
    conn.settimeout(10)
    f = conn.makefile("rwb")
    def say(*lines):
        for l in lines:
            f.write(l.encode() + b"\r\n")
        f.flush()
    say("220 sni.test ESMTP")
    secure = False
    while True:
        line = f.readline()
        if not line:
            break
        verb = line.decode("latin-1").strip()[:4].upper()
        if verb == "EHLO":
            say(*(["250-sni.test"] + ([] if secure else ["250-STARTTLS"]) + ["250 8BITMIME"]))
        elif verb == "STAR":
            say("220 2.0.0 Ready to start TLS")
            conn = ctx.wrap_socket(conn, server_side=True)
            f = conn.makefile("rwb")
            secure = True
        elif verb == "DATA":
            say("354 End data with <CR><LF>.<CR><LF>")
            while f.readline() not in (b".\r\n", b""):
                pass
            with open(out, "a") as o:
                o.write((asked[-1] if secure and asked else "plain") + "\n")
            say("250 2.0.0 Ok: queued")
        elif verb == "QUIT":
            say("221 2.0.0 Bye")
            break
        else:
            say("250 2.0.0 Ok")
    conn.close()
for _ in range(10):
    conn, _ = srv.accept()
    # A client that goes away (the test's readiness probe) ends only its
    # own session.
    try:
        session(conn)
    except OSError:
        conn.close()
"#;

/// `smtp_tls_servername` (and a policy's `servername=`): what the client
/// asks for in SNI, as a real TLS server (OpenSSL's, through Python) sees
/// it. None by default, as in Postfix.
#[test]
fn tls_servername_sets_the_sni_name() {
    let dir = kit::Scratch::new("smtp-sni");
    let Some((cert, key)) = self_signed(&dir, "mx.remote.example") else {
        eprintln!("skipped: no openssl");
        return;
    };
    let port = free_port();
    let out = dir.join("sni.txt");
    let _server = kit::Proc(
        Command::new("python3")
            .args(["-c", SNI_SERVER, &port.to_string()])
            .args([&cert, &key, &out])
            .spawn()
            .expect("python3"),
    );
    assert!(wait_until(10 * SECOND, || std::net::TcpStream::connect((
        "127.0.0.1",
        port
    ))
    .is_ok()));
    // The probe above was a session too.
    let cases = [
        ("", "-"),
        ("smtp_tls_servername = mail.example.net\n", "mail.example.net"),
        (
            "smtp_tls_servername = mail.example.net\nsmtp_tls_policy_maps = inline:{ {[127.0.0.1]:PORT = may servername=policy.example} }\n",
            "policy.example",
        ),
        ("smtp_tls_servername = hostname\n", "-"),
    ];
    for (n, (conf, _)) in cases.iter().enumerate() {
        let conf = conf.replace("PORT", &port.to_string());
        let inst = instance(
            &format!("smtp-sni-{n}"),
            &format!("relayhost = [127.0.0.1]:{port}\nsmtp_tls_security_level = may\n{conf}"),
        );
        inst.start();
        smtp_send(
            inst.port("127.0.0.1:0"),
            "s@example.org",
            &["r@remote.example"],
            BODY,
        );
        assert!(
            inst.wait_log("status=sent (250 2.0.0 Ok: queued)", 1, 15 * SECOND),
            "{}",
            inst.maillog()
        );
        assert_eq!(inst.log_lines("TLS connection established to").len(), 1);
    }
    let seen = std::fs::read_to_string(&out).unwrap_or_default();
    let want: Vec<&str> = cases.iter().map(|(_, w)| *w).collect();
    assert_eq!(seen.lines().collect::<Vec<_>>(), want, "SNI per case");
}

/// smtp_per_request_deadline: a server that trickles its greeting, a line
/// at a time, each within the time limit, is given smtp_helo_timeout for
/// the whole greeting, not per read.
#[test]
fn a_trickled_greeting_meets_the_per_request_deadline() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        // 20 lines, 0.4 s apart: 8 s in all, each well within 2 s.
        for _ in 0..20 {
            if std::io::Write::write_all(&mut s, b"220-still greeting\r\n").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(400));
        }
    });
    let inst = instance(
        "smtp-deadline",
        &format!(
            "relayhost = [127.0.0.1]:{port}\nsmtp_helo_timeout = 2s\nsmtp_per_request_deadline = yes\n"
        ),
    );
    inst.start();
    let started = std::time::Instant::now();
    smtp_send(
        inst.port("127.0.0.1:0"),
        "sender@example.org",
        &["slow@remote.example"],
        BODY,
    );
    assert!(
        inst.wait_log(
            "status=deferred (conversation with 127.0.0.1[127.0.0.1] timed out while receiving the initial server greeting)",
            1,
            15 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    assert!(
        started.elapsed() < Duration::from_secs(7),
        "the deadline did not hold: {:?}",
        started.elapsed()
    );
    let _ = server.join();
}

/// VERP (Postfix's VERP_README): a mailing list's MAIL FROM with XVERP,
/// from a client in smtpd_authorized_verp_clients, is delivered one
/// recipient per transaction with the recipient in the sender
/// (owner-list+a=x.example@lists.example); a recipient that fails gets its
/// bounce at its own VERP address; bad delimiters and the null sender are
/// refused as Postfix refuses them; `sendmail -XV` does the
/// same for mail posted on the host.
#[test]
fn verp_gives_each_recipient_its_own_return_path() {
    if no_smtp_sink() {
        return;
    }
    let port = free_port();
    let inst = instance(
        "smtp-verp",
        &format!(
            "relayhost = [127.0.0.1]:{port}\n\
             smtpd_authorized_verp_clients = 127.0.0.1\n\
             transport_maps = inline:{{ {{bad@x.example=error:5.1.1 no such user}} }}\n"
        ),
    );
    inst.master_cf(
        "127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nsmtp unix - - n - - smtp\nbounce unix - - n - 0 bounce\npickup unix n - n 60 1 pickup\n",
    );
    let dump = inst.dir.join("sink");
    let _sink = sink(port, &dump, &[]);
    inst.start();
    let smtpd = inst.port("127.0.0.1:0");
    let ask = |c: &mut kit::LineClient, line: &str| c.ask(line).unwrap_or_default();
    let mut c = kit::LineClient::connect(smtpd);
    c.read_line();
    c.ask_crlf("EHLO list.example");
    let mut ehlo = Vec::new();
    while let Some(l) = c.read_line() {
        let last = l.starts_with("250 ");
        ehlo.push(l);
        if last {
            break;
        }
    }
    assert!(ehlo.iter().any(|l| l == "250-XVERP"), "{ehlo:?}");
    assert_eq!(
        ask(&mut c, "MAIL FROM:<owner@lists.example> XVERP=ab"),
        "501 5.5.4 Error: XVERP needs two characters from -=+"
    );
    assert_eq!(
        ask(&mut c, "MAIL FROM:<> XVERP"),
        "503 5.5.4 Error: XVERP requires non-null sender"
    );
    assert_eq!(
        ask(&mut c, "MAIL FROM:<owner-list@lists.example> XVERP"),
        "250 2.1.0 Ok"
    );
    for r in ["a@x.example", "b@y.example", "bad@x.example"] {
        assert_eq!(ask(&mut c, &format!("RCPT TO:<{r}>")), "250 2.1.5 Ok");
    }
    assert!(ask(&mut c, "DATA").starts_with("354 "));
    assert!(ask(&mut c, "Subject: list mail\r\n\r\nhello list\r\n.")
        .starts_with("250 2.0.0 Ok: queued as "));
    c.quit();
    // sendmail -XV on the host.
    let mut post = Command::new(inst.bin.join("sendmail"))
        .env("MAIL_CONFIG", &inst.dir)
        .args(["-f", "news@lists.example", "-XV", "c@z.example"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("sendmail");
    use std::io::Write;
    post.stdin
        .take()
        .expect("stdin")
        .write_all(b"Subject: posted\n\nfrom the host\n")
        .expect("write");
    assert!(post.wait().expect("sendmail").success());

    // Three deliveries, one per recipient, and the bounce.
    assert!(
        wait_until(20 * SECOND, || sink_dumps(&dump).len() == 4),
        "{}",
        inst.maillog()
    );
    let dumps: Vec<String> = sink_dumps(&dump)
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("dump"))
        .collect();
    let with = |mail: &str, rcpt: &str| {
        dumps.iter().any(|t| {
            t.contains(&format!("X-Mail-Args: <{mail}>"))
                && t.contains(&format!("X-Rcpt-Args: <{rcpt}>"))
                && t.matches("X-Rcpt-Args:").count() == 1
        })
    };
    assert!(
        with("owner-list+a=x.example@lists.example", "a@x.example"),
        "{dumps:?}"
    );
    assert!(
        with("owner-list+b=y.example@lists.example", "b@y.example"),
        "{dumps:?}"
    );
    assert!(
        with("news+c=z.example@lists.example", "c@z.example"),
        "{dumps:?}"
    );
    // The bounce goes to the address that names the failed recipient, and
    // reports it alone.
    assert!(
        with("", "owner-list+bad=x.example@lists.example"),
        "{dumps:?}"
    );
    let bounce = dumps
        .iter()
        .find(|t| t.contains("X-Rcpt-Args: <owner-list+bad=x.example@lists.example>"))
        .expect("bounce");
    assert!(
        bounce.contains("Final-Recipient: rfc822; bad@x.example"),
        "{bounce}"
    );
    assert!(
        !bounce.contains("Final-Recipient: rfc822; a@x.example"),
        "{bounce}"
    );
    // The queue manager logs the list's own sender.
    assert!(
        !inst
            .log_lines("from=<owner-list@lists.example>, size=")
            .is_empty(),
        "{}",
        inst.maillog()
    );
    inst.stop();

    // disable_verp_bounces = yes: one notice, to the list's own sender, for
    // all the failed recipients.
    let port = free_port();
    let inst = instance(
        "smtp-verp-one-bounce",
        &format!(
            "relayhost = [127.0.0.1]:{port}\n\
             smtpd_authorized_verp_clients = 127.0.0.1\n\
             disable_verp_bounces = yes\n\
             transport_maps = inline:{{ {{x.example=error:5.1.1 no such user}} }}\n"
        ),
    );
    let dump = inst.dir.join("sink");
    let _sink = sink(port, &dump, &[]);
    inst.start();
    let mut c = kit::LineClient::connect(inst.port("127.0.0.1:0"));
    c.read_line();
    c.ask_crlf("HELO list.example");
    assert_eq!(
        ask(&mut c, "MAIL FROM:<owner-list@lists.example> XVERP"),
        "250 2.1.0 Ok"
    );
    for r in ["a@x.example", "b@x.example"] {
        assert_eq!(ask(&mut c, &format!("RCPT TO:<{r}>")), "250 2.1.5 Ok");
    }
    assert!(ask(&mut c, "DATA").starts_with("354 "));
    assert!(ask(&mut c, "Subject: list mail\r\n\r\nhello list\r\n.").starts_with("250 "));
    c.quit();
    assert!(
        wait_until(20 * SECOND, || sink_dumps(&dump).len() == 1),
        "{}",
        inst.maillog()
    );
    std::thread::sleep(SECOND);
    let dumps = sink_dumps(&dump);
    assert_eq!(dumps.len(), 1, "{}", inst.maillog());
    let bounce = std::fs::read_to_string(&dumps[0]).expect("dump");
    assert!(
        bounce.contains("X-Rcpt-Args: <owner-list@lists.example>"),
        "{bounce}"
    );
    assert!(
        bounce.contains("Final-Recipient: rfc822; a@x.example")
            && bounce.contains("Final-Recipient: rfc822; b@x.example"),
        "{bounce}"
    );
}

/// debug_peer_list: the conversation with a listed client (smtpd) or
/// server (smtp) is logged line by line, `< peer: …` for what came in and
/// `> peer: …` for what went out, as Postfix's verbose logging shows it;
/// other peers' are not.
#[test]
fn debug_peer_list_logs_the_conversation() {
    if no_smtp_sink() {
        return;
    }
    let port = free_port();
    let inst = instance(
        "smtp-debug-peer",
        &format!("relayhost = [127.0.0.1]:{port}\ndebug_peer_list = 127.0.0.1\n"),
    );
    let dump = inst.dir.join("sink");
    let _sink = sink(port, &dump, &[]);
    inst.start();
    smtp_send(
        inst.port("127.0.0.1:0"),
        "sender@example.org",
        &["one@remote.example"],
        BODY,
    );
    assert!(
        inst.wait_log("status=sent (250 2.0.0 Ok)", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    let log = inst.maillog();
    // smtpd, with its client.
    assert!(
        log.contains("]: < localhost[127.0.0.1]: mail FROM:<sender@example.org>"),
        "{log}"
    );
    assert!(
        log.contains("]: > localhost[127.0.0.1]: 250 2.1.0 Ok"),
        "{log}"
    );
    assert!(
        log.contains("]: > localhost[127.0.0.1]: 220 mail.example.test ESMTP"),
        "{log}"
    );
    // smtp, with its server; the message itself is not logged.
    let server = format!("127.0.0.1[127.0.0.1]:{port}");
    assert!(
        log.contains(&format!("]: > {server}: MAIL FROM:<sender@example.org>")),
        "{log}"
    );
    assert!(
        log.contains(&format!("]: < {server}: 250 2.0.0 Ok")),
        "{log}"
    );
    assert!(!log.contains("first line"), "{log}");
}

/// The client's TLS 1.2 suites follow smtp_tls_ciphers and the exclusion
/// lists (smtp_tls_mandatory_* where TLS is required, a TLS policy's own
/// protocols=, ciphers= and exclude= for its destination): the receiving
/// server, which has them all, gets what is left, and both sides log it
/// by OpenSSL's name.
#[test]
fn the_clients_tls12_suites_follow_its_cipher_settings() {
    let Some((remote, port)) = tls_receiver(
        "smtp-ciphers-remote",
        "smtpd_tls_security_level = may\n",
        "",
    ) else {
        eprintln!("skipped: openssl missing");
        return;
    };
    for (name, tls, suite) in [
        (
            "smtp-ciphers-may",
            "smtp_tls_security_level = may\nsmtp_tls_protocols = !TLSv1.3\n\
             smtp_tls_exclude_ciphers = AES256, CHACHA20\n",
            "ECDHE-ECDSA-AES128-GCM-SHA256 (128/128 bits)",
        ),
        (
            "smtp-ciphers-encrypt",
            "smtp_tls_security_level = encrypt\nsmtp_tls_mandatory_protocols = TLSv1.2\n\
             smtp_tls_mandatory_ciphers = high\ntls_high_cipherlist = ECDHE+AESGCM\n\
             smtp_tls_mandatory_exclude_ciphers = AES128\n",
            "ECDHE-ECDSA-AES256-GCM-SHA384 (256/256 bits)",
        ),
        (
            // A policy's protocols=, ciphers= and exclude= replace main.cf's.
            "smtp-ciphers-policy",
            "smtp_tls_security_level = may\nsmtp_tls_exclude_ciphers = CHACHA20\n\
             smtp_tls_policy_maps = inline:{ {[127.0.0.1]:PORT = encrypt protocols=TLSv1.2 \
             ciphers=high exclude=AESGCM} }\n",
            "ECDHE-ECDSA-CHACHA20-POLY1305 (256/256 bits)",
        ),
    ] {
        let tls = tls.replace("PORT", &port.to_string());
        let session = format!("TLSv1.2 with cipher {suite}");
        relay_over_tls_as(name, &remote, port, &tls, &session);
        assert!(
            remote.wait_log(&format!("TLSv1.2 with cipher {suite}"), 1, 5 * SECOND),
            "{}",
            remote.maillog()
        );
    }
}

/// Routing operators in an address, as Postfix's defaults have them
/// (allow_percent_hack, swap_bangpath, resolve_dequoted_address; compared
/// with Postfix 3.7 side by side): cleanup turns `user%site` and
/// `site!user` without a domain into `user@site`, and qmgr strips this
/// host's own domains and looks again, so `user%site@ours`,
/// `site!user@ours` and `"user@site"@ours` go to site as `user@site`, the
/// queue file's address logged as orig_to. With the settings off, the
/// same addresses stay local.
#[test]
fn routing_operators_in_the_local_part() {
    if no_smtp_sink() {
        return;
    }
    const CASES: [(&str, &str); 6] = [
        ("bob%remote.example", "bob%remote.example"),
        (
            "bob%remote.example@local.test",
            "bob%remote.example@local.test",
        ),
        ("remote.example!bob", "remote.example!bob"),
        (
            "remote.example!bob@localhost",
            "remote.example!bob@localhost",
        ),
        (
            "bob@remote.example@local.test",
            "\"bob@remote.example\"@local.test",
        ),
        (
            "carol%remote.example%x.example@local.test",
            "carol%remote.example%x.example@local.test",
        ),
    ];
    let port = free_port();
    let inst = instance(
        "routing-ops",
        &format!(
            "relayhost = [127.0.0.1]:{port}\nmydestination = $myhostname, localhost, local.test\nmyorigin = local.test\n"
        ),
    );
    let cf = std::fs::read_to_string(inst.dir.join("master.cf")).expect("master.cf");
    inst.master_cf(&format!("{cf}pickup unix n - n 60 1 pickup\n"));
    let dump = inst.dir.join("sink");
    let _sink = sink(port, &dump, &[]);
    inst.start();
    for (rcpt, _) in CASES {
        let out = inst.sendmail(&["-f", "me@local.test", "--", rcpt], b"Subject: t\n\nx\n");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        inst.wait_log("status=sent", CASES.len(), 15 * SECOND),
        "{}",
        inst.maillog()
    );
    for (i, (_, orig)) in CASES.iter().enumerate() {
        let to = if i == 5 {
            "carol%remote.example@x.example"
        } else {
            "bob@remote.example"
        };
        let want = format!("to=<{to}>, orig_to=<{orig}>, relay=127.0.0.1[127.0.0.1]:{port}");
        assert_eq!(inst.log_lines(&want).len(), 1, "{want}: {}", inst.maillog());
    }
    let rcpts: Vec<String> = sink_dumps(&dump)
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("dump"))
        .collect();
    assert_eq!(
        rcpts
            .iter()
            .filter(|t| t.contains("X-Rcpt-Args: <bob@remote.example>"))
            .count(),
        5,
        "{rcpts:?}"
    );
    inst.stop();

    // Off: the same addresses are this host's users (none of them is);
    // and with info_log_address_format = internal the log shows them
    // unquoted.
    inst.main_cf("allow_percent_hack = no\nswap_bangpath = no\nresolve_dequoted_address = no\nlocal_transport = error:5.1.1 no local delivery here\ninfo_log_address_format = internal\n");
    inst.start();
    for (rcpt, _) in &CASES[..5] {
        let out = inst.sendmail(&["-f", "me@local.test", "--", rcpt], b"Subject: t\n\nx\n");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for want in [
        "to=<bob%remote.example@local.test>, orig_to=<bob%remote.example>, relay=none",
        "to=<bob%remote.example@local.test>, relay=none",
        "to=<remote.example!bob@local.test>, orig_to=<remote.example!bob>, relay=none",
        "to=<remote.example!bob@localhost>, relay=none",
        "to=<bob@remote.example@local.test>, relay=none",
    ] {
        assert!(
            wait_until(15 * SECOND, || inst.log_lines(want).len() == 1),
            "{want}: {}",
            inst.maillog()
        );
    }
}

/// smtpd judges a routed recipient by where it resolves, as Postfix's
/// smtpd does (compared side by side with Postfix 3.7): from outside
/// mynetworks, `user%site@ours` may go only where relaying is allowed (a
/// relay domain), never to another site or with routing left over; from
/// mynetworks it is accepted without a local-user check (the user is
/// site's) and relayed as `user@site`.
#[test]
fn smtpd_judges_routed_recipients_by_where_they_go() {
    if no_smtp_sink() {
        return;
    }
    let port = free_port();
    let inst = instance(
        "routing-smtpd",
        &format!(
            "relayhost = [127.0.0.1]:{port}\nmydestination = $myhostname, localhost, local.test\nrelay_domains = relay.example\nmynetworks = 127.0.0.1/32\n"
        ),
    );
    let dump = inst.dir.join("sink");
    let _sink = sink(port, &dump, &[]);
    inst.start();
    let script = r#"
import smtplib, sys
port = int(sys.argv[1])
for src in ["127.0.0.2", "127.0.0.1"]:
    s = smtplib.SMTP("127.0.0.1", port, source_address=(src, 0), timeout=30)
    s.ehlo("client.example")
    s.mail("me@sender.example")
    for r in sys.argv[2:]:
        code, text = s.rcpt(r)
        print(src, r, code, text.decode())
    s.rset()
    s.quit()
"#;
    let rcpts = [
        "bob%remote.example@local.test",
        "bob%relay.example@local.test",
        "bob%x.example@relay.example",
        "remote.example!bob@local.test",
    ];
    let smtpd = inst.port("127.0.0.1:0").to_string();
    let mut args = vec![smtpd.as_str()];
    args.extend(rcpts);
    let lines = kit::python_lines(&[], script, &args);
    let denied = |r: &str| format!("454 4.7.1 <{r}>: Relay access denied");
    assert_eq!(
        lines,
        vec![
            format!("127.0.0.2 {} {}", rcpts[0], denied(rcpts[0])),
            format!("127.0.0.2 {} 250 2.1.5 Ok", rcpts[1]),
            format!("127.0.0.2 {} {}", rcpts[2], denied(rcpts[2])),
            format!("127.0.0.2 {} {}", rcpts[3], denied(rcpts[3])),
            format!("127.0.0.1 {} 250 2.1.5 Ok", rcpts[0]),
            format!("127.0.0.1 {} 250 2.1.5 Ok", rcpts[1]),
            format!("127.0.0.1 {} 250 2.1.5 Ok", rcpts[2]),
            format!("127.0.0.1 {} 250 2.1.5 Ok", rcpts[3]),
        ],
        "{}",
        inst.maillog()
    );
    smtp_send(
        inst.port("127.0.0.1:0"),
        "me@sender.example",
        &["bob%remote.example@local.test"],
        BODY,
    );
    inst.expect_log(
        "to=<bob@remote.example>, orig_to=<bob%remote.example@local.test>, relay=127.0.0.1",
        15 * SECOND,
    );
}
