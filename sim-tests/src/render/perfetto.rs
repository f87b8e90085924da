//! Chrome trace-event JSON (the format ui.perfetto.dev and chrome://tracing open).
//!
//! Tracks: each process (its pid) with a thread per tid; Ws2_32 and each provider as a
//! process of its own, numbered after the largest pid from 10000, a provider's calls on one
//! thread per client they serve (tid = the client's pid). Calls are complete (`X`) slices with
//! their arguments; a deferred NextEx has a flow arrow (`s` → `f`, id = the async call's
//! number) to its completion; crashes, kills, faults and violations are instants (`i`);
//! metadata (`M`) names every track. `ts` is the trace's `t` in µs: virtual in sim mode,
//! real in live mode.

use super::{Lane, Picture, Row, Shape};
use nspsim_runtime::event::Event;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The pid the Ws2_32 track gets; providers follow.
pub fn dispatcher_pid(p: &Picture) -> u32 {
    p.processes
        .iter()
        .map(|x| x.pid + 1)
        .max()
        .unwrap_or(0)
        .max(10_000)
}

struct Out {
    events: Vec<Value>,
}

impl Out {
    fn push(&mut self, v: Value) {
        self.events.push(v);
    }
}

/// The trace-event JSON text: `{"traceEvents":[…], …}`, one event per line.
pub fn render(p: &Picture) -> String {
    let ws2 = dispatcher_pid(p);
    let prov_pid = |i: usize| ws2 + 1 + i as u32;
    let mut out = Out { events: Vec::new() };
    let meta = |name: &str, pid: u32, tid: u32, args: Value| json!({"ph": "M", "name": name, "pid": pid, "tid": tid, "ts": 0, "args": args});
    // Tracks, named and in order.
    let mut sort = 0;
    for proc in &p.processes {
        let role = if proc.role.is_empty() {
            String::new()
        } else {
            format!(" ({})", proc.role)
        };
        out.push(meta(
            "process_name",
            proc.pid,
            0,
            json!({"name": format!("{} [{}]{role}", proc.name, proc.pid)}),
        ));
        out.push(meta(
            "process_sort_index",
            proc.pid,
            0,
            json!({"sort_index": sort}),
        ));
        sort += 1;
        for tid in &proc.tids {
            out.push(meta(
                "thread_name",
                proc.pid,
                *tid,
                json!({"name": format!("thread {tid}")}),
            ));
        }
    }
    out.push(meta(
        "process_name",
        ws2,
        0,
        json!({"name": "Ws2_32 (dispatcher, catalog)"}),
    ));
    out.push(meta(
        "process_sort_index",
        ws2,
        0,
        json!({"sort_index": sort}),
    ));
    out.push(meta("thread_name", ws2, 0, json!({"name": "Ws2_32"})));
    sort += 1;
    // Which clients each provider serves: one thread each.
    let mut served: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
    for r in &p.rows {
        if let (Some(i), Some(pid)) = (r.provider, r.pid)
            && matches!(r.from, Lane::Provider(_)) | matches!(r.to, Some(Lane::Provider(_)))
        {
            let list = served.entry(i).or_default();
            if !list.contains(&pid) {
                list.push(pid);
            }
        }
    }
    for (i, prov) in p.providers.iter().enumerate() {
        let pid = prov_pid(i);
        out.push(meta(
            "process_name",
            pid,
            0,
            json!({"name": format!("provider {} ({})", prov.name, prov.id)}),
        ));
        out.push(meta(
            "process_sort_index",
            pid,
            0,
            json!({"sort_index": sort}),
        ));
        sort += 1;
        out.push(meta("thread_name", pid, 0, json!({"name": "provider"})));
        let mut clients = served.get(&i).cloned().unwrap_or_default();
        clients.sort_unstable();
        for c in clients {
            let name = p
                .process(c)
                .map_or_else(|| format!("pid {c}"), |x| format!("{} [{c}]", x.name));
            out.push(meta(
                "thread_name",
                pid,
                c,
                json!({"name": format!("for {name}")}),
            ));
        }
    }
    let end_t = p
        .trace
        .end_t
        .or_else(|| p.trace.events.last().map(|s| s.t))
        .unwrap_or(0);
    // Open calls, by track: the row index of the call.
    let mut open: BTreeMap<(u32, u32), Vec<usize>> = BTreeMap::new();
    let mut slices: Vec<(usize, Value)> = Vec::new(); // (row of the call, slice), durations later
    let track = |lane: Lane, r: &Row| -> (u32, u32) {
        match lane {
            Lane::Thread(pid, tid) => (pid, tid),
            Lane::Dispatcher => (ws2, 0),
            Lane::Provider(i) => (prov_pid(i), r.pid.unwrap_or(0)),
        }
    };
    let mut durations: BTreeMap<usize, (u64, Map<String, Value>)> = BTreeMap::new();
    // The rows that complete a drawn async call (a flow ends there).
    let linked: std::collections::BTreeSet<usize> =
        p.rows.iter().filter_map(|r| r.completes_at).collect();
    for (n, r) in p.rows.iter().enumerate() {
        let event = &p.trace.events[r.index].event;
        let mut args = Map::new();
        args.insert("seq".into(), json!(r.seq));
        args.insert("what".into(), json!(r.text));
        if !r.labels.is_empty() {
            args.insert("labels".into(), json!(r.labels.join(" ")));
        }
        match event {
            Event::ApiCall { call, args: a, .. } => {
                let (pid, tid) = track(r.from, r);
                for (k, v) in a {
                    args.insert(format!("arg.{k}"), v.clone());
                }
                open.entry((pid, tid)).or_default().push(n);
                slices.push((
                    n,
                    json!({"ph": "X", "name": call.name(), "cat": "api", "pid": pid, "tid": tid, "ts": r.t, "args": Value::Object(args)}),
                ));
            }
            Event::NspCall { func, args: a, .. } => {
                let (pid, tid) = track(r.to.unwrap_or(Lane::Dispatcher), r);
                for (k, v) in a.iter().flatten() {
                    args.insert(format!("arg.{k}"), v.clone());
                }
                open.entry((pid, tid)).or_default().push(n);
                slices.push((
                    n,
                    json!({"ph": "X", "name": func.name(), "cat": "nsp", "pid": pid, "tid": tid, "ts": r.t, "args": Value::Object(args)}),
                ));
                if let Some(a) = &r.starts_async
                    && r.completes_at.is_some()
                {
                    out.push(json!({"ph": "s", "name": format!("async {a}"), "cat": "async", "id": flow_id(a), "pid": pid, "tid": tid, "ts": r.t}));
                }
            }
            Event::ApiReturn { .. } | Event::NspReturn { .. } => {
                let mut extra = Map::new();
                let (lane, ret, err) = match event {
                    Event::ApiReturn {
                        ret, err, result, ..
                    } => {
                        for (k, v) in result.iter().flatten() {
                            extra.insert(format!("result.{k}"), v.clone());
                        }
                        (r.to.unwrap_or(r.from), json!(ret), *err)
                    }
                    Event::NspReturn { ret, err, .. } => (r.from, json!(ret), *err),
                    _ => (r.from, Value::Null, 0),
                };
                extra.insert("ret".into(), ret);
                extra.insert("err".into(), json!(super::describe::err_text(err)));
                extra.insert("returned".into(), json!(r.text));
                if let Some(start) = open.get_mut(&track(lane, r)).and_then(Vec::pop) {
                    durations.insert(start, (r.t, extra));
                }
            }
            Event::AsyncComplete { async_call, .. } => {
                let (pid, tid) = track(r.from, r);
                slices.push((
                    n,
                    json!({"ph": "X", "name": r.text, "cat": "async", "pid": pid, "tid": tid, "ts": r.t, "dur": 0, "args": Value::Object(args)}),
                ));
                if linked.contains(&n) {
                    let a = async_call.to_string();
                    out.push(json!({"ph": "f", "bp": "e", "name": format!("async {a}"), "cat": "async", "id": flow_id(&a), "pid": pid, "tid": tid, "ts": r.t}));
                }
            }
            Event::Violation { rule, detail } => {
                args.insert("rule".into(), json!(rule));
                args.insert("detail".into(), json!(detail));
                if let Some(text) = super::rule_text(rule) {
                    args.insert("rule_text".into(), json!(text));
                }
                out.push(json!({"ph": "i", "s": "g", "name": format!("violation {rule}"), "cat": "violation", "pid": ws2, "tid": 0, "ts": r.t, "args": Value::Object(args)}));
            }
            _ => {
                // Starts, exits, crashes, advertising, catalog changes, faults: instants.
                let (pid, tid) = track(r.from, r);
                let alarm = matches!(r.shape, Shape::Mark { alarm: true });
                let scope = if matches!(r.from, Lane::Thread(..)) && alarm {
                    "p"
                } else {
                    "t"
                };
                let cat = match event {
                    Event::Fault { .. } => "fault",
                    Event::ProcessExit { .. } | Event::ProcessStart { .. } => "process",
                    Event::ProviderAdvertise { .. } | Event::ProviderUnadvertise { .. } => {
                        "advertise"
                    }
                    _ => "catalog",
                };
                out.push(json!({"ph": "i", "s": scope, "name": r.text, "cat": cat, "pid": pid, "tid": tid, "ts": r.t, "args": Value::Object(args)}));
            }
        }
    }
    for (n, mut slice) in slices {
        if slice.get("dur").is_none() {
            let (end, extra) = durations.remove(&n).unwrap_or_else(|| {
                let mut m = Map::new();
                m.insert("returned".into(), json!(false));
                (end_t, m)
            });
            let ts = slice["ts"].as_u64().unwrap_or(0);
            slice["dur"] = json!(end.saturating_sub(ts));
            if let Some(a) = slice.get_mut("args").and_then(Value::as_object_mut) {
                a.extend(extra);
            }
        }
        out.push(slice);
    }
    let h = &p.trace.header;
    let other = json!({
        "scenario": p.scenario_name(),
        "seed": h.seed.to_string(),
        "profile": h.profile,
        "startup_policy": h.startup_policy,
        "mode": h.mode.name(),
        "cut_short": !p.trace.is_complete(),
        "events": p.rows.len(),
    });
    let mut text = String::from("{\"displayTimeUnit\":\"ms\",\"otherData\":");
    text.push_str(&other.to_string());
    text.push_str(",\"traceEvents\":[\n");
    let n = out.events.len();
    for (i, e) in out.events.iter().enumerate() {
        text.push_str(&e.to_string());
        text.push_str(if i + 1 < n { ",\n" } else { "\n" });
    }
    text.push_str("]}\n");
    text
}

/// A flow's id: the async call's number (`a7` → 7).
fn flow_id(label: &str) -> u64 {
    label[1..].parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Window;
    use crate::render::tests::demo;

    #[test]
    fn the_demo_has_tracks_slices_and_flows() {
        let trace = demo();
        let p = Picture::new(&trace, &Window::default()).expect("picture");
        let text = render(&p);
        let v: Value = serde_json::from_str(&text).expect("json");
        let events = v["traceEvents"].as_array().expect("array");
        let count = |ph: &str| events.iter().filter(|e| e["ph"] == ph).count();
        assert!(count("M") > 5);
        assert!(count("X") > 20);
        assert_eq!(count("s"), count("f"));
        assert!(count("s") > 0);
        assert!(
            events
                .iter()
                .any(|e| e["ph"] == "i" && e["name"] == "*** crash ***")
        );
        assert_eq!(render(&p), text, "byte-stable");
    }
}
