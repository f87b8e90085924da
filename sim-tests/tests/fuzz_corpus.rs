//! The committed fuzz corpus (`sim-tests/fuzz/corpus/<target>/`) replayed through the fuzz
//! targets' bodies ([`nspsim::fuzzing`]) on stable Rust, so that every input a fuzzer once
//! found interesting stays a regression test without libFuzzer.
//!
//! Dispatcher findings wait in `sim-tests/fuzz/findings/<target>/` until they are fixed:
//! `cargo test -p nspsim --test fuzz_corpus -- --ignored` replays them.

use std::path::{Path, PathBuf};

fn files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(dir);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn replay(dir: &str, target: fn(&[u8]), at_least: usize) {
    let inputs = files(dir);
    assert!(
        inputs.len() >= at_least,
        "{dir}: {} inputs, expected at least {at_least}",
        inputs.len()
    );
    for path in inputs {
        let data = std::fs::read(&path).expect("read a corpus file");
        let outcome = std::panic::catch_unwind(|| target(&data));
        assert!(outcome.is_ok(), "{} fails", path.display());
    }
}

#[test]
fn scenario_loader_corpus() {
    replay(
        "corpus/scenario_loader",
        nspsim::fuzzing::scenario_loader,
        20,
    );
}

#[test]
fn trace_reader_corpus() {
    replay("corpus/trace_reader", nspsim::fuzzing::trace_reader, 20);
}

#[test]
fn api_sequence_corpus() {
    replay("corpus/api_sequence", nspsim::fuzzing::api_sequence, 20);
}

#[test]
#[ignore = "dispatcher findings, replayed once they are fixed"]
fn findings() {
    replay(
        "findings/scenario_loader",
        nspsim::fuzzing::scenario_loader,
        0,
    );
    replay("findings/trace_reader", nspsim::fuzzing::trace_reader, 0);
    replay("findings/api_sequence", nspsim::fuzzing::api_sequence, 0);
}

/// Replays one named regression seed (a former finding) on its own, so a failure names it.
fn seed(name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus/api_sequence")
        .join(name);
    let data = std::fs::read(&path).expect("read a seed");
    nspsim::fuzzing::api_sequence(&data);
}

/// L9: a WSASetService that outlives the final WSACleanup opens no session at the next provider.
#[test]
fn l9_set_service_after_cleanup() {
    seed("seed-L9-set-service-after-cleanup");
}

/// P5: a disabled-then-enabled instance that had sessions dropped without a call is not audited.
#[test]
fn p5_disable_enable_leaks_sessions() {
    seed("seed-P5-disable-enable-leaks-sessions");
}

/// L6: two null sessions (per-wsastartup, stub Startups) run down oldest first; the lookup
/// handle is the newer one's, ended just before its own Rundown.
#[test]
fn l6_null_sessions_per_wsastartup() {
    seed("seed-L6-null-sessions-per-wsastartup");
}
