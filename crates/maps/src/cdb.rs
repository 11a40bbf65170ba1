//! The indexed file format of `hash:` and `btree:` tables: D. J. Bernstein's
//! constant database (cdb), so `cdbdump`/`cdbget` can read our files.
//!
//! Layout (all numbers 32-bit little endian): a 2048-byte header of 256
//! (table position, slot count) pairs; the records, each `key length, data
//! length, key, data`, in insertion order; then the 256 hash tables of
//! (hash, record position) slots, open addressing with linear probing. The
//! hash is `h = 5381; h = (h * 33) ^ byte`; table `h % 256`, first slot
//! `(h / 256) % slots`. A slot with position 0 is empty.
//!
//! A look-up reads the header once at open, then one slot at a time and the
//! one record it points to with pread(2): the file is never read whole.

use std::fs::File;
use std::os::unix::fs::FileExt;

const HEADER: usize = 2048;

/// The cdb hash of `key`.
pub fn hash(key: &[u8]) -> u32 {
    let mut h: u32 = 5381;
    for &c in key {
        h = (h << 5).wrapping_add(h) ^ u32::from(c);
    }
    h
}

fn put(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(&n.to_le_bytes());
}

/// Builds the whole file for `entries` (in that order; keys must be unique
/// for look-ups to see every entry). None when the result passes 4 GiB.
pub fn build<'a>(entries: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Option<Vec<u8>> {
    let mut out = vec![0u8; HEADER];
    let mut buckets: Vec<Vec<(u32, u32)>> = vec![Vec::new(); 256];
    for (k, v) in entries {
        let pos = u32::try_from(out.len()).ok()?;
        put(&mut out, u32::try_from(k.len()).ok()?);
        put(&mut out, u32::try_from(v.len()).ok()?);
        out.extend_from_slice(k);
        out.extend_from_slice(v);
        let h = hash(k);
        buckets[(h & 0xff) as usize].push((h, pos));
    }
    let mut header = Vec::with_capacity(HEADER);
    for b in &buckets {
        let slots = b.len() * 2;
        let tpos = u32::try_from(out.len()).ok()?;
        put(&mut header, tpos);
        put(&mut header, u32::try_from(slots).ok()?);
        let mut table = vec![(0u32, 0u32); slots];
        for &(h, pos) in b {
            let mut i = ((h >> 8) as usize) % slots;
            while table[i].1 != 0 {
                i = (i + 1) % slots;
            }
            table[i] = (h, pos);
        }
        for (h, pos) in table {
            put(&mut out, h);
            put(&mut out, pos);
        }
    }
    u32::try_from(out.len()).ok()?;
    out[..HEADER].copy_from_slice(&header);
    Some(out)
}

/// Why a file is not a valid cdb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    Io(String),
    Bad(String),
    /// A Berkeley DB file of this kind (hash, btree): a table Postfix's
    /// own postmap built.
    BerkeleyDb(&'static str),
}

/// One stored record: key and data bytes.
pub type Record = (Vec<u8>, Vec<u8>);

/// An open cdb file.
#[derive(Debug)]
pub struct Reader {
    file: File,
    len: u64,
    header: Vec<(u32, u32)>,
    records_end: u64,
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[i..i + 4]);
    u32::from_le_bytes(a)
}

/// The kind of Berkeley DB file whose first bytes these are (the magic
/// number at offset 12, in either byte order): what a table built by
/// Postfix's own postmap is, and this reader cannot read.
fn berkeley_db(head: &[u8; 16]) -> Option<&'static str> {
    let le = u32::from_le_bytes([head[12], head[13], head[14], head[15]]);
    let be = u32::from_be_bytes([head[12], head[13], head[14], head[15]]);
    [le, be].iter().find_map(|&m| match m {
        0x0006_1561 => Some("hash"),
        0x0005_3162 => Some("btree"),
        _ => None,
    })
}

impl Reader {
    /// Reads and checks the header of `file`.
    pub fn new(file: File) -> Result<Reader, Damage> {
        let len = file
            .metadata()
            .map_err(|e| Damage::Io(e.to_string()))?
            .len();
        let mut magic = [0u8; 16];
        if file.read_exact_at(&mut magic, 0).is_ok() {
            if let Some(kind) = berkeley_db(&magic) {
                return Err(Damage::BerkeleyDb(kind));
            }
        }
        if len < HEADER as u64 {
            return Err(Damage::Bad("file too short".into()));
        }
        let mut buf = vec![0u8; HEADER];
        file.read_exact_at(&mut buf, 0)
            .map_err(|e| Damage::Io(e.to_string()))?;
        let mut header = Vec::with_capacity(256);
        let mut records_end = len;
        for i in 0..256 {
            let pos = u32_at(&buf, i * 8);
            let slots = u32_at(&buf, i * 8 + 4);
            if u64::from(pos) < HEADER as u64 || u64::from(pos) + u64::from(slots) * 8 > len {
                return Err(Damage::Bad(format!("hash table {i} out of bounds")));
            }
            records_end = records_end.min(u64::from(pos));
            header.push((pos, slots));
        }
        Ok(Reader {
            file,
            len,
            header,
            records_end,
        })
    }

    fn read(&self, pos: u64, n: u64) -> Result<Vec<u8>, Damage> {
        if pos.checked_add(n).is_none_or(|end| end > self.len) {
            return Err(Damage::Bad(format!("record at {pos} runs past the end")));
        }
        let mut buf = vec![0u8; n as usize];
        self.file
            .read_exact_at(&mut buf, pos)
            .map_err(|e| Damage::Io(e.to_string()))?;
        Ok(buf)
    }

    fn pair(&self, pos: u64) -> Result<(u32, u32), Damage> {
        let b = self.read(pos, 8)?;
        Ok((u32_at(&b, 0), u32_at(&b, 4)))
    }

    /// The data stored under `key` (the first, if there are several).
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Damage> {
        let h = hash(key);
        let (tpos, slots) = self.header[(h & 0xff) as usize];
        if slots == 0 {
            return Ok(None);
        }
        let mut i = (h >> 8) % slots;
        for _ in 0..slots {
            let (sh, rpos) = self.pair(u64::from(tpos) + u64::from(i) * 8)?;
            if rpos == 0 {
                return Ok(None);
            }
            if sh == h {
                let (klen, dlen) = self.pair(u64::from(rpos))?;
                if klen as usize == key.len() {
                    let k = self.read(u64::from(rpos) + 8, u64::from(klen))?;
                    if k == key {
                        return self
                            .read(u64::from(rpos) + 8 + u64::from(klen), u64::from(dlen))
                            .map(Some);
                    }
                }
            }
            i = (i + 1) % slots;
        }
        Ok(None)
    }

    /// Every record, in file order.
    pub fn entries(&self) -> Result<Vec<Record>, Damage> {
        let mut out = Vec::new();
        let mut pos = HEADER as u64;
        while pos < self.records_end {
            let (klen, dlen) = self.pair(pos)?;
            let k = self.read(pos + 8, u64::from(klen))?;
            let v = self.read(pos + 8 + u64::from(klen), u64::from(dlen))?;
            out.push((k, v));
            pos += 8 + u64::from(klen) + u64::from(dlen);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_many_keys() {
        let keys: Vec<(String, String)> = (0..2000)
            .map(|i| (format!("key{i}@example.com"), format!("value {i}")))
            .collect();
        let bytes = build(keys.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes()))).unwrap();
        let dir = std::env::temp_dir().join(format!("cdb_test_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.db");
        std::fs::write(&p, &bytes).unwrap();
        let r = Reader::new(File::open(&p).unwrap()).unwrap();
        for (k, v) in &keys {
            assert_eq!(r.get(k.as_bytes()).unwrap().as_deref(), Some(v.as_bytes()));
        }
        assert_eq!(r.get(b"missing").unwrap(), None);
        assert_eq!(r.get(b"").unwrap(), None);
        let all = r.entries().unwrap();
        assert_eq!(all.len(), 2000);
        assert_eq!(all[7].0, b"key7@example.com");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn empty_and_garbage_files() {
        let dir = std::env::temp_dir().join(format!("cdb_test2_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("e.db");
        std::fs::write(&p, build(std::iter::empty()).unwrap()).unwrap();
        let r = Reader::new(File::open(&p).unwrap()).unwrap();
        assert_eq!(r.get(b"x").unwrap(), None);
        assert!(r.entries().unwrap().is_empty());
        std::fs::write(&p, vec![0xffu8; 4096]).unwrap();
        assert!(matches!(
            Reader::new(File::open(&p).unwrap()),
            Err(Damage::Bad(_))
        ));
        std::fs::write(&p, b"short").unwrap();
        assert!(Reader::new(File::open(&p).unwrap()).is_err());
        // The first page of a Berkeley DB file, as Postfix's postmap
        // writes it (little-endian magic at offset 12).
        for (magic, kind) in [
            ([0x61, 0x15, 0x06, 0x00], "hash"),
            ([0x62, 0x31, 0x05, 0x00], "btree"),
        ] {
            let mut page = vec![0u8; 4096];
            page[4] = 1;
            page[12..16].copy_from_slice(&magic);
            std::fs::write(&p, &page).unwrap();
            assert_eq!(
                Reader::new(File::open(&p).unwrap()).err(),
                Some(Damage::BerkeleyDb(kind))
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
