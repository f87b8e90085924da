//! Replay compares replayed events with the recorded ones without re-encoding lines that are
//! exactly their event's encoding; these hold it to the byte-for-byte comparison it stands in
//! for: a recorded line that reads the same but is written otherwise is still a difference,
//! and one that only differs as `str::lines` cannot see (`\r\n`) is still none.

mod common;

use common::repo;
use nspsim_runtime::sim::replayer::{ReplayVerdict, replay_against};
use nspsim_runtime::trace::parse_trace;

fn golden() -> String {
    std::fs::read_to_string(repo().join("traces/demo.jsonl")).expect("golden trace")
}

fn replay_text(text: &str) -> ReplayVerdict {
    let trace = parse_trace("demo.jsonl", text).expect("readable");
    replay_against(&trace, text, &nspsim_providers::registry())
}

#[test]
fn a_golden_trace_replays_identically() {
    assert!(
        matches!(replay_text(&golden()), ReplayVerdict::Identical { .. }),
        "{:?}",
        replay_text(&golden())
    );
}

#[test]
fn a_line_that_reads_the_same_but_is_written_otherwise_differs() {
    let text = golden();
    let lines: Vec<&str> = text.lines().collect();
    for n in [2, lines.len() / 2, lines.len()] {
        let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        // JSON allows a space after a comma; the format does not.
        edited[n - 1] = edited[n - 1].replacen(",\"t\":", ", \"t\":", 1);
        let edited = edited.join("\n") + "\n";
        match replay_text(&edited) {
            ReplayVerdict::Differs {
                line,
                recorded: Some(recorded),
                replayed: Some(replayed),
            } => {
                assert_eq!(line, n);
                assert_eq!(recorded, edited.lines().nth(n - 1).expect("line"));
                assert_eq!(replayed, lines[n - 1]);
            }
            other => panic!("line {n}: {other:?}"),
        }
    }
}

#[test]
fn a_changed_event_differs_at_its_line_with_both_versions() {
    let text = golden();
    let n = text
        .lines()
        .position(|l| l.contains("\"err\":0"))
        .expect("a line")
        + 1;
    let edited: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let l = if i + 1 == n {
                l.replacen("\"err\":0", "\"err\":5", 1)
            } else {
                l.to_string()
            };
            l + "\n"
        })
        .collect();
    match replay_text(&edited) {
        ReplayVerdict::Differs {
            line,
            recorded,
            replayed,
        } => {
            assert_eq!(line, n);
            assert!(recorded.is_some_and(|r| r.contains("\"err\":5")));
            assert!(replayed.is_some_and(|r| r.contains("\"err\":0")));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn crlf_line_ends_compare_as_before() {
    let crlf = golden().replace('\n', "\r\n");
    assert!(
        matches!(replay_text(&crlf), ReplayVerdict::Identical { .. }),
        "{:?}",
        replay_text(&crlf)
    );
}

#[test]
fn a_recording_cut_short_is_compared_as_far_as_it_goes() {
    let text = golden();
    let kept: String = text.lines().take(6).map(|l| format!("{l}\n")).collect();
    assert!(
        matches!(replay_text(&kept), ReplayVerdict::Identical { .. }),
        "{:?}",
        replay_text(&kept)
    );
    let extra = format!("{text}{}\n", text.lines().nth(1).expect("an event line"));
    assert!(
        parse_trace("x", &extra).is_err(),
        "a line after `end` is refused"
    );
}

/// `nspsim replay` of a CRLF copy: identical event for event, but never called byte for byte,
/// since the file is not what nspsim wrote.
#[test]
fn the_command_line_does_not_call_a_crlf_copy_byte_for_byte() {
    let d = common::Dir::new("replay-crlf");
    let lf = d.write("lf.jsonl", &golden());
    let crlf = d.write("crlf.jsonl", &golden().replace('\n', "\r\n"));
    let o = common::nspsim(&["replay", &lf]);
    assert_eq!(common::code(&o), 0, "{}", common::text(&o.stderr));
    assert!(common::text(&o.stdout).contains("byte for byte"));
    let o = common::nspsim(&["replay", &crlf]);
    assert_eq!(common::code(&o), 0, "{}", common::text(&o.stderr));
    let said = common::text(&o.stdout);
    assert!(!said.contains("byte for byte"), "{said}");
    assert!(
        said.contains("event for event") && said.contains("\\r\\n"),
        "{said}"
    );
}
