//! `schemas/compose.schema.json` is generated from the Rust model the loader deserializes into;
//! this test fails when the checked-in file is stale. Regenerate with
//! `HOIST_UPDATE_SCHEMA=1 cargo test --test schema`.

use std::path::Path;

#[test]
fn checked_in_schema_matches_the_model() {
    let schema = hoist::compose::model::json_schema();
    let mut generated = serde_json::to_string_pretty(&schema).expect("schema serializes");
    generated.push('\n');
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/compose.schema.json");
    if std::env::var_os("HOIST_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write schema");
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{} is out of date with the model: run `HOIST_UPDATE_SCHEMA=1 cargo test --test schema` and commit it",
        path.display()
    );
}

#[test]
fn schema_describes_short_and_long_syntax() {
    let schema =
        serde_json::to_value(hoist::compose::model::json_schema()).expect("schema serializes");
    let text = schema.to_string();
    for key in [
        "services",
        "networks",
        "volumes",
        "secrets",
        "configs",
        "depends_on",
        "healthcheck",
        "develop",
    ] {
        assert!(text.contains(&format!("\"{key}\"")), "schema lacks {key}");
    }
}
