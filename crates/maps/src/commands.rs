//! What smtpd and postscreen share about the commands they read and the
//! EHLO reply they give:
//! * `smtpd_forbidden_commands` and `postscreen_forbidden_commands`: the
//!   command names (and tables of command words) that end a session as not
//!   SMTP at all (an HTTP proxy request, a stray web browser);
//! * `smtpd_command_filter` and `postscreen_command_filter`
//!   ([`CommandFilter`]): a table that replaces a command line before it is
//!   parsed (a last resort for broken clients);
//! * `smtpd_discard_ehlo_keywords` and `postscreen_discard_ehlo_keywords`,
//!   with their `_address_maps` by client address ([`EhloDiscard`]): the
//!   EHLO keywords left out of the reply.

use crate::{Ctx, MapList};
use std::sync::Arc;

/// The names, in any case, and the tables a command word is looked up
/// in (Postfix's default has `regexp:{{/^[^A-Z]/ Bogus}}`: a command that
/// does not start with a capital letter).
#[derive(Clone)]
pub struct ForbiddenCommands {
    names: Vec<String>,
    tables: Option<Arc<MapList>>,
}

impl std::fmt::Debug for ForbiddenCommands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForbiddenCommands")
            .field("names", &self.names)
            .finish()
    }
}

impl ForbiddenCommands {
    /// From the parameter `param`'s items.
    pub fn new(param: &str, items: &[String]) -> ForbiddenCommands {
        let (tables, names): (Vec<&String>, Vec<&String>) =
            items.iter().partition(|i| i.contains(':'));
        let tables: Vec<&str> = tables.iter().map(|t| t.as_str()).collect();
        let maps = MapList::open_lenient(param, &tables.join(", "), &Ctx::new());
        ForbiddenCommands {
            names: names.into_iter().cloned().collect(),
            tables: (!maps.is_empty()).then(|| Arc::new(maps)),
        }
    }

    /// Whether a command whose first word is `word` (a word no SMTP
    /// command has) ends the session: a forbidden name, or a word that
    /// starts a message header (`Subject:`: a client sending its message
    /// out of turn), as Postfix 3.x judges both.
    pub fn forbids(&self, word: &str) -> bool {
        self.matches(word) || looks_like_header(word)
    }

    /// Whether the command word `word` is forbidden.
    pub fn matches(&self, word: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(word))
            || self
                .tables
                .as_ref()
                .is_some_and(|t| matches!(t.lookup(word), Ok(Some(_))))
    }
}

/// A message header line (`Name: value`).
pub fn looks_like_header(line: &str) -> bool {
    match line.split_once(':') {
        Some((name, _)) => {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
        }
        None => false,
    }
}

/// `smtpd_command_filter`, `postscreen_command_filter`: the tables a whole
/// command line (without its line end and leading blanks) is looked up in.
#[derive(Clone)]
pub struct CommandFilter {
    param: String,
    tables: Arc<MapList>,
}

impl std::fmt::Debug for CommandFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CommandFilter({})", self.param)
    }
}

impl CommandFilter {
    /// The tables of parameter `param`'s `value`; None when it names none.
    pub fn open(param: &str, value: &str) -> Option<CommandFilter> {
        let tables = MapList::open_lenient(param, value, &Ctx::new());
        (!tables.is_empty()).then(|| CommandFilter {
            param: param.to_string(),
            tables: Arc::new(tables),
        })
    }

    /// What replaces `line`, when a table has it (looked up without the
    /// leading spaces and tabs); a failed look-up is logged and leaves the
    /// line as it is.
    pub fn replacement(&self, line: &str) -> Option<String> {
        let key = line.trim_start_matches([' ', '\t']);
        match self.tables.lookup(key) {
            Ok(found) => found,
            Err(e) => {
                maillog::warning!("{}: {e}", self.param);
                None
            }
        }
    }
}

/// EHLO keywords left out of a reply (`pipelining`, `starttls`, `dsn`,
/// `silent-discard` …, in any case).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discard {
    pub words: Vec<String>,
}

impl Discard {
    /// Whether `keyword` (any case) is discarded.
    pub fn has(&self, keyword: &str) -> bool {
        self.words.iter().any(|w| w.eq_ignore_ascii_case(keyword))
    }
}

/// `*_discard_ehlo_keywords` and `*_discard_ehlo_keyword_address_maps`:
/// the keywords left out for every client, and the tables that say it per
/// client address instead.
#[derive(Clone)]
pub struct EhloDiscard {
    param: String,
    default: Discard,
    by_client: Option<Arc<MapList>>,
}

impl std::fmt::Debug for EhloDiscard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EhloDiscard")
            .field("default", &self.default)
            .finish()
    }
}

impl EhloDiscard {
    /// The keywords `words` for every client, the tables `maps_value` of
    /// parameter `maps_param` by client address.
    pub fn new(words: &[String], maps_param: &str, maps_value: &str) -> EhloDiscard {
        let maps = MapList::open_lenient(maps_param, maps_value, &Ctx::new());
        EhloDiscard {
            param: maps_param.to_string(),
            default: Discard {
                words: words.to_vec(),
            },
            by_client: (!maps.is_empty()).then(|| Arc::new(maps)),
        }
    }

    /// The keywords for every client.
    pub fn default_words(&self) -> &Discard {
        &self.default
    }

    /// What the address tables say for the client at `addr`; None when
    /// they say nothing (or fail: logged).
    pub fn by_client(&self, addr: &str) -> Option<Discard> {
        match self.by_client.as_ref()?.lookup(addr) {
            Ok(Some(v)) => Some(Discard {
                words: crate::split_list(&v)
                    .into_iter()
                    .map(|w| w.to_string())
                    .collect(),
            }),
            Ok(None) => None,
            Err(e) => {
                maillog::warning!("{}: {e}", self.param);
                None
            }
        }
    }

    /// The keywords left out for the client at `addr`: what the tables
    /// say, else the list for every client.
    pub fn for_client(&self, addr: &str) -> Discard {
        self.by_client(addr).unwrap_or_else(|| self.default.clone())
    }
}

#[cfg(test)]
mod filter_tests {
    use super::*;

    #[test]
    fn the_command_filter_replaces_whole_lines() {
        assert!(CommandFilter::open("f", "").is_none());
        let f =
            CommandFilter::open("f", "inline:{ { helo = HELO unknown.example } }").expect("filter");
        assert_eq!(
            f.replacement(" \tHELO").as_deref(),
            Some("HELO unknown.example")
        );
        assert_eq!(f.replacement("MAIL FROM:<a@b>"), None);
        let failing = CommandFilter::open("f", "fail:x").expect("filter");
        assert_eq!(failing.replacement("NOOP"), None);
    }

    #[test]
    fn ehlo_keywords_by_client_or_for_all() {
        let d = EhloDiscard::new(
            &["pipelining".to_string()],
            "m",
            "inline:{ { 192.0.2.1 = silent-discard, dsn } }",
        );
        assert_eq!(
            d.for_client("192.0.2.1").words,
            vec!["silent-discard", "dsn"]
        );
        assert!(d.by_client("192.0.2.2").is_none());
        assert!(d.for_client("192.0.2.2").has("PIPELINING"));
        assert_eq!(
            EhloDiscard::new(&[], "m", "").for_client("192.0.2.1"),
            Discard::default()
        );
    }
}
