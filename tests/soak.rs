//! Durability under faults (DESIGN §4): 1,000 messages go in over SMTP
//! while the master and every worker are killed with SIGKILL at random
//! moments and the system is started again each time. At the end every
//! message that got a 250 has been delivered; none is lost, and the
//! duplicates (possible only between a mailbox fsync and the queue file
//! update) are counted and printed.

use kit::{alive, wait_until, Instance};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

const MESSAGES: usize = 1000;

/// A small xorshift generator: the test needs variety, not quality.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below.max(1)
    }
}

/// One SMTP transaction; true only on a 250 after the final dot.
fn send_one(port: u16, tag: usize) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut r = BufReader::new(s.try_clone()?);
        let mut w = s;
        let mut line = String::new();
        let mut reply = |r: &mut BufReader<TcpStream>| -> std::io::Result<String> {
            loop {
                line.clear();
                if r.read_line(&mut line)? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                if line.len() < 4 || line.as_bytes()[3] != b'-' {
                    return Ok(line.clone());
                }
            }
        };
        if !reply(&mut r)?.starts_with("220") {
            return Ok(false);
        }
        for (cmd, want) in [
            ("EHLO soak.example\r\n".to_string(), "250"),
            ("MAIL FROM:<soak@example.org>\r\n".to_string(), "250"),
            ("RCPT TO:<soak@localhost>\r\n".to_string(), "250"),
            ("DATA\r\n".to_string(), "354"),
        ] {
            w.write_all(cmd.as_bytes())?;
            if !reply(&mut r)?.starts_with(want) {
                return Ok(false);
            }
        }
        w.write_all(format!("Subject: soak-{tag}\r\n\r\nmessage soak-{tag}\r\n.\r\n").as_bytes())?;
        let ok = reply(&mut r)?.starts_with("250");
        let _ = w.write_all(b"QUIT\r\n");
        Ok(ok)
    };
    attempt().unwrap_or(false)
}

/// Every process of the instance: the master and all its descendants.
fn processes(master: i32) -> Vec<i32> {
    let mut out = vec![master];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        if let Ok(rd) = std::fs::read_dir("/proc") {
            for e in rd.flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                    continue;
                };
                let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                    continue;
                };
                let Some(close) = stat.rfind(')') else {
                    continue;
                };
                let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
                if fields.get(1).and_then(|p| p.parse::<i32>().ok()) == Some(parent)
                    && !out.contains(&pid)
                {
                    out.push(pid);
                }
            }
        }
        i += 1;
    }
    out
}

fn count_tags(mbox: &Path) -> std::collections::HashMap<usize, usize> {
    let mut counts = std::collections::HashMap::new();
    let text = std::fs::read_to_string(mbox).unwrap_or_default();
    for line in text.lines() {
        if let Some(n) = line
            .strip_prefix("Subject: soak-")
            .and_then(|t| t.trim().parse::<usize>().ok())
        {
            *counts.entry(n).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn no_accepted_message_is_lost_when_everything_is_killed() {
    let inst = Instance::new("soak");
    let mbox = inst.dir.join("soak.mbox");
    std::fs::write(&mbox, "").expect("mbox");
    if kit::is_root() {
        // File deliveries of aliases run as default_privs (nobody).
        std::os::unix::fs::chown(&mbox, Some(65534), Some(65534)).expect("chown");
    }
    inst.main_cf(&format!(
        "mydestination = $myhostname, localhost\nalias_maps = hash:{d}/aliases\nalias_database = hash:{d}/aliases\nminimal_backoff_time = 1s\nmaximal_backoff_time = 2s\nmynetworks = 127.0.0.0/8\n",
        d = inst.dir.display()
    ));
    std::fs::write(
        inst.dir.join("aliases"),
        format!("soak: {}\n", mbox.display()),
    )
    .expect("aliases");
    let out = std::process::Command::new(inst.bin.join("newaliases"))
        .env("MAIL_CONFIG", &inst.dir)
        .output()
        .expect("newaliases");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    inst.master_cf(
        "127.0.0.1:0 inet n - n - 20 smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 1 1 qmgr\nlocal unix - n n - - local\nbounce unix - - n - 0 bounce\npickup unix n - n 60 1 pickup\n",
    );
    inst.start();
    let port = Arc::new(Mutex::new(inst.port("127.0.0.1:0")));

    let accepted = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicBool::new(false));
    let sender = {
        let (accepted, done, port) = (Arc::clone(&accepted), Arc::clone(&done), Arc::clone(&port));
        std::thread::spawn(move || {
            for tag in 0..MESSAGES {
                let p = *port.lock().unwrap_or_else(|e| e.into_inner());
                if send_one(p, tag) {
                    accepted.lock().unwrap_or_else(|e| e.into_inner()).push(tag);
                } else {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    let mut rng = Rng(seed);
    let mut kills = 0;
    // While the sender sends, and at least three times in all: a fast
    // machine may have sent everything before then, and the kills then fall
    // on the deliveries still under way.
    while (!done.load(Ordering::SeqCst) || kills < 3) && kills < 8 {
        std::thread::sleep(Duration::from_millis(100 + rng.next(500)));
        let Some(master) = inst.master_pid() else {
            continue;
        };
        let all = processes(master);
        for pid in &all {
            // SAFETY: kill on processes of the instance this test started.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        assert!(
            wait_until(Duration::from_secs(10), || all.iter().all(|p| !alive(*p))),
            "processes survived SIGKILL"
        );
        kills += 1;
        inst.start();
        // Same listener spec, new socket: the port may change.
        *port.lock().unwrap_or_else(|e| e.into_inner()) = inst.port("127.0.0.1:0");
    }
    sender.join().expect("sender thread");
    let accepted = accepted.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut counts = count_tags(&mbox);
    while Instant::now() < deadline && accepted.iter().any(|t| !counts.contains_key(t)) {
        std::thread::sleep(Duration::from_millis(500));
        let _ = std::process::Command::new(inst.bin.join("postqueue"))
            .arg("-f")
            .env("MAIL_CONFIG", &inst.dir)
            .output();
        counts = count_tags(&mbox);
    }
    let lost: Vec<usize> = accepted
        .iter()
        .copied()
        .filter(|t| !counts.contains_key(t))
        .collect();
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    eprintln!(
        "soak: {} kills, {} of {MESSAGES} messages accepted, {} delivered, {} lost, {duplicates} duplicates",
        kills,
        accepted.len(),
        counts.len(),
        lost.len()
    );
    assert!(kills >= 3, "the killer did not get to work");
    assert!(
        accepted.len() > MESSAGES / 2,
        "too few messages accepted: {}",
        accepted.len()
    );
    assert!(
        lost.is_empty(),
        "accepted but never delivered: {lost:?}\n(see {})",
        inst.dir.display()
    );
}
