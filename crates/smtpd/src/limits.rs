//! Per-client limits counted in anvil (ipc::anvil), as Postfix's smtpd does:
//! `smtpd_client_connection_count_limit` (simultaneous connections, 50 by
//! default), and per `anvil_rate_time_unit` the connection, message,
//! recipient, new TLS session and AUTH rates
//! (`smtpd_client_connection_rate_limit` … `smtpd_client_auth_rate_limit`,
//! 0: none). Clients in `smtpd_client_event_limit_exceptions` ($mynetworks)
//! are not counted.
//!
//! When anvil cannot be reached, nothing is limited (one warning per
//! process), as in Postfix: a missing counter must not stop the mail.

use ipc::anvil::{self, Event};
use maps::hosts::HostList;
use params::{table as p, Config};
use smtp_proto::Reply;
use std::cell::RefCell;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

/// The limits of one smtpd service, and its connection to anvil.
pub struct Limits {
    count: u64,
    connect_rate: u64,
    message_rate: u64,
    recipient_rate: u64,
    newtls_rate: u64,
    auth_rate: u64,
    exceptions: HostList,
    /// The master.cf service name (`smtp`, `submission`…), for the log and
    /// the anvil identifier.
    service: String,
    anvil: RefCell<anvil::Client>,
    warned: std::cell::Cell<bool>,
}

/// What a limit check says.
pub enum Check {
    Ok,
    /// Over the limit: the warning to log and the reply to give.
    Over(String, Reply),
}

impl Limits {
    pub fn from_config(config: &Config, service: &str, queue_dir: &Path) -> (Limits, Vec<String>) {
        let n = |param: &params::Param| config.int(param).max(0) as u64;
        let (exceptions, bad) = HostList::parse(
            &config.list(&p::SMTPD_CLIENT_EVENT_LIMIT_EXCEPTIONS),
            p::SMTPD_CLIENT_EVENT_LIMIT_EXCEPTIONS.name,
        );
        (
            Limits {
                count: n(&p::SMTPD_CLIENT_CONNECTION_COUNT_LIMIT),
                connect_rate: n(&p::SMTPD_CLIENT_CONNECTION_RATE_LIMIT),
                message_rate: n(&p::SMTPD_CLIENT_MESSAGE_RATE_LIMIT),
                recipient_rate: n(&p::SMTPD_CLIENT_RECIPIENT_RATE_LIMIT),
                newtls_rate: n(&p::SMTPD_CLIENT_NEW_TLS_SESSION_RATE_LIMIT),
                auth_rate: n(&p::SMTPD_CLIENT_AUTH_RATE_LIMIT),
                exceptions,
                service: service.to_string(),
                anvil: RefCell::new(anvil::Client::new(queue_dir, Duration::from_secs(10))),
                warned: std::cell::Cell::new(false),
            },
            bad.into_iter().map(|b| b.0).collect(),
        )
    }

    /// The anvil identifier of a client, or None when it is not counted
    /// (an exception, or no limit at all).
    pub fn ident(&self, name: &str, ip: Option<IpAddr>, addr_text: &str) -> Option<String> {
        let any = [
            self.count,
            self.connect_rate,
            self.message_rate,
            self.recipient_rate,
            self.newtls_rate,
            self.auth_rate,
        ]
        .iter()
        .any(|&l| l > 0);
        if !any || ip.is_none() || self.exceptions.matches(name, ip) {
            return None;
        }
        let ident = format!("{}:{addr_text}", self.service);
        anvil::valid_ident(&ident).then_some(ident)
    }

    fn ask(&self, event: Event, ident: &str) -> Option<Vec<(String, u64)>> {
        match self.anvil.borrow_mut().send(event, ident) {
            Ok(a) => Some(a),
            Err(e) => {
                if !self.warned.replace(true) {
                    maillog::warning!("anvil: {e}: client limits are not enforced");
                }
                None
            }
        }
    }

    /// A new connection: counted, then checked against the count and the
    /// connection rate (`421`; the session ends).
    pub fn connect(&self, ident: &str, namaddr: &str, addr: &str, myhostname: &str) -> Check {
        let Some(a) = self.ask(Event::Connect, ident) else {
            return Check::Ok;
        };
        let too_many = || {
            Reply::new(
                421,
                Some((4, 7, 0)),
                format!("{myhostname} Error: too many connections from {addr}"),
            )
        };
        let count = anvil::value(&a, "count");
        if self.count > 0 && count > self.count {
            return Check::Over(
                format!(
                    "Connection concurrency limit exceeded: {count} from {namaddr} for service {}",
                    self.service
                ),
                too_many(),
            );
        }
        let rate = anvil::value(&a, "rate");
        if self.connect_rate > 0 && rate > self.connect_rate {
            return Check::Over(
                format!(
                    "Connection rate limit exceeded: {rate} from {namaddr} for service {}",
                    self.service
                ),
                too_many(),
            );
        }
        Check::Ok
    }

    /// The connection ended.
    pub fn disconnect(&self, ident: &str) {
        let _ = self.ask(Event::Disconnect, ident);
    }

    /// One more event of a rate-limited kind; over its limit, the reply.
    fn rate(
        &self,
        event: Event,
        limit: u64,
        ident: &str,
        namaddr: &str,
        what: &str,
        reply: Reply,
    ) -> Check {
        if limit == 0 {
            return Check::Ok;
        }
        let Some(a) = self.ask(event, ident) else {
            return Check::Ok;
        };
        let rate = anvil::value(&a, "rate");
        if rate > limit {
            Check::Over(
                format!(
                    "{what} rate limit exceeded: {rate} from {namaddr} for service {}",
                    self.service
                ),
                reply,
            )
        } else {
            Check::Ok
        }
    }

    /// MAIL FROM (`450 4.7.1 Error: too much mail from addr`).
    pub fn message(&self, ident: &str, namaddr: &str, addr: &str) -> Check {
        let reply = Reply::new(
            450,
            Some((4, 7, 1)),
            format!("Error: too much mail from {addr}"),
        );
        self.rate(
            Event::Message,
            self.message_rate,
            ident,
            namaddr,
            "Message delivery request",
            reply,
        )
    }

    /// RCPT TO (`450 4.7.1 Error: too many recipients from addr`).
    pub fn recipient(&self, ident: &str, namaddr: &str, addr: &str) -> Check {
        let reply = Reply::new(
            450,
            Some((4, 7, 1)),
            format!("Error: too many recipients from {addr}"),
        );
        self.rate(
            Event::Recipient,
            self.recipient_rate,
            ident,
            namaddr,
            "Recipient address",
            reply,
        )
    }

    /// STARTTLS (`421 4.7.0 host Error: too many new TLS sessions from addr`).
    pub fn new_tls(&self, ident: &str, namaddr: &str, addr: &str, myhostname: &str) -> Check {
        let reply = Reply::new(
            421,
            Some((4, 7, 0)),
            format!("{myhostname} Error: too many new TLS sessions from {addr}"),
        );
        self.rate(
            Event::NewTls,
            self.newtls_rate,
            ident,
            namaddr,
            "New TLS session",
            reply,
        )
    }

    /// AUTH (`450 4.7.1 Error: too many AUTH commands from addr`).
    pub fn auth(&self, ident: &str, namaddr: &str, addr: &str) -> Check {
        let reply = Reply::new(
            450,
            Some((4, 7, 1)),
            format!("Error: too many AUTH commands from {addr}"),
        );
        self.rate(
            Event::Auth,
            self.auth_rate,
            ident,
            namaddr,
            "AUTH command",
            reply,
        )
    }
}
