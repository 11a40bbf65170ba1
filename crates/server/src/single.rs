//! One client at a time, many processes (smtpd, pop3d, imapd, local, smtp).

use crate::client::Client;
use crate::setup::{self, Context};
use crate::status::{accept, Inherited};
use crate::Service;
use ipc::status::Status;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

/// A service that handles one client per call.
pub trait SingleService: Service {
    /// Serves one client to the end. Errors are the service's to log.
    fn serve(&mut self, ctx: &Context, client: Client);
}

/// Why the wait for a client ended.
pub(crate) enum Wait {
    Ready(usize),
    MasterGone,
    Idle,
}

/// Waits until a listener is readable, the master goes away or the idle
/// time runs out.
pub(crate) fn wait_for_client(inh: &Inherited, idle: Option<std::time::Duration>) -> Wait {
    let started = Instant::now();
    loop {
        let mut fds: Vec<PollFd> = inh
            .listeners
            .iter()
            .map(|l| PollFd::new(l.as_fd(), PollFlags::POLLIN))
            .collect();
        if let Some(s) = inh.status_fd() {
            fds.push(PollFd::new(s, PollFlags::POLLIN));
        }
        let timeout = match idle {
            None => PollTimeout::NONE,
            Some(limit) => {
                let left = limit.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Wait::Idle;
                }
                PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
                    .unwrap_or(PollTimeout::MAX)
            }
        };
        match poll(&mut fds, timeout) {
            Ok(0) => return Wait::Idle,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => maillog::fatal!("poll: {e}"),
        }
        let n = inh.listeners.len();
        if fds.len() > n && fds[n].revents().is_some_and(|r| !r.is_empty()) && inh.master_gone() {
            return Wait::MasterGone;
        }
        if let Some(i) = fds[..n]
            .iter()
            .position(|f| f.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
        {
            return Wait::Ready(i);
        }
    }
}

/// The loop both one-request-at-a-time modes share: wait for a listener,
/// let `take` turn it into a request (None when another worker was first),
/// report Taken, `handle` it, report Available; exit when idle for
/// `max_idle`, after `max_use` requests, or when the master is gone.
pub(crate) fn serve_loop<R>(
    ctx: &Context,
    inh: &Inherited,
    long_running: bool,
    mut take: impl FnMut(&OwnedFd) -> Option<R>,
    mut handle: impl FnMut(R),
) -> ! {
    let limits = ctx.limits(long_running);
    let gen = ctx.options.generation;
    inh.notify(gen, Status::Available);
    let mut served: u64 = 0;
    loop {
        match wait_for_client(inh, limits.map(|l| l.0)) {
            Wait::MasterGone | Wait::Idle => std::process::exit(0),
            Wait::Ready(i) => {
                let Some(request) = take(&inh.listeners[i]) else {
                    continue;
                };
                inh.notify(gen, Status::Taken);
                handle(request);
                served += 1;
                if limits.is_some_and(|(_, max_use)| served >= max_use) {
                    std::process::exit(0);
                }
                inh.notify(gen, Status::Available);
            }
        }
    }
}

/// Runs `service` under the master and never returns.
pub fn single_server<S: SingleService>(program: &'static str, mut service: S) -> ! {
    let (ctx, inh) = setup::start(program, &mut service);
    let long_running = service.long_running();
    let take = |listener: &OwnedFd| match accept(listener) {
        Ok(fd) => fd,
        Err(e) => {
            maillog::warning!("accept connection: {e}");
            None
        }
    };
    serve_loop(&ctx, &inh, long_running, take, |fd| {
        match Client::from_fd(fd) {
            Ok(client) => service.serve(&ctx, client),
            Err(e) => maillog::warning!("set up connection: {e}"),
        }
    })
}
