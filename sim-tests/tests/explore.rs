//! Exploration finds each `buggy` provider's ordering bug, which its scenario's own seed hides,
//! within a fixed seed budget, and shrinks it to a small trace that replays to the same rule.
//! On correct providers, exploration with every fault kind finds nothing.
//!
//! Shrunk sizes today: complete-after-end 24 events, ignore-rundown 20, shared-session 30,
//! free-on-first-cleanup 30. In the last two, client `a` hosts the provider itself; with a host
//! process of its own the same races need at least 32 and 33 events in trace v1 (the host's
//! start, WSAStartup and advertise come first), which the `-separate-host` tests check.

mod common;

use nspsim::explore::{self, ExploreOptions};
use nspsim_runtime::registry::Registry;
use nspsim_runtime::scenario::{self, Scenario};
use nspsim_runtime::sim::faults::{FaultPlan, InjectedFaultKind};
use nspsim_runtime::sim::replayer::{ReplayVerdict, replay_against};
use nspsim_runtime::sim::strategy::{Portfolio, StrategyName};
use nspsim_runtime::trace::parse_trace;
use std::path::Path;

const MAX_STEPS: u64 = 100_000;

fn load(name: &str) -> (Scenario, Registry) {
    let registry = nspsim_providers::registry();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/explore")
        .join(name);
    let s = scenario::load(&path, &registry).unwrap_or_else(|e| panic!("{e}"));
    (s, registry)
}

fn options(faults: &[InjectedFaultKind], jobs: usize) -> ExploreOptions {
    ExploreOptions {
        first_seed: 1,
        last_seed: 2_000,
        time: None,
        portfolio: Portfolio::Both,
        jobs,
        faults: faults.to_vec(),
        keep_going: false,
        max_steps: MAX_STEPS,
        shard: (0, 1),
    }
}

/// The whole story for one bug; returns (seed found, shrunk events).
fn finds_and_shrinks(file: &str, faults: &[InjectedFaultKind], rule: &str) -> (u64, usize) {
    let (s, r) = load(file);
    let seed = s.seed.unwrap_or(0);
    assert_eq!(
        explore::try_run_seed(
            &s,
            &r,
            seed,
            StrategyName::Random,
            &FaultPlan::none(),
            MAX_STEPS
        )
        .expect("the seed runs"),
        None,
        "{file}: the bug must hide under the scenario's own seed"
    );
    let report = explore::explore(&s, &r, &options(faults, 2), &|_, _| {});
    let failure = report
        .failures
        .first()
        .unwrap_or_else(|| panic!("{file}: no failure in 2,000 seeds"));
    assert_eq!(failure.signature, rule, "{file}: {}", failure.detail);
    // The reported failure does not depend on the number of threads.
    let alone = explore::explore(&s, &r, &options(faults, 1), &|_, _| {});
    assert_eq!(
        alone.failures.first().map(|f| f.seed),
        Some(failure.seed),
        "{file}"
    );

    let shrunk = explore::shrink(&s, &r, failure, MAX_STEPS, 20_000);
    assert_eq!(shrunk.replays, Ok(()), "{file}");
    let trace = parse_trace(file, &shrunk.trace).expect("the shrunk trace parses");
    assert_eq!(
        replay_against(&trace, &shrunk.trace, &r),
        ReplayVerdict::Identical {
            events: trace.events.len()
        },
        "{file}: the shrunk trace replays"
    );
    let shows = match rule {
        "P4" => shrunk.trace.contains("\"ev\":\"fault\""),
        other => trace.violations().any(|(r, _, _)| r == other),
    };
    assert!(
        shows,
        "{file}: the shrunk trace shows {rule}:\n{}",
        shrunk.trace
    );
    // The unshrunk failure's trace, like the shrunk one, ends at the violation.
    let original = explore::record_seed(
        &s,
        &r,
        failure.seed,
        failure.strategy,
        &failure.plan,
        MAX_STEPS,
    )
    .expect("record");
    assert!(
        original
            .lines()
            .last()
            .is_some_and(|l| l.contains(r#""ev":"violation""#)),
        "{file}: the failure trace ends at the violation"
    );
    let original = original.lines().count() - 1;
    assert_eq!(original as u64, failure.events, "{file}");
    assert!(
        shrunk.events() <= original,
        "{file}: {} > {original}",
        shrunk.events()
    );
    (failure.seed, shrunk.events())
}

#[test]
fn finds_free_on_first_cleanup() {
    let (_, events) = finds_and_shrinks("free-on-first-cleanup.toml", &[], "P4");
    assert!(events <= 30, "{events} events");
}

#[test]
fn finds_free_on_first_cleanup_with_a_separate_host() {
    let (_, events) = finds_and_shrinks("free-on-first-cleanup-separate-host.toml", &[], "P4");
    assert!(events <= 33, "{events} events");
}

#[test]
fn finds_complete_after_end() {
    let (_, events) = finds_and_shrinks("complete-after-end.toml", &[], "P4");
    assert!(events <= 30, "{events} events");
}

#[test]
fn finds_shared_session() {
    let (_, events) = finds_and_shrinks("shared-session.toml", &[], "P4");
    assert!(events <= 30, "{events} events");
}

#[test]
fn finds_shared_session_with_a_separate_host() {
    let (_, events) = finds_and_shrinks("shared-session-separate-host.toml", &[], "P4");
    assert!(events <= 32, "{events} events");
}

#[test]
fn finds_ignore_rundown_with_crash_faults() {
    let (_, events) = finds_and_shrinks("ignore-rundown.toml", &[InjectedFaultKind::Crash], "P5");
    assert!(events <= 30, "{events} events");
}

#[test]
fn shards_split_the_range_and_together_find_the_same_failure() {
    let (s, r) = load("complete-after-end.toml");
    let whole = explore::explore(&s, &r, &options(&[], 2), &|_, _| {});
    assert!(
        !whole.failures.is_empty(),
        "the range holds a failure to find"
    );
    let per_shard: Vec<Option<u64>> = (0..3)
        .map(|i| {
            let mut o = options(&[], 1);
            o.shard = (i, 3);
            explore::explore(&s, &r, &o, &|_, _| {})
                .failures
                .first()
                .map(|f| f.seed)
        })
        .collect();
    for (i, seed) in per_shard.iter().enumerate() {
        assert!(
            seed.is_none_or(|s| s % 3 == i as u64),
            "shard {i} ran seed {seed:?}"
        );
    }
    assert_eq!(
        per_shard.iter().flatten().min().copied(),
        whole.failures.first().map(|f| f.seed)
    );
}

#[test]
fn crash_points_find_the_leaked_rundown_exhaustively() {
    let (s, r) = load("ignore-rundown.toml");
    let (runs, found) = explore::crash_points(&s, &r, 0, StrategyName::Random, MAX_STEPS, 2)
        .expect("seed 0 passes");
    let (_, alone) = explore::crash_points(&s, &r, 0, StrategyName::Random, MAX_STEPS, 1)
        .expect("seed 0 passes");
    assert_eq!(
        found, alone,
        "the points found do not depend on the threads"
    );
    // Each client makes 6 calls (startup, Begin, two Nexts, End, cleanup): at least 7 crash
    // points each, between and around them.
    assert!(runs >= 15, "{runs} runs");
    assert!(
        found.iter().all(|c| c.failure.signature == "P5"),
        "{found:?}"
    );
    for name in ["a", "b"] {
        let mine: Vec<&str> = found
            .iter()
            .filter(|c| c.process == name)
            .map(|c| c.at.as_str())
            .collect();
        // Crashing before the lookup leaves no session to leak; crashing inside it (between
        // its calls) or after it, before the cleanup, does.
        assert!(
            !mine
                .iter()
                .any(|at| at.starts_with("before step 1") || at.starts_with("before step 2")),
            "{name}: {mine:?}"
        );
        assert!(
            mine.contains(&"in step 2, after 1 of its calls"),
            "{name}: {mine:?}"
        );
        assert!(mine.contains(&"before step 3"), "{name}: {mine:?}");
        assert!(!mine.contains(&"after its last step"), "{name}: {mine:?}");
    }
}

#[test]
fn crash_points_refuse_a_seed_whose_run_fails_by_itself() {
    // Under seed 1, shared-session fails with no crash at all: crashes after that failure
    // must not be blamed for it.
    let (s, r) = load("shared-session.toml");
    assert!(
        explore::try_run_seed(
            &s,
            &r,
            1,
            StrategyName::Random,
            &FaultPlan::none(),
            MAX_STEPS
        )
        .expect("the seed runs")
        .is_some()
    );
    let own = explore::crash_points(&s, &r, 1, StrategyName::Random, MAX_STEPS, 2)
        .expect_err("the seed's own run fails");
    assert_eq!(own.signature, "P4");
}

#[test]
fn correct_providers_survive_every_fault_kind() {
    let registry = nspsim_providers::registry();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (file, seeds) in [
        ("../traces/demo.toml", 20_000),
        ("benches/small.toml", 5_000),
    ] {
        let s = scenario::load(&dir.join(file), &registry).expect(file);
        let mut opts = options(&InjectedFaultKind::ALL, 2);
        opts.first_seed = 0;
        opts.last_seed = seeds - 1;
        let report = explore::explore(&s, &registry, &opts, &|_, _| {});
        assert_eq!(report.seeds_run, seeds, "{file}");
        assert!(report.failures.is_empty(), "{file}: {:?}", report.failures);
    }
}

#[test]
#[ignore = "long: 100,000 seeds of every golden scenario with all faults"]
fn long_exploration_of_the_golden_scenarios_finds_nothing() {
    let registry = nspsim_providers::registry();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../traces");
    for entry in std::fs::read_dir(dir).expect("traces") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let s = scenario::load(&path, &registry).expect("golden scenario");
        let mut opts = options(&InjectedFaultKind::ALL, 2);
        opts.first_seed = 0;
        opts.last_seed = 99_999;
        opts.keep_going = true;
        let report = explore::explore(&s, &registry, &opts, &|_, _| {});
        // A golden scenario's `expect`s describe one interleaving; the rules hold on all.
        let broken: Vec<_> = report
            .failures
            .iter()
            .filter(|f| f.signature != "expect")
            .collect();
        assert!(broken.is_empty(), "{}: {broken:?}", path.display());
    }
}

#[test]
fn verdicts_do_not_depend_on_event_details() {
    // Exploration judges runs whose events carry no args, results or names; a recorded run
    // carries them all. Both must find the same failure, seed by seed.
    let registry = nspsim_providers::registry();
    let mut failing = 0;
    for file in [
        "complete-after-end.toml",
        "free-on-first-cleanup.toml",
        "ignore-rundown.toml",
        "shared-session.toml",
    ] {
        let (s, _) = load(file);
        for seed in 0..40 {
            let plan = FaultPlan::swarm(seed, &InjectedFaultKind::ALL);
            let judged =
                explore::try_run_seed(&s, &registry, seed, StrategyName::Random, &plan, MAX_STEPS)
                    .expect("the seed runs");
            let text =
                explore::record_seed(&s, &registry, seed, StrategyName::Random, &plan, MAX_STEPS)
                    .expect("run");
            let trace = parse_trace(file, &text).expect("parse");
            let recorded = trace
                .violations()
                .next()
                .map(|(rule, _, _)| rule.to_string());
            assert_eq!(
                judged.as_ref().map(|f| f.signature.clone()),
                recorded,
                "{file} seed {seed}"
            );
            failing += usize::from(judged.is_some());
        }
    }
    assert!(
        failing >= 20,
        "the seeds must fail often enough to compare ({failing})"
    );
}

#[test]
fn traces_with_injected_faults_replay_identically() {
    let registry = nspsim_providers::registry();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../traces/demo.toml");
    let s = scenario::load(&demo, &registry).expect("demo");
    let mut with_faults = 0;
    for seed in 0..40 {
        let plan = FaultPlan::swarm(seed, &InjectedFaultKind::ALL);
        let text =
            explore::record_seed(&s, &registry, seed, StrategyName::Random, &plan, MAX_STEPS)
                .expect("run");
        if text.contains("\"how\":\"crash\"")
            || text.contains("\"how\":\"kill\"")
            || text.contains("\"enabled\":false")
        {
            with_faults += 1;
        }
        let trace = parse_trace("faulty.jsonl", &text).expect("parse");
        assert_eq!(
            replay_against(&trace, &text, &registry),
            ReplayVerdict::Identical {
                events: trace.events.len()
            },
            "seed {seed} ({plan})"
        );
    }
    assert!(
        with_faults >= 10,
        "the seeds must inject faults ({with_faults})"
    );
}

/// A scenario whose `expect_calls` fails (entry 2: a Begin was made) while its other
/// expectations hold: entry 1 names process `b`, and `a`'s lookup checks its results.
const EXPECTING: &str = r#"
name = "expecting"
expect_calls = [
  { provider = "mail", fn = "NSPv2Startup", process = "b", count = 1 },
  { provider = "mail", fn = "NSPv2LookupServiceBegin", max = 0 },
]
[[provider]]
id = "6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60"
name = "mail"
namespace = "NS_EMAIL"
kind = "email-directory"
[provider.options]
entries = [ { name = "alice@example.com", addrs = ["192.0.2.10:25"] } ]
[[process]]
name = "a"
steps = [
  { op = "startup" },
  { op = "lookup", namespace = "NS_EMAIL", name = "alice@example.com", flags = ["LUP_RETURN_NAME"] },
  { op = "expect", results = [ { name = "alice@example.com" } ] },
  { op = "cleanup" },
]
[[process]]
name = "b"
steps = [
  { op = "startup" },
  { op = "lookup", namespace = "NS_EMAIL", name = "alice@example.com" },
  { op = "cleanup" },
]
"#;

#[test]
fn a_shrunk_scenario_still_loads_and_fails_the_same_expectation() {
    let r = nspsim_providers::registry();
    let s = scenario::parse("expecting.toml", EXPECTING, &r).unwrap_or_else(|e| panic!("{e}"));
    let failure = explore::try_run_seed(
        &s,
        &r,
        0,
        StrategyName::Random,
        &FaultPlan::none(),
        MAX_STEPS,
    )
    .expect("the seed runs")
    .expect("entry 2 fails");
    assert!(
        failure.detail.starts_with("expect_calls entry 2:"),
        "{}",
        failure.detail
    );
    let shrunk = explore::shrink(&s, &r, &failure, MAX_STEPS, 20_000);
    // Still a scenario the loader accepts: no `expect_calls` entry names a process that was
    // taken out, no `expect` judges a step it may not follow.
    let json = shrunk.scenario.to_json();
    if let Err(e) = Scenario::from_json_with(&json, &r) {
        panic!("the shrunk scenario does not load: {e}\n{json:#}");
    }
    assert_eq!(shrunk.replays, Ok(()));
    // And it fails for the same reason: the Begin entry (renumbered once `b`, and the entry
    // that named it, were taken out), not another expectation.
    let trace = parse_trace("shrunk", &shrunk.trace).expect("the shrunk trace parses");
    let expects: Vec<String> = trace
        .violations()
        .filter(|(rule, _, _)| *rule == "expect")
        .map(|(_, detail, _)| detail.to_string())
        .collect();
    assert!(
        !expects.is_empty()
            && expects.iter().all(|d| d.starts_with("expect_calls entry")
                && d.contains("at most 0 NSPv2LookupServiceBegin")),
        "{expects:#?}\n{}",
        shrunk.trace
    );
    // Smaller all the same: `b` is not needed for a Begin.
    assert_eq!(shrunk.scenario.processes.len(), 1, "{json:#}");
}

#[test]
fn a_shrunk_expect_failure_is_the_same_expect_not_another_one() {
    // The lookup's `expect` fails (it finds alice, not bob). Without the lookup there is no
    // NSPv2Startup either, and `expect_calls` fails instead: also rule `expect`, but another
    // failure, which shrinking must not trade the first one for.
    let text = r#"
name = "wrong-result"
expect_calls = [ { provider = "mail", fn = "NSPv2Startup", count = 1 } ]
[[provider]]
id = "6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60"
name = "mail"
namespace = "NS_EMAIL"
kind = "email-directory"
[provider.options]
entries = [ { name = "alice@example.com", addrs = ["192.0.2.10:25"] } ]
[[process]]
name = "a"
steps = [
  { op = "startup" },
  { op = "lookup", namespace = "NS_EMAIL", name = "alice@example.com", flags = ["LUP_RETURN_NAME"] },
  { op = "expect", results = [ { name = "bob@example.org" } ] },
  { op = "cleanup" },
]
"#;
    let r = nspsim_providers::registry();
    let s = scenario::parse("wrong-result.toml", text, &r).unwrap_or_else(|e| panic!("{e}"));
    let failure = explore::try_run_seed(
        &s,
        &r,
        0,
        StrategyName::Random,
        &FaultPlan::none(),
        MAX_STEPS,
    )
    .expect("the seed runs")
    .expect("the expect step fails");
    assert!(
        failure.detail.contains("step 3: expected"),
        "{}",
        failure.detail
    );
    let shrunk = explore::shrink(&s, &r, &failure, MAX_STEPS, 20_000);
    let trace = parse_trace("shrunk", &shrunk.trace).expect("the shrunk trace parses");
    let expects: Vec<&str> = trace
        .violations()
        .filter(|(rule, _, _)| *rule == "expect")
        .map(|(_, detail, _)| detail)
        .collect();
    assert!(
        expects
            .first()
            .is_some_and(|d| d.contains("bob@example.org")),
        "{expects:#?}\n{}",
        shrunk.trace
    );
    assert_eq!(shrunk.replays, Ok(()));
}

/// A regression seed that fails only under the step limit it was recorded with (a limit too
/// small for the scenario: a `livelock`) is shrunk and printed under that limit, not under
/// the default, under which it would not fail at all.
#[test]
fn a_regression_seed_is_shrunk_under_the_step_limit_it_was_recorded_with() {
    let dir = common::Dir::new("explore-regression-limit");
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/nspsim-model.toml");
    let text = std::fs::read_to_string(model).expect("read the model");
    let path = dir.write("model.toml", &text);
    dir.write(
        "model.toml.regressions",
        "seed 0 strategy=random faults=none max-steps=10 # livelock\n",
    );
    let outcome = nspsim::explore(&nspsim::Scenario::from_file(&path).expect("loads"))
        .seeds(0..0)
        .jobs(1)
        .shrink_budget(20)
        .output_dir(dir.path("out"))
        .run()
        .expect("explores");
    let shrunk = outcome.shrunk.expect("the regression seed still fails");
    assert_eq!(shrunk.failure.max_steps, 10);
    assert_eq!(shrunk.rule, "livelock", "{}", shrunk.trace);
    // Cut short at the limit: a whole run of the model writes about 145 event lines.
    assert!(shrunk.trace.lines().count() < 60, "{}", shrunk.trace);
    let command = shrunk.unshrunk_command.expect("a command");
    assert!(command.ends_with("--max-steps 10"), "{command}");
}
