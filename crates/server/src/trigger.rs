//! Wake-up requests (qmgr, pickup): a client connects to the service's
//! socket (or writes to its FIFO), sends a few bytes, and goes; the service
//! runs its job. The master sends `W` on every `wakeup` tick.

use crate::setup::{self, Context};
use crate::single::{wait_for_client, Wait};
use crate::status::{accept, is_fifo};
use crate::Service;
use ipc::status::Status;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// The most trigger bytes read per request.
const TRIGGER_MAX: usize = 1024;

/// A service woken by trigger requests.
pub trait TriggerService: Service {
    /// Handles one request; `data` is what the client sent (`W` for a wake-up).
    fn wakeup(&mut self, ctx: &Context, data: &[u8]);
}

fn read_trigger(fd: std::os::fd::OwnedFd) -> Vec<u8> {
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

/// Runs `service` under the master and never returns.
pub fn trigger_server<S: TriggerService>(program: &'static str, mut service: S) -> ! {
    let (ctx, inh) = setup::start(program, &mut service);
    let limits = ctx.limits(service.long_running());
    let gen = ctx.options.generation;
    inh.notify(gen, Status::Available);
    let mut served: u64 = 0;
    loop {
        match wait_for_client(&inh, limits.map(|l| l.0)) {
            Wait::MasterGone | Wait::Idle => std::process::exit(0),
            Wait::Ready(i) => {
                let listener = &inh.listeners[i];
                let data = if is_fifo(listener) {
                    let mut buf = [0u8; TRIGGER_MAX];
                    match nix::unistd::read(listener, &mut buf) {
                        Ok(n) => buf[..n].to_vec(),
                        Err(_) => continue,
                    }
                } else {
                    match accept(listener) {
                        Ok(Some(fd)) => read_trigger(fd),
                        Ok(None) => continue,
                        Err(e) => {
                            maillog::warning!("accept trigger: {e}");
                            continue;
                        }
                    }
                };
                inh.notify(gen, Status::Taken);
                service.wakeup(&ctx, &data);
                served += 1;
                if limits.is_some_and(|(_, max_use)| served >= max_use) {
                    std::process::exit(0);
                }
                inh.notify(gen, Status::Available);
            }
        }
    }
}
