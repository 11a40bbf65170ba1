//! Private database servers for tests, shared by crates/maps' SQL table
//! tests and the end-to-end kit: a [`MariaDb`] installed and started on a
//! loopback port in a directory of the caller's, and the pieces to run
//! other servers the same way (PostgreSQL in crates/maps/tests/sql.rs):
//! [`find_bin`], [`command`] (through `setpriv` as the server's own user
//! when we are root), [`Server`] (stopped by PID when dropped).
//!
//! Panics on set-up failures: it is test code.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A TCP port on 127.0.0.1 that was free a moment ago, chosen below the
/// kernel's ephemeral range (32768 and up): a port the kernel hands out
/// for binding to port 0 is also what it hands the next outgoing
/// connection, so another test's client could take it before the server
/// binds it. Each process walks its own sequence of ports.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(2_654_435_761);
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = LOW + seed.wrapping_add(n.wrapping_mul(7_919)) % SPAN;
        if let Ok(port) = u16::try_from(port) {
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Debian's dnsmasq answering on 127.0.0.1:`port` for `.test` names only,
/// in the foreground, with `records` (`--mx-host=…`, `--host-record=…`)
/// and nothing from the system's files; the caller spawns it.
pub fn dnsmasq(port: u16, records: &[String]) -> Command {
    let mut c = Command::new("/usr/sbin/dnsmasq");
    c.args([
        "--no-daemon",
        &format!("--port={port}"),
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--conf-file=/dev/null",
        "--pid-file=",
        "--local=/test/",
    ]);
    if is_root() {
        c.arg("--user=root");
    }
    c.args(records).stdout(Stdio::null()).stderr(Stdio::null());
    c
}

/// True when a DNS server on 127.0.0.1:`port` answers a query (for
/// `ready.test`, whatever the answer).
pub fn dns_answers(port: u16) -> bool {
    let Ok(s) = std::net::UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    if s.connect(("127.0.0.1", port)).is_err()
        || s.set_read_timeout(Some(std::time::Duration::from_millis(200)))
            .is_err()
    {
        return false;
    }
    // ID 0x4d53, recursion desired, one question: ready.test IN A.
    let query =
        b"\x4d\x53\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05ready\x04test\x00\x00\x01\x00\x01";
    let mut reply = [0u8; 512];
    s.send(query).is_ok()
        && s.recv(&mut reply)
            .is_ok_and(|n| n >= 2 && reply[..2] == query[..2])
}

pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// The uid/gid to run a server as: `user` when we are root, else ourselves.
pub fn run_as(user: &str) -> Option<(u32, u32)> {
    if !is_root() {
        return None;
    }
    let u = nix::unistd::User::from_name(user).ok()??;
    Some((u.uid.as_raw(), u.gid.as_raw()))
}

/// `chown -R` to `owner`, if any.
pub fn chown_tree(path: &Path, owner: Option<(u32, u32)>) {
    if let Some((uid, gid)) = owner {
        let st = Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(path)
            .status()
            .expect("chown");
        assert!(st.success(), "chown -R {}", path.display());
    }
}

/// A server process, stopped by PID when dropped: with `signal` (SIGTERM
/// for mariadbd, SIGINT, the fast shutdown, for postgres), then SIGKILL.
pub struct Server {
    child: Option<Child>,
    log: PathBuf,
    signal: nix::sys::signal::Signal,
}

impl Server {
    /// Spawns `cmd`; `log` is the file to show when it does not come up.
    pub fn spawn(cmd: &mut Command, log: &Path, signal: nix::sys::signal::Signal) -> Server {
        Server {
            child: Some(cmd.spawn().expect("spawn server")),
            log: log.to_path_buf(),
            signal,
        }
    }

    /// The server's PID while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn stop(&mut self) {
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

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `ready` until it holds; panics with the log when the server
    /// exits or a minute passes.
    pub fn wait_for(&mut self, what: &str, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if ready() {
                return;
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!("{what} exited ({st}):\n{}", self.log_text());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{what} did not start:\n{}", self.log_text());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A command for `bin` with stdout to `log` and stderr beside it
/// (`.err`), run as `owner` through setpriv, which execs the server, so
/// the child's PID is the server's.
pub fn command(bin: &Path, owner: Option<(u32, u32)>, log: &Path) -> Command {
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
        .stdout(std::fs::File::create(log).expect("server log"))
        .stderr(std::fs::File::create(log.with_extension("err")).expect("server log"));
    c
}

/// The first of `names` in the usual bin directories, else the newest
/// match of `globs` (`/usr/lib/postgresql/*/bin/postgres`).
pub fn find_bin(names: &[&str], globs: &[&str]) -> Option<PathBuf> {
    for n in names {
        for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"] {
            let p = Path::new(dir).join(n);
            if p.exists() {
                return Some(p);
            }
        }
    }
    for g in globs {
        let (base, name) = g.split_once('*')?;
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

/// A private MariaDB: data, socket, pid file and logs in `dir`, TCP on
/// 127.0.0.1:`port`, root without a password over the socket. It runs as
/// the `mysql` user when we are root. Stopped (by PID) when dropped;
/// [`MariaDb::stop`] and [`MariaDb::start`] take it down and bring it back
/// on the same port and data.
pub struct MariaDb {
    pub dir: PathBuf,
    pub port: u16,
    pub socket: PathBuf,
    mariadbd: PathBuf,
    user_arg: Option<String>,
    server: Option<Server>,
}

impl MariaDb {
    /// Installs a data directory in `dir` and starts the server; Err says
    /// why it cannot run here (to print when skipping).
    pub fn start_in(dir: &Path) -> Result<MariaDb, String> {
        let mariadbd = find_bin(&["mariadbd", "mysqld"], &[])
            .ok_or("no mariadbd (Debian package mariadb-server)")?;
        let install_db = find_bin(&["mariadb-install-db", "mysql_install_db"], &[])
            .ok_or("no mariadb-install-db")?;
        let owner = run_as("mysql");
        if is_root() && owner.is_none() {
            return Err("running as root and there is no mysql user for mariadbd".into());
        }
        let data = dir.join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        chown_tree(dir, owner);
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
            .expect("mariadb-install-db");
        assert!(st.success(), "mariadb-install-db failed");
        let mut db = MariaDb {
            dir: dir.to_path_buf(),
            port: free_port(),
            socket: dir.join("mysqld.sock"),
            mariadbd,
            user_arg,
            server: None,
        };
        db.start();
        Ok(db)
    }

    /// Starts the server (again) and waits until it is ready.
    pub fn start(&mut self) {
        if self.server.is_some() {
            return;
        }
        let d = &self.dir;
        let log = d.join("server.log");
        let ready = |log: &Path| {
            std::fs::read_to_string(log)
                .unwrap_or_default()
                .matches("ready for connections")
                .count()
        };
        let before = ready(&log);
        let mut cmd = command(&self.mariadbd, None, &d.join("stdout.log"));
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", d.join("data").display()))
            .arg(format!("--socket={}", self.socket.display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--pid-file={}", d.join("mysqld.pid").display()))
            .arg(format!("--log-error={}", log.display()))
            .arg("--skip-log-bin")
            .arg("--innodb-buffer-pool-size=16M")
            .args(&self.user_arg);
        let mut server = Server::spawn(&mut cmd, &log, nix::sys::signal::Signal::SIGTERM);
        server.wait_for("mariadbd", || ready(&log) > before);
        self.server = Some(server);
    }

    /// Stops the server by its PID and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut s) = self.server.take() {
            s.stop();
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref().and_then(Server::pid)
    }

    /// Runs SQL as root with the `mariadb` client over the socket and
    /// returns its output (tab-separated, no column names); panics when
    /// the client fails.
    pub fn sql(&self, sql: &str) -> String {
        let client = find_bin(&["mariadb", "mysql"], &[]).expect("no mariadb client");
        let out = Command::new(client)
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .args(["--user=root", "--batch", "--skip-column-names", "-e", sql])
            .output()
            .expect("mariadb client");
        assert!(
            out.status.success(),
            "mariadb -e {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        self.stop();
    }
}
