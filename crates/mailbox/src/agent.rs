//! What the mailbox delivery agents (local, virtual) share around one
//! recipient: the verdict ([`Verdict`], [`sent`], [`failed`]), the end
//! of a recipient ([`finish`]: marked done in the queue file before qmgr
//! hears of it, logged as Postfix logs it, turned into the reply;
//! [`finish_expanded`] for one an alias expanded, a line per
//! destination), and
//! the Delivered-To values already in a message, for loop detection.

use crate::error::DeliveryError;
use ipc::delivery::{self, Outcome, RcptResult, Request, Response};

/// The result of delivering to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    pub dsn: String,
    pub text: String,
    /// Set when another delivery agent made the delivery (local's
    /// `mailbox_transport`, `fallback_transport`): it logged the line, and
    /// this is where the message went.
    pub passed: Option<Passed>,
}

/// A delivery another agent made and logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passed {
    pub relay: String,
    pub success: delivery::Success,
}

impl Verdict {
    /// The verdict for what another agent answered for a recipient it
    /// delivered and logged.
    pub fn passed(r: RcptResult) -> Verdict {
        Verdict {
            outcome: r.outcome,
            dsn: r.dsn,
            text: r.reason,
            passed: Some(Passed {
                relay: r.relay,
                success: r.success,
            }),
        }
    }
}

pub fn sent(text: impl Into<String>) -> Verdict {
    Verdict {
        outcome: Outcome::Sent,
        dsn: "2.0.0".into(),
        text: text.into(),
        passed: None,
    }
}

/// A failure: deferred for a 4.x.x status, bounced otherwise.
pub fn failed(dsn: &str, text: impl Into<String>) -> Verdict {
    let outcome = if dsn.starts_with('4') {
        Outcome::Deferred
    } else {
        Outcome::Bounced
    };
    Verdict {
        outcome,
        dsn: dsn.into(),
        text: text.into(),
        passed: None,
    }
}

/// The verdict after the agent's delivery status filter
/// (`local_delivery_status_filter`, …): `replace` gives a new status and
/// text, of the same kind (success or failure); a failure's new class
/// decides whether it defers or bounces. What another agent delivered
/// went through that agent's filter.
pub fn filtered(v: Verdict, replace: impl Fn(&str, &str) -> Option<(String, String)>) -> Verdict {
    if v.passed.is_some() {
        return v;
    }
    match replace(&v.dsn, &v.text) {
        Some((dsn, text)) if v.outcome == Outcome::Sent => Verdict { dsn, text, ..v },
        Some((dsn, text)) => failed(&dsn, text),
        None => v,
    }
}

pub fn from_delivery_error(e: &DeliveryError, text: String) -> Verdict {
    failed(e.status(), text)
}

/// Seconds since the epoch, for the log's delays.
pub use util::time::now_f64 as now;

/// Ends one recipient: a delivered one is marked done in the queue file
/// first (if that fails, it is deferred: qmgr must not think it done when
/// the file says otherwise), then the Postfix log line (`to=<…>,
/// relay=local, delay=…, delays=…, dsn=…, status=sent (…)`), then the
/// reply for qmgr.
pub fn finish(
    req: &Request,
    rcpt: &delivery::Rcpt,
    qf: &queue::Held,
    relay: &str,
    setup_done: f64,
    v: Verdict,
) -> RcptResult {
    match settle(req, rcpt, qf, v) {
        Ok(v) if v.passed.is_some() => reply(req, relay, v),
        Ok(v) | Err(v) => report(req, rcpt, relay, setup_done, v),
    }
}

/// Marks a sent recipient done in the queue file; when that fails, the
/// recipient is deferred instead (the error).
fn settle(
    req: &Request,
    rcpt: &delivery::Rcpt,
    qf: &queue::Held,
    v: Verdict,
) -> Result<Verdict, Verdict> {
    if v.outcome != Outcome::Sent || !rcpt.agent_marks_done() || req.probe {
        return Ok(v);
    }
    qf.mark_done(rcpt.offset).map(|()| v).map_err(|e| {
        maillog::warning!("{}: mark {} done: {e}", req.queue_id, rcpt.address);
        failed("4.3.0", format!("cannot update queue file: {e}"))
    })
}

/// Ends a recipient that an alias or .forward expanded: each final
/// destination's line, `to=<destination>, orig_to=<recipient>` (as
/// local(8) logs them), then the recipient marked done when `v`, the
/// result for the whole, says sent. Only a failure to mark it is logged
/// for the recipient itself.
pub fn finish_expanded(
    req: &Request,
    rcpt: &delivery::Rcpt,
    qf: &queue::Held,
    relay: &str,
    setup_done: f64,
    v: Verdict,
    leaves: &[(String, Verdict)],
) -> RcptResult {
    let orig = rcpt.original.as_deref().unwrap_or(&rcpt.address);
    for (to, leaf) in leaves.iter().filter(|(_, leaf)| leaf.passed.is_none()) {
        log_line(req, to, Some(orig), relay, setup_done, leaf);
    }
    match settle(req, rcpt, qf, v) {
        Ok(v) => reply(req, relay, v),
        Err(deferred) => report(req, rcpt, relay, setup_done, deferred),
    }
}

/// The answer to a request whose queue file cannot be opened: every
/// recipient deferred, each logged.
pub fn unreadable(req: &Request, relay: &str, setup_done: f64, e: &queue::QueueError) -> Response {
    let results = req
        .recipients
        .iter()
        .map(|rcpt| {
            let v = failed("4.3.0", format!("cannot read queue file: {e}"));
            report(req, rcpt, relay, setup_done, v)
        })
        .collect();
    Response::new(results)
}

/// Logs one recipient's result and makes qmgr's reply.
fn report(
    req: &Request,
    rcpt: &delivery::Rcpt,
    relay: &str,
    setup_done: f64,
    v: Verdict,
) -> RcptResult {
    log_line(
        req,
        &rcpt.address,
        rcpt.original.as_deref(),
        relay,
        setup_done,
        &v,
    );
    reply(req, relay, v)
}

/// The answer for qmgr. With this agent's soft_bounce a bounce is
/// deferred (what another agent delivered it decided itself).
fn reply(req: &Request, relay: &str, v: Verdict) -> RcptResult {
    let outcome = if req.probe || v.passed.is_some() {
        v.outcome
    } else {
        v.outcome.softened()
    };
    let (relay, success) = match v.passed {
        Some(p) => (p.relay, p.success),
        None => (relay.to_string(), delivery::Success::Delivered),
    };
    RcptResult {
        outcome,
        dsn: v.dsn,
        relay,
        reason: v.text,
        success,
        expansions: Vec::new(),
    }
}

/// An expanded recipient's final destinations and their results, for a
/// probe's report (see [`delivery::RcptResult::expansions`]).
pub fn expansions<'a>(
    leaves: impl IntoIterator<Item = &'a (String, Verdict)>,
) -> Vec<delivery::Expansion> {
    leaves
        .into_iter()
        .map(|(address, v)| delivery::Expansion {
            address: address.clone(),
            outcome: v.outcome,
            dsn: v.dsn.clone(),
            reason: v.text.clone(),
        })
        .collect()
}

/// Postfix's delivery line: `ID: to=<…>, orig_to=<…>, relay=…, delay=…,
/// delays=…, dsn=…, status=… (…)`; `orig_to` only when it differs.
fn log_line(
    req: &Request,
    to: &str,
    orig: Option<&str>,
    relay: &str,
    setup_done: f64,
    v: &Verdict,
) {
    let status = v.outcome.status_of(req);
    let orig = match orig {
        Some(o) if !o.eq_ignore_ascii_case(to) => format!(", orig_to=<{}>", maillog::address(o)),
        _ => String::new(),
    };
    maillog::info!(
        "{}: to=<{}>{orig}, relay={relay}, {}, dsn={}, status={status} ({})",
        req.queue_id,
        maillog::address(to),
        delivery::delays(req, setup_done, now()),
        v.dsn,
        v.text
    );
}

/// The Delivered-To values already in the message of a queue file,
/// lower-cased (a message that already went to a recipient is looping).
pub fn delivered_to_values(held: &queue::Held) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(mut qf) = held.read() else {
        return out;
    };
    let Ok(content) = qf.content() else {
        return out;
    };
    let mut line = Vec::new();
    for piece in content {
        let Ok(piece) = piece else { break };
        line.extend_from_slice(&piece.data);
        if !piece.end_of_line {
            continue;
        }
        if line.is_empty() {
            break;
        }
        out.extend(delivered_to(&line));
        line.clear();
    }
    out
}

/// The Delivered-To values among a message's lines (up to the end of the
/// headers), lower-cased.
pub fn delivered_to_in<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Vec<String> {
    lines
        .into_iter()
        .take_while(|l| !l.is_empty())
        .filter_map(delivered_to)
        .collect()
}

/// A header line's Delivered-To value, lower-cased.
fn delivered_to(line: &[u8]) -> Option<String> {
    let value = line
        .get(..13)
        .filter(|name| name.eq_ignore_ascii_case(b"delivered-to:"))
        .map(|_| &line[13..])
        .filter(|v| !v.is_empty())?;
    Some(String::from_utf8_lossy(value).trim().to_ascii_lowercase())
}
