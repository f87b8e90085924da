//! One run (`run`), a run under real concurrency (`live`), every crash point of a run
//! (`crash_points`), and reading traces back (`replay`, `check_trace`).

use super::{Error, Scenario, file_safe, replay_command, write_into};
use crate::explore::{self as machinery, CrashPoint, Failure};
use nspsim_runtime::event::Event;
use nspsim_runtime::registry::Registry;
use nspsim_runtime::sim::replayer::{ReplayVerdict, replay_against};
use nspsim_runtime::sim::strategy::StrategyName;
use nspsim_runtime::sim::world::{DEFAULT_MAX_STEPS, RunReport};
use nspsim_runtime::trace::{Mode, parse_trace};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One broken rule, as its trace's `violation` line states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The event the line follows (its `seq`).
    pub seq: u64,
    /// The rule: `L4`, `P2`, `P5`, `expect`, … (`nspsim check --help` lists them).
    pub rule: String,
    /// One sentence naming pids, providers and labels.
    pub detail: String,
}

/// The `violation` lines of a trace's text.
fn violations_of(trace: &str) -> Result<Vec<Violation>, Error> {
    let parsed = parse_trace("run", trace).map_err(Error::Trace)?;
    Ok(parsed
        .events
        .iter()
        .filter_map(|s| match &s.event {
            Event::Violation { rule, detail } => Some(Violation {
                seq: s.seq,
                rule: rule.clone(),
                detail: detail.clone(),
            }),
            _ => None,
        })
        .collect())
}

/// Runs a scenario once in the simulator under a seed, recording its trace in memory with
/// the checker online ([`Run::run`]), like `nspsim run`.
pub fn run(scenario: &Scenario) -> Run<'_> {
    Run {
        scenario,
        seed: None,
        strategy: StrategyName::Random,
        max_steps: DEFAULT_MAX_STEPS,
        trace_path: None,
    }
}

/// A run being configured ([`run`]).
#[derive(Clone, Debug)]
#[must_use = "a run does nothing until .run() or .check()"]
pub struct Run<'s> {
    scenario: &'s Scenario,
    seed: Option<u64>,
    strategy: StrategyName,
    max_steps: u64,
    trace_path: Option<PathBuf>,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// The seed it ran under.
    pub seed: u64,
    /// The whole trace (nsptrace v1): the same inputs give the same bytes.
    pub trace: String,
    /// Where the trace was written, if [`Run::write_trace`] asked for it.
    pub trace_path: Option<PathBuf>,
    /// Steps, virtual time, failed `expect`s, stuck threads, why it stopped early.
    pub report: RunReport,
    /// Every `violation` line (failed `expect`s included).
    pub violations: Vec<Violation>,
}

impl RunOutcome {
    /// Whether the run is clean: no violation, no stuck thread, not stopped early.
    pub fn passed(&self) -> bool {
        self.violations.is_empty() && self.report.stuck.is_empty() && self.report.stopped.is_none()
    }
}

impl Run<'_> {
    /// The seed (default: the scenario's `seed`, else 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The scheduling strategy (default random).
    pub fn strategy(mut self, strategy: StrategyName) -> Self {
        self.strategy = strategy;
        self
    }

    /// Step limit (a run past it stops, reported as a livelock).
    pub fn max_steps(mut self, max_steps: u64) -> Self {
        self.max_steps = max_steps;
        self
    }

    /// Also write the trace to this file.
    pub fn write_trace(mut self, path: impl Into<PathBuf>) -> Self {
        self.trace_path = Some(path.into());
        self
    }

    /// Runs it.
    pub fn run(&self) -> Result<RunOutcome, Error> {
        super::quiet_provider_panics();
        let model = self.scenario.load()?;
        let seed = self.seed.or(model.seed).unwrap_or(0);
        let (trace, report) = crate::runs::record(
            &model,
            self.scenario.registry(),
            seed,
            self.strategy,
            self.max_steps,
        )
        .map_err(|e| Error::Run(e.to_string()))?;
        let trace_path = match &self.trace_path {
            Some(p) => {
                let dir = p.parent().unwrap_or(Path::new("."));
                let file = p.file_name().map_or_else(
                    || "trace.jsonl".into(),
                    |f| f.to_string_lossy().into_owned(),
                );
                Some(write_into(dir, &file, &trace)?)
            }
            None => None,
        };
        Ok(RunOutcome {
            seed,
            violations: violations_of(&trace)?,
            trace,
            trace_path,
            report,
        })
    }

    /// Runs it and panics unless it passed, with its violations.
    #[track_caller]
    pub fn check(&self) {
        let outcome = self
            .run()
            .unwrap_or_else(|e| panic!("nspsim: cannot run: {e}"));
        if !outcome.passed() {
            let mut text = format!("nspsim: seed {} fails", outcome.seed);
            for v in &outcome.violations {
                text.push_str(&format!("\n  seq {}: {}: {}", v.seq, v.rule, v.detail));
            }
            for s in &outcome.report.stuck {
                text.push_str(&format!("\n  stuck: {s}"));
            }
            if let Some(why) = &outcome.report.stopped {
                text.push_str(&format!("\n  stopped: {why}"));
            }
            panic!("{text}");
        }
    }
}

/// Runs a scenario under real concurrency: providers on host threads, clients as tokio tasks,
/// real time ([`Live::run`]), like `nspsim run --live`. Its trace (mode live) replays in the
/// simulator with [`replay`].
pub fn live(scenario: &Scenario) -> Live<'_> {
    Live {
        scenario,
        clients: 1,
        options: nspsim_runtime::live::LiveOptions::default(),
    }
}

/// A live run being configured ([`live`]).
#[derive(Clone, Debug)]
#[must_use = "a live run does nothing until .run()"]
pub struct Live<'s> {
    scenario: &'s Scenario,
    clients: u32,
    options: nspsim_runtime::live::LiveOptions,
}

/// What a live run did.
#[derive(Clone, Debug)]
pub struct LiveOutcome {
    /// The trace (mode live).
    pub trace: String,
    /// Calls served, latencies, failed `expect`s, why it stopped early.
    pub report: nspsim_runtime::live::LiveReport,
    /// Every `violation` line.
    pub violations: Vec<Violation>,
}

impl Live<'_> {
    /// Run this many copies of each client process (default 1).
    pub fn clients(mut self, copies: u32) -> Self {
        self.clients = copies.max(1);
        self
    }

    /// A provider call that does not return within this is a timeout fault (default 2 s).
    pub fn call_deadline(mut self, deadline: Duration) -> Self {
        self.options.call_deadline = deadline;
        self
    }

    /// A client waiting longer than this for a completion is a timeout fault (default 2 s).
    pub fn completion_deadline(mut self, deadline: Duration) -> Self {
        self.options.completion_deadline = deadline;
        self
    }

    /// Runs it.
    pub fn run(&self) -> Result<LiveOutcome, Error> {
        super::quiet_provider_panics();
        use nspsim_runtime::checker::Checked;
        use nspsim_runtime::live::{hosted, run_live};
        use nspsim_runtime::trace::TraceBuffer;
        let model = crate::cli::multiply_clients(self.scenario.load()?, self.clients);
        let mut head = crate::runs::header(&model, model.seed.unwrap_or(0));
        head.mode = Mode::Live;
        let sink = Checked::new(TraceBuffer::new(&head), model.startup_policy);
        let registry = hosted(self.scenario.registry().clone(), self.options.call_deadline);
        let (report, mut sink) = run_live(&model, &registry, sink, &self.options)
            .map_err(|e| Error::Run(e.to_string()))?;
        sink.finish(report.elapsed_us, true);
        let trace = sink.into_inner().finish(report.elapsed_us);
        Ok(LiveOutcome {
            violations: violations_of(&trace)?,
            trace,
            report,
        })
    }
}

/// Crashes each client after each move of one seed's run in turn (before and after every
/// API call, between the calls of a lookup, while a call waits), exhaustively, like
/// `nspsim explore --crash-points`.
pub fn crash_points(scenario: &Scenario) -> CrashPoints<'_> {
    CrashPoints {
        scenario,
        seed: None,
        strategy: StrategyName::Random,
        max_steps: None,
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        output_dir: None,
    }
}

/// Crash points being configured ([`crash_points`]).
#[derive(Clone, Debug)]
#[must_use = "crash points do nothing until .run() or .check()"]
pub struct CrashPoints<'s> {
    scenario: &'s Scenario,
    seed: Option<u64>,
    strategy: StrategyName,
    /// `None`: [`nspsim_runtime::sim::world::explore_max_steps`] of the scenario.
    max_steps: Option<u64>,
    jobs: usize,
    output_dir: Option<PathBuf>,
}

/// What the crash points found.
#[derive(Clone, Debug)]
pub struct CrashPointsOutcome {
    /// The seed whose run was crashed.
    pub seed: u64,
    /// When the run fails even without a crash, how (no crash point was tried).
    pub fails_without_crash: Option<Failure>,
    /// Crash points tried.
    pub tried: u64,
    /// The crash points whose run fails, in order.
    pub failing: Vec<CrashPoint>,
    /// The first failing crash point's trace, and where it was written.
    pub first_trace: Option<(PathBuf, String)>,
}

impl CrashPoints<'_> {
    /// The seed (default: the scenario's `seed`, else 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The scheduling strategy of the run (default random).
    pub fn strategy(mut self, strategy: StrategyName) -> Self {
        self.strategy = strategy;
        self
    }

    /// Step limit per run (default: as [`explore`](super::explore)'s).
    pub fn max_steps(mut self, max_steps: u64) -> Self {
        self.max_steps = Some(max_steps);
        self
    }

    /// Worker threads (at least 1).
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs.max(1);
        self
    }

    /// Where the first failing crash point's trace is written.
    pub fn output_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.output_dir = Some(dir.into());
        self
    }

    /// Tries every crash point.
    pub fn run(&self) -> Result<CrashPointsOutcome, Error> {
        super::quiet_provider_panics();
        let registry = self.scenario.registry();
        let model = self.scenario.load()?;
        // A baseline that cannot start tries no point; that must not read as none failing.
        // The set prepared here serves every point (a C provider's host main runs once).
        let prepared = nspsim_runtime::registry::Prepared::new(registry, &model.providers)
            .map_err(|e| Error::Run(e.to_string()))?;
        let providers: &dyn nspsim_runtime::registry::Providers = &prepared;
        let max_steps = self
            .max_steps
            .unwrap_or_else(|| nspsim_runtime::sim::world::explore_max_steps(&model));
        let seed = self.seed.or(model.seed).unwrap_or(0);
        let (tried, failing) = match machinery::crash_points_within(
            &model,
            providers,
            seed,
            self.strategy,
            max_steps,
            self.jobs,
            machinery::Bounds::none(),
        ) {
            // Points after one that could not run could not be judged: none may read as passing.
            Ok(report) => match report.cannot_run {
                Some(why) => {
                    return Err(Error::Run(machinery::cannot::crash_point(
                        report.runs,
                        &why,
                    )));
                }
                None => (report.runs, report.found),
            },
            Err(f) => {
                return Ok(CrashPointsOutcome {
                    seed,
                    fails_without_crash: Some(f),
                    tried: 0,
                    failing: Vec::new(),
                    first_trace: None,
                });
            }
        };
        let first_trace = match failing.first() {
            Some(first) => {
                let trace = machinery::record_crash_point(&model, providers, first, max_steps)
                    .ok_or_else(|| Error::Run(machinery::cannot::rerun_crash_point()))?;
                let dir = self
                    .output_dir
                    .clone()
                    .unwrap_or_else(super::default_output_dir);
                let file = format!(
                    "{}.crash-{}-{}-move{}.jsonl",
                    file_safe(&model.name),
                    file_safe(&first.failure.signature),
                    file_safe(&first.process),
                    first.after_moves
                );
                Some((write_into(&dir, &file, &trace)?, trace))
            }
            None => None,
        };
        Ok(CrashPointsOutcome {
            seed,
            fails_without_crash: None,
            tried,
            failing,
            first_trace,
        })
    }

    /// Tries every crash point and panics if the run fails, with or without a crash: the
    /// first failing crash point, its rule and message, its trace and the replay command.
    #[track_caller]
    pub fn check(&self) {
        let outcome = self
            .run()
            .unwrap_or_else(|e| panic!("nspsim: cannot try crash points: {e}"));
        if let Some(f) = &outcome.fails_without_crash {
            panic!(
                "nspsim: seed {} fails without any crash, with {}: {}",
                outcome.seed, f.signature, f.detail
            );
        }
        if let (Some(first), Some((path, _))) = (outcome.failing.first(), &outcome.first_trace) {
            panic!(
                "nspsim: {} of {} crash points fail; the first: crash of {} {} (after move {})\n  rule:    {}\n  message: {}\n  trace:   {}\n  replay:  {}",
                outcome.failing.len(),
                outcome.tried,
                first.process,
                first.at,
                first.after_moves,
                first.failure.signature,
                first.failure.detail,
                path.display(),
                replay_command(
                    path,
                    self.scenario.load().ok().as_ref(),
                    self.scenario.registry()
                )
            );
        }
    }
}

/// Replays a trace file exactly, following its recorded order, and compares it with what it
/// records (`nspsim replay`). `registry` must know the trace's kinds:
/// [`Scenario::registry`] of the scenario it came from, or
/// [`builtin_kinds`](super::builtin_kinds) with yours registered.
pub fn replay(trace: impl AsRef<Path>, registry: &Registry) -> Result<ReplayVerdict, Error> {
    let path = trace.as_ref();
    let text = std::fs::read_to_string(path).map_err(|error| Error::Io {
        path: path.to_path_buf(),
        error,
    })?;
    let parsed = parse_trace(&path.display().to_string(), &text).map_err(Error::Trace)?;
    Ok(replay_against(&parsed, &text, registry))
}

/// Checks a trace file offline against the lifecycle and provider rules (`nspsim check`):
/// any program that writes the format can be judged.
pub fn check_trace(trace: impl AsRef<Path>) -> Result<nspsim_runtime::checker::Report, Error> {
    let parsed = nspsim_runtime::trace::read_trace(trace.as_ref()).map_err(Error::Trace)?;
    let policy = nspsim_runtime::config::StartupPolicy::from_name(&parsed.header.startup_policy)
        .unwrap_or_default();
    Ok(nspsim_runtime::checker::check(
        &parsed.events,
        parsed.is_complete(),
        policy,
    ))
}
