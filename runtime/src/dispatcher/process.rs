//! Client and host processes, their threads, WSAStartup counting and per-thread last error
//! (S4.1, S4.2), and how a process ends (S4.6, S4.7).
//!
//! Pids are 1, 2, … in order of creation and never reused; tids are 1, 2, … per process.

use super::api::ApiResult;
use super::async_call::Waiting;
use super::lookup::ClientLookup;
use super::session::{Session, SessionEnd};
use super::{Detach, Dispatcher, Work, emit};
use crate::event::{ApiFn, Event, EventSink, ExitHow, Fields, Pid, Role, Tid};
use crate::handles::Handle;
use crate::wsa::WsaError;
use serde_json::json;
use smallvec::{SmallVec, smallvec};

/// The Winsock versions WSAStartup can negotiate, lowest first (S4.1).
const VERSIONS: [(u8, u8); 5] = [(1, 0), (1, 1), (2, 0), (2, 1), (2, 2)];

/// A simulated process.
/// Its lists are inline for the usual few entries: a process is looked at on nearly every
/// call, and with thousands of them each list behind a pointer was another cache miss.
/// It keeps no name: `process.start` carries it (when the sink wants details), and the driver
/// that started the process has it.
pub(super) struct Process {
    pub role: Role,
    pub alive: bool,
    /// Successful WSAStartups not yet matched by a WSACleanup (S4.1).
    pub startups: u32,
    /// The catalog epoch of the first successful WSAStartup (S2.3).
    pub catalog_epoch: u64,
    pub threads: SmallVec<[Thread; 1]>,
    /// Live sessions, oldest first.
    pub sessions: SmallVec<[Handle<Session>; 2]>,
    /// Open client lookup handles, oldest first.
    pub lookups: SmallVec<[Handle<ClientLookup>; 2]>,
}

/// A thread of a simulated process.
#[derive(Default)]
pub(super) struct Thread {
    /// WSAGetLastError (S4.2).
    pub last_error: u32,
    /// The blocking call this thread waits in, if any.
    pub waiting: Option<Waiting>,
}

/// Negotiates a WSAStartup version request (S4.1): the highest supported version that is not
/// above the request; a major version of 0 is refused.
pub fn negotiate_version(requested: (u8, u8)) -> Result<(u8, u8), WsaError> {
    if requested.0 == 0 {
        return Err(WsaError::VERNOTSUPPORTED);
    }
    Ok(VERSIONS
        .into_iter()
        .rev()
        .find(|v| *v <= requested)
        .unwrap_or(VERSIONS[0]))
}

/// Formats a version as Windows documents it ("2.2").
pub fn version_text(v: (u8, u8)) -> String {
    format!("{}.{}", v.0, v.1)
}

impl<S: EventSink> Dispatcher<S> {
    /// Makes room for `n` more processes and a session and a lookup each, so that a run that
    /// starts thousands does not copy its tables as they grow.
    pub fn reserve_processes(&mut self, n: usize) {
        self.tables.processes.reserve(n);
        self.tables.sessions.reserve(n);
        self.tables.lookups.reserve(n);
    }

    /// Starts a process with one thread (tid 1).
    pub fn create_process(&mut self, name: &str, role: Role) -> Pid {
        self.tables.processes.push(Process {
            role,
            alive: true,
            startups: 0,
            catalog_epoch: 0,
            threads: smallvec![Thread::default()],
            sessions: SmallVec::new(),
            lookups: SmallVec::new(),
        });
        let pid = Pid(self.tables.processes.len() as u32);
        emit!(
            self,
            Event::ProcessStart {
                pid,
                name: self.detail_name(name),
                role,
            }
        );
        pid
    }

    /// Starts another thread in a live process.
    pub fn create_thread(&mut self, pid: Pid) -> Option<Tid> {
        let process = self.process_mut(pid).filter(|p| p.alive)?;
        process.threads.push(Thread::default());
        Some(Tid(process.threads.len() as u32))
    }

    pub(super) fn process(&self, pid: Pid) -> Option<&Process> {
        self.tables.processes.get((pid.0 as usize).checked_sub(1)?)
    }

    pub(super) fn process_mut(&mut self, pid: Pid) -> Option<&mut Process> {
        self.tables
            .processes
            .get_mut((pid.0 as usize).checked_sub(1)?)
    }

    pub(super) fn thread_mut(&mut self, pid: Pid, tid: Tid) -> Option<&mut Thread> {
        let process = self.process_mut(pid)?;
        process.threads.get_mut((tid.0 as usize).checked_sub(1)?)
    }

    pub(super) fn thread(&self, pid: Pid, tid: Tid) -> Option<&Thread> {
        self.process(pid)?
            .threads
            .get((tid.0 as usize).checked_sub(1)?)
    }

    /// The catalog epoch a process sees (S2.3).
    pub(super) fn catalog_epoch(&self, pid: Pid) -> u64 {
        self.process(pid).map_or(0, |p| p.catalog_epoch)
    }

    /// The client lookup a thread waits in with WSALookupServiceNext, if it does.
    pub(super) fn waiting_next(&self, pid: Pid, tid: Tid) -> Option<Handle<ClientLookup>> {
        match self.thread(pid, tid)?.waiting.as_ref()? {
            Waiting::LookupServiceNext(lookup) => Some(*lookup),
            Waiting::SetService(_) => None,
        }
    }

    /// Sets a thread's last error (S4.2): the code on failure, 0 on success.
    pub(super) fn set_last_error(&mut self, pid: Pid, tid: Tid, code: u32) {
        if let Some(thread) = self.thread_mut(pid, tid) {
            thread.last_error = code;
        }
    }

    /// Whether a process is a client or a host.
    pub fn process_role(&self, pid: Pid) -> Option<Role> {
        self.process(pid).map(|p| p.role)
    }

    /// Whether the process exists and has not ended.
    pub fn is_alive(&self, pid: Pid) -> bool {
        self.process(pid).is_some_and(|p| p.alive)
    }

    /// The process's outstanding WSAStartup count.
    pub fn startup_count(&self, pid: Pid) -> u32 {
        self.process(pid).map_or(0, |p| p.startups)
    }

    /// How many live sessions the process holds (all providers).
    pub fn live_sessions(&self, pid: Pid) -> usize {
        self.process(pid).map_or(0, |p| p.sessions.len())
    }

    /// Whether the thread waits in a blocking call.
    pub fn is_waiting(&self, pid: Pid, tid: Tid) -> bool {
        self.thread(pid, tid).is_some_and(|t| t.waiting.is_some())
    }

    /// WSAGetLastError (S4.2). Works in any state, like Windows'.
    pub fn wsa_get_last_error(&self, pid: Pid, tid: Tid) -> u32 {
        self.thread(pid, tid).map_or(0, |t| t.last_error)
    }

    /// Checks that (pid, tid) may make a call at all: the thread exists in a live process and is
    /// not already blocked in one. A driver bug, not a Winsock condition, but answered with an
    /// error value rather than a panic.
    pub(super) fn check_caller(&self, pid: Pid, tid: Tid) -> Result<(), WsaError> {
        match self.process(pid) {
            Some(p) if p.alive => {}
            _ => return Err(WsaError::EINVAL),
        }
        match self.thread(pid, tid) {
            None => Err(WsaError::EINVAL),
            Some(t) if t.waiting.is_some() => Err(WsaError::EINPROGRESS),
            Some(_) => Ok(()),
        }
    }

    /// The second half of every client API call's prologue but WSAStartup's, after
    /// [`Dispatcher::check_caller`] accepted the caller (and its `api.call` was written): the
    /// process has an outstanding WSAStartup (S4.1, L10). Every caller checked the caller
    /// already, and writing `api.call` changes nothing, so it is not checked twice.
    pub(super) fn check_started(&self, pid: Pid) -> Result<(), WsaError> {
        if self.startup_count(pid) == 0 {
            return Err(WsaError::NOTINITIALISED);
        }
        Ok(())
    }

    /// Writes `api.call`.
    pub(super) fn api_call(
        &mut self,
        pid: Pid,
        tid: Tid,
        call: ApiFn,
        args: impl FnOnce() -> Fields,
    ) {
        emit!(
            self,
            Event::ApiCall {
                pid,
                tid,
                call,
                args: self.details(args),
            }
        );
    }

    /// Sets the thread's last error from `outcome` and writes `api.return` (ret 0 or -1).
    pub(super) fn api_return<T>(
        &mut self,
        pid: Pid,
        tid: Tid,
        call: ApiFn,
        outcome: &ApiResult<T>,
        result: impl FnOnce(&ApiResult<T>) -> Option<Fields>,
    ) {
        let (ret, err) = match outcome {
            Ok(_) => (0, 0),
            Err(e) => (crate::wsa::SOCKET_ERROR, e.code.code()),
        };
        self.set_last_error(pid, tid, err);
        emit!(
            self,
            Event::ApiReturn {
                pid,
                tid,
                call,
                ret,
                err,
                result: if self.sink.wants_details() {
                    result(outcome)
                } else {
                    None
                },
            }
        );
    }

    /// WSAStartup (S4.1): returns the negotiated version, or the error code it returns.
    pub fn wsa_startup(
        &mut self,
        pid: Pid,
        tid: Tid,
        requested: (u8, u8),
    ) -> Result<(u8, u8), WsaError> {
        self.check_caller(pid, tid)?;
        self.api_call(pid, tid, ApiFn::WSAStartup, || {
            Fields::from([("version".into(), json!(version_text(requested)))])
        });
        let outcome = negotiate_version(requested);
        if outcome.is_ok() {
            let epoch = self.tables.catalog.epoch();
            if let Some(process) = self.process_mut(pid) {
                if process.startups == 0 {
                    // S2.3: the catalog as it is now is what this process sees.
                    process.catalog_epoch = epoch;
                }
                process.startups += 1;
            }
        }
        // WSAStartup returns its code directly and leaves the last error alone.
        let err = self.wsa_get_last_error(pid, tid);
        emit!(
            self,
            Event::ApiReturn {
                pid,
                tid,
                call: ApiFn::WSAStartup,
                ret: outcome.err().map_or(0, |e| e.code() as i32),
                err,
                result: outcome.ok().map(|v| {
                    self.details(|| Fields::from([("version".into(), json!(version_text(v)))]))
                }),
            }
        );
        outcome
    }

    /// WSACleanup (S4.1, S4.6).
    pub fn wsa_cleanup(&mut self, pid: Pid, tid: Tid) -> ApiResult<()> {
        if let Err(e) = self.check_caller(pid, tid) {
            return Err(e.into());
        }
        self.api_call(pid, tid, ApiFn::WSACleanup, Fields::new);
        let outcome = self.cleanup_inner(pid);
        self.api_return(pid, tid, ApiFn::WSACleanup, &outcome, |_| None);
        self.pump();
        outcome
    }

    fn cleanup_inner(&mut self, pid: Pid) -> ApiResult<()> {
        let process = self
            .process_mut(pid)
            .expect("wsa_cleanup checked its caller");
        if process.startups == 0 {
            return Err(WsaError::NOTINITIALISED.into());
        }
        process.startups -= 1;
        let remaining = process.startups;
        self.end_surplus_sessions(pid, remaining);
        if remaining == 0 {
            // L10: the process is uninitialised; its client handles are gone with it.
            self.drop_client_lookups(pid, WsaError::E_CANCELLED);
        }
        Ok(())
    }

    /// Ends a process: ExitProcess, a crash or a kill (S4.7, S3.4).
    pub fn exit_process(&mut self, pid: Pid, how: ExitHow) {
        // Legal: this is a driver's entry point, and a process ends once; ending one that has
        // ended (or never existed) changes nothing.
        let Some(process) = self.process_mut(pid).filter(|p| p.alive) else {
            return;
        };
        process.alive = false;
        // Its threads are gone: whatever they waited for, nobody waits any more.
        let waiting: Vec<_> = process
            .threads
            .iter_mut()
            .filter_map(|t| t.waiting.take())
            .collect();
        for w in waiting {
            self.abandon_wait(w);
        }
        emit!(self, Event::ProcessExit { pid, how });
        // A host's providers go with it (S3.4).
        for provider in self.hosted_by(pid) {
            emit!(
                self,
                Event::ProviderUnadvertise {
                    pid,
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
        self.pump();
        // S4.7: every session still live gets one Rundown, after the exit.
        let live = self
            .process(pid)
            .map(|p| p.sessions.clone())
            .unwrap_or_default();
        for session in live {
            self.end_session(session, SessionEnd::Rundown);
        }
        self.drop_client_lookups(pid, WsaError::E_CANCELLED);
        if let Some(process) = self.process_mut(pid) {
            process.startups = 0;
        }
        self.pump();
    }

    /// Forgets what a thread of a dead process waited for.
    fn abandon_wait(&mut self, waiting: Waiting) {
        match waiting {
            Waiting::LookupServiceNext(lookup) => {
                if let Some(call) = self.take_pending_next(lookup) {
                    self.orphan_async(call);
                }
            }
            Waiting::SetService(state) => {
                if let Some(call) = state.pending {
                    self.orphan_async(call);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s4_1_version_negotiation() {
        assert_eq!(negotiate_version((2, 2)), Ok((2, 2)));
        assert_eq!(negotiate_version((3, 0)), Ok((2, 2)));
        assert_eq!(negotiate_version((2, 9)), Ok((2, 2)));
        assert_eq!(negotiate_version((1, 5)), Ok((1, 1)));
        assert_eq!(negotiate_version((1, 0)), Ok((1, 0)));
        assert_eq!(negotiate_version((2, 0)), Ok((2, 0)));
        assert_eq!(negotiate_version((0, 9)), Err(WsaError::VERNOTSUPPORTED));
    }
}
