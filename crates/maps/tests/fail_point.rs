//! A rebuild that fails (here: the rename, through util::safe_file's
//! injected failure) leaves the old table in place and readable. Alone in
//! its own test binary because the failure is switched on by an
//! environment variable, which every thread of the process sees.

// Test helpers outside #[test] functions may panic on setup failures.
#![allow(clippy::unwrap_used)]

use maps::{indexed, open, Ctx};

#[test]
fn a_failed_rebuild_leaves_the_old_table() {
    let dir = std::env::temp_dir().join(format!("maps-failpoint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("t").display().to_string();
    let db = indexed::db_path(&p);
    indexed::write(
        &db,
        vec![("k".into(), "v1".into())],
        &indexed::WriteOptions::default(),
        &|_| {},
    )
    .unwrap();
    let m = open(&format!("hash:{p}"), &Ctx::new()).unwrap();
    for step in ["write", "fsync", "rename"] {
        std::env::set_var(util::safe_file::FAIL_POINT_ENV, step);
        let r = indexed::write(
            &db,
            vec![("k".into(), "v2".into())],
            &indexed::WriteOptions::default(),
            &|_| {},
        );
        std::env::remove_var(util::safe_file::FAIL_POINT_ENV);
        let e = r.unwrap_err();
        assert!(e.to_string().contains("the old table is unchanged"), "{e}");
        assert_eq!(m.lookup("k").unwrap().as_deref(), Some("v1"));
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "temp file left"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
