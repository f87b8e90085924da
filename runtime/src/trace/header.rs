//! Line 1 of a trace: format version, mode, seed, policies and the embedded scenario.

use super::json::DecodeError;
use crate::scenario::limits::{
    MAX_DEPTH, MAX_HOSTS, MAX_PROCESSES, MAX_PROVIDERS, MAX_STEPS_PER_THREAD,
    MAX_THREADS_PER_PROCESS,
};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::Cell;
use std::fmt::{self, Write};

/// The message for a first line that is not even the start of a JSON object.
pub const NOT_A_TRACE: &str = "this is not an nsptrace file (the first line is not JSON)";

/// The most JSON values (numbers, strings, booleans, nulls, arrays, objects) a header may hold.
/// A 1 MiB scenario file has fewer than about 600,000 values once every default and flag name
/// is written out (measured on the worst cases known, see `MAX_HEADER_LINE_BYTES`).
pub const MAX_HEADER_VALUES: usize = 2 * 1024 * 1024;

/// At most this many characters of an input value are quoted back in an error message.
pub const MAX_QUOTED_CHARS: usize = 80;

/// `s`, cut to [`MAX_QUOTED_CHARS`] characters (with `…` when cut).
pub fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// The format version this nspsim writes and reads.
pub const VERSION: u32 = 1;

/// Sim (deterministic scheduler) or live (real threads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Sim,
    Live,
}

impl Mode {
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Sim => "sim",
            Mode::Live => "live",
        }
    }
}

/// The trace header. A header read from a trace holds its scenario as JSON (`S = Value`); a
/// run writing its trace holds the scenario itself (`TraceHeader<&Scenario>`), which
/// serializes straight into the line without a JSON tree in between.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceHeader<S = Value> {
    pub version: u32,
    pub mode: Mode,
    pub seed: u64,
    pub profile: String,
    pub startup_policy: String,
    /// The whole scenario that was run, so the trace replays from the file alone.
    pub scenario: S,
}

impl<S: serde::Serialize> TraceHeader<S> {
    /// Line 1, with its `\n`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let text = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        let _ = writeln!(
            out,
            "{{\"nsptrace\":{},\"mode\":\"{}\",\"seed\":{},\"profile\":{},\"startup_policy\":{},\"scenario\":{}}}",
            self.version,
            self.mode.name(),
            self.seed,
            text(&self.profile),
            text(&self.startup_policy),
            serde_json::to_string(&self.scenario).unwrap_or_else(|_| "{}".into()),
        );
        out
    }
}

impl TraceHeader {
    /// Parses line 1 (without its `\n`). The embedded scenario's limits (processes, providers,
    /// hosts, threads, steps, nesting; see [`crate::scenario::limits`]) are enforced while the
    /// JSON is read, so a hostile header is refused after at most one table past a limit, not
    /// after it has all been built ([`MAX_HEADER_VALUES`] bounds the rest). The scenario itself
    /// is validated by the scenario loader ([`TraceHeader::scenario`]).
    pub fn decode(line: &str) -> Result<TraceHeader, DecodeError> {
        if !line.starts_with('{') {
            return Err(DecodeError(NOT_A_TRACE.to_string()));
        }
        let mut de = serde_json::Deserializer::from_str(line);
        let value = bounded_value(&mut de)?;
        de.end()
            .map_err(|err| DecodeError(format!("the header is not valid JSON: {err}")))?;
        TraceHeader::from_value(value)
    }

    /// Reads the header's JSON object from `input`, reading nothing past its closing `}`
    /// (what follows on the line is the caller's). The limits are those of
    /// [`TraceHeader::decode`], enforced as the bytes arrive.
    pub fn read_from<R: std::io::Read>(input: R) -> Result<TraceHeader, DecodeError> {
        let mut de = serde_json::Deserializer::from_reader(input);
        let value = bounded_value(&mut de)?;
        TraceHeader::from_value(value)
    }

    fn from_value(value: Value) -> Result<TraceHeader, DecodeError> {
        let e = |m: &str| DecodeError(m.to_string());
        let o = value
            .as_object()
            .ok_or_else(|| e("the header must be a JSON object"))?;
        let version = o.get("nsptrace").and_then(Value::as_u64).ok_or_else(|| {
            e("the header needs `nsptrace`, the format version (this is not an nsptrace file?)")
        })?;
        if version != u64::from(VERSION) {
            return Err(DecodeError(format!(
                "nsptrace version {version} is not supported; this nspsim reads version {VERSION}"
            )));
        }
        let text = |k: &str| {
            o.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| DecodeError(format!("the header needs `{k}` as a string")))
        };
        let mode = match text("mode")?.as_str() {
            "sim" => Mode::Sim,
            "live" => Mode::Live,
            other => {
                return Err(DecodeError(format!(
                    "`mode` must be \"sim\" or \"live\", not \"{}\"",
                    clip(other)
                )));
            }
        };
        Ok(TraceHeader {
            version: VERSION,
            mode,
            seed: o
                .get("seed")
                .and_then(Value::as_u64)
                .ok_or_else(|| e("the header needs `seed` as a non-negative integer"))?,
            profile: text("profile")?,
            startup_policy: text("startup_policy")?,
            scenario: o
                .get("scenario")
                .cloned()
                .ok_or_else(|| e("the header needs `scenario`"))?,
        })
    }
}

impl TraceHeader {
    /// The embedded scenario, validated exactly as `replay` and `run` validate one (the same
    /// loader, with `registry`'s provider kinds), with the header's `profile` and
    /// `startup_policy` applied (they win over the scenario's own). `Err` is the loader's
    /// message, or which header value is unknown.
    pub fn scenario(
        &self,
        registry: &crate::registry::Registry,
    ) -> Result<crate::scenario::Scenario, String> {
        use crate::config::{Profile, StartupPolicy};
        let mut scenario = crate::scenario::Scenario::from_json_with(&self.scenario, registry)
            .map_err(|e| {
                // JSON errors carry no position of their own (their message names the path).
                let expected = e.expected.map(|x| format!("; expected {x}"));
                format!(
                    "the embedded scenario is invalid: {}{}",
                    e.message,
                    expected.unwrap_or_default()
                )
            })?;
        scenario.profile = Profile::from_name(&self.profile)
            .ok_or_else(|| format!("unknown profile \"{}\" in the header", clip(&self.profile)))?;
        scenario.startup_policy =
            StartupPolicy::from_name(&self.startup_policy).ok_or_else(|| {
                format!(
                    "unknown startup_policy \"{}\" in the header",
                    clip(&self.startup_policy)
                )
            })?;
        Ok(scenario)
    }
}

/// One JSON value of a header, read with the limits of [`Bounded`].
fn bounded_value<'de, R: serde_json::de::Read<'de>>(
    de: &mut serde_json::Deserializer<R>,
) -> Result<Value, DecodeError> {
    let budget = Cell::new(MAX_HEADER_VALUES);
    Bounded {
        shape: Shape::Header,
        depth: 0,
        budget: &budget,
    }
    .deserialize(de)
    .map_err(|err| {
        if err.is_data() {
            DecodeError(format!("the header is refused: {err}"))
        } else {
            DecodeError(format!("the header is not valid JSON: {err}"))
        }
    })
}

/// Where a value sits in the header, for the limits that apply to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Header,
    Scenario,
    /// An array of at most `max` items of shape `item` (`what` and `limit` name it in errors).
    List {
        what: &'static str,
        limit: &'static str,
        max: usize,
        item: Item,
    },
    Table(Item),
    Any,
}

/// Tables whose keys have limits of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item {
    Host,
    Process,
    Thread,
    Other,
}

const STEPS: Shape = Shape::List {
    what: "steps in one thread",
    limit: "MAX_STEPS_PER_THREAD",
    max: MAX_STEPS_PER_THREAD,
    item: Item::Other,
};

impl Shape {
    /// The shape of the value under `key` of a table of this shape.
    fn child(self, key: &str) -> Shape {
        let list = |what, limit, max, item| Shape::List {
            what,
            limit,
            max,
            item,
        };
        match (self, key) {
            (Shape::Header, "scenario") => Shape::Scenario,
            (Shape::Scenario, "provider") => list(
                "[[provider]] tables",
                "MAX_PROVIDERS",
                MAX_PROVIDERS,
                Item::Other,
            ),
            (Shape::Scenario, "host") => {
                list("[[host]] tables", "MAX_HOSTS", MAX_HOSTS, Item::Host)
            }
            (Shape::Scenario, "process") => list(
                "[[process]] tables",
                "MAX_PROCESSES",
                MAX_PROCESSES,
                Item::Process,
            ),
            (Shape::Table(Item::Host | Item::Process | Item::Thread), "steps") => STEPS,
            (Shape::Table(Item::Process), "thread") => list(
                "[[process.thread]] tables of one process",
                "MAX_THREADS_PER_PROCESS - 1",
                MAX_THREADS_PER_PROCESS - 1,
                Item::Thread,
            ),
            _ => Shape::Any,
        }
    }
}

/// Reads one JSON value of a header, enforcing the limits of its [`Shape`], the nesting limit
/// and the header's value budget as it goes.
struct Bounded<'b> {
    shape: Shape,
    /// 0 for the header object; the scenario is at depth 1.
    depth: usize,
    budget: &'b Cell<usize>,
}

impl Bounded<'_> {
    fn count<E: de::Error>(&self) -> Result<(), E> {
        match self.budget.get().checked_sub(1) {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => Err(E::custom(format!(
                "it holds more than MAX_HEADER_VALUES = {MAX_HEADER_VALUES} JSON values"
            ))),
        }
    }

    fn nested<E: de::Error>(&self) -> Result<usize, E> {
        // The scenario is at depth 1 and its own nesting may reach MAX_DEPTH.
        let depth = self.depth + 1;
        if depth > MAX_DEPTH + 1 {
            return Err(E::custom(format!(
                "nesting deeper than the limit MAX_DEPTH = {MAX_DEPTH}"
            )));
        }
        Ok(depth)
    }
}

impl<'de> DeserializeSeed<'de> for Bounded<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Bounded<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.count()?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.count()?;
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.count()?;
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.count()?;
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.count()?;
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.count()?;
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.count()?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.count()?;
        let depth = self.nested()?;
        let (max, item) = match self.shape {
            Shape::List { max, item, .. } => (max, Shape::Table(item)),
            _ => (usize::MAX, Shape::Any),
        };
        let mut items = Vec::new();
        loop {
            let seed = Bounded {
                shape: item,
                depth,
                budget: self.budget,
            };
            let Some(v) = seq.next_element_seed(seed)? else {
                break;
            };
            if items.len() == max
                && let Shape::List { what, limit, .. } = self.shape
            {
                return Err(de::Error::custom(format!(
                    "the embedded scenario has more than {max} {what}, over the limit {limit} = {max}"
                )));
            }
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.count()?;
        let depth = self.nested()?;
        let shape = match self.shape {
            Shape::List { .. } => Shape::Any,
            other => other,
        };
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let seed = Bounded {
                shape: shape.child(&key),
                depth,
                budget: self.budget,
            };
            let v = map.next_value_seed(seed)?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_the_documented_layout_and_round_trips() {
        let h = TraceHeader {
            version: 1,
            mode: Mode::Sim,
            seed: 7,
            profile: "win7".into(),
            startup_policy: "per-process".into(),
            scenario: serde_json::json!({ "name": "crash-after-lookup" }),
        };
        let line = h.encode();
        assert_eq!(
            line,
            "{\"nsptrace\":1,\"mode\":\"sim\",\"seed\":7,\"profile\":\"win7\",\"startup_policy\":\"per-process\",\"scenario\":{\"name\":\"crash-after-lookup\"}}\n"
        );
        assert_eq!(TraceHeader::decode(line.trim_end()), Ok(h));
    }

    #[test]
    fn an_unknown_version_is_refused_by_number() {
        let e = TraceHeader::decode(r#"{"nsptrace":2,"mode":"sim"}"#).expect_err("v2");
        assert_eq!(
            e.0,
            "nsptrace version 2 is not supported; this nspsim reads version 1"
        );
        assert!(TraceHeader::decode(r#"{"mode":"sim"}"#).is_err());
    }
}
