//! What a bad-input sweep and a first-time user found (issue #17): every flag bounded and
//! named in its error, exact seed ranges, outputs that never replace inputs, text from a
//! scenario escaped before it reaches a terminal, commands printed as they run.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output};

/// A provider that panics in every NextEx, and one client that looks up: every seed fails
/// with P4.
fn panicking(process_name: &str) -> String {
    format!(
        "name = \"p\"\n[[provider]]\nid = \"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60\"\nname = \"mail\"\nnamespace = \"NS_EMAIL\"\nkind = \"faulty\"\n[provider.options]\nfaults = [ {{ fault = \"panic\" }} ]\nentries = [ {{ name = \"a@x\", addrs = [\"192.0.2.1:25\"] }} ]\n[[process]]\nname = \"{process_name}\"\nsteps = [ {{ op = \"startup\" }}, {{ op = \"lookup\", namespace = \"NS_EMAIL\", name = \"a@x\" }}, {{ op = \"cleanup\" }} ]\n"
    )
}

#[test]
fn explore_jobs_are_bounded_and_never_more_than_the_seeds() {
    let d = Dir::new("jobs");
    let s = d.write("demo.toml", &demo_text());
    let o = nspsim(&["explore", &s, "--jobs", "33000", "--seeds", "0..1"]);
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    let o = nspsim(&["explore", &s, "--jobs", "257", "--seeds", "0..1"]);
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("1..=256"), "{}", text(&o.stderr));
    let help = text(&nspsim(&["explore", "--help"]).stdout);
    assert!(help.contains("1 to 256"), "{help}");
    let o = nspsim(&["explore", &s, "--jobs", "256", "--seeds", "0..3"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("on 3 thread(s)"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn seed_ranges_are_exact_at_the_top_of_u64() {
    let d = Dir::new("top");
    let s = d.write("p.toml", &panicking("c"));
    let max = u64::MAX;
    let failing_seeds = |o: &Output| -> Vec<u64> {
        text(&o.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("seed ")?.split(' ').next()?.parse().ok())
            .collect()
    };
    let inclusive = format!("{}..={max}", max - 1);
    let args = [
        "explore", &s, "--seeds", &inclusive, "--jobs", "2", "--faults", "none",
    ];
    let o = nspsim(&[&args[..], &["--keep-going", "--shrink-budget", "10"]].concat());
    assert_eq!(code(&o), 1, "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("\n2 seeds in "),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(failing_seeds(&o), vec![max - 1, max], "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains(&format!("--seeds {max}..={max}")) || {
            // the unshrunk command names the first failure
            text(&o.stdout).contains(&format!("--seeds {}..={}", max - 1, max - 1))
        },
        "{}",
        text(&o.stdout)
    );
    std::fs::remove_file(d.path("p.toml.regressions")).expect("regressions written");
    // B excluded: one seed; a shard of the top: one seed.
    let exclusive = format!("{}..{max}", max - 1);
    let o = nspsim(&[
        "explore",
        &s,
        "--seeds",
        &exclusive,
        "--jobs",
        "2",
        "--faults",
        "none",
        "--shrink-budget",
        "10",
    ]);
    assert_eq!(failing_seeds(&o), vec![max - 1], "{}", text(&o.stdout));
    std::fs::remove_file(d.path("p.toml.regressions")).expect("regressions written");
    let o = nspsim(&[
        "explore",
        &s,
        "--seeds",
        &inclusive,
        "--shard",
        "1/2",
        "--faults",
        "none",
        "--shrink-budget",
        "10",
        "--keep-going",
    ]);
    assert!(
        text(&o.stdout).contains("\n1 seeds in "),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(failing_seeds(&o), vec![max], "{}", text(&o.stdout));
}

#[test]
fn live_clients_are_checked_before_anything_runs() {
    let d = Dir::new("clients");
    let s = d.write("demo.toml", &demo_text());
    for bad in ["0", "4294967295", "100"] {
        let o = nspsim(&["run", &s, "--live", "--clients", bad]);
        assert_eq!(code(&o), 2, "--clients {bad}: {}", text(&o.stderr));
        assert_eq!(
            d.names(),
            vec!["demo.toml"],
            "nothing written for --clients {bad}"
        );
    }
    let o = nspsim(&["run", &s, "--live", "--clients", "100"]);
    assert!(
        text(&o.stderr).contains("this scenario takes 1 to 85"),
        "{}",
        text(&o.stderr)
    );
    // The most it takes gives a trace that replays. 255 live clients on a busy machine can
    // wait seconds for a completion: deadlines far above that keep the verdict independent of
    // the machine's load (a missed deadline is a provider fault, P4).
    let o = nspsim(&[
        "run",
        &s,
        "--live",
        "--clients",
        "85",
        "--quiet",
        "--call-deadline-ms",
        "600000",
        "--completion-deadline-ms",
        "600000",
    ]);
    assert_eq!(code(&o), 0, "{}{}", text(&o.stdout), text(&o.stderr));
    let trace = d.path("demo.live.jsonl").display().to_string();
    let o = nspsim(&["replay", &trace]);
    assert_eq!(code(&o), 0, "{}{}", text(&o.stdout), text(&o.stderr));
}

#[test]
fn deadlines_and_step_limits_of_zero_are_refused_by_name() {
    let d = Dir::new("zero");
    let s = d.write("demo.toml", &demo_text());
    for (flag, args) in [
        (
            "--call-deadline-ms",
            vec!["run", &s, "--live", "--call-deadline-ms", "0"],
        ),
        (
            "--completion-deadline-ms",
            vec!["run", &s, "--live", "--completion-deadline-ms", "0"],
        ),
        ("--max-steps", vec!["run", &s, "--max-steps", "0"]),
        ("--max-steps", vec!["explore", &s, "--max-steps", "0"]),
    ] {
        let o = nspsim(&args);
        assert_eq!(code(&o), 2, "{args:?}");
        assert!(
            text(&o.stderr).contains(flag),
            "{args:?}: {}",
            text(&o.stderr)
        );
    }
    assert_eq!(d.names(), vec!["demo.toml"]);
}

#[test]
fn nonsensical_regression_lines_are_reported_not_acted_on() {
    let d = Dir::new("regressions");
    let s = d.write("demo.toml", &demo_text());
    d.write(
        "demo.toml.regressions",
        "# kept by explore\nseed 0 strategy=random faults=all max-steps=0\nseed x\nseed 1 color=red\n",
    );
    let o = nspsim(&["explore", &s, "--seeds", "0..2"]);
    assert_eq!(code(&o), 0, "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(
        !text(&o.stdout).contains("still fails"),
        "{}",
        text(&o.stdout)
    );
    let err = text(&o.stderr);
    for line in [":2: max-steps=0", ":3: ", ":4: unknown setting"] {
        assert!(err.contains(line), "{line}: {err}");
    }
    // The banner comes before the regression seeds.
    let p = d.write("p.toml", &panicking("c"));
    d.write("p.toml.regressions", "seed 5 faults=none\n");
    let o = nspsim(&[
        "explore",
        &p,
        "--seeds",
        "0..1",
        "--faults",
        "none",
        "--shrink-budget",
        "10",
    ]);
    let out = text(&o.stdout);
    let banner = out.find("nspsim: exploring").expect("banner");
    let regression = out
        .find("regression seed 5 still fails")
        .expect("regression");
    assert!(banner < regression, "{out}");
}

#[test]
fn a_trace_never_replaces_an_input_or_a_device() {
    let d = Dir::new("outputs");
    let s = d.write("demo.toml", &demo_text());
    let o = nspsim(&["run", &s, "--trace", &s]);
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    assert_eq!(std::fs::read_to_string(&s).expect("scenario"), demo_text());
    let regressions = d.write("demo.toml.regressions", "seed 1\n");
    let o = nspsim(&["run", &s, "--trace", &regressions]);
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(&regressions).expect("kept"),
        "seed 1\n"
    );
    // Through another name of the same file.
    let o = nspsim(&[
        "run",
        &s,
        "--trace",
        &format!("{}/./demo.toml", d.root().display()),
    ]);
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    if Path::new("/dev/null").exists() {
        let o = nspsim(&["run", &s, "--trace", "/dev/null", "--quiet"]);
        assert_eq!(code(&o), 0, "{}", text(&o.stderr));
        let meta = std::fs::metadata("/dev/null").expect("/dev/null");
        assert!(!meta.is_file(), "/dev/null was replaced by a regular file");
    }
    assert_eq!(d.names(), vec!["demo.toml", "demo.toml.regressions"]);
}

#[test]
fn an_interrupted_run_leaves_no_temporary_file() {
    let d = Dir::new("signal");
    let s = d.write(
        "slow.toml",
        "name = \"slow\"\n[[provider]]\nid = \"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60\"\nname = \"mail\"\nnamespace = \"NS_EMAIL\"\nkind = \"email-directory\"\n[[process]]\nname = \"c\"\nsteps = [ { op = \"startup\" }, { op = \"sleep\", us = 60000000 } ]\n",
    );
    for (signal, number) in [("TERM", 15), ("INT", 2), ("HUP", 1)] {
        let mut child = nspsim_command()
            .args(["run", &s, "--live", "--quiet"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        // Wait until the temporary trace is there (the run is under way).
        while !d.names().iter().any(|n| n.contains(".tmp-")) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), Some(128 + number), "SIG{signal}");
        assert_eq!(d.names(), vec!["slow.toml"], "SIG{signal}");
    }
}

#[test]
fn names_from_a_scenario_reach_the_terminal_escaped() {
    let d = Dir::new("escape");
    let s = d.write("e.toml", &panicking("p\\u0000\\u001b[31mRED\\u202e"));
    let o = nspsim(&["run", &s]);
    let out = text(&o.stdout);
    assert!(out.contains("p\\u{0}\\u{1b}[31mRED\\u{202e}"), "{out}");
    for raw in ['\u{0}', '\u{1b}', '\u{202e}'] {
        assert!(
            !out.contains(raw) && !text(&o.stderr).contains(raw),
            "{out}"
        );
    }
    let o = nspsim(&[
        "explore",
        &s,
        "--seeds",
        "0..1",
        "--faults",
        "none",
        "--crash-points",
    ]);
    assert!(!text(&o.stdout).contains('\u{1b}'), "{}", text(&o.stdout));
}

#[test]
fn a_contained_provider_panic_prints_no_raw_panic_message_in_live_mode() {
    let d = Dir::new("live-panic");
    let s = d.write("p.toml", &panicking("c"));
    let o = nspsim(&["run", &s, "--live", "--clients", "4", "--quiet"]);
    assert_eq!(code(&o), 1, "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(
        !text(&o.stderr).contains("panicked at"),
        "{}",
        text(&o.stderr)
    );
    let o = nspsim(&["run", &s, "--quiet"]);
    assert!(
        !text(&o.stderr).contains("panicked at"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn printed_commands_run_as_the_user_started_nspsim() {
    let d = Dir::new("commands");
    let s = d.write("demo.toml", &demo_text());
    let trace = d.path("demo.seed4.jsonl").display().to_string();
    // Run by path: the path.
    let o = nspsim_command()
        .args(["run", &s, "--quiet"])
        .env_remove("CARGO")
        .output()
        .expect("run");
    let expected = format!("replay: {} replay {trace}\n", env!("CARGO_BIN_EXE_nspsim"));
    assert!(text(&o.stdout).contains(&expected), "{}", text(&o.stdout));
    // Under cargo (CARGO set, the binary in target/<profile>): cargo run, with the profile
    // these tests were built in (`cargo test --release` runs a release binary).
    let o = nspsim_command()
        .args(["run", &s, "--quiet"])
        .env("CARGO", "cargo")
        .output()
        .expect("run");
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_nspsim"));
    let profile = exe
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str());
    let in_target = exe
        .parent()
        .and_then(|p| p.parent())
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "target");
    let run = match (in_target, profile) {
        (true, Some("debug")) => "cargo run -p nspsim --".to_string(),
        (true, Some("release")) => "cargo run --release -p nspsim --".to_string(),
        (true, Some(other)) => format!("cargo run --profile {other} -p nspsim --"),
        // A target directory not named `target`: the path, as if run by hand.
        _ => exe.display().to_string(),
    };
    let expected = format!("replay: {run} replay {trace}\n");
    assert!(text(&o.stdout).contains(&expected), "{}", text(&o.stdout));
}

#[test]
fn a_strategy_other_than_the_default_names_its_trace() {
    let d = Dir::new("strategy");
    let s = d.write("demo.toml", &demo_text());
    assert_eq!(code(&nspsim(&["run", &s, "--seed", "7", "--quiet"])), 0);
    assert_eq!(
        code(&nspsim(&[
            "run",
            &s,
            "--seed",
            "7",
            "--strategy",
            "pct",
            "--quiet"
        ])),
        0
    );
    assert_eq!(
        d.names(),
        vec!["demo.seed7.jsonl", "demo.seed7.pct.jsonl", "demo.toml"]
    );
}

#[test]
fn an_undeclared_host_is_an_error_at_its_position() {
    let d = Dir::new("host");
    let body = demo_text().replacen(
        "namespace = \"NS_EMAIL\"\n",
        "namespace = \"NS_EMAIL\"\nhost = \"typo\"\n",
        1,
    );
    let s = d.write("demo.toml", &body);
    let o = nspsim(&["run", &s]);
    assert_eq!(code(&o), 2, "{}", text(&o.stdout));
    let err = text(&o.stderr);
    assert!(
        err.contains("no [[host]] or [[process]] named \"typo\""),
        "{err}"
    );
    assert!(err.contains("demo.toml:17:8"), "{err}");
}

#[test]
fn providers_show_a_required_option_as_required() {
    let out = text(&nspsim(&["providers"]).stdout);
    assert!(!out.contains("(required)"), "{out}");
    assert!(out.contains("required; the ordering bug to carry"), "{out}");
}

/// A scenario whose C library does not exist.
const UNBUILDABLE: &str = "name = \"c\"\n[[provider]]\nid = \"3c1d2e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5\"\nname = \"contoso\"\nnamespace = \"NS_EMAIL\"\nkind = \"c-library\"\n[provider.options]\npath = \"libmissing.so\"\nentry = \"ContosoHostMain\"\n[[process]]\nname = \"a\"\nsteps = [ { op = \"startup\" }, { op = \"cleanup\" } ]\n";

/// A provider that cannot be built is an input error said before a run starts: no banner, no
/// column header, no trace file, in sim and in live mode alike.
#[test]
fn a_provider_that_cannot_be_built_is_reported_before_the_run_starts() {
    let d = Dir::new("unbuildable");
    let s = d.write("c.toml", UNBUILDABLE);
    for live in [false, true] {
        let trace = d.path("out.jsonl");
        let trace = trace.to_string_lossy();
        let mut args = vec!["run", &s, "--trace", &trace];
        if live {
            args.push("--live");
        }
        let o = nspsim(&args);
        assert_eq!(code(&o), 2, "live {live}: {}", text(&o.stderr));
        assert_eq!(
            text(&o.stdout),
            "",
            "live {live}: nothing is printed of a run"
        );
        let stderr = text(&o.stderr);
        assert!(
            stderr.contains("provider \"contoso\" (kind c-library) cannot be built")
                && stderr.contains("libmissing.so"),
            "live {live}: {stderr}"
        );
        assert!(
            !Path::new(&*trace).exists(),
            "live {live}: no trace is left"
        );
    }
}

/// An exploration whose runs cannot start found nothing, which must not read as a clean sweep
/// (it did: "2000 seeds … 0 failing", exit 0), from the command line or the library API.
#[test]
fn exploring_a_provider_that_cannot_be_built_is_an_error_not_a_clean_sweep() {
    let d = Dir::new("unbuildable-explore");
    let s = d.write("c.toml", UNBUILDABLE);
    for extra in [&[][..], &["--crash-points"][..]] {
        let mut args = vec!["explore", &s, "--seeds", "0..20", "--jobs", "1"];
        args.extend_from_slice(extra);
        let o = nspsim(&args);
        assert_eq!(code(&o), 2, "{extra:?}: {}", text(&o.stdout));
        assert!(
            text(&o.stderr).contains("cannot be built")
                && text(&o.stderr).contains("libmissing.so"),
            "{extra:?}: {}",
            text(&o.stderr)
        );
        assert!(!text(&o.stdout).contains("failing"), "{}", text(&o.stdout));
    }
    let scenario = nspsim::Scenario::from_toml(&s, UNBUILDABLE);
    let swept = nspsim::explore(&scenario)
        .seeds(0..20)
        .no_regressions_file()
        .run();
    let Err(e) = swept else {
        panic!("the API refuses it too")
    };
    assert!(e.to_string().contains("cannot be built"), "{e}");
    let Err(e) = nspsim::crash_points(&scenario).run() else {
        panic!("and crash points")
    };
    assert!(e.to_string().contains("libmissing.so"), "{e}");
}
