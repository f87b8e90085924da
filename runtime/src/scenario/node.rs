//! One tree for both inputs: a TOML document (every key and value with its byte span) and the
//! JSON form embedded in traces (every value with its path). The parser reads only this tree,
//! so a scenario read back from a trace goes through exactly the checks of a scenario file.

use super::error::{Loc, ScenarioError, Source};
use super::limits::MAX_DEPTH;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub kind: Kind,
    pub loc: Loc,
}

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Null,
    Str(String),
    Int(i128),
    /// The value and its source text (`2.2` stays "2.2").
    Float(f64, String),
    Bool(bool),
    Datetime(String),
    Array(Vec<Node>),
    /// Entries in source order.
    Table(Vec<(Key, Node)>),
}

#[derive(Clone, Debug)]
pub(crate) struct Key {
    pub name: String,
    pub loc: Loc,
}

impl Kind {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Str(_) => "a string",
            Kind::Int(_) => "an integer",
            Kind::Float(..) => "a float",
            Kind::Bool(_) => "a boolean",
            Kind::Datetime(_) => "a datetime",
            Kind::Array(_) => "an array",
            Kind::Table(_) => "a table",
        }
    }
}

/// Parses TOML text into a tree.
pub(crate) fn from_toml(src: &Source<'_>, text: &str) -> Result<Node, ScenarioError> {
    let table = DeTable::parse(text).map_err(|e| {
        let loc = Loc::Span(e.span().unwrap_or(0..0));
        src.error(&loc, e.message().trim_end().to_string(), None)
    })?;
    let span = table.span();
    let value = Spanned::new(span, DeValue::Table(table.into_inner()));
    convert_toml(src, &value, 0)
}

fn convert_toml(
    src: &Source<'_>,
    v: &Spanned<DeValue<'_>>,
    depth: usize,
) -> Result<Node, ScenarioError> {
    let loc = Loc::Span(v.span());
    if depth > MAX_DEPTH {
        return Err(src.error(
            &loc,
            format!("nesting deeper than the limit MAX_DEPTH = {MAX_DEPTH}"),
            None,
        ));
    }
    let kind = match v.get_ref() {
        DeValue::String(s) => Kind::Str(s.to_string()),
        DeValue::Integer(i) => match i128::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Kind::Int(n),
            Err(_) => {
                return Err(src.error(
                    &loc,
                    format!("integer {i} is out of range"),
                    Some("an integer that fits in 64 bits".into()),
                ));
            }
        },
        DeValue::Float(f) => {
            let text = f.as_str().to_string();
            match text.parse::<f64>() {
                Ok(x) => Kind::Float(x, text),
                Err(_) => Kind::Float(f64::NAN, text),
            }
        }
        DeValue::Boolean(b) => Kind::Bool(*b),
        DeValue::Datetime(d) => Kind::Datetime(d.to_string()),
        DeValue::Array(a) => Kind::Array(
            a.iter()
                .map(|item| convert_toml(src, item, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        DeValue::Table(t) => {
            let mut entries = Vec::with_capacity(t.len());
            for (k, v) in t.iter() {
                let key = Key {
                    name: k.get_ref().to_string(),
                    loc: Loc::Span(k.span()),
                };
                entries.push((key, convert_toml(src, v, depth + 1)?));
            }
            // Source order, so that the first error reported is the first in the file.
            entries.sort_by_key(|(k, _)| k.loc.start());
            Kind::Table(entries)
        }
    };
    Ok(Node { kind, loc })
}

/// A JSON value as a tree; locations are paths like `process[0].steps[2].namespace`.
pub(crate) fn from_json(src: &Source<'_>, v: &serde_json::Value) -> Result<Node, ScenarioError> {
    convert_json(src, v, String::new(), 0)
}

fn convert_json(
    src: &Source<'_>,
    v: &serde_json::Value,
    path: String,
    depth: usize,
) -> Result<Node, ScenarioError> {
    use serde_json::Value;
    let loc = Loc::Path(path.clone());
    if depth > MAX_DEPTH {
        return Err(src.error(
            &loc,
            format!("nesting deeper than the limit MAX_DEPTH = {MAX_DEPTH}"),
            None,
        ));
    }
    let kind = match v {
        Value::Null => Kind::Null,
        Value::Bool(b) => Kind::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Kind::Int(i128::from(i))
            } else if let Some(u) = n.as_u64() {
                Kind::Int(i128::from(u))
            } else {
                Kind::Float(n.as_f64().unwrap_or(f64::NAN), n.to_string())
            }
        }
        Value::String(s) => Kind::Str(s.clone()),
        Value::Array(a) => Kind::Array(
            a.iter()
                .enumerate()
                .map(|(i, item)| convert_json(src, item, format!("{path}[{i}]"), depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => {
            let mut entries = Vec::with_capacity(o.len());
            for (k, item) in o {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let key = Key {
                    name: k.clone(),
                    loc: Loc::Path(child.clone()),
                };
                entries.push((key, convert_json(src, item, child, depth + 1)?));
            }
            Kind::Table(entries)
        }
    };
    Ok(Node { kind, loc })
}

/// A TOML (or JSON) value as the JSON given to a provider kind's `options`.
pub(crate) fn to_json(src: &Source<'_>, node: &Node) -> Result<serde_json::Value, ScenarioError> {
    use serde_json::Value;
    Ok(match &node.kind {
        Kind::Null => Value::Null,
        Kind::Str(s) | Kind::Datetime(s) => Value::String(s.clone()),
        Kind::Int(i) => {
            if let Ok(n) = i64::try_from(*i) {
                Value::from(n)
            } else if let Ok(n) = u64::try_from(*i) {
                Value::from(n)
            } else {
                return Err(src.error(
                    &node.loc,
                    format!("integer {i} is out of range"),
                    Some("an integer that fits in 64 bits".into()),
                ));
            }
        }
        Kind::Float(f, text) => match serde_json::Number::from_f64(*f) {
            Some(n) => Value::Number(n),
            None => {
                return Err(src.error(
                    &node.loc,
                    format!("float {text} has no JSON form"),
                    Some("a finite number".into()),
                ));
            }
        },
        Kind::Bool(b) => Value::Bool(*b),
        Kind::Array(items) => Value::Array(
            items
                .iter()
                .map(|n| to_json(src, n))
                .collect::<Result<_, _>>()?,
        ),
        Kind::Table(entries) => {
            let mut map = serde_json::Map::new();
            for (k, v) in entries {
                map.insert(k.name.clone(), to_json(src, v)?);
            }
            Value::Object(map)
        }
    })
}
