//! SQL tables end to end with seed 002's virtual-domain schema (domains,
//! forwardings, users, transport): `sqlite:` on a temp database always;
//! `mysql:` against a private MariaDB and `pgsql:` against a private
//! PostgreSQL, each started on a loopback port in a temp directory when
//! its binaries are installed (the test says why it skips otherwise) and
//! stopped by PID at the end.

// Test helpers outside #[test] functions may panic on setup failures.
#![allow(clippy::unwrap_used)]

use maps::{open, Ctx, Map, MapError, MapKind};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use testdb::{chown_tree, command, find_bin, free_port, is_root, run_as, MariaDb, Server};

const SCHEMA: &[&str] = &[
    "CREATE TABLE domains (domain varchar(50) NOT NULL, PRIMARY KEY (domain))",
    "CREATE TABLE forwardings (source varchar(80) NOT NULL, destination TEXT NOT NULL, PRIMARY KEY (source))",
    "CREATE TABLE users (email varchar(80) NOT NULL, password varchar(20) NOT NULL, PRIMARY KEY (email))",
    "CREATE TABLE transport (domain varchar(128) NOT NULL default '', transport varchar(128) NOT NULL default '', UNIQUE (domain))",
    "INSERT INTO domains VALUES ('example.com'), ('example.net')",
    "INSERT INTO forwardings VALUES ('info@example.com', 'joe@example.com'), \
     ('@example.com', 'catchall@example.com'), ('sales@example.net', 'jane@example.net')",
    "INSERT INTO users VALUES ('joe@example.com', 'secret'), ('jane@example.net', 'secret2')",
    "INSERT INTO transport VALUES ('example.com', 'lmtp:unix:private/dovecot-lmtp')",
];

const EVIL: &str = "x'; DROP TABLE users; --@example.com";

/// A fresh directory, removed at the end.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("maps-sql-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    fn file(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn quiet() -> Ctx {
    Ctx::new().with_warn(|_| {})
}

fn map(d: &Dir, name: &str, kind: &str, common: &str, rest: &str) -> Box<dyn Map> {
    let p = d.file(name, &format!("{common}\n{rest}\n"));
    open(&format!("{kind}:{p}"), &quiet()).unwrap()
}

fn get(m: &dyn Map, key: &str) -> Option<String> {
    m.lookup(key)
        .unwrap_or_else(|e| panic!("{} {key}: {e}", m.spec()))
}

/// The look-ups every type must answer alike. `common` holds the
/// connection parameters of the `.cf` files.
fn check_seed_lookups(d: &Dir, kind: &str, common: &str) {
    // Seed 002's maps.
    let domains = map(
        d,
        "domains.cf",
        kind,
        common,
        "query = SELECT domain AS virtual FROM domains WHERE domain='%s'",
    );
    assert_eq!(
        get(&*domains, "example.com").as_deref(),
        Some("example.com")
    );
    assert_eq!(
        get(&*domains, "EXAMPLE.NET").as_deref(),
        Some("example.net")
    );
    assert_eq!(get(&*domains, "example.org"), None);
    assert_eq!(domains.kind(), MapKind::Fixed);

    let email2email = map(
        d,
        "email2email.cf",
        kind,
        common,
        "query = SELECT email FROM users WHERE email='%s'",
    );
    assert_eq!(
        get(&*email2email, "joe@example.com").as_deref(),
        Some("joe@example.com")
    );
    // The injection attempt is a key like any other: not found, and the
    // table is still there.
    assert_eq!(get(&*email2email, EVIL), None);
    assert_eq!(
        get(&*email2email, "joe@example.com").as_deref(),
        Some("joe@example.com")
    );
    let evil_cf = map(
        d,
        "evil.cf",
        kind,
        common,
        "query = SELECT email FROM users WHERE email='%u@%d' OR email LIKE '%%%s'",
    );
    assert_eq!(get(&*evil_cf, EVIL), None);
    assert_eq!(
        get(&*email2email, "jane@example.net").as_deref(),
        Some("jane@example.net")
    );

    // Virtual mailboxes through result_format instead of CONCAT().
    let mailboxes = map(
        d,
        "mailboxes.cf",
        kind,
        common,
        "query = SELECT email FROM users WHERE email='%s'\nresult_format = %d/%u/",
    );
    assert_eq!(
        get(&*mailboxes, "joe@example.com").as_deref(),
        Some("example.com/joe/")
    );

    // Several rows are joined with commas; expansion_limit caps them.
    let fwd = "query = SELECT destination FROM forwardings WHERE source='%s' OR source='@%d' \
               ORDER BY source DESC";
    let forwardings = map(d, "forwardings.cf", kind, common, fwd);
    assert_eq!(
        get(&*forwardings, "info@example.com").as_deref(),
        Some("joe@example.com,catchall@example.com")
    );
    assert_eq!(
        get(&*forwardings, "other@example.com").as_deref(),
        Some("catchall@example.com")
    );
    // %d without a domain in the key: no query, not found.
    assert_eq!(get(&*forwardings, "example.com"), None);
    assert_eq!(forwardings.kind(), MapKind::Pattern);
    let limited = map(
        d,
        "limited.cf",
        kind,
        common,
        &format!("{fwd}\nexpansion_limit = 1"),
    );
    assert!(matches!(
        limited.lookup("info@example.com"),
        Err(MapError::Lookup { .. })
    ));
    assert_eq!(
        get(&*limited, "x@example.com").as_deref(),
        Some("catchall@example.com")
    );

    // domain: only user@listed-domain keys are looked up.
    let only = map(
        d,
        "only.cf",
        kind,
        common,
        "query = SELECT destination FROM forwardings WHERE source='%s'\ndomain = example.net",
    );
    assert_eq!(
        get(&*only, "sales@example.net").as_deref(),
        Some("jane@example.net")
    );
    assert_eq!(get(&*only, "info@example.com"), None);
    assert_eq!(get(&*only, "@example.net"), None);

    // The legacy form.
    let transport = map(
        d,
        "transport.cf",
        kind,
        common,
        "table = transport\nselect_field = transport\nwhere_field = domain",
    );
    assert_eq!(
        get(&*transport, "example.com").as_deref(),
        Some("lmtp:unix:private/dovecot-lmtp")
    );

    // %1.. labels and result_format's key fields.
    let labels = map(
        d,
        "labels.cf",
        kind,
        common,
        "query = SELECT domain FROM domains WHERE domain='%2.%1'\nresult_format = %U at %s",
    );
    assert_eq!(
        get(&*labels, "joe@mail.example.com").as_deref(),
        Some("joe at example.com")
    );
    assert_eq!(get(&*labels, "example.com"), None);

    // A bad query is a temporary failure, not "not found".
    let bad = map(
        d,
        "bad.cf",
        kind,
        common,
        "query = SELECT nosuchcolumn FROM users WHERE email='%s'",
    );
    let e = bad.lookup("joe@example.com").unwrap_err();
    assert!(matches!(e, MapError::Lookup { .. }), "{e}");
    assert!(e.to_string().contains("table lookup problem"), "{e}");
}

#[test]
fn sqlite_seed_tables() {
    let d = Dir::new("sqlite");
    let db = d.0.join("mail.sqlite");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        for s in SCHEMA {
            c.execute(s, []).unwrap();
        }
    }
    let common = format!("dbname = {}", db.display());
    check_seed_lookups(&d, "sqlite", &common);
    let c = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2);

    // Open-time errors.
    let p = d.file("nodb.cf", "query = SELECT 1");
    let e = open(&format!("sqlite:{p}"), &quiet()).err().unwrap();
    assert!(e.to_string().contains("missing \"dbname\""), "{e}");
    let p = d.file("noquery.cf", &common);
    let e = open(&format!("sqlite:{p}"), &quiet()).err().unwrap();
    assert!(e.to_string().contains("missing \"query\""), "{e}");
    let p = d.file("badq.cf", &format!("{common}\nquery = SELECT '%x'"));
    assert!(open(&format!("sqlite:{p}"), &quiet()).is_err());
    let p = d.file(
        "missing.cf",
        &format!(
            "dbname = {}/nonexistent.db\nquery = SELECT 1",
            d.0.display()
        ),
    );
    assert!(open(&format!("sqlite:{p}"), &quiet()).is_err());
    let e = open(&format!("sqlite:{}/none.cf", d.0.display()), &quiet())
        .err()
        .unwrap();
    assert!(e.is_missing_file(), "{e}");
}

/// A TCP port that accepts connections and never says anything.
fn silent_server() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

#[test]
fn mysql_timeouts_are_temporary_failures() {
    let d = Dir::new("mysql-timeout");
    let (_l, port) = silent_server();
    let dead = free_port();
    let m = map(
        &d,
        "t.cf",
        "mysql",
        &format!(
            "hosts = 127.0.0.1:{dead}, 127.0.0.1:{port}\nuser = u\npassword = p\ndbname = mail\n\
             connect_timeout = 1\nread_timeout = 1"
        ),
        "query = SELECT 1 FROM users WHERE email='%s'",
    );
    let t = Instant::now();
    let e = m.lookup("joe@example.com").unwrap_err();
    assert!(matches!(e, MapError::Lookup { .. }), "{e}");
    assert!(e.to_string().contains(&format!("127.0.0.1:{dead}")), "{e}");
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[test]
fn pgsql_timeouts_are_temporary_failures() {
    let d = Dir::new("pgsql-timeout");
    let (_l, port) = silent_server();
    let m = map(
        &d,
        "t.cf",
        "pgsql",
        &format!(
            "hosts = 127.0.0.1:{port}\nuser = u\npassword = p\ndbname = mail\nconnect_timeout = 1"
        ),
        "query = SELECT 1 FROM users WHERE email='%s'",
    );
    let t = Instant::now();
    let e = m.lookup("joe@example.com").unwrap_err();
    assert!(matches!(e, MapError::Lookup { .. }), "{e}");
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[test]
fn mysql_mariadb_server() {
    let d = Dir::new("mariadb");
    let server = match MariaDb::start_in(&d.0) {
        Ok(s) => s,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let (port, sock) = (server.port, server.socket.clone());
    let mut server = server;
    let admin_opts = mysql::OptsBuilder::new()
        .socket(Some(sock.display().to_string()))
        .user(Some("root"));
    let mut admin = mysql::Conn::new(admin_opts).unwrap();
    {
        use mysql::prelude::Queryable;
        for s in [
            "CREATE DATABASE mail",
            "CREATE USER 'mail_admin'@'127.0.0.1' IDENTIFIED BY 'mys123123'",
            "CREATE USER 'mail_admin'@'localhost' IDENTIFIED BY 'mys123123'",
            "GRANT SELECT ON mail.* TO 'mail_admin'@'127.0.0.1'",
            "GRANT SELECT ON mail.* TO 'mail_admin'@'localhost'",
            "USE mail",
        ]
        .iter()
        .chain(SCHEMA)
        {
            admin.query_drop(s).unwrap();
        }
    }

    // Seed 002's files, with the first host down (failover).
    let dead = free_port();
    let common = format!(
        "user = mail_admin\npassword = mys123123\ndbname = mail\nhosts = 127.0.0.1:{dead} 127.0.0.1:{port}"
    );
    check_seed_lookups(&d, "mysql", &common);
    // Seed 002's mailbox query as written, and a unix socket host.
    let mailboxes = map(
        &d,
        "seed-mailboxes.cf",
        "mysql",
        &format!(
            "user = mail_admin\npassword = mys123123\ndbname = mail\nhosts = unix:{}",
            sock.display()
        ),
        "query = SELECT CONCAT(SUBSTRING_INDEX(email,'@',-1),'/',SUBSTRING_INDEX(email,'@',1),'/') FROM users WHERE email='%s'",
    );
    assert_eq!(
        get(&*mailboxes, "joe@example.com").as_deref(),
        Some("example.com/joe/")
    );

    // postmap -q through maps::open with the same spec.
    let email2email = map(
        &d,
        "e2e.cf",
        "mysql",
        &common,
        "query = SELECT email FROM users WHERE email='%s'",
    );
    assert_eq!(
        get(&*email2email, "joe@example.com").as_deref(),
        Some("joe@example.com")
    );
    // A connection the server drops is opened again.
    {
        use mysql::prelude::Queryable;
        let ids: Vec<u64> = admin
            .query("SELECT id FROM information_schema.processlist WHERE user = 'mail_admin'")
            .unwrap();
        assert!(!ids.is_empty());
        for id in ids {
            admin.query_drop(format!("KILL {id}")).unwrap();
        }
    }
    assert_eq!(
        get(&*email2email, "joe@example.com").as_deref(),
        Some("joe@example.com")
    );
    {
        use mysql::prelude::Queryable;
        let n: Option<u64> = admin
            .query_first("SELECT count(*) FROM mail.users")
            .unwrap();
        assert_eq!(n, Some(2));
    }
    drop(admin);

    // With the server gone: a temporary failure, never "not found".
    server.stop();
    let e = email2email.lookup("joe@example.com").unwrap_err();
    assert!(matches!(e, MapError::Lookup { .. }), "{e}");
    let e = mailboxes.lookup("joe@example.com").unwrap_err();
    assert!(matches!(e, MapError::Lookup { .. }), "{e}");
}

#[test]
fn pgsql_postgresql_server() {
    let Some(postgres) = find_bin(&[], &["/usr/lib/postgresql/*/bin/postgres"])
        .or_else(|| find_bin(&["postgres"], &[]))
    else {
        eprintln!("skipped: no postgres (Debian package postgresql)");
        return;
    };
    let initdb = postgres.with_file_name("initdb");
    if !initdb.exists() {
        eprintln!("skipped: no initdb beside {}", postgres.display());
        return;
    }
    let owner = ["postgres", "nobody"].iter().find_map(|u| run_as(u));
    if is_root() && owner.is_none() {
        eprintln!("skipped: running as root and there is no postgres or nobody user");
        return;
    }
    let d = Dir::new("pgsql");
    let data = d.0.join("data");
    chown_tree(&d.0, owner);
    let pwfile = d.file("pw", "superpw\n");
    chown_tree(Path::new(&pwfile), owner);
    let log = d.0.join("initdb.log");
    let st = command(&initdb, owner, &log)
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ])
        .arg(format!("--pwfile={pwfile}"))
        .args(["-E", "UTF8", "--no-sync"])
        .current_dir(&d.0)
        .status()
        .unwrap();
    assert!(
        st.success(),
        "initdb failed: {}",
        std::fs::read_to_string(log.with_extension("err")).unwrap_or_default()
    );
    let port = free_port();
    let log = d.0.join("server.log");
    let mut cmd = command(&postgres, owner, &log);
    cmd.arg("-D")
        .arg(&data)
        .arg("-p")
        .arg(port.to_string())
        .arg("-k")
        .arg(&d.0)
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
        .current_dir(&d.0);
    let mut server = Server::spawn(
        &mut cmd,
        &log.with_extension("err"),
        nix::sys::signal::Signal::SIGINT,
    );
    let mut admin_cfg = postgres::Config::new();
    admin_cfg
        .host_path(&d.0)
        .port(port)
        .user("postgres")
        .dbname("postgres");
    let mut admin = None;
    server.wait_for("postgres", || {
        admin = admin_cfg.connect(postgres::NoTls).ok();
        admin.is_some()
    });
    let mut admin = admin.unwrap();
    admin
        .batch_execute("CREATE ROLE mail_admin LOGIN PASSWORD 'mys123123'")
        .unwrap();
    admin
        .batch_execute("CREATE DATABASE mail OWNER mail_admin")
        .unwrap();
    let mut owner_cfg = admin_cfg.clone();
    owner_cfg.user("mail_admin").dbname("mail");
    let mut mail = owner_cfg.connect(postgres::NoTls).unwrap();
    for s in SCHEMA {
        mail.batch_execute(s).unwrap();
    }

    let dead = free_port();
    let common = format!(
        "user = mail_admin\npassword = mys123123\ndbname = mail\nhosts = 127.0.0.1:{dead} inet:127.0.0.1:{port}"
    );
    check_seed_lookups(&d, "pgsql", &common);
    // A unix socket host; an integer parameter bound from the key.
    let m = map(
        &d,
        "sock.cf",
        "pgsql",
        &format!(
            "user = mail_admin\npassword = mys123123\ndbname = mail\nhosts = unix:{}/.s.PGSQL.{port}",
            d.0.display()
        ),
        "query = SELECT email FROM users WHERE length(email) = %s ORDER BY email",
    );
    assert_eq!(get(&*m, "15").as_deref(), Some("joe@example.com"));
    assert!(matches!(m.lookup("abc"), Err(MapError::Lookup { .. })));
    let e2e = map(
        &d,
        "e2e.cf",
        "pgsql",
        &common,
        "query = SELECT email FROM users WHERE email='%s'",
    );
    assert_eq!(
        get(&*e2e, "joe@example.com").as_deref(),
        Some("joe@example.com")
    );
    // A connection the server drops is opened again.
    admin
        .batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE usename = 'mail_admin' AND pid <> pg_backend_pid() AND application_name = 'mailsuite'",
        )
        .unwrap();
    assert_eq!(
        get(&*e2e, "joe@example.com").as_deref(),
        Some("joe@example.com")
    );
    let n: i64 = mail
        .query_one("SELECT count(*) FROM users", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
    drop(mail);
    drop(admin);

    server.stop();
    let e = e2e.lookup("joe@example.com").unwrap_err();
    assert!(matches!(e, MapError::Lookup { .. }), "{e}");
}
