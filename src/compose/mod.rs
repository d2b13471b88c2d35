//! The Compose loader: compose files, `.env` and the process environment in, one validated,
//! normalized [`model::Project`] out. Pure and synchronous: it reads files and the
//! environment, and knows nothing about container runtimes.

pub mod model;
pub mod normalize;
