//! `faulty`: an `email-directory` that injects faults by option, to show how the dispatcher
//! contains a misbehaving provider (P1–P4) and what a client sees.
//!
//! Options: the `email-directory` options plus `faults`, an array of
//! `{ fault, entry_point, error, on_call }`:
//!
//! | `fault` | does |
//! |---|---|
//! | `fail` | the entry point fails with `error` (a name like `"WSAEACCES"` or a number): SOCKET_ERROR for Startup/Cleanup/Begin/End, a completion with that code for NextEx/SetServiceEx |
//! | `panic` | the entry point panics (P4: contained, the provider is unadvertised) |
//! | `silent-error` | SOCKET_ERROR without a last error (breaks P1) |
//! | `never-complete` | NextEx/SetServiceEx never complete (L7; a live run reports a timeout) |
//! | `complete-twice` | NextEx/SetServiceEx complete a second time (P3: the second is rejected) |
//! | `bad-code` | NextEx/SetServiceEx complete with `error` (default 12345), outside the documented set (P2) |
//!
//! `entry_point` is a Windows name (`NSPv2LookupServiceBegin`) or its short form (`begin`,
//! `next`, `end`, `startup`, `cleanup`, `set-service`, `rundown`); `on_call` (1-based) limits
//! the fault to that call of the entry point; without it, every call is faulty.

use crate::email_directory::{EmailDirectory, EmailOptions, PreparedOptions};
use nspsim_core::provider::{
    AsyncCall, HeldState, NspContext, NspFn, NspResult, NspV2Provider, ProviderLookup,
    RoutineTable, SessionArg, SocketError, WorkToken,
};
use nspsim_core::wsa::{LupFlags, QuerySet, SetServiceFlags, SetServiceOp, WsaError};
use serde::Deserialize;
use std::sync::Arc;

/// One fault as a scenario writes it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FaultOption {
    pub fault: String,
    #[serde(default)]
    pub entry_point: Option<String>,
    #[serde(default)]
    pub error: Option<serde_json::Value>,
    #[serde(default)]
    pub on_call: Option<u32>,
}

/// What an injected fault does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    Fail(WsaError),
    Panic,
    SilentError,
    NeverComplete,
    CompleteTwice,
    BadCode(WsaError),
}

/// A validated fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub entry_point: NspFn,
    pub on_call: Option<u32>,
}

/// The `faulty` options: `faults`, plus everything `email-directory` takes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultyOptions {
    pub faults: Vec<FaultOption>,
    pub directory: EmailOptions,
}

impl FaultyOptions {
    pub fn parse(options: &serde_json::Value) -> Result<FaultyOptions, String> {
        let (faults, rest) = crate::options::split_key("faulty", options, "faults")?;
        let faults = match faults {
            None => Vec::new(),
            Some(v) => {
                serde_json::from_value(v).map_err(|e| format!("faulty options: faults: {e}"))?
            }
        };
        Ok(FaultyOptions {
            faults,
            directory: crate::options::parse("faulty", &rest)?,
        })
    }
}

fn entry_point(name: &str) -> Option<NspFn> {
    NspFn::from_name(name).or(match name {
        "startup" => Some(NspFn::Startup),
        "cleanup" => Some(NspFn::Cleanup),
        "begin" => Some(NspFn::LookupServiceBegin),
        "next" => Some(NspFn::LookupServiceNextEx),
        "end" => Some(NspFn::LookupServiceEnd),
        "set-service" => Some(NspFn::SetServiceEx),
        "rundown" => Some(NspFn::ClientSessionRundown),
        _ => None,
    })
}

fn error_code(v: &serde_json::Value) -> Option<WsaError> {
    match v {
        serde_json::Value::String(s) => WsaError::parse(s),
        serde_json::Value::Number(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .and_then(WsaError::from_code),
        _ => None,
    }
}

impl FaultyOptions {
    /// Validates the faults and splits off the directory options.
    pub fn split(self) -> Result<(Vec<Fault>, EmailOptions), String> {
        let mut faults = Vec::new();
        for (i, f) in self.faults.iter().enumerate() {
            let at = format!("faults[{i}]");
            let error = match &f.error {
                Some(v) => Some(error_code(v).ok_or_else(|| {
                    format!("{at}.error: {v} is not a Winsock error name or a non-zero number")
                })?),
                None => None,
            };
            let async_only = |what: &str, ep: NspFn| {
                if matches!(ep, NspFn::LookupServiceNextEx | NspFn::SetServiceEx) {
                    Ok(())
                } else {
                    Err(format!(
                        "{at}: `{what}` applies to NSPv2LookupServiceNextEx or NSPv2SetServiceEx, not {ep}"
                    ))
                }
            };
            let ep_name = f
                .entry_point
                .as_deref()
                .unwrap_or("NSPv2LookupServiceNextEx");
            let ep = entry_point(ep_name)
                .ok_or_else(|| format!("{at}.entry_point: unknown entry point \"{ep_name}\""))?;
            let kind = match f.fault.as_str() {
                "fail" => {
                    FaultKind::Fail(error.ok_or_else(|| format!("{at}: `fail` needs an `error`"))?)
                }
                "panic" => FaultKind::Panic,
                "silent-error" => {
                    if ep.is_void() {
                        return Err(format!(
                            "{at}: `silent-error` needs an entry point that returns int, not {ep}"
                        ));
                    }
                    FaultKind::SilentError
                }
                "never-complete" => {
                    async_only("never-complete", ep)?;
                    FaultKind::NeverComplete
                }
                "complete-twice" => {
                    async_only("complete-twice", ep)?;
                    FaultKind::CompleteTwice
                }
                "bad-code" => {
                    async_only("bad-code", ep)?;
                    FaultKind::BadCode(
                        error
                            .or(WsaError::from_code(12345))
                            .ok_or("bad-code: no error")?,
                    )
                }
                other => {
                    return Err(format!(
                        "{at}.fault: unknown fault \"{other}\"; expected one of fail, panic, silent-error, never-complete, complete-twice, bad-code"
                    ));
                }
            };
            if f.on_call == Some(0) {
                return Err(format!("{at}.on_call: calls count from 1"));
            }
            faults.push(Fault {
                kind,
                entry_point: ep,
                on_call: f.on_call,
            });
        }
        self.directory.validate()?;
        Ok((faults, self.directory))
    }
}

/// The `faulty` provider.
#[derive(Debug)]
pub struct Faulty {
    inner: EmailDirectory,
    /// Shared by every instance built from the same prepared options (read only).
    faults: Arc<[Fault]>,
    /// Calls made so far, per entry point (indexed by [`NspFn`] in table order).
    calls: [u32; NspFn::ALL.len()],
}

impl Faulty {
    pub fn new(faults: Vec<Fault>, options: EmailOptions) -> Self {
        Self::shared(faults.into(), Arc::new(PreparedOptions::new(options)))
    }

    /// An instance over faults and directory options prepared once for many instances
    /// ([`ProviderKind::prepare`]), as `email-directory`'s are.
    ///
    /// [`ProviderKind::prepare`]: nspsim_core::registry::ProviderKind::prepare
    pub fn shared(faults: Arc<[Fault]>, prepared: Arc<PreparedOptions>) -> Self {
        Faulty {
            inner: EmailDirectory::shared(prepared),
            faults,
            calls: [0; NspFn::ALL.len()],
        }
    }

    /// Counts a call of `f` and returns the fault that strikes it, if any.
    fn strike(&mut self, f: NspFn) -> Option<FaultKind> {
        let n = &mut self.calls[f as usize];
        *n += 1;
        let n = *n;
        let fault = self
            .faults
            .iter()
            .find(|x| x.entry_point == f && x.on_call.is_none_or(|c| c == n))?;
        if fault.kind == FaultKind::Panic {
            panic!("faulty: injected panic in {f} (call {n})");
        }
        Some(fault.kind)
    }

    /// The SOCKET_ERROR conventions of int-returning entry points.
    fn fallible<T>(
        &mut self,
        f: NspFn,
        ctx: &mut NspContext,
        call: impl FnOnce(&mut EmailDirectory, &mut NspContext) -> NspResult<T>,
    ) -> NspResult<T> {
        match self.strike(f) {
            Some(FaultKind::Fail(e)) => Err(ctx.fail(e)),
            Some(FaultKind::SilentError) => Err(SocketError),
            _ => call(&mut self.inner, ctx),
        }
    }

    /// Async entry points: the fault decides whether and how the call completes.
    fn asynchronous(
        &mut self,
        f: NspFn,
        ctx: &mut NspContext,
        call: AsyncCall,
        run: impl FnOnce(&mut EmailDirectory, &mut NspContext),
    ) {
        match self.strike(f) {
            Some(FaultKind::Fail(e) | FaultKind::BadCode(e)) => {
                ctx.complete_async_call(call, Err(e))
            }
            Some(FaultKind::NeverComplete) => {}
            Some(FaultKind::CompleteTwice) => {
                run(&mut self.inner, ctx);
                ctx.complete_async_call(call, Err(WsaError::E_NO_MORE));
            }
            _ => run(&mut self.inner, ctx),
        }
    }
}

impl NspV2Provider for Faulty {
    fn routine_table(&self) -> RoutineTable {
        self.inner.routine_table()
    }

    fn startup(&mut self, ctx: &mut NspContext) -> NspResult<Option<SessionArg>> {
        self.fallible(NspFn::Startup, ctx, |p, ctx| p.startup(ctx))
    }

    fn cleanup(&mut self, ctx: &mut NspContext, session: Option<SessionArg>) -> NspResult<()> {
        self.fallible(NspFn::Cleanup, ctx, |p, ctx| p.cleanup(ctx, session))
    }

    fn lookup_service_begin(
        &mut self,
        ctx: &mut NspContext,
        restrictions: &QuerySet,
        flags: LupFlags,
        session: Option<SessionArg>,
    ) -> NspResult<ProviderLookup> {
        self.fallible(NspFn::LookupServiceBegin, ctx, |p, ctx| {
            p.lookup_service_begin(ctx, restrictions, flags, session)
        })
    }

    fn lookup_service_next_ex(
        &mut self,
        ctx: &mut NspContext,
        call: AsyncCall,
        lookup: ProviderLookup,
        flags: LupFlags,
        buffer_len: u32,
    ) {
        self.asynchronous(NspFn::LookupServiceNextEx, ctx, call, |p, ctx| {
            p.lookup_service_next_ex(ctx, call, lookup, flags, buffer_len)
        });
    }

    fn lookup_service_end(
        &mut self,
        ctx: &mut NspContext,
        lookup: ProviderLookup,
    ) -> NspResult<()> {
        self.fallible(NspFn::LookupServiceEnd, ctx, |p, ctx| {
            p.lookup_service_end(ctx, lookup)
        })
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
        self.asynchronous(NspFn::SetServiceEx, ctx, call, |p, ctx| {
            p.set_service_ex(ctx, call, info, op, flags, session)
        });
    }

    fn client_session_rundown(&mut self, ctx: &mut NspContext, session: Option<SessionArg>) {
        if self.strike(NspFn::ClientSessionRundown).is_none() {
            self.inner.client_session_rundown(ctx, session);
        }
    }

    fn run_deferred(&mut self, ctx: &mut NspContext, token: WorkToken) {
        self.inner.run_deferred(ctx, token);
    }

    fn held_state(&self) -> Option<HeldState> {
        self.inner.held_state()
    }
}
