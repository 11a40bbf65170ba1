//! Seed 002 on a real MariaDB, end to end: a private mariadbd on a
//! loopback port (tests/testdb) with the seed's four tables, its
//! `mail_admin` user and GRANTs and its .cf files, behind
//! virtual_mailbox_domains, virtual_mailbox_maps, virtual_alias_maps and
//! transport_maps through proxymap (`proxy:mysql:`) and the passdb
//! (`mysql:` in auth). Mail for a users row lands in its Maildir, a
//! forwardings row reroutes, a transport row sends a relay domain to
//! smtp-sink, an unknown user is refused at RCPT; the virtual user reads
//! over IMAP and POP3 and sends with SMTP AUTH; a burst of deliveries
//! uses a handful of database connections, not one per worker. Then
//! MariaDB is stopped (by PID): smtpd answers 4xx at RCPT, mail submitted
//! with sendmail and a message already in the queue wait instead of
//! bouncing, and both are delivered once MariaDB is back.

use kit::testdb::MariaDb;
use kit::{
    alive, dir_files as files, python_lines, send_mail as send, smtp_sink, vmail_base, Instance,
};
use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// The seed's statements as written (its GRANTs set the password
/// `mail_13Ad`), its four tables, and the rows this test uses.
fn seed_sql(sink: u16) -> String {
    let mut s = String::from(
        "CREATE DATABASE mail;
create user 'mail_admin'@'localhost' identified by 'mail_13Ad';
GRANT SELECT, INSERT, UPDATE, DELETE ON mail.* TO 'mail_admin'@'localhost' IDENTIFIED BY 'mail_13Ad';
GRANT SELECT, INSERT, UPDATE, DELETE ON mail.* TO 'mail_admin'@'localhost.localdomain' IDENTIFIED BY 'mail_13Ad';
FLUSH PRIVILEGES;
USE mail;
CREATE TABLE domains (domain varchar(50) NOT NULL, PRIMARY KEY (domain) );
CREATE TABLE forwardings (source varchar(80) NOT NULL, destination TEXT NOT NULL, PRIMARY KEY (source) );
CREATE TABLE users (email varchar(80) NOT NULL, password varchar(20) NOT NULL, PRIMARY KEY (email) );
CREATE TABLE transport ( domain varchar(128) NOT NULL default '', transport varchar(128) NOT NULL default '', UNIQUE KEY domain (domain) );
INSERT INTO domains VALUES ('example.test');
INSERT INTO users VALUES ('joe@example.test', '{PLAIN}joe-secret');
INSERT INTO forwardings VALUES ('info@example.test', 'joe@example.test');
",
    );
    for i in 0..8 {
        s.push_str(&format!(
            "INSERT INTO users VALUES ('u{i}@example.test', '{{PLAIN}}u{i}');\n"
        ));
    }
    s.push_str(&format!(
        "INSERT INTO transport VALUES ('elsewhere.test', 'smtp:[127.0.0.1]:{sink}');\n"
    ));
    s
}

fn status(db: &MariaDb, name: &str) -> u64 {
    let out = db.sql(&format!("SHOW GLOBAL STATUS LIKE '{name}'"));
    out.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{name}: {out:?}"))
}

/// The processes (name, pid) with a TCP connection to 127.0.0.1:`port`.
fn db_clients(port: u16) -> Vec<(String, u32)> {
    let out = Command::new("ss")
        .args(["-tnpH", "state", "established"])
        .arg(format!("dport = :{port}"))
        .output()
        .expect("ss");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let users = l.split("users:((\"").nth(1)?;
            let (comm, rest) = users.split_once('"')?;
            let pid = rest.split("pid=").nth(1)?.split(',').next()?.parse().ok()?;
            Some((comm.to_string(), pid))
        })
        .collect()
}

fn run(inst: &Instance, program: &str, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new(inst.bin.join(program))
        .env("MAIL_CONFIG", &inst.dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect(program);
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .expect("stdin");
    drop(input);
    let out = child.wait_with_output().expect(program);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn seed_002_tables_in_mariadb() {
    let inst = Instance::new("virtual-mysql");
    let d = inst.dir.clone();
    // Declared after the instance, so dropped (stopped by PID) first.
    let mut db = match MariaDb::start_in(&d.join("mariadb")) {
        Ok(db) => db,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let (base, uid, gid) = vmail_base(&inst, 9000);
    let sink_port = kit::testdb::free_port();
    let _sink = smtp_sink(sink_port, &d.join("sink"), &[]);
    db.sql(&seed_sql(sink_port));

    // The seed's .cf files; hosts names the private server, and
    // retry_interval (a Postfix parameter, 60s by default) lets the test
    // see the server come back within seconds.
    let cf = |name: &str, query: &str| {
        let p = d.join(name);
        std::fs::write(
            &p,
            format!(
                "user = mail_admin\npassword = mys123123\ndbname = mail\nquery = {query}\nhosts = 127.0.0.1:{}\nretry_interval = 2\n",
                db.port
            ),
        )
        .expect("cf");
        p.display().to_string()
    };
    let domains = cf(
        "mysql-virtual_domains.cf",
        "SELECT domain AS virtual FROM domains WHERE domain='%s'",
    );
    let forwardings = cf(
        "mysql-virtual_forwardings.cf",
        "SELECT destination FROM forwardings WHERE source='%s'",
    );
    let mailboxes = cf("mysql-virtual_mailboxes.cf", "SELECT CONCAT(SUBSTRING_INDEX(email,'@',-1),'/',SUBSTRING_INDEX(email,'@',1),'/') FROM users WHERE email='%s'");
    let email2email = cf(
        "mysql-virtual_email2email.cf",
        "SELECT email FROM users WHERE email='%s'",
    );
    let transport = cf(
        "mysql-virtual_transports.cf",
        "SELECT transport FROM transport WHERE domain='%s'",
    );
    let users = cf(
        "mysql-virtual_users.cf",
        "SELECT password FROM users WHERE email='%s'",
    );
    std::fs::write(d.join("hold.re"), "/^Subject: held/ HOLD\n").expect("hold.re");
    inst.main_cf(&format!(
        "virtual_mailbox_domains = proxy:mysql:{domains}\nvirtual_mailbox_maps = proxy:mysql:{mailboxes}\nvirtual_alias_maps = proxy:mysql:{forwardings}, proxy:mysql:{email2email}\ntransport_maps = proxy:mysql:{transport}\nvirtual_mailbox_base = {b}\nvirtual_uid_maps = static:{uid}\nvirtual_gid_maps = static:{gid}\nrelay_domains = elsewhere.test\nheader_checks = regexp:{d}/hold.re\nalias_maps =\nalias_database =\npassdb = mysql:{users}\nauth_username_format = %u\nmail_uid = {uid}\nmail_gid = {gid}\nmail_home = {b}/%d/%n\nmail_location = maildir:~/\nfirst_valid_uid = 100\nauth_failure_delay = 0\nsmtpd_sasl_auth_enable = yes\nsmtpd_sasl_type = dovecot\nsmtpd_sasl_path = private/auth\nsmtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination\nmynetworks = 127.0.0.2/32\n",
        b = base.display(),
        d = d.display()
    ));
    inst.master_cf("127.0.0.1:0 inet n - n - - smtpd\npickup unix n - n 1 1 pickup\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nvirtual unix - n n - - virtual\nsmtp unix - - n - - smtp\nbounce unix - - n - 0 bounce\ndefer unix - - n - 0 bounce\nproxymap unix - - n - - proxymap\nauth unix - - n - - auth\nshowq unix n - n - - showq\n[127.0.0.1]:0 inet n n n - - imapd\n127.0.0.2:0 inet n n n - - pop3d\n");

    // As the seed writes them, the .cf password (mys123123) is not the
    // one its GRANTs set (mail_13Ad): a look-up fails, it is not "not found".
    let (ok, out) = run(
        &inst,
        "postmap",
        &["-q", "example.test", &format!("mysql:{domains}")],
        None,
    );
    assert!(!ok && out.contains("Access denied"), "{out}");
    db.sql("ALTER USER 'mail_admin'@'localhost' IDENTIFIED BY 'mys123123'");
    let (ok, out) = run(
        &inst,
        "postmap",
        &["-q", "example.test", &format!("mysql:{domains}")],
        None,
    );
    assert!(ok && out.trim() == "example.test", "{out}");

    inst.start();
    let port = inst.port("127.0.0.1:0");
    let imap = inst.port("[127.0.0.1]:0");
    let pop = inst.port("127.0.0.2:0");
    let joe_new = base.join("example.test/joe/new");
    let joe_cur = base.join("example.test/joe/cur");
    let joe_all = || {
        let mut v = files(&joe_new);
        v.extend(files(&joe_cur));
        v
    };
    let delivered = "status=sent (delivered to maildir)";

    assert_eq!(send(port, "joe@example.test", "to joe"), "ok");
    assert_eq!(send(port, "info@example.test", "to info"), "ok");
    let refused = send(port, "nobody@example.test", "unknown");
    assert!(refused.starts_with("550 5.1.1 "), "{refused}");
    assert_eq!(send(port, "someone@elsewhere.test", "elsewhere"), "ok");
    assert!(
        inst.wait_log(delivered, 2, 20 * SECOND),
        "{}",
        inst.maillog()
    );
    assert_eq!(files(&joe_new).len(), 2);
    let texts: Vec<String> = files(&joe_new)
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("message"))
        .collect();
    assert!(texts
        .iter()
        .any(|t| t.contains("X-Original-To: info@example.test")));
    // The transport row: smtp to smtp-sink, not the default route.
    let to_sink = format!("relay=127.0.0.1[127.0.0.1]:{sink_port}");
    assert!(
        inst.wait_log(&to_sink, 1, 20 * SECOND),
        "{}",
        inst.maillog()
    );
    assert!(
        inst.log_lines(&to_sink)[0].contains("status=sent"),
        "{}",
        inst.maillog()
    );
    assert!(kit::wait_until(5 * SECOND, || kit::sink_dumps(
        &d.join("sink")
    )
    .len()
        == 1));

    // The virtual user, password from the users table through auth.
    let out = kit::virtual_user_session(imap, pop, port, "joe@example.test", "joe-secret");
    assert_eq!(kit::field(&out, "imap-exists"), "2", "{out:#?}");
    assert_eq!(kit::field(&out, "pop-stat"), "2");
    assert_eq!(kit::field(&out, "smtp-auth"), "ok");
    assert!(kit::field(&out, "wrong").contains("AUTHENTICATIONFAILED"));
    assert!(
        inst.wait_log(delivered, 3, 20 * SECOND),
        "{}",
        inst.maillog()
    );
    assert!(inst.maillog().contains("sasl_username=joe@example.test"));

    // A burst: 8 clients at once, 24 messages, each looked up in four
    // tables by smtpd, cleanup, qmgr and virtual workers. The proxy keeps
    // one connection per table open; the count stays a handful.
    db.sql("FLUSH STATUS");
    let connections = status(&db, "Connections");
    let log_before = inst.maillog().lines().count();
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (done, port) = (done.clone(), db.port);
        std::thread::spawn(move || {
            let mut seen = BTreeSet::new();
            while !done.load(Ordering::SeqCst) {
                seen.extend(db_clients(port));
                std::thread::sleep(Duration::from_millis(50));
            }
            seen
        })
    };
    let burst = format!(
        r#"
import smtplib, threading
def client(i):
    s = smtplib.SMTP("127.0.0.1", {port}, timeout=30)
    for j in range(3):
        s.sendmail("sender@example.org", ["u%d@example.test" % i], b"Subject: burst\r\n\r\nx\r\n")
    s.quit()
ts = [threading.Thread(target=client, args=(i,)) for i in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print("burst ok")
"#
    );
    assert_eq!(kit::field(&python_lines(&[], &burst, &[]), "burst"), "ok");
    assert!(
        inst.wait_log(delivered, 27, 30 * SECOND),
        "{}",
        inst.maillog()
    );
    done.store(true, Ordering::SeqCst);
    let clients = watcher.join().expect("watcher");
    for i in 0..8 {
        assert_eq!(files(&base.join(format!("example.test/u{i}/new"))).len(), 3);
    }
    // The workers that looked up the tables during the burst.
    let workers: BTreeSet<String> = inst
        .maillog()
        .lines()
        .skip(log_before)
        .filter_map(|l| {
            let tag = l.split("mailsuite/").nth(1)?.split(':').next()?;
            let worker = ["smtpd[", "cleanup[", "virtual["]
                .iter()
                .any(|w| tag.starts_with(w));
            worker.then(|| tag.to_string())
        })
        .collect();
    let proxymaps = clients
        .iter()
        .filter(|(comm, _)| comm == "proxymap")
        .count();
    // Less the test's own client.
    let max_used = status(&db, "Max_used_connections") - 1;
    let opened = status(&db, "Connections") - connections - 2;
    eprintln!(
        "MariaDB during the burst: {} workers, {max_used} connections at most at once, {opened} opened, held by {clients:?}",
        workers.len()
    );
    assert!(
        clients
            .iter()
            .all(|(comm, _)| comm == "proxymap" || comm == "auth"),
        "only proxymap (and auth's passdb) talk to MariaDB: {clients:?}"
    );
    // At most one connection per proxied table (5) in each proxymap
    // process, and the passdb's in auth; proxymap processes serve many
    // workers each (a worker holding a connection to proxymap does not
    // make the master start another).
    assert!(
        max_used <= 5 * proxymaps as u64 + 1,
        "{max_used} connections, {proxymaps} proxymaps"
    );
    assert!(
        proxymaps * 2 <= workers.len(),
        "{proxymaps} proxymaps for {} workers",
        workers.len()
    );

    // A message in the queue before the server goes away: held now,
    // released once it is down.
    assert_eq!(send(port, "joe@example.test", "held"), "ok");
    assert!(kit::wait_until(10 * SECOND, || files(
        &d.join("queue/hold")
    )
    .len()
        == 1));

    // MariaDB down.
    let pid = db.pid().expect("mariadbd pid");
    db.stop();
    assert!(!alive(pid as i32));
    let refused = send(port, "joe@example.test", "while down");
    assert!(refused.starts_with("451 4.3.0 "), "{refused}");
    // sendmail: pickup → cleanup, which cannot expand the address and
    // leaves the file in maildrop.
    let (ok, out) = run(
        &inst,
        "sendmail",
        &["joe@example.test"],
        Some("Subject: posted while down\n\nbody\n"),
    );
    assert!(ok, "{out}");
    assert!(
        inst.wait_log(
            "virtual_alias_maps map lookup problem for joe@example.test",
            1,
            10 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    // The held message: qmgr cannot resolve it and defers it.
    let (ok, out) = run(&inst, "postsuper", &["-H", "ALL"], None);
    assert!(ok, "{out}");
    let (ok, out) = run(&inst, "postqueue", &["-f"], None);
    assert!(ok, "{out}");
    assert!(
        inst.wait_log("status=deferred", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    let (_, queue) = run(&inst, "postqueue", &["-p"], None);
    assert!(queue.contains("joe@example.test"), "{queue}");
    assert_eq!(joe_all().len(), 3, "nothing delivered while down");

    // MariaDB back: both delivered, SMTP answers again.
    db.start();
    std::thread::sleep(2 * SECOND);
    let (ok, out) = run(&inst, "postqueue", &["-f"], None);
    assert!(ok, "{out}");
    assert!(
        inst.wait_log(delivered, 29, 20 * SECOND),
        "{}",
        inst.maillog()
    );
    assert_eq!(send(port, "info@example.test", "back again"), "ok");
    assert!(
        inst.wait_log(delivered, 30, 20 * SECOND),
        "{}",
        inst.maillog()
    );
    let subjects: Vec<String> = joe_all()
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("message"))
        .filter_map(|t| {
            t.lines()
                .find(|l| l.starts_with("Subject: "))
                .map(str::to_string)
        })
        .collect();
    for s in ["held", "posted while down", "back again"] {
        assert!(
            subjects.iter().any(|l| l == &format!("Subject: {s}")),
            "{s}: {subjects:?}"
        );
    }
    assert!(files(&d.join("queue/maildrop")).is_empty());
    assert!(
        !inst.maillog().contains("status=bounced"),
        "{}",
        inst.maillog()
    );
    inst.stop();
}
