//! Starting a worker: fork+exec of `daemon_directory/command` with its
//! listeners at [`ipc::status::LISTEN_FD`] and up and the service's status
//! socket at [`ipc::status::STATUS_FD`], a clean environment (what
//! `import_environment` keeps or sets), and the command line the `server`
//! skeleton parses.

use ipc::status::STATUS_FD;

const _: () = assert!(ipc::status::MAILLOG_FD + 1 == STATUS_FD);
use std::ffi::OsString;
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
    /// The worker's environment from `import_environment` (see
    /// [`imported_environment`]).
    pub environment: &'a [(OsString, OsString)],
}

/// The variable that injects failures in tests (`util::safe_file`, the
/// queue writer): always passed on, as it is no Postfix setting.
const FAIL_POINT: &str = "MAILSUITE_FAIL_POINT";

/// What Postfix's master keeps of its environment for the daemons
/// (clean_env()): each `import_environment` `NAME` the master has, with
/// its value, and each `NAME=value` (or `{ NAME=value }`) as written; the
/// last entry for a name wins. `getenv` is the master's environment.
///
/// `TZ` imported but unset becomes `:/etc/localtime`, the zone glibc uses
/// without TZ: set, glibc reads the zone file once instead of checking
/// /etc/localtime on every log line's timestamp.
pub fn imported_environment(
    items: &[String],
    getenv: impl Fn(&str) -> Option<OsString>,
) -> Vec<(OsString, OsString)> {
    util::command::environment_list(items, |name| {
        getenv(name).or_else(|| (name == "TZ").then(|| ":/etc/localtime".into()))
    })
}

/// Forks and execs; returns the child's pid.
pub fn spawn(req: SpawnRequest<'_>) -> std::io::Result<u32> {
    if req.fds.len() > MAX_INHERITED {
        return Err(std::io::Error::other("too many listeners for one service"));
    }
    let mut cmd = Command::new(req.path);
    cmd.arg0(req.argv0)
        .args(&req.args)
        .env_clear()
        .envs(req.environment.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // What the workers need of the master whatever import_environment
    // says: the configuration directory (`mailsuite -c`, which Postfix's
    // master passes through MAIL_CONFIG too), the service generation, and
    // the test hook.
    cmd.env("MAIL_CONFIG", req.config_dir)
        .env(ipc::status::GENERATION_ENV, req.generation.to_string());
    if let Some(v) = std::env::var_os(FAIL_POINT) {
        cmd.env(FAIL_POINT, v);
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

#[cfg(test)]
mod tests {
    use super::imported_environment;
    use std::ffi::OsString;

    #[test]
    fn import_environment_keeps_names_and_sets_values() {
        let items: Vec<String> = ["MAIL_CONFIG", "TZ", "LANG=C", "ABSENT", "{ X=a b }"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let master =
            |n: &str| (n == "MAIL_CONFIG" || n == "SECRET").then(|| OsString::from("/etc/x"));
        let env = imported_environment(&items, master);
        let pairs: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string_lossy().into(), v.to_string_lossy().into()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("MAIL_CONFIG", "/etc/x"),
                ("TZ", ":/etc/localtime"),
                ("LANG", "C"),
                ("X", "a b"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }
}
