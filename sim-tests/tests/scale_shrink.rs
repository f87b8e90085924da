//! Shrinking and replay at scale look a move's choice up by its process's slots
//! ([`Choices::find_move`]) instead of scanning every choice: at every pick of real runs (many
//! clients, a host, faults offered at every step) the lookup agrees with the scan, for every
//! choice offered. (Shrink time is measured with `bench/shrink-1000.toml`, never asserted
//! here.)

use nspsim_runtime::event::NullSink;
use nspsim_runtime::scenario::{self, Scenario};
use nspsim_runtime::sim::faults::FaultPlan;
use nspsim_runtime::sim::strategy::{Choices, Move, RandomWalk, Strategy};
use nspsim_runtime::sim::world::{self, RunOptions};

/// The two-client use-after-free fixture with `count` more clients from a template.
fn scenario(count: u32) -> (Scenario, nspsim_runtime::registry::Registry) {
    let base = include_str!("fixtures/explore/free-on-first-cleanup.toml");
    let text = format!(
        "{base}\n[[process]]\nname = \"c-{{i}}\"\ncount = {count}\nsteps = [ {{ op = \"startup\" }}, \
         {{ op = \"lookup\", namespace = \"NS_EMAIL\", name = \"alice@example.com\", flags = [\"LUP_RETURN_ADDR\"] }}, \
         {{ op = \"cleanup\" }} ]\n"
    );
    let registry = nspsim_providers::registry();
    let s =
        scenario::parse("scale-shrink.toml", &text, &registry).unwrap_or_else(|e| panic!("{e}"));
    (s, registry)
}

/// A random walk that, before each pick, checks the lookup against the scan.
struct Checking {
    inner: RandomWalk,
    picks: u64,
}

impl Strategy for Checking {
    fn begin(&mut self, seed: u64) {
        self.inner.begin(seed);
    }

    fn pick(&mut self, choices: &Choices<'_>, emitted: u64) -> Option<usize> {
        for c in choices.iter() {
            let m = Move::of(&c);
            let scanned = choices.position(|d| Move::of(d) == m);
            assert_eq!(choices.find_move(&m), scanned, "{m:?}");
        }
        self.picks += 1;
        self.inner.pick(choices, emitted)
    }

    fn draw(&mut self, bound: u64) -> u64 {
        self.inner.draw(bound)
    }
}

#[test]
fn the_lookup_agrees_with_the_scan_at_every_pick() {
    let (s, r) = scenario(40);
    for seed in 0..6 {
        let options = RunOptions {
            seed,
            max_steps: 1_000_000,
            // Every fault kind, offered at every step: crashes, kills and exits by pid.
            faults: FaultPlan {
                rate_ppm: 300_000,
                ..FaultPlan::all_always()
            },
            free_time: seed % 2 == 1,
            stop_at_failure: false,
        };
        let mut strategy = Checking {
            inner: RandomWalk::new(),
            picks: 0,
        };
        world::run_with(&s, &r, &mut strategy, NullSink, &options).expect("run");
        assert!(strategy.picks > 10, "seed {seed}: {} picks", strategy.picks);
    }
}
