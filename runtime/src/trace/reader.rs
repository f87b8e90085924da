//! Reading nsptrace v1 files, with `file:line: what was expected` for anything malformed.
//!
//! A file without an `end` line is not an error: it is a trace that was cut short, and its
//! readers (the checker, replay) say so.

use super::header::TraceHeader;
use super::json::{decode_event, encode_event};
use crate::event::{Event, Stamped};
use std::path::Path;

/// A parsed trace.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    pub header: TraceHeader,
    /// Every event line, without the `end` line.
    pub events: Vec<Stamped>,
    /// The `end` line's (events, violations), when the trace is complete.
    pub end: Option<(u64, u64)>,
    /// The `t` of the `end` line.
    pub end_t: Option<u64>,
}

/// A trace that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ReadError {
    pub file: String,
    /// 1-based; the header is line 1 (0 when the file could not be read at all).
    pub line: usize,
    pub message: String,
}

impl Trace {
    pub fn is_complete(&self) -> bool {
        self.end.is_some()
    }

    /// Why the trace is incomplete, for a reader to print.
    pub fn cut_short_note(&self) -> Option<String> {
        (!self.is_complete()).then(|| {
            format!(
                "the trace ends at line {} without an `end` line: it was cut short",
                self.events.len() + 1
            )
        })
    }

    /// The violation lines the trace holds.
    pub fn violations(&self) -> impl Iterator<Item = (&str, &str, u64)> {
        self.events.iter().filter_map(|s| match &s.event {
            Event::Violation { rule, detail } => Some((rule.as_str(), detail.as_str(), s.seq)),
            _ => None,
        })
    }

    /// The trace's text again (the same bytes for a valid file).
    pub fn to_text(&self) -> String {
        let mut out = self.header.encode();
        for s in &self.events {
            encode_event(s, &mut out);
        }
        if let Some((events, violations)) = self.end {
            let end = Stamped {
                seq: events,
                t: self.end_t.unwrap_or(0),
                event: Event::End { events, violations },
            };
            encode_event(&end, &mut out);
        }
        out
    }
}

/// Reads and parses a trace file.
pub fn read_trace(path: &Path) -> Result<Trace, ReadError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ReadError {
        file: name.clone(),
        line: 0,
        message: format!("cannot read the trace: {e}"),
    })?;
    parse_trace(&name, &text)
}

/// Parses trace text; `name` is used in error messages.
pub fn parse_trace(name: &str, text: &str) -> Result<Trace, ReadError> {
    let fail = |line: usize, message: String| ReadError {
        file: name.to_string(),
        line,
        message,
    };
    if text.starts_with('\u{feff}') {
        return Err(fail(
            1,
            "the file starts with a byte-order mark; nsptrace is UTF-8 without one".into(),
        ));
    }
    if text.is_empty() {
        return Err(fail(1, "the file is empty; expected a header line".into()));
    }
    if !text.ends_with('\n') {
        let last = text.lines().count();
        return Err(fail(
            last,
            "the last line has no newline (every line ends with `\\n`)".into(),
        ));
    }
    let mut lines = text
        .split_terminator('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l));
    let header = match lines.next() {
        Some((_, line)) => TraceHeader::decode(line).map_err(|e| fail(1, e.0))?,
        None => return Err(fail(1, "expected a header line".into())),
    };
    let mut events = Vec::new();
    let mut end = None;
    let mut end_t = None;
    let mut last_t = 0;
    for (n, line) in lines {
        if end.is_some() {
            return Err(fail(n, "a line after the `end` line".into()));
        }
        if line.trim().is_empty() {
            return Err(fail(n, "a blank line; expected an event".into()));
        }
        let s = decode_event(line).map_err(|e| fail(n, e.0))?;
        let want = events.len() as u64;
        if s.seq != want {
            return Err(fail(n, format!("`seq` is {}, expected {want}", s.seq)));
        }
        if s.t < last_t {
            return Err(fail(n, format!("`t` goes back from {last_t} to {}", s.t)));
        }
        last_t = s.t;
        if let Event::End {
            events: count,
            violations,
        } = s.event
        {
            let seen = events
                .iter()
                .filter(|e: &&Stamped| matches!(e.event, Event::Violation { .. }))
                .count() as u64;
            if count != want || violations != seen {
                return Err(fail(
                    n,
                    format!(
                        "the `end` line counts {count} events and {violations} violations, but the trace has {want} and {seen}"
                    ),
                ));
            }
            end = Some((count, violations));
            end_t = Some(s.t);
            continue;
        }
        events.push(s);
    }
    Ok(Trace {
        header,
        events,
        end,
        end_t,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = r#"{"nsptrace":1,"mode":"sim","seed":7,"profile":"win7","startup_policy":"per-process","scenario":{"name":"x"}}"#;
    const E0: &str =
        r#"{"seq":0,"t":0,"ev":"process.start","pid":1,"name":"mailhost","role":"host"}"#;
    const E1: &str = r#"{"seq":1,"t":5,"ev":"process.exit","pid":1,"how":"exit"}"#;
    const END: &str = r#"{"seq":2,"t":5,"ev":"end","events":2,"violations":0}"#;

    fn text(lines: &[&str]) -> String {
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    #[test]
    fn a_complete_trace_reads_and_re_encodes_to_the_same_bytes() {
        let t = text(&[HEADER, E0, E1, END]);
        let trace = parse_trace("a.jsonl", &t).expect("valid");
        assert!(trace.is_complete());
        assert_eq!(trace.events.len(), 2);
        assert_eq!(trace.to_text(), t);
        assert_eq!(trace.cut_short_note(), None);
    }

    #[test]
    fn a_trace_without_end_is_cut_short_not_an_error() {
        let trace = parse_trace("a.jsonl", &text(&[HEADER, E0])).expect("readable");
        assert!(!trace.is_complete());
        assert_eq!(
            trace.cut_short_note().as_deref(),
            Some("the trace ends at line 2 without an `end` line: it was cut short")
        );
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let bad_seq = E1.replace("\"seq\":1", "\"seq\":5");
        let late = r#"{"seq":1,"t":0,"ev":"process.exit","pid":1,"how":"exit"}"#;
        let e0_late = E0.replace("\"t\":0", "\"t\":9");
        let cases: Vec<(String, usize, &str)> = vec![
            (text(&[HEADER, E0, "garbage"]), 3, "not JSON"),
            (text(&[HEADER, E0, &bad_seq]), 3, "`seq` is 5, expected 1"),
            (
                text(&[HEADER, &e0_late, late]),
                3,
                "`t` goes back from 9 to 0",
            ),
            (text(&[HEADER, E0, ""]), 3, "a blank line"),
            (text(&[HEADER, E0, E1, END, E1]), 5, "after the `end` line"),
            (
                text(&[
                    HEADER,
                    E0,
                    END.replace("\"seq\":2", "\"seq\":1")
                        .replace("\"events\":2", "\"events\":1")
                        .as_str(),
                ]),
                0,
                "",
            ),
            (
                text(&[
                    HEADER,
                    E0,
                    E1,
                    &END.replace("\"violations\":0", "\"violations\":3"),
                ]),
                4,
                "counts 2 events and 3 violations",
            ),
            (format!("\u{feff}{}", text(&[HEADER])), 1, "byte-order mark"),
            (format!("{HEADER}\n{E0}"), 2, "no newline"),
            (
                text(&[r#"{"nsptrace":9,"mode":"sim"}"#]),
                1,
                "nsptrace version 9 is not supported",
            ),
            (String::new(), 1, "empty"),
        ];
        for (t, line, needle) in cases {
            if needle.is_empty() {
                assert!(
                    parse_trace("x.jsonl", &t).is_ok(),
                    "a one-event trace with a matching end is valid"
                );
                continue;
            }
            let e = parse_trace("x.jsonl", &t).expect_err(needle);
            assert_eq!(e.line, line, "{e}");
            assert!(
                e.to_string().starts_with(&format!("x.jsonl:{line}: ")),
                "{e}"
            );
            assert!(e.message.contains(needle), "{e}");
        }
    }
}
