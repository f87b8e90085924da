//! C providers end to end (issue #12): the example provider `providers/c/examples/contoso.c`,
//! built with `nspsim cc-flags` exactly as the README tells a provider author, run through
//! every part of nspsim: `run` (several providers, C and Rust mixed, one library installed
//! twice), byte-identical traces in-process and in a child process, `replay`, exploration that
//! finds, shrinks and replays the buggy variant's ordering bug, crash points, live mode, and
//! parity with the `email-directory` mock: the same scenario gives the same lifecycle whether
//! the directory is written in C or in Rust.
//!
//! The library is built once per test binary, into a directory beside copies of the example
//! scenarios, so their `path = "libcontoso.so"` resolves as it does for a user.

mod common;

use common::{nspsim, text};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const CONTOSO_ID: &str = "6c3f4a52-1d2e-4b7a-9c1e-5a0b8d7e2f31";

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../providers/c/examples")
}

/// A directory holding `libcontoso.so` (built with the flags `nspsim cc-flags` prints) and the
/// example scenarios.
fn built() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c-providers");
        std::fs::create_dir_all(&dir).expect("create the build directory");
        let flags = nspsim(&["cc-flags"]);
        assert!(
            flags.status.success(),
            "nspsim cc-flags failed: {}",
            text(&flags.stderr)
        );
        let flags = text(&flags.stdout);
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
        let lib = dir.join(library_name());
        let out = Command::new(&cc)
            .args(flags.split_whitespace())
            .arg("-Wall")
            .arg("-Werror")
            .arg("-o")
            .arg(&lib)
            .arg(examples_dir().join("contoso.c"))
            .output()
            .expect("the C compiler runs");
        assert!(
            out.status.success(),
            "{cc} $(nspsim cc-flags) contoso.c failed:\n{}",
            text(&out.stderr)
        );
        for name in ["contoso.toml", "contoso-buggy.toml"] {
            std::fs::copy(examples_dir().join(name), dir.join(name)).expect("copy a scenario");
        }
        dir
    })
}

fn library_name() -> &'static str {
    if cfg!(target_os = "macos") {
        "libcontoso.dylib"
    } else {
        "libcontoso.so"
    }
}

/// Writes `text` as `name` beside the built library and returns its path.
fn scenario_file(name: &str, text: &str) -> PathBuf {
    let path = built().join(name);
    std::fs::write(&path, text.replace("libcontoso.so", library_name())).expect("write a scenario");
    path
}

fn example(name: &str) -> PathBuf {
    let path = built().join(name);
    if cfg!(target_os = "macos") {
        let text = std::fs::read_to_string(&path).expect("read an example");
        return scenario_file(name, &text);
    }
    path
}

fn scenario(path: &Path) -> nspsim::Scenario {
    nspsim::Scenario::from_file(path).expect("the scenario loads")
}

/// The event lines of a trace, without the header (which embeds the scenario).
fn events(trace: &str) -> Vec<&str> {
    trace.lines().skip(1).collect()
}

#[test]
fn the_example_runs_beside_a_rust_mock_and_its_crashed_client_is_rundown() {
    let outcome = nspsim::run(&scenario(&example("contoso.toml")))
        .run()
        .expect("the scenario runs");
    assert!(outcome.passed(), "{:?}", outcome.violations);
    let t = &outcome.trace;
    for f in [
        "NSPv2Startup",
        "NSPv2LookupServiceBegin",
        "NSPv2LookupServiceNextEx",
        "NSPv2LookupServiceEnd",
        "NSPv2SetServiceEx",
        "NSPv2Cleanup",
        "NSPv2ClientSessionRundown",
    ] {
        let line = format!("\"provider\":\"{CONTOSO_ID}\",\"fn\":\"{f}\"");
        assert!(
            t.lines()
                .any(|l| l.contains("nsp.call") && l.contains(&line)),
            "the C provider never got {f}:\n{t}"
        );
    }
    // The result the C code serialized reached the client: alice's address, read back from
    // the host's buffer.
    assert!(t.contains("192.0.2.10:25"), "{t}");
}

#[test]
fn the_same_seed_gives_the_same_bytes_in_process_and_in_a_child_process_and_replays() {
    let path = example("contoso.toml");
    let s = scenario(&path);
    let first = nspsim::run(&s).seed(3).run().expect("runs").trace;
    let second = nspsim::run(&s).seed(3).run().expect("runs").trace;
    assert_eq!(first, second, "two runs in one process differ");

    let trace = built().join("contoso.child.jsonl");
    let out = nspsim(&[
        "run",
        path.to_str().expect("UTF-8 path"),
        "--seed",
        "3",
        "--quiet",
        "--trace",
        trace.to_str().expect("UTF-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let child = std::fs::read_to_string(&trace).expect("the trace was written");
    assert_eq!(first, child, "a child process's run differs");

    let out = nspsim(&["replay", trace.to_str().expect("UTF-8 path")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("identical"),
        "{}",
        text(&out.stdout)
    );
}

/// The same directory as contoso.c's, as the Rust mock writes it.
const MOCK_ENTRIES: &str = r#"entries = [
  { name = "alice@contoso.com", addrs = ["192.0.2.10:25"], comment = "Alice Anders" },
  { name = "bob@contoso.com", addrs = ["192.0.2.11:25", "192.0.2.12:587"], comment = "Bob Baker" },
  { name = "carol@fabrikam.com", addrs = ["198.51.100.20:25"], comment = "Carol Chen" },
]"#;

fn parity_scenario(provider: &str) -> String {
    format!(
        r#"name = "parity"
[[provider]]
id = "{CONTOSO_ID}"
name = "contoso"
namespace = "NS_EMAIL"
{provider}

[[process]]
name = "a"
steps = [
  {{ op = "startup" }},
  {{ op = "lookup", namespace = "NS_EMAIL", name = "bob@contoso.com", flags = ["LUP_RETURN_NAME", "LUP_RETURN_ADDR", "LUP_RETURN_COMMENT"] }},
  {{ op = "expect", err = "NO_ERROR", ret = 1 }},
  {{ op = "set_service", action = "register", namespace = "NS_EMAIL", name = "dave@contoso.com", addrs = ["192.0.2.40:25"] }},
  {{ op = "lookup", namespace = "NS_EMAIL", name = "dave@contoso.com", flags = ["LUP_RETURN_ADDR"] }},
  {{ op = "expect", err = "NO_ERROR", ret = 1 }},
  {{ op = "cleanup" }},
]

[[process]]
name = "b"
steps = [
  {{ op = "startup" }},
  {{ op = "lookup_begin", namespace = "NS_EMAIL", name = "alice@contoso.com", flags = ["LUP_RETURN_NAME"], as = "q" }},
  {{ op = "lookup_next", handle = "q" }},
  {{ op = "crash" }},
]
"#
    )
}

#[test]
fn parity_the_c_example_and_the_email_directory_mock_give_the_same_lifecycle() {
    for (c_args, mock_completion) in [
        ("--complete=inline", "inline"),
        ("--complete=worker", "deferred"),
    ] {
        let c = scenario_file(
            &format!("parity-c-{mock_completion}.toml"),
            &parity_scenario(&format!(
                "kind = \"c-library\"\n[provider.options]\npath = \"libcontoso.so\"\nentry = \"ContosoHostMain\"\nargs = [\"{c_args}\"]"
            )),
        );
        let mock = scenario_file(
            &format!("parity-mock-{mock_completion}.toml"),
            &parity_scenario(&format!(
                "kind = \"email-directory\"\n[provider.options]\ncompletion = \"{mock_completion}\"\n{MOCK_ENTRIES}"
            )),
        );
        for seed in 0..20 {
            let c_run = nspsim::run(&scenario(&c)).seed(seed).run().expect("runs");
            let mock_run = nspsim::run(&scenario(&mock))
                .seed(seed)
                .run()
                .expect("runs");
            assert!(c_run.passed(), "C, seed {seed}: {:?}", c_run.violations);
            assert!(
                mock_run.passed(),
                "mock, seed {seed}: {:?}",
                mock_run.violations
            );
            assert_eq!(
                events(&c_run.trace),
                events(&mock_run.trace),
                "{mock_completion}, seed {seed}: the C provider and the mock differ"
            );
        }
    }
}

#[test]
fn exploration_finds_the_interleaving_bug_shrinks_it_and_the_trace_replays() {
    let s = scenario(&example("contoso-buggy.toml"));
    let out_dir = built().join("explore-out");
    let outcome = nspsim::explore(&s)
        .seeds(0..500)
        .output_dir(&out_dir)
        .no_regressions_file()
        .run()
        .expect("the exploration runs");
    assert!(
        outcome.failed(),
        "500 seeds never interleaved the two clients"
    );
    let shrunk = outcome.shrunk.as_ref().expect("the failure is shrunk");
    assert_eq!(shrunk.rule, "P4", "{shrunk}");
    assert!(
        shrunk.message.contains("SIGSEGV") && shrunk.message.contains("NSPv2LookupServiceBegin"),
        "{shrunk}"
    );
    assert_eq!(shrunk.replays, Ok(()), "{shrunk}");
    // The first client's cleanup comes before the second client's Begin: the interleaving.
    let t = &shrunk.trace;
    let cleanup = t
        .find("\"fn\":\"NSPv2Cleanup\"")
        .expect("a Cleanup in the shrunk trace");
    let crash = t.find("\"ev\":\"fault\"").expect("a fault line");
    assert!(cleanup < crash, "{t}");

    // The written trace replays from the command line, restating the violation. It was
    // written away from the scenario, so the printed command says where the library is.
    let base_dir = built().to_str().expect("UTF-8 path");
    assert!(
        shrunk
            .replay_command
            .ends_with(&format!("--base-dir {base_dir}")),
        "{}",
        shrunk.replay_command
    );
    let trace = shrunk.trace_path.to_str().expect("UTF-8 path");
    let out = nspsim(&["replay", trace]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "without --base-dir the library is not found"
    );
    assert!(
        text(&out.stderr).contains("--base-dir"),
        "{}",
        text(&out.stderr)
    );
    let out = nspsim(&["replay", trace, "--base-dir", base_dir]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("P4"), "{}", text(&out.stdout));
}

#[test]
fn one_client_at_a_time_never_shows_the_bug() {
    // Without the second client the buggy provider is indistinguishable from a good one: the
    // bug needs an interleaving, which is what exploration is for.
    let path = example("contoso-buggy.toml");
    let text = std::fs::read_to_string(&path).expect("read the scenario");
    let cut = text
        .find("[[process]]\nname = \"second\"")
        .expect("the second client");
    let single = scenario_file("contoso-buggy-single.toml", &text[..cut]);
    let outcome = nspsim::explore(&scenario(&single))
        .seeds(0..100)
        .no_regressions_file()
        .run()
        .expect("the exploration runs");
    assert!(!outcome.failed(), "{:?}", outcome.shrunk);
}

#[test]
fn crash_points_cover_the_c_provider() {
    let outcome = nspsim::crash_points(&scenario(&example("contoso.toml")))
        .run()
        .expect("crash points run");
    assert!(
        outcome.fails_without_crash.is_none(),
        "{:?}",
        outcome.fails_without_crash
    );
    assert!(outcome.tried > 0, "no crash point was tried");
    assert!(outcome.failing.is_empty(), "{:?}", outcome.failing);
}

#[test]
fn live_mode_serves_a_c_provider_and_its_trace_replays() {
    let path = example("contoso.toml");
    let trace = built().join("contoso.live-test.jsonl");
    let out = nspsim(&[
        "run",
        path.to_str().expect("UTF-8 path"),
        "--live",
        "--clients",
        "3",
        "--quiet",
        "--trace",
        trace.to_str().expect("UTF-8 path"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let written = std::fs::read_to_string(&trace).expect("the live trace was written");
    assert!(written.contains("\"mode\":\"live\""));
    assert!(written.contains(CONTOSO_ID));
    let out = nspsim(&["replay", trace.to_str().expect("UTF-8 path")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn one_library_installed_twice_under_two_guids_beside_a_rust_mock() {
    let second_id = "a1b2c3d4-0000-4000-8000-000000000002";
    let path = scenario_file(
        "twice.toml",
        &format!(
            r#"name = "twice"
[[provider]]
id = "{CONTOSO_ID}"
name = "contoso"
namespace = "NS_EMAIL"
kind = "c-library"
[provider.options]
path = "libcontoso.so"
entry = "ContosoHostMain"

[[provider]]
id = "{second_id}"
name = "contoso-again"
namespace = "NS_EMAIL"
kind = "c-library"
[provider.options]
path = "libcontoso.so"
entry = "ContosoHostMain"
args = ["--guid={second_id}", "--complete=worker"]

[[provider]]
id = "0b7e5a2c-4d1f-4c3a-8e9b-2f6a7c8d9e01"
name = "mock"
namespace = "NS_EMAIL"
kind = "email-directory"

[[process]]
name = "client"
steps = [
  {{ op = "startup" }},
  {{ op = "lookup", namespace = "NS_EMAIL", name = "carol@fabrikam.com", flags = ["LUP_RETURN_NAME", "LUP_NON_AUTHORITATIVE"] }},
  {{ op = "cleanup" }},
]
"#
        ),
    );
    let outcome = nspsim::run(&scenario(&path)).run().expect("runs");
    assert!(outcome.passed(), "{:?}", outcome.violations);
    for id in [CONTOSO_ID, second_id] {
        let startup = format!("\"provider\":\"{id}\",\"fn\":\"NSPv2Startup\"");
        assert!(
            outcome.trace.contains(&startup),
            "{id} never started:\n{}",
            outcome.trace
        );
    }
}

#[test]
fn a_guid_the_code_does_not_advertise_is_a_clear_error() {
    let path = scenario_file(
        "wrong-guid.toml",
        r#"name = "wrong-guid"
[[provider]]
id = "11111111-2222-3333-4444-555555555555"
name = "contoso"
namespace = "NS_EMAIL"
kind = "c-library"
[provider.options]
path = "libcontoso.so"
entry = "ContosoHostMain"

[[process]]
name = "client"
steps = [ { op = "startup" }, { op = "cleanup" } ]
"#,
    );
    let out = nspsim(&["run", path.to_str().expect("UTF-8 path"), "--quiet"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("11111111-2222-3333-4444-555555555555") && err.contains(CONTOSO_ID),
        "the error should name both ids: {err}"
    );
}

#[test]
fn a_missing_library_or_entry_point_names_the_option() {
    for (options, expected) in [
        (
            "path = \"libnothere.so\"\nentry = \"ContosoHostMain\"",
            "libnothere.so",
        ),
        (
            "path = \"libcontoso.so\"\nentry = \"NoSuchMain\"",
            "NoSuchMain",
        ),
    ] {
        let path = scenario_file(
            "missing.toml",
            &format!(
                "name = \"missing\"\n[[provider]]\nid = \"{CONTOSO_ID}\"\nname = \"contoso\"\nnamespace = \"NS_EMAIL\"\nkind = \"c-library\"\n[provider.options]\n{options}\n\n[[process]]\nname = \"client\"\nsteps = [ {{ op = \"startup\" }}, {{ op = \"cleanup\" }} ]\n"
            ),
        );
        let out = nspsim(&["run", path.to_str().expect("UTF-8 path"), "--quiet"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(expected), "{expected} not named: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
