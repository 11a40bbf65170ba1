//! NAME
//!   mailsuite - control the mailsuite mail system
//!
//! SYNOPSIS
//!   mailsuite [-c config_dir] [-v] command
//!
//! DESCRIPTION
//!   Takes what Postfix's `postfix` command takes:
//!
//!   check            validate main.cf and master.cf, create missing queue
//!                    directories and fix their owners and modes; warn
//!                    about each main.cf setting that Postfix has but
//!                    nothing here acts on ("is accepted for compatibility
//!                    but has no effect in mailsuite")
//!   set-permissions  the directory part of check
//!   start            check, then start the master in the background
//!   start-fg         check, then run the master in the foreground
//!                    (systemd Type=simple, containers)
//!   stop             stop in order: workers finish their current client
//!   abort            stop at once
//!   reload           re-read main.cf and master.cf (SIGHUP to the master)
//!   status           say whether the master runs (exit 0) or not (exit 1)
//!   flush            retry the deferred mail now: runs `postqueue -f`
//!                    from command_directory, as Postfix's `postfix flush`
//!   logrotate        as Postfix's `postfix logrotate`: rename maillog_file
//!                    to FILE.SUFFIX (maillog_file_rotate_suffix, a
//!                    strftime format), have the processes reopen it, then
//!                    compress the old one with maillog_file_compressor
//!
//!   Messages go to standard error as `mailsuite: text` and to the maillog.
//!   Exit codes follow sysexits.h; `status` and refusals exit 1 as Postfix's.
//!
//! SECURITY
//!   Run as root to start a system-wide instance (the master stays root and
//!   its workers drop to `mail_owner`), or as any user for a private one.
//!   Reads no network input.
//!
//! CONFIGURATION PARAMETERS
//!   config_directory, queue_directory, data_directory, daemon_directory,
//!   mail_owner, setgid_group, master_stop_timeout, syslog_name,
//!   syslog_facility, maillog_file (which must start with one of
//!   maillog_file_prefixes, as every program checks), maillog_file_rotate_suffix,
//!   maillog_file_compressor.
//!
//! FILES
//!   $config_directory/main.cf, $config_directory/master.cf,
//!   $queue_directory/pid/master.pid, $daemon_directory/master.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use params::master_cf::MasterCf;
use params::{table as p, Config};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use util::sysexits::*;

const USAGE: &str = "usage: mailsuite [-c config_dir] [-v] start|start-fg|stop|abort|reload|status|check|set-permissions|flush|logrotate";

struct Ctl {
    config_dir: PathBuf,
    config: Config,
}

fn say(text: &str) {
    maillog::info!("{text}");
}

/// Postfix programs a master.cf may name that mailsuite does without,
/// and why: their lines may stay (a unix service starts only when asked
/// for, and nothing here asks).
const NOT_NEEDED: [(&str, &str); 9] = [
    (
        "error",
        "qmgr handles the error, retry and discard transports itself",
    ),
    (
        "discard",
        "qmgr handles the error, retry and discard transports itself",
    ),
    (
        "trivial-rewrite",
        "cleanup and qmgr rewrite and resolve addresses themselves",
    ),
    (
        "tlsmgr",
        "each smtpd and smtp process keeps its own TLS state",
    ),
    (
        "scache",
        "each smtp process keeps its own connections (smtp_connection_cache_*)",
    ),
    ("postlogd", "each process writes maillog_file itself"),
    ("dnsblog", "postscreen asks the DNS lists itself"),
    (
        "tlsproxy",
        "postscreen speaks TLS itself (the tlsproxy_tls_* settings)",
    ),
    (
        "flush",
        "postqueue -s is handled by qmgr (no fast flush logs are kept)",
    ),
];

fn fatal(status: i32, text: &str) -> ! {
    maillog::fatal_status(status, format_args!("{text}"))
}

impl Ctl {
    fn pid_path(&self) -> PathBuf {
        self.config.path(&p::QUEUE_DIRECTORY).join("pid/master.pid")
    }

    fn running(&self) -> Option<i32> {
        util::pidfile::running_pid(&self.pid_path())
            .ok()
            .flatten()
            .filter(|p| *p > 0)
    }

    fn master_path(&self) -> PathBuf {
        self.config.path(&p::DAEMON_DIRECTORY).join("master")
    }

    /// `mailsuite check`: the configuration, the programs master.cf names
    /// (Postfix's own master.cf names `error` and `discard`, which qmgr
    /// does without a program), and the queue's owners and modes, which
    /// it fixes.
    fn check(&self) {
        for w in &self.config.warnings {
            maillog::warning!("{w}");
        }
        // Settings Postfix has that nothing here acts on: say so, so that
        // nobody counts on them (params::inert).
        let main_cf = &self.config.main_cf;
        for d in main_cf.definitions() {
            if params::inert::is_inert(&d.name) {
                maillog::warning!(
                    "{}, line {}: {} is accepted for compatibility but has no effect in mailsuite",
                    main_cf.path.display(),
                    d.line,
                    d.name
                );
            }
        }
        if let Err(e) = self.config.myorigin() {
            fatal(EX_CONFIG, &format!("parameter myorigin: {e}"));
        }
        let master_cf = MasterCf::read(&self.config_dir.join("master.cf"))
            .unwrap_or_else(|e| fatal(EX_CONFIG, &e.to_string()));
        let daemon_dir = self.config.path(&p::DAEMON_DIRECTORY);
        if !self.master_path().is_file() {
            fatal(
                EX_CONFIG,
                &format!(
                    "parameter daemon_directory: {} has no master program",
                    daemon_dir.display()
                ),
            );
        }
        for svc in master_cf.services() {
            let path = if svc.command.starts_with('/') {
                PathBuf::from(&svc.command)
            } else {
                daemon_dir.join(&svc.command)
            };
            let why = |table: &[(&'static str, &'static str)]| {
                table
                    .iter()
                    .find(|(c, _)| *c == svc.command)
                    .map(|(_, why)| *why)
            };
            if path.is_file() {
                continue;
            }
            if let Some(why) = why(&NOT_NEEDED) {
                maillog::info!(
                    "{}, line {}: service {}: not needed, {why}",
                    master_cf.path.display(),
                    svc.line,
                    svc.id()
                );
            } else {
                maillog::warning!(
                    "{}, line {}: service {}: command {} not found",
                    master_cf.path.display(),
                    svc.line,
                    svc.id(),
                    path.display()
                );
            }
        }
        self.set_permissions();
    }

    fn set_permissions(&self) {
        match queue::layout::set_permissions(&self.config) {
            Ok(done) => {
                for d in done {
                    say(&d);
                }
            }
            Err(e) => fatal(EX_CANTCREAT, &e),
        }
    }

    fn start(&self, foreground: bool) -> ! {
        if self.running().is_some() {
            fatal(1, "the mailsuite mail system is already running");
        }
        self.check();
        say("starting the mailsuite mail system");
        let mut cmd = Command::new(self.master_path());
        cmd.arg("-c").arg(&self.config_dir);
        if foreground {
            cmd.arg("-d");
            let e = cmd.exec();
            fatal(
                EX_OSERR,
                &format!("exec {}: {e}", self.master_path().display()),
            );
        }
        match cmd.status() {
            Ok(s) if s.success() => std::process::exit(EX_OK),
            Ok(s) => std::process::exit(s.code().unwrap_or(1)),
            Err(e) => fatal(
                EX_OSERR,
                &format!("exec {}: {e}", self.master_path().display()),
            ),
        }
    }

    fn signal_master(&self, sig: Signal) -> i32 {
        let Some(pid) = self.running() else {
            fatal(1, "the mailsuite mail system is not running");
        };
        if let Err(e) = kill(Pid::from_raw(pid), sig) {
            fatal(
                EX_OSERR,
                &format!("cannot signal the master (pid {pid}): {e}"),
            );
        }
        pid
    }

    fn wait_for_exit(&self, pid: i32) {
        let grace = self.config.time(&p::MASTER_STOP_TIMEOUT) + Duration::from_secs(5);
        let start = Instant::now();
        let mut told = Instant::now();
        while self.running().is_some() {
            if start.elapsed() > grace {
                maillog::warning!("stopping the master with signal SIGKILL");
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                std::thread::sleep(Duration::from_millis(200));
                return;
            }
            if told.elapsed() >= Duration::from_secs(1) {
                say("waiting for the mailsuite mail system to terminate");
                told = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&self) {
        let pid = self.running();
        if pid.is_some() {
            say("stopping the mailsuite mail system");
        }
        let pid = self.signal_master(Signal::SIGTERM);
        self.wait_for_exit(pid);
    }

    fn abort(&self) {
        if self.running().is_some() {
            say("aborting the mailsuite mail system");
        }
        let pid = self.signal_master(Signal::SIGINT);
        self.wait_for_exit(pid);
    }

    fn reload(&self) {
        if self.running().is_some() {
            say("refreshing the mailsuite mail system");
        }
        self.signal_master(Signal::SIGHUP);
    }

    /// `flush`: `postqueue -c DIR -f`, as Postfix's postfix-script runs it.
    fn flush(&self) -> ! {
        let postqueue = self.config.path(&p::COMMAND_DIRECTORY).join("postqueue");
        let status = Command::new(&postqueue)
            .arg("-c")
            .arg(&self.config_dir)
            .arg("-f")
            .status()
            .unwrap_or_else(|e| {
                fatal(
                    EX_UNAVAILABLE,
                    &format!("cannot run {}: {e}", postqueue.display()),
                )
            });
        std::process::exit(status.code().unwrap_or(EX_SOFTWARE))
    }

    /// `logrotate`, as Postfix's `postfix logrotate`: `maillog_file` is
    /// renamed with the `maillog_file_rotate_suffix` date suffix, the
    /// master (when running) reopens it on SIGHUP and every other process
    /// at its next line (it looks whether the file moved at most a second
    /// earlier), and after two seconds the rotated file is compressed with
    /// `maillog_file_compressor`.
    fn logrotate(&self) {
        let value = |param: &params::Param| -> String {
            let v = self.config.str(param);
            if v.is_empty() {
                fatal(
                    1,
                    &format!(
                        "empty '{}' parameter value - logfile rotation failed",
                        param.name
                    ),
                );
            }
            v.to_string()
        };
        let file = value(&p::MAILLOG_FILE);
        let compressor = value(&p::MAILLOG_FILE_COMPRESSOR);
        let suffix = value(&p::MAILLOG_FILE_ROTATE_SUFFIX);
        if file.starts_with("/dev/") {
            fatal(1, &format!("not rotating '{file}'"));
        }
        let failed =
            |why: String| -> ! { fatal(1, &format!("logfile '{file}' rotation failed: {why}")) };
        let Some(suffix) = util::time::local_format(util::time::now(), &suffix) else {
            failed(format!(
                "bad {} value: {suffix}",
                p::MAILLOG_FILE_ROTATE_SUFFIX.name
            ))
        };
        let rotated = format!("{file}.{suffix}");
        if let Err(e) = std::fs::rename(&file, &rotated) {
            failed(format!("cannot rename '{file}' to '{rotated}': {e}"));
        }
        if self.running().is_some() {
            self.signal_master(Signal::SIGHUP);
        }
        std::thread::sleep(Duration::from_secs(2));
        match Command::new(&compressor).arg(&rotated).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => failed(format!(
                "{compressor}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => failed(format!("cannot run {compressor}: {e}")),
        }
    }

    fn status(&self) -> ! {
        match self.running() {
            Some(pid) => {
                say(&format!("the mailsuite mail system is running: PID: {pid}"));
                std::process::exit(EX_OK)
            }
            None => {
                say("the mailsuite mail system is not running");
                std::process::exit(1)
            }
        }
    }
}

fn main() {
    let args: Vec<String> = util::getopt::args();
    let (opts, rest) = util::getopt::getopt(&args, "c:Dv").unwrap_or_else(|e| {
        eprintln!("mailsuite: fatal: {e}\n{USAGE}");
        std::process::exit(EX_USAGE)
    });
    let dir_flag = opts
        .iter()
        .find(|o| o.flag == 'c')
        .and_then(|o| o.arg.clone());
    let config_dir = params::config_dir(dir_flag.as_deref());
    let Some(command) = rest.first() else {
        eprintln!("mailsuite: fatal: no command given\n{USAGE}");
        std::process::exit(EX_USAGE)
    };
    if rest.len() > 1 {
        eprintln!(
            "mailsuite: fatal: unexpected argument: {}\n{USAGE}",
            rest[1]
        );
        std::process::exit(EX_USAGE);
    }
    let config = Config::load(&config_dir, &[]).unwrap_or_else(|e| {
        eprintln!("mailsuite: fatal: {e}");
        std::process::exit(EX_CONFIG)
    });
    params::logging::init(&config, "mailsuite", true, None);
    let ctl = Ctl {
        config_dir: absolute(&config_dir),
        config,
    };
    match command.as_str() {
        "check" => ctl.check(),
        "set-permissions" => ctl.set_permissions(),
        "start" => ctl.start(false),
        "start-fg" => ctl.start(true),
        "stop" => ctl.stop(),
        "abort" => ctl.abort(),
        "reload" => ctl.reload(),
        "status" => ctl.status(),
        "logrotate" => ctl.logrotate(),
        "flush" => ctl.flush(),
        other => {
            eprintln!("mailsuite: fatal: unknown command: '{other}'\n{USAGE}");
            std::process::exit(EX_USAGE)
        }
    }
}

/// The master and its workers chdir to the queue; a relative config dir must not break.
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
