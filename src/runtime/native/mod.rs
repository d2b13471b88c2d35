//! The bundled native runtime (DESIGN.md section 5), [`NativeRuntime`]. Its image store:
//! parsing and normalizing references ([`reference`]), a content-addressed blob store with
//! image records in an embedded transactional database ([`store`]), an OCI distribution
//! client that pulls into it ([`registry`]), layer unpacking that refuses path traversal
//! ([`unpack`]), rootfs imports ([`import`]), `docker save` / OCI archives ([`archive`]) and
//! reclaiming unreferenced content ([`prune`]). Its containers: overlay snapshots
//! ([`snapshot`]), the OCI spec ([`spec`]), network namespace files ([`netns`]), records and
//! process state ([`state`]), the lifecycle ([`containers`]), the per-container monitor that
//! drives libcontainer ([`monitor`]) and a TTY container's terminal ([`console`]), log reading ([`logs`]), events ([`events`]) and direct
//! writes into running containers for watch ([`direct`]). Its networking ([`net`]): bridges,
//! veths into container namespaces, IPAM, iptables rules, hosts files and published ports.
//!
//! Not for: compose files (nothing here knows about them), nor bridges and addresses (the
//! networking module configures the namespaces made here).

pub mod archive;
pub mod cgroup;
pub mod console;
pub mod containers;
pub mod copy;
pub mod devices;
pub mod digest;
pub mod direct;
pub mod events;
pub mod exec;
pub mod health;
pub mod import;
pub mod init;
pub mod logs;
pub mod monitor;
pub mod net;
pub mod netns;
pub mod oci;
pub mod prune;
pub mod reference;
pub mod registry;
pub mod runtime;
pub mod seccomp;
pub mod snapshot;
pub mod spec;
pub mod state;
pub mod store;
pub mod unpack;
pub mod wait;
pub mod wiring;

pub use runtime::NativeRuntime;

use std::fmt;
use std::path::PathBuf;

use super::{ObjectKind, RuntimeError};

/// Everything that can go wrong while resolving, pulling, storing or unpacking an image.
#[derive(Debug)]
pub enum ImageError {
    /// The image reference (or a digest inside it) does not follow Docker's grammar.
    InvalidReference { reference: String, reason: String },
    /// Content did not hash to the digest it was fetched or stored under.
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    /// The registry answered with an error, or could not be reached.
    Registry { reference: String, message: String },
    /// The local content store or its database failed on `path`.
    Store { path: PathBuf, message: String },
    /// A layer could not be applied onto `path` (I/O on the target, a corrupt archive).
    Unpack { path: PathBuf, message: String },
    /// The image is not in the local store.
    NotFound { reference: String },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::InvalidReference { reference, reason } => {
                write!(f, "invalid reference format \"{reference}\": {reason}")
            }
            ImageError::DigestMismatch {
                what,
                expected,
                actual,
            } => write!(
                f,
                "{what}: digest mismatch, expected {expected} but the content hashes to {actual}"
            ),
            ImageError::Registry { reference, message } => {
                write!(f, "registry error for \"{reference}\": {message}")
            }
            ImageError::Store { path, message } => {
                write!(f, "image store at {}: {message}", path.display())
            }
            ImageError::Unpack { path, message } => {
                write!(f, "unpacking a layer into {}: {message}", path.display())
            }
            ImageError::NotFound { reference } => {
                write!(f, "image \"{reference}\" not found in the local store")
            }
        }
    }
}

impl std::error::Error for ImageError {}

impl From<ImageError> for RuntimeError {
    fn from(e: ImageError) -> Self {
        match e {
            ImageError::NotFound { reference } => RuntimeError::NotFound {
                kind: ObjectKind::Image,
                name: reference,
            },
            ImageError::Registry { ref reference, .. }
            | ImageError::InvalidReference { ref reference, .. } => RuntimeError::RegistryFailed {
                reference: reference.clone(),
                message: e.to_string(),
            },
            other => RuntimeError::Other {
                operation: "image".to_string(),
                message: other.to_string(),
            },
        }
    }
}
