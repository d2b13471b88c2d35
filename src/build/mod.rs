//! Image builds: turning a build context directory into what a builder consumes.
//!
//! [`context`] packs a context directory into the tar a Docker engine (or hoist's native
//! builder) reads, honouring `.dockerignore` with Docker's exact pattern semantics; its
//! [`context::DockerIgnore`] is reusable wherever ignore rules apply (native `COPY`, watch).
//!
//! Not for: the compose model (the engine's `convert` turns `build:` into a
//! [`crate::runtime::BuildSpec`]), nor the CLI.

pub mod cache;
pub mod config;
pub mod context;
pub mod copy;
pub mod dockerfile;
pub mod fetch;
pub mod git;
pub mod layer;
pub mod lower;
pub mod mounts;
pub mod native;
