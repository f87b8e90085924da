//! The HTML report: one self-contained file (inline CSS and JavaScript, no network) with a
//! swim-lane diagram of the trace.
//!
//! Lanes: each process with a lane per thread, Ws2_32, each provider. Rows: one per event,
//! an arrow for a call, a return or a completion (labelled with [`super::describe`]'s words),
//! a mark for starts, exits, crashes, catalog changes and faults, a red band for a violation
//! with its rule's text. A dashed line joins a deferred NextEx to its completion.
//!
//! The events are embedded as a compact JSON array (with each event's original line) and the
//! page draws only the rows on screen, so a trace of 100,000 events opens at once. User text
//! reaches the page only as JSON data set with `textContent`, or escaped by [`escape`].

use super::{Lane, Picture, Shape};
use std::fmt::Write;

/// Text safe between HTML tags and inside quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON string literal safe inside a `<script>` element: `<`, `>`, `&` and the two line
/// separators JavaScript once disallowed are written as `\u` escapes.
pub fn json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Shape codes the page's script knows.
fn shape_code(s: Shape) -> u8 {
    match s {
        Shape::Call => 0,
        Shape::Return { failed: false } => 1,
        Shape::Return { failed: true } => 2,
        Shape::Complete => 3,
        Shape::Mark { alarm: false } => 4,
        Shape::Mark { alarm: true } => 5,
        Shape::Violation => 6,
    }
}

/// The page's data: lanes, rows, the original lines, violations with their rules' text.
fn data(p: &Picture) -> String {
    let mut out = String::with_capacity(64 + p.rows.len() * 240);
    // Lanes: [kind, title, subtitle, group] (t = thread, w = Ws2_32, p = provider).
    out.push_str("{\"lanes\":[");
    let mut lane_of: Vec<(Lane, usize)> = Vec::new();
    let mut first = true;
    let mut push_lane = |out: &mut String, kind: &str, title: &str, sub: &str, group: i64| {
        if !first {
            out.push(',');
        }
        first = false;
        let _ = write!(out, "[\"{kind}\",");
        json_str(title, out);
        out.push(',');
        json_str(sub, out);
        let _ = write!(out, ",{group}]");
    };
    for (g, proc) in p.processes.iter().enumerate() {
        for tid in &proc.tids {
            lane_of.push((Lane::Thread(proc.pid, *tid), lane_of.len()));
            push_lane(
                &mut out,
                "t",
                &proc.name,
                &format!("[{}.{tid}]", proc.pid),
                g as i64,
            );
        }
    }
    lane_of.push((Lane::Dispatcher, lane_of.len()));
    push_lane(&mut out, "w", "Ws2_32", "dispatcher · catalog", -1);
    for (i, prov) in p.providers.iter().enumerate() {
        lane_of.push((Lane::Provider(i), lane_of.len()));
        push_lane(&mut out, "p", &prov.name, &prov.id.to_string(), -1);
    }
    let lane_index = |l: Lane| {
        lane_of
            .iter()
            .find(|(x, _)| *x == l)
            .map_or(-1, |(_, i)| *i as i64)
    };
    // Groups: [name, role, pid, exit].
    out.push_str("],\"groups\":[");
    for (g, proc) in p.processes.iter().enumerate() {
        if g > 0 {
            out.push(',');
        }
        out.push('[');
        json_str(&proc.name, &mut out);
        out.push(',');
        json_str(&proc.role, &mut out);
        let _ = write!(out, ",{},", proc.pid);
        json_str(proc.exit.map_or("", |h| h.name()), &mut out);
        out.push(']');
    }
    out.push_str("],\"providers\":[");
    for (i, prov) in p.providers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(&prov.name, &mut out);
    }
    // Texts, each once; rows refer to them by index.
    let mut texts: Vec<&str> = Vec::new();
    let mut text_index: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut rows = String::with_capacity(p.rows.len() * 48);
    rows.push('[');
    for (n, r) in p.rows.iter().enumerate() {
        if n > 0 {
            rows.push_str(",\n");
        }
        let ti = *text_index.entry(r.text.as_str()).or_insert_with(|| {
            texts.push(r.text.as_str());
            texts.len() - 1
        });
        // [seq, t, shape, from, to, text, pid, provider, labels, completion row]
        let _ = write!(
            rows,
            "[{},{},{},{},{},{ti},{},{},",
            r.seq,
            r.t,
            shape_code(r.shape),
            lane_index(r.from),
            r.to.map_or(-1, lane_index),
            r.pid.map_or(-1, i64::from),
            r.provider.map_or(-1, |x| x as i64),
        );
        json_str(&r.labels.join(" "), &mut rows);
        let _ = write!(rows, ",{}]", r.completes_at.map_or(-1, |x| x as i64));
    }
    rows.push(']');
    out.push_str("],\"texts\":[");
    for (i, t) in texts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(t, &mut out);
    }
    out.push_str("],\"rows\":");
    out.push_str(&rows);
    // Violations: [row, rule, rule text].
    out.push_str(",\"violations\":[");
    let mut first = true;
    for (n, r) in p.rows.iter().enumerate() {
        if r.shape != Shape::Violation {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        let rule = r.text.split(':').next().unwrap_or("");
        let _ = write!(out, "[{n},");
        json_str(rule, &mut out);
        out.push(',');
        json_str(
            super::rule_text(rule).unwrap_or("(not in the checker's table)"),
            &mut out,
        );
        out.push(']');
    }
    out.push_str("]}");
    out
}

/// The events' original lines, one per row, for the detail panel: raw text in a
/// `<script type="text/plain">` (no JSON to parse on load). A line's `<` (only ever inside a
/// JSON string) is written `\u003c`, so no line can close the element.
fn lines(p: &Picture) -> String {
    let mut out = String::with_capacity(p.rows.len() * 160);
    let mut line = String::new();
    for r in &p.rows {
        line.clear();
        nspsim_runtime::trace::encode_event(&p.trace.events[r.index], &mut line);
        out.push_str(&line.replace('<', "\\u003c"));
    }
    out.pop(); // the last newline
    out
}

/// The report. `strategy` is shown when the caller knows it (traces do not record it).
pub fn render(p: &Picture, strategy: Option<&str>) -> String {
    let h = &p.trace.header;
    let name = p.scenario_name();
    let mut facts = vec![("scenario", name.clone()), ("seed", h.seed.to_string())];
    if let Some(s) = strategy {
        facts.push(("strategy", s.to_string()));
    }
    facts.extend([
        ("policy", h.startup_policy.clone()),
        ("profile", h.profile.clone()),
        ("mode", h.mode.name().to_string()),
        ("events", p.trace.events.len().to_string()),
        ("violations", p.trace.violations().count().to_string()),
    ]);
    let mut header = String::new();
    for (k, v) in &facts {
        let _ = write!(
            header,
            "<span class=\"fact\"><b>{k}</b> <span id=\"fact-{k}\">{}</span></span>",
            escape(v)
        );
    }
    let mut notes = String::new();
    if let Some(note) = p.trace.cut_short_note() {
        let _ = write!(
            notes,
            "<div class=\"note cut\" id=\"cut-short\">trace cut short: {}</div>",
            escape(&note)
        );
    }
    if p.left_out > 0 {
        let _ = write!(
            notes,
            "<div class=\"note\">showing {} of {} events (a window of the trace)</div>",
            p.rows.len(),
            p.trace.events.len()
        );
    }
    TEMPLATE
        .replace("__TITLE__", &escape(&format!("nspsim: {name}")))
        .replace("__FACTS__", &header)
        .replace("__NOTES__", &notes)
        .replace("__DATA__", &data(p))
        .replace("__LINES__", &lines(p))
}

const TEMPLATE: &str = include_str!("report.html");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Window;
    use crate::render::tests::demo;
    use nspsim_runtime::trace::parse_trace;

    const DEMO: &str = include_str!("../../../traces/demo.jsonl");

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            escape("<b a=\"x\">&'"),
            "&lt;b a=&quot;x&quot;&gt;&amp;&#39;"
        );
        let mut s = String::new();
        json_str("</script><!--\u{2028}\"", &mut s);
        assert_eq!(s, r#""\u003c/script\u003e\u003c!--\u2028\"""#);
    }

    #[test]
    fn a_hostile_process_name_stays_text() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../traces/demo.jsonl"))
                .expect("demo")
                .replace("\"orderly\"", "\"</script><img src=x onerror=alert(1)>\"")
                .replace("\"name\":\"demo\"", "\"name\":\"<i>demo</i>\"");
        let trace = parse_trace("x.jsonl", &text).expect("valid");
        let p = Picture::new(&trace, &Window::default()).expect("picture");
        let html = render(&p, None);
        assert!(!html.contains("<img"));
        assert!(!html.contains("<i>demo"));
        assert_eq!(
            html.matches("</script>").count(),
            3,
            "data, lines and code only"
        );
        assert!(
            html.contains("\\u003c/script>\\u003cimg"),
            "the line keeps the name, escaped"
        );
    }

    #[test]
    fn the_demo_report_is_whole_and_stable() {
        let trace = demo();
        let p = Picture::new(&trace, &Window::default()).expect("picture");
        let html = render(&p, Some("random"));
        assert!(html.contains("<b>strategy</b> <span id=\"fact-strategy\">random</span>"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no network"
        );
        assert!(!html.contains("__DATA__"));
        let start = html.find("id=\"nspsim-data\">").expect("data") + 17;
        let end = start + html[start..].find("</script>").expect("end");
        let v: serde_json::Value = serde_json::from_str(&html[start..end]).expect("json");
        assert_eq!(v["rows"].as_array().map(Vec::len), Some(trace.events.len()));
        let start = html.find("id=\"nspsim-lines\">").expect("lines") + 18;
        let end = start + html[start..].find("</script>").expect("end");
        let lines: Vec<&str> = html[start..end].split('\n').collect();
        let original: Vec<&str> = DEMO.lines().skip(1).take(trace.events.len()).collect();
        assert_eq!(lines, original, "each event's line, exactly");
        assert_eq!(render(&p, Some("random")), html, "byte-stable");
    }
}
