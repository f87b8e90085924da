use super::limits::{
    MAX_ADDRS, MAX_BUFFER_BYTES, MAX_FILE_BYTES, MAX_NAME_CHARS, MAX_NAPI_DOMAINS, MAX_PROCESSES,
    MAX_PROVIDERS, MAX_SLEEP_US, MAX_STEPS_PER_THREAD, MAX_THREADS_PER_PROCESS,
};
use super::*;
use crate::provider::NspV2Provider;
use crate::registry::{OptionDoc, ProviderKind, Registry};
use crate::wsa::{Guid, LupFlags, Namespace, SetServiceOp, WsaError};
use serde_json::{Value, json};

const EXAMPLE: &str = include_str!("../../tests/scenarios/example.toml");
pub(super) const MAIL_ID: &str = "6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60";
const OTHER_ID: &str = "11111111-2222-3333-4444-555555555555";

/// Accepts any options, or rejects those with a `bad` key.
struct FakeKind {
    name: &'static str,
    strict: bool,
}

impl ProviderKind for FakeKind {
    fn name(&self) -> &'static str {
        self.name
    }
    fn summary(&self) -> &'static str {
        "a kind for scenario tests"
    }
    fn options(&self) -> &'static [OptionDoc] {
        &[]
    }
    fn validate(&self, options: &Value) -> Result<(), String> {
        if self.strict && options.get("bad").is_some() {
            return Err("option `bad` is not an option of this kind".into());
        }
        Ok(())
    }
    fn build(&self, _options: &Value) -> Result<Box<dyn NspV2Provider>, String> {
        Err("scenario tests build no provider".into())
    }
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Box::new(FakeKind {
        name: "email-directory",
        strict: false,
    }));
    r.register(Box::new(FakeKind {
        name: "strict",
        strict: true,
    }));
    r
}

pub(super) fn ok(text: &str) -> Scenario {
    match parse("t.toml", text, &registry()) {
        Ok(s) => s,
        Err(e) => panic!("expected a valid scenario, got {e}"),
    }
}

pub(super) fn err(text: &str) -> ScenarioError {
    match parse("t.toml", text, &registry()) {
        Ok(s) => panic!("expected an error, got {s:?}"),
        Err(e) => e,
    }
}

/// The error's line, column and message (without the expectation).
pub(super) fn at(text: &str) -> (usize, usize, String) {
    let e = err(text);
    (e.line, e.column, e.message)
}

pub(super) fn guid(s: &str) -> Guid {
    s.parse().expect("test GUID")
}

/// A scenario with one provider "p" (NS_EMAIL) and one process running `steps`.
pub(super) fn with_steps(steps: &str) -> String {
    format!(
        "name = \"t\"\n[[provider]]\nid = \"{MAIL_ID}\"\nname = \"p\"\nnamespace = \"NS_EMAIL\"\nkind = \"email-directory\"\n[[process]]\nname = \"c\"\nsteps = [\n{steps}\n]\n"
    )
}
/// Line of the first step in [`with_steps`].
pub(super) const STEP_LINE: usize = 10;

// ----- the example of docs/scenario-format.md -----

#[test]
fn the_format_example_parses_to_the_expected_model() {
    let s = ok(EXAMPLE);
    let id = guid(MAIL_ID);
    assert_eq!(s.name, "crash-during-lookup");
    assert_eq!(s.seed, Some(7));
    assert_eq!(s.profile, Profile::Win7);
    assert_eq!(s.startup_policy, StartupPolicy::PerProcess);
    assert_eq!(
        s.providers,
        vec![ProviderSpec {
            id,
            name: "mail-primary".into(),
            namespace: Namespace::EMAIL,
            kind: "email-directory".into(),
            host: "mailhost".into(),
            installed: true,
            enabled: true,
            napi: Some(Authority::Primary.napi()),
            options: json!({
                "entries": [ { "name": "alice@example.com", "addrs": ["192.0.2.10:25"] } ],
                "completion": "deferred",
            }),
            version: 1,
            base_dir: None,
        }]
    );
    assert_eq!(
        s.hosts,
        vec![HostSpec {
            name: "mailhost".into(),
            steps: vec![
                Step::Startup { version: (2, 2) },
                Step::Advertise { provider: id },
                Step::Sleep { us: 500 },
                Step::Unadvertise { provider: id },
                Step::Exit,
            ],
        }]
    );
    assert_eq!(
        s.processes,
        vec![ProcessSpec {
            name: "client-a".into(),
            steps: vec![
                Step::Startup { version: (2, 2) },
                Step::Lookup {
                    target: Target::Namespace(Namespace::EMAIL),
                    name: Some("alice@example.com".into()),
                    flags: LupFlags::RETURN_NAME | LupFlags::RETURN_ADDR,
                    next: NextCount::All,
                    buffer: 4096,
                },
                Step::Cleanup,
                Step::Exit,
            ],
            threads: vec![ThreadSpec {
                steps: vec![Step::Sleep { us: 20 }, Step::Crash],
            }],
        }]
    );
    assert!(s.implicit_hosts().is_empty());
    assert_eq!(s.providers_of_host("mailhost").count(), 1);
}

#[test]
fn defaults_are_filled_in() {
    let s = ok(&format!(
        "name = \"d\"\n[[provider]]\nid = \"{MAIL_ID}\"\nname = \"p\"\nnamespace = 37\nkind = \"email-directory\"\n\
         [[process]]\nname = \"c\"\nsteps = [ {{ op = \"startup\" }}, {{ op = \"lookup\", provider = \"p\" }},\n\
         {{ op = \"lookup_begin\", namespace = \"NS_ALL\", as = \"q\" }}, {{ op = \"lookup_next\", handle = \"q\" }},\n\
         {{ op = \"set_service\", action = \"register\", namespace = \"NS_EMAIL\" }}, {{ op = \"enum_providers\" }} ]\n"
    ));
    assert_eq!(s.seed, None);
    assert_eq!(s.profile, Profile::Win7);
    assert_eq!(s.startup_policy, StartupPolicy::PerProcess);
    let p = &s.providers[0];
    assert_eq!(p.namespace, Namespace::EMAIL);
    assert_eq!(p.host, "p-host");
    assert!(p.installed && p.enabled);
    assert_eq!(p.napi, None);
    assert_eq!(p.options, json!({}));
    assert_eq!(p.version, 1);
    assert_eq!(s.implicit_hosts(), vec!["p-host"]);
    assert!(s.hosts.is_empty());
    let steps = &s.processes[0].steps;
    assert_eq!(steps[0], Step::Startup { version: (2, 2) });
    assert_eq!(
        steps[1],
        Step::Lookup {
            target: Target::Provider(guid(MAIL_ID)),
            name: None,
            flags: LupFlags::EMPTY,
            next: NextCount::All,
            buffer: 4096,
        }
    );
    assert_eq!(
        steps[2],
        Step::LookupBegin {
            target: Target::Namespace(Namespace::ALL),
            name: None,
            flags: LupFlags::EMPTY,
            as_name: "q".into(),
        }
    );
    assert_eq!(
        steps[3],
        Step::LookupNext {
            handle: "q".into(),
            flags: None,
            buffer: NextBuffer::Bytes(4096),
        }
    );
    assert_eq!(
        steps[4],
        Step::SetService {
            action: SetServiceOp::Register,
            target: Target::Namespace(Namespace::EMAIL),
            name: None,
            addrs: vec![],
            multiple: false,
        }
    );
    assert_eq!(steps[5], Step::EnumProviders { buffer: 4096 });
    assert!(s.processes[0].threads.is_empty());
}

/// Every op, with every field set to something other than its default.
fn every_op() -> String {
    format!(
        r#"name = "every-op"
seed = "18446744073709551615"
profile = "vista"
startup_policy = "per-wsastartup"

[[provider]]
id = "{MAIL_ID}"
name = "mail"
namespace = "NS_EMAIL"
kind = "email-directory"
host = "client"
installed = false
enabled = false
authority = "wildcard"
version = 3
[provider.options]
nested = {{ list = [1, 2.5, true, "x", 1979-05-27], empty = {{}} }}

[[provider]]
id = "{OTHER_ID}"
name = "odd"
namespace = 99
kind = "strict"

[[host]]
name = "lonely"

[[process]]
name = "client"
steps = [
  {{ op = "startup", version = "1.1" }},
  {{ op = "expect", err = "WSAVERNOTSUPPORTED", ret = -1 }},
  {{ op = "startup", version = 2.0 }},
  {{ op = "expect", err = 0 }},
  {{ op = "lookup", provider = "{OTHER_ID}", name = "", flags = ["LUP_DEEP", 524288, "0x2000"], next = 3, buffer = 0 }},
  {{ op = "expect", err = "WSA_E_NO_MORE" }},
  {{ op = "lookup", provider = "99999999-0000-0000-0000-000000000000", next = 0 }},
  {{ op = "lookup_begin", namespace = 12345, name = "bob", flags = "LUP_RETURN_ALL", as = "q" }},
  {{ op = "lookup_next", handle = "q", flags = [], buffer = 1048576 }},
  {{ op = "set_service", action = "delete", provider = "mail", name = "svc", addrs = ["192.0.2.1:25", "[2001:db8::1]:53"], multiple = true }},
  {{ op = "expect", err = 12345 }},
  {{ op = "enum_providers", buffer = 10 }},
  {{ op = "advertise", provider = "mail" }},
  {{ op = "unadvertise", provider = "{MAIL_ID}" }},
  {{ op = "install", provider = "odd" }},
  {{ op = "uninstall", provider = "odd" }},
  {{ op = "enable", provider = "odd" }},
  {{ op = "disable", provider = "odd" }},
  {{ op = "sleep", us = 3600000000 }},
  {{ op = "cleanup" }},
  {{ op = "expect", err = "NO_ERROR", ret = 0 }},
]
[[process.thread]]
steps = [ {{ op = "lookup_next", handle = "q" }}, {{ op = "expect", err = "0" }}, {{ op = "exit" }} ]
[[process.thread]]
steps = [ {{ op = "lookup_end", handle = "q" }}, {{ op = "crash" }} ]
[[process.thread]]
"#
    )
}

#[test]
fn every_op_parses() {
    let s = ok(&every_op());
    assert_eq!(s.seed, Some(u64::MAX));
    assert_eq!(s.profile, Profile::Vista);
    assert_eq!(s.startup_policy, StartupPolicy::PerWsaStartup);
    let mail = guid(MAIL_ID);
    let odd = guid(OTHER_ID);
    assert_eq!(s.providers[0].napi, Some(Authority::Wildcard.napi()));
    assert_eq!(s.providers[0].version, 3);
    assert!(!s.providers[0].installed && !s.providers[0].enabled);
    assert_eq!(
        s.providers[0].options,
        json!({ "nested": { "list": [1, 2.5, true, "x", "1979-05-27"], "empty": {} } })
    );
    assert_eq!(s.providers[1].namespace, Namespace(99));
    assert_eq!(s.providers[1].host, "odd-host");
    // "client" is a process, so only "odd-host" is implicit.
    assert_eq!(s.implicit_hosts(), vec!["odd-host"]);
    assert_eq!(s.hosts[0].steps, vec![]);
    let p = &s.processes[0];
    let expected = vec![
        Step::Startup { version: (1, 1) },
        Step::Expect(Expectation::of(Some(WsaError::VERNOTSUPPORTED), Some(-1)).into()),
        Step::Startup { version: (2, 0) },
        Step::Expect(Expectation::of(None, None).into()),
        Step::Lookup {
            target: Target::Provider(odd),
            name: Some(String::new()),
            flags: LupFlags::DEEP | LupFlags(0x80000) | LupFlags::FLUSHPREVIOUS,
            next: NextCount::Count(3),
            buffer: 0,
        },
        Step::Expect(Expectation::of(Some(WsaError::E_NO_MORE), None).into()),
        Step::Lookup {
            target: Target::Provider(guid("99999999-0000-0000-0000-000000000000")),
            name: None,
            flags: LupFlags::EMPTY,
            next: NextCount::Count(0),
            buffer: 4096,
        },
        Step::LookupBegin {
            target: Target::Namespace(Namespace(12345)),
            name: Some("bob".into()),
            flags: LupFlags::RETURN_ALL,
            as_name: "q".into(),
        },
        Step::LookupNext {
            handle: "q".into(),
            flags: Some(LupFlags::EMPTY),
            buffer: NextBuffer::Bytes(MAX_BUFFER_BYTES),
        },
        Step::SetService {
            action: SetServiceOp::Delete,
            target: Target::Provider(mail),
            name: Some("svc".into()),
            addrs: vec![
                "192.0.2.1:25".parse().expect("v4"),
                "[2001:db8::1]:53".parse().expect("v6"),
            ],
            multiple: true,
        },
        Step::Expect(Expectation::of(WsaError::from_code(12345), None).into()),
        Step::EnumProviders { buffer: 10 },
        Step::Advertise { provider: mail },
        Step::Unadvertise { provider: mail },
        Step::Install { provider: odd },
        Step::Uninstall { provider: odd },
        Step::Enable { provider: odd },
        Step::Disable { provider: odd },
        Step::Sleep { us: MAX_SLEEP_US },
        Step::Cleanup,
        Step::Expect(Expectation::of(None, Some(0)).into()),
    ];
    assert_eq!(p.steps, expected);
    let ops: Vec<&str> = p.steps.iter().map(Step::op).collect();
    for op in Step::OPS {
        let in_threads = p
            .threads
            .iter()
            .flat_map(|t| &t.steps)
            .any(|s| s.op() == op);
        assert!(ops.contains(&op) || in_threads, "{op} is exercised");
    }
    assert_eq!(p.threads.len(), 3);
    assert_eq!(p.threads[2].steps, vec![]);
}

// ----- JSON -----

#[test]
fn json_round_trip_gives_an_equal_scenario() {
    for text in [EXAMPLE.to_string(), every_op()] {
        let s = ok(&text);
        let j = s.to_json();
        assert_eq!(Scenario::from_json(&j), Ok(s.clone()));
        assert_eq!(Scenario::from_json_with(&j, &registry()), Ok(s.clone()));
        // Through serde and text, as a trace header carries it.
        let line = serde_json::to_string(&s).expect("serializes");
        let back: Scenario = serde_json::from_str(&line).expect("deserializes");
        assert_eq!(back, s);
        // Writing again gives the same bytes.
        assert_eq!(serde_json::to_string(&back).ok(), Some(line.clone()));
        assert_header_text_is_the_json_form(&s);
    }
}

/// A trace header serializes the model straight into its line: that text must be the JSON
/// form's own (keys sorted as serde_json's map sorts them), or headers would not read back
/// byte for byte.
pub(super) fn assert_header_text_is_the_json_form(s: &Scenario) {
    let direct = serde_json::to_string(s).expect("serializes");
    let through_value = serde_json::to_string(&s.to_json()).expect("serializes");
    assert_eq!(direct, through_value);
}

#[test]
fn json_form_uses_the_file_keys_and_windows_names() {
    let j = ok(EXAMPLE).to_json();
    assert_eq!(j["name"], "crash-during-lookup");
    assert_eq!(j["seed"], 7);
    assert_eq!(j["profile"], "win7");
    assert_eq!(j["startup_policy"], "per-process");
    assert_eq!(j["provider"][0]["namespace"], "NS_EMAIL");
    assert_eq!(j["provider"][0]["authority"], "primary");
    assert_eq!(j["provider"][0]["version"], 1);
    assert_eq!(
        j["host"][0]["steps"][1],
        json!({ "op": "advertise", "provider": MAIL_ID })
    );
    assert_eq!(
        j["process"][0]["steps"][1],
        json!({
            "op": "lookup", "namespace": "NS_EMAIL", "name": "alice@example.com",
            "flags": ["LUP_RETURN_NAME", "LUP_RETURN_ADDR"], "next": "all", "buffer": 4096
        })
    );
    assert_eq!(
        j["process"][0]["steps"][0],
        json!({ "op": "startup", "version": "2.2" })
    );
    assert_eq!(
        j["process"][0]["thread"][0]["steps"][1],
        json!({ "op": "crash" })
    );

    let j = ok(&every_op()).to_json();
    let steps = &j["process"][0]["steps"];
    assert_eq!(
        steps[1],
        json!({ "op": "expect", "err": "WSAVERNOTSUPPORTED", "ret": -1 })
    );
    assert_eq!(steps[3], json!({ "op": "expect", "err": "NO_ERROR" }));
    assert_eq!(
        steps[4]["flags"],
        json!(["LUP_DEEP", "LUP_FLUSHPREVIOUS", 524288])
    );
    assert_eq!(steps[4]["name"], "");
    assert_eq!(steps[7]["namespace"], 12345);
    assert_eq!(steps[10], json!({ "op": "expect", "err": 12345 }));
    assert_eq!(j["seed"], json!(u64::MAX));
    assert_eq!(j["provider"][1]["namespace"], 99);
}

#[test]
fn json_errors_name_the_path() {
    let mut j = ok(EXAMPLE).to_json();
    j["process"][0]["steps"][1]["namespace"] = json!("NS_MAIL");
    let e = Scenario::from_json(&j).expect_err("bad namespace");
    assert_eq!(e.file, JSON_FILE);
    assert_eq!((e.line, e.column), (1, 1));
    assert_eq!(
        e.message,
        "at process[0].steps[1].namespace: unknown namespace \"NS_MAIL\""
    );
    assert_eq!(e.source_line, None);

    let mut j = ok(EXAMPLE).to_json();
    j["provider"][0]["kind"] = json!("nope");
    // Without a registry kinds are not checked; with one they are.
    assert!(Scenario::from_json(&j).is_ok());
    let e = Scenario::from_json_with(&j, &registry()).expect_err("unknown kind");
    assert_eq!(
        e.message,
        "at provider[0].kind: unknown provider kind \"nope\""
    );

    // Nulls are absent keys (outside options).
    let mut j = ok(EXAMPLE).to_json();
    j["seed"] = Value::Null;
    assert_eq!(Scenario::from_json(&j).map(|s| s.seed), Ok(None));

    assert!(serde_json::from_str::<Scenario>("{\"name\": 3}").is_err());
    let mut deep = json!(1);
    for _ in 0..200 {
        deep = json!([deep]);
    }
    let mut j = ok(EXAMPLE).to_json();
    j["provider"][0]["options"]["deep"] = deep;
    let e = Scenario::from_json(&j).expect_err("too deep");
    assert!(e.message.contains("MAX_DEPTH"), "{e}");
}

// ----- errors, with their exact positions -----

#[test]
fn error_display_and_source_line() {
    let e = err("name = \"x\"\nprofil = \"win7\"\n");
    assert_eq!(
        e.to_string(),
        "t.toml:2:1: unknown key `profil` at the top level; expected one of `name`, `seed`, \
         `profile`, `startup_policy`, `provider`, `host`, `process`, `expect_calls`"
    );
    assert_eq!(e.source_line.as_deref(), Some("profil = \"win7\""));
}

#[test]
fn toml_syntax_errors_have_positions() {
    let (line, column, message) = at("name = \"x\"\nseed = \n");
    assert_eq!((line, column), (2, 8));
    assert!(!message.is_empty());
    assert_eq!(at("name = \"x\"\nname = \"y\"\n").0, 2);
}

#[test]
fn top_level_errors() {
    assert_eq!(
        at("seed = 1\n"),
        (1, 1, "the scenario has no `name`".into())
    );
    assert_eq!(at("name = \"\"\n"), (1, 8, "`name` is empty".into()));
    assert_eq!(at("name = 5\n"), (1, 8, "`name` is an integer".into()));
    assert_eq!(
        at("name = \"x\"\nprofile = \"xp\"\n"),
        (2, 11, "unknown profile \"xp\"".into())
    );
    let e = err("name = \"x\"\nstartup_policy = \"never\"\n");
    assert_eq!((e.line, e.column), (2, 18));
    assert_eq!(
        e.expected.as_deref(),
        Some("one of per-process, per-wsastartup")
    );
    assert_eq!(
        at("name = \"x\"\nseed = -1\n"),
        (2, 8, "`seed` is out of range".into())
    );
    assert_eq!(
        at("name = \"x\"\n[provider]\nid = 1\n"),
        (2, 1, "`provider` is a table".into())
    );
}

fn provider_text(fields: &str) -> String {
    // Line 1: name; line 2: [[provider]]; fields start on line 3.
    format!("name = \"t\"\n[[provider]]\n{fields}\n")
}

const P_OK: &str = "id = \"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60\"\nname = \"p\"\nnamespace = \"NS_EMAIL\"\nkind = \"email-directory\"";

#[test]
fn provider_errors() {
    // Unknown namespace, with the list of names.
    let e = err(&provider_text(
        "id = \"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60\"\nname = \"p\"\nnamespace = \"NS_MAIL\"\nkind = \"email-directory\"",
    ));
    assert_eq!((e.line, e.column), (5, 13));
    assert_eq!(
        e.to_string(),
        "t.toml:5:13: unknown namespace \"NS_MAIL\"; expected one of NS_ALL, NS_DNS, NS_NLA, \
         NS_BTH, NS_EMAIL, NS_PNRPNAME, NS_PNRPCLOUD, or a number"
    );
    assert_eq!(e.source_line.as_deref(), Some("namespace = \"NS_MAIL\""));

    // Bad GUID.
    let e = err(&provider_text(
        "id = \"6f0e2a57\"\nname = \"p\"\nnamespace = 37\nkind = \"k\"",
    ));
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (3, 6, "bad GUID \"6f0e2a57\"")
    );
    assert_eq!(
        e.expected.as_deref(),
        Some("a GUID like 6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60")
    );

    // Unknown key in [[provider]].
    let e = err(&provider_text(&format!("{P_OK}\nhots = \"h\"")));
    assert_eq!((e.line, e.column), (7, 1));
    assert_eq!(e.message, "unknown key `hots` in [[provider]]");
    assert!(e.expected.as_deref().is_some_and(|x| x.contains("`host`")));

    // Unknown kind, with the registered kinds.
    let e = err(&provider_text(
        "id = \"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60\"\nname = \"p\"\nnamespace = 37\nkind = \"emial-directory\"",
    ));
    assert_eq!(
        e.to_string(),
        "t.toml:6:8: unknown provider kind \"emial-directory\"; expected one of email-directory, strict"
    );

    // Options the kind rejects: at the options table.
    let e = err(&provider_text(
        "id = \"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60\"\nname = \"p\"\nnamespace = 37\nkind = \"strict\"\n[provider.options]\nbad = 1",
    ));
    assert_eq!((e.line, e.column), (7, 1));
    assert_eq!(
        e.message,
        "bad options for provider kind \"strict\": option `bad` is not an option of this kind"
    );

    // Missing key: at the [[provider]] header.
    let e = err(&provider_text(
        "id = \"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60\"\nname = \"p\"\nkind = \"strict\"",
    ));
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (2, 1, "[[provider]] has no `namespace`")
    );

    // Unknown authority, wrong types.
    assert_eq!(
        at(&provider_text(&format!("{P_OK}\nauthority = \"boss\""))),
        (7, 13, "unknown authority \"boss\"".into())
    );
    assert_eq!(
        at(&provider_text(&format!("{P_OK}\ninstalled = \"yes\""))),
        (7, 13, "`installed` is a string".into())
    );
    assert_eq!(
        at(&provider_text(&format!("{P_OK}\noptions = 3"))),
        (7, 11, "`options` is an integer".into())
    );
    assert_eq!(
        at(&provider_text(&format!("{P_OK}\nversion = -1"))),
        (7, 11, "`version` = -1 is out of range".into())
    );
}

#[test]
fn napi_table_parses_to_per_domain_levels() {
    let s = ok(&provider_text(&format!(
        "{P_OK}\nnapi = {{ wildcard = true, domains = [ {{ domain = \"contoso.com\", level = \"primary\" }}, {{ domain = \"x.org\", level = \"secondary\" }}, {{ domain = \"y.org\", level = \"none\" }} ] }}"
    )));
    assert_header_text_is_the_json_form(&s);
    let napi = s.providers[0].napi.clone().expect("napi");
    assert!(napi.is_wildcard());
    assert_eq!(napi.level_for("CONTOSO.com"), Some(Level::Primary));
    assert_eq!(napi.level_for("x.org"), Some(Level::Secondary));
    assert_eq!(napi.level_for("y.org"), Some(Level::None));
    assert_eq!(napi.level_for("z.org"), None);
    // Written as a `napi` table, read back equal.
    let j = s.to_json();
    assert_eq!(
        j["provider"][0]["napi"],
        json!({ "wildcard": true, "domains": [
            { "domain": "contoso.com", "level": "primary" },
            { "domain": "x.org", "level": "secondary" },
            { "domain": "y.org", "level": "none" },
        ] })
    );
    assert!(j["provider"][0].get("authority").is_none());
    assert_eq!(Scenario::from_json(&j), Ok(s));
    // Defaults: no wildcard, no domains.
    let s = ok(&provider_text(&format!("{P_OK}\nnapi = {{}}")));
    let napi = s.providers[0].napi.clone().expect("napi");
    assert!(!napi.is_wildcard());
    assert_eq!(napi.domains(), Some(&[][..]));
    assert_eq!(Scenario::from_json(&s.to_json()), Ok(s));
    // The shorthand's JSON is unchanged: `authority`, no `napi` key.
    for a in Authority::ALL {
        let s = ok(&provider_text(&format!("{P_OK}\nauthority = \"{a}\"")));
        assert_eq!(s.providers[0].napi, Some(a.napi()));
        let j = s.to_json();
        assert_eq!(j["provider"][0]["authority"], a.name());
        assert!(j["provider"][0].get("napi").is_none());
        assert_eq!(Scenario::from_json(&j), Ok(s));
    }
    // A `napi` table equal to a shorthand is written as the shorthand (same data).
    let s = ok(&provider_text(&format!(
        "{P_OK}\nnapi = {{ wildcard = true }}"
    )));
    assert_eq!(s.to_json()["provider"][0]["authority"], "wildcard");
}

#[test]
fn napi_errors_are_positioned() {
    let napi = |body: &str| provider_text(&format!("{P_OK}\nnapi = {body}"));
    // Line 7 holds `napi = …`; values start at column 8.
    assert_eq!(
        at(&provider_text(&format!(
            "{P_OK}\nauthority = \"primary\"\nnapi = {{ wildcard = true }}"
        ))),
        (8, 1, "[[provider]] has both `authority` and `napi`".into())
    );
    assert_eq!(
        at(&napi("{ wildcard = true, domain = [] }")),
        (7, 27, "unknown key `domain` in `napi`".into())
    );
    assert_eq!(
        at(&napi(
            "{ domains = [ { domain = \"a.org\", level = \"boss\" } ] }"
        )),
        (7, 50, "unknown level \"boss\"".into())
    );
    let e = err(&napi(
        "{ domains = [ { domain = \"a.org\", level = \"boss\" } ] }",
    ));
    assert_eq!(
        e.expected.as_deref(),
        Some("one of \"primary\", \"secondary\", \"none\"")
    );
    assert_eq!(
        at(&napi(
            "{ domains = [ { domain = \"a.org\", level = \"primary\", weight = 1 } ] }"
        )),
        (7, 61, "unknown key `weight` in a `napi` domain".into())
    );
    assert_eq!(
        at(&napi(
            "{ domains = [ { domain = \"\", level = \"primary\" } ] }"
        )),
        (7, 33, "`domain` is empty".into())
    );
    assert_eq!(
        at(&napi(
            "{ domains = [ { domain = \"a@b.org\", level = \"primary\" } ] }"
        )),
        (7, 33, "bad domain \"a@b.org\"".into())
    );
    assert_eq!(
        at(&napi(
            "{ domains = [ { domain = \"a.org\", level = \"primary\" }, { domain = \"A.ORG\", level = \"none\" } ] }"
        )),
        (
            7,
            74,
            "duplicate domain \"A.ORG\" (domains compare ignoring case)".into()
        )
    );
    assert_eq!(
        at(&napi("{ domains = [ { level = \"primary\" } ] }")),
        (7, 22, "a `napi` domain has no `domain`".into())
    );
    assert_eq!(
        at(&napi("{ domains = [ { domain = \"a.org\" } ] }")),
        (7, 22, "a `napi` domain has no `level`".into())
    );
    assert_eq!(
        at(&napi("{ wildcard = \"yes\" }")),
        (7, 21, "`wildcard` is a string".into())
    );
    assert_eq!(at(&napi("\"primary\"")).2, "`napi` is a string".to_string());
    assert_eq!(
        at(&napi("{ domains = \"a.org\" }")),
        (7, 20, "`domains` is a string".into())
    );
}

#[test]
fn napi_domains_are_bounded() {
    let domains = |n: usize| {
        (0..n)
            .map(|i| format!("{{ domain = \"d{i}.org\", level = \"secondary\" }}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = |n: usize| {
        provider_text(&format!(
            "{P_OK}\nnapi = {{ domains = [ {} ] }}",
            domains(n)
        ))
    };
    let s = ok(&text(MAX_NAPI_DOMAINS));
    assert_eq!(
        s.providers[0]
            .napi
            .as_ref()
            .and_then(|n| n.domains())
            .map(<[_]>::len),
        Some(MAX_NAPI_DOMAINS)
    );
    let e = err(&text(MAX_NAPI_DOMAINS + 1));
    assert_eq!(
        e.message,
        format!(
            "{} domains, over the limit MAX_NAPI_DOMAINS = {MAX_NAPI_DOMAINS}",
            MAX_NAPI_DOMAINS + 1
        )
    );
    assert_eq!(e.line, 7);
}

#[test]
fn duplicate_provider_id_and_name() {
    let two = |second: &str| {
        format!(
            "name = \"t\"\n[[provider]]\nid = \"{MAIL_ID}\"\nname = \"mail-primary\"\nnamespace = 37\nkind = \"strict\"\n\
             [[provider]]\n{second}\nnamespace = 37\nkind = \"strict\"\n"
        )
    };
    let e = err(&two(&format!("id = \"{MAIL_ID}\"\nname = \"other\"")));
    assert_eq!((e.line, e.column), (8, 6));
    assert_eq!(
        e.message,
        format!("duplicate provider id {MAIL_ID} (also used by \"mail-primary\" at line 3)")
    );
    let e = err(&two(&format!(
        "id = \"{OTHER_ID}\"\nname = \"mail-primary\""
    )));
    assert_eq!((e.line, e.column), (9, 8));
    assert_eq!(
        e.message,
        "duplicate provider name \"mail-primary\" (also used at line 4)"
    );
    // Ids compare as GUIDs, not as text.
    let e = err(&two(&format!(
        "id = \"{{{}}}\"\nname = \"other\"",
        MAIL_ID.to_uppercase()
    )));
    assert!(e.message.starts_with("duplicate provider id"), "{e}");
}

#[test]
fn duplicate_host_and_process_names() {
    let e = err("name = \"t\"\n[[host]]\nname = \"h\"\n[[process]]\nname = \"h\"\n");
    assert_eq!((e.line, e.column), (5, 8));
    assert_eq!(
        e.message,
        "duplicate process name \"h\" (also used by a [[host]] at line 3)"
    );
    let e = err("name = \"t\"\n[[process]]\nname = \"c\"\n[[process]]\nname = \"c\"\n");
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (
            5,
            8,
            "duplicate process name \"c\" (also used by a [[process]] at line 3)"
        )
    );
    assert_eq!(
        at("name = \"t\"\n[[process]]\nsteps = []\n"),
        (2, 1, "[[process]] has no `name`".into())
    );
    assert_eq!(
        at("name = \"t\"\n[[host]]\nname = \"h\"\nthread = []\n"),
        (4, 1, "unknown key `thread` in [[host]]".into())
    );
    assert_eq!(
        at("name = \"t\"\n[[process]]\nname = \"c\"\n[[process.thread]]\nname = \"x\"\n"),
        (5, 1, "unknown key `name` in [[process.thread]]".into())
    );
}

#[test]
fn unknown_op_and_keys_of_other_ops() {
    let e = err(&with_steps("{ op = \"lookp\" },"));
    assert_eq!((e.line, e.column), (STEP_LINE, 8));
    assert_eq!(e.message, "unknown op \"lookp\"");
    assert_eq!(
        e.expected.as_deref(),
        Some(
            "one of startup, cleanup, lookup, lookup_begin, lookup_next, lookup_end, set_service, \
             enum_providers, advertise, unadvertise, install, uninstall, enable, disable, sleep, \
             exit, crash, expect"
        )
    );
    let e = err(&with_steps("{ op = \"lookup\", namespace = 12, us = 5 },"));
    assert_eq!((e.line, e.column), (STEP_LINE, 34));
    assert_eq!(e.message, "op \"lookup\" has no key `us`");
    assert_eq!(
        e.expected.as_deref(),
        Some("one of `op`, `namespace`, `provider`, `name`, `flags`, `next`, `buffer`")
    );
    assert_eq!(
        at(&with_steps("{ op = \"cleanup\", version = \"2.2\" },")),
        (STEP_LINE, 19, "op \"cleanup\" has no key `version`".into())
    );
    assert_eq!(
        at(&with_steps(
            "{ op = \"lookup_begin\", namespace = 12, as = \"q\", next = 1 },"
        )),
        (
            STEP_LINE,
            50,
            "op \"lookup_begin\" has no key `next`".into()
        )
    );
    assert_eq!(
        at(&with_steps("{ us = 5 },")),
        (STEP_LINE, 1, "step has no `op`".into())
    );
    assert_eq!(
        at(&with_steps("{ op = 5 },")),
        (STEP_LINE, 8, "`op` is an integer".into())
    );
    assert_eq!(
        at(&with_steps("\"startup\",")),
        (STEP_LINE, 1, "a step is a string".into())
    );
}

#[test]
fn step_value_errors() {
    let cases: &[(&str, usize, &str)] = &[
        ("{ op = \"sleep\" },", 1, "op \"sleep\" has no `us`"),
        ("{ op = \"sleep\", us = \"5\" },", 22, "`us` is a string"),
        (
            "{ op = \"startup\", version = \"2\" },",
            29,
            "bad version \"2\"",
        ),
        (
            "{ op = \"startup\", version = \"2.256\" },",
            29,
            "bad version \"2.256\"",
        ),
        (
            "{ op = \"startup\", version = \"+2.2\" },",
            29,
            "bad version \"+2.2\"",
        ),
        (
            "{ op = \"lookup\", namespace = \"NS_DNS\", flags = [\"LUP_RETURN_NAME\", \"LUP_NOPE\"] },",
            68,
            "unknown flag \"LUP_NOPE\"",
        ),
        (
            "{ op = \"lookup\", namespace = -1 },",
            30,
            "`namespace` = -1 is out of range",
        ),
        (
            "{ op = \"lookup\", namespace = 12, next = \"some\" },",
            41,
            "bad `next` \"some\"",
        ),
        (
            "{ op = \"lookup\" },",
            1,
            "op \"lookup\" has neither `namespace` nor `provider`",
        ),
        (
            "{ op = \"lookup\", namespace = 12, provider = \"p\" },",
            34,
            "op \"lookup\" has both `namespace` and `provider`",
        ),
        (
            "{ op = \"advertise\", provider = \"nope\" },",
            32,
            "unknown provider \"nope\"",
        ),
        (
            "{ op = \"install\", provider = \"99999999-0000-0000-0000-000000000000\" },",
            30,
            "unknown provider \"99999999-0000-0000-0000-000000000000\"",
        ),
        (
            "{ op = \"advertise\" },",
            1,
            "op \"advertise\" has no `provider`",
        ),
        (
            "{ op = \"set_service\", action = \"update\", namespace = 12 },",
            32,
            "unknown action \"update\"",
        ),
        (
            "{ op = \"set_service\", action = \"register\", namespace = 12, addrs = [\"192.0.2.1\"] },",
            69,
            "bad address \"192.0.2.1\"",
        ),
        (
            "{ op = \"startup\" }, { op = \"expect\", err = \"WSAENOPE\" },",
            44,
            "unknown error \"WSAENOPE\"",
        ),
        (
            "{ op = \"startup\" }, { op = \"expect\", ret = 0 },",
            21,
            "op \"expect\" has no `err`",
        ),
        (
            "{ op = \"lookup_end\", handle = \"\" },",
            31,
            "`handle` is empty",
        ),
    ];
    for (step, column, message) in cases {
        let e = err(&with_steps(step));
        assert_eq!(
            (e.line, e.column, e.message.as_str()),
            (STEP_LINE, *column, *message),
            "{step}"
        );
    }
    let e = err(&with_steps(
        "{ op = \"startup\" }, { op = \"expect\", err = \"WSAENOPE\" },",
    ));
    assert!(
        e.expected
            .as_deref()
            .is_some_and(|x| x.starts_with("one of NO_ERROR, WSA_INVALID_HANDLE")),
        "{e}"
    );
    let e = err(&with_steps("{ op = \"advertise\", provider = \"nope\" },"));
    assert_eq!(
        e.expected.as_deref(),
        Some("the name or id of a [[provider]]: p")
    );
    let e = err(&with_steps(
        "{ op = \"lookup\", namespace = 12, flags = [\"LUP_X\"] },",
    ));
    assert!(
        e.expected
            .as_deref()
            .is_some_and(|x| x.contains("LUP_RETURN_ALL, LUP_SECURE, or a number")),
        "{e}"
    );
}

#[test]
fn every_documented_lup_name_is_accepted_and_round_trips() {
    let text = with_steps(
        "{ op = \"lookup\", namespace = \"NS_EMAIL\", name = \"a@x\", flags = [\"LUP_SECURE\", \"LUP_ADDRCONFIG\", \"LUP_DUAL_ADDR\", \"LUP_DISABLE_IDN_ENCODING\", \"LUP_API_ANSI\", \"LUP_RESOLUTION_HANDLE\", \"LUP_RETURN_RESPONSE_FLAGS\", \"LUP_RETURN_PREFERRED_NAMES\", \"LUP_EXCLUSIVE_CUSTOM_SERVERS\", \"LUP_REQUIRE_SECURE\", \"LUP_NON_AUTHORITATIVE\", \"LUP_FLUSHCACHE\", \"LUP_RETURN_ALL\"] },",
    );
    let s = ok(&text);
    let Some(Step::Lookup { flags, .. }) = s.processes[0].steps.first() else {
        panic!("a lookup step: {:?}", s.processes[0].steps);
    };
    assert_eq!(
        flags.bits(),
        0x8000
            | 0x10_0000
            | 0x20_0000
            | 0x80_0000
            | 0x100_0000
            | 0x8000_0000
            | 0x4_0000
            | 0x1_0000
            | 0x800_0000
            | 0x1000_0000
            | 0x4000
            | 0x1000
            | 0x0FF0
    );
    let j = s.to_json();
    assert_eq!(Scenario::from_json(&j), Ok(s.clone()));
    // Every name the parser lists as accepted parses.
    for name in LupFlags::known_names() {
        let one = with_steps(&format!(
            "{{ op = \"lookup\", namespace = \"NS_EMAIL\", name = \"a@x\", flags = [\"{name}\"] }},"
        ));
        ok(&one);
    }
    // Unknown names still fail at their position, listing what is accepted.
    let e = err(&with_steps(
        "{ op = \"lookup\", namespace = \"NS_EMAIL\", flags = [\"LUP_SECURED\"] },",
    ));
    assert_eq!((e.line, e.column), (STEP_LINE, 51));
    assert_eq!(e.message, "unknown flag \"LUP_SECURED\"");
    for listed in [
        "LUP_SECURE",
        "LUP_DISABLE_IDN_ENCODING",
        "LUP_RESOLUTION_HANDLE",
    ] {
        let expected = e.expected.as_deref().unwrap_or_default();
        assert!(expected.contains(listed), "{expected}");
    }
}

#[test]
fn handles_must_be_defined_earlier_in_the_same_process() {
    let e = err(&with_steps("{ op = \"lookup_next\", handle = \"q\" },"));
    assert_eq!((e.line, e.column), (STEP_LINE, 32));
    assert_eq!(
        e.message,
        "handle \"q\" is not defined by an earlier lookup_begin in process \"c\""
    );
    assert_eq!(
        e.expected.as_deref(),
        Some("the `as` name of an earlier lookup_begin (there is none yet)")
    );

    // Defined after its use.
    let e = err(&with_steps(
        "{ op = \"lookup_end\", handle = \"q\" },\n{ op = \"lookup_begin\", namespace = 12, as = \"q\" },",
    ));
    assert_eq!((e.line, e.column), (STEP_LINE, 31));

    // Another name is defined: it is listed.
    let e = err(&with_steps(
        "{ op = \"lookup_begin\", namespace = 12, as = \"r\" },\n{ op = \"lookup_end\", handle = \"q\" },",
    ));
    assert_eq!((e.line, e.column), (STEP_LINE + 1, 31));
    assert_eq!(e.expected.as_deref(), Some("one of \"r\""));

    // Defined twice.
    let e = err(&with_steps(
        "{ op = \"lookup_begin\", namespace = 12, as = \"q\" },\n{ op = \"lookup_begin\", namespace = 12, as = \"q\" },",
    ));
    assert_eq!((e.line, e.column), (STEP_LINE + 1, 45));
    assert_eq!(
        e.message,
        format!(
            "handle \"q\" is already defined by a lookup_begin at line {STEP_LINE} in process \"c\""
        )
    );

    // Main thread first, then threads in order: a thread may end the main thread's handle, the
    // main thread may not use a thread's.
    let base = with_steps("{ op = \"lookup_begin\", namespace = 12, as = \"q\" },");
    ok(&format!(
        "{base}[[process.thread]]\nsteps = [ {{ op = \"lookup_end\", handle = \"q\" }} ]\n"
    ));
    let text = format!(
        "{}[[process.thread]]\nsteps = [ {{ op = \"lookup_begin\", namespace = 12, as = \"t\" }} ]\n",
        with_steps("{ op = \"lookup_end\", handle = \"t\" },")
    );
    assert_eq!(at(&text).0, STEP_LINE);

    // Handles belong to one process.
    let text = format!(
        "{base}[[process]]\nname = \"d\"\nsteps = [ {{ op = \"lookup_end\", handle = \"q\" }} ]\n"
    );
    let e = err(&text);
    assert_eq!(
        e.message,
        "handle \"q\" is not defined by an earlier lookup_begin in process \"d\""
    );
    // Hosts too.
    let e = err(
        "name = \"t\"\n[[host]]\nname = \"h\"\nsteps = [ { op = \"lookup_end\", handle = \"q\" } ]\n",
    );
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (
            4,
            41,
            "handle \"q\" is not defined by an earlier lookup_begin in host \"h\""
        )
    );
}

#[test]
fn step_order_within_a_thread() {
    let e = err(&with_steps("{ op = \"expect\", err = 0 },"));
    assert_eq!((e.line, e.column), (STEP_LINE, 8));
    assert!(
        e.message
            .starts_with("`expect` is the first step of its thread"),
        "{e}"
    );
    // First step of a [[process.thread]] too.
    let text = format!(
        "{}[[process.thread]]\nsteps = [ {{ op = \"expect\", err = 0 }} ]\n",
        with_steps("{ op = \"startup\" },")
    );
    assert_eq!(at(&text).0, STEP_LINE + 3);
    assert_eq!(
        at(&with_steps(
            "{ op = \"sleep\", us = 1 }, { op = \"expect\", err = 0 },"
        )),
        (
            STEP_LINE,
            34,
            "`expect` follows `sleep`, which has no outcome to check".into()
        )
    );
    assert_eq!(
        at(&with_steps(
            "{ op = \"startup\" }, { op = \"expect\", err = 0 }, { op = \"expect\", err = 0 },"
        )),
        (
            STEP_LINE,
            56,
            "`expect` follows `expect`, which has no outcome to check".into()
        )
    );
    assert_eq!(
        at(&with_steps("{ op = \"crash\" }, { op = \"cleanup\" },")),
        (
            STEP_LINE,
            26,
            "step `cleanup` comes after `crash` in the same thread and never runs".into()
        )
    );
    // Advertise may appear in any process, resolving the provider.
    let s = ok(&with_steps(
        "{ op = \"startup\" }, { op = \"advertise\", provider = \"p\" }, { op = \"expect\", err = 0 },",
    ));
    assert_eq!(
        s.processes[0].steps[1],
        Step::Advertise {
            provider: guid(MAIL_ID)
        }
    );
}

// ----- limits -----

#[test]
fn limits_are_enforced_and_named() {
    // Providers.
    let mut text = String::from("name = \"t\"\n");
    for i in 0..=MAX_PROVIDERS {
        text.push_str(&format!(
            "[[provider]]\nid = \"00000000-0000-0000-0000-{i:012x}\"\nname = \"p{i}\"\nnamespace = 37\nkind = \"strict\"\n"
        ));
    }
    let e = err(&text);
    assert_eq!(e.line, 2 + 5 * MAX_PROVIDERS);
    assert_eq!(
        e.message,
        "65 [[provider]] tables, over the limit MAX_PROVIDERS = 64"
    );
    let allowed = text
        .rsplit_once("[[provider]]")
        .map(|(head, _)| head.to_string())
        .unwrap_or_default();
    assert_eq!(ok(&allowed).providers.len(), MAX_PROVIDERS);

    // Processes: templates count what they make.
    let text = format!(
        "name = \"t\"\n[[process]]\nname = \"a\"\n[[process]]\nname = \"c{{i}}\"\ncount = {MAX_PROCESSES}\n"
    );
    let e = err(&text);
    assert!(
        e.message.contains(&format!(
            "brings the [[process]]es to {}, over the limit MAX_PROCESSES = {MAX_PROCESSES}",
            MAX_PROCESSES + 1
        )),
        "{e}"
    );
    assert_eq!((e.line, e.column), (6, 9), "{e}");

    // Threads: the main thread counts.
    let threads = |n: usize| {
        let mut text = String::from("name = \"t\"\n[[process]]\nname = \"c\"\n");
        for _ in 0..n {
            text.push_str("[[process.thread]]\n");
        }
        text
    };
    assert_eq!(
        ok(&threads(MAX_THREADS_PER_PROCESS - 1)).processes[0]
            .threads
            .len(),
        15
    );
    let e = err(&threads(MAX_THREADS_PER_PROCESS));
    assert_eq!((e.line, e.column), (4 + MAX_THREADS_PER_PROCESS - 1, 1));
    assert_eq!(
        e.message,
        "process \"c\" has 17 threads, over the limit MAX_THREADS_PER_PROCESS = 16 (the main thread counts)"
    );

    // Steps.
    let steps = |n: usize| with_steps(&"{ op = \"cleanup\" },\n".repeat(n));
    assert_eq!(
        ok(&steps(MAX_STEPS_PER_THREAD)).processes[0].steps.len(),
        1024
    );
    let e = err(&steps(MAX_STEPS_PER_THREAD + 1));
    assert_eq!(e.line, STEP_LINE + MAX_STEPS_PER_THREAD);
    assert_eq!(
        e.message,
        "1025 steps in one thread, over the limit MAX_STEPS_PER_THREAD = 1024"
    );

    // Values.
    assert_eq!(
        at(&with_steps(
            "{ op = \"enum_providers\", buffer = 1048577 },"
        )),
        (
            STEP_LINE,
            35,
            "`buffer` = 1048577 is over the limit MAX_BUFFER_BYTES = 1048576".into()
        )
    );
    assert_eq!(
        at(&with_steps("{ op = \"sleep\", us = 3600000001 },")),
        (
            STEP_LINE,
            22,
            "`us` = 3600000001 is over the limit MAX_SLEEP_US = 3600000000".into()
        )
    );
    let long = "x".repeat(MAX_NAME_CHARS + 1);
    assert_eq!(
        at(&format!("name = \"{long}\"\n")),
        (
            1,
            8,
            "`name` is 257 characters long, over the limit MAX_NAME_CHARS = 256".into()
        )
    );
    ok(&format!("name = \"{}\"\n", "é".repeat(MAX_NAME_CHARS)));
    let addrs = vec!["\"192.0.2.1:1\""; MAX_ADDRS + 1].join(", ");
    let e = err(&with_steps(&format!(
        "{{ op = \"set_service\", action = \"register\", namespace = 12, addrs = [{addrs}] }},"
    )));
    assert_eq!(e.message, "65 addresses, over the limit MAX_ADDRS = 64");

    // File size.
    let big = format!("name = \"t\"\n{}", "#".repeat(MAX_FILE_BYTES));
    let e = err(&big);
    assert_eq!((e.line, e.column), (1, 1));
    assert_eq!(
        e.message,
        format!(
            "the file is {} bytes, over the limit MAX_FILE_BYTES = {MAX_FILE_BYTES}",
            big.len()
        )
    );

    // Nesting in options.
    let deep = format!("{}1{}", "[".repeat(40), "]".repeat(40));
    let e = err(&provider_text(&format!(
        "{P_OK}\noptions = {{ a = {deep} }}"
    )));
    // Root, [[provider]] array, its table, options, `a`: the 29th bracket is level 33.
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (7, 17 + 29, "nesting deeper than the limit MAX_DEPTH = 32")
    );
}

// ----- files and hostile input -----

fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("nspsim-scenario-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).expect("temp file");
    path
}

#[test]
fn load_reads_files_and_reports_read_errors() {
    let path = temp_file("ok.toml", EXAMPLE.as_bytes());
    let mut s = load(&path, &registry()).expect("loads");
    assert_eq!(
        s.base_dir(),
        path.parent(),
        "a file's scenario knows its directory"
    );
    s.providers.iter_mut().for_each(|p| p.base_dir = None);
    assert_eq!(s, ok(EXAMPLE));
    let _ = std::fs::remove_file(&path);

    let missing = std::env::temp_dir().join("nspsim-no-such-scenario.toml");
    let e = load(&missing, &registry()).expect_err("missing");
    assert_eq!((e.line, e.column), (0, 0), "no made-up position");
    assert_eq!(
        e.to_string(),
        format!(
            "cannot read {}: No such file or directory (os error 2)",
            missing.display()
        )
    );
    assert_eq!(e.file, missing.display().to_string());

    let path = temp_file("bad-utf8.toml", b"name = \"t\"\nseed = \xff\n");
    let e = load(&path, &registry()).expect_err("not UTF-8");
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (2, 8, "the scenario is not UTF-8 text")
    );
    let _ = std::fs::remove_file(&path);

    let mut big = b"name = \"t\"\n".to_vec();
    big.resize(MAX_FILE_BYTES + 10, b'#');
    let path = temp_file("big.toml", &big);
    let e = load(&path, &registry()).expect_err("too big");
    assert!(e.message.contains("MAX_FILE_BYTES"), "{e}");
    let _ = std::fs::remove_file(&path);

    let path = temp_file("error.toml", b"name = \"t\"\nbogus = 1\n");
    let e = load(&path, &registry()).expect_err("unknown key");
    assert_eq!(e.file, path.display().to_string());
    assert_eq!((e.line, e.column), (2, 1));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn deep_or_huge_input_does_not_overflow_the_stack() {
    for text in [
        format!("a = {}", "[".repeat(100_000)),
        format!("a = {}1{}", "[".repeat(5_000), "]".repeat(5_000)),
        format!("{} = 1", vec!["a"; 50_000].join(".")),
        format!("a = {}", "{ b = ".repeat(10_000)),
        "[[a]]\n".repeat(100_000),
    ] {
        let _ = parse("t.toml", &text, &registry());
    }
}

#[test]
fn mutated_examples_never_panic() {
    // A small deterministic fuzzer: flip, delete and duplicate bytes of valid scenarios.
    let seeds = [EXAMPLE.to_string(), every_op()];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"\"'[]{}=.,\n #0123456789-_aAzZ\xc3\xa9";
    for round in 0..3000 {
        let base = seeds[round % seeds.len()].as_bytes();
        let mut bytes = base.to_vec();
        for _ in 0..1 + next() % 4 {
            if bytes.is_empty() {
                break;
            }
            let i = usize::try_from(next() % bytes.len() as u64).unwrap_or(0);
            match next() % 3 {
                0 => {
                    bytes[i] =
                        alphabet[usize::try_from(next() % alphabet.len() as u64).unwrap_or(0)]
                }
                1 => {
                    bytes.remove(i);
                }
                _ => {
                    let end = (i + 1 + usize::try_from(next() % 40).unwrap_or(0)).min(bytes.len());
                    let chunk = bytes[i..end].to_vec();
                    bytes.splice(i..i, chunk);
                }
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = parse("fuzz.toml", &text, &registry()) {
            assert!(e.line >= 1 && e.column >= 1, "{e}");
            assert!(!e.message.is_empty());
        }
    }
}

/// A kind that names a file: `build` fails, saying which path it would open.
struct FileKind;

impl ProviderKind for FileKind {
    fn name(&self) -> &'static str {
        "file"
    }
    fn summary(&self) -> &'static str {
        "a kind whose `path` option is relative to the scenario file"
    }
    fn options(&self) -> &'static [OptionDoc] {
        &[]
    }
    fn validate(&self, _options: &Value) -> Result<(), String> {
        Ok(())
    }
    fn bind(
        &self,
        options: &Value,
        installation: &crate::registry::Installation<'_>,
    ) -> Option<Value> {
        let path = options["path"].as_str().unwrap_or_default();
        let path = match installation.base_dir {
            Some(base) => base.join(path).display().to_string(),
            None => path.to_string(),
        };
        Some(json!({ "path": path, "id": installation.id.to_string(), "name": installation.name }))
    }
    fn build(&self, options: &Value) -> Result<Box<dyn NspV2Provider>, String> {
        Err(format!(
            "{} {} would open {}",
            options["name"].as_str().unwrap_or("?"),
            options["id"].as_str().unwrap_or("?"),
            options["path"].as_str().unwrap_or("?")
        ))
    }
}

#[test]
fn a_kind_binds_its_options_to_the_installation_and_the_trace_keeps_them_as_written() {
    use crate::registry::{Prepared, Providers};
    let dir = std::env::temp_dir().join(format!("nspsim-base-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("s.toml");
    let text = format!(
        "name = \"s\"\n[[provider]]\nid = \"{MAIL_ID}\"\nname = \"p\"\nnamespace = \"NS_EMAIL\"\nkind = \"file\"\n[provider.options]\npath = \"lib.so\"\n"
    );
    std::fs::write(&file, text).expect("write the scenario");
    let mut registry = Registry::new();
    registry.register(Box::new(FileKind));
    let s = load(&file, &registry).expect("a valid scenario");
    let _ = std::fs::remove_dir_all(&dir);

    assert_eq!(s.providers[0].base_dir.as_deref(), Some(dir.as_path()));
    let expected = format!("p {MAIL_ID} would open {}", dir.join("lib.so").display());
    assert_eq!(
        registry.build(&s.providers[0]).err(),
        Some(expected.clone())
    );
    {
        let prepared = Prepared::new(&registry, &s.providers).expect("prepared");
        assert_eq!(prepared.build(&s.providers[0]).err(), Some(expected));
    }
    // The trace embeds what the user wrote, so it is the same wherever the file lives.
    assert_eq!(s.to_json()["provider"][0]["options"]["path"], "lib.so");
    // In memory, nothing is resolved.
    let mut s = s;
    s.providers[0].base_dir = None;
    assert_eq!(
        registry.build(&s.providers[0]).err(),
        Some(format!("p {MAIL_ID} would open lib.so"))
    );
}

// ----- process templates -----

const TEMPLATE: &str = r#"
name = "t"
[[provider]]
id = "6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60"
name = "mail"
namespace = "NS_EMAIL"
kind = "email-directory"

[[process]]
name = "first"
steps = [ { op = "startup" } ]

[[process]]
name = "client-{i}"
count = 3
steps = [ { op = "startup" }, { op = "cleanup" } ]
[[process.thread]]
steps = [ { op = "sleep", us = 5 } ]

[[process]]
name = "worker"
count = 2
steps = [ { op = "startup" } ]
"#;

#[test]
fn a_template_makes_count_processes_named_by_index() {
    let s = ok(TEMPLATE);
    let names: Vec<&str> = s.processes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "first", "client-0", "client-1", "client-2", "worker-0", "worker-1"
        ]
    );
    assert!(
        s.processes[1..4]
            .iter()
            .all(|p| p.threads.len() == 1 && p.steps.len() == 2)
    );
    assert_eq!(
        s.templates,
        [
            ProcessTemplate {
                first: 1,
                count: 3,
                name: "client-{i}".into()
            },
            ProcessTemplate {
                first: 4,
                count: 2,
                name: "worker".into()
            },
        ]
    );
}

#[test]
fn the_json_form_keeps_the_template_and_reads_back_equal() {
    let s = ok(TEMPLATE);
    assert_header_text_is_the_json_form(&s);
    let j = s.to_json();
    let tables = j["process"].as_array().map_or(0, Vec::len);
    assert_eq!(tables, 3, "one table per template: {j}");
    assert_eq!(j["process"][1]["name"], "client-{i}");
    assert_eq!(j["process"][1]["count"], 3);
    assert_eq!(Scenario::from_json(&j).ok(), Some(s.clone()));
    // A template whose processes were changed since is written as the processes it made.
    let mut changed = s;
    changed.processes[2].steps.pop();
    assert_header_text_is_the_json_form(&changed);
    let j = changed.to_json();
    assert_eq!(j["process"].as_array().map_or(0, Vec::len), 5, "{j}");
    let back = Scenario::from_json(&j).expect("the expanded form reads back");
    assert_eq!(back.processes, changed.processes);
}

#[test]
fn template_errors_are_positioned() {
    let with = |count: &str, extra: &str| {
        format!("name = \"t\"\n{extra}[[process]]\nname = \"c-{{i}}\"\ncount = {count}\n")
    };
    let e = err(&with("0", ""));
    assert!(e.message.contains("`count` = 0 makes no process"), "{e}");
    assert_eq!((e.line, e.column), (4, 9), "{e}");
    let e = err(&with("-1", ""));
    assert_eq!((e.line, e.column), (4, 9), "{e}");
    let e = err(&with("\"many\"", ""));
    assert!(e.message.contains("count"), "{e}");
    let e = err(&with(&(MAX_PROCESSES + 1).to_string(), ""));
    assert!(
        e.message
            .contains(&format!("over the limit MAX_PROCESSES = {MAX_PROCESSES}")),
        "{e}"
    );
    // A name a template makes that another process already has.
    let e = err(&with("3", "[[process]]\nname = \"c-2\"\n"));
    assert!(
        e.message
            .contains("duplicate process name \"c-2\" (process 2 of this template, `count` = 3)"),
        "{e}"
    );
    assert_eq!((e.line, e.column), (5, 8), "{e}");
    // Two templates that make the same names.
    let text = "name = \"t\"\n[[process]]\nname = \"c\"\ncount = 2\n[[process]]\nname = \"c-{i}\"\ncount = 2\n";
    let e = err(text);
    assert!(e.message.contains("duplicate process name \"c-0\""), "{e}");
    assert_eq!(e.line, 6, "{e}");
    // Steps of all the processes made, bounded as a file's are.
    let steps = vec!["{ op = \"startup\" }"; 100].join(", ");
    let e = err(&format!(
        "name = \"t\"\n[[process]]\nname = \"c{{i}}\"\ncount = 16000\nsteps = [ {steps} ]\n"
    ));
    assert!(
        e.message
            .contains("make 1600000 steps in all, over the limit MAX_TOTAL_STEPS = 1048576"),
        "{e}"
    );
    assert_eq!((e.line, e.column), (4, 9), "{e}");
    // A made name over MAX_NAME_CHARS.
    let long = "x".repeat(MAX_NAME_CHARS - 1);
    let e = err(&format!(
        "name = \"t\"\n[[process]]\nname = \"{long}\"\ncount = 12\n"
    ));
    assert!(
        e.message.contains(
            "process 0 of the template is named with 257 characters, over the limit MAX_NAME_CHARS"
        ),
        "{e}"
    );
}
