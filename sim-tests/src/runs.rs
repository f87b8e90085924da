//! A scenario's run as a trace: the header every trace of a run starts with, and a whole run
//! recorded in memory with the checker online. The command line, exploration, golden traces
//! and benchmarks all record runs this way.

use nspsim_runtime::checker::Checked;
use nspsim_runtime::registry::Registry;
use nspsim_runtime::scenario::Scenario;
use nspsim_runtime::sim::strategy::StrategyName;
use nspsim_runtime::sim::world;
use nspsim_runtime::trace::{Mode, TraceBuffer, TraceHeader};

/// The trace header for a run of `scenario`.
pub fn header(scenario: &Scenario, seed: u64) -> TraceHeader<&Scenario> {
    TraceHeader {
        version: nspsim_runtime::trace::VERSION,
        mode: Mode::Sim,
        seed,
        profile: scenario.profile.name().to_string(),
        startup_policy: scenario.startup_policy.name().to_string(),
        scenario,
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
    let sink = Checked::new(
        TraceBuffer::new(&header(scenario, seed)),
        scenario.startup_policy,
    );
    let mut strat = strategy_name.build(max_steps);
    let (report, mut sink) = world::run(scenario, registry, strat.as_mut(), seed, sink, max_steps)?;
    sink.finish(report.end_time, true);
    Ok((sink.into_inner().finish(report.end_time), report))
}

/// The `--base-dir` that `nspsim replay` needs for a trace of `scenario` written at `trace`:
/// the scenario file's directory, when some provider's options name files relative to it
/// (a C provider's library) and the trace is elsewhere, where the replay would look for them
/// by default. `None` when the default finds them.
pub fn replay_base_dir(
    scenario: &Scenario,
    registry: &Registry,
    trace: &std::path::Path,
) -> Option<std::path::PathBuf> {
    use nspsim_runtime::registry::Installation;
    let base = scenario.base_dir()?;
    let beside = trace
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let same = match (base.canonicalize(), beside.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => base == beside,
    };
    if same {
        return None;
    }
    let depends_on_the_directory = scenario.providers.iter().any(|p| {
        let Some(kind) = registry.get(&p.kind) else {
            return false;
        };
        let at = |dir| Installation {
            id: p.id,
            name: &p.name,
            base_dir: Some(dir),
        };
        kind.bind(&p.options, &at(base)) != kind.bind(&p.options, &at(beside))
    });
    depends_on_the_directory.then(|| base.to_path_buf())
}
