//! Opening a service's listeners: inet `[host:]port` (a bare port listens
//! on every `inet_interfaces` address), UNIX-domain sockets under
//! `queue_directory/private` or `public`, UNIX datagram sockets and FIFOs.

use nix::sys::socket::{
    self, AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, UnixAddr,
};
use params::master_cf::{Service, ServiceType};
use params::{table as p, Config};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Where a service listens, resolved; equal endpoints mean a reload can keep the sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Inet(Vec<SocketAddr>),
    Unix(PathBuf),
    UnixDgram(PathBuf),
    Fifo(PathBuf),
}

/// Well-known ports, for when the services database lacks a name.
fn well_known_port(name: &str) -> Option<u16> {
    Some(match name {
        "smtp" => 25,
        "submission" => 587,
        "smtps" | "submissions" => 465,
        "pop3" => 110,
        "pop3s" => 995,
        "imap" | "imap2" => 143,
        "imaps" => 993,
        "lmtp" => 24,
        "sieve" => 4190,
        _ => return None,
    })
}

fn port_of(name: &str) -> Result<u16, String> {
    if let Ok(n) = name.parse::<u16>() {
        return Ok(n);
    }
    if let Ok(c) = std::ffi::CString::new(name) {
        // SAFETY: getservbyname returns a pointer into static storage or null; read at once.
        let ent = unsafe { libc::getservbyname(c.as_ptr(), c"tcp".as_ptr()) };
        if !ent.is_null() {
            // SAFETY: non-null servent from the C library.
            let port = unsafe { (*ent).s_port };
            return Ok(u16::from_be(port as u16));
        }
    }
    well_known_port(name).ok_or_else(|| format!("unknown service port \"{name}\""))
}

/// Splits `host:port`, `[v6]:port` or a bare `port`.
fn split_host_port(spec: &str) -> (Option<&str>, &str) {
    if let Some(rest) = spec.strip_prefix('[') {
        if let Some((h, p)) = rest.split_once("]:") {
            return (Some(h), p);
        }
    }
    match spec.rsplit_once(':') {
        Some((h, p)) => (Some(h), p),
        None => (None, spec),
    }
}

fn protocols(cfg: &Config) -> (bool, bool) {
    let list = cfg.list(&p::INET_PROTOCOLS);
    let all = list.iter().any(|x| x == "all");
    (
        all || list.iter().any(|x| x == "ipv4"),
        all || list.iter().any(|x| x == "ipv6"),
    )
}

fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    (host, port)
        .to_socket_addrs()
        .map(|a| a.collect())
        .map_err(|e| format!("cannot resolve host \"{host}\": {e}"))
}

/// The addresses an inet service named `spec` listens on.
pub fn inet_addresses(spec: &str, cfg: &Config) -> Result<Vec<SocketAddr>, String> {
    let (host, port) = split_host_port(spec);
    let port = port_of(port)?;
    let (v4, v6) = protocols(cfg);
    let mut addrs = Vec::new();
    match host {
        Some(h) => addrs.extend(resolve(h, port)?),
        None => {
            for iface in cfg.list(&p::INET_INTERFACES) {
                match iface.as_str() {
                    "all" => {
                        addrs.push(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
                        addrs.push(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port));
                    }
                    "loopback-only" => {
                        addrs.push(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
                        addrs.push(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port));
                    }
                    other => addrs.extend(resolve(
                        other.trim_start_matches('[').trim_end_matches(']'),
                        port,
                    )?),
                }
            }
        }
    }
    addrs.retain(|a| if a.is_ipv4() { v4 } else { v6 });
    addrs.dedup();
    if addrs.is_empty() {
        return Err(format!(
            "no address to listen on for \"{spec}\" (check inet_interfaces and inet_protocols)"
        ));
    }
    Ok(addrs)
}

/// Resolves where `svc` listens.
pub fn endpoint(svc: &Service, cfg: &Config) -> Result<Endpoint, String> {
    let queue = cfg.path(&p::QUEUE_DIRECTORY);
    let socket_path = || {
        queue
            .join(if svc.private { "private" } else { "public" })
            .join(&svc.name)
    };
    Ok(match svc.kind {
        ServiceType::Inet => Endpoint::Inet(inet_addresses(&svc.name, cfg)?),
        ServiceType::Unix => Endpoint::Unix(socket_path()),
        ServiceType::UnixDgram => Endpoint::UnixDgram(socket_path()),
        ServiceType::Fifo => Endpoint::Fifo(socket_path()),
        // Connections passed on by postscreen: a UNIX-domain socket too.
        ServiceType::Pass => Endpoint::Unix(socket_path()),
    })
}

fn errno(e: nix::Error) -> String {
    std::io::Error::from_raw_os_error(e as i32).to_string()
}

fn listen_inet(addr: SocketAddr, backlog: i32) -> Result<OwnedFd, String> {
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket::socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .map_err(|e| format!("socket: {}", errno(e)))?;
    socket::setsockopt(&fd, socket::sockopt::ReuseAddr, &true)
        .map_err(|e| format!("setsockopt: {}", errno(e)))?;
    if addr.is_ipv6() {
        socket::setsockopt(&fd, socket::sockopt::Ipv6V6Only, &true)
            .map_err(|e| format!("setsockopt: {}", errno(e)))?;
    }
    let sa = SockaddrStorage::from(addr);
    socket::bind(fd.as_raw_fd(), &sa).map_err(|e| format!("bind {addr}: {}", errno(e)))?;
    socket::listen(&fd, Backlog::new(backlog).unwrap_or(Backlog::MAXCONN))
        .map_err(|e| format!("listen {addr}: {}", errno(e)))?;
    Ok(fd)
}

/// The address an inet listener actually got (port 0 picks one).
pub fn bound_address(fd: &OwnedFd) -> Option<SocketAddr> {
    let sa: SockaddrStorage = socket::getsockname(fd.as_raw_fd()).ok()?;
    if let Some(v4) = sa.as_sockaddr_in() {
        return Some(SocketAddr::from((v4.ip(), v4.port())));
    }
    sa.as_sockaddr_in6()
        .map(|v6| SocketAddr::from((v6.ip(), v6.port())))
}

fn remove_stale(path: &Path) {
    if std::fs::symlink_metadata(path).is_ok() {
        let _ = std::fs::remove_file(path);
    }
}

fn listen_unix(
    path: &Path,
    kind: SockType,
    backlog: i32,
    owner: Option<(u32, u32)>,
) -> Result<OwnedFd, String> {
    remove_stale(path);
    let fd = socket::socket(
        AddressFamily::Unix,
        kind,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .map_err(|e| format!("socket: {}", errno(e)))?;
    let addr = UnixAddr::new(path).map_err(|e| format!("{}: {}", path.display(), errno(e)))?;
    socket::bind(fd.as_raw_fd(), &addr)
        .map_err(|e| format!("bind {}: {}", path.display(), errno(e)))?;
    if kind == SockType::Stream {
        socket::listen(&fd, Backlog::new(backlog).unwrap_or(Backlog::MAXCONN))
            .map_err(|e| format!("listen {}: {}", path.display(), errno(e)))?;
    }
    set_owner_mode(path, owner, 0o666)?;
    Ok(fd)
}

fn set_owner_mode(path: &Path, owner: Option<(u32, u32)>, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", path.display()))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .map_err(|e| format!("chown {}: {e}", path.display()))?;
    }
    Ok(())
}

fn listen_fifo(path: &Path, owner: Option<(u32, u32)>) -> Result<OwnedFd, String> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    remove_stale(path);
    nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o622))
        .map_err(|e| format!("mkfifo {}: {}", path.display(), errno(e)))?;
    set_owner_mode(path, owner, 0o622)?;
    // Read-write so the FIFO never reports end-of-file when writers come and go.
    open(
        path,
        OFlag::O_RDWR | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("open {}: {}", path.display(), errno(e)))
}

/// One opened listener and what to log about it.
pub struct Listener {
    pub fd: OwnedFd,
    pub shown: String,
}

/// Opens every socket of an endpoint. `owner` is (uid, gid) of
/// `mail_owner` when running as root.
pub fn open(
    ep: &Endpoint,
    backlog: i32,
    owner: Option<(u32, u32)>,
) -> Result<Vec<Listener>, String> {
    match ep {
        Endpoint::Inet(addrs) => {
            let mut out = Vec::new();
            for a in addrs {
                match listen_inet(*a, backlog) {
                    Ok(fd) => {
                        let shown = bound_address(&fd)
                            .map(|b| b.to_string())
                            .unwrap_or_else(|| a.to_string());
                        out.push(Listener { fd, shown });
                    }
                    // A host without IPv6 still serves IPv4 for "all".
                    Err(e)
                        if a.is_ipv6()
                            && a.ip().is_unspecified()
                            && e.contains("Address family") =>
                    {
                        maillog::warning!("{e}: skipping IPv6");
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        }
        Endpoint::Unix(path) => Ok(vec![Listener {
            fd: listen_unix(path, SockType::Stream, backlog, owner)?,
            shown: path.display().to_string(),
        }]),
        Endpoint::UnixDgram(path) => Ok(vec![Listener {
            fd: listen_unix(path, SockType::Datagram, backlog, owner)?,
            shown: path.display().to_string(),
        }]),
        Endpoint::Fifo(path) => Ok(vec![Listener {
            fd: listen_fifo(path, owner)?,
            shown: path.display().to_string(),
        }]),
    }
}

/// Sends a wake-up (`W`) to a trigger service without ever blocking.
pub fn wake(ep: &Endpoint) -> Result<(), String> {
    match ep {
        Endpoint::Unix(path) => {
            let fd = socket::socket(
                AddressFamily::Unix,
                SockType::Stream,
                SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
                None,
            )
            .map_err(errno)?;
            let addr = UnixAddr::new(path.as_path()).map_err(errno)?;
            match socket::connect(fd.as_raw_fd(), &addr) {
                Ok(()) | Err(nix::errno::Errno::EINPROGRESS) => {}
                Err(e) => return Err(format!("connect {}: {}", path.display(), errno(e))),
            }
            let _ = socket::send(
                fd.as_raw_fd(),
                b"W",
                socket::MsgFlags::MSG_NOSIGNAL | socket::MsgFlags::MSG_DONTWAIT,
            );
            Ok(())
        }
        Endpoint::Fifo(path) => {
            use nix::fcntl::{open, OFlag};
            let fd = open(
                path.as_path(),
                OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| format!("open {}: {}", path.display(), errno(e)))?;
            let _ = nix::unistd::write(&fd, b"W");
            Ok(())
        }
        _ => Err("wakeup is only for unix and fifo services".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            split_host_port("127.0.0.1:2525"),
            (Some("127.0.0.1"), "2525")
        );
        assert_eq!(split_host_port("[::1]:25"), (Some("::1"), "25"));
        assert_eq!(split_host_port("smtp"), (None, "smtp"));
        assert_eq!(port_of("smtp"), Ok(25));
        assert_eq!(port_of("submission"), Ok(587));
        assert!(port_of("nonesuch-service").is_err());
    }
}
