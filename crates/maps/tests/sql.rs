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
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// The uid/gid to run a server as: `user` when we are root, else ourselves.
fn run_as(user: &str) -> Option<(u32, u32)> {
    if !is_root() {
        return None;
    }
    let u = nix::unistd::User::from_name(user).ok()??;
    Some((u.uid.as_raw(), u.gid.as_raw()))
}

fn chown_tree(path: &Path, owner: Option<(u32, u32)>) {
    if let Some((uid, gid)) = owner {
        let st = Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(path)
            .status()
            .unwrap();
        assert!(st.success());
    }
}

/// A server process, stopped by PID when dropped: with `signal` (SIGTERM
/// for mariadbd, SIGINT, the fast shutdown, for postgres), then SIGKILL.
struct Server {
    child: Option<Child>,
    log: PathBuf,
    signal: nix::sys::signal::Signal,
}

impl Server {
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, self.signal);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn command(bin: &Path, owner: Option<(u32, u32)>, log: &Path) -> Command {
    // setpriv execs the server, so the child's PID is the server's.
    let mut c = match owner {
        Some((uid, gid)) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg("--")
                .arg(bin);
            c
        }
        None => Command::new(bin),
    };
    c.stdin(Stdio::null())
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(std::fs::File::create(log.with_extension("err")).unwrap());
    c
}

fn wait_for(what: &str, server: &mut Server, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if ready() {
            return;
        }
        if let Some(c) = server.child.as_mut() {
            if let Ok(Some(st)) = c.try_wait() {
                panic!("{what} exited ({st}):\n{}", server.log_text());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not start:\n{}", server.log_text());
}

fn find_bin(names: &[&str], globs: &[&str]) -> Option<PathBuf> {
    for n in names {
        for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"] {
            let p = Path::new(dir).join(n);
            if p.exists() {
                return Some(p);
            }
        }
    }
    for g in globs {
        // /usr/lib/postgresql/<version>/bin/<name>: the newest version.
        let (base, name) = g.split_once('*').unwrap();
        let mut found: Vec<PathBuf> = std::fs::read_dir(base)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join(name.trim_start_matches('/')))
            .filter(|p| p.exists())
            .collect();
        found.sort();
        if let Some(p) = found.pop() {
            return Some(p);
        }
    }
    None
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
    let Some(mariadbd) = find_bin(&["mariadbd", "mysqld"], &[]) else {
        eprintln!("skipped: no mariadbd (Debian package mariadb-server)");
        return;
    };
    let Some(install_db) = find_bin(&["mariadb-install-db", "mysql_install_db"], &[]) else {
        eprintln!("skipped: no mariadb-install-db");
        return;
    };
    let owner = run_as("mysql");
    if is_root() && owner.is_none() {
        eprintln!("skipped: running as root and there is no mysql user for mariadbd");
        return;
    }
    let d = Dir::new("mariadb");
    let data = d.0.join("data");
    std::fs::create_dir_all(&data).unwrap();
    chown_tree(&d.0, owner);
    let user_arg = owner.map(|_| "--user=mysql".to_string());
    let st = Command::new(&install_db)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .args(&user_arg)
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "mariadb-install-db failed");
    let port = free_port();
    let sock = d.0.join("mysqld.sock");
    let log = d.0.join("server.log");
    let mut cmd = command(&mariadbd, None, &d.0.join("stdout.log"));
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", sock.display()))
        .arg(format!("--port={port}"))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--pid-file={}", d.0.join("mysqld.pid").display()))
        .arg(format!("--log-error={}", log.display()))
        .arg("--skip-name-resolve")
        .arg("--skip-log-bin")
        .arg("--innodb-buffer-pool-size=16M")
        .args(&user_arg);
    let mut server = Server {
        child: Some(cmd.spawn().unwrap()),
        log: log.clone(),
        signal: nix::sys::signal::Signal::SIGTERM,
    };
    let admin_opts = mysql::OptsBuilder::new()
        .socket(Some(sock.display().to_string()))
        .user(Some("root"));
    let mut admin = None;
    wait_for("mariadbd", &mut server, || {
        admin = mysql::Conn::new(admin_opts.clone()).ok();
        admin.is_some()
    });
    let mut admin = admin.unwrap();
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
    let mut server = Server {
        child: Some(cmd.spawn().unwrap()),
        log: log.with_extension("err"),
        signal: nix::sys::signal::Signal::SIGINT,
    };
    let mut admin_cfg = postgres::Config::new();
    admin_cfg
        .host_path(&d.0)
        .port(port)
        .user("postgres")
        .dbname("postgres");
    let mut admin = None;
    wait_for("postgres", &mut server, || {
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
