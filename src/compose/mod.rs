//! The Compose loader: compose files, `.env` and the process environment in, one validated,
//! normalized [`model::Project`] out. Pure and synchronous: it reads files and the
//! environment, and knows nothing about container runtimes.
//!
//! Passes, in order: [`discover`] (files, environment, name), [`yaml`] (parse with positions),
//! [`interpolate_tree`], `include` and `extends` ([`load`]), [`merge`], [`de`] (into the typed
//! [`model`]), [`extensions`], [`profiles`], [`normalize`], [`environment`], [`validate`].

pub mod de;
pub mod discover;
pub mod dotenv;
pub mod environment;
pub mod error;
pub mod extensions;
pub mod interpolate;
pub mod interpolate_tree;
pub mod load;
pub mod merge;
pub mod model;
pub mod normalize;
pub mod profiles;
pub mod validate;
pub mod variables;
pub mod yaml;

pub use load::{load, LoadOptions, Loaded};
