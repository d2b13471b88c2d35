//! An OCI distribution (Docker registry v2) client that pulls images into the
//! [`ImageStore`]: manifests (OCI index, Docker manifest list, OCI and Docker v2 manifests),
//! the host platform picked from an index, anonymous bearer-token auth, digest-verified
//! blobs, layers fetched concurrently with progress.
//!
//! Where a registry lives: `docker.io` is served by `registry-1.docker.io`; registries on
//! `localhost`, `127.0.0.0/8` or `::1`, and those listed in `HOIST_REGISTRY_INSECURE`
//! (comma-separated hosts), are spoken to over plain HTTP, everything else over HTTPS.
//! `HOIST_REGISTRY_MIRRORS` lists mirrors tried before the registry itself, comma-separated:
//! `https://mirror.example` (a Docker Hub mirror, like Docker's `registry-mirrors`) or
//! `ghcr.io=http://10.0.0.5:5000` (a mirror of another registry).
//!
//! Not for: credentials (only anonymous pulls for now), pushes, or reference parsing
//! (see [`super::reference`]).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use http_body_util::{BodyExt, Empty};
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

/// A registry client; cheap to share, holds a connection pool and tokens.
pub struct RegistryClient {
    http: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    config: RegistryConfig,
    /// Bearer tokens by `base|repository`.
    tokens: Mutex<HashMap<String, String>>,
}

/// One repository on one endpoint (the registry or a mirror).
struct Repo<'a> {
    base: &'a str,
    path: &'a str,
    /// For error messages.
    reference: String,
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
            tokens: Mutex::new(HashMap::new()),
        }
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
        let id = descriptor.digest.hex().chars().take(12).collect::<String>();
        let report = |status: &str, current: Option<u64>| {
            if is_layer {
                progress(ImageProgress::Layer {
                    id: Some(id.clone()),
                    status: status.to_string(),
                    current,
                    total: current.map(|_| descriptor.size),
                });
            }
        };
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

    /// GET with the cached token, answering a bearer challenge once and following
    /// redirects (blob downloads usually redirect to a CDN, which must not see the token).
    async fn get(
        &self,
        repo: &Repo<'_>,
        url: &str,
        accept: Option<&str>,
    ) -> Result<Response<Incoming>, ImageError> {
        let token_key = format!("{}|{}", repo.base, repo.path);
        let mut url = url.to_string();
        let mut send_token = true;
        let mut challenged = false;
        for _ in 0..=MAX_REDIRECTS {
            let token = if send_token {
                self.tokens
                    .lock()
                    .ok()
                    .and_then(|t| t.get(&token_key).cloned())
            } else {
                None
            };
            let response = self.send(repo, &url, accept, token.as_deref()).await?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && send_token && !challenged {
                challenged = true;
                let challenge = response
                    .headers()
                    .get(http::header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let token = self.fetch_token(repo, &challenge).await?;
                if let Ok(mut tokens) = self.tokens.lock() {
                    tokens.insert(token_key.clone(), token);
                }
                continue;
            }
            if status.is_redirection() {
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
        url: &str,
        accept: Option<&str>,
        token: Option<&str>,
    ) -> Result<Response<Incoming>, ImageError> {
        let mut request = Request::get(url).header(http::header::USER_AGENT, "hoist");
        if let Some(accept) = accept {
            request = request.header(http::header::ACCEPT, accept);
        }
        if let Some(token) = token {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| registry_err(repo, format!("invalid request URL {url}: {e}")))?;
        self.http
            .request(request)
            .await
            .map_err(|e| registry_err(repo, format!("cannot reach {url}: {}", error_chain(&e))))
    }

    /// Answers a `WWW-Authenticate: Bearer realm=…,service=…,scope=…` challenge anonymously.
    async fn fetch_token(&self, repo: &Repo<'_>, challenge: &str) -> Result<String, ImageError> {
        let Some(params) = challenge
            .strip_prefix("Bearer ")
            .or_else(|| challenge.strip_prefix("bearer "))
        else {
            return Err(registry_err(
                repo,
                format!(
                    "the registry requires credentials ({}); hoist pulls anonymously for now",
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
        let scope = params
            .get("scope")
            .cloned()
            .unwrap_or_else(|| format!("repository:{}:pull", repo.path));
        let mut url = format!("{realm}?scope={}", percent_encode(&scope));
        if let Some(service) = params.get("service") {
            url.push_str(&format!("&service={}", percent_encode(service)));
        }
        let response = self.send(repo, &url, None, None).await?;
        if !response.status().is_success() {
            return Err(registry_err(
                repo,
                format!(
                    "the token service {realm} refused an anonymous token ({}): the repository \
                     may not exist or may need credentials",
                    response.status()
                ),
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
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            ": access denied (the repository may not exist or may need credentials)"
        }
        StatusCode::NOT_FOUND => ": not found",
        StatusCode::TOO_MANY_REQUESTS => ": rate limited by the registry, retry later",
        _ => "",
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
    fn indexes_are_recognised_by_media_type_or_shape() {
        assert!(is_index(OCI_INDEX, b"{}"));
        assert!(!is_index(DOCKER_MANIFEST, br#"{"manifests":[]}"#));
        assert!(is_index("application/json", br#"{"manifests":[]}"#));
        assert!(!is_index("application/json", br#"{"layers":[]}"#));
    }
}
