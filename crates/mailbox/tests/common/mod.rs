//! Helpers for the mailbox integration tests: a fresh directory per test,
//! kept when the test fails (STYLE 9), and child processes that re-run this
//! test binary in a given mode.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh directory, removed when the test passes, kept when it panics.
pub struct TestDir(pub PathBuf);

impl TestDir {
    pub fn new(name: &str) -> TestDir {
        let p = std::env::temp_dir()
            .join("mailsuite-mailbox-tests")
            .join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create test dir");
        TestDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test directory kept: {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The environment variable that puts a re-run test binary in child mode.
pub const CHILD_ENV: &str = "MAILBOX_TEST_CHILD";

/// Starts this test binary again, running only the test `entry` with
/// `CHILD_ENV=mode` and the extra variables; returns the running child.
pub fn spawn_child(entry: &str, mode: &str, vars: &[(&str, String)]) -> std::process::Child {
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", entry, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, mode)
        .stdout(std::process::Stdio::null());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn child")
}

/// A message whose every body line names it, so a mix-up shows.
pub fn tagged_message(tag: &str, lines: usize) -> Vec<u8> {
    let mut m =
        format!("From: a@example.com\nSubject: message {tag}\nX-Tag: {tag}\n\n").into_bytes();
    for i in 0..lines {
        m.extend_from_slice(
            format!("{tag} line {i:06} ........................................\n").as_bytes(),
        );
    }
    m
}
