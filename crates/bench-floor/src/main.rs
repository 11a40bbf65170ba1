//! bench-floor: the file-system work one message needs, and nothing else.
//!
//! `bench-floor ingest|e2e DIR WRITERS MESSAGES SIZE`
//!
//! A lower bound for `scripts/bench --floor`: WRITERS threads share MESSAGES
//! messages and do for each only what DESIGN §4 asks of any implementation,
//! with no network, no IPC, no parsing and no logging:
//!
//! * `ingest`: a queue file: created under a temporary name in
//!   `DIR/incoming`, SIZE bytes written, fsync'd, renamed to its final name,
//!   the directory fsync'd;
//! * `e2e`: that, then the Maildir file: created in `DIR/tmp`, written,
//!   fsync'd, renamed into `DIR/new`, `new/` fsync'd; then the queue file
//!   removed.
//!
//! It prints one JSON line: `{"rate": messages/s, "cpu_ms": user+system CPU
//! ms per message}`. Privileges: none; it writes only under DIR, which it
//! creates. A failed system call ends it with the call and the error.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// What each message costs: the queue file alone, or also its delivery.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Ingest,
    EndToEnd,
}

/// Writes `data` durably as `dir/name` under DESIGN §4's sequence.
fn put(dir: &Path, temp: &Path, name: &Path, data: &[u8]) -> Result<(), String> {
    let step = |what: &str, p: &Path| {
        let what = format!("{what} {}", p.display());
        move |e: std::io::Error| format!("{what}: {e}")
    };
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)
        .map_err(step("create", temp))?;
    f.write_all(data).map_err(step("write", temp))?;
    f.sync_all().map_err(step("fsync", temp))?;
    drop(f);
    fs::rename(temp, name).map_err(step("rename", temp))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(step("fsync", dir))
}

fn message(top: &Path, mode: Mode, i: usize, data: &[u8]) -> Result<(), String> {
    let incoming = top.join("incoming");
    let queue_file = incoming.join(format!("q{i}"));
    put(
        &incoming,
        &incoming.join(format!("t{i}")),
        &queue_file,
        data,
    )?;
    if mode == Mode::EndToEnd {
        let new = top.join("new");
        put(
            &new,
            &top.join("tmp").join(format!("m{i}")),
            &new.join(format!("m{i}")),
            data,
        )?;
        fs::remove_file(&queue_file)
            .map_err(|e| format!("remove {}: {e}", queue_file.display()))?;
    }
    Ok(())
}

/// User plus system CPU seconds of this process (all its threads).
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes one rusage into the zeroed struct it is given.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}

fn run(mode: Mode, top: &Path, writers: usize, messages: usize, size: usize) -> Result<(), String> {
    for d in ["incoming", "tmp", "new"] {
        fs::create_dir_all(top.join(d)).map_err(|e| format!("mkdir {}: {e}", top.display()))?;
    }
    let data: Vec<u8> = b"x".repeat(size);
    let (cpu0, start) = (cpu_seconds(), Instant::now());
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..writers)
            .map(|w| {
                let data = &data;
                s.spawn(move || {
                    (w..messages)
                        .step_by(writers)
                        .try_for_each(|i| message(top, mode, i, data))
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|h| h.join().unwrap_or_else(|_| Err("a writer panicked".into())))
    })?;
    let (wall, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    println!(
        "{{\"rate\": {:.1}, \"cpu_ms\": {:.4}}}",
        messages as f64 / wall,
        1000.0 * cpu / messages as f64
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: bench-floor ingest|e2e DIR WRITERS MESSAGES SIZE";
    let [mode, dir, writers, messages, size] = args.as_slice() else {
        eprintln!("{usage}");
        return ExitCode::from(64);
    };
    let mode = match mode.as_str() {
        "ingest" => Mode::Ingest,
        "e2e" => Mode::EndToEnd,
        _ => {
            eprintln!("{usage}");
            return ExitCode::from(64);
        }
    };
    let number = |s: &str| s.parse::<usize>().ok().filter(|&n| n > 0);
    let (Some(writers), Some(messages), Some(size)) =
        (number(writers), number(messages), number(size))
    else {
        eprintln!("{usage}");
        return ExitCode::from(64);
    };
    match run(mode, &PathBuf::from(dir), writers, messages, size) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-floor: {e}");
            ExitCode::from(74)
        }
    }
}
