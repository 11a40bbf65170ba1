//! The anvil protocol: smtpd processes count their clients' connections and
//! requests in the one anvil process (`private/anvil`), which answers with
//! the client's current count and rates (Postfix's anvil(8)).
//!
//! A request is one line, `EVENT IDENT`, where EVENT is `connect`,
//! `disconnect`, `message`, `recipient`, `newtls`, `auth` or `lookup`, and
//! IDENT is `service:address` (printable, no space, at most
//! [`MAX_IDENT`] bytes). The answer is one line of `name=value` words:
//! `count=N rate=N` to `connect`, `rate=N` to the other events, `ok` to
//! `disconnect`, and to `lookup` all of `count`, `connect`, `message`,
//! `recipient`, `newtls` and `auth`. A line that breaks these rules ends the
//! client's connection.
//!
//! [`Client`] keeps one connection per process and opens it again once
//! when it finds it broken; anvil forgets a client's connections when the
//! client's process goes away, so a crashed smtpd does not leave counts
//! behind.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest IDENT.
pub const MAX_IDENT: usize = 300;

/// What a client tells anvil.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Connect,
    Disconnect,
    Message,
    Recipient,
    NewTls,
    Auth,
    Lookup,
}

impl Event {
    pub fn word(self) -> &'static str {
        match self {
            Event::Connect => "connect",
            Event::Disconnect => "disconnect",
            Event::Message => "message",
            Event::Recipient => "recipient",
            Event::NewTls => "newtls",
            Event::Auth => "auth",
            Event::Lookup => "lookup",
        }
    }

    fn from_word(w: &str) -> Option<Event> {
        Some(match w {
            "connect" => Event::Connect,
            "disconnect" => Event::Disconnect,
            "message" => Event::Message,
            "recipient" => Event::Recipient,
            "newtls" => Event::NewTls,
            "auth" => Event::Auth,
            "lookup" => Event::Lookup,
            _ => return None,
        })
    }
}

/// Whether `ident` may be sent.
pub fn valid_ident(ident: &str) -> bool {
    !ident.is_empty() && ident.len() <= MAX_IDENT && ident.bytes().all(|b| b.is_ascii_graphic())
}

/// Parses a request line (without its newline).
pub fn parse_request(line: &str) -> Option<(Event, &str)> {
    let (word, ident) = line.split_once(' ')?;
    let event = Event::from_word(word)?;
    valid_ident(ident).then_some((event, ident))
}

/// The `name=value` numbers of an answer.
pub fn parse_answer(line: &str) -> Option<Vec<(&str, u64)>> {
    line.split(' ')
        .filter(|w| *w != "ok")
        .map(|w| {
            let (n, v) = w.split_once('=')?;
            Some((n, v.parse().ok()?))
        })
        .collect()
}

/// The path of the anvil service.
pub fn socket_path(queue_dir: &Path) -> PathBuf {
    queue_dir.join("private").join("anvil")
}

/// One process's connection to anvil.
pub struct Client {
    path: PathBuf,
    timeout: Duration,
    conn: Option<(UnixStream, BufReader<UnixStream>)>,
}

impl Client {
    pub fn new(queue_dir: &Path, timeout: Duration) -> Client {
        Client {
            path: socket_path(queue_dir),
            timeout,
            conn: None,
        }
    }

    fn open(&self) -> io::Result<(UnixStream, BufReader<UnixStream>)> {
        let s = UnixStream::connect(&self.path)?;
        s.set_read_timeout(Some(self.timeout))?;
        s.set_write_timeout(Some(self.timeout))?;
        let r = BufReader::new(s.try_clone()?);
        Ok((s, r))
    }

    /// Sends one event and returns the answer's numbers (by name).
    pub fn send(&mut self, event: Event, ident: &str) -> io::Result<Vec<(String, u64)>> {
        if !valid_ident(ident) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad anvil ident",
            ));
        }
        let request = format!("{} {ident}\n", event.word());
        let mut last = None;
        for _ in 0..2 {
            let (w, r) = match self.conn.as_mut() {
                Some(c) => c,
                None => self.conn.insert(self.open()?),
            };
            let mut line = String::new();
            let sent = w
                .write_all(request.as_bytes())
                .and_then(|()| io::Read::take(&mut *r, 4096).read_line(&mut line));
            match sent {
                Ok(n) if n > 0 && line.ends_with('\n') => {
                    return parse_answer(line.trim_end())
                        .map(|v| v.into_iter().map(|(n, v)| (n.to_string(), v)).collect())
                        .ok_or_else(|| {
                            io::Error::new(io::ErrorKind::InvalidData, "bad anvil answer")
                        });
                }
                Ok(_) => last = Some(io::Error::new(io::ErrorKind::UnexpectedEof, "anvil closed")),
                Err(e) => last = Some(e),
            }
            // Broken (anvil restarted): once more on a new connection.
            self.conn = None;
        }
        Err(last.unwrap_or_else(|| io::Error::other("anvil")))
    }
}

/// The value named `name` in an answer (0 when absent).
pub fn value(answer: &[(String, u64)], name: &str) -> u64 {
    answer
        .iter()
        .find(|(n, _)| n == name)
        .map_or(0, |(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_answers_are_checked() {
        assert_eq!(
            parse_request("connect smtp:192.0.2.1"),
            Some((Event::Connect, "smtp:192.0.2.1"))
        );
        assert_eq!(
            parse_request("auth submission:2001:db8::1"),
            Some((Event::Auth, "submission:2001:db8::1"))
        );
        for bad in [
            "connect",
            "connect ",
            "frob smtp:1",
            "connect a b",
            "connect a\tb",
            &format!("connect {}", "x".repeat(301)),
        ] {
            assert_eq!(parse_request(bad), None, "{bad:?}");
        }
        assert_eq!(
            parse_answer("count=2 rate=7"),
            Some(vec![("count", 2), ("rate", 7)])
        );
        assert_eq!(parse_answer("ok"), Some(vec![]));
        assert_eq!(parse_answer("count=x"), None);
    }
}
