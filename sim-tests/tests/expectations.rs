//! The expectations a scenario can state beyond `err`/`ret` (docs/scenario-format.md,
//! "Expectations"): error lists and `"any"`, the negotiated `version`, lookup `results` with
//! the provider that answered, the `required` length of a WSAEFAULT, `buffer = "required"`,
//! and the top-level `expect_calls`. Each holds in sim under many seeds and in live mode, and
//! each failure is a `violation` of rule `expect` that says what was expected and what
//! happened, with process, thread and step; a recorded trace re-checks to the same list.

mod common;

use common::*;
use nspsim::runs::record;
use nspsim_runtime::checker::{self, Rule};
use nspsim_runtime::event::{Event, ExitHow};
use nspsim_runtime::live::LiveOptions;
use nspsim_runtime::scenario::{self, Scenario};
use nspsim_runtime::sim::faults::{FaultPlan, InjectedFaultKind};
use nspsim_runtime::sim::replayer::{ReplayVerdict, replay_against};
use nspsim_runtime::sim::strategy::StrategyName;
use nspsim_runtime::sim::world::RunOptions;
use nspsim_runtime::trace::parse_trace;

/// Two directories of one namespace (not NS_EMAIL, so no authority routing): "dir-a" answers
/// inline, "dir-b" deferred, so results come back both ways.
const PASSING: &str = r#"
name = "expectations"
expect_calls = [
  { provider = "dir-a", fn = "NSPv2Startup", count = 1 },
  { provider = "dir-b", fn = "NSPv2Cleanup", process = "client", count = 1 },
  { provider = "dir-b", fn = "NSPv2ClientSessionRundown", count = 0 },
  { provider = "dir-a", fn = "NSPv2LookupServiceNextEx", min = 3, max = 10 },
]

[[provider]]
id = "a0000000-0000-4000-8000-00000000000a"
name = "dir-a"
namespace = "NS_DNS"
kind = "email-directory"
[provider.options]
entries = [ { name = "alice@example.com", addrs = ["192.0.2.10:25"] } ]

[[provider]]
id = "b0000000-0000-4000-8000-00000000000b"
name = "dir-b"
namespace = "NS_DNS"
kind = "email-directory"
[provider.options]
entries = [ { name = "alice@example.com", addrs = ["192.0.2.20:25", "192.0.2.21:25"] } ]
completion = "deferred"

[[process]]
name = "client"
steps = [
  { op = "startup", version = "3.7" },
  { op = "expect", version = "2.2" },
  { op = "startup", version = "0.9" },
  { op = "expect", err = "WSAVERNOTSUPPORTED" },
  { op = "lookup", namespace = "NS_DNS", name = "alice@example.com", flags = ["LUP_RETURN_NAME", "LUP_RETURN_ADDR"] },
  { op = "expect", ret = 2, results = [
      { name = "alice@example.com", addrs = ["192.0.2.10:25"], provider = "dir-a" },
      { addrs = ["192.0.2.20:25", "192.0.2.21:25"], provider = "b0000000-0000-4000-8000-00000000000b" } ] },
  { op = "lookup_begin", namespace = "NS_DNS", name = "alice@example.com", flags = ["LUP_RETURN_NAME", "LUP_RETURN_ADDR"], as = "q" },
  { op = "lookup_next", handle = "q", buffer = 16 },
  { op = "expect", required = 208 },
  { op = "lookup_next", handle = "q", buffer = "required" },
  { op = "expect", results = [ { name = "alice@example.com", provider = "dir-a" } ] },
  { op = "lookup_next", handle = "q", buffer = 16 },
  { op = "expect", err = "WSAEFAULT" },
  { op = "lookup_next", handle = "q", buffer = "required" },
  { op = "expect", results = [ { provider = "dir-b" } ] },
  { op = "lookup_next", handle = "q" },
  { op = "expect", results = [], err = ["WSA_E_CANCELLED", "WSA_E_NO_MORE"] },
  { op = "lookup_end", handle = "q" },
  { op = "lookup", provider = "99999999-0000-4000-8000-000000000000", name = "x" },
  { op = "expect", err = "any" },
  { op = "cleanup" },
]
"#;

/// [`PASSING`] with every expectation wrong in one way.
fn failing() -> String {
    let swaps = [
        (
            "{ op = \"expect\", version = \"2.2\" }",
            "{ op = \"expect\", version = \"2.1\" }",
        ),
        (
            "{ addrs = [\"192.0.2.20:25\", \"192.0.2.21:25\"], provider = \"b0000000-0000-4000-8000-00000000000b\" }",
            "{ addrs = [\"192.0.2.20:25\"], provider = \"dir-a\" }",
        ),
        (
            "{ op = \"expect\", required = 208 }",
            "{ op = \"expect\", required = 200 }",
        ),
        (
            "{ op = \"expect\", results = [ { provider = \"dir-b\" } ] }",
            "{ op = \"expect\", results = [ { provider = \"dir-a\" } ] }",
        ),
        (
            "err = [\"WSA_E_CANCELLED\", \"WSA_E_NO_MORE\"]",
            "err = [\"WSA_E_CANCELLED\", \"WSAEINVAL\"]",
        ),
        (
            "{ op = \"expect\", err = \"any\" }",
            "{ op = \"expect\", err = [\"WSANO_DATA\", \"NO_ERROR\"] }",
        ),
        (
            "fn = \"NSPv2Startup\", count = 1",
            "fn = \"NSPv2Startup\", count = 0",
        ),
        ("min = 3, max = 10", "max = 1"),
    ];
    let mut text = PASSING.to_string();
    for (from, to) in swaps {
        assert!(text.contains(from), "{from}");
        text = text.replacen(from, to, 1);
    }
    text
}

fn parse(text: &str) -> Scenario {
    let registry = nspsim_providers::registry();
    scenario::parse("expectations.toml", text, &registry).unwrap_or_else(|e| panic!("{e}"))
}

/// The `violation` lines of a trace, as (rule, detail), and whether the last comes right
/// before `end`.
fn violations(text: &str) -> Vec<(String, String)> {
    let trace = parse_trace("t.jsonl", text).expect("a valid trace");
    trace
        .events
        .iter()
        .filter_map(|s| match &s.event {
            Event::Violation { rule, detail } => Some((rule.clone(), detail.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn every_new_form_holds_in_sim_under_many_seeds() {
    let registry = nspsim_providers::registry();
    let s = parse(PASSING);
    for strategy in StrategyName::ALL {
        for seed in 0..16 {
            let (text, report) = record(&s, &registry, seed, strategy, 100_000).expect("run");
            assert!(
                report.expect_failures.is_empty(),
                "seed {seed}: {:#?}",
                report.expect_failures
            );
            assert_eq!(violations(&text), vec![], "seed {seed}");
        }
    }
}

#[test]
fn failed_expectations_say_what_was_expected_and_what_happened() {
    let registry = nspsim_providers::registry();
    let s = parse(&failing());
    let (text, report) = record(&s, &registry, 0, StrategyName::Random, 100_000).expect("run");
    let found = violations(&text);
    assert!(found.iter().all(|(rule, _)| rule == "expect"), "{found:#?}");
    let details: Vec<&str> = found.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(details, report.expect_failures, "report and trace agree");
    let want = [
        "pid 3 (client) thread 1 step 2: expected success and version 2.1, got success with ret 0 and version 2.2",
        "pid 3 (client) thread 1 step 6: expected success with ret 2 and 2 result(s) \
         [name \"alice@example.com\" addrs [192.0.2.10:25] from \"dir-a\"; addrs [192.0.2.20:25] from \"dir-a\"], \
         got success with ret 2 and 2 result(s) \
         [name \"alice@example.com\" addrs [192.0.2.10:25] from \"dir-a\"; \
         name \"alice@example.com\" addrs [192.0.2.20:25, 192.0.2.21:25] from \"dir-b\"]",
        "pid 3 (client) thread 1 step 9: expected WSAEFAULT (10014) and required 200, got WSAEFAULT (10014) with ret -1 and required 208",
        "pid 3 (client) thread 1 step 15: expected success and 1 result(s) [from \"dir-a\"], \
         got success with ret 0 and 1 result(s) \
         [name \"alice@example.com\" addrs [192.0.2.20:25, 192.0.2.21:25] from \"dir-b\"]",
        "pid 3 (client) thread 1 step 17: expected one of WSA_E_CANCELLED (10111), WSAEINVAL (10022) \
         and 0 result(s) [], got WSA_E_NO_MORE (10110) with ret -1 and 0 result(s) []",
        "pid 3 (client) thread 1 step 20: expected one of WSANO_DATA (11004), success, got WSAEINVAL (10022) with ret -1",
        "expect_calls entry 1: expected exactly 0 NSPv2Startup call(s) to provider \"dir-a\", got 1",
        "expect_calls entry 4: expected at most 1 NSPv2LookupServiceNextEx call(s) to provider \"dir-a\", got 5",
    ];
    assert_eq!(details, want);
    // expect_calls are judged at the end: their lines come last, right before `end`.
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[lines.len() - 1].contains("\"ev\":\"end\""));
    assert!(lines[lines.len() - 2].contains("expect_calls entry 4"));
    // Offline, the recorded trace re-checks to the same list.
    let trace = parse_trace("t.jsonl", &text).expect("a valid trace");
    let offline = checker::check(&trace.events, true, s.startup_policy);
    let offline: Vec<(Rule, String)> = offline
        .violations
        .into_iter()
        .map(|v| (v.rule, v.detail))
        .collect();
    let recorded: Vec<(Rule, String)> = found
        .into_iter()
        .map(|(r, d)| (Rule::parse(&r), d))
        .collect();
    assert_eq!(offline, recorded);
}

#[test]
fn buffer_required_without_a_wsaefault_is_a_scenario_failure() {
    let text = PASSING.replacen(
        "{ op = \"lookup_next\", handle = \"q\", buffer = 16 },\n  { op = \"expect\", required = 208 },",
        "{ op = \"lookup_next\", handle = \"q\", buffer = 4096 },\n  { op = \"expect\", err = 0 },",
        1,
    );
    assert_ne!(text, PASSING);
    let registry = nspsim_providers::registry();
    let (trace, report) =
        record(&parse(&text), &registry, 0, StrategyName::Random, 100_000).expect("run");
    // Step 10 is not run (no call), and the expect after it is not judged; the later steps
    // then see the handle one result further on.
    assert_eq!(
        report.expect_failures.first().map(String::as_str),
        Some(
            "pid 3 (client) thread 1 step 10: not run: `buffer = \"required\"` on handle \"q\", \
             but no WSALookupServiceNext on it has failed with WSAEFAULT"
        )
    );
    assert!(violations(&trace)[0].0 == "expect");
}

#[test]
fn nothing_is_judged_after_an_injected_fault() {
    let registry = nspsim_providers::registry();
    let s = parse(&failing());
    let options = RunOptions {
        seed: 3,
        max_steps: 100_000,
        faults: FaultPlan {
            kinds: vec![InjectedFaultKind::Crash],
            rate_ppm: 1_000_000,
        },
        free_time: false,
        stop_at_failure: false,
    };
    let (report, sink) = checked_run(&s, &registry, &options);
    let events = sink.into_inner().events;
    let crash = events
        .iter()
        .position(|e| {
            matches!(
                e.event,
                Event::ProcessExit {
                    how: ExitHow::Crash,
                    ..
                }
            )
        })
        .expect("a fault was injected");
    let judged_after = events
        .iter()
        .skip(crash)
        .any(|e| matches!(&e.event, Event::Violation { rule, .. } if rule == "expect"));
    assert!(!judged_after, "an expect was judged after the fault");
    assert!(
        !report
            .expect_failures
            .iter()
            .any(|d| d.starts_with("expect_calls")),
        "{:#?}",
        report.expect_failures
    );
}

#[test]
fn the_new_forms_hold_and_fail_alike_in_live_mode() {
    let (text, report) = live_trace(&parse(PASSING), &LiveOptions::default());
    assert!(report.stopped.is_none(), "{:?}", report.stopped);
    assert!(
        report.expect_failures.is_empty(),
        "{:#?}",
        report.expect_failures
    );
    assert_eq!(violations(&text), vec![]);
    // The live trace, which embeds the new forms, replays in sim with the same verdicts.
    let trace = parse_trace("live.jsonl", &text).expect("a valid trace");
    assert_eq!(
        replay_against(&trace, &text, &nspsim_providers::registry()),
        ReplayVerdict::Identical {
            events: trace.events.len()
        }
    );

    let (text, report) = live_trace(&parse(&failing()), &LiveOptions::default());
    let found = violations(&text);
    assert_eq!(found.len(), 8, "{found:#?}");
    assert!(found.iter().all(|(rule, _)| rule == "expect"));
    assert!(
        found[1].1.contains("from \"dir-b\""),
        "the live run tells which provider answered: {}",
        found[1].1
    );
    assert_eq!(report.expect_failures.len(), 8);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[lines.len() - 2].contains("expect_calls entry 4"));
}
