//! A tiny in-memory provider and a world builder for the dispatcher's rule tests.
//!
//! The real mock providers live in the `providers` crate; this one only has the knobs the S
//! rules need (which slots are filled, stubs, failing Startup, inline or deferred completion,
//! a panic in a chosen entry point).

#![allow(dead_code)]

use nspsim_runtime::event::{Event, Stamped};
use nspsim_runtime::provider::{
    AsyncCall, EntryPoint, HeldState, NextExOutput, NspContext, NspFn, NspResult, NspV2Provider,
    ProviderLookup, RoutineTable, SessionArg, WorkToken,
};
use nspsim_runtime::wsa::{
    CsAddr, Guid, LupFlags, Namespace, QuerySet, SetServiceFlags, SetServiceOp, WsaError,
};
use nspsim_runtime::{CatalogEntry, Config, Dispatcher, Pid, Role, Tid, VecSink};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub const T1: Tid = Tid(1);

pub fn guid(n: u128) -> Guid {
    Guid::from_u128(0x6f0e2a57_2f7c_4d8b_9a3e_1c2b3d4e5f00 + n)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    Inline,
    Deferred,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartupMode {
    Ok,
    /// Fails every time with this error.
    Fail(WsaError),
    /// Fails the first call only.
    FailOnce(WsaError),
}

/// What the provider saw, shared with the test.
#[derive(Default, Debug)]
pub struct Seen {
    pub calls: Vec<String>,
}

pub struct TinyProvider {
    pub table: RoutineTable,
    /// Optional entry points present as WSAEOPNOTSUPP stubs.
    pub stubs: bool,
    pub startup: StartupMode,
    pub completion: Completion,
    pub panic_in: Option<NspFn>,
    pub entries: BTreeMap<String, Vec<QuerySet>>,
    pub seen: Arc<Mutex<Seen>>,
    next_arg: u64,
    next_lookup: u64,
    lookups: BTreeMap<u64, (String, usize, bool)>,
    sessions: u32,
    /// NextEx calls deferred: work token → (async call, lookup, flags, buffer).
    deferred: BTreeMap<u64, (AsyncCall, u64, LupFlags, u32)>,
    next_token: u64,
    arg_base: u64,
    pub registered: BTreeMap<String, Vec<CsAddr>>,
    /// Every NextEx completes with this error instead of its answer.
    pub next_error: Option<WsaError>,
}

impl TinyProvider {
    pub fn new() -> Self {
        TinyProvider {
            table: RoutineTable::full(),
            stubs: false,
            startup: StartupMode::Ok,
            completion: Completion::Inline,
            panic_in: None,
            entries: BTreeMap::new(),
            seen: Arc::new(Mutex::new(Seen::default())),
            next_arg: 0,
            next_lookup: 0,
            lookups: BTreeMap::new(),
            sessions: 0,
            deferred: BTreeMap::new(),
            next_token: 0,
            arg_base: 0x1000,
            registered: BTreeMap::new(),
            next_error: None,
        }
    }

    /// Completes every NextEx with `e`.
    pub fn next_error(mut self, e: WsaError) -> Self {
        self.next_error = Some(e);
        self
    }

    pub fn with_entry(mut self, name: &str, addrs: &[&str]) -> Self {
        let qs = QuerySet {
            service_instance_name: Some(name.to_string()),
            namespace: Namespace::EMAIL,
            addresses: addrs
                .iter()
                .map(|a| CsAddr::tcp(a.parse().expect("test address")))
                .collect(),
            ..QuerySet::default()
        };
        self.entries.entry(name.to_string()).or_default().push(qs);
        self
    }

    pub fn deferred(mut self) -> Self {
        self.completion = Completion::Deferred;
        self
    }

    pub fn required_only(mut self) -> Self {
        self.table = RoutineTable::required_only();
        self
    }

    pub fn stubs(mut self) -> Self {
        self.stubs = true;
        self
    }

    pub fn startup(mut self, mode: StartupMode) -> Self {
        self.startup = mode;
        self
    }

    pub fn panic_in(mut self, f: NspFn) -> Self {
        self.panic_in = Some(f);
        self
    }

    /// Session arguments start at this value (so two providers' values differ).
    pub fn arg_base(mut self, base: u64) -> Self {
        self.arg_base = base;
        self
    }

    pub fn seen(&self) -> Arc<Mutex<Seen>> {
        self.seen.clone()
    }

    fn note(&self, what: String) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.calls.push(what);
        }
    }

    fn maybe_panic(&self, f: NspFn) {
        if self.panic_in == Some(f) {
            panic!("test provider panics in {f}");
        }
    }

    fn answer(
        &mut self,
        ctx: &mut NspContext,
        call: AsyncCall,
        lookup: u64,
        flags: LupFlags,
        buffer: u32,
    ) {
        let Some((name, cursor, held_back)) = self.lookups.get_mut(&lookup) else {
            ctx.complete_async_call(call, Err(WsaError::INVALID_HANDLE));
            return;
        };
        if let Some(e) = self.next_error {
            ctx.complete_async_call(call, Err(e));
            return;
        }
        let results = self.entries.get(name.as_str()).cloned().unwrap_or_default();
        if *held_back && flags.contains(LupFlags::FLUSHPREVIOUS) {
            // S5.5: LUP_FLUSHPREVIOUS skips the result that did not fit.
            *cursor += 1;
        }
        *held_back = false;
        match results.get(*cursor) {
            None if results.is_empty() => ctx.complete_async_call(call, Err(WsaError::NO_DATA)),
            None => ctx.complete_async_call(call, Err(WsaError::E_NO_MORE)),
            Some(qs) => {
                let out = qs.project(flags);
                let size = out.wire_size();
                if size > buffer {
                    *held_back = true;
                    ctx.write_next_ex(call, NextExOutput::BufferTooSmall { required: size });
                    ctx.complete_async_call(call, Err(WsaError::EFAULT));
                } else {
                    *cursor += 1;
                    ctx.write_next_ex(call, NextExOutput::Result(out));
                    ctx.complete_async_call(call, Ok(()));
                }
            }
        }
    }
}

impl NspV2Provider for TinyProvider {
    fn routine_table(&self) -> RoutineTable {
        self.table
    }

    fn startup(&mut self, ctx: &mut NspContext) -> NspResult<Option<SessionArg>> {
        self.maybe_panic(NspFn::Startup);
        self.note(format!("Startup pid{}", ctx.site().pid));
        if self.stubs {
            return Err(ctx.fail(WsaError::EOPNOTSUPP));
        }
        match self.startup {
            StartupMode::Fail(e) => return Err(ctx.fail(e)),
            StartupMode::FailOnce(e) => {
                self.startup = StartupMode::Ok;
                return Err(ctx.fail(e));
            }
            StartupMode::Ok => {}
        }
        self.next_arg += 1;
        self.sessions += 1;
        Ok(SessionArg::new(self.arg_base + self.next_arg))
    }

    fn cleanup(&mut self, ctx: &mut NspContext, session: Option<SessionArg>) -> NspResult<()> {
        self.maybe_panic(NspFn::Cleanup);
        self.note(format!("Cleanup {:?}", session.map(|s| s.raw())));
        if self.stubs {
            return Err(ctx.fail(WsaError::EOPNOTSUPP));
        }
        self.sessions = self.sessions.saturating_sub(1);
        Ok(())
    }

    fn lookup_service_begin(
        &mut self,
        ctx: &mut NspContext,
        restrictions: &QuerySet,
        flags: LupFlags,
        session: Option<SessionArg>,
    ) -> NspResult<ProviderLookup> {
        self.maybe_panic(NspFn::LookupServiceBegin);
        let name = restrictions
            .service_instance_name
            .clone()
            .unwrap_or_default();
        self.note(format!("Begin {name} {:?}", session.map(|s| s.raw())));
        if name.starts_with("fail-begin") {
            return Err(ctx.fail(WsaError::EINVAL));
        }
        self.next_lookup += 1;
        let _ = flags;
        self.lookups.insert(self.next_lookup, (name, 0, false));
        Ok(ProviderLookup(self.next_lookup))
    }

    fn lookup_service_next_ex(
        &mut self,
        ctx: &mut NspContext,
        call: AsyncCall,
        lookup: ProviderLookup,
        flags: LupFlags,
        buffer_len: u32,
    ) {
        self.maybe_panic(NspFn::LookupServiceNextEx);
        self.note(format!("NextEx h{} flags={:#x}", lookup.0, flags.bits()));
        match self.completion {
            Completion::Inline => self.answer(ctx, call, lookup.0, flags, buffer_len),
            Completion::Deferred => {
                self.next_token += 1;
                self.deferred
                    .insert(self.next_token, (call, lookup.0, flags, buffer_len));
                ctx.defer(WorkToken(self.next_token));
            }
        }
    }

    fn lookup_service_end(
        &mut self,
        ctx: &mut NspContext,
        lookup: ProviderLookup,
    ) -> NspResult<()> {
        self.maybe_panic(NspFn::LookupServiceEnd);
        self.note(format!("End h{}", lookup.0));
        if self.lookups.remove(&lookup.0).is_none() {
            return Err(ctx.fail(WsaError::INVALID_HANDLE));
        }
        // A pending NextEx on this handle is cancelled.
        let cancelled: Vec<u64> = self
            .deferred
            .iter()
            .filter(|(_, (_, h, _, _))| *h == lookup.0)
            .map(|(t, _)| *t)
            .collect();
        for token in cancelled {
            if let Some((call, ..)) = self.deferred.remove(&token) {
                ctx.complete_async_call(call, Err(WsaError::E_CANCELLED));
            }
        }
        Ok(())
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
        self.maybe_panic(NspFn::SetServiceEx);
        let name = info.service_instance_name.clone().unwrap_or_default();
        self.note(format!(
            "SetServiceEx {name} {op:?} {:?}",
            session.map(|s| s.raw())
        ));
        if self.stubs {
            ctx.complete_async_call(call, Err(WsaError::EOPNOTSUPP));
            return;
        }
        let result = match op {
            SetServiceOp::Register => {
                let addrs = self.registered.entry(name).or_default();
                if !flags.multiple() {
                    addrs.clear();
                }
                addrs.extend(info.addresses.iter().cloned());
                Ok(())
            }
            SetServiceOp::Deregister | SetServiceOp::Delete => {
                if self.registered.remove(&name).is_some() {
                    Ok(())
                } else {
                    Err(WsaError::SERVICE_NOT_FOUND)
                }
            }
        };
        ctx.complete_async_call(call, result);
    }

    fn client_session_rundown(&mut self, _ctx: &mut NspContext, session: Option<SessionArg>) {
        self.maybe_panic(NspFn::ClientSessionRundown);
        self.note(format!("Rundown {:?}", session.map(|s| s.raw())));
        self.sessions = self.sessions.saturating_sub(1);
    }

    fn run_deferred(&mut self, ctx: &mut NspContext, token: WorkToken) {
        if let Some((call, lookup, flags, buffer)) = self.deferred.remove(&token.0) {
            self.answer(ctx, call, lookup, flags, buffer);
        }
    }

    fn held_state(&self) -> Option<HeldState> {
        Some(HeldState {
            sessions: self.sessions as usize,
            lookups: self.lookups.len(),
        })
    }
}

/// A dispatcher with a recording sink.
pub fn world(config: Config) -> Dispatcher<VecSink> {
    Dispatcher::new(config, VecSink::new())
}

/// Installs `provider` as `id` in namespace NS_EMAIL, starts a host for it and advertises it.
pub fn host(d: &mut Dispatcher<VecSink>, n: u128, provider: TinyProvider) -> (Guid, Pid) {
    host_entry(
        d,
        CatalogEntry::new(guid(n), format!("p{n}"), Namespace::EMAIL),
        provider,
    )
}

pub fn host_entry(
    d: &mut Dispatcher<VecSink>,
    entry: CatalogEntry,
    provider: TinyProvider,
) -> (Guid, Pid) {
    let id = entry.id;
    d.install_provider(entry).expect("install");
    let pid = d.create_process(&format!("host-{}", id), Role::Host);
    d.wsa_startup(pid, T1, (2, 2)).expect("host startup");
    d.wsa_advertise_provider(pid, T1, id, Box::new(provider))
        .expect("advertise");
    (id, pid)
}

pub fn client(d: &mut Dispatcher<VecSink>, name: &str) -> Pid {
    let pid = d.create_process(name, Role::Client);
    d.wsa_startup(pid, T1, (2, 2)).expect("client startup");
    pid
}

pub fn email(name: &str) -> QuerySet {
    QuerySet {
        service_instance_name: Some(name.to_string()),
        namespace: Namespace::EMAIL,
        ..QuerySet::default()
    }
}

pub fn events(d: &Dispatcher<VecSink>) -> &[Stamped] {
    &d.sink().events
}

/// Provider calls as compact strings: `Startup g1 pid3 s1`, `NextEx g1 pid3 h1 a2`, ….
pub fn nsp_calls(d: &Dispatcher<VecSink>) -> Vec<String> {
    events(d)
        .iter()
        .filter_map(|s| match &s.event {
            Event::NspCall {
                provider,
                func,
                pid,
                session,
                lookup,
                async_call,
                ..
            } => {
                let short = func
                    .name()
                    .trim_start_matches("NSPv2")
                    .replace("LookupService", "");
                let mut text = format!("{short} p{} pid{}", provider.0 & 0xff, pid.0);
                for label in [session, lookup, async_call].into_iter().flatten() {
                    text.push_str(&format!(" {label}"));
                }
                Some(text)
            }
            _ => None,
        })
        .collect()
}

pub fn kinds(d: &Dispatcher<VecSink>) -> Vec<&'static str> {
    events(d).iter().map(|s| s.event.kind()).collect()
}

pub fn entry(n: u128, ns: Namespace) -> CatalogEntry {
    CatalogEntry::new(guid(n), format!("p{n}"), ns)
}

pub fn _unused(_: EntryPoint) {}
