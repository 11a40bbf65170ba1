//! `smtpd_reject_footer` and `smtpd_reject_footer_maps`: text appended to
//! every 4XX and 5XX reply, as Postfix does (the footer itself, its table
//! and its expansion are `maps::footer`'s, shared with postscreen). The
//! footer comes from the maps (looked up by the whole reply, `550 5.1.1
//! <u@x>: Recipient address rejected: …`), or else the parameter. `\n` in
//! it starts another reply line, each with the reply's code and enhanced
//! code; a leading `\c` continues the reply's last line instead.
//! `$client_address`, `$client_name`, `$client_port`, `$localtime` and
//! `$server_name` are expanded, their values filtered by
//! `smtpd_expansion_filter`.

pub use maps::footer::FooterSettings;
use params::{table as p, Config};
use smtp_proto::Reply;
use std::sync::Arc;

/// smtpd's footer settings; None when neither the parameter nor the maps
/// are set.
pub fn settings(config: &Config) -> Option<Arc<FooterSettings>> {
    FooterSettings::new(
        config.str(&p::SMTPD_REJECT_FOOTER),
        p::SMTPD_REJECT_FOOTER_MAPS.name,
        config.get(&p::SMTPD_REJECT_FOOTER_MAPS),
        config.str(&p::SMTPD_EXPANSION_FILTER),
    )
}

/// A session's footer: the settings and the client it talks to.
pub struct Footer(maps::footer::Footer);

impl Footer {
    pub fn new(
        settings: Arc<FooterSettings>,
        client_address: &str,
        client_name: &str,
        client_port: Option<u16>,
        server_name: &str,
    ) -> Footer {
        Footer(maps::footer::Footer::new(
            settings,
            vec![
                ("client_address", client_address.to_string()),
                ("client_name", client_name.to_string()),
                (
                    "client_port",
                    client_port.map(|p| p.to_string()).unwrap_or_default(),
                ),
                ("server_name", server_name.to_string()),
            ],
        ))
    }

    /// `r` with the footer, when it is a 4XX/5XX reply and there is one.
    pub fn apply(&self, r: &Reply) -> Option<Reply> {
        let lines = self
            .0
            .apply(r.code, r.enhanced_text().as_deref(), &r.lines)?;
        Some(Reply::multi(r.code, r.enhanced, lines))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn footer(template: &str) -> Option<Footer> {
        let cfg = Config::from_text(&format!("smtpd_reject_footer = {template}\n")).expect("cfg");
        settings(&cfg).map(|s| {
            Footer::new(
                s,
                "192.0.2.7",
                "client.example",
                Some(4000),
                "mail.example.test",
            )
        })
    }

    #[test]
    fn footers_follow_errors_only() {
        let r = Reply::new(
            550,
            Some((5, 1, 1)),
            "<u@x>: Recipient address rejected: User unknown",
        );
        let f = footer("Call 555-0101 about $client_name[$client_address]\\nor write to postmaster@$server_name")
            .expect("footer");
        let out = f.apply(&r).expect("footer");
        let mut wire = Vec::new();
        out.write_to(&mut wire);
        assert_eq!(
            String::from_utf8(wire).expect("utf8"),
            "550-5.1.1 <u@x>: Recipient address rejected: User unknown\r\n550-5.1.1 Call 555-0101 about client.example[192.0.2.7]\r\n550 5.1.1 or write to postmaster@mail.example.test\r\n"
        );
        assert!(f.apply(&Reply::new(250, Some((2, 0, 0)), "Ok")).is_none());
        assert!(footer("").is_none());
    }
}
