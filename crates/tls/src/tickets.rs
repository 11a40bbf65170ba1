//! Session tickets that every process of a service can open, as Postfix's
//! tlsmgr shares its ticket keys among the smtpd processes: a client that
//! resumes its TLS session with another smtpd skips the full handshake.
//!
//! The keys live in files in a directory the service owns
//! (`data_directory`), one per period of `lifetime` seconds:
//! `PREFIX.N` for period N (the time divided by the lifetime), 16 bytes of
//! key name and 32 of AES-256-GCM key, mode 0600. The first process to
//! need a period's key makes it (written aside, then linked into place, so
//! that a reader never sees half a key and two makers agree on the first);
//! tickets are made with the current period's key and opened with it or
//! the previous one's, so a ticket lives one to two lifetimes; files two
//! periods old are removed. A key that cannot be had means no tickets:
//! clients then make full handshakes.
//!
//! A ticket is the key name, a 12-byte random nonce, and the sealed
//! session state.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
    dir: PathBuf,
    prefix: String,
    lifetime: u32,
    keys: Mutex<Keys>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SharedTickets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedTickets({}/{}.*)", self.dir.display(), self.prefix)
    }
}

impl SharedTickets {
    /// Tickets good for `lifetime` seconds (at least one), with keys in
    /// `dir` named `prefix.N`.
    pub fn new(dir: &Path, prefix: &str, lifetime: u32) -> SharedTickets {
        SharedTickets {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            lifetime: lifetime.max(1),
            keys: Mutex::new(Keys {
                period: u64::MAX,
                ..Keys::default()
            }),
            rng: SystemRandom::new(),
        }
    }

    fn path(&self, period: u64) -> PathBuf {
        self.dir.join(format!("{}.{period}", self.prefix))
    }

    /// The key of `period`, read, or made when `make` and there is none.
    fn key(&self, period: u64, make: bool) -> Option<Key> {
        let path = self.path(period);
        if let Ok(bytes) = std::fs::read(&path) {
            return Key::from_bytes(&bytes);
        }
        if !make {
            return None;
        }
        let mut bytes = [0u8; NAME_LEN + KEY_LEN];
        self.rng.fill(&mut bytes).ok()?;
        let aside = self
            .dir
            .join(format!(".{}.{period}.{}", self.prefix, std::process::id()));
        let written = write_private(&aside, &bytes);
        let linked = written.and_then(|()| std::fs::hard_link(&aside, &path));
        let _ = std::fs::remove_file(&aside);
        match linked {
            Ok(()) => {
                // Keys two periods old open nothing any more.
                if let Some(old) = period.checked_sub(2) {
                    let _ = std::fs::remove_file(self.path(old));
                }
                Key::from_bytes(&bytes)
            }
            // Another process made it first: that one is the key.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Key::from_bytes(&std::fs::read(&path).ok()?)
            }
            Err(e) => {
                maillog::warning!("cannot make the TLS ticket key {}: {e}", path.display());
                None
            }
        }
    }

    /// The keys for now, read again when the period has turned.
    fn keys(&self) -> std::sync::MutexGuard<'_, Keys> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let period = now / u64::from(self.lifetime);
        if keys.period != period {
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

/// Writes a new file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

impl rustls::server::ProducesTickets for SharedTickets {
    fn enabled(&self) -> bool {
        true
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

    fn scratch(name: &str) -> PathBuf {
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
        // One key file, private.
        let files: Vec<_> = std::fs::read_dir(&d).expect("dir").flatten().collect();
        assert_eq!(files.len(), 1, "{files:?}");
        use std::os::unix::fs::PermissionsExt;
        let mode = files[0].metadata().expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&d);
        let _ = std::fs::remove_dir_all(&other);
    }

    #[test]
    fn no_key_no_tickets() {
        let missing = std::env::temp_dir().join("tls-tickets-no-such-dir/x");
        let t = SharedTickets::new(&missing, "smtpd_tls_ticket", 3600);
        assert_eq!(t.encrypt(b"state"), None);
    }
}
