//! Exploration: run many seeds of a scenario, with faults, and hand back the smallest trace
//! that still fails the same way.
//!
//! - `seeds`: runs a range of seeds on worker threads and judges each run as it goes.
//! - `shrink`: the smallest valid scenario and schedule that still fail for the same reason.
//! - `crash_points`: one run with each client crashed at each of its steps in turn.
//! - `regressions`: the failing seeds kept beside a scenario, tried first next time.
//!
//! A seed fails when its run writes a `violation` (a lifecycle rule, P5, a failed `expect`),
//! a provider panics (P4), a thread stays stuck in a call nothing completes (L7), or the run
//! exceeds its step limit (a livelock). The failure's *signature* is that rule.

mod crash_points;
mod regressions;
mod seeds;
mod shrink;

pub use crash_points::{
    Bounds, CrashPoint, CrashPointsReport, crash_points, crash_points_within, record_crash_point,
};
pub use regressions::{
    Regression, fault_names, read_regressions, read_regressions_checked, record_regression,
    regression_path,
};
pub use seeds::{
    ExploreOptions, ExploreReport, cannot, explore, fault_finding, plan_for, record_seed,
    rerun_regression, shard_seeds, try_run_seed,
};
pub use shrink::{Shrunk, shrink, shrink_within};

use nspsim_runtime::event::Pid;
use nspsim_runtime::scenario::Scenario;
use nspsim_runtime::sim::faults::FaultPlan;
use nspsim_runtime::sim::strategy::{Move, StepAt, StrategyName};

/// How one seed failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub seed: u64,
    /// The rule: `L4`, `P4`, `P5`, `expect`, `L7` (stuck), `livelock`.
    pub signature: String,
    pub detail: String,
    pub plan: FaultPlan,
    pub strategy: StrategyName,
    /// Events the failing run wrote (what a shrunk trace is measured by).
    pub events: u64,
    /// The step limit it failed under: a regression seed keeps the one it was recorded with,
    /// which shrinking must use too (a `livelock` may be no more than that limit).
    pub max_steps: u64,
}

/// A move of a run, with the script step it ran.
pub type Taken = (Move, Option<StepAt>);

/// The pid of the scenario's `i`th `[[process]]`: hosts, declared then implicit, come first.
fn client_pid(s: &Scenario, i: usize) -> Pid {
    Pid((s.hosts.len() + s.implicit_hosts().len() + i) as u32 + 1)
}
