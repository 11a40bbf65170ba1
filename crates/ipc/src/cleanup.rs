//! The cleanup protocol: how smtpd, pickup and bounce hand one message to
//! cleanup over `public/cleanup` ([`socket_path`]; public as in Postfix's
//! master.cf, `cleanup unix n …`). One connection carries one message:
//!
//! ```text
//! client                               cleanup
//! Open { source, flags }        ──►
//!                               ◄──    Opened { queue_id }      (file created in incoming/)
//! [Milters [..] + their sockets] ──►   (smtpd's milter conversations, smtpd only)
//! Envelope { sender, rcpts … }  ──►
//! Content(bytes) …              ──►    (message text, lines ending in LF or CRLF)
//! End                           ──►
//!                               ◄──    Done { status, text }    (only after fsync + rename)
//! ```
//!
//! A client that goes away before `End` leaves nothing behind: cleanup
//! removes its file.

use crate::frame::{Decoder, Encoder};
use crate::IpcError;
use std::io::Write as _;

const OPEN: u8 = 1;
const ENVELOPE: u8 = 2;
const CONTENT: u8 = 3;
const END: u8 = 4;
const MILTERS: u8 = 5;
const ACTIONS: u8 = 6;
const OPENED: u8 = 10;
const DONE: u8 = 11;

/// Where cleanup listens: `queue_directory/public/$cleanup_service_name`.
pub fn socket_path(queue_dir: &std::path::Path, service_name: &str) -> std::path::PathBuf {
    queue_dir.join("public").join(service_name)
}

/// The most recipients one envelope may carry.
pub const MAX_RECIPIENTS: usize = 1_000_000;

/// The envelope attribute that carries an entry point's `content_filter`
/// (smtpd, pickup) into the queue file: the `transport:nexthop` the queue
/// manager sends every recipient to first, as Postfix's FILTER record.
pub const CONTENT_FILTER: &str = "content_filter";

/// Envelope attributes of smtpd's access table actions (Postfix's
/// CLEANUP_FLAG_HOLD and _DISCARD, and the BCC recipients): HOLD puts the
/// message in the hold queue, DISCARD throws it away, and each BCC adds a
/// blind copy. Cleanup takes them from smtpd only, and keeps none in the
/// queue file. (FILTER sets [`CONTENT_FILTER`], REDIRECT [`REDIRECT`].)
pub const ACTION_HOLD: &str = "smtpd_action_hold";
pub const ACTION_DISCARD: &str = "smtpd_action_discard";
pub const ACTION_BCC: &str = "smtpd_action_bcc";

/// The envelope attribute of a VERP request (smtpd's `XVERP`, sendmail's
/// `-XV`): the two delimiter characters. Cleanup checks them against
/// `verp_delimiter_filter` and keeps them as the queue file's `V` record.
pub const VERP_DELIMITERS: &str = "verp_delimiters";

/// The queue file attribute of a REDIRECT action (smtpd's access tables,
/// in the envelope; header_checks, in the extracted segment, which wins):
/// the queue manager delivers to that address instead of every
/// recipient, once (Postfix's REC_TYPE_RDR). Cleanup keeps it only from
/// smtpd and its own checks.
pub const REDIRECT: &str = "redirect";

/// The envelope attribute with the TLS description cleanup puts in the
/// Received: header (`(using TLSv1.3 with cipher …)`); smtpd sends it with
/// `smtpd_tls_received_header = yes`.
pub const RECEIVED_TLS: &str = "tls";

/// The envelope attribute with the smtpd service's
/// `milter_macro_daemon_name` (master.cf `-o` overrides included), the
/// `{daemon_name}` its milters are told when cleanup shows them the
/// message ([`Request::Milters`]).
pub const MILTER_DAEMON_NAME: &str = "milter_daemon_name";

/// The envelope attribute with the login cleanup puts in the Received:
/// header (`(Authenticated sender: user)`); smtpd sends it with
/// `smtpd_sasl_authenticated_header = yes`.
pub const RECEIVED_SASL: &str = "received_sasl_username";

/// Envelope attribute of an address verification probe (from the verify
/// service only; cleanup drops it from anyone else): the message is not
/// delivered, its recipients are only tried, and what that finds goes to
/// the verify service.
pub const ADDRESS_VERIFY_PROBE: &str = "address_verify_probe";
/// `sendmail -bv`: the message is tried as an address verification probe
/// (nothing is delivered) and the sender gets a report of the results.
pub const USER_VERIFY: &str = "user_verify";

/// The Received: header of mail from an SMTP client, as Postfix writes it:
/// cleanup's (with the queue ID), and smtpd's own in front of a
/// before-queue content filter (without one).
#[derive(Debug, Clone, Default)]
pub struct ReceivedFrom<'a> {
    pub helo: &'a str,
    pub client_name: &'a str,
    pub client_address: &'a str,
    /// The TLS session (`using …`), when the received header shows it.
    pub tls: Option<&'a str>,
    /// The login, when the received header shows it.
    pub sasl_username: Option<&'a str>,
    pub myhostname: &'a str,
    pub mail_name: &'a str,
    pub protocol: &'a str,
    pub queue_id: Option<&'a str>,
    /// The recipient, when the message has exactly one.
    pub single_recipient: Option<&'a str>,
    /// The arrival date, in RFC 5322 form.
    pub date: &'a str,
}

impl ReceivedFrom<'_> {
    /// The header's value, its lines joined by newline and tab.
    pub fn value(&self) -> String {
        let shown_addr = if self.client_address.contains(':') {
            format!("IPv6:{}", self.client_address)
        } else {
            self.client_address.to_string()
        };
        let mut notes = self
            .tls
            .map(|v| format!("\n\t(using {v})"))
            .unwrap_or_default();
        if let Some(user) = self.sasl_username {
            // As Postfix: only printable characters of the login.
            let shown: String = user
                .chars()
                .map(|c| {
                    if c.is_ascii_graphic() || c == ' ' {
                        c
                    } else {
                        '?'
                    }
                })
                .collect();
            notes.push_str(&format!("\n\t(Authenticated sender: {shown})"));
        }
        let id = self
            .queue_id
            .map(|id| format!(" id {id}"))
            .unwrap_or_default();
        let tail = match self.single_recipient {
            Some(r) => format!("\n\tfor <{r}>; {}", self.date),
            None => format!(";\n\t{}", self.date),
        };
        format!(
            "from {} ({} [{shown_addr}]){notes}\n\tby {} ({}) with {}{id}{tail}",
            self.helo, self.client_name, self.myhostname, self.mail_name, self.protocol
        )
    }
}

/// Who submits the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Received over SMTP: remote rewriting context.
    Smtpd,
    /// Posted on this host (sendmail/postdrop): local context, headers may be added.
    Pickup,
    /// Generated by mailsuite itself (bounces, notices).
    Internal,
}

/// Cleanup options, as bits.
pub mod flags {
    /// Take the recipients from To/Cc/Bcc (sendmail -t).
    pub const EXTRACT_RECIPIENTS: u32 = 1;
    /// Skip header_checks/body_checks (and message_reject_characters,
    /// message_strip_characters).
    pub const NO_CHECKS: u32 = 2;
    /// No canonical maps, virtual aliases, masquerading or automatic blind
    /// copies (`receive_override_options = no_address_mappings`).
    pub const NO_ADDRESS_MAPPINGS: u32 = 4;
    /// No milters (`receive_override_options = no_milters`).
    pub const NO_MILTERS: u32 = 8;
    /// Every bit a client may send.
    pub const ALL: u32 = EXTRACT_RECIPIENTS | NO_CHECKS | NO_ADDRESS_MAPPINGS | NO_MILTERS;
}

/// `receive_override_options` as an entry point (smtpd, pickup) reads it:
/// what it turns off in cleanup, and in smtpd itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiveOverrides {
    /// The [`flags`] cleanup is opened with.
    pub cleanup_flags: u32,
    /// `no_unknown_recipient_checks`: smtpd does not refuse unknown
    /// recipients (nor senders, reject_unlisted_sender).
    pub no_unknown_recipient_checks: bool,
}

impl ReceiveOverrides {
    /// Postfix's four names, in any case; anything else is an error that
    /// names the value.
    pub fn parse(words: &[String]) -> Result<ReceiveOverrides, String> {
        let mut o = ReceiveOverrides::default();
        for w in words {
            match w.to_ascii_lowercase().as_str() {
                "no_unknown_recipient_checks" => o.no_unknown_recipient_checks = true,
                "no_address_mappings" => o.cleanup_flags |= flags::NO_ADDRESS_MAPPINGS,
                "no_header_body_checks" => o.cleanup_flags |= flags::NO_CHECKS,
                "no_milters" => o.cleanup_flags |= flags::NO_MILTERS,
                _ => {
                    return Err(format!(
                        "unknown receive_override_options value \"{w}\" in \"{}\"",
                        words.join(", ")
                    ))
                }
            }
        }
        Ok(o)
    }
}

/// DSN NOTIFY bits (RFC 3461), as Postfix numbers them.
pub mod notify {
    pub const NEVER: u8 = 1;
    pub const SUCCESS: u8 = 2;
    pub const FAILURE: u8 = 4;
    pub const DELAY: u8 = 8;

    /// The bits of a NOTIFY= list (NEVER stands alone).
    pub fn bits(never: bool, success: bool, failure: bool, delay: bool) -> u8 {
        if never {
            return NEVER;
        }
        [(success, SUCCESS), (failure, FAILURE), (delay, DELAY)]
            .iter()
            .filter(|(on, _)| *on)
            .fold(0, |all, (_, bit)| all | bit)
    }
}

/// MAIL FROM BODY=.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Body {
    #[default]
    Unspecified,
    SevenBit,
    EightBitMime,
    BinaryMime,
}

/// DSN RET=.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    Full,
    Headers,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub address: String,
    /// ORCPT, as `type;address` decoded from xtext.
    pub orcpt: Option<String>,
    /// [`notify`] bits; 0 when the client gave none.
    pub notify: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// Empty for the null sender `<>`.
    pub sender: String,
    /// Seconds since the epoch, and the microseconds (the delivery log's
    /// delays count from it).
    pub arrival: u64,
    pub arrival_usec: u32,
    pub body: Body,
    pub smtputf8: bool,
    pub ret: Option<Ret>,
    pub envid: Option<String>,
    /// Who sent it, for Received: and the log: (name, value), e.g.
    /// client_name, client_address, helo_name, protocol, sasl_username, uid.
    pub attributes: Vec<(String, String)>,
    pub recipients: Vec<Recipient>,
}

impl Envelope {
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How cleanup disposed of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Queued: durable in incoming/.
    Queued,
    /// Accepted and dropped on purpose (header_checks DISCARD).
    Discarded,
    /// Refused for good; the text is the SMTP reply to give.
    Rejected,
    /// Not queued this time (write error, full disk, lookup failure); try later.
    TryAgain,
}

/// A milter conversation smtpd hands to cleanup for the message, as
/// Postfix's milter8 does: smtpd told the milter of the connection and the
/// commands, cleanup shows it the message. Its socket travels with the
/// [`Request::Milters`] frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassedMilter {
    /// The `smtpd_milters` entry it came from (its settings).
    pub entry: String,
    /// The protocol steps the milter chose (SMFIP_*).
    pub protocol: u32,
    /// The macro lists by stage (connect, HELO, MAIL, RCPT, DATA, end of
    /// headers, end of message), names separated by spaces.
    pub macros: [String; 7],
    /// Its settings as the smtpd service has them (master.cf `-o`
    /// overrides count): seconds, and `accept`, `tempfail`, …
    pub command_timeout: u64,
    pub content_timeout: u64,
    pub default_action: String,
}

/// The most milters one message is handed with.
pub const MAX_PASSED_MILTERS: usize = 8;

/// Client → cleanup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Open {
        source: Source,
        flags: u32,
    },
    /// smtpd's milters, before the envelope (none: the milters are done
    /// with this message, or there are none).
    Milters(Vec<PassedMilter>),
    Envelope(Envelope),
    Content(Vec<u8>),
    /// smtpd's access table actions from smtpd_end_of_data_restrictions,
    /// after the content (attributes as in the envelope: ACTION_HOLD,
    /// ACTION_DISCARD, ACTION_BCC, CONTENT_FILTER, REDIRECT).
    Actions(Vec<(String, String)>),
    End,
}

/// Cleanup → client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Opened {
        queue_id: String,
    },
    /// `text` is an SMTP reply (`550 5.7.1 …`) for Rejected and TryAgain, empty otherwise.
    Done {
        status: Status,
        text: String,
    },
}

fn source_code(s: Source) -> u8 {
    match s {
        Source::Smtpd => 1,
        Source::Pickup => 2,
        Source::Internal => 3,
    }
}

impl Request {
    /// The frame kind and payload.
    pub fn encode(&self) -> (u8, Vec<u8>) {
        match self {
            Request::Open { source, flags } => (
                OPEN,
                Encoder::new().u8(source_code(*source)).u32(*flags).finish(),
            ),
            Request::Envelope(e) => {
                let body = match e.body {
                    Body::Unspecified => 0,
                    Body::SevenBit => 1,
                    Body::EightBitMime => 2,
                    Body::BinaryMime => 3,
                };
                let ret = match e.ret {
                    None => 0,
                    Some(Ret::Full) => 1,
                    Some(Ret::Headers) => 2,
                };
                let mut enc = Encoder::new()
                    .str(&e.sender)
                    .u64(e.arrival)
                    .u32(e.arrival_usec)
                    .u8(body)
                    .u8(e.smtputf8 as u8)
                    .u8(ret)
                    .opt_str(e.envid.as_deref())
                    .u32(e.attributes.len() as u32);
                for (n, v) in &e.attributes {
                    enc = enc.str(n).str(v);
                }
                enc = enc.u32(e.recipients.len() as u32);
                for r in &e.recipients {
                    enc = enc.str(&r.address).opt_str(r.orcpt.as_deref()).u8(r.notify);
                }
                (ENVELOPE, enc.finish())
            }
            Request::Milters(list) => {
                let mut enc = Encoder::new().u32(list.len() as u32);
                for m in list {
                    enc = enc.str(&m.entry).u32(m.protocol);
                    for l in &m.macros {
                        enc = enc.str(l);
                    }
                    enc = enc
                        .u64(m.command_timeout)
                        .u64(m.content_timeout)
                        .str(&m.default_action);
                }
                (MILTERS, enc.finish())
            }
            Request::Content(b) => (CONTENT, b.clone()),
            Request::Actions(attrs) => {
                let mut enc = Encoder::new().u32(attrs.len() as u32);
                for (n, v) in attrs {
                    enc = enc.str(n).str(v);
                }
                (ACTIONS, enc.finish())
            }
            Request::End => (END, Vec::new()),
        }
    }

    pub fn decode(kind: u8, payload: &[u8]) -> Result<Request, IpcError> {
        let mut d = Decoder::new(payload);
        let req = match kind {
            OPEN => {
                let source = match d.u8("source")? {
                    1 => Source::Smtpd,
                    2 => Source::Pickup,
                    3 => Source::Internal,
                    _ => return Err(IpcError::BadField("source")),
                };
                let flags = d.u32("flags")?;
                if flags & !flags::ALL != 0 {
                    return Err(IpcError::BadField("flags"));
                }
                Request::Open { source, flags }
            }
            ENVELOPE => {
                let sender = d.str("sender")?.to_string();
                let arrival = d.u64("arrival")?;
                let arrival_usec = d.u32("arrival usec")?;
                if arrival_usec >= 1_000_000 {
                    return Err(IpcError::BadField("arrival usec"));
                }
                let body = match d.u8("body")? {
                    0 => Body::Unspecified,
                    1 => Body::SevenBit,
                    2 => Body::EightBitMime,
                    3 => Body::BinaryMime,
                    _ => return Err(IpcError::BadField("body")),
                };
                let smtputf8 = match d.u8("smtputf8")? {
                    0 => false,
                    1 => true,
                    _ => return Err(IpcError::BadField("smtputf8")),
                };
                let ret = match d.u8("ret")? {
                    0 => None,
                    1 => Some(Ret::Full),
                    2 => Some(Ret::Headers),
                    _ => return Err(IpcError::BadField("ret")),
                };
                let envid = d.opt_str("envid")?.map(str::to_string);
                let n = d.u32("attributes")? as usize;
                if n > 64 {
                    return Err(IpcError::BadField("attributes"));
                }
                let mut attributes = Vec::with_capacity(n);
                for _ in 0..n {
                    attributes.push((
                        d.str("attribute name")?.to_string(),
                        d.str("attribute value")?.to_string(),
                    ));
                }
                let n = d.u32("recipients")? as usize;
                if n > MAX_RECIPIENTS {
                    return Err(IpcError::BadField("recipients"));
                }
                let mut recipients = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let address = d.str("recipient")?.to_string();
                    let orcpt = d.opt_str("orcpt")?.map(str::to_string);
                    let notify = d.u8("notify")?;
                    if notify & !0x0f != 0 {
                        return Err(IpcError::BadField("notify"));
                    }
                    recipients.push(Recipient {
                        address,
                        orcpt,
                        notify,
                    });
                }
                Request::Envelope(Envelope {
                    sender,
                    arrival,
                    arrival_usec,
                    body,
                    smtputf8,
                    ret,
                    envid,
                    attributes,
                    recipients,
                })
            }
            MILTERS => {
                let n = d.u32("milters")? as usize;
                if n > MAX_PASSED_MILTERS {
                    return Err(IpcError::BadField("milters"));
                }
                let mut list = Vec::with_capacity(n);
                for _ in 0..n {
                    let entry = d.str("milter entry")?.to_string();
                    let protocol = d.u32("milter protocol")?;
                    let mut macros: [String; 7] = Default::default();
                    for m in &mut macros {
                        *m = d.str("milter macros")?.to_string();
                    }
                    list.push(PassedMilter {
                        entry,
                        protocol,
                        macros,
                        command_timeout: d.u64("milter command timeout")?,
                        content_timeout: d.u64("milter content timeout")?,
                        default_action: d.str("milter default action")?.to_string(),
                    });
                }
                Request::Milters(list)
            }
            CONTENT => return Ok(Request::Content(payload.to_vec())),
            ACTIONS => {
                let n = d.u32("actions")? as usize;
                if n > 64 {
                    return Err(IpcError::BadField("actions"));
                }
                let mut attrs = Vec::with_capacity(n);
                for _ in 0..n {
                    attrs.push((
                        d.str("action name")?.to_string(),
                        d.str("action value")?.to_string(),
                    ));
                }
                Request::Actions(attrs)
            }
            END => Request::End,
            _ => return Err(IpcError::BadField("request kind")),
        };
        d.end()?;
        Ok(req)
    }
}

impl Reply {
    pub fn encode(&self) -> (u8, Vec<u8>) {
        match self {
            Reply::Opened { queue_id } => (OPENED, Encoder::new().str(queue_id).finish()),
            Reply::Done { status, text } => {
                let s = match status {
                    Status::Queued => 0,
                    Status::Discarded => 1,
                    Status::Rejected => 2,
                    Status::TryAgain => 3,
                };
                (DONE, Encoder::new().u8(s).str(text).finish())
            }
        }
    }

    pub fn decode(kind: u8, payload: &[u8]) -> Result<Reply, IpcError> {
        let mut d = Decoder::new(payload);
        let reply = match kind {
            OPENED => {
                let id = d.str("queue id")?;
                if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_alphanumeric())
                {
                    return Err(IpcError::BadField("queue id"));
                }
                Reply::Opened {
                    queue_id: id.to_string(),
                }
            }
            DONE => {
                let status = match d.u8("status")? {
                    0 => Status::Queued,
                    1 => Status::Discarded,
                    2 => Status::Rejected,
                    3 => Status::TryAgain,
                    _ => return Err(IpcError::BadField("status")),
                };
                Reply::Done {
                    status,
                    text: d.str("text")?.to_string(),
                }
            }
            _ => return Err(IpcError::BadField("reply kind")),
        };
        d.end()?;
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receive_override_options_and_unknown_flags() {
        let words = |s: &str| s.split(", ").map(String::from).collect::<Vec<_>>();
        let o = ReceiveOverrides::parse(&words("no_unknown_recipient_checks, No_Milters"))
            .expect("valid");
        assert!(o.no_unknown_recipient_checks);
        assert_eq!(o.cleanup_flags, flags::NO_MILTERS);
        let o = ReceiveOverrides::parse(&words("no_address_mappings, no_header_body_checks"))
            .expect("valid");
        assert!(!o.no_unknown_recipient_checks);
        assert_eq!(
            o.cleanup_flags,
            flags::NO_ADDRESS_MAPPINGS | flags::NO_CHECKS
        );
        assert_eq!(
            ReceiveOverrides::parse(&[]),
            Ok(ReceiveOverrides::default())
        );
        let e = ReceiveOverrides::parse(&words("no_milters, no_bounces")).unwrap_err();
        assert!(e.contains("\"no_bounces\""), "{e}");
        // A flag bit nobody defines is refused.
        let (k, p) = Request::Open {
            source: Source::Smtpd,
            flags: 16,
        }
        .encode();
        assert!(Request::decode(k, &p).is_err());
    }

    #[test]
    fn every_message_round_trips_and_truncation_fails() {
        let env = Envelope {
            sender: "a@example.com".into(),
            arrival: 1_700_000_000,
            arrival_usec: 250_000,
            body: Body::EightBitMime,
            smtputf8: true,
            ret: Some(Ret::Headers),
            envid: Some("xyz".into()),
            attributes: vec![("client_address".into(), "127.0.0.1".into())],
            recipients: vec![
                Recipient {
                    address: "b@example.com".into(),
                    orcpt: Some("rfc822;b@example.com".into()),
                    notify: notify::FAILURE | notify::DELAY,
                },
                Recipient {
                    address: "c@example.com".into(),
                    orcpt: None,
                    notify: 0,
                },
            ],
        };
        let reqs = [
            Request::Open {
                source: Source::Pickup,
                flags: flags::EXTRACT_RECIPIENTS,
            },
            Request::Envelope(env),
            Request::Content(b"Subject: x\r\n\r\nbody\r\n".to_vec()),
            Request::End,
        ];
        for r in &reqs {
            let (k, p) = r.encode();
            assert_eq!(&Request::decode(k, &p).unwrap(), r);
            if !matches!(r, Request::Content(_)) {
                for cut in 0..p.len() {
                    assert!(Request::decode(k, &p[..cut]).is_err(), "{r:?} cut at {cut}");
                }
            }
        }
        for r in [
            Reply::Opened {
                queue_id: "4Xk2mN2VXxz".into(),
            },
            Reply::Done {
                status: Status::Rejected,
                text: "550 5.7.1 no".into(),
            },
        ] {
            let (k, p) = r.encode();
            assert_eq!(Reply::decode(k, &p).unwrap(), r);
        }
        let (k, p) = Reply::Opened {
            queue_id: "../etc".into(),
        }
        .encode();
        assert!(
            Reply::decode(k, &p).is_err(),
            "a queue id must be a plain name"
        );
    }
}

/// The client side of the protocol, for smtpd, pickup, bounce and local.
/// Frames are buffered and content is sent in frames of
/// [`CONTENT_CHUNK`] bytes however small the pieces given to
/// [`Client::content`] are; everything buffered goes out before waiting
/// for a reply. Dropping a client before [`Client::end`] closes the
/// connection, and cleanup removes the unfinished queue file.
pub struct Client<S: std::io::Read + std::io::Write> {
    stream: crate::frame::Duplex<S>,
    /// Encoded frames not yet written.
    out: Vec<u8>,
    /// Content bytes not yet framed (less than [`CONTENT_CHUNK`]).
    pending: Vec<u8>,
    /// The connection's time limit, while one message waits longer.
    usual_wait: Option<std::time::Duration>,
}

/// Why a conversation with cleanup failed.
#[derive(Debug)]
pub enum ClientError {
    /// The socket (named) could not be reached.
    Connect(String, std::io::Error),
    Io(std::io::Error),
    Protocol(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Connect(path, e) => {
                write!(f, "connect to {path}: {}", util::strerror(e))
            }
            ClientError::Io(e) => write!(f, "{}", util::strerror(e)),
            ClientError::Protocol(p) => write!(f, "protocol error: {p}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// Bytes per Content frame.
pub const CONTENT_CHUNK: usize = 64 * 1024;

impl Client<std::os::unix::net::UnixStream> {
    /// Connects to cleanup's socket.
    pub fn connect(
        path: &std::path::Path,
        timeout: std::time::Duration,
    ) -> Result<Self, ClientError> {
        let s = std::os::unix::net::UnixStream::connect(path)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        Ok(Client::new(s))
    }

    /// One whole message from the mail system itself (a forwarded copy, a
    /// notice): source Internal, no content checks. Returns the queue ID
    /// and cleanup's verdict.
    pub fn submit(
        path: &std::path::Path,
        timeout: std::time::Duration,
        envelope: Envelope,
        content: &[u8],
    ) -> Result<(String, Status, String), ClientError> {
        let mut c = Client::connect(path, timeout)?;
        let id = c.open(Source::Internal, flags::NO_CHECKS)?;
        c.envelope(envelope)?;
        c.content(content)?;
        let (status, text) = c.end()?;
        Ok((id, status, text))
    }

    /// Connects to `queue_dir/public/<service>`, or `private/<service>`
    /// when master.cf marks the service private; a failure names the path.
    pub fn connect_service(
        queue_dir: &std::path::Path,
        service: &str,
        timeout: std::time::Duration,
    ) -> Result<Self, ClientError> {
        let public = socket_path(queue_dir, service);
        let private = queue_dir.join("private").join(service);
        let path = if !public.exists() && private.exists() {
            private
        } else {
            public
        };
        Client::connect(&path, timeout).map_err(|e| match e {
            ClientError::Io(e) => ClientError::Connect(path.display().to_string(), e),
            other => other,
        })
    }
}

impl Client<std::os::unix::net::UnixStream> {
    /// Waits `more` longer than the connection's time limit for this
    /// message's verdict.
    pub fn wait_longer(&mut self, more: std::time::Duration) {
        let s = self.stream.get_ref();
        if let Ok(Some(t)) = s.read_timeout() {
            let base = *self.usual_wait.get_or_insert(t);
            let _ = s.set_read_timeout(Some(base.saturating_add(more)));
        }
    }

    /// Back to the connection's own time limit after [`Client::wait_longer`].
    pub fn usual_wait(&mut self) {
        if let Some(t) = self.usual_wait.take() {
            let _ = self.stream.get_ref().set_read_timeout(Some(t));
        }
    }

    /// Hands smtpd's milter conversations over with their sockets
    /// (`sockets[i]` is `list[i]`'s), before the envelope.
    pub fn milters(
        &mut self,
        list: Vec<PassedMilter>,
        sockets: &[std::os::fd::RawFd],
    ) -> Result<(), ClientError> {
        if list.len() != sockets.len() || list.len() > MAX_PASSED_MILTERS {
            return Err(ClientError::Protocol(
                "milters and sockets do not match".into(),
            ));
        }
        self.flush_content()?;
        self.write_out()?;
        let (k, p) = Request::Milters(list).encode();
        let mut frame = Vec::new();
        crate::frame::write_frame(&mut frame, k, &p)?;
        if sockets.is_empty() {
            self.stream.write_all(&frame)?;
            return Ok(());
        }
        util::socket::send_with_fds(self.stream.get_ref(), &frame, sockets)?;
        Ok(())
    }
}

impl<S: std::io::Read + std::io::Write> Client<S> {
    pub fn new(stream: S) -> Self {
        Client {
            stream: crate::frame::Duplex::new(stream),
            out: Vec::new(),
            pending: Vec::new(),
            usual_wait: None,
        }
    }

    fn send(&mut self, r: &Request) -> Result<(), ClientError> {
        let (k, p) = r.encode();
        crate::frame::append_frame(&mut self.out, k, &p)?;
        self.write_full()
    }

    /// Frames the pending content.
    fn flush_content(&mut self) -> Result<(), ClientError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        // Framed straight from the buffer, which is kept for the next
        // chunk (and message): no copies, no 64 KiB allocation per message.
        crate::frame::append_frame(&mut self.out, CONTENT, &self.pending)?;
        self.pending.clear();
        self.write_full()
    }

    /// Writes the frames collected so far once they fill a chunk.
    fn write_full(&mut self) -> Result<(), ClientError> {
        if self.out.len() >= CONTENT_CHUNK {
            self.write_out()?;
        }
        Ok(())
    }

    /// Writes the frames collected so far.
    fn write_out(&mut self) -> Result<(), ClientError> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }

    fn reply(&mut self) -> Result<Reply, ClientError> {
        self.flush_content()?;
        self.write_out()?;
        self.stream.flush()?;
        match crate::frame::read_frame(&mut self.stream) {
            Ok(Some((k, p))) => {
                Reply::decode(k, &p).map_err(|e| ClientError::Protocol(e.to_string()))
            }
            Ok(None) => Err(ClientError::Protocol(
                "cleanup closed the connection".into(),
            )),
            Err(crate::frame::FrameError::Io(e)) => Err(ClientError::Io(e)),
            Err(crate::frame::FrameError::Invalid(e)) => Err(ClientError::Protocol(e.to_string())),
        }
    }

    /// Opens a message; returns its queue ID.
    pub fn open(&mut self, source: Source, flags: u32) -> Result<String, ClientError> {
        self.request_open(source, flags)?;
        self.opened()
    }

    /// Asks for a new message without waiting for the answer, which
    /// [`Client::opened`] reads.
    pub fn request_open(&mut self, source: Source, flags: u32) -> Result<(), ClientError> {
        self.send(&Request::Open { source, flags })?;
        self.write_out()?;
        self.stream.flush()?;
        Ok(())
    }

    /// Cleanup's answer to [`Client::request_open`]: the queue ID.
    pub fn opened(&mut self) -> Result<String, ClientError> {
        match self.reply()? {
            Reply::Opened { queue_id } => Ok(queue_id),
            Reply::Done { text, .. } => Err(ClientError::Protocol(format!("open refused: {text}"))),
        }
    }

    pub fn envelope(&mut self, env: Envelope) -> Result<(), ClientError> {
        self.flush_content()?;
        self.send(&Request::Envelope(env))
    }

    /// Adds message text; it goes out in frames of [`CONTENT_CHUNK`] bytes.
    pub fn content(&mut self, mut bytes: &[u8]) -> Result<(), ClientError> {
        while !bytes.is_empty() {
            if self.pending.capacity() == 0 {
                self.pending.reserve_exact(CONTENT_CHUNK);
            }
            let n = (CONTENT_CHUNK - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.pending.len() == CONTENT_CHUNK {
                self.flush_content()?;
            }
        }
        Ok(())
    }

    /// Access table actions decided after the content (end of data).
    pub fn actions(&mut self, attrs: Vec<(String, String)>) -> Result<(), ClientError> {
        self.flush_content()?;
        self.send(&Request::Actions(attrs))
    }

    /// Ends the message and waits for cleanup's verdict (given only once
    /// the queue file is safe on disk).
    pub fn end(&mut self) -> Result<(Status, String), ClientError> {
        self.flush_content()?;
        self.send(&Request::End)?;
        match self.reply()? {
            Reply::Done { status, text } => Ok((status, text)),
            Reply::Opened { .. } => Err(ClientError::Protocol("unexpected Opened".into())),
        }
    }
}
