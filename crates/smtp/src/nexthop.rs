//! Next hops as Postfix writes them: `example.com` (MX lookup),
//! `example.com:2525` (MX lookup, another port), `[mail.example.com]` and
//! `[192.0.2.1]:587` (no MX lookup), and lists of them
//! (`[a.example]:587, [b.example]:587`).

/// Where to connect for one delivery request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    /// A domain (when `mx`), a host name, or an IP address.
    pub host: String,
    pub port: u16,
    /// Look up MX records (the name was not in brackets).
    pub mx: bool,
    /// LMTP's `unix:path`: a UNIX-domain socket instead of host and port.
    pub unix: Option<String>,
}

/// Why a next hop makes no sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadNexthop(pub String);

impl std::fmt::Display for BadNexthop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad next-hop destination: {}", self.0)
    }
}

/// A port number or a service name Postfix commonly uses.
pub fn port(s: &str) -> Option<u16> {
    match s.trim().to_ascii_lowercase().as_str() {
        "smtp" => Some(25),
        "submission" => Some(587),
        "smtps" | "submissions" => Some(465),
        "lmtp" => Some(24),
        n => n.parse().ok().filter(|&p| p != 0),
    }
}

/// Parses a list of next hops (Postfix 3.5 and later: `[a]:587, [b]:587`,
/// separated by commas or white space), tried in order.
pub fn parse_list(nexthop: &str, default_port: u16) -> Result<Vec<Dest>, BadNexthop> {
    let list: Vec<Dest> = nexthop
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|d| !d.is_empty())
        .map(|d| parse(d, default_port))
        .collect::<Result<_, _>>()?;
    if list.is_empty() {
        return Err(BadNexthop(nexthop.to_string()));
    }
    Ok(list)
}

/// Parses a next hop; `default_port` applies when none is given.
pub fn parse(nexthop: &str, default_port: u16) -> Result<Dest, BadNexthop> {
    let bad = || BadNexthop(nexthop.to_string());
    let s = nexthop.trim();
    // A transport_maps value may still carry its transport.
    let s = ["smtp:", "relay:", "lmtp:"]
        .iter()
        .find_map(|t| s.strip_prefix(t))
        .unwrap_or(s);
    if s.is_empty() {
        return Err(bad());
    }
    if let Some(path) = s.strip_prefix("unix:") {
        if path.is_empty() || path.contains('\0') {
            return Err(bad());
        }
        return Ok(Dest {
            host: String::new(),
            port: 0,
            mx: false,
            unix: Some(path.to_string()),
        });
    }
    let s = s.strip_prefix("inet:").unwrap_or(s);
    let (host, mx, rest) = if let Some(inner) = s.strip_prefix('[') {
        let end = inner.find(']').ok_or_else(bad)?;
        let host = &inner[..end];
        let host = host
            .strip_prefix("ipv6:")
            .or_else(|| host.strip_prefix("IPv6:"))
            .unwrap_or(host);
        (host, false, &inner[end + 1..])
    } else {
        match s.rsplit_once(':') {
            Some((h, _)) if !h.contains(':') => (h, true, &s[h.len()..]),
            Some(_) => return Err(bad()),
            None => (s, true, ""),
        }
    };
    let port = match rest.strip_prefix(':') {
        Some(p) => port(p).ok_or_else(bad)?,
        None if rest.is_empty() => default_port,
        None => return Err(bad()),
    };
    let host = host.trim_end_matches('.');
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b) || b >= 0x80);
    if !valid {
        return Err(bad());
    }
    Ok(Dest {
        host: host.to_string(),
        port,
        mx,
        unix: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_of_next_hops() {
        assert_eq!(
            parse_list("[a.example]:587, [b.example]:2525 c.example", 25).unwrap(),
            vec![
                d("a.example", 587, false),
                d("b.example", 2525, false),
                d("c.example", 25, true)
            ]
        );
        assert_eq!(
            parse_list("mx.example", 25).unwrap(),
            vec![d("mx.example", 25, true)]
        );
        assert!(parse_list(" , ", 25).is_err());
        assert!(parse_list("[a.example]:587, [b", 25).is_err());
    }

    fn d(host: &str, port: u16, mx: bool) -> Dest {
        Dest {
            host: host.into(),
            port,
            mx,
            unix: None,
        }
    }

    #[test]
    fn forms() {
        assert_eq!(
            parse("example.com", 25).unwrap(),
            d("example.com", 25, true)
        );
        assert_eq!(
            parse("example.com:2525", 25).unwrap(),
            d("example.com", 2525, true)
        );
        assert_eq!(
            parse("[mail.example.com]:587", 25).unwrap(),
            d("mail.example.com", 587, false)
        );
        assert_eq!(parse("[192.0.2.1]", 25).unwrap(), d("192.0.2.1", 25, false));
        assert_eq!(
            parse("[ipv6:2001:db8::1]:26", 25).unwrap(),
            d("2001:db8::1", 26, false)
        );
        assert_eq!(
            parse("smtp:[127.0.0.1]:2525", 25).unwrap(),
            d("127.0.0.1", 2525, false)
        );
        assert_eq!(parse("[h]:submission", 25).unwrap(), d("h", 587, false));
        assert_eq!(
            parse("unix:private/dovecot-lmtp", 24)
                .unwrap()
                .unix
                .as_deref(),
            Some("private/dovecot-lmtp")
        );
        assert_eq!(
            parse("inet:[127.0.0.1]:24", 24).unwrap(),
            d("127.0.0.1", 24, false)
        );
        for bad in [
            "", "[", "[x", "[x]y", "a:b:c", "x:0", "x:99999", "a b", "[x]:",
        ] {
            assert!(parse(bad, 25).is_err(), "{bad}");
        }
    }
}
