//! Which TLS versions to speak, from Postfix's `*_tls_protocols` and
//! `*_tls_mandatory_protocols` syntax: names to exclude (`!SSLv2, !SSLv3,
//! !TLSv1, !TLSv1.1`), names to include (`TLSv1.2, TLSv1.3`), or bounds
//! (`>=TLSv1.2`, `<=TLSv1.3`; Postfix 3.6's form), in any mix. rustls speaks
//! TLS 1.2 and 1.3 only, so what is left of those two is what is used; a
//! setting that leaves neither is an error.

use rustls::SupportedProtocolVersion;

/// The versions Postfix knows, oldest first.
const NAMES: [&str; 6] = ["SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"];

/// The TLS versions allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocols {
    pub tls12: bool,
    pub tls13: bool,
}

impl Default for Protocols {
    fn default() -> Protocols {
        Protocols {
            tls12: true,
            tls13: true,
        }
    }
}

fn index(name: &str) -> Option<usize> {
    NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(name.trim()))
}

impl Protocols {
    /// Parses a Postfix protocol list (its items, as the list parameter
    /// gives them). The error names what is wrong.
    pub fn parse(items: &[String]) -> Result<Protocols, String> {
        let mut allowed = [true; 6];
        let mut included: Option<[bool; 6]> = None;
        for item in items.iter().flat_map(|i| i.split([':', ',', ' ', '\t'])) {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let unknown = || format!("unknown TLS protocol \"{item}\"");
            if let Some(name) = item.strip_prefix(">=") {
                let i = index(name).ok_or_else(unknown)?;
                allowed.iter_mut().take(i).for_each(|a| *a = false);
            } else if let Some(name) = item.strip_prefix("<=") {
                let i = index(name).ok_or_else(unknown)?;
                allowed.iter_mut().skip(i + 1).for_each(|a| *a = false);
            } else if let Some(name) = item.strip_prefix('!') {
                allowed[index(name).ok_or_else(unknown)?] = false;
            } else {
                let i = index(item).ok_or_else(unknown)?;
                included.get_or_insert([false; 6])[i] = true;
            }
        }
        if let Some(inc) = included {
            for (a, i) in allowed.iter_mut().zip(inc) {
                *a &= i;
            }
        }
        let p = Protocols {
            tls12: allowed[4],
            tls13: allowed[5],
        };
        if !p.tls12 && !p.tls13 {
            return Err(format!(
                "\"{}\" leaves no protocol that mailsuite speaks (TLSv1.2, TLSv1.3)",
                items.join(", ")
            ));
        }
        Ok(p)
    }

    /// Dovecot's `ssl_min_protocol`.
    pub fn at_least(min: &str) -> Result<Protocols, String> {
        if min.trim().is_empty() || min.trim().eq_ignore_ascii_case("ANY") {
            return Ok(Protocols::default());
        }
        Protocols::parse(&[format!(">={}", min.trim())])
    }

    pub(crate) fn versions(&self) -> Vec<&'static SupportedProtocolVersion> {
        let mut v = Vec::new();
        if self.tls13 {
            v.push(&rustls::version::TLS13);
        }
        if self.tls12 {
            v.push(&rustls::version::TLS12);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Protocols, String> {
        Protocols::parse(&s.split(',').map(str::to_string).collect::<Vec<_>>())
    }

    const BOTH: Protocols = Protocols {
        tls12: true,
        tls13: true,
    };
    const ONLY13: Protocols = Protocols {
        tls12: false,
        tls13: true,
    };
    const ONLY12: Protocols = Protocols {
        tls12: true,
        tls13: false,
    };

    #[test]
    fn postfix_forms() {
        assert_eq!(parse(">=TLSv1"), Ok(BOTH));
        assert_eq!(parse(""), Ok(BOTH));
        assert_eq!(parse("!SSLv2, !SSLv3, !TLSv1, !TLSv1.1"), Ok(BOTH));
        assert_eq!(parse("!SSLv2:!SSLv3:!TLSv1.2"), Ok(ONLY13));
        assert_eq!(parse(">=TLSv1.3"), Ok(ONLY13));
        assert_eq!(parse("<=TLSv1.2"), Ok(ONLY12));
        assert_eq!(parse("TLSv1.2"), Ok(ONLY12));
        assert_eq!(parse("tlsv1.2, TLSv1.3, !TLSv1.3"), Ok(ONLY12));
        assert!(parse("<=TLSv1.1")
            .unwrap_err()
            .contains("leaves no protocol"));
        assert!(parse("TLSv9")
            .unwrap_err()
            .contains("unknown TLS protocol \"TLSv9\""));
        assert_eq!(Protocols::at_least("TLSv1.3"), Ok(ONLY13));
        assert_eq!(Protocols::at_least("TLSv1"), Ok(BOTH));
        assert!(Protocols::at_least("bogus").is_err());
    }
}
