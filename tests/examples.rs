//! Every stack in `compose-examples/` loads: `hoist config` accepts what the README shows users.

use std::path::Path;
use std::process::Command;

#[test]
fn hoist_config_accepts_every_compose_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose-examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&root).expect("compose-examples") {
        let dir = entry.expect("entry").path();
        if !dir.join("compose.yaml").is_file() {
            continue;
        }
        let out = Command::new(env!("CARGO_BIN_EXE_hoist"))
            .current_dir(&dir)
            .args(["config", "--format", "json"])
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("COMPOSE_PROFILES")
            .output()
            .expect("run hoist");
        assert!(
            out.status.success(),
            "hoist config fails in {}:\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let project: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("config prints JSON");
        assert!(
            project["services"]
                .as_object()
                .is_some_and(|s| !s.is_empty()),
            "{} has no services",
            dir.display()
        );
        checked += 1;
    }
    assert!(
        checked >= 6,
        "expected the six example stacks, found {checked}"
    );
}
