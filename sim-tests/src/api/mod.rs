//! The library API a provider's own tests call (re-exported at the crate root): scenarios with
//! your kinds, and the runners `run`, `explore`, `crash_points`, `live`, `replay` and
//! `check_trace`, each returning values a test asserts on, and a `check()` that panics with
//! the rule, the message, the shrunk trace and the command that replays it.
#![warn(missing_docs)]

mod explore;
mod runners;
mod scenario;

pub use explore::{Explore, ExploreOutcome, ShrunkFailure, explore};
pub use runners::{
    CrashPoints, CrashPointsOutcome, Live, LiveOutcome, Run, RunOutcome, Violation, check_trace,
    crash_points, live, replay, run,
};
pub use scenario::{Process, Provider, Scenario, ScenarioBuilder, Step};

use nspsim_runtime::registry::Registry;
use nspsim_runtime::sim::faults::InjectedFaultKind;
use std::path::{Path, PathBuf};

/// Why a runner could not run: the scenario does not validate, a provider cannot be built, a
/// file cannot be read or written, a trace does not parse.
#[derive(Debug)]
pub enum Error {
    /// The scenario does not validate (file, line, column, what was expected).
    Scenario(nspsim_runtime::scenario::ScenarioError),
    /// A provider cannot be built, or the run cannot start.
    Run(String),
    /// A file cannot be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: std::io::Error,
    },
    /// A trace does not parse.
    Trace(nspsim_runtime::trace::ReadError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Scenario(e) => f.write_str(&crate::diagnostics::scenario_error(e)),
            Error::Run(e) => write!(f, "{e}"),
            Error::Io { path, error } => write!(f, "{}: {error}", path.display()),
            Error::Trace(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

/// Every provider kind nspsim ships (`email-directory`, `minimal`, `minimal-stubs`, `faulty`,
/// `buggy`): the registry a [`Scenario`] starts with. Register your own kinds on it to build
/// your own `nspsim` binary ([`cli::main_with`](crate::cli::main_with)).
pub fn builtin_kinds() -> Registry {
    nspsim_providers::registry()
}

/// The fault kinds a seed of exploration may switch on: each seed draws its own plan from
/// them (swarm testing), and a fault is a scheduler choice, so a failing seed replays exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Faults(Vec<InjectedFaultKind>);

impl Faults {
    /// Every kind: client crash, kill and exit mid-call, host crash, unadvertise, disable.
    pub fn all() -> Faults {
        Faults(InjectedFaultKind::ALL.to_vec())
    }

    /// No faults: only the interleavings vary.
    pub fn none() -> Faults {
        Faults(Vec::new())
    }

    /// These kinds only.
    pub fn only(kinds: impl IntoIterator<Item = InjectedFaultKind>) -> Faults {
        Faults(kinds.into_iter().collect())
    }

    /// As the command line writes them (`crash,kill` or `all`, `none`); `Err` names a kind
    /// it does not know.
    pub fn parse(text: &str) -> Result<Faults, String> {
        crate::cli::parse_faults(text).map(Faults)
    }

    /// The kinds.
    pub fn kinds(&self) -> &[InjectedFaultKind] {
        &self.0
    }
}

/// Where failure traces go unless a runner is told otherwise: `nspsim/` in Cargo's target
/// directory (`CARGO_TARGET_DIR`, else the one holding the running test binary), else in the
/// system's temporary directory.
pub fn default_output_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("nspsim");
    }
    // A test binary runs from <target>/<profile>/deps/.
    let exe = std::env::current_exe().ok();
    let target = exe.as_deref().and_then(|exe| {
        let deps = exe.parent()?;
        let profile = deps.parent()?;
        (deps.file_name()? == "deps").then(|| profile.parent())?
    });
    match target {
        Some(t) => t.join("nspsim"),
        None => std::env::temp_dir().join("nspsim"),
    }
}

/// A name made only of characters safe in a file name.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes `text` to `dir/file` (creating `dir`), under a temporary name renamed into place.
fn write_into(dir: &Path, file: &str, text: &str) -> Result<PathBuf, Error> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| Error::Io { path, error }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(file);
    let tmp = dir.join(format!("{file}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(path)
}

/// The command that replays a trace of a run of `scenario` (when the scenario is known: with the
/// `--base-dir` its files need); a note when the trace names kinds the stock `nspsim` binary
/// does not know.
fn replay_command(
    path: &Path,
    scenario: Option<&nspsim_runtime::scenario::Scenario>,
    registry: &Registry,
) -> String {
    let builtin = builtin_kinds().names();
    let custom: Vec<&str> = registry
        .names()
        .into_iter()
        .filter(|n| !builtin.contains(n))
        .collect();
    let mut text = format!("nspsim replay {}", path.display());
    if let Some(dir) = scenario.and_then(|s| crate::runs::replay_base_dir(s, registry, path)) {
        text.push_str(&format!(" --base-dir {}", dir.display()));
    }
    if !custom.is_empty() {
        text.push_str(&format!(
            "   (with an nspsim binary that registers {}: nspsim::cli::main_with; or nspsim::replay in a test)",
            custom.join(", ")
        ));
    }
    text
}

/// A provider's panic is contained and reported (P4, a `fault` line): keep Rust's panic
/// message for it off stderr, as the command line does, once per process. Every other panic
/// goes to the hook that was installed before.
fn quiet_provider_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !nspsim_runtime::dispatcher::in_provider_call() {
                previous(info);
            }
        }));
    });
}
