//! The verdict side of a run: how the lifecycle checker is attached to a simulation.
//!
//! TEMPORARY: until the checker module lands this only counts the `violation` lines the
//! dispatcher and the world write themselves (P5, failed `expect`s).

use crate::config::StartupPolicy;
use crate::event::{Event, EventSink, Stamped};

/// An event sink with the checker attached.
pub struct Checked<S> {
    inner: S,
    violations: u64,
}

impl<S: EventSink> Checked<S> {
    pub fn new(inner: S, _policy: StartupPolicy) -> Self {
        Checked {
            inner,
            violations: 0,
        }
    }
    pub fn finish(&mut self, _t: u64, _complete: bool) {}
    pub fn violations(&self) -> u64 {
        self.violations
    }
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: EventSink> EventSink for Checked<S> {
    fn record(&mut self, t: u64, event: Event) {
        if matches!(event, Event::Violation { .. }) {
            self.violations += 1;
        }
        self.inner.record(t, event);
    }
}

/// One finding of an offline check.
pub struct Finding {
    pub rule: String,
    pub seq: u64,
    pub detail: String,
}

/// An offline check's findings.
pub struct Report {
    pub violations: Vec<Finding>,
    pub undecidable: Vec<String>,
}

/// Checks recorded events offline.
pub fn check(events: &[Stamped], _complete: bool, _policy: StartupPolicy) -> Report {
    Report {
        violations: events
            .iter()
            .filter_map(|s| match &s.event {
                Event::Violation { rule, detail } => Some(Finding {
                    rule: rule.clone(),
                    seq: s.seq,
                    detail: detail.clone(),
                }),
                _ => None,
            })
            .collect(),
        undecidable: Vec::new(),
    }
}
