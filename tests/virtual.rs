//! The virtual delivery agent end to end: SMTP → smtpd (unknown virtual
//! users refused at RCPT) → cleanup (virtual_alias_maps) → qmgr
//! (virtual_transport) → virtual → a Maildir or an mbox under
//! virtual_mailbox_base, owned by the uid/gid of virtual_uid_maps and
//! virtual_gid_maps when run as root; a catch-all domain; a table entry
//! that tries to leave the base is deferred, not delivered; and the
//! virtual user reads the mail back over IMAP.

use kit::{dir_files as files, is_root, python_lines, send_mail as send, vmail_base, Instance};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn virtual_mailboxes_maildir_mbox_alias_and_catchall() {
    let inst = Instance::new("virtual");
    let d = inst.dir.clone();
    let (base, uid, gid) = vmail_base(&inst, 5000);
    std::fs::write(
        d.join("vmailbox"),
        "alice@example.test example.test/alice/\nbob@example.test example.test/bob\n@catch.test catch/all/\nevil@example.test example.test/../../escape/\n",
    )
    .expect("vmailbox");
    std::fs::write(
        d.join("valias"),
        "team@example.test alice@example.test, bob@example.test\n",
    )
    .expect("valias");
    inst.main_cf(&format!(
        "virtual_mailbox_domains = example.test, catch.test\nvirtual_mailbox_base = {b}\nvirtual_mailbox_maps = texthash:{d}/vmailbox\nvirtual_alias_maps = texthash:{d}/valias\nvirtual_uid_maps = static:{uid}\nvirtual_gid_maps = static:{gid}\nvirtual_minimum_uid = 100\nalias_maps =\nalias_database =\n",
        b = base.display(),
        d = d.display()
    ));
    inst.master_cf("127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nvirtual unix - n n - - virtual\nbounce unix - - n - 0 bounce\n");
    inst.start();
    let port = inst.port("127.0.0.1:0");

    assert_eq!(send(port, "alice@example.test", "to alice"), "ok");
    assert_eq!(send(port, "bob@example.test", "to bob"), "ok");
    assert_eq!(send(port, "team@example.test", "to the team"), "ok");
    assert_eq!(send(port, "anyone@catch.test", "caught"), "ok");
    let refused = send(port, "nobody@example.test", "unknown");
    assert!(refused.starts_with("550 5.1.1 "), "{refused}");
    assert!(refused.contains("virtual mailbox table"), "{refused}");
    assert!(
        inst.wait_log("relay=virtual", 5, 20 * SECOND),
        "{}",
        inst.maillog()
    );

    let alice = base.join("example.test/alice");
    let new = files(&alice.join("new"));
    assert_eq!(new.len(), 2, "alice: direct and via the team alias");
    let texts: Vec<String> = new
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("message"))
        .collect();
    assert!(texts.iter().any(|t| t.contains("Subject: to alice")));
    assert!(texts
        .iter()
        .any(|t| t.contains("Subject: to the team")
            && t.contains("X-Original-To: team@example.test")));
    assert!(texts
        .iter()
        .all(|t| t.contains("Delivered-To: alice@example.test")
            && t.starts_with("Return-Path: <sender@example.org>")));
    let bob = std::fs::read_to_string(base.join("example.test/bob")).expect("bob's mbox");
    assert!(bob.starts_with("From sender@example.org "), "{bob}");
    assert_eq!(bob.matches("\nSubject: ").count(), 2, "{bob}");
    assert_eq!(files(&base.join("catch/all/new")).len(), 1);
    for p in new.iter().chain([base.join("example.test/bob")].iter()) {
        let m = std::fs::metadata(p).expect("stat");
        assert_eq!((m.uid(), m.gid()), (uid, gid), "{}", p.display());
    }
    assert!(inst
        .maillog()
        .contains("status=sent (delivered to maildir)"));

    // A table entry with "..": deferred, nothing written outside the base.
    assert_eq!(send(port, "evil@example.test", "escape"), "ok");
    assert!(
        inst.wait_log("status=deferred (bad mailbox path", 1, 20 * SECOND),
        "{}",
        inst.maillog()
    );
    assert!(!d.join("escape").exists());
    inst.stop();
}

/// virtual_delivery_status_filter: the virtual agent's result through a
/// table (here a deferral's text), as Postfix's dsn_filter.
#[test]
fn virtual_delivery_status_filter_rewrites_the_result() {
    let inst = Instance::new("virtual-dsn-filter");
    let d = inst.dir.clone();
    let (base, uid, gid) = vmail_base(&inst, 5000);
    std::fs::write(
        d.join("vmailbox"),
        "evil@example.test example.test/../../escape/\n",
    )
    .expect("vmailbox");
    std::fs::write(
        d.join("dsn_filter"),
        "/^(4\\.[0-9]+\\.[0-9]+) bad mailbox path(.*)$/ $1 refused by the filter:$2\n",
    )
    .expect("filter");
    inst.main_cf(&format!(
        "virtual_mailbox_domains = example.test\nvirtual_mailbox_base = {b}\nvirtual_mailbox_maps = texthash:{d}/vmailbox\nvirtual_uid_maps = static:{uid}\nvirtual_gid_maps = static:{gid}\nvirtual_minimum_uid = 100\nalias_maps =\nalias_database =\nvirtual_delivery_status_filter = regexp:{d}/dsn_filter\n",
        b = base.display(),
        d = d.display()
    ));
    inst.master_cf("127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nvirtual unix - n n - - virtual\nbounce unix - - n - 0 bounce\n");
    inst.start();
    let port = inst.port("127.0.0.1:0");
    assert_eq!(send(port, "evil@example.test", "escape"), "ok");
    assert!(
        inst.wait_log("status=deferred (refused by the filter:", 1, 20 * SECOND),
        "{}",
        inst.maillog()
    );
    inst.stop();
}

/// A virtual_alias_maps table that cannot answer (an SQL server down)
/// makes cleanup refuse the message with 451: nothing is delivered to the
/// unexpanded address, nothing bounces, the client tries again, and the
/// message's other recipients are not looked up in the failing table.
#[test]
fn virtual_alias_lookup_failure_is_temporary() {
    let inst = Instance::new("virtual-fail");
    inst.main_cf("virtual_alias_domains = example.test\nvirtual_alias_maps = fail:database-down\nalias_maps =\nalias_database =\n");
    inst.master_cf(
        "127.0.0.1:0 inet n - n - - smtpd\npickup unix n - n 60 1 pickup\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nbounce unix - - n - 0 bounce\n",
    );
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let script = format!(
        "import smtplib\ns = smtplib.SMTP('127.0.0.1', {port}, timeout=10)\ns.ehlo()\ns.mail('sender@example.org')\nprint('rcpt', *s.rcpt('someone@example.test'))\ns.putcmd('data')\nprint('data', *s.getreply())\ns.send(b'Subject: x\\r\\n\\r\\nx\\r\\n.\\r\\n')\ncode, msg = s.getreply()\nprint('end', code, msg.decode())\ns.close()\n"
    );
    let out = python_lines(&[], &script, &[]);
    // smtpd already asks the table at RCPT.
    assert_eq!(
        kit::field(&out, "rcpt"),
        "451 b'4.3.0 <someone@example.test>: Temporary lookup failure'"
    );
    // Local submission reaches cleanup, which must not accept it either.
    let out = inst.sendmail(
        &["someone@example.test", "other@example.test"],
        b"Subject: local\n\nbody\n",
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        inst.wait_log(
            "virtual_alias_maps map lookup problem for someone@example.test",
            1,
            10 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    // Once the table failed, the other recipient is not looked up in it.
    assert!(!inst
        .maillog()
        .contains("lookup problem for other@example.test"));
    assert!(!inst.maillog().contains("status=bounced"));
    assert!(!inst.maillog().contains("status=sent"));
    inst.stop();
}

/// A virtual user end to end: mail delivered by virtual to
/// `$virtual_mailbox_base/example.test/alice/`, read back over IMAP and
/// POP3 with the address as the login name (passdb: a lookup table with
/// `{SCHEME}password` values; uid, gid and home from mail_uid, mail_gid
/// and mail_home), and sent with SMTP AUTH as the same user.
#[test]
fn virtual_user_logs_in_to_imap_pop3_and_smtp_auth() {
    let inst = Instance::new("virtual-login");
    let d = inst.dir.clone();
    let (base, uid, gid) = vmail_base(&inst, 6000);
    std::fs::write(
        d.join("vmailbox"),
        "alice@example.test example.test/alice/\n",
    )
    .expect("vmailbox");
    // A crypt hash, as MySQL's ENCRYPT() or doveadm pw would store it.
    let hash = std::process::Command::new("openssl")
        .args(["passwd", "-6", "alice-secret"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            format!(
                "{{SHA512-CRYPT}}{}",
                String::from_utf8_lossy(&o.stdout).trim()
            )
        })
        .unwrap_or_else(|| "{PLAIN}alice-secret".into());
    std::fs::write(d.join("vpass"), format!("alice@example.test {hash}\n")).expect("vpass");
    inst.main_cf(&format!(
        "virtual_mailbox_domains = example.test\nvirtual_mailbox_base = {b}\nvirtual_mailbox_maps = texthash:{d}/vmailbox\nvirtual_uid_maps = static:{uid}\nvirtual_gid_maps = static:{gid}\nalias_maps =\nalias_database =\npassdb = texthash:{d}/vpass\nauth_username_format = %u\nmail_uid = {uid}\nmail_gid = {gid}\nmail_home = {b}/%d/%n\nmail_location = maildir:~/\nfirst_valid_uid = 100\nauth_failure_delay = 0\nsmtpd_sasl_auth_enable = yes\nsmtpd_sasl_type = dovecot\nsmtpd_sasl_path = private/auth\nsmtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination\nmynetworks = 127.0.0.2/32\n",
        b = base.display(),
        d = d.display()
    ));
    inst.master_cf("127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nvirtual unix - n n - - virtual\nbounce unix - - n - 0 bounce\nauth unix - - n - - auth\n[127.0.0.1]:0 inet n n n - - imapd\n127.0.0.2:0 inet n n n - - pop3d\n");
    inst.start();
    let smtp = inst.port("127.0.0.1:0");
    let imap = inst.port("[127.0.0.1]:0");
    let pop = inst.port("127.0.0.2:0");
    assert_eq!(send(smtp, "alice@example.test", "hello alice"), "ok");
    assert!(
        inst.wait_log("status=sent (delivered to maildir)", 1, 20 * SECOND),
        "{}",
        inst.maillog()
    );
    let out = kit::virtual_user_session(imap, pop, smtp, "alice@example.test", "alice-secret");
    assert_eq!(kit::field(&out, "imap-exists"), "1", "{out:#?}");
    assert_eq!(kit::field(&out, "imap-subject"), "Subject: hello alice");
    assert_eq!(kit::field(&out, "pop-stat"), "1");
    assert_eq!(kit::field(&out, "smtp-auth"), "ok");
    assert!(
        kit::field(&out, "wrong").contains("AUTHENTICATIONFAILED"),
        "{out:#?}"
    );
    assert!(
        inst.wait_log("status=sent (delivered to maildir)", 2, 20 * SECOND),
        "{}",
        inst.maillog()
    );
    assert!(inst.maillog().contains("sasl_username=alice@example.test"));
    inst.stop();
}

/// The virtual tables through proxymap (`proxy:texthash:…`): mail is
/// delivered as with the table itself, `postmap -q` answers through the
/// proxy, a table that proxy_read_maps does not list is refused, and
/// proxymap tells its clients which tables are patterns — an SQL query
/// with `%u` is one, a `%s` query is a fixed-string table.
#[test]
fn virtual_tables_through_proxymap() {
    let inst = Instance::new("virtual-proxy");
    let d = inst.dir.clone();
    let (base, uid, gid) = vmail_base(&inst, 7000);
    std::fs::write(
        d.join("vmailbox"),
        "carol@example.test example.test/carol/\n",
    )
    .expect("vmailbox");
    std::fs::write(d.join("other"), "carol@example.test secret\n").expect("other");
    let db = d.join("aliases.sqlite");
    python_lines(
        &[],
        "import sqlite3, sys\nsqlite3.connect(sys.argv[1]).execute('CREATE TABLE t (k TEXT)')\nprint('ok')\n",
        &[&db.display().to_string()],
    );
    if is_root() {
        std::os::unix::fs::chown(&db, Some(65534), Some(65534)).expect("chown");
    }
    std::fs::write(
        d.join("by-user.cf"),
        format!(
            "dbname = {}\nquery = SELECT 'x' WHERE '%u' = 'nobody'\n",
            db.display()
        ),
    )
    .expect("cf");
    std::fs::write(
        d.join("by-address.cf"),
        format!(
            "dbname = {}\nquery = SELECT 'x' WHERE '%s' = 'nobody'\n",
            db.display()
        ),
    )
    .expect("cf");
    inst.main_cf(&format!(
        "virtual_mailbox_domains = example.test\nvirtual_mailbox_base = {b}\nvirtual_mailbox_maps = proxy:texthash:{d}/vmailbox\nvirtual_uid_maps = static:{uid}\nvirtual_gid_maps = static:{gid}\nalias_maps =\nalias_database =\nproxy_read_maps = $virtual_mailbox_maps proxy:sqlite:{d}/by-user.cf proxy:sqlite:{d}/by-address.cf\n",
        b = base.display(),
        d = d.display()
    ));
    inst.master_cf("127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nvirtual unix - n n - - virtual\nbounce unix - - n - 0 bounce\nproxymap unix - - n - - proxymap\n");
    inst.start();
    let port = inst.port("127.0.0.1:0");
    assert_eq!(send(port, "carol@example.test", "via proxy"), "ok");
    let refused = send(port, "dave@example.test", "unknown");
    assert!(refused.starts_with("550 5.1.1 "), "{refused}");
    assert!(
        inst.wait_log("status=sent (delivered to maildir)", 1, 20 * SECOND),
        "{}",
        inst.maillog()
    );
    assert_eq!(files(&base.join("example.test/carol/new")).len(), 1);
    let q = |table: String| {
        std::process::Command::new(inst.bin.join("postmap"))
            .env("MAIL_CONFIG", &inst.dir)
            .args(["-q", "carol@example.test", &table])
            .output()
            .expect("postmap")
    };
    let ok = q(format!("proxy:texthash:{}/vmailbox", d.display()));
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).trim(),
        "example.test/carol/"
    );
    let denied = q(format!("proxy:texthash:{}/other", d.display()));
    assert!(!denied.status.success(), "an unlisted table answered");
    assert!(
        inst.wait_log("request for unapproved table", 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );

    // The kind of each table, as proxymap's clients ask it.
    let mut conn = std::os::unix::net::UnixStream::connect(d.join("queue/private/proxymap"))
        .expect("proxymap socket");
    conn.set_read_timeout(Some(10 * SECOND)).expect("timeout");
    let mut reader = std::io::BufReader::new(conn.try_clone().expect("clone"));
    let mut ask = |line: String| {
        use std::io::{BufRead, Write};
        conn.write_all(line.as_bytes()).expect("write");
        let mut reply = String::new();
        reader.read_line(&mut reply).expect("read");
        reply
    };
    let dd = d.display();
    assert_eq!(
        ask(format!("open\tsqlite:{dd}/by-user.cf\n")),
        "OK\tpattern\n"
    );
    assert_eq!(
        ask(format!("open\tsqlite:{dd}/by-address.cf\n")),
        "OK\tfixed\n"
    );
    assert_eq!(
        ask(format!("open\ttexthash:{dd}/vmailbox\n")),
        "OK\tfixed\n"
    );
    assert!(ask(format!("open\ttexthash:{dd}/other\n")).starts_with("DENIED\t"));
    assert_eq!(
        ask(format!(
            "lookup\ttexthash:{dd}/vmailbox\tcarol@example.test\n"
        )),
        "OK\texample.test/carol/\n"
    );
    inst.stop();
}

/// Seed 002's set-up on the embedded default, SQLite: the four tables
/// (domains, forwardings, users, transport) behind virtual_mailbox_domains,
/// virtual_mailbox_maps, virtual_alias_maps, transport_maps and the passdb,
/// with the seed's queries; a mailbox row receives mail, a forwarding row
/// reroutes it, a transport row sends a domain elsewhere, an unknown user
/// is refused at RCPT, and the virtual user logs in to IMAP with the
/// address and the password from the users table.
#[test]
fn seed_002_tables_in_sqlite() {
    let inst = Instance::new("virtual-sqlite");
    let d = inst.dir.clone();
    let (base, uid, gid) = vmail_base(&inst, 8000);
    let db = d.join("mail.sqlite");
    let script = r#"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for s in [
    "CREATE TABLE domains (domain varchar(50) NOT NULL, PRIMARY KEY (domain))",
    "CREATE TABLE forwardings (source varchar(80) NOT NULL, destination TEXT NOT NULL, PRIMARY KEY (source))",
    "CREATE TABLE users (email varchar(80) NOT NULL, password varchar(128) NOT NULL, PRIMARY KEY (email))",
    "CREATE TABLE transport (domain varchar(128) NOT NULL default '', transport varchar(128) NOT NULL default '', UNIQUE (domain))",
    "INSERT INTO domains VALUES ('example.test')",
    "INSERT INTO users VALUES ('joe@example.test', '{PLAIN}joe-secret')",
    "INSERT INTO forwardings VALUES ('info@example.test', 'joe@example.test')",
    "INSERT INTO transport VALUES ('elsewhere.test', 'smtp:[127.0.0.1]:9')",
]:
    c.execute(s)
c.commit()
print("ok")
"#;
    python_lines(&[], script, &[&db.display().to_string()]);
    if is_root() {
        std::os::unix::fs::chown(&db, Some(65534), Some(65534)).expect("chown");
    }
    let cf = |name: &str, query: &str| {
        let p = d.join(name);
        std::fs::write(&p, format!("dbname = {}\nquery = {query}\n", db.display())).expect("cf");
        p.display().to_string()
    };
    let domains = cf(
        "domains.cf",
        "SELECT domain AS virtual FROM domains WHERE domain='%s'",
    );
    let forwardings = cf(
        "forwardings.cf",
        "SELECT destination FROM forwardings WHERE source='%s'",
    );
    let mailboxes = cf("mailboxes.cf", "SELECT substr(email, instr(email, '@') + 1) || '/' || substr(email, 1, instr(email, '@') - 1) || '/' FROM users WHERE email='%s'");
    let email2email = cf("email2email.cf", "SELECT email FROM users WHERE email='%s'");
    let transport = cf(
        "transport.cf",
        "SELECT transport FROM transport WHERE domain='%s'",
    );
    let passwords = cf(
        "passwords.cf",
        "SELECT password FROM users WHERE email='%s'",
    );
    inst.main_cf(&format!(
        "virtual_mailbox_domains = sqlite:{domains}\nvirtual_mailbox_maps = sqlite:{mailboxes}\nvirtual_alias_maps = sqlite:{forwardings}, sqlite:{email2email}\ntransport_maps = sqlite:{transport}\nvirtual_mailbox_base = {b}\nvirtual_uid_maps = static:{uid}\nvirtual_gid_maps = static:{gid}\nrelay_domains = elsewhere.test\nalias_maps =\nalias_database =\npassdb = sqlite:{passwords}\nauth_username_format = %u\nmail_uid = {uid}\nmail_gid = {gid}\nmail_home = {b}/%d/%n\nmail_location = maildir:~/\nfirst_valid_uid = 100\nauth_failure_delay = 0\n",
        b = base.display()
    ));
    inst.master_cf("127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nvirtual unix - n n - - virtual\nsmtp unix - - n - - smtp\nbounce unix - - n - 0 bounce\ndefer unix - - n - 0 bounce\nauth unix - - n - - auth\n[127.0.0.1]:0 inet n n n - - imapd\n");
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let imap = inst.port("[127.0.0.1]:0");
    assert_eq!(send(port, "joe@example.test", "to joe"), "ok");
    assert_eq!(send(port, "info@example.test", "to info"), "ok");
    let refused = send(port, "nobody@example.test", "unknown");
    assert!(refused.starts_with("550 5.1.1 "), "{refused}");
    assert!(
        inst.wait_log("status=sent (delivered to maildir)", 2, 20 * SECOND),
        "{}",
        inst.maillog()
    );
    assert_eq!(files(&base.join("example.test/joe/new")).len(), 2);
    // elsewhere.test goes by its transport row: smtp to port 9, refused,
    // so deferred (not delivered here, not bounced).
    assert_eq!(send(port, "someone@elsewhere.test", "elsewhere"), "ok");
    assert!(
        inst.wait_log("relay=none, ", 1, 20 * SECOND)
            || inst.wait_log("127.0.0.1]:9", 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );
    assert!(inst
        .log_lines("someone@elsewhere.test")
        .iter()
        .any(|l| l.contains("status=deferred")));
    let script = format!(
        "import imaplib\nM = imaplib.IMAP4('127.0.0.1', {imap})\nM.login('joe@example.test', 'joe-secret')\nprint('exists', M.select('INBOX')[1][0].decode())\nM.logout()\n"
    );
    let out = python_lines(&[], &script, &[]);
    assert_eq!(kit::field(&out, "exists"), "2", "{}", inst.maillog());
    inst.stop();
}
