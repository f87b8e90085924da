//! The validated scenario: typed values only, every reference resolved, defaults filled in.
//!
//! Its JSON form ([`Scenario::to_json`]) uses the scenario file's own keys and Windows names,
//! with every default written out, so the `scenario` of a trace header reads like the file it
//! came from and [`Scenario::from_json`] gives back an equal value.

use crate::provider::NspFn;
use crate::wsa::{Guid, LupFlags, Namespace, SetServiceOp, WsaError};
use serde_json::Value;
use std::net::SocketAddr;

/// A whole scenario (docs/scenario-format.md).
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    /// Default seed; the CLI's `--seed` wins.
    pub seed: Option<u64>,
    pub profile: Profile,
    pub startup_policy: StartupPolicy,
    /// `[[provider]]`, in file order.
    pub providers: Vec<ProviderSpec>,
    /// `[[host]]`, in file order (declared hosts only; see [`Scenario::implicit_hosts`]).
    pub hosts: Vec<HostSpec>,
    /// `[[process]]`, in file order, templates expanded (`count = N` makes N of them).
    pub processes: Vec<ProcessSpec>,
    /// The `[[process]]` tables with a `count`, in file order: what [`Scenario::to_json`]
    /// writes back as one table each, so a trace header stays as small as the file.
    pub templates: Vec<ProcessTemplate>,
    /// `expect_calls`: provider call counts judged at the end of the run, in file order.
    pub expect_calls: Vec<ExpectCalls>,
}

pub use crate::catalog::{Authority, Level, Napi};
pub use crate::config::{Profile, StartupPolicy};

/// One `[[provider]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderSpec {
    pub id: Guid,
    /// Display name in the catalog; unique among providers.
    pub name: String,
    pub namespace: Namespace,
    /// A kind of the [`crate::registry::Registry`].
    pub kind: String,
    /// The process that advertises it: a `[[host]]`, a `[[process]]`, or (if neither has that
    /// name) an implicit host. Default: `"<name>-host"`.
    pub host: String,
    /// In the catalog before any process starts (default true).
    pub installed: bool,
    /// Default true.
    pub enabled: bool,
    /// NS_EMAIL authority data (S5.2): the `napi` table, or the `authority` shorthand
    /// ([`Authority::napi`]).
    pub napi: Option<Napi>,
    /// `[provider.options]` as JSON (a table converted from TOML; default `{}`), validated by
    /// the kind.
    pub options: Value,
    /// The catalog entry's version number (`dwVersion`; default 1).
    pub version: u32,
    /// The directory of the file the scenario came from, against which the kind resolves
    /// relative file names in `options` ([`crate::registry::ProviderKind::resolve_paths`]);
    /// `None` for a scenario built in memory. Not part of the JSON form.
    pub base_dir: Option<std::sync::Arc<std::path::Path>>,
}

/// One `[[host]]`: a process with one thread running `steps`.
#[derive(Clone, Debug, PartialEq)]
pub struct HostSpec {
    pub name: String,
    pub steps: Vec<Step>,
}

/// One `[[process]]`: `steps` is the main thread, `threads` are `[[process.thread]]`, started
/// with the process.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessSpec {
    pub name: String,
    pub steps: Vec<Step>,
    pub threads: Vec<ThreadSpec>,
}

/// A `[[process]]` table with `count = N`: it made `processes[first..first + count]`, whose
/// names are [`ProcessTemplate::name_of`] its `name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessTemplate {
    pub first: usize,
    pub count: u32,
    /// The table's `name`, `{i}` and all.
    pub name: String,
}

impl ProcessTemplate {
    /// The name of the `i`-th process (from 0) made from a template named `name`: `{i}`
    /// replaced by `i`, or `-i` appended when the name has no `{i}`.
    pub fn name_of(name: &str, i: u32) -> String {
        if name.contains("{i}") {
            name.replace("{i}", &i.to_string())
        } else {
            format!("{name}-{i}")
        }
    }

    /// Whether the processes it made are still as it made them (a shrinker or a copy may
    /// have changed some since): then it stands for them in the JSON form.
    pub(super) fn holds(&self, processes: &[ProcessSpec]) -> bool {
        let Some(made) = processes.get(self.first..self.first + self.count as usize) else {
            return false;
        };
        made.iter().enumerate().all(|(i, p)| {
            p.name == Self::name_of(&self.name, i as u32)
                && p.steps == made[0].steps
                && p.threads == made[0].threads
        })
    }
}

/// One `[[process.thread]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ThreadSpec {
    pub steps: Vec<Step>,
}

/// Where a lookup or set_service goes: a whole namespace, or one provider by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Namespace(Namespace),
    /// A declared provider's id (a name was resolved to it), or, for `lookup`, `lookup_begin`
    /// and `set_service` only, any GUID written out in full (to exercise unknown-provider
    /// errors).
    Provider(Guid),
}

/// How many WSALookupServiceNext calls a `lookup` makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextCount {
    /// At most this many (0: Begin then End).
    Count(u32),
    /// Until WSA_E_NO_MORE (or another error).
    All,
}

/// The `buffer` of a `lookup_next`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextBuffer {
    /// This many bytes.
    Bytes(u32),
    /// `"required"`: the length the last WSAEFAULT on the same handle (from any thread of the
    /// process) wrote back.
    Required,
}

/// One step of a thread (docs/scenario-format.md "Steps").
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// WSAStartup(MAKEWORD(major, minor)); `version` "M.m", default "2.2".
    Startup {
        version: (u8, u8),
    },
    Cleanup,
    /// Begin, Next until WSA_E_NO_MORE or `next` results, End.
    Lookup {
        target: Target,
        /// The service instance name; `None` passes a NULL name.
        name: Option<String>,
        flags: LupFlags,
        next: NextCount,
        buffer: u32,
    },
    /// WSALookupServiceBegin; the handle is named `as_name` (`as` in the file).
    LookupBegin {
        target: Target,
        name: Option<String>,
        flags: LupFlags,
        as_name: String,
    },
    /// WSALookupServiceNext; `flags: None` (key absent) means "the flags given to the
    /// `lookup_begin` that defined `handle`".
    LookupNext {
        handle: String,
        flags: Option<LupFlags>,
        buffer: NextBuffer,
    },
    LookupEnd {
        handle: String,
    },
    SetService {
        action: SetServiceOp,
        target: Target,
        name: Option<String>,
        addrs: Vec<SocketAddr>,
        /// SERVICE_MULTIPLE.
        multiple: bool,
    },
    /// WSAEnumNameSpaceProvidersEx.
    EnumProviders {
        buffer: u32,
    },
    /// The provider's id (a name in the file is resolved to it).
    Advertise {
        provider: Guid,
    },
    Unadvertise {
        provider: Guid,
    },
    Install {
        provider: Guid,
    },
    Uninstall {
        provider: Guid,
    },
    Enable {
        provider: Guid,
    },
    Disable {
        provider: Guid,
    },
    Sleep {
        us: u64,
    },
    Exit,
    Crash,
    /// Asserts the previous step's outcome.
    Expect(Box<Expectation>),
}

/// What an `expect` step asks of the step before it (docs/scenario-format.md, "Expectations").
#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    pub err: ExpectErr,
    /// The integer return, if asked.
    pub ret: Option<i64>,
    /// The version a `startup` negotiated.
    pub version: Option<(u8, u8)>,
    /// The results of a `lookup` (every result of its loop, in order) or a `lookup_next` (one,
    /// or none).
    pub results: Option<Vec<ExpectedResult>>,
    /// The length WSAEFAULT wrote back.
    pub required: Option<u32>,
}

impl Expectation {
    /// `err` and `ret` only (the version 1 form).
    pub fn of(err: Option<WsaError>, ret: Option<i64>) -> Expectation {
        Expectation {
            err: ExpectErr::Is(err),
            ret,
            version: None,
            results: None,
            required: None,
        }
    }
}

/// The `err` of an `expect`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpectErr {
    /// Exactly this (`None`: success).
    Is(Option<WsaError>),
    /// One of these (`None`: success), in file order.
    OneOf(Vec<Option<WsaError>>),
    /// Any failure (`"any"`).
    AnyFailure,
}

impl ExpectErr {
    /// Whether `got` (`None`: success) is what this asks for.
    pub fn accepts(&self, got: Option<WsaError>) -> bool {
        match self {
            ExpectErr::Is(e) => *e == got,
            ExpectErr::OneOf(list) => list.contains(&got),
            ExpectErr::AnyFailure => got.is_some(),
        }
    }
}

/// One entry of an `expect`'s `results`: each field that is given must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedResult {
    /// The result's service instance name.
    pub name: Option<String>,
    /// Its addresses (remote), in order.
    pub addrs: Option<Vec<SocketAddr>>,
    /// The provider that answered (a name in the file is resolved to its id).
    pub provider: Option<Guid>,
}

/// One entry of `expect_calls`: how many `nsp.call` events of `func` reach `provider`
/// (serving `process` only, if given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectCalls {
    pub provider: Guid,
    pub func: NspFn,
    /// A `[[process]]` or `[[host]]` name: only calls serving it count.
    pub process: Option<String>,
    pub count: CallCount,
}

/// The count `expect_calls` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallCount {
    Exactly(u64),
    /// `min` and/or `max` (inclusive).
    Between {
        min: Option<u64>,
        max: Option<u64>,
    },
}

impl CallCount {
    pub fn accepts(self, n: u64) -> bool {
        match self {
            CallCount::Exactly(c) => n == c,
            CallCount::Between { min, max } => {
                min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m)
            }
        }
    }
}

impl std::fmt::Display for CallCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallCount::Exactly(c) => write!(f, "exactly {c}"),
            CallCount::Between {
                min: Some(a),
                max: Some(b),
            } => write!(f, "{a} to {b}"),
            CallCount::Between { min: Some(a), .. } => write!(f, "at least {a}"),
            CallCount::Between { max: Some(b), .. } => write!(f, "at most {b}"),
            CallCount::Between { .. } => write!(f, "any number of"),
        }
    }
}

impl Step {
    /// Every op, in the order of docs/scenario-format.md.
    pub const OPS: [&'static str; 18] = [
        "startup",
        "cleanup",
        "lookup",
        "lookup_begin",
        "lookup_next",
        "lookup_end",
        "set_service",
        "enum_providers",
        "advertise",
        "unadvertise",
        "install",
        "uninstall",
        "enable",
        "disable",
        "sleep",
        "exit",
        "crash",
        "expect",
    ];

    /// The `op` of this step.
    pub const fn op(&self) -> &'static str {
        match self {
            Step::Startup { .. } => "startup",
            Step::Cleanup => "cleanup",
            Step::Lookup { .. } => "lookup",
            Step::LookupBegin { .. } => "lookup_begin",
            Step::LookupNext { .. } => "lookup_next",
            Step::LookupEnd { .. } => "lookup_end",
            Step::SetService { .. } => "set_service",
            Step::EnumProviders { .. } => "enum_providers",
            Step::Advertise { .. } => "advertise",
            Step::Unadvertise { .. } => "unadvertise",
            Step::Install { .. } => "install",
            Step::Uninstall { .. } => "uninstall",
            Step::Enable { .. } => "enable",
            Step::Disable { .. } => "disable",
            Step::Sleep { .. } => "sleep",
            Step::Exit => "exit",
            Step::Crash => "crash",
            Step::Expect { .. } => "expect",
        }
    }

    /// The step's JSON form: the scenario file's keys, defaults written out.
    pub fn to_json(&self) -> Value {
        super::json_form::to_value(self)
    }
}

impl ExpectedResult {
    pub fn to_json(&self) -> Value {
        super::json_form::to_value(self)
    }
}

impl ExpectCalls {
    pub fn to_json(&self) -> Value {
        super::json_form::to_value(self)
    }
}

impl ProviderSpec {
    pub fn to_json(&self) -> Value {
        super::json_form::to_value(self)
    }
}

impl Scenario {
    /// Records `dir` as the directory the scenario's file names are relative to (see
    /// [`ProviderSpec::base_dir`]); an empty path means the working directory.
    pub fn set_base_dir(&mut self, dir: &std::path::Path) {
        let dir: std::sync::Arc<std::path::Path> = if dir.as_os_str().is_empty() {
            std::path::Path::new(".").into()
        } else {
            dir.into()
        };
        for p in &mut self.providers {
            p.base_dir = Some(dir.clone());
        }
    }

    /// The directory the scenario's relative file names are relative to, when it came from a
    /// file ([`Scenario::set_base_dir`]).
    pub fn base_dir(&self) -> Option<&std::path::Path> {
        self.providers.iter().find_map(|p| p.base_dir.as_deref())
    }

    /// The JSON form for a trace header: the file's keys (`provider`, `host`, `process`,
    /// `thread`, …), Windows names, every default written out, provider references as ids.
    /// The same form serializes straight from the model (`Scenario` is `Serialize`), which is
    /// how a trace header writes it.
    pub fn to_json(&self) -> Value {
        super::json_form::to_value(self)
    }

    /// Reads the JSON form back, with every check of [`super::parse`] except those that need
    /// the registry (provider kinds and their options; see [`Scenario::from_json_with`]).
    /// Errors name the file `<scenario json>`, line 1, column 1, and the path of the value.
    pub fn from_json(value: &Value) -> Result<Scenario, super::ScenarioError> {
        super::parse::from_json(value, None)
    }

    /// [`Scenario::from_json`], also checking provider kinds and options against `registry`.
    pub fn from_json_with(
        value: &Value,
        registry: &crate::registry::Registry,
    ) -> Result<Scenario, super::ScenarioError> {
        super::parse::from_json(value, Some(registry))
    }

    pub fn provider(&self, id: Guid) -> Option<&ProviderSpec> {
        self.providers.iter().find(|p| p.id == id)
    }

    pub fn provider_by_name(&self, name: &str) -> Option<&ProviderSpec> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// Whether some `expect` step has `results` (so runs must gather lookup results).
    pub fn uses_results(&self) -> bool {
        let scripts = self.hosts.iter().map(|h| &h.steps).chain(
            self.processes
                .iter()
                .flat_map(|p| std::iter::once(&p.steps).chain(p.threads.iter().map(|t| &t.steps))),
        );
        scripts
            .flatten()
            .any(|s| matches!(s, Step::Expect(x) if x.results.is_some()))
    }

    /// Host names that providers name but no `[[host]]` or `[[process]]` declares, in
    /// provider order, each once: the runtime makes these hosts.
    pub fn implicit_hosts(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in &self.providers {
            let declared = self.hosts.iter().any(|h| h.name == p.host)
                || self.processes.iter().any(|q| q.name == p.host);
            if !declared && !out.contains(&p.host.as_str()) {
                out.push(&p.host);
            }
        }
        out
    }

    /// The providers a host (declared or implicit) advertises, in provider order.
    pub fn providers_of_host<'a>(
        &'a self,
        host: &'a str,
    ) -> impl Iterator<Item = &'a ProviderSpec> {
        self.providers.iter().filter(move |p| p.host == host)
    }
}

impl<'de> serde::Deserialize<'de> for Scenario {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Scenario::from_json(&value).map_err(serde::de::Error::custom)
    }
}
