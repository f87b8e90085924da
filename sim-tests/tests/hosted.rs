//! Providers hosted on threads of their own (live mode's provider hosts) behave exactly like
//! in-process ones: every golden scenario gives the same trace bytes either way (a parity test
//! in turmoil's spirit). A panic on a host thread is contained as P4; a call that misses its
//! deadline is a `timeout` fault, the provider is unadvertised, and the run ends normally.

mod common;

use common::*;
use nspsim::runs::record;
use nspsim_runtime::live::hosted;
use nspsim_runtime::provider::{
    AsyncCall, NspContext, NspResult, NspV2Provider, ProviderLookup, RoutineTable, SessionArg,
};
use nspsim_runtime::registry::Registry;
use nspsim_runtime::scenario;
use nspsim_runtime::sim::strategy::StrategyName;
use nspsim_runtime::sim::world::DEFAULT_MAX_STEPS;
use nspsim_runtime::wsa::{LupFlags, QuerySet};
use std::path::Path;
use std::time::Duration;

fn trace(path: &Path, registry: &Registry) -> String {
    let s = scenario::load(path, registry).unwrap_or_else(|e| panic!("{e}"));
    let seed = s.seed.unwrap_or(0);
    record(&s, registry, seed, StrategyName::Random, DEFAULT_MAX_STEPS)
        .expect("run")
        .0
}

#[test]
fn hosted_providers_give_the_same_traces_as_in_process_ones() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../traces");
    let local = nspsim_providers::registry();
    let remote = hosted(nspsim_providers::registry(), Duration::from_secs(10));
    let mut compared = 0;
    for entry in std::fs::read_dir(dir).expect("traces") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|x| x == "toml") {
            assert_eq!(
                trace(&path, &remote),
                trace(&path, &local),
                "{}",
                path.display()
            );
            compared += 1;
        }
    }
    assert!(compared >= 10);
}

#[test]
fn a_panic_on_a_host_thread_is_contained_like_in_process() {
    let d = Dir::new("hosted-panic");
    let path = d.path("panic.toml");
    std::fs::write(
        &path,
        r#"name = "panic"
[[provider]]
id = "6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60"
name = "shaky"
namespace = "NS_EMAIL"
kind = "faulty"
[provider.options]
faults = [ { fault = "panic", entry_point = "next" } ]
entries = [ { name = "a@x", addrs = ["192.0.2.1:25"] } ]
[[process]]
name = "c"
steps = [ { op = "startup" }, { op = "lookup", namespace = "NS_EMAIL", name = "a@x" }, { op = "cleanup" } ]
"#,
    )
    .expect("write");
    let local = trace(&path, &nspsim_providers::registry());
    let remote = trace(
        &path,
        &hosted(nspsim_providers::registry(), Duration::from_secs(10)),
    );
    assert_eq!(remote, local);
    assert!(remote.contains("\"ev\":\"fault\""), "{remote}");
    assert!(remote.contains("\"rule\":\"P4\""), "{remote}");
}

/// A provider whose Begin takes far longer than any deadline.
struct Sluggish;

impl NspV2Provider for Sluggish {
    fn routine_table(&self) -> RoutineTable {
        RoutineTable::required_only()
    }
    fn lookup_service_begin(
        &mut self,
        _: &mut NspContext,
        _: &QuerySet,
        _: LupFlags,
        _: Option<SessionArg>,
    ) -> NspResult<ProviderLookup> {
        // Hangs until the test releases it (bounded, so the host thread ends after the test
        // even if it never does).
        let (released, wake) = &RELEASE;
        if let Ok(guard) = released.lock() {
            let _ = wake.wait_timeout_while(guard, Duration::from_secs(60), |r| !*r);
        }
        BEGIN_RETURNED.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(ProviderLookup(1))
    }
    fn lookup_service_next_ex(
        &mut self,
        ctx: &mut NspContext,
        call: AsyncCall,
        _: ProviderLookup,
        _: LupFlags,
        _: u32,
    ) {
        ctx.complete_async_call(call, Err(nspsim_runtime::WsaError::E_NO_MORE));
    }
    fn lookup_service_end(&mut self, _: &mut NspContext, _: ProviderLookup) -> NspResult<()> {
        Ok(())
    }
}

/// Set by the test once the run is over: the hung Begin may return.
static RELEASE: (std::sync::Mutex<bool>, std::sync::Condvar) =
    (std::sync::Mutex::new(false), std::sync::Condvar::new());
/// Whether the hung Begin has returned.
static BEGIN_RETURNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

const SLUGGISH: TestKind = TestKind {
    name: "sluggish",
    summary: "test: Begin hangs until the test releases it",
    build: || Box::new(Sluggish),
};

#[test]
fn a_call_past_its_deadline_is_a_timeout_fault_and_the_run_ends() {
    let mut inner = Registry::new();
    inner.register(Box::new(SLUGGISH));
    let registry = hosted(inner, Duration::from_millis(100));
    let text = r#"name = "slow"
[[provider]]
id = "6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60"
name = "slow"
namespace = "NS_EMAIL"
kind = "sluggish"
[[process]]
name = "c"
steps = [ { op = "startup" }, { op = "lookup", namespace = "NS_EMAIL", name = "a@x" }, { op = "expect", err = "WSASYSCALLFAILURE" }, { op = "cleanup" } ]
"#;
    let s = scenario::parse("slow.toml", text, &registry).unwrap_or_else(|e| panic!("{e}"));
    let (trace, report) =
        record(&s, &registry, 0, StrategyName::Random, DEFAULT_MAX_STEPS).expect("run");
    // The run is over while the provider's Begin still hangs: it did not wait for the call.
    assert!(
        !BEGIN_RETURNED.load(std::sync::atomic::Ordering::SeqCst),
        "the run waited for the hung call"
    );
    if let Ok(mut released) = RELEASE.0.lock() {
        *released = true;
        RELEASE.1.notify_all();
    }
    assert!(trace.contains("\"ev\":\"fault\""), "{trace}");
    assert!(trace.contains("\"kind\":\"timeout\""), "{trace}");
    assert!(
        trace.contains("NSPv2LookupServiceBegin did not return within 100 ms"),
        "{trace}"
    );
    assert!(trace.contains("\"ev\":\"provider.unadvertise\""), "{trace}");
    assert!(
        report.expect_failures.is_empty(),
        "{:?}",
        report.expect_failures
    );
    assert!(report.stopped.is_none() && report.stuck.is_empty());
}
