//! The master's state and event loop: services, their worker pools, the
//! status messages, wake-up timers, throttling, reload and stop.

use crate::listen::{self, Endpoint};
use crate::signals::{self, SelfPipe};
use crate::spawn::{spawn, SpawnRequest};
use ipc::status::{Status, StatusMsg, STATUS_LEN};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use params::master_cf::{MasterCf, Service, ServiceType};
use params::{table as p, Config};
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often the process-limit warning may repeat for one service.
const LIMIT_WARN_INTERVAL: Duration = Duration::from_secs(1000);

/// How long an inet service stays in stress mode after it last reached its
/// process limit (Postfix's master: 1000 seconds).
const STRESS_TIME: Duration = Duration::from_secs(1000);

/// One service generation: a master.cf entry with its sockets and pool.
struct ServiceRt {
    def: Service,
    endpoint: Endpoint,
    path: PathBuf,
    generation: u32,
    listeners: Vec<listen::Listener>,
    /// Master end and worker end of the status socket pair; None once retired.
    status: Option<(OwnedFd, OwnedFd)>,
    max_proc: u32,
    total: u32,
    avail: u32,
    throttled_until: Option<Instant>,
    throttle_delay: Duration,
    limit_warned: Option<Instant>,
    /// Stress mode (network services only): until then, new workers start
    /// with `-o stress=yes`, so settings such as Postfix's default
    /// `smtpd_timeout = ${stress?{10}:{300}}s` take their overload values.
    stress_until: Option<Instant>,
    next_wakeup: Option<Instant>,
    used: bool,
}

impl ServiceRt {
    fn active(&self) -> bool {
        self.status.is_some()
    }

    fn ext_name(&self) -> String {
        format!("\"{}\" ({})", self.def.name, self.def.kind.as_str())
    }

    fn limit_ok(&self) -> bool {
        self.max_proc == 0 || self.total < self.max_proc
    }

    /// Whether the loop should watch the listeners for a waiting client.
    fn wants_clients(&self, now: Instant) -> bool {
        self.active()
            && self.avail == 0
            && self.limit_ok()
            && self.throttled_until.is_none_or(|t| t <= now)
    }
}

struct Child {
    generation: u32,
    avail: bool,
    uses: u32,
}

pub struct Supervisor {
    config_dir: PathBuf,
    config: Config,
    services: Vec<ServiceRt>,
    children: HashMap<u32, Child>,
    next_generation: u32,
    owner: Option<(u32, u32)>,
    signals: SelfPipe,
}

fn mail_owner_ids(config: &Config) -> Result<Option<(u32, u32)>, String> {
    if !util::privs::is_root() {
        return Ok(None);
    }
    let name = config.str(&p::MAIL_OWNER);
    match util::privs::lookup_user(name) {
        Ok(Some(a)) if a.uid == 0 => Err(format!(
            "parameter mail_owner: user {name} has root privileges"
        )),
        Ok(Some(a)) => Ok(Some((a.uid, a.gid))),
        Ok(None) => Err(format!("parameter mail_owner: unknown user name: {name}")),
        Err(e) => Err(format!("parameter mail_owner: {e}")),
    }
}

/// Reads both configuration files.
pub fn read_config(config_dir: &std::path::Path) -> Result<(Config, MasterCf), String> {
    let config = Config::load(config_dir, &[]).map_err(|e| e.to_string())?;
    let master_cf = MasterCf::read(&config_dir.join("master.cf")).map_err(|e| e.to_string())?;
    Ok((config, master_cf))
}

impl Supervisor {
    /// Opens every service's listeners. Fails on the first that cannot be
    /// opened, before anything has started.
    pub fn new(
        config_dir: PathBuf,
        config: Config,
        master_cf: &MasterCf,
        signals: SelfPipe,
    ) -> Result<Supervisor, String> {
        let owner = mail_owner_ids(&config)?;
        let mut sup = Supervisor {
            config_dir,
            config,
            services: Vec::new(),
            children: HashMap::new(),
            next_generation: 1,
            owner,
            signals,
        };
        for def in master_cf.services() {
            let svc = sup.build_service(def, None)?;
            sup.services.push(svc);
        }
        Ok(sup)
    }

    fn build_service(
        &mut self,
        def: &Service,
        reuse: Option<&mut ServiceRt>,
    ) -> Result<ServiceRt, String> {
        let cfg = &self.config;
        let where_ = format!(
            "{}, line {}: service {}",
            self.config_dir.join("master.cf").display(),
            def.line,
            def.id()
        );
        let endpoint = listen::endpoint(def, cfg).map_err(|e| format!("{where_}: {e}"))?;
        let default_limit = cfg.int(&p::DEFAULT_PROCESS_LIMIT).clamp(1, u32::MAX as i64) as u32;
        let max_proc = def.maxproc.unwrap_or(default_limit);
        let backlog = (max_proc.max(default_limit)).clamp(100, 4096) as i32;
        let listeners = match reuse {
            Some(old) if old.endpoint == endpoint => std::mem::take(&mut old.listeners),
            _ => listen::open(&endpoint, backlog, self.owner)
                .map_err(|e| format!("{where_}: {e}"))?,
        };
        for l in &listeners {
            maillog::info!(
                "service \"{}\" ({}) listening on {}",
                def.name,
                def.kind.as_str(),
                l.shown
            );
        }
        let (m, w) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        )
        .map_err(|e| format!("{where_}: status socket: {e}"))?;
        let path = if def.command.starts_with('/') {
            PathBuf::from(&def.command)
        } else {
            cfg.path(&p::DAEMON_DIRECTORY).join(&def.command)
        };
        let generation = self.next_generation;
        self.next_generation += 1;
        let now = Instant::now();
        Ok(ServiceRt {
            def: def.clone(),
            endpoint,
            path,
            generation,
            listeners,
            status: Some((m, w)),
            max_proc,
            total: 0,
            avail: 0,
            throttled_until: None,
            throttle_delay: cfg.time(&p::SERVICE_THROTTLE_TIME),
            limit_warned: None,
            stress_until: None,
            // The first wake-up goes out at once, so trigger services start with the master.
            next_wakeup: def.wakeup.map(|_| now),
            used: false,
        })
    }

    fn start_worker(&mut self, idx: usize) {
        let svc = &mut self.services[idx];
        let Some((_, worker_end)) = &svc.status else {
            return;
        };
        let mut args = vec![
            "-n".to_string(),
            svc.def.name.clone(),
            "-t".to_string(),
            svc.def.kind.as_str().to_string(),
            "-s".to_string(),
            svc.listeners.len().to_string(),
        ];
        if svc.def.unpriv {
            args.push("-u".into());
        }
        if svc.def.chroot {
            args.push("-c".into());
        }
        args.extend(svc.def.args.iter().cloned());
        if svc.stress_until.is_some_and(|t| Instant::now() < t) {
            args.push("-o".into());
            args.push(format!("{}=yes", p::STRESS.name));
        }
        let mut fds = vec![worker_end.as_raw_fd()];
        fds.extend(svc.listeners.iter().map(|l| l.fd.as_raw_fd()));
        let environment =
            crate::spawn::imported_environment(&self.config.list(&p::IMPORT_ENVIRONMENT), |name| {
                std::env::var_os(name)
            });
        let req = SpawnRequest {
            environment: &environment,
            path: &svc.path,
            argv0: &svc.def.command,
            args,
            config_dir: &self.config_dir,
            generation: svc.generation,
            fds,
            maillog: maillog::file_fd(),
        };
        match spawn(req) {
            Ok(pid) => {
                svc.total += 1;
                svc.avail += 1;
                svc.used = true;
                self.children.insert(
                    pid,
                    Child {
                        generation: svc.generation,
                        avail: true,
                        uses: 0,
                    },
                );
            }
            Err(e) => {
                maillog::warning!("fork/exec {}: {e}", svc.path.display());
                self.throttle(idx);
            }
        }
    }

    fn throttle(&mut self, idx: usize) {
        let svc = &mut self.services[idx];
        if svc.throttled_until.is_none_or(|t| t <= Instant::now()) {
            maillog::warning!("{}: bad command startup -- throttling", svc.path.display());
            svc.throttled_until = Some(Instant::now() + svc.throttle_delay);
        }
    }

    fn read_status(&mut self, idx: usize) {
        let mut buf = [0u8; 64];
        loop {
            let Some((master_end, _)) = &self.services[idx].status else {
                return;
            };
            let n = match nix::sys::socket::recv(
                master_end.as_raw_fd(),
                &mut buf,
                MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let msg = match StatusMsg::decode(&buf[..n.min(STATUS_LEN + 1)]) {
                Ok(m) => m,
                Err(e) => {
                    maillog::warning!(
                        "service {}: bad status message: {e}",
                        self.services[idx].ext_name()
                    );
                    continue;
                }
            };
            let generation = self.services[idx].generation;
            let Some(child) = self
                .children
                .get_mut(&msg.pid)
                .filter(|c| c.generation == generation)
            else {
                continue;
            };
            let svc = &mut self.services[idx];
            match msg.status {
                Status::Taken if child.avail => {
                    child.avail = false;
                    child.uses += 1;
                    svc.avail -= 1;
                    if svc.avail == 0 && !svc.limit_ok() && svc.max_proc > 1 {
                        let now = Instant::now();
                        if svc.def.kind == ServiceType::Inet {
                            svc.stress_until = Some(now + STRESS_TIME);
                        }
                        if svc
                            .limit_warned
                            .is_none_or(|t| now.duration_since(t) >= LIMIT_WARN_INTERVAL)
                        {
                            svc.limit_warned = Some(now);
                            maillog::warning!(
                                "service {} has reached its process limit \"{}\": new clients may be delayed",
                                svc.ext_name(),
                                svc.max_proc
                            );
                            maillog::warning!(
                                "to avoid this condition, increase the process count in master.cf or reduce the service time per client"
                            );
                            if svc.def.kind == ServiceType::Inet {
                                maillog::warning!(
                                    "see http://www.postfix.org/STRESS_README.html for examples of stress-adapting configuration settings"
                                );
                            }
                        }
                    }
                }
                Status::Available if !child.avail => {
                    child.avail = true;
                    svc.avail += 1;
                }
                _ => {}
            }
        }
    }

    fn reap(&mut self) {
        loop {
            let status = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(s) => s,
            };
            let (pid, failure) = match status {
                WaitStatus::Exited(pid, 0) => (pid, None),
                WaitStatus::Exited(pid, code) => (pid, Some(format!("exit status {code}"))),
                WaitStatus::Signaled(pid, sig, _) => {
                    (pid, Some(format!("killed by signal {}", sig as i32)))
                }
                _ => continue,
            };
            let Some(child) = self.children.remove(&(pid.as_raw() as u32)) else {
                continue;
            };
            let Some(idx) = self
                .services
                .iter()
                .position(|s| s.generation == child.generation)
            else {
                continue;
            };
            let svc = &mut self.services[idx];
            svc.total = svc.total.saturating_sub(1);
            if child.avail {
                svc.avail = svc.avail.saturating_sub(1);
            }
            if let Some(why) = failure {
                maillog::warning!("process {} pid {} {why}", svc.path.display(), pid);
                if child.uses == 0 && svc.active() {
                    self.throttle(idx);
                }
            }
        }
    }

    /// Drops retired services whose last worker is gone.
    fn collect_retired(&mut self) {
        self.services.retain(|s| s.active() || s.total > 0);
    }

    /// Takes a service out of use. Its listeners are shut down, not just
    /// closed: busy old workers still hold copies, and a removed service
    /// must refuse new clients at once. Old workers see their status socket
    /// close and exit after their current client.
    fn retire(svc: &mut ServiceRt) {
        svc.status = None;
        for l in svc.listeners.drain(..) {
            let _ = nix::sys::socket::shutdown(l.fd.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        }
    }

    /// Re-reads main.cf and master.cf: keeps the sockets of services whose
    /// endpoint did not change, opens new ones, closes removed ones; every
    /// service gets a new generation so workers pick up the new settings
    /// after their current client (old workers see their status socket close).
    pub fn reload(&mut self) {
        let (config, master_cf) = match read_config(&self.config_dir) {
            Ok(c) => c,
            Err(e) => {
                maillog::error!("reload failed, keeping the running configuration: {e}");
                return;
            }
        };
        self.config = config;
        params::logging::init(&self.config, "master", false, None);
        maillog::reopen();
        maillog::info!(
            "reload -- version {}, configuration {}",
            env!("CARGO_PKG_VERSION"),
            self.config_dir.display()
        );
        match mail_owner_ids(&self.config) {
            Ok(o) => self.owner = o,
            Err(e) => maillog::error!("{e}"),
        }
        let mut old: Vec<ServiceRt> = self.services.drain(..).collect();
        let mut fresh = Vec::new();
        for def in master_cf.services() {
            let prev = old
                .iter()
                .position(|s| s.active() && s.def.name == def.name && s.def.kind == def.kind);
            match self.build_service(def, prev.map(|i| &mut old[i])) {
                Ok(svc) => {
                    if let Some(i) = prev {
                        Self::retire(&mut old[i]);
                    }
                    fresh.push(svc);
                }
                // A service that cannot be rebuilt keeps running as it was.
                Err(e) => maillog::error!("{e}"),
            }
        }
        for svc in &mut old {
            let kept = master_cf.find(&svc.def.name, svc.def.kind).is_some();
            if svc.active() && !kept {
                Self::retire(svc);
            }
        }
        old.retain(|s| s.active() || s.total > 0);
        self.services = fresh;
        self.services.extend(old);
    }

    fn poll_timeout(&self, now: Instant) -> PollTimeout {
        let mut next: Option<Instant> = None;
        for s in self.services.iter().filter(|s| s.active()) {
            for t in [s.next_wakeup, s.throttled_until].into_iter().flatten() {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        match next {
            None => PollTimeout::NONE,
            Some(t) => {
                let ms = t.saturating_duration_since(now).as_millis().min(60_000) as i32;
                PollTimeout::try_from(ms.max(if t > now { 1 } else { 0 }))
                    .unwrap_or(PollTimeout::MAX)
            }
        }
    }

    fn run_timers(&mut self, now: Instant) {
        for i in 0..self.services.len() {
            let svc = &mut self.services[i];
            if !svc.active() {
                continue;
            }
            if svc.throttled_until.is_some_and(|t| t <= now) {
                svc.throttled_until = None;
            }
            if let (Some(due), Some(w)) = (svc.next_wakeup, svc.def.wakeup) {
                if due <= now {
                    svc.next_wakeup = Some(now + Duration::from_secs(w.seconds as u64));
                    let throttled = svc.throttled_until.is_some();
                    if !throttled && (!w.on_use || svc.used) {
                        if let Err(e) = listen::wake(&svc.endpoint) {
                            maillog::warning!("wakeup service {}: {e}", svc.ext_name());
                        }
                    }
                }
            }
        }
    }

    /// Runs until SIGTERM (orderly stop) or SIGINT/SIGQUIT (abort).
    pub fn run(&mut self) -> ! {
        loop {
            let now = Instant::now();
            self.run_timers(now);
            // (kind, index): 0 = signal pipe, 1 = status socket, 2 = listener.
            let mut which: Vec<(u8, usize)> = vec![(0, 0)];
            let mut fds: Vec<PollFd> =
                vec![PollFd::new(self.signals.read.as_fd(), PollFlags::POLLIN)];
            for (i, s) in self.services.iter().enumerate() {
                if let Some((m, _)) = &s.status {
                    fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
                    which.push((1, i));
                }
                if s.wants_clients(now) {
                    for l in &s.listeners {
                        fds.push(PollFd::new(l.fd.as_fd(), PollFlags::POLLIN));
                        which.push((2, i));
                    }
                }
            }
            let timeout = self.poll_timeout(now);
            let ready: Vec<(u8, usize)> = match poll(&mut fds, timeout) {
                Ok(_) => fds
                    .iter()
                    .zip(which.iter())
                    .filter(|(f, _)| f.revents().is_some_and(|r| !r.is_empty()))
                    .map(|(_, w)| *w)
                    .collect(),
                Err(nix::errno::Errno::EINTR) => Vec::new(),
                Err(e) => maillog::fatal!("poll: {e}"),
            };
            drop(fds);
            for (kind, i) in ready {
                match kind {
                    0 => self.signals.drain(),
                    1 => self.read_status(i),
                    _ => {
                        let now = Instant::now();
                        if self.services[i].wants_clients(now) {
                            self.start_worker(i);
                        }
                    }
                }
            }
            if signals::CHILD.swap(false, Ordering::SeqCst) {
                self.reap();
            }
            if signals::ABORT.swap(false, Ordering::SeqCst) {
                self.abort();
            }
            if signals::TERMINATE.swap(false, Ordering::SeqCst) {
                self.stop();
            }
            if signals::HANGUP.swap(false, Ordering::SeqCst) {
                self.reload();
            }
            self.collect_retired();
        }
    }

    fn signal_all(&self, sig: Signal) {
        for pid in self.children.keys() {
            let _ = kill(Pid::from_raw(*pid as i32), sig);
        }
    }

    fn wait_children(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.children.is_empty() && Instant::now() < deadline {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .as_millis()
                .min(100) as i32;
            let mut fds = [PollFd::new(self.signals.read.as_fd(), PollFlags::POLLIN)];
            let _ = poll(
                &mut fds,
                PollTimeout::try_from(left.max(1)).unwrap_or(PollTimeout::MAX),
            );
            self.signals.drain();
            signals::CHILD.store(false, Ordering::SeqCst);
            self.reap();
        }
    }

    /// Orderly stop: close every listener and status socket (idle workers
    /// exit at once, busy ones after their client), wait up to
    /// `master_stop_timeout`, then terminate what is left.
    fn stop(&mut self) -> ! {
        maillog::info!("terminating on signal 15");
        for s in &mut self.services {
            Self::retire(s);
        }
        self.wait_children(self.config.time(&p::MASTER_STOP_TIMEOUT));
        if !self.children.is_empty() {
            self.signal_all(Signal::SIGTERM);
            self.wait_children(Duration::from_secs(1));
        }
        if !self.children.is_empty() {
            self.signal_all(Signal::SIGKILL);
            self.wait_children(Duration::from_secs(1));
        }
        std::process::exit(0)
    }

    /// Abort: kill every worker at once.
    fn abort(&mut self) -> ! {
        maillog::info!("aborting on signal");
        self.signal_all(Signal::SIGKILL);
        self.wait_children(Duration::from_secs(2));
        std::process::exit(0)
    }
}
