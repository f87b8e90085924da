//! The replayer (`nspsim replay`): re-run a trace's embedded scenario, forcing the schedule
//! its events record, and compare the result line by line.
//!
//! The schedule comes from the event order ([`super::strategy::FollowTrace`]), not from the
//! seed, so a hand-edited or shrunk trace replays too, and an order the scenario cannot
//! produce is reported as such (which recorded event could not be produced), never a panic.
//! The replay runs with the checker online, as `nspsim run` does, so recorded `violation`
//! lines are reproduced too.

use super::strategy::FollowTrace;
use super::world::{self, DEFAULT_MAX_STEPS};
use crate::config::{Profile, StartupPolicy};
use crate::registry::Registry;
use crate::scenario::Scenario;
use crate::trace::{Mode, Trace, TraceBuffer};

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
pub fn replay(trace: &Trace, registry: &Registry) -> ReplayVerdict {
    replay_against(trace, &trace.to_text(), registry)
}

/// Replays `trace`, parsed from `recorded`, and compares with those bytes.
pub fn replay_against(trace: &Trace, recorded: &str, registry: &Registry) -> ReplayVerdict {
    let mut scenario = match Scenario::from_json_with(&trace.header.scenario, registry) {
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
    let sink =
        crate::checker::Checked::new(TraceBuffer::new(&trace.header), scenario.startup_policy);
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
        match world::run_with(&scenario, registry, &mut strategy, sink, &options) {
            Ok(r) => r,
            Err(e) => return ReplayVerdict::BadScenario(e.to_string()),
        };
    sink.finish(report.end_time, true);
    let end_t = trace.end_t.unwrap_or(report.end_time);
    let replayed = sink.into_inner().finish(end_t);
    let ignore_time = trace.header.mode == Mode::Live;
    if let Some(diff) = first_difference(recorded, &replayed, ignore_time, trace.is_complete()) {
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

/// The first differing line. A cut-short recording is compared only as far as it goes.
fn first_difference(
    recorded: &str,
    replayed: &str,
    ignore_time: bool,
    complete: bool,
) -> Option<Diff> {
    let mut a = recorded.lines();
    let mut b = replayed.lines();
    let mut line = 0;
    loop {
        line += 1;
        match (a.next(), b.next()) {
            (None, None) => return None,
            (None, Some(_)) if !complete => return None,
            (x, y) => {
                let same = match (x, y) {
                    (Some(x), Some(y)) if ignore_time => without_time(x) == without_time(y),
                    (Some(x), Some(y)) => x == y,
                    _ => false,
                };
                if !same {
                    return Some((line, x.map(str::to_string), y.map(str::to_string)));
                }
            }
        }
    }
}

/// A line with its `"t":N` removed (live traces: real times never repeat).
fn without_time(line: &str) -> String {
    match (line.find(",\"t\":"), line.find(",\"ev\":")) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &line[..a], &line[b..]),
        _ => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
