//! One client at a time, many processes (smtpd, pop3d, imapd, local, smtp).

use crate::setup::{self, Context};
use crate::status::{accept, Inherited};
use crate::Client;
use crate::Service;
use ipc::status::Status;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

/// A service that handles one client per call.
pub trait SingleService: Service {
    /// Serves one client to the end. Errors are the service's to log.
    fn serve(&mut self, ctx: &Context, client: Client);

    /// Serves a client that a "pass" service was handed (smtpd behind
    /// postscreen), with the endpoints the passing process named: the
    /// client it screened, which a proxy in front of it may have named.
    /// By default, the connection's own addresses stand.
    fn serve_passed(&mut self, ctx: &Context, client: Client, endpoints: haproxy::Proxied) {
        let _ = endpoints;
        self.serve(ctx, client)
    }
}

/// Why the wait for a client ended.
pub(crate) enum Wait {
    Ready(usize),
    MasterGone,
    Idle,
}

/// Waits for clients with epoll. Listeners are registered with
/// EPOLLEXCLUSIVE, so a new connection wakes one idle worker of the pool
/// rather than all of them (the thundering herd Postfix avoids with an
/// accept lock).
pub(crate) struct Waiter {
    epoll: Epoll,
    listeners: usize,
}

/// The token of the status socket in the epoll set.
const STATUS_TOKEN: u64 = u64::MAX;

impl Waiter {
    pub(crate) fn new(inh: &Inherited) -> Waiter {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
            .unwrap_or_else(|e| maillog::fatal!("epoll: {e}"));
        for (i, l) in inh.listeners.iter().enumerate() {
            let ev = EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLEXCLUSIVE, i as u64);
            if let Err(e) = epoll.add(l.as_fd(), ev) {
                maillog::fatal!("epoll add listener: {e}");
            }
        }
        if let Some(s) = inh.status_fd() {
            if let Err(e) = epoll.add(s, EpollEvent::new(EpollFlags::EPOLLIN, STATUS_TOKEN)) {
                maillog::fatal!("epoll add status socket: {e}");
            }
        }
        Waiter {
            epoll,
            listeners: inh.listeners.len(),
        }
    }

    /// Whether a listener is readable or the master went away, now
    /// ([`Wait::Idle`]: neither).
    pub(crate) fn wait_now(&self, inh: &Inherited) -> Wait {
        self.wait_until(inh, Some(std::time::Duration::ZERO))
    }

    /// Waits until a listener is readable, the master goes away or the idle
    /// time runs out.
    pub(crate) fn wait(&self, inh: &Inherited, idle: Option<std::time::Duration>) -> Wait {
        match idle {
            Some(d) if d.is_zero() => Wait::Idle,
            _ => self.wait_until(inh, idle),
        }
    }

    fn wait_until(&self, inh: &Inherited, idle: Option<std::time::Duration>) -> Wait {
        let started = Instant::now();
        let mut events = [EpollEvent::empty(); 8];
        loop {
            let timeout = match idle {
                Some(d) if d.is_zero() => EpollTimeout::ZERO,
                None => EpollTimeout::NONE,
                Some(limit) => {
                    let left = limit.saturating_sub(started.elapsed());
                    if left.is_zero() {
                        return Wait::Idle;
                    }
                    EpollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
                        .unwrap_or(EpollTimeout::MAX)
                }
            };
            let n = match self.epoll.wait(&mut events, timeout) {
                Ok(0) => return Wait::Idle,
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => maillog::fatal!("epoll_wait: {e}"),
            };
            let ready = &events[..n];
            if ready.iter().any(|e| e.data() == STATUS_TOKEN) && inh.master_gone() {
                return Wait::MasterGone;
            }
            if let Some(e) = ready.iter().find(|e| (e.data() as usize) < self.listeners) {
                return Wait::Ready(e.data() as usize);
            }
            if idle.is_some_and(|d| d.is_zero()) {
                return Wait::Idle;
            }
        }
    }
}

/// How [`serve_loop`] serves its requests.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Requests {
    /// Clients, one at a time: reported Taken and Available to the master,
    /// which starts more workers when none is available. A client already
    /// waiting when one is done is served at once, still Taken: no pair of
    /// messages (and wake-ups of the master) per client under load.
    Clients,
    /// Wake-up requests, which one process takes all of (coalesced):
    /// reported around the first only, so that the master knows the
    /// process worked (a later crash is not throttled as a failed start);
    /// after that it stays available, as it is.
    Triggers,
}

/// The loop both one-request-at-a-time modes share: wait for a listener,
/// let `take` turn it into a request (None when another worker was first),
/// report Taken, `handle` it, report Available (see [`Requests`]); exit
/// when idle for `max_idle`, after `max_use` requests, or when the master
/// is gone. A long-running service may ask for a timer: `handle` returns
/// how long to wait for the next request (`timer` before the first), and
/// is called with None when that time passes without one.
pub(crate) fn serve_loop<R>(
    ctx: &Context,
    inh: &Inherited,
    long_running: bool,
    mut timer: Option<std::time::Duration>,
    requests: Requests,
    mut take: impl FnMut(&OwnedFd) -> Option<R>,
    mut handle: impl FnMut(Option<R>) -> Option<std::time::Duration>,
) -> ! {
    let limits = ctx.limits(long_running);
    let gen = ctx.options.generation;
    let waiter = Waiter::new(inh);
    inh.notify(gen, Status::Available);
    let mut served: u64 = 0;
    let report = |served: u64, status| {
        if requests == Requests::Clients || served == 0 {
            inh.notify(gen, status);
        }
    };
    let back_to_back = requests == Requests::Clients;
    loop {
        let wait = match limits {
            Some((idle, _)) => Some(idle),
            None => timer,
        };
        match waiter.wait(inh, wait) {
            Wait::MasterGone => std::process::exit(0),
            Wait::Idle if limits.is_none() && timer.is_some() => {
                report(served, Status::Taken);
                timer = handle(None);
                report(served, Status::Available);
            }
            Wait::Idle => std::process::exit(0),
            Wait::Ready(i) => {
                let Some(mut request) = take(&inh.listeners[i]) else {
                    continue;
                };
                report(served, Status::Taken);
                let first = served;
                loop {
                    timer = handle(Some(request));
                    served += 1;
                    if limits.is_some_and(|(_, max_use)| served >= max_use) {
                        std::process::exit(0);
                    }
                    // Under load the next client already waits: take it
                    // without telling the master "available" and "taken"
                    // again (two messages and two wake-ups of the master
                    // per client, for nothing).
                    let waiting = match back_to_back.then(|| waiter.wait_now(inh)) {
                        Some(Wait::MasterGone) => std::process::exit(0),
                        Some(Wait::Ready(i)) => take(&inh.listeners[i]),
                        _ => None,
                    };
                    match waiting {
                        Some(next) => request = next,
                        None => break,
                    }
                }
                report(first, Status::Available);
            }
        }
    }
}

/// Runs `service` under the master and never returns.
pub fn single_server<S: SingleService>(program: &'static str, mut service: S) -> ! {
    let (ctx, inh) = setup::start(program, &mut service);
    let long_running = service.long_running();
    // A "pass" service (smtpd behind postscreen) is handed its clients'
    // connections over the connections it accepts.
    let passed = ctx.options.transport == "pass";
    // The endpoints a passing process named come as a PROXY version 1
    // header; a connection handed without one is served as it is.
    let take = |listener: &OwnedFd| match accept(listener) {
        Ok(Some(fd)) if passed => {
            let via = std::os::unix::net::UnixStream::from(fd);
            let _ = via.set_read_timeout(Some(std::time::Duration::from_secs(10)));
            match util::socket::recv_fd(&via) {
                Ok((client, note)) if note.is_empty() => Some((client, None)),
                Ok((client, note)) => match haproxy::parse(&note) {
                    Ok(Some((endpoints, n))) if n == note.len() => Some((client, Some(endpoints))),
                    _ => {
                        maillog::warning!(
                            "receive passed connection: bad endpoints \"{}\"",
                            note.escape_ascii()
                        );
                        None
                    }
                },
                Err(e) => {
                    maillog::warning!("receive passed connection: {e}");
                    None
                }
            }
        }
        Ok(fd) => fd.map(|fd| (fd, None)),
        Err(e) => {
            maillog::warning!("accept connection: {e}");
            None
        }
    };
    serve_loop(
        &ctx,
        &inh,
        long_running,
        None,
        Requests::Clients,
        take,
        |taken| {
            match taken.map(|(fd, endpoints)| (Client::from_fd(fd), endpoints)) {
                Some((Ok(client), None)) => service.serve(&ctx, client),
                Some((Ok(client), Some(endpoints))) => {
                    service.serve_passed(&ctx, client, endpoints)
                }
                Some((Err(e), _)) => maillog::warning!("set up connection: {e}"),
                None => {}
            }
            None
        },
    )
}

/// A delivery agent's client (qmgr on `private/<transport>`: local,
/// virtual, smtp, lmtp, pipe): one request, answered with what `handle`
/// returns; qmgr may wait up to an hour for it.
pub fn serve_delivery(
    mut client: crate::Client,
    handle: impl FnOnce(&ipc::delivery::Request) -> ipc::delivery::Response,
) {
    let _ = client.set_timeout(Some(std::time::Duration::from_secs(3600)));
    if let Err(e) = ipc::delivery::serve_one(&mut client, handle) {
        maillog::warning!("{e}");
    }
}
