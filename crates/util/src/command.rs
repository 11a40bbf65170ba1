//! Running an external command with a message on its standard input, as
//! the delivery agents do (local's `|command` and `mailbox_command`,
//! pipe), or with a client's connection as its input and output (spawn):
//! in a process group of its own, as the given user, with a time limit
//! after which the whole group is killed, and with the start of its output
//! kept for the log. Neither a command that does not read its input nor
//! one that floods its output can hold the caller.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What to run and how.
#[derive(Debug)]
pub struct Run {
    /// The program (a path, or a name looked up in the PATH given in
    /// `env`) and its arguments.
    pub program: String,
    pub args: Vec<String>,
    /// The whole environment of the command.
    pub env: Vec<(String, String)>,
    pub dir: PathBuf,
    /// uid and gid to run as (only when the caller is root).
    pub ids: Option<(u32, u32)>,
    pub io: Io,
    pub time_limit: Duration,
}

/// What the command's standard input and output are.
#[derive(Debug)]
pub enum Io {
    /// The message on its input; its error output kept, and its standard
    /// output too with `keep_stdout`.
    Message { input: Vec<u8>, keep_stdout: bool },
    /// A connection as its input and output (its error output kept).
    Connection(std::os::fd::OwnedFd),
}

/// How the command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Signaled(i32),
    TimedOut,
    /// It could not be started (the error's text).
    NotRun(String),
}

/// How the command ended, and the start of its output (at most
/// [`OUTPUT_KEPT`] bytes, lines joined by spaces, trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub ended: Ended,
    pub output: String,
}

/// How much of a command's output is kept.
pub const OUTPUT_KEPT: usize = 2048;

/// The attributes of a master.cf command service (pipe, spawn).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandAttributes {
    /// `user=name[:group]`.
    pub user: String,
    /// `argv=`: the command and its arguments (the rest of the line).
    pub argv: Vec<String>,
    /// The other `name=value` attributes, in order, for the service to
    /// take or refuse.
    pub other: Vec<(String, String)>,
}

/// The `name=value` attributes after a service's daemon options, `argv=`
/// last; errors as Postfix's fatal messages word them.
pub fn command_attributes(args: &[String]) -> Result<CommandAttributes, String> {
    let (mut user, mut argv, mut other) = (None, Vec::new(), Vec::new());
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let Some((name, value)) = arg.split_once('=') else {
            return Err(format!("missing \"=\" in attribute: {arg}"));
        };
        match name {
            "user" => user = Some(value.to_string()),
            "argv" => {
                argv = std::iter::once(value.to_string())
                    .chain(rest.by_ref().cloned())
                    .collect();
            }
            _ => other.push((name.to_string(), value.to_string())),
        }
    }
    if argv.first().is_none_or(|c| c.is_empty()) {
        return Err("missing argv= command-line attribute".into());
    }
    let user = user
        .filter(|u| !u.is_empty())
        .ok_or("missing user= command-line attribute")?;
    Ok(CommandAttributes { user, argv, other })
}

/// The uid and gid that master.cf's `user=name[:group]` attribute names
/// (pipe, spawn; an empty group is the user's own). Root, group 0, and the
/// mail system owner's account or group (`mail_owner`) or `setgid_group`
/// are refused, as Postfix refuses them.
pub fn command_user(
    value: &str,
    mail_owner: &str,
    setgid_group: &str,
) -> Result<(u32, u32), String> {
    let (user, group) = match value.split_once(':') {
        Some((u, g)) if !g.is_empty() => (u, Some(g)),
        Some((u, _)) => (u, None),
        None => (value, None),
    };
    let acct = crate::privs::lookup_user(user)
        .map_err(|e| format!("user= {user}: {e}"))?
        .ok_or_else(|| format!("unknown user in user= attribute: {user}"))?;
    if acct.uid == 0 {
        return Err("user= command-line attribute specifies root privileges".into());
    }
    let owner = crate::privs::lookup_user(mail_owner).ok().flatten();
    if owner.as_ref().is_some_and(|o| o.uid == acct.uid) {
        return Err("user= command-line attribute specifies mail system owner".into());
    }
    let gid = match group {
        Some(g) => crate::privs::lookup_group(g)
            .map_err(|e| format!("user= group {g}: {e}"))?
            .ok_or_else(|| format!("unknown group in user= attribute: {g}"))?,
        None => acct.gid,
    };
    if gid == 0 {
        return Err("user= command-line attribute specifies privileged group id 0".into());
    }
    if owner.is_some_and(|o| o.gid == gid) {
        return Err("user= command-line attribute specifies mail system owner group id".into());
    }
    if crate::privs::lookup_group(setgid_group)
        .ok()
        .flatten()
        .is_some_and(|g| g == gid)
    {
        return Err(format!(
            "user= command-line attribute specifies setgid_group group id ({setgid_group})"
        ));
    }
    Ok((acct.uid, gid))
}

/// Runs `r` to its end or its time limit.
pub fn run(r: Run) -> Outcome {
    let mut c = Command::new(&r.program);
    c.args(&r.args)
        .env_clear()
        .envs(r.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&r.dir)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some((uid, gid)) = r.ids.filter(|_| crate::privs::is_root()) {
        c.uid(uid).gid(gid);
    }
    let (input, keep_stdout) = match r.io {
        Io::Message { input, keep_stdout } => (Some(input), keep_stdout),
        Io::Connection(fd) => {
            match fd.try_clone() {
                Ok(out) => {
                    c.stdin(Stdio::from(fd)).stdout(Stdio::from(out));
                }
                Err(e) => return not_run(e),
            }
            (None, false)
        }
    };
    // Standard output into the same pipe as the errors when it is kept.
    let combined = if keep_stdout {
        let pipe = std::io::pipe().and_then(|(rd, wr)| Ok((rd, wr.try_clone()?, wr)));
        match pipe {
            Ok((rd, out, err)) => {
                c.stdout(out).stderr(err);
                Some(rd)
            }
            Err(e) => return not_run(e),
        }
    } else {
        if input.is_some() {
            c.stdout(Stdio::null());
        }
        None
    };
    let mut child = match c.spawn() {
        Ok(ch) => ch,
        Err(e) => return not_run(e),
    };
    // The parent's copies of the pipe's write end must go, or the reader
    // never sees the end.
    drop(c);
    let pgid = child.id() as i32;
    let feeder = match (child.stdin.take(), input) {
        (Some(mut stdin), Some(input)) => Some(std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        })),
        _ => None,
    };
    let output: Option<Box<dyn Read + Send>> = match combined {
        Some(rd) => Some(Box::new(rd)),
        None => child
            .stderr
            .take()
            .map(|e| Box::new(e) as Box<dyn Read + Send>),
    };
    let (tx, collected) = std::sync::mpsc::channel::<String>();
    let collector = output.map(|mut out| {
        std::thread::spawn(move || {
            // Keep the start, drain the rest so the command never blocks
            // on a full pipe.
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(n) = out.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                let room = OUTPUT_KEPT.saturating_sub(buf.len());
                buf.extend_from_slice(&chunk[..n.min(room)]);
            }
            let _ = tx.send(
                String::from_utf8_lossy(&buf)
                    .trim()
                    .replace(['\r', '\n'], " "),
            );
        })
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if start.elapsed() >= r.time_limit => break None,
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break None,
        }
    };
    // Whatever is left of the group goes, so the pipes close.
    // SAFETY: killpg on the process group this run created.
    unsafe { libc::killpg(pgid, libc::SIGKILL) };
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    // A process that left the group (setsid) may still hold the pipes:
    // the threads are not waited for past a moment, and end with it.
    drop(feeder);
    let output = match collector {
        Some(_) => collected
            .recv_timeout(Duration::from_secs(2))
            .unwrap_or_default(),
        None => String::new(),
    };
    use std::os::unix::process::ExitStatusExt;
    let ended = match status {
        None => Ended::TimedOut,
        Some(st) => match (st.code(), st.signal()) {
            (Some(code), _) => Ended::Exited(code),
            (None, Some(sig)) => Ended::Signaled(sig),
            (None, None) => Ended::Signaled(0),
        },
    };
    Outcome { ended, output }
}

fn not_run(e: std::io::Error) -> Outcome {
    Outcome {
        ended: Ended::NotRun(e.to_string()),
        output: String::new(),
    }
}

/// The entries of an `import_environment` or `export_environment` list, as
/// Postfix's clean_env() reads them: `NAME` with the value `getenv` gives it
/// (left out when unset), `NAME=value` and `{ NAME=value }` as written; the
/// last entry for a name wins.
pub fn environment_list<V>(items: &[String], getenv: impl Fn(&str) -> Option<V>) -> Vec<(V, V)>
where
    V: for<'a> From<&'a str> + PartialEq,
{
    let mut env: Vec<(V, V)> = Vec::new();
    for item in items {
        let item = match item.strip_prefix('{').and_then(|i| i.strip_suffix('}')) {
            Some(inner) => inner.trim(),
            None => item.as_str(),
        };
        let (name, value) = match item.split_once('=') {
            Some((n, v)) => (n, V::from(v)),
            None => match getenv(item) {
                Some(v) => (item, v),
                None => continue,
            },
        };
        if name.is_empty() {
            continue;
        }
        let name = V::from(name);
        env.retain(|(n, _)| *n != name);
        env.push((name, value));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, input: &[u8], limit: Duration, keep_stdout: bool) -> Outcome {
        run(Run {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            dir: "/".into(),
            ids: None,
            io: Io::Message {
                input: input.to_vec(),
                keep_stdout,
            },
            time_limit: limit,
        })
    }

    #[test]
    fn status_output_time_limit_and_floods() {
        let long = Duration::from_secs(20);
        let o = sh(
            "cat >/dev/null; echo out; echo err >&2; exit 67",
            b"x\n",
            long,
            true,
        );
        assert_eq!(o.ended, Ended::Exited(67));
        assert_eq!(o.output, "out err");
        let o = sh("echo out; echo err >&2", b"", long, false);
        assert_eq!((o.ended, o.output.as_str()), (Ended::Exited(0), "err"));
        // A command that reads nothing of a large input, and one that
        // floods its output, still end.
        let o = sh("exit 0", &vec![b'x'; 4 << 20], long, true);
        assert_eq!(o.ended, Ended::Exited(0));
        let o = sh("yes flood | head -c 10000000", b"", long, true);
        assert_eq!(o.ended, Ended::Exited(0));
        assert_eq!(o.output.len(), OUTPUT_KEPT);
        // The time limit kills the group, grandchildren too.
        let t = Instant::now();
        let o = sh("sleep 30 & sleep 30", b"", Duration::from_millis(300), true);
        assert_eq!(o.ended, Ended::TimedOut);
        assert!(t.elapsed() < Duration::from_secs(10));
        // One that escapes the group with the pipes open does not hold
        // the caller past the time limit and a moment.
        let t = Instant::now();
        let o = sh(
            "setsid sleep 30 & sleep 30",
            b"",
            Duration::from_millis(300),
            true,
        );
        assert_eq!(o.ended, Ended::TimedOut);
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        let o = sh("kill -TERM $$", b"", long, true);
        assert_eq!(o.ended, Ended::Signaled(15));
        let r = |program: &str| Run {
            program: program.into(),
            args: vec![],
            env: vec![],
            dir: "/".into(),
            ids: None,
            io: Io::Message {
                input: vec![],
                keep_stdout: false,
            },
            time_limit: long,
        };
        assert!(matches!(
            run(r("/nonexistent/program")).ended,
            Ended::NotRun(_)
        ));
        assert_eq!(run(r("/bin/true")).ended, Ended::Exited(0));
    }

    #[test]
    fn a_connection_is_the_commands_input_and_output() {
        let (mut ours, theirs) = std::os::unix::net::UnixStream::pair().expect("pair");
        ours.write_all(b"ping\n").expect("write");
        let o = run(Run {
            program: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                "read line; echo \"got $line\"; echo complaint >&2".into(),
            ],
            env: vec![],
            dir: "/".into(),
            ids: None,
            io: Io::Connection(theirs.into()),
            time_limit: Duration::from_secs(20),
        });
        assert_eq!(
            (o.ended, o.output.as_str()),
            (Ended::Exited(0), "complaint")
        );
        let mut got = String::new();
        ours.read_to_string(&mut got).expect("read");
        assert_eq!(got, "got ping\n");
    }
}
