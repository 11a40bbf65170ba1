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
/// Make one deferred message due now (`postqueue -i`): `Q`, the queue ID,
/// a newline.
pub const FLUSH_ID: u8 = b'Q';

/// The request that flushes `site`'s mail.
pub fn flush_site_request(site: &str) -> Vec<u8> {
    named_request(FLUSH_SITE, &site.to_ascii_lowercase())
}

/// The request that flushes the message `queue_id`.
pub fn flush_id_request(queue_id: &str) -> Vec<u8> {
    named_request(FLUSH_ID, queue_id)
}

fn named_request(code: u8, name: &str) -> Vec<u8> {
    let mut r = vec![code];
    r.extend(name.bytes().filter(|b| *b != b'\n'));
    r.push(b'\n');
    r
}

/// What a (coalesced) trigger asks for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// The one-letter requests.
    pub codes: Vec<u8>,
    /// The sites of [`FLUSH_SITE`] requests that are well formed (a domain
    /// name or an address literal).
    pub sites: Vec<String>,
    /// The queue IDs of [`FLUSH_ID`] requests that are well formed.
    pub ids: Vec<String>,
}

/// The most sites or queue IDs one coalesced request holds.
const NAMES_MAX: usize = 1000;

impl Request {
    /// Whether every deferred message is to be tried now ([`FLUSH`]).
    pub fn flush(&self) -> bool {
        self.codes.contains(&FLUSH)
    }

    /// Adds what `other` asks for: each letter, site and queue ID once
    /// (at most [`NAMES_MAX`] names of each kind).
    pub fn merge(&mut self, other: Request) {
        for c in other.codes {
            if !self.codes.contains(&c) {
                self.codes.push(c);
            }
        }
        for (mine, theirs) in [(&mut self.sites, other.sites), (&mut self.ids, other.ids)] {
            for name in theirs {
                if mine.len() < NAMES_MAX && !mine.contains(&name) {
                    mine.push(name);
                }
            }
        }
    }

    /// The request as bytes that [`parse`] reads back.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.codes.clone();
        for site in &self.sites {
            out.extend(flush_site_request(site));
        }
        for id in &self.ids {
            out.extend(flush_id_request(id));
        }
        out
    }
}

/// Reads a (coalesced) trigger; what is not well formed is left out, a
/// name without its newline too.
pub fn parse(data: &[u8]) -> Request {
    let mut req = Request::default();
    let mut i = 0;
    while i < data.len() {
        let code = data[i];
        if code != FLUSH_SITE && code != FLUSH_ID {
            req.codes.push(code);
            i += 1;
            continue;
        }
        let Some(end) = data[i..].iter().position(|&b| b == b'\n').map(|e| i + e) else {
            break;
        };
        let name = String::from_utf8_lossy(&data[i + 1..end]).into_owned();
        i = end + 1;
        if code == FLUSH_ID {
            if queue_id_like(&name) {
                req.ids.push(name);
            }
        } else if site_like(&name) {
            req.sites.push(name);
        }
    }
    req
}

/// A domain name or an address literal, as `postqueue -s` takes it.
pub fn site_like(site: &str) -> bool {
    !site.is_empty()
        && site.len() <= 255
        && site
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b))
}

/// A queue ID's characters (the queue crate checks the form itself).
fn queue_id_like(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
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
    fn sites_ids_and_codes() {
        let mut data = b"AD".to_vec();
        data.extend(flush_site_request("Example.NET"));
        data.extend(b"W");
        data.extend(flush_id_request("4Xk2mN2VXxzABC"));
        data.extend(flush_site_request("[192.0.2.1]"));
        data.extend(b"Sbad/site\nQ../x\nF");
        let req = parse(&data);
        assert_eq!(req.codes, b"ADWF".to_vec());
        assert!(req.flush());
        assert_eq!(
            req.sites,
            vec!["example.net".to_string(), "[192.0.2.1]".to_string()]
        );
        assert_eq!(req.ids, vec!["4Xk2mN2VXxzABC".to_string()]);
    }

    #[test]
    fn a_name_without_its_newline_is_dropped() {
        let req = parse(b"DQabc");
        assert_eq!(req.codes, b"D".to_vec());
        assert!(req.ids.is_empty());
        assert!(!parse(b"I").flush());
    }

    #[test]
    fn merged_requests_keep_every_letter_and_name() {
        // Queue IDs hold capital letters such as D, F and W: they must not
        // hide those requests when requests are folded together.
        let mut all = parse(&[flush_id_request("4XkDFW2mN"), b"F".to_vec()].concat());
        all.merge(parse(b"D"));
        all.merge(parse(&flush_id_request("4XkDFW2mN")));
        all.merge(parse(
            &[b"W".to_vec(), flush_site_request("b.example")].concat(),
        ));
        assert_eq!(all.codes, b"FDW".to_vec());
        assert_eq!(all.ids, vec!["4XkDFW2mN".to_string()]);
        assert_eq!(all.sites, vec!["b.example".to_string()]);
        assert_eq!(parse(&all.encode()), all);
    }
}
