//! `explore`: many seeds with faults; the first failure shrunk to a trace that replays.

use super::{Error, Faults, Scenario, file_safe, replay_command, write_into};
use crate::explore::{self as machinery, ExploreOptions, Failure};
use nspsim_runtime::sim::strategy::Portfolio;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

/// Explores a scenario: configure with the methods, then [`Explore::run`] for the outcome or
/// [`Explore::check`] to panic on a failure.
///
/// Defaults: seeds `0..1000`, all faults, the portfolio strategy (random walk on even seeds,
/// PCT on odd ones), every core, 100,000 steps per run (16 per scripted step when that is more), a shrink budget of 20,000 runs,
/// failure traces under [`default_output_dir`](super::default_output_dir), and for a scenario
/// read from a file the regression file beside it (`NAME.toml.regressions`: commit it).
pub fn explore(scenario: &Scenario) -> Explore<'_> {
    Explore {
        scenario,
        seeds: 0..1000,
        faults: Faults::all(),
        portfolio: Portfolio::Both,
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        max_steps: None,
        shrink_budget: 20_000,
        time: None,
        keep_going: false,
        output_dir: None,
        regressions: scenario.path().map(machinery::regression_path),
    }
}

/// An exploration being configured ([`explore`]).
#[derive(Clone, Debug)]
#[must_use = "an exploration does nothing until .run() or .check()"]
pub struct Explore<'s> {
    scenario: &'s Scenario,
    seeds: Range<u64>,
    faults: Faults,
    portfolio: Portfolio,
    jobs: usize,
    /// `None`: [`nspsim_runtime::sim::world::explore_max_steps`] of the scenario.
    max_steps: Option<u64>,
    shrink_budget: u64,
    time: Option<Duration>,
    keep_going: bool,
    output_dir: Option<PathBuf>,
    regressions: Option<PathBuf>,
}

/// What an exploration found.
#[derive(Clone, Debug)]
pub struct ExploreOutcome {
    /// Seeds of the range run (regression seeds not counted).
    pub seeds_run: u64,
    /// Wall time of the range.
    pub elapsed: Duration,
    /// Failing seeds: those of the regression file that still fail, then the range's (the
    /// smallest failing seed, or all of them with `keep_going`).
    pub failures: Vec<Failure>,
    /// The first failure, shrunk.
    pub shrunk: Option<ShrunkFailure>,
}

/// The first failure of an exploration, shrunk to the smallest scenario and schedule that
/// still fail with the same rule, and written as a trace.
#[derive(Clone, Debug)]
pub struct ShrunkFailure {
    /// The failing seed, as found.
    pub failure: Failure,
    /// The rule the shrunk run breaks: `L4`, `P4`, `P5`, `expect`, `L7`, `livelock`, …
    pub rule: String,
    /// What the shrunk run's violation says.
    pub message: String,
    /// The shrunk trace (nsptrace v1).
    pub trace: String,
    /// Where it was written.
    pub trace_path: PathBuf,
    /// Its event lines (header and `end` excluded).
    pub events: usize,
    /// Whether it replays byte for byte (`Err` says why not: an nspsim bug).
    pub replays: Result<(), String>,
    /// Candidate runs the shrinker tried.
    pub shrink_runs: u64,
    /// The command that replays the trace.
    pub replay_command: String,
    /// The command that explores the unshrunk seed again (for a scenario file).
    pub unshrunk_command: Option<String>,
}

impl std::fmt::Display for ShrunkFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "nspsim: seed {} fails with {}",
            self.failure.seed, self.rule
        )?;
        writeln!(f, "  rule:    {}", self.rule)?;
        writeln!(f, "  message: {}", self.message)?;
        writeln!(
            f,
            "  found with {} ({}), shrunk to {} events",
            self.failure.strategy.name(),
            self.failure.plan,
            self.events
        )?;
        writeln!(f, "  trace:   {}", self.trace_path.display())?;
        write!(f, "  replay:  {}", self.replay_command)?;
        if let Some(c) = &self.unshrunk_command {
            write!(f, "\n  unshrunk: {c}")?;
        }
        if let Err(why) = &self.replays {
            write!(
                f,
                "\n  warning: the shrunk trace does not replay identically ({why}); please report this as an nspsim bug"
            )?;
        }
        Ok(())
    }
}

impl ExploreOutcome {
    /// Whether any seed failed.
    pub fn failed(&self) -> bool {
        !self.failures.is_empty()
    }
}

impl Explore<'_> {
    /// The seed range (end exclusive).
    pub fn seeds(mut self, seeds: Range<u64>) -> Self {
        self.seeds = seeds;
        self
    }

    /// The fault kinds a seed may switch on.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// The scheduling strategy: one for every seed, or the portfolio.
    pub fn strategy(mut self, portfolio: Portfolio) -> Self {
        self.portfolio = portfolio;
        self
    }

    /// Worker threads (at least 1). The failure reported does not depend on it.
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs.max(1);
        self
    }

    /// Step limit per run (a run past it is a livelock).
    pub fn max_steps(mut self, max_steps: u64) -> Self {
        self.max_steps = Some(max_steps);
        self
    }

    /// Candidate runs the shrinker may try.
    pub fn shrink_budget(mut self, budget: u64) -> Self {
        self.shrink_budget = budget;
        self
    }

    /// Stop after this long, even if seeds remain.
    pub fn time(mut self, limit: Duration) -> Self {
        self.time = Some(limit);
        self
    }

    /// Run every seed of the range and report each failing one (the first is shrunk).
    pub fn keep_going(mut self) -> Self {
        self.keep_going = true;
        self
    }

    /// Where the shrunk trace is written.
    pub fn output_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.output_dir = Some(dir.into());
        self
    }

    /// The regression file: failing seeds are appended to it and tried first next time, as
    /// proptest does. Commit it.
    pub fn regressions_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.regressions = Some(path.into());
        self
    }

    /// No regression file: neither read nor written.
    pub fn no_regressions_file(mut self) -> Self {
        self.regressions = None;
        self
    }

    /// Runs the exploration: regression seeds first, then the range; the first failure is
    /// shrunk, its trace written, and the regression file updated.
    pub fn run(&self) -> Result<ExploreOutcome, Error> {
        super::quiet_provider_panics();
        let registry = self.scenario.registry();
        let model = self.scenario.load()?;
        // Runs that cannot start find nothing; that must not read as a clean sweep. The set
        // prepared here serves every run below (a C provider's host main runs once).
        let prepared = nspsim_runtime::registry::Prepared::new(registry, &model.providers)
            .map_err(|e| Error::Run(e.to_string()))?;
        let providers: &dyn nspsim_runtime::registry::Providers = &prepared;
        let max_steps = self
            .max_steps
            .unwrap_or_else(|| nspsim_runtime::sim::world::explore_max_steps(&model));
        let allowed = self.faults.kinds();
        let mut failures: Vec<Failure> = Vec::new();
        if let Some(path) = &self.regressions {
            for r in machinery::read_regressions(path) {
                if let Some(f) = machinery::rerun_regression(
                    &model,
                    providers,
                    &r,
                    allowed,
                    self.portfolio,
                    max_steps,
                )
                .map_err(Error::Run)?
                {
                    failures.push(f);
                }
            }
        }
        // The machinery takes an inclusive range (so that it can reach u64::MAX); an empty
        // range explores nothing but the regression seeds.
        let swept = self
            .seeds
            .end
            .checked_sub(1)
            .filter(|last| *last >= self.seeds.start)
            .map(|last_seed| {
                let opts = ExploreOptions {
                    first_seed: self.seeds.start,
                    last_seed,
                    time: self.time,
                    portfolio: self.portfolio,
                    jobs: self.jobs,
                    faults: allowed.to_vec(),
                    keep_going: self.keep_going,
                    max_steps,
                    shard: (0, 1),
                };
                machinery::explore(&model, providers, &opts, &|_, _| {})
            });
        if let Some((seed, why)) = swept.as_ref().and_then(|r| r.cannot_run.as_ref()) {
            // Every later seed would fail to start too, and read as passing.
            return Err(Error::Run(machinery::cannot::sweep(*seed, why)));
        }
        let (seeds_run, elapsed, found) = swept.map_or((0, Duration::ZERO, Vec::new()), |r| {
            (r.seeds_run, r.elapsed, r.failures)
        });
        let known: Vec<u64> = failures.iter().map(|f| f.seed).collect();
        failures.extend(found.into_iter().filter(|f| !known.contains(&f.seed)));
        let mut outcome = ExploreOutcome {
            seeds_run,
            elapsed,
            failures,
            shrunk: None,
        };
        let Some(failure) = outcome.failures.first().cloned() else {
            return Ok(outcome);
        };
        if let Some(path) = &self.regressions {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|error| Error::Io {
                    path: dir.to_path_buf(),
                    error,
                })?;
            }
            for f in &outcome.failures {
                machinery::record_regression(path, f, allowed, f.max_steps).map_err(|error| {
                    Error::Io {
                        path: path.clone(),
                        error,
                    }
                })?;
            }
        }
        let shrunk = machinery::shrink(
            &model,
            providers,
            &failure,
            failure.max_steps,
            self.shrink_budget,
        );
        if shrunk.trace.is_empty() {
            // Not even the failing run could be recorded: its providers can no longer be built.
            return Err(Error::Run(machinery::cannot::rerun(failure.seed)));
        }
        let dir = self
            .output_dir
            .clone()
            .unwrap_or_else(super::default_output_dir);
        let file = format!(
            "{}.fail-{}-seed{}.jsonl",
            file_safe(&model.name),
            file_safe(&failure.signature),
            failure.seed
        );
        let trace_path = write_into(&dir, &file, &shrunk.trace)?;
        let (rule, message) = first_violation(&shrunk.trace)
            .unwrap_or_else(|| (failure.signature.clone(), failure.detail.clone()));
        let unshrunk_command = self.scenario.path().map(|p| {
            format!(
                "nspsim explore {} --seeds {}..{} --strategy {} --faults {} --max-steps {}",
                p.display(),
                failure.seed,
                failure.seed + 1,
                failure.strategy.name(),
                machinery::fault_names(allowed),
                failure.max_steps
            )
        });
        outcome.shrunk = Some(ShrunkFailure {
            rule,
            message,
            events: shrunk.events(),
            replays: shrunk.replays.clone(),
            shrink_runs: shrunk.runs,
            replay_command: replay_command(&trace_path, Some(&model), registry),
            trace: shrunk.trace,
            trace_path,
            unshrunk_command,
            failure,
        });
        Ok(outcome)
    }

    /// Runs the exploration and panics on a failure, with the rule, the message, the shrunk
    /// trace's path and the command that replays it (or on a scenario that does not load).
    #[track_caller]
    pub fn check(&self) {
        match self.run() {
            Err(e) => panic!("nspsim: cannot explore: {e}"),
            Ok(ExploreOutcome {
                shrunk: Some(s), ..
            }) => panic!("{s}"),
            Ok(_) => {}
        }
    }
}

/// The rule and detail of a trace's first `violation` line, or its provider panic (P4).
fn first_violation(trace: &str) -> Option<(String, String)> {
    let trace = nspsim_runtime::trace::parse_trace("shrunk", trace).ok()?;
    trace.events.iter().find_map(|s| match &s.event {
        nspsim_runtime::event::Event::Violation { rule, detail } => {
            Some((rule.clone(), detail.clone()))
        }
        nspsim_runtime::event::Event::Fault {
            func, kind, detail, ..
        } => Some(machinery::fault_finding(*func, *kind, detail)),
        _ => None,
    })
}
