//! `sendmail -bs`: SMTP on standard input and output, as Postfix's
//! stand-alone mode runs it. The session runs with the caller's rights,
//! applies no relay or access checks (the caller could post the same mail
//! with plain sendmail), and posts each message through postdrop.

use crate::post;
use ipc::cleanup::{notify, Body, Envelope, Recipient};
use params::{table as p, Config};
use smtp_proto::{
    parse_line, Capabilities, Command, DataConfig, DataDecoder, DataStatus, ParserConfig, Reply,
};
use std::io::{BufRead, Write};
use std::path::Path;

fn send(out: &mut impl Write, r: &Reply) -> bool {
    out.write_all(&r.to_bytes())
        .and_then(|_| out.flush())
        .is_ok()
}

/// The content as the SMTP server stores it: each line without the CRs
/// before its LF (Postfix's smtp_get; the stand-alone server strips them
/// itself, as cleanup keeps what it is handed from the maildrop queue).
fn lf_lines(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len());
    for line in message.split_inclusive(|&b| b == b'\n') {
        match line.strip_suffix(b"\n") {
            Some(mut text) => {
                while let Some(t) = text.strip_suffix(b"\r") {
                    text = t;
                }
                out.extend_from_slice(text);
                out.push(b'\n');
            }
            None => out.extend_from_slice(line),
        }
    }
    out
}

/// Runs the session; returns the exit status.
pub fn serve(cfg: &Config, dir: &Path, login: &str) -> i32 {
    let myhostname = cfg.str(&p::MYHOSTNAME).to_string();
    let limit = cfg.size(&p::MESSAGE_SIZE_LIMIT);
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = std::io::stdout().lock();
    let pcfg = ParserConfig::default();
    if !send(
        &mut out,
        &Reply::new(
            220,
            None,
            format!("{myhostname} ESMTP {}", cfg.str(&p::MAIL_NAME)),
        ),
    ) {
        return 0;
    }
    let mut sender: Option<String> = None;
    let mut recipients: Vec<Recipient> = Vec::new();
    let mut body = Body::Unspecified;
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return 0,
            Ok(_) => {}
        }
        let reply = match parse_line(line.trim_ascii_end(), pcfg) {
            Err(e) => e.reply(),
            Ok(Command::Helo(_)) => Reply::helo(&myhostname),
            Ok(Command::Ehlo(_)) => {
                let caps = Capabilities {
                    pipelining: true,
                    size: Some(limit),
                    eightbitmime: true,
                    enhanced_status_codes: true,
                    ..Capabilities::default()
                };
                caps.ehlo_reply(&myhostname)
            }
            Ok(Command::Mail(m)) => {
                if sender.is_some() {
                    Reply::nested_mail()
                } else {
                    sender = Some(m.sender.map(|s| s.to_string()).unwrap_or_default());
                    if m.body == Some(smtp_proto::Body::EightBitMime) {
                        body = Body::EightBitMime;
                    }
                    Reply::mail_ok()
                }
            }
            Ok(Command::Rcpt(r)) => {
                if sender.is_none() {
                    Reply::need_mail()
                } else {
                    // As smtpd records them: the ORCPT, or the address as
                    // written; the NOTIFY bits.
                    recipients.push(Recipient {
                        address: r.rcpt.internal(),
                        orcpt: Some(match r.orcpt {
                            Some(o) => format!("{};{}", o.addr_type, o.addr),
                            None => format!("rfc822;{}", r.rcpt),
                        }),
                        notify: r.notify.map_or(0, |n| {
                            notify::bits(n.is_never(), n.success, n.failure, n.delay)
                        }),
                    });
                    Reply::rcpt_ok()
                }
            }
            Ok(Command::Data) => {
                if sender.is_none() {
                    Reply::need_mail()
                } else if recipients.is_empty() {
                    Reply::need_rcpt()
                } else {
                    if !send(&mut out, &Reply::start_data()) {
                        return 0;
                    }
                    let mut dec = DataDecoder::new(DataConfig::default());
                    let mut message = Vec::new();
                    let mut chunk = Vec::new();
                    loop {
                        chunk.clear();
                        match input.read_until(b'\n', &mut chunk) {
                            Ok(0) | Err(_) => return 0,
                            Ok(_) => {}
                        }
                        if dec.decode(&mut chunk.iter(), &mut message) == DataStatus::Done {
                            break;
                        }
                    }
                    let (arrival, arrival_usec) = util::time::now_sec_usec();
                    let env = Envelope {
                        sender: sender.take().unwrap_or_else(|| login.to_string()),
                        arrival,
                        arrival_usec,
                        body,
                        recipients: std::mem::take(&mut recipients),
                        ..Envelope::default()
                    };
                    if limit > 0 && message.len() as u64 > limit {
                        Reply::message_too_big()
                    } else {
                        match post(cfg, dir, env, &lf_lines(&message)) {
                            Ok(()) => Reply::new(250, Some((2, 0, 0)), "Ok: queued"),
                            Err((_, text)) => {
                                maillog::warning!("{text}");
                                Reply::new(451, Some((4, 3, 0)), "Error: queue file write error")
                            }
                        }
                    }
                }
            }
            Ok(Command::Rset) => {
                sender = None;
                recipients.clear();
                Reply::ok()
            }
            Ok(Command::Noop) => Reply::ok(),
            Ok(Command::Quit) => {
                send(&mut out, &Reply::bye());
                return 0;
            }
            Ok(_) => Reply::not_recognized(),
        };
        if !send(&mut out, &reply) {
            return 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_lines_lose_the_crs_before_their_lf() {
        assert_eq!(
            lf_lines(b"Subject: x\r\n\r\nbody\r\r\nmid\rdle\r\nbare\nlast"),
            b"Subject: x\n\nbody\nmid\rdle\nbare\nlast"
        );
    }
}
