//! Inputs the fuzzer (`cargo fuzz run load`) once crashed the loader with: each must now load
//! or fail with an error, never panic.

use std::path::Path;

use hoist::compose::{load, LoadOptions};

#[test]
fn every_fuzz_crash_input_is_rejected_or_loaded_without_panicking() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz fixtures") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read input");
        let text = String::from_utf8_lossy(&bytes).to_string();
        let opts = LoadOptions {
            files: vec!["-".to_string()],
            stdin: Some(text),
            interpolate: true,
            working_dir: "/nonexistent/fuzz".into(),
            ..LoadOptions::default()
        };
        let outcome = std::panic::catch_unwind(|| load(&opts).map(|_| ()));
        assert!(outcome.is_ok(), "{} panics the loader", path.display());
        count += 1;
    }
    assert!(count > 0, "no fuzz regression inputs in {}", dir.display());
}
