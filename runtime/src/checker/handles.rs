//! Handle and async-call rules: L6 (each provider lookup handle closed by exactly one End),
//! L7 (each async call completed exactly once), P3 (only given handles, only once), and P2 for
//! completion codes.

use super::state::{AsyncCall, Handle, Model};
use super::{Rule, Violation};
use crate::event::{CompletionOutcome, Event};
use crate::provider::NspFn;
use crate::wsa::WsaError;

pub(super) fn observe(m: &mut Model, event: &Event, out: &mut Vec<Violation>) {
    match event {
        Event::NspReturn {
            pid,
            provider,
            func: NspFn::LookupServiceBegin,
            lookup: Some(h),
            ..
        } => {
            if let Some(session) = m.newest_live(*pid, *provider) {
                if let Some(s) = m.sessions.get_mut(session) {
                    s.handles.push(*h);
                }
                m.handles.insert(
                    *h,
                    Handle {
                        session,
                        provider: *provider,
                        pid: *pid,
                        closed: None,
                    },
                );
            }
        }
        Event::NspCall {
            provider,
            func: NspFn::LookupServiceEnd,
            pid,
            lookup: Some(h),
            ..
        } => {
            let seq = m.seq;
            let mut closed_in = None;
            let detail = match m.handles.get_mut(h) {
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
        Event::NspCall {
            provider,
            func: func @ (NspFn::LookupServiceNextEx | NspFn::SetServiceEx),
            pid,
            lookup,
            async_call: Some(a),
            ..
        } => {
            if let Some(h) = lookup
                && let Some(closed) = m.handles.get(h).and_then(|x| x.closed)
            {
                let detail = format!(
                    "provider {provider} got NSPv2LookupServiceNextEx on handle {h} of pid {} after it was closed at seq {closed}",
                    pid.0
                );
                out.push(m.violation(Rule::L4, detail));
            }
            m.asyncs.insert(
                *a,
                AsyncCall {
                    provider: *provider,
                    pid: *pid,
                    func: *func,
                    completed: false,
                    exempt: false,
                },
            );
        }
        Event::AsyncComplete {
            provider,
            async_call,
            err,
            outcome,
        } => {
            if *outcome == CompletionOutcome::Rejected {
                let detail = format!(
                    "provider {provider} completed async call {async_call}, which is unknown or already completed (WSAProviderCompleteAsyncCall returned WSAEINVAL)"
                );
                out.push(m.violation(Rule::P3, detail));
                return;
            }
            let Some(call) = m.asyncs.get_mut(async_call) else {
                return;
            };
            call.completed = true;
            let func = call.func;
            if let Some(e) = WsaError::from_code(*err)
                && !func.documented_errors().contains(&e)
            {
                let detail = format!(
                    "provider {provider} completed {func} call {async_call} with {e}, which is not among the errors that function may report"
                );
                out.push(m.violation(Rule::P2, detail));
            }
        }
        _ => {}
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
