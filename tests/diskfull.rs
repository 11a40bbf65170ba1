//! Faults in the queue: a full file system and a failing write. smtpd
//! answers with a temporary error, nothing partial is left in the queue,
//! and mail flows again when space returns.

use kit::{is_root, wait_until, Instance};
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
    let incoming = queue.join("incoming");
    let files = queue_files(&incoming);
    assert_eq!(
        files.len(),
        accepted,
        "one complete file per accepted message, nothing partial"
    );
    for f in &files {
        assert!(queue::open(f).is_ok(), "{} does not validate", f.display());
    }
    assert!(inst.wait_log("452 4.3.1 Insufficient system storage", 1, 5 * SECOND));
    // Space returns (the mail was delivered, say): mail flows again.
    for f in files {
        std::fs::remove_file(f).expect("remove");
    }
    assert_eq!(send(port, 300_000), "250");
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
