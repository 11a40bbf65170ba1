//! The login phase shared by pop3d and imapd (Dovecot's login-common):
//! how a client gets from an unauthenticated connection to a session
//! running as the mailbox owner without any process parsing its input
//! as root.
//!
//! For every client the root worker ([`serve`]):
//!
//! 1. loads the TLS certificate and key (`ssl_cert`, `ssl_key`; usually
//!    readable by root only) when `ssl` is not `no`;
//! 2. forks a pre-login process that drops to mail_owner for good before
//!    it reads a byte from the client, runs the TLS handshake at once on
//!    a TLS-wrapped port (`pop3d_tls_wrappermode`,
//!    `imapd_tls_wrappermode`), and hands the connection to the
//!    protocol's dialogue ([`Protocol::pre_login`]) together with a
//!    [`Gate`]: whether STARTTLS/STLS can be offered, whether plaintext
//!    logins are allowed, and the one way to log in, [`Gate::attempt`];
//! 3. reads from that process only validated, length-limited frames
//!    ([`frame`]): a user name and password, answered OK, FAIL or TEMP
//!    after asking the auth service (`private/auth`, the Dovecot auth
//!    protocol) and resolving the account;
//! 4. after OK becomes the user — a system account from the passwd
//!    database when the auth service says so (passdb shadow), else a table
//!    or passwd-file user with the uid, gid and home the auth service
//!    returned (`userdb_uid`, `userdb_gid`, `userdb_home`), falling back
//!    to mail_uid, mail_gid and mail_home (a table user never becomes the
//!    system account of the same name) — refusing root
//!    and ids outside first_valid_uid..last_valid_uid and
//!    first_valid_gid..last_valid_gid, and runs the session
//!    ([`Protocol::session`]).
//!
//! A plaintext connection is handed over whole: the pre-login process
//! passes on what a pipelining client already sent and exits, and the
//! session reads the socket itself. A TLS connection stays with the
//! pre-login process, which relays plaintext to the session over their
//! socketpair ([`relay`]), so the user's process never holds the key.
//!
//! Plaintext logins (USER/PASS, LOGIN, AUTH PLAIN/LOGIN) are allowed when
//! `disable_plaintext_auth = no`, or on TLS, or from the local host or
//! `login_trusted_networks` (Dovecot's "secured"); `ssl = required` makes
//! `disable_plaintext_auth` yes.

mod end;
pub mod frame;
pub mod relay;
pub mod sasl;
mod stream;

pub use end::End;
pub use frame::{Answer, Method};
pub use stream::Stream;

use frame::Attempt;
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult, Pid};
use params::table as p;
use params::{Config, Param};
use server::{Client, Context};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;
use tls::ServerTls;
use util::privs::{self, Account};

/// Dovecot's `ssl` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ssl {
    No,
    Yes,
    Required,
}

/// What the login phase reads from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mail_owner: String,
    pub auth_socket: PathBuf,
    pub first_uid: i64,
    pub last_uid: i64,
    pub first_gid: i64,
    pub last_gid: i64,
    /// disable_plaintext_auth, or ssl = required.
    pub disable_plaintext: bool,
    pub trusted: Vec<addr::net::Cidr>,
    pub ssl: Ssl,
    /// ssl_cert and ssl_key, without Dovecot's `<` prefix.
    pub ssl_cert: String,
    pub ssl_key: String,
    pub ssl_min_protocol: String,
    /// Dovecot's ssl_cipher_list: an OpenSSL cipher string for TLS 1.2
    /// (empty: every suite).
    pub ssl_cipher_list: String,
    /// Dovecot's ssl_curve_list (empty: every curve).
    pub ssl_curve_list: String,
    /// TLS from the first byte (pop3s, imaps).
    pub wrapper: bool,
    /// How long the pre-login dialogue and the session wait for the client.
    pub idle: Duration,
    /// auth_mechanisms that the pre-login dialogues speak (PLAIN, LOGIN),
    /// upper-cased.
    pub mechanisms: Vec<String>,
    /// mail_uid, mail_gid, mail_home: for users whose passdb line has no
    /// uid, gid or home.
    pub mail_uid: String,
    pub mail_gid: String,
    pub mail_home: String,
}

fn file_setting(v: &str) -> String {
    v.strip_prefix('<').unwrap_or(v).trim().to_string()
}

impl Settings {
    /// `wrapper` is the program's wrapper-mode parameter
    /// (pop3d_tls_wrappermode, imapd_tls_wrappermode).
    pub fn from_config(
        c: &Config,
        queue_dir: PathBuf,
        wrapper: &Param,
        idle: Duration,
    ) -> Settings {
        let ssl = match c.str(&p::SSL).to_ascii_lowercase().as_str() {
            "no" => Ssl::No,
            "required" => Ssl::Required,
            "yes" => Ssl::Yes,
            other => {
                maillog::warning!("parameter ssl: unknown value {other:?}: using yes");
                Ssl::Yes
            }
        };
        let (trusted, bad) = addr::net::Cidr::parse_list(&c.list(&p::LOGIN_TRUSTED_NETWORKS));
        for n in bad {
            maillog::warning!("login_trusted_networks: bad network {n}: ignored");
        }
        Settings {
            mail_owner: c.str(&p::MAIL_OWNER).to_string(),
            auth_socket: queue_dir.join("private/auth"),
            first_uid: c.int(&p::FIRST_VALID_UID),
            last_uid: c.int(&p::LAST_VALID_UID),
            first_gid: c.int(&p::FIRST_VALID_GID),
            last_gid: c.int(&p::LAST_VALID_GID),
            disable_plaintext: c.bool(&p::DISABLE_PLAINTEXT_AUTH) || ssl == Ssl::Required,
            trusted,
            ssl,
            ssl_cert: file_setting(c.str(&p::SSL_CERT)),
            ssl_key: file_setting(c.str(&p::SSL_KEY)),
            ssl_min_protocol: c.str(&p::SSL_MIN_PROTOCOL).to_string(),
            ssl_cipher_list: c.str(&p::SSL_CIPHER_LIST).to_string(),
            ssl_curve_list: c.str(&p::SSL_CURVE_LIST).to_string(),
            wrapper: c.bool(wrapper),
            idle,
            mechanisms: c
                .list(&p::AUTH_MECHANISMS)
                .iter()
                .map(|m| m.to_ascii_uppercase())
                .filter(|m| m == "PLAIN" || m == "LOGIN")
                .collect(),
            mail_uid: c.str(&p::MAIL_UID).to_string(),
            mail_gid: c.str(&p::MAIL_GID).to_string(),
            mail_home: c.str(&p::MAIL_HOME).to_string(),
        }
    }

    /// The TLS configuration, when ssl is not `no` (None with a warning
    /// when the files are missing or unusable).
    fn server_tls(&self) -> Option<ServerTls> {
        if self.ssl == Ssl::No {
            return None;
        }
        if self.ssl_cert.is_empty() || self.ssl_key.is_empty() {
            if self.wrapper || self.ssl == Ssl::Required {
                maillog::warning!("TLS is wanted but ssl_cert or ssl_key is not set");
            }
            return None;
        }
        let ciphers = match self.ssl_cipher_list.trim() {
            "" => tls::Ciphers::default(),
            list => tls::Ciphers::from_openssl(list),
        };
        let ciphers = match self.ssl_curve_list.trim() {
            "" => ciphers,
            list => match ciphers.with_curves(list) {
                Ok(c) => c,
                Err(e) => {
                    maillog::error!("ssl_curve_list: {e}");
                    return None;
                }
            },
        };
        match ServerTls::from_files_min(
            self.ssl_cert.as_ref(),
            self.ssl_key.as_ref(),
            &self.ssl_min_protocol,
            &ciphers,
        ) {
            Ok(t) => Some(t),
            Err(e) => {
                maillog::error!("ssl_cert/ssl_key/ssl_min_protocol/ssl_cipher_list: {e}");
                None
            }
        }
    }
}

/// A logged-in user: the name the auth service returned and the account
/// the session runs as.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub account: Account,
    /// A system account (supplementary groups from /etc/group), or a
    /// passdb-only user (just the account's gid).
    pub system: bool,
}

/// A mail protocol served through the login phase.
pub trait Protocol {
    /// The service name for the auth service (`pop3`, `imap`).
    const SERVICE: &'static str;

    /// The pre-login dialogue, in the unprivileged pre-login process. It
    /// ends with [`Gate::hand_over`] after a successful login, or by
    /// returning (the process then exits).
    fn pre_login(&self, stream: Stream, gate: Gate);

    /// The session, in a process that has become the user. It answers
    /// the login command (tagged `tag` in IMAP, empty in POP3) once it is
    /// ready, as Dovecot's imap and pop3 processes do, so the client's
    /// next command finds it ready. `pending` is what the client sent
    /// after its login command.
    fn session(&self, stream: Stream, tag: &str, pending: Vec<u8>, user: &User);
}

/// The pre-login process's view of the login: TLS, the plaintext policy,
/// and the channel to its root parent.
pub struct Gate {
    chan: UnixStream,
    tls: Option<ServerTls>,
    /// From the local host or login_trusted_networks.
    network_secure: bool,
    disable_plaintext: bool,
    idle: Duration,
    mechanisms: Vec<String>,
}

impl Gate {
    /// The SASL mechanisms to offer (PLAIN, LOGIN as auth_mechanisms
    /// lists them).
    pub fn mechanisms(&self) -> &[String] {
        &self.mechanisms
    }

    /// Whether STARTTLS/STLS may be offered on this stream.
    pub fn can_start_tls(&self, s: &Stream) -> bool {
        self.tls.is_some() && !s.is_tls()
    }

    /// Runs the handshake after the client's STARTTLS/STLS was answered.
    pub fn start_tls(&self, s: Stream) -> Result<Stream, tls::TlsError> {
        match &self.tls {
            Some(t) => s.start_tls(t),
            None => Err(tls::TlsError::Config("TLS is not configured".into())),
        }
    }

    /// Dovecot's "secured": TLS, the local host or a trusted network.
    pub fn secured(&self, s: &Stream) -> bool {
        s.is_tls() || self.network_secure
    }

    /// Whether plaintext logins are allowed now.
    pub fn plaintext_ok(&self, s: &Stream) -> bool {
        !self.disable_plaintext || self.secured(s)
    }

    /// Asks the root parent to log the user in. Callers check
    /// [`frame::user_ok`] and [`frame::pass_ok`] first (a refused frame
    /// is an I/O error here).
    pub fn attempt(
        &mut self,
        s: &Stream,
        user: &str,
        pass: &[u8],
        m: Method,
    ) -> io::Result<Answer> {
        frame::write_attempt(&mut self.chan, user, pass, m, s.is_tls())?;
        frame::read_answer(&mut self.chan)
    }

    /// After [`Answer::Ok`]: passes on the login command's tag (the
    /// session answers it) and what the client already sent and, on
    /// TLS, stays on as the session's relay. Never returns.
    pub fn hand_over(mut self, stream: Stream, tag: &str, pending: &[u8]) -> ! {
        if frame::write_hand_over(&mut self.chan, tag, pending).is_err() {
            std::process::exit(1);
        }
        match stream {
            Stream::Tls(s) => {
                let s = *s;
                // The session has its own idle timeout; the relay only
                // guards against both sides going silent for good.
                relay::run(
                    s.conn,
                    s.sock,
                    self.chan,
                    self.idle * 2 + Duration::from_secs(60),
                );
            }
            Stream::Plain(_) | Stream::Relay(_) => {}
        }
        std::process::exit(0)
    }
}

fn addrs(c: &Client) -> (Option<SocketAddr>, Option<SocketAddr>) {
    match c {
        Client::Tcp(s) => (s.peer_addr().ok(), s.local_addr().ok()),
        Client::Unix(_) => (None, None),
    }
}

/// From the local host: loopback, or the server's own address.
fn local_client(peer: Option<SocketAddr>, local: Option<SocketAddr>) -> bool {
    match (peer, local) {
        (Some(p), Some(l)) => p.ip().is_loopback() || p.ip() == l.ip(),
        (None, None) => true,
        _ => false,
    }
}

fn show(a: Option<SocketAddr>) -> String {
    a.map_or_else(|| "local".into(), |a| a.ip().to_string())
}

/// Serves one client through the login phase; returns only when the
/// login did not happen (the process then goes back to the skeleton,
/// which ends it: a worker that forked serves one client).
pub fn serve<P: Protocol>(ctx: &Context, client: Client, s: &Settings, proto: &P) {
    if let Err(e) = client.set_timeout(Some(s.idle)) {
        maillog::warning!("set client timeout: {e}");
        return;
    }
    // Replies go out whole (the protocols buffer them), so Nagle's
    // algorithm would only hold back the last segment of each.
    if let Client::Tcp(t) = &client {
        let _ = t.set_nodelay(true);
    }
    let (peer, local) = addrs(&client);
    let root = privs::is_root();
    let owner = if root {
        match privs::lookup_user(&s.mail_owner) {
            Ok(Some(a)) if a.uid != 0 => Some(a),
            _ => {
                maillog::warning!("parameter mail_owner: unusable user {}", s.mail_owner);
                return;
            }
        }
    } else {
        None
    };
    let tls = s.server_tls();
    if s.wrapper && tls.is_none() {
        maillog::warning!(
            "{}: TLS-wrapped service without a usable ssl_cert/ssl_key (ssl = {:?}): disconnecting {}",
            P::SERVICE,
            s.ssl,
            show(peer)
        );
        return;
    }
    let (mut chan, child_end) = match UnixStream::pair() {
        Ok(x) => x,
        Err(e) => {
            maillog::warning!("socketpair: {e}");
            return;
        }
    };
    let network_secure = local_client(peer, local)
        || peer.is_some_and(|p| s.trusted.iter().any(|c| c.contains(p.ip())));
    // SAFETY: the worker is single-threaded; the child only drops
    // privileges and runs the dialogue, then exits.
    let child = match unsafe { fork() } {
        Err(e) => {
            maillog::warning!("fork: {e}");
            return;
        }
        Ok(ForkResult::Child) => {
            drop(chan);
            seal_inherited(ctx);
            if let Some(owner) = &owner {
                if let Err(e) = privs::drop_privileges(owner, None) {
                    maillog::warning!("pre-login: cannot drop privileges: {e}");
                    std::process::exit(1);
                }
            }
            let gate = Gate {
                chan: child_end,
                tls,
                network_secure,
                disable_plaintext: s.disable_plaintext,
                idle: s.idle,
                mechanisms: s.mechanisms.clone(),
            };
            let mut stream = Stream::Plain(client);
            if s.wrapper {
                stream = match gate.start_tls(stream) {
                    Ok(t) => t,
                    Err(e) => {
                        maillog::info!(
                            "{}-login: Disconnected (no auth attempts): rip={}, lip={}, {e}",
                            P::SERVICE,
                            show(peer),
                            show(local)
                        );
                        std::process::exit(0);
                    }
                };
            }
            proto.pre_login(stream, gate);
            std::process::exit(0);
        }
        Ok(ForkResult::Parent { child }) => child,
    };
    drop(child_end);
    drop(tls);
    let result = broker(&mut chan, s, P::SERVICE, (peer, local, network_secure));
    let Some((user, tls_relay, (tag, pending))) = result else {
        finish_child(&mut chan, child);
        return;
    };
    let stream = if tls_relay {
        // The pre-login process keeps the client and relays; this
        // process must not hold the socket, so that the client sees the
        // end when the relay ends.
        drop(client);
        if let Err(e) = chan.set_read_timeout(Some(s.idle)) {
            maillog::warning!("set relay timeout: {e}");
            return;
        }
        let _ = chan.set_write_timeout(Some(s.idle));
        Stream::Relay(chan)
    } else {
        finish_child(&mut chan, child);
        Stream::Plain(client)
    };
    // From here on this process is the user and serves nobody else.
    seal_inherited(ctx);
    if root {
        let dropped = if user.system {
            privs::drop_privileges(&user.account, None)
        } else {
            privs::drop_privileges_virtual(&user.account)
        };
        if let Err(e) = dropped {
            maillog::error!("cannot become user {}: {e}", user.account.name);
            std::process::exit(1);
        }
    }
    proto.session(stream, &tag, pending, &user);
    std::process::exit(0);
}

/// Lets the pre-login process finish its last reply and exit, a few
/// seconds at most, then makes sure it is gone: it may not linger with
/// the client socket.
fn finish_child(chan: &mut UnixStream, child: Pid) {
    wait_eof(chan);
    let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
    loop {
        match waitpid(child, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            _ => return,
        }
    }
}

/// Points the master's status socket and the listening sockets this
/// process inherited at /dev/null, so that neither the pre-login process
/// nor a user's session holds them (the descriptors stay valid for the
/// skeleton, which this process never returns to).
fn seal_inherited(ctx: &Context) {
    use std::os::fd::AsRawFd;
    let null = match std::fs::File::open("/dev/null") {
        Ok(f) => f,
        Err(e) => {
            maillog::error!("open /dev/null: {e}");
            std::process::exit(1);
        }
    };
    let count = i32::try_from(ctx.options.sockets).unwrap_or(0);
    let fds = std::iter::once(ipc::status::STATUS_FD)
        .chain((0..count).map(|i| ipc::status::LISTEN_FD + i));
    for fd in fds {
        if util::fd::is_open(fd) {
            // SAFETY: dup2 onto a descriptor number this process holds;
            // it stays open (now /dev/null) for whoever owns it.
            if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
                maillog::error!("dup2: {}", std::io::Error::last_os_error());
                std::process::exit(1);
            }
        }
    }
}

fn wait_eof(chan: &mut UnixStream) {
    use std::io::Read;
    let _ = chan.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 256];
    for _ in 0..64 {
        match chan.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Failed logins the root side accepts from one pre-login process.
pub const MAX_AUTH_ATTEMPTS: u32 = 3;

/// The root side of the login: frames from the pre-login process, each
/// checked with the auth service. `client`: the peer and local
/// addresses, and whether the peer is the local host or in
/// login_trusted_networks (worked out once, in [`serve`]). Returns the
/// user, whether the pre-login process stays on as the TLS relay, and the
/// login's tag with the pending client bytes.
fn broker(
    chan: &mut UnixStream,
    s: &Settings,
    service: &str,
    client: (Option<SocketAddr>, Option<SocketAddr>, bool),
) -> Option<(User, bool, (String, Vec<u8>))> {
    let _ = chan.set_read_timeout(Some(s.idle * 4 + Duration::from_secs(60)));
    for _ in 0..MAX_AUTH_ATTEMPTS {
        let attempt = match frame::read_attempt(chan) {
            Ok(Some(a)) => a,
            Ok(None) => return None,
            Err(e) => {
                maillog::warning!("pre-login process: bad frame: {e}");
                return None;
            }
        };
        let (answer, ok) = check(&attempt, s, service, client);
        let failed = ok.is_none();
        if frame::write_answer(chan, answer).is_err() {
            return None;
        }
        if failed {
            continue;
        }
        let pending = match frame::read_hand_over(chan) {
            Ok(p) => p,
            Err(e) => {
                maillog::warning!("pre-login process: bad hand-over: {e}");
                return None;
            }
        };
        return ok.map(|user| (user, attempt.tls, pending));
    }
    None
}

/// Asks the auth service about one attempt and resolves the account.
fn check(
    a: &Attempt,
    s: &Settings,
    service: &str,
    (peer, local, network_secure): (Option<SocketAddr>, Option<SocketAddr>, bool),
) -> (Answer, Option<User>) {
    let rip: Option<IpAddr> = peer.map(|a| a.ip());
    let req = auth::client::Request {
        service: service.into(),
        rip,
        lip: local.map(|a| a.ip()),
        rport: peer.map(|a| a.port()),
        lport: local.map(|a| a.port()),
        secured: a.tls || network_secure,
    };
    let info = format!(
        "user=<{}>, method={}, rip={}, lip={}{}",
        a.user,
        a.method.as_str(),
        show(peer),
        show(local),
        if a.tls { ", TLS" } else { "" }
    );
    let mut c = match auth::client::Client::connect(&s.auth_socket, Duration::from_secs(30)) {
        Ok(c) => c,
        Err(e) => {
            maillog::error!("auth service {}: {e}", s.auth_socket.display());
            return (Answer::Temp, None);
        }
    };
    let plain = c
        .mechanisms()
        .iter()
        .any(|m| m.name.eq_ignore_ascii_case("PLAIN"));
    let outcome = if plain {
        let mut msg = vec![0u8];
        msg.extend_from_slice(a.user.as_bytes());
        msg.push(0);
        msg.extend_from_slice(&a.pass);
        let initial = util::base64::encode(&msg);
        c.authenticate("PLAIN", &req, Some(&initial), &mut |_| None)
    } else {
        let mut step = 0;
        let user = util::base64::encode(a.user.as_bytes());
        let pass = util::base64::encode(&a.pass);
        c.authenticate("LOGIN", &req, None, &mut |_| {
            step += 1;
            match step {
                1 => Some(user.clone()),
                2 => Some(pass.clone()),
                _ => None,
            }
        })
    };
    match outcome {
        Ok(auth::client::Outcome::Ok { user, fields }) => match account(&user, &fields, s) {
            Ok((account, system)) => {
                maillog::info!("{service}-login: Login: {info}");
                (
                    Answer::Ok,
                    Some(User {
                        name: user,
                        account,
                        system,
                    }),
                )
            }
            Err(why) => {
                maillog::warning!("{service}-login: Login refused: {info}: {why}");
                (Answer::Temp, None)
            }
        },
        Ok(auth::client::Outcome::Fail { temp: true, .. }) => {
            maillog::info!("{service}-login: Aborted login (auth temporarily failed): {info}");
            (Answer::Temp, None)
        }
        Ok(_) => {
            maillog::info!("{service}-login: Aborted login (auth failed): {info}");
            (Answer::Fail, None)
        }
        Err(e) => {
            maillog::error!("auth service: {e}");
            (Answer::Temp, None)
        }
    }
}

/// An id setting (mail_uid, mail_gid): a number or a name.
fn id_setting(v: &str, group: bool) -> Result<Option<u32>, String> {
    if v.is_empty() {
        return Ok(None);
    }
    if let Ok(n) = v.parse::<u32>() {
        return Ok(Some(n));
    }
    let found = if group {
        nix::unistd::Group::from_name(v)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw())
    } else {
        nix::unistd::User::from_name(v)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw())
    };
    found.map(Some).ok_or_else(|| {
        format!(
            "{} {v}: no such {}",
            if group { "mail_gid" } else { "mail_uid" },
            if group { "group" } else { "user" }
        )
    })
}

/// Expands mail_home's `%u`, `%n`, `%d` for `user`.
fn expand_home(template: &str, user: &str) -> String {
    let (n, d) = user.split_once('@').unwrap_or((user, ""));
    template
        .replace("%u", user)
        .replace("%n", n)
        .replace("%d", d)
}

/// The account a logged-in user's session runs as, if it may log in, and
/// whether it is a system account.
fn account(
    user: &str,
    f: &auth::passdb::UserFields,
    s: &Settings,
) -> Result<(Account, bool), String> {
    let system = f.system;
    let acct = if system {
        // passdb shadow: the system account of that name.
        privs::lookup_user(user)
            .map_err(|e| format!("user lookup: {e}"))?
            .ok_or("no such system user")?
    } else {
        // A user of a table or a passwd-file: never a system account, even
        // one of the same name; its ids come from the passdb or mail_uid.
        let uid = match f.uid {
            Some(u) => u,
            None => id_setting(&s.mail_uid, false)?.ok_or("no uid: set mail_uid")?,
        };
        let gid = match f.gid {
            Some(g) => g,
            None => id_setting(&s.mail_gid, true)?.ok_or("no gid: set mail_gid")?,
        };
        let home = match &f.home {
            Some(h) => h.clone(),
            None if !s.mail_home.is_empty() => expand_home(&s.mail_home, user),
            None => return Err("no home directory: set mail_home".into()),
        };
        if user.contains('/') && f.home.is_none() {
            return Err("user name with '/'".into());
        }
        Account {
            name: user.to_string(),
            uid,
            gid,
            home: PathBuf::from(home),
            gecos: String::new(),
        }
    };
    if !privs::is_root() {
        // Not started as root (a single-user instance): only the account
        // this process runs as can be served.
        let me = privs::current_account();
        if acct.uid != me.uid {
            return Err(format!(
                "the service runs as {} without root privileges and can serve only uid {}",
                me.name, me.uid
            ));
        }
        return Ok((
            Account {
                gid: me.gid,
                ..acct
            },
            system,
        ));
    }
    let (uid, gid) = (i64::from(acct.uid), i64::from(acct.gid));
    if acct.uid == 0 || uid < s.first_uid || (s.last_uid != 0 && uid > s.last_uid) {
        return Err(format!(
            "uid {} is outside first_valid_uid..last_valid_uid",
            acct.uid
        ));
    }
    if acct.gid == 0 || gid < s.first_gid || (s.last_gid != 0 && gid > s.last_gid) {
        return Err(format!(
            "gid {} is outside first_valid_gid..last_valid_gid",
            acct.gid
        ));
    }
    Ok((acct, system))
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth::passdb::UserFields;

    fn settings(text: &str) -> Settings {
        let c = Config::from_text(text).expect("main.cf");
        Settings::from_config(
            &c,
            PathBuf::from("/nonexistent"),
            &p::IMAPD_TLS_WRAPPERMODE,
            Duration::from_secs(1),
        )
    }

    #[test]
    fn a_table_user_never_becomes_the_system_account_of_its_name() {
        // `nobody` is a system account; a table user of that name without
        // a uid of its own is refused, not run as it.
        let loose = settings("first_valid_uid = 1\nfirst_valid_gid = 1\n");
        let why = account("nobody", &UserFields::default(), &loose).expect_err("refused");
        assert!(why.contains("mail_uid"), "{why}");

        let me = privs::current_account();
        let (uid, gid) = if privs::is_root() {
            (12345, 12346)
        } else {
            (me.uid, me.gid)
        };
        let s = settings(&format!(
            "first_valid_uid = 1\nfirst_valid_gid = 1\nmail_uid = {uid}\nmail_gid = {gid}\nmail_home = /srv/vmail/%d/%n\n"
        ));
        let (a, system) = account("nobody", &UserFields::default(), &s).expect("table user");
        assert!(!system);
        assert_eq!((a.uid, a.gid), (uid, gid));
        assert_eq!(a.home, PathBuf::from("/srv/vmail//nobody"));

        // Only the auth service's word makes a system account.
        if privs::is_root() {
            let nobody = privs::lookup_user("nobody").ok().flatten().expect("nobody");
            let (a, system) = account("nobody", &UserFields::system(), &s).expect("system user");
            assert!(system);
            assert_eq!(a.uid, nobody.uid);
            assert_eq!(a.home, nobody.home);
        }
    }
}
