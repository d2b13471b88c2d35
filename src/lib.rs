//! hoist: a compose-first multi-container orchestrator.
//!
//! The pipeline is `cli -> compose::load -> graph -> engine -> runtime`. This library holds
//! every layer; `main.rs` only hands the process arguments to [`cli::main`].

pub mod build;
pub mod cli;
pub mod compose;
pub mod engine;
pub mod graph;
pub mod runtime;
pub mod ui;
pub mod watch;
