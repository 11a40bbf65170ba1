//! Address verification end to end: smtpd's reject_unverified_recipient
//! and reject_unverified_sender ask the verify service, which sends a
//! probe through cleanup and qmgr; the SMTP client tries the address at
//! the next hop (a second mailsuite that knows one user) up to RCPT TO and
//! no further, and the answer comes back to verify and to the client.

use kit::{wait_until, Instance, LineClient};
use std::path::Path;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// An SMTP client past the greeting, whose commands get one-line replies.
struct Client(LineClient);

impl Client {
    fn connect(port: u16) -> Client {
        let mut c = LineClient::connect(port);
        let greeting = c.read_line().unwrap_or_default();
        assert!(greeting.starts_with("220 "), "{greeting}");
        Client(c)
    }

    fn ask(&mut self, cmd: &str) -> String {
        self.0.ask_crlf(cmd).unwrap_or_default()
    }
}

/// The next hop: smtpd and cleanup, knowing only known@downstream.example.
fn downstream() -> Instance {
    let inst = Instance::new("verify-downstream");
    inst.main_cf(
        "mydestination = downstream.example\nlocal_recipient_maps = inline:{ known=1 }\nalias_maps =\n",
    );
    inst.master_cf("127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\n");
    inst.start();
    inst
}

/// The front: relays downstream.example to `next` and verifies
/// recipients there first (and senders, for mail from downstream.example).
fn front(next: u16, extra: &str) -> Instance {
    let inst = Instance::new("verify-front");
    inst.main_cf(&format!(
        "mydestination =\nrelay_domains = downstream.example\nalias_maps =\n\
         transport_maps = inline:{{ downstream.example=smtp:[127.0.0.1]:{next} }}\n\
         smtpd_recipient_restrictions = reject_unverified_recipient, permit_mynetworks, reject_unauth_destination\n\
         address_verify_poll_delay = 1s\n{extra}"
    ));
    inst.master_cf(
        "127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\n\
         smtp unix - - n - - smtp\nbounce unix - - n - 0 bounce\nverify unix - - n - 1 verify\n",
    );
    inst.start();
    inst
}

fn files_under(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        files_under(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn recipients_and_senders_are_verified_at_the_next_hop() {
    let next = downstream();
    let inst = front(
        next.port("127.0.0.1:0"),
        "smtpd_sender_restrictions = reject_unverified_sender\n",
    );
    let port = inst.port("127.0.0.1:0");
    let mut c = Client::connect(port);
    assert!(c.ask("HELO client.example").starts_with("250 "));
    assert_eq!(
        c.ask("MAIL FROM:<known@downstream.example>"),
        "250 2.1.0 Ok"
    );
    // The probe finishes within the polls: the answer is the next hop's.
    assert_eq!(c.ask("RCPT TO:<known@downstream.example>"), "250 2.1.5 Ok");
    assert_eq!(
        c.ask("RCPT TO:<nobody@downstream.example>"),
        "450 4.1.1 <nobody@downstream.example>: Recipient address rejected: undeliverable address: host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <nobody@downstream.example>: Recipient address rejected: User unknown in local recipient table (in reply to RCPT TO command)"
    );
    // Now from the cache, at once.
    assert_eq!(c.ask("RCPT TO:<known@downstream.example>"), "250 2.1.5 Ok");
    assert_eq!(c.ask("RSET"), "250 2.0.0 Ok");
    // A sender that the next hop does not know (refused at RCPT, as
    // smtpd_delay_reject has it).
    assert_eq!(
        c.ask("MAIL FROM:<forged@downstream.example>"),
        "250 2.1.0 Ok"
    );
    let refused = c.ask("RCPT TO:<known@downstream.example>");
    assert!(
        refused.starts_with("450 4.1.7 <forged@downstream.example>: Sender address rejected: undeliverable address: host 127.0.0.1[127.0.0.1] said: 550 5.1.1"),
        "{refused}"
    );
    assert_eq!(c.ask("QUIT"), "221 2.0.0 Bye");
    // The probes' delivery lines, and no probe reached the next hop's queue
    // or stayed in this one.
    assert!(
        inst.wait_log(
            "to=<known@downstream.example>, relay=127.0.0.1[127.0.0.1]",
            1,
            5 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    let line = inst
        .log_lines("to=<known@downstream.example>, relay=")
        .remove(0);
    assert!(line.contains("status=deliverable (250 2.1.5 Ok)"), "{line}");
    let line = inst
        .log_lines("to=<nobody@downstream.example>, relay=")
        .remove(0);
    assert!(
        line.contains("dsn=5.1.1, status=undeliverable (host 127.0.0.1[127.0.0.1] said: 550 5.1.1"),
        "{line}"
    );
    assert!(
        wait_until(5 * SECOND, || inst.log_lines(": removed").len() == 3),
        "{}",
        inst.maillog()
    );
    assert_eq!(files_under(&inst.dir.join("queue/incoming")), 0);
    assert_eq!(files_under(&inst.dir.join("queue/deferred")), 0);
    assert_eq!(files_under(&inst.dir.join("queue/active")), 0);
    assert_eq!(
        files_under(&next.dir.join("queue/incoming")),
        0,
        "{}",
        next.maillog()
    );
    assert!(
        inst.log_lines("non-delivery notification").is_empty(),
        "no notices: {}",
        inst.maillog()
    );
}

/// `address_verify_poll_count = 1`: the first request for a new address is
/// always deferred (Postfix's crude greylisting); the next one has the answer.
#[test]
fn one_poll_defers_a_new_address_once() {
    let next = downstream();
    let inst = front(next.port("127.0.0.1:0"), "address_verify_poll_count = 1\n");
    let port = inst.port("127.0.0.1:0");
    let mut c = Client::connect(port);
    c.ask("HELO client.example");
    assert_eq!(
        c.ask("MAIL FROM:<known@downstream.example>"),
        "250 2.1.0 Ok"
    );
    assert_eq!(
        c.ask("RCPT TO:<known@downstream.example>"),
        "450 4.1.1 <known@downstream.example>: Recipient address rejected: unverified address: Address verification in progress"
    );
    assert!(
        inst.wait_log("status=deliverable", 1, 10 * SECOND),
        "{}",
        inst.maillog()
    );
    // smtp logs that before qmgr hands the result to verify; qmgr then
    // removes the probe.
    assert!(
        inst.wait_log(": removed", 1, 10 * SECOND),
        "{}",
        inst.maillog()
    );
    assert_eq!(c.ask("RCPT TO:<known@downstream.example>"), "250 2.1.5 Ok");
    drop(c);
    // The result survives a restart (address_verify_map): known at once,
    // with no new probe.
    inst.stop();
    inst.start();
    let mut c = Client::connect(inst.port("127.0.0.1:0"));
    c.ask("HELO client.example");
    assert_eq!(c.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert_eq!(c.ask("RCPT TO:<known@downstream.example>"), "250 2.1.5 Ok");
    assert_eq!(
        inst.log_lines("status=deliverable").len(),
        1,
        "{}",
        inst.maillog()
    );
}

/// Without the verify service: defer_if_permit (the default tempfail
/// action), so a client that is otherwise refused gets the refusal and one
/// that is permitted gets 450.
#[test]
fn no_verify_service_defers() {
    let inst = Instance::new("verify-none");
    inst.main_cf(
        "mydestination =\nrelay_domains = downstream.example\nalias_maps =\n\
         smtpd_recipient_restrictions = reject_unverified_recipient, permit_mynetworks, reject_unauth_destination\n",
    );
    inst.master_cf("127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\n");
    inst.start();
    let mut c = Client::connect(inst.port("127.0.0.1:0"));
    c.ask("HELO client.example");
    c.ask("MAIL FROM:<known@downstream.example>");
    assert_eq!(
        c.ask("RCPT TO:<x@downstream.example>"),
        "450 4.1.1 <x@downstream.example>: Recipient address rejected: address verification problem"
    );
    assert!(inst.wait_log("warning: verify service failure", 1, 5 * SECOND));
}

/// A started instance whose smtpd verifies recipients of its local domain
/// front.example with the verify service and local; `extra` is added to
/// its main.cf.
fn local_front(tag: &str, extra: &str) -> Instance {
    let inst = Instance::new(tag);
    inst.main_cf(&format!(
        "mydestination = front.example\nlocal_recipient_maps =\n\
         smtpd_recipient_restrictions = reject_unverified_recipient, permit_mynetworks, reject_unauth_destination\n\
         address_verify_poll_delay = 1s\n{extra}"
    ));
    inst.master_cf(
        "127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\n\
         local unix - n n - - local\nbounce unix - - n - 0 bounce\nverify unix - - n - 1 verify\n",
    );
    inst.start();
    inst
}

/// Probes for a local domain go to local, which looks the user up and
/// delivers nothing.
#[test]
fn local_recipients_are_looked_up_not_delivered() {
    let inst = local_front(
        "verify-local",
        "alias_maps = inline:{ postmaster=root }\nmail_spool_directory = /nonexistent/spool\n",
    );
    let mut c = Client::connect(inst.port("127.0.0.1:0"));
    c.ask("HELO client.example");
    assert_eq!(c.ask("MAIL FROM:<>"), "250 2.1.0 Ok");
    assert_eq!(c.ask("RCPT TO:<root@front.example>"), "250 2.1.5 Ok");
    assert_eq!(c.ask("RCPT TO:<postmaster@front.example>"), "250 2.1.5 Ok");
    assert_eq!(
        c.ask("RCPT TO:<nosuchuser@front.example>"),
        "450 4.1.1 <nosuchuser@front.example>: Recipient address rejected: undeliverable address: unknown user: \"nosuchuser\""
    );
    // The verify service's probe stops at the alias, as Postfix's local
    // does (sendmail -bv follows it; see tests/local_commands.rs).
    let line = inst.log_lines("to=<postmaster@front.example>").remove(0);
    assert!(
        line.contains("relay=local") && line.contains("status=deliverable (aliased to root)"),
        "{line}"
    );
    // Nothing was written to a mailbox (the spool does not even exist).
    assert!(
        inst.log_lines("status=sent").is_empty(),
        "{}",
        inst.maillog()
    );
}

/// A user with a .forward: the verify service's probe stops at the file
/// ("forward via file: …", as Postfix 3.7 logs it) and nothing is
/// forwarded or delivered.
#[test]
fn a_probe_stops_at_a_forward_file() {
    let Some(user) = kit::root_user("vf") else {
        return;
    };
    let fwd = user.forward("~/saved\nsomeone@remote.example\n");
    let inst = local_front("verify-forward", "alias_maps =\n");
    let mut c = Client::connect(inst.port("127.0.0.1:0"));
    c.ask("HELO client.example");
    assert_eq!(c.ask("MAIL FROM:<>"), "250 2.1.0 Ok");
    let rcpt = format!("{}@front.example", user.name);
    assert_eq!(c.ask(&format!("RCPT TO:<{rcpt}>")), "250 2.1.5 Ok");
    let line = inst.log_lines(&format!("to=<{rcpt}>")).remove(0);
    assert!(
        line.contains(&format!(
            "status=deliverable (forward via file: {})",
            fwd.display()
        )),
        "{line}"
    );
    assert!(!user.home.join("saved").exists());
    assert!(
        inst.log_lines("someone@remote.example").is_empty(),
        "{}",
        inst.maillog()
    );
}

/// `address_verify_transport_maps`: probes may go elsewhere than mail
/// (here to a second next hop that knows another user).
#[test]
fn probes_follow_address_verify_transport_maps() {
    let mail_hop = downstream();
    let probe_hop = Instance::new("verify-probe-hop");
    probe_hop.main_cf(
        "mydestination = downstream.example\nlocal_recipient_maps = inline:{ other=1 }\nalias_maps =\n",
    );
    probe_hop.master_cf("127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\n");
    probe_hop.start();
    let inst = front(
        mail_hop.port("127.0.0.1:0"),
        &format!(
            "address_verify_transport_maps = inline:{{ downstream.example=smtp:[127.0.0.1]:{} }}\n",
            probe_hop.port("127.0.0.1:0")
        ),
    );
    let mut c = Client::connect(inst.port("127.0.0.1:0"));
    c.ask("HELO client.example");
    assert_eq!(c.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert_eq!(c.ask("RCPT TO:<other@downstream.example>"), "250 2.1.5 Ok");
    assert!(c.ask("RCPT TO:<known@downstream.example>").starts_with(
        "450 4.1.1 <known@downstream.example>: Recipient address rejected: undeliverable address:"
    ));
}

/// `smtp_address_verify_target = data`: for a server that refuses
/// recipients only at DATA (smtp-sink -f data), the probe goes on to DATA
/// and the address is found undeliverable; at the default (rcpt) the same
/// server seems to take it.
#[test]
fn probes_can_end_at_data() {
    if !kit::have("smtp-sink") {
        eprintln!("skipped: smtp-sink (postfix package) not installed");
        return;
    }
    let port = kit::free_port();
    let dump = kit::Scratch::new("verify-data-sink");
    let _sink = kit::smtp_sink(port, &dump.join("dump"), &["-f", "data"]);
    for (target, want) in [("rcpt", "250 2.1.5 Ok"), ("data", "450 4.1.1 <someone@downstream.example>: Recipient address rejected: undeliverable address: host 127.0.0.1[127.0.0.1] said: 500 5.3.0 ")] {
        let inst = front(port, &format!("smtp_address_verify_target = {target}\n"));
        let mut c = Client::connect(inst.port("127.0.0.1:0"));
        c.ask("HELO client.example");
        assert_eq!(c.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
        let reply = c.ask("RCPT TO:<someone@downstream.example>");
        assert!(reply.starts_with(want), "{target}: {reply}\n{}", inst.maillog());
        if target == "data" {
            assert!(reply.ends_with("(in reply to DATA command)"), "{reply}");
        }
    }
    // A server that answers DATA with 354: the address stands, and no
    // message is sent (the probe drops the connection there).
    let open_port = kit::free_port();
    let _open = kit::smtp_sink(open_port, &dump.join("open"), &[]);
    let inst = front(open_port, "smtp_address_verify_target = data\n");
    let mut c = Client::connect(inst.port("127.0.0.1:0"));
    c.ask("HELO client.example");
    assert_eq!(c.ask("MAIL FROM:<a@example.com>"), "250 2.1.0 Ok");
    assert_eq!(
        c.ask("RCPT TO:<someone@downstream.example>"),
        "250 2.1.5 Ok",
        "{}",
        inst.maillog()
    );
    assert!(kit::sink_dumps(&dump.join("open")).is_empty());
}
