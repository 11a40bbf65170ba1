//! Dates as mail headers write them.

/// RFC 5322 date-time in local time, as Postfix writes it in Received: and
/// Date: headers: `Sat, 21 Nov 2026 10:00:00 +0000 (UTC)`.
pub fn rfc5322(secs: i64) -> String {
    strftime(secs, c"%a, %d %b %Y %H:%M:%S %z (%Z)")
}

/// `Nov 21 10:00:00` in local time, as the maillog and Postfix's
/// statistics lines write a moment.
pub fn syslog_stamp(secs: i64) -> String {
    strftime(secs, c"%b %d %H:%M:%S")
}

/// `YYYYMMDDhhmmss` in UTC, the first part of Postfix's Message-ID.
pub fn compact_utc(secs: i64) -> String {
    // SAFETY: gmtime_r/strftime write only into the buffers given.
    unsafe {
        let t: libc::time_t = secs as libc::time_t;
        let mut tm: libc::tm = std::mem::zeroed();
        libc::gmtime_r(&t, &mut tm);
        format_tm(&tm, c"%Y%m%d%H%M%S")
    }
}

/// `secs` in local time as the strftime(3) format `fmt` writes it (a
/// configured format such as `maillog_file_rotate_suffix`); None when the
/// format holds a NUL or writes nothing.
pub fn local_format(secs: i64, fmt: &str) -> Option<String> {
    let fmt = std::ffi::CString::new(fmt).ok()?;
    Some(strftime(secs, &fmt)).filter(|s| !s.is_empty())
}

fn strftime(secs: i64, fmt: &std::ffi::CStr) -> String {
    // SAFETY: localtime_r/strftime write only into the buffers given.
    unsafe {
        let t: libc::time_t = secs as libc::time_t;
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        format_tm(&tm, fmt)
    }
}

/// # Safety
/// `tm` must be a valid broken-down time.
unsafe fn format_tm(tm: &libc::tm, fmt: &std::ffi::CStr) -> String {
    let mut buf = [0u8; 128];
    // SAFETY: the buffer and its length are passed together; the caller vouches for tm.
    let n = unsafe { libc::strftime(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr(), tm) };
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Seconds and microseconds since the epoch, now (a message's arrival).
pub fn now_sec_usec() -> (u64, u32) {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.as_secs(), d.subsec_micros()))
        .unwrap_or((0, 0))
}

/// Seconds since the epoch, now, with the fraction: the delays that
/// delivery log lines show.
pub fn now_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(compact_utc(0), "19700101000000");
        let d = rfc5322(86400 * 365);
        // "Fri, 01 Jan 1971 00:00:00 +0000 (UTC)" in UTC; the zone may differ.
        assert!(d.contains(" 1971 ") || d.contains(" 1970 "), "{d}");
        assert!(d.ends_with(')'));
    }
}
