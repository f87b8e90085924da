//! The provider-call seam: every call into a provider's code goes through this module, like
//! every call in ReactOS's ws2_32 goes through its provider object (`nsprovid.c`).
//!
//! A traced call ([`Dispatcher::nsp_call`]) writes `nsp.call`, builds the call site, runs the
//! entry point with panics contained (P4), applies what the provider did through its context
//! (completions, NextEx output, deferred-work requests; S6.3), maps how the call ended to a
//! value and a last error (a fault reads as WSASYSCALLFAILURE), and writes `nsp.return`
//! (S1.4: `ret` is null for a void function). Deferred work ([`Dispatcher::run_deferred`]) and
//! the live driver's deadline ([`Dispatcher::contain_fault`]) use the same containment, without
//! the call lines. Reading a routine table at advertise time is contained here too.
//!
//! This is the one place where the dispatcher meets provider code, so it is where other kinds
//! of provider plug in: the C-provider adapter (a provider in an out-of-process host, whose
//! crash or hang becomes a fault here) and the live hosts (whose missed deadline arrives as a
//! [`ProviderTimeout`] panic and is reported as a `timeout` fault). They implement
//! [`NspV2Provider`]; nothing else in the dispatcher needs to know them.
//!
//! Callers decide routing and reachability (L8) before they come here; the seam only asserts
//! that the provider is still advertised.

use super::api::{HarnessFailure, ProviderCrash, ProviderTimeout, WorkItem, set_in_provider_call};
use super::{Detach, Dispatcher, Work, emit};
use crate::event::{Event, EventSink, FaultKind, Fields, Label, Pid};
use crate::provider::{CallSite, ContextOp, NspContext, NspFn, NspV2Provider, RoutineTable};
use crate::wsa::{Guid, SOCKET_ERROR, WsaError};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// One traced provider call: what its `nsp.call` line says. `A` builds the `args` object,
/// only when the sink wants details; otherwise the line has none, like an `api.return` without
/// its `result` (an empty map would only be dropped again by the sink).
pub(super) struct NspCall<A = fn() -> Fields> {
    provider: Guid,
    func: NspFn,
    /// The client served.
    pid: Pid,
    session: Option<Label>,
    lookup: Option<Label>,
    async_call: Option<Label>,
    args: Option<A>,
}

impl NspCall {
    pub fn new(provider: Guid, func: NspFn, pid: Pid, session: Option<Label>) -> Self {
        NspCall {
            provider,
            func,
            pid,
            session,
            lookup: None,
            async_call: None,
            args: None,
        }
    }
}

impl<A: FnOnce() -> Fields> NspCall<A> {
    /// The provider lookup handle the call is about (NextEx, End).
    pub fn lookup(self, label: Label) -> Self {
        NspCall {
            lookup: Some(label),
            ..self
        }
    }

    /// The async call it serves (NextEx, SetServiceEx); deferred work it requests serves it too.
    pub fn async_call(self, label: Label) -> Self {
        NspCall {
            async_call: Some(label),
            ..self
        }
    }

    /// The call's `args` object (Begin, NextEx, SetServiceEx).
    pub fn args<B: FnOnce() -> Fields>(self, build: B) -> NspCall<B> {
        NspCall {
            provider: self.provider,
            func: self.func,
            pid: self.pid,
            session: self.session,
            lookup: self.lookup,
            async_call: self.async_call,
            args: Some(build),
        }
    }
}

/// How a provider call ended.
pub(super) struct NspOutcome<R> {
    /// What the entry point returned; `None` when it faulted (P4).
    pub value: Option<R>,
    /// The calling thread's last error after the call: WSASYSCALLFAILURE after a fault.
    pub last_error: Option<WsaError>,
}

/// What the caller makes of an outcome: its own value, and what `nsp.return` reports.
pub(super) struct NspReturn<T> {
    value: T,
    /// Success (`ret` 0) or SOCKET_ERROR; unused for a void function, whose `ret` is null.
    ok: bool,
    /// Startup only: the label of the session argument it produced, or null.
    session: Option<Option<Label>>,
    /// Begin only, on success: the label of the lookup handle it produced.
    lookup: Option<Label>,
}

impl<T> NspReturn<T> {
    /// A fallible entry point's return: 0 when `ok`, else SOCKET_ERROR.
    pub fn status(value: T, ok: bool) -> Self {
        NspReturn {
            value,
            ok,
            session: None,
            lookup: None,
        }
    }

    /// A void entry point's return (NextEx, SetServiceEx, Rundown).
    pub fn void(value: T) -> Self {
        Self::status(value, true)
    }

    /// Startup: the session argument's label (null for a null argument or a failure).
    pub fn session(self, label: Option<Label>) -> Self {
        NspReturn {
            session: Some(label),
            ..self
        }
    }

    /// Begin: the lookup handle's label.
    pub fn lookup(self, label: Option<Label>) -> Self {
        NspReturn {
            lookup: label,
            ..self
        }
    }
}

/// The error a failed fallible entry point reports: its last error, or WSASYSCALLFAILURE when a
/// provider returned SOCKET_ERROR without one (S1.4, P1).
pub(super) fn failure_code(last_error: Option<WsaError>) -> WsaError {
    last_error.unwrap_or(WsaError::SYSCALLFAILURE)
}

/// Reads a provider's routine table at advertise time, a panic contained (P4): `None` then.
/// The provider is not advertised yet, so there is nothing to mark faulted and no fault line.
pub(super) fn routine_table_of(code: &dyn NspV2Provider) -> Option<RoutineTable> {
    catch_unwind(AssertUnwindSafe(|| code.routine_table())).ok()
}

impl<S: EventSink> Dispatcher<S> {
    /// Calls one provider entry point for a client: `nsp.call`, the contained call `invoke`,
    /// then `settle`, which turns the outcome into the caller's value and the `nsp.return`
    /// report, producing any label the return line names; then `nsp.return`. What the caller
    /// does after the call (record a session, continue a Next) comes after the return line.
    pub(super) fn nsp_call<A, R, T>(
        &mut self,
        call: NspCall<A>,
        invoke: impl FnOnce(&mut dyn NspV2Provider, &mut NspContext) -> R,
        settle: impl FnOnce(&mut Self, NspOutcome<R>) -> NspReturn<T>,
    ) -> T
    where
        A: FnOnce() -> Fields,
    {
        let NspCall {
            provider,
            func,
            pid,
            session,
            lookup,
            async_call,
            args,
        } = call;
        debug_assert!(self.reachable(provider), "L8: {func} called on {provider}");
        emit!(
            self,
            Event::NspCall {
                provider,
                func,
                pid,
                session,
                lookup,
                async_call,
                args: args
                    .filter(|_| self.sink.wants_details())
                    .map(|build| build()),
            }
        );
        let site = CallSite {
            provider,
            pid: pid.0,
        };
        self.serving = async_call;
        let value = self.contained_call(provider, site, func, invoke);
        self.serving = None;
        let outcome = match value {
            Some((value, last_error)) => NspOutcome {
                value: Some(value),
                last_error,
            },
            None => NspOutcome {
                value: None,
                last_error: Some(WsaError::SYSCALLFAILURE),
            },
        };
        let err = outcome.last_error.map_or(0, WsaError::code);
        let settled = settle(self, outcome);
        emit!(
            self,
            Event::NspReturn {
                provider,
                func,
                pid,
                ret: if func.is_void() {
                    None
                } else {
                    Some(if settled.ok { 0 } else { SOCKET_ERROR })
                },
                err,
                session: settled.session,
                lookup: settled.lookup,
            }
        );
        settled.value
    }

    /// Runs one deferred work item in its provider (S6.3): no call lines, the same containment.
    /// A provider gone since the work was requested is not called.
    pub(super) fn run_deferred(&mut self, item: &WorkItem) {
        if !self.is_advertised(item.provider) {
            return;
        }
        let site = CallSite {
            provider: item.provider,
            pid: 0,
        };
        self.serving = item.serves;
        let token = item.token;
        let _ = self.contained_call(item.provider, site, item.origin, |p, ctx| {
            p.run_deferred(ctx, token)
        });
        self.serving = None;
    }

    /// Calls into provider code with panics contained (P4) and applies what the provider did
    /// through its context. `None` when the provider faulted (the `fault` line is written).
    fn contained_call<R>(
        &mut self,
        provider: Guid,
        site: CallSite,
        func: NspFn,
        f: impl FnOnce(&mut dyn NspV2Provider, &mut NspContext) -> R,
    ) -> Option<(R, Option<WsaError>)> {
        // The buffer provider calls record their operations in, reused from call to call. Lent
        // as an `Option`: putting it back then replaces a known `None`, where replacing an
        // empty vector was a call to its destructor on every provider call.
        let mut ctx = NspContext::with_buffer(site, self.tables.ops.take().unwrap_or_default());
        let code = self
            .advertised_code(provider)
            .expect("a provider call reaches an advertised provider only (S3.4, L8)");
        set_in_provider_call(true);
        let outcome = catch_unwind(AssertUnwindSafe(|| f(code, &mut ctx)));
        set_in_provider_call(false);
        match outcome {
            Ok(value) => {
                let last_error = ctx.last_error();
                let mut ops = ctx.take_ops();
                // Applying an operation never calls a provider, so the buffer is free again
                // once they are applied. Reversed once and popped, not drained: a call makes
                // none to a few, and a drain's bookkeeping cost more than applying them. Most
                // make none or one; a NextEx answered inline makes two (its output, then its
                // completion), which one swap reverses for less than the general reversal.
                match ops.len() {
                    0 | 1 => {}
                    2 => ops.swap(0, 1),
                    _ => ops.reverse(),
                }
                while let Some(op) = ops.pop() {
                    self.apply_context_op(provider, func, op);
                }
                self.tables.ops = Some(ops);
                Some((value, last_error))
            }
            Err(payload) => {
                // Not the provider's doing: the run is abandoned (world::run_with), not judged.
                if payload.is::<HarnessFailure>() {
                    std::panic::resume_unwind(payload);
                }
                let (kind, detail) = if let Some(t) = payload.downcast_ref::<ProviderTimeout>() {
                    (FaultKind::Timeout, t.to_string())
                } else if let Some(c) = payload.downcast_ref::<ProviderCrash>() {
                    (FaultKind::Crash, c.to_string())
                } else {
                    (FaultKind::Panic, panic_message(payload.as_ref()))
                };
                self.contain_fault(provider, func, kind, detail);
                None
            }
        }
    }

    /// What a provider did through its context during `origin`, applied in order.
    fn apply_context_op(&mut self, provider: Guid, origin: NspFn, op: ContextOp) {
        match op {
            ContextOp::WriteNextEx(call, output) => self.write_next_ex(provider, call, output),
            ContextOp::Complete(call, code) => self.enqueue(Work::Complete {
                provider,
                call,
                code,
            }),
            ContextOp::Defer(token) => self.defer_work(provider, token, origin),
        }
    }

    /// Contains a provider fault (P4): a panic, a crash of its host, or a missed deadline. The
    /// `fault` line, then the provider is unadvertised; its teardown waits for the next safe
    /// point, since the fault may strike in the middle of a call the dispatcher is making.
    pub(super) fn contain_fault(
        &mut self,
        provider: Guid,
        func: NspFn,
        kind: FaultKind,
        detail: String,
    ) {
        // Legal: a second fault of a provider already faulted (a panic, then the live driver's
        // deadline for a call it left waiting) is reported once.
        let Some(host) = self.mark_faulted(provider) else {
            return;
        };
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
        self.enqueue(Work::Detach {
            provider,
            how: Detach::Gone,
        });
    }
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
