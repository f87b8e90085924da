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

use super::nsp_call::routine_table_of;
use super::session::SessionEnd;
use super::{Detach, Dispatcher, Work, emit};
use crate::config::Profile;
use crate::event::{Event, EventSink, Pid, Tid};
use crate::provider::{NSPV2_ROUTINE_SIZE, NspFn, NspV2Provider, RoutineTable};
use crate::wsa::{Guid, Namespace, SOCKET_ERROR, WsaError};

/// An advertised provider (S3).
pub(super) struct Advertised {
    host: Pid,
    table: RoutineTable,
    code: Box<dyn NspV2Provider>,
    /// Set the moment a call faults (P4); the provider is unadvertised at the next safe point.
    faulted: bool,
    /// Sessions of this provider still live, across all processes (for P5).
    live_sessions: u32,
    /// Set when a session of this instance ended without any call (a disable or uninstall
    /// that leaves the code loaded, §13): the provider was never told, so what it reports
    /// holding no longer says anything about a leak and P5 no longer audits this instance.
    sessions_dropped: bool,
}

impl<S: EventSink> Dispatcher<S> {
    /// The host process that advertises `provider`, if it is advertised.
    pub fn advertiser(&self, provider: Guid) -> Option<Pid> {
        self.tables
            .adverts
            .get(&provider)
            .filter(|a| !a.faulted)
            .map(|a| a.host)
    }

    /// Whether `provider` is advertised by a live host (and not faulted).
    pub fn is_advertised(&self, provider: Guid) -> bool {
        self.tables
            .adverts
            .get(&provider)
            .is_some_and(|a| !a.faulted)
    }

    /// Whether a call may reach `provider` now (L8): advertised, not faulted, installed and
    /// enabled.
    pub(super) fn reachable(&self, provider: Guid) -> bool {
        self.is_advertised(provider) && self.tables.catalog.is_enabled(provider)
    }

    /// Whether a reachable `provider`'s routine table has `func` (S1.3: a null optional entry
    /// point is skipped without a call).
    pub(super) fn reachable_with(&self, provider: Guid, func: NspFn) -> bool {
        self.reachable(provider)
            && self
                .tables
                .adverts
                .get(&provider)
                .is_some_and(|a| a.table.has(func))
    }

    /// Whether `provider`'s code is still loaded: advertised, faulted or not (a faulted one
    /// is torn down at the next safe point).
    pub(super) fn is_loaded(&self, provider: Guid) -> bool {
        self.tables.adverts.contains_key(&provider)
    }

    /// The code of an advertised provider, for the provider-call seam.
    pub(super) fn advertised_code(&mut self, provider: Guid) -> Option<&mut dyn NspV2Provider> {
        Some(self.tables.adverts.get_mut(&provider)?.code.as_mut())
    }

    /// The providers a process hosts.
    pub(super) fn hosted_by(&self, pid: Pid) -> Vec<Guid> {
        self.tables
            .adverts
            .iter()
            .filter(|(_, a)| a.host == pid)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Marks `provider` faulted (P4) and returns its host; `None` when it is not advertised or
    /// already faulted.
    pub(super) fn mark_faulted(&mut self, provider: Guid) -> Option<Pid> {
        let advert = self
            .tables
            .adverts
            .get_mut(&provider)
            .filter(|a| !a.faulted)?;
        advert.faulted = true;
        Some(advert.host)
    }

    /// Counts a session of `provider` opening (+1) or ending (-1); returns whether it was the
    /// last one (for P5).
    pub(super) fn count_session(&mut self, provider: Guid, opened: bool) -> bool {
        // A provider is removed only after its sessions ended (`detach`).
        let advert = self
            .tables
            .adverts
            .get_mut(&provider)
            .expect("a live session's provider is loaded");
        if opened {
            advert.live_sessions += 1;
        } else {
            debug_assert!(advert.live_sessions > 0, "a session ends once (L3)");
            advert.live_sessions = advert.live_sessions.saturating_sub(1);
        }
        advert.live_sessions == 0
    }

    /// What a provider reports of the state it holds, if it reports any and it can be judged
    /// (P5): not for an instance that had sessions ended without being told (§13).
    pub(super) fn held_state(&self, provider: Guid) -> Option<crate::provider::HeldState> {
        let advert = self.tables.adverts.get(&provider)?;
        if advert.sessions_dropped {
            return None;
        }
        advert.code.held_state()
    }

    /// Records that a session of `provider`'s loaded instance ended without a call (P5, §13).
    pub(super) fn note_sessions_dropped(&mut self, provider: Guid) {
        if let Some(advert) = self.tables.adverts.get_mut(&provider) {
            advert.sessions_dropped = true;
        }
    }

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
        let table = routine_table_of(code.as_ref());
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
            self.tables.adverts.insert(
                id,
                Advertised {
                    host: pid,
                    table,
                    code,
                    faulted: false,
                    live_sessions: 0,
                    sessions_dropped: false,
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
        let entry = self
            .tables
            .catalog
            .get(id)
            .ok_or(WsaError::EINVALIDPROVIDER)?;
        if self.tables.adverts.contains_key(&id) {
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
            .check_started(pid)
            .and_then(|()| match self.tables.adverts.get(&id) {
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
            self.enqueue(Work::Detach {
                provider: id,
                how: Detach::Gone,
            });
            self.pump();
        }
        outcome
    }

    /// Makes a provider unreachable (S3.4): sessions end silently, waiting calls move on.
    pub(super) fn detach(&mut self, provider: Guid, how: Detach) {
        for session in self.sessions_of_provider(provider) {
            self.end_session(session, SessionEnd::Silent);
        }
        // Calls still waiting on it (a WSASetService, or a Next not tied to a session above).
        self.fail_calls_waiting_on(provider);
        if how == Detach::Gone {
            self.forget_async_calls_of(provider);
            self.drop_work_of(provider);
            self.tables.adverts.remove(&provider);
        }
    }
}
