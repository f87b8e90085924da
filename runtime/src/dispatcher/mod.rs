//! The Ws2_32 face: the dispatcher state machine that sits between client processes and
//! NSPv2 providers.
//!
//! The dispatcher is **sans-IO**: it owns no threads and no clock. A driver (the deterministic
//! scheduler, or the live host) calls the client API on behalf of a (pid, tid), sets the virtual
//! time, runs providers' deferred work when it chooses, and collects [`Wake`]s for threads whose
//! blocking call finished. A thread that waits for an async completion is a state the driver sees
//! ([`Dispatcher::is_waiting`]), never a blocked OS thread.
//!
//! One module per Windows concept, each an `impl Dispatcher` block over the state it owns:
//!
//! | module | concept | rules |
//! |---|---|---|
//! | `api` | what drivers see: errors, handles, wakes, work items | |
//! | this file | the state, the clock and sink, the work queue and its pump | S6.3 |
//! | `nsp_call` | the one provider-call seam: call lines, containment, context ops | S1.4, P4 |
//! | `process` | processes, threads, WSAStartup/WSACleanup, last error, exit | S4.1, S4.2, S4.7 |
//! | `session` | NSPv2Startup … Cleanup/Rundown | S4.3–S4.8, P5 |
//! | `lookup` | WSALookupServiceBegin/Next/End | S5 |
//! | `async_call` | hAsyncCall and WSAProviderCompleteAsyncCall | S6 |
//! | `set_service` | WSASetService | S7 |
//! | `advertisement` | WSAAdvertiseProvider, and providers leaving | S3, S8 |
//! | `catalog_ops` | catalog changes during a run, WSAEnumNameSpaceProvidersEx | S2 |
//! | `routing` | which providers a call goes to | S5.1, S5.2, S7.1 |
//! | `labels` | labels for provider-produced opaque values | docs/trace-format.md |
//!
//! Calls between concepts are method calls on [`Dispatcher`]; a module imports another only to
//! name a record type its own state points to. Two cycles remain, and they are the concept
//! itself: a pending Next or WSASetService names the async call it waits for, and the async
//! call (its `Waiter`, and a thread's `Waiting`) names the client call its completion continues
//! (`lookup` ↔ `async_call`, `set_service` ↔ `async_call`). Everything else points one way:
//! `process` → `async_call`, `lookup`, `session`; `lookup` → `session`; `advertisement` →
//! `session`; all of them → `api`, `nsp_call`; `nsp_call` → `api`.

mod advertisement;
mod api;
mod async_call;
mod catalog_ops;
mod labels;
mod lookup;
mod nsp_call;
mod process;
mod routing;
mod session;
mod set_service;

pub use api::{
    ApiError, ApiResult, HarnessFailure, LookupHandle, ProviderCrash, ProviderTimeout, Wake,
    WakeOutcome, WorkItem, in_provider_call,
};
pub use process::{negotiate_version, version_text};

use crate::catalog::Catalog;
use crate::config::Config;
use crate::event::{Event, EventSink, Fields, Label};
use crate::handles::HandleTable;
use crate::provider::{AsyncCall, ContextOp, NspFn, WorkToken};
use crate::vec_map::VecMap;
use crate::wsa::{Guid, WsaError};
use advertisement::Advertised;
use async_call::AsyncRecord;
use labels::Labels;
use lookup::{ClientLookup, InlineNext};
use process::Process;
use session::Session;
use std::collections::VecDeque;

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
use emit;

/// Work the dispatcher applies in order once the current provider call has returned.
enum Work {
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
enum Detach {
    /// Unadvertised, host gone, or faulted: the code is dropped; nothing of it runs again.
    Gone,
    /// Disabled or uninstalled while advertised: no call may reach it (L8), but its code lives
    /// on, so a late completion is accepted and discarded (S6.2).
    Unreachable,
}

/// The dispatcher: the state of one emulated machine's Ws2_32.
///
/// Each table belongs to one concept module (named beside it in [`DispatcherRoom`]) and is
/// touched there; the others go through that module's methods.
pub struct Dispatcher<S: EventSink> {
    config: Config,
    sink: S,
    now: u64,
    /// The tables a run grows, kept together so that a driver can keep them for its next run.
    tables: DispatcherRoom,
    next_work_id: u64,
    /// `lookup`: the Next in progress, which may finish before its entry point returns.
    inline_next: Option<InlineNext>,
    /// `session` (session arguments) and `lookup` (provider lookup handles).
    labels: Labels,
    /// `nsp_call`: the async call the provider call in progress serves (for
    /// [`WorkItem::serves`]).
    serving: Option<Label>,
}

/// A dispatcher's tables. A driver that makes many short runs on one thread (exploration) keeps
/// them from one run's dispatcher for the next, so that the next does not allocate and grow
/// them all again ([`Dispatcher::with_room`], [`Dispatcher::into_parts`]). Only room is kept:
/// the tables are emptied when the dispatcher is taken down (a provider's code does not
/// outlive its run) and again when a new one is built, and a dispatcher built with a room
/// starts in the very state of a new one.
#[derive(Default)]
pub struct DispatcherRoom {
    /// `catalog_ops`, read by `routing`.
    catalog: Catalog,
    /// `advertisement`: the advertised providers in GUID order (the order
    /// [`Dispatcher::hosted_by`] reports them in), a handful looked up two or three times per
    /// provider call.
    adverts: VecMap<Guid, Advertised>,
    /// `process`.
    processes: Vec<Process>,
    /// `session`.
    sessions: HandleTable<Session>,
    /// `lookup`.
    lookups: HandleTable<ClientLookup>,
    /// `async_call`.
    async_calls: HandleTable<AsyncRecord>,
    /// Deferred provider work waiting for the driver (S6.3).
    work: Vec<WorkItem>,
    /// Completions and detaches waiting for the current provider call to return.
    queue: VecDeque<Work>,
    /// Blocking calls that finished, for the driver.
    wakes: Vec<Wake>,
    /// `nsp_call`: the buffer provider calls record their context operations in, reused from
    /// call to call; `None` while a call has it (or after a fault took it with the call).
    ops: Option<Vec<ContextOp>>,
}

impl DispatcherRoom {
    /// Empties every table, keeping its room; a buffer a fault took is started again.
    fn clear(&mut self) {
        self.catalog.clear();
        self.adverts.clear();
        self.processes.clear();
        self.sessions.clear();
        self.lookups.clear();
        self.async_calls.clear();
        self.work.clear();
        self.queue.clear();
        self.wakes.clear();
        self.ops.get_or_insert_default().clear();
    }
}

impl<S: EventSink> Dispatcher<S> {
    pub fn new(config: Config, sink: S) -> Self {
        Dispatcher::with_room(config, sink, DispatcherRoom::default())
    }

    /// [`Dispatcher::new`], in the tables of `room` (emptied first).
    pub fn with_room(config: Config, sink: S, mut room: DispatcherRoom) -> Self {
        room.clear();
        Dispatcher {
            config,
            sink,
            now: 0,
            tables: room,
            next_work_id: 0,
            inline_next: None,
            labels: Labels::default(),
            serving: None,
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

    /// Takes the dispatcher down: its sink, and its tables emptied for another run
    /// ([`Dispatcher::with_room`]). Everything the run left in them (providers, sessions,
    /// pending calls) is dropped here.
    pub fn into_parts(self) -> (S, DispatcherRoom) {
        let mut room = self.tables;
        room.clear();
        (self.sink, room)
    }

    /// An `args` or `result` object, built only when the sink wants details
    /// ([`EventSink::wants_details`]); empty otherwise. Building them (JSON values, strings,
    /// maps) is most of an event's cost, and no rule is judged by them.
    fn details(&self, build: impl FnOnce() -> Fields) -> Fields {
        if self.sink.wants_details() {
            build()
        } else {
            Fields::new()
        }
    }

    /// A process or provider name for an event: empty unless the sink wants details.
    fn detail_name(&self, name: &str) -> String {
        if self.sink.wants_details() {
            name.to_string()
        } else {
            String::new()
        }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.tables.catalog
    }

    /// Records an event that did not come from the dispatcher's own state machine (a failed
    /// scenario `expect`, a driver-detected fault), in order with the rest.
    pub fn record_external(&mut self, event: Event) {
        emit!(self, event);
    }

    /// Blocking calls that finished since the last call, in the order they finished.
    pub fn take_wakes(&mut self) -> Vec<Wake> {
        std::mem::take(&mut self.tables.wakes)
    }

    /// [`Dispatcher::take_wakes`] into `out` (cleared first), swapping buffers so that a
    /// driver polling after every step allocates nothing.
    pub fn take_wakes_into(&mut self, out: &mut Vec<Wake>) {
        out.clear();
        // Most steps wake no one: two empty buffers need no swapping.
        if !self.tables.wakes.is_empty() {
            std::mem::swap(&mut self.tables.wakes, out);
        }
    }

    /// Hands a finished blocking call to the driver.
    fn wake(&mut self, wake: Wake) {
        self.tables.wakes.push(wake);
    }

    /// Takes back the wake of a blocking call that finished before its entry point returned.
    fn take_wake(&mut self, matches: impl Fn(&Wake) -> bool) -> Option<Wake> {
        let at = self.tables.wakes.iter().position(matches)?;
        Some(self.tables.wakes.remove(at))
    }

    /// Deferred provider work waiting to run, oldest first.
    pub fn pending_work(&self) -> &[WorkItem] {
        &self.tables.work
    }

    /// Runs one deferred work item (S6.3). Returns `false` for an unknown id.
    pub fn run_work(&mut self, id: u64) -> bool {
        // Legal: the driver learns an unknown or already-run id from the return value.
        let Some(at) = self.tables.work.iter().position(|w| w.id == id) else {
            return false;
        };
        let item = self.tables.work.remove(at);
        self.run_deferred(&item);
        self.pump();
        true
    }

    /// Records a provider's request for a deferred turn, made during `origin` (S6.3).
    fn defer_work(&mut self, provider: Guid, token: WorkToken, origin: NspFn) {
        self.next_work_id += 1;
        self.tables.work.push(WorkItem {
            id: self.next_work_id,
            provider,
            token,
            origin,
            serves: self.serving,
        });
    }

    /// Forgets the deferred work of a provider that is gone (S3.4).
    fn drop_work_of(&mut self, provider: Guid) {
        self.tables.work.retain(|w| w.provider != provider);
    }

    /// Queues work to apply once the current provider call has returned.
    fn enqueue(&mut self, work: Work) {
        self.tables.queue.push_back(work);
    }

    /// Applies queued work until none is left. Every client API entry point ends with it, so
    /// inline completions (S6.3) are applied before the call returns. Most find nothing queued:
    /// that check is inlined, and only work goes out of line ([`Dispatcher::apply`]).
    #[inline]
    fn pump(&mut self) {
        while let Some(work) = self.tables.queue.pop_front() {
            self.apply(work);
        }
    }

    #[inline(never)]
    fn apply(&mut self, work: Work) {
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
