//! The lifecycle checker: rules L1–L10 and P1–P4 of docs/semantics.md §9–§10, judged from
//! events alone, and the home of every rule and every `violation` line.
//!
//! The checker never looks at the dispatcher: it rebuilds processes, sessions, handles and
//! async calls from the event stream, so it judges any nsptrace v1 file, whoever wrote it.
//! It runs online ([`Checked`], a sink that writes a `violation` line right after the event
//! that broke a rule) and offline ([`check`]). Rules that need the end of the run (those the
//! table marks [`Decided::AtEnd`]: L3 "exactly once", L5, L6, L7) are decided at
//! [`Checker::finish`]; for a trace cut short they are reported as not decidable instead.
//!
//! Every rule is one row of the table ([`RULES`], file `rules.rs`); [`Rule`], its parsing, the
//! listing ([`rules`]), the rules computed here and the undecidable ones derive from it.
//!
//! Every `violation` line is made by [`Verdict::into_event`] (file `violation.rs`), whoever
//! judged the rule. Rules the run judges instead of the checker ([`Decided::ByTheRun`]) get
//! their verdicts there too: P5 from [`held_state_violation`] (the dispatcher, from what a
//! provider reports it holds), `expect` from [`expect_violation`] (the sim and live runners).
//! Their lines, and lines naming a rule the table does not know ([`Rule::Other`]), are passed
//! through by [`check`], so a trace re-checks to the list it was recorded with.
//!
//! One rule family per file: [`sessions`] (L1–L5, L9), [`handles`] (L6, L7, P3), [`calls`]
//! (L8, L10, P1, P2, P4); [`state`] is the model they share. Each event is matched once, here
//! ([`judge`]), and handed only to the families that judge its kind.

mod calls;
mod handles;
mod rules;
mod sessions;
mod state;
mod violation;

pub use rules::{Decided, Family, RULES, Rule, RuleSpec, decided_at_end, rules};
pub use violation::{
    Answer, CallCounts, ExpectStep, Got, Verdict, Violation, expect_calls_violations,
    expect_violation, held_state_violation, step_not_run_violation,
};

use crate::config::StartupPolicy;
use crate::event::{Event, EventSink, Stamped};
use state::Model;

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

    /// Back to a checker that has seen nothing, under `policy`, keeping the room its model
    /// grew: judges a new run exactly as [`Checker::new`] would, without its allocations.
    pub fn reset(&mut self, policy: StartupPolicy) {
        // Every field named, so that a field added later cannot be left out of the reset.
        let Checker { model, undecidable } = self;
        model.reset(policy == StartupPolicy::PerWsaStartup);
        undecidable.clear();
    }

    /// Judges one event; returns the rules it broke. `violation` lines are not re-judged.
    pub fn observe(&mut self, s: &Stamped) -> Vec<Violation> {
        self.observe_event(s.seq, &s.event)
    }

    /// [`Checker::observe`] of the event numbered `seq`, for callers that hold the event
    /// unstamped (the online checker, which hands it on without a copy).
    pub fn observe_event(&mut self, seq: u64, event: &Event) -> Vec<Violation> {
        let mut out = Vec::new();
        self.observe_into(seq, event, &mut out);
        out
    }

    /// [`Checker::observe_event`], appending the rules broken to `out`: the online checker
    /// keeps one buffer for a run, so an event that breaks nothing costs no vector.
    #[inline(always)]
    pub fn observe_into(&mut self, seq: u64, event: &Event, out: &mut Vec<Violation>) {
        // Always: the end of the run judges at the last event's seq.
        self.model.seq = seq;
        if !quiet(&self.model, event) {
            judge(&mut self.model, event, out);
        }
    }

    /// End-of-run rules. For a trace cut short (`complete` false) they are not decidable.
    pub fn finish(&mut self, complete: bool) -> Vec<Violation> {
        if !complete {
            self.undecidable = decided_at_end()
                .map(|r| format!("{} not decidable: the trace ends early", r.id))
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

/// Whether `event` changes nothing in the model and breaks no rule, which holds for most
/// events: then the sink that records it need not call [`judge`], whose entry and exit (saving
/// and restoring registers for every family's code) cost more than judging such an event.
/// Each family says so with the predicate its handler tests first, so the two cannot disagree.
#[inline(always)]
fn quiet(m: &Model, event: &Event) -> bool {
    match event {
        // An api.call would close an aftermath (L5).
        Event::ApiCall { pid, call, .. } => {
            m.aftermath.is_none() && !calls::uninitialised(m, *pid, *call)
        }
        Event::ApiReturn { call, ret, .. } => {
            !calls::judges_api_returns(m) && !sessions::moves_count(*call, *ret)
        }
        Event::NspReturn {
            func, ret, lookup, ..
        } => {
            // A fault's flag is cleared by the return that follows it.
            !m.faulted_call
                && !calls::judges_return(*ret, false)
                && !sessions::opens_session(*func)
                && handles::opened_handle(*func, *lookup).is_none()
        }
        _ => false,
    }
}

/// Hands one event to the families that judge its kind, in the order they always judged it
/// (the close of an abnormal exit's aftermath, then calls, sessions, handles), so an event's
/// violations come out in the same order. One match per event, and a family sees only the
/// kinds it judges: the checker runs for every event of every exploration run.
#[inline(never)]
fn judge(m: &mut Model, event: &Event, out: &mut Vec<Violation>) {
    match event {
        Event::ApiCall { pid, tid, call, .. } => {
            m.close_aftermath(out);
            calls::api_call(m, *pid, *tid, *call);
        }
        Event::ApiReturn {
            pid,
            tid,
            call,
            ret,
            err,
            ..
        } => {
            calls::api_return(m, *pid, *tid, *call, *ret, *err, out);
            sessions::api_return(m, *pid, *call, *ret, out);
        }
        Event::NspCall {
            provider,
            func,
            pid,
            session,
            lookup,
            async_call,
            ..
        } => {
            calls::nsp_call(m, *provider, *func, *pid, out);
            sessions::nsp_call(m, *provider, *func, *pid, *session, out);
            handles::nsp_call(m, *provider, *func, *pid, *lookup, *async_call, out);
        }
        Event::NspReturn {
            provider,
            func,
            pid,
            ret,
            err,
            session,
            lookup,
        } => {
            calls::nsp_return(m, *provider, *func, *pid, *ret, *err, out);
            sessions::nsp_return(m, *provider, *func, *pid, *ret, *err, *session);
            handles::nsp_return(m, *provider, *func, *pid, *lookup);
        }
        Event::AsyncComplete {
            provider,
            async_call,
            err,
            outcome,
        } => handles::async_complete(m, *provider, *async_call, *err, *outcome, out),
        Event::Fault {
            provider,
            func,
            kind,
            detail,
        } => calls::fault(m, *provider, *func, *kind, detail, out),
        Event::ProcessStart { pid, .. } => {
            m.close_aftermath(out);
            sessions::process_start(m, *pid);
        }
        Event::ProcessExit { pid, how } => {
            // Another process's exit starts something new; the same one's does not.
            if m.aftermath.as_ref().is_some_and(|a| a.pid != *pid) {
                m.close_aftermath(out);
            }
            sessions::process_exit(m, *pid, *how);
        }
        Event::CatalogInstall { .. }
        | Event::CatalogUninstall { .. }
        | Event::CatalogEnable { .. }
        | Event::ProviderAdvertise { .. } => {
            m.close_aftermath(out);
            calls::catalog(m, event);
        }
        // It ends something rather than starting it: the aftermath stays open.
        Event::ProviderUnadvertise { .. } => calls::catalog(m, event),
        Event::Violation { .. } | Event::End { .. } => {}
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
            if !rule.computed() {
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

/// An event sink with the checker attached: every event goes to the inner sink, followed by
/// a `violation` line for each rule it broke.
pub struct Checked<S> {
    inner: S,
    checker: Checker,
    seq: u64,
    violations: u64,
    /// What the event being recorded broke: one buffer for the run (usually empty).
    found: Vec<Violation>,
}

impl<S: EventSink> Checked<S> {
    pub fn new(inner: S, policy: StartupPolicy) -> Self {
        Self::with_checker(inner, Checker::new(policy), policy)
    }

    /// [`Checked::new`] over a checker used before (reset here), so a run of many short runs
    /// reuses one model's room; [`Checked::into_parts`] gives the checker back.
    pub fn with_checker(inner: S, mut checker: Checker, policy: StartupPolicy) -> Self {
        checker.reset(policy);
        Checked {
            inner,
            checker,
            seq: 0,
            violations: 0,
            found: Vec::new(),
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

    /// The inner sink, and the checker for [`Checked::with_checker`].
    pub fn into_parts(self) -> (S, Checker) {
        (self.inner, self.checker)
    }

    /// Writes what the last event broke, in order, after it.
    #[cold]
    fn emit_found(&mut self, t: u64) {
        let mut found = std::mem::take(&mut self.found);
        for v in found.drain(..) {
            self.emit(t, v);
        }
        // The room goes back for the next event.
        self.found = found;
    }

    fn emit(&mut self, t: u64, v: Violation) {
        self.seq += 1;
        self.violations += 1;
        self.inner.record(t, v.verdict().into_event());
    }
}

impl<S: EventSink> EventSink for Checked<S> {
    /// Out of line: an event passed by value is passed by address, and each sink inlined into
    /// the one that hands it the event made a copy of all of it on the stack (two per event
    /// for exploration's chain); called, it takes the address it was given.
    #[inline(never)]
    fn record(&mut self, t: u64, event: Event) {
        let seq = self.seq;
        self.seq += 1;
        if matches!(event, Event::Violation { .. }) {
            self.violations += 1;
        }
        self.checker.observe_into(seq, &event, &mut self.found);
        self.inner.record(t, event);
        if !self.found.is_empty() {
            self.emit_found(t);
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
