//! Simulation throughput (issue 4's figures): a whole run with events discarded, the same run
//! recorded to an in-memory trace, and a replay (parse + re-run + compare) of its trace.
//! Items are trace events, so divan's items/s is events per second; for `explore_small_seeds`
//! (issue 7's figure) items are seeds.
//!
//! Run: `cargo bench -p nspsim --bench sim` (or `-- explore` for exploration alone)

use nspsim::runs::{header, record};
use nspsim_runtime::event::NullSink;
use nspsim_runtime::scenario::{self, Scenario};
use nspsim_runtime::sim::replayer::replay_against;
use nspsim_runtime::sim::strategy::RandomWalk;
use nspsim_runtime::sim::strategy::StrategyName;
use nspsim_runtime::sim::world::{self, DEFAULT_MAX_STEPS};
use nspsim_runtime::trace::{TraceBuffer, parse_trace};

fn main() {
    divan::main();
}

fn scenario() -> (Scenario, nspsim_runtime::registry::Registry) {
    let registry = nspsim_providers::registry();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/bench.toml");
    let s = scenario::load(std::path::Path::new(path), &registry).expect("bench scenario");
    (s, registry)
}

fn events(s: &Scenario, r: &nspsim_runtime::registry::Registry) -> usize {
    let (text, _) = record(s, r, 4, StrategyName::Random, DEFAULT_MAX_STEPS).expect("run");
    text.lines().count() - 2
}

#[divan::bench]
fn run_discarding_events(bencher: divan::Bencher) {
    let (s, r) = scenario();
    bencher
        .counter(divan::counter::ItemsCount::new(events(&s, &r)))
        .bench_local(|| {
            let mut strategy = RandomWalk::new();
            world::run(&s, &r, &mut strategy, 4, NullSink, DEFAULT_MAX_STEPS).expect("run")
        });
}

/// A sink that takes every event and drops it: the dispatcher builds events, nobody keeps them.
struct Discard;

impl nspsim_runtime::event::EventSink for Discard {
    fn record(&mut self, _t: u64, event: nspsim_runtime::event::Event) {
        divan::black_box(event);
    }
}

#[divan::bench]
fn run_hook_discarding_built_events(bencher: divan::Bencher) {
    let (s, r) = scenario();
    bencher
        .counter(divan::counter::ItemsCount::new(events(&s, &r)))
        .bench_local(|| {
            let mut strategy = RandomWalk::new();
            world::run(&s, &r, &mut strategy, 4, Discard, DEFAULT_MAX_STEPS).expect("run")
        });
}

#[divan::bench]
fn run_recording_trace(bencher: divan::Bencher) {
    let (s, r) = scenario();
    bencher
        .counter(divan::counter::ItemsCount::new(events(&s, &r)))
        .bench_local(|| {
            let mut strategy = RandomWalk::new();
            let (report, sink) = world::run(
                &s,
                &r,
                &mut strategy,
                4,
                TraceBuffer::new(&header(&s, 4)),
                DEFAULT_MAX_STEPS,
            )
            .expect("run");
            sink.finish(report.end_time)
        });
}

#[divan::bench]
fn replay_read_rerun_compare(bencher: divan::Bencher) {
    let (s, r) = scenario();
    let (text, _) = record(&s, &r, 4, StrategyName::Random, DEFAULT_MAX_STEPS).expect("run");
    bencher
        .counter(divan::counter::ItemsCount::new(events(&s, &r)))
        .bench_local(|| {
            let trace = parse_trace("bench.jsonl", &text).expect("parse");
            replay_against(&trace, &text, &r)
        });
}

#[divan::bench]
fn part_parse_trace(bencher: divan::Bencher) {
    let (s, r) = scenario();
    let (text, _) = record(&s, &r, 4, StrategyName::Random, DEFAULT_MAX_STEPS).expect("run");
    bencher.bench_local(|| parse_trace("demo.jsonl", &text).expect("parse"));
}

#[divan::bench]
fn part_scenario_from_json(bencher: divan::Bencher) {
    let (s, r) = scenario();
    let json = s.to_json();
    bencher.bench_local(|| Scenario::from_json_with(&json, &r).expect("json"));
}

#[divan::bench]
fn part_to_text(bencher: divan::Bencher) {
    let (s, r) = scenario();
    let (text, _) = record(&s, &r, 4, StrategyName::Random, DEFAULT_MAX_STEPS).expect("run");
    let trace = parse_trace("demo.jsonl", &text).expect("parse");
    bencher.bench_local(|| trace.to_text());
}

#[divan::bench]
fn part_run_vecsink(bencher: divan::Bencher) {
    let (s, r) = scenario();
    bencher.bench_local(|| {
        let mut strategy = RandomWalk::new();
        world::run(
            &s,
            &r,
            &mut strategy,
            4,
            nspsim_runtime::event::VecSink::new(),
            DEFAULT_MAX_STEPS,
        )
        .expect("run")
    });
}

#[divan::bench]
fn check_offline(bencher: divan::Bencher) {
    let (s, r) = scenario();
    let (text, _) = record(&s, &r, 4, StrategyName::Random, DEFAULT_MAX_STEPS).expect("run");
    let trace = parse_trace("bench.jsonl", &text).expect("parse");
    bencher
        .counter(divan::counter::ItemsCount::new(trace.events.len()))
        .bench_local(|| nspsim_runtime::checker::check(&trace.events, true, s.startup_policy));
}

#[divan::bench]
fn run_hook_discarding_with_online_checker(bencher: divan::Bencher) {
    let (s, r) = scenario();
    bencher
        .counter(divan::counter::ItemsCount::new(events(&s, &r)))
        .bench_local(|| {
            let mut strategy = RandomWalk::new();
            let sink = nspsim_runtime::checker::Checked::new(Discard, s.startup_policy);
            world::run(&s, &r, &mut strategy, 4, sink, DEFAULT_MAX_STEPS).expect("run")
        });
}

/// Counts the provider calls (`nsp_call` events) of a live run and drops every event.
#[derive(Default)]
struct CountNspCalls(usize);

impl nspsim_runtime::event::EventSink for CountNspCalls {
    fn record(&mut self, _t: u64, event: nspsim_runtime::event::Event) {
        if matches!(event, nspsim_runtime::event::Event::NspCall { .. }) {
            self.0 += 1;
        }
        divan::black_box(event);
    }
}

/// Live mode (issue 8's and issue 16's figure): 64 client processes x 8 lookups over 3
/// providers on host threads, checker online, events counted and discarded. Items are
/// provider calls, counted from the run's own `nsp_call` events.
#[divan::bench(sample_count = 10)]
fn live_64_clients_3_hosts(bencher: divan::Bencher) {
    use nspsim_runtime::live::{LiveOptions, hosted, run_live};
    let mut text = String::from("name = \"load\"\n");
    for i in 1..=3 {
        text.push_str(&format!(
            "[[provider]]\nid = \"{i}0000000-0000-4000-8000-00000000000{i}\"\nname = \"p{i}\"\nnamespace = \"NS_EMAIL\"\nkind = \"email-directory\"\n[provider.options]\nentries = [ {{ name = \"a@x\", addrs = [\"192.0.2.1:25\"] }} ]\n"
        ));
    }
    let lookup = r#"{ op = "lookup", namespace = "NS_EMAIL", name = "a@x", flags = ["LUP_RETURN_ADDR", "LUP_NON_AUTHORITATIVE"] }"#;
    let steps: Vec<&str> = std::iter::once(r#"{ op = "startup" }"#)
        .chain(std::iter::repeat_n(lookup, 8))
        .chain(std::iter::once(r#"{ op = "cleanup" }"#))
        .collect();
    text.push_str(&format!(
        "[[process]]\nname = \"c\"\nsteps = [ {} ]\n",
        steps.join(", ")
    ));
    let plain = nspsim_providers::registry();
    let s = nspsim::cli::multiply_clients(
        scenario::parse("load.toml", &text, &plain).expect("scenario"),
        64,
    );
    let options = LiveOptions::default();
    let registry = hosted(nspsim_providers::registry(), options.call_deadline);
    let run = || {
        let sink =
            nspsim_runtime::checker::Checked::new(CountNspCalls::default(), s.startup_policy);
        let (report, sink) = run_live(&s, &registry, sink, &options).expect("live run");
        assert!(report.stopped.is_none() && report.expect_failures.is_empty());
        sink.into_inner().0
    };
    // Per client: 3 Startups, 8 x (3 Begins, 6 NextEx, 3 Ends), 3 Cleanups; counted, since a
    // live run's interleaving could in principle change what the dispatcher calls.
    let provider_calls = run();
    bencher
        .counter(divan::counter::ItemsCount::new(provider_calls))
        .bench_local(run);
}

/// Live mode's floor (issue 16): an empty request/reply round trip between two threads, the
/// way the dispatcher reaches a provider's host thread (`RemoteProvider`): an unbounded
/// request channel, a `bounded(1)` reply channel made per call. `park`: crossbeam's own
/// receive (a short spin, then park); `spin`: live mode's wait ([`nspsim_runtime::live::wait`]),
/// which polls for longer before it parks. Items are round trips.
#[divan::bench(args = ["park", "spin"])]
fn live_floor_round_trip(bencher: divan::Bencher, wait: &str) {
    use crossbeam_channel::{Sender, bounded, unbounded};
    use nspsim_runtime::live::wait;
    use std::time::Duration;
    let spin = if wait == "spin" {
        wait::SPIN
    } else {
        Duration::ZERO
    };
    let (tx, rx) = unbounded::<(u64, Sender<u64>)>();
    let host = std::thread::spawn(move || {
        while let Some((v, reply)) = wait::recv(&rx, spin) {
            let _ = reply.send(v);
        }
    });
    const ROUND_TRIPS: u64 = 1_000;
    bencher
        .counter(divan::counter::ItemsCount::new(ROUND_TRIPS))
        .bench_local(|| {
            for i in 0..ROUND_TRIPS {
                let (reply_tx, reply_rx) = bounded(1);
                tx.send((i, reply_tx)).expect("host thread");
                let got = wait::recv_deadline(&reply_rx, spin, Duration::from_secs(2));
                assert_eq!(got.ok(), Some(i));
            }
        });
    drop(tx);
    host.join().expect("host thread");
}

/// Exploration throughput (issue 7's figure): seeds of the `small` scenario (2 providers,
/// 3 clients x 10 steps) with every fault kind on and the checker online, nothing recorded.
/// Items are seeds, so divan's items/s is seeds per second, for 1 and 2 worker threads.
#[divan::bench(args = [1, 2], sample_count = 10)]
fn explore_small_seeds(bencher: divan::Bencher, jobs: usize) {
    use nspsim::explore::{ExploreOptions, explore};
    use nspsim_runtime::sim::faults::InjectedFaultKind;
    use nspsim_runtime::sim::strategy::Portfolio;
    const SEEDS: u64 = 2_000;
    let registry = nspsim_providers::registry();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/small.toml");
    let s = scenario::load(std::path::Path::new(path), &registry).expect("small scenario");
    let opts = ExploreOptions {
        first_seed: 0,
        last_seed: SEEDS - 1,
        time: None,
        portfolio: Portfolio::Both,
        jobs,
        faults: InjectedFaultKind::ALL.to_vec(),
        keep_going: true,
        max_steps: 100_000,
        shard: (0, 1),
    };
    bencher
        .counter(divan::counter::ItemsCount::new(SEEDS as usize))
        .bench_local(|| {
            let report = explore(&s, &registry, &opts, &|_, _| {});
            assert_eq!(report.seeds_run, SEEDS);
            report
        });
}
