//! One trace line: encoding an event with the exact key order of docs/trace-format.md, and decoding
//! it back.
//!
//! Encoding writes straight into a `String` (no intermediate JSON tree) because it runs once
//! per event on the hot path; strings that need escaping go through serde_json. Decoding takes
//! canonical lines by a hand-written fast path ([`super::fast`]) and everything else with
//! serde_json, checking every key, so `encode(decode(line)) == line` for every canonical line.

use super::guid_text::{GuidTexts, write_guid};
use super::header::clip;
use crate::event::{
    ApiFn, CompletionOutcome, Event, ExitHow, FaultKind, Fields, Label, Pid, Role, Stamped, Tid,
};
use crate::provider::NspFn;
use crate::wsa::{Guid, Namespace};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt::Write;

/// Appends one line (with its `\n`) for `s` to `out`.
pub fn encode_event(s: &Stamped, out: &mut String) {
    encode_parts(s.seq, s.t, &s.event, out);
}

/// [`encode_event`] for an event not yet stamped: the recorder numbers events as they come and
/// need not move each into a [`Stamped`] first.
pub fn encode_parts(seq: u64, t: u64, event: &Event, out: &mut String) {
    encode_line(seq, t, event, out, None);
}

/// [`encode_parts`] remembering the text of the GUIDs it writes in `guids`, for a writer of
/// many lines (a trace names the same few providers on most of them).
pub fn encode_parts_with(seq: u64, t: u64, event: &Event, out: &mut String, guids: &mut GuidTexts) {
    encode_line(seq, t, event, out, Some(guids));
}

fn encode_line(seq: u64, t: u64, event: &Event, out: &mut String, guids: Option<&mut GuidTexts>) {
    // A line is rarely longer than this; one reservation saves the growth checks' reallocations.
    out.reserve(256);
    out.push_str("{\"seq\":");
    write_uint(out, seq);
    out.push_str(",\"t\":");
    write_uint(out, t);
    out.push_str(",\"ev\":\"");
    out.push_str(event.kind());
    out.push('"');
    let mut w = Line { out, guids };
    match event {
        Event::ProcessStart { pid, name, role } => {
            w.num(key!("pid"), pid.0);
            w.text(key!("name"), name);
            w.raw_str(key!("role"), role.name());
        }
        Event::ProcessExit { pid, how } => {
            w.num(key!("pid"), pid.0);
            w.raw_str(key!("how"), how.name());
        }
        Event::CatalogInstall {
            provider,
            name,
            namespace,
            version,
            ret,
            err,
        } => {
            w.guid(key!("provider"), provider);
            w.text(key!("name"), name);
            w.num(key!("namespace"), namespace.0);
            w.num(key!("version"), *version);
            w.num(key!("ret"), *ret);
            w.num(key!("err"), *err);
        }
        Event::CatalogUninstall { provider, ret, err } => {
            w.guid(key!("provider"), provider);
            w.num(key!("ret"), *ret);
            w.num(key!("err"), *err);
        }
        Event::CatalogEnable {
            provider,
            enabled,
            ret,
            err,
        } => {
            w.guid(key!("provider"), provider);
            w.key(key!("enabled"));
            w.out.push_str(if *enabled { "true" } else { "false" });
            w.num(key!("ret"), *ret);
            w.num(key!("err"), *err);
        }
        Event::ProviderAdvertise {
            pid,
            provider,
            ret,
            err,
            absent,
        } => {
            w.num(key!("pid"), pid.0);
            w.guid(key!("provider"), provider);
            w.num(key!("ret"), *ret);
            w.num(key!("err"), *err);
            w.key(key!("absent"));
            w.out.push('[');
            for (i, f) in absent.iter().enumerate() {
                if i > 0 {
                    w.out.push(',');
                }
                w.out.push('"');
                w.out.push_str(f.name());
                w.out.push('"');
            }
            w.out.push(']');
        }
        Event::ProviderUnadvertise {
            pid,
            provider,
            ret,
            err,
        } => {
            w.num(key!("pid"), pid.0);
            w.guid(key!("provider"), provider);
            w.num(key!("ret"), *ret);
            w.num(key!("err"), *err);
        }
        Event::ApiCall {
            pid,
            tid,
            call,
            args,
        } => {
            w.num(key!("pid"), pid.0);
            w.num(key!("tid"), tid.0);
            w.raw_str(key!("call"), call.name());
            w.fields(key!("args"), args);
        }
        Event::ApiReturn {
            pid,
            tid,
            call,
            ret,
            err,
            result,
        } => {
            w.num(key!("pid"), pid.0);
            w.num(key!("tid"), tid.0);
            w.raw_str(key!("call"), call.name());
            w.num(key!("ret"), *ret);
            w.num(key!("err"), *err);
            if let Some(result) = result {
                w.fields(key!("result"), result);
            }
        }
        Event::NspCall {
            provider,
            func,
            pid,
            session,
            lookup,
            async_call,
            args,
        } => {
            w.guid(key!("provider"), provider);
            w.raw_str(key!("fn"), func.name());
            w.num(key!("pid"), pid.0);
            w.label_or_null(key!("session"), *session);
            if let Some(l) = lookup {
                w.label(key!("lookup"), *l);
            }
            if let Some(a) = async_call {
                w.label(key!("async"), *a);
            }
            if let Some(args) = args {
                w.fields(key!("args"), args);
            }
        }
        Event::NspReturn {
            provider,
            func,
            pid,
            ret,
            err,
            session,
            lookup,
        } => {
            w.guid(key!("provider"), provider);
            w.raw_str(key!("fn"), func.name());
            w.num(key!("pid"), pid.0);
            w.key(key!("ret"));
            match ret {
                Some(r) => write_int(w.out, i64::from(*r)),
                None => w.out.push_str("null"),
            }
            w.num(key!("err"), *err);
            if let Some(s) = session {
                w.label_or_null(key!("session"), *s);
            }
            if let Some(l) = lookup {
                w.label(key!("lookup"), *l);
            }
        }
        Event::AsyncComplete {
            provider,
            async_call,
            err,
            outcome,
        } => {
            w.guid(key!("provider"), provider);
            w.label(key!("async"), *async_call);
            w.num(key!("err"), *err);
            w.raw_str(key!("outcome"), outcome.name());
        }
        Event::Fault {
            provider,
            func,
            kind,
            detail,
        } => {
            w.guid(key!("provider"), provider);
            w.raw_str(key!("fn"), func.name());
            w.raw_str(key!("kind"), kind.name());
            w.text(key!("detail"), detail);
        }
        Event::Violation { rule, detail } => {
            w.text(key!("rule"), rule);
            w.text(key!("detail"), detail);
        }
        Event::End { events, violations } => {
            w.unum(key!("events"), *events);
            w.unum(key!("violations"), *violations);
        }
    }
    w.out.push_str("}\n");
}

/// `,"k":`, the text before every value after the prefix: one literal, so writing a key is one
/// copy.
macro_rules! key {
    ($k:literal) => {
        concat!(",\"", $k, "\":")
    };
}
use key;

/// Writes `,"k":v` pairs after the common prefix; every key comes from [`key!`].
struct Line<'a> {
    out: &'a mut String,
    guids: Option<&'a mut GuidTexts>,
}

impl Line<'_> {
    #[inline(always)]
    fn key(&mut self, k: &str) {
        self.out.push_str(k);
    }

    #[inline(always)]
    fn num(&mut self, k: &str, v: impl Into<i64>) {
        self.key(k);
        write_int(self.out, v.into());
    }

    #[inline(always)]
    fn unum(&mut self, k: &str, v: u64) {
        self.key(k);
        write_uint(self.out, v);
    }

    /// A string known to need no escaping (our own names).
    #[inline(always)]
    fn raw_str(&mut self, k: &str, v: &str) {
        self.key(k);
        self.out.push('"');
        self.out.push_str(v);
        self.out.push('"');
    }

    #[inline(always)]
    fn text(&mut self, k: &str, v: &str) {
        self.key(k);
        write_str(self.out, v);
    }

    #[inline(always)]
    fn guid(&mut self, k: &str, g: &Guid) {
        self.key(k);
        self.out.push('"');
        match self.guids.as_deref_mut() {
            Some(guids) => self.out.push_str(guids.text(*g)),
            None => write_guid(self.out, g),
        }
        self.out.push('"');
    }

    #[inline(always)]
    fn label(&mut self, k: &str, l: Label) {
        self.key(k);
        self.out.push('"');
        self.out.push(l.kind.prefix());
        write_uint(self.out, u64::from(l.n));
        self.out.push('"');
    }

    #[inline(always)]
    fn label_or_null(&mut self, k: &str, l: Option<Label>) {
        match l {
            Some(l) => self.label(k, l),
            None => {
                self.key(k);
                self.out.push_str("null");
            }
        }
    }

    fn fields(&mut self, k: &str, f: &Fields) {
        self.key(k);
        // A BTreeMap iterates its keys in order, as the format wants.
        self.out.push('{');
        for (i, (key, value)) in f.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            match key {
                // A key written into the program (every key the dispatcher writes, and those
                // the fast reader knows) needs no escaping; one read from a trace may.
                Cow::Borrowed(key) => {
                    debug_assert!(is_plain(key), "{key:?}");
                    self.out.push('"');
                    self.out.push_str(key);
                    self.out.push('"');
                }
                Cow::Owned(key) => write_str(self.out, key),
            }
            self.out.push(':');
            write_value(self.out, value);
        }
        self.out.push('}');
    }
}

/// An unsigned integer in decimal, without the formatting machinery (a hot path).
fn write_uint(out: &mut String, n: u64) {
    // Most numbers in a trace (pids, tids, errors of 0, small counts) are one digit.
    if n < 10 {
        out.push(char::from(b'0' + n as u8));
        return;
    }
    // Two digits per step from a table (itoa, as serde_json formats integers): sequence
    // numbers and times, written on every line, are five or six digits.
    out.push_str(itoa::Buffer::new().format(n));
}

fn write_int(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    write_uint(out, n.unsigned_abs());
}

/// A JSON string, escaped as serde_json escapes it; the common all-plain case is one copy.
fn write_str(out: &mut String, s: &str) {
    if is_plain(s) {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        match serde_json::to_string(s) {
            Ok(escaped) => out.push_str(&escaped),
            Err(_) => out.push_str("\"\""),
        }
    }
}

/// Whether `s` is written as it is between quotes (printable ASCII, no `"` or `\\`).
fn is_plain(s: &str) -> bool {
    s.bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
}

/// A JSON value with object keys in map order (sorted: serde_json's map is a BTreeMap here).
fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => write_uint(out, u),
            (None, Some(i)) => write_int(out, i),
            _ => {
                let _ = write!(out, "{n}");
            }
        },
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, value)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, key);
                out.push(':');
                write_value(out, value);
            }
            out.push('}');
        }
    }
}

/// What is wrong with one line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

/// One line's keys, borrowed from the line where possible: one pass, no JSON tree.
#[derive(serde::Deserialize)]
struct RawLine<'a> {
    seq: Option<Value>,
    t: Option<Value>,
    #[serde(borrow)]
    ev: Option<Cow<'a, str>>,
    pid: Option<Value>,
    tid: Option<Value>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    role: Option<Cow<'a, str>>,
    #[serde(borrow)]
    how: Option<Cow<'a, str>>,
    #[serde(borrow)]
    provider: Option<Cow<'a, str>>,
    namespace: Option<Value>,
    version: Option<Value>,
    /// `Some(Value::Null)` for a void function's `ret`.
    #[serde(default, deserialize_with = "present")]
    ret: Option<Value>,
    err: Option<Value>,
    enabled: Option<Value>,
    absent: Option<Value>,
    #[serde(borrow)]
    call: Option<Cow<'a, str>>,
    args: Option<Fields>,
    result: Option<Fields>,
    #[serde(borrow, rename = "fn")]
    func: Option<Cow<'a, str>>,
    /// `Some(Value::Null)` for a null session.
    #[serde(default, deserialize_with = "present")]
    session: Option<Value>,
    #[serde(borrow)]
    lookup: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "async")]
    async_call: Option<Cow<'a, str>>,
    #[serde(borrow)]
    outcome: Option<Cow<'a, str>>,
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    detail: Option<Cow<'a, str>>,
    #[serde(borrow)]
    rule: Option<Cow<'a, str>>,
    events: Option<Value>,
    violations: Option<Value>,
}

/// Keeps a present `null` as `Some(Value::Null)` (serde would make it `None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    <Value as serde::Deserialize>::deserialize(d).map(Some)
}

fn missing(k: &str) -> DecodeError {
    DecodeError(format!("missing key `{k}`"))
}

fn u64_of(v: &Option<Value>, k: &str) -> Result<u64, DecodeError> {
    v.as_ref()
        .ok_or_else(|| missing(k))?
        .as_u64()
        .ok_or_else(|| DecodeError(format!("`{k}` must be a non-negative integer")))
}

fn u32_of(v: &Option<Value>, k: &str) -> Result<u32, DecodeError> {
    u32::try_from(u64_of(v, k)?).map_err(|_| DecodeError(format!("`{k}` is too large")))
}

fn i32_of(v: &Option<Value>, k: &str) -> Result<i32, DecodeError> {
    v.as_ref()
        .ok_or_else(|| missing(k))?
        .as_i64()
        .and_then(|v| i32::try_from(v).ok())
        .ok_or_else(|| DecodeError(format!("`{k}` must be a 32-bit integer")))
}

fn str_of<'b>(v: &'b Option<Cow<'_, str>>, k: &str) -> Result<&'b str, DecodeError> {
    v.as_deref().ok_or_else(|| missing(k))
}

fn guid_of(v: &Option<Cow<'_, str>>, k: &str) -> Result<Guid, DecodeError> {
    str_of(v, k)?
        .parse()
        .map_err(|e: crate::wsa::GuidParseError| DecodeError(format!("`{k}`: {e}")))
}

fn label_of(s: &str, k: &str) -> Result<Label, DecodeError> {
    Label::parse(s).ok_or_else(|| {
        DecodeError(format!(
            "`{k}`: \"{}\" is not a label like s1, h2, q3 or a4",
            clip(s)
        ))
    })
}

fn opt_label(v: &Option<Cow<'_, str>>, k: &str) -> Result<Option<Label>, DecodeError> {
    v.as_deref().map(|s| label_of(s, k)).transpose()
}

/// A key that must be present and may be null.
fn label_or_null(v: &Option<Value>, k: &str) -> Result<Option<Label>, DecodeError> {
    match v.as_ref().ok_or_else(|| missing(k))? {
        Value::Null => Ok(None),
        Value::String(s) => label_of(s, k).map(Some),
        _ => Err(DecodeError(format!("`{k}` must be a label or null"))),
    }
}

fn func_of(v: &Option<Cow<'_, str>>) -> Result<NspFn, DecodeError> {
    let s = str_of(v, "fn")?;
    NspFn::from_name(s)
        .ok_or_else(|| DecodeError(format!("`fn`: unknown entry point \"{}\"", clip(s))))
}

fn call_of(v: &Option<Cow<'_, str>>) -> Result<ApiFn, DecodeError> {
    let s = str_of(v, "call")?;
    ApiFn::from_name(s)
        .ok_or_else(|| DecodeError(format!("`call`: unknown API function \"{}\"", clip(s))))
}

/// Parses one event line (without its `\n`): a canonical line by the fast path
/// ([`super::fast::decode_canonical`]), anything else by the general one, which words the errors.
pub fn decode_event(line: &str) -> Result<Stamped, DecodeError> {
    match super::fast::decode_canonical(line) {
        Some(s) => Ok(s),
        None => decode_event_general(line),
    }
}

/// [`decode_event`] by serde_json alone, whatever the line: the path that decides what every
/// line the fast path declines means (and the reference the fast path is tested against).
pub fn decode_event_general(line: &str) -> Result<Stamped, DecodeError> {
    if !line.starts_with('{') {
        return match serde_json::from_str::<Value>(line) {
            Err(e) => Err(DecodeError(format!("not JSON: {e}"))),
            Ok(_) => Err(DecodeError("expected a JSON object".into())),
        };
    }
    let r: RawLine =
        serde_json::from_str(line).map_err(|e| DecodeError(format!("not JSON: {e}")))?;
    let seq = u64_of(&r.seq, "seq")?;
    let t = u64_of(&r.t, "t")?;
    let kind = str_of(&r.ev, "ev")?;
    let pid = || u32_of(&r.pid, "pid").map(Pid);
    let event = match kind {
        "process.start" => Event::ProcessStart {
            pid: pid()?,
            name: str_of(&r.name, "name")?.to_string(),
            role: Role::from_name(str_of(&r.role, "role")?)
                .ok_or_else(|| DecodeError("`role` must be \"client\" or \"host\"".into()))?,
        },
        "process.exit" => Event::ProcessExit {
            pid: pid()?,
            how: ExitHow::from_name(str_of(&r.how, "how")?).ok_or_else(|| {
                DecodeError("`how` must be \"exit\", \"crash\" or \"kill\"".into())
            })?,
        },
        "catalog.install" => Event::CatalogInstall {
            provider: guid_of(&r.provider, "provider")?,
            name: str_of(&r.name, "name")?.to_string(),
            namespace: Namespace(u32_of(&r.namespace, "namespace")?),
            version: u32_of(&r.version, "version")?,
            ret: i32_of(&r.ret, "ret")?,
            err: u32_of(&r.err, "err")?,
        },
        "catalog.uninstall" => Event::CatalogUninstall {
            provider: guid_of(&r.provider, "provider")?,
            ret: i32_of(&r.ret, "ret")?,
            err: u32_of(&r.err, "err")?,
        },
        "catalog.enable" => Event::CatalogEnable {
            provider: guid_of(&r.provider, "provider")?,
            enabled: r
                .enabled
                .as_ref()
                .ok_or_else(|| missing("enabled"))?
                .as_bool()
                .ok_or_else(|| DecodeError("`enabled` must be true or false".into()))?,
            ret: i32_of(&r.ret, "ret")?,
            err: u32_of(&r.err, "err")?,
        },
        "provider.advertise" => Event::ProviderAdvertise {
            pid: pid()?,
            provider: guid_of(&r.provider, "provider")?,
            ret: i32_of(&r.ret, "ret")?,
            err: u32_of(&r.err, "err")?,
            absent: match r.absent.as_ref().ok_or_else(|| missing("absent"))? {
                Value::Array(items) => items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .and_then(NspFn::from_name)
                            .filter(|f| f.is_optional())
                    })
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        DecodeError("`absent` must list optional entry points by name".into())
                    })?,
                _ => return Err(DecodeError("`absent` must be an array".into())),
            },
        },
        "provider.unadvertise" => Event::ProviderUnadvertise {
            pid: pid()?,
            provider: guid_of(&r.provider, "provider")?,
            ret: i32_of(&r.ret, "ret")?,
            err: u32_of(&r.err, "err")?,
        },
        "api.call" => Event::ApiCall {
            pid: pid()?,
            tid: Tid(u32_of(&r.tid, "tid")?),
            call: call_of(&r.call)?,
            args: r.args.ok_or_else(|| missing("args"))?,
        },
        "api.return" => Event::ApiReturn {
            pid: pid()?,
            tid: Tid(u32_of(&r.tid, "tid")?),
            call: call_of(&r.call)?,
            ret: i32_of(&r.ret, "ret")?,
            err: u32_of(&r.err, "err")?,
            result: r.result,
        },
        "nsp.call" => Event::NspCall {
            provider: guid_of(&r.provider, "provider")?,
            func: func_of(&r.func)?,
            pid: pid()?,
            session: label_or_null(&r.session, "session")?,
            lookup: opt_label(&r.lookup, "lookup")?,
            async_call: opt_label(&r.async_call, "async")?,
            args: r.args,
        },
        "nsp.return" => Event::NspReturn {
            provider: guid_of(&r.provider, "provider")?,
            func: func_of(&r.func)?,
            pid: pid()?,
            ret: match r.ret.as_ref().ok_or_else(|| missing("ret"))? {
                Value::Null => None,
                _ => Some(i32_of(&r.ret, "ret")?),
            },
            err: u32_of(&r.err, "err")?,
            session: match r.session {
                None => None,
                Some(_) => Some(label_or_null(&r.session, "session")?),
            },
            lookup: opt_label(&r.lookup, "lookup")?,
        },
        "async.complete" => Event::AsyncComplete {
            provider: guid_of(&r.provider, "provider")?,
            async_call: label_of(str_of(&r.async_call, "async")?, "async")?,
            err: u32_of(&r.err, "err")?,
            outcome: CompletionOutcome::from_name(str_of(&r.outcome, "outcome")?).ok_or_else(
                || {
                    DecodeError(
                        "`outcome` must be \"delivered\", \"discarded\" or \"rejected\"".into(),
                    )
                },
            )?,
        },
        "fault" => Event::Fault {
            provider: guid_of(&r.provider, "provider")?,
            func: func_of(&r.func)?,
            kind: FaultKind::from_name(str_of(&r.kind, "kind")?).ok_or_else(|| {
                DecodeError("`kind` must be \"panic\", \"crash\" or \"timeout\"".into())
            })?,
            detail: str_of(&r.detail, "detail")?.to_string(),
        },
        "violation" => Event::Violation {
            rule: str_of(&r.rule, "rule")?.to_string(),
            detail: str_of(&r.detail, "detail")?.to_string(),
        },
        "end" => Event::End {
            events: u64_of(&r.events, "events")?,
            violations: u64_of(&r.violations, "violations")?,
        },
        other => {
            return Err(DecodeError(format!(
                "unknown event kind `ev`: \"{}\"",
                clip(other)
            )));
        }
    };
    Ok(Stamped { seq, t, event })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::LabelKind;

    const P: &str = "6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60";

    fn line(seq: u64, t: u64, event: Event) -> String {
        let mut out = String::new();
        encode_event(&Stamped { seq, t, event }, &mut out);
        out
    }

    #[test]
    fn the_documented_example_lines_encode_byte_for_byte() {
        let g: Guid = P.parse().expect("guid");
        let s1 = Label::new(LabelKind::Session, 1);
        let cases = [
            (
                line(
                    0,
                    0,
                    Event::ProcessStart {
                        pid: Pid(1),
                        name: "mailhost".into(),
                        role: Role::Host,
                    },
                ),
                r#"{"seq":0,"t":0,"ev":"process.start","pid":1,"name":"mailhost","role":"host"}"#,
            ),
            (
                line(
                    1,
                    0,
                    Event::ProviderAdvertise {
                        pid: Pid(1),
                        provider: g,
                        ret: 0,
                        err: 0,
                        absent: vec![],
                    },
                ),
                r#"{"seq":1,"t":0,"ev":"provider.advertise","pid":1,"provider":"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60","ret":0,"err":0,"absent":[]}"#,
            ),
            (
                line(
                    3,
                    10,
                    Event::ApiCall {
                        pid: Pid(2),
                        tid: Tid(1),
                        call: ApiFn::WSAStartup,
                        args: Fields::from([("version".into(), Value::from("2.2"))]),
                    },
                ),
                r#"{"seq":3,"t":10,"ev":"api.call","pid":2,"tid":1,"call":"WSAStartup","args":{"version":"2.2"}}"#,
            ),
            (
                line(
                    4,
                    10,
                    Event::ApiReturn {
                        pid: Pid(2),
                        tid: Tid(1),
                        call: ApiFn::WSAStartup,
                        ret: 0,
                        err: 0,
                        result: None,
                    },
                ),
                r#"{"seq":4,"t":10,"ev":"api.return","pid":2,"tid":1,"call":"WSAStartup","ret":0,"err":0}"#,
            ),
            (
                line(
                    5,
                    20,
                    Event::ApiCall {
                        pid: Pid(2),
                        tid: Tid(1),
                        call: ApiFn::WSALookupServiceBegin,
                        args: Fields::from([
                            ("name".into(), Value::from("alice@example.com")),
                            ("namespace".into(), Value::from(37)),
                            ("flags".into(), Value::from(272)),
                        ]),
                    },
                ),
                r#"{"seq":5,"t":20,"ev":"api.call","pid":2,"tid":1,"call":"WSALookupServiceBegin","args":{"flags":272,"name":"alice@example.com","namespace":37}}"#,
            ),
            (
                line(
                    6,
                    20,
                    Event::NspCall {
                        provider: g,
                        func: NspFn::Startup,
                        pid: Pid(2),
                        session: None,
                        lookup: None,
                        async_call: None,
                        args: None,
                    },
                ),
                r#"{"seq":6,"t":20,"ev":"nsp.call","provider":"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60","fn":"NSPv2Startup","pid":2,"session":null}"#,
            ),
            (
                line(
                    7,
                    20,
                    Event::NspReturn {
                        provider: g,
                        func: NspFn::Startup,
                        pid: Pid(2),
                        ret: Some(0),
                        err: 0,
                        session: Some(Some(s1)),
                        lookup: None,
                    },
                ),
                r#"{"seq":7,"t":20,"ev":"nsp.return","provider":"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60","fn":"NSPv2Startup","pid":2,"ret":0,"err":0,"session":"s1"}"#,
            ),
            (
                line(
                    15,
                    40,
                    Event::ProcessExit {
                        pid: Pid(2),
                        how: ExitHow::Crash,
                    },
                ),
                r#"{"seq":15,"t":40,"ev":"process.exit","pid":2,"how":"crash"}"#,
            ),
            (
                line(
                    17,
                    40,
                    Event::NspReturn {
                        provider: g,
                        func: NspFn::ClientSessionRundown,
                        pid: Pid(2),
                        ret: None,
                        err: 0,
                        session: None,
                        lookup: None,
                    },
                ),
                r#"{"seq":17,"t":40,"ev":"nsp.return","provider":"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60","fn":"NSPv2ClientSessionRundown","pid":2,"ret":null,"err":0}"#,
            ),
            (
                line(
                    18,
                    40,
                    Event::End {
                        events: 18,
                        violations: 0,
                    },
                ),
                r#"{"seq":18,"t":40,"ev":"end","events":18,"violations":0}"#,
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, format!("{want}\n"));
        }
    }

    fn every_kind() -> Vec<Event> {
        let g: Guid = P.parse().expect("guid");
        let l = |k, n| Label::new(k, n);
        vec![
            Event::ProcessStart {
                pid: Pid(1),
                name: "we \"quote\" \\ and ünïcode".into(),
                role: Role::Client,
            },
            Event::ProcessExit {
                pid: Pid(1),
                how: ExitHow::Kill,
            },
            Event::CatalogInstall {
                provider: g,
                name: "mail".into(),
                namespace: Namespace::EMAIL,
                version: 3,
                ret: -1,
                err: 11003,
            },
            Event::CatalogUninstall {
                provider: g,
                ret: 0,
                err: 0,
            },
            Event::CatalogEnable {
                provider: g,
                enabled: false,
                ret: 0,
                err: 0,
            },
            Event::ProviderAdvertise {
                pid: Pid(2),
                provider: g,
                ret: 0,
                err: 0,
                absent: vec![NspFn::Startup, NspFn::ClientSessionRundown],
            },
            Event::ProviderUnadvertise {
                pid: Pid(2),
                provider: g,
                ret: -1,
                err: 10022,
            },
            Event::ApiCall {
                pid: Pid(3),
                tid: Tid(2),
                call: ApiFn::WSALookupServiceNext,
                args: Fields::from([("handle".into(), Value::from("q1"))]),
            },
            Event::ApiReturn {
                pid: Pid(3),
                tid: Tid(2),
                call: ApiFn::WSALookupServiceNext,
                ret: -1,
                err: 10014,
                result: Some(Fields::from([("buffer".into(), Value::from(300))])),
            },
            Event::NspCall {
                provider: g,
                func: NspFn::LookupServiceNextEx,
                pid: Pid(3),
                session: Some(l(LabelKind::Session, 2)),
                lookup: Some(l(LabelKind::ProviderLookup, 4)),
                async_call: Some(l(LabelKind::AsyncCall, 9)),
                args: Some(Fields::from([("flags".into(), Value::from(16))])),
            },
            Event::NspReturn {
                provider: g,
                func: NspFn::LookupServiceBegin,
                pid: Pid(3),
                ret: Some(0),
                err: 0,
                session: None,
                lookup: Some(l(LabelKind::ProviderLookup, 4)),
            },
            Event::NspReturn {
                provider: g,
                func: NspFn::Startup,
                pid: Pid(3),
                ret: Some(-1),
                err: 10045,
                session: Some(None),
                lookup: None,
            },
            Event::AsyncComplete {
                provider: g,
                async_call: l(LabelKind::AsyncCall, 9),
                err: 10110,
                outcome: CompletionOutcome::Discarded,
            },
            Event::Fault {
                provider: g,
                func: NspFn::Cleanup,
                kind: FaultKind::Panic,
                detail: "boom\nline".into(),
            },
            Event::Violation {
                rule: "L4".into(),
                detail: "provider … got a call".into(),
            },
            Event::End {
                events: 15,
                violations: 1,
            },
        ]
    }

    #[test]
    fn every_kind_round_trips_exactly() {
        for (i, event) in every_kind().into_iter().enumerate() {
            let stamped = Stamped {
                seq: i as u64,
                t: 10 * i as u64,
                event,
            };
            let text = line(stamped.seq, stamped.t, stamped.event.clone());
            assert!(
                text.ends_with('\n') && !text[..text.len() - 1].contains('\n'),
                "one line: {text}"
            );
            let back = decode_event(text.trim_end_matches('\n')).expect("decodes");
            assert_eq!(back, stamped);
            assert_eq!(line(back.seq, back.t, back.event), text);
        }
    }

    #[test]
    fn integer_writer_matches_display() {
        for n in [
            0i64,
            1,
            -1,
            9,
            10,
            99,
            100,
            10110,
            -10110,
            i64::MAX,
            i64::MIN,
            i64::from(u32::MAX),
        ] {
            let mut out = String::new();
            write_int(&mut out, n);
            assert_eq!(out, n.to_string());
        }
        let mut out = String::new();
        write_uint(&mut out, u64::MAX);
        assert_eq!(out, u64::MAX.to_string());
    }

    #[test]
    fn strings_are_escaped_like_serde_json() {
        for s in [
            "plain",
            "quote \" back \\ slash",
            "ctl \u{1}\n\t",
            "ünï €",
            "\u{7f}",
        ] {
            let mut out = String::new();
            write_str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).expect("json"), "{s:?}");
        }
    }

    #[test]
    fn decode_errors_say_what_was_expected() {
        for (bad, needle) in [
            ("not json", "not JSON"),
            ("[1]", "expected a JSON object"),
            (r#"{"seq":0,"t":0}"#, "missing key `ev`"),
            (
                r#"{"seq":0,"t":0,"ev":"process.boom"}"#,
                "unknown event kind",
            ),
            (
                r#"{"seq":-1,"t":0,"ev":"end","events":0,"violations":0}"#,
                "`seq` must be a non-negative integer",
            ),
            (
                r#"{"seq":0,"t":0,"ev":"process.exit","pid":1,"how":"vanish"}"#,
                "`how` must be",
            ),
            (
                r#"{"seq":0,"t":0,"ev":"nsp.call","provider":"x","fn":"NSPv2Startup","pid":1,"session":null}"#,
                "expected a GUID",
            ),
            (
                r#"{"seq":0,"t":0,"ev":"nsp.call","provider":"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60","fn":"NSPv2Startup","pid":1,"session":"x9"}"#,
                "not a label",
            ),
        ] {
            let e = decode_event(bad).expect_err(bad);
            assert!(e.0.contains(needle), "{bad}: {e}");
        }
    }
}
