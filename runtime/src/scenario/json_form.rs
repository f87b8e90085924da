//! The scenario's JSON form (a trace header's `scenario`), described once and written straight
//! from the model by serde.
//!
//! [`Scenario::to_json`] and every trace header come from this one description: a header
//! serializes the model directly, so recording a run does not first build (and then drop) a
//! JSON tree of its whole scenario, and `to_json` is the same serialization into a [`Value`].
//! An object keeps its keys sorted as they are put ([`Obj`]), in the byte order serde_json's
//! map sorts them, so both give the same text.
//!
//! The form uses the scenario file's own keys and Windows names, with every default written
//! out, so the `scenario` of a trace header reads like the file it came from and
//! [`Scenario::from_json`] gives back an equal value.

use super::model::{
    CallCount, ExpectCalls, ExpectErr, ExpectedResult, NextBuffer, NextCount, ProcessSpec,
    ProviderSpec, Scenario, Step, Target,
};
use crate::catalog::{Authority, Napi};
use crate::wsa::{Guid, LupFlags, Namespace, WsaError};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use smallvec::SmallVec;
use std::fmt::Display;
use std::net::SocketAddr;

/// `value`'s JSON form as a [`Value`].
pub(crate) fn to_value<T: Serialize>(value: &T) -> Value {
    // Every object of the form has string keys and nothing in it reports an error, so
    // serializing into a `Value` cannot fail; `Null` only keeps this free of a panic path.
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// One value of the form, borrowed from the model where it can be; lists of model items are
/// written as they are walked.
enum J<'a> {
    Str(&'a str),
    Owned(String),
    Guid(Guid),
    U64(u64),
    I64(i64),
    Bool(bool),
    Value(&'a Value),
    Flags(LupFlags),
    Addrs(&'a [SocketAddr]),
    Errors(&'a [Option<WsaError>]),
    Napi(&'a Napi),
    Domains(&'a Napi),
    Steps(&'a [Step]),
    Providers(&'a [ProviderSpec]),
    Hosts(&'a Scenario),
    Processes(&'a Scenario),
    Threads(&'a ProcessSpec),
    Results(&'a [ExpectedResult]),
    ExpectCalls(&'a [ExpectCalls]),
}

/// An object: its entries kept sorted by key; putting a key again replaces its value, as a
/// map's insert does.
struct Obj<'a>(SmallVec<[(&'static str, J<'a>); 8]>);

impl<'a> Obj<'a> {
    fn new() -> Self {
        Obj(SmallVec::new())
    }

    fn put(&mut self, key: &'static str, value: J<'a>) {
        match self.0.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(at) => self.0[at].1 = value,
            Err(at) => self.0.insert(at, (key, value)),
        }
    }
}

impl Serialize for Obj<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A value written by its `Display` form, as a JSON string.
struct Shown<T>(T);

impl<T: Display> Serialize for Shown<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl Serialize for J<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            J::Str(v) => s.serialize_str(v),
            J::Owned(v) => s.serialize_str(v),
            J::Guid(g) => s.collect_str(g),
            J::U64(n) => s.serialize_u64(*n),
            J::I64(n) => s.serialize_i64(*n),
            J::Bool(b) => s.serialize_bool(*b),
            J::Value(v) => v.serialize(s),
            J::Flags(f) => {
                let (names, rest) = flag_parts(*f);
                let rest = (rest != 0).then_some(J::U64(u64::from(rest)));
                s.collect_seq(names.into_iter().map(J::Str).chain(rest))
            }
            J::Addrs(list) => s.collect_seq(list.iter().map(Shown)),
            J::Errors(list) => s.collect_seq(list.iter().map(|e| error_form(*e))),
            J::Napi(napi) => {
                let mut table = Obj::new();
                table.put("wildcard", J::Bool(napi.is_wildcard()));
                table.put("domains", J::Domains(napi));
                table.serialize(s)
            }
            J::Domains(napi) => {
                s.collect_seq(napi.domains().unwrap_or(&[]).iter().map(|(domain, level)| {
                    let mut o = Obj::new();
                    o.put("domain", J::Str(domain));
                    o.put("level", J::Str(level.name()));
                    o
                }))
            }
            J::Steps(steps) => s.collect_seq(steps.iter().map(step_form)),
            J::Providers(list) => s.collect_seq(list.iter().map(provider_form)),
            J::Hosts(scenario) => s.collect_seq(scenario.hosts.iter().map(|h| {
                let mut o = Obj::new();
                o.put("name", J::Str(&h.name));
                o.put("steps", J::Steps(&h.steps));
                o
            })),
            J::Processes(scenario) => s.collect_seq(ProcessTables {
                scenario,
                at: 0,
                template: 0,
            }),
            J::Threads(p) => s.collect_seq(p.threads.iter().map(|t| {
                let mut o = Obj::new();
                o.put("steps", J::Steps(&t.steps));
                o
            })),
            J::Results(list) => s.collect_seq(list.iter().map(result_form)),
            J::ExpectCalls(list) => s.collect_seq(list.iter().map(expect_calls_form)),
        }
    }
}

/// Flags as the names of their known bits, and any other bits as one number (0 if none).
fn flag_parts(flags: LupFlags) -> (Vec<&'static str>, u32) {
    let names = flags.names();
    let known = names
        .iter()
        .filter_map(|n| LupFlags::from_name(n))
        .fold(0u32, |acc, f| acc | f.bits());
    (names, flags.bits() & !known)
}

/// A namespace as its Windows name, or its number if it has none.
fn namespace_form(ns: Namespace) -> J<'static> {
    match ns.name() {
        Some(n) => J::Str(n),
        None => J::U64(u64::from(ns.code())),
    }
}

/// An error as its Windows name, or its number if it has none; success is `"NO_ERROR"`.
fn error_form(e: Option<WsaError>) -> J<'static> {
    match e {
        None => J::Str("NO_ERROR"),
        Some(e) => match e.name() {
            Some(n) => J::Str(n),
            None => J::U64(u64::from(e.code())),
        },
    }
}

/// A version as `"major.minor"`.
fn version_form((major, minor): (u8, u8)) -> J<'static> {
    J::Owned(format!("{major}.{minor}"))
}

/// A step: the scenario file's keys, defaults written out.
fn step_form(step: &Step) -> Obj<'_> {
    let mut o = Obj::new();
    o.put("op", J::Str(step.op()));
    fn put_target(o: &mut Obj<'_>, t: &Target) {
        match t {
            Target::Namespace(ns) => o.put("namespace", namespace_form(*ns)),
            Target::Provider(id) => o.put("provider", J::Guid(*id)),
        }
    }
    fn put_name<'a>(o: &mut Obj<'a>, name: &'a Option<String>) {
        if let Some(n) = name {
            o.put("name", J::Str(n));
        }
    }
    match step {
        Step::Startup { version } => o.put("version", version_form(*version)),
        Step::Cleanup | Step::Exit | Step::Crash => {}
        Step::Lookup {
            target,
            name,
            flags,
            next,
            buffer,
        } => {
            put_target(&mut o, target);
            put_name(&mut o, name);
            o.put("flags", J::Flags(*flags));
            let next = match next {
                NextCount::Count(n) => J::U64(u64::from(*n)),
                NextCount::All => J::Str("all"),
            };
            o.put("next", next);
            o.put("buffer", J::U64(u64::from(*buffer)));
        }
        Step::LookupBegin {
            target,
            name,
            flags,
            as_name,
        } => {
            put_target(&mut o, target);
            put_name(&mut o, name);
            o.put("flags", J::Flags(*flags));
            o.put("as", J::Str(as_name));
        }
        Step::LookupNext {
            handle,
            flags,
            buffer,
        } => {
            o.put("handle", J::Str(handle));
            if let Some(f) = flags {
                o.put("flags", J::Flags(*f));
            }
            let buffer = match buffer {
                NextBuffer::Bytes(n) => J::U64(u64::from(*n)),
                NextBuffer::Required => J::Str("required"),
            };
            o.put("buffer", buffer);
        }
        Step::LookupEnd { handle } => o.put("handle", J::Str(handle)),
        Step::SetService {
            action,
            target,
            name,
            addrs,
            multiple,
        } => {
            o.put("action", J::Str(action.action()));
            put_target(&mut o, target);
            put_name(&mut o, name);
            o.put("addrs", J::Addrs(addrs));
            o.put("multiple", J::Bool(*multiple));
        }
        Step::EnumProviders { buffer } => o.put("buffer", J::U64(u64::from(*buffer))),
        Step::Advertise { provider }
        | Step::Unadvertise { provider }
        | Step::Install { provider }
        | Step::Uninstall { provider }
        | Step::Enable { provider }
        | Step::Disable { provider } => o.put("provider", J::Guid(*provider)),
        Step::Sleep { us } => o.put("us", J::U64(*us)),
        Step::Expect(x) => {
            let err = match &x.err {
                ExpectErr::Is(e) => error_form(*e),
                ExpectErr::OneOf(list) => J::Errors(list),
                ExpectErr::AnyFailure => J::Str("any"),
            };
            o.put("err", err);
            if let Some(r) = x.ret {
                o.put("ret", J::I64(r));
            }
            // The forms added after version 1 only when used, so a version 1 scenario's
            // JSON is unchanged.
            if let Some(v) = x.version {
                o.put("version", version_form(v));
            }
            if let Some(results) = &x.results {
                o.put("results", J::Results(results));
            }
            if let Some(n) = x.required {
                o.put("required", J::U64(u64::from(n)));
            }
        }
    }
    o
}

fn result_form(r: &ExpectedResult) -> Obj<'_> {
    let mut o = Obj::new();
    if let Some(n) = &r.name {
        o.put("name", J::Str(n));
    }
    if let Some(a) = &r.addrs {
        o.put("addrs", J::Addrs(a));
    }
    if let Some(p) = r.provider {
        o.put("provider", J::Guid(p));
    }
    o
}

fn expect_calls_form(x: &ExpectCalls) -> Obj<'_> {
    let mut o = Obj::new();
    o.put("provider", J::Guid(x.provider));
    o.put("fn", J::Str(x.func.name()));
    if let Some(p) = &x.process {
        o.put("process", J::Str(p));
    }
    match x.count {
        CallCount::Exactly(c) => o.put("count", J::U64(c)),
        CallCount::Between { min, max } => {
            if let Some(n) = min {
                o.put("min", J::U64(n));
            }
            if let Some(n) = max {
                o.put("max", J::U64(n));
            }
        }
    }
    o
}

fn provider_form(p: &ProviderSpec) -> Obj<'_> {
    let mut o = Obj::new();
    o.put("id", J::Guid(p.id));
    o.put("name", J::Str(&p.name));
    o.put("namespace", namespace_form(p.namespace));
    o.put("kind", J::Str(&p.kind));
    o.put("host", J::Str(&p.host));
    o.put("installed", J::Bool(p.installed));
    o.put("enabled", J::Bool(p.enabled));
    // The shorthand when the data is one (so a v1 scenario's JSON is unchanged), else the
    // `napi` table.
    if let Some(napi) = &p.napi {
        match Authority::of(napi) {
            Some(a) => o.put("authority", J::Str(a.name())),
            None => o.put("napi", J::Napi(napi)),
        }
    }
    o.put("options", J::Value(&p.options));
    o.put("version", J::U64(u64::from(p.version)));
    o
}

fn process_form(p: &ProcessSpec) -> Obj<'_> {
    let mut o = Obj::new();
    o.put("name", J::Str(&p.name));
    o.put("steps", J::Steps(&p.steps));
    o.put("thread", J::Threads(p));
    o
}

/// The `process` list: a template that still holds is written as its table (`count` and the
/// `{i}` name); one that does not (its processes were changed since) as the processes it made.
struct ProcessTables<'a> {
    scenario: &'a Scenario,
    /// The next process.
    at: usize,
    /// The next template not yet passed.
    template: usize,
}

impl<'a> Iterator for ProcessTables<'a> {
    type Item = Obj<'a>;

    fn next(&mut self) -> Option<Obj<'a>> {
        let s = self.scenario;
        let p = s.processes.get(self.at)?;
        let template = s
            .templates
            .get(self.template)
            .filter(|t| t.first <= self.at);
        if template.is_some() {
            self.template += 1;
        }
        if let Some(t) = template.filter(|t| t.first == self.at && t.holds(&s.processes)) {
            let mut table = process_form(p);
            table.put("name", J::Str(&t.name));
            table.put("count", J::U64(u64::from(t.count)));
            self.at += t.count as usize;
            return Some(table);
        }
        self.at += 1;
        Some(process_form(p))
    }
}

impl Serialize for Step {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        step_form(self).serialize(s)
    }
}

impl Serialize for ExpectedResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        result_form(self).serialize(s)
    }
}

impl Serialize for ExpectCalls {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        expect_calls_form(self).serialize(s)
    }
}

impl Serialize for ProviderSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        provider_form(self).serialize(s)
    }
}

impl Serialize for Scenario {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut o = Obj::new();
        o.put("name", J::Str(&self.name));
        if let Some(seed) = self.seed {
            o.put("seed", J::U64(seed));
        }
        o.put("profile", J::Str(self.profile.name()));
        o.put("startup_policy", J::Str(self.startup_policy.name()));
        o.put("provider", J::Providers(&self.providers));
        o.put("host", J::Hosts(self));
        o.put("process", J::Processes(self));
        if !self.expect_calls.is_empty() {
            o.put("expect_calls", J::ExpectCalls(&self.expect_calls));
        }
        o.serialize(s)
    }
}
