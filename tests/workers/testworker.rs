//! NAME
//!   testworker - a small service for the master's end-to-end tests
//!
//! SYNOPSIS
//!   testworker [crash | multi | trigger]   (started by the master)
//!
//! DESCRIPTION
//!   Default (single-client mode): greets each client with
//!   `hello PID`, then answers line by line: `whoami` → `pid PID uid UID`, `quit` → closes, `log N` → writes N long maillog lines,
//!   anything else is echoed. `multi`: the same
//!   protocol, many clients in one process. `trigger`: logs `wakeup: DATA`
//!   for each trigger request, and exits with status 4 after one holding
//!   an `X`. `crash`: exits with status 3 before serving,
//!   to exercise the master's throttle.
//!
//! SECURITY
//!   Runs with whatever the skeleton leaves it (mail_owner when started as root).
//!
//! CONFIGURATION PARAMETERS
//!   Those of the server skeleton (max_idle, max_use, syslog_name, maillog_file).

use server::multi::Stream;
use server::{Client, Context, Flow, MultiService, Service, SingleService, TriggerService};
use std::io::{BufRead, BufReader, Read, Write};

fn whoami() -> String {
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    format!("pid {} uid {uid}", std::process::id())
}

/// Logs `count` long lines as fast as possible, to show lines never interleave.
fn burst(count: &str) -> String {
    let n: usize = count.parse().unwrap_or(0).min(100_000);
    let filler = "x".repeat(400);
    for i in 0..n {
        maillog::info!("burst {i} of {n} {filler} end");
    }
    format!("logged {n}")
}

fn answer(line: &str) -> Option<String> {
    match line.trim() {
        "quit" => None,
        "whoami" => Some(whoami()),
        other => match other.strip_prefix("log ") {
            Some(n) => Some(burst(n)),
            None => Some(other.to_string()),
        },
    }
}

struct Echo;

impl Service for Echo {}

impl SingleService for Echo {
    fn serve(&mut self, _ctx: &Context, client: Client) {
        let Ok(mut out) = client.try_clone() else {
            return;
        };
        if writeln!(out, "hello {}", std::process::id()).is_err() {
            return;
        }
        for line in BufReader::new(client).lines() {
            let Ok(line) = line else { return };
            match answer(&line) {
                Some(reply) => {
                    if writeln!(out, "{reply}").is_err() {
                        return;
                    }
                }
                None => return,
            }
        }
    }
}

#[derive(Default)]
struct Session {
    input: Vec<u8>,
    output: Vec<u8>,
    closing: bool,
}

impl MultiService for Echo {
    type Session = Session;

    fn open(&mut self, _ctx: &Context, _stream: &mut Stream) -> Option<Session> {
        Some(Session {
            output: format!("hello {}\n", std::process::id()).into_bytes(),
            ..Session::default()
        })
    }

    fn ready(&mut self, _ctx: &Context, s: &mut Session, stream: &mut Stream) -> Flow {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return Flow::Close,
                Ok(n) => s.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => return Flow::Close,
            }
        }
        while let Some(pos) = s.input.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = s.input.drain(..=pos).collect();
            match answer(&String::from_utf8_lossy(&line)) {
                Some(reply) => s.output.extend_from_slice(format!("{reply}\n").as_bytes()),
                None => s.closing = true,
            }
        }
        while !s.output.is_empty() {
            match stream.write(&s.output) {
                Ok(n) => {
                    s.output.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Flow::Continue,
                Err(_) => return Flow::Close,
            }
        }
        if s.closing {
            Flow::Close
        } else {
            Flow::Continue
        }
    }
}

impl TriggerService for Echo {
    fn wakeup(&mut self, _ctx: &Context, data: &[u8]) {
        maillog::info!("wakeup: {}", String::from_utf8_lossy(data));
        if data.contains(&b'X') {
            std::process::exit(4);
        }
    }
}

fn main() {
    let mode = std::env::args()
        .skip(1)
        .find(|a| ["crash", "multi", "trigger"].contains(&a.as_str()));
    match mode.as_deref() {
        Some("crash") => std::process::exit(3),
        Some("multi") => server::multi_server("testworker", Echo),
        Some("trigger") => server::trigger_server("testworker", Echo),
        _ => server::single_server("testworker", Echo),
    }
}
