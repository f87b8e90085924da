//! nspsim's command line and scenario runner, as a library so tests drive it in-process.
//!
//! - [`cli`]: the `run`, `replay`, `check` and `providers` subcommands and their exit codes.
//! - [`lifecycle`]: the lifecycle printout.
//! - [`render`]: scenario errors with the offending line and a caret.

pub mod cli;
pub mod lifecycle;
pub mod render;
