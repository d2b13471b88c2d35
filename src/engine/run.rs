//! `run` and `exec` on the engine side: a one-off container derived from a service (its
//! dependencies started first), and the running container an `exec` targets.
//!
//! Not for: relaying the container's I/O to the user's terminal (the CLI does that with the
//! runtime's attach and exec streams), nor starting the one-off: the caller attaches first,
//! so no output is lost, then starts it.

use std::path::Path;

use crate::compose::model::{
    parse_port_mapping, parse_volume, ServiceConfig, ShellCommand, VolumeConfig, VolumeType,
};
use crate::compose::normalize::resolve_path;
use crate::runtime::{ContainerStatus, RestartPolicy, RuntimeError};

use super::convert::OneOff;
use super::error::EngineError;
use super::labels;
use super::specs;
use super::state::{ProjectContext, ProjectState};
use super::up::{dependency_graph, BuildPolicy, PullPolicy, UpOptions};
use super::Engine;

/// How to derive a one-off container from a service (`run` flags, already resolved).
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub service: String,
    /// Replaces the service's command when not empty.
    pub command: Vec<String>,
    /// Replaces the service's entrypoint (`Some(vec![])` resets the image's).
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=value` pairs overriding the service's environment.
    pub env: Vec<(String, String)>,
    /// Compose short-syntax volumes (`-v`); relative host paths resolve from the project dir.
    pub volumes: Vec<String>,
    /// Port mappings to publish (`-p`), in `ports:` short syntax.
    pub publish: Vec<String>,
    /// Publish the service's own `ports:` too.
    pub service_ports: bool,
    pub no_deps: bool,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub labels: Vec<(String, String)>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// Allocate a TTY.
    pub tty: bool,
    /// Keep stdin open (`-i`).
    pub interactive: bool,
    /// `-d`: nobody attaches, so stdin is not closed on detach.
    pub detach: bool,
    /// `--rm`: the container will be removed after it exits, so no restart policy.
    pub remove: bool,
    /// `--name`, instead of `<project>-<service>-run-<slug>`.
    pub name: Option<String>,
    pub use_aliases: bool,
    pub build: BuildPolicy,
    pub pull: PullPolicy,
    pub remove_orphans: bool,
}

/// A created (not started) one-off container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OneOffContainer {
    pub name: String,
    pub tty: bool,
    /// Whether its stdin is open to attach to.
    pub stdin_open: bool,
}

impl Engine {
    /// Starts the service's dependencies (unless `no_deps`), makes sure its image, networks
    /// and volumes exist, and creates the one-off container. Does not start it.
    pub async fn create_oneoff(
        &self,
        ctx: &ProjectContext,
        opts: &RunOptions,
    ) -> Result<OneOffContainer, EngineError> {
        let name = opts.service.as_str();
        let service = ctx
            .project
            .services
            .get(name)
            .ok_or_else(|| EngineError::new(format!("no such service: {name}")))?;

        let deps: Vec<String> = if opts.no_deps {
            Vec::new()
        } else {
            dependency_graph(ctx)
                .with_dependencies(&[name])
                .into_iter()
                .filter(|s| s != name)
                .collect()
        };
        if deps.is_empty() {
            let state = ProjectState::observe(self.runtime.as_ref(), ctx.name()).await?;
            self.handle_orphans(ctx, &state, opts.remove_orphans)
                .await?;
        } else {
            let up = UpOptions {
                services: deps,
                // The list is the closure already; and `services: []` would mean all.
                no_deps: true,
                build: opts.build,
                pull: opts.pull,
                remove_orphans: opts.remove_orphans,
                ..UpOptions::default()
            };
            self.up(ctx, &up).await?;
        }

        let derived = oneoff_service(service, opts, &ctx.working_dir)
            .map_err(|e| EngineError::new(format!("run {name}: {e}")))?;
        let mut run_ctx = ctx.clone();
        run_ctx
            .project
            .services
            .insert(name.to_string(), derived.clone());
        let scope = [name.to_string()];
        self.ensure_networks(&run_ctx, &scope).await?;
        self.ensure_volumes(&run_ctx, &scope).await?;
        let images = self
            .ensure_images(&run_ctx, &scope, opts.build, opts.pull)
            .await?;

        // A `-v name:/path` naming no project volume uses (or lets the engine create) that
        // volume as is, like `docker run -v` does.
        for v in &derived.volumes {
            if let (VolumeType::Volume, Some(source)) = (&v.kind, &v.source) {
                if !run_ctx.project.volumes.contains_key(source) {
                    let mut config = VolumeConfig {
                        name: Some(source.clone()),
                        ..VolumeConfig::default()
                    };
                    config.external.enabled = true;
                    run_ctx.project.volumes.insert(source.clone(), config);
                }
            }
        }

        let oneoff = OneOff {
            slug: random_slug(),
            use_aliases: opts.use_aliases,
        };
        let mut spec = specs::container_spec_for(&run_ctx, name, &derived, 1, Some(oneoff))
            .map_err(|e| EngineError::new(format!("service {name}: {e}")))?;
        if let Some(custom) = &opts.name {
            for network in &mut spec.networks {
                for alias in &mut network.aliases {
                    if *alias == spec.name {
                        alias.clone_from(custom);
                    }
                }
            }
            spec.name.clone_from(custom);
        }
        if let Some(id) = images.get(name) {
            spec.labels.insert(labels::IMAGE.to_string(), id.clone());
        }
        // Docker closes stdin when the attached client's input ends: EOF reaches the process.
        spec.stdin_once = spec.stdin_open && !opts.detach;
        if opts.remove {
            spec.restart = RestartPolicy::No;
            // Detached, nobody waits to remove it: the runtime does it on exit.
            spec.auto_remove = opts.detach;
        }
        self.runtime.create_container(&spec).await.map_err(|e| {
            let conflict = matches!(e, RuntimeError::Conflict { .. });
            let err = EngineError::runtime(&format!("create container {}", spec.name), e);
            if conflict {
                err.with_hint(format!(
                    "a container named {} exists already: remove it or pick another --name",
                    spec.name
                ))
            } else {
                err
            }
        })?;
        if let Err(e) = self
            .inject_files(&run_ctx, name, &derived, &spec.name)
            .await
        {
            let _ = self.runtime.remove_container(&spec.name, true, true).await;
            return Err(EngineError::runtime(
                &format!("create container {}", spec.name),
                e,
            ));
        }
        Ok(OneOffContainer {
            name: spec.name,
            tty: spec.tty,
            stdin_open: spec.stdin_open,
        })
    }

    /// The running container of `service` an `exec` or `attach` goes to: replica `index`
    /// (from 1).
    pub async fn exec_target(
        &self,
        ctx: &ProjectContext,
        service: &str,
        index: u32,
    ) -> Result<String, EngineError> {
        if !ctx.project.services.contains_key(service) {
            return Err(EngineError::new(format!("no such service: {service}")));
        }
        let state = ProjectState::observe(self.runtime.as_ref(), ctx.name()).await?;
        let containers = state.service_containers(service);
        let running: Vec<_> = containers
            .iter()
            .filter(|c| c.summary.status == ContainerStatus::Running)
            .collect();
        if running.is_empty() {
            return Err(
                EngineError::new(format!("service \"{service}\" is not running"))
                    .with_hint(format!("start it first: hoist up -d {service}")),
            );
        }
        running
            .iter()
            .find(|c| c.number == index)
            .map(|c| c.name().to_string())
            .ok_or_else(|| {
                EngineError::new(format!(
                    "service \"{service}\" is not running container #{index}"
                ))
            })
    }
}

/// The service as `run` changes it: command, entrypoint, environment, labels, mounts,
/// published ports (none of its own unless `service_ports`), TTY and stdin.
pub fn oneoff_service(
    service: &ServiceConfig,
    opts: &RunOptions,
    project_dir: &Path,
) -> Result<ServiceConfig, String> {
    let mut s = service.clone();
    if !opts.command.is_empty() {
        s.command = Some(ShellCommand(opts.command.clone()));
    }
    if let Some(entrypoint) = &opts.entrypoint {
        s.entrypoint = Some(ShellCommand(entrypoint.clone()));
    }
    for (k, v) in &opts.env {
        s.environment.0.insert(k.clone(), Some(v.clone()));
    }
    for (k, v) in &opts.labels {
        s.labels.0.insert(k.clone(), v.clone());
    }
    if !opts.service_ports {
        s.ports.clear();
    }
    for p in &opts.publish {
        s.ports.extend(parse_port_mapping(p)?);
    }
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    for v in &opts.volumes {
        let mut volume = parse_volume(v)?;
        if volume.kind == VolumeType::Bind {
            if let Some(source) = &volume.source {
                volume.source = Some(resolve_path(project_dir, home.as_deref(), source));
            }
        }
        // A later mount on the same target replaces the service's, as in docker compose.
        s.volumes
            .retain(|existing| existing.target != volume.target);
        s.volumes.push(volume);
    }
    if opts.workdir.is_some() {
        s.working_dir.clone_from(&opts.workdir);
    }
    if opts.user.is_some() {
        s.user.clone_from(&opts.user);
    }
    s.cap_add.extend(opts.cap_add.iter().cloned());
    s.cap_drop.extend(opts.cap_drop.iter().cloned());
    s.tty = opts.tty;
    s.stdin_open = opts.interactive;
    Ok(s)
}

/// 64 random hex digits, as docker compose's slugs; the first 12 name the container.
fn random_slug() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if random.is_err() {
        // No /dev/urandom (odd sandboxes): time and pid are unique enough for a name.
        use sha2::{Digest, Sha256};
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        bytes.copy_from_slice(&Sha256::digest(seed.as_bytes()));
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(yaml: &str) -> ServiceConfig {
        serde_yaml::from_str(yaml).expect("service yaml")
    }

    #[test]
    fn oneoff_drops_service_ports_unless_asked_and_adds_published_ones() {
        let s = service("image: x\nports: [\"8080:80\"]\n");
        let opts = RunOptions {
            publish: vec!["9000:90".into()],
            ..RunOptions::default()
        };
        let d = oneoff_service(&s, &opts, Path::new("/p")).expect("derive");
        assert_eq!(d.ports.len(), 1);
        assert_eq!(d.ports[0].target, 90);
        let opts = RunOptions {
            service_ports: true,
            ..opts
        };
        let d = oneoff_service(&s, &opts, Path::new("/p")).expect("derive");
        assert_eq!(d.ports.len(), 2);
    }

    #[test]
    fn oneoff_overrides_command_env_and_resolves_volumes_from_the_project_dir() {
        let s = service(
            "image: x\ncommand: [serve]\nenvironment: {A: \"1\", B: \"2\"}\nvolumes: [\"./a:/data\"]\n",
        );
        let opts = RunOptions {
            command: vec!["install".into(), "--save".into()],
            env: vec![("B".into(), "3".into())],
            volumes: vec!["./b:/data:ro".into(), "cache:/cache".into()],
            tty: true,
            interactive: true,
            ..RunOptions::default()
        };
        let d = oneoff_service(&s, &opts, Path::new("/proj")).expect("derive");
        assert_eq!(
            d.command.map(|c| c.0),
            Some(vec!["install".into(), "--save".into()])
        );
        assert_eq!(d.environment.0.get("A"), Some(&Some("1".into())));
        assert_eq!(d.environment.0.get("B"), Some(&Some("3".into())));
        assert_eq!(d.volumes.len(), 2);
        assert_eq!(d.volumes[0].source.as_deref(), Some("/proj/b"));
        assert!(d.volumes[0].read_only);
        assert_eq!(d.volumes[1].source.as_deref(), Some("cache"));
        assert!(d.tty && d.stdin_open);
    }

    #[test]
    fn oneoff_rejects_bad_volume_and_port_syntax() {
        let s = service("image: x\n");
        let bad_volume = RunOptions {
            volumes: vec!["a:b:c:d".into()],
            ..RunOptions::default()
        };
        assert!(oneoff_service(&s, &bad_volume, Path::new("/p"))
            .unwrap_err()
            .contains("not a valid volume"));
        let bad_port = RunOptions {
            publish: vec!["x:y".into()],
            ..RunOptions::default()
        };
        assert!(oneoff_service(&s, &bad_port, Path::new("/p")).is_err());
    }

    #[test]
    fn slugs_are_64_hex_digits_and_differ() {
        let (a, b) = (random_slug(), random_slug());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
