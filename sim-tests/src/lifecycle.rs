//! The lifecycle as a person reads it: one line per event worth a look, with process and
//! provider names instead of numbers and GUIDs.
//!
//! ```text
//!      t  process            what
//!     10  client-a [3.1]     WSALookupServiceBegin NS_EMAIL "alice@example.com" flags=0x110
//!     10    mail-primary       NSPv2Startup → s1
//! ```

use nspsim_runtime::event::{Event, EventSink, Fields};
use nspsim_runtime::wsa::{Guid, WsaError};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;

/// Names for pids and providers, learnt from the events themselves and the scenario.
#[derive(Default)]
pub struct Names {
    processes: BTreeMap<u32, String>,
    providers: BTreeMap<Guid, String>,
}

impl Names {
    pub fn provider(&mut self, id: Guid, name: &str) {
        self.providers.insert(id, name.to_string());
    }

    fn process(&self, pid: u32) -> String {
        self.processes
            .get(&pid)
            .cloned()
            .unwrap_or_else(|| format!("pid {pid}"))
    }

    fn prov(&self, id: &Guid) -> String {
        self.providers
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}

fn err_text(err: u32) -> String {
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

/// One line for an event, or `None` for events the lifecycle view leaves out.
pub fn describe(names: &mut Names, event: &Event) -> Option<(String, String)> {
    Some(match event {
        Event::ProcessStart { pid, name, role } => {
            names.processes.insert(pid.0, name.clone());
            (
                format!("{name} [{}]", pid.0),
                format!("started ({})", role.name()),
            )
        }
        Event::ProcessExit { pid, how } => (
            format!("{} [{}]", names.process(pid.0), pid.0),
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
            (
                "catalog".into(),
                format!(
                    "install {name} ({namespace}) → {}",
                    if *ret == 0 {
                        "ok".into()
                    } else {
                        err_text(*err)
                    }
                ),
            )
        }
        Event::CatalogUninstall { provider, err, .. } => (
            "catalog".into(),
            format!("uninstall {} → {}", names.prov(provider), err_text(*err)),
        ),
        Event::CatalogEnable {
            provider,
            enabled,
            err,
            ..
        } => (
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
            (
                format!("{} [{}]", names.process(pid.0), pid.0),
                format!(
                    "WSAAdvertiseProvider {}{missing} → {}",
                    names.prov(provider),
                    err_text(*err)
                ),
            )
        }
        Event::ProviderUnadvertise {
            pid, provider, err, ..
        } => (
            format!("{} [{}]", names.process(pid.0), pid.0),
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
        } => (
            format!("{} [{}.{}]", names.process(pid.0), pid.0, tid.0),
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
            let verdict = if *err == 0 || call.name() == "WSAStartup" && *ret == 0 {
                "ok".to_string()
            } else {
                err_text(*err)
            };
            (
                format!("{} [{}.{}]", names.process(pid.0), pid.0, tid.0),
                format!("  ← {} {verdict}{detail}", call.name()),
            )
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
            (
                format!("  {}", names.prov(provider)),
                format!("  {} {}", func.name(), labels.join(" "))
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
            if ret.is_none() && *err == 0 {
                return None; // a void call that returned: nothing to add
            }
            (
                format!("  {}", names.prov(provider)),
                format!(
                    "    {} {}{made}",
                    func.name(),
                    if *err == 0 {
                        "ok".into()
                    } else {
                        err_text(*err)
                    }
                ),
            )
        }
        Event::AsyncComplete {
            provider,
            async_call,
            err,
            outcome,
        } => (
            format!("  {}", names.prov(provider)),
            format!(
                "  completes {async_call}: {} ({})",
                if *err == 0 {
                    "ok".into()
                } else {
                    err_text(*err)
                },
                outcome.name()
            ),
        ),
        Event::Fault {
            provider,
            func,
            kind,
            detail,
        } => (
            format!("  {}", names.prov(provider)),
            format!("*** {} in {}: {detail}", kind.name(), func.name()),
        ),
        Event::Violation { rule, detail } => ("VIOLATION".into(), format!("{rule}: {detail}")),
        Event::End { .. } => return None,
    })
}

/// An event sink that prints the lifecycle, then passes every event on.
pub struct Printer<S, W: Write> {
    pub inner: S,
    pub names: Names,
    out: W,
    color: bool,
    quiet: bool,
}

impl<S: EventSink, W: Write> Printer<S, W> {
    pub fn new(inner: S, names: Names, out: W, color: bool, quiet: bool) -> Self {
        if !quiet {
            let mut out = out;
            let _ = writeln!(out, "{:>9}  {:<24} what", "t (µs)", "who");
            return Printer {
                inner,
                names,
                out,
                color,
                quiet,
            };
        }
        Printer {
            inner,
            names,
            out,
            color,
            quiet,
        }
    }
}

impl<S: EventSink, W: Write> EventSink for Printer<S, W> {
    fn record(&mut self, t: u64, event: Event) {
        if !self.quiet
            && let Some((who, what)) = describe(&mut self.names, &event)
        {
            let line = format!("{t:>9}  {who:<24} {what}");
            let alarm = matches!(event, Event::Violation { .. } | Event::Fault { .. });
            let _ = if self.color && alarm {
                writeln!(self.out, "\x1b[1;31m{line}\x1b[0m")
            } else {
                writeln!(self.out, "{line}")
            };
        }
        self.inner.record(t, event);
    }

    fn enabled(&self) -> bool {
        true
    }
}
