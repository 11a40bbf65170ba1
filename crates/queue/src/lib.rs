//! The mail queue. So far: its directory layout ([`layout`]), created with
//! Postfix's owners and modes by `mailsuite check` / `set-permissions`.

pub mod layout;
