//! The auth server: the protocol engine per client connection (sans I/O,
//! [`Conn`]), the shared state behind it ([`Core`]: settings, password
//! databases, throttle), and the glue to the multi-client skeleton
//! ([`AuthService`]).

use crate::mech::{Exchange, Mechanism, Step};
use crate::passdb::{self, Outcome, Passdb};
use crate::protocol::{self, AuthParams, ClientLine};
use crate::throttle::Throttle;
use crate::{base64, printable};
use params::{table as p, Config};
use server::multi::Stream;
use server::{Context, Flow, HookError, MultiService, Service};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// Requests one connection may have in progress at once.
pub const MAX_PENDING: usize = 32;
/// Bytes of replies a connection may leave unread before it is dropped.
pub const MAX_OUTPUT: usize = 1 << 20;

/// What the service reads from main.cf.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mechanisms: Vec<Mechanism>,
    pub disable_plaintext: bool,
    pub trusted: Vec<addr::net::Cidr>,
    pub failure_delay: Duration,
    pub lowercase_user: bool,
    pub verbose: bool,
}

impl Settings {
    pub fn from_config(c: &Config) -> Settings {
        let mut mechanisms = Vec::new();
        for m in c.list(&p::AUTH_MECHANISMS) {
            match Mechanism::from_name(&m) {
                Some(m) if !mechanisms.contains(&m) => mechanisms.push(m),
                Some(_) => {}
                None => maillog::warning!("auth_mechanisms: unsupported mechanism {m}: ignored"),
            }
        }
        let (trusted, bad) = addr::net::Cidr::parse_list(&c.list(&p::LOGIN_TRUSTED_NETWORKS));
        for n in bad {
            maillog::warning!("login_trusted_networks: bad network {n}: ignored");
        }
        Settings {
            mechanisms,
            disable_plaintext: c.bool(&p::DISABLE_PLAINTEXT_AUTH),
            trusted,
            failure_delay: c.time(&p::AUTH_FAILURE_DELAY),
            lowercase_user: c.str(&p::AUTH_USERNAME_FORMAT).starts_with("%L"),
            verbose: c.bool(&p::AUTH_VERBOSE),
        }
    }
}

/// State shared by every connection of one process.
pub struct Core {
    pub settings: Settings,
    pub passdbs: Vec<Passdb>,
    pub throttle: Throttle,
    next_cuid: u32,
}

impl Core {
    pub fn new(settings: Settings, passdbs: Vec<Passdb>) -> Core {
        Core {
            settings,
            passdbs,
            throttle: Throttle::default(),
            next_cuid: 1,
        }
    }

    /// Plaintext mechanisms are allowed: TLS, localhost, the same address
    /// on both ends, or login_trusted_networks. For `service=smtp` always:
    /// with Postfix and Dovecot, disable_plaintext_auth binds Dovecot's own
    /// logins, and smtpd_tls_auth_only decides for SMTP.
    fn plaintext_allowed(&self, p: &AuthParams) -> bool {
        if !self.settings.disable_plaintext || p.secured || p.service == "smtp" {
            return true;
        }
        match p.rip {
            None => false,
            Some(ip) => {
                ip.is_loopback()
                    || p.lip == Some(ip)
                    || self.settings.trusted.iter().any(|c| c.contains(ip))
            }
        }
    }
}

struct Pending {
    exchange: Exchange,
    params: AuthParams,
    /// SCRAM after a good proof: the server-final message was sent; the
    /// OK line (and its delay) waits for the client's empty response.
    finish: Option<(Vec<u8>, Duration)>,
}

/// One client connection's protocol state.
pub struct Conn {
    input: Vec<u8>,
    pub output: Vec<u8>,
    version: bool,
    cpid: Option<u32>,
    pending: HashMap<u32, Pending>,
    /// Failure replies held back until their time.
    delayed: Vec<(Instant, u32, Vec<u8>)>,
    /// A protocol error: close once the output is written.
    pub closing: bool,
}

/// The handshake the server sends first.
pub fn handshake(mechanisms: &[Mechanism], cuid: u32, cookie: &str) -> Vec<u8> {
    let mut s = format!(
        "VERSION\t{}\t{}\n",
        protocol::VERSION_MAJOR,
        protocol::VERSION_MINOR
    );
    for m in mechanisms {
        s.push_str(&format!("MECH\t{}\t{}\n", m.name(), m.flags()));
    }
    s.push_str(&format!(
        "SPID\t{}\nCUID\t{cuid}\nCOOKIE\t{cookie}\nDONE\n",
        std::process::id()
    ));
    s.into_bytes()
}

fn cookie() -> String {
    util::random::hex::<16>()
}

fn rip_text(p: &AuthParams) -> String {
    p.rip.map(|i| i.to_string()).unwrap_or_else(|| "?".into())
}

impl Conn {
    /// A new connection; the handshake is already in its output.
    pub fn open(core: &mut Core) -> Conn {
        let cuid = core.next_cuid;
        core.next_cuid = core.next_cuid.wrapping_add(1).max(1);
        Conn {
            input: Vec::new(),
            output: handshake(&core.settings.mechanisms, cuid, &cookie()),
            version: false,
            cpid: None,
            pending: HashMap::new(),
            delayed: Vec::new(),
            closing: false,
        }
    }

    /// The earliest delayed reply.
    pub fn deadline(&self) -> Option<Instant> {
        self.delayed.iter().map(|d| d.0).min()
    }

    /// Moves delayed replies whose time has come to the output.
    pub fn release(&mut self, now: Instant) {
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.delayed)
            .into_iter()
            .partition(|d| d.0 <= now);
        self.delayed = keep;
        for (_, _, line) in due {
            self.output.extend_from_slice(&line);
        }
    }

    /// Feeds bytes from the client and handles every complete line.
    pub fn input(&mut self, core: &mut Core, bytes: &[u8], now: Instant) {
        if self.closing {
            return;
        }
        self.input.extend_from_slice(bytes);
        loop {
            // Replies the client leaves unread stop its input here: the
            // caller keeps reading while the client keeps writing.
            if self.output.len() > MAX_OUTPUT {
                maillog::warning!("client does not read its replies; disconnecting");
                self.closing = true;
                self.input.clear();
                return;
            }
            match protocol::take_line(&mut self.input) {
                Ok(Some(line)) => {
                    if let Err(e) = self.line(core, &line, now) {
                        maillog::warning!("client protocol error: {e}; disconnecting");
                        self.closing = true;
                        self.input.clear();
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    maillog::warning!("client protocol error: {e}; disconnecting");
                    self.closing = true;
                    self.input.clear();
                    return;
                }
            }
        }
    }

    fn send(&mut self, line: String) {
        self.output.extend_from_slice(line.as_bytes());
        self.output.push(b'\n');
    }

    fn busy(&self, id: u32) -> bool {
        self.pending.contains_key(&id) || self.delayed.iter().any(|d| d.1 == id)
    }

    fn line(&mut self, core: &mut Core, line: &[u8], now: Instant) -> Result<(), String> {
        let cmd = ClientLine::parse(line).map_err(|e| e.to_string())?;
        match cmd {
            ClientLine::Version { major, .. } => {
                if major != protocol::VERSION_MAJOR {
                    return Err(format!(
                        "authentication client speaks protocol version {major}, not {}",
                        protocol::VERSION_MAJOR
                    ));
                }
                self.version = true;
            }
            _ if !self.version => return Err("command before VERSION".into()),
            ClientLine::Cpid(pid) => {
                if self.cpid.is_some() {
                    return Err("CPID sent twice".into());
                }
                self.cpid = Some(pid);
            }
            _ if self.cpid.is_none() => return Err("AUTH or CONT before CPID".into()),
            ClientLine::Auth { id, mech, params } => {
                if self.busy(id) {
                    return Err(format!("AUTH with a request ID in use: {id}"));
                }
                self.auth(core, id, &mech, params, now);
            }
            ClientLine::Cont { id, .. } if self.delayed.iter().any(|d| d.1 == id) => {
                return Err(format!("CONT for a finished request: {id}"));
            }
            ClientLine::Cont { id, data } => match self.pending.remove(&id) {
                None => self.send(format!(
                    "FAIL\t{id}\treason=Authentication request not found"
                )),
                Some(Pending {
                    finish: Some((line, delay)),
                    exchange,
                    params,
                }) => {
                    if data.is_empty() || data == "=" {
                        self.delayed.push((now + delay, id, line));
                        self.release(now);
                    } else {
                        self.fail(
                            core,
                            id,
                            &params,
                            exchange.mech,
                            None,
                            "Unexpected data after the server's final message",
                            now,
                        );
                    }
                }
                Some(mut p) => match base64::decode(&data) {
                    None => self.fail(
                        core,
                        id,
                        &p.params,
                        p.exchange.mech,
                        None,
                        "Invalid base64 data in continued response",
                        now,
                    ),
                    Some(bytes) => {
                        let step = p.exchange.step(&bytes);
                        self.step(core, id, p, step, now);
                    }
                },
            },
        }
        Ok(())
    }

    fn auth(&mut self, core: &mut Core, id: u32, mech: &str, params: AuthParams, now: Instant) {
        let Some(m) = Mechanism::from_name(mech).filter(|m| core.settings.mechanisms.contains(m))
        else {
            self.send(format!(
                "FAIL\t{id}\treason=Unsupported authentication mechanism"
            ));
            return;
        };
        if self.pending.len() + self.delayed.len() >= MAX_PENDING {
            self.send(format!(
                "FAIL\t{id}\ttemp\treason=Too many requests in progress"
            ));
            return;
        }
        if m.plaintext() && !core.plaintext_allowed(&params) {
            maillog::info!(
                "user=<>, method={}, rip={}, service={}: plaintext authentication disallowed on a non-secure connection",
                m.name(),
                rip_text(&params),
                printable(&params.service, 32)
            );
            self.send(format!(
                "FAIL\t{id}\treason=Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
            ));
            return;
        }
        let initial = match &params.resp {
            None => None,
            Some(r) => match base64::decode(r) {
                Some(b) => Some(b),
                None => {
                    self.fail(
                        core,
                        id,
                        &params,
                        m,
                        None,
                        "Invalid base64 data in initial response",
                        now,
                    );
                    return;
                }
            },
        };
        let (exchange, step) = Exchange::start(m, initial.as_deref());
        let p = Pending {
            exchange,
            params,
            finish: None,
        };
        self.step(core, id, p, step, now);
    }

    fn step(&mut self, core: &mut Core, id: u32, p: Pending, step: Step, now: Instant) {
        match step {
            Step::Challenge(c) => {
                self.send(format!("CONT\t{id}\t{}", base64::encode(&c)));
                self.pending.insert(id, p);
            }
            Step::Invalid(why) => self.fail(core, id, &p.params, p.exchange.mech, None, why, now),
            Step::Done(creds) => {
                let user = if core.settings.lowercase_user {
                    creds.user.to_lowercase()
                } else {
                    creds.user.clone()
                };
                let mech = p.exchange.mech;
                let (outcome, db) = passdb::check_all(&mut core.passdbs, &user, &creds.proof);
                match outcome {
                    Outcome::Ok(u, fields) => {
                        // An address with recent failures waits as long for
                        // a success as for a failure, so that timing does not
                        // tell a guesser which it was (Dovecot's penalty).
                        let penalty = if p.params.no_penalty {
                            Duration::ZERO
                        } else {
                            core.throttle
                                .penalty(p.params.rip, core.settings.failure_delay)
                        };
                        core.throttle.success(p.params.rip);
                        if core.settings.verbose {
                            maillog::info!(
                                "user=<{}>, method={}, rip={}, service={}, passdb={db}: authenticated",
                                printable(&u, 64),
                                mech.name(),
                                rip_text(&p.params),
                                printable(&p.params.service, 32)
                            );
                        }
                        let line = protocol::ok_line(id, &u, &fields);
                        if let Some(fin) = creds.proof.server_final() {
                            // SCRAM: the client checks the server first.
                            self.send(format!("CONT\t{id}\t{}", base64::encode(&fin)));
                            self.pending.insert(
                                id,
                                Pending {
                                    finish: Some((line.into_bytes(), penalty)),
                                    ..p
                                },
                            );
                            return;
                        }
                        self.delayed.push((now + penalty, id, line.into_bytes()));
                        self.release(now);
                    }
                    Outcome::TempFail(e) => {
                        maillog::warning!(
                            "user=<{}>, method={}, rip={}: passdb {db}: {e}",
                            printable(&user, 64),
                            mech.name(),
                            rip_text(&p.params)
                        );
                        self.send(format!(
                            "FAIL\t{id}\tuser={}\ttemp\treason=Temporary authentication failure",
                            protocol::escape(&user)
                        ));
                    }
                    Outcome::Mismatch => self.fail(
                        core,
                        id,
                        &p.params,
                        mech,
                        Some(&user),
                        "password mismatch",
                        now,
                    ),
                    Outcome::Unknown => {
                        self.fail(core, id, &p.params, mech, Some(&user), "unknown user", now)
                    }
                }
            }
        }
    }

    /// A failed attempt: logged without secrets, counted by the throttle,
    /// answered after the delay. Only malformed input gets a reason on the
    /// wire; a wrong password or unknown user gets none, as with Dovecot.
    #[allow(clippy::too_many_arguments)]
    fn fail(
        &mut self,
        core: &mut Core,
        id: u32,
        params: &AuthParams,
        mech: Mechanism,
        user: Option<&str>,
        why: &str,
        now: Instant,
    ) {
        maillog::info!(
            "user=<{}>, method={}, rip={}, service={}: authentication failed ({why})",
            printable(user.unwrap_or(""), 64),
            mech.name(),
            rip_text(params),
            printable(&params.service, 32)
        );
        let delay = if params.no_penalty {
            core.settings.failure_delay
        } else {
            core.throttle
                .failure(params.rip, core.settings.failure_delay, now)
        };
        let mut line = format!("FAIL\t{id}");
        if let Some(u) = user {
            line.push_str(&format!("\tuser={}", protocol::escape(u)));
        } else {
            line.push_str(&format!("\treason={why}"));
        }
        line.push('\n');
        self.delayed.push((now + delay, id, line.into_bytes()));
        self.release(now);
    }
}

/// The auth daemon under the multi-client skeleton.
#[derive(Default)]
pub struct AuthService {
    core: Option<Core>,
}

/// One connection: protocol state and its stream.
pub struct Session {
    conn: Conn,
}

impl Service for AuthService {
    /// Client input is parsed only after the drop to mail_owner: the shadow
    /// database is read in `pre_jail`.
    fn requires_unprivileged(&self) -> bool {
        true
    }

    fn pre_jail(&mut self, ctx: &Context) -> Result<(), HookError> {
        let settings = Settings::from_config(&ctx.config);
        let mut dbs = Passdb::from_list(&ctx.config.list(&p::PASSDB))?;
        for db in &mut dbs {
            db.prepare();
        }
        if settings.mechanisms.is_empty() {
            return Err("auth_mechanisms: no supported mechanism (PLAIN, LOGIN)".into());
        }
        self.core = Some(Core::new(settings, dbs));
        Ok(())
    }
}

impl AuthService {
    fn pump(core: &mut Core, sess: &mut Session, stream: &mut Stream) -> Flow {
        let now = Instant::now();
        sess.conn.release(now);
        let mut buf = [0u8; 4096];
        loop {
            if sess.conn.closing {
                break;
            }
            match stream.read(&mut buf) {
                Ok(0) => return Flow::Close,
                Ok(n) => sess.conn.input(core, &buf[..n], now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Flow::Close,
            }
        }
        while !sess.conn.output.is_empty() {
            match stream.write(&sess.conn.output) {
                Ok(0) => return Flow::Close,
                Ok(n) => {
                    sess.conn.output.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Flow::Close,
            }
        }
        if sess.conn.output.len() > MAX_OUTPUT {
            maillog::warning!("client does not read its replies; disconnecting");
            return Flow::Close;
        }
        if sess.conn.closing && sess.conn.output.is_empty() {
            return Flow::Close;
        }
        Flow::Continue
    }
}

impl MultiService for AuthService {
    type Session = Session;

    fn open(&mut self, _ctx: &Context, stream: &mut Stream) -> Option<Session> {
        let core = self.core.as_mut()?;
        let mut sess = Session {
            conn: Conn::open(core),
        };
        match Self::pump(core, &mut sess, stream) {
            Flow::Continue => Some(sess),
            Flow::Close => None,
        }
    }

    fn ready(&mut self, _ctx: &Context, sess: &mut Session, stream: &mut Stream) -> Flow {
        match self.core.as_mut() {
            Some(core) => Self::pump(core, sess, stream),
            None => Flow::Close,
        }
    }

    fn deadline(&self, sess: &Session) -> Option<Instant> {
        sess.conn.deadline()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passdb::PasswdFile;

    fn core(dir: &std::path::Path, delay: Duration, disable_plaintext: bool) -> Core {
        let path = dir.join("users");
        std::fs::write(&path, "alice:{PLAIN}secret::::::\nbob:{PLAIN}pw\n").expect("write");
        let mut f = PasswdFile::new(path);
        f.refresh().expect("refresh");
        Core::new(
            Settings {
                mechanisms: vec![Mechanism::Plain, Mechanism::Login],
                disable_plaintext,
                trusted: vec![addr::net::Cidr::parse("192.0.2.0/24").expect("cidr")],
                failure_delay: delay,
                lowercase_user: true,
                verbose: false,
            },
            vec![Passdb::PasswdFile(f)],
        )
    }

    fn tempdir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("auth-{name}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&d);
        d
    }

    fn run(c: &mut Core, conn: &mut Conn, input: &str, now: Instant) -> String {
        conn.output.clear();
        conn.input(c, input.as_bytes(), now);
        String::from_utf8_lossy(&conn.output).into_owned()
    }

    #[test]
    fn handshake_then_plain_and_login() {
        let d = tempdir("plain");
        let mut c = core(&d, Duration::ZERO, true);
        let mut conn = Conn::open(&mut c);
        let hello = String::from_utf8_lossy(&conn.output).into_owned();
        assert!(hello
            .starts_with("VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nSPID\t"));
        assert!(hello.ends_with("DONE\n"));
        let now = Instant::now();
        assert_eq!(run(&mut c, &mut conn, "VERSION\t1\t2\nCPID\t1\n", now), "");
        let resp = base64::encode(b"\0Alice\0secret");
        assert_eq!(
            run(
                &mut c,
                &mut conn,
                &format!("AUTH\t1\tPLAIN\tservice=smtp\trip=127.0.0.1\tresp={resp}\n"),
                now
            ),
            "OK\t1\tuser=alice\n"
        );
        assert_eq!(
            run(
                &mut c,
                &mut conn,
                "AUTH\t2\tLOGIN\tservice=smtp\tsecured\trip=198.51.100.1\n",
                now
            ),
            "CONT\t2\tVXNlcm5hbWU6\n"
        );
        assert_eq!(
            run(
                &mut c,
                &mut conn,
                &format!("CONT\t2\t{}\n", base64::encode(b"bob")),
                now
            ),
            "CONT\t2\tUGFzc3dvcmQ6\n"
        );
        assert_eq!(
            run(
                &mut c,
                &mut conn,
                &format!("CONT\t2\t{}\n", base64::encode(b"pw")),
                now
            ),
            "OK\t2\tuser=bob\n"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn failures_are_delayed_and_plaintext_is_refused() {
        let d = tempdir("fail");
        let mut c = core(&d, Duration::from_secs(2), true);
        let mut conn = Conn::open(&mut c);
        let now = Instant::now();
        run(&mut c, &mut conn, "VERSION\t1\t2\nCPID\t1\n", now);
        let resp = base64::encode(b"\0alice\0wrong");
        let line =
            format!("AUTH\t1\tPLAIN\tservice=smtp\tsecured\trip=198.51.100.7\tresp={resp}\n");
        assert_eq!(run(&mut c, &mut conn, &line, now), "");
        assert_eq!(conn.deadline(), Some(now + Duration::from_secs(2)));
        conn.release(now + Duration::from_secs(2));
        assert_eq!(
            String::from_utf8_lossy(&conn.output),
            "FAIL\t1\tuser=alice\n"
        );
        // The second failure from the same address waits twice as long.
        run(&mut c, &mut conn, &line.replace("AUTH\t1", "AUTH\t3"), now);
        assert_eq!(conn.deadline(), Some(now + Duration::from_secs(4)));
        // A success from that address now waits too (4 s: the penalty so far).
        let ok = base64::encode(b"\0alice\0secret");
        let good = format!("AUTH\t9\tPLAIN\tservice=smtp\tsecured\trip=198.51.100.7\tresp={ok}\n");
        conn.release(now + Duration::from_secs(10));
        assert_eq!(run(&mut c, &mut conn, &good, now), "");
        assert_eq!(conn.deadline(), Some(now + Duration::from_secs(4)));
        conn.release(now + Duration::from_secs(4));
        assert_eq!(String::from_utf8_lossy(&conn.output), "OK\t9\tuser=alice\n");
        // Not secured, not trusted: plaintext refused; trusted network: allowed.
        let out = run(
            &mut c,
            &mut conn,
            &format!("AUTH\t4\tPLAIN\tservice=pop3\trip=198.51.100.7\tresp={resp}\n"),
            now,
        );
        assert!(out.starts_with("FAIL\t4\treason=Plaintext"), "{out}");
        let ok = base64::encode(b"\0alice\0secret");
        let out = run(
            &mut c,
            &mut conn,
            &format!("AUTH\t5\tPLAIN\tservice=pop3\trip=192.0.2.9\tresp={ok}\n"),
            now,
        );
        assert_eq!(out, "OK\t5\tuser=alice\n");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn protocol_errors_close() {
        let d = tempdir("proto");
        let mut c = core(&d, Duration::ZERO, false);
        for bad in [
            "AUTH\t1\tPLAIN\tservice=smtp\n",
            "VERSION\t2\t0\n",
            "VERSION\t1\t2\nCPID\t1\nBOGUS\n",
        ] {
            let mut conn = Conn::open(&mut c);
            run(&mut c, &mut conn, bad, Instant::now());
            assert!(conn.closing, "{bad:?}");
        }
        let mut conn = Conn::open(&mut c);
        let out = run(
            &mut c,
            &mut conn,
            "VERSION\t1\t2\nCPID\t1\nAUTH\t1\tCRAM-MD5\tservice=smtp\n",
            Instant::now(),
        );
        assert!(out.starts_with("FAIL\t1\treason=Unsupported"), "{out}");
        let out = run(
            &mut c,
            &mut conn,
            "AUTH\t2\tPLAIN\tservice=smtp\tresp=A\n",
            Instant::now(),
        );
        assert!(
            !conn.closing && out.starts_with("FAIL\t2\treason=Invalid base64"),
            "{out}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_client_that_reads_no_replies_is_bounded() {
        let d = tempdir("unread");
        let mut c = core(&d, Duration::ZERO, false);
        let mut conn = Conn::open(&mut c);
        let now = Instant::now();
        conn.input(&mut c, b"VERSION\t1\t2\nCPID\t1\n", now);
        // Each line is answered at once (an unknown request): replies pile
        // up as long as the client writes and never reads.
        let chunk = "CONT\t7\t\n".repeat(400);
        for _ in 0..2000 {
            conn.input(&mut c, chunk.as_bytes(), now);
            if conn.closing {
                break;
            }
        }
        assert!(conn.closing);
        assert!(
            conn.output.len() <= MAX_OUTPUT + 4096,
            "{}",
            conn.output.len()
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
