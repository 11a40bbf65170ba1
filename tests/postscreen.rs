//! postscreen in front of smtpd, as master.cf's Postfix recipe sets it up
//! (`smtp inet … postscreen`, `smtpd pass … smtpd`): clients on the allow
//! list go straight through; others wait out the greeting first and are
//! remembered once they pass; a client that talks before its turn is
//! refused by postscreen's own SMTP (enforce); one a DNS list ranks high
//! enough is dropped. DNS lists come from a real DNS server (dnsmasq) on
//! loopback; the clients are Python's socket and smtplib, from other
//! loopback addresses.

use kit::{free_port, python_lines, wait_until, Instance};
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// A session from `source` to `port`: every line the server sends until it
/// closes or goes quiet for 3 s, after `send` (sent at once, before the
/// greeting: a client that talks before its turn) and then each of
/// `commands` after a reply.
const CLIENT: &str = r#"
import socket, sys
src, port, early = sys.argv[1], int(sys.argv[2]), sys.argv[3]
commands = sys.argv[4:]
s = socket.create_connection(("127.0.0.1", port), source_address=(src, 0))
s.settimeout(3)
if early:
    s.sendall(early.encode() + b"\r\n")
buf = b""
def replies():
    global buf
    out = []
    while True:
        while b"\r\n" in buf:
            line, buf = buf.split(b"\r\n", 1)
            out.append(line.decode())
            if len(line) >= 4 and line[3:4] == b" ":
                return out
        try:
            got = s.recv(4096)
        except OSError:
            return out
        if not got:
            return out
        buf += got
for line in replies():
    print(line)
for c in commands:
    try:
        s.sendall(c.encode() + b"\r\n")
    except OSError:
        break
    for line in replies():
        print(line)
"#;

fn session(src: &str, port: u16, early: &str, commands: &[&str]) -> Vec<String> {
    let port = port.to_string();
    let mut args = vec![src, port.as_str(), early];
    args.extend_from_slice(commands);
    python_lines(&[], CLIENT, &args)
}

/// smtplib sends a whole message from `src`; the server's reply to the
/// end of data.
fn send_mail(src: &str, port: u16) -> String {
    let script = r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[2]), source_address=(sys.argv[1], 0), timeout=20)
s.ehlo("client.example")
s.mail("sender@example.org")
s.rcpt("root@mail.example.test")
code, text = s.data(b"Subject: through postscreen\r\n\r\nhello\r\n")
print(code, text.decode())
s.quit()
"#;
    python_lines(&[], script, &[src, &port.to_string()]).join("\n")
}

/// Starts `inst` with `main_cf` and master.cf's postscreen recipe
/// (postscreen on a loopback port, smtpd as its pass service); the port.
fn start_screened(inst: &Instance, main_cf: &str) -> u16 {
    inst.main_cf(main_cf);
    inst.master_cf(
        "127.0.0.1:0 inet n - n - 1 postscreen\nsmtpd pass - - n - - smtpd\ncleanup unix n - n - 0 cleanup\n",
    );
    inst.start();
    inst.port("127.0.0.1:0")
}

/// As [`start_screened`], with smtpd's TLS (a self-signed certificate for
/// mail.example.test) and `extra`; None without openssl.
fn start_screened_tls(inst: &Instance, extra: &str) -> Option<u16> {
    let (cert, key) = kit::self_signed(&inst.dir, "mail.example.test")?;
    Some(start_screened(
        inst,
        &format!(
            "alias_maps =\nmynetworks = 127.0.0.1/32\nsmtpd_tls_cert_file = {}\n\
             smtpd_tls_key_file = {}\nsmtpd_tls_security_level = may\n{extra}",
            cert.display(),
            key.display()
        ),
    ))
}

/// dnsmasq serving DNS lists, each record `name,address`, and its port;
/// None (the test is skipped) without dnsmasq.
fn dns_lists(records: &[&str]) -> Option<(kit::Proc, u16)> {
    let have_dnsmasq = kit::have_dnsmasq();
    if !have_dnsmasq {
        eprintln!("skipped: dnsmasq missing");
        return None;
    }
    let port = free_port();
    let records: Vec<String> = records
        .iter()
        .map(|r| format!("--host-record={r}"))
        .collect();
    Some((kit::dnsmasq(port, &records), port))
}

#[test]
fn postscreen_screens_clients_before_smtpd() {
    // 127.0.0.4 is on two lists (weights 2 and 1), 127.0.0.5 on the
    // lighter one only.
    let Some((_dns, dns_port)) = dns_lists(&[
        "4.0.0.127.bl.test,127.0.0.2",
        "4.0.0.127.light.test,127.0.0.2",
        "5.0.0.127.light.test,127.0.0.2",
    ]) else {
        return;
    };
    let inst = Instance::new("postscreen");
    let port = start_screened(&inst, &format!(
        "alias_maps =\nmynetworks = 127.0.0.1/32\nsmtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n\
         smtpd_client_restrictions =\nsmtpd_recipient_restrictions =\nlocal_recipient_maps =\n\
         dns_resolver_address = 127.0.0.1:{dns_port}\n\
         postscreen_greet_wait = 1s\npostscreen_greet_action = enforce\n\
         postscreen_dnsbl_sites = bl.test*2 light.test\npostscreen_dnsbl_threshold = 3\n\
         postscreen_dnsbl_action = drop\npostscreen_client_connection_count_limit = 1\n"
    ));

    // On the allow list (mynetworks): straight to smtpd, mail accepted.
    let queued = send_mail("127.0.0.1", port);
    assert!(
        queued.starts_with("250 2.0.0 Ok: queued as "),
        "{queued}\n{}",
        inst.maillog()
    );
    assert_eq!(inst.log_lines("ALLOWLISTED [127.0.0.1]:").len(), 1);
    assert!(inst.wait_log("smtpd[", 1, 5 * SECOND));

    // A stranger that waits its turn: the teaser, then smtpd's greeting;
    // remembered, so the next session goes straight through.
    let first = session("127.0.0.2", port, "", &["QUIT"]);
    assert_eq!(
        first[0], "220-mail.example.test ESMTP mailsuite",
        "{first:?}"
    );
    assert_eq!(
        first[1], "220 mail.example.test ESMTP mailsuite",
        "{first:?}"
    );
    assert_eq!(
        inst.log_lines("PASS NEW [127.0.0.2]:").len(),
        1,
        "{}",
        inst.maillog()
    );
    let queued = send_mail("127.0.0.2", port);
    assert!(queued.starts_with("250 2.0.0 Ok: queued as "), "{queued}");
    assert_eq!(
        inst.log_lines("PASS OLD [127.0.0.2]:").len(),
        1,
        "{}",
        inst.maillog()
    );
    // Listed, but below the threshold: passes.
    let light = session("127.0.0.5", port, "", &["QUIT"]);
    assert_eq!(
        light.last().map(String::as_str),
        Some("221 2.0.0 Bye"),
        "{light:?}"
    );
    assert_eq!(inst.log_lines("PASS NEW [127.0.0.5]:").len(), 1);

    // Talks before its turn: postscreen's own SMTP refuses every recipient.
    let eager = session(
        "127.0.0.3",
        port,
        "EHLO eager.example",
        &[
            "MAIL FROM:<bot@example.net>",
            "RCPT TO:<root@mail.example.test>",
            "DATA",
            "QUIT",
        ],
    );
    assert!(
        eager.contains(&"550 5.5.1 Protocol error".to_string()),
        "{eager:?}"
    );
    assert!(
        eager.contains(&"554 5.5.1 Error: no valid recipients".to_string()),
        "{eager:?}"
    );
    assert!(
        inst.log_lines("PREGREET 20 after ")
            .iter()
            .any(|l| l.ends_with(": EHLO eager.example\\r\\n")),
        "{}",
        inst.maillog()
    );
    assert_eq!(
        inst.log_lines("NOQUEUE: reject: RCPT from [127.0.0.3]:")
            .len(),
        1,
        "{}",
        inst.maillog()
    );
    let reject = &inst.log_lines("NOQUEUE: reject: RCPT from [127.0.0.3]:")[0];
    assert!(
        reject.ends_with(": 550 5.5.1 Protocol error; from=<bot@example.net>, to=<root@mail.example.test>, proto=ESMTP, helo=<eager.example>"),
        "{reject}"
    );
    // Not remembered: the next session is screened again.
    session("127.0.0.3", port, "", &["QUIT"]);
    assert_eq!(inst.log_lines("PASS NEW [127.0.0.3]:").len(), 1);

    // Ranked 3 by the DNS lists: dropped after the teaser.
    let listed = session("127.0.0.4", port, "", &["QUIT"]);
    assert_eq!(
        listed,
        vec![
            "220-mail.example.test ESMTP mailsuite".to_string(),
            "521 5.7.1 Service unavailable; client [127.0.0.4] blocked using bl.test".to_string()
        ]
    );
    assert!(wait_until(5 * SECOND, || !inst
        .log_lines("DNSBL rank 3 for [127.0.0.4]:")
        .is_empty()));
    assert_eq!(
        inst.log_lines("smtpd[")
            .iter()
            .filter(|l| l.contains("127.0.0.4"))
            .count(),
        0
    );
    // One connection at a time per client: a second one while the first is
    // in the greet wait is refused.
    let two = python_lines(
        &[],
        "import socket, sys\n\
         a = socket.create_connection(('127.0.0.1', int(sys.argv[1])), source_address=('127.0.0.6', 0))\n\
         print(a.recv(200).decode().strip())\n\
         b = socket.create_connection(('127.0.0.1', int(sys.argv[1])), source_address=('127.0.0.6', 0))\n\
         b.settimeout(5)\n\
         print(b.recv(200).decode().strip())\n",
        &[&port.to_string()],
    );
    assert_eq!(
        two,
        vec![
            "220-mail.example.test ESMTP mailsuite".to_string(),
            "421 4.7.0 Error: too many connections".to_string()
        ]
    );
    assert_eq!(
        inst.log_lines("NOQUEUE: reject: CONNECT from [127.0.0.6]:")
            .len(),
        1,
        "{}",
        inst.maillog()
    );
    // The clients that passed are kept in postscreen_cache_map: a new
    // postscreen (this one killed; the master starts another for the next
    // client) still knows
    // 127.0.0.2.
    let cache = format!("btree:{}/data/postscreen_cache", inst.dir.display());
    let dump = || {
        let out = inst
            .command("postmap")
            .args(["-s", &cache])
            .output()
            .expect("postmap");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        wait_until(15 * SECOND, || dump().contains("127.0.0.2\t")),
        "{}",
        dump()
    );
    let old = inst.workers("postscreen");
    assert_eq!(old.len(), 1);
    // SAFETY: kill on a pid this test's instance started.
    unsafe { libc::kill(old[0], libc::SIGKILL) };
    assert!(wait_until(10 * SECOND, || !kit::alive(old[0])));
    let again = session("127.0.0.2", port, "", &["QUIT"]);
    assert_eq!(
        again[0], "220 mail.example.test ESMTP mailsuite",
        "{again:?}"
    );
    assert_eq!(
        inst.log_lines("PASS OLD [127.0.0.2]:").len(),
        2,
        "{}",
        inst.maillog()
    );
    // Everything that reached smtpd got there whole: two messages queued.
    assert_eq!(
        inst.log_lines("cleanup[")
            .iter()
            .filter(|l| l.contains("message-id="))
            .count(),
        2
    );
}

/// The limits in Postfix's order, and no smtpd to pass clients to: a
/// second stranger finds the one place in the tests taken
/// (postscreen_pre_queue_limit = 1), while an allow-listed client is not
/// held to that limit; with nobody on the pass service, a client after the
/// teaser gets the greeting's end and then 421 at its first command.
#[test]
fn limits_and_no_smtpd_to_pass_to() {
    let inst = Instance::new("postscreen-busy");
    inst.main_cf(
        "alias_maps =\nmynetworks = 127.0.0.1/32\npostscreen_greet_wait = 2s\npostscreen_pre_queue_limit = 1\n",
    );
    inst.master_cf("127.0.0.1:0 inet n - n - 1 postscreen\n");
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let lines = python_lines(
        &[],
        "import socket, sys\n\
         port = int(sys.argv[1])\n\
         def conn(src):\n\
         \x20   s = socket.create_connection(('127.0.0.1', port), source_address=(src, 0))\n\
         \x20   s.settimeout(10)\n\
         \x20   return s\n\
         a = conn('127.0.0.6')\n\
         print(a.recv(200).decode().strip())\n\
         print(conn('127.0.0.7').recv(200).decode().strip())\n\
         print(conn('127.0.0.1').recv(200).decode().strip())\n\
         print(a.recv(200).decode().strip())\n\
         a.sendall(b'EHLO a.example\\r\\n')\n\
         print(a.recv(200).decode().strip())\n",
        &[&port.to_string()],
    );
    assert_eq!(
        lines,
        vec![
            "220-mail.example.test ESMTP mailsuite",
            "421 4.3.2 All screening ports are busy",
            "421 4.3.2 All server ports are busy",
            "220 mail.example.test ESMTP mailsuite",
            "421 4.3.2 All server ports are busy",
        ],
        "{}",
        inst.maillog()
    );
    assert_eq!(
        inst.log_lines("reject: connect from [127.0.0.7]:").len(),
        1,
        "{}",
        inst.maillog()
    );
    assert_eq!(
        inst.log_lines("NOQUEUE: reject: CONNECT from [127.0.0.6]:")
            .len(),
        1,
        "{}",
        inst.maillog()
    );
}

/// The tests after the greeting (postscreen's own SMTP): a client that
/// behaves is told to come back at RCPT and then goes straight to smtpd;
/// one that pipelines without PIPELINING is refused (enforce), a non-SMTP
/// command dropped, a bare newline refused (enforce).
#[test]
fn tests_after_the_greeting() {
    let inst = Instance::new("postscreen-deep");
    let port = start_screened(&inst,
        "alias_maps =\nmynetworks = 127.0.0.1/32\nlocal_recipient_maps =\nsmtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n\
         smtpd_client_restrictions =\nsmtpd_recipient_restrictions =\n\
         postscreen_greet_wait = 1s\npostscreen_pipelining_enable = yes\n\
         postscreen_non_smtp_command_enable = yes\npostscreen_non_smtp_command_action = drop\n\
         postscreen_bare_newline_enable = yes\npostscreen_bare_newline_action = enforce\n\
         postscreen_helo_required = yes\n",
    );

    let good = session(
        "127.0.0.2",
        port,
        "",
        &[
            "MAIL FROM:<a@example.org>",
            "EHLO good.example",
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<root@mail.example.test>",
            "QUIT",
        ],
    );
    assert_eq!(good[0], "220-mail.example.test ESMTP mailsuite", "{good:?}");
    assert_eq!(good[1], "220 mail.example.test ESMTP mailsuite", "{good:?}");
    assert_eq!(
        good[2], "503 5.5.1 Error: send HELO/EHLO first",
        "postscreen_helo_required: {good:?}"
    );
    assert!(!good.iter().any(|l| l.contains("PIPELINING")), "{good:?}");
    assert!(
        good.contains(&"450 4.3.2 Service currently unavailable".to_string()),
        "{good:?}"
    );
    assert_eq!(
        inst.log_lines("PASS NEW [127.0.0.2]:").len(),
        1,
        "{}",
        inst.maillog()
    );
    // Back later: straight to smtpd.
    let queued = send_mail("127.0.0.2", port);
    assert!(
        queued.starts_with("250 2.0.0 Ok: queued as "),
        "{queued}\n{}",
        inst.maillog()
    );
    assert_eq!(inst.log_lines("PASS OLD [127.0.0.2]:").len(), 1);

    let eager = session(
        "127.0.0.3",
        port,
        "",
        &[
            "EHLO eager.example",
            "MAIL FROM:<a@example.org>\r\nRCPT TO:<root@mail.example.test>",
            "QUIT",
        ],
    );
    assert!(
        eager.contains(&"550 5.5.1 Protocol error".to_string()),
        "{eager:?}"
    );
    assert!(
        inst.log_lines("COMMAND PIPELINING from [127.0.0.3]:")
            .iter()
            .any(|l| l.ends_with(" after MAIL: RCPT TO:<root@mail.example.test>\\r\\n")),
        "{}",
        inst.maillog()
    );

    let web = session("127.0.0.4", port, "", &["GET / HTTP/1.0"]);
    assert_eq!(
        web.last().map(String::as_str),
        Some("521 5.7.0 Error: I can break rules, too. Goodbye."),
        "{web:?}"
    );
    assert_eq!(
        inst.log_lines("NON-SMTP COMMAND from [127.0.0.4]:").len(),
        1,
        "{}",
        inst.maillog()
    );

    let bare = python_lines(
        &[],
        "import socket, sys\n\
         s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), source_address=('127.0.0.5', 0))\n\
         s.settimeout(5)\n\
         f = s.makefile('rb')\n\
         def reply():\n\
         \x20   while True:\n\
         \x20       l = f.readline().decode().rstrip()\n\
         \x20       if l[3:4] != '-':\n\
         \x20           return l\n\
         print(reply())\n\
         s.sendall(b'EHLO bare.example\\nMAIL FROM:<a@example.org>\\nRCPT TO:<root@mail.example.test>\\n')\n\
         print(reply())\n\
         print(reply())\n\
         print(reply())\n",
        &[&port.to_string()],
    );
    assert_eq!(
        bare.last().map(String::as_str),
        Some("550 5.5.1 Protocol error"),
        "{bare:?}"
    );
    assert_eq!(
        inst.log_lines("BARE NEWLINE from [127.0.0.5]:").len(),
        1,
        "{}",
        inst.maillog()
    );
    // Each test fails once, and the others go on: a bare newline, then the
    // pipelining the same write shows.
    assert_eq!(
        inst.log_lines("COMMAND PIPELINING from [127.0.0.5]:").len(),
        1,
        "{}",
        inst.maillog()
    );

    // Passed at RCPT, then sends its message without waiting: a header
    // line is not SMTP, and the pass is taken back.
    let late = session(
        "127.0.0.6",
        port,
        "",
        &[
            "EHLO late.example",
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<root@mail.example.test>",
            "DATA",
            "Subject: hello",
        ],
    );
    assert_eq!(
        late.last().map(String::as_str),
        Some("521 5.7.0 Error: I can break rules, too. Goodbye."),
        "{late:?}"
    );
    assert_eq!(
        inst.log_lines("UNPASS [127.0.0.6]:").len(),
        1,
        "{}",
        inst.maillog()
    );
    let again = session("127.0.0.6", port, "", &["QUIT"]);
    assert_eq!(
        again[0], "220-mail.example.test ESMTP mailsuite",
        "screened again: {again:?}"
    );
    // None of them reached smtpd.
    assert!(!inst
        .log_lines("smtpd[")
        .iter()
        .any(|l| ["127.0.0.3", "127.0.0.4", "127.0.0.5"]
            .iter()
            .any(|a| l.contains(a))));
}

/// A client on the deny list with `drop` is refused at once, before any
/// teaser; in postscreen's own SMTP a command trickled a byte at a time
/// must still come whole within postscreen_command_time_limit.
#[test]
fn denylist_drop_and_the_command_time_limit() {
    let inst = Instance::new("postscreen-deny");
    inst.write("access.cidr", "127.0.0.8/32 reject\n");
    inst.main_cf(&format!(
        "alias_maps =\nmynetworks = 127.0.0.1/32\n\
         postscreen_access_list = permit_mynetworks, cidr:{}/access.cidr\n\
         postscreen_denylist_action = drop\npostscreen_greet_wait = 1s\n\
         postscreen_greet_action = enforce\npostscreen_command_time_limit = 2s\n",
        inst.dir.display()
    ));
    inst.master_cf("127.0.0.1:0 inet n - n - 1 postscreen\n");
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let denied = session("127.0.0.8", port, "", &[]);
    assert_eq!(
        denied,
        vec!["521 5.3.2 Service currently unavailable".to_string()]
    );
    assert_eq!(inst.log_lines("DENYLISTED [127.0.0.8]:").len(), 1);

    let slow = python_lines(
        &[],
        "import socket, sys, time\n\
         s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), source_address=('127.0.0.9', 0))\n\
         s.settimeout(10)\n\
         s.sendall(b'EHLO slow.example\\r\\n')\n\
         f = s.makefile('rb')\n\
         while True:\n\
         \x20   l = f.readline().decode().rstrip()\n\
         \x20   print(l)\n\
         \x20   if l.startswith('250 '):\n\
         \x20       break\n\
         start = time.time()\n\
         try:\n\
         \x20   for b in b'MAIL FROM:<a@example.org>\\r\\n':\n\
         \x20       s.sendall(bytes([b]))\n\
         \x20       time.sleep(0.4)\n\
         except OSError:\n\
         \x20   pass\n\
         print(f.readline().decode().rstrip())\n\
         print('within', int(time.time() - start) < 5)\n",
        &[&port.to_string()],
    );
    assert_eq!(
        slow[slow.len() - 2..],
        [
            "421 4.4.2 mail.example.test Error: timeout exceeded".to_string(),
            "within True".to_string()
        ],
        "{slow:?}"
    );
    assert!(
        inst.log_lines("COMMAND TIME LIMIT from [127.0.0.9]:")
            .iter()
            .any(|l| l.ends_with(" after EHLO")),
        "{}",
        inst.maillog()
    );
}

/// Behind a load balancer (postscreen_upstream_proxy_protocol = haproxy):
/// the client a PROXY header names is the one screened, and smtpd, which
/// reads no header itself, logs and judges that client too. A connection
/// without a header is closed before any greeting.
#[test]
fn the_client_a_proxy_names_is_screened_and_handed_on() {
    let inst = Instance::new("postscreen-proxy");
    let port = start_screened(&inst,
        "alias_maps =\nmynetworks = 192.0.2.0/24\nsmtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n\
         smtpd_client_restrictions =\nsmtpd_recipient_restrictions =\nlocal_recipient_maps =\n\
         smtpd_peername_lookup = no\n\
         postscreen_upstream_proxy_protocol = haproxy\npostscreen_upstream_proxy_timeout = 2s\n\
         postscreen_greet_wait = 1s\npostscreen_greet_action = enforce\n",
    );

    // From mynetworks by the header's word, though the socket's peer is
    // 127.0.0.1: allow-listed, and smtpd relays for it.
    let relayed = session(
        "127.0.0.1",
        port,
        "PROXY TCP4 192.0.2.7 198.51.100.1 5555 25",
        &[
            "EHLO client.example",
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<b@far.example>",
            "QUIT",
        ],
    );
    assert!(
        relayed.contains(&"250 2.1.5 Ok".to_string()),
        "{relayed:?}\n{}",
        inst.maillog()
    );
    assert_eq!(
        inst.log_lines("CONNECT from [192.0.2.7]:5555 to [198.51.100.1]:25")
            .len(),
        1,
        "{}",
        inst.maillog()
    );
    assert_eq!(inst.log_lines("ALLOWLISTED [192.0.2.7]:5555").len(), 1);
    assert!(inst.wait_log("smtpd[", 1, 5 * SECOND));
    assert!(inst.wait_log("connect from unknown[192.0.2.7]", 1, 5 * SECOND));

    // A stranger by the header (version 2 would do as well): waits out
    // the greeting, passes, and smtpd refuses it relay as that client.
    let stranger = session(
        "127.0.0.1",
        port,
        "PROXY TCP4 203.0.113.9 198.51.100.1 6000 25",
        &[
            "EHLO client.example",
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<b@far.example>",
            "QUIT",
        ],
    );
    assert_eq!(
        stranger[0], "220-mail.example.test ESMTP mailsuite",
        "{stranger:?}"
    );
    assert!(
        stranger.contains(&"554 5.7.1 <b@far.example>: Relay access denied".to_string()),
        "{stranger:?}\n{}",
        inst.maillog()
    );
    assert_eq!(inst.log_lines("PASS NEW [203.0.113.9]:6000").len(), 1);
    assert!(inst.wait_log(
        "NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 554 5.7.1",
        1,
        5 * SECOND
    ));

    // No header: closed without a greeting, and the reason logged.
    let bare = session("127.0.0.1", port, "EHLO client.example", &[]);
    assert_eq!(bare, ["421 4.3.2 No system resources"]);
    assert!(inst.wait_log(
        "warning: haproxy read: no PROXY protocol header from [127.0.0.1]:",
        1,
        5 * SECOND
    ));
    assert!(inst.log_lines("CONNECT from [127.0.0.1]").is_empty());
}

/// postscreen's STARTTLS takes the cipher settings tlsproxy would
/// (tlsproxy_tls_ciphers, tlsproxy_tls_exclude_ciphers…, which default to
/// smtpd's): an excluded TLS 1.2 suite is refused, another is used.
#[test]
fn postscreens_starttls_follows_the_cipher_settings() {
    let inst = Instance::new("postscreen-ciphers");
    let Some(port) = start_screened_tls(
        &inst,
        "smtpd_tls_exclude_ciphers = AES256, CHACHA20\npostscreen_tls_security_level = may\n",
    ) else {
        eprintln!("skipped: openssl missing");
        return;
    };
    let script = r#"
import smtplib, ssl, sys
port = int(sys.argv[1])
for cipher in ("ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256"):
    ctx = ssl._create_unverified_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(cipher)
    s = smtplib.SMTP("127.0.0.1", port, source_address=("127.0.0.2", 0), timeout=10)
    s.ehlo("client.example")
    try:
        s.starttls(context=ctx)
        print("got", s.sock.cipher()[0])
    except (ssl.SSLError, OSError):
        print("refused")
    s.close()
"#;
    let out = kit::python_lines(&[], script, &[&port.to_string()]);
    assert_eq!(
        out,
        ["refused", "got ECDHE-ECDSA-AES128-GCM-SHA256"],
        "{}",
        inst.maillog()
    );
}

/// STARTTLS in postscreen's own SMTP (what Postfix's tlsproxy does for
/// it), at postscreen_tls_security_level = encrypt with smtpd's
/// certificate: MAIL is refused until the client uses TLS; in TLS the
/// client passes the tests after the greeting and goes straight to smtpd
/// next time. What a client sends after STARTTLS in plain text is not
/// taken as said in TLS.
#[test]
fn starttls_in_postscreens_own_smtp() {
    let inst = Instance::new("postscreen-tls");
    let Some(port) = start_screened_tls(
        &inst,
        "postscreen_tls_security_level = encrypt\npostscreen_command_time_limit = 2s\n\
         postscreen_greet_wait = 1s\npostscreen_bare_newline_enable = yes\n",
    ) else {
        eprintln!("skipped: openssl missing");
        return;
    };
    let script = r#"
import smtplib, socket, ssl, sys
port = int(sys.argv[1])
ctx = ssl._create_unverified_context()
s = smtplib.SMTP("127.0.0.1", port, source_address=("127.0.0.2", 0), timeout=10)
s.ehlo("client.example")
print("offered", s.has_extn("starttls"))
print("plain MAIL", *s.mail("a@example.org"))
print("plain RSET", *s.docmd("RSET"))
print("with an argument", *s.docmd("STARTTLS", "now"))
print("STARTTLS", s.starttls(context=ctx)[0], s.sock.version())
s.ehlo("client.example")
print("offered in TLS", s.has_extn("starttls"))
print("again", *s.docmd("STARTTLS"))
print("MAIL", s.mail("a@example.org")[0])
print("RCPT", *s.rcpt("b@example.net"))
s.quit()

# Plain text after STARTTLS: the MAIL command sent with it is dropped.
raw = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.3", 0), timeout=10)
f = raw.makefile("rb")
def reply():
    while True:
        line = f.readline().decode().rstrip()
        if line[3:4] != "-":
            return line
reply()
raw.sendall(b"EHLO client.example\r\n")
reply()
raw.sendall(b"STARTTLS\r\nMAIL FROM:<a@example.org>\r\n")
print("injected", reply())
t = ctx.wrap_socket(raw, server_hostname="mail.example.test")
t.sendall(b"RCPT TO:<b@example.net>\r\n")
print("after", t.recv(512).decode().rstrip())
t.close()

# A TLS record trickled a byte at a time, or a handshake: cut off at the
# command time limit (2 s), not when the record is whole.
import os, time
def trickle(src, after_starttls):
    raw = socket.create_connection(("127.0.0.1", port), source_address=(src, 0), timeout=10)
    f = raw.makefile("rb")
    def answer():
        while True:
            line = f.readline().decode().rstrip()
            if line[3:4] != "-":
                return line
    answer()
    raw.sendall(b"STARTTLS\r\n")
    answer()
    conn = raw
    if after_starttls:
        conn = ctx.wrap_socket(raw, server_side=False, server_hostname="mail.example.test")
        conn.sendall(b"NOOP\r\n")
        conn.recv(512)
    start = time.time()
    # A record header promising 64 bytes, then a byte every 0.4 s.
    os.write(conn.fileno(), b"\x17\x03\x03\x00\x40" if after_starttls else b"\x16\x03\x01\x00\x40")
    try:
        for _ in range(20):
            os.write(conn.fileno(), b"\x00")
            time.sleep(0.4)
    except OSError:
        pass
    print("trickled", after_starttls, "cut off", time.time() - start < 6)
trickle("127.0.0.4", True)
trickle("127.0.0.5", False)

# Passed: the next session is smtpd's.
s = smtplib.SMTP("127.0.0.1", port, source_address=("127.0.0.2", 0), timeout=10)
print("next", *s.ehlo("client.example")[:1], s.has_extn("starttls"))
s.quit()
"#;
    let out = kit::python_lines(&[], script, &[&port.to_string()]);
    assert_eq!(
        out,
        [
            "offered True",
            "plain MAIL 530 b'5.7.0 Must issue a STARTTLS command first'",
            "plain RSET 530 b'5.7.0 Must issue a STARTTLS command first'",
            "with an argument 501 b'5.5.4 Syntax: STARTTLS'",
            "STARTTLS 220 TLSv1.3",
            "offered in TLS False",
            "again 554 b'5.5.1 Error: TLS already active'",
            "MAIL 250",
            "RCPT 450 b'4.3.2 Service currently unavailable'",
            "injected 220 2.0.0 Ready to start TLS",
            "after 503 5.5.1 Error: need MAIL command",
            "trickled True cut off True",
            "trickled False cut off True",
            "next 250 True",
        ],
        "{}",
        inst.maillog()
    );
    assert_eq!(
        inst.log_lines("Anonymous TLS connection established from [127.0.0.2]:")
            .len(),
        1,
        "{}",
        inst.maillog()
    );
    assert!(inst.log_lines("TLSv1.3 with cipher").len() >= 2);
    assert_eq!(inst.log_lines("PASS NEW [127.0.0.2]:").len(), 1);
    assert_eq!(inst.log_lines("PASS OLD [127.0.0.2]:").len(), 1);
}

/// postscreen_dnsbl_allowlist_threshold with a DNS allow list (a negative
/// weight): a client listed there passes at once, without waiting out the
/// greeting and without the tests after it, and straight to smtpd; one
/// that is not listed waits and meets postscreen's own SMTP. A block
/// list's secret name stays out of the reply (postscreen_dnsbl_reply_map).
#[test]
fn a_dns_allow_list_lets_a_client_skip_the_tests() {
    let Some((_dns, dns_port)) = dns_lists(&[
        "6.0.0.127.wl.test,127.0.0.2",
        "8.0.0.127.key1234.bl.test,127.0.0.2",
    ]) else {
        return;
    };
    let inst = Instance::new("postscreen-allowlist");
    let port = start_screened(&inst, &format!(
        "alias_maps =\nmynetworks = 127.0.0.1/32\nsmtpd_client_restrictions =\n\
         smtpd_recipient_restrictions =\nlocal_recipient_maps =\n\
         dns_resolver_address = 127.0.0.1:{dns_port}\n\
         postscreen_greet_wait = 3s\npostscreen_pipelining_enable = yes\n\
         postscreen_dnsbl_sites = key1234.bl.test*2 wl.test*-2\npostscreen_dnsbl_allowlist_threshold = -1\n\
         postscreen_dnsbl_action = enforce\n\
         postscreen_dnsbl_reply_map = inline:{{ key1234.bl.test=bl.example }}\n"
    ));
    let script = r#"
import smtplib, sys, time
port = int(sys.argv[1])
for src in ("127.0.0.6", "127.0.0.7", "127.0.0.8"):
    start = time.time()
    s = smtplib.SMTP("127.0.0.1", port, source_address=(src, 0), timeout=20)
    waited = time.time() - start
    s.ehlo("client.example")
    s.mail("a@example.org")
    code, text = s.rcpt("root@mail.example.test")
    print(src, "greeted within 2s", waited < 2, "RCPT", code, text.decode())
    s.quit()
"#;
    let out = kit::python_lines(&[], script, &[&port.to_string()]);
    assert_eq!(
        out,
        [
            "127.0.0.6 greeted within 2s True RCPT 250 2.1.5 Ok",
            "127.0.0.7 greeted within 2s False RCPT 450 4.3.2 Service currently unavailable",
            "127.0.0.8 greeted within 2s False RCPT 550 5.7.1 Service unavailable; client [127.0.0.8] blocked using bl.example",
        ],
        "{}",
        inst.maillog()
    );
    assert_eq!(inst.log_lines("PASS NEW [127.0.0.6]:").len(), 1);
    assert!(inst.wait_log("smtpd[", 1, 5 * SECOND));
    // The allow-listed client is remembered as having passed every test.
    let again = session("127.0.0.6", port, "", &["QUIT"]);
    assert_eq!(
        again[0], "220 mail.example.test ESMTP mailsuite",
        "{again:?}"
    );
    assert_eq!(inst.log_lines("PASS OLD [127.0.0.6]:").len(), 1);
}

/// A client whose pregreet pass still holds while its DNS list pass has
/// run out is asked of the lists again, but not made to wait out another
/// greeting: it goes on as soon as the lists answer.
#[test]
fn only_the_tests_that_ran_out_are_made_again() {
    let Some((_dns, dns_port)) = dns_lists(&["4.0.0.127.other.test,127.0.0.2"]) else {
        return;
    };
    let inst = Instance::new("postscreen-retest");
    let port = start_screened(
        &inst,
        &format!(
            "alias_maps =\nmynetworks = 127.0.0.1/32\n\
             dns_resolver_address = 127.0.0.1:{dns_port}\n\
             postscreen_greet_wait = 3s\npostscreen_dnsbl_sites = bl.test\n\
             postscreen_dnsbl_min_ttl = 1s\npostscreen_dnsbl_max_ttl = 1s\n"
        ),
    );
    let script = r#"
import smtplib, sys, time
port = int(sys.argv[1])
for n in range(2):
    start = time.time()
    s = smtplib.SMTP("127.0.0.1", port, source_address=("127.0.0.9", 0), timeout=20)
    print("session", n, "greeted within 2s", time.time() - start < 2)
    s.quit()
    time.sleep(1.5)
"#;
    let out = kit::python_lines(&[], script, &[&port.to_string()]);
    assert_eq!(
        out,
        [
            "session 0 greeted within 2s False",
            "session 1 greeted within 2s True"
        ],
        "{}",
        inst.maillog()
    );
    // The second pass is of a client the cache still has: "OLD", as in
    // Postfix.
    assert_eq!(inst.log_lines("PASS NEW [127.0.0.9]:").len(), 1);
    assert_eq!(inst.log_lines("PASS OLD [127.0.0.9]:").len(), 1);
}

/// postscreen's own SMTP, shaped by smtpd's settings where postscreen's
/// default to them: the reject footer (smtpd_reject_footer, with
/// $client_address and $server_name filtered by
/// postscreen_expansion_filter, or a footer by reply from
/// postscreen_reject_footer_maps), the EHLO keywords left out
/// (smtpd_discard_ehlo_keywords for every client,
/// postscreen_discard_ehlo_keyword_address_maps by client, logged unless
/// silent-discard), the command filter (postscreen_command_filter, which
/// in Postfix 3.7 does not default to smtpd's), and HELO or EHLO without a
/// name refused as Postfix refuses them.
#[test]
fn footer_ehlo_keywords_and_command_filter_in_postscreens_own_smtp() {
    let inst = Instance::new("postscreen-footer");
    let port = start_screened(
        &inst,
        "alias_maps =\nmynetworks = 127.0.0.1/32\n\
         postscreen_greet_wait = 1s\npostscreen_pipelining_enable = yes\n\
         smtpd_reject_footer = Call $server_name about $client_address\n\
         postscreen_expansion_filter = 0123456789.\n\
         postscreen_reject_footer_maps = inline:{ { 501 Syntax: HELO hostname = \\c (see the help page) } }\n\
         smtpd_discard_ehlo_keywords = chunking\n\
         postscreen_discard_ehlo_keyword_address_maps = inline:{ { 127.0.0.3 = silent-discard, dsn }, { 127.0.0.2 = etrn, size } }\n\
         postscreen_command_filter = inline:{ { mail from:<rewrite-me@example.org> = MAIL FROM:<a@example.org> } }\n",
    );
    let two = session(
        "127.0.0.2",
        port,
        "",
        &[
            "HELO",
            "EHLO",
            "EHLO two.example",
            "MAIL FROM:<rewrite-me@example.org>",
            "RCPT TO:<root@mail.example.test>",
            "QUIT",
        ],
    );
    let footer = "Call ____._______.____ about 127.0.0.2";
    assert_eq!(
        two,
        [
            "220-mail.example.test ESMTP mailsuite".to_string(),
            "220 mail.example.test ESMTP mailsuite".into(),
            "501 Syntax: HELO hostname (see the help page)".into(),
            "501-Syntax: EHLO hostname".into(),
            format!("501 {footer}"),
            "250-mail.example.test".into(),
            "250-VRFY".into(),
            "250-ENHANCEDSTATUSCODES".into(),
            "250-8BITMIME".into(),
            "250-DSN".into(),
            "250-SMTPUTF8".into(),
            "250 CHUNKING".into(),
            "250 2.1.0 Ok".into(),
            "450-4.3.2 Service currently unavailable".into(),
            format!("450 4.3.2 {footer}"),
            "221 2.0.0 Bye".into(),
        ],
        "{}",
        inst.maillog()
    );
    // Logged as Postfix's postscreen logs it: no colon before the port.
    let discarding = inst.log_lines("discarding EHLO keywords");
    assert_eq!(discarding.len(), 1, "{}", inst.maillog());
    let (_, after) = discarding[0].split_once("[127.0.0.2]").expect("client");
    let (port_text, rest) = after.split_once(':').expect("colon");
    assert!(port_text.parse::<u16>().is_ok(), "{}", discarding[0]);
    assert_eq!(rest, " discarding EHLO keywords: ETRN SIZE");
    let replacing = inst.log_lines("replacing command");
    assert_eq!(replacing.len(), 1, "{}", inst.maillog());
    assert!(
        replacing[0].contains("[127.0.0.2]:")
            && replacing[0].ends_with(
                ": replacing command \"MAIL FROM:<rewrite-me@example.org>\" with \"MAIL FROM:<a@example.org>\""
            ),
        "{}",
        replacing[0]
    );
    assert!(
        inst.log_lines("NOQUEUE: reject: RCPT from [127.0.0.2]:")
            .iter()
            .any(|l| l.contains("from=<a@example.org>")),
        "{}",
        inst.maillog()
    );

    // Its own list, silently; and the list for every client.
    let three = session("127.0.0.3", port, "", &["EHLO three.example", "QUIT"]);
    assert!(!three.contains(&"250-DSN".to_string()), "{three:?}");
    assert!(three.contains(&"250 CHUNKING".to_string()), "{three:?}");
    let four = session("127.0.0.4", port, "", &["EHLO four.example", "QUIT"]);
    assert!(four.contains(&"250-DSN".to_string()), "{four:?}");
    assert!(!four.iter().any(|l| l.contains("CHUNKING")), "{four:?}");
    assert_eq!(inst.log_lines("discarding EHLO keywords").len(), 1);
}

/// postscreen_allowlist_interfaces: a client that reached an address the
/// list leaves out is tested but never passes there ("ALLOWLIST VETO"):
/// postscreen's own SMTP tells it to come back at each RCPT, and it is
/// screened again next time; a client on the permanent allow list still
/// goes straight to smtpd.
#[test]
fn no_pass_on_an_interface_the_allowlist_leaves_out() {
    let inst = Instance::new("postscreen-veto");
    let port = start_screened(
        &inst,
        "alias_maps =\nmynetworks = 127.0.0.1/32\npostscreen_greet_wait = 1s\n\
         postscreen_allowlist_interfaces = !127.0.0.1, static:all\n",
    );
    let vetoed = session(
        "127.0.0.2",
        port,
        "",
        &[
            "EHLO veto.example",
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<root@mail.example.test>",
            "QUIT",
        ],
    );
    assert_eq!(
        vetoed[0], "220-mail.example.test ESMTP mailsuite",
        "{vetoed:?}"
    );
    assert_eq!(
        vetoed[1], "220 mail.example.test ESMTP mailsuite",
        "{vetoed:?}"
    );
    assert_eq!(
        vetoed[vetoed.len() - 2..],
        [
            "450 4.3.2 Service currently unavailable".to_string(),
            "221 2.0.0 Bye".to_string()
        ],
        "{vetoed:?}\n{}",
        inst.maillog()
    );
    assert_eq!(inst.log_lines("ALLOWLIST VETO [127.0.0.2]:").len(), 1);
    // Not remembered: screened again.
    let again = session("127.0.0.2", port, "", &["QUIT"]);
    assert_eq!(
        again[0], "220-mail.example.test ESMTP mailsuite",
        "{again:?}"
    );
    assert_eq!(inst.log_lines("ALLOWLIST VETO [127.0.0.2]:").len(), 2);
    assert!(inst.log_lines("PASS ").is_empty(), "{}", inst.maillog());
    // The permanent allow list comes first.
    let allowed = session("127.0.0.1", port, "", &["QUIT"]);
    assert_eq!(
        allowed[0], "220 mail.example.test ESMTP mailsuite",
        "{allowed:?}"
    );
    assert!(inst.wait_log("smtpd[", 1, 5 * SECOND));
    assert!(
        !inst
            .log_lines("smtpd[")
            .iter()
            .any(|l| l.contains("127.0.0.2")),
        "{}",
        inst.maillog()
    );
}

/// postscreen_cache_retention_time and postscreen_cache_cleanup_interval:
/// the first cleanup runs at start (the cache file names no earlier one)
/// and drops the entry whose passes ran out longer ago than the retention
/// time, keeping the one that ran out an hour ago; that client is tested
/// again but passes "OLD", the other "NEW". The cleanup's time is kept in
/// the file, under Postfix's key.
#[test]
fn the_cache_keeps_what_ran_out_for_the_retention_time() {
    let inst = Instance::new("postscreen-retention");
    let data = inst.dir.join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let hour_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        - 3_600;
    std::fs::write(
        data.join("postscreen_cache"),
        format!("127.0.0.7 1000;1000;1000\n127.0.0.8 {hour_ago};{hour_ago};{hour_ago}\n"),
    )
    .expect("cache source");
    let cache = format!("btree:{}/postscreen_cache", data.display());
    let made = inst
        .command("postmap")
        .arg(&cache)
        .output()
        .expect("postmap");
    assert!(made.status.success(), "{made:?}");
    let port = start_screened(
        &inst,
        "alias_maps =\nmynetworks = 127.0.0.1/32\npostscreen_greet_wait = 1s\n\
         postscreen_cache_cleanup_interval = 1h\n",
    );
    // The postscreen process starts with its first client.
    let kept = session("127.0.0.8", port, "", &["QUIT"]);
    assert_eq!(kept[0], "220-mail.example.test ESMTP mailsuite", "{kept:?}");
    assert!(
        inst.wait_log(
            &format!("cache {cache} full cleanup: retained=1 dropped=1 entries"),
            1,
            10 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    assert_eq!(
        inst.log_lines("PASS OLD [127.0.0.8]:").len(),
        1,
        "{}",
        inst.maillog()
    );
    let dropped = session("127.0.0.7", port, "", &["QUIT"]);
    assert_eq!(
        dropped[0], "220-mail.example.test ESMTP mailsuite",
        "{dropped:?}"
    );
    assert_eq!(
        inst.log_lines("PASS NEW [127.0.0.7]:").len(),
        1,
        "{}",
        inst.maillog()
    );
    let dump = || {
        let out = inst
            .command("postmap")
            .args(["-s", &cache])
            .output()
            .expect("postmap");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        wait_until(15 * SECOND, || dump()
            .contains("_LAST_CACHE_CLEANUP_COMPLETED_\t")),
        "{}",
        dump()
    );
    assert_eq!(
        inst.log_lines("full cleanup").len(),
        1,
        "one cleanup an hour: {}",
        inst.maillog()
    );
}
