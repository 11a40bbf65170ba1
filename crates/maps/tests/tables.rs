//! File-backed tables end to end: build, open, look up, rebuild under a
//! reader, and the warnings bad files draw.

// Test helpers outside #[test] functions may panic on setup failures.
#![allow(clippy::unwrap_used)]

use maps::{indexed, open, Ctx, MapError, MapList};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A fresh directory per test, removed when the test passes.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("maps-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    fn file(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn collecting() -> (Ctx, Arc<Mutex<Vec<String>>>) {
    let w = Arc::new(Mutex::new(Vec::new()));
    let w2 = w.clone();
    let ctx = Ctx::new().with_warn(move |s| w2.lock().unwrap().push(s.to_string()));
    (ctx, w)
}

fn build(path: &str, entries: &[(&str, &str)]) {
    indexed::write(
        &indexed::db_path(path),
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        &indexed::WriteOptions::default(),
        &|w| panic!("{w}"),
    )
    .unwrap();
}

#[test]
fn texthash_reads_source_with_postfix_warnings() {
    let d = Dir::new("texthash");
    let p = d.file(
        "t",
        "Foo bar\nfoo baz\n# comment\n\nkey1 value one\n  continued here\nbadline\n",
    );
    let (ctx, w) = collecting();
    let m = open(&format!("texthash:{p}"), &ctx).unwrap();
    assert_eq!(m.lookup("FOO").unwrap().as_deref(), Some("bar"));
    assert_eq!(
        m.lookup("key1").unwrap().as_deref(),
        Some("value one  continued here")
    );
    assert_eq!(m.lookup("badline").unwrap(), None);
    assert_eq!(
        w.lock().unwrap().as_slice(),
        [
            format!("{p}, line 2: duplicate entry: \"foo\""),
            format!("{p}, line 7: expected format: key whitespace value -- ignoring this line"),
        ]
    );
    let m = open(&format!("texthash:{p}"), &ctx.clone().fold(false)).unwrap();
    assert_eq!(m.lookup("foo").unwrap().as_deref(), Some("baz"));
    assert_eq!(m.lookup("Foo").unwrap().as_deref(), Some("bar"));
}

#[test]
fn hash_and_btree_lookups_and_dump() {
    let d = Dir::new("hash");
    let p = d.file("access", "");
    let (ctx, _) = collecting();
    build(&p, &[("zeta", "3"), ("alpha", "1"), ("mid", "2")]);
    let h = open(&format!("hash:{p}"), &ctx).unwrap();
    assert_eq!(h.lookup("ALPHA").unwrap().as_deref(), Some("1"));
    assert_eq!(h.lookup("none").unwrap(), None);
    let keys: Vec<String> = h.entries().unwrap().into_iter().map(|e| e.0).collect();
    assert_eq!(keys, ["zeta", "alpha", "mid"]);
    indexed::write(
        &indexed::db_path(&p),
        vec![("zeta".into(), "3".into()), ("alpha".into(), "1".into())],
        &indexed::WriteOptions {
            sorted: true,
            ..Default::default()
        },
        &|_| {},
    )
    .unwrap();
    let b = open(&format!("btree:{p}"), &ctx).unwrap();
    let keys: Vec<String> = b.entries().unwrap().into_iter().map(|e| e.0).collect();
    assert_eq!(keys, ["alpha", "zeta"]);
    // Missing .db: an open error naming the database, as Postfix says it.
    let e = open(&format!("hash:{}/nope", d.0.display()), &ctx)
        .err()
        .unwrap();
    assert!(e.is_missing_file());
    assert_eq!(
        e.to_string(),
        format!(
            "open database {}/nope.db: No such file or directory",
            d.0.display()
        )
    );
    // A file that is not ours (a Berkeley DB from real Postfix, say).
    std::fs::write(d.0.join("bdb.db"), vec![0x61u8; 12288]).unwrap();
    let e = open(&format!("hash:{}/bdb", d.0.display()), &ctx)
        .err()
        .unwrap();
    assert!(matches!(e, MapError::Corrupt { .. }), "{e}");
}

#[test]
fn duplicate_keys_keep_the_first_value() {
    let d = Dir::new("dups");
    let p = d.file("t", "");
    let db = indexed::db_path(&p);
    let w = Mutex::new(Vec::new());
    let n = indexed::write(
        &db,
        vec![("foo".into(), "bar".into()), ("foo".into(), "baz".into())],
        &indexed::WriteOptions::default(),
        &|s| w.lock().unwrap().push(s.to_string()),
    )
    .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        w.into_inner().unwrap(),
        [format!("{}: duplicate entry: \"foo\"", db.display())]
    );
    let m = open(&format!("hash:{p}"), &Ctx::new()).unwrap();
    assert_eq!(m.lookup("foo").unwrap().as_deref(), Some("bar"));
}

#[test]
fn reader_keeps_working_while_the_table_is_rebuilt() {
    let d = Dir::new("rebuild");
    let p = d.file("virtual", "");
    build(&p, &[("key", "old"), ("other", "x")]);
    let m: Arc<dyn maps::Map> = Arc::from(open(&format!("hash:{p}"), &Ctx::new()).unwrap());
    assert_eq!(m.lookup("key").unwrap().as_deref(), Some("old"));
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (m, stop, reads) = (m.clone(), stop.clone(), reads.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let v = m.lookup("key").expect("lookup failed during rebuild");
                let v = v.expect("key missing during rebuild");
                assert!(v == "old" || v.starts_with("new"), "{v}");
                reads.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    for i in 0..50 {
        let big: Vec<(String, String)> = (0..200)
            .map(|j| (format!("filler{j}"), "y".repeat(j)))
            .chain([("key".to_string(), format!("new{i}"))])
            .collect();
        indexed::write(
            &indexed::db_path(&p),
            big,
            &indexed::WriteOptions::default(),
            &|_| {},
        )
        .unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    assert!(reads.load(Ordering::Relaxed) > 0);
    assert_eq!(m.lookup("key").unwrap().as_deref(), Some("new49"));
    assert_eq!(m.lookup("other").unwrap(), None);
    assert_eq!(m.lookup("filler3").unwrap().as_deref(), Some("yyy"));
}

#[test]
fn pattern_files_reload_when_edited() {
    let d = Dir::new("patterns");
    let r = d.file("header_checks", "/^Subject: (.*)free/  REJECT $1\n");
    let c = d.file("clients.cidr", "192.168.0.0/16 OK\n");
    let (ctx, w) = collecting();
    let re = open(&format!("regexp:{r}"), &ctx).unwrap();
    let pc = open(&format!("pcre:{r}"), &ctx).unwrap();
    let ci = open(&format!("cidr:{c}"), &ctx).unwrap();
    assert_eq!(
        re.lookup("Subject: all FREE").unwrap().as_deref(),
        Some("REJECT all ")
    );
    assert_eq!(
        pc.lookup("Subject: x free").unwrap().as_deref(),
        Some("REJECT x ")
    );
    assert_eq!(ci.lookup("192.168.3.4").unwrap().as_deref(), Some("OK"));
    // Edit both; a new inode and size make the next look-up read them again.
    std::fs::write(&r, "/^Subject:/ DISCARD\n/bad(/ x\n").unwrap();
    std::fs::write(&c, "192.168.0.0/16 REJECT\n").unwrap();
    let bump = |p: &str| {
        let f = std::fs::File::options().append(true).open(p).unwrap();
        f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
            .unwrap();
    };
    bump(&r);
    bump(&c);
    assert_eq!(
        re.lookup("Subject: free").unwrap().as_deref(),
        Some("DISCARD")
    );
    assert_eq!(ci.lookup("192.168.3.4").unwrap().as_deref(), Some("REJECT"));
    let warnings = w.lock().unwrap().clone();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with(&format!("regexp map {r}, line 2: ")),
        "{warnings:?}"
    );
    // A table that vanishes is a temporary failure, not "not found".
    std::fs::remove_file(&c).unwrap();
    assert!(ci.lookup("192.168.3.4").is_err());
}

#[test]
fn alias_maps_style_list() {
    let d = Dir::new("list");
    let p = d.file("aliases", "");
    build(&p, &[("postmaster", "root"), ("root", "admin")]);
    let (ctx, w) = collecting();
    let value = format!("hash:{p}, nis:mail.aliases");
    assert!(matches!(
        MapList::open("alias_maps", &value, &ctx),
        Err(MapError::UnsupportedType { .. })
    ));
    let l = MapList::open_lenient("alias_maps", &value, &ctx);
    assert_eq!(l.lookup("Postmaster").unwrap().as_deref(), Some("root"));
    assert!(l.lookup("nobody-here").is_err());
    assert_eq!(w.lock().unwrap().len(), 1);
}
