//! Logging in Postfix's format, so pflogsumm and the log exporters people
//! already run read mailsuite's lines:
//!
//! ```text
//! Nov 21 10:00:00 mail.example.com mailsuite/smtpd[1234]: warning: text
//! ```
//!
//! Lines go to syslog (facility from `syslog_facility`), or, when
//! `maillog_file` is set, are appended straight to that file with one
//! `write(2)` on an `O_APPEND` descriptor each, so lines from many processes
//! never interleave mid-line. The file is reopened by [`reopen`] (the master
//! calls it on reload) and whenever it was renamed away (logrotate), so
//! `tail -F` keeps working. Commands also print `prog: warning: text` on
//! standard error, as Postfix's commands do.
//!
//! Call [`init`] once the configuration is known; before that, lines go to
//! standard error only.

use std::ffi::CString;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Severity, with Postfix's prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Info,
    Warning,
    Error,
    Fatal,
    Panic,
}

impl Level {
    fn prefix(self) -> &'static str {
        match self {
            Level::Info => "",
            Level::Warning => "warning: ",
            Level::Error => "error: ",
            Level::Fatal => "fatal: ",
            Level::Panic => "panic: ",
        }
    }

    fn syslog_priority(self) -> libc::c_int {
        match self {
            Level::Info => libc::LOG_INFO,
            Level::Warning => libc::LOG_WARNING,
            Level::Error => libc::LOG_ERR,
            Level::Fatal | Level::Panic => libc::LOG_CRIT,
        }
    }
}

/// Where and as whom to log.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `syslog_name` (e.g. "mailsuite"; "mailsuite/submission" from -o).
    pub syslog_name: String,
    /// The program's name (e.g. "smtpd").
    pub program: String,
    /// `syslog_facility` (mail, local0 … local7, daemon, user).
    pub facility: String,
    /// `maillog_file`; None or empty: syslog.
    pub maillog_file: Option<PathBuf>,
    /// The host name in each file line (`myhostname`).
    pub hostname: String,
    /// Also print `program: text` on standard error.
    pub stderr: bool,
    /// A descriptor for `maillog_file` opened by the master and inherited:
    /// a worker that dropped privileges may not be able to open the file.
    pub inherited_fd: Option<std::os::fd::RawFd>,
    /// `info_log_address_format = internal`: addresses are logged as
    /// kept (`john doe@x`), not quoted (`"john doe"@x`).
    pub internal_addresses: bool,
}

/// Whether [`address`] leaves addresses in internal form.
static INTERNAL_ADDRESSES: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// An address (internal form) as log lines show it: in external form,
/// the local part quoted where needed (`"john doe"@example.com`), as
/// Postfix's `info_log_address_format = external` has it; as it is with
/// `internal`.
pub fn address(address: &str) -> std::borrow::Cow<'_, str> {
    if INTERNAL_ADDRESSES.load(std::sync::atomic::Ordering::Relaxed) || address.is_empty() {
        return std::borrow::Cow::Borrowed(address);
    }
    addr::external(address)
}

/// Environment variable that tells a worker which descriptor holds the maillog.
pub const MAILLOG_FD_ENV: &str = "MAILSUITE_MAILLOG_FD";

enum Sink {
    None,
    Syslog,
    File {
        path: PathBuf,
        file: Option<File>,
        ino: (u64, u64),
        checked: Instant,
    },
}

struct Logger {
    settings: Settings,
    ident: String,
    sink: Sink,
    pid: u32,
}

static LOGGER: Mutex<Option<Logger>> = Mutex::new(None);

/// Syslog facility by name, as `syslog_facility` accepts it.
pub fn facility_code(name: &str) -> Option<libc::c_int> {
    Some(match name {
        "mail" => libc::LOG_MAIL,
        "daemon" => libc::LOG_DAEMON,
        "user" => libc::LOG_USER,
        "auth" => libc::LOG_AUTH,
        "local0" => libc::LOG_LOCAL0,
        "local1" => libc::LOG_LOCAL1,
        "local2" => libc::LOG_LOCAL2,
        "local3" => libc::LOG_LOCAL3,
        "local4" => libc::LOG_LOCAL4,
        "local5" => libc::LOG_LOCAL5,
        "local6" => libc::LOG_LOCAL6,
        "local7" => libc::LOG_LOCAL7,
        _ => return None,
    })
}

fn program_name() -> String {
    util::getopt::program_name("mailsuite")
}

fn open_file(path: &PathBuf) -> Option<(File, (u64, u64))> {
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)
        .ok()?;
    let m = f.metadata().ok()?;
    Some((f, (m.dev(), m.ino())))
}

fn adopt_fd(fd: std::os::fd::RawFd) -> Option<(File, (u64, u64))> {
    use std::os::fd::FromRawFd;
    // SAFETY: F_GETFD only checks that the number is an open descriptor.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return None;
    }
    // SAFETY: the master handed us this descriptor for the maillog; nothing else owns it.
    let f = unsafe { File::from_raw_fd(fd) };
    // SAFETY: as above.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    let m = f.metadata().ok()?;
    Some((f, (m.dev(), m.ino())))
}

/// The descriptor of the open maillog file, for the master to pass on.
pub fn file_fd() -> Option<std::os::fd::RawFd> {
    use std::os::fd::AsRawFd;
    let guard = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    match guard.as_ref() {
        Some(Logger {
            sink: Sink::File { file: Some(f), .. },
            ..
        }) => Some(f.as_raw_fd()),
        _ => None,
    }
}

/// Sets the logging destination. May be called again (e.g. after reload).
/// Returns an error text when the file cannot be opened; lines then go to
/// standard error.
pub fn init(settings: Settings) -> Result<(), String> {
    INTERNAL_ADDRESSES.store(
        settings.internal_addresses,
        std::sync::atomic::Ordering::Relaxed,
    );
    let ident = format!("{}/{}", settings.syslog_name, settings.program);
    let mut problem = None;
    let sink = match settings
        .maillog_file
        .as_ref()
        .filter(|p| !p.as_os_str().is_empty())
    {
        Some(path) => match settings
            .inherited_fd
            .and_then(adopt_fd)
            .or_else(|| open_file(path))
        {
            Some((file, ino)) => Sink::File {
                path: path.clone(),
                file: Some(file),
                ino,
                checked: Instant::now(),
            },
            None => {
                problem = Some(format!(
                    "cannot open maillog_file {}: {}",
                    path.display(),
                    std::io::Error::last_os_error()
                ));
                Sink::None
            }
        },
        None => {
            let facility = facility_code(&settings.facility).unwrap_or(libc::LOG_MAIL);
            if let Ok(c) = CString::new(ident.clone()) {
                // openlog keeps the pointer: the string must live for the process.
                let leaked: &'static CString = Box::leak(Box::new(c));
                // SAFETY: the ident outlives every later syslog call.
                unsafe {
                    libc::openlog(leaked.as_ptr(), libc::LOG_PID | libc::LOG_NDELAY, facility)
                };
            }
            Sink::Syslog
        }
    };
    let mut guard = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    *guard = Some(Logger {
        settings,
        ident,
        sink,
        pid: std::process::id(),
    });
    match problem {
        Some(p) => Err(p),
        None => Ok(()),
    }
}

/// Records the new process ID after a fork (lines carry the pid, cached).
pub fn after_fork() {
    let mut guard = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(l) = guard.as_mut() {
        l.pid = std::process::id();
    }
}

/// Changes only whether lines are copied to standard error.
pub fn set_stderr(on: bool) {
    let mut guard = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(l) = guard.as_mut() {
        l.settings.stderr = on;
    }
}

/// Reopens the log file (after logrotate moved it).
pub fn reopen() {
    let mut guard = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(Logger {
        sink:
            Sink::File {
                path,
                file,
                ino,
                checked,
            },
        ..
    }) = guard.as_mut()
    {
        if let Some((f, i)) = open_file(path) {
            *file = Some(f);
            *ino = i;
        }
        *checked = Instant::now();
    }
}

/// `Nov 21 10:00:00` in local time, as Postfix writes it.
fn timestamp() -> String {
    util::time::syslog_stamp(util::time::now())
}

/// Replaces control characters so one call is always one line.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

impl Logger {
    fn file_line(&self, level: Level, text: &str) -> String {
        format!(
            "{} {} {}[{}]: {}{}\n",
            timestamp(),
            self.settings.hostname,
            self.ident,
            self.pid,
            level.prefix(),
            text
        )
    }

    fn emit(&mut self, level: Level, text: &str) {
        let mut to_stderr = self.settings.stderr;
        let line = self.file_line(level, text);
        match &mut self.sink {
            Sink::None => to_stderr = true,
            Sink::Syslog => {
                if let Ok(c) = CString::new(format!("{}{}", level.prefix(), text)) {
                    // SAFETY: "%s" with one valid C string argument.
                    unsafe { libc::syslog(level.syslog_priority(), c"%s".as_ptr(), c.as_ptr()) };
                }
            }
            Sink::File {
                path,
                file,
                ino,
                checked,
            } => {
                if checked.elapsed() >= Duration::from_secs(1) {
                    *checked = Instant::now();
                    let moved = std::fs::metadata(&*path)
                        .map(|m| (m.dev(), m.ino()) != *ino)
                        .unwrap_or(true);
                    if moved {
                        if let Some((f, i)) = open_file(path) {
                            *file = Some(f);
                            *ino = i;
                        }
                    }
                }
                match file {
                    // One write per line: O_APPEND makes it land whole at the end.
                    Some(f) => {
                        if f.write_all(line.as_bytes()).is_err() {
                            to_stderr = true;
                        }
                    }
                    None => to_stderr = true,
                }
            }
        }
        if to_stderr {
            let _ = std::io::stderr().write_all(
                format!("{}: {}{}\n", self.settings.program, level.prefix(), text).as_bytes(),
            );
        }
    }
}

/// Logs one line at `level`.
pub fn log(level: Level, args: fmt::Arguments<'_>) {
    let text = printable(&args.to_string());
    let mut guard = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    match guard.as_mut() {
        Some(l) => l.emit(level, &text),
        None => {
            let _ = std::io::stderr()
                .write_all(format!("{}: {}{}\n", program_name(), level.prefix(), text).as_bytes());
        }
    }
}

/// Logs a `fatal:` line and exits with status 1, as Postfix's msg_fatal.
pub fn fatal_exit(args: fmt::Arguments<'_>) -> ! {
    log(Level::Fatal, args);
    std::process::exit(1)
}

/// Logs a `fatal:` line and exits with `status`.
pub fn fatal_status(status: i32, args: fmt::Arguments<'_>) -> ! {
    log(Level::Fatal, args);
    std::process::exit(status)
}

#[macro_export]
macro_rules! info {
    ($($t:tt)*) => { $crate::log($crate::Level::Info, format_args!($($t)*)) };
}

#[macro_export]
macro_rules! warning {
    ($($t:tt)*) => { $crate::log($crate::Level::Warning, format_args!($($t)*)) };
}

#[macro_export]
macro_rules! error {
    ($($t:tt)*) => { $crate::log($crate::Level::Error, format_args!($($t)*)) };
}

/// Logs `fatal: …` and exits with status 1.
#[macro_export]
macro_rules! fatal {
    ($($t:tt)*) => { $crate::fatal_exit(format_args!($($t)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_lines_have_postfix_format_and_reopen_after_rotation() {
        let dir = std::env::temp_dir().join(format!("maillog_test_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("maillog");
        init(Settings {
            syslog_name: "mailsuite".into(),
            program: "smtpd".into(),
            facility: "mail".into(),
            maillog_file: Some(path.clone()),
            hostname: "mail.example.test".into(),
            stderr: false,
            inherited_fd: None,
            internal_addresses: false,
        })
        .unwrap();
        info!("connect from x[127.0.0.1]");
        assert_eq!(address("john doe@example.com"), "\"john doe\"@example.com");
        assert_eq!(address("bob@example.com"), "bob@example.com");
        assert_eq!(address("a@b@example.com"), "\"a@b\"@example.com");
        assert_eq!(address(""), "");
        warning!("bad\nthing");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let pid = std::process::id();
        assert!(lines[0].ends_with(&format!(
            " mail.example.test mailsuite/smtpd[{pid}]: connect from x[127.0.0.1]"
        )));
        assert!(lines[1].ends_with(&format!("mailsuite/smtpd[{pid}]: warning: bad?thing")));
        // "Nov 21 10:00:00 " — month, day, time.
        let stamp: Vec<&str> = lines[0].splitn(4, ' ').collect();
        assert_eq!(stamp[0].len(), 3);
        assert_eq!(stamp[1].len(), 2);
        assert_eq!(stamp[2].len(), 8);
        std::fs::rename(&path, dir.join("maillog.1")).unwrap();
        reopen();
        info!("after rotation");
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("after rotation"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
