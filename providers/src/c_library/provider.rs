//! A C provider as an [`NspV2Provider`]: each method is one request to the run's host process,
//! and what the provider did there comes back as context operations, in order.
//!
//! - Completions become [`NspContext::complete_async_call`]; a NextEx completion carries the
//!   output buffer, which is validated by [`super::marshal`] before anything of it is
//!   believed: code 0 → [`NextExOutput::Result`] (S5.4), WSAEFAULT → [`NextExOutput::BufferTooSmall`]
//!   with `*lpdwBufferLength` (S5.5).
//! - `QueueUserWorkItem`/`CreateThread` become [`NspContext::defer`]; the scheduler later calls
//!   [`NspV2Provider::run_deferred`], which runs the callback in the host (S6.3).
//! - Live mode (`nspsim run --live`): the host starts each work item on a real thread at once,
//!   and what the threads do travels on every reply. While a thread runs and a NextEx or
//!   SetServiceEx is still pending, one deferred *poll* turn stays queued: the live driver runs
//!   it whenever it is idle, and it asks the host for what the threads did (waiting a little
//!   when there is nothing yet), so a completion reaches the dispatcher even when no call is in
//!   flight. A thread that crashes the host is named as the work item it was.
//! - P4: a host that dies during a call becomes a [`ProviderCrash`] panic naming how it ended
//!   and the entry point; one that misses the deadline is killed and becomes a
//!   [`ProviderTimeout`] panic; a malformed NextEx result becomes a panic whose text starts
//!   `malformed result:` and names the field. The dispatcher contains all three. After any of
//!   them the instance is dead: later calls fail at once (with the same crash), never hang.

use super::host::{CallFailure, Connection, Ended};
use super::marshal::{self, QuerySetImage};
use super::protocol::{self, HostOp, Reply, Request};
use nspsim_core::provider::{EntryPoint, HeldState};
use nspsim_core::{
    AsyncCall, Guid, HarnessFailure, LupFlags, NextExOutput, NspContext, NspFn, NspResult,
    NspV2Provider, ProviderCrash, ProviderLookup, ProviderTimeout, QuerySet, RoutineTable,
    SessionArg, SetServiceFlags, SetServiceOp, SocketError, WorkToken, WsaError,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::panic::panic_any;

/// What the host was running when a call failed, as a fault's text names it: an entry point,
/// or a work item one of them queued. Formatted only when something fails.
#[derive(Clone, Copy)]
enum During {
    Call(NspFn),
    Work(NspFn),
}

impl During {
    /// The entry point the fault is charged to.
    fn func(self) -> NspFn {
        match self {
            During::Call(f) | During::Work(f) => f,
        }
    }
}

impl fmt::Display for During {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            During::Call(func) => write!(f, "{func}"),
            During::Work(func) => write!(f, "a work item queued by {func}"),
        }
    }
}

/// One instance: one forked host process, fresh from the loaded library.
pub struct CProvider {
    conn: Option<Connection>,
    table: RoutineTable,
    /// The id the code advertised.
    advertised: Guid,
    /// Whether the scenario's id was checked by the host (else it is checked at each call).
    id_checked: bool,
    deadline_ms: u64,
    /// Which entry point queued each pending work item (live mode: each thread still running),
    /// to name it if the item crashes.
    origins: BTreeMap<u64, NspFn>,
    /// Live mode: work items are the host's threads, and a poll turn is deferred while one
    /// runs and a call waits for its completion.
    live: bool,
    /// Live mode: the poll turn is queued with the driver.
    poll_queued: bool,
    /// The SetServiceEx calls not completed yet (live mode polls while there are any).
    pending_sets: BTreeSet<u64>,
    /// The buffer length of each NextEx not completed yet: a completion's buffer must have it
    /// (the host's word is not taken for how much to allocate here).
    next_ex_lens: BTreeMap<u64, u32>,
    /// Why the instance is dead, once it is.
    dead: Option<Dead>,
}

#[derive(Clone)]
enum Dead {
    Crash(String),
    /// Not the provider's doing ([`HarnessFailure`]): its host's fork server is gone.
    Lost(String),
    Timeout(NspFn, u64),
    Panic(String),
}

impl Dead {
    fn raise(&self) -> ! {
        match self {
            Dead::Crash(detail) => panic_any(ProviderCrash {
                detail: detail.clone(),
            }),
            Dead::Lost(detail) => panic_any(HarnessFailure {
                detail: detail.clone(),
            }),
            Dead::Timeout(func, after_ms) => panic_any(ProviderTimeout {
                func: *func,
                after_ms: *after_ms,
            }),
            Dead::Panic(text) => panic_any(text.clone()),
        }
    }
}

/// What [`CProvider::start`] checks a host main's report against, and names in its messages.
pub struct Launch<'a> {
    /// `entry` or `routines` symbol.
    pub symbol: &'a str,
    pub is_entry: bool,
    /// The scenario's provider id, when the runtime passed it.
    pub id: Option<Guid>,
    pub deadline_ms: u64,
    /// The host runs work items on real threads (live mode).
    pub live: bool,
}

/// The token of the live-mode poll turn: the host numbers its work items from 1.
const POLL: WorkToken = WorkToken(0);

/// How long one poll waits in the host for a thread to do something, at most: about what the
/// live driver waits for a client request when idle, so a client's request waits no longer
/// behind a poll than behind an idle driver.
const POLL_WAIT_US: u32 = 1_000;

fn wsa_text(code: u32) -> String {
    match WsaError::from_code(code) {
        Some(e) => e.to_string(),
        None => "0".to_string(),
    }
}

impl CProvider {
    /// Reads the host main's report from a freshly forked child and checks it: `entry`
    /// returned 0 and advertised the scenario's id. `Err` is a message for the user.
    pub fn start(mut conn: Connection, launch: &Launch<'_>) -> Result<CProvider, String> {
        let what = if launch.is_entry {
            format!("`{}` (entry)", launch.symbol)
        } else {
            format!("advertising `{}` (routines)", launch.symbol)
        };
        let body = match conn.receive() {
            Ok(b) => b,
            Err(CallFailure::Died(how)) => {
                return Err(format!("{} while running {what}", how.describe()));
            }
            Err(CallFailure::Timeout) => {
                return Err(format!(
                    "{what} did not return within {} ms (call_deadline_ms); the host was killed",
                    launch.deadline_ms
                ));
            }
            Err(CallFailure::Garbled(e)) => return Err(format!("the host sent {e}")),
        };
        let hello = protocol::decode_hello(body).map_err(|e| {
            conn.kill();
            format!("the host's greeting is malformed: {e}")
        })?;
        // A refused id is the root cause whatever the host main returned after it (a host
        // main usually returns WSAGetLastError() then).
        if !hello.advertised && hello.rejected_error != 0 {
            return Err(format!(
                "{what} advertised provider {}, but the scenario's provider id is {}: \
                 WSAAdvertiseProvider failed with {} (S3.1); use the same GUID in the C code \
                 and in the scenario's `id`",
                hello.rejected_guid,
                launch
                    .id
                    .map_or_else(|| "another".to_string(), |g| g.to_string()),
                wsa_text(hello.rejected_error)
            ));
        }
        if hello.entry_ret != 0 {
            let ret = hello.entry_ret;
            let code = u32::try_from(ret).ok().and_then(WsaError::from_code);
            return Err(match (launch.is_entry, code) {
                (true, Some(e)) if e.name().is_some() => {
                    format!("{what} returned {ret} ({e}): the provider's host main failed")
                }
                (true, _) => format!("{what} returned {ret}: the provider's host main failed"),
                (false, _) => format!(
                    "{what} failed: WSAAdvertiseProvider returned {}",
                    wsa_text(ret as u32)
                ),
            });
        }
        if !hello.advertised {
            return Err(format!(
                "{what} returned 0 without advertising a provider (no successful \
                 WSAAdvertiseProvider{})",
                launch.id.map_or_else(String::new, |g| format!(" of {g}"))
            ));
        }
        let mut entries = [EntryPoint::Absent; 7];
        for (i, e) in entries.iter_mut().enumerate() {
            if hello.slots & (1 << i) != 0 {
                *e = EntryPoint::Present;
            }
        }
        Ok(CProvider {
            conn: Some(conn),
            table: RoutineTable {
                cb_size: hello.cb_size,
                major_version: hello.major,
                minor_version: hello.minor,
                entries,
            },
            advertised: hello.guid,
            id_checked: launch.id.is_some(),
            deadline_ms: launch.deadline_ms,
            origins: BTreeMap::new(),
            live: launch.live,
            poll_queued: false,
            pending_sets: BTreeSet::new(),
            next_ex_lens: BTreeMap::new(),
            dead: None,
        })
    }

    /// The pid of the run's host process (tests look for leaks with it; never traced).
    pub fn host_pid(&self) -> Option<u32> {
        self.conn.as_ref().map(Connection::pid)
    }

    fn die(&mut self, why: Dead) -> ! {
        self.dead = Some(why.clone());
        // Dropping the connection closes the socket and releases the child.
        self.conn = None;
        why.raise()
    }

    /// Makes one call and applies what the provider did to `ctx`, in order.
    fn call(&mut self, ctx: &mut NspContext, what: During, req: Request<'_>) -> Reply {
        let func = what.func();
        if let Some(dead) = &self.dead {
            dead.raise();
        }
        if !self.id_checked && ctx.site().provider != self.advertised {
            // Without the scenario's id the host took whatever the code advertised; the first
            // call tells which id the dispatcher knows this provider by.
            let text = format!(
                "the provider's code advertised {}, but the scenario's provider id is {} (S3.1)",
                self.advertised,
                ctx.site().provider
            );
            self.die(Dead::Panic(text));
        }
        let deadline_ms = self.deadline_ms;
        let Some(conn) = self.conn.as_mut() else {
            self.die(Dead::Crash(format!("host is gone during {what}")));
        };
        let reply = match conn.call(&req) {
            Ok(body) => protocol::decode_reply(body).map_err(|e| {
                conn.kill();
                Dead::Crash(format!("host sent a malformed reply during {what}: {e}"))
            }),
            Err(CallFailure::Died(Ended::Unknown)) => Err(Dead::Lost(format!(
                "{} during {what}",
                Ended::Unknown.describe()
            ))),
            Err(CallFailure::Died(how)) => {
                Err(Dead::Crash(format!("{} during {what}", how.describe())))
            }
            Err(CallFailure::Timeout) => Err(Dead::Timeout(func, deadline_ms)),
            Err(CallFailure::Garbled(e)) => {
                Err(Dead::Crash(format!("host sent {e} during {what}")))
            }
        };
        // With its fork server gone (it exited), nothing tells that the provider's code ended
        // the host: no finding. A server that is there but cannot tell is not that case.
        let reply = match reply {
            Err(Dead::Lost(detail)) if !conn.server_gone() => Err(Dead::Crash(detail)),
            other => other,
        };
        let mut reply = match reply {
            Ok(r) => r,
            Err(dead) => self.die(dead),
        };
        // Every code the provider set is passed on as it is, named Winsock code or not (the
        // dispatcher judges it, S1.4); only 0 (SetLastError(NO_ERROR)) is "no error", which is
        // what the context holds when nothing was set.
        if let Some(code) = reply.last_error.and_then(WsaError::from_code) {
            ctx.set_last_error(code);
        }
        for op in std::mem::take(&mut reply.ops) {
            self.apply(ctx, func, op);
        }
        if self.live {
            self.keep_polling(ctx);
        }
        reply
    }

    /// Live mode: queues the poll turn while a thread of the provider runs and a call waits for
    /// a completion (which only a thread can still make). Once no call waits, a thread's doings
    /// ride on the next call's reply; once no thread runs, nothing more can come unasked.
    fn keep_polling(&mut self, ctx: &mut NspContext) {
        let waiting = !self.next_ex_lens.is_empty() || !self.pending_sets.is_empty();
        if !self.poll_queued && waiting && !self.origins.is_empty() {
            self.poll_queued = true;
            ctx.defer(POLL);
        }
    }

    /// The work item to charge a live-mode poll's failure to: the oldest thread still running.
    fn running_origin(&self) -> NspFn {
        self.origins
            .values()
            .next()
            .copied()
            .unwrap_or(NspFn::LookupServiceNextEx)
    }

    /// A provider thread crashed (live mode): the host sent its token and dies of the signal
    /// now; the fault says how it ended, as the fork server saw it, and names the work item.
    fn work_crashed(&mut self, token: u64, signal: u8) -> ! {
        let origin = self
            .origins
            .get(&token)
            .copied()
            .unwrap_or(NspFn::LookupServiceNextEx);
        let how = match self.conn.as_mut().map(Connection::receive) {
            Some(Err(CallFailure::Died(how))) => how.describe(),
            _ => {
                if let Some(conn) = &self.conn {
                    conn.kill();
                }
                Ended::Signaled(i32::from(signal)).describe()
            }
        };
        self.die(Dead::Crash(format!(
            "{how} during {}",
            During::Work(origin)
        )))
    }

    fn apply(&mut self, ctx: &mut NspContext, func: NspFn, op: HostOp) {
        match op {
            HostOp::Complete { call, code, output } => {
                let call = AsyncCall(call);
                // Any INT the provider passes is its code; the dispatcher judges it (P2).
                let code = WsaError::from_code(code as u32);
                let asked = self.next_ex_lens.remove(&call.0);
                self.pending_sets.remove(&call.0);
                if let Some(out) = output {
                    if asked != Some(out.capacity) {
                        self.die(Dead::Crash(format!(
                            "host sent a NextEx buffer of {} bytes for a call that gave {}",
                            out.capacity,
                            asked.map_or_else(|| "none".to_string(), |n| n.to_string())
                        )));
                    }
                    match code {
                        None => {
                            let mut bytes = out.bytes;
                            bytes.resize(out.capacity as usize, 0);
                            match marshal::read_next_ex_result(&bytes, out.base) {
                                Ok(qs) => ctx.write_next_ex(call, NextExOutput::Result(qs)),
                                // The reader's texts hold offsets and sizes, never an
                                // address (its tests check), so they go to the trace as is.
                                Err(e) => self.die(Dead::Panic(format!(
                                    "malformed result: {} {}",
                                    e.field, e.problem
                                ))),
                            }
                        }
                        Some(WsaError::EFAULT) => ctx.write_next_ex(
                            call,
                            NextExOutput::BufferTooSmall {
                                required: out.length,
                            },
                        ),
                        Some(_) => {}
                    }
                }
                ctx.complete_async_call(call, code.map_or(Ok(()), Err));
            }
            HostOp::Defer { token, .. } => {
                self.origins.insert(token, func);
                ctx.defer(WorkToken(token));
            }
            // Live mode: the thread runs already; it is remembered until it ends, to name it
            // if it crashes and to know whether to keep polling.
            // (One started by another thread is charged to the call or poll whose reply said so.)
            HostOp::Thread { token, .. } => {
                self.origins.insert(token, func);
            }
            HostOp::ThreadEnd { token } => {
                self.origins.remove(&token);
            }
            HostOp::WorkCrash { token, signal } => self.work_crashed(token, signal),
            // The scenario's steps decide when the provider stops being reachable.
            HostOp::Unadvertise => {}
            // P4: a limit of the host is a fault naming it, never a crash.
            HostOp::Limit(limit) => self.die(Dead::Panic(limit.describe())),
            // The memory of a completed call is the client's again (S6.2): a provider that
            // writes to it after WSAProviderCompleteAsyncCall has a bug that Windows would
            // show as corruption of the client's result, if at all. A P4 `panic` fault.
            HostOp::LateWrite { call, what } => self.die(Dead::Panic(format!(
                "write after completion: the provider wrote to {} of call {} after completing it with WSAProviderCompleteAsyncCall",
                what.name(),
                call
            ))),
        }
    }

    fn status(reply: &Reply) -> NspResult<()> {
        // NO_ERROR is the only success; SOCKET_ERROR (or any other value) is a failure whose
        // code is the last error (S1.4).
        if reply.ret == 0 {
            Ok(())
        } else {
            Err(SocketError)
        }
    }
}

fn raw(session: Option<SessionArg>) -> u64 {
    session.map_or(0, SessionArg::raw)
}

impl NspV2Provider for CProvider {
    fn routine_table(&self) -> RoutineTable {
        self.table
    }

    fn startup(&mut self, ctx: &mut NspContext) -> NspResult<Option<SessionArg>> {
        let reply = self.call(ctx, During::Call(NspFn::Startup), Request::Startup);
        Self::status(&reply).map(|()| SessionArg::new(reply.value))
    }

    fn cleanup(&mut self, ctx: &mut NspContext, session: Option<SessionArg>) -> NspResult<()> {
        let session = raw(session);
        let reply = self.call(
            ctx,
            During::Call(NspFn::Cleanup),
            Request::Cleanup { session },
        );
        Self::status(&reply)
    }

    fn lookup_service_begin(
        &mut self,
        ctx: &mut NspContext,
        restrictions: &QuerySet,
        flags: LupFlags,
        session: Option<SessionArg>,
    ) -> NspResult<ProviderLookup> {
        let image: QuerySetImage = marshal::query_set_image(restrictions);
        let req = Request::Begin {
            flags: flags.bits(),
            session: raw(session),
            image: &image,
        };
        let reply = self.call(ctx, During::Call(NspFn::LookupServiceBegin), req);
        Self::status(&reply).map(|()| ProviderLookup(reply.value))
    }

    fn lookup_service_next_ex(
        &mut self,
        ctx: &mut NspContext,
        call: AsyncCall,
        lookup: ProviderLookup,
        flags: LupFlags,
        buffer_len: u32,
    ) {
        self.next_ex_lens.insert(call.0, buffer_len);
        let req = Request::NextEx {
            call: call.0,
            lookup: lookup.0,
            flags: flags.bits(),
            buffer_len,
        };
        self.call(ctx, During::Call(NspFn::LookupServiceNextEx), req);
    }

    fn lookup_service_end(
        &mut self,
        ctx: &mut NspContext,
        lookup: ProviderLookup,
    ) -> NspResult<()> {
        let req = Request::End { lookup: lookup.0 };
        let reply = self.call(ctx, During::Call(NspFn::LookupServiceEnd), req);
        Self::status(&reply)
    }

    fn set_service_ex(
        &mut self,
        ctx: &mut NspContext,
        call: AsyncCall,
        info: &QuerySet,
        op: SetServiceOp,
        flags: SetServiceFlags,
        session: Option<SessionArg>,
    ) {
        let image = marshal::query_set_image(info);
        let req = Request::SetService {
            call: call.0,
            session: raw(session),
            op: op.code(),
            flags: flags.0,
            image: &image,
        };
        if self.live {
            self.pending_sets.insert(call.0);
        }
        self.call(ctx, During::Call(NspFn::SetServiceEx), req);
    }

    fn client_session_rundown(&mut self, ctx: &mut NspContext, session: Option<SessionArg>) {
        let session = raw(session);
        let what = During::Call(NspFn::ClientSessionRundown);
        self.call(ctx, what, Request::Rundown { session });
    }

    fn run_deferred(&mut self, ctx: &mut NspContext, token: WorkToken) {
        if self.live && token == POLL {
            self.poll_queued = false;
            let origin = self.running_origin();
            let wait_us = POLL_WAIT_US;
            self.call(ctx, During::Work(origin), Request::Poll { wait_us });
            return;
        }
        let origin = self
            .origins
            .remove(&token.0)
            .unwrap_or(NspFn::LookupServiceNextEx);
        let reply = self.call(
            ctx,
            During::Work(origin),
            Request::RunWork { token: token.0 },
        );
        if reply.ret != 0 {
            // The host has no such item: the driver ran one token twice.
            self.die(Dead::Panic(format!(
                "work item {} was run twice or never queued",
                token.0
            )));
        }
    }

    fn held_state(&self) -> Option<HeldState> {
        // A C provider's state is its own business; P5 is judged for providers that report it.
        None
    }
}
