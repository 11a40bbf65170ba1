//! POSIX getopt(3), as every Postfix command parses its flags: clustered
//! flags (`-MX`), an option's argument attached or separate (`-cDIR`, `-c DIR`),
//! and parsing stops at the first operand or at `--`.

use std::fmt;

/// One parsed option: its letter and, when the spec gives it a `:`, its argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opt {
    pub flag: char,
    pub arg: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetoptError {
    Unknown(char),
    MissingArgument(char),
}

impl fmt::Display for GetoptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetoptError::Unknown(c) => write!(f, "invalid option -- '{c}'"),
            GetoptError::MissingArgument(c) => write!(f, "option requires an argument -- '{c}'"),
        }
    }
}

impl std::error::Error for GetoptError {}

/// Parses `args` (without argv\[0\]) against `spec` ("c:nv": `c` takes an argument).
/// Returns the options in order and the operands that follow them.
/// The name the program was run as, without its directory (argv\[0\],
/// bytes that are not UTF-8 replaced); `fallback` when there is none.
pub fn program_name(fallback: &str) -> String {
    std::env::args_os()
        .next()
        .map(|a| {
            a.to_string_lossy()
                .rsplit('/')
                .next()
                .unwrap_or(fallback)
                .to_string()
        })
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| fallback.to_string())
}

/// The program's arguments after its name. Every command here reads its
/// arguments as text: one that is not UTF-8 ends the program with a usage
/// error (exit 64) that shows it, where `std::env::args` would panic.
pub fn args() -> Vec<String> {
    std::env::args_os()
        .skip(1)
        .map(|a| {
            a.into_string().unwrap_or_else(|a| {
                eprintln!(
                    "{}: fatal: argument is not UTF-8: \"{}\"",
                    program_name("mailsuite"),
                    a.to_string_lossy()
                );
                std::process::exit(64)
            })
        })
        .collect()
}

pub fn getopt(args: &[String], spec: &str) -> Result<(Vec<Opt>, Vec<String>), GetoptError> {
    let takes_arg = |c: char| -> Option<bool> {
        let mut chars = spec.chars().peekable();
        while let Some(s) = chars.next() {
            let has_arg = chars.peek() == Some(&':');
            if has_arg {
                chars.next();
            }
            if s == c {
                return Some(has_arg);
            }
        }
        None
    };
    let mut opts = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            i += 1;
            break;
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        let body: Vec<char> = a.chars().skip(1).collect();
        let mut j = 0;
        while j < body.len() {
            let c = body[j];
            match takes_arg(c) {
                None => return Err(GetoptError::Unknown(c)),
                Some(false) => opts.push(Opt { flag: c, arg: None }),
                Some(true) => {
                    let rest: String = body[j + 1..].iter().collect();
                    let value = if !rest.is_empty() {
                        rest
                    } else {
                        i += 1;
                        args.get(i)
                            .cloned()
                            .ok_or(GetoptError::MissingArgument(c))?
                    };
                    opts.push(Opt {
                        flag: c,
                        arg: Some(value),
                    });
                    break;
                }
            }
            j += 1;
        }
        i += 1;
    }
    Ok((opts, args[i.min(args.len())..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn clusters_and_arguments() {
        let (o, rest) = getopt(
            &v(&["-MX", "-c/etc/x", "-o", "a=b", "name", "-n"]),
            "c:o:MXn",
        )
        .unwrap();
        let flags: Vec<char> = o.iter().map(|o| o.flag).collect();
        assert_eq!(flags, vec!['M', 'X', 'c', 'o']);
        assert_eq!(o[2].arg.as_deref(), Some("/etc/x"));
        assert_eq!(o[3].arg.as_deref(), Some("a=b"));
        assert_eq!(rest, v(&["name", "-n"]));
    }

    #[test]
    fn errors() {
        assert_eq!(getopt(&v(&["-z"]), "a"), Err(GetoptError::Unknown('z')));
        assert_eq!(
            getopt(&v(&["-c"]), "c:"),
            Err(GetoptError::MissingArgument('c'))
        );
        let (o, rest) = getopt(&v(&["-#", "--", "-x"]), "#").unwrap();
        assert_eq!(o.len(), 1);
        assert_eq!(rest, v(&["-x"]));
    }
}
