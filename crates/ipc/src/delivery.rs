//! The delivery protocol: qmgr hands a delivery agent (local, smtp,
//! virtual, error…) one message and some of its recipients over
//! `private/<transport>`; the agent delivers, marks each delivered
//! recipient done in the queue file (after the mailbox or the remote server
//! has it), logs Postfix's `to=<…>, relay=…, status=…` line, and answers
//! with one result per recipient, and whether the destination as a whole
//! failed (qmgr's concurrency feedback).
//!
//! ```text
//! qmgr                                   agent
//! Request { queue file, recipients } ──►
//!                                    ◄── Response { results, site_failed }
//! ```

use crate::frame::{Decoder, Encoder};
use crate::IpcError;

const REQUEST: u8 = 20;
const RESPONSE: u8 = 21;

/// The most recipients one request may carry.
pub const MAX_RECIPIENTS: usize = 10_000;

/// One recipient of a request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rcpt {
    pub address: String,
    /// As the client first gave it (for X-Original-To and orig_to= in logs).
    pub original: Option<String>,
    pub orcpt: Option<String>,
    pub notify: u8,
    /// Offset of the recipient record in the queue file, for queue::mark_done;
    /// [`CALLER_MARKS_DONE`] when the recipient was passed on by another agent.
    pub offset: u64,
}

/// The offset of a recipient that another agent passed on (local's
/// `mailbox_transport`): that agent marks it done, once all of what the
/// recipient expanded to is delivered. No recipient record starts at 0.
pub const CALLER_MARKS_DONE: u64 = 0;

impl Rcpt {
    /// Whether the agent that delivers this recipient marks it done.
    pub fn agent_marks_done(&self) -> bool {
        self.offset != CALLER_MARKS_DONE
    }
}

/// What qmgr asks of an agent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Request {
    pub queue_id: String,
    /// The queue directory the file is in now ("active").
    pub queue_name: String,
    pub sender: String,
    /// The transport's next hop: a domain, `[host]:port`, or for local the recipient's domain.
    pub nexthop: String,
    /// Seconds since the epoch, with microseconds, for the log's delay= and delays=.
    pub arrival: f64,
    /// When qmgr moved the message to active/.
    pub active_since: f64,
    /// When qmgr sent this request.
    pub sent_at: f64,
    pub recipients: Vec<Rcpt>,
    /// An address verification probe: only try the recipients (the SMTP
    /// client stops after RCPT TO, local and virtual look them up), deliver
    /// nothing, mark nothing done, and log `deliverable`/`undeliverable`.
    pub probe: bool,
    /// A probe for `sendmail -bv` (Postfix's user verification): local
    /// follows aliases and .forward files to every destination, where the
    /// verify service's probes stop at the first ("aliased to …").
    pub user_verify: bool,
}

/// What became of a recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered; marked done in the queue file.
    Sent,
    /// Not now; try again later.
    Deferred,
    /// Never: return it to the sender.
    Bounced,
}

impl Outcome {
    /// The word after `status=` in the log.
    pub fn status(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Deferred => "deferred",
            Outcome::Bounced => "bounced",
        }
    }

    /// The word after `status=` for a recipient of a request: an address
    /// verification probe's are `deliverable` and `undeliverable`, and a
    /// bounce that soft_bounce keeps queued is `SOFTBOUNCE`, as Postfix
    /// logs them.
    pub fn status_of(self, req: &Request) -> &'static str {
        match (req.probe, self) {
            (true, Outcome::Sent) => "deliverable",
            (true, Outcome::Bounced) => "undeliverable",
            (false, Outcome::Bounced) if soft_bounce() => "SOFTBOUNCE",
            (_, o) => o.status(),
        }
    }

    /// What the agent that decided it reports: with soft_bounce (that
    /// process's), a bounce is deferred (Postfix's safety net: nothing is
    /// returned to the sender).
    pub fn softened(self) -> Outcome {
        match self {
            Outcome::Bounced if soft_bounce() => Outcome::Deferred,
            o => o,
        }
    }
}

/// Where a sent recipient's delivery ended, for NOTIFY=SUCCESS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Success {
    /// In a mailbox (or a file, a command) here: the notice says delivered.
    #[default]
    Delivered,
    /// Handed to a server that does not do DSN: the notice says relayed.
    Relayed,
    /// Handed to a server that took the NOTIFY request on: no notice
    /// from here (that server, or the next, sends it).
    PassedOn,
    /// An alias expanded (RFC 3461's "expanded": its destinations send
    /// no success notices of their own).
    Expanded,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcptResult {
    pub outcome: Outcome,
    /// The DSN status code, e.g. 2.0.0, 4.4.1, 5.1.1.
    pub dsn: String,
    /// The relay as Postfix logs it: `local`, `host[ip]:port`, `none`.
    pub relay: String,
    /// The text after status=… in parentheses.
    pub reason: String,
    /// For a sent recipient: where its delivery ended.
    pub success: Success,
    /// An address verification probe of a recipient that an alias or a
    /// .forward expands: each final destination and what it would get
    /// (Postfix's `sendmail -bv` report lists them); empty otherwise.
    pub expansions: Vec<Expansion>,
}

impl RcptResult {
    /// A result no agent gave (qmgr's own: the error and retry transports,
    /// a deferred transport, a table that failed): relay `none`, no
    /// destinations of its own.
    pub fn none(outcome: Outcome, dsn: impl Into<String>, reason: impl Into<String>) -> RcptResult {
        RcptResult {
            outcome,
            dsn: dsn.into(),
            relay: "none".into(),
            reason: reason.into(),
            success: Success::default(),
            expansions: Vec::new(),
        }
    }
}

/// One final destination of an expanded recipient, with its own result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    pub address: String,
    pub outcome: Outcome,
    pub dsn: String,
    pub reason: String,
}

/// The most expansions one result carries (local's limit on the
/// destinations of one recipient is lower).
pub const EXPANSIONS_MAX: usize = 10_000;

/// The agent's answer: one result per recipient, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub results: Vec<RcptResult>,
    /// The destination as a whole failed (no server could be reached, or
    /// none would talk): qmgr's concurrency feedback counts it against the
    /// destination, not only against these recipients.
    pub site_failed: bool,
}

impl Response {
    /// Results of a delivery that reached the destination (or a mailbox).
    pub fn new(results: Vec<RcptResult>) -> Response {
        Response {
            results,
            site_failed: false,
        }
    }
}

fn plain(what: &'static str, s: &str) -> Result<(), IpcError> {
    if s.chars().any(|c| c == '\0' || c == '\n' || c == '\r') {
        return Err(IpcError::BadField(what));
    }
    Ok(())
}

impl Request {
    pub fn encode(&self) -> (u8, Vec<u8>) {
        let mut e = Encoder::new()
            .str(&self.queue_id)
            .str(&self.queue_name)
            .str(&self.sender)
            .str(&self.nexthop)
            .u64(self.arrival.to_bits())
            .u64(self.active_since.to_bits())
            .u64(self.sent_at.to_bits())
            .u32(self.recipients.len() as u32);
        for r in &self.recipients {
            e = e
                .str(&r.address)
                .opt_str(r.original.as_deref())
                .opt_str(r.orcpt.as_deref())
                .u8(r.notify)
                .u64(r.offset);
        }
        // 0: mail, 1: a probe, 2: a sendmail -bv probe.
        e = e.u8(match (self.probe, self.user_verify) {
            (false, _) => 0,
            (true, false) => 1,
            (true, true) => 2,
        });
        (REQUEST, e.finish())
    }

    pub fn decode(kind: u8, payload: &[u8]) -> Result<Request, IpcError> {
        if kind != REQUEST {
            return Err(IpcError::BadField("request kind"));
        }
        let mut d = Decoder::new(payload);
        let queue_id = d.str("queue id")?.to_string();
        if queue_id.is_empty() || !queue_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(IpcError::BadField("queue id"));
        }
        let queue_name = d.str("queue name")?.to_string();
        if !["active", "incoming", "deferred", "hold"].contains(&queue_name.as_str()) {
            return Err(IpcError::BadField("queue name"));
        }
        let sender = d.str("sender")?.to_string();
        plain("sender", &sender)?;
        let nexthop = d.str("nexthop")?.to_string();
        plain("nexthop", &nexthop)?;
        let time = |d: &mut Decoder, what| -> Result<f64, IpcError> {
            let t = f64::from_bits(d.u64(what)?);
            if t.is_finite() && t >= 0.0 {
                Ok(t)
            } else {
                Err(IpcError::BadField(what))
            }
        };
        let arrival = time(&mut d, "arrival")?;
        let active_since = time(&mut d, "active since")?;
        let sent_at = time(&mut d, "sent at")?;
        let n = d.u32("recipients")? as usize;
        if n == 0 || n > MAX_RECIPIENTS {
            return Err(IpcError::BadField("recipients"));
        }
        let mut recipients = Vec::with_capacity(n);
        for _ in 0..n {
            let address = d.str("recipient")?.to_string();
            plain("recipient", &address)?;
            let original = d.opt_str("original")?.map(str::to_string);
            plain("original", original.as_deref().unwrap_or_default())?;
            let orcpt = d.opt_str("orcpt")?.map(str::to_string);
            plain("orcpt", orcpt.as_deref().unwrap_or_default())?;
            let notify = d.u8("notify")?;
            let offset = d.u64("offset")?;
            recipients.push(Rcpt {
                address,
                original,
                orcpt,
                notify,
                offset,
            });
        }
        let (probe, user_verify) = match d.u8("probe")? {
            0 => (false, false),
            1 => (true, false),
            2 => (true, true),
            _ => return Err(IpcError::BadField("probe")),
        };
        d.end()?;
        Ok(Request {
            queue_id,
            queue_name,
            sender,
            nexthop,
            arrival,
            active_since,
            sent_at,
            recipients,
            probe,
            user_verify,
        })
    }
}

fn outcome_code(o: Outcome) -> u8 {
    match o {
        Outcome::Sent => 0,
        Outcome::Deferred => 1,
        Outcome::Bounced => 2,
    }
}

fn outcome_of(code: u8) -> Result<Outcome, IpcError> {
    match code {
        0 => Ok(Outcome::Sent),
        1 => Ok(Outcome::Deferred),
        2 => Ok(Outcome::Bounced),
        _ => Err(IpcError::BadField("outcome")),
    }
}

/// A DSN status (`x.y.z`, each one to three digits) whose class fits the
/// outcome.
fn check_dsn(outcome: Outcome, dsn: &str) -> Result<(), IpcError> {
    let parts: Vec<&str> = dsn.split('.').collect();
    let valid = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
    let class_ok = matches!(
        (outcome, dsn.as_bytes().first()),
        (Outcome::Sent, Some(b'2'))
            | (Outcome::Deferred, Some(b'4'))
            | (Outcome::Bounced, Some(b'5'))
    );
    if valid && class_ok {
        Ok(())
    } else {
        Err(IpcError::BadField("dsn"))
    }
}

impl Response {
    pub fn encode(&self) -> (u8, Vec<u8>) {
        let mut e = Encoder::new().u32(self.results.len() as u32);
        for r in &self.results {
            let o = outcome_code(r.outcome);
            let success = match r.success {
                Success::Delivered => 0,
                Success::Relayed => 1,
                Success::PassedOn => 2,
                Success::Expanded => 3,
            };
            e = e.u8(o).str(&r.dsn).str(&r.relay).str(&r.reason).u8(success);
            e = e.u32(r.expansions.len() as u32);
            for x in &r.expansions {
                e = e
                    .str(&x.address)
                    .u8(outcome_code(x.outcome))
                    .str(&x.dsn)
                    .str(&x.reason);
            }
        }
        (RESPONSE, e.u8(u8::from(self.site_failed)).finish())
    }

    /// Decodes a response to a request with `expected` recipients.
    pub fn decode(kind: u8, payload: &[u8], expected: usize) -> Result<Response, IpcError> {
        if kind != RESPONSE {
            return Err(IpcError::BadField("response kind"));
        }
        let mut d = Decoder::new(payload);
        let n = d.u32("results")? as usize;
        if n != expected {
            return Err(IpcError::BadField("result count"));
        }
        let mut results = Vec::with_capacity(n);
        for _ in 0..n {
            let outcome = outcome_of(d.u8("outcome")?)?;
            let dsn = d.str("dsn")?.to_string();
            check_dsn(outcome, &dsn)?;
            let relay = d.str("relay")?.to_string();
            let reason = d.str("reason")?.to_string();
            let success = match d.u8("success")? {
                0 => Success::Delivered,
                1 => Success::Relayed,
                2 => Success::PassedOn,
                3 => Success::Expanded,
                _ => return Err(IpcError::BadField("success")),
            };
            let count = d.u32("expansions")? as usize;
            if count > EXPANSIONS_MAX {
                return Err(IpcError::BadField("expansions"));
            }
            let mut expansions = Vec::with_capacity(count);
            for _ in 0..count {
                let address = d.str("expansion address")?.to_string();
                let outcome = outcome_of(d.u8("expansion outcome")?)?;
                let dsn = d.str("expansion dsn")?.to_string();
                check_dsn(outcome, &dsn)?;
                let reason = d.str("expansion reason")?.to_string();
                expansions.push(Expansion {
                    address,
                    outcome,
                    dsn,
                    reason,
                });
            }
            results.push(RcptResult {
                outcome,
                dsn,
                relay,
                reason,
                success,
                expansions,
            });
        }
        let site_failed = match d.u8("site failed")? {
            0 => false,
            1 => true,
            _ => return Err(IpcError::BadField("site failed")),
        };
        d.end()?;
        Ok(Response {
            results,
            site_failed,
        })
    }
}

/// `soft_bounce`, for this process (the server skeleton sets it).
static SOFT_BOUNCE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sets `soft_bounce` for this process.
pub fn set_soft_bounce(on: bool) {
    SOFT_BOUNCE.store(on, std::sync::atomic::Ordering::Relaxed);
}

fn soft_bounce() -> bool {
    SOFT_BOUNCE.load(std::sync::atomic::Ordering::Relaxed)
}

/// `delay_logging_resolution_limit`: digits after the decimal point in
/// `delay=` and `delays=` (0 to 6; Postfix's default, 2, until set).
static DELAY_RESOLUTION: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(2);

/// Sets `delay_logging_resolution_limit` for this process (the server
/// skeleton does, from main.cf).
pub fn set_delay_resolution(digits: i64) {
    let d = digits.clamp(0, 6) as u8;
    DELAY_RESOLUTION.store(d, std::sync::atomic::Ordering::Relaxed);
}

/// `delay=…, delays=a/b/c/d` as Postfix logs them: total since arrival,
/// then before qmgr, in qmgr, connection set-up, transmission; each with
/// two significant digits, at most `delay_logging_resolution_limit`
/// after the point.
pub fn delays(req: &Request, setup_done: f64, now: f64) -> String {
    let digits = u32::from(DELAY_RESOLUTION.load(std::sync::atomic::Ordering::Relaxed));
    let fmt = |x: f64| format_seconds(x, 2, digits);
    format!(
        "delay={}, delays={}/{}/{}/{}",
        fmt(now - req.arrival),
        fmt(req.active_since - req.arrival),
        fmt(req.sent_at - req.active_since),
        fmt(setup_done - req.sent_at),
        fmt(now - setup_done)
    )
}

/// A time in seconds with `significant` digits for small values and at
/// most `max_decimals` after the point, rounded, trailing zeros left out
/// (Postfix's format_tv).
pub fn format_seconds(x: f64, significant: u32, max_decimals: u32) -> String {
    const MILLION: u64 = 1_000_000;
    let x = if x.is_finite() { x.max(0.0) } else { 0.0 };
    let mut sec = x.trunc() as u64;
    let mut usec = ((x - x.trunc()) * MILLION as f64) as u64;
    let significant = significant.clamp(1, 6);
    let mut unit = MILLION / 10u64.pow(max_decimals.min(6));
    let width = 10u64.pow(significant);
    // Leave out the digits that say nothing.
    if unit < MILLION {
        if sec > 0 {
            let mut n = 1;
            while sec >= n && n <= width / 10 {
                n *= 10;
            }
            unit = (MILLION / width) * n;
        } else {
            while usec >= width * unit {
                unit *= 10;
            }
        }
    }
    if unit > 1 {
        usec += unit / 2;
        if usec >= MILLION {
            sec += 1;
            usec -= MILLION;
        }
    }
    let mut out = sec.to_string();
    if usec >= unit {
        out.push('.');
        let (mut rest, mut n) = (usec, MILLION / 10);
        while rest >= unit && n > 0 {
            out.push(char::from(b'0' + (rest / n) as u8));
            rest %= n;
            n /= 10;
        }
    }
    out
}

/// Why a delivery agent could not serve one request.
#[derive(Debug)]
pub enum ServeError {
    Read(crate::frame::FrameError),
    Decode(IpcError),
    /// The response could not be sent (the queue ID is named).
    Write(String, std::io::Error),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Read(e) => write!(f, "read delivery request: {e}"),
            ServeError::Decode(e) => write!(f, "bad delivery request: {e}"),
            ServeError::Write(id, e) => write!(f, "{id}: send delivery response: {e}"),
        }
    }
}

/// A delivery agent's side of one client of its socket (local, smtp,
/// lmtp): reads qmgr's validated request, answers with what `handle`
/// returns. A client that closes without a request is not an error.
pub fn serve_one<S: std::io::Read + std::io::Write>(
    stream: &mut S,
    handle: impl FnOnce(&Request) -> Response,
) -> Result<(), ServeError> {
    let Some((kind, payload)) = crate::frame::read_frame(stream).map_err(ServeError::Read)? else {
        return Ok(());
    };
    let req = Request::decode(kind, &payload).map_err(ServeError::Decode)?;
    let (kind, payload) = handle(&req).encode();
    crate::frame::write_frame(stream, kind, &payload)
        .map_err(|e| ServeError::Write(req.queue_id.clone(), e))
}

/// Splits a `transport:nexthop` value (a content filter, `mailbox_transport`,
/// `fallback_transport`, a table's result) into the transport, which must be
/// a plain service name because it names a socket in `private/`, and the next
/// hop (empty: the recipient's usual one). None when it is not usable.
pub fn service_route(value: &str) -> Option<(String, String)> {
    let (transport, nexthop) = match value.split_once(':') {
        Some((t, n)) => (t.trim(), n.trim()),
        None => (value.trim(), ""),
    };
    let plain = !transport.is_empty()
        && transport.len() <= 64
        && !transport.starts_with('.')
        && transport
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    plain.then(|| (transport.to_string(), nexthop.to_string()))
}

/// Hands `req` to the delivery agent listening on `socket` and waits (at
/// most `timeout` per read or write) for its validated response. The error
/// names what failed; one starting with "connect " means the agent is not
/// there (Postfix's "mail transport unavailable").
pub fn call(
    socket: &std::path::Path,
    req: &Request,
    timeout: std::time::Duration,
) -> Result<Response, String> {
    let mut s = std::os::unix::net::UnixStream::connect(socket)
        .map_err(|e| format!("connect {}: {}", socket.display(), util::strerror(&e)))?;
    s.set_read_timeout(Some(timeout))
        .and_then(|()| s.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    let (k, p) = req.encode();
    crate::frame::write_frame(&mut s, k, &p).map_err(|e| format!("send request: {e}"))?;
    match crate::frame::read_frame(&mut s) {
        Ok(Some((k, p))) => {
            Response::decode(k, &p, req.recipients.len()).map_err(|e| format!("bad response: {e}"))
        }
        Ok(None) => Err("the delivery agent closed the connection".into()),
        Err(e) => Err(format!("read response: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_validation() {
        let req = Request {
            queue_id: "4jWj774S4Sz1Spg9".into(),
            queue_name: "active".into(),
            sender: "a@b.example".into(),
            nexthop: "example.test".into(),
            arrival: 1.5,
            active_since: 2.0,
            sent_at: 2.25,
            recipients: vec![Rcpt {
                address: "u@example.test".into(),
                original: Some("u".into()),
                orcpt: None,
                notify: 4,
                offset: 120,
            }],
            probe: true,
            user_verify: true,
        };
        let (k, p) = req.encode();
        assert_eq!(Request::decode(k, &p).unwrap(), req);
        for cut in 0..p.len() {
            assert!(Request::decode(k, &p[..cut]).is_err());
        }
        let bad = Request {
            queue_name: "../../etc".into(),
            ..req.clone()
        };
        let (k, p) = bad.encode();
        assert!(Request::decode(k, &p).is_err());
        // A line break in any address could start a header or a command.
        for (original, orcpt) in [(Some("u\r\nX: y"), None), (None, Some("rfc822;u\n"))] {
            let mut bad = req.clone();
            bad.recipients[0].original = original.map(str::to_string);
            bad.recipients[0].orcpt = orcpt.map(str::to_string);
            let (k, p) = bad.encode();
            assert!(Request::decode(k, &p).is_err(), "{original:?} {orcpt:?}");
        }
        let resp = Response {
            results: vec![RcptResult {
                outcome: Outcome::Bounced,
                dsn: "5.1.1".into(),
                relay: "local".into(),
                reason: "unknown user".into(),
                success: Default::default(),
                expansions: Vec::new(),
            }],
            site_failed: true,
        };
        let (k, p) = resp.encode();
        assert_eq!(Response::decode(k, &p, 1).unwrap(), resp);
        for cut in 0..p.len() {
            assert!(Response::decode(k, &p[..cut], 1).is_err());
        }
        assert!(
            Response::decode(k, &p, 2).is_err(),
            "count must match the request"
        );
        let wrong = Response {
            results: vec![RcptResult {
                outcome: Outcome::Sent,
                dsn: "5.0.0".into(),
                relay: "x".into(),
                reason: String::new(),
                success: Default::default(),
                expansions: Vec::new(),
            }],
            site_failed: false,
        };
        let (k, p) = wrong.encode();
        assert!(Response::decode(k, &p, 1).is_err(), "sent with a 5xx code");
        assert_eq!(
            delays(&req, 2.5, 3.0),
            "delay=1.5, delays=0.5/0.25/0.25/0.5"
        );
    }

    /// Postfix's format_tv, with its own test cases' answers.
    #[test]
    fn times_as_postfix_formats_them() {
        for (x, sig, max, want) in [
            (1.234, 2, 2, "1.2"),
            (12.7, 2, 2, "13"),
            (123.4, 2, 2, "123"),
            (0.0567, 2, 2, "0.06"),
            (0.0567, 2, 3, "0.057"),
            (0.003, 2, 2, "0"),
            (0.005, 2, 2, "0.01"),
            (0.25, 2, 2, "0.25"),
            (0.999, 2, 2, "1"),
            (0.5, 2, 0, "1"),
            (0.4, 2, 0, "0"),
            (0.000_01, 2, 6, "0.00001"),
            (2.0, 2, 2, "2"),
            (-1.0, 2, 2, "0"),
        ] {
            assert_eq!(format_seconds(x, sig, max), want, "{x} {sig} {max}");
        }
    }

    #[test]
    fn service_routes() {
        let route = |v| service_route(v);
        assert_eq!(
            route("lmtp:unix:private/dovecot-lmtp"),
            Some(("lmtp".into(), "unix:private/dovecot-lmtp".into()))
        );
        assert_eq!(route(" dovecot "), Some(("dovecot".into(), String::new())));
        assert_eq!(
            route("smtp-amavis:[127.0.0.1]:10024"),
            Some(("smtp-amavis".into(), "[127.0.0.1]:10024".into()))
        );
        assert_eq!(route("../x:y"), None);
        assert_eq!(route("a/b"), None);
        assert_eq!(route(":nexthop"), None);
        assert_eq!(route(""), None);
    }
}

/// The bounce service request: qmgr asks bounce to return the failed
/// recipients in `bounce/ID` (or report delays or successes) for the
/// message in `queue_name/ID`.
pub mod bounce {
    use crate::frame::{Decoder, Encoder};
    use crate::IpcError;

    const NOTICE: u8 = 30;
    const DONE: u8 = 31;

    /// Which notice to send.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Kind {
        /// Non-delivery: the recipients in the bounce log failed.
        Failure,
        /// Delay warning: the recipients in the defer log are still waiting.
        Delay,
        /// Success notice for NOTIFY=SUCCESS recipients in the trace log.
        Success,
        /// The report `sendmail -bv` asked for: what delivery would do
        /// with each recipient, from the trace log.
        Verify,
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Notice {
        pub queue_id: String,
        pub queue_name: String,
        pub kind: Kind,
    }

    /// The notice's queue ID, or empty when none was sent (a double bounce
    /// that is only logged); `ok` false means try again later.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Done {
        pub ok: bool,
        pub queue_id: String,
    }

    impl Notice {
        pub fn encode(&self) -> (u8, Vec<u8>) {
            let k = match self.kind {
                Kind::Failure => 0,
                Kind::Delay => 1,
                Kind::Success => 2,
                Kind::Verify => 3,
            };
            (
                NOTICE,
                Encoder::new()
                    .str(&self.queue_id)
                    .str(&self.queue_name)
                    .u8(k)
                    .finish(),
            )
        }

        pub fn decode(kind: u8, payload: &[u8]) -> Result<Notice, IpcError> {
            if kind != NOTICE {
                return Err(IpcError::BadField("notice kind"));
            }
            let mut d = Decoder::new(payload);
            let queue_id = d.str("queue id")?.to_string();
            if queue_id.is_empty() || !queue_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(IpcError::BadField("queue id"));
            }
            let queue_name = d.str("queue name")?.to_string();
            if !["active", "deferred", "incoming"].contains(&queue_name.as_str()) {
                return Err(IpcError::BadField("queue name"));
            }
            let kind = match d.u8("kind")? {
                0 => Kind::Failure,
                1 => Kind::Delay,
                2 => Kind::Success,
                3 => Kind::Verify,
                _ => return Err(IpcError::BadField("kind")),
            };
            d.end()?;
            Ok(Notice {
                queue_id,
                queue_name,
                kind,
            })
        }
    }

    impl Done {
        pub fn encode(&self) -> (u8, Vec<u8>) {
            (
                DONE,
                Encoder::new()
                    .u8(self.ok as u8)
                    .str(&self.queue_id)
                    .finish(),
            )
        }

        pub fn decode(kind: u8, payload: &[u8]) -> Result<Done, IpcError> {
            if kind != DONE {
                return Err(IpcError::BadField("done kind"));
            }
            let mut d = Decoder::new(payload);
            let ok = match d.u8("ok")? {
                0 => false,
                1 => true,
                _ => return Err(IpcError::BadField("ok")),
            };
            let queue_id = d.str("queue id")?.to_string();
            d.end()?;
            Ok(Done { ok, queue_id })
        }
    }
}
