//! The native builder's driver: runs a Dockerfile against the native store, step by step,
//! with the layer cache, and commits the result as an image (`hoist --backend native build`,
//! `up --build`, `run --build`).
//!
//! Each stage the target needs starts from its base (an image, pulled when missing;
//! `scratch`; or an earlier stage), runs its base image's `ONBUILD` triggers, then its
//! steps: metadata instructions only change the configuration ([`StageConfig::apply`]);
//! `COPY`/`ADD`/`WORKDIR` write into a fresh overlay upper directory over the current
//! layers; `RUN` runs in a container of the native runtime (so through the monitor, never
//! libcontainer in this multithreaded process) whose upper directory becomes the layer.
//! Before a filesystem step runs, its [`StepKey`] is looked up in the [`BuildCache`]: a hit
//! restores the state the step left before and prints `CACHED`.
//!
//! `RUN` steps use the host's network unless `RUN --network=none` (or the build's
//! `network: none`) asks for an isolated one: as with `docker build`, the default build
//! network reaches what the host reaches.
//!
//! Progress lines follow BuildKit's plain output (`#3 [stage-1 2/5] RUN ...`, `#3 CACHED`,
//! `#3 DONE 0.4s`).
//!
//! Not for: parsing or substitution ([`super::dockerfile`]), configuration semantics
//! ([`super::config`]), COPY planning ([`super::copy`]) or packing layers ([`super::layer`]).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::build::cache::{BuildCache, CachedState, StepKey};
use crate::build::config::{created_by, StageConfig};
use crate::build::copy::{self, CopySpec, SourceTree};
use crate::build::dockerfile::expand::{
    expand_stage, expand_stages, required_stages, stage_index, unused_build_args, BuildOptions,
    ExpandedStep, Platform as BuildPlatform,
};
use crate::build::dockerfile::{self, CopyArgs, Instruction};
use crate::build::layer::{self, LAYER_MEDIA_TYPE};
use crate::runtime::native::containers::{self, random_id};
use crate::runtime::native::digest::Digest;
use crate::runtime::native::import::commit_image;
use crate::runtime::native::monitor::LOG_FILE;
use crate::runtime::native::oci::{Descriptor, ImageConfig, Platform};
use crate::runtime::native::reference::Reference;
use crate::runtime::native::registry::{RegistryClient, RegistryConfig};
use crate::runtime::native::runtime::pull_blocking;
use crate::runtime::native::snapshot::{self, RootfsDirs};
use crate::runtime::native::state;
use crate::runtime::native::store::ImageRecord;
use crate::runtime::{BuildSpec, ContainerSpec, ImageProgress, ProgressSink, Result, RuntimeError};

fn failed(message: impl Into<String>) -> RuntimeError {
    RuntimeError::BuildFailed {
        message: message.into(),
    }
}

fn io_failed(what: &str, path: &Path, e: impl std::fmt::Display) -> RuntimeError {
    failed(format!("{what} {}: {e}", path.display()))
}

/// The image state while a stage is built.
#[derive(Clone)]
struct State {
    config: StageConfig,
    layers: Vec<Descriptor>,
    /// Cache key of the last step (or the base's identity): the next step's parent.
    key: Digest,
}

/// A finished stage: what `FROM <stage>` and `COPY --from=<stage>` use.
#[derive(Clone)]
struct Built {
    config: ImageConfig,
    layers: Vec<Descriptor>,
    key: Digest,
}

/// Removes the build's scratch directory (and anything left mounted in it) on every exit.
struct Scratch {
    dir: PathBuf,
    mounts: std::cell::RefCell<Vec<PathBuf>>,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for m in self.mounts.borrow().iter().rev() {
            let _ = snapshot::unmount(m);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

struct Builder<'a> {
    root: &'a Path,
    spec: &'a BuildSpec,
    progress: ProgressSink<'a>,
    scratch: Scratch,
    context: PathBuf,
    platform: String,
    /// Step counter for `#n` lines.
    vertex: std::cell::Cell<usize>,
    /// Base images resolved so far, by the name `FROM` gave.
    images: HashMap<String, (ImageRecord, ImageConfig)>,
}

/// Builds `spec` in the native store under `root`; returns the image id (`sha256:...`).
pub fn build(root: &Path, spec: &BuildSpec, progress: ProgressSink<'_>) -> Result<String> {
    let host = BuildPlatform::host();
    if let Some(p) = spec.platform.as_deref() {
        if p != host.to_string() && p != format!("{}/{}", host.os, host.arch) {
            return Err(failed(format!(
                "the native builder builds for the host platform ({host}) only, not {p}; \
                 drop `platform`/`--platform` or use the docker backend"
            )));
        }
    }
    let dir = root.join("build").join(random_id()?);
    let context = dir.join("context");
    fs::create_dir_all(&context).map_err(|e| io_failed("cannot create", &context, e))?;
    let scratch = Scratch {
        dir,
        mounts: Default::default(),
    };
    tar::Archive::new(&spec.context_tar[..])
        .unpack(&context)
        .map_err(|e| io_failed("cannot unpack the build context into", &context, e))?;
    let mut builder = Builder {
        root,
        spec,
        progress,
        scratch,
        context,
        platform: host.to_string(),
        vertex: std::cell::Cell::new(0),
        images: HashMap::new(),
    };
    builder.run()
}

impl Builder<'_> {
    fn say(&self, text: impl Into<String>) {
        let mut text = text.into();
        text.push('\n');
        (self.progress)(ImageProgress::BuildOutput(text));
    }

    fn next_vertex(&self) -> usize {
        let n = self.vertex.get() + 1;
        self.vertex.set(n);
        n
    }

    fn run(&mut self) -> Result<String> {
        let start = Instant::now();
        let name = self.spec.dockerfile.as_deref().unwrap_or("Dockerfile");
        let n = self.next_vertex();
        self.say(format!("#{n} [internal] load build definition from {name}"));
        let path = self.context.join(name);
        let text = fs::read_to_string(&path).map_err(|e| {
            failed(format!(
                "cannot read the Dockerfile {name} in the build context: {e}"
            ))
        })?;
        let df = dockerfile::parse(&text).map_err(|e| failed(e.to_string()))?;
        self.say(format!("#{n} DONE {:.1}s", start.elapsed().as_secs_f64()));
        let options = BuildOptions {
            build_args: self
                .spec
                .build_args
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            ..BuildOptions::host()
        };
        if df.stages.is_empty() {
            return Err(failed("the Dockerfile has no FROM instruction"));
        }
        // Expansion needs each base image's ENV: resolve (pull) those first, remembering
        // failures so only a stage the target needs fails the build.
        let mut base_errors: HashMap<String, RuntimeError> = HashMap::new();
        let stages = {
            let mut image_env =
                |from: &dockerfile::expand::ExpandedFrom| match self.base_image(&from.base) {
                    Ok((_, config)) => env_pairs(&config),
                    Err(e) => {
                        base_errors.insert(from.base.clone(), e);
                        Vec::new()
                    }
                };
            expand_stages(&df, &options, &mut image_env).map_err(|e| failed(e.to_string()))?
        };
        let target = match self.spec.target.as_deref() {
            Some(t) => stage_index(&df, t, df.stages.len())
                .ok_or_else(|| failed(format!("target stage {t:?} could not be found")))?,
            None => df.stages.len() - 1,
        };
        for arg in unused_build_args(&df, &options) {
            self.say(format!(
                "[warning] build-arg {arg} was not consumed by any ARG of the Dockerfile"
            ));
        }
        let mut built: HashMap<usize, Built> = HashMap::new();
        for index in required_stages(&df, &stages, target) {
            let stage = &stages[index];
            if let Some(e) = base_errors.remove(&stage.from.base) {
                return Err(e);
            }
            let name = df.stages[index]
                .name
                .clone()
                .unwrap_or_else(|| format!("stage-{index}"));
            let label = if df.stages.len() > 1 {
                format!("{name} ")
            } else {
                String::new()
            };
            let result = self.build_stage(&df, index, stage, &label, &options, &built)?;
            built.insert(index, result);
        }
        let result = built
            .remove(&target)
            .ok_or_else(|| failed("the target stage was not built"))?;
        self.commit(result)
    }

    /// The base image `reference`, pulled when missing (or always with `pull`).
    fn base_image(&mut self, reference: &str) -> Result<(ImageRecord, ImageConfig)> {
        if let Some(found) = self.images.get(reference) {
            return Ok(found.clone());
        }
        let parsed = Reference::parse(reference)?;
        let name = parsed.to_string();
        let local = state::with_store(self.root, |store| Ok(store.image(&name)?))?;
        if local.is_none() || self.spec.pull {
            let client = RegistryClient::new(RegistryConfig::from_env()?);
            pull_blocking(
                &client,
                self.root,
                &parsed,
                &Platform::host(),
                self.progress,
            )
            .map_err(|e| {
                failed(format!(
                    "cannot pull the base image {reference} ({e}); pull or import it first"
                ))
            })?;
        }
        let found = state::with_store(self.root, |store| {
            let record = store.image(&name)?.ok_or_else(|| {
                failed(format!("base image {reference} is not in the native store"))
            })?;
            let config = store.image_config(&record)?;
            Ok((record, config))
        })?;
        self.images.insert(reference.to_string(), found.clone());
        Ok(found)
    }

    fn build_stage(
        &mut self,
        df: &dockerfile::Dockerfile,
        index: usize,
        stage: &dockerfile::expand::ExpandedStage,
        label: &str,
        options: &BuildOptions,
        built: &HashMap<usize, Built>,
    ) -> Result<Built> {
        let base = &stage.from.base;
        let (base_config, layers, key, shown) = match stage_index(df, base, index) {
            Some(parent) => {
                let b = built
                    .get(&parent)
                    .ok_or_else(|| failed(format!("stage {base} was not built")))?;
                (
                    b.config.clone(),
                    b.layers.clone(),
                    b.key.clone(),
                    base.clone(),
                )
            }
            None if base == "scratch" => {
                let host = Platform::host();
                let config = ImageConfig {
                    architecture: host.architecture,
                    os: host.os,
                    rootfs: crate::runtime::native::oci::RootFs {
                        kind: "layers".to_string(),
                        diff_ids: Vec::new(),
                    },
                    ..Default::default()
                };
                (config, Vec::new(), Digest::of(b"scratch"), base.clone())
            }
            None => {
                let (record, config) = self.base_image(base)?;
                let name = Reference::parse(base)?.to_string();
                (config, record.layers, record.config.digest, name)
            }
        };
        let mut steps: Vec<ExpandedStep> = Vec::new();
        if let Some(triggers) = base_config
            .config
            .on_build
            .clone()
            .filter(|t| !t.is_empty())
        {
            // ONBUILD triggers run first, substituted like the stage's own instructions.
            let text = format!("FROM scratch\n{}\n", triggers.join("\n"));
            let mini = dockerfile::parse(&text)
                .map_err(|e| failed(format!("ONBUILD trigger of {base}: {e}")))?;
            let expanded = expand_stage(&mini, &mini.stages[0], options, &env_pairs(&base_config))
                .map_err(|e| failed(format!("ONBUILD trigger of {base}: {e}")))?;
            steps.extend(expanded.steps);
        }
        steps.extend(stage.steps.iter().cloned());
        let fs_steps = steps
            .iter()
            .filter(|s| changes_files(&s.instruction))
            .count();
        let total = fs_steps + 1;
        let n = self.next_vertex();
        self.say(format!("#{n} [{label}1/{total}] FROM {shown}"));
        self.say(format!("#{n} DONE 0.0s"));
        let mut state = State {
            config: StageConfig::from_base(base_config),
            layers,
            key,
        };
        let mut position = 1;
        for step in &steps {
            let files = changes_files(&step.instruction);
            if files {
                position += 1;
            }
            let header = format!("[{label}{position}/{total}] {}", step.text.trim());
            self.step(df, index, step, &header, files, &mut state, built)?;
        }
        let mut config = state.config.image;
        config.rootfs.kind = "layers".to_string();
        Ok(Built {
            config,
            layers: state.layers,
            key: state.key,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        df: &dockerfile::Dockerfile,
        index: usize,
        step: &ExpandedStep,
        header: &str,
        files: bool,
        state: &mut State,
        built: &HashMap<usize, Built>,
    ) -> Result<()> {
        let canonical = format!("{:?}", step.instruction);
        let in_error = |e: String| failed(format!("{header} (Dockerfile line {}): {e}", step.line));
        if !files {
            state.key = StepKey {
                parent: &state.key,
                instruction: &canonical,
                args: &step.args,
                platform: &self.platform,
                content: None,
            }
            .digest();
            if matches!(step.instruction, Instruction::Arg(_)) {
                return Ok(());
            }
            state
                .config
                .apply(&step.instruction)
                .map_err(|e| in_error(e.to_string()))?;
            state.config.record(
                created_by(&step.instruction, &step.text, None),
                false,
                Some(now()),
            );
            return Ok(());
        }
        let n = self.next_vertex();
        self.say(format!("#{n} {header}"));
        let start = Instant::now();
        let work = self.scratch.dir.join(format!("step-{n}"));
        let dirs = RootfsDirs::under(&work);
        let lowers = self.layer_dirs(&state.config.image, &state.layers)?;
        self.mount(&lowers, &dirs)?;
        let mut run_argv = None;
        let content = match &step.instruction {
            Instruction::Copy(args) | Instruction::Add(args) => {
                let is_add = matches!(step.instruction, Instruction::Add(_));
                let plan = self
                    .plan_copy(df, index, args, is_add, state, &dirs.merged, built, n)
                    .map_err(in_error)?;
                Some((
                    plan.content_digest().map_err(|e| in_error(e.to_string()))?,
                    plan,
                ))
            }
            Instruction::Workdir(_) => {
                state
                    .config
                    .apply(&step.instruction)
                    .map_err(|e| in_error(e.to_string()))?;
                None
            }
            Instruction::Run(run) => {
                run_argv = Some(state.config.argv(&run.command));
                None
            }
            _ => None,
        };
        let key = StepKey {
            parent: &state.key,
            instruction: &canonical,
            args: &step.args,
            platform: &self.platform,
            content: content.as_ref().map(|(d, _)| d),
        }
        .digest();
        if !self.spec.no_cache {
            let hit = state::with_store(self.root, |store| {
                Ok(BuildCache::new(store.database()).get(&key)?)
            })?;
            if let Some(hit) = hit {
                self.unmount(&dirs)?;
                // The stage's own flags (whether it set CMD) stay: only the image changes.
                state.config.image = hit.config;
                state.layers = hit.layers;
                state.key = key;
                self.say(format!("#{n} CACHED"));
                return Ok(());
            }
        }
        match (&step.instruction, content) {
            (Instruction::Workdir(_), _) => {
                let dir = state
                    .config
                    .image
                    .config
                    .working_dir
                    .clone()
                    .unwrap_or_else(|| "/".to_string());
                let target = dirs.merged.join(dir.trim_start_matches('/'));
                if !target.is_dir() {
                    fs::create_dir_all(&target)
                        .map_err(|e| in_error(format!("cannot create {dir}: {e}")))?;
                }
                self.unmount(&dirs)?;
            }
            (Instruction::Copy(_) | Instruction::Add(_), Some((_, plan))) => {
                plan.apply(&dirs.merged)
                    .map_err(|e| in_error(e.to_string()))?;
                self.unmount(&dirs)?;
            }
            (Instruction::Run(run), _) => {
                self.unmount(&dirs)?;
                let argv = run_argv.clone().unwrap_or_default();
                let upper =
                    self.run_step(n, start, state, run, &argv, step)
                        .map_err(|e| match e {
                            RuntimeError::BuildFailed { message } => failed(format!(
                                "{header} (Dockerfile line {}): {message}",
                                step.line
                            )),
                            other => other,
                        })?;
                // The container's changes replace the empty upper directory.
                let _ = fs::remove_dir_all(&dirs.upper);
                fs::rename(&upper, &dirs.upper)
                    .map_err(|e| io_failed("cannot take the changes of", &upper, e))?;
            }
            _ => self.unmount(&dirs)?,
        }
        let empty =
            layer::is_empty(&dirs.upper).map_err(|e| io_failed("cannot read", &dirs.upper, e))?;
        let text = created_by(&step.instruction, &step.text, run_argv.as_deref());
        if !empty {
            let scratch = self.root.join("tmp");
            let stored = state::with_store(self.root, |store| {
                Ok(layer::store_layer(&dirs.upper, store, &scratch)?)
            })?;
            state
                .config
                .image
                .rootfs
                .diff_ids
                .push(stored.digest.clone());
            state.layers.push(Descriptor {
                media_type: LAYER_MEDIA_TYPE.to_string(),
                digest: stored.digest,
                size: stored.size,
                platform: None,
            });
        }
        state.config.record(text, !empty, Some(now()));
        let _ = fs::remove_dir_all(&work);
        state.key = key.clone();
        let cached = CachedState {
            config: state.config.image.clone(),
            layers: state.layers.clone(),
        };
        state::with_store(self.root, |store| {
            Ok(BuildCache::new(store.database()).put(&key, &cached)?)
        })?;
        self.say(format!("#{n} DONE {:.1}s", start.elapsed().as_secs_f64()));
        Ok(())
    }

    /// Layer directories of a state, unpacked as needed.
    fn layer_dirs(&self, config: &ImageConfig, layers: &[Descriptor]) -> Result<Vec<PathBuf>> {
        if layers.is_empty() {
            return Ok(Vec::new());
        }
        let record = ImageRecord {
            manifest_digest: Digest::of(b""),
            index_digest: None,
            config: Descriptor {
                media_type: String::new(),
                digest: Digest::of(b""),
                size: 0,
                platform: None,
            },
            layers: layers.to_vec(),
        };
        state::with_store(self.root, |store| {
            Ok(snapshot::ensure_layers(store, &record, config)?)
        })
    }

    /// Mounts `lowers` with a fresh upper on `dirs.merged`; with no layers (`scratch`) the
    /// upper directory itself is the root.
    fn mount(&self, lowers: &[PathBuf], dirs: &RootfsDirs) -> Result<()> {
        if lowers.is_empty() {
            fs::create_dir_all(&dirs.upper)
                .map_err(|e| io_failed("cannot create", &dirs.upper, e))?;
            let _ = fs::remove_dir_all(&dirs.merged);
            if let Some(parent) = dirs.merged.parent() {
                fs::create_dir_all(parent).map_err(|e| io_failed("cannot create", parent, e))?;
            }
            std::os::unix::fs::symlink(&dirs.upper, &dirs.merged)
                .map_err(|e| io_failed("cannot create", &dirs.merged, e))?;
            return Ok(());
        }
        snapshot::mount_rootfs(lowers, dirs)?;
        self.scratch.mounts.borrow_mut().push(dirs.merged.clone());
        Ok(())
    }

    fn unmount(&self, dirs: &RootfsDirs) -> Result<()> {
        if dirs.merged.is_symlink() {
            let _ = fs::remove_file(&dirs.merged);
            return Ok(());
        }
        snapshot::unmount(&dirs.merged)?;
        self.scratch
            .mounts
            .borrow_mut()
            .retain(|m| m != &dirs.merged);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn plan_copy(
        &mut self,
        df: &dockerfile::Dockerfile,
        index: usize,
        args: &CopyArgs,
        is_add: bool,
        state: &State,
        merged: &Path,
        built: &HashMap<usize, Built>,
        n: usize,
    ) -> std::result::Result<copy::CopyPlan, String> {
        // `--from`: an earlier stage or an image, mounted (read-only in effect: its upper
        // directory is thrown away).
        let from_root = match &args.from {
            None => None,
            Some(from) => {
                let (config, layers) = match stage_index(df, from, index) {
                    Some(i) => {
                        let b = built
                            .get(&i)
                            .ok_or_else(|| format!("stage {from} was not built"))?;
                        (b.config.clone(), b.layers.clone())
                    }
                    None => {
                        let (record, config) = self.base_image(from).map_err(|e| e.to_string())?;
                        (config, record.layers)
                    }
                };
                let dirs = RootfsDirs::under(&self.scratch.dir.join(format!("from-{n}")));
                let lowers = self
                    .layer_dirs(&config, &layers)
                    .map_err(|e| e.to_string())?;
                self.mount(&lowers, &dirs).map_err(|e| e.to_string())?;
                Some(dirs)
            }
        };
        let tree_root = from_root
            .as_ref()
            .map_or(self.context.clone(), |d| d.merged.clone());
        let owner = match &args.chown {
            Some(chown) => Some(copy::resolve_owner(chown, merged).map_err(|e| e.to_string())?),
            None => None,
        };
        let mode = match &args.chmod {
            Some(m) => Some(copy::parse_chmod(m).map_err(|e| e.to_string())?),
            None => None,
        };
        let workdir = state
            .config
            .image
            .config
            .working_dir
            .clone()
            .unwrap_or_else(|| "/".to_string());
        let spec = CopySpec {
            sources: &args.sources,
            dest: &args.dest,
            workdir: &workdir,
            owner,
            mode,
            extract_archives: is_add,
        };
        let tree = SourceTree {
            root: &tree_root,
            // The context tar is already filtered by `.dockerignore`.
            ignore: None,
            keep_owner: from_root.is_some(),
        };
        let is_dir = |p: &str| merged.join(p.trim_start_matches('/')).is_dir();
        // A `--from` mount stays until the build ends (the scratch guard unmounts it): the
        // plan reads its sources when applied.
        copy::plan(tree, &spec, &is_dir).map_err(|e| e.to_string())
    }

    /// Runs a `RUN` step in a container over the current layers; returns the container's
    /// upper directory (its changes).
    #[allow(clippy::too_many_arguments)]
    fn run_step(
        &mut self,
        n: usize,
        started: Instant,
        state: &State,
        run: &dockerfile::Run,
        argv: &[String],
        step: &ExpandedStep,
    ) -> Result<PathBuf> {
        if state.layers.is_empty() {
            return Err(failed(
                "cannot RUN in an empty (scratch) filesystem: there is no shell to run",
            ));
        }
        if !run.mounts.is_empty() {
            return Err(failed(format!(
                "RUN --mount={} is not supported by the native builder yet; copy what the \
                 step needs with COPY, or use the docker backend",
                run.mounts.join(" --mount=")
            )));
        }
        if run.security.as_deref().is_some_and(|s| s != "sandbox") {
            return Err(failed(
                "RUN --security=insecure is not supported by the native builder",
            ));
        }
        let network = run.network.as_deref().or(self.spec.network.as_deref());
        let network_mode = match network {
            None | Some("default") | Some("host") => Some("host".to_string()),
            // An own namespace with only loopback.
            Some("none") => None,
            Some(other) => {
                return Err(failed(format!(
                    "RUN --network={other} is not supported by the native builder \
                     (use default, host or none)"
                )))
            }
        };
        // The container runs an image: the current state, committed under a private name.
        let mut config = state.config.image.clone();
        config.rootfs.kind = "layers".to_string();
        let bytes = serde_json::to_vec(&config)
            .map_err(|e| failed(format!("cannot encode the step's configuration: {e}")))?;
        let tag = format!("hoist-build.invalid/step:{}-{n}", &random_id()?[..12]);
        let layers = state.layers.clone();
        state::with_store(self.root, |store| {
            let record = commit_image(store, &bytes, layers)?;
            store.put_image(&Reference::parse(&tag)?.to_string(), &record)?;
            Ok(())
        })?;
        let env_keys: Vec<&str> = state
            .config
            .env()
            .iter()
            .map(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k))
            .collect();
        let mut env: Vec<String> = state.config.env().to_vec();
        for (k, v) in &step.args {
            if !env_keys.contains(&k.as_str()) {
                env.push(format!("{k}={v}"));
            }
        }
        let name = format!("hoist-build-{}-{n}", &random_id()?[..12]);
        let spec = ContainerSpec {
            name: name.clone(),
            image: tag.clone(),
            entrypoint: Some(Vec::new()),
            cmd: Some(argv.to_vec()),
            env,
            working_dir: state.config.image.config.working_dir.clone(),
            user: state.config.image.config.user.clone(),
            network_mode,
            extra_hosts: self.spec.extra_hosts.clone(),
            shm_size: self.spec.shm_size,
            ..Default::default()
        };
        let outcome = self.run_container(n, started, &spec);
        let _ = state::with_store(self.root, |store| {
            let _ = store.remove_image(&Reference::parse(&tag)?.to_string());
            Ok(())
        });
        let (id, code, output) = match outcome {
            Ok(v) => v,
            Err(e) => {
                self.remove_container(&name);
                return Err(e);
            }
        };
        if code != 0 {
            self.remove_container(&name);
            let mut message = format!(
                "process \"{}\" did not complete successfully: exit code: {code}",
                argv.join(" ")
            );
            if !output.is_empty() {
                message.push_str("\noutput:\n");
                message.push_str(output.trim_end());
            }
            return Err(failed(message));
        }
        let dir = state::container_dir(self.root, &id);
        let _ = snapshot::unmount(&RootfsDirs::under(&dir).merged);
        let upper = RootfsDirs::under(&dir).upper;
        // Empty mount points the runtime made for /etc/hosts etc. are not the step's work.
        for file in ["etc/hosts", "etc/hostname", "etc/resolv.conf"] {
            let p = upper.join(file);
            if fs::metadata(&p).is_ok_and(|m| m.is_file() && m.len() == 0) {
                let _ = fs::remove_file(&p);
            }
        }
        let taken = self.scratch.dir.join(format!("run-{n}"));
        fs::rename(&upper, &taken)
            .map_err(|e| io_failed("cannot take the changes of", &upper, e))?;
        self.remove_container(&name);
        Ok(taken)
    }

    /// Creates and starts the step's container, streams its output, waits for its exit.
    fn run_container(
        &self,
        n: usize,
        started: Instant,
        spec: &ContainerSpec,
    ) -> Result<(String, i64, String)> {
        let id = containers::create(self.root, spec)?;
        containers::start(self.root, &id)?;
        let dir = state::container_dir(self.root, &id);
        let log = dir.join(LOG_FILE);
        let mut offset = 0u64;
        let mut pending = String::new();
        let mut output = String::new();
        let mut delay = Duration::from_millis(1);
        loop {
            let run = state::read_run_state(self.root, &id);
            let done = !matches!(run.status.as_str(), "running" | "restarting" | "created");
            self.tail(&log, &mut offset, &mut pending, &mut output, n, started);
            if done {
                return Ok((id, run.exit_code.unwrap_or(0), output));
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(20));
        }
    }

    /// Reads the log's new complete lines into the progress output.
    fn tail(
        &self,
        log: &Path,
        offset: &mut u64,
        pending: &mut String,
        output: &mut String,
        n: usize,
        started: Instant,
    ) {
        let Ok(mut file) = fs::File::open(log) else {
            return;
        };
        if file.seek(SeekFrom::Start(*offset)).is_err() {
            return;
        }
        let mut bytes = Vec::new();
        if file.read_to_end(&mut bytes).is_err() {
            return;
        }
        *offset += bytes.len() as u64;
        pending.push_str(&String::from_utf8_lossy(&bytes));
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            let text = entry["log"].as_str().unwrap_or_default();
            output.push_str(text);
            for l in text.lines() {
                self.say(format!("#{n} {:.3} {l}", started.elapsed().as_secs_f64()));
            }
        }
    }

    fn remove_container(&self, name: &str) {
        let _ = containers::remove(self.root, name, true, true);
    }

    /// Writes the final image and names it with every tag.
    fn commit(&self, result: Built) -> Result<String> {
        let n = self.next_vertex();
        self.say(format!("#{n} exporting to image"));
        let start = Instant::now();
        let mut config = result.config;
        if !self.spec.labels.is_empty() {
            let labels = config.config.labels.get_or_insert_with(BTreeMap::new);
            labels.extend(self.spec.labels.clone());
        }
        config.created = Some(now());
        config.rootfs.kind = "layers".to_string();
        let bytes = serde_json::to_vec(&config)
            .map_err(|e| failed(format!("cannot encode the image configuration: {e}")))?;
        let record = state::with_store(self.root, |store| {
            let record = commit_image(store, &bytes, result.layers.clone())?;
            for tag in &self.spec.tags {
                let name = Reference::parse(tag)?.to_string();
                store.put_image(&name, &record)?;
            }
            Ok(record)
        })?;
        let id = record.config.digest.to_string();
        self.say(format!("#{n} writing image {id}"));
        for tag in &self.spec.tags {
            self.say(format!("#{n} naming to {tag}"));
        }
        self.say(format!("#{n} DONE {:.1}s", start.elapsed().as_secs_f64()));
        Ok(id)
    }
}

/// Whether an instruction is a filesystem step (a vertex of its own in the output).
fn changes_files(instruction: &Instruction) -> bool {
    matches!(
        instruction,
        Instruction::Run(_) | Instruction::Copy(_) | Instruction::Add(_) | Instruction::Workdir(_)
    )
}

fn env_pairs(config: &ImageConfig) -> Vec<(String, String)> {
    config
        .config
        .env
        .iter()
        .flatten()
        .map(|e| match e.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (e.clone(), String::new()),
        })
        .collect()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
