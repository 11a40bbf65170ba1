//! Session tickets that every process of a service can open, as Postfix's
//! tlsmgr shares its ticket keys among the smtpd processes: a client that
//! resumes its TLS session with another smtpd skips the full handshake.
//!
//! The keys live in files in a directory the service owns
//! (`data_directory`, opened before any chroot and used through that
//! handle), one per half of the lifetime: `PREFIX-L.N` for period N of
//! L/2 seconds, 16 bytes of key name and 32 of AES-256-GCM key, mode
//! 0600. As with tlsmgr, a key seals tickets for one period and opens
//! them for one more, so a ticket lives at most one lifetime (clamped to
//! 120 s – 7 days, TLS 1.3's limit). The first process to need a period's
//! key makes it (written aside, then linked into place, so a reader never
//! sees half a key and two makers agree on the first); older keys and
//! leftovers are removed then. Without a key (the directory cannot be
//! written, or was not there) no tickets are made, and sessions resume
//! only with the process that made them.
//!
//! A ticket is the key name, a 12-byte random nonce, and the sealed
//! session state.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Mutex;

/// Postfix's bounds for the session cache timeout (TLS 1.3 allows 7 days).
const LEAST_LIFETIME: u32 = 120;
const MOST_LIFETIME: u32 = 7 * 24 * 3600;

const NAME_LEN: usize = 16;
const KEY_LEN: usize = 32;

/// One period's key.
struct Key {
    name: [u8; NAME_LEN],
    aead: LessSafeKey,
}

impl Key {
    fn from_bytes(bytes: &[u8]) -> Option<Key> {
        if bytes.len() != NAME_LEN + KEY_LEN {
            return None;
        }
        let mut name = [0u8; NAME_LEN];
        name.copy_from_slice(&bytes[..NAME_LEN]);
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes[NAME_LEN..]).ok()?;
        Some(Key {
            name,
            aead: LessSafeKey::new(unbound),
        })
    }
}

#[derive(Default)]
struct Keys {
    period: u64,
    current: Option<Key>,
    previous: Option<Key>,
}

/// Tickets whose keys the processes of one service share.
pub struct SharedTickets {
    /// The key directory, opened when the tickets were set up; None when
    /// it could not be.
    dir: Option<OwnedFd>,
    shown: String,
    prefix: String,
    lifetime: u32,
    keys: Mutex<Keys>,
    rng: SystemRandom,
    warned: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for SharedTickets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedTickets({}/{}.*)", self.shown, self.prefix)
    }
}

impl SharedTickets {
    /// Tickets good for `lifetime` seconds (clamped to 120 s – 7 days),
    /// with keys in `dir` (opened now: call before any chroot) named after
    /// `prefix` and the lifetime.
    pub fn new(dir: &Path, prefix: &str, lifetime: u32) -> SharedTickets {
        use nix::fcntl::{open, OFlag};
        let lifetime = lifetime.clamp(LEAST_LIFETIME, MOST_LIFETIME);
        let opened = open(
            dir,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        );
        let shown = dir.display().to_string();
        if let Err(e) = &opened {
            maillog::warning!("TLS session tickets: cannot open {shown}: {e}; sessions resume only with the same process");
        }
        SharedTickets {
            dir: opened.ok(),
            shown,
            prefix: format!("{prefix}-{lifetime}"),
            lifetime,
            keys: Mutex::new(Keys {
                period: u64::MAX,
                ..Keys::default()
            }),
            rng: SystemRandom::new(),
            warned: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn name(&self, period: u64) -> String {
        format!("{}.{period}", self.prefix)
    }

    fn read(&self, name: &str) -> Option<Vec<u8>> {
        use nix::fcntl::{openat, OFlag};
        let dir = self.dir.as_ref()?;
        let fd = openat(
            dir,
            name,
            OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
            nix::sys::stat::Mode::empty(),
        )
        .ok()?;
        let mut f = std::fs::File::from(fd);
        let mut bytes = Vec::new();
        use std::io::Read;
        f.by_ref().take(1024).read_to_end(&mut bytes).ok()?;
        Some(bytes)
    }

    /// The key of `period`, read, or made when `make` and there is none.
    fn key(&self, period: u64, make: bool) -> Option<Key> {
        let name = self.name(period);
        if let Some(bytes) = self.read(&name) {
            return Key::from_bytes(&bytes);
        }
        let dir = self.dir.as_ref()?;
        if !make {
            return None;
        }
        let mut bytes = [0u8; NAME_LEN + KEY_LEN];
        self.rng.fill(&mut bytes).ok()?;
        let aside = format!(".{name}.{}", std::process::id());
        let linked = write_private(dir, &aside, &bytes).and_then(|()| {
            nix::unistd::linkat(
                dir,
                aside.as_str(),
                dir,
                name.as_str(),
                nix::fcntl::AtFlags::empty(),
            )
            .map_err(std::io::Error::from)
        });
        let _ = nix::unistd::unlinkat(dir, aside.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
        match linked {
            Ok(()) => {
                self.sweep(period);
                Key::from_bytes(&bytes)
            }
            // Another process made it first: that one is the key.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Key::from_bytes(&self.read(&name)?)
            }
            Err(e) => {
                if !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    maillog::warning!(
                        "TLS session tickets: cannot make a key in {}: {e}; sessions resume only with the same process",
                        self.shown
                    );
                }
                None
            }
        }
    }

    /// Removes this service's keys older than the previous period's, and
    /// keys left aside by a process that died while making one.
    fn sweep(&self, period: u64) {
        let Some(dir) = self.dir.as_ref() else { return };
        // A listing of its own (a duplicate would share the position).
        let Ok(mut listing) = nix::dir::Dir::openat(
            dir,
            ".",
            nix::fcntl::OFlag::O_RDONLY
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        ) else {
            return;
        };
        let keep = [self.name(period), self.name(period.saturating_sub(1))];
        let ours = format!("{}.", self.prefix);
        let old: Vec<String> = listing
            .iter()
            .flatten()
            .filter_map(|e| e.file_name().to_str().ok().map(str::to_string))
            .filter(|n| {
                // A key, or one being made (`.NAME.PID`) by another process.
                let key = match n.strip_prefix('.') {
                    Some(aside) => aside.rsplit_once('.').map_or(aside, |(k, _)| k),
                    None => n.as_str(),
                };
                key.starts_with(&ours) && !keep.iter().any(|k| k == key)
            })
            .collect();
        for n in old {
            let _ = nix::unistd::unlinkat(dir, n.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
        }
    }

    /// The keys for now, read again when the period has turned. A period
    /// is half the lifetime.
    fn keys(&self) -> std::sync::MutexGuard<'_, Keys> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let period = now / u64::from(self.lifetime / 2).max(1);
        // (a key that could not be had is tried for again)
        if keys.period != period || (keys.current.is_none() && self.dir.is_some()) {
            let current = self.key(period, true);
            let previous = match (keys.period.checked_add(1), keys.current.take()) {
                (Some(next), Some(k)) if next == period => Some(k),
                _ => period.checked_sub(1).and_then(|p| self.key(p, false)),
            };
            *keys = Keys {
                period,
                current,
                previous,
            };
        }
        keys
    }
}

/// Writes a new file in `dir` readable by its owner only.
fn write_private(dir: &OwnedFd, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use nix::fcntl::{openat, OFlag};
    use std::io::Write;
    let fd = openat(
        dir,
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )?;
    let mut f = std::fs::File::from(fd);
    f.write_all(bytes)?;
    f.sync_all()
}

impl rustls::server::ProducesTickets for SharedTickets {
    /// Only with a key: otherwise rustls keeps sessions in this process.
    fn enabled(&self) -> bool {
        self.keys().current.is_some()
    }

    fn lifetime(&self) -> u32 {
        self.lifetime
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let keys = self.keys();
        let key = keys.current.as_ref()?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).ok()?;
        let mut sealed = plain.to_vec();
        key.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(key.name),
                &mut sealed,
            )
            .ok()?;
        let mut ticket = Vec::with_capacity(NAME_LEN + NONCE_LEN + sealed.len());
        ticket.extend_from_slice(&key.name);
        ticket.extend_from_slice(&nonce);
        ticket.extend_from_slice(&sealed);
        Some(ticket)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        let name = cipher.get(..NAME_LEN)?;
        let nonce: [u8; NONCE_LEN] = cipher
            .get(NAME_LEN..NAME_LEN + NONCE_LEN)?
            .try_into()
            .ok()?;
        let sealed = cipher.get(NAME_LEN + NONCE_LEN..)?;
        let keys = self.keys();
        let key = [keys.current.as_ref(), keys.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|k| k.name[..] == *name)?;
        let mut buf = sealed.to_vec();
        let plain = key
            .aead
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(key.name),
                &mut buf,
            )
            .ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::server::ProducesTickets;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("tls-tickets-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        d
    }

    #[test]
    fn another_process_opens_what_one_sealed() {
        let d = scratch("share");
        let one = SharedTickets::new(&d, "smtpd_tls_ticket", 3600);
        let two = SharedTickets::new(&d, "smtpd_tls_ticket", 3600);
        assert!(one.enabled());
        let ticket = one.encrypt(b"session state").expect("ticket");
        assert_eq!(two.decrypt(&ticket).as_deref(), Some(&b"session state"[..]));
        // Tampered, cut or foreign: nothing.
        let mut bad = ticket.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(two.decrypt(&bad), None);
        assert_eq!(two.decrypt(&ticket[..20]), None);
        assert_eq!(two.decrypt(b""), None);
        let other = scratch("other");
        let stranger = SharedTickets::new(&other, "smtpd_tls_ticket", 3600);
        assert_eq!(stranger.decrypt(&ticket), None);
        // One key file, private, named for the lifetime.
        let files: Vec<_> = std::fs::read_dir(&d).expect("dir").flatten().collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let name = files[0].file_name().to_string_lossy().into_owned();
        assert!(name.starts_with("smtpd_tls_ticket-3600."), "{name}");
        use std::os::unix::fs::PermissionsExt;
        let mode = files[0].metadata().expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&d);
        let _ = std::fs::remove_dir_all(&other);
    }

    /// Making a key sweeps this service's old keys and leftovers, nothing
    /// else; a lifetime under 120 s counts as 120 s.
    #[test]
    fn old_keys_go_when_a_new_one_is_made() {
        let d = scratch("sweep");
        for f in [
            "smtpd_tls_ticket-120.5",
            ".smtpd_tls_ticket-120.7.123",
            "smtpd_tls_ticket-7200.5",
            "other",
        ] {
            std::fs::write(d.join(f), b"x").expect("write");
        }
        let t = SharedTickets::new(&d, "smtpd_tls_ticket", 1);
        assert!(t.encrypt(b"state").is_some());
        let mut names: Vec<String> = std::fs::read_dir(&d)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 3, "{names:?}");
        assert_eq!(names[0], "other");
        assert!(names[1].starts_with("smtpd_tls_ticket-120."), "{names:?}");
        assert_eq!(names[2], "smtpd_tls_ticket-7200.5");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn no_key_no_tickets() {
        let missing = std::env::temp_dir().join("tls-tickets-no-such-dir/x");
        let t = SharedTickets::new(&missing, "smtpd_tls_ticket", 3600);
        assert!(!t.enabled());
        assert_eq!(t.encrypt(b"state"), None);
    }
}
