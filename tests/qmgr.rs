//! The queue manager end to end: mail posted with sendmail goes through
//! pickup and cleanup to qmgr, which routes it, defers what cannot go now
//! (with the reason in the defer log and the retry time as the file's
//! mtime), removes what is done, and recovers active/ after a crash.

use kit::{wait_until, Instance};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const SECOND: Duration = Duration::from_secs(1);

fn instance(name: &str, extra: &str) -> Instance {
    let inst = Instance::new(name);
    inst.main_cf(&format!("mydestination = $myhostname, localhost\n{extra}"));
    inst.master_cf("pickup unix n - n 60 1 pickup\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\n");
    inst
}

fn post(inst: &Instance, rcpt: &str, subject: &str) {
    let out = inst.sendmail(
        &["-f", "sender@example.org", rcpt],
        format!("Subject: {subject}\n\nbody\n").as_bytes(),
    );
    assert!(out.status.success(), "{out:?}");
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn queue_id_in(inst: &Instance, pattern: &str) -> String {
    let line = inst
        .log_lines(pattern)
        .pop()
        .unwrap_or_else(|| panic!("no log line with {pattern}:\n{}", inst.maillog()));
    line.split(": ").nth(1).expect("queue id").to_string()
}

#[test]
fn discarded_mail_is_removed_and_unreachable_transports_defer() {
    let inst = instance("qmgr-basic", "transport_maps = inline:{ { gone.example = discard:test } }\nrelay_domains = far.example\n");
    inst.start();
    post(&inst, "nobody@gone.example", "discard me");
    assert!(
        inst.wait_log(": removed", 1, 10 * SECOND),
        "{}",
        inst.maillog()
    );
    let id = queue_id_in(&inst, "status=sent (discarded: test)");
    assert!(
        inst.log_lines(&format!("{id}: from=<sender@example.org>, size="))
            .len()
            == 1,
        "{}",
        inst.maillog()
    );
    assert!(inst.log_lines(&format!("{id}: removed")).len() == 1);

    // No relay agent runs: deferred, with the reason logged and kept.
    post(&inst, "user@far.example", "wait for me");
    assert!(
        inst.wait_log(
            "status=deferred (mail transport unavailable)",
            1,
            10 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    let line = inst
        .log_lines("status=deferred (mail transport unavailable)")
        .pop()
        .expect("line");
    assert!(
        line.contains("to=<user@far.example>, relay=none, delay="),
        "{line}"
    );
    let id = queue_id_in(&inst, "status=deferred");
    let deferred = inst.dir.join("queue/deferred");
    assert!(
        wait_until(5 * SECOND, || files_under(&deferred).len() == 1),
        "deferred: {:?}",
        files_under(&deferred)
    );
    let file = files_under(&deferred).pop().expect("file");
    assert!(file.ends_with(&id), "{}", file.display());
    let mtime = || {
        std::fs::metadata(&file)
            .expect("stat")
            .modified()
            .expect("mtime")
    };
    // qmgr sets the retry time just after it moved the file.
    assert!(
        wait_until(5 * SECOND, || mtime()
            > SystemTime::now() + Duration::from_secs(200)),
        "next attempt about minimal_backoff_time away: {:?}",
        mtime()
    );
    let defer_log = files_under(&inst.dir.join("queue/defer"));
    assert_eq!(defer_log.len(), 1);
    assert!(std::fs::read_to_string(&defer_log[0])
        .expect("read")
        .contains("reason=mail transport unavailable"));
}

#[test]
fn mail_to_an_error_transport_waits_for_the_bounce_service() {
    let inst = instance(
        "qmgr-error",
        "transport_maps = inline:{ { bad.example = error:5.7.1 no mail here } }\n",
    );
    inst.start();
    post(&inst, "user@bad.example", "bounce me");
    assert!(
        inst.wait_log("status=bounced (no mail here)", 1, 10 * SECOND),
        "{}",
        inst.maillog()
    );
    let line = inst.log_lines("status=bounced").pop().expect("line");
    assert!(line.contains("dsn=5.7.1"), "{line}");
    // Without a bounce service nothing is lost: the failure waits in the bounce log.
    assert!(
        inst.wait_log("bounce service unavailable", 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );
    assert_eq!(files_under(&inst.dir.join("queue/bounce")).len(), 1);
    // qmgr moves the message to deferred/ after it logged that.
    let deferred = inst.dir.join("queue/deferred");
    assert!(
        wait_until(5 * SECOND, || files_under(&deferred).len() == 1),
        "deferred: {:?}",
        files_under(&deferred)
    );
}

#[test]
fn messages_left_in_active_are_recovered_at_start() {
    let inst = instance(
        "qmgr-recover",
        "transport_maps = inline:{ { gone.example = discard: } }\n",
    );
    assert!(inst.mailsuite(&["check"]).status.success());
    // A message that a crashed qmgr left in active/.
    let queue = inst.dir.join("queue");
    let env = queue::Envelope {
        sender: "a@example.org".into(),
        recipients: vec![queue::Recipient::new("b@gone.example")],
        ..queue::Envelope::default()
    };
    let mut w =
        queue::Writer::create_in_queue(&queue, "active", &queue::HashSpec::none()).expect("writer");
    w.envelope(&env).expect("envelope");
    w.write_content(b"Subject: crashed\n\nx\n")
        .expect("content");
    let (id, path) = w.finish(&queue::Extracted::default()).expect("finish");
    if kit::is_root() {
        // The queue belongs to mail_owner (nobody in the tests).
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).expect("chown");
    }
    inst.start();
    assert!(
        inst.wait_log(&format!("{id}: removed"), 1, 10 * SECOND),
        "{}",
        inst.maillog()
    );
    assert!(files_under(&queue.join("active")).is_empty());
}

/// A crashed queue manager's unfinished business: a recipient failed and
/// marked done, its notice still owed in the bounce log, the message left
/// in active/ (this start moves it back) or already in incoming/ (an
/// earlier start moved it back, then stopped before taking it). The next
/// queue manager sends both notices: a message that was in incoming/ when
/// it started may have logs, though it skips looking for them in mail
/// that arrives later.
#[test]
fn a_bounce_owed_by_a_crashed_queue_manager_is_sent() {
    let inst = Instance::new("qmgr-owed");
    inst.main_cf("mydestination = $myhostname, localhost\n");
    inst.master_cf(
        "pickup unix n - n 60 1 pickup\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nbounce unix - - n - 0 bounce\n",
    );
    assert!(inst.mailsuite(&["check"]).status.success());
    let queue = inst.dir.join("queue");
    let spec = queue::HashSpec::none();
    let mut ids = Vec::new();
    for (dir, rcpt) in [
        ("active", "gone1@example.net"),
        ("incoming", "gone2@example.net"),
    ] {
        let mut rcpt = queue::Recipient::new(rcpt);
        rcpt.done = true;
        let env = queue::Envelope {
            sender: "a@example.org".into(),
            recipients: vec![rcpt],
            ..queue::Envelope::default()
        };
        let mut w = queue::Writer::create_in_queue(&queue, dir, &spec).expect("writer");
        w.envelope(&env).expect("envelope");
        w.write_content(b"Subject: owed\n\nx\n").expect("content");
        let (id, path) = w.finish(&queue::Extracted::default()).expect("finish");
        let offset = queue::open(&path).expect("read").envelope.recipients[0].offset;
        let entry = queue::logs::Entry {
            recipient: env.recipients[0].address.clone(),
            offset,
            status: "5.1.1".into(),
            action: "failed".into(),
            relay: "none".into(),
            reason: "no such user".into(),
            ..queue::logs::Entry::default()
        };
        queue::logs::append(
            &queue,
            &spec,
            queue::logs::Log::Bounce,
            id.as_str(),
            &[entry],
        )
        .expect("bounce log");
        ids.push(id);
    }
    if kit::is_root() {
        // The queue belongs to mail_owner (nobody in the tests).
        for p in files_under(&queue.join("active"))
            .into_iter()
            .chain(files_under(&queue.join("incoming")))
            .chain(files_under(&queue.join("bounce")))
        {
            std::os::unix::fs::chown(&p, Some(65534), Some(65534)).expect("chown");
        }
    }
    inst.start();
    for id in &ids {
        assert!(
            inst.wait_log(
                &format!("{id}: sender non-delivery notification"),
                1,
                10 * SECOND
            ),
            "{}",
            inst.maillog()
        );
        assert!(
            inst.wait_log(&format!("{id}: removed"), 1, 10 * SECOND),
            "{}",
            inst.maillog()
        );
    }
    assert!(
        wait_until(5 * SECOND, || files_under(&queue.join("bounce")).is_empty()),
        "bounce logs left: {:?}",
        files_under(&queue.join("bounce"))
    );
}

#[test]
fn a_delayed_message_warns_its_sender_once() {
    let inst = instance("qmgr-delay", "relay_domains = far.example\ndelay_warning_time = 1s\nminimal_backoff_time = 1s\nmaximal_backoff_time = 1s\n");
    inst.master_cf("pickup unix n - n 60 1 pickup\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 1 1 qmgr\nbounce unix - - n - 0 bounce\n");
    inst.start();
    post(&inst, "user@far.example", "slow one");
    assert!(
        inst.wait_log("sender delay notification: ", 1, 15 * SECOND),
        "{}",
        inst.maillog()
    );
    std::thread::sleep(3 * SECOND);
    assert_eq!(
        inst.log_lines("sender delay notification: ").len(),
        1,
        "warned more than once:\n{}",
        inst.maillog()
    );
    // The warning as Postfix writes it: the headers only, after a
    // Return-Path, and retried until maximal_queue_lifetime (5d) after
    // the message arrived.
    let line = inst.log_lines("sender delay notification: ").remove(0);
    let new_id = line.rsplit(' ').next().unwrap_or_default().to_string();
    // (the message moves between active/ and deferred/ all the while: look
    // until both files are read)
    let open = |want_new: bool| {
        files_under(&inst.dir.join("queue"))
            .iter()
            .filter(|p| {
                p.components().any(|c| {
                    ["active", "deferred", "incoming"]
                        .map(std::ffi::OsStr::new)
                        .contains(&c.as_os_str())
                })
            })
            .filter(|p| {
                (p.file_name().and_then(|n| n.to_str()) == Some(new_id.as_str())) == want_new
            })
            .find_map(|p| queue::open(p).ok())
    };
    let mut found = None;
    assert!(wait_until(5 * SECOND, || {
        found = open(false).zip(open(true));
        found.is_some()
    }));
    let Some((original, mut notice)) = found else {
        return;
    };
    let arrival = original.envelope.arrival.sec as i64;
    let text = String::from_utf8(notice.content_bytes(b"\n").expect("content")).expect("utf8");
    assert!(
        text.contains("Content-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers\nContent-Transfer-Encoding: 8bit\n\nReturn-Path: <sender@example.org>\n"),
        "{text}"
    );
    assert!(!text.contains("\nbody\n"), "{text}");
    let until = util::time::rfc5322(arrival + 5 * 86400);
    assert!(
        text.contains(&format!("Will-Retry-Until: {until}\n")),
        "{until}\n{text}"
    );
}

/// confirm_delay_cleared: a sender who was told that a message is delayed
/// is told again when it is delivered (Postfix's "delivery status
/// notification"); without it, not.
#[test]
fn a_delay_that_clears_is_confirmed() {
    for confirm in [true, false] {
        let inst = instance(
            "qmgr-delay-cleared",
            &format!(
                "delay_warning_time = 1s\nminimal_backoff_time = 1s\nmaximal_backoff_time = 1s\n\
                 transport_maps = inline:{{ {{far.example = retry:4.4.1 not yet}} }}\n\
                 confirm_delay_cleared = {}\n",
                if confirm { "yes" } else { "no" }
            ),
        );
        inst.master_cf("pickup unix n - n 60 1 pickup\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 1 1 qmgr\nbounce unix - - n - 0 bounce\n");
        inst.start();
        post(&inst, "user@far.example", "slow one");
        assert!(
            inst.wait_log("sender delay notification: ", 1, 15 * SECOND),
            "{}",
            inst.maillog()
        );
        // The destination recovers.
        inst.stop();
        inst.main_cf("transport_maps = inline:{ {far.example = discard:arrived} }\n");
        inst.start();
        assert!(
            inst.wait_log("to=<user@far.example>, relay=none", 2, 15 * SECOND)
                && inst.wait_log("status=sent (discarded: arrived)", 1, 15 * SECOND),
            "{}",
            inst.maillog()
        );
        if confirm {
            assert!(
                inst.wait_log("sender delivery status notification: ", 1, 10 * SECOND),
                "{}",
                inst.maillog()
            );
        } else {
            std::thread::sleep(SECOND);
            assert!(
                inst.log_lines("sender delivery status notification: ")
                    .is_empty(),
                "{}",
                inst.maillog()
            );
        }
    }
}

#[test]
fn qmgr_hands_out_flow_tokens_up_to_the_process_limit() {
    let inst = instance(
        "qmgr-flow",
        "default_process_limit = 7\ntransport_maps = inline:{ { gone.example = discard:test } }\n",
    );
    inst.start();
    for n in 0..3 {
        post(&inst, "nobody@gone.example", &format!("flow {n}"));
    }
    assert!(
        inst.wait_log(": removed", 3, 10 * SECOND),
        "{}",
        inst.maillog()
    );
    let queue = inst.dir.join("queue");
    // cleanup took a token per message, qmgr put them back and topped the
    // supply up to default_process_limit once it had taken everything in.
    let flow = ipc::flow::Flow::open(&queue).expect("public/flow");
    assert!(
        wait_until(5 * SECOND, || flow.count() == 7),
        "{} tokens",
        flow.count()
    );
    // A cleanup that finds none waits at most in_flow_delay, then goes on.
    assert_eq!(flow.get(100), 7);
    let t = std::time::Instant::now();
    assert!(!flow.take(Duration::from_millis(200)));
    assert!(t.elapsed() < SECOND);
}

#[test]
fn relocated_users_bounce_with_their_new_address() {
    let inst = instance(
        "qmgr-relocated",
        "relocated_maps = inline:{ { olduser@localhost = newuser@new.example } }\n",
    );
    inst.start();
    post(&inst, "olduser@localhost", "where did you go");
    assert!(
        inst.wait_log(
            "status=bounced (User has moved to newuser@new.example)",
            1,
            10 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    let line = inst.log_lines("status=bounced").pop().expect("line");
    assert!(
        line.contains("to=<olduser@localhost>") && line.contains("dsn=5.1.6"),
        "{line}"
    );
}

/// header_checks REDIRECT, FILTER and BCC, as Postfix's cleanup and queue
/// manager do them: REDIRECT delivers once, to its address, for every
/// recipient; FILTER sends the message to its transport:destination;
/// BCC adds a blind copy.
#[test]
fn header_checks_redirect_filter_and_bcc() {
    let inst = instance(
        "qmgr-hbc",
        "transport_maps = inline:{ red.example=discard:redirected, copy.example=discard:copied, orig.example=discard:orig }\n",
    );
    let checks = inst.dir.join("header_checks");
    std::fs::write(
        &checks,
        "/^Subject: redirect/ REDIRECT boss@red.example\n\
         /^Subject: filter/ FILTER discard:filtered\n\
         /^Subject: copy/ BCC audit@copy.example\n",
    )
    .expect("header_checks");
    inst.main_cf(&format!("header_checks = regexp:{}\n", checks.display()));
    inst.start();
    let post_to = |rcpts: &[&str], subject: &str| {
        let mut args = vec!["-f", "sender@example.org"];
        args.extend_from_slice(rcpts);
        let out = inst.sendmail(&args, format!("Subject: {subject}\n\nbody\n").as_bytes());
        assert!(out.status.success(), "{out:?}");
    };

    post_to(&["a@orig.example", "b@orig.example"], "redirect");
    assert!(
        inst.wait_log(
            "to=<boss@red.example>, orig_to=<a@orig.example>, relay=none",
            1,
            10 * SECOND
        ),
        "{}",
        inst.maillog()
    );
    let id = queue_id_in(&inst, "to=<boss@red.example>");
    assert!(inst.wait_log(&format!("{id}: removed"), 1, 10 * SECOND));
    let log = inst.maillog();
    assert!(log.contains("status=sent (discarded: redirected)"), "{log}");
    assert!(!log.contains("to=<b@orig.example>"), "{log}");
    assert!(
        log.contains(&format!(
            "{id}: redirect: header Subject: redirect from local;"
        )),
        "{log}"
    );

    post_to(&["a@orig.example"], "filter");
    assert!(
        inst.wait_log("status=sent (discarded: filtered)", 1, 10 * SECOND),
        "{}",
        inst.maillog()
    );

    post_to(&["a@orig.example"], "copy");
    assert!(
        inst.wait_log("to=<audit@copy.example>, relay=none", 1, 10 * SECOND),
        "{}",
        inst.maillog()
    );
    assert!(inst.wait_log("status=sent (discarded: orig)", 1, 10 * SECOND));
    assert!(inst.wait_log("status=sent (discarded: copied)", 1, 10 * SECOND));
}

/// `postsuper -e` and `-f`, as in Postfix 3.5 and later: a deferred
/// message marked to expire is listed with `#` and returned to its sender
/// with the reason it waited for when qmgr next takes it; a held message
/// that `-f` releases is returned with "message is administratively
/// expired".
#[test]
fn postsuper_force_expires_deferred_and_held_mail() {
    let inst = Instance::new("qmgr-expire");
    inst.write("hold_checks", "/^Subject: hold/ HOLD\n");
    inst.main_cf(&format!(
        "mydestination = $myhostname, localhost\nrelay_domains = far.example\nheader_checks = regexp:{}/hold_checks\n",
        inst.dir.display()
    ));
    inst.master_cf("pickup unix n - n 60 1 pickup\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nbounce unix - - n - 0 bounce\nshowq unix n - n - - showq\n");
    inst.start();
    post(&inst, "user@far.example", "wait for me");
    inst.expect_log("status=deferred (mail transport unavailable)", 10 * SECOND);
    let deferred = queue_id_in(&inst, "status=deferred (mail transport unavailable)");
    post(&inst, "other@far.example", "hold me");
    inst.expect_log(": hold: header Subject: hold me", 10 * SECOND);
    let held = queue_id_in(&inst, ": hold: header Subject: hold me");

    let run = |program: &str, args: &[&str]| {
        let out = inst.command(program).args(args).output().expect("run");
        assert!(out.status.success(), "{program} {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let said = run("postsuper", &["-e", &deferred]);
    assert!(said.contains(&format!("{deferred}: expired")), "{said}");
    assert!(said.contains("Force-expired: 1 message"), "{said}");
    let listing = inst
        .command("postqueue")
        .arg("-p")
        .output()
        .expect("postqueue");
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(listing.contains(&format!("{deferred}#")), "{listing}");
    assert!(listing.contains(&format!("{held}!")), "{listing}");
    // Not counted twice.
    assert!(run("postsuper", &["-e", &deferred]).contains("Force-expired: 0 messages"));
    run("postqueue", &["-f"]);
    let line =
        format!("{deferred}: from=<sender@example.org>, status=force-expired, returned to sender");
    inst.expect_log(&line, 10 * SECOND);
    inst.expect_log(
        &format!("{deferred}: sender non-delivery notification: "),
        10 * SECOND,
    );
    // No delivery was tried: the one "mail transport unavailable" line.
    assert_eq!(
        inst.log_lines(&format!("{deferred}: to=<user@far.example>"))
            .len(),
        1
    );

    let said = run("postsuper", &["-f", &held]);
    assert!(
        said.contains(&format!("{held}: released from hold")),
        "{said}"
    );
    assert!(said.contains("Released from hold: 1 message"), "{said}");
    // `mailsuite flush`, as `postfix flush`, is postqueue -f.
    let flushed = inst.mailsuite(&["flush"]);
    assert!(flushed.status.success(), "{flushed:?}");
    let line = format!("{held}: to=<other@far.example>, relay=none, ");
    inst.expect_log(&line, 10 * SECOND);
    let logged = inst.log_lines(&line).pop().expect("line");
    assert!(
        logged.contains("dsn=4.7.0, status=deferred (message is administratively expired)"),
        "{logged}"
    );
    inst.expect_log(
        &format!("{held}: from=<sender@example.org>, status=force-expired"),
        10 * SECOND,
    );
}
