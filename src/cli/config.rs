//! `hoist config`: the canonical, fully resolved project, or one facet of it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use super::{load_options, load_project, GlobalArgs};
use crate::compose::error::LoadError;
use crate::compose::load::Loaded;
use crate::compose::variables::{self, Variable};
use crate::graph::DependencyGraph;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConfigArgs {
    /// Services whose configuration to print (default: all)
    pub services: Vec<String>,
    /// Output format
    #[arg(long, value_parser = ["yaml", "json"], default_value = "yaml")]
    pub format: String,
    /// Only validate the configuration, print nothing
    #[arg(short, long)]
    pub quiet: bool,
    /// Print the service names, one per line
    #[arg(long = "services", id = "list_services")]
    pub services_only: bool,
    /// Print the volume names, one per line
    #[arg(long = "volumes", id = "list_volumes")]
    pub volumes: bool,
    /// Print the network names, one per line
    #[arg(long = "networks", id = "list_networks")]
    pub networks: bool,
    /// Print the profile names, one per line
    #[arg(long = "profiles", id = "list_profiles")]
    pub profiles: bool,
    /// Print the image names, one per line
    #[arg(long = "images", id = "list_images")]
    pub images: bool,
    /// Print the service config hash, one per line ("*" for all services, or a comma-separated list)
    #[arg(long, value_name = "SERVICES")]
    pub hash: Option<String>,
    /// Print the environment used for interpolation
    #[arg(long = "environment", id = "list_environment")]
    pub environment: bool,
    /// Print the variables the model uses, with their defaults
    #[arg(long = "variables", id = "list_variables")]
    pub variables: bool,
    /// Do not interpolate environment variables
    #[arg(long)]
    pub no_interpolate: bool,
    /// Save to this file instead of printing
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(global: &GlobalArgs, args: &ConfigArgs) -> Result<i32, LoadError> {
    let mut opts = load_options(global, &args.services)?;
    opts.interpolate = !args.no_interpolate;
    if args.variables {
        let found = variables::in_files(&opts)?;
        print!("{}", render_variables(&found, &args.format));
        return Ok(0);
    }
    let loaded = load_project(&opts)?;
    if args.quiet {
        return Ok(0);
    }
    let text = render(&loaded, args)?;
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| LoadError::new(format!("cannot write {}: {e}", path.display())))?,
        None => print!("{text}"),
    }
    Ok(0)
}

/// What `hoist config` prints for `loaded` with `args`.
pub fn render(loaded: &Loaded, args: &ConfigArgs) -> Result<String, LoadError> {
    let project = &loaded.project;
    // One per line, sorted, as docker compose lists them.
    let lines = |items: &mut dyn Iterator<Item = String>| {
        let mut items: Vec<String> = items.collect();
        items.sort();
        items.into_iter().map(|s| s + "\n").collect::<String>()
    };
    if args.services_only {
        return Ok(lines(&mut project.services.keys().cloned()));
    }
    if args.volumes {
        return Ok(lines(&mut project.volumes.keys().cloned()));
    }
    if args.networks {
        return Ok(lines(&mut project.networks.keys().cloned()));
    }
    if args.profiles {
        let mut all: BTreeSet<String> = BTreeSet::new();
        for service in project.services.values() {
            all.extend(service.profiles.iter().cloned());
        }
        return Ok(lines(&mut all.into_iter()));
    }
    if args.images {
        let name = project.name.clone().unwrap_or_default();
        return Ok(lines(&mut project.services.iter().map(|(key, s)| {
            s.image.clone().unwrap_or_else(|| format!("{name}-{key}"))
        })));
    }
    if let Some(which) = &args.hash {
        let wanted: Vec<&str> = which
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let mut out = String::new();
        for (key, service) in &project.services {
            if wanted.contains(&"*") || wanted.contains(&key.as_str()) {
                let _ = writeln!(out, "{key} {}", service.config_hash());
            }
        }
        for w in &wanted {
            if *w != "*" && !project.services.contains_key(*w) {
                return Err(LoadError::new(format!("no such service: {w}")));
            }
        }
        return Ok(out);
    }
    if args.environment {
        let mut vars: Vec<(&String, &String)> = loaded.environment.iter().collect();
        vars.sort();
        return Ok(vars
            .into_iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect());
    }
    let mut shown = project.clone();
    if !args.services.is_empty() {
        // Like docker compose: the named services and what they depend on.
        let graph = DependencyGraph::new(
            project
                .services
                .iter()
                .map(|(k, s)| (k.as_str(), s.depends_on.0.keys().map(String::as_str))),
        );
        let roots: Vec<&str> = args.services.iter().map(String::as_str).collect();
        let keep = graph.with_dependencies(&roots);
        shown.services.retain(|k, _| keep.contains(k));
    }
    let mut value = serde_json::to_value(&shown)
        .map_err(|e| LoadError::new(format!("cannot render the project: {e}")))?;
    // Canonical form, as docker compose prints it: every mapping below the top level sorted by key.
    if let serde_json::Value::Object(top) = &mut value {
        top.values_mut().for_each(sort_keys);
    }
    if args.format == "json" {
        let mut text = serde_json::to_string_pretty(&value)
            .map_err(|e| LoadError::new(format!("cannot render the project as JSON: {e}")))?;
        text.push('\n');
        Ok(text)
    } else {
        serde_yaml::to_string(&value)
            .map_err(|e| LoadError::new(format!("cannot render the project as YAML: {e}")))
    }
}

fn sort_keys(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.sort_keys();
            map.values_mut().for_each(sort_keys);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

fn render_variables(found: &[Variable], format: &str) -> String {
    if format == "json" {
        let map: serde_json::Map<String, serde_json::Value> = found
            .iter()
            .map(|v| {
                (
                    v.name.clone(),
                    serde_json::json!({
                        "Name": v.name,
                        "DefaultValue": v.default.clone().unwrap_or_default(),
                        "PresenceValue": v.alternate.clone().unwrap_or_default(),
                        "Required": v.required,
                    }),
                )
            })
            .collect();
        return format!("{}\n", serde_json::Value::Object(map));
    }
    let rows: Vec<[String; 4]> = found
        .iter()
        .map(|v| {
            [
                v.name.clone(),
                v.required.to_string(),
                v.default.clone().unwrap_or_default(),
                v.alternate.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["NAME", "REQUIRED", "DEFAULT VALUE", "ALTERNATE VALUE"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("   ").trim_end());
    }
    out
}
