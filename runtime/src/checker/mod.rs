//! The lifecycle checker: rules L1–L10 and P1–P4 of NSPV2_SEMANTICS.md §9–§10, judged from
//! events alone.
//!
//! The checker never looks at the dispatcher: it rebuilds processes, sessions, handles and
//! async calls from the event stream, so it judges any nsptrace v1 file, whoever wrote it.
//! It runs online ([`Checked`], a sink that writes a `violation` line right after the event
//! that broke a rule) and offline ([`check`]). Rules that need the end of the run (L3 "exactly
//! once", L5, L6, L7) are decided at [`Checker::finish`]; for a trace cut short they are
//! reported as not decidable instead.
//!
//! `violation` lines the trace already holds for rules the checker does not compute (P5,
//! written by the dispatcher; `expect`, written by the scheduler) are passed through by
//! [`check`], so a trace re-checks to the list it was recorded with.
//!
//! One rule family per file: [`sessions`] (L1–L5, L9), [`handles`] (L6, L7, P3), [`calls`]
//! (L8, L10, P1, P2, P4); [`state`] is the model they share.

mod calls;
mod handles;
mod sessions;
mod state;

use crate::config::StartupPolicy;
use crate::event::{Event, EventSink, Stamped};
use state::Model;
use std::fmt;

/// A rule the checker names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    L(u8),
    P(u8),
    /// A rule the checker does not compute itself (`expect`, …), passed through.
    Other(String),
}

impl Rule {
    pub fn name(&self) -> String {
        match self {
            Rule::L(n) => format!("L{n}"),
            Rule::P(n) => format!("P{n}"),
            Rule::Other(s) => s.clone(),
        }
    }

    pub fn parse(s: &str) -> Rule {
        let number = |rest: &str| rest.parse::<u8>().ok().filter(|n| (1..=10).contains(n));
        match (
            s.strip_prefix('L').and_then(number),
            s.strip_prefix('P').and_then(number),
        ) {
            (Some(n), _) => Rule::L(n),
            (_, Some(n)) if n <= 5 => Rule::P(n),
            _ => Rule::Other(s.to_string()),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// One broken rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub rule: Rule,
    /// The event that broke it (for end-of-run rules, the last event).
    pub seq: u64,
    /// One sentence naming pids, providers and labels.
    pub detail: String,
}

/// Every rule with a one-line description.
pub fn rules() -> &'static [(&'static str, &'static str)] {
    &[
        (
            "L1",
            "a session's first provider call is NSPv2Startup (unless Startup is absent or a stub)",
        ),
        (
            "L2",
            "every call of a session carries the session argument Startup produced",
        ),
        (
            "L3",
            "a session ends exactly once: one Cleanup or one Rundown",
        ),
        ("L4", "no provider call for a session after it ended"),
        (
            "L5",
            "an abnormal end gets one Rundown per live session after the exit; an orderly last WSACleanup gets Cleanups and no Rundown",
        ),
        (
            "L6",
            "every provider lookup handle is closed by exactly one NSPv2LookupServiceEnd, before its session ends",
        ),
        ("L7", "every async call is completed exactly once"),
        (
            "L8",
            "no provider call reaches a provider that is not advertised and enabled",
        ),
        (
            "L9",
            "NSPv2Startup runs only for a process whose WSAStartup succeeded and is outstanding",
        ),
        (
            "L10",
            "after a process's last WSACleanup, its API calls fail with WSANOTINITIALISED",
        ),
        ("P1", "SOCKET_ERROR comes with a non-zero last error"),
        ("P2", "errors come from the function's documented set"),
        (
            "P3",
            "each hAsyncCall is completed exactly once, and only hAsyncCalls it was given",
        ),
        (
            "P4",
            "a panic or crash inside a provider call (contained, but a provider bug)",
        ),
        (
            "P5",
            "once every session of a provider has ended, it holds no session or lookup state (written by the dispatcher)",
        ),
    ]
}

/// The online checker.
pub struct Checker {
    model: Model,
    undecidable: Vec<String>,
}

impl Checker {
    pub fn new(policy: StartupPolicy) -> Checker {
        Checker {
            model: Model::new(policy == StartupPolicy::PerWsaStartup),
            undecidable: Vec::new(),
        }
    }

    /// Judges one event; returns the rules it broke. `violation` lines are not re-judged.
    pub fn observe(&mut self, s: &Stamped) -> Vec<Violation> {
        self.observe_event(s.seq, &s.event)
    }

    /// [`Checker::observe`] of the event numbered `seq`, for callers that hold the event
    /// unstamped (the online checker, which hands it on without a copy).
    pub fn observe_event(&mut self, seq: u64, event: &Event) -> Vec<Violation> {
        self.model.seq = seq;
        let mut out = Vec::new();
        match event {
            Event::Violation { .. } | Event::End { .. } => {}
            event => {
                self.model.close_aftermath_if(event, &mut out);
                calls::observe(&mut self.model, event, &mut out);
                sessions::observe(&mut self.model, event, &mut out);
                handles::observe(&mut self.model, event, &mut out);
            }
        }
        out
    }

    /// End-of-run rules. For a trace cut short (`complete` false) they are not decidable.
    pub fn finish(&mut self, complete: bool) -> Vec<Violation> {
        if !complete {
            self.undecidable = ["L3", "L5", "L6", "L7"]
                .iter()
                .map(|r| format!("{r} not decidable: the trace ends early"))
                .collect();
            return Vec::new();
        }
        let mut out = Vec::new();
        self.model.close_aftermath(&mut out);
        sessions::finish(&mut self.model, &mut out);
        handles::finish(&mut self.model, &mut out);
        out
    }

    pub fn undecidable(&self) -> &[String] {
        &self.undecidable
    }
}

/// What an offline check found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// In seq order.
    pub violations: Vec<Violation>,
    pub undecidable: Vec<String>,
}

/// Checks recorded events offline. Violation lines already in the trace for rules the checker
/// does not compute (P5, `expect`) are included; the checker's own rules are recomputed (an
/// online run's lines for them are not counted twice).
pub fn check(events: &[Stamped], complete: bool, policy: StartupPolicy) -> Report {
    let mut checker = Checker::new(policy);
    let mut violations = Vec::new();
    for s in events {
        if let Event::Violation { rule, detail } = &s.event {
            let rule = Rule::parse(rule);
            if !computed(&rule) {
                violations.push(Violation {
                    rule,
                    seq: s.seq,
                    detail: detail.clone(),
                });
            }
            continue;
        }
        violations.extend(checker.observe(s));
    }
    violations.extend(checker.finish(complete));
    violations.sort_by_key(|v| v.seq);
    Report {
        violations,
        undecidable: checker.undecidable().to_vec(),
    }
}

/// Rules this checker computes (as opposed to passing through).
fn computed(rule: &Rule) -> bool {
    matches!(rule, Rule::L(_) | Rule::P(1..=4))
}

/// An event sink with the checker attached: every event goes to the inner sink, followed by
/// a `violation` line for each rule it broke.
pub struct Checked<S> {
    inner: S,
    checker: Checker,
    seq: u64,
    violations: u64,
}

impl<S: EventSink> Checked<S> {
    pub fn new(inner: S, policy: StartupPolicy) -> Self {
        Checked {
            inner,
            checker: Checker::new(policy),
            seq: 0,
            violations: 0,
        }
    }

    /// Writes the end-of-run violations (at virtual time `t`).
    pub fn finish(&mut self, t: u64, complete: bool) {
        let found = self.checker.finish(complete);
        for v in found {
            self.emit(t, v);
        }
    }

    /// Violation lines written so far (the checker's and those that passed through).
    pub fn violations(&self) -> u64 {
        self.violations
    }

    pub fn into_inner(self) -> S {
        self.inner
    }

    fn emit(&mut self, t: u64, v: Violation) {
        self.seq += 1;
        self.violations += 1;
        self.inner.record(
            t,
            Event::Violation {
                rule: v.rule.name(),
                detail: v.detail,
            },
        );
    }
}

impl<S: EventSink> EventSink for Checked<S> {
    fn record(&mut self, t: u64, event: Event) {
        let seq = self.seq;
        self.seq += 1;
        if matches!(event, Event::Violation { .. }) {
            self.violations += 1;
        }
        let found = self.checker.observe_event(seq, &event);
        self.inner.record(t, event);
        for v in found {
            self.emit(t, v);
        }
    }

    /// The checker needs every event, even when the inner sink discards them.
    fn enabled(&self) -> bool {
        true
    }

    fn failed(&self) -> bool {
        self.violations > 0 || self.inner.failed()
    }

    /// No rule is judged by `args`, `result` or names: whether they are built is the inner
    /// sink's call.
    fn wants_details(&self) -> bool {
        self.inner.wants_details()
    }
}

#[cfg(test)]
mod tests;
