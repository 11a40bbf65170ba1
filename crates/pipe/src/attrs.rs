//! The master.cf attributes of a pipe service (Postfix's pipe(8)):
//! `flags=`, `user=`, `size=`, `eol=`, `directory=`, `null_sender=`, and
//! `argv=` with the command and its arguments, which ends the list.

/// What pipe(8)'s `flags=` letters ask for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// `B`: a blank line after the message.
    pub blank_line: bool,
    /// `D`: a `Delivered-To:` header (and loop detection by it).
    pub delivered_to: bool,
    /// `F`: a mbox `From sender date` line first.
    pub from_line: bool,
    /// `O`: an `X-Original-To:` header.
    pub original_to: bool,
    /// `R`: a `Return-Path:` header.
    pub return_path: bool,
    /// `X`: this is final delivery (success notices say "delivered", not
    /// "relayed").
    pub final_delivery: bool,
    /// `h`: `$nexthop` and domains in lower case.
    pub fold_host: bool,
    /// `q`: the local parts of `$sender` and `$recipient` quoted as
    /// RFC 5322 wants.
    pub quote: bool,
    /// `u`: `$user` and the local part of `$recipient` in lower case.
    pub fold_user: bool,
    /// `.`: a dot before each line that starts with one.
    pub dot_stuff: bool,
    /// `>`: `>` before each line that starts with `From `.
    pub from_quote: bool,
}

impl Flags {
    fn parse(letters: &str) -> Result<Flags, String> {
        let mut f = Flags::default();
        for c in letters.chars() {
            match c {
                'B' => f.blank_line = true,
                'D' => f.delivered_to = true,
                'F' => f.from_line = true,
                'O' => f.original_to = true,
                'R' => f.return_path = true,
                'X' => f.final_delivery = true,
                'h' => f.fold_host = true,
                'q' => f.quote = true,
                'u' => f.fold_user = true,
                '.' => f.dot_stuff = true,
                '>' => f.from_quote = true,
                _ => return Err(format!("unknown flag: {c} (in flags={letters})")),
            }
        }
        Ok(f)
    }
}

/// The service's attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attrs {
    pub flags: Flags,
    /// `user=name[:group]`: who the command runs as.
    pub user: String,
    /// `size=`: the largest message the command takes (0: any).
    pub size_limit: u64,
    /// `eol=`: what ends each line (`\n` by default).
    pub eol: Vec<u8>,
    /// `directory=`: where the command starts.
    pub directory: String,
    /// `null_sender=`: `$sender` for the null sender.
    pub null_sender: String,
    /// `argv=`: the command and its arguments, macros not yet expanded.
    pub argv: Vec<String>,
}

/// `\n`, `\r`, `\t` and `\\` in an `eol=` value.
fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            Some('n') => out.push(b'\n'),
            Some('r') => out.push(b'\r'),
            Some('t') => out.push(b'\t'),
            Some(other) => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
            }
            None => out.push(b'\\'),
        }
    }
    out
}

impl Attrs {
    /// The attributes after the daemon options in master.cf. Errors name
    /// what is wrong, as pipe(8)'s fatal messages do.
    pub fn parse(args: &[String]) -> Result<Attrs, String> {
        let common = util::command::command_attributes(args)?;
        let mut a = Attrs {
            flags: Flags::default(),
            user: common.user,
            size_limit: 0,
            eol: b"\n".to_vec(),
            directory: "/".into(),
            null_sender: "MAILER-DAEMON".into(),
            argv: common.argv,
        };
        for (name, value) in common.other {
            match name.as_str() {
                "flags" => a.flags = Flags::parse(&value)?,
                "size" => {
                    a.size_limit = value
                        .parse()
                        .map_err(|_| format!("bad size= value: {value}"))?
                }
                "eol" => a.eol = unescape(&value),
                "directory" => a.directory = value,
                "null_sender" => a.null_sender = value,
                _ => return Err(format!("unknown attribute name: {name}")),
            }
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn the_dovecot_recipe_and_mistakes() {
        let a = Attrs::parse(&words(
            "flags=DRhu user=vmail:mail argv=/usr/lib/dovecot/deliver -f ${sender} -d ${recipient}",
        ))
        .expect("valid");
        assert!(a.flags.delivered_to && a.flags.return_path && a.flags.fold_host);
        assert!(a.flags.fold_user && !a.flags.original_to);
        assert_eq!(a.user, "vmail:mail");
        assert_eq!(
            a.argv,
            words("/usr/lib/dovecot/deliver -f ${sender} -d ${recipient}")
        );
        // Attributes after argv= belong to the command.
        let a = Attrs::parse(&words(
            r"user=filter eol=\r\n size=1000 argv=/bin/cat user=x",
        ))
        .expect("valid");
        assert_eq!(a.argv, ["/bin/cat", "user=x"]);
        assert_eq!((a.eol.as_slice(), a.size_limit), (&b"\r\n"[..], 1000));
        for (bad, why) in [
            ("user=filter", "missing argv="),
            ("argv=/bin/cat", "missing user="),
            ("flags=Dz user=a argv=/bin/cat", "unknown flag: z"),
            (
                "colour=blue user=a argv=/bin/cat",
                "unknown attribute name: colour",
            ),
            ("size=big user=a argv=/bin/cat", "bad size= value"),
        ] {
            let e = Attrs::parse(&words(bad)).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
