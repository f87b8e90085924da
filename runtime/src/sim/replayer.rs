//! The replayer (`nspsim replay`): re-run a trace's embedded scenario, forcing the schedule
//! its events record, and compare the result line by line.
//!
//! The schedule comes from the event order ([`super::strategy::FollowTrace`]), not from the
//! seed, so a hand-edited or shrunk trace replays too, and an order the scenario cannot
//! produce is reported as such (which recorded event could not be produced), never a panic.
//! The replay runs with the checker online, as `nspsim run` does, so recorded `violation`
//! lines are reproduced too. Replayed events are compared with the recorded ones as they are
//! made ([`Comparing`]), so the replayed trace is never held whole: as events where the
//! recorded line is exactly its event's encoding (every line a writer wrote), as text where it
//! is not ([`Trace::non_canonical`]).

use super::strategy::FollowTrace;
use super::world::{self, DEFAULT_MAX_STEPS};
use crate::config::{Profile, StartupPolicy};
use crate::event::{Event, EventSink, Stamped};
use crate::registry::Providers;
use crate::scenario::Scenario;
use crate::trace::{Mode, Recorder, Trace, encode_event};

/// What a replay found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayVerdict {
    /// Every line, header and `end` included, came out the same.
    Identical { events: usize },
    /// The first line that differs (1-based; the header is line 1), both versions.
    Differs {
        line: usize,
        recorded: Option<String>,
        replayed: Option<String>,
    },
    /// The recorded order cannot be produced by the scenario.
    Impossible { reason: String },
    /// The embedded scenario cannot be run.
    BadScenario(String),
}

/// Replays `trace` and compares with its own encoding (sim mode: byte for byte; live mode:
/// `t` is not compared).
pub fn replay(trace: &Trace, providers: &dyn Providers) -> ReplayVerdict {
    replay_against(trace, &trace.to_text(), providers)
}

/// Replays `trace`, parsed from `recorded`, and compares with those bytes. `providers` is a
/// registry, or a set prepared for the scenario the trace embeds (as shrinking has).
pub fn replay_against(trace: &Trace, recorded: &str, providers: &dyn Providers) -> ReplayVerdict {
    let mut scenario = match Scenario::from_json_with(&trace.header.scenario, providers.registry())
    {
        Ok(s) => s,
        Err(e) => return ReplayVerdict::BadScenario(e.to_string()),
    };
    if let Some(dir) = &trace.base_dir {
        scenario.set_base_dir(dir);
    }
    // The header says which policies the run used; it wins over the embedded scenario.
    match (
        Profile::from_name(&trace.header.profile),
        StartupPolicy::from_name(&trace.header.startup_policy),
    ) {
        (Some(p), Some(s)) => {
            scenario.profile = p;
            scenario.startup_policy = s;
        }
        _ => {
            return ReplayVerdict::BadScenario(format!(
                "unknown profile \"{}\" or startup_policy \"{}\" in the header",
                trace.header.profile, trace.header.startup_policy
            ));
        }
    }
    let mut strategy = if trace.header.mode == Mode::Live {
        FollowTrace::order_only(&trace.events)
    } else {
        FollowTrace::new(&trace.events)
    };
    let ignore_time = trace.header.mode == Mode::Live;
    let mut compare = Compare::new(recorded, ignore_time, trace.is_complete());
    compare.next_text(trace.header.encode().trim_end_matches('\n'));
    let sink =
        crate::checker::Checked::new(Comparing::new(trace, compare), scenario.startup_policy);
    let max_steps = DEFAULT_MAX_STEPS.max(trace.events.len() as u64 * 2);
    // Every fault kind is offered at every step: the recorded events decide which happened.
    // A live trace's threads moved in real time, so time may pass at any step.
    let options = world::RunOptions {
        seed: trace.header.seed,
        max_steps,
        faults: super::faults::FaultPlan::all_always(),
        free_time: trace.header.mode == Mode::Live,
        stop_at_failure: false,
    };
    let (report, mut sink) =
        match world::run_with(&scenario, providers, &mut strategy, sink, &options) {
            Ok(r) => r,
            Err(e) => return ReplayVerdict::BadScenario(e.to_string()),
        };
    sink.finish(report.end_time, true);
    let end_t = trace.end_t.unwrap_or(report.end_time);
    if let Some(diff) = sink.into_inner().finish(end_t) {
        if let Some(reason) = report.stopped.filter(|_| diff.0 > 1) {
            return ReplayVerdict::Impossible { reason };
        }
        return ReplayVerdict::Differs {
            line: diff.0,
            recorded: diff.1,
            replayed: diff.2,
        };
    }
    ReplayVerdict::Identical {
        events: trace.events.len(),
    }
}

type Diff = (usize, Option<String>, Option<String>);

/// The sink a replay records into: numbers each event as a trace file would, and compares it
/// with the recorded one at once.
struct Comparing<'r> {
    recorder: Recorder,
    recorded: &'r Trace,
    /// The recorded `end` line's event.
    recorded_end: Option<Stamped>,
    compare: Compare<'r>,
}

impl<'r> Comparing<'r> {
    fn new(recorded: &'r Trace, compare: Compare<'r>) -> Self {
        let recorded_end = recorded.end.map(|(events, violations)| Stamped {
            seq: events,
            t: recorded.end_t.unwrap_or(0),
            event: Event::End { events, violations },
        });
        Comparing {
            recorder: Recorder::default(),
            recorded,
            recorded_end,
            compare,
        }
    }

    fn compare(&mut self, replayed: &Stamped) {
        // The recorded event on the next line (the header is line 1), `end` line included,
        // when that line is exactly its event's encoding.
        let n = self.compare.line + 1;
        let canonical = match n.checked_sub(2) {
            _ if self.recorded.non_canonical.binary_search(&n).is_ok() => None,
            Some(i) if i < self.recorded.events.len() => self.recorded.events.get(i),
            Some(i) if i == self.recorded.events.len() => self.recorded_end.as_ref(),
            _ => None,
        };
        self.compare.next_event(replayed, canonical);
    }

    /// Compares the `end` line, then whatever the recording has left: the first difference.
    fn finish(mut self, t: u64) -> Option<Diff> {
        let end = self.recorder.stamp_end(t);
        self.compare(&end);
        self.compare.finish()
    }
}

impl EventSink for Comparing<'_> {
    fn record(&mut self, t: u64, event: Event) {
        let replayed = self.recorder.stamp(t, event);
        self.compare(&replayed);
    }
}

/// The recorded lines, compared in turn with replayed ones until the first difference. A
/// cut-short recording is compared only as far as it goes.
struct Compare<'r> {
    recorded: std::str::Lines<'r>,
    /// Lines compared so far (the header is line 1).
    line: usize,
    ignore_time: bool,
    complete: bool,
    /// Comparing is over: a difference was found, or a cut-short recording ran out.
    done: bool,
    diff: Option<Diff>,
    /// A replayed line, encoded only when it is compared as text or differs.
    scratch: String,
}

impl<'r> Compare<'r> {
    fn new(recorded: &'r str, ignore_time: bool, complete: bool) -> Self {
        Compare {
            recorded: recorded.lines(),
            line: 0,
            ignore_time,
            complete,
            done: false,
            diff: None,
            scratch: String::new(),
        }
    }

    /// The next recorded line, or `None` when comparing is over.
    fn advance(&mut self) -> Option<Option<&'r str>> {
        if self.done {
            return None;
        }
        self.line += 1;
        let recorded = self.recorded.next();
        if recorded.is_none() && !self.complete {
            self.done = true;
            return None;
        }
        Some(recorded)
    }

    /// The next replayed line, without its `\n`, compared as text.
    fn next_text(&mut self, replayed: &str) {
        let Some(recorded) = self.advance() else {
            return;
        };
        let same = match recorded {
            Some(x) if self.ignore_time => same_without_time(x, replayed),
            Some(x) => x == replayed,
            None => false,
        };
        if !same {
            self.differs(recorded, replayed.to_string());
        }
    }

    /// The next replayed event; `canonical` is the recorded one when its line is exactly its
    /// encoding, so that comparing events is comparing lines.
    fn next_event(&mut self, replayed: &Stamped, canonical: Option<&Stamped>) {
        let Some(recorded) = self.advance() else {
            return;
        };
        let same = match (recorded, canonical) {
            (Some(_), Some(r)) => {
                r.seq == replayed.seq
                    && (self.ignore_time || r.t == replayed.t)
                    && r.event == replayed.event
            }
            (Some(x), None) => {
                self.scratch.clear();
                encode_event(replayed, &mut self.scratch);
                let line = self.scratch.trim_end_matches('\n');
                if self.ignore_time {
                    same_without_time(x, line)
                } else {
                    x == line
                }
            }
            (None, _) => false,
        };
        if !same {
            self.scratch.clear();
            encode_event(replayed, &mut self.scratch);
            let line = self.scratch.trim_end_matches('\n').to_string();
            self.differs(recorded, line);
        }
    }

    fn differs(&mut self, recorded: Option<&str>, replayed: String) {
        self.done = true;
        self.diff = Some((self.line, recorded.map(str::to_string), Some(replayed)));
    }

    /// The first difference, a recorded line left over counting as one.
    fn finish(mut self) -> Option<Diff> {
        if self.done {
            return self.diff;
        }
        let left = self.recorded.next()?;
        Some((self.line + 1, Some(left.to_string()), None))
    }
}

/// Whether two lines are the same once their `"t":N` is taken out (live traces: real times
/// never repeat).
fn same_without_time(a: &str, b: &str) -> bool {
    let ((a1, a2), (b1, b2)) = (without_time(a), without_time(b));
    a1.len() + a2.len() == b1.len() + b2.len()
        && a1
            .bytes()
            .chain(a2.bytes())
            .eq(b1.bytes().chain(b2.bytes()))
}

/// A line without its `"t":N`, as the parts before and after it.
fn without_time(line: &str) -> (&str, &str) {
    match (line.find(",\"t\":"), line.find(",\"ev\":")) {
        (Some(a), Some(b)) if a < b => (&line[..a], &line[b..]),
        _ => (line, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first differing line of two whole texts, as a replay compares them.
    fn first_difference(
        recorded: &str,
        replayed: &str,
        ignore_time: bool,
        complete: bool,
    ) -> Option<Diff> {
        let mut compare = Compare::new(recorded, ignore_time, complete);
        for line in replayed.lines() {
            compare.next_text(line);
        }
        compare.finish()
    }

    #[test]
    fn differences_are_found_at_the_right_line() {
        assert_eq!(
            first_difference("h\na\nb\n", "h\na\nb\n", false, true),
            None
        );
        assert_eq!(
            first_difference("h\na\nb\n", "h\na\nc\n", false, true),
            Some((3, Some("b".into()), Some("c".into())))
        );
        assert_eq!(
            first_difference("h\na\n", "h\na\nb\n", false, true),
            Some((3, None, Some("b".into())))
        );
        assert_eq!(
            first_difference("h\na\n", "h\na\nb\n", false, false),
            None,
            "cut short: prefix only"
        );
    }

    #[test]
    fn live_traces_compare_without_time() {
        let a = r#"{"seq":0,"t":15,"ev":"process.exit","pid":1,"how":"exit"}"#;
        let b = r#"{"seq":0,"t":99,"ev":"process.exit","pid":1,"how":"exit"}"#;
        assert_eq!(first_difference(a, b, true, true), None);
        assert!(first_difference(a, b, false, true).is_some());
    }
}
