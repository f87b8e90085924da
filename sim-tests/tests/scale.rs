//! Scenarios at scale: a process template of 10,000 clients parses into 10,000 processes,
//! runs and explores with the checker online; its trace header keeps the template, and the
//! trace replays; exploration split into shards finds what the whole range finds.
//! (Throughput is measured by `cargo bench -p nspsim --bench scale`, never asserted here.)

use nspsim::explore::{ExploreOptions, explore};
use nspsim::runs::record;
use nspsim_runtime::scenario::{self, Scenario};
use nspsim_runtime::sim::faults::InjectedFaultKind;
use nspsim_runtime::sim::replayer::{ReplayVerdict, replay_against};
use nspsim_runtime::sim::strategy::{Portfolio, StrategyName};
use nspsim_runtime::trace::parse_trace;

const MAX_STEPS: u64 = 10_000_000;

/// The shuttle model's lifecycle with `count` clients made by one template.
fn clients(count: u32) -> String {
    format!(
        r#"
name = "scale"
[[provider]]
id = "6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60"
name = "dir"
namespace = "NS_EMAIL"
kind = "email-directory"
[provider.options]
completion = "inline"
entries = [ {{ name = "svc-a@example.com", addrs = ["192.0.2.10:25"] }} ]

[[process]]
name = "client-{{i}}"
count = {count}
steps = [
  {{ op = "startup" }},
  {{ op = "lookup", namespace = "NS_EMAIL", name = "svc-a@example.com", flags = ["LUP_RETURN_ADDR"] }},
  {{ op = "lookup", namespace = "NS_EMAIL", name = "svc-a@example.com", flags = ["LUP_RETURN_ADDR"] }},
  {{ op = "cleanup" }},
]
"#
    )
}

fn load(count: u32) -> (Scenario, nspsim_runtime::registry::Registry) {
    let registry = nspsim_providers::registry();
    let s =
        scenario::parse("scale.toml", &clients(count), &registry).unwrap_or_else(|e| panic!("{e}"));
    (s, registry)
}

fn options(first: u64, last: u64, faults: &[InjectedFaultKind]) -> ExploreOptions {
    ExploreOptions {
        first_seed: first,
        last_seed: last,
        time: None,
        portfolio: Portfolio::Both,
        jobs: 1,
        faults: faults.to_vec(),
        keep_going: true,
        max_steps: MAX_STEPS,
        shard: (0, 1),
    }
}

#[test]
fn ten_thousand_clients_run_and_explore_with_the_checker_online() {
    let (s, r) = load(10_000);
    assert_eq!(s.processes.len(), 10_000);
    assert_eq!(s.processes[9_999].name, "client-9999");
    // Random walk and PCT, crashes injected: no rule is broken, nothing is left stuck.
    let report = explore(
        &s,
        &r,
        &options(0, 3, &[InjectedFaultKind::Crash]),
        &|_, _| {},
    );
    assert_eq!(report.seeds_run, 4);
    let found: Vec<_> = report
        .failures
        .iter()
        .map(|f| (f.seed, f.signature.clone(), f.detail.clone()))
        .collect();
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn a_trace_header_keeps_the_template_and_the_trace_replays() {
    let (s, r) = load(300);
    for strategy in StrategyName::ALL {
        let (text, report) = record(&s, &r, 5, strategy, MAX_STEPS).expect("run");
        assert!(report.expect_failures.is_empty() && report.stuck.is_empty());
        let header = text.lines().next().unwrap_or_default();
        assert!(header.contains(r#""name":"client-{i}""#), "{header}");
        assert!(header.contains(r#""count":300"#), "{header}");
        assert!(header.len() < 4_096, "{} bytes", header.len());
        let trace = parse_trace("scale.jsonl", &text).expect("parse");
        match replay_against(&trace, &text, &r) {
            ReplayVerdict::Identical { .. } => {}
            other => panic!("{strategy}: {other:?}"),
        }
    }
}

#[test]
fn shards_find_what_the_whole_range_finds() {
    // A provider that frees a shared entry on the first cleanup: some seeds fail.
    let registry = nspsim_providers::registry();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/explore/free-on-first-cleanup.toml"
    );
    let s = scenario::load(std::path::Path::new(path), &registry).expect("fixture");
    let faults = [InjectedFaultKind::Crash, InjectedFaultKind::Kill];
    let failing = |opts: &ExploreOptions| {
        let report = explore(&s, &registry, opts, &|_, _| {});
        let failures: Vec<_> = report
            .failures
            .iter()
            .map(|f| (f.seed, f.signature.clone(), f.strategy, f.events))
            .collect();
        (report.seeds_run, failures)
    };
    let (whole_run, whole) = failing(&options(3, 202, &faults));
    assert!(!whole.is_empty(), "the fixture fails on some seed");
    let mut union = Vec::new();
    let mut run = 0;
    for i in 0..3 {
        let mut opts = options(3, 202, &faults);
        opts.shard = (i, 3);
        let (n, found) = failing(&opts);
        assert!(found.iter().all(|f| f.0 % 3 == i), "shard {i}: {found:?}");
        run += n;
        union.extend(found);
    }
    union.sort();
    assert_eq!(run, whole_run);
    assert_eq!(union, whole);
}

/// Without `max_steps`, exploration's step limit grows with the scenario: 10,000 clients make
/// 110,000 moves, past the 100,000 a small scenario is given, and that is no livelock.
#[test]
fn the_default_step_limit_does_not_call_ten_thousand_clients_a_livelock() {
    let (s, _) = load(10_000);
    assert!(nspsim_runtime::sim::world::explore_max_steps(&s) > 110_000);
    let (small, _) = load(3);
    assert_eq!(
        nspsim_runtime::sim::world::explore_max_steps(&small),
        nspsim_runtime::sim::world::EXPLORE_MAX_STEPS
    );
    let outcome = nspsim::explore(&nspsim::Scenario::from_toml("scale.toml", clients(10_000)))
        .seeds(0..1)
        .faults(nspsim::Faults::none())
        .jobs(1)
        // Were the limit too small, the livelock found would not be shrunk at length here.
        .shrink_budget(1)
        .run()
        .expect("the scenario explores");
    assert_eq!(outcome.seeds_run, 1);
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
}
