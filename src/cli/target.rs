//! Which project a read-only command looks at. Like docker compose, `-p NAME` without `-f`
//! needs no compose file at all (the containers' labels say everything), so `ps`, `logs`,
//! `top`... work from any directory and skip loading the file; otherwise the file is loaded
//! to learn the name, and services named on the command line are checked against it.

use super::{load_context, CliError, GlobalArgs};
use crate::compose::discover::{is_valid_project_name, normalize_project_name};
use crate::compose::error::LoadError;
use crate::engine::{EngineError, ProjectContext};

/// A project by name, and its loaded model when a compose file was read.
pub struct Target {
    pub name: String,
    pub ctx: Option<ProjectContext>,
}

/// Resolves the project for a command naming `services`; with `require_file` the compose
/// file is always loaded (for commands that need the model).
pub fn resolve(
    global: &GlobalArgs,
    services: &[String],
    require_file: bool,
) -> Result<Target, CliError> {
    if let Some(name) = global.project_name.as_deref().filter(|n| !n.is_empty()) {
        if global.files.is_empty() && !require_file {
            if !is_valid_project_name(name) {
                return Err(CliError::Load(
                    LoadError::new(format!(
                        "invalid project name \"{name}\" (from -p/--project-name): it must contain only lowercase letters, digits, dashes and underscores, and start with a letter or digit"
                    ))
                    .with_hint(format!("try \"{}\"", normalize_project_name(name))),
                ));
            }
            return Ok(Target {
                name: name.to_string(),
                ctx: None,
            });
        }
    }
    match load_context(global, services) {
        Ok(ctx) => {
            for service in services {
                if !ctx.project.services.contains_key(service) {
                    return Err(CliError::Engine(EngineError::new(format!(
                        "no such service: {service}"
                    ))));
                }
            }
            Ok(Target {
                name: ctx.name().to_string(),
                ctx: Some(ctx),
            })
        }
        // No usable file, but the environment names the project: docker compose goes on.
        Err(err) if !require_file => match std::env::var("COMPOSE_PROJECT_NAME") {
            Ok(name) if is_valid_project_name(&name) => Ok(Target { name, ctx: None }),
            _ => Err(err),
        },
        Err(err) => Err(err),
    }
}
