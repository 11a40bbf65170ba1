//! NAME
//!   imapd - mailsuite's IMAP server
//!
//! SYNOPSIS
//!   imapd [generic server options] (started by the master)
//!
//! DESCRIPTION
//!   imapd serves IMAP4rev1 (RFC 3501), and IMAP4rev2 (RFC 9051: no
//!   \Recent, ESEARCH answers, UTF-8 mailbox names) once a client
//!   enables it, with the extensions mail clients
//!   rely on: LITERAL+, SASL-IR, ID, ENABLE, IDLE (new mail is reported
//!   within a second of its delivery), NAMESPACE, UIDPLUS (APPENDUID,
//!   COPYUID, UID EXPUNGE), MOVE, UNSELECT, CHILDREN, LIST-EXTENDED,
//!   LIST-STATUS, SPECIAL-USE (Sent, Drafts, Trash and Junk are created
//!   at first login), ESEARCH (SEARCH RETURN), CONDSTORE and QRESYNC
//!   (RFC 7162) and QUOTA (RFC 9208). Replies use Dovecot's
//!   texts (`* OK [CAPABILITY ...] Dovecot ready.`, `Logged in`, `Select
//!   completed.`), so scripts and clients that know Dovecot see no
//!   difference.
//!
//!   Mailboxes are the user's Maildir++ folders from mail_location
//!   (`maildir:~/Maildir`; INBOX is the Maildir, folder `a.b` is
//!   `~/Maildir/.a.b`, hierarchy separator `.`), with Dovecot's
//!   dovecot-uidlist and dovecot-keywords, so UIDs, UIDVALIDITY, flags
//!   and keywords are the same from every session, from pop3d and from a
//!   Dovecot serving the same Maildir. Messages are parsed by the mime
//!   crate for ENVELOPE, BODYSTRUCTURE and BODY[section]<partial>.
//!   Changes by other sessions and deliveries are reported after each
//!   command (EXISTS, EXPUNGE, FETCH FLAGS), never an EXPUNGE during
//!   FETCH, STORE or SEARCH.
//!
//!   mbox (`mbox:~/mail:INBOX=/var/mail/%u`), as Dovecot's mbox layout:
//!   INBOX is the spool file, folders are files under ~/mail (separator
//!   '/', directories are \Noselect levels), subscriptions in
//!   ~/mail/.subscriptions, index and mod-sequences in ~/mail/.imap/NAME.
//!   Flags are the Status:/X-Status:/X-Keywords: headers mail readers
//!   use, written (with X-UID:) at the end of each STORE command under
//!   the delivery locks: in place when they fit in the header block
//!   (X-Keywords: carries Dovecot's space padding), else by rewriting
//!   the file; those headers are hidden from FETCH, as Dovecot does.
//!   RENAME INBOX moves the spool's messages into the new folder and
//!   leaves the spool empty.
//!
//!   CONDSTORE/QRESYNC: every message has a mod-sequence and every
//!   mailbox a HIGHESTMODSEQ, kept in mailsuite-modseq beside
//!   dovecot-uidlist and shared by all sessions and pop3d: a STORE, a
//!   \Seen set by FETCH or pop3d, a flag changed by any program renaming
//!   the file, a new message and an expunge each take the next one.
//!   SELECT/EXAMINE report [HIGHESTMODSEQ n]; FETCH MODSEQ, FETCH
//!   (CHANGEDSINCE n [VANISHED]), STORE (UNCHANGEDSINCE n) with
//!   [MODIFIED set], SEARCH MODSEQ with (MODSEQ n), STATUS HIGHESTMODSEQ,
//!   ENABLE CONDSTORE/QRESYNC, SELECT (QRESYNC (...)) with VANISHED
//!   (EARLIER) and the changed flags. Once CONDSTORE is enabled, FETCH
//!   replies with FLAGS carry MODSEQ; once QRESYNC is, expunges are sent
//!   as VANISHED. The last 10,000 expunged UIDs are remembered; a QRESYNC
//!   from before those reports every known UID the mailbox lacks.
//!
//!   QUOTA: one quota root "" for all of a user's mailboxes, with the
//!   STORAGE limit mailbox_size_limit (in KiB on the wire);
//!   GETQUOTAROOT and GETQUOTA report it, and an APPEND or COPY that
//!   would go past it fails with NO [OVERQUOTA]. Only a
//!   mailbox_size_limit set in main.cf (or with -o) is a quota; left at
//!   its default, or 0, there is no quota root, as with Dovecot without
//!   a quota plugin (the default bounds one mbox file or one Maildir
//!   message in Postfix, not a whole mailbox).
//!
//!   Logins, TLS (STARTTLS; `-o imapd_tls_wrappermode=yes` for imaps on
//!   993), disable_plaintext_auth (LOGINDISABLED), login_trusted_networks
//!   and the users (system accounts or passwd-file users) are the login
//!   crate's, shared with pop3d.
//!
//! SECURITY
//!   imapd runs with the unpriv column `n`: it must become each user. No
//!   process parses network input as root: the pre-login process runs as
//!   mail_owner and passes only a user name and password to its root
//!   parent, which asks the auth service and then drops to the user's
//!   uid, gid and groups for good before it reads a client command; the
//!   login command's tag follows (checked), and the user's process
//!   answers the login once it is ready. On
//!   TLS the pre-login process stays as the relay, so the user's process
//!   never holds the key or the client socket. Message contents are
//!   parsed only in the user's process.
//!
//! CONFIGURATION PARAMETERS
//!   mail_location, imap_max_line_length, imap_client_idle_timeout,
//!   imap_idle_notify_interval,
//!   message_size_limit (the largest APPEND), mailbox_size_limit (the
//!   QUOTA limit), login_greeting,
//!   disable_plaintext_auth, login_trusted_networks, auth_mechanisms,
//!   ssl, ssl_cert, ssl_key, ssl_min_protocol, ssl_cipher_list, ssl_curve_list, imapd_tls_wrappermode,
//!   first_valid_uid, last_valid_uid, first_valid_gid, last_valid_gid,
//!   mail_uid, mail_gid, mail_home, mail_owner, queue_directory.
//!
//! FILES
//!   $queue_directory/private/auth, the auth service.
//!   ~/Maildir/dovecot-uidlist, dovecot-keywords, subscriptions,
//!   mailsuite-modseq (mod-sequences), mailsuite-maildir.index.

mod conn;
mod fetch;
mod list;
mod prelogin;
mod search;
mod session;

use imap_proto::ParserConfig;
use login::{Gate, Stream, User};
use params::table as p;
use params::Config;
use server::{Client, Context, Service, SingleService};
use std::time::Duration;

/// What imapd reads from the configuration, per client.
pub struct Settings {
    pub greeting: String,
    pub mail_location: String,
    pub idle: Duration,
    pub idle_notify: Duration,
    pub max_line: usize,
    pub max_append: u64,
    /// mailbox_size_limit: the QUOTA limit on all of a user's
    /// mailboxes together, in bytes; 0 for none.
    pub quota_limit: u64,
}

impl Settings {
    fn from_config(c: &Config) -> Settings {
        Settings {
            greeting: c.str(&p::LOGIN_GREETING).to_string(),
            mail_location: c.str(&p::MAIL_LOCATION).to_string(),
            idle: c.time(&p::IMAP_CLIENT_IDLE_TIMEOUT),
            idle_notify: c.time(&p::IMAP_IDLE_NOTIFY_INTERVAL),
            max_line: usize::try_from(c.size(&p::IMAP_MAX_LINE_LENGTH)).unwrap_or(65536),
            max_append: match c.size(&p::MESSAGE_SIZE_LIMIT) {
                0 => imap_proto::DEFAULT_MAX_APPEND_LITERAL,
                n => n,
            },
            // Only a limit set in main.cf is a quota: Postfix's default
            // bounds one mbox file or one Maildir message, and a mailbox
            // moved from Dovecot (no quota unless configured) must not
            // find APPENDs refused.
            quota_limit: if c.is_set(p::MAILBOX_SIZE_LIMIT.name) {
                c.size(&p::MAILBOX_SIZE_LIMIT)
            } else {
                0
            },
        }
    }

    pub fn parser_config(&self) -> ParserConfig {
        ParserConfig {
            max_line_length: self.max_line,
            max_append_literal: self.max_append,
            ..ParserConfig::default()
        }
    }
}

/// The server's ID (RFC 2971), as Dovecot answers without settings.
pub fn server_id() -> imap_proto::IdParams {
    Some(vec![("name".into(), Some("mailsuite".into()))])
}

#[derive(Default)]
struct Imapd;

impl Service for Imapd {}

/// IMAP through the login phase.
struct Imap {
    s: Settings,
}

impl login::Protocol for Imap {
    const SERVICE: &'static str = "imap";

    fn pre_login(&self, stream: Stream, gate: Gate) {
        prelogin::run(stream, gate, &self.s);
    }

    fn session(&self, stream: Stream, tag: &str, pending: Vec<u8>, user: &User) {
        session::run(stream, tag, pending, &self.s, user);
    }
}

impl SingleService for Imapd {
    fn serve(&mut self, ctx: &Context, client: Client) {
        let s = Settings::from_config(&ctx.config);
        let l = login::Settings::from_config(
            &ctx.config,
            ctx.queue_dir(),
            &p::IMAPD_TLS_WRAPPERMODE,
            s.idle,
        );
        login::serve(ctx, client, &l, &Imap { s });
    }
}

fn main() {
    server::single_server("imapd", Imapd)
}
