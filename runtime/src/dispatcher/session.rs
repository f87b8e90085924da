//! Client sessions: one client process × one provider, from NSPv2Startup to exactly one
//! NSPv2Cleanup or NSPv2ClientSessionRundown (S4.3–S4.8).
//!
//! - Sessions open lazily, on the first call routed to a provider (S4.3), under either startup
//!   policy; a failed Startup skips the provider for that call only (S4.4).
//! - Every later call of the session carries the argument Startup produced (S4.5).
//! - An orderly end calls Cleanup (S4.6); an abnormal one calls Rundown, after the exit (S4.7);
//!   either way the session's provider lookup handles are closed first (S4.8).
//! - Only the final WSACleanup changes what the client sees (S4.6). Under `per-wsastartup`, a
//!   WSACleanup that leaves more live sessions with a provider than WSAStartups outstanding
//!   ends one excess session with Cleanup: the newest without open provider lookup handles. If
//!   every one still has open handles, the newest becomes [`SessionState::Retiring`]: no new
//!   call is routed through it (new calls carry the newest live session's argument, and may
//!   need a new Startup by S4.3's count, which counts live sessions only), its lookups go on,
//!   and it gets its Cleanup when WSALookupServiceEnd closes its last handle — at the latest
//!   at the final WSACleanup, which ends every session (S4.8).
//! - When a provider's last session ends, a provider that can report its state must hold none
//!   (P5); the dispatcher asks it and writes a `violation` line if it does.

use super::nsp_call::{NspCall, NspReturn, failure_code};
use super::{Dispatcher, emit};
use crate::config::StartupPolicy;
use crate::event::{EventSink, Label, Pid};
use crate::handles::Handle;
use crate::provider::{NspFn, SessionArg, SocketError};
use crate::wsa::{Guid, WsaError};
use smallvec::SmallVec;

/// A session that has not ended yet.
pub(super) struct Session {
    pub pid: Pid,
    pub provider: Guid,
    pub arg: Option<SessionArg>,
    /// The label of `arg` (`None` for a null argument).
    pub label: Option<Label>,
    pub state: SessionState,
}

/// Where a session that has not ended stands (S4.3, S4.6). An ended session is no longer in
/// the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SessionState {
    /// New calls of its process to its provider may be routed through it (S4.3).
    Live,
    /// S4.6, `per-wsastartup`: a non-final WSACleanup made it excess while it still had open
    /// provider lookup handles. No new call is routed through it; the lookups it serves go
    /// on; it ends with Cleanup when its last handle is closed (or at the final WSACleanup).
    Retiring,
}

/// How a session ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SessionEnd {
    /// NSPv2Cleanup (S4.6).
    Cleanup,
    /// NSPv2ClientSessionRundown (S4.7).
    Rundown,
    /// No call at all: the provider is gone or unreachable (S3.4, L8).
    Silent,
}

impl<S: EventSink> Dispatcher<S> {
    /// The session a call from `pid` to `provider` runs in, opening sessions as the startup
    /// policy requires (S4.3). `Err` carries the Startup error kept for aggregation (S4.4).
    pub(super) fn session_for_call(
        &mut self,
        pid: Pid,
        provider: Guid,
    ) -> Result<Handle<Session>, WsaError> {
        let wanted = match self.config.startup_policy {
            StartupPolicy::PerProcess => 1,
            StartupPolicy::PerWsaStartup => self.startup_count(pid).max(1) as usize,
        };
        loop {
            // Counted in place: this runs for every provider call. Retiring sessions take no
            // new call and do not count (S4.6).
            let (count, newest) = self.process(pid).map_or((0, None), |p| {
                p.sessions
                    .iter()
                    .filter(|h| {
                        self.tables.sessions.get(**h).is_some_and(|s| {
                            s.provider == provider && s.state == SessionState::Live
                        })
                    })
                    .fold((0, None), |(n, _), h| (n + 1, Some(*h)))
            });
            if count >= wanted
                && let Some(newest) = newest
            {
                return Ok(newest);
            }
            self.open_session(pid, provider)?;
        }
    }

    /// Every live session with one provider, across processes, oldest first.
    pub(super) fn sessions_of_provider(&self, provider: Guid) -> Vec<Handle<Session>> {
        self.tables
            .sessions
            .handles()
            .into_iter()
            .filter(|h| {
                self.tables
                    .sessions
                    .get(*h)
                    .is_some_and(|s| s.provider == provider)
            })
            .collect()
    }

    /// The process's sessions with one provider in state `state`, oldest first.
    fn sessions_with(
        &self,
        pid: Pid,
        provider: Guid,
        state: SessionState,
    ) -> SmallVec<[Handle<Session>; 2]> {
        self.process(pid)
            .map(|p| {
                p.sessions
                    .iter()
                    .copied()
                    .filter(|h| {
                        self.tables
                            .sessions
                            .get(*h)
                            .is_some_and(|s| s.provider == provider && s.state == state)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether a session is retiring (S4.6).
    pub(super) fn is_retiring(&self, h: Handle<Session>) -> bool {
        self.tables
            .sessions
            .get(h)
            .is_some_and(|s| s.state == SessionState::Retiring)
    }

    /// Calls NSPv2Startup (or not, when the slot is null) and records the new session.
    fn open_session(&mut self, pid: Pid, provider: Guid) -> Result<Handle<Session>, WsaError> {
        // L9 / S4.1: a session opens only for a process with a WSAStartup outstanding. A call
        // the client made while started can outlive its final WSACleanup (a WSASetService
        // waiting on a deferred SetServiceEx, then moving on to the next provider; a lookup's
        // candidate hand-over inside Next); it must not start a new session then, or the
        // provider gets an NSPv2Startup nobody will clean up (and a Rundown at a normal exit,
        // L5). That provider's part fails with WSANOTINITIALISED, the code S4.1 gives any call
        // outside a started process; the call's outcome keeps the first error it collected.
        if self.startup_count(pid) == 0 {
            return Err(WsaError::NOTINITIALISED);
        }
        if !self.reachable(provider) {
            return Err(WsaError::SERVICE_NOT_FOUND);
        }
        let arg = if self.reachable_with(provider, NspFn::Startup) {
            let call = NspCall::new(provider, NspFn::Startup, pid, None);
            let (outcome, label) = self.nsp_call(
                call,
                |p, ctx| p.startup(ctx),
                |this, end| {
                    let result = end.value.unwrap_or(Err(SocketError));
                    let ok = result.is_ok();
                    let outcome = match result {
                        Ok(arg) => Ok(arg),
                        // S1.3: a WSAEOPNOTSUPP stub is success with a null session argument.
                        Err(_) if end.last_error == Some(WsaError::EOPNOTSUPP) => Ok(None),
                        Err(_) => Err(failure_code(end.last_error)),
                    };
                    // The label belongs on the return line, so it is taken before it.
                    let label = match outcome {
                        Ok(Some(arg)) => Some(this.labels.acquire_session(provider, arg.raw())),
                        _ => None,
                    };
                    NspReturn::status((outcome, label), ok).session(label)
                },
            );
            if let Some(arg) = outcome? {
                // The label was taken above; the session below holds it.
                return Ok(self.insert_session(pid, provider, Some(arg), label));
            }
            None
        } else {
            None
        };
        Ok(self.insert_session(pid, provider, arg, None))
    }

    fn insert_session(
        &mut self,
        pid: Pid,
        provider: Guid,
        arg: Option<SessionArg>,
        label: Option<Label>,
    ) -> Handle<Session> {
        let h = self.tables.sessions.insert(Session {
            pid,
            provider,
            arg,
            label,
            state: SessionState::Live,
        });
        if let Some(process) = self.process_mut(pid) {
            process.sessions.push(h);
        }
        self.count_session(provider, true);
        h
    }

    /// The argument and label a session's calls carry (S4.5).
    pub(super) fn session_arg(&self, h: Handle<Session>) -> (Option<SessionArg>, Option<Label>) {
        self.tables
            .sessions
            .get(h)
            .map_or((None, None), |s| (s.arg, s.label))
    }

    /// Ends one session (S4.6–S4.8, S3.4).
    pub(super) fn end_session(&mut self, h: Handle<Session>, how: SessionEnd) {
        // Every caller names a live session, and ending one session ends no other (L3).
        let session = self
            .tables
            .sessions
            .get(h)
            .expect("a session ends once (L3)");
        let (pid, provider, arg, label) =
            (session.pid, session.provider, session.arg, session.label);
        // S4.8: the session's lookup handles are closed before the session ends.
        self.close_session_lookups(pid, h, how);
        let func = match how {
            SessionEnd::Cleanup => Some(NspFn::Cleanup),
            SessionEnd::Rundown => Some(NspFn::ClientSessionRundown),
            SessionEnd::Silent => None,
        };
        if let Some(func) = func.filter(|f| self.reachable_with(provider, *f)) {
            let call = NspCall::new(provider, func, pid, label);
            self.nsp_call(
                call,
                |p, ctx| match func {
                    NspFn::Cleanup => p.cleanup(ctx, arg).is_ok(),
                    _ => {
                        p.client_session_rundown(ctx, arg);
                        true
                    }
                },
                |_, end| NspReturn::status((), end.value.unwrap_or(false)),
            );
        }
        self.tables.sessions.remove(h);
        if let Some(arg) = arg {
            self.labels.release_session(provider, arg.raw());
        }
        if let Some(process) = self.process_mut(pid) {
            process.sessions.retain(|s| *s != h);
        }
        if how == SessionEnd::Silent {
            // The instance stays loaded after a disable (§13); its P5 audit is off from now.
            self.note_sessions_dropped(provider);
        }
        let last = self.count_session(provider, false);
        if last && how != SessionEnd::Silent {
            self.audit_held_state(provider);
        }
    }

    /// S4.6: after a successful WSACleanup leaves `remaining` WSAStartups outstanding, ends
    /// the sessions the policy no longer covers with NSPv2Cleanup. The final one ends every
    /// session, newest first (S4.8 closes their handles first); under `per-wsastartup` a
    /// non-final one ends, per provider, one excess live session — the newest without open
    /// provider lookup handles — or, when every one has open handles, makes the newest
    /// retiring.
    pub(super) fn end_surplus_sessions(&mut self, pid: Pid, remaining: u32) {
        if self.config.startup_policy == StartupPolicy::PerProcess && remaining > 0 {
            return;
        }
        // Inline lists: a process holds a session or two, and this runs at every WSACleanup.
        let mut providers: SmallVec<[Guid; 2]> = SmallVec::new();
        for h in self.process(pid).map_or(&[][..], |p| &p.sessions[..]) {
            if let Some(s) = self.tables.sessions.get(*h)
                && !providers.contains(&s.provider)
            {
                providers.push(s.provider);
            }
        }
        for provider in providers {
            if remaining == 0 {
                // The final WSACleanup: every session, retiring ones too, newest first.
                let all: SmallVec<[Handle<Session>; 2]> = self
                    .process(pid)
                    .map_or(&[][..], |p| &p.sessions[..])
                    .iter()
                    .copied()
                    .filter(|h| {
                        self.tables
                            .sessions
                            .get(*h)
                            .is_some_and(|s| s.provider == provider)
                    })
                    .collect();
                for newest in all.into_iter().rev() {
                    self.end_session(newest, SessionEnd::Cleanup);
                }
                continue;
            }
            loop {
                let of_provider = self.sessions_with(pid, provider, SessionState::Live);
                if of_provider.len() <= remaining as usize {
                    break;
                }
                let idle = of_provider
                    .iter()
                    .rev()
                    .copied()
                    .find(|s| !self.session_has_open_lookups(pid, *s));
                match idle {
                    Some(session) => self.end_session(session, SessionEnd::Cleanup),
                    None => {
                        let newest = *of_provider.last().expect("more sessions than kept");
                        let session = self
                            .tables
                            .sessions
                            .get_mut(newest)
                            .expect("a live session");
                        debug_assert_eq!(session.state, SessionState::Live);
                        session.state = SessionState::Retiring;
                    }
                }
            }
        }
    }

    /// S4.6: a retiring session whose last provider lookup handle was just closed ends now.
    pub(super) fn end_if_retired(&mut self, pid: Pid, session: Handle<Session>) {
        if self.is_retiring(session) && !self.session_has_open_lookups(pid, session) {
            self.end_session(session, SessionEnd::Cleanup);
        }
    }

    /// P5: once every session of a provider has ended, it holds no session or lookup state.
    fn audit_held_state(&mut self, provider: Guid) {
        // Legal: a provider that does not report its state (most do not) is not audited.
        let Some(held) = self.held_state(provider) else {
            return;
        };
        // The checker owns the rule's wording (one place produces every violation line).
        if let Some(verdict) = crate::checker::held_state_violation(provider, held) {
            emit!(self, verdict.into_event());
        }
    }
}
