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
//!   disallowed on non-secure (SSL/TLS) connections.`, and neither USER
//!   nor SASL is in CAPA) with disable_plaintext_auth = yes (or ssl =
//!   required) unless the connection is TLS or comes from the local host
//!   or login_trusted_networks.
//!
//!   TLS: with ssl = yes or required and ssl_cert/ssl_key set (a path or
//!   Dovecot's `<path`), STLS (RFC 2595) is offered before login (`+OK
//!   Begin TLS negotiation now.`; what the client pipelined after STLS is
//!   discarded), and a service with `-o pop3d_tls_wrappermode=yes` (the
//!   pop3s line of master.cf, port 995) speaks TLS from the first byte.
//!   ssl_min_protocol, ssl_cipher_list (TLS 1.2's suites, OpenSSL's
//!   syntax) and ssl_curve_list choose what is spoken.
//!
//!   Users are the system's accounts, or users of the auth service's
//!   passwd-file with the uid, gid and home of their line (else
//!   mail_uid, mail_gid, mail_home). pop3_no_flag_updates = yes keeps
//!   RETR from marking messages seen.
//!
//! SECURITY
//!   pop3d runs with the unpriv column `n`: it must become each user.
//!   No process parses network input as root; the login crate does the
//!   split. For every client the root worker forks a pre-login process
//!   that drops to mail_owner for good (setgid, initgroups, setuid)
//!   before it reads a byte from the client; it runs the TLS handshake
//!   and the whole dialogue up to the login and passes only a user name
//!   and password to its parent, as one length-prefixed frame over a
//!   socketpair (user at most 255 bytes, UTF-8 without control
//!   characters; password at most 1024 bytes). The root parent never
//!   reads the client before the login: it checks the frame, asks the
//!   auth service, and answers OK or FAIL. After OK it resolves the
//!   account (refusing root and ids outside first_valid_uid..
//!   last_valid_uid, first_valid_gid..last_valid_gid), drops to the
//!   user's uid, gid and groups irreversibly (a passwd-file user gets
//!   only its own gid), and only then parses the client's commands. On
//!   a plain connection the pre-login process hands over the bytes a
//!   pipelining client already sent and exits; on TLS it stays, still
//!   unprivileged, as the relay between the TLS session and the user's
//!   process, which never holds the key or the client socket. A session
//!   process serves one client and exits; the master starts a new
//!   worker.
//!
//!   Started without root privileges (a single-user instance, as
//!   scripts/quickstart runs), pop3d changes no ids and serves only the
//!   account it runs as.
//!
//! CONFIGURATION PARAMETERS
//!   mail_location, pop3_lock_session, pop3_no_flag_updates,
//!   pop3_client_idle_timeout, login_greeting, disable_plaintext_auth,
//!   login_trusted_networks, auth_mechanisms, ssl, ssl_cert, ssl_key,
//!   ssl_min_protocol, ssl_cipher_list, ssl_curve_list, pop3d_tls_wrappermode, first_valid_uid, last_valid_uid,
//!   first_valid_gid, last_valid_gid, mail_uid, mail_gid, mail_home,
//!   mail_owner, queue_directory.
//!
//! FILES
//!   $queue_directory/private/auth, the auth service.
//!   ~/Maildir/mailsuite-pop3.lock, the session lock of a Maildir.
//!   ~/mail/.imap/INBOX/mailsuite-mbox.index, the UIDs of an mbox INBOX.

mod conn;
mod prelogin;
mod session;

use conn::Conn;
use login::{Gate, Stream, User};
use params::table as p;
use params::Config;
use server::{Client, Context, Service, SingleService};
use std::time::Duration;

/// What pop3d reads from the configuration, per client.
pub struct Settings {
    pub greeting: String,
    pub mail_location: String,
    pub lock_session: bool,
    pub no_flag_updates: bool,
    pub idle: Duration,
}

impl Settings {
    fn from_config(c: &Config) -> Settings {
        Settings {
            greeting: c.str(&p::LOGIN_GREETING).to_string(),
            mail_location: c.str(&p::MAIL_LOCATION).to_string(),
            lock_session: c.bool(&p::POP3_LOCK_SESSION),
            no_flag_updates: c.bool(&p::POP3_NO_FLAG_UPDATES),
            idle: c.time(&p::POP3_CLIENT_IDLE_TIMEOUT),
        }
    }
}

#[derive(Default)]
struct Pop3d;

impl Service for Pop3d {}

/// POP3 through the login phase.
struct Pop3 {
    s: Settings,
}

impl login::Protocol for Pop3 {
    const SERVICE: &'static str = "pop3";

    fn pre_login(&self, stream: Stream, gate: Gate) {
        prelogin::run(stream, gate, &self.s);
    }

    fn session(&self, stream: Stream, _tag: &str, pending: Vec<u8>, user: &User) {
        session::run(
            Conn::new(stream, pending),
            &self.s,
            &user.name,
            &user.account,
        );
    }
}

impl SingleService for Pop3d {
    fn serve(&mut self, ctx: &Context, client: Client) {
        let s = Settings::from_config(&ctx.config);
        let l = login::Settings::from_config(
            &ctx.config,
            ctx.queue_dir(),
            &p::POP3D_TLS_WRAPPERMODE,
            s.idle,
        );
        login::serve(ctx, client, &l, &Pop3 { s });
    }
}

fn main() {
    server::single_server("pop3d", Pop3d)
}
