//! Password hashes verified with the system's `crypt_r` (libxcrypt on
//! Debian): yescrypt (`$y$`, what Debian 12's chpasswd writes), SHA-512
//! (`$6$`), SHA-256 (`$5$`), bcrypt (`$2b$`), MD5 (`$1$`) and DES.

use std::ffi::{c_char, c_void, CStr, CString};

/// libxcrypt's `struct crypt_data` is 32768 bytes; glibc's older one is
/// smaller. The buffer is sized for the larger.
const CRYPT_DATA_SIZE: usize = 32768;

#[link(name = "crypt")]
extern "C" {
    fn crypt_r(phrase: *const c_char, setting: *const c_char, data: *mut c_void) -> *mut c_char;
}

/// `crypt_r(password, setting)`: the hash, or None when the library
/// refuses the setting (unknown method, malformed hash) or the password
/// holds a NUL byte.
pub fn crypt(password: &[u8], setting: &str) -> Option<String> {
    let phrase = CString::new(password).ok()?;
    let setting = CString::new(setting).ok()?;
    let mut data = vec![0u8; CRYPT_DATA_SIZE];
    // SAFETY: both strings are NUL-terminated and live across the call;
    // `data` is a zeroed buffer at least as large as struct crypt_data,
    // which crypt_r owns for the duration of the call; the result points
    // into `data` and is copied before `data` is dropped.
    let out = unsafe {
        let p = crypt_r(phrase.as_ptr(), setting.as_ptr(), data.as_mut_ptr().cast());
        if p.is_null() {
            return None;
        }
        CStr::from_ptr(p).to_string_lossy().into_owned()
    };
    data.fill(0);
    // libxcrypt's failure tokens start with '*'.
    (!out.starts_with('*')).then_some(out)
}

/// Whether `password` matches the crypt(3) `hash`. Locked or empty
/// hashes (`!…`, `*`, ``) never match.
pub fn verify(password: &[u8], hash: &str) -> bool {
    if hash.is_empty() || hash.starts_with('!') || hash.starts_with('*') {
        return false;
    }
    match crypt(password, hash) {
        Some(h) => constant_time_eq(h.as_bytes(), hash.as_bytes()),
        None => false,
    }
}

/// Compares without stopping at the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha512_crypt_known_answer() {
        // From the SHA-crypt specification's test vectors.
        let h = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";
        assert!(verify(b"Hello world!", h));
        assert!(!verify(b"Hello world", h));
    }

    #[test]
    fn yescrypt_round_trip() {
        let h = crypt(b"s3cret", "$y$j9T$abcdefghijklmnopqrstu/$").expect("yescrypt");
        assert!(h.starts_with("$y$"));
        assert!(verify(b"s3cret", &h));
        assert!(!verify(b"wrong", &h));
    }

    #[test]
    fn locked_and_bad_hashes_never_match() {
        assert!(!verify(b"", ""));
        assert!(!verify(b"x", "!"));
        assert!(!verify(b"x", "*"));
        assert!(!verify(b"x", "$9$nonsense"));
        assert!(!verify(b"a\0b", "$6$saltstring$x"));
    }
}
