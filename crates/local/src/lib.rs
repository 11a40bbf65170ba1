//! The local delivery agent: the delivery itself ([`deliver`]); the
//! per-delivery privilege switch is `mailbox::as_user`, shared with virtual.

pub mod deliver;
