//! From a tree (TOML or JSON) to a validated [`Scenario`]: keys, types, names, limits and
//! references are all checked here, in file order, and the first problem is reported with its
//! position and what was expected.

use super::error::{Loc, ScenarioError, Source};
use super::limits::{
    MAX_ADDRS, MAX_BUFFER_BYTES, MAX_EXPECT_CALLS, MAX_EXPECT_ERRORS, MAX_EXPECT_RESULTS,
    MAX_FILE_BYTES, MAX_HOSTS, MAX_NAME_CHARS, MAX_NAPI_DOMAINS, MAX_NEXT_COUNT, MAX_PROCESSES,
    MAX_PROVIDERS, MAX_SLEEP_US, MAX_STEPS_PER_THREAD, MAX_THREADS_PER_PROCESS, MAX_TOTAL_STEPS,
};
use super::model::{
    Authority, CallCount, ExpectCalls, ExpectErr, Expectation, ExpectedResult, HostSpec, Level,
    Napi, NextBuffer, NextCount, ProcessSpec, ProcessTemplate, Profile, ProviderSpec, Scenario,
    StartupPolicy, Step, Target, ThreadSpec,
};
use super::node::{self, Key, Kind, Node};
use crate::provider::NspFn;
use crate::registry::Registry;
use crate::wsa::{Guid, LupFlags, Namespace, SetServiceOp, WsaError};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The file name errors carry for a scenario read from JSON (a trace header).
pub const JSON_FILE: &str = "<scenario json>";

const ROOT_KEYS: &[&str] = &[
    "name",
    "seed",
    "profile",
    "startup_policy",
    "provider",
    "host",
    "process",
    "expect_calls",
];
const PROVIDER_KEYS: &[&str] = &[
    "id",
    "name",
    "namespace",
    "kind",
    "host",
    "installed",
    "enabled",
    "authority",
    "napi",
    "options",
    "version",
];
const NAPI_KEYS: &[&str] = &["wildcard", "domains"];
const NAPI_DOMAIN_KEYS: &[&str] = &["domain", "level"];
const HOST_KEYS: &[&str] = &["name", "steps"];
const PROCESS_KEYS: &[&str] = &["name", "count", "steps", "thread"];
const THREAD_KEYS: &[&str] = &["steps"];
const RESULT_KEYS: &[&str] = &["name", "addrs", "provider"];
const EXPECT_CALLS_KEYS: &[&str] = &["provider", "fn", "process", "count", "min", "max"];

/// The keys each op takes besides `op`.
fn op_keys(op: &str) -> Option<&'static [&'static str]> {
    Some(match op {
        "startup" => &["version"],
        "cleanup" | "exit" | "crash" => &[],
        "lookup" => &["namespace", "provider", "name", "flags", "next", "buffer"],
        "lookup_begin" => &["namespace", "provider", "name", "flags", "as"],
        "lookup_next" => &["handle", "flags", "buffer"],
        "lookup_end" => &["handle"],
        "set_service" => &[
            "action",
            "namespace",
            "provider",
            "name",
            "addrs",
            "multiple",
        ],
        "enum_providers" => &["buffer"],
        "advertise" | "unadvertise" | "install" | "uninstall" | "enable" | "disable" => {
            &["provider"]
        }
        "sleep" => &["us"],
        "expect" => &["err", "ret", "version", "results", "required"],
        _ => return None,
    })
}

const DEFAULT_BUFFER: u32 = 4096;
const DEFAULT_VERSION: (u8, u8) = (2, 2);

/// Parses and validates TOML text; `registry: None` skips the provider kind checks.
pub(crate) fn from_toml(
    file: &str,
    text: &str,
    registry: Option<&Registry>,
) -> Result<Scenario, ScenarioError> {
    let src = Source {
        file,
        text: Some(text),
    };
    if text.len() > MAX_FILE_BYTES {
        return Err(src.error(
            &Loc::Span(0..0),
            format!(
                "the file is {} bytes, over the limit MAX_FILE_BYTES = {MAX_FILE_BYTES}",
                text.len()
            ),
            None,
        ));
    }
    let root = node::from_toml(&src, text)?;
    Builder { src, registry }.scenario(&root)
}

/// Validates the JSON form; `registry: None` skips the provider kind checks.
pub(crate) fn from_json(
    value: &serde_json::Value,
    registry: Option<&Registry>,
) -> Result<Scenario, ScenarioError> {
    let src = Source {
        file: JSON_FILE,
        text: None,
    };
    let root = node::from_json(&src, value)?;
    Builder { src, registry }.scenario(&root)
}

/// A table being read: its entries and what to call it in messages.
struct Table<'n> {
    what: String,
    node: &'n Node,
    entries: &'n [(Key, Node)],
}

impl<'n> Table<'n> {
    /// The value of `key`; a JSON `null` counts as absent.
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, v)| k.name == key && !matches!(v.kind, Kind::Null))
            .map(|(_, v)| v)
    }

    fn key_loc(&self, key: &str) -> &'n Loc {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map_or(&self.node.loc, |(k, _)| &k.loc)
    }
}

fn one_of(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let items: Vec<String> = items.into_iter().map(|s| s.as_ref().to_string()).collect();
    format!("one of {}", items.join(", "))
}

fn keys_expected(allowed: &[&str]) -> String {
    if allowed.is_empty() {
        "no key".into()
    } else {
        one_of(allowed.iter().map(|k| format!("`{k}`")))
    }
}

fn namespaces_expected() -> String {
    format!("{}, or a number", one_of(Namespace::known_names()))
}

fn flags_expected() -> String {
    format!("{}, or a number", one_of(LupFlags::known_names()))
}

fn errors_expected() -> String {
    let mut names = vec!["NO_ERROR"];
    names.extend(WsaError::known_names());
    format!("{}, or a number", one_of(names))
}

/// A provider declared so far, for references and duplicate messages.
struct Declared {
    id: Guid,
    name: String,
    id_loc: Loc,
    name_loc: Loc,
}

/// A host or process name declared so far.
struct ProcName {
    name: String,
    what: &'static str,
    loc: Loc,
}

/// The host and process names declared so far, in order, with an index: a template may
/// declare thousands.
#[derive(Default)]
struct ProcNames {
    list: Vec<ProcName>,
    index: BTreeMap<String, usize>,
}

impl ProcNames {
    fn get(&self, name: &str) -> Option<&ProcName> {
        self.list.get(*self.index.get(name)?)
    }

    fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    fn push(&mut self, p: ProcName) {
        self.index.insert(p.name.clone(), self.list.len());
        self.list.push(p);
    }
}

/// The handles a process's `lookup_begin` steps defined so far.
struct Handles {
    /// `process "client-a"` or `host "mailhost"`.
    owner: String,
    defined: Vec<(String, Loc)>,
    /// Handles an earlier `lookup_next` used (so a WSAEFAULT may have written a length back).
    nexted: Vec<String>,
}

struct Builder<'a> {
    src: Source<'a>,
    registry: Option<&'a Registry>,
}

type R<T> = Result<T, ScenarioError>;

impl<'a> Builder<'a> {
    fn err(
        &self,
        loc: &Loc,
        message: impl Into<String>,
        expected: impl Into<Option<String>>,
    ) -> ScenarioError {
        self.src.error(loc, message, expected.into())
    }

    fn table<'n>(&self, node: &'n Node, what: impl Into<String>) -> R<Table<'n>> {
        let what = what.into();
        match &node.kind {
            Kind::Table(entries) => Ok(Table {
                what,
                node,
                entries,
            }),
            other => Err(self.err(
                &node.loc,
                format!("{what} is {}", other.type_name()),
                Some("a table".to_string()),
            )),
        }
    }

    /// Every key of `t` must be in `allowed`; `unknown` words the message for a key that is not.
    fn check_keys(
        &self,
        t: &Table<'_>,
        allowed: &[&str],
        unknown: impl Fn(&str) -> String,
    ) -> R<()> {
        for (k, _) in t.entries {
            if !allowed.contains(&k.name.as_str()) {
                return Err(self.err(&k.loc, unknown(&k.name), keys_expected(allowed)));
            }
        }
        Ok(())
    }

    fn require<'n>(&self, t: &Table<'n>, key: &str, expected: &str) -> R<&'n Node> {
        t.get(key).ok_or_else(|| {
            self.err(
                &t.node.loc,
                format!("{} has no `{key}`", t.what),
                Some(format!("`{key}`: {expected}")),
            )
        })
    }

    fn type_error(&self, node: &Node, key: &str, expected: &str) -> ScenarioError {
        self.err(
            &node.loc,
            format!("`{key}` is {}", node.kind.type_name()),
            Some(expected.to_string()),
        )
    }

    fn string<'n>(&self, node: &'n Node, key: &str) -> R<&'n str> {
        match &node.kind {
            Kind::Str(s) => Ok(s),
            _ => Err(self.type_error(node, key, "a string")),
        }
    }

    /// A string of at most MAX_NAME_CHARS characters (possibly empty).
    fn bounded_string(&self, node: &Node, key: &str) -> R<String> {
        let s = self.string(node, key)?;
        let n = s.chars().count();
        if n > MAX_NAME_CHARS {
            return Err(self.err(
                &node.loc,
                format!(
                    "`{key}` is {n} characters long, over the limit MAX_NAME_CHARS = {MAX_NAME_CHARS}"
                ),
                None,
            ));
        }
        Ok(s.to_string())
    }

    /// A non-empty name of at most MAX_NAME_CHARS characters.
    fn name(&self, node: &Node, key: &str) -> R<String> {
        let s = self.bounded_string(node, key)?;
        if s.is_empty() {
            return Err(self.err(
                &node.loc,
                format!("`{key}` is empty"),
                Some("a non-empty name".into()),
            ));
        }
        Ok(s)
    }

    fn boolean(&self, node: &Node, key: &str) -> R<bool> {
        match node.kind {
            Kind::Bool(b) => Ok(b),
            _ => Err(self.type_error(node, key, "true or false")),
        }
    }

    /// An integer in `min..=max`; `limit` names the constant when `max` is one of
    /// [`super::limits`].
    fn int(&self, node: &Node, key: &str, min: i128, max: i128, limit: Option<&str>) -> R<i128> {
        let Kind::Int(v) = node.kind else {
            return Err(self.type_error(node, key, "an integer"));
        };
        if let (true, Some(limit)) = (v > max, limit) {
            return Err(self.err(
                &node.loc,
                format!("`{key}` = {v} is over the limit {limit} = {max}"),
                None,
            ));
        }
        if v < min || v > max {
            return Err(self.err(
                &node.loc,
                format!("`{key}` = {v} is out of range"),
                Some(format!("an integer from {min} to {max}")),
            ));
        }
        Ok(v)
    }

    fn u32_of(&self, node: &Node, key: &str, max: u32, limit: Option<&str>) -> R<u32> {
        let v = self.int(node, key, 0, i128::from(max), limit)?;
        u32::try_from(v).map_err(|_| self.type_error(node, key, "an integer"))
    }

    fn array<'n>(&self, node: &'n Node, key: &str, expected: &str) -> R<&'n [Node]> {
        match &node.kind {
            Kind::Array(items) => Ok(items),
            _ => Err(self.type_error(node, key, expected)),
        }
    }

    // ----- the document -----

    fn scenario(&self, root: &Node) -> R<Scenario> {
        let t = self.table(root, "the scenario")?;
        self.check_keys(&t, ROOT_KEYS, |k| {
            format!("unknown key `{k}` at the top level")
        })?;

        let name = self.name(
            self.require(&t, "name", "the scenario's name, a string")?,
            "name",
        )?;
        let seed = t.get("seed").map(|n| self.seed(n)).transpose()?;
        let profile = match t.get("profile") {
            None => Profile::default(),
            Some(n) => {
                let s = self.string(n, "profile")?;
                Profile::from_name(s).ok_or_else(|| {
                    self.err(
                        &n.loc,
                        format!("unknown profile \"{s}\""),
                        one_of(Profile::ALL.map(Profile::name)),
                    )
                })?
            }
        };
        let startup_policy = match t.get("startup_policy") {
            None => StartupPolicy::default(),
            Some(n) => {
                let s = self.string(n, "startup_policy")?;
                StartupPolicy::from_name(s).ok_or_else(|| {
                    self.err(
                        &n.loc,
                        format!("unknown startup_policy \"{s}\""),
                        one_of(StartupPolicy::ALL.map(StartupPolicy::name)),
                    )
                })?
            }
        };

        let provider_nodes = self.tables_array(&t, "provider", MAX_PROVIDERS, "MAX_PROVIDERS")?;
        let host_nodes = self.tables_array(&t, "host", MAX_HOSTS, "MAX_HOSTS")?;
        let process_nodes = self.tables_array(&t, "process", MAX_PROCESSES, "MAX_PROCESSES")?;

        let mut declared: Vec<Declared> = Vec::new();
        let mut providers = Vec::with_capacity(provider_nodes.len());
        for n in provider_nodes {
            providers.push(self.provider(n, &mut declared)?);
        }

        // Hosts and processes are all processes: their names share one space.
        let mut proc_names = ProcNames::default();
        let mut host_tables = Vec::with_capacity(host_nodes.len());
        for n in host_nodes {
            let ht = self.table(n, "[[host]]")?;
            self.check_keys(&ht, HOST_KEYS, |k| format!("unknown key `{k}` in [[host]]"))?;
            let name = self.proc_name(&ht, "host", &mut proc_names)?;
            host_tables.push((ht, name));
        }
        let mut process_tables = Vec::with_capacity(process_nodes.len());
        // Processes made so far, templates expanded: what MAX_PROCESSES bounds.
        let mut made = 0usize;
        for n in process_nodes {
            let pt = self.table(n, "[[process]]")?;
            self.check_keys(&pt, PROCESS_KEYS, |k| {
                format!("unknown key `{k}` in [[process]]")
            })?;
            let Some(count_node) = pt.get("count") else {
                made += 1;
                let name = self.proc_name(&pt, "process", &mut proc_names)?;
                process_tables.push((pt, name, None));
                continue;
            };
            let count = self.u32_of(
                count_node,
                "count",
                MAX_PROCESSES as u32,
                Some("MAX_PROCESSES"),
            )?;
            if count == 0 {
                return Err(self.err(
                    &count_node.loc,
                    "`count` = 0 makes no process",
                    Some("an integer from 1 (leave `count` out for one process)".to_string()),
                ));
            }
            made += count as usize;
            if made > MAX_PROCESSES {
                return Err(self.err(
                    &count_node.loc,
                    format!(
                        "`count` = {count} brings the [[process]]es to {made}, over the limit \
                         MAX_PROCESSES = {MAX_PROCESSES}"
                    ),
                    None,
                ));
            }
            let name = self.template_names(&pt, count, &mut proc_names)?;
            process_tables.push((pt, name, Some(count)));
        }

        // A provider's `host` names a declared [[host]] or [[process]], or is left out (the
        // implicit `NAME-host`): a name declared nowhere is most likely a typo, which would
        // otherwise quietly make a host process of that name.
        for (n, p) in provider_nodes.iter().zip(&providers) {
            let implicit = providers
                .iter()
                .any(|q| p.host == format!("{}-host", q.name));
            if implicit || proc_names.contains(&p.host) {
                continue;
            }
            let t = self.table(n, "[[provider]]")?;
            if let Some(h) = t.get("host") {
                return Err(self.err(
                    &h.loc,
                    format!(
                        "no [[host]] or [[process]] named \"{}\"; declare it, or leave `host` out for the implicit \"{}-host\"",
                        p.host, p.name
                    ),
                    None,
                ));
            }
        }

        let mut hosts = Vec::with_capacity(host_tables.len());
        for (ht, name) in &host_tables {
            let mut handles = Handles {
                owner: format!("host \"{name}\""),
                defined: Vec::new(),
                nexted: Vec::new(),
            };
            let steps = self.steps(ht, &declared, &mut handles)?;
            hosts.push(HostSpec {
                name: name.clone(),
                steps,
            });
        }
        let mut processes = Vec::with_capacity(made);
        let mut templates = Vec::new();
        let mut total_steps = 0usize;
        for (pt, name, count) in &process_tables {
            let process = self.process(pt, name, &declared)?;
            let steps =
                process.steps.len() + process.threads.iter().map(|t| t.steps.len()).sum::<usize>();
            total_steps += steps * count.unwrap_or(1) as usize;
            if total_steps > MAX_TOTAL_STEPS {
                let at = pt.get("count").map_or(&pt.node.loc, |n| &n.loc);
                return Err(self.err(
                    at,
                    format!(
                        "the [[process]]es make {total_steps} steps in all, over the limit \
                         MAX_TOTAL_STEPS = {MAX_TOTAL_STEPS}"
                    ),
                    None,
                ));
            }
            let Some(count) = *count else {
                processes.push(process);
                continue;
            };
            // Every process of a template runs the same scripts under its own name.
            templates.push(ProcessTemplate {
                first: processes.len(),
                count,
                name: name.clone(),
            });
            for i in 0..count {
                processes.push(ProcessSpec {
                    name: ProcessTemplate::name_of(name, i),
                    steps: process.steps.clone(),
                    threads: process.threads.clone(),
                });
            }
        }
        let expect_calls = match t.get("expect_calls") {
            None => Vec::new(),
            Some(n) => self.expect_calls(n, &declared, &proc_names)?,
        };

        Ok(Scenario {
            name,
            seed,
            profile,
            startup_policy,
            providers,
            hosts,
            processes,
            templates,
            expect_calls,
        })
    }

    fn seed(&self, n: &Node) -> R<u64> {
        let expected = "an integer from 0 to 18446744073709551615 (or the same as a string)";
        let v = match &n.kind {
            Kind::Int(v) => u64::try_from(*v).ok(),
            Kind::Str(s) => match s.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => s.parse().ok(),
            },
            _ => return Err(self.type_error(n, "seed", expected)),
        };
        v.ok_or_else(|| self.err(&n.loc, "`seed` is out of range", Some(expected.to_string())))
    }

    /// An optional array of tables (`[[key]]`) with at most `max` entries.
    fn tables_array<'n>(&self, t: &Table<'n>, key: &str, max: usize, limit: &str) -> R<&'n [Node]> {
        let Some(n) = t.get(key) else {
            return Ok(&[]);
        };
        let items = self.array(n, key, &format!("an array of tables ([[{key}]])"))?;
        if let Some(extra) = items.get(max) {
            return Err(self.err(
                &extra.loc,
                format!(
                    "{} [[{key}]] tables, over the limit {limit} = {max}",
                    items.len()
                ),
                None,
            ));
        }
        Ok(items)
    }

    // ----- providers -----

    fn provider(&self, n: &Node, declared: &mut Vec<Declared>) -> R<ProviderSpec> {
        let t = self.table(n, "[[provider]]")?;
        self.check_keys(&t, PROVIDER_KEYS, |k| {
            format!("unknown key `{k}` in [[provider]]")
        })?;

        let id_node = self.require(&t, "id", "a GUID like 6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60")?;
        let id = self.guid(id_node, "id")?;
        let name_node = self.require(&t, "name", "the provider's display name, a string")?;
        let name = self.name(name_node, "name")?;
        if let Some(other) = declared.iter().find(|d| d.id == id) {
            return Err(self.err(
                &id_node.loc,
                format!(
                    "duplicate provider id {id} (also used by \"{}\"{})",
                    other.name,
                    self.src.at_line(&other.id_loc)
                ),
                Some("a GUID no other [[provider]] uses".to_string()),
            ));
        }
        if let Some(other) = declared.iter().find(|d| d.name == name) {
            return Err(self.err(
                &name_node.loc,
                format!(
                    "duplicate provider name \"{name}\" (also used{})",
                    self.src.at_line(&other.name_loc)
                ),
                Some("a name no other [[provider]] uses".to_string()),
            ));
        }

        let ns_node = self.require(&t, "namespace", &namespaces_expected())?;
        let namespace = self.namespace(ns_node)?;

        let kind_node = self.require(&t, "kind", "a provider kind, a string")?;
        let kind = self.bounded_string(kind_node, "kind")?;

        let host = match t.get("host") {
            Some(h) => self.name(h, "host")?,
            None => format!("{name}-host"),
        };
        let installed = t
            .get("installed")
            .map(|b| self.boolean(b, "installed"))
            .transpose()?
            .unwrap_or(true);
        let enabled = t
            .get("enabled")
            .map(|b| self.boolean(b, "enabled"))
            .transpose()?
            .unwrap_or(true);
        let authority = match t.get("authority") {
            None => None,
            Some(a) => {
                let s = self.string(a, "authority")?;
                Some(Authority::from_name(s).ok_or_else(|| {
                    self.err(
                        &a.loc,
                        format!("unknown authority \"{s}\""),
                        one_of(Authority::ALL.map(Authority::name)),
                    )
                })?)
            }
        };
        let napi = match (authority, t.get("napi")) {
            (Some(_), Some(_)) => {
                return Err(self.err(
                    t.key_loc("napi"),
                    "[[provider]] has both `authority` and `napi`",
                    Some("one of them: `authority` is the shorthand of a `napi` table".to_string()),
                ));
            }
            (Some(a), None) => Some(a.napi()),
            (None, Some(n)) => Some(self.napi(n)?),
            (None, None) => None,
        };
        let options_node = t.get("options");
        let options = match options_node {
            None => serde_json::Value::Object(serde_json::Map::new()),
            Some(o) => {
                if !matches!(o.kind, Kind::Table(_)) {
                    return Err(self.type_error(o, "options", "a table ([provider.options])"));
                }
                node::to_json(&self.src, o)?
            }
        };
        let version = match t.get("version") {
            None => 1,
            Some(v) => self.u32_of(v, "version", u32::MAX, None)?,
        };

        if let Some(registry) = self.registry {
            self.check_kind(registry, &kind, kind_node, options_node, &options)?;
        }

        declared.push(Declared {
            id,
            name: name.clone(),
            id_loc: id_node.loc.clone(),
            name_loc: name_node.loc.clone(),
        });
        Ok(ProviderSpec {
            id,
            name,
            namespace,
            kind,
            host,
            installed,
            enabled,
            napi,
            options,
            version,
            base_dir: None,
        })
    }

    /// `napi = { wildcard = bool, domains = [ { domain = "…", level = "primary" | "secondary" |
    /// "none" }, … ] }` (S5.2).
    fn napi(&self, n: &Node) -> R<Napi> {
        let t = self.table(n, "`napi`")?;
        self.check_keys(&t, NAPI_KEYS, |k| format!("unknown key `{k}` in `napi`"))?;
        let wildcard = t
            .get("wildcard")
            .map(|b| self.boolean(b, "wildcard"))
            .transpose()?
            .unwrap_or(false);
        let items = match t.get("domains") {
            None => &[][..],
            Some(d) => self.array(
                d,
                "domains",
                "an array of tables like { domain = \"contoso.com\", level = \"primary\" }",
            )?,
        };
        if let Some(extra) = items.get(MAX_NAPI_DOMAINS) {
            return Err(self.err(
                &extra.loc,
                format!(
                    "{} domains, over the limit MAX_NAPI_DOMAINS = {MAX_NAPI_DOMAINS}",
                    items.len()
                ),
                None,
            ));
        }
        let levels = || one_of(Level::ALL.map(|l| format!("\"{}\"", l.name())));
        let mut domains: Vec<(String, Level)> = Vec::with_capacity(items.len());
        for item in items {
            let d = self.table(item, "a `napi` domain")?;
            self.check_keys(&d, NAPI_DOMAIN_KEYS, |k| {
                format!("unknown key `{k}` in a `napi` domain")
            })?;
            let domain_node = self.require(&d, "domain", "a domain name like \"contoso.com\"")?;
            let domain = self.name(domain_node, "domain")?;
            if domain.contains('@') || domain.contains('\0') {
                return Err(self.err(
                    &domain_node.loc,
                    format!("bad domain \"{}\"", domain.escape_default()),
                    Some("a domain name like \"contoso.com\", without `@`".to_string()),
                ));
            }
            if domains.iter().any(|(o, _)| o.eq_ignore_ascii_case(&domain)) {
                return Err(self.err(
                    &domain_node.loc,
                    format!("duplicate domain \"{domain}\" (domains compare ignoring case)"),
                    Some("a domain no other entry of this `napi` lists".to_string()),
                ));
            }
            let level_node = self.require(&d, "level", &levels())?;
            let level_name = self
                .string(level_node, "level")
                .map_err(|_| self.type_error(level_node, "level", &levels()))?;
            let level = Level::from_name(level_name).ok_or_else(|| {
                self.err(
                    &level_node.loc,
                    format!("unknown level \"{level_name}\""),
                    Some(levels()),
                )
            })?;
            domains.push((domain, level));
        }
        // Checked above, each at its position; this cannot fail.
        Napi::per_domain(wildcard, domains)
            .map_err(|e| self.err(&n.loc, format!("bad `napi`: {e}"), None))
    }

    fn check_kind(
        &self,
        registry: &Registry,
        kind: &str,
        kind_node: &Node,
        options_node: Option<&Node>,
        options: &serde_json::Value,
    ) -> R<()> {
        let Some(k) = registry.get(kind) else {
            let names = registry.names();
            let expected = if names.is_empty() {
                "a registered provider kind (none are registered)".to_string()
            } else {
                one_of(names)
            };
            return Err(self.err(
                &kind_node.loc,
                format!("unknown provider kind \"{kind}\""),
                expected,
            ));
        };
        // A kind is our own code, but a panic while loading a file must not take the CLI down.
        let verdict = catch_unwind(AssertUnwindSafe(|| k.validate(options)))
            .unwrap_or_else(|_| Err("the kind panicked while checking its options".to_string()));
        verdict.map_err(|why| {
            let loc = options_node.map_or(&kind_node.loc, |o| &o.loc);
            self.err(
                loc,
                format!("bad options for provider kind \"{kind}\": {why}"),
                None,
            )
        })
    }

    fn guid(&self, n: &Node, key: &str) -> R<Guid> {
        let expected = "a GUID like 6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60";
        let s = self
            .string(n, key)
            .map_err(|_| self.type_error(n, key, expected))?;
        s.parse::<Guid>().map_err(|_| {
            self.err(
                &n.loc,
                format!("bad GUID \"{s}\""),
                Some(expected.to_string()),
            )
        })
    }

    fn namespace(&self, n: &Node) -> R<Namespace> {
        match &n.kind {
            Kind::Str(s) => Namespace::parse(s).ok_or_else(|| {
                self.err(
                    &n.loc,
                    format!("unknown namespace \"{s}\""),
                    namespaces_expected(),
                )
            }),
            Kind::Int(_) => Ok(Namespace(self.u32_of(n, "namespace", u32::MAX, None)?)),
            _ => Err(self.type_error(n, "namespace", &namespaces_expected())),
        }
    }

    // ----- hosts and processes -----

    fn proc_name(&self, t: &Table<'_>, what: &'static str, seen: &mut ProcNames) -> R<String> {
        let n = self.require(t, "name", "a name, a string")?;
        let name = self.name(n, "name")?;
        self.claim(n, what, name.clone(), seen, "")?;
        Ok(name)
    }

    /// Declares `name` (written at `n`), unless another host or process has it.
    fn claim(
        &self,
        n: &Node,
        what: &'static str,
        name: String,
        seen: &mut ProcNames,
        made_by: &str,
    ) -> R<()> {
        if let Some(other) = seen.get(&name) {
            return Err(self.err(
                &n.loc,
                format!(
                    "duplicate {what} name \"{name}\"{made_by} (also used by a [[{}]]{})",
                    other.what,
                    self.src.at_line(&other.loc)
                ),
                Some("a name no other [[host]] or [[process]] uses".to_string()),
            ));
        }
        seen.push(ProcName {
            name,
            what,
            loc: n.loc.clone(),
        });
        Ok(())
    }

    /// The `name` of a template of `count` processes (`{i}` and all), after declaring the
    /// names it makes.
    fn template_names(&self, t: &Table<'_>, count: u32, seen: &mut ProcNames) -> R<String> {
        let n = self.require(t, "name", "a name, a string")?;
        let name = self.name(n, "name")?;
        for i in 0..count {
            let made = ProcessTemplate::name_of(&name, i);
            let chars = made.chars().count();
            if chars > MAX_NAME_CHARS {
                return Err(self.err(
                    &n.loc,
                    format!(
                        "process {i} of the template is named with {chars} characters, over the \
                         limit MAX_NAME_CHARS = {MAX_NAME_CHARS}"
                    ),
                    None,
                ));
            }
            let made_by = format!(" (process {i} of this template, `count` = {count})");
            self.claim(n, "process", made, seen, &made_by)?;
        }
        Ok(name)
    }

    fn process(&self, t: &Table<'_>, name: &str, declared: &[Declared]) -> R<ProcessSpec> {
        let mut handles = Handles {
            owner: format!("process \"{name}\""),
            defined: Vec::new(),
            nexted: Vec::new(),
        };
        let steps = self.steps(t, declared, &mut handles)?;
        let thread_nodes = match t.get("thread") {
            None => &[][..],
            Some(n) => self.array(n, "thread", "an array of tables ([[process.thread]])")?,
        };
        let max_extra = MAX_THREADS_PER_PROCESS - 1;
        if let Some(extra) = thread_nodes.get(max_extra) {
            return Err(self.err(
                &extra.loc,
                format!(
                    "process \"{name}\" has {} threads, over the limit MAX_THREADS_PER_PROCESS = \
                     {MAX_THREADS_PER_PROCESS} (the main thread counts)",
                    thread_nodes.len() + 1
                ),
                None,
            ));
        }
        let mut threads = Vec::with_capacity(thread_nodes.len());
        for n in thread_nodes {
            let tt = self.table(n, "[[process.thread]]")?;
            self.check_keys(&tt, THREAD_KEYS, |k| {
                format!("unknown key `{k}` in [[process.thread]]")
            })?;
            threads.push(ThreadSpec {
                steps: self.steps(&tt, declared, &mut handles)?,
            });
        }
        Ok(ProcessSpec {
            name: name.to_string(),
            steps,
            threads,
        })
    }

    /// The `steps` of a host, a process's main thread, or a thread.
    fn steps(&self, t: &Table<'_>, declared: &[Declared], handles: &mut Handles) -> R<Vec<Step>> {
        let Some(n) = t.get("steps") else {
            return Ok(Vec::new());
        };
        let items = self.array(
            n,
            "steps",
            "an array of steps, like [ { op = \"startup\" } ]",
        )?;
        if let Some(extra) = items.get(MAX_STEPS_PER_THREAD) {
            return Err(self.err(
                &extra.loc,
                format!(
                    "{} steps in one thread, over the limit MAX_STEPS_PER_THREAD = {MAX_STEPS_PER_THREAD}",
                    items.len()
                ),
                None,
            ));
        }
        let mut steps = Vec::with_capacity(items.len());
        let mut prev: Option<&'static str> = None;
        for item in items {
            let (step, op_loc) = self.step(item, declared, handles, prev)?;
            let op = step.op();
            if let Some(p @ ("exit" | "crash")) = prev {
                return Err(self.err(
                    op_loc,
                    format!("step `{op}` comes after `{p}` in the same thread and never runs"),
                    Some(format!("`{p}` as the last step of its thread")),
                ));
            }
            if op == "expect" {
                match prev {
                    None => {
                        return Err(self.err(
                            op_loc,
                            "`expect` is the first step of its thread: there is no step before it to check",
                            Some("a step before `expect`".to_string()),
                        ));
                    }
                    Some(p @ ("expect" | "sleep")) => {
                        return Err(self.err(
                            op_loc,
                            format!("`expect` follows `{p}`, which has no outcome to check"),
                            Some("`expect` right after a step that calls Winsock".to_string()),
                        ));
                    }
                    Some(_) => {}
                }
            }
            prev = Some(op);
            steps.push(step);
        }
        Ok(steps)
    }

    /// One step; `prev` is the op of the step before it in its thread.
    fn step<'n>(
        &self,
        n: &'n Node,
        declared: &[Declared],
        handles: &mut Handles,
        prev: Option<&'static str>,
    ) -> R<(Step, &'n Loc)> {
        let ops_expected = one_of(Step::OPS);
        let t = self.table(n, "a step")?;
        let op_node = t.get("op").ok_or_else(|| {
            self.err(
                &n.loc,
                "step has no `op`",
                Some(format!("`op`: {ops_expected}")),
            )
        })?;
        let op = self
            .string(op_node, "op")
            .map_err(|_| self.type_error(op_node, "op", &ops_expected))?;
        let Some(keys) = op_keys(op) else {
            return Err(self.err(&op_node.loc, format!("unknown op \"{op}\""), ops_expected));
        };
        let mut allowed = vec!["op"];
        allowed.extend_from_slice(keys);
        self.check_keys(&t, &allowed, |k| format!("op \"{op}\" has no key `{k}`"))?;

        let t = Table {
            what: format!("op \"{op}\""),
            ..t
        };
        let buffer = |key: &str| -> R<u32> {
            match t.get(key) {
                None => Ok(DEFAULT_BUFFER),
                Some(b) => self.u32_of(b, key, MAX_BUFFER_BYTES, Some("MAX_BUFFER_BYTES")),
            }
        };
        let service_name = || -> R<Option<String>> {
            t.get("name")
                .map(|s| self.bounded_string(s, "name"))
                .transpose()
        };
        let flags = |default: LupFlags| -> R<LupFlags> {
            Ok(t.get("flags")
                .map(|f| self.flags(f))
                .transpose()?
                .unwrap_or(default))
        };
        let provider = || -> R<Guid> {
            let p = self.require(&t, "provider", "the name or id of a [[provider]]")?;
            self.provider_ref(p, declared, false)
        };

        let step = match op {
            "startup" => Step::Startup {
                version: t
                    .get("version")
                    .map(|v| self.version(v))
                    .transpose()?
                    .unwrap_or(DEFAULT_VERSION),
            },
            "cleanup" => Step::Cleanup,
            "exit" => Step::Exit,
            "crash" => Step::Crash,
            "lookup" => Step::Lookup {
                target: self.target(&t, declared)?,
                name: service_name()?,
                flags: flags(LupFlags::EMPTY)?,
                next: match t.get("next") {
                    None => NextCount::All,
                    Some(v) => self.next_count(v)?,
                },
                buffer: buffer("buffer")?,
            },
            "lookup_begin" => {
                let target = self.target(&t, declared)?;
                let name = service_name()?;
                let flags = flags(LupFlags::EMPTY)?;
                let as_node = self.require(&t, "as", "a name for the lookup handle")?;
                let as_name = self.name(as_node, "as")?;
                if let Some((_, loc)) = handles.defined.iter().find(|(h, _)| *h == as_name) {
                    return Err(self.err(
                        &as_node.loc,
                        format!(
                            "handle \"{as_name}\" is already defined by a lookup_begin{} in {}",
                            self.src.at_line(loc),
                            handles.owner
                        ),
                        Some(
                            "a handle name no other lookup_begin of this process uses".to_string(),
                        ),
                    ));
                }
                handles.defined.push((as_name.clone(), as_node.loc.clone()));
                Step::LookupBegin {
                    target,
                    name,
                    flags,
                    as_name,
                }
            }
            "lookup_next" => {
                let handle = self.handle(&t, handles)?;
                let flags = t.get("flags").map(|f| self.flags(f)).transpose()?;
                let buffer = match t.get("buffer") {
                    Some(b) if matches!(&b.kind, Kind::Str(s) if s == "required") => {
                        if !handles.nexted.contains(&handle) {
                            return Err(self.err(
                                &b.loc,
                                format!(
                                    "`buffer = \"required\"` on handle \"{handle}\", but no earlier \
                                     lookup_next of {} uses that handle (no WSAEFAULT can have \
                                     written a length back)",
                                    handles.owner
                                ),
                                Some(
                                    "a number of bytes, or \"required\" after a lookup_next of the \
                                     same handle"
                                        .to_string(),
                                ),
                            ));
                        }
                        NextBuffer::Required
                    }
                    Some(b) if matches!(b.kind, Kind::Str(_)) => {
                        return Err(self.type_error(
                            b,
                            "buffer",
                            "a number of bytes, or \"required\"",
                        ));
                    }
                    _ => NextBuffer::Bytes(buffer("buffer")?),
                };
                if !handles.nexted.contains(&handle) {
                    handles.nexted.push(handle.clone());
                }
                Step::LookupNext {
                    handle,
                    flags,
                    buffer,
                }
            }
            "lookup_end" => Step::LookupEnd {
                handle: self.handle(&t, handles)?,
            },
            "set_service" => {
                let a = self.require(&t, "action", "one of register, deregister, delete")?;
                let s = self.string(a, "action")?;
                let action = SetServiceOp::parse(s).ok_or_else(|| {
                    self.err(
                        &a.loc,
                        format!("unknown action \"{s}\""),
                        one_of(SetServiceOp::ALL.map(SetServiceOp::action)),
                    )
                })?;
                Step::SetService {
                    action,
                    target: self.target(&t, declared)?,
                    name: service_name()?,
                    addrs: t
                        .get("addrs")
                        .map(|a| self.addrs(a))
                        .transpose()?
                        .unwrap_or_default(),
                    multiple: t
                        .get("multiple")
                        .map(|m| self.boolean(m, "multiple"))
                        .transpose()?
                        .unwrap_or(false),
                }
            }
            "enum_providers" => Step::EnumProviders {
                buffer: buffer("buffer")?,
            },
            "advertise" => Step::Advertise {
                provider: provider()?,
            },
            "unadvertise" => Step::Unadvertise {
                provider: provider()?,
            },
            "install" => Step::Install {
                provider: provider()?,
            },
            "uninstall" => Step::Uninstall {
                provider: provider()?,
            },
            "enable" => Step::Enable {
                provider: provider()?,
            },
            "disable" => Step::Disable {
                provider: provider()?,
            },
            "sleep" => {
                let us = self.require(&t, "us", "microseconds of virtual time, an integer")?;
                let v = self.int(us, "us", 0, i128::from(MAX_SLEEP_US), Some("MAX_SLEEP_US"))?;
                Step::Sleep {
                    us: u64::try_from(v).map_err(|_| self.type_error(us, "us", "an integer"))?,
                }
            }
            "expect" => Step::Expect(Box::new(self.expectation(&t, declared, prev)?)),
            // op_keys() knows no other op.
            other => {
                return Err(self.err(
                    &op_node.loc,
                    format!("unknown op \"{other}\""),
                    ops_expected,
                ));
            }
        };
        Ok((step, &op_node.loc))
    }

    /// An `expect` step; `prev` is the op it checks (docs/scenario-format.md, "Expectations").
    fn expectation(
        &self,
        t: &Table<'_>,
        declared: &[Declared],
        prev: Option<&'static str>,
    ) -> R<Expectation> {
        let prev_name = prev.unwrap_or("nothing");
        let after = |key: &str, ops: &[&str], what: &str| -> R<()> {
            if prev.is_some_and(|p| ops.contains(&p)) {
                return Ok(());
            }
            let names: Vec<String> = ops.iter().map(|o| format!("`{o}`")).collect();
            Err(self.err(
                t.key_loc(key),
                format!(
                    "`{key}` checks {what}, but the step before this `expect` is `{prev_name}`"
                ),
                Some(format!(
                    "`{key}` only on an `expect` right after {}",
                    names.join(" or ")
                )),
            ))
        };
        let version = t.get("version").map(|v| self.version(v)).transpose()?;
        if version.is_some() {
            after("version", &["startup"], "the version a startup negotiated")?;
        }
        let required = t
            .get("required")
            .map(|n| self.u32_of(n, "required", u32::MAX, None))
            .transpose()?;
        if required.is_some() {
            after(
                "required",
                &["lookup", "lookup_next", "enum_providers"],
                "the length a WSAEFAULT wrote back",
            )?;
        }
        let results = match t.get("results") {
            None => None,
            Some(n) => {
                after(
                    "results",
                    &["lookup", "lookup_next"],
                    "the results of a lookup",
                )?;
                let list = self.expected_results(n, declared)?;
                if prev == Some("lookup_next")
                    && let Kind::Array(items) = &n.kind
                    && let Some(extra) = items.get(1)
                {
                    return Err(self.err(
                        &extra.loc,
                        format!(
                            "`results` lists {} results, but a lookup_next returns at most one",
                            list.len()
                        ),
                        Some("a list of one result, or [] for none".to_string()),
                    ));
                }
                Some(list)
            }
        };
        let ret = match t.get("ret") {
            None => None,
            Some(r) => {
                let v = self.int(r, "ret", i128::from(i64::MIN), i128::from(i64::MAX), None)?;
                Some(i64::try_from(v).map_err(|_| self.type_error(r, "ret", "an integer"))?)
            }
        };
        let no_result_of_next =
            prev == Some("lookup_next") && results.as_ref().is_some_and(Vec::is_empty);
        let err = match t.get("err") {
            Some(e) => self.expect_err(e)?,
            None if required.is_some() => ExpectErr::Is(Some(WsaError::EFAULT)),
            None if no_result_of_next => ExpectErr::AnyFailure,
            None if version.is_some() || results.is_some() => ExpectErr::Is(None),
            None => {
                return Err(self.err(
                    &t.node.loc,
                    format!("{} has no `err`", t.what),
                    Some(format!(
                        "`err`: {}, or one of `version`, `results`, `required`",
                        errors_expected()
                    )),
                ));
            }
        };
        let show = |e: &ExpectErr| match e {
            ExpectErr::Is(None) => "success".to_string(),
            ExpectErr::Is(Some(e)) => e.to_string(),
            ExpectErr::OneOf(_) => "one of several errors".to_string(),
            ExpectErr::AnyFailure => "any failure".to_string(),
        };
        if required.is_some() && err != ExpectErr::Is(Some(WsaError::EFAULT)) {
            return Err(self.err(
                t.key_loc("required"),
                format!(
                    "`required` is the length a WSAEFAULT writes back, but `err` expects {}",
                    show(&err)
                ),
                Some("`err = \"WSAEFAULT\"` (or no `err`) with `required`".to_string()),
            ));
        }
        if version.is_some() && err != ExpectErr::Is(None) {
            return Err(self.err(
                t.key_loc("version"),
                format!(
                    "`version` is what a successful startup negotiated, but `err` expects {}",
                    show(&err)
                ),
                Some("`err = \"NO_ERROR\"` (or no `err`) with `version`".to_string()),
            ));
        }
        if prev == Some("lookup_next") && results.is_some() {
            let contradiction = if no_result_of_next {
                err.accepts(None)
            } else {
                !err.accepts(None)
            };
            if contradiction {
                return Err(self.err(
                    t.key_loc("results"),
                    format!(
                        "`results` of a lookup_next {} but `err` expects {}",
                        if no_result_of_next {
                            "says it returns no result (it fails),"
                        } else {
                            "lists a result (it succeeds),"
                        },
                        show(&err)
                    ),
                    Some("`results = []` with a failure, or one result with success".to_string()),
                ));
            }
        }
        Ok(Expectation {
            err,
            ret,
            version,
            results,
            required,
        })
    }

    /// `err` of an `expect`: an error (or success), a list of them, or `"any"`.
    fn expect_err(&self, n: &Node) -> R<ExpectErr> {
        match &n.kind {
            Kind::Str(s) if s == "any" => Ok(ExpectErr::AnyFailure),
            Kind::Array(items) => {
                if items.is_empty() {
                    return Err(self.err(
                        &n.loc,
                        "`err` is an empty list",
                        Some("a list of at least one error".to_string()),
                    ));
                }
                if let Some(extra) = items.get(MAX_EXPECT_ERRORS) {
                    return Err(self.err(
                        &extra.loc,
                        format!(
                            "{} errors, over the limit MAX_EXPECT_ERRORS = {MAX_EXPECT_ERRORS}",
                            items.len()
                        ),
                        None,
                    ));
                }
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    if matches!(&item.kind, Kind::Str(s) if s == "any") {
                        return Err(self.err(
                            &item.loc,
                            "\"any\" in a list of errors",
                            Some("`err = \"any\"` alone, or a list of errors".to_string()),
                        ));
                    }
                    if matches!(item.kind, Kind::Array(_)) {
                        return Err(self.type_error(item, "err", &errors_expected()));
                    }
                    list.push(self.wsa_error(item)?);
                }
                Ok(ExpectErr::OneOf(list))
            }
            _ => Ok(ExpectErr::Is(self.wsa_error(n)?)),
        }
    }

    /// `results` of an `expect`: `[ { name, addrs, provider }, … ]`, each key optional.
    fn expected_results(&self, n: &Node, declared: &[Declared]) -> R<Vec<ExpectedResult>> {
        let items = self.array(
            n,
            "results",
            "an array of tables like { name = \"alice@example.com\", addrs = [\"192.0.2.10:25\"], provider = \"mail\" }",
        )?;
        if let Some(extra) = items.get(MAX_EXPECT_RESULTS) {
            return Err(self.err(
                &extra.loc,
                format!(
                    "{} results, over the limit MAX_EXPECT_RESULTS = {MAX_EXPECT_RESULTS}",
                    items.len()
                ),
                None,
            ));
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let r = self.table(item, "a result of `results`")?;
            self.check_keys(&r, RESULT_KEYS, |k| {
                format!("unknown key `{k}` in a result of `results`")
            })?;
            out.push(ExpectedResult {
                name: r
                    .get("name")
                    .map(|s| self.bounded_string(s, "name"))
                    .transpose()?,
                addrs: r.get("addrs").map(|a| self.addrs(a)).transpose()?,
                provider: r
                    .get("provider")
                    .map(|p| self.provider_ref(p, declared, false))
                    .transpose()?,
            });
        }
        Ok(out)
    }

    /// The top-level `expect_calls`.
    fn expect_calls(
        &self,
        n: &Node,
        declared: &[Declared],
        procs: &ProcNames,
    ) -> R<Vec<ExpectCalls>> {
        let items = self.array(
            n,
            "expect_calls",
            "an array of tables like { provider = \"mail\", fn = \"NSPv2Cleanup\", count = 1 }",
        )?;
        if let Some(extra) = items.get(MAX_EXPECT_CALLS) {
            return Err(self.err(
                &extra.loc,
                format!(
                    "{} entries in `expect_calls`, over the limit MAX_EXPECT_CALLS = {MAX_EXPECT_CALLS}",
                    items.len()
                ),
                None,
            ));
        }
        let fns = || one_of(NspFn::ALL.map(NspFn::name));
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let c = self.table(item, "an entry of `expect_calls`")?;
            self.check_keys(&c, EXPECT_CALLS_KEYS, |k| {
                format!("unknown key `{k}` in an entry of `expect_calls`")
            })?;
            let p = self.require(&c, "provider", "the name or id of a [[provider]]")?;
            let provider = self.provider_ref(p, declared, false)?;
            let f = self.require(&c, "fn", &fns())?;
            let name = self
                .string(f, "fn")
                .map_err(|_| self.type_error(f, "fn", &fns()))?;
            let func = NspFn::from_name(name).ok_or_else(|| {
                self.err(
                    &f.loc,
                    format!("unknown provider function \"{name}\""),
                    fns(),
                )
            })?;
            let process = match c.get("process") {
                None => None,
                Some(pn) => {
                    let name = self.name(pn, "process")?;
                    if !procs.contains(&name) {
                        let expected = if procs.list.is_empty() {
                            "the name of a [[process]] or [[host]] (none are declared)".to_string()
                        } else {
                            one_of(procs.list.iter().map(|p| format!("\"{}\"", p.name)))
                        };
                        return Err(self.err(
                            &pn.loc,
                            format!("unknown process \"{name}\""),
                            Some(expected),
                        ));
                    }
                    Some(name)
                }
            };
            let num = |key: &str| -> R<Option<u64>> {
                c.get(key)
                    .map(|v| {
                        let v = self.int(v, key, 0, i128::from(i64::MAX), None)?;
                        u64::try_from(v).map_err(|_| self.type_error(item, key, "an integer"))
                    })
                    .transpose()
            };
            let (count, min, max) = (num("count")?, num("min")?, num("max")?);
            let count = match (count, min, max) {
                (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                    let key = if min.is_some() { "min" } else { "max" };
                    return Err(self.err(
                        c.key_loc(key),
                        format!("an entry of `expect_calls` has both `count` and `{key}`"),
                        Some("`count` alone, or `min` and/or `max`".to_string()),
                    ));
                }
                (Some(n), None, None) => CallCount::Exactly(n),
                (None, None, None) => {
                    return Err(self.err(
                        &item.loc,
                        "an entry of `expect_calls` has none of `count`, `min`, `max`",
                        Some("`count`, or `min` and/or `max`".to_string()),
                    ));
                }
                (None, Some(a), Some(b)) if a > b => {
                    return Err(self.err(
                        c.key_loc("max"),
                        format!("`max` = {b} is below `min` = {a}"),
                        Some(format!("`max` of at least {a}")),
                    ));
                }
                (None, min, max) => CallCount::Between { min, max },
            };
            out.push(ExpectCalls {
                provider,
                func,
                process,
                count,
            });
        }
        Ok(out)
    }

    fn target(&self, t: &Table<'_>, declared: &[Declared]) -> R<Target> {
        match (t.get("namespace"), t.get("provider")) {
            (Some(ns), None) => Ok(Target::Namespace(self.namespace(ns)?)),
            (None, Some(p)) => Ok(Target::Provider(self.provider_ref(p, declared, true)?)),
            (Some(_), Some(_)) => Err(self.err(
                t.key_loc("provider"),
                format!("{} has both `namespace` and `provider`", t.what),
                Some("exactly one of `namespace` and `provider`".to_string()),
            )),
            (None, None) => Err(self.err(
                &t.node.loc,
                format!("{} has neither `namespace` nor `provider`", t.what),
                Some("exactly one of `namespace` and `provider`".to_string()),
            )),
        }
    }

    /// A provider by name or id, resolved to its id. `any_guid`: a GUID no [[provider]]
    /// declares is accepted too (a lookup may name an unknown provider on purpose).
    fn provider_ref(&self, n: &Node, declared: &[Declared], any_guid: bool) -> R<Guid> {
        let expected = || {
            if declared.is_empty() {
                "the name or id of a [[provider]] (none are declared)".to_string()
            } else {
                format!(
                    "the name or id of a [[provider]]: {}",
                    declared
                        .iter()
                        .map(|d| d.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        };
        let s = self
            .string(n, "provider")
            .map_err(|_| self.type_error(n, "provider", &expected()))?;
        if let Some(d) = declared.iter().find(|d| d.name == s) {
            return Ok(d.id);
        }
        let usable = |id: &Guid| any_guid || declared.iter().any(|d| d.id == *id);
        if let Some(id) = s.parse::<Guid>().ok().filter(usable) {
            return Ok(id);
        }
        Err(self.err(
            &n.loc,
            format!("unknown provider \"{s}\""),
            Some(expected()),
        ))
    }

    fn handle(&self, t: &Table<'_>, handles: &Handles) -> R<String> {
        let h = self.require(t, "handle", "the `as` name of an earlier lookup_begin")?;
        let name = self.name(h, "handle")?;
        if handles.defined.iter().any(|(d, _)| *d == name) {
            return Ok(name);
        }
        let expected = if handles.defined.is_empty() {
            "the `as` name of an earlier lookup_begin (there is none yet)".to_string()
        } else {
            one_of(handles.defined.iter().map(|(d, _)| format!("\"{d}\"")))
        };
        Err(self.err(
            &h.loc,
            format!(
                "handle \"{name}\" is not defined by an earlier lookup_begin in {}",
                handles.owner
            ),
            Some(expected),
        ))
    }

    fn version(&self, n: &Node) -> R<(u8, u8)> {
        let expected = "\"major.minor\" with each part from 0 to 255, like \"2.2\"";
        let text = match &n.kind {
            Kind::Str(s) => s.as_str(),
            Kind::Float(_, text) => text.as_str(),
            _ => return Err(self.type_error(n, "version", expected)),
        };
        let part = |s: &str| -> Option<u8> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        let parsed = text
            .split_once('.')
            .and_then(|(major, minor)| Some((part(major)?, part(minor)?)));
        parsed.ok_or_else(|| {
            self.err(
                &n.loc,
                format!("bad version \"{text}\""),
                Some(expected.to_string()),
            )
        })
    }

    fn next_count(&self, n: &Node) -> R<NextCount> {
        match &n.kind {
            Kind::Str(s) if s == "all" => Ok(NextCount::All),
            Kind::Str(s) => Err(self.err(
                &n.loc,
                format!("bad `next` \"{s}\""),
                Some(format!("\"all\" or a count from 0 to {MAX_NEXT_COUNT}")),
            )),
            Kind::Int(_) => Ok(NextCount::Count(self.u32_of(
                n,
                "next",
                MAX_NEXT_COUNT,
                Some("MAX_NEXT_COUNT"),
            )?)),
            _ => Err(self.type_error(n, "next", "\"all\" or a count")),
        }
    }

    /// A list of flag names or numbers (or a single one), OR-ed.
    fn flags(&self, n: &Node) -> R<LupFlags> {
        let one = |item: &Node| -> R<LupFlags> {
            match &item.kind {
                Kind::Str(s) => LupFlags::parse(s).ok_or_else(|| {
                    self.err(&item.loc, format!("unknown flag \"{s}\""), flags_expected())
                }),
                Kind::Int(_) => Ok(LupFlags(self.u32_of(item, "flags", u32::MAX, None)?)),
                _ => Err(self.type_error(item, "flags", &flags_expected())),
            }
        };
        match &n.kind {
            Kind::Array(items) => items
                .iter()
                .try_fold(LupFlags::EMPTY, |acc, item| Ok(acc | one(item)?)),
            _ => one(n),
        }
    }

    /// `"NO_ERROR"`, `"0"` and `0` are success (`None`).
    fn wsa_error(&self, n: &Node) -> R<Option<WsaError>> {
        match &n.kind {
            Kind::Str(s) if s == "NO_ERROR" || s == "0" => Ok(None),
            Kind::Str(s) => WsaError::parse(s).map(Some).ok_or_else(|| {
                self.err(&n.loc, format!("unknown error \"{s}\""), errors_expected())
            }),
            Kind::Int(_) => Ok(WsaError::from_code(self.u32_of(
                n,
                "err",
                u32::MAX,
                None,
            )?)),
            _ => Err(self.type_error(n, "err", &errors_expected())),
        }
    }

    fn addrs(&self, n: &Node) -> R<Vec<SocketAddr>> {
        let expected = "an IP address with a port, like \"192.0.2.10:25\" or \"[2001:db8::1]:25\"";
        let items = self.array(n, "addrs", "an array of addresses like \"192.0.2.10:25\"")?;
        if let Some(extra) = items.get(MAX_ADDRS) {
            return Err(self.err(
                &extra.loc,
                format!(
                    "{} addresses, over the limit MAX_ADDRS = {MAX_ADDRS}",
                    items.len()
                ),
                None,
            ));
        }
        items
            .iter()
            .map(|item| {
                let s = self
                    .string(item, "addrs")
                    .map_err(|_| self.type_error(item, "addrs", expected))?;
                s.parse::<SocketAddr>().map_err(|_| {
                    self.err(
                        &item.loc,
                        format!("bad address \"{s}\""),
                        Some(expected.to_string()),
                    )
                })
            })
            .collect()
    }
}
