//! Call rules: L8 (only advertised, enabled providers get calls), L10 (calls outside WSAStartup
//! fail with WSANOTINITIALISED), P1 (SOCKET_ERROR with a last error), P2 (documented errors),
//! P4 (contained panics). Also keeps provider reachability, which the other families read.
//!
//! The handlers of api.call, api.return and nsp.return first test a predicate
//! (`uninitialised`, `judges_api_returns`, `judges_return`); the checker skips judging an event
//! of those kinds when every family's predicate says it changes nothing (`quiet` in
//! `checker/mod.rs`). A new condition on those kinds belongs in the predicate, not beside it.

use super::state::Model;
use super::{Rule, Violation};
use crate::event::{ApiFn, Event, FaultKind, Pid, Tid};
use crate::provider::NspFn;
use crate::wsa::{Guid, WsaError};

/// Catalog and advertisement events: provider reachability and routine tables. Failed
/// operations (`ret` not 0) change nothing.
pub(super) fn catalog(m: &mut Model, event: &Event) {
    match event {
        Event::CatalogInstall {
            provider, ret: 0, ..
        } => {
            let p = m.provider(*provider);
            p.installed = true;
            p.enabled = true;
        }
        Event::CatalogUninstall {
            provider, ret: 0, ..
        } => {
            m.provider(*provider).installed = false;
            m.detach(*provider, false);
        }
        Event::CatalogEnable {
            provider,
            enabled,
            ret: 0,
            ..
        } => {
            m.provider(*provider).enabled = *enabled;
            if !*enabled {
                m.detach(*provider, false);
            }
        }
        Event::ProviderAdvertise {
            provider,
            ret: 0,
            absent,
            ..
        } => {
            let p = m.provider(*provider);
            p.advertised = true;
            p.absent = absent.clone();
        }
        Event::ProviderUnadvertise {
            provider, ret: 0, ..
        } => {
            m.provider(*provider).advertised = false;
            m.detach(*provider, true);
        }
        _ => {}
    }
}

/// `nsp.call`: L8, only a reachable provider gets calls.
#[inline]
pub(super) fn nsp_call(m: &Model, provider: Guid, func: NspFn, pid: Pid, out: &mut Vec<Violation>) {
    if !m.reachable(provider) {
        unreachable_called(m, provider, func, pid, out);
    }
}

#[cold]
fn unreachable_called(m: &Model, provider: Guid, func: NspFn, pid: Pid, out: &mut Vec<Violation>) {
    let why = match m.providers.get(&provider) {
        None => "not installed",
        Some(p) if !p.advertised => "not advertised",
        Some(p) if !p.installed => "not installed",
        Some(_) => "disabled",
    };
    let detail = format!(
        "provider {provider} got {func} for pid {} while it is {why}",
        pid.0
    );
    out.push(m.violation(Rule::L8, detail));
}

/// `nsp.return`: P1 and P2 for a SOCKET_ERROR, unless a fault made it (WSASYSCALLFAILURE).
#[inline]
pub(super) fn nsp_return(
    m: &mut Model,
    provider: Guid,
    func: NspFn,
    pid: Pid,
    ret: Option<i32>,
    err: u32,
    out: &mut Vec<Violation>,
) {
    let after_fault = std::mem::take(&mut m.faulted_call);
    if !judges_return(ret, after_fault) {
        return;
    }
    match WsaError::from_code(err) {
        None => {
            let detail = format!(
                "provider {provider} returned SOCKET_ERROR from {func} (pid {}) without setting a last error",
                pid.0
            );
            out.push(m.violation(Rule::P1, detail));
        }
        Some(e) if !func.documented_errors().contains(&e) => {
            let detail = format!(
                "provider {provider} failed {func} (pid {}) with {e}, which is not among the errors that function may report",
                pid.0
            );
            out.push(m.violation(Rule::P2, detail));
        }
        Some(_) => {}
    }
}

/// Whether P1 and P2 judge an `nsp.return` of `ret`: a SOCKET_ERROR the provider made, not
/// one a fault made (`after_fault`).
#[inline]
pub(super) fn judges_return(ret: Option<i32>, after_fault: bool) -> bool {
    ret == Some(-1) && !after_fault
}

/// `fault`: P4, a contained provider fault; the `nsp.return` that follows is the
/// dispatcher's.
pub(super) fn fault(
    m: &mut Model,
    provider: Guid,
    func: NspFn,
    kind: FaultKind,
    detail: &str,
    out: &mut Vec<Violation>,
) {
    m.faulted_call = true;
    let detail = format!(
        "provider {provider} {} in {func} (contained; the provider is unadvertised): {detail}",
        kind.verb()
    );
    out.push(m.violation(Rule::P4, detail));
}

/// `api.call`: remembers a call made with no WSAStartup outstanding, for L10 at its return.
#[inline]
pub(super) fn api_call(m: &mut Model, pid: Pid, tid: Tid, call: ApiFn) {
    if uninitialised(m, pid, call) {
        m.uninitialised_calls.insert((pid, tid), call);
    }
}

/// Whether `call` is made with no WSAStartup outstanding (so L10 judges its return).
#[inline]
pub(super) fn uninitialised(m: &Model, pid: Pid, call: ApiFn) -> bool {
    call != ApiFn::WSAStartup && m.processes.get(&pid).is_none_or(|p| p.startups == 0)
}

/// Whether L10 has any `api.return` to judge. Nearly every call is made inside WSAStartup:
/// then there is nothing to look up.
#[inline]
pub(super) fn judges_api_returns(m: &Model) -> bool {
    !m.uninitialised_calls.is_empty()
}

/// `api.return`: L10, a call made with no WSAStartup outstanding fails with
/// WSANOTINITIALISED.
#[inline]
pub(super) fn api_return(
    m: &mut Model,
    pid: Pid,
    tid: Tid,
    call: ApiFn,
    ret: i32,
    err: u32,
    out: &mut Vec<Violation>,
) {
    if !judges_api_returns(m) || m.uninitialised_calls.get(&(pid, tid)) != Some(&call) {
        return;
    }
    m.uninitialised_calls.remove(&(pid, tid));
    if !(ret == -1 && err == WsaError::NOTINITIALISED.code()) {
        let detail = format!(
            "pid {} called {} with no WSAStartup outstanding and got ret {ret}, err {err} instead of WSANOTINITIALISED",
            pid.0,
            call.name()
        );
        out.push(m.violation(Rule::L10, detail));
    }
}
