//! Arbitrary bytes as a compose file: the loader may reject them, never panic or hang.
#![no_main]

use hoist::compose::load::{load, LoadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let opts = LoadOptions {
        files: vec!["-".to_string()],
        stdin: Some(text.to_string()),
        interpolate: true,
        working_dir: "/nonexistent/fuzz".into(),
        process_env: [("HOME".to_string(), "/root".to_string()), ("PORT".to_string(), "8080".to_string())]
            .into_iter()
            .collect(),
        ..LoadOptions::default()
    };
    let _ = load(&opts);
});
