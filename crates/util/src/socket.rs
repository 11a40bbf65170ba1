//! Sockets to and from other programs: [`Socket`], one blocking
//! connection over TCP or a UNIX-domain socket (an accepted client, or a
//! service this program connects to), and [`Endpoint`], a service as
//! main.cf names one: `inet:host:port` or `unix:path` (`local:path`), alone
//! or with settings in Postfix 3's `{ service, name=value, … }` form
//! ([`with_settings`]).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// One blocking connection (an accepted client, or a service dialled).
#[derive(Debug)]
pub enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl From<Socket> for OwnedFd {
    fn from(s: Socket) -> OwnedFd {
        match s {
            Socket::Tcp(t) => t.into(),
            Socket::Unix(u) => u.into(),
        }
    }
}

impl Socket {
    /// Wraps an accepted socket; TCP when its address family says so.
    pub fn from_fd(fd: OwnedFd) -> io::Result<Socket> {
        let is_inet =
            nix::sys::socket::getsockname::<nix::sys::socket::SockaddrStorage>(fd.as_raw_fd())
                .map(|a| a.as_sockaddr_in().is_some() || a.as_sockaddr_in6().is_some())
                .unwrap_or(false);
        crate::fd::set_nonblocking(fd.as_raw_fd(), false)?;
        Ok(if is_inet {
            Socket::Tcp(TcpStream::from(fd))
        } else {
            Socket::Unix(UnixStream::from(fd))
        })
    }

    /// The peer as Postfix logs it: `[127.0.0.1]:40000` for TCP, `local` otherwise.
    pub fn peer(&self) -> String {
        match self {
            Socket::Tcp(s) => s
                .peer_addr()
                .map(|a| format!("[{}]:{}", a.ip(), a.port()))
                .unwrap_or_else(|_| "unknown".into()),
            Socket::Unix(_) => "local".into(),
        }
    }

    /// The peer's IP address, for TCP clients.
    pub fn peer_ip(&self) -> Option<std::net::IpAddr> {
        match self {
            Socket::Tcp(s) => s.peer_addr().ok().map(|a| a.ip()),
            Socket::Unix(_) => None,
        }
    }

    pub fn set_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => {
                s.set_read_timeout(t)?;
                s.set_write_timeout(t)
            }
            Socket::Unix(s) => {
                s.set_read_timeout(t)?;
                s.set_write_timeout(t)
            }
        }
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_read_timeout(t),
            Socket::Unix(s) => s.set_read_timeout(t),
        }
    }

    /// Shuts the connection down both ways, for every process that holds
    /// it.
    pub fn shutdown(&self) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
            Socket::Unix(s) => s.shutdown(std::net::Shutdown::Both),
        }
    }

    pub fn try_clone(&self) -> io::Result<Socket> {
        Ok(match self {
            Socket::Tcp(s) => Socket::Tcp(s.try_clone()?),
            Socket::Unix(s) => Socket::Unix(s.try_clone()?),
        })
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Socket::Tcp(s) => s.as_raw_fd(),
            Socket::Unix(s) => s.as_raw_fd(),
        }
    }
}

impl std::os::fd::AsFd for Socket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Socket::Tcp(s) => s.as_fd(),
            Socket::Unix(s) => s.as_fd(),
        }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.read(buf),
            Socket::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.write(buf),
            Socket::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.flush(),
            Socket::Unix(s) => s.flush(),
        }
    }
}

/// A service to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `host:port`.
    Inet(String),
    Unix(std::path::PathBuf),
}

impl Endpoint {
    /// `inet:host:port`, `unix:path` or `local:path`; a relative path is
    /// under `base` (the queue directory, as `unix:private/policy`).
    pub fn parse(target: &str, base: &std::path::Path) -> Result<Endpoint, String> {
        if let Some(hp) = target.strip_prefix("inet:") {
            return inet_host_port(hp)
                .map(Endpoint::Inet)
                .ok_or_else(|| format!("{target}: need inet:host:port"));
        }
        match target
            .strip_prefix("unix:")
            .or_else(|| target.strip_prefix("local:"))
        {
            Some(p) => {
                let p = std::path::PathBuf::from(p);
                Ok(Endpoint::Unix(if p.is_absolute() {
                    p
                } else {
                    base.join(p)
                }))
            }
            None => Err(format!("{target}: need inet:host:port or unix:path")),
        }
    }

    /// Connects, waiting at most `timeout` for each TCP address; the socket
    /// gets `timeout` for its reads and writes.
    pub fn connect(&self, timeout: Duration) -> io::Result<Socket> {
        let socket = match self {
            Endpoint::Inet(hp) => {
                let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
                let mut found = None;
                for addr in std::net::ToSocketAddrs::to_socket_addrs(hp.as_str())? {
                    match TcpStream::connect_timeout(&addr, timeout) {
                        Ok(s) => {
                            found = Some(s);
                            break;
                        }
                        Err(e) => {
                            last = io::Error::new(
                                e.kind(),
                                format!("connect to {addr}: {}", crate::strerror(&e)),
                            )
                        }
                    }
                }
                Socket::Tcp(found.ok_or(last)?)
            }
            // A listener that does not keep up fails at once (Postfix:
            // "Resource temporarily unavailable") rather than holding the
            // caller beyond its time limit.
            Endpoint::Unix(p) => Socket::Unix(connect_unix_now(p).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("connect to {}: {}", p.display(), crate::strerror(&e)),
                )
            })?),
        };
        socket.set_timeout(Some(timeout))?;
        Ok(socket)
    }
}

/// `host:port`, `[host]:port`, `host:service` (a name from
/// /etc/services), `:port` or `port` (the local host, as Postfix's
/// host_port takes them) as `host:port` with a numeric port, brackets
/// kept only around an IPv6 address.
fn inet_host_port(hp: &str) -> Option<String> {
    let (host, port) = hp.rsplit_once(':').unwrap_or(("", hp));
    let host = match host.trim() {
        "" => "localhost",
        h => h,
    };
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.is_empty() || port.is_empty() {
        return None;
    }
    let port: u16 = match port.parse() {
        Ok(p) => p,
        Err(_) => service_port(port, c"tcp")?,
    };
    Some(if bare.contains(':') {
        format!("[{bare}]:{port}")
    } else {
        format!("{bare}:{port}")
    })
}

/// The port of service `name` over `proto` (`tcp`, `udp`) in
/// /etc/services.
pub fn service_port(name: &str, proto: &std::ffi::CStr) -> Option<u16> {
    /// getservbyname's answer lives in static storage: one caller at a
    /// time.
    static LOOKUP: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let name = std::ffi::CString::new(name).ok()?;
    let _one = LOOKUP.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: both strings are NUL-terminated; the result, when not null,
    // points to a servent that stays valid until the next such call (none
    // can come while the lock is held), and only its port is read.
    let port = unsafe {
        let ent = libc::getservbyname(name.as_ptr(), proto.as_ptr());
        if ent.is_null() {
            return None;
        }
        (*ent).s_port
    };
    Some(u16::from_be(port as u16))
}

/// Connects to a UNIX-domain socket without waiting: `WouldBlock` when
/// its queue of connections is full. The socket is blocking once
/// connected.
pub fn connect_unix_now(path: &std::path::Path) -> io::Result<UnixStream> {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let addr = UnixAddr::new(path)?;
    connect(fd.as_raw_fd(), &addr)?;
    crate::fd::set_nonblocking(fd.as_raw_fd(), false)?;
    Ok(UnixStream::from(fd))
}

/// Splits an entry that may carry settings, `{ service, name=value, … }`,
/// into the service and its `(name, value)` settings (none for a plain
/// entry).
pub fn with_settings(entry: &str) -> Result<(String, Vec<(String, String)>), String> {
    let entry = entry.trim();
    let Some(inner) = entry.strip_prefix('{').and_then(|e| e.strip_suffix('}')) else {
        return Ok((entry.to_string(), Vec::new()));
    };
    let mut words = inner
        .split([',', ' ', '\t', '\n'])
        .filter(|w| !w.is_empty());
    let target = words.next().ok_or("empty service entry")?.to_string();
    let settings = words
        .map(|w| {
            w.split_once('=')
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .ok_or_else(|| format!("setting \"{w}\" is not name=value"))
        })
        .collect::<Result<_, _>>()?;
    Ok((target, settings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn endpoints_and_settings_take_postfix_forms() {
        let q = Path::new("/var/spool/mailsuite");
        assert_eq!(
            Endpoint::parse("inet:127.0.0.1:8891", q),
            Ok(Endpoint::Inet("127.0.0.1:8891".into()))
        );
        assert_eq!(
            Endpoint::parse("unix:private/p", q),
            Ok(Endpoint::Unix(q.join("private/p")))
        );
        assert_eq!(
            Endpoint::parse("local:/run/m.sock", q),
            Ok(Endpoint::Unix("/run/m.sock".into()))
        );
        for (given, meant) in [
            ("inet:8891", "localhost:8891"),
            ("inet::25", "localhost:25"),
            ("inet:[127.0.0.1]:10025", "127.0.0.1:10025"),
            ("inet:[::1]:10025", "[::1]:10025"),
            ("inet:localhost:smtp", "localhost:25"),
        ] {
            assert_eq!(
                Endpoint::parse(given, q),
                Ok(Endpoint::Inet(meant.into())),
                "{given}"
            );
        }
        assert!(Endpoint::parse("inet:localhost:no-such-service", q).is_err());
        assert!(Endpoint::parse("inet:localhost:", q).is_err());
        assert!(Endpoint::parse("127.0.0.1:8891", q).is_err());
        assert_eq!(
            with_settings("{ inet:1.2.3.4:5, timeout=10s,default_action=DUNNO }"),
            Ok((
                "inet:1.2.3.4:5".to_string(),
                vec![
                    ("timeout".into(), "10s".into()),
                    ("default_action".into(), "DUNNO".into())
                ]
            ))
        );
        assert_eq!(
            with_settings(" unix:x "),
            Ok(("unix:x".to_string(), vec![]))
        );
        assert!(with_settings("{ inet:1.2.3.4:5, frob }").is_err());
        assert!(with_settings("{ }").is_err());
    }
}

/// The most bytes of note [`send_fd`] sends with a connection.
pub const MAX_PASS_NOTE: usize = 255;

/// Hands the open connection `conn` to the process at the other end of
/// the UNIX-domain socket `via` (Postfix's "pass" services: postscreen
/// passes a client it let through to smtpd), in one message: the byte
/// `P`, then `note` (postscreen's: the client's endpoints), at most
/// [`MAX_PASS_NOTE`] bytes.
pub fn send_fd(via: &UnixStream, conn: RawFd, note: &[u8]) -> io::Result<()> {
    if note.len() > MAX_PASS_NOTE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "note with a passed connection too long",
        ));
    }
    let mut data = Vec::with_capacity(1 + note.len());
    data.push(b'P');
    data.extend_from_slice(note);
    send_with_fds(via, &data, &[conn])
}

/// Takes the connection [`send_fd`] handed over `via` and its note:
/// exactly one descriptor with `P` and at most [`MAX_PASS_NOTE`] bytes,
/// or an error. Anything else is refused, and every descriptor that came
/// with it is closed.
pub fn recv_fd(via: &UnixStream) -> io::Result<(OwnedFd, Vec<u8>)> {
    // One byte more than a whole message: a longer one is seen as such.
    let mut data = [0u8; 2 + MAX_PASS_NOTE];
    let mut got: Vec<OwnedFd> = Vec::new();
    let n = recv_with_fds(via.as_raw_fd(), &mut data, &mut got)?;
    if n == 0 || n == data.len() || data[0] != b'P' || got.len() != 1 {
        // `got` is dropped: every descriptor that came is closed.
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "expected one passed connection",
        ));
    }
    got.pop()
        .map(|fd| (fd, data[1..n].to_vec()))
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))
}

/// The most descriptors one read takes ([`recv_with_fds`]): more than a
/// sender should send at once, so that the usual mistakes are seen whole.
pub const MAX_FDS_PER_READ: usize = 8;

/// Sends all of `data` over `via`, with the descriptors `fds` attached to
/// its first byte (SCM_RIGHTS): the reader's [`recv_with_fds`] that takes
/// that byte takes them.
pub fn send_with_fds(via: &UnixStream, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    if data.is_empty() || fds.len() > MAX_FDS_PER_READ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "descriptors must come with data, at most 8 at a time",
        ));
    }
    let cmsg = [ControlMessage::ScmRights(fds)];
    let iov = [io::IoSlice::new(data)];
    let sent = loop {
        match sendmsg::<()>(via.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other.map_err(io::Error::from)?,
        }
    };
    let mut rest = via;
    rest.write_all(&data[sent..])
}

/// Reads what `fd` has into `buf`, as `read` does, and keeps the
/// descriptors that came with it in `passed` (close-on-exec). Control
/// data cut short (more than [`MAX_FDS_PER_READ`] descriptors) is an
/// error, and what did come is closed.
pub fn recv_with_fds(fd: RawFd, buf: &mut [u8], passed: &mut Vec<OwnedFd>) -> io::Result<usize> {
    use std::os::fd::FromRawFd;
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let fd_bytes = (MAX_FDS_PER_READ * std::mem::size_of::<RawFd>()) as u32;
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(fd_bytes) } as usize;
    // On the stack (cleanup reads every frame this way); u64 elements
    // keep it aligned for cmsghdr.
    let mut control = [0u64; 16];
    let space = space.min(std::mem::size_of_val(&control));
    // SAFETY: an all-zero msghdr is valid; the pointers set below outlive
    // the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: msg describes valid, writable buffers of the sizes given.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut got: Vec<OwnedFd> = Vec::new();
    // SAFETY: msg was filled by recvmsg; the CMSG_* macros walk the
    // control buffer within msg_controllen (whatever the flags say), and
    // each SCM_RIGHTS payload holds descriptors the kernel installed for
    // this process.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c);
                let len = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                for i in 0..len / std::mem::size_of::<RawFd>() {
                    let fd = std::ptr::read_unaligned(data.cast::<RawFd>().add(i));
                    got.push(OwnedFd::from_raw_fd(fd));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        // `got` is dropped: what came is closed.
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "too many descriptors passed",
        ));
    }
    passed.extend(got);
    Ok(n as usize)
}

/// A stream whose reads keep the descriptors the other end passes along
/// ([`send_with_fds`]), for the reader to claim when the data says they
/// came ([`FdReceiving::take_passed`]); those never claimed are closed
/// with it. At most [`FdReceiving::MAX_HELD`] wait to be claimed.
pub struct FdReceiving<S> {
    inner: S,
    passed: Vec<OwnedFd>,
}

impl<S> FdReceiving<S> {
    /// The most descriptors held unclaimed; a read that would bring more
    /// fails.
    pub const MAX_HELD: usize = 32;

    pub fn new(inner: S) -> FdReceiving<S> {
        FdReceiving {
            inner,
            passed: Vec::new(),
        }
    }

    /// The descriptors received so far and not yet claimed, in order.
    pub fn take_passed(&mut self) -> Vec<OwnedFd> {
        std::mem::take(&mut self.passed)
    }
}

impl<S: std::os::fd::AsFd> Read for FdReceiving<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.passed.len() > Self::MAX_HELD - MAX_FDS_PER_READ {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "too many descriptors passed and not claimed",
            ));
        }
        recv_with_fds(self.inner.as_fd().as_raw_fd(), buf, &mut self.passed)
    }
}

impl<S: Write> Write for FdReceiving<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod pass_tests {
    use super::*;

    #[test]
    fn a_connection_is_passed_whole() {
        let (a, b) = UnixStream::pair().expect("pair");
        let (mut client, served) = UnixStream::pair().expect("client pair");
        send_fd(&a, served.as_raw_fd(), b"PROXY UNKNOWN\r\n").expect("send");
        drop(served);
        let (got, note) = recv_fd(&b).expect("recv");
        assert_eq!(note, b"PROXY UNKNOWN\r\n");
        let mut got = UnixStream::from(got);
        client.write_all(b"hello").expect("write");
        let mut buf = [0u8; 5];
        got.read_exact(&mut buf).expect("read");
        assert_eq!(&buf, b"hello");
        // Data without a descriptor is refused.
        (&a).write_all(b"x").expect("write");
        assert!(recv_fd(&b).is_err());
        // So is a note longer than a sender may send, at either end.
        let long = vec![b'x'; MAX_PASS_NOTE + 1];
        assert!(send_fd(&a, client.as_raw_fd(), &long).is_err());
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
        let mut raw = b"P".to_vec();
        raw.extend_from_slice(&long);
        let fds = [client.as_raw_fd()];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        sendmsg::<()>(
            a.as_raw_fd(),
            &[io::IoSlice::new(&raw)],
            &cmsg,
            MsgFlags::empty(),
            None,
        )
        .expect("sendmsg");
        assert!(recv_fd(&b).is_err());
    }

    #[test]
    fn descriptors_passed_along_a_stream_wait_to_be_claimed() {
        let (a, b) = UnixStream::pair().expect("pair");
        let (mut one, one_far) = UnixStream::pair().expect("pair one");
        let (mut two, two_far) = UnixStream::pair().expect("pair two");
        (&a).write_all(b"plain ").expect("write");
        send_with_fds(&a, b"with two", &[one_far.as_raw_fd(), two_far.as_raw_fd()]).expect("send");
        drop((one_far, two_far));
        drop(a);
        let mut r = FdReceiving::new(&b);
        let mut all = Vec::new();
        r.read_to_end(&mut all).expect("read");
        assert_eq!(all, b"plain with two");
        let passed = r.take_passed();
        assert_eq!(passed.len(), 2);
        assert!(r.take_passed().is_empty());
        for (fd, near) in passed.into_iter().zip([&mut one, &mut two]) {
            let mut far = UnixStream::from(fd);
            far.write_all(b"hi").expect("write far");
            let mut buf = [0u8; 2];
            near.read_exact(&mut buf).expect("read near");
            assert_eq!(&buf, b"hi");
        }
        // Too many at once is refused.
        let (a, b) = UnixStream::pair().expect("pair");
        let many: Vec<RawFd> = vec![one.as_raw_fd(); MAX_FDS_PER_READ + 1];
        assert!(send_with_fds(&a, b"x", &many).is_err());
        assert!(send_with_fds(&a, b"", &[one.as_raw_fd()]).is_err());
        drop(b);
    }

    #[test]
    fn a_listener_that_does_not_keep_up_is_refused_at_once() {
        use nix::sys::socket::{
            bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr,
        };
        let path = std::env::temp_dir().join(format!("wedged-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let fd = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::empty(),
            None,
        )
        .expect("socket");
        bind(fd.as_raw_fd(), &UnixAddr::new(&path).expect("addr")).expect("bind");
        listen(&fd, Backlog::new(0).expect("backlog")).expect("listen");
        let started = std::time::Instant::now();
        let mut kept = Vec::new();
        let refused = (0..16).find_map(|_| match connect_unix_now(&path) {
            Ok(c) => {
                kept.push(c);
                None
            }
            Err(e) => Some(e),
        });
        let _ = std::fs::remove_file(&path);
        let e = refused.expect("the queue fills");
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    /// How many descriptors of this process have `path` open.
    fn open_on(path: &std::path::Path) -> usize {
        std::fs::read_dir("/proc/self/fd").map_or(0, |d| {
            d.flatten()
                .filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == path))
                .count()
        })
    }

    #[test]
    fn extra_descriptors_are_refused_and_closed() {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
        let (a, b) = UnixStream::pair().expect("pair");
        let path = std::env::temp_dir().join(format!("recv-fd-{}", std::process::id()));
        std::fs::write(&path, b"").expect("file");
        for count in [3usize, 12] {
            let files: Vec<std::fs::File> = (0..count)
                .map(|_| std::fs::File::open(&path).expect("open"))
                .collect();
            let fds: Vec<RawFd> = files.iter().map(|f| f.as_raw_fd()).collect();
            let cmsg = [ControlMessage::ScmRights(&fds)];
            sendmsg::<()>(
                a.as_raw_fd(),
                &[io::IoSlice::new(b"P")],
                &cmsg,
                MsgFlags::empty(),
                None,
            )
            .expect("sendmsg");
            drop(files);
            assert!(recv_fd(&b).is_err(), "{count} descriptors");
            assert_eq!(open_on(&path), 0, "{count}: nothing left open");
        }
        let _ = std::fs::remove_file(&path);
    }
}
