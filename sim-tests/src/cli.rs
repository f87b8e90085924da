//! The `nspsim` subcommands. Each validates its input fully before it runs anything or writes
//! a file, and returns an exit code: 0 clean, 1 a finding (violations, failed `expect`s, a
//! replay that differs), 2 bad input.

pub use crate::app::main_with;
use crate::diagnostics;
use crate::lifecycle::{Names, Printer};
use crate::runs::{header, record};
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use nspsim_runtime::registry::{Prepared, Providers, Registry};
use nspsim_runtime::scenario::{self, Scenario};
use nspsim_runtime::sim::replayer::{ReplayVerdict, replay_against};
use nspsim_runtime::sim::strategy::{Portfolio, StrategyName};
use nspsim_runtime::sim::world::{self, DEFAULT_MAX_STEPS};
use nspsim_runtime::trace::{Mode, ReadError, Trace, TraceFile, read_trace, read_trace_and_text};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Exit codes.
pub const CLEAN: i32 = 0;
pub const FINDINGS: i32 = 1;
pub const BAD_INPUT: i32 = 2;

/// The most worker threads `explore --jobs` takes.
pub const MAX_JOBS: u16 = 256;

/// User-supplied text made safe to print (see [`crate::render::describe::escape_text`]).
pub use crate::render::describe::escape_text as shown;

/// [`shown`] for text of several lines (a scenario error with its quoted line and caret): each
/// line is escaped, the line breaks are kept.
fn shown_lines(text: &str) -> String {
    text.split('\n')
        .map(|l| shown(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// How to run nspsim again, as the user started it: `cargo run [--release] -p nspsim --` under
/// `cargo run` (the executable under a `target/` folder, `CARGO` set), else the program name as
/// invoked when it is a path, else `nspsim`. Printed before every command nspsim suggests.
pub fn program() -> String {
    if std::env::var_os("CARGO").is_some()
        && let Ok(exe) = std::env::current_exe()
    {
        let parts: Vec<String> = exe
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if let Some(i) = parts.iter().rposition(|c| c == "target")
            && let Some(profile) = parts.get(i + 1)
            && i + 3 == parts.len()
        {
            return match profile.as_str() {
                "debug" => "cargo run -p nspsim --".to_string(),
                "release" => "cargo run --release -p nspsim --".to_string(),
                other => format!("cargo run --profile {other} -p nspsim --"),
            };
        }
    }
    match std::env::args().next() {
        Some(argv0) if argv0.contains('/') => shown(&argv0).into_owned(),
        _ => "nspsim".to_string(),
    }
}

/// The printed command that replays the trace at `path` of a run of `scenario` (with the
/// `--base-dir` it needs when the trace is not beside the scenario's files).
fn replay_suggestion(scenario: &Scenario, registry: &Registry, path: &Path) -> String {
    let mut text = format!("{} replay {}", program(), arg(path));
    if let Some(dir) = crate::runs::replay_base_dir(scenario, registry, path) {
        text.push_str(&format!(" --base-dir {}", arg(&dir)));
    }
    text
}

/// A path as printed in a suggested command: escaped, and quoted when it holds a space or a
/// shell character.
pub fn arg(path: &Path) -> String {
    let text = shown(&path.display().to_string()).into_owned();
    if text
        .chars()
        .all(|c| c.is_alphanumeric() || "-_./+,:@%".contains(c))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// Refuses to write `target` when it is one of `inputs` (the same file, by canonical path):
/// a trace written over its own scenario or regression file would destroy it.
pub fn refuse_overwriting(target: &Path, inputs: &[PathBuf]) -> Result<(), String> {
    let Ok(t) = std::fs::canonicalize(target) else {
        return Ok(()); // not there yet: nothing to lose
    };
    for input in inputs {
        if std::fs::canonicalize(input).is_ok_and(|i| i == t) {
            return Err(format!(
                "{} is an input of this run; refusing to overwrite it (choose another --trace)",
                shown(&target.display().to_string())
            ));
        }
    }
    Ok(())
}

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

/// The default trace path: next to the scenario, `NAME.seedN.jsonl` under the default
/// (random) strategy, `NAME.seedN.STRATEGY.jsonl` under another, so runs of one seed under
/// different strategies do not overwrite each other.
pub fn default_trace_path(scenario: &Path, seed: u64, strategy: StrategyName) -> PathBuf {
    if strategy == StrategyName::Random {
        beside(scenario, &format!("seed{seed}.jsonl"))
    } else {
        beside(scenario, &format!("seed{seed}.{}.jsonl", strategy.name()))
    }
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

/// Loads a scenario, rendering any error (with its line and caret) to `err`. A trace given
/// where a scenario belongs is named as such, without quoting it back.
fn load_scenario(path: &Path, registry: &Registry, err: &mut dyn Write) -> Option<Scenario> {
    match scenario::load(path, registry) {
        Ok(s) => Some(s),
        Err(_) if looks_like_a_trace(path) => {
            let _ = writeln!(
                err,
                "error: {0} looks like a trace, not a scenario; did you mean `nspsim replay {0}`?",
                path.display()
            );
            None
        }
        Err(e) => {
            let _ = write!(err, "{}", shown_lines(&diagnostics::scenario_error(&e)));
            None
        }
    }
}

/// Whether the file starts like an nsptrace header.
fn looks_like_a_trace(path: &Path) -> bool {
    use std::io::Read;
    let mut start = [0u8; 16];
    let n = std::fs::File::open(path)
        .and_then(|f| f.take(16).read(&mut start))
        .unwrap_or(0);
    start[..n].starts_with(b"{\"nsptrace\"")
}

/// A trace file that cannot be read, said for a person: a scenario given where a trace
/// belongs gets a hint.
fn trace_read_error(path: &Path, e: &ReadError, err: &mut dyn Write) {
    let hint = if e.not_a_trace() && path.extension().is_some_and(|x| x == "toml") {
        format!("; did you mean `nspsim run {}`?", path.display())
    } else {
        String::new()
    };
    let _ = writeln!(err, "error: {e}{hint}");
}

/// The embedded scenario of a trace, checked exactly as `run` and `replay` check a scenario;
/// an error is written to `err`, naming the trace file and line 1.
fn embedded_scenario(
    path: &Path,
    trace: &Trace,
    registry: &Registry,
    err: &mut dyn Write,
) -> Option<Scenario> {
    match trace.header.scenario(registry) {
        Ok(mut s) => {
            if let Some(dir) = &trace.base_dir {
                s.set_base_dir(dir);
            }
            Some(s)
        }
        Err(message) => {
            let _ = writeln!(err, "error: {}:1: {message}", path.display());
            None
        }
    }
}

/// Warnings of a trace that was read although it bends the format.
fn trace_warnings(path: &Path, trace: &Trace, err: &mut dyn Write) {
    for w in &trace.warnings {
        let _ = writeln!(err, "warning: {}: {w}", path.display());
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
    // Providers are built before anything is printed or written: a C provider that does not
    // compile or load is an input error, not a run that starts and then stops.
    let prepared = match Prepared::new(registry, &scenario.providers) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return BAD_INPUT;
        }
    };
    let seed = args.seed.or(scenario.seed).unwrap_or(0);
    let path = args
        .trace
        .clone()
        .unwrap_or_else(|| default_trace_path(&args.scenario, seed, args.strategy));
    if let Err(why) = refuse_overwriting(&path, &inputs(&args.scenario)) {
        let _ = writeln!(err, "error: {why}");
        return BAD_INPUT;
    }
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
        shown(&scenario.name),
        args.strategy,
        scenario.profile.name(),
        scenario.startup_policy.name()
    );
    let printer = Printer::new(file, names(&scenario), &mut *out, color, args.quiet);
    let sink = nspsim_runtime::checker::Checked::new(printer, scenario.startup_policy);
    let mut strat = args.strategy.build(args.max_steps);
    let (report, mut sink) = match world::run(
        &scenario,
        &prepared,
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
    let _ = writeln!(out, "trace: {}", shown(&summary.path.display().to_string()));
    let _ = writeln!(
        out,
        "replay: {}",
        replay_suggestion(&scenario, registry, &summary.path)
    );
    if args.html {
        crate::render::report_beside(&summary.path, Some(args.strategy.name()), out, err);
    }
    if summary.violations > 0 || !report.stuck.is_empty() || report.stopped.is_some() {
        FINDINGS
    } else {
        CLEAN
    }
}

/// The files a run reads, which its outputs must never replace: the scenario and its
/// regression file.
fn inputs(scenario: &Path) -> Vec<PathBuf> {
    vec![
        scenario.to_path_buf(),
        crate::explore::regression_path(scenario),
    ]
}

/// The most processes a live run makes with `--clients`. Sim scenarios go up to
/// `MAX_PROCESSES` (16,384); live mode is tested up to this many, and at 16,384 client
/// processes on 2 cores its provider calls miss their deadlines and the trace no longer
/// replays (issue 16), so copies stop here.
pub const MAX_LIVE_PROCESSES: usize = 256;

/// The most `--clients` a scenario takes: its client processes times the copies, plus the
/// processes that host providers (one each), stay within [`MAX_LIVE_PROCESSES`].
pub fn max_clients(scenario: &Scenario) -> u64 {
    const MAX_PROCESSES: usize = MAX_LIVE_PROCESSES;
    let hosting = scenario
        .processes
        .iter()
        .filter(|p| scenario.providers.iter().any(|q| q.host == p.name))
        .count() as u64;
    let clients = scenario.processes.len() as u64 - hosting;
    match clients {
        0 => u64::from(u32::MAX),
        c => (MAX_PROCESSES as u64).saturating_sub(hosting) / c,
    }
}

/// The scenario with each client process run `copies` times (`name`, `name#2`, …). Check
/// `copies` against [`max_clients`] first.
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
    // Checked before anything is built: the copies must keep the scenario within its limits,
    // so that the live trace replays (`replay` checks the embedded scenario the same way).
    let most = max_clients(&scenario);
    if args.clients == 0 || u64::from(args.clients) > most {
        let _ = writeln!(
            err,
            "error: --clients {}: this scenario takes 1 to {most} (its client processes, each run that many times, plus its provider hosts must stay within {MAX_LIVE_PROCESSES} processes)",
            args.clients,
        );
        return BAD_INPUT;
    }
    let scenario = multiply_clients(scenario, args.clients);
    if let Err(e) = Scenario::from_json_with(&scenario.to_json(), &nspsim_providers::registry()) {
        let _ = writeln!(
            err,
            "error: --clients {}: the scenario with its copies is not valid: {}",
            args.clients,
            shown(&e.message)
        );
        return BAD_INPUT;
    }
    // As in a sim run, a provider that cannot be built is said before the run starts. The
    // check's instances are dropped: live providers are built on their host threads.
    if let Err(e) = Prepared::new(registry, &scenario.providers) {
        let _ = writeln!(err, "error: {e}");
        return BAD_INPUT;
    }
    let seed = args.seed.or(scenario.seed).unwrap_or(0);
    let path = args
        .trace
        .clone()
        .unwrap_or_else(|| args.scenario.with_extension("live.jsonl"));
    if let Err(why) = refuse_overwriting(&path, &inputs(&args.scenario)) {
        let _ = writeln!(err, "error: {why}");
        return BAD_INPUT;
    }
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
        shown(&scenario.name),
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
    let _ = writeln!(out, "trace: {}", shown(&summary.path.display().to_string()));
    let _ = writeln!(
        out,
        "replay in sim: {} replay {}",
        program(),
        arg(&summary.path)
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
    base_dir: Option<&Path>,
    registry: &Registry,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let (mut trace, text) = match read_trace_and_text(path) {
        Ok(t) => t,
        Err(e) => {
            trace_read_error(path, &e, err);
            return BAD_INPUT;
        }
    };
    if let Some(dir) = base_dir {
        trace.base_dir = Some(dir.to_path_buf());
    }
    trace_warnings(path, &trace, err);
    if embedded_scenario(path, &trace, registry, err).is_none() {
        return BAD_INPUT;
    }
    if let Some(note) = trace.cut_short_note() {
        let _ = writeln!(out, "note: {note}; replaying what it holds");
    }
    match replay_against(&trace, &text, registry) {
        ReplayVerdict::Identical { events } => {
            // Line ends are the one difference a replay forgives (trace-format.md): the file
            // then is not what nspsim wrote, so it must not be called byte for byte.
            let how = match (trace.header.mode == Mode::Live, text.contains('\r')) {
                (true, _) => "in sim mode, identical but for the real times",
                (false, true) => {
                    "event for event (its lines end in \\r\\n, not \\n as nspsim writes them)"
                }
                (false, false) => "byte for byte",
            };
            let _ = writeln!(out, "identical: {events} events replayed, {how}");
            // A failure trace replays to its failure: say what it records, and exit 1.
            let recorded: Vec<(&str, &str)> = trace
                .events
                .iter()
                .filter_map(|e| match &e.event {
                    nspsim_runtime::event::Event::Violation { rule, detail } => {
                        Some((rule.as_str(), detail.as_str()))
                    }
                    _ => None,
                })
                .collect();
            if recorded.is_empty() {
                return CLEAN;
            }
            let _ = writeln!(out, "the trace records {} violation(s):", recorded.len());
            for (rule, detail) in recorded.iter().take(20) {
                let _ = writeln!(out, "  {}: {}", shown(rule), shown(detail));
            }
            if recorded.len() > 20 {
                let _ = writeln!(out, "  … and {} more", recorded.len() - 20);
            }
            FINDINGS
        }
        ReplayVerdict::Differs {
            line,
            recorded,
            replayed,
        } => {
            let _ = writeln!(out, "differs at line {line}:");
            for l in difference(recorded.as_deref(), replayed.as_deref()) {
                let _ = writeln!(out, "  {l}");
            }
            FINDINGS
        }
        ReplayVerdict::Impossible { reason } => {
            let _ = writeln!(out, "cannot replay: {}", shown(&reason));
            FINDINGS
        }
        ReplayVerdict::BadScenario(message) => {
            let _ = writeln!(err, "error: {}: {message}", path.display());
            BAD_INPUT
        }
    }
}

/// Characters of context shown on each side of a difference.
const CONTEXT: usize = 60;

/// Where two versions of a trace line differ, in at most a few bounded lines: the first
/// differing JSON key (as a path, `args.name`) when both are JSON objects, and both versions
/// around the first differing column, cut to `CONTEXT` (60) characters each side with `…`.
pub fn difference(recorded: Option<&str>, replayed: Option<&str>) -> Vec<String> {
    let (Some(a), Some(b)) = (recorded, replayed) else {
        let cut = |s: &str| window(s, 0).0;
        return vec![
            format!(
                "recorded: {}",
                recorded.map_or("(nothing: the recorded trace ends here)".into(), cut)
            ),
            format!(
                "replayed: {}",
                replayed.map_or("(nothing: the replay ends here)".into(), cut)
            ),
        ];
    };
    let column = a
        .chars()
        .zip(b.chars())
        .position(|(x, y)| x != y)
        .unwrap_or_else(|| a.chars().count().min(b.chars().count()));
    let mut out = Vec::new();
    let key = match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(x), Ok(y)) => first_differing_key(&x, &y, String::new()),
        _ => None,
    };
    match key {
        Some(k) => out.push(format!("at key {}, column {}", shown(&k), column + 1)),
        None => out.push(format!("at column {}", column + 1)),
    }
    let (ra, caret) = window(a, column);
    let (rb, _) = window(b, column);
    out.push(format!("recorded: {ra}"));
    out.push(format!("replayed: {rb}"));
    out.push(format!("          {}^", " ".repeat(caret)));
    out
}

/// `s` around character `at`: at most [`CONTEXT`] characters each side, `…` where cut, made
/// safe to print; and the column of `at` in what is returned.
fn window(s: &str, at: usize) -> (String, usize) {
    let chars: Vec<char> = s.chars().collect();
    let from = at.saturating_sub(CONTEXT);
    let to = (at + CONTEXT).min(chars.len());
    let before: String = chars[from.min(chars.len())..at.min(chars.len())]
        .iter()
        .collect();
    let after: String = chars[at.min(chars.len())..to].iter().collect();
    let lead = if from > 0 { "…" } else { "" };
    let tail = if to < chars.len() { "…" } else { "" };
    let before = format!("{lead}{}", shown(&before));
    let caret = before.chars().count();
    (format!("{before}{}{tail}", shown(&after)), caret)
}

/// The path of the first key whose value differs (`args.name`, `addrs[1]`), in `a`'s order.
fn first_differing_key(
    a: &serde_json::Value,
    b: &serde_json::Value,
    path: String,
) -> Option<String> {
    use serde_json::Value;
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    None => return Some(join(k)),
                    Some(w) if v != w => {
                        return first_differing_key(v, w, join(k)).or(Some(join(k)));
                    }
                    _ => {}
                }
            }
            y.keys().find(|k| !x.contains_key(*k)).map(|k| join(k))
        }
        (Value::Array(x), Value::Array(y)) => {
            let i = x.iter().zip(y).position(|(v, w)| v != w);
            let i = i.unwrap_or_else(|| x.len().min(y.len()));
            let here = format!("{path}[{i}]");
            match (x.get(i), y.get(i)) {
                (Some(v), Some(w)) => first_differing_key(v, w, here.clone()).or(Some(here)),
                _ => Some(here),
            }
        }
        _ if a != b => (!path.is_empty()).then_some(path),
        _ => None,
    }
}

/// `nspsim check`. The embedded scenario is validated as `replay` would (a trace whose
/// scenario cannot run is bad input, not a clean trace).
pub fn check_cmd(
    path: &Path,
    registry: &Registry,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let trace = match read_trace(path) {
        Ok(t) => t,
        Err(e) => {
            trace_read_error(path, &e, err);
            return BAD_INPUT;
        }
    };
    trace_warnings(path, &trace, err);
    if embedded_scenario(path, &trace, registry, err).is_none() {
        return BAD_INPUT;
    }
    let policy = nspsim_runtime::config::StartupPolicy::from_name(&trace.header.startup_policy)
        .unwrap_or_default();
    let report = nspsim_runtime::checker::check(&trace.events, trace.is_complete(), policy);
    for v in &report.violations {
        let _ = writeln!(
            out,
            "seq {}: {}: {}",
            v.seq,
            v.rule.name(),
            shown(&v.detail)
        );
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
            // An option without a default must be given.
            let default = match o.default {
                "" => "required".to_string(),
                d => format!("default {d}"),
            };
            let _ = writeln!(
                out,
                "    {:<12} {}\n    {:<12} {default}; {}",
                o.name, o.shape, "", o.help
            );
        }
        let _ = writeln!(out);
    }
    CLEAN
}

/// `nspsim cc-flags`: the flags that compile and link a C provider library, on one line.
pub fn cc_flags_cmd(out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    match nspsim_providers::c_library::toolchain::cc_flags() {
        Ok(flags) => {
            let _ = writeln!(out, "{}", flags.join(" "));
            CLEAN
        }
        Err(e) => {
            let _ = writeln!(err, "nspsim: {e}");
            BAD_INPUT
        }
    }
}

/// Options of `nspsim explore`.
#[derive(Clone, Debug)]
pub struct ExploreArgs {
    pub scenario: PathBuf,
    /// The first and the last seed (included).
    pub seeds: (u64, u64),
    pub time: Option<std::time::Duration>,
    pub portfolio: Portfolio,
    pub jobs: usize,
    pub faults: Vec<nspsim_runtime::sim::faults::InjectedFaultKind>,
    pub keep_going: bool,
    pub crash_points: bool,
    /// `None`: [`world::explore_max_steps`] of the scenario.
    pub max_steps: Option<u64>,
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

/// Parses `A..B` (B exclusive) or `A..=B` (B included) into the first and the last seed.
pub fn parse_seed_range(s: &str) -> Result<(u64, u64), String> {
    let example = "A..B or A..=B, like 0..1000";
    if let Some((a, b)) = s.split_once("..=") {
        let (a, b) = parse_pair(&format!("{a}..{b}"), "..", example)?;
        if b < a {
            return Err(format!("the range {a}..={b} is empty"));
        }
        return Ok((a, b));
    }
    let (a, b) = parse_pair(s, "..", example)?;
    if b <= a {
        return Err(format!("the range {a}..{b} is empty"));
    }
    Ok((a, b - 1))
}

/// A seed range as the command line writes it (`A..=B`), and in words for the banner.
fn seed_range_text(first: u64, last: u64) -> String {
    match last.checked_add(1) {
        Some(end) => format!("{first}..{end}"),
        None => format!("{first}..={last}"),
    }
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

/// A progress display for one long phase: a bar on stderr when it is a terminal, else a plain
/// line on stderr every [`PLAIN_EVERY`] (nothing for a phase shorter than that).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    what: &'static str,
    started: std::time::Instant,
    last_line: std::sync::Mutex<std::time::Instant>,
}

/// How often a plain progress line is printed when stderr is not a terminal.
const PLAIN_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl Progress {
    fn new(what: &'static str, total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(&format!(
                    "{{bar:40}} {{pos}}/{{len}} {what}, {{elapsed}}, eta {{eta}} {{msg}}"
                ))
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        let now = std::time::Instant::now();
        Progress {
            bar,
            what,
            started: now,
            last_line: std::sync::Mutex::new(now),
        }
    }

    fn update(&self, done: u64, total: u64, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
            bar.set_message(message.to_string());
            return;
        }
        let Ok(mut last) = self.last_line.lock() else {
            return;
        };
        if last.elapsed() >= PLAIN_EVERY {
            *last = std::time::Instant::now();
            eprintln!(
                "nspsim: {done}/{total} {} after {:.0} s {message}",
                self.what,
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `nspsim explore`.
pub fn explore_cmd(
    args: &ExploreArgs,
    registry: &Registry,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    use crate::explore::{self, Bounds, ExploreOptions};
    let Some(scenario) = load_scenario(&args.scenario, registry, err) else {
        return BAD_INPUT;
    };
    // Every seed would fail to build the same way, and a sweep of runs that never started must
    // not read as a clean one: say it before anything runs.
    // The set prepared here serves every run below (a C provider's host main runs once).
    let prepared = match Prepared::new(registry, &scenario.providers) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return BAD_INPUT;
        }
    };
    let providers: &dyn Providers = &prepared;
    let max_steps = args
        .max_steps
        .unwrap_or_else(|| world::explore_max_steps(&scenario));
    let started = std::time::Instant::now();
    // One deadline for every phase: the seed sweep, crash points, shrinking.
    let deadline = args.time.and_then(|t| started.checked_add(t));
    let program = program();
    let scenario_arg = arg(&args.scenario);
    if args.crash_points {
        let seed = scenario.seed.unwrap_or(0);
        let name = args.portfolio.for_seed(seed);
        let _ = writeln!(
            out,
            "nspsim: crash points of {} under seed {seed} ({} strategy) on up to {} thread(s){}",
            shown(&scenario.name),
            name.name(),
            args.jobs,
            args.time
                .map_or(String::new(), |t| format!(", for at most {t:?}"))
        );
        let progress = Progress::new("crash points", 0);
        let report = explore::crash_points_within(
            &scenario,
            providers,
            seed,
            name,
            max_steps,
            args.jobs,
            Bounds {
                deadline,
                progress: &|done, total| progress.update(done, total, ""),
            },
        );
        progress.finish();
        let report = match report {
            Ok(r) => r,
            Err(f) => {
                let _ = writeln!(
                    out,
                    "the run of seed {seed} fails without any crash, with {}: {}",
                    shown(&f.signature),
                    shown(&f.detail)
                );
                let _ = writeln!(
                    out,
                    "crash points need a seed whose run passes: {program} run {scenario_arg} --seed {seed} --strategy {} shows the failure",
                    name.name()
                );
                return FINDINGS;
            }
        };
        if let Some(why) = &report.cannot_run {
            // Points after it could not be judged: none may read as passing.
            let _ = writeln!(
                err,
                "error: {}",
                explore::cannot::crash_point(report.runs, why)
            );
            return BAD_INPUT;
        }
        let found = &report.found;
        for cp in found {
            let _ = writeln!(
                out,
                "crash of {} {} (after move {}) fails with {}: {}",
                shown(&cp.process),
                cp.at,
                cp.after_moves,
                shown(&cp.failure.signature),
                shown(&cp.failure.detail)
            );
        }
        if report.stopped_early {
            let _ = writeln!(
                out,
                "stopped at the time limit: {} of {} crash points tried under seed {seed}; {} fail",
                report.runs.saturating_sub(1),
                report.points,
                found.len()
            );
        } else {
            let _ = writeln!(
                out,
                "{} crash points tried under seed {seed}; {} fail",
                report.runs,
                found.len()
            );
        }
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
        let Some(trace) = explore::record_crash_point(&scenario, providers, first, max_steps)
        else {
            let _ = writeln!(err, "error: {}", explore::cannot::rerun_crash_point());
            return BAD_INPUT;
        };
        if let Err(e) = write_output(&path, &trace, &args.scenario) {
            let _ = writeln!(err, "error: {e}");
            return BAD_INPUT;
        }
        let _ = writeln!(
            out,
            "trace of the first: {}",
            shown(&path.display().to_string())
        );
        let _ = writeln!(
            out,
            "replay: {}",
            replay_suggestion(&scenario, registry, &path)
        );
        return FINDINGS;
    }
    let (first_seed, last_seed) = args.seeds;
    let range = match args.time {
        Some(t) if last_seed == u64::MAX && first_seed == 0 => {
            format!("seeds from {first_seed} for {t:?}")
        }
        Some(t) => format!(
            "seeds {} for at most {t:?}",
            seed_range_text(first_seed, last_seed)
        ),
        None => format!("seeds {}", seed_range_text(first_seed, last_seed)),
    };
    let seed_count = explore::shard_seeds(first_seed, last_seed, args.shard).map_or(0, |s| s.1);
    let jobs = usize::try_from(seed_count)
        .unwrap_or(usize::MAX)
        .min(args.jobs)
        .max(1);
    let shard = if args.shard.1 > 1 {
        format!(" (shard {}/{})", args.shard.0, args.shard.1)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "nspsim: exploring {} {range}{shard} on {jobs} thread(s), faults: {}",
        shown(&scenario.name),
        explore::fault_names(&args.faults)
    );
    // Seeds that failed before come first.
    let regressions = explore::regression_path(&args.scenario);
    let mut first: Vec<explore::Failure> = Vec::new();
    let (kept, bad_lines) = explore::read_regressions_checked(&regressions);
    for (line, why) in &bad_lines {
        let _ = writeln!(
            err,
            "warning: {}:{line}: {}; line ignored",
            shown(&regressions.display().to_string()),
            shown(why)
        );
    }
    for r in kept {
        if r.seed % args.shard.1 != args.shard.0 {
            continue; // another shard's
        }
        let rerun = explore::rerun_regression(
            &scenario,
            providers,
            &r,
            &args.faults,
            args.portfolio,
            max_steps,
        );
        match rerun {
            Ok(Some(f)) => {
                let _ = writeln!(
                    out,
                    "regression seed {} still fails with {}",
                    r.seed,
                    shown(&f.signature)
                );
                first.push(f);
            }
            Ok(None) => {}
            Err(why) => {
                let _ = writeln!(err, "error: {why}");
                return BAD_INPUT;
            }
        }
    }
    let opts = ExploreOptions {
        first_seed,
        last_seed,
        time: deadline.map(|d| d.saturating_duration_since(std::time::Instant::now())),
        portfolio: args.portfolio,
        jobs,
        faults: args.faults.clone(),
        keep_going: args.keep_going,
        max_steps,
        shard: args.shard,
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        // With a time limit and no real end to the range, the time is what runs out.
        let (bar, template) = match args.time {
            Some(t) if seed_count > 1 << 40 => (
                indicatif::ProgressBar::new(t.as_secs().max(1)),
                "{bar:40} {elapsed}/{len}s {msg}",
            ),
            _ => (
                indicatif::ProgressBar::new(u64::try_from(seed_count).unwrap_or(u64::MAX)),
                "{bar:40} {pos}/{len} seeds, {per_sec}, eta {eta} {msg}",
            ),
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let plain_last = std::sync::Mutex::new(std::time::Instant::now());
    let progress = |n: u64, failures: usize| {
        let secs = started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { n as f64 / secs } else { 0.0 };
        match &bar {
            Some(bar) => match args.time {
                Some(_) if seed_count > 1 << 40 => {
                    bar.set_position(started.elapsed().as_secs());
                    bar.set_message(format!("{n} seeds, {rate:.0}/s, {failures} failing"));
                }
                _ => {
                    bar.set_position(n);
                    bar.set_message(format!("{failures} failing"));
                }
            },
            None => {
                if let Ok(mut last) = plain_last.lock()
                    && last.elapsed() >= PLAIN_EVERY
                {
                    *last = std::time::Instant::now();
                    eprintln!(
                        "nspsim: {n} seeds after {secs:.0} s ({rate:.0}/s), {failures} failing"
                    );
                }
            }
        }
    };
    let report = explore::explore(&scenario, providers, &opts, &progress);
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
    if let Some((seed, why)) = &report.cannot_run {
        // Every later seed would fail to start too, and read as passing: stop, and say so.
        for f in first.iter().chain(&report.failures) {
            let _ = writeln!(
                out,
                "seed {} fails with {} (found before the sweep stopped; not shrunk)",
                f.seed,
                shown(&f.signature)
            );
        }
        let _ = writeln!(err, "error: {}", explore::cannot::sweep(*seed, why));
        return BAD_INPUT;
    }
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
            f.seed,
            shown(&f.signature),
            f.plan,
            shown(&f.detail)
        );
    }
    for f in &first {
        if let Err(e) = explore::record_regression(&regressions, f, &args.faults, f.max_steps) {
            let _ = writeln!(
                err,
                "warning: cannot update {}: {e}",
                shown(&regressions.display().to_string())
            );
            break;
        }
    }
    let progress = Progress::new("shrink candidates", args.shrink_budget);
    let shrunk = explore::shrink_within(
        &scenario,
        providers,
        &failure,
        failure.max_steps,
        args.shrink_budget,
        Bounds {
            deadline,
            progress: &|done, total| progress.update(done, total, ""),
        },
    );
    progress.finish();
    if shrunk.trace.is_empty() {
        // Not even the failing run could be recorded: its providers can no longer be built.
        let _ = writeln!(err, "error: {}", explore::cannot::rerun(failure.seed));
        return BAD_INPUT;
    }
    let path = beside(
        &args.scenario,
        &format!("fail-{}-seed{}.jsonl", failure.signature, failure.seed),
    );
    let faults: Vec<String> = shrunk.faults().iter().map(|f| f.to_string()).collect();
    if shrunk.stopped_early {
        let _ = writeln!(
            out,
            "shrinking stopped at the time limit after {} candidate runs; keeping the smallest failure so far",
            shrunk.runs
        );
    }
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
            "warning: the shrunk trace does not replay identically ({}); please report this as an nspsim bug",
            shown(why)
        );
    }
    if let Err(e) = write_output(&path, &shrunk.trace, &args.scenario) {
        let _ = writeln!(err, "error: {e}");
        return BAD_INPUT;
    }
    let _ = writeln!(out, "trace: {}", shown(&path.display().to_string()));
    if let Ok(report) = crate::render::write_html_beside(&path) {
        let _ = writeln!(out, "report: {}", shown(&report.display().to_string()));
    }
    let _ = writeln!(
        out,
        "replay: {}",
        replay_suggestion(&scenario, registry, &path)
    );
    let _ = writeln!(
        out,
        "unshrunk: {program} explore {scenario_arg} --seeds {}..={} --strategy {} --faults {} --max-steps {}",
        failure.seed,
        failure.seed,
        failure.strategy.name(),
        explore::fault_names(&args.faults),
        failure.max_steps
    );
    FINDINGS
}

/// Writes an output file of `explore` (temporary name, renamed; never over an input).
fn write_output(path: &Path, text: &str, scenario: &Path) -> Result<(), String> {
    refuse_overwriting(path, &inputs(scenario))?;
    nspsim_runtime::trace::write_atomically(path, text)
        .map_err(|e| format!("cannot write {}: {e}", shown(&path.display().to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_difference_points_at_the_first_differing_key_with_bounded_context() {
        let pad = "x".repeat(5_000);
        let a = format!(r#"{{"seq":1,"args":{{"name":"{pad}a","z":1}}}}"#);
        let b = format!(r#"{{"seq":1,"args":{{"name":"{pad}b","z":1}}}}"#);
        let lines = difference(Some(&a), Some(&b));
        assert!(
            lines[0].starts_with("at key args.name, column "),
            "{lines:?}"
        );
        for l in &lines {
            assert!(l.chars().count() < 2 * CONTEXT + 30, "{l}");
        }
        assert!(
            lines[1].contains("…xxx") && lines[1].ends_with("a\",\"z\":1}}"),
            "{lines:?}"
        );
        let caret = lines[3].find('^').expect("caret");
        assert_eq!(lines[1].chars().nth(caret), Some('a'), "{lines:?}");
        let gone = difference(Some(&a), None);
        assert!(gone[1].contains("the replay ends here"), "{gone:?}");
        assert!(gone[0].chars().count() < 2 * CONTEXT + 30);
    }

    #[test]
    fn shards_hand_out_exact_seeds_at_the_top_of_the_range() {
        use crate::explore::shard_seeds;
        assert_eq!(
            shard_seeds(u64::MAX - 1, u64::MAX, (0, 1)),
            Some((u64::MAX - 1, 2))
        );
        assert_eq!(
            shard_seeds(u64::MAX - 1, u64::MAX, (1, 2)),
            Some((u64::MAX, 1))
        );
        assert_eq!(shard_seeds(u64::MAX, u64::MAX, (0, 2)), None);
        assert_eq!(shard_seeds(0, u64::MAX, (0, 1)), Some((0, 1 << 64)));
        assert_eq!(shard_seeds(3, 9, (1, 4)), Some((5, 2)), "5 and 9");
    }

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
        assert_eq!(parse_seed_range("3..9"), Ok((3, 8)), "B excluded");
        assert_eq!(parse_seed_range("3..=9"), Ok((3, 9)), "B included");
        assert_eq!(
            parse_seed_range("18446744073709551614..=18446744073709551615"),
            Ok((u64::MAX - 1, u64::MAX))
        );
        assert!(parse_seed_range("9..=8").is_err());
        assert!(parse_seed_range("9..3").is_err());
        assert!(parse_seed_range("3-9").is_err());
        assert_eq!(parse_shard("1/4"), Ok((1, 4)));
        assert!(parse_shard("4/4").is_err());
        assert!(parse_shard("1/0").is_err());
    }
}
