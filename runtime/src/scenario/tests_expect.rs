//! Parser tests of the expectations added after version 1 (docs/scenario-format.md,
//! "Expectations"): `err` lists and `"any"`, `version`, `results`, `required`,
//! `buffer = "required"` and `expect_calls`, each misuse with its position.

use super::tests::{MAIL_ID, STEP_LINE, at, err, guid, ok, with_steps};
use super::*;
use crate::provider::NspFn;
use crate::wsa::WsaError;

/// The `expect` step of a one-thread scenario whose steps are `steps`: its last step.
fn last_expect(steps: &str) -> Expectation {
    let s = ok(&with_steps(steps));
    match s.processes[0].steps.last() {
        Some(Step::Expect(x)) => (**x).clone(),
        other => panic!("expected an expect step, got {other:?}"),
    }
}

const BEGIN: &str =
    "{ op = \"startup\" }, { op = \"lookup_begin\", namespace = \"NS_EMAIL\", as = \"q\" },";

#[test]
fn err_takes_a_list_or_any() {
    let x = last_expect(
        "{ op = \"startup\" }, { op = \"expect\", err = [\"WSA_E_CANCELLED\", \"WSA_E_NO_MORE\", 0] },",
    );
    assert_eq!(
        x.err,
        ExpectErr::OneOf(vec![
            Some(WsaError::E_CANCELLED),
            Some(WsaError::E_NO_MORE),
            None
        ])
    );
    let x = last_expect("{ op = \"startup\" }, { op = \"expect\", err = \"any\" },");
    assert_eq!(x.err, ExpectErr::AnyFailure);
    assert!(ExpectErr::AnyFailure.accepts(Some(WsaError::EFAULT)));
    assert!(!ExpectErr::AnyFailure.accepts(None));
}

#[test]
fn version_after_a_startup() {
    let x = last_expect(
        "{ op = \"startup\", version = \"3.7\" }, { op = \"expect\", version = \"2.2\" },",
    );
    assert_eq!(x.version, Some((2, 2)));
    assert_eq!(x.err, ExpectErr::Is(None), "version alone means success");
}

#[test]
fn required_implies_wsaefault() {
    let x = last_expect(
        "{ op = \"startup\" }, { op = \"enum_providers\", buffer = 0 }, { op = \"expect\", required = 312 },",
    );
    assert_eq!(x.required, Some(312));
    assert_eq!(x.err, ExpectErr::Is(Some(WsaError::EFAULT)));
    let x = last_expect(
        "{ op = \"startup\" }, { op = \"lookup\", namespace = 37, buffer = 0 }, { op = \"expect\", err = \"WSAEFAULT\", required = 312 },",
    );
    assert_eq!(x.required, Some(312));
}

#[test]
fn results_by_name_or_id_each_field_optional() {
    let x = last_expect(&format!(
        "{{ op = \"startup\" }}, {{ op = \"lookup\", namespace = 37 }}, {{ op = \"expect\", results = [ \
         {{ name = \"alice@example.com\", addrs = [\"192.0.2.10:25\"], provider = \"p\" }}, \
         {{ provider = \"{MAIL_ID}\" }}, {{}} ] }},"
    ));
    let want = vec![
        ExpectedResult {
            name: Some("alice@example.com".into()),
            addrs: Some(vec!["192.0.2.10:25".parse().expect("addr")]),
            provider: Some(guid(MAIL_ID)),
        },
        ExpectedResult {
            name: None,
            addrs: None,
            provider: Some(guid(MAIL_ID)),
        },
        ExpectedResult {
            name: None,
            addrs: None,
            provider: None,
        },
    ];
    assert_eq!(x.results, Some(want));
    assert_eq!(x.err, ExpectErr::Is(None));
    // lookup_next: one result is success, [] is no result (any failure).
    let x = last_expect(&format!(
        "{BEGIN} {{ op = \"lookup_next\", handle = \"q\" }}, {{ op = \"expect\", results = [] }},"
    ));
    assert_eq!(x.err, ExpectErr::AnyFailure);
    let x = last_expect(&format!(
        "{BEGIN} {{ op = \"lookup_next\", handle = \"q\" }}, {{ op = \"expect\", results = [{{ name = \"a\" }}] }},"
    ));
    assert_eq!(x.err, ExpectErr::Is(None));
}

#[test]
fn buffer_required_after_a_lookup_next_of_the_same_handle() {
    let s = ok(&with_steps(&format!(
        "{BEGIN} {{ op = \"lookup_next\", handle = \"q\", buffer = 0 }}, {{ op = \"lookup_next\", handle = \"q\", buffer = \"required\" }},"
    )));
    assert_eq!(
        s.processes[0].steps[3],
        Step::LookupNext {
            handle: "q".into(),
            flags: None,
            buffer: NextBuffer::Required,
        }
    );
}

#[test]
fn expect_calls_parse() {
    let text = with_calls(&format!(
        "{{ provider = \"p\", fn = \"NSPv2LookupServiceBegin\", count = 0 }}, \
         {{ provider = \"{MAIL_ID}\", fn = \"NSPv2Cleanup\", process = \"c\", min = 1, max = 2 }}, \
         {{ provider = \"p\", fn = \"NSPv2Startup\", min = 1 }}"
    ));
    let s = ok(&text);
    assert_eq!(
        s.expect_calls,
        vec![
            ExpectCalls {
                provider: guid(MAIL_ID),
                func: NspFn::LookupServiceBegin,
                process: None,
                count: CallCount::Exactly(0),
            },
            ExpectCalls {
                provider: guid(MAIL_ID),
                func: NspFn::Cleanup,
                process: Some("c".into()),
                count: CallCount::Between {
                    min: Some(1),
                    max: Some(2),
                },
            },
            ExpectCalls {
                provider: guid(MAIL_ID),
                func: NspFn::Startup,
                process: None,
                count: CallCount::Between {
                    min: Some(1),
                    max: None,
                },
            },
        ]
    );
    assert!(
        CallCount::Between {
            min: Some(1),
            max: Some(2)
        }
        .accepts(2)
    );
    assert!(
        !CallCount::Between {
            min: Some(1),
            max: Some(2)
        }
        .accepts(3)
    );
}

/// The 1-based column of the last `marker` in `line`.
fn column_of(line: &str, marker: &str) -> usize {
    line.rfind(marker).expect("the marker is in the line") + 1
}

/// A scenario with `calls` as its `expect_calls` (line 2).
fn with_calls(calls: &str) -> String {
    format!(
        "name = \"t\"\nexpect_calls = [ {calls} ]\n[[provider]]\nid = \"{MAIL_ID}\"\nname = \"p\"\nnamespace = \"NS_EMAIL\"\nkind = \"email-directory\"\n[[process]]\nname = \"c\"\nsteps = [ {{ op = \"startup\" }} ]\n"
    )
}

#[test]
fn expect_calls_misuse_is_an_error_at_its_position() {
    // (entry, where the error points: the last occurrence of this text, message)
    let cases: &[(&str, &str, &str)] = &[
        (
            "{ provider = \"nope\", fn = \"NSPv2Startup\", count = 1 }",
            "\"nope\"",
            "unknown provider \"nope\"",
        ),
        (
            "{ provider = \"p\", fn = \"Startup\", count = 1 }",
            "\"Startup\"",
            "unknown provider function \"Startup\"",
        ),
        (
            "{ provider = \"p\", fn = \"NSPv2Startup\", count = 1, often = true }",
            "often",
            "unknown key `often` in an entry of `expect_calls`",
        ),
        (
            "{ provider = \"p\", fn = \"NSPv2Startup\", count = 1, min = 0 }",
            "min",
            "an entry of `expect_calls` has both `count` and `min`",
        ),
        (
            "{ provider = \"p\", fn = \"NSPv2Startup\" }",
            "{",
            "an entry of `expect_calls` has none of `count`, `min`, `max`",
        ),
        (
            "{ provider = \"p\", fn = \"NSPv2Startup\", min = 3, max = 2 }",
            "max",
            "`max` = 2 is below `min` = 3",
        ),
        (
            "{ provider = \"p\", fn = \"NSPv2Startup\", count = \"one\" }",
            "\"one\"",
            "`count` is a string",
        ),
        (
            "{ provider = \"p\", fn = \"NSPv2Startup\", process = \"d\", count = 1 }",
            "\"d\"",
            "unknown process \"d\"",
        ),
        (
            "{ fn = \"NSPv2Startup\", count = 1 }",
            "{",
            "an entry of `expect_calls` has no `provider`",
        ),
    ];
    for (calls, marker, message) in cases {
        let column = "expect_calls = [ ".len() + column_of(calls, marker);
        assert_eq!(
            at(&with_calls(calls)),
            (2, column, message.to_string()),
            "{calls}"
        );
    }
    let e = err(&with_calls(
        "{ provider = \"p\", fn = \"Startup\", count = 1 }",
    ));
    assert!(
        e.expected
            .as_deref()
            .is_some_and(|x| x.contains("NSPv2ClientSessionRundown")),
        "{e}"
    );
}

#[test]
fn expect_misuse_is_an_error_at_its_position() {
    // (steps, where the error points: the last occurrence of this text, message)
    let cases: &[(&str, &str, &str)] = &[
        (
            "{ op = \"startup\" }, { op = \"expect\", err = \"ok\" },",
            "\"ok\"",
            "unknown error \"ok\"",
        ),
        (
            "{ op = \"startup\" }, { op = \"expect\", err = [] },",
            "[]",
            "`err` is an empty list",
        ),
        (
            "{ op = \"startup\" }, { op = \"expect\", err = [\"any\"] },",
            "\"any\"",
            "\"any\" in a list of errors",
        ),
        (
            "{ op = \"startup\" }, { op = \"expect\", err = true },",
            "true",
            "`err` is a boolean",
        ),
        (
            "{ op = \"startup\" }, { op = \"expect\", err = 0, often = 1 },",
            "often",
            "op \"expect\" has no key `often`",
        ),
        (
            "{ op = \"startup\" }, { op = \"cleanup\" }, { op = \"expect\", version = \"2.2\" },",
            "version",
            "`version` checks the version a startup negotiated, but the step before this `expect` is `cleanup`",
        ),
        (
            "{ op = \"startup\" }, { op = \"expect\", err = \"WSAVERNOTSUPPORTED\", version = \"2.2\" },",
            "version",
            "`version` is what a successful startup negotiated, but `err` expects WSAVERNOTSUPPORTED (10092)",
        ),
        (
            "{ op = \"startup\" }, { op = \"expect\", version = 2 },",
            "2 }",
            "`version` is an integer",
        ),
        (
            "{ op = \"startup\" }, { op = \"lookup\", namespace = 37 }, { op = \"expect\", err = \"WSA_E_NO_MORE\", required = 312 },",
            "required",
            "`required` is the length a WSAEFAULT writes back, but `err` expects WSA_E_NO_MORE (10110)",
        ),
        (
            "{ op = \"startup\" }, { op = \"expect\", required = 312 },",
            "required",
            "`required` checks the length a WSAEFAULT wrote back, but the step before this `expect` is `startup`",
        ),
        (
            "{ op = \"startup\" }, { op = \"lookup\", namespace = 37 }, { op = \"expect\", required = -1 },",
            "-1",
            "`required` = -1 is out of range",
        ),
        (
            "{ op = \"startup\" }, { op = \"expect\", results = [] },",
            "results",
            "`results` checks the results of a lookup, but the step before this `expect` is `startup`",
        ),
        (
            "{ op = \"startup\" }, { op = \"lookup\", namespace = 37 }, { op = \"expect\", results = [ { provider = \"q\" } ] },",
            "\"q\"",
            "unknown provider \"q\"",
        ),
        (
            "{ op = \"startup\" }, { op = \"lookup\", namespace = 37 }, { op = \"expect\", results = [ { provider = \"99999999-0000-0000-0000-000000000000\" } ] },",
            "\"99999999",
            "unknown provider \"99999999-0000-0000-0000-000000000000\"",
        ),
        (
            "{ op = \"startup\" }, { op = \"lookup\", namespace = 37 }, { op = \"expect\", results = [ { nom = \"a\" } ] },",
            "nom",
            "unknown key `nom` in a result of `results`",
        ),
        (
            "{ op = \"startup\" }, { op = \"lookup\", namespace = 37 }, { op = \"expect\", results = [ { addrs = [\"x\"] } ] },",
            "\"x\"",
            "bad address \"x\"",
        ),
        (
            "{ op = \"startup\" }, { op = \"lookup\", namespace = 37 }, { op = \"expect\", results = \"a\" },",
            "\"a\"",
            "`results` is a string",
        ),
        (
            "{ op = \"startup\" }, { op = \"expect\", ret = 0 },",
            "{ op = \"expect\"",
            "op \"expect\" has no `err`",
        ),
    ];
    for (steps, marker, message) in cases {
        assert_eq!(
            at(&with_steps(steps)),
            (STEP_LINE, column_of(steps, marker), message.to_string()),
            "{steps}"
        );
    }
}

#[test]
fn lookup_next_results_and_buffer_misuse() {
    let next = format!("{BEGIN} {{ op = \"lookup_next\", handle = \"q\" }},");
    let cases: Vec<(String, &str, &str)> = vec![
        (
            format!("{next} {{ op = \"expect\", results = [ {{}}, {{}} ] }},"),
            "{}",
            "`results` lists 2 results, but a lookup_next returns at most one",
        ),
        (
            format!("{next} {{ op = \"expect\", results = [], err = 0 }},"),
            "results",
            "`results` of a lookup_next says it returns no result (it fails), but `err` expects success",
        ),
        (
            format!("{next} {{ op = \"expect\", results = [ {{}} ], err = \"any\" }},"),
            "results",
            "`results` of a lookup_next lists a result (it succeeds), but `err` expects any failure",
        ),
        (
            format!("{BEGIN} {{ op = \"lookup_next\", handle = \"q\", buffer = \"required\" }},"),
            "\"required\"",
            "`buffer = \"required\"` on handle \"q\", but no earlier lookup_next of process \"c\" uses that handle (no WSAEFAULT can have written a length back)",
        ),
        (
            format!("{BEGIN} {{ op = \"lookup_next\", handle = \"q\", buffer = \"all\" }},"),
            "\"all\"",
            "`buffer` is a string",
        ),
    ];
    for (steps, marker, message) in &cases {
        assert_eq!(
            at(&with_steps(steps)),
            (STEP_LINE, column_of(steps, marker), message.to_string()),
            "{steps}"
        );
    }
}

#[test]
fn new_forms_survive_the_json_round_trip_and_old_ones_are_unchanged() {
    let text = format!(
        "name = \"t\"\nexpect_calls = [ {{ provider = \"p\", fn = \"NSPv2Cleanup\", process = \"c\", count = 2 }}, {{ provider = \"p\", fn = \"NSPv2Startup\", max = 9 }} ]\n{}",
        with_steps(&format!(
            "{BEGIN} {{ op = \"expect\", err = [\"WSA_E_CANCELLED\", 0] }}, \
             {{ op = \"lookup_next\", handle = \"q\", buffer = 0 }}, {{ op = \"expect\", required = 312 }}, \
             {{ op = \"lookup_next\", handle = \"q\", buffer = \"required\" }}, \
             {{ op = \"expect\", results = [ {{ name = \"a\", addrs = [\"192.0.2.1:25\"], provider = \"p\" }} ] }}, \
             {{ op = \"lookup\", namespace = 37 }}, {{ op = \"expect\", err = \"any\" }}, \
             {{ op = \"startup\" }}, {{ op = \"expect\", version = \"2.2\" }},"
        ))
        .replacen("name = \"t\"\n", "", 1)
    );
    let s = ok(&text);
    super::tests::assert_header_text_is_the_json_form(&s);
    let j = s.to_json();
    let back = Scenario::from_json(&j).expect("reads back");
    assert_eq!(back, s);
    let steps = &j["process"][0]["steps"];
    assert_eq!(
        steps[2],
        serde_json::json!({ "op": "expect", "err": ["WSA_E_CANCELLED", "NO_ERROR"] })
    );
    assert_eq!(
        steps[4],
        serde_json::json!({ "op": "expect", "err": "WSAEFAULT", "required": 312 })
    );
    assert_eq!(
        steps[5],
        serde_json::json!({ "op": "lookup_next", "handle": "q", "buffer": "required" })
    );
    assert_eq!(
        steps[6],
        serde_json::json!({ "op": "expect", "err": "NO_ERROR", "results": [
            { "name": "a", "addrs": ["192.0.2.1:25"], "provider": MAIL_ID } ] })
    );
    assert_eq!(
        steps[8],
        serde_json::json!({ "op": "expect", "err": "any" })
    );
    assert_eq!(
        steps[10],
        serde_json::json!({ "op": "expect", "err": "NO_ERROR", "version": "2.2" })
    );
    assert_eq!(
        j["expect_calls"],
        serde_json::json!([
            { "provider": MAIL_ID, "fn": "NSPv2Cleanup", "process": "c", "count": 2 },
            { "provider": MAIL_ID, "fn": "NSPv2Startup", "max": 9 },
        ])
    );
    // A scenario without the new forms has no `expect_calls` key at all.
    let plain = ok(&with_steps("{ op = \"startup\" },")).to_json();
    assert!(plain.get("expect_calls").is_none());
}

#[test]
fn limits_of_the_new_lists() {
    let many: Vec<String> = (0..=limits::MAX_EXPECT_ERRORS)
        .map(|_| "\"WSAEFAULT\"".to_string())
        .collect();
    let e = err(&with_steps(&format!(
        "{{ op = \"startup\" }}, {{ op = \"expect\", err = [{}] }},",
        many.join(", ")
    )));
    assert!(e.message.contains("MAX_EXPECT_ERRORS = 32"), "{e}");
    let many: Vec<&str> = (0..=limits::MAX_EXPECT_CALLS)
        .map(|_| "{ provider = \"p\", fn = \"NSPv2Startup\", count = 1 }")
        .collect();
    let e = err(&with_calls(&many.join(", ")));
    assert!(e.message.contains("MAX_EXPECT_CALLS = 256"), "{e}");
    let many: Vec<&str> = (0..=limits::MAX_EXPECT_RESULTS).map(|_| "{}").collect();
    let e = err(&with_steps(&format!(
        "{{ op = \"startup\" }}, {{ op = \"lookup\", namespace = 37 }}, {{ op = \"expect\", results = [{}] }},",
        many.join(", ")
    )));
    assert!(e.message.contains("MAX_EXPECT_RESULTS = 1024"), "{e}");
}
