//! The test kit: an [`Instance`] is a private mailsuite in a fresh
//! directory — main.cf, master.cf, a queue directory and its own maillog —
//! run by the real `mailsuite` command and `master` as the current user on
//! loopback ports. Inet services listen on port 0; the kit reads the port
//! the master got from its "listening on" log line, so tests never race for
//! ports. The directory is removed when a test passes and kept (its path
//! printed) when it fails, maillog and all.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
pub use testdb;
pub use testdb::free_port;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Where the workspace's binaries are: next to the test executable's `deps/`.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf();
    for b in ["master", "mailsuite", "postconf", "testworker"] {
        assert!(
            dir.join(b).is_file(),
            "{} missing: run `cargo build --workspace` first",
            dir.join(b).display()
        );
    }
    dir
}

/// True when the tests run as root (then workers drop to `nobody`).
/// True when `program` is installed (in the system's usual directories).
pub fn have(program: &str) -> bool {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .any(|d| Path::new(d).join(program).is_file())
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A self-signed certificate for `cn` and its key, made by openssl in
/// `dir` (cert.pem, key.pem); None when openssl is missing.
pub fn self_signed(dir: &Path, cn: &str) -> Option<(PathBuf, PathBuf)> {
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args([
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={cn}"),
            // Verifying clients go by the subjectAltName, not the CN, and
            // take no CA certificate for a server's own.
            "-addext",
            &format!("subjectAltName=DNS:{cn}"),
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
        ])
        .arg(&k)
        .arg("-out")
        .arg(&c)
        .output()
        .ok()?;
    out.status.success().then_some((c, k))
}

/// A system user that is removed again when dropped.
pub struct SystemUser {
    pub name: String,
    pub home: PathBuf,
}

/// A system user for a test that needs one (see [`SystemUser::new`]);
/// None, with the skip said, when this is not root.
pub fn root_user(tag: &str) -> Option<SystemUser> {
    if !is_root() {
        eprintln!("skipped: useradd needs root");
        return None;
    }
    Some(SystemUser::new(tag))
}

impl SystemUser {
    /// `useradd -m` a user named after `tag`, this process and a count of
    /// the users it made: tests run side by side, and two of them (or one
    /// helper they share) may ask for the same tag.
    pub fn new(tag: &str) -> SystemUser {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("ms{tag}{}x{n}", std::process::id() % 100_000);
        let _ = Command::new("userdel").args(["-r", &name]).output();
        let out = Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", &name])
            .output()
            .expect("useradd");
        assert!(
            out.status.success(),
            "useradd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let home = PathBuf::from(format!("/home/{name}"));
        SystemUser { name, home }
    }

    /// The user's ID.
    pub fn uid(&self) -> u32 {
        nix::unistd::User::from_name(&self.name)
            .ok()
            .flatten()
            .expect("user")
            .uid
            .as_raw()
    }

    /// Writes `text` as the user's ~/.forward, owned by the user; its path.
    pub fn forward(&self, text: &str) -> PathBuf {
        let fwd = self.home.join(".forward");
        std::fs::write(&fwd, text).expect("forward");
        std::os::unix::fs::chown(&fwd, Some(self.uid()), None).expect("chown");
        fwd
    }
}

impl Drop for SystemUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").args(["-r", &self.name]).output();
    }
}

/// A private mailsuite instance.
pub struct Instance {
    pub dir: PathBuf,
    pub bin: PathBuf,
    /// Run the commands as this uid/gid instead of the test's own.
    pub run_as: Option<(u32, u32)>,
}

impl Instance {
    /// A fresh directory with a main.cf for loopback use and an empty master.cf.
    pub fn new(name: &str) -> Instance {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("mailsuite-test-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create test dir");
        let inst = Instance {
            dir,
            bin: bin_dir(),
            run_as: None,
        };
        let d = inst.dir.display();
        let owner = if is_root() {
            "mail_owner = nobody\nsetgid_group = nogroup\n"
        } else {
            ""
        };
        inst.write(
            "main.cf",
            &format!(
                "# written by the test kit\nqueue_directory = {d}/queue\ndata_directory = {d}/data\ndaemon_directory = {}\ncommand_directory = {}\nmaillog_file = {d}/maillog\nmaillog_file_prefixes = {d}\nmyhostname = mail.example.test\ninet_interfaces = 127.0.0.1\ninet_protocols = ipv4\nmaster_stop_timeout = 3s\nsmtpd_tls_loglevel = 1\nsmtp_tls_loglevel = 1\nlmtp_tls_loglevel = 1\n{owner}",
                inst.bin.display(),
                inst.bin.display()
            ),
        );
        inst.write("master.cf", "");
        inst
    }

    /// An instance whose commands run as `nobody` (only when the tests run as root).
    pub fn new_as_nobody(name: &str) -> Instance {
        let mut inst = Instance::new(name);
        let (uid, gid) = (65534, 65534);
        let text = std::fs::read_to_string(inst.dir.join("main.cf")).expect("main.cf");
        let text: String = text
            .lines()
            .filter(|l| !l.starts_with("mail_owner") && !l.starts_with("setgid_group"))
            .map(|l| format!("{l}\n"))
            .collect();
        inst.write("main.cf", &text);
        std::os::unix::fs::chown(&inst.dir, Some(uid), Some(gid)).expect("chown");
        for f in ["main.cf", "master.cf"] {
            std::os::unix::fs::chown(inst.dir.join(f), Some(uid), Some(gid)).expect("chown");
        }
        inst.run_as = Some((uid, gid));
        inst
    }

    pub fn write(&self, file: &str, text: &str) {
        std::fs::write(self.dir.join(file), text).expect("write config");
    }

    /// Appends lines to main.cf.
    pub fn main_cf(&self, lines: &str) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("main.cf"))
            .expect("main.cf");
        f.write_all(lines.as_bytes()).expect("append main.cf");
        if !lines.ends_with('\n') {
            f.write_all(b"\n").expect("append main.cf");
        }
    }

    /// Replaces master.cf.
    pub fn master_cf(&self, text: &str) {
        self.write("master.cf", text);
    }

    /// An instance that delivers locally: smtpd, cleanup, qmgr, local,
    /// pickup and bounce, `mydestination` its own names, aliases from
    /// `aliases` in its directory (see [`Instance::newaliases`]), and
    /// `extra` main.cf lines.
    pub fn local_delivery(name: &str, extra: &str) -> Instance {
        let inst = Instance::new(name);
        inst.main_cf(&format!(
            "mydestination = $myhostname, localhost\nalias_maps = hash:{d}/aliases\nalias_database = hash:{d}/aliases\n{extra}",
            d = inst.dir.display()
        ));
        inst.master_cf(
            "127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nlocal unix - n n - - local\npickup unix n - n 60 1 pickup\nbounce unix - - n - 0 bounce\n",
        );
        inst
    }

    /// Writes `text` to the instance's `aliases` and builds it with
    /// `newaliases`, which must succeed.
    pub fn newaliases(&self, text: &str) {
        self.write("aliases", text);
        let out = Command::new(self.bin.join("newaliases"))
            .env("MAIL_CONFIG", &self.dir)
            .output()
            .expect("newaliases");
        assert!(
            out.status.success(),
            "newaliases: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `sendmail ARGS` for this instance with `input` on its standard
    /// input (as the test's own user): its status and output. A sendmail
    /// that stops before reading it all (a usage error) is no error here.
    pub fn sendmail(&self, args: &[&str], input: &[u8]) -> std::process::Output {
        let mut child = Command::new(self.bin.join("sendmail"))
            .args(args)
            .env("MAIL_CONFIG", &self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run sendmail");
        match std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), input) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                panic!("write to sendmail: {e}")
            }
            _ => {}
        }
        child.wait_with_output().expect("wait for sendmail")
    }

    /// One of the instance's commands, with its MAIL_CONFIG (and user).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(self.bin.join(program));
        c.env("MAIL_CONFIG", &self.dir);
        if let Some((uid, gid)) = self.run_as {
            use std::os::unix::process::CommandExt;
            c.uid(uid).gid(gid);
        }
        c
    }

    /// Runs `mailsuite ARGS`.
    pub fn mailsuite(&self, args: &[&str]) -> Output {
        self.command("mailsuite")
            .args(args)
            .output()
            .expect("run mailsuite")
    }

    /// Runs `postconf ARGS`.
    pub fn postconf(&self, args: &[&str]) -> Output {
        self.command("postconf")
            .args(args)
            .output()
            .expect("run postconf")
    }

    /// `mailsuite start`, then waits for the master's start-up line.
    pub fn start(&self) {
        self.start_with_env(&[]);
    }

    /// `mailsuite start` with extra environment for the master and its
    /// workers (e.g. MAILSUITE_FAIL_POINT, which the master passes on).
    pub fn start_with_env(&self, env: &[(&str, &str)]) {
        // A restarted instance's maillog has the earlier masters' lines:
        // wait for this one's (after its "listening on" lines, which
        // [`Instance::port`] then finds last).
        let started = self.log_lines("daemon started").len();
        let mut cmd = self.command("mailsuite");
        cmd.arg("start");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run mailsuite");
        assert!(
            out.status.success(),
            "mailsuite start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            self.wait_log("daemon started", started + 1, Duration::from_secs(10)),
            "master did not log its start"
        );
    }

    pub fn stop(&self) {
        let out = self.mailsuite(&["stop"]);
        assert!(
            out.status.success(),
            "mailsuite stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn maillog(&self) -> String {
        std::fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }

    /// Lines of the maillog that contain `pattern`.
    pub fn log_lines(&self, pattern: &str) -> Vec<String> {
        self.maillog()
            .lines()
            .filter(|l| l.contains(pattern))
            .map(str::to_string)
            .collect()
    }

    /// Waits until at least `count` maillog lines contain `pattern`.
    pub fn wait_log(&self, pattern: &str, count: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.log_lines(pattern).len() >= count)
    }

    /// Waits for a maillog line with `pattern`; fails the test, showing the
    /// whole maillog, when none comes within `timeout`.
    pub fn expect_log(&self, pattern: &str, timeout: Duration) {
        assert!(
            self.wait_log(pattern, 1, timeout),
            "no log line with {pattern:?} in:\n{}",
            self.maillog()
        );
    }

    /// The port the master got for inet service `name` (as written in master.cf).
    pub fn port(&self, name: &str) -> u16 {
        let needle = format!("service \"{name}\" (inet) listening on ");
        assert!(
            self.wait_log(&needle, 1, Duration::from_secs(5)),
            "no listening line for {name}"
        );
        let line = self.log_lines(&needle).pop().expect("line");
        let addr = line.rsplit(' ').next().expect("address");
        addr.rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port")
    }

    pub fn master_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.dir.join("queue/pid/master.pid")).ok()?;
        let pid: i32 = text.trim().parse().ok()?;
        alive(pid).then_some(pid)
    }

    /// Live processes whose parent is the master and whose name is `comm`.
    pub fn workers(&self, comm: &str) -> Vec<i32> {
        match self.master_pid() {
            Some(m) => children_of(m, comm),
            None => Vec::new(),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let pid = self.master_pid();
        if let Some(pid) = pid {
            let _ = self.command("mailsuite").arg("stop").output();
            if alive(pid) {
                // SAFETY: kill on a pid this test started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        if std::thread::panicking() {
            eprintln!("test failed: instance kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// True when `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// Live children of `parent` whose command name is `comm`.
pub fn children_of(parent: i32, comm: &str) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = &stat[open + 1..close];
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        if name == comm
            && fields.len() > 2
            && fields[0] != "Z"
            && fields[1].parse::<i32>().ok() == Some(parent)
        {
            out.push(pid);
        }
    }
    out.sort();
    out
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A line-oriented client of the test worker.
pub struct LineClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl LineClient {
    pub fn connect(port: u16) -> LineClient {
        LineClient::connect_to("127.0.0.1", port)
    }

    pub fn connect_to(host: &str, port: u16) -> LineClient {
        let s = TcpStream::connect((host, port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        LineClient {
            writer: s.try_clone().expect("clone"),
            reader: BufReader::new(s),
        }
    }

    /// Reads one line (without the newline); None on end-of-file or timeout.
    pub fn read_line(&mut self) -> Option<String> {
        let mut l = String::new();
        match self.reader.read_line(&mut l) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(l.trim_end().to_string()),
        }
    }

    /// Reads the greeting `hello PID` and returns the worker's pid.
    pub fn hello(&mut self) -> Option<i32> {
        self.read_line()?.strip_prefix("hello ")?.parse().ok()
    }

    pub fn ask(&mut self, line: &str) -> Option<String> {
        writeln!(self.writer, "{line}").ok()?;
        self.read_line()
    }

    /// Sends `line` ended by CRLF (as an SMTP client) and reads one line.
    pub fn ask_crlf(&mut self, line: &str) -> Option<String> {
        write!(self.writer, "{line}\r\n").ok()?;
        self.read_line()
    }

    pub fn set_timeout(&self, t: Duration) {
        self.writer.set_read_timeout(Some(t)).expect("timeout");
    }

    pub fn quit(mut self) {
        let _ = writeln!(self.writer, "quit");
        let _ = self.read_line();
    }
}

impl SystemUser {
    /// Sets the password the way the seeds do (`chpasswd`, which writes
    /// the system's default hash: yescrypt on Debian 12).
    pub fn set_password(&self, password: &str) {
        let mut child = Command::new("chpasswd")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("chpasswd");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{}:{password}\n", self.name).as_bytes())
            .expect("write chpasswd");
        assert!(child.wait().expect("chpasswd").success());
    }
}

/// Runs a Python script (`python3 -c SCRIPT ARGS…`), optionally through
/// a wrapper such as `ip netns exec NAME`, and returns its output lines;
/// panics with its output when it fails.
pub fn python_lines(wrapper: &[&str], script: &str, args: &[&str]) -> Vec<String> {
    let mut c = match wrapper.split_first() {
        Some((prog, rest)) => {
            let mut c = Command::new(prog);
            c.args(rest).arg("python3");
            c
        }
        None => Command::new("python3"),
    };
    let out = c
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The rest of the first line that starts with `key` and a space.
pub fn field<'a>(lines: &'a [String], key: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {key:?} in {lines:#?}"))
}

/// The uids of the live processes named `comm`.
pub fn uids_of(comm: &str) -> Vec<u32> {
    let out = Command::new("ps")
        .args(["-eo", "uid=,comm="])
        .output()
        .expect("ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let uid = w.next()?.parse().ok()?;
            (w.next()? == comm).then_some(uid)
        })
        .collect()
}

/// A network namespace joined to this host by a veth pair, so that a
/// client in it connects from an address that is neither loopback nor
/// one of the server's own: a "remote" client without leaving the
/// machine. Removed again when dropped. Needs root and `ip`.
pub struct NetNs {
    pub name: String,
    /// This host's end (where a server listens).
    pub host_ip: String,
    /// The namespace's end (the client's address).
    pub ns_ip: String,
    veth: String,
}

impl NetNs {
    pub fn new(tag: &str) -> Option<NetNs> {
        if !is_root() || Command::new("ip").arg("-V").output().is_err() {
            return None;
        }
        let n = (std::process::id() as usize * 7
            + tag.len() * 31
            + COUNTER.fetch_add(1, Ordering::SeqCst))
            % 250
            + 1;
        let ns = NetNs {
            name: format!("mstest-{tag}-{}-{n}", std::process::id()),
            host_ip: format!("10.203.{n}.1"),
            ns_ip: format!("10.203.{n}.2"),
            veth: format!("msv{}{n}", std::process::id() % 10_000),
        };
        let peer = format!("{}p", ns.veth);
        let steps: Vec<Vec<String>> = vec![
            vec!["netns".into(), "add".into(), ns.name.clone()],
            vec![
                "link".into(),
                "add".into(),
                ns.veth.clone(),
                "type".into(),
                "veth".into(),
                "peer".into(),
                "name".into(),
                peer.clone(),
            ],
            vec![
                "link".into(),
                "set".into(),
                peer.clone(),
                "netns".into(),
                ns.name.clone(),
            ],
            vec![
                "addr".into(),
                "add".into(),
                format!("{}/30", ns.host_ip),
                "dev".into(),
                ns.veth.clone(),
            ],
            vec!["link".into(), "set".into(), ns.veth.clone(), "up".into()],
            vec![
                "-n".into(),
                ns.name.clone(),
                "addr".into(),
                "add".into(),
                format!("{}/30", ns.ns_ip),
                "dev".into(),
                peer.clone(),
            ],
            vec![
                "-n".into(),
                ns.name.clone(),
                "link".into(),
                "set".into(),
                peer,
                "up".into(),
            ],
            vec![
                "-n".into(),
                ns.name.clone(),
                "link".into(),
                "set".into(),
                "lo".into(),
                "up".into(),
            ],
        ];
        for s in steps {
            let out = Command::new("ip").args(&s).output().ok()?;
            if !out.status.success() {
                eprintln!(
                    "ip {}: {}",
                    s.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                );
                return None;
            }
        }
        Some(ns)
    }

    /// `ip netns exec NAME`, to put before a command.
    pub fn exec(&self) -> Vec<&str> {
        vec!["ip", "netns", "exec", &self.name]
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A directory for a test's own files outside any instance (tables,
/// certificates, a helper server's state): made empty, removed when
/// dropped, kept (and named) when the test failed.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        // Per call, as Instance's: tests side by side may use one tag.
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("mailsuite-test-{tag}-{}-s{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed: files kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A process a test started; killed (by its own pid) when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether dnsmasq is installed (tests that need it skip without).
pub fn have_dnsmasq() -> bool {
    ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
        .iter()
        .any(|p| Path::new(p).is_file())
}

/// dnsmasq on 127.0.0.1:`port` answering for `.test` only, once it
/// answers.
pub fn dnsmasq(port: u16, records: &[String]) -> Proc {
    let p = Proc(testdb::dnsmasq(port, records).spawn().expect("dnsmasq"));
    assert!(
        wait_until(Duration::from_secs(10), || testdb::dns_answers(port)),
        "dnsmasq did not answer on port {port}"
    );
    p
}

/// Postfix's smtp-sink on 127.0.0.1:`port`, dumping messages into `dump`.
pub fn smtp_sink(port: u16, dump: &Path, extra: &[&str]) -> Proc {
    std::fs::create_dir_all(dump).expect("dump dir");
    let mut c = Command::new("smtp-sink");
    if is_root() {
        std::os::unix::fs::chown(dump, Some(65534), Some(65534)).expect("chown");
        c.args(["-u", "nobody"]);
    }
    // Its complaints go next to the dump, kept with a failed test's instance.
    let log = std::fs::File::create(dump.with_extension("smtp-sink.log")).expect("sink log");
    c.args(extra)
        .arg("-d")
        .arg(format!("{}/%M.", dump.display()))
        .arg(format!("127.0.0.1:{port}"))
        .arg("100")
        .stdout(Stdio::null())
        .stderr(log);
    let p = Proc(c.spawn().expect("smtp-sink"));
    assert!(
        wait_until(Duration::from_secs(5), || std::net::TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "smtp-sink did not start"
    );
    p
}

/// Spawns smtp-sink as an LMTP server on the unix socket `sock`, dumping
/// messages into `dump`; the socket is open to the lmtp worker (nobody when
/// the tests run as root).
pub fn lmtp_sink(sock: &Path, dump: &Path) -> Proc {
    std::fs::create_dir_all(dump).expect("dump dir");
    let mut c = Command::new("smtp-sink");
    if is_root() {
        std::os::unix::fs::chown(dump, Some(65534), Some(65534)).expect("chown");
        c.args(["-u", "nobody"]);
    }
    c.arg("-L")
        .arg("-d")
        .arg(format!("{}/%M.", dump.display()))
        .arg(format!("unix:{}", sock.display()))
        .arg("10")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let sink = Proc(c.spawn().expect("smtp-sink"));
    assert!(
        wait_until(Duration::from_secs(5), || sock.exists()),
        "no LMTP socket"
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(sock, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    sink
}

/// One message to `rcpt` over SMTP (Python's smtplib): `ok`, or the
/// code and text a refused recipient got.
pub fn send_mail(port: u16, rcpt: &str, subject: &str) -> String {
    let script = format!(
        "import smtplib\ns = smtplib.SMTP('127.0.0.1', {port}, timeout=10)\ntry:\n    s.sendmail('sender@example.org', ['{rcpt}'], b'Subject: {subject}\\r\\nFrom: sender@example.org\\r\\n\\r\\nbody of {subject}\\r\\n')\n    print('result ok')\nexcept smtplib.SMTPRecipientsRefused as e:\n    code, msg = list(e.recipients.values())[0]\n    print('result', code, msg.decode())\ns.quit()\n"
    );
    python_lines(&[], &script, &[])
        .into_iter()
        .find_map(|l| l.strip_prefix("result ").map(str::to_string))
        .unwrap_or_default()
}

/// `virtual_mailbox_base` in the instance, owned by the ids the virtual
/// users get: as root unused ids from `first` on, else our own.
pub fn vmail_base(inst: &Instance, first: u32) -> (std::path::PathBuf, u32, u32) {
    let base = inst.dir.join("vmail");
    std::fs::create_dir_all(&base).expect("base");
    let (uid, gid) = if is_root() {
        let n = first + std::process::id() % 1000;
        (n, n)
    } else {
        // SAFETY: getuid/getgid cannot fail.
        unsafe { (libc::getuid(), libc::getgid()) }
    };
    if is_root() {
        std::os::unix::fs::chown(&base, Some(uid), Some(gid)).expect("chown");
    }
    (base, uid, gid)
}

/// The entries of `dir` (none when it does not exist).
pub fn dir_files(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// The whole messages an [`smtp_sink`] has dumped into `dir`, sorted.
/// smtp-sink creates a message's file at MAIL FROM and writes it until the
/// end of DATA, so a file it still holds open is left out: a test that
/// waits for a count and then reads a file never sees half a message.
pub fn sink_dumps(dir: &Path) -> Vec<std::path::PathBuf> {
    // The directory first: a file made after the listing is not in it,
    // and one made before is seen open below if it is still being written.
    let listed = dir_files(dir);
    let mut held = std::collections::HashSet::new();
    for p in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != "smtp-sink" {
            continue;
        }
        for fd in std::fs::read_dir(p.path().join("fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                held.insert(target);
            }
        }
    }
    let mut v: Vec<_> = listed
        .into_iter()
        .filter(|f| {
            let real = std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
            !held.contains(f) && !held.contains(&real)
        })
        .collect();
    v.sort();
    v
}

/// A virtual user's session with Python's clients: IMAP on
/// 127.0.0.1:`imap` (select INBOX, the first message's subject), POP3 on
/// 127.0.0.2:`pop` (STAT), a message to itself with SMTP AUTH on
/// 127.0.0.1:`smtp`, and an IMAP login with a wrong password. Output
/// lines: `imap-exists N`, `imap-subject Subject: …`, `pop-stat N`,
/// `smtp-auth ok`, `wrong <error>`.
pub fn virtual_user_session(
    imap: u16,
    pop: u16,
    smtp: u16,
    user: &str,
    password: &str,
) -> Vec<String> {
    let script = format!(
        r#"
import imaplib, poplib, smtplib, sys
user, password = sys.argv[1], sys.argv[2]
M = imaplib.IMAP4("127.0.0.1", {imap})
M.login(user, password)
typ, data = M.select("INBOX")
print("imap-exists", data[0].decode())
typ, data = M.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
print("imap-subject", data[0][1].decode().strip())
M.logout()
P = poplib.POP3("127.0.0.2", {pop})
P.user(user)
P.pass_(password)
print("pop-stat", P.stat()[0])
P.quit()
S = smtplib.SMTP("127.0.0.1", {smtp})
S.login(user, password)
S.sendmail(user, [user], b"Subject: sent with AUTH\r\n\r\nsent with AUTH\r\n")
S.quit()
print("smtp-auth ok")
try:
    M = imaplib.IMAP4("127.0.0.1", {imap})
    M.login(user, "wrong")
    print("wrong accepted")
except imaplib.IMAP4.error as e:
    print("wrong", e)
"#
    );
    python_lines(&[], &script, &[user, password])
}

/// Sends one message with Python's smtplib to 127.0.0.1:`port` (the text
/// as given, header and body; Rust's escapes are Python's for ASCII).
pub fn smtp_send(port: u16, from: &str, rcpts: &[&str], message: &str) {
    let script = format!(
        "import smtplib\ns = smtplib.SMTP('127.0.0.1', {port}, timeout=20)\ns.sendmail({from:?}, {rcpts:?}, {message:?}.encode())\ns.quit()\n"
    );
    python_lines(&[], &script, &[]);
}

/// A client of cleanup's protocol, as smtpd and pickup speak it, on the
/// instance's `cleanup` service.
pub struct CleanupConn {
    stream: std::os::unix::net::UnixStream,
    /// Content goes in frames of this many bytes.
    pub chunk: usize,
}

impl CleanupConn {
    /// Connects and opens a message; returns the connection and the
    /// queue ID cleanup gave.
    pub fn open(
        inst: &Instance,
        source: ipc::cleanup::Source,
        flags: u32,
        chunk: usize,
    ) -> (CleanupConn, String) {
        let path = ipc::cleanup::socket_path(&inst.dir.join("queue"), "cleanup");
        assert!(wait_until(Duration::from_secs(5), || path.exists()));
        let stream = std::os::unix::net::UnixStream::connect(&path).expect("connect cleanup");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut c = CleanupConn { stream, chunk };
        c.send(&ipc::cleanup::Request::Open { source, flags });
        match c.reply() {
            ipc::cleanup::Reply::Opened { queue_id } => (c, queue_id),
            other => panic!("expected Opened, got {other:?}"),
        }
    }

    pub fn send(&mut self, r: &ipc::cleanup::Request) {
        let (k, p) = r.encode();
        ipc::frame::write_frame(&mut self.stream, k, &p).expect("write frame");
    }

    pub fn reply(&mut self) -> ipc::cleanup::Reply {
        let (k, p) = ipc::frame::read_frame(&mut self.stream)
            .expect("read")
            .expect("a reply");
        ipc::cleanup::Reply::decode(k, &p).expect("valid reply")
    }

    /// Sends the envelope, the content and the end; returns the reply.
    pub fn message(mut self, env: ipc::cleanup::Envelope, content: &[u8]) -> ipc::cleanup::Reply {
        self.send(&ipc::cleanup::Request::Envelope(env));
        for chunk in content.chunks(self.chunk) {
            self.send(&ipc::cleanup::Request::Content(chunk.to_vec()));
        }
        self.send(&ipc::cleanup::Request::End);
        self.reply()
    }
}
