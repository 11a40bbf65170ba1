//! A connected client, over TCP or a UNIX-domain socket.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// One accepted connection, blocking, for single-client services.
#[derive(Debug)]
pub enum Client {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Client {
    /// Wraps an accepted socket; TCP when its address family says so.
    pub fn from_fd(fd: OwnedFd) -> io::Result<Client> {
        let is_inet =
            nix::sys::socket::getsockname::<nix::sys::socket::SockaddrStorage>(fd.as_raw_fd())
                .map(|a| a.as_sockaddr_in().is_some() || a.as_sockaddr_in6().is_some())
                .unwrap_or(false);
        util::fd::set_nonblocking(fd.as_raw_fd(), false)?;
        Ok(if is_inet {
            Client::Tcp(TcpStream::from(fd))
        } else {
            Client::Unix(UnixStream::from(fd))
        })
    }

    /// The peer as Postfix logs it: `[127.0.0.1]:40000` for TCP, `local` otherwise.
    pub fn peer(&self) -> String {
        match self {
            Client::Tcp(s) => s
                .peer_addr()
                .map(|a| format!("[{}]:{}", a.ip(), a.port()))
                .unwrap_or_else(|_| "unknown".into()),
            Client::Unix(_) => "local".into(),
        }
    }

    /// The peer's IP address, for TCP clients.
    pub fn peer_ip(&self) -> Option<std::net::IpAddr> {
        match self {
            Client::Tcp(s) => s.peer_addr().ok().map(|a| a.ip()),
            Client::Unix(_) => None,
        }
    }

    pub fn set_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Client::Tcp(s) => {
                s.set_read_timeout(t)?;
                s.set_write_timeout(t)
            }
            Client::Unix(s) => {
                s.set_read_timeout(t)?;
                s.set_write_timeout(t)
            }
        }
    }

    pub fn try_clone(&self) -> io::Result<Client> {
        Ok(match self {
            Client::Tcp(s) => Client::Tcp(s.try_clone()?),
            Client::Unix(s) => Client::Unix(s.try_clone()?),
        })
    }
}

impl AsRawFd for Client {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Client::Tcp(s) => s.as_raw_fd(),
            Client::Unix(s) => s.as_raw_fd(),
        }
    }
}

impl Read for Client {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Client::Tcp(s) => s.read(buf),
            Client::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Client {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Client::Tcp(s) => s.write(buf),
            Client::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Client::Tcp(s) => s.flush(),
            Client::Unix(s) => s.flush(),
        }
    }
}
