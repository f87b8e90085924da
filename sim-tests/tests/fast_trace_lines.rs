//! The fast event-line parser (`runtime/src/trace/fast.rs`) against the general serde path, on
//! every golden trace's event lines, on hand-written lines of every kind, on the trace_reader
//! fuzz corpus, and on every single-character edit of all of them: whatever the fast path
//! accepts, the general path decodes to the same event and encoding gives the line back; and
//! `decode_event` (fast, then general) answers exactly as the general path does, errors
//! included.

mod common;

use common::repo;
use nspsim_runtime::trace::fast::decode_canonical;
use nspsim_runtime::trace::json::decode_event_general;
use nspsim_runtime::trace::{decode_event, encode_event};

/// Lines of the kinds and shapes the golden traces lack: every event kind, escapes, non-ASCII,
/// negative numbers, nested and array values, optional keys present and absent.
const EXTRA: &[&str] = &[
    r#"{"seq":0,"t":0,"ev":"process.start","pid":1,"name":"we \"quote\" \\ and ünïcode","role":"client"}"#,
    r#"{"seq":0,"t":0,"ev":"process.start","pid":1,"name":"ünïcode € and \u007f","role":"host"}"#,
    r#"{"seq":1,"t":3,"ev":"process.exit","pid":4294967295,"how":"kill"}"#,
    r#"{"seq":2,"t":3,"ev":"catalog.install","provider":"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60","name":"mail","namespace":37,"version":3,"ret":-1,"err":11003}"#,
    r#"{"seq":3,"t":3,"ev":"catalog.uninstall","provider":"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60","ret":0,"err":0}"#,
    r#"{"seq":4,"t":3,"ev":"catalog.enable","provider":"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60","enabled":false,"ret":0,"err":0}"#,
    r#"{"seq":5,"t":3,"ev":"catalog.enable","provider":"6F0E2A57-2F7C-4D8B-9A3E-1C2B3D4E5F60","enabled":true,"ret":-2147483648,"err":0}"#,
    r#"{"seq":6,"t":3,"ev":"provider.advertise","pid":2,"provider":"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60","ret":0,"err":0,"absent":["NSPv2Startup","NSPv2ClientSessionRundown"]}"#,
    r#"{"seq":7,"t":3,"ev":"provider.unadvertise","pid":2,"provider":"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60","ret":-1,"err":10022}"#,
    r#"{"seq":8,"t":4,"ev":"api.call","pid":3,"tid":2,"call":"WSALookupServiceNext","args":{"handle":"q1"}}"#,
    r#"{"seq":9,"t":4,"ev":"api.call","pid":3,"tid":2,"call":"WSASetService","args":{"a":[1,-2,"x",true,null,{"b":{}}],"n":{"x":[],"y":18446744073709551615},"z":-9223372036854775808}}"#,
    r#"{"seq":10,"t":4,"ev":"api.return","pid":3,"tid":2,"call":"WSALookupServiceNext","ret":-1,"err":10014,"result":{"buffer":300}}"#,
    r#"{"seq":11,"t":4,"ev":"api.return","pid":3,"tid":2,"call":"WSALookupServiceNext","ret":0,"err":0,"result":{"addrs":["192.0.2.1:25","[::1]:25"],"name":"a\tb"}}"#,
    r#"{"seq":12,"t":5,"ev":"nsp.call","provider":"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60","fn":"NSPv2LookupServiceNextEx","pid":3,"session":"s2","lookup":"h4","async":"a9","args":{"flags":16}}"#,
    r#"{"seq":13,"t":5,"ev":"nsp.call","provider":"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60","fn":"NSPv2Startup","pid":3,"session":null}"#,
    r#"{"seq":14,"t":5,"ev":"nsp.return","provider":"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60","fn":"NSPv2LookupServiceBegin","pid":3,"ret":0,"err":0,"lookup":"h4"}"#,
    r#"{"seq":15,"t":5,"ev":"nsp.return","provider":"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60","fn":"NSPv2Startup","pid":3,"ret":-1,"err":10045,"session":null}"#,
    r#"{"seq":16,"t":5,"ev":"nsp.return","provider":"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60","fn":"NSPv2ClientSessionRundown","pid":3,"ret":null,"err":0}"#,
    r#"{"seq":17,"t":6,"ev":"async.complete","provider":"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60","async":"a9","err":10110,"outcome":"discarded"}"#,
    r#"{"seq":18,"t":6,"ev":"fault","provider":"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60","fn":"NSPv2Cleanup","kind":"panic","detail":"boom\nline"}"#,
    r#"{"seq":19,"t":6,"ev":"fault","provider":"6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60","fn":"NSPv2Cleanup","kind":"timeout","detail":"plain"}"#,
    r#"{"seq":20,"t":6,"ev":"violation","rule":"L4","detail":"provider … got a call"}"#,
    r#"{"seq":21,"t":6,"ev":"end","events":21,"violations":1}"#,
    r#"{"seq":21, "t":6,"ev":"end","events":21,"violations":1}"#,
    r#"{"t":6,"seq":21,"ev":"end","events":21,"violations":1}"#,
    r#"{"seq":1.0,"t":6,"ev":"end","events":21,"violations":1}"#,
];

/// Every event line to start from: the golden traces', the extra ones, the fuzz corpus's; one
/// line of each shape (lines that differ only in their numbers are edited alike).
fn lines() -> Vec<String> {
    let mut lines: Vec<String> = EXTRA.iter().map(|l| l.to_string()).collect();
    for dir in ["traces", "sim-tests/fuzz/corpus/trace_reader"] {
        let mut files: Vec<_> = std::fs::read_dir(repo().join(dir))
            .expect("the directory exists")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| dir != "traces" || p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        files.sort();
        for f in files {
            let bytes = std::fs::read(&f).expect("readable");
            let text = String::from_utf8_lossy(&bytes);
            lines.extend(text.lines().skip(1).map(str::to_string));
        }
    }
    let mut shapes = std::collections::BTreeSet::new();
    lines.retain(|l| shapes.insert(l.replace(|c: char| c.is_ascii_digit(), "0")));
    lines
}

/// The two properties for one line.
fn agree(line: &str) {
    let general = decode_event_general(line);
    if let Some(fast) = decode_canonical(line) {
        assert_eq!(
            general.as_ref(),
            Ok(&fast),
            "the fast path accepted what the general path reads otherwise: {line:?}"
        );
        let mut again = String::new();
        encode_event(&fast, &mut again);
        assert_eq!(
            again,
            format!("{line}\n"),
            "the fast path accepted a line that is not canonical"
        );
    }
    assert_eq!(decode_event(line), general, "{line:?}");
}

#[test]
fn the_fast_path_takes_every_golden_line() {
    let dir = repo().join("traces");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("traces/") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|x| x != "jsonl") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("golden trace");
        for line in text.lines().skip(1) {
            assert!(
                decode_canonical(line).is_some(),
                "{}: the fast path declined a line the writer wrote: {line}",
                path.display()
            );
            agree(line);
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} golden lines");
    for line in &EXTRA[..EXTRA.len() - 3] {
        let plain = !line.contains('\\') && !line.contains("6F0E");
        assert_eq!(decode_canonical(line).is_some(), plain, "{line}");
        agree(line);
    }
}

/// What a single edit puts in: JSON's structural characters, digits, signs, letters that
/// start literals or change a name, a space, a control character and a non-ASCII one.
const PUT: &[char] = &[
    '"', '\\', ',', ':', '{', '}', '[', ']', '0', '1', '9', '-', '+', '.', 'e', 'n', 't', 'f', 'a',
    's', 'x', 'A', ' ', '\n', '\u{1}', 'é',
];

#[test]
fn every_single_edit_of_every_line_reads_the_same_by_both_paths() {
    let mut edits = 0usize;
    for line in lines() {
        agree(&line);
        let bounds: Vec<usize> = line
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(line.len()))
            .collect();
        for w in bounds.windows(2) {
            let (at, next) = (w[0], w[1]);
            // Delete the character, replace it, insert before it.
            agree(&format!("{}{}", &line[..at], &line[next..]));
            for c in PUT {
                agree(&format!("{}{c}{}", &line[..at], &line[next..]));
                agree(&format!("{}{c}{}", &line[..at], &line[at..]));
                edits += 2;
            }
        }
        // Cut at every character: a line ended early.
        for &at in &bounds {
            agree(&line[..at]);
        }
    }
    assert!(edits > 50_000, "only {edits} edits");
}

#[test]
fn swapped_and_repeated_keys_read_the_same_by_both_paths() {
    for line in lines() {
        let Some(body) = line.strip_prefix('{').and_then(|l| l.strip_suffix('}')) else {
            continue;
        };
        // Top-level pairs only matter here; a split inside a value just makes another bad line.
        let pairs: Vec<&str> = body.split(",\"").collect();
        for i in 1..pairs.len() {
            let mut swapped = pairs.clone();
            swapped.swap(i - 1, i);
            agree(&format!("{{{}}}", swapped.join(",\"")));
            let mut repeated = pairs.clone();
            repeated.insert(i, pairs[i]);
            agree(&format!("{{{}}}", repeated.join(",\"")));
            let mut dropped = pairs.clone();
            dropped.remove(i);
            agree(&format!("{{{}}}", dropped.join(",\"")));
        }
    }
}
