//! `hoist image ls|pull|push|rm|prune|inspect|tag|load|save|import`: the images of the
//! backend in use, with `docker image`'s flags, output and exit codes. Each subcommand calls
//! the [`Runtime`](crate::runtime::Runtime) (native store or Docker engine alike); `import`
//! builds an image of the native runtime from a rootfs tarball (`docker import`).
//!
//! Not for: the images of a compose project (`hoist images`, `hoist pull`, `hoist push`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::SystemTime;

use serde_json::json;

use super::{engine_for, CliError, GlobalArgs};
use crate::build::context::segment_matches;
use crate::engine::observe::{ago, human_size, parse_time};
use crate::engine::EngineError;
use crate::runtime::native::oci::ContainerDefaults;
use crate::runtime::native::NativeRuntime;
use crate::runtime::{
    ImageInfo, ImageProgress, ImagePruneFilters, ImageSummary, LabelFilter, PruneReport, Runtime,
    RuntimeError,
};
use crate::ui::table::render;

#[derive(clap::Args, Debug, Clone)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum ImageCommand {
    /// List images
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused images (dangling ones, or with -a all no container uses)
    Prune(ImagePruneArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Load images from a `docker save` or OCI archive (plain or gzip)
    Load(LoadArgs),
    /// Save one or more images to a tar archive (docker save format and OCI layout)
    Save(SaveArgs),
    /// Import a rootfs tarball (plain or gzip) as an image of the native runtime
    Import(ImportArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct LsArgs {
    /// Show all images (tagged and dangling ones are always listed; build steps never are)
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter the output: `dangling=true|false`, `reference=PATTERN` (`*` within a path
    /// segment, as docker), `label=KEY` or `label=KEY=VALUE` (repeatable; all must match)
    #[arg(long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Format the output. Values: [table | json]
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

/// The `--filter`s of `image ls`.
#[derive(Debug, Default)]
struct ListFilter {
    dangling: Option<bool>,
    references: Vec<String>,
    labels: Vec<LabelFilter>,
}

impl ListFilter {
    fn parse(filters: &[String]) -> Result<ListFilter, CliError> {
        let mut out = ListFilter::default();
        for filter in filters {
            let Some((key, value)) = filter.split_once('=') else {
                return Err(CliError::usage(format!(
                    "bad filter \"{filter}\": write KEY=VALUE (dangling, reference, label)"
                )));
            };
            match key {
                "dangling" => match value {
                    "true" | "1" => out.dangling = Some(true),
                    "false" | "0" => out.dangling = Some(false),
                    _ => {
                        return Err(CliError::usage(format!(
                            "invalid filter \"{filter}\": dangling is true or false"
                        )))
                    }
                },
                "reference" => out.references.push(value.to_string()),
                "label" => out.labels.push(LabelFilter::parse(value)),
                other => {
                    return Err(CliError::usage(format!(
                    "invalid filter \"{other}\": image ls filters by dangling, reference or label"
                )))
                }
            }
        }
        Ok(out)
    }

    fn keeps_image(&self, image: &ImageSummary) -> bool {
        self.dangling
            .is_none_or(|d| d == image.repo_tags.is_empty())
            && self.labels.iter().all(|l| l.matches(&image.labels))
    }

    /// Whether the name `repo:tag` matches every `reference=` pattern, as docker's
    /// `FamiliarMatch`: the whole name, or the name without its tag.
    fn keeps_name(&self, name: &str) -> bool {
        let (repo, _) = split_repo_tag(name);
        self.references
            .iter()
            .all(|p| path_matches(p, name) || path_matches(p, &repo))
    }
}

/// Go's `path.Match`: `pattern` against `name`, segment by segment (`*` never crosses `/`).
fn path_matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), name.split('/').collect());
    p.len() == n.len()
        && p.iter()
            .zip(&n)
            .all(|(p, n)| segment_matches(p, n).unwrap_or(false))
}

#[derive(clap::Args, Debug, Clone)]
pub struct PullArgs {
    /// The image, `name[:tag|@digest]`
    pub reference: String,
    /// Set platform if the image is multi-platform (`os/arch[/variant]`)
    #[arg(long)]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct PushArgs {
    /// The image, `name[:tag]`
    pub reference: String,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct RmArgs {
    /// Images, by name or id
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Force removal of the image (even when a container uses it)
    #[arg(short, long)]
    pub force: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ImagePruneArgs {
    #[command(flatten)]
    pub prune: PruneArgs,
    /// Provide filter values: `until=<timestamp|duration>` (created before),
    /// `label=<key>[=<value>]`, `label!=<key>[=<value>]`
    #[arg(long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct InspectArgs {
    /// Images, by name or id
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Print each image through a template instead of JSON: `{{.Id}}`,
    /// `{{.Config.Cmd}}`, `{{json .RootFS}}` (fields of the JSON, as docker's)
    #[arg(short, long, value_name = "TEMPLATE")]
    pub format: Option<String>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    pub source: String,
    /// TARGET_IMAGE[:TAG]
    pub target: String,
}

#[derive(clap::Args, Debug, Clone)]
pub struct LoadArgs {
    /// Read from a tar archive file, instead of standard input
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct SaveArgs {
    /// Images, by name or id
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Write to a file, instead of standard output
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ImportArgs {
    /// The tarball
    pub file: PathBuf,
    /// The image name, e.g. `mybase:latest`
    pub reference: String,
    /// Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, WORKDIR, USER)
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
}

/// `CMD`/`ENTRYPOINT` arguments: a JSON array (exec form) or a shell command.
fn command_form(value: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(value)
        .unwrap_or_else(|_| vec!["/bin/sh".to_string(), "-c".to_string(), value.to_string()])
}

/// Applies `--change` instructions to the image defaults.
pub fn apply_changes(changes: &[String]) -> Result<ContainerDefaults, String> {
    let mut d = ContainerDefaults::default();
    for change in changes {
        let (word, rest) = change
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or((change, ""));
        let rest = rest.trim();
        match word.to_ascii_uppercase().as_str() {
            "CMD" => d.cmd = Some(command_form(rest)),
            "ENTRYPOINT" => d.entrypoint = Some(command_form(rest)),
            "ENV" => {
                let entry = match rest.split_once(['=', ' ']) {
                    Some((k, v)) => format!("{k}={}", v.trim()),
                    None => return Err(format!("ENV needs KEY=value: {change}")),
                };
                d.env.get_or_insert_with(Vec::new).push(entry);
            }
            "WORKDIR" => d.working_dir = Some(rest.to_string()),
            "USER" => d.user = Some(rest.to_string()),
            other => {
                return Err(format!(
                    "unsupported --change instruction {other}: {change}"
                ))
            }
        }
    }
    Ok(d)
}

pub async fn run(global: &GlobalArgs, args: &ImageArgs) -> Result<i32, CliError> {
    if let ImageCommand::Import(import) = &args.command {
        return import_rootfs(import).await;
    }
    let engine = engine_for(global).await?;
    let rt = engine.runtime.as_ref();
    match &args.command {
        ImageCommand::Ls(a) => ls(rt, a).await,
        ImageCommand::Pull(a) => pull(rt, a).await,
        ImageCommand::Push(a) => push(rt, a).await,
        ImageCommand::Rm(a) => rm(rt, a).await,
        ImageCommand::Prune(a) => prune(rt, a).await,
        ImageCommand::Inspect(a) => inspect(rt, a).await,
        ImageCommand::Tag(a) => {
            rt.tag_image(&a.source, &a.target)
                .await
                .map_err(failed(&format!("tag {} as {}", a.source, a.target)))?;
            Ok(0)
        }
        ImageCommand::Load(a) => load(rt, a).await,
        ImageCommand::Save(a) => save(rt, a).await,
        ImageCommand::Import(_) => Ok(0),
    }
}

fn failed(what: &str) -> impl Fn(RuntimeError) -> CliError + '_ {
    move |e| CliError::from(EngineError::runtime(what, e))
}

fn io_failed(what: &str, e: std::io::Error) -> CliError {
    CliError::from(EngineError::new(format!("cannot {what}: {e}")))
}

async fn import_rootfs(import: &ImportArgs) -> Result<i32, CliError> {
    let defaults = apply_changes(&import.changes).map_err(CliError::usage)?;
    let runtime = NativeRuntime::open_default()
        .map_err(|e| EngineError::runtime("open the native runtime's data root", e))?;
    let id = runtime
        .import_image(&import.file, &import.reference, defaults)
        .await
        .map_err(|e| EngineError::runtime(&format!("import {}", import.file.display()), e))?;
    println!("{id}");
    Ok(0)
}

fn bare_id(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        id.strip_prefix("sha256:")
            .unwrap_or(id)
            .chars()
            .take(12)
            .collect()
    }
}

/// `repo:tag` split as `docker images` shows it (a port colon is not a tag).
fn split_repo_tag(name: &str) -> (String, String) {
    let (repo, tag) = crate::runtime::split_tag(name);
    (repo, tag.unwrap_or_else(|| "<none>".to_string()))
}

async fn ls(rt: &dyn Runtime, args: &LsArgs) -> Result<i32, CliError> {
    let filter = ListFilter::parse(&args.filters)?;
    let mut images = rt.list_images(&[]).await.map_err(failed("list images"))?;
    images.retain(|i| filter.keeps_image(i));
    for image in &mut images {
        image.repo_tags.retain(|t| filter.keeps_name(t));
    }
    if !filter.references.is_empty() {
        // A reference filter lists only images with a matching name.
        images.retain(|i| !i.repo_tags.is_empty());
    }
    images.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
    if args.quiet {
        let mut seen = Vec::new();
        for image in &images {
            let id = bare_id(&image.id, args.no_trunc);
            if !seen.contains(&id) {
                println!("{id}");
                seen.push(id);
            }
        }
        return Ok(0);
    }
    let now = SystemTime::now();
    let mut rows = Vec::new();
    for image in &images {
        let names: Vec<(String, String)> = if image.repo_tags.is_empty() {
            vec![("<none>".to_string(), "<none>".to_string())]
        } else {
            image.repo_tags.iter().map(|t| split_repo_tag(t)).collect()
        };
        for (repo, tag) in names {
            rows.push((repo, tag, image));
        }
    }
    if args.format == "json" {
        for (repo, tag, image) in &rows {
            println!(
                "{}",
                json!({
                    "Repository": repo,
                    "Tag": tag,
                    "ID": bare_id(&image.id, args.no_trunc),
                    "CreatedSince": created_since(image.created, now),
                    "Size": human_size(image.size),
                    "Labels": image.labels,
                })
            );
        }
        return Ok(0);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|(repo, tag, image)| {
            vec![
                repo.clone(),
                tag.clone(),
                bare_id(&image.id, args.no_trunc),
                created_since(image.created, now),
                human_size(image.size),
            ]
        })
        .collect();
    print!(
        "{}",
        render(
            &["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
            &table,
            10,
            3
        )
    );
    Ok(0)
}

fn created_since(created: i64, now: SystemTime) -> String {
    if created <= 0 {
        "N/A".to_string()
    } else {
        ago(created, now)
    }
}

/// Prints registry progress as `docker pull`/`push` does without a TTY: each layer's
/// status changes, not the byte counts in between.
fn print_progress(p: ImageProgress) {
    if let ImageProgress::Layer {
        current: Some(_), ..
    } = p
    {
        return;
    }
    match &p {
        ImageProgress::Layer {
            id: Some(id),
            status,
            ..
        } => println!("{id}: {status}"),
        other => println!("{}", other.text()),
    }
}

async fn pull(rt: &dyn Runtime, args: &PullArgs) -> Result<i32, CliError> {
    let sink = |p: ImageProgress| {
        if !args.quiet {
            print_progress(p);
        }
    };
    rt.pull_image(&args.reference, args.platform.as_deref(), None, &sink)
        .await
        .map_err(failed(&format!("pull {}", args.reference)))?;
    println!("{}", full_name(&args.reference));
    Ok(0)
}

/// `node` -> `docker.io/library/node:latest`, as `docker pull` ends its output.
fn full_name(reference: &str) -> String {
    crate::runtime::native::reference::Reference::parse(reference)
        .map_or_else(|_| reference.to_string(), |r| r.to_string())
}

async fn push(rt: &dyn Runtime, args: &PushArgs) -> Result<i32, CliError> {
    let sink = |p: ImageProgress| {
        if !args.quiet {
            print_progress(p);
        }
    };
    rt.push_image(&args.reference, None, &sink)
        .await
        .map_err(failed(&format!("push {}", args.reference)))?;
    if args.quiet {
        println!("{}", full_name(&args.reference));
    }
    Ok(0)
}

async fn rm(rt: &dyn Runtime, args: &RmArgs) -> Result<i32, CliError> {
    let mut code = 0;
    for image in &args.images {
        let before = match rt.inspect_image(image).await {
            Ok(info) => info,
            Err(e) => {
                eprintln!(
                    "{}",
                    EngineError::runtime(&format!("remove image {image}"), e)
                );
                code = 1;
                continue;
            }
        };
        if let Err(e) = rt.remove_image(image, args.force).await {
            eprintln!(
                "{}",
                EngineError::runtime(&format!("remove image {image}"), e)
            );
            code = 1;
            continue;
        }
        let by_id = before
            .id
            .trim_start_matches("sha256:")
            .starts_with(image.trim_start_matches("sha256:"));
        if by_id {
            for tag in &before.repo_tags {
                println!("Untagged: {tag}");
            }
        } else {
            println!("Untagged: {image}");
        }
        if rt.inspect_image(&before.id).await.is_err() {
            println!("Deleted: {}", before.id);
        }
    }
    Ok(code)
}

/// `force`, or a yes to `warning` on the terminal (off a terminal a prune needs `-f`).
pub fn confirmed(force: bool, warning: &str) -> Result<bool, CliError> {
    Ok(force || super::rm::confirm(warning)?)
}

/// Prints a prune's outcome: the `heading` list, then the reclaimed space.
pub fn print_prune(report: &PruneReport, heading: &str) {
    if !report.untagged.is_empty() || !report.deleted.is_empty() {
        println!("{heading}");
        for name in &report.untagged {
            println!("untagged: {name}");
        }
        for id in &report.deleted {
            println!("deleted: {id}");
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        human_size(i64::try_from(report.reclaimed_bytes).unwrap_or(i64::MAX))
    );
}

/// Parses `image prune --filter`s as `docker image prune` takes them, relative to `now`.
pub fn parse_prune_filters(
    filters: &[String],
    now: SystemTime,
) -> Result<ImagePruneFilters, CliError> {
    const KNOWN: &str =
        "until=<timestamp|duration>, label=<key>[=<value>] and label!=<key>[=<value>]";
    let mut parsed = ImagePruneFilters::default();
    for filter in filters {
        let Some((key, value)) = filter.split_once('=') else {
            return Err(CliError::usage(format!(
                "invalid filter \"{filter}\": expected name=value ({KNOWN})"
            )));
        };
        match key.trim() {
            "until" => {
                if parsed.until.is_some() {
                    return Err(CliError::usage(format!(
                        "invalid filter \"{filter}\": more than one until filter given"
                    )));
                }
                let at = parse_time(value, now)
                    .map_err(|e| CliError::usage(format!("invalid filter \"{filter}\": {e}")))?;
                parsed.until = Some((value.trim().to_string(), at));
            }
            "label" | "label!" if value.trim().is_empty() => {
                return Err(CliError::usage(format!(
                    "invalid filter \"{filter}\": name the label, as {key}=<key>[=<value>]"
                )));
            }
            "label" => parsed.labels.push(LabelFilter::parse(value.trim())),
            "label!" => parsed.not_labels.push(LabelFilter::parse(value.trim())),
            _ => {
                return Err(CliError::usage(format!(
                    "invalid filter \"{filter}\": image prune takes {KNOWN}"
                )))
            }
        }
    }
    Ok(parsed)
}

async fn prune(rt: &dyn Runtime, image_args: &ImagePruneArgs) -> Result<i32, CliError> {
    // Bad filters fail before the question is asked.
    let filters = parse_prune_filters(&image_args.filters, SystemTime::now())?;
    let args = &image_args.prune;
    let warning = if args.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !confirmed(args.force, warning)? {
        return Ok(0);
    }
    let report = rt
        .prune_images(args.all, &filters)
        .await
        .map_err(failed("prune images"))?;
    print_prune(&report, "Deleted Images:");
    Ok(0)
}

/// One image as `docker image inspect` prints it.
fn inspect_json(i: &ImageInfo) -> serde_json::Value {
    let c = &i.config;
    let set = |items: &[String]| -> serde_json::Value {
        if items.is_empty() {
            serde_json::Value::Null
        } else {
            items
                .iter()
                .map(|k| (k.clone(), json!({})))
                .collect::<serde_json::Map<_, _>>()
                .into()
        }
    };
    let healthcheck = c.healthcheck.as_ref().map(|h| {
        let ns = |d: Option<std::time::Duration>| d.map_or(0, |d| d.as_nanos() as u64);
        json!({
            "Test": h.test,
            "Interval": ns(h.interval),
            "Timeout": ns(h.timeout),
            "StartPeriod": ns(h.start_period),
            "StartInterval": ns(h.start_interval),
            "Retries": h.retries.unwrap_or(0),
        })
    });
    json!({
        "Id": i.id,
        "RepoTags": i.repo_tags,
        "RepoDigests": i.repo_digests,
        "Created": i.created.clone().unwrap_or_default(),
        "Size": i.size,
        "Os": i.os.clone().unwrap_or_default(),
        "Architecture": i.architecture.clone().unwrap_or_default(),
        "Config": {
            "User": c.user.clone().unwrap_or_default(),
            "Env": c.env,
            "Cmd": c.cmd,
            "Entrypoint": c.entrypoint,
            "WorkingDir": c.working_dir.clone().unwrap_or_default(),
            "ExposedPorts": set(&c.exposed_ports),
            "Volumes": set(&c.volumes),
            "Labels": if c.labels.is_empty() { serde_json::Value::Null } else { json!(c.labels) },
            "StopSignal": c.stop_signal,
            "Healthcheck": healthcheck,
        },
        "RootFS": { "Type": "layers", "Layers": i.layers },
    })
}

async fn inspect(rt: &dyn Runtime, args: &InspectArgs) -> Result<i32, CliError> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for image in &args.images {
        match rt.inspect_image(image).await {
            Ok(info) => found.push(inspect_json(&info)),
            Err(e) if e.is_not_found() => missing.push(image.clone()),
            Err(e) => return Err(failed(&format!("inspect image {image}"))(e)),
        }
    }
    match &args.format {
        Some(template) => {
            for image in &found {
                println!(
                    "{}",
                    crate::ui::template::render(template, image).map_err(CliError::usage)?
                );
            }
        }
        None => {
            let text = serde_json::to_string_pretty(&serde_json::Value::Array(found))
                .map_err(|e| EngineError::new(format!("cannot encode the result: {e}")))?;
            println!("{text}");
        }
    }
    if missing.is_empty() {
        return Ok(0);
    }
    for image in missing {
        eprintln!("Error: No such image: {image}");
    }
    Ok(1)
}

async fn load(rt: &dyn Runtime, args: &LoadArgs) -> Result<i32, CliError> {
    // Standard input is spooled to a file first: archives are read by path.
    let mut _spooled: Option<tempfile::TempDir> = None;
    let path = match &args.input {
        Some(p) => p.clone(),
        None => {
            if std::io::stdin().is_terminal() {
                return Err(CliError::usage(
                    "requested load from stdin, but stdin is empty; use -i FILE or pipe an archive",
                ));
            }
            let dir = spool_dir()?;
            let p = dir.path().join("load.tar");
            let mut file =
                std::fs::File::create(&p).map_err(|e| io_failed("spool standard input", e))?;
            std::io::copy(&mut std::io::stdin().lock(), &mut file)
                .map_err(|e| io_failed("read standard input", e))?;
            _spooled = Some(dir);
            p
        }
    };
    let loaded = rt
        .load_images(&path)
        .await
        .map_err(failed(&format!("load {}", path.display())))?;
    if !args.quiet {
        for line in loaded {
            println!("{line}");
        }
    }
    Ok(0)
}

/// A private (0700, random name) directory for an archive spooled from stdin or to stdout,
/// removed when the command ends: a predictable name in a shared /tmp could be a planted
/// symlink.
fn spool_dir() -> Result<tempfile::TempDir, CliError> {
    tempfile::Builder::new()
        .prefix("hoist-image-")
        .tempdir()
        .map_err(|e| io_failed("create a temporary directory", e))
}

async fn save(rt: &dyn Runtime, args: &SaveArgs) -> Result<i32, CliError> {
    let what = format!("save {}", args.images.join(" "));
    match &args.output {
        Some(path) => {
            rt.save_images(&args.images, path)
                .await
                .map_err(failed(&what))?;
        }
        None => {
            if std::io::stdout().is_terminal() {
                return Err(CliError::usage(
                    "cowardly refusing to save to a terminal; use the -o flag or redirect",
                ));
            }
            let dir = spool_dir()?;
            let path = dir.path().join("save.tar");
            rt.save_images(&args.images, &path)
                .await
                .map_err(failed(&what))?;
            let mut file =
                std::fs::File::open(&path).map_err(|e| io_failed("read the archive", e))?;
            std::io::copy(&mut file, &mut std::io::stdout().lock())
                .map_err(|e| io_failed("write standard output", e))?;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_filters_parse_as_docker_s_and_bad_ones_are_named() {
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(10_000);
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let f = parse_prune_filters(
            &args(&["until=1h", "label=a", "label=b=2", "label!=c=3"]),
            now,
        )
        .unwrap();
        assert_eq!(
            f.until,
            Some((
                "1h".to_string(),
                SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(10_000 - 3600)
            ))
        );
        assert_eq!(
            f.labels,
            vec![LabelFilter::has("a"), LabelFilter::equals("b", "2")]
        );
        assert_eq!(f.not_labels, vec![LabelFilter::equals("c", "3")]);
        let until = parse_prune_filters(&args(&["until=1970-01-01T00:00:05Z"]), now).unwrap();
        assert_eq!(
            until.until.unwrap().1,
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(5)
        );
        for (bad, says) in [
            ("dangling", "expected name=value"),
            ("reference=x", "image prune takes until="),
            ("until=yesterday", "invalid time"),
            ("label=", "name the label"),
        ] {
            let err = parse_prune_filters(&args(&[bad]), now)
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("\"{bad}\"")), "{err}");
            assert!(err.contains(says), "{err}");
        }
        let err = parse_prune_filters(&args(&["until=1h", "until=2h"]), now)
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than one until"), "{err}");
    }

    #[test]
    fn inspect_templates_print_fields_as_go_does() {
        let v = json!({"Id": "sha256:x", "Config": {"Cmd": ["/bin/sh", "-c"], "User": "", "Labels": {"b": "2", "a": "1"}, "Entrypoint": null}});
        assert_eq!(
            crate::ui::template::render("{{.Id}}", &v).unwrap(),
            "sha256:x"
        );
        assert_eq!(
            crate::ui::template::render("cmd={{ .Config.Cmd }} ep={{.Config.Entrypoint}}", &v)
                .unwrap(),
            "cmd=[/bin/sh -c] ep=<nil>"
        );
        assert_eq!(
            crate::ui::template::render("{{.Config.Labels}}", &v).unwrap(),
            "map[a:1 b:2]"
        );
        assert_eq!(
            crate::ui::template::render("{{json .Config.Cmd}}", &v).unwrap(),
            r#"["/bin/sh","-c"]"#
        );
        assert!(crate::ui::template::render("{{.Nope}}", &v).is_err());
        assert!(crate::ui::template::render("{{range .Config.Cmd}}", &v).is_err());
        assert!(crate::ui::template::render("{{.Id", &v).is_err());
    }

    #[test]
    fn ls_filters_follow_docker() {
        let f = ListFilter::parse(&[
            "reference=hoist-test/*".to_string(),
            "dangling=false".to_string(),
            "label=a=1".to_string(),
        ])
        .unwrap();
        assert!(f.keeps_name("hoist-test/busybox:latest"));
        assert!(!f.keeps_name("other/busybox:latest"));
        assert!(
            !f.keeps_name("hoist-test/a/b:1"),
            "* stays within a segment"
        );
        let image = ImageSummary {
            repo_tags: vec!["x:1".to_string()],
            labels: [("a".to_string(), "1".to_string())].into(),
            ..Default::default()
        };
        assert!(f.keeps_image(&image));
        assert!(!f.keeps_image(&ImageSummary::default()));
        assert!(ListFilter::parse(&["dangling=maybe".to_string()]).is_err());
        assert!(ListFilter::parse(&["since=x".to_string()]).is_err());
        assert!(ListFilter::parse(&["nonsense".to_string()]).is_err());
    }

    #[test]
    fn tags_split_at_the_last_colon_unless_it_is_a_port() {
        assert_eq!(
            split_repo_tag("127.0.0.1:5000/a/b:1"),
            ("127.0.0.1:5000/a/b".to_string(), "1".to_string())
        );
        assert_eq!(
            split_repo_tag("localhost:5000/a"),
            ("localhost:5000/a".to_string(), "<none>".to_string())
        );
    }

    #[test]
    fn changes_set_the_image_defaults_like_docker_import() {
        let d = apply_changes(&[
            r#"CMD ["sleep", "1"]"#.to_string(),
            "ENTRYPOINT echo hi".to_string(),
            "ENV A=1".to_string(),
            "WORKDIR /app".to_string(),
        ])
        .unwrap();
        assert_eq!(d.cmd, Some(vec!["sleep".to_string(), "1".to_string()]));
        assert_eq!(d.entrypoint.unwrap()[2], "echo hi");
        assert_eq!(d.env, Some(vec!["A=1".to_string()]));
        assert_eq!(d.working_dir.as_deref(), Some("/app"));
        assert!(apply_changes(&["EXPOSE 80".to_string()]).is_err());
    }
}
