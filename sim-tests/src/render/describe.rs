//! One way of describing an event, for every reader of a trace: the lifecycle printout's line,
//! the label of an arrow in the HTML report, a Mermaid message, a Perfetto slice's name.
//!
//! [`describe`] gives who acted and what happened, in words, with process and provider names
//! instead of pids and GUIDs. How it is laid out (the printout's indentation and `←`, an
//! arrow's direction) is the reader's business.

use nspsim_runtime::event::{ApiFn, Event, Fields};
use nspsim_runtime::trace::TraceHeader;
use nspsim_runtime::wsa::{Guid, WsaError};
use serde_json::Value;
use std::collections::BTreeMap;

/// Names for pids and providers, learnt from the events themselves and the scenario.
#[derive(Clone, Debug, Default)]
pub struct Names {
    processes: BTreeMap<u32, String>,
    providers: BTreeMap<Guid, String>,
}

impl Names {
    pub fn provider(&mut self, id: Guid, name: &str) {
        self.providers.insert(id, name.to_string());
    }

    /// The provider names a trace's header carries (its scenario's `provider` list).
    pub fn from_header(header: &TraceHeader) -> Names {
        let mut names = Names::default();
        let list = header.scenario.get("provider").and_then(Value::as_array);
        for p in list.into_iter().flatten() {
            let id = p
                .get("id")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok());
            let name = p.get("name").and_then(Value::as_str);
            if let (Some(id), Some(name)) = (id, name) {
                names.provider(id, name);
            }
        }
        names
    }

    /// A process's name, or `pid N` before its start was seen.
    pub fn process(&self, pid: u32) -> String {
        self.processes
            .get(&pid)
            .cloned()
            .unwrap_or_else(|| format!("pid {pid}"))
    }

    /// A provider's name, or its GUID when no name is known.
    pub fn prov(&self, id: &Guid) -> String {
        self.providers
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}

/// Whether a character must not reach a terminal as it is: C0 and C1 controls, DEL, and the
/// bidirectional marks, embeddings, overrides and isolates (which reorder what follows).
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// User-supplied text (names from a scenario or a trace, details, paths) made safe to print:
/// control characters (C0, DEL, C1) and bidirectional-override characters become `\u{…}`
/// escapes; everything else is kept. Every place that prints such text goes through this.
pub fn escape_text(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// An error code's Windows name (`WSA_E_NO_MORE (10110)`), or `ok` for 0.
pub fn err_text(err: u32) -> String {
    WsaError::from_code(err).map_or_else(|| "ok".to_string(), |e| e.to_string())
}

fn short_fields(f: &Fields) -> String {
    let mut parts = Vec::new();
    if let Some(ns) = f.get("namespace").and_then(Value::as_u64) {
        let ns = nspsim_runtime::wsa::Namespace(ns as u32);
        parts.push(ns.to_string());
    }
    if let Some(p) = f.get("provider").and_then(Value::as_str) {
        parts.push(format!("provider={p}"));
    }
    if let Some(n) = f.get("name").and_then(Value::as_str) {
        parts.push(format!("\"{n}\""));
    }
    if let Some(h) = f.get("handle").and_then(Value::as_str) {
        parts.push(h.to_string());
    }
    if let Some(a) = f.get("addrs").and_then(Value::as_array) {
        let list: Vec<_> = a.iter().filter_map(Value::as_str).collect();
        parts.push(format!("[{}]", list.join(", ")));
    }
    if let Some(flags) = f.get("flags").and_then(Value::as_u64).filter(|f| *f != 0) {
        parts.push(format!("flags={flags:#x}"));
    }
    if let Some(v) = f.get("version").and_then(Value::as_str) {
        parts.push(v.to_string());
    }
    parts.join(" ")
}

/// Who acted, as the printout's `who` column names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    /// The catalog (install, uninstall, enable): Ws2_32's own state.
    Catalog,
    /// A process as a whole (start, exit, advertising).
    Process(u32),
    /// A thread of a process.
    Thread(u32, u32),
    /// A provider (its calls, returns, completions and faults).
    Provider(Guid),
    /// The checker.
    Checker,
}

/// What an event says, in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Description {
    pub actor: Actor,
    /// The `who` column: `orderly [3.1]`, `mail-primary`, `catalog`, `VIOLATION`.
    pub who: String,
    /// What happened: `WSALookupServiceBegin NS_EMAIL "alice@example.com" flags=0x110`,
    /// `NSPv2LookupServiceNextEx WSA_E_NO_MORE (10110)`. The label of the event's arrow.
    pub what: String,
    /// The event is a return (an arrow back to its caller).
    pub returns: bool,
    /// The lifecycle printout leaves the event out (a void provider call that returned).
    pub quiet: bool,
    /// A violation or a fault: printed in red.
    pub alarm: bool,
}

/// Describes an event. Only `end` has no description. Learns process names from
/// `process.start` and provider names from `catalog.install`, so call it on every event in
/// order. The text is safe to print ([`escape_text`]).
pub fn describe(names: &mut Names, event: &Event) -> Option<Description> {
    describe_raw(names, event).map(|mut d| {
        if let std::borrow::Cow::Owned(who) = escape_text(&d.who) {
            d.who = who;
        }
        if let std::borrow::Cow::Owned(what) = escape_text(&d.what) {
            d.what = what;
        }
        d
    })
}

fn describe_raw(names: &mut Names, event: &Event) -> Option<Description> {
    let d = |actor, who: String, what: String| Description {
        actor,
        who,
        what,
        returns: false,
        quiet: false,
        alarm: false,
    };
    let proc_who = |names: &Names, pid: u32| format!("{} [{pid}]", names.process(pid));
    let thread_who =
        |names: &Names, pid: u32, tid: u32| format!("{} [{pid}.{tid}]", names.process(pid));
    let ok_or = |ret: bool, err: u32| if ret { "ok".into() } else { err_text(err) };
    Some(match event {
        Event::ProcessStart { pid, name, role } => {
            names.processes.insert(pid.0, name.clone());
            d(
                Actor::Process(pid.0),
                proc_who(names, pid.0),
                format!("started ({})", role.name()),
            )
        }
        Event::ProcessExit { pid, how } => d(
            Actor::Process(pid.0),
            proc_who(names, pid.0),
            match how.name() {
                "exit" => "exits".to_string(),
                other => format!("*** {other} ***"),
            },
        ),
        Event::CatalogInstall {
            provider,
            name,
            namespace,
            ret,
            err,
            ..
        } => {
            names
                .providers
                .entry(*provider)
                .or_insert_with(|| name.clone());
            d(
                Actor::Catalog,
                "catalog".into(),
                format!("install {name} ({namespace}) → {}", ok_or(*ret == 0, *err)),
            )
        }
        Event::CatalogUninstall { provider, err, .. } => d(
            Actor::Catalog,
            "catalog".into(),
            format!("uninstall {} → {}", names.prov(provider), err_text(*err)),
        ),
        Event::CatalogEnable {
            provider,
            enabled,
            err,
            ..
        } => d(
            Actor::Catalog,
            "catalog".into(),
            format!(
                "{} {} → {}",
                if *enabled { "enable" } else { "disable" },
                names.prov(provider),
                err_text(*err)
            ),
        ),
        Event::ProviderAdvertise {
            pid,
            provider,
            err,
            absent,
            ..
        } => {
            let missing = if absent.is_empty() {
                String::new()
            } else {
                let list: Vec<_> = absent
                    .iter()
                    .map(|f| f.name().trim_start_matches("NSPv2"))
                    .collect();
                format!(" (no {})", list.join(", "))
            };
            d(
                Actor::Process(pid.0),
                proc_who(names, pid.0),
                format!(
                    "WSAAdvertiseProvider {}{missing} → {}",
                    names.prov(provider),
                    err_text(*err)
                ),
            )
        }
        Event::ProviderUnadvertise {
            pid, provider, err, ..
        } => d(
            Actor::Process(pid.0),
            proc_who(names, pid.0),
            format!(
                "WSAUnadvertiseProvider {} → {}",
                names.prov(provider),
                err_text(*err)
            ),
        ),
        Event::ApiCall {
            pid,
            tid,
            call,
            args,
        } => d(
            Actor::Thread(pid.0, tid.0),
            thread_who(names, pid.0, tid.0),
            format!("{} {}", call.name(), short_fields(args))
                .trim_end()
                .to_string(),
        ),
        Event::ApiReturn {
            pid,
            tid,
            call,
            ret,
            err,
            result,
        } => {
            let detail = match result {
                Some(r) if r.contains_key("handle") => format!(" {}", short_fields(r)),
                Some(r) if r.contains_key("buffer") => format!(" (needs {} bytes)", r["buffer"]),
                Some(r) if *err == 0 && !r.is_empty() => format!(" {}", short_fields(r)),
                _ => String::new(),
            };
            // WSAStartup returns its error code instead of setting the thread's last error
            // (S4.1), so a failed one is told by `ret`, whatever `err` was left at.
            let verdict = if *call == ApiFn::WSAStartup {
                ok_or(*ret == 0, u32::try_from(*ret).unwrap_or(0))
            } else {
                ok_or(*err == 0, *err)
            };
            Description {
                returns: true,
                ..d(
                    Actor::Thread(pid.0, tid.0),
                    thread_who(names, pid.0, tid.0),
                    format!("{} {verdict}{detail}", call.name()),
                )
            }
        }
        Event::NspCall {
            provider,
            func,
            session,
            lookup,
            async_call,
            ..
        } => {
            let labels: Vec<String> = [session, lookup, async_call]
                .into_iter()
                .flatten()
                .map(|l| l.to_string())
                .collect();
            d(
                Actor::Provider(*provider),
                names.prov(provider),
                format!("{} {}", func.name(), labels.join(" "))
                    .trim_end()
                    .to_string(),
            )
        }
        Event::NspReturn {
            provider,
            func,
            ret,
            err,
            session,
            lookup,
            ..
        } => {
            let made = match (session, lookup) {
                (Some(Some(s)), _) => format!(" → {s}"),
                (_, Some(h)) => format!(" → {h}"),
                _ => String::new(),
            };
            Description {
                returns: true,
                // A void call that returned: nothing for the printout to add.
                quiet: ret.is_none() && *err == 0,
                ..d(
                    Actor::Provider(*provider),
                    names.prov(provider),
                    format!("{} {}{made}", func.name(), ok_or(*err == 0, *err)),
                )
            }
        }
        Event::AsyncComplete {
            provider,
            async_call,
            err,
            outcome,
        } => d(
            Actor::Provider(*provider),
            names.prov(provider),
            format!(
                "completes {async_call}: {} ({})",
                ok_or(*err == 0, *err),
                outcome.name()
            ),
        ),
        Event::Fault {
            provider,
            func,
            kind,
            detail,
        } => Description {
            alarm: true,
            ..d(
                Actor::Provider(*provider),
                names.prov(provider),
                format!("*** {} in {}: {detail}", kind.name(), func.name()),
            )
        },
        Event::Violation { rule, detail } => Description {
            alarm: true,
            ..d(
                Actor::Checker,
                "VIOLATION".into(),
                format!("{rule}: {detail}"),
            )
        },
        Event::End { .. } => return None,
    })
}

/// The labels (`s1`, `h3`, `q2`, `a2`) an event names, in order of appearance, each once:
/// what the report's label filter matches.
pub fn labels(event: &Event) -> Vec<String> {
    use nspsim_runtime::event::Label;
    let mut out: Vec<String> = Vec::new();
    let mut add = |s: String| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    let from_fields = |f: &Fields, add: &mut dyn FnMut(String)| {
        for v in f.values() {
            if let Some(s) = v.as_str().filter(|s| Label::parse(s).is_some()) {
                add(s.to_string());
            }
        }
    };
    match event {
        Event::ApiCall { args, .. } => from_fields(args, &mut add),
        Event::ApiReturn {
            result: Some(r), ..
        } => from_fields(r, &mut add),
        Event::NspCall {
            session,
            lookup,
            async_call,
            ..
        } => {
            for l in [session, lookup, async_call].into_iter().flatten() {
                add(l.to_string());
            }
        }
        Event::NspReturn {
            session, lookup, ..
        } => {
            for l in [session.flatten(), *lookup].into_iter().flatten() {
                add(l.to_string());
            }
        }
        Event::AsyncComplete { async_call, .. } => add(async_call.to_string()),
        Event::Violation { detail, .. } | Event::Fault { detail, .. } => {
            for word in detail.split(|c: char| !c.is_ascii_alphanumeric()) {
                if Label::parse(word).is_some() {
                    add(word.to_string());
                }
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nspsim_runtime::trace::parse_trace;

    #[test]
    fn a_failed_wsastartup_shows_the_code_it_returned_not_the_stale_last_error() {
        // #18 item 9: WSAStartup("0.9") returns WSAVERNOTSUPPORTED and leaves the thread's last
        // error alone (here 0, elsewhere a stale WSANOTINITIALISED).
        let header = r#"{"nsptrace":1,"mode":"sim","seed":1,"profile":"win7","startup_policy":"per-process","scenario":{"name":"v","process":[{"name":"c","steps":[{"op":"startup","version":"0.9"}]}]}}"#;
        let body = [
            r#"{"seq":0,"t":0,"ev":"api.return","pid":1,"tid":1,"call":"WSAStartup","ret":10092,"err":10093}"#,
            r#"{"seq":1,"t":0,"ev":"api.return","pid":1,"tid":1,"call":"WSAStartup","ret":0,"err":10093}"#,
        ];
        let text = format!("{header}\n{}\n", body.join("\n"));
        let trace = parse_trace("v.jsonl", &text).expect("valid");
        let mut names = Names::from_header(&trace.header);
        let what: Vec<String> = trace
            .events
            .iter()
            .filter_map(|s| describe(&mut names, &s.event))
            .map(|d| d.what)
            .collect();
        assert!(what[0].contains("WSAVERNOTSUPPORTED"), "{what:?}");
        assert!(!what[0].contains("WSANOTINITIALISED"), "{what:?}");
        assert!(what[1].starts_with("WSAStartup ok"), "{what:?}");
    }

    #[test]
    fn control_and_bidi_characters_are_escaped() {
        assert_eq!(escape_text("plain → µs"), "plain → µs");
        assert_eq!(
            escape_text("p\u{0}\u{1b}[31mRED\u{7f}\u{85}\u{202e}x\u{2066}\u{200f}"),
            "p\\u{0}\\u{1b}[31mRED\\u{7f}\\u{85}\\u{202e}x\\u{2066}\\u{200f}"
        );
        let mut names = Names::default();
        let start = Event::ProcessStart {
            pid: nspsim_runtime::event::Pid(1),
            name: "p\u{0}\u{1b}[31mRED".into(),
            role: nspsim_runtime::event::Role::Client,
        };
        let d = describe(&mut names, &start).expect("described");
        assert!(!d.who.chars().any(unsafe_char), "{:?}", d.who);
    }

    #[test]
    fn returns_name_their_errors_and_labels_are_found() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../traces/demo.jsonl"))
                .expect("demo trace");
        let trace = parse_trace("demo.jsonl", &text).expect("valid");
        let mut names = Names::from_header(&trace.header);
        let all: Vec<Description> = trace
            .events
            .iter()
            .filter_map(|s| describe(&mut names, &s.event))
            .collect();
        assert_eq!(
            all.len(),
            trace.events.len(),
            "every event but `end` is described"
        );
        assert!(
            all.iter()
                .any(|d| d.returns && d.what.contains("WSA_E_NO_MORE")),
            "a NextEx that ran out says so by name"
        );
        assert!(all.iter().any(|d| d.who == "orderly [3.1]"));
        let q: Vec<Vec<String>> = trace.events.iter().map(|s| labels(&s.event)).collect();
        assert!(q.iter().any(|l| l == &["q1".to_string()]));
        assert!(q.iter().any(|l| l.contains(&"a1".to_string())));
    }
}
