//! Bad input meets the `nspsim` binary: traces with a broken embedded scenario, hostile
//! headers, a last line without its newline, and files given to the wrong command. Each is
//! exit 2 with a short message that says what to do, never a clean verdict or a wall of echo.

mod common;

use common::*;

fn demo_trace() -> String {
    std::fs::read_to_string(traces("demo.jsonl")).expect("the demo trace")
}

/// The demo trace with its header's scenario changed by `edit`.
fn with_scenario(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let t = demo_trace();
    let (head, rest) = t.split_once('\n').expect("a header line");
    let mut h: serde_json::Value = serde_json::from_str(head).expect("JSON header");
    edit(&mut h["scenario"]);
    format!("{h}\n{rest}")
}

#[test]
fn check_and_replay_refuse_a_trace_whose_embedded_scenario_would_not_load() {
    let d = Dir::new("embedded");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "null",
            with_scenario(|s| *s = serde_json::Value::Null),
            "the scenario is null",
        ),
        (
            "unknown-op",
            with_scenario(|s| s["process"][0]["steps"][0]["op"] = "frobnicate".into()),
            "unknown op \"frobnicate\"",
        ),
        (
            "duplicate-id",
            with_scenario(|s| {
                let mut again = s["provider"][0].clone();
                again["name"] = "again".into();
                s["provider"].as_array_mut().expect("providers").push(again);
            }),
            "duplicate provider id",
        ),
        (
            "unknown-kind",
            with_scenario(|s| s["provider"][0]["kind"] = "no-such-kind".into()),
            "no-such-kind",
        ),
    ];
    for (name, body, needle) in cases {
        let path = d.write(&format!("{name}.jsonl"), &body);
        for cmd in ["check", "replay"] {
            let o = nspsim(&[cmd, &path]);
            let err = text(&o.stderr);
            assert_eq!(code(&o), 2, "{cmd} {name}: {err}");
            assert!(
                err.starts_with(&format!(
                    "error: {path}:1: the embedded scenario is invalid: "
                )),
                "{cmd} {name}: {err}"
            );
            assert!(err.contains(needle), "{cmd} {name}: {err}");
        }
    }
}

#[test]
fn a_complete_last_line_without_its_newline_is_read_with_a_warning() {
    let d = Dir::new("newline");
    let path = d.write("nonl.jsonl", demo_trace().trim_end_matches('\n'));
    for (cmd, said) in [
        ("check", "0 violation(s)"),
        ("replay", "events replayed, byte for byte"),
    ] {
        let o = nspsim(&[cmd, &path]);
        assert_eq!(code(&o), 0, "{cmd}: {}", text(&o.stderr));
        assert!(text(&o.stdout).contains(said), "{cmd}: {}", text(&o.stdout));
        assert!(
            text(&o.stderr).contains("has no final newline"),
            "{cmd}: {}",
            text(&o.stderr)
        );
    }
    // Cut in the middle of its last line: read as cut short, with a warning.
    let t = demo_trace();
    let cut = &t[..t.len() - 20];
    let path = d.write("cut.jsonl", cut);
    let o = nspsim(&["check", &path]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("cut short in the middle"),
        "{}",
        text(&o.stderr)
    );
    assert!(
        text(&o.stdout).contains("it was cut short"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn hostile_headers_are_refused_while_they_are_read() {
    let d = Dir::new("hostile");
    // Many processes: refused at the one past MAX_PROCESSES, naming the limit.
    let procs: Vec<String> = (0..=nspsim_runtime::scenario::limits::MAX_PROCESSES)
        .map(|i| format!(r#"{{"name":"p{i}","steps":[{{"op":"cleanup"}}]}}"#))
        .collect();
    let head = format!(
        r#"{{"nsptrace":1,"mode":"sim","seed":0,"profile":"win7","startup_policy":"per-process","scenario":{{"name":"x","process":[{}]}}}}"#,
        procs.join(",")
    );
    let path = d.write("procs.jsonl", &format!("{head}\n"));
    for cmd in ["check", "replay"] {
        let o = nspsim(&[cmd, &path]);
        let err = text(&o.stderr);
        assert_eq!(code(&o), 2, "{cmd}: {err}");
        assert!(err.contains(&format!("{path}:1: ")), "{cmd}: {err}");
        assert!(
            err.contains(&format!(
                "over the limit MAX_PROCESSES = {}",
                nspsim_runtime::scenario::limits::MAX_PROCESSES
            )),
            "{cmd}: {err}"
        );
    }
    // A header line over the line limit is refused without reading it whole.
    let long = format!(
        r#"{{"nsptrace":1,"mode":"sim","seed":0,"profile":"win7","startup_policy":"per-process","scenario":{{"name":"{}"}}}}"#,
        "n".repeat(nspsim_runtime::trace::MAX_HEADER_LINE_BYTES)
    );
    let path = d.write("long.jsonl", &format!("{long}\n"));
    let o = nspsim(&["check", &path]);
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains("MAX_HEADER_LINE_BYTES"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn a_file_given_to_the_wrong_command_says_which_command_to_use() {
    let d = Dir::new("wrong");
    let toml = d.write("mine.toml", &demo_text());
    let o = nspsim(&["check", &toml]);
    assert_eq!(code(&o), 2);
    assert_eq!(
        text(&o.stderr),
        format!(
            "error: {toml}:1: this is not an nsptrace file (the first line is not JSON); did you mean `nspsim run {toml}`?\n"
        )
    );

    let trace = d.write("x.jsonl", &demo_trace());
    let o = nspsim(&["run", &trace]);
    assert_eq!(code(&o), 2);
    assert_eq!(
        text(&o.stderr),
        format!(
            "error: {trace} looks like a trace, not a scenario; did you mean `nspsim replay {trace}`?\n"
        )
    );

    let missing = d.path("nonexist.toml").display().to_string();
    let o = nspsim(&["run", &missing]);
    assert_eq!(code(&o), 2);
    assert_eq!(
        text(&o.stderr),
        format!("error: cannot read {missing}: No such file or directory (os error 2)\n")
    );
    let o = nspsim(&["check", &missing.replace(".toml", ".jsonl")]);
    assert_eq!(code(&o), 2);
    assert!(!text(&o.stderr).contains(":0:"), "{}", text(&o.stderr));

    // A scenario error on a long line quotes at most about 80 characters of it.
    let long = format!("name = \"x\"\nseed = [{}]\n", "1, ".repeat(2000));
    let path = d.write("long.toml", &long);
    let o = nspsim(&["run", &path]);
    assert_eq!(code(&o), 2);
    for line in text(&o.stderr).lines() {
        assert!(line.chars().count() < 120, "{line}");
    }
}
