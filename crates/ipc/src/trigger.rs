//! Trigger requests: single bytes written to a trigger service's socket
//! (`public/qmgr`, `public/pickup`), Postfix's letters. Several may arrive
//! in one request; unknown bytes are ignored.

/// Scan the incoming queue (new mail from cleanup).
pub const SCAN_INCOMING: u8 = b'I';
/// Scan the deferred queue for messages that are due.
pub const SCAN_DEFERRED: u8 = b'D';
/// Scan both queues.
pub const SCAN_ALL: u8 = b'A';
/// Treat every deferred message as due now and forget which transports
/// failed (`postqueue -f`, `sendmail -q`); sent with [`SCAN_ALL`].
pub const FLUSH: u8 = b'F';
/// The master's periodic wakeup.
pub const WAKEUP: u8 = b'W';
/// Make the deferred mail for one site due now (`postqueue -s`): `S`, the
/// site in lower case (so none of its letters reads as another request),
/// a newline.
pub const FLUSH_SITE: u8 = b'S';

/// The request that flushes `site`'s mail.
pub fn flush_site_request(site: &str) -> Vec<u8> {
    let mut r = vec![FLUSH_SITE];
    r.extend(site.to_ascii_lowercase().bytes().filter(|b| *b != b'\n'));
    r.push(b'\n');
    r
}

/// What a (coalesced) trigger asks for: the one-letter requests, and the
/// sites of [`FLUSH_SITE`] requests (those that are well formed: a domain
/// name or an address literal).
pub fn parse(data: &[u8]) -> (Vec<u8>, Vec<String>) {
    let (mut codes, mut sites) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < data.len() {
        if data[i] == FLUSH_SITE {
            let end = data[i..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(data.len(), |e| i + e);
            let site = &data[i + 1..end];
            let valid = !site.is_empty()
                && site.len() <= 255
                && site
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(b));
            if valid {
                sites.push(String::from_utf8_lossy(site).into_owned());
            }
            i = end + 1;
        } else {
            codes.push(data[i]);
            i += 1;
        }
    }
    (codes, sites)
}

/// Sends `request` to the trigger socket at `path` without ever blocking:
/// when the service's backlog is full, it has wake-ups pending already and
/// this one is dropped (an error the caller may ignore). A service that is
/// not running is not an error either: it scans when it starts.
pub fn send(path: &std::path::Path, request: &[u8]) -> std::io::Result<()> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: socket(2) returns a new descriptor or -1.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor that we own from here on.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let stream = std::os::unix::net::UnixStream::from(owned);
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| std::io::Error::other("NUL in path"))?;
    // SAFETY: sockaddr_un is plain data; the path fits or we refuse.
    let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = c_path.as_bytes_with_nul();
    if bytes.len() > sun.sun_path.len() {
        return Err(std::io::Error::other("socket path too long"));
    }
    for (d, s) in sun.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    use std::os::fd::AsRawFd;
    // SAFETY: a valid sockaddr_un and its size.
    let rc = unsafe {
        libc::connect(
            stream.as_raw_fd(),
            std::ptr::addr_of!(sun).cast(),
            std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    std::io::Write::write_all(&mut &stream, request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_and_codes() {
        let mut data = b"AD".to_vec();
        data.extend(flush_site_request("Example.NET"));
        data.extend(b"W");
        data.extend(flush_site_request("[192.0.2.1]"));
        data.extend(b"Sbad/site\nF");
        let (codes, sites) = parse(&data);
        assert_eq!(codes, b"ADWF".to_vec());
        assert_eq!(
            sites,
            vec!["example.net".to_string(), "[192.0.2.1]".to_string()]
        );
    }
}
