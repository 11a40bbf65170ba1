//! The skeleton that every mailsuite daemon's `main` hands its service to,
//! once (STYLE 3, after Postfix's `single_server.c` and friends).
//!
//! The skeleton owns what every daemon shares:
//! * the command line the master gives (`-n service -t type -s count [-u]
//!   [-c] [-o name=value]… [args]`) and the `MAIL_CONFIG` environment;
//! * loading main.cf with the `-o` overrides, checked, and logging set-up
//!   (`syslog_name`, `maillog_file`);
//! * the privilege drop in the fixed order (STYLE 4): the service's
//!   [`Service::pre_jail`] hook opens what needs root, then setgid +
//!   initgroups, chroot into `queue_directory` when master.cf says so,
//!   setuid to `mail_owner` — before any client byte is read;
//! * the status protocol with the master ([`ipc::status`]), `max_idle` and
//!   `max_use`, and exiting when the master goes away (after the current
//!   client).
//!
//! Three modes: [`single_server`] (one client at a time: smtpd, pop3d,
//! imapd, local, smtp), [`multi_server`] (many clients in one mio event loop:
//! auth, showq) and [`trigger_server`] (wake-up requests: qmgr, pickup).

pub mod multi;
mod options;
mod setup;
mod single;
mod status;
mod trigger;

pub use multi::{multi_server, Flow, MultiService};
pub use options::Options;
pub use setup::Context;
pub use single::{serve_delivery, single_server, SingleService};
pub use trigger::{trigger_server, TriggerService};
/// One accepted client connection ([`util::socket::Socket`]).
pub use util::socket::Socket as Client;

/// A hook's failure: logged as `fatal:` and the daemon exits.
pub type HookError = Box<dyn std::error::Error>;

/// What the skeleton asks of every service, whatever its mode.
pub trait Service {
    /// Runs before the privilege drop (as root when started as root): open
    /// files or sockets that need privilege here. Reads no client data.
    fn pre_jail(&mut self, _ctx: &Context) -> Result<(), HookError> {
        Ok(())
    }

    /// Runs after the privilege drop, before the first client.
    fn post_jail(&mut self, _ctx: &Context) -> Result<(), HookError> {
        Ok(())
    }

    /// Long-running daemons (qmgr) ignore `max_idle` and `max_use`.
    fn long_running(&self) -> bool {
        false
    }

    /// Daemons that read network input (smtpd, pop3d, imapd, cleanup) say
    /// true: started as root, they refuse to run unless master.cf lets them
    /// drop to mail_owner (unpriv `-` or `y`), so no network input is ever
    /// parsed as root.
    fn requires_unprivileged(&self) -> bool {
        false
    }
}
