//! `hoist version`: the client's version and, as `docker version` shows its server, the
//! backend in use: which one and why, the engine's version (docker) or the data root
//! (native).

use serde_json::json;

use super::{backend, CliError, GlobalArgs};
use crate::engine::EngineError;

#[derive(clap::Args, Debug)]
pub struct VersionArgs {
    /// Format the output. Values: [pretty | json]
    #[arg(long, value_parser = ["pretty", "json"], default_value = "pretty")]
    pub format: String,
    /// Show only the client's version number (no backend is contacted)
    #[arg(long)]
    pub short: bool,
}

pub async fn run(global: &GlobalArgs, args: &VersionArgs) -> Result<i32, CliError> {
    let version = env!("CARGO_PKG_VERSION");
    if args.short {
        println!("{version}");
        return Ok(0);
    }
    let selected = backend::select(global.backend).await;
    let (backend_json, failure) = match &selected {
        Ok(s) => match s.runtime.info().await {
            Ok(info) => {
                let mut b = json!({
                    "Name": info.backend,
                    "Selected": s.reason,
                    "Os": info.os,
                    "Arch": info.arch,
                });
                if info.backend == "docker" {
                    b["Version"] = json!(info.version);
                    b["ApiVersion"] = json!(info.api_version);
                    b["Endpoint"] = json!(info.endpoint);
                } else {
                    b["Version"] = json!(version);
                    b["DataRoot"] = json!(info.endpoint);
                }
                (Some(b), None)
            }
            Err(e) => (None, Some(EngineError::runtime("query the backend", e))),
        },
        Err(e) => (None, Some(e.clone())),
    };
    if args.format == "json" {
        println!(
            "{}",
            json!({ "Client": { "Version": version }, "Backend": backend_json })
        );
    } else {
        println!("hoist version {version}");
        if let Some(b) = &backend_json {
            let text = |k: &str| b[k].as_str().unwrap_or_default().to_string();
            println!();
            println!("Backend: {}", text("Name"));
            println!(" Selected:     {}", text("Selected"));
            if text("Name") == "docker" {
                println!(
                    " Engine:       {} (API {})",
                    text("Version"),
                    text("ApiVersion")
                );
                println!(" Endpoint:     {}", text("Endpoint"));
            } else {
                println!(" Version:      {}", text("Version"));
                println!(" Data root:    {}", text("DataRoot"));
            }
            println!(" OS/Arch:      {}/{}", text("Os"), text("Arch"));
        }
    }
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(0),
    }
}
