//! The example provider under nspsim: exploration finds the buggy variant's ordering bug and
//! shrinks it to a trace that replays; the fixed variant passes 20,000 seeds with every fault.

use nspsim::{Faults, Process, Provider, ReplayVerdict, Scenario, Step};
use nspsim_example_provider::MailboxKind;
use std::time::Instant;

/// Failure traces and regression files of these tests go under target/, not the repository.
fn scratch(test: &str) -> std::path::PathBuf {
    nspsim::default_output_dir()
        .join("example-provider")
        .join(test)
}

/// The lifecycle of `tests/lifecycle.toml`, written with the builder, with the buggy kind.
fn buggy_scenario() -> Scenario {
    Scenario::builder("mailbox-lifecycle-buggy")
        .provider(Provider::new("mailbox", "mailbox-buggy").option(
            "entries",
            serde_json::json!([{ "name": "alice@example.com", "addrs": ["192.0.2.10:25"] }]),
        ))
        .process(Process::new("client-a").steps([
            Step::startup(),
            Step::lookup("NS_EMAIL", "alice@example.com").flags(["LUP_RETURN_ADDR"]),
            Step::cleanup(),
            Step::exit(),
        ]))
        .process(Process::new("client-b").steps([
            Step::startup(),
            Step::lookup("NS_EMAIL", "alice@example.com"),
            Step::cleanup(),
            Step::exit(),
        ]))
        .with_kind(MailboxKind::buggy())
        .build()
        .expect("the scenario validates")
}

#[test]
fn exploration_finds_and_shrinks_the_use_after_free() {
    let scenario = buggy_scenario();
    let dir = scratch("buggy");
    let _ = std::fs::remove_dir_all(&dir);
    let outcome = nspsim::explore(&scenario)
        .seeds(0..2_000)
        .faults(Faults::all())
        .output_dir(&dir)
        .regressions_file(dir.join("buggy.regressions"))
        .run()
        .expect("the exploration runs");
    let shrunk = outcome.shrunk.expect("the bug is found");
    // The provider reads freed session state: a panic at the call boundary (P4).
    assert_eq!(shrunk.rule, "P4", "{shrunk}");
    assert!(shrunk.message.contains("session"), "{shrunk}");
    // The shrunk trace exists, replays identically, and is small.
    assert!(shrunk.trace_path.exists());
    assert_eq!(shrunk.replays, Ok(()));
    match nspsim::replay(&shrunk.trace_path, scenario.registry()).expect("the trace reads") {
        ReplayVerdict::Identical { events } => assert_eq!(events, shrunk.events),
        other => panic!("the shrunk trace does not replay: {other:?}"),
    }
    assert!(
        shrunk.events <= 40,
        "shrunk to {} events:\n{}",
        shrunk.events,
        shrunk.trace
    );
    assert!(shrunk.replay_command.starts_with("nspsim replay "));
    // The failing seed is kept for next time, as proptest keeps its regressions.
    let kept = std::fs::read_to_string(dir.join("buggy.regressions")).expect("regressions");
    assert!(
        kept.contains(&format!("seed {} ", shrunk.failure.seed)),
        "{kept}"
    );
}

#[test]
#[should_panic(expected = "rule:    P4")]
fn check_panics_with_the_rule_and_the_replay_command() {
    let scenario = buggy_scenario();
    let dir = scratch("check");
    nspsim::explore(&scenario)
        .seeds(0..2_000)
        .output_dir(&dir)
        .no_regressions_file()
        .check();
}

#[test]
fn without_faults_the_bug_stays_hidden() {
    // Orderly clients never end a session under a pending completion.
    nspsim::explore(&buggy_scenario())
        .seeds(0..500)
        .faults(Faults::none())
        .no_regressions_file()
        .check();
}

#[test]
fn one_run_returns_its_trace_and_report() {
    let scenario = Scenario::from_file("tests/lifecycle.toml")
        .expect("readable")
        .with_kind(MailboxKind::fixed());
    let outcome = nspsim::run(&scenario).seed(3).run().expect("runs");
    assert!(outcome.passed(), "{:?}", outcome.violations);
    assert!(
        outcome.trace.contains("NSPv2ClientSessionRundown")
            || outcome.trace.contains("NSPv2Cleanup")
    );
    let crash = nspsim::crash_points(&scenario).seed(3).run().expect("runs");
    assert!(crash.tried > 0);
    assert!(crash.failing.is_empty(), "{:?}", crash.failing.first());
}

#[test]
fn a_bad_option_is_a_scenario_error_naming_it() {
    let scenario = Scenario::builder("bad")
        .provider(Provider::new("mailbox", "mailbox").option("completion", "later"))
        .with_kind(MailboxKind::fixed())
        .build();
    let error = scenario.expect_err("rejected").to_string();
    assert!(error.contains("completion"), "{error}");
}

/// Seeds for the fixed variant: 20,000 by default; `NSPSIM_SEEDS` to change it.
fn seeds() -> u64 {
    std::env::var("NSPSIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000)
}

#[test]
fn survives_crashes_and_nested_startup() {
    let scenario = Scenario::from_file("tests/lifecycle.toml")
        .expect("readable")
        .with_kind(MailboxKind::fixed());
    let started = Instant::now();
    let outcome = nspsim::explore(&scenario)
        .seeds(0..seeds())
        .faults(Faults::all())
        .output_dir(scratch("fixed"))
        .run()
        .expect("the exploration runs");
    if let Some(s) = &outcome.shrunk {
        panic!("{s}");
    }
    assert_eq!(outcome.seeds_run, seeds());
    eprintln!(
        "mailbox: {} seeds with all faults in {:.1} s",
        outcome.seeds_run,
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn live_mode_runs_the_same_scenario_on_real_threads() {
    let scenario = Scenario::from_file("tests/lifecycle.toml")
        .expect("readable")
        .with_kind(MailboxKind::fixed());
    let outcome = nspsim::live(&scenario).clients(4).run().expect("runs");
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
    assert!(
        outcome.report.stopped.is_none(),
        "{:?}",
        outcome.report.stopped
    );
    assert!(outcome.report.calls > 0);
}
