//! `nspsim render`: the Perfetto JSON against the trace-event format, the command line's
//! errors, and the HTML reports and Mermaid diagrams in a real browser (headless Chromium
//! driven by `tests/browser/check.mjs`, Mermaid's own parser loaded from `node_modules`).
//!
//! The browser test needs `chromium` and `npm ci` in `sim-tests/tests/browser` (`.ci/run`
//! installs both). Without them it prints "skipped" and passes, unless `CI` is set.
//! `NSPSIM_SCREENSHOT=1 cargo test -p nspsim --test render` also writes
//! `docs/demo-report.png`, the README's picture.

mod common;

use common::*;
use nspsim::render::{Format, Picture, RenderArgs, Window, perfetto, render_file};
use nspsim_runtime::trace::{parse_trace, read_trace};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const PROVIDER: &str = "6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60";

fn out_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("render-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("out dir");
    d
}

fn failure_trace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/render/ignore-rundown.fail-P5-seed0.jsonl")
}

/// A valid trace of `events` events: 50 clients each run a whole lookup (Startup, Begin,
/// a NextEx completed a step later, End, Cleanup) over and over, and a hand-written
/// violation sits in the middle.
fn big_trace(events: usize) -> String {
    let header = std::fs::read_to_string(traces("demo.jsonl"))
        .expect("demo")
        .lines()
        .next()
        .expect("header")
        .replace("\"name\":\"demo\"", "\"name\":\"big\"");
    let mut out = header + "\n";
    let mut seq = 0usize;
    let mut violations = 0;
    let mut t = 0u64;
    fn push(out: &mut String, seq: &mut usize, body: &str, t: u64) {
        let _ = writeln!(out, "{{\"seq\":{seq},\"t\":{t},{body}}}");
        *seq += 1;
    }
    macro_rules! line {
        ($out:expr, $body:expr, $t:expr $(,)?) => {
            push($out, &mut seq, $body, $t)
        };
    }
    let clients = 50;
    for pid in 1..=clients {
        line!(
            &mut out,
            &format!(
                "\"ev\":\"process.start\",\"pid\":{pid},\"name\":\"client-{pid}\",\"role\":\"client\""
            ),
            0,
        );
    }
    line!(
        &mut out,
        &format!(
            "\"ev\":\"catalog.install\",\"provider\":\"{PROVIDER}\",\"name\":\"mail-primary\",\"namespace\":37,\"version\":1,\"ret\":0,\"err\":0"
        ),
        0,
    );
    let mut round = 0u64;
    // One lookup is 21 lines; stop where a whole one no longer fits.
    while seq + 21 < events {
        round += 1;
        let pid = (round - 1) % clients + 1;
        let (s, h, q, a) = (round, round, round, round);
        let api =
            |call: &str| format!("\"ev\":\"api.call\",\"pid\":{pid},\"tid\":1,\"call\":\"{call}\"");
        let ret = |call: &str| {
            format!(
                "\"ev\":\"api.return\",\"pid\":{pid},\"tid\":1,\"call\":\"{call}\",\"ret\":0,\"err\":0"
            )
        };
        let nsp = |f: &str| {
            format!("\"ev\":\"nsp.call\",\"provider\":\"{PROVIDER}\",\"fn\":\"{f}\",\"pid\":{pid}")
        };
        let nret = |f: &str, r: &str| {
            format!(
                "\"ev\":\"nsp.return\",\"provider\":\"{PROVIDER}\",\"fn\":\"{f}\",\"pid\":{pid},\"ret\":{r},\"err\":0"
            )
        };
        let lines = [
            format!("{},\"args\":{{\"version\":\"2.2\"}}", api("WSAStartup")),
            format!("{},\"result\":{{\"version\":\"2.2\"}}", ret("WSAStartup")),
            format!(
                "{},\"args\":{{\"flags\":256,\"name\":\"user{round}@example.com\",\"namespace\":37}}",
                api("WSALookupServiceBegin")
            ),
            format!("{},\"session\":null", nsp("NSPv2Startup")),
            format!("{},\"session\":\"s{s}\"", nret("NSPv2Startup", "0")),
            format!(
                "{},\"session\":\"s{s}\",\"args\":{{\"flags\":256,\"name\":\"user{round}@example.com\",\"namespace\":37}}",
                nsp("NSPv2LookupServiceBegin")
            ),
            format!(
                "{},\"lookup\":\"h{h}\"",
                nret("NSPv2LookupServiceBegin", "0")
            ),
            format!(
                "{},\"result\":{{\"handle\":\"q{q}\"}}",
                ret("WSALookupServiceBegin")
            ),
            format!(
                "{},\"args\":{{\"buffer\":4096,\"flags\":256,\"handle\":\"q{q}\"}}",
                api("WSALookupServiceNext")
            ),
            format!(
                "{},\"session\":\"s{s}\",\"lookup\":\"h{h}\",\"async\":\"a{a}\",\"args\":{{\"buffer\":4096,\"flags\":256}}",
                nsp("NSPv2LookupServiceNextEx")
            ),
            nret("NSPv2LookupServiceNextEx", "null"),
            format!(
                "\"ev\":\"async.complete\",\"provider\":\"{PROVIDER}\",\"async\":\"a{a}\",\"err\":0,\"outcome\":\"delivered\""
            ),
            format!(
                "{},\"result\":{{\"addrs\":[\"192.0.2.10:25\"],\"name\":\"user{round}@example.com\",\"namespace\":37}}",
                ret("WSALookupServiceNext")
            ),
            format!(
                "{},\"args\":{{\"handle\":\"q{q}\"}}",
                api("WSALookupServiceEnd")
            ),
            format!(
                "{},\"session\":\"s{s}\",\"lookup\":\"h{h}\"",
                nsp("NSPv2LookupServiceEnd")
            ),
            nret("NSPv2LookupServiceEnd", "0"),
            ret("WSALookupServiceEnd"),
            format!("{},\"args\":{{}}", api("WSACleanup")),
            format!("{},\"session\":\"s{s}\"", nsp("NSPv2Cleanup")),
            nret("NSPv2Cleanup", "0"),
            ret("WSACleanup"),
        ];
        for (k, l) in lines.iter().enumerate() {
            if k == 11 {
                t += 5; // the completion comes later
            }
            line!(&mut out, l, t);
        }
        t += 10;
        if violations == 0 && seq >= events / 2 {
            line!(
                &mut out,
                &format!(
                    "\"ev\":\"violation\",\"rule\":\"L4\",\"detail\":\"provider {PROVIDER} got NSPv2LookupServiceEnd for session s{s} of pid {pid} after it ended\""
                ),
                t,
            );
            violations += 1;
        }
    }
    while seq < events {
        let pid = seq as u64 % clients + 1;
        line!(
            &mut out,
            &format!(
                "\"ev\":\"api.call\",\"pid\":{pid},\"tid\":1,\"call\":\"WSACleanup\",\"args\":{{}}"
            ),
            t,
        );
    }
    let _ = writeln!(
        out,
        "{{\"seq\":{seq},\"t\":{t},\"ev\":\"end\",\"events\":{seq},\"violations\":{violations}}}"
    );
    out
}

/// Checks trace-event JSON against the format: required fields, durations, flows in pairs.
fn check_trace_events(text: &str) -> BTreeMap<String, usize> {
    let v: Value = serde_json::from_str(text).expect("perfetto output is JSON");
    let events = v["traceEvents"].as_array().expect("traceEvents array");
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    let mut open: BTreeMap<(u64, u64), Vec<String>> = BTreeMap::new();
    let mut flows: BTreeMap<(String, u64), (usize, usize)> = BTreeMap::new();
    let mut tracks_named: Vec<(u64, u64)> = Vec::new();
    for e in events {
        let ph = e["ph"].as_str().expect("ph");
        for key in ["ph", "ts", "pid", "tid", "name"] {
            assert!(e.get(key).is_some(), "{key} missing in {e}");
        }
        assert!(
            e["ts"].is_u64() && e["pid"].is_u64() && e["tid"].is_u64(),
            "{e}"
        );
        assert!(e["name"].is_string(), "{e}");
        let track = (
            e["pid"].as_u64().unwrap_or(0),
            e["tid"].as_u64().unwrap_or(0),
        );
        *count.entry(ph.to_string()).or_default() += 1;
        match ph {
            "M" => {
                assert!(
                    ["process_name", "thread_name", "process_sort_index"]
                        .contains(&e["name"].as_str().unwrap_or("")),
                    "{e}"
                );
                tracks_named.push(track);
            }
            "X" => assert!(e["dur"].is_u64(), "an X event has a duration: {e}"),
            "B" => open.entry(track).or_default().push(e["name"].to_string()),
            "E" => assert!(
                open.get_mut(&track).and_then(Vec::pop).is_some(),
                "an E without its B: {e}"
            ),
            "i" => assert!(
                ["g", "p", "t"].contains(&e["s"].as_str().unwrap_or("")),
                "{e}"
            ),
            "s" | "f" => {
                let id = e["id"].as_u64().expect("a flow has an id");
                let cat = e["cat"].as_str().unwrap_or("").to_string();
                let entry = flows.entry((cat, id)).or_default();
                if ph == "s" {
                    entry.0 += 1;
                } else {
                    entry.1 += 1;
                    assert_eq!(e["bp"], "e", "{e}");
                }
            }
            other => panic!("unexpected ph {other}: {e}"),
        }
        if ph != "M" {
            assert!(
                tracks_named.iter().any(|t| t.0 == track.0),
                "event on an unnamed process track: {e}"
            );
        }
    }
    assert!(open.values().all(Vec::is_empty), "every B has its E");
    for ((cat, id), (s, f)) in &flows {
        assert_eq!(
            (s, f),
            (&1, &1),
            "flow {cat}/{id}: one start and one finish"
        );
    }
    count
}

#[test]
fn perfetto_output_follows_the_trace_event_format() {
    let dir = out_dir("perfetto");
    let big = dir.join("big.jsonl");
    std::fs::write(&big, big_trace(20_000)).expect("write");
    for (trace, min_flows) in [
        (traces("demo.jsonl"), 1),
        (failure_trace(), 0),
        (big, 100),
        (traces("crash-rundown.jsonl"), 0),
    ] {
        let t = read_trace(&trace).expect("trace");
        let p = Picture::new(&t, &Window::default()).expect("picture");
        let text = perfetto::render(&p);
        let count = check_trace_events(&text);
        let x = count.get("X").copied().unwrap_or(0);
        assert!(x > 0, "{}: slices", trace.display());
        assert!(
            count.get("s").copied().unwrap_or(0) >= min_flows,
            "{}: flows {count:?}",
            trace.display()
        );
        // Every API and provider call is a slice.
        let calls = t
            .events
            .iter()
            .filter(|s| matches!(s.event.kind(), "api.call" | "nsp.call" | "async.complete"))
            .count();
        assert_eq!(x, calls, "{}", trace.display());
        if t.violations().count() > 0 {
            assert!(
                text.contains("\"name\":\"violation "),
                "a violation instant"
            );
        }
    }
}

#[test]
fn perfetto_windows_keep_their_flows_whole() {
    let t = read_trace(&traces("demo.jsonl")).expect("demo");
    for w in [
        Window {
            from: Some(30),
            to: Some(60),
            process: None,
        },
        Window {
            process: Some("crasher".into()),
            ..Window::default()
        },
    ] {
        let p = Picture::new(&t, &w).expect("picture");
        check_trace_events(&perfetto::render(&p));
    }
}

#[test]
fn the_command_line_draws_and_refuses_bad_input() {
    let dir = out_dir("cli");
    let demo = dir.join("demo.jsonl");
    std::fs::copy(traces("demo.jsonl"), &demo).expect("copy");
    let d = demo.display().to_string();
    let o = nspsim(&["render", &d]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("{}\n", dir.join("demo.html").display())
    );
    let first = std::fs::read(dir.join("demo.html")).expect("report");
    nspsim(&["render", &d]);
    assert_eq!(
        std::fs::read(dir.join("demo.html")).expect("report"),
        first,
        "byte-stable"
    );
    for (format, name) in [("mermaid", "demo.mmd"), ("perfetto", "demo.perfetto.json")] {
        let o = nspsim(&["render", &d, "--format", format]);
        assert_eq!(o.status.code(), Some(0));
        assert!(dir.join(name).exists(), "{name}");
    }
    let out = dir.join("w.mmd").display().to_string();
    let o = nspsim(&[
        "render",
        &d,
        "--format",
        "mermaid",
        "-o",
        &out,
        "--process",
        "crasher",
        "--from",
        "10",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let text = std::fs::read_to_string(&out).expect("mmd");
    assert!(text.contains("participant P4 as crasher [4]") && !text.contains("participant P3 "));

    // Bad input: exit 2, one clear line, no panic.
    let bad = dir.join("bad.jsonl");
    let mut lines: Vec<String> = std::fs::read_to_string(&demo)
        .expect("demo")
        .lines()
        .map(String::from)
        .collect();
    lines[5] = "{\"seq\":4,\"t\":0,\"ev\":\"nonsense\"}".into();
    std::fs::write(&bad, lines.join("\n") + "\n").expect("write");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![bad.display().to_string()], "bad.jsonl:6: "),
        (
            vec![
                d.clone(),
                "--from".into(),
                "9".into(),
                "--to".into(),
                "3".into(),
            ],
            "--from 9 is after --to 3",
        ),
        (
            vec![d.clone(), "--process".into(), "nobody".into()],
            "no process is named \"nobody\"",
        ),
        (
            vec![d.clone(), "--from".into(), "5000".into()],
            "past the trace's last event",
        ),
        (
            vec![dir.join("missing.jsonl").display().to_string()],
            "cannot read",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec!["render".to_string()];
        all.extend(args);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let o = nspsim(&refs);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{refs:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(needle),
            "{refs:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_cut_short_trace_is_drawn_with_a_note() {
    let dir = out_dir("cut");
    let text = std::fs::read_to_string(traces("demo.jsonl")).expect("demo");
    let cut: String = text.lines().take(60).map(|l| format!("{l}\n")).collect();
    let path = dir.join("cut.jsonl");
    std::fs::write(&path, &cut).expect("write");
    for format in [Format::Html, Format::Mermaid, Format::Perfetto] {
        let args = RenderArgs {
            trace: path.clone(),
            format,
            output: None,
            window: Window::default(),
            strategy: None,
        };
        let out = render_file(&args).expect("drawn");
        let drawn = std::fs::read_to_string(out).expect("read");
        match format {
            Format::Html => assert!(drawn.contains("trace cut short: the trace ends at line 60")),
            Format::Mermaid => assert!(drawn.contains("cut short")),
            Format::Perfetto => assert!(drawn.contains("\"cut_short\":true")),
        }
    }
}

/// Where the browser test's tools are, or why they are missing.
fn browser_tools() -> Result<(PathBuf, PathBuf), String> {
    let chromium = std::env::var_os("NSPSIM_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/node_modules");
    if !chromium.exists() {
        return Err(format!("no chromium at {}", chromium.display()));
    }
    for package in ["playwright-core", "mermaid"] {
        if !modules.join(package).join("package.json").exists() {
            return Err(format!("no {package} in {}", modules.display()));
        }
    }
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => Ok((chromium, modules)),
        _ => Err("no node".into()),
    }
}

#[test]
fn reports_and_diagrams_work_in_a_real_browser() {
    let (chromium, modules) = match browser_tools() {
        Ok(t) => t,
        Err(why) if std::env::var_os("CI").is_none() => {
            println!(
                "skipped: {why}; run .ci/run, or install chromium and run `npm ci` in sim-tests/tests/browser"
            );
            return;
        }
        Err(why) => panic!("CI is set but the browser test cannot run: {why}"),
    };
    let dir = out_dir("browser");
    let html = |trace: &Path, window: Window| {
        render_file(&RenderArgs {
            trace: trace.to_path_buf(),
            format: Format::Html,
            output: None,
            window,
            strategy: None,
        })
        .expect("report")
    };
    let copy = |from: &Path, name: &str| {
        let to = dir.join(name);
        std::fs::copy(from, &to).expect("copy");
        to
    };
    // The demo, a failure found by `nspsim explore`, a cut-short trace, a large trace, and
    // a trace whose names try to break out of the page.
    let demo = copy(&traces("demo.jsonl"), "demo.jsonl");
    let failure = copy(&failure_trace(), "failure.jsonl");
    let big = dir.join("big.jsonl");
    let big_text = big_trace(100_000);
    std::fs::write(&big, &big_text).expect("write");
    let demo_text = std::fs::read_to_string(&demo).expect("demo");
    let cut = dir.join("cut.jsonl");
    std::fs::write(
        &cut,
        demo_text
            .lines()
            .take(70)
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    )
    .expect("write");
    let hostile = dir.join("hostile.jsonl");
    std::fs::write(
        &hostile,
        demo_text
            .replace(
                "\"crasher\"",
                "\"</script><img src=x onerror=alert(1)>; #x %% end\"",
            )
            .replace("\"mail-primary\"", "\"mail;primary#1 -->> <b>x</b>\""),
    )
    .expect("write");
    let count = |p: &Path| read_trace(p).expect("trace").events.len();
    let pid_events = |p: &Path, pid: u32| {
        let t = read_trace(p).expect("trace");
        let pic = Picture::new(&t, &Window::default()).expect("picture");
        pic.rows.iter().filter(|r| r.pid == Some(pid)).count()
    };
    let label_events = |p: &Path, label: &str| {
        let t = read_trace(p).expect("trace");
        let pic = Picture::new(&t, &Window::default()).expect("picture");
        pic.rows
            .iter()
            .filter(|r| r.labels.iter().any(|l| l == label))
            .count()
    };
    let screenshot = std::env::var_os("NSPSIM_SCREENSHOT").map(|_| {
        let docs = repo().join("docs");
        std::fs::create_dir_all(&docs).expect("docs");
        docs.join("demo-report.png")
    });
    let report = |path: PathBuf,
                  trace: &Path,
                  violation: bool,
                  cut_short: bool,
                  pid: u32,
                  label: &str,
                  max_ms: u64| {
        serde_json::json!({
            "path": path,
            "events": count(trace),
            "violation": violation,
            "cutShort": cut_short,
            "filter": {
                "process": pid,
                "expect": pid_events(trace, pid),
                "label": label,
                "labelExpect": label_events(trace, label),
            },
            "maxLoadMs": max_ms,
        })
    };
    let started = std::time::Instant::now();
    let big_html = html(&big, Window::default());
    let rust_ms = started.elapsed().as_millis();
    let big_size = std::fs::metadata(&big_html).map(|m| m.len()).unwrap_or(0);
    println!(
        "large trace: 100,000 events, {} bytes of trace, report {} bytes, written in {rust_ms} ms",
        big_text.len(),
        big_size
    );
    let mut demo_report = report(
        html(&demo, Window::default()),
        &demo,
        false,
        false,
        4,
        "q2",
        10_000,
    );
    if let Some(s) = &screenshot {
        demo_report["screenshot"] = serde_json::json!(s);
        // From the crasher's pending lookup to its crash and the discarded completion.
        demo_report["screenshotAt"] = serde_json::json!({"top": 34, "show": 53});
    }
    let reports = vec![
        demo_report,
        report(
            html(&failure, Window::default()),
            &failure,
            true,
            false,
            2,
            "s1",
            10_000,
        ),
        report(
            html(&cut, Window::default()),
            &cut,
            false,
            true,
            3,
            "h1",
            10_000,
        ),
        report(
            html(&hostile, Window::default()),
            &hostile,
            false,
            false,
            4,
            "a2",
            10_000,
        ),
        report(big_html, &big, true, false, 7, "q77", 10_000),
    ];
    // Mermaid: the demo (capped), windows, the failure, names that try to break the syntax.
    let mermaid = |trace: &Path, window: Window, name: &str| {
        render_file(&RenderArgs {
            trace: trace.to_path_buf(),
            format: Format::Mermaid,
            output: Some(dir.join(name)),
            window,
            strategy: None,
        })
        .expect("mermaid")
        .display()
        .to_string()
    };
    let diagrams = vec![
        mermaid(&demo, Window::default(), "demo.mmd"),
        mermaid(
            &demo,
            Window {
                process: Some("crasher".into()),
                ..Window::default()
            },
            "demo-crasher.mmd",
        ),
        mermaid(&failure, Window::default(), "failure.mmd"),
        mermaid(&hostile, Window::default(), "hostile.mmd"),
        mermaid(&cut, Window::default(), "cut.mmd"),
        mermaid(
            &big,
            Window {
                from: Some(50_000),
                to: Some(50_200),
                process: None,
            },
            "big-window.mmd",
        ),
    ];
    let diagram_texts = serde_json::json!({
        diagrams[3].clone(): ["mail;primary#1 --"],
        diagrams[2].clone(): ["VIOLATION P5"],
    });
    let config = serde_json::json!({
        "chromium": chromium,
        "mermaid": modules.join("mermaid/dist/mermaid.min.js"),
        "reports": reports,
        "diagrams": diagrams,
        "diagramTexts": diagram_texts,
    });
    let config_path = dir.join("config.json");
    std::fs::write(&config_path, config.to_string()).expect("config");
    let o = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/check.mjs"))
        .arg(&config_path)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&o.stdout);
    println!("{stdout}");
    assert!(
        o.status.success(),
        "browser checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The hostile names stayed text: nothing of them is markup in the report.
    let page = std::fs::read_to_string(dir.join("hostile.html")).expect("report");
    assert!(!page.contains("<img") && !page.contains("<b>x"));
    let _ = parse_trace("x", &big_text).expect("the large trace is valid");
}
