//! SMTP AUTH as a client (`smtp_sasl_auth_enable`): the username and
//! password from `smtp_sasl_password_maps` (looked up by the next hop as
//! written, e.g. `[smtp.provider.example]:587`, then by the server's host
//! name), and the PLAIN or LOGIN mechanism, as far as
//! `smtp_sasl_security_options` (`noplaintext` forbids both) and
//! `smtp_sasl_mechanism_filter` allow.

use maps::MapList;
use params::{table as p, Config};

/// What the client may do.
pub struct Sasl {
    passwords: MapList,
    /// PLAIN/LOGIN allowed without TLS, and with TLS.
    plain_ok: bool,
    plain_ok_tls: bool,
    filter: Vec<String>,
}

/// Why no credentials could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupError(pub String);

impl Sasl {
    /// None when `smtp_sasl_auth_enable` is off. Opens the password tables
    /// (call before the privilege drop: they are often root-only).
    /// The SMTP client's (`smtp_sasl_*`), or with `lmtp` the LMTP
    /// client's (`lmtp_sasl_*`); None when not enabled.
    pub fn new(cfg: &Config, lmtp: bool) -> Option<Sasl> {
        let pick = |smtp: &'static params::Param, lmtp_param: &'static params::Param| {
            if lmtp {
                lmtp_param
            } else {
                smtp
            }
        };
        if !cfg.bool(pick(&p::SMTP_SASL_AUTH_ENABLE, &p::LMTP_SASL_AUTH_ENABLE)) {
            return None;
        }
        let maps_param = pick(&p::SMTP_SASL_PASSWORD_MAPS, &p::LMTP_SASL_PASSWORD_MAPS);
        let no_plain = |param: &params::Param| {
            cfg.list(param)
                .iter()
                .any(|o| o.eq_ignore_ascii_case("noplaintext"))
        };
        Some(Sasl {
            passwords: MapList::open_lenient(
                maps_param.name,
                cfg.str(maps_param),
                &maps::Ctx::new(),
            ),
            plain_ok: !no_plain(pick(
                &p::SMTP_SASL_SECURITY_OPTIONS,
                &p::LMTP_SASL_SECURITY_OPTIONS,
            )),
            plain_ok_tls: !no_plain(pick(
                &p::SMTP_SASL_TLS_SECURITY_OPTIONS,
                &p::LMTP_SASL_TLS_SECURITY_OPTIONS,
            )),
            filter: cfg
                .list(pick(
                    &p::SMTP_SASL_MECHANISM_FILTER,
                    &p::LMTP_SASL_MECHANISM_FILTER,
                ))
                .into_iter()
                .map(|m| m.to_ascii_uppercase())
                .collect(),
        })
    }

    /// `user:password` for the first key that has one.
    pub fn credentials(&self, keys: &[String]) -> Result<Option<(String, String)>, LookupError> {
        for k in keys {
            let found = self
                .passwords
                .find(&k.to_ascii_lowercase(), false)
                .map_err(|e| LookupError(e.to_string()))?;
            if let Some(v) = found {
                let (u, pw) = v.split_once(':').unwrap_or((v.as_str(), ""));
                return Ok(Some((u.to_string(), pw.to_string())));
            }
        }
        Ok(None)
    }

    /// The mechanism to use among those the server offers.
    pub fn choose(&self, offered: &[String], tls: bool) -> Option<&'static str> {
        let allowed = if tls {
            self.plain_ok_tls
        } else {
            self.plain_ok
        };
        if !allowed {
            return None;
        }
        ["PLAIN", "LOGIN"].into_iter().find(|m| {
            offered.iter().any(|o| o == m)
                && (self.filter.is_empty() || self.filter.iter().any(|f| f == m))
        })
    }
}
