//! Live mode: real threads (providers on host threads, clients as tokio tasks). Every
//! recorded live trace checks clean with the correct providers and replays in sim mode; a
//! provider that never completes is reported and the run ends. Bounded in count and time.

mod common;

use common::*;
use nspsim::cli::multiply_clients;
use nspsim_runtime::live::LiveOptions;
use nspsim_runtime::scenario;
use nspsim_runtime::sim::replayer::{ReplayVerdict, replay_against};
use nspsim_runtime::trace::{Mode, parse_trace};
use std::time::Duration;

fn replays_in_sim(text: &str) {
    let trace = parse_trace("live.jsonl", text).expect("a valid trace");
    assert_eq!(trace.header.mode, Mode::Live);
    let registry = nspsim_providers::registry();
    assert_eq!(
        replay_against(&trace, text, &registry),
        ReplayVerdict::Identical {
            events: trace.events.len()
        }
    );
}

fn clean(text: &str) {
    let trace = parse_trace("live.jsonl", text).expect("a valid trace");
    let report = nspsim_runtime::checker::check(&trace.events, true, Default::default());
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
}

#[test]
fn the_demo_runs_live_checks_clean_and_replays_in_sim() {
    let registry = nspsim_providers::registry();
    let demo = traces("demo.toml");
    let s = multiply_clients(scenario::load(&demo, &registry).expect("demo"), 4);
    for _ in 0..3 {
        let (text, report) = live_trace(&s, &LiveOptions::default());
        assert!(report.stopped.is_none(), "{:?}", report.stopped);
        assert!(report.calls > 0);
        clean(&text);
        replays_in_sim(&text);
    }
}

const STRESS: &str = r#"
name = "stress"
[[provider]]
id = "10000000-0000-4000-8000-000000000001"
name = "slow"
namespace = "NS_EMAIL"
kind = "email-directory"
[provider.options]
completion = "deferred"
entries = [ { name = "a@x", addrs = ["192.0.2.1:25"] }, { name = "b@x", addrs = ["192.0.2.2:25"] } ]
[[provider]]
id = "20000000-0000-4000-8000-000000000002"
name = "fast"
namespace = "NS_EMAIL"
kind = "email-directory"
[provider.options]
entries = [ { name = "a@x", addrs = ["192.0.2.3:25"] } ]
[[provider]]
id = "30000000-0000-4000-8000-000000000003"
name = "bare"
namespace = "NS_EMAIL"
kind = "minimal"
[provider.options]
entries = [ { name = "*", addrs = ["192.0.2.4:25"] } ]

[[process]]
name = "steady"
steps = [ { op = "startup" },
  { op = "lookup", namespace = "NS_EMAIL", name = "a@x", flags = ["LUP_RETURN_ADDR", "LUP_NON_AUTHORITATIVE"] },
  { op = "set_service", action = "register", namespace = "NS_EMAIL", name = "c@x", addrs = ["192.0.2.9:25"] },
  { op = "lookup", namespace = "NS_EMAIL", name = "*", flags = ["LUP_RETURN_NAME", "LUP_NON_AUTHORITATIVE"] },
  { op = "cleanup" } ]
[[process]]
name = "crasher"
steps = [ { op = "startup" },
  { op = "lookup_begin", namespace = "NS_EMAIL", name = "b@x", flags = ["LUP_RETURN_ADDR", "LUP_NON_AUTHORITATIVE"], as = "q" },
  { op = "lookup_next", handle = "q" }, { op = "sleep", us = 200 }, { op = "lookup_next", handle = "q" } ]
[[process.thread]]
steps = [ { op = "sleep", us = 150 }, { op = "crash" } ]
"#;

#[test]
fn stress_many_clients_crashes_and_deferred_completions() {
    let registry = nspsim_providers::registry();
    let s = multiply_clients(
        scenario::parse("stress.toml", STRESS, &registry).expect("scenario"),
        24,
    );
    for _ in 0..3 {
        let (text, report) = live_trace(&s, &LiveOptions::default());
        assert!(report.stopped.is_none(), "{:?}", report.stopped);
        assert!(text.contains("\"how\":\"crash\""));
        assert!(text.contains("NSPv2ClientSessionRundown"));
        clean(&text);
        replays_in_sim(&text);
    }
}

#[test]
fn a_provider_that_never_completes_is_reported_and_the_run_ends() {
    let registry = nspsim_providers::registry();
    let text = r#"
name = "stuck"
[[provider]]
id = "10000000-0000-4000-8000-000000000001"
name = "silent"
namespace = "NS_EMAIL"
kind = "faulty"
[provider.options]
faults = [ { fault = "never-complete" } ]
entries = [ { name = "a@x", addrs = ["192.0.2.1:25"] } ]
[[process]]
name = "c"
steps = [ { op = "startup" }, { op = "lookup", namespace = "NS_EMAIL", name = "a@x" }, { op = "cleanup" } ]
"#;
    let s = scenario::parse("stuck.toml", text, &registry).expect("scenario");
    let options = LiveOptions {
        completion_deadline: Duration::from_millis(100),
        ..LiveOptions::default()
    };
    // Returning at all is the point: the run does not wait for the completion forever.
    let (trace, report) = live_trace(&s, &options);
    assert!(report.stopped.is_none());
    assert!(trace.contains("\"kind\":\"timeout\""), "{trace}");
    assert!(trace.contains("was not completed within"), "{trace}");
    assert!(
        trace.contains("\"rule\":\"P4\""),
        "the timeout is a provider fault: {trace}"
    );
}
