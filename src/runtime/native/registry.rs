//! An OCI distribution (Docker registry v2) client that pulls images into the
//! [`ImageStore`] and pushes them from it: manifests (OCI index, Docker manifest list, OCI
//! and Docker v2 manifests), the host platform picked from an index, bearer-token and basic
//! auth, digest-verified blobs, layers fetched concurrently with progress.
//!
//! Where a registry lives: `docker.io` is served by `registry-1.docker.io`; registries on
//! `localhost`, `127.0.0.0/8` or `::1`, and those listed in `HOIST_REGISTRY_INSECURE`
//! (comma-separated hosts), are spoken to over plain HTTP, everything else over HTTPS.
//! `HOIST_REGISTRY_MIRRORS` lists mirrors tried before the registry itself, comma-separated:
//! `https://mirror.example` (a Docker Hub mirror, like Docker's `registry-mirrors`) or
//! `ghcr.io=http://10.0.0.5:5000` (a mirror of another registry).
//!
//! Pushes follow the distribution spec's monolithic upload: `HEAD` each blob, else `POST`
//! an upload session and `PUT` the blob to its `Location`, then `PUT` the manifest. A blob
//! the store saw in another repository of the same registry (pulled from or pushed to it:
//! the store's blob-source table) is first offered as a cross-repository mount
//! (`POST …/blobs/uploads/?mount=<digest>&from=<repo>`, with a token that may pull `from`):
//! `201` means no bytes to send, `202` is an upload session to send them to.
//!
//! Credentials: the [`Credentials`] given to the client (from the caller's `RegistryAuth`,
//! else the Docker CLI's `config.json`: its `credHelpers`/`credsStore` credential helpers,
//! then `auths`) answer `Basic` challenges and go to the token service of `Bearer` ones
//! (an identity token as an OAuth2 refresh token); without any, tokens are asked for
//! anonymously.
//!
//! Not for: reference parsing (see [`super::reference`]).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use super::digest::Digest;
use super::oci::{
    Descriptor, ImageConfig, Index, Manifest, Platform, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST,
    OCI_INDEX, OCI_MANIFEST,
};
use super::reference::{Reference, DOCKER_HUB};
use super::store::{ImageRecord, ImageStore};
use super::ImageError;
use crate::runtime::{ImageProgress, ProgressSink};

/// Layers downloaded at once (Docker's default `max-concurrent-downloads` is 3).
const CONCURRENT_DOWNLOADS: usize = 3;
const MAX_REDIRECTS: usize = 5;
/// A manifest larger than this is not a manifest.
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
const PROGRESS_STEP: u64 = 512 * 1024;

/// Where registries live and how to talk to them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Hosts (`host[:port]`) spoken to over plain HTTP besides loopback ones.
    pub insecure: Vec<String>,
    /// Mirror base URLs (`scheme://host[:port]`) by registry domain, tried in order.
    pub mirrors: BTreeMap<String, Vec<String>>,
}

impl RegistryConfig {
    /// Reads `HOIST_REGISTRY_MIRRORS` and `HOIST_REGISTRY_INSECURE`.
    pub fn from_env() -> Result<RegistryConfig, ImageError> {
        let mut config = RegistryConfig::default();
        if let Ok(mirrors) = std::env::var("HOIST_REGISTRY_MIRRORS") {
            config.mirrors = parse_mirrors(&mirrors)?;
        }
        if let Ok(insecure) = std::env::var("HOIST_REGISTRY_INSECURE") {
            config.insecure = insecure
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(str::to_string)
                .collect();
        }
        Ok(config)
    }

    /// Whether `host` (`host[:port]`) is spoken to over plain HTTP.
    pub fn is_insecure(&self, host: &str) -> bool {
        if self.insecure.iter().any(|h| h == host) {
            return true;
        }
        let bare = strip_port(host);
        bare == "localhost"
            || bare
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// Base URLs to try for `domain`, mirrors first.
    fn endpoints(&self, domain: &str) -> Vec<String> {
        let mut out = self.mirrors.get(domain).cloned().unwrap_or_default();
        let host = if domain == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            domain
        };
        let scheme = if self.is_insecure(domain) {
            "http"
        } else {
            "https"
        };
        out.push(format!("{scheme}://{host}"));
        out
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// Parses `HOIST_REGISTRY_MIRRORS` (see the module docs).
pub fn parse_mirrors(value: &str) -> Result<BTreeMap<String, Vec<String>>, ImageError> {
    let mut mirrors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (domain, url) = match item.split_once('=') {
            Some((d, u)) => (d.trim(), u.trim()),
            None => (DOCKER_HUB, item),
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ImageError::Registry {
                reference: domain.to_string(),
                message: format!(
                    "HOIST_REGISTRY_MIRRORS: mirror \"{url}\" must start with http:// or https://"
                ),
            });
        }
        mirrors
            .entry(domain.to_string())
            .or_default()
            .push(url.trim_end_matches('/').to_string());
    }
    Ok(mirrors)
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct PullOutcome {
    /// The record now stored under the normalized reference.
    pub record: ImageRecord,
    pub config: ImageConfig,
    /// Blobs (config and layers) fetched from the registry; 0 when all were present.
    pub downloaded_blobs: usize,
    pub downloaded_bytes: u64,
}

/// A request body: empty, in memory, or streamed from a blob file.
type Body = BoxBody<Bytes, std::io::Error>;

fn empty_body() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

fn full_body(data: Bytes) -> Body {
    Full::new(data).map_err(|never| match never {}).boxed()
}

/// A user name and password (or identity token) for one registry.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    // Never print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    fn basic(&self) -> String {
        use base64::Engine as _;
        let pair = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    /// The Docker CLI's stored login for `domain`, looked up as `docker` does
    /// (`$DOCKER_CONFIG/config.json`, default `~/.docker/config.json`): the credential helper
    /// `credHelpers` names for the registry, else the `credsStore` helper, else the `auths`
    /// entry. A helper is `docker-credential-<name>` on `PATH`; one answering "credentials
    /// not found" means no login (anonymous), one that fails is an error naming it.
    pub fn from_docker_config(domain: &str) -> Result<Option<Credentials>, ImageError> {
        let Some(dir) = std::env::var_os("DOCKER_CONFIG")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker")))
        else {
            return Ok(None);
        };
        let path = dir.join("config.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(config_err(
                    domain,
                    format!("cannot read {}: {e}", path.display()),
                ))
            }
        };
        let config: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            config_err(
                domain,
                format!(
                    "{}:{}:{}: not valid JSON ({e}); fix the file or remove it and log in again",
                    path.display(),
                    e.line(),
                    e.column()
                ),
            )
        })?;
        let key = credential_key(domain);
        let per_registry = config
            .get("credHelpers")
            .and_then(|h| h.get(key.as_str()))
            .and_then(serde_json::Value::as_str)
            .map(|h| (h, format!("credHelpers[\"{key}\"]")));
        let default = config
            .get("credsStore")
            .and_then(serde_json::Value::as_str)
            .map(|h| (h, "credsStore".to_string()));
        if let Some((helper, named_by)) = per_registry.or(default).filter(|(h, _)| !h.is_empty()) {
            let named_by = format!("{named_by} of {}", path.display());
            return credential_helper_get(helper, &named_by, &key, domain);
        }
        Ok(stored_auth(&config, domain))
    }
}

/// The server address the Docker CLI stores (and asks helpers for) the login of `domain`
/// under: Docker Hub's legacy index URL, the bare `host[:port]` of any other registry.
fn credential_key(domain: &str) -> String {
    if domain == DOCKER_HUB {
        DOCKER_HUB_SERVER_ADDRESS.to_string()
    } else {
        domain.to_string()
    }
}

/// The key of Docker Hub's logins in `config.json` and credential helpers.
const DOCKER_HUB_SERVER_ADDRESS: &str = "https://index.docker.io/v1/";

/// What a credential helper prints on stdout (exiting non-zero) when it has no login.
const HELPER_NOT_FOUND: &str = "credentials not found in native keychain";

/// The `Username` a helper answers when `Secret` is an identity token.
const IDENTITY_TOKEN_USER: &str = "<token>";

fn config_err(domain: &str, message: String) -> ImageError {
    ImageError::Registry {
        reference: domain.to_string(),
        message: format!("reading the docker login: {message}"),
    }
}

/// Runs `docker-credential-<helper> get` with `server` on stdin, as the Docker CLI does
/// (the docker-credential-helpers protocol).
fn credential_helper_get(
    helper: &str,
    named_by: &str,
    server: &str,
    domain: &str,
) -> Result<Option<Credentials>, ImageError> {
    use std::io::Write as _;
    let program = format!("docker-credential-{helper}");
    let fail = |what: String| {
        config_err(
            domain,
            format!("the credential helper {program} ({named_by}), asked for {server}, {what}"),
        )
    };
    let mut child = std::process::Command::new(&program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                fail("is not on PATH: install it, or remove it from the docker config".to_string())
            }
            _ => fail(format!("cannot be run: {e}")),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading gives a broken pipe: its exit says more.
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("cannot be run: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        if stdout.trim() == HELPER_NOT_FOUND {
            return Ok(None);
        }
        let said = [stdout.trim(), String::from_utf8_lossy(&out.stderr).trim()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        return Err(fail(format!(
            "failed ({}){}",
            out.status,
            if said.is_empty() {
                String::new()
            } else {
                format!(": {}", truncated(&said, 400))
            }
        )));
    }
    #[derive(Deserialize)]
    struct HelperAnswer {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    let answer: HelperAnswer = serde_json::from_str(stdout.trim()).map_err(|e| {
        fail(format!(
            "answered something other than the JSON {{\"ServerURL\",\"Username\",\"Secret\"}} ({e})"
        ))
    })?;
    if answer.username.is_empty() && answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials {
        username: answer.username,
        password: answer.secret,
    }))
}

fn truncated(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// The `auths` entry of `config.json` for `domain` (a `docker login` without a helper).
fn stored_auth(config: &serde_json::Value, domain: &str) -> Option<Credentials> {
    let auths = config.get("auths")?.as_object()?;
    let wanted: Vec<String> = if domain == DOCKER_HUB {
        vec![
            DOCKER_HUB_SERVER_ADDRESS.to_string(),
            "index.docker.io".to_string(),
            DOCKER_HUB.to_string(),
        ]
    } else {
        vec![
            domain.to_string(),
            format!("https://{domain}"),
            format!("http://{domain}"),
        ]
    };
    let entry = auths.iter().find_map(|(k, v)| {
        wanted
            .iter()
            .any(|w| k.trim_end_matches('/') == w.trim_end_matches('/'))
            .then_some(v)
    })?;
    if let Some(token) = entry.get("identitytoken").and_then(|t| t.as_str()) {
        if !token.is_empty() {
            return Some(Credentials {
                username: IDENTITY_TOKEN_USER.to_string(),
                password: token.to_string(),
            });
        }
    }
    let encoded = entry.get("auth")?.as_str()?;
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let (user, pass) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some(Credentials {
        username: user.to_string(),
        password: pass.to_string(),
    })
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct PushOutcome {
    /// The digest of the manifest now under the tag.
    pub manifest_digest: Digest,
    /// Blobs uploaded; the others were present in the repository already or mounted.
    pub uploaded_blobs: usize,
    pub uploaded_bytes: u64,
    /// Blobs the registry mounted from another of its repositories (no bytes sent).
    pub mounted_blobs: usize,
}

/// How one blob of a push got to the registry.
enum BlobPush {
    Existed,
    Mounted,
    Uploaded(u64),
}

/// Blob mounts tried per blob before uploading it (Docker tries three too).
const MAX_MOUNT_ATTEMPTS: usize = 3;

/// Other repositories of `repo`'s registry the store saw `digest` in, to mount it from.
fn mount_candidates(
    store: &ImageStore,
    repo: &Repo<'_>,
    digest: &Digest,
) -> Result<Vec<String>, ImageError> {
    let prefix = format!("{}/", repo.domain);
    Ok(store
        .blob_sources(digest)?
        .into_iter()
        .filter_map(|source| source.strip_prefix(&prefix).map(str::to_string))
        .filter(|path| path != repo.path && !path.is_empty())
        .take(MAX_MOUNT_ATTEMPTS)
        .collect())
}

/// A registry client; cheap to share, holds a connection pool and tokens.
pub struct RegistryClient {
    http: Client<HttpsConnector<HttpConnector>, Body>,
    config: RegistryConfig,
    credentials: Option<Credentials>,
    /// Authorization header values by `base|repository`.
    tokens: Mutex<HashMap<String, String>>,
}

/// One repository on one endpoint (the registry or a mirror).
struct Repo<'a> {
    base: &'a str,
    path: &'a str,
    /// The registry's domain (whose stored login is used), for error messages.
    domain: &'a str,
    /// For error messages.
    reference: String,
}

impl Repo<'_> {
    /// How the blob-source table names this repository: `<domain>/<path>`, whichever
    /// endpoint serves it (a mirror serves the registry's content).
    fn source_name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }
}

impl RegistryClient {
    pub fn new(config: RegistryConfig) -> RegistryClient {
        let connector = HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .build();
        RegistryClient {
            http: Client::builder(TokioExecutor::new()).build(connector),
            config,
            credentials: None,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// The same client answering auth challenges with `credentials`.
    pub fn with_credentials(mut self, credentials: Option<Credentials>) -> RegistryClient {
        self.credentials = credentials;
        self
    }

    /// Pushes the stored image `record` to `target` (a tag, or the digest of the stored
    /// manifest): every blob the manifest names that the registry lacks, then the manifest
    /// itself, byte for byte as stored, so its digest stays the image's digest.
    pub async fn push(
        &self,
        store: &ImageStore,
        record: &ImageRecord,
        target: &Reference,
        progress: ProgressSink<'_>,
    ) -> Result<PushOutcome, ImageError> {
        let endpoints = self.config.endpoints(target.domain());
        // Mirrors are for reading: a push goes to the registry itself.
        let base = endpoints.last().cloned().unwrap_or_default();
        let repo = Repo {
            base: &base,
            path: target.path(),
            domain: target.domain(),
            reference: target.to_string(),
        };
        let manifest_body = store.read_blob(&record.manifest_digest)?;
        let manifest: Manifest = serde_json::from_slice(&manifest_body).map_err(|e| {
            registry_err(&repo, format!("the stored manifest is not valid JSON: {e}"))
        })?;
        if manifest.config.digest != record.config.digest || manifest.layers != record.layers {
            return Err(registry_err(
                &repo,
                "the stored manifest does not match the image record; pull or build the image again",
            ));
        }
        progress(ImageProgress::Layer {
            id: None,
            status: format!("The push refers to repository [{}]", target.name()),
            current: None,
            total: None,
        });
        let mut uploaded_blobs = 0;
        let mut uploaded_bytes = 0;
        let mut mounted_blobs = 0;
        // Layers first, the config last, as Docker does: a manifest only becomes valid once
        // everything it names is there.
        for (descriptor, is_layer) in manifest
            .layers
            .iter()
            .map(|l| (l, true))
            .chain(std::iter::once((&manifest.config, false)))
        {
            let report = layer_reporter(descriptor, is_layer, progress);
            match self.push_blob(store, &repo, descriptor, report).await? {
                BlobPush::Existed => {}
                BlobPush::Mounted => mounted_blobs += 1,
                BlobPush::Uploaded(bytes) => {
                    uploaded_blobs += 1;
                    uploaded_bytes += bytes;
                }
            }
        }
        // The repository has every blob now: a later push elsewhere on this registry can
        // mount them from here.
        let digests: Vec<Digest> = std::iter::once(&manifest.config)
            .chain(&manifest.layers)
            .map(|d| d.digest.clone())
            .collect();
        store.record_blob_sources(&digests, &repo.source_name())?;
        let media_type = manifest
            .media_type
            .clone()
            .unwrap_or_else(|| OCI_MANIFEST.to_string());
        let tag = target.manifest_ref();
        let url = format!("{}/v2/{}/manifests/{tag}", repo.base, repo.path);
        let body = Bytes::from(manifest_body);
        let response = self
            .request(
                &repo,
                http::Method::PUT,
                &url,
                &[(http::header::CONTENT_TYPE, media_type.as_str())],
                || full_body(body.clone()),
            )
            .await?;
        if !response.status().is_success() {
            return Err(refusal(&repo, "PUT", &url, response).await);
        }
        if let Some(answered) = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
        {
            if answered != record.manifest_digest.to_string() {
                return Err(ImageError::DigestMismatch {
                    what: format!("manifest pushed to {target}"),
                    expected: record.manifest_digest.to_string(),
                    actual: answered.to_string(),
                });
            }
        }
        progress(ImageProgress::Layer {
            id: None,
            status: format!(
                "{}: digest: {} size: {}",
                target.tag().unwrap_or("latest"),
                record.manifest_digest,
                body.len()
            ),
            current: None,
            total: None,
        });
        Ok(PushOutcome {
            manifest_digest: record.manifest_digest.clone(),
            uploaded_blobs,
            uploaded_bytes,
            mounted_blobs,
        })
    }

    /// Uploads one blob unless the registry has it or can mount it from another repository,
    /// telling `report` how it goes.
    async fn push_blob(
        &self,
        store: &ImageStore,
        repo: &Repo<'_>,
        descriptor: &Descriptor,
        report: impl Fn(&str, Option<u64>),
    ) -> Result<BlobPush, ImageError> {
        let path = store.blob_path(&descriptor.digest);
        let size = std::fs::metadata(&path)
            .map_err(|e| registry_err(repo, format!("blob {}: {e}", path.display())))?
            .len();
        if size != descriptor.size {
            return Err(registry_err(
                repo,
                format!(
                    "the stored blob {} has {size} bytes, its descriptor says {}",
                    descriptor.digest, descriptor.size
                ),
            ));
        }
        report("Preparing", None);
        let blob_url = format!("{}/v2/{}/blobs/{}", repo.base, repo.path, descriptor.digest);
        let head = self
            .request(repo, http::Method::HEAD, &blob_url, &[], empty_body)
            .await?;
        if head.status().is_success() {
            report("Layer already exists", None);
            return Ok(BlobPush::Existed);
        }
        let uploads = format!("{}/v2/{}/blobs/uploads/", repo.base, repo.path);
        // A repository of the same registry that has the blob can lend it: mount it instead
        // of sending the bytes. A registry that cannot answers 202 with an upload session.
        let mut session = None;
        for from in mount_candidates(store, repo, &descriptor.digest)? {
            let url = format!(
                "{uploads}?mount={}&from={}",
                percent_encode(&descriptor.digest.to_string()),
                percent_encode(&from)
            );
            let scopes = [format!("repository:{from}:pull")];
            let answered = self
                .request_scoped(repo, http::Method::POST, &url, &[], &scopes, empty_body)
                .await?;
            match answered.status() {
                StatusCode::CREATED => {
                    report(&format!("Mounted from {from}"), None);
                    return Ok(BlobPush::Mounted);
                }
                StatusCode::ACCEPTED => {
                    session = Some(answered);
                    break;
                }
                // Not allowed to read `from`, or the registry does not mount: try the next
                // source, then a plain upload.
                _ => {}
            }
        }
        let started = match session {
            Some(session) => session,
            None => {
                let started = self
                    .request(repo, http::Method::POST, &uploads, &[], empty_body)
                    .await?;
                if started.status() != StatusCode::ACCEPTED {
                    return Err(refusal(repo, "POST", &uploads, started).await);
                }
                started
            }
        };
        let location = started
            .headers()
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| registry_err(repo, "the upload session came without a Location"))?;
        let put_url = upload_url(&uploads, location, &descriptor.digest);
        // Verify before sending: the registry would refuse a mismatch, but this names the
        // local blob that went bad.
        verify_file(&path, &descriptor.digest)?;
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let length = size.to_string();
        let headers = [
            (http::header::CONTENT_TYPE, "application/octet-stream"),
            (http::header::CONTENT_LENGTH, length.as_str()),
        ];
        let upload = self.request(repo, http::Method::PUT, &put_url, &headers, || {
            file_body(path.clone(), sent.clone())
        });
        tokio::pin!(upload);
        let mut ticker = tokio::time::interval(std::time::Duration::from_millis(200));
        let response = loop {
            tokio::select! {
                response = &mut upload => break response?,
                _ = ticker.tick() => {
                    let n = sent.load(std::sync::atomic::Ordering::Relaxed);
                    if n > 0 {
                        report("Pushing", Some(n.min(size)));
                    }
                }
            }
        };
        if response.status() != StatusCode::CREATED && !response.status().is_success() {
            return Err(refusal(repo, "PUT", &put_url, response).await);
        }
        report("Pushed", None);
        Ok(BlobPush::Uploaded(size))
    }

    /// Pulls `reference` for `platform` into `store` and records it there under its
    /// normalized name. Blobs already in the store are not downloaded again.
    pub async fn pull(
        &self,
        store: &ImageStore,
        reference: &Reference,
        platform: &Platform,
        progress: ProgressSink<'_>,
    ) -> Result<PullOutcome, ImageError> {
        let endpoints = self.config.endpoints(reference.domain());
        let mut last_error = None;
        for base in &endpoints {
            let repo = Repo {
                base,
                path: reference.path(),
                domain: reference.domain(),
                reference: reference.to_string(),
            };
            match self
                .pull_from(store, &repo, reference, platform, progress)
                .await
            {
                Ok(outcome) => return Ok(outcome),
                // Content that fails verification is not retried elsewhere silently.
                Err(e @ ImageError::DigestMismatch { .. }) => return Err(e),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| ImageError::Registry {
            reference: reference.to_string(),
            message: "no registry endpoint".to_string(),
        }))
    }

    async fn pull_from(
        &self,
        store: &ImageStore,
        repo: &Repo<'_>,
        reference: &Reference,
        platform: &Platform,
        progress: ProgressSink<'_>,
    ) -> Result<PullOutcome, ImageError> {
        let tag_or_digest = reference.manifest_ref();
        progress(ImageProgress::Layer {
            id: None,
            status: format!("Pulling from {}", reference.path()),
            current: None,
            total: None,
        });
        let (body, media_type) = self.fetch_manifest(repo, &tag_or_digest).await?;
        let top_digest = Digest::of(&body);
        if let Some(pinned) = reference.digest() {
            pinned.verify(&format!("manifest {}", repo.reference), &body)?;
        }
        let (manifest_digest, manifest_body, index_digest) = if is_index(&media_type, &body) {
            let index: Index = serde_json::from_slice(&body)
                .map_err(|e| registry_err(repo, format!("invalid image index: {e}")))?;
            let chosen = index
                .manifests
                .iter()
                .find(|d| d.platform.as_ref().is_some_and(|p| platform.matches(p)))
                .ok_or_else(|| {
                    let available: Vec<String> = index
                        .manifests
                        .iter()
                        .filter_map(|d| d.platform.as_ref().map(ToString::to_string))
                        .collect();
                    registry_err(
                        repo,
                        format!(
                            "no manifest for platform {platform} (the image has {})",
                            available.join(", ")
                        ),
                    )
                })?;
            let (inner, _) = self
                .fetch_manifest(repo, &chosen.digest.to_string())
                .await?;
            chosen
                .digest
                .verify(&format!("manifest {}", chosen.digest), &inner)?;
            store.write_blob(&top_digest, &body)?;
            (chosen.digest.clone(), inner, Some(top_digest))
        } else {
            (top_digest, body, None)
        };
        let manifest: Manifest = serde_json::from_slice(&manifest_body)
            .map_err(|e| registry_err(repo, format!("invalid image manifest: {e}")))?;
        store.write_blob(&manifest_digest, &manifest_body)?;

        let mut downloaded_blobs = 0;
        let mut downloaded_bytes = 0;
        let blobs = std::iter::once((&manifest.config, false))
            .chain(manifest.layers.iter().map(|l| (l, true)));
        // Every download runs to its end even when one fails: nothing is left writing
        // into the store after `pull` returns, and verified blobs are kept for a retry.
        let results: Vec<Result<Option<u64>, ImageError>> = stream::iter(blobs)
            .map(|(descriptor, is_layer)| {
                self.fetch_blob(store, repo, descriptor, is_layer, progress)
            })
            .buffer_unordered(CONCURRENT_DOWNLOADS)
            .collect()
            .await;
        let mut fetched = Vec::with_capacity(results.len());
        let mut first_error = None;
        for result in results {
            match result {
                Ok(bytes) => fetched.push(bytes),
                // A digest mismatch says the most about what went wrong: report it first.
                Err(e @ ImageError::DigestMismatch { .. }) => first_error = Some(e),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        for bytes in fetched.into_iter().flatten() {
            downloaded_blobs += 1;
            downloaded_bytes += bytes;
        }
        // This repository holds them: a push to another repository of the registry can
        // mount them from here.
        let digests: Vec<Digest> = std::iter::once(&manifest.config)
            .chain(&manifest.layers)
            .map(|d| d.digest.clone())
            .collect();
        store.record_blob_sources(&digests, &repo.source_name())?;
        let record = ImageRecord {
            manifest_digest,
            index_digest,
            config: manifest.config.clone(),
            layers: manifest.layers.clone(),
        };
        let config = store.image_config(&record)?;
        store.put_image(&reference.to_string(), &record)?;
        let shown = record
            .index_digest
            .as_ref()
            .unwrap_or(&record.manifest_digest);
        progress(ImageProgress::Layer {
            id: None,
            status: format!("Digest: {shown}"),
            current: None,
            total: None,
        });
        progress(ImageProgress::Layer {
            id: None,
            status: if downloaded_blobs == 0 {
                format!("Status: Image is up to date for {reference}")
            } else {
                format!("Status: Downloaded newer image for {reference}")
            },
            current: None,
            total: None,
        });
        Ok(PullOutcome {
            record,
            config,
            downloaded_blobs,
            downloaded_bytes,
        })
    }

    /// GETs a manifest; returns its bytes and media type.
    async fn fetch_manifest(
        &self,
        repo: &Repo<'_>,
        tag_or_digest: &str,
    ) -> Result<(Bytes, String), ImageError> {
        let url = format!("{}/v2/{}/manifests/{tag_or_digest}", repo.base, repo.path);
        let accept = [
            OCI_INDEX,
            DOCKER_MANIFEST_LIST,
            OCI_MANIFEST,
            DOCKER_MANIFEST,
        ]
        .join(", ");
        let response = self.get(repo, &url, Some(&accept)).await?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Err(registry_err(
                repo,
                format!("manifest for {tag_or_digest} not found: the image or tag does not exist"),
            ));
        }
        if !status.is_success() {
            return Err(status_err(repo, &url, status));
        }
        let media_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let body = http_body_util::Limited::new(response.into_body(), MAX_MANIFEST_BYTES)
            .collect()
            .await
            .map_err(|e| registry_err(repo, format!("reading the manifest: {e}")))?
            .to_bytes();
        Ok((body, media_type))
    }

    /// Downloads one blob into the store unless present; returns the bytes downloaded.
    async fn fetch_blob(
        &self,
        store: &ImageStore,
        repo: &Repo<'_>,
        descriptor: &Descriptor,
        is_layer: bool,
        progress: ProgressSink<'_>,
    ) -> Result<Option<u64>, ImageError> {
        let report = layer_reporter(descriptor, is_layer, progress);
        if store.has_blob(&descriptor.digest) {
            report("Already exists", None);
            return Ok(None);
        }
        report("Pulling fs layer", None);
        let url = format!("{}/v2/{}/blobs/{}", repo.base, repo.path, descriptor.digest);
        let response = self.get(repo, &url, None).await?;
        if !response.status().is_success() {
            return Err(status_err(repo, &url, response.status()));
        }
        let mut writer = store.blob_writer(&descriptor.digest)?;
        let mut body = response.into_body();
        let mut last_report = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                registry_err(repo, format!("downloading {}: {e}", descriptor.digest))
            })?;
            if let Ok(data) = frame.into_data() {
                writer.write(&data)?;
                if writer.written() > descriptor.size {
                    return Err(registry_err(
                        repo,
                        format!(
                            "blob {} is larger than its declared {} bytes",
                            descriptor.digest, descriptor.size
                        ),
                    ));
                }
                if writer.written() - last_report >= PROGRESS_STEP {
                    last_report = writer.written();
                    report("Downloading", Some(last_report));
                }
            }
        }
        let written = writer.written();
        report("Verifying Checksum", None);
        // fsync can take a while: keep it off the async workers.
        tokio::task::spawn_blocking(move || writer.commit())
            .await
            .map_err(|e| registry_err(repo, format!("storing {}: {e}", descriptor.digest)))??;
        report("Download complete", None);
        Ok(Some(written))
    }

    /// GET with the cached authorization, answering a challenge once and following
    /// redirects (blob downloads usually redirect to a CDN, which must not see the token).
    async fn get(
        &self,
        repo: &Repo<'_>,
        url: &str,
        accept: Option<&str>,
    ) -> Result<Response<Incoming>, ImageError> {
        let headers: Vec<(http::HeaderName, &str)> = accept
            .map(|a| vec![(http::header::ACCEPT, a)])
            .unwrap_or_default();
        self.request(repo, http::Method::GET, url, &headers, empty_body)
            .await
    }

    /// Sends `method url` with the cached authorization for the repository, answering a
    /// `401` challenge once (the body is made again by `body` for the retry) and following
    /// redirects of GETs and HEADs without the authorization.
    async fn request(
        &self,
        repo: &Repo<'_>,
        method: http::Method,
        url: &str,
        headers: &[(http::HeaderName, &str)],
        body: impl Fn() -> Body,
    ) -> Result<Response<Incoming>, ImageError> {
        self.request_scoped(repo, method, url, headers, &[], body)
            .await
    }

    /// [`Self::request`], asking a token service for `extra_scopes` too when challenged.
    async fn request_scoped(
        &self,
        repo: &Repo<'_>,
        method: http::Method,
        url: &str,
        headers: &[(http::HeaderName, &str)],
        extra_scopes: &[String],
        body: impl Fn() -> Body,
    ) -> Result<Response<Incoming>, ImageError> {
        let token_key = format!("{}|{}", repo.base, repo.path);
        let mut url = url.to_string();
        // Credentials go only to the registry that asked for them, never to another host an
        // upload's Location names (as the Docker daemon does).
        let mut send_token = same_origin(&url, repo.base);
        let mut challenged = false;
        let follows = method == http::Method::GET || method == http::Method::HEAD;
        for _ in 0..=MAX_REDIRECTS {
            let authorization = if send_token {
                self.tokens
                    .lock()
                    .ok()
                    .and_then(|t| t.get(&token_key).cloned())
            } else {
                None
            };
            let response = self
                .send(
                    repo,
                    method.clone(),
                    &url,
                    headers,
                    authorization.as_deref(),
                    body(),
                )
                .await?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && send_token && !challenged {
                challenged = true;
                let challenge = response
                    .headers()
                    .get(http::header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let authorization = self
                    .answer_challenge(repo, &challenge, extra_scopes)
                    .await?;
                if let Ok(mut tokens) = self.tokens.lock() {
                    tokens.insert(token_key.clone(), authorization);
                }
                continue;
            }
            if follows && status.is_redirection() {
                let location = response
                    .headers()
                    .get(http::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        registry_err(repo, format!("{url}: redirect without a Location"))
                    })?;
                url = resolve_location(&url, location);
                send_token = false;
                continue;
            }
            return Ok(response);
        }
        Err(registry_err(repo, format!("{url}: too many redirects")))
    }

    async fn send(
        &self,
        repo: &Repo<'_>,
        method: http::Method,
        url: &str,
        headers: &[(http::HeaderName, &str)],
        authorization: Option<&str>,
        body: Body,
    ) -> Result<Response<Incoming>, ImageError> {
        let mut request = Request::builder()
            .method(method)
            .uri(url)
            .header(http::header::USER_AGENT, "hoist");
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        if let Some(authorization) = authorization {
            request = request.header(http::header::AUTHORIZATION, authorization);
        }
        let request = request
            .body(body)
            .map_err(|e| registry_err(repo, format!("invalid request URL {url}: {e}")))?;
        self.http
            .request(request)
            .await
            .map_err(|e| registry_err(repo, format!("cannot reach {url}: {}", error_chain(&e))))
    }

    /// The `Authorization` value answering a `WWW-Authenticate` challenge: `Basic` with the
    /// credentials, or a bearer token from the challenge's token service.
    async fn answer_challenge(
        &self,
        repo: &Repo<'_>,
        challenge: &str,
        extra_scopes: &[String],
    ) -> Result<String, ImageError> {
        let lower = challenge.to_ascii_lowercase();
        if lower.starts_with("basic") {
            return match &self.credentials {
                Some(c) if c.username == IDENTITY_TOKEN_USER => Err(registry_err(
                    repo,
                    format!(
                        "the registry asks for a password ({challenge}), but the stored login \
                         is an identity token, which only a token service takes; log in with \
                         a password: {}",
                        login_command(repo)
                    ),
                )),
                Some(c) => Ok(c.basic()),
                None => Err(registry_err(
                    repo,
                    format!(
                        "the registry asks for a password ({challenge}); log in with {}",
                        login_command(repo)
                    ),
                )),
            };
        }
        Ok(format!(
            "Bearer {}",
            self.fetch_token(repo, challenge, extra_scopes).await?
        ))
    }

    /// Answers a `WWW-Authenticate: Bearer realm=…,service=…,scope=…` challenge, with the
    /// credentials when there are some, anonymously otherwise.
    async fn fetch_token(
        &self,
        repo: &Repo<'_>,
        challenge: &str,
        extra_scopes: &[String],
    ) -> Result<String, ImageError> {
        let Some(params) = challenge
            .strip_prefix("Bearer ")
            .or_else(|| challenge.strip_prefix("bearer "))
        else {
            return Err(registry_err(
                repo,
                format!(
                    "the registry requires credentials hoist cannot answer ({})",
                    if challenge.is_empty() {
                        "no challenge"
                    } else {
                        challenge
                    }
                ),
            ));
        };
        let params = parse_challenge(params);
        let realm = params
            .get("realm")
            .ok_or_else(|| registry_err(repo, "bearer challenge without a realm"))?;
        // The challenge names what the request needs, space-separated; a blob mount also
        // needs pull on the repository it mounts from, which a registry may leave out.
        let mut scopes: Vec<String> = params
            .get("scope")
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        if scopes.is_empty() {
            scopes.push(format!("repository:{}:pull", repo.path));
        }
        for extra in extra_scopes {
            if !scopes.contains(extra) {
                scopes.push(extra.clone());
            }
        }
        let scope = scopes.join(" ");
        let service = params.get("service").map(String::as_str);
        let identity_token = self
            .credentials
            .as_ref()
            .filter(|c| c.username == IDENTITY_TOKEN_USER)
            .map(|c| c.password.as_str());
        let mut response = None;
        if let Some(refresh_token) = identity_token {
            // Docker's identity tokens are OAuth2 refresh tokens: POSTed to the realm.
            let mut form = format!(
                "grant_type=refresh_token&client_id=hoist&refresh_token={}&scope={}",
                percent_encode(refresh_token),
                percent_encode(&scope)
            );
            if let Some(service) = service {
                form.push_str(&format!("&service={}", percent_encode(service)));
            }
            let posted = self
                .send(
                    repo,
                    http::Method::POST,
                    realm,
                    &[(
                        http::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )],
                    None,
                    full_body(Bytes::from(form)),
                )
                .await?;
            // A token service without OAuth2 (404) gets the GET below, as Docker does.
            if posted.status() != StatusCode::NOT_FOUND {
                response = Some(posted);
            }
        }
        let response = match response {
            Some(r) => r,
            None => {
                let join = if realm.contains('?') { '&' } else { '?' };
                let mut url = realm.clone();
                for (i, scope) in scopes.iter().enumerate() {
                    let sep = if i == 0 { join } else { '&' };
                    url.push_str(&format!("{sep}scope={}", percent_encode(scope)));
                }
                if let Some(service) = service {
                    url.push_str(&format!("&service={}", percent_encode(service)));
                }
                let basic = self.credentials.as_ref().map(Credentials::basic);
                self.send(
                    repo,
                    http::Method::GET,
                    &url,
                    &[],
                    basic.as_deref(),
                    empty_body(),
                )
                .await?
            }
        };
        let status = response.status();
        if !status.is_success() {
            let login = login_command(repo);
            // A 401 to credentials is about them, not the repository: say whose they were.
            let hint = match &self.credentials {
                Some(c) if status == StatusCode::UNAUTHORIZED => format!(
                    "it rejected the credentials of \"{}\"; log in again with {login}",
                    c.username
                ),
                Some(_) => {
                    "the repository may not exist or the account may not reach it".to_string()
                }
                None => format!(
                    "the repository may not exist or may need credentials; log in with {login}"
                ),
            };
            return Err(registry_err(
                repo,
                format!("the token service {realm} refused a token for {scope} ({status}): {hint}"),
            ));
        }
        let body = http_body_util::Limited::new(response.into_body(), MAX_MANIFEST_BYTES)
            .collect()
            .await
            .map_err(|e| registry_err(repo, format!("reading the token: {e}")))?
            .to_bytes();
        #[derive(Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| registry_err(repo, format!("invalid token response: {e}")))?;
        parsed
            .token
            .or(parsed.access_token)
            .ok_or_else(|| registry_err(repo, "the token service returned no token"))
    }
}

/// Reports `status` (and bytes done) of one layer's transfer as Docker does, under the
/// short id of its digest; configs transfer silently.
fn layer_reporter<'a>(
    descriptor: &'a Descriptor,
    is_layer: bool,
    progress: ProgressSink<'a>,
) -> impl Fn(&str, Option<u64>) + 'a {
    let id = descriptor.digest.hex().chars().take(12).collect::<String>();
    move |status, current| {
        if is_layer {
            progress(ImageProgress::Layer {
                id: Some(id.clone()),
                status: status.to_string(),
                current,
                total: current.map(|_| descriptor.size),
            });
        }
    }
}

fn is_index(media_type: &str, body: &[u8]) -> bool {
    match media_type {
        OCI_INDEX | DOCKER_MANIFEST_LIST => true,
        OCI_MANIFEST | DOCKER_MANIFEST => false,
        // Some registries answer application/json: look at the document itself.
        _ => serde_json::from_slice::<serde_json::Value>(body)
            .map(|v| v.get("manifests").is_some())
            .unwrap_or(false),
    }
}

fn registry_err(repo: &Repo<'_>, message: impl std::fmt::Display) -> ImageError {
    ImageError::Registry {
        reference: repo.reference.clone(),
        message: format!("{} ({})", message, repo.base),
    }
}

fn status_err(repo: &Repo<'_>, url: &str, status: StatusCode) -> ImageError {
    let hint = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => format!(
            ": access denied (the repository may not exist or may need credentials; log in \
             with {})",
            login_command(repo)
        ),
        StatusCode::NOT_FOUND => ": not found".to_string(),
        StatusCode::TOO_MANY_REQUESTS => ": rate limited by the registry, retry later".to_string(),
        _ => String::new(),
    };
    registry_err(repo, format!("GET {url} returned {status}{hint}"))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// `key="value", key=value` pairs of an auth challenge; commas inside quotes are kept
/// (scopes like `repository:x:pull,push`).
fn parse_challenge(params: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = params.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.insert(key, value.to_string());
        rest = remaining.trim_start_matches([',', ' ']);
    }
    out
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `docker login` that stores the credentials hoist would use for `repo`'s registry
/// (they are looked up by its domain, not by a mirror's host).
fn login_command(repo: &Repo<'_>) -> String {
    if repo.domain == DOCKER_HUB {
        "`docker login`".to_string()
    } else {
        format!("`docker login {}`", repo.domain)
    }
}

/// A registry's refusal, with the error it sent (the spec's `errors` JSON) when short.
async fn refusal(
    repo: &Repo<'_>,
    method: &str,
    url: &str,
    response: Response<Incoming>,
) -> ImageError {
    let status = response.status();
    let body = http_body_util::Limited::new(response.into_body(), 64 * 1024)
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).trim().to_string())
        .unwrap_or_default();
    let hint = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => format!(
            ": access denied (log in with {}, or check the repository name)",
            login_command(repo)
        ),
        _ => String::new(),
    };
    let detail = if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    };
    registry_err(
        repo,
        format!("{method} {url} returned {status}{hint}{detail}"),
    )
}

/// Re-hashes a stored blob before it leaves the machine.
fn verify_file(path: &std::path::Path, digest: &Digest) -> Result<(), ImageError> {
    use sha2::Digest as _;
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).map_err(|e| ImageError::Store {
        path: path.to_path_buf(),
        message: format!("cannot open blob: {e}"),
    })?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(|e| ImageError::Store {
            path: path.to_path_buf(),
            message: format!("cannot read blob: {e}"),
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let actual = Digest::from_hasher(hasher);
    if &actual != digest {
        return Err(ImageError::DigestMismatch {
            what: format!("stored blob {}", path.display()),
            expected: digest.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

/// A blob file streamed as a request body; `sent` counts the bytes handed to the
/// connection (for progress).
fn file_body(path: std::path::PathBuf, sent: std::sync::Arc<std::sync::atomic::AtomicU64>) -> Body {
    use tokio::io::AsyncReadExt as _;
    let chunks = stream::unfold(
        (None::<tokio::fs::File>, path, sent, false),
        |(file, path, sent, done)| async move {
            if done {
                return None;
            }
            let mut file = match file {
                Some(f) => f,
                None => match tokio::fs::File::open(&path).await {
                    Ok(f) => f,
                    Err(e) => return Some((Err(e), (None, path, sent, true))),
                },
            };
            let mut buf = vec![0u8; 256 * 1024];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    sent.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                    Some((
                        Ok(hyper::body::Frame::data(Bytes::from(buf))),
                        (Some(file), path, sent, false),
                    ))
                }
                Err(e) => Some((Err(e), (Some(file), path, sent, true))),
            }
        },
    );
    BodyExt::boxed(StreamBody::new(chunks))
}

/// Where a monolithic upload's `PUT` goes: the session's `Location` (absolute, or relative
/// to the uploads URL) with the blob's digest added to its query.
fn upload_url(uploads: &str, location: &str, digest: &Digest) -> String {
    let mut url = resolve_location(uploads, location);
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(&format!("digest={}", percent_encode(&digest.to_string())));
    url
}

/// Whether `url` has the scheme, host and port of `base`.
fn same_origin(url: &str, base: &str) -> bool {
    let origin = |u: &str| {
        u.parse::<http::Uri>()
            .ok()
            .map(|u| (u.scheme_str().map(str::to_string), u.authority().cloned()))
    };
    matches!((origin(url), origin(base)), (Some(a), Some(b)) if a == b)
}

/// A redirect target, absolute or relative to `base`.
pub(crate) fn resolve_location(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_string();
    }
    let origin_end = base
        .find("://")
        .and_then(|i| base[i + 3..].find('/').map(|j| i + 3 + j))
        .unwrap_or(base.len());
    if location.starts_with('/') {
        format!("{}{location}", &base[..origin_end])
    } else {
        let dir_end = base
            .rfind('/')
            .filter(|&i| i >= origin_end)
            .unwrap_or(origin_end);
        format!("{}/{location}", &base[..dir_end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_listed_registries_use_plain_http() {
        let config = RegistryConfig {
            insecure: vec!["10.1.2.3:5000".to_string()],
            mirrors: BTreeMap::new(),
        };
        for host in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.9.9.9",
            "[::1]:5000",
            "10.1.2.3:5000",
        ] {
            assert!(config.is_insecure(host), "{host}");
        }
        for host in ["docker.io", "ghcr.io", "10.1.2.3", "localhost.example.com"] {
            assert!(!config.is_insecure(host), "{host}");
        }
        assert_eq!(
            config.endpoints("docker.io"),
            vec!["https://registry-1.docker.io"]
        );
        assert_eq!(
            config.endpoints("127.0.0.1:5000"),
            vec!["http://127.0.0.1:5000"]
        );
    }

    #[test]
    fn mirrors_come_before_the_registry() {
        let config = RegistryConfig {
            insecure: vec![],
            mirrors: parse_mirrors("https://m1.example/, ghcr.io=http://10.0.0.5:5000").unwrap(),
        };
        assert_eq!(
            config.endpoints("docker.io"),
            vec!["https://m1.example", "https://registry-1.docker.io"]
        );
        assert_eq!(
            config.endpoints("ghcr.io"),
            vec!["http://10.0.0.5:5000", "https://ghcr.io"]
        );
        assert!(parse_mirrors("m1.example").is_err());
    }

    #[test]
    fn bearer_challenges_are_parsed_with_quoted_commas() {
        let p = parse_challenge(
            r#"realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/node:pull,push""#,
        );
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
        assert_eq!(p["scope"], "repository:library/node:pull,push");
        assert_eq!(
            percent_encode("repository:a/b:pull"),
            "repository%3Aa%2Fb%3Apull"
        );
    }

    #[test]
    fn credentials_go_only_to_the_registrys_own_origin() {
        let base = "http://127.0.0.1:5000";
        assert!(same_origin(
            "http://127.0.0.1:5000/v2/a/blobs/uploads/x?_state=1",
            base
        ));
        assert!(!same_origin(
            "http://127.0.0.1:5001/v2/a/blobs/uploads/x",
            base
        ));
        assert!(!same_origin("https://127.0.0.1:5000/v2/", base));
        assert!(!same_origin("http://storage.example/upload", base));
    }

    #[test]
    fn login_hints_name_the_registry_whose_login_is_used() {
        let repo = |base, domain| Repo {
            base,
            path: "a/b",
            domain,
            reference: String::new(),
        };
        assert_eq!(
            login_command(&repo("https://registry-1.docker.io", DOCKER_HUB)),
            "`docker login`"
        );
        // A mirror serves the pull, but the login is the mirrored registry's.
        assert_eq!(
            login_command(&repo("http://10.0.0.5:5000", "ghcr.io")),
            "`docker login ghcr.io`"
        );
    }

    #[test]
    fn redirects_resolve_against_the_request_url() {
        let base = "http://127.0.0.1:5000/v2/a/blobs/sha256:x";
        assert_eq!(resolve_location(base, "https://cdn/x"), "https://cdn/x");
        assert_eq!(
            resolve_location(base, "/other"),
            "http://127.0.0.1:5000/other"
        );
        assert_eq!(
            resolve_location(base, "y"),
            "http://127.0.0.1:5000/v2/a/blobs/y"
        );
    }

    #[test]
    fn upload_locations_keep_their_query_and_get_the_digest() {
        let uploads = "http://127.0.0.1:5000/v2/a/b/blobs/uploads/";
        let digest = Digest::of(b"x");
        let encoded = percent_encode(&digest.to_string());
        assert_eq!(
            upload_url(uploads, "/v2/a/b/blobs/uploads/u1?_state=s", &digest),
            format!("http://127.0.0.1:5000/v2/a/b/blobs/uploads/u1?_state=s&digest={encoded}")
        );
        assert_eq!(
            upload_url(uploads, "https://store.example/up/u2", &digest),
            format!("https://store.example/up/u2?digest={encoded}")
        );
        assert_eq!(
            upload_url(uploads, "u3", &digest),
            format!("http://127.0.0.1:5000/v2/a/b/blobs/uploads/u3?digest={encoded}")
        );
    }

    #[test]
    fn indexes_are_recognised_by_media_type_or_shape() {
        assert!(is_index(OCI_INDEX, b"{}"));
        assert!(!is_index(DOCKER_MANIFEST, br#"{"manifests":[]}"#));
        assert!(is_index("application/json", br#"{"manifests":[]}"#));
        assert!(!is_index("application/json", br#"{"layers":[]}"#));
    }
}
