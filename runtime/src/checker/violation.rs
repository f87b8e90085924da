//! Where `violation` lines are made: every one, whoever judged the rule, goes through
//! [`Verdict::into_event`], so its rule name and wording have one home.
//!
//! Besides the checker's own findings, two rules are judged by the run, not from events (see
//! [`Decided::ByTheRun`](super::Decided::ByTheRun)), and their verdicts are made here too:
//! P5 ([`held_state_violation`], called by the dispatcher when a provider's last session ends)
//! and a scenario's `expect` steps ([`expect_violation`], called by the sim and live runners).

use super::Rule;
use crate::event::{Event, Pid, Tid};
use crate::provider::HeldState;
use crate::wsa::{Guid, WsaError};

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
    /// The error expected (`None`: success).
    pub err: Option<WsaError>,
    /// The return value expected, if the step names one.
    pub ret: Option<i64>,
}

/// `expect`: judges `step` against the outcome of the step before it (`got_err`, `got_ret`).
pub fn expect_violation(
    step: &ExpectStep<'_>,
    got_err: Option<WsaError>,
    got_ret: i64,
) -> Option<Verdict> {
    if got_err == step.err && step.ret.is_none_or(|r| r == got_ret) {
        return None;
    }
    let show = |e: Option<WsaError>| e.map_or("success".to_string(), |e| e.to_string());
    let mut detail = format!(
        "pid {} ({}) thread {} step {}: expected {}",
        step.pid.0,
        step.process,
        step.tid.0,
        step.step,
        show(step.err)
    );
    if let Some(r) = step.ret {
        detail.push_str(&format!(" with ret {r}"));
    }
    detail.push_str(&format!(", got {} with ret {got_ret}", show(got_err)));
    Some(Verdict::new(Rule::Expect, detail))
}
