//! Reading `hoist ps --format json` output: one JSON object per line, as docker compose
//! prints them.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

/// `service state` of every container listed in `json_lines`, sorted.
pub fn service_states(json_lines: &str) -> Vec<String> {
    let mut rows: Vec<String> = json_lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("ps json line");
            format!(
                "{} {}",
                v["Service"].as_str().unwrap_or("?"),
                v["State"].as_str().unwrap_or("?")
            )
        })
        .collect();
    rows.sort();
    rows
}
