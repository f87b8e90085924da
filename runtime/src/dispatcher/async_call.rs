//! Async calls: the `hAsyncCall` of each NextEx and SetServiceEx, and
//! WSAProviderCompleteAsyncCall (S6).
//!
//! Each call gets a fresh handle from a generation-checked table, so a completion with an
//! unknown, forged or already-used handle is `rejected` (WSAEINVAL to the provider; P3 broken),
//! and a completion for a call nobody waits for any more (its client, session or lookup ended)
//! is `discarded` (S6.2). A completion that finds its waiter is `delivered` and the waiting
//! client call continues.

use super::lookup::ClientLookup;
use super::set_service::SetServiceState;
use super::{Dispatcher, emit};
use crate::event::{CompletionOutcome, Event, EventSink, FaultKind, Label, LabelKind, Pid, Tid};
use crate::handles::Handle;
use crate::provider::{AsyncCall, NextExOutput, NspFn};
use crate::wsa::{Guid, WsaError, error::code_of};

/// An NextEx or SetServiceEx call in flight (S6).
///
/// Its label is its handle's serial ([`async_label`]), never stored: a handle is never reused.
pub(super) struct AsyncRecord {
    provider: Guid,
    waiter: Option<Waiter>,
    /// Boxed: a record is moved into and out of its table once per call, and most calls
    /// carry no output; a query set inline made every record some 270 bytes to copy.
    output: Option<Box<NextExOutput>>,
}

/// The label of an async call: its handle's serial, which no other call of the run has (S6.1).
fn async_label(h: Handle<AsyncRecord>) -> Label {
    Label::new(LabelKind::AsyncCall, h.serial())
}

/// A blocking call in progress on a thread: a client call that waits for an async call.
pub(super) enum Waiting {
    LookupServiceNext(Handle<ClientLookup>),
    SetService(Box<SetServiceState>),
}

/// Who is waiting for an async call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Waiter {
    Next(Handle<ClientLookup>),
    SetService(Pid, Tid),
}

impl<S: EventSink> Dispatcher<S> {
    /// Async calls not completed yet, by label, oldest first.
    pub fn outstanding_async_calls(&self) -> Vec<(Guid, Label)> {
        self.tables
            .async_calls
            .handles()
            .into_iter()
            .filter_map(|h| Some((self.tables.async_calls.get(h)?.provider, async_label(h))))
            .collect()
    }

    /// A live driver's deadline: the async call `(pid, tid)` waits on was not completed in
    /// time. Its provider is reported (`fault` of kind `timeout`) and unadvertised, so the
    /// waiting call moves on (S3.4). Returns whether the thread was waiting on a provider.
    pub fn time_out_wait(&mut self, pid: Pid, tid: Tid, waited_ms: u64) -> bool {
        let (call, func) = match self.pending_set_call(pid, tid) {
            Some(call) => (Some(call), NspFn::SetServiceEx),
            None => (
                self.waiting_next(pid, tid)
                    .and_then(|lookup| self.pending_next_call(lookup)),
                NspFn::LookupServiceNextEx,
            ),
        };
        // Legal: the thread waits on nothing, or its call already finished (the deadline raced
        // the completion).
        let Some((call, rec)) = call.and_then(|c| Some((c, self.tables.async_calls.get(c)?)))
        else {
            return false;
        };
        let (provider, label) = (rec.provider, async_label(call));
        let detail = format!("async call {label} was not completed within {waited_ms} ms");
        self.contain_fault(provider, func, FaultKind::Timeout, detail);
        self.pump();
        true
    }

    /// NextEx's output for `call`, written by its provider (S5.5). A write for a call that is
    /// not the provider's own, or no longer open, is dropped: the completion that follows is
    /// judged on its own (S6.2, P3).
    pub(super) fn write_next_ex(
        &mut self,
        provider: Guid,
        call: AsyncCall,
        output: Box<NextExOutput>,
    ) {
        if let Some(rec) = self.tables.async_calls.get_mut(Handle::from_raw(call.0))
            && rec.provider == provider
        {
            rec.output = Some(output);
        }
    }

    /// S3.4: the client calls waiting on a provider that went away move on, as if it had
    /// answered WSA_E_NO_MORE (a Next) or WSASERVICE_NOT_FOUND (a WSASetService).
    pub(super) fn fail_calls_waiting_on(&mut self, provider: Guid) {
        for call in self.tables.async_calls.handles() {
            let Some(rec) = self
                .tables
                .async_calls
                .get(call)
                .filter(|r| r.provider == provider)
            else {
                continue;
            };
            let waiter = rec.waiter.filter(|w| self.is_waited_for(*w, call));
            self.orphan_async(call);
            match waiter {
                Some(Waiter::Next(lookup)) => {
                    self.on_next_done(lookup, call, Err(WsaError::E_NO_MORE), None)
                }
                Some(Waiter::SetService(pid, tid)) => {
                    self.on_set_done(pid, tid, call, Err(WsaError::SERVICE_NOT_FOUND))
                }
                None => {}
            }
        }
    }

    /// Forgets the async calls of a provider whose code is gone: a completion can no longer
    /// come from it (S3.4).
    pub(super) fn forget_async_calls_of(&mut self, provider: Guid) {
        for call in self.tables.async_calls.handles() {
            if self
                .tables
                .async_calls
                .get(call)
                .is_some_and(|r| r.provider == provider)
            {
                self.tables.async_calls.remove(call);
            }
        }
    }

    /// Applies one WSAProviderCompleteAsyncCall (S6.2).
    pub(super) fn on_completion(
        &mut self,
        provider: Guid,
        call: AsyncCall,
        code: Result<(), WsaError>,
    ) {
        let h: Handle<AsyncRecord> = Handle::from_raw(call.0);
        let known = self
            .tables
            .async_calls
            .get(h)
            .filter(|rec| rec.provider == provider);
        let Some(rec) = known else {
            let label = self.label_unknown_async(h);
            emit!(
                self,
                Event::AsyncComplete {
                    provider,
                    async_call: label,
                    err: code_of(code),
                    outcome: CompletionOutcome::Rejected,
                }
            );
            return;
        };
        let label = async_label(h);
        let waiter = rec.waiter.filter(|w| self.is_waited_for(*w, h));
        let outcome = if waiter.is_some() {
            CompletionOutcome::Delivered
        } else {
            CompletionOutcome::Discarded
        };
        emit!(
            self,
            Event::AsyncComplete {
                provider,
                async_call: label,
                err: code_of(code),
                outcome,
            }
        );
        let output = self.tables.async_calls.remove(h).and_then(|rec| rec.output);
        // The record is gone before the waiter continues: a second completion is rejected.
        match waiter {
            Some(Waiter::Next(lookup)) => self.on_next_done(lookup, h, code, output),
            Some(Waiter::SetService(pid, tid)) => self.on_set_done(pid, tid, h, code),
            None => {}
        }
    }

    /// Whether the client call that started `call` still waits for exactly it.
    pub(super) fn is_waited_for(&self, waiter: Waiter, call: Handle<AsyncRecord>) -> bool {
        match waiter {
            Waiter::Next(lookup) => self.pending_next_call(lookup) == Some(call),
            Waiter::SetService(pid, tid) => self.pending_set_call(pid, tid) == Some(call),
        }
    }

    /// The label a rejected completion is written with: the handle's own label when it was
    /// ever issued (a second completion), a fresh one for a value never issued (a forgery).
    fn label_unknown_async(&mut self, h: Handle<AsyncRecord>) -> Label {
        let issued = self.tables.async_calls.issued();
        if (1..=issued).contains(&h.serial()) {
            async_label(h)
        } else {
            // Burn one serial so the forgery gets a label no real call will ever carry.
            let burned = self.tables.async_calls.insert(AsyncRecord {
                provider: Guid::NIL,
                waiter: None,
                output: None,
            });
            self.tables.async_calls.remove(burned);
            async_label(burned)
        }
    }

    /// Allocates the record of a new async call and returns it with its label.
    pub(super) fn new_async_call(
        &mut self,
        provider: Guid,
        waiter: Waiter,
    ) -> (Handle<AsyncRecord>, Label) {
        let h = self.tables.async_calls.insert(AsyncRecord {
            provider,
            waiter: Some(waiter),
            output: None,
        });
        (h, async_label(h))
    }

    /// Nobody waits for `call` any more; its completion, if it comes, is discarded (S6.2).
    pub(super) fn orphan_async(&mut self, call: Handle<AsyncRecord>) {
        if let Some(rec) = self.tables.async_calls.get_mut(call) {
            rec.waiter = None;
        }
    }
}
