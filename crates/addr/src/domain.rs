//! Domain names and address literals, checked as Postfix's
//! `valid_hostname.c` checks them.

/// Longest host name Postfix accepts (`VALID_HOSTNAME_LEN`).
pub const MAX_HOSTNAME_LEN: usize = 255;
/// Longest label Postfix accepts (`VALID_LABEL_LEN`).
pub const MAX_LABEL_LEN: usize = 63;

/// Postfix's `valid_hostname`: not empty, at most 255 bytes, labels of 1 to
/// 63 letters, digits, hyphens (or `_`, which Postfix tolerates), no
/// leading or trailing hyphen in a label, no empty label (so no leading,
/// trailing or doubled dot), and not all-numeric (`1.2.3.4` is an address,
/// not a name). ASCII only; see [`valid_hostname_utf8`] for SMTPUTF8.
///
/// Postfix 3.7 rejects a name only when *all* of it is numeric
/// (`example.123` passes, `123.456` does not); so do we.
pub fn valid_hostname(name: &str) -> bool {
    check_hostname(name, false)
}

/// [`valid_hostname`], but any non-ASCII character counts as a letter (a
/// U-label under SMTPUTF8). No IDNA validation is done.
pub fn valid_hostname_utf8(name: &str) -> bool {
    check_hostname(name, true)
}

fn check_hostname(name: &str, utf8: bool) -> bool {
    if name.is_empty() || name.len() > MAX_HOSTNAME_LEN {
        return false;
    }
    let mut non_numeric = false;
    for label in name.split('.') {
        if label.is_empty() || label.len() > MAX_LABEL_LEN {
            return false;
        }
        if label.starts_with('-') || label.ends_with('-') {
            return false;
        }
        for c in label.chars() {
            match c {
                '0'..='9' => {}
                'a'..='z' | 'A'..='Z' | '_' => non_numeric = true,
                '-' => {}
                c if utf8 && !c.is_ascii() && !c.is_control() && !c.is_whitespace() => {
                    non_numeric = true
                }
                _ => return false,
            }
        }
    }
    non_numeric
}

/// A fully qualified domain name: a valid host name with at least two labels.
pub fn is_fqdn(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    name.contains('.') && valid_hostname_utf8(name)
}

/// Lowercase a domain for comparison (ASCII and, for U-labels, Unicode).
pub fn fold_domain(domain: &str) -> String {
    if domain.is_ascii() {
        domain.to_ascii_lowercase()
    } else {
        domain.to_lowercase()
    }
}

/// Postfix's `valid_ipv4_hostaddr`: dotted quad, each octet 0-255, and
/// no `0.x.y.z` other than `0.0.0.0`.
pub fn valid_ipv4(addr: &str) -> bool {
    let parts: Vec<&str> = addr.split('.').collect();
    if parts.len() != 4 {
        return false;
    }
    let mut octets = [0u32; 4];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        // Leading zeros are accepted by Postfix; bound the digits by value.
        let mut v: u32 = 0;
        for b in p.bytes() {
            v = v * 10 + u32::from(b - b'0');
            if v > 255 {
                return false;
            }
        }
        octets[i] = v;
    }
    !(octets[0] == 0 && octets[1..].iter().any(|&o| o != 0))
}

/// Postfix's `valid_ipv6_hostaddr`: eight 16-bit hex fields, `::`
/// compression at most once, optionally ending in a dotted quad.
/// Without the `IPv6:` tag.
pub fn valid_ipv6(addr: &str) -> bool {
    if addr.is_empty() || !addr.contains(':') {
        return false;
    }
    // std's parser agrees with Postfix on everything that matters here
    // (field count, hex width, one `::`, embedded IPv4 at the end).
    if addr.parse::<std::net::Ipv6Addr>().is_err() {
        return false;
    }
    // std accepts an embedded IPv4 with leading-zero-free octets only; Postfix
    // additionally refuses a 0.x.y.z tail. Check the tail the Postfix way.
    match addr.rfind(':') {
        Some(i) if addr[i + 1..].contains('.') => valid_ipv4(&addr[i + 1..]),
        _ => true,
    }
}

/// An RFC 5321 address literal *with* its brackets: `[192.0.2.1]` or
/// `[IPv6:2001:db8::1]` (tag case-insensitive). General literals
/// (`[tag:content]`) are refused, as Postfix refuses them.
pub fn valid_address_literal(lit: &str) -> bool {
    let Some(inner) = lit.strip_prefix('[').and_then(|s| s.strip_suffix(']')) else {
        return false;
    };
    if inner.len() > 5 && inner.is_char_boundary(5) && inner[..5].eq_ignore_ascii_case("IPv6:") {
        return valid_ipv6(&inner[5..]);
    }
    valid_ipv4(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        for ok in [
            "localhost",
            "example.com",
            "a-b.example",
            "b_c.example",
            "123.example",
            "example.123",
            "xn--bcher-kva.example",
            &format!("{}.example", "x".repeat(63)),
        ] {
            assert!(valid_hostname(ok), "{ok}");
        }
        for bad in [
            "",
            ".example",
            "example.",
            "a..b",
            "-bad.example",
            "bad-.example",
            "a b",
            "a@b",
            "123.456",
            "1.2.3.4",
            "é.example",
            &format!("{}.example", "x".repeat(64)),
            &["abcdefghi"; 26].join("."),
        ] {
            assert!(!valid_hostname(bad), "{bad}");
        }
        assert!(valid_hostname_utf8("é.example"));
        assert!(valid_hostname_utf8("пример.рф"));
        assert!(!valid_hostname_utf8("é\u{7}.example"));
        // Exactly 255 bytes is fine, 256 is not.
        let l63 = "a".repeat(63);
        let n255 = format!("{l63}.{l63}.{l63}.{}", "b".repeat(63));
        assert_eq!(n255.len(), 255);
        assert!(valid_hostname(&n255));
        assert!(!valid_hostname(&format!("{n255}c")));
    }

    #[test]
    fn fqdn_and_fold() {
        assert!(is_fqdn("mail.example.com"));
        assert!(is_fqdn("mail.example.com."));
        assert!(!is_fqdn("localhost"));
        assert!(!is_fqdn("1.2.3.4"));
        assert!(!is_fqdn("a..b"));
        assert_eq!(fold_domain("Example.COM"), "example.com");
        assert_eq!(fold_domain("ÉXAMPLE.com"), "éxample.com");
    }

    #[test]
    fn ipv4() {
        for ok in ["192.0.2.1", "0.0.0.0", "255.255.255.255", "010.1.1.1"] {
            assert!(valid_ipv4(ok), "{ok}");
        }
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4.5",
            "300.1.1.1",
            "0.1.2.3",
            "1..2.3",
            "1.2.3.",
            "a.b.c.d",
            "1.2.3.4 ",
        ] {
            assert!(!valid_ipv4(bad), "{bad}");
        }
    }

    #[test]
    fn ipv6_and_literals() {
        for ok in [
            "::1",
            "2001:db8::1",
            "::",
            "1:2:3:4:5:6:7:8",
            "::ffff:192.0.2.1",
        ] {
            assert!(valid_ipv6(ok), "{ok}");
        }
        for bad in [
            "",
            "1.2.3.4",
            "1:2:3:4:5:6:7:8:9",
            "1::2::3",
            "12345::1",
            "::ffff:0.1.2.3",
            "g::1",
        ] {
            assert!(!valid_ipv6(bad), "{bad}");
        }
        for ok in ["[192.0.2.1]", "[IPv6:2001:db8::1]", "[ipv6:::1]"] {
            assert!(valid_address_literal(ok), "{ok}");
        }
        for bad in [
            "192.0.2.1",
            "[192.0.2.1",
            "[1.2.3]",
            "[300.1.1.1]",
            "[0.1.2.3]",
            "[foo:bar]",
            "[IPv6:1.2.3.4]",
            "[IPv6:]",
            "[]",
            "[é]",
        ] {
            assert!(!valid_address_literal(bad), "{bad}");
        }
    }
}
