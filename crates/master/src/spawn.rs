//! Starting a worker: fork+exec of `daemon_directory/command` with its
//! listeners at [`ipc::status::LISTEN_FD`] and up and the service's status
//! socket at [`ipc::status::STATUS_FD`], a clean environment, and the
//! command line the `server` skeleton parses.

use ipc::status::STATUS_FD;

const _: () = assert!(ipc::status::MAILLOG_FD + 1 == STATUS_FD);
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// The most descriptors one worker inherits (status + listeners).
pub const MAX_INHERITED: usize = 48;
/// Temporary descriptors in the child start here, above any target.
const SCRATCH_FD: RawFd = 64;

/// What to start.
pub struct SpawnRequest<'a> {
    pub path: &'a Path,
    pub argv0: &'a str,
    pub args: Vec<String>,
    pub config_dir: &'a Path,
    pub generation: u32,
    /// Status socket first, then listeners.
    pub fds: Vec<RawFd>,
    /// The open maillog file, passed at [`ipc::status::MAILLOG_FD`].
    pub maillog: Option<RawFd>,
}

/// Environment names passed through to workers, as Postfix's
/// `import_environment` default does.
const IMPORTED: &[&str] = &["TZ", "MAIL_DEBUG", "RUST_BACKTRACE", "MAILSUITE_FAIL_POINT"];

/// Forks and execs; returns the child's pid.
pub fn spawn(req: SpawnRequest<'_>) -> std::io::Result<u32> {
    if req.fds.len() > MAX_INHERITED {
        return Err(std::io::Error::other("too many listeners for one service"));
    }
    let mut cmd = Command::new(req.path);
    cmd.arg0(req.argv0)
        .args(&req.args)
        .env_clear()
        .env("MAIL_CONFIG", req.config_dir)
        .env(ipc::status::GENERATION_ENV, req.generation.to_string())
        .env("PATH", "/usr/bin:/bin")
        .env("LANG", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for name in IMPORTED {
        if let Some(v) = std::env::var_os(name) {
            cmd.env(name, v);
        }
    }
    // With TZ set, glibc reads the zone file once instead of checking
    // /etc/localtime on every log line's timestamp.
    if std::env::var_os("TZ").is_none() {
        cmd.env("TZ", ":/etc/localtime");
    }
    let mut fds = req.fds;
    if let Some(log) = req.maillog {
        cmd.env(maillog::MAILLOG_FD_ENV, ipc::status::MAILLOG_FD.to_string());
        // The log descriptor goes below the status socket, at MAILLOG_FD.
        fds.insert(0, log);
    }
    let first_target = if req.maillog.is_some() {
        ipc::status::MAILLOG_FD
    } else {
        STATUS_FD
    };
    // SAFETY: the closure runs between fork and exec and only calls fcntl,
    // dup2 and close on numbers prepared before the fork; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            let mut scratch = [0 as RawFd; MAX_INHERITED];
            for (i, &src) in fds.iter().enumerate() {
                let t = libc::fcntl(src, libc::F_DUPFD, SCRATCH_FD);
                if t < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                scratch[i] = t;
            }
            for (i, &t) in scratch[..fds.len()].iter().enumerate() {
                if libc::dup2(t, first_target + i as RawFd) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(t);
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    Ok(child.id())
}
