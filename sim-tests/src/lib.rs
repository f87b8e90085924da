//! nspsim as a library: run your own Rust NSPv2 provider through Ws2_32's lifecycles from
//! `cargo test`, the way shuttle, loom and proptest run your code: explore interleavings and
//! faults, and on a failure get back a shrunk trace and the command that replays it.
//!
//! Your provider crate depends on `nspsim-core` only (the provider trait, the Winsock types,
//! the kind registry); your tests add `nspsim` as a dev-dependency. The API is at the crate
//! root:
//!
//! - [`Scenario`]: a scenario file ([`Scenario::from_file`]), TOML text or a
//!   [`ScenarioBuilder`], with your kinds ([`Scenario::with_kind`]); validated exactly as
//!   `nspsim run` validates a file.
//! - [`explore()`]: many seeds, faults, shrinking, regression seeds kept in a file you commit;
//!   [`Explore::check`] panics with the rule, the message, the shrunk trace and `nspsim replay`.
//! - [`run()`], [`live()`], [`crash_points()`], [`replay()`], [`check_trace()`]: each returns values a
//!   test asserts on (reports, violations, traces).
//! - [`cli::main_with`]: your own `nspsim` binary, with your kinds registered.
//!
//! # Example
//!
//! A provider whose directory is empty, checked over 200 seeds with every fault:
//!
//! ```
//! use nspsim::{Faults, Scenario};
//! use nspsim_core::registry::{OptionDoc, ProviderKind};
//! use nspsim_core::{
//!     AsyncCall, LupFlags, NspContext, NspResult, NspV2Provider, ProviderLookup, QuerySet,
//!     RoutineTable, SessionArg, WsaError,
//! };
//!
//! struct Empty;
//!
//! impl NspV2Provider for Empty {
//!     fn routine_table(&self) -> RoutineTable {
//!         RoutineTable::required_only()
//!     }
//!     fn lookup_service_begin(&mut self, _: &mut NspContext, _: &QuerySet, _: LupFlags,
//!                             _: Option<SessionArg>) -> NspResult<ProviderLookup> {
//!         Ok(ProviderLookup(1))
//!     }
//!     fn lookup_service_next_ex(&mut self, ctx: &mut NspContext, call: AsyncCall,
//!                               _: ProviderLookup, _: LupFlags, _: u32) {
//!         ctx.complete_async_call(call, Err(WsaError::E_NO_MORE));
//!     }
//!     fn lookup_service_end(&mut self, _: &mut NspContext, _: ProviderLookup) -> NspResult<()> {
//!         Ok(())
//!     }
//! }
//!
//! struct EmptyKind;
//!
//! impl ProviderKind for EmptyKind {
//!     fn name(&self) -> &'static str { "empty" }
//!     fn summary(&self) -> &'static str { "a directory with no entries" }
//!     fn options(&self) -> &'static [OptionDoc] { &[] }
//!     fn validate(&self, _: &serde_json::Value) -> Result<(), String> { Ok(()) }
//!     fn build(&self, _: &serde_json::Value) -> Result<Box<dyn NspV2Provider>, String> {
//!         Ok(Box::new(Empty))
//!     }
//! }
//!
//! let scenario = Scenario::from_toml("empty.toml", r#"
//!     name = "empty"
//!     [[provider]]
//!     id = "6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60"
//!     name = "nothing"
//!     namespace = "NS_EMAIL"
//!     kind = "empty"
//!     [[process]]
//!     name = "client"
//!     steps = [ { op = "startup" },
//!               { op = "lookup", namespace = "NS_EMAIL", name = "alice@example.com" },
//!               { op = "cleanup" }, { op = "exit" } ]
//! "#)
//! .with_kind(EmptyKind);
//!
//! // One run: its trace and the violations the checker found.
//! let outcome = nspsim::run(&scenario).seed(7).run().expect("the scenario loads");
//! assert!(outcome.passed(), "{:?}", outcome.violations);
//! assert!(outcome.trace.contains("NSPv2LookupServiceBegin"));
//!
//! // Many seeds with faults; panics with a shrunk trace if one fails.
//! nspsim::explore(&scenario).seeds(0..200).faults(Faults::all()).check();
//! ```
//!
//! The modules below the API are nspsim's own machinery (the command line, exploration,
//! rendering), public for its tests and tools; the crate-root items are the API to build on:
//!
//! - [`cli`]: the `run`, `replay`, `check`, `explore` and `providers` subcommands and their
//!   exit codes.
//! - [`mod@explore`]: many seeds with faults, crash points, shrinking.
//! - [`fuzzing`]: the bodies of the fuzz targets in `sim-tests/fuzz/`.
//! - [`lifecycle`]: the lifecycle printout.
//! - [`render`]: pictures of a trace (HTML report, Mermaid, Perfetto) and the words for an
//!   event that the printout shares.
//! - [`diagnostics`]: scenario errors with the offending line and a caret.
//! - [`runs`]: a run as a trace: its header, and a whole run recorded in memory.

mod api;
mod app;
pub mod cli;
pub mod diagnostics;
pub mod explore;
pub mod fuzzing;
pub mod lifecycle;
pub mod render;
pub mod runs;

pub use api::{
    CrashPoints, CrashPointsOutcome, Error, Explore, ExploreOutcome, Faults, Live, LiveOutcome,
    Process, Provider, Run, RunOutcome, Scenario, ScenarioBuilder, ShrunkFailure, Step, Violation,
    builtin_kinds, check_trace, crash_points, default_output_dir, explore, live, replay, run,
};
pub use explore::{CrashPoint, Failure};
pub use nspsim_core::registry::{OptionDoc, ProviderKind, Registry};
pub use nspsim_runtime::checker::Report as CheckReport;
pub use nspsim_runtime::live::LiveReport;
pub use nspsim_runtime::scenario::ScenarioError;
pub use nspsim_runtime::sim::faults::InjectedFaultKind as FaultKind;
pub use nspsim_runtime::sim::replayer::ReplayVerdict;
pub use nspsim_runtime::sim::strategy::{Portfolio, StrategyName};
pub use nspsim_runtime::sim::world::RunReport;
