//! MAILSUITE_FAIL_POINT in the environment makes a writer step fail, and
//! nothing is left behind. Its own test binary: the variable is per process.

use queue::{Envelope, Extracted, QueueError, Writer};

#[test]
fn environment_fail_points_leave_nothing() {
    let dir = std::env::temp_dir().join(format!("queue_failenv_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    for step in queue::writer::FAIL_STEPS {
        std::env::set_var(util::safe_file::FAIL_POINT_ENV, step);
        let result = Writer::new(&dir, &Envelope::default()).and_then(|mut w| {
            w.write_content(b"Subject: x\n\nbody\n")?;
            w.finish(&Extracted::default())
        });
        assert!(
            matches!(result, Err(QueueError::Injected(s)) if s == step),
            "{step}: {result:?}"
        );
        assert_eq!(
            std::fs::read_dir(&dir).expect("read_dir").count(),
            0,
            "{step}"
        );
    }
    std::env::remove_var(util::safe_file::FAIL_POINT_ENV);
    let w = Writer::new(&dir, &Envelope::default()).expect("writer");
    w.finish(&Extracted::default()).expect("finish");
    assert_eq!(std::fs::read_dir(&dir).expect("read_dir").count(), 1);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
