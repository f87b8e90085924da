//! The bodies of the fuzz targets in `sim-tests/fuzz/` (cargo-fuzz, libFuzzer), as ordinary
//! functions so that the targets are three-line wrappers and `tests/fuzz_corpus.rs` replays the
//! committed corpus through the very same code on stable Rust.
//!
//! - [`scenario_loader`]: arbitrary bytes as a scenario file, through the loader `run` uses
//!   (with the real provider registry); a scenario that loads must survive its JSON form (what
//!   a trace header embeds) unchanged, and every error must render.
//! - [`trace_reader`]: arbitrary bytes as a trace file, through `nspsim check` and `nspsim
//!   replay` exactly as the command line runs them; bad input is exit 2 for both.
//! - [`api_sequence`]: arbitrary sequences of client API calls from several processes and
//!   threads, with faults, against the correct mock providers, with the checker online. Any
//!   panic, provider fault or checker violation is a bug of the dispatcher.
//!
//! Each function panics on a finding; it returns normally for any input that shows none.

use nspsim_runtime::checker::Checked;
use nspsim_runtime::registry::Registry;
use nspsim_runtime::scenario::{self, Scenario};
use nspsim_runtime::trace::{Mode, TraceBuffer, TraceHeader};
use nspsim_runtime::wsa::{CsAddr, Namespace, QuerySet};
use nspsim_runtime::{
    CatalogEntry, Config, Dispatcher, ExitHow, Guid, LookupHandle, LupFlags, Pid, Profile, Role,
    SetServiceFlags, SetServiceOp, StartupPolicy, Tid,
};
use serde_json::json;
use std::sync::{Once, OnceLock};

/// A provider's panic is contained by the dispatcher (P4) and becomes a `fault` line; libFuzzer
/// must not count it as a crash (its hook aborts on every panic). Any other panic still goes to
/// the previous hook.
fn contain_provider_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !nspsim_runtime::dispatcher::in_provider_call() {
                previous(info);
            }
        }));
    });
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(nspsim_providers::registry)
}

/// Arbitrary bytes as a scenario file.
pub fn scenario_loader(data: &[u8]) {
    contain_provider_panics();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match scenario::parse("fuzz.toml", text, registry()) {
        Ok(s) => {
            let again = Scenario::from_json_with(&s.to_json(), registry())
                .unwrap_or_else(|e| panic!("a loaded scenario's JSON form does not load: {e}"));
            assert_eq!(again, s, "the JSON form of a scenario changes it");
            let _ = crate::runs::header(&s, 0).encode();
        }
        Err(e) => {
            let _ = crate::diagnostics::scenario_error(&e);
            let _ = e.to_string();
        }
    }
}

/// A scratch file for one input (unique per process and call).
fn scratch(data: &[u8]) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "nspsim-fuzz-{}-{}.jsonl",
        std::process::id(),
        n % 4
    ));
    std::fs::write(&path, data).expect("write the scratch trace");
    path
}

/// Arbitrary bytes as a trace file, through `nspsim check` and `nspsim replay`.
pub fn trace_reader(data: &[u8]) {
    contain_provider_panics();
    let path = scratch(data);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let checked = crate::cli::check_cmd(&path, registry(), &mut out, &mut err);
    let (mut out2, mut err2) = (Vec::new(), Vec::new());
    let replayed = crate::cli::replay_cmd(&path, None, registry(), &mut out2, &mut err2);
    let _ = std::fs::remove_file(&path);
    assert!(matches!(checked, 0..=2) && matches!(replayed, 0..=2));
    assert!(
        checked != crate::cli::BAD_INPUT || replayed == crate::cli::BAD_INPUT,
        "check says bad input ({}) but replay does not ({})",
        String::from_utf8_lossy(&err),
        String::from_utf8_lossy(&out2)
    );
    for e in [&err, &err2] {
        for line in String::from_utf8_lossy(e).lines() {
            // Input is quoted at most 80 characters at a time; what else a line holds is
            // nspsim's own text, of which the longest is the list of every accepted LUP_ name
            // (about 800 characters). 1,200 leaves room without letting an echo through.
            assert!(
                line.chars().count() <= 1200,
                "an error line of {} characters: {line}",
                line.chars().count()
            );
        }
    }
}

/// Fuzz input as a stream of small choices; zeros once it runs out.
struct Choices<'a> {
    data: &'a [u8],
    at: usize,
}

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[usize::from(self.byte()) % from.len()]
    }

    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }

    fn done(&self) -> bool {
        self.at >= self.data.len()
    }
}

/// The correct mock providers a sequence may run against.
const KINDS: &[(&str, &str)] = &[
    ("email-directory", "inline"),
    ("email-directory", "deferred"),
    ("minimal", ""),
    ("minimal-stubs", ""),
];

const NAMES: &[Option<&str>] = &[
    Some("alice@example.com"),
    Some("bob@example.org"),
    None,
    Some("nobody@example.com"),
    Some("*"),
];

const FLAGS: &[u32] = &[
    0,
    0x10,           // LUP_RETURN_NAME
    0x110,          // NAME | ADDR
    0xFF0,          // RETURN_ALL
    0x2000 | 0x110, // FLUSHPREVIOUS
    0x1000 | 0x10,  // FLUSHCACHE
    0x4000,         // NON_AUTHORITATIVE
    0x1 | 0x8,      // DEEP | NEAREST
];

const BUFFERS: &[u32] = &[0, 16, 120, 4096, 1 << 20];

fn provider_options(kind: &str, completion: &str) -> serde_json::Value {
    let entries = json!([
        { "name": "alice@example.com", "addrs": ["192.0.2.10:25"] },
        { "name": "bob@example.org", "addrs": ["192.0.2.20:25", "[2001:db8::1]:587"], "comment": "b" },
    ]);
    if kind == "email-directory" {
        json!({ "entries": entries, "completion": completion })
    } else {
        json!({ "entries": entries })
    }
}

/// One provider of a sequence: its id, kind and host.
struct Slot {
    id: Guid,
    kind: &'static str,
    completion: &'static str,
    host: Pid,
}

/// Arbitrary API-call sequences against the correct providers, with the checker online.
pub fn api_sequence(data: &[u8]) {
    contain_provider_panics();
    let mut c = Choices { data, at: 0 };
    let config = Config {
        profile: c.pick(&[Profile::Win7, Profile::Vista]),
        startup_policy: c.pick(&[StartupPolicy::PerProcess, StartupPolicy::PerWsaStartup]),
    };
    let header = TraceHeader {
        version: nspsim_runtime::trace::VERSION,
        mode: Mode::Sim,
        seed: 0,
        profile: config.profile.name().to_string(),
        startup_policy: config.startup_policy.name().to_string(),
        scenario: json!({ "name": "api-sequence" }),
    };
    let sink = Checked::new(TraceBuffer::new(&header), config.startup_policy);
    let mut d = Dispatcher::new(config, sink);
    let t1 = Tid(1);

    // Providers, each advertised by a host of its own.
    let mut slots = Vec::new();
    for i in 0..1 + c.below(3) {
        let (kind, completion) = c.pick(KINDS);
        let id = Guid::from_u128(0x6f0e2a57_2f7c_4d8b_9a3e_1c2b3d4e5f60 + i as u128);
        let _ = d.install_provider(CatalogEntry::new(id, format!("p{i}"), Namespace::EMAIL));
        let host = d.create_process(&format!("host{i}"), Role::Host);
        let _ = d.wsa_startup(host, t1, (2, 2));
        let slot = Slot {
            id,
            kind,
            completion,
            host,
        };
        advertise(&mut d, &slot);
        slots.push(slot);
    }
    // Clients, each with one to three threads.
    let mut clients: Vec<(Pid, u32)> = Vec::new();
    for i in 0..1 + c.below(3) {
        let pid = d.create_process(&format!("client{i}"), Role::Client);
        let mut threads = 1;
        for _ in 0..c.below(3) {
            if d.create_thread(pid).is_some() {
                threads += 1;
            }
        }
        clients.push((pid, threads));
    }

    let mut handles: Vec<LookupHandle> = Vec::new();
    let mut now = 0u64;
    for _ in 0..512 {
        if c.done() {
            break;
        }
        let (pid, threads) = c.pick(&clients);
        let tid = Tid(1 + (u32::from(c.byte()) % threads));
        match c.byte() % 16 {
            0 => {
                let version = c.pick(&[(2, 2), (1, 1), (2, 0), (0, 0), (3, 1)]);
                let _ = d.wsa_startup(pid, tid, version);
            }
            1 => {
                let _ = d.wsa_cleanup(pid, tid);
            }
            2 | 3 => {
                let restrictions = query(&mut c, &slots);
                let flags = LupFlags(c.pick(FLAGS));
                if let Ok(h) = d.wsa_lookup_service_begin(pid, tid, &restrictions, flags) {
                    handles.push(h);
                }
            }
            4 | 5 => {
                let h = handle(&mut c, &handles);
                let flags = LupFlags(c.pick(FLAGS));
                let buffer = c.pick(BUFFERS);
                let _ = d.wsa_lookup_service_next(pid, tid, h, flags, buffer);
            }
            6 => {
                let h = handle(&mut c, &handles);
                let _ = d.wsa_lookup_service_end(pid, tid, h);
            }
            7 => {
                let mut info = query(&mut c, &slots);
                info.addresses = vec![CsAddr::tcp(c.pick(&[
                    "192.0.2.30:25".parse().expect("address"),
                    "192.0.2.10:25".parse().expect("address"),
                ]))];
                let op = c.pick(&SetServiceOp::ALL);
                let flags = c.pick(&[SetServiceFlags::EMPTY, SetServiceFlags::SERVICE_MULTIPLE]);
                let _ = d.wsa_set_service(pid, tid, &info, op, flags);
            }
            8 => {
                let how = c.pick(&[ExitHow::Exit, ExitHow::Crash, ExitHow::Kill]);
                d.exit_process(pid, how);
            }
            9 => {
                let buffer = c.pick(BUFFERS);
                let _ = d.wsa_enum_name_space_providers_ex(pid, tid, buffer);
            }
            10 | 11 => {
                // Deferred work, in an order the input picks.
                let work: Vec<u64> = d.pending_work().iter().map(|w| w.id).collect();
                if !work.is_empty() {
                    let id = work[c.below(work.len())];
                    d.run_work(id);
                }
            }
            12 => {
                // Faults: a host crashes, a provider is unadvertised, disabled or enabled.
                let slot = &slots[c.below(slots.len())];
                match c.byte() % 4 {
                    0 => d.exit_process(slot.host, ExitHow::Crash),
                    1 => {
                        let _ = d.wsa_unadvertise_provider(slot.host, t1, slot.id);
                    }
                    2 => {
                        let _ = d.enable_provider(slot.id, false);
                    }
                    _ => {
                        let _ = d.enable_provider(slot.id, true);
                    }
                }
            }
            13 => {
                // A host that is still up advertises its provider again.
                let slot = &slots[c.below(slots.len())];
                if d.is_alive(slot.host) && d.advertiser(slot.id).is_none() {
                    advertise(&mut d, slot);
                }
            }
            14 => {
                now += 1 + u64::from(c.byte());
                d.set_time(now);
            }
            _ => {
                let _ = d.wsa_get_last_error(pid, tid);
            }
        }
        let _ = d.take_wakes();
    }

    // The end of the run: what is left of the deferred work, then every process exits.
    drain_work(&mut d);
    for (pid, _) in &clients {
        d.exit_process(*pid, ExitHow::Exit);
    }
    drain_work(&mut d);
    for slot in &slots {
        d.exit_process(slot.host, ExitHow::Exit);
    }
    drain_work(&mut d);
    let _ = d.take_wakes();
    let end = d.now();
    let mut sink = d.into_sink();
    sink.finish(end, true);
    let violations = sink.violations();
    let text = sink.into_inner().finish(end);
    let faulted = text.lines().any(|l| l.contains(r#""ev":"fault""#));
    if violations > 0 || faulted {
        let lines: Vec<&str> = text.lines().collect();
        let shown = lines
            .iter()
            .filter(|l| l.contains(r#""ev":"violation""#) || l.contains(r#""ev":"fault""#))
            .take(5)
            .copied()
            .collect::<Vec<_>>()
            .join("\n");
        panic!(
            "the dispatcher broke a rule with correct providers ({violations} violation(s){}):\n{shown}\n--- whole trace ({} lines) ---\n{text}",
            if faulted { ", a provider faulted" } else { "" },
            lines.len()
        );
    }
}

/// Builds and advertises a fresh instance of the slot's provider from its host.
fn advertise<S: nspsim_runtime::EventSink>(d: &mut Dispatcher<S>, slot: &Slot) {
    let kind = registry().get(slot.kind).expect("a registered kind");
    let code = kind
        .build(&provider_options(slot.kind, slot.completion))
        .expect("valid options");
    let _ = d.wsa_advertise_provider(slot.host, Tid(1), slot.id, code);
}

/// A query: a name, and a namespace or a provider.
fn query(c: &mut Choices<'_>, slots: &[Slot]) -> QuerySet {
    let mut q = QuerySet {
        service_instance_name: c.pick(NAMES).map(str::to_string),
        namespace: c.pick(&[Namespace::EMAIL, Namespace::ALL, Namespace::DNS]),
        ..QuerySet::default()
    };
    match c.byte() % 4 {
        0 => q.ns_provider_id = Some(slots[c.below(slots.len())].id),
        1 => q.ns_provider_id = Some(Guid::from_u128(0xdead)),
        _ => {}
    }
    q
}

/// A handle the run got, or now and then a forged one.
fn handle(c: &mut Choices<'_>, handles: &[LookupHandle]) -> LookupHandle {
    match c.byte() {
        0 => LookupHandle(0),
        1 => LookupHandle(u64::MAX),
        b if handles.is_empty() => LookupHandle(u64::from(b)),
        _ => handles[c.below(handles.len())],
    }
}

/// Runs deferred work until none is left (bounded: a provider may keep asking for more).
fn drain_work<S: nspsim_runtime::EventSink>(d: &mut Dispatcher<S>) {
    for _ in 0..1000 {
        let Some(id) = d.pending_work().first().map(|w| w.id) else {
            break;
        };
        d.run_work(id);
        let _ = d.take_wakes();
    }
}
