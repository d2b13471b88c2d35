//! Adapters from a project context to runtime specs: container, network, volume and build
//! specs for one service, with the names the engine uses.
//! PROVISIONAL: minimal mapping until `engine::convert` lands.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::compose::model::{NetworkConfig, ServiceConfig, VolumeConfig, VolumeType};
use crate::runtime::{
    BuildSpec, ContainerSpec, Mount, MountSource, NetworkAttachment, NetworkSpec, PortBinding,
    Protocol, VolumeSpec,
};

use super::labels;
use super::state::ProjectContext;

pub fn container_name(
    ctx: &ProjectContext,
    name: &str,
    service: &ServiceConfig,
    number: u32,
) -> String {
    service
        .container_name
        .clone()
        .unwrap_or_else(|| labels::container_name(ctx.name(), name, number))
}

pub fn network_spec(project: &str, key: &str, network: &NetworkConfig) -> NetworkSpec {
    let mut labels = BTreeMap::new();
    labels.insert(labels::PROJECT.to_string(), project.to_string());
    labels.insert(labels::NETWORK.to_string(), key.to_string());
    labels.insert(
        labels::VERSION.to_string(),
        labels::COMPOSE_VERSION.to_string(),
    );
    NetworkSpec {
        name: network
            .name
            .clone()
            .unwrap_or_else(|| format!("{project}_{key}")),
        driver: network.driver.clone(),
        labels,
        internal: network.internal,
        attachable: network.attachable,
        ..NetworkSpec::default()
    }
}

pub fn volume_spec(project: &str, key: &str, volume: &VolumeConfig) -> VolumeSpec {
    let mut labels = BTreeMap::new();
    labels.insert(labels::PROJECT.to_string(), project.to_string());
    labels.insert(labels::VOLUME.to_string(), key.to_string());
    labels.insert(
        labels::VERSION.to_string(),
        labels::COMPOSE_VERSION.to_string(),
    );
    VolumeSpec {
        name: volume
            .name
            .clone()
            .unwrap_or_else(|| format!("{project}_{key}")),
        driver: volume.driver.clone(),
        labels,
        ..VolumeSpec::default()
    }
}

pub fn build_spec_for(
    ctx: &ProjectContext,
    name: &str,
    service: &ServiceConfig,
) -> Result<BuildSpec, String> {
    let build = service.build.as_ref().ok_or("no build section")?;
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder
        .append_dir_all(".", &build.context)
        .map_err(|e| format!("cannot read build context {}: {e}", build.context))?;
    let tar = builder.into_inner().map_err(|e| e.to_string())?;
    Ok(BuildSpec {
        context_tar: Bytes::from(tar),
        dockerfile: build.dockerfile.clone(),
        tags: vec![ctx.image_of(name)],
        build_args: build
            .args
            .0
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
            .collect(),
        target: build.target.clone(),
        no_cache: build.no_cache,
        pull: build.pull,
        ..BuildSpec::default()
    })
}

pub fn container_spec_for(
    ctx: &ProjectContext,
    name: &str,
    service: &ServiceConfig,
    number: u32,
    _oneoff: Option<&str>,
) -> Result<ContainerSpec, String> {
    let mut labels = BTreeMap::new();
    labels.insert(labels::PROJECT.to_string(), ctx.name().to_string());
    labels.insert(labels::SERVICE.to_string(), name.to_string());
    labels.insert(labels::CONTAINER_NUMBER.to_string(), number.to_string());
    labels.insert(labels::ONEOFF.to_string(), "False".to_string());
    labels.insert(labels::CONFIG_HASH.to_string(), service.config_hash());
    labels.insert(
        labels::WORKING_DIR.to_string(),
        ctx.working_dir.display().to_string(),
    );
    let mut mounts = Vec::new();
    for v in &service.volumes {
        let source = match v.kind {
            VolumeType::Bind => MountSource::Bind {
                path: v.source.clone().unwrap_or_default(),
                create_host_path: true,
                propagation: None,
                selinux: None,
            },
            VolumeType::Volume => MountSource::Volume {
                name: v.source.as_ref().map(|s| {
                    ctx.project
                        .volumes
                        .get(s)
                        .and_then(|c| c.name.clone())
                        .unwrap_or_else(|| s.clone())
                }),
                nocopy: false,
                subpath: None,
            },
            _ => continue,
        };
        mounts.push(Mount {
            target: v.target.clone(),
            source,
            read_only: v.read_only,
        });
    }
    let networks = service
        .networks
        .keys()
        .map(|k| NetworkAttachment {
            network: ctx
                .project
                .networks
                .get(k)
                .and_then(|n| n.name.clone())
                .unwrap_or_else(|| format!("{}_{k}", ctx.name())),
            aliases: vec![name.to_string()],
            ..NetworkAttachment::default()
        })
        .collect();
    Ok(ContainerSpec {
        name: container_name(ctx, name, service, number),
        image: ctx.image_of(name),
        cmd: service.command.as_ref().map(|c| c.0.clone()),
        entrypoint: service.entrypoint.as_ref().map(|c| c.0.clone()),
        env: service
            .environment
            .0
            .iter()
            .filter_map(|(k, v)| Some(format!("{k}={}", v.as_ref()?)))
            .collect(),
        labels,
        working_dir: service.working_dir.clone(),
        user: service.user.clone(),
        tty: service.tty,
        stdin_open: service.stdin_open,
        mounts,
        ports: service
            .ports
            .iter()
            .map(|p| PortBinding {
                container_port: p.target,
                protocol: match p.protocol.as_str() {
                    "udp" => Protocol::Udp,
                    "sctp" => Protocol::Sctp,
                    _ => Protocol::Tcp,
                },
                host_ip: p.host_ip.clone(),
                host_port: p.published.clone(),
            })
            .collect(),
        networks,
        ..ContainerSpec::default()
    })
}
