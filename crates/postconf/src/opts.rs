//! Flags, and Postfix's rules for which of them go together.

use crate::msg::Fatal;

/// One bit per flag. The order of [`NAMES`] is the order in which Postfix
/// names flags in "specify one of …" messages.
pub type Mode = u32;

pub const SASL_SERVER: Mode = 1 << 0; // -a
pub const DEFAULTS: Mode = 1 << 1; // -d
pub const EDIT: Mode = 1 << 2; // -e
pub const FOLD: Mode = 1 << 3; // -f
pub const HIDE_NAME: Mode = 1 << 4; // -h
pub const HIDE_VALUE: Mode = 1 << 5; // -H
pub const JSON: Mode = 1 << 6; // -j
pub const LOCKS: Mode = 1 << 7; // -l
pub const MAPS: Mode = 1 << 8; // -m
pub const MASTER: Mode = 1 << 9; // -M
pub const NON_DEFAULT: Mode = 1 << 10; // -n
pub const OVERRIDE: Mode = 1 << 11; // -o
pub const MAIN: Mode = 1 << 12; // -p
pub const EXPAND: Mode = 1 << 13; // -x
pub const EXCLUDE: Mode = 1 << 14; // -X
pub const COMMENT_OUT: Mode = 1 << 15; // -#
pub const BOUNCE_EXPAND: Mode = 1 << 16; // -b
pub const BOUNCE_DUMP: Mode = 1 << 17; // -t
pub const FIELDS: Mode = 1 << 18; // -F
pub const PARAMS: Mode = 1 << 19; // -P

const NAMES: &[(&str, Mode)] = &[
    ("-a", SASL_SERVER),
    ("-b", BOUNCE_EXPAND),
    ("-d", DEFAULTS),
    ("-e", EDIT),
    ("-f", FOLD),
    ("-F", FIELDS),
    ("-h", HIDE_NAME),
    ("-H", HIDE_VALUE),
    ("-j", JSON),
    ("-l", LOCKS),
    ("-m", MAPS),
    ("-M", MASTER),
    ("-n", NON_DEFAULT),
    ("-o", OVERRIDE),
    ("-p", MAIN),
    ("-P", PARAMS),
    ("-t", BOUNCE_DUMP),
    ("-x", EXPAND),
    ("-X", EXCLUDE),
    ("-#", COMMENT_OUT),
];

/// The major modes: at most one.
const MAJOR: Mode =
    SASL_SERVER | BOUNCE_EXPAND | LOCKS | MAPS | MAIN | MASTER | BOUNCE_DUMP | FIELDS | PARAMS;

/// Groups of modifiers of which at most one may be given (Postfix's, plus -j).
const EXCLUSIVE: &[Mode] = &[
    MAJOR,
    DEFAULTS | EDIT | NON_DEFAULT | COMMENT_OUT | EXCLUDE,
    FOLD | EDIT | COMMENT_OUT | EXCLUDE,
    EXPAND | EDIT | COMMENT_OUT | EXCLUDE,
    OVERRIDE | DEFAULTS | EDIT | COMMENT_OUT | EXCLUDE,
    HIDE_NAME | EDIT | COMMENT_OUT | EXCLUDE | HIDE_VALUE,
    JSON | EDIT | COMMENT_OUT | EXCLUDE,
    JSON | HIDE_NAME,
    JSON | HIDE_VALUE,
    JSON | FOLD,
];

/// Each major mode and the modifiers it accepts.
const COMPATIBLE: &[(Mode, Mode)] = &[
    (SASL_SERVER, 0),
    (BOUNCE_EXPAND, 0),
    (BOUNCE_DUMP, 0),
    (LOCKS, 0),
    (MAPS, 0),
    (
        MAIN,
        EDIT | EXCLUDE
            | COMMENT_OUT
            | FOLD
            | HIDE_NAME
            | EXPAND
            | DEFAULTS
            | NON_DEFAULT
            | OVERRIDE
            | HIDE_VALUE
            | JSON,
    ),
    (
        MASTER,
        EDIT | EXCLUDE | COMMENT_OUT | FOLD | OVERRIDE | EXPAND | JSON,
    ),
    (
        FIELDS,
        EDIT | FOLD | HIDE_NAME | HIDE_VALUE | OVERRIDE | EXPAND,
    ),
    (
        PARAMS,
        EDIT | EXCLUDE | FOLD | HIDE_NAME | HIDE_VALUE | OVERRIDE | EXPAND,
    ),
];

/// The flags as Postfix lists them: "-e -X".
fn names(mask: Mode) -> String {
    NAMES
        .iter()
        .filter(|(_, bit)| mask & bit != 0)
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(" ")
}

pub const USAGE: &str =
    "usage: postconf [-a (server SASL types)] [-b (bounce templates)] [-c config_dir] \
[-d (parameter defaults)] [-e (edit configuration)] [-f (fold lines)] [-F (master.cf fields)] \
[-h (no names)] [-H (no values)] [-j (JSON output)] [-l (lock types)] [-m (map types)] [-M (master.cf)] \
[-n (non-default parameters)] [-o name=value (override parameter value)] \
[-p (main.cf, default)] [-P (master.cf parameters)] [-q (no unused-parameter warnings)] [-t (bounce templates)] [-v (verbose)] \
[-x (expand parameter values)] [-X (exclude)] [-# (comment-out)] [name...]";

/// What the command line asks for.
#[derive(Debug, Clone, Default)]
pub struct Opts {
    pub mode: Mode,
    pub config_dir: Option<String>,
    pub overrides: Vec<(String, String)>,
    /// Suppress the "unused parameter" warnings (-q).
    pub quiet: bool,
    pub operands: Vec<String>,
}

impl Opts {
    pub fn has(&self, bit: Mode) -> bool {
        self.mode & bit != 0
    }

    /// True for -e, -X and -# (with or without -M).
    pub fn edits(&self) -> bool {
        self.has(EDIT | EXCLUDE | COMMENT_OUT)
    }
}

/// Splits `name=value` as Postfix's split_nameval does: white space around
/// the name and the value is dropped.
pub fn split_nameval(arg: &str) -> Result<(String, String), Fatal> {
    let Some((n, v)) = arg.split_once('=') else {
        return Err(Fatal::usage(format!(
            "missing '=' after attribute name: \"{arg}\""
        )));
    };
    let n = n.trim();
    if n.is_empty() {
        return Err(Fatal::usage(format!("missing attribute name: \"{arg}\"")));
    }
    Ok((n.to_string(), v.trim().to_string()))
}

/// Parses the command line (without argv\[0\]).
pub fn parse(args: &[String]) -> Result<Opts, Fatal> {
    let (flags, operands) =
        util::getopt::getopt(args, "abc:dehfFHjlmMno:pPqtvxX#").map_err(|e| {
            eprintln!("postconf: {e}");
            Fatal::usage(USAGE)
        })?;
    let mut o = Opts {
        operands,
        ..Opts::default()
    };
    for f in flags {
        o.mode |= match f.flag {
            'a' => SASL_SERVER,
            'b' => BOUNCE_EXPAND,
            'c' => {
                o.config_dir = f.arg;
                0
            }
            'd' => DEFAULTS,
            'e' => EDIT,
            'f' => FOLD,
            'F' => FIELDS,
            'h' => HIDE_NAME,
            'H' => HIDE_VALUE,
            'j' => JSON,
            'l' => LOCKS,
            'm' => MAPS,
            'M' => MASTER,
            'n' => NON_DEFAULT,
            'o' => {
                let arg = f.arg.unwrap_or_default();
                o.overrides.push(split_nameval(&arg)?);
                OVERRIDE
            }
            'p' => MAIN,
            'P' => PARAMS,
            'q' => {
                o.quiet = true;
                0
            }
            't' => BOUNCE_DUMP,
            'x' => EXPAND,
            'X' => EXCLUDE,
            '#' => COMMENT_OUT,
            _ => 0, // -v: accepted, as Postfix, and ignored.
        };
    }
    // Make the implied flags explicit, as Postfix does.
    if o.mode & MAJOR == 0 {
        o.mode |= MAIN;
    }
    if o.has(MAIN | MASTER | FIELDS | PARAMS) && o.operands.first().is_some_and(|a| a.contains('='))
    {
        o.mode |= EDIT;
    }
    if o.has(BOUNCE_EXPAND) && o.has(BOUNCE_DUMP) {
        return Err(Fatal::usage("specify one of -b and -t"));
    }
    for group in EXCLUSIVE {
        let set = o.mode & group;
        if set.count_ones() > 1 {
            return Err(Fatal::usage(format!("specify one of {}", names(set))));
        }
    }
    for (major, allowed) in COMPATIBLE {
        let excess = o.mode & !(major | allowed);
        if o.has(*major) && excess != 0 {
            return Err(Fatal::usage(format!(
                "with option {}, do not specify {}",
                names(*major),
                names(excess)
            )));
        }
    }
    if o.has(BOUNCE_EXPAND | BOUNCE_DUMP) && o.operands.len() > 1 {
        return Err(Fatal::usage(
            "options -b and -t require at most one template file",
        ));
    }
    if o.has(EDIT) && o.operands.is_empty() {
        return Err(Fatal::usage("-e requires name=value argument"));
    }
    if o.edits() && o.operands.is_empty() {
        return Err(Fatal::usage("missing service argument"));
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Opts, Fatal> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn conflicts_are_named_as_postfix_names_them() {
        let m = |a: &[&str]| p(a).unwrap_err().message;
        assert_eq!(m(&["-e", "-X", "a"]), "specify one of -e -X");
        assert_eq!(m(&["-nd"]), "specify one of -d -n");
        assert_eq!(m(&["-X", "a=b"]), "specify one of -e -X");
        assert_eq!(m(&["-Mf", "-X", "smtp"]), "specify one of -f -X");
        assert_eq!(m(&["-e"]), "-e requires name=value argument");
        assert_eq!(m(&["-X"]), "missing service argument");
        assert_eq!(m(&["-Mn"]), "with option -M, do not specify -n");
        assert_eq!(m(&["-jh"]), "specify one of -h -j");
        assert_eq!(m(&["-b", "-t"]), "specify one of -b and -t");
        assert_eq!(m(&["-bM"]), "specify one of -b -M");
        assert_eq!(m(&["-ta"]), "specify one of -a -t");
        assert_eq!(m(&["-bx"]), "with option -b, do not specify -x");
        assert_eq!(m(&["-tn"]), "with option -t, do not specify -n");
        assert_eq!(
            m(&["-b", "a", "b"]),
            "options -b and -t require at most one template file"
        );
        assert!(p(&["-b", "x=y"]).is_ok_and(|o| !o.has(EDIT)));
    }

    #[test]
    fn edit_is_implied_by_name_value() {
        let o = p(&["-c", "/x", "a=b"]).unwrap();
        assert!(o.has(EDIT | MAIN));
        assert_eq!(o.config_dir.as_deref(), Some("/x"));
        let o = p(&["-M", "smtp/inet=smtp inet n - n - - smtpd"]).unwrap();
        assert!(o.has(EDIT) && o.has(MASTER));
    }

    #[test]
    fn nameval() {
        assert_eq!(
            split_nameval(" a =  b c ").unwrap(),
            ("a".into(), "b c".into())
        );
        assert!(split_nameval("=x").is_err());
        assert!(split_nameval("x").is_err());
    }
}
