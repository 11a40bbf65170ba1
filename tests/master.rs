//! The master end to end: the real `mailsuite` command starts the real
//! master in a temp dir, with `testworker` (tests/workers) as the service,
//! and plain TCP clients on loopback.

use kit::{alive, is_root, wait_until, Instance, LineClient};
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `Nov 21 10:00:00 mail.example.test mailsuite/master[123]: TEXT`
fn is_postfix_format(line: &str, program: &str, text: &str) -> bool {
    let parts: Vec<&str> = line.splitn(5, ' ').collect();
    if parts.len() != 5 {
        return false;
    }
    let (mon, day, time, host, rest) = (parts[0], parts[1], parts[2], parts[3], parts[4]);
    let prefix = format!("mailsuite/{program}[");
    mon.len() == 3
        && day.len() == 2
        && day.chars().all(|c| c.is_ascii_digit())
        && time.len() == 8
        && time.chars().filter(|c| *c == ':').count() == 2
        && host == "mail.example.test"
        && rest.starts_with(&prefix)
        && rest[prefix.len()..]
            .split_once("]: ")
            .is_some_and(|(pid, t)| pid.parse::<u32>().is_ok() && t.starts_with(text))
}

#[test]
fn start_status_reload_stop_in_postfix_log_format() {
    let inst = Instance::new("lifecycle");
    inst.master_cf("127.0.0.1:0 inet n - n - 5 testworker\n");
    inst.start();
    let st = inst.mailsuite(&["status"]);
    assert!(st.status.success());
    assert!(
        stderr(&st).contains("the mailsuite mail system is running: PID: "),
        "{}",
        stderr(&st)
    );

    let mut c = LineClient::connect(inst.port("127.0.0.1:0"));
    assert!(c.hello().is_some());
    assert_eq!(c.ask("ping").as_deref(), Some("ping"));
    c.quit();

    assert!(inst.mailsuite(&["reload"]).status.success());
    assert!(inst.wait_log("reload -- version", 1, 5 * SECOND));
    inst.stop();
    let st = inst.mailsuite(&["status"]);
    assert_eq!(st.status.code(), Some(1));
    assert!(stderr(&st).contains("the mailsuite mail system is not running"));

    let log = inst.maillog();
    for (program, text) in [
        ("mailsuite", "starting the mailsuite mail system"),
        ("master", "daemon started -- version "),
        ("mailsuite", "refreshing the mailsuite mail system"),
        ("master", "reload -- version "),
        ("mailsuite", "stopping the mailsuite mail system"),
        ("master", "terminating on signal 15"),
    ] {
        assert!(
            log.lines().any(|l| is_postfix_format(l, program, text)),
            "no {program} line \"{text}\" in:\n{log}"
        );
    }
}

#[test]
fn second_start_is_refused() {
    let inst = Instance::new("twice");
    inst.master_cf("127.0.0.1:0 inet n - n - 1 testworker\n");
    inst.start();
    let again = inst.mailsuite(&["start"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("the mailsuite mail system is already running"),
        "{}",
        stderr(&again)
    );
    // The master itself refuses too, even when asked directly.
    let direct = std::process::Command::new(inst.bin.join("master"))
        .arg("-c")
        .arg(&inst.dir)
        .output()
        .expect("run master");
    assert!(!direct.status.success());
    assert!(
        stderr(&direct).contains("already running"),
        "{}",
        stderr(&direct)
    );
    assert_eq!(inst.log_lines("daemon started").len(), 1);
}

#[test]
fn pool_grows_to_maxproc_with_a_warning_then_shrinks_after_max_idle() {
    let inst = Instance::new("pool");
    inst.main_cf("max_idle = 2s");
    inst.master_cf("127.0.0.1:0 inet n - n - 20 testworker\n");
    inst.start();
    let port = inst.port("127.0.0.1:0");

    let mut clients: Vec<LineClient> = (0..25).map(|_| LineClient::connect(port)).collect();
    let mut served = Vec::new();
    for c in clients.iter_mut().take(20) {
        served.push(
            c.hello()
                .expect("one of the first 20 clients got no greeting"),
        );
    }
    served.sort();
    served.dedup();
    assert_eq!(served.len(), 20, "20 clients, 20 different workers");
    for c in clients.iter_mut().skip(20) {
        c.set_timeout(Duration::from_millis(700));
        assert_eq!(
            c.hello(),
            None,
            "a client beyond maxproc was served at once"
        );
    }
    assert_eq!(inst.workers("testworker").len(), 20);
    assert!(inst.wait_log(
        "has reached its process limit \"20\": new clients may be delayed",
        1,
        5 * SECOND
    ));
    // The second of the master's lines, written after the first.
    assert!(inst.wait_log(
        "to avoid this condition, increase the process count",
        1,
        5 * SECOND
    ));

    // The waiting clients are served as soon as workers free up.
    let waiting: Vec<LineClient> = clients.drain(20..).collect();
    for c in clients {
        c.quit();
    }
    for mut c in waiting {
        c.set_timeout(5 * SECOND);
        assert!(c.hello().is_some(), "a waiting client was never served");
        c.quit();
    }
    assert!(inst.workers("testworker").len() <= 20);
    assert!(
        wait_until(8 * SECOND, || inst.workers("testworker").is_empty()),
        "idle workers did not exit after max_idle"
    );
}

#[test]
fn max_use_recycles_a_worker() {
    let inst = Instance::new("maxuse");
    inst.main_cf("max_use = 3");
    inst.master_cf("127.0.0.1:0 inet n - n - 1 testworker\n");
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let mut pids = Vec::new();
    for _ in 0..4 {
        let mut c = LineClient::connect(port);
        pids.push(c.hello().expect("greeting"));
        c.quit();
    }
    assert_eq!(pids[0], pids[1]);
    assert_eq!(pids[1], pids[2]);
    assert_ne!(
        pids[2], pids[3],
        "the worker served more than max_use clients"
    );
    assert!(wait_until(5 * SECOND, || !alive(pids[0])));
}

#[test]
fn a_worker_that_dies_at_start_is_throttled_not_restarted_in_a_loop() {
    let inst = Instance::new("throttle");
    // Long enough that a slow machine still looks within it.
    inst.main_cf("service_throttle_time = 4s");
    inst.master_cf("127.0.0.1:0 inet n - n - 5 testworker crash\n");
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let _waiting = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    assert!(inst.wait_log("exit status 3", 1, 5 * SECOND));
    assert!(inst.wait_log(
        "testworker: bad command startup -- throttling",
        1,
        5 * SECOND
    ));
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        inst.log_lines("exit status 3").len(),
        1,
        "restarted while throttled:\n{}",
        inst.maillog()
    );
    // After the throttle time the master tries again, once.
    assert!(inst.wait_log("exit status 3", 2, 10 * SECOND));
    std::thread::sleep(Duration::from_millis(500));
    assert!(inst.log_lines("exit status 3").len() <= 3);
}

#[test]
fn reload_adds_and_removes_services_without_dropping_connected_clients() {
    let inst = Instance::new("reload");
    inst.master_cf(
        "127.0.0.1:0 inet n - n - 5 testworker\n127.0.0.2:0 inet n - n - 5 testworker\n",
    );
    inst.start();
    let port_a = inst.port("127.0.0.1:0");
    let port_b = inst.port("127.0.0.2:0");
    let mut a = LineClient::connect(port_a);
    let pid_a = a.hello().expect("greeting a");
    let mut b = LineClient::connect_to("127.0.0.2", port_b);
    let pid_b = b.hello().expect("greeting b");

    inst.master_cf(
        "127.0.0.1:0 inet n - n - 5 testworker\n127.0.0.3:0 inet n - n - 5 testworker\n",
    );
    assert!(inst.mailsuite(&["reload"]).status.success());
    assert!(inst.wait_log("reload -- version", 1, 5 * SECOND));

    // Connected clients of the kept and of the removed service go on.
    assert_eq!(a.ask("still there").as_deref(), Some("still there"));
    assert_eq!(b.ask("still there").as_deref(), Some("still there"));
    // The kept service keeps its socket; the new one listens; the removed one is gone.
    assert_eq!(inst.port("127.0.0.1:0"), port_a);
    let port_c = inst.port("127.0.0.3:0");
    let mut c = LineClient::connect_to("127.0.0.3", port_c);
    assert!(c.hello().is_some());
    c.quit();
    assert!(
        std::net::TcpStream::connect(("127.0.0.2", port_b)).is_err(),
        "removed service still accepts"
    );
    let mut a2 = LineClient::connect(port_a);
    assert!(a2.hello().is_some());
    a2.quit();
    a.quit();
    b.quit();
    // Workers of the old generation exit once their client is done.
    assert!(wait_until(5 * SECOND, || !alive(pid_a) && !alive(pid_b)));
}

#[test]
fn stop_leaves_no_process_behind() {
    let inst = Instance::new("stop");
    inst.master_cf(
        "127.0.0.1:0 inet n - n - 5 testworker\ntick unix n - n 60 1 testworker trigger\n",
    );
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let mut busy = LineClient::connect(port);
    busy.hello().expect("greeting");
    let mut idle = LineClient::connect(port);
    idle.hello().expect("greeting");
    idle.quit();
    let master = inst.master_pid().expect("master pid");
    assert!(wait_until(5 * SECOND, || inst.workers("testworker").len() >= 2));
    let workers = inst.workers("testworker");
    inst.stop();
    assert!(!alive(master), "master still running");
    for w in workers {
        assert!(!alive(w), "worker {w} still running after stop");
    }
}

#[test]
fn killing_the_master_makes_every_worker_exit() {
    let inst = Instance::new("orphans");
    inst.master_cf("127.0.0.1:0 inet n - n - 5 testworker\n");
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let mut busy = LineClient::connect(port);
    busy.hello().expect("greeting");
    let mut idle = LineClient::connect(port);
    let idle_pid = idle.hello().expect("greeting");
    idle.quit();
    let master = inst.master_pid().expect("master pid");
    let workers = inst.workers("testworker");
    assert!(workers.len() >= 2);
    // SAFETY: kill on the master this test started.
    unsafe { libc::kill(master, libc::SIGKILL) };
    assert!(
        wait_until(5 * SECOND, || !alive(idle_pid)),
        "idle worker outlived the master"
    );
    // The busy worker finishes its client, then exits.
    assert_eq!(busy.ask("last words").as_deref(), Some("last words"));
    busy.quit();
    assert!(
        wait_until(5 * SECOND, || workers.iter().all(|w| !alive(*w))),
        "a worker outlived the master"
    );
}

#[test]
fn a_multi_client_worker_serves_many_clients_in_one_process() {
    let inst = Instance::new("multi");
    // No process limit: clients that stay connected must not make the
    // master start a process for each (Postfix multi_server semantics).
    inst.master_cf("127.0.0.1:0 inet n - n - - testworker multi\n");
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let mut clients: Vec<LineClient> = (0..5).map(|_| LineClient::connect(port)).collect();
    let pids: Vec<i32> = clients
        .iter_mut()
        .map(|c| c.hello().expect("greeting"))
        .collect();
    assert!(pids.iter().all(|p| *p == pids[0]), "{pids:?}");
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(c.ask(&format!("client {i}")), Some(format!("client {i}")));
    }
    for c in clients {
        c.quit();
    }
}

#[test]
fn wakeup_triggers_a_unix_service_at_start_and_then_periodically() {
    let inst = Instance::new("wakeup");
    inst.master_cf("tick unix n - n 1 1 testworker trigger\n");
    inst.start();
    assert!(inst.dir.join("queue/public/tick").exists());
    assert!(inst.wait_log("testworker[", 1, 5 * SECOND));
    assert!(
        inst.wait_log("wakeup: W", 3, 6 * SECOND),
        "wakeups:\n{}",
        inst.maillog()
    );
    assert_eq!(
        inst.workers("testworker").len(),
        1,
        "one trigger worker serves every wakeup"
    );
}

/// A trigger service takes every wake-up in one process and tells the
/// master only of the first; the master still knows that it worked, so a
/// crash later is not throttled as a failed start: the next wake-up finds
/// a new process at once.
#[test]
fn a_trigger_worker_that_dies_after_working_is_restarted_at_once() {
    let inst = Instance::new("trigger-crash");
    inst.main_cf("service_throttle_time = 60s");
    inst.master_cf("tick unix n - n - 1 testworker trigger\n");
    inst.start();
    let socket = inst.dir.join("queue/public/tick");
    let trigger = |data: &[u8]| {
        let mut s = std::os::unix::net::UnixStream::connect(&socket).expect("connect");
        std::io::Write::write_all(&mut s, data).expect("trigger");
    };
    for (n, data) in [b"a", b"b", b"c"].iter().enumerate() {
        trigger(*data);
        let text = format!("wakeup: {}", String::from_utf8_lossy(*data));
        assert!(inst.wait_log(&text, 1, 5 * SECOND), "{}", inst.maillog());
        assert_eq!(inst.log_lines("wakeup:").len(), n + 1);
    }
    let first = inst.workers("testworker");
    assert_eq!(first.len(), 1, "one process takes every wake-up");
    trigger(b"X");
    assert!(
        inst.wait_log("exit status 4", 1, 5 * SECOND),
        "{}",
        inst.maillog()
    );
    trigger(b"d");
    assert!(
        inst.wait_log("wakeup: d", 1, 5 * SECOND),
        "the service was throttled after a crash of a process that had worked:\n{}",
        inst.maillog()
    );
    assert!(
        inst.log_lines("throttling").is_empty(),
        "{}",
        inst.maillog()
    );
    assert_ne!(inst.workers("testworker"), first, "a new process");
}

#[test]
fn config_errors_name_file_line_and_parameter() {
    let inst = Instance::new("badconf");
    inst.master_cf("127.0.0.1:0 inet n - n - 1 testworker\nbroken tcp n - n - 1 testworker\n");
    let out = inst.mailsuite(&["start"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("master.cf, line 2: unknown service type \"tcp\""),
        "{}",
        stderr(&out)
    );

    inst.master_cf("127.0.0.1:0 inet n - n - 1 testworker\n");
    let line = std::fs::read_to_string(inst.dir.join("main.cf"))
        .expect("main.cf")
        .lines()
        .count()
        + 1;
    inst.main_cf("message_size_limit = 10M");
    let out = inst.mailsuite(&["start"]);
    assert!(!out.status.success());
    let expected =
        format!("main.cf, line {line}: parameter message_size_limit: bad numerical value \"10M\"");
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
    assert!(inst.master_pid().is_none());
}

#[test]
fn workers_drop_privileges_and_chroot_when_started_as_root() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let inst = Instance::new("privs");
    inst.master_cf(
        "127.0.0.1:0 inet n - y - 2 testworker\n127.0.0.2:0 inet n n n - 2 testworker\n",
    );
    inst.start();
    let mut jailed = LineClient::connect(inst.port("127.0.0.1:0"));
    jailed.hello().expect("greeting");
    let me = jailed.ask("whoami").expect("whoami");
    assert!(me.ends_with("uid 65534"), "{me}");
    let pid: i32 = me
        .split(' ')
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("pid");
    let root = std::fs::read_link(format!("/proc/{pid}/root")).expect("root link");
    assert_eq!(
        root,
        inst.dir.join("queue"),
        "not chrooted into the queue directory"
    );
    jailed.quit();
    let mut privileged = LineClient::connect_to("127.0.0.2", inst.port("127.0.0.2:0"));
    privileged.hello().expect("greeting");
    let me = privileged.ask("whoami").expect("whoami");
    assert!(me.ends_with("uid 0"), "{me}");
    let pid: i32 = me
        .split(' ')
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("pid");
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/root")).expect("root link"),
        std::path::Path::new("/")
    );
    privileged.quit();
    // Workers that dropped privileges still log, through the descriptor the master passed.
    inst.stop();
}

#[test]
fn an_ordinary_user_can_start_reload_and_stop() {
    let inst = if is_root() {
        Instance::new_as_nobody("user")
    } else {
        Instance::new("user")
    };
    inst.master_cf("127.0.0.1:0 inet n - n - 2 testworker\n");
    inst.start();
    let mut c = LineClient::connect(inst.port("127.0.0.1:0"));
    c.hello().expect("greeting");
    // SAFETY: geteuid has no preconditions.
    let uid = if is_root() {
        65534
    } else {
        unsafe { libc::geteuid() }
    };
    assert!(c
        .ask("whoami")
        .expect("whoami")
        .ends_with(&format!("uid {uid}")));
    c.quit();
    assert!(inst.mailsuite(&["status"]).status.success());
    assert!(inst.mailsuite(&["reload"]).status.success());
    assert!(inst.wait_log("reload -- version", 1, 5 * SECOND));
    inst.stop();
    assert!(inst.master_pid().is_none());
}

#[test]
fn log_lines_from_many_workers_never_interleave() {
    let inst = Instance::new("interleave");
    inst.master_cf("127.0.0.1:0 inet n - n - 10 testworker\n");
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let handles: Vec<_> = (0..10)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = LineClient::connect(port);
                c.hello().expect("greeting");
                let reply = c.ask("log 300");
                c.quit();
                reply
            })
        })
        .collect();
    for h in handles {
        assert_eq!(
            h.join().expect("client thread").as_deref(),
            Some("logged 300")
        );
    }
    let bursts = inst.log_lines("burst ");
    assert_eq!(bursts.len(), 3000, "lines were lost or merged");
    for line in &bursts {
        assert!(
            is_postfix_format(line, "testworker", "burst "),
            "mangled line: {line}"
        );
        assert!(line.ends_with(" end"), "mangled line: {line}");
    }
}

/// A Postfix main.cf loads unchanged, but `mailsuite check` names each
/// setting nothing here acts on (params::inert), with its file and line.
#[test]
fn check_names_settings_that_have_no_effect() {
    let inst = Instance::new("inert-settings");
    inst.main_cf("smtp_tls_session_cache_database = btree:/x\nmilter_protocol = 6\nmessage_size_limit = 20480000\n");
    let out = inst.mailsuite(&["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let main_cf = inst.dir.join("main.cf");
    let text = std::fs::read_to_string(&main_cf).expect("main.cf");
    let line_of = |name: &str| {
        text.lines()
            .position(|l| l.starts_with(name))
            .map(|i| i + 1)
            .expect("line")
    };
    for name in ["smtp_tls_session_cache_database", "milter_protocol"] {
        let want = format!(
            "{}, line {}: {name} is accepted for compatibility but has no effect in mailsuite",
            main_cf.display(),
            line_of(name)
        );
        assert!(err.contains(&want), "{want:?} in\n{err}");
    }
    assert!(!err.contains("message_size_limit"), "{err}");
}

/// `mailsuite check` of the master.cf mailsuite ships names no program
/// that is missing; Postfix's own lines for the error, retry and discard
/// transports (a copied master.cf) get a note, not a warning.
#[test]
fn the_shipped_master_cf_checks_clean() {
    let inst = Instance::new("shipped-master");
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../etc/master.cf"))
        .expect("etc/master.cf");
    inst.master_cf(&shipped);
    let out = inst.mailsuite(&["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    inst.master_cf(&format!(
        "{shipped}error     unix  -       -       n       -       -       error\nretry     unix  -       -       n       -       -       error\n"
    ));
    let out = inst.mailsuite(&["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("service retry/unix: not needed, qmgr handles the error, retry and discard transports itself"),
        "{}",
        stderr(&out)
    );
}

/// `mailsuite logrotate` does what `postfix logrotate` does: maillog_file
/// moves to FILE.SUFFIX and is compressed, the master goes on in a new
/// file, and empty settings or a device are refused with Postfix's words.
#[test]
fn logrotate_moves_compresses_and_reopens_the_maillog() {
    let inst = Instance::new("logrotate");
    inst.master_cf("127.0.0.1:0 inet n - n - 5 testworker\n");
    inst.main_cf("maillog_file_rotate_suffix = old-%Y\n");
    inst.start();
    assert!(inst.wait_log("daemon started", 1, 5 * SECOND));
    let rotated = inst.mailsuite(&["logrotate"]);
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    let year = std::process::Command::new("date")
        .arg("+%Y")
        .output()
        .expect("date");
    let year = String::from_utf8_lossy(&year.stdout).trim().to_string();
    let gz = inst.dir.join(format!("maillog.old-{year}.gz"));
    assert!(gz.exists(), "{gz:?}");
    assert!(!inst.dir.join(format!("maillog.old-{year}")).exists());
    let old = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(&gz)
        .output()
        .expect("gzip -dc");
    assert!(String::from_utf8_lossy(&old.stdout).contains("daemon started"));
    // The master writes its next lines to a new maillog_file.
    assert!(inst.mailsuite(&["reload"]).status.success());
    assert!(inst.wait_log("reload -- version", 1, 5 * SECOND));
    assert!(!inst.maillog().contains("daemon started"));

    inst.main_cf("maillog_file_compressor =\n");
    let refused = inst.mailsuite(&["logrotate"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains(
            "fatal: empty 'maillog_file_compressor' parameter value - logfile rotation failed"
        ),
        "{}",
        stderr(&refused)
    );
    inst.main_cf("maillog_file_compressor = false\n");
    let failed = inst.mailsuite(&["logrotate"]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(
        stderr(&failed).contains("rotation failed: false"),
        "{}",
        stderr(&failed)
    );
    inst.stop();
}

/// maillog_file_prefixes, Postfix's guard against a mistake in
/// maillog_file (the master opens it as root): a file outside the
/// prefixes stops the commands and the master before anything is written
/// to it.
#[test]
fn a_maillog_file_outside_maillog_file_prefixes_is_refused() {
    let inst = Instance::new("maillog-prefixes");
    inst.master_cf("127.0.0.1:0 inet n - n - 5 testworker\n");
    inst.main_cf("maillog_file_prefixes = /var, /dev/stdout\n");
    let refused = inst.mailsuite(&["start"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    let want = format!(
        "fatal: maillog_file value '{}' does not match any prefix in maillog_file_prefixes",
        inst.dir.join("maillog").display()
    );
    assert!(stderr(&refused).contains(&want), "{}", stderr(&refused));
    assert!(!inst.dir.join("maillog").exists());
    assert!(inst.mailsuite(&["status"]).status.code() == Some(1));
}
