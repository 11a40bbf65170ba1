//! DNS block and allow lists, as Postfix's smtpd_check.c uses them:
//! `reject_rbl_client`, `reject_rhsbl_client`, `reject_rhsbl_sender`,
//! `reject_rhsbl_helo`, `reject_rhsbl_recipient`, `permit_dnswl_client` and
//! `permit_rhswl_client`, each with a list zone and an optional filter on
//! the answer (`zen.example=127.0.0.[2..11]`).
//!
//! This module holds what needs no DNS: the names to ask
//! ([`reversed`], [`Entry::query`]), the answer filter ([`Filter`]) and the
//! reply template (`default_rbl_reply`, `rbl_reply_maps`) with its `$rbl_*`
//! variables, whose values pass through `smtpd_expansion_filter` (a TXT
//! record is the list operator's text, not ours: nothing in it may end the
//! reply line).

/// What a list is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The client address, reversed (`reject_rbl_client`, `permit_dnswl_client`).
    ClientAddress,
    /// The client's verified name (`reject_rhsbl_client`, `permit_rhswl_client`).
    ClientName,
    /// The sender's domain (`reject_rhsbl_sender`).
    Sender,
    /// The HELO name (`reject_rhsbl_helo`).
    Helo,
    /// The recipient's domain (`reject_rhsbl_recipient`).
    Recipient,
    /// The client's reverse name, confirmed or not
    /// (`reject_rhsbl_reverse_client`).
    ReverseClientName,
}

impl Subject {
    /// `$rbl_class` in the reply.
    pub fn class(self) -> &'static str {
        match self {
            Subject::ClientAddress | Subject::ClientName => "Client host",
            Subject::ReverseClientName => "Unverified Client host",
            Subject::Sender => "Sender address",
            Subject::Helo => "Helo command",
            Subject::Recipient => "Recipient address",
        }
    }
}

pub use dns::list::{reversed, Entry};

/// `smtpd_expansion_filter` and the reply template's expansion, shared
/// with postscreen's reject footer.
pub use maps::footer::{expand_reply, ExpansionFilter};
