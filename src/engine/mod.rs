//! The engine: a loaded compose project (desired state) against the containers, networks and
//! volumes a runtime reports (observed state, found through compose labels) gives a plan of
//! actions; applying it drives the [`crate::runtime::Runtime`] in dependency order with
//! bounded parallelism, and reports progress as [`progress::ProgressEvent`]s.
//!
//! Not for: printing (the `ui` module renders events), parsing compose files, or knowing
//! which backend it drives.

pub mod convert;
pub mod labels;
pub mod progress;
