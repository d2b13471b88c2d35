//! `hoist image import`: a rootfs tarball becomes an image in the native runtime's store
//! (`docker import`), with `--change` instructions for its configuration.
//!
//! Not for: the Docker backend (its import is not part of the runtime contract), nor the
//! other `image` subcommands yet.

use std::path::PathBuf;

use super::{CliError, GlobalArgs};
use crate::engine::EngineError;
use crate::runtime::native::oci::ContainerDefaults;
use crate::runtime::native::NativeRuntime;

#[derive(clap::Args, Debug, Clone)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum ImageCommand {
    /// Import a rootfs tarball (plain or gzip) as an image of the native runtime
    Import(ImportArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct ImportArgs {
    /// The tarball
    pub file: PathBuf,
    /// The image name, e.g. `mybase:latest`
    pub reference: String,
    /// Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, WORKDIR, USER)
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
}

/// `CMD`/`ENTRYPOINT` arguments: a JSON array (exec form) or a shell command.
fn command_form(value: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(value)
        .unwrap_or_else(|_| vec!["/bin/sh".to_string(), "-c".to_string(), value.to_string()])
}

/// Applies `--change` instructions to the image defaults.
pub fn apply_changes(changes: &[String]) -> Result<ContainerDefaults, String> {
    let mut d = ContainerDefaults::default();
    for change in changes {
        let (word, rest) = change
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or((change, ""));
        let rest = rest.trim();
        match word.to_ascii_uppercase().as_str() {
            "CMD" => d.cmd = Some(command_form(rest)),
            "ENTRYPOINT" => d.entrypoint = Some(command_form(rest)),
            "ENV" => {
                let entry = match rest.split_once(['=', ' ']) {
                    Some((k, v)) => format!("{k}={}", v.trim()),
                    None => return Err(format!("ENV needs KEY=value: {change}")),
                };
                d.env.get_or_insert_with(Vec::new).push(entry);
            }
            "WORKDIR" => d.working_dir = Some(rest.to_string()),
            "USER" => d.user = Some(rest.to_string()),
            other => {
                return Err(format!(
                    "unsupported --change instruction {other}: {change}"
                ))
            }
        }
    }
    Ok(d)
}

pub async fn run(_global: &GlobalArgs, args: &ImageArgs) -> Result<i32, CliError> {
    match &args.command {
        ImageCommand::Import(import) => {
            let defaults = apply_changes(&import.changes).map_err(CliError::usage)?;
            let runtime = NativeRuntime::open_default()
                .map_err(|e| EngineError::runtime("open the native runtime's data root", e))?;
            let id = runtime
                .import_image(&import.file, &import.reference, defaults)
                .await
                .map_err(|e| {
                    EngineError::runtime(&format!("import {}", import.file.display()), e)
                })?;
            println!("{id}");
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_set_the_image_defaults_like_docker_import() {
        let d = apply_changes(&[
            r#"CMD ["sleep", "1"]"#.to_string(),
            "ENTRYPOINT echo hi".to_string(),
            "ENV A=1".to_string(),
            "WORKDIR /app".to_string(),
        ])
        .unwrap();
        assert_eq!(d.cmd, Some(vec!["sleep".to_string(), "1".to_string()]));
        assert_eq!(d.entrypoint.unwrap()[2], "echo hi");
        assert_eq!(d.env, Some(vec!["A=1".to_string()]));
        assert_eq!(d.working_dir.as_deref(), Some("/app"));
        assert!(apply_changes(&["EXPOSE 80".to_string()]).is_err());
    }
}
