//! Client lookups: WSALookupServiceBegin / Next / End over one or more providers (S5).
//!
//! One client lookup handle spans the providers whose Begin succeeded (its members; each keeps
//! its provider's `hLookup`). Next asks the current member with a fresh async call and moves on
//! after WSA_E_NO_MORE or any error but WSAEFAULT (S5.4); WSAEFAULT reports the required length
//! and consumes nothing (S5.5); Next's flags only narrow Begin's (S5.6); End closes each
//! provider handle once and cancels a Next pending on another thread (S5.7).
//!
//! How members are started is the lookup's [`Plan`]:
//! - [`Plan::EveryProvider`] (S5.1, S5.3; and S5.2 with LUP_NON_AUTHORITATIVE): Begin calls
//!   every routed provider, in routing order; Next walks them in that order.
//! - [`Plan::OneCandidate`] (S5.2, authoritative NS_EMAIL): Begin starts candidates one at a
//!   time (Startup, then Begin) until one's Begin succeeds. When the current candidate's first
//!   Next gives no result, the next candidate is started inside that Next and asked; once a
//!   candidate has yielded a result it serves the lookup to its end.
//!
//! Policy where the reference is silent:
//! - Under S5.2, a first Next that answers WSAEFAULT counts as a result (the candidate can
//!   resolve; the result did not fit): that candidate serves the lookup to its end.
//! - A candidate that could not resolve keeps its provider handle until WSALookupServiceEnd
//!   closes it with the others.
//! - A second Next on a handle that already has one pending fails with WSAEINPROGRESS.
//! - Once End (or the session's end) has begun on a handle, the pending Next returns
//!   WSA_E_CANCELLED whatever the provider completes it with; that completion is `discarded`.
//! - A NextEx that completes with success but wrote no result counts as WSASYSCALLFAILURE from
//!   that provider; one whose result does not fit the caller's buffer counts as WSAEFAULT with
//!   the result's size (the provider should have said so itself).

use super::Dispatcher;
use super::api::{ApiError, ApiResult, LookupHandle, Wake, WakeOutcome};
use super::async_call::{AsyncRecord, Waiter, Waiting};
use super::nsp_call::{NspCall, NspReturn, failure_code};
use super::routing::Route;
use super::session::{Session, SessionEnd};
use crate::event::{ApiFn, EventSink, Fields, Label, LabelKind, Pid, Tid};
use crate::handles::Handle;
use crate::provider::{AsyncCall, NextExOutput, NspFn, ProviderLookup};
use crate::trace::QuerySetFields;
use crate::wsa::{Guid, LupFlags, QuerySet, WsaError, flags::narrow_for_next};
use serde_json::json;
use smallvec::SmallVec;
use std::task::Poll;

/// WSAENOMORE (10102) and WSAECANCELLED (10103) are the older spellings of WSA_E_NO_MORE and
/// WSA_E_CANCELLED (winsock2.h): a NextEx completed with them means the same, and the client
/// sees the modern code. The trace's `async.complete` keeps the code the provider passed.
fn modern_spelling(code: WsaError) -> WsaError {
    match code {
        WsaError::ENOMORE => WsaError::E_NO_MORE,
        WsaError::ECANCELLED => WsaError::E_CANCELLED,
        other => other,
    }
}

/// A client lookup handle's state. Its label is its handle's serial ([`client_label`]), never
/// stored: a handle is never reused.
pub(super) struct ClientLookup {
    pub pid: Pid,
    pub flags: LupFlags,
    /// The providers whose Begin succeeded, in the order Next asks them (inline for the
    /// usual one or two).
    pub members: Members,
    /// The member Next asks now; `members.len()` once every one has ended.
    pub current: usize,
    pub plan: Plan,
    pub pending: Option<PendingNext>,
}

/// The label of a client lookup handle, live or not: its serial, which no other handle of the
/// run has (S5.7).
fn client_label(h: Handle<ClientLookup>) -> Label {
    Label::new(LabelKind::ClientLookup, h.serial())
}

/// How a Next ended, as it travels inside the dispatcher: a result stays in the box its
/// provider wrote it in until the entry point (or the driver's wake) takes it. A query set is
/// a few hundred bytes, and every move of it is a copy; a Next with no result (most end with
/// WSA_E_NO_MORE) moves a few bytes instead.
pub(super) enum NextOutcome {
    /// The box holds a [`NextExOutput::Result`] that fits the caller's buffer.
    Result(Box<NextExOutput>),
    Failed(ApiError),
}

impl NextOutcome {
    fn failed(code: WsaError) -> NextOutcome {
        NextOutcome::Failed(code.into())
    }

    /// The outcome the client sees; the result leaves its box only here.
    fn into_result(self) -> ApiResult<QuerySet> {
        match self {
            NextOutcome::Result(output) => match *output {
                NextExOutput::Result(qs) => Ok(qs),
                // Never built: only a result is kept boxed (`next_ex_outcome`).
                NextExOutput::BufferTooSmall { .. } => Err(WsaError::SYSCALLFAILURE.into()),
            },
            NextOutcome::Failed(e) => Err(e),
        }
    }

    /// The outcome, borrowed, as `api.return` reports it.
    fn as_result(&self) -> ApiResult<&QuerySet> {
        match self {
            NextOutcome::Result(output) => match &**output {
                NextExOutput::Result(qs) => Ok(qs),
                NextExOutput::BufferTooSmall { .. } => Err(WsaError::SYSCALLFAILURE.into()),
            },
            NextOutcome::Failed(e) => Err(*e),
        }
    }

    /// S5.4, S5.5: whether the Next stays with its member: a result, or WSAEFAULT.
    fn stays(&self) -> bool {
        match self {
            NextOutcome::Result(_) => true,
            NextOutcome::Failed(e) => e.code == WsaError::EFAULT,
        }
    }
}

/// What a NextEx that finished with `code`, having written `output`, means for the client
/// (S5.4, S5.5). A result is judged in its box and kept there ([`NextOutcome`]).
fn next_ex_outcome(
    code: Result<(), WsaError>,
    output: Option<Box<NextExOutput>>,
    buffer_len: u32,
) -> NextOutcome {
    match (code.map_err(modern_spelling), output) {
        (Ok(()), Some(output)) => match &*output {
            NextExOutput::Result(qs) => {
                let size = qs.wire_size();
                if size > buffer_len {
                    NextOutcome::Failed(ApiError::buffer_too_small(size))
                } else {
                    NextOutcome::Result(output)
                }
            }
            NextExOutput::BufferTooSmall { .. } => NextOutcome::failed(WsaError::SYSCALLFAILURE),
        },
        (Ok(()), None) => NextOutcome::failed(WsaError::SYSCALLFAILURE),
        (Err(WsaError::EFAULT), Some(output)) => match *output {
            NextExOutput::BufferTooSmall { required } => {
                NextOutcome::Failed(ApiError::buffer_too_small(required))
            }
            NextExOutput::Result(_) => NextOutcome::failed(WsaError::EFAULT),
        },
        (Err(e), _) => NextOutcome::failed(e),
    }
}

/// A client lookup's members.
pub(super) type Members = SmallVec<[Member; 2]>;

/// How a client lookup goes from one provider to the next.
pub(super) enum Plan {
    /// S5.3, S5.4: every routed provider began at Begin; each one's end moves on to the next.
    EveryProvider,
    /// S5.2: one candidate at a time.
    OneCandidate(Box<Candidates>),
}

/// S5.2's candidates of an authoritative NS_EMAIL lookup. The started ones are the lookup's
/// members (the current candidate is the last member).
pub(super) struct Candidates {
    /// The candidates not started yet, in candidate order.
    pub unstarted: std::collections::VecDeque<Guid>,
    /// What the Begin of a later candidate is given (Begin's flags are the lookup's).
    pub restrictions: QuerySet,
    /// The current candidate has yielded a result: it serves the lookup to its end.
    pub resolved: bool,
}

/// One provider's part of a client lookup.
pub(super) struct Member {
    pub provider: Guid,
    pub session: Handle<Session>,
    pub handle: ProviderLookup,
    pub label: Label,
    /// Cleared once NSPv2LookupServiceEnd ran (or the provider went away).
    pub open: bool,
}

/// The thread inside WSALookupServiceNext right now, and the outcome its Next finished with
/// before the entry point returned (an inline completion, S6.3): handed straight back rather
/// than pushed to the driver's wakes and searched for there.
pub(super) struct InlineNext {
    pid: Pid,
    tid: Tid,
    outcome: Option<NextOutcome>,
}

/// A Next waiting for its NextEx to complete.
pub(super) struct PendingNext {
    pub tid: Tid,
    pub call: Handle<AsyncRecord>,
    pub flags: LupFlags,
    pub buffer_len: u32,
}

impl<S: EventSink> Dispatcher<S> {
    /// Takes the pending Next off `h`, whose thread no longer waits; returns its async call.
    pub(super) fn take_pending_next(
        &mut self,
        h: Handle<ClientLookup>,
    ) -> Option<Handle<AsyncRecord>> {
        self.tables
            .lookups
            .get_mut(h)?
            .pending
            .take()
            .map(|p| p.call)
    }

    /// The async call a Next on `h` waits for, if one is pending.
    pub(super) fn pending_next_call(&self, h: Handle<ClientLookup>) -> Option<Handle<AsyncRecord>> {
        self.tables.lookups.get(h)?.pending.as_ref().map(|p| p.call)
    }

    /// WSALookupServiceBegin (S5.1–S5.3).
    pub fn wsa_lookup_service_begin(
        &mut self,
        pid: Pid,
        tid: Tid,
        restrictions: &QuerySet,
        flags: LupFlags,
    ) -> ApiResult<LookupHandle> {
        self.check_caller(pid, tid)?;
        self.api_call(pid, tid, ApiFn::WSALookupServiceBegin, || {
            let mut args = restrictions.to_fields();
            args.insert("flags".into(), json!(flags.bits()));
            args
        });
        let outcome = self.begin_inner(pid, restrictions, flags);
        let label = outcome
            .as_ref()
            .ok()
            .map(|h| client_label(Handle::from_raw(h.0)));
        self.api_return(pid, tid, ApiFn::WSALookupServiceBegin, &outcome, |_| {
            label.map(|l| Fields::from([("handle".into(), json!(l.to_string()))]))
        });
        self.pump();
        outcome
    }

    fn begin_inner(
        &mut self,
        pid: Pid,
        restrictions: &QuerySet,
        flags: LupFlags,
    ) -> ApiResult<LookupHandle> {
        if self.startup_count(pid) == 0 {
            return Err(WsaError::NOTINITIALISED.into());
        }
        let route = self.route(
            pid,
            restrictions.namespace,
            restrictions.ns_provider_id,
            restrictions.service_instance_name.as_deref(),
        )?;
        let routed = route.providers().len();
        let (members, errors, plan) = match route {
            Route::Authority(order) if !flags.contains(LupFlags::NON_AUTHORITATIVE) => {
                // S5.2: candidates one at a time, until one's Begin succeeds.
                let mut unstarted: std::collections::VecDeque<Guid> = order.into_iter().collect();
                let mut errors = Vec::new();
                let mut member = None;
                while let Some(provider) = unstarted.pop_front() {
                    match self.begin_one(pid, provider, restrictions, flags) {
                        Ok(m) => {
                            member = Some(m);
                            break;
                        }
                        Err(e) => errors.push(e),
                    }
                }
                let plan = Plan::OneCandidate(Box::new(Candidates {
                    unstarted,
                    restrictions: restrictions.clone(),
                    resolved: false,
                }));
                (member.into_iter().collect(), errors, plan)
            }
            route => {
                // S5.3 (and S5.2 with LUP_NON_AUTHORITATIVE): every provider, in order.
                let mut members = Members::new();
                let mut errors = Vec::new();
                for provider in route.providers().iter().copied() {
                    match self.begin_one(pid, provider, restrictions, flags) {
                        Ok(member) => members.push(member),
                        Err(e) => errors.push(e),
                    }
                }
                (members, errors, Plan::EveryProvider)
            }
        };
        if members.is_empty() {
            // S5.3: the single error when exactly one provider was routed.
            let code = match (routed, errors.as_slice()) {
                (1, [only]) => *only,
                _ => WsaError::SERVICE_NOT_FOUND,
            };
            return Err(code.into());
        }
        let h = self.tables.lookups.insert(ClientLookup {
            pid,
            flags,
            members,
            current: 0,
            plan,
            pending: None,
        });
        if let Some(process) = self.process_mut(pid) {
            process.lookups.push(h);
        }
        Ok(LookupHandle(h.to_raw()))
    }

    /// Opens the session if need be, then calls one provider's Begin.
    fn begin_one(
        &mut self,
        pid: Pid,
        provider: Guid,
        restrictions: &QuerySet,
        flags: LupFlags,
    ) -> Result<Member, WsaError> {
        let session = self.session_for_call(pid, provider)?;
        if !self.reachable(provider) {
            return Err(WsaError::SERVICE_NOT_FOUND);
        }
        let (arg, session_label) = self.session_arg(session);
        let call =
            NspCall::new(provider, NspFn::LookupServiceBegin, pid, session_label).args(|| {
                let mut args = restrictions.to_fields();
                args.insert("flags".into(), json!(flags.bits()));
                args
            });
        let produced = self.nsp_call(
            call,
            |p, ctx| p.lookup_service_begin(ctx, restrictions, flags, arg),
            |this, end| {
                let result = match end.value {
                    Some(value) => value.map_err(|_| failure_code(end.last_error)),
                    None => Err(WsaError::SYSCALLFAILURE),
                };
                // The label belongs on the return line, so it is taken before it.
                let produced = result.map(|handle| (handle, this.labels.fresh_lookup()));
                let label = produced.as_ref().ok().map(|(_, label)| *label);
                NspReturn::status(produced, label.is_some()).lookup(label)
            },
        );
        let (handle, label) = produced?;
        Ok(Member {
            provider,
            session,
            handle,
            label,
            open: true,
        })
    }

    /// Validates a client lookup handle for `pid` (S5.7).
    fn client_lookup(&self, pid: Pid, h: LookupHandle) -> Result<Handle<ClientLookup>, WsaError> {
        self.client_lookup_of(pid, h).map(|(handle, _)| handle)
    }

    /// [`Dispatcher::client_lookup`], with the lookup itself for a caller that reads it.
    fn client_lookup_of(
        &self,
        pid: Pid,
        h: LookupHandle,
    ) -> Result<(Handle<ClientLookup>, &ClientLookup), WsaError> {
        let handle = Handle::from_raw(h.0);
        match self.tables.lookups.get(handle) {
            Some(lookup) if lookup.pid == pid => Ok((handle, lookup)),
            _ => Err(WsaError::INVALID_HANDLE),
        }
    }

    /// The label of a client handle, live or not: a closed or stale handle keeps the label it
    /// was issued with (so a trace shows which one was misused); a forged one has none, unless
    /// its serial is one that was issued. No lookup: every live handle's serial was issued.
    fn handle_label(&self, h: LookupHandle) -> Option<Label> {
        let handle: Handle<ClientLookup> = Handle::from_raw(h.0);
        (1..=self.tables.lookups.issued())
            .contains(&handle.serial())
            .then(|| client_label(handle))
    }

    /// WSALookupServiceNext (S5.4–S5.6). `Pending` means the thread now waits; its result comes
    /// back as a [`Wake`].
    pub fn wsa_lookup_service_next(
        &mut self,
        pid: Pid,
        tid: Tid,
        h: LookupHandle,
        flags: LupFlags,
        buffer_len: u32,
    ) -> Poll<ApiResult<QuerySet>> {
        if let Err(e) = self.check_caller(pid, tid) {
            return Poll::Ready(Err(e.into()));
        }
        let label = self.handle_label(h);
        self.api_call(pid, tid, ApiFn::WSALookupServiceNext, || {
            let mut args = Fields::new();
            args.insert("buffer".into(), json!(buffer_len));
            args.insert("flags".into(), json!(flags.bits()));
            args.insert(
                "handle".into(),
                label.map_or(json!(null), |l| json!(l.to_string())),
            );
            args
        });
        // The handle is validated (S5.7) and read once: whether a Next is pending on it, and
        // Begin's flags, which Next's only narrow (S5.6).
        let start = self.check_started(pid).and_then(|()| {
            let (lookup, l) = self.client_lookup_of(pid, h)?;
            Ok((lookup, l.pending.is_some(), l.flags))
        });
        let (lookup, begun_with) = match start {
            Ok((_, true, _)) => {
                let outcome = Err(WsaError::EINPROGRESS.into());
                self.api_return(pid, tid, ApiFn::WSALookupServiceNext, &outcome, |_| None);
                return Poll::Ready(outcome);
            }
            Ok((lookup, false, begun_with)) => (lookup, begun_with),
            Err(e) => {
                let outcome = Err(e.into());
                self.api_return(pid, tid, ApiFn::WSALookupServiceNext, &outcome, |_| None);
                return Poll::Ready(outcome);
            }
        };
        let effective = narrow_for_next(begun_with, flags);
        if let Some(thread) = self.thread_mut(pid, tid) {
            thread.waiting = Some(Waiting::LookupServiceNext(lookup));
        }
        self.catch_inline_next(pid, tid);
        self.advance_next(lookup, tid, effective, buffer_len);
        self.pump();
        self.take_inline_next(pid, tid)
    }

    /// Lets a Next that finishes inside its entry point hand its outcome straight back. Not
    /// when the thread already has a wake waiting for the driver: the entry point then takes
    /// the first of its wakes, as a Next always has.
    fn catch_inline_next(&mut self, pid: Pid, tid: Tid) {
        let has_wake = self
            .tables
            .wakes
            .iter()
            .any(|w| w.pid == pid && w.tid == tid);
        self.inline_next = (!has_wake).then_some(InlineNext {
            pid,
            tid,
            outcome: None,
        });
    }

    /// What a Next's entry point returns once its own work is done: the outcome it finished
    /// with, or `Pending`.
    fn take_inline_next(&mut self, pid: Pid, tid: Tid) -> Poll<ApiResult<QuerySet>> {
        match self.inline_next.take() {
            Some(InlineNext {
                outcome: Some(outcome),
                ..
            }) => Poll::Ready(outcome.into_result()),
            // The thread's first finish would have been caught, so none went to the wakes.
            Some(InlineNext { outcome: None, .. }) => Poll::Pending,
            None => self.take_wake_of(pid, tid),
        }
    }

    /// Takes the wake of a call that finished before its entry point returned.
    fn take_wake_of(&mut self, pid: Pid, tid: Tid) -> Poll<ApiResult<QuerySet>> {
        match self.take_wake(|w| w.pid == pid && w.tid == tid) {
            Some(Wake {
                outcome: WakeOutcome::LookupServiceNext(result),
                ..
            }) => Poll::Ready(result),
            Some(other) => {
                // Not ours after all: keep it for the driver.
                self.wake(other);
                Poll::Pending
            }
            None => Poll::Pending,
        }
    }

    /// Asks the current member for its next result, or finishes the Next (S5.4).
    fn advance_next(
        &mut self,
        h: Handle<ClientLookup>,
        tid: Tid,
        flags: LupFlags,
        buffer_len: u32,
    ) {
        loop {
            // Callers hold a live handle, and nothing in the loop frees it.
            let lookup = self
                .tables
                .lookups
                .get(h)
                .expect("a Next advances on a live client lookup");
            let pid = lookup.pid;
            let Some(member) = lookup.members.get(lookup.current) else {
                self.finish_next(pid, tid, NextOutcome::failed(WsaError::E_NO_MORE));
                return;
            };
            // S3.4: a provider that went away answers WSA_E_NO_MORE without being called.
            if !member.open || !self.reachable(member.provider) {
                self.move_on(h);
                continue;
            }
            let (provider, handle, member_label, session) =
                (member.provider, member.handle, member.label, member.session);
            let (_, session_label) = self.session_arg(session);
            let (call, async_label) = self.new_async_call(provider, Waiter::Next(h));
            if let Some(lookup) = self.tables.lookups.get_mut(h) {
                lookup.pending = Some(PendingNext {
                    tid,
                    call,
                    flags,
                    buffer_len,
                });
            }
            let nsp = NspCall::new(provider, NspFn::LookupServiceNextEx, pid, session_label)
                .lookup(member_label)
                .async_call(async_label)
                .args(|| {
                    Fields::from([
                        ("buffer".into(), json!(buffer_len)),
                        ("flags".into(), json!(flags.bits())),
                    ])
                });
            let async_call = AsyncCall(call.to_raw());
            let faulted = self.nsp_call(
                nsp,
                |p, ctx| p.lookup_service_next_ex(ctx, async_call, handle, flags, buffer_len),
                |_, end| NspReturn::void(end.value.is_none()),
            );
            if faulted {
                // P4: the call fails with WSASYSCALLFAILURE, and the Next moves on (S5.4).
                self.on_next_done(h, call, Err(WsaError::SYSCALLFAILURE), None);
            }
            return;
        }
    }

    /// The current member gave no (more) results, or is gone (S5.4, S3.4): picks the member
    /// Next asks now. Under S5.2 a candidate that has yielded a result ends the lookup; one
    /// that could not resolve hands over to the next candidate, started here (its Startup and
    /// Begin run inside this Next); a candidate whose Begin fails is passed over.
    fn move_on(&mut self, h: Handle<ClientLookup>) {
        let lookup = self
            .tables
            .lookups
            .get_mut(h)
            .expect("a Next moves on in a live client lookup");
        let candidates = match &mut lookup.plan {
            Plan::EveryProvider => {
                lookup.current += 1;
                return;
            }
            Plan::OneCandidate(c) => c,
        };
        debug_assert_eq!(
            lookup.current + 1,
            lookup.members.len(),
            "S5.2: the current candidate is the last one started"
        );
        lookup.current = lookup.members.len();
        if candidates.resolved {
            // S5.2: the candidate that answered served the lookup to its end.
            candidates.unstarted.clear();
            return;
        }
        let (pid, flags) = (lookup.pid, lookup.flags);
        loop {
            let lookup = self
                .tables
                .lookups
                .get_mut(h)
                .expect("starting a candidate frees no client lookup");
            let Plan::OneCandidate(candidates) = &mut lookup.plan else {
                unreachable!("a lookup keeps its plan");
            };
            let Some(provider) = candidates.unstarted.pop_front() else {
                return;
            };
            let restrictions = candidates.restrictions.clone();
            if let Ok(member) = self.begin_one(pid, provider, &restrictions, flags) {
                let lookup = self
                    .tables
                    .lookups
                    .get_mut(h)
                    .expect("starting a candidate frees no client lookup");
                lookup.members.push(member);
                lookup.current = lookup.members.len() - 1;
                return;
            }
        }
    }

    /// S5.2: the current candidate yielded a result (or one too big for the buffer).
    fn note_resolved(lookup: &mut ClientLookup) {
        if let Plan::OneCandidate(c) = &mut lookup.plan {
            c.resolved = true;
        }
    }

    /// Continues a Next whose NextEx finished with `code` (S5.4, S5.5).
    pub(super) fn on_next_done(
        &mut self,
        h: Handle<ClientLookup>,
        call: Handle<AsyncRecord>,
        code: Result<(), WsaError>,
        output: Option<Box<NextExOutput>>,
    ) {
        // Callers pass only the call the Next still waits for (`is_waited_for`, or the NextEx
        // that just faulted): a stale completion was discarded before it came here (S6.2).
        let lookup = self
            .tables
            .lookups
            .get_mut(h)
            .expect("a NextEx finishes for a live client lookup");
        let pending = lookup
            .pending
            .take_if(|p| p.call == call)
            .expect("a NextEx finishes for the Next that waits for it");
        let pid = lookup.pid;
        let outcome = next_ex_outcome(code, output, pending.buffer_len);
        // S5.4: WSAEFAULT stays with this provider; the result is not consumed (S5.5).
        if outcome.stays() {
            Self::note_resolved(lookup);
            self.finish_next(pid, pending.tid, outcome);
        } else {
            self.move_on(h);
            self.advance_next(h, pending.tid, pending.flags, pending.buffer_len);
        }
    }

    /// Ends a Next: last error, `api.return`, and its outcome: straight back to its entry
    /// point when it finished inside it ([`InlineNext`]), else a wake for the driver.
    pub(super) fn finish_next(&mut self, pid: Pid, tid: Tid, outcome: NextOutcome) {
        if let Some(thread) = self.thread_mut(pid, tid) {
            thread.waiting = None;
        }
        if !self.is_alive(pid) {
            return;
        }
        self.api_return(
            pid,
            tid,
            ApiFn::WSALookupServiceNext,
            &outcome.as_result(),
            |o| match o {
                Ok(qs) => Some(qs.to_fields()),
                Err(ApiError {
                    required_len: Some(n),
                    ..
                }) => Some(Fields::from([("buffer".into(), json!(n))])),
                Err(_) => None,
            },
        );
        if let Some(inline) = self
            .inline_next
            .as_mut()
            .filter(|n| n.pid == pid && n.tid == tid && n.outcome.is_none())
        {
            inline.outcome = Some(outcome);
            return;
        }
        self.wake(Wake {
            pid,
            tid,
            outcome: WakeOutcome::LookupServiceNext(outcome.into_result()),
        });
    }

    /// WSALookupServiceEnd (S5.7).
    pub fn wsa_lookup_service_end(&mut self, pid: Pid, tid: Tid, h: LookupHandle) -> ApiResult<()> {
        self.check_caller(pid, tid)?;
        let label = self.handle_label(h);
        self.api_call(pid, tid, ApiFn::WSALookupServiceEnd, || {
            Fields::from([(
                "handle".into(),
                label.map_or(json!(null), |l| json!(l.to_string())),
            )])
        });
        let outcome = self
            .check_started(pid)
            .and_then(|()| self.client_lookup(pid, h))
            .map_err(ApiError::from)
            .map(|lookup| self.end_client_lookup(lookup));
        self.api_return(pid, tid, ApiFn::WSALookupServiceEnd, &outcome, |_| None);
        self.pump();
        outcome
    }

    /// Closes a client lookup: every provider handle once, then the pending Next is cancelled.
    fn end_client_lookup(&mut self, h: Handle<ClientLookup>) {
        let pending = self
            .tables
            .lookups
            .get_mut(h)
            .and_then(|l| l.pending.take());
        if let Some(p) = &pending {
            self.orphan_async(p.call);
        }
        self.close_provider_lookups(h, None);
        // Only the sessions are read after the lookup is freed: taken first, the record is
        // not moved out of its table as a whole (some 160 bytes copied for two words).
        let Some(lookup) = self.tables.lookups.get(h) else {
            return;
        };
        let pid = lookup.pid;
        let mut sessions: SmallVec<[Handle<Session>; 2]> = SmallVec::new();
        // Each session once, in member order.
        for m in &lookup.members {
            if !sessions.contains(&m.session) {
                sessions.push(m.session);
            }
        }
        self.tables.lookups.remove(h);
        if let Some(process) = self.process_mut(pid) {
            process.lookups.retain(|l| *l != h);
        }
        // S4.6: a retiring session whose last handle this was ends now.
        for session in sessions {
            self.end_if_retired(pid, session);
        }
        if let Some(p) = pending {
            self.finish_next(pid, p.tid, NextOutcome::failed(WsaError::E_CANCELLED));
        }
    }

    /// Whether a session still has open provider lookup handles (S4.6).
    pub(super) fn session_has_open_lookups(&self, pid: Pid, session: Handle<Session>) -> bool {
        self.process(pid).is_some_and(|p| {
            p.lookups.iter().any(|h| {
                self.tables
                    .lookups
                    .get(*h)
                    .is_some_and(|l| l.members.iter().any(|m| m.open && m.session == session))
            })
        })
    }

    /// Calls NSPv2LookupServiceEnd on the open members of a client lookup (all of them, or
    /// only those of one session), each exactly once (L6).
    pub(super) fn close_provider_lookups(
        &mut self,
        h: Handle<ClientLookup>,
        only: Option<Handle<Session>>,
    ) {
        let lookup = self
            .tables
            .lookups
            .get(h)
            .expect("provider lookups are closed before their client lookup is freed");
        let (pid, members) = (lookup.pid, lookup.members.len());
        // By index, without a list of targets: only this loop closes members while it runs
        // (provider calls queue what they do), so each is judged as it comes up.
        for i in 0..members {
            // Members are never removed, and provider calls cannot free the lookup.
            let member = self
                .tables
                .lookups
                .get_mut(h)
                .and_then(|l| l.members.get_mut(i))
                .expect("a member of a live client lookup");
            if !member.open || only.is_some_and(|s| member.session != s) {
                continue;
            }
            member.open = false;
            let (provider, handle, label, session) =
                (member.provider, member.handle, member.label, member.session);
            if !self.reachable(provider) {
                continue; // L8: nothing reaches it; S3.4: its handles died with it.
            }
            let (_, session_label) = self.session_arg(session);
            let call =
                NspCall::new(provider, NspFn::LookupServiceEnd, pid, session_label).lookup(label);
            self.nsp_call(
                call,
                |p, ctx| p.lookup_service_end(ctx, handle),
                |_, end| NspReturn::status((), end.value.is_some_and(|r| r.is_ok())),
            );
        }
    }

    /// S4.8: before a session ends, its provider lookup handles are closed; a Next pending on
    /// one of them returns WSA_E_CANCELLED (or, when the provider is gone, moves on, S3.4).
    pub(super) fn close_session_lookups(
        &mut self,
        pid: Pid,
        session: Handle<Session>,
        how: SessionEnd,
    ) {
        let handles = self
            .process(pid)
            .map(|p| p.lookups.clone())
            .unwrap_or_default();
        for h in handles {
            // A process lists exactly its live client lookups, and closing one frees none.
            let lookup = self
                .tables
                .lookups
                .get(h)
                .expect("a process's client lookups are live");
            let pending_here = lookup.pending.as_ref().is_some_and(|_| {
                lookup
                    .members
                    .get(lookup.current)
                    .is_some_and(|m| m.session == session)
            });
            let pending = if pending_here {
                self.tables
                    .lookups
                    .get_mut(h)
                    .and_then(|l| l.pending.take())
            } else {
                None
            };
            if let Some(p) = &pending {
                self.orphan_async(p.call);
            }
            if how == SessionEnd::Silent {
                if let Some(lookup) = self.tables.lookups.get_mut(h) {
                    for m in lookup.members.iter_mut().filter(|m| m.session == session) {
                        m.open = false;
                    }
                }
                if let Some(p) = pending {
                    // S3.4: WSA_E_NO_MORE from the vanished provider; the Next moves on.
                    self.move_on(h);
                    self.advance_next(h, p.tid, p.flags, p.buffer_len);
                }
            } else {
                self.close_provider_lookups(h, Some(session));
                if let Some(p) = pending {
                    self.finish_next(pid, p.tid, NextOutcome::failed(WsaError::E_CANCELLED));
                }
            }
        }
    }

    /// Frees every client lookup handle of a process; a thread waiting in Next on one of them
    /// is completed with `code`.
    pub(super) fn drop_client_lookups(&mut self, pid: Pid, code: WsaError) {
        let handles = self
            .process_mut(pid)
            .map(|p| std::mem::take(&mut p.lookups))
            .unwrap_or_default();
        for h in handles {
            self.close_provider_lookups(h, None);
            if let Some(lookup) = self.tables.lookups.remove(h)
                && let Some(pending) = lookup.pending
            {
                self.orphan_async(pending.call);
                self.finish_next(pid, pending.tid, NextOutcome::failed(code));
            }
        }
    }
}
