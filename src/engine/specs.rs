//! Runtime specs for one service of a project context: [`super::convert`] does the field
//! mapping; this adds what only the engine knows (paths of the project, build contexts read
//! from disk, names of the containers `service:x` references point at).

use std::collections::BTreeMap;

use crate::build::context;
use crate::compose::model::ServiceConfig;
use crate::runtime::{BuildSecret, BuildSpec, ContainerSpec, NamedContext};

use super::convert::{self, ConvertContext, OneOff};
use super::state::ProjectContext;

pub use super::convert::{network_spec, volume_spec};

pub fn container_name(
    ctx: &ProjectContext,
    name: &str,
    service: &ServiceConfig,
    number: u32,
) -> String {
    convert::replica_name(&ctx.project, name, service, number)
}

pub fn build_spec_for(
    ctx: &ProjectContext,
    name: &str,
    service: &ServiceConfig,
) -> Result<BuildSpec, String> {
    let build = service
        .build
        .as_ref()
        .ok_or_else(|| format!("service {name} has no build section"))?;
    let packed = context::for_build_config(build).map_err(|e| e.to_string())?;
    let mut spec = convert::build_spec(&ctx.project, name, service, packed);
    for secret in &build.secrets {
        let Some(var) = ctx
            .project
            .secrets
            .get(&secret.source)
            .and_then(|s| s.environment.as_ref())
        else {
            continue;
        };
        let value = ctx.environment.get(var).ok_or_else(|| {
            format!(
                "build secret {} takes its value from the environment variable {var}, which \
                 is not set; export it or add it to .env",
                secret.source
            )
        })?;
        let id = secret
            .target
            .clone()
            .unwrap_or_else(|| secret.source.clone());
        spec.secrets.insert(id, BuildSecret::Value(value.clone()));
    }
    for (id, path) in build.ssh.iter() {
        spec.ssh
            .insert(id.clone(), ssh_socket(id, path, &ctx.environment)?);
    }
    for (key, value) in build.additional_contexts.iter() {
        let named = named_context(ctx, key, value).map_err(|e| {
            let shown = crate::build::git::redacted(value);
            format!("build.additional_contexts.{key} ({shown}): {e}")
        })?;
        spec.named_contexts.insert(key.clone(), named);
    }
    Ok(spec)
}

/// What one `additional_contexts` entry names: a local directory (packed now), an image
/// (`docker-image://`), or another service's image (`service:` / bake's `target:`).
fn named_context(ctx: &ProjectContext, key: &str, value: &str) -> Result<NamedContext, String> {
    if key.is_empty() || key.contains(['/', ':', '=']) {
        return Err("a context name cannot be empty or contain `/`, `:` or `=`".to_string());
    }
    if let Some(image) = value.strip_prefix("docker-image://") {
        if image.is_empty() {
            return Err("docker-image:// needs an image reference".to_string());
        }
        return Ok(NamedContext::Image(image.to_string()));
    }
    if let Some(service) = value
        .strip_prefix("service:")
        .or_else(|| value.strip_prefix("target:"))
    {
        if !ctx.project.services.contains_key(service) {
            return Err(format!(
                "no service named {service} in the project; name an existing service"
            ));
        }
        return Ok(NamedContext::Image(ctx.image_of(service)));
    }
    if let Some(git) = crate::build::git::parse(value) {
        let checkout = crate::build::git::fetch(&git)?;
        let tar = context::named_context_tar(checkout.root()).map_err(|e| e.to_string())?;
        return Ok(NamedContext::Dir {
            path: value.into(),
            tar,
        });
    }
    if value.starts_with("oci-layout://") || value.contains("://") {
        return Err(
            "only local directories, git repositories (…/repo.git#ref:subdir), \
             docker-image://<image> and service:<name> are supported as named contexts; \
             download it and name the local directory"
                .to_string(),
        );
    }
    let path = std::path::PathBuf::from(value);
    if !path.is_dir() {
        return Err(format!(
            "{} is not a directory; fix the path (relative paths start at the project directory)",
            path.display()
        ));
    }
    let tar = context::named_context_tar(&path).map_err(|e| e.to_string())?;
    Ok(NamedContext::Dir { path, tar })
}

/// The agent socket of a `build.ssh` entry: its path, or `$SSH_AUTH_SOCK` for `default`
/// without one. Key files need an agent to serve them; hoist does not run one.
fn ssh_socket(
    id: &str,
    path: &str,
    env: &crate::compose::discover::Environment,
) -> Result<std::path::PathBuf, String> {
    use std::os::unix::fs::FileTypeExt;
    let path = match (path.is_empty(), env.get("SSH_AUTH_SOCK")) {
        (false, _) => std::path::PathBuf::from(path),
        (true, Some(sock)) if !sock.is_empty() => std::path::PathBuf::from(sock),
        (true, _) => {
            return Err(format!(
                "build.ssh {id}: SSH_AUTH_SOCK is not set; start an ssh-agent (eval \
                 $(ssh-agent); ssh-add) or give the agent's socket as {id}=<path>"
            ))
        }
    };
    match std::fs::metadata(&path) {
        Ok(m) if m.file_type().is_socket() => Ok(path),
        Ok(_) => Err(format!(
            "build.ssh {id}: {} is not an agent socket; load the key into an ssh-agent \
             (ssh-add {}) and give the agent's socket (SSH_AUTH_SOCK) instead",
            path.display(),
            path.display()
        )),
        Err(e) => Err(format!("build.ssh {id}: {}: {e}", path.display())),
    }
}

/// The services whose images the build of `service` uses as named contexts
/// (`service:<name>`): they are built first.
pub fn context_services(service: &ServiceConfig) -> Vec<String> {
    service
        .build
        .iter()
        .flat_map(|b| b.additional_contexts.values())
        .filter_map(|v| {
            v.strip_prefix("service:")
                .or_else(|| v.strip_prefix("target:"))
        })
        .map(str::to_string)
        .collect()
}

pub fn container_spec_for(
    ctx: &ProjectContext,
    name: &str,
    service: &ServiceConfig,
    number: u32,
    oneoff: Option<OneOff>,
) -> Result<ContainerSpec, String> {
    // `network_mode: service:x`, `volumes_from: [x]`... name replica 1 of x.
    let service_containers: BTreeMap<String, String> = ctx
        .project
        .services
        .iter()
        .map(|(k, s)| (k.clone(), convert::replica_name(&ctx.project, k, s, 1)))
        .collect();
    let convert_ctx = ConvertContext {
        working_dir: ctx.working_dir.clone(),
        config_files: ctx.config_files.clone(),
        environment_file: None,
        oneoff,
        image: ctx.image_of(name),
        image_id: None,
        service_containers,
    };
    convert::container_spec(&ctx.project, name, service, number, &convert_ctx)
        .map_err(|e| e.to_string())
}

/// A file the engine writes into a created container before it starts: a secret whose
/// value comes from `environment:`, a config with `content:` or `environment:` (docker
/// compose copies these in; file-based ones are bind mounts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedFile {
    /// Absolute path in the container.
    pub target: String,
    pub content: Vec<u8>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

/// The files [`InjectedFile`] describes for `service`, with values from the project
/// environment; an unset variable is an error naming it.
pub fn injected_files(
    ctx: &ProjectContext,
    service: &ServiceConfig,
) -> Result<Vec<InjectedFile>, String> {
    let mut out = Vec::new();
    let value_of = |kind: &str, source: &str, var: &str| {
        ctx.environment.get(var).cloned().ok_or_else(|| {
            format!(
                "{kind} {source} takes its value from the environment variable {var}, \
                 which is not set; export it or add it to .env"
            )
        })
    };
    let number = |v: &Option<String>, what: &str| -> Result<u64, String> {
        v.as_deref()
            .map(|s| {
                s.parse::<u64>()
                    .map_err(|_| format!("{what} {s:?} is not a number"))
            })
            .transpose()
            .map(|n| n.unwrap_or(0))
    };
    for s in &service.secrets {
        let Some(var) = ctx
            .project
            .secrets
            .get(&s.source)
            .and_then(|c| c.environment.as_ref())
        else {
            continue;
        };
        let target = s.target.clone().unwrap_or_else(|| s.source.clone());
        let target = if target.starts_with('/') {
            target
        } else {
            format!("/run/secrets/{target}")
        };
        out.push(InjectedFile {
            target,
            content: value_of("secret", &s.source, var)?.into_bytes(),
            mode: s.mode.as_ref().map_or(0o444, |m| m.0),
            uid: number(&s.uid, "secret uid")?,
            gid: number(&s.gid, "secret gid")?,
        });
    }
    for c in &service.configs {
        let Some(config) = ctx.project.configs.get(&c.source) else {
            continue;
        };
        let content = match (&config.content, &config.environment) {
            (Some(content), _) => content.clone(),
            (None, Some(var)) => value_of("config", &c.source, var)?,
            (None, None) => continue,
        };
        let target = c.target.clone().unwrap_or_else(|| format!("/{}", c.source));
        let target = if target.starts_with('/') {
            target
        } else {
            format!("/{target}")
        };
        out.push(InjectedFile {
            target,
            content: content.into_bytes(),
            mode: c.mode.as_ref().map_or(0o444, |m| m.0),
            uid: number(&c.uid, "config uid")?,
            gid: number(&c.gid, "config gid")?,
        });
    }
    Ok(out)
}

/// A tar to extract at `/` holding `files` at their paths, as docker compose sends them
/// (no directory entries: the extraction creates missing parents and leaves existing
/// ones, such as `/tmp`, as they are).
pub fn injected_tar(files: &[InjectedFile]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for file in files {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(file.mode);
        h.set_uid(file.uid);
        h.set_gid(file.gid);
        h.set_size(file.content.len() as u64);
        builder.append_data(
            &mut h,
            file.target.trim_start_matches('/'),
            &file.content[..],
        )?;
    }
    builder.into_inner()
}
