//! Running and judging seeds: one seed, a range of them on worker threads, and runs guided
//! by a recorded schedule (what shrinking and crash points re-run).
//!
//! - Each seed draws its own fault plan ([`FaultPlan::swarm`]) from the allowed kinds, like
//!   swarm testing, and faults are scheduler choices, so a failing seed replays exactly.
//! - Seeds run on `jobs` worker threads, each with its own world; the reported failure is the
//!   smallest failing seed of the range, whatever `jobs` is.
//! - A seed that passes costs only what judging it needs: provider options are parsed once for
//!   the range ([`Prepared`]), and so is what set-up needs of the scenario ([`RunPlan`]); runs
//!   build no `args`/`result` objects (the findings sink does not want details). A failure's
//!   trace is recorded in full by [`record_seed`].
//! - A run stops at its first failure ([`RunOptions::stop_at_failure`]): exploration wants
//!   the failure, not its aftermath, and a failure trace ends at its `violation` line.

use super::{Failure, Taken};
use crate::runs::header;
use nspsim_runtime::checker::{Checked, Checker};
use nspsim_runtime::event::{Event, EventSink, FaultKind, Fields};
use nspsim_runtime::provider::NspFn;
use nspsim_runtime::registry::Providers;
use nspsim_runtime::scenario::Scenario;
use nspsim_runtime::script::RunError;
use nspsim_runtime::sim::faults::{FaultPlan, InjectedFaultKind};
use nspsim_runtime::sim::strategy::{Move, Portfolio, Recording, Schedule, Strategy, StrategyName};
use nspsim_runtime::sim::world::{self, RunOptions, RunPlan};
use nspsim_runtime::trace::TraceBuffer;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Collects the first failure of a run, and counts its events up to the first `violation`
/// line (what a failure trace holds).
#[derive(Default)]
pub(super) struct Findings {
    first: Option<(String, String)>,
    pub(super) events: u64,
    past_violation: bool,
}

impl EventSink for Findings {
    #[inline]
    fn record(&mut self, _t: u64, event: Event) {
        if !self.past_violation {
            self.events += 1;
        }
        // One match: nearly every event is neither, and only needs dropping. Each arm drops
        // what its kind owns itself: a whole-event drop is an out-of-line call that needs the
        // event at an address, which kept a copy of every event on the stack.
        match event {
            Event::Violation { rule, detail } => self.violation(rule, detail),
            Event::Fault {
                func, kind, detail, ..
            } => self.fault(func, kind, detail),
            Event::ApiCall { args, .. } => discard(args),
            Event::ApiReturn {
                result: Some(result),
                ..
            }
            | Event::NspCall {
                args: Some(result), ..
            } => discard(result),
            Event::ProcessStart { name, .. } | Event::CatalogInstall { name, .. } => drop(name),
            Event::ProviderAdvertise { absent, .. } => drop(absent),
            Event::ProcessExit { .. }
            | Event::CatalogUninstall { .. }
            | Event::CatalogEnable { .. }
            | Event::ProviderUnadvertise { .. }
            | Event::ApiReturn { result: None, .. }
            | Event::NspCall { args: None, .. }
            | Event::NspReturn { .. }
            | Event::AsyncComplete { .. }
            | Event::End { .. } => {}
        }
    }

    /// Only verdicts matter here (`violation` and `fault` lines, which are always built in
    /// full), so the dispatcher need not build `args` and `result` objects.
    fn wants_details(&self) -> bool {
        false
    }
}

/// The first failure, out of line: the few events that carry one move strings, which needs
/// stack room that every other event would otherwise set up and take down too.
impl Findings {
    #[cold]
    #[inline(never)]
    fn violation(&mut self, rule: String, detail: String) {
        self.past_violation = true;
        if self.first.is_none() {
            self.first = Some((rule, detail));
        }
    }

    #[cold]
    #[inline(never)]
    fn fault(&mut self, func: NspFn, kind: FaultKind, detail: String) {
        if self.first.is_none() {
            self.first = Some(fault_finding(func, kind, &detail));
        }
    }
}

/// Drops an event's `args` or `result` object. A run that wants no details gets empty ones
/// (`Fields::new()`), which own no memory, yet dropping a map still walks an empty iterator
/// out of line: about 55 instructions for every api.call. An empty map is let go without that
/// walk. (A map emptied by removals could keep a node, which this would leak; the dispatcher
/// builds its maps whole and never removes from them.)
#[inline]
fn discard(fields: Fields) {
    if fields.is_empty() {
        std::mem::forget(fields);
    } else {
        drop(fields);
    }
}

/// Runs one seed without recording: `Ok(Some)` when it fails, `Ok(None)` when it passes, and
/// `Err` for a run that could not start: a provider that cannot be built (such as a C provider
/// whose host process can no longer be started). A sweep must say so, not count the seed as
/// passing. `providers` is the registry, or factories prepared from it once for many seeds.
pub fn try_run_seed(
    scenario: &Scenario,
    providers: &dyn Providers,
    seed: u64,
    strategy_name: StrategyName,
    plan: &FaultPlan,
    max_steps: u64,
) -> Result<Option<Failure>, RunError> {
    let run = RunPlan::new(scenario);
    run_seed(
        &run,
        providers,
        seed,
        strategy_name,
        plan.clone(),
        max_steps,
    )
}

/// [`try_run_seed`] by a plan made once for the many seeds of a sweep, under the seed's own
/// fault plan (kept by its failure, if it fails).
fn run_seed(
    run: &RunPlan<'_>,
    providers: &dyn Providers,
    seed: u64,
    strategy_name: StrategyName,
    faults: FaultPlan,
    max_steps: u64,
) -> Result<Option<Failure>, RunError> {
    let options = checked_options(seed, faults, max_steps);
    let (report, findings) = strategy_name.with_built(max_steps, |strat| {
        run_checked_planned(run, providers, strat, &options, Findings::default())
    })?;
    let events = findings.events;
    Ok(judge(&report, findings).map(|(signature, detail)| Failure {
        seed,
        signature,
        detail,
        plan: options.faults,
        strategy: strategy_name,
        events,
        max_steps,
    }))
}

/// The failure of a run, as (signature, detail), if it failed.
pub(super) fn judge(report: &world::RunReport, findings: Findings) -> Option<(String, String)> {
    match (
        findings.first,
        report.stuck.first(),
        report.hit_step_limit(),
    ) {
        (Some(f), _, _) => Some(f),
        (None, Some(stuck), _) => Some(("L7".to_string(), stuck.clone())),
        (None, None, true) => Some((
            "livelock".to_string(),
            report.stopped.clone().unwrap_or_default(),
        )),
        (None, None, false) => None,
    }
}

/// Records the trace of one seed (to keep a failure). A run that failed is stopped at its
/// first failure, so its trace is cut short there.
pub fn record_seed(
    scenario: &Scenario,
    providers: &dyn Providers,
    seed: u64,
    strategy_name: StrategyName,
    plan: &FaultPlan,
    max_steps: u64,
) -> Option<String> {
    let mut strat = strategy_name.build(max_steps);
    record_with(scenario, providers, seed, strat.as_mut(), plan, max_steps)
}

fn record_with(
    scenario: &Scenario,
    providers: &dyn Providers,
    seed: u64,
    strat: &mut dyn Strategy,
    plan: &FaultPlan,
    max_steps: u64,
) -> Option<String> {
    let sink = UntilFailure {
        inner: TraceBuffer::new(&header(scenario, seed)),
        done: false,
    };
    let (report, sink) =
        run_checked(scenario, providers, seed, strat, plan, max_steps, sink).ok()?;
    Some(if report.stopped_at_failure() {
        sink.inner.cut_short()
    } else {
        sink.inner.finish(report.end_time)
    })
}

/// Passes events on up to the first `violation` line, included: a failure trace ends at the
/// failure, not in the rest of the step that made it.
struct UntilFailure<S> {
    inner: S,
    done: bool,
}

impl<S: EventSink> EventSink for UntilFailure<S> {
    fn record(&mut self, t: u64, event: Event) {
        if !self.done {
            self.done = matches!(event, Event::Violation { .. });
            self.inner.record(t, event);
        }
    }
}

/// One run with the checker online, into `sink`, stopped at its first failure.
pub(super) fn run_checked<S: EventSink>(
    scenario: &Scenario,
    providers: &dyn Providers,
    seed: u64,
    strat: &mut dyn Strategy,
    plan: &FaultPlan,
    max_steps: u64,
    sink: S,
) -> Result<(world::RunReport, S), RunError> {
    let options = checked_options(seed, plan.clone(), max_steps);
    run_checked_planned(&RunPlan::new(scenario), providers, strat, &options, sink)
}

/// What a checked run is told: stop at the first failure.
fn checked_options(seed: u64, faults: FaultPlan, max_steps: u64) -> RunOptions {
    RunOptions {
        seed,
        max_steps,
        faults,
        free_time: false,
        stop_at_failure: true,
    }
}

/// [`run_checked`] by a plan made once for many runs of its scenario.
fn run_checked_planned<S: EventSink>(
    run: &RunPlan<'_>,
    providers: &dyn Providers,
    strat: &mut dyn Strategy,
    options: &RunOptions,
    sink: S,
) -> Result<(world::RunReport, S), RunError> {
    let policy = run.scenario().startup_policy;
    let checker = SPARE_CHECKER
        .with_borrow_mut(Option::take)
        .unwrap_or_else(|| Checker::new(policy));
    let sink = Checked::with_checker(sink, checker, policy);
    let (report, mut sink) = world::run_planned(run, providers, strat, sink, options)?;
    // End-of-run rules (L3, L5–L7) are judged only on a run that reached its end.
    sink.finish(report.end_time, !report.stopped_at_failure());
    let (sink, checker) = sink.into_parts();
    SPARE_CHECKER.set(Some(checker));
    Ok((report, sink))
}

thread_local! {
    /// The checker of this thread's last run, reset for the next: a seed's checker then costs
    /// no allocations once the first few runs have grown its model (the checker judges the
    /// same as a new one: [`Checker::reset`]).
    static SPARE_CHECKER: std::cell::RefCell<Option<Checker>> = const { std::cell::RefCell::new(None) };
}

/// What to explore.
#[derive(Clone, Debug)]
pub struct ExploreOptions {
    pub first_seed: u64,
    /// The last seed, included (so a range may end at `u64::MAX`); with `time`, exploration
    /// also stops at the deadline.
    pub last_seed: u64,
    pub time: Option<Duration>,
    pub portfolio: Portfolio,
    pub jobs: usize,
    /// Fault kinds a seed may switch on (empty: no faults).
    pub faults: Vec<InjectedFaultKind>,
    pub keep_going: bool,
    pub max_steps: u64,
    /// Only seeds with `seed % n == i` (several machines splitting one range).
    pub shard: (u64, u64),
}

/// What exploration found.
#[derive(Clone, Debug, Default)]
pub struct ExploreReport {
    pub seeds_run: u64,
    /// Sorted by seed; at most one unless `keep_going`.
    pub failures: Vec<Failure>,
    pub elapsed: Duration,
    /// A seed whose run could not start, and why (a provider could not be built): the sweep
    /// stopped there, since every later seed would fail the same way and read as passing.
    /// The smallest such seed the workers met.
    pub cannot_run: Option<(u64, String)>,
}

/// Runs a regression seed again under the settings it failed with, where its file kept them
/// (else `faults`, the portfolio's strategy for the seed, `max_steps`): `Ok(Some)` when it
/// still fails, `Err` with the sentence to print when it could not run.
pub fn rerun_regression(
    scenario: &Scenario,
    providers: &dyn Providers,
    r: &super::Regression,
    faults: &[InjectedFaultKind],
    portfolio: Portfolio,
    max_steps: u64,
) -> Result<Option<Failure>, String> {
    let plan = plan_for(r.seed, r.faults.as_deref().unwrap_or(faults));
    let name = r.strategy.unwrap_or(portfolio.for_seed(r.seed));
    let max_steps = r.max_steps.unwrap_or(max_steps);
    try_run_seed(scenario, providers, r.seed, name, &plan, max_steps)
        .map_err(|e| cannot::regression(r.seed, &e))
}

/// The fault plan of a seed under these options.
pub fn plan_for(seed: u64, allowed: &[InjectedFaultKind]) -> FaultPlan {
    if allowed.is_empty() {
        FaultPlan::none()
    } else {
        FaultPlan::swarm(seed, allowed)
    }
}

/// The seeds of `first..=last` in shard `i` of `n` (`seed % n == i`): the first of them and
/// how many there are (none: `None`). Exact up to `u64::MAX`, with no arithmetic that wraps.
pub fn shard_seeds(first: u64, last: u64, (i, n): (u64, u64)) -> Option<(u64, u128)> {
    let n = n.max(1);
    let start = first.checked_add((i % n + n - first % n) % n)?;
    (start <= last).then(|| (start, u128::from((last - start) / n) + 1))
}

/// Runs the seed range on `jobs` threads (never more than there are seeds). `progress` is
/// called now and then with (seeds run, failures so far).
pub fn explore(
    scenario: &Scenario,
    providers: &dyn Providers,
    opts: &ExploreOptions,
    progress: &(dyn Fn(u64, usize) + Sync),
) -> ExploreReport {
    let start = Instant::now();
    // A time too far off to represent is no deadline at all.
    let deadline = opts.time.and_then(|t| start.checked_add(t));
    let Some((base, count)) = shard_seeds(opts.first_seed, opts.last_seed, opts.shard) else {
        return ExploreReport::default();
    };
    let step = opts.shard.1.max(1);
    // The index of the next seed of the shard to hand out; seed = base + index × step, which
    // stays within the range by construction (it never wraps past u64::MAX).
    let next = AtomicU64::new(0);
    let take = || {
        next.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |k| {
            (u128::from(k) < count).then(|| k.saturating_add(1))
        })
        .ok()
        .filter(|k| u128::from(*k) < count)
        .map(|k| base + k * step)
    };
    let smallest_failure = AtomicU64::new(u64::MAX);
    let run_count = AtomicU64::new(0);
    let failing = AtomicUsize::new(0);
    let unrunnable = Unrunnable::default();
    // Options are parsed once for the whole range, not once per seed. A provider that cannot
    // be prepared fails every run before it starts, which finds nothing: the callers (the
    // command line, the library API) refuse such a scenario before they get here.
    let prepared = providers.prepare(&scenario.providers);
    let providers: &dyn Providers = match &prepared {
        Some(p) => p,
        None => providers,
    };
    // Like the providers, what set-up and the observer need of the scenario is worked out once.
    let run = RunPlan::new(scenario);
    let jobs = usize::try_from(count).unwrap_or(usize::MAX).min(opts.jobs);
    let mut failures: Vec<Failure> = on_threads(jobs, || {
        let mut found = Vec::new();
        // Seeds are handed out in order; a seed above a known failure is not needed unless
        // every failure is wanted.
        while let Some(seed) = take() {
            if (!opts.keep_going && seed > smallest_failure.load(Ordering::Relaxed))
                || deadline.is_some_and(|d| Instant::now() >= d)
                || unrunnable.met()
            {
                break;
            }
            let plan = plan_for(seed, &opts.faults);
            let name = opts.portfolio.for_seed(seed);
            match run_seed(&run, providers, seed, name, plan, opts.max_steps) {
                Ok(Some(f)) => {
                    smallest_failure.fetch_min(seed, Ordering::Relaxed);
                    failing.fetch_add(1, Ordering::Relaxed);
                    found.push(f);
                }
                Ok(None) => {}
                Err(e) => {
                    unrunnable.meet(seed, &e);
                    break;
                }
            }
            let n = run_count.fetch_add(1, Ordering::Relaxed) + 1;
            if n % 256 == 0 {
                progress(n, failing.load(Ordering::Relaxed));
            }
        }
        found
    });
    failures.sort_by_key(|f| f.seed);
    if !opts.keep_going {
        failures.truncate(1);
    }
    ExploreReport {
        seeds_run: run_count.load(Ordering::Relaxed),
        failures,
        elapsed: start.elapsed(),
        cannot_run: unrunnable.into_first(),
    }
}

/// How a guided run is scheduled.
pub(super) enum Guide<'a> {
    /// Following moves (the replay of the best run so far, remapped).
    Moves(Vec<Move>),
    /// A fresh run of a strategy, under a seed and fault plan.
    Fresh {
        strategy: StrategyName,
        seed: u64,
        plan: &'a FaultPlan,
    },
}

/// A failure's (signature, detail).
pub(super) type Verdict = (String, String);

/// What a guided run found: its failure, if any; its events up to the failure; its moves.
pub(super) struct Guided {
    pub(super) verdict: Option<Verdict>,
    pub(super) events: u64,
    pub(super) moves: Vec<Taken>,
}

/// Runs `scenario` under `guide`, recording the moves it makes, and judges it; `None` when
/// it could not run.
pub(super) fn run_guided(
    scenario: &Scenario,
    providers: &dyn Providers,
    seed: u64,
    guide: Guide,
    max_steps: u64,
) -> Option<Guided> {
    try_run_guided(scenario, providers, seed, guide, max_steps).ok()
}

/// [`run_guided`], saying why a run could not start or was abandoned.
pub(super) fn try_run_guided(
    scenario: &Scenario,
    providers: &dyn Providers,
    seed: u64,
    guide: Guide,
    max_steps: u64,
) -> Result<Guided, RunError> {
    let all = FaultPlan::all_always();
    let (inner, seed, plan): (Box<dyn Strategy>, u64, &FaultPlan) = match guide {
        // Faults are offered at every step; the moves decide which strike.
        Guide::Moves(moves) => (Box::new(Schedule::new(moves)), seed, &all),
        Guide::Fresh {
            strategy: name,
            seed,
            plan,
        } => (name.build(max_steps), seed, plan),
    };
    let mut recording = Recording::new(inner);
    let (report, findings) = run_checked(
        scenario,
        providers,
        seed,
        &mut recording,
        plan,
        max_steps,
        Findings::default(),
    )?;
    let events = findings.events;
    Ok(Guided {
        verdict: judge(&report, findings),
        events,
        moves: recording.moves,
    })
}

/// The trace of `scenario` run following `moves`, ending at its failure.
pub(super) fn record_moves(
    scenario: &Scenario,
    providers: &dyn Providers,
    seed: u64,
    moves: Vec<Move>,
    max_steps: u64,
) -> Option<String> {
    let all = FaultPlan::all_always();
    let mut schedule = Schedule::new(moves);
    record_with(scenario, providers, seed, &mut schedule, &all, max_steps)
}

/// The moves alone, without the steps they ran.
pub(super) fn bare(moves: &[Taken]) -> Vec<Move> {
    moves.iter().map(|(m, _)| *m).collect()
}

/// The first run that could not start (or was abandoned) among runs shared out to worker
/// threads: once one is met, the workers stop, since none after it could be judged and none
/// may read as passing. "First" is the smallest index met, whatever the threads' timing.
#[derive(Default)]
pub(super) struct Unrunnable {
    met: AtomicBool,
    first: Mutex<Option<(u64, String)>>,
}

impl Unrunnable {
    /// Whether the workers should stop.
    pub(super) fn met(&self) -> bool {
        self.met.load(Ordering::Relaxed)
    }

    /// Run `at` could not run, for `why`.
    pub(super) fn meet(&self, at: u64, why: &RunError) {
        self.met.store(true, Ordering::Relaxed);
        let mut first = self.first.lock().unwrap_or_else(|p| p.into_inner());
        if first.as_ref().is_none_or(|(k, _)| at < *k) {
            *first = Some((at, why.to_string()));
        }
    }

    /// The first run met, and why.
    pub(super) fn into_first(self) -> Option<(u64, String)> {
        self.first.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs `work` on `jobs` threads (at least one) and gathers what each found.
pub(super) fn on_threads<T: Send>(jobs: usize, work: impl Fn() -> Vec<T> + Sync) -> Vec<T> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs.max(1)).map(|_| scope.spawn(&work)).collect();
        workers
            .into_iter()
            // Provider panics are contained inside runs; a worker that panics is an nspsim bug,
            // and must not pass for "no failure found".
            .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// The sentences the command line and the library API give, alike, when runs cannot be made.
pub mod cannot {
    /// A regression seed's run could not start.
    pub fn regression(seed: u64, why: &impl std::fmt::Display) -> String {
        format!("regression seed {seed} could not run: {why}")
    }

    /// A sweep stopped at a seed that could not run.
    pub fn sweep(seed: u64, why: &str) -> String {
        format!(
            "seed {seed} could not run: {why}; the sweep stopped there, and seeds that could not run are not counted as passing"
        )
    }

    /// A failure could not be run again to be shrunk and recorded.
    pub fn rerun(seed: u64) -> String {
        format!(
            "seed {seed}'s failure could not be run again (its providers could not be built or run), so it was neither shrunk nor recorded"
        )
    }

    /// Crash points stopped at a run that could not run.
    pub fn crash_point(runs: u64, why: &str) -> String {
        format!("a crash point's run could not run: {why}; crash points stopped after {runs} runs")
    }

    /// The first failing crash point could not be run again to be recorded.
    pub fn rerun_crash_point() -> String {
        "the first failing crash point could not be run again to record it (its providers could not be built or run)".to_string()
    }
}

/// A provider fault as a finding: rule P4 and the sentence reports give it.
pub fn fault_finding(func: NspFn, kind: FaultKind, detail: &str) -> (String, String) {
    (
        "P4".to_string(),
        format!("provider {} in {func}: {detail}", kind.verb()),
    )
}
