//! The `nspsim` binary as a user meets it: every subcommand, every exit code, the demo's
//! printed lifecycle against a snapshot, one test per kind of scenario error with its
//! line:column, and broken traces.
//!
//! Update the lifecycle snapshot after a deliberate change of the printout:
//! `UPDATE_SNAPSHOTS=1 cargo test -p nspsim --test command_line`.

mod common;

use common::*;
use std::path::Path;

/// A minimal valid scenario with one step list for its client.
fn scenario(steps: &str) -> String {
    format!(
        "name = \"t\"\n[[provider]]\nid = \"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60\"\nname = \"mail\"\nnamespace = \"NS_EMAIL\"\nkind = \"email-directory\"\n[provider.options]\nentries = [ {{ name = \"a@x\", addrs = [\"192.0.2.1:25\"] }} ]\n[[process]]\nname = \"c\"\nsteps = [\n  {steps}\n]\n"
    )
}

#[test]
fn run_the_demo_prints_the_lifecycle_and_writes_a_trace() {
    let d = Dir::new("run");
    let trace = d.path("demo.jsonl").display().to_string();
    let o = nspsim(&["run", &demo(), "--trace", &trace]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("*** crash ***"), "{out}");
    assert!(out.contains("NSPv2ClientSessionRundown"), "{out}");
    assert!(out.contains("0 violation(s), 0 failed expect(s)"), "{out}");
    let body = std::fs::read_to_string(&trace).expect("trace written");
    assert!(
        body.starts_with("{\"nsptrace\":1,\"mode\":\"sim\",\"seed\":4,"),
        "{body}"
    );
    assert!(
        body.lines()
            .last()
            .is_some_and(|l| l.contains("\"ev\":\"end\""))
    );
    // The same command again gives the same bytes.
    let again = d.path("again.jsonl").display().to_string();
    assert_eq!(
        code(&nspsim(&["run", &demo(), "--trace", &again, "--quiet"])),
        0
    );
    assert_eq!(std::fs::read(&trace).ok(), std::fs::read(&again).ok());
    // --seed wins over the scenario's.
    let nine = d.path("nine.jsonl").display().to_string();
    assert_eq!(
        code(&nspsim(&[
            "run",
            &demo(),
            "--seed",
            "9",
            "--trace",
            &nine,
            "--quiet"
        ])),
        0
    );
    assert!(
        std::fs::read_to_string(&nine)
            .is_ok_and(|t| t.starts_with("{\"nsptrace\":1,\"mode\":\"sim\",\"seed\":9,"))
    );
}

#[test]
fn run_quiet_prints_only_the_summary_and_the_default_trace_lands_next_to_the_scenario() {
    let d = Dir::new("quiet");
    let copy = d.write("demo.toml", &std::fs::read_to_string(demo()).expect("demo"));
    let o = nspsim(&["run", &copy, "--quiet"]);
    assert_eq!(code(&o), 0);
    let out = text(&o.stdout);
    assert!(!out.contains("NSPv2Startup"), "{out}");
    assert!(out.contains("events,"), "{out}");
    assert!(d.path("demo.seed4.jsonl").exists());
}

#[test]
fn the_demo_lifecycle_matches_its_snapshot() {
    let d = Dir::new("snapshot");
    let trace = d.path("demo.jsonl").display().to_string();
    let o = nspsim(&["run", &demo(), "--trace", &trace]);
    let printed: String = text(&o.stdout)
        .lines()
        .filter(|l| !l.starts_with("trace:") && !l.starts_with("replay:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let snapshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/demo.stdout");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&snapshot, &printed).expect("write snapshot");
    }
    let want = std::fs::read_to_string(&snapshot).unwrap_or_default();
    assert!(
        want == printed,
        "the demo's printout changed; if intended: UPDATE_SNAPSHOTS=1 cargo test -p nspsim --test command_line\n{printed}"
    );
}

#[test]
fn a_failed_expect_exits_1_and_is_a_violation_line() {
    let d = Dir::new("expect");
    let s = d.write(
        "s.toml",
        &scenario(r#"{ op = "startup" }, { op = "expect", err = "WSAEINVAL" }"#),
    );
    let trace = d.path("s.jsonl").display().to_string();
    let o = nspsim(&["run", &s, "--trace", &trace]);
    assert_eq!(code(&o), 1);
    assert!(
        text(&o.stdout).contains("1 failed expect(s)"),
        "{}",
        text(&o.stdout)
    );
    let body = std::fs::read_to_string(&trace).expect("trace");
    assert!(
        body.contains("\"ev\":\"violation\",\"rule\":\"expect\""),
        "{body}"
    );
    // check: the same finding offline, exit 1.
    let c = nspsim(&["check", &trace]);
    assert_eq!(code(&c), 1);
    assert!(text(&c.stdout).contains("expect: "), "{}", text(&c.stdout));
}

/// Each kind of scenario mistake: exit 2, the position, the quoted line and a caret; no trace.
#[test]
fn scenario_errors_show_line_and_column() {
    let d = Dir::new("errors");
    let cases: &[(&str, &str, &str)] = &[
        ("unknown key", "name = \"t\"\nsead = 1\n", "2:1"),
        ("unknown op", &scenario(r#"{ op = "lookp" }"#), "12:10"),
        (
            "unknown namespace",
            &scenario(r#"{ op = "lookup", namespace = "NS_MAIL", name = "a" }"#),
            "12:32",
        ),
        (
            "unknown flag",
            &scenario(r#"{ op = "lookup", namespace = 37, name = "a", flags = ["LUP_NOPE"] }"#),
            "12:",
        ),
        (
            "unknown error",
            &scenario(r#"{ op = "startup" }, { op = "expect", err = "WSAEWHAT" }"#),
            "12:",
        ),
        (
            "undefined handle",
            &scenario(r#"{ op = "lookup_end", handle = "q" }"#),
            "12:",
        ),
        (
            "unknown kind",
            &scenario("").replace("email-directory", "emial-directory"),
            "6:8",
        ),
        (
            "bad guid",
            &scenario("").replace("6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60", "not-a-guid"),
            "3:6",
        ),
        ("toml syntax", "name = \"t\"\n[[process]\n", "2:"),
    ];
    for (what, body, at) in cases {
        let s = d.write("bad.toml", body);
        let o = nspsim(&["run", &s]);
        assert_eq!(code(&o), 2, "{what}: {}", text(&o.stdout));
        let err = text(&o.stderr);
        assert!(err.starts_with("error: "), "{what}: {err}");
        assert!(
            err.contains(&format!("--> {s}:{at}")),
            "{what}: want {at} in\n{err}"
        );
        assert!(
            err.contains(" | ") && err.contains('^'),
            "{what}: quoted line and caret\n{err}"
        );
        assert!(
            err.lines().count() >= 4 && !err.contains("\\u{a}"),
            "{what}: the error keeps its line breaks (escaping is per line)\n{err}"
        );
        assert!(
            !d.path("bad.seed0.jsonl").exists(),
            "{what}: nothing runs, nothing is written"
        );
    }
    let dup = scenario("")
        + "[[provider]]\nid = \"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60\"\nname = \"again\"\nnamespace = 37\nkind = \"minimal\"\n";
    let s = d.write("dup.toml", &dup);
    let o = nspsim(&["run", &s]);
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains("duplicate provider id"),
        "{}",
        text(&o.stderr)
    );
    let o = nspsim(&["run", &d.path("missing.toml").display().to_string()]);
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains("cannot read ") && !text(&o.stderr).contains(":1:1"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn replay_identical_differs_and_broken_traces() {
    let d = Dir::new("replay");
    let trace = d.path("demo.jsonl").display().to_string();
    assert_eq!(
        code(&nspsim(&["run", &demo(), "--trace", &trace, "--quiet"])),
        0
    );
    let o = nspsim(&["replay", &trace]);
    assert_eq!(code(&o), 0);
    assert!(
        text(&o.stdout).starts_with("identical:"),
        "{}",
        text(&o.stdout)
    );

    let body = std::fs::read_to_string(&trace).expect("trace");
    let lines: Vec<&str> = body.lines().collect();
    // A hand-edited result: the replay shows the first differing line.
    let at = lines
        .iter()
        .position(|l| l.contains("\"ev\":\"api.return\"") && l.contains("\"call\":\"WSACleanup\""))
        .expect("a WSACleanup return");
    let mut edited = lines.clone();
    let changed = lines[at].replace("\"err\":0", "\"err\":1");
    edited[at] = &changed;
    let e = d.write("edited.jsonl", &(edited.join("\n") + "\n"));
    let o = nspsim(&["replay", &e]);
    assert_eq!(code(&o), 1);
    assert!(
        text(&o.stdout).contains(&format!("differs at line {}", at + 1)),
        "{}",
        text(&o.stdout)
    );

    // Cut short: replayed as far as it goes, with a note.
    let cut = d.write("cut.jsonl", &(lines[..lines.len() - 1].join("\n") + "\n"));
    let o = nspsim(&["replay", &cut]);
    assert_eq!(code(&o), 0, "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("cut short"), "{}", text(&o.stdout));

    // A malformed line, an unknown version, a missing file: exit 2 with file:line.
    let mut bad = lines.clone();
    bad[3] = "{not json";
    let b = d.write("bad.jsonl", &(bad.join("\n") + "\n"));
    let o = nspsim(&["replay", &b]);
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains(&format!("{b}:4: not JSON")),
        "{}",
        text(&o.stderr)
    );
    let v2 = d.write(
        "v2.jsonl",
        &(body.replacen("\"nsptrace\":1", "\"nsptrace\":2", 1)),
    );
    let o = nspsim(&["replay", &v2]);
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains("nsptrace version 2 is not supported"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(
        code(&nspsim(&[
            "replay",
            &d.path("none.jsonl").display().to_string()
        ])),
        2
    );
}

#[test]
fn check_clean_and_malformed() {
    let d = Dir::new("check");
    let trace = d.path("demo.jsonl").display().to_string();
    assert_eq!(
        code(&nspsim(&["run", &demo(), "--trace", &trace, "--quiet"])),
        0
    );
    let o = nspsim(&["check", &trace]);
    assert_eq!(code(&o), 0);
    assert!(
        text(&o.stdout).contains("0 violation(s)"),
        "{}",
        text(&o.stdout)
    );
    let bad = d.write("bad.jsonl", "{\"nsptrace\":1}\n");
    assert_eq!(code(&nspsim(&["check", &bad])), 2);
}

#[test]
fn explore_finds_a_bug_and_writes_a_replayable_shrunk_trace() {
    let d = Dir::new("explore");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/explore/complete-after-end.toml");
    let s = d.write(
        "bug.toml",
        &std::fs::read_to_string(fixture).expect("fixture"),
    );
    let o = nspsim(&[
        "explore", &s, "--seeds", "0..500", "--faults", "none", "--jobs", "2",
    ]);
    assert_eq!(code(&o), 1, "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("fails with P4"), "{out}");
    let shrunk = out
        .lines()
        .find_map(|l| l.strip_prefix("trace: "))
        .expect("a trace line");
    // A failure trace replays identically, restates its violation, and is a finding.
    let o = nspsim(&["replay", shrunk]);
    assert_eq!(code(&o), 1, "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("identical"), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("the trace records 1 violation(s):\n  P4: "),
        "{}",
        text(&o.stdout)
    );
    assert!(
        std::fs::read_to_string(d.path("bug.toml.regressions")).is_ok_and(|r| r.contains("seed "))
    );
    // Bad input: exit 2.
    assert_eq!(code(&nspsim(&["explore", &s, "--seeds", "9..3"])), 2);
    assert_eq!(code(&nspsim(&["explore", &s, "--faults", "meteor"])), 2);
    assert_eq!(code(&nspsim(&["explore", &s, "--time", "1m30x"])), 2);
    assert_eq!(code(&nspsim(&["explore", &s, "--shard", "3/3"])), 2);
}

#[test]
fn crash_points_list_the_failing_ones_and_keep_the_first_as_a_trace() {
    let d = Dir::new("crash-points");
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/explore/ignore-rundown.toml");
    let s = d.write(
        "leak.toml",
        &std::fs::read_to_string(fixture).expect("fixture"),
    );
    let o = nspsim(&["explore", &s, "--crash-points"]);
    assert_eq!(code(&o), 1, "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("crash of a in step 2, after 1 of its calls (after move"),
        "{out}"
    );
    assert!(out.contains("fails with P5"), "{out}");
    let trace = out
        .lines()
        .find_map(|l| l.strip_prefix("trace of the first: "))
        .expect("a trace line");
    let o = nspsim(&["replay", trace]);
    assert_eq!(code(&o), 1, "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("identical"), "{}", text(&o.stdout));
    // No crash point fails on a correct provider.
    let clean = d.write(
        "clean.toml",
        &std::fs::read_to_string(demo()).expect("demo"),
    );
    let o = nspsim(&["explore", &clean, "--crash-points"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("; 0 fail"), "{}", text(&o.stdout));
}

#[test]
fn explore_on_correct_providers_is_clean() {
    let d = Dir::new("explore-clean");
    let s = d.write("demo.toml", &std::fs::read_to_string(demo()).expect("demo"));
    let o = nspsim(&["explore", &s, "--seeds", "0..300"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("0 failing"), "{}", text(&o.stdout));
}

#[test]
fn self_check_reports_identical_runs() {
    let o = nspsim(&["run", &demo(), "--self-check"]);
    assert_eq!(code(&o), 0);
    assert!(
        text(&o.stdout).contains("identical traces twice"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn providers_lists_every_kind_with_options() {
    let o = nspsim(&["providers"]);
    assert_eq!(code(&o), 0);
    let out = text(&o.stdout);
    for kind in [
        "email-directory",
        "minimal",
        "minimal-stubs",
        "faulty",
        "buggy",
    ] {
        assert!(out.lines().any(|l| l == kind), "{kind} in\n{out}");
    }
    for option in ["entries", "completion", "faults", "bug"] {
        assert!(out.contains(option), "{option}");
    }
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    for sub in ["run", "replay", "check", "explore", "providers"] {
        let o = nspsim(&[sub, "--help"]);
        assert_eq!(code(&o), 0, "{sub}");
        assert!(
            text(&o.stdout).contains("Example:"),
            "{sub}: {}",
            text(&o.stdout)
        );
    }
}

#[test]
fn check_help_lists_every_rule_of_the_table() {
    let o = nspsim(&["check", "--help"]);
    assert_eq!(code(&o), 0);
    // clap wraps long lines: compare with the whitespace collapsed.
    let help = text(&o.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for r in nspsim_runtime::checker::rules() {
        assert!(
            help.contains(&format!(" {} {}", r.id, r.text)),
            "{} missing from:\n{help}",
            r.id
        );
    }
}

#[test]
fn run_live_writes_a_live_trace_that_replays_in_sim() {
    let d = Dir::new("live");
    let trace = d.path("demo.live.jsonl").display().to_string();
    let o = nspsim(&[
        "run",
        &demo(),
        "--live",
        "--clients",
        "3",
        "--trace",
        &trace,
        "--quiet",
    ]);
    assert_eq!(code(&o), 0, "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(
        text(&o.stdout).contains("9 client processes"),
        "{}",
        text(&o.stdout)
    );
    let body = std::fs::read_to_string(&trace).expect("trace");
    assert!(
        body.starts_with("{\"nsptrace\":1,\"mode\":\"live\","),
        "{body}"
    );
    let r = nspsim(&["replay", &trace]);
    assert_eq!(code(&r), 0, "{}", text(&r.stdout));
    assert!(
        text(&r.stdout).contains("identical but for the real times"),
        "{}",
        text(&r.stdout)
    );
    assert_eq!(
        code(&nspsim(&["run", &demo(), "--clients", "3"])),
        2,
        "--clients needs --live"
    );
}

#[test]
fn run_live_reports_a_provider_that_never_completes() {
    let d = Dir::new("live-stuck");
    let s = d.write(
        "stuck.toml",
        &scenario(r#"{ op = "startup" }, { op = "lookup", namespace = "NS_EMAIL", name = "a@x" }, { op = "cleanup" }"#)
            .replace("kind = \"email-directory\"", "kind = \"faulty\"")
            .replace("[provider.options]\n", "[provider.options]\nfaults = [ { fault = \"never-complete\" } ]\n"),
    );
    let trace = d.path("stuck.live.jsonl").display().to_string();
    let o = nspsim(&[
        "run",
        &s,
        "--live",
        "--completion-deadline-ms",
        "100",
        "--trace",
        &trace,
        "--quiet",
    ]);
    assert_eq!(
        code(&o),
        1,
        "a timeout is a provider fault (P4): {}",
        text(&o.stdout)
    );
    let body = std::fs::read_to_string(&trace).expect("trace");
    assert!(body.contains("\"kind\":\"timeout\""), "{body}");
}

/// A sweep that runs past the first plain progress line (every 10 s when stderr is not a
/// terminal) must finish: the workers print that line themselves, and once waited forever for
/// a stderr lock the command held.
#[test]
fn a_long_sweep_with_stderr_in_a_file_prints_progress_and_ends() {
    use std::time::{Duration, Instant};
    let mut child = nspsim_command()
        .args(["explore", &demo(), "--time", "11s", "--jobs", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("nspsim starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for nspsim") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            panic!("explore --time 11s still running after 300 s: a progress line blocked");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().expect("collect the output");
    assert_eq!(status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("seeds after"),
        "no progress line: {}",
        text(&out.stderr)
    );
}
