//! NAME
//!   proxymap - mailsuite's lookup table proxy
//!
//! SYNOPSIS
//!   proxymap [generic server options] (started by the master)
//!
//! DESCRIPTION
//!   proxymap answers lookups for `proxy:TYPE:NAME` tables, as Postfix's
//!   proxymap(8), and says whether each is a fixed-string or a pattern
//!   table (an SQL query with `%u` or `%d` is a pattern): a worker that would otherwise open its own connection
//!   to MySQL, PostgreSQL or SQLite asks proxymap instead, and the few
//!   proxymap processes (maxproc in master.cf) keep their tables — and
//!   database connections — open across many clients. Tables are opened
//!   on first use and kept. A failing lookup is answered as a temporary
//!   failure, so the mail it decides waits instead of bouncing.
//!
//!   Only tables named in proxy_read_maps may be looked up (with or
//!   without their `proxy:` prefix, as Postfix compares them); anything
//!   else is refused and logged.
//!
//! SECURITY
//!   proxymap runs unprivileged (mail_owner) and reads requests from local
//!   clients: one line each, at most 1 MiB, fields unescaped and checked
//!   (a table name of at most 4096 bytes, a key of at most 4096). Database
//!   passwords in the tables' .cf files are read by proxymap, not by the
//!   workers that ask.
//!
//! CONFIGURATION PARAMETERS
//!   proxy_read_maps, queue_directory, max_idle, max_use; clients use
//!   proxymap_service_name and ipc_timeout.
//!
//! FILES
//!   $queue_directory/private/$proxymap_service_name, the service socket.

use maps::proxy::{kind_word, Reply, Request, MAX_LINE};
use maps::Map;
use params::table as p;
use server::multi::{serve_lines, Stream};
use server::{Context, Flow, MultiService, Service};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

/// Bytes of replies one client may leave unread before it is dropped.
const MAX_OUTPUT: usize = 4 << 20;

#[derive(Default)]
struct Proxymap {
    allowed: Option<HashSet<String>>,
    tables: HashMap<String, Box<dyn Map>>,
}

struct Session {
    input: Vec<u8>,
    output: Vec<u8>,
}

impl Service for Proxymap {
    fn post_jail(&mut self, ctx: &Context) -> Result<(), server::HookError> {
        // Postfix lists proxy_read_maps entries with or without "proxy:".
        let allowed = ctx
            .config
            .list(&p::PROXY_READ_MAPS)
            .into_iter()
            .filter(|s| s.contains(':'))
            .map(|s| s.strip_prefix("proxy:").unwrap_or(&s).to_string())
            .collect();
        self.allowed = Some(allowed);
        Ok(())
    }
}

impl Proxymap {
    /// The table a request names, opened on first use and kept; an
    /// answer instead when it may not be read or cannot be opened.
    fn table(&mut self, name: &str) -> Result<&dyn Map, Reply> {
        let allowed = self.allowed.as_ref().is_some_and(|a| a.contains(name));
        if !allowed {
            maillog::warning!(
                "request for unapproved table: \"{name}\"; to approve this table for read-only access, list proxy:{name} in main.cf:proxy_read_maps"
            );
            return Err(Reply::Denied(format!(
                "table {name} is not in proxy_read_maps"
            )));
        }
        let m = match self.tables.entry(name.to_string()) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => match maps::open(name, &maps::Ctx::new()) {
                Ok(m) => e.insert(m),
                Err(err) => {
                    maillog::warning!("open {name}: {err}");
                    return Err(Reply::Temp(format!("cannot open {name}: {err}")));
                }
            },
        };
        Ok(&**m)
    }

    fn answer(&mut self, req: &Request) -> Reply {
        let m = match self.table(req.table()) {
            Ok(m) => m,
            Err(reply) => return reply,
        };
        let Request::Lookup { table, key } = req else {
            return Reply::Found(kind_word(m.kind()).to_string());
        };
        match m.lookup(key) {
            Ok(Some(v)) => Reply::Found(v),
            Ok(None) => Reply::NotFound,
            Err(e) => {
                maillog::warning!("{table}: lookup {key}: {e}");
                Reply::Temp(e.to_string())
            }
        }
    }

    fn pump(&mut self, sess: &mut Session, stream: &mut Stream) -> Flow {
        serve_lines(
            stream,
            &mut sess.input,
            &mut sess.output,
            (MAX_LINE, MAX_OUTPUT),
            |line| Request::parse(line).map(|req| self.answer(&req).line()),
        )
    }
}

impl MultiService for Proxymap {
    type Session = Session;

    fn open(&mut self, _ctx: &Context, _stream: &mut Stream) -> Option<Session> {
        Some(Session {
            input: Vec::new(),
            output: Vec::new(),
        })
    }

    fn ready(&mut self, _ctx: &Context, sess: &mut Session, stream: &mut Stream) -> Flow {
        self.pump(sess, stream)
    }
}

fn main() {
    server::multi_server("proxymap", Proxymap::default())
}
