//! One breaking sequence per rule (the checker names exactly that rule at the right seq) and a
//! near miss that must stay clean.

use super::*;
use crate::config::StartupPolicy;
use crate::event::{
    ApiFn, CompletionOutcome, Event, ExitHow, FaultKind, Fields, Label, LabelKind, Pid, Role,
    Stamped, Tid, VecSink,
};
use crate::provider::NspFn;
use crate::wsa::{Guid, Namespace};

const P: Guid = Guid(0x6f0e2a57_2f7c_4d8b_9a3e_1c2b3d4e5f60);
const HOST: Pid = Pid(1);
const C: Pid = Pid(2);
const T: Tid = Tid(1);

fn s(n: u32) -> Option<Label> {
    Some(Label::new(LabelKind::Session, n))
}
fn h(n: u32) -> Label {
    Label::new(LabelKind::ProviderLookup, n)
}
fn a(n: u32) -> Label {
    Label::new(LabelKind::AsyncCall, n)
}

/// A trace under construction.
struct Tr(Vec<Stamped>);

impl Tr {
    fn push(&mut self, event: Event) -> u64 {
        let seq = self.0.len() as u64;
        self.0.push(Stamped { seq, t: seq, event });
        seq
    }
    fn api(&mut self, pid: Pid, call: ApiFn, ret: i32, err: u32) -> u64 {
        self.push(Event::ApiCall {
            pid,
            tid: T,
            call,
            args: Fields::new(),
        });
        self.push(Event::ApiReturn {
            pid,
            tid: T,
            call,
            ret,
            err,
            result: None,
        })
    }
    fn call(
        &mut self,
        func: NspFn,
        pid: Pid,
        session: Option<Label>,
        lookup: Option<Label>,
        async_call: Option<Label>,
    ) -> u64 {
        self.push(Event::NspCall {
            provider: P,
            func,
            pid,
            session,
            lookup,
            async_call,
            args: None,
        })
    }
    fn ret(&mut self, func: NspFn, pid: Pid, ret: Option<i32>, err: u32) -> u64 {
        self.push(Event::NspReturn {
            provider: P,
            func,
            pid,
            ret,
            err,
            session: None,
            lookup: None,
        })
    }
    fn startup_session(&mut self, pid: Pid, label: Option<Label>) {
        self.call(NspFn::Startup, pid, None, None, None);
        self.push(Event::NspReturn {
            provider: P,
            func: NspFn::Startup,
            pid,
            ret: Some(0),
            err: 0,
            session: Some(label),
            lookup: None,
        });
    }
    fn begin(&mut self, pid: Pid, session: Option<Label>, handle: Label) {
        self.call(NspFn::LookupServiceBegin, pid, session, None, None);
        self.push(Event::NspReturn {
            provider: P,
            func: NspFn::LookupServiceBegin,
            pid,
            ret: Some(0),
            err: 0,
            session: None,
            lookup: Some(handle),
        });
    }
    fn check(&self) -> Report {
        check(&self.0, true, StartupPolicy::PerProcess)
    }
}

/// A host advertising P (absent: optional entry points left null) and a started client.
fn world(absent: Vec<NspFn>) -> Tr {
    let mut t = Tr(Vec::new());
    t.push(Event::CatalogInstall {
        provider: P,
        name: "mail".into(),
        namespace: Namespace::EMAIL,
        version: 1,
        ret: 0,
        err: 0,
    });
    t.push(Event::ProcessStart {
        pid: HOST,
        name: "host".into(),
        role: Role::Host,
    });
    t.api(HOST, ApiFn::WSAStartup, 0, 0);
    t.push(Event::ProviderAdvertise {
        pid: HOST,
        provider: P,
        ret: 0,
        err: 0,
        absent,
    });
    t.push(Event::ProcessStart {
        pid: C,
        name: "client".into(),
        role: Role::Client,
    });
    t.api(C, ApiFn::WSAStartup, 0, 0);
    t
}

/// The world plus a session s1 for the client.
fn with_session() -> Tr {
    let mut t = world(vec![]);
    t.startup_session(C, s(1));
    t
}

fn rules_at(r: &Report) -> Vec<(String, u64)> {
    r.violations
        .iter()
        .map(|v| (v.rule.name().to_string(), v.seq))
        .collect()
}

fn only(r: &Report, rule: &str, seq: u64) {
    assert_eq!(
        rules_at(r),
        [(rule.to_string(), seq)],
        "{:#?}",
        r.violations
    );
}

fn clean(r: &Report) {
    assert!(r.violations.is_empty(), "{:#?}", r.violations);
}

#[test]
fn l1_a_call_before_startup() {
    let mut t = world(vec![]);
    let at = t.call(NspFn::LookupServiceBegin, C, None, None, None);
    only(&t.check(), "L1", at);
}

#[test]
fn l1_near_miss_absent_startup_opens_the_session_with_the_first_call() {
    let mut t = world(vec![NspFn::Startup, NspFn::Cleanup]);
    t.begin(C, None, h(1));
    t.call(NspFn::LookupServiceEnd, C, None, Some(h(1)), None);
    t.ret(NspFn::LookupServiceEnd, C, Some(0), 0);
    t.api(C, ApiFn::WSACleanup, 0, 0);
    clean(&t.check());
}

#[test]
fn l1_near_miss_a_stub_startup_opens_a_null_session() {
    let mut t = world(vec![]);
    t.call(NspFn::Startup, C, None, None, None);
    t.push(Event::NspReturn {
        provider: P,
        func: NspFn::Startup,
        pid: C,
        ret: Some(-1),
        err: 10045,
        session: Some(None),
        lookup: None,
    });
    t.call(NspFn::SetServiceEx, C, None, None, Some(a(1)));
    t.push(Event::AsyncComplete {
        provider: P,
        async_call: a(1),
        err: 0,
        outcome: CompletionOutcome::Delivered,
    });
    clean(&t.check());
}

#[test]
fn l2_a_call_with_another_session_argument() {
    let mut t = with_session();
    let at = t.call(NspFn::LookupServiceBegin, C, s(2), None, None);
    only(&t.check(), "L2", at);
}

#[test]
fn l3_a_session_ended_twice() {
    let mut t = with_session();
    t.push(Event::ProcessExit {
        pid: C,
        how: ExitHow::Crash,
    });
    t.call(NspFn::ClientSessionRundown, C, s(1), None, None);
    let at = t.call(NspFn::ClientSessionRundown, C, s(1), None, None);
    only(&t.check(), "L3", at);
}

#[test]
fn l3_a_session_never_ended() {
    let mut t = with_session();
    let at = t.push(Event::ProcessExit {
        pid: C,
        how: ExitHow::Exit,
    });
    // An exit with WSAStartup outstanding owes a Rundown (L5), reported when the aftermath
    // closes; here nothing follows, so it is reported at the end.
    only(&t.check(), "L5", at);
}

#[test]
fn l4_a_call_after_the_session_ended() {
    let mut t = with_session();
    t.call(NspFn::Cleanup, C, s(1), None, None);
    t.ret(NspFn::Cleanup, C, Some(0), 0);
    let at = t.call(NspFn::LookupServiceBegin, C, s(1), None, None);
    let r = t.check();
    assert_eq!(
        rules_at(&r),
        [("L4".to_string(), at)],
        "{:#?}",
        r.violations
    );
    assert!(
        r.violations[0]
            .detail
            .contains("after that session ended by NSPv2Cleanup at seq"),
        "{}",
        r.violations[0].detail
    );
}

#[test]
fn l5_no_rundown_after_a_crash() {
    let mut t = with_session();
    t.push(Event::ProcessExit {
        pid: C,
        how: ExitHow::Crash,
    });
    t.push(Event::ProcessStart {
        pid: Pid(3),
        name: "next".into(),
        role: Role::Client,
    });
    let r = t.check();
    assert_eq!(r.violations.len(), 1, "{:#?}", r.violations);
    assert_eq!(r.violations[0].rule.name(), "L5");
    assert_eq!(
        r.violations[0].seq,
        (t.0.len() - 1) as u64,
        "reported when the aftermath closes"
    );
}

#[test]
fn l5_near_miss_a_crash_followed_by_its_rundown() {
    let mut t = with_session();
    t.begin(C, s(1), h(1));
    t.push(Event::ProcessExit {
        pid: C,
        how: ExitHow::Kill,
    });
    t.call(NspFn::LookupServiceEnd, C, s(1), Some(h(1)), None);
    t.ret(NspFn::LookupServiceEnd, C, Some(0), 0);
    t.call(NspFn::ClientSessionRundown, C, s(1), None, None);
    t.ret(NspFn::ClientSessionRundown, C, None, 0);
    t.push(Event::ProcessStart {
        pid: Pid(3),
        name: "next".into(),
        role: Role::Client,
    });
    clean(&t.check());
}

#[test]
fn l5_a_rundown_after_an_orderly_cleanup() {
    let mut t = with_session();
    t.call(NspFn::Cleanup, C, s(1), None, None);
    t.ret(NspFn::Cleanup, C, Some(0), 0);
    t.api(C, ApiFn::WSACleanup, 0, 0);
    t.startup_session(C, s(2));
    let at = t.call(NspFn::ClientSessionRundown, C, s(2), None, None);
    let r = t.check();
    assert!(
        rules_at(&r).contains(&("L5".to_string(), at))
            || rules_at(&r).contains(&("L9".to_string(), at - 2)),
        "{:#?}",
        r.violations
    );
}

#[test]
fn l6_a_handle_left_open_when_the_session_ends() {
    let mut t = with_session();
    t.begin(C, s(1), h(1));
    let at = t.call(NspFn::Cleanup, C, s(1), None, None);
    only(&t.check(), "L6", at);
}

#[test]
fn l6_a_handle_ended_twice() {
    let mut t = with_session();
    t.begin(C, s(1), h(1));
    t.call(NspFn::LookupServiceEnd, C, s(1), Some(h(1)), None);
    let at = t.call(NspFn::LookupServiceEnd, C, s(1), Some(h(1)), None);
    only(&t.check(), "L6", at);
}

#[test]
fn l7_an_async_call_never_completed() {
    let mut t = with_session();
    t.begin(C, s(1), h(1));
    t.call(NspFn::LookupServiceNextEx, C, s(1), Some(h(1)), Some(a(1)));
    let last = t.ret(NspFn::LookupServiceNextEx, C, None, 0);
    only(&t.check(), "L7", last);
    // Cut short, it is not decidable.
    let cut = check(&t.0, false, StartupPolicy::PerProcess);
    assert!(cut.violations.is_empty());
    assert!(
        cut.undecidable
            .iter()
            .any(|n| n.starts_with("L7 not decidable")),
        "{:?}",
        cut.undecidable
    );
}

#[test]
fn l7_near_miss_the_provider_went_away() {
    let mut t = with_session();
    t.begin(C, s(1), h(1));
    t.call(NspFn::LookupServiceNextEx, C, s(1), Some(h(1)), Some(a(1)));
    t.ret(NspFn::LookupServiceNextEx, C, None, 0);
    t.push(Event::ProviderUnadvertise {
        pid: HOST,
        provider: P,
        ret: 0,
        err: 0,
    });
    clean(&t.check());
}

#[test]
fn l8_a_call_to_an_unadvertised_provider() {
    let mut t = with_session();
    t.push(Event::ProviderUnadvertise {
        pid: HOST,
        provider: P,
        ret: 0,
        err: 0,
    });
    let at = t.call(NspFn::LookupServiceBegin, C, s(1), None, None);
    let r = t.check();
    assert_eq!(
        r.violations.first().map(|v| (v.rule.name(), v.seq)),
        Some(("L8", at)),
        "{:#?}",
        r.violations
    );
}

#[test]
fn l9_startup_without_wsastartup() {
    let mut t = world(vec![]);
    t.api(C, ApiFn::WSACleanup, 0, 0);
    let at = t.call(NspFn::Startup, C, None, None, None);
    only(&t.check(), "L9", at);
}

#[test]
fn l10_a_call_after_the_last_wsacleanup_must_fail() {
    let mut t = world(vec![]);
    t.api(C, ApiFn::WSACleanup, 0, 0);
    let at = t.api(C, ApiFn::WSALookupServiceBegin, 0, 0);
    only(&t.check(), "L10", at);
    let mut ok = world(vec![]);
    ok.api(C, ApiFn::WSACleanup, 0, 0);
    ok.api(C, ApiFn::WSALookupServiceBegin, -1, 10093);
    clean(&ok.check());
}

#[test]
fn p1_socket_error_without_last_error() {
    let mut t = with_session();
    t.call(NspFn::LookupServiceBegin, C, s(1), None, None);
    let at = t.ret(NspFn::LookupServiceBegin, C, Some(-1), 0);
    only(&t.check(), "P1", at);
}

#[test]
fn p2_an_undocumented_error_and_its_near_miss() {
    let mut t = with_session();
    t.call(NspFn::LookupServiceBegin, C, s(1), None, None);
    let at = t.ret(NspFn::LookupServiceBegin, C, Some(-1), 10045);
    only(&t.check(), "P2", at);
    let mut ok = with_session();
    ok.call(NspFn::LookupServiceBegin, C, s(1), None, None);
    ok.ret(NspFn::LookupServiceBegin, C, Some(-1), 10108);
    clean(&ok.check());
}

#[test]
fn p2_an_undocumented_completion_code() {
    let mut t = with_session();
    t.begin(C, s(1), h(1));
    t.call(NspFn::LookupServiceNextEx, C, s(1), Some(h(1)), Some(a(1)));
    let at = t.push(Event::AsyncComplete {
        provider: P,
        async_call: a(1),
        err: 12345,
        outcome: CompletionOutcome::Delivered,
    });
    let r = t.check();
    assert!(
        rules_at(&r).contains(&("P2".to_string(), at)),
        "{:#?}",
        r.violations
    );
}

#[test]
fn p3_a_rejected_completion() {
    let mut t = with_session();
    let at = t.push(Event::AsyncComplete {
        provider: P,
        async_call: a(9),
        err: 0,
        outcome: CompletionOutcome::Rejected,
    });
    only(&t.check(), "P3", at);
}

#[test]
fn p4_a_contained_panic() {
    let mut t = with_session();
    t.call(NspFn::LookupServiceBegin, C, s(1), None, None);
    let at = t.push(Event::Fault {
        provider: P,
        func: NspFn::LookupServiceBegin,
        kind: FaultKind::Panic,
        detail: "boom".into(),
    });
    t.push(Event::ProviderUnadvertise {
        pid: HOST,
        provider: P,
        ret: 0,
        err: 0,
    });
    t.ret(NspFn::LookupServiceBegin, C, Some(-1), 10107);
    only(&t.check(), "P4", at);
}

#[test]
fn online_violations_follow_the_breaking_event_and_recheck_once() {
    let mut t = world(vec![]);
    t.call(NspFn::LookupServiceBegin, C, None, None, None);
    let mut sink = Checked::new(VecSink::new(), StartupPolicy::PerProcess);
    for s in &t.0 {
        sink.record(s.t, s.event.clone());
    }
    sink.finish(99, true);
    let recorded = sink.into_inner().events;
    let at = recorded
        .iter()
        .position(|s| matches!(s.event, Event::Violation { .. }))
        .expect("a violation line");
    assert!(matches!(
        recorded[at - 1].event,
        Event::NspCall {
            func: NspFn::LookupServiceBegin,
            ..
        }
    ));
    // Re-checking the recorded stream reports it once, at the breaking event.
    let r = check(&recorded, true, StartupPolicy::PerProcess);
    assert_eq!(rules_at(&r), [("L1".to_string(), (at - 1) as u64)]);
}

#[test]
fn passed_through_rules_are_reported_offline() {
    let mut t = with_session();
    let at = t.push(Event::Violation {
        rule: "P5".into(),
        detail: "leak".into(),
    });
    only(&t.check(), "P5", at);
}

#[test]
fn rule_names_parse() {
    assert_eq!(Rule::parse("L10"), Rule::L10);
    assert_eq!(Rule::parse("P4"), Rule::P4);
    // `expect` is a table row now (family Scenario), still passed through, not computed.
    assert_eq!(Rule::parse("expect"), Rule::Expect);
    assert!(!Rule::Expect.computed());
    assert_eq!(Rule::parse("L11"), Rule::Other("L11".into()));
    // L1–L10, P1–P5 and `expect`.
    assert_eq!(rules().len(), 16);
}

#[test]
fn every_table_rule_parses_back_from_its_id() {
    for r in rules() {
        assert_eq!(Rule::parse(r.id), r.rule, "{}", r.id);
        assert_eq!(r.rule.name(), r.id);
        assert_eq!(r.rule.spec().map(|s| s.id), Some(r.id));
        assert!(!r.text.is_empty(), "{}", r.id);
    }
}

#[test]
fn the_listing_has_one_row_per_rule() {
    let mut ids: Vec<&str> = rules().iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), RULES.len(), "an id appears twice");
    let family = |f: Family| rules().iter().filter(|r| r.family == f).count();
    assert_eq!(family(Family::Lifecycle), 10);
    assert_eq!(family(Family::Provider), 5);
    assert_eq!(family(Family::Scenario), 1);
}

#[test]
fn an_unknown_id_is_passed_through_by_name() {
    let rule = Rule::parse("Q7");
    assert_eq!(rule, Rule::Other("Q7".into()));
    assert_eq!(rule.name(), "Q7");
    assert!(rule.spec().is_none() && !rule.computed());
    let mut t = with_session();
    let at = t.push(Event::Violation {
        rule: "Q7".into(),
        detail: "a foreign rule".into(),
    });
    only(&t.check(), "Q7", at);
    assert_eq!(
        Verdict::new(rule, "d".into()).into_event(),
        Event::Violation {
            rule: "Q7".into(),
            detail: "d".into()
        }
    );
}

#[test]
fn the_checker_computes_exactly_the_rules_the_table_says() {
    // A line for a computed rule is recomputed (dropped when the events do not break it); a
    // line for a rule judged by the run is kept.
    for r in rules() {
        let mut t = with_session();
        t.push(Event::Violation {
            rule: r.id.into(),
            detail: "recorded".into(),
        });
        let kept = !t.check().violations.is_empty();
        assert_eq!(kept, !r.computed(), "{}", r.id);
        assert_eq!(r.computed(), r.decided != Decided::ByTheRun, "{}", r.id);
    }
}

#[test]
fn the_rules_decided_at_the_end_are_the_undecidable_ones() {
    let mut t = with_session();
    t.call(NspFn::LookupServiceBegin, C, s(1), None, None);
    let cut = check(&t.0, false, StartupPolicy::PerProcess);
    let expected: Vec<String> = rules()
        .iter()
        .filter(|r| r.decided == Decided::AtEnd)
        .map(|r| format!("{} not decidable: the trace ends early", r.id))
        .collect();
    assert_eq!(cut.undecidable, expected);
    assert_eq!(
        expected,
        ["L3", "L5", "L6", "L7"].map(|r| format!("{r} not decidable: the trace ends early"))
    );
}

#[test]
fn held_state_is_judged_and_worded_as_the_dispatcher_wrote_it() {
    use crate::provider::HeldState;
    assert_eq!(held_state_violation(P, HeldState::default()), None);
    let v = held_state_violation(
        P,
        HeldState {
            sessions: 1,
            lookups: 2,
        },
    )
    .expect("a P5 violation");
    assert_eq!(
        v.into_event(),
        Event::Violation {
            rule: "P5".into(),
            detail: format!(
                "provider {P} still holds 1 session(s) and 2 lookup handle(s) after its last session ended"
            ),
        }
    );
}

#[test]
fn an_expect_step_is_judged_against_the_previous_outcome() {
    use crate::scenario::Expectation;
    use crate::wsa::WsaError;
    let no_more = Expectation::of(Some(WsaError::E_NO_MORE), None);
    let step = ExpectStep {
        pid: C,
        process: "client",
        tid: T,
        step: 3,
        expect: &no_more,
        providers: &[],
    };
    let got = |err, ret| Got {
        err,
        ret,
        version: None,
        required: None,
        results: &[],
    };
    assert_eq!(
        expect_violation(&step, &got(Some(WsaError::E_NO_MORE), -1)),
        None
    );
    let v = expect_violation(&step, &got(None, 0)).expect("a failed expect");
    assert_eq!(v.rule, Rule::Expect);
    assert_eq!(
        v.detail,
        format!(
            "pid 2 (client) thread 1 step 3: expected {}, got success with ret 0",
            WsaError::E_NO_MORE
        )
    );
    let ret_1 = Expectation::of(None, Some(1));
    let with_ret = ExpectStep {
        expect: &ret_1,
        ..step
    };
    assert_eq!(expect_violation(&with_ret, &got(None, 1)), None);
    let v = expect_violation(&with_ret, &got(None, 0)).expect("a wrong ret");
    assert_eq!(
        v.into_event(),
        Event::Violation {
            rule: "expect".into(),
            detail: "pid 2 (client) thread 1 step 3: expected success with ret 1, got success with ret 0"
                .into(),
        }
    );
}

/// Near misses for the remaining rules: each comes close to breaking its rule and must not.
#[test]
fn near_misses_stay_clean() {
    // L2: the right argument. L9: Startup while a WSAStartup is outstanding (with_session).
    let mut t = with_session();
    t.begin(C, s(1), h(1));
    // L6: End before Cleanup. L4: every call before the session's end.
    t.call(NspFn::LookupServiceNextEx, C, s(1), Some(h(1)), Some(a(1)));
    // P3: one completion, delivered.
    t.push(Event::AsyncComplete {
        provider: P,
        async_call: a(1),
        err: 10110,
        outcome: CompletionOutcome::Delivered,
    });
    t.call(NspFn::LookupServiceEnd, C, s(1), Some(h(1)), None);
    t.ret(NspFn::LookupServiceEnd, C, Some(0), 0);
    // P1: SOCKET_ERROR with a documented last error.
    t.call(NspFn::LookupServiceBegin, C, s(1), None, None);
    t.ret(NspFn::LookupServiceBegin, C, Some(-1), 11004);
    // L3: exactly one Cleanup; L10: the last WSACleanup succeeds and later calls fail properly.
    t.call(NspFn::Cleanup, C, s(1), None, None);
    t.ret(NspFn::Cleanup, C, Some(0), 0);
    t.api(C, ApiFn::WSACleanup, 0, 0);
    t.api(C, ApiFn::WSALookupServiceEnd, -1, 10093);
    // L8: a provider re-advertised after an unadvertise may be called again.
    t.push(Event::ProviderUnadvertise {
        pid: HOST,
        provider: P,
        ret: 0,
        err: 0,
    });
    t.push(Event::ProviderAdvertise {
        pid: HOST,
        provider: P,
        ret: 0,
        err: 0,
        absent: vec![],
    });
    t.api(C, ApiFn::WSAStartup, 0, 0);
    t.startup_session(C, s(2));
    t.push(Event::ProcessExit {
        pid: C,
        how: ExitHow::Exit,
    });
    // An exit with a WSAStartup outstanding owes a Rundown, and gets it (L5); no fault (P4).
    t.call(NspFn::ClientSessionRundown, C, s(2), None, None);
    t.ret(NspFn::ClientSessionRundown, C, None, 0);
    clean(&t.check());
}

/// Per-wsastartup: two WSAStartups, a session each, each with an open handle (s2's Begin came
/// after the second WSAStartup).
fn two_busy_sessions() -> Tr {
    let mut t = with_session();
    t.begin(C, s(1), h(1));
    t.api(C, ApiFn::WSAStartup, 0, 0);
    t.startup_session(C, s(2));
    t.begin(C, s(2), h(2));
    t
}

fn check_per_wsastartup(t: &Tr) -> Report {
    check(&t.0, true, StartupPolicy::PerWsaStartup)
}

#[test]
fn s4_6_l5_near_miss_a_busy_excess_session_retires_until_its_last_handle_ends() {
    let mut t = two_busy_sessions();
    // A non-final WSACleanup: every session has open handles, so none ends; s2 retires.
    t.api(C, ApiFn::WSACleanup, 0, 0);
    // s2's lookup goes on; new calls carry s1, the newest session that is not retiring.
    t.call(NspFn::LookupServiceNextEx, C, s(2), Some(h(2)), Some(a(1)));
    t.push(Event::AsyncComplete {
        provider: P,
        async_call: a(1),
        err: 10110,
        outcome: CompletionOutcome::Delivered,
    });
    t.begin(C, s(1), h(3));
    // s2's last handle ends, then s2 gets its Cleanup.
    t.call(NspFn::LookupServiceEnd, C, s(2), Some(h(2)), None);
    t.ret(NspFn::LookupServiceEnd, C, Some(0), 0);
    t.call(NspFn::Cleanup, C, s(2), None, None);
    t.ret(NspFn::Cleanup, C, Some(0), 0);
    for handle in [h(1), h(3)] {
        t.call(NspFn::LookupServiceEnd, C, s(1), Some(handle), None);
        t.ret(NspFn::LookupServiceEnd, C, Some(0), 0);
    }
    t.call(NspFn::Cleanup, C, s(1), None, None);
    t.ret(NspFn::Cleanup, C, Some(0), 0);
    t.api(C, ApiFn::WSACleanup, 0, 0);
    t.push(Event::ProcessExit {
        pid: C,
        how: ExitHow::Exit,
    });
    clean(&check_per_wsastartup(&t));
}

#[test]
fn s4_6_l2_a_new_call_through_a_retiring_session() {
    let mut t = two_busy_sessions();
    t.api(C, ApiFn::WSACleanup, 0, 0);
    let at = t.call(NspFn::LookupServiceBegin, C, s(2), None, None);
    only(&check_per_wsastartup(&t), "L2", at);
}

#[test]
fn s4_6_l5_an_idle_excess_session_left_without_cleanup() {
    let mut t = with_session();
    t.api(C, ApiFn::WSAStartup, 0, 0);
    t.startup_session(C, s(2));
    t.begin(C, s(2), h(1));
    // s1 has no open handle: the non-final WSACleanup owes it its Cleanup (s2 keeps going).
    let at = t.api(C, ApiFn::WSACleanup, 0, 0);
    only(&check_per_wsastartup(&t), "L5", at);
}

/// Per-wsastartup: two WSAStartups, two stub Startups (two null sessions, which no label tells
/// apart), a lookup through the newest, then a plain exit with both still outstanding. The
/// dispatcher runs the sessions down oldest first, closing each one's handles just before its
/// Rundown (S4.7, S4.8): legal, since the handle is the second session's (S4.3).
fn two_null_sessions_and_a_lookup() -> Tr {
    let mut t = world(vec![]);
    t.api(C, ApiFn::WSAStartup, 0, 0);
    for _ in 0..2 {
        t.call(NspFn::Startup, C, None, None, None);
        t.push(Event::NspReturn {
            provider: P,
            func: NspFn::Startup,
            pid: C,
            ret: Some(-1),
            err: 10045,
            session: Some(None),
            lookup: None,
        });
    }
    t.begin(C, None, h(1));
    t.push(Event::ProcessExit {
        pid: C,
        how: ExitHow::Exit,
    });
    t
}

#[test]
fn s4_8_l6_near_miss_equal_session_arguments_end_in_the_order_that_keeps_the_rules() {
    let mut t = two_null_sessions_and_a_lookup();
    // The first Rundown can only be the older session's: the newer still has h1 open.
    t.call(NspFn::ClientSessionRundown, C, None, None, None);
    t.ret(NspFn::ClientSessionRundown, C, None, 0);
    t.call(NspFn::LookupServiceEnd, C, None, Some(h(1)), None);
    t.ret(NspFn::LookupServiceEnd, C, Some(0), 0);
    t.call(NspFn::ClientSessionRundown, C, None, None, None);
    t.ret(NspFn::ClientSessionRundown, C, None, 0);
    clean(&check_per_wsastartup(&t));
}

#[test]
fn s4_8_l6_equal_session_arguments_and_a_handle_left_open_at_the_last_rundown() {
    let mut t = two_null_sessions_and_a_lookup();
    // Both sessions end while h1 is still open: whichever ended second ended with it.
    t.call(NspFn::ClientSessionRundown, C, None, None, None);
    t.ret(NspFn::ClientSessionRundown, C, None, 0);
    let at = t.call(NspFn::ClientSessionRundown, C, None, None, None);
    t.ret(NspFn::ClientSessionRundown, C, None, 0);
    only(&check_per_wsastartup(&t), "L6", at);
}

/// A checker's verdicts on a whole trace, in order (as [`check`] makes them, without sorting).
fn judged_by(checker: &mut Checker, t: &Tr) -> Vec<(String, u64, String)> {
    let mut out: Vec<Violation> = t.0.iter().flat_map(|s| checker.observe(s)).collect();
    out.extend(checker.finish(true));
    out.into_iter()
        .map(|v| (v.rule.name().to_string(), v.seq, v.detail))
        .collect()
}

#[test]
fn a_reset_checker_judges_like_a_new_one() {
    // The first run leaves state behind: a session, an open handle, an async call never
    // completed, a crashed process whose Rundown is owed.
    let mut first = with_session();
    first.begin(C, s(1), h(1));
    first.call(NspFn::LookupServiceNextEx, C, s(1), Some(h(1)), Some(a(1)));
    first.ret(NspFn::LookupServiceNextEx, C, None, 0);
    first.push(Event::ProcessExit {
        pid: C,
        how: ExitHow::Crash,
    });
    // The second is clean on its own; any of that state carried over would break a rule.
    let mut second = with_session();
    second.begin(C, s(1), h(1));
    second.call(NspFn::LookupServiceEnd, C, s(1), Some(h(1)), None);
    second.ret(NspFn::LookupServiceEnd, C, Some(0), 0);
    second.call(NspFn::Cleanup, C, s(1), None, None);
    second.ret(NspFn::Cleanup, C, Some(0), 0);
    second.api(C, ApiFn::WSACleanup, 0, 0);
    let mut used = Checker::new(StartupPolicy::PerProcess);
    assert!(
        !judged_by(&mut used, &first).is_empty(),
        "the first run breaks rules"
    );
    used.reset(StartupPolicy::PerProcess);
    let fresh = judged_by(&mut Checker::new(StartupPolicy::PerProcess), &second);
    assert!(fresh.is_empty(), "{fresh:#?}");
    assert_eq!(judged_by(&mut used, &second), fresh);
    // And the other way round: the same verdicts on the first run after the second.
    used.reset(StartupPolicy::PerProcess);
    assert_eq!(
        judged_by(&mut used, &first),
        judged_by(&mut Checker::new(StartupPolicy::PerProcess), &first)
    );
}

/// An event [`quiet`] lets the sink skip leaves the model as it was and breaks nothing, for
/// every event of every trace the repository records.
#[test]
fn a_quiet_event_changes_nothing() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../traces");
    let mut quiet_seen = 0;
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("the traces directory") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        files += 1;
        let trace = crate::trace::read_trace(&path).expect("a recorded trace");
        let policy = StartupPolicy::from_name(&trace.header.startup_policy)
            .unwrap_or(StartupPolicy::PerProcess);
        let mut m = state::Model::new(policy == StartupPolicy::PerWsaStartup);
        for s in &trace.events {
            if matches!(s.event, Event::Violation { .. }) {
                continue;
            }
            m.seq = s.seq;
            let was_quiet = quiet(&m, &s.event);
            let before = format!("{m:?}");
            let mut out = Vec::new();
            judge(&mut m, &s.event, &mut out);
            if was_quiet {
                quiet_seen += 1;
                assert!(
                    out.is_empty(),
                    "{}: seq {} broke {out:?}",
                    path.display(),
                    s.seq
                );
                assert_eq!(
                    before,
                    format!("{m:?}"),
                    "{}: seq {}",
                    path.display(),
                    s.seq
                );
            }
        }
    }
    assert!(
        files > 0 && quiet_seen > 0,
        "{files} traces, {quiet_seen} quiet events"
    );
}
