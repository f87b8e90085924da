//! WSAAdvertiseProvider / WSAUnadvertiseProvider, and what happens when a provider stops being
//! reachable (S3, S8).
//!
//! A provider is advertised by a host process that has called WSAStartup (S3.1); its routine
//! table must be complete enough and its id installed. Once unadvertised, or once its host
//! ends, or once it faults (P4), nothing reaches it again: its sessions end without any call,
//! lookups over it answer WSA_E_NO_MORE for its part and move on, and a call waiting on it
//! moves on as well (S3.4).
//!
//! Policy: because no provider call may reach a provider that is not enabled (L8), disabling
//! or uninstalling an advertised provider detaches it the same way, except that its code stays
//! loaded: a completion it sends later is accepted and discarded (S6.2).

use super::session::SessionEnd;
use super::{Advertised, Detach, Dispatcher, Waiter, Work, emit};
use crate::config::Profile;
use crate::event::{Event, EventSink, Pid, Tid};
use crate::provider::{NSPV2_ROUTINE_SIZE, NspV2Provider, RoutineTable};
use crate::wsa::{Guid, Namespace, SOCKET_ERROR, WsaError};
use std::panic::{AssertUnwindSafe, catch_unwind};

impl<S: EventSink> Dispatcher<S> {
    /// WSAAdvertiseProvider (S3.1, S3.2, S1.5, S8).
    pub fn wsa_advertise_provider(
        &mut self,
        pid: Pid,
        tid: Tid,
        id: Guid,
        code: Box<dyn NspV2Provider>,
    ) -> Result<(), WsaError> {
        self.check_caller(pid, tid)?;
        // The table is read from provider code: contain a panic like any other call (P4).
        let table = catch_unwind(AssertUnwindSafe(|| code.routine_table())).ok();
        let outcome = self.check_advertise(pid, id, table);
        let err = outcome.err().map_or(0, WsaError::code);
        self.set_last_error(pid, tid, err);
        emit!(
            self,
            Event::ProviderAdvertise {
                pid,
                provider: id,
                ret: if outcome.is_ok() { 0 } else { SOCKET_ERROR },
                err,
                absent: table.map(|t| t.absent_optional()).unwrap_or_default(),
            }
        );
        if let (Ok(()), Some(table)) = (outcome, table) {
            self.adverts.insert(
                id,
                Advertised {
                    host: pid,
                    table,
                    code,
                    faulted: false,
                    live_sessions: 0,
                },
            );
        }
        outcome
    }

    fn check_advertise(
        &self,
        pid: Pid,
        id: Guid,
        table: Option<RoutineTable>,
    ) -> Result<(), WsaError> {
        if self.startup_count(pid) == 0 {
            return Err(WsaError::NOTINITIALISED);
        }
        let table = table.ok_or(WsaError::EINVALIDPROCTABLE)?;
        // S3.1 and S1.5: a null id, a short table or a missing required function.
        if id == Guid::NIL
            || table.cb_size < NSPV2_ROUTINE_SIZE
            || table.missing_required().is_some()
        {
            return Err(WsaError::EINVAL);
        }
        let entry = self.catalog.get(id).ok_or(WsaError::EINVALIDPROVIDER)?;
        if self.adverts.contains_key(&id) {
            return Err(WsaError::EINVAL); // S3.2
        }
        if self.config.profile == Profile::Vista && entry.namespace != Namespace::EMAIL {
            return Err(WsaError::EINVAL); // S8
        }
        Ok(())
    }

    /// WSAUnadvertiseProvider (S3.2, S3.4).
    pub fn wsa_unadvertise_provider(
        &mut self,
        pid: Pid,
        tid: Tid,
        id: Guid,
    ) -> Result<(), WsaError> {
        self.check_caller(pid, tid)?;
        let outcome = self
            .check_started(pid, tid)
            .and_then(|()| match self.adverts.get(&id) {
                Some(a) if a.host == pid && !a.faulted => Ok(()),
                _ => Err(WsaError::EINVAL),
            });
        let err = outcome.err().map_or(0, WsaError::code);
        self.set_last_error(pid, tid, err);
        emit!(
            self,
            Event::ProviderUnadvertise {
                pid,
                provider: id,
                ret: if outcome.is_ok() { 0 } else { SOCKET_ERROR },
                err,
            }
        );
        if outcome.is_ok() {
            self.queue.push_back(Work::Detach {
                provider: id,
                how: Detach::Gone,
            });
            self.pump();
        }
        outcome
    }

    /// Makes a provider unreachable (S3.4): sessions end silently, waiting calls move on.
    pub(crate) fn detach(&mut self, provider: Guid, how: Detach) {
        let sessions: Vec<_> = self
            .sessions
            .handles()
            .into_iter()
            .filter(|h| {
                self.sessions
                    .get(*h)
                    .is_some_and(|s| s.provider == provider)
            })
            .collect();
        for session in sessions {
            self.end_session(session, SessionEnd::Silent);
        }
        // Calls still waiting on it (a WSASetService, or a Next not tied to a session above).
        for call in self.async_calls.handles() {
            let Some(rec) = self
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
        if how == Detach::Gone {
            for call in self.async_calls.handles() {
                if self
                    .async_calls
                    .get(call)
                    .is_some_and(|r| r.provider == provider)
                {
                    self.async_calls.remove(call);
                }
            }
            self.work.retain(|w| w.provider != provider);
            self.adverts.remove(&provider);
        }
    }
}
