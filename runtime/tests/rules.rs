//! The dispatcher keeps the S rules of docs/semantics.md: one or more tests per rule, named
//! after it. Each test would fail if the rule were broken.

mod common;

use common::*;
use nspsim_runtime::event::{CompletionOutcome, Event};
use nspsim_runtime::provider::{
    AsyncCall, NSPV2_ROUTINE_SIZE_32, NspContext, NspFn, NspResult, NspV2Provider, ProviderLookup,
    RoutineTable, SocketError,
};
use nspsim_runtime::wsa::{LupFlags, Namespace, QuerySet, SetServiceFlags, SetServiceOp, WsaError};
use nspsim_runtime::{
    ApiError, Authority, Config, ExitHow, Guid, LookupHandle, Profile, StartupPolicy, Tid,
    WakeOutcome,
};
use std::task::Poll;

const BUF: u32 = 4096;
const T2: Tid = Tid(2);

fn ready<T: std::fmt::Debug>(p: Poll<T>) -> T {
    match p {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("expected the call to finish at once"),
    }
}

fn per_wsastartup() -> Config {
    Config {
        startup_policy: StartupPolicy::PerWsaStartup,
        ..Config::default()
    }
}

/// Begin + Next until the end + End; returns the names found.
fn lookup_all(
    d: &mut nspsim_runtime::Dispatcher<nspsim_runtime::VecSink>,
    pid: nspsim_runtime::Pid,
    q: &QuerySet,
    flags: LupFlags,
) -> Result<Vec<String>, ApiError> {
    let h = d.wsa_lookup_service_begin(pid, T1, q, flags)?;
    let mut names = Vec::new();
    loop {
        match ready(d.wsa_lookup_service_next(pid, T1, h, flags, BUF)) {
            Ok(qs) => names.push(qs.service_instance_name.unwrap_or_default()),
            Err(e) if e.code == WsaError::E_NO_MORE => break,
            Err(e) => return Err(e),
        }
    }
    d.wsa_lookup_service_end(pid, T1, h)?;
    Ok(names)
}

// ---------------------------------------------------------------- S1: the routine table

#[test]
fn s1_3_absent_optional_entry_points_are_never_called() {
    let mut d = world(Config::default());
    let (_, _) = host(
        &mut d,
        1,
        TinyProvider::new()
            .required_only()
            .with_entry("a@x", &["192.0.2.1:25"]),
    );
    let c = client(&mut d, "c");
    assert_eq!(
        lookup_all(&mut d, c, &email("a@x"), LupFlags::RETURN_NAME),
        Ok(vec!["a@x".into()])
    );
    d.wsa_cleanup(c, T1).expect("cleanup");
    assert_eq!(
        nsp_calls(&d),
        [
            "Begin p1 pid2",
            "NextEx p1 pid2 h1 a1",
            "NextEx p1 pid2 h1 a2",
            "End p1 pid2 h1"
        ]
    );
    let absent = events(&d).iter().find_map(|s| match &s.event {
        Event::ProviderAdvertise { absent, .. } => Some(absent.clone()),
        _ => None,
    });
    assert_eq!(
        absent,
        Some(vec![
            NspFn::Startup,
            NspFn::Cleanup,
            NspFn::SetServiceEx,
            NspFn::ClientSessionRundown
        ])
    );
}

#[test]
fn s1_3_stub_entry_points_are_called_and_treated_like_absent_ones() {
    let mut d = world(Config::default());
    host(
        &mut d,
        1,
        TinyProvider::new()
            .stubs()
            .with_entry("a@x", &["192.0.2.1:25"]),
    );
    let c = client(&mut d, "c");
    assert_eq!(
        lookup_all(&mut d, c, &email("a@x"), LupFlags::RETURN_NAME),
        Ok(vec!["a@x".into()])
    );
    // A stub SetServiceEx is WSAEOPNOTSUPP for that provider.
    let set = ready(d.wsa_set_service(
        c,
        T1,
        &email("a@x"),
        SetServiceOp::Register,
        SetServiceFlags::EMPTY,
    ));
    assert_eq!(set, Err(WsaError::EOPNOTSUPP.into()));
    d.wsa_cleanup(c, T1).expect("cleanup");
    // The stub Startup is a real call; the session it opens has a null argument.
    let calls = nsp_calls(&d);
    assert_eq!(calls[0], "Startup p1 pid2");
    assert_eq!(calls[1], "Begin p1 pid2");
    assert_eq!(calls.last().map(String::as_str), Some("Cleanup p1 pid2"));
    let startup_return = events(&d).iter().find_map(|s| match &s.event {
        Event::NspReturn {
            func: NspFn::Startup,
            ret,
            err,
            session,
            ..
        } => Some((*ret, *err, *session)),
        _ => None,
    });
    assert_eq!(startup_return, Some((Some(-1), 10045, Some(None))));
}

/// Returns SOCKET_ERROR from Begin without setting a last error (breaks P1).
struct SilentFailure;

impl NspV2Provider for SilentFailure {
    fn routine_table(&self) -> RoutineTable {
        RoutineTable::required_only()
    }
    fn lookup_service_begin(
        &mut self,
        _: &mut NspContext,
        _: &QuerySet,
        _: LupFlags,
        _: Option<nspsim_runtime::SessionArg>,
    ) -> NspResult<ProviderLookup> {
        Err(SocketError)
    }
    fn lookup_service_next_ex(
        &mut self,
        ctx: &mut NspContext,
        call: AsyncCall,
        _: ProviderLookup,
        _: LupFlags,
        _: u32,
    ) {
        ctx.complete_async_call(call, Err(WsaError::E_NO_MORE));
    }
    fn lookup_service_end(&mut self, _: &mut NspContext, _: ProviderLookup) -> NspResult<()> {
        Ok(())
    }
}

#[test]
fn s1_4_socket_error_without_a_last_error_becomes_wsasyscallfailure() {
    let mut d = world(Config::default());
    d.install_provider(entry(1, Namespace::EMAIL))
        .expect("install");
    let h = d.create_process("h", nspsim_runtime::Role::Host);
    d.wsa_startup(h, T1, (2, 2)).expect("startup");
    d.wsa_advertise_provider(h, T1, guid(1), Box::new(SilentFailure))
        .expect("advertise");
    let c = client(&mut d, "c");
    let begin = d.wsa_lookup_service_begin(c, T1, &email("a@x"), LupFlags::RETURN_NAME);
    assert_eq!(begin, Err(WsaError::SYSCALLFAILURE.into()));
    assert_eq!(d.wsa_get_last_error(c, T1), 10107);
    // The trace shows what the provider really did: SOCKET_ERROR with no last error.
    let ret = events(&d).iter().find_map(|s| match &s.event {
        Event::NspReturn {
            func: NspFn::LookupServiceBegin,
            ret,
            err,
            ..
        } => Some((*ret, *err)),
        _ => None,
    });
    assert_eq!(ret, Some((Some(-1), 0)));
}

#[test]
fn s1_5_a_short_routine_table_is_refused_and_versions_are_not_checked() {
    let mut d = world(Config::default());
    d.install_provider(entry(1, Namespace::EMAIL))
        .expect("install");
    d.install_provider(entry(2, Namespace::EMAIL))
        .expect("install");
    let h = d.create_process("h", nspsim_runtime::Role::Host);
    d.wsa_startup(h, T1, (2, 2)).expect("startup");
    let mut short = TinyProvider::new();
    short.table.cb_size = NSPV2_ROUTINE_SIZE_32;
    assert_eq!(
        d.wsa_advertise_provider(h, T1, guid(1), Box::new(short)),
        Err(WsaError::EINVAL)
    );
    let mut odd_version = TinyProvider::new();
    odd_version.table.major_version = 99;
    assert_eq!(
        d.wsa_advertise_provider(h, T1, guid(2), Box::new(odd_version)),
        Ok(())
    );
}

// ---------------------------------------------------------------- S2: the catalog

#[test]
fn s2_1_catalog_errors_are_traced_with_their_codes() {
    let mut d = world(Config::default());
    assert_eq!(d.install_provider(entry(1, Namespace::EMAIL)), Ok(()));
    assert_eq!(
        d.install_provider(entry(1, Namespace::EMAIL)),
        Err(WsaError::NO_RECOVERY)
    );
    assert_eq!(d.uninstall_provider(guid(9)), Err(WsaError::EINVAL));
    assert_eq!(d.enable_provider(guid(9), true), Err(WsaError::EINVAL));
    let rets: Vec<_> = events(&d)
        .iter()
        .filter_map(|s| match &s.event {
            Event::CatalogInstall { ret, err, .. }
            | Event::CatalogUninstall { ret, err, .. }
            | Event::CatalogEnable { ret, err, .. } => Some((*ret, *err)),
            _ => None,
        })
        .collect();
    assert_eq!(rets, [(0, 0), (-1, 11003), (-1, 10022), (-1, 10022)]);
}

#[test]
fn s2_2_routing_follows_catalog_order() {
    let mut d = world(Config::default());
    host_entry(
        &mut d,
        entry(2, Namespace::DNS),
        TinyProvider::new().required_only(),
    );
    host_entry(
        &mut d,
        entry(1, Namespace::DNS),
        TinyProvider::new().required_only(),
    );
    let c = client(&mut d, "c");
    let q = QuerySet {
        namespace: Namespace::DNS,
        ..email("x")
    };
    assert_eq!(lookup_all(&mut d, c, &q, LupFlags::RETURN_NAME), Ok(vec![]));
    let begins: Vec<_> = nsp_calls(&d)
        .into_iter()
        .filter(|c| c.starts_with("Begin"))
        .collect();
    assert_eq!(begins, ["Begin p2 pid3", "Begin p1 pid3"]);
}

#[test]
fn s2_3_a_client_sees_the_catalog_of_its_first_wsastartup() {
    let mut d = world(Config::default());
    host(
        &mut d,
        1,
        TinyProvider::new()
            .required_only()
            .with_entry("a@x", &["192.0.2.1:25"]),
    );
    let c = client(&mut d, "c");
    host(
        &mut d,
        2,
        TinyProvider::new()
            .required_only()
            .with_entry("a@x", &["192.0.2.2:25"]),
    );
    // A second, nested WSAStartup does not refresh the view.
    d.wsa_startup(c, T1, (2, 2)).expect("nested");
    assert_eq!(
        lookup_all(&mut d, c, &email("a@x"), LupFlags::RETURN_NAME),
        Ok(vec!["a@x".into()])
    );
    d.wsa_cleanup(c, T1).expect("cleanup");
    d.wsa_cleanup(c, T1).expect("cleanup");
    d.wsa_startup(c, T1, (2, 2)).expect("fresh start");
    assert_eq!(
        lookup_all(&mut d, c, &email("a@x"), LupFlags::RETURN_NAME),
        Ok(vec!["a@x".into(), "a@x".into()])
    );
}

#[test]
fn s2_4_enum_providers_sizes_its_buffer() {
    let mut d = world(Config::default());
    host(&mut d, 1, TinyProvider::new());
    host(&mut d, 2, TinyProvider::new());
    let c = client(&mut d, "c");
    let err = d
        .wsa_enum_name_space_providers_ex(c, T1, 10)
        .expect_err("too small");
    assert_eq!(err.code, WsaError::EFAULT);
    let required = err.required_len.expect("required length written back");
    assert!(required > 2 * nspsim_runtime::wsa::nsinfo::INFOEXW_SIZE);
    let list = d
        .wsa_enum_name_space_providers_ex(c, T1, required)
        .expect("fits");
    assert_eq!(
        list.iter().map(|e| e.provider).collect::<Vec<_>>(),
        [guid(1), guid(2)]
    );
    assert!(
        list.iter()
            .all(|e| e.active && e.namespace == Namespace::EMAIL)
    );
}

#[test]
fn s2_4_enum_providers_returns_the_napi_installation_blob() {
    use nspsim_runtime::wsa::napi::{DecodedBlob, PROVIDER_TYPE_APPLICATION, decode_blob};
    use nspsim_runtime::wsa::{Level, Napi};
    let mut d = world(Config::default());
    let napi = Napi::per_domain(
        true,
        [
            ("contoso.com".to_string(), Level::Primary),
            ("x.org".to_string(), Level::None),
        ],
    )
    .expect("legal");
    d.install_provider(entry(1, Namespace::EMAIL).with_napi(napi.clone()))
        .expect("install");
    d.install_provider(entry(2, Namespace::EMAIL))
        .expect("install");
    let c = client(&mut d, "c");
    let required = d
        .wsa_enum_name_space_providers_ex(c, T1, 0)
        .expect_err("too small")
        .required_len
        .expect("required length");
    let list = d
        .wsa_enum_name_space_providers_ex(c, T1, required)
        .expect("fits");
    assert_eq!(required, nspsim_runtime::wsa::nsinfo::wire_size(&list));
    let blob = list[0].blob.as_deref().expect("the NAPI blob");
    assert_eq!(
        decode_blob(blob),
        Ok(DecodedBlob {
            version: 1,
            provider_type: PROVIDER_TYPE_APPLICATION,
            wildcard: true,
            domains: vec![("contoso.com".into(), 2), ("x.org".into(), 0)],
        })
    );
    assert_eq!(decode_blob(blob).ok().and_then(|b| b.to_napi()), Some(napi));
    assert_eq!(list[1].blob, None, "no NAPI data, no blob");
}

// ---------------------------------------------------------------- S3: advertisement

#[test]
fn s3_1_advertise_errors() {
    let mut d = world(Config::default());
    d.install_provider(entry(1, Namespace::EMAIL))
        .expect("install");
    let h = d.create_process("h", nspsim_runtime::Role::Host);
    let adv = |d: &mut nspsim_runtime::Dispatcher<_>, id, p: TinyProvider| {
        d.wsa_advertise_provider(h, T1, id, Box::new(p))
    };
    assert_eq!(
        adv(&mut d, guid(1), TinyProvider::new()),
        Err(WsaError::NOTINITIALISED)
    );
    d.wsa_startup(h, T1, (2, 2)).expect("startup");
    assert_eq!(
        adv(&mut d, Guid::NIL, TinyProvider::new()),
        Err(WsaError::EINVAL)
    );
    let mut no_end = TinyProvider::new();
    no_end.table = no_end
        .table
        .with(NspFn::LookupServiceEnd, nspsim_runtime::EntryPoint::Absent);
    assert_eq!(adv(&mut d, guid(1), no_end), Err(WsaError::EINVAL));
    assert_eq!(
        adv(&mut d, guid(7), TinyProvider::new()),
        Err(WsaError::EINVALIDPROVIDER)
    );
    assert_eq!(d.wsa_get_last_error(h, T1), 10105);
    assert_eq!(adv(&mut d, guid(1), TinyProvider::new()), Ok(()));
    assert_eq!(d.wsa_get_last_error(h, T1), 0);
}

#[test]
fn s3_2_double_advertise_and_unknown_unadvertise_are_einval() {
    let mut d = world(Config::default());
    let (id, h) = host(&mut d, 1, TinyProvider::new());
    assert_eq!(
        d.wsa_advertise_provider(h, T1, id, Box::new(TinyProvider::new())),
        Err(WsaError::EINVAL)
    );
    assert_eq!(
        d.wsa_unadvertise_provider(h, T1, guid(5)),
        Err(WsaError::EINVAL)
    );
    // Only the host that advertised it may unadvertise it.
    let other = client(&mut d, "other");
    assert_eq!(
        d.wsa_unadvertise_provider(other, T1, id),
        Err(WsaError::EINVAL)
    );
    assert_eq!(d.wsa_unadvertise_provider(h, T1, id), Ok(()));
    assert_eq!(d.wsa_unadvertise_provider(h, T1, id), Err(WsaError::EINVAL));
}

#[test]
fn s3_3_installed_but_unadvertised_providers_are_skipped_silently() {
    let mut d = world(Config::default());
    d.install_provider(entry(1, Namespace::EMAIL))
        .expect("install");
    host(
        &mut d,
        2,
        TinyProvider::new().with_entry("a@x", &["192.0.2.1:25"]),
    );
    let c = client(&mut d, "c");
    assert_eq!(
        lookup_all(&mut d, c, &email("a@x"), LupFlags::RETURN_NAME),
        Ok(vec!["a@x".into()])
    );
    assert!(nsp_calls(&d).iter().all(|c| c.contains(" p2 ")));
    // Named explicitly, it is skipped too: nothing is left, WSASERVICE_NOT_FOUND.
    let q = QuerySet {
        ns_provider_id: Some(guid(1)),
        ..email("a@x")
    };
    assert_eq!(
        d.wsa_lookup_service_begin(c, T1, &q, LupFlags::RETURN_NAME),
        Err(WsaError::SERVICE_NOT_FOUND.into())
    );
}

#[test]
fn s3_4_an_unadvertised_provider_gets_no_further_call_and_lookups_move_on() {
    let mut d = world(Config::default());
    let (p1, h1) = host(
        &mut d,
        1,
        TinyProvider::new().with_entry("a@x", &["192.0.2.1:25"]),
    );
    host(
        &mut d,
        2,
        TinyProvider::new().with_entry("a@x", &["192.0.2.2:25"]),
    );
    let c = client(&mut d, "c");
    let h = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), LupFlags::RETURN_ADDR)
        .expect("begin");
    let before = nsp_calls(&d).len();
    d.wsa_unadvertise_provider(h1, T1, p1).expect("unadvertise");
    // p1's part answers WSA_E_NO_MORE without a call; p2 answers.
    let first =
        ready(d.wsa_lookup_service_next(c, T1, h, LupFlags::RETURN_ADDR, BUF)).expect("p2 answers");
    assert_eq!(first.addresses[0].remote.to_string(), "192.0.2.2:25");
    d.wsa_lookup_service_end(c, T1, h).expect("end");
    d.wsa_cleanup(c, T1).expect("cleanup");
    let after: Vec<_> = nsp_calls(&d)[before..].to_vec();
    assert!(after.iter().all(|c| !c.contains(" p1 ")), "{after:?}");
    assert!(
        after.contains(&"Cleanup p2 pid3 s2".to_string()),
        "{after:?}"
    );
}

#[test]
fn s3_4_a_host_crash_ends_its_sessions_without_any_call() {
    let mut d = world(Config::default());
    let (_, h1) = host(
        &mut d,
        1,
        TinyProvider::new().with_entry("a@x", &["192.0.2.1:25"]),
    );
    let c = client(&mut d, "c");
    assert!(lookup_all(&mut d, c, &email("a@x"), LupFlags::RETURN_NAME).is_ok());
    let before = nsp_calls(&d).len();
    d.exit_process(h1, ExitHow::Crash);
    d.wsa_cleanup(c, T1).expect("cleanup");
    assert_eq!(
        nsp_calls(&d).len(),
        before,
        "no Cleanup reaches a provider whose host crashed"
    );
    assert_eq!(d.live_sessions(c), 0);
    assert!(kinds(&d).contains(&"provider.unadvertise"));
}

// ---------------------------------------------------------------- S4: processes and sessions

#[test]
fn s4_1_wsastartup_is_counted_and_negotiated() {
    let mut d = world(Config::default());
    let c = d.create_process("c", nspsim_runtime::Role::Client);
    assert_eq!(d.wsa_cleanup(c, T1), Err(WsaError::NOTINITIALISED.into()));
    assert_eq!(
        d.wsa_lookup_service_begin(c, T1, &email("a"), LupFlags::EMPTY),
        Err(WsaError::NOTINITIALISED.into())
    );
    assert_eq!(d.wsa_startup(c, T1, (0, 9)), Err(WsaError::VERNOTSUPPORTED));
    assert_eq!(d.startup_count(c), 0, "a refused WSAStartup does not count");
    assert_eq!(d.wsa_startup(c, T1, (3, 1)), Ok((2, 2)));
    assert_eq!(d.wsa_startup(c, T1, (1, 1)), Ok((1, 1)));
    assert_eq!(d.startup_count(c), 2);
    assert_eq!(d.wsa_cleanup(c, T1), Ok(()));
    assert_eq!(d.wsa_cleanup(c, T1), Ok(()));
    assert_eq!(d.wsa_cleanup(c, T1), Err(WsaError::NOTINITIALISED.into()));
}

#[test]
fn s4_2_the_last_error_is_per_thread() {
    let mut d = world(Config::default());
    let c = client(&mut d, "c");
    let t2 = d.create_thread(c).expect("thread");
    assert_eq!(t2, T2);
    let forged = LookupHandle(0xdead_beef);
    assert!(d.wsa_lookup_service_end(c, t2, forged).is_err());
    assert_eq!(d.wsa_get_last_error(c, t2), 6);
    assert_eq!(d.wsa_get_last_error(c, T1), 0);
    d.wsa_enum_name_space_providers_ex(c, t2, BUF)
        .expect("enum");
    assert_eq!(
        d.wsa_get_last_error(c, t2),
        0,
        "a successful call resets it"
    );
}

#[test]
fn s4_3_per_process_nested_wsastartup_gives_one_startup_and_one_cleanup() {
    let mut d = world(Config::default());
    host(
        &mut d,
        1,
        TinyProvider::new().with_entry("a@x", &["192.0.2.1:25"]),
    );
    let c = client(&mut d, "c");
    d.wsa_startup(c, T1, (2, 2)).expect("nested");
    lookup_all(&mut d, c, &email("a@x"), LupFlags::RETURN_NAME).expect("lookup");
    lookup_all(&mut d, c, &email("a@x"), LupFlags::RETURN_NAME).expect("lookup");
    d.wsa_cleanup(c, T1).expect("inner cleanup");
    assert!(!nsp_calls(&d).iter().any(|c| c.starts_with("Cleanup")));
    d.wsa_cleanup(c, T1).expect("outer cleanup");
    let calls = nsp_calls(&d);
    assert_eq!(calls.iter().filter(|c| c.starts_with("Startup")).count(), 1);
    assert_eq!(calls.last().map(String::as_str), Some("Cleanup p1 pid2 s1"));
}

#[test]
fn s4_3_per_wsastartup_nested_wsastartup_gives_two_startups_and_two_cleanups() {
    let mut d = world(per_wsastartup());
    host(
        &mut d,
        1,
        TinyProvider::new().with_entry("a@x", &["192.0.2.1:25"]),
    );
    let c = client(&mut d, "c");
    d.wsa_startup(c, T1, (2, 2)).expect("nested");
    lookup_all(&mut d, c, &email("a@x"), LupFlags::RETURN_NAME).expect("lookup");
    let calls = nsp_calls(&d);
    assert_eq!(
        &calls[..3],
        ["Startup p1 pid2", "Startup p1 pid2", "Begin p1 pid2 s2"],
        "calls carry the newest session"
    );
    d.wsa_cleanup(c, T1).expect("inner cleanup");
    assert_eq!(
        nsp_calls(&d).last().map(String::as_str),
        Some("Cleanup p1 pid2 s2"),
        "the newest ends first"
    );
    d.wsa_cleanup(c, T1).expect("outer cleanup");
    assert_eq!(
        nsp_calls(&d).last().map(String::as_str),
        Some("Cleanup p1 pid2 s1")
    );
}

#[test]
fn s4_3_sessions_open_lazily_on_the_first_routed_call() {
    let mut d = world(Config::default());
    host(&mut d, 1, TinyProvider::new());
    let c = client(&mut d, "c");
    assert!(
        nsp_calls(&d).is_empty(),
        "WSAStartup alone reaches no provider"
    );
    d.wsa_cleanup(c, T1).expect("cleanup");
    assert!(nsp_calls(&d).is_empty(), "no session, so no Cleanup");
}

#[test]
fn s4_4_a_failed_startup_skips_the_provider_and_is_retried_next_call() {
    let mut d = world(Config::default());
    host(
        &mut d,
        1,
        TinyProvider::new()
            .startup(StartupMode::FailOnce(WsaError::EACCES))
            .with_entry("a@x", &["192.0.2.1:25"]),
    );
    let c = client(&mut d, "c");
    let first = d.wsa_lookup_service_begin(c, T1, &email("a@x"), LupFlags::RETURN_NAME);
    assert_eq!(
        first,
        Err(WsaError::EACCES.into()),
        "the single routed provider's error"
    );
    assert_eq!(
        lookup_all(&mut d, c, &email("a@x"), LupFlags::RETURN_NAME),
        Ok(vec!["a@x".into()])
    );
    let startups = nsp_calls(&d)
        .iter()
        .filter(|c| c.starts_with("Startup"))
        .count();
    assert_eq!(startups, 2);
}

#[test]
fn s4_5_every_call_carries_the_session_argument_startup_produced() {
    let mut d = world(Config::default());
    let p = TinyProvider::new()
        .arg_base(0x5000)
        .with_entry("a@x", &["192.0.2.1:25"]);
    let seen = p.seen();
    host(&mut d, 1, p);
    let c = client(&mut d, "c");
    lookup_all(&mut d, c, &email("a@x"), LupFlags::RETURN_NAME).expect("lookup");
    let _ = ready(d.wsa_set_service(
        c,
        T1,
        &email("b@x"),
        SetServiceOp::Register,
        SetServiceFlags::EMPTY,
    ));
    d.wsa_cleanup(c, T1).expect("cleanup");
    let seen = seen.lock().expect("lock").calls.clone();
    assert_eq!(
        seen,
        [
            "Startup pid2",
            "Begin a@x Some(20481)",
            "NextEx h1 flags=0x10",
            "NextEx h1 flags=0x10",
            "End h1",
            "SetServiceEx b@x Register Some(20481)",
            "Cleanup Some(20481)"
        ]
    );
}

#[test]
fn s4_6_the_last_wsacleanup_calls_cleanup_and_no_rundown() {
    let mut d = world(Config::default());
    host(
        &mut d,
        1,
        TinyProvider::new()
            .arg_base(0x100)
            .with_entry("a@x", &["192.0.2.1:25"]),
    );
    host(
        &mut d,
        2,
        TinyProvider::new()
            .arg_base(0x200)
            .with_entry("a@x", &["192.0.2.2:25"]),
    );
    let c = client(&mut d, "c");
    let q = QuerySet { ..email("a@x") };
    lookup_all(
        &mut d,
        c,
        &q,
        LupFlags::RETURN_NAME | LupFlags::NON_AUTHORITATIVE,
    )
    .expect("lookup");
    d.wsa_cleanup(c, T1).expect("cleanup");
    d.exit_process(c, ExitHow::Exit);
    let ends: Vec<_> = nsp_calls(&d)
        .into_iter()
        .filter(|c| c.starts_with("Cleanup") || c.starts_with("Client"))
        .collect();
    assert_eq!(ends, ["Cleanup p1 pid3 s1", "Cleanup p2 pid3 s2"]);
}

#[test]
fn s4_7_a_crash_with_live_sessions_gives_one_rundown_each_after_the_exit() {
    let mut d = world(Config::default());
    host(
        &mut d,
        1,
        TinyProvider::new()
            .arg_base(0x100)
            .with_entry("a@x", &["192.0.2.1:25"]),
    );
    host(
        &mut d,
        2,
        TinyProvider::new()
            .arg_base(0x200)
            .with_entry("a@x", &["192.0.2.2:25"]),
    );
    let c = client(&mut d, "c");
    lookup_all(&mut d, c, &email("a@x"), LupFlags::RETURN_NAME).expect("lookup");
    d.exit_process(c, ExitHow::Crash);
    let evs = events(&d);
    let exit_at = evs
        .iter()
        .position(|s| matches!(s.event, Event::ProcessExit { .. }))
        .expect("exit traced");
    let rundowns: Vec<_> = evs
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            matches!(
                &s.event,
                Event::NspCall {
                    func: NspFn::ClientSessionRundown,
                    ..
                }
            )
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(rundowns.len(), 2);
    assert!(rundowns.iter().all(|i| *i > exit_at));
    assert!(!nsp_calls(&d).iter().any(|c| c.starts_with("Cleanup")));
    // Calling WSACleanup afterwards is impossible: the process is gone.
    assert!(d.wsa_cleanup(c, T1).is_err());
    assert_eq!(
        nsp_calls(&d)
            .iter()
            .filter(|c| c.starts_with("ClientSessionRundown"))
            .count(),
        2
    );
}

#[test]
fn s4_7_exit_without_wsacleanup_is_a_rundown() {
    let mut d = world(Config::default());
    host(
        &mut d,
        1,
        TinyProvider::new().with_entry("a@x", &["192.0.2.1:25"]),
    );
    let c = client(&mut d, "c");
    lookup_all(&mut d, c, &email("a@x"), LupFlags::RETURN_NAME).expect("lookup");
    d.exit_process(c, ExitHow::Exit);
    assert_eq!(
        nsp_calls(&d).last().map(String::as_str),
        Some("ClientSessionRundown p1 pid2 s1")
    );
}

#[test]
fn s4_8_open_lookups_are_ended_before_cleanup() {
    let mut d = world(Config::default());
    host(
        &mut d,
        1,
        TinyProvider::new().with_entry("a@x", &["192.0.2.1:25"]),
    );
    let c = client(&mut d, "c");
    let h = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), LupFlags::RETURN_NAME)
        .expect("begin");
    d.wsa_cleanup(c, T1).expect("cleanup");
    let calls = nsp_calls(&d);
    assert_eq!(
        &calls[calls.len() - 2..],
        ["End p1 pid2 s1 h1", "Cleanup p1 pid2 s1"]
    );
    // The handle died with the process's last WSACleanup.
    d.wsa_startup(c, T1, (2, 2)).expect("restart");
    assert_eq!(
        ready(d.wsa_lookup_service_next(c, T1, h, LupFlags::RETURN_NAME, BUF)),
        Err(WsaError::INVALID_HANDLE.into())
    );
}

#[test]
fn s4_8_sessions_with_equal_arguments_each_close_their_own_handles_before_they_end() {
    // Per-wsastartup, two WSAStartups and a stub Startup: two null sessions, which no session
    // argument tells apart. The lookup runs in the newest (S4.3); the exit runs them down
    // oldest first, and the newest's handle is ended just before its own Rundown (S4.8).
    let mut d = world(per_wsastartup());
    host(
        &mut d,
        1,
        TinyProvider::new()
            .stubs()
            .with_entry("a@x", &["192.0.2.1:25"]),
    );
    let c = client(&mut d, "c");
    d.wsa_startup(c, T1, (2, 2)).expect("nested");
    d.wsa_lookup_service_begin(c, T1, &email("a@x"), LupFlags::RETURN_NAME)
        .expect("begin");
    d.exit_process(c, ExitHow::Exit);
    assert_eq!(
        nsp_calls(&d),
        [
            "Startup p1 pid2",
            "Startup p1 pid2",
            "Begin p1 pid2",
            "ClientSessionRundown p1 pid2",
            "End p1 pid2 h1",
            "ClientSessionRundown p1 pid2",
        ]
    );
    // The checker ties h1 to the second null session, not the first (fuzz finding, L6).
    checked_clean(&d);
}

#[test]
fn s4_8_a_crash_while_nextex_is_pending_ends_the_handle_then_runs_down() {
    let mut d = world(Config::default());
    host(
        &mut d,
        1,
        TinyProvider::new()
            .deferred()
            .with_entry("a@x", &["192.0.2.1:25"]),
    );
    let c = client(&mut d, "c");
    let h = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), LupFlags::RETURN_NAME)
        .expect("begin");
    assert_eq!(
        d.wsa_lookup_service_next(c, T1, h, LupFlags::RETURN_NAME, BUF),
        Poll::Pending
    );
    assert!(d.is_waiting(c, T1));
    d.exit_process(c, ExitHow::Crash);
    let calls = nsp_calls(&d);
    assert_eq!(
        &calls[calls.len() - 2..],
        ["End p1 pid2 s1 h1", "ClientSessionRundown p1 pid2 s1"]
    );
    // The provider cancelled the pending NextEx inside End; nobody waits for it any more.
    let outcome = events(&d).iter().rev().find_map(|s| match &s.event {
        Event::AsyncComplete { outcome, err, .. } => Some((*outcome, *err)),
        _ => None,
    });
    assert_eq!(outcome, Some((CompletionOutcome::Discarded, 10111)));
    assert!(d.take_wakes().is_empty(), "a dead thread gets no wake");
}

// ---------------------------------------------------------------- S5: lookups

#[test]
fn s5_1_routing_by_explicit_provider_namespace_and_ns_all() {
    let mut d = world(Config::default());
    host_entry(
        &mut d,
        entry(1, Namespace::EMAIL),
        TinyProvider::new().with_entry("a", &["192.0.2.1:1"]),
    );
    host_entry(
        &mut d,
        entry(2, Namespace::DNS),
        TinyProvider::new().with_entry("a", &["192.0.2.2:1"]),
    );
    let c = client(&mut d, "c");
    let explicit = QuerySet {
        ns_provider_id: Some(guid(2)),
        namespace: Namespace::ALL,
        ..email("a")
    };
    assert_eq!(
        lookup_all(&mut d, c, &explicit, LupFlags::RETURN_NAME),
        Ok(vec!["a".into()])
    );
    let dns = QuerySet {
        namespace: Namespace::DNS,
        ..email("a")
    };
    assert_eq!(
        lookup_all(&mut d, c, &dns, LupFlags::RETURN_NAME),
        Ok(vec!["a".into()])
    );
    let all = QuerySet {
        namespace: Namespace::ALL,
        ..email("a")
    };
    assert_eq!(
        lookup_all(&mut d, c, &all, LupFlags::RETURN_NAME),
        Ok(vec!["a".into(), "a".into()])
    );
    let unknown = QuerySet {
        ns_provider_id: Some(guid(9)),
        ..email("a")
    };
    assert_eq!(
        d.wsa_lookup_service_begin(c, T1, &unknown, LupFlags::EMPTY),
        Err(WsaError::EINVAL.into())
    );
    d.enable_provider(guid(2), false).expect("disable");
    assert_eq!(
        d.wsa_lookup_service_begin(c, T1, &explicit, LupFlags::EMPTY),
        Err(WsaError::EINVAL.into())
    );
    let begins: Vec<_> = nsp_calls(&d)
        .into_iter()
        .filter(|c| c.starts_with("Begin"))
        .collect();
    assert_eq!(
        begins,
        [
            "Begin p2 pid3 s1",
            "Begin p2 pid3 s1",
            "Begin p1 pid3 s2",
            "Begin p2 pid3 s1"
        ]
    );
}

fn authority_world() -> (
    nspsim_runtime::Dispatcher<nspsim_runtime::VecSink>,
    nspsim_runtime::Pid,
) {
    let mut d = world(Config::default());
    // Installed wildcard first, primary last: routing must not follow install order here.
    host_entry(
        &mut d,
        entry(3, Namespace::EMAIL).with_authority(Authority::Wildcard),
        TinyProvider::new().with_entry("a@x", &["192.0.2.3:25"]),
    );
    host_entry(
        &mut d,
        entry(2, Namespace::EMAIL).with_authority(Authority::Secondary),
        TinyProvider::new().with_entry("a@x", &["192.0.2.2:25"]),
    );
    host_entry(
        &mut d,
        entry(1, Namespace::EMAIL).with_authority(Authority::Primary),
        TinyProvider::new().with_entry("a@x", &["192.0.2.1:25"]),
    );
    let c = client(&mut d, "c");
    (d, c)
}

#[test]
fn s5_2_ns_email_authority_order_and_first_answer_ends_the_query() {
    let (mut d, c) = authority_world();
    let h = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), LupFlags::RETURN_ADDR)
        .expect("begin");
    let got = ready(d.wsa_lookup_service_next(c, T1, h, LupFlags::RETURN_ADDR, BUF))
        .expect("primary answers");
    assert_eq!(got.addresses[0].remote.to_string(), "192.0.2.1:25");
    assert_eq!(
        ready(d.wsa_lookup_service_next(c, T1, h, LupFlags::RETURN_ADDR, BUF)),
        Err(WsaError::E_NO_MORE.into())
    );
    let begins: Vec<_> = nsp_calls(&d)
        .into_iter()
        .filter(|c| c.starts_with("Begin"))
        .collect();
    // S5.2: one candidate at a time; the primary answers, so nobody else is started.
    assert_eq!(begins, ["Begin p1 pid4 s1"]);
    assert!(
        !nsp_calls(&d)
            .iter()
            .any(|c| c.contains(" p2 ") || c.contains(" p3 "))
    );
}

#[test]
fn s5_2_non_authoritative_asks_everyone_in_authority_order() {
    let (mut d, c) = authority_world();
    let flags = LupFlags::RETURN_ADDR | LupFlags::NON_AUTHORITATIVE;
    let h = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), flags)
        .expect("begin");
    let mut addrs = Vec::new();
    while let Ok(qs) = ready(d.wsa_lookup_service_next(c, T1, h, flags, BUF)) {
        addrs.push(qs.addresses[0].remote.to_string());
    }
    assert_eq!(addrs, ["192.0.2.1:25", "192.0.2.2:25", "192.0.2.3:25"]);
}

#[test]
fn s5_2_a_primary_without_an_answer_hands_over_to_the_secondary() {
    let mut d = world(Config::default());
    host_entry(
        &mut d,
        entry(1, Namespace::EMAIL).with_authority(Authority::Primary),
        TinyProvider::new(),
    );
    host_entry(
        &mut d,
        entry(2, Namespace::EMAIL).with_authority(Authority::Secondary),
        TinyProvider::new().with_entry("a@x", &["192.0.2.2:25"]),
    );
    let c = client(&mut d, "c");
    assert_eq!(
        lookup_all(&mut d, c, &email("a@x"), LupFlags::RETURN_NAME),
        Ok(vec!["a@x".into()])
    );
}

#[test]
fn s5_3_failed_begins_are_dropped_and_errors_aggregate() {
    let mut d = world(Config::default());
    host(&mut d, 1, TinyProvider::new());
    let c = client(&mut d, "c");
    // One routed provider: its own error.
    assert_eq!(
        d.wsa_lookup_service_begin(c, T1, &email("fail-begin"), LupFlags::EMPTY),
        Err(WsaError::EINVAL.into())
    );
    host(&mut d, 2, TinyProvider::new());
    let c2 = client(&mut d, "c2");
    // Several, all failing: WSASERVICE_NOT_FOUND.
    assert_eq!(
        d.wsa_lookup_service_begin(c2, T1, &email("fail-begin"), LupFlags::EMPTY),
        Err(WsaError::SERVICE_NOT_FOUND.into())
    );
    // None routed at all: WSASERVICE_NOT_FOUND.
    let dns = QuerySet {
        namespace: Namespace::DNS,
        ..email("x")
    };
    assert_eq!(
        d.wsa_lookup_service_begin(c2, T1, &dns, LupFlags::EMPTY),
        Err(WsaError::SERVICE_NOT_FOUND.into())
    );
}

#[test]
fn s5_4_next_moves_on_after_no_more_and_waits_for_deferred_completions() {
    let mut d = world(Config::default());
    host(
        &mut d,
        1,
        TinyProvider::new()
            .deferred()
            .with_entry("a@x", &["192.0.2.1:25"]),
    );
    host(
        &mut d,
        2,
        TinyProvider::new().with_entry("a@x", &["192.0.2.2:25"]),
    );
    let c = client(&mut d, "c");
    let flags = LupFlags::RETURN_ADDR;
    let h = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), flags)
        .expect("begin");
    assert_eq!(
        d.wsa_lookup_service_next(c, T1, h, flags, BUF),
        Poll::Pending
    );
    let work = d.pending_work().to_vec();
    assert_eq!(work.len(), 1);
    assert!(d.run_work(work[0].id));
    let wakes = d.take_wakes();
    assert_eq!(wakes.len(), 1);
    match &wakes[0].outcome {
        WakeOutcome::LookupServiceNext(Ok(qs)) => {
            assert_eq!(qs.addresses[0].remote.to_string(), "192.0.2.1:25")
        }
        other => panic!("unexpected {other:?}"),
    }
    // p1's next NextEx is deferred again and answers WSA_E_NO_MORE; then p2 answers inline.
    assert_eq!(
        d.wsa_lookup_service_next(c, T1, h, flags, BUF),
        Poll::Pending
    );
    let id = d.pending_work()[0].id;
    d.run_work(id);
    let wakes = d.take_wakes();
    match &wakes[0].outcome {
        WakeOutcome::LookupServiceNext(Ok(qs)) => {
            assert_eq!(qs.addresses[0].remote.to_string(), "192.0.2.2:25")
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        ready(d.wsa_lookup_service_next(c, T1, h, flags, BUF)),
        Err(WsaError::E_NO_MORE.into())
    );
    assert_eq!(d.wsa_get_last_error(c, T1), 10110);
}

#[test]
fn s5_5_wsaefault_reports_the_size_and_flushprevious_skips_the_result() {
    let mut d = world(Config::default());
    host(
        &mut d,
        1,
        TinyProvider::new()
            .with_entry("a@x", &["192.0.2.1:25"])
            .with_entry("a@x", &["192.0.2.9:25"]),
    );
    let c = client(&mut d, "c");
    let flags = LupFlags::RETURN_NAME | LupFlags::RETURN_ADDR;
    let h = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), flags)
        .expect("begin");
    let err = ready(d.wsa_lookup_service_next(c, T1, h, flags, 16)).expect_err("too small");
    assert_eq!(err.code, WsaError::EFAULT);
    let required = err.required_len.expect("required length");
    assert!(required > 112);
    // Not consumed: the same result fits in a buffer of exactly the required size.
    let first = ready(d.wsa_lookup_service_next(c, T1, h, flags, required)).expect("fits");
    assert_eq!(first.addresses[0].remote.to_string(), "192.0.2.1:25");
    assert_eq!(first.wire_size(), required);
    // Too small again for the second result; FLUSHPREVIOUS then skips it.
    let err = ready(d.wsa_lookup_service_next(c, T1, h, flags, 16)).expect_err("too small");
    assert_eq!(err.code, WsaError::EFAULT);
    let skipped = ready(d.wsa_lookup_service_next(c, T1, h, flags | LupFlags::FLUSHPREVIOUS, BUF));
    assert_eq!(skipped, Err(WsaError::E_NO_MORE.into()));
}

#[test]
fn s5_6_next_flags_only_narrow_begin_flags() {
    let mut d = world(Config::default());
    let p = TinyProvider::new().with_entry("a@x", &["192.0.2.1:25"]);
    let seen = p.seen();
    host(&mut d, 1, p);
    let c = client(&mut d, "c");
    let h = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), LupFlags::RETURN_NAME)
        .expect("begin");
    let wide = LupFlags::RETURN_NAME
        | LupFlags::RETURN_ADDR
        | LupFlags::FLUSHPREVIOUS
        | LupFlags::RES_SERVICE;
    let got = ready(d.wsa_lookup_service_next(c, T1, h, wide, BUF)).expect("result");
    assert!(
        got.addresses.is_empty(),
        "RETURN_ADDR was not asked for at Begin"
    );
    let flags = LupFlags::RETURN_NAME | LupFlags::FLUSHPREVIOUS | LupFlags::RES_SERVICE;
    let expected = format!("NextEx h1 flags={:#x}", flags.bits());
    assert!(seen.lock().expect("lock").calls.contains(&expected));
}

#[test]
fn s5_7_end_from_another_thread_cancels_a_pending_next() {
    let mut d = world(Config::default());
    host(
        &mut d,
        1,
        TinyProvider::new()
            .deferred()
            .with_entry("a@x", &["192.0.2.1:25"]),
    );
    let c = client(&mut d, "c");
    let t2 = d.create_thread(c).expect("thread");
    let h = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), LupFlags::RETURN_NAME)
        .expect("begin");
    assert_eq!(
        d.wsa_lookup_service_next(c, T1, h, LupFlags::RETURN_NAME, BUF),
        Poll::Pending
    );
    assert_eq!(d.wsa_lookup_service_end(c, t2, h), Ok(()));
    let wakes = d.take_wakes();
    assert_eq!(wakes.len(), 1);
    assert_eq!(wakes[0].tid, T1);
    assert_eq!(
        wakes[0].outcome,
        WakeOutcome::LookupServiceNext(Err(WsaError::E_CANCELLED.into()))
    );
    assert_eq!(d.wsa_get_last_error(c, T1), 10111);
    assert!(!d.is_waiting(c, T1));
    assert_eq!(
        nsp_calls(&d)
            .iter()
            .filter(|c| c.starts_with("End"))
            .count(),
        1
    );
}

#[test]
fn s5_7_closed_stale_and_forged_handles_are_invalid_and_never_reused() {
    let mut d = world(Config::default());
    host(
        &mut d,
        1,
        TinyProvider::new().with_entry("a@x", &["192.0.2.1:25"]),
    );
    let c = client(&mut d, "c");
    let other = client(&mut d, "other");
    let h1 = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), LupFlags::RETURN_NAME)
        .expect("begin");
    d.wsa_lookup_service_end(c, T1, h1).expect("end");
    let h2 = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), LupFlags::RETURN_NAME)
        .expect("begin");
    assert_ne!(h1, h2, "a handle is never reused");
    let invalid = ApiError::from(WsaError::INVALID_HANDLE);
    assert_eq!(d.wsa_lookup_service_end(c, T1, h1), Err(invalid));
    assert_eq!(
        ready(d.wsa_lookup_service_next(c, T1, h1, LupFlags::EMPTY, BUF)),
        Err(invalid)
    );
    assert_eq!(
        ready(d.wsa_lookup_service_next(c, T1, LookupHandle(u64::MAX), LupFlags::EMPTY, BUF)),
        Err(invalid)
    );
    // A live handle used from another process is not that process's handle.
    assert_eq!(d.wsa_lookup_service_end(other, T1, h2), Err(invalid));
    assert_eq!(d.wsa_lookup_service_end(c, T1, h2), Ok(()));
}

// ---------------------------------------------------------------- S6: async calls

/// Completes every NextEx twice (breaks P3).
struct DoubleCompleter;

impl NspV2Provider for DoubleCompleter {
    fn routine_table(&self) -> RoutineTable {
        RoutineTable::required_only()
    }
    fn lookup_service_begin(
        &mut self,
        _: &mut NspContext,
        _: &QuerySet,
        _: LupFlags,
        _: Option<nspsim_runtime::SessionArg>,
    ) -> NspResult<ProviderLookup> {
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
        ctx.complete_async_call(call, Err(WsaError::E_NO_MORE));
        ctx.complete_async_call(call, Err(WsaError::E_NO_MORE));
        ctx.complete_async_call(AsyncCall(0x7777_0000_0001), Ok(()));
    }
    fn lookup_service_end(&mut self, _: &mut NspContext, _: ProviderLookup) -> NspResult<()> {
        Ok(())
    }
}

#[test]
fn s6_1_each_async_call_gets_a_fresh_handle() {
    let mut d = world(Config::default());
    host(
        &mut d,
        1,
        TinyProvider::new().with_entry("a@x", &["192.0.2.1:25"]),
    );
    let c = client(&mut d, "c");
    lookup_all(&mut d, c, &email("a@x"), LupFlags::RETURN_NAME).expect("lookup");
    lookup_all(&mut d, c, &email("a@x"), LupFlags::RETURN_NAME).expect("lookup");
    let asyncs: Vec<_> = nsp_calls(&d)
        .into_iter()
        .filter(|c| c.starts_with("NextEx"))
        .collect();
    assert_eq!(
        asyncs,
        [
            "NextEx p1 pid2 s1 h1 a1",
            "NextEx p1 pid2 s1 h1 a2",
            "NextEx p1 pid2 s1 h2 a3",
            "NextEx p1 pid2 s1 h2 a4"
        ]
    );
}

#[test]
fn s6_2_second_and_forged_completions_are_rejected() {
    let mut d = world(Config::default());
    d.install_provider(entry(1, Namespace::EMAIL))
        .expect("install");
    let h = d.create_process("h", nspsim_runtime::Role::Host);
    d.wsa_startup(h, T1, (2, 2)).expect("startup");
    d.wsa_advertise_provider(h, T1, guid(1), Box::new(DoubleCompleter))
        .expect("advertise");
    let c = client(&mut d, "c");
    assert_eq!(
        lookup_all(&mut d, c, &email("a"), LupFlags::EMPTY),
        Ok(vec![])
    );
    let outcomes: Vec<_> = events(&d)
        .iter()
        .filter_map(|s| match &s.event {
            Event::AsyncComplete {
                async_call,
                outcome,
                ..
            } => Some((async_call.to_string(), *outcome)),
            _ => None,
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("a1".to_string(), CompletionOutcome::Delivered),
            ("a1".to_string(), CompletionOutcome::Rejected),
            ("a2".to_string(), CompletionOutcome::Rejected),
        ]
    );
}

#[test]
fn s6_2_a_completion_after_the_client_ended_is_discarded() {
    let mut d = world(Config::default());
    let mut p = TinyProvider::new()
        .deferred()
        .with_entry("a@x", &["192.0.2.1:25"]);
    // No cancellation in End: the deferred work still completes later.
    p.table = p.table.with(
        NspFn::ClientSessionRundown,
        nspsim_runtime::EntryPoint::Absent,
    );
    host(&mut d, 1, p);
    let c = client(&mut d, "c");
    let h = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), LupFlags::RETURN_NAME)
        .expect("begin");
    assert_eq!(
        d.wsa_lookup_service_next(c, T1, h, LupFlags::RETURN_NAME, BUF),
        Poll::Pending
    );
    let work = d.pending_work()[0].id;
    d.exit_process(c, ExitHow::Kill);
    // The End at S4.8 cancelled it already (discarded); nothing is left to deliver.
    d.run_work(work);
    let last = events(&d).iter().rev().find_map(|s| match &s.event {
        Event::AsyncComplete { outcome, .. } => Some(*outcome),
        _ => None,
    });
    assert_eq!(last, Some(CompletionOutcome::Discarded));
    assert!(d.take_wakes().is_empty());
}

#[test]
fn s6_3_inline_completion_returns_at_once_deferred_waits_for_the_driver() {
    for (provider, pending) in [
        (TinyProvider::new(), false),
        (TinyProvider::new().deferred(), true),
    ] {
        let mut d = world(Config::default());
        host(&mut d, 1, provider.with_entry("a@x", &["192.0.2.1:25"]));
        let c = client(&mut d, "c");
        let h = d
            .wsa_lookup_service_begin(c, T1, &email("a@x"), LupFlags::RETURN_NAME)
            .expect("begin");
        let poll = d.wsa_lookup_service_next(c, T1, h, LupFlags::RETURN_NAME, BUF);
        assert_eq!(poll.is_pending(), pending);
        assert_eq!(d.is_waiting(c, T1), pending);
        // A waiting thread cannot make another call.
        if pending {
            assert_eq!(d.wsa_cleanup(c, T1), Err(WsaError::EINPROGRESS.into()));
        }
    }
}

// ---------------------------------------------------------------- S7: set service

#[test]
fn s7_1_set_service_succeeds_if_any_provider_did_else_first_error() {
    let mut d = world(Config::default());
    host(&mut d, 1, TinyProvider::new().required_only());
    host(&mut d, 2, TinyProvider::new());
    let c = client(&mut d, "c");
    let reg = QuerySet {
        addresses: vec![nspsim_runtime::wsa::CsAddr::tcp(
            "192.0.2.5:25".parse().expect("addr"),
        )],
        ..email("b@x")
    };
    assert_eq!(
        ready(d.wsa_set_service(c, T1, &reg, SetServiceOp::Register, SetServiceFlags::EMPTY)),
        Ok(())
    );
    assert_eq!(
        ready(d.wsa_set_service(c, T1, &reg, SetServiceOp::Delete, SetServiceFlags::EMPTY)),
        Ok(())
    );
    // p1 has no SetServiceEx (WSAEOPNOTSUPP), p2 has no entry any more (WSASERVICE_NOT_FOUND).
    assert_eq!(
        ready(d.wsa_set_service(c, T1, &reg, SetServiceOp::Delete, SetServiceFlags::EMPTY)),
        Err(WsaError::EOPNOTSUPP.into())
    );
    assert!(
        !nsp_calls(&d)
            .iter()
            .any(|c| c.starts_with("SetServiceEx p1"))
    );
}

#[test]
fn s7_1_ns_email_with_authority_stops_at_the_first_success() {
    let (mut d, c) = authority_world();
    assert_eq!(
        ready(d.wsa_set_service(
            c,
            T1,
            &email("b@x"),
            SetServiceOp::Register,
            SetServiceFlags::EMPTY
        )),
        Ok(())
    );
    let sets: Vec<_> = nsp_calls(&d)
        .into_iter()
        .filter(|c| c.starts_with("SetServiceEx"))
        .collect();
    assert_eq!(sets, ["SetServiceEx p1 pid4 s1 a1"]);
}

// ---------------------------------------------------------------- S8: profiles

#[test]
fn s8_vista_advertises_only_ns_email_providers() {
    let mut d = world(Config {
        profile: Profile::Vista,
        ..Config::default()
    });
    d.install_provider(entry(1, Namespace::DNS))
        .expect("install");
    d.install_provider(entry(2, Namespace::EMAIL))
        .expect("install");
    let h = d.create_process("h", nspsim_runtime::Role::Host);
    d.wsa_startup(h, T1, (2, 2)).expect("startup");
    assert_eq!(
        d.wsa_advertise_provider(h, T1, guid(1), Box::new(TinyProvider::new())),
        Err(WsaError::EINVAL)
    );
    assert_eq!(
        d.wsa_advertise_provider(h, T1, guid(2), Box::new(TinyProvider::new())),
        Ok(())
    );
    let mut w7 = world(Config::default());
    w7.install_provider(entry(1, Namespace::DNS))
        .expect("install");
    let h = w7.create_process("h", nspsim_runtime::Role::Host);
    w7.wsa_startup(h, T1, (2, 2)).expect("startup");
    assert_eq!(
        w7.wsa_advertise_provider(h, T1, guid(1), Box::new(TinyProvider::new())),
        Ok(())
    );
}

// ---------------------------------------------------------------- P4: contained panics

#[test]
fn p4_a_panicking_provider_is_contained_unadvertised_and_the_run_goes_on() {
    let mut d = world(Config::default());
    host(
        &mut d,
        1,
        TinyProvider::new()
            .panic_in(NspFn::LookupServiceNextEx)
            .with_entry("a@x", &["192.0.2.1:25"]),
    );
    host(
        &mut d,
        2,
        TinyProvider::new().with_entry("a@x", &["192.0.2.2:25"]),
    );
    let c = client(&mut d, "c");
    let flags = LupFlags::RETURN_ADDR;
    let h = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), flags)
        .expect("begin");
    // p1 panics in NextEx: its part fails with WSASYSCALLFAILURE and the Next moves on to p2.
    let got = ready(d.wsa_lookup_service_next(c, T1, h, flags, BUF)).expect("p2 answers");
    assert_eq!(got.addresses[0].remote.to_string(), "192.0.2.2:25");
    assert!(!d.is_advertised(guid(1)));
    let fault = events(&d).iter().find_map(|s| match &s.event {
        Event::Fault { func, kind, .. } => Some((*func, *kind)),
        _ => None,
    });
    assert_eq!(
        fault,
        Some((
            NspFn::LookupServiceNextEx,
            nspsim_runtime::event::FaultKind::Panic
        ))
    );
    d.wsa_lookup_service_end(c, T1, h).expect("end");
    d.wsa_cleanup(c, T1).expect("cleanup");
    let after_fault: Vec<_> = nsp_calls(&d)
        .into_iter()
        .skip_while(|c| !c.starts_with("NextEx p1"))
        .skip(1)
        .collect();
    assert!(
        after_fault.iter().all(|c| !c.contains(" p1 ")),
        "{after_fault:?}"
    );
}

#[test]
fn p4_a_missed_completion_deadline_faults_the_provider_and_the_next_moves_on() {
    let mut d = world(Config::default());
    host(
        &mut d,
        1,
        TinyProvider::new()
            .deferred()
            .with_entry("a@x", &["192.0.2.1:25"]),
    );
    host(
        &mut d,
        2,
        TinyProvider::new().with_entry("a@x", &["192.0.2.2:25"]),
    );
    let c = client(&mut d, "c");
    let flags = LupFlags::RETURN_ADDR;
    let h = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), flags)
        .expect("begin");
    assert_eq!(
        d.wsa_lookup_service_next(c, T1, h, flags, BUF),
        Poll::Pending
    );
    // The driver's deadline passes before p1's deferred work ever runs.
    assert!(d.time_out_wait(c, T1, 250));
    let fault = events(&d).iter().find_map(|s| match &s.event {
        Event::Fault { kind, detail, .. } => Some((*kind, detail.clone())),
        _ => None,
    });
    assert_eq!(
        fault,
        Some((
            nspsim_runtime::event::FaultKind::Timeout,
            "async call a1 was not completed within 250 ms".to_string()
        ))
    );
    assert!(!d.is_advertised(guid(1)));
    let wakes = d.take_wakes();
    match &wakes[..] {
        [w] => match &w.outcome {
            WakeOutcome::LookupServiceNext(Ok(qs)) => {
                assert_eq!(qs.addresses[0].remote.to_string(), "192.0.2.2:25")
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert!(!d.time_out_wait(c, T1, 250), "nothing is waiting any more");
}

// ---------------------------------------------------------------- issue #18: fidelity

use nspsim_runtime::catalog::{Level, Napi};

/// The checker finds nothing in what the dispatcher wrote.
fn checked_clean(d: &nspsim_runtime::Dispatcher<nspsim_runtime::VecSink>) {
    let r = nspsim_runtime::checker::check(events(d), false, d.config().startup_policy);
    assert!(r.violations.is_empty(), "{:#?}", r.violations);
}

/// An NS_EMAIL entry with per-domain NAPI claims.
fn claims(n: u128, wildcard: bool, domains: &[(&str, Level)]) -> nspsim_runtime::CatalogEntry {
    let napi = Napi::per_domain(wildcard, domains.iter().map(|(d, l)| (d.to_string(), *l)))
        .expect("legal napi");
    entry(n, Namespace::EMAIL).with_napi(napi)
}

/// The provider calls that reached provider `n`.
fn calls_to(d: &nspsim_runtime::Dispatcher<nspsim_runtime::VecSink>, n: u128) -> Vec<String> {
    let tag = format!(" p{n} ");
    nsp_calls(d)
        .into_iter()
        .filter(|c| c.contains(&tag))
        .collect()
}

/// Client API calls and provider calls, in order: `>WSALookupServiceNext`, `<WSALookupServiceNext`,
/// `Startup p2`, ….
fn timeline(d: &nspsim_runtime::Dispatcher<nspsim_runtime::VecSink>) -> Vec<String> {
    events(d)
        .iter()
        .filter_map(|s| match &s.event {
            Event::ApiCall { call, .. } => Some(format!(">{}", call.name())),
            Event::ApiReturn { call, .. } => Some(format!("<{}", call.name())),
            Event::NspCall { provider, func, .. } => Some(format!(
                "{} p{}",
                func.name()
                    .trim_start_matches("NSPv2")
                    .replace("LookupService", ""),
                provider.0 & 0xff
            )),
            _ => None,
        })
        .collect()
}

/// A Next to its end: runs deferred work, oldest first, until the Next's wake comes.
fn next_to_end(
    d: &mut nspsim_runtime::Dispatcher<nspsim_runtime::VecSink>,
    pid: nspsim_runtime::Pid,
    tid: Tid,
    h: LookupHandle,
    flags: LupFlags,
) -> Result<QuerySet, ApiError> {
    if let Poll::Ready(r) = d.wsa_lookup_service_next(pid, tid, h, flags, BUF) {
        return r;
    }
    loop {
        for w in d.take_wakes() {
            if let (true, WakeOutcome::LookupServiceNext(r)) =
                (w.pid == pid && w.tid == tid, w.outcome)
            {
                return r;
            }
        }
        let id = d.pending_work().first().expect("work to run").id;
        d.run_work(id);
    }
}

#[test]
fn s5_2_secondary_is_not_called_when_the_primary_answers() {
    let (mut d, c) = authority_world();
    assert_eq!(
        lookup_all(&mut d, c, &email("a@x"), LupFlags::RETURN_NAME),
        Ok(vec!["a@x".into()])
    );
    assert_eq!(calls_to(&d, 2), Vec::<String>::new(), "the secondary");
    assert_eq!(calls_to(&d, 3), Vec::<String>::new(), "the wildcard");
    checked_clean(&d);
}

#[test]
fn s5_2_second_primary_claim_is_ignored() {
    let mut d = world(Config::default());
    host_entry(
        &mut d,
        entry(1, Namespace::EMAIL).with_authority(Authority::Primary),
        TinyProvider::new(),
    );
    // A second primary claim for every domain, which would answer: it is no candidate.
    host_entry(
        &mut d,
        entry(2, Namespace::EMAIL).with_authority(Authority::Primary),
        TinyProvider::new().with_entry("a@x", &["192.0.2.2:25"]),
    );
    host_entry(
        &mut d,
        entry(3, Namespace::EMAIL).with_authority(Authority::Secondary),
        TinyProvider::new(),
    );
    let c = client(&mut d, "c");
    assert_eq!(
        lookup_all(&mut d, c, &email("a@x"), LupFlags::RETURN_NAME),
        Ok(vec![])
    );
    assert_eq!(calls_to(&d, 2), Vec::<String>::new());
    assert!(calls_to(&d, 3).iter().any(|c| c.starts_with("NextEx")));
    checked_clean(&d);
}

#[test]
fn s5_2_provider_with_no_claim_is_not_called() {
    let mut d = world(Config::default());
    // Primary for another domain; level `none` for this one: neither is a wildcard.
    host_entry(
        &mut d,
        claims(1, false, &[("other.org", Level::Primary)]),
        TinyProvider::new().with_entry("a@x", &["192.0.2.1:25"]),
    );
    host_entry(
        &mut d,
        claims(2, false, &[("x", Level::None)]),
        TinyProvider::new().with_entry("a@x", &["192.0.2.2:25"]),
    );
    host_entry(
        &mut d,
        claims(3, false, &[("x", Level::Primary)]),
        TinyProvider::new(),
    );
    host_entry(
        &mut d,
        claims(4, true, &[("other.org", Level::Secondary)]),
        TinyProvider::new().with_entry("a@x", &["192.0.2.4:25"]),
    );
    let c = client(&mut d, "c");
    let flags = LupFlags::RETURN_ADDR;
    let h = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), flags)
        .expect("begin");
    let got = ready(d.wsa_lookup_service_next(c, T1, h, flags, BUF)).expect("the wildcard");
    assert_eq!(got.addresses[0].remote.to_string(), "192.0.2.4:25");
    d.wsa_lookup_service_end(c, T1, h).expect("end");
    assert_eq!(calls_to(&d, 1), Vec::<String>::new());
    assert_eq!(calls_to(&d, 2), Vec::<String>::new());
    checked_clean(&d);
}

/// Primary p1 cannot resolve; secondary p2 and wildcard p3 can.
fn primary_cannot_resolve(
    deferred: bool,
) -> (
    nspsim_runtime::Dispatcher<nspsim_runtime::VecSink>,
    nspsim_runtime::Pid,
) {
    let mut d = world(Config::default());
    let tiny = |p: TinyProvider| if deferred { p.deferred() } else { p };
    host_entry(
        &mut d,
        entry(3, Namespace::EMAIL).with_authority(Authority::Wildcard),
        tiny(TinyProvider::new().with_entry("a@x", &["192.0.2.3:25"])),
    );
    host_entry(
        &mut d,
        entry(2, Namespace::EMAIL).with_authority(Authority::Secondary),
        tiny(TinyProvider::new().with_entry("a@x", &["192.0.2.2:25"])),
    );
    host_entry(
        &mut d,
        entry(1, Namespace::EMAIL).with_authority(Authority::Primary),
        tiny(TinyProvider::new()),
    );
    let c = client(&mut d, "c");
    (d, c)
}

#[test]
fn s5_2_secondary_is_started_inside_next_when_the_primary_cannot_resolve() {
    for deferred in [false, true] {
        let (mut d, c) = primary_cannot_resolve(deferred);
        let flags = LupFlags::RETURN_ADDR;
        let h = d
            .wsa_lookup_service_begin(c, T1, &email("a@x"), flags)
            .expect("begin");
        let got = next_to_end(&mut d, c, T1, h, flags).expect("the secondary answers");
        assert_eq!(got.addresses[0].remote.to_string(), "192.0.2.2:25");
        // Once it has answered, the secondary serves the lookup to its end.
        assert_eq!(
            next_to_end(&mut d, c, T1, h, flags).map(|_| ()),
            Err(WsaError::E_NO_MORE.into())
        );
        d.wsa_lookup_service_end(c, T1, h).expect("end");
        let t = timeline(&d);
        let from = t
            .iter()
            .position(|e| e == ">WSALookupServiceBegin")
            .expect("begin");
        assert_eq!(
            t[from..],
            [
                ">WSALookupServiceBegin",
                "Startup p1",
                "Begin p1",
                "<WSALookupServiceBegin",
                ">WSALookupServiceNext",
                "NextEx p1",
                "Startup p2",
                "Begin p2",
                "NextEx p2",
                "<WSALookupServiceNext",
                ">WSALookupServiceNext",
                "NextEx p2",
                "<WSALookupServiceNext",
                ">WSALookupServiceEnd",
                "End p1",
                "End p2",
                "<WSALookupServiceEnd",
            ],
            "deferred: {deferred}"
        );
        assert_eq!(calls_to(&d, 3), Vec::<String>::new(), "the wildcard");
        checked_clean(&d);
    }
}

#[test]
fn s5_2_an_unavailable_candidate_hands_over_inside_begin() {
    let mut d = world(Config::default());
    host_entry(
        &mut d,
        entry(1, Namespace::EMAIL).with_authority(Authority::Primary),
        TinyProvider::new().startup(StartupMode::Fail(WsaError::EINVAL)),
    );
    host_entry(
        &mut d,
        entry(2, Namespace::EMAIL).with_authority(Authority::Secondary),
        TinyProvider::new().with_entry("a@x", &["192.0.2.2:25"]),
    );
    host_entry(
        &mut d,
        entry(3, Namespace::EMAIL).with_authority(Authority::Wildcard),
        TinyProvider::new().with_entry("a@x", &["192.0.2.3:25"]),
    );
    let c = client(&mut d, "c");
    let h = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), LupFlags::RETURN_NAME)
        .expect("the secondary's Begin succeeds");
    assert_eq!(
        timeline(&d)[timeline(&d).len() - 5..],
        [
            ">WSALookupServiceBegin",
            "Startup p1",
            "Startup p2",
            "Begin p2",
            "<WSALookupServiceBegin"
        ]
    );
    d.wsa_lookup_service_end(c, T1, h).expect("end");
    // No candidate's Begin succeeds: S5.3's errors.
    assert_eq!(
        d.wsa_lookup_service_begin(c, T1, &email("fail-begin@x"), LupFlags::EMPTY),
        Err(WsaError::SERVICE_NOT_FOUND.into())
    );
    assert_eq!(
        calls_to(&d, 3)
            .iter()
            .filter(|c| c.starts_with("Begin"))
            .count(),
        1
    );
    checked_clean(&d);
}

#[test]
fn s5_2_non_authoritative_calls_every_candidate_in_order() {
    let mut d = world(Config::default());
    host_entry(
        &mut d,
        entry(1, Namespace::EMAIL).with_authority(Authority::Wildcard),
        TinyProvider::new().with_entry("a@x", &["192.0.2.1:25"]),
    );
    host_entry(
        &mut d,
        claims(2, false, &[("other.org", Level::Primary)]),
        TinyProvider::new().with_entry("a@x", &["192.0.2.2:25"]),
    );
    host_entry(
        &mut d,
        entry(3, Namespace::EMAIL).with_authority(Authority::Secondary),
        TinyProvider::new().with_entry("a@x", &["192.0.2.3:25"]),
    );
    host_entry(
        &mut d,
        claims(4, false, &[("x", Level::Primary)]),
        TinyProvider::new().with_entry("a@x", &["192.0.2.4:25"]),
    );
    host_entry(
        &mut d,
        claims(5, false, &[("x", Level::Primary)]),
        TinyProvider::new().with_entry("a@x", &["192.0.2.5:25"]),
    );
    let c = client(&mut d, "c");
    let flags = LupFlags::RETURN_ADDR | LupFlags::NON_AUTHORITATIVE;
    let h = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), flags)
        .expect("begin");
    // Every candidate's Begin, up front, in candidate order (as S5.3).
    let begins: Vec<_> = nsp_calls(&d)
        .into_iter()
        .filter(|c| c.starts_with("Begin"))
        .map(|c| c[..8].to_string())
        .collect();
    assert_eq!(begins, ["Begin p4", "Begin p3", "Begin p1"]);
    let mut addrs = Vec::new();
    while let Ok(qs) = ready(d.wsa_lookup_service_next(c, T1, h, flags, BUF)) {
        addrs.push(qs.addresses[0].remote.to_string());
    }
    assert_eq!(addrs, ["192.0.2.4:25", "192.0.2.3:25", "192.0.2.1:25"]);
    d.wsa_lookup_service_end(c, T1, h).expect("end");
    assert!(calls_to(&d, 2).is_empty() && calls_to(&d, 5).is_empty());
    checked_clean(&d);
}

#[test]
fn s5_2_providers_without_napi_come_after_the_candidates() {
    let mut d = world(Config::default());
    host(
        &mut d,
        1,
        TinyProvider::new().with_entry("a@x", &["192.0.2.1:25"]),
    );
    host_entry(
        &mut d,
        claims(2, false, &[("x", Level::Primary)]),
        TinyProvider::new(),
    );
    let c = client(&mut d, "c");
    assert_eq!(
        lookup_all(&mut d, c, &email("a@x"), LupFlags::RETURN_NAME),
        Ok(vec!["a@x".into()])
    );
    let t = timeline(&d);
    let next = t
        .iter()
        .position(|e| e == ">WSALookupServiceNext")
        .expect("next");
    assert_eq!(
        t[next..next + 5],
        [
            ">WSALookupServiceNext",
            "NextEx p2",
            "Startup p1",
            "Begin p1",
            "NextEx p1"
        ],
        "the provider without NAPI data is asked after the candidate, one at a time"
    );
    // A name without a domain part routes as S5.1: both up front, in catalog order.
    let before = nsp_calls(&d).len();
    lookup_all(&mut d, c, &email("a"), LupFlags::RETURN_NAME).expect("lookup");
    let begins: Vec<_> = nsp_calls(&d)[before..]
        .iter()
        .filter(|c| c.starts_with("Begin"))
        .map(|c| c[..8].to_string())
        .collect();
    assert_eq!(begins, ["Begin p1", "Begin p2"]);
    checked_clean(&d);
}

#[test]
fn s7_1_registration_follows_the_candidates() {
    let mut d = world(Config::default());
    // In catalog order: a primary for another domain, a wildcard, the domain's primary (no
    // SetServiceEx), its secondary.
    host_entry(
        &mut d,
        claims(1, false, &[("other.org", Level::Primary)]),
        TinyProvider::new(),
    );
    host_entry(
        &mut d,
        entry(2, Namespace::EMAIL).with_authority(Authority::Wildcard),
        TinyProvider::new(),
    );
    let mut no_set = TinyProvider::new();
    no_set.table = no_set.table.with(
        NspFn::SetServiceEx,
        nspsim_runtime::provider::EntryPoint::Absent,
    );
    host_entry(&mut d, claims(3, false, &[("x", Level::Primary)]), no_set);
    host_entry(
        &mut d,
        claims(4, false, &[("x", Level::Secondary)]),
        TinyProvider::new(),
    );
    let c = client(&mut d, "c");
    assert_eq!(
        ready(d.wsa_set_service(
            c,
            T1,
            &email("b@x"),
            SetServiceOp::Register,
            SetServiceFlags::EMPTY
        )),
        Ok(())
    );
    let t = timeline(&d);
    let from = t.iter().position(|e| e == ">WSASetService").expect("set");
    assert_eq!(
        t[from..],
        [
            ">WSASetService",
            "Startup p3",
            "Startup p4",
            "SetServiceEx p4",
            "<WSASetService"
        ],
        "the primary (WSAEOPNOTSUPP), then the secondary, whose success stops it"
    );
    assert!(calls_to(&d, 1).is_empty() && calls_to(&d, 2).is_empty());
    checked_clean(&d);
}

#[test]
fn s4_6_non_final_wsacleanup_does_not_cut_a_lookup_short() {
    for deferred in [false, true] {
        let mut d = world(per_wsastartup());
        let tiny = TinyProvider::new()
            .with_entry("a@x", &["192.0.2.1:25"])
            .with_entry("a@x", &["192.0.2.2:25"]);
        host(&mut d, 1, if deferred { tiny.deferred() } else { tiny });
        let c = client(&mut d, "c");
        d.wsa_startup(c, T1, (2, 2)).expect("nested");
        let t2 = d.create_thread(c).expect("thread");
        let flags = LupFlags::RETURN_ADDR;
        let h = d
            .wsa_lookup_service_begin(c, T1, &email("a@x"), flags)
            .expect("begin");
        next_to_end(&mut d, c, T1, h, flags).expect("first result");
        // A Next pending on another thread (deferred) while this thread's WSACleanup runs.
        let pending = d.wsa_lookup_service_next(c, t2, h, flags, BUF);
        d.wsa_cleanup(c, T1).expect("the inner WSACleanup");
        // The session without open handles (s1) ends; the lookup's (s2) goes on.
        assert_eq!(
            nsp_calls(&d).last().map(String::as_str),
            Some("Cleanup p1 pid2 s1")
        );
        let second = match pending {
            Poll::Ready(r) => r,
            Poll::Pending => {
                while d.is_waiting(c, t2) {
                    let id = d.pending_work().first().expect("work").id;
                    d.run_work(id);
                }
                match d.take_wakes().pop().map(|w| w.outcome) {
                    Some(WakeOutcome::LookupServiceNext(r)) => r,
                    other => panic!("{other:?}"),
                }
            }
        };
        assert_eq!(
            second.expect("the second result").addresses[0]
                .remote
                .to_string(),
            "192.0.2.2:25",
            "deferred: {deferred}"
        );
        assert_eq!(
            next_to_end(&mut d, c, T1, h, flags).map(|_| ()),
            Err(WsaError::E_NO_MORE.into())
        );
        d.wsa_lookup_service_end(c, T1, h).expect("end");
        d.wsa_cleanup(c, T1).expect("the final WSACleanup");
        assert_eq!(
            nsp_calls(&d).last().map(String::as_str),
            Some("Cleanup p1 pid2 s2")
        );
        checked_clean(&d);
    }
}

#[test]
fn s4_6_retiring_session_gets_its_cleanup_when_its_last_handle_ends() {
    let mut d = world(per_wsastartup());
    host(
        &mut d,
        1,
        TinyProvider::new()
            .with_entry("a@x", &["192.0.2.1:25"])
            .with_entry("a@x", &["192.0.2.2:25"]),
    );
    let c = client(&mut d, "c");
    let flags = LupFlags::RETURN_ADDR;
    let a = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), flags)
        .expect("begin a (s1)");
    d.wsa_startup(c, T1, (2, 2)).expect("nested");
    let b1 = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), flags)
        .expect("begin b1 (s2)");
    let b2 = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), flags)
        .expect("begin b2 (s2)");
    let before = nsp_calls(&d).len();
    d.wsa_cleanup(c, T1).expect("the inner WSACleanup");
    assert_eq!(
        nsp_calls(&d).len(),
        before,
        "every session is busy: s2 retires"
    );
    // s2's lookups go on with it.
    ready(d.wsa_lookup_service_next(c, T1, b1, flags, BUF)).expect("b1 goes on");
    assert_eq!(
        nsp_calls(&d).last().map(|c| c[..18].to_string()),
        Some("NextEx p1 pid2 s2 ".to_string())
    );
    // A new call goes through s1, the newest session that is not retiring.
    let c1 = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), flags)
        .expect("begin c1");
    assert_eq!(
        nsp_calls(&d).last().map(String::as_str),
        Some("Begin p1 pid2 s1")
    );
    d.wsa_lookup_service_end(c, T1, b1).expect("end b1");
    assert!(
        !nsp_calls(&d).iter().any(|c| c.starts_with("Cleanup")),
        "b2 still holds s2"
    );
    d.wsa_lookup_service_end(c, T1, b2).expect("end b2");
    assert_eq!(
        nsp_calls(&d)[nsp_calls(&d).len() - 2..],
        ["End p1 pid2 s2 h3", "Cleanup p1 pid2 s2"]
    );
    // Two WSAStartups outstanding again and one live session: a new call opens another.
    d.wsa_startup(c, T1, (2, 2)).expect("nested again");
    let d1 = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), flags)
        .expect("begin d1");
    let n = nsp_calls(&d).len();
    assert_eq!(
        nsp_calls(&d)[n - 2..],
        ["Startup p1 pid2", "Begin p1 pid2 s3"]
    );
    for h in [a, c1, d1] {
        d.wsa_lookup_service_end(c, T1, h).expect("end");
    }
    d.wsa_cleanup(c, T1).expect("inner");
    d.wsa_cleanup(c, T1).expect("final");
    let cleanups: Vec<_> = nsp_calls(&d)
        .into_iter()
        .filter(|c| c.starts_with("Cleanup"))
        .collect();
    assert_eq!(
        cleanups,
        [
            "Cleanup p1 pid2 s2",
            "Cleanup p1 pid2 s3",
            "Cleanup p1 pid2 s1"
        ]
    );
    checked_clean(&d);
}

#[test]
fn s4_6_the_final_wsacleanup_ends_a_retiring_session_with_its_lookup() {
    let mut d = world(per_wsastartup());
    host(
        &mut d,
        1,
        TinyProvider::new().with_entry("a@x", &["192.0.2.1:25"]),
    );
    let c = client(&mut d, "c");
    let flags = LupFlags::RETURN_ADDR;
    d.wsa_lookup_service_begin(c, T1, &email("a@x"), flags)
        .expect("s1");
    d.wsa_startup(c, T1, (2, 2)).expect("nested");
    let b = d
        .wsa_lookup_service_begin(c, T1, &email("a@x"), flags)
        .expect("s2");
    d.wsa_cleanup(c, T1).expect("inner: s2 retires");
    d.wsa_cleanup(c, T1).expect("final");
    let n = nsp_calls(&d).len();
    assert_eq!(
        nsp_calls(&d)[n - 4..],
        [
            "End p1 pid2 s2 h2",
            "Cleanup p1 pid2 s2",
            "End p1 pid2 s1 h1",
            "Cleanup p1 pid2 s1"
        ],
        "the final WSACleanup ends every session, newest first, its handles first (S4.8)"
    );
    assert_eq!(
        ready(d.wsa_lookup_service_next(c, T1, b, flags, BUF)).map(|_| ()),
        Err(WsaError::NOTINITIALISED.into())
    );
    checked_clean(&d);
}

#[test]
fn legacy_wsaenomore_and_wsaecancelled_from_nextex_mean_the_modern_codes() {
    for legacy in [WsaError::ENOMORE, WsaError::ECANCELLED] {
        let mut d = world(Config::default());
        host(&mut d, 1, TinyProvider::new().next_error(legacy));
        host(
            &mut d,
            2,
            TinyProvider::new().with_entry("a", &["192.0.2.2:25"]),
        );
        let c = client(&mut d, "c");
        // p1's answer moves the lookup on to p2 (S5.4), and the end is WSA_E_NO_MORE.
        assert_eq!(
            lookup_all(&mut d, c, &email("a"), LupFlags::RETURN_NAME),
            Ok(vec!["a".into()])
        );
        // The trace keeps the code the provider passed.
        assert!(events(&d).iter().any(|s| matches!(
            &s.event,
            Event::AsyncComplete { err, .. } if *err == legacy.code()
        )));
        // P2: a documented spelling.
        checked_clean(&d);
    }
}
