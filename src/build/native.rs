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
//! restores the state the step left before and prints `CACHED`. The key is computed
//! without mounting or unpacking anything (see `content_key`), and metadata steps are
//! looked up too, so an unchanged rebuild costs one lookup per step and commits the same
//! image. The builder's own overlays are `volatile` (no sync of the disk on unmount).
//!
//! `RUN --mount` ([`super::mounts`]): cache directories under the data root, read-only
//! binds of the context or of a stage (their content is part of the key), tmpfs, and
//! secrets from [`BuildSpec::secrets`]; what the runtime creates to mount on is not kept
//! in the layer. `ADD <url>` downloads through [`super::fetch`] once per build.
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
use std::time::Instant;

use crate::build::cache::{self, BuildCache, CachedState, StepKey};
use crate::build::config::{created_by, StageConfig};
use crate::build::copy::{self, CopySpec, SourceTree};
use crate::build::dockerfile::expand::{
    expand_stage, expand_stages, required_stages, stage_index, unused_build_args, BuildOptions,
    ExpandedStep, Platform as BuildPlatform,
};
use crate::build::dockerfile::{self, CopyArgs, Instruction};
use crate::build::fetch;
use crate::build::layer::{self, LAYER_MEDIA_TYPE};
use crate::build::mounts::{self, RunMount};
use crate::runtime::native::containers::{self, random_id};
use crate::runtime::native::digest::Digest;
use crate::runtime::native::import::commit_image;
use crate::runtime::native::monitor::LOG_FILE;
use crate::runtime::native::oci::{Descriptor, ImageConfig, Platform};
use crate::runtime::native::reference::Reference;
use crate::runtime::native::registry::{RegistryClient, RegistryConfig};
use crate::runtime::native::runtime::{credentials_for, pull_blocking};
use crate::runtime::native::snapshot::{self, RootfsDirs};
use crate::runtime::native::state;
use crate::runtime::native::store::ImageRecord;
use crate::runtime::native::unpack::resolve_in_root;
use crate::runtime::native::wait;
use crate::runtime::{
    BuildSecret, BuildSpec, ContainerSpec, ImageProgress, Mount, MountSource, NamedContext,
    ProgressSink, Result, RuntimeError,
};

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

impl State {
    /// The stage's `WORKDIR` (absolute; `/` when unset).
    fn workdir(&self) -> String {
        self.config
            .image
            .config
            .working_dir
            .clone()
            .unwrap_or_else(|| "/".to_string())
    }
}

/// Where a step is: what resolving `--from` and naming scratch paths need.
#[derive(Clone, Copy)]
struct Where<'a> {
    df: &'a dockerfile::Dockerfile,
    /// The stage's index.
    index: usize,
    /// The stages built so far.
    built: &'a HashMap<usize, Built>,
    /// The step's vertex number.
    n: usize,
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
    /// Threads removing finished step containers.
    cleanups: std::cell::RefCell<Vec<std::thread::JoinHandle<()>>>,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for handle in self.cleanups.take() {
            let _ = handle.join();
        }
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
    /// `ADD <url>` sources downloaded so far (once per build).
    downloads: Vec<copy::Fetched>,
    /// Named contexts resolved so far, by name.
    contexts: HashMap<String, Built>,
}

/// Builds `spec` in the native store under `root`; returns the image id (`sha256:...`).
pub fn build(root: &Path, spec: &BuildSpec, progress: ProgressSink<'_>) -> Result<String> {
    state::keep_open_at_least(state::KEEP_OPEN_BUILDING);
    let host = BuildPlatform::host();
    if let Some(list) = spec.platform.as_deref() {
        let others: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|p| *p != host.to_string() && *p != format!("{}/{}", host.os, host.arch))
            .collect();
        if !others.is_empty() {
            return Err(failed(format!(
                "the native builder builds for the host platform ({host}) only, not {}; \
                 drop it from `platforms`/`platform`/`--platform` or use the docker backend",
                others.join(", ")
            )));
        }
    }
    let dir = root.join("build").join(random_id()?);
    let context = dir.join("context");
    fs::create_dir_all(&context).map_err(|e| io_failed("cannot create", &context, e))?;
    let scratch = Scratch {
        dir,
        mounts: Default::default(),
        cleanups: Default::default(),
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
        downloads: Vec::new(),
        contexts: HashMap::new(),
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
        crate::build::context::remove_build_files(&self.context, name)
            .map_err(|e| io_failed("cannot prepare the build context in", &self.context, e))?;
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
            let mut image_env = |from: &dockerfile::expand::ExpandedFrom| {
                let found = match self.spec.named_contexts.get(&from.base) {
                    Some(_) => self.named_context(&from.base).map(|b| b.config),
                    None => self.base_image(&from.base).map(|(_, config)| config),
                };
                match found {
                    Ok(config) => env_pairs(&config),
                    Err(e) => {
                        base_errors.insert(from.base.clone(), e);
                        Vec::new()
                    }
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
        // A named context of a stage's name replaces the stage (BuildKit's rule): it is a
        // leaf then, whatever the stage's own instructions would have needed.
        let replaced: Vec<bool> = df
            .stages
            .iter()
            .map(|st| {
                st.name
                    .as_ref()
                    .is_some_and(|n| self.spec.named_contexts.contains_key(n))
            })
            .collect();
        let leaves: Vec<dockerfile::expand::ExpandedStage> = stages
            .iter()
            .zip(&replaced)
            .map(|(stage, &replaced)| {
                let mut stage = stage.clone();
                if replaced {
                    stage.from.base = "scratch".to_string();
                    stage.steps.clear();
                }
                stage
            })
            .collect();
        let mut built: HashMap<usize, Built> = HashMap::new();
        for index in required_stages(&df, &leaves, target) {
            if replaced[index] {
                let name = df.stages[index].name.clone().unwrap_or_default();
                let n = self.next_vertex();
                self.say(format!("#{n} [{name}] named context {name}"));
                let context = self.named_context(&name)?;
                self.say(format!("#{n} DONE 0.0s"));
                built.insert(index, context);
                continue;
            }
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
            // The Docker CLI's stored login for the base's registry, as `docker build` uses.
            let client = RegistryClient::new(RegistryConfig::from_env()?)
                .with_credentials(credentials_for(None, parsed.domain())?);
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
            None if self.spec.named_contexts.contains_key(base) => {
                let b = self.named_context(base)?;
                (b.config, b.layers, b.key, format!("{base} (named context)"))
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
            // Metadata steps are cached too (as Docker's classic builder does), so an
            // unchanged rebuild keeps every history time and gives the same image id.
            if !self.spec.no_cache {
                let hit = state::with_store(self.root, |store| {
                    Ok(BuildCache::new(store.database()).get(&state.key)?)
                })?;
                if let Some(hit) = hit.filter(|h| h.layers == state.layers) {
                    state.config.image = hit.config;
                    return Ok(());
                }
            }
            state.config.record(
                created_by(&step.instruction, &step.text, None),
                false,
                Some(now()),
            );
            self.remember(&state.key, state)?;
            return Ok(());
        }
        let n = self.next_vertex();
        self.say(format!("#{n} {header}"));
        let start = Instant::now();
        let at = Where {
            df,
            index,
            built,
            n,
        };
        // The key is computed without touching the image's file system: a cached step
        // costs a lookup, never a mount (see `content_key`).
        let mut run_argv = None;
        let mut run_script = None;
        let content = match &step.instruction {
            Instruction::Copy(args) | Instruction::Add(args) => {
                let is_add = matches!(step.instruction, Instruction::Add(_));
                Some(
                    self.content_key(&at, args, is_add, state)
                        .map_err(in_error)?,
                )
            }
            Instruction::Workdir(_) => {
                state
                    .config
                    .apply(&step.instruction)
                    .map_err(|e| in_error(e.to_string()))?;
                None
            }
            Instruction::Run(run) => {
                let (argv, script) = state.config.run_argv(run);
                run_argv = Some(argv);
                run_script = script;
                let mounts = self.parse_mounts(run, state).map_err(in_error)?;
                self.run_mounts_key(mounts, &mut |b, from| {
                    Ok(b.copy_source(df, index, from, built)?.2)
                })
                .map_err(in_error)?
            }
            _ => None,
        };
        let key = StepKey {
            parent: &state.key,
            instruction: &canonical,
            args: &step.args,
            platform: &self.platform,
            content: content.as_ref(),
        }
        .digest();
        if !self.spec.no_cache {
            let hit = state::with_store(self.root, |store| {
                Ok(BuildCache::new(store.database()).get(&key)?)
            })?;
            if let Some(hit) = hit {
                // The stage's own flags (whether it set CMD) stay: only the image changes.
                state.config.image = hit.config;
                state.layers = hit.layers;
                state.key = key;
                self.say(format!("#{n} CACHED"));
                return Ok(());
            }
        }
        let work = self.scratch.dir.join(format!("step-{n}"));
        let dirs = RootfsDirs::under(&work);
        let lowers = self.layer_dirs(&state.config.image, &state.layers)?;
        // A RUN's container mounts its own root: the builder mounts only to write files.
        let is_run = matches!(step.instruction, Instruction::Run(_));
        if is_run {
            fs::create_dir_all(&work).map_err(|e| io_failed("cannot create", &work, e))?;
        } else {
            self.mount(&lowers, &dirs)?;
        }
        let content = match &step.instruction {
            Instruction::Copy(args) | Instruction::Add(args) => {
                let is_add = matches!(step.instruction, Instruction::Add(_));
                let plan = self
                    .plan_copy(&at, args, is_add, state, Some(&dirs.merged))
                    .map_err(in_error)?;
                Some(plan)
            }
            _ => None,
        };
        match (&step.instruction, content) {
            (Instruction::Workdir(_), _) => {
                let dir = state.workdir();
                let target = dirs.merged.join(dir.trim_start_matches('/'));
                if !target.is_dir() {
                    fs::create_dir_all(&target)
                        .map_err(|e| in_error(format!("cannot create {dir}: {e}")))?;
                }
                self.unmount(&dirs)?;
            }
            (Instruction::Copy(_) | Instruction::Add(_), Some(plan)) => {
                plan.apply(&dirs.merged)
                    .map_err(|e| in_error(e.to_string()))?;
                self.unmount(&dirs)?;
            }
            (Instruction::Run(run), _) => {
                let argv = run_argv.clone().unwrap_or_default();
                let (mut mounts, env, _held) = self
                    .run_mounts(df, index, run, state, built, n)
                    .map_err(in_error)?;
                if let Some((name, content)) = &run_script {
                    // A heredoc with a `#!` line runs as the program it names.
                    let path = self.scratch.dir.join(format!("heredoc-{n}"));
                    fs::write(&path, content)
                        .and_then(|()| {
                            fs::set_permissions(
                                &path,
                                std::os::unix::fs::PermissionsExt::from_mode(0o755),
                            )
                        })
                        .map_err(|e| io_failed("cannot write the heredoc to", &path, e))?;
                    mounts.push(read_only_bind(&path, format!("/dev/pipes/{name}")));
                }
                let targets: Vec<String> = mounts.iter().map(|m| m.target.clone()).collect();
                let upper = self
                    .run_step(n, start, state, run, &argv, step, mounts, env)
                    .map_err(|e| match e {
                        RuntimeError::BuildFailed { message } => failed(format!(
                            "{header} (Dockerfile line {}): {message}",
                            step.line
                        )),
                        other => other,
                    })?;
                // What the runtime made to mount on is not the step's work either.
                remove_mount_stubs(&upper, &lowers, &targets);
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
        self.remember(&key, state)?;
        self.say(format!("#{n} DONE {:.1}s", start.elapsed().as_secs_f64()));
        Ok(())
    }

    /// Records the state a step left under its key.
    fn remember(&self, key: &Digest, state: &State) -> Result<()> {
        let cached = CachedState {
            config: state.config.image.clone(),
            layers: state.layers.clone(),
        };
        state::with_store(self.root, |store| {
            Ok(BuildCache::new(store.database()).put(key, &cached)?)
        })
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
        snapshot::mount_rootfs_volatile(lowers, dirs)?;
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

    /// The named context `name` as an image: a directory becomes a single layer of its
    /// packed files (owned by root, as the main context's), so `FROM`, `COPY --from` and
    /// `RUN --mount=from=` read it like a stage; its identity is its content.
    fn named_context(&mut self, name: &str) -> Result<Built> {
        if let Some(found) = self.contexts.get(name) {
            return Ok(found.clone());
        }
        let context = self
            .spec
            .named_contexts
            .get(name)
            .ok_or_else(|| failed(format!("no named context {name}")))?;
        let built = match context {
            NamedContext::Image(reference) => {
                let reference = reference.clone();
                let (record, config) = self.base_image(&reference).map_err(|e| {
                    failed(format!("named context {name} (image {reference}): {e}"))
                })?;
                Built {
                    config,
                    key: record.config.digest.clone(),
                    layers: record.layers,
                }
            }
            NamedContext::Dir { path, tar } => {
                let digest = Digest::of(tar);
                state::with_store(self.root, |store| {
                    if !store.has_blob(&digest) {
                        store.write_blob(&digest, tar)?;
                    }
                    Ok(())
                })
                .map_err(|e: RuntimeError| {
                    failed(format!("named context {name} ({}): {e}", path.display()))
                })?;
                let host = Platform::host();
                let config = ImageConfig {
                    architecture: host.architecture,
                    os: host.os,
                    rootfs: crate::runtime::native::oci::RootFs {
                        kind: "layers".to_string(),
                        diff_ids: vec![digest.clone()],
                    },
                    ..Default::default()
                };
                Built {
                    config,
                    layers: vec![Descriptor {
                        media_type: LAYER_MEDIA_TYPE.to_string(),
                        digest: digest.clone(),
                        size: tar.len() as u64,
                        platform: None,
                    }],
                    key: Digest::of(format!("context {digest}").as_bytes()),
                }
            }
        };
        self.contexts.insert(name.to_string(), built.clone());
        Ok(built)
    }

    /// The image (configuration and layers) a `--from` names, and its identity for the
    /// cache: a stage's last key, or an image's configuration digest.
    fn copy_source(
        &mut self,
        df: &dockerfile::Dockerfile,
        index: usize,
        from: &str,
        built: &HashMap<usize, Built>,
    ) -> std::result::Result<(ImageConfig, Vec<Descriptor>, Digest), String> {
        match stage_index(df, from, index) {
            Some(i) => {
                let b = built
                    .get(&i)
                    .ok_or_else(|| format!("stage {from} was not built"))?;
                Ok((b.config.clone(), b.layers.clone(), b.key.clone()))
            }
            None if self.spec.named_contexts.contains_key(from) => {
                let b = self.named_context(from).map_err(|e| e.to_string())?;
                Ok((b.config, b.layers, b.key))
            }
            None => {
                let (record, config) = self.base_image(from).map_err(|e| e.to_string())?;
                Ok((config, record.layers, record.config.digest))
            }
        }
    }

    /// The content part of a `COPY`/`ADD` key, without mounting anything: for `--from`,
    /// the source's identity (its files are a function of it); otherwise the digest of
    /// the selected context files (and downloads) laid out as if the destination were not
    /// a directory in the image and owned as in the context: where they land and whom
    /// `--chown` names depend only on the instruction and the parent image, which the
    /// key covers already.
    fn content_key(
        &mut self,
        at: &Where<'_>,
        args: &CopyArgs,
        is_add: bool,
        state: &State,
    ) -> std::result::Result<Digest, String> {
        let Where {
            df,
            index,
            built,
            n,
        } = *at;
        if is_add {
            self.fetch_urls(args, n)?;
        }
        if let Some(from) = &args.from {
            let (_, _, identity) = self.copy_source(df, index, from, built)?;
            return Ok(Digest::of(format!("from {identity}").as_bytes()));
        }
        let plan = self.plan_copy(at, args, is_add, state, None)?;
        plan.content_digest().map_err(|e| e.to_string())
    }

    /// Downloads the URL sources of an `ADD` not downloaded yet in this build.
    fn fetch_urls(&mut self, args: &CopyArgs, n: usize) -> std::result::Result<(), String> {
        let urls: Vec<&String> = args
            .sources
            .iter()
            .filter_map(|s| match s {
                dockerfile::CopySource::Path(p) if copy::is_url(p) => Some(p),
                _ => None,
            })
            .collect();
        if urls.len() > 1 && args.checksum.is_some() {
            return Err("--checksum needs a single URL source".to_string());
        }
        if args.checksum.is_some() && urls.is_empty() {
            return Err("--checksum is only supported for URL sources".to_string());
        }
        for (i, url) in urls.into_iter().enumerate() {
            if self.downloads.iter().any(|f| &f.url == url) {
                continue;
            }
            let dir = self.scratch.dir.join("downloads");
            fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let file = dir.join(format!("{n}-{i}"));
            let got = fetch::download(url, &file, args.checksum.as_deref())?;
            self.downloads.push(copy::Fetched {
                url: url.clone(),
                file,
                mtime: got.mtime,
            });
        }
        Ok(())
    }

    /// Plans a `COPY`/`ADD` against the image mounted at `merged`, or (`None`) in the
    /// image-independent form [`Self::content_key`] hashes (never with `--from`).
    fn plan_copy(
        &mut self,
        at: &Where<'_>,
        args: &CopyArgs,
        is_add: bool,
        state: &State,
        merged: Option<&Path>,
    ) -> std::result::Result<copy::CopyPlan, String> {
        let Where {
            df,
            index,
            built,
            n,
        } = *at;
        // `--from`: an earlier stage or an image, mounted (read-only in effect: its upper
        // directory is thrown away).
        let from_root = match (&args.from, merged) {
            (Some(from), Some(_)) => {
                let (config, layers, _) = self.copy_source(df, index, from, built)?;
                let dirs = RootfsDirs::under(&self.scratch.dir.join(format!("from-{n}")));
                let lowers = self
                    .layer_dirs(&config, &layers)
                    .map_err(|e| e.to_string())?;
                self.mount(&lowers, &dirs).map_err(|e| e.to_string())?;
                Some(dirs)
            }
            _ => None,
        };
        let tree_root = from_root
            .as_ref()
            .map_or(self.context.clone(), |d| d.merged.clone());
        let owner = match (&args.chown, merged) {
            (Some(chown), Some(merged)) => {
                Some(copy::resolve_owner(chown, merged).map_err(|e| e.to_string())?)
            }
            _ => None,
        };
        let mode = match &args.chmod {
            Some(m) => Some(copy::parse_chmod(m).map_err(|e| e.to_string())?),
            None => None,
        };
        let workdir = state.workdir();
        let spec = CopySpec {
            sources: &args.sources,
            dest: &args.dest,
            workdir: &workdir,
            owner,
            mode,
            extract_archives: is_add,
            fetched: &self.downloads,
        };
        let tree = SourceTree {
            root: &tree_root,
            // The context tar is already filtered by `.dockerignore`.
            ignore: None,
            keep_owner: from_root.is_some(),
        };
        let is_dir = |p: &str| merged.is_some_and(|m| m.join(p.trim_start_matches('/')).is_dir());
        // A `--from` mount stays until the build ends (the scratch guard unmounts it): the
        // plan reads its sources when applied.
        copy::plan(tree, &spec, &is_dir).map_err(|e| e.to_string())
    }

    /// The parsed `--mount`s of a `RUN`.
    fn parse_mounts(
        &self,
        run: &dockerfile::Run,
        state: &State,
    ) -> std::result::Result<Vec<RunMount>, String> {
        let workdir = state.workdir();
        let mut ssh = 0;
        run.mounts
            .iter()
            .map(|m| {
                let mount = mounts::parse(m, &workdir, ssh)?;
                if matches!(mount, RunMount::Ssh { .. }) {
                    ssh += 1;
                }
                Ok(mount)
            })
            .collect()
    }

    /// The content part of a `RUN`'s key: what its bind mounts show (the context files
    /// selected, or the identity of the stage or image); `None` without bind mounts.
    fn run_mounts_key(
        &mut self,
        mounts: Vec<RunMount>,
        from_identity: &mut dyn FnMut(&mut Self, &str) -> std::result::Result<Digest, String>,
    ) -> std::result::Result<Option<Digest>, String> {
        let mut parts = Vec::new();
        for mount in mounts {
            let RunMount::Bind { source, from, .. } = mount else {
                continue;
            };
            let part = match from {
                Some(from) => from_identity(self, &from)?.to_string(),
                None => {
                    let sources = [dockerfile::CopySource::Path(source)];
                    let spec = CopySpec {
                        sources: &sources,
                        dest: "/",
                        workdir: "/",
                        owner: None,
                        mode: None,
                        extract_archives: false,
                        fetched: &[],
                    };
                    let tree = SourceTree {
                        root: &self.context,
                        ignore: None,
                        keep_owner: false,
                    };
                    copy::plan(tree, &spec, &|_| false)
                        .and_then(|p| p.content_digest())
                        .map_err(|e| e.to_string())?
                        .to_string()
                }
            };
            parts.push(part);
        }
        Ok((!parts.is_empty()).then(|| Digest::of(parts.join("\n").as_bytes())))
    }

    /// The runtime mounts of a `RUN`'s `--mount`s, the environment its `env=` secrets and
    /// ssh mounts add, and what must live until the step ends (the locks `sharing=locked`
    /// cache mounts hold, ssh agent proxies).
    fn run_mounts(
        &mut self,
        df: &dockerfile::Dockerfile,
        index: usize,
        run: &dockerfile::Run,
        state: &State,
        built: &HashMap<usize, Built>,
        n: usize,
    ) -> std::result::Result<(Vec<Mount>, Vec<String>, Held), String> {
        let mut out = Vec::new();
        let mut env = Vec::new();
        let mut held = Held::default();
        let locks = &mut held.locks;
        let bind = |path: PathBuf, target: String| read_only_bind(&path, target);
        for (i, mount) in self.parse_mounts(run, state)?.into_iter().enumerate() {
            match mount {
                RunMount::Cache {
                    target,
                    id,
                    sharing,
                    read_only,
                    uid,
                    gid,
                    mode,
                } => {
                    let dir = cache::mount_dir(self.root, &id);
                    let (path, lock) = cache::acquire_mount(&dir, sharing, uid, gid, mode, || {
                        self.scratch.dir.join(format!("cache-{n}-{i}"))
                    })
                    .map_err(|e| format!("cache mount {id}: {e}"))?;
                    locks.extend(lock);
                    out.push(Mount {
                        read_only,
                        ..bind(path, target)
                    });
                }
                RunMount::Bind {
                    target,
                    source,
                    from,
                    writable,
                } => {
                    let root = match from {
                        // A writable view of the context writes into an overlay of it.
                        None if writable => {
                            let dirs =
                                RootfsDirs::under(&self.scratch.dir.join(format!("bind-{n}-{i}")));
                            self.mount(std::slice::from_ref(&self.context), &dirs)
                                .map_err(|e| e.to_string())?;
                            dirs.merged
                        }
                        None => self.context.clone(),
                        Some(from) => {
                            let (config, layers, _) = self.copy_source(df, index, &from, built)?;
                            let dirs =
                                RootfsDirs::under(&self.scratch.dir.join(format!("bind-{n}-{i}")));
                            let lowers = self
                                .layer_dirs(&config, &layers)
                                .map_err(|e| e.to_string())?;
                            self.mount(&lowers, &dirs).map_err(|e| e.to_string())?;
                            dirs.merged
                        }
                    };
                    let path = resolve_in_root(&root, Path::new(source.trim_start_matches('/')))
                        .map_err(|e| format!("bind mount source {source}: {e}"))?;
                    if fs::symlink_metadata(&path).is_err() {
                        return Err(format!(
                            "bind mount source {source} does not exist in its source"
                        ));
                    }
                    out.push(Mount {
                        // Every source above is the build's own overlay: writes go nowhere.
                        read_only: !writable,
                        ..bind(path, target)
                    });
                }
                RunMount::Tmpfs { target, size } => out.push(Mount {
                    target,
                    source: MountSource::Tmpfs {
                        size_bytes: size,
                        mode: None,
                    },
                    read_only: false,
                }),
                RunMount::Secret {
                    id,
                    target,
                    file,
                    env: env_name,
                    required,
                    mode,
                    uid,
                    gid,
                } => {
                    let Some(secret) = self.spec.secrets.get(&id) else {
                        if required {
                            return Err(format!(
                                "secret {id} is required but was not given (compose \
                                 `build.secrets` with a top-level `secrets: {id}: {{file: ...}}` \
                                 or `{{environment: VAR}}`)"
                            ));
                        }
                        continue;
                    };
                    let value = match secret {
                        BuildSecret::Value(v) => v.clone().into_bytes(),
                        BuildSecret::File(src) => fs::read(src).map_err(|e| {
                            format!("secret {id}: cannot read {}: {e}", src.display())
                        })?,
                    };
                    if let Some(name) = env_name {
                        let text = String::from_utf8(value.clone()).map_err(|_| {
                            format!("secret {id} is not UTF-8 text: it cannot be env={name}")
                        })?;
                        env.push(format!("{name}={text}"));
                    }
                    if !file {
                        continue;
                    }
                    let copy_path = self.scratch.dir.join(format!("secret-{n}-{i}"));
                    fs::write(&copy_path, &value).map_err(|e| {
                        format!("secret {id}: cannot write {}: {e}", copy_path.display())
                    })?;
                    std::os::unix::fs::lchown(&copy_path, Some(uid), Some(gid))
                        .and_then(|()| {
                            fs::set_permissions(
                                &copy_path,
                                std::os::unix::fs::PermissionsExt::from_mode(mode),
                            )
                        })
                        .map_err(|e| format!("secret {id}: {e}"))?;
                    out.push(bind(copy_path, target));
                }
                RunMount::Ssh {
                    id,
                    target,
                    required,
                    mode,
                    uid,
                    gid,
                } => {
                    let Some(agent) = self.spec.ssh.get(&id) else {
                        if required {
                            return Err(format!(
                                "ssh agent {id} is required but was not given (compose \
                                 `build.ssh: [{id}]`, with an ssh-agent running)"
                            ));
                        }
                        continue;
                    };
                    let path = self.scratch.dir.join(format!("ssh-{n}-{i}.sock"));
                    let proxy = SshProxy::start(agent, path.clone(), uid, gid, mode)
                        .map_err(|e| format!("ssh agent {id} ({}): {e}", agent.display()))?;
                    held.proxies.push(proxy);
                    if !env.iter().any(|e| e.starts_with("SSH_AUTH_SOCK=")) {
                        env.push(format!("SSH_AUTH_SOCK={target}"));
                    }
                    out.push(Mount {
                        read_only: false,
                        ..bind(path, target)
                    });
                }
            }
        }
        Ok((out, env, held))
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
        mounts: Vec<crate::runtime::Mount>,
        mount_env: Vec<String>,
    ) -> Result<PathBuf> {
        if state.layers.is_empty() {
            return Err(failed(
                "cannot RUN in an empty (scratch) filesystem: there is no shell to run",
            ));
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
            store.put_transient_image(&Reference::parse(&tag)?.to_string(), &record)?;
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
        // `env=` secrets and SSH_AUTH_SOCK win over the image's and the args' values.
        for e in mount_env {
            let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k).to_string();
            env.retain(|old| old.split_once('=').map_or(old.as_str(), |(k, _)| k) != key);
            env.push(e);
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
            mounts,
            ..Default::default()
        };
        let outcome = self.run_container(n, started, &spec);
        let _ = state::with_store(self.root, |store| {
            let _ = store.remove_transient_image(&Reference::parse(&tag)?.to_string());
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
        // The monitor's teardown takes tens of milliseconds the next step need not wait
        // for: the container goes on a thread of its own, joined before the build ends.
        let root = self.root.to_path_buf();
        match std::thread::Builder::new()
            .name("hoist-build-rm".to_string())
            .spawn(move || {
                let _ = containers::remove(&root, &name, true, true);
            }) {
            Ok(handle) => self.scratch.cleanups.borrow_mut().push(handle),
            Err(_) => self.remove_container(&spec.name),
        }
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
        loop {
            // Woken by the exit of the step's process, and at least every RECHECK to show
            // its output so far.
            let (run, done) =
                wait::until_status(self.root, &id, Instant::now() + wait::RECHECK, |run| {
                    !matches!(run.status.as_str(), "running" | "restarting" | "created")
                });
            self.tail(&log, &mut offset, &mut pending, &mut output, n, started);
            if done {
                return Ok((id, run.exit_code.unwrap_or(0), output));
            }
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
        // Created when its last step was: an unchanged rebuild is the same image (id).
        let last_step = config.history.last().and_then(|h| h.created.clone());
        config.created = Some(last_step.unwrap_or_else(now));
        config.rootfs.kind = "layers".to_string();
        let bytes = serde_json::to_vec(&config)
            .map_err(|e| failed(format!("cannot encode the image configuration: {e}")))?;
        let record = state::with_store(self.root, |store| {
            let record = commit_image(store, &bytes, result.layers.clone())?;
            for tag in &self.spec.tags {
                let name = Reference::parse(tag)?.to_string();
                // A name already on this image needs no write (and no fsync).
                if store.image(&name)?.as_ref() != Some(&record) {
                    store.put_image(&name, &record)?;
                }
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
/// A read-only bind mount of the host path `path` at `target`, as the build's steps get
/// their mounts.
fn read_only_bind(path: &Path, target: String) -> Mount {
    Mount {
        target,
        source: MountSource::Bind {
            path: path.to_string_lossy().into_owned(),
            create_host_path: false,
            propagation: None,
            selinux: None,
        },
        read_only: true,
    }
}

/// What a `RUN`'s mounts need kept until the step ends.
#[derive(Default)]
struct Held {
    /// Locks of `sharing=locked` cache mounts.
    locks: Vec<fs::File>,
    proxies: Vec<SshProxy>,
}

/// A socket in the build's scratch directory forwarding each connection to an SSH agent,
/// owned and moded as the mount asks (`uid`, `gid`, `mode`, as BuildKit's agent proxy): the
/// step never gets the host's socket itself. Stops when dropped.
struct SshProxy {
    path: PathBuf,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SshProxy {
    fn start(agent: &Path, path: PathBuf, uid: u32, gid: u32, mode: u32) -> std::io::Result<Self> {
        use std::os::unix::net::{UnixListener, UnixStream};
        use std::sync::atomic::Ordering;
        // Fail now, with the agent's path, rather than inside the step.
        UnixStream::connect(agent)?;
        let listener = UnixListener::bind(&path)?;
        std::os::unix::fs::lchown(&path, Some(uid), Some(gid))?;
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let agent = agent.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("hoist-build-ssh".to_string())
            .spawn(move || {
                for client in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let agent = agent.clone();
                    std::thread::spawn(move || {
                        let Ok(upstream) = UnixStream::connect(&agent) else {
                            return;
                        };
                        let (Ok(mut to_agent), Ok(mut from_client)) =
                            (upstream.try_clone(), client.try_clone())
                        else {
                            return;
                        };
                        let forward = std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from_client, &mut to_agent);
                            let _ = to_agent.shutdown(std::net::Shutdown::Write);
                        });
                        let (mut from_agent, mut to_client) = (upstream, client);
                        let _ = std::io::copy(&mut from_agent, &mut to_client);
                        let _ = to_client.shutdown(std::net::Shutdown::Write);
                        let _ = forward.join();
                    });
                }
            })?;
        Ok(SshProxy {
            path,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for SshProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = std::os::unix::net::UnixStream::connect(&self.path);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = fs::remove_file(&self.path);
    }
}

fn changes_files(instruction: &Instruction) -> bool {
    matches!(
        instruction,
        Instruction::Run(_) | Instruction::Copy(_) | Instruction::Add(_) | Instruction::Workdir(_)
    )
}

/// Removes what a `RUN`'s container made to mount on from its changes: each mount
/// target, and the parents created for it, when empty and absent from the lower layers.
fn remove_mount_stubs(upper: &Path, lowers: &[PathBuf], targets: &[String]) {
    for target in targets {
        let mut rel = PathBuf::from(target.trim_start_matches('/'));
        while !rel.as_os_str().is_empty() {
            let in_lower = lowers
                .iter()
                .any(|l| fs::symlink_metadata(l.join(&rel)).is_ok());
            let path = upper.join(&rel);
            let removable = match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => fs::read_dir(&path).is_ok_and(|mut d| d.next().is_none()),
                Ok(m) => m.is_file() && m.len() == 0,
                Err(_) => false,
            };
            if in_lower || !removable {
                break;
            }
            let _ = fs::remove_dir(&path).or_else(|_| fs::remove_file(&path));
            if !rel.pop() {
                break;
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::net::{UnixListener, UnixStream};

    use super::SshProxy;

    #[test]
    fn the_ssh_proxy_forwards_each_connection_to_the_agent_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let agent = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&agent).unwrap();
        let server = std::thread::spawn(move || {
            // The proxy's probe at start, then two clients: each gets its bytes echoed.
            for stream in listener.incoming().take(3) {
                let mut stream = stream.unwrap();
                let mut buf = Vec::new();
                stream.read_to_end(&mut buf).unwrap();
                stream.write_all(&buf).unwrap();
            }
        });
        let path = dir.path().join("proxy.sock");
        let proxy = SshProxy::start(&agent, path.clone(), 0, 0, 0o640).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        assert_eq!(meta.uid(), 0);
        for message in [&b"first"[..], &b"second"[..]] {
            let mut client = UnixStream::connect(&path).unwrap();
            client.write_all(message).unwrap();
            client.shutdown(std::net::Shutdown::Write).unwrap();
            let mut back = Vec::new();
            client.read_to_end(&mut back).unwrap();
            assert_eq!(back, message);
        }
        drop(proxy);
        assert!(!path.exists());
        server.join().unwrap();
    }
}
