//! `hoist ps`: the project's containers, from one list call (no inspect per container).

use std::time::SystemTime;

use serde_json::json;

use super::target::resolve;
use super::{engine_for, CliError, GlobalArgs};
use crate::engine::observe::{
    ago, displayable_ports, project_containers, ContainerQuery, ContainerView,
};
use crate::runtime::{ContainerStatus, ContainerSummary};
use crate::ui::table::{ellipsis, render};

const STATES: [&str; 7] = [
    "paused",
    "restarting",
    "removing",
    "running",
    "dead",
    "created",
    "exited",
];

#[derive(clap::Args, Debug, Clone, Default)]
pub struct PsArgs {
    /// Services to list (default: all)
    pub services: Vec<String>,
    /// Show all stopped containers (including those created by the run command)
    #[arg(short, long)]
    pub all: bool,
    /// Only display IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Display services
    #[arg(long = "services")]
    pub services_only: bool,
    /// Filter services by status. Values: [paused | restarting | removing | running | dead | created | exited]
    #[arg(long, value_name = "STATUS", value_parser = STATES)]
    pub status: Vec<String>,
    /// Filter services by a property (supported filters: status)
    #[arg(long, value_name = "KEY=VALUE")]
    pub filter: Option<String>,
    /// Format the output. Values: [table | json], or a Go template: `{{.Service}}
    /// {{.Status}}` (one line per container), `table {{.Name}}\t{{.Ports}}` (with a header);
    /// the fields are those of `--format json`
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Include orphaned services (not declared by project)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub orphans: bool,
}

pub async fn run(global: &GlobalArgs, args: &PsArgs) -> Result<i32, CliError> {
    let mut statuses = args.status.clone();
    if let Some(filter) = &args.filter {
        match filter.split_once('=') {
            Some(("status", value)) => statuses.push(value.to_string()),
            Some((key, _)) => return Err(CliError::usage(format!("unknown filter {key}"))),
            None => {
                return Err(CliError::usage(
                    "arguments to --filter should be in form KEY=VAL",
                ))
            }
        }
    }
    let target = resolve(global, &args.services, false)?;
    let mut services = args.services.clone();
    if services.is_empty() && !args.orphans {
        if let Some(ctx) = &target.ctx {
            services = ctx.project.services.keys().cloned().collect();
        }
    }
    let engine = engine_for(global).await?;
    let all = args.all || !statuses.is_empty();
    let query = ContainerQuery {
        project: target.name.clone(),
        services,
        all,
        oneoff: all,
    };
    let mut containers = project_containers(engine.runtime.as_ref(), &query).await?;
    if !statuses.is_empty() {
        containers.retain(|c| statuses.iter().any(|s| s == c.status.as_str()));
    }
    print!("{}", render_ps(&containers, args, SystemTime::now()));
    Ok(0)
}

fn render_ps(containers: &[ContainerSummary], args: &PsArgs, now: SystemTime) -> String {
    let mut out = String::new();
    if args.quiet {
        for c in containers {
            out.push_str(&c.id);
            out.push('\n');
        }
        return out;
    }
    if args.services_only {
        let mut seen: Vec<&str> = Vec::new();
        for c in containers {
            let service = c
                .labels
                .get(crate::engine::labels::SERVICE)
                .map_or("", String::as_str);
            if !seen.contains(&service) {
                seen.push(service);
            }
        }
        out.push_str(&seen.join("\n"));
        out.push('\n');
        return out;
    }
    if args.format == "json" {
        for c in containers {
            out.push_str(&ps_json(c, !args.no_trunc, now).to_string());
            out.push('\n');
        }
        return out;
    }
    if !args.format.is_empty() && args.format != "table" {
        return render_template(containers, &args.format, !args.no_trunc, now);
    }
    let rows: Vec<Vec<String>> = containers
        .iter()
        .map(|c| {
            let view = ContainerView::from_summary(c);
            let command = if args.no_trunc {
                view.command.clone()
            } else {
                ellipsis(&view.command, 20)
            };
            vec![
                view.name,
                view.image,
                quote(&command),
                view.service,
                ago(view.created, now),
                status_column(c),
                displayable_ports(&c.ports),
            ]
        })
        .collect();
    render(
        &[
            "NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS",
        ],
        &rows,
        10,
        3,
    )
}

/// `--format` with a Go template over the fields of `--format json`: one line per
/// container, or with `table ` first an aligned table under a header naming the fields
/// as docker compose does. A template error (an unknown field) is printed in place.
fn render_template(
    containers: &[ContainerSummary],
    format: &str,
    trunc: bool,
    now: SystemTime,
) -> String {
    let format = crate::ui::template::unescape(format);
    let cell = |template: &str, c: &ContainerSummary| {
        crate::ui::template::render(template, &ps_json(c, trunc, now))
            .unwrap_or_else(|e| format!("<{e}>"))
    };
    let Some(table) = format.strip_prefix("table") else {
        let mut out = String::new();
        for c in containers {
            out.push_str(&cell(&format, c));
            out.push('\n');
        }
        return out;
    };
    let columns: Vec<&str> = table.trim_start().split('\t').collect();
    let header: Vec<String> = columns.iter().map(|c| column_header(c)).collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = containers
        .iter()
        .map(|c| columns.iter().map(|col| cell(col, c)).collect())
        .collect();
    render(&header, &rows, 10, 3)
}

/// The header docker compose prints over a `table` column: its field's name (`{{.ID}}` is
/// `CONTAINER ID`, `{{.RunningFor}}` `CREATED`...), else the column text upper-cased.
fn column_header(column: &str) -> String {
    let field = column
        .trim()
        .strip_prefix("{{")
        .and_then(|c| c.strip_suffix("}}"))
        .map(|c| {
            c.trim()
                .trim_start_matches("json ")
                .trim()
                .trim_start_matches('.')
        });
    match field {
        Some("ID") => "CONTAINER ID".into(),
        Some("RunningFor") => "CREATED".into(),
        Some("CreatedAt") => "CREATED AT".into(),
        Some("ExitCode") => "EXIT CODE".into(),
        Some("LocalVolumes") => "LOCAL VOLUMES".into(),
        Some(name) => name.to_ascii_uppercase(),
        None => column.trim().to_ascii_uppercase(),
    }
}

/// The STATUS column is the runtime's own text (`Up 2 seconds`, `Exited (0) 1 second ago`);
/// a created container has none.
fn status_column(c: &ContainerSummary) -> String {
    if c.status_text.is_empty() && c.status == ContainerStatus::Created {
        return "Created".into();
    }
    c.status_text.clone()
}

/// Go's `strconv.Quote` for the COMMAND column.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// One line of `ps --format json`, with docker compose's field names.
fn ps_json(c: &ContainerSummary, trunc: bool, now: SystemTime) -> serde_json::Value {
    let view = ContainerView::from_summary(c);
    let id = if trunc {
        view.id.chars().take(12).collect()
    } else {
        view.id.clone()
    };
    let command = if trunc {
        ellipsis(&view.command, 20)
    } else {
        view.command.clone()
    };
    let labels: Vec<String> = view
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let publishers: Vec<serde_json::Value> = view
        .publishers
        .iter()
        .map(|p| {
            json!({
                "URL": p.url,
                "TargetPort": p.target_port,
                "PublishedPort": p.published_port,
                "Protocol": p.protocol,
            })
        })
        .collect();
    json!({
        "Command": quote(&command),
        "CreatedAt": crate::ui::logs::rfc3339(u64::try_from(view.created).unwrap_or(0), 0),
        "ExitCode": view.exit_code,
        "Health": view.health,
        "ID": id,
        "Image": view.image,
        "Labels": labels.join(","),
        "LocalVolumes": "0",
        "Mounts": "",
        "Name": view.name,
        "Names": c.name,
        "Networks": "",
        "Ports": displayable_ports(&c.ports),
        "Project": view.project,
        "Publishers": publishers,
        "RunningFor": ago(view.created, now),
        "Service": view.service,
        "Size": "0B",
        "State": view.state,
        "Status": view.status,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::engine::labels;
    use crate::runtime::{Protocol, PublishedPort};

    fn container() -> ContainerSummary {
        ContainerSummary {
            id: "0123456789abcdef0123".into(),
            name: "shop-web-1".into(),
            image: "nginx".into(),
            image_id: "sha256:1".into(),
            command: "/docker-entrypoint.sh nginx -g 'daemon off;'".into(),
            labels: BTreeMap::from([
                (labels::PROJECT.to_string(), "shop".to_string()),
                (labels::SERVICE.to_string(), "web".to_string()),
            ]),
            status: ContainerStatus::Running,
            status_text: "Up 2 seconds".into(),
            created: 100,
            ports: vec![PublishedPort {
                container_port: 80,
                protocol: Protocol::Tcp,
                host_ip: "0.0.0.0".into(),
                host_port: 8080,
            }],
        }
    }

    #[test]
    fn ps_table_has_compose_columns() {
        let now = UNIX_EPOCH + Duration::from_secs(104);
        let out = render_ps(&[container()], &PsArgs::default(), now);
        assert_eq!(
            out,
            "NAME         IMAGE     COMMAND                  SERVICE   CREATED         STATUS         PORTS\n\
             shop-web-1   nginx     \"/docker-entrypoint.…\"   web       4 seconds ago   Up 2 seconds   0.0.0.0:8080->80/tcp\n"
        );
    }

    #[test]
    fn ps_json_uses_compose_field_names() {
        let now = UNIX_EPOCH + Duration::from_secs(104);
        let args = PsArgs {
            format: "json".into(),
            ..PsArgs::default()
        };
        let out = render_ps(&[container()], &args, now);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_default();
        assert_eq!(v["ID"], "0123456789ab");
        assert_eq!(v["Name"], "shop-web-1");
        assert_eq!(v["State"], "running");
        assert_eq!(v["Command"], "\"/docker-entrypoint.…\"");
        assert_eq!(v["Publishers"][0]["URL"], "0.0.0.0");
        assert_eq!(v["RunningFor"], "4 seconds ago");
    }

    #[test]
    fn ps_format_takes_go_templates_with_and_without_a_table() {
        let now = UNIX_EPOCH + Duration::from_secs(104);
        let args = |format: &str| PsArgs {
            format: format.into(),
            ..PsArgs::default()
        };
        let out = render_ps(&[container()], &args("{{.Service}}: {{.Status}}"), now);
        assert_eq!(out, "web: Up 2 seconds\n");
        let out = render_ps(
            &[container()],
            &args("table {{.ID}}\\t{{.Name}}\\t{{.RunningFor}}"),
            now,
        );
        assert_eq!(
            out,
            "CONTAINER ID   NAME         CREATED\n0123456789ab   shop-web-1   4 seconds ago\n"
        );
        let out = render_ps(&[container()], &args("{{.Nope}}"), now);
        assert!(out.contains("no field Nope"), "{out}");
    }
}
