//! The text of a delivery status notification (RFC 3464), laid out as
//! Postfix's bounce(8) writes it: a human-readable part, a
//! message/delivery-status part with one block per recipient, and the
//! returned message (whole, or headers only for RET=HDRS, cut at
//! `bounce_size_limit`). The From:, the Subject:, the charset and the
//! text come from the bounce template (see [`bounce::template`]).

use bounce::template::Template;
use ipc::delivery::bounce::Kind;
use queue::logs::Entry;

/// What a notice is about.
pub struct Report<'a> {
    pub kind: Kind,
    /// The postmaster's copy (`notify_classes`): its own subject, and
    /// no template text (as Postfix, bounce(5)).
    pub postmaster: bool,
    /// The template of this kind of notice, and its text expanded.
    pub template: &'a Template,
    pub text: &'a str,
    pub queue_id: &'a str,
    pub myhostname: &'a str,
    pub sender: &'a str,
    pub recipient: &'a str,
    pub arrival: i64,
    pub envid: Option<&'a str>,
    pub entries: &'a [Entry],
    /// The returned text, already cut to size.
    pub original: &'a [u8],
    /// True when only the headers are returned.
    pub headers_only: bool,
    pub now: i64,
    /// When the message will have been tried for maximal_queue_lifetime
    /// (a delay warning's Will-Retry-Until).
    pub retry_until: i64,
    /// The notice's MIME encoding, as Postfix's bounce chooses it: `8bit`
    /// with smtputf8_enable (addresses may be UTF-8) or for 8-bit mail,
    /// `7bit` for mail declared 7-bit, none when nothing was declared.
    pub encoding: Option<&'static str>,
    /// The message asked for SMTPUTF8: the report and the returned message
    /// are message/global-delivery-status and message/global, and UTF-8
    /// addresses are of type utf-8.
    pub smtputf8: bool,
}

impl Report<'_> {
    /// Whether the notice is 8-bit (Postfix's NOT_7BIT_MIME).
    fn eight_bit(&self) -> bool {
        self.encoding.is_some_and(|e| e != "7bit")
    }

    /// `utf-8` for a UTF-8 address in SMTPUTF8 mail, else `rfc822`.
    fn address_type(&self, address: &str) -> &'static str {
        if self.smtputf8 && !address.is_ascii() {
            "utf-8"
        } else {
            "rfc822"
        }
    }
}

/// `smtp; 550 …` with the server's own reply for remote replies,
/// `X-Postfix; …` for local reasons, as Postfix writes them.
fn diagnostic(e: &Entry) -> String {
    let full = e.reason.trim();
    // A success notice's or report's text names the relay first.
    let r = full
        .strip_prefix("delivery via ")
        .and_then(|rest| rest.strip_prefix(e.relay.as_str()))
        .and_then(|rest| rest.strip_prefix(": "))
        .filter(|_| remote_mta(e).is_some())
        .unwrap_or(full);
    if let Some(pos) = r.find(" said: ") {
        let reply = &r[pos + 7..];
        // "… (in reply to RCPT TO command)" is for people, not the DSN.
        let reply = match reply.rfind(" (in reply to ") {
            Some(end) if reply.ends_with(')') => &reply[..end],
            _ => reply,
        };
        format!("smtp; {reply}")
    } else if remote_mta(e).is_some()
        && r.len() > 3
        && r.as_bytes()[..3].iter().all(u8::is_ascii_digit)
    {
        // A remote server's answer to the message, as it gave it.
        format!("smtp; {r}")
    } else {
        format!("X-Postfix; {full}")
    }
}

/// The remote server's name for `Remote-MTA:`: the host of a relay
/// `host[address]:port`; none for local, virtual, none and the like.
fn remote_mta(e: &Entry) -> Option<&str> {
    let (host, _) = e.relay.split_once('[')?;
    (!host.is_empty()).then_some(host)
}

/// A line of a notice wrapped as Postfix's bounce(8) wraps them
/// (line_wrap with 79 columns and an indent of 4): a word that would end
/// past the width starts a new line, indented, and a word longer than a
/// line keeps one of its own.
fn wrap(text: &str) -> String {
    const WIDTH: usize = 79;
    const INDENT: usize = 4;
    let mut out = String::with_capacity(text.len() + 8);
    let mut line_start = 0;
    let mut indent = 0;
    let mut word = 0;
    while word < text.len() {
        let rest = &text[word..];
        let word_end = word + rest.find([' ', '\t']).unwrap_or(rest.len());
        if word > line_start && word_end - line_start > WIDTH - indent {
            out.push_str(&" ".repeat(indent));
            out.push_str(text[line_start..word].trim_end_matches([' ', '\t']));
            out.push('\n');
            indent = INDENT;
            line_start = word;
            while text[line_start..].starts_with([' ', '\t']) {
                line_start += 1;
            }
        }
        // The next word starts after one blank (as Postfix steps, more
        // blanks make empty words that join the line).
        word = word_end + 1;
    }
    out.push_str(&" ".repeat(indent));
    out.push_str(text[line_start..].trim_end_matches([' ', '\t']));
    out
}

/// The whole notice, with LF line ends.
pub fn compose(r: &Report) -> String {
    let t = r.template;
    let boundary = format!("{}.{}/{}", r.queue_id, r.now, r.myhostname);
    // Date first, as Postfix's post_mail() writes it after its Received.
    let mut m = format!("Date: {}\n", util::time::rfc5322(r.now));
    m.push_str(&format!("From: {}\n", t.from));
    m.push_str(&format!("Subject: {}\n", t.subject_for(r.postmaster)));
    m.push_str(&format!("To: {}\n", r.recipient));
    m.push_str("Auto-Submitted: auto-replied\n");
    m.push_str("MIME-Version: 1.0\n");
    m.push_str(&format!(
        "Content-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"{boundary}\"\n"
    ));
    let eight_bit = r.eight_bit();
    let cte = |m: &mut String, on: bool| {
        if on {
            m.push_str("Content-Transfer-Encoding: 8bit\n");
        }
    };
    match r.encoding {
        // Declared 7-bit mail: as the template's text needs.
        Some("7bit") => m.push_str(&format!(
            "Content-Transfer-Encoding: {}\n",
            if t.text.iter().all(|l| l.is_ascii()) {
                "7bit"
            } else {
                "8bit"
            }
        )),
        Some(e) => m.push_str(&format!("Content-Transfer-Encoding: {e}\n")),
        None => {}
    }
    m.push_str("\nThis is a MIME-encapsulated message.\n\n");
    // The template's charset, or utf-8 when addresses may be 8-bit.
    let charset = match t.charset.as_str() {
        c if !c.eq_ignore_ascii_case("us-ascii") => c,
        _ if eight_bit => "utf-8",
        c => c,
    };
    m.push_str(&format!(
        "--{boundary}\nContent-Description: Notification\nContent-Type: text/plain; charset={charset}\n"
    ));
    cte(&mut m, eight_bit);
    m.push('\n');
    if !r.postmaster {
        m.push_str(r.text);
    }
    m.push('\n');
    // Each recipient's line with a blank line after it, as Postfix writes them.
    for e in r.entries {
        let line = match &e.original {
            Some(o) if !o.eq_ignore_ascii_case(&e.recipient) => {
                format!("<{}> (expanded from <{o}>): {}", e.recipient, e.reason)
            }
            _ => format!("<{}>: {}", e.recipient, e.reason),
        };
        m.push_str(&wrap(&line));
        m.push_str("\n\n");
    }
    if r.entries.is_empty() {
        m.push('\n');
    }
    // The sender as Postfix's bounce shows it: external form, the null
    // sender as MAILER-DAEMON.
    let sender = if r.sender.is_empty() {
        "MAILER-DAEMON".into()
    } else {
        addr::external(r.sender)
    };
    let global = if r.smtputf8 { "global-" } else { "" };
    m.push_str(&format!("--{boundary}\nContent-Description: Delivery report\nContent-Type: message/{global}delivery-status\n"));
    cte(&mut m, eight_bit && r.smtputf8);
    m.push('\n');
    m.push_str(&format!("Reporting-MTA: dns; {}\n", r.myhostname));
    m.push_str(&format!("X-Mailsuite-Queue-ID: {}\n", r.queue_id));
    m.push_str(&format!(
        "X-Mailsuite-Sender: {}; {sender}\n",
        r.address_type(r.sender)
    ));
    m.push_str(&format!(
        "Arrival-Date: {}\n",
        util::time::rfc5322(r.arrival)
    ));
    if let Some(id) = r.envid {
        m.push_str(&format!("Original-Envelope-Id: {id}\n"));
    }
    for e in r.entries {
        m.push('\n');
        m.push_str(&format!(
            "Final-Recipient: {}; {}\n",
            r.address_type(&e.recipient),
            e.recipient
        ));
        if let Some(o) = &e.orcpt {
            m.push_str(&format!("Original-Recipient: {o}\n"));
        } else if let Some(o) = &e.original {
            m.push_str(&format!("Original-Recipient: {}; {o}\n", r.address_type(o)));
        }
        let action = match r.kind {
            Kind::Failure => "failed",
            Kind::Delay => "delayed",
            Kind::Success if e.action == "relayed" => "relayed",
            Kind::Success if e.action == "expanded" => "expanded",
            Kind::Success => "delivered",
            Kind::Verify => e.action.as_str(),
        };
        m.push_str(&format!("Action: {action}\n"));
        m.push_str(&format!("Status: {}\n", e.status));
        if let Some(host) = remote_mta(e) {
            m.push_str(&wrap(&format!("Remote-MTA: dns; {host}")));
            m.push('\n');
        }
        m.push_str(&wrap(&format!("Diagnostic-Code: {}", diagnostic(e))));
        m.push('\n');
        if r.kind == Kind::Delay {
            m.push_str(&format!(
                "Will-Retry-Until: {}\n",
                util::time::rfc5322(r.retry_until)
            ));
        }
    }
    m.push('\n');
    let headers = r.headers_only;
    let desc = format!(
        "{}{}",
        match r.kind {
            Kind::Failure | Kind::Delay => "Undelivered ",
            _ => "",
        },
        if headers {
            "Message Headers"
        } else {
            "Message"
        }
    );
    let ctype = match (headers, r.smtputf8) {
        (true, false) => "text/rfc822-headers",
        (true, true) => "message/global-headers",
        (false, false) => "message/rfc822",
        (false, true) => "message/global",
    };
    m.push_str(&format!(
        "--{boundary}\nContent-Description: {desc}\nContent-Type: {ctype}\n"
    ));
    cte(&mut m, eight_bit);
    m.push('\n');
    // Postfix prepends the envelope sender (its cleanup removed any
    // Return-Path the message had).
    m.push_str(&format!("Return-Path: <{sender}>\n"));
    m.push_str(&String::from_utf8_lossy(r.original));
    if !m.ends_with('\n') {
        m.push('\n');
    }
    m.push_str(&format!("\n--{boundary}--\n"));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As Postfix 3.7 wrapped the lines of a verify report.
    #[test]
    fn lines_wrap_as_postfix_wraps_them() {
        assert_eq!(
            wrap("<afile@local.test> (expanded from <afile>): delivery via local: delivers to file: /tmp/pfr/out/afile.mbox"),
            "<afile@local.test> (expanded from <afile>): delivery via local: delivers to\n    file: /tmp/pfr/out/afile.mbox"
        );
        assert_eq!(
            wrap("<someone@remote.example> (expanded from <anest>): delivery via local: forwards to someone@remote.example"),
            "<someone@remote.example> (expanded from <anest>): delivery via local: forwards\n    to someone@remote.example"
        );
        assert_eq!(
            wrap("Diagnostic-Code: X-Postfix; delivery via local: delivers to file: /tmp/pfr/out/afile.mbox"),
            "Diagnostic-Code: X-Postfix; delivery via local: delivers to file:\n    /tmp/pfr/out/afile.mbox"
        );
        assert_eq!(wrap("short line"), "short line");
        let long = "x".repeat(100);
        assert_eq!(
            wrap(&format!("a {long} b")),
            format!("a\n    {long}\n    b")
        );
    }

    #[test]
    fn a_failure_report_has_the_three_parts() {
        let entry = |name: &str| Entry {
            recipient: format!("{name}@example.test"),
            orcpt: Some(format!("rfc822;{name}@example.test")),
            status: "5.1.1".into(),
            reason: format!("unknown user: \"{name}\""),
            relay: "local".into(),
            ..Entry::default()
        };
        let entries = vec![entry("nobody"), entry("jürgen")];
        let template = Template::builtin(bounce::template::Class::Failure);
        let report = |postmaster| Report {
            kind: Kind::Failure,
            postmaster,
            template: &template,
            text: "This is the mail system at host mail.example.test.\n",
            queue_id: "4jWjSX5zbPz1T1JY",
            myhostname: "mail.example.test",
            sender: "alice@example.test",
            recipient: "alice@example.test",
            arrival: 0,
            envid: Some("xyz"),
            entries: &entries,
            original: b"Subject: hi\n\nbody\n",
            headers_only: false,
            now: 1,
            retry_until: 2,
            encoding: Some("8bit"),
            smtputf8: true,
        };
        let text = compose(&report(false));
        assert!(text.starts_with(&format!("Date: {}\nFrom: Mail Delivery System <MAILER-DAEMON>\nSubject: Undelivered Mail Returned to Sender\nTo: alice@example.test\n", util::time::rfc5322(1))));
        assert!(text.contains("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nThis is the mail system at host mail.example.test.\n\n<nobody@example.test>: "));
        assert!(text.contains("Content-Type: multipart/report; report-type=delivery-status;"));
        assert!(text.contains("<nobody@example.test>: unknown user: \"nobody\"\n"));
        assert!(text.contains("Final-Recipient: rfc822; nobody@example.test\nOriginal-Recipient: rfc822;nobody@example.test\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: X-Postfix; unknown user: \"nobody\"\n"));
        // A UTF-8 address is of type utf-8, as Postfix 3.7 writes it.
        assert!(text.contains("Final-Recipient: utf-8; jürgen@example.test\nOriginal-Recipient: rfc822;jürgen@example.test\n"));
        assert!(text.contains("Original-Envelope-Id: xyz\n"));
        assert!(text.contains("Content-Type: message/global\nContent-Transfer-Encoding: 8bit\n\nReturn-Path: <alice@example.test>\nSubject: hi\n\nbody\n"));
        assert!(text.ends_with("--\n"));
        // The postmaster's copy: its own subject, no template text.
        let copy = compose(&report(true));
        assert!(copy.contains("Subject: Postmaster Copy: Undelivered Mail\n"));
        assert!(copy
            .contains("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n\n<nobody@example.test>: "));
        assert!(!copy.contains("This is the mail system"));
        // smtputf8_enable = no and mail declared 7-bit: a 7-bit notice, as
        // Postfix's bounce_mail_alloc() chooses.
        let seven = compose(&Report {
            encoding: Some("7bit"),
            smtputf8: false,
            ..report(false)
        });
        assert!(seven.contains("boundary=\"4jWjSX5zbPz1T1JY.1/mail.example.test\"\nContent-Transfer-Encoding: 7bit\n\n"));
        assert!(
            seven.contains("Content-Type: text/plain; charset=us-ascii\n\nThis is the mail system")
        );
        assert!(seven.contains("Content-Type: message/delivery-status\n\n"));
        assert!(seven.contains("Final-Recipient: rfc822; jürgen@example.test\n"));
        assert!(seven.contains(
            "Content-Type: message/rfc822\n\nReturn-Path: <alice@example.test>\nSubject: hi\n"
        ));
    }

    #[test]
    fn remote_replies_are_given_as_the_server_gave_them() {
        let remote = |reason: &str, relay: &str| Entry {
            reason: reason.into(),
            relay: relay.into(),
            ..Entry::default()
        };
        let e = remote(
            "host mx.example.org[192.0.2.1] said: 550 5.1.1 <a@example.org>: Recipient address rejected (in reply to RCPT TO command)",
            "mx.example.org[192.0.2.1]:25",
        );
        assert_eq!(
            diagnostic(&e),
            "smtp; 550 5.1.1 <a@example.org>: Recipient address rejected"
        );
        assert_eq!(remote_mta(&e), Some("mx.example.org"));
        let e = remote(
            "250 2.0.0 Ok: queued as 4Xk",
            "mx.example.org[192.0.2.1]:25",
        );
        assert_eq!(diagnostic(&e), "smtp; 250 2.0.0 Ok: queued as 4Xk");
        for relay in ["local", "virtual", "none", ""] {
            let e = remote("delivered to maildir", relay);
            assert_eq!(remote_mta(&e), None, "{relay}");
            assert_eq!(diagnostic(&e), "X-Postfix; delivered to maildir");
        }
    }
}
