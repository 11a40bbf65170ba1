//! One message through cleanup: the protocol of `ipc::cleanup` on one
//! connection, the envelope rewritten, the header completed and checked,
//! the content streamed into a queue file that is durable before the
//! client hears "queued".

use crate::headers::{Event, Header, LineBuffer, Splitter};
use crate::mime::{self, HeaderClass, Mime, PartHeader};
use crate::rewrite::{Context, Rewriter};
use ipc::cleanup::{self as proto, Reply, Request, Source, Status};
use ipc::frame::{read_frame, write_frame};
use maps::checks::{self, Action};
use maps::domains::Classes;
use maps::local_clients::LocalClients;
use maps::{access, MapError, MapList};
use params::{table as p, Config};
use queue::{Envelope, Extracted, HashSpec, Recipient, Timestamp, Writer};
use std::io::{Read, Write};
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::path::PathBuf;

/// The settings cleanup runs with, read once per process.
pub struct Settings {
    pub queue_dir: PathBuf,
    pub hash: HashSpec,
    pub myhostname: String,
    pub mail_name: String,
    pub header_size_limit: usize,
    pub hopcount_limit: usize,
    /// virtual_alias_expansion_limit, virtual_alias_recursion_limit.
    pub virtual_expansion_limit: usize,
    pub virtual_recursion_limit: usize,
    /// virtual_alias_address_length_limit: the longest address an alias
    /// may expand to.
    pub virtual_address_length_limit: usize,
    /// header_address_token_limit: how much of an address header is
    /// parsed for rewriting ([`crate::tokens::limited`]).
    pub header_token_limit: usize,
    /// smtputf8_autodetect_classes (with smtputf8_enable): the mail that is
    /// flagged SMTPUTF8 when its envelope or headers hold UTF-8, as bits of
    /// [`utf8_class`].
    pub smtputf8_autodetect: u8,
    /// detect_8bit_encoding_header: `Content-Transfer-Encoding: 8bit` (or
    /// binary) makes the message's encoding 8bit.
    pub detect_8bit_header: bool,
    pub line_length_limit: usize,
    pub message_size_limit: u64,
    pub always_add_missing_headers: bool,
    /// message_drop_headers: header names removed from every message
    /// (lowercase), after header_checks and before the milters.
    pub drop_headers: Vec<String>,
    /// undisclosed_recipients_header: added, where missing headers are, to a
    /// message with no To: or Cc: (nor Resent-To:, Resent-Cc:).
    pub undisclosed_recipients_header: String,
    pub local_clients: LocalClients,
    pub rewriter: Rewriter,
    pub header_checks: MapList,
    /// mime_header_checks: part headers and MIME headers anywhere.
    pub mime_header_checks: MapList,
    /// nested_header_checks: the headers of attached messages.
    pub nested_header_checks: MapList,
    pub body_checks: MapList,
    /// disable_mime_input_processing.
    pub disable_mime: bool,
    /// header_from_format = obsolete: an added From: is `address (name)`.
    pub obsolete_from_format: bool,
    /// message_reject_characters, message_strip_characters (None: empty).
    pub reject_characters: Option<util::byteset::ByteSet>,
    pub strip_characters: Option<util::byteset::ByteSet>,
    /// Milter settings from main.cf, for the milters smtpd names (its
    /// service's smtpd_milters, sent with each message).
    pub milter_defaults: milter::Defaults,
    /// non_smtpd_milters (mail from pickup).
    pub non_smtpd_milters: Vec<milter::Spec>,
    /// milter_macro_daemon_name, for mail from pickup.
    pub milter_daemon_name: String,
    pub mime_nesting_limit: usize,
    pub mime_boundary_length_limit: usize,
    /// body_checks_size_limit: how much of the body body_checks read.
    pub body_checks_size_limit: u64,
    pub canonical_maps: MapList,
    pub sender_canonical_maps: MapList,
    pub recipient_canonical_maps: MapList,
    pub virtual_alias_maps: MapList,
    /// always_bcc, sender_bcc_maps, recipient_bcc_maps: blind copies.
    pub always_bcc: String,
    /// `enable_original_recipient`: each recipient's address before
    /// rewriting is kept (X-Original-To:, DSN, orig_to=).
    pub keep_original: bool,
    /// `duplicate_filter_limit`: how many recipients the duplicate filter
    /// remembers (0: all).
    pub duplicate_filter_limit: usize,
    /// `canonical_classes`, `sender_canonical_classes`,
    /// `recipient_canonical_classes`, `masquerade_classes`: where each
    /// rewriting applies.
    address_classes: RewriteClasses,
    /// `queue_file_attribute_count_limit`: the most named attributes one
    /// message may bring.
    pub attribute_limit: usize,
    /// `verp_delimiter_filter`: the characters a VERP request may use.
    pub verp_filter: String,
    /// `strict_7bit_headers` (or `strict_8bitmime`): 8-bit text in a
    /// header refuses the message (unless it asked for SMTPUTF8).
    pub strict_7bit_headers: bool,
    /// `strict_8bitmime_body` (or `strict_8bitmime`): 8-bit text in a body
    /// whose encoding says 7-bit refuses the message.
    pub strict_8bit_body: bool,
    /// `strict_mime_encoding_domain`: a multipart or message entity that
    /// says quoted-printable or base64 refuses the message.
    pub strict_encoding_domain: bool,
    pub sender_bcc_maps: MapList,
    pub recipient_bcc_maps: MapList,
    /// recipient_delimiter: the extensions cut off for address look-ups.
    pub recipient_delimiter: String,
    /// The local domains (with the rewriter's myorigin), whose addresses
    /// are also looked up by their user part.
    pub classes: Classes,
    /// propagate_unmatched_extensions lists canonical, virtual.
    pub propagate_canonical: bool,
    pub propagate_virtual: bool,
    pub qmgr_socket: PathBuf,
    /// `delay_warning_time`; zero: no delay warnings.
    pub delay_warning: u64,
    /// `in_flow_delay`: how long to wait for a flow token before a message.
    pub in_flow_delay: std::time::Duration,
    /// The queue manager's flow-token pipe, once it exists.
    flow: std::sync::Mutex<Option<ipc::flow::Flow>>,
}

impl Settings {
    /// Postfix's flow control: before a new message, take a token from the
    /// queue manager, waiting at most `in_flow_delay` for one, then go on
    /// anyway. No pipe yet (no queue manager has run): no wait.
    fn wait_for_flow_token(&self) {
        if self.in_flow_delay.is_zero() {
            return;
        }
        let mut flow = self.flow.lock().unwrap_or_else(|e| e.into_inner());
        if flow.is_none() {
            *flow = ipc::flow::Flow::open(&self.queue_dir).ok();
        }
        if let Some(f) = flow.as_ref() {
            f.take(self.in_flow_delay);
        }
    }
}

/// The kinds of mail smtputf8_autodetect_classes names, as bits.
pub mod utf8_class {
    /// Mail posted with sendmail (pickup).
    pub const SENDMAIL: u8 = 1;
    /// Mail from smtpd whose client did not ask for SMTPUTF8.
    pub const SMTPD: u8 = 2;
    /// The mail system's own mail other than probes: forwarded mail,
    /// bounces and notices to the postmaster (cleanup cannot tell these
    /// three apart: each of `forward`, `bounce` and `notify` names them all).
    pub const INTERNAL: u8 = 4;
    /// Address verification probes.
    pub const VERIFY: u8 = 8;

    /// The bits of a smtputf8_autodetect_classes value; unknown names are
    /// returned apart (`qmqpd` names mail mailsuite never receives).
    pub fn parse(words: &[String]) -> (u8, Vec<String>) {
        let mut bits = 0;
        let mut unknown = Vec::new();
        for w in words {
            bits |= match w.to_ascii_lowercase().as_str() {
                "sendmail" => SENDMAIL,
                "smtpd" => SMTPD,
                "forward" | "bounce" | "notify" => INTERNAL,
                "verify" => VERIFY,
                "qmqpd" => 0,
                "all" => SENDMAIL | SMTPD | INTERNAL | VERIFY,
                _ => {
                    unknown.push(w.clone());
                    0
                }
            };
        }
        (bits, unknown)
    }
}

/// Whether an address makes mail of an autodetect class need SMTPUTF8
/// (Postfix: not ASCII, and valid UTF-8, which a `str` always is).
fn utf8_address(addr: &str) -> bool {
    !addr.is_ascii()
}

/// A set of characters parameter; None when empty.
fn byte_set(cfg: &Config, param: &params::Param) -> Option<util::byteset::ByteSet> {
    Some(util::byteset::ByteSet::parse(cfg.str(param))).filter(|s| !s.is_empty())
}

/// An address's place: the envelope or a header, sender or recipient
/// (Postfix's address classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AddrPlace {
    EnvelopeSender,
    EnvelopeRecipient,
    HeaderSender,
    HeaderRecipient,
}

/// The places each rewriting applies to, as bits of [`AddrPlace`].
#[derive(Debug, Clone, Copy)]
struct RewriteClasses {
    canonical: u8,
    sender_canonical: u8,
    recipient_canonical: u8,
    masquerade: u8,
}

impl RewriteClasses {
    fn from_config(cfg: &Config) -> RewriteClasses {
        let bits = |param: &params::Param| {
            cfg.list(param).iter().fold(0u8, |b, w| {
                b | match w.to_ascii_lowercase().as_str() {
                    "envelope_sender" => 1 << AddrPlace::EnvelopeSender as u8,
                    "envelope_recipient" => 1 << AddrPlace::EnvelopeRecipient as u8,
                    "header_sender" => 1 << AddrPlace::HeaderSender as u8,
                    "header_recipient" => 1 << AddrPlace::HeaderRecipient as u8,
                    other => {
                        maillog::warning!("{}: unknown address class \"{other}\"", param.name);
                        0
                    }
                }
            })
        };
        RewriteClasses {
            canonical: bits(&p::CANONICAL_CLASSES),
            sender_canonical: bits(&p::SENDER_CANONICAL_CLASSES),
            recipient_canonical: bits(&p::RECIPIENT_CANONICAL_CLASSES),
            masquerade: bits(&p::MASQUERADE_CLASSES),
        }
    }
}

fn applies(classes: u8, place: AddrPlace) -> bool {
    classes & (1 << place as u8) != 0
}

impl Settings {
    /// An address in `place` through the canonical maps its classes name
    /// (the sender's or recipients' own table first, then canonical_maps)
    /// and masquerading.
    fn map_address(&self, addr: &str, place: AddrPlace) -> String {
        let c = &self.address_classes;
        let own = match place {
            AddrPlace::EnvelopeSender | AddrPlace::HeaderSender
                if applies(c.sender_canonical, place) =>
            {
                Some(&self.sender_canonical_maps)
            }
            AddrPlace::EnvelopeRecipient | AddrPlace::HeaderRecipient
                if applies(c.recipient_canonical, place) =>
            {
                Some(&self.recipient_canonical_maps)
            }
            _ => None,
        };
        let mut a = match own {
            Some(list) => self.canonical(list, addr),
            None => addr.to_string(),
        };
        if applies(c.canonical, place) {
            a = self.canonical(&self.canonical_maps, &a);
        }
        if applies(c.masquerade, place) {
            a = self.rewriter.masquerade(&a);
        }
        a
    }

    pub fn from_config(cfg: &Config, queue_dir: PathBuf) -> Settings {
        let ctx = maps::Ctx::new();
        let list = |param: &params::Param| MapList::open_lenient(param.name, cfg.str(param), &ctx);
        let propagate = cfg.list(&p::PROPAGATE_UNMATCHED_EXTENSIONS);
        let (classes, warnings) = Classes::from_config(cfg);
        for w in warnings {
            maillog::warning!("{w}");
        }
        let propagates = |what: &str| propagate.iter().any(|w| w.eq_ignore_ascii_case(what));
        let (utf8_classes, unknown) = utf8_class::parse(&cfg.list(&p::SMTPUTF8_AUTODETECT_CLASSES));
        for w in unknown {
            maillog::warning!(
                "{}: unknown mail class \"{w}\"",
                p::SMTPUTF8_AUTODETECT_CLASSES.name
            );
        }
        Settings {
            hash: HashSpec::from_config(cfg),
            myhostname: cfg.str(&p::MYHOSTNAME).to_string(),
            mail_name: cfg.str(&p::MAIL_NAME).to_string(),
            header_size_limit: cfg.int(&p::HEADER_SIZE_LIMIT).max(1) as usize,
            hopcount_limit: cfg.int(&p::HOPCOUNT_LIMIT).max(1) as usize,
            virtual_expansion_limit: cfg.int(&p::VIRTUAL_ALIAS_EXPANSION_LIMIT).max(1) as usize,
            virtual_recursion_limit: cfg.int(&p::VIRTUAL_ALIAS_RECURSION_LIMIT).max(1) as usize,
            virtual_address_length_limit: cfg.int(&p::VIRTUAL_ALIAS_ADDRESS_LENGTH_LIMIT).max(1)
                as usize,
            header_token_limit: cfg.int(&p::HEADER_ADDRESS_TOKEN_LIMIT).max(1) as usize,
            smtputf8_autodetect: if cfg.bool(&p::SMTPUTF8_ENABLE) {
                utf8_classes
            } else {
                0
            },
            detect_8bit_header: cfg.bool(&p::DETECT_8BIT_ENCODING_HEADER),
            line_length_limit: cfg.int(&p::LINE_LENGTH_LIMIT).max(1) as usize,
            message_size_limit: cfg.size(&p::MESSAGE_SIZE_LIMIT),
            always_add_missing_headers: cfg.bool(&p::ALWAYS_ADD_MISSING_HEADERS),
            drop_headers: cfg
                .list(&p::MESSAGE_DROP_HEADERS)
                .iter()
                .map(|n| n.to_ascii_lowercase())
                .collect(),
            undisclosed_recipients_header: cfg
                .str(&p::UNDISCLOSED_RECIPIENTS_HEADER)
                .trim()
                .to_string(),
            local_clients: LocalClients::new(
                &cfg.list(&p::LOCAL_HEADER_REWRITE_CLIENTS),
                &cfg.list(&p::MYNETWORKS),
            ),
            rewriter: Rewriter::new(cfg),
            header_checks: list(&p::HEADER_CHECKS),
            mime_header_checks: list(&p::MIME_HEADER_CHECKS),
            nested_header_checks: list(&p::NESTED_HEADER_CHECKS),
            body_checks: list(&p::BODY_CHECKS),
            disable_mime: cfg.bool(&p::DISABLE_MIME_INPUT_PROCESSING),
            obsolete_from_format: cfg
                .str(&p::HEADER_FROM_FORMAT)
                .trim()
                .eq_ignore_ascii_case("obsolete"),
            reject_characters: byte_set(cfg, &p::MESSAGE_REJECT_CHARACTERS),
            strip_characters: byte_set(cfg, &p::MESSAGE_STRIP_CHARACTERS),
            milter_defaults: milter::Defaults::from_config(cfg),
            non_smtpd_milters: milter::parse_list(
                cfg.str(&p::NON_SMTPD_MILTERS),
                p::NON_SMTPD_MILTERS.name,
                &milter::Defaults::from_config(cfg),
                &queue_dir,
            ),
            milter_daemon_name: cfg.str(&p::MILTER_MACRO_DAEMON_NAME).trim().to_string(),
            mime_nesting_limit: cfg.int(&p::MIME_NESTING_LIMIT).max(1) as usize,
            mime_boundary_length_limit: cfg.int(&p::MIME_BOUNDARY_LENGTH_LIMIT).max(1) as usize,
            body_checks_size_limit: cfg.int(&p::BODY_CHECKS_SIZE_LIMIT).max(0) as u64,
            canonical_maps: list(&p::CANONICAL_MAPS),
            sender_canonical_maps: list(&p::SENDER_CANONICAL_MAPS),
            recipient_canonical_maps: list(&p::RECIPIENT_CANONICAL_MAPS),
            virtual_alias_maps: list(&p::VIRTUAL_ALIAS_MAPS),
            always_bcc: cfg.str(&p::ALWAYS_BCC).trim().to_string(),
            keep_original: cfg.bool(&p::ENABLE_ORIGINAL_RECIPIENT),
            duplicate_filter_limit: usize::try_from(cfg.int(&p::DUPLICATE_FILTER_LIMIT))
                .unwrap_or(0),
            address_classes: RewriteClasses::from_config(cfg),
            attribute_limit: usize::try_from(cfg.int(&p::QUEUE_FILE_ATTRIBUTE_COUNT_LIMIT))
                .unwrap_or(usize::MAX),
            verp_filter: cfg.str(&p::VERP_DELIMITER_FILTER).to_string(),
            strict_7bit_headers: cfg.bool(&p::STRICT_7BIT_HEADERS) || cfg.bool(&p::STRICT_8BITMIME),
            strict_8bit_body: cfg.bool(&p::STRICT_8BITMIME_BODY) || cfg.bool(&p::STRICT_8BITMIME),
            strict_encoding_domain: cfg.bool(&p::STRICT_MIME_ENCODING_DOMAIN),
            sender_bcc_maps: list(&p::SENDER_BCC_MAPS),
            recipient_bcc_maps: list(&p::RECIPIENT_BCC_MAPS),
            recipient_delimiter: cfg.str(&p::RECIPIENT_DELIMITER).to_string(),
            classes,
            propagate_canonical: propagates("canonical"),
            propagate_virtual: propagates("virtual"),
            qmgr_socket: queue_dir
                .join("public")
                .join(cfg.str(&p::QUEUE_SERVICE_NAME)),
            delay_warning: cfg.time(&p::DELAY_WARNING_TIME).as_secs(),
            in_flow_delay: cfg.time(&p::IN_FLOW_DELAY),
            flow: std::sync::Mutex::new(None),
            queue_dir,
        }
    }
}

/// Why a message is not queued.
enum Outcome {
    Reject(String),
    TryAgain(String),
    Discard,
}

const WRITE_ERROR: &str = "451 4.3.0 Error: queue file write error";

/// Postfix's reply when a virtual alias expansion goes past its limits.
const ALIAS_EXPANSION_ERROR: &str = "451 4.6.0 Alias expansion error";

/// Why a virtual_alias_maps expansion failed: the message must wait.
#[derive(Debug)]
enum Expansion {
    /// A table could not answer.
    Table(String),
    /// More than virtual_alias_expansion_limit addresses.
    TooBig,
    /// Nested deeper than virtual_alias_recursion_limit.
    TooDeep,
    /// A result longer than virtual_alias_address_length_limit.
    TooLong(String),
}

/// Logs a failed virtual_alias_maps expansion of `addr`; the message
/// must wait. Postfix: never deliver to the unexpanded address when the
/// table could not say (an SQL server down), nor a part of an expansion
/// past its limits.
fn expansion_failure(id: &str, addr: &str, e: Expansion) -> Outcome {
    if let Expansion::TooLong(result) = e {
        // Postfix's cleanup_map1n: the result, cut at 300 characters.
        let shown: String = result.chars().take(300).collect();
        maillog::warning!(
            "{id}: unreasonable virtual_alias_maps result {shown}... -- message not accepted, try again later"
        );
        return Outcome::TryAgain(ALIAS_EXPANSION_ERROR.into());
    }
    let (what, reply) = match e {
        Expansion::Table(e) => (format!("map lookup problem for {addr}: {e}"), WRITE_ERROR),
        Expansion::TooBig => (
            format!("map expansion size for {addr} is unreasonable"),
            ALIAS_EXPANSION_ERROR,
        ),
        Expansion::TooDeep | Expansion::TooLong(_) => (
            format!("map nesting for {addr} is unreasonable"),
            ALIAS_EXPANSION_ERROR,
        ),
    };
    maillog::warning!("{id}: virtual_alias_maps {what} -- message not accepted, try again later");
    Outcome::TryAgain(reply.into())
}

/// A full name with its line breaks made spaces, as Postfix enforces
/// (it is the user's text, and must not start header lines of its own).
fn one_line(full: &str) -> String {
    full.replace(['\r', '\n'], " ")
}

/// A full name as the phrase of `From: phrase <address>`: quoted when it
/// has RFC 5322 specials (or `%`), so that it stays one display name.
fn from_phrase(full: &str) -> String {
    let full = one_line(full);
    if !full.contains(|c| "()<>[]:;@\\,.\"%".contains(c)) {
        return full;
    }
    let mut q = String::from("\"");
    for c in full.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// A full name as the comment of `From: address (comment)`, its
/// parentheses and backslashes escaped so that the comment ends where it
/// should.
fn from_comment(full: &str) -> String {
    let mut out = String::new();
    for c in one_line(full).chars() {
        if matches!(c, '(' | ')' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn send(conn: &mut impl Write, reply: &Reply) -> std::io::Result<()> {
    let (k, p) = reply.encode();
    write_frame(conn, k, &p)?;
    conn.flush()
}

fn next(conn: &mut impl Read) -> Result<Option<Request>, String> {
    match read_frame(conn) {
        Ok(None) => Ok(None),
        Ok(Some((k, p))) => Request::decode(k, &p).map(Some).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// A client's connection: read through a buffer, keeping the sockets
/// smtpd passes along (its milter conversations).
pub type Connection<S> = ipc::frame::Duplex<util::socket::FdReceiving<S>>;

/// How long cleanup waits for the next message on a connection whose
/// client sent one (smtpd keeps its connection for its next session).
pub const NEXT_MESSAGE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Serves one connection: a message, and more as long as the client sends
/// the next within [`NEXT_MESSAGE_WAIT`] of the last one's end (a client
/// that abandons a message closes the connection). `ready(timeout)` waits
/// for the connection to have something to read.
pub fn serve<S: AsFd + Write>(
    s: &Settings,
    conn: &mut Connection<S>,
    ready: impl Fn(std::time::Duration) -> bool,
) {
    let mut first = true;
    loop {
        if !first && conn.buffered() == 0 && !ready(NEXT_MESSAGE_WAIT) {
            return;
        }
        let (source, flags) = match next(conn) {
            Ok(Some(Request::Open { source, flags })) => (source, flags),
            Ok(None) => return,
            Ok(Some(_)) => {
                maillog::warning!("cleanup: protocol error: the first request must open a message");
                return;
            }
            // Between messages a timeout (or a reset) only ends the connection.
            Err(_) if !first => return,
            Err(e) => {
                maillog::warning!("cleanup: bad request: {e}");
                return;
            }
        };
        first = false;
        if !serve_message(s, conn, source, flags) {
            return;
        }
    }
}

/// One message; true when it ended with cleanup's verdict sent, so that the
/// client may send another.
fn serve_message<S: AsFd + Write>(
    s: &Settings,
    conn: &mut Connection<S>,
    source: Source,
    flags: u32,
) -> bool {
    s.wait_for_flow_token();
    let mut writer = match Writer::create_in_queue(&s.queue_dir, "incoming", &s.hash) {
        Ok(w) => w,
        Err(e) => {
            maillog::warning!("create queue file: {e}");
            let _ = send(
                conn,
                &Reply::Done {
                    status: Status::TryAgain,
                    text: WRITE_ERROR.into(),
                },
            );
            return false;
        }
    };
    let id = writer.id().to_string();
    if send(
        conn,
        &Reply::Opened {
            queue_id: id.clone(),
        },
    )
    .is_err()
    {
        return false;
    }
    // smtpd's milter conversations come first, their sockets with them.
    let mut request = next(conn);
    let mut live = Vec::new();
    if let Ok(Some(Request::Milters(list))) = request {
        let sockets = conn.get_mut().take_passed();
        match passed_milters(s, list, sockets) {
            Some(l) if source == Source::Smtpd => live = l,
            Some(_) => {
                maillog::warning!("{id}: cleanup: protocol error: milters passed by {source:?}");
                return false;
            }
            None => return false,
        }
        request = next(conn);
    }
    let env = match request {
        Ok(Some(Request::Envelope(e))) => e,
        // The client went away (RSET, lost connection): the writer removes the file.
        Ok(None) => return false,
        Ok(Some(_)) => {
            maillog::warning!("{id}: cleanup: protocol error: expected the envelope");
            return false;
        }
        Err(e) => {
            maillog::warning!("{id}: cleanup: bad envelope: {e}");
            return false;
        }
    };
    let mut msg = Message::new(s, &id, source, flags, &env, live);
    let outcome = msg.run(conn, &mut writer);
    let reply = match outcome {
        Ok(()) => match msg.finish(writer) {
            Ok(()) => Reply::Done {
                status: Status::Queued,
                text: String::new(),
            },
            Err(e) => {
                maillog::warning!("{id}: {e}");
                Reply::Done {
                    status: Status::TryAgain,
                    text: WRITE_ERROR.into(),
                }
            }
        },
        Err(why) => {
            // Remove the unfinished file before anyone hears the outcome.
            drop(writer);
            match why {
                None => return false,
                Some(Outcome::Reject(text)) => Reply::Done {
                    status: Status::Rejected,
                    text,
                },
                Some(Outcome::TryAgain(text)) => Reply::Done {
                    status: Status::TryAgain,
                    text,
                },
                Some(Outcome::Discard) => Reply::Done {
                    status: Status::Discarded,
                    text: String::new(),
                },
            }
        }
    };
    if send(conn, &reply).is_err() {
        return false;
    }
    if matches!(
        reply,
        Reply::Done {
            status: Status::Queued,
            ..
        }
    ) {
        wake_qmgr(&s.qmgr_socket);
    }
    true
}

/// Tells the queue manager new mail arrived, without ever waiting for it:
/// it may not run yet, or have wake-ups pending already.
fn wake_qmgr(path: &std::path::Path) {
    let _ = ipc::trigger::send(path, &[ipc::trigger::SCAN_INCOMING]);
}

/// A milter this message meets: one of non_smtpd_milters, shown the
/// whole session now, or a conversation smtpd handed over at DATA.
enum Milter {
    Replay(milter::Spec),
    Live(Box<milter::Session>),
}

impl Milter {
    fn spec(&self) -> &milter::Spec {
        match self {
            Milter::Replay(spec) => spec,
            Milter::Live(session) => session.spec(),
        }
    }

    /// Shows the message; a live conversation that fails is shut down
    /// (smtpd, which shares it, then sees it broken).
    fn inspect(
        &mut self,
        msg: &mut milter::Message,
    ) -> Result<milter::Verdict, milter::MilterError> {
        match self {
            Milter::Replay(spec) => milter::inspect(spec, msg),
            Milter::Live(session) => {
                let mut work = msg.clone();
                let v = session.message(&mut work);
                match &v {
                    Err(_) => {
                        let _ = session.socket().shutdown();
                    }
                    Ok(milter::Verdict::Continue | milter::Verdict::Hold(_)) => *msg = work,
                    Ok(_) => {}
                }
                v
            }
        }
    }
}

/// The milter conversations smtpd handed over with `list` and their
/// sockets; None (and a warning) when they do not match.
fn passed_milters(
    s: &Settings,
    list: Vec<proto::PassedMilter>,
    sockets: Vec<std::os::fd::OwnedFd>,
) -> Option<Vec<milter::Session>> {
    if list.len() != sockets.len() {
        maillog::warning!(
            "cleanup: protocol error: {} milters passed with {} sockets",
            list.len(),
            sockets.len()
        );
        return None;
    }
    let mut out = Vec::new();
    for (m, fd) in list.into_iter().zip(sockets) {
        let socket = match util::socket::Socket::from_fd(fd) {
            Ok(s) => s,
            Err(e) => {
                maillog::warning!("cleanup: passed milter {}: {e}", m.entry);
                return None;
            }
        };
        let mut spec = match milter::Spec::parse(&m.entry, &s.milter_defaults, &s.queue_dir) {
            Ok(spec) => spec,
            Err(e) => {
                maillog::warning!("cleanup: passed milter: {e}");
                return None;
            }
        };
        // The smtpd service's settings, not cleanup's main.cf ones.
        spec.command_timeout = std::time::Duration::from_secs(m.command_timeout);
        spec.content_timeout = std::time::Duration::from_secs(m.content_timeout);
        spec.default_action =
            milter::DefaultAction::parse(&m.default_action).unwrap_or(spec.default_action);
        let handoff = milter::Handoff {
            protocol: m.protocol,
            macro_lists: m.macros.map(|l| milter::Macros::list(&l)),
        };
        match milter::Session::resume(&spec, socket, handoff) {
            Ok(session) => out.push(session),
            Err(e) => {
                maillog::warning!("cleanup: passed milter {}: {e}", spec.name);
                return None;
            }
        }
    }
    Some(out)
}

/// The state of one message while its content streams in.
struct Message<'a> {
    s: &'a Settings,
    id: &'a str,
    source: Source,
    flags: u32,
    local: bool,
    qenv: Envelope,
    log_from: String,
    lines: LineBuffer,
    splitter: Splitter,
    headers: Vec<Header>,
    in_body: bool,
    size: u64,
    too_big: bool,
    held: bool,
    /// Body bytes body_checks has read.
    body_checked: u64,
    /// Where the body is in its MIME structure.
    mime: Mime,
    /// The milters this message meets (smtpd_milters or non_smtpd_milters);
    /// with any, the content is spooled here until they have seen it.
    milters: Vec<Milter>,
    /// The {daemon_name} the milters are told.
    milter_daemon_name: String,
    spool: Option<Vec<u8>>,
    decision: Option<Outcome>,
    extracted: Extracted,
    message_id: Option<String>,
    /// A Resent-Message-Id: header's value, or the one cleanup added.
    resent_message_id: Option<String>,
    /// The message has Resent- headers (Resent-From:, Resent-To: …): it is
    /// being resent, so sendmail -t takes the Resent-To:, Resent-Cc: and
    /// Resent-Bcc: addresses, and a missing Resent-Message-Id:,
    /// Resent-Date: or Resent-From: is added instead of its plain form,
    /// as Postfix's cleanup does.
    resent: bool,
    /// The values of To:, Cc: and Bcc: for sendmail -t, each with whether
    /// its addresses are still to be rewritten as the header's were: taken
    /// at the end of the headers, once it is known whether the message is
    /// being resent.
    plain_recipients: Vec<(String, bool)>,
    /// The same of Resent-To:, Resent-Cc: and Resent-Bcc:.
    resent_recipients: Vec<(String, bool)>,
    /// The Received: header's `for <…>`: the one recipient the client
    /// gave, as it gave it (before aliases, REDIRECT and blind copies), as
    /// Postfix's smtpd writes it.
    received_for: Option<String>,
    /// smtputf8_autodetect_classes names this mail's class: UTF-8 in its
    /// envelope or headers flags it SMTPUTF8.
    autodetect_utf8: bool,
    /// The envelope is in the queue file (it waits for the end of the
    /// primary headers, which may still change its SMTPUTF8 flag and
    /// encoding).
    envelope_written: bool,
    /// The recipients taken from the headers so far (sendmail -t), to
    /// add each once however many there are.
    extracted_seen: std::collections::HashSet<String>,
    /// A MIME part's header declared 8-bit content after the envelope went
    /// out: the extracted segment says `encoding=8bit`.
    late_8bit: bool,
}

fn attribute<'e>(env: &'e proto::Envelope, name: &str) -> Option<&'e str> {
    env.attribute(name)
}

impl<'a> Message<'a> {
    fn new(
        s: &'a Settings,
        id: &'a str,
        source: Source,
        flags: u32,
        env: &proto::Envelope,
        live: Vec<milter::Session>,
    ) -> Message<'a> {
        let client_ip: Option<IpAddr> =
            attribute(env, "client_address").and_then(|a| a.parse().ok());
        let local = match (source, attribute(env, "rewrite_context")) {
            (Source::Pickup | Source::Internal, _) => true,
            // What XFORWARD's SOURCE told smtpd of mail a content filter
            // hands back.
            (Source::Smtpd, Some(context)) => context == "local",
            (Source::Smtpd, None) => s
                .local_clients
                .is_local(client_ip, attribute(env, "sasl_username").is_some()),
        };
        let ctx = if local {
            Context::Local
        } else {
            Context::Remote
        };
        // receive_override_options = no_address_mappings (before a content
        // filter: the mail comes back through another entry point that
        // maps it): no canonical maps, masquerading, blind copies or
        // virtual aliases, in the envelope or the headers.
        let mappings = flags & proto::flags::NO_ADDRESS_MAPPINGS == 0;
        let mut sender = s.rewriter.canonical(&env.sender, ctx);
        if !sender.is_empty() && mappings {
            sender = s.map_address(&sender, AddrPlace::EnvelopeSender);
        }
        // smtpd's access table actions (from smtpd only).
        let action = |name: &'static str| {
            env.attributes
                .iter()
                .filter(move |(n, _)| source == Source::Smtpd && n == name)
                .map(|(_, v)| v.as_str())
        };
        let hold_action = action(proto::ACTION_HOLD).next().is_some();
        let mut recipients = Vec::new();
        let mut dups = Duplicates::new(s.duplicate_filter_limit);
        let mut decision = action(proto::ACTION_DISCARD)
            .next()
            .map(|_| Outcome::Discard);
        if env.attributes.len() > s.attribute_limit {
            maillog::warning!(
                "{id}: message rejected: attribute count exceeds limit {}",
                s.attribute_limit
            );
            decision = Some(Outcome::TryAgain("451 4.3.0 Error: internal error".into()));
        }
        // Blind copies (not of the mail system's own notices): always_bcc,
        // sender_bcc_maps by the sender, recipient_bcc_maps by each
        // recipient; each only once, never told of its fate (NOTIFY=NEVER).
        let copies = source != Source::Internal && mappings;
        let mut bcc: Vec<String> = Vec::new();
        if copies {
            if !s.always_bcc.is_empty() {
                bcc.push(s.always_bcc.clone());
            }
            bcc.extend(s.bcc_of(&s.sender_bcc_maps, &sender));
        }
        bcc.extend(action(proto::ACTION_BCC).map(str::to_string));
        // smtputf8_autodetect_classes: the class of this mail.
        let class = match source {
            Source::Pickup => utf8_class::SENDMAIL,
            Source::Smtpd => utf8_class::SMTPD,
            Source::Internal if attribute(env, proto::ADDRESS_VERIFY_PROBE).is_some() => {
                utf8_class::VERIFY
            }
            Source::Internal => utf8_class::INTERNAL,
        };
        let autodetect_utf8 = s.smtputf8_autodetect & class != 0;
        // As Postfix's cleanup_addr_sender and cleanup_addr_recipient: the
        // addresses after canonical mapping, before virtual aliases.
        let mut smtputf8 = env.smtputf8 || (autodetect_utf8 && utf8_address(&sender));
        let mut planned: Vec<(String, Option<&proto::Recipient>)> = Vec::new();
        for r in &env.recipients {
            let mut addr = s.rewriter.canonical(&r.address, ctx);
            if mappings {
                addr = s.map_address(&addr, AddrPlace::EnvelopeRecipient);
            }
            if copies {
                bcc.extend(s.bcc_of(&s.recipient_bcc_maps, &addr));
            }
            planned.push((addr, Some(r)));
        }
        for b in bcc {
            let b = s.rewriter.canonical(&b, ctx);
            if !planned.iter().any(|(a, _)| a.eq_ignore_ascii_case(&b)) {
                planned.push((b, None));
            }
        }
        smtputf8 |= autodetect_utf8 && planned.iter().any(|(a, _)| utf8_address(a));
        // One recipient cannot repeat: the duplicate filter is skipped.
        let single = planned.len() == 1;
        for (addr, r) in planned {
            // Once the table has failed the message waits, so the other
            // recipients are not looked up in it again.
            let expanded = match decision {
                Some(_) => vec![addr.clone()],
                None if !mappings => vec![addr.clone()],
                None => match s.expand_virtual(&addr) {
                    Ok(list) => list,
                    Err(e) => {
                        decision = Some(expansion_failure(id, &addr, e));
                        vec![addr.clone()]
                    }
                },
            };
            let alone = single && expanded.len() == 1;
            // No ORCPT given: the address before virtual aliasing stands in
            // for it, as Postfix's cleanup_addr_recipient records it, so
            // notices and the next hop see where the mail was sent to.
            let orcpt = r.map(|r| {
                r.orcpt.clone().or_else(|| {
                    let utf8 = smtputf8 && !addr.is_ascii();
                    (!addr.is_empty())
                        .then(|| format!("{};{addr}", if utf8 { "utf-8" } else { "rfc822" }))
                })
            });
            for expanded in expanded {
                let mut rcpt = Recipient::new(expanded);
                match r {
                    Some(r) => {
                        rcpt.original = Some(r.address.clone());
                        rcpt.dsn_orcpt = orcpt.clone().flatten();
                        rcpt.dsn_notify = (r.notify != 0).then_some(queue::DsnNotify(r.notify));
                    }
                    None => {
                        rcpt.original = Some(addr.clone());
                        rcpt.dsn_notify = Some(queue::DsnNotify(queue::DsnNotify::NEVER));
                    }
                }
                if !s.keep_original {
                    rcpt.original = None;
                }
                if alone || dups.first_time(&rcpt) {
                    recipients.push(rcpt);
                }
            }
        }
        let mut attrs = queue::Attributes::default();
        let mut fullname = None;
        let mut verp = None;
        for (n, v) in &env.attributes {
            if [proto::ACTION_HOLD, proto::ACTION_DISCARD, proto::ACTION_BCC].contains(&n.as_str())
                || (n == proto::REDIRECT && source != Source::Smtpd)
            {
                continue;
            }
            if n == "fullname" {
                fullname = Some(v.clone());
                continue;
            }
            // Postfix's cleanup_envelope: a VERP request is kept only for a
            // sender, with delimiters from verp_delimiter_filter.
            if n == proto::VERP_DELIMITERS {
                if sender.is_empty() {
                    maillog::warning!("{id}: ignoring VERP request for null sender");
                } else if let Err(why) = addr::verp::check_delimiters(v, &s.verp_filter) {
                    maillog::warning!(
                        "{id}: ignoring bad VERP request: \"{}\": {why}",
                        v.escape_debug()
                    );
                } else {
                    verp = Some(v.clone());
                }
                continue;
            }
            // Only the mail system's own verify service sends probes.
            if n == proto::ADDRESS_VERIFY_PROBE && source != Source::Internal {
                continue;
            }
            // Set below from what cleanup decided.
            if n == "rewrite_context" {
                continue;
            }
            // Unknown names are kept; duplicates are the sender's bug and are dropped.
            let _ = attrs.set(n, v.clone());
        }
        let _ = attrs.set(
            "rewrite_context",
            if local {
                "local".into()
            } else {
                "remote".into()
            },
        );
        match env.body {
            proto::Body::EightBitMime | proto::Body::BinaryMime => {
                let _ = attrs.set("encoding", "8bit".into());
            }
            proto::Body::SevenBit => {
                let _ = attrs.set("encoding", "7bit".into());
            }
            proto::Body::Unspecified => {}
        }
        let qenv = Envelope {
            arrival: Timestamp {
                sec: env.arrival,
                usec: env.arrival_usec,
            },
            sender: sender.clone(),
            fullname,
            dsn_ret: env.ret.map(|r| match r {
                proto::Ret::Full => queue::DsnRet::Full,
                proto::Ret::Headers => queue::DsnRet::Hdrs,
            }),
            dsn_envid: env.envid.clone(),
            verp_delimiters: verp,
            smtputf8,
            // When to warn the sender that the mail is delayed (qmgr sends it once).
            warn_time: (s.delay_warning > 0 && !env.sender.is_empty())
                .then_some(env.arrival + s.delay_warning),
            attrs,
            recipients,
            ..Envelope::default()
        };
        // Postfix's cleanup_act_log: `from client[addr];`, or `from local;`
        // for mail posted here, then what is known of the envelope.
        let mut log_from = match (
            attribute(env, "client_name"),
            attribute(env, "client_address"),
        ) {
            (Some(name), Some(addr)) => format!("from {name}[{addr}];"),
            _ => "from local;".to_string(),
        };
        log_from.push_str(&format!(" from=<{}>", maillog::address(&env.sender)));
        if let Some(r) = env.recipients.first() {
            log_from.push_str(&format!(" to=<{}>", maillog::address(&r.address)));
        }
        if let Some(p) = attribute(env, "protocol_name") {
            log_from.push_str(&format!(" proto={p}"));
        }
        if let Some(h) = attribute(env, "helo_name") {
            log_from.push_str(&format!(" helo=<{h}>"));
        }
        Message {
            s,
            id,
            source,
            flags,
            local,
            qenv,
            log_from,
            // smtpd's lines come with their CRs, which go with the line
            // end (Postfix's smtp_get); sendmail decided already what to do
            // with those of posted mail (sendmail_fix_line_endings), and
            // pickup's records are stored as they are, as in Postfix.
            lines: if source == Source::Pickup {
                LineBuffer::keeping_crs(s.line_length_limit)
            } else {
                LineBuffer::new(s.line_length_limit)
            },
            splitter: Splitter::new(s.header_size_limit),
            headers: Vec::new(),
            in_body: false,
            size: 0,
            too_big: false,
            held: hold_action,
            body_checked: 0,
            mime: Mime::new(
                s.disable_mime,
                s.mime_nesting_limit,
                s.mime_boundary_length_limit,
            ),
            milters: match source {
                _ if flags & proto::flags::NO_MILTERS != 0 => Vec::new(),
                // smtpd's, told of the session as it happened.
                Source::Smtpd => live
                    .into_iter()
                    .map(|s| Milter::Live(Box::new(s)))
                    .collect(),
                Source::Pickup => s
                    .non_smtpd_milters
                    .iter()
                    .cloned()
                    .map(Milter::Replay)
                    .collect(),
                // Notices the mail system makes (internal_mail_filter_classes
                // is empty by default).
                Source::Internal => Vec::new(),
            },
            milter_daemon_name: match source {
                Source::Smtpd => attribute(env, ipc::cleanup::MILTER_DAEMON_NAME)
                    .unwrap_or("")
                    .to_string(),
                _ => s.milter_daemon_name.clone(),
            },
            spool: None,
            decision,
            extracted: Extracted::default(),
            message_id: None,
            resent_message_id: None,
            resent: false,
            plain_recipients: Vec::new(),
            resent_recipients: Vec::new(),
            received_for: match env.recipients.as_slice() {
                [only] => Some(only.address.clone()),
                _ => None,
            },
            autodetect_utf8,
            envelope_written: false,
            extracted_seen: std::collections::HashSet::new(),
            late_8bit: false,
        }
    }

    /// Carries out the text part of a content check's action on a line of
    /// the body (a MIME part's header, or body text): REPLACE writes the new
    /// line, PREPEND writes one before it. True when the line itself is
    /// done with (IGNORE, REPLACE).
    fn emit_action(
        &mut self,
        writer: &mut Writer,
        action: Option<Action>,
    ) -> Result<bool, queue::QueueError> {
        match action {
            Some(Action::Ignore) => Ok(true),
            Some(Action::Replace(t)) => {
                self.emit_line(writer, t.as_bytes())?;
                Ok(true)
            }
            Some(Action::Prepend(t)) => {
                self.emit_line(writer, t.as_bytes())?;
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    /// Writes one whole line (the queue writer's direct path), or spools it.
    fn emit_line(&mut self, writer: &mut Writer, line: &[u8]) -> Result<(), queue::QueueError> {
        match &mut self.spool {
            Some(spool) => {
                spool.extend_from_slice(line);
                spool.push(b'\n');
                Ok(())
            }
            None => writer.line(line),
        }
    }

    /// Writes content bytes, or spools them for the milters.
    fn emit(&mut self, writer: &mut Writer, bytes: &[u8]) -> Result<(), queue::QueueError> {
        match &mut self.spool {
            Some(spool) => {
                spool.extend_from_slice(bytes);
                Ok(())
            }
            None => writer.write_content(bytes),
        }
    }

    /// smtpd's access table actions from the end of the data: kept in the
    /// extracted segment (FILTER, REDIRECT, BCC), as header_checks' are,
    /// or acted on (HOLD, DISCARD).
    fn late_actions(&mut self, attrs: &[(String, String)]) {
        for (n, v) in attrs {
            match n.as_str() {
                proto::ACTION_HOLD => self.held = true,
                proto::ACTION_DISCARD => {
                    self.decision.get_or_insert(Outcome::Discard);
                }
                proto::CONTENT_FILTER | proto::REDIRECT => {
                    self.extracted.attrs.push((n.clone(), v.clone()))
                }
                proto::ACTION_BCC => self.blind_copy(v),
                _ => {}
            }
        }
    }

    /// A blind copy added after the envelope (BCC actions): in the
    /// extracted segment, once, never told of its fate.
    fn blind_copy(&mut self, addr: &str) {
        let ctx = if self.local {
            Context::Local
        } else {
            Context::Remote
        };
        let addr = self.s.rewriter.canonical(addr, ctx);
        // Expanded by virtual_alias_maps as any recipient (Postfix's
        // cleanup_addr_bcc goes through cleanup_out_recipient).
        let expanded = match self.decision {
            None if self.flags & proto::flags::NO_ADDRESS_MAPPINGS == 0 => {
                match self.s.expand_virtual(&addr) {
                    Ok(list) => list,
                    Err(e) => {
                        self.decision = Some(expansion_failure(self.id, &addr, e));
                        return;
                    }
                }
            }
            _ => vec![addr.clone()],
        };
        for a in expanded {
            let mut r = Recipient::new(a);
            r.original = Some(addr.clone());
            r.dsn_notify = Some(queue::DsnNotify(queue::DsnNotify::NEVER));
            let known = self
                .qenv
                .recipients
                .iter()
                .chain(&self.extracted.recipients)
                .any(|x| x.address.eq_ignore_ascii_case(&r.address));
            if !known {
                self.extracted_seen.insert(r.address.clone());
                self.extracted.recipients.push(r);
            }
        }
    }

    /// Reads content until End. Err(None): the client went away.
    fn run(&mut self, conn: &mut impl Read, writer: &mut Writer) -> Result<(), Option<Outcome>> {
        // With milters the envelope and content are written after them (they
        // may change both); without, the envelope is written at the end of
        // the primary headers (write_headers).
        if !self.milters.is_empty() {
            self.spool = Some(Vec::new());
        }
        loop {
            match next(conn) {
                Ok(Some(Request::Content(bytes))) => {
                    self.size += bytes.len() as u64;
                    if self.s.message_size_limit > 0 && self.size > self.s.message_size_limit {
                        self.too_big = true;
                    }
                    if self.decision.is_none() && !self.too_big {
                        if let Err(e) = self.content(&bytes, writer) {
                            maillog::warning!("{}: {e}", self.id);
                            self.decision = Some(Outcome::TryAgain(WRITE_ERROR.into()));
                        }
                    }
                }
                Ok(Some(Request::Actions(attrs))) if self.source == Source::Smtpd => {
                    self.late_actions(&attrs)
                }
                Ok(Some(Request::End)) => break,
                Ok(None) => return Err(None),
                Ok(Some(_)) => {
                    maillog::warning!("{}: cleanup: protocol error: unexpected request", self.id);
                    return Err(None);
                }
                Err(e) => {
                    maillog::warning!("{}: cleanup: bad request: {e}", self.id);
                    return Err(None);
                }
            }
        }
        if self.too_big {
            maillog::info!(
                "{}: reject: size {} exceeds message_size_limit; {}",
                self.id,
                self.size,
                self.log_from
            );
            return Err(Some(Outcome::Reject(
                "552 5.3.4 Error: message file too big".into(),
            )));
        }
        if self.decision.is_none() {
            if let Err(e) = self.end_of_content(writer) {
                maillog::warning!("{}: {e}", self.id);
                self.decision = Some(Outcome::TryAgain(WRITE_ERROR.into()));
            }
        }
        if self.decision.is_none() && self.spool.is_some() {
            if let Err(e) = self.run_milters(writer) {
                maillog::warning!("{}: {e}", self.id);
                self.decision = Some(Outcome::TryAgain(WRITE_ERROR.into()));
            }
        }
        if self.decision.is_none()
            && self.qenv.recipients.is_empty()
            && self.extracted.recipients.is_empty()
        {
            self.decision = Some(Outcome::Reject(
                "554 5.5.1 Error: no recipients specified".into(),
            ));
        }
        match self.decision.take() {
            None => Ok(()),
            Some(o) => Err(Some(o)),
        }
    }

    fn content(&mut self, bytes: &[u8], writer: &mut Writer) -> Result<(), queue::QueueError> {
        // (out of self while it hands each line to self.piece)
        let mut lines = std::mem::replace(&mut self.lines, LineBuffer::new(1));
        let mut result = Ok(());
        lines.push_each(bytes, |line, complete| {
            if result.is_ok() && self.decision.is_none() {
                result = self.piece(line, complete, writer);
            }
        });
        self.lines = lines;
        result
    }

    fn piece(
        &mut self,
        bytes: &[u8],
        complete: bool,
        writer: &mut Writer,
    ) -> Result<(), queue::QueueError> {
        // message_reject_characters and message_strip_characters, on the raw
        // content as Postfix applies them (not to mail that skips checks).
        let filtering = self.flags & proto::flags::NO_CHECKS == 0;
        if let Some(set) = self.s.reject_characters.as_ref().filter(|_| filtering) {
            if bytes.iter().any(|&b| set.contains(b)) {
                let text = String::from_utf8_lossy(bytes).into_owned();
                self.log_check(
                    "reject",
                    &format!("character reject {text}"),
                    "disallowed character",
                );
                self.decision = Some(Outcome::Reject("550 5.7.1 disallowed character".into()));
                return Ok(());
            }
        }
        let stripped: Vec<u8>;
        let bytes = match self.s.strip_characters.as_ref().filter(|_| filtering) {
            Some(set) if bytes.iter().any(|&b| set.contains(b)) => {
                stripped = bytes
                    .iter()
                    .copied()
                    .filter(|&b| !set.contains(b))
                    .collect();
                &stripped[..]
            }
            _ => bytes,
        };
        if self.in_body {
            return self.body_piece(bytes, complete, writer);
        }
        // The pieces of a long header line go on with its header (up to
        // the splitter's size limit); a piece that ends the header block
        // is body text as it came, whole line or not.
        for ev in self.splitter.piece(bytes, complete) {
            self.event(ev, complete, writer)?;
        }
        Ok(())
    }

    /// One event of the splitter; `complete` is false when the piece that
    /// made it did not end its line.
    fn event(
        &mut self,
        ev: Event,
        complete: bool,
        writer: &mut Writer,
    ) -> Result<(), queue::QueueError> {
        match ev {
            Event::Header(h) => {
                self.header(h);
                Ok(())
            }
            Event::EndOfHeaders(first_body) => {
                self.write_headers(writer)?;
                self.in_body = true;
                // (refused already: there is no envelope to write after)
                if self.decision.is_some() {
                    return Ok(());
                }
                self.mime.start_body();
                self.emit(writer, b"\n")?;
                match first_body {
                    Some(line) => self.body_piece(&line, complete, writer),
                    None => Ok(()),
                }
            }
            Event::Body(line) => self.body_piece(&line, complete, writer),
        }
    }

    fn log_check(&self, what: &str, text: &str, reason: &str) {
        let shown: String = text.chars().take(200).collect();
        let reason = if reason.is_empty() {
            String::new()
        } else {
            format!(": {reason}")
        };
        maillog::info!("{}: {what}: {shown} {}{reason}", self.id, self.log_from);
    }

    /// As Postfix, when header checks are in use: mail nested deeper than
    /// mime_nesting_limit is refused.
    fn mime_nesting_error(&mut self) {
        let checking = !(self.s.header_checks.is_empty()
            && self.s.mime_header_checks.is_empty()
            && self.s.nested_header_checks.is_empty());
        if let (Some(at), true, None) = (self.mime.too_deep(), checking, &self.decision) {
            maillog::info!(
                "{}: reject: mime-error MIME nesting exceeds safety limit: {at} {}",
                self.id,
                self.log_from
            );
            self.decision = Some(Outcome::Reject(
                "550 5.6.0 MIME nesting exceeds safety limit".into(),
            ));
        }
    }

    /// strict_7bit_headers: 8-bit text in a header, when the message did
    /// not ask for SMTPUTF8.
    fn strict_header(&mut self, raw: &[u8]) {
        if self.s.strict_7bit_headers
            && !self.s.disable_mime
            && !self.qenv.smtputf8
            && !raw.is_ascii()
        {
            self.mime_error("improper use of 8-bit data in message header", raw);
        }
    }

    /// A MIME error the strict_* checks report (Postfix's
    /// cleanup_mime_error_callback): logged with what caused it, and the
    /// message refused with 550 5.6.0.
    fn mime_error(&mut self, what: &str, text: &[u8]) {
        if self.decision.is_some() {
            return;
        }
        let shown = util::text::printable(&text[..text.len().min(100)]);
        maillog::info!(
            "{}: reject: mime-error {what}: {shown} {}",
            self.id,
            self.log_from
        );
        self.decision = Some(Outcome::Reject(format!("550 5.6.0 {what}")));
    }

    /// The table for a header of `class`, and its name without `_checks`.
    fn header_table(&self, class: HeaderClass) -> (&'a MapList, &'static str) {
        match class {
            HeaderClass::Primary => (&self.s.header_checks, "header"),
            HeaderClass::Mime => (&self.s.mime_header_checks, "mime_header"),
            HeaderClass::Nested => (&self.s.nested_header_checks, "nested_header"),
        }
    }

    /// Applies a header_checks/body_checks result; returns what to do with the text.
    fn check(&mut self, list: &MapList, table: &str, kind: &str, text: &str) -> Option<Action> {
        if list.is_empty() || self.flags & proto::flags::NO_CHECKS != 0 {
            return None;
        }
        let result = match list.lookup(text) {
            Ok(Some(r)) => r,
            Ok(None) => return None,
            Err(e) => {
                maillog::warning!("{}: {table}_checks lookup error: {e}", self.id);
                self.decision = Some(Outcome::TryAgain(
                    "451 4.3.0 Error: queue file write error".into(),
                ));
                return None;
            }
        };
        let action = match checks::parse(&result) {
            Ok(a) => a,
            Err(e) => {
                maillog::warning!("{}: {table}_checks: {e}", self.id);
                return None;
            }
        };
        let label = format!("{kind} {text}");
        match &action {
            Action::Reject(t) => {
                let reply = checks::reject_reply(t);
                self.log_check("reject", &label, reply.get(4..).unwrap_or(""));
                self.decision = Some(Outcome::Reject(reply));
            }
            Action::Warn(t) => self.log_check("warning", &label, t),
            Action::Info(t) => self.log_check("info", &label, t),
            Action::Hold(t) => {
                self.log_check("hold", &label, t);
                self.held = true;
            }
            Action::Discard(t) => {
                self.log_check("discard", &label, t);
                self.decision = Some(Outcome::Discard);
            }
            // In the extracted segment, where the queue manager looks
            // first (the last one named wins).
            Action::Filter(t) => {
                self.log_check("filter", &label, t);
                self.extracted
                    .attrs
                    .push((ipc::cleanup::CONTENT_FILTER.into(), t.clone()));
            }
            Action::Redirect(t) => {
                self.log_check("redirect", &label, t);
                self.extracted
                    .attrs
                    .push((ipc::cleanup::REDIRECT.into(), t.clone()));
            }
            Action::Bcc(t) => {
                self.log_check("bcc", &label, t);
                self.blind_copy(t);
            }
            _ => {}
        }
        Some(action)
    }

    fn header(&mut self, mut h: Header) {
        let raw: Vec<u8> = h.lines.join(&b"\n"[..]);
        self.strict_header(&raw);
        let text = String::from_utf8_lossy(&raw).into_owned();
        if h.is("Content-Type") {
            self.mime.primary_content_type(&h.value());
        }
        if h.is("Content-Transfer-Encoding") {
            let value = h.value();
            // detect_8bit_encoding_header: 8-bit type information overrides
            // 7-bit (the envelope is written at the end of these headers).
            if self.s.detect_8bit_header
                && (value.eq_ignore_ascii_case("8bit") || value.eq_ignore_ascii_case("binary"))
            {
                self.qenv.attrs.encoding = Some(queue::Encoding::EightBit);
            }
            self.mime.primary_encoding(&value);
        }
        let (list, table) = self.header_table(mime::class_of(h.name(), HeaderClass::Primary));
        match self.check(list, table, "header", &text) {
            Some(Action::Ignore) => return,
            Some(Action::Replace(t)) => {
                self.headers.push(Header::new_raw(&t));
                return;
            }
            Some(Action::Prepend(t)) => self.headers.push(Header::new_raw(&t)),
            _ => {}
        }
        let class = if addr::header_rewrite::SENDER_HEADERS.iter().any(|n| h.is(n)) {
            Some(true)
        } else if addr::header_rewrite::RECIPIENT_HEADERS
            .iter()
            .any(|n| h.is(n))
        {
            Some(false)
        } else {
            None
        };
        // The whole value, when rewriting kept only its first
        // header_address_token_limit tokens: sendmail -t still takes every
        // address (as Postfix 3.7), each rewritten as the header's are.
        let mut cut_value = None;
        if let Some(sender) = class {
            let ctx = if self.local {
                Context::Local
            } else {
                Context::Remote
            };
            let mappings = self.flags & proto::flags::NO_ADDRESS_MAPPINGS == 0;
            let value = h.value();
            if let Some(v) = self
                .s
                .rewrite_header_addresses(&value, sender, ctx, mappings)
            {
                // Rebuilt, and folded as Postfix folds what it rebuilds.
                h = Header::new_raw(&addr::header_rewrite::fold(h.name(), &v));
                if crate::tokens::limited(&value, self.s.header_token_limit).len() < value.len() {
                    cut_value = Some(value);
                }
            }
        }
        let extract_from = |h: &Header| match &cut_value {
            Some(v) => (v.clone(), true),
            None => (h.value(), false),
        };
        use addr::header_rewrite::{
            PLAIN_RECIPIENT_HEADERS, RESENT_HEADERS, RESENT_RECIPIENT_HEADERS,
        };
        if RESENT_HEADERS.iter().any(|n| h.is(n)) {
            self.resent = true;
        }
        let extracting = self.flags & proto::flags::EXTRACT_RECIPIENTS != 0;
        if extracting {
            if PLAIN_RECIPIENT_HEADERS.iter().any(|n| h.is(n)) {
                self.plain_recipients.push(extract_from(&h));
            } else if RESENT_RECIPIENT_HEADERS.iter().any(|n| h.is(n)) {
                self.resent_recipients.push(extract_from(&h));
            }
        }
        if h.is("Bcc") && (self.source == Source::Pickup || extracting) {
            return;
        }
        if self.s.drop_headers.iter().any(|n| h.is(n)) {
            return;
        }
        if h.is("Message-ID") && self.message_id.is_none() {
            self.message_id = Some(h.value());
        }
        if h.is("Resent-Message-ID") && self.resent_message_id.is_none() {
            self.resent_message_id = Some(h.value());
        }
        self.headers.push(h);
    }

    /// sendmail -t: the recipients of the Resent- address headers when the
    /// message is being resent, else of To:, Cc: and Bcc: (Postfix's
    /// cleanup_extracted).
    fn extract_header_recipients(&mut self) {
        let plain = std::mem::take(&mut self.plain_recipients);
        let resent = std::mem::take(&mut self.resent_recipients);
        let values = if self.resent { resent } else { plain };
        for (value, remap) in values {
            self.extract(&value, remap);
        }
    }

    /// The recipients of an address header's value (sendmail -t); `remap`:
    /// the value is as it came, and each address is rewritten as the
    /// header's addresses are.
    fn extract(&mut self, value: &str, remap: bool) {
        if self.flags & proto::flags::EXTRACT_RECIPIENTS == 0 {
            return;
        }
        let ctx = if self.local {
            Context::Local
        } else {
            Context::Remote
        };
        let mappings = self.flags & proto::flags::NO_ADDRESS_MAPPINGS == 0;
        for mb in addr::parse_address_list(value) {
            let mb = mb.internal();
            let a = if remap {
                self.s
                    .header_address(&mb, AddrPlace::HeaderRecipient, ctx, mappings)
            } else {
                self.s.rewriter.canonical(&mb, ctx)
            };
            // Expanded by virtual_alias_maps as envelope recipients are
            // (the header's address went through the canonical maps).
            let expanded = match self.decision {
                None if mappings => match self.s.expand_virtual(&a) {
                    Ok(list) => list,
                    Err(e) => {
                        self.decision = Some(expansion_failure(self.id, &a, e));
                        return;
                    }
                },
                _ => vec![a],
            };
            for a in expanded {
                if self.autodetect_utf8 && utf8_address(&a) {
                    self.qenv.smtputf8 = true;
                }
                if !self.extracted_seen.contains(&a) {
                    self.extracted_seen.insert(a.clone());
                    self.extracted.recipients.push(Recipient::new(a));
                }
            }
        }
    }

    /// The Received: header cleanup puts on top.
    fn received(&self) -> Header {
        let a = &self.qenv.attrs;
        let date = util::time::rfc5322(self.qenv.arrival.sec as i64);
        let single = self.received_for.as_deref();
        if self.source == Source::Smtpd {
            let name = a.client_name.as_deref().unwrap_or("unknown");
            let received = ipc::cleanup::ReceivedFrom {
                helo: a.helo_name.as_deref().unwrap_or(name),
                client_name: name,
                client_address: a.client_address.as_deref().unwrap_or_default(),
                tls: a.other_value(ipc::cleanup::RECEIVED_TLS),
                sasl_username: a.other_value(ipc::cleanup::RECEIVED_SASL),
                myhostname: &self.s.myhostname,
                mail_name: &self.s.mail_name,
                protocol: a.protocol_name.as_deref().unwrap_or("SMTP"),
                queue_id: Some(self.id),
                single_recipient: single,
                date: &date,
            };
            Header::new("Received", &received.value())
        } else {
            // Postfix's pickup names no recipient here, and the mail
            // system's own mail (post_mail(), local's forward.c) no user.
            let by = match self.source {
                Source::Internal => self.s.mail_name.clone(),
                _ => format!(
                    "{}, from userid {}",
                    self.s.mail_name,
                    a.other_value("uid").unwrap_or("0")
                ),
            };
            Header::new(
                "Received",
                &format!("by {} ({by})\n\tid {}; {date}", self.s.myhostname, self.id),
            )
        }
    }

    fn write_headers(&mut self, writer: &mut Writer) -> Result<(), queue::QueueError> {
        if self.decision.is_some() {
            return Ok(());
        }
        let hops = self
            .headers
            .iter()
            .filter(|h| h.is("Received") || h.is("Delivered-To"))
            .count();
        if hops >= self.s.hopcount_limit {
            maillog::info!(
                "{}: reject: hopcount exceeded ({hops}) {}",
                self.id,
                self.log_from
            );
            self.decision = Some(Outcome::Reject("554 5.4.0 Error: too many hops".into()));
            return Ok(());
        }
        self.extract_header_recipients();
        let mut out = vec![self.received()];
        out.append(&mut self.headers);
        if self.local || self.s.always_add_missing_headers {
            // A message being resent gets the Resent- forms.
            let prefix = if self.resent { "Resent-" } else { "" };
            let has = |n: &str| out.iter().any(|h| h.is(n));
            let (need_from, need_date, need_id) = (
                !has(&format!("{prefix}From")),
                !has(&format!("{prefix}Date")),
                !has(&format!("{prefix}Message-ID")),
            );
            let need_rcpt = !["To", "Cc", "Resent-To", "Resent-Cc"]
                .iter()
                .any(|n| has(n));
            if need_id {
                let mid = format!(
                    "<{}.{}@{}>",
                    util::time::compact_utc(self.qenv.arrival.sec as i64),
                    self.id,
                    self.s.myhostname
                );
                out.push(Header::new(&format!("{prefix}Message-Id"), &mid));
                if self.resent {
                    self.resent_message_id = Some(mid);
                } else {
                    self.message_id = Some(mid);
                }
            }
            if need_date {
                out.push(Header::new(
                    &format!("{prefix}Date"),
                    &util::time::rfc5322(self.qenv.arrival.sec as i64),
                ));
            }
            if need_from {
                let from = if self.qenv.sender.is_empty() {
                    "MAILER-DAEMON".to_string()
                } else {
                    self.qenv.sender.clone()
                };
                let value = match (&self.qenv.fullname, self.s.obsolete_from_format) {
                    (Some(full), false) => format!("{} <{from}>", from_phrase(full)),
                    (Some(full), true) => format!("{from} ({})", from_comment(full)),
                    (None, _) => from,
                };
                out.push(Header::new(&format!("{prefix}From"), &value));
            }
            if need_rcpt && !self.s.undisclosed_recipients_header.is_empty() {
                out.push(Header::new_raw(&self.s.undisclosed_recipients_header));
            }
        }
        // Postfix's cleanup_out_header: a header as it goes out with
        // non-ASCII text flags mail of an autodetect class SMTPUTF8.
        if self.autodetect_utf8
            && !self.qenv.smtputf8
            && out.iter().any(|h| h.lines.iter().any(|l| !l.is_ascii()))
        {
            self.qenv.smtputf8 = true;
        }
        self.write_envelope(writer)?;
        for h in &out {
            for line in &h.lines {
                self.emit_line(writer, line)?;
            }
        }
        self.headers = out;
        Ok(())
    }

    /// Writes the envelope, once, unless the milters have the message
    /// (they write it after them).
    fn write_envelope(&mut self, writer: &mut Writer) -> Result<(), queue::QueueError> {
        if self.envelope_written || self.spool.is_some() {
            return Ok(());
        }
        self.envelope_written = true;
        writer.envelope(&self.qenv)
    }

    /// A piece of a body line: held while it is part of a MIME part's or an
    /// attached message's header, else body text.
    fn body_piece(
        &mut self,
        bytes: &[u8],
        complete: bool,
        writer: &mut Writer,
    ) -> Result<(), queue::QueueError> {
        if self.decision.is_some() {
            return Ok(());
        }
        let (done, line) = self.mime.line(bytes, complete);
        if let Some(h) = done {
            self.part_header(h, writer)?;
        }
        match line {
            mime::Line::Body => self.body_text(bytes, complete, writer),
            mime::Line::Held => Ok(()),
        }
    }

    /// Checks and writes one whole header from the body (a MIME part's or
    /// an attached message's).
    fn part_header(&mut self, h: PartHeader, writer: &mut Writer) -> Result<(), queue::QueueError> {
        self.strict_header(&h.lines.join(&b"\n"[..]));
        let (list, table) = self.header_table(h.class);
        let action = self.check(list, table, "header", &h.text());
        if self.emit_action(writer, action)? {
            return Ok(());
        }
        // detect_8bit_encoding_header in a part's header: the envelope went
        // out already, so the extracted segment says it (as in Postfix).
        if self.s.detect_8bit_header
            && self.qenv.attrs.encoding != Some(queue::Encoding::EightBit)
            && !self.late_8bit
            && h.declares_8bit()
        {
            self.late_8bit = true;
            self.extracted.attrs.push((
                queue::model::attr::ENCODING.into(),
                queue::Encoding::EightBit.as_str().into(),
            ));
        }
        // As for the message's own headers (Postfix's cleanup_out_header):
        // UTF-8 in a part's header flags mail of an autodetect class.
        if self.autodetect_utf8 && !self.qenv.smtputf8 && h.lines.iter().any(|l| !l.is_ascii()) {
            self.qenv.smtputf8 = true;
            writer.require_smtputf8();
        }
        let last = h.lines.len().saturating_sub(1);
        for (i, l) in h.lines.iter().enumerate() {
            // (a whole line as a line: the queue writer takes a CR before
            // a LF it is handed as part of the line end)
            if i < last || h.complete {
                self.emit_line(writer, l)?;
            } else {
                self.emit(writer, l)?;
            }
        }
        Ok(())
    }

    /// A piece of a body text line, through body_checks.
    fn body_text(
        &mut self,
        bytes: &[u8],
        complete: bool,
        writer: &mut Writer,
    ) -> Result<(), queue::QueueError> {
        // As Postfix: only the first body_checks_size_limit bytes are
        // inspected (a huge attachment is not scanned line by line).
        let inspect = complete
            && !self.s.body_checks.is_empty()
            && self.body_checked < self.s.body_checks_size_limit;
        self.body_checked += bytes.len() as u64 + u64::from(complete);
        if self.s.strict_8bit_body
            && !self.s.disable_mime
            && self.mime.body_encoding().is_seven_bit()
            && !bytes.is_ascii()
        {
            self.mime_error("improper use of 8-bit data in message body", bytes);
        }
        if self.s.strict_encoding_domain {
            if let Some(at) = self.mime.bad_domain().map(str::to_string) {
                self.mime_error(
                    "invalid message/* or multipart/* encoding domain",
                    at.as_bytes(),
                );
            }
        }
        if inspect {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let action = self.check(&self.s.body_checks, "body", "body", &text);
            if self.emit_action(writer, action)? {
                return Ok(());
            }
        }
        if complete {
            self.emit_line(writer, bytes)
        } else {
            self.emit(writer, bytes)
        }
    }

    fn end_of_content(&mut self, writer: &mut Writer) -> Result<(), queue::QueueError> {
        if let Some(p) = self.lines.finish() {
            self.piece(&p.bytes, true, writer)?;
        }
        let events = self.splitter.finish();
        for ev in events {
            self.event(ev, true, writer)?;
        }
        if let Some(h) = self.mime.finish() {
            if self.decision.is_none() {
                self.part_header(h, writer)?;
            }
        }
        self.mime_nesting_error();
        // (with milters, after them)
        if self.held && self.spool.is_none() {
            writer.retarget("hold")?;
        }
        Ok(())
    }

    /// Shows the spooled message to each milter in turn (each sees the
    /// previous one's edits), acts on their verdicts, and writes the
    /// envelope and content as they leave them.
    fn run_milters(&mut self, writer: &mut Writer) -> Result<(), queue::QueueError> {
        let spool = self.spool.take().unwrap_or_default();
        let (headers, body) = crate::milters::split(&spool);
        let a = &self.qenv.attrs;
        let client = a
            .client_address
            .as_deref()
            .and_then(|x| x.parse().ok())
            .map(|ip| {
                let port = a
                    .other
                    .iter()
                    .find(|(n, _)| n == "client_port")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                (
                    a.client_name.clone().unwrap_or_else(|| "unknown".into()),
                    ip,
                    port,
                )
            });
        let other = |name: &str| {
            a.other
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let mut msg = milter::Message {
            myhostname: self.s.myhostname.clone(),
            daemon_name: self.milter_daemon_name.clone(),
            queue_id: self.id.to_string(),
            client,
            helo: a.helo_name.clone(),
            auth: other("sasl_method").zip(other("sasl_username")),
            sender: self.qenv.sender.clone(),
            recipients: self
                .qenv
                .recipients
                .iter()
                .map(|r| r.address.clone())
                .collect(),
            headers: headers
                .iter()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect(),
            body: body.to_vec(),
        };
        let before = msg.recipients.clone();
        let mut milters = std::mem::take(&mut self.milters);
        for m in &mut milters {
            let verdict = match m.inspect(&mut msg) {
                Ok(v) => v,
                Err(e) => {
                    let spec = m.spec();
                    maillog::warning!("{}: milter {}: {e}", self.id, spec.name);
                    match spec.default_action {
                        milter::DefaultAction::Accept => milter::Verdict::Continue,
                        milter::DefaultAction::TempFail => {
                            milter::Verdict::TempFail(milter::TEMPFAIL_REPLY.into())
                        }
                        milter::DefaultAction::Reject => {
                            milter::Verdict::Reject(milter::DEFAULT_REJECT_REPLY.into())
                        }
                        milter::DefaultAction::Quarantine => {
                            milter::Verdict::Hold("milter default action".into())
                        }
                    }
                }
            };
            // Postfix's `ID: milter-reject: END-OF-MESSAGE from client[addr]:
            // 5.7.1 Command rejected; from=<…> to=<…> proto=… helo=<…>`.
            let end = |what: &str, text: &str| {
                let (client, envelope) = self
                    .log_from
                    .split_once(';')
                    .unwrap_or((&self.log_from, ""));
                let b = text.as_bytes();
                let text = if b.len() > 4 && b[..3].iter().all(u8::is_ascii_digit) && b[3] == b' ' {
                    &text[4..]
                } else {
                    text
                };
                maillog::info!(
                    "{}: {what}: END-OF-MESSAGE {client}: {text};{envelope}",
                    self.id
                );
            };
            match verdict {
                milter::Verdict::Continue => {}
                milter::Verdict::Reject(t) => {
                    end("milter-reject", &t);
                    self.decision = Some(Outcome::Reject(t));
                    return Ok(());
                }
                milter::Verdict::TempFail(t) => {
                    end("milter-reject", &t);
                    self.decision = Some(Outcome::TryAgain(t));
                    return Ok(());
                }
                milter::Verdict::Discard => {
                    end("milter-discard", "milter triggers DISCARD action");
                    self.decision = Some(Outcome::Discard);
                    return Ok(());
                }
                // (the milter's reason is not logged, as in Postfix)
                milter::Verdict::Hold(_) => {
                    end("milter-hold", "milter triggers HOLD action");
                    self.held = true;
                }
            }
        }
        // The envelope as the milters leave it.
        self.qenv.sender = msg.sender.clone();
        self.qenv
            .recipients
            .retain(|r| msg.recipients.contains(&r.address));
        for r in msg.recipients.iter().filter(|r| !before.contains(r)) {
            self.qenv.recipients.push(Recipient::new(r.clone()));
        }
        writer.envelope(&self.qenv)?;
        writer.write_content(&crate::milters::join(&headers, &msg.headers, &msg.body))?;
        if self.held {
            writer.retarget("hold")?;
        }
        Ok(())
    }

    fn finish(&mut self, writer: Writer) -> Result<(), queue::QueueError> {
        writer.finish(&self.extracted)?;
        match &self.message_id {
            Some(m) => maillog::info!("{}: message-id={m}", self.id),
            None => maillog::info!("{}: message-id=<>", self.id),
        }
        if let Some(m) = &self.resent_message_id {
            maillog::info!("{}: resent-message-id={m}", self.id);
        }
        Ok(())
    }
}

impl Settings {
    /// The look-up keys of `addr` in a table of addresses (Postfix's
    /// mail_addr_find): the `user` forms too when the domain is $myorigin
    /// or local ($mydestination, this host's addresses).
    /// Whether the `user` key applies to an address in `domain`: $myorigin
    /// and this host's own domains.
    fn local_domain(&self, domain: &str) -> Result<bool, MapError> {
        Ok(domain.eq_ignore_ascii_case(self.rewriter.myorigin())
            || self.classes.is_local(domain)?)
    }

    fn address_keys(&self, addr: &str) -> Result<Vec<access::AddrKey>, MapError> {
        let delims = &self.recipient_delimiter;
        Ok(match addr.rsplit_once('@') {
            Some((local, domain)) => {
                access::mail_addr_keys(local, Some(domain), delims, self.local_domain(domain)?)
            }
            None => access::mail_addr_keys(addr, None, delims, false),
        })
    }

    /// One canonical_maps-style rewrite ([`access::rewrite_address`]);
    /// the address as it is when no table answers or one fails.
    fn canonical(&self, list: &MapList, addr: &str) -> String {
        if list.is_empty() || addr.is_empty() {
            return addr.to_string();
        }
        let local_domain = match addr.rsplit_once('@') {
            Some((_, domain)) => self.local_domain(domain).unwrap_or(false),
            None => false,
        };
        access::rewrite_address(
            list,
            addr,
            &self.recipient_delimiter,
            local_domain,
            self.propagate_canonical,
        )
        .ok()
        .flatten()
        .unwrap_or_else(|| addr.to_string())
    }

    /// An address header's value with its addresses completed (`@$myorigin`
    /// in local mail, `@$remote_header_rewrite_domain` in remote mail),
    /// through the canonical maps (the sender's or recipients' table
    /// first, then canonical_maps) and masqueraded, as Postfix's
    /// canonical_classes and masquerade_classes do by default. Headers of
    /// remote mail are left alone unless remote_header_rewrite_domain is
    /// set, as in Postfix; without `mappings` (no_address_mappings) the
    /// addresses are only completed. None when nothing changed.
    fn rewrite_header_addresses(
        &self,
        value: &str,
        sender: bool,
        ctx: Context,
        mappings: bool,
    ) -> Option<String> {
        if ctx == Context::Remote && !self.rewriter.rewrites_remote_headers() {
            return None;
        }
        let place = if sender {
            AddrPlace::HeaderSender
        } else {
            AddrPlace::HeaderRecipient
        };
        // Past header_address_token_limit the value is not parsed; when a
        // rewrite changes the part before, the rest is dropped (Postfix
        // rebuilds the header from the tokens it kept).
        let value = crate::tokens::limited(value, self.header_token_limit);
        addr::header_rewrite::rewrite(value, |a| self.header_address(a, place, ctx, mappings))
    }

    /// One address of an address header as rewriting leaves it.
    fn header_address(&self, a: &str, place: AddrPlace, ctx: Context, mappings: bool) -> String {
        let a = self.rewriter.canonical(a, ctx);
        if !mappings {
            return a;
        }
        self.map_address(&a, place)
    }

    /// The blind-copy address a `*_bcc_maps` table gives for `addr`
    /// (Postfix's mail_addr_find keys); none for the null sender or when
    /// the table fails (a copy is not worth refusing the mail).
    fn bcc_of(&self, list: &MapList, addr: &str) -> Option<String> {
        if list.is_empty() || addr.is_empty() {
            return None;
        }
        let keys = self.address_keys(addr).ok()?;
        match access::mail_addr_find(list, &keys) {
            Ok(found) => found
                .map(|(v, _)| v.trim().to_string())
                .filter(|v| !v.is_empty()),
            Err(e) => {
                maillog::warning!("bcc lookup for {addr}: {e}");
                None
            }
        }
    }

    /// virtual_alias_maps expansion, recursive as Postfix's: more than
    /// `virtual_alias_expansion_limit` results, or nesting deeper than
    /// `virtual_alias_recursion_limit`, is an error; an address that maps
    /// to itself (or to one it came from) stays. An extension cut off to
    /// find an alias is put back on each result
    /// (propagate_unmatched_extensions). A table that fails is an error:
    /// the message must wait, not go to the unexpanded address.
    fn expand_virtual(&self, addr: &str) -> Result<Vec<String>, Expansion> {
        let list = &self.virtual_alias_maps;
        if list.is_empty() {
            return Ok(vec![addr.to_string()]);
        }
        let mut out = Vec::new();
        self.walk_virtual(addr, 0, &mut out, &mut Vec::new(), &mut 0)?;
        Ok(out)
    }

    fn walk_virtual(
        &self,
        addr: &str,
        depth: usize,
        out: &mut Vec<String>,
        seen: &mut Vec<String>,
        leaves: &mut usize,
    ) -> Result<(), Expansion> {
        let limit = self.virtual_expansion_limit;
        // Every address the expansion ends in counts, a repeat too (as
        // Postfix's list of them): aliases that share their members, level
        // after level, would otherwise be walked exponentially often.
        let mut keep = |out: &mut Vec<String>| {
            *leaves += 1;
            if *leaves > limit {
                return Err(Expansion::TooBig);
            }
            if !out.iter().any(|o| o == addr) {
                if out.len() >= limit {
                    return Err(Expansion::TooBig);
                }
                out.push(addr.to_string());
            }
            Ok(())
        };
        if seen.iter().any(|s| s.eq_ignore_ascii_case(addr)) {
            return keep(out);
        }
        let table = |e: MapError| Expansion::Table(e.to_string());
        let keys = self.address_keys(addr).map_err(table)?;
        let found = access::mail_addr_find(&self.virtual_alias_maps, &keys).map_err(table)?;
        let Some((v, cut)) = found else {
            return keep(out);
        };
        if depth >= self.virtual_recursion_limit {
            return Err(Expansion::TooDeep);
        }
        seen.push(addr.to_string());
        for next in maps::split_list(&v) {
            let next = match cut {
                Some(ext) if self.propagate_virtual => access::add_extension(&next, ext),
                _ => next,
            };
            // As Postfix's cleanup_map1n, before anything else is done
            // with it: a result too long refuses the whole expansion.
            if next.len() > self.virtual_address_length_limit {
                return Err(Expansion::TooLong(next));
            }
            self.walk_virtual(&next, depth + 1, out, seen, leaves)?;
        }
        seen.pop();
        Ok(())
    }
}

/// Postfix's duplicate filter for envelope recipients (cleanup_out_recipient):
/// a recipient met again (the same address, original address, ORCPT and
/// NOTIFY, case folded) is written once; past `limit` recipients (when it
/// is not 0) nothing more is remembered, and repeats are kept.
struct Duplicates {
    seen: std::collections::HashSet<String>,
    limit: usize,
}

impl Duplicates {
    fn new(limit: usize) -> Duplicates {
        Duplicates {
            seen: std::collections::HashSet::new(),
            limit,
        }
    }

    /// Whether `r` is new (and, room allowing, remembers it).
    fn first_time(&mut self, r: &Recipient) -> bool {
        let key = format!(
            "{}\n{}\n{}\n{}",
            r.dsn_orcpt.as_deref().unwrap_or(""),
            r.dsn_notify.map_or(0, |n| n.0),
            r.original.as_deref().unwrap_or(""),
            r.address
        )
        .to_lowercase();
        if self.seen.contains(&key) {
            return false;
        }
        if self.limit == 0 || self.seen.len() < self.limit {
            self.seen.insert(key);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(extra: &str) -> Settings {
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cleanup_msg_{}_{call}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("main.cf"),
            format!("myhostname = mail.example.test\nmydomain = example.test\nmyorigin = example.test\n{extra}"),
        )
        .unwrap();
        let cfg = Config::load(&dir, &[]).unwrap();
        let s = Settings::from_config(&cfg, dir.join("queue"));
        std::fs::remove_dir_all(&dir).unwrap();
        s
    }

    #[test]
    fn autodetect_classes_by_name() {
        let words = |v: &str| v.split(", ").map(str::to_string).collect::<Vec<_>>();
        assert_eq!(
            utf8_class::parse(&words("sendmail, verify")),
            (utf8_class::SENDMAIL | utf8_class::VERIFY, vec![])
        );
        assert_eq!(
            utf8_class::parse(&words("SMTPD, bounce, qmqpd, nonsense")),
            (
                utf8_class::SMTPD | utf8_class::INTERNAL,
                vec!["nonsense".to_string()]
            )
        );
        assert_eq!(utf8_class::parse(&words("all")).0, 15);
        assert_eq!(settings("").smtputf8_autodetect, 9);
        assert_eq!(settings("smtputf8_enable = no").smtputf8_autodetect, 0);
        assert_eq!(
            settings("smtputf8_autodetect_classes = all").smtputf8_autodetect,
            15
        );
    }

    /// Only the first header_address_token_limit tokens are rewritten; a
    /// header a rewrite changes keeps only them, one that nothing changes
    /// in stays whole (Postfix 3.7 does the same).
    #[test]
    fn header_rewriting_stops_at_the_token_limit() {
        let s = settings("header_address_token_limit = 7\n");
        let local = Context::Local;
        assert_eq!(
            s.rewrite_header_addresses("a1@x.test, a2@x.test, a3", false, local, true)
                .as_deref(),
            Some("a1@x.test, a2@example.test"),
        );
        // The 7th token is `a2`, completed: the header ends there. With 12
        // the part ends after `a2@x.test,`, nothing in it changes, and the
        // header stays whole, `a3` not completed.
        let s12 = settings("header_address_token_limit = 12\n");
        assert_eq!(
            s12.rewrite_header_addresses("a1@x.test, a2@x.test, a3", false, local, true),
            None
        );
        assert_eq!(
            s.rewrite_header_addresses("a1@x.test, a2@x.test, a3", false, local, true),
            s.rewrite_header_addresses("a1@x.test, a2", false, local, true),
        );
        // The default reaches far.
        let s = settings("");
        let long: String = (0..1000).map(|i| format!("u{i}@x.test, ")).collect();
        let value = format!("{long}last");
        assert_eq!(
            s.rewrite_header_addresses(&value, false, local, true),
            Some(format!("{long}last@example.test"))
        );
        // 100,000 addresses: only the first 10240 tokens are looked at.
        let huge: String = (0..100_000).map(|i| format!("u{i}, ")).collect();
        let out = s
            .rewrite_header_addresses(&huge, true, local, true)
            .expect("rewritten");
        assert!(
            out.ends_with(" u5119@example.test,"),
            "{}",
            &out[out.len() - 40..]
        );
    }

    #[test]
    fn an_alias_longer_than_the_limit_refuses_the_expansion() {
        let s = settings(
            "virtual_alias_address_length_limit = 20\n\
             virtual_alias_maps = inline:{ {a@example.test = short@x.test, b@example.test}, b@example.test=0123456789@abcdefghij.test, c@example.test=0123456789@abcdefg.test }\n",
        );
        match s.expand_virtual("a@example.test") {
            Err(Expansion::TooLong(r)) => assert_eq!(r, "0123456789@abcdefghij.test"),
            other => panic!("{other:?}"),
        }
        // 23 characters is more than 20, and 20 is not.
        assert!(matches!(
            s.expand_virtual("c@example.test"),
            Err(Expansion::TooLong(_))
        ));
        let s = settings(
            "virtual_alias_address_length_limit = 23\n\
             virtual_alias_maps = inline:{ c@example.test=0123456789@abcdefg.test }\n",
        );
        assert_eq!(
            s.expand_virtual("c@example.test").unwrap(),
            vec!["0123456789@abcdefg.test".to_string()]
        );
        // The address itself, unexpanded, is not measured.
        let long = format!("{}@example.test", "x".repeat(100));
        assert_eq!(s.expand_virtual(&long).unwrap(), vec![long.clone()]);
    }
}
