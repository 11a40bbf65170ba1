//! POP3 without sockets (STYLE 8): the server side of RFC 1939, the
//! extension mechanism of RFC 2449, AUTH (RFC 5034), STLS (RFC 2595) and
//! the response codes of RFC 2449/3206.
//!
//! * [`CommandParser`] takes bytes through a `&mut std::slice::Iter<u8>`
//!   and returns one [`Command`] (leaving the iterator just past its line
//!   end) or [`CommandError::NeedsMoreData`], having kept the partial
//!   line. Feeding the same bytes in any split gives the same results;
//!   the tests check every split point. A line longer than the limit
//!   (RFC 2449: 255 octets with CRLF; AUTH lines may be longer, up to
//!   [`ParserConfig::auth_line_limit`], since a SASL initial response
//!   does not fit) is skipped to its end, never buffered whole.
//!   [`CommandParser::parse_auth_response`] reads the client's lines
//!   during an AUTH exchange (`*` cancels).
//! * [`Reply`]: `+OK` / `-ERR` with an optional [`RespCode`] (`[AUTH]`,
//!   `[IN-USE]`, `[SYS/TEMP]`…), with Dovecot's texts
//!   ([`Reply::logged_in`], [`Reply::auth_failed`]…), and the builders
//!   for multi-line answers ([`capa`], [`Listing`]).
//! * [`DotStuffer`]: a streaming encoder for a multi-line body (RETR,
//!   TOP): dot-stuffing, bare LF made CRLF, the final `.` line — chunk by
//!   chunk, so a big message is never buffered.
//!
//! What it does not do: I/O, timeouts, TLS, the SASL mechanisms
//! themselves, or the session state machine (which command is allowed
//! in which state is pop3d's business; [`Command::allowed_in`] helps).

mod command;
mod dot;
mod line;
mod reply;

#[cfg(test)]
mod tests;

pub use command::{
    parse_line, AuthResponse, Command, CommandError, CommandParser, ParserConfig, Secret, State,
    Verb, DEFAULT_AUTH_LINE_LIMIT, DEFAULT_LINE_LIMIT,
};
pub use dot::{dot_unstuff, DotStuffer};
pub use reply::{capa, Capabilities, Listing, Reply, RespCode};
