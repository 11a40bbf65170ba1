//! One SMTP session: the command loop, the transaction state machine,
//! DATA and BDAT intake into cleanup, STARTTLS, limits, and Postfix's log
//! lines.

use crate::cleanup::CleanupStream;
use crate::conn::{Conn, ReadError};
use crate::limits::{Check, Limits};
use crate::milters::{Milters, Said};
use crate::proxy::{Proxy, ProxyFilter, Spool};
use crate::restrictions::{Actions, Policy, Request, Resolver, Stage, Verdict, WHATSUP};
use crate::settings::{BareNewline, Settings, TlsLevel};
use crate::transcript::{class, Transcript};
use ipc::cleanup as ic;
use smtp_proto::{
    BdatReader, Body, Capabilities, Command, CommandError, CommandParser, DataConfig, DataDecoder,
    DataStatus, MailFrom, ParserConfig, RcptTo, Reply, Verb,
};
use std::path::PathBuf;
use std::time::Duration;

/// The commands Postfix counts in its `disconnect` line, in its order.
const STAT_NAMES: [&str; 16] = [
    "helo", "ehlo", "xclient", "xforward", "starttls", "auth", "mail", "rcpt", "data", "bdat",
    "rset", "noop", "vrfy", "etrn", "quit", "unknown",
];

/// Per-command attempt and success counts.
#[derive(Debug, Default)]
struct Stats {
    ok: [u32; 16],
    total: [u32; 16],
}

impl Stats {
    fn index(name: &str) -> usize {
        STAT_NAMES
            .iter()
            .position(|n| *n == name)
            .unwrap_or(STAT_NAMES.len() - 1)
    }

    fn count(&mut self, name: &str, ok: bool) {
        let i = Stats::index(name);
        self.total[i] += 1;
        if ok {
            self.ok[i] += 1;
        }
    }

    /// ` ehlo=1 mail=1 rcpt=1/2 … commands=5/6`.
    fn text(&self) -> String {
        let pair = |ok: u32, total: u32| {
            if ok == total {
                format!("{ok}")
            } else {
                format!("{ok}/{total}")
            }
        };
        let mut s = String::new();
        for (i, name) in STAT_NAMES.iter().enumerate() {
            if self.total[i] > 0 {
                s.push_str(&format!(" {name}={}", pair(self.ok[i], self.total[i])));
            }
        }
        let ok: u32 = self.ok.iter().sum();
        let total: u32 = self.total.iter().sum();
        s.push_str(&format!(" commands={}", pair(ok, total)));
        s
    }
}

/// The stats name of a command line's verb.
fn stat_name(line: &[u8]) -> &'static str {
    let start = line
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(line.len());
    let rest = &line[start..];
    let end = rest
        .iter()
        .position(|b| b" \t\r\n".contains(b))
        .unwrap_or(rest.len());
    let word = &rest[..end];
    STAT_NAMES
        .iter()
        .find(|n| **n != "unknown" && n.as_bytes().eq_ignore_ascii_case(word))
        .copied()
        .unwrap_or("unknown")
}

/// How a BDAT transaction stands.
#[derive(Debug, Default)]
struct Bdat {
    /// Message bytes received so far.
    size: u64,
    /// An earlier chunk failed: discard the rest until LAST.
    failed: bool,
    /// The message so far ends in the middle of a line (its end is
    /// added, and counted, as Postfix counts it).
    open_line: bool,
}

/// One mail transaction (MAIL to end of DATA/BDAT or RSET).
struct Transaction {
    mail: MailFrom,
    recipients: Vec<ic::Recipient>,
    cleanup: Option<CleanupStream>,
    /// The before-queue content filter (smtpd_proxy_filter) that takes the
    /// message instead of cleanup, once the first recipient passed.
    proxy: Option<Proxy>,
    /// The same, kept until the message is whole (`speed_adjust`).
    spool: Option<Spool>,
    /// MAIL FROM's time: seconds and microseconds since the epoch.
    arrival: (u64, u32),
    bdat: Option<Bdat>,
    /// What access table actions asked of the message: PREPEND headers
    /// (written before it), HOLD, DISCARD, FILTER, REDIRECT, BCC.
    actions: Actions,
    /// RCPT commands refused for `smtpd_recipient_limit` so far; beyond
    /// `smtpd_recipient_overshoot_limit` each counts as an error.
    overshoot: usize,
}

impl Transaction {
    /// Passes message bytes on, to the filter or to cleanup. A failure is
    /// logged; its reply for the client comes back.
    fn content(&mut self, bytes: &[u8]) -> Result<(), Reply> {
        if let Some(p) = self.proxy.as_mut() {
            return p.content(bytes);
        }
        if let Some(spool) = self.spool.as_mut() {
            return spool.content(bytes);
        }
        let Some(c) = self.cleanup.as_mut() else {
            return Err(queue_file_write_error());
        };
        c.content(bytes).map_err(|e| {
            maillog::warning!("{}: {e}", c.queue_id());
            queue_file_write_error()
        })
    }
}

/// What to do after a command.
enum Flow {
    Go,
    /// End the session (the reply is already queued).
    Close,
}

pub struct Session<'a> {
    s: &'a Settings,
    policy: &'a Policy,
    tls: Option<&'a tls::ServerTls>,
    dns: &'a dyn Resolver,
    queue_dir: PathBuf,
    conn: Conn,
    parser: CommandParser,
    req: Request,
    /// `name[addr]` for the log.
    namaddr: String,
    ehlo: bool,
    tls_desc: Option<String>,
    tx: Option<Transaction>,
    errors: u32,
    /// The class of the error whose reply comes next (a refusal already
    /// logged as policy), for the transcript.
    error_class: Option<u8>,
    /// `smtpd_delay_reject = no` and the client was refused at connect.
    access_denied: bool,
    /// smtpd_milters, told of the session as it happens.
    milters: Milters,
    /// A 421 reply was given: the session ends after this command.
    hangup: bool,
    junk: u32,
    stats: Stats,
    /// The last command, for "lost connection after X" (Postfix's `where`).
    last: String,
    /// The EHLO keywords not offered to this client.
    discard: crate::settings::Discard,
    /// Bytes of the message read when the connection broke mid-DATA/BDAT.
    data_bytes: Option<u64>,
    /// The auth service (SMTP AUTH), connected at the first EHLO or AUTH.
    sasl_client: Option<auth::client::Client>,
    /// (method, username) after a successful AUTH.
    sasl: Option<(String, String)>,
    /// What XFORWARD told for the next transaction.
    xforward: crate::xforward::Forwarded,
    /// The server's end of the connection, for the auth service (`lip=`).
    local_ip: Option<std::net::IpAddr>,
    local_port: Option<u16>,
    remote_port: Option<u16>,
    /// Access table actions from the connect and HELO checks, for the
    /// next transaction.
    early_actions: Actions,
    /// smtpd_forbid_bare_newline for this client (No when excluded).
    bare_newline: BareNewline,
    limits: &'a Limits,
    /// This client's anvil identifier, when it is counted.
    anvil_ident: Option<String>,
}

/// How an AUTH exchange with the client ended on our side.
enum AuthAbort {
    None,
    /// The client sent `*`.
    Client,
    TooLong,
    Read(ReadError),
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn notify_bits(n: Option<smtp_proto::Notify>) -> u8 {
    n.map_or(0, |n| {
        ic::notify::bits(n.is_never(), n.success, n.failure, n.delay)
    })
}

/// What every session of an smtpd process shares.
pub struct Shared<'a> {
    pub settings: &'a Settings,
    pub policy: &'a Policy,
    pub tls: Option<&'a tls::ServerTls>,
    pub dns: &'a dyn Resolver,
    pub limits: &'a Limits,
    pub queue_dir: PathBuf,
}

/// What follows from who the client is: set at connect, and again when
/// XCLIENT names another.
struct PerClient {
    req: Request,
    /// `name[addr]` (`:port` with smtpd_client_port_logging).
    namaddr: String,
    footer: Option<crate::footer::Footer>,
    bare_newline: BareNewline,
    discard: crate::settings::Discard,
}

impl PerClient {
    fn new(
        s: &Settings,
        name: String,
        ip: Option<std::net::IpAddr>,
        addr_text: String,
        port: Option<u16>,
    ) -> PerClient {
        let mut namaddr = format!("{name}[{addr_text}]");
        if let Some(p) = port.filter(|_| s.client_port_logging) {
            namaddr.push_str(&format!(":{p}"));
        }
        let footer = s
            .reject_footer
            .clone()
            .map(|f| crate::footer::Footer::new(f, &addr_text, &name, port, &s.myhostname));
        let bare_newline =
            if s.bare_newline != BareNewline::No && s.bare_newline_exclusions.matches(&name, ip) {
                BareNewline::No
            } else {
                s.bare_newline
            };
        let discard = s.discard_for(&addr_text);
        PerClient {
            req: Request {
                client_name: name,
                client_addr: ip,
                client_addr_text: addr_text,
                ..Request::default()
            },
            namaddr,
            footer,
            bare_newline,
            discard,
        }
    }
}

impl<'a> Session<'a> {
    /// A session with `client`; `proxied`: what a PROXY header said of it.
    pub fn new(
        shared: Shared<'a>,
        client: server::Client,
        proxied: Option<haproxy::Proxied>,
    ) -> Session<'a> {
        let Shared {
            settings: s,
            policy,
            tls,
            dns,
            limits,
            queue_dir,
        } = shared;
        // The socket's addresses, or the real client's that a proxy in
        // front (smtpd_upstream_proxy_protocol) named.
        let (peer, local) = match &client {
            server::Client::Tcp(t) => (t.peer_addr().ok(), t.local_addr().ok()),
            server::Client::Unix(_) => (None, None),
        };
        let (peer, local) = match proxied {
            Some(haproxy::Proxied {
                source: Some(source),
                dest,
            }) => (Some(source), dest.or(local)),
            _ => (peer, local),
        };
        let ip = peer.map(|a| a.ip());
        let (names, addr_text) = match ip {
            Some(ip) => {
                let ip = ip.to_canonical();
                let names = if s.peername_lookup {
                    crate::dns::client_names(ip)
                } else {
                    crate::dns::ClientNames::unlooked("unknown")
                };
                (names, ip.to_string())
            }
            None => (
                crate::dns::ClientNames::unlooked("localhost"),
                "127.0.0.1".to_string(),
            ),
        };
        if let Err(e) = client.set_timeout(Some(s.timeout)) {
            maillog::warning!("set timeout: {e}");
        }
        let (local_ip, local_port, remote_port) = (
            local.map(|a| a.ip().to_canonical()),
            local.map(|a| a.port()),
            peer.map(|a| a.port()),
        );
        let mut conn = Conn::new(client);
        if s.per_request_deadline {
            conn.per_request_deadline(s.timeout, s.min_data_rate);
        }
        if s.notify_mask != 0 {
            conn.transcript = Some(Transcript::new(s.history_limit));
        }
        let client = PerClient::new(
            s,
            names.name.clone(),
            ip.map(|ip| ip.to_canonical()),
            addr_text,
            remote_port,
        );
        conn.footer = client.footer;
        let (namaddr, bare_newline, discard) =
            (client.namaddr, client.bare_newline, client.discard);
        let mut req = client.req;
        req.client_name_temporary = names.name_temporary;
        req.reverse_client_name = names.reverse;
        req.reverse_name_temporary = names.reverse_temporary;
        conn.debug_peer = debug_peer(policy, &req, &namaddr);
        Session {
            s,
            policy,
            tls,
            dns,
            queue_dir,
            conn,
            parser: CommandParser::new(Self::parser_config(s)),
            req,
            namaddr,
            ehlo: false,
            tls_desc: None,
            tx: None,
            errors: 0,
            error_class: None,
            access_denied: false,
            milters: Milters::default(),
            hangup: false,
            junk: 0,
            stats: Stats::default(),
            last: "CONNECT".into(),
            discard,
            data_bytes: None,
            sasl_client: None,
            sasl: None,
            xforward: Default::default(),
            local_ip,
            local_port,
            remote_port,
            early_actions: Actions::default(),
            bare_newline,
            limits,
            anvil_ident: None,
        }
    }

    fn parser_config(s: &Settings) -> ParserConfig {
        ParserConfig {
            line_limit: s.line_length_limit,
            strict: s.strict_rfc821,
            utf8: s.smtputf8,
        }
    }

    fn tls_offered(&self) -> bool {
        self.tls.is_some() && self.s.tls_level != TlsLevel::None
    }

    fn protocol(&self) -> &'static str {
        match (self.ehlo, self.conn.is_tls(), self.sasl.is_some()) {
            (true, true, true) => "ESMTPSA",
            (true, false, true) => "ESMTPA",
            (true, true, false) => "ESMTPS",
            (true, false, false) => "ESMTP",
            (false, true, _) => "SMTPS",
            (false, false, _) => "SMTP",
        }
    }

    /// Runs the session to its end.
    pub fn run(mut self) {
        maillog::info!("connect from {}", self.namaddr);
        self.anvil_ident = self.limits.ident(
            &self.req.client_name,
            self.req.client_addr,
            &self.req.client_addr_text,
        );
        if let Some(ident) = self.anvil_ident.clone() {
            let check = self.limits.connect(
                &ident,
                &self.namaddr,
                &self.req.client_addr_text,
                &self.s.myhostname,
            );
            if let Check::Over(warning, reply) = check {
                maillog::warning!("{warning}");
                self.conn.reply(&reply);
                self.end();
                return;
            }
        }
        if self.s.wrappermode && !self.wrap_tls() {
            self.end();
            return;
        }
        if !self.policy.delay_reject && !self.client_permitted() {
            // Postfix: the refusal instead of the greeting, then 503 to
            // everything but QUIT.
            self.access_denied = true;
        } else {
            if let Some(reply) = self.milters_connect() {
                self.conn.reply(&reply);
                self.end();
                return;
            }
            self.conn.reply(&Reply::greeting(&self.s.banner));
        }
        loop {
            // (a 421 instead of the greeting)
            if self.hangup {
                break;
            }
            if self.errors >= self.s.hard_error_limit {
                maillog::info!("too many errors after {} from {}", self.last, self.namaddr);
                self.conn.reply(&Reply::too_many_errors(&self.s.myhostname));
                break;
            }
            // The client spoke again: cleanup's answer to an Open of the
            // last command is read (and `ID: client=` logged) before
            // anything of this command, as Postfix logs them.
            if !self.conn.pending().is_empty() {
                self.settle_cleanup();
            }
            let (result, consumed) = {
                let pending = self.conn.pending();
                let mut it = pending.iter();
                let r = self.parser.parse(&mut it);
                (r, pending.len() - it.as_slice().len())
            };
            let result = match result {
                Err(CommandError::NeedsMoreData | CommandError::LineTooLong) => result,
                parsed => self.filter_command(parsed),
            };
            let noop = !matches!(
                result,
                Err(CommandError::NeedsMoreData | CommandError::LineTooLong)
            ) && self.is_noop_command();
            // The whole line, not what came in the last read: a command may
            // arrive in pieces.
            let name = match &result {
                Err(CommandError::NeedsMoreData) => "",
                _ => stat_name(self.parser.last_line()),
            };
            if !matches!(result, Err(CommandError::NeedsMoreData)) {
                self.conn.record_input(self.parser.last_line());
                if self.bare_newline == BareNewline::Reject && self.parser.bare_lf() {
                    self.bare_lf_refused(name);
                    break;
                }
            }
            self.conn.consume(consumed);
            match result {
                Err(CommandError::NeedsMoreData) => match self.conn.fill() {
                    Ok(_) => continue,
                    Err(e) => {
                        self.settle_cleanup();
                        self.read_failed(e);
                        break;
                    }
                },
                // smtpd_noop_commands: 250 without a look at the rest of
                // the line, counted as junk, not in the command counts.
                _ if noop => {
                    self.conn.next_request(false);
                    self.junk_command();
                    self.reply(&Reply::new(250, None, "Ok"));
                }
                Ok(cmd) => {
                    self.conn.next_request(false);
                    if let Flow::Close = self.command(cmd, name) {
                        break;
                    }
                }
                Err(e) => {
                    self.last = name.to_ascii_uppercase();
                    self.stats.count(name, false);
                    self.error_reply(&e.reply());
                    if e.is_fatal() {
                        break;
                    }
                }
            }
        }
        self.end();
    }

    /// The command word of the line just read is one of
    /// `smtpd_noop_commands`.
    fn is_noop_command(&self) -> bool {
        if self.s.noop_commands.is_empty() {
            return false;
        }
        let line = self.parser.last_line();
        let word = line
            .split(|b| b.is_ascii_whitespace())
            .find(|w| !w.is_empty())
            .unwrap_or_default();
        self.s
            .noop_commands
            .iter()
            .any(|c| c.as_bytes().eq_ignore_ascii_case(word))
    }

    /// smtpd_command_filter: the whole command line just read, without
    /// its line end, looked up; a result replaces it (as Postfix logs it)
    /// and is parsed instead.
    fn filter_command(
        &mut self,
        parsed: Result<Command, CommandError>,
    ) -> Result<Command, CommandError> {
        let Some(filter) = &self.s.command_filter else {
            return parsed;
        };
        let Ok(text) = std::str::from_utf8(self.parser.last_line()) else {
            return parsed;
        };
        let text = text.trim_start();
        match filter.replacement(text) {
            Some(new) if new != text => {
                maillog::info!(
                    "{}: replacing command \"{}\" with \"{}\"",
                    self.namaddr,
                    printable_line(text.as_bytes()),
                    printable_line(new.as_bytes())
                );
                self.parser.reparse(new.as_bytes())
            }
            _ => parsed,
        }
    }

    /// The session's end: the connection closed, anvil told, the log line.
    fn end(&mut self) {
        self.settle_cleanup();
        self.reset_transaction();
        self.milters.quit();
        self.conn.close();
        if let Some(ident) = self.anvil_ident.take() {
            self.limits.disconnect(&ident);
        }
        maillog::info!("disconnect from {}{}", self.namaddr, self.stats.text());
        self.notify_postmaster();
    }

    /// Mails the session's transcript to `error_notice_recipient` when it
    /// had an error of a class `notify_classes` names.
    fn notify_postmaster(&mut self) {
        let Some(t) = self.conn.transcript.take() else {
            return;
        };
        let s = self.s;
        let Some(text) = t.notice(
            s.notify_mask,
            &s.mail_name,
            &s.myhostname,
            &self.namaddr,
            &s.error_notice_recipient,
        ) else {
            return;
        };
        let envelope = ic::Envelope {
            sender: s.double_bounce_sender.clone(),
            arrival: now(),
            recipients: vec![ic::Recipient {
                address: s.error_notice_recipient.clone(),
                orcpt: None,
                notify: ic::notify::NEVER,
            }],
            ..ic::Envelope::default()
        };
        let socket = ic::socket_path(&self.queue_dir, &s.cleanup_service);
        if let Err(e) = ic::Client::submit(&socket, s.timeout, envelope, text.as_bytes()) {
            maillog::warning!("cannot send the session transcript to the postmaster: {e}");
        }
    }

    fn read_failed(&mut self, e: ReadError) {
        let after = match self.data_bytes.take() {
            Some(n) => format!("{} ({n} bytes)", self.last),
            None => self.last.clone(),
        };
        match e {
            ReadError::Eof => {
                maillog::info!("lost connection after {after} from {}", self.namaddr)
            }
            ReadError::Timeout => {
                maillog::info!("timeout after {after} from {}", self.namaddr);
                self.conn.reply(&Reply::timeout(&self.s.myhostname));
            }
            ReadError::Io(err) => {
                maillog::info!("lost connection after {after} from {}: {err}", self.namaddr)
            }
        }
    }

    /// Queues a reply, sleeping first once the client made too many errors.
    fn reply(&mut self, r: &Reply) {
        if self.errors >= self.s.soft_error_limit && !self.s.error_sleep.is_zero() {
            let _ = self.conn.flush();
            std::thread::sleep(self.s.error_sleep);
        }
        self.conn.reply(r);
        // An orderly disconnect after 421 or 521, whoever chose the reply
        // (an access table, a policy service, a milter), as in Postfix's
        // smtpd_chat_reply.
        self.hangup |= matches!(r.code, 421 | 521);
    }

    /// An error reply: counts toward the error limits, and marks the
    /// session's transcript with the error's class: the one set by the
    /// refusal just logged, else resource for the queue's troubles,
    /// policy for 5.7.x (cleanup's content rejections), else protocol.
    fn error_reply(&mut self, r: &Reply) {
        let class = self.error_class.take().unwrap_or_else(|| {
            let text = r.lines.first().map(String::as_str).unwrap_or("");
            match r.enhanced {
                Some((_, 3, 1)) => class::RESOURCE,
                Some((4, 3, 0)) if text.contains("queue file write error") => class::RESOURCE,
                Some((_, 7, _)) => class::POLICY,
                _ => class::PROTOCOL,
            }
        });
        if let Some(t) = &mut self.conn.transcript {
            t.error(class);
        }
        self.reply(r);
        self.errors += 1;
    }

    /// Counts junk commands (HELO, EHLO, NOOP, VRFY, ETRN, RSET, and
    /// smtpd_noop_commands): as Postfix counts them, each after the first
    /// `smtpd_junk_command_limit + 1` is an error.
    fn junk_command(&mut self) {
        if self.junk > self.s.junk_command_limit {
            self.errors += 1;
        }
        self.junk += 1;
    }

    /// Logs a policy rejection as Postfix does.
    fn log_reject(&mut self, whatsup: &str, command: &str, text: &str, rcpt: Option<&str>) {
        if whatsup == "reject" {
            // A restriction that could not be evaluated is the software's
            // fault, not the client's (Postfix's reject_server_error).
            let class = if text.contains("4.3.5 Server configuration error") {
                class::SOFTWARE
            } else {
                class::POLICY
            };
            if let Some(t) = &mut self.conn.transcript {
                t.error(class);
            }
            self.error_class = Some(class);
        }
        let id = self
            .tx
            .as_ref()
            .and_then(|t| t.cleanup.as_ref())
            .map(|c| c.queue_id())
            .filter(|id| !id.is_empty())
            .unwrap_or("NOQUEUE");
        maillog::info!(
            "{id}: {whatsup}: {command} from {}: {text};{}",
            self.namaddr,
            self.log_envelope(rcpt)
        );
    }

    /// The transaction's recipient when it has just one: the `to=`
    /// Postfix logs in a DATA or END-OF-MESSAGE reject line.
    fn only_recipient(&self) -> Option<String> {
        match self.tx.as_ref().map(|t| t.recipients.as_slice()) {
            Some([only]) => Some(only.address.clone()),
            _ => None,
        }
    }

    /// The transaction's first recipient: the `to=` of Postfix's
    /// proxy-accept and proxy-reject lines.
    fn first_recipient(&self) -> Option<String> {
        self.tx
            .as_ref()
            .and_then(|t| t.recipients.first())
            .map(|r| r.address.clone())
    }

    /// ` from=<…> to=<…> proto=… helo=<…>`, the end of a reject line.
    fn log_envelope(&self, rcpt: Option<&str>) -> String {
        let mut line = String::new();
        if let Some(tx) = &self.tx {
            let from = tx
                .mail
                .sender
                .as_ref()
                .map(|m| m.to_string())
                .unwrap_or_default();
            line.push_str(&format!(" from=<{from}>"));
        }
        if let Some(r) = rcpt {
            line.push_str(&format!(" to=<{r}>"));
        }
        line.push_str(&format!(" proto={}", self.protocol()));
        if let Some(h) = &self.req.helo {
            line.push_str(&format!(" helo=<{h}>"));
        }
        line
    }

    /// A restriction check's log lines: warnings, and Postfix's
    /// `ID: WHATSUP: COMMAND from client: text; from=<…> …` lines.
    fn log_policy_lines(&mut self, lines: &[String], command: &str, rcpt: Option<&str>) {
        for l in lines {
            if let Some(w) = l.strip_prefix("warning: ") {
                maillog::warning!("{w}");
            } else if let Some((whatsup, t)) =
                l.split_once(": ").filter(|(w, _)| WHATSUP.contains(w))
            {
                self.log_reject(whatsup, command, t, rcpt);
            } else {
                maillog::info!("{l}");
            }
        }
    }

    /// A restriction check's outcome: its log lines, and its refusal
    /// (logged `reject: COMMAND from …`) if any; else what its access
    /// table actions asked of the message.
    fn judged(
        &mut self,
        outcome: crate::restrictions::Outcome,
        command: &str,
        rcpt: Option<&str>,
    ) -> Result<Actions, Reply> {
        self.log_policy_lines(&outcome.log, command, rcpt);
        match outcome.verdict {
            Verdict::Reject(reply) => {
                // What an access table asked before the refusal stands, as
                // in Postfix: a HOLD, REDIRECT, FILTER, BCC or PREPEND a
                // refused recipient triggered applies to the message the
                // other recipients get.
                match self.tx.as_mut() {
                    Some(tx) => tx.actions.merge(outcome.actions),
                    None => self.early_actions.merge(outcome.actions),
                }
                self.log_reject("reject", command, &reply.to_string(), rcpt);
                Err(reply)
            }
            Verdict::Accept => Ok(outcome.actions),
        }
    }

    /// Marks illegal pipelining: more input waits after a command that
    /// must end a group, or the client never saw PIPELINING.
    fn check_pipelining(&mut self, verb: Verb) -> Flow {
        if self.req.illegal_pipelining || self.conn.pending().is_empty() {
            return Flow::Go;
        }
        let must_be_last = matches!(
            verb,
            Verb::Helo | Verb::Ehlo | Verb::Data | Verb::Noop | Verb::Vrfy | Verb::StartTls
        );
        if self.ehlo && !must_be_last {
            return Flow::Go;
        }
        if verb == Verb::Bdat || verb == Verb::Quit {
            return Flow::Go;
        }
        let pending = self.conn.pending();
        let peek: String = String::from_utf8_lossy(&pending[..pending.len().min(100)])
            .chars()
            .map(|c| match c {
                '\r' => "\\r".to_string(),
                '\n' => "\\n".to_string(),
                c if c.is_control() => "?".to_string(),
                c => c.to_string(),
            })
            .collect();
        maillog::info!(
            "improper command pipelining after {} from {}: {}",
            verb,
            self.namaddr,
            peek
        );
        self.req.illegal_pipelining = true;
        if self.s.forbid_unauth_pipelining {
            self.conn.reply(&Reply::protocol_synchronization());
            return Flow::Close;
        }
        Flow::Go
    }

    fn command(&mut self, cmd: Command, name: &'static str) -> Flow {
        if self.access_denied && !matches!(cmd, Command::Quit) {
            let text = format!("Error: access denied for {}", self.namaddr);
            self.error_reply(&Reply::new(503, Some((5, 7, 0)), &text));
            self.stats.count(name, false);
            return Flow::Go;
        }
        if let Some(v) = cmd.verb() {
            self.last = v.as_str().to_string();
            if let Flow::Close = self.check_pipelining(v) {
                self.stats.count(name, false);
                return Flow::Close;
            }
        } else {
            self.last = "UNKNOWN".into();
        }
        let (ok, flow) = match cmd {
            Command::Helo(h) => self.helo(h, false),
            Command::Ehlo(h) => self.helo(h, true),
            Command::Mail(m) => (self.mail(m), Flow::Go),
            Command::Rcpt(r) => (self.rcpt(r), Flow::Go),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
            Command::Rset => {
                self.junk_command();
                self.reset_transaction();
                self.reply(&Reply::ok());
                (true, Flow::Go)
            }
            Command::Noop => {
                self.junk_command();
                self.reply(&Reply::ok());
                (true, Flow::Go)
            }
            Command::Quit => {
                self.conn.reply(&Reply::bye());
                (true, Flow::Close)
            }
            Command::Vrfy(arg) => {
                self.junk_command();
                (self.vrfy(&arg), Flow::Go)
            }
            Command::Etrn(site) => {
                self.junk_command();
                (self.etrn(&site), Flow::Go)
            }
            Command::Xforward(attrs) => (self.xforward_cmd(&attrs), Flow::Go),
            Command::Xclient(attrs) => (self.xclient_cmd(&attrs), Flow::Go),
            Command::StartTls => self.starttls(),
            Command::Auth { mechanism, initial } => self.auth(&mechanism, initial.as_deref()),
            Command::Expn(_) | Command::Help(_) => {
                self.error_reply(&Reply::not_recognized());
                (false, Flow::Go)
            }
            Command::Unknown(word) => {
                if self.s.forbidden_commands.forbids(&word) {
                    maillog::warning!(
                        "non-SMTP command from {}: {}",
                        self.namaddr,
                        printable_line(self.parser.last_line())
                    );
                    self.conn.reply(&Reply::new(
                        221,
                        Some((2, 7, 0)),
                        "Error: I can break rules, too. Goodbye.",
                    ));
                    (false, Flow::Close)
                } else {
                    self.error_reply(&Reply::not_recognized());
                    (false, Flow::Go)
                }
            }
        };
        self.stats.count(name, ok);
        // A 421 or 521 reply ends the session, as in Postfix.
        if self.hangup {
            return Flow::Close;
        }
        flow
    }

    /// The EHLO keywords for this client, less those discarded for it.
    fn capabilities(&self) -> Capabilities {
        let auth = if self.sasl_exception() {
            Vec::new()
        } else {
            self.auth_mechanisms()
        };
        let mut other = Vec::new();
        if !auth.is_empty() && self.s.sasl.as_ref().is_some_and(|c| c.broken_clients) {
            other.push(format!("AUTH={}", auth.join(" ")));
        }
        if self.authorized(self.policy.xclient_hosts.as_ref()) {
            other.push(crate::xclient::OFFER.to_string());
        }
        if self.authorized(self.policy.xforward_hosts.as_ref()) {
            other.push(crate::xforward::OFFER.to_string());
        }
        if self.authorized(self.policy.verp_clients.as_ref()) {
            other.push("XVERP".to_string());
        }
        let mut caps = Capabilities {
            pipelining: true,
            size: Some(self.s.message_size_limit),
            vrfy: self.s.vrfy_enabled,
            etrn: true,
            starttls: self.tls_offered() && !self.conn.is_tls(),
            auth,
            enhanced_status_codes: true,
            eightbitmime: true,
            dsn: true,
            smtputf8: self.s.smtputf8,
            chunking: true,
            binarymime: false,
            other,
        };
        caps.discard(&self.discard.words);
        caps
    }

    /// `smtpd_delay_reject = no`: the client restrictions at connect. On a
    /// refusal its reply is sent (and logged) here.
    fn client_permitted(&mut self) -> bool {
        self.policy_facts("CONNECT");
        let outcome = self.policy.check_early(&self.req, self.dns, Stage::Client);
        match self.judged(outcome, "CONNECT", None) {
            Ok(actions) => {
                self.early_actions.merge(actions);
                true
            }
            Err(reply) => {
                self.errors += 1;
                self.reply(&reply);
                false
            }
        }
    }

    fn helo(&mut self, name: String, ehlo: bool) -> (bool, Flow) {
        self.junk_command();
        self.reset_transaction();
        if !self.policy.delay_reject {
            let before = self.req.helo.replace(name.clone());
            self.policy_facts(if ehlo { "EHLO" } else { "HELO" });
            let outcome = self.policy.check_early(&self.req, self.dns, Stage::Helo);
            let command = if ehlo { "EHLO" } else { "HELO" };
            match self.judged(outcome, command, None) {
                Ok(actions) => self.early_actions.merge(actions),
                Err(reply) => {
                    self.req.helo = before;
                    self.error_reply(&reply);
                    return (false, Flow::Go);
                }
            }
        }
        if self.milters.active() {
            // Logged with the new name, as Postfix does.
            let before = self.req.helo.replace(name.clone());
            let mut msg = self.milter_message();
            let said = self.milters.helo(&mut msg, &name);
            let command = if ehlo { "EHLO" } else { "HELO" };
            let refused = self.milter_said(said, command, None);
            self.req.helo = before;
            // Only a 421 comes back here: it ends the session.
            if let Some(reply) = refused {
                self.conn.reply(&reply);
                return (false, Flow::Close);
            }
        }
        self.req.helo = Some(name);
        self.ehlo = ehlo;
        if ehlo && self.sasl_active() {
            self.sasl_connect();
        }
        let r = if ehlo {
            if let Some(words) = Capabilities::discard_log(&self.discard.words) {
                maillog::info!("discarding EHLO keywords: {words}");
            }
            self.capabilities().ehlo_reply(&self.s.myhostname)
        } else {
            Reply::helo(&self.s.myhostname)
        };
        self.reply(&r);
        (true, Flow::Go)
    }

    /// smtpd_milters: each milter connected and told of the client. The
    /// reply that ends the session at once (a 421), if any.
    fn milters_connect(&mut self) -> Option<Reply> {
        if self.s.milters.is_empty() {
            return None;
        }
        let mut msg = self.milter_message();
        let (milters, said) = Milters::connect(&self.s.milters, &mut msg);
        self.milters = milters;
        self.milter_said(said, "CONNECT", None)
    }

    /// Whether the milters are told of this command: not once an access
    /// table's DISCARD decided the message's fate (Postfix's
    /// MILTER_SKIP_FLAGS).
    fn milters_listen(&self) -> bool {
        self.milters.active() && !self.tx.as_ref().is_some_and(|t| t.actions.discard)
    }

    /// What the milters know of the session now, for their macros.
    fn milter_message(&self) -> milter::Message {
        let tx = self.tx.as_ref();
        milter::Message {
            myhostname: self.s.myhostname.clone(),
            daemon_name: self.s.milter_daemon_name.clone(),
            queue_id: tx
                .and_then(|t| t.cleanup.as_ref())
                .map(|c| c.queue_id().to_string())
                .unwrap_or_default(),
            client: self.req.client_addr.map(|ip| {
                (
                    self.req.client_name.clone(),
                    ip,
                    self.remote_port.unwrap_or(0),
                )
            }),
            helo: self.req.helo.clone(),
            auth: self.sasl.clone(),
            sender: tx
                .and_then(|t| t.mail.sender.as_ref())
                .map(|m| m.internal())
                .unwrap_or_default(),
            ..Default::default()
        }
    }

    /// What the milters said of `command`, logged as Postfix's
    /// check_milter_reply logs it: a refusal's reply comes back; DISCARD
    /// and HOLD go with the transaction (the next one, before MAIL).
    fn milter_said(
        &mut self,
        said: Option<Said>,
        command: &str,
        rcpt: Option<&str>,
    ) -> Option<Reply> {
        let said = said?;
        let actions = match self.tx.as_mut() {
            Some(tx) => &mut tx.actions,
            None => &mut self.early_actions,
        };
        match said {
            Said::Refuse(text) => {
                self.log_reject("milter-reject", command, &text, rcpt);
                Some(parse_reply_text(&text).unwrap_or_else(|| {
                    Reply::new(
                        451,
                        Some((4, 7, 1)),
                        "Service unavailable - try again later",
                    )
                }))
            }
            Said::Discard => {
                actions.discard = true;
                self.log_reject(
                    "milter-discard",
                    command,
                    "milter triggers DISCARD action",
                    rcpt,
                );
                None
            }
            Said::Hold => {
                actions.hold = true;
                self.log_reject("milter-hold", command, "milter triggers HOLD action", rcpt);
                None
            }
        }
    }

    fn mail(&mut self, m: MailFrom) -> bool {
        if self.s.helo_required && self.req.helo.is_none() {
            self.error_reply(&Reply::send_helo_first());
            return false;
        }
        if self.s.tls_level == TlsLevel::Encrypt && !self.conn.is_tls() {
            self.error_reply(&Reply::starttls_first());
            return false;
        }
        if let Some(tx) = &self.tx {
            let r = if tx.bdat.is_some() {
                Reply::after_bdat(Verb::Mail)
            } else {
                Reply::nested_mail()
            };
            self.error_reply(&r);
            return false;
        }
        if m.smtputf8 && !self.s.smtputf8 {
            self.error_reply(&Reply::unsupported_option("SMTPUTF8"));
            return false;
        }
        if m.body == Some(Body::BinaryMime) {
            self.error_reply(&Reply::unsupported_option("BODY=BINARYMIME"));
            return false;
        }
        let mut m = m;
        if let Some(asked) = m.verp.take() {
            match self.verp_delimiters(&asked, m.sender.is_none()) {
                Ok(d) => m.verp = Some(d),
                Err(reply) => {
                    self.error_reply(&reply);
                    return false;
                }
            }
        }
        // strict_smtputf8 (Postfix's default is no: UTF-8 addresses are
        // taken without SMTPUTF8, as before SMTPUTF8 existed).
        if self.s.strict_smtputf8 && !m.smtputf8 && m.sender.as_ref().is_some_and(|s| !s.is_ascii())
        {
            self.error_reply(&Reply::must_declare_smtputf8());
            return false;
        }
        if let Some(size) = m.size {
            if self.s.message_size_limit > 0 && size > self.s.message_size_limit {
                self.error_reply(&Reply::size_exceeds_limit());
                return false;
            }
        }
        if !self.queue_has_room(m.size.unwrap_or(0)) {
            maillog::info!(
                "NOQUEUE: reject: MAIL from {}: 452 4.3.1 Insufficient system storage; proto={}",
                self.namaddr,
                self.protocol()
            );
            self.error_reply(&Reply::insufficient_storage());
            return false;
        }
        if let Some(reply) =
            self.over_limit(|l, ident, namaddr, addr| l.message(ident, namaddr, addr))
        {
            self.error_reply(&reply);
            return false;
        }
        let sender = m.sender.clone();
        self.req.held = false;
        self.req.recipient_count = 0;
        self.tx = Some(Transaction {
            mail: m,
            recipients: Vec::new(),
            cleanup: None,
            proxy: None,
            spool: None,
            arrival: util::time::now_sec_usec(),
            bdat: None,
            actions: std::mem::take(&mut self.early_actions),
            overshoot: 0,
        });
        if !self.policy.delay_reject {
            self.req.sender = Some(sender);
            self.policy_facts("MAIL");
            let outcome = self.policy.check_early(&self.req, self.dns, Stage::Sender);
            match self.judged(outcome, "MAIL", None) {
                Ok(actions) => {
                    if let Some(tx) = self.tx.as_mut() {
                        tx.actions.merge(actions);
                    }
                }
                Err(reply) => {
                    self.reset_transaction();
                    self.error_reply(&reply);
                    return false;
                }
            }
        }
        if self.milters_listen() {
            let mut msg = self.milter_message();
            let said = self.milters.mail(&mut msg);
            if let Some(reply) = self.milter_said(said, "MAIL", None) {
                self.reset_transaction();
                self.error_reply(&reply);
                return false;
            }
        }
        let early_open = !self.s.delay_open && self.s.proxy_filter.is_none();
        if early_open && !self.open_cleanup() {
            self.reset_transaction();
            return false;
        }
        self.reply(&Reply::mail_ok());
        true
    }

    /// XVERP (Postfix's mail_cmd): only from smtpd_authorized_verp_clients
    /// (to others it is an unknown option), with two delimiters from
    /// verp_delimiter_filter (`XVERP` alone: default_verp_delimiters), and
    /// never for the null sender.
    fn verp_delimiters(&self, asked: &str, null_sender: bool) -> Result<String, Reply> {
        if !self.authorized(self.policy.verp_clients.as_ref()) {
            let option = if asked.is_empty() {
                "XVERP".to_string()
            } else {
                format!("XVERP={asked}")
            };
            return Err(Reply::unsupported_option(&option));
        }
        let delims = if asked.is_empty() {
            self.s.verp_delimiters.as_str()
        } else {
            asked
        };
        if addr::verp::check_delimiters(delims, &self.s.verp_filter).is_err() {
            return Err(Reply::new(
                501,
                Some((5, 5, 4)),
                format!(
                    "Error: XVERP needs two characters from {}",
                    self.s.verp_filter
                ),
            ));
        }
        if null_sender {
            return Err(Reply::new(
                503,
                Some((5, 5, 4)),
                "Error: XVERP requires non-null sender",
            ));
        }
        Ok(delims.to_string())
    }

    /// Postfix's smtpd_check_queue: the queue file system must have room for
    /// 1.5 times the larger of the message's SIZE and message_size_limit,
    /// plus queue_minfree.
    fn queue_has_room(&self, size: u64) -> bool {
        let Ok(st) = nix::sys::statvfs::statvfs(self.queue_dir.as_path()) else {
            return true;
        };
        let free = st.blocks_available().saturating_mul(st.fragment_size());
        let need = self
            .s
            .queue_minfree
            .saturating_add(size.max(self.s.message_size_limit).saturating_mul(3) / 2);
        free >= need
    }

    /// Opens the cleanup stream for the transaction (once); cleanup's
    /// answer is read by [`Session::settle_cleanup`] at the next command.
    /// On failure the 451 reply is queued.
    fn open_cleanup(&mut self) -> bool {
        let Some(tx) = &mut self.tx else {
            return false;
        };
        if tx.cleanup.is_some() {
            return true;
        }
        match CleanupStream::begin(
            &self.queue_dir,
            &self.s.cleanup_service,
            self.s.cleanup_flags,
            self.s.timeout,
        ) {
            Ok(c) => {
                tx.cleanup = Some(c);
                true
            }
            Err(e) => {
                maillog::warning!("{e}");
                self.error_reply(&queue_file_write_error());
                false
            }
        }
    }

    /// Reads the queue ID of a cleanup stream opened by the last command
    /// and logs `QUEUEID: client=…`. A stream that failed is dropped: the
    /// transaction's DATA or BDAT then gets 451 (another RCPT opens anew).
    fn settle_cleanup(&mut self) {
        let Some(tx) = &mut self.tx else {
            return;
        };
        let Some(c) = tx.cleanup.as_mut() else {
            return;
        };
        if !c.queue_id().is_empty() {
            return;
        }
        match c.settle(&self.queue_dir, &self.s.cleanup_service, self.s.timeout) {
            Ok(id) => maillog::info!(
                "{}",
                client_line(
                    id,
                    &self.namaddr,
                    &self.sasl,
                    &self.xforward,
                    self.s.client_port_logging
                )
            ),
            Err(e) => {
                maillog::warning!("{e}");
                tx.cleanup = None;
            }
        }
    }

    /// With smtpd_proxy_filter: the filter must take the recipient too,
    /// connected (and given MAIL FROM) at the first one. Its refusal is
    /// the client's reply (queued here). A connection that broke stays
    /// broken for the transaction (recipients it took would otherwise be
    /// lost); only before any recipient was taken is a new one tried.
    fn proxy_rcpt(&mut self, filter: &ProxyFilter, r: &RcptTo) -> bool {
        if filter.speed_adjust {
            return self.spool_rcpt(r);
        }
        if let Some(tx) = self.tx.as_mut() {
            if tx.recipients.is_empty() && tx.proxy.as_ref().is_some_and(Proxy::is_broken) {
                tx.proxy = None;
            }
        }
        if self.tx.as_ref().is_some_and(|t| t.proxy.is_none()) {
            let (facts, mail) = self.for_filter(filter);
            let opened = Proxy::open(filter, &facts, &mail);
            if !self.took_filter(opened, |tx, p| tx.proxy = Some(p)) {
                return false;
            }
        }
        let Some(p) = self.tx.as_mut().and_then(|t| t.proxy.as_mut()) else {
            return false;
        };
        match p.command(&r.to_bytes(), b'2') {
            Ok(_) => true,
            Err(reply) => {
                self.error_reply(&reply);
                false
            }
        }
    }

    /// The filter's connection (or, with speed_adjust, the spool for it)
    /// for the transaction: kept by `keep`, with `NOQUEUE: client=…`
    /// logged; or its failure answered (false).
    fn took_filter<T>(
        &mut self,
        opened: Result<T, Reply>,
        keep: impl FnOnce(&mut Transaction, T),
    ) -> bool {
        let taken = match opened {
            Ok(taken) => taken,
            Err(reply) => {
                self.error_reply(&reply);
                return false;
            }
        };
        maillog::info!(
            "{}",
            client_line(
                "NOQUEUE",
                &self.namaddr,
                &self.sasl,
                &self.xforward,
                self.s.client_port_logging
            )
        );
        if let Some(tx) = self.tx.as_mut() {
            keep(tx, taken);
        }
        true
    }

    /// With speed_adjust: the recipient is kept for the filter, which is
    /// not asked until the message is whole.
    fn spool_rcpt(&mut self, r: &RcptTo) -> bool {
        if self.tx.as_ref().is_some_and(|t| t.spool.is_none()) {
            let opened = Spool::new(&self.queue_dir.join("incoming"));
            if !self.took_filter(opened, |tx, spool| tx.spool = Some(spool)) {
                return false;
            }
        }
        match self.tx.as_mut().and_then(|t| t.spool.as_mut()) {
            Some(spool) => {
                spool.rcpt(r.to_bytes());
                true
            }
            None => false,
        }
    }

    /// What the filter is told first: the client (XFORWARD) and the
    /// transaction's MAIL FROM command.
    fn for_filter(&self, filter: &ProxyFilter) -> (crate::proxy::Facts, Vec<u8>) {
        let mail = self
            .tx
            .as_ref()
            .map(|t| t.mail.to_bytes())
            .unwrap_or_default();
        (self.proxy_facts(filter), mail)
    }

    /// What the filter's XFORWARD is told: what this smtpd was told by
    /// XFORWARD itself, else the client's own facts.
    fn proxy_facts(&self, filter: &ProxyFilter) -> crate::proxy::Facts {
        let x = &self.xforward;
        let source = filter
            .local_clients
            .is_local(self.req.client_addr, self.sasl.is_some());
        [
            (
                "NAME",
                x.name.clone().or(Some(self.req.client_name.clone())),
            ),
            (
                "ADDR",
                x.addr.clone().or(Some(self.req.client_addr_text.clone())),
            ),
            (
                "PORT",
                x.port.clone().or(self.remote_port.map(|p| p.to_string())),
            ),
            ("HELO", x.helo.clone().or(self.req.helo.clone())),
            ("IDENT", x.ident.clone()),
            (
                "PROTO",
                x.proto.clone().or(Some(self.protocol().to_string())),
            ),
            (
                "SOURCE",
                x.source
                    .clone()
                    .or(Some(if source { "LOCAL" } else { "REMOTE" }.to_string())),
            ),
        ]
    }

    fn rcpt(&mut self, r: RcptTo) -> bool {
        let Some(tx) = &self.tx else {
            self.error_reply(&Reply::need_mail());
            return false;
        };
        if tx.bdat.is_some() {
            self.error_reply(&Reply::after_bdat(Verb::Rcpt));
            return false;
        }
        if tx.recipients.len() >= self.s.recipient_limit {
            let within = tx.overshoot < self.s.recipient_overshoot_limit;
            if let Some(tx) = self.tx.as_mut() {
                tx.overshoot += 1;
            }
            if within {
                self.reply(&Reply::too_many_recipients());
            } else {
                self.error_class = Some(class::POLICY);
                self.error_reply(&Reply::too_many_recipients());
            }
            return false;
        }
        if self.s.strict_smtputf8 && !tx.mail.smtputf8 && !r.rcpt.is_ascii() {
            self.error_reply(&Reply::must_declare_smtputf8());
            return false;
        }
        let sender = tx.mail.sender.clone();
        if let Some(reply) =
            self.over_limit(|l, ident, namaddr, addr| l.recipient(ident, namaddr, addr))
        {
            self.error_reply(&reply);
            return false;
        }
        self.req.sender = Some(sender);
        self.req.recipient = Some(r.rcpt.clone());
        self.req.recipient_count = tx.recipients.len();
        self.req.held = tx.actions.hold;
        self.policy_facts("RCPT");
        let outcome = self.policy.check_rcpt(&self.req, self.dns);
        let rcpt_text = r.rcpt.to_string();
        self.req.recipient = None;
        match self.judged(outcome, "RCPT", Some(&rcpt_text)) {
            Ok(actions) => {
                if let Some(tx) = self.tx.as_mut() {
                    tx.actions.merge(actions);
                }
            }
            Err(reply) => {
                self.error_reply(&reply);
                return false;
            }
        }
        if self.milters_listen() {
            let mut msg = self.milter_message();
            let said = self.milters.rcpt(&mut msg, &r.rcpt.internal());
            if let Some(reply) = self.milter_said(said, "RCPT", Some(&rcpt_text)) {
                self.error_reply(&reply);
                return false;
            }
        }
        let downstream = match &self.s.proxy_filter {
            Some(filter) => self.proxy_rcpt(filter, &r),
            None => self.open_cleanup(),
        };
        if !downstream {
            return false;
        }
        let Some(tx) = &mut self.tx else {
            return false;
        };
        tx.recipients.push(ic::Recipient {
            address: r.rcpt.internal(),
            // No ORCPT: the address as the client wrote it, as Postfix's
            // smtpd records it.
            orcpt: Some(match r.orcpt {
                Some(o) => format!("{};{}", o.addr_type, o.addr),
                None => format!("rfc822;{rcpt_text}"),
            }),
            notify: notify_bits(r.notify),
        });
        self.reply(&Reply::rcpt_ok());
        true
    }

    /// ETRN site (RFC 1985): the mail deferred for a site in
    /// fast_flush_domains is tried now, as `postqueue -s site` does
    /// (qmgr's `S` trigger), once smtpd_etrn_restrictions (and, with
    /// smtpd_delay_reject, the client and HELO lists) let it. A leading
    /// `@` or `#` is dropped, as Postfix does. Postfix's replies, which
    /// carry no enhanced status codes.
    fn etrn(&mut self, arg: &str) -> bool {
        let site = arg.strip_prefix(['@', '#']).unwrap_or(arg);
        let reply = if self.s.helo_required && self.req.helo.is_none() {
            Reply::new(503, None, "Error: send HELO/EHLO first")
        } else if self.tx.is_some() {
            Reply::new(503, None, "Error: MAIL transaction in progress")
        } else if site.contains([' ', '\t']) {
            Reply::new(500, None, "Syntax: ETRN domain")
        } else if !(addr::valid_hostname(site) || addr::valid_address_literal(site)) {
            Reply::new(501, None, "Error: invalid parameter syntax")
        } else if let Some(refused) = self.etrn_refused(site) {
            refused
        } else if !self
            .policy
            .fast_flush_domains
            .matches(&site.to_ascii_lowercase())
            .unwrap_or(false)
        {
            Reply::new(459, None, format!("<{site}>: service unavailable"))
        } else {
            let socket = self.queue_dir.join("public").join(&self.s.qmgr_service);
            match ipc::trigger::send(&socket, &ipc::trigger::flush_site_request(site)) {
                Ok(()) => {
                    self.reply(&Reply::new(250, None, "Queuing started"));
                    return true;
                }
                Err(e) => {
                    maillog::warning!("ETRN {site}: {}: {e}", socket.display());
                    Reply::new(458, None, "Unable to queue messages")
                }
            }
        };
        self.error_reply(&reply);
        false
    }

    /// smtpd_etrn_restrictions for `site`: the refusal, logged, if any.
    fn etrn_refused(&mut self, site: &str) -> Option<Reply> {
        self.req.etrn_site = Some(site.to_string());
        self.policy_facts("ETRN");
        let outcome = self.policy.check_etrn(&self.req, self.dns);
        self.req.etrn_site = None;
        self.judged(outcome, "ETRN", None).err()
    }

    fn vrfy(&mut self, arg: &str) -> bool {
        if !self.s.vrfy_enabled {
            self.error_reply(&Reply::vrfy_disabled());
            return false;
        }
        let text = arg
            .strip_suffix(" SMTPUTF8")
            .or_else(|| arg.strip_suffix(" smtputf8"))
            .unwrap_or(arg);
        let opts = addr::PathOptions {
            utf8: self.s.smtputf8,
            strict: false,
        };
        let mbox = match addr::parse_path(text, opts) {
            Ok(Some(m)) => m,
            _ => {
                self.error_reply(&Reply::bad_recipient());
                return false;
            }
        };
        self.req.sender = self.tx.as_ref().map(|t| t.mail.sender.clone());
        self.req.recipient = Some(mbox.clone());
        self.policy_facts("VRFY");
        let outcome = self.policy.check_rcpt(&self.req, self.dns);
        self.req.recipient = None;
        let shown = mbox.to_string();
        match self.judged(outcome, "VRFY", Some(&shown)) {
            Err(reply) => {
                self.error_reply(&reply);
                false
            }
            Ok(_) => {
                self.reply(&Reply::vrfy(&shown));
                true
            }
        }
    }

    /// The checks DATA and the first BDAT share: a transaction with
    /// recipients, data restrictions, an open cleanup stream, and the
    /// envelope sent.
    fn start_content(&mut self, command: &str) -> Result<(), Reply> {
        let Some(tx) = &self.tx else {
            return Err(Reply::need_rcpt());
        };
        if tx.recipients.is_empty() {
            return Err(Reply::no_valid_recipients());
        }
        if tx.cleanup.is_none() && tx.proxy.is_none() && tx.spool.is_none() {
            // The queue file failed after the recipients were taken
            // (settle_cleanup): no policy or milter hears of this DATA.
            self.reset_transaction();
            return Err(queue_file_write_error());
        }
        self.req.sender = Some(tx.mail.sender.clone());
        self.req.recipient_count = tx.recipients.len();
        self.req.held = tx.actions.hold;
        self.policy_facts(if command == "DATA" { "DATA" } else { "BDAT" });
        let only = self.only_recipient();
        // With one recipient, DATA's checks know it (Postfix's
        // smtpd_check_data); with several, none.
        self.req.recipient = only.as_deref().map(internal_mailbox);
        let outcome = self.policy.check_data(&self.req, self.dns);
        self.req.recipient = None;
        let actions = self.judged(outcome, command, only.as_deref())?;
        if self.milters_listen() {
            let mut msg = self.milter_message();
            let said = self.milters.data(&mut msg);
            if let Some(reply) = self.milter_said(said, command, only.as_deref()) {
                // As Postfix: the transaction ends (a milter that refused
                // DATA is not asked of it again).
                self.reset_transaction();
                return Err(reply);
            }
        }
        let filtered = self
            .tx
            .as_ref()
            .is_some_and(|t| t.proxy.is_some() || t.spool.is_some());
        if filtered {
            // This DATA's own headers: a DATA the filter refuses may come
            // again, and must not add them twice.
            let mut headers = self
                .tx
                .as_ref()
                .map(|t| t.actions.prepend.clone())
                .unwrap_or_default();
            headers.extend(actions.prepend);
            // No Received: header of ours when this smtpd is itself behind
            // a filter that told XFORWARD (as Postfix).
            if self.xforward == Default::default() {
                headers.push(format!("Received: {}", self.received_for_filter()));
            }
            if let Some(spool) = self.tx.as_mut().and_then(|t| t.spool.as_mut()) {
                let written = headers
                    .iter()
                    .try_for_each(|h| spool.content(format!("{h}\n").as_bytes()));
                // A spool that could not be written is of no more use.
                if written.is_err() {
                    self.reset_transaction();
                }
                return written;
            }
            let started = self
                .tx
                .as_mut()
                .and_then(|t| t.proxy.as_mut())
                .map(|p| p.start_data(&headers));
            return match started {
                Some(Ok(())) => Ok(()),
                // A refusal of DATA leaves the transaction as it was (the
                // client may try DATA again); a broken filter ends it.
                Some(Err(reply)) => {
                    let broken = self
                        .tx
                        .as_ref()
                        .and_then(|t| t.proxy.as_ref())
                        .is_some_and(Proxy::is_broken);
                    if broken {
                        self.reset_transaction();
                    }
                    Err(reply)
                }
                None => Err(queue_file_write_error()),
            };
        }
        if let Some(tx) = self.tx.as_mut() {
            tx.actions.merge(actions);
        }
        let env = self.envelope();
        let (milters, sockets) = if self.milters_listen() {
            self.milters.handoff()
        } else {
            Default::default()
        };
        let handed = !milters.is_empty();
        let Some(tx) = &mut self.tx else {
            return Err(Reply::need_rcpt());
        };
        let Some(c) = tx.cleanup.as_mut() else {
            return Err(queue_file_write_error());
        };
        let mut sent = Ok(());
        if handed {
            sent = c.milters(milters, &sockets);
            // Cleanup may take the milters' time over the message before
            // it answers.
            c.wait_longer(self.s.milters_time);
        }
        if sent.is_ok() {
            sent = c.envelope(env);
        }
        for h in &tx.actions.prepend {
            if sent.is_ok() {
                sent = c.content(format!("{h}\r\n").as_bytes());
            }
        }
        if let Err(e) = sent {
            maillog::warning!("{}: {e}", c.queue_id());
            tx.cleanup = None;
            return Err(queue_file_write_error());
        }
        Ok(())
    }

    /// A rate limit (anvil) for this client: over it, the warning is logged
    /// and the reply returned.
    fn over_limit(&self, check: impl FnOnce(&Limits, &str, &str, &str) -> Check) -> Option<Reply> {
        let ident = self.anvil_ident.as_deref()?;
        match check(
            self.limits,
            ident,
            &self.namaddr,
            &self.req.client_addr_text,
        ) {
            Check::Ok => None,
            Check::Over(warning, reply) => {
                maillog::warning!("{warning}");
                Some(reply)
            }
        }
    }

    /// smtpd_forbid_bare_newline = reject: the reply, and the session ends.
    fn bare_lf_refused(&mut self, after: &str) {
        maillog::info!(
            "disconnect: bare <LF> received from {} after {}",
            self.namaddr,
            after.to_ascii_uppercase()
        );
        self.stats.count(after, false);
        self.conn.reply(&Reply::bare_lf_received(
            self.s.bare_newline_code,
            &self.s.myhostname,
        ));
    }

    /// Brings what policy services are told up to date before a check
    /// made for SMTP command `state`.
    fn policy_facts(&mut self, state: &'static str) {
        if !self.policy.asks_policy_services {
            return;
        }
        let tx = self.tx.as_ref();
        let f = &mut self.req.facts;
        f.protocol = if self.ehlo { "ESMTP" } else { "SMTP" };
        f.state = state;
        f.queue_id = tx
            .and_then(|t| t.cleanup.as_ref())
            .map(|c| c.queue_id().to_string())
            .filter(|id| !id.is_empty());
        f.recipient_count = tx.map_or(0, |t| t.recipients.len());
        f.size = tx.and_then(|t| t.mail.size);
        f.instance = match tx {
            Some(t) => format!(
                "{:x}.{:x}.{:x}",
                std::process::id(),
                t.arrival.0,
                self.stats.total[Stats::index("mail")]
            ),
            None => String::new(),
        };
        f.sasl_method = self.sasl.as_ref().map(|(m, _)| m.clone());
        f.reverse_client_name = Some(self.req.reverse_client_name.clone());
        f.server = self.local_ip.zip(self.local_port);
        f.client_port = self.remote_port;
        // "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"
        f.encryption = self.tls_desc.as_ref().map(|d| {
            let protocol = d.split(' ').next().unwrap_or("").to_string();
            let cipher = d
                .split(" with cipher ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .unwrap_or("")
                .to_string();
            let bits = d
                .rsplit('(')
                .next()
                .and_then(|r| r.split('/').next())
                .unwrap_or("")
                .to_string();
            (protocol, cipher, bits)
        });
    }

    /// The Received: header smtpd writes in front of a message for the
    /// filter, as cleanup would (without a queue ID).
    fn received_for_filter(&self) -> String {
        let Some(tx) = &self.tx else {
            return String::new();
        };
        let date = util::time::rfc5322(tx.arrival.0 as i64);
        let single = match tx.recipients.as_slice() {
            [only] => Some(only.address.as_str()),
            _ => None,
        };
        let name = self.req.client_name.as_str();
        ic::ReceivedFrom {
            helo: self.req.helo.as_deref().unwrap_or(name),
            client_name: name,
            client_address: &self.req.client_addr_text,
            tls: self
                .tls_desc
                .as_deref()
                .filter(|_| self.s.tls_received_header),
            sasl_username: self
                .sasl
                .as_ref()
                .map(|(_, user)| user.as_str())
                .filter(|_| self.s.sasl_authenticated_header),
            myhostname: &self.s.myhostname,
            mail_name: &self.s.mail_name,
            protocol: self.protocol(),
            queue_id: None,
            single_recipient: single,
            date: &date,
        }
        .value()
    }

    fn envelope(&self) -> ic::Envelope {
        let Some(tx) = &self.tx else {
            return ic::Envelope::default();
        };
        let mut attributes = vec![
            ("client_name".to_string(), self.req.client_name.clone()),
            (
                "client_address".to_string(),
                self.req.client_addr_text.clone(),
            ),
            ("protocol_name".to_string(), self.protocol().to_string()),
        ];
        if let Some(port) = self.remote_port {
            attributes.push(("client_port".into(), port.to_string()));
        }
        if let Some(h) = &self.req.helo {
            attributes.push(("helo_name".into(), h.clone()));
        }
        attributes.extend(self.xforward.attributes());
        if tx.actions.filter.is_none() && !self.s.content_filter.is_empty() {
            attributes.push((ic::CONTENT_FILTER.into(), self.s.content_filter.clone()));
        }
        attributes.extend(action_attributes(&tx.actions));
        if let Some(d) = &tx.mail.verp {
            attributes.push((ic::VERP_DELIMITERS.into(), d.clone()));
        }
        if !self.s.milters.is_empty() {
            attributes.push((
                ic::MILTER_DAEMON_NAME.into(),
                self.s.milter_daemon_name.clone(),
            ));
        }
        if let Some(t) = self
            .tls_desc
            .as_ref()
            .filter(|_| self.s.tls_received_header)
        {
            attributes.push((ic::RECEIVED_TLS.into(), t.clone()));
        }
        if let Some((method, user)) = &self.sasl {
            attributes.push(("sasl_method".into(), method.clone()));
            attributes.push(("sasl_username".into(), user.clone()));
            if self.s.sasl_authenticated_header {
                attributes.push((ic::RECEIVED_SASL.into(), user.clone()));
            }
        }
        ic::Envelope {
            sender: tx
                .mail
                .sender
                .as_ref()
                .map(|m| m.internal())
                .unwrap_or_default(),
            arrival: tx.arrival.0,
            arrival_usec: tx.arrival.1,
            body: match tx.mail.body {
                None => ic::Body::Unspecified,
                Some(Body::SevenBit) => ic::Body::SevenBit,
                Some(Body::EightBitMime) => ic::Body::EightBitMime,
                Some(Body::BinaryMime) => ic::Body::BinaryMime,
            },
            smtputf8: tx.mail.smtputf8,
            ret: tx.mail.ret.map(|r| match r {
                smtp_proto::Ret::Full => ic::Ret::Full,
                smtp_proto::Ret::Hdrs => ic::Ret::Headers,
            }),
            envid: tx.mail.envid.clone(),
            attributes,
            recipients: tx.recipients.clone(),
        }
    }

    /// Ends a transaction: cleanup's verdict becomes the reply.
    /// The message is in: smtpd_end_of_data_restrictions (the message is
    /// `size` bytes), then cleanup's verdict.
    fn finish(&mut self, bytes: Option<u64>, size: u64) -> (Reply, bool) {
        let mut late = Actions::default();
        if !self.policy.end_of_data.is_empty() {
            self.req.sender = self.tx.as_ref().map(|t| t.mail.sender.clone());
            self.policy_facts("END-OF-MESSAGE");
            self.req.facts.size = Some(size);
            let only = self.only_recipient();
            self.req.recipient = only.as_deref().map(internal_mailbox);
            let outcome = self.policy.check_end_of_data(&self.req, self.dns);
            self.req.recipient = None;
            match self.judged(outcome, "END-OF-MESSAGE", only.as_deref()) {
                Err(reply) => {
                    // The cleanup stream goes unfinished: no queue file stays.
                    self.reset_transaction();
                    return (reply, false);
                }
                Ok(actions) => late = actions,
            }
        }
        if let Some(mut p) = self.tx.as_mut().and_then(|t| t.proxy.take()) {
            let reply = p.end_data();
            drop(p);
            return self.filtered(reply);
        }
        if let Some(spool) = self.tx.as_mut().and_then(|t| t.spool.take()) {
            let Some(filter) = &self.s.proxy_filter else {
                return (queue_file_write_error(), false);
            };
            let (facts, mail) = self.for_filter(filter);
            let reply = spool.replay(filter, &facts, &mail);
            return self.filtered(reply);
        }
        let Some(mut tx) = self.tx.take() else {
            return (queue_file_write_error(), false);
        };
        self.req.sender = None;
        self.req.held = false;
        self.req.recipient_count = 0;
        // What XFORWARD told was for this transaction only.
        self.xforward = Default::default();
        let Some(mut c) = tx.cleanup.take() else {
            return (queue_file_write_error(), false);
        };
        let id = c.queue_id().to_string();
        let late = action_attributes(&late);
        if !late.is_empty() {
            if let Err(e) = c.actions(late) {
                maillog::warning!("{id}: {e}");
                self.milters.poison();
                self.milters.abort();
                return (queue_file_write_error(), false);
            }
        }
        let finished = c.finish();
        // Cleanup is done with the milters it was handed; when it did not
        // say so, they cannot be trusted (it may still be using them).
        if finished.is_err() {
            self.milters.poison();
        }
        self.milters.abort();
        match finished {
            Ok(done) => match done.status {
                ic::Status::Queued | ic::Status::Discarded => {
                    self.errors = 0;
                    self.junk = 0;
                    let r = match bytes {
                        Some(n) => Reply::chunk_queued(n, &id),
                        None => Reply::queued(&id),
                    };
                    (r, true)
                }
                ic::Status::Rejected | ic::Status::TryAgain => {
                    let r = parse_reply_text(&done.text).unwrap_or_else(|| {
                        if done.status == ic::Status::Rejected {
                            Reply::new(550, Some((5, 7, 1)), "Error: message content rejected")
                        } else {
                            queue_file_write_error()
                        }
                    });
                    (r, false)
                }
            },
            Err(e) => {
                maillog::warning!("{id}: {e}");
                (queue_file_write_error(), false)
            }
        }
    }

    /// The end of a message for the filter: its reply is the client's,
    /// logged `proxy-accept: END-OF-MESSAGE: …` or `proxy-reject: …`.
    fn filtered(&mut self, reply: Reply) -> (Reply, bool) {
        let accepted = reply.is_positive();
        let first = self.first_recipient();
        maillog::info!(
            "proxy-{}: END-OF-MESSAGE: {};{}",
            if accepted { "accept" } else { "reject" },
            crate::proxy::logged(&reply),
            self.log_envelope(first.as_deref())
        );
        self.reset_transaction();
        if accepted {
            self.errors = 0;
            self.junk = 0;
        }
        (reply, accepted)
    }

    fn data(&mut self) -> (bool, Flow) {
        if self.tx.as_ref().is_some_and(|t| t.bdat.is_some()) {
            self.error_reply(&Reply::after_bdat(Verb::Data));
            return (false, Flow::Go);
        }
        if let Err(r) = self.start_content("DATA") {
            self.error_reply(&r);
            return (false, Flow::Go);
        }
        self.reply(&Reply::start_data());
        self.conn.next_request(true);
        let mut decoder = DataDecoder::new(DataConfig {
            convert_bare_lf: true,
            line_limit: self.s.line_length_limit,
            strict_end: self.bare_newline != BareNewline::No,
        });
        let limit = self.s.message_size_limit;
        // What one read decodes to (it grows when a read brings more).
        let mut spare = crate::conn::SpareBuffer::new();
        let out = &mut spare.0;
        out.reserve(16 * 1024);
        let mut received: u64 = 0;
        let mut too_big = false;
        let mut broken: Option<Reply> = None;
        loop {
            let (status, consumed) = {
                let pending = self.conn.pending();
                let mut it = pending.iter();
                let st = decoder.decode(&mut it, out);
                (st, pending.len() - it.as_slice().len())
            };
            self.conn.consume(consumed);
            received += consumed as u64;
            if limit > 0 && decoder.size() > limit {
                too_big = true;
            }
            if !too_big && broken.is_none() && !out.is_empty() {
                if let Some(tx) = self.tx.as_mut() {
                    broken = tx.content(out).err();
                }
            }
            out.clear();
            if status == DataStatus::Done {
                break;
            }
            if let Err(e) = self.conn.fill() {
                self.data_bytes = Some(received);
                self.reset_transaction();
                self.read_failed(e);
                return (false, Flow::Close);
            }
        }
        self.last = "END-OF-MESSAGE".into();
        if self.bare_newline == BareNewline::Reject && decoder.bare_lf_seen() {
            self.reset_transaction();
            self.bare_lf_refused("DATA");
            return (false, Flow::Close);
        }
        if too_big {
            self.reset_transaction();
            self.error_reply(&Reply::message_too_big());
            return (false, Flow::Go);
        }
        if let Some(reply) = broken {
            self.reset_transaction();
            self.error_reply(&reply);
            return (false, Flow::Go);
        }
        let (r, ok) = self.finish(None, decoder.size());
        if ok {
            self.reply(&r);
        } else {
            self.error_reply(&r);
        }
        (ok, Flow::Go)
    }

    /// Reads `size` chunk bytes, handing them to `sink`. False when the
    /// connection broke (logged).
    fn read_chunk(&mut self, size: u64, mut sink: impl FnMut(&mut Self, &[u8])) -> bool {
        self.conn.next_request(true);
        let mut reader = BdatReader::new(size);
        let mut out = Vec::new();
        let mut received = 0u64;
        loop {
            let (status, consumed) = {
                let pending = self.conn.pending();
                let mut it = pending.iter();
                let st = reader.read(&mut it, &mut out);
                (st, pending.len() - it.as_slice().len())
            };
            self.conn.consume(consumed);
            received += consumed as u64;
            if !out.is_empty() {
                sink(self, &out);
                out.clear();
            }
            if status == DataStatus::Done {
                return true;
            }
            if let Err(e) = self.conn.fill() {
                let before = self
                    .tx
                    .as_ref()
                    .and_then(|t| t.bdat.as_ref())
                    .map_or(0, |b| b.size);
                self.data_bytes = Some(before + received);
                self.reset_transaction();
                self.read_failed(e);
                return false;
            }
        }
    }

    fn bdat(&mut self, size: u64, last: bool) -> (bool, Flow) {
        // Refusals still read the chunk, which follows the command.
        let refusal = if size == 0 && !last {
            maillog::warning!("NOQUEUE: null BDAT request from {}", self.namaddr);
            Some(Reply::null_bdat())
        } else if self.tx.is_none() {
            Some(Reply::need_mail())
        } else {
            None
        };
        let refusal = match refusal {
            Some(r) => Some(r),
            None if self.tx.as_ref().is_some_and(|t| t.bdat.is_none()) => {
                match self.start_content("BDAT") {
                    Ok(()) => {
                        if let Some(tx) = &mut self.tx {
                            tx.bdat = Some(Bdat::default());
                        }
                        None
                    }
                    Err(r) => {
                        self.reset_transaction();
                        Some(r)
                    }
                }
            }
            None => None,
        };
        if let Some(r) = refusal {
            if !self.read_chunk(size, |_, _| {}) {
                return (false, Flow::Close);
            }
            self.error_reply(&r);
            return (false, Flow::Go);
        }
        let limit = self.s.message_size_limit;
        let already_failed = self
            .tx
            .as_ref()
            .and_then(|t| t.bdat.as_ref())
            .is_some_and(|b| b.failed);
        let over = {
            let have = self
                .tx
                .as_ref()
                .and_then(|t| t.bdat.as_ref())
                .map_or(0, |b| b.size);
            limit > 0 && have.saturating_add(size) > limit
        };
        let mut content_error: Option<Reply> = None;
        let ok_read = if already_failed || over {
            self.read_chunk(size, |_, _| {})
        } else {
            self.read_chunk(size, |me, bytes| {
                if content_error.is_some() {
                    return;
                }
                if let Some(tx) = me.tx.as_mut() {
                    content_error = tx.content(bytes).err();
                    if let (Some(b), Some(&last)) = (tx.bdat.as_mut(), bytes.last()) {
                        b.open_line = last != b'\n';
                    }
                }
            })
        };
        if !ok_read {
            return (false, Flow::Close);
        }
        let Some(tx) = self.tx.as_mut() else {
            return (false, Flow::Go);
        };
        let Some(b) = tx.bdat.as_mut() else {
            return (false, Flow::Go);
        };
        let reply = if already_failed {
            Some(Reply::bdat_discarded(size))
        } else if over {
            b.failed = true;
            Some(Reply::chunk_too_big())
        } else if let Some(reply) = content_error {
            b.failed = true;
            tx.cleanup = None;
            tx.proxy = None;
            tx.spool = None;
            Some(reply)
        } else {
            b.size += size;
            None
        };
        if let Some(r) = reply {
            if last {
                self.reset_transaction();
            }
            self.error_reply(&r);
            return (false, Flow::Go);
        }
        if !last {
            // Each chunk's own size, as Postfix says it; LAST says the total.
            self.reply(&Reply::chunk_ok(size));
            return (true, Flow::Go);
        }
        let total = b.size + if b.open_line { 2 } else { 0 };
        self.last = "END-OF-MESSAGE".into();
        let (r, ok) = self.finish(Some(total), total);
        if ok {
            self.reply(&r);
        } else {
            self.error_reply(&r);
        }
        (ok, Flow::Go)
    }

    /// Whether AUTH may be used in this session at all.
    fn sasl_active(&self) -> bool {
        self.s
            .sasl
            .as_ref()
            .is_some_and(|s| !s.tls_auth_only || self.conn.is_tls())
    }

    /// Connects to the auth service if not yet connected. False (logged)
    /// when it cannot be reached.
    fn sasl_connect(&mut self) -> bool {
        if self.sasl_client.is_some() {
            return true;
        }
        let Some(cfg) = &self.s.sasl else {
            return false;
        };
        let path = if cfg.path.is_absolute() {
            cfg.path.clone()
        } else {
            self.queue_dir.join(&cfg.path)
        };
        match auth::client::Client::connect(&path, self.s.timeout.max(Duration::from_secs(30))) {
            Ok(c) => {
                self.sasl_client = Some(c);
                true
            }
            Err(e) => {
                maillog::warning!("SASL: Connect to {} failed: {e}", cfg.path.display());
                false
            }
        }
    }

    /// Whether the client is in smtpd_sasl_exceptions_networks: then AUTH
    /// is left out of the EHLO reply. As in Postfix (smtpd.c ehlo_cmd and
    /// smtpd_sasl_auth_cmd), the AUTH command itself is still accepted.
    /// Ends the mail transaction, if any, with what XFORWARD told for it
    /// (Postfix's mail_reset).
    fn reset_transaction(&mut self) {
        self.tx = None;
        // What the restrictions knew of it (Postfix's mail_reset).
        self.req.sender = None;
        self.req.held = false;
        self.req.recipient_count = 0;
        self.milters.abort();
        self.xforward = Default::default();
    }

    /// Whether this client is in `hosts` (smtpd_authorized_xclient_hosts,
    /// smtpd_authorized_xforward_hosts; nobody when empty).
    fn authorized(&self, hosts: Option<&maps::hosts::HostList>) -> bool {
        hosts.is_some_and(|l| l.matches(&self.req.client_name, self.req.client_addr))
    }

    /// Whether XCLIENT or XFORWARD may go on: outside a transaction, a
    /// client in `hosts` (Postfix's order of checks); else the refusal is
    /// sent.
    fn x_command_allowed(&mut self, hosts: Option<&maps::hosts::HostList>) -> bool {
        let refusal = if self.tx.is_some() {
            Reply::mail_in_progress()
        } else if !self.authorized(hosts) {
            Reply::new(550, Some((5, 7, 0)), "Error: insufficient authorization")
        } else {
            return true;
        };
        self.error_reply(&refusal);
        false
    }

    /// XCLIENT: only from authorized clients, never inside a transaction;
    /// the session becomes the named client's, as if it had just
    /// connected: a new greeting (or the client restrictions' refusal with
    /// smtpd_delay_reject = no), HELO and login only as the command gives
    /// them.
    fn xclient_cmd(&mut self, attrs: &[(String, String)]) -> bool {
        if !self.x_command_allowed(self.policy.xclient_hosts.as_ref()) {
            return false;
        }
        let c = match crate::xclient::parse(attrs) {
            Ok(c) => c,
            Err(r) => {
                self.error_reply(&r);
                return false;
            }
        };
        let name_temporary = c.name_temporary.unwrap_or(self.req.client_name_temporary);
        let name = c.name.unwrap_or_else(|| self.req.client_name.clone());
        let ip = c
            .addr
            .unwrap_or(self.req.client_addr)
            .map(|ip| ip.to_canonical());
        let port = c.port.unwrap_or(self.remote_port);
        let addr_text = ip.map_or_else(|| "unknown".to_string(), |a| a.to_string());
        let client = PerClient::new(self.s, name, ip, addr_text, port);
        self.conn.footer = client.footer;
        self.conn.debug_peer = debug_peer(self.policy, &client.req, &client.namaddr);
        self.namaddr = client.namaddr;
        self.bare_newline = client.bare_newline;
        self.discard = client.discard;
        // The reverse name stays unless XCLIENT gave one.
        let reverse = c.reverse.clone().unwrap_or_else(|| {
            let r = &self.req;
            (r.reverse_client_name.clone(), r.reverse_name_temporary)
        });
        // The TLS session stays what it was, certificate and all.
        let cert = self.req.client_cert.take();
        self.req = client.req;
        self.req.client_cert = cert;
        self.req.client_name_temporary = name_temporary;
        self.req.tls = self.conn.is_tls();
        (
            self.req.reverse_client_name,
            self.req.reverse_name_temporary,
        ) = reverse;
        self.remote_port = port;
        self.reset_transaction();
        self.ehlo = c.esmtp.unwrap_or(false);
        self.req.helo = c.helo.flatten();
        self.sasl = c.login.flatten().map(|user| ("XCLIENT".to_string(), user));
        self.req.sasl_authenticated = self.sasl.is_some();
        self.req.sasl_username = self.sasl.as_ref().map(|(_, u)| u.clone());
        if !self.policy.delay_reject && !self.client_permitted() {
            self.access_denied = true;
        } else {
            self.access_denied = false;
            self.reply(&Reply::greeting(&self.s.banner));
        }
        true
    }

    /// XFORWARD: only from authorized clients, never inside a transaction,
    /// all of a command's attributes or none.
    fn xforward_cmd(&mut self, attrs: &[(String, String)]) -> bool {
        if !self.x_command_allowed(self.policy.xforward_hosts.as_ref()) {
            return false;
        }
        match self.xforward.update(attrs) {
            Ok(()) => {
                self.reply(&Reply::new(250, Some((2, 0, 0)), "Ok"));
                true
            }
            Err(r) => {
                self.error_reply(&r);
                false
            }
        }
    }

    fn sasl_exception(&self) -> bool {
        self.policy
            .sasl_exceptions
            .as_ref()
            .is_some_and(|l| l.matches(&self.req.client_name, self.req.client_addr))
    }

    /// The mechanisms to announce after `AUTH` in the EHLO reply: what the
    /// auth service offers, filtered by the security options.
    fn auth_mechanisms(&self) -> Vec<String> {
        let (Some(cfg), Some(c)) = (&self.s.sasl, &self.sasl_client) else {
            return Vec::new();
        };
        if !self.sasl_active() || self.discard.has("auth") {
            return Vec::new();
        }
        c.mechanisms()
            .iter()
            .filter(|m| cfg.allows(&m.flags, self.conn.is_tls()))
            .filter(|m| cfg.mechanism_filter.allows(&m.name))
            .map(|m| m.name.clone())
            .collect()
    }

    /// Reads one line of an AUTH exchange, at most `limit` bytes.
    fn read_auth_line(conn: &mut Conn, limit: usize) -> Result<String, AuthAbort> {
        let mut too_long = false;
        loop {
            let pending = conn.pending();
            if let Some(p) = pending.iter().position(|&b| b == b'\n') {
                let line = String::from_utf8_lossy(&pending[..p])
                    .trim_end_matches('\r')
                    .to_string();
                conn.consume(p + 1);
                if too_long || line.len() > limit {
                    return Err(AuthAbort::TooLong);
                }
                return Ok(line);
            }
            if pending.len() > limit {
                too_long = true;
                let n = pending.len();
                conn.consume(n);
            }
            if let Err(e) = conn.fill() {
                return Err(AuthAbort::Read(e));
            }
        }
    }

    /// `AUTH mechanism [initial-response]` (RFC 4954), through the auth
    /// service, with Postfix's checks and replies.
    fn auth(&mut self, mechanism: &str, initial: Option<&str>) -> (bool, Flow) {
        if self.s.helo_required && self.req.helo.is_none() {
            self.error_reply(&Reply::send_helo_first());
            return (false, Flow::Go);
        }
        let Some(cfg) = self.s.sasl.clone() else {
            self.error_reply(&Reply::auth_not_enabled());
            return (false, Flow::Go);
        };
        if !self.ehlo || self.discard.has("auth") {
            self.error_reply(&Reply::auth_not_enabled());
            return (false, Flow::Go);
        }
        if self.tx.is_some() {
            self.error_reply(&Reply::mail_in_progress());
            return (false, Flow::Go);
        }
        if cfg.tls_auth_only && !self.conn.is_tls() {
            self.error_reply(&Reply::new(
                538,
                Some((5, 7, 11)),
                "Encryption required for requested authentication mechanism",
            ));
            return (false, Flow::Go);
        }
        if self.sasl.is_some() {
            self.error_reply(&Reply::already_authenticated());
            return (false, Flow::Go);
        }
        if let Some(reply) = self.over_limit(|l, ident, namaddr, addr| l.auth(ident, namaddr, addr))
        {
            self.error_reply(&reply);
            return (false, Flow::Go);
        }
        if !self.sasl_connect() {
            self.error_reply(&Reply::new(
                454,
                Some((4, 7, 0)),
                "Temporary authentication failure: Connection lost to authentication server",
            ));
            return (false, Flow::Go);
        }
        let allowed = self
            .auth_mechanisms()
            .iter()
            .any(|m| m.eq_ignore_ascii_case(mechanism));
        let method = mechanism.to_ascii_uppercase();
        let namaddr = self.namaddr.clone();
        if !allowed {
            maillog::warning!(
                "{namaddr}: SASL {method} authentication failed: Invalid authentication mechanism"
            );
            self.error_reply(&Reply::auth_failed("Invalid authentication mechanism"));
            return (false, Flow::Go);
        }
        let req = auth::client::Request {
            service: cfg.service.clone(),
            rip: self.req.client_addr,
            lip: self.local_ip,
            rport: self.remote_port,
            lport: self.local_port,
            secured: self.conn.is_tls(),
        };
        let Some(mut client) = self.sasl_client.take() else {
            return (false, Flow::Go);
        };
        let mut abort = AuthAbort::None;
        let mut last_challenge = String::new();
        let conn = &mut self.conn;
        let limit = cfg.response_limit;
        let result = client.authenticate(&method, &req, initial, &mut |challenge| {
            last_challenge = challenge.to_string();
            conn.reply(&Reply::auth_challenge(challenge));
            match Self::read_auth_line(conn, limit) {
                Ok(line) if line == "*" => {
                    abort = AuthAbort::Client;
                    None
                }
                Ok(line) => Some(line),
                Err(a) => {
                    abort = a;
                    None
                }
            }
        });
        match result {
            Ok(auth::client::Outcome::Ok { user, .. }) => {
                self.sasl_client = Some(client);
                self.req.sasl_username = Some(user.clone());
                self.sasl = Some((method, user));
                self.req.sasl_authenticated = true;
                self.reply(&Reply::auth_successful());
                (true, Flow::Go)
            }
            Ok(auth::client::Outcome::Aborted) => {
                self.sasl_client = Some(client);
                match abort {
                    AuthAbort::Read(e) => {
                        self.read_failed(e);
                        (false, Flow::Close)
                    }
                    AuthAbort::TooLong => {
                        self.error_reply(&Reply::new(
                            500,
                            Some((5, 5, 6)),
                            "Authentication exchange line is too long",
                        ));
                        (false, Flow::Go)
                    }
                    AuthAbort::Client | AuthAbort::None => {
                        maillog::warning!("{namaddr}: SASL {method} authentication aborted");
                        self.error_reply(&Reply::auth_aborted());
                        (false, Flow::Go)
                    }
                }
            }
            Ok(auth::client::Outcome::Fail { user, reason, temp }) => {
                self.sasl_client = Some(client);
                let detail = reason.unwrap_or(last_challenge);
                let who = user
                    .map(|u| format!(", sasl_username={}", auth::printable(&u, 64)))
                    .unwrap_or_default();
                maillog::warning!(
                    "{namaddr}: SASL {method} authentication failed: {}{who}",
                    auth::printable(&detail, 100)
                );
                if temp {
                    self.error_reply(&Reply::new(
                        454,
                        Some((4, 7, 0)),
                        format!("Temporary authentication failure: {detail}"),
                    ));
                } else {
                    self.error_reply(&Reply::auth_failed(&detail));
                }
                (false, Flow::Go)
            }
            Err(e) => {
                if let AuthAbort::Read(r) = abort {
                    self.read_failed(r);
                    return (false, Flow::Close);
                }
                maillog::warning!("SASL: authentication server: {e}");
                self.error_reply(&Reply::new(
                    454,
                    Some((4, 7, 0)),
                    "Temporary authentication failure: Connection lost to authentication server",
                ));
                (false, Flow::Go)
            }
        }
    }

    /// `smtpd_tls_wrappermode`: the TLS handshake before the greeting, as
    /// on port 465. False when the session is over.
    fn wrap_tls(&mut self) -> bool {
        let Some(tls) = self.tls else {
            maillog::warning!(
                "smtpd_tls_wrappermode requires smtpd_tls_cert_file and smtpd_tls_key_file"
            );
            maillog::info!("disconnect from {}", self.namaddr);
            return false;
        };
        match self
            .conn
            .start_tls(tls, self.s.starttls_timeout, self.s.timeout)
        {
            Ok((desc, cert)) => self.tls_established(desc, cert),
            Err(e) => {
                maillog::info!("SSL_accept error from {}: {e}", self.namaddr);
                maillog::info!("lost connection after CONNECT from {}", self.namaddr);
                false
            }
        }
    }

    /// After a handshake: the log line (Anonymous, Untrusted or Trusted as
    /// the client's certificate is), and the certificate kept for the
    /// restrictions. False when smtpd_tls_req_ccert wants a trusted
    /// certificate the client did not show: the connection then ends.
    fn tls_established(&mut self, desc: String, cert: Option<tls::ClientCert>) -> bool {
        let kind = match &cert {
            None => "Anonymous",
            Some(c) if c.trusted => "Trusted",
            Some(_) => "Untrusted",
        };
        if self.s.tls_log.summary() {
            maillog::info!(
                "{kind} TLS connection established from {}: {desc}",
                self.namaddr
            );
        }
        if let Some(c) = cert.as_ref().filter(|_| self.s.tls_log.peer_cert()) {
            maillog::info!(
                "{}: client certificate fingerprint={}",
                self.namaddr,
                c.fingerprint
            );
        }
        self.tls_desc = Some(desc);
        self.req.tls = true;
        if self.s.tls_require_trusted_cert && !cert.as_ref().is_some_and(|c| c.trusted) {
            let why = if cert.is_none() {
                "No client certificate presented"
            } else {
                "Client certificate not trusted"
            };
            maillog::info!("NOQUEUE: abort: TLS from {}: {why}", self.namaddr);
            self.conn.reply(&Reply::new(
                421,
                Some((4, 7, 1)),
                format!("{} Error: {why}", self.s.myhostname),
            ));
            let _ = self.conn.flush();
            return false;
        }
        self.req.client_cert = cert;
        true
    }

    fn starttls(&mut self) -> (bool, Flow) {
        if self.conn.is_tls() {
            self.error_reply(&Reply::tls_already_active());
            return (false, Flow::Go);
        }
        let Some(tls) = self.tls.filter(|_| self.tls_offered()) else {
            self.error_reply(&Reply::not_implemented());
            return (false, Flow::Go);
        };
        let myhostname = self.s.myhostname.clone();
        if let Some(reply) =
            self.over_limit(|l, ident, namaddr, addr| l.new_tls(ident, namaddr, addr, &myhostname))
        {
            self.conn.reply(&reply);
            return (false, Flow::Close);
        }
        self.conn.reply(&Reply::ready_to_start_tls());
        if let Err(e) = self.conn.flush() {
            maillog::info!("lost connection after STARTTLS from {}: {e}", self.namaddr);
            return (false, Flow::Close);
        }
        match self
            .conn
            .start_tls(tls, self.s.starttls_timeout, self.s.timeout)
        {
            Ok((desc, cert)) => {
                if !self.tls_established(desc, cert) {
                    return (false, Flow::Close);
                }
                self.reset_transaction();
                self.sasl = None;
                self.req.sasl_authenticated = false;
                self.req.sasl_username = None;
                self.req.helo = None;
                self.ehlo = false;
                self.parser = CommandParser::new(Self::parser_config(self.s));
                (true, Flow::Go)
            }
            Err(tls::TlsError::Timeout) => {
                maillog::info!("SSL_accept error from {}: timeout", self.namaddr);
                maillog::info!("timeout after STARTTLS from {}", self.namaddr);
                (false, Flow::Close)
            }
            Err(e) => {
                maillog::warning!("TLS library problem: {e}");
                maillog::info!("SSL_accept error from {}: -1", self.namaddr);
                maillog::info!("lost connection after STARTTLS from {}", self.namaddr);
                (false, Flow::Close)
            }
        }
    }
}

/// The attributes that carry access table actions to cleanup: FILTER,
/// HOLD, DISCARD, REDIRECT and BCC (PREPEND's headers go with the
/// content).
fn action_attributes(a: &Actions) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(f) = &a.filter {
        out.push((ic::CONTENT_FILTER.into(), f.clone()));
    }
    if a.hold {
        out.push((ic::ACTION_HOLD.into(), "yes".into()));
    }
    if a.discard {
        out.push((ic::ACTION_DISCARD.into(), "yes".into()));
    }
    if let Some(r) = &a.redirect {
        out.push((ic::REDIRECT.into(), r.clone()));
    }
    for b in &a.bcc {
        out.push((ic::ACTION_BCC.into(), b.clone()));
    }
    out
}

/// `ID: client=name[addr]`, with the login and what XFORWARD told of the
/// mail's origin.
fn client_line(
    id: &str,
    namaddr: &str,
    sasl: &Option<(String, String)>,
    xforward: &crate::xforward::Forwarded,
    port_logging: bool,
) -> String {
    let mut line = format!("{id}: client={namaddr}");
    if let Some((method, user)) = sasl {
        line.push_str(&format!(", sasl_method={method}, sasl_username={user}"));
    }
    if let Some(ident) = &xforward.ident {
        line.push_str(&format!(", orig_queue_id={ident}"));
    }
    if let Some(orig) = xforward.namaddr(port_logging) {
        line.push_str(&format!(", orig_client={orig}"));
    }
    line
}

/// `451 4.3.0 Error: queue file write error` (Postfix's text when cleanup
/// cannot be reached or fails).
/// A recipient as the transaction keeps it (internal form) as a mailbox.
fn internal_mailbox(address: &str) -> addr::Mailbox {
    match address.rsplit_once('@') {
        Some((local, domain)) => addr::Mailbox::new(local, Some(domain)),
        None => addr::Mailbox::new(address, None::<String>),
    }
}

fn queue_file_write_error() -> Reply {
    Reply::new(451, Some((4, 3, 0)), "Error: queue file write error")
}

/// A reply given as text (a milter's, cleanup's): `550 5.7.1 text`, or
/// lines of a multi-line reply joined with CR LF (`550-5.7.1 one`, `550
/// 5.7.1 two`), each with the same 4xx or 5xx code, read as the SMTP
/// client reads a server's reply.
fn parse_reply_text(text: &str) -> Option<Reply> {
    let wire = format!("{}\r\n", text.trim());
    let reply = smtp_proto::ReplyParser::default()
        .parse(&mut wire.as_bytes().iter())
        .ok()?;
    (400..600).contains(&reply.code).then_some(reply)
}

/// The client's `name[addr]` when `debug_peer_list` names it: its
/// conversation is logged.
fn debug_peer(policy: &Policy, req: &Request, namaddr: &str) -> Option<String> {
    let listed = policy.debug_peers.as_ref()?;
    listed
        .matches(&req.client_name, req.client_addr)
        .then(|| namaddr.to_string())
}

/// A command line for the log: without its line end, at most 100 bytes,
/// control characters and non-ASCII bytes as `?`.
fn printable_line(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    util::text::printable(&line[..line.len().min(100)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disconnect_stats_in_postfix_order() {
        let mut s = Stats::default();
        for (n, ok) in [
            ("ehlo", true),
            ("mail", true),
            ("mail", false),
            ("rcpt", false),
            ("quit", true),
            ("unknown", false),
        ] {
            s.count(n, ok);
        }
        assert_eq!(
            s.text(),
            " ehlo=1 mail=1/2 rcpt=0/1 quit=1 unknown=0/1 commands=3/6"
        );
        assert_eq!(stat_name(b"  mail FROM:<a>"), "mail");
        assert_eq!(stat_name(b"HELP"), "unknown");
        assert_eq!(stat_name(b"\0\0"), "unknown");
    }

    #[test]
    fn cleanup_reply_texts() {
        assert_eq!(
            parse_reply_text("550 5.7.1 message content rejected"),
            Some(Reply::new(550, Some((5, 7, 1)), "message content rejected"))
        );
        assert_eq!(
            parse_reply_text("451 try later"),
            Some(Reply::new(451, None, "try later"))
        );
        assert_eq!(parse_reply_text("nonsense"), None);
        assert_eq!(parse_reply_text("250 ok"), None);
        // A milter's multi-line reply.
        let r = parse_reply_text("550-5.7.1 First line\r\n550 5.7.1 Second line").expect("reply");
        assert_eq!(
            r.to_bytes(),
            b"550-5.7.1 First line\r\n550 5.7.1 Second line\r\n"
        );
        let r = parse_reply_text("451-4.7.1 Wait\r\n451 please").expect("reply");
        assert_eq!(r.to_bytes(), b"451-4.7.1 Wait\r\n451 4.7.1 please\r\n");
        assert_eq!(parse_reply_text("550-5.7.1 a\r\n450 4.7.1 b"), None);
        assert_eq!(parse_reply_text("550-5.7.1 a\r\nnot a reply"), None);
    }
}
