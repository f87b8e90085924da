//! Recording: every event becomes one line, numbered and stamped, in memory or on disk.
//!
//! [`Recorder`] is the shared core (numbering, counting violations, the `end` line, the
//! `tracing` mirror). [`TraceBuffer`] keeps the text in memory; [`TraceFile`] hands encoded
//! chunks to a writer thread through a bounded crossbeam channel so the run never waits on
//! disk, writes to a temporary name, and renames it only when the trace is complete, so a
//! crash never leaves half a trace under the final name.

use super::guid_text::GuidTexts;
use super::header::TraceHeader;
use super::json::encode_parts_with;
use crate::event::{Event, EventSink, Stamped};
use crossbeam_channel::{Receiver, Sender, bounded};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread::JoinHandle;

/// Temporary files being written right now, so that a signal handler can remove them before
/// the process exits ([`remove_temp_files`]).
static TEMP_FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn register_temp(path: &Path) {
    if let Ok(mut list) = TEMP_FILES.lock() {
        list.push(path.to_path_buf());
    }
}

fn unregister_temp(path: &Path) {
    if let Ok(mut list) = TEMP_FILES.lock() {
        list.retain(|p| p != path);
    }
}

/// Removes every temporary file still being written (an interrupted run: SIGINT, SIGTERM,
/// SIGHUP). The binary's signal handler calls it, then exits.
pub fn remove_temp_files() {
    let list = match TEMP_FILES.lock() {
        Ok(mut list) => std::mem::take(&mut *list),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    };
    for p in list {
        let _ = std::fs::remove_file(p);
    }
}

/// The temporary name a file is written under before it is renamed to `path`:
/// `.NAME.tmp-PID` beside it (`.gitignore` matches `.*.tmp-*`).
pub fn temp_path(path: &Path) -> PathBuf {
    let file_name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    // The pid only names the temporary file; it never reaches the content.
    path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()))
}

/// Whether `path` names something other than a regular file that is there already (a FIFO, a
/// device such as `/dev/null`, a socket): such a target is written to directly, never renamed
/// over.
pub fn is_special(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Writes `text` to `path`: under a temporary name renamed into place for a file, directly for
/// a FIFO or device. The temporary file is removed when the write or the rename fails, and by
/// [`remove_temp_files`] when the process is interrupted.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    if is_special(path) {
        return std::fs::OpenOptions::new()
            .write(true)
            .open(path)?
            .write_all(text.as_bytes());
    }
    let tmp = temp_path(path);
    register_temp(&tmp);
    let result = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    unregister_temp(&tmp);
    result
}

/// Numbering, counting and encoding shared by every recorder.
#[derive(Debug, Default)]
pub struct Recorder {
    next_seq: u64,
    violations: u64,
    last_t: u64,
    guids: GuidTexts,
}

impl Recorder {
    /// Encodes one event into `out` and mirrors it to `tracing` (target `nsp`).
    pub fn record(&mut self, t: u64, event: Event, out: &mut String) {
        let (seq, t) = self.number(t, &event);
        encode_parts_with(seq, t, &event, out, &mut self.guids);
    }

    /// Numbers and counts one event as [`Recorder::record`] does, without encoding it (replay
    /// compares events with the recorded ones before it writes any line).
    pub fn stamp(&mut self, t: u64, event: Event) -> Stamped {
        let (seq, t) = self.number(t, &event);
        Stamped { seq, t, event }
    }

    /// The next event's `seq` and `t`; counts it and mirrors it to `tracing`.
    fn number(&mut self, t: u64, event: &Event) -> (u64, u64) {
        if matches!(event, Event::Violation { .. }) {
            self.violations += 1;
        }
        self.last_t = self.last_t.max(t);
        let seq = self.next_seq;
        self.next_seq += 1;
        mirror(seq, self.last_t, event);
        (seq, self.last_t)
    }

    /// The `end` event, numbered (what [`Recorder::end`] encodes).
    pub fn stamp_end(&mut self, t: u64) -> Stamped {
        let events = self.next_seq;
        let violations = self.violations;
        self.stamp(t, Event::End { events, violations })
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
fn mirror(seq: u64, t: u64, event: &Event) {
    if !tracing::enabled!(target: "nsp", tracing::Level::DEBUG) {
        return;
    }
    let what = match event {
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
    tracing::debug!(target: "nsp", seq, t, "{} {}", event.kind(), what);
}

/// A trace kept in memory (tests, replay comparison, self-checks).
#[derive(Debug)]
pub struct TraceBuffer {
    text: String,
    recorder: Recorder,
}

impl TraceBuffer {
    pub fn new(header: &TraceHeader<impl serde::Serialize>) -> Self {
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
    /// The temporary file, renamed to `path` when finished; `None` when the target is a FIFO
    /// or device, written directly.
    tmp: Option<PathBuf>,
    chunk: String,
    recorder: Recorder,
    tx: Option<Sender<String>>,
    writer: Option<JoinHandle<std::io::Result<()>>>,
}

impl TraceFile {
    /// Starts a trace at `path` (written to a temporary file beside it until finished; written
    /// directly when `path` is a FIFO or a device).
    pub fn create(
        path: &Path,
        header: &TraceHeader<impl serde::Serialize>,
    ) -> Result<TraceFile, TraceError> {
        let tmp = (!is_special(path)).then(|| temp_path(path));
        let target = tmp.clone().unwrap_or_else(|| path.to_path_buf());
        let fail = |source| TraceError {
            path: target.clone(),
            source,
        };
        let file = match &tmp {
            Some(t) => {
                register_temp(t);
                File::create(t).inspect_err(|_| unregister_temp(t))
            }
            None => std::fs::OpenOptions::new().write(true).open(path),
        }
        .map_err(fail)?;
        let (tx, rx) = bounded::<String>(16);
        let writer = std::thread::Builder::new()
            .name("nsptrace-writer".into())
            .spawn(move || write_chunks(file, rx));
        let writer = match writer {
            Ok(w) => w,
            Err(e) => {
                if let Some(t) = &tmp {
                    let _ = std::fs::remove_file(t);
                    unregister_temp(t);
                }
                return Err(fail(e));
            }
        };
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
        let tmp = self.tmp.take();
        let target = tmp.clone().unwrap_or_else(|| self.path.clone());
        let written = match joined {
            Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(TraceError {
                path: target,
                source: e,
            }),
            _ => Err(TraceError {
                path: target,
                source: std::io::Error::other("the trace writer thread panicked"),
            }),
        };
        if let Some(tmp) = &tmp {
            let renamed = written.and_then(|()| {
                std::fs::rename(tmp, &self.path).map_err(|source| TraceError {
                    path: self.path.clone(),
                    source,
                })
            });
            if renamed.is_err() {
                let _ = std::fs::remove_file(tmp);
            }
            unregister_temp(tmp);
            renamed?;
        } else {
            written?;
        }
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
            if let Some(tmp) = self.tmp.take() {
                let _ = std::fs::remove_file(&tmp);
                unregister_temp(&tmp);
            }
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
    match out.get_ref().sync_all() {
        // A FIFO or a device cannot be synced; what it took is all there is.
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Ok(()),
        other => other,
    }
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
    fn a_device_is_written_to_not_renamed_over() {
        let null = Path::new("/dev/null");
        if !null.exists() {
            return;
        }
        let mut file = TraceFile::create(null, &header()).expect("create");
        for (t, e) in events() {
            file.record(t, e);
        }
        file.finish(10_000).expect("finish");
        write_atomically(null, "text\n").expect("write");
        let meta = std::fs::metadata(null).expect("still there");
        assert!(!meta.is_file(), "/dev/null became a regular file");
    }

    #[test]
    fn a_failed_rename_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("nspsim-rename-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("target-is-a-dir")).expect("dir");
        std::fs::write(dir.join("target-is-a-dir/x"), "x").expect("file");
        let target = dir.join("target-is-a-dir");
        assert!(write_atomically(&target, "text").is_err());
        let file = TraceFile::create(&target, &header()).expect("create");
        assert!(
            file.finish(1).is_err(),
            "a directory cannot be renamed over"
        );
        let left: Vec<_> = std::fs::read_dir(&dir)
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("target-is-a-dir")]);
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
