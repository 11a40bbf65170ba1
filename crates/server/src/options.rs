//! The command line the master starts a daemon with.

use util::getopt::getopt;

/// Parsed daemon options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-n`: the master.cf service name (e.g. "smtp", "submission").
    pub service: String,
    /// `-t`: the master.cf service type (inet, unix, fifo …).
    pub transport: String,
    /// `-s`: how many listening sockets start at [`ipc::status::LISTEN_FD`].
    pub sockets: usize,
    /// `-u`: drop to `mail_owner` when started as root.
    pub unprivileged: bool,
    /// `-c`: chroot into `queue_directory` when started as root.
    pub chroot: bool,
    /// `-v`: more logging.
    pub verbose: bool,
    /// `-o name=value`, in order.
    pub overrides: Vec<(String, String)>,
    /// What follows the options (service-specific arguments).
    pub args: Vec<String>,
    /// The service generation from the master.
    pub generation: u32,
}

impl Options {
    /// Parses `args` (without argv\[0\]). Options may be interleaved with
    /// service arguments, as master.cf writes them, up to an `argv=`
    /// argument (pipe's): what follows it is a command's, options or not.
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options::default();
        let mut rest: &[String] = args;
        loop {
            let (opts, operands) = getopt(rest, "n:t:s:o:ucvSz").map_err(|e| e.to_string())?;
            for opt in opts {
                let arg = opt.arg.unwrap_or_default();
                match opt.flag {
                    'n' => o.service = arg,
                    't' => o.transport = arg,
                    's' => {
                        o.sockets = arg
                            .parse()
                            .map_err(|_| format!("bad socket count \"{arg}\""))?
                    }
                    'o' => {
                        let (n, v) = arg
                            .split_once('=')
                            .ok_or_else(|| format!("-o {arg}: missing '='"))?;
                        o.overrides
                            .push((n.trim().to_string(), v.trim().to_string()));
                    }
                    'u' => o.unprivileged = true,
                    'c' => o.chroot = true,
                    'v' => o.verbose = true,
                    _ => {}
                }
            }
            let consumed = rest.len() - operands.len();
            rest = &rest[consumed..];
            match rest.first() {
                None => break,
                Some(a) if a.starts_with("argv=") => {
                    o.args.extend(rest.iter().cloned());
                    break;
                }
                Some(a) => {
                    o.args.push(a.clone());
                    rest = &rest[1..];
                }
            }
        }
        o.generation = std::env::var(ipc::status::GENERATION_ENV)
            .ok()
            .and_then(|g| g.parse().ok())
            .unwrap_or(0);
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_command_line() {
        let a: Vec<String> = [
            "-n",
            "submission",
            "-t",
            "inet",
            "-s",
            "1",
            "-u",
            "-o",
            "syslog_name=mailsuite/submission",
            "echo",
            "-o",
            "a = b",
            "x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let o = Options::parse(&a).unwrap();
        assert_eq!(o.service, "submission");
        assert_eq!(o.transport, "inet");
        assert_eq!(o.sockets, 1);
        assert!(o.unprivileged && !o.chroot);
        assert_eq!(
            o.overrides,
            vec![
                ("syslog_name".into(), "mailsuite/submission".into()),
                ("a".into(), "b".into())
            ]
        );
        assert_eq!(o.args, vec!["echo".to_string(), "x".to_string()]);
    }

    #[test]
    fn a_commands_arguments_are_not_options() {
        let a: Vec<String> = "-n dovecot -t unix flags=DRhu user=vmail argv=/usr/bin/lda -c /etc/x.conf -f ${sender} -o x"
            .split(' ')
            .map(String::from)
            .collect();
        let o = Options::parse(&a).unwrap();
        assert!(!o.chroot && o.overrides.is_empty());
        assert_eq!(
            o.args.join(" "),
            "flags=DRhu user=vmail argv=/usr/bin/lda -c /etc/x.conf -f ${sender} -o x"
        );
    }
}
