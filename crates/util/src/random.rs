//! Unpredictable bytes from the kernel (cookies, GUIDs, SASL challenges).

use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

/// `N` random bytes from /dev/urandom; where that cannot be read (a
/// chroot without /dev), the time and process id, which are unique but
/// not secret — callers needing secrecy must not run there.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok();
    if !ok {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            .to_le_bytes();
        let pid = std::process::id().to_le_bytes();
        for (i, x) in b.iter_mut().enumerate() {
            *x = t[i % t.len()] ^ pid[i % pid.len()].rotate_left(i as u32);
        }
    }
    b
}

/// `N` random bytes as lower-case hex.
pub fn hex<const N: usize>() -> String {
    bytes::<N>().iter().map(|x| format!("{x:02x}")).collect()
}
