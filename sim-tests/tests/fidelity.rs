//! Issue #18, fidelity to Microsoft's documentation, over many seeds: the orders that matter
//! (S4.6's non-final WSACleanup against a lookup in flight, S5.2's candidates started one at a
//! time) hold in every interleaving the scheduler picks, and the checker finds nothing.

mod common;

use common::*;
use nspsim_runtime::event::{ApiFn, Event, Pid};
use nspsim_runtime::provider::NspFn;
use nspsim_runtime::scenario;
use nspsim_runtime::sim::faults::FaultPlan;
use nspsim_runtime::sim::world::RunOptions;
use nspsim_runtime::wsa::Guid;

const SEEDS: u64 = 40;

/// Runs `text` under `seed`; returns the events. Every run must end with no violation and no
/// failed `expect`.
fn run(text: &str, seed: u64) -> Vec<Event> {
    let registry = nspsim_providers::registry();
    let s = scenario::parse("fidelity.toml", text, &registry).unwrap_or_else(|e| panic!("{e}"));
    let options = RunOptions {
        seed,
        max_steps: 100_000,
        faults: FaultPlan::none(),
        free_time: false,
        stop_at_failure: false,
    };
    let (report, mut sink) = checked_run(&s, &registry, &options);
    sink.finish(report.end_time, true);
    assert!(
        report.expect_failures.is_empty(),
        "seed {seed}: {:?}",
        report.expect_failures
    );
    let events: Vec<Event> = sink
        .into_inner()
        .events
        .into_iter()
        .map(|s| s.event)
        .collect();
    let violations: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Event::Violation { .. }))
        .collect();
    assert!(violations.is_empty(), "seed {seed}: {violations:#?}");
    events
}

const NESTED: &str = r#"
name = "s4-6-non-final-cleanup"
startup_policy = "per-wsastartup"

[[provider]]
id = "6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60"
name = "mail"
namespace = "NS_EMAIL"
kind = "email-directory"
[provider.options]
completion = "deferred"
entries = [
  { name = "alice@example.com", addrs = ["192.0.2.10:25"] },
  { name = "bob@example.com", addrs = ["192.0.2.11:25"] },
]

[[process]]
name = "app"
steps = [
  { op = "startup" },
  { op = "startup" },
  { op = "lookup_begin", namespace = "NS_EMAIL", name = "*@example.com", flags = ["LUP_RETURN_NAME"], as = "q" },
  { op = "lookup_next", handle = "q" },
  { op = "expect", err = "NO_ERROR" },
  { op = "cleanup" },
  { op = "lookup_next", handle = "q" },
  { op = "expect", err = "NO_ERROR" },
  { op = "lookup_next", handle = "q" },
  { op = "expect", err = "WSA_E_NO_MORE" },
  { op = "lookup_end", handle = "q" },
  { op = "cleanup" },
]
[[process.thread]]
steps = [ { op = "sleep", us = 15 }, { op = "lookup", namespace = "NS_EMAIL", name = "alice@example.com" } ]

[[process]]
name = "other"
steps = [
  { op = "startup" },
  { op = "lookup", namespace = "NS_EMAIL", name = "bob@example.com", flags = ["LUP_RETURN_NAME"] },
  { op = "expect", err = "NO_ERROR", ret = 1 },
  { op = "cleanup" },
]
"#;

#[test]
fn s4_6_non_final_wsacleanup_does_not_cut_a_lookup_short_in_any_interleaving() {
    for seed in 0..SEEDS {
        let events = run(NESTED, seed);
        // Cleanups never outnumber Startups, and each of app's sessions gets exactly one.
        let count = |f: NspFn| {
            events
                .iter()
                .filter(|e| matches!(e, Event::NspCall { func, pid, .. } if *func == f && *pid == Pid(2)))
                .count()
        };
        assert_eq!(count(NspFn::Startup), count(NspFn::Cleanup), "seed {seed}");
    }
}

const AUTHORITY: &str = r#"
name = "s5-2-one-candidate-at-a-time"

[[provider]]
id = "10000000-0000-4000-8000-000000000001"
name = "primary"
namespace = "NS_EMAIL"
kind = "email-directory"
authority = "primary"
[provider.options]
completion = "deferred"
entries = [ { name = "bob@example.com", addrs = ["192.0.2.1:25"] } ]

[[provider]]
id = "20000000-0000-4000-8000-000000000002"
name = "secondary"
namespace = "NS_EMAIL"
kind = "email-directory"
authority = "secondary"
[provider.options]
completion = "deferred"
entries = [ { name = "alice@example.com", addrs = ["192.0.2.2:25"] } ]

[[provider]]
id = "30000000-0000-4000-8000-000000000003"
name = "wildcard"
namespace = "NS_EMAIL"
kind = "email-directory"
authority = "wildcard"
[provider.options]
entries = [ { name = "alice@example.com", addrs = ["192.0.2.3:25"] } ]

[[process]]
name = "a"
steps = [
  { op = "startup" },
  { op = "lookup", namespace = "NS_EMAIL", name = "alice@example.com", flags = ["LUP_RETURN_ADDR"] },
  { op = "expect", err = "NO_ERROR", ret = 1 },
  { op = "set_service", action = "register", namespace = "NS_EMAIL", name = "carol@example.com", addrs = ["192.0.2.9:25"] },
  { op = "expect", err = "NO_ERROR" },
  { op = "cleanup" },
]

[[process]]
name = "b"
steps = [
  { op = "startup" },
  { op = "lookup", namespace = "NS_EMAIL", name = "alice@example.com", flags = ["LUP_RETURN_ADDR"] },
  { op = "expect", err = "NO_ERROR", ret = 1 },
  { op = "lookup", namespace = "NS_EMAIL", name = "bob@example.com", flags = ["LUP_RETURN_ADDR"] },
  { op = "expect", err = "NO_ERROR", ret = 1 },
  { op = "cleanup" },
]
"#;

#[test]
fn s5_2_the_secondary_is_started_inside_next_in_any_interleaving() {
    let secondary = Guid::from_u128(0x20000000_0000_4000_8000_000000000002);
    let wildcard = Guid::from_u128(0x30000000_0000_4000_8000_000000000003);
    for seed in 0..SEEDS {
        let events = run(AUTHORITY, seed);
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, Event::NspCall { provider, .. } if *provider == wildcard)),
            "seed {seed}: the wildcard is never called"
        );
        for pid in [Pid(4), Pid(5)] {
            let started = events
                .iter()
                .filter(|e| matches!(e, Event::NspCall { provider, func: NspFn::Startup, pid: p, .. } if *provider == secondary && *p == pid))
                .count();
            assert_eq!(started, 1, "seed {seed}, pid {}", pid.0);
            // The client's call in progress when the secondary's Startup came.
            let mut in_call = None;
            for e in &events {
                match e {
                    Event::ApiCall { pid: p, call, .. } if *p == pid => in_call = Some(*call),
                    Event::ApiReturn { pid: p, .. } if *p == pid => in_call = None,
                    Event::NspCall {
                        provider,
                        func: NspFn::Startup,
                        pid: p,
                        ..
                    } if *provider == secondary && *p == pid => {
                        assert_eq!(
                            in_call,
                            Some(ApiFn::WSALookupServiceNext),
                            "seed {seed}, pid {}: the secondary starts inside Next",
                            pid.0
                        );
                    }
                    _ => {}
                }
            }
        }
    }
}
