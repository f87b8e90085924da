//! Cost per event as the number of processes grows (issue 16): the shuttle model's lifecycle
//! (one provider with inline completions; each client: startup, 2 lookups, cleanup) with 3,
//! 250 and 2,500 clients, random walk and PCT, checker online, events discarded. Items are
//! trace events, so divan's items/s is events per second; the figures at 250 and 2,500
//! clients should stay within 1.5x of the one at 3.
//!
//! Run: `cargo bench -p nspsim --bench scale` (or `-- pct` for PCT alone).

use nspsim_runtime::checker::Checked;
use nspsim_runtime::event::{Event, EventSink};
use nspsim_runtime::scenario::{self, Scenario};
use nspsim_runtime::sim::strategy::StrategyName;
use nspsim_runtime::sim::world::{self, DEFAULT_MAX_STEPS};

fn main() {
    divan::main();
}

const ONE_CLIENT: &str = r#"
name = "scale"
[[provider]]
id = "6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60"
name = "dir"
namespace = "NS_EMAIL"
kind = "email-directory"
[provider.options]
completion = "inline"
entries = [ { name = "svc-a@example.com", addrs = ["192.0.2.10:25"] } ]

[[process]]
name = "c"
steps = [
  { op = "startup" },
  { op = "lookup", namespace = "NS_EMAIL", name = "svc-a@example.com", flags = ["LUP_RETURN_ADDR"] },
  { op = "lookup", namespace = "NS_EMAIL", name = "svc-a@example.com", flags = ["LUP_RETURN_ADDR"] },
  { op = "cleanup" },
]
"#;

/// The lifecycle scenario with `clients` client processes.
fn clients(clients: u32) -> (Scenario, nspsim_runtime::registry::Registry) {
    let registry = nspsim_providers::registry();
    let one = scenario::parse("scale.toml", ONE_CLIENT, &registry).expect("scale scenario");
    (nspsim::cli::multiply_clients(one, clients), registry)
}

/// Takes every event and drops it, counting them.
#[derive(Default)]
struct Count(u64);

impl EventSink for Count {
    fn record(&mut self, _t: u64, event: Event) {
        self.0 += 1;
        divan::black_box(event);
    }
}

fn run(s: &Scenario, r: &nspsim_runtime::registry::Registry, strategy: StrategyName) -> u64 {
    let mut strat = strategy.build(DEFAULT_MAX_STEPS);
    let sink = Checked::new(Count::default(), s.startup_policy);
    let (_, sink) = world::run(s, r, &mut strat, 7, sink, DEFAULT_MAX_STEPS).expect("run");
    sink.into_inner().0
}

fn bench(bencher: divan::Bencher, n: u32, strategy: StrategyName) {
    let (s, r) = clients(n);
    let events = run(&s, &r, strategy);
    bencher
        .counter(divan::counter::ItemsCount::new(events))
        .bench_local(|| run(&s, &r, strategy));
}

#[divan::bench(args = [3, 250, 2500], sample_count = 10)]
fn random(bencher: divan::Bencher, n: u32) {
    bench(bencher, n, StrategyName::Random);
}

#[divan::bench(args = [3, 250, 2500], sample_count = 10)]
fn pct(bencher: divan::Bencher, n: u32) {
    bench(bencher, n, StrategyName::Pct);
}
