//! Helpers the test binaries of `sim-tests/tests/` share: the `nspsim` binary as a user runs
//! it, scratch directories that clean up after themselves, the repository's own files, and
//! runs under the online checker in sim and live mode. Each test file says `mod common;`.

// Every test file is its own crate and uses only some of these.
#![allow(dead_code)]

use nspsim_runtime::checker::Checked;
use nspsim_runtime::event::VecSink;
use nspsim_runtime::live::{LiveOptions, LiveReport, hosted, run_live};
use nspsim_runtime::provider::NspV2Provider;
use nspsim_runtime::registry::{OptionDoc, ProviderKind, Registry};
use nspsim_runtime::scenario::Scenario;
use nspsim_runtime::sim::strategy::RandomWalk;
use nspsim_runtime::sim::world::{self, RunOptions, RunReport};
use nspsim_runtime::trace::{Mode, TraceBuffer};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};

/// The `nspsim` binary, with `RUST_LOG` removed so that its output is what a user sees.
pub fn nspsim_command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nspsim"));
    c.env_remove("RUST_LOG");
    c
}

/// Runs `nspsim ARGS` to its end.
pub fn nspsim(args: &[&str]) -> Output {
    nspsim_command().args(args).output().expect("run nspsim")
}

/// A child's output as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A child's exit code (-1 when a signal ended it).
pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// A fresh directory for one test, removed on drop (so also when the test fails). Its name
/// holds the test's name, the process id and a counter: test binaries run at once, and a
/// binary's tests run on many threads.
pub struct Dir(PathBuf);

impl Dir {
    pub fn new(name: &str) -> Dir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("nspsim-test-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        Dir(d)
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.0
    }

    /// A path inside it.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `body` to `name` inside it; returns the file's path as text (for arguments).
    pub fn write(&self, name: &str, body: &str) -> String {
        let p = self.path(name);
        std::fs::write(&p, body).expect("write");
        p.display().to_string()
    }

    /// The names of the files in it, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The workspace root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sim-tests sits in the workspace root")
        .to_path_buf()
}

/// A file of `traces/` (the golden scenarios and their traces).
pub fn traces(name: &str) -> PathBuf {
    repo().join("traces").join(name)
}

/// The demo scenario's path, as an argument.
pub fn demo() -> String {
    traces("demo.toml").display().to_string()
}

/// The demo scenario's text.
pub fn demo_text() -> String {
    std::fs::read_to_string(traces("demo.toml")).expect("the demo scenario")
}

/// One sim run of `s` under the random walk with the checker online; the sink is not
/// finished, so the caller decides whether end-of-run rules are judged.
pub fn checked_run(
    s: &Scenario,
    registry: &Registry,
    options: &RunOptions,
) -> (RunReport, Checked<VecSink>) {
    let mut strategy = RandomWalk::new();
    let sink = Checked::new(VecSink::new(), s.startup_policy);
    world::run_with(s, registry, &mut strategy, sink, options)
        .unwrap_or_else(|e| panic!("seed {}: {e}", options.seed))
}

/// One live run of `s` (providers on host threads) with the checker online; returns the
/// finished trace and the run's report.
pub fn live_trace(s: &Scenario, options: &LiveOptions) -> (String, LiveReport) {
    let registry = hosted(nspsim_providers::registry(), options.call_deadline);
    let mut head = nspsim::runs::header(s, 0);
    head.mode = Mode::Live;
    let sink = Checked::new(TraceBuffer::new(&head), s.startup_policy);
    let (report, mut sink) = run_live(s, &registry, sink, options).expect("live run");
    sink.finish(report.elapsed_us, true);
    (sink.into_inner().finish(report.elapsed_us), report)
}

/// The kind of a test's own provider: no options, every instance made by `build`.
pub struct TestKind {
    pub name: &'static str,
    pub summary: &'static str,
    pub build: fn() -> Box<dyn NspV2Provider>,
}

impl ProviderKind for TestKind {
    fn name(&self) -> &'static str {
        self.name
    }
    fn summary(&self) -> &'static str {
        self.summary
    }
    fn options(&self) -> &'static [OptionDoc] {
        &[]
    }
    fn validate(&self, _: &serde_json::Value) -> Result<(), String> {
        Ok(())
    }
    fn build(&self, _: &serde_json::Value) -> Result<Box<dyn NspV2Provider>, String> {
        Ok((self.build)())
    }
}
