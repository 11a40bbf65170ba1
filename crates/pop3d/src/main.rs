//! NAME
//!   pop3d - mailsuite's POP3 server
//!
//! SYNOPSIS
//!   pop3d [generic server options] (started by the master)
//!
//! DESCRIPTION
//!   pop3d serves POP3 (RFC 1939) with CAPA (RFC 2449), AUTH (RFC 5034)
//!   and the response codes of RFC 2449 and RFC 3206, with Dovecot's
//!   replies: the greeting `+OK Dovecot ready.` (login_greeting), USER and
//!   PASS, AUTH PLAIN and AUTH LOGIN (initial response or `+`
//!   continuations, `*` cancels), `-ERR [AUTH] Authentication failed.`,
//!   `+OK Logged in.`, then STAT, LIST, UIDL, RETR, TOP, DELE, RSET, NOOP,
//!   CAPA and QUIT. Deletions take effect only at QUIT (`+OK Logging
//!   out.`); a client that goes away loses nothing, and a message
//!   delivered during a session is not touched by it. Messages a client
//!   retrieved are marked seen, as Dovecot does.
//!
//!   Passwords are checked by the auth service over `private/auth` (the
//!   Dovecot auth protocol, service `pop3`). The mailbox is found with
//!   mail_location (`%u`, `%n`, `%d`, `%h`, `~`); when it is empty, as
//!   Dovecot autodetects, `~/Maildir` if it is a directory, otherwise
//!   `mbox:~/mail:INBOX=/var/mail/%u`. UIDLs are Dovecot's, so a client
//!   moving between Dovecot and mailsuite does not download mail twice.
//!   With pop3_lock_session = yes (mailsuite's default; Dovecot's is
//!   no) a second session on the same mailbox gets `-ERR [IN-USE]
//!   Mailbox is locked by another POP3 session.`
//!
//!   Three failed logins or twenty bad commands close the connection; so
//!   does pop3_client_idle_timeout without a command (`-ERR Disconnected
//!   for inactivity.`). Command lines longer than RFC 2449's 255 octets
//!   get `-ERR Input line too long.` and are never buffered whole.
//!   Plaintext logins are refused (`-ERR [AUTH] Plaintext authentication
//!   disallowed on non-secure (SSL/TLS) connections.`) with
//!   disable_plaintext_auth = yes unless the client connects from the
//!   local host. STLS and pop3s are not offered yet.
//!
//! SECURITY
//!   pop3d runs with the unpriv column `n`: it must become each user.
//!   No process parses network input as root. For every client the root
//!   worker forks a pre-login process that drops to mail_owner for good
//!   (setgid, initgroups, setuid) before it reads a byte from the client;
//!   it runs the whole dialogue up to the login and passes only a user
//!   name and password to its parent, as one length-prefixed frame over
//!   a socketpair (user at most 255 bytes, UTF-8 without control
//!   characters; password at most 1024 bytes). The root parent never
//!   reads the client socket before the login: it checks the frame, asks
//!   the auth service, and answers OK or FAIL. After OK the pre-login
//!   process hands over the bytes a pipelining client already sent and
//!   exits; the parent looks the user up in the passwd database (refusing
//!   uids outside first_valid_uid..last_valid_uid and root), drops to the
//!   user's uid, gid and groups irreversibly, and only then parses the
//!   client's commands. That process serves one session and exits; the
//!   master starts a new worker.
//!
//!   Started without root privileges (a single-user instance, as
//!   scripts/quickstart runs), pop3d changes no ids and serves only the
//!   account it runs as.
//!
//! CONFIGURATION PARAMETERS
//!   mail_location, pop3_lock_session, pop3_client_idle_timeout,
//!   login_greeting, disable_plaintext_auth, auth_mechanisms,
//!   first_valid_uid, last_valid_uid, mail_owner, queue_directory.
//!
//! FILES
//!   $queue_directory/private/auth, the auth service.
//!   ~/Maildir/mailsuite-pop3.lock, the session lock of a Maildir.
//!   ~/mail/.imap/INBOX/mailsuite-mbox.index, the UIDs of an mbox INBOX.

mod conn;
mod frame;
mod login;
mod session;

use conn::Conn;
use frame::{Answer, Attempt};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult, Pid};
use params::table as p;
use params::Config;
use server::{Client, Context, Service, SingleService};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;
use util::privs::{self, Account};

/// What pop3d reads from the configuration, per client.
pub struct Settings {
    pub greeting: String,
    pub mail_location: String,
    pub lock_session: bool,
    pub idle: Duration,
    pub disable_plaintext: bool,
    /// auth_mechanisms, upper-cased.
    pub mechanisms: Vec<String>,
    pub first_uid: i64,
    pub last_uid: i64,
    pub mail_owner: String,
    pub auth_socket: PathBuf,
}

impl Settings {
    fn from_config(c: &Config, queue_dir: PathBuf) -> Settings {
        Settings {
            greeting: c.str(&p::LOGIN_GREETING).to_string(),
            mail_location: c.str(&p::MAIL_LOCATION).to_string(),
            lock_session: c.bool(&p::POP3_LOCK_SESSION),
            idle: c.time(&p::POP3_CLIENT_IDLE_TIMEOUT),
            disable_plaintext: c.bool(&p::DISABLE_PLAINTEXT_AUTH),
            mechanisms: c
                .list(&p::AUTH_MECHANISMS)
                .iter()
                .map(|m| m.to_ascii_uppercase())
                .collect(),
            first_uid: c.int(&p::FIRST_VALID_UID),
            last_uid: c.int(&p::LAST_VALID_UID),
            mail_owner: c.str(&p::MAIL_OWNER).to_string(),
            auth_socket: queue_dir.join("private/auth"),
        }
    }
}

#[derive(Default)]
struct Pop3d;

impl Service for Pop3d {}

fn addrs(c: &Client) -> (Option<SocketAddr>, Option<SocketAddr>) {
    match c {
        Client::Tcp(s) => (s.peer_addr().ok(), s.local_addr().ok()),
        Client::Unix(_) => (None, None),
    }
}

/// Dovecot's "secured" for plaintext logins: from the local host.
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

impl SingleService for Pop3d {
    fn serve(&mut self, ctx: &Context, client: Client) {
        let s = Settings::from_config(&ctx.config, ctx.queue_dir());
        if let Err(e) = client.set_timeout(Some(s.idle)) {
            maillog::warning!("set client timeout: {e}");
            return;
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
        let (mut chan, child_end) = match UnixStream::pair() {
            Ok(x) => x,
            Err(e) => {
                maillog::warning!("socketpair: {e}");
                return;
            }
        };
        let plaintext_ok = !s.disable_plaintext || local_client(peer, local);
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
                login::run(Conn::new(client, Vec::new()), child_end, &s, plaintext_ok);
            }
            Ok(ForkResult::Parent { child }) => child,
        };
        drop(child_end);
        let result = broker(&mut chan, &s, peer, local);
        // Let the pre-login process finish its last reply and exit (it
        // closes the channel), for a few seconds at most.
        wait_eof(&mut chan);
        drop(chan);
        // Whatever happened, the pre-login process has nothing more to do:
        // it may not linger with the client socket.
        let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
        reap(child);
        let Some((acct, user, pending)) = result else {
            return;
        };
        // From here on this process is the user and serves nobody else.
        seal_inherited(ctx);
        if root {
            if let Err(e) = privs::drop_privileges(&acct, None) {
                maillog::error!("cannot become user {}: {e}", acct.name);
                std::process::exit(1);
            }
        }
        session::run(Conn::new(client, pending), &s, &user, &acct);
        std::process::exit(0);
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

fn reap(child: Pid) {
    loop {
        match waitpid(child, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            _ => return,
        }
    }
}

/// The root side of the login: frames from the pre-login process, each
/// checked with the auth service. The account, login name and pending
/// client bytes on success.
fn broker(
    chan: &mut UnixStream,
    s: &Settings,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
) -> Option<(Account, String, Vec<u8>)> {
    let _ = chan.set_read_timeout(Some(s.idle * 4 + Duration::from_secs(60)));
    // The pre-login process stops after three failures; its parent does
    // not rely on that.
    for _ in 0..login::MAX_AUTH_ATTEMPTS {
        let attempt = match frame::read_attempt(chan) {
            Ok(Some(a)) => a,
            Ok(None) => return None,
            Err(e) => {
                maillog::warning!("pre-login process: bad frame: {e}");
                return None;
            }
        };
        let (answer, ok) = check(&attempt, s, peer, local);
        let failed = ok.is_none();
        if frame::write_answer(chan, answer).is_err() {
            return None;
        }
        if failed {
            continue;
        }
        let pending = match frame::read_pending(chan) {
            Ok(p) => p,
            Err(e) => {
                maillog::warning!("pre-login process: bad hand-over: {e}");
                return None;
            }
        };
        return ok.map(|(acct, user)| (acct, user, pending));
    }
    None
}

/// Asks the auth service about one attempt and looks the user up.
fn check(
    a: &Attempt,
    s: &Settings,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
) -> (Answer, Option<(Account, String)>) {
    let rip: Option<IpAddr> = peer.map(|a| a.ip());
    let req = auth::client::Request {
        service: "pop3".into(),
        rip,
        lip: local.map(|a| a.ip()),
        rport: peer.map(|a| a.port()),
        lport: local.map(|a| a.port()),
        secured: false,
    };
    let info = format!(
        "user=<{}>, method={}, rip={}, lip={}",
        a.user,
        a.method.as_str(),
        show(peer),
        show(local)
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
        Ok(auth::client::Outcome::Ok { user }) => match account(&user, s) {
            Ok(acct) => {
                maillog::info!("Login: {info}");
                (Answer::Ok, Some((acct, user)))
            }
            Err(why) => {
                maillog::warning!("Login refused: {info}: {why}");
                (Answer::Temp, None)
            }
        },
        Ok(auth::client::Outcome::Fail { temp: true, .. }) => {
            maillog::info!("Aborted login (auth temporarily failed): {info}");
            (Answer::Temp, None)
        }
        Ok(_) => {
            maillog::info!("Aborted login (auth failed): {info}");
            (Answer::Fail, None)
        }
        Err(e) => {
            maillog::error!("auth service: {e}");
            (Answer::Temp, None)
        }
    }
}

/// The system account of a logged-in user, if it may log in.
fn account(user: &str, s: &Settings) -> Result<Account, String> {
    let acct = match privs::lookup_user(user) {
        Ok(Some(a)) => a,
        Ok(None) => return Err("no such system user".into()),
        Err(e) => return Err(format!("user lookup: {e}")),
    };
    if !privs::is_root() {
        // Not started as root (a single-user instance): only the account
        // this process runs as can be served.
        let me = privs::current_account();
        if acct.uid != me.uid {
            return Err(format!(
                "pop3d runs as {} without root privileges and can serve only that user",
                me.name
            ));
        }
        return Ok(acct);
    }
    let uid = i64::from(acct.uid);
    if acct.uid == 0 || uid < s.first_uid || (s.last_uid != 0 && uid > s.last_uid) {
        return Err(format!(
            "uid {} is outside first_valid_uid..last_valid_uid",
            acct.uid
        ));
    }
    Ok(acct)
}

fn main() {
    server::single_server("pop3d", Pop3d)
}
