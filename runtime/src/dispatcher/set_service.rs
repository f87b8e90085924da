//! WSASetService: routed like a lookup, one NSPv2SetServiceEx per provider in turn (S7).
//!
//! The call succeeds if any routed provider succeeded, else it fails with the first error
//! (S7.1); for NS_EMAIL with authority levels, the first success ends it. A provider whose
//! SetServiceEx slot is null counts as WSAEOPNOTSUPP without being called (S1.3). Providers are
//! asked one after another, never at once, so the order of their calls is the routing order.

use super::process::Waiting;
use super::{ApiResult, AsyncRecord, CallEnd, Dispatcher, Waiter, Wake, WakeOutcome, emit};
use crate::event::{ApiFn, Event, EventSink, Fields, Pid, Tid};
use crate::handles::Handle;
use crate::provider::{AsyncCall, CallSite, NspFn};
use crate::wsa::{Guid, QuerySet, SetServiceFlags, SetServiceOp, WsaError};
use serde_json::json;
use std::task::Poll;

/// A WSASetService in progress on one thread.
pub(crate) struct SetServiceState {
    pub info: QuerySet,
    pub op: SetServiceOp,
    pub flags: SetServiceFlags,
    pub routed: Vec<Guid>,
    pub next: usize,
    pub first_success_only: bool,
    pub succeeded: bool,
    pub first_error: Option<WsaError>,
    pub pending: Option<Handle<AsyncRecord>>,
}

impl<S: EventSink> Dispatcher<S> {
    /// WSASetService (S7). `Pending` means the thread waits; the result comes as a [`Wake`].
    pub fn wsa_set_service(
        &mut self,
        pid: Pid,
        tid: Tid,
        info: &QuerySet,
        op: SetServiceOp,
        flags: SetServiceFlags,
    ) -> Poll<ApiResult<()>> {
        if let Err(e) = self.check_caller(pid, tid) {
            return Poll::Ready(Err(e.into()));
        }
        self.api_call(pid, tid, ApiFn::WSASetService, || {
            let mut args = info.to_fields();
            args.insert("flags".into(), json!(flags.0));
            args.insert("op".into(), json!(op.code()));
            args
        });
        let routed = self
            .check_started(pid, tid)
            .and_then(|()| self.route(pid, info.namespace, info.ns_provider_id));
        let routed = match routed {
            Ok(r) => r,
            Err(e) => {
                let outcome = Err(e.into());
                self.api_return(pid, tid, ApiFn::WSASetService, &outcome, |_| None);
                return Poll::Ready(outcome);
            }
        };
        let first_success_only = self.authority_routing(info.namespace, &routed);
        let state = SetServiceState {
            info: info.clone(),
            op,
            flags,
            routed,
            next: 0,
            first_success_only,
            succeeded: false,
            first_error: None,
            pending: None,
        };
        if let Some(thread) = self.thread_mut(pid, tid) {
            thread.waiting = Some(Waiting::SetService(Box::new(state)));
        }
        self.advance_set(pid, tid);
        self.pump();
        let at = self.wakes.iter().position(|w| {
            w.pid == pid && w.tid == tid && matches!(w.outcome, WakeOutcome::SetService(_))
        });
        match at.map(|i| self.wakes.remove(i)) {
            Some(Wake {
                outcome: WakeOutcome::SetService(result),
                ..
            }) => Poll::Ready(result),
            _ => Poll::Pending,
        }
    }

    fn set_state(&mut self, pid: Pid, tid: Tid) -> Option<&mut SetServiceState> {
        match self.thread_mut(pid, tid)?.waiting.as_mut()? {
            Waiting::SetService(state) => Some(state),
            Waiting::LookupServiceNext(_) => None,
        }
    }

    /// Calls the next routed provider's SetServiceEx, or finishes.
    fn advance_set(&mut self, pid: Pid, tid: Tid) {
        loop {
            let Some(state) = self.set_state(pid, tid) else {
                return;
            };
            let done =
                state.next >= state.routed.len() || (state.first_success_only && state.succeeded);
            if done {
                let outcome = match (state.succeeded, state.first_error) {
                    (true, _) => Ok(()),
                    (false, Some(e)) => Err(e.into()),
                    (false, None) => Err(WsaError::SERVICE_NOT_FOUND.into()),
                };
                self.finish_set(pid, tid, outcome);
                return;
            }
            let provider = state.routed[state.next];
            state.next += 1;
            let session = match self.session_for_call(pid, provider) {
                Ok(s) => s,
                Err(e) => {
                    self.note_set_error(pid, tid, e);
                    continue;
                }
            };
            let callable = self.reachable(provider)
                && self
                    .adverts
                    .get(&provider)
                    .is_some_and(|a| a.table.has(NspFn::SetServiceEx));
            if !callable {
                // S1.3: a null SetServiceEx is WSAEOPNOTSUPP for that provider.
                let code = if self.reachable(provider) {
                    WsaError::EOPNOTSUPP
                } else {
                    WsaError::SERVICE_NOT_FOUND
                };
                self.note_set_error(pid, tid, code);
                continue;
            }
            let (arg, session_label) = self.session_arg(session);
            let (call, label) = self.new_async_call(provider, Waiter::SetService(pid, tid));
            let Some(state) = self.set_state(pid, tid) else {
                return;
            };
            state.pending = Some(call);
            let (info, op, flags) = (state.info.clone(), state.op, state.flags);
            emit!(
                self,
                Event::NspCall {
                    provider,
                    func: NspFn::SetServiceEx,
                    pid,
                    session: session_label,
                    lookup: None,
                    async_call: Some(label),
                    args: Some(self.details(|| {
                        let mut args = info.to_fields();
                        args.insert("flags".into(), json!(flags.0));
                        args.insert("op".into(), json!(op.code()));
                        args
                    })),
                }
            );
            let site = CallSite {
                provider,
                pid: pid.0,
            };
            let async_call = AsyncCall(call.to_raw());
            self.serving = Some(label);
            let end = self.call_provider(provider, site, NspFn::SetServiceEx, |p, ctx| {
                p.set_service_ex(ctx, async_call, &info, op, flags, arg)
            });
            self.serving = None;
            let (err, faulted) = match end {
                CallEnd::Returned { last_error, .. } => {
                    (last_error.map_or(0, WsaError::code), false)
                }
                CallEnd::Faulted => (WsaError::SYSCALLFAILURE.code(), true),
            };
            emit!(
                self,
                Event::NspReturn {
                    provider,
                    func: NspFn::SetServiceEx,
                    pid,
                    ret: None,
                    err,
                    session: None,
                    lookup: None,
                }
            );
            if faulted {
                // P4: this provider's part fails with WSASYSCALLFAILURE; the others go on.
                self.on_set_done(pid, tid, call, Err(WsaError::SYSCALLFAILURE));
            }
            return;
        }
    }

    fn note_set_error(&mut self, pid: Pid, tid: Tid, e: WsaError) {
        if let Some(state) = self.set_state(pid, tid) {
            state.first_error.get_or_insert(e);
        }
    }

    /// Continues a WSASetService whose current SetServiceEx finished.
    pub(crate) fn on_set_done(
        &mut self,
        pid: Pid,
        tid: Tid,
        call: Handle<AsyncRecord>,
        code: Result<(), WsaError>,
    ) {
        let Some(state) = self.set_state(pid, tid) else {
            return;
        };
        if state.pending != Some(call) {
            return; // stale
        }
        state.pending = None;
        match code {
            Ok(()) => state.succeeded = true,
            Err(e) => {
                state.first_error.get_or_insert(e);
            }
        }
        self.advance_set(pid, tid);
    }

    fn finish_set(&mut self, pid: Pid, tid: Tid, outcome: ApiResult<()>) {
        if let Some(thread) = self.thread_mut(pid, tid) {
            thread.waiting = None;
        }
        self.api_return(pid, tid, ApiFn::WSASetService, &outcome, |_| None::<Fields>);
        self.wakes.push(Wake {
            pid,
            tid,
            outcome: WakeOutcome::SetService(outcome),
        });
    }
}
