//! Scheduling strategies: who moves next in a simulated run.
//!
//! The shape is shuttle's: a strategy is told an execution begins, is asked to pick one of the
//! runnable choices at every step, and draws numbers for the world's other random decisions.
//! Every source of choice in a run goes through it, so (scenario, seed, strategy) fixes the run.
//!
//! - [`RandomWalk`]: uniform choice, seeded.
//! - [`Pct`]: probabilistic concurrency testing (priorities with d−1 change points), which finds
//!   bugs of small depth with a known probability.
//! - [`FollowTrace`]: follows the event order of a recorded trace.
//! - [`Schedule`]: follows a list of recorded moves, skipping those a smaller scenario can no
//!   longer make (shrinking); [`Recording`] writes down the moves of any strategy.
//! - [`StrategyName`] and [`Portfolio`]: the strategies a user picks by name, and the one
//!   factory that builds them.
//! - [`Choices`]: what a strategy picks from, without the world listing every runnable
//!   thread at every step.

mod choices;
mod follow_trace;
mod named;
mod pct;
mod random;
mod schedule;

pub use choices::Choices;
pub use follow_trace::FollowTrace;
pub use named::{Portfolio, StrategyName};
pub use pct::Pct;
pub use random::RandomWalk;
pub use schedule::{Move, Recording, Schedule, StepAt};

use super::faults::Fault;
use crate::event::{ExitHow, Label, Pid, Tid};
use crate::wsa::Guid;

/// What the first event of a thread's next step will be, so a replay can tell steps apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Actor {
    /// An API call: `api.call` with this pid and tid.
    Thread(Pid, Tid),
    /// `process.exit` of this process, this way.
    Exit(Pid, ExitHow),
    /// `provider.advertise` / `provider.unadvertise` by this process.
    Advertise(Pid, Guid),
    Unadvertise(Pid, Guid),
    /// `catalog.install` / `catalog.uninstall` / `catalog.enable` of this provider.
    Install(Guid),
    Uninstall(Guid),
    Enable(Guid, bool),
}

/// One thing the world can do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Run the next step of a thread.
    Step {
        pid: Pid,
        tid: Tid,
        actor: Actor,
        /// The index of the script step it runs (0 for a process's exit once its threads
        /// are done), so a shrinker can tell which moves a step made.
        step: u32,
    },
    /// Run a provider's deferred work item.
    Work {
        id: u64,
        provider: Guid,
        /// The async call that was in progress when the work was asked for.
        serves: Option<Label>,
    },
    /// Let virtual time pass to `to`, when only deferred work could run now: a provider's
    /// completion may come after a sleeping thread wakes (S6.3).
    Tick { to: u64 },
    /// Inject a fault (exploration).
    Fault(Fault),
}

/// A scheduling strategy.
pub trait Strategy {
    /// A new execution starts.
    fn begin(&mut self, seed: u64);

    /// Picks one of `choices` (never empty), by index. `emitted` is how many events the run
    /// has produced so far. `None` stops the run: the strategy cannot go on (a replay whose
    /// next recorded event no choice can produce).
    fn pick(&mut self, choices: &Choices<'_>, emitted: u64) -> Option<usize>;

    /// A number in `0..bound`, for the world's other decisions (fault injection).
    fn draw(&mut self, bound: u64) -> u64;

    /// Why the strategy stopped the run, if it did.
    fn stop_reason(&self) -> Option<String> {
        None
    }
}

impl<S: Strategy + ?Sized> Strategy for Box<S> {
    fn begin(&mut self, seed: u64) {
        (**self).begin(seed)
    }
    fn pick(&mut self, choices: &Choices<'_>, emitted: u64) -> Option<usize> {
        (**self).pick(choices, emitted)
    }
    fn draw(&mut self, bound: u64) -> u64 {
        (**self).draw(bound)
    }
    fn stop_reason(&self) -> Option<String> {
        (**self).stop_reason()
    }
}
