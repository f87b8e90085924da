//! The `nspsim` command line as a function of the provider kinds it knows: the stock binary
//! calls [`main_with`] with the built-in kinds, and a team's own binary with theirs added.

use crate::cli::{self, RunArgs};
use clap::{Parser, Subcommand};
use nspsim_runtime::registry::Registry;
use nspsim_runtime::sim::strategy::{Portfolio, StrategyName};
use std::path::PathBuf;
use std::process::ExitCode;

/// Deterministic simulation of Winsock's NSPv2 namespace dispatcher (Ws2_32): run a scenario
/// of client processes and providers, print the lifecycle, and write a trace you can replay.
///
/// Exit codes: 0 clean, 1 findings (violations, failed expects, a replay that differs),
/// 2 bad input. Set RUST_LOG=nsp=debug to see every event as a log line.
#[derive(Parser)]
#[command(name = "nspsim", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario under a seed; print the lifecycle and write a trace.
    ///
    /// Example: nspsim run traces/demo.toml --seed 7
    ///
    /// Live example: nspsim run traces/demo.toml --live --clients 16
    Run {
        /// The scenario file (TOML, see docs/scenario-format.md).
        scenario: PathBuf,
        /// Scheduler seed (default: the scenario's `seed`, else 0).
        #[arg(long)]
        seed: Option<u64>,
        /// Scheduling strategy.
        #[arg(long, default_value = "random", value_parser = cli::strategy_arg())]
        strategy: StrategyName,
        /// Where to write the trace (default: next to the scenario, NAME.seedN.jsonl).
        #[arg(long)]
        trace: Option<PathBuf>,
        /// Print only the summary, not the lifecycle.
        #[arg(long, short)]
        quiet: bool,
        /// Stop a run that takes more scheduling steps than this (a livelock); at least 1.
        #[arg(long, default_value_t = nspsim_runtime::sim::world::DEFAULT_MAX_STEPS,
              value_parser = clap::value_parser!(u64).range(1..))]
        max_steps: u64,
        /// Run the seed twice in memory and report the first event where the runs diverge,
        /// instead of writing a trace.
        #[arg(long)]
        self_check: bool,
        /// Run under real concurrency: providers on host threads, clients as tokio tasks, real
        /// time. The trace (mode live) replays in sim mode with `nspsim replay`.
        #[arg(long, conflicts_with = "self_check")]
        live: bool,
        /// Live mode: run this many copies of each client process (at least 1; at most what
        /// keeps the scenario within 256 processes, which the error names).
        #[arg(long, default_value_t = 1, requires = "live",
              value_parser = clap::value_parser!(u32).range(1..))]
        clients: u32,
        /// Live mode: a provider call that does not return within this is a timeout fault
        /// (milliseconds, 1 to 3,600,000).
        #[arg(long, default_value_t = 2_000, requires = "live",
              value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
        call_deadline_ms: u64,
        /// Live mode: a client call waiting longer than this for its completion is a timeout
        /// fault of the provider (milliseconds, 1 to 3,600,000).
        #[arg(long, default_value_t = 2_000, requires = "live",
              value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
        completion_deadline_ms: u64,
        /// Also write the HTML report next to the trace (NAME.seedN.html); see `nspsim render`.
        #[arg(long, conflicts_with = "self_check")]
        html: bool,
    },
    /// Replay a trace exactly, following its recorded order; report the first difference.
    ///
    /// Exit 0 when the replay is identical and the trace records no violation; 1 when it
    /// differs, cannot be replayed, or records violations (they are restated after
    /// `identical`: a failure trace replays to its failure); 2 for a file that is not a trace.
    ///
    /// Example: nspsim replay traces/demo.seed7.jsonl
    Replay {
        /// An nsptrace v1 file.
        trace: PathBuf,
        /// The directory that relative file names in the embedded scenario (a C provider's
        /// `path`) are relative to: the original scenario file's directory. Default: the
        /// trace's own directory.
        #[arg(long, value_name = "DIR")]
        base_dir: Option<PathBuf>,
    },
    /// Check a trace against the lifecycle and provider rules offline (--help lists them).
    ///
    /// Example: nspsim check traces/demo.seed7.jsonl
    #[command(after_long_help = cli::rules_help())]
    Check {
        /// An nsptrace v1 file.
        trace: PathBuf,
    },
    /// Run many seeds with injected faults; shrink the first failure to a replayable trace.
    ///
    /// Example: nspsim explore traces/demo.toml --seeds 0..10000 --faults crash,kill
    Explore {
        /// The scenario file.
        scenario: PathBuf,
        /// Seed range A..B (B exclusive) or A..=B (B included, up to 18446744073709551615).
        /// Default: 0..1000, or every seed from 0 with --time.
        #[arg(long, value_parser = cli::parse_seed_range)]
        seeds: Option<(u64, u64)>,
        /// Stop after this long, even if seeds remain: 90, 90s, 1m30s, 2h, 500ms. Bounds every
        /// phase: the seed sweep, crash points and shrinking (which then keeps the smallest
        /// failure found so far).
        #[arg(long, value_parser = cli::parse_duration)]
        time: Option<std::time::Duration>,
        /// Scheduling strategy; portfolio alternates random and PCT by seed.
        #[arg(long, default_value = "portfolio", value_parser = cli::portfolio_arg())]
        strategy: Portfolio,
        /// Worker threads, 1 to 256 (default: all cores); never more than there are seeds or
        /// crash points to run. The failure reported does not depend on it.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=i64::from(cli::MAX_JOBS)))]
        jobs: Option<u16>,
        /// Run only shard I of N of the seed range (seeds with seed % N == I), to split one
        /// range across machines.
        #[arg(long, default_value = "0/1", value_parser = cli::parse_shard)]
        shard: (u64, u64),
        /// Fault kinds a seed may switch on: all, none, or a list of crash, kill, exit,
        /// host-crash, unadvertise, disable.
        #[arg(long, default_value = "all", value_parser = cli::parse_faults)]
        faults: std::vec::Vec<nspsim_runtime::sim::faults::InjectedFaultKind>,
        /// Report every failing seed, not only the first.
        #[arg(long)]
        keep_going: bool,
        /// Crash each client after each move of the seed's run in turn (before and after every
        /// API call, between the calls of a lookup, while a call waits), exhaustively. That is
        /// clients × moves runs, each as long as the seed's run: the cost grows with the square
        /// of the run's length (the demo: 155 points in well under a second; the demo's clients
        /// repeated to 200 processes: about 280,000 points of 2,000 moves each, hours). --time
        /// bounds it, and the points are tried in order, so a bounded sweep covers the run's
        /// start.
        #[arg(long)]
        crash_points: bool,
        /// Step limit per run (a run past it is a livelock); at least 1. Default: 100,000, or 16
        /// per scripted step of a scenario that has more than 6,250.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        max_steps: Option<u64>,
        /// Candidate runs the shrinker may try. Each is one run of the (shrinking) scenario, so
        /// the time grows with its size: on the demo 20,000 take a few seconds; on a scenario of
        /// 200 processes each takes milliseconds. --time bounds it too.
        #[arg(long, default_value_t = 20_000)]
        shrink_budget: u64,
    },
    /// Draw a trace: an HTML report (default), a Mermaid sequence diagram or Perfetto JSON.
    ///
    /// The HTML report is one self-contained file (works offline from file://): a swim lane
    /// per client thread, Ws2_32 and each provider; arrows for API calls, the provider calls
    /// they become, returns with their error names and async completions; marks for starts,
    /// exits, crashes, catalog changes and faults; violations in red with their rule, the
    /// first scrolled into view. Click an event for its JSON line; filter by process,
    /// provider or label (s1, h3, q2, a2).
    ///
    /// Mermaid: paste into an issue or Markdown (```mermaid). A whole trace is cut after 300
    /// events; draw a part with --from/--to or --process.
    ///
    /// Perfetto: open in ui.perfetto.dev or chrome://tracing; a track per thread and per
    /// provider, slices for calls, flow arrows from NextEx to its completion.
    ///
    /// Prints the path written. Exit 2 for a trace that does not parse or a bad window.
    ///
    /// Examples:
    ///   nspsim render traces/demo.jsonl                  (writes traces/demo.html)
    ///   nspsim render traces/demo.jsonl --format mermaid --process crasher -o crasher.mmd
    ///   nspsim render traces/demo.jsonl --format perfetto --from 0 --to 60
    #[command(verbatim_doc_comment)]
    Render {
        /// An nsptrace v1 file.
        trace: PathBuf,
        /// What to draw.
        #[arg(long, value_enum, default_value = "html")]
        format: crate::render::Format,
        /// Where to write (default: next to the trace: NAME.html, NAME.mmd, NAME.perfetto.json).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// First event drawn (its seq).
        #[arg(long)]
        from: Option<u64>,
        /// Last event drawn (its seq, inclusive).
        #[arg(long)]
        to: Option<u64>,
        /// Draw only this process's events (by name; violations and faults stay).
        #[arg(long)]
        process: Option<String>,
    },
    /// List the provider kinds a scenario can use, with their options.
    ///
    /// Example: nspsim providers
    Providers,
    /// Print the C compiler flags that build your own NSPv2 provider as a shared library.
    ///
    /// One line, ready for the shell: the include directory of nspsim's Windows headers
    /// (<windows.h>, <winsock2.h>, <ws2spi.h>, <ws2tcpip.h>; written to nspsim's cache on first
    /// use), the language flags (-std=c11 -fshort-wchar) and this platform's shared-library
    /// flags. Name the library in a scenario with kind = "c-library".
    ///
    /// Example: cc $(nspsim cc-flags) -o libcontoso.so contoso.c
    #[command(name = "cc-flags")]
    CcFlags,
}

/// Runs the `nspsim` command line (arguments from the process) with the provider kinds of
/// `registry`: what `nspsim providers` lists and what scenarios, `replay` and live mode can
/// build. Sets up logging (`RUST_LOG`) and the panic hook that keeps a provider's contained
/// panic quiet, so call it once, from `main`.
///
/// A team's own binary, with the built-in kinds and theirs:
///
/// ```no_run
/// # use nspsim_core::registry::{OptionDoc, ProviderKind};
/// # struct MyProviderKind;
/// # impl ProviderKind for MyProviderKind {
/// #     fn name(&self) -> &'static str { "mine" }
/// #     fn summary(&self) -> &'static str { "" }
/// #     fn options(&self) -> &'static [OptionDoc] { &[] }
/// #     fn validate(&self, _: &serde_json::Value) -> Result<(), String> { Ok(()) }
/// #     fn build(&self, _: &serde_json::Value)
/// #         -> Result<Box<dyn nspsim_core::NspV2Provider>, String> { Err("".into()) }
/// # }
/// fn main() -> std::process::ExitCode {
///     let mut kinds = nspsim::builtin_kinds();
///     kinds.register(Box::new(MyProviderKind));
///     nspsim::cli::main_with(kinds)
/// }
/// ```
pub fn main_with(registry: Registry) -> ExitCode {
    // A second call (a test calling it twice) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .try_init();
    // A provider's panic is contained and reported as a `fault` line (P4): do not also print
    // Rust's panic message for it, in sim mode (the dispatcher's thread) or live mode (the
    // provider's host thread); RUST_LOG=nsp=debug shows it. Any other panic is an nspsim bug
    // and is printed as usual.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if nspsim_runtime::dispatcher::in_provider_call()
            || nspsim_runtime::live::host::in_hosted_call()
        {
            tracing::debug!(target: "nsp", "contained provider panic: {info}");
        } else {
            default_hook(info);
        }
    }));
    // An interrupted run leaves no temporary file behind: remove them, then exit as the signal
    // would (128 + its number).
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ]) {
        std::thread::spawn(move || {
            if let Some(sig) = signals.forever().next() {
                nspsim_runtime::trace::remove_temp_files();
                std::process::exit(128 + sig);
            }
        });
    }
    let cli = Cli::parse();
    // Not locked for the whole command: exploration's workers print progress lines to stderr
    // themselves, and would wait forever for a lock this thread held.
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let code = match cli.command {
        Command::Run {
            scenario,
            seed,
            strategy,
            trace,
            quiet,
            max_steps,
            self_check,
            live,
            clients,
            call_deadline_ms,
            completion_deadline_ms,
            html,
        } => {
            let args = RunArgs {
                scenario,
                seed,
                strategy,
                trace,
                quiet,
                max_steps,
                live,
                clients,
                call_deadline: std::time::Duration::from_millis(call_deadline_ms),
                completion_deadline: std::time::Duration::from_millis(completion_deadline_ms),
                html,
            };
            if self_check {
                cli::self_check(&args, &registry, &mut out, &mut err)
            } else {
                cli::run(&args, &registry, &mut out, &mut err)
            }
        }
        Command::Replay { trace, base_dir } => {
            cli::replay_cmd(&trace, base_dir.as_deref(), &registry, &mut out, &mut err)
        }
        Command::Check { trace } => cli::check_cmd(&trace, &registry, &mut out, &mut err),
        Command::Explore {
            scenario,
            seeds,
            time,
            strategy,
            jobs,
            shard,
            faults,
            keep_going,
            crash_points,
            max_steps,
            shrink_budget,
        } => {
            let args = cli::ExploreArgs {
                scenario,
                seeds: seeds.unwrap_or(if time.is_some() {
                    (0, u64::MAX)
                } else {
                    (0, 999)
                }),
                time,
                portfolio: strategy,
                jobs: jobs.map(usize::from).unwrap_or_else(|| {
                    std::thread::available_parallelism()
                        .map_or(1, |n| n.get())
                        .min(usize::from(cli::MAX_JOBS))
                }),
                faults,
                keep_going,
                crash_points,
                max_steps,
                shrink_budget,
                shard,
            };
            cli::explore_cmd(&args, &registry, &mut out, &mut err)
        }
        Command::Render {
            trace,
            format,
            output,
            from,
            to,
            process,
        } => {
            let args = crate::render::RenderArgs {
                trace,
                format,
                output,
                window: crate::render::Window { from, to, process },
                strategy: None,
            };
            crate::render::render_cmd(&args, &mut out, &mut err)
        }
        Command::Providers => cli::providers_cmd(&registry, &mut out),
        Command::CcFlags => cli::cc_flags_cmd(&mut out, &mut err),
    };
    ExitCode::from(code as u8)
}
