//! `hoist top`: the processes running in each of the services' containers.

use super::target::resolve;
use super::{engine_for, CliError, GlobalArgs};
use crate::engine::observe::{project_containers, ContainerQuery};
use crate::engine::EngineError;
use crate::ui::table::render;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct TopArgs {
    /// Services whose processes to show (default: all)
    pub services: Vec<String>,
}

pub async fn run(global: &GlobalArgs, args: &TopArgs) -> Result<i32, CliError> {
    let target = resolve(global, &args.services, false)?;
    let engine = engine_for(global).await?;
    let query = ContainerQuery {
        project: target.name,
        services: args.services.clone(),
        all: false,
        oneoff: false,
    };
    let containers = project_containers(engine.runtime.as_ref(), &query).await?;
    let tops =
        futures_util::future::join_all(containers.iter().map(|c| engine.runtime.top(&c.id, None)))
            .await;
    let mut out = String::new();
    for (c, top) in containers.iter().zip(tops) {
        let top =
            top.map_err(|e| EngineError::runtime(&format!("list the processes of {}", c.name), e))?;
        out.push_str(&c.name);
        out.push('\n');
        let titles: Vec<&str> = top.titles.iter().map(String::as_str).collect();
        out.push_str(&render(&titles, &top.processes, 0, 3));
        out.push('\n');
    }
    print!("{out}");
    Ok(0)
}
