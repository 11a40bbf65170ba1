//! XFORWARD (Postfix's XFORWARD_README): a client in
//! `smtpd_authorized_xforward_hosts`, typically a content filter handing
//! mail back, tells who sent the mail before it. smtpd logs that
//! (`client=…, orig_queue_id=…, orig_client=…`) and keeps it in the queue
//! file (`log_client_name` …), so that its own smtp client can pass it on;
//! access control and the Received: header still go by the real client.

use smtp_proto::{xtext, Reply};

/// The EHLO keyword, with the attributes this server takes.
pub const OFFER: &str = "XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT";

/// What the value `[UNAVAILABLE]` stands for.
const UNAVAILABLE: &str = "[UNAVAILABLE]";

/// The attributes one session's XFORWARD commands gave for the next mail
/// transaction (None: not given, or unavailable where Postfix leaves it
/// out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forwarded {
    pub name: Option<String>,
    pub addr: Option<String>,
    pub port: Option<String>,
    pub proto: Option<String>,
    pub helo: Option<String>,
    pub ident: Option<String>,
    pub source: Option<String>,
}

pub(crate) fn bad(what: &str, value: &str) -> Reply {
    Reply::new(
        501,
        Some((5, 5, 4)),
        format!("Bad {what} syntax: {}", neuter(value, 255)),
    )
}

/// What Postfix's smtpd neuters in XFORWARD values (NEUTER_CHARACTERS),
/// besides control and non-ASCII characters.
const NEUTERED: &str = " <>()\\\";@";

/// The value with those characters made `?`, at most `max` characters: it
/// goes into log lines and queue file attributes.
pub(crate) fn neuter(value: &str, max: usize) -> String {
    value
        .chars()
        .take(max)
        .map(|c| {
            if c.is_control() || !c.is_ascii() || NEUTERED.contains(c) {
                '?'
            } else {
                c
            }
        })
        .collect()
}

impl Forwarded {
    /// Applies one XFORWARD command (all of it, or nothing): `Err` is the
    /// reply to give, as Postfix words it.
    pub fn update(&mut self, attrs: &[(String, String)]) -> Result<(), Reply> {
        let mut next = self.clone();
        for (name, raw) in attrs {
            let name = name.to_ascii_uppercase();
            let value = xtext::decode(raw).ok_or_else(|| bad(&name, raw))?;
            let unavailable = value.eq_ignore_ascii_case(UNAVAILABLE);
            let unknown = || Some("unknown".to_string());
            match name.as_str() {
                "NAME" => {
                    next.name = if unavailable || !addr::valid_hostname(&value) {
                        unknown()
                    } else {
                        Some(value.to_ascii_lowercase())
                    }
                }
                "ADDR" => {
                    next.addr = if unavailable {
                        unknown()
                    } else {
                        match crate::xclient::parse_addr(&value) {
                            Some(ip) => Some(ip.to_string()),
                            None => return Err(bad(&name, &value)),
                        }
                    }
                }
                "PORT" => {
                    next.port = if unavailable {
                        unknown()
                    } else {
                        match value.parse::<u16>() {
                            Ok(p) => Some(p.to_string()),
                            Err(_) => return Err(bad(&name, &value)),
                        }
                    }
                }
                "PROTO" => {
                    next.proto = if unavailable {
                        unknown()
                    } else {
                        Some(neuter(&value, 64))
                    }
                }
                "HELO" => next.helo = (!unavailable).then(|| neuter(&value, 255)),
                "IDENT" => next.ident = (!unavailable).then(|| neuter(&value, 64)),
                "SOURCE" => {
                    // Unavailable counts as local, as in Postfix.
                    next.source = match value.to_ascii_uppercase().as_str() {
                        _ if unavailable => Some("LOCAL".into()),
                        s @ ("LOCAL" | "REMOTE") => Some(s.to_string()),
                        _ => return Err(bad(&name, &value)),
                    }
                }
                _ => {
                    return Err(Reply::new(
                        501,
                        Some((5, 5, 4)),
                        format!("Bad XFORWARD attribute name: {}", neuter(&name, 64)),
                    ))
                }
            }
        }
        *self = next;
        Ok(())
    }

    /// `name[addr]` of the forwarded client (with `:port` when
    /// `port_logging`), or the name alone when the address is unknown, as
    /// Postfix writes it, for `orig_client=`; None when neither was given.
    pub fn namaddr(&self, port_logging: bool) -> Option<String> {
        if self.name.is_none() && self.addr.is_none() {
            return None;
        }
        let name = self.name.as_deref().unwrap_or("unknown");
        let Some(addr) = self.addr.as_deref().filter(|a| *a != "unknown") else {
            return Some(name.to_string());
        };
        Some(match self.port.as_deref().filter(|_| port_logging) {
            Some(port) => format!("{name}[{addr}]:{port}"),
            None => format!("{name}[{addr}]"),
        })
    }

    /// The queue file attributes, Postfix's `log_*` names
    /// (`log_message_origin` is `name[addr]`), and `rewrite_context` when
    /// SOURCE said where the mail came from.
    pub fn attributes(&self) -> Vec<(String, String)> {
        let origin = self.namaddr(false);
        let context = self.source.as_deref().map(|s| {
            if s == "LOCAL" {
                "local".to_string()
            } else {
                "remote".to_string()
            }
        });
        [
            ("log_client_name", &self.name),
            ("log_client_address", &self.addr),
            ("log_client_port", &self.port),
            ("log_protocol_name", &self.proto),
            ("log_helo_name", &self.helo),
            ("log_ident", &self.ident),
            ("log_message_origin", &origin),
            ("rewrite_context", &context),
        ]
        .into_iter()
        .filter_map(|(n, v)| v.as_ref().map(|v| (n.to_string(), v.clone())))
        .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `NAME=value NAME=value` as the command parser hands them over.
    pub(crate) fn attrs(line: &str) -> Vec<(String, String)> {
        line.split(' ')
            .map(|w| {
                let (n, v) = w.split_once('=').expect("name=value");
                (n.to_string(), v.to_string())
            })
            .collect()
    }

    #[test]
    fn attributes_accumulate_and_bad_ones_change_nothing() {
        let mut f = Forwarded::default();
        f.update(&attrs(
            "NAME=Mx.Example.ORG ADDR=IPv6:2001:db8::1 PORT=2525",
        ))
        .expect("first");
        f.update(&attrs(
            "proto=ESMTP helo=client+20x IDENT=4Xk2mN2VXxz SOURCE=remote",
        ))
        .expect("second");
        assert_eq!(
            f.namaddr(false).as_deref(),
            Some("mx.example.org[2001:db8::1]")
        );
        assert_eq!(
            f.namaddr(true).as_deref(),
            Some("mx.example.org[2001:db8::1]:2525")
        );
        assert_eq!(f.helo.as_deref(), Some("client?x"));
        f.update(&attrs("PROTO=E<SMTP>\";@")).expect("neutered");
        assert_eq!(f.proto.as_deref(), Some("E?SMTP????"));
        assert_eq!(f.source.as_deref(), Some("REMOTE"));
        let kept = f.attributes();
        for (n, v) in [
            ("log_ident", "4Xk2mN2VXxz"),
            ("log_message_origin", "mx.example.org[2001:db8::1]"),
            ("rewrite_context", "remote"),
        ] {
            assert!(kept.contains(&(n.to_string(), v.to_string())), "{n}");
        }

        let before = f.clone();
        let e = f
            .update(&attrs("NAME=[UNAVAILABLE] ADDR=999.1.1.1"))
            .unwrap_err();
        assert_eq!(e.to_string(), "501 5.5.4 Bad ADDR syntax: 999.1.1.1");
        assert_eq!(f, before, "nothing of a refused command is kept");
        let e = f.update(&attrs("COLOR=blue")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "501 5.5.4 Bad XFORWARD attribute name: COLOR"
        );
        let e = f.update(&attrs("HELO=+ZZ")).unwrap_err();
        assert_eq!(e.to_string(), "501 5.5.4 Bad HELO syntax: +ZZ");
        assert!(f.update(&attrs("SOURCE=elsewhere")).is_err());
        assert!(f.update(&attrs("PORT=70000")).is_err());

        f.update(&attrs(
            "NAME=[UNAVAILABLE] ADDR=[UNAVAILABLE] IDENT=[UNAVAILABLE]",
        ))
        .expect("unavailable");
        assert_eq!(f.namaddr(false).as_deref(), Some("unknown"));
        assert_eq!(f.ident, None);
        f.update(&attrs("SOURCE=[UNAVAILABLE]"))
            .expect("unavailable");
        assert_eq!(f.source.as_deref(), Some("LOCAL"));
        assert_eq!(Forwarded::default().namaddr(false), None);
    }
}
