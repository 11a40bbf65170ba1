//! The session transcript Postfix's smtpd mails to the postmaster: when a
//! session had an error of a class that `notify_classes` names (`policy`:
//! a restriction refused something; `protocol`: a command the server could
//! not take, bad syntax or order; `resource`: the queue could not take the
//! mail; `software`: something broke here), `error_notice_recipient` gets
//! "Subject: Postfix SMTP server: errors from host[addr]" with the
//! commands and replies of the session (at most
//! `smtpd_history_flush_threshold` lines; the first ones are kept). Message
//! content is never in it, nor what follows AUTH's mechanism name.

/// The error classes (Postfix's names in `notify_classes`).
pub mod class {
    pub const POLICY: u8 = 1;
    pub const PROTOCOL: u8 = 2;
    pub const RESOURCE: u8 = 4;
    pub const SOFTWARE: u8 = 8;
}

/// The smtpd classes named in a `notify_classes` list.
pub fn notify_mask(classes: &[String]) -> u8 {
    classes
        .iter()
        .map(|c| match c.trim().to_ascii_lowercase().as_str() {
            "policy" => class::POLICY,
            "protocol" => class::PROTOCOL,
            "resource" => class::RESOURCE,
            "software" => class::SOFTWARE,
            _ => 0,
        })
        .fold(0, |a, b| a | b)
}

/// What was said in one session, and which errors happened.
#[derive(Debug, Default)]
pub struct Transcript {
    text: Vec<u8>,
    lines: usize,
    limit: usize,
    dropped: usize,
    errors: u8,
}

/// A command line as a transcript or the log may show it: without its
/// CRLF, and of AUTH only the mechanism (the initial response, which holds
/// the password, becomes `********`).
pub fn shown(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let line = line.strip_suffix(b"\r\n").unwrap_or(line);
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    // Words as the command parser takes them: blanks (spaces or tabs)
    // between them and before the verb.
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let word = |s: &'_ [u8]| -> (usize, usize) {
        let start = s.iter().position(|b| !blank(b)).unwrap_or(s.len());
        let end = s[start..]
            .iter()
            .position(blank)
            .map_or(s.len(), |n| start + n);
        (start, end)
    };
    let (start, end) = word(line);
    if !line[start..end].eq_ignore_ascii_case(b"AUTH") {
        return std::borrow::Cow::Borrowed(line);
    }
    let rest = &line[end..];
    let (m_start, m_end) = word(rest);
    let mut masked = line[start..end].to_vec();
    masked.push(b' ');
    masked.extend_from_slice(&rest[m_start..m_end]);
    if rest[m_end..].iter().any(|b| !blank(b)) {
        masked.extend_from_slice(b" ********");
    }
    std::borrow::Cow::Owned(masked)
}

impl Transcript {
    /// A transcript of at most `limit` lines.
    pub fn new(limit: usize) -> Transcript {
        Transcript {
            limit: limit.max(1),
            ..Transcript::default()
        }
    }

    fn push(&mut self, prefix: &[u8], line: &[u8]) {
        if self.lines >= self.limit {
            self.dropped += 1;
            return;
        }
        self.lines += 1;
        self.text.extend_from_slice(prefix);
        // Printable ASCII only, as Postfix's printable(): the rest is '?'.
        self.text.extend(
            line.iter()
                .map(|&b| if (0x20..0x7f).contains(&b) { b } else { b'?' }),
        );
        self.text.push(b'\n');
    }

    /// A command line from the client (see [`shown`]).
    pub fn input(&mut self, line: &[u8]) {
        self.push(b" In:  ", &shown(line));
    }

    /// A reply as sent (its lines, CRLF-terminated).
    pub fn output(&mut self, wire: &[u8]) {
        for line in wire.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            self.push(b" Out: ", line);
        }
    }

    pub fn error(&mut self, class: u8) {
        self.errors |= class;
    }

    /// The notice for the postmaster, when an error of a class in `mask`
    /// happened: the message's text (headers and body, LF line ends).
    pub fn notice(
        &self,
        mask: u8,
        mail_name: &str,
        myhostname: &str,
        namaddr: &str,
        to: &str,
    ) -> Option<String> {
        if self.errors & mask == 0 {
            return None;
        }
        // Date first, as Postfix's post_mail() writes it after its Received.
        let mut m = format!(
            "Date: {}\n\
             From: MAILER-DAEMON@{myhostname} (Mail Delivery System)\n\
             To: {to} (Postmaster)\n\
             Subject: {mail_name} SMTP server: errors from {namaddr}\n\
             Auto-Submitted: auto-generated\n\
             \n\
             Transcript of session follows.\n\n",
            util::time::rfc5322(util::time::now())
        );
        m.push_str(&String::from_utf8_lossy(&self.text));
        if self.dropped > 0 {
            m.push_str(&format!(" ({} more lines not shown)\n", self.dropped));
        }
        m.push_str("\nFor other details, see the local mail logfile\n");
        Some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_by_name() {
        let list = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
        assert_eq!(
            notify_mask(&list("resource, software")),
            class::RESOURCE | class::SOFTWARE
        );
        assert_eq!(notify_mask(&list("bounce, 2bounce, delay")), 0);
        assert_eq!(
            notify_mask(&list("Policy,protocol")),
            class::POLICY | class::PROTOCOL
        );
    }

    #[test]
    fn a_transcript_hides_credentials_and_keeps_its_first_lines() {
        let mut t = Transcript::new(5);
        t.output(b"220 mx ESMTP\r\n");
        t.input(b"EHLO client\r\n");
        t.output(b"250-mx\r\n250 AUTH PLAIN\r\n");
        t.input(b"auth plain AGFsaWNlAHNlY3JldA==\r\n");
        t.input(b"MAIL FROM:<a@b>\r\n");
        t.input(b"RCPT TO:<c@d>\r\n");
        assert!(t
            .notice(class::POLICY, "Postfix", "mx", "c[1.2.3.4]", "postmaster")
            .is_none());
        t.error(class::POLICY);
        let n = t
            .notice(
                class::POLICY,
                "Postfix",
                "mx.example",
                "c[1.2.3.4]",
                "postmaster",
            )
            .unwrap();
        assert!(
            n.contains("Subject: Postfix SMTP server: errors from c[1.2.3.4]\n"),
            "{n}"
        );
        assert!(n.contains(
            "\n Out: 220 mx ESMTP\n In:  EHLO client\n Out: 250-mx\n Out: 250 AUTH PLAIN\n In:  auth plain ********\n (2 more lines not shown)\n"
        ), "{n}");
        assert!(!n.contains("AGFsaWNl"), "{n}");
        let mut t = Transcript::new(10);
        t.input(b"HELO \x01\xff\r\n");
        t.error(class::PROTOCOL);
        let n = t
            .notice(
                class::PROTOCOL,
                "mailsuite",
                "mx",
                "c[1.2.3.4]",
                "postmaster",
            )
            .unwrap();
        assert!(n.contains(" In:  HELO ??\n"), "{n}");
    }

    #[test]
    fn auth_credentials_are_hidden_however_the_command_is_spaced() {
        // The command parser takes tabs between words and blanks before
        // the verb: the initial response stays hidden all the same.
        for line in [
            &b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"[..],
            b"AUTH\tPLAIN AGFsaWNlAHNlY3JldA==\r\n",
            b"AUTH PLAIN\tAGFsaWNlAHNlY3JldA==\r\n",
            b" AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
            b"\tauth  plain  AGFsaWNlAHNlY3JldA==\n",
        ] {
            let s = String::from_utf8_lossy(&shown(line)).into_owned();
            assert!(!s.contains("AGFsaWNl"), "{s}");
            assert!(s.ends_with(" ********"), "{s}");
        }
        assert_eq!(&*shown(b"AUTH LOGIN\r\n"), b"AUTH LOGIN");
        assert_eq!(&*shown(b"MAIL FROM:<a@b>\r\n"), b"MAIL FROM:<a@b>");
    }
}
