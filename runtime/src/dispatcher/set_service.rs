//! WSASetService: routed like a lookup, one NSPv2SetServiceEx per provider in turn (S7).
//!
//! The call succeeds if any routed provider succeeded, else it fails with the first error
//! (S7.1). For an NS_EMAIL name routed by authority (S5.2), registration follows the
//! candidates one at a time, and the first success ends it: a later candidate's session is
//! opened only when every earlier one failed. A provider whose
//! SetServiceEx slot is null counts as WSAEOPNOTSUPP without being called (S1.3). Providers are
//! asked one after another, never at once, so the order of their calls is the routing order.

use super::Dispatcher;
use super::api::{ApiResult, Wake, WakeOutcome};
use super::async_call::{AsyncRecord, Waiter, Waiting};
use super::nsp_call::{NspCall, NspReturn};
use super::routing::{Providers, Route};
use crate::event::{ApiFn, EventSink, Fields, Pid, Tid};
use crate::handles::Handle;
use crate::provider::{AsyncCall, NspFn};
use crate::trace::QuerySetFields;
use crate::wsa::{QuerySet, SetServiceFlags, SetServiceOp, WsaError};
use serde_json::json;
use std::task::Poll;

/// A WSASetService in progress on one thread.
pub(super) struct SetServiceState {
    pub info: QuerySet,
    pub op: SetServiceOp,
    pub flags: SetServiceFlags,
    pub routed: Providers,
    pub next: usize,
    /// S5.2/S7.1 authority routing: the first success ends the call.
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
        let routed = self.check_started(pid).and_then(|()| {
            self.route(
                pid,
                info.namespace,
                info.ns_provider_id,
                info.service_instance_name.as_deref(),
            )
        });
        let routed = match routed {
            Ok(r) => r,
            Err(e) => {
                let outcome = Err(e.into());
                self.api_return(pid, tid, ApiFn::WSASetService, &outcome, |_| None);
                return Poll::Ready(outcome);
            }
        };
        let first_success_only = matches!(routed, Route::Authority(_));
        let state = SetServiceState {
            info: info.clone(),
            op,
            flags,
            routed: match routed {
                Route::Every(p) | Route::Authority(p) => p,
            },
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
        let finished = self.take_wake(|w| {
            w.pid == pid && w.tid == tid && matches!(w.outcome, WakeOutcome::SetService(_))
        });
        match finished {
            Some(Wake {
                outcome: WakeOutcome::SetService(result),
                ..
            }) => Poll::Ready(result),
            _ => Poll::Pending,
        }
    }

    /// The async call a WSASetService on `(pid, tid)` waits for, if one is pending.
    pub(super) fn pending_set_call(&self, pid: Pid, tid: Tid) -> Option<Handle<AsyncRecord>> {
        match self.thread(pid, tid)?.waiting.as_ref()? {
            Waiting::SetService(state) => state.pending,
            Waiting::LookupServiceNext(_) => None,
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
            // The thread waits in this WSASetService until `finish_set`, which ends the loop.
            let state = self
                .set_state(pid, tid)
                .expect("a WSASetService advances while its thread waits in it");
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
            if !self.reachable_with(provider, NspFn::SetServiceEx) {
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
            let state = self
                .set_state(pid, tid)
                .expect("opening a session does not end the WSASetService");
            state.pending = Some(call);
            let (info, op, flags) = (state.info.clone(), state.op, state.flags);
            let nsp = NspCall::new(provider, NspFn::SetServiceEx, pid, session_label)
                .async_call(label)
                .args(|| {
                    let mut args = info.to_fields();
                    args.insert("flags".into(), json!(flags.0));
                    args.insert("op".into(), json!(op.code()));
                    args
                });
            let async_call = AsyncCall(call.to_raw());
            let faulted = self.nsp_call(
                nsp,
                |p, ctx| p.set_service_ex(ctx, async_call, &info, op, flags, arg),
                |_, end| NspReturn::void(end.value.is_none()),
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
    pub(super) fn on_set_done(
        &mut self,
        pid: Pid,
        tid: Tid,
        call: Handle<AsyncRecord>,
        code: Result<(), WsaError>,
    ) {
        // Callers pass only the call the WSASetService still waits for (`is_waited_for`, or the
        // SetServiceEx that just faulted): a stale completion was discarded before (S6.2).
        let state = self
            .set_state(pid, tid)
            .expect("a SetServiceEx finishes while its thread waits in WSASetService");
        assert_eq!(
            state.pending.take(),
            Some(call),
            "a SetServiceEx finishes for the WSASetService that waits for it"
        );
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
        self.wake(Wake {
            pid,
            tid,
            outcome: WakeOutcome::SetService(outcome),
        });
    }
}
