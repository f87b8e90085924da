//! Call rules: L8 (only advertised, enabled providers get calls), L10 (calls outside WSAStartup
//! fail with WSANOTINITIALISED), P1 (SOCKET_ERROR with a last error), P2 (documented errors),
//! P4 (contained panics). Also keeps provider reachability, which the other families read.

use super::state::Model;
use super::{Rule, Violation};
use crate::event::{ApiFn, Event};
use crate::wsa::WsaError;

pub(super) fn observe(m: &mut Model, event: &Event, out: &mut Vec<Violation>) {
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
        Event::NspCall {
            provider,
            func,
            pid,
            ..
        } if !m.reachable(*provider) => {
            let why = match m.providers.get(provider) {
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
        Event::NspReturn {
            provider,
            func,
            pid,
            ret: Some(-1),
            err,
            ..
        } => {
            let after_fault = std::mem::take(&mut m.faulted_call);
            match WsaError::from_code(*err) {
                None if !after_fault => {
                    let detail = format!(
                        "provider {provider} returned SOCKET_ERROR from {func} (pid {}) without setting a last error",
                        pid.0
                    );
                    out.push(m.violation(Rule::P1, detail));
                }
                Some(e) if !after_fault && !func.documented_errors().contains(&e) => {
                    let detail = format!(
                        "provider {provider} failed {func} (pid {}) with {e}, which is not among the errors that function may report",
                        pid.0
                    );
                    out.push(m.violation(Rule::P2, detail));
                }
                _ => {}
            }
        }
        Event::NspReturn { .. } => m.faulted_call = false,
        Event::Fault {
            provider,
            func,
            kind,
            detail,
        } => {
            m.faulted_call = true;
            let detail = format!(
                "provider {provider} {} in {func} (contained; the provider is unadvertised): {detail}",
                match kind.name() {
                    "panic" => "panicked",
                    "crash" => "crashed",
                    _ => "timed out",
                }
            );
            out.push(m.violation(Rule::P4, detail));
        }
        Event::ApiCall { pid, tid, call, .. } => {
            let started = m.processes.get(pid).is_some_and(|p| p.startups > 0);
            if *call != ApiFn::WSAStartup && !started {
                m.uninitialised_calls.insert((*pid, *tid), *call);
            }
        }
        Event::ApiReturn {
            pid,
            tid,
            call,
            ret,
            err,
            ..
        } if m.uninitialised_calls.get(&(*pid, *tid)) == Some(call) => {
            m.uninitialised_calls.remove(&(*pid, *tid));
            if !(*ret == -1 && *err == WsaError::NOTINITIALISED.code()) {
                let detail = format!(
                    "pid {} called {} with no WSAStartup outstanding and got ret {ret}, err {err} instead of WSANOTINITIALISED",
                    pid.0,
                    call.name()
                );
                out.push(m.violation(Rule::L10, detail));
            }
        }
        _ => {}
    }
}
