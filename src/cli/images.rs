//! `hoist images`: the images the project's containers run.

use serde_json::json;

use super::target::resolve;
use super::{engine_for, CliError, GlobalArgs};
use crate::engine::observe::{container_images, human_size, project_containers, ContainerQuery};
use crate::ui::table::render;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ImagesArgs {
    /// Services whose images to list (default: all)
    pub services: Vec<String>,
    /// Only display IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Format the output. Values: [table | json]
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

pub async fn run(global: &GlobalArgs, args: &ImagesArgs) -> Result<i32, CliError> {
    let target = resolve(global, &args.services, false)?;
    let engine = engine_for(global).await?;
    let query = ContainerQuery {
        project: target.name,
        services: args.services.clone(),
        all: true,
        oneoff: false,
    };
    let containers = project_containers(engine.runtime.as_ref(), &query).await?;
    let images = container_images(engine.runtime.as_ref(), &containers).await?;
    let bare = |id: &str| id.strip_prefix("sha256:").unwrap_or(id).to_string();
    if args.quiet {
        let mut ids: Vec<String> = Vec::new();
        for image in &images {
            let id = bare(&image.id);
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        for id in ids {
            println!("{id}");
        }
        return Ok(0);
    }
    if args.format == "json" {
        let list: Vec<serde_json::Value> = images
            .iter()
            .map(|i| {
                json!({
                    "ID": i.id,
                    "ContainerName": i.container,
                    "Repository": i.repository,
                    "Tag": i.tag,
                    "Size": i.size,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return Ok(0);
    }
    let or_none = |s: &str| {
        if s.is_empty() {
            "<none>".to_string()
        } else {
            s.to_string()
        }
    };
    let rows: Vec<Vec<String>> = images
        .iter()
        .map(|i| {
            vec![
                i.container.clone(),
                or_none(&i.repository),
                or_none(&i.tag),
                bare(&i.id).chars().take(12).collect(),
                human_size(i.size),
            ]
        })
        .collect();
    print!(
        "{}",
        render(
            &["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"],
            &rows,
            20,
            3
        )
    );
    Ok(0)
}
