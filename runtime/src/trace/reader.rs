//! Reading nsptrace v1 files, with `file:line: what was expected` for anything malformed.
//!
//! Files are streamed a line at a time through a bounded reader: no line may be longer than
//! [`MAX_HEADER_LINE_BYTES`] (line 1) or [`MAX_EVENT_LINE_BYTES`] (every other line), and the
//! header's embedded scenario is held to the scenario limits while it is parsed
//! ([`TraceHeader::decode`]), so a hostile file costs at most a small multiple of the largest
//! legal line before it is refused.
//!
//! A file without an `end` line is not an error: it is a trace that was cut short, and its
//! readers (the checker, replay) say so. A last line without its `\n` is read if it is a whole
//! event (with a warning); if it is not, the trace was cut short in the middle of that line,
//! which is then left out (with a warning) and the trace read as cut short.

use super::fast::decode_canonical;
use super::header::{TraceHeader, clip};
use super::json::{decode_event_general, encode_event};
use crate::event::{Event, Stamped};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// The longest header line (line 1) a trace may have, in bytes, its `\n` not counted. The
/// largest legal header embeds a scenario of at most 1 MiB of TOML (`MAX_FILE_BYTES`), whose
/// JSON form, every default and every flag name written out, is at most about 11 times as
/// long (measured: a file of `{op="lookup",provider="a",flags=0x1ffff}` steps, 10.6 times);
/// 16 MiB leaves room.
pub const MAX_HEADER_LINE_BYTES: usize = 16 * 1024 * 1024;

/// The longest event line a trace may have, in bytes, its `\n` not counted. The largest
/// events are `api.return` lines of WSALookupServiceNext, bounded by the 1 MiB limit on a
/// `buffer`, and `fault` lines quoting a provider's panic message.
pub const MAX_EVENT_LINE_BYTES: usize = 4 * 1024 * 1024;

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
    /// What was accepted although the format says otherwise (a last line without its `\n`),
    /// one sentence each, for a reader to print as warnings.
    pub warnings: Vec<String>,
    /// The line numbers (1-based, in order) of event lines, `end` line included, that do not
    /// read back as they were written: encoding their event gives other bytes (spaces, keys in
    /// another order, escapes written differently). Every other event line is exactly its
    /// event's encoding, so replay compares events there and text only here.
    pub non_canonical: Vec<usize>,
    /// The directory of the file the trace was read from: the embedded scenario's relative
    /// file names (a C provider's library) are resolved against it. `None` for text parsed
    /// in memory.
    pub base_dir: Option<std::path::PathBuf>,
}

/// A trace that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ReadError {
    pub file: String,
    /// 1-based; the header is line 1 (0 when the file could not be read at all: `message`
    /// then names the file itself).
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            0 => f.write_str(&self.message),
            n => write!(f, "{}:{n}: {}", self.file, self.message),
        }
    }
}

impl ReadError {
    /// Whether the file is not a trace at all (its first line is not even JSON): a reader may
    /// suggest what the file might be instead.
    pub fn not_a_trace(&self) -> bool {
        self.line == 1 && self.message.starts_with(super::header::NOT_A_TRACE)
    }
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

/// Reads and parses a trace file, streaming it line by line.
pub fn read_trace(path: &Path) -> Result<Trace, ReadError> {
    read_file(path, false).map(|(trace, _)| trace)
}

/// [`read_trace`], also returning the lines read as text (every line with its `\n`; a last
/// line cut short is left out), for a byte-for-byte comparison such as replay's.
pub fn read_trace_and_text(path: &Path) -> Result<(Trace, String), ReadError> {
    read_file(path, true).map(|(trace, text)| (trace, text.unwrap_or_default()))
}

fn read_file(path: &Path, keep_text: bool) -> Result<(Trace, Option<String>), ReadError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| ReadError {
        file: name.clone(),
        line: 0,
        message: format!("cannot read {name}: {e}"),
    })?;
    let (mut trace, text) = read_from(&name, BufReader::with_capacity(64 * 1024, file), keep_text)?;
    trace.base_dir = path.parent().map(Path::to_path_buf);
    Ok((trace, text))
}

/// Parses trace text; `name` is used in error messages.
pub fn parse_trace(name: &str, text: &str) -> Result<Trace, ReadError> {
    read_from(name, text.as_bytes(), false).map(|(trace, _)| trace)
}

/// Reads a trace from any buffered reader, a line at a time, never holding more than one line
/// of text (plus, with `keep_text`, the text read so far). `name` is used in error messages.
pub fn read_from<R: BufRead>(
    name: &str,
    mut input: R,
    keep_text: bool,
) -> Result<(Trace, Option<String>), ReadError> {
    let fail = |line: usize, message: String| ReadError {
        file: name.to_string(),
        line,
        message: clip_message(message),
    };
    let mut text = keep_text.then(String::new);
    let mut buf = Vec::new();
    let mut warnings = Vec::new();

    // Line 1: the header, parsed straight from the input so that its limits hold while it
    // is read (it may be the largest line by far).
    let first = input
        .fill_buf()
        .map_err(|e| fail(1, format!("cannot read: {e}")))?;
    match first {
        [] => return Err(fail(1, "the file is empty; expected a header line".into())),
        [0xEF, 0xBB, 0xBF, ..] => {
            return Err(fail(
                1,
                "the file starts with a byte-order mark; nsptrace is UTF-8 without one".into(),
            ));
        }
        [b'{', ..] => {}
        _ => return Err(fail(1, super::header::NOT_A_TRACE.into())),
    }
    let mut raw = Vec::new();
    let mut tee = Tee {
        inner: input.by_ref().take(cap(MAX_HEADER_LINE_BYTES)),
        copy: keep_text.then_some(&mut raw),
        read: 0,
    };
    let decoded = TraceHeader::read_from(&mut tee);
    if tee.read as u64 >= cap(MAX_HEADER_LINE_BYTES) {
        return Err(fail(
            1,
            format!(
                "the header line is longer than {MAX_HEADER_LINE_BYTES} bytes, the limit \
                 MAX_HEADER_LINE_BYTES (the largest scenario a trace can embed is far smaller)"
            ),
        ));
    }
    let header = decoded.map_err(|e| fail(1, e.0))?;
    // The rest of line 1: nothing but its newline (whitespace is tolerated).
    match next_line(&mut input, &mut buf, 1024).map_err(|e| fail(1, format!("cannot read: {e}")))? {
        Line::Text { bytes, newline } if bytes.iter().all(u8::is_ascii_whitespace) => {
            if !newline {
                warnings.push(
                    "line 1, the last line, has no final newline (every line ends with `\\n`); \
                     it was read as complete"
                        .to_string(),
                );
            }
            raw.extend_from_slice(bytes);
        }
        Line::Eof => warnings.push(
            "line 1, the last line, has no final newline (every line ends with `\\n`); \
             it was read as complete"
                .to_string(),
        ),
        _ => {
            return Err(fail(
                1,
                "unexpected text after the header's JSON object".into(),
            ));
        }
    }
    if let Some(t) = text.as_mut() {
        // The header's strings were checked as UTF-8 by the JSON parser.
        t.push_str(&String::from_utf8_lossy(&raw));
        t.push('\n');
    }

    let mut events: Vec<Stamped> = Vec::new();
    let mut non_canonical = Vec::new();
    let mut scratch = String::new();
    let mut violations_seen = 0u64;
    let mut end = None;
    let mut end_t = None;
    let mut last_t = 0;
    let mut n = 1;
    loop {
        n += 1;
        let (bytes, newline) = match next_line(&mut input, &mut buf, MAX_EVENT_LINE_BYTES)
            .map_err(|e| fail(n, format!("cannot read: {e}")))?
        {
            Line::Eof => break,
            Line::TooLong => {
                return Err(fail(
                    n,
                    format!(
                        "the line is longer than {MAX_EVENT_LINE_BYTES} bytes, the limit \
                         MAX_EVENT_LINE_BYTES for an event line"
                    ),
                ));
            }
            Line::Text { bytes, newline } => (bytes, newline),
        };
        if end.is_some() {
            return Err(fail(n, "a line after the `end` line".into()));
        }
        let decoded = std::str::from_utf8(bytes)
            .map_err(|_| "the line is not UTF-8 text".to_string())
            .and_then(|line| {
                if line.trim().is_empty() {
                    Err("a blank line; expected an event".to_string())
                } else {
                    match decode_canonical(line) {
                        Some(s) => Ok((line, s, true)),
                        None => decode_event_general(line)
                            .map(|s| {
                                scratch.clear();
                                encode_event(&s, &mut scratch);
                                let canonical = scratch.strip_suffix('\n') == Some(line);
                                (line, s, canonical)
                            })
                            .map_err(|e| e.0),
                    }
                }
            });
        let (line, s, canonical) = match decoded {
            Ok(ok) => ok,
            Err(_) if !newline => {
                warnings.push(format!(
                    "line {n}, the last line, has no final newline and is not a whole event: \
                     the trace was cut short in the middle of it, and it was left out"
                ));
                break;
            }
            Err(message) => return Err(fail(n, message)),
        };
        if !newline {
            warnings.push(format!(
                "line {n}, the last line, has no final newline (every line ends with `\\n`); \
                 it was read as complete"
            ));
        }
        let want = events.len() as u64;
        if s.seq != want {
            return Err(fail(n, format!("`seq` is {}, expected {want}", s.seq)));
        }
        if s.t < last_t {
            return Err(fail(n, format!("`t` goes back from {last_t} to {}", s.t)));
        }
        last_t = s.t;
        if let Some(t) = text.as_mut() {
            t.push_str(line);
            t.push('\n');
        }
        if !canonical {
            non_canonical.push(n);
        }
        match s.event {
            Event::End {
                events: count,
                violations,
            } => {
                if count != want || violations != violations_seen {
                    return Err(fail(
                        n,
                        format!(
                            "the `end` line counts {count} events and {violations} violations, but the trace has {want} and {violations_seen}"
                        ),
                    ));
                }
                end = Some((count, violations));
                end_t = Some(s.t);
            }
            Event::Violation { .. } => {
                violations_seen += 1;
                events.push(s);
            }
            _ => events.push(s),
        }
    }
    Ok((
        Trace {
            header,
            events,
            end,
            end_t,
            warnings,
            non_canonical,
            base_dir: None,
        },
        text,
    ))
}

/// `max` bytes and one more: how much of a line of at most `max` bytes to read to see its end.
fn cap(max: usize) -> u64 {
    u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1)
}

/// A reader that counts what it hands out, and copies it when asked to.
struct Tee<'c, R> {
    inner: R,
    copy: Option<&'c mut Vec<u8>>,
    read: usize,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        self.read += n;
        if let Some(copy) = self.copy.as_mut() {
            copy.extend_from_slice(out.get(..n).unwrap_or_default());
        }
        Ok(n)
    }
}

/// One line read by [`next_line`].
enum Line<'b> {
    Eof,
    /// Over the limit: reading stopped at the limit.
    TooLong,
    /// The line's bytes without its `\n`, and whether it had one.
    Text {
        bytes: &'b [u8],
        newline: bool,
    },
}

/// Reads one line of at most `max` bytes (its `\n` not counted) into `buf`, never reading
/// more than `max + 1` bytes of it.
fn next_line<'b, R: BufRead>(
    input: &mut R,
    buf: &'b mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line<'b>> {
    buf.clear();
    let cap = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    input.by_ref().take(cap).read_until(b'\n', buf)?;
    if buf.is_empty() {
        return Ok(Line::Eof);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        return Ok(Line::Text {
            bytes: buf,
            newline: true,
        });
    }
    if buf.len() > max {
        return Ok(Line::TooLong);
    }
    Ok(Line::Text {
        bytes: buf,
        newline: false,
    })
}

/// Error messages quote input: keep them short.
fn clip_message(message: String) -> String {
    if message.chars().count() > 4 * super::header::MAX_QUOTED_CHARS {
        clip(&message) + " (message cut)"
    } else {
        message
    }
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
    fn lines_written_otherwise_than_their_encoding_are_listed() {
        let spaced = E1.replace(",\"how\"", ", \"how\"");
        let trace = parse_trace("a.jsonl", &text(&[HEADER, E0, &spaced, END])).expect("valid");
        assert_eq!(trace.non_canonical, vec![3]);
        let trace = parse_trace("a.jsonl", &text(&[HEADER, E0, E1, END])).expect("valid");
        assert!(trace.non_canonical.is_empty());
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

    /// Endless bytes: `prefix`, then `pattern` again and again (a hostile file of any size).
    struct Endless {
        prefix: Vec<u8>,
        pattern: Vec<u8>,
        at: usize,
        /// Bytes handed out so far.
        read: usize,
    }

    impl Endless {
        fn new(prefix: &str, pattern: &str) -> BufReader<Endless> {
            BufReader::new(Endless {
                prefix: prefix.as_bytes().to_vec(),
                pattern: pattern.as_bytes().to_vec(),
                at: 0,
                read: 0,
            })
        }
    }

    impl Read for Endless {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            for b in out.iter_mut() {
                *b = match self.prefix.get(self.at) {
                    Some(&b) => b,
                    None => self.pattern[(self.at - self.prefix.len()) % self.pattern.len()],
                };
                self.at += 1;
            }
            self.read += out.len();
            Ok(out.len())
        }
    }

    #[test]
    fn a_last_line_without_its_newline_is_read_with_a_warning() {
        let t = format!("{HEADER}\n{E0}\n{E1}\n{END}");
        let trace = parse_trace("x.jsonl", &t).expect("accepted");
        assert!(trace.is_complete());
        assert_eq!(trace.events.len(), 2);
        assert_eq!(trace.warnings.len(), 1, "{:?}", trace.warnings);
        assert!(trace.warnings[0].contains("line 4"), "{:?}", trace.warnings);
        assert!(trace.warnings[0].contains("no final newline"));
        // Replay compares against the text read, which gets its newline back.
        let (_, text) = read_from("x.jsonl", t.as_bytes(), true).expect("accepted");
        assert_eq!(text.as_deref(), Some(format!("{t}\n").as_str()));
    }

    #[test]
    fn a_last_line_cut_in_the_middle_makes_a_cut_short_trace() {
        let t = format!("{HEADER}\n{E0}\n{}", &E1[..20]);
        let trace = parse_trace("x.jsonl", &t).expect("readable");
        assert!(!trace.is_complete());
        assert_eq!(trace.events.len(), 1);
        assert!(trace.warnings[0].contains("line 3"), "{:?}", trace.warnings);
        assert!(trace.warnings[0].contains("cut short"));
        // A cut line that ends in a newline is an error, as anywhere else.
        let e = parse_trace("x.jsonl", &format!("{t}\n")).expect_err("bad line");
        assert_eq!(e.line, 3);
    }

    #[test]
    fn an_endless_line_is_refused_after_the_limit_not_read_whole() {
        let mut r = Endless::new(r#"{"nsptrace":1,"mode":""#, "x");
        let e = read_from("big.jsonl", &mut r, false).expect_err("too long");
        assert_eq!(e.line, 1);
        assert!(e.message.contains("MAX_HEADER_LINE_BYTES"), "{e}");
        assert!(r.get_ref().read <= MAX_HEADER_LINE_BYTES + 64 * 1024);

        let mut r = Endless::new(&format!("{HEADER}\n{{\"seq\":0,"), " ");
        let e = read_from("big.jsonl", &mut r, false).expect_err("too long");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("MAX_EVENT_LINE_BYTES"), "{e}");
    }

    #[test]
    fn a_header_over_a_scenario_limit_is_refused_while_it_is_read() {
        let prefix = r#"{"nsptrace":1,"mode":"sim","seed":7,"profile":"win7","startup_policy":"per-process","scenario":{"name":"x","process":["#;
        let cases = [
            (
                prefix.to_string(),
                r#"{"name":"p"},"#,
                "MAX_PROCESSES = 16384",
            ),
            (
                prefix.replace("process", "provider"),
                r#"{"name":"p"},"#,
                "MAX_PROVIDERS = 64",
            ),
            (
                prefix.replace("process", "host"),
                r#"{"name":"p"},"#,
                "MAX_HOSTS = 64",
            ),
            (
                format!(r#"{prefix}{{"name":"p","steps":["#),
                r#"{"op":"cleanup"},"#,
                "MAX_STEPS_PER_THREAD = 1024",
            ),
            (
                format!(r#"{prefix}{{"name":"p","thread":["#),
                r#"{"steps":[]},"#,
                "MAX_THREADS_PER_PROCESS - 1 = 15",
            ),
            (
                format!(r#"{prefix}{{"name":"p","thread":[{{"steps":["#),
                r#"{"op":"cleanup"},"#,
                "MAX_STEPS_PER_THREAD = 1024",
            ),
            (
                format!("{prefix}{{\"name\":\"p\",\"x\":"),
                "[",
                "MAX_DEPTH = 32",
            ),
            (
                format!("{prefix}{{\"name\":\"p\",\"x\":["),
                "0,",
                "MAX_HEADER_VALUES",
            ),
        ];
        for (prefix, pattern, needle) in cases {
            let mut r = Endless::new(&prefix, pattern);
            let e = read_from("h.jsonl", &mut r, false).expect_err(needle);
            assert_eq!(e.line, 1);
            assert!(e.message.contains(needle), "{needle}: {e}");
            // Refused at the table past the limit, long before the line limit.
            assert!(
                r.get_ref().read < MAX_HEADER_LINE_BYTES / 2,
                "{needle}: read {}",
                r.get_ref().read
            );
        }
    }

    #[test]
    fn what_is_not_a_trace_is_said_so_and_errors_quote_little() {
        let e = parse_trace("mine.toml", "name = \"x\"\n").expect_err("toml");
        assert!(e.not_a_trace(), "{e}");
        assert_eq!(
            e.to_string(),
            "mine.toml:1: this is not an nsptrace file (the first line is not JSON)"
        );
        let long = "y".repeat(5000);
        let t = text(&[HEADER, &E0.replace("process.start", &long)]);
        let e = parse_trace("x.jsonl", &t).expect_err("unknown kind");
        assert!(e.message.len() < 200, "{e}");
        let e = read_trace(Path::new("/nonexistent/x.jsonl")).expect_err("missing");
        assert!(
            e.to_string()
                .starts_with("cannot read /nonexistent/x.jsonl: No such file"),
            "{e}"
        );
    }
}
