//! The `nspsim` subcommands. Each validates its input fully before it runs anything or writes
//! a file, and returns an exit code: 0 clean, 1 a finding (violations, failed `expect`s, a
//! replay that differs), 2 bad input.

use crate::lifecycle::{Names, Printer};
use crate::render;
use nspsim_runtime::registry::Registry;
use nspsim_runtime::scenario::{self, Scenario};
use nspsim_runtime::sim::replay::{ReplayVerdict, replay_against};
use nspsim_runtime::sim::strategy::{Pct, RandomWalk, Strategy};
use nspsim_runtime::sim::world::{self, DEFAULT_MAX_STEPS};
use nspsim_runtime::trace::{Mode, TraceBuffer, TraceFile, TraceHeader, parse_trace, read_trace};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Exit codes.
pub const CLEAN: i32 = 0;
pub const FINDINGS: i32 = 1;
pub const BAD_INPUT: i32 = 2;

/// Which scheduling strategy `run` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StrategyName {
    /// Uniform random walk over the runnable choices.
    Random,
    /// Probabilistic concurrency testing (depth 3).
    Pct,
}

/// Options of `nspsim run`.
#[derive(Clone, Debug)]
pub struct RunArgs {
    pub scenario: PathBuf,
    pub seed: Option<u64>,
    pub strategy: StrategyName,
    pub trace: Option<PathBuf>,
    pub quiet: bool,
    pub max_steps: u64,
}

impl RunArgs {
    pub fn new(scenario: impl Into<PathBuf>) -> RunArgs {
        RunArgs {
            scenario: scenario.into(),
            seed: None,
            strategy: StrategyName::Random,
            trace: None,
            quiet: false,
            max_steps: DEFAULT_MAX_STEPS,
        }
    }
}

/// The default trace path: next to the scenario, `NAME.seedN.jsonl`.
pub fn default_trace_path(scenario: &Path, seed: u64) -> PathBuf {
    let stem = scenario
        .file_stem()
        .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
    scenario.with_file_name(format!("{stem}.seed{seed}.jsonl"))
}

/// The trace header for a run of `scenario`.
pub fn header(scenario: &Scenario, seed: u64) -> TraceHeader {
    TraceHeader {
        version: nspsim_runtime::trace::VERSION,
        mode: Mode::Sim,
        seed,
        profile: scenario.profile.name().to_string(),
        startup_policy: scenario.startup_policy.name().to_string(),
        scenario: scenario.to_json(),
    }
}

/// The provider names a lifecycle printout uses.
pub fn names(scenario: &Scenario) -> Names {
    let mut names = Names::default();
    for p in &scenario.providers {
        names.provider(p.id, &p.name);
    }
    names
}

fn strategy(name: StrategyName, max_steps: u64) -> Box<dyn Strategy> {
    match name {
        StrategyName::Random => Box::new(RandomWalk::new()),
        StrategyName::Pct => Box::new(Pct::new(3, max_steps.min(10_000))),
    }
}

/// Runs a scenario in memory with the checker online: the whole trace text and the report.
/// The same inputs give the same bytes (what golden traces and `--self-check` rely on).
pub fn record(
    scenario: &Scenario,
    registry: &Registry,
    seed: u64,
    strategy_name: StrategyName,
    max_steps: u64,
) -> Result<(String, world::RunReport), world::RunError> {
    let sink = nspsim_runtime::sim::oracle::Checked::new(
        TraceBuffer::new(&header(scenario, seed)),
        scenario.startup_policy,
    );
    let mut strat = strategy(strategy_name, max_steps);
    let (report, mut sink) = world::run(scenario, registry, strat.as_mut(), seed, sink, max_steps)?;
    sink.finish(report.end_time, true);
    Ok((sink.into_inner().finish(report.end_time), report))
}

/// `nspsim run --self-check`: runs the seed twice and reports the first event where the two
/// runs diverge (a determinism bug in nspsim or in a provider).
pub fn self_check(
    args: &RunArgs,
    registry: &Registry,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let scenario = match scenario::load(&args.scenario, registry) {
        Ok(s) => s,
        Err(e) => {
            let _ = write!(err, "{}", render::scenario_error(&e));
            return BAD_INPUT;
        }
    };
    let seed = args.seed.or(scenario.seed).unwrap_or(0);
    let runs = (0..2)
        .map(|_| record(&scenario, registry, seed, args.strategy, args.max_steps))
        .collect::<Result<Vec<_>, _>>();
    let runs = match runs {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return BAD_INPUT;
        }
    };
    let (a, b) = (&runs[0].0, &runs[1].0);
    match a.lines().zip(b.lines()).position(|(x, y)| x != y) {
        None if a == b => {
            let _ = writeln!(
                out,
                "self-check: seed {seed} gave identical traces twice ({} lines)",
                a.lines().count()
            );
            CLEAN
        }
        at => {
            let line = at.unwrap_or_else(|| a.lines().count().min(b.lines().count()));
            let _ = writeln!(
                out,
                "self-check: seed {seed} diverges at line {}:",
                line + 1
            );
            let _ = writeln!(
                out,
                "  first run:  {}",
                a.lines().nth(line).unwrap_or("(ended)")
            );
            let _ = writeln!(
                out,
                "  second run: {}",
                b.lines().nth(line).unwrap_or("(ended)")
            );
            FINDINGS
        }
    }
}

/// `nspsim run`.
pub fn run(args: &RunArgs, registry: &Registry, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let scenario = match scenario::load(&args.scenario, registry) {
        Ok(s) => s,
        Err(e) => {
            let _ = write!(err, "{}", render::scenario_error(&e));
            return BAD_INPUT;
        }
    };
    let seed = args.seed.or(scenario.seed).unwrap_or(0);
    let path = args
        .trace
        .clone()
        .unwrap_or_else(|| default_trace_path(&args.scenario, seed));
    let file = match TraceFile::create(&path, &header(&scenario, seed)) {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(err, "error: cannot write the trace: {e}");
            return BAD_INPUT;
        }
    };
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = writeln!(
        out,
        "nspsim: running {} (seed {seed}, {} strategy, profile {}, {})",
        scenario.name,
        match args.strategy {
            StrategyName::Random => "random",
            StrategyName::Pct => "pct",
        },
        scenario.profile.name(),
        scenario.startup_policy.name()
    );
    let printer = Printer::new(file, names(&scenario), &mut *out, color, args.quiet);
    let sink = nspsim_runtime::sim::oracle::Checked::new(printer, scenario.startup_policy);
    let mut strat = strategy(args.strategy, args.max_steps);
    let (report, mut sink) = match world::run(
        &scenario,
        registry,
        strat.as_mut(),
        seed,
        sink,
        args.max_steps,
    ) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return BAD_INPUT;
        }
    };
    sink.finish(report.end_time, true);
    let violations = sink.violations();
    let printer = sink.into_inner();
    let file = printer.inner;
    let summary = match file.finish(report.end_time) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "error: cannot write the trace: {e}");
            return BAD_INPUT;
        }
    };
    let _ = writeln!(out);
    for stuck in &report.stuck {
        let _ = writeln!(out, "stuck: {stuck}");
    }
    if let Some(why) = &report.stopped {
        let _ = writeln!(out, "stopped: {why}");
    }
    let _ = writeln!(
        out,
        "{} events, {} steps, {} µs of virtual time; {} violation(s), {} failed expect(s)",
        summary.events,
        report.steps,
        report.end_time,
        violations.saturating_sub(report.expect_failures.len() as u64),
        report.expect_failures.len()
    );
    let _ = writeln!(out, "trace: {}", summary.path.display());
    let _ = writeln!(out, "replay: nspsim replay {}", summary.path.display());
    if summary.violations > 0 || !report.stuck.is_empty() || report.stopped.is_some() {
        FINDINGS
    } else {
        CLEAN
    }
}

/// `nspsim replay`.
pub fn replay_cmd(
    path: &Path,
    registry: &Registry,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "error: {}: cannot read the trace: {e}", path.display());
            return BAD_INPUT;
        }
    };
    let trace = match parse_trace(&path.display().to_string(), &text) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return BAD_INPUT;
        }
    };
    if let Some(note) = trace.cut_short_note() {
        let _ = writeln!(out, "note: {note}; replaying what it holds");
    }
    match replay_against(&trace, &text, registry) {
        ReplayVerdict::Identical { events } => {
            let _ = writeln!(out, "identical: {events} events replayed, byte for byte");
            CLEAN
        }
        ReplayVerdict::Differs {
            line,
            recorded,
            replayed,
        } => {
            let _ = writeln!(out, "differs at line {line}:");
            let _ = writeln!(
                out,
                "  recorded: {}",
                recorded
                    .as_deref()
                    .unwrap_or("(nothing: the recorded trace ends here)")
            );
            let _ = writeln!(
                out,
                "  replayed: {}",
                replayed
                    .as_deref()
                    .unwrap_or("(nothing: the replay ends here)")
            );
            FINDINGS
        }
        ReplayVerdict::Impossible { reason } => {
            let _ = writeln!(out, "cannot replay: {reason}");
            FINDINGS
        }
        ReplayVerdict::BadScenario(message) => {
            let _ = writeln!(err, "error: {}: {message}", path.display());
            BAD_INPUT
        }
    }
}

/// `nspsim check`.
pub fn check_cmd(path: &Path, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let trace = match read_trace(path) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return BAD_INPUT;
        }
    };
    let policy = nspsim_runtime::config::StartupPolicy::from_name(&trace.header.startup_policy)
        .unwrap_or_default();
    let report = nspsim_runtime::sim::oracle::check(&trace.events, trace.is_complete(), policy);
    for v in &report.violations {
        let _ = writeln!(out, "seq {}: {}: {}", v.seq, v.rule, v.detail);
    }
    for note in &report.undecidable {
        let _ = writeln!(out, "note: {note}");
    }
    if let Some(note) = trace.cut_short_note() {
        let _ = writeln!(out, "note: {note}");
    }
    let _ = writeln!(
        out,
        "{} events checked, {} violation(s)",
        trace.events.len(),
        report.violations.len()
    );
    if report.violations.is_empty() {
        CLEAN
    } else {
        FINDINGS
    }
}

/// `nspsim providers`.
pub fn providers_cmd(registry: &Registry, out: &mut dyn Write) -> i32 {
    for kind in registry.kinds() {
        let _ = writeln!(out, "{}\n    {}", kind.name(), kind.summary());
        for o in kind.options() {
            let _ = writeln!(
                out,
                "    {:<12} {}\n    {:<12} default {}; {}",
                o.name, o.shape, "", o.default, o.help
            );
        }
        let _ = writeln!(out);
    }
    CLEAN
}
