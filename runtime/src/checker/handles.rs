//! Handle and async-call rules: L6 (each provider lookup handle closed by exactly one End),
//! L7 (each async call completed exactly once), P3 (only given handles, only once), and P2 for
//! completion codes.
//!
//! The nsp.return handler first tests a predicate (`opened_handle`); the checker skips judging
//! an nsp.return when every family's predicate says it changes nothing (`quiet` in
//! `checker/mod.rs`). A new condition on nsp.return belongs in the predicate, not beside it.

use super::state::{AsyncCall, Handle, Model};
use super::{Rule, Violation};
use crate::event::{CompletionOutcome, Label, Pid};
use crate::provider::NspFn;
use crate::wsa::{Guid, WsaError};

/// `nsp.return`: a successful Begin produces a provider lookup handle in the session the call
/// went through.
#[inline]
pub(super) fn nsp_return(
    m: &mut Model,
    provider: Guid,
    func: NspFn,
    pid: Pid,
    lookup: Option<Label>,
) {
    if let Some(h) = opened_handle(func, lookup) {
        opened(m, provider, pid, h);
    }
}

/// The provider lookup handle an `nsp.return` of `func` produced: a successful Begin's.
#[inline]
pub(super) fn opened_handle(func: NspFn, lookup: Option<Label>) -> Option<Label> {
    lookup.filter(|_| func == NspFn::LookupServiceBegin)
}

fn opened(m: &mut Model, provider: Guid, pid: Pid, h: Label) {
    let Some(session) = m.newest_live(pid, provider) else {
        return;
    };
    if let Some(s) = m.sessions.get_mut(session) {
        s.handles.push(h);
    }
    m.handles.insert(
        h,
        Handle {
            session,
            provider,
            pid,
            closed: None,
        },
    );
}

/// `nsp.call`: End closes a handle once (L6); NextEx and SetServiceEx start an async call,
/// NextEx only on an open handle (L4).
#[inline]
pub(super) fn nsp_call(
    m: &mut Model,
    provider: Guid,
    func: NspFn,
    pid: Pid,
    lookup: Option<Label>,
    async_call: Option<Label>,
    out: &mut Vec<Violation>,
) {
    match (func, async_call) {
        (NspFn::LookupServiceEnd, _) => {
            if let Some(h) = lookup {
                closed(m, provider, pid, h, out);
            }
        }
        (NspFn::LookupServiceNextEx | NspFn::SetServiceEx, Some(a)) => {
            started(m, provider, func, pid, lookup, a, out);
        }
        _ => {}
    }
}

/// L6: NSPv2LookupServiceEnd for a handle Begin produced, once.
fn closed(m: &mut Model, provider: Guid, pid: Pid, h: Label, out: &mut Vec<Violation>) {
    let seq = m.seq;
    let mut closed_in = None;
    let detail = match m.handles.get_mut(&h) {
        Some(handle) if handle.closed.is_none() => {
            handle.closed = Some(seq);
            closed_in = Some(handle.session);
            None
        }
        Some(handle) => Some(format!(
            "provider {provider} got a second NSPv2LookupServiceEnd for handle {h} of pid {} (closed at seq {})",
            pid.0,
            handle.closed.unwrap_or(seq)
        )),
        None => Some(format!(
            "provider {provider} got NSPv2LookupServiceEnd for handle {h} of pid {}, which its Begin never produced",
            pid.0
        )),
    };
    if let Some(detail) = detail {
        out.push(m.violation(Rule::L6, detail));
    }
    if let Some(session) = closed_in {
        super::sessions::after_handle_closed(m, session);
    }
}

/// An async call starts (L7 waits for its completion); on a closed handle it breaks L4.
fn started(
    m: &mut Model,
    provider: Guid,
    func: NspFn,
    pid: Pid,
    lookup: Option<Label>,
    a: Label,
    out: &mut Vec<Violation>,
) {
    if let Some(h) = lookup
        && let Some(closed) = m.handles.get(&h).and_then(|x| x.closed)
    {
        let detail = format!(
            "provider {provider} got NSPv2LookupServiceNextEx on handle {h} of pid {} after it was closed at seq {closed}",
            pid.0
        );
        out.push(m.violation(Rule::L4, detail));
    }
    m.asyncs.insert(
        a,
        AsyncCall {
            provider,
            pid,
            func,
            completed: false,
            exempt: false,
        },
    );
}

/// `async.complete`: P3 for a rejected completion, P2 for an undocumented code.
pub(super) fn async_complete(
    m: &mut Model,
    provider: Guid,
    async_call: Label,
    err: u32,
    outcome: CompletionOutcome,
    out: &mut Vec<Violation>,
) {
    if outcome == CompletionOutcome::Rejected {
        let detail = format!(
            "provider {provider} completed async call {async_call}, which is unknown or already completed (WSAProviderCompleteAsyncCall returned WSAEINVAL)"
        );
        out.push(m.violation(Rule::P3, detail));
        return;
    }
    let Some(call) = m.asyncs.get_mut(&async_call) else {
        return;
    };
    call.completed = true;
    let func = call.func;
    if let Some(e) = WsaError::from_code(err)
        && !func.documented_errors().contains(&e)
    {
        let detail = format!(
            "provider {provider} completed {func} call {async_call} with {e}, which is not among the errors that function may report"
        );
        out.push(m.violation(Rule::P2, detail));
    }
}

/// L7 and L6 at the end of the run.
pub(super) fn finish(m: &mut Model, out: &mut Vec<Violation>) {
    let mut found = Vec::new();
    for (label, call) in &m.asyncs {
        if !call.completed && !call.exempt {
            found.push((
                Rule::L7,
                format!(
                    "async call {label} ({} of pid {} to provider {}) was never completed",
                    call.func, call.pid.0, call.provider
                ),
            ));
        }
    }
    for (label, h) in &m.handles {
        let exited = m.processes.get(&h.pid).is_some_and(|p| p.exited);
        let session_live = m.sessions.get(h.session).is_some_and(|s| s.ended.is_none());
        if h.closed.is_none() && exited && session_live && m.reachable(h.provider) {
            found.push((
                Rule::L6,
                format!(
                    "provider lookup handle {label} of pid {} (provider {}) was never closed by NSPv2LookupServiceEnd",
                    h.pid.0, h.provider
                ),
            ));
        }
    }
    for (rule, detail) in found {
        out.push(m.violation(rule, detail));
    }
}
