//! DNS block and allow lists, as Postfix's smtpd_check.c uses them:
//! `reject_rbl_client`, `reject_rhsbl_client`, `reject_rhsbl_sender`,
//! `reject_rhsbl_helo`, `reject_rhsbl_recipient`, `permit_dnswl_client` and
//! `permit_rhswl_client`, each with a list zone and an optional filter on
//! the answer (`zen.example=127.0.0.[2..11]`).
//!
//! This module holds what needs no DNS: the names to ask
//! ([`reversed`], [`Entry::query`]), the answer filter ([`Filter`]) and the
//! reply template (`default_rbl_reply`, `rbl_reply_maps`) with its `$rbl_*`
//! variables, whose values pass through `smtpd_expansion_filter` (a TXT
//! record is the list operator's text, not ours: nothing in it may end the
//! reply line).

/// What a list is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The client address, reversed (`reject_rbl_client`, `permit_dnswl_client`).
    ClientAddress,
    /// The client's verified name (`reject_rhsbl_client`, `permit_rhswl_client`).
    ClientName,
    /// The sender's domain (`reject_rhsbl_sender`).
    Sender,
    /// The HELO name (`reject_rhsbl_helo`).
    Helo,
    /// The recipient's domain (`reject_rhsbl_recipient`).
    Recipient,
}

impl Subject {
    /// `$rbl_class` in the reply.
    pub fn class(self) -> &'static str {
        match self {
            Subject::ClientAddress | Subject::ClientName => "Client host",
            Subject::Sender => "Sender address",
            Subject::Helo => "Helo command",
            Subject::Recipient => "Recipient address",
        }
    }
}

pub use dns::list::{reversed, Entry};

/// `smtpd_expansion_filter`: the characters a `$name` value may keep in a
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reply_template_expands_with_filtered_values() {
        let filter = ExpansionFilter::parse(params::table::SMTPD_EXPANSION_FILTER.default);
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
    }
}
