//! The TRANSACTION state, run by the process that has become the user:
//! the mailbox opened from mail_location, the session lock, STAT, LIST,
//! UIDL, RETR, TOP, DELE, RSET, NOOP, CAPA and QUIT (UPDATE: deletions
//! are committed only there).

use crate::conn::{Conn, End};
use crate::prelogin::MAX_BAD_COMMANDS;
use crate::Settings;
use mailbox::location::{Format, Location, UserVars};
use mailbox::maildir_store::MaildirOpenOptions;
use mailbox::mbox_store::MboxOpenOptions;
use mailbox::pop3::{Pop3Mailbox, SessionLock};
use mailbox::store::StoreError;
use mailbox::wire::Part;
use pop3_proto::{capa, Capabilities, Command, DotStuffer, Listing, Reply, State};
use std::io::Read;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use util::privs::Account;

const OPEN_FAILED: &str =
    "Couldn't open INBOX: Internal error occurred. Refer to server log for more information.";

/// The location to use: mail_location, or Dovecot's autodetection when
/// it is empty (`~/Maildir` when it is a directory, else the mbox spool).
fn location_spec(s: &Settings, home: &Path) -> String {
    if !s.mail_location.is_empty() {
        return s.mail_location.clone();
    }
    if home.join("Maildir").is_dir() {
        "maildir:~/Maildir".into()
    } else {
        "mbox:~/mail:INBOX=/var/mail/%u".into()
    }
}

fn mkdirs(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Opens the mailbox with its lock.
fn open(
    s: &Settings,
    user: &str,
    acct: &Account,
) -> Result<(Pop3Mailbox, Option<SessionLock>), Reply> {
    let vars = UserVars {
        user: user.to_string(),
        home: Some(acct.home.clone()),
    };
    let spec = location_spec(s, &acct.home);
    let loc = Location::parse(&spec, &vars).map_err(|e| {
        maillog::error!("mail_location {spec:?}: {e:?}");
        Reply::sys_temp(OPEN_FAILED)
    })?;
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        maillog::error!("{what}: {e}");
        Reply::sys_temp(OPEN_FAILED)
    };
    let lock_at = |path: PathBuf| -> Result<Option<SessionLock>, Reply> {
        if !s.lock_session {
            return Ok(None);
        }
        match SessionLock::acquire(&path) {
            Ok(l) => Ok(Some(l)),
            Err(StoreError::LockBusy(_)) => Err(Reply::in_use()),
            Err(e) => Err(fail("session lock", &e)),
        }
    };
    match loc.format {
        Format::Maildir => {
            let dir = loc.inbox_path();
            mkdirs(&dir).map_err(|e| fail(&format!("mkdir {}", dir.display()), &e))?;
            let lock = lock_at(SessionLock::maildir_path(&dir))?;
            let opts = MaildirOpenOptions {
                control_dir: loc.control.clone(),
                ..MaildirOpenOptions::default()
            };
            let mb = Pop3Mailbox::open_maildir(&dir, opts)
                .map_err(|e| fail(&format!("open {}", dir.display()), &e))?;
            Ok((mb, lock))
        }
        Format::Mbox => {
            let index = loc.mbox_index_path("INBOX");
            let mut lock = None;
            if let Some(dir) = index.as_ref().and_then(|p| p.parent()) {
                mkdirs(dir).map_err(|e| fail(&format!("mkdir {}", dir.display()), &e))?;
                lock = lock_at(dir.join("mailsuite-pop3.lock"))?;
            }
            let path = loc.inbox_path();
            if !path.exists() {
                // An empty spool: nothing delivered yet.
                if let Err(e) = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(&path)
                {
                    return Err(fail(&format!("create {}", path.display()), &e));
                }
            }
            let opts = MboxOpenOptions {
                index_path: index,
                ..MboxOpenOptions::default()
            };
            let mb = Pop3Mailbox::open_mbox(&path, opts)
                .map_err(|e| fail(&format!("open {}", path.display()), &e))?;
            Ok((mb, lock))
        }
    }
}

#[derive(Default)]
struct Counts {
    top: u32,
    top_bytes: u64,
    retr: u32,
    retr_bytes: u64,
}

/// Serves the logged-in client to the end (the caller exits after).
pub fn run(mut conn: Conn, s: &Settings, user: &str, acct: &Account) {
    serve(&mut conn, s, user, acct);
    let _ = conn.flush();
}

fn serve(conn: &mut Conn, s: &Settings, user: &str, acct: &Account) {
    let (mut mb, _lock) = match open(s, user, acct) {
        Ok(x) => x,
        Err(r) => {
            let _ = conn.reply(&r);
            maillog::info!("Disconnected: {}", r.text);
            return;
        }
    };
    if conn.reply(&Reply::logged_in()).is_err() {
        return;
    }
    let mut counts = Counts::default();
    let mut bad = 0;
    let end = loop {
        let cmd = match conn.command() {
            Ok(Ok(c)) if c.allowed_in(State::Transaction) => c,
            Ok(Ok(c)) => {
                bad += 1;
                if let Err(e) = conn.reply(&Reply::unknown_command(c.verb().as_str())) {
                    break e;
                }
                if bad >= MAX_BAD_COMMANDS {
                    let _ = conn.reply(&Reply::too_many_bad_commands());
                    break End::Closed;
                }
                continue;
            }
            Ok(Err(e)) => {
                bad += 1;
                if let Err(e) = conn.reply(&e.reply()) {
                    break e;
                }
                if bad >= MAX_BAD_COMMANDS {
                    let _ = conn.reply(&Reply::too_many_bad_commands());
                    break End::Closed;
                }
                continue;
            }
            Err(e) => break e,
        };
        if let Command::Quit = cmd {
            let total = mb.messages().len();
            let size = whole_size(&mb);
            return match mb.commit_with(!s.no_flag_updates) {
                Ok(n) => {
                    let _ = conn.reply(&Reply::logout(n > 0));
                    maillog::info!(
                        "Disconnected: Logged out top={}/{}, retr={}/{}, del={n}/{total}, size={size}",
                        counts.top,
                        counts.top_bytes,
                        counts.retr,
                        counts.retr_bytes
                    );
                }
                Err(e) => {
                    maillog::error!("commit: {e}");
                    let _ = conn.reply(&Reply::sys_temp("Some deleted messages were not expunged"));
                }
            };
        }
        match command(conn, &mut mb, cmd, &mut counts) {
            // Bad commands are counted in a row (Dovecot's
            // bad_counter): a good one starts again from zero.
            Ok(true) => bad = 0,
            Ok(false) => {
                bad += 1;
                if bad >= MAX_BAD_COMMANDS {
                    let _ = conn.reply(&Reply::too_many_bad_commands());
                    break End::Closed;
                }
            }
            Err(e) => break e,
        }
    };
    maillog::info!(
        "Disconnected: {end} top={}/{}, retr={}/{}, del=0/{}, size={}",
        counts.top,
        counts.top_bytes,
        counts.retr,
        counts.retr_bytes,
        mb.messages().len(),
        whole_size(&mb)
    );
}

/// The logout line's size=: the whole mailbox as the session found it,
/// messages marked deleted included (Dovecot's message_bytes).
fn whole_size(mb: &Pop3Mailbox) -> u64 {
    mb.messages().iter().map(|m| m.size).sum()
}

/// The message `n` or the reply that says why not.
fn msgnum(mb: &Pop3Mailbox, n: u32) -> Result<usize, Reply> {
    let i = n as usize;
    if i == 0 || i > mb.messages().len() {
        return Err(Reply::no_such_message(u64::from(n)));
    }
    if mb.get(i).is_none() {
        return Err(Reply::message_deleted());
    }
    Ok(i)
}

fn command(
    conn: &mut Conn,
    mb: &mut Pop3Mailbox,
    cmd: Command,
    counts: &mut Counts,
) -> Result<bool, End> {
    // A message number that does not exist (or is deleted) makes the
    // command a bad one, as in Dovecot.
    let mut good = true;
    let mut bad = |conn: &mut Conn, r: Reply| {
        good = false;
        conn.reply(&r)
    };
    let done = match cmd {
        Command::Capa => {
            let c = Capabilities {
                user: false,
                sasl: Vec::new(),
                ..Capabilities::default()
            };
            conn.send(&capa(&c))
        }
        Command::Stat => {
            let (n, size) = mb.stat();
            conn.reply(&Reply::stat(n, size))
        }
        Command::Noop => conn.reply(&Reply::plain_ok()),
        Command::Rset => {
            mb.reset();
            conn.reply(&Reply::plain_ok())
        }
        Command::List(None) => {
            let mut l = Listing::list(mb.stat().0);
            for (i, m) in mb.messages().iter().enumerate() {
                if !m.deleted {
                    l.entry(i + 1, m.size);
                }
            }
            conn.send(&l.finish())
        }
        Command::Uidl(None) => {
            let mut l = Listing::uidl();
            for (i, m) in mb.messages().iter().enumerate() {
                if !m.deleted {
                    l.entry(i + 1, &m.uidl);
                }
            }
            conn.send(&l.finish())
        }
        Command::List(Some(n)) => match msgnum(mb, n) {
            Ok(i) => {
                let size = mb.get(i).map_or(0, |m| m.size);
                conn.reply(&Reply::list_one(i, size))
            }
            Err(r) => bad(conn, r),
        },
        Command::Uidl(Some(n)) => match msgnum(mb, n) {
            Ok(i) => {
                let uidl = mb.get(i).map(|m| m.uidl.clone()).unwrap_or_default();
                conn.reply(&Reply::uidl_one(i, &uidl))
            }
            Err(r) => bad(conn, r),
        },
        Command::Dele(n) => match msgnum(mb, n) {
            Ok(i) => {
                mb.mark_deleted(i);
                conn.reply(&Reply::deleted())
            }
            Err(r) => bad(conn, r),
        },
        Command::Retr(n) => match msgnum(mb, n) {
            Ok(i) => {
                let size = mb.get(i).map_or(0, |m| m.size);
                let sent = send_body(conn, mb, i, Part::Whole, Reply::retr(size))?;
                counts.retr += 1;
                counts.retr_bytes += sent;
                Ok(())
            }
            Err(r) => bad(conn, r),
        },
        Command::Top(n, lines) => match msgnum(mb, n) {
            Ok(i) => {
                let sent = send_body(conn, mb, i, Part::Top(lines), Reply::plain_ok())?;
                counts.top += 1;
                counts.top_bytes += sent;
                Ok(())
            }
            Err(r) => bad(conn, r),
        },
        other => bad(conn, Reply::unknown_command(other.verb().as_str())),
    };
    done.map(|()| good)
}

/// Streams message `i` as a multi-line answer after `first`; the body
/// bytes sent. A read error after the first line has gone out cannot be
/// told to the client: the connection is closed (nothing committed).
fn send_body(
    conn: &mut Conn,
    mb: &mut Pop3Mailbox,
    i: usize,
    part: Part,
    first: Reply,
) -> Result<u64, End> {
    let mut r = match mb.reader(i, part) {
        Ok(r) => r,
        Err(StoreError::Expunged(_)) => {
            conn.reply(&Reply::err("Message was expunged by another session."))?;
            return Ok(0);
        }
        Err(e) => {
            maillog::error!("read message {i}: {e}");
            conn.reply(&Reply::sys_temp("Couldn't read message."))?;
            return Ok(0);
        }
    };
    conn.reply(&first)?;
    let mut stuffer = DotStuffer::new();
    let mut buf = vec![0u8; 65536];
    let mut out = Vec::with_capacity(70000);
    let mut sent = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                maillog::error!("read message {i}: {e}");
                return Err(End::Io(e));
            }
        };
        sent += n as u64;
        out.clear();
        stuffer.encode(&buf[..n], &mut out);
        conn.send(&out)?;
    }
    out.clear();
    stuffer.finish(&mut out);
    conn.send(&out)?;
    Ok(sent)
}
