//! Shrinking: the smallest scenario and schedule that still fail the way a seed failed.
//!
//! The failing run's schedule is recorded as moves ([`Recording`]), and smaller candidates
//! are tried: moves taken out or made earlier; processes, threads and steps taken out,
//! lookups cut down to their Begin (and End), sleeps shortened (with the other scripts
//! started sooner when one finishes sooner; in the last pass, a script started later when
//! that fails in fewer events). Each candidate re-runs following the remaining moves
//! ([`Schedule`]), remapped onto the smaller scenario, and, when the moves no longer fit it,
//! under a few fresh seeds; it is kept only when it fails for the same reason: the same rule,
//! and for a failed expectation the same one (`Reason`). A candidate scenario is tried only
//! when the loader accepts it, so the result is a scenario `nspsim run` loads: taking out a
//! process takes out the `expect_calls` entries that name it, cutting a `lookup` down takes
//! out the `expect` steps that checked it, and a candidate that still breaks a load-time rule
//! (a handle used but no longer begun, a host taken out) is passed over. The result is
//! recorded and checked with the event-level replay that `nspsim replay` uses.
//!
//! [`Recording`]: nspsim_runtime::sim::strategy::Recording
//! [`Schedule`]: nspsim_runtime::sim::strategy::Schedule

use super::crash_points::Bounds;
use super::seeds::{Guide, Guided, bare, record_moves, run_guided};
use super::{Failure, Taken, client_pid};
use nspsim_runtime::event::{Pid, Tid};
use nspsim_runtime::registry::{Providers, Registry};
use nspsim_runtime::scenario::{ExpectCalls, NextCount, Scenario, Step};
use nspsim_runtime::sim::faults::Fault;
use nspsim_runtime::sim::replayer::{ReplayVerdict, replay_against};
use nspsim_runtime::sim::strategy::{Actor, Move, Portfolio, StepAt};
use nspsim_runtime::sim::world;
use nspsim_runtime::trace::parse_trace;
use std::time::{Duration, Instant};

/// A shrunk failure.
#[derive(Clone, Debug)]
pub struct Shrunk {
    pub scenario: Scenario,
    /// The shrunk run's schedule, one move per scheduling step.
    pub moves: Vec<Taken>,
    /// The trace of the shrunk run, cut short at the failure (or complete, for a failure only
    /// the end of a run shows: L7, a livelock, an end-of-run rule).
    pub trace: String,
    /// Whether the trace replays byte for byte with the event-level replay (`nspsim replay`);
    /// the reason when it does not.
    pub replays: Result<(), String>,
    /// Candidates tried.
    pub runs: u64,
    pub elapsed: Duration,
    /// The deadline struck before shrinking was done: the result is the smallest failure
    /// found so far.
    pub stopped_early: bool,
}

impl Shrunk {
    /// Event lines in the shrunk trace (header and `end` excluded).
    pub fn events(&self) -> usize {
        let lines = self.trace.lines();
        let end = usize::from(
            self.trace
                .lines()
                .last()
                .is_some_and(|l| l.contains(r#""ev":"end""#)),
        );
        lines.count().saturating_sub(1 + end)
    }

    /// The faults the shrunk run injects, in order.
    pub fn faults(&self) -> Vec<Fault> {
        self.moves
            .iter()
            .filter_map(|(m, _)| match m {
                Move::Fault(f) => Some(*f),
                _ => None,
            })
            .collect()
    }
}

/// Where shrinking stands: the candidate it shrinks from, the one with the fewest events
/// seen on the way (what it hands back), and the runs so far.
struct Search {
    best: Candidate,
    smallest: Candidate,
    runs: u64,
    /// Which measure `best` improves on: [`Candidate::key`], or [`Candidate::events_key`].
    events_first: bool,
}

/// A failing run: its scenario, its moves, and the events up to the failure.
#[derive(Clone)]
struct Candidate {
    scenario: Scenario,
    moves: Vec<Taken>,
    events: u64,
}

impl Candidate {
    /// The measure of the result: fewest events, then the shortest scenario and schedule.
    fn events_key(&self) -> (u64, usize, usize) {
        (self.events, scenario_size(&self.scenario), self.moves.len())
    }

    /// What "smaller" means in the first pass: a shorter scenario, then less sleeping in it
    /// (the smaller scenario may need more events at first, until its moves are shrunk too),
    /// then fewer events, then fewer moves.
    fn key(&self) -> (usize, u64, u64, usize) {
        (
            scenario_size(&self.scenario),
            sleeping(&self.scenario),
            self.events,
            self.moves.len(),
        )
    }
}

/// Microseconds of `sleep` in all the scripts.
fn sleeping(s: &Scenario) -> u64 {
    (0..script_count(s))
        .flat_map(|k| script(s, k).into_iter().flatten())
        .map(|step| match step {
            Step::Sleep { us } => *us,
            _ => 0,
        })
        .sum()
}

fn scenario_size(s: &Scenario) -> usize {
    (0..script_count(s))
        .map(|k| script(s, k).map_or(0, |v| v.len()))
        .sum::<usize>()
        + script_count(s)
}

/// Shrinks a failure: the smallest scenario and schedule that still fail with the same
/// signature. `budget` bounds the candidates tried.
///
/// The failing run's moves are recorded, then each candidate (moves taken out of the
/// schedule, or steps, threads and processes taken out of the scenario) is re-run following
/// the remaining moves ([`Schedule`]), and kept only when the loader accepts it and it fails
/// for the same reason (`Reason`: the rule, and for a failed expectation that same one) in a
/// smaller run. Pids are positional and labels are numbered by first appearance, so the
/// trace of the result is renumbered canonically by construction. The result is recorded
/// and checked with the event-level replay that `nspsim replay` uses.
///
/// [`Schedule`]: nspsim_runtime::sim::strategy::Schedule
pub fn shrink(
    scenario: &Scenario,
    providers: &dyn Providers,
    failure: &Failure,
    max_steps: u64,
    budget: u64,
) -> Shrunk {
    shrink_within(
        scenario,
        providers,
        failure,
        max_steps,
        budget,
        Bounds::none(),
    )
}

/// [`shrink`] within `bounds`: it stops at the deadline with the smallest failure found so
/// far ([`Shrunk::stopped_early`]), and reports progress as (candidates tried, budget).
pub fn shrink_within(
    scenario: &Scenario,
    providers: &dyn Providers,
    failure: &Failure,
    max_steps: u64,
    budget: u64,
    bounds: Bounds,
) -> Shrunk {
    let start = Instant::now();
    // Out of candidates or out of time.
    let done = |search: &Search| search.runs >= budget || bounds.expired();
    let seed = failure.seed;
    let wanted = Reason::of(scenario, &failure.signature, &failure.detail);
    // The failing run itself, its moves recorded.
    let original = Guide::Fresh {
        strategy: failure.strategy,
        seed,
        plan: &failure.plan,
    };
    // The shrinker changes clients, never providers: every candidate's provider specs equal
    // the scenario's, so one prepared set serves them all (a C provider's fork server is
    // started once, not once per candidate). A spec it cannot prepare is left to each run.
    let prepared = providers.prepare(&scenario.providers);
    let providers: &dyn Providers = match &prepared {
        Some(p) => p,
        None => providers,
    };
    let registry = providers.registry();
    let first = run_guided(scenario, providers, seed, original, max_steps);
    let start_with = Candidate {
        scenario: scenario.clone(),
        events: first.as_ref().map_or(failure.events, |g| g.events),
        moves: first.map(|g| g.moves).unwrap_or_default(),
    };
    let mut search = Search {
        smallest: start_with.clone(),
        best: start_with,
        runs: 1,
        events_first: false,
    };
    // A fresh schedule of a candidate: random walks and PCT, in turn, under nearby seeds.
    let fresh = |k: u64| Guide::Fresh {
        strategy: Portfolio::Both.for_seed(k),
        seed: seed.wrapping_add(k),
        plan: &failure.plan,
    };
    // A candidate is re-run under its guide, and kept when it fails for the same reason and
    // is smaller by the measure of the pass; the run with the fewest events is kept apart.
    let try_candidate = |s: Scenario, guide: Guide, search: &mut Search| {
        search.runs += 1;
        if search.runs % 64 == 0 {
            (bounds.progress)(search.runs, budget);
        }
        let Some(Guided {
            verdict: Some((signature, detail)),
            events,
            moves,
        }) = run_guided(&s, providers, seed, guide, max_steps)
        else {
            return false;
        };
        if Reason::of(&s, &signature, &detail) != wanted {
            return false;
        }
        let c = Candidate {
            scenario: s,
            moves,
            events,
        };
        if c.events_key() < search.smallest.events_key() {
            search.smallest = c.clone();
        }
        let better = if search.events_first {
            c.events_key() < search.best.events_key()
        } else {
            c.key() < search.best.key()
        };
        if better {
            search.best = c;
            return true;
        }
        false
    };
    // First toward the smallest scenario (a smaller scenario may fail with more events at
    // first), then, from the run with the fewest events seen, toward fewer events.
    for events_first in [false, true] {
        if events_first {
            search.best = search.smallest.clone();
        }
        search.events_first = events_first;
        'passes: loop {
            let mut improved = false;
            // Moves out of the schedule, in chunks halving down to one, last first.
            let mut chunk = search.best.moves.len().div_ceil(2).max(1);
            loop {
                let mut at = search.best.moves.len().saturating_sub(chunk);
                loop {
                    if done(&search) {
                        break 'passes;
                    }
                    let mut moves = search.best.moves.clone();
                    moves.drain(at..(at + chunk).min(moves.len()));
                    if try_candidate(
                        search.best.scenario.clone(),
                        Guide::Moves(bare(&moves)),
                        &mut search,
                    ) {
                        improved = true;
                    }
                    if at == 0 {
                        break;
                    }
                    at = at
                        .saturating_sub(chunk)
                        .min(search.best.moves.len().saturating_sub(1));
                }
                if chunk == 1 {
                    break;
                }
                chunk = chunk.div_ceil(2);
            }
            // A move made earlier: what leads to the failure may come before what does not.
            'hoist: for i in (1..search.best.moves.len()).rev() {
                for j in 0..i {
                    if done(&search) {
                        break 'passes;
                    }
                    if i >= search.best.moves.len() {
                        break 'hoist;
                    }
                    let mut moves = search.best.moves.clone();
                    let m = moves.remove(i);
                    moves.insert(j, m);
                    if try_candidate(
                        search.best.scenario.clone(),
                        Guide::Moves(bare(&moves)),
                        &mut search,
                    ) {
                        improved = true;
                        break;
                    }
                }
            }
            // Smaller scenarios, under the same moves (renumbered). Each is built only when it
            // is tried: a large scenario has thousands, and building them all at once took
            // memory in proportion to their number times the scenario's size.
            let base = search.best.scenario.clone();
            let mut variants = candidates(&base);
            if events_first {
                variants.extend(later_starts(&base));
            }
            for (make, change) in variants {
                if done(&search) {
                    break 'passes;
                }
                let c = make();
                if !loads(&c, registry) {
                    continue;
                }
                let moves = remap(&search.best.moves, &search.best.scenario, &c, change);
                // A script with steps taken out finishes sooner; the others may have to start
                // sooner too for the race to stay a race.
                let sooner = match change {
                    Change::Steps { script, .. } | Change::Unloop { script, .. } => {
                        let calls = search.best.moves.len().saturating_sub(moves.len()) as u64;
                        compensate(&c, script, calls * world::STEP_US)
                    }
                    _ => None,
                };
                for c in std::iter::once(c).chain(sooner) {
                    if done(&search) {
                        break 'passes;
                    }
                    if try_candidate(c.clone(), Guide::Moves(bare(&moves)), &mut search)
                        || (0..RESEEDS).any(|k| {
                            !done(&search) && try_candidate(c.clone(), fresh(k), &mut search)
                        })
                    {
                        improved = true;
                        break;
                    }
                }
                if improved {
                    break; // regenerate candidates from the smaller scenario
                }
            }
            // Other schedules of the same scenario, which may fail sooner.
            for k in 0..RESEEDS {
                if done(&search) {
                    break 'passes;
                }
                improved |= try_candidate(search.best.scenario.clone(), fresh(k), &mut search);
            }
            if !improved {
                break;
            }
        }
    }
    let stopped_early = bounds.expired();
    canonical_handles(&mut search.smallest.scenario);
    let trace = record_moves(
        &search.smallest.scenario,
        providers,
        seed,
        bare(&search.smallest.moves),
        max_steps,
    )
    .unwrap_or_default();
    let replays = match parse_trace("shrunk", &trace) {
        Ok(mut t) => {
            // Parsed from memory: its files are where the scenario's are.
            t.base_dir = search
                .smallest
                .scenario
                .base_dir()
                .map(std::path::Path::to_path_buf);
            match replay_against(&t, &trace, providers) {
                ReplayVerdict::Identical { .. } => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
        Err(e) => Err(e.to_string()),
    };
    Shrunk {
        scenario: search.smallest.scenario,
        moves: search.smallest.moves,
        trace,
        replays,
        runs: search.runs,
        elapsed: start.elapsed(),
        stopped_early,
    }
}

/// What a failure is about, as shrinking compares it. For a lifecycle rule, a fault, a stuck
/// thread or a livelock, the rule: its detail names pids, labels and seqs that shrinking
/// changes. For a failed expectation, which one, named by what shrinking leaves alone (it
/// renumbers entries, steps, threads and pids as it takes things out): another expectation
/// failing instead is another failure, however small.
#[derive(Debug, PartialEq)]
enum Reason {
    Rule(String),
    /// An `expect_calls` entry, by its content.
    Calls(ExpectCalls),
    /// An `expect` step, or a step that could not run as written (`buffer = "required"`):
    /// its process and the step itself.
    Step {
        process: String,
        step: Step,
    },
}

impl Reason {
    /// The reason of a failure of a run of `s`, from its rule and detail (the wording of
    /// `nspsim_runtime::checker`'s expectation verdicts). A detail worded otherwise falls back
    /// to the rule.
    fn of(s: &Scenario, signature: &str, detail: &str) -> Reason {
        let rule = || Reason::Rule(signature.to_string());
        if signature != "expect" {
            return rule();
        }
        if let Some(rest) = detail.strip_prefix("expect_calls entry ") {
            return leading_number(rest)
                .and_then(|(n, _)| s.expect_calls.get(n.checked_sub(1)?))
                .map_or_else(rule, |x| Reason::Calls(x.clone()));
        }
        expect_step(s, detail).map_or_else(rule, |(process, step)| Reason::Step {
            process: process.to_string(),
            step: step.clone(),
        })
    }
}

/// The process and step a detail `pid P (NAME) thread T step N: …` names in `s`.
fn expect_step<'a>(s: &'a Scenario, detail: &str) -> Option<(&'a str, &'a Step)> {
    let (pid, _) = leading_number(detail.strip_prefix("pid ")?)?;
    let pid = Pid(u32::try_from(pid).ok()?);
    let k = (0..script_count(s)).find(|k| script_owner(s, *k).is_some_and(|(p, _)| p == pid))?;
    let process = script_process(s, k)?;
    let rest = detail.strip_prefix(&format!("pid {} ({process}) thread ", pid.0))?;
    let (tid, rest) = leading_number(rest)?;
    let tid = Tid(u32::try_from(tid).ok()?);
    let (step, _) = leading_number(rest.strip_prefix(" step ")?)?;
    let k = (0..script_count(s)).find(|k| script_owner(s, *k) == Some((pid, tid)))?;
    Some((process, script(s, k)?.get(step.checked_sub(1)?)?))
}

/// The name of the process (client or declared host) that runs script `k`.
fn script_process(s: &Scenario, mut k: usize) -> Option<&str> {
    for p in &s.processes {
        if k <= p.threads.len() {
            return Some(&p.name);
        }
        k -= 1 + p.threads.len();
    }
    s.hosts.get(k).map(|h| h.name.as_str())
}

/// The decimal number `text` starts with, and the rest.
fn leading_number(text: &str) -> Option<(usize, &str)> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    Some((text[..end].parse().ok()?, &text[end..]))
}

/// Whether the loader accepts `s` (its JSON form, as a trace header embeds it): a shrunk
/// scenario must be one `nspsim run` and `nspsim replay` take.
fn loads(s: &Scenario, registry: &Registry) -> bool {
    Scenario::from_json_with(&s.to_json(), registry).is_ok()
}

/// Names the lookup handles the shrinker made up (`shrunk-…`, after the script and step they
/// came from in some intermediate scenario) `q1`, `q2`, … per process, in order of first use,
/// skipping names the process already uses. Handle names are only keys, so the run is the same.
fn canonical_handles(s: &mut Scenario) {
    const MADE_UP: &str = "shrunk-";
    for p in &mut s.processes {
        let scripts =
            std::iter::once(&mut p.steps).chain(p.threads.iter_mut().map(|t| &mut t.steps));
        let mut names: Vec<&mut String> = scripts
            .flat_map(|v| v.iter_mut())
            .filter_map(|step| match step {
                Step::LookupBegin { as_name, .. } => Some(as_name),
                Step::LookupNext { handle, .. } | Step::LookupEnd { handle } => Some(handle),
                _ => None,
            })
            .collect();
        let taken: Vec<String> = names
            .iter()
            .filter(|n| !n.starts_with(MADE_UP))
            .map(|n| n.to_string())
            .collect();
        let mut renamed: Vec<(String, String)> = Vec::new();
        let mut next = 1;
        for name in names.iter_mut().filter(|n| n.starts_with(MADE_UP)) {
            let new = match renamed.iter().find(|(old, _)| old == &**name) {
                Some((_, new)) => new.clone(),
                None => {
                    let new = loop {
                        let candidate = format!("q{next}");
                        next += 1;
                        if !taken.contains(&candidate) {
                            break candidate;
                        }
                    };
                    renamed.push((name.to_string(), new.clone()));
                    new
                }
            };
            **name = new;
        }
    }
}

/// Fresh schedules tried for each candidate scenario whose remapped moves no longer fail.
const RESEEDS: u64 = 32;

/// Process names in pid order, as [`nspsim_runtime::script::set_up`] starts them.
fn pid_names(s: &Scenario) -> Vec<&str> {
    s.hosts
        .iter()
        .map(|h| h.name.as_str())
        .chain(s.implicit_hosts())
        .chain(s.processes.iter().map(|p| p.name.as_str()))
        .collect()
}

/// The moves of `from`, for `to` made from it by `change`: processes renumbered by name (the
/// moves of a process that is gone are dropped); the moves of steps or threads taken away
/// dropped, and the later ones renumbered.
fn remap(moves: &[Taken], from: &Scenario, to: &Scenario, change: Change) -> Vec<Taken> {
    let (old, new) = (pid_names(from), pid_names(to));
    let pid_map: Vec<Option<Pid>> = old
        .iter()
        .map(|name| {
            new.iter()
                .position(|n| n == name)
                .map(|i| Pid(i as u32 + 1))
        })
        .collect();
    let owner = |k: usize| script_owner(from, k);
    let gone_thread = match change {
        Change::Thread { process, thread } => {
            Some((client_pid(from, process), Tid(thread as u32 + 2)))
        }
        _ => None,
    };
    let mut split_seen = 0u32;
    let split_total = match change {
        Change::Unloop { script, at, .. } => moves
            .iter()
            .filter(|(_, a)| {
                a.is_some_and(|a| Some((a.pid, a.tid)) == owner(script) && a.step as usize == at)
            })
            .count() as u32,
        _ => 0,
    };
    let mut out = Vec::with_capacity(moves.len());
    for &(m, at) in moves {
        let mut m = m;
        let mut at = at;
        if let (Some((gp, gt)), Move::Step(Actor::Thread(p, t))) = (gone_thread, m) {
            if p == gp && t == gt {
                continue;
            }
            if p == gp && t > gt {
                m = Move::Step(Actor::Thread(p, Tid(t.0 - 1)));
                at = at.map(|a| StepAt {
                    tid: Tid(a.tid.0 - 1),
                    ..a
                });
            }
        }
        if let Some(a) = at.as_mut() {
            match change {
                Change::Steps {
                    script,
                    from: lo,
                    to: hi,
                } if owner(script) == Some((a.pid, a.tid)) => {
                    let step = a.step as usize;
                    if (lo..hi).contains(&step) {
                        continue;
                    }
                    if step >= hi {
                        a.step -= (hi - lo) as u32;
                    }
                }
                Change::Unloop {
                    script,
                    at: i,
                    end,
                    checks,
                } if owner(script) == Some((a.pid, a.tid)) => {
                    let step = a.step as usize;
                    if step == i {
                        // The loop made one move per call: Begin, the Nexts, End.
                        split_seen += 1;
                        let last = split_seen == split_total && split_total > 1;
                        match (split_seen, last, end) {
                            (1, _, _) => {}
                            (_, true, true) => a.step += 1,
                            _ => continue,
                        }
                    } else if step > i + checks {
                        a.step = a.step + u32::from(end) - checks as u32;
                    } else if step > i {
                        // The checks taken out are `expect`s, which make no move.
                        continue;
                    }
                }
                _ => {}
            }
        }
        if let Some(p) = m.pid() {
            let Some(renumbered) = pid_map
                .get((p.0 as usize).wrapping_sub(1))
                .copied()
                .flatten()
            else {
                continue;
            };
            m = m.map_pid(|_| renumbered);
            at = at.map(|a| StepAt {
                pid: renumbered,
                ..a
            });
        }
        out.push((m, at));
    }
    out
}

/// How a candidate scenario differs from the one it came from, so the schedule can follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    /// A client process taken away.
    Process,
    /// An extra thread taken away: process index, thread index.
    Thread { process: usize, thread: usize },
    /// Steps `from..to` of script `script` taken away.
    Steps {
        script: usize,
        from: usize,
        to: usize,
    },
    /// The `lookup` at step `at` of script `script` cut down to its `lookup_begin` (and its
    /// `lookup_end`, with `end`): the Nexts, and maybe the End, go, and so do the `checks`
    /// `expect` steps right after it (they make no move).
    Unloop {
        script: usize,
        at: usize,
        end: bool,
        checks: usize,
    },
    /// Steps changed in place (fewer results, shorter sleeps).
    Edit,
}

/// A candidate scenario, built when it is tried, and how it differs from the one it came from.
type Variant<'a> = (Box<dyn Fn() -> Scenario + 'a>, Change);

/// Smaller variants of a scenario, most aggressive first (each built on demand).
fn candidates(s: &Scenario) -> Vec<Variant<'_>> {
    let mut out: Vec<Variant<'_>> = Vec::new();
    // Drop a whole client process, last first.
    for i in (0..s.processes.len()).rev() {
        out.push((
            Box::new(move || {
                let mut c = s.clone();
                let gone = c.processes.remove(i);
                // An entry that counts the calls serving it would judge nothing any more.
                c.expect_calls
                    .retain(|x| x.process.as_deref() != Some(gone.name.as_str()));
                c
            }),
            Change::Process,
        ));
    }
    // Drop an extra thread.
    for (p, proc_) in s.processes.iter().enumerate() {
        for t in (0..proc_.threads.len()).rev() {
            out.push((
                Box::new(move || {
                    let mut c = s.clone();
                    c.processes[p].threads.remove(t);
                    c
                }),
                Change::Thread {
                    process: p,
                    thread: t,
                },
            ));
        }
    }
    // Every script (process main threads, extra threads, declared hosts) by address.
    for k in 0..script_count(s) {
        let steps: &[Step] = script(s, k).map_or(&[][..], |v| &v[..]);
        let len = steps.len();
        // Cut the end off: half, then one step.
        for cut in [len / 2, 1] {
            if cut > 0 && cut <= len {
                let change = Change::Steps {
                    script: k,
                    from: len - cut,
                    to: len,
                };
                out.push((
                    Box::new(move || {
                        let mut c = s.clone();
                        if let Some(v) = script_mut(&mut c, k) {
                            v.truncate(len - cut);
                        }
                        c
                    }),
                    change,
                ));
            }
        }
        for i in (0..len).rev() {
            // Drop single steps (with the `expect`s that check them: an `expect` left behind
            // would judge another step).
            if !matches!(steps[i], Step::Expect { .. }) {
                let checks = steps[i + 1..]
                    .iter()
                    .take_while(|x| matches!(x, Step::Expect { .. }))
                    .count();
                let change = Change::Steps {
                    script: k,
                    from: i,
                    to: i + checks + 1,
                };
                out.push((
                    Box::new(move || {
                        let mut c = s.clone();
                        if let Some(v) = script_mut(&mut c, k) {
                            v.drain(i..=i + checks);
                        }
                        c
                    }),
                    change,
                ));
            }
            match &steps[i] {
                // A `lookup` cut down to its Begin and End, or its Begin alone (the handle
                // is then closed by the session's end, S4.8).
                Step::Lookup {
                    target,
                    name,
                    flags,
                    next,
                    ..
                } => {
                    // The `expect`s that checked the lookup go with its loop: after a Begin
                    // or an End they would judge another call (and may not stand there).
                    let checks = steps[i + 1..]
                        .iter()
                        .take_while(|x| matches!(x, Step::Expect { .. }))
                        .count();
                    for end in [false, true] {
                        out.push((
                            Box::new(move || {
                                let handle = format!("shrunk-{k}-{i}");
                                let mut calls = vec![Step::LookupBegin {
                                    target: *target,
                                    name: name.clone(),
                                    flags: *flags,
                                    as_name: handle.clone(),
                                }];
                                if end {
                                    calls.push(Step::LookupEnd { handle });
                                }
                                let mut c = s.clone();
                                if let Some(v) = script_mut(&mut c, k) {
                                    v.splice(i..=i + checks, calls);
                                }
                                c
                            }),
                            Change::Unloop {
                                script: k,
                                at: i,
                                end,
                                checks,
                            },
                        ));
                    }
                    // Fewer results.
                    for fewer in [NextCount::Count(0), NextCount::Count(1)] {
                        if *next != fewer && !matches!(next, NextCount::Count(0)) {
                            out.push((
                                Box::new(move || {
                                    let mut c = s.clone();
                                    if let Some(Step::Lookup { next, .. }) =
                                        script_mut(&mut c, k).and_then(|v| v.get_mut(i))
                                    {
                                        *next = fewer;
                                    }
                                    c
                                }),
                                Change::Edit,
                            ));
                        }
                    }
                }
                // Shorter sleeps: by half, and by one call's time (which keeps a thread in
                // step with the others, whose calls each take that long).
                Step::Sleep { us } if *us > 0 => {
                    let mut shorter = vec![us / 2];
                    if *us > world::STEP_US && us / 2 != us - world::STEP_US {
                        shorter.push(us - world::STEP_US);
                    }
                    for less in shorter {
                        out.push((
                            Box::new(move || {
                                let mut c = s.clone();
                                if let Some(Step::Sleep { us: u }) =
                                    script_mut(&mut c, k).and_then(|v| v.get_mut(i))
                                {
                                    *u = less;
                                }
                                c
                            }),
                            Change::Edit,
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// `s` with one script starting one call's time later (a longer leading `sleep`, or a new
/// one), for each script: with fewer events as the only aim, a thread that starts later may
/// reach the failure in fewer steps.
fn later_starts(s: &Scenario) -> Vec<Variant<'_>> {
    (0..script_count(s))
        .filter(|k| script(s, *k).is_some())
        .map(|k| -> Variant<'_> {
            (
                Box::new(move || {
                    let mut c = s.clone();
                    if let Some(v) = script_mut(&mut c, k) {
                        match v.first_mut() {
                            Some(Step::Sleep { us }) => *us = us.saturating_add(world::STEP_US),
                            _ => v.insert(0, Step::Sleep { us: world::STEP_US }),
                        }
                    }
                    c
                }),
                Change::Edit,
            )
        })
        .collect()
}

/// `s` with the leading `sleep` of every script but `k` shortened by up to `us`, or `None`
/// when there is no such sleep.
fn compensate(s: &Scenario, k: usize, us: u64) -> Option<Scenario> {
    let mut c = s.clone();
    let mut changed = false;
    for other in (0..script_count(s)).filter(|o| *o != k) {
        if let Some(Step::Sleep { us: slept }) =
            script_mut(&mut c, other).and_then(|v| v.first_mut())
            && *slept > 0
            && us > 0
        {
            *slept = slept.saturating_sub(us);
            changed = true;
        }
    }
    changed.then_some(c)
}

/// The (pid, tid) that runs script `k` (numbered as [`script`] numbers them).
fn script_owner(s: &Scenario, mut k: usize) -> Option<(Pid, Tid)> {
    for (i, p) in s.processes.iter().enumerate() {
        let pid = client_pid(s, i);
        if k == 0 {
            return Some((pid, Tid(1)));
        }
        k -= 1;
        if k < p.threads.len() {
            return Some((pid, Tid(k as u32 + 2)));
        }
        k -= p.threads.len();
    }
    (k < s.hosts.len()).then(|| (Pid(k as u32 + 1), Tid(1)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use nspsim_runtime::event::ExitHow;

    fn scenario() -> Scenario {
        let registry = nspsim_providers::registry();
        let text = r#"
name = "t"
[[provider]]
id = "6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60"
name = "mail"
namespace = "NS_EMAIL"
kind = "email-directory"
[[process]]
name = "a"
steps = [ { op = "startup" }, { op = "lookup", namespace = "NS_EMAIL", name = "x" }, { op = "cleanup" } ]
[[process.thread]]
steps = [ { op = "sleep", us = 30 }, { op = "cleanup" } ]
[[process]]
name = "b"
steps = [ { op = "sleep", us = 20 }, { op = "startup" } ]
"#;
        nspsim_runtime::scenario::parse("t.toml", text, &registry).expect("scenario")
    }

    fn thread(pid: u32, tid: u32, step: u32) -> Taken {
        (
            Move::Step(Actor::Thread(Pid(pid), Tid(tid))),
            Some(StepAt {
                pid: Pid(pid),
                tid: Tid(tid),
                step,
            }),
        )
    }

    // pid 1 is the implicit host, a is pid 2 (threads 1 and 2), b is pid 3.
    fn moves() -> Vec<Taken> {
        vec![
            thread(2, 1, 0),
            thread(2, 1, 1), // Begin
            thread(3, 1, 1),
            thread(2, 1, 1), // Next
            thread(2, 2, 1),
            thread(2, 1, 1), // End
            thread(2, 1, 2),
            (Move::Step(Actor::Exit(Pid(3), ExitHow::Exit)), None),
        ]
    }

    #[test]
    fn dropping_a_process_drops_its_moves_and_renumbers_the_later_ones() {
        let s = scenario();
        let mut c = s.clone();
        c.processes.remove(0);
        let out = remap(&moves(), &s, &c, Change::Process);
        assert_eq!(
            out,
            vec![
                thread(2, 1, 1),
                (Move::Step(Actor::Exit(Pid(2), ExitHow::Exit)), None)
            ]
        );
    }

    #[test]
    fn dropping_a_thread_drops_its_moves() {
        let s = scenario();
        let mut c = s.clone();
        c.processes[0].threads.remove(0);
        let change = Change::Thread {
            process: 0,
            thread: 0,
        };
        let out = remap(&moves(), &s, &c, change);
        assert_eq!(out.len(), 7);
        assert!(
            !out.iter()
                .any(|(m, _)| *m == Move::Step(Actor::Thread(Pid(2), Tid(2))))
        );
    }

    #[test]
    fn dropping_a_step_drops_the_moves_it_made_and_renumbers_the_later_steps() {
        let s = scenario();
        let c = s.clone(); // the scenario itself does not matter to step changes
        let change = Change::Steps {
            script: 0,
            from: 1,
            to: 2,
        };
        let out = remap(&moves(), &s, &c, change);
        assert_eq!(
            out,
            vec![
                thread(2, 1, 0),
                thread(3, 1, 1),
                thread(2, 2, 1),
                thread(2, 1, 1), // the cleanup, now step 1
                (Move::Step(Actor::Exit(Pid(3), ExitHow::Exit)), None),
            ]
        );
    }

    #[test]
    fn cutting_a_lookup_down_keeps_its_begin_and_maybe_its_end() {
        let s = scenario();
        let begin_only = Change::Unloop {
            script: 0,
            at: 1,
            end: false,
            checks: 0,
        };
        let steps_of_main = |out: Vec<Taken>| -> Vec<u32> {
            out.iter()
                .filter_map(|(_, a)| a.filter(|a| a.pid == Pid(2) && a.tid == Tid(1)))
                .map(|a| a.step)
                .collect()
        };
        let out = remap(&moves(), &s, &s, begin_only);
        assert_eq!(steps_of_main(out), vec![0, 1, 2]);
        let with_end = Change::Unloop {
            script: 0,
            at: 1,
            end: true,
            checks: 0,
        };
        let out = remap(&moves(), &s, &s, with_end);
        assert_eq!(
            steps_of_main(out),
            vec![0, 1, 2, 3],
            "begin, end, then the cleanup"
        );
    }

    #[test]
    fn cutting_a_checked_lookup_down_takes_its_expects_out_of_the_numbering() {
        let s = scenario();
        // startup (0), lookup (1: Begin, Next, End), expect (2: no move), cleanup (3).
        let moves = vec![
            thread(2, 1, 0),
            thread(2, 1, 1),
            thread(2, 1, 1),
            thread(2, 1, 1),
            thread(2, 1, 3),
        ];
        let steps_of = |end: bool| -> Vec<u32> {
            let change = Change::Unloop {
                script: 0,
                at: 1,
                end,
                checks: 1,
            };
            remap(&moves, &s, &s, change)
                .iter()
                .filter_map(|(_, a)| a.map(|a| a.step))
                .collect()
        };
        assert_eq!(steps_of(false), vec![0, 1, 2], "begin, then the cleanup");
        assert_eq!(
            steps_of(true),
            vec![0, 1, 2, 3],
            "begin, end, then the cleanup"
        );
    }

    #[test]
    fn compensation_shortens_the_other_scripts_leading_sleeps() {
        let s = scenario();
        let c = compensate(&s, 0, 25).expect("there are leading sleeps");
        assert!(matches!(
            c.processes[0].threads[0].steps[0],
            Step::Sleep { us: 5 }
        ));
        assert!(matches!(c.processes[1].steps[0], Step::Sleep { us: 0 }));
        assert!(matches!(c.processes[0].steps[0], Step::Startup { .. }));
        assert!(compensate(&s, 0, 0).is_none());
    }

    #[test]
    fn made_up_handle_names_become_canonical() {
        let mut s = scenario();
        let begin = |n: &str| Step::LookupBegin {
            target: nspsim_runtime::scenario::Target::Namespace(
                nspsim_runtime::wsa::Namespace::EMAIL,
            ),
            name: Some("x".into()),
            flags: nspsim_runtime::wsa::LupFlags::default(),
            as_name: n.into(),
        };
        let end = |n: &str| Step::LookupEnd { handle: n.into() };
        s.processes[0].steps = vec![begin("shrunk-0-4"), begin("q1"), end("shrunk-0-4")];
        s.processes[0].threads[0].steps = vec![begin("shrunk-3-1")];
        canonical_handles(&mut s);
        assert_eq!(
            s.processes[0].steps,
            vec![begin("q2"), begin("q1"), end("q2")],
            "q1 is the user's"
        );
        assert_eq!(s.processes[0].threads[0].steps, vec![begin("q3")]);
    }

    #[test]
    fn scripts_are_owned_by_the_right_threads() {
        let s = scenario();
        assert_eq!(script_owner(&s, 0), Some((Pid(2), Tid(1))));
        assert_eq!(script_owner(&s, 1), Some((Pid(2), Tid(2))));
        assert_eq!(script_owner(&s, 2), Some((Pid(3), Tid(1))));
        assert_eq!(script_owner(&s, 3), None);
    }
}
