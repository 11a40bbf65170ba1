//! IMAP without sockets (STYLE 8): the server side of IMAP4rev1 (RFC 3501)
//! and IMAP4rev2 (RFC 9051) with the extensions Dovecot offers —
//! LITERAL+/LITERAL- (RFC 7888), SASL-IR (4959), IDLE (2177), NAMESPACE,
//! ID (2971), ENABLE (5161), UNSELECT, UIDPLUS (4315), MOVE (6851),
//! CONDSTORE/QRESYNC (7162), LIST-EXTENDED (5258), LIST-STATUS (5819),
//! SPECIAL-USE (6154), ESEARCH/SEARCHRES (4731, 5182), WITHIN (5032),
//! MULTIAPPEND (3502), BINARY (3516), UTF8=ACCEPT (6855), QUOTA (9208).
//!
//! * [`CommandParser`] takes bytes through a `&mut std::slice::Iter<u8>`
//!   and returns one [`Parsed`] event per call: a [`Command`] (tag and
//!   typed [`CommandBody`]), [`Parsed::Continue`] when the client
//!   announced a synchronising literal `{n}` and waits for
//!   [`LITERAL_CONTINUATION`] (reported once; the parser then reads the
//!   literal), or [`Parsed::NeedsMoreData`]. Errors are [`CommandError`]s
//!   carrying the tag and command name when they were read;
//!   [`CommandError::response`] is the `TAG BAD ...` (or `NO [TOOBIG]`)
//!   answer. Feeding the same bytes in any split gives the same results;
//!   the tests check every split point. Literal data is appended as it
//!   comes and never rescanned, so a 20 MB APPEND in 4 KiB reads is
//!   linear. A command longer than [`ParserConfig::max_line_length`] is
//!   dropped to its line end, never buffered whole; an APPEND literal is
//!   bounded by [`ParserConfig::max_append_literal`], a `{n+}` by
//!   [`ParserConfig::max_nonsync_literal`] (LITERAL-). The rest of a
//!   refused command, non-synchronising literals included, is skipped.
//! * [`CommandParser::parse_idle_done`] reads the `DONE` line of IDLE and
//!   [`CommandParser::parse_auth_line`] the client's lines of
//!   AUTHENTICATE (`*` cancels).
//! * [`StatusResponse`] (`tag OK/NO/BAD [CODE] text`, untagged
//!   `* OK/BYE/PREAUTH`) with every response [`Code`]; [`Data`] for
//!   untagged data (EXISTS, EXPUNGE, VANISHED, FLAGS, LIST, STATUS,
//!   SEARCH, ESEARCH, ENABLED, ID, NAMESPACE, QUOTA, CAPABILITY, FETCH);
//!   [`Value`], the tree a FETCH reply, an ENVELOPE or a BODYSTRUCTURE is
//!   built from (strings quoted when safe, else literals);
//!   [`continuation`]. [`WriteOptions`] holds the IMAP4rev2 and
//!   UTF8=ACCEPT differences.
//! * [`SequenceSet`] (with `*` and `$`), [`compress_ids`] (`1:3,5`),
//!   [`Date`]/[`DateTime`] (with Unix time), [`mutf7`] (mailbox names).
//!
//! What it does not do: I/O, TLS, SASL mechanisms, charset conversion of
//! SEARCH strings, message parsing (ENVELOPE and BODYSTRUCTURE are built
//! by the caller from [`Value`]s), or the session state machine (which
//! command is allowed when is imapd's business; [`CommandBody::allowed_in`]
//! helps). Not parsed: SORT, THREAD, CATENATE, METADATA, ACL, NOTIFY.
//!
//! A server's read loop:
//!
//! ```
//! use imap_proto::{CommandParser, Parsed, LITERAL_CONTINUATION};
//!
//! let mut parser = CommandParser::default();
//! let mut out = Vec::new();
//! let input = b"a1 LOGIN {3}\r\nbob secret\r\n";
//! let mut it = input.iter();
//! loop {
//!     match parser.parse(&mut it) {
//!         Ok(Parsed::NeedsMoreData) => break, // read more from the socket
//!         Ok(Parsed::Continue(_)) => out.extend_from_slice(LITERAL_CONTINUATION),
//!         Ok(Parsed::Command(cmd)) => assert_eq!(cmd.tag, "a1"),
//!         Err(e) => e.response().write_to(&mut out),
//!     }
//! }
//! assert_eq!(out, b"+ OK\r\n");
//! ```

mod command;
mod date;
mod error;
mod grammar;
pub use util::mutf7;
mod parser;
mod response;
mod seqset;

#[cfg(test)]
mod tests;

pub use command::{
    AppendMessage, Command, CommandBody, EntryType, FetchAttr, FetchModifiers, Flag, IdParams,
    ListCommand, ListReturn, ListSelect, Mailbox, QResync, SearchCommand, SearchKey, SearchReturn,
    Secret, Section, SectionText, SelectParams, State, StatusItem, StoreCommand, StoreMode,
};
pub use date::{Date, DateTime};
pub use error::{CommandError, ErrorKind};
pub use parser::{
    AuthLine, CommandParser, IdleLine, LiteralRequest, Parsed, ParserConfig,
    DEFAULT_MAX_APPEND_LITERAL, DEFAULT_MAX_LINE_LENGTH, LITERAL_CONTINUATION, LITERAL_MINUS_MAX,
};
pub use response::{
    continuation, write_astring, write_literal, write_literal_header, write_nstring, write_string,
    Code, Data, ESearch, ListItem, NamespaceEntry, Status, StatusResponse, Value, WriteOptions,
};
pub use seqset::{compress_ids, SeqNumber, SeqRange, SequenceSet};
