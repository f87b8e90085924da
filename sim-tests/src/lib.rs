//! nspsim's command line and scenario runner, as a library so tests drive it in-process.
//!
//! - [`cli`]: the `run`, `replay`, `check`, `explore` and `providers` subcommands and their
//!   exit codes.
//! - [`explore`]: many seeds with faults, crash points, shrinking.
//! - [`fuzzing`]: the bodies of the fuzz targets in `sim-tests/fuzz/`.
//! - [`lifecycle`]: the lifecycle printout.
//! - [`render`]: scenario errors with the offending line and a caret.

pub mod cli;
pub mod explore;
pub mod fuzzing;
pub mod lifecycle;
pub mod render;
