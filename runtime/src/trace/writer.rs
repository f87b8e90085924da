//! Recording: every event becomes one line, numbered and stamped, in memory or on disk.
//!
//! [`Recorder`] is the shared core (numbering, counting violations, the `end` line, the
//! `tracing` mirror). [`TraceBuffer`] keeps the text in memory; [`TraceFile`] hands encoded
//! chunks to a writer thread through a bounded crossbeam channel so the run never waits on
//! disk, writes to a temporary name, and renames it only when the trace is complete, so a
//! crash never leaves half a trace under the final name.

use super::header::TraceHeader;
use super::json::encode_event;
use crate::event::{Event, EventSink, Stamped};
use crossbeam_channel::{Receiver, Sender, bounded};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// Numbering, counting and encoding shared by every recorder.
#[derive(Debug, Default)]
pub struct Recorder {
    next_seq: u64,
    violations: u64,
    last_t: u64,
}

impl Recorder {
    /// Encodes one event into `out` and mirrors it to `tracing` (target `nsp`).
    pub fn record(&mut self, t: u64, event: Event, out: &mut String) {
        if matches!(event, Event::Violation { .. }) {
            self.violations += 1;
        }
        self.last_t = self.last_t.max(t);
        let stamped = Stamped {
            seq: self.next_seq,
            t: self.last_t,
            event,
        };
        self.next_seq += 1;
        mirror(&stamped);
        encode_event(&stamped, out);
    }

    /// Appends the `end` line.
    pub fn end(&mut self, t: u64, out: &mut String) {
        let events = self.next_seq;
        let violations = self.violations;
        self.record(t, Event::End { events, violations }, out);
    }

    pub fn events(&self) -> u64 {
        self.next_seq
    }

    pub fn violations(&self) -> u64 {
        self.violations
    }
}

/// One short `tracing` line per event, so `RUST_LOG=nsp=debug` shows the lifecycle live.
fn mirror(s: &Stamped) {
    if !tracing::enabled!(target: "nsp", tracing::Level::DEBUG) {
        return;
    }
    let what = match &s.event {
        Event::ApiCall { pid, tid, call, .. } => format!("pid={pid} tid={tid} {}", call.name()),
        Event::ApiReturn {
            pid,
            tid,
            call,
            ret,
            err,
            ..
        } => {
            format!("pid={pid} tid={tid} {} ret={ret} err={err}", call.name())
        }
        Event::NspCall {
            provider,
            func,
            pid,
            ..
        } => format!("{provider} {} pid={pid}", func.name()),
        Event::NspReturn {
            provider,
            func,
            pid,
            err,
            ..
        } => {
            format!("{provider} {} pid={pid} err={err}", func.name())
        }
        Event::Violation { rule, detail } => format!("{rule}: {detail}"),
        other => format!("{other:?}"),
    };
    tracing::debug!(target: "nsp", seq = s.seq, t = s.t, "{} {}", s.event.kind(), what);
}

/// A trace kept in memory (tests, replay comparison, self-checks).
#[derive(Debug)]
pub struct TraceBuffer {
    text: String,
    recorder: Recorder,
}

impl TraceBuffer {
    pub fn new(header: &TraceHeader) -> Self {
        TraceBuffer {
            text: header.encode(),
            recorder: Recorder::default(),
        }
    }

    /// The text so far (no `end` line yet).
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// The trace without an `end` line: a run stopped early (at its first failure), which
    /// readers will report as cut short.
    pub fn cut_short(self) -> String {
        self.text
    }

    /// Appends the `end` line and returns the whole trace.
    pub fn finish(mut self, t: u64) -> String {
        self.recorder.end(t, &mut self.text);
        self.text
    }
}

impl EventSink for TraceBuffer {
    fn record(&mut self, t: u64, event: Event) {
        self.recorder.record(t, event, &mut self.text);
    }
}

/// What a finished trace file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceSummary {
    pub path: PathBuf,
    /// Event lines before the `end` line.
    pub events: u64,
    pub violations: u64,
}

/// Writing a trace file failed.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct TraceError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Encoded text is sent to the writer thread in chunks of about this size.
const CHUNK: usize = 64 * 1024;

/// A trace written to disk by a writer thread.
pub struct TraceFile {
    path: PathBuf,
    tmp: PathBuf,
    chunk: String,
    recorder: Recorder,
    tx: Option<Sender<String>>,
    writer: Option<JoinHandle<std::io::Result<()>>>,
}

impl TraceFile {
    /// Starts a trace at `path` (written to a temporary file beside it until finished).
    pub fn create(path: &Path, header: &TraceHeader) -> Result<TraceFile, TraceError> {
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // The pid only names the temporary file; it never reaches the trace's content.
        let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
        let fail = |source| TraceError {
            path: tmp.clone(),
            source,
        };
        let file = File::create(&tmp).map_err(fail)?;
        let (tx, rx) = bounded::<String>(16);
        let writer = std::thread::Builder::new()
            .name("nsptrace-writer".into())
            .spawn(move || write_chunks(file, rx))
            .map_err(fail)?;
        let mut chunk = String::with_capacity(CHUNK * 2);
        chunk.push_str(&header.encode());
        Ok(TraceFile {
            path: path.to_path_buf(),
            tmp,
            chunk,
            recorder: Recorder::default(),
            tx: Some(tx),
            writer: Some(writer),
        })
    }

    fn flush_chunk(&mut self) {
        if let Some(tx) = &self.tx {
            let full = std::mem::replace(&mut self.chunk, String::with_capacity(CHUNK * 2));
            // A send only fails if the writer thread died; `finish` reports its error.
            let _ = tx.send(full);
        }
    }

    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Writes the `end` line, flushes and syncs, and renames the file into place.
    pub fn finish(mut self, t: u64) -> Result<TraceSummary, TraceError> {
        let mut chunk = std::mem::take(&mut self.chunk);
        self.recorder.end(t, &mut chunk);
        self.chunk = chunk;
        self.flush_chunk();
        self.tx = None; // closes the channel: the writer drains and returns
        let joined = self.writer.take().map(|h| h.join());
        let fail = |source| TraceError {
            path: self.tmp.clone(),
            source,
        };
        match joined {
            Some(Ok(Ok(()))) => {}
            Some(Ok(Err(e))) => return Err(fail(e)),
            _ => {
                return Err(fail(std::io::Error::other(
                    "the trace writer thread panicked",
                )));
            }
        }
        std::fs::rename(&self.tmp, &self.path).map_err(|source| TraceError {
            path: self.path.clone(),
            source,
        })?;
        Ok(TraceSummary {
            path: self.path.clone(),
            events: self.recorder.events() - 1,
            violations: self.recorder.violations(),
        })
    }
}

impl Drop for TraceFile {
    /// Not finished: the run was interrupted. Leave nothing behind.
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            self.tx = None;
            let _ = writer.join();
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl EventSink for TraceFile {
    fn record(&mut self, t: u64, event: Event) {
        let mut chunk = std::mem::take(&mut self.chunk);
        self.recorder.record(t, event, &mut chunk);
        self.chunk = chunk;
        if self.chunk.len() >= CHUNK {
            self.flush_chunk();
        }
    }
}

fn write_chunks(file: File, rx: Receiver<String>) -> std::io::Result<()> {
    let mut out = BufWriter::new(file);
    for chunk in rx {
        out.write_all(chunk.as_bytes())?;
    }
    out.flush()?;
    out.get_ref().sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ExitHow, Pid, Role};
    use crate::trace::header::Mode;

    fn header() -> TraceHeader {
        TraceHeader {
            version: 1,
            mode: Mode::Sim,
            seed: 1,
            profile: "win7".into(),
            startup_policy: "per-process".into(),
            scenario: serde_json::json!({ "name": "t" }),
        }
    }

    fn events() -> Vec<(u64, Event)> {
        let mut v = Vec::new();
        for i in 0..5000u32 {
            v.push((
                u64::from(i),
                Event::ProcessStart {
                    pid: Pid(i + 1),
                    name: format!("p{i}"),
                    role: Role::Client,
                },
            ));
            v.push((
                u64::from(i),
                Event::ProcessExit {
                    pid: Pid(i + 1),
                    how: ExitHow::Exit,
                },
            ));
        }
        v.push((
            9_999,
            Event::Violation {
                rule: "L1".into(),
                detail: "x".into(),
            },
        ));
        v
    }

    #[test]
    fn file_and_buffer_write_the_same_bytes() {
        let dir = std::env::temp_dir().join(format!("nspsim-writer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("same.jsonl");
        let mut buffer = TraceBuffer::new(&header());
        let mut file = TraceFile::create(&path, &header()).expect("create");
        for (t, e) in events() {
            buffer.record(t, e.clone());
            file.record(t, e);
        }
        let summary = file.finish(10_000).expect("finish");
        let text = buffer.finish(10_000);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
        assert_eq!(summary.events, 10_001);
        assert_eq!(summary.violations, 1);
        assert!(text.ends_with(
            "{\"seq\":10001,\"t\":10000,\"ev\":\"end\",\"events\":10001,\"violations\":1}\n"
        ));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn an_unfinished_file_leaves_nothing_behind() {
        let dir = std::env::temp_dir().join(format!("nspsim-abandon-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("cut.jsonl");
        let mut file = TraceFile::create(&path, &header()).expect("create");
        for (t, e) in events() {
            file.record(t, e);
        }
        drop(file);
        let left: Vec<_> = std::fs::read_dir(&dir).expect("list").collect();
        assert!(left.is_empty(), "{left:?}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
