//! `hoist version`.

use super::GlobalArgs;
use crate::compose::error::LoadError;

#[derive(clap::Args, Debug)]
pub struct VersionArgs {
    /// Format the output
    #[arg(long, value_parser = ["pretty", "json"], default_value = "pretty")]
    pub format: String,
    /// Show only the version number
    #[arg(long)]
    pub short: bool,
}

pub fn run(_global: &GlobalArgs, args: &VersionArgs) -> Result<i32, LoadError> {
    let version = env!("CARGO_PKG_VERSION");
    if args.short {
        println!("{version}");
    } else if args.format == "json" {
        println!("{}", serde_json::json!({ "version": version }));
    } else {
        println!("hoist version {version}");
    }
    Ok(0)
}
