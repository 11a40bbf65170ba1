//! `smtpd_forbidden_commands` and `postscreen_forbidden_commands`: the
//! command names (and tables of command words) that end a session as not
//! SMTP at all (an HTTP proxy request, a stray web browser).

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
