//! `ADD <url>`: downloading a source over HTTP(S) with the same hyper/rustls client stack
//! as the registry code, following redirects, verifying `--checksum=sha256:...`, and keeping
//! the server's `Last-Modified` for the file's mtime (as Docker does).
//!
//! Not for: deciding where the file lands or its mode (see [`super::copy`]).

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_rustls::HttpsConnectorBuilder;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest as _, Sha256};

use crate::runtime::native::digest::Digest;
use crate::runtime::native::registry::resolve_location;

const MAX_REDIRECTS: usize = 10;
const TIMEOUT: Duration = Duration::from_secs(300);

/// What a download produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// sha256 of the body.
    pub digest: Digest,
    /// `Last-Modified`, when the server sent a valid one.
    pub mtime: Option<SystemTime>,
}

/// Downloads `url` into `dest` (created); checks the body against `checksum`
/// (`sha256:<hex>`) when given. Errors name the URL and what went wrong.
pub fn download(url: &str, dest: &Path, checksum: Option<&str>) -> Result<Download, String> {
    let expected = match checksum {
        None => None,
        Some(c) => Some(c.parse::<Digest>().map_err(|e| {
            format!("invalid --checksum={c} ({e}): expected sha256:<64 hex digits>")
        })?),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
    let result = rt.block_on(async {
        tokio::time::timeout(TIMEOUT, fetch(url, dest))
            .await
            .unwrap_or_else(|_| Err(format!("{url}: no complete answer in {TIMEOUT:?}")))
    })?;
    if let Some(expected) = expected {
        if expected != result.digest {
            let _ = std::fs::remove_file(dest);
            return Err(format!(
                "{url}: checksum mismatch: the download is {}, --checksum wants {expected}",
                result.digest
            ));
        }
    }
    Ok(result)
}

async fn fetch(url: &str, dest: &Path) -> Result<Download, String> {
    let connector = HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let mut current = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let uri: http::Uri = current
            .parse()
            .map_err(|e| format!("{current}: not a valid URL ({e})"))?;
        let request = http::Request::get(uri)
            .header(http::header::USER_AGENT, "hoist-builder")
            .body(Empty::new())
            .map_err(|e| format!("{current}: {e}"))?;
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("{current}: cannot fetch: {e}"))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| format!("{current}: redirect without a Location"))?;
            current = resolve_location(&current, location);
            continue;
        }
        if !status.is_success() {
            return Err(format!("{current}: the server answered {status}"));
        }
        let mtime = response
            .headers()
            .get(http::header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_http_date);
        let mut file =
            File::create(dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
        let mut hasher = Sha256::new();
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("{current}: download interrupted: {e}"))?;
            if let Ok(data) = frame.into_data() {
                hasher.update(&data);
                file.write_all(&data)
                    .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
            }
        }
        return Ok(Download {
            digest: Digest::from_hasher(hasher),
            mtime,
        });
    }
    Err(format!("{url}: too many redirects"))
}

/// An HTTP date (`Tue, 01 Dec 2026 12:00:00 GMT`).
fn parse_http_date(value: &str) -> Option<SystemTime> {
    let parsed = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    Some(SystemTime::from(parsed.with_timezone(&chrono::Utc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse_and_garbage_does_not() {
        let t = parse_http_date("Tue, 01 Dec 2026 12:00:00 GMT").unwrap();
        let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs, 1_796_126_400);
        assert_eq!(parse_http_date("yesterday"), None);
    }
}
