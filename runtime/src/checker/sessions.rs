//! Session rules: L1 (Startup first), L2 (the argument Startup produced), L3 (exactly one
//! end), L4 (nothing after the end), L5 (Rundown after an abnormal end, Cleanup after an
//! orderly one), L9 (Startup only while WSAStartup is outstanding). A session that ends by a
//! call with provider lookup handles still open breaks L6, judged here at that moment.
//!
//! Session arguments need not be unique: two null sessions (stub Startups under
//! `per-wsastartup`) or a provider returning one context twice give live sessions with equal
//! labels. A Cleanup or Rundown is then matched to the one that makes it legal (see
//! `ending_session`), since the trace cannot say which one the dispatcher meant.
//!
//! The handlers of api.return and nsp.return first test a predicate (`moves_count`,
//! `opens_session`); the checker skips judging an event of those kinds when every family's
//! predicate says it changes nothing (`quiet` in `checker/mod.rs`). A new condition on those
//! kinds belongs in the predicate, not beside it.

use super::state::{Aftermath, Ended, Model, label_text};
use super::{Rule, Violation};
use crate::event::{ApiFn, ExitHow, Label, Pid};
use crate::provider::NspFn;
use crate::wsa::{Guid, WsaError};
use smallvec::SmallVec;

/// `process.start`: the process gets its record.
pub(super) fn process_start(m: &mut Model, pid: Pid) {
    m.process(pid);
}

/// `process.exit`: after an abnormal end, its live sessions are owed a Rundown (L5), or end
/// silently when their provider cannot give one.
pub(super) fn process_exit(m: &mut Model, pid: Pid, how: ExitHow) {
    if !m.exit(pid, how) {
        return;
    }
    let mut live = m.sessions_of_pid(pid);
    live.retain(|i| m.sessions[*i].ended.is_none());
    let mut owed = Vec::new();
    let mut silent = Vec::new();
    for i in live {
        let provider = m.sessions[i].provider;
        if m.reachable(provider) && m.has(provider, NspFn::ClientSessionRundown) {
            owed.push(i);
        } else {
            // An absent Rundown (S1.3) or a gone provider (S3.4): it ends without a
            // call, after its handles are closed.
            silent.push(i);
        }
    }
    m.aftermath = Some(Aftermath {
        pid,
        exit_seq: m.seq,
        owed,
        silent,
    });
}

/// `api.return`: a successful WSAStartup or WSACleanup moves the process's count; a
/// WSACleanup then ends the sessions the policy no longer covers.
#[inline]
pub(super) fn api_return(m: &mut Model, pid: Pid, call: ApiFn, ret: i32, out: &mut Vec<Violation>) {
    if !moves_count(call, ret) {
        return;
    }
    match call {
        ApiFn::WSAStartup => m.process(pid).startups += 1,
        ApiFn::WSACleanup => {
            let p = m.process(pid);
            p.startups = p.startups.saturating_sub(1);
            let remaining = p.startups as usize;
            after_cleanup(m, pid, remaining, out);
        }
        _ => {}
    }
}

/// Whether an `api.return` moves its process's WSAStartup count: a successful WSAStartup or
/// WSACleanup.
#[inline]
pub(super) fn moves_count(call: ApiFn, ret: i32) -> bool {
    ret == 0 && matches!(call, ApiFn::WSAStartup | ApiFn::WSACleanup)
}

/// `nsp.call`: Startup only while WSAStartup is outstanding (L9); Begin and SetServiceEx
/// through the live session; Cleanup and Rundown end one.
#[inline]
pub(super) fn nsp_call(
    m: &mut Model,
    provider: Guid,
    func: NspFn,
    pid: Pid,
    session: Option<Label>,
    out: &mut Vec<Violation>,
) {
    match func {
        NspFn::Startup => startup_call(m, provider, pid, out),
        NspFn::LookupServiceBegin | NspFn::SetServiceEx => {
            session_call(m, pid, provider, func, session, out)
        }
        NspFn::Cleanup | NspFn::ClientSessionRundown => {
            session_end(m, pid, provider, func, session, out)
        }
        NspFn::LookupServiceNextEx | NspFn::LookupServiceEnd => {}
    }
}

/// L9: NSPv2Startup only for a live process with a WSAStartup outstanding.
fn startup_call(m: &mut Model, provider: Guid, pid: Pid, out: &mut Vec<Violation>) {
    let p = m.process(pid);
    if !p.alive || p.startups == 0 {
        let detail = format!(
            "provider {provider} got NSPv2Startup for pid {} while it has no WSAStartup outstanding",
            pid.0
        );
        out.push(m.violation(Rule::L9, detail));
    }
}

/// `nsp.return`: a successful Startup (or a stub one, EOPNOTSUPP) opens a session.
#[inline]
pub(super) fn nsp_return(
    m: &mut Model,
    provider: Guid,
    func: NspFn,
    pid: Pid,
    ret: Option<i32>,
    err: u32,
    session: Option<Option<Label>>,
) {
    if !opens_session(func) {
        return;
    }
    let stub = ret == Some(-1) && err == WsaError::EOPNOTSUPP.code();
    if ret == Some(0) || stub {
        let label = if stub { None } else { session.flatten() };
        m.open_session(pid, provider, label);
    }
}

/// Whether an `nsp.return` of `func` may open a session.
#[inline]
pub(super) fn opens_session(func: NspFn) -> bool {
    func == NspFn::Startup
}

/// Begin / SetServiceEx: the session must be live and carry its own argument (L1, L2, L4).
fn session_call(
    m: &mut Model,
    pid: Pid,
    provider: Guid,
    func: NspFn,
    label: Option<Label>,
    out: &mut Vec<Violation>,
) {
    let Some(newest) = m.newest_live(pid, provider) else {
        if !m.has(provider, NspFn::Startup) {
            // S1.3: no Startup slot, so the session opens with this call and a null argument.
            m.open_session(pid, provider, None);
            if label.is_some() {
                let detail = format!(
                    "provider {provider} got {func} for pid {} with session {} although it has no Startup to produce one",
                    pid.0,
                    label_text(label)
                );
                out.push(m.violation(Rule::L2, detail));
            }
            return;
        }
        match ended_with(m, pid, provider, label) {
            Some(ended) => {
                let detail = format!(
                    "provider {provider} got {func} for session {} of pid {} after that session {}",
                    label_text(label),
                    pid.0,
                    ended.describe()
                );
                out.push(m.violation(Rule::L4, detail));
            }
            None => {
                let detail = format!(
                    "provider {provider} got {func} for pid {} before any NSPv2Startup opened a session",
                    pid.0
                );
                out.push(m.violation(Rule::L1, detail));
            }
        }
        return;
    };
    let expected = m.sessions[newest].label;
    if label != expected {
        let detail = format!(
            "provider {provider} got {func} for pid {} with session {}, but the session Startup produced is {}",
            pid.0,
            label_text(label),
            label_text(expected)
        );
        out.push(m.violation(Rule::L2, detail));
    }
}

/// The most recent ended session of (pid, provider) with this label, if any.
fn ended_with(m: &Model, pid: Pid, provider: Guid, label: Option<Label>) -> Option<Ended> {
    m.sessions_of(pid, provider)
        .iter()
        .rev()
        .map(|i| &m.sessions[*i])
        .find(|s| s.label == label && s.ended.is_some())
        .and_then(|s| s.ended)
}

/// The live session of (pid, provider) that a Cleanup or Rundown carrying `label` ends.
///
/// A label names one session, except when several live sessions share one: under
/// `per-wsastartup` two stub Startups both open a null session, and a provider may return the
/// same context from two Startups. The trace cannot say which of those the dispatcher meant,
/// so the checker takes the one that makes the call legal, and judges a violation only when
/// none does: a retiring session whose handles are all closed (S4.6 ends it now), else the
/// newest one without open provider lookup handles (S4.8 closes a session's handles before it
/// ends; S4.6 ends the newest idle one), else the newest one.
fn ending_session(m: &Model, pid: Pid, provider: Guid, label: Option<Label>) -> Option<usize> {
    let same = || {
        m.live_iter(pid, provider)
            .rev()
            .filter(move |i| m.sessions[*i].label == label)
    };
    let mut candidates = same();
    let newest = candidates.next()?;
    if candidates.next().is_none() {
        // The usual case, one live session with that label: every choice below picks it.
        return Some(newest);
    }
    let idle = |i: &usize| !m.has_open_handles(*i);
    same()
        .find(|i| m.sessions[*i].retiring && idle(i))
        .or_else(|| same().find(idle))
        .or_else(|| same().next())
}

/// Cleanup / Rundown: ends exactly one live session, the right way (L3, L5, L6).
fn session_end(
    m: &mut Model,
    pid: Pid,
    provider: Guid,
    func: NspFn,
    label: Option<Label>,
    out: &mut Vec<Violation>,
) {
    let Some(i) = ending_session(m, pid, provider, label) else {
        let detail = match ended_with(m, pid, provider, label) {
            Some(ended) => format!(
                "provider {provider} got {func} for session {} of pid {}, which already {}",
                label_text(label),
                pid.0,
                ended.describe()
            ),
            None => format!(
                "provider {provider} got {func} for session {} of pid {}, which no NSPv2Startup produced",
                label_text(label),
                pid.0
            ),
        };
        let rule = if ended_with(m, pid, provider, label).is_some() {
            Rule::L3
        } else {
            Rule::L2
        };
        out.push(m.violation(rule, detail));
        return;
    };
    let p = m.process(pid);
    let (alive, abnormal) = (p.alive, p.abnormal);
    if func == NspFn::Cleanup && abnormal {
        let detail = format!(
            "provider {provider} got NSPv2Cleanup for session {} of pid {}, which ended abnormally (it is owed a Rundown)",
            label_text(label),
            pid.0
        );
        out.push(m.violation(Rule::L5, detail));
    }
    if func == NspFn::ClientSessionRundown && (alive || !abnormal) {
        let detail = format!(
            "provider {provider} got NSPv2ClientSessionRundown for session {} of pid {}, which did not end abnormally",
            label_text(label),
            pid.0
        );
        out.push(m.violation(Rule::L5, detail));
    }
    // Usually none is open: asking costs less than collecting them.
    if m.has_open_handles(i) {
        for h in m.open_handles(i) {
            let detail = format!(
                "provider lookup handle {h} of session {} (pid {}, provider {provider}) was still open when {func} ended the session",
                label_text(label),
                pid.0
            );
            out.push(m.violation(Rule::L6, detail));
        }
    }
    let how = if func == NspFn::Cleanup {
        Ended::Cleanup(m.seq)
    } else {
        Ended::Rundown(m.seq)
    };
    m.end_session(i, how);
}

/// After a successful WSACleanup: the sessions the policy no longer covers must have ended
/// during the call (S4.6), or end here when the provider has no Cleanup (S1.3). The final
/// WSACleanup ends every session. Under `per-wsastartup` a non-final one leaves at most as
/// many non-retiring sessions per provider as WSAStartups outstanding: an excess session
/// without open provider lookup handles must have got its Cleanup; when every one has open
/// handles, the newest becomes retiring, as the dispatcher does.
fn after_cleanup(m: &mut Model, pid: Pid, remaining: usize, out: &mut Vec<Violation>) {
    if !m.per_wsastartup && remaining > 0 {
        return;
    }
    // The process's sessions are kept by provider, each provider once. Usually every one has
    // ended (by the NSPv2Cleanups the WSACleanup made): then there is nothing to collect.
    let mut providers: SmallVec<[Guid; 4]> = SmallVec::new();
    for (provider, of) in m.processes.get(&pid).map_or(&[][..], |p| &p.sessions[..]) {
        if of.iter().any(|i| m.sessions[*i].ended.is_none()) {
            providers.push(*provider);
        }
    }
    providers.sort();
    for provider in providers {
        if remaining == 0 {
            let live = m.live(pid, provider);
            for &i in live.iter().rev() {
                owed_cleanup(m, pid, provider, i, out);
            }
            continue;
        }
        loop {
            let live: Vec<usize> = m
                .live_iter(pid, provider)
                .filter(|i| !m.sessions[*i].retiring)
                .collect();
            if live.len() <= remaining {
                break;
            }
            let idle = live.iter().rev().copied().find(|i| !m.has_open_handles(*i));
            match idle {
                Some(i) => owed_cleanup(m, pid, provider, i, out),
                None => {
                    let newest = *live.last().expect("more sessions than WSAStartups");
                    m.sessions[newest].retiring = true;
                }
            }
        }
    }
}

/// A session that should have got its NSPv2Cleanup by now: L5 if it did not and could have;
/// either way it has ended for the model.
fn owed_cleanup(m: &mut Model, pid: Pid, provider: Guid, i: usize, out: &mut Vec<Violation>) {
    if m.reachable(provider) && m.has(provider, NspFn::Cleanup) {
        m.sessions[i].reported = true;
        let detail = format!(
            "pid {}'s WSACleanup left session {} with provider {provider} without NSPv2Cleanup",
            pid.0,
            label_text(m.sessions[i].label)
        );
        out.push(m.violation(Rule::L5, detail));
    }
    m.end_session(i, Ended::Silently(m.seq));
}

/// S4.6: a retiring session whose last handle was just closed ends; without a Cleanup slot
/// (S1.3) it ends here, without a call.
pub(super) fn after_handle_closed(m: &mut Model, session: usize) {
    let Some(s) = m.sessions.get(session) else {
        return;
    };
    if s.retiring
        && s.ended.is_none()
        && !m.has(s.provider, NspFn::Cleanup)
        && !m.has_open_handles(session)
    {
        m.end_session(session, Ended::Silently(m.seq));
    }
}

/// L3 at the end: sessions of ended processes that never ended, provider still reachable.
pub(super) fn finish(m: &mut Model, out: &mut Vec<Violation>) {
    let mut found = Vec::new();
    for s in &m.sessions {
        let exited = m.processes.get(&s.pid).is_some_and(|p| p.exited);
        if s.ended.is_none() && !s.reported && exited && m.reachable(s.provider) {
            found.push(format!(
                "session {} of pid {} with provider {} never ended: no NSPv2Cleanup and no NSPv2ClientSessionRundown",
                label_text(s.label),
                s.pid.0,
                s.provider
            ));
        }
    }
    for detail in found {
        out.push(m.violation(Rule::L3, detail));
    }
}
