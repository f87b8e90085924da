//! `kind = "c-library"`: an NSPv2 provider written in C for Windows (`ws2spi.h`), built as a
//! shared library with `cc $(nspsim cc-flags)`, running in real host processes.
//!
//! As on Windows, the provider lives in its host's process. A small C program, the host
//! (`providers/c/host/`), loads the library once (`dlopen`) and becomes a fork server; for
//! every run nspsim asks it for a child, which runs the provider's host main (`entry`: what a
//! Windows host's `main` does, `WSAStartup` and `WSAAdvertiseProvider`) and then serves the
//! dispatcher's calls one at a time over a Unix socket. So every run starts from fresh provider
//! state (P4 and determinism: nothing carries over from one seed to the next), and a crash or
//! hang in provider code is the host's, never nspsim's.
//!
//! Why the host is C and not Rust: it must *export* C symbols (`WSAAdvertiseProvider`,
//! `HeapAlloc`, `EnterCriticalSection`, …) that a provider library's undefined references
//! resolve to when it is loaded, and it must `fork` once per run, which a multi-threaded Rust
//! process (an exploration runs many workers) cannot do safely. A separate C executable does
//! both naturally, and keeps this workspace free of `unsafe` (`unsafe_code = "forbid"`): the
//! Rust side only spawns a process and speaks a byte protocol.
//!
//! Modules, one job each:
//! - [`toolchain`]: the embedded host sources and headers, the cache, the C compiler;
//! - [`host`]: the fork server and a run's connection (exit statuses, deadlines);
//! - [`protocol`]: the frames (`providers/c/host/PROTOCOL.md`);
//! - [`provider`]: the [`NspV2Provider`] that turns replies into context operations;
//! - [`marshal`]: `WSAQUERYSET2W` images in, validated results out.
//!
//! Rules: S3.1 (the host refuses an id other than the scenario's with WSAEINVALIDPROVIDER),
//! S1.5 (the table as advertised, short or with NULL slots, is left to the dispatcher), S5.4
//! and S5.5 (NextEx results and WSAEFAULT sizing), S6.3 (work items are the scheduler's; in
//! live mode, [`ProviderKind::build_live`], real threads of the host), P4 (crash and timeout
//! containment).

pub mod host;
pub mod marshal;
pub mod protocol;
pub mod provider;
pub mod toolchain;

use host::{Connection, ForkServer, HostSpec};
use nspsim_core::registry::{Factory, Installation, OptionDoc, ProviderKind};
use nspsim_core::{Guid, NspV2Provider};
use provider::{CProvider, Launch};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use toolchain::Variant;

/// The option key under which the runtime passes the scenario's provider id (see
/// [`with_identity`]); not for users to write.
pub const ID_KEY: &str = "$id";
/// The option key under which the runtime passes the provider's scenario name.
pub const NAME_KEY: &str = "$name";

/// The options with the provider's identity added: the scenario's `id` (the only GUID the
/// provider's `WSAAdvertiseProvider` may name, S3.1) and `name` (`argv[0]` of `entry`). The
/// kind's [`ProviderKind::bind`] adds them before `prepare`/`build`; without them (a caller
/// that builds from bare options) the host takes whatever id the code advertises and the first
/// call checks it, and `argv[0]` is the library's file stem.
pub fn with_identity(options: &Value, id: Guid, name: &str) -> Value {
    let mut o = match options {
        Value::Object(m) => m.clone(),
        _ => serde_json::Map::new(),
    };
    o.insert(ID_KEY.into(), Value::String(id.to_string()));
    o.insert(NAME_KEY.into(), Value::String(name.into()));
    Value::Object(o)
}

/// The options with a relative `path` made relative to `base` (the scenario file's directory),
/// as [`ProviderKind::bind`] does.
pub fn resolve_paths(options: &Value, base: &Path) -> Value {
    let mut o = options.clone();
    if let Some(Value::String(p)) = o.get_mut("path") {
        let path = Path::new(p.as_str());
        if path.is_relative() {
            *p = base.join(path).display().to_string();
        }
    }
    o
}

/// The default call deadline.
pub const DEFAULT_DEADLINE_MS: u64 = 5_000;
/// The longest call deadline accepted (an hour).
pub const MAX_DEADLINE_MS: u64 = 3_600_000;

/// The options as written, each checked for its type (naming the option when it is wrong).
struct RawOptions {
    path: String,
    entry: Option<String>,
    routines: Option<String>,
    args: Vec<String>,
    call_deadline_ms: Option<u64>,
    sanitizer: Option<String>,
    id: Option<String>,
    name: Option<String>,
}

const KEYS: [&str; 8] = [
    "path",
    "entry",
    "routines",
    "args",
    "call_deadline_ms",
    "sanitizer",
    ID_KEY,
    NAME_KEY,
];

impl RawOptions {
    fn read(options: &Value) -> Result<RawOptions, String> {
        let empty = serde_json::Map::new();
        let o = match options {
            Value::Null => &empty,
            Value::Object(o) => o,
            _ => return Err(format!("{KIND} options: expected a table")),
        };
        if let Some(k) = o.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!(
                "{KIND} options: unknown option `{k}`; expected one of path, entry, routines, args, call_deadline_ms, sanitizer"
            ));
        }
        let string = |k: &str| -> Result<Option<String>, String> {
            match o.get(k) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(v) => Err(format!("{KIND} options: `{k}` must be a string, not {v}")),
            }
        };
        let args = match o.get("args") {
            None => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("{KIND} options: `args` must be an array of strings"))?,
            Some(v) => {
                return Err(format!(
                    "{KIND} options: `args` must be an array of strings, not {v}"
                ));
            }
        };
        let call_deadline_ms = match o.get("call_deadline_ms") {
            None => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                format!("{KIND} options: `call_deadline_ms` must be a whole number of milliseconds, not {v}")
            })?),
        };
        Ok(RawOptions {
            path: string("path")?.ok_or_else(|| {
                format!("{KIND} options: `path` (the provider's shared library) is required")
            })?,
            entry: string("entry")?,
            routines: string("routines")?,
            args,
            call_deadline_ms,
            sanitizer: string("sanitizer")?,
            id: string(ID_KEY)?,
            name: string(NAME_KEY)?,
        })
    }
}

/// Validated options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CLibraryOptions {
    /// The library as given (after [`resolve_paths`]).
    pub path: PathBuf,
    /// `entry` (`true`) or `routines` (`false`).
    pub is_entry: bool,
    pub symbol: String,
    pub args: Vec<String>,
    pub call_deadline_ms: u64,
    pub sanitizer: Variant,
    pub id: Option<Guid>,
    pub name: Option<String>,
}

const KIND: &str = "c-library";

fn no_nul(what: &str, s: &str) -> Result<(), String> {
    if s.contains('\0') {
        Err(format!("{KIND} options: `{what}` contains a NUL character"))
    } else {
        Ok(())
    }
}

impl CLibraryOptions {
    /// Checks the options' shape (not the file: that is checked when the host loads it).
    pub fn parse(options: &Value) -> Result<CLibraryOptions, String> {
        let raw = RawOptions::read(options)?;
        let (is_entry, symbol) = match (raw.entry, raw.routines) {
            (Some(e), None) => (true, e),
            (None, Some(r)) => (false, r),
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{KIND} options: give `entry` (a host main) or `routines` (an NSPV2_ROUTINE), not both"
                ));
            }
            (None, None) => {
                return Err(format!(
                    "{KIND} options: `entry` (the provider's host main, int entry(int argc, char **argv)) \
                     or `routines` (an exported NSPV2_ROUTINE) is required"
                ));
            }
        };
        let which = if is_entry { "entry" } else { "routines" };
        if symbol.is_empty() {
            return Err(format!("{KIND} options: `{which}` is empty"));
        }
        if raw.path.is_empty() {
            return Err(format!("{KIND} options: `path` is empty"));
        }
        no_nul("path", &raw.path)?;
        no_nul(which, &symbol)?;
        for a in &raw.args {
            no_nul("args", a)?;
        }
        let call_deadline_ms = raw.call_deadline_ms.unwrap_or(DEFAULT_DEADLINE_MS);
        if !(1..=MAX_DEADLINE_MS).contains(&call_deadline_ms) {
            return Err(format!(
                "{KIND} options: `call_deadline_ms` is {call_deadline_ms}; expected 1 to {MAX_DEADLINE_MS}"
            ));
        }
        let sanitizer = match raw.sanitizer.as_deref() {
            None => Variant::Plain,
            Some("address") => Variant::Address,
            Some(other) => {
                return Err(format!(
                    "{KIND} options: unknown `sanitizer` \"{other}\"; expected \"address\""
                ));
            }
        };
        let id = raw
            .id
            .map(|s| {
                s.parse::<Guid>()
                    .map_err(|e| format!("{KIND} options: `{ID_KEY}`: {e}"))
            })
            .transpose()?;
        if let Some(n) = &raw.name {
            no_nul(NAME_KEY, n)?;
        }
        Ok(CLibraryOptions {
            path: PathBuf::from(raw.path),
            is_entry,
            symbol,
            args: raw.args,
            call_deadline_ms,
            sanitizer,
            id,
            name: raw.name,
        })
    }

    fn which(&self) -> &'static str {
        if self.is_entry { "entry" } else { "routines" }
    }

    /// Compiles (once) and starts the fork server for these options; the library is loaded and
    /// its symbol resolved, or the error names the option at fault.
    pub fn spawn(&self) -> Result<Arc<ForkServer>, String> {
        self.spawn_for(false)
    }

    /// [`CLibraryOptions::spawn`] for a live run (`live`): the children start a real thread
    /// for each work item (PROTOCOL.md "Live mode").
    pub fn spawn_for(&self, live: bool) -> Result<Arc<ForkServer>, String> {
        let library = std::path::absolute(&self.path).map_err(|e| {
            format!(
                "{KIND} option `path`: cannot resolve {}: {e}",
                self.path.display()
            )
        })?;
        if !library.is_file() {
            return Err(format!(
                "{KIND} option `path`: no such file: {} (a relative path is relative to the scenario file; replaying a trace kept elsewhere, give `nspsim replay --base-dir` the scenario's directory)",
                library.display()
            ));
        }
        let exe = toolchain::host_binary(self.sanitizer)?;
        let name = self.name.clone().unwrap_or_else(|| {
            library
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "provider".into())
        });
        let spec = HostSpec {
            exe,
            library: library.clone(),
            is_entry: self.is_entry,
            symbol: self.symbol.clone(),
            id: self.id.map(protocol::guid_to_c),
            name,
            args: self.args.clone(),
            load_deadline: Duration::from_millis(self.call_deadline_ms),
            address_sanitizer: self.sanitizer == Variant::Address,
            live,
            fail_fork_at: None,
        };
        ForkServer::spawn(&spec).map_err(|e| {
            if e.starts_with("the library has no exported symbol") {
                format!(
                    "{KIND} option `{}`: {} has no exported symbol `{}`",
                    self.which(),
                    library.display(),
                    self.symbol
                )
            } else {
                format!(
                    "{KIND} option `path`: cannot load {}: {e}",
                    library.display()
                )
            }
        })
    }

    /// A new instance: a child of `server`, its host main run and checked.
    pub fn instance(&self, server: &Arc<ForkServer>) -> Result<CProvider, String> {
        let deadline = Duration::from_millis(self.call_deadline_ms);
        let conn = Connection::open(server, deadline)
            .map_err(|e| format!("{KIND}: cannot start a host process: {e}"))?;
        let launch = Launch {
            symbol: &self.symbol,
            is_entry: self.is_entry,
            id: self.id,
            deadline_ms: self.call_deadline_ms,
            live: server.live(),
        };
        CProvider::start(conn, &launch).map_err(|e| format!("{KIND} {}: {e}", self.path.display()))
    }
}

const PATH: OptionDoc = OptionDoc {
    name: "path",
    shape: "a file name",
    default: "",
    help: "the provider's shared library (cc $(nspsim cc-flags) -o libNAME.so NAME.c), relative to the scenario file",
};
const ENTRY: OptionDoc = OptionDoc {
    name: "entry",
    shape: "a symbol",
    default: "",
    help: "the provider's host main, int entry(int argc, char **argv), run in every host process: WSAStartup, WSAAdvertiseProvider, return 0 (give this or `routines`)",
};
const ROUTINES: OptionDoc = OptionDoc {
    name: "routines",
    shape: "a symbol",
    default: "",
    help: "instead of `entry`: an exported NSPV2_ROUTINE that the host advertises under the scenario's id",
};
const ARGS: OptionDoc = OptionDoc {
    name: "args",
    shape: "array of strings",
    default: "[]",
    help: "argv[1..] of `entry` (argv[0] is the provider's name)",
};
const DEADLINE: OptionDoc = OptionDoc {
    name: "call_deadline_ms",
    shape: "1 to 3600000",
    default: "5000",
    help: "a call (or `entry`) that has not returned after this many milliseconds is a timeout fault; the host process is killed",
};
const SANITIZER: OptionDoc = OptionDoc {
    name: "sanitizer",
    shape: "\"address\"",
    default: "none",
    help: "run a host built with -fsanitize=address, for a provider built with it; a report is a crash fault (`AddressSanitizer report during …`), printed on stderr; ASAN_OPTIONS you set are applied after nspsim's",
};

/// The `c-library` kind.
pub struct CLibraryKind;

impl ProviderKind for CLibraryKind {
    fn name(&self) -> &'static str {
        KIND
    }
    fn summary(&self) -> &'static str {
        "your own NSPv2 provider in C (ws2spi.h), built with `cc $(nspsim cc-flags)`, in a host process forked for every run"
    }
    fn options(&self) -> &'static [OptionDoc] {
        &[PATH, ENTRY, ROUTINES, ARGS, DEADLINE, SANITIZER]
    }
    fn validate(&self, options: &Value) -> Result<(), String> {
        CLibraryOptions::parse(options).map(|_| ())
    }
    /// The library's path made relative to the scenario file, and the installation's id and
    /// name (S3.1: the only GUID the code may advertise; `argv[0]` of `entry`).
    fn bind(&self, options: &Value, installation: &Installation<'_>) -> Option<Value> {
        let options = match installation.base_dir {
            Some(base) => resolve_paths(options, base),
            None => options.clone(),
        };
        Some(with_identity(&options, installation.id, installation.name))
    }
    fn build(&self, options: &Value) -> Result<Box<dyn NspV2Provider>, String> {
        let opts = CLibraryOptions::parse(options)?;
        let server = opts.spawn()?;
        Ok(Box::new(opts.instance(&server)?))
    }
    /// Live runs: each instance has a fork server of its own whose children run work items on
    /// real threads.
    fn build_live(&self, options: &Value) -> Result<Box<dyn NspV2Provider>, String> {
        let opts = CLibraryOptions::parse(options)?;
        let server = opts.spawn_for(true)?;
        Ok(Box::new(opts.instance(&server)?))
    }
    fn prepare(&self, options: &Value) -> Result<Factory<'_>, String> {
        let opts = CLibraryOptions::parse(options)?;
        let server = opts.spawn()?;
        Ok(Box::new(move || {
            Ok(Box::new(opts.instance(&server)?) as Box<dyn NspV2Provider>)
        }))
    }
}
