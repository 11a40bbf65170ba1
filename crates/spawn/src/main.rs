//! NAME
//!   spawn - mailsuite's runner of external servers
//!
//! SYNOPSIS
//!   spawn [generic daemon options] user=name[:group] argv=command …
//!   (started by the master)
//!
//! DESCRIPTION
//!   spawn runs its master.cf command once for each connection to its
//!   service, with the connection as the command's standard input and
//!   output, as Postfix's spawn(8) does. This is how policy servers that
//!   speak on their standard input are started, the SPF checker of the
//!   usual recipe for one:
//!
//!       policyd-spf unix - n n - 0 spawn
//!         user=policyd-spf argv=/usr/bin/policyd-spf
//!
//!   with `check_policy_service unix:private/policyd-spf` in
//!   smtpd_recipient_restrictions. `argv=` (the last attribute) is the
//!   command and its arguments, run directly, without a shell. The
//!   command's error output is logged as a warning. A command still
//!   running at `<service>_time_limit` (default `command_time_limit`) is
//!   killed, with what it started. A master.cf process limit of 0 lets as
//!   many run as there are clients.
//!
//! SECURITY
//!   Started as root (master.cf unpriv column `n`; `-` or `y` stops the
//!   service), spawn runs the command as `user=` (and its group, or
//!   `:group`), never as root, group 0, `mail_owner` or its group, or
//!   `setgid_group`: an attribute that asks for them stops the service. The
//!   command gets only `export_environment`'s variables and PATH, in a
//!   process group of its own. spawn itself reads nothing from the client.
//!   Started as an ordinary user, everything runs as that user.
//!
//! CONFIGURATION PARAMETERS
//!   command_time_limit, <service>_time_limit, export_environment,
//!   mail_owner.
//!
//! FILES
//!   $queue_directory/private/<service>.

use server::{Client, Context, Service, SingleService};
use std::time::Duration;
use util::command::{Ended, Io, Run};

/// What the master.cf line says.
#[derive(Debug)]
struct Settings {
    argv: Vec<String>,
    ids: Option<(u32, u32)>,
    time_limit: Duration,
    env: Vec<(String, String)>,
}

/// `user=` and `argv=` (the rest of the line); errors name the problem
/// as spawn(8)'s fatal messages do.
fn parse(args: &[String]) -> Result<(String, Vec<String>), String> {
    let a = util::command::command_attributes(args)?;
    if let Some((name, _)) = a.other.first() {
        return Err(format!("unknown attribute name: {name}"));
    }
    Ok((a.user, a.argv))
}

impl Settings {
    fn new(ctx: &Context) -> Result<Settings, String> {
        let (user, argv) = parse(&ctx.options.args)?;
        let ids = ctx.command_ids(&user)?;
        Ok(Settings {
            argv,
            ids,
            time_limit: ctx.command_time_limit()?,
            env: ctx.command_environment(),
        })
    }
}

#[derive(Default)]
struct Spawn {
    settings: Option<Settings>,
}

impl Service for Spawn {
    fn pre_jail(&mut self, ctx: &Context) -> Result<(), server::HookError> {
        self.settings = Some(Settings::new(ctx)?);
        Ok(())
    }
}

impl SingleService for Spawn {
    fn serve(&mut self, _ctx: &Context, client: Client) {
        let Some(s) = &self.settings else { return };
        let Some((program, args)) = s.argv.split_first() else {
            return;
        };
        let o = util::command::run(Run {
            program: program.clone(),
            args: args.to_vec(),
            env: s.env.clone(),
            dir: "/".into(),
            ids: s.ids,
            io: Io::Connection(client.into()),
            time_limit: s.time_limit,
        });
        if !o.output.is_empty() {
            maillog::warning!("{program}: {}", o.output);
        }
        match o.ended {
            Ended::Exited(0) => {}
            Ended::Exited(code) => {
                maillog::warning!("command {program} exit status {code}")
            }
            Ended::Signaled(sig) => maillog::warning!("command {program} killed by signal {sig}"),
            Ended::TimedOut => maillog::warning!(
                "command {program} killed: time limit of {}s exceeded",
                s.time_limit.as_secs()
            ),
            Ended::NotRun(e) => maillog::warning!("cannot run {program}: {e}"),
        }
    }
}

fn main() {
    server::single_server("spawn", Spawn::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes() {
        let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            parse(&words(
                "user=policyd-spf argv=/usr/bin/policyd-spf -v user=x"
            )),
            Ok((
                "policyd-spf".to_string(),
                words("/usr/bin/policyd-spf -v user=x")
            ))
        );
        for (bad, why) in [
            ("user=a", "missing argv="),
            ("argv=/bin/cat", "missing user="),
            ("user=a argv=", "missing argv="),
            (
                "flags=R user=a argv=/bin/cat",
                "unknown attribute name: flags",
            ),
        ] {
            let e = parse(&words(bad)).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
