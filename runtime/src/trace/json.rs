//! One trace line: encoding an event with the exact key order of TRACE_FORMAT.md, and decoding
//! it back.
//!
//! Encoding writes straight into a `String` (no intermediate JSON tree) because it runs once
//! per event on the hot path; strings go through serde_json for correct escaping. Decoding
//! parses with serde_json and checks every key, so `encode(decode(line)) == line` for every
//! valid line.

use crate::event::{
    ApiFn, CompletionOutcome, Event, ExitHow, FaultKind, Fields, Label, Pid, Role, Stamped, Tid,
};
use crate::provider::NspFn;
use crate::wsa::{Guid, Namespace};
use serde_json::{Map, Value};
use std::fmt::Write;

/// Appends one line (with its `\n`) for `s` to `out`.
pub fn encode_event(s: &Stamped, out: &mut String) {
    let mut w = Line::new(out);
    w.num("seq", s.seq);
    w.num("t", s.t);
    w.raw_str("ev", s.event.kind());
    match &s.event {
        Event::ProcessStart { pid, name, role } => {
            w.num("pid", pid.0);
            w.text("name", name);
            w.raw_str("role", role.name());
        }
        Event::ProcessExit { pid, how } => {
            w.num("pid", pid.0);
            w.raw_str("how", how.name());
        }
        Event::CatalogInstall {
            provider,
            name,
            namespace,
            version,
            ret,
            err,
        } => {
            w.guid("provider", provider);
            w.text("name", name);
            w.num("namespace", namespace.0);
            w.num("version", *version);
            w.num("ret", *ret);
            w.num("err", *err);
        }
        Event::CatalogUninstall { provider, ret, err } => {
            w.guid("provider", provider);
            w.num("ret", *ret);
            w.num("err", *err);
        }
        Event::CatalogEnable {
            provider,
            enabled,
            ret,
            err,
        } => {
            w.guid("provider", provider);
            w.key("enabled");
            w.out.push_str(if *enabled { "true" } else { "false" });
            w.num("ret", *ret);
            w.num("err", *err);
        }
        Event::ProviderAdvertise {
            pid,
            provider,
            ret,
            err,
            absent,
        } => {
            w.num("pid", pid.0);
            w.guid("provider", provider);
            w.num("ret", *ret);
            w.num("err", *err);
            w.key("absent");
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
            w.num("pid", pid.0);
            w.guid("provider", provider);
            w.num("ret", *ret);
            w.num("err", *err);
        }
        Event::ApiCall {
            pid,
            tid,
            call,
            args,
        } => {
            w.num("pid", pid.0);
            w.num("tid", tid.0);
            w.raw_str("call", call.name());
            w.fields("args", args);
        }
        Event::ApiReturn {
            pid,
            tid,
            call,
            ret,
            err,
            result,
        } => {
            w.num("pid", pid.0);
            w.num("tid", tid.0);
            w.raw_str("call", call.name());
            w.num("ret", *ret);
            w.num("err", *err);
            if let Some(result) = result {
                w.fields("result", result);
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
            w.guid("provider", provider);
            w.raw_str("fn", func.name());
            w.num("pid", pid.0);
            w.label_or_null("session", *session);
            if let Some(l) = lookup {
                w.label("lookup", *l);
            }
            if let Some(a) = async_call {
                w.label("async", *a);
            }
            if let Some(args) = args {
                w.fields("args", args);
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
            w.guid("provider", provider);
            w.raw_str("fn", func.name());
            w.num("pid", pid.0);
            w.key("ret");
            match ret {
                Some(r) => {
                    let _ = write!(w.out, "{r}");
                }
                None => w.out.push_str("null"),
            }
            w.num("err", *err);
            if let Some(s) = session {
                w.label_or_null("session", *s);
            }
            if let Some(l) = lookup {
                w.label("lookup", *l);
            }
        }
        Event::AsyncComplete {
            provider,
            async_call,
            err,
            outcome,
        } => {
            w.guid("provider", provider);
            w.label("async", *async_call);
            w.num("err", *err);
            w.raw_str("outcome", outcome.name());
        }
        Event::Fault {
            provider,
            func,
            kind,
            detail,
        } => {
            w.guid("provider", provider);
            w.raw_str("fn", func.name());
            w.raw_str("kind", kind.name());
            w.text("detail", detail);
        }
        Event::Violation { rule, detail } => {
            w.text("rule", rule);
            w.text("detail", detail);
        }
        Event::End { events, violations } => {
            w.num("events", *events);
            w.num("violations", *violations);
        }
    }
    w.out.push_str("}\n");
}

/// Writes `{"k":v,...` keeping track of commas.
struct Line<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Line<'a> {
    fn new(out: &'a mut String) -> Self {
        out.push('{');
        Line { out, first: true }
    }

    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push('"');
        self.out.push_str(k);
        self.out.push_str("\":");
    }

    fn num(&mut self, k: &str, v: impl std::fmt::Display) {
        self.key(k);
        let _ = write!(self.out, "{v}");
    }

    /// A string known to need no escaping (our own names).
    fn raw_str(&mut self, k: &str, v: &str) {
        self.key(k);
        self.out.push('"');
        self.out.push_str(v);
        self.out.push('"');
    }

    fn text(&mut self, k: &str, v: &str) {
        self.key(k);
        match serde_json::to_string(v) {
            Ok(s) => self.out.push_str(&s),
            Err(_) => self.out.push_str("\"\""),
        }
    }

    fn guid(&mut self, k: &str, g: &Guid) {
        self.key(k);
        let _ = write!(self.out, "\"{g}\"");
    }

    fn label(&mut self, k: &str, l: Label) {
        self.key(k);
        let _ = write!(self.out, "\"{l}\"");
    }

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
        // A BTreeMap serializes with its keys in order, as the format wants.
        match serde_json::to_string(f) {
            Ok(s) => self.out.push_str(&s),
            Err(_) => self.out.push_str("{}"),
        }
    }
}

/// What is wrong with one line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError(msg.into()))
}

/// Reads the keys of one object, checking presence and types.
struct Obj<'a>(&'a Map<String, Value>);

impl Obj<'_> {
    fn get(&self, k: &str) -> Result<&Value, DecodeError> {
        self.0
            .get(k)
            .ok_or_else(|| DecodeError(format!("missing key `{k}`")))
    }
    fn u64(&self, k: &str) -> Result<u64, DecodeError> {
        self.get(k)?
            .as_u64()
            .ok_or_else(|| DecodeError(format!("`{k}` must be a non-negative integer")))
    }
    fn u32(&self, k: &str) -> Result<u32, DecodeError> {
        u32::try_from(self.u64(k)?).map_err(|_| DecodeError(format!("`{k}` is too large")))
    }
    fn i32(&self, k: &str) -> Result<i32, DecodeError> {
        self.get(k)?
            .as_i64()
            .and_then(|v| i32::try_from(v).ok())
            .ok_or_else(|| DecodeError(format!("`{k}` must be a 32-bit integer")))
    }
    fn str(&self, k: &str) -> Result<&str, DecodeError> {
        self.get(k)?
            .as_str()
            .ok_or_else(|| DecodeError(format!("`{k}` must be a string")))
    }
    fn bool(&self, k: &str) -> Result<bool, DecodeError> {
        self.get(k)?
            .as_bool()
            .ok_or_else(|| DecodeError(format!("`{k}` must be true or false")))
    }
    fn pid(&self) -> Result<Pid, DecodeError> {
        self.u32("pid").map(Pid)
    }
    fn guid(&self, k: &str) -> Result<Guid, DecodeError> {
        self.str(k)?
            .parse()
            .map_err(|e: crate::wsa::GuidParseError| DecodeError(format!("`{k}`: {e}")))
    }
    fn label(&self, k: &str) -> Result<Label, DecodeError> {
        let s = self.str(k)?;
        Label::parse(s).ok_or_else(|| {
            DecodeError(format!(
                "`{k}`: \"{s}\" is not a label like s1, h2, q3 or a4"
            ))
        })
    }
    fn opt_label(&self, k: &str) -> Result<Option<Label>, DecodeError> {
        match self.0.get(k) {
            None => Ok(None),
            Some(_) => self.label(k).map(Some),
        }
    }
    /// A key that must be present and may be null.
    fn label_or_null(&self, k: &str) -> Result<Option<Label>, DecodeError> {
        match self.get(k)? {
            Value::Null => Ok(None),
            _ => self.label(k).map(Some),
        }
    }
    fn fields(&self, k: &str) -> Result<Option<Fields>, DecodeError> {
        match self.0.get(k) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(
                m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            )),
            Some(_) => err(format!("`{k}` must be an object")),
        }
    }
    fn func(&self) -> Result<NspFn, DecodeError> {
        let s = self.str("fn")?;
        NspFn::from_name(s).ok_or_else(|| DecodeError(format!("`fn`: unknown entry point \"{s}\"")))
    }
    fn call(&self) -> Result<ApiFn, DecodeError> {
        let s = self.str("call")?;
        ApiFn::from_name(s)
            .ok_or_else(|| DecodeError(format!("`call`: unknown API function \"{s}\"")))
    }
}

/// Parses one event line (without its `\n`).
pub fn decode_event(line: &str) -> Result<Stamped, DecodeError> {
    let value: Value =
        serde_json::from_str(line).map_err(|e| DecodeError(format!("not JSON: {e}")))?;
    let Value::Object(map) = value else {
        return err("expected a JSON object");
    };
    let o = Obj(&map);
    let seq = o.u64("seq")?;
    let t = o.u64("t")?;
    let kind = o.str("ev")?;
    let event = match kind {
        "process.start" => Event::ProcessStart {
            pid: o.pid()?,
            name: o.str("name")?.to_string(),
            role: Role::from_name(o.str("role")?)
                .ok_or_else(|| DecodeError("`role` must be \"client\" or \"host\"".into()))?,
        },
        "process.exit" => Event::ProcessExit {
            pid: o.pid()?,
            how: ExitHow::from_name(o.str("how")?).ok_or_else(|| {
                DecodeError("`how` must be \"exit\", \"crash\" or \"kill\"".into())
            })?,
        },
        "catalog.install" => Event::CatalogInstall {
            provider: o.guid("provider")?,
            name: o.str("name")?.to_string(),
            namespace: Namespace(o.u32("namespace")?),
            version: o.u32("version")?,
            ret: o.i32("ret")?,
            err: o.u32("err")?,
        },
        "catalog.uninstall" => Event::CatalogUninstall {
            provider: o.guid("provider")?,
            ret: o.i32("ret")?,
            err: o.u32("err")?,
        },
        "catalog.enable" => Event::CatalogEnable {
            provider: o.guid("provider")?,
            enabled: o.bool("enabled")?,
            ret: o.i32("ret")?,
            err: o.u32("err")?,
        },
        "provider.advertise" => Event::ProviderAdvertise {
            pid: o.pid()?,
            provider: o.guid("provider")?,
            ret: o.i32("ret")?,
            err: o.u32("err")?,
            absent: match o.get("absent")? {
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
                _ => return err("`absent` must be an array"),
            },
        },
        "provider.unadvertise" => Event::ProviderUnadvertise {
            pid: o.pid()?,
            provider: o.guid("provider")?,
            ret: o.i32("ret")?,
            err: o.u32("err")?,
        },
        "api.call" => Event::ApiCall {
            pid: o.pid()?,
            tid: Tid(o.u32("tid")?),
            call: o.call()?,
            args: o
                .fields("args")?
                .ok_or_else(|| DecodeError("missing key `args`".into()))?,
        },
        "api.return" => Event::ApiReturn {
            pid: o.pid()?,
            tid: Tid(o.u32("tid")?),
            call: o.call()?,
            ret: o.i32("ret")?,
            err: o.u32("err")?,
            result: o.fields("result")?,
        },
        "nsp.call" => Event::NspCall {
            provider: o.guid("provider")?,
            func: o.func()?,
            pid: o.pid()?,
            session: o.label_or_null("session")?,
            lookup: o.opt_label("lookup")?,
            async_call: o.opt_label("async")?,
            args: o.fields("args")?,
        },
        "nsp.return" => Event::NspReturn {
            provider: o.guid("provider")?,
            func: o.func()?,
            pid: o.pid()?,
            ret: match o.get("ret")? {
                Value::Null => None,
                _ => Some(o.i32("ret")?),
            },
            err: o.u32("err")?,
            session: match map.get("session") {
                None => None,
                Some(_) => Some(o.label_or_null("session")?),
            },
            lookup: o.opt_label("lookup")?,
        },
        "async.complete" => Event::AsyncComplete {
            provider: o.guid("provider")?,
            async_call: o.label("async")?,
            err: o.u32("err")?,
            outcome: CompletionOutcome::from_name(o.str("outcome")?).ok_or_else(|| {
                DecodeError("`outcome` must be \"delivered\", \"discarded\" or \"rejected\"".into())
            })?,
        },
        "fault" => Event::Fault {
            provider: o.guid("provider")?,
            func: o.func()?,
            kind: FaultKind::from_name(o.str("kind")?).ok_or_else(|| {
                DecodeError("`kind` must be \"panic\", \"crash\" or \"timeout\"".into())
            })?,
            detail: o.str("detail")?.to_string(),
        },
        "violation" => Event::Violation {
            rule: o.str("rule")?.to_string(),
            detail: o.str("detail")?.to_string(),
        },
        "end" => Event::End {
            events: o.u64("events")?,
            violations: o.u64("violations")?,
        },
        other => return err(format!("unknown event kind `ev`: \"{other}\"")),
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
