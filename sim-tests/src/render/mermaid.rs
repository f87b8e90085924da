//! A Mermaid `sequenceDiagram` of a trace: one participant per process, Ws2_32 and each
//! provider; one message per call, return and completion (the words of [`super::describe`]);
//! notes for exits, crashes, catalog changes, faults and violations.
//!
//! Names are the user's text: every character Mermaid could read as syntax is written as an
//! entity code (`#59;`), which Mermaid shows as the character itself.

use super::{Lane, Picture, Shape};
use std::fmt::Write;

/// At most this many events in a diagram of a whole trace (a longer one is unreadable and
/// past Mermaid's default text limit); `--from/--to` or `--process` choose the part to draw.
pub const MAX_MESSAGES: usize = 300;

/// Text safe in a Mermaid message, note, participant alias or comment.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '#' | ';' | '%' | '<' | '>' | '"' | '&' | '\\' | '{' | '}' | '`' | '|' => {
                let _ = write!(out, "#{};", c as u32);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn participant(lane: Lane) -> String {
    match lane {
        Lane::Thread(pid, _) => format!("P{pid}"),
        Lane::Dispatcher => "W".to_string(),
        Lane::Provider(i) => format!("V{}", i + 1),
    }
}

/// The diagram. `cap` limits a whole trace to [`MAX_MESSAGES`] events, with a note saying so.
pub fn render(p: &Picture, cap: bool) -> String {
    let mut out = String::from("sequenceDiagram\n");
    let h = &p.trace.header;
    let _ = writeln!(
        out,
        "    %% nspsim render: {} (seed {}, profile {}, {}, {} mode)",
        escape(&p.scenario_name()),
        h.seed,
        escape(&h.profile),
        escape(&h.startup_policy),
        h.mode.name()
    );
    for proc in &p.processes {
        let _ = writeln!(
            out,
            "    participant P{} as {} [{}]",
            proc.pid,
            escape(&proc.name),
            proc.pid
        );
    }
    let _ = writeln!(out, "    participant W as Ws2_32");
    for (i, prov) in p.providers.iter().enumerate() {
        let _ = writeln!(out, "    participant V{} as {}", i + 1, escape(&prov.name));
    }
    let first = p
        .processes
        .first()
        .map_or_else(|| "W".to_string(), |x| format!("P{}", x.pid));
    let last = if p.providers.is_empty() {
        "W".to_string()
    } else {
        format!("V{}", p.providers.len())
    };
    let span = if first == last {
        first.clone()
    } else {
        format!("{first},{last}")
    };
    let threads = |pid: u32| p.process(pid).map_or(1, |x| x.tids.len());
    let take = if cap {
        p.rows.len().min(MAX_MESSAGES)
    } else {
        p.rows.len()
    };
    for row in &p.rows[..take] {
        let mut text = escape(&row.text);
        // A process with several threads says which one speaks.
        for lane in [Some(row.from), row.to].into_iter().flatten() {
            if let Lane::Thread(pid, tid) = lane
                && threads(pid) > 1
            {
                text = format!("[thread {tid}] {text}");
            }
        }
        let from = participant(row.from);
        match (row.shape, row.to) {
            (Shape::Violation, _) => {
                let rule = row.text.split(':').next().unwrap_or("");
                let why = super::rule_text(rule)
                    .map(|r| format!(" (rule {}: {})", escape(rule), escape(r)))
                    .unwrap_or_default();
                let _ = writeln!(out, "    Note over {span}: VIOLATION {text}{why}");
            }
            (Shape::Mark { .. }, _) | (_, None) => {
                if row.text.starts_with("started") {
                    continue; // the participant list says who runs
                }
                let _ = writeln!(out, "    Note over {from}: {text}");
            }
            (shape, Some(to)) => {
                let arrow = match shape {
                    Shape::Call => "->>",
                    Shape::Complete => "-)",
                    _ => "-->>",
                };
                let to = participant(to);
                let _ = writeln!(out, "    {from}{arrow}{to}: {text}");
            }
        }
    }
    if take < p.rows.len() {
        let _ = writeln!(
            out,
            "    Note over {span}: {} more events not drawn (seq {} on). Draw a part with --from/--to or --process",
            p.rows.len() - take,
            p.rows[take].seq
        );
    }
    if let Some(note) = p.trace.cut_short_note() {
        let _ = writeln!(out, "    Note over {span}: {}", escape(&note));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Window;
    use crate::render::tests::demo;

    #[test]
    fn names_cannot_break_the_syntax() {
        assert_eq!(escape("a;b#c"), "a#59;b#35;c");
        assert_eq!(escape("x\ny<br>"), "x y#60;br#62;");
        assert_eq!(escape("mail-primary"), "mail-primary");
    }

    #[test]
    fn the_demo_has_its_participants_messages_and_notes() {
        let trace = demo();
        let p = Picture::new(&trace, &Window::default()).expect("picture");
        let text = render(&p, true);
        assert!(text.starts_with("sequenceDiagram\n"));
        assert!(text.contains("    participant P4 as crasher [4]\n"));
        assert!(text.contains("    participant W as Ws2_32\n"));
        assert!(text.contains("    participant V1 as mail-primary\n"));
        assert!(text.contains("Note over P4: *** crash ***"));
        assert!(text.contains("-->>P3: WSALookupServiceBegin ok q1"));
        assert!(text.contains("WSA_E_NO_MORE"));
        // One line per drawn event (starts are left to the participant list).
        let starts = p
            .rows
            .iter()
            .filter(|r| r.text.starts_with("started"))
            .count();
        let body = text
            .lines()
            .filter(|l| {
                !l.trim_start().starts_with("participant") && !l.trim_start().starts_with("%%")
            })
            .count()
            - 1;
        assert_eq!(body, p.rows.len() - starts);
        assert_eq!(render(&p, true), text, "byte-stable");
    }

    #[test]
    fn long_traces_are_capped_and_windows_are_not() {
        let trace = demo();
        let p = Picture::new(&trace, &Window::default()).expect("picture");
        let whole = render(&p, false);
        assert!(!whole.contains("more events not drawn"));
        let w = Window {
            from: Some(20),
            to: Some(30),
            process: None,
        };
        let p = Picture::new(&trace, &w).expect("picture");
        assert_eq!(p.rows.len(), 11);
    }
}
