//! Where `violation` lines are made: every one, whoever judged the rule, goes through
//! [`Verdict::into_event`], so its rule name and wording have one home.
//!
//! Besides the checker's own findings, two rules are judged by the run, not from events (see
//! [`Decided::ByTheRun`](super::Decided::ByTheRun)), and their verdicts are made here too:
//! P5 ([`held_state_violation`], called by the dispatcher when a provider's last session ends)
//! and a scenario's `expect` steps ([`expect_violation`], called by the sim and live runners)
//! and `expect_calls` ([`expect_calls_violations`], at the end of a sim or live run).

use super::Rule;
use crate::event::{Event, Pid, Tid};
use crate::provider::{HeldState, NspFn};
use crate::scenario::{ExpectErr, Expectation, ExpectedResult, ProviderSpec, Scenario};
use crate::wsa::{Guid, WsaError};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// A broken rule as its `violation` line states it, before it is recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub rule: Rule,
    /// One sentence naming pids, providers and labels.
    pub detail: String,
}

impl Verdict {
    pub fn new(rule: Rule, detail: String) -> Verdict {
        Verdict { rule, detail }
    }

    /// The `violation` event: the only place one is made.
    pub fn into_event(self) -> Event {
        let rule = match self.rule {
            Rule::Other(id) => id,
            known => known.name().to_string(),
        };
        Event::Violation {
            rule,
            detail: self.detail,
        }
    }
}

/// One broken rule, found in a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub rule: Rule,
    /// The event that broke it (for end-of-run rules, the last event).
    pub seq: u64,
    /// One sentence naming pids, providers and labels.
    pub detail: String,
}

impl Violation {
    /// What its `violation` line states.
    pub fn verdict(self) -> Verdict {
        Verdict::new(self.rule, self.detail)
    }
}

/// P5: `provider`'s last session has ended and it reports holding `held`. A provider that
/// cannot report its state is not judged (the dispatcher does not call this for it).
///
/// The dispatcher's `audit_held_state` writes the line this returns.
pub fn held_state_violation(provider: Guid, held: HeldState) -> Option<Verdict> {
    if held.sessions == 0 && held.lookups == 0 {
        return None;
    }
    Some(Verdict::new(
        Rule::P5,
        format!(
            "provider {provider} still holds {} session(s) and {} lookup handle(s) after its last session ended",
            held.sessions, held.lookups
        ),
    ))
}

/// A scenario thread's `expect` step: where it stands and what it asks of the step before it.
#[derive(Clone, Copy, Debug)]
pub struct ExpectStep<'a> {
    pub pid: Pid,
    /// The process's name in the scenario.
    pub process: &'a str,
    pub tid: Tid,
    /// The step's number in its thread's script, from 1.
    pub step: usize,
    /// What it asks.
    pub expect: &'a Expectation,
    /// The scenario's providers, to name them in the detail.
    pub providers: &'a [ProviderSpec],
}

/// One result a lookup step got: what `results` of an `expect` is judged against.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    pub name: Option<String>,
    pub addrs: Vec<SocketAddr>,
    /// The provider that answered, if the run could tell.
    pub provider: Option<Guid>,
}

/// What the step before an `expect` gave back.
#[derive(Clone, Copy, Debug)]
pub struct Got<'a> {
    /// `None`: success.
    pub err: Option<WsaError>,
    pub ret: i64,
    /// The version a `startup` negotiated.
    pub version: Option<(u8, u8)>,
    /// The length a WSAEFAULT wrote back.
    pub required: Option<u32>,
    /// The results of a `lookup` or `lookup_next` (empty for any other step).
    pub results: &'a [Answer],
}

fn show_err(e: Option<WsaError>) -> String {
    e.map_or("success".to_string(), |e| e.to_string())
}

fn show_expected_err(e: &ExpectErr) -> String {
    match e {
        ExpectErr::Is(e) => show_err(*e),
        ExpectErr::OneOf(list) => {
            let names: Vec<String> = list.iter().map(|e| show_err(*e)).collect();
            format!("one of {}", names.join(", "))
        }
        ExpectErr::AnyFailure => "any failure".to_string(),
    }
}

fn provider_name(providers: &[ProviderSpec], id: Guid) -> String {
    providers
        .iter()
        .find(|p| p.id == id)
        .map_or_else(|| id.to_string(), |p| format!("\"{}\"", p.name))
}

fn show_addrs(addrs: &[SocketAddr]) -> String {
    let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    format!("[{}]", list.join(", "))
}

fn show_expected_result(r: &ExpectedResult, providers: &[ProviderSpec]) -> String {
    let mut parts = Vec::new();
    if let Some(n) = &r.name {
        parts.push(format!("name \"{n}\""));
    }
    if let Some(a) = &r.addrs {
        parts.push(format!("addrs {}", show_addrs(a)));
    }
    if let Some(p) = r.provider {
        parts.push(format!("from {}", provider_name(providers, p)));
    }
    if parts.is_empty() {
        "any result".to_string()
    } else {
        parts.join(" ")
    }
}

fn show_answer(a: &Answer, providers: &[ProviderSpec]) -> String {
    let mut parts = Vec::new();
    match &a.name {
        Some(n) => parts.push(format!("name \"{n}\"")),
        None => parts.push("no name".to_string()),
    }
    parts.push(format!("addrs {}", show_addrs(&a.addrs)));
    match a.provider {
        Some(p) => parts.push(format!("from {}", provider_name(providers, p))),
        None => parts.push("from an unknown provider".to_string()),
    }
    parts.join(" ")
}

/// Whether `got` is what `want` describes: every field `want` gives matches.
fn result_matches(want: &ExpectedResult, got: &Answer) -> bool {
    want.name
        .as_ref()
        .is_none_or(|n| got.name.as_ref() == Some(n))
        && want.addrs.as_ref().is_none_or(|a| *a == got.addrs)
        && want.provider.is_none_or(|p| got.provider == Some(p))
}

/// `expect`: judges `step` against what the step before it gave back.
pub fn expect_violation(step: &ExpectStep<'_>, got: &Got<'_>) -> Option<Verdict> {
    let x = step.expect;
    let err_ok = x.err.accepts(got.err);
    let ret_ok = x.ret.is_none_or(|r| r == got.ret);
    let version_ok = x.version.is_none_or(|v| got.version == Some(v));
    let required_ok = x.required.is_none_or(|n| got.required == Some(n));
    let results_ok = x.results.as_ref().is_none_or(|want| {
        want.len() == got.results.len()
            && want
                .iter()
                .zip(got.results)
                .all(|(w, g)| result_matches(w, g))
    });
    if err_ok && ret_ok && version_ok && required_ok && results_ok {
        return None;
    }
    // Version 1's wording ("X with ret R, got Y with ret R"), then each part asked after " and ".
    let mut expected = show_expected_err(&x.err);
    if let Some(r) = x.ret {
        expected.push_str(&format!(" with ret {r}"));
    }
    let mut actual = format!("{} with ret {}", show_err(got.err), got.ret);
    let mut also = |want: String, have: String| {
        expected.push_str(" and ");
        expected.push_str(&want);
        actual.push_str(" and ");
        actual.push_str(&have);
    };
    if let Some((a, b)) = x.version {
        let have = match got.version {
            Some((a, b)) => format!("version {a}.{b}"),
            None => "no version".to_string(),
        };
        also(format!("version {a}.{b}"), have);
    }
    if let Some(n) = x.required {
        let have = match got.required {
            Some(n) => format!("required {n}"),
            None => "no length written back".to_string(),
        };
        also(format!("required {n}"), have);
    }
    if let Some(want) = &x.results {
        let list: Vec<String> = want
            .iter()
            .map(|r| show_expected_result(r, step.providers))
            .collect();
        let want_text = format!("{} result(s) [{}]", want.len(), list.join("; "));
        let list: Vec<String> = got
            .results
            .iter()
            .map(|a| show_answer(a, step.providers))
            .collect();
        also(
            want_text,
            format!("{} result(s) [{}]", got.results.len(), list.join("; ")),
        );
    }
    let detail = format!(
        "pid {} ({}) thread {} step {}: expected {expected}, got {actual}",
        step.pid.0, step.process, step.tid.0, step.step,
    );
    Some(Verdict::new(Rule::Expect, detail))
}

/// A step that could not be made as the scenario wrote it (`buffer = "required"` with no
/// length written back yet): a scenario failure, reported as `expect` is.
pub fn step_not_run_violation(
    pid: Pid,
    process: &str,
    tid: Tid,
    step: usize,
    reason: &str,
) -> Verdict {
    Verdict::new(
        Rule::Expect,
        format!(
            "pid {} ({process}) thread {} step {step}: not run: {reason}",
            pid.0, tid.0
        ),
    )
}

/// `nsp.call` events counted per provider, function and client pid: what `expect_calls` is
/// judged against. Event-only, so it counts the same online and over a recorded trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallCounts {
    counts: BTreeMap<(Guid, &'static str, u32), u64>,
}

impl CallCounts {
    pub fn observe(&mut self, event: &Event) {
        if let Event::NspCall {
            provider,
            func,
            pid,
            ..
        } = event
        {
            *self
                .counts
                .entry((*provider, func.name(), pid.0))
                .or_insert(0) += 1;
        }
    }

    /// Calls of `func` that reached `provider`, serving `pid` only if given.
    pub fn count(&self, provider: Guid, func: NspFn, pid: Option<Pid>) -> u64 {
        self.counts
            .range((provider, func.name(), 0)..=(provider, func.name(), u32::MAX))
            .filter(|((_, _, p), _)| pid.is_none_or(|want| want.0 == *p))
            .map(|(_, n)| *n)
            .sum()
    }
}

/// `expect_calls` (the scenario's, at the end of a run): one verdict per entry whose count
/// does not hold. `pid_of` maps a process name to its pid (`None`: it never started, so it
/// was served no call).
pub fn expect_calls_violations(
    scenario: &Scenario,
    counts: &CallCounts,
    pid_of: impl Fn(&str) -> Option<Pid>,
) -> Vec<Verdict> {
    let mut out = Vec::new();
    for (i, x) in scenario.expect_calls.iter().enumerate() {
        let (got, whom) = match &x.process {
            None => (counts.count(x.provider, x.func, None), String::new()),
            Some(name) => match pid_of(name) {
                Some(pid) => (
                    counts.count(x.provider, x.func, Some(pid)),
                    format!(" serving pid {} ({name})", pid.0),
                ),
                None => (0, format!(" serving {name}, which never started")),
            },
        };
        if x.count.accepts(got) {
            continue;
        }
        out.push(Verdict::new(
            Rule::Expect,
            format!(
                "expect_calls entry {}: expected {} {} call(s) to provider {}{whom}, got {got}",
                i + 1,
                x.count,
                x.func.name(),
                provider_name(&scenario.providers, x.provider),
            ),
        ));
    }
    out
}
