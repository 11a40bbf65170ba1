//! Reply texts made from templates, shared by smtpd and postscreen:
//! `$name` expansion whose values pass through an expansion filter
//! (`smtpd_expansion_filter`, `postscreen_expansion_filter`: a value is the
//! client's or a list operator's text, not ours, and nothing in it may end
//! the reply line), and the reject footer (`smtpd_reject_footer` and
//! `smtpd_reject_footer_maps`, `postscreen_reject_footer` and
//! `postscreen_reject_footer_maps`): text appended to every 4XX and 5XX
//! reply, as Postfix's smtp_reply_footer does.
//!
//! The footer comes from the maps (looked up by the whole reply, `550 5.1.1
//! <u@x>: Recipient address rejected: …`), or else the parameter. `\n` in
//! it starts another reply line, each with the reply's code and enhanced
//! code; a leading `\c` continues the reply's last line instead. The
//! variables each program offers (smtpd: `$client_address`, `$client_name`,
//! `$client_port`, `$server_name`; postscreen the same but `$client_name`)
//! and `$localtime` are expanded; other names expand to nothing.

use crate::{Ctx, MapList};
use std::sync::Arc;

/// An expansion filter: the characters a `$name` value may keep in a
/// reply; the others become `_`.
#[derive(Debug, Clone)]
pub struct ExpansionFilter(util::byteset::ByteSet);

impl ExpansionFilter {
    /// From the parameter's value (with its C-style escapes).
    pub fn parse(spec: &str) -> ExpansionFilter {
        ExpansionFilter(util::byteset::ByteSet::parse(spec))
    }

    pub fn apply(&self, value: &str) -> String {
        value
            .chars()
            .map(|c| {
                if c.is_ascii() && self.0.contains(c as u8) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// Expands a reply template with the request's variables (values filtered);
/// other `$names` expand to nothing, as in Postfix.
pub fn expand_reply(template: &str, vars: &[(&str, String)], filter: &ExpansionFilter) -> String {
    let lookup = |name: &str| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (filter.apply(v), false))
    };
    params::expand::expand_text(template, &lookup).unwrap_or_else(|_| template.to_string())
}

/// The footer settings of one process.
#[derive(Debug)]
pub struct FooterSettings {
    template: String,
    maps: MapList,
    filter: ExpansionFilter,
}

impl FooterSettings {
    /// The footer `template`, the tables `maps_value` of parameter
    /// `maps_param`, the expansion filter `filter`; None when neither the
    /// template nor the tables are set.
    pub fn new(
        template: &str,
        maps_param: &str,
        maps_value: &str,
        filter: &str,
    ) -> Option<Arc<FooterSettings>> {
        let maps = MapList::open_lenient(maps_param, maps_value, &Ctx::new());
        if template.trim().is_empty() && maps.is_empty() {
            return None;
        }
        Some(Arc::new(FooterSettings {
            template: template.to_string(),
            maps,
            filter: ExpansionFilter::parse(filter),
        }))
    }
}

/// A session's footer: the settings and what its `$names` stand for.
pub struct Footer {
    settings: Arc<FooterSettings>,
    vars: Vec<(&'static str, String)>,
}

impl Footer {
    /// `vars`: the session's variables (`client_address` …);
    /// `localtime` is added at each reply.
    pub fn new(settings: Arc<FooterSettings>, vars: Vec<(&'static str, String)>) -> Footer {
        Footer { settings, vars }
    }

    /// The lines of the reply with code `code`, enhanced code `enhanced`
    /// (`5.1.1`) and text `lines`, with the footer; None when the reply is
    /// not 4XX or 5XX, or there is no footer for it.
    pub fn apply(
        &self,
        code: u16,
        enhanced: Option<&str>,
        lines: &[String],
    ) -> Option<Vec<String>> {
        if !(400..600).contains(&code) {
            return None;
        }
        let key = match enhanced {
            Some(e) => format!("{code} {e} {}", lines.join(" ")),
            None => format!("{code} {}", lines.join(" ")),
        };
        let template = match self.settings.maps.lookup(&key) {
            Ok(Some(t)) => t,
            _ => self.settings.template.clone(),
        };
        if template.trim().is_empty() {
            return None;
        }
        let mut vars = self.vars.clone();
        vars.push(("localtime", util::time::syslog_stamp(util::time::now())));
        let text = expand_reply(&template, &vars, &self.settings.filter);
        let mut out = lines.to_vec();
        let (same_line, text) = match text.strip_prefix("\\c") {
            Some(rest) => (true, rest),
            None => (false, text.as_str()),
        };
        for (i, piece) in text.split("\\n").enumerate() {
            match (i, same_line, out.last_mut()) {
                (0, true, Some(last)) => last.push_str(piece),
                _ => out.push(piece.to_string()),
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILTER: &str = params::table::SMTPD_EXPANSION_FILTER.default;

    fn footer(template: &str, maps: &str) -> Footer {
        let settings = FooterSettings::new(template, "t", maps, FILTER).expect("footer");
        Footer::new(
            settings,
            vec![
                ("client_address", "192.0.2.7".into()),
                ("client_port", "4000".into()),
                ("server_name", "mail.example.test".into()),
            ],
        )
    }

    #[test]
    fn footers_follow_errors_only_and_maps_come_first() {
        let lines = vec!["<u@x>: Recipient address rejected: User unknown".to_string()];
        let f = footer(
            "Call 555-0101 about $client_address\\nor write to postmaster@$server_name",
            "",
        );
        assert_eq!(
            f.apply(550, Some("5.1.1"), &lines).expect("footer"),
            vec![
                "<u@x>: Recipient address rejected: User unknown",
                "Call 555-0101 about 192.0.2.7",
                "or write to postmaster@mail.example.test",
            ]
        );
        assert!(f.apply(250, Some("2.0.0"), &["Ok".to_string()]).is_none());
        let same = footer("\\c (see https://help.example/)", "");
        assert_eq!(
            same.apply(550, Some("5.1.1"), &lines).expect("footer"),
            vec!["<u@x>: Recipient address rejected: User unknown (see https://help.example/)"]
        );
        assert!(FooterSettings::new(" ", "t", "", FILTER).is_none());
        // A table keyed by the whole reply wins; $client_name means
        // nothing to a program that does not offer it.
        let mapped = footer(
            "default",
            "inline:{ { 421 4.3.2 All screening ports are busy = busy at $client_name[$client_address]:$client_port } }",
        );
        assert_eq!(
            mapped
                .apply(421, Some("4.3.2"), &["All screening ports are busy".into()])
                .expect("footer"),
            vec!["All screening ports are busy", "busy at [192.0.2.7]:4000"]
        );
        assert_eq!(
            mapped
                .apply(501, None, &["Syntax: HELO hostname".into()])
                .expect("footer"),
            vec!["Syntax: HELO hostname", "default"]
        );
    }

    #[test]
    fn the_reply_template_expands_with_filtered_values() {
        let filter = ExpansionFilter::parse(FILTER);
        let vars = [
            ("rbl_code", "554".to_string()),
            ("rbl_class", "Client host".to_string()),
            ("rbl_what", "192.0.2.7".to_string()),
            ("rbl_domain", "zen.example".to_string()),
            ("rbl_reason", "bad\r\n250 ok é".to_string()),
        ];
        let t = "$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked using $rbl_domain${rbl_reason?; $rbl_reason}";
        assert_eq!(
            expand_reply(t, &vars, &filter),
            "554 Service unavailable; Client host [192.0.2.7] blocked using zen.example; bad__250 ok _"
        );
        assert_eq!(
            expand_reply(t, &vars[..4], &filter),
            "554 Service unavailable; Client host [192.0.2.7] blocked using zen.example"
        );
        // A narrower filter (postscreen_expansion_filter) keeps less.
        let digits = ExpansionFilter::parse("0123456789.");
        assert_eq!(
            expand_reply("[$rbl_what] $rbl_class", &vars, &digits),
            "[192.0.2.7] ___________"
        );
    }
}
