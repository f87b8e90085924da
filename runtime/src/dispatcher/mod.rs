//! The Ws2_32 face: the dispatcher state machine that sits between client processes and
//! NSPv2 providers.
//!
//! The dispatcher is **sans-IO**: it owns no threads and no clock. A driver (the deterministic
//! scheduler, or the live host) calls the client API on behalf of a (pid, tid), sets the virtual
//! time, runs providers' deferred work when it chooses, and collects [`Wake`]s for threads whose
//! blocking call finished. A thread that waits for an async completion is a state the driver sees
//! ([`Dispatcher::is_waiting`]), never a blocked OS thread.
//!
//! This file holds what every concept shares: the state, the provider-call boundary (P4 panics
//! are contained here), routing (S5.1), and the work queue that applies completions and
//! continuations in order. Each client API family lives in the module named after its Windows
//! concept: `process` (WSAStartup/WSACleanup, exit, S4.1–S4.2), `session` (S4.3–S4.8),
//! `lookup` (S5), `async_call` (S6), `set_service` (S7), `advertisement` (S3, S8) and
//! `catalog_ops` (S2).

mod advertisement;
mod async_call;
mod catalog_ops;
mod lookup;
mod process;
mod session;
mod set_service;

pub use process::{negotiate_version, version_text};

use crate::catalog::{Authority, Catalog};
use crate::config::Config;
use crate::event::{Event, EventSink, FaultKind, Fields, Label, LabelKind, Pid, Tid};
use crate::handles::{Handle, HandleTable};
use crate::provider::{
    AsyncCall, CallSite, ContextOp, NextExOutput, NspContext, NspFn, NspV2Provider, RoutineTable,
    WorkToken,
};
use crate::wsa::{Guid, Namespace, QuerySet, WsaError};
use lookup::ClientLookup;
use process::Process;
use session::Session;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Emits an event, building it only when the sink wants events.
macro_rules! emit {
    ($d:expr, $event:expr) => {
        if $d.sink.enabled() {
            let event = $event;
            let now = $d.now;
            $d.sink.record(now, event);
        }
    };
}
pub(crate) use emit;

/// A client API failure: the Winsock error, plus the buffer length the call wrote back when
/// it failed with WSAEFAULT (S2.4, S5.5).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ApiError {
    pub code: WsaError,
    pub required_len: Option<u32>,
}

impl ApiError {
    pub fn buffer_too_small(required: u32) -> Self {
        ApiError {
            code: WsaError::EFAULT,
            required_len: Some(required),
        }
    }
}

impl From<WsaError> for ApiError {
    fn from(code: WsaError) -> Self {
        ApiError {
            code,
            required_len: None,
        }
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.required_len {
            Some(n) => write!(f, "{} (buffer needs {n} bytes)", self.code),
            None => write!(f, "{}", self.code),
        }
    }
}

impl std::error::Error for ApiError {}

pub type ApiResult<T> = Result<T, ApiError>;

/// The client lookup handle WSALookupServiceBegin returns. Opaque and forgeable, like a
/// Windows HANDLE: the dispatcher validates it on every use (S5.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LookupHandle(pub u64);

/// A blocking call that finished after the driver was told `Pending`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wake {
    pub pid: Pid,
    pub tid: Tid,
    pub outcome: WakeOutcome,
}

// Moved once from the dispatcher to the driver: boxing the result would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WakeOutcome {
    LookupServiceNext(ApiResult<QuerySet>),
    SetService(ApiResult<()>),
}

/// A provider's request for a deferred turn (S6.3), waiting for the driver to run it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkItem {
    pub id: u64,
    pub provider: Guid,
    pub token: WorkToken,
    /// The entry point during which the work was requested (for fault reports).
    pub origin: NspFn,
    /// The async call that entry point was serving (NextEx, SetServiceEx), if any: what a
    /// replay matches an `async.complete` line against.
    pub serves: Option<Label>,
}

/// An advertised provider (S3).
pub(crate) struct Advertised {
    pub host: Pid,
    pub table: RoutineTable,
    pub code: Box<dyn NspV2Provider>,
    /// Set the moment a call panics (P4); the provider is unadvertised at the next safe point.
    pub faulted: bool,
    /// Sessions of this provider still live, across all processes (for P5).
    pub live_sessions: u32,
}

/// An NextEx or SetServiceEx call in flight (S6).
pub(crate) struct AsyncRecord {
    pub provider: Guid,
    pub label: Label,
    pub waiter: Option<Waiter>,
    pub output: Option<NextExOutput>,
}

/// Who is waiting for an async call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Waiter {
    Next(Handle<ClientLookup>),
    SetService(Pid, Tid),
}

/// Work the dispatcher applies in order once the current provider call has returned.
pub(crate) enum Work {
    /// WSAProviderCompleteAsyncCall from a provider.
    Complete {
        provider: Guid,
        call: AsyncCall,
        code: Result<(), WsaError>,
    },
    /// A provider stops being reachable (S3.4, P4, and catalog disable/uninstall).
    Detach { provider: Guid, how: Detach },
}

/// How a provider stops being reachable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Detach {
    /// Unadvertised, host gone, or faulted: the code is dropped; nothing of it runs again.
    Gone,
    /// Disabled or uninstalled while advertised: no call may reach it (L8), but its code lives
    /// on, so a late completion is accepted and discarded (S6.2).
    Unreachable,
}

/// The dispatcher: the state of one emulated machine's Ws2_32.
pub struct Dispatcher<S: EventSink> {
    pub(crate) config: Config,
    pub(crate) sink: S,
    pub(crate) now: u64,
    pub(crate) catalog: Catalog,
    pub(crate) adverts: BTreeMap<Guid, Advertised>,
    pub(crate) processes: Vec<Process>,
    pub(crate) sessions: HandleTable<Session>,
    pub(crate) lookups: HandleTable<ClientLookup>,
    pub(crate) async_calls: HandleTable<AsyncRecord>,
    pub(crate) work: Vec<WorkItem>,
    pub(crate) next_work_id: u64,
    pub(crate) queue: VecDeque<Work>,
    pub(crate) wakes: Vec<Wake>,
    pub(crate) labels: Labels,
    /// The async call the provider call in progress serves (for [`WorkItem::serves`]).
    pub(crate) serving: Option<Label>,
    /// The buffer provider calls record their context operations in, reused from call to call.
    ops: Vec<ContextOp>,
}

/// Labels for provider-produced opaque values (TRACE_FORMAT.md). Dispatcher-issued handles are
/// labelled by their serial number, which is never reused.
#[derive(Default)]
pub(crate) struct Labels {
    next_session: u32,
    next_lookup: u32,
    /// Live session arguments by (provider, raw value): the label and how many live sessions
    /// carry it. A value two sessions share (a provider bug) shows as one label.
    sessions: BTreeMap<(Guid, u64), (u32, u32)>,
}

impl Labels {
    pub fn acquire_session(&mut self, provider: Guid, raw: u64) -> Label {
        let entry = self.sessions.entry((provider, raw)).or_insert_with(|| {
            self.next_session += 1;
            (self.next_session, 0)
        });
        entry.1 += 1;
        Label::new(LabelKind::Session, entry.0)
    }

    pub fn release_session(&mut self, provider: Guid, raw: u64) {
        if let Some(entry) = self.sessions.get_mut(&(provider, raw)) {
            entry.1 -= 1;
            if entry.1 == 0 {
                self.sessions.remove(&(provider, raw));
            }
        }
    }

    pub fn fresh_lookup(&mut self) -> Label {
        self.next_lookup += 1;
        Label::new(LabelKind::ProviderLookup, self.next_lookup)
    }
}

/// How a provider call ended.
pub(crate) enum CallEnd<R> {
    Returned {
        value: R,
        last_error: Option<WsaError>,
    },
    /// The provider panicked (P4). Already reported; the provider is marked faulted.
    Faulted,
}

impl<S: EventSink> Dispatcher<S> {
    pub fn new(config: Config, sink: S) -> Self {
        Dispatcher {
            config,
            sink,
            now: 0,
            catalog: Catalog::new(),
            adverts: BTreeMap::new(),
            processes: Vec::new(),
            sessions: HandleTable::new(),
            lookups: HandleTable::new(),
            async_calls: HandleTable::new(),
            work: Vec::new(),
            next_work_id: 0,
            queue: VecDeque::new(),
            wakes: Vec::new(),
            labels: Labels::default(),
            serving: None,
            ops: Vec::new(),
        }
    }

    pub fn config(&self) -> Config {
        self.config
    }

    /// Sets the virtual time (µs) stamped on the events that follow. Time never goes back.
    pub fn set_time(&mut self, t: u64) {
        self.now = self.now.max(t);
    }

    pub fn now(&self) -> u64 {
        self.now
    }

    pub fn sink(&self) -> &S {
        &self.sink
    }

    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    pub fn into_sink(self) -> S {
        self.sink
    }

    /// An `args` or `result` object, built only when the sink wants details
    /// ([`EventSink::wants_details`]); empty otherwise. Building them (JSON values, strings,
    /// maps) is most of an event's cost, and no rule is judged by them.
    pub(crate) fn details(&self, build: impl FnOnce() -> Fields) -> Fields {
        if self.sink.wants_details() {
            build()
        } else {
            Fields::new()
        }
    }

    /// A process or provider name for an event: empty unless the sink wants details.
    pub(crate) fn detail_name(&self, name: &str) -> String {
        if self.sink.wants_details() {
            name.to_string()
        } else {
            String::new()
        }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Records an event that did not come from the dispatcher's own state machine (a failed
    /// scenario `expect`, a driver-detected fault), in order with the rest.
    pub fn record_external(&mut self, event: Event) {
        emit!(self, event);
    }

    /// Blocking calls that finished since the last call, in the order they finished.
    pub fn take_wakes(&mut self) -> Vec<Wake> {
        std::mem::take(&mut self.wakes)
    }

    /// [`Dispatcher::take_wakes`] into `out` (cleared first), swapping buffers so that a
    /// driver polling after every step allocates nothing.
    pub fn take_wakes_into(&mut self, out: &mut Vec<Wake>) {
        out.clear();
        std::mem::swap(&mut self.wakes, out);
    }

    /// Deferred provider work waiting to run, oldest first.
    pub fn pending_work(&self) -> &[WorkItem] {
        &self.work
    }

    /// Async calls not completed yet, by label, oldest first.
    pub fn outstanding_async_calls(&self) -> Vec<(Guid, Label)> {
        self.async_calls
            .handles()
            .into_iter()
            .filter_map(|h| self.async_calls.get(h))
            .map(|r| (r.provider, r.label))
            .collect()
    }

    /// The host process that advertises `provider`, if it is advertised.
    pub fn advertiser(&self, provider: Guid) -> Option<Pid> {
        self.adverts
            .get(&provider)
            .filter(|a| !a.faulted)
            .map(|a| a.host)
    }

    /// Whether `provider` is advertised by a live host (and not faulted).
    pub fn is_advertised(&self, provider: Guid) -> bool {
        self.adverts.get(&provider).is_some_and(|a| !a.faulted)
    }

    /// Whether a call may reach `provider` now (L8): advertised, not faulted, installed and
    /// enabled.
    pub(crate) fn reachable(&self, provider: Guid) -> bool {
        self.is_advertised(provider) && self.catalog.is_enabled(provider)
    }

    /// Runs one deferred work item (S6.3). Returns `false` for an unknown id.
    pub fn run_work(&mut self, id: u64) -> bool {
        let Some(at) = self.work.iter().position(|w| w.id == id) else {
            return false;
        };
        let item = self.work.remove(at);
        if self.is_advertised(item.provider) {
            let site = CallSite {
                provider: item.provider,
                pid: 0,
            };
            self.serving = item.serves;
            let _ = self.call_provider(item.provider, site, item.origin, |p, ctx| {
                p.run_deferred(ctx, item.token)
            });
            self.serving = None;
        }
        self.pump();
        true
    }

    /// Calls one provider entry point with panics contained (P4) and applies what the provider
    /// did through its context. The caller writes the `nsp.call`/`nsp.return` lines; this writes
    /// the `fault` line when the provider panics.
    pub(crate) fn call_provider<R>(
        &mut self,
        provider: Guid,
        site: CallSite,
        func: NspFn,
        f: impl FnOnce(&mut dyn NspV2Provider, &mut NspContext) -> R,
    ) -> CallEnd<R> {
        let Some(advert) = self.adverts.get_mut(&provider) else {
            return CallEnd::Faulted;
        };
        let mut ctx = NspContext::with_buffer(site, std::mem::take(&mut self.ops));
        IN_PROVIDER_CALL.with(|c| c.set(true));
        let outcome = catch_unwind(AssertUnwindSafe(|| f(advert.code.as_mut(), &mut ctx)));
        IN_PROVIDER_CALL.with(|c| c.set(false));
        match outcome {
            Ok(value) => {
                let last_error = ctx.last_error();
                let mut ops = ctx.take_ops();
                // Applying an operation never calls a provider, so the buffer is free again
                // once they are applied.
                for op in ops.drain(..) {
                    self.apply_context_op(provider, func, op);
                }
                self.ops = ops;
                CallEnd::Returned { value, last_error }
            }
            Err(payload) => {
                let (kind, detail) = match payload.downcast_ref::<ProviderTimeout>() {
                    Some(t) => (FaultKind::Timeout, t.to_string()),
                    None => (FaultKind::Panic, panic_message(payload.as_ref())),
                };
                self.mark_faulted(provider, func, kind, detail);
                CallEnd::Faulted
            }
        }
    }

    /// Contains a provider fault (P4): the `fault` line, then the provider is unadvertised;
    /// its teardown waits for the next safe point.
    fn mark_faulted(&mut self, provider: Guid, func: NspFn, kind: FaultKind, detail: String) {
        let Some(advert) = self.adverts.get_mut(&provider).filter(|a| !a.faulted) else {
            return;
        };
        advert.faulted = true;
        let host = advert.host;
        emit!(
            self,
            Event::Fault {
                provider,
                func,
                kind,
                detail,
            }
        );
        emit!(
            self,
            Event::ProviderUnadvertise {
                pid: host,
                provider,
                ret: 0,
                err: 0,
            }
        );
        self.queue.push_back(Work::Detach {
            provider,
            how: Detach::Gone,
        });
    }

    /// A live driver's deadline: the async call `(pid, tid)` waits on was not completed in
    /// time. Its provider is reported (`fault` of kind `timeout`) and unadvertised, so the
    /// waiting call moves on (S3.4). Returns whether the thread was waiting on a provider.
    pub fn time_out_wait(&mut self, pid: Pid, tid: Tid, waited_ms: u64) -> bool {
        let call = match self.thread(pid, tid).and_then(|t| t.waiting.as_ref()) {
            Some(process::Waiting::LookupServiceNext(lookup)) => self
                .lookups
                .get(*lookup)
                .and_then(|l| l.pending.as_ref())
                .map(|p| p.call),
            Some(process::Waiting::SetService(state)) => state.pending,
            None => None,
        };
        let Some(rec) = call.and_then(|c| self.async_calls.get(c)) else {
            return false;
        };
        let (provider, label) = (rec.provider, rec.label);
        let func = match self.thread(pid, tid).and_then(|t| t.waiting.as_ref()) {
            Some(process::Waiting::SetService(_)) => NspFn::SetServiceEx,
            _ => NspFn::LookupServiceNextEx,
        };
        let detail = format!("async call {label} was not completed within {waited_ms} ms");
        self.mark_faulted(provider, func, FaultKind::Timeout, detail);
        self.pump();
        true
    }

    fn apply_context_op(&mut self, provider: Guid, origin: NspFn, op: ContextOp) {
        match op {
            ContextOp::WriteNextEx(call, output) => {
                if let Some(rec) = self.async_calls.get_mut(Handle::from_raw(call.0))
                    && rec.provider == provider
                {
                    rec.output = Some(output);
                }
            }
            ContextOp::Complete(call, code) => self.queue.push_back(Work::Complete {
                provider,
                call,
                code,
            }),
            ContextOp::Defer(token) => {
                self.next_work_id += 1;
                self.work.push(WorkItem {
                    id: self.next_work_id,
                    provider,
                    token,
                    origin,
                    serves: self.serving,
                });
            }
        }
    }

    /// Applies queued work until none is left. Every client API entry point ends with it, so
    /// inline completions (S6.3) are applied before the call returns.
    pub(crate) fn pump(&mut self) {
        while let Some(work) = self.queue.pop_front() {
            match work {
                Work::Complete {
                    provider,
                    call,
                    code,
                } => self.on_completion(provider, call, code),
                Work::Detach { provider, how } => self.detach(provider, how),
            }
        }
    }

    /// The providers a call is routed to, in order (S5.1, S5.2, S7.1).
    pub(crate) fn route(
        &self,
        pid: Pid,
        namespace: Namespace,
        provider: Option<Guid>,
    ) -> Result<Vec<Guid>, WsaError> {
        let epoch = self.process(pid).map_or(0, |p| p.catalog_epoch);
        if let Some(id) = provider {
            if !self.catalog.is_visible(id, epoch) || !self.catalog.is_enabled(id) {
                return Err(WsaError::EINVAL);
            }
            // S3.3: an installed provider that is not advertised is skipped silently.
            return Ok(if self.is_advertised(id) {
                vec![id]
            } else {
                vec![]
            });
        }
        let mut routed: Vec<(u8, Guid)> = self
            .catalog
            .visible(epoch)
            .filter(|e| e.enabled && self.is_advertised(e.entry.id))
            .filter(|e| namespace == Namespace::ALL || e.entry.namespace == namespace)
            .map(|e| (Authority::rank(e.entry.authority), e.entry.id))
            .collect();
        if namespace == Namespace::EMAIL {
            // Stable: catalog order within each authority level (S5.2).
            routed.sort_by_key(|(rank, _)| *rank);
        }
        Ok(routed.into_iter().map(|(_, id)| id).collect())
    }

    /// Whether a NS_EMAIL query over `routed` stops at the first provider that answers (S5.2,
    /// S7.1): only when some routed provider carries an authority level.
    pub(crate) fn authority_routing(&self, namespace: Namespace, routed: &[Guid]) -> bool {
        namespace == Namespace::EMAIL
            && routed
                .iter()
                .any(|id| self.catalog.get(*id).is_some_and(|e| e.authority.is_some()))
    }

    /// Sets a thread's last error (S4.2): the code on failure, 0 on success.
    pub(crate) fn set_last_error(&mut self, pid: Pid, tid: Tid, code: u32) {
        if let Some(thread) = self.thread_mut(pid, tid) {
            thread.last_error = code;
        }
    }
}

/// The panic payload a provider proxy raises when a call misses its deadline (live mode): the
/// dispatcher contains it like a panic, but reports it as a `timeout` fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderTimeout {
    pub func: NspFn,
    pub after_ms: u64,
}

impl fmt::Display for ProviderTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} did not return within {} ms",
            self.func, self.after_ms
        )
    }
}

thread_local! {
    static IN_PROVIDER_CALL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is inside a provider entry point right now. A panic hook uses it to
/// stay quiet about provider panics, which the dispatcher contains and reports itself (P4).
pub fn in_provider_call() -> bool {
    IN_PROVIDER_CALL.with(|c| c.get())
}

/// The text of a panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-text panic payload".to_string()
    }
}

/// The error a failed fallible entry point reports: its last error, or WSASYSCALLFAILURE when a
/// provider returned SOCKET_ERROR without one (S1.4, P1).
pub(crate) fn failure_code(last_error: Option<WsaError>) -> WsaError {
    last_error.unwrap_or(WsaError::SYSCALLFAILURE)
}
