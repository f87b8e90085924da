//! P4 with real processes: a C provider that crashes, exits or hangs takes down its host, never
//! nspsim; the instance reports a crash or a timeout naming the entry point, stays dead, and no
//! host process outlives its instance.

mod c_library_support;

use c_library_support::*;
use nspsim_core::provider::ContextOp;
use nspsim_core::{
    AsyncCall, LupFlags, Namespace, NspFn, NspV2Provider, ProviderCrash, ProviderLookup,
    ProviderTimeout, QuerySet, SessionArg, SetServiceFlags, SetServiceOp,
};
use serde_json::json;
use std::time::{Duration, Instant};

fn q() -> QuerySet {
    QuerySet::restrictions(Namespace::EMAIL, "alice@example.com")
}

/// Calls `f` on a fresh provider after the calls it needs first; returns the panic payload.
fn fault_in(f: NspFn, how: &str) -> Box<dyn std::any::Any + Send> {
    let fname = match f {
        NspFn::Startup => "startup",
        NspFn::Cleanup => "cleanup",
        NspFn::LookupServiceBegin => "begin",
        NspFn::LookupServiceNextEx => "next",
        NspFn::LookupServiceEnd => "end",
        NspFn::SetServiceEx => "set",
        NspFn::ClientSessionRundown => "rundown",
    };
    let crash = format!("crash={fname}:{how}");
    let mut p = build(probe(&[&crash])).expect("builds");
    let mut c = ctx();
    let session = SessionArg::new(0x1001);
    let lookup = if matches!(f, NspFn::LookupServiceNextEx | NspFn::LookupServiceEnd) {
        p.lookup_service_begin(&mut c, &q(), LupFlags::RETURN_NAME, session)
            .expect("Begin")
    } else {
        ProviderLookup(0)
    };
    panic_of(move || match f {
        NspFn::Startup => drop(p.startup(&mut c)),
        NspFn::Cleanup => drop(p.cleanup(&mut c, session)),
        NspFn::LookupServiceBegin => {
            let _ = p.lookup_service_begin(&mut c, &q(), LupFlags::RETURN_NAME, session);
        }
        NspFn::LookupServiceNextEx => {
            p.lookup_service_next_ex(&mut c, AsyncCall(1), lookup, LupFlags::RETURN_NAME, 512)
        }
        NspFn::LookupServiceEnd => drop(p.lookup_service_end(&mut c, lookup)),
        NspFn::SetServiceEx => p.set_service_ex(
            &mut c,
            AsyncCall(1),
            &q(),
            SetServiceOp::Register,
            SetServiceFlags(0),
            session,
        ),
        NspFn::ClientSessionRundown => p.client_session_rundown(&mut c, session),
    })
}

fn crash_detail(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<ProviderCrash>() {
        Ok(c) => c.detail,
        Err(p) => panic!(
            "expected a ProviderCrash, got {:?}",
            p.downcast_ref::<String>()
        ),
    }
}

#[test]
fn a_crash_in_each_entry_point_is_a_provider_crash_naming_it() {
    for f in NspFn::ALL {
        for (how, says) in [
            ("segv", "host killed by SIGSEGV"),
            ("abort", "host aborted (SIGABRT)"),
            ("exit3", "host exited with status 3"),
        ] {
            let detail = crash_detail(fault_in(f, how));
            assert_eq!(detail, format!("{says} during {}", f.name()));
        }
    }
}

#[test]
fn a_crash_in_a_work_item_names_the_entry_point_that_queued_it() {
    let mut p = build(probe(&["complete=work", "crash=work:segv"])).expect("builds");
    let mut c = ctx();
    let lookup = p
        .lookup_service_begin(&mut c, &q(), LupFlags::RETURN_NAME, None)
        .expect("Begin");
    p.lookup_service_next_ex(&mut c, AsyncCall(1), lookup, LupFlags::RETURN_NAME, 512);
    let [ContextOp::Defer(t)] = c.take_ops()[..] else {
        panic!("one work item")
    };
    let detail = crash_detail(panic_of(|| p.run_deferred(&mut c, t)));
    assert_eq!(
        detail,
        "host killed by SIGSEGV during a work item queued by NSPv2LookupServiceNextEx"
    );
}

#[test]
fn a_crash_in_the_host_main_fails_the_build() {
    let e = build(probe(&["crash=entry:segv"]))
        .err()
        .expect("a build error");
    assert!(
        e.contains("host killed by SIGSEGV while running `ProbeMain` (entry)"),
        "{e}"
    );
    let e = build(probe(&["crash=entry:exit3"]))
        .err()
        .expect("a build error");
    assert!(e.contains("host exited with status 3"), "{e}");
}

#[test]
fn a_hang_is_a_timeout_and_the_host_is_killed() {
    let mut options = probe(&["crash=next:hang"]);
    options["call_deadline_ms"] = json!(200);
    let mut p = build_concrete(options).expect("builds");
    let pid = p.host_pid().expect("a host");
    let mut c = ctx();
    let lookup = p
        .lookup_service_begin(&mut c, &q(), LupFlags::RETURN_NAME, None)
        .expect("Begin");
    let payload = panic_of(|| {
        p.lookup_service_next_ex(&mut c, AsyncCall(1), lookup, LupFlags::RETURN_NAME, 512)
    });
    let t = payload.downcast::<ProviderTimeout>().expect("a timeout");
    assert_eq!(
        *t,
        ProviderTimeout {
            func: NspFn::LookupServiceNextEx,
            after_ms: 200
        }
    );
    assert!(!alive(pid), "the hung host was killed");

    // Dead now: every later call fails at once with the same fault, and nothing hangs.
    let again = panic_of(|| p.lookup_service_end(&mut c, lookup));
    assert!(again.downcast_ref::<ProviderTimeout>().is_some());
    assert_eq!(p.held_state(), None);
    assert_eq!(p.routine_table().cb_size, 72);
}

#[test]
fn a_hang_in_the_host_main_fails_the_build_within_the_deadline() {
    let mut options = probe(&["crash=entry:hang"]);
    options["call_deadline_ms"] = json!(100);
    let e = build(options).err().expect("a build error");
    assert!(e.contains("did not return within 100 ms"), "{e}");
}

#[test]
fn after_a_crash_the_instance_stays_dead_without_hanging() {
    let mut p = build(probe(&["crash=cleanup:segv"])).expect("builds");
    let mut c = ctx();
    let _ = panic_of(|| p.cleanup(&mut c, None));
    for _ in 0..3 {
        let detail = crash_detail(panic_of(|| p.startup(&mut c)));
        assert_eq!(detail, "host killed by SIGSEGV during NSPv2Cleanup");
    }
}

#[test]
fn a_malformed_result_is_a_panic_naming_the_field() {
    let mut p = build(probe(&["bad-result"])).expect("builds");
    let mut c = ctx();
    let lookup = p
        .lookup_service_begin(&mut c, &q(), LupFlags::RETURN_NAME, None)
        .expect("Begin");
    let payload = panic_of(|| {
        p.lookup_service_next_ex(&mut c, AsyncCall(1), lookup, LupFlags::RETURN_NAME, 512)
    });
    let text = payload.downcast_ref::<String>().expect("a message");
    assert!(text.starts_with("malformed result:"), "{text}");
    assert!(text.contains("lpszServiceInstanceName"), "{text}");
}

#[test]
fn a_malformed_result_reads_the_same_in_every_host_process() {
    // Two fork servers are two executions of the host, with different addresses (ASLR): the
    // fault's text goes into the trace, so it must not show them.
    let detail = || {
        let mut p = build(probe(&["bad-result"])).expect("builds");
        let mut c = ctx();
        let lookup = p
            .lookup_service_begin(&mut c, &q(), LupFlags::RETURN_NAME, None)
            .expect("Begin");
        let payload = panic_of(|| {
            p.lookup_service_next_ex(&mut c, AsyncCall(1), lookup, LupFlags::RETURN_NAME, 512)
        });
        payload.downcast_ref::<String>().expect("a message").clone()
    };
    let first = detail();
    assert_eq!(first, detail());
    assert!(!first.contains("0x"), "{first}");
}

/// Every (pid, parent pid) the host mains wrote, including pre-forked spares'.
fn pids_in(pidfile: &std::path::Path) -> Vec<(u32, u32)> {
    let text = std::fs::read_to_string(pidfile).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace().map(|s| s.parse::<u32>().ok());
            Some((it.next()??, it.next()??))
        })
        .collect()
}

/// The fork server of the host process `child`.
fn server_of(pidfile: &std::path::Path, child: u32) -> u32 {
    pids_in(pidfile)
        .into_iter()
        .find(|(pid, _)| *pid == child)
        .map(|(_, ppid)| ppid)
        .expect("the host main wrote its pids")
}

fn wait_gone(pid: u32) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn all_gone(pidfile: &std::path::Path) {
    for (pid, ppid) in pids_in(pidfile) {
        assert!(wait_gone(pid), "host {pid} is gone");
        assert!(wait_gone(ppid), "fork server {ppid} is gone");
    }
}

#[test]
fn no_host_process_outlives_its_instance() {
    let pidfile = scratch().join(format!("pids-{}", std::process::id()));
    let _ = std::fs::remove_file(&pidfile);
    let arg = format!("pidfile={}", pidfile.display());
    // build: the instance owns its fork server (and the child it pre-forked for a next run).
    let p = build_concrete(probe(&[&arg])).expect("builds");
    let child = p.host_pid().expect("a host");
    let server = server_of(&pidfile, child);
    assert!(alive(child) && alive(server));
    drop(p);
    assert!(wait_gone(child), "the run's host exited");
    assert!(wait_gone(server), "the fork server exited");
    all_gone(&pidfile);

    // Prepared: the fork server is shared; each instance has its own child.
    let _ = std::fs::remove_file(&pidfile);
    let opts = nspsim_providers::c_library::CLibraryOptions::parse(&bound(probe(&[&arg])))
        .expect("options");
    let server = opts.spawn().expect("spawns");
    let a = opts.instance(&server).expect("an instance");
    let b = opts.instance(&server).expect("another");
    let (child_a, child_b) = (a.host_pid().expect("a"), b.host_pid().expect("b"));
    assert_ne!(child_a, child_b, "a child per instance");
    let server_pid = server_of(&pidfile, child_a);
    assert_eq!(server_pid, server_of(&pidfile, child_b), "one fork server");
    drop(a);
    assert!(wait_gone(child_a));
    assert!(alive(child_b) && alive(server_pid));
    drop(server);
    assert!(alive(server_pid), "instances keep their fork server");
    drop(b);
    assert!(wait_gone(child_b));
    assert!(wait_gone(server_pid));
    all_gone(&pidfile);

    // A crashed instance leaves nothing either.
    let _ = std::fs::remove_file(&pidfile);
    let mut p = build_concrete(probe(&[&arg, "crash=startup:abort"])).expect("builds");
    let child = p.host_pid().expect("a host");
    let _ = panic_of(|| p.startup(&mut ctx()));
    assert!(!alive(child));
    drop(p);
    all_gone(&pidfile);
}

#[test]
fn concurrent_instances_each_get_their_own_host() {
    use nspsim_core::ProviderKind;
    let kind = nspsim_providers::c_library::CLibraryKind;
    let options = bound(probe(&[]));
    let factory = kind.prepare(&options).expect("prepares");
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..10 {
                    let mut p = factory().expect("an instance");
                    let session = p.startup(&mut ctx()).expect("Startup");
                    assert_eq!(session.map(|s| s.raw()), Some(0x1001));
                }
            });
        }
    });
}

#[test]
fn an_address_sanitizer_report_is_a_crash() {
    let source = scratch().join("overflow.c");
    std::fs::write(
        &source,
        r#"#include <winsock2.h>
#include <ws2spi.h>
#include <windows.h>
static const GUID ID = { 0x3c1d2e4f, 0x5a6b, 0x4c7d, { 0x8e, 0x9f, 0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5 } };
static volatile int g_index = 16;
static INT WSAAPI Begin(LPGUID id, LPWSAQUERYSET2W qs, DWORD f, LPVOID s, LPHANDLE h)
{
    char *p = (char *)HeapAlloc(GetProcessHeap(), 0, 16);
    (void)id; (void)qs; (void)f; (void)s;
    p[g_index] = 1; /* one past the end: AddressSanitizer reports it */
    *h = p;
    return 0;
}
static VOID WSAAPI Next(HANDLE c, HANDLE h, DWORD f, LPDWORD l, LPWSAQUERYSET2W q) { (void)h; (void)f; (void)l; (void)q; WSAProviderCompleteAsyncCall(c, WSA_E_NO_MORE); }
static INT WSAAPI End(HANDLE h) { (void)h; return 0; }
static NSPV2_ROUTINE T = { sizeof(NSPV2_ROUTINE), 2, 0, NULL, NULL, Begin, Next, End, NULL, NULL };
int AsanMain(int argc, char **argv) { WSADATA d; (void)argc; (void)argv; WSAStartup(MAKEWORD(2, 2), &d); return WSAAdvertiseProvider(&ID, &T); }
"#,
    )
    .expect("write");
    let lib = library_with(
        source.to_str().expect("utf-8"),
        &["-fsanitize=address", "-fno-omit-frame-pointer"],
    );
    let options = json!({ "path": lib, "entry": "AsanMain", "sanitizer": "address" });
    let mut p = build(options).unwrap_or_else(|e| panic!("{e}"));
    let mut c = ctx();
    let detail = crash_detail(panic_of(|| {
        p.lookup_service_begin(&mut c, &q(), LupFlags::RETURN_NAME, None)
    }));
    // The sanitizer host exits with its own status for a report, told apart from exit(1).
    assert_eq!(
        detail,
        "AddressSanitizer report during NSPv2LookupServiceBegin"
    );
}

#[test]
fn a_fork_that_fails_after_connecting_does_not_shift_later_runs() {
    use nspsim_providers::c_library::host::{Connection, ForkServer, HostSpec};
    use nspsim_providers::c_library::{protocol, toolchain};
    // Fork 2 is the spare forked after the first `F`; fork 3 fails the same way after a
    // second `F` has to fork on demand. Every instance still gets its own child's connection,
    // with its own greeting.
    for fail in [1, 2, 3] {
        let spec = HostSpec {
            exe: toolchain::host_binary(toolchain::Variant::Plain).expect("a host"),
            library: library("probe.c"),
            is_entry: true,
            symbol: "ProbeMain".into(),
            id: Some(protocol::guid_to_c(ID)),
            name: "probe".into(),
            args: Vec::new(),
            load_deadline: Duration::from_secs(5),
            address_sanitizer: false,
            live: false,
            fail_fork_at: Some(fail),
        };
        let server = ForkServer::spawn(&spec).expect("spawns");
        let mut opened = 0;
        for _ in 0..4 {
            let mut conn = match Connection::open(&server, Duration::from_secs(5)) {
                Ok(c) => c,
                // The failed fork itself is reported by the `F` that needed it.
                Err(e) => {
                    assert!(e.contains("fork failed"), "{e}");
                    continue;
                }
            };
            let hello = conn.receive().expect("the child's greeting");
            let hello = protocol::decode_hello(hello).expect("a greeting");
            assert!(hello.advertised, "fail_fork_at {fail}");
            opened += 1;
        }
        assert!(opened >= 3, "fail_fork_at {fail}: {opened} opened");
    }
}

/// Linux: the listening socket is in the abstract namespace, so a run leaves no file or
/// directory behind, even when nspsim dies by a signal and no `Drop` runs.
#[cfg(target_os = "linux")]
#[test]
fn the_listening_socket_is_no_file() {
    let prefix = format!("nspsim-host-{}-", std::process::id());
    let ours = || {
        std::fs::read_dir(std::env::temp_dir())
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                    .count()
            })
            .unwrap_or(0)
    };
    let p = build_concrete(probe(&[])).expect("builds");
    assert_eq!(ours(), 0, "no socket directory in the temporary directory");
    let unix = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
    assert!(unix.contains(&format!("@{prefix}")), "an abstract socket");
    drop(p);
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => panic!(
            "expected a panic with a text, got crash {:?}",
            p.downcast_ref::<ProviderCrash>().map(|c| &c.detail)
        ),
    }
}

#[test]
fn a_write_after_completion_is_a_fault_naming_the_parameter() {
    for (how, says) in [
        (
            "buffer",
            "wrote to lpqsResults of call 1 after completing it",
        ),
        (
            "length",
            "wrote to lpdwBufferLength of call 1 after completing it",
        ),
    ] {
        let mut p = build(probe(&[&format!("late-write={how}")])).expect("builds");
        let mut c = ctx();
        let lookup = p
            .lookup_service_begin(&mut c, &q(), LupFlags::RETURN_NAME, None)
            .expect("Begin");
        let text = panic_text(panic_of(|| {
            p.lookup_service_next_ex(&mut c, AsyncCall(1), lookup, LupFlags::RETURN_NAME, 512)
        }));
        assert!(text.starts_with("write after completion: "), "{text}");
        assert!(text.contains(says), "{text}");
    }
}

#[test]
fn too_many_pending_calls_is_a_fault_naming_the_limit() {
    let mut p = build(probe(&["complete=none"])).expect("builds");
    let mut c = ctx();
    let lookup = p
        .lookup_service_begin(&mut c, &q(), LupFlags::RETURN_NAME, None)
        .expect("Begin");
    for call in 1..=65_536u64 {
        p.lookup_service_next_ex(&mut c, AsyncCall(call), lookup, LupFlags::RETURN_NAME, 0);
    }
    let text = panic_text(panic_of(|| {
        p.lookup_service_next_ex(&mut c, AsyncCall(65_537), lookup, LupFlags::RETURN_NAME, 0)
    }));
    assert!(
        text.contains("host limit: more than 65536 NextEx and SetServiceEx calls pending"),
        "{text}"
    );
}

/// A child that closed its connection but does not exit is waited for, then killed; the wait
/// does not hold the fork server's control channel, so other runs fork and call meanwhile.
#[test]
fn waiting_for_one_child_to_end_does_not_stall_other_runs() {
    use nspsim_core::ProviderKind;
    let kind = nspsim_providers::c_library::CLibraryKind;
    let options = bound(probe(&["crash=begin:close"]));
    let factory = kind.prepare(&options).expect("prepares");
    let mut slow = factory().expect("an instance");
    std::thread::scope(|s| {
        let waited = s.spawn(move || {
            let detail = crash_detail(panic_of(|| {
                slow.lookup_service_begin(&mut ctx(), &q(), LupFlags::RETURN_NAME, None)
            }));
            (detail, Instant::now())
        });
        // The first run is now waiting for its child to exit (up to two seconds).
        std::thread::sleep(Duration::from_millis(300));
        for _ in 0..5 {
            let mut p = factory().expect("an instance");
            assert!(p.startup(&mut ctx()).is_ok());
        }
        let others_done = Instant::now();
        let (detail, waited_done) = waited.join().expect("the waiting run");
        assert_eq!(
            detail,
            "host closed its connection and was killed during NSPv2LookupServiceBegin"
        );
        assert!(others_done < waited_done, "other runs went on meanwhile");
    });
}

#[test]
fn a_reply_longer_than_a_frame_is_a_fault_naming_the_limit() {
    let mut p = build(probe(&["fill-buffer"])).expect("builds");
    let mut c = ctx();
    let lookup = p
        .lookup_service_begin(&mut c, &q(), LupFlags::RETURN_NAME, None)
        .expect("Begin");
    // A 1 MiB buffer, every byte non-zero, is sent whole.
    p.lookup_service_next_ex(&mut c, AsyncCall(1), lookup, LupFlags::RETURN_NAME, 1 << 20);
    // One of 65 MiB, completed with every byte non-zero, cannot be.
    let text = panic_text(panic_of(|| {
        p.lookup_service_next_ex(
            &mut c,
            AsyncCall(2),
            lookup,
            LupFlags::RETURN_NAME,
            65 << 20,
        )
    }));
    assert!(
        text.contains("host limit: the completions and work items of one call exceed the 64 MiB"),
        "{text}"
    );
}
