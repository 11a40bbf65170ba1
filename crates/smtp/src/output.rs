//! What the SMTP client changes in mail on its way out, as Postfix's does:
//!
//! * `smtp_generic_maps` (`lmtp_generic_maps`): generic(5) rewriting of the
//!   envelope sender and recipients and of the addresses in the message's
//!   address headers (From:, To:, Cc:, Reply-To:, …), typically a local
//!   address made into one valid on the Internet. The queue file and the
//!   log keep the addresses as they were.
//! * `smtp_header_checks` and `smtp_body_checks`: header_checks(5) tables on
//!   the primary message headers (one logical header at a time) and on body
//!   lines, with the actions that change only the content: IGNORE, REPLACE,
//!   PREPEND, WARN, INFO, DUNNO, OK. Actions that would change the delivery
//!   (REJECT, HOLD, DISCARD, …) are not available here; they are logged and
//!   passed over.
//!
//! A table that fails defers the delivery ("4.3.0 … lookup failure"), as
//! Postfix does; nothing is sent with half its rewriting done.

use addr::header_rewrite;
use maps::checks::{self, Action};
use maps::domains::Classes;
use maps::{access, MapList};
use params::{table as p, Config};

use crate::deliver::Protocol;

/// One line (or folded header) to send: the one read, byte for byte, or
/// another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Original,
    Text(String),
}

/// The SMTP client's output rewriting; inactive when every table is empty.
pub struct Output {
    generic: MapList,
    header_checks: MapList,
    body_checks: MapList,
    classes: Classes,
    myorigin: String,
    delimiter: String,
    /// `generic` is in propagate_unmatched_extensions.
    propagate: bool,
}

impl Output {
    pub fn new(cfg: &Config, proto: Protocol) -> Output {
        let ctx = maps::Ctx::new();
        let list = |param: &params::Param| MapList::open_lenient(param.name, cfg.str(param), &ctx);
        let (classes, warnings) = Classes::from_config(cfg);
        for w in warnings {
            maillog::warning!("{w}");
        }
        let (generic, header_checks, body_checks) = match proto {
            Protocol::Smtp => (
                list(&p::SMTP_GENERIC_MAPS),
                list(&p::SMTP_HEADER_CHECKS),
                list(&p::SMTP_BODY_CHECKS),
            ),
            Protocol::Lmtp => (
                list(&p::LMTP_GENERIC_MAPS),
                MapList::from_maps("", Vec::new()),
                MapList::from_maps("", Vec::new()),
            ),
        };
        Output {
            generic,
            header_checks,
            body_checks,
            classes,
            myorigin: cfg.myorigin().unwrap_or_else(|e| maillog::fatal!("{e}")),
            delimiter: cfg.str(&p::RECIPIENT_DELIMITER).to_string(),
            propagate: cfg
                .list(&p::PROPAGATE_UNMATCHED_EXTENSIONS)
                .iter()
                .any(|w| w.eq_ignore_ascii_case("generic")),
        }
    }

    /// Whether the content needs looking at, line by line.
    pub fn rewrites_content(&self) -> bool {
        !self.generic.is_empty() || !self.header_checks.is_empty() || !self.body_checks.is_empty()
    }

    /// An envelope or header address through `smtp_generic_maps`.
    pub fn address(&self, addr: &str) -> Result<String, String> {
        if self.generic.is_empty() || addr.is_empty() {
            return Ok(addr.to_string());
        }
        let local_domain = match addr.rsplit_once('@') {
            Some((_, domain)) => {
                domain.eq_ignore_ascii_case(&self.myorigin)
                    || self.classes.is_local(domain).map_err(|e| e.to_string())?
            }
            None => false,
        };
        access::rewrite_address(
            &self.generic,
            addr,
            &self.delimiter,
            local_domain,
            self.propagate,
        )
        .map(|v| v.unwrap_or_else(|| addr.to_string()))
        .map_err(|e| {
            maillog::warning!("smtp_generic_maps: lookup of {addr}: {e}");
            "smtp_generic_maps lookup failure".to_string()
        })
    }

    /// A table's action for `text`, restricted to what the SMTP client may do.
    fn check(&self, list: &MapList, what: &str, id: &str, text: &str) -> Result<Action, String> {
        if list.is_empty() {
            return Ok(Action::None);
        }
        let result = match list.lookup(text) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(Action::None),
            Err(e) => {
                maillog::warning!("{id}: smtp_{what}_checks lookup error: {e}");
                return Err(format!("smtp_{what}_checks lookup failure"));
            }
        };
        let action = match checks::parse(&result) {
            Ok(a) => a,
            Err(e) => {
                maillog::warning!("{id}: smtp_{what}_checks: {e}");
                return Ok(Action::None);
            }
        };
        let shown: String = text.chars().take(200).collect();
        let log = |kind: &str, t: &str| {
            let t = if t.is_empty() {
                String::new()
            } else {
                format!(": {t}")
            };
            maillog::info!("{id}: {kind}: {what} {shown}{t}");
        };
        Ok(match action {
            Action::Warn(t) => {
                log("warning", &t);
                Action::None
            }
            Action::Info(t) => {
                log("info", &t);
                Action::None
            }
            Action::Reject(_) | Action::Hold(_) | Action::Discard(_) => {
                maillog::warning!(
                    "{id}: smtp_{what}_checks: {what} {shown}: action \"{}\" is not available in the SMTP client",
                    result.trim()
                );
                Action::None
            }
            a => a,
        })
    }

    /// One logical header (its lines joined by `\n`, as read when valid
    /// UTF-8, else a lossy copy): what to send in its place, nothing when
    /// it is to go.
    pub fn header(&self, id: &str, text: &str) -> Result<Vec<Line>, String> {
        let mut out = Vec::new();
        match self.check(&self.header_checks, "header", id, text)? {
            Action::Ignore => {}
            Action::Replace(t) => out.push(self.header_addresses(&t)?.unwrap_or(Line::Text(t))),
            Action::Prepend(t) => {
                out.push(Line::Text(t));
                out.push(self.header_addresses(text)?.unwrap_or(Line::Original));
            }
            _ => out.push(self.header_addresses(text)?.unwrap_or(Line::Original)),
        }
        Ok(out)
    }

    /// An address header with its addresses through the generic maps;
    /// None when nothing changed.
    fn header_addresses(&self, text: &str) -> Result<Option<Line>, String> {
        let Some((name, value)) = text.split_once(':') else {
            return Ok(None);
        };
        let is = |list: &[&str]| list.iter().any(|n| n.eq_ignore_ascii_case(name.trim_end()));
        if self.generic.is_empty()
            || !(is(&header_rewrite::SENDER_HEADERS) || is(&header_rewrite::RECIPIENT_HEADERS))
        {
            return Ok(None);
        }
        let failed = std::cell::RefCell::new(None);
        let rewritten = header_rewrite::rewrite(value, |a| {
            self.address(a).unwrap_or_else(|e| {
                failed.borrow_mut().get_or_insert(e);
                a.to_string()
            })
        });
        if let Some(e) = failed.into_inner() {
            return Err(e);
        }
        Ok(rewritten.map(|v| Line::Text(format!("{name}:{v}"))))
    }

    /// One body line: what to send in its place.
    pub fn body_line(&self, id: &str, line: &str) -> Result<Vec<Line>, String> {
        Ok(match self.check(&self.body_checks, "body", id, line)? {
            Action::Ignore => Vec::new(),
            Action::Replace(t) => vec![Line::Text(t)],
            Action::Prepend(t) => vec![Line::Text(t), Line::Original],
            _ => vec![Line::Original],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(main_cf: &str) -> Output {
        let cfg = Config::from_text(main_cf).expect("main.cf");
        Output::new(&cfg, Protocol::Smtp)
    }

    fn text(s: &str) -> Line {
        Line::Text(s.to_string())
    }

    #[test]
    fn generic_maps_rewrite_envelope_and_address_headers() {
        let o = output(
            "myhostname = host.example.lan\nmydestination = $myhostname, localhost\n\
             smtp_generic_maps = inline:{ {alice@host.example.lan = alice.smith@example.com}, {@example.lan = @example.net}, {bob = robert@example.com} }\n",
        );
        assert!(o.rewrites_content());
        assert_eq!(
            o.address("alice@host.example.lan").unwrap(),
            "alice.smith@example.com"
        );
        // `user` applies in this host's own domains only.
        assert_eq!(o.address("bob@localhost").unwrap(), "robert@example.com");
        assert_eq!(o.address("bob@elsewhere.org").unwrap(), "bob@elsewhere.org");
        assert_eq!(o.address("carol@example.lan").unwrap(), "carol@example.net");
        assert_eq!(o.address("").unwrap(), "");
        assert_eq!(
            o.header("Q", "From: Alice <alice@host.example.lan>")
                .unwrap(),
            vec![text("From: Alice <alice.smith@example.com>")]
        );
        assert_eq!(
            o.header("Q", "Cc: carol@example.lan,\n\tdave@other.org")
                .unwrap(),
            vec![text("Cc: carol@example.net,\n\tdave@other.org")]
        );
        assert_eq!(
            o.header("Q", "To: dave@other.org").unwrap(),
            vec![Line::Original]
        );
        assert_eq!(
            o.header("Q", "Subject: alice@host.example.lan").unwrap(),
            vec![Line::Original],
            "not an address header"
        );
    }

    #[test]
    fn checks_do_what_the_smtp_client_may() {
        let o = output(
            "smtp_header_checks = inline:{ {X-Secret: yes = IGNORE}, {Subject: old = REPLACE Subject: new}, {X-Tag: a = PREPEND X-Before: 1}, {X-Stop: 1 = REJECT no} }\n\
             smtp_body_checks = inline:{ {password: hunter2 = REPLACE password: [removed]}, {drop me = IGNORE} }\n",
        );
        assert!(o.header("Q", "X-Secret: yes").unwrap().is_empty());
        assert_eq!(
            o.header("Q", "Subject: old").unwrap(),
            vec![text("Subject: new")]
        );
        assert_eq!(
            o.header("Q", "X-Tag: a").unwrap(),
            vec![text("X-Before: 1"), Line::Original]
        );
        assert_eq!(
            o.header("Q", "X-Stop: 1").unwrap(),
            vec![Line::Original],
            "REJECT is not available"
        );
        assert_eq!(
            o.body_line("Q", "password: hunter2").unwrap(),
            vec![text("password: [removed]")]
        );
        assert!(o.body_line("Q", "drop me").unwrap().is_empty());
        assert_eq!(o.body_line("Q", "keep").unwrap(), vec![Line::Original]);
    }

    #[test]
    fn a_failing_table_defers() {
        let o = output("smtp_generic_maps = fail:broken\nsmtp_body_checks = fail:broken\n");
        assert!(o.address("a@b.example").is_err());
        assert!(o.body_line("Q", "x").is_err());
        assert!(!output("").rewrites_content());
    }
}
