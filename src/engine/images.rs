//! Images of the project's services: `build` (with command-line overrides of the `build:`
//! section), `pull` and `push`, as docker compose selects and reports them.
//!
//! Not for: deciding whether `up` needs an image (that is `up`'s pull/build policy), or
//! registry protocols (the runtime pulls and pushes).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::future::join_all;

use crate::compose::model::ServiceConfig;
use crate::runtime::{ImageProgress, RuntimeError};

use super::error::EngineError;
use super::progress::{ProgressEvent, ResourceKind, Status};
use super::specs as convert;
use super::state::ProjectContext;
use super::up::services_in_scope;
use super::Engine;

/// Command-line overrides of a service's `build:` section (`hoist build` flags).
#[derive(Clone, Debug, Default)]
pub struct BuildOverrides {
    /// `--build-arg K=V`: wins over `build.args`.
    pub args: BTreeMap<String, String>,
    /// `--no-cache`: true forces it; false keeps `build.no_cache`.
    pub no_cache: bool,
    /// `--pull`: true forces it; false keeps `build.pull`.
    pub pull: bool,
}

#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// Services to build (empty: every service with `build:`).
    pub services: Vec<String>,
    pub overrides: BuildOverrides,
    /// `--push`: push each built image that has an `image:` name.
    pub push: bool,
}

#[derive(Clone, Debug, Default)]
pub struct PullOptions {
    pub services: Vec<String>,
    /// `--include-deps`: also pull what the services depend on.
    pub include_deps: bool,
    /// `--ignore-pull-failures`: report failures and go on.
    pub ignore_failures: bool,
    /// `--policy missing|always`: replaces every service's `pull_policy`.
    pub policy: Option<String>,
    /// `--ignore-buildable`: skip services that have `build:`.
    pub ignore_buildable: bool,
}

#[derive(Clone, Debug, Default)]
pub struct PushOptions {
    pub services: Vec<String>,
    pub include_deps: bool,
    /// `--ignore-push-failures`: report failures and go on.
    pub ignore_failures: bool,
}

/// How many lines of a failing step's output a build error carries.
const FAILED_STEP_LINES: usize = 30;

/// Output of the build step under way: a failing build's error shows it, because on a
/// terminal the live view may have drawn over it.
#[derive(Default)]
struct StepOutput {
    lines: Vec<String>,
}

impl StepOutput {
    fn push(&mut self, text: &str) {
        // The builder's own cleanup says nothing about why the step failed.
        let lines = text
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty() && !l.starts_with("Removing intermediate container"));
        for line in lines {
            // The classic builder opens each step with `Step n/m : ...`; BuildKit with `#n`.
            if line.starts_with("Step ") || is_buildkit_header(line) {
                self.lines.clear();
            }
            self.lines.push(line.to_string());
            if self.lines.len() > FAILED_STEP_LINES {
                self.lines.remove(0);
            }
        }
    }
}

/// A BuildKit plain-progress step header (`#4 [stage-1 2/5] RUN ...`).
fn is_buildkit_header(line: &str) -> bool {
    line.strip_prefix('#')
        .and_then(|rest| rest.split_once(' '))
        .is_some_and(|(n, rest)| n.parse::<u32>().is_ok() && rest.starts_with('['))
}

/// What a BuildKit plain-progress line says without its `#n` and time prefixes.
fn buildkit_text(line: &str) -> &str {
    let Some((_, rest)) = line.strip_prefix('#').and_then(|r| r.split_once(' ')) else {
        return line;
    };
    match rest.split_once(' ') {
        Some((time, text)) if time.parse::<f64>().is_ok() => text,
        _ => rest,
    }
}

/// The services of the project named (or all), with their dependencies when asked, in
/// file order.
fn scope(ctx: &ProjectContext, services: &[String], include_deps: bool) -> Vec<String> {
    services_in_scope(ctx, services, !include_deps)
}

/// `services` and the services their builds use as named contexts (`service:<name>`,
/// transitively), in waves: a service comes in a later wave than every service whose image
/// its build reads, so that image is built first. A cycle is an error naming its path.
pub(crate) fn context_waves(
    ctx: &ProjectContext,
    services: &[String],
) -> Result<Vec<Vec<String>>, EngineError> {
    fn visit(
        ctx: &ProjectContext,
        name: &str,
        levels: &mut Vec<(String, usize)>,
        path: &mut Vec<String>,
    ) -> Result<usize, EngineError> {
        if let Some((_, level)) = levels.iter().find(|(n, _)| n == name) {
            return Ok(*level);
        }
        if let Some(at) = path.iter().position(|n| n == name) {
            let mut cycle = path[at..].to_vec();
            cycle.push(name.to_string());
            return Err(EngineError::new(format!(
                "the builds of these services use each other's images as named contexts \
                 (`additional_contexts: service:`): {}",
                cycle.join(" -> ")
            )));
        }
        path.push(name.to_string());
        let mut level = 0;
        if let Some(service) = ctx.project.services.get(name) {
            for used in convert::context_services(service) {
                level = level.max(visit(ctx, &used, levels, path)? + 1);
            }
        }
        path.pop();
        levels.push((name.to_string(), level));
        Ok(level)
    }
    let mut levels = Vec::new();
    for name in services {
        visit(ctx, name, &mut levels, &mut Vec::new())?;
    }
    let depth = levels.iter().map(|(_, l)| l + 1).max().unwrap_or(0);
    let mut waves = vec![Vec::new(); depth];
    // File order within a wave, as the caller gave them; added services after.
    let mut ordered: Vec<&(String, usize)> = services
        .iter()
        .filter_map(|s| levels.iter().find(|(n, _)| n == s))
        .collect();
    ordered.extend(levels.iter().filter(|(n, _)| !services.contains(n)));
    for (name, level) in ordered {
        waves[*level].push(name.clone());
    }
    Ok(waves)
}

impl Engine {
    /// Builds a service's image with `overrides` applied, streaming builder output as
    /// progress; returns the image id. A failing build's error carries the failing step's output.
    pub async fn build_service_with(
        &self,
        ctx: &ProjectContext,
        name: &str,
        service: &ServiceConfig,
        overrides: &BuildOverrides,
    ) -> Result<String, EngineError> {
        let image = ctx.image_of(name);
        let start = Instant::now();
        self.progress(
            ResourceKind::Image,
            &image,
            Status::Working,
            "Building",
            None,
        );
        // Packing reads the whole context and a git context is fetched over the network:
        // off the async workers, so parallel builds and the progress view go on meanwhile.
        let packed = {
            let (ctx, name, service) = (ctx.clone(), name.to_string(), service.clone());
            tokio::task::spawn_blocking(move || convert::build_spec_for(&ctx, &name, &service))
                .await
                .unwrap_or_else(|e| Err(format!("packing the build context failed: {e}")))
        };
        let mut spec = packed.map_err(|e| {
            self.progress(
                ResourceKind::Image,
                &image,
                Status::Error,
                "Error",
                Some(e.clone()),
            );
            EngineError::new(format!("cannot build service {name}: {e}"))
        })?;
        spec.build_args.extend(overrides.args.clone());
        spec.no_cache |= overrides.no_cache;
        spec.pull |= overrides.pull;

        let step = Arc::new(Mutex::new(StepOutput::default()));
        let reporter = self.reporter.clone();
        let shown = image.clone();
        let step_sink = step.clone();
        let sink = move |p: ImageProgress| {
            if let ImageProgress::BuildOutput(text) = &p {
                if let Ok(mut s) = step_sink.lock() {
                    s.push(text);
                }
            }
            let detail = p.text();
            if detail.trim().is_empty() {
                return;
            }
            reporter.event(
                ProgressEvent::new(
                    ResourceKind::Image,
                    shown.clone(),
                    Status::Working,
                    "Building",
                )
                .with_detail(detail),
            );
        };
        match self.runtime.build_image(&spec, &sink).await {
            Ok(id) => {
                self.done(ResourceKind::Image, &image, "Built", start);
                Ok(id)
            }
            Err(e) => {
                self.progress(
                    ResourceKind::Image,
                    &image,
                    Status::Error,
                    "Error",
                    Some(e.to_string()),
                );
                let output = step.lock().map(|s| s.lines.join("\n")).unwrap_or_default();
                let mut message = format!("failed to build service {name}: {e}");
                // The native builder's error carries the step's full output already.
                let has_output = output
                    .lines()
                    .last()
                    .is_some_and(|l| message.contains(buildkit_text(l)));
                if matches!(e, RuntimeError::BuildFailed { .. })
                    && !output.is_empty()
                    && !has_output
                {
                    message.push_str("\noutput of the failing step:\n");
                    message.push_str(&output);
                }
                Err(EngineError::new(message))
            }
        }
    }

    /// `build`: builds every selected service that has `build:`, one image once; then
    /// pushes them when asked.
    pub async fn build_services(
        &self,
        ctx: &ProjectContext,
        opts: &BuildOptions,
    ) -> Result<(), EngineError> {
        let selected = scope(ctx, &opts.services, false);
        // An image another build reads as a named context is built in an earlier wave.
        let mut images: Vec<String> = Vec::new();
        for wave in context_waves(ctx, &selected)? {
            let mut builds: Vec<(&String, &ServiceConfig)> = Vec::new();
            for name in ctx.project.services.keys().filter(|n| wave.contains(n)) {
                let service = &ctx.project.services[name];
                let image = ctx.image_of(name);
                if service.build.is_some() && !images.contains(&image) {
                    images.push(image);
                    builds.push((name, service));
                }
            }
            // Different images build at once, as docker compose does, within `--parallel`.
            let results = join_all(builds.iter().map(|(name, service)| async move {
                let _permit = self
                    .permits
                    .acquire()
                    .await
                    .map_err(|_| EngineError::new("internal error: semaphore closed"))?;
                self.build_service_with(ctx, name, service, &opts.overrides)
                    .await
            }))
            .await;
            join_errors(results.into_iter().filter_map(Result::err).collect())?;
        }
        if opts.push {
            let push = PushOptions {
                services: opts.services.clone(),
                ..PushOptions::default()
            };
            self.push_services(ctx, &push).await?;
        }
        Ok(())
    }

    /// `pull`: pulls the images of the selected services that name one, as their
    /// `pull_policy` (or `policy`) says. Build-only services are skipped; a failure of a
    /// service that can be built is reported with the command that builds it.
    pub async fn pull_services(
        &self,
        ctx: &ProjectContext,
        opts: &PullOptions,
    ) -> Result<(), EngineError> {
        let selected = scope(ctx, &opts.services, opts.include_deps);
        let mut pulling: Vec<(String, String, Option<String>, bool)> = Vec::new();
        for name in &selected {
            let Some(service) = ctx.project.services.get(name) else {
                continue;
            };
            let Some(image) = service.image.clone() else {
                self.progress(
                    ResourceKind::Image,
                    name,
                    Status::Done,
                    "Skipped - No image to be pulled",
                    None,
                );
                continue;
            };
            let policy = opts
                .policy
                .clone()
                .or_else(|| service.pull_policy.clone())
                .unwrap_or_default();
            let present = matches!(policy.as_str(), "missing" | "if_not_present")
                && self.runtime.inspect_image(&image).await.is_ok();
            match policy.as_str() {
                "never" | "build" => {
                    self.progress(ResourceKind::Image, &image, Status::Done, "Skipped", None);
                    continue;
                }
                _ if present => {
                    self.progress(
                        ResourceKind::Image,
                        &image,
                        Status::Done,
                        "Skipped - Image is already present locally",
                        None,
                    );
                    continue;
                }
                _ => {}
            }
            if opts.ignore_buildable && service.build.is_some() {
                self.progress(
                    ResourceKind::Image,
                    &image,
                    Status::Done,
                    "Skipped - Image can be built",
                    None,
                );
                continue;
            }
            if pulling.iter().any(|(_, i, _, _)| *i == image) {
                continue;
            }
            pulling.push((
                name.clone(),
                image,
                service.platform.clone(),
                service.build.is_some(),
            ));
        }
        let results = join_all(pulling.iter().map(|(name, image, platform, _)| async move {
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| EngineError::new("internal error: semaphore closed"))?;
            self.pull(name, image, platform.as_deref()).await
        }))
        .await;
        let mut must_build = Vec::new();
        let mut errors = Vec::new();
        for ((name, _, _, buildable), result) in pulling.iter().zip(results) {
            if let Err(e) = result {
                if *buildable {
                    must_build.push(name.as_str());
                }
                errors.push(e);
            }
        }
        if !must_build.is_empty() {
            self.reporter.message(&format!(
                "WARNING: Some service image(s) must be built from source by running:\n    hoist build {}",
                must_build.join(" ")
            ));
        }
        if opts.ignore_failures {
            for e in &errors {
                self.reporter.message(&e.to_string());
            }
            return Ok(());
        }
        join_errors(errors)
    }

    /// `push`: pushes the image (and `build.tags`) of every selected service that has both
    /// `build:` and `image:`; others are skipped.
    pub async fn push_services(
        &self,
        ctx: &ProjectContext,
        opts: &PushOptions,
    ) -> Result<(), EngineError> {
        let selected = scope(ctx, &opts.services, opts.include_deps);
        let mut tags: Vec<(String, String)> = Vec::new();
        for name in &selected {
            let Some(service) = ctx.project.services.get(name) else {
                continue;
            };
            let (Some(build), Some(image)) = (service.build.as_ref(), service.image.as_ref())
            else {
                self.progress(ResourceKind::Image, name, Status::Done, "Skipped", None);
                continue;
            };
            for tag in std::iter::once(image).chain(build.tags.iter()) {
                if !tags.iter().any(|(_, t)| t == tag) {
                    tags.push((name.clone(), tag.clone()));
                }
            }
        }
        // Repositories in parallel, the tags of one repository one after another: they
        // share blobs, and concurrent uploads of one blob to one repository make
        // registries fail the stream.
        let mut by_repository: Vec<(String, Vec<&(String, String)>)> = Vec::new();
        for entry in &tags {
            let repository = repository_of(&entry.1);
            match by_repository.iter_mut().find(|(r, _)| *r == repository) {
                Some((_, group)) => group.push(entry),
                None => by_repository.push((repository, vec![entry])),
            }
        }
        let grouped = join_all(by_repository.iter().map(|(_, group)| async move {
            let mut results = Vec::new();
            for (service, tag) in group {
                results.push((service.as_str(), self.push_image(service, tag).await));
            }
            results
        }))
        .await;
        let mut errors = Vec::new();
        for (service, result) in grouped.into_iter().flatten() {
            if let Err(e) = result {
                if opts.ignore_failures {
                    self.reporter.message(&format!("Pushing {service}: {e}"));
                } else {
                    errors.push(e);
                }
            }
        }
        join_errors(errors)
    }

    /// Pushes one image reference with progress.
    pub async fn push_image(&self, service: &str, reference: &str) -> Result<(), EngineError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| EngineError::new("internal error: semaphore closed"))?;
        let start = Instant::now();
        self.progress(
            ResourceKind::Image,
            reference,
            Status::Working,
            "Pushing",
            None,
        );
        let reporter = self.reporter.clone();
        let shown = reference.to_string();
        let sink = move |p: ImageProgress| {
            if let ImageProgress::Layer { .. } = p {
                let detail = p.text();
                reporter.event(
                    ProgressEvent::new(
                        ResourceKind::Image,
                        shown.clone(),
                        Status::Working,
                        "Pushing",
                    )
                    .with_detail(detail),
                );
            }
        };
        match self.runtime.push_image(reference, None, &sink).await {
            Ok(()) => {
                self.done(ResourceKind::Image, reference, "Pushed", start);
                Ok(())
            }
            Err(e) => {
                self.progress(
                    ResourceKind::Image,
                    reference,
                    Status::Error,
                    "Error",
                    Some(e.to_string()),
                );
                let hint = match &e {
                    RuntimeError::NotFound { .. } => {
                        format!("build it first: hoist build {service}")
                    }
                    _ => "check the registry is reachable and that you are logged in to it"
                        .to_string(),
                };
                Err(EngineError::runtime(
                    &format!("push image {reference} for service {service}"),
                    e,
                )
                .with_hint(hint))
            }
        }
    }
}

/// One error for many: the first one's hint, every message.
fn join_errors(errors: Vec<EngineError>) -> Result<(), EngineError> {
    let mut iter = errors.into_iter();
    let Some(mut first) = iter.next() else {
        return Ok(());
    };
    for e in iter {
        first.message.push('\n');
        first.message.push_str(&e.message);
    }
    Err(first)
}

/// The repository of an image reference: without its `:tag` and `@digest`.
fn repository_of(reference: &str) -> String {
    let name = reference.split('@').next().unwrap_or(reference);
    crate::runtime::split_tag(name).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_of_one_repository_share_it_and_registry_ports_are_not_tags() {
        assert_eq!(repository_of("127.0.0.1:5000/app:1"), "127.0.0.1:5000/app");
        assert_eq!(repository_of("127.0.0.1:5000/app"), "127.0.0.1:5000/app");
        assert_eq!(repository_of("app@sha256:abc"), "app");
        assert_eq!(repository_of("app:latest"), "app");
    }

    #[test]
    fn buildkit_step_headers_reset_the_step_output() {
        let mut s = StepOutput::default();
        s.push("#3 [1/2] RUN echo a\n#3 0.010 a\n#3 DONE 0.1s\n");
        s.push("#4 [2/2] RUN false\n#4 0.020 oops\n");
        assert_eq!(s.lines, ["#4 [2/2] RUN false", "#4 0.020 oops"]);
        assert_eq!(buildkit_text("#4 0.020 oops"), "oops");
        assert_eq!(buildkit_text("#4 CACHED"), "CACHED");
        assert!(!is_buildkit_header("#4 0.020 oops"));
    }

    #[test]
    fn step_output_keeps_only_the_current_step() {
        let mut s = StepOutput::default();
        s.push("Step 1/2 : FROM x\n ---> abc\n");
        s.push("Step 2/2 : RUN echo boom; exit 3\n");
        s.push(" ---> Running in 123\nboom\nRemoving intermediate container 123\n");
        assert_eq!(
            s.lines,
            vec![
                "Step 2/2 : RUN echo boom; exit 3",
                " ---> Running in 123",
                "boom"
            ]
        );
    }

    #[test]
    fn step_output_is_bounded() {
        let mut s = StepOutput::default();
        for i in 0..100 {
            s.push(&format!("line {i}\n"));
        }
        assert_eq!(s.lines.len(), FAILED_STEP_LINES);
        assert_eq!(s.lines.last().map(String::as_str), Some("line 99"));
    }

    #[test]
    fn joined_errors_keep_every_message() {
        let err = join_errors(vec![EngineError::new("a"), EngineError::new("b")]);
        assert_eq!(err.map_err(|e| e.message), Err("a\nb".to_string()));
        assert!(join_errors(Vec::new()).is_ok());
    }
}
