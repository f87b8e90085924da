//! Cost per event as the number of processes grows (issue 16): the shuttle model's lifecycle
//! (one provider with inline completions; each client: startup, 2 lookups, cleanup) with 3,
//! 250 and 2,500 clients, random walk and PCT, checker online, events discarded. Items are
//! trace events, so divan's items/s is events per second; the figures at 250 and 2,500
//! clients should stay within 1.5x of the one at 3.
//!
//! Also: exploring 10,000 clients (items: events), and the shuttle model's scenario
//! (`bench/nspsim-model.toml`, items: seeds) as `bench/compare-shuttle.sh` explores it.
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

/// Exploration of 10,000 clients (one template), checker online, crashes injected: a few
/// seeds, random walk and PCT in turn. Items are the events of those seeds.
#[divan::bench(sample_count = 3)]
fn explore_10000_clients(bencher: divan::Bencher) {
    use nspsim::explore::{ExploreOptions, explore};
    use nspsim_runtime::sim::faults::InjectedFaultKind;
    use nspsim_runtime::sim::strategy::Portfolio;
    let registry = nspsim_providers::registry();
    let text = ONE_CLIENT.replace("name = \"c\"", "name = \"c{i}\"\ncount = 10000");
    let s = scenario::parse("scale.toml", &text, &registry).expect("template");
    let opts = ExploreOptions {
        first_seed: 0,
        last_seed: 3,
        time: None,
        portfolio: Portfolio::Both,
        jobs: 1,
        faults: vec![InjectedFaultKind::Crash],
        keep_going: true,
        max_steps: 100 * DEFAULT_MAX_STEPS,
        shard: (0, 1),
    };
    // Events per seed, counted by a run of each seed as exploration makes it.
    let events: u64 = (0..=3)
        .map(|seed| {
            let plan = nspsim::explore::plan_for(seed, &opts.faults);
            let mut strat = opts.portfolio.for_seed(seed).build(opts.max_steps);
            let options = world::RunOptions {
                seed,
                max_steps: opts.max_steps,
                faults: plan,
                free_time: false,
                stop_at_failure: true,
            };
            let sink = Checked::new(Count::default(), s.startup_policy);
            let (_, sink) =
                world::run_with(&s, &registry, strat.as_mut(), sink, &options).expect("run");
            sink.into_inner().0
        })
        .sum();
    bencher
        .counter(divan::counter::ItemsCount::new(events))
        .bench_local(|| explore(&s, &registry, &opts, &|_, _| {}));
}

/// The shuttle comparison's nspsim side: seeds of `bench/nspsim-model.toml`, one thread,
/// crashes injected, random walk, checker online. Items are seeds.
#[divan::bench(sample_count = 10)]
fn explore_shuttle_model_seeds(bencher: divan::Bencher) {
    use nspsim::explore::{ExploreOptions, explore};
    use nspsim_runtime::sim::faults::InjectedFaultKind;
    use nspsim_runtime::sim::strategy::Portfolio;
    const SEEDS: u64 = 20_000;
    let registry = nspsim_providers::registry();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/nspsim-model.toml");
    let s = scenario::load(std::path::Path::new(path), &registry).expect("nspsim-model");
    let opts = ExploreOptions {
        first_seed: 0,
        last_seed: SEEDS - 1,
        time: None,
        portfolio: Portfolio::One(StrategyName::Random),
        jobs: 1,
        faults: vec![InjectedFaultKind::Crash],
        keep_going: true,
        max_steps: 100_000,
        shard: (0, 1),
    };
    bencher
        .counter(divan::counter::ItemsCount::new(SEEDS))
        .bench_local(|| explore(&s, &registry, &opts, &|_, _| {}));
}
