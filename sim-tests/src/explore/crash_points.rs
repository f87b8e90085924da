//! Crash points: the run of one seed, with each client process crashed after each of its
//! moves in turn, exhaustively; a failing point is kept as a schedule that records its trace.

use super::seeds::{
    Findings, Guide, Guided, Unrunnable, bare, judge, on_threads, record_moves, run_checked,
    try_run_guided,
};
use super::{Failure, Taken, client_pid};
use nspsim_runtime::event::Pid;
use nspsim_runtime::registry::Providers;
use nspsim_runtime::scenario::Scenario;
use nspsim_runtime::script::RunError;
use nspsim_runtime::sim::faults::{Fault, FaultPlan};
use nspsim_runtime::sim::strategy::{Actor, Move, Recording, StepAt, StrategyName};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// What bounds a long phase of exploration (crash points, shrinking) and how it reports: a
/// deadline (`--time`), and a progress callback called now and then with (done, total).
#[derive(Clone, Copy)]
pub struct Bounds<'a> {
    pub deadline: Option<Instant>,
    pub progress: &'a (dyn Fn(u64, u64) + Sync),
}

impl Bounds<'_> {
    /// No deadline, no progress.
    pub fn none() -> Bounds<'static> {
        Bounds {
            deadline: None,
            progress: &|_, _| {},
        }
    }

    pub fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// What a crash-point enumeration did.
#[derive(Clone, Debug, Default)]
pub struct CrashPointsReport {
    /// Runs made: the seed's own run and each crash point tried.
    pub runs: u64,
    /// Crash points there are (tried or not).
    pub points: u64,
    /// The failing ones, in point order.
    pub found: Vec<CrashPoint>,
    /// The deadline struck before every point was tried.
    pub stopped_early: bool,
    /// A run that could not start or was abandoned (a provider could not be built or run),
    /// and why: the points stopped there, since none after it could be judged.
    pub cannot_run: Option<String>,
}

/// A crash point: a client process crashed at one scheduling step of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashPoint {
    pub process: String,
    /// Moves of the run made before the crash (each API call, deferred completion and exit
    /// is one): the crash comes between two provider-call boundaries.
    pub after_moves: usize,
    /// Where the crashed process stood, in words ("before step 2", "in step 2, after 1 of its
    /// calls", "after its last step").
    pub at: String,
    pub failure: Failure,
    /// The moves of the crashing run, to record its trace ([`record_crash_point`]).
    pub schedule: Vec<Move>,
}

/// The trace of a crash point's run, ending at its failure.
pub fn record_crash_point(
    scenario: &Scenario,
    providers: &dyn Providers,
    point: &CrashPoint,
    max_steps: u64,
) -> Option<String> {
    let moves = point.schedule.clone();
    record_moves(scenario, providers, point.failure.seed, moves, max_steps)
}

/// Crash-point enumeration: the run of `seed` is recorded, then each client process is
/// crashed after each of its moves in turn (before the first, between any two, after the
/// last), exhaustively: before and after every API call, inside a `lookup` between its calls,
/// and while a call waits for a deferred completion. Returns the runs made and the crash
/// points that fail, in order, or the seed's own failure when its run fails without any
/// crash. The points run on `jobs` threads.
pub fn crash_points(
    scenario: &Scenario,
    providers: &dyn Providers,
    seed: u64,
    name: StrategyName,
    max_steps: u64,
    jobs: usize,
) -> Result<(u64, Vec<CrashPoint>), Failure> {
    let r = crash_points_within(
        scenario,
        providers,
        seed,
        name,
        max_steps,
        jobs,
        Bounds::none(),
    )?;
    Ok((r.runs, r.found))
}

/// [`crash_points`] within `bounds`: points are tried in order until the deadline, and
/// progress is reported as (points tried, points).
///
/// Cost: clients × moves runs of up to `moves` moves each, so it grows with the square of
/// the run's length; the deadline is what bounds it on a large scenario.
pub fn crash_points_within(
    scenario: &Scenario,
    providers: &dyn Providers,
    seed: u64,
    name: StrategyName,
    max_steps: u64,
    jobs: usize,
    bounds: Bounds,
) -> Result<CrashPointsReport, Failure> {
    // Every point runs the same providers: prepared once (a C provider's fork server is
    // started once, not once per point).
    let prepared = providers.prepare(&scenario.providers);
    let providers: &dyn Providers = match &prepared {
        Some(p) => p,
        None => providers,
    };
    let mut recording = Recording::new(name.build(max_steps));
    let none = FaultPlan::none();
    let runs = 1;
    let baseline = run_checked(
        scenario,
        providers,
        seed,
        &mut recording,
        &none,
        max_steps,
        Findings::default(),
    );
    let (report, findings) = match baseline {
        Ok(r) => r,
        Err(e) => {
            return Ok(CrashPointsReport {
                runs,
                cannot_run: Some(e.to_string()),
                ..CrashPointsReport::default()
            });
        }
    };
    let events = findings.events;
    // A run that fails by itself would blame every crash after its failure.
    if let Some((signature, detail)) = judge(&report, findings) {
        return Err(Failure {
            seed,
            signature,
            detail,
            plan: none,
            strategy: name,
            events,
            max_steps,
        });
    }
    let moves = recording.moves;
    // Every (process, point) to try: each client, after each of the run's moves until it
    // exits (later points would be the same run).
    let mut points: Vec<(usize, Pid, usize)> = Vec::new();
    for i in 0..scenario.processes.len() {
        let pid = client_pid(scenario, i);
        for after in 0..=moves.len() {
            points.push((i, pid, after));
            if matches!(moves.get(after), Some((Move::Step(Actor::Exit(p, _)), _)) if *p == pid) {
                break;
            }
        }
    }
    let total = points.len() as u64;
    // Points are independent runs: `jobs` threads take them in turn; the result is sorted
    // back into point order, so it does not depend on `jobs`.
    let next = AtomicU64::new(0);
    let tried = AtomicU64::new(0);
    let unrunnable = Unrunnable::default();
    let try_point =
        |&(i, pid, after): &(usize, Pid, usize)| -> Result<Option<CrashPoint>, RunError> {
            let crash = Move::Fault(Fault::Crash(pid));
            let mut schedule = bare(&moves);
            schedule.insert(after, crash);
            let guide = Guide::Moves(schedule.clone());
            let Guided {
                verdict,
                moves: made,
                ..
            } = try_run_guided(scenario, providers, seed, guide, max_steps)?;
            let Some((signature, detail)) = verdict else {
                return Ok(None);
            };
            // A crash that never struck is not this point's failure.
            Ok(made.iter().any(|(m, _)| *m == crash).then(|| CrashPoint {
                process: scenario.processes[i].name.clone(),
                after_moves: after,
                at: where_stood(&moves, after, pid),
                failure: Failure {
                    seed,
                    signature,
                    detail,
                    plan: FaultPlan::none(),
                    strategy: name,
                    events: 0,
                    max_steps,
                },
                schedule,
            }))
        };
    let workers = jobs.min(points.len()).max(1);
    let mut found: Vec<(usize, CrashPoint)> = on_threads(workers, || {
        let mut mine = Vec::new();
        while !bounds.expired() && !unrunnable.met() {
            let k = next.fetch_add(1, Ordering::Relaxed) as usize;
            let Some(point) = points.get(k) else {
                break;
            };
            match try_point(point) {
                Ok(Some(cp)) => mine.push((k, cp)),
                Ok(None) => {}
                Err(e) => {
                    unrunnable.meet(k as u64, &e);
                    break;
                }
            }
            let n = tried.fetch_add(1, Ordering::Relaxed) + 1;
            if n % 16 == 0 || n == total {
                (bounds.progress)(n, total);
            }
        }
        mine
    });
    found.sort_by_key(|(k, _)| *k);
    let tried = tried.load(Ordering::Relaxed);
    Ok(CrashPointsReport {
        runs: runs + tried,
        points: total,
        found: found.into_iter().map(|(_, cp)| cp).collect(),
        stopped_early: tried < total,
        cannot_run: unrunnable.into_first().map(|(_, why)| why),
    })
}

/// Where process `pid` stood after the first `after` moves of a run, in words.
fn where_stood(moves: &[Taken], after: usize, pid: Pid) -> String {
    let of_pid = |a: &Option<StepAt>| a.filter(|a| a.pid == pid);
    let next = moves[after..].iter().find_map(|(_, a)| of_pid(a));
    let Some(next) = next else {
        return "after its last step".to_string();
    };
    let calls_made = moves[..after]
        .iter()
        .filter_map(|(_, a)| of_pid(a))
        .filter(|a| a.tid == next.tid && a.step == next.step)
        .count();
    let thread = if next.tid.0 > 1 {
        format!(" of thread {}", next.tid.0)
    } else {
        String::new()
    };
    match calls_made {
        0 => format!("before step {}{thread}", next.step + 1),
        n => format!("in step {}{thread}, after {n} of its calls", next.step + 1),
    }
}
