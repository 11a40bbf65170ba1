//! NAME
//!   master - mailsuite's resident supervisor
//!
//! SYNOPSIS
//!   master [-c config_dir] [-d] [-t] [-w] [-v]
//!
//! DESCRIPTION
//!   The master reads main.cf and master.cf, opens every listener that
//!   master.cf names (inet `host:port` or a bare port on each
//!   `inet_interfaces` address; UNIX-domain sockets and FIFOs under
//!   `queue_directory/private` and `public`, `pass` services (smtpd behind
//!   postscreen, handed open client connections) among them), and starts each service's
//!   workers from `daemon_directory` by fork+exec, handing them their
//!   listeners and a status socket at fixed descriptors (see the `ipc`
//!   crate). It starts another worker only when none is idle and a client
//!   is waiting, up to the service's maxproc, logging Postfix's "has reached
//!   its process limit" warning there. A network (inet) service that reaches
//!   its limit is in stress mode for the next 1000 seconds: the workers
//!   started meanwhile get `-o stress=yes`, so that settings written
//!   `${stress?{10}:{300}}` (Postfix's defaults for smtpd_timeout,
//!   smtpd_hard_error_limit, smtpd_junk_command_limit…) take their overload
//!   values. Workers exit after `max_idle` idle
//!   seconds or `max_use` clients, so pools grow under load and shrink
//!   after. A worker that fails before serving anyone throttles its service
//!   for `service_throttle_time`. Services with a wakeup time are sent `W`
//!   at start and then every wakeup seconds.
//!
//!   SIGHUP re-reads both files, keeps the sockets whose address did not
//!   change, opens new ones, closes removed ones, and lets old workers
//!   finish their client. SIGTERM stops in order (workers finish their
//!   client; after `master_stop_timeout` the rest are terminated); SIGINT
//!   or SIGQUIT abort at once. Workers exit when the master goes away.
//!
//! OPTIONS
//!   -c dir  configuration directory (default $MAIL_CONFIG, then /etc/mailsuite)
//!   -d      stay in the foreground (systemd Type=simple, containers)
//!   -t      test mode: exit 0 when no master runs, 1 when one does
//!   -w      (accepted for Postfix compatibility; start always waits until ready)
//!   -v      more logging
//!
//! SECURITY
//!   Started as root, the master stays root, opens the listeners, and starts
//!   workers that drop to `mail_owner` (chrooted where master.cf says) before
//!   reading any network input. Started as an ordinary user, everything runs
//!   as that user. The master reads no network input itself; status messages
//!   from workers are validated and matched against its own child table.
//!
//! CONFIGURATION PARAMETERS
//!   config_directory, queue_directory, daemon_directory, mail_owner,
//!   inet_interfaces, inet_protocols, default_process_limit, max_idle,
//!   max_use (read by workers), service_throttle_time, master_stop_timeout,
//!   syslog_name, syslog_facility, maillog_file, import_environment (what
//!   workers keep of the master's environment, or are given as NAME=value).
//!
//! FILES
//!   $config_directory/main.cf, $config_directory/master.cf,
//!   $queue_directory/pid/master.pid (locked while the master runs).

mod listen;
mod signals;
mod spawn;
mod supervisor;

use params::table as p;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use util::pidfile::{AcquireError, PidFile};
use util::sysexits::*;

/// Reports start-up failure to whoever waits for it, then exits.
struct Starter {
    /// Write end of the pipe the parent reads, when detached.
    pipe: Option<OwnedFd>,
}

impl Starter {
    fn fail(&mut self, status: i32, text: &str) -> ! {
        maillog::log(maillog::Level::Fatal, format_args!("{text}"));
        if let Some(fd) = self.pipe.take() {
            let mut f = std::fs::File::from(fd);
            let _ = f.write_all(format!("fatal: {text}\n").as_bytes());
        }
        std::process::exit(status)
    }

    fn ready(&mut self) {
        if let Some(fd) = self.pipe.take() {
            let mut f = std::fs::File::from(fd);
            let _ = f.write_all(b"\0ready");
        }
    }
}

/// Forks; the parent waits for the child to report ready or failure and
/// exits with the matching status. Returns in the child, in a new session.
fn detach() -> OwnedFd {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .unwrap_or_else(|e| maillog::fatal!("pipe: {e}"));
    // SAFETY: single-threaded at this point; the child continues normally.
    match unsafe { nix::unistd::fork() } {
        Err(e) => maillog::fatal!("fork: {e}"),
        Ok(nix::unistd::ForkResult::Parent { .. }) => {
            drop(w);
            let mut text = String::new();
            let _ = std::fs::File::from(r).read_to_string(&mut text);
            if text == "\0ready" {
                std::process::exit(EX_OK);
            }
            let msg = text.trim_end();
            if msg.is_empty() {
                eprintln!("master: fatal: the master exited during start-up; see the maillog");
            } else {
                eprintln!("master: {msg}");
            }
            std::process::exit(1);
        }
        Ok(nix::unistd::ForkResult::Child) => {
            maillog::after_fork();
            drop(r);
            let _ = nix::unistd::setsid();
            w
        }
    }
}

fn redirect_stdio_to_null() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        use std::os::fd::AsRawFd;
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
}

fn main() {
    let args: Vec<String> = util::getopt::args();
    let (opts, rest) = util::getopt::getopt(&args, "c:dtvwDe:i").unwrap_or_else(|e| {
        eprintln!("master: fatal: {e}");
        eprintln!("usage: master [-c config_dir] [-d] [-t] [-w] [-v]");
        std::process::exit(EX_USAGE)
    });
    if !rest.is_empty() {
        eprintln!("master: fatal: unexpected argument: {}", rest[0]);
        std::process::exit(EX_USAGE);
    }
    let flag = |c: char| opts.iter().any(|o| o.flag == c);
    let dir_flag = opts
        .iter()
        .find(|o| o.flag == 'c')
        .and_then(|o| o.arg.clone());
    let config_dir: PathBuf = params::config_dir(dir_flag.as_deref());

    let (config, master_cf) = supervisor::read_config(&config_dir).unwrap_or_else(|e| {
        eprintln!("master: fatal: {e}");
        std::process::exit(EX_CONFIG)
    });
    let queue_dir = config.path(&p::QUEUE_DIRECTORY);
    let pid_path = queue_dir.join("pid/master.pid");

    if flag('t') {
        match util::pidfile::running_pid(&pid_path) {
            Ok(Some(_)) => std::process::exit(1),
            _ => std::process::exit(0),
        }
    }

    params::logging::init(&config, "master", true, None);
    if let Err(e) = std::env::set_current_dir(&queue_dir) {
        maillog::fatal!("chdir {}: {e}", queue_dir.display());
    }
    let foreground = flag('d');
    let mut starter = Starter {
        pipe: if foreground { None } else { Some(detach()) },
    };
    if !foreground {
        // The parent prints what goes wrong from here on.
        maillog::set_stderr(false);
    }

    let mut pid_file = match PidFile::acquire(&pid_path) {
        Ok(p) => p,
        Err(AcquireError::Locked(_)) => {
            starter.fail(1, "the mailsuite mail system is already running")
        }
        Err(AcquireError::Io(e)) => starter.fail(
            EX_CANTCREAT,
            &format!("open lock file {}: {e}", pid_path.display()),
        ),
    };
    let signals = signals::install()
        .unwrap_or_else(|e| starter.fail(EX_OSERR, &format!("signal set-up: {e}")));
    let mut sup = supervisor::Supervisor::new(config_dir.clone(), config, &master_cf, signals)
        .unwrap_or_else(|e| starter.fail(EX_CONFIG, &e));
    if let Err(e) = pid_file.write_pid(std::process::id()) {
        starter.fail(EX_CANTCREAT, &format!("write {}: {e}", pid_path.display()));
    }
    maillog::info!(
        "daemon started -- version {}, configuration {}",
        env!("CARGO_PKG_VERSION"),
        config_dir.display()
    );
    starter.ready();
    if !foreground {
        redirect_stdio_to_null();
    }
    let _keep_locked = pid_file;
    sup.run()
}
