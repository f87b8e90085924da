//! nspsim's command line and scenario runner, as a library so tests drive it in-process.
//!
//! - [`cli`]: the `run`, `replay`, `check`, `explore` and `providers` subcommands and their
//!   exit codes.
//! - [`explore`]: many seeds with faults, crash points, shrinking.
//! - [`fuzzing`]: the bodies of the fuzz targets in `sim-tests/fuzz/`.
//! - [`lifecycle`]: the lifecycle printout.
//! - [`render`]: pictures of a trace (HTML report, Mermaid, Perfetto) and the words for an
//!   event that the printout shares.
//! - [`diagnostics`]: scenario errors with the offending line and a caret.
//! - [`runs`]: a run as a trace: its header, and a whole run recorded in memory.

pub mod cli;
pub mod diagnostics;
pub mod explore;
pub mod fuzzing;
pub mod lifecycle;
pub mod render;
pub mod runs;
