//! Exploration and shrinking: run many seeds of a scenario, with faults, and hand back the
//! smallest trace that still fails the same way.
//!
//! - A seed fails when its run writes a `violation` (a lifecycle rule, P5, a failed `expect`),
//!   a provider panics (P4), a thread stays stuck in a call nothing completes (L7), or the run
//!   exceeds its step limit (a livelock). The failure's *signature* is that rule.
//! - Each seed draws its own fault plan ([`FaultPlan::swarm`]) from the allowed kinds, like
//!   swarm testing, and faults are scheduler choices, so a failing seed replays exactly.
//! - Seeds run on `jobs` worker threads, each with its own world; the reported failure is the
//!   smallest failing seed of the range, whatever `jobs` is.
//! - Shrinking re-runs mutated scenarios under the failing seed and plan, keeping a mutation
//!   only when the run still fails with the same signature: drop processes, drop the ends of
//!   scripts, drop single steps, drop threads, shorten sleeps, drop fault kinds.

use crate::cli::{StrategyName, header};
use nspsim_runtime::event::{Event, EventSink};
use nspsim_runtime::registry::Registry;
use nspsim_runtime::scenario::{NextCount, Scenario, Step};
use nspsim_runtime::sim::faults::{FaultKind, FaultPlan};
use nspsim_runtime::sim::oracle::Checked;
use nspsim_runtime::sim::strategy::{Pct, RandomWalk, Strategy};
use nspsim_runtime::sim::world::{self, RunOptions};
use nspsim_runtime::trace::TraceBuffer;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Which strategy a seed runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Portfolio {
    One(StrategyName),
    /// Even seeds random walk, odd seeds PCT.
    Both,
}

impl Portfolio {
    pub fn for_seed(self, seed: u64) -> StrategyName {
        match self {
            Portfolio::One(s) => s,
            Portfolio::Both if seed % 2 == 0 => StrategyName::Random,
            Portfolio::Both => StrategyName::Pct,
        }
    }
}

fn strategy(name: StrategyName, max_steps: u64) -> Box<dyn Strategy> {
    match name {
        StrategyName::Random => Box::new(RandomWalk::new()),
        StrategyName::Pct => Box::new(Pct::new(3, max_steps.min(10_000))),
    }
}

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
}

/// Collects the first failure of a run, and counts its events.
#[derive(Default)]
struct Findings {
    first: Option<(String, String)>,
    events: u64,
}

impl EventSink for Findings {
    fn record(&mut self, _t: u64, event: Event) {
        self.events += 1;
        if self.first.is_some() {
            return;
        }
        match event {
            Event::Violation { rule, detail } => self.first = Some((rule, detail)),
            Event::Fault { func, detail, .. } => {
                self.first = Some((
                    "P4".into(),
                    format!("provider panicked in {func}: {detail}"),
                ));
            }
            _ => {}
        }
    }
}

/// Runs one seed without recording; `Some` when it fails.
pub fn run_seed(
    scenario: &Scenario,
    registry: &Registry,
    seed: u64,
    strategy_name: StrategyName,
    plan: &FaultPlan,
    max_steps: u64,
) -> Option<Failure> {
    let (report, findings) = run_checked(
        scenario,
        registry,
        seed,
        strategy_name,
        plan,
        max_steps,
        Findings::default(),
    )?;
    let (found, events) = (findings.first, findings.events);
    let (signature, detail) = match (found, report.stuck.first(), report.hit_step_limit()) {
        (Some(f), _, _) => f,
        (None, Some(stuck), _) => ("L7".to_string(), stuck.clone()),
        (None, None, true) => (
            "livelock".to_string(),
            report.stopped.clone().unwrap_or_default(),
        ),
        (None, None, false) => return None,
    };
    Some(Failure {
        seed,
        signature,
        detail,
        plan: plan.clone(),
        strategy: strategy_name,
        events,
    })
}

/// Records the trace of one seed (to keep a failure).
pub fn record_seed(
    scenario: &Scenario,
    registry: &Registry,
    seed: u64,
    strategy_name: StrategyName,
    plan: &FaultPlan,
    max_steps: u64,
) -> Option<String> {
    let buffer = TraceBuffer::new(&header(scenario, seed));
    let (report, buffer) = run_checked(
        scenario,
        registry,
        seed,
        strategy_name,
        plan,
        max_steps,
        buffer,
    )?;
    Some(buffer.finish(report.end_time))
}

/// One run with the checker online, into `sink`.
fn run_checked<S: EventSink>(
    scenario: &Scenario,
    registry: &Registry,
    seed: u64,
    strategy_name: StrategyName,
    plan: &FaultPlan,
    max_steps: u64,
    sink: S,
) -> Option<(world::RunReport, S)> {
    let options = RunOptions {
        seed,
        max_steps,
        faults: plan.clone(),
        free_time: false,
    };
    let mut strat = strategy(strategy_name, max_steps);
    let sink = Checked::new(sink, scenario.startup_policy);
    let (report, mut sink) =
        world::run_with(scenario, registry, strat.as_mut(), sink, &options).ok()?;
    sink.finish(report.end_time, true);
    Some((report, sink.into_inner()))
}

/// What to explore.
#[derive(Clone, Debug)]
pub struct ExploreOptions {
    pub first_seed: u64,
    /// Exclusive end; with `time`, exploration also stops at the deadline.
    pub end_seed: u64,
    pub time: Option<Duration>,
    pub portfolio: Portfolio,
    pub jobs: usize,
    /// Fault kinds a seed may switch on (empty: no faults).
    pub faults: Vec<FaultKind>,
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
}

/// The fault plan of a seed under these options.
pub fn plan_for(seed: u64, allowed: &[FaultKind]) -> FaultPlan {
    if allowed.is_empty() {
        FaultPlan::none()
    } else {
        FaultPlan::swarm(seed, allowed)
    }
}

/// Runs the seed range on `jobs` threads. `progress` is called now and then with
/// (seeds run, failures so far).
pub fn explore(
    scenario: &Scenario,
    registry: &Registry,
    opts: &ExploreOptions,
    progress: &(dyn Fn(u64, usize) + Sync),
) -> ExploreReport {
    let start = Instant::now();
    let deadline = opts.time.map(|t| start + t);
    let next = AtomicU64::new(opts.first_seed);
    let smallest_failure = AtomicU64::new(u64::MAX);
    let run_count = AtomicU64::new(0);
    let jobs = opts.jobs.max(1);
    let mut failures: Vec<Failure> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                scope.spawn(|| {
                    let mut found = Vec::new();
                    loop {
                        // Seeds are handed out in order; a seed above a known failure is not
                        // needed unless every failure is wanted.
                        let seed = next.fetch_add(1, Ordering::Relaxed);
                        if seed >= opts.end_seed
                            || (!opts.keep_going && seed > smallest_failure.load(Ordering::Relaxed))
                            || deadline.is_some_and(|d| Instant::now() >= d)
                        {
                            break;
                        }
                        if seed % opts.shard.1.max(1) != opts.shard.0 {
                            continue;
                        }
                        let plan = plan_for(seed, &opts.faults);
                        let name = opts.portfolio.for_seed(seed);
                        if let Some(f) =
                            run_seed(scenario, registry, seed, name, &plan, opts.max_steps)
                        {
                            smallest_failure.fetch_min(seed, Ordering::Relaxed);
                            found.push(f);
                        }
                        let n = run_count.fetch_add(1, Ordering::Relaxed) + 1;
                        if n % 256 == 0 {
                            progress(n, found.len());
                        }
                    }
                    found
                })
            })
            .collect();
        workers
            .into_iter()
            // Provider panics are contained inside runs; a worker that panics is an nspsim bug,
            // and must not pass for "no failure found".
            .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    failures.sort_by_key(|f| f.seed);
    if !opts.keep_going {
        failures.truncate(1);
    }
    ExploreReport {
        seeds_run: run_count.load(Ordering::Relaxed),
        failures,
        elapsed: start.elapsed(),
    }
}

/// A shrunk failure.
#[derive(Clone, Debug)]
pub struct Shrunk {
    pub scenario: Scenario,
    pub plan: FaultPlan,
    /// The recorded trace of the shrunk run.
    pub trace: String,
    /// Candidates tried.
    pub runs: u64,
    pub elapsed: Duration,
}

impl Shrunk {
    /// Event lines in the shrunk trace (header and `end` excluded).
    pub fn events(&self) -> usize {
        self.trace.lines().count().saturating_sub(2)
    }
}

/// Shrinks a failure: the smallest scenario (and fault plan) that still fails with the same
/// signature under the same seed. `budget` bounds the candidates tried.
pub fn shrink(
    scenario: &Scenario,
    registry: &Registry,
    failure: &Failure,
    max_steps: u64,
    budget: u64,
) -> Shrunk {
    let start = Instant::now();
    let mut best = scenario.clone();
    let mut plan = failure.plan.clone();
    let mut runs = 0u64;
    let mut best_events = failure.events;
    // A candidate is kept when it fails the same way in no more events than the best so far.
    let mut fails_same = |s: &Scenario, p: &FaultPlan, runs: &mut u64| -> bool {
        *runs += 1;
        match run_seed(s, registry, failure.seed, failure.strategy, p, max_steps) {
            Some(f) if f.signature == failure.signature && f.events <= best_events => {
                best_events = f.events;
                true
            }
            _ => false,
        }
    };
    loop {
        let mut improved = false;
        // Fewer fault kinds, or none at all.
        for kind in plan.kinds.clone() {
            if runs >= budget {
                break;
            }
            let mut fewer = plan.clone();
            fewer.kinds.retain(|k| *k != kind);
            if fails_same(&best, &fewer, &mut runs) {
                plan = fewer;
                improved = true;
            }
        }
        for candidate in candidates(&best) {
            if runs >= budget {
                break;
            }
            if fails_same(&candidate, &plan, &mut runs) {
                best = candidate;
                improved = true;
                break; // regenerate candidates from the smaller scenario
            }
        }
        if !improved || runs >= budget {
            break;
        }
    }
    let trace = record_seed(
        &best,
        registry,
        failure.seed,
        failure.strategy,
        &plan,
        max_steps,
    )
    .unwrap_or_default();
    Shrunk {
        scenario: best,
        plan,
        trace,
        runs,
        elapsed: start.elapsed(),
    }
}

/// Smaller variants of a scenario, most aggressive first.
fn candidates(s: &Scenario) -> Vec<Scenario> {
    let mut out = Vec::new();
    // Drop a whole client process, last first.
    for i in (0..s.processes.len()).rev() {
        let mut c = s.clone();
        c.processes.remove(i);
        out.push(c);
    }
    // Drop an extra thread.
    for (p, proc_) in s.processes.iter().enumerate() {
        for t in (0..proc_.threads.len()).rev() {
            let mut c = s.clone();
            c.processes[p].threads.remove(t);
            out.push(c);
        }
    }
    // Every script (process main threads, extra threads, declared hosts) by address.
    let scripts = script_count(s);
    for k in 0..scripts {
        let len = script(s, k).map_or(0, |v| v.len());
        // Cut the end off: half, then one step.
        for cut in [len / 2, 1] {
            if cut > 0 && cut <= len {
                let mut c = s.clone();
                if let Some(v) = script_mut(&mut c, k) {
                    v.truncate(len - cut);
                }
                out.push(c);
            }
        }
        // Drop single steps (with the `expect`s that check them: an `expect` left behind would
        // judge another step), and shorten sleeps.
        for i in (0..len).rev() {
            let steps = script(s, k).map_or(&[][..], |v| &v[..]);
            if matches!(steps.get(i), Some(Step::Expect { .. })) {
                continue;
            }
            let checks = steps[i + 1..]
                .iter()
                .take_while(|x| matches!(x, Step::Expect { .. }))
                .count();
            let mut c = s.clone();
            if let Some(v) = script_mut(&mut c, k) {
                v.drain(i..=i + checks);
            }
            out.push(c);
            // A `lookup` split into its calls, so that the ones not needed can go.
            if let Some(Step::Lookup {
                target,
                name,
                flags,
                buffer,
                ..
            }) = steps.get(i)
            {
                let handle = format!("shrunk-{k}-{i}");
                let mut c = s.clone();
                if let Some(v) = script_mut(&mut c, k) {
                    v.splice(
                        i..=i,
                        [
                            Step::LookupBegin {
                                target: *target,
                                name: name.clone(),
                                flags: *flags,
                                as_name: handle.clone(),
                            },
                            Step::LookupNext {
                                handle: handle.clone(),
                                flags: Some(*flags),
                                buffer: *buffer,
                            },
                            Step::LookupEnd { handle },
                        ],
                    );
                }
                out.push(c);
            }
            // A `lookup` that asks for fewer results.
            if let Some(Step::Lookup { next, .. }) = steps.get(i) {
                for fewer in [NextCount::Count(0), NextCount::Count(1)] {
                    if *next != fewer && !matches!((next, fewer), (NextCount::Count(0), _)) {
                        let mut c = s.clone();
                        if let Some(Step::Lookup { next, .. }) =
                            script_mut(&mut c, k).and_then(|v| v.get_mut(i))
                        {
                            *next = fewer;
                        }
                        out.push(c);
                    }
                }
            }
            if let Some(Step::Sleep { us }) = script(s, k).and_then(|v| v.get(i))
                && *us > 0
            {
                let mut c = s.clone();
                if let Some(Step::Sleep { us: u }) =
                    script_mut(&mut c, k).and_then(|v| v.get_mut(i))
                {
                    *u /= 2;
                }
                out.push(c);
            }
        }
    }
    out
}

fn script_count(s: &Scenario) -> usize {
    s.processes
        .iter()
        .map(|p| 1 + p.threads.len())
        .sum::<usize>()
        + s.hosts.len()
}

fn script(s: &Scenario, mut k: usize) -> Option<&Vec<Step>> {
    for p in &s.processes {
        if k == 0 {
            return Some(&p.steps);
        }
        k -= 1;
        if k < p.threads.len() {
            return Some(&p.threads[k].steps);
        }
        k -= p.threads.len();
    }
    s.hosts.get(k).map(|h| &h.steps)
}

fn script_mut(s: &mut Scenario, mut k: usize) -> Option<&mut Vec<Step>> {
    for p in &mut s.processes {
        if k == 0 {
            return Some(&mut p.steps);
        }
        k -= 1;
        if k < p.threads.len() {
            return Some(&mut p.threads[k].steps);
        }
        k -= p.threads.len();
    }
    s.hosts.get_mut(k).map(|h| &mut h.steps)
}

/// A crash point: a client process crashed just before one of its main thread's steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashPoint {
    pub process: String,
    /// 0-based index of the step the crash replaces the start of.
    pub before_step: usize,
    pub failure: Failure,
}

/// Crash-point enumeration: for each client process and each step of its main thread, a run
/// where the process crashes just before that step (and one after its last step), under
/// `seed`. Every provider-call boundary of the main thread is a step boundary.
pub fn crash_points(
    scenario: &Scenario,
    registry: &Registry,
    seed: u64,
    name: StrategyName,
    max_steps: u64,
) -> (u64, Vec<CrashPoint>) {
    let mut runs = 0;
    let mut found = Vec::new();
    for (p, proc_) in scenario.processes.iter().enumerate() {
        for at in 0..=proc_.steps.len() {
            let mut c = scenario.clone();
            c.processes[p].steps.truncate(at);
            c.processes[p].steps.push(Step::Crash);
            runs += 1;
            if let Some(failure) = run_seed(&c, registry, seed, name, &FaultPlan::none(), max_steps)
            {
                found.push(CrashPoint {
                    process: proc_.name.clone(),
                    before_step: at,
                    failure,
                });
            }
        }
    }
    (runs, found)
}

/// The regression file of a scenario: failing seeds found before, tried first next time.
pub fn regression_path(scenario_path: &std::path::Path) -> std::path::PathBuf {
    let name = scenario_path
        .file_name()
        .map_or_else(|| "scenario".into(), |n| n.to_string_lossy().into_owned());
    scenario_path.with_file_name(format!("{name}.regressions"))
}

/// Seeds listed in a regression file (`seed N` lines; `#` comments).
pub fn read_regressions(path: &std::path::Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("seed ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// Appends a failing seed to the regression file (once).
pub fn record_regression(path: &std::path::Path, failure: &Failure) -> std::io::Result<()> {
    if read_regressions(path).contains(&failure.seed) {
        return Ok(());
    }
    use std::io::Write;
    let fresh = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    if fresh {
        writeln!(
            f,
            "# Seeds nspsim explore found failing; it tries them first. Keep this file in version control."
        )?;
    }
    writeln!(
        f,
        "seed {} # {} with {}",
        failure.seed, failure.signature, failure.plan
    )
}
