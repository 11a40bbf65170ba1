//! `smtpd_reject_footer` and `smtpd_reject_footer_maps`: text appended to
//! every 4XX and 5XX reply, as Postfix does. The footer comes from the maps
//! (looked up by the whole reply, `550 5.1.1 <u@x>: Recipient address
//! rejected: …`), or else the parameter. `\n` in it starts another reply
//! line, each with the reply's code and enhanced code; a leading `\c`
//! continues the reply's last line instead. `$client_address`,
//! `$client_name`, `$client_port`, `$localtime` and `$server_name` are
//! expanded, their values filtered by `smtpd_expansion_filter`.

use crate::dnsxl::{expand_reply, ExpansionFilter};
use maps::MapList;
use params::{table as p, Config};
use smtp_proto::Reply;
use std::sync::Arc;

/// The footer settings of one process.
#[derive(Debug)]
pub struct FooterSettings {
    template: String,
    maps: MapList,
    filter: ExpansionFilter,
}

impl FooterSettings {
    /// None when neither the parameter nor the maps are set.
    pub fn from_config(config: &Config) -> Option<Arc<FooterSettings>> {
        let template = config.str(&p::SMTPD_REJECT_FOOTER).to_string();
        let maps = MapList::open_lenient(
            p::SMTPD_REJECT_FOOTER_MAPS.name,
            config.get(&p::SMTPD_REJECT_FOOTER_MAPS),
            &maps::Ctx::new(),
        );
        if template.trim().is_empty() && maps.is_empty() {
            return None;
        }
        Some(Arc::new(FooterSettings {
            template,
            maps,
            filter: ExpansionFilter::parse(config.str(&p::SMTPD_EXPANSION_FILTER)),
        }))
    }
}

/// A session's footer: the settings and the client it talks to.
pub struct Footer {
    settings: Arc<FooterSettings>,
    vars: Vec<(&'static str, String)>,
}

impl Footer {
    pub fn new(
        settings: Arc<FooterSettings>,
        client_address: &str,
        client_name: &str,
        client_port: Option<u16>,
        server_name: &str,
    ) -> Footer {
        Footer {
            settings,
            vars: vec![
                ("client_address", client_address.to_string()),
                ("client_name", client_name.to_string()),
                (
                    "client_port",
                    client_port.map(|p| p.to_string()).unwrap_or_default(),
                ),
                ("server_name", server_name.to_string()),
            ],
        }
    }

    /// `r` with the footer, when it is a 4XX/5XX reply and there is one.
    pub fn apply(&self, r: &Reply) -> Option<Reply> {
        if !(400..600).contains(&r.code) {
            return None;
        }
        let key = match r.enhanced_text() {
            Some(e) => format!("{} {e} {}", r.code, r.lines.join(" ")),
            None => format!("{} {}", r.code, r.lines.join(" ")),
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
        let mut out = r.clone();
        let (same_line, text) = match text.strip_prefix("\\c") {
            Some(rest) => (true, rest),
            None => (false, text.as_str()),
        };
        for (i, piece) in text.split("\\n").enumerate() {
            match (i, same_line, out.lines.last_mut()) {
                (0, true, Some(last)) => last.push_str(piece),
                _ => out.lines.push(piece.to_string()),
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn footer(template: &str) -> Footer {
        let settings = Arc::new(FooterSettings {
            template: template.into(),
            maps: MapList::open_lenient("t", "", &maps::Ctx::new()),
            filter: ExpansionFilter::parse(params::table::SMTPD_EXPANSION_FILTER.default),
        });
        Footer::new(
            settings,
            "192.0.2.7",
            "client.example",
            Some(4000),
            "mail.example.test",
        )
    }

    #[test]
    fn footers_follow_errors_only() {
        let r = Reply::new(
            550,
            Some((5, 1, 1)),
            "<u@x>: Recipient address rejected: User unknown",
        );
        let f = footer("Call 555-0101 about $client_address\\nor write to postmaster@$server_name");
        let out = f.apply(&r).expect("footer");
        let mut wire = Vec::new();
        out.write_to(&mut wire);
        assert_eq!(
            String::from_utf8(wire).expect("utf8"),
            "550-5.1.1 <u@x>: Recipient address rejected: User unknown\r\n550-5.1.1 Call 555-0101 about 192.0.2.7\r\n550 5.1.1 or write to postmaster@mail.example.test\r\n"
        );
        let same = footer("\\c (see https://help.example/)")
            .apply(&r)
            .expect("footer");
        assert_eq!(
            same.lines,
            vec!["<u@x>: Recipient address rejected: User unknown (see https://help.example/)"]
        );
        assert!(f.apply(&Reply::new(250, Some((2, 0, 0)), "Ok")).is_none());
        assert!(footer("").apply(&r).is_none());
    }
}
