//! Runtime specs for one service of a project context: [`super::convert`] does the field
//! mapping; this adds what only the engine knows (paths of the project, build contexts read
//! from disk, names of the containers `service:x` references point at).

use std::collections::BTreeMap;

use crate::build::context;
use crate::compose::model::ServiceConfig;
use crate::runtime::{BuildSpec, ContainerSpec};

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
    Ok(convert::build_spec(&ctx.project, name, service, packed))
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
