//! The Sendmail milter protocol (version 6), MTA side, as Postfix's milter8
//! speaks it to milter applications (OpenDKIM, rspamd, spamass-milter…).
//!
//! [`Spec::parse`] reads a `smtpd_milters` / `non_smtpd_milters` entry:
//! `inet:host:port`, `unix:/path`, or `{ inet:host:port, connect_timeout=10s,
//! command_timeout=…, content_timeout=…, default_action=accept }`.
//! A [`Session`] is one conversation: option negotiation, then each event
//! as it happens — connect, HELO, MAIL, each RCPT, DATA, each with its
//! [`Answer`] — and the message: the headers, end of headers, the body
//! (CRLF line ends, 64 KiB chunks) and end of message, honouring the steps
//! the milter asks to skip, with what it answers applied to the
//! [`Message`]: added, changed, inserted and deleted headers, a replaced
//! body, added and deleted recipients, a changed sender. The result is a
//! [`Verdict`]: go on, reject (with the milter's reply or Postfix's), try
//! later, discard, or hold (quarantine). smtpd drives the events and hands
//! the conversation ([`Handoff`] and its socket) to cleanup for the
//! message; [`inspect`] replays a whole session at once (non_smtpd_milters).
//!
//! Every packet from the milter is length-checked (at most
//! [`MAX_PACKET`]), and one milter's edits to one message are bounded (10,000
//! edits, 64 MiB); a milter that breaks the protocol or the bounds is an
//! error, and the caller applies `milter_default_action`.

use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::time::Duration;
use util::socket::{self, Endpoint, Socket};

/// The largest packet taken from a milter.
pub const MAX_PACKET: usize = 1 << 20;
/// Body chunk size (SMFIC_BODY).
const CHUNK: usize = 65535;
/// The most edits, and edit bytes, taken from one milter for one message.
const MAX_EDITS: usize = 10_000;
const MAX_EDIT_BYTES: usize = 64 << 20;

// Protocol flags (SMFIP_*): steps the milter may skip or not answer.
const P_NOCONNECT: u32 = 0x1;
const P_NOHELO: u32 = 0x2;
const P_NOMAIL: u32 = 0x4;
const P_NORCPT: u32 = 0x8;
const P_NOBODY: u32 = 0x10;
const P_NOHDRS: u32 = 0x20;
const P_NOEOH: u32 = 0x40;
const P_NR_HDR: u32 = 0x80;
const P_NOUNKNOWN: u32 = 0x100;
const P_NODATA: u32 = 0x200;
const P_SKIP: u32 = 0x400;
const P_NR_CONN: u32 = 0x1000;
const P_NR_HELO: u32 = 0x2000;
const P_NR_MAIL: u32 = 0x4000;
const P_NR_RCPT: u32 = 0x8000;
const P_NR_DATA: u32 = 0x10000;
const P_NR_EOH: u32 = 0x40000;
const P_NR_BODY: u32 = 0x80000;
const P_HDR_LEADSPC: u32 = 0x100000;
/// What this side can do without.
const OFFERED: u32 = P_NOCONNECT
    | P_NOHELO
    | P_NOMAIL
    | P_NORCPT
    | P_NOBODY
    | P_NOHDRS
    | P_NOEOH
    | P_NR_HDR
    | P_NOUNKNOWN
    | P_NODATA
    | P_SKIP
    | P_NR_CONN
    | P_NR_HELO
    | P_NR_MAIL
    | P_NR_RCPT
    | P_NR_DATA
    | P_NR_EOH
    | P_NR_BODY
    | P_HDR_LEADSPC;
/// Actions (SMFIF_*) allowed: headers, body, recipients, quarantine, sender,
/// and the milter choosing its macro lists.
const ACTIONS: u32 = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x40 | 0x80 | 0x100;

/// What to do when a milter cannot be asked (`milter_default_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultAction {
    Accept,
    Reject,
    TempFail,
    Quarantine,
}

impl DefaultAction {
    /// As main.cf writes it.
    pub fn name(self) -> &'static str {
        match self {
            DefaultAction::Accept => "accept",
            DefaultAction::Reject => "reject",
            DefaultAction::TempFail => "tempfail",
            DefaultAction::Quarantine => "quarantine",
        }
    }

    pub fn parse(s: &str) -> Option<DefaultAction> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "accept" => DefaultAction::Accept,
            "reject" => DefaultAction::Reject,
            "tempfail" => DefaultAction::TempFail,
            "quarantine" => DefaultAction::Quarantine,
            _ => return None,
        })
    }
}

/// One milter application and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The service as written, for the log.
    pub name: String,
    /// The whole list entry as written (with its settings), for handing
    /// the conversation to another process.
    pub entry: String,
    endpoint: Endpoint,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub content_timeout: Duration,
    pub default_action: DefaultAction,
    pub macros: std::sync::Arc<Macros>,
}

/// The main.cf defaults of [`Spec`].
#[derive(Debug, Clone)]
pub struct Defaults {
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub content_timeout: Duration,
    pub default_action: DefaultAction,
    pub macros: std::sync::Arc<Macros>,
}

impl Defaults {
    /// main.cf's milter settings (`milter_*_timeout`,
    /// `milter_default_action`, the `milter_*_macros` lists,
    /// `milter_macro_defaults`, `milter_macro_v`).
    pub fn from_config(cfg: &params::Config) -> Defaults {
        use params::table as p;
        Defaults {
            connect_timeout: cfg.time(&p::MILTER_CONNECT_TIMEOUT),
            command_timeout: cfg.time(&p::MILTER_COMMAND_TIMEOUT),
            content_timeout: cfg.time(&p::MILTER_CONTENT_TIMEOUT),
            default_action: DefaultAction::parse(cfg.str(&p::MILTER_DEFAULT_ACTION))
                .unwrap_or(DefaultAction::TempFail),
            macros: std::sync::Arc::new(Macros {
                lists: [
                    &p::MILTER_CONNECT_MACROS,
                    &p::MILTER_HELO_MACROS,
                    &p::MILTER_MAIL_MACROS,
                    &p::MILTER_RCPT_MACROS,
                    &p::MILTER_DATA_MACROS,
                    &p::MILTER_END_OF_HEADER_MACROS,
                    &p::MILTER_END_OF_DATA_MACROS,
                ]
                .map(|param| Macros::list(cfg.str(param))),
                defaults: Macros::defaults(cfg.str(&p::MILTER_MACRO_DEFAULTS)),
                v: cfg.str(&p::MILTER_MACRO_V).trim().to_string(),
            }),
        }
    }
}

/// A milter list (`smtpd_milters`, `non_smtpd_milters`: `name` for the
/// log); a bad entry is logged and left out.
pub fn parse_list(
    list: &str,
    name: &str,
    defaults: &Defaults,
    queue_dir: &std::path::Path,
) -> Vec<Spec> {
    params::value::split_list(list)
        .iter()
        .filter_map(|entry| match Spec::parse(entry, defaults, queue_dir) {
            Ok(spec) => Some(spec),
            Err(e) => {
                maillog::warning!("{name}: {e}");
                None
            }
        })
        .collect()
}

/// The macros sent at each stage (Postfix's `milter_*_macros`; a milter
/// may ask for other lists when it negotiates), the values of those the
/// mail's context does not give (`milter_macro_defaults`), and `{v}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Macros {
    /// By stage: connect, HELO, MAIL, RCPT, DATA, end of headers, end of message.
    pub lists: [Vec<String>; 7],
    pub defaults: Vec<(String, String)>,
    pub v: String,
}

/// The stages' macro command codes, in [`Macros::lists`] order.
const MACRO_STAGES: [u8; 7] = [b'C', b'H', b'M', b'R', b'T', b'N', b'E'];
/// The protocol's own stage numbers (SMFIM_*) for those, as a milter names
/// them when it asks for macro lists.
const SMFIM_ORDER: [usize; 7] = [0, 1, 2, 3, 4, 6, 5];

impl Default for Macros {
    /// Postfix's defaults.
    fn default() -> Macros {
        let l = |s: &str| Macros::list(s);
        Macros {
            lists: [
                l("j {daemon_name} {daemon_addr} v _"),
                l("{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}"),
                l("i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}"),
                l("i {rcpt_addr} {rcpt_host} {rcpt_mailer}"),
                l("i"),
                l("i"),
                l("i"),
            ],
            defaults: Vec::new(),
            v: "mailsuite".into(),
        }
    }
}

impl Macros {
    /// A macro list as main.cf writes it: names separated by spaces or commas.
    pub fn list(text: &str) -> Vec<String> {
        params::value::split_list(text)
    }

    /// `milter_macro_defaults`: `name=value` pairs (Postfix 3's `{ name = value }` too).
    pub fn defaults(text: &str) -> Vec<(String, String)> {
        params::value::split_list(text)
            .iter()
            .filter_map(|item| {
                let item = item.trim().trim_start_matches('{').trim_end_matches('}');
                let (n, v) = item.split_once('=')?;
                // Stored by the bare name: `{name}` and `name` are one macro.
                let n = n.trim().trim_start_matches('{').trim_end_matches('}');
                Some((n.to_string(), v.trim().to_string()))
            })
            .collect()
    }
}

impl Spec {
    /// One list entry; `queue_dir` anchors relative unix paths.
    pub fn parse(entry: &str, d: &Defaults, queue_dir: &std::path::Path) -> Result<Spec, String> {
        let (target, settings) = socket::with_settings(entry)?;
        let mut spec = Spec {
            endpoint: Endpoint::parse(&target, queue_dir).map_err(|e| format!("milter {e}"))?,
            name: target,
            entry: entry.trim().to_string(),
            connect_timeout: d.connect_timeout,
            command_timeout: d.command_timeout,
            content_timeout: d.content_timeout,
            default_action: d.default_action,
            macros: d.macros.clone(),
        };
        for (name, value) in settings {
            let time = || {
                params::value::parse_duration(&value)
                    .ok_or_else(|| format!("milter option \"{name}={value}\": bad time"))
            };
            match name.as_str() {
                "connect_timeout" => spec.connect_timeout = time()?,
                "command_timeout" => spec.command_timeout = time()?,
                "content_timeout" => spec.content_timeout = time()?,
                "default_action" => {
                    spec.default_action = DefaultAction::parse(&value).ok_or_else(|| {
                        format!("milter option \"{name}={value}\": unknown action")
                    })?
                }
                "protocol" => {}
                _ => return Err(format!("unknown milter option \"{name}\"")),
            }
        }
        Ok(spec)
    }
}

/// The message as the milter sees it, and as it leaves the milter.
#[derive(Debug, Clone, Default)]
pub struct Message {
    pub myhostname: String,
    /// The master.cf service name (`{daemon_name}`).
    pub daemon_name: String,
    pub queue_id: String,
    /// The client's name, address and port; None for local submissions.
    pub client: Option<(String, IpAddr, u16)>,
    pub helo: Option<String>,
    /// SASL method and login.
    pub auth: Option<(String, String)>,
    pub sender: String,
    pub recipients: Vec<String>,
    /// Name and value (without the colon; folded lines joined by `\n`).
    pub headers: Vec<(String, String)>,
    /// The body, LF line ends.
    pub body: Vec<u8>,
}

/// A milter's last word on the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Continue,
    /// Refused: the SMTP reply.
    Reject(String),
    /// Refused for now: the SMTP reply.
    TempFail(String),
    Discard,
    /// Quarantine: held, with the milter's reason.
    Hold(String),
}

/// Postfix's replies for the plain reject and tempfail answers.
pub const REJECT_REPLY: &str = "550 5.7.1 Command rejected";
pub const TEMPFAIL_REPLY: &str = "451 4.7.1 Service unavailable - try again later";
/// Postfix's reply to SMFIR_SHUTDOWN, which ends the SMTP session.
pub const SHUTDOWN_REPLY: &str = "421 4.7.0 Server closing connection";
/// Postfix's replies for a milter that could not be asked, by its
/// default action (milter8.c).
pub const DEFAULT_REJECT_REPLY: &str = "550 5.5.0 Service unavailable";

#[derive(Debug)]
pub enum MilterError {
    Io(String),
    Protocol(String),
}

impl std::fmt::Display for MilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MilterError::Io(e) => write!(f, "{e}"),
            MilterError::Protocol(e) => write!(f, "protocol error: {e}"),
        }
    }
}

impl std::error::Error for MilterError {}

fn io_err(what: &str) -> impl Fn(io::Error) -> MilterError + '_ {
    move |e| MilterError::Io(format!("{what}: {e}"))
}

/// One conversation.
struct Conn {
    s: Socket,
    /// The protocol flags the milter chose.
    proto: u32,
    /// A replacement body being received (CRLF line ends).
    new_body: Option<Vec<u8>>,
    /// A quarantine request's reason.
    quarantine: Option<String>,
    /// Edits taken so far, and their bytes.
    edits: (usize, usize),
    /// The macros to send at each stage: the configured lists, or those
    /// the milter asked for.
    macro_lists: [Vec<String>; 7],
}

fn cstr(out: &mut Vec<u8>, s: &str) {
    out.extend(s.bytes().filter(|&b| b != 0));
    out.push(0);
}

impl Conn {
    fn send(&mut self, cmd: u8, data: &[u8]) -> Result<(), MilterError> {
        let mut p = Vec::with_capacity(5 + data.len());
        p.extend_from_slice(&((data.len() + 1) as u32).to_be_bytes());
        p.push(cmd);
        p.extend_from_slice(data);
        self.s.write_all(&p).map_err(io_err("write"))
    }

    fn read(&mut self) -> Result<(u8, Vec<u8>), MilterError> {
        let mut len = [0u8; 4];
        self.s.read_exact(&mut len).map_err(io_err("read"))?;
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 || len > MAX_PACKET {
            return Err(MilterError::Protocol(format!("packet length {len}")));
        }
        let mut p = vec![0u8; len];
        self.s.read_exact(&mut p).map_err(io_err("read"))?;
        let cmd = p[0];
        p.remove(0);
        Ok((cmd, p))
    }

    /// Sends stage `stage`'s macros (an index into [`Macros::lists`]) that
    /// have a value; nothing when none has.
    fn macros(
        &mut self,
        stage: usize,
        macros: &Macros,
        msg: &Message,
        rcpt: Option<&str>,
    ) -> Result<(), MilterError> {
        let mut d = vec![MACRO_STAGES[stage]];
        for name in &self.macro_lists[stage] {
            if let Some(v) = macro_value(msg, macros, name, rcpt) {
                cstr(&mut d, name);
                cstr(&mut d, &v);
            }
        }
        if d.len() == 1 {
            return Ok(());
        }
        self.send(b'D', &d)
    }
}

/// A macro's value from the mail's context (or `milter_macro_defaults`);
/// None: not sent. `rcpt`: the recipient of the RCPT stage.
fn macro_value(msg: &Message, macros: &Macros, name: &str, rcpt: Option<&str>) -> Option<String> {
    // The client, worked out only for the macros that name it.
    let client = || match &msg.client {
        Some((n, a, p)) => (n.as_str(), a.to_string(), Some(*p)),
        None => ("localhost", "127.0.0.1".to_string(), None),
    };
    let bare = name.trim_start_matches('{').trim_end_matches('}');
    let value = match bare {
        "j" => Some(msg.myhostname.clone()),
        "daemon_name" => Some(msg.daemon_name.clone()),
        "v" => Some(macros.v.clone()),
        "_" => {
            let (name, addr, _) = client();
            Some(format!("{name} [{addr}]"))
        }
        "client_addr" => Some(client().1),
        "client_name" | "client_ptr" => Some(client().0.to_string()),
        "client_port" => client().2.map(|p| p.to_string()),
        "i" => Some(msg.queue_id.clone()),
        "auth_type" => msg.auth.as_ref().map(|(t, _)| t.clone()),
        "auth_authen" => msg.auth.as_ref().map(|(_, a)| a.clone()),
        "mail_addr" => Some(msg.sender.clone()),
        "rcpt_addr" => rcpt.map(str::to_string),
        _ => None,
    };
    value.or_else(|| {
        macros
            .defaults
            .iter()
            .find(|(n, _)| n == bare)
            .map(|(_, v)| v.clone())
    })
}

/// What one step's answer means for the rest.
enum Step {
    /// Go on with the next step.
    Next,
    /// The milter is done with this message (accept): no more steps.
    Done,
    /// The final word.
    End(Verdict),
}

fn nul_fields(data: &[u8]) -> Vec<String> {
    data.split(|&b| b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

/// Whether a milter's header name is one (RFC 5322 field name: printable
/// ASCII but `:`, at least one).
fn header_name_ok(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

/// An address a milter gives for the envelope, without its `<>`; None
/// when it holds a control character (it would go into later SMTP
/// commands as it is).
fn envelope_address(text: &str) -> Option<String> {
    let a = text.trim().trim_start_matches('<').trim_end_matches('>');
    (!a.chars().any(char::is_control)).then(|| a.to_string())
}

/// Applies one modification to the message (a body replacement is
/// gathered in `new_body`).
fn apply(
    cmd: u8,
    data: &[u8],
    msg: &mut Message,
    new_body: &mut Option<Vec<u8>>,
) -> Result<(), MilterError> {
    let bad = |what: &str| MilterError::Protocol(format!("malformed {what}"));
    let index = |d: &[u8]| -> Result<(usize, Vec<String>), MilterError> {
        if d.len() < 4 {
            return Err(bad("header index"));
        }
        Ok((
            u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize,
            nul_fields(&d[4..]),
        ))
    };
    let value = |v: &str| v.replace("\r\n", "\n");
    match cmd {
        b'h' => {
            let f = nul_fields(data);
            let (Some(name), Some(v)) = (f.first(), f.get(1)) else {
                return Err(bad("add header"));
            };
            if !header_name_ok(name) {
                return Err(bad("add header"));
            }
            msg.headers.push((name.clone(), value(v)));
        }
        b'i' => {
            let (at, f) = index(data)?;
            let (Some(name), Some(v)) = (f.first(), f.get(1)) else {
                return Err(bad("insert header"));
            };
            if !header_name_ok(name) {
                return Err(bad("insert header"));
            }
            let at = at.min(msg.headers.len());
            msg.headers.insert(at, (name.clone(), value(v)));
        }
        b'm' => {
            let (nth, f) = index(data)?;
            let (Some(name), Some(v)) = (f.first(), f.get(1)) else {
                return Err(bad("change header"));
            };
            if !header_name_ok(name) {
                return Err(bad("change header"));
            }
            // The nth (from 1) header of that name; an empty value deletes it.
            let pos = msg
                .headers
                .iter()
                .enumerate()
                .filter(|(_, (n, _))| n.eq_ignore_ascii_case(name))
                .nth(nth.max(1) - 1)
                .map(|(i, _)| i);
            match (pos, v.is_empty()) {
                (Some(i), true) => {
                    msg.headers.remove(i);
                }
                (Some(i), false) => msg.headers[i].1 = value(v),
                (None, false) => msg.headers.push((name.clone(), value(v))),
                (None, true) => {}
            }
        }
        b'b' => new_body
            .get_or_insert_with(Vec::new)
            .extend_from_slice(data),
        b'+' | b'2' => {
            let f = nul_fields(data);
            let rcpt = f.first().ok_or_else(|| bad("add recipient"))?;
            let r = envelope_address(rcpt).ok_or_else(|| bad("add recipient"))?;
            if !r.is_empty() && !msg.recipients.contains(&r) {
                msg.recipients.push(r);
            }
        }
        b'-' => {
            let f = nul_fields(data);
            let rcpt = f.first().ok_or_else(|| bad("delete recipient"))?;
            let r = rcpt.trim().trim_start_matches('<').trim_end_matches('>');
            msg.recipients.retain(|x| !x.eq_ignore_ascii_case(r));
        }
        b'e' => {
            let f = nul_fields(data);
            let from = f.first().ok_or_else(|| bad("change sender"))?;
            msg.sender = envelope_address(from).ok_or_else(|| bad("change sender"))?;
        }
        _ => {
            return Err(MilterError::Protocol(format!(
                "unexpected answer '{}'",
                cmd as char
            )))
        }
    }
    Ok(())
}

/// Postfix's check of a milter's reply (milter8.c): `4xx` or `5xx`, a
/// blank or `-`, and an enhanced status code, if one follows, of the same
/// class.
/// A milter's reply (SMFIR_REPLYCODE) as Postfix takes it: lines (a
/// multi-line reply) ended by CR LF, LF or CR, joined with CR LF; `%%` is
/// `%` and a single `%` is dropped (Sendmail uses the text as a format
/// string, so milters double it).
fn reply_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    let lines: Vec<&str> = out.split(['\r', '\n']).filter(|l| !l.is_empty()).collect();
    lines.join("\r\n")
}

/// One line of a milter's reply: a 4xx or 5xx code, then a blank or `-`,
/// and an enhanced code of the same class if any.
fn valid_reply(text: &[u8]) -> bool {
    matches!(text, [c @ (b'4' | b'5'), d1, d2, b' ' | b'-', rest @ ..]
        if d1.is_ascii_digit()
            && d2.is_ascii_digit()
            && rest.first().is_none_or(|b| !b.is_ascii_digit() || b == c))
}

/// Reads answers until a final one; modifications are applied only at the
/// end of the message (`eom`).
fn answer(c: &mut Conn, msg: &mut Message, eom: bool) -> Result<Step, MilterError> {
    loop {
        let (cmd, data) = c.read()?;
        return Ok(match cmd {
            b'c' => Step::Next,
            b'a' => Step::Done,
            b's' if !eom => Step::Done,
            b'r' => Step::End(Verdict::Reject(REJECT_REPLY.into())),
            b't' => Step::End(Verdict::TempFail(TEMPFAIL_REPLY.into())),
            // SMFIR_SHUTDOWN: the session ends (Postfix's reply).
            b'4' => Step::End(Verdict::TempFail(SHUTDOWN_REPLY.into())),
            b'd' => Step::End(Verdict::Discard),
            b'y' => {
                let text = nul_fields(&data).into_iter().next().unwrap_or_default();
                let text = reply_text(&text);
                match text.as_bytes() {
                    _ if !text.split("\r\n").all(|l| valid_reply(l.as_bytes())) => {
                        return Err(MilterError::Protocol(format!("malformed reply: {text}")))
                    }
                    [b'4', ..] => Step::End(Verdict::TempFail(text)),
                    _ => Step::End(Verdict::Reject(text)),
                }
            }
            b'p' => continue,
            b'q' if eom => {
                c.quarantine = Some(nul_fields(&data).into_iter().next().unwrap_or_default());
                continue;
            }
            b'h' | b'i' | b'm' | b'b' | b'+' | b'2' | b'-' | b'e' if eom => {
                c.edits = (c.edits.0 + 1, c.edits.1 + data.len());
                if c.edits.0 > MAX_EDITS || c.edits.1 > MAX_EDIT_BYTES {
                    return Err(MilterError::Protocol("too many edits".into()));
                }
                apply(cmd, &data, msg, &mut c.new_body)?;
                continue;
            }
            other => {
                return Err(MilterError::Protocol(format!(
                    "unexpected answer '{}'",
                    other as char
                )))
            }
        });
    }
}

/// Shows `msg` to the milter in `spec`, applies its edits, and returns its
/// verdict. An error means the milter could not be asked (the caller
/// applies `spec.default_action`); `msg` is then as it was.
pub fn inspect(spec: &Spec, msg: &mut Message) -> Result<Verdict, MilterError> {
    let mut work = msg.clone();
    let mut session = Session::open(spec)?;
    let v = replay(&mut session, &mut work);
    session.quit();
    let v = v?;
    if !matches!(
        v,
        Verdict::Reject(_) | Verdict::TempFail(_) | Verdict::Discard
    ) {
        *msg = work;
    }
    Ok(v)
}

/// The whole session, replayed at the end of the message.
fn replay(s: &mut Session, msg: &mut Message) -> Result<Verdict, MilterError> {
    macro_rules! event {
        ($e:expr) => {
            match $e? {
                Answer::Continue => {}
                Answer::Accept => return Ok(Verdict::Continue),
                Answer::Verdict(v) => return Ok(v),
            }
        };
    }
    event!(s.connect(msg));
    if let Some(h) = msg.helo.clone() {
        event!(s.helo(msg, &h));
    }
    event!(s.mail(msg));
    for r in msg.recipients.clone() {
        event!(s.rcpt(msg, &r));
    }
    event!(s.data(msg));
    s.message(msg)
}

/// CRLF line ends to LF.
fn lf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\r' && raw.get(i + 1) == Some(&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

/// What a milter answered to one event of the SMTP session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Go on.
    Continue,
    /// The milter accepts: it is left out of the rest of the session
    /// (after CONNECT or HELO) or of the transaction (after MAIL, RCPT or
    /// DATA).
    Accept,
    /// Its word on the event: a refusal (of the connection, the
    /// command, the recipient), or DISCARD for the whole message.
    Verdict(Verdict),
}

/// What a negotiated conversation needs besides its socket to be taken
/// up by another process (smtpd hands each milter to cleanup for the
/// message, as Postfix's milter8 does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    /// The protocol steps the milter chose (SMFIP_*).
    pub protocol: u32,
    /// The macro lists by stage, as configured or as the milter asked.
    pub macro_lists: [Vec<String>; 7],
}

/// One milter's conversation: negotiated once, then told of each event
/// as it happens ([`Session::connect`] … [`Session::data`]) and shown the
/// message ([`Session::message`]); [`Session::abort`] ends a transaction
/// that will not be finished, [`Session::quit`] the conversation.
pub struct Session {
    spec: Spec,
    c: Conn,
}

impl Session {
    /// Connects and negotiates the protocol (version 6, the steps and
    /// actions this side offers; the milter may ask for its own macro
    /// lists).
    pub fn open(spec: &Spec) -> Result<Session, MilterError> {
        let s = spec
            .endpoint
            .connect(spec.connect_timeout)
            .map_err(|e| MilterError::Io(e.to_string()))?;
        s.set_timeout(Some(spec.command_timeout))
            .map_err(io_err("socket"))?;
        let mut c = Conn {
            s,
            proto: 0,
            new_body: None,
            quarantine: None,
            edits: (0, 0),
            macro_lists: spec.macros.lists.clone(),
        };
        let mut neg = Vec::new();
        neg.extend_from_slice(&6u32.to_be_bytes());
        neg.extend_from_slice(&ACTIONS.to_be_bytes());
        neg.extend_from_slice(&OFFERED.to_be_bytes());
        c.send(b'O', &neg)?;
        let (cmd, data) = c.read()?;
        if cmd != b'O' || data.len() < 12 {
            return Err(MilterError::Protocol("bad option negotiation".into()));
        }
        let version = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
        if !(2..=6).contains(&version) {
            return Err(MilterError::Protocol(format!(
                "milter protocol version {version}"
            )));
        }
        c.proto = u32::from_be_bytes([data[8], data[9], data[10], data[11]]) & OFFERED;
        // Protocol 6: the milter may ask for its own macro lists.
        let mut rest = &data[12..];
        while rest.len() > 4 {
            let smfim = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let text = &rest[4..];
            let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
            let list = String::from_utf8_lossy(&text[..end]).into_owned();
            if let Some(stage) = SMFIM_ORDER.iter().position(|&m| m == smfim) {
                c.macro_lists[stage] = Macros::list(&list);
            }
            rest = text.get(end + 1..).unwrap_or(&[]);
        }
        Ok(Session {
            spec: spec.clone(),
            c,
        })
    }

    /// A conversation another process negotiated, on its socket.
    pub fn resume(spec: &Spec, socket: Socket, handoff: Handoff) -> Result<Session, MilterError> {
        socket
            .set_timeout(Some(spec.command_timeout))
            .map_err(io_err("socket"))?;
        Ok(Session {
            spec: spec.clone(),
            c: Conn {
                s: socket,
                proto: handoff.protocol & OFFERED,
                new_body: None,
                quarantine: None,
                edits: (0, 0),
                macro_lists: handoff.macro_lists,
            },
        })
    }

    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// What another process needs to go on with this conversation.
    pub fn handoff(&self) -> Handoff {
        Handoff {
            protocol: self.c.proto,
            macro_lists: self.c.macro_lists.clone(),
        }
    }

    /// The conversation's socket (to hand to another process).
    pub fn socket(&self) -> &Socket {
        &self.c.s
    }

    /// Sends one event (its macros first) and reads the answer, unless
    /// the milter asked to be spared the event or its answer.
    fn event(
        &mut self,
        e: Event,
        data: &[u8],
        msg: &mut Message,
        rcpt: Option<&str>,
    ) -> Result<Answer, MilterError> {
        if self.c.proto & e.skip != 0 {
            return Ok(Answer::Continue);
        }
        let macros = self.spec.macros.clone();
        self.c.macros(e.stage, &macros, msg, rcpt)?;
        self.c.send(e.cmd, data)?;
        if self.c.proto & e.no_reply != 0 {
            return Ok(Answer::Continue);
        }
        Ok(match answer(&mut self.c, msg, false)? {
            Step::Next => Answer::Continue,
            Step::Done => Answer::Accept,
            Step::End(v) => Answer::Verdict(v),
        })
    }

    /// The client connected (SMFIC_CONNECT).
    pub fn connect(&mut self, msg: &mut Message) -> Result<Answer, MilterError> {
        let mut d = Vec::new();
        match &msg.client {
            Some((name, addr, port)) => {
                cstr(&mut d, name);
                d.push(if addr.is_ipv4() { b'4' } else { b'6' });
                d.extend_from_slice(&port.to_be_bytes());
                cstr(&mut d, &addr.to_string());
            }
            None => {
                cstr(&mut d, "localhost");
                d.push(b'U');
            }
        }
        self.event(Event::CONNECT, &d, msg, None)
    }

    /// HELO or EHLO (SMFIC_HELO).
    pub fn helo(&mut self, msg: &mut Message, name: &str) -> Result<Answer, MilterError> {
        let mut d = Vec::new();
        cstr(&mut d, name);
        self.event(Event::HELO, &d, msg, None)
    }

    /// MAIL FROM, with `msg.sender` (SMFIC_MAIL).
    pub fn mail(&mut self, msg: &mut Message) -> Result<Answer, MilterError> {
        let mut d = Vec::new();
        cstr(&mut d, &format!("<{}>", msg.sender));
        self.event(Event::MAIL, &d, msg, None)
    }

    /// RCPT TO (SMFIC_RCPT).
    pub fn rcpt(&mut self, msg: &mut Message, rcpt: &str) -> Result<Answer, MilterError> {
        let mut d = Vec::new();
        cstr(&mut d, &format!("<{rcpt}>"));
        self.event(Event::RCPT, &d, msg, Some(rcpt))
    }

    /// DATA (SMFIC_DATA).
    pub fn data(&mut self, msg: &mut Message) -> Result<Answer, MilterError> {
        self.event(Event::DATA, &[], msg, None)
    }

    /// The message: its headers, end of headers, body and end of message;
    /// the milter's edits are applied to `msg`.
    pub fn message(&mut self, msg: &mut Message) -> Result<Verdict, MilterError> {
        self.c
            .s
            .set_timeout(Some(self.spec.content_timeout))
            .map_err(io_err("socket"))?;
        let v = self.content(msg);
        let _ = self.c.s.set_timeout(Some(self.spec.command_timeout));
        v
    }

    fn content(&mut self, msg: &mut Message) -> Result<Verdict, MilterError> {
        let proto = self.c.proto;
        macro_rules! step {
            ($e:expr) => {
                match $e? {
                    Answer::Continue => {}
                    Answer::Accept => return Ok(Verdict::Continue),
                    Answer::Verdict(v) => return Ok(v),
                }
            };
        }
        if proto & P_NOHDRS == 0 {
            for (n, v) in msg.headers.clone() {
                let v = if proto & P_HDR_LEADSPC != 0 {
                    format!(" {v}")
                } else {
                    v
                };
                let mut d = Vec::new();
                cstr(&mut d, &n);
                cstr(&mut d, &v);
                self.c.send(b'L', &d)?;
                if proto & P_NR_HDR == 0 {
                    step!(answer(&mut self.c, msg, false).map(Answer::from));
                }
            }
        }
        step!(self.event(Event::EOH, &[], msg, None));
        if proto & P_NOBODY == 0 {
            let body = mime::to_crlf(&msg.body).into_owned();
            for chunk in body.chunks(CHUNK) {
                self.c.send(b'B', chunk)?;
                if proto & P_NR_BODY == 0 {
                    match answer(&mut self.c, msg, false)? {
                        Step::Next => {}
                        // Skip: no more body, straight to the end.
                        Step::Done if proto & P_SKIP != 0 => break,
                        Step::Done => return Ok(Verdict::Continue),
                        Step::End(v) => return Ok(v),
                    }
                }
            }
        }
        let macros = self.spec.macros.clone();
        self.c.macros(6, &macros, msg, None)?;
        self.c.send(b'E', &[])?;
        let v = match answer(&mut self.c, msg, true)? {
            Step::End(v) => v,
            _ => match self.c.quarantine.take() {
                Some(why) => Verdict::Hold(why),
                None => Verdict::Continue,
            },
        };
        if let Some(body) = self.c.new_body.take() {
            msg.body = lf(&body);
        }
        self.c.edits = (0, 0);
        Ok(v)
    }

    /// The transaction ends unfinished (RSET, a new HELO, a refusal):
    /// the milter forgets it (SMFIC_ABORT, which has no answer).
    pub fn abort(&mut self) -> Result<(), MilterError> {
        self.c.send(b'A', &[])
    }

    /// Ends the conversation (SMFIC_QUIT).
    pub fn quit(mut self) {
        let _ = self.c.send(b'Q', &[]);
    }
}

/// One event of the session: its stage (an index into [`Macros::lists`]),
/// command, and the protocol flags that spare the milter the event or its
/// answer.
#[derive(Clone, Copy)]
struct Event {
    stage: usize,
    cmd: u8,
    skip: u32,
    no_reply: u32,
}

impl Event {
    const CONNECT: Event = Event {
        stage: 0,
        cmd: b'C',
        skip: P_NOCONNECT,
        no_reply: P_NR_CONN,
    };
    const HELO: Event = Event {
        stage: 1,
        cmd: b'H',
        skip: P_NOHELO,
        no_reply: P_NR_HELO,
    };
    const MAIL: Event = Event {
        stage: 2,
        cmd: b'M',
        skip: P_NOMAIL,
        no_reply: P_NR_MAIL,
    };
    const RCPT: Event = Event {
        stage: 3,
        cmd: b'R',
        skip: P_NORCPT,
        no_reply: P_NR_RCPT,
    };
    const DATA: Event = Event {
        stage: 4,
        cmd: b'T',
        skip: P_NODATA,
        no_reply: P_NR_DATA,
    };
    const EOH: Event = Event {
        stage: 5,
        cmd: b'N',
        skip: P_NOEOH,
        no_reply: P_NR_EOH,
    };
}

impl From<Step> for Answer {
    fn from(s: Step) -> Answer {
        match s {
            Step::Next => Answer::Continue,
            Step::Done => Answer::Accept,
            Step::End(v) => Answer::Verdict(v),
        }
    }
}

#[cfg(test)]
mod tests;
