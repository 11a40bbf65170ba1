//! Wake-up requests (qmgr, pickup): a client connects to the service's
//! socket (or writes to its FIFO), sends a few bytes, and goes; the service
//! runs its job. The master sends `W` on every `wakeup` tick.

use crate::setup::{self, Context};
use crate::single::{serve_loop, Requests};
use crate::status::{accept, is_fifo};
use crate::Service;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

/// The most trigger bytes read per request.
const TRIGGER_MAX: usize = 1024;

/// A service woken by trigger requests.
pub trait TriggerService: Service {
    /// Handles one request; `data` is what the client sent (`W` for a
    /// wake-up), empty when the service's own [`TriggerService::timer`]
    /// ran out.
    fn wakeup(&mut self, ctx: &Context, data: &[u8]);

    /// For a long-running service: how long to wait for a trigger before
    /// waking up anyway (qmgr's queue_run_delay); None: only when triggered.
    fn timer(&self) -> Option<Duration> {
        None
    }
}

fn read_trigger(fd: OwnedFd) -> Vec<u8> {
    let _ = util::fd::set_nonblocking(fd.as_raw_fd(), false);
    let mut s = std::os::unix::net::UnixStream::from(fd);
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut buf = vec![0u8; TRIGGER_MAX];
    let mut got = 0;
    while got < buf.len() {
        match s.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    buf.truncate(got);
    buf
}

/// The most trigger connections folded into one wake-up.
const COALESCE_MAX: usize = 1000;

/// Reads the trigger requests waiting on a FIFO or listener: the first,
/// then every other connection already queued, so a burst of wake-ups
/// (cleanup sends one per message) costs the service one run, not one run
/// per message.
fn take_trigger(listener: &OwnedFd) -> Option<Vec<u8>> {
    if is_fifo(listener) {
        let mut buf = [0u8; TRIGGER_MAX];
        return nix::unistd::read(listener, &mut buf)
            .ok()
            .map(|n| buf[..n].to_vec());
    }
    let mut merged: Option<ipc::trigger::Request> = None;
    for _ in 0..COALESCE_MAX {
        match accept(listener) {
            Ok(Some(fd)) => {
                let got = ipc::trigger::parse(&read_trigger(fd));
                match &mut merged {
                    Some(m) => m.merge(got),
                    None => merged = Some(got),
                }
            }
            Ok(None) => break,
            Err(e) => {
                maillog::warning!("accept trigger: {e}");
                break;
            }
        }
    }
    merged.map(|m| m.encode())
}

/// Runs `service` under the master and never returns.
pub fn trigger_server<S: TriggerService>(program: &'static str, mut service: S) -> ! {
    let (ctx, inh) = setup::start(program, &mut service);
    let long_running = service.long_running();
    let timer = service.timer();
    serve_loop(
        &ctx,
        &inh,
        long_running,
        timer,
        Requests::Triggers,
        take_trigger,
        |data| {
            service.wakeup(&ctx, &data.unwrap_or_default());
            service.timer()
        },
    )
}
