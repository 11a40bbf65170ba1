//! The TLS relay: after a login over TLS, the pre-login process (still
//! unprivileged) keeps the TLS session and shuttles plaintext between it
//! and the session process over their socketpair, as Dovecot's login
//! processes proxy TLS for their mail processes. The session process,
//! running as the user, never holds the TLS keys.
//!
//! Non-blocking both ways with bounded buffers, so neither side can
//! stall the other: a client pipelining commands while a big message is
//! on its way out is served in both directions at once.

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use rustls::ServerConnection;
use server::Client;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Plaintext from the client held for the session at most.
const TO_SESSION_MAX: usize = 64 * 1024;
/// Bytes read from the session at once.
const CHUNK: usize = 16 * 1024;

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// Runs until either side is done; `quiet` is how long both sides may be
/// silent before the relay gives up (the session has its own, shorter,
/// idle timeout and closes first).
pub fn run(
    mut tls: ServerConnection,
    mut client: Client,
    mut session: UnixStream,
    quiet: Duration,
) {
    if client_nonblocking(&client).is_err() || session.set_nonblocking(true).is_err() {
        return;
    }
    let mut to_session: Vec<u8> = Vec::new();
    let mut client_done = false;
    let mut session_done = false;
    let mut shut = false;
    let mut buf = vec![0u8; CHUNK];
    let timeout = PollTimeout::try_from(quiet.as_millis().min(i32::MAX as u128) as i32)
        .unwrap_or(PollTimeout::MAX);
    loop {
        // What each side is waited for.
        let mut c_ev = PollFlags::empty();
        if !client_done && to_session.len() < TO_SESSION_MAX && tls.wants_read() {
            c_ev |= PollFlags::POLLIN;
        }
        if tls.wants_write() {
            c_ev |= PollFlags::POLLOUT;
        }
        let mut s_ev = PollFlags::empty();
        if !session_done && !tls.wants_write() {
            s_ev |= PollFlags::POLLIN;
        }
        if !to_session.is_empty() {
            s_ev |= PollFlags::POLLOUT;
        }
        if session_done && !tls.wants_write() {
            return;
        }
        if client_done && to_session.is_empty() && !shut {
            // Nothing more can reach the session: let it see the end.
            let _ = session.shutdown(std::net::Shutdown::Write);
            shut = true;
        }
        if c_ev.is_empty() && s_ev.is_empty() {
            return;
        }
        let (c_re, s_re) = {
            let mut fds = [
                PollFd::new(client_fd(&client), c_ev),
                PollFd::new(session.as_fd(), s_ev),
            ];
            match poll(&mut fds, timeout) {
                Ok(0) => return,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return,
            }
            (
                fds[0].revents().unwrap_or(PollFlags::empty()),
                fds[1].revents().unwrap_or(PollFlags::empty()),
            )
        };
        let gone = PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL;
        // Client → TLS → session.
        if c_re.intersects(PollFlags::POLLIN | gone) && c_ev.contains(PollFlags::POLLIN) {
            match tls.read_tls(&mut client) {
                Ok(0) => client_done = true,
                Ok(_) => {
                    if tls.process_new_packets().is_err() {
                        // Send the alert rustls queued, then stop.
                        let _ = tls.write_tls(&mut client);
                        return;
                    }
                    loop {
                        match tls.reader().read(&mut buf) {
                            Ok(0) => {
                                client_done = true;
                                break;
                            }
                            Ok(n) => to_session.extend_from_slice(&buf[..n]),
                            Err(e) if would_block(&e) => break,
                            Err(_) => {
                                client_done = true;
                                break;
                            }
                        }
                    }
                }
                Err(e) if would_block(&e) => {}
                Err(_) => return,
            }
        } else if c_re.intersects(gone) && !c_ev.contains(PollFlags::POLLOUT) {
            client_done = true;
        }
        if s_re.intersects(PollFlags::POLLOUT | gone) && !to_session.is_empty() {
            match session.write(&to_session) {
                Ok(n) => {
                    to_session.drain(..n);
                }
                Err(e) if would_block(&e) => {}
                Err(_) => return,
            }
        }
        // Session → TLS → client.
        if s_re.intersects(PollFlags::POLLIN | gone) && s_ev.contains(PollFlags::POLLIN) {
            match session.read(&mut buf) {
                Ok(n) if n > 0 => {
                    if tls.writer().write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
                Err(e) if would_block(&e) => {}
                Ok(_) | Err(_) => {
                    session_done = true;
                    tls.send_close_notify();
                }
            }
        }
        if tls.wants_write() && c_re.intersects(PollFlags::POLLOUT | gone) {
            match tls.write_tls(&mut client) {
                Ok(_) => {}
                Err(e) if would_block(&e) => {}
                Err(_) => return,
            }
        }
    }
}

fn client_fd(c: &Client) -> std::os::fd::BorrowedFd<'_> {
    match c {
        Client::Tcp(s) => s.as_fd(),
        Client::Unix(s) => s.as_fd(),
    }
}

fn client_nonblocking(c: &Client) -> io::Result<()> {
    match c {
        Client::Tcp(s) => s.set_nonblocking(true),
        Client::Unix(s) => s.set_nonblocking(true),
    }
}
