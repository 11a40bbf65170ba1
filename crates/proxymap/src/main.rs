//! NAME
//!   proxymap - mailsuite's lookup table proxy
//!
//! SYNOPSIS
//!   proxymap [generic server options] (started by the master)
//!
//! DESCRIPTION
//!   proxymap answers lookups for `proxy:TYPE:NAME` tables, as Postfix's
//!   proxymap(8): a worker that would otherwise open its own connection
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
//!   proxy_read_maps, queue_directory, max_idle, max_use.
//!
//! FILES
//!   $queue_directory/private/proxymap, the service socket.

use maps::proxy::{Reply, Request, MAX_LINE};
use maps::Map;
use params::table as p;
use server::multi::Stream;
use server::{Context, Flow, MultiService, Service};
use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};

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
    fn answer(&mut self, req: &Request) -> Reply {
        let allowed = self
            .allowed
            .as_ref()
            .is_some_and(|a| a.contains(&req.table));
        if !allowed {
            maillog::warning!(
                "request for unapproved table: \"{}\"; to approve this table for read-only access, list proxy:{} in main.cf:proxy_read_maps",
                req.table,
                req.table
            );
            return Reply::Denied(format!("table {} is not in proxy_read_maps", req.table));
        }
        if !self.tables.contains_key(&req.table) {
            match maps::open(&req.table, &maps::Ctx::new()) {
                Ok(m) => {
                    self.tables.insert(req.table.clone(), m);
                }
                Err(e) => {
                    maillog::warning!("open {}: {e}", req.table);
                    return Reply::Temp(format!("cannot open {}: {e}", req.table));
                }
            }
        }
        let Some(m) = self.tables.get(&req.table) else {
            return Reply::Temp("table not open".into());
        };
        match m.lookup(&req.key) {
            Ok(Some(v)) => Reply::Found(v),
            Ok(None) => Reply::NotFound,
            Err(e) => {
                maillog::warning!("{}: lookup {}: {e}", req.table, req.key);
                Reply::Temp(e.to_string())
            }
        }
    }

    fn pump(&mut self, sess: &mut Session, stream: &mut Stream) -> Flow {
        let mut buf = [0u8; 16384];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return Flow::Close,
                Ok(n) => sess.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Flow::Close,
            }
            if sess.input.len() > MAX_LINE + 16384 {
                break;
            }
        }
        while let Some(nl) = sess.input.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = sess.input.drain(..=nl).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            let reply = match Request::parse(&text) {
                Some(req) => self.answer(&req),
                None => {
                    maillog::warning!("malformed request from a client");
                    return Flow::Close;
                }
            };
            sess.output.extend_from_slice(reply.line().as_bytes());
        }
        if sess.input.len() > MAX_LINE || sess.output.len() > MAX_OUTPUT {
            maillog::warning!("client request or backlog too large");
            return Flow::Close;
        }
        while !sess.output.is_empty() {
            match stream.write(&sess.output) {
                Ok(0) => return Flow::Close,
                Ok(n) => {
                    sess.output.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Flow::Close,
            }
        }
        Flow::Continue
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
