//! The c-library kind serving calls: the shipped example (contoso.c), every exported Winsock and
//! kernel32 function, work items, completions, the routine table, and build errors.

mod c_library_support;

use c_library_support::*;
use nspsim_core::provider::{ContextOp, EntryPoint};
use nspsim_core::{
    AsyncCall, LupFlags, Namespace, NextExOutput, NspFn, NspV2Provider, ProviderKind,
    ProviderLookup, QuerySet, SetServiceFlags, SetServiceOp, WorkToken, WsaError,
};
use nspsim_providers::c_library::{self, CLibraryKind};
use serde_json::json;

fn contoso(args: &[&str]) -> Box<dyn nspsim_core::NspV2Provider> {
    let path = library(concat!(env!("CARGO_MANIFEST_DIR"), "/c/examples/contoso.c"));
    let options = json!({ "path": path, "entry": "ContosoHostMain", "args": args });
    CLibraryKind
        .build(&c_library::with_identity(&options, CONTOSO_ID, "contoso"))
        .expect("contoso builds")
}

fn name_of(op: &ContextOp) -> Option<String> {
    match op {
        ContextOp::WriteNextEx(_, out) => match &**out {
            NextExOutput::Result(qs) => qs.service_instance_name.clone(),
            NextExOutput::BufferTooSmall { .. } => None,
        },
        _ => None,
    }
}

#[test]
fn contoso_serves_a_whole_lookup_inline() {
    let mut p = contoso(&[]);
    let t = p.routine_table();
    assert_eq!((t.cb_size, t.major_version, t.minor_version), (72, 1, 0));
    assert!(
        NspFn::ALL.iter().all(|f| t.has(*f)),
        "contoso fills every slot"
    );

    let mut c = ctx_for(CONTOSO_ID);
    let session = p
        .startup(&mut c)
        .expect("Startup")
        .expect("a session argument");
    let query = QuerySet::restrictions(Namespace::EMAIL, "bob@contoso.com");
    let flags = LupFlags::RETURN_NAME | LupFlags::RETURN_ADDR;
    let lookup = p
        .lookup_service_begin(&mut c, &query, flags, Some(session))
        .expect("Begin");

    // Too small: WSAEFAULT with the size the result needs (S5.5).
    p.lookup_service_next_ex(&mut c, AsyncCall(1), lookup, flags, 16);
    let o = ops(&mut c);
    let required = match &o[..] {
        [
            ContextOp::WriteNextEx(AsyncCall(1), out),
            ContextOp::Complete(AsyncCall(1), Err(WsaError::EFAULT)),
        ] if let NextExOutput::BufferTooSmall { required } = **out => required,
        other => panic!("expected WSAEFAULT with a size, got {other:?}"),
    };
    assert!(required > 112, "{required}");

    p.lookup_service_next_ex(&mut c, AsyncCall(2), lookup, flags, required);
    let o = ops(&mut c);
    assert_eq!(o.len(), 2, "{o:?}");
    assert_eq!(name_of(&o[0]).as_deref(), Some("bob@contoso.com"));
    assert_eq!(o[1], ContextOp::Complete(AsyncCall(2), Ok(())));

    p.lookup_service_next_ex(&mut c, AsyncCall(3), lookup, flags, 4096);
    assert_eq!(
        ops(&mut c),
        [ContextOp::Complete(AsyncCall(3), Err(WsaError::E_NO_MORE))]
    );
    p.lookup_service_end(&mut c, lookup).expect("End");
    p.cleanup(&mut c, Some(session)).expect("Cleanup");
    assert!(ops(&mut c).is_empty());
    assert_eq!(p.held_state(), None);
}

#[test]
fn contoso_reports_an_unknown_name_through_the_last_error() {
    let mut p = contoso(&[]);
    let mut c = ctx_for(CONTOSO_ID);
    let session = p.startup(&mut c).expect("Startup");
    let query = QuerySet::restrictions(Namespace::EMAIL, "nobody@contoso.com");
    assert!(
        p.lookup_service_begin(&mut c, &query, LupFlags::RETURN_NAME, session)
            .is_err()
    );
    assert_eq!(c.last_error(), Some(WsaError::SERVICE_NOT_FOUND));
}

#[test]
fn contoso_on_the_thread_pool_completes_only_when_its_work_runs() {
    let mut p = contoso(&["--complete=worker"]);
    let mut c = ctx_for(CONTOSO_ID);
    let session = p.startup(&mut c).expect("Startup");
    let query = QuerySet::restrictions(Namespace::EMAIL, "alice@contoso.com");
    let lookup = p
        .lookup_service_begin(&mut c, &query, LupFlags::RETURN_NAME, session)
        .expect("Begin");
    p.lookup_service_next_ex(&mut c, AsyncCall(7), lookup, LupFlags::RETURN_NAME, 4096);
    let token = match &ops(&mut c)[..] {
        [ContextOp::Defer(t)] => *t,
        other => panic!("expected one work item, got {other:?}"),
    };
    p.run_deferred(&mut c, token);
    let o = ops(&mut c);
    assert_eq!(name_of(&o[0]).as_deref(), Some("alice@contoso.com"));
    assert_eq!(o[1], ContextOp::Complete(AsyncCall(7), Ok(())));

    // A registration from the pool, then found by a lookup.
    let reg = QuerySet::restrictions(Namespace::EMAIL, "dave@contoso.com");
    p.set_service_ex(
        &mut c,
        AsyncCall(8),
        &reg,
        SetServiceOp::Register,
        SetServiceFlags(0),
        session,
    );
    let [ContextOp::Defer(t)] = ops(&mut c)[..] else {
        panic!("a work item")
    };
    p.run_deferred(&mut c, t);
    assert_eq!(ops(&mut c), [ContextOp::Complete(AsyncCall(8), Ok(()))]);
    let query = QuerySet::restrictions(Namespace::EMAIL, "dave@contoso.com");
    assert!(
        p.lookup_service_begin(&mut c, &query, LupFlags::RETURN_NAME, session)
            .is_ok()
    );
}

#[test]
fn every_exported_function_behaves_as_on_windows() {
    // winapi.c's host main checks WSAStartup/WSACleanup, the last error, lstr*W, Heap*,
    // Local*, critical sections, byte order, Interlocked*, thread ids and advertising, and
    // returns the number of the first check that fails.
    let options = json!({ "path": library("winapi.c"), "entry": "WinApiMain" });
    let mut p = build(options).unwrap_or_else(|e| panic!("{e}"));
    let t = p.routine_table();
    assert_eq!((t.major_version, t.minor_version), (2, 1));
    assert_eq!(t.entries[NspFn::Startup as usize], EntryPoint::Absent);
    assert_eq!(
        t.entries[NspFn::ClientSessionRundown as usize],
        EntryPoint::Absent
    );
    assert_eq!(t.missing_required(), None);

    // The last error is per call: unset at the start, reported when set even on success.
    let mut c = ctx();
    let q = QuerySet::restrictions(Namespace::EMAIL, "x@example.com");
    let lookup = p
        .lookup_service_begin(&mut c, &q, LupFlags::RETURN_NAME, None)
        .expect("Begin");
    assert_eq!(lookup, ProviderLookup(0x42));
    assert_eq!(c.last_error(), WsaError::from_code(8));
    let mut c = ctx();
    p.lookup_service_end(&mut c, lookup).expect("End");
    assert_eq!(
        c.last_error(),
        None,
        "a call that sets nothing reports nothing"
    );
}

#[test]
fn unadvertising_twice_fails_and_an_unadvertised_host_main_fails_the_build() {
    // UnadvertiseMain: unadvertise, again (WSAEINVAL), advertise again; it returns 0 only when
    // each step answered as Windows does.
    let options = json!({ "path": library("winapi.c"), "entry": "UnadvertiseMain" });
    build(options).unwrap_or_else(|e| panic!("{e}"));
    let options = json!({ "path": library("winapi.c"), "entry": "UnadvertisedMain" });
    let e = build(options).err().expect("nothing is advertised");
    assert!(e.contains("without advertising"), "{e}");
}

#[test]
fn the_probe_reports_last_errors_per_call() {
    let mut p = build(probe(&[])).expect("builds");
    let mut c = ctx();
    assert!(p.cleanup(&mut c, None).is_err());
    assert_eq!(
        c.last_error(),
        Some(WsaError::EINVAL),
        "SetLastError is WSASetLastError"
    );
    let mut c = ctx();
    let q = QuerySet::restrictions(Namespace::EMAIL, "missing@example.com");
    assert!(
        p.lookup_service_begin(&mut c, &q, LupFlags::RETURN_NAME, None)
            .is_err()
    );
    assert_eq!(c.last_error(), Some(WsaError::SERVICE_NOT_FOUND));
    let mut c = ctx();
    p.client_session_rundown(&mut c, None);
    assert_eq!(
        c.last_error(),
        Some(WsaError::EACCES),
        "a void function's last error too"
    );
}

fn begin(p: &mut dyn nspsim_core::NspV2Provider, name: &str) -> ProviderLookup {
    let q = QuerySet::restrictions(Namespace::EMAIL, name);
    p.lookup_service_begin(&mut ctx(), &q, LupFlags::RETURN_NAME, None)
        .expect("Begin")
}

#[test]
fn queue_user_work_item_and_create_thread_become_deferred_work() {
    for mode in ["complete=work", "complete=thread"] {
        let mut p = build(probe(&[mode])).expect("builds");
        let lookup = begin(p.as_mut(), "alice@example.com");
        let mut c = ctx();
        p.lookup_service_next_ex(&mut c, AsyncCall(1), lookup, LupFlags::RETURN_NAME, 512);
        let [ContextOp::Defer(t1)] = ops(&mut c)[..] else {
            panic!("{mode}: nothing ran yet, one work item")
        };
        p.lookup_service_next_ex(&mut c, AsyncCall(2), lookup, LupFlags::RETURN_NAME, 512);
        let [ContextOp::Defer(t2)] = ops(&mut c)[..] else {
            panic!("{mode}: a second work item")
        };
        assert_ne!(t1, t2);
        // The scheduler picks the order: the second first.
        p.run_deferred(&mut c, t2);
        let o = ops(&mut c);
        assert_eq!(
            name_of(&o[0]).as_deref(),
            Some("alice@example.com"),
            "{mode}"
        );
        assert_eq!(o[1], ContextOp::Complete(AsyncCall(2), Ok(())));
        p.run_deferred(&mut c, t1);
        assert_eq!(ops(&mut c)[1], ContextOp::Complete(AsyncCall(1), Ok(())));
    }
}

#[test]
fn a_completion_after_end_writes_memory_the_host_still_owns() {
    let mut p = build(probe(&["complete=work"])).expect("builds");
    let lookup = begin(p.as_mut(), "late@example.com");
    let mut c = ctx();
    p.lookup_service_next_ex(&mut c, AsyncCall(5), lookup, LupFlags::RETURN_NAME, 512);
    let [ContextOp::Defer(t)] = ops(&mut c)[..] else {
        panic!("one work item")
    };
    p.lookup_service_end(&mut c, lookup)
        .expect("End frees the lookup");
    p.run_deferred(&mut c, t);
    let o = ops(&mut c);
    assert_eq!(name_of(&o[0]).as_deref(), Some("late@example.com"));
    assert_eq!(o[1], ContextOp::Complete(AsyncCall(5), Ok(())));
}

#[test]
fn set_service_ex_completes_inline_or_from_work() {
    let reg = QuerySet::restrictions(Namespace::EMAIL, "new@example.com");
    let mut p = build(probe(&[])).expect("builds");
    let mut c = ctx();
    p.set_service_ex(
        &mut c,
        AsyncCall(9),
        &reg,
        SetServiceOp::Register,
        SetServiceFlags(0),
        None,
    );
    assert_eq!(ops(&mut c), [ContextOp::Complete(AsyncCall(9), Ok(()))]);

    let mut p = build(probe(&["complete=work"])).expect("builds");
    p.set_service_ex(
        &mut c,
        AsyncCall(9),
        &reg,
        SetServiceOp::Delete,
        SetServiceFlags(1),
        None,
    );
    let [ContextOp::Defer(t)] = ops(&mut c)[..] else {
        panic!("one work item")
    };
    p.run_deferred(&mut c, t);
    assert_eq!(ops(&mut c), [ContextOp::Complete(AsyncCall(9), Ok(()))]);
}

#[test]
fn routines_advertises_an_exported_table_under_the_scenario_id() {
    let options = json!({ "path": library("probe.c"), "routines": "ProbeRoutines" });
    let mut p = build(options).expect("builds");
    let t = p.routine_table();
    assert_eq!((t.cb_size, t.major_version), (72, 2));
    let session = p.startup(&mut ctx()).expect("Startup");
    assert_eq!(session.map(|s| s.raw()), Some(0x1001));
}

#[test]
fn null_slots_are_absent_and_a_null_required_slot_is_left_to_the_dispatcher() {
    let mut p = build(probe(&["null=startup,rundown"])).expect("builds");
    let t = p.routine_table();
    assert_eq!(
        t.absent_optional(),
        [NspFn::Startup, NspFn::ClientSessionRundown]
    );
    assert_eq!(t.missing_required(), None);
    // Present slots still work.
    let _ = begin(p.as_mut(), "a@example.com");

    // A NULL required slot is reported as it is: the dispatcher refuses the advertisement
    // with WSAEINVAL (S3.1), where the trace shows it.
    let p = build(probe(&["null=end"])).expect("builds");
    assert_eq!(
        p.routine_table().missing_required(),
        Some(NspFn::LookupServiceEnd)
    );
    let p = build(probe(&["cbsize=40"])).expect("builds");
    let t = p.routine_table();
    assert_eq!(t.cb_size, 40, "a short table is recorded as it is (S1.5)");
    assert!(t.has(NspFn::Cleanup), "the first slots lie inside 40 bytes");
    assert!(
        !t.has(NspFn::LookupServiceNextEx),
        "slots past cbSize are not read"
    );
}

#[test]
fn every_instance_starts_from_fresh_state() {
    let opts = c_library::CLibraryOptions::parse(&bound(probe(&[]))).expect("options");
    let server = opts.spawn().expect("spawns");
    for _ in 0..3 {
        let mut p = opts.instance(&server).expect("an instance");
        let first = p.startup(&mut ctx()).expect("Startup").map(|s| s.raw());
        let second = p.startup(&mut ctx()).expect("Startup").map(|s| s.raw());
        assert_eq!(
            (first, second),
            (Some(0x1001), Some(0x1002)),
            "the counter restarts"
        );
    }
}

#[test]
fn a_provider_printing_to_stdout_does_not_disturb_the_protocol() {
    let mut p = build(probe(&["print"])).expect("builds");
    assert!(p.startup(&mut ctx()).is_ok());
}

#[test]
fn a_guid_mismatch_fails_the_build_naming_both_ids() {
    let e = build(probe(&["advertise=other"]))
        .err()
        .expect("a build error");
    assert!(e.contains("11111111-2222-3333-4444-555555555555"), "{e}");
    assert!(e.contains("3c1d2e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"), "{e}");
    assert!(e.contains("WSAEINVALIDPROVIDER"), "{e}");
}

#[test]
fn entry_failing_or_not_advertising_fails_the_build() {
    let e = build(probe(&["ret=7"])).err().expect("a build error");
    assert!(e.contains("`ProbeMain` (entry) returned 7"), "{e}");
    let e = build(probe(&["ret=10022"])).err().expect("a build error");
    assert!(e.contains("returned 10022 (WSAEINVAL (10022))"), "{e}");
    let e = build(probe(&["advertise=none"]))
        .err()
        .expect("a build error");
    assert!(e.contains("without advertising"), "{e}");
    // Advertising twice: the second is refused (S3.2), the host main reports it worked.
    assert!(build(probe(&["advertise=twice"])).is_ok());
}

#[test]
fn load_errors_name_the_option() {
    let e = build(json!({ "path": "/nonexistent/libx.so", "entry": "X" }))
        .err()
        .expect("missing file");
    assert!(
        e.contains("option `path`") && e.contains("/nonexistent/libx.so"),
        "{e}"
    );
    let e = build(json!({ "path": library("probe.c"), "entry": "NoSuchMain" }))
        .err()
        .expect("missing symbol");
    assert!(
        e.contains("option `entry`") && e.contains("`NoSuchMain`"),
        "{e}"
    );
    let e = build(json!({ "path": library("probe.c"), "routines": "NoSuchTable" }))
        .err()
        .expect("missing symbol");
    assert!(e.contains("option `routines`"), "{e}");
    let e = build(json!({ "path": library("missing.c"), "entry": "MissingMain" }))
        .err()
        .expect("an undefined function");
    assert!(e.contains("NspsimNoSuchFunction"), "dlerror's text: {e}");
    let not_a_library = scratch().join("not-a-library.so");
    std::fs::write(&not_a_library, "hello").expect("write");
    let e = build(json!({ "path": not_a_library, "entry": "X" }))
        .err()
        .expect("not ELF");
    assert!(e.contains("cannot load"), "{e}");
}

#[test]
fn validate_checks_the_shape_only() {
    let k = CLibraryKind;
    assert!(
        k.validate(&json!({ "path": "libx.so", "entry": "Main" }))
            .is_ok()
    );
    assert!(
        k.validate(&json!({ "path": "libx.so", "routines": "T", "args": [] }))
            .is_ok()
    );
    for (bad, says) in [
        (
            json!({ "path": "x", "entry": "M", "routines": "T" }),
            "not both",
        ),
        (json!({ "path": "x" }), "is required"),
        (json!({ "entry": "M" }), "path"),
        (json!({ "path": "x", "entry": "M", "args": [1] }), "args"),
        (
            json!({ "path": "x", "entry": "M", "call_deadline_ms": 0 }),
            "call_deadline_ms",
        ),
        (
            json!({ "path": "x", "entry": "M", "sanitizer": "thread" }),
            "sanitizer",
        ),
        (
            json!({ "path": "x", "entry": "M", "color": "red" }),
            "color",
        ),
    ] {
        let e = k
            .validate(&bad)
            .err()
            .unwrap_or_else(|| panic!("{bad} is refused"));
        assert!(e.contains(says), "{bad}: {e}");
    }
}

#[test]
fn relative_paths_resolve_against_the_scenario_directory() {
    let o = c_library::resolve_paths(
        &json!({ "path": "libx.so", "entry": "M" }),
        std::path::Path::new("/work/scenarios"),
    );
    assert_eq!(o["path"], "/work/scenarios/libx.so");
    let o = c_library::resolve_paths(
        &json!({ "path": "/abs/libx.so" }),
        std::path::Path::new("/w"),
    );
    assert_eq!(o["path"], "/abs/libx.so");
}

#[test]
fn without_the_scenario_id_the_first_call_checks_it() {
    let options =
        json!({ "path": library("probe.c"), "entry": "ProbeMain", "args": ["advertise=other"] });
    let mut p = CLibraryKind.build(&options).expect("no id to refuse it by");
    let payload = panic_of(|| p.startup(&mut ctx()));
    let text = payload.downcast_ref::<String>().expect("a message");
    assert!(
        text.contains("11111111-2222-3333-4444-555555555555"),
        "{text}"
    );
}

#[test]
fn the_host_compiles_warning_free() {
    let dir = scratch().join("host-warnings");
    std::fs::create_dir_all(&dir).expect("dir");
    let include = c_library::toolchain::include_dir().expect("headers");
    let host = concat!(env!("CARGO_MANIFEST_DIR"), "/c/host");
    let args: Vec<String> = [
        "-std=c11",
        "-fshort-wchar",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-fsyntax-only",
        &format!("-I{}", include.display()),
        &format!("{host}/nspsim_host.c"),
        &format!("{host}/nspsim_winapi.c"),
    ]
    .map(String::from)
    .to_vec();
    c_library::toolchain::run_compiler(&args).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn work_tokens_are_what_the_host_gave() {
    // The token travels as it is: run_deferred with it runs exactly that item.
    let mut p = build(probe(&["complete=work"])).expect("builds");
    let lookup = begin(p.as_mut(), "t@example.com");
    let mut c = ctx();
    p.lookup_service_next_ex(&mut c, AsyncCall(1), lookup, LupFlags::RETURN_NAME, 512);
    assert_eq!(ops(&mut c), [ContextOp::Defer(WorkToken(1))]);
}

#[test]
fn work_queued_by_the_host_main_reaches_the_scheduler_with_the_first_call() {
    let mut p = build(probe(&["queue-in-entry"])).expect("builds");
    let mut c = ctx();
    let first = p.startup(&mut c).expect("Startup").map(|s| s.raw());
    assert_eq!(first, Some(0x1001), "the work has not run yet");
    let [ContextOp::Defer(t)] = ops(&mut c)[..] else {
        panic!("the host main's work item, handed over with the first call")
    };
    p.run_deferred(&mut c, t);
    let next = p.startup(&mut c).expect("Startup").map(|s| s.raw());
    assert_eq!(next, Some(0x1011), "it ran when the scheduler said");
}

#[test]
fn a_library_constructor_that_hangs_or_crashes_fails_the_load() {
    let hang = library_with("ctor.c", &["-DCTOR_HANG"]);
    let e = build(json!({ "path": hang, "entry": "CtorMain", "call_deadline_ms": 300 }))
        .err()
        .expect("a load error");
    assert!(e.contains("did not finish within 300 ms"), "{e}");
    let crash = library_with("ctor.c", &["-DCTOR_CRASH"]);
    let e = build(json!({ "path": crash, "entry": "CtorMain" }))
        .err()
        .expect("a load error");
    assert!(e.contains("cannot load") && e.contains("SIGSEGV"), "{e}");
}

#[test]
fn bind_resolves_the_path_and_passes_the_installation_id_and_name() {
    let installation = nspsim_core::Installation {
        id: ID,
        name: "probe-one",
        base_dir: Some(std::path::Path::new("/scenarios")),
    };
    let bound = CLibraryKind
        .bind(
            &json!({ "path": "libprobe.so", "entry": "ProbeMain" }),
            &installation,
        )
        .expect("c-library binds its options");
    assert_eq!(bound["path"], "/scenarios/libprobe.so");
    let opts = c_library::CLibraryOptions::parse(&bound).expect("bound options parse");
    assert_eq!(opts.id, Some(ID));
    assert_eq!(opts.name.as_deref(), Some("probe-one"));
    // An absolute path stays; no base directory leaves a relative one to the working directory.
    let abs = library("probe.c");
    let bound = CLibraryKind
        .bind(
            &json!({ "path": abs, "routines": "ProbeRoutines" }),
            &nspsim_core::Installation {
                base_dir: None,
                ..installation
            },
        )
        .expect("binds");
    assert_eq!(bound["path"], json!(abs));
    let mut p = CLibraryKind.build(&bound).expect("builds");
    assert!(p.startup(&mut ctx()).is_ok());
}
