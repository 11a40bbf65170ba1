//! The address verification protocol (Postfix's verify(8)): smtpd asks the
//! one verify process (`private/verify`) what it knows of an address, and
//! qmgr tells it what a probe found.
//!
//! A request is one line: `query ADDRESS` or `update STATUS ADDRESS TEXT`.
//! The answer to a query is `STATUS TEXT`; to an update, `ok`. STATUS is
//! one of [`Status`]'s words. ADDRESS is printable ASCII or UTF-8 without
//! spaces and at most [`MAX_ADDRESS`] bytes (the null address is `<>`);
//! TEXT is printable, at most [`MAX_TEXT`] bytes. A line that breaks these
//! rules ends the client's connection.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const MAX_ADDRESS: usize = 500;
pub const MAX_TEXT: usize = 1000;
/// The longest request line.
pub const MAX_LINE: usize = MAX_ADDRESS + MAX_TEXT + 40;

/// What is known of an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A probe reached its destination and was accepted.
    Deliverable,
    /// A probe was refused for good.
    Undeliverable,
    /// A probe failed for now.
    Deferred,
    /// Nothing yet: a probe is under way.
    Unknown,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Deliverable => "deliverable",
            Status::Undeliverable => "undeliverable",
            Status::Deferred => "deferred",
            Status::Unknown => "unknown",
        }
    }

    pub fn from_word(w: &str) -> Option<Status> {
        Some(match w {
            "deliverable" => Status::Deliverable,
            "undeliverable" => Status::Undeliverable,
            "deferred" => Status::Deferred,
            "unknown" => Status::Unknown,
            _ => return None,
        })
    }
}

/// A request, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Query(String),
    Update {
        status: Status,
        address: String,
        text: String,
    },
}

fn valid_address(a: &str) -> bool {
    !a.is_empty()
        && a.len() <= MAX_ADDRESS
        && !a.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn clean_text(t: &str) -> String {
    let mut t: String = t
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if t.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        t.truncate(end);
    }
    t
}

/// The address as the protocol carries it (`<>` for the null address).
pub fn wire_address(address: &str) -> &str {
    if address.is_empty() {
        "<>"
    } else {
        address
    }
}

impl Request {
    /// Parses a request line (without its newline).
    pub fn parse(line: &str) -> Option<Request> {
        if let Some(address) = line.strip_prefix("query ") {
            return valid_address(address).then(|| Request::Query(address.to_string()));
        }
        let rest = line.strip_prefix("update ")?;
        let (status, rest) = rest.split_once(' ')?;
        let (address, text) = rest.split_once(' ').unwrap_or((rest, ""));
        let status = Status::from_word(status)?;
        (valid_address(address) && text.len() <= MAX_TEXT && !text.chars().any(char::is_control))
            .then(|| Request::Update {
                status,
                address: address.to_string(),
                text: text.to_string(),
            })
    }

    pub fn line(&self) -> String {
        match self {
            Request::Query(a) => format!("query {a}\n"),
            Request::Update {
                status,
                address,
                text,
            } => format!("update {} {address} {}\n", status.word(), clean_text(text)),
        }
    }
}

/// The answer to a query: the status and its text.
pub fn parse_answer(line: &str) -> Option<(Status, String)> {
    let (word, text) = line.split_once(' ').unwrap_or((line, ""));
    Some((Status::from_word(word)?, text.to_string()))
}

/// The answer line to a query.
pub fn answer_line(status: Status, text: &str) -> String {
    format!("{} {}\n", status.word(), clean_text(text))
}

/// The path of the verify service (`address_verify_service_name`).
pub fn socket_path(queue_dir: &Path, service: &str) -> PathBuf {
    queue_dir.join("private").join(service)
}

/// A connection to the verify service for one request.
pub struct Client {
    path: PathBuf,
    timeout: Duration,
}

impl Client {
    pub fn new(path: PathBuf, timeout: Duration) -> Client {
        Client { path, timeout }
    }

    fn ask(&self, request: &Request) -> io::Result<String> {
        let s = UnixStream::connect(&self.path)?;
        s.set_read_timeout(Some(self.timeout))?;
        s.set_write_timeout(Some(self.timeout))?;
        (&s).write_all(request.line().as_bytes())?;
        let mut line = String::new();
        io::Read::take(BufReader::new(&s), MAX_LINE as u64).read_line(&mut line)?;
        if !line.ends_with('\n') {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "verify closed",
            ));
        }
        Ok(line.trim_end().to_string())
    }

    /// What the service knows of `address` (it starts a probe when it
    /// knows nothing, or too little).
    pub fn query(&self, address: &str) -> io::Result<(Status, String)> {
        let address = wire_address(address);
        if !valid_address(address) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad address"));
        }
        let line = self.ask(&Request::Query(address.to_string()))?;
        parse_answer(&line)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad verify answer"))
    }

    /// Tells the service what a probe found.
    pub fn update(&self, address: &str, status: Status, text: &str) -> io::Result<()> {
        let address = wire_address(address);
        if !valid_address(address) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad address"));
        }
        let request = Request::Update {
            status,
            address: address.to_string(),
            text: text.to_string(),
        };
        match self.ask(&request)?.as_str() {
            "ok" => Ok(()),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad verify answer",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_answers_are_checked() {
        assert_eq!(
            Request::parse("query u@example.com"),
            Some(Request::Query("u@example.com".into()))
        );
        let update = Request::Update {
            status: Status::Undeliverable,
            address: "u@example.com".into(),
            text: "host x said: 550 no\tsuch\nuser".into(),
        };
        let line = update.line();
        assert_eq!(
            line,
            "update undeliverable u@example.com host x said: 550 no such user\n"
        );
        assert_eq!(
            Request::parse(line.trim_end()),
            Some(Request::Update {
                status: Status::Undeliverable,
                address: "u@example.com".into(),
                text: "host x said: 550 no such user".into(),
            })
        );
        for bad in [
            "query ",
            "query a b",
            "query a\tb",
            "update maybe a@b x",
            "frob a@b",
            &format!("query {}", "x".repeat(MAX_ADDRESS + 1)),
        ] {
            assert_eq!(Request::parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            parse_answer("deferred host x said: 450 later"),
            Some((Status::Deferred, "host x said: 450 later".into()))
        );
        assert_eq!(
            parse_answer("unknown"),
            Some((Status::Unknown, String::new()))
        );
        assert_eq!(parse_answer("maybe x"), None);
        assert_eq!(wire_address(""), "<>");
    }
}
