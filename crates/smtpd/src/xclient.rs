//! XCLIENT (Postfix's XCLIENT_README): a client in
//! `smtpd_authorized_xclient_hosts` — a proxy in front, such as nginx's
//! mail proxy — names the client it speaks for. The session then belongs
//! to that client for everything (access control, the log, Received:), as
//! if it had just connected, and it is greeted again.

use crate::xforward::{bad, neuter};
use smtp_proto::{xtext, Reply};
use std::net::IpAddr;

/// The EHLO keyword, with the attributes this server takes.
pub const OFFER: &str = "XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN";

/// What one XCLIENT command changes; None: not given. An inner None is
/// `[UNAVAILABLE]` (or `[TEMPUNAVAIL]`): unknown from now on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// The client's name (`unknown` when unavailable).
    pub name: Option<String>,
    /// NAME=[TEMPUNAVAIL]: unknown for now (true), as against
    /// [UNAVAILABLE] or a name (false).
    pub name_temporary: Option<bool>,
    pub addr: Option<Option<IpAddr>>,
    pub port: Option<Option<u16>>,
    /// PROTO: true for ESMTP.
    pub esmtp: Option<bool>,
    pub helo: Option<Option<String>>,
    /// LOGIN: the SASL login name the proxy checked.
    pub login: Option<Option<String>>,
    /// The client's reverse name and whether its absence is temporary:
    /// REVERSE_NAME's, or NAME's when it gave a name (as in Postfix).
    pub reverse: Option<(String, bool)>,
}

fn unavailable(value: &str) -> bool {
    value.eq_ignore_ascii_case("[UNAVAILABLE]") || value.eq_ignore_ascii_case("[TEMPUNAVAIL]")
}

/// The changes one XCLIENT command asks for; `Err` is the reply, as
/// Postfix words it.
pub fn parse(attrs: &[(String, String)]) -> Result<Changes, Reply> {
    let mut c = Changes::default();
    for (name, raw) in attrs {
        let name = name.to_ascii_uppercase();
        let value = xtext::decode(raw).ok_or_else(|| bad(&name, raw))?;
        let gone = unavailable(&value);
        match name.as_str() {
            "NAME" | "REVERSE_NAME" => {
                let host = if gone {
                    "unknown".to_string()
                } else if addr::valid_hostname(&value) {
                    value.to_ascii_lowercase()
                } else {
                    return Err(bad(&name, &value));
                };
                let temporary = value.eq_ignore_ascii_case("[TEMPUNAVAIL]");
                if name == "NAME" {
                    if !gone {
                        c.reverse = Some((host.clone(), false));
                    }
                    c.name = Some(host);
                    c.name_temporary = Some(temporary);
                } else {
                    c.reverse = Some((host, temporary));
                }
            }
            "ADDR" => {
                c.addr = Some(if gone {
                    None
                } else {
                    Some(parse_addr(&value).ok_or_else(|| bad(&name, &value))?)
                })
            }
            "PORT" => {
                c.port = Some(if gone {
                    None
                } else {
                    Some(value.parse().map_err(|_| bad(&name, &value))?)
                })
            }
            "PROTO" => {
                c.esmtp = Some(match value.to_ascii_uppercase().as_str() {
                    "SMTP" => false,
                    "ESMTP" => true,
                    _ => return Err(bad(&name, &value)),
                })
            }
            // A HELO name longer than a host name may be is refused, as
            // Postfix does; what cannot be printed becomes '?'.
            "HELO" if !gone && value.len() > 255 => return Err(bad(&name, &value)),
            "HELO" => c.helo = Some((!gone).then(|| neuter(&value, 255))),
            // A login is often an address: only what cannot be printed goes.
            "LOGIN" => {
                c.login = Some((!gone).then(|| {
                    value
                        .chars()
                        .take(255)
                        .map(|ch| {
                            if ch.is_control() || ch == ' ' {
                                '?'
                            } else {
                                ch
                            }
                        })
                        .collect()
                }))
            }
            _ => {
                return Err(Reply::new(
                    501,
                    Some((5, 5, 4)),
                    format!("Bad XCLIENT attribute name: {}", neuter(&name, 64)),
                ))
            }
        }
    }
    Ok(c)
}

/// An XCLIENT or XFORWARD `ADDR` value: an IPv4 address, or an IPv6 one
/// with or without its `IPv6:` prefix.
pub fn parse_addr(value: &str) -> Option<IpAddr> {
    let a = value
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("IPv6:"))
        .map_or(value, |_| &value[5..]);
    a.parse().ok()
}
#[cfg(test)]
mod tests {
    use super::*;

    use crate::xforward::tests::attrs;

    #[test]
    fn values_and_refusals() {
        let c = parse(&attrs(
            "NAME=Spike.Example.ORG ADDR=IPv6:2001:db8::2 PORT=4711 PROTO=esmtp HELO=spike LOGIN=joe+40x",
        ))
        .expect("valid");
        assert_eq!(c.name.as_deref(), Some("spike.example.org"));
        assert_eq!(c.addr, Some(Some("2001:db8::2".parse().expect("ip"))));
        assert_eq!((c.port, c.esmtp), (Some(Some(4711)), Some(true)));
        assert_eq!(c.login, Some(Some("joe@x".to_string())));
        let c = parse(&attrs(
            "NAME=[TEMPUNAVAIL] ADDR=[UNAVAILABLE] LOGIN=[UNAVAILABLE]",
        ))
        .expect("valid");
        assert_eq!(
            (c.name.as_deref(), c.name_temporary, c.addr, c.login),
            (Some("unknown"), Some(true), Some(None), Some(None))
        );
        let c = parse(&attrs("NAME=[UNAVAILABLE]")).expect("valid");
        assert_eq!(c.name_temporary, Some(false));
        assert_eq!(c.reverse, None);
        // The reverse name: NAME's when it names one, REVERSE_NAME's last.
        let c = parse(&attrs("NAME=a.example")).expect("valid");
        assert_eq!(c.reverse, Some(("a.example".to_string(), false)));
        let c = parse(&attrs("NAME=a.example REVERSE_NAME=[TEMPUNAVAIL]")).expect("valid");
        assert_eq!(c.reverse, Some(("unknown".to_string(), true)));
        let c = parse(&attrs("REVERSE_NAME=Ptr.Example NAME=[UNAVAILABLE]")).expect("valid");
        assert_eq!(c.reverse, Some(("ptr.example".to_string(), false)));
        let long = format!("HELO={}", "h".repeat(256));
        assert!(parse(&attrs(&long))
            .unwrap_err()
            .to_string()
            .starts_with("501 5.5.4 Bad HELO syntax: hhh"));
        for (line, reply) in [
            ("ADDR=300.1.1.1", "501 5.5.4 Bad ADDR syntax: 300.1.1.1"),
            ("NAME=bad_host!", "501 5.5.4 Bad NAME syntax: bad_host!"),
            ("PROTO=LMTP", "501 5.5.4 Bad PROTO syntax: LMTP"),
            (
                "DESTADDR=192.0.2.9",
                "501 5.5.4 Bad XCLIENT attribute name: DESTADDR",
            ),
        ] {
            assert_eq!(
                parse(&attrs(line)).unwrap_err().to_string(),
                reply,
                "{line}"
            );
        }
    }
}
