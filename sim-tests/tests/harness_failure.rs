//! A provider whose code can no longer be run by no doing of its own (a C provider's fork
//! server is gone) raises `HarnessFailure`: the run is abandoned, never judged. A sweep and
//! crash points stop with an error, rather than blame the provider (P4) or count the seeds
//! after it as passing. The test provider raises it in every Begin, so every run hits it.

mod common;

use common::TestKind;
use nspsim::{Faults, Scenario};
use nspsim_runtime::provider::{
    AsyncCall, HarnessFailure, NspContext, NspResult, NspV2Provider, ProviderLookup, RoutineTable,
    SessionArg,
};
use nspsim_runtime::script::RunError;
use nspsim_runtime::sim::strategy::StrategyName;
use nspsim_runtime::sim::world::DEFAULT_MAX_STEPS;
use nspsim_runtime::wsa::{LupFlags, QuerySet};

const LOST: &str =
    "host ended (how is unknown: its fork server is gone) during NSPv2LookupServiceBegin";

struct Orphaned;

impl NspV2Provider for Orphaned {
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
        std::panic::panic_any(HarnessFailure {
            detail: LOST.to_string(),
        })
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

const ORPHANED: TestKind = TestKind {
    name: "orphaned",
    summary: "test: every Begin finds the provider's host machinery gone",
    build: || Box::new(Orphaned),
};

fn scenario() -> Scenario {
    Scenario::from_toml(
        "orphaned.toml",
        r#"name = "orphaned"
[[provider]]
id = "6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60"
name = "gone"
namespace = "NS_EMAIL"
kind = "orphaned"
[[process]]
name = "c"
steps = [ { op = "startup" }, { op = "lookup", namespace = "NS_EMAIL", name = "a@x" }, { op = "cleanup" } ]
"#,
    )
    .with_kind(ORPHANED)
}

#[test]
fn a_run_that_meets_a_harness_failure_is_abandoned_not_judged() {
    let s = scenario();
    let model = s.load().expect("the scenario loads");
    let Err(e) = nspsim::runs::record(
        &model,
        s.registry(),
        0,
        StrategyName::Random,
        DEFAULT_MAX_STEPS,
    ) else {
        panic!("the run was judged");
    };
    assert_eq!(
        e,
        RunError::Abandoned {
            detail: LOST.to_string()
        }
    );
}

#[test]
fn exploration_stops_with_an_error_instead_of_blaming_the_provider() {
    let Err(e) = nspsim::explore(&scenario())
        .seeds(0..50)
        .faults(Faults::none())
        .jobs(1)
        .shrink_budget(10)
        .run()
    else {
        panic!("the sweep was judged");
    };
    let text = e.to_string();
    assert!(text.contains("seed 0 could not run"), "{text}");
    assert!(text.contains(LOST), "{text}");
}

#[test]
fn crash_points_stop_with_an_error_instead_of_passing() {
    let Err(e) = nspsim::crash_points(&scenario()).jobs(1).run() else {
        panic!("the crash points were judged");
    };
    let text = e.to_string();
    assert!(text.contains("could not run"), "{text}");
    assert!(text.contains(LOST), "{text}");
}
