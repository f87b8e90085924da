//! Pictures of a lifecycle, drawn from a trace file (never from the dispatcher): an HTML report
//! ([`html`]), a Mermaid sequence diagram ([`mermaid`]) and Chrome trace-event JSON for
//! Perfetto ([`perfetto`]).
//!
//! All three read the same [`Picture`]: the trace's events, each with its lanes (a client's
//! thread, the Ws2_32 dispatcher, a provider) and its words from [`describe`], the module the
//! lifecycle printout uses too. The same trace and options give the same bytes.

pub mod describe;
pub mod html;
pub mod mermaid;
pub mod perfetto;

use crate::cli::{BAD_INPUT, CLEAN};
use describe::{Actor, Description, Names};
use nspsim_runtime::event::{Event, ExitHow, Stamped};
use nspsim_runtime::trace::{Trace, read_trace};
use nspsim_runtime::wsa::Guid;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Which picture `nspsim render` draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One self-contained HTML file: swim lanes, filters, the JSON of each event.
    Html,
    /// A Mermaid `sequenceDiagram`, to paste into an issue or Markdown.
    Mermaid,
    /// Chrome trace-event JSON, for ui.perfetto.dev or chrome://tracing.
    Perfetto,
}

impl Format {
    /// The file extension of the picture, after the trace's stem.
    pub const fn extension(self) -> &'static str {
        match self {
            Format::Html => "html",
            Format::Mermaid => "mmd",
            Format::Perfetto => "perfetto.json",
        }
    }
}

/// Which part of the trace to draw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// First and last `seq` drawn (inclusive).
    pub from: Option<u64>,
    pub to: Option<u64>,
    /// Only the events of the processes with this name (violations and faults stay).
    pub process: Option<String>,
}

impl Window {
    fn is_whole(&self) -> bool {
        *self == Window::default()
    }
}

/// Why a picture cannot be drawn.
#[derive(Debug)]
pub enum RenderError {
    /// The trace does not parse (`file:line: what`).
    Read(nspsim_runtime::trace::ReadError),
    EmptyRange {
        from: u64,
        to: u64,
    },
    PastEnd {
        from: u64,
        last: u64,
    },
    UnknownProcess {
        name: String,
        known: String,
    },
    Write {
        path: String,
        source: std::io::Error,
    },
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RenderError::Read(e) => write!(f, "{e}"),
            RenderError::EmptyRange { from, to } => {
                write!(f, "--from {from} is after --to {to}: the window is empty")
            }
            RenderError::PastEnd { from, last } => write!(
                f,
                "--from {from} is past the trace's last event (seq {last})"
            ),
            RenderError::UnknownProcess { name, known } => {
                write!(f, "no process is named \"{name}\"; the trace has {known}")
            }
            RenderError::Write { path, source } => write!(f, "cannot write {path}: {source}"),
        }
    }
}

impl std::error::Error for RenderError {}

impl From<nspsim_runtime::trace::ReadError> for RenderError {
    fn from(e: nspsim_runtime::trace::ReadError) -> Self {
        RenderError::Read(e)
    }
}

/// A place an arrow starts or ends, or a mark sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lane {
    /// A thread of a process (pid, tid). Process-wide marks sit on its first thread.
    Thread(u32, u32),
    /// Ws2_32: the dispatcher and its catalog.
    Dispatcher,
    /// A provider, by its place in [`Picture::providers`].
    Provider(usize),
}

/// What kind of thing a row draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A call: an arrow from caller to callee.
    Call,
    /// A return: an arrow back; `failed` when it carries an error.
    Return { failed: bool },
    /// An async completion: an arrow from the provider to the client thread that waits.
    Complete,
    /// A mark on one lane: a start, an exit, a catalog change, a fault.
    Mark { alarm: bool },
    /// A violation: the whole row, in red.
    Violation,
}

/// One event of the picture.
#[derive(Clone, Debug)]
pub struct Row {
    /// Index into the trace's events.
    pub index: usize,
    pub seq: u64,
    pub t: u64,
    pub from: Lane,
    /// `None` for marks and violations.
    pub to: Option<Lane>,
    pub shape: Shape,
    pub text: String,
    /// The client process the event concerns, if any.
    pub pid: Option<u32>,
    pub provider: Option<usize>,
    /// Labels the event names (`s1 h1 a2`).
    pub labels: Vec<String>,
    /// For an async call (a NextEx with an `a` label): the row of its completion, if drawn.
    pub completes_at: Option<usize>,
    /// The call's a-label when it starts an async call.
    pub starts_async: Option<String>,
}

/// A process and its threads, in pid order.
#[derive(Clone, Debug)]
pub struct ProcessLane {
    pub pid: u32,
    pub name: String,
    /// `client` or `host` (empty when the start is not in the trace).
    pub role: String,
    pub tids: Vec<u32>,
    /// How it ended, if it did.
    pub exit: Option<ExitHow>,
}

/// A provider lane.
#[derive(Clone, Debug)]
pub struct ProviderLane {
    pub id: Guid,
    pub name: String,
}

/// A trace laid out for drawing.
pub struct Picture<'a> {
    pub trace: &'a Trace,
    pub processes: Vec<ProcessLane>,
    pub providers: Vec<ProviderLane>,
    pub rows: Vec<Row>,
    /// The trace's events not drawn (outside the window).
    pub left_out: usize,
}

impl<'a> Picture<'a> {
    /// Lays out the events of `trace` inside `window`.
    pub fn new(trace: &'a Trace, window: &Window) -> Result<Picture<'a>, RenderError> {
        let mut names = Names::from_header(&trace.header);
        // Every event's description, in order (names are learnt as they appear).
        let described: Vec<Option<Description>> = trace
            .events
            .iter()
            .map(|s| describe::describe(&mut names, &s.event))
            .collect();
        let selected = select(trace, window)?;
        let mut providers: Vec<ProviderLane> = Vec::new();
        let provider_index = |id: Guid, providers: &mut Vec<ProviderLane>| {
            providers
                .iter()
                .position(|p| p.id == id)
                .unwrap_or_else(|| {
                    providers.push(ProviderLane {
                        id,
                        name: names.prov(&id),
                    });
                    providers.len() - 1
                })
        };
        let mut processes: BTreeMap<u32, ProcessLane> = BTreeMap::new();
        let touch = |pid: u32, tid: Option<u32>, processes: &mut BTreeMap<u32, ProcessLane>| {
            let p = processes.entry(pid).or_insert_with(|| ProcessLane {
                pid,
                name: names.process(pid),
                role: String::new(),
                tids: Vec::new(),
                exit: None,
            });
            if let Some(tid) = tid.filter(|t| *t != 0)
                && !p.tids.contains(&tid)
            {
                p.tids.push(tid);
                p.tids.sort_unstable();
            }
        };
        // Which client thread waits for each async call, and the row that started it.
        let mut waiting: BTreeMap<u32, u32> = BTreeMap::new(); // pid -> tid in an API call
        let mut async_calls: BTreeMap<String, (u32, u32, usize)> = BTreeMap::new();
        let mut rows: Vec<Row> = Vec::new();
        for (index, s) in trace.events.iter().enumerate() {
            // Which thread of a process is in an API call, for async completions.
            match &s.event {
                Event::ApiCall { pid, tid, .. } => {
                    waiting.insert(pid.0, tid.0);
                }
                Event::ApiReturn { pid, .. } => {
                    waiting.remove(&pid.0);
                }
                _ => {}
            }
            if !selected[index] {
                continue;
            }
            let Some(d) = &described[index] else { continue };
            let row = layout(
                index,
                s,
                d,
                &mut |id, p: &mut Vec<ProviderLane>| provider_index(id, p),
                &mut providers,
                &waiting,
                &mut async_calls,
                rows.len(),
            );
            let Some((mut row, link)) = row else { continue };
            if let Some(pid) = row.pid {
                let tid = match row.from {
                    Lane::Thread(_, t) => Some(t),
                    _ => match row.to {
                        Some(Lane::Thread(_, t)) => Some(t),
                        _ => None,
                    },
                };
                touch(pid, tid, &mut processes);
            }
            if let Event::ProcessStart { pid, name, role } = &s.event {
                touch(pid.0, None, &mut processes);
                if let Some(p) = processes.get_mut(&pid.0) {
                    p.name = name.clone();
                    p.role = role.name().to_string();
                }
            }
            if let Event::ProcessExit { pid, how } = &s.event
                && let Some(p) = processes.get_mut(&pid.0)
            {
                p.exit = Some(*how);
            }
            if let Some(start) = link {
                rows[start].completes_at = Some(rows.len());
            }
            row.index = index;
            rows.push(row);
        }
        // Every process has at least one thread lane (its marks sit there).
        for p in processes.values_mut() {
            if p.tids.is_empty() {
                p.tids.push(1);
            }
        }
        // Process-wide marks and advertising sit on the first thread's lane.
        for r in &mut rows {
            for lane in [Some(&mut r.from), r.to.as_mut()].into_iter().flatten() {
                if let Lane::Thread(pid, 0) = *lane {
                    let first = processes.get(&pid).map_or(1, |p| p.tids[0]);
                    *lane = Lane::Thread(pid, first);
                }
            }
        }
        let left_out = trace.events.len() - rows.len();
        Ok(Picture {
            trace,
            processes: processes.into_values().collect(),
            providers,
            rows,
            left_out,
        })
    }

    /// The scenario's name, from the header.
    pub fn scenario_name(&self) -> String {
        self.trace
            .header
            .scenario
            .get("name")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("(unnamed)")
            .to_string()
    }

    /// The process that owns a pid.
    pub fn process(&self, pid: u32) -> Option<&ProcessLane> {
        self.processes.iter().find(|p| p.pid == pid)
    }
}

/// Which events a window keeps.
fn select(trace: &Trace, window: &Window) -> Result<Vec<bool>, RenderError> {
    let n = trace.events.len();
    if let (Some(from), Some(to)) = (window.from, window.to)
        && from > to
    {
        return Err(RenderError::EmptyRange { from, to });
    }
    let last = (n as u64).saturating_sub(1);
    if let Some(from) = window.from
        && (from > last || n == 0)
    {
        return Err(RenderError::PastEnd { from, last });
    }
    let in_range =
        |seq: u64| window.from.is_none_or(|f| seq >= f) && window.to.is_none_or(|t| seq <= t);
    let pids: Option<Vec<u32>> = match &window.process {
        None => None,
        Some(name) => {
            let mut known: Vec<String> = Vec::new();
            let mut pids = Vec::new();
            for s in &trace.events {
                if let Event::ProcessStart { pid, name: n, .. } = &s.event {
                    if n == name {
                        pids.push(pid.0);
                    }
                    if !known.contains(n) {
                        known.push(n.clone());
                    }
                }
            }
            if pids.is_empty() {
                let known = if known.is_empty() {
                    "no process.start lines".to_string()
                } else {
                    known
                        .iter()
                        .map(|k| format!("\"{k}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err(RenderError::UnknownProcess {
                    name: name.clone(),
                    known,
                });
            }
            Some(pids)
        }
    };
    // The a-labels of the selected processes' async calls, to keep their completions.
    let mut mine: Vec<String> = Vec::new();
    Ok(trace
        .events
        .iter()
        .map(|s| {
            if !in_range(s.seq) {
                return false;
            }
            let Some(pids) = &pids else { return true };
            let has = |pid: u32| pids.contains(&pid);
            match &s.event {
                Event::ProcessStart { pid, .. }
                | Event::ProcessExit { pid, .. }
                | Event::ProviderAdvertise { pid, .. }
                | Event::ProviderUnadvertise { pid, .. }
                | Event::ApiCall { pid, .. }
                | Event::ApiReturn { pid, .. }
                | Event::NspReturn { pid, .. } => has(pid.0),
                Event::NspCall {
                    pid, async_call, ..
                } => {
                    if has(pid.0)
                        && let Some(a) = async_call
                    {
                        mine.push(a.to_string());
                    }
                    has(pid.0)
                }
                Event::AsyncComplete { async_call, .. } => mine.contains(&async_call.to_string()),
                Event::Violation { .. } | Event::Fault { .. } => true,
                Event::CatalogInstall { .. }
                | Event::CatalogUninstall { .. }
                | Event::CatalogEnable { .. }
                | Event::End { .. } => false,
            }
        })
        .collect())
}

/// One event's row: its lanes and shape. The second value is the row of the async call this
/// event completes, when both are drawn.
#[allow(clippy::too_many_arguments)]
fn layout(
    index: usize,
    s: &Stamped,
    d: &Description,
    provider_index: &mut dyn FnMut(Guid, &mut Vec<ProviderLane>) -> usize,
    providers: &mut Vec<ProviderLane>,
    waiting: &BTreeMap<u32, u32>,
    async_calls: &mut BTreeMap<String, (u32, u32, usize)>,
    row_number: usize,
) -> Option<(Row, Option<usize>)> {
    let mut row = Row {
        index,
        seq: s.seq,
        t: s.t,
        from: Lane::Dispatcher,
        to: None,
        shape: Shape::Mark { alarm: false },
        text: d.what.clone(),
        pid: None,
        provider: None,
        labels: describe::labels(&s.event),
        completes_at: None,
        starts_async: None,
    };
    let mut link = None;
    match &s.event {
        Event::ProcessStart { pid, .. } => {
            row.from = Lane::Thread(pid.0, 0);
            row.pid = Some(pid.0);
        }
        Event::ProcessExit { pid, how } => {
            row.from = Lane::Thread(pid.0, 0);
            row.pid = Some(pid.0);
            row.shape = Shape::Mark {
                alarm: *how != ExitHow::Exit,
            };
        }
        Event::CatalogInstall { provider, .. }
        | Event::CatalogUninstall { provider, .. }
        | Event::CatalogEnable { provider, .. } => {
            row.provider = Some(provider_index(*provider, providers));
        }
        Event::ProviderAdvertise { pid, provider, .. }
        | Event::ProviderUnadvertise { pid, provider, .. } => {
            row.from = Lane::Thread(pid.0, 0);
            row.to = Some(Lane::Dispatcher);
            row.shape = Shape::Call;
            row.pid = Some(pid.0);
            row.provider = Some(provider_index(*provider, providers));
        }
        Event::ApiCall { pid, tid, .. } => {
            row.from = Lane::Thread(pid.0, tid.0);
            row.to = Some(Lane::Dispatcher);
            row.shape = Shape::Call;
            row.pid = Some(pid.0);
        }
        Event::ApiReturn { pid, tid, err, .. } => {
            row.from = Lane::Dispatcher;
            row.to = Some(Lane::Thread(pid.0, tid.0));
            row.shape = Shape::Return {
                failed: d.what.split(' ').nth(1) != Some("ok") && *err != 0,
            };
            row.pid = Some(pid.0);
        }
        Event::NspCall {
            provider,
            pid,
            async_call,
            ..
        } => {
            let p = provider_index(*provider, providers);
            row.to = Some(Lane::Provider(p));
            row.shape = Shape::Call;
            row.pid = Some(pid.0);
            row.provider = Some(p);
            if let Some(a) = async_call {
                let tid = waiting.get(&pid.0).copied().unwrap_or(0);
                async_calls.insert(a.to_string(), (pid.0, tid, row_number));
                row.starts_async = Some(a.to_string());
            }
        }
        Event::NspReturn {
            provider, pid, err, ..
        } => {
            let p = provider_index(*provider, providers);
            row.from = Lane::Provider(p);
            row.to = Some(Lane::Dispatcher);
            row.shape = Shape::Return { failed: *err != 0 };
            row.pid = Some(pid.0);
            row.provider = Some(p);
        }
        Event::AsyncComplete {
            provider,
            async_call,
            ..
        } => {
            let p = provider_index(*provider, providers);
            row.from = Lane::Provider(p);
            row.provider = Some(p);
            row.shape = Shape::Complete;
            match async_calls.remove(&async_call.to_string()) {
                Some((pid, tid, start)) => {
                    row.to = Some(Lane::Thread(pid, tid));
                    row.pid = Some(pid);
                    link = Some(start);
                }
                None => row.to = Some(Lane::Dispatcher),
            }
        }
        Event::Fault { provider, .. } => {
            let p = provider_index(*provider, providers);
            row.from = Lane::Provider(p);
            row.provider = Some(p);
            row.shape = Shape::Mark { alarm: true };
        }
        Event::Violation { .. } => {
            row.shape = Shape::Violation;
        }
        Event::End { .. } => return None,
    }
    if let Actor::Catalog = d.actor {
        row.from = Lane::Dispatcher;
    }
    Some((row, link))
}

/// The rule texts of the checker's table, by id.
pub fn rule_text(rule: &str) -> Option<&'static str> {
    nspsim_runtime::checker::rules()
        .iter()
        .find(|spec| spec.id == rule)
        .map(|spec| spec.text)
}

/// Options of `nspsim render`.
#[derive(Clone, Debug)]
pub struct RenderArgs {
    pub trace: PathBuf,
    pub format: Format,
    /// Where to write (default: next to the trace, with the format's extension).
    pub output: Option<PathBuf>,
    pub window: Window,
    /// The strategy of the run, when the caller knows it (a trace does not record it).
    pub strategy: Option<String>,
}

/// The default output path: `demo.jsonl` → `demo.html` (`.mmd`, `.perfetto.json`).
pub fn default_output(trace: &Path, format: Format) -> PathBuf {
    let stem = trace
        .file_stem()
        .map_or_else(|| "trace".into(), |s| s.to_string_lossy().into_owned());
    trace.with_file_name(format!("{stem}.{}", format.extension()))
}

/// Draws the picture `args` asks for and writes it; returns where.
pub fn render_file(args: &RenderArgs) -> Result<PathBuf, RenderError> {
    let trace = read_trace(&args.trace)?;
    let picture = Picture::new(&trace, &args.window)?;
    let text = match args.format {
        Format::Html => html::render(&picture, args.strategy.as_deref()),
        Format::Mermaid => mermaid::render(&picture, args.window.is_whole()),
        Format::Perfetto => perfetto::render(&picture),
    };
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&args.trace, args.format));
    write_atomically(&path, &text).map_err(|source| RenderError::Write {
        path: path.display().to_string(),
        source,
    })?;
    Ok(path)
}

/// Writes the HTML report of a trace next to it (`X.jsonl` → `X.html`); returns its path.
pub fn write_html_beside(trace: &Path) -> Result<PathBuf, RenderError> {
    render_file(&RenderArgs {
        trace: trace.to_path_buf(),
        format: Format::Html,
        output: None,
        window: Window::default(),
        strategy: None,
    })
}

/// `nspsim render`: 0 when the picture is written, 2 for bad input.
pub fn render_cmd(args: &RenderArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    match render_file(args) {
        Ok(path) => {
            let _ = writeln!(out, "{}", path.display());
            CLEAN
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            BAD_INPUT
        }
    }
}

/// `run --html`: writes the report next to a trace just written and prints `report: PATH`
/// (a failure to draw it is a warning: the run's own result stands).
pub fn report_beside(
    trace: &Path,
    strategy: Option<&str>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) {
    let args = RenderArgs {
        trace: trace.to_path_buf(),
        format: Format::Html,
        output: None,
        window: Window::default(),
        strategy: strategy.map(str::to_string),
    };
    match render_file(&args) {
        Ok(path) => {
            let _ = writeln!(out, "report: {}", path.display());
        }
        Err(e) => {
            let _ = writeln!(err, "warning: no report: {e}");
        }
    }
}

use nspsim_runtime::trace::write_atomically;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use nspsim_runtime::trace::parse_trace;

    pub(crate) fn demo() -> Trace {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../traces/demo.jsonl"))
                .expect("demo trace");
        parse_trace("demo.jsonl", &text).expect("valid")
    }

    #[test]
    fn every_event_is_a_row_with_lanes() {
        let trace = demo();
        let p = Picture::new(&trace, &Window::default()).expect("picture");
        assert_eq!(p.rows.len(), trace.events.len());
        let names: Vec<&str> = p.processes.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "mail-primary-host",
                "fallback-host",
                "orderly",
                "crasher",
                "nested"
            ]
        );
        let crasher = p.process(4).expect("crasher");
        assert_eq!(
            crasher.tids,
            [1],
            "its second thread only crashes: no API call"
        );
        assert_eq!(crasher.exit, Some(ExitHow::Crash));
        assert_eq!(p.providers.len(), 2);
        assert!(p.rows.iter().all(|r| !matches!(r.from, Lane::Thread(_, 0))));
        // Every deferred NextEx links to its completion, later.
        let starts: Vec<&Row> = p.rows.iter().filter(|r| r.starts_async.is_some()).collect();
        assert!(!starts.is_empty());
        for (i, r) in p.rows.iter().enumerate() {
            if let Some(end) = r.completes_at {
                assert!(end > i);
                assert_eq!(p.rows[end].shape, Shape::Complete);
            }
        }
    }

    #[test]
    fn windows_keep_what_they_say() {
        let trace = demo();
        let w = Window {
            from: Some(10),
            to: Some(19),
            process: None,
        };
        let p = Picture::new(&trace, &w).expect("picture");
        assert_eq!(p.rows.len(), 10);
        assert_eq!(p.rows[0].seq, 10);
        let w = Window {
            process: Some("crasher".into()),
            ..Window::default()
        };
        let p = Picture::new(&trace, &w).expect("picture");
        assert!(p.rows.iter().all(|r| r.pid == Some(4)));
        assert!(p.processes.iter().all(|x| x.pid == 4));
        let bad = Window {
            from: Some(9),
            to: Some(3),
            process: None,
        };
        assert!(matches!(
            Picture::new(&trace, &bad),
            Err(RenderError::EmptyRange { .. })
        ));
        let bad = Window {
            process: Some("nobody".into()),
            ..Window::default()
        };
        let e = Picture::new(&trace, &bad).err().expect("unknown process");
        assert!(e.to_string().contains("\"orderly\""), "{e}");
        let bad = Window {
            from: Some(100_000),
            ..Window::default()
        };
        assert!(Picture::new(&trace, &bad).is_err());
    }
}
