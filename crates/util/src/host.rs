//! The host's name, as Postfix derives `myhostname` and `mydomain` from it.

/// The name from gethostname(2); "localhost" when it cannot be read.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Postfix's default `myhostname`: the FQDN from gethostname(), or the short
/// name with ".localdomain" appended when it has no dot.
pub fn default_myhostname() -> String {
    let name = hostname();
    if name.contains('.') {
        name
    } else {
        format!("{name}.localdomain")
    }
}

/// Postfix's default `mydomain`: `myhostname` minus its first label, or
/// "localdomain" when nothing is left.
pub fn domain_of(myhostname: &str) -> String {
    match myhostname.split_once('.') {
        Some((_, rest)) if rest.contains('.') || !rest.is_empty() => rest.to_string(),
        _ => "localdomain".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_is_name_minus_first_label() {
        assert_eq!(domain_of("mail.example.com"), "example.com");
        assert_eq!(domain_of("vm.localdomain"), "localdomain");
        assert_eq!(domain_of("vm"), "localdomain");
    }
}
