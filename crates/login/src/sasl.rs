//! The client side of the two plaintext SASL mechanisms as the pre-login
//! dialogues of pop3d and imapd decode them (the password then goes to
//! the root parent, which asks the auth service).

/// A client response: base64 (surrounding blanks ignored), `=` for an
/// empty one (RFC 4959). None: not base64.
pub fn decode_response(raw: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(raw).ok()?.trim();
    if text == "=" {
        return Some(Vec::new());
    }
    util::base64::decode(text)
}

/// PLAIN's `authzid NUL authcid NUL password` (RFC 4616): the user and
/// password, as the auth service checks them ([`auth::mech::plain`]).
/// None for anything else, including an authorization identity other than
/// the user (there are no master users).
pub fn plain(data: &[u8]) -> Option<(String, Vec<u8>)> {
    auth::mech::plain(data).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_responses() {
        assert_eq!(plain(b"\0bob\0pw"), Some(("bob".into(), b"pw".to_vec())));
        assert_eq!(plain(b"bob\0bob\0pw"), Some(("bob".into(), b"pw".to_vec())));
        assert_eq!(plain(b"admin\0bob\0pw"), None, "no master users");
        assert_eq!(plain(b"\0bob"), None);
        assert_eq!(plain(b"\0bob\0pw\0x"), None);
        assert_eq!(plain(b"\0\xff\0pw"), None);
        assert_eq!(
            decode_response(b" AGJvYgBwdw== "),
            Some(b"\0bob\0pw".to_vec())
        );
        assert_eq!(decode_response(b"="), Some(Vec::new()));
        assert_eq!(decode_response(b"not base64!"), None);
    }
}
