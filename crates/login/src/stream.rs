//! The client connection as a POP3 or IMAP dialogue sees it: the plain
//! socket, the same socket after STARTTLS/STLS or on a TLS-wrapped port,
//! or — after a TLS login — the plaintext side of the relay that the
//! pre-login process keeps running.

use server::Client;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;
use tls::{ServerStream, ServerTls, TlsError};

pub enum Stream {
    /// The client's socket, unencrypted.
    Plain(Client),
    /// The client's socket with a TLS session on it.
    Tls(Box<ServerStream<Client>>),
    /// The session process's end of the pre-login process's TLS relay.
    Relay(UnixStream),
}

impl Stream {
    /// Whether what the client sends is encrypted (for a relay: it is,
    /// between the client and the relay).
    pub fn is_tls(&self) -> bool {
        !matches!(self, Stream::Plain(_))
    }

    /// Read and write timeouts.
    pub fn set_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Plain(c) => c.set_timeout(t),
            Stream::Tls(s) => s.sock.set_timeout(t),
            Stream::Relay(u) => {
                u.set_read_timeout(t)?;
                u.set_write_timeout(t)
            }
        }
    }

    /// Runs the TLS handshake on a plain stream (after the client's
    /// STARTTLS/STLS was answered, or at once on a wrapped port).
    pub fn start_tls(self, tls: &ServerTls) -> Result<Stream, TlsError> {
        match self {
            Stream::Plain(c) => Ok(Stream::Tls(Box::new(tls.accept(c)?))),
            _ => Err(TlsError::Handshake("TLS is already active".into())),
        }
    }

    /// The session as Postfix and Dovecot log it, for a TLS stream.
    pub fn tls_description(&self) -> Option<String> {
        match self {
            Stream::Tls(s) => Some(tls::describe(&s.conn)),
            _ => None,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(c) => c.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Relay(u) => u.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(c) => c.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::Relay(u) => u.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain(c) => c.write_all(buf),
            // One TLS record per reply where it fits, then out at once:
            // rustls buffers the plaintext, flush sends it.
            Stream::Tls(s) => {
                s.write_all(buf)?;
                s.flush()
            }
            Stream::Relay(u) => u.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(c) => c.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Relay(u) => u.flush(),
        }
    }
}
