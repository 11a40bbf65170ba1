//! Faults in the queue: a full file system and a failing write. smtpd
//! answers with a temporary error, nothing partial is left in the queue,
//! and mail flows again when space returns.

use kit::{is_root, wait_until, Instance, SystemUser};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// Sends one message with smtplib; returns the SMTP code and text of the failure, or 250.
fn send(port: u16, size: usize) -> String {
    let script = format!(
        "import smtplib\ntry:\n    s = smtplib.SMTP('127.0.0.1', {port})\n    s.sendmail('a@example.org', ['b@example.org'], 'Subject: fill\\r\\n\\r\\n' + ('x' * 76 + '\\r\\n') * ({size} // 78))\n    print('250')\n    s.quit()\nexcept smtplib.SMTPResponseException as e:\n    print(e.smtp_code, e.smtp_error.decode())\nexcept smtplib.SMTPRecipientsRefused as e:\n    print(list(e.recipients.values())[0])\nexcept smtplib.SMTPSenderRefused as e:\n    print(e.smtp_code, e.smtp_error.decode())\n"
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn queue_files(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn instance(name: &str) -> Instance {
    let inst = Instance::new(name);
    inst.main_cf("mynetworks = 127.0.0.0/8\nmessage_size_limit = 400000\n");
    // No queue manager: accepted mail stays in incoming/ where the test can see it.
    inst.master_cf("127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\n");
    inst
}

/// Unmounts the test's tmpfs when dropped (after the instance, whose
/// directory could not be removed while the mount was in it: removed now,
/// unless the test failed and the directory is to be kept).
struct Unmount(Option<std::path::PathBuf>);

impl Drop for Unmount {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = Command::new("umount").arg("-l").arg(dir).status();
            if !std::thread::panicking() {
                if let Some(inst_dir) = dir.parent() {
                    let _ = std::fs::remove_dir_all(inst_dir);
                }
            }
        }
    }
}

#[test]
fn a_full_queue_file_system_defers_and_recovers() {
    if !is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    // Declared before the instance so that it is dropped after it: the
    // instance's drop stops the master, whose pid file is on the tmpfs.
    let mut unmount = Unmount(None);
    let inst = instance("diskfull");
    let queue = inst.dir.join("queue");
    std::fs::create_dir_all(&queue).expect("mkdir");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&queue)
        .status()
        .expect("mount");
    if !mounted.success() {
        eprintln!("skipped: cannot mount tmpfs here");
        return;
    }
    unmount.0 = Some(queue.clone());
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let mut accepted = 0;
    let mut refusal = String::new();
    for _ in 0..20 {
        let r = send(port, 300_000);
        if r == "250" {
            accepted += 1;
        } else {
            refusal = r;
            break;
        }
    }
    assert!(accepted >= 1, "nothing accepted before the disk filled");
    assert!(
        refusal.starts_with("452") && refusal.contains("4.3.1 Insufficient system storage"),
        "refusal: {refusal:?}\n{}",
        inst.maillog()
    );
    assert!(inst.wait_log("452 4.3.1 Insufficient system storage", 1, 5 * SECOND));
    // The refusal is a resource error, which the default notify_classes
    // reports: the postmaster's transcript (small enough to fit) is the
    // only other file. Wait for the session's end, which sends it.
    assert!(inst.wait_log("disconnect from", accepted + 1, 5 * SECOND));
    let incoming = queue.join("incoming");
    let mut files = Vec::new();
    let mut notices = 0;
    assert!(wait_until(5 * SECOND, || queue_files(&incoming)
        .iter()
        .all(|f| !f.to_string_lossy().contains('.'))));
    for f in queue_files(&incoming) {
        let qf =
            queue::open(&f).unwrap_or_else(|e| panic!("{} does not validate: {e}", f.display()));
        if qf.envelope.sender.starts_with("double-bounce@") {
            notices += 1;
        } else {
            files.push(f);
        }
    }
    assert_eq!(
        files.len(),
        accepted,
        "one complete file per accepted message, nothing partial"
    );
    assert!(notices <= 1, "{notices} notices");
    // Space returns (the mail was delivered, say): mail flows again.
    for f in files {
        std::fs::remove_file(f).expect("remove");
    }
    assert_eq!(send(port, 300_000), "250");
}

/// Mounts a tmpfs of `size` on `dir`; false where that cannot be done.
fn mount_tmpfs(dir: &Path, size: &str) -> bool {
    std::fs::create_dir_all(dir).expect("mkdir");
    Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size},mode=755"),
            "tmpfs",
        ])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

/// The disk fills during a run, with the queue manager and local delivery
/// running: the mailboxes' file system fills, so deliveries wait in the
/// queue (deferred, "No space left on device"); when space returns they
/// are delivered, every message that got a 250 exactly once.
#[test]
fn mail_waits_while_the_mailbox_disk_is_full_and_flows_when_space_returns() {
    if !is_root() {
        eprintln!("skipped: mounting a small tmpfs and useradd need root");
        return;
    }
    let user = SystemUser::new("df");
    let mut unmount_spool = Unmount(None);
    let inst = Instance::new("diskfull-delivery");
    let spool = inst.dir.join("mail");
    if !mount_tmpfs(&spool, "600k") {
        eprintln!("skipped: cannot mount tmpfs here");
        return;
    }
    unmount_spool.0 = Some(spool.clone());
    inst.main_cf(&format!(
        "mynetworks = 127.0.0.0/8\nmydestination = localhost\nalias_maps =\nmail_spool_directory = {}\nminimal_backoff_time = 1s\nmaximal_backoff_time = 2s\nqueue_run_delay = 1s\n",
        spool.display()
    ));
    inst.master_cf(
        "127.0.0.1:0 inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\nlocal unix - n n - - local\nbounce unix - - n - 0 bounce\n",
    );
    inst.start();
    let port = inst.port("127.0.0.1:0");
    let rcpt = format!("{}@localhost", user.name);
    let mut accepted = 0;
    for i in 0..12 {
        let script = format!(
            "import smtplib\ns = smtplib.SMTP('127.0.0.1', {port})\ns.sendmail('a@example.org', ['{rcpt}'], 'Subject: fill {i}\\r\\n\\r\\n' + ('x' * 76 + '\\r\\n') * 1300)\nprint('250')\ns.quit()\n"
        );
        let out = Command::new("python3")
            .args(["-c", &script])
            .output()
            .expect("python3");
        if String::from_utf8_lossy(&out.stdout).trim() == "250" {
            accepted += 1;
        }
    }
    assert_eq!(
        accepted,
        12,
        "the queue has room: all accepted\n{}",
        inst.maillog()
    );
    let mbox = spool.join(&user.name);
    let delivered = || {
        std::fs::read_to_string(&mbox)
            .map(|t| t.matches("\nSubject: fill ").count())
            .unwrap_or(0)
    };
    assert!(
        inst.wait_log("No space left on device", 1, 20 * SECOND),
        "the mailbox disk never filled\n{}",
        inst.maillog()
    );
    assert!(delivered() < accepted, "{}", inst.maillog());
    assert!(
        inst.log_lines("status=deferred")
            .iter()
            .all(|l| l.contains("dsn=4.")),
        "a full disk is temporary"
    );
    assert!(
        inst.log_lines("status=bounced").is_empty(),
        "{}",
        inst.maillog()
    );
    // Space returns.
    let grown = Command::new("mount")
        .args(["-o", "remount,size=16m"])
        .arg(&spool)
        .status()
        .expect("remount");
    assert!(grown.success());
    assert!(
        wait_until(30 * SECOND, || delivered() == accepted),
        "delivered {} of {accepted}\n{}",
        delivered(),
        inst.maillog()
    );
    let text = std::fs::read_to_string(&mbox).expect("mbox");
    for i in 0..accepted {
        assert_eq!(
            text.matches(&format!("\nSubject: fill {i}\n")).count(),
            1,
            "message {i} exactly once"
        );
    }
}

#[test]
fn a_failing_queue_write_is_a_temporary_error_and_leaves_nothing() {
    let inst = instance("writefail");
    inst.start_with_env(&[("MAILSUITE_FAIL_POINT", "queue-fsync")]);
    let port = inst.port("127.0.0.1:0");
    let r = send(port, 1000);
    assert!(
        r.starts_with("451") && r.contains("4.3.0 Error: queue file write error"),
        "{r:?}\n{}",
        inst.maillog()
    );
    let incoming = inst.dir.join("queue/incoming");
    assert!(
        wait_until(5 * SECOND, || queue_files(&incoming).is_empty()),
        "{:?}",
        queue_files(&incoming)
    );
}
