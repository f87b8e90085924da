//! Each provider kind through the dispatcher: lifecycles under both completion modes and both
//! startup policies, the S7.2 operation table, WSAEFAULT sizing per LUP_RETURN_* combination,
//! every `faulty` fault, and every `buggy` bug both visible and hidden.

use nspsim_providers::registry;
use nspsim_runtime::event::{CompletionOutcome, Event, FaultKind};
use nspsim_runtime::provider::NspFn;
use nspsim_runtime::wsa::{
    CsAddr, LupFlags, Namespace, QuerySet, SetServiceFlags, SetServiceOp, WsaError,
};
use nspsim_runtime::{
    ApiError, ApiResult, CatalogEntry, Config, Dispatcher, ExitHow, Guid, LookupHandle, Pid, Role,
    StartupPolicy, Tid, VecSink, WakeOutcome,
};
use serde_json::{Value, json};
use std::task::Poll;

const T1: Tid = Tid(1);
const BUF: u32 = 4096;

struct World {
    d: Dispatcher<VecSink>,
    next_id: u128,
}

impl World {
    fn new(policy: StartupPolicy) -> World {
        World {
            d: Dispatcher::new(
                Config {
                    startup_policy: policy,
                    ..Config::default()
                },
                VecSink::new(),
            ),
            next_id: 0,
        }
    }

    /// Installs and advertises a provider of `kind` in its own host process.
    fn host(&mut self, kind: &str, options: Value) -> Guid {
        self.next_id += 1;
        let id = Guid::from_u128(0xabc0_0000 + self.next_id);
        let provider = registry()
            .get(kind)
            .expect("kind")
            .build(&options)
            .expect("options");
        self.d
            .install_provider(CatalogEntry::new(
                id,
                format!("{kind}-{}", self.next_id),
                Namespace::EMAIL,
            ))
            .expect("install");
        let host = self.d.create_process("host", Role::Host);
        self.d.wsa_startup(host, T1, (2, 2)).expect("startup");
        self.d
            .wsa_advertise_provider(host, T1, id, provider)
            .expect("advertise");
        id
    }

    fn client(&mut self) -> Pid {
        let pid = self.d.create_process("client", Role::Client);
        self.d.wsa_startup(pid, T1, (2, 2)).expect("startup");
        pid
    }

    /// Runs deferred work until none is left; returns the wakes, in order.
    fn drain(&mut self) -> Vec<WakeOutcome> {
        let mut out = Vec::new();
        while let Some(item) = self.d.pending_work().first().copied() {
            self.d.run_work(item.id);
            out.extend(self.d.take_wakes().into_iter().map(|w| w.outcome));
        }
        out.extend(self.d.take_wakes().into_iter().map(|w| w.outcome));
        out
    }

    fn next(
        &mut self,
        pid: Pid,
        h: LookupHandle,
        flags: LupFlags,
        buf: u32,
    ) -> ApiResult<QuerySet> {
        match self.d.wsa_lookup_service_next(pid, T1, h, flags, buf) {
            Poll::Ready(r) => r,
            Poll::Pending => match self.drain().pop() {
                Some(WakeOutcome::LookupServiceNext(r)) => r,
                other => panic!("no Next result after draining: {other:?}"),
            },
        }
    }

    fn set(
        &mut self,
        pid: Pid,
        qs: &QuerySet,
        op: SetServiceOp,
        flags: SetServiceFlags,
    ) -> ApiResult<()> {
        match self.d.wsa_set_service(pid, T1, qs, op, flags) {
            Poll::Ready(r) => r,
            Poll::Pending => match self.drain().pop() {
                Some(WakeOutcome::SetService(r)) => r,
                other => panic!("no SetService result after draining: {other:?}"),
            },
        }
    }

    /// The addresses a lookup of `name` returns (empty when the name is unknown).
    fn addrs(&mut self, pid: Pid, name: &str) -> Result<Vec<String>, ApiError> {
        let flags = LupFlags::RETURN_NAME | LupFlags::RETURN_ADDR;
        let h = self
            .d
            .wsa_lookup_service_begin(pid, T1, &email(name), flags)?;
        let mut found = Vec::new();
        loop {
            match self.next(pid, h, flags, BUF) {
                Ok(qs) => found.extend(qs.addresses.iter().map(|a| a.remote.to_string())),
                Err(e) if e.code == WsaError::E_NO_MORE || e.code == WsaError::NO_DATA => break,
                Err(e) => return Err(e),
            }
        }
        self.d.wsa_lookup_service_end(pid, T1, h)?;
        Ok(found)
    }

    fn violations(&self) -> Vec<String> {
        self.d
            .sink()
            .events
            .iter()
            .filter_map(|s| match &s.event {
                Event::Violation { rule, .. } => Some(rule.clone()),
                _ => None,
            })
            .collect()
    }

    fn faults(&self) -> Vec<(NspFn, FaultKind)> {
        self.d
            .sink()
            .events
            .iter()
            .filter_map(|s| match &s.event {
                Event::Fault { func, kind, .. } => Some((*func, *kind)),
                _ => None,
            })
            .collect()
    }

    /// The codes providers completed async calls with, in order.
    fn completion_codes(&self) -> Vec<u32> {
        self.d
            .sink()
            .events
            .iter()
            .filter_map(|s| match &s.event {
                Event::AsyncComplete { err, .. } => Some(*err),
                _ => None,
            })
            .collect()
    }

    fn calls(&self, func: NspFn) -> usize {
        self.d
            .sink()
            .events
            .iter()
            .filter(|s| matches!(&s.event, Event::NspCall { func: f, .. } if *f == func))
            .count()
    }
}

fn email(name: &str) -> QuerySet {
    QuerySet::restrictions(Namespace::EMAIL, name)
}

fn directory(completion: &str) -> Value {
    json!({
        "completion": completion,
        "entries": [
            { "name": "alice@example.com", "addrs": ["192.0.2.10:25"], "comment": "alice", "blob": "key" },
            { "name": "bob@example.com", "addrs": ["192.0.2.11:25", "[2001:db8::11]:25"] },
        ]
    })
}

fn reg(name: &str, addrs: &[&str]) -> QuerySet {
    QuerySet {
        addresses: addrs
            .iter()
            .map(|a| CsAddr::tcp(a.parse().expect("addr")))
            .collect(),
        ..email(name)
    }
}

// ------------------------------------------------------------------ email-directory

#[test]
fn email_directory_full_lifecycle_under_both_completions_and_policies() {
    for completion in ["inline", "deferred"] {
        for policy in [StartupPolicy::PerProcess, StartupPolicy::PerWsaStartup] {
            let mut w = World::new(policy);
            w.host("email-directory", directory(completion));
            let a = w.client();
            w.d.wsa_startup(a, T1, (2, 2)).expect("nested");
            assert_eq!(
                w.addrs(a, "alice@example.com"),
                Ok(vec!["192.0.2.10:25".into()])
            );
            assert_eq!(
                w.set(
                    a,
                    &reg("carol@example.com", &["192.0.2.12:25"]),
                    SetServiceOp::Register,
                    SetServiceFlags::EMPTY
                ),
                Ok(())
            );
            let b = w.client();
            assert_eq!(
                w.addrs(b, "carol@example.com"),
                Ok(vec!["192.0.2.12:25".into()]),
                "{completion} {policy:?}"
            );
            w.d.wsa_cleanup(a, T1).expect("inner");
            w.d.wsa_cleanup(a, T1).expect("outer");
            w.d.exit_process(b, ExitHow::Crash);
            let startups = if policy == StartupPolicy::PerWsaStartup {
                3
            } else {
                2
            };
            assert_eq!(w.calls(NspFn::Startup), startups, "{completion} {policy:?}");
            assert_eq!(w.calls(NspFn::Cleanup), startups - 1);
            assert_eq!(w.calls(NspFn::ClientSessionRundown), 1);
            assert!(w.violations().is_empty(), "P5 holds: {:?}", w.violations());
            assert!(w.faults().is_empty());
        }
    }
}

#[test]
fn s7_1_registrations_outlive_sessions_and_clients() {
    // "WSACleanup does not unregister names": what one client registered is still there after
    // its last WSACleanup, for itself when it starts again and for another client.
    for completion in ["inline", "deferred"] {
        let mut w = World::new(StartupPolicy::PerProcess);
        w.host("email-directory", directory(completion));
        let a = w.client();
        w.set(
            a,
            &reg("carol@example.com", &["192.0.2.12:25"]),
            SetServiceOp::Register,
            SetServiceFlags::EMPTY,
        )
        .expect("register");
        w.set(
            a,
            &reg("alice@example.com", &[]),
            SetServiceOp::Delete,
            SetServiceFlags::EMPTY,
        )
        .expect("delete a configured entry");
        w.d.wsa_cleanup(a, T1).expect("last cleanup");
        assert_eq!(
            w.calls(NspFn::Cleanup),
            1,
            "the provider's last session ended"
        );
        let b = w.client();
        assert_eq!(
            w.addrs(b, "carol@example.com"),
            Ok(vec!["192.0.2.12:25".into()]),
            "{completion}: another client sees the registration"
        );
        assert_eq!(
            w.addrs(b, "alice@example.com"),
            Ok(vec![]),
            "{completion}: the deletion stays too: the configured entries are not reloaded"
        );
        w.d.exit_process(b, ExitHow::Crash);
        w.d.wsa_startup(a, T1, (2, 2)).expect("again");
        assert_eq!(
            w.addrs(a, "carol@example.com"),
            Ok(vec!["192.0.2.12:25".into()])
        );
        w.d.wsa_cleanup(a, T1).expect("cleanup");
        assert!(w.violations().is_empty(), "P5 holds: {:?}", w.violations());
    }
}

#[test]
fn email_directory_unknown_name_is_wsano_data_and_unserved_domain_fails_begin() {
    let mut w = World::new(StartupPolicy::PerProcess);
    w.host(
        "email-directory",
        json!({ "domains": ["example.com"], "entries": [] }),
    );
    let c = w.client();
    let h =
        w.d.wsa_lookup_service_begin(c, T1, &email("nobody@example.com"), LupFlags::RETURN_NAME)
            .expect("served domain");
    // The provider answers WSANO_DATA; the last provider's error becomes WSA_E_NO_MORE (S5.4).
    assert_eq!(
        w.next(c, h, LupFlags::RETURN_NAME, BUF),
        Err(WsaError::E_NO_MORE.into())
    );
    assert_eq!(w.completion_codes(), [11004]);
    let other =
        w.d.wsa_lookup_service_begin(c, T1, &email("x@elsewhere.org"), LupFlags::RETURN_NAME);
    assert_eq!(other, Err(WsaError::SERVICE_NOT_FOUND.into()));
}

#[test]
fn email_directory_lists_a_domain_one_result_per_next() {
    let mut w = World::new(StartupPolicy::PerProcess);
    w.host("email-directory", directory("deferred"));
    let c = w.client();
    let flags = LupFlags::RETURN_NAME;
    let h =
        w.d.wsa_lookup_service_begin(c, T1, &email("*@example.com"), flags)
            .expect("begin");
    let first = w.next(c, h, flags, BUF).expect("alice");
    let second = w.next(c, h, flags, BUF).expect("bob");
    assert_eq!(
        first.service_instance_name.as_deref(),
        Some("alice@example.com")
    );
    assert_eq!(
        second.service_instance_name.as_deref(),
        Some("bob@example.com")
    );
    assert_eq!(w.next(c, h, flags, BUF), Err(WsaError::E_NO_MORE.into()));
}

#[test]
fn s7_2_set_service_operation_table_row_by_row() {
    let multiple = SetServiceFlags::SERVICE_MULTIPLE;
    let none = SetServiceFlags::EMPTY;
    let mut w = World::new(StartupPolicy::PerProcess);
    w.host("email-directory", json!({}));
    let c = w.client();
    let name = "dave@example.com";
    let addrs = |w: &mut World| w.addrs(c, name);
    // Missing entry: DEREGISTER and DELETE fail with WSASERVICE_NOT_FOUND.
    assert_eq!(
        w.set(c, &reg(name, &[]), SetServiceOp::Deregister, none),
        Err(WsaError::SERVICE_NOT_FOUND.into())
    );
    assert_eq!(
        w.set(c, &reg(name, &[]), SetServiceOp::Delete, none),
        Err(WsaError::SERVICE_NOT_FOUND.into())
    );
    assert_eq!(
        w.set(c, &reg(name, &[]), SetServiceOp::Delete, multiple),
        Err(WsaError::SERVICE_NOT_FOUND.into())
    );
    // REGISTER creates.
    w.set(
        c,
        &reg(name, &["192.0.2.1:25"]),
        SetServiceOp::Register,
        none,
    )
    .expect("create");
    assert_eq!(addrs(&mut w), Ok(vec!["192.0.2.1:25".into()]));
    // REGISTER overwrites.
    w.set(
        c,
        &reg(name, &["192.0.2.2:25"]),
        SetServiceOp::Register,
        none,
    )
    .expect("overwrite");
    assert_eq!(addrs(&mut w), Ok(vec!["192.0.2.2:25".into()]));
    // REGISTER | SERVICE_MULTIPLE adds.
    w.set(
        c,
        &reg(name, &["192.0.2.3:25", "192.0.2.4:25"]),
        SetServiceOp::Register,
        multiple,
    )
    .expect("add");
    assert_eq!(
        addrs(&mut w),
        Ok(vec![
            "192.0.2.2:25".into(),
            "192.0.2.3:25".into(),
            "192.0.2.4:25".into()
        ])
    );
    // DEREGISTER | SERVICE_MULTIPLE removes the given addresses, keeps the entry.
    w.set(
        c,
        &reg(name, &["192.0.2.3:25"]),
        SetServiceOp::Deregister,
        multiple,
    )
    .expect("remove one");
    assert_eq!(
        addrs(&mut w),
        Ok(vec!["192.0.2.2:25".into(), "192.0.2.4:25".into()])
    );
    // DELETE | SERVICE_MULTIPLE removes only the given addresses.
    w.set(
        c,
        &reg(name, &["192.0.2.4:25"]),
        SetServiceOp::Delete,
        multiple,
    )
    .expect("delete one");
    assert_eq!(addrs(&mut w), Ok(vec!["192.0.2.2:25".into()]));
    // DELETE | SERVICE_MULTIPLE of an address the entry does not have changes nothing.
    w.set(
        c,
        &reg(name, &["192.0.2.9:25"]),
        SetServiceOp::Delete,
        multiple,
    )
    .expect("delete an absent address");
    assert_eq!(addrs(&mut w), Ok(vec!["192.0.2.2:25".into()]));
    // DEREGISTER removes the addresses but keeps the entry: the name still answers.
    w.set(c, &reg(name, &[]), SetServiceOp::Deregister, none)
        .expect("deregister");
    let h =
        w.d.wsa_lookup_service_begin(c, T1, &email(name), LupFlags::RETURN_NAME)
            .expect("begin");
    assert_eq!(
        w.next(c, h, LupFlags::RETURN_NAME, BUF)
            .map(|q| q.service_instance_name),
        Ok(Some(name.into()))
    );
    // DELETE removes the entry.
    w.set(c, &reg(name, &[]), SetServiceOp::Delete, none)
        .expect("delete");
    let h =
        w.d.wsa_lookup_service_begin(c, T1, &email(name), LupFlags::RETURN_NAME)
            .expect("begin");
    assert_eq!(
        w.next(c, h, LupFlags::RETURN_NAME, BUF),
        Err(WsaError::E_NO_MORE.into())
    );
    assert_eq!(
        w.completion_codes().last(),
        Some(&11004),
        "the provider said WSANO_DATA"
    );
    // Deleted: DEREGISTER and DELETE of it fail again.
    assert_eq!(
        w.set(c, &reg(name, &[]), SetServiceOp::Deregister, none),
        Err(WsaError::SERVICE_NOT_FOUND.into())
    );
    assert_eq!(
        w.set(c, &reg(name, &[]), SetServiceOp::Delete, none),
        Err(WsaError::SERVICE_NOT_FOUND.into())
    );
    // DEREGISTER | SERVICE_MULTIPLE of a missing entry fails too.
    assert_eq!(
        w.set(
            c,
            &reg(name, &["192.0.2.1:25"]),
            SetServiceOp::Deregister,
            multiple
        ),
        Err(WsaError::SERVICE_NOT_FOUND.into())
    );
    // REGISTER | SERVICE_MULTIPLE creates a missing entry with the given addresses.
    w.set(
        c,
        &reg(name, &["192.0.2.5:25", "192.0.2.6:25"]),
        SetServiceOp::Register,
        multiple,
    )
    .expect("create by adding");
    assert_eq!(
        addrs(&mut w),
        Ok(vec!["192.0.2.5:25".into(), "192.0.2.6:25".into()])
    );
    // REGISTER | SERVICE_MULTIPLE of an address already there does not list it twice.
    w.set(
        c,
        &reg(name, &["192.0.2.5:25"]),
        SetServiceOp::Register,
        multiple,
    )
    .expect("add again");
    assert_eq!(
        addrs(&mut w),
        Ok(vec!["192.0.2.5:25".into(), "192.0.2.6:25".into()])
    );
    // DELETE | SERVICE_MULTIPLE of the last addresses removes the entry (S7.2: "only removes
    // object from the namespace if no addresses remain"): later DEREGISTER and DELETE of it,
    // with or without SERVICE_MULTIPLE, fail with WSASERVICE_NOT_FOUND.
    w.set(
        c,
        &reg(name, &["192.0.2.5:25", "192.0.2.6:25"]),
        SetServiceOp::Delete,
        multiple,
    )
    .expect("delete the last addresses");
    for (op, flags) in [
        (SetServiceOp::Deregister, none),
        (SetServiceOp::Deregister, multiple),
        (SetServiceOp::Delete, none),
        (SetServiceOp::Delete, multiple),
    ] {
        assert_eq!(
            w.set(c, &reg(name, &["192.0.2.5:25"]), op, flags),
            Err(WsaError::SERVICE_NOT_FOUND.into()),
            "{op:?} {flags:?} after the emptied entry was removed"
        );
    }
    // An entry emptied by DEREGISTER is removed by a DELETE | SERVICE_MULTIPLE naming nothing
    // it still has (no address remains after it).
    w.set(
        c,
        &reg(name, &["192.0.2.7:25"]),
        SetServiceOp::Register,
        none,
    )
    .expect("create");
    w.set(c, &reg(name, &[]), SetServiceOp::Deregister, none)
        .expect("empty it");
    w.set(c, &reg(name, &[]), SetServiceOp::Delete, multiple)
        .expect("delete | multiple of an empty entry");
    assert_eq!(
        w.set(c, &reg(name, &[]), SetServiceOp::Delete, none),
        Err(WsaError::SERVICE_NOT_FOUND.into())
    );
}

#[test]
fn s5_5_wsaefault_sizing_for_every_lup_return_combination() {
    let parts = [
        LupFlags::RETURN_NAME,
        LupFlags::RETURN_ADDR,
        LupFlags::RETURN_COMMENT,
        LupFlags::RETURN_BLOB,
    ];
    let mut sizes = std::collections::BTreeMap::new();
    for mask in 0..16u32 {
        let flags = parts
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .fold(LupFlags::EMPTY, |acc, (_, f)| acc | *f);
        let mut w = World::new(StartupPolicy::PerProcess);
        w.host("email-directory", directory("inline"));
        let c = w.client();
        let h =
            w.d.wsa_lookup_service_begin(c, T1, &email("alice@example.com"), flags)
                .expect("begin");
        let err = w.next(c, h, flags, 8).expect_err("8 bytes never fit");
        assert_eq!(err.code, WsaError::EFAULT);
        let required = err.required_len.expect("required length");
        assert!(
            w.next(c, h, flags, required - 1).is_err(),
            "one byte short still fails ({flags:?})"
        );
        let got = w
            .next(c, h, flags, required)
            .expect("exactly the required size fits");
        assert_eq!(got.wire_size(), required);
        assert_eq!(
            got.service_instance_name.is_some(),
            flags.contains(LupFlags::RETURN_NAME)
        );
        assert_eq!(
            !got.addresses.is_empty(),
            flags.contains(LupFlags::RETURN_ADDR)
        );
        assert_eq!(
            got.comment.is_some(),
            flags.contains(LupFlags::RETURN_COMMENT)
        );
        assert_eq!(got.blob.is_some(), flags.contains(LupFlags::RETURN_BLOB));
        sizes.insert(mask, required);
        // Consumed: the next Next is the end.
        assert_eq!(w.next(c, h, flags, BUF), Err(WsaError::E_NO_MORE.into()));
    }
    // Asking for one more field always needs more room.
    for (mask, size) in &sizes {
        for bit in 0..4 {
            if mask & (1 << bit) == 0 {
                assert!(
                    sizes[&(mask | (1 << bit))] > *size,
                    "mask {mask:#b} + bit {bit}"
                );
            }
        }
    }
}

#[test]
fn s5_5_flushprevious_skips_the_result_that_did_not_fit() {
    let mut w = World::new(StartupPolicy::PerProcess);
    w.host("email-directory", directory("deferred"));
    let c = w.client();
    let flags = LupFlags::RETURN_NAME;
    let h =
        w.d.wsa_lookup_service_begin(c, T1, &email("*"), flags)
            .expect("begin");
    assert_eq!(
        w.next(c, h, flags, 8).map_err(|e| e.code),
        Err(WsaError::EFAULT)
    );
    let skipped = w
        .next(c, h, flags | LupFlags::FLUSHPREVIOUS, BUF)
        .expect("bob");
    assert_eq!(
        skipped.service_instance_name.as_deref(),
        Some("bob@example.com")
    );
}

#[test]
fn end_cancels_a_pending_deferred_next() {
    let mut w = World::new(StartupPolicy::PerProcess);
    w.host("email-directory", directory("deferred"));
    let c = w.client();
    let t2 = w.d.create_thread(c).expect("thread");
    let h =
        w.d.wsa_lookup_service_begin(c, T1, &email("alice@example.com"), LupFlags::RETURN_NAME)
            .expect("begin");
    assert!(
        w.d.wsa_lookup_service_next(c, T1, h, LupFlags::RETURN_NAME, BUF)
            .is_pending()
    );
    w.d.wsa_lookup_service_end(c, t2, h).expect("end");
    assert_eq!(
        w.drain(),
        [WakeOutcome::LookupServiceNext(Err(
            WsaError::E_CANCELLED.into()
        ))]
    );
    assert!(
        w.d.pending_work().is_empty(),
        "the provider dropped the cancelled work"
    );
    assert!(w.violations().is_empty());
}

fn until_cancelled() -> Value {
    json!({
        "completion": "until-cancelled",
        "entries": [ { "name": "alice@example.com", "addrs": ["192.0.2.10:25"] } ]
    })
}

/// A client whose main thread waits in a held Next; returns (client, its handle, a 2nd thread).
fn held_next(w: &mut World) -> (Pid, LookupHandle, Tid) {
    w.host("email-directory", until_cancelled());
    let c = w.client();
    let t2 = w.d.create_thread(c).expect("thread");
    let h =
        w.d.wsa_lookup_service_begin(c, T1, &email("alice@example.com"), LupFlags::RETURN_NAME)
            .expect("begin");
    assert!(
        w.d.wsa_lookup_service_next(c, T1, h, LupFlags::RETURN_NAME, BUF)
            .is_pending()
    );
    assert!(
        w.drain().is_empty(),
        "until-cancelled: no work is queued, the Next stays held"
    );
    (c, h, t2)
}

#[test]
fn until_cancelled_holds_next_until_end_cancels_it() {
    let mut w = World::new(StartupPolicy::PerProcess);
    let (c, h, t2) = held_next(&mut w);
    w.d.wsa_lookup_service_end(c, t2, h).expect("end");
    assert_eq!(
        w.drain(),
        [WakeOutcome::LookupServiceNext(Err(
            WsaError::E_CANCELLED.into()
        ))]
    );
    assert_eq!(
        w.completion_codes(),
        [10111],
        "the provider completed the held call with WSA_E_CANCELLED"
    );
    w.d.wsa_cleanup(c, t2).expect("cleanup");
    assert!(w.violations().is_empty(), "{:?}", w.violations());
}

#[test]
fn until_cancelled_session_end_cancels_held_next_by_cleanup_and_by_crash() {
    for policy in [StartupPolicy::PerProcess, StartupPolicy::PerWsaStartup] {
        // Orderly: another thread's final WSACleanup ends the session (S4.8).
        let mut w = World::new(policy);
        let (c, _, t2) = held_next(&mut w);
        w.d.wsa_cleanup(c, t2).expect("final cleanup");
        assert_eq!(
            w.drain(),
            [WakeOutcome::LookupServiceNext(Err(
                WsaError::E_CANCELLED.into()
            ))],
            "{policy:?}"
        );
        assert_eq!(w.completion_codes(), [10111]);
        assert_eq!(w.calls(NspFn::Cleanup), 1);
        assert!(
            w.violations().is_empty(),
            "{policy:?}: {:?}",
            w.violations()
        );
        // Abnormal: the client crashes; its handle is ended and its session run down.
        let mut w = World::new(policy);
        let (c, _, _) = held_next(&mut w);
        w.d.exit_process(c, ExitHow::Crash);
        w.drain();
        assert_eq!(w.completion_codes(), [10111], "{policy:?}");
        assert_eq!(w.calls(NspFn::ClientSessionRundown), 1);
        assert!(
            w.violations().is_empty(),
            "{policy:?}: {:?}",
            w.violations()
        );
    }
}

#[test]
fn until_cancelled_completes_set_service_inline() {
    let mut w = World::new(StartupPolicy::PerProcess);
    w.host("email-directory", until_cancelled());
    let c = w.client();
    assert_eq!(
        w.d.wsa_set_service(
            c,
            T1,
            &reg("carol@example.com", &["192.0.2.12:25"]),
            SetServiceOp::Register,
            SetServiceFlags::EMPTY
        ),
        Poll::Ready(Ok(()))
    );
}

#[test]
fn until_cancelled_is_a_documented_completion_mode() {
    let r = registry();
    let kind = r.get("email-directory").expect("kind");
    let doc = kind
        .options()
        .iter()
        .find(|o| o.name == "completion")
        .expect("completion documented");
    assert!(doc.shape.contains("until-cancelled"), "{}", doc.shape);
    assert!(kind.validate(&until_cancelled()).is_ok());
    assert!(
        kind.validate(&json!({ "completion": "until_cancelled" }))
            .is_err()
    );
}

// ------------------------------------------------------------------ minimal kinds

#[test]
fn minimal_kinds_run_cleanly_through_every_lifecycle() {
    for kind in ["minimal", "minimal-stubs"] {
        let mut w = World::new(StartupPolicy::PerProcess);
        w.host(
            kind,
            json!({ "entries": [{ "name": "a@x", "addrs": ["192.0.2.1:25"] }] }),
        );
        let orderly = w.client();
        assert_eq!(w.addrs(orderly, "a@x"), Ok(vec!["192.0.2.1:25".into()]));
        assert_eq!(
            w.set(
                orderly,
                &reg("a@x", &[]),
                SetServiceOp::Register,
                SetServiceFlags::EMPTY
            ),
            Err(WsaError::EOPNOTSUPP.into())
        );
        w.d.wsa_cleanup(orderly, T1).expect("cleanup");
        let crasher = w.client();
        let h =
            w.d.wsa_lookup_service_begin(crasher, T1, &email("a@x"), LupFlags::RETURN_NAME)
                .expect("begin");
        w.d.exit_process(crasher, ExitHow::Crash);
        let leaver = w.client();
        assert!(w.addrs(leaver, "a@x").is_ok());
        w.d.exit_process(leaver, ExitHow::Exit);
        let _ = h;
        let stubbed = kind == "minimal-stubs";
        assert_eq!(w.calls(NspFn::Startup) > 0, stubbed, "{kind}");
        assert_eq!(w.calls(NspFn::Cleanup) > 0, stubbed, "{kind}");
        assert_eq!(w.calls(NspFn::ClientSessionRundown) > 0, stubbed, "{kind}");
        assert_eq!(w.calls(NspFn::SetServiceEx) > 0, stubbed, "{kind}");
        assert_eq!(
            w.calls(NspFn::LookupServiceEnd),
            3,
            "{kind}: every handle ended once"
        );
        assert!(w.violations().is_empty() && w.faults().is_empty(), "{kind}");
    }
}

// ------------------------------------------------------------------ faulty

fn faulty(faults: Value) -> Value {
    json!({ "faults": faults, "entries": [{ "name": "a@x", "addrs": ["192.0.2.1:25"] }] })
}

#[test]
fn faulty_fail_reaches_the_client_on_the_chosen_call_only() {
    let mut w = World::new(StartupPolicy::PerProcess);
    w.host("faulty", faulty(json!([{ "fault": "fail", "entry_point": "begin", "error": "WSAEACCES", "on_call": 2 }])));
    let c = w.client();
    assert!(w.addrs(c, "a@x").is_ok());
    assert_eq!(w.addrs(c, "a@x"), Err(WsaError::EACCES.into()));
    assert!(w.addrs(c, "a@x").is_ok());
}

#[test]
fn faulty_startup_failure_by_number_is_retried_next_call() {
    let mut w = World::new(StartupPolicy::PerProcess);
    w.host(
        "faulty",
        faulty(
            json!([{ "fault": "fail", "entry_point": "NSPv2Startup", "error": 8, "on_call": 1 }]),
        ),
    );
    let c = w.client();
    assert_eq!(w.addrs(c, "a@x"), Err(WsaError::NOT_ENOUGH_MEMORY.into()));
    assert_eq!(w.addrs(c, "a@x"), Ok(vec!["192.0.2.1:25".into()]));
}

#[test]
fn faulty_panic_is_contained_and_the_run_goes_on() {
    let mut w = World::new(StartupPolicy::PerProcess);
    let bad = w.host(
        "faulty",
        faulty(json!([{ "fault": "panic", "entry_point": "next" }])),
    );
    w.host(
        "email-directory",
        json!({ "entries": [{ "name": "a@x", "addrs": ["192.0.2.2:25"] }] }),
    );
    let c = w.client();
    assert_eq!(w.addrs(c, "a@x"), Ok(vec!["192.0.2.2:25".into()]));
    assert_eq!(w.faults(), [(NspFn::LookupServiceNextEx, FaultKind::Panic)]);
    assert!(!w.d.is_advertised(bad));
    w.d.wsa_cleanup(c, T1).expect("the run goes on");
}

#[test]
fn faulty_silent_error_becomes_wsasyscallfailure() {
    let mut w = World::new(StartupPolicy::PerProcess);
    w.host(
        "faulty",
        faulty(json!([{ "fault": "silent-error", "entry_point": "begin" }])),
    );
    let c = w.client();
    assert_eq!(w.addrs(c, "a@x"), Err(WsaError::SYSCALLFAILURE.into()));
}

#[test]
fn faulty_never_complete_leaves_the_thread_waiting() {
    let mut w = World::new(StartupPolicy::PerProcess);
    w.host("faulty", faulty(json!([{ "fault": "never-complete" }])));
    let c = w.client();
    let h =
        w.d.wsa_lookup_service_begin(c, T1, &email("a@x"), LupFlags::RETURN_NAME)
            .expect("begin");
    assert!(
        w.d.wsa_lookup_service_next(c, T1, h, LupFlags::RETURN_NAME, BUF)
            .is_pending()
    );
    assert!(w.drain().is_empty());
    assert!(w.d.is_waiting(c, T1));
    assert_eq!(w.d.outstanding_async_calls().len(), 1);
}

#[test]
fn faulty_complete_twice_is_rejected_the_second_time() {
    let mut w = World::new(StartupPolicy::PerProcess);
    w.host("faulty", faulty(json!([{ "fault": "complete-twice" }])));
    let c = w.client();
    assert_eq!(w.addrs(c, "a@x"), Ok(vec!["192.0.2.1:25".into()]));
    let outcomes: Vec<_> =
        w.d.sink()
            .events
            .iter()
            .filter_map(|s| match &s.event {
                Event::AsyncComplete { outcome, .. } => Some(*outcome),
                _ => None,
            })
            .collect();
    assert!(outcomes.contains(&CompletionOutcome::Rejected));
}

#[test]
fn faulty_bad_code_moves_the_lookup_on() {
    let mut w = World::new(StartupPolicy::PerProcess);
    w.host(
        "faulty",
        faulty(json!([{ "fault": "bad-code", "error": 4242 }])),
    );
    let c = w.client();
    assert_eq!(
        w.addrs(c, "a@x"),
        Ok(vec![]),
        "an error other than WSAEFAULT moves on (S5.4)"
    );
    let codes: Vec<u32> =
        w.d.sink()
            .events
            .iter()
            .filter_map(|s| match &s.event {
                Event::AsyncComplete { err, .. } => Some(*err),
                _ => None,
            })
            .collect();
    assert!(codes.contains(&4242));
}

#[test]
fn faulty_rejects_bad_options_with_a_message_naming_them() {
    let kind = registry();
    let kind = kind.get("faulty").expect("kind");
    for (options, needle) in [
        (
            json!({ "faults": [{ "fault": "explode" }] }),
            "unknown fault \"explode\"",
        ),
        (
            json!({ "faults": [{ "fault": "fail" }] }),
            "needs an `error`",
        ),
        (
            json!({ "faults": [{ "fault": "fail", "error": "WSAENOPE" }] }),
            "faults[0].error",
        ),
        (
            json!({ "faults": [{ "fault": "never-complete", "entry_point": "begin" }] }),
            "applies to NSPv2LookupServiceNextEx",
        ),
        (
            json!({ "faults": [{ "fault": "panic", "entry_point": "frobnicate" }] }),
            "unknown entry point",
        ),
        (
            json!({ "faults": [], "entriez": [] }),
            "unknown field `entriez`",
        ),
    ] {
        let err = kind.validate(&options).expect_err(needle);
        assert!(err.contains(needle), "{err}");
    }
}

// ------------------------------------------------------------------ buggy

fn buggy(bug: &str, completion: &str) -> Value {
    json!({ "bug": bug, "completion": completion, "entries": [{ "name": "a@x", "addrs": ["192.0.2.1:25"] }] })
}

#[test]
fn buggy_free_on_first_cleanup_visible_when_a_cleanup_comes_first() {
    // Visible: A cleans up while B still has a session, then B looks up.
    let mut w = World::new(StartupPolicy::PerProcess);
    w.host("buggy", buggy("free-on-first-cleanup", "inline"));
    let (a, b) = (w.client(), w.client());
    assert!(w.addrs(a, "a@x").is_ok());
    assert!(w.addrs(b, "a@x").is_ok());
    w.d.wsa_cleanup(a, T1).expect("a cleans up");
    assert!(w.addrs(b, "a@x").is_err());
    assert_eq!(
        w.faults().len(),
        1,
        "use after free shows as a contained panic (P4)"
    );
    // Hidden: B finishes before A cleans up.
    let mut w = World::new(StartupPolicy::PerProcess);
    w.host("buggy", buggy("free-on-first-cleanup", "inline"));
    let (a, b) = (w.client(), w.client());
    assert!(w.addrs(a, "a@x").is_ok());
    assert!(w.addrs(b, "a@x").is_ok());
    w.d.wsa_cleanup(b, T1).expect("b");
    w.d.wsa_cleanup(a, T1).expect("a");
    assert!(w.faults().is_empty());
}

#[test]
fn buggy_ignore_rundown_visible_after_a_crash_only() {
    let mut w = World::new(StartupPolicy::PerProcess);
    w.host("buggy", buggy("ignore-rundown", "inline"));
    let a = w.client();
    assert!(w.addrs(a, "a@x").is_ok());
    w.d.exit_process(a, ExitHow::Crash);
    assert_eq!(w.violations(), ["P5"]);
    let mut w = World::new(StartupPolicy::PerProcess);
    w.host("buggy", buggy("ignore-rundown", "inline"));
    let a = w.client();
    assert!(w.addrs(a, "a@x").is_ok());
    w.d.wsa_cleanup(a, T1).expect("cleanup");
    assert!(w.violations().is_empty());
}

#[test]
fn buggy_complete_after_end_visible_when_end_overtakes_the_completion() {
    let mut w = World::new(StartupPolicy::PerProcess);
    w.host("buggy", buggy("complete-after-end", "deferred"));
    let c = w.client();
    let t2 = w.d.create_thread(c).expect("thread");
    let h =
        w.d.wsa_lookup_service_begin(c, T1, &email("a@x"), LupFlags::RETURN_NAME)
            .expect("begin");
    assert!(
        w.d.wsa_lookup_service_next(c, T1, h, LupFlags::RETURN_NAME, BUF)
            .is_pending()
    );
    w.d.wsa_lookup_service_end(c, t2, h)
        .expect("end while pending");
    w.drain();
    assert_eq!(w.faults(), [(NspFn::LookupServiceNextEx, FaultKind::Panic)]);
    // Hidden: the completion runs before End.
    let mut w = World::new(StartupPolicy::PerProcess);
    w.host("buggy", buggy("complete-after-end", "deferred"));
    let c = w.client();
    assert!(w.addrs(c, "a@x").is_ok());
    assert!(w.faults().is_empty());
}

#[test]
fn buggy_shared_session_visible_when_one_process_ends_before_another_uses_it() {
    let mut w = World::new(StartupPolicy::PerProcess);
    w.host("buggy", buggy("shared-session", "inline"));
    let (a, b) = (w.client(), w.client());
    assert!(w.addrs(a, "a@x").is_ok());
    assert!(w.addrs(b, "a@x").is_ok());
    w.d.wsa_cleanup(a, T1)
        .expect("a ends, freeing the shared argument");
    assert!(w.addrs(b, "a@x").is_err());
    assert_eq!(w.faults().len(), 1);
    let mut w = World::new(StartupPolicy::PerProcess);
    w.host("buggy", buggy("shared-session", "inline"));
    let a = w.client();
    assert!(w.addrs(a, "a@x").is_ok());
    w.d.wsa_cleanup(a, T1).expect("alone, nothing shows");
    assert!(w.faults().is_empty());
}
