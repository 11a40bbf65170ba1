//! SMTP without sockets, for both ends of a connection (STYLE 8).
//!
//! Every parser takes bytes through a `&mut std::slice::Iter<u8>` and
//! either returns one item, leaving the iterator just past it, or says it
//! needs more data, having kept what it consumed. So a caller reads from
//! its socket into a buffer, calls the parser until it asks for more, and
//! hands the rest of the buffer to whatever comes next (the DATA decoder
//! after `DATA`, the chunk reader after `BDAT`, nothing after `STARTTLS` —
//! discard it, RFC 3207 §4.2). Feeding the same bytes in any split gives
//! the same results; the tests check every split point.
//!
//! Server side:
//! * [`CommandParser`] → [`Command`] (HELO, EHLO, MAIL with SIZE / BODY /
//!   SMTPUTF8 / RET / ENVID / AUTH, RCPT with NOTIFY / ORCPT, DATA, BDAT,
//!   RSET, NOOP, QUIT, VRFY, EXPN, HELP, STARTTLS, AUTH, ETRN, XCLIENT, XFORWARD, unknown
//!   verbs) or a [`CommandError`] whose [`CommandError::reply`] is the
//!   reply Postfix gives. Lines over the limit are skipped to their end,
//!   never buffered whole.
//! * [`DataDecoder`]: DATA content, dot-unstuffed, with size, bare-LF and
//!   long-line accounting; [`BdatReader`]: a BDAT chunk.
//! * [`Reply`]: reply builder with Postfix 3.7's texts
//!   ([`Reply::need_mail`], [`Reply::queued`]...), and
//!   [`Capabilities::ehlo_reply`].
//!
//! Client side:
//! * [`ReplyParser`] → [`Reply`] (multi-line, enhanced status codes,
//!   bounded size), [`Capabilities::from_ehlo`].
//! * [`Command::to_bytes`], [`MailFrom::to_bytes`], [`RcptTo::to_bytes`]:
//!   command lines with parameters, ENVID / ORCPT / AUTH xtext-encoded
//!   ([`xtext`]).
//!
//! What it does not do: I/O, timeouts, TLS, SASL exchanges (it parses the
//! AUTH command, not the mechanism), the SMTP state machine (which command
//! is allowed when is smtpd's business), or policy (size limits, relay
//! checks). Addresses are parsed by the `addr` crate.

mod command;
mod data;
mod line;
mod reply;
pub mod xtext;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

pub use addr::{AddrError, Mailbox};
pub use command::{
    parse_line, Body, Command, CommandError, CommandParser, MailFrom, Notify, Orcpt, ParserConfig,
    RcptTo, Ret, Verb, DEFAULT_LINE_LIMIT,
};
pub use data::{BdatReader, DataConfig, DataDecoder, DataStatus};
pub use reply::{
    Capabilities, Reply, ReplyError, ReplyParser, DEFAULT_REPLY_LINE_LIMIT, DEFAULT_REPLY_MAX_LINES,
};
