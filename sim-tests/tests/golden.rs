//! Golden traces (traces/*.toml → traces/*.jsonl), compared byte for byte, and the
//! determinism they rest on: each scenario twice in this process, once in a child process
//! (another address-space layout), and a replay of each golden trace.
//!
//! Regenerate every golden trace after a deliberate behaviour change:
//!
//!     UPDATE_GOLDEN=1 cargo test -p nspsim --test golden
//!
//! and explain the diff in review: it is a behaviour change.

mod common;

use common::*;
use nspsim::runs::record;
use nspsim_runtime::scenario;
use nspsim_runtime::sim::replayer::{ReplayVerdict, replay};
use nspsim_runtime::sim::strategy::StrategyName;
use nspsim_runtime::sim::world::DEFAULT_MAX_STEPS;
use nspsim_runtime::trace::parse_trace;
use std::path::{Path, PathBuf};

fn traces_dir() -> PathBuf {
    repo().join("traces")
}

/// Every golden scenario, sorted by name.
fn scenarios() -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(traces_dir())
        .expect("traces/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    all.sort();
    all
}

fn golden_of(scenario: &Path) -> PathBuf {
    scenario.with_extension("jsonl")
}

/// The trace of a scenario under its own seed.
fn trace_of(path: &Path) -> String {
    let registry = nspsim_providers::registry();
    let s = scenario::load(path, &registry).unwrap_or_else(|e| panic!("{e}"));
    let seed = s.seed.unwrap_or(0);
    let (text, report) = record(&s, &registry, seed, StrategyName::Random, DEFAULT_MAX_STEPS)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        report.stopped.is_none(),
        "{}: {:?}",
        path.display(),
        report.stopped
    );
    text
}

#[test]
fn there_are_at_least_ten_golden_scenarios() {
    assert!(scenarios().len() >= 10, "{:?}", scenarios());
}

#[test]
fn golden_traces_match_byte_for_byte() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut stale = Vec::new();
    for path in scenarios() {
        let text = trace_of(&path);
        let golden = golden_of(&path);
        if update {
            std::fs::write(&golden, &text).expect("write golden trace");
            continue;
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_default();
        if want != text {
            let line = want
                .lines()
                .zip(text.lines())
                .position(|(a, b)| a != b)
                .map_or(0, |i| i + 1);
            stale.push(format!(
                "{} (first difference at line {line})",
                golden.display()
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "golden traces differ: {stale:#?}\nIf the change is intended: UPDATE_GOLDEN=1 cargo test -p nspsim --test golden"
    );
}

#[test]
fn golden_scenarios_pass_their_own_expects() {
    for path in scenarios() {
        let text = trace_of(&path);
        let trace = parse_trace(&path.display().to_string(), &text).expect("valid trace");
        let failures: Vec<_> = trace.violations().collect();
        assert!(failures.is_empty(), "{}: {failures:?}", path.display());
    }
}

#[test]
fn same_seed_same_bytes_twice_in_one_process() {
    for path in scenarios() {
        assert_eq!(trace_of(&path), trace_of(&path), "{}", path.display());
    }
}

#[test]
fn same_seed_same_bytes_in_a_child_process() {
    let dir = Dir::new("golden-child");
    for path in scenarios() {
        let out = dir.path("child.jsonl");
        let status = nspsim_command()
            .arg("run")
            .arg(&path)
            .arg("--quiet")
            .arg("--trace")
            .arg(&out)
            .output()
            .expect("run nspsim");
        assert!(
            status.status.code().is_some_and(|c| c <= 1),
            "{}: {status:?}",
            path.display()
        );
        let child = std::fs::read_to_string(&out).expect("child trace");
        assert_eq!(child, trace_of(&path), "{}", path.display());
    }
}

#[test]
fn every_golden_trace_replays_identically() {
    let registry = nspsim_providers::registry();
    for path in scenarios() {
        let name = golden_of(&path).display().to_string();
        let trace = parse_trace(&name, &trace_of(&path)).expect("valid trace");
        assert_eq!(
            replay(&trace, &registry),
            ReplayVerdict::Identical {
                events: trace.events.len()
            },
            "{name}"
        );
    }
}

#[test]
fn different_seeds_give_different_interleavings() {
    let registry = nspsim_providers::registry();
    let demo = traces("demo.toml");
    let s = scenario::load(&demo, &registry).expect("demo");
    let traces: std::collections::BTreeSet<String> = (0..8)
        .map(|seed| {
            let (text, _) =
                record(&s, &registry, seed, StrategyName::Random, DEFAULT_MAX_STEPS).expect("run");
            // Drop the header, which names the seed.
            text.split_once('\n')
                .map(|(_, rest)| rest.to_string())
                .unwrap_or_default()
        })
        .collect();
    assert!(traces.len() > 1, "the seed must steer the schedule");
}

#[test]
fn every_golden_trace_checks_clean_offline() {
    for path in scenarios() {
        let name = golden_of(&path).display().to_string();
        let trace = parse_trace(&name, &trace_of(&path)).expect("valid trace");
        let policy = nspsim_runtime::config::StartupPolicy::from_name(&trace.header.startup_policy)
            .expect("policy");
        let report = nspsim_runtime::checker::check(&trace.events, trace.is_complete(), policy);
        assert!(
            report.violations.is_empty(),
            "{name}: {:#?}",
            report.violations
        );
        assert!(
            report.undecidable.is_empty(),
            "{name}: {:?}",
            report.undecidable
        );
    }
}

/// The dispatcher keeps the lifecycle rules on any schedule and under any fault, with the
/// correct providers: no L or P violation on hundreds of seeds of every golden scenario.
/// (A scenario's own `expect`s may fail under other seeds: they describe one interleaving.)
fn no_rule_broken_on_seeds(seeds: std::ops::Range<u64>) {
    use nspsim_runtime::sim::faults::{FaultPlan, InjectedFaultKind};
    let registry = nspsim_providers::registry();
    for path in scenarios() {
        let s = scenario::load(&path, &registry).expect("golden scenario");
        for seed in seeds.clone() {
            for (plan, strategy) in [
                (FaultPlan::none(), StrategyName::Random),
                (
                    FaultPlan::swarm(seed, &InjectedFaultKind::ALL),
                    StrategyName::Pct,
                ),
            ] {
                let failure = nspsim::explore::try_run_seed(
                    &s,
                    &registry,
                    seed,
                    strategy,
                    &plan,
                    DEFAULT_MAX_STEPS,
                )
                .expect("the seed runs");
                if let Some(f) = failure.filter(|f| f.signature != "expect") {
                    panic!(
                        "{} seed {seed} ({plan}): {}: {}",
                        path.display(),
                        f.signature,
                        f.detail
                    );
                }
            }
        }
    }
}

#[test]
fn property_no_lifecycle_violation_on_any_schedule() {
    no_rule_broken_on_seeds(0..200);
}

#[test]
#[ignore = "long: 20,000 seeds per golden scenario"]
fn property_no_lifecycle_violation_on_any_schedule_long() {
    no_rule_broken_on_seeds(0..20_000);
}
