//! What every mode does before serving: options, configuration, logging,
//! the pre-jail hook, the privilege drop, the post-jail hook.

use crate::options::Options;
use crate::status::Inherited;
use crate::Service;
use params::{table as p, Config};
use std::path::PathBuf;

/// What a service sees of its surroundings.
pub struct Context {
    /// The daemon's program name ("smtpd").
    pub program: &'static str,
    pub options: Options,
    pub config: Config,
    /// Started as root: the master.cf chroot column then takes effect.
    started_as_root: bool,
}

impl Context {
    /// `queue_directory` as the process sees it: "/" once chrooted into it.
    pub fn queue_dir(&self) -> PathBuf {
        if self.chrooted() {
            PathBuf::from("/")
        } else {
            self.config.path(&p::QUEUE_DIRECTORY)
        }
    }

    /// How long this service's external commands may run (pipe, spawn):
    /// `<service>_time_limit` when main.cf or `-o` sets it, else
    /// `command_time_limit`, as Postfix's transport_time_limit.
    pub fn command_time_limit(&self) -> Result<std::time::Duration, String> {
        let own = format!("{}_time_limit", self.options.service);
        match self.config.value(&own) {
            Some(v) => params::value::parse_time(v, 's')
                .ok()
                .and_then(|secs| u64::try_from(secs).ok())
                .filter(|&secs| secs > 0)
                .map(std::time::Duration::from_secs)
                .ok_or_else(|| format!("bad {own} value: {v}")),
            None => Ok(self.config.time(&p::COMMAND_TIME_LIMIT)),
        }
    }

    /// Who this service's external commands run as (pipe, spawn): what
    /// master.cf's `user=` attribute names when started as root (see
    /// [`util::command::command_user`]), None when started as an ordinary
    /// user (everything then runs as that user). Running them as the user
    /// needs root: an unprivileged service (unpriv column `-` or `y`) would
    /// run them as mail_owner, so that is refused.
    pub fn command_ids(&self, user: &str) -> Result<Option<(u32, u32)>, String> {
        if !self.started_as_root {
            return Ok(None);
        }
        if self.options.unprivileged {
            return Err(format!(
                "service {}: {} runs commands as other users and needs root: set the unpriv column of its master.cf entry to n",
                self.options.service, self.program
            ));
        }
        util::command::command_user(
            user,
            self.config.str(&p::MAIL_OWNER),
            self.config.str(&p::SETGID_GROUP),
        )
        .map(Some)
    }

    /// The environment of this service's external commands (pipe, spawn):
    /// the `export_environment` variables this process has, and a PATH.
    pub fn command_environment(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .config
            .list(&p::EXPORT_ENVIRONMENT)
            .into_iter()
            .filter_map(|name| std::env::var(&name).ok().map(|v| (name, v)))
            .collect();
        if !env.iter().any(|(n, _)| n == "PATH") {
            env.push(("PATH".into(), "/usr/bin:/bin".into()));
        }
        env
    }

    /// True when this process chroots (before the privilege drop) or
    /// has chrooted (after it) into the queue directory.
    pub fn chrooted(&self) -> bool {
        self.options.chroot && self.started_as_root
    }

    /// The maximal idle time and client count, or None for long-running services.
    pub fn limits(&self, long_running: bool) -> Option<(std::time::Duration, u64)> {
        (!long_running).then(|| {
            (
                self.config.time(&p::MAX_IDLE),
                self.config.int(&p::MAX_USE).max(1) as u64,
            )
        })
    }
}

/// Runs the start-up sequence and returns the context and inherited descriptors.
/// Any failure is fatal (logged, exit 1): the master then throttles the service.
pub fn start(program: &'static str, service: &mut dyn Service) -> (Context, Inherited) {
    util::heap::keep_freed_memory();
    let args: Vec<String> = util::getopt::args();
    let options = Options::parse(&args).unwrap_or_else(|e| maillog::fatal!("{e}"));
    let config_dir = params::config_dir(None);
    let config =
        Config::load(&config_dir, &options.overrides).unwrap_or_else(|e| maillog::fatal!("{e}"));
    let stderr = !util::fd::is_open(ipc::status::STATUS_FD);
    let log_fd = std::env::var(maillog::MAILLOG_FD_ENV)
        .ok()
        .and_then(|v| v.parse().ok());
    params::logging::init(&config, program, stderr, log_fd);
    ipc::delivery::set_delay_resolution(config.int(&p::DELAY_LOGGING_RESOLUTION_LIMIT));
    ipc::delivery::set_soft_bounce(config.bool(&p::SOFT_BOUNCE));
    let inherited = Inherited::take(options.sockets).unwrap_or_else(|e| maillog::fatal!("{e}"));
    let ctx = Context {
        program,
        options,
        config,
        started_as_root: util::privs::is_root(),
    };

    let queue_dir = ctx.config.path(&p::QUEUE_DIRECTORY);
    if let Err(e) = std::env::set_current_dir(&queue_dir) {
        maillog::fatal!("chdir {}: {e}", queue_dir.display());
    }
    // proxymap's socket relative to the working directory, the queue
    // directory before and after a chroot into it: a chrooted daemon must
    // not find it missing and look tables up in the jail instead.
    maps::proxy::configure(&ctx.config, std::path::Path::new("."));
    if ctx.started_as_root && service.requires_unprivileged() && !ctx.options.unprivileged {
        maillog::fatal!(
            "service {}: {program} reads network input and must not run as root: set the unpriv column of its master.cf entry to - or y",
            ctx.options.service
        );
    }
    if let Err(e) = service.pre_jail(&ctx) {
        maillog::fatal!("{e}");
    }
    if ctx.started_as_root && (ctx.options.unprivileged || ctx.options.chroot) {
        let owner_name = ctx.config.str(&p::MAIL_OWNER);
        let owner = match util::privs::lookup_user(owner_name) {
            Ok(Some(a)) if a.uid != 0 => a,
            Ok(Some(_)) => {
                maillog::fatal!("parameter mail_owner: user {owner_name} has root privileges")
            }
            Ok(None) => maillog::fatal!("parameter mail_owner: unknown user name: {owner_name}"),
            Err(e) => maillog::fatal!("parameter mail_owner: cannot look up {owner_name}: {e}"),
        };
        let jail = ctx.options.chroot.then_some(queue_dir.as_path());
        let user = if ctx.options.unprivileged {
            owner
        } else {
            util::privs::current_account()
        };
        if let Err(e) = util::privs::drop_privileges(&user, jail) {
            maillog::fatal!("cannot drop privileges to {}: {e}", user.name);
        }
    }
    if let Err(e) = service.post_jail(&ctx) {
        maillog::fatal!("{e}");
    }
    (ctx, inherited)
}
