//! Async calls: the `hAsyncCall` of each NextEx and SetServiceEx, and
//! WSAProviderCompleteAsyncCall (S6).
//!
//! Each call gets a fresh handle from a generation-checked table, so a completion with an
//! unknown, forged or already-used handle is `rejected` (WSAEINVAL to the provider; P3 broken),
//! and a completion for a call nobody waits for any more (its client, session or lookup ended)
//! is `discarded` (S6.2). A completion that finds its waiter is `delivered` and the waiting
//! client call continues.

use super::process::Waiting;
use super::{AsyncRecord, Dispatcher, Waiter, emit};
use crate::event::{CompletionOutcome, Event, EventSink, Label, LabelKind};
use crate::handles::Handle;
use crate::provider::AsyncCall;
use crate::wsa::{Guid, WsaError, error::code_of};

impl<S: EventSink> Dispatcher<S> {
    /// Applies one WSAProviderCompleteAsyncCall (S6.2).
    pub(crate) fn on_completion(
        &mut self,
        provider: Guid,
        call: AsyncCall,
        code: Result<(), WsaError>,
    ) {
        let h: Handle<AsyncRecord> = Handle::from_raw(call.0);
        let known = self
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
        let label = rec.label;
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
        let output = self.async_calls.remove(h).and_then(|rec| rec.output);
        // The record is gone before the waiter continues: a second completion is rejected.
        match waiter {
            Some(Waiter::Next(lookup)) => self.on_next_done(lookup, h, code, output),
            Some(Waiter::SetService(pid, tid)) => self.on_set_done(pid, tid, h, code),
            None => {}
        }
    }

    /// Whether the client call that started `call` still waits for exactly it.
    pub(crate) fn is_waited_for(&self, waiter: Waiter, call: Handle<AsyncRecord>) -> bool {
        match waiter {
            Waiter::Next(lookup) => self
                .lookups
                .get(lookup)
                .and_then(|l| l.pending.as_ref())
                .is_some_and(|p| p.call == call),
            Waiter::SetService(pid, tid) => self
                .thread(pid, tid)
                .and_then(|t| t.waiting.as_ref())
                .is_some_and(|w| matches!(w, Waiting::SetService(s) if s.pending == Some(call))),
        }
    }

    /// The label a rejected completion is written with: the handle's own label when it was
    /// ever issued (a second completion), a fresh one for a value never issued (a forgery).
    fn label_unknown_async(&mut self, h: Handle<AsyncRecord>) -> Label {
        let issued = self.async_calls.issued();
        if (1..=issued).contains(&h.serial()) {
            Label::new(LabelKind::AsyncCall, h.serial())
        } else {
            // Burn one serial so the forgery gets a label no real call will ever carry.
            let burned = self.async_calls.insert(AsyncRecord {
                provider: Guid::NIL,
                label: Label::new(LabelKind::AsyncCall, 0),
                waiter: None,
                output: None,
            });
            self.async_calls.remove(burned);
            Label::new(LabelKind::AsyncCall, burned.serial())
        }
    }

    /// Allocates the record of a new async call and returns it with its label.
    pub(crate) fn new_async_call(
        &mut self,
        provider: Guid,
        waiter: Waiter,
    ) -> (Handle<AsyncRecord>, Label) {
        let h = self.async_calls.insert(AsyncRecord {
            provider,
            label: Label::new(LabelKind::AsyncCall, 0),
            waiter: Some(waiter),
            output: None,
        });
        let label = Label::new(LabelKind::AsyncCall, h.serial());
        if let Some(rec) = self.async_calls.get_mut(h) {
            rec.label = label;
        }
        (h, label)
    }

    /// Nobody waits for `call` any more; its completion, if it comes, is discarded (S6.2).
    pub(crate) fn orphan_async(&mut self, call: Handle<AsyncRecord>) {
        if let Some(rec) = self.async_calls.get_mut(call) {
            rec.waiter = None;
        }
    }
}
