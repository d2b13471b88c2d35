//! The docker backend: [`Runtime`] on any Docker Engine API endpoint (Docker, Podman's
//! socket) through bollard.
//!
//! Not for: deciding which backend to use (the CLI does, with [`DockerRuntime::connect`]'s
//! `EngineUnreachable` as its signal), nor compose semantics.
//!
//! Engine quirks handled here, so callers never see them:
//! - the API version is negotiated, so older engines (Docker 20.10 speaks API 1.41) work;
//! - before API 1.44 a container can be created on one network only: the others are
//!   connected right after create, before anything starts it;
//! - bollard reports a non-zero exit from `wait` as an error: it is turned back into the
//!   exit code;
//! - bollard's request timeout (2 minutes by default) would cut a long stop grace period or
//!   wait short: those calls use a client whose timeout covers them.

mod convert;
mod error;

use std::time::Duration;

use async_trait::async_trait;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::query_parameters as qp;
use bollard::Docker;
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};

use self::error::Context;
use crate::runtime::{
    AttachOptions, AttachedIo, BoxStream, BuildSpec, ContainerInfo, ContainerListOptions,
    ContainerSpec, ContainerSummary, EventFilter, ExecSession, ExecSpec, ImageInfo, ImageProgress,
    ImageSummary, LabelFilter, LogOptions, NamedContext, NetworkAttachment, NetworkInfo,
    NetworkSpec, ObjectKind, OutputChunk, ProcessList, ProgressSink, PruneReport, RegistryAuth,
    Result, Runtime, RuntimeError, RuntimeEvent, RuntimeInfo, SystemInfo, TtySize, VolumeInfo,
    VolumeSpec,
};

/// Where Docker listens when `DOCKER_HOST` is unset.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// How long connecting (version negotiation) may take before the engine counts as absent.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Request timeout for calls whose reply can legitimately take long (stop, wait, restart):
/// the wait has no bound of its own, so this is effectively "forever".
const LONG_REQUEST_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// Extra time granted to a stop beyond its grace period (the kill and reaping).
const STOP_SLACK: Duration = Duration::from_secs(60);

/// A Docker Engine API endpoint.
#[derive(Debug, Clone)]
pub struct DockerRuntime {
    /// Default 2-minute request timeout.
    client: Docker,
    /// The same connection with [`LONG_REQUEST_TIMEOUT`].
    long_client: Docker,
    endpoint: String,
}

impl DockerRuntime {
    /// Runs one classic-builder build of `context` and tags the result.
    async fn build_context(
        &self,
        spec: &BuildSpec,
        options: qp::BuildImageOptions,
        context: Bytes,
        progress: ProgressSink<'_>,
    ) -> Result<String> {
        let primary = spec.tags.first().cloned().unwrap_or_default();
        let body = bollard::body_full(context);
        let mut image_id = None;
        {
            let mut stream = self.long_client.build_image(options, None, Some(body));
            while let Some(item) = stream.next().await {
                let info = match item {
                    Ok(info) => info,
                    Err(e) if error::is_connection_failure(&e) => {
                        return Err(error::unreachable(&self.endpoint))
                    }
                    Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                    | Err(bollard::errors::Error::DockerStreamError { error: message }) => {
                        return Err(RuntimeError::BuildFailed { message })
                    }
                    Err(e) => {
                        return Err(RuntimeError::BuildFailed {
                            message: e.to_string(),
                        })
                    }
                };
                if let Some(detail) = info.error_detail {
                    return Err(RuntimeError::BuildFailed {
                        message: detail.message.unwrap_or_default(),
                    });
                }
                if let Some(text) = info.stream {
                    // The classic builder announces the result as text too.
                    if let Some(id) = text.trim().strip_prefix("Successfully built ") {
                        image_id.get_or_insert_with(|| id.to_string());
                    }
                    progress(ImageProgress::BuildOutput(text));
                }
                if let Some(aux) = info.aux.and_then(|a| a.id) {
                    image_id = Some(aux);
                }
                if let Some(event) =
                    convert::layer_progress(info.id, info.status, info.progress_detail)
                {
                    progress(event);
                }
            }
        }
        for extra in spec.tags.iter().skip(1) {
            self.tag_image(&primary, extra).await?;
        }
        if spec.extra_hosts.len() > 1 {
            progress(ImageProgress::BuildOutput(format!(
                "warning: the docker backend passes only one extra host to builds; ignored: {}\n",
                spec.extra_hosts.join(", ")
            )));
        }
        match image_id {
            // A short id from "Successfully built" is resolved to the full one.
            Some(id) => Ok(self.inspect_image(&id).await.map(|i| i.id).unwrap_or(id)),
            None if !primary.is_empty() => Ok(self.inspect_image(&primary).await?.id),
            None => Err(RuntimeError::BuildFailed {
                message: "the engine finished the build without naming the image; give the \
                          build a tag"
                    .to_string(),
            }),
        }
    }

    /// Named contexts for the classic builder, which has none: a directory is imported as
    /// a temporary image (its files as one layer, owned by root as the main context's), and
    /// the Dockerfile is rewritten to name the images ([`crate::build::lower`]) and added
    /// to the context as a hidden file. Returns the context and the Dockerfile's name in it;
    /// the temporary images go into `temporary`.
    async fn lower_named_contexts(
        &self,
        spec: &BuildSpec,
        temporary: &mut Vec<String>,
    ) -> Result<(Bytes, String)> {
        let failed = |message: String| RuntimeError::BuildFailed { message };
        let mut images = std::collections::BTreeMap::new();
        for (name, context) in &spec.named_contexts {
            let image = match context {
                NamedContext::Image(reference) => reference.clone(),
                NamedContext::Dir { path, tar } => {
                    static COUNTER: std::sync::atomic::AtomicU64 =
                        std::sync::atomic::AtomicU64::new(0);
                    let tag = format!(
                        "{}-{}-{}",
                        short_digest(tar),
                        std::process::id(),
                        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    );
                    let reference = format!("{TEMPORARY_CONTEXT_REPO}:{tag}");
                    let options = qp::CreateImageOptions {
                        from_src: Some("-".to_string()),
                        repo: Some(TEMPORARY_CONTEXT_REPO.to_string()),
                        tag: Some(tag),
                        ..Default::default()
                    };
                    let mut stream = self.long_client.create_image(
                        Some(options),
                        Some(bollard::body_full(tar.clone())),
                        None,
                    );
                    temporary.push(reference.clone());
                    while let Some(item) = stream.next().await {
                        let info = item.map_err(|e| {
                            failed(format!(
                                "cannot import the named context {name} ({}): {e}",
                                path.display()
                            ))
                        })?;
                        if let Some(detail) = info.error_detail {
                            return Err(failed(format!(
                                "cannot import the named context {name} ({}): {}",
                                path.display(),
                                detail.message.unwrap_or_default()
                            )));
                        }
                    }
                    reference
                }
            };
            images.insert(name.clone(), image);
        }
        let dockerfile = spec
            .dockerfile
            .clone()
            .unwrap_or_else(|| "Dockerfile".to_string());
        let text = read_tar_file(&spec.context_tar, &dockerfile).map_err(|e| {
            failed(format!(
                "cannot read {dockerfile} from the build context: {e}"
            ))
        })?;
        let rewritten = crate::build::lower::rewrite(&text, &images).map_err(failed)?;
        let name = format!(".hoist-dockerfile.{}", short_digest(rewritten.as_bytes()));
        let tar = crate::build::context::add_hidden_file(
            &spec.context_tar,
            &name,
            rewritten.as_bytes(),
            0o644,
            0,
        )
        .map_err(|e| failed(format!("cannot repack the build context: {e}")))?;
        Ok((Bytes::from(tar), name))
    }

    /// Untags the images [`Self::lower_named_contexts`] made (a built image keeps the layers
    /// it was built `FROM`).
    async fn remove_temporary(&self, references: &[String]) {
        for reference in references {
            let _ = self.remove_image(reference, false).await;
        }
    }

    /// Connects to `DOCKER_HOST`, or the default socket when it is unset.
    pub async fn connect() -> Result<Self> {
        let host = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_string());
        Self::connect_to(&host).await
    }

    /// Connects to `host` (`unix:///path`, `tcp://host:port`, `http://...`) and negotiates
    /// the API version. Fails with [`RuntimeError::EngineUnreachable`] when nothing answers.
    pub async fn connect_to(host: &str) -> Result<Self> {
        let ctx = Context {
            endpoint: host,
            operation: "connect to",
            kind: ObjectKind::Container,
            name: host,
        };
        let client = match Docker::connect_with_host(host) {
            Ok(c) => c,
            Err(bollard::errors::Error::UnsupportedURISchemeError { uri }) => {
                return Err(RuntimeError::Other {
                    operation: "connect to the Docker engine".to_string(),
                    message: format!(
                        "unsupported DOCKER_HOST \"{uri}\"; use unix://, tcp:// or http://"
                    ),
                })
            }
            Err(e) => return Err(error::convert(e, &ctx)),
        };
        let client = match tokio::time::timeout(CONNECT_TIMEOUT, client.negotiate_version()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) if error::is_connection_failure(&e) => return Err(error::unreachable(host)),
            Ok(Err(e)) => {
                return Err(RuntimeError::EngineUnreachable {
                    endpoint: host.to_string(),
                    hint: format!(
                        "it answered but not like a Docker engine ({e}); {}",
                        error::UNREACHABLE_HINT
                    ),
                })
            }
            Err(_elapsed) => return Err(error::unreachable(host)),
        };
        let long_client = client.clone().with_timeout(LONG_REQUEST_TIMEOUT);
        Ok(DockerRuntime {
            client,
            long_client,
            endpoint: host.to_string(),
        })
    }

    /// The endpoint this runtime talks to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The API version agreed with the engine, e.g. `1.41`.
    pub fn api_version(&self) -> String {
        self.client.client_version().to_string()
    }

    fn ctx<'a>(&'a self, operation: &'static str, kind: ObjectKind, name: &'a str) -> Context<'a> {
        Context {
            endpoint: &self.endpoint,
            operation,
            kind,
            name,
        }
    }

    /// An error converter for `operation` on the object `name` of `kind`.
    fn fail<'a>(
        &'a self,
        operation: &'static str,
        kind: ObjectKind,
        name: &'a str,
    ) -> impl FnOnce(bollard::errors::Error) -> RuntimeError + 'a {
        move |e| error::convert(e, &self.ctx(operation, kind, name))
    }

    /// A stream error converter that owns its context (streams outlive the call).
    fn stream_fail(
        &self,
        operation: &'static str,
        kind: ObjectKind,
        name: &str,
    ) -> impl Fn(bollard::errors::Error) -> RuntimeError + Send + Sync + 'static {
        let endpoint = self.endpoint.clone();
        let name = name.to_string();
        move |e| {
            error::convert(
                e,
                &Context {
                    endpoint: &endpoint,
                    operation,
                    kind,
                    name: &name,
                },
            )
        }
    }

    fn output_stream<S>(
        &self,
        stream: S,
        timestamps: bool,
        operation: &'static str,
        name: &str,
    ) -> BoxStream<'static, Result<OutputChunk>>
    where
        S: futures_util::Stream<Item = std::result::Result<LogOutput, bollard::errors::Error>>
            + Send
            + 'static,
    {
        let fail = self.stream_fail(operation, ObjectKind::Container, name);
        stream
            .map(move |item| {
                item.map(|out| convert::output_chunk(out, timestamps))
                    .map_err(&fail)
            })
            .boxed()
    }
}

#[async_trait]
impl Runtime for DockerRuntime {
    async fn ping(&self) -> Result<()> {
        self.client.ping().await.map(|_| ()).map_err(self.fail(
            "ping",
            ObjectKind::Container,
            &self.endpoint,
        ))
    }

    async fn info(&self) -> Result<RuntimeInfo> {
        let v = self.client.version().await.map_err(self.fail(
            "query",
            ObjectKind::Container,
            &self.endpoint,
        ))?;
        Ok(RuntimeInfo {
            backend: "docker".to_string(),
            version: v.version.unwrap_or_default(),
            api_version: self.api_version(),
            endpoint: self.endpoint.clone(),
            os: v.os.unwrap_or_default(),
            arch: v.arch.unwrap_or_default(),
        })
    }

    // -- networks ------------------------------------------------------------------------

    async fn create_network(&self, spec: &NetworkSpec) -> Result<String> {
        let created = self
            .client
            .create_network(convert::network_create_request(spec))
            .await
            .map_err(self.fail("create", ObjectKind::Network, &spec.name))?;
        Ok(created.id)
    }

    async fn inspect_network(&self, name: &str) -> Result<NetworkInfo> {
        let n = self
            .client
            .inspect_network(name, None::<qp::InspectNetworkOptions>)
            .await
            .map_err(self.fail("inspect", ObjectKind::Network, name))?;
        let containers = n
            .containers
            .clone()
            .unwrap_or_default()
            .into_keys()
            .collect();
        let network = bollard::models::Network {
            name: n.name,
            id: n.id,
            driver: n.driver,
            enable_ipv6: n.enable_ipv6,
            ipam: n.ipam,
            internal: n.internal,
            labels: n.labels,
            ..Default::default()
        };
        Ok(convert::network_info(network, containers))
    }

    async fn list_networks(&self, labels: &[LabelFilter]) -> Result<Vec<NetworkInfo>> {
        let options = qp::ListNetworksOptions {
            filters: Some(convert::label_filters(labels)),
        };
        let networks = self
            .client
            .list_networks(Some(options))
            .await
            .map_err(self.fail("list", ObjectKind::Network, "*"))?;
        Ok(networks
            .into_iter()
            .map(|n| convert::network_info(n, Vec::new()))
            .collect())
    }

    async fn remove_network(&self, name: &str) -> Result<()> {
        self.client.remove_network(name).await.map_err(self.fail(
            "remove",
            ObjectKind::Network,
            name,
        ))
    }

    async fn connect_network(&self, container: &str, attachment: &NetworkAttachment) -> Result<()> {
        let request = bollard::models::NetworkConnectRequest {
            container: container.to_string(),
            endpoint_config: Some(convert::endpoint_settings(attachment)),
        };
        self.client
            .connect_network(&attachment.network, request)
            .await
            .map_err(self.fail("connect", ObjectKind::Container, container))
    }

    async fn disconnect_network(&self, container: &str, network: &str, force: bool) -> Result<()> {
        let request = bollard::models::NetworkDisconnectRequest {
            container: container.to_string(),
            force: Some(force),
        };
        self.client
            .disconnect_network(network, request)
            .await
            .map_err(self.fail("disconnect", ObjectKind::Container, container))
    }

    // -- volumes -------------------------------------------------------------------------

    async fn create_volume(&self, spec: &VolumeSpec) -> Result<VolumeInfo> {
        let v = self
            .client
            .create_volume(convert::volume_create_request(spec))
            .await
            .map_err(self.fail("create", ObjectKind::Volume, &spec.name))?;
        Ok(convert::volume_info(v))
    }

    async fn inspect_volume(&self, name: &str) -> Result<VolumeInfo> {
        let v = self.client.inspect_volume(name).await.map_err(self.fail(
            "inspect",
            ObjectKind::Volume,
            name,
        ))?;
        Ok(convert::volume_info(v))
    }

    async fn list_volumes(&self, labels: &[LabelFilter]) -> Result<Vec<VolumeInfo>> {
        let options = qp::ListVolumesOptions {
            filters: Some(convert::label_filters(labels)),
        };
        let listed = self
            .client
            .list_volumes(Some(options))
            .await
            .map_err(self.fail("list", ObjectKind::Volume, "*"))?;
        Ok(listed
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(convert::volume_info)
            .collect())
    }

    async fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        self.client
            .remove_volume(name, Some(qp::RemoveVolumeOptions { force }))
            .await
            .map_err(self.fail("remove", ObjectKind::Volume, name))
    }

    // -- images --------------------------------------------------------------------------

    async fn inspect_image(&self, reference: &str) -> Result<ImageInfo> {
        let i = self
            .client
            .inspect_image(reference)
            .await
            .map_err(self.fail("inspect", ObjectKind::Image, reference))?;
        Ok(convert::image_info(i))
    }

    async fn list_images(&self, labels: &[LabelFilter]) -> Result<Vec<ImageSummary>> {
        let options = qp::ListImagesOptions {
            filters: Some(convert::label_filters(labels)),
            ..Default::default()
        };
        let images = self
            .client
            .list_images(Some(options))
            .await
            .map_err(self.fail("list", ObjectKind::Image, "*"))?;
        Ok(images.into_iter().map(convert::image_summary).collect())
    }

    async fn pull_image(
        &self,
        reference: &str,
        platform: Option<&str>,
        auth: Option<&RegistryAuth>,
        progress: ProgressSink<'_>,
    ) -> Result<()> {
        let full = convert::pull_reference(reference);
        let options = qp::CreateImageOptions {
            from_image: Some(full.clone()),
            platform: platform.unwrap_or_default().to_string(),
            ..Default::default()
        };
        let registry_failed = |message: String| RuntimeError::RegistryFailed {
            reference: full.clone(),
            message,
        };
        let mut stream =
            self.client
                .create_image(Some(options), None, Some(convert::credentials(auth)));
        while let Some(item) = stream.next().await {
            let info = match item {
                Ok(info) => info,
                Err(e) if error::is_connection_failure(&e) => {
                    return Err(error::unreachable(&self.endpoint))
                }
                Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                | Err(bollard::errors::Error::DockerStreamError { error: message }) => {
                    return Err(registry_failed(message))
                }
                Err(e) => return Err(registry_failed(e.to_string())),
            };
            if let Some(detail) = info.error_detail {
                return Err(registry_failed(detail.message.unwrap_or_default()));
            }
            if let Some(event) = convert::layer_progress(info.id, info.status, info.progress_detail)
            {
                progress(event);
            }
        }
        Ok(())
    }

    async fn build_image(&self, spec: &BuildSpec, progress: ProgressSink<'_>) -> Result<String> {
        if let Some(list) = spec.platform.as_deref().filter(|p| p.contains(',')) {
            // The Engine API builds one platform (as docker compose's docker driver does).
            return Err(RuntimeError::BuildFailed {
                message: format!(
                    "multi-platform builds are not supported by the Docker engine's builder \
                     (platforms: {list}); keep one entry in `platforms`"
                ),
            });
        }
        let mut options = convert::build_options(spec);
        let mut context = spec.context_tar.clone();
        let mut temporary = Vec::new();
        if !spec.named_contexts.is_empty() {
            let lowered = self.lower_named_contexts(spec, &mut temporary).await;
            match lowered {
                Ok((tar, dockerfile)) => {
                    context = tar;
                    options.dockerfile = dockerfile;
                }
                Err(e) => {
                    self.remove_temporary(&temporary).await;
                    return Err(e);
                }
            }
        }
        let built = self.build_context(spec, options, context, progress).await;
        self.remove_temporary(&temporary).await;
        built
    }

    async fn tag_image(&self, source: &str, target: &str) -> Result<()> {
        let (repo, tag) = convert::split_tag(target);
        let options = qp::TagImageOptions {
            repo: Some(repo),
            tag: Some(tag.unwrap_or_else(|| "latest".to_string())),
        };
        self.client
            .tag_image(source, Some(options))
            .await
            .map_err(self.fail("tag", ObjectKind::Image, source))
    }

    async fn push_image(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
        progress: ProgressSink<'_>,
    ) -> Result<()> {
        let (name, tag) = convert::split_tag(reference);
        let options = qp::PushImageOptions {
            tag: Some(tag.unwrap_or_else(|| "latest".to_string())),
            platform: None,
        };
        let registry_failed = |message: String| RuntimeError::RegistryFailed {
            reference: reference.to_string(),
            message,
        };
        let mut stream =
            self.client
                .push_image(&name, Some(options), Some(convert::credentials(auth)));
        while let Some(item) = stream.next().await {
            let info = match item {
                Ok(info) => info,
                Err(e) if error::is_connection_failure(&e) => {
                    return Err(error::unreachable(&self.endpoint))
                }
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {
                    return Err(RuntimeError::NotFound {
                        kind: ObjectKind::Image,
                        name: reference.to_string(),
                    })
                }
                Err(e) => return Err(registry_failed(e.to_string())),
            };
            if let Some(detail) = info.error_detail {
                return Err(registry_failed(detail.message.unwrap_or_default()));
            }
            if let Some(event) = convert::layer_progress(None, info.status, info.progress_detail) {
                progress(event);
            }
        }
        Ok(())
    }

    async fn remove_image(&self, reference: &str, force: bool) -> Result<()> {
        let options = qp::RemoveImageOptions {
            force,
            ..Default::default()
        };
        self.client
            .remove_image(reference, Some(options), None)
            .await
            .map(|_| ())
            .map_err(self.fail("remove", ObjectKind::Image, reference))
    }

    async fn prune_images(
        &self,
        all: bool,
        filters: &crate::runtime::ImagePruneFilters,
    ) -> Result<PruneReport> {
        // As `docker image prune`: dangling only, unless `-a`; `until` and `label`s are the
        // engine's to apply.
        let mut query = convert::label_filters(&filters.labels);
        if let Some(not) = convert::label_filters(&filters.not_labels).remove("label") {
            query.insert("label!".to_string(), not);
        }
        if let Some((until, _)) = &filters.until {
            query.insert("until".to_string(), vec![until.clone()]);
        }
        query.insert("dangling".to_string(), vec![(!all).to_string()]);
        let options = qp::PruneImagesOptions {
            filters: Some(query),
        };
        let r = self
            .long_client
            .prune_images(Some(options))
            .await
            .map_err(self.fail("prune", ObjectKind::Image, "*"))?;
        let mut report = PruneReport {
            reclaimed_bytes: r.space_reclaimed.unwrap_or(0).max(0) as u64,
            ..Default::default()
        };
        for item in r.images_deleted.unwrap_or_default() {
            report.untagged.extend(item.untagged);
            report.deleted.extend(item.deleted);
        }
        Ok(report)
    }

    async fn save_images(&self, references: &[String], path: &std::path::Path) -> Result<()> {
        use tokio::io::AsyncWriteExt as _;
        let names: Vec<&str> = references.iter().map(String::as_str).collect();
        let what = references.join(" ");
        let io_err = |e: std::io::Error| RuntimeError::Other {
            operation: format!("save {what}"),
            message: format!("{}: {e}", path.display()),
        };
        let mut file = tokio::fs::File::create(path).await.map_err(io_err)?;
        let mut stream = self.long_client.export_images(&names);
        let mut outcome = Ok(());
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(data) => {
                    if let Err(e) = file.write_all(&data).await {
                        outcome = Err(io_err(e));
                        break;
                    }
                }
                Err(e) => {
                    outcome = Err(self.fail("save", ObjectKind::Image, &what)(e));
                    break;
                }
            }
        }
        if outcome.is_ok() {
            outcome = file.flush().await.map_err(io_err);
        }
        if outcome.is_err() {
            // Nothing half-written is left under the name asked for.
            drop(file);
            let _ = tokio::fs::remove_file(path).await;
        }
        outcome
    }

    async fn load_images(&self, path: &std::path::Path) -> Result<Vec<String>> {
        let data = tokio::fs::read(path)
            .await
            .map_err(|e| RuntimeError::Other {
                operation: "load".to_string(),
                message: format!("cannot read {}: {e}", path.display()),
            })?;
        let options = qp::ImportImageOptions {
            quiet: true,
            ..Default::default()
        };
        let mut stream =
            self.long_client
                .import_image(options, bollard::body_full(Bytes::from(data)), None);
        let mut loaded = Vec::new();
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| match e {
                bollard::errors::Error::DockerResponseServerError { message, .. }
                | bollard::errors::Error::DockerStreamError { error: message } => {
                    RuntimeError::Other {
                        operation: format!("load {}", path.display()),
                        message,
                    }
                }
                other => self.fail("load", ObjectKind::Image, &path.display().to_string())(other),
            })?;
            if let Some(detail) = info.error_detail {
                return Err(RuntimeError::Other {
                    operation: format!("load {}", path.display()),
                    message: detail.message.unwrap_or_default(),
                });
            }
            if let Some(text) = info.stream {
                loaded.extend(
                    text.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(str::to_string),
                );
            }
        }
        Ok(loaded)
    }

    async fn prune_build_cache(&self, all: bool) -> Result<PruneReport> {
        let options = qp::PruneBuildOptions {
            all: Some(all),
            ..Default::default()
        };
        let r = self
            .long_client
            .prune_build(Some(options))
            .await
            .map_err(self.fail("prune build cache", ObjectKind::Image, "*"))?;
        Ok(PruneReport {
            untagged: Vec::new(),
            deleted: r.caches_deleted.unwrap_or_default(),
            reclaimed_bytes: r.space_reclaimed.unwrap_or(0).max(0) as u64,
        })
    }

    async fn system_info(&self) -> Result<SystemInfo> {
        let i = self.client.info().await.map_err(self.fail(
            "query",
            ObjectKind::Container,
            &self.endpoint,
        ))?;
        let registry = i.registry_config.unwrap_or_default();
        Ok(SystemInfo {
            data_root: i.docker_root_dir.unwrap_or_default(),
            storage_driver: i.driver.unwrap_or_default(),
            cgroup_version: i.cgroup_version.map(|v| v.to_string()).unwrap_or_default(),
            kernel_version: i.kernel_version.unwrap_or_default(),
            operating_system: i.operating_system.unwrap_or_default(),
            registry_mirrors: registry.mirrors.unwrap_or_default(),
            insecure_registries: registry.insecure_registry_cidrs.unwrap_or_default(),
        })
    }

    // -- containers: lifecycle -----------------------------------------------------------

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String> {
        let options = qp::CreateContainerOptions {
            name: Some(spec.name.clone()),
            platform: spec.platform.clone().unwrap_or_default(),
        };
        let created = self
            .client
            .create_container(Some(options), convert::container_create_body(spec))
            .await
            .map_err(self.fail("create", ObjectKind::Container, &spec.name))?;
        for attachment in spec.networks.iter().skip(1) {
            if let Err(e) = self.connect_network(&created.id, attachment).await {
                // Leave nothing half-made behind: a container missing a network would be
                // "converged" by the next run without ever joining it.
                let _ = self.remove_container(&created.id, true, true).await;
                return Err(e);
            }
        }
        Ok(created.id)
    }

    async fn start_container(&self, name: &str) -> Result<()> {
        self.client
            .start_container(name, None::<qp::StartContainerOptions>)
            .await
            .map_err(self.fail("start", ObjectKind::Container, name))
    }

    async fn stop_container(&self, name: &str, timeout: Option<Duration>) -> Result<()> {
        let grace = match timeout {
            Some(t) => t,
            // The container's own stop timeout applies; docker defaults to 10 s.
            None => self
                .client
                .inspect_container(name, None::<qp::InspectContainerOptions>)
                .await
                .map_err(self.fail("stop", ObjectKind::Container, name))?
                .config
                .and_then(|c| c.stop_timeout)
                .map_or(Duration::from_secs(10), |s| {
                    Duration::from_secs(s.unsigned_abs())
                }),
        };
        let options = qp::StopContainerOptions {
            signal: None,
            t: timeout.map(|t| i32::try_from(convert::duration_secs_ceil(t)).unwrap_or(i32::MAX)),
        };
        self.client
            .clone()
            .with_timeout(grace + STOP_SLACK)
            .stop_container(name, Some(options))
            .await
            .map_err(self.fail("stop", ObjectKind::Container, name))
    }

    async fn kill_container(&self, name: &str, signal: &str) -> Result<()> {
        let options = qp::KillContainerOptions {
            signal: signal.to_string(),
        };
        self.client
            .kill_container(name, Some(options))
            .await
            .map_err(self.fail("kill", ObjectKind::Container, name))
    }

    async fn restart_container(&self, name: &str, timeout: Option<Duration>) -> Result<()> {
        let options = qp::RestartContainerOptions {
            signal: None,
            t: timeout.map(|t| i32::try_from(convert::duration_secs_ceil(t)).unwrap_or(i32::MAX)),
        };
        self.long_client
            .restart_container(name, Some(options))
            .await
            .map_err(self.fail("restart", ObjectKind::Container, name))
    }

    async fn remove_container(&self, name: &str, force: bool, volumes: bool) -> Result<()> {
        let options = qp::RemoveContainerOptions {
            v: volumes,
            force,
            link: false,
        };
        self.long_client
            .remove_container(name, Some(options))
            .await
            .map_err(self.fail("remove", ObjectKind::Container, name))
    }

    async fn wait_container(&self, name: &str) -> Result<i64> {
        let mut stream = self
            .long_client
            .wait_container(name, Some(qp::WaitContainerOptions::default()));
        match stream.next().await {
            Some(Ok(response)) => Ok(response.status_code),
            // bollard turns a non-zero exit into an error; it is an exit code.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(error::convert(
                e,
                &self.ctx("wait for", ObjectKind::Container, name),
            )),
            None => Err(RuntimeError::Other {
                operation: format!("wait for container \"{name}\""),
                message: "the engine closed the connection without an exit code".to_string(),
            }),
        }
    }

    async fn pause_container(&self, name: &str) -> Result<()> {
        self.client.pause_container(name).await.map_err(self.fail(
            "pause",
            ObjectKind::Container,
            name,
        ))
    }

    async fn unpause_container(&self, name: &str) -> Result<()> {
        self.client.unpause_container(name).await.map_err(self.fail(
            "unpause",
            ObjectKind::Container,
            name,
        ))
    }

    // -- containers: observation ---------------------------------------------------------

    async fn inspect_container(&self, name: &str) -> Result<ContainerInfo> {
        let c = self
            .client
            .inspect_container(name, None::<qp::InspectContainerOptions>)
            .await
            .map_err(self.fail("inspect", ObjectKind::Container, name))?;
        Ok(convert::container_info(c))
    }

    async fn list_containers(
        &self,
        options: &ContainerListOptions,
    ) -> Result<Vec<ContainerSummary>> {
        let query = qp::ListContainersOptions {
            all: options.all,
            filters: Some(convert::label_filters(&options.labels)),
            ..Default::default()
        };
        let listed = self
            .client
            .list_containers(Some(query))
            .await
            .map_err(self.fail("list", ObjectKind::Container, "*"))?;
        Ok(listed.into_iter().map(convert::container_summary).collect())
    }

    async fn logs(
        &self,
        name: &str,
        options: &LogOptions,
    ) -> Result<BoxStream<'static, Result<OutputChunk>>> {
        // The log stream reports a missing container only when first polled; check now so
        // the caller gets NotFound from this call.
        self.client
            .inspect_container(name, None::<qp::InspectContainerOptions>)
            .await
            .map_err(self.fail("read logs of", ObjectKind::Container, name))?;
        let secs = |t: Option<std::time::SystemTime>| {
            t.map_or(0, |t| {
                i32::try_from(convert::unix_secs(t)).unwrap_or(i32::MAX)
            })
        };
        let query = qp::LogsOptions {
            follow: options.follow,
            stdout: options.stdout,
            stderr: options.stderr,
            since: secs(options.since),
            until: secs(options.until),
            timestamps: options.timestamps,
            tail: options
                .tail
                .map_or_else(|| "all".to_string(), |n| n.to_string()),
        };
        let stream = self.long_client.logs(name, Some(query));
        Ok(self.output_stream(stream, options.timestamps, "read logs of", name))
    }

    async fn top(&self, name: &str, ps_args: Option<&str>) -> Result<ProcessList> {
        let options = qp::TopOptions {
            ps_args: ps_args.unwrap_or("-ef").to_string(),
        };
        let top = self
            .client
            .top_processes(name, Some(options))
            .await
            .map_err(self.fail("list processes of", ObjectKind::Container, name))?;
        Ok(ProcessList {
            titles: top.titles.unwrap_or_default(),
            processes: top.processes.unwrap_or_default(),
        })
    }

    async fn events(
        &self,
        filter: &EventFilter,
    ) -> Result<BoxStream<'static, Result<RuntimeEvent>>> {
        let mut filters = convert::label_filters(&filter.labels);
        if !filter.kinds.is_empty() {
            let mut kinds: Vec<String> = filter
                .kinds
                .iter()
                .map(|k| convert::object_kind_name(*k).to_string())
                .collect();
            kinds.dedup();
            filters.insert("type".to_string(), kinds);
        }
        // The request goes out only when the stream is first polled: asking for events
        // since now (to the nanosecond) keeps those of the meantime.
        let since = filter.since.unwrap_or_else(std::time::SystemTime::now);
        let options = qp::EventsOptions {
            since: Some(convert::unix_timestamp_fraction(since)),
            until: None,
            filters: Some(filters),
        };
        let fail = self.stream_fail("watch events of", ObjectKind::Container, "*");
        Ok(self
            .long_client
            .events(Some(options))
            .map(move |item| item.map(convert::runtime_event).map_err(&fail))
            .boxed())
    }

    // -- containers: I/O -----------------------------------------------------------------

    async fn attach_container(&self, name: &str, options: &AttachOptions) -> Result<AttachedIo> {
        let query = qp::AttachContainerOptions {
            detach_keys: options.detach_keys.clone(),
            logs: options.logs,
            stream: true,
            stdin: options.stdin,
            stdout: options.stdout,
            stderr: options.stderr,
        };
        let attached = self
            .long_client
            .attach_container(name, Some(query))
            .await
            .map_err(self.fail("attach to", ObjectKind::Container, name))?;
        Ok(AttachedIo {
            output: self.output_stream(attached.output, false, "attach to", name),
            input: attached.input,
        })
    }

    async fn resize_container_tty(&self, name: &str, size: TtySize) -> Result<()> {
        let options = qp::ResizeContainerTTYOptions {
            h: i32::from(size.rows),
            w: i32::from(size.cols),
        };
        self.client
            .resize_container_tty(name, options)
            .await
            .map_err(self.fail("resize the terminal of", ObjectKind::Container, name))
    }

    async fn exec(&self, container: &str, spec: &ExecSpec) -> Result<ExecSession> {
        let config = CreateExecOptions::<String> {
            attach_stdin: Some(spec.stdin),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(spec.tty),
            env: (!spec.env.is_empty()).then(|| spec.env.clone()),
            cmd: Some(spec.cmd.clone()),
            privileged: Some(spec.privileged),
            user: spec.user.clone(),
            working_dir: spec.working_dir.clone(),
            detach_keys: None,
        };
        let created = self
            .client
            .create_exec(container, config)
            .await
            .map_err(self.fail("exec in", ObjectKind::Container, container))?;
        let start = StartExecOptions {
            detach: false,
            tty: spec.tty,
            output_capacity: None,
        };
        let started = self
            .long_client
            .start_exec(&created.id, Some(start))
            .await
            .map_err(self.fail("exec in", ObjectKind::Container, container))?;
        match started {
            StartExecResults::Attached { output, input } => Ok(ExecSession {
                id: created.id,
                io: AttachedIo {
                    output: self.output_stream(output, false, "exec in", container),
                    input,
                },
            }),
            StartExecResults::Detached => Err(RuntimeError::Other {
                operation: format!("exec in container \"{container}\""),
                message: "the engine started the command detached; no output to attach to"
                    .to_string(),
            }),
        }
    }

    async fn exec_exit_code(&self, exec_id: &str) -> Result<Option<i64>> {
        let inspected = self.client.inspect_exec(exec_id).await.map_err(self.fail(
            "inspect",
            ObjectKind::Exec,
            exec_id,
        ))?;
        if inspected.running.unwrap_or(false) {
            return Ok(None);
        }
        Ok(inspected.exit_code)
    }

    async fn resize_exec(&self, exec_id: &str, size: TtySize) -> Result<()> {
        let options = qp::ResizeExecOptions {
            h: i32::from(size.rows),
            w: i32::from(size.cols),
        };
        self.client
            .resize_exec(exec_id, options)
            .await
            .map_err(self.fail("resize", ObjectKind::Exec, exec_id))
    }

    async fn copy_to_container(&self, name: &str, path: &str, tar: Bytes) -> Result<()> {
        let options = qp::UploadToContainerOptions {
            path: path.to_string(),
            ..Default::default()
        };
        self.long_client
            .upload_to_container(name, Some(options), bollard::body_full(tar))
            .await
            .map_err(self.fail("copy into", ObjectKind::Container, name))
    }

    async fn copy_from_container(&self, name: &str, path: &str) -> Result<Bytes> {
        let options = qp::DownloadFromContainerOptions {
            path: path.to_string(),
        };
        let chunks: Vec<Bytes> = self
            .long_client
            .download_from_container(name, Some(options))
            .try_collect()
            .await
            .map_err(self.fail("copy from", ObjectKind::Container, name))?;
        let mut all = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
        for c in chunks {
            all.extend_from_slice(&c);
        }
        Ok(all.freeze())
    }
}

/// The repository of the images named contexts are imported as for a build.
const TEMPORARY_CONTEXT_REPO: &str = "hoist-build-context";

/// The first 12 hex digits of the sha256 of `data`.
fn short_digest(data: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(data)
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The text of the file `name` in the tar `tar`.
fn read_tar_file(tar: &[u8], name: &str) -> std::io::Result<String> {
    for entry in tar::Archive::new(tar).entries()? {
        let mut entry = entry?;
        if entry.path()?.to_string_lossy().trim_start_matches("./") == name {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text)?;
            return Ok(text);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "no such file",
    ))
}
