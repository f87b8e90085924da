//! Out-of-process provider hosting, as Windows does it: each provider runs on a host thread of
//! its own, and the dispatcher reaches it through request/reply channels (crossbeam), the way
//! Ws2_32 reaches an NSPv2 provider in its host process over RPC.
//!
//! [`RemoteProvider`] is the dispatcher's side: it implements [`NspV2Provider`] by sending each
//! entry-point call to the host thread and waiting for the reply, at most the call deadline.
//! A call that misses its deadline raises a [`ProviderTimeout`] panic, which the dispatcher
//! contains like any provider fault and reports as a `fault` of kind `timeout`; the provider is
//! unadvertised and the run goes on. A panic on the host thread is carried back and raised on
//! the dispatcher's side, so it is contained and reported exactly as in-process (P4).
//!
//! The provider's code runs only on its host thread; what it does through its context (last
//! error, completions, deferred work) travels back with the reply, in order. Both ends wait
//! for the other through [`super::wait`]: a short poll, then a park.

use super::wait;
use crate::dispatcher::{HarnessFailure, ProviderCrash, ProviderTimeout};
use crate::provider::{
    AsyncCall, CallSite, ContextOp, HeldState, NspContext, NspFn, NspResult, NspV2Provider,
    ProviderLookup, RoutineTable, SessionArg, SocketError, WorkToken,
};
use crate::registry::{OptionDoc, ProviderKind, Registry};
use crate::wsa::{LupFlags, QuerySet, SetServiceFlags, SetServiceOp, WsaError};
use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

/// One entry-point call, as it crosses to the host.
enum HostCall {
    RoutineTable,
    Startup,
    Cleanup(Option<SessionArg>),
    Begin(QuerySet, LupFlags, Option<SessionArg>),
    NextEx(AsyncCall, ProviderLookup, LupFlags, u32),
    End(ProviderLookup),
    SetServiceEx(
        AsyncCall,
        QuerySet,
        SetServiceOp,
        SetServiceFlags,
        Option<SessionArg>,
    ),
    Rundown(Option<SessionArg>),
    RunDeferred(WorkToken),
    HeldState,
}

/// What a call returned.
enum Returned {
    Table(RoutineTable),
    Session(NspResult<Option<SessionArg>>),
    Unit(NspResult<()>),
    Lookup(NspResult<ProviderLookup>),
    Void,
    Held(Option<HeldState>),
}

/// Why a hosted call did not return.
enum Failed {
    /// A panic, by its message.
    Panic(String),
    /// A proxy's own payload (a C provider's host died or missed its deadline), raised again
    /// as it is on the dispatcher's side, so the fault is a `crash` or `timeout` with its text.
    Crash(ProviderCrash),
    Timeout(ProviderTimeout),
}

struct Reply {
    returned: Result<Returned, Failed>,
    last_error: Option<WsaError>,
    ops: Vec<ContextOp>,
}

struct Request {
    call: HostCall,
    site: CallSite,
    reply: Sender<Reply>,
}

/// Runs a provider on a host thread of its own; the returned proxy is what the dispatcher
/// holds. The thread ends when the proxy is dropped (or, if the provider hangs, with the
/// process: a hung call cannot be taken back).
pub fn host(
    provider: Box<dyn NspV2Provider>,
    deadline: Duration,
) -> std::io::Result<RemoteProvider> {
    let (tx, rx) = unbounded::<Request>();
    std::thread::Builder::new()
        .name("nsp-provider-host".into())
        .spawn(move || serve(provider, rx))?;
    // The table is read once, here, where a failure is an error value rather than a fault.
    let (reply_tx, reply_rx) = bounded(1);
    let site = CallSite {
        provider: crate::wsa::Guid::NIL,
        pid: 0,
    };
    let request = Request {
        call: HostCall::RoutineTable,
        site,
        reply: reply_tx,
    };
    let no_table = |why: &str| std::io::Error::other(format!("the provider's routine table {why}"));
    tx.send(request)
        .map_err(|_| no_table("cannot be asked for"))?;
    let table = match reply_rx.recv_timeout(deadline).map(|r| r.returned) {
        Ok(Ok(Returned::Table(t))) => t,
        Ok(_) => return Err(no_table("could not be read: the provider panicked")),
        Err(_) => return Err(no_table("was not given within the deadline")),
    };
    Ok(RemoteProvider {
        tx,
        deadline,
        table,
    })
}

thread_local! {
    static IN_HOSTED_CALL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is a provider's host thread inside one of the provider's entry points
/// right now: the live-mode twin of [`crate::dispatcher::in_provider_call`]. A panic hook uses
/// both to stay quiet about provider panics, which are contained and reported as faults (P4).
pub fn in_hosted_call() -> bool {
    IN_HOSTED_CALL.with(|c| c.get())
}

/// The host thread: one call at a time, in arrival order.
fn serve(mut provider: Box<dyn NspV2Provider>, rx: Receiver<Request>) {
    while let Some(Request { call, site, reply }) = wait::recv(&rx, wait::SPIN) {
        let mut ctx = NspContext::new(site);
        let p = provider.as_mut();
        IN_HOSTED_CALL.with(|c| c.set(true));
        let outcome = catch_unwind(AssertUnwindSafe(|| match call {
            HostCall::RoutineTable => Returned::Table(p.routine_table()),
            HostCall::Startup => Returned::Session(p.startup(&mut ctx)),
            HostCall::Cleanup(s) => Returned::Unit(p.cleanup(&mut ctx, s)),
            HostCall::Begin(q, f, s) => {
                Returned::Lookup(p.lookup_service_begin(&mut ctx, &q, f, s))
            }
            HostCall::NextEx(a, h, f, b) => {
                p.lookup_service_next_ex(&mut ctx, a, h, f, b);
                Returned::Void
            }
            HostCall::End(h) => Returned::Unit(p.lookup_service_end(&mut ctx, h)),
            HostCall::SetServiceEx(a, q, op, f, s) => {
                p.set_service_ex(&mut ctx, a, &q, op, f, s);
                Returned::Void
            }
            HostCall::Rundown(s) => {
                p.client_session_rundown(&mut ctx, s);
                Returned::Void
            }
            HostCall::RunDeferred(t) => {
                p.run_deferred(&mut ctx, t);
                Returned::Void
            }
            HostCall::HeldState => Returned::Held(p.held_state()),
        }));
        IN_HOSTED_CALL.with(|c| c.set(false));
        let returned = outcome.map_err(|payload| {
            if let Some(c) = payload.downcast_ref::<ProviderCrash>() {
                return Failed::Crash(c.clone());
            }
            // A live run cannot be abandoned with threads still running: a crash it is.
            if let Some(h) = payload.downcast_ref::<HarnessFailure>() {
                return Failed::Crash(ProviderCrash {
                    detail: h.detail.clone(),
                });
            }
            if let Some(t) = payload.downcast_ref::<ProviderTimeout>() {
                return Failed::Timeout(t.clone());
            }
            Failed::Panic(
                payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a non-text panic payload".into()),
            )
        });
        let panicked = returned.is_err();
        let _ = reply.send(Reply {
            returned,
            last_error: ctx.last_error(),
            ops: ctx.take_ops(),
        });
        if panicked {
            return; // the provider's state is suspect; the dispatcher unadvertises it
        }
    }
}

/// The dispatcher's handle on a provider that runs on a host thread.
pub struct RemoteProvider {
    tx: Sender<Request>,
    deadline: Duration,
    table: RoutineTable,
}

impl RemoteProvider {
    /// Sends one call and waits for its reply, replaying what the provider did through its
    /// context into the dispatcher's. Misses the deadline → [`ProviderTimeout`].
    fn call(&mut self, ctx: &mut NspContext, func: NspFn, call: HostCall) -> Returned {
        let (reply_tx, reply_rx) = bounded(1);
        let request = Request {
            call,
            site: ctx.site(),
            reply: reply_tx,
        };
        let timeout = || {
            std::panic::panic_any(ProviderTimeout {
                func,
                after_ms: self.deadline.as_millis() as u64,
            })
        };
        if self.tx.send(request).is_err() {
            panic!("the provider's host thread is gone");
        }
        let reply = match wait::recv_deadline(&reply_rx, wait::SPIN, self.deadline) {
            Ok(r) => r,
            Err(_) => timeout(),
        };
        if let Some(e) = reply.last_error {
            ctx.set_last_error(e);
        }
        for op in reply.ops {
            ctx.replay(op);
        }
        match reply.returned {
            Ok(r) => r,
            Err(Failed::Panic(message)) => panic!("{message}"),
            Err(Failed::Crash(c)) => std::panic::panic_any(c),
            Err(Failed::Timeout(t)) => std::panic::panic_any(t),
        }
    }
}

fn unexpected<T>() -> NspResult<T> {
    Err(SocketError)
}

impl NspV2Provider for RemoteProvider {
    fn routine_table(&self) -> RoutineTable {
        self.table
    }

    fn startup(&mut self, ctx: &mut NspContext) -> NspResult<Option<SessionArg>> {
        match self.call(ctx, NspFn::Startup, HostCall::Startup) {
            Returned::Session(r) => r,
            _ => unexpected(),
        }
    }

    fn cleanup(&mut self, ctx: &mut NspContext, session: Option<SessionArg>) -> NspResult<()> {
        match self.call(ctx, NspFn::Cleanup, HostCall::Cleanup(session)) {
            Returned::Unit(r) => r,
            _ => unexpected(),
        }
    }

    fn lookup_service_begin(
        &mut self,
        ctx: &mut NspContext,
        restrictions: &QuerySet,
        flags: LupFlags,
        session: Option<SessionArg>,
    ) -> NspResult<ProviderLookup> {
        let call = HostCall::Begin(restrictions.clone(), flags, session);
        match self.call(ctx, NspFn::LookupServiceBegin, call) {
            Returned::Lookup(r) => r,
            _ => unexpected(),
        }
    }

    fn lookup_service_next_ex(
        &mut self,
        ctx: &mut NspContext,
        call: AsyncCall,
        lookup: ProviderLookup,
        flags: LupFlags,
        buffer_len: u32,
    ) {
        self.call(
            ctx,
            NspFn::LookupServiceNextEx,
            HostCall::NextEx(call, lookup, flags, buffer_len),
        );
    }

    fn lookup_service_end(
        &mut self,
        ctx: &mut NspContext,
        lookup: ProviderLookup,
    ) -> NspResult<()> {
        match self.call(ctx, NspFn::LookupServiceEnd, HostCall::End(lookup)) {
            Returned::Unit(r) => r,
            _ => unexpected(),
        }
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
        let request = HostCall::SetServiceEx(call, info.clone(), op, flags, session);
        self.call(ctx, NspFn::SetServiceEx, request);
    }

    fn client_session_rundown(&mut self, ctx: &mut NspContext, session: Option<SessionArg>) {
        self.call(ctx, NspFn::ClientSessionRundown, HostCall::Rundown(session));
    }

    fn run_deferred(&mut self, ctx: &mut NspContext, token: WorkToken) {
        self.call(
            ctx,
            NspFn::LookupServiceNextEx,
            HostCall::RunDeferred(token),
        );
    }

    fn held_state(&self) -> Option<HeldState> {
        // Introspection crosses to the host too, but must not hang the dispatcher: a host that
        // does not answer in time reports nothing.
        let (reply_tx, reply_rx) = bounded(1);
        let site = CallSite {
            provider: crate::wsa::Guid::NIL,
            pid: 0,
        };
        let request = Request {
            call: HostCall::HeldState,
            site,
            reply: reply_tx,
        };
        self.tx.send(request).ok()?;
        match reply_rx.recv_timeout(self.deadline).ok()?.returned {
            Ok(Returned::Held(h)) => h,
            _ => None,
        }
    }
}

/// A provider kind whose instances run on host threads.
struct HostedKind {
    inner: std::sync::Arc<dyn ProviderKind>,
    deadline: Duration,
}

impl ProviderKind for HostedKind {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn summary(&self) -> &'static str {
        self.inner.summary()
    }
    fn options(&self) -> &'static [OptionDoc] {
        self.inner.options()
    }
    fn validate(&self, options: &serde_json::Value) -> Result<(), String> {
        self.inner.validate(options)
    }
    fn bind(
        &self,
        options: &serde_json::Value,
        installation: &crate::registry::Installation<'_>,
    ) -> Option<serde_json::Value> {
        self.inner.bind(options, installation)
    }
    fn build(&self, options: &serde_json::Value) -> Result<Box<dyn NspV2Provider>, String> {
        let provider = self.inner.build_live(options)?;
        let proxy = host(provider, self.deadline)
            .map_err(|e| format!("cannot start a host thread: {e}"))?;
        Ok(Box::new(proxy))
    }
}

/// The same kinds, each instance hosted on a thread of its own with this call deadline.
pub fn hosted(registry: Registry, deadline: Duration) -> Registry {
    let mut out = Registry::new();
    for kind in registry.into_kinds() {
        out.register(Box::new(HostedKind {
            inner: kind,
            deadline,
        }));
    }
    out
}
