//! The simulated world's scheduling rules that exploration and shrinking lean on: a script that
//! ends in a `sleep` keeps its process up until the sleep is over, a run told to stop at its
//! first failure stops after the step that wrote it, and a recorded schedule replays its run.

mod common;

use common::*;
use nspsim_runtime::checker::Checked;
use nspsim_runtime::event::{Event, ExitHow, Pid};
use nspsim_runtime::scenario::{self, Scenario};
use nspsim_runtime::sim::faults::FaultPlan;
use nspsim_runtime::sim::world::{self, RunOptions};

fn parse(text: &str) -> (Scenario, nspsim_runtime::registry::Registry) {
    let registry = nspsim_providers::registry();
    let s = scenario::parse("test.toml", text, &registry).unwrap_or_else(|e| panic!("{e}"));
    (s, registry)
}

const PROVIDER: &str = r#"
[[provider]]
id = "6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60"
name = "mail"
namespace = "NS_EMAIL"
kind = "buggy"
host = "a"
[provider.options]
bug = "free-on-first-cleanup"
entries = [ { name = "alice@example.com", addrs = ["192.0.2.10:25"] } ]
"#;

fn run(
    s: &Scenario,
    r: &nspsim_runtime::registry::Registry,
    stop: bool,
) -> (world::RunReport, Vec<(u64, Event)>) {
    let options = RunOptions {
        seed: 0,
        max_steps: 10_000,
        faults: FaultPlan::none(),
        free_time: false,
        stop_at_failure: stop,
    };
    let (report, sink) = checked_run(s, r, &options);
    let events = sink
        .into_inner()
        .events
        .into_iter()
        .map(|e| (e.t, e.event))
        .collect();
    (report, events)
}

fn exit_time(events: &[(u64, Event)], pid: u32) -> Option<u64> {
    events.iter().find_map(|(t, e)| match e {
        Event::ProcessExit {
            pid: p,
            how: ExitHow::Exit,
        } if *p == Pid(pid) => Some(*t),
        _ => None,
    })
}

#[test]
fn a_script_ending_in_a_sleep_keeps_its_process_up_until_the_sleep_is_over() {
    let text = format!(
        "name = \"t\"\n{PROVIDER}\n[[process]]\nname = \"a\"\nsteps = [ {{ op = \"startup\" }}, {{ op = \"advertise\", provider = \"mail\" }}, {{ op = \"sleep\", us = 500 }} ]\n[[process]]\nname = \"b\"\nsteps = [ {{ op = \"startup\" }} ]\n"
    );
    let (s, r) = parse(&text);
    let (_, events) = run(&s, &r, false);
    // a's advertise runs at t = 10 and its sleep ends at 510. b has nothing to wait for.
    assert_eq!(exit_time(&events, 1), Some(510), "{events:?}");
    assert_eq!(exit_time(&events, 2), Some(0), "{events:?}");
    // A trailing `sleep 0` changes nothing.
    let zero = text.replace("us = 500", "us = 0");
    let (s, r) = parse(&zero);
    let (_, events) = run(&s, &r, false);
    assert_eq!(exit_time(&events, 1), Some(10), "{events:?}");
}

#[test]
fn a_run_told_to_stop_at_its_first_failure_stops_after_that_step() {
    // a frees the directory on its WSACleanup (t = 45) between b's Begin (t = 20) and b's
    // Next (t = 60), whatever the seed: b's Next makes the provider panic (P4).
    let text = format!(
        "name = \"t\"\n{PROVIDER}\n[[process]]\nname = \"a\"\nsteps = [ {{ op = \"startup\" }}, {{ op = \"advertise\", provider = \"mail\" }}, {{ op = \"lookup_begin\", namespace = \"NS_EMAIL\", name = \"alice@example.com\", as = \"q\" }}, {{ op = \"sleep\", us = 15 }}, {{ op = \"cleanup\" }}, {{ op = \"sleep\", us = 1000 }} ]\n[[process]]\nname = \"b\"\nsteps = [ {{ op = \"sleep\", us = 10 }}, {{ op = \"startup\" }}, {{ op = \"lookup_begin\", namespace = \"NS_EMAIL\", name = \"alice@example.com\", as = \"q\" }}, {{ op = \"sleep\", us = 30 }}, {{ op = \"lookup_next\", handle = \"q\" }}, {{ op = \"cleanup\" }} ]\n"
    );
    let (s, r) = parse(&text);
    let (whole, all) = run(&s, &r, false);
    let (stopped, cut) = run(&s, &r, true);
    let is_violation = |e: &(u64, Event)| matches!(e.1, Event::Violation { .. });
    assert!(all.iter().any(is_violation), "the scenario fails: {all:?}");
    assert!(!whole.stopped_at_failure());
    assert!(stopped.stopped_at_failure(), "{:?}", stopped.stopped);
    let first = cut.iter().position(is_violation).expect("the violation");
    assert_eq!(cut[..first], all[..first], "same run up to the failure");
    assert!(cut.len() < all.len(), "the rest of the run is not run");
    // The step that failed is finished: b's Next returns to it.
    assert!(
        matches!(cut.last(), Some((_, Event::ApiReturn { .. }))),
        "{:?}",
        cut.last()
    );
}

#[test]
fn a_recorded_schedule_replays_the_run_byte_for_byte() {
    // Shrinking rests on this: the moves a run made, followed by a `Schedule` (with every
    // fault offered, as the shrinker offers them), make the same run again.
    use nspsim::runs::header;
    use nspsim_runtime::sim::faults::InjectedFaultKind;
    use nspsim_runtime::sim::strategy::{Move, Portfolio, Recording, Schedule, Strategy};
    use nspsim_runtime::trace::TraceBuffer;
    let registry = nspsim_providers::registry();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut with_faults = 0;
    for file in ["../traces/demo.toml", "benches/small.toml"] {
        let s = scenario::load(&dir.join(file), &registry).expect(file);
        for seed in 0..60 {
            let record = |strategy: &mut dyn Strategy, faults: FaultPlan| {
                let options = RunOptions {
                    seed,
                    max_steps: 100_000,
                    faults,
                    free_time: false,
                    stop_at_failure: false,
                };
                let sink = Checked::new(TraceBuffer::new(&header(&s, seed)), s.startup_policy);
                let (report, mut sink) =
                    world::run_with(&s, &registry, strategy, sink, &options).expect("run");
                sink.finish(report.end_time, true);
                sink.into_inner().finish(report.end_time)
            };
            let inner = Portfolio::Both.for_seed(seed).build(100_000);
            let mut recording = Recording::new(inner);
            let original = record(
                &mut recording,
                FaultPlan::swarm(seed, &InjectedFaultKind::ALL),
            );
            let moves: Vec<Move> = recording.moves.iter().map(|(m, _)| *m).collect();
            with_faults += usize::from(moves.iter().any(|m| matches!(m, Move::Fault(_))));
            let again = record(&mut Schedule::new(moves), FaultPlan::all_always());
            assert_eq!(original, again, "{file} seed {seed}");
        }
    }
    assert!(
        with_faults >= 20,
        "injected faults must strike ({with_faults})"
    );
}

#[test]
fn a_run_on_a_thread_that_ran_another_is_the_same_run() {
    // A thread keeps a run's buffers for its next run (exploration's workers run thousands),
    // the dispatcher's tables among them: the second run must not see anything of the first.
    // A faulty run cut short by its step limit first (it leaves lookup loops, timers and
    // runnable slots behind, where a run that ends leaves them empty, and sessions, lookups,
    // async calls and issued handles in the dispatcher): of another scenario, then of the same
    // scenario with faults, then of the same seed after a step or three (the timers it armed
    // are the very ones the whole run arms first), then the whole run, whose trace must be
    // the one a fresh thread records.
    use nspsim::runs::header;
    use nspsim_runtime::sim::faults::InjectedFaultKind;
    use nspsim_runtime::trace::TraceBuffer;
    let registry = nspsim_providers::registry();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let load = |file: &str| scenario::load(&dir.join(file), &registry).expect(file);
    let (big, small) = (load("../traces/demo.toml"), load("benches/small.toml"));
    let record = |s: &Scenario, seed: u64, faults: FaultPlan, max_steps: u64| {
        let options = RunOptions {
            seed,
            max_steps,
            faults,
            free_time: false,
            stop_at_failure: false,
        };
        let mut strategy = nspsim_runtime::sim::strategy::RandomWalk::new();
        let sink = Checked::new(TraceBuffer::new(&header(s, seed)), s.startup_policy);
        let (report, mut sink) =
            world::run_with(s, &registry, &mut strategy, sink, &options).expect("run");
        sink.finish(report.end_time, true);
        sink.into_inner().finish(report.end_time)
    };
    for seed in 0..20 {
        let fresh = std::thread::scope(|t| {
            t.spawn(|| record(&small, seed, FaultPlan::none(), 100_000))
                .join()
                .expect("a fresh thread runs")
        });
        let after = std::thread::scope(|t| {
            t.spawn(|| {
                let faults = FaultPlan::swarm(seed, &InjectedFaultKind::ALL);
                record(&big, seed + 1, faults.clone(), 5 + seed);
                record(&small, seed + 2, faults, 3 + seed);
                record(&small, seed, FaultPlan::none(), 1 + seed % 3);
                record(&small, seed, FaultPlan::none(), 100_000)
            })
            .join()
            .expect("a used thread runs")
        });
        assert!(fresh == after, "seed {seed}: the run after another differs");
    }
}
