//! Performing a scenario's steps against the dispatcher, one call at a time. The simulated
//! world and the live driver both run scripts through here, so a step means the same calls,
//! in the same order, in both modes.
//!
//! `sleep` and `expect` are the driver's business (time, and the previous outcome), and so is
//! when a step runs; this module only makes the calls, and gathers what an `expect` may ask of
//! them ([`Outcome`]): the negotiated version, the length a WSAEFAULT wrote back, and the
//! results of lookups with the provider that answered each ([`Observer`]).

use crate::catalog::CatalogEntry;
use crate::checker::{Answer, CallCounts};
use crate::event::{ApiFn, CompletionOutcome, Event, EventSink, ExitHow, Pid, Role, Tid};
use crate::provider::NspV2Provider;
use crate::registry::Providers;
use crate::scenario::{
    NextBuffer, NextCount, ProcessSpec, ProviderSpec, Scenario, Step, Target, ThreadSpec,
};
use crate::wsa::{CsAddr, Guid, LupFlags, Namespace, QuerySet, SetServiceFlags, WsaError};
use crate::{ApiError, Dispatcher, LookupHandle};
use smallvec::SmallVec;
use std::collections::BTreeMap;
use std::task::Poll;

/// What a step returned, for `expect`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Its integer return.
    pub ret: i64,
    /// `None`: success.
    pub err: Option<WsaError>,
    /// The version a successful `startup` negotiated.
    pub version: Option<(u8, u8)>,
    /// The length a WSAEFAULT wrote back.
    pub required: Option<u32>,
    /// The results of a `lookup` (all of its loop) or a `lookup_next` (at most one).
    pub results: Vec<Answer>,
}

impl Outcome {
    pub const OK: Outcome = Outcome {
        ret: 0,
        err: None,
        version: None,
        required: None,
        results: Vec::new(),
    };

    pub fn of<T>(r: &Result<T, ApiError>) -> Outcome {
        match r {
            Ok(_) => Outcome::OK,
            Err(e) => Outcome {
                required: e.required_len,
                ..Outcome::failed(e.code)
            },
        }
    }

    pub fn of_wsa<T>(r: &Result<T, WsaError>) -> Outcome {
        match r {
            Ok(_) => Outcome::OK,
            Err(e) => Outcome::failed(*e),
        }
    }

    pub fn failed(e: WsaError) -> Outcome {
        Outcome {
            ret: -1,
            err: Some(e),
            ..Outcome::OK
        }
    }

    /// WSAStartup returns its error code itself (S4.1).
    fn with_code_ret(self) -> Outcome {
        match self.err {
            Some(e) => Outcome {
                ret: i64::from(e.code()),
                ..self
            },
            None => self,
        }
    }

    /// The outcome of a WSALookupServiceNext (a `lookup_next` step) that returned `r`;
    /// `answered_by` is the provider that produced its result.
    pub fn of_next(r: &Result<QuerySet, ApiError>, answered_by: Option<Guid>) -> Outcome {
        match r {
            Ok(qs) => Outcome {
                results: vec![answer(qs, answered_by)],
                ..Outcome::OK
            },
            Err(_) => Outcome::of(r),
        }
    }
}

/// A result as `expect` sees it.
fn answer(qs: &QuerySet, provider: Option<Guid>) -> Answer {
    Answer {
        name: qs.service_instance_name.clone(),
        addrs: qs.addresses.iter().map(|a| a.remote).collect(),
        provider,
    }
}

/// Watches the events of a run for what an `expect` asks and the dispatcher's return values
/// do not tell: which provider answered each WSALookupServiceNext, and how many `nsp.call`s
/// each provider got (for `expect_calls`).
///
/// The provider: a successful WSALookupServiceNext is finished by the delivered completion of
/// the answering provider's NSPv2LookupServiceNextEx, and its `api.return` is the very next
/// event (S5.4, S6.2), so the provider of a delivered `async.complete` with no error, followed
/// at once by a successful `api.return` of WSALookupServiceNext, answered that thread's call.
#[derive(Clone, Debug, Default)]
pub struct Observer {
    /// Whether the run needs events even if the sink discards them.
    wanted: bool,
    /// The provider of the event just before, if it was a delivered, successful completion.
    delivered: Option<Guid>,
    /// The provider that answered each thread's last successful Next, until taken.
    answered: BTreeMap<(Pid, Tid), Guid>,
    /// `nsp.call` counts, kept when the scenario has `expect_calls`.
    calls: Option<CallCounts>,
}

impl Observer {
    /// What `scenario` needs watched.
    pub fn for_scenario(scenario: &Scenario) -> Observer {
        let counts = !scenario.expect_calls.is_empty();
        let results = scenario.uses_results();
        Observer {
            wanted: counts || results,
            calls: counts.then(CallCounts::default),
            ..Observer::default()
        }
    }

    /// Sees one event of the run (every event passes here: the test of whether anything is
    /// watched at all is inlined into the sink).
    #[inline]
    pub fn observe(&mut self, event: &Event) {
        if self.wanted {
            self.watch(event);
        }
    }

    fn watch(&mut self, event: &Event) {
        if let Some(calls) = &mut self.calls {
            calls.observe(event);
        }
        let delivered = self.delivered.take();
        match event {
            Event::AsyncComplete {
                provider,
                err: 0,
                outcome: CompletionOutcome::Delivered,
                ..
            } => self.delivered = Some(*provider),
            Event::ApiReturn {
                pid,
                tid,
                call: ApiFn::WSALookupServiceNext,
                err: 0,
                ..
            } => {
                if let Some(p) = delivered {
                    self.answered.insert((*pid, *tid), p);
                } else {
                    self.answered.remove(&(*pid, *tid));
                }
            }
            _ => {}
        }
    }

    /// Whether lookup results are gathered for `expect` (some `expect` has `results`, or the
    /// scenario has `expect_calls`).
    pub fn keeps_results(&self) -> bool {
        self.wanted
    }

    /// The provider that answered (pid, tid)'s last successful WSALookupServiceNext.
    pub fn take_answer(&mut self, pid: Pid, tid: Tid) -> Option<Guid> {
        self.answered.remove(&(pid, tid))
    }

    /// The `nsp.call` counts (empty when the scenario has no `expect_calls`).
    pub fn calls(&self) -> CallCounts {
        self.calls.clone().unwrap_or_default()
    }
}

/// A sink that lets an [`Observer`] watch the events passing to it.
pub trait Observing: EventSink {
    fn observer(&mut self) -> &mut Observer;
}

/// An [`EventSink`] with an [`Observer`] attached (the live driver's; the sim world has its
/// own wrapper).
pub struct Observed<S> {
    pub inner: S,
    pub observer: Observer,
}

impl<S: EventSink> EventSink for Observed<S> {
    fn record(&mut self, t: u64, event: Event) {
        self.observer.observe(&event);
        self.inner.record(t, event);
    }
    /// Events are built when the observer needs them, even if the inner sink discards them.
    fn enabled(&self) -> bool {
        self.observer.wanted || self.inner.enabled()
    }
    fn failed(&self) -> bool {
        self.inner.failed()
    }
    fn wants_details(&self) -> bool {
        self.inner.wants_details()
    }
}

impl<S: EventSink> Observing for Observed<S> {
    fn observer(&mut self) -> &mut Observer {
        &mut self.observer
    }
}

/// The outcome of a WSALookupServiceNext that returned `r` to (pid, tid), with the provider
/// that answered it.
pub fn next_outcome<S: Observing>(
    d: &mut Dispatcher<S>,
    pid: Pid,
    tid: Tid,
    r: &Result<QuerySet, ApiError>,
) -> Outcome {
    let observer = d.sink_mut().observer();
    if !observer.keeps_results() {
        return Outcome::of(r);
    }
    let by = r.as_ref().ok().and_then(|_| observer.take_answer(pid, tid));
    Outcome::of_next(r, by)
}

/// A named lookup handle (`lookup_begin … as`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamedHandle {
    pub handle: LookupHandle,
    /// The flags it was begun with.
    pub flags: LupFlags,
    /// The length the last WSAEFAULT of a `lookup_next` on it wrote back.
    pub required: Option<u32>,
}

/// A process's named lookup handles.
pub type Handles = BTreeMap<String, NamedHandle>;

/// After a step finished with `outcome`: a `lookup_next` that got WSAEFAULT keeps the length
/// written back with its handle, for a later `buffer = "required"`.
pub fn note_required(handles: &mut Handles, step: &Step, outcome: &Outcome) {
    if let (Step::LookupNext { handle, .. }, Some(n)) = (step, outcome.required)
        && let Some(h) = handles.get_mut(handle)
    {
        h.required = Some(n);
    }
}

/// How a call step went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Performed {
    Done(Outcome),
    /// The call waits for an async completion; its result comes as a wake.
    Waiting,
    /// The process ended (`exit`, `crash`).
    Exited,
    /// The step could not be made as written (`buffer = "required"` with no length written
    /// back yet): no call was made; the reason is a scenario failure.
    NotRun(String),
}

/// The catalog entry a provider spec installs.
pub fn catalog_entry(p: &ProviderSpec) -> CatalogEntry {
    let entry = CatalogEntry::new(p.id, p.name.clone(), p.namespace).with_version(p.version);
    match &p.napi {
        Some(napi) => entry.with_napi(napi.clone()),
        None => entry,
    }
}

/// The namespace and provider a query of `target` names.
fn target_parts(target: Target) -> (Namespace, Option<Guid>) {
    match target {
        Target::Namespace(ns) => (ns, None),
        Target::Provider(id) => (Namespace::ALL, Some(id)),
    }
}

/// The WSAQUERYSET2 a lookup or set-service step passes.
pub fn restrictions(target: Target, name: Option<&str>) -> QuerySet {
    let (namespace, provider) = target_parts(target);
    QuerySet {
        service_instance_name: name.map(str::to_string),
        namespace,
        ns_provider_id: provider,
        ..QuerySet::default()
    }
}

/// Performs one call step (everything but `lookup`, `sleep` and `expect`) for (pid, tid).
#[allow(clippy::too_many_arguments)]
pub fn perform<S: Observing>(
    d: &mut Dispatcher<S>,
    scenario: &Scenario,
    providers: &dyn Providers,
    pid: Pid,
    tid: Tid,
    step: &Step,
    handles: &mut Handles,
) -> Performed {
    let waiting_or = |p: Poll<Result<_, ApiError>>| match p {
        Poll::Ready(r) => Performed::Done(Outcome::of::<()>(&r.map(|_| ()))),
        Poll::Pending => Performed::Waiting,
    };
    // A handle whose lookup_begin failed is used anyway, as a careless client would: the
    // dispatcher answers WSA_INVALID_HANDLE.
    let named = |handles: &Handles, name: &str| {
        handles.get(name).copied().unwrap_or(NamedHandle {
            handle: LookupHandle(0),
            flags: LupFlags::EMPTY,
            required: None,
        })
    };
    let outcome = match step {
        Step::Startup { version } => {
            let r = d.wsa_startup(pid, tid, *version);
            Outcome {
                version: r.ok(),
                ..Outcome::of_wsa(&r).with_code_ret()
            }
        }
        Step::Cleanup => Outcome::of(&d.wsa_cleanup(pid, tid)),
        Step::LookupBegin {
            target,
            name,
            flags,
            as_name,
        } => {
            let q = restrictions(*target, name.as_deref());
            let r = d.wsa_lookup_service_begin(pid, tid, &q, *flags);
            if let Ok(h) = &r {
                let named = NamedHandle {
                    handle: *h,
                    flags: *flags,
                    required: None,
                };
                handles.insert(as_name.clone(), named);
            }
            Outcome::of(&r)
        }
        Step::LookupNext {
            handle,
            flags,
            buffer,
        } => {
            let h = named(handles, handle);
            let buffer = match buffer {
                NextBuffer::Bytes(n) => *n,
                NextBuffer::Required => match h.required {
                    Some(n) => n,
                    None => {
                        return Performed::NotRun(format!(
                            "`buffer = \"required\"` on handle \"{handle}\", but no \
                             WSALookupServiceNext on it has failed with WSAEFAULT"
                        ));
                    }
                },
            };
            return match d.wsa_lookup_service_next(
                pid,
                tid,
                h.handle,
                flags.unwrap_or(h.flags),
                buffer,
            ) {
                Poll::Ready(r) => Performed::Done(next_outcome(d, pid, tid, &r)),
                Poll::Pending => Performed::Waiting,
            };
        }
        Step::LookupEnd { handle } => {
            Outcome::of(&d.wsa_lookup_service_end(pid, tid, named(handles, handle).handle))
        }
        Step::SetService {
            action,
            target,
            name,
            addrs,
            multiple,
        } => {
            let mut info = restrictions(*target, name.as_deref());
            info.addresses = addrs.iter().copied().map(CsAddr::tcp).collect();
            let flags = if *multiple {
                SetServiceFlags::SERVICE_MULTIPLE
            } else {
                SetServiceFlags::EMPTY
            };
            return waiting_or(d.wsa_set_service(pid, tid, &info, *action, flags));
        }
        Step::EnumProviders { buffer } => {
            match d.wsa_enum_name_space_providers_ex(pid, tid, *buffer) {
                Ok(list) => Outcome {
                    ret: list.len() as i64,
                    ..Outcome::OK
                },
                r @ Err(_) => Outcome::of(&r),
            }
        }
        Step::Advertise { provider } => {
            let built = scenario
                .provider(*provider)
                .and_then(|p| providers.build(p).ok());
            match built {
                Some(code) => Outcome::of_wsa(&d.wsa_advertise_provider(pid, tid, *provider, code)),
                None => Outcome::failed(WsaError::EINVAL),
            }
        }
        Step::Unadvertise { provider } => {
            Outcome::of_wsa(&d.wsa_unadvertise_provider(pid, tid, *provider))
        }
        Step::Install { provider } => match scenario.provider(*provider) {
            Some(p) => Outcome::of_wsa(&d.install_provider(catalog_entry(p))),
            None => Outcome::failed(WsaError::EINVAL),
        },
        Step::Uninstall { provider } => Outcome::of_wsa(&d.uninstall_provider(*provider)),
        Step::Enable { provider } => Outcome::of_wsa(&d.enable_provider(*provider, true)),
        Step::Disable { provider } => Outcome::of_wsa(&d.enable_provider(*provider, false)),
        Step::Exit | Step::Crash => {
            let how = if *step == Step::Crash {
                ExitHow::Crash
            } else {
                ExitHow::Exit
            };
            d.exit_process(pid, how);
            return Performed::Exited;
        }
        // The driver's business; `lookup` goes through [`LookupLoop`].
        Step::Lookup { .. } | Step::Sleep { .. } | Step::Expect { .. } => Outcome::OK,
    };
    Performed::Done(outcome)
}

/// A `lookup` step in progress: Begin, then Next until the end (or `next` results), then End.
/// Each call is one [`LookupLoop::step`]. The query it begins with, and the [`LookupCursor`]
/// that makes its calls.
#[derive(Clone, Debug)]
pub struct LookupLoop {
    query: QuerySet,
    cursor: LookupCursor,
}

/// A `lookup` step's calls without its query, which only its Begin reads: a driver with
/// thousands of lookups in progress keeps each one's cursor with its thread, and fills one
/// query for whichever Begin comes next ([`LookupCursor::restart`]). A query set is a few
/// hundred bytes, and with a query in every lookup the lookups of 2,500 clients took more room
/// than a core's cache, each call a miss or two into it.
///
/// What every call reads comes first, in declaration order (`repr(C)`), so that it shares a
/// cache line with the thread record it is kept in.
#[derive(Clone, Debug)]
#[repr(C)]
pub struct LookupCursor {
    handle: Option<LookupHandle>,
    flags: LupFlags,
    buffer: u32,
    limit: Option<u32>,
    results: u32,
    /// Next is done; End comes next.
    ending: bool,
    /// The first error other than WSA_E_NO_MORE, which the step reports.
    error: Option<WsaError>,
    /// The length the first WSAEFAULT wrote back.
    required: Option<u32>,
    /// Every result, in order, with the provider that answered it.
    answers: Vec<Answer>,
}

/// What a `lookup` step asks for: target, name, flags, how many Nexts, buffer size.
fn lookup_parts(step: &Step) -> Option<(Target, Option<&str>, LupFlags, NextCount, u32)> {
    match step {
        Step::Lookup {
            target,
            name,
            flags,
            next,
            buffer,
        } => Some((*target, name.as_deref(), *flags, *next, *buffer)),
        _ => None,
    }
}

/// How many results a loop of `next` takes before its End, if it stops before the last.
fn limit_of(next: NextCount) -> Option<u32> {
    match next {
        NextCount::All => None,
        NextCount::Count(n) => Some(n),
    }
}

/// A loop that takes no results goes from its Begin to its End.
fn ends_at_once(next: NextCount) -> bool {
    matches!(next, NextCount::Count(0))
}

/// How one call of a lookup loop went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoopStep {
    /// Another call follows.
    More,
    /// A Next waits for its completion; feed its result to [`LookupLoop::on_next`].
    Waiting,
    /// The whole `lookup` step is over.
    Done(Outcome),
}

impl LookupLoop {
    /// `None` when `step` is not a `lookup`.
    pub fn of(step: &Step) -> Option<LookupLoop> {
        let (target, name, ..) = lookup_parts(step)?;
        Some(LookupLoop {
            query: restrictions(target, name),
            cursor: LookupCursor::of(step)?,
        })
    }

    /// Makes the loop's next call.
    pub fn step<S: Observing>(&mut self, d: &mut Dispatcher<S>, pid: Pid, tid: Tid) -> LoopStep {
        self.cursor.step(d, pid, tid, &self.query)
    }

    /// A Next of (pid, tid) returned `r` (at once, or later as a wake).
    pub fn on_next<S: Observing>(
        &mut self,
        d: &mut Dispatcher<S>,
        pid: Pid,
        tid: Tid,
        r: &Result<QuerySet, ApiError>,
    ) {
        self.cursor.on_next(d, pid, tid, r);
    }
}

/// Makes `query` the one a lookup of `target` and `name` begins with ([`restrictions`]'s), in
/// place, keeping the room its name took. Only the fields `restrictions` sets are written, so
/// a query that starts as [`QuerySet::default`] and is only ever filled here is always equal
/// to `restrictions`'s.
fn fill_query(query: &mut QuerySet, target: Target, name: Option<&str>) {
    let (namespace, provider) = target_parts(target);
    query.namespace = namespace;
    query.ns_provider_id = provider;
    match name {
        Some(n) => {
            let s = query.service_instance_name.get_or_insert_default();
            s.clear();
            s.push_str(n);
        }
        None => query.service_instance_name = None,
    }
}

impl LookupCursor {
    /// `None` when `step` is not a `lookup`.
    pub fn of(step: &Step) -> Option<LookupCursor> {
        let (_, _, flags, next, buffer) = lookup_parts(step)?;
        Some(LookupCursor {
            handle: None,
            flags,
            buffer,
            limit: limit_of(next),
            results: 0,
            ending: ends_at_once(next),
            error: None,
            required: None,
            answers: Vec::new(),
        })
    }

    /// A cursor of no lookup, for [`LookupCursor::restart`] to make one's.
    pub fn idle() -> LookupCursor {
        LookupCursor {
            handle: None,
            flags: LupFlags::EMPTY,
            buffer: 0,
            limit: None,
            results: 0,
            ending: false,
            error: None,
            required: None,
            answers: Vec::new(),
        }
    }

    /// [`LookupCursor::of`] in place: the cursor becomes `step`'s, field by field (a new
    /// cursor moved into place is a copy of it), keeping the room its answers took; and
    /// `query` becomes the query its Begin asks for (as [`LookupLoop::of`] makes it, keeping
    /// the room its name took, if it was only ever filled here from [`QuerySet::default`]).
    /// `false`, and both unchanged, when `step` is not a `lookup`.
    pub fn restart(&mut self, step: &Step, query: &mut QuerySet) -> bool {
        let Some((target, name, flags, next, buffer)) = lookup_parts(step) else {
            return false;
        };
        fill_query(query, target, name);
        // Every field is named, so one added later cannot be left out.
        let LookupCursor {
            handle,
            flags: cursor_flags,
            buffer: cursor_buffer,
            limit,
            results,
            ending,
            error,
            required,
            answers,
        } = self;
        *handle = None;
        *cursor_flags = flags;
        *cursor_buffer = buffer;
        *limit = limit_of(next);
        *results = 0;
        *ending = ends_at_once(next);
        *error = None;
        *required = None;
        answers.clear();
        true
    }

    /// Makes the lookup's next call; `query` is what a Begin asks for (the step's, as
    /// [`LookupLoop::of`] or [`LookupCursor::restart`] makes it), read only by the first call,
    /// the Begin.
    pub fn step<S: Observing>(
        &mut self,
        d: &mut Dispatcher<S>,
        pid: Pid,
        tid: Tid,
        query: &QuerySet,
    ) -> LoopStep {
        let Some(handle) = self.handle else {
            return match d.wsa_lookup_service_begin(pid, tid, query, self.flags) {
                Ok(h) => {
                    self.handle = Some(h);
                    LoopStep::More
                }
                Err(e) => LoopStep::Done(Outcome::failed(e.code)),
            };
        };
        if self.ending {
            let end = d.wsa_lookup_service_end(pid, tid, handle);
            let base = match (self.error, end) {
                (Some(e), _) => Outcome::failed(e),
                (None, Err(e)) => Outcome::failed(e.code),
                (None, Ok(())) => Outcome {
                    ret: i64::from(self.results),
                    ..Outcome::OK
                },
            };
            return LoopStep::Done(Outcome {
                required: self.required,
                results: std::mem::take(&mut self.answers),
                ..base
            });
        }
        match d.wsa_lookup_service_next(pid, tid, handle, self.flags, self.buffer) {
            Poll::Ready(r) => {
                self.on_next(d, pid, tid, &r);
                LoopStep::More
            }
            Poll::Pending => LoopStep::Waiting,
        }
    }

    /// A Next of (pid, tid) returned `r` (at once, or later as a wake).
    pub fn on_next<S: Observing>(
        &mut self,
        d: &mut Dispatcher<S>,
        pid: Pid,
        tid: Tid,
        r: &Result<QuerySet, ApiError>,
    ) {
        let observer = d.sink_mut().observer();
        match r {
            Ok(qs) => {
                self.results += 1;
                if observer.keeps_results() {
                    let by = observer.take_answer(pid, tid);
                    self.answers.push(answer(qs, by));
                }
            }
            Err(e) if e.code == WsaError::E_NO_MORE => self.ending = true,
            Err(e) => {
                self.error.get_or_insert(e.code);
                if self.required.is_none() {
                    self.required = e.required_len;
                }
                self.ending = true;
            }
        }
        if self.limit.is_some_and(|n| self.results >= n) {
            self.ending = true;
        }
    }
}

/// A run that could not start.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("provider \"{provider}\" (kind {kind}) cannot be built: {message}")]
    Build {
        provider: String,
        kind: String,
        message: String,
    },
    /// A provider's code could no longer be run, not by its own doing
    /// ([`HarnessFailure`](crate::provider::HarnessFailure)): the run was abandoned, unjudged.
    #[error("the run was abandoned: {detail}")]
    Abandoned { detail: String },
}

/// Builds a provider instance from its spec.
pub fn build(
    providers: &dyn Providers,
    p: &ProviderSpec,
) -> Result<Box<dyn NspV2Provider>, RunError> {
    providers.build(p).map_err(|message| RunError::Build {
        provider: p.name.clone(),
        kind: p.kind.clone(),
        message,
    })
}

/// A process of the scenario, started.
#[derive(Clone, Debug)]
pub struct Started<'a> {
    pub pid: Pid,
    /// Borrowed from the scenario, like the scripts.
    pub name: &'a str,
    pub role: Role,
    /// Implicit hosts stay up when their (empty) script is over.
    pub stays_up: bool,
    /// Each thread's script, main thread first, borrowed from the scenario (a run reads its
    /// scripts; copying them for every seed of an exploration is waste). Inline for the usual
    /// one thread.
    pub threads: SmallVec<[(Tid, &'a [Step]); 1]>,
}

/// Starts a scenario: installs the catalog, starts every process with its threads in pid
/// order (declared hosts, implicit hosts, clients), and brings implicit hosts up (WSAStartup,
/// then advertise their installed providers) before any client moves. Sim and live start
/// alike, so their pids and first events agree.
pub fn set_up<'a, S: EventSink>(
    d: &mut Dispatcher<S>,
    scenario: &'a Scenario,
    providers: &dyn Providers,
) -> Result<Vec<Started<'a>>, RunError> {
    let mut started = Vec::new();
    set_up_each(d, scenario, providers, |p| started.push(p))?;
    Ok(started)
}

/// [`set_up`], handing each process to `each` as it starts, in pid order (the simulated
/// world files them in its own records: a list of them in between cost an allocation and a
/// move of each per run).
pub fn set_up_each<'a, S: EventSink>(
    d: &mut Dispatcher<S>,
    scenario: &'a Scenario,
    providers: &dyn Providers,
    each: impl FnMut(Started<'a>),
) -> Result<(), RunError> {
    set_up_planned(d, &SetUpPlan::new(scenario), providers, each)
}

/// What setting up a scenario works out from the scenario alone: which hosts are implicit, and
/// which script each client reads. Exploration sets up one scenario thousands of times, and
/// works this out once ([`set_up_planned`]).
#[derive(Clone, Debug)]
pub struct SetUpPlan<'a> {
    scenario: &'a Scenario,
    /// [`Scenario::implicit_hosts`].
    implicit: Vec<&'a str>,
    /// For each `[[process]]`, in order, the process whose script it reads: consecutive
    /// processes with equal scripts (those one template made, unless a shrinker changed some)
    /// read the first one's copy, so that thousands of clients share one script in the cache
    /// instead of thousands.
    scripts: Vec<&'a ProcessSpec>,
}

impl<'a> SetUpPlan<'a> {
    pub fn new(scenario: &'a Scenario) -> SetUpPlan<'a> {
        let mut scripts: Vec<&'a ProcessSpec> = Vec::with_capacity(scenario.processes.len());
        for p in &scenario.processes {
            let script = match scripts.last() {
                Some(&q) if q.steps == p.steps && q.threads == p.threads => q,
                _ => p,
            };
            scripts.push(script);
        }
        SetUpPlan {
            scenario,
            implicit: scenario.implicit_hosts(),
            scripts,
        }
    }

    /// The scenario it sets up.
    pub fn scenario(&self) -> &'a Scenario {
        self.scenario
    }
}

/// [`set_up_each`] by a plan made once for many runs of its scenario.
pub fn set_up_planned<'a, S: EventSink>(
    d: &mut Dispatcher<S>,
    plan: &SetUpPlan<'a>,
    providers: &dyn Providers,
    mut each: impl FnMut(Started<'a>),
) -> Result<(), RunError> {
    let scenario = plan.scenario;
    // Every provider is built before anything runs, so a bad kind fails first; the instances
    // of installed providers of implicit hosts are the ones advertised below (building is
    // pure, and parsing options twice per run was a tenth of an exploration's time). Inline
    // for a few providers: a run would otherwise allocate for them.
    let mut built: SmallVec<[_; 4]> = SmallVec::with_capacity(scenario.providers.len());
    for p in &scenario.providers {
        built.push(Some(build(providers, p)?));
    }
    for p in scenario.providers.iter().filter(|p| p.installed) {
        let _ = d.install_provider(catalog_entry(p));
        if !p.enabled {
            let _ = d.enable_provider(p.id, false);
        }
    }
    let implicit = &plan.implicit;
    let processes = scenario.hosts.len() + implicit.len() + scenario.processes.len();
    d.reserve_processes(processes);
    // A process's main script, then its other threads' (built in place: collecting them
    // through a list of scripts cost two allocations and a copy per process).
    let mut start = |d: &mut Dispatcher<S>,
                     name: &'a str,
                     role: Role,
                     stays_up: bool,
                     main: &'a [Step],
                     others: &'a [ThreadSpec]| {
        let pid = d.create_process(name, role);
        let mut threads = SmallVec::with_capacity(1 + others.len());
        threads.push((Tid(1), main));
        for (i, t) in others.iter().enumerate() {
            let tid = d.create_thread(pid).unwrap_or(Tid(i as u32 + 2));
            threads.push((tid, &t.steps[..]));
        }
        each(Started {
            pid,
            name,
            role,
            stays_up,
            threads,
        });
        pid
    };
    for h in &scenario.hosts {
        start(d, &h.name, Role::Host, false, &h.steps, &[]);
    }
    for &name in implicit {
        let pid = start(d, name, Role::Host, true, &[], &[]);
        let _ = d.wsa_startup(pid, Tid(1), (2, 2));
        for (p, instance) in scenario.providers.iter().zip(built.iter_mut()) {
            if p.host != name || !p.installed {
                continue;
            }
            let provider = match instance.take() {
                Some(provider) => provider,
                // Two implicit hosts never share a provider; rebuild rather than assume it.
                None => build(providers, p)?,
            };
            let _ = d.wsa_advertise_provider(pid, Tid(1), p.id, provider);
        }
    }
    for (p, script) in scenario.processes.iter().zip(&plan.scripts) {
        start(
            d,
            &p.name,
            Role::Client,
            false,
            &script.steps,
            &script.threads,
        );
    }
    Ok(())
}

#[cfg(test)]
mod napi_tests {
    use super::*;
    use crate::catalog::{Level, Napi};

    #[test]
    fn a_provider_spec_installs_its_napi_data_and_version() {
        let napi =
            Napi::per_domain(false, [("x.org".to_string(), Level::Secondary)]).expect("legal napi");
        let spec = ProviderSpec {
            id: Guid::from_u128(7),
            name: "p".into(),
            namespace: Namespace::EMAIL,
            kind: "k".into(),
            host: "h".into(),
            installed: true,
            enabled: true,
            napi: Some(napi.clone()),
            options: serde_json::json!({}),
            version: 3,
            base_dir: None,
        };
        let entry = catalog_entry(&spec);
        assert_eq!(entry.napi(), Some(&napi));
        assert_eq!(entry.version, 3);
        assert_eq!(entry.blob, None, "the blob is written at install time");
        let plain = catalog_entry(&ProviderSpec { napi: None, ..spec });
        assert_eq!(plain.napi(), None);
    }
}

#[cfg(test)]
mod set_up_tests {
    use super::*;
    use crate::NullSink;
    use crate::registry::Registry;

    const TEMPLATE: &str = r#"
name = "t"
[[process]]
name = "c-{i}"
count = 3
steps = [ { op = "startup" }, { op = "cleanup" } ]
"#;

    fn started_scripts(scenario: &Scenario) -> Vec<*const [Step]> {
        let mut d = Dispatcher::new(crate::sim::world::config_of(scenario), NullSink);
        let started = set_up(&mut d, scenario, &Registry::new()).expect("sets up");
        started
            .iter()
            .map(|p| std::ptr::from_ref(p.threads[0].1))
            .collect()
    }

    #[test]
    fn clients_of_one_template_read_one_copy_of_their_script() {
        let scenario =
            crate::scenario::parse("t.toml", TEMPLATE, &Registry::new()).expect("parses");
        let scripts = started_scripts(&scenario);
        assert_eq!(scripts.len(), 3);
        assert!(scripts.iter().all(|s| std::ptr::eq(*s, scripts[0])));
    }

    #[test]
    fn a_client_whose_script_was_changed_reads_its_own() {
        let mut scenario =
            crate::scenario::parse("t.toml", TEMPLATE, &Registry::new()).expect("parses");
        scenario.processes[1].steps.pop();
        let mut d = Dispatcher::new(crate::sim::world::config_of(&scenario), NullSink);
        let started = set_up(&mut d, &scenario, &Registry::new()).expect("sets up");
        for (p, spec) in started.iter().zip(&scenario.processes) {
            assert_eq!(p.threads[0].1, &spec.steps[..], "{}", p.name);
        }
        assert!(!std::ptr::eq(
            started[1].threads[0].1,
            started[0].threads[0].1
        ));
    }
}

#[cfg(test)]
mod lookup_loop_tests {
    use super::*;

    fn lookup(name: Option<&str>, next: NextCount) -> Step {
        lookup_of(Target::Namespace(Namespace::EMAIL), name, next)
    }

    fn lookup_of(target: Target, name: Option<&str>, next: NextCount) -> Step {
        Step::Lookup {
            target,
            name: name.map(str::to_string),
            flags: LupFlags::RETURN_ADDR,
            next,
            buffer: 4096,
        }
    }

    #[test]
    fn a_restarted_cursor_and_its_query_are_a_new_loop() {
        let steps = [
            lookup(Some("bob@example.com"), NextCount::All),
            lookup(None, NextCount::Count(0)),
            lookup(Some("a-much-longer-name@example.com"), NextCount::Count(2)),
            // One provider's, then a namespace's again: the restriction is replaced both ways.
            lookup_of(Target::Provider(Guid::from_u128(7)), None, NextCount::All),
            lookup(Some("bob@example.com"), NextCount::Count(1)),
        ];
        // A world's: an idle cursor and a default query, then every lookup in them in turn.
        let mut lp = LookupLoop {
            query: QuerySet::default(),
            cursor: LookupCursor::idle(),
        };
        for step in &steps {
            // What a finished loop leaves behind.
            let c = &mut lp.cursor;
            c.handle = Some(LookupHandle(9));
            c.results = 3;
            c.error = Some(WsaError::EFAULT);
            c.required = Some(300);
            c.ending = true;
            c.answers.push(Answer {
                name: Some("old".into()),
                addrs: Vec::new(),
                provider: None,
            });
            assert!(lp.cursor.restart(step, &mut lp.query));
            let fresh = LookupLoop::of(step).expect("a lookup makes a loop");
            assert_eq!(format!("{lp:?}"), format!("{fresh:?}"));
        }
        let before = format!("{lp:?}");
        assert!(
            !lp.cursor.restart(&Step::Cleanup, &mut lp.query),
            "only a lookup restarts a cursor"
        );
        assert_eq!(format!("{lp:?}"), before);
    }
}
