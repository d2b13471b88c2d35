//! `hoist ls`: every compose project with containers on the runtime, from one list call.

use serde_json::json;

use super::{engine_for, CliError, GlobalArgs};
use crate::engine::observe::{list_projects, ProjectSummary};
use crate::ui::table::render;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct LsArgs {
    /// Show all stopped Compose projects
    #[arg(short, long)]
    pub all: bool,
    /// Filter output based on conditions provided
    #[arg(long, value_name = "FILTER")]
    pub filter: Option<String>,
    /// Format the output. Values: [table | json]
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Only display project names
    #[arg(short, long)]
    pub quiet: bool,
}

pub async fn run(global: &GlobalArgs, args: &LsArgs) -> Result<i32, CliError> {
    let name_filter = match args.filter.as_deref().map(|f| f.split_once('=')) {
        None => None,
        Some(Some(("name", pattern))) => Some(regex::Regex::new(pattern).map_err(|e| {
            CliError::usage(format!("invalid --filter name pattern \"{pattern}\": {e}"))
        })?),
        Some(Some((key, _))) => {
            return Err(CliError::usage(format!(
                "invalid filter '{key}': the only supported filter is name=PATTERN"
            )))
        }
        Some(None) => {
            return Err(CliError::usage(
                "bad format of filter (expected name=value)",
            ))
        }
    };
    let engine = engine_for(global).await?;
    let mut projects = list_projects(engine.runtime.as_ref(), args.all).await?;
    if let Some(re) = &name_filter {
        projects.retain(|p| re.is_match(&p.name));
    }
    print!("{}", render_ls(&projects, args));
    Ok(0)
}

fn render_ls(projects: &[ProjectSummary], args: &LsArgs) -> String {
    if args.quiet {
        return projects.iter().map(|p| format!("{}\n", p.name)).collect();
    }
    if args.format == "json" {
        let list: Vec<serde_json::Value> = projects
            .iter()
            .map(|p| json!({"Name": p.name, "Status": p.status, "ConfigFiles": p.config_files}))
            .collect();
        return format!("{}\n", serde_json::Value::Array(list));
    }
    let rows: Vec<Vec<String>> = projects
        .iter()
        .map(|p| vec![p.name.clone(), p.status.clone(), p.config_files.clone()])
        .collect();
    render(&["NAME", "STATUS", "CONFIG FILES"], &rows, 20, 3)
}
