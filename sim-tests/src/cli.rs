//! The `nspsim` subcommands. Each validates its input fully before it runs anything or writes
//! a file, and returns an exit code: 0 clean, 1 a finding (violations, failed `expect`s, a
//! replay that differs), 2 bad input.

pub use crate::app::main_with;
use crate::diagnostics;
use crate::lifecycle::{Names, Printer};
use crate::runs::{header, record};
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use nspsim_runtime::registry::Registry;
use nspsim_runtime::scenario::{self, Scenario};
use nspsim_runtime::sim::replayer::{ReplayVerdict, replay_against};
use nspsim_runtime::sim::strategy::{Portfolio, StrategyName};
use nspsim_runtime::sim::world::{self, DEFAULT_MAX_STEPS};
use nspsim_runtime::trace::{Mode, TraceFile, parse_trace, read_trace};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Exit codes.
pub const CLEAN: i32 = 0;
pub const FINDINGS: i32 = 1;
pub const BAD_INPUT: i32 = 2;

/// `run --strategy`: a strategy's name, each shown in `--help` with what it does.
pub fn strategy_arg() -> impl TypedValueParser<Value = StrategyName> {
    let values = StrategyName::ALL.map(|s| PossibleValue::new(s.name()).help(s.summary()));
    PossibleValuesParser::new(values).try_map(|s| s.parse::<StrategyName>())
}

/// `explore --strategy`: a strategy's name, or `portfolio`.
pub fn portfolio_arg() -> impl TypedValueParser<Value = Portfolio> {
    PossibleValuesParser::new(Portfolio::names()).try_map(|s| s.parse::<Portfolio>())
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
    /// Run under real concurrency (live mode) instead of the deterministic scheduler.
    pub live: bool,
    /// Live mode: how many copies of each client process to run.
    pub clients: u32,
    /// Live mode: deadlines for provider calls and for async completions.
    pub call_deadline: std::time::Duration,
    pub completion_deadline: std::time::Duration,
    /// Also write the HTML report next to the trace.
    pub html: bool,
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
            live: false,
            clients: 1,
            call_deadline: std::time::Duration::from_secs(2),
            completion_deadline: std::time::Duration::from_secs(2),
            html: false,
        }
    }
}

/// The default trace path: next to the scenario, `NAME.seedN.jsonl`.
pub fn default_trace_path(scenario: &Path, seed: u64) -> PathBuf {
    beside(scenario, &format!("seed{seed}.jsonl"))
}

/// A file next to the scenario: `NAME.SUFFIX`, NAME being the scenario's file name without
/// its extension.
fn beside(scenario: &Path, suffix: &str) -> PathBuf {
    let stem = scenario
        .file_stem()
        .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
    scenario.with_file_name(format!("{stem}.{suffix}"))
}

/// The provider names a lifecycle printout uses.
pub fn names(scenario: &Scenario) -> Names {
    let mut names = Names::default();
    for p in &scenario.providers {
        names.provider(p.id, &p.name);
    }
    names
}

/// Loads a scenario, rendering any error (with its line and caret) to `err`.
fn load_scenario(path: &Path, registry: &Registry, err: &mut dyn Write) -> Option<Scenario> {
    match scenario::load(path, registry) {
        Ok(s) => Some(s),
        Err(e) => {
            let _ = write!(err, "{}", diagnostics::scenario_error(&e));
            None
        }
    }
}

/// `nspsim run --self-check`: runs the seed twice and reports the first event where the two
/// runs diverge (a determinism bug in nspsim or in a provider).
pub fn self_check(
    args: &RunArgs,
    registry: &Registry,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let Some(scenario) = load_scenario(&args.scenario, registry, err) else {
        return BAD_INPUT;
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
    let Some(scenario) = load_scenario(&args.scenario, registry, err) else {
        return BAD_INPUT;
    };
    if args.live {
        return run_live(args, scenario, registry, out, err);
    }
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
        args.strategy,
        scenario.profile.name(),
        scenario.startup_policy.name()
    );
    let printer = Printer::new(file, names(&scenario), &mut *out, color, args.quiet);
    let sink = nspsim_runtime::checker::Checked::new(printer, scenario.startup_policy);
    let mut strat = args.strategy.build(args.max_steps);
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
    if args.html {
        crate::render::report_beside(&summary.path, Some(args.strategy.name()), out, err);
    }
    if summary.violations > 0 || !report.stuck.is_empty() || report.stopped.is_some() {
        FINDINGS
    } else {
        CLEAN
    }
}

/// The scenario with each client process run `copies` times (`name`, `name#2`, …).
pub fn multiply_clients(mut scenario: Scenario, copies: u32) -> Scenario {
    let hosting: Vec<String> = scenario.providers.iter().map(|p| p.host.clone()).collect();
    let mut out = Vec::new();
    for p in &scenario.processes {
        out.push(p.clone());
        if hosting.contains(&p.name) {
            continue; // a process that hosts a provider is one process
        }
        for k in 2..=copies {
            let mut copy = p.clone();
            copy.name = format!("{}#{k}", p.name);
            out.push(copy);
        }
    }
    scenario.processes = out;
    scenario
}

/// `nspsim run --live`: real threads, real time; a `mode: live` trace that replays in sim.
fn run_live(
    args: &RunArgs,
    scenario: Scenario,
    registry: &Registry,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    use nspsim_runtime::live::{LiveOptions, hosted, run_live};
    let scenario = multiply_clients(scenario, args.clients.max(1));
    let seed = args.seed.or(scenario.seed).unwrap_or(0);
    let path = args
        .trace
        .clone()
        .unwrap_or_else(|| args.scenario.with_extension("live.jsonl"));
    let mut head = header(&scenario, seed);
    head.mode = Mode::Live;
    let file = match TraceFile::create(&path, &head) {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(err, "error: cannot write the trace: {e}");
            return BAD_INPUT;
        }
    };
    let _ = writeln!(
        out,
        "nspsim: running {} live ({} client processes, providers on host threads)",
        scenario.name,
        scenario.processes.len()
    );
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let printer = Printer::new(file, names(&scenario), &mut *out, color, args.quiet);
    let sink = nspsim_runtime::checker::Checked::new(printer, scenario.startup_policy);
    let options = LiveOptions {
        call_deadline: args.call_deadline,
        completion_deadline: args.completion_deadline,
        ..LiveOptions::default()
    };
    let registry = hosted(registry.clone(), options.call_deadline);
    let (report, mut sink) = match run_live(&scenario, &registry, sink, &options) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return BAD_INPUT;
        }
    };
    let end = report.elapsed_us;
    sink.finish(end, true);
    let violations = sink.violations();
    let summary = match sink.into_inner().inner.finish(end) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "error: cannot write the trace: {e}");
            return BAD_INPUT;
        }
    };
    let _ = writeln!(out);
    if let Some(why) = &report.stopped {
        let _ = writeln!(out, "stopped: {why}");
    }
    let _ = writeln!(
        out,
        "{} events, {} calls in {:.1} ms (p50 {} µs, p99 {} µs); {} violation(s), {} failed expect(s)",
        summary.events,
        report.calls,
        report.elapsed_us as f64 / 1000.0,
        report.latency(0.5),
        report.latency(0.99),
        violations.saturating_sub(report.expect_failures.len() as u64),
        report.expect_failures.len()
    );
    let _ = writeln!(out, "trace: {}", summary.path.display());
    let _ = writeln!(
        out,
        "replay in sim: nspsim replay {}",
        summary.path.display()
    );
    if args.html {
        crate::render::report_beside(&summary.path, None, out, err);
    }
    if summary.violations > 0 || report.stopped.is_some() {
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
            let how = if trace.header.mode == Mode::Live {
                "in sim mode, identical but for the real times"
            } else {
                "byte for byte"
            };
            let _ = writeln!(out, "identical: {events} events replayed, {how}");
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
    let report = nspsim_runtime::checker::check(&trace.events, trace.is_complete(), policy);
    for v in &report.violations {
        let _ = writeln!(out, "seq {}: {}: {}", v.seq, v.rule.name(), v.detail);
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

/// The rule table as `nspsim check --help` lists it: one line per rule, with when it is
/// decided where that is not at the breaking event.
pub fn rules_help() -> String {
    use nspsim_runtime::checker::{Decided, rules};
    let mut text = String::from("Rules (the name a violation line carries):\n");
    for r in rules() {
        let when = match r.decided {
            Decided::AtEvent => "",
            Decided::AtEnd => " [end of run: not decidable on a trace cut short]",
            Decided::ByTheRun => " [judged by the run; passed through]",
        };
        text.push_str(&format!("  {:<7} {}{when}\n", r.id, r.text));
    }
    text
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

/// Options of `nspsim explore`.
#[derive(Clone, Debug)]
pub struct ExploreArgs {
    pub scenario: PathBuf,
    pub seeds: (u64, u64),
    pub time: Option<std::time::Duration>,
    pub portfolio: Portfolio,
    pub jobs: usize,
    pub faults: Vec<nspsim_runtime::sim::faults::InjectedFaultKind>,
    pub keep_going: bool,
    pub crash_points: bool,
    pub max_steps: u64,
    pub shrink_budget: u64,
    pub shard: (u64, u64),
}

/// Parses two numbers around `sep`; `example` shows the expected form in errors.
fn parse_pair(s: &str, sep: &str, example: &str) -> Result<(u64, u64), String> {
    let (a, b) = s
        .split_once(sep)
        .ok_or_else(|| format!("\"{s}\" is not of the form {example}"))?;
    let number = |x: &str| {
        x.trim()
            .parse::<u64>()
            .map_err(|_| format!("\"{x}\" is not a whole number (in \"{s}\", expected {example})"))
    };
    Ok((number(a)?, number(b)?))
}

/// Parses `I/N` (0 ≤ I < N).
pub fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (i, n) = parse_pair(s, "/", "I/N, like 0/4")?;
    if n == 0 || i >= n {
        return Err(format!("shard {i}/{n}: the index must be below the count"));
    }
    Ok((i, n))
}

/// Parses a duration: a number of seconds, or numbers with units `h`, `m`, `s`, `ms` in a row
/// (`90`, `90s`, `1m30s`, `2h`, `500ms`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("\"{s}\" is not a duration; expected like 90, 90s, 1m30s, 2h or 500ms");
    let text = s.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return match secs {
            0 => Err(format!("\"{s}\": the time must be more than zero")),
            _ => Ok(std::time::Duration::from_secs(secs)),
        };
    }
    let mut total = std::time::Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "h" => std::time::Duration::from_secs(3600),
            "m" => std::time::Duration::from_secs(60),
            "s" => std::time::Duration::from_secs(1),
            "ms" => std::time::Duration::from_millis(1),
            _ => return Err(bad()),
        };
        total = unit
            .checked_mul(u32::try_from(n).map_err(|_| bad())?)
            .and_then(|d| total.checked_add(d))
            .ok_or_else(bad)?;
        rest = &rest[unit_len..];
    }
    if total.is_zero() {
        return Err(format!("\"{s}\": the time must be more than zero"));
    }
    Ok(total)
}

/// Parses `A..B` (B exclusive).
pub fn parse_seed_range(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = parse_pair(s, "..", "A..B, like 0..1000")?;
    if b <= a {
        return Err(format!("the range {a}..{b} is empty"));
    }
    Ok((a, b))
}

/// Parses `crash,kill,…`, `all` or `none`.
pub fn parse_faults(
    s: &str,
) -> Result<Vec<nspsim_runtime::sim::faults::InjectedFaultKind>, String> {
    use nspsim_runtime::sim::faults::InjectedFaultKind;
    match s {
        "all" => Ok(InjectedFaultKind::ALL.to_vec()),
        "none" => Ok(Vec::new()),
        _ => s
            .split(',')
            .map(|k| {
                InjectedFaultKind::from_name(k.trim()).ok_or_else(|| {
                    let names: Vec<_> = InjectedFaultKind::ALL.iter().map(|k| k.name()).collect();
                    format!(
                        "unknown fault kind \"{k}\"; expected all, none, or a list of {}",
                        names.join(", ")
                    )
                })
            })
            .collect(),
    }
}

/// `nspsim explore`.
pub fn explore_cmd(
    args: &ExploreArgs,
    registry: &Registry,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    use crate::explore::{self, ExploreOptions};
    let Some(scenario) = load_scenario(&args.scenario, registry, err) else {
        return BAD_INPUT;
    };
    if args.crash_points {
        let seed = scenario.seed.unwrap_or(0);
        let name = args.portfolio.for_seed(seed);
        let (runs, found) = match explore::crash_points(
            &scenario,
            registry,
            seed,
            name,
            args.max_steps,
            args.jobs,
        ) {
            Ok(r) => r,
            Err(f) => {
                let _ = writeln!(
                    out,
                    "the run of seed {seed} fails without any crash, with {}: {}",
                    f.signature, f.detail
                );
                let _ = writeln!(
                    out,
                    "crash points need a seed whose run passes: nspsim run {} --seed {seed} --strategy {} shows the failure",
                    args.scenario.display(),
                    name.name()
                );
                return FINDINGS;
            }
        };
        for cp in &found {
            let _ = writeln!(
                out,
                "crash of {} {} (after move {}) fails with {}: {}",
                cp.process, cp.at, cp.after_moves, cp.failure.signature, cp.failure.detail
            );
        }
        let _ = writeln!(
            out,
            "{runs} crash points tried under seed {seed}; {} fail",
            found.len()
        );
        let Some(first) = found.first() else {
            return CLEAN;
        };
        // The first failing crash point, kept as a trace that replays.
        // A process name is the user's text: only its plain characters go into a file name.
        let process: String = first
            .process
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = beside(
            &args.scenario,
            &format!(
                "crash-{}-{process}-move{}.jsonl",
                first.failure.signature, first.after_moves
            ),
        );
        let trace = explore::record_crash_point(&scenario, registry, first, args.max_steps)
            .unwrap_or_default();
        if let Err(e) = write_atomically(&path, &trace) {
            let _ = writeln!(err, "error: cannot write {}: {e}", path.display());
            return BAD_INPUT;
        }
        let _ = writeln!(out, "trace of the first: {}", path.display());
        let _ = writeln!(out, "replay: nspsim replay {}", path.display());
        return FINDINGS;
    }
    // Seeds that failed before come first.
    let regressions = explore::regression_path(&args.scenario);
    let mut first: Vec<explore::Failure> = Vec::new();
    for r in explore::read_regressions(&regressions) {
        if r.seed % args.shard.1 != args.shard.0 {
            continue; // another shard's
        }
        // Under the settings it failed with, where the file kept them.
        let plan = explore::plan_for(r.seed, r.faults.as_deref().unwrap_or(&args.faults));
        let name = r.strategy.unwrap_or(args.portfolio.for_seed(r.seed));
        let max_steps = r.max_steps.unwrap_or(args.max_steps);
        if let Some(f) = explore::run_seed(&scenario, registry, r.seed, name, &plan, max_steps) {
            let _ = writeln!(
                out,
                "regression seed {} still fails with {}",
                r.seed, f.signature
            );
            first.push(f);
        }
    }
    let opts = ExploreOptions {
        first_seed: args.seeds.0,
        end_seed: args.seeds.1,
        time: args.time,
        portfolio: args.portfolio,
        jobs: args.jobs,
        faults: args.faults.clone(),
        keep_going: args.keep_going,
        max_steps: args.max_steps,
        shard: args.shard,
    };
    let range = match args.time {
        Some(t) if args.seeds.1 == u64::MAX => {
            format!("seeds from {} for {:?}", args.seeds.0, t)
        }
        Some(t) => format!(
            "seeds {}..{} for at most {:?}",
            args.seeds.0, args.seeds.1, t
        ),
        None => format!("seeds {}..{}", args.seeds.0, args.seeds.1),
    };
    let _ = writeln!(
        out,
        "nspsim: exploring {} {range} on {} thread(s), faults: {}",
        scenario.name,
        args.jobs,
        explore::fault_names(&args.faults)
    );
    let bar = std::io::stderr().is_terminal().then(|| {
        let total = args.seeds.1 - args.seeds.0;
        // With a time limit and no real end to the range, the time is what runs out.
        let (bar, template) = match args.time {
            Some(t) if total > 1 << 40 => (
                indicatif::ProgressBar::new(t.as_secs().max(1)),
                "{bar:40} {elapsed}/{len}s {msg}",
            ),
            _ => (
                indicatif::ProgressBar::new(total),
                "{bar:40} {pos}/{len} seeds, {per_sec}, eta {eta} {msg}",
            ),
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let started = std::time::Instant::now();
    let progress = |n: u64, failures: usize| {
        if let Some(bar) = &bar {
            let secs = started.elapsed().as_secs_f64();
            let rate = if secs > 0.0 { n as f64 / secs } else { 0.0 };
            match args.time {
                Some(_) if args.seeds.1 - args.seeds.0 > 1 << 40 => {
                    bar.set_position(started.elapsed().as_secs());
                    bar.set_message(format!("{n} seeds, {rate:.0}/s, {failures} failing"));
                }
                _ => {
                    bar.set_position(n);
                    bar.set_message(format!("{failures} failing"));
                }
            }
        }
    };
    let report = explore::explore(&scenario, registry, &opts, &progress);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    let _ = writeln!(
        out,
        "{} seeds in {:.2} s ({:.0} seeds/s); {} failing",
        report.seeds_run,
        secs,
        report.seeds_run as f64 / secs,
        report.failures.len()
    );
    // A regression seed inside the range is found again: report it once.
    let known: Vec<u64> = first.iter().map(|f| f.seed).collect();
    first.extend(
        report
            .failures
            .into_iter()
            .filter(|f| !known.contains(&f.seed)),
    );
    let Some(failure) = first.first().cloned() else {
        return CLEAN;
    };
    for f in &first {
        let _ = writeln!(
            out,
            "seed {} fails with {} ({}): {}",
            f.seed, f.signature, f.plan, f.detail
        );
    }
    for f in &first {
        if let Err(e) = explore::record_regression(&regressions, f, &args.faults, args.max_steps) {
            let _ = writeln!(err, "warning: cannot update {}: {e}", regressions.display());
            break;
        }
    }
    let shrunk = explore::shrink(
        &scenario,
        registry,
        &failure,
        args.max_steps,
        args.shrink_budget,
    );
    let path = beside(
        &args.scenario,
        &format!("fail-{}-seed{}.jsonl", failure.signature, failure.seed),
    );
    let faults: Vec<String> = shrunk.faults().iter().map(|f| f.to_string()).collect();
    let _ = writeln!(
        out,
        "shrunk to {} events ({} candidate runs, {:.0} ms; {})",
        shrunk.events(),
        shrunk.runs,
        shrunk.elapsed.as_secs_f64() * 1000.0,
        if faults.is_empty() {
            "no faults".to_string()
        } else {
            format!("faults: {}", faults.join(", "))
        }
    );
    if let Err(why) = &shrunk.replays {
        let _ = writeln!(
            err,
            "warning: the shrunk trace does not replay identically ({why}); please report this as an nspsim bug"
        );
    }
    if let Err(e) = write_atomically(&path, &shrunk.trace) {
        let _ = writeln!(err, "error: cannot write {}: {e}", path.display());
        return BAD_INPUT;
    }
    let _ = writeln!(out, "trace: {}", path.display());
    if let Ok(report) = crate::render::write_html_beside(&path) {
        let _ = writeln!(out, "report: {}", report.display());
    }
    let _ = writeln!(out, "replay: nspsim replay {}", path.display());
    let _ = writeln!(
        out,
        "unshrunk: nspsim explore {} --seeds {}..{} --strategy {} --faults {} --max-steps {}",
        args.scenario.display(),
        failure.seed,
        failure.seed + 1,
        failure.strategy.name(),
        explore::fault_names(&args.faults),
        args.max_steps
    );
    FINDINGS
}

/// Writes a file under a temporary name and renames it into place.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("jsonl.tmp-{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        for bad in ["", "s", "1x", "m5", "0", "0s", "1.5s", "-3s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn seed_ranges_and_shards_are_checked() {
        assert_eq!(parse_seed_range("3..9"), Ok((3, 9)));
        assert!(parse_seed_range("9..3").is_err());
        assert!(parse_seed_range("3-9").is_err());
        assert_eq!(parse_shard("1/4"), Ok((1, 4)));
        assert!(parse_shard("4/4").is_err());
        assert!(parse_shard("1/0").is_err());
    }
}
