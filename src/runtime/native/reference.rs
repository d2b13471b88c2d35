//! Image references, parsed and normalized exactly as Docker does
//! (`github.com/distribution/reference`, `ParseNormalizedNamed` + `TagNameOnly`):
//! `node` -> `docker.io/library/node:latest`, `localhost:5000/x:tag`,
//! `127.0.0.1:5000/a/b@sha256:…`, and `name:tag@digest` (the digest wins when pulling).
//!
//! Not for: resolving where a registry lives (mirrors, plain HTTP): see [`super::registry`].

use std::fmt;
use std::sync::OnceLock;

use regex::Regex;

use super::digest::Digest;
use super::ImageError;

/// Docker Hub's canonical domain, as it appears in normalized references.
pub const DOCKER_HUB: &str = "docker.io";
const LEGACY_DOCKER_HUB: &str = "index.docker.io";
const MAX_NAME_LEN: usize = 255;

/// A normalized image reference: a registry domain, a repository path, and a tag and/or a
/// digest (a reference without either gets the tag `latest`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses `input` as `docker pull` would, normalizing Docker Hub short names.
    pub fn parse(input: &str) -> Result<Reference, ImageError> {
        let invalid = |reason: String| ImageError::InvalidReference {
            reference: input.to_string(),
            reason,
        };
        if input.len() == 64
            && input
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(invalid(
                "a 64-character hexadecimal string is an image id, not a repository name"
                    .to_string(),
            ));
        }
        let (domain, remainder) = split_domain(input);
        let remote_name = remainder
            .split_once(':')
            .map_or(remainder.as_str(), |(n, _)| n);
        let remote_name = remote_name.split_once('@').map_or(remote_name, |(n, _)| n);
        if remote_name.to_lowercase() != remote_name {
            return Err(invalid(format!(
                "repository name ({remote_name}) must be lowercase"
            )));
        }
        let full = format!("{domain}/{remainder}");
        let caps = reference_regex().captures(&full).ok_or_else(|| {
            invalid(if input.is_empty() {
                "repository name must have at least one component".to_string()
            } else {
                "it must look like [registry[:port]/]name[:tag][@sha256:digest], with a \
                 lowercase name"
                    .to_string()
            })
        })?;
        let parsed_domain = caps.get(1).map_or("", |m| m.as_str());
        if parsed_domain != domain {
            return Err(invalid(format!(
                "\"{domain}\" is not a valid registry host"
            )));
        }
        let path = caps.get(2).map_or("", |m| m.as_str()).to_string();
        if domain.len() + 1 + path.len() > MAX_NAME_LEN {
            return Err(invalid(format!(
                "repository name must not be more than {MAX_NAME_LEN} characters"
            )));
        }
        let digest = match caps.get(4) {
            Some(d) => Some(d.as_str().parse::<Digest>().map_err(|e| match e {
                ImageError::InvalidReference { reason, .. } => invalid(reason),
                other => other,
            })?),
            None => None,
        };
        let mut tag = caps.get(3).map(|t| t.as_str().to_string());
        if tag.is_none() && digest.is_none() {
            tag = Some("latest".to_string());
        }
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// The registry domain as written in the reference (`docker.io`, `localhost:5000`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path inside the registry (`library/node`).
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `domain/path`, without tag or digest (`docker.io/library/node`).
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// What to ask the registry's manifest endpoint for: the digest when there is one (it
    /// pins the content), else the tag.
    pub fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// The same repository pinned to `digest` (drops the tag).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: Some(digest),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = ImageError;
    fn from_str(s: &str) -> Result<Reference, ImageError> {
        Reference::parse(s)
    }
}

/// Docker's `splitDockerDomain`: the first component is a registry only when it looks like
/// one (has a `.` or a `:`, or is `localhost`, or has uppercase letters).
fn split_domain(input: &str) -> (String, String) {
    let (mut domain, mut remainder) = match input.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DOCKER_HUB.to_string(), input.to_string()),
    };
    if domain == LEGACY_DOCKER_HUB {
        domain = DOCKER_HUB.to_string();
    }
    if domain == DOCKER_HUB && !remainder.contains('/') {
        remainder = format!("library/{remainder}");
    }
    (domain, remainder)
}

/// `distribution/reference`'s `ReferenceRegexp`, anchored:
/// (domain/)?(path)(:tag)?(@digest)?.
fn reference_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let alnum = "[a-z0-9]+";
        let separator = "(?:[._]|__|[-]+)";
        let component = format!("{alnum}(?:{separator}{alnum})*");
        let domain_component = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
        let host = format!(r"(?:{domain_component}(?:\.{domain_component})*|\[[a-fA-F0-9:]+\])");
        let domain = format!("{host}(?::[0-9]+)?");
        let path = format!("{component}(?:/{component})*");
        let tag = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
        let digest = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
        // The pattern is a constant; a failure here is a bug caught by every test.
        Regex::new(&format!(
            "^(?:({domain})/)?({path})(?::({tag}))?(?:@({digest}))?$"
        ))
        .expect("the reference grammar is a valid regex")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn references_normalize_like_docker() {
        let cases = [
            ("node", "docker.io/library/node:latest"),
            ("node:18-alpine", "docker.io/library/node:18-alpine"),
            ("library/node", "docker.io/library/node:latest"),
            ("bitnami/redis:7.2", "docker.io/bitnami/redis:7.2"),
            ("docker.io/node", "docker.io/library/node:latest"),
            ("index.docker.io/library/node:1", "docker.io/library/node:1"),
            ("localhost/x", "localhost/x:latest"),
            ("localhost:5000/x:tag", "localhost:5000/x:tag"),
            ("ghcr.io/owner/repo/sub:v1.0", "ghcr.io/owner/repo/sub:v1.0"),
            ("a__b/c-d---e.f_g", "docker.io/a__b/c-d---e.f_g:latest"),
            ("[::1]:5000/x", "[::1]:5000/x:latest"),
            ("node:Latest_Tag", "docker.io/library/node:Latest_Tag"),
        ];
        for (input, want) in cases {
            let got = Reference::parse(input).map(|r| r.to_string());
            assert_eq!(got.ok().as_deref(), Some(want), "{input}");
        }
        let pinned = Reference::parse(&format!("127.0.0.1:5000/a/b@{D}")).unwrap();
        assert_eq!(pinned.domain(), "127.0.0.1:5000");
        assert_eq!(pinned.path(), "a/b");
        assert_eq!(pinned.tag(), None);
        assert_eq!(pinned.manifest_ref(), D);
        assert_eq!(pinned.to_string(), format!("127.0.0.1:5000/a/b@{D}"));

        let both = Reference::parse(&format!("node:18@{D}")).unwrap();
        assert_eq!(both.to_string(), format!("docker.io/library/node:18@{D}"));
        assert_eq!(both.manifest_ref(), D, "the digest wins over the tag");
        assert_eq!(both.name(), "docker.io/library/node");
    }

    #[test]
    fn invalid_references_are_rejected_with_a_reason() {
        let cases = [
            ("", "at least one component"),
            ("Node", "must be lowercase"),
            ("docker.io/Library/node", "must be lowercase"),
            ("node:", "must look like"),
            ("node:-bad", "must look like"),
            ("node@sha256:abc", "must look like"),
            (&"a".repeat(64), "image id"),
            ("-node", "must look like"),
            ("node..x", "must look like"),
            ("registry:5000/", "must look like"),
            ("bad_host.io/x", "not a valid registry host"),
            ("a/b//c", "must look like"),
            ("node:tag with space", "must look like"),
            (
                "node@sha512:0123456789abcdef0123456789abcdef",
                "only sha256",
            ),
            (
                &format!("node@sha256:{}", "a".repeat(63)),
                "64 lowercase hex",
            ),
        ];
        for (input, reason) in cases {
            match Reference::parse(input) {
                Ok(r) => panic!("{input:?} parsed as {r}"),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains(reason), "{input:?}: {msg}");
                    assert!(msg.starts_with("invalid reference format"), "{msg}");
                }
            }
        }
        let long = format!("x/{}", "a".repeat(300));
        assert!(Reference::parse(&long)
            .unwrap_err()
            .to_string()
            .contains("255"));
    }
}
