//! A scenario with the provider kinds it may name: from a TOML file, from TOML text, or built
//! in Rust ([`ScenarioBuilder`]); every form goes through the loader's validation.

use super::Error;
use nspsim_runtime::registry::{ProviderKind, Registry};
use nspsim_runtime::scenario::{self, ScenarioError};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// Where a scenario's text comes from.
#[derive(Clone, Debug)]
enum Source {
    File(PathBuf),
    Toml {
        name: String,
        text: String,
    },
    /// The file's shape as JSON (what [`ScenarioBuilder`] makes and trace headers hold).
    Json(Value),
}

/// A scenario and the provider kinds it may name: the built-in ones
/// ([`builtin_kinds`](super::builtin_kinds)) and those added with [`Scenario::with_kind`].
///
/// Validation needs the kinds, so it happens when the scenario is loaded ([`Scenario::load`]),
/// which every runner does first; a scenario that does not validate is an [`Error::Scenario`]
/// with its file, line and column, exactly as `nspsim run` reports it.
#[derive(Clone)]
pub struct Scenario {
    source: Source,
    registry: Registry,
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario")
            .field("source", &self.source)
            .field("kinds", &self.registry.names())
            .finish()
    }
}

impl Scenario {
    /// A scenario file (TOML, docs/scenario-format.md). `Err` when it cannot be read; its
    /// contents are checked by [`Scenario::load`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Scenario, Error> {
        let path = path.as_ref();
        if let Err(e) = std::fs::metadata(path) {
            return Err(Error::Scenario(ScenarioError {
                file: path.display().to_string(),
                line: 1,
                column: 1,
                message: format!("cannot open the scenario: {e}"),
                expected: None,
                source_line: None,
            }));
        }
        Ok(Scenario {
            source: Source::File(path.to_path_buf()),
            registry: super::builtin_kinds(),
        })
    }

    /// Scenario text in TOML; `file_name` names it in errors.
    pub fn from_toml(file_name: impl Into<String>, text: impl Into<String>) -> Scenario {
        Scenario {
            source: Source::Toml {
                name: file_name.into(),
                text: text.into(),
            },
            registry: super::builtin_kinds(),
        }
    }

    /// Starts a scenario in Rust: see [`ScenarioBuilder`].
    pub fn builder(name: impl Into<String>) -> ScenarioBuilder {
        ScenarioBuilder::new(name)
    }

    /// The same scenario, also knowing `kind` (a kind of the same name is replaced).
    pub fn with_kind(mut self, kind: impl ProviderKind + 'static) -> Scenario {
        self.registry.register(Box::new(kind));
        self
    }

    /// The same scenario with exactly these kinds (the built-in ones only if `registry` has
    /// them).
    pub fn with_registry(mut self, registry: Registry) -> Scenario {
        self.registry = registry;
        self
    }

    /// The kinds this scenario may name: to replay its traces ([`replay`](super::replay)).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The scenario file, for a scenario read from one.
    pub fn path(&self) -> Option<&Path> {
        match &self.source {
            Source::File(p) => Some(p),
            _ => None,
        }
    }

    /// Parses and validates the scenario against its kinds: the typed model every run uses.
    pub fn load(&self) -> Result<scenario::Scenario, Error> {
        let loaded = match &self.source {
            Source::File(path) => scenario::load(path, &self.registry),
            Source::Toml { name, text } => scenario::parse(name, text, &self.registry),
            Source::Json(value) => scenario::Scenario::from_json_with(value, &self.registry),
        };
        loaded.map_err(Error::Scenario)
    }
}

/// A scenario written in Rust. It builds the file's shape (the keys of
/// docs/scenario-format.md) and hands it to the loader, so it is checked exactly as a TOML file
/// is: same rules, same messages (located by the path of the value, e.g.
/// `process[0].steps[1].op`, in the scenario's JSON form).
///
/// ```
/// use nspsim::{Process, Provider, Scenario, Step};
///
/// let scenario = Scenario::builder("one-lookup")
///     .provider(
///         Provider::new("mail", "email-directory")
///             .namespace("NS_EMAIL")
///             .option("entries", serde_json::json!([
///                 { "name": "alice@example.com", "addrs": ["192.0.2.10:25"] }
///             ])),
///     )
///     .process(Process::new("client").steps([
///         Step::startup(),
///         Step::lookup("NS_EMAIL", "alice@example.com").flags(["LUP_RETURN_ADDR"]),
///         Step::cleanup(),
///         Step::exit(),
///     ]))
///     .build()
///     .expect("a valid scenario");
/// assert_eq!(scenario.load().expect("valid").processes.len(), 1);
///
/// // The loader's checks apply: an unknown step key is an error naming it.
/// let bad = Scenario::builder("bad")
///     .process(Process::new("client").steps([Step::startup().with("colour", "red")]))
///     .build();
/// assert!(bad.unwrap_err().to_string().contains("colour"));
/// ```
#[derive(Clone)]
pub struct ScenarioBuilder {
    root: Map<String, Value>,
    providers: Vec<Value>,
    hosts: Vec<Value>,
    processes: Vec<Value>,
    registry: Registry,
}

impl std::fmt::Debug for ScenarioBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScenarioBuilder")
            .field("scenario", &self.to_json())
            .field("kinds", &self.registry.names())
            .finish()
    }
}

impl ScenarioBuilder {
    /// A scenario named `name` (the trace header's name).
    pub fn new(name: impl Into<String>) -> ScenarioBuilder {
        let mut root = Map::new();
        root.insert("name".into(), json!(name.into()));
        ScenarioBuilder {
            root,
            providers: Vec::new(),
            hosts: Vec::new(),
            processes: Vec::new(),
            registry: super::builtin_kinds(),
        }
    }

    /// The default seed (`seed`).
    pub fn seed(self, seed: u64) -> Self {
        self.set("seed", json!(seed.to_string()))
    }

    /// `profile`: `"win7"` (default) or `"vista"`.
    pub fn profile(self, profile: &str) -> Self {
        self.set("profile", json!(profile))
    }

    /// `startup_policy`: `"per-process"` (default) or `"per-wsastartup"`.
    pub fn startup_policy(self, policy: &str) -> Self {
        self.set("startup_policy", json!(policy))
    }

    /// Any top-level key, as the file would write it.
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.root.insert(key.into(), value.into());
        self
    }

    /// Adds a `[[provider]]`.
    pub fn provider(mut self, provider: Provider) -> Self {
        self.providers.push(Value::Object(provider.0));
        self
    }

    /// Adds a `[[host]]`: a provider's host process with a script of its own.
    pub fn host(mut self, host: Process) -> Self {
        self.hosts.push(host.into_json());
        self
    }

    /// Adds a `[[process]]`: a client process.
    pub fn process(mut self, process: Process) -> Self {
        self.processes.push(process.into_json());
        self
    }

    /// Lets the scenario name `kind` (besides the built-in kinds).
    pub fn with_kind(mut self, kind: impl ProviderKind + 'static) -> Self {
        self.registry.register(Box::new(kind));
        self
    }

    /// The scenario in its file shape, as JSON (what the loader reads).
    pub fn to_json(&self) -> Value {
        let mut root = self.root.clone();
        root.insert("provider".into(), Value::Array(self.providers.clone()));
        root.insert("host".into(), Value::Array(self.hosts.clone()));
        root.insert("process".into(), Value::Array(self.processes.clone()));
        Value::Object(root)
    }

    /// Validates the scenario with the loader; `Err` is the loader's error.
    pub fn build(self) -> Result<Scenario, Error> {
        let scenario = Scenario {
            source: Source::Json(self.to_json()),
            registry: self.registry,
        };
        scenario.load()?;
        Ok(scenario)
    }
}

/// Deterministic provider ids for built scenarios: FNV-1a of the name, as a GUID.
fn id_of(name: &str) -> String {
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in name.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    nspsim_runtime::wsa::Guid::from_u128(h).to_string()
}

/// A `[[provider]]` of a [`ScenarioBuilder`].
#[derive(Clone, Debug)]
pub struct Provider(Map<String, Value>);

impl Provider {
    /// A provider named `name` of kind `kind`, in `NS_EMAIL`, with an id derived from its
    /// name (set another with [`Provider::id`]).
    pub fn new(name: &str, kind: &str) -> Provider {
        let mut m = Map::new();
        m.insert("id".into(), json!(id_of(name)));
        m.insert("name".into(), json!(name));
        m.insert("namespace".into(), json!("NS_EMAIL"));
        m.insert("kind".into(), json!(kind));
        Provider(m)
    }

    /// `id`: the provider's GUID, as text.
    pub fn id(self, id: &str) -> Self {
        self.set("id", id)
    }

    /// `namespace`: a name (`"NS_EMAIL"`) or a number.
    pub fn namespace(self, namespace: impl Into<Value>) -> Self {
        self.set("namespace", namespace)
    }

    /// `host`: the process that advertises it.
    pub fn host(self, host: &str) -> Self {
        self.set("host", host)
    }

    /// `authority`: `"primary"`, `"secondary"` or `"wildcard"`.
    pub fn authority(self, authority: &str) -> Self {
        self.set("authority", authority)
    }

    /// One key of `[provider.options]`.
    pub fn option(mut self, key: &str, value: impl Into<Value>) -> Self {
        let options = self
            .0
            .entry("options")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(o) = options {
            o.insert(key.into(), value.into());
        }
        self
    }

    /// Any key of `[[provider]]`, as the file would write it.
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.into(), value.into());
        self
    }
}

/// A `[[process]]` or `[[host]]` of a [`ScenarioBuilder`]: its main thread's steps and, for a
/// client, extra threads.
#[derive(Clone, Debug)]
pub struct Process {
    name: String,
    steps: Vec<Value>,
    threads: Vec<Vec<Value>>,
}

impl Process {
    /// A process named `name`, with no steps yet.
    pub fn new(name: &str) -> Process {
        Process {
            name: name.into(),
            steps: Vec::new(),
            threads: Vec::new(),
        }
    }

    /// Appends steps to the main thread.
    pub fn steps(mut self, steps: impl IntoIterator<Item = Step>) -> Self {
        self.steps
            .extend(steps.into_iter().map(|s| Value::Object(s.0)));
        self
    }

    /// Adds a `[[process.thread]]`, started with the process.
    pub fn thread(mut self, steps: impl IntoIterator<Item = Step>) -> Self {
        self.threads
            .push(steps.into_iter().map(|s| Value::Object(s.0)).collect());
        self
    }

    fn into_json(self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("steps".into(), Value::Array(self.steps));
        if !self.threads.is_empty() {
            let threads = self
                .threads
                .into_iter()
                .map(|steps| json!({ "steps": steps }))
                .collect();
            m.insert("thread".into(), Value::Array(threads));
        }
        Value::Object(m)
    }
}

/// One step of a script (the table in docs/scenario-format.md): `op` and its fields.
#[derive(Clone, Debug)]
pub struct Step(Map<String, Value>);

impl Step {
    /// A step with this `op` and no fields yet.
    pub fn op(op: &str) -> Step {
        let mut m = Map::new();
        m.insert("op".into(), json!(op));
        Step(m)
    }

    /// Sets a field: `Step::op("sleep").with("us", 500)`.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.into(), value.into());
        self
    }

    /// `flags`: LUP_* names.
    pub fn flags<'a>(self, flags: impl IntoIterator<Item = &'a str>) -> Self {
        let flags: Vec<Value> = flags.into_iter().map(|f| json!(f)).collect();
        self.with("flags", flags)
    }

    /// WSAStartup (version 2.2).
    pub fn startup() -> Step {
        Step::op("startup")
    }

    /// WSACleanup.
    pub fn cleanup() -> Step {
        Step::op("cleanup")
    }

    /// A whole lookup: Begin, Next until WSA_E_NO_MORE, End.
    pub fn lookup(namespace: &str, name: &str) -> Step {
        Step::op("lookup")
            .with("namespace", namespace)
            .with("name", name)
    }

    /// WSASetService: `action` is `"register"`, `"deregister"` or `"delete"`.
    pub fn set_service(action: &str, namespace: &str, name: &str) -> Step {
        Step::op("set_service")
            .with("action", action)
            .with("namespace", namespace)
            .with("name", name)
    }

    /// WSAAdvertiseProvider of a declared provider (a host's step).
    pub fn advertise(provider: &str) -> Step {
        Step::op("advertise").with("provider", provider)
    }

    /// WSAUnadvertiseProvider.
    pub fn unadvertise(provider: &str) -> Step {
        Step::op("unadvertise").with("provider", provider)
    }

    /// Advances this thread's virtual time.
    pub fn sleep(us: u64) -> Step {
        Step::op("sleep").with("us", us)
    }

    /// Asserts the previous step's outcome: `err` is a name (`"WSA_E_NO_MORE"`), a number, or
    /// `"NO_ERROR"`.
    pub fn expect(err: &str) -> Step {
        Step::op("expect").with("err", err)
    }

    /// ExitProcess.
    pub fn exit() -> Step {
        Step::op("exit")
    }

    /// Abnormal termination of the whole process.
    pub fn crash() -> Step {
        Step::op("crash")
    }
}
