//! Lifecycle events: what leaves the dispatcher, in order, for the trace, the checker and logs.
//!
//! One variant per `ev` kind of docs/trace-format.md, with the fields it lists. Opaque values
//! (session arguments, handles, async calls) are already labels here ([`Label`]); nothing in an
//! event depends on addresses, wall-clock time or hash order, so a sequence of events is as
//! deterministic as the run that made it.
//!
//! Events leave the dispatcher through an [`EventSink`]. Sinks compose by wrapping (a checker
//! wraps a recorder, a recorder wraps nothing), and [`NullSink`] discards everything for
//! benchmarks. A sink that only wants verdicts (exploration's) says so with
//! [`EventSink::wants_details`]: its events then carry empty `args`, `result` and names.

use crate::provider::NspFn;
use crate::wsa::{Guid, Namespace};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

/// `args` and `result` objects: keys sorted alphabetically, as the trace format requires.
/// Keys are borrowed when the dispatcher builds them (no allocation per key) and owned when a
/// trace is read.
pub type Fields = BTreeMap<Cow<'static, str>, Value>;

/// A simulated process id: 1, 2, … in order of creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(pub u32);

/// A thread id within its process: 1 is the main thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tid(pub u32);

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for Tid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Whether a process calls the client API or hosts providers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Client,
    Host,
}

impl Role {
    pub const fn name(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Host => "host",
        }
    }
    pub fn from_name(s: &str) -> Option<Role> {
        match s {
            "client" => Some(Role::Client),
            "host" => Some(Role::Host),
            _ => None,
        }
    }
}

/// How a process ended (S4.6, S4.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExitHow {
    /// ExitProcess: orderly, whether or not WSACleanup was called.
    Exit,
    /// Abnormal termination from inside.
    Crash,
    /// Abnormal termination from outside (TerminateProcess).
    Kill,
}

impl ExitHow {
    pub const fn name(self) -> &'static str {
        match self {
            ExitHow::Exit => "exit",
            ExitHow::Crash => "crash",
            ExitHow::Kill => "kill",
        }
    }
    pub fn from_name(s: &str) -> Option<ExitHow> {
        match s {
            "exit" => Some(ExitHow::Exit),
            "crash" => Some(ExitHow::Crash),
            "kill" => Some(ExitHow::Kill),
            _ => None,
        }
    }
}

/// The client API functions traced as `api.call`, spelled as Windows spells them.
/// (WSAAdvertiseProvider has an event kind of its own, `provider.advertise`.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ApiFn {
    WSAStartup,
    WSACleanup,
    WSALookupServiceBegin,
    WSALookupServiceNext,
    WSALookupServiceEnd,
    WSASetService,
    WSAEnumNameSpaceProvidersEx,
}

impl ApiFn {
    pub const ALL: [ApiFn; 7] = [
        ApiFn::WSAStartup,
        ApiFn::WSACleanup,
        ApiFn::WSALookupServiceBegin,
        ApiFn::WSALookupServiceNext,
        ApiFn::WSALookupServiceEnd,
        ApiFn::WSASetService,
        ApiFn::WSAEnumNameSpaceProvidersEx,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            ApiFn::WSAStartup => "WSAStartup",
            ApiFn::WSACleanup => "WSACleanup",
            ApiFn::WSALookupServiceBegin => "WSALookupServiceBegin",
            ApiFn::WSALookupServiceNext => "WSALookupServiceNext",
            ApiFn::WSALookupServiceEnd => "WSALookupServiceEnd",
            ApiFn::WSASetService => "WSASetService",
            ApiFn::WSAEnumNameSpaceProvidersEx => "WSAEnumNameSpaceProvidersEx",
        }
    }

    pub fn from_name(s: &str) -> Option<ApiFn> {
        ApiFn::ALL.into_iter().find(|f| f.name() == s)
    }
}

/// The four kinds of opaque value a trace names by label (docs/trace-format.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LabelKind {
    /// A session argument: `s1`, `s2`, …
    Session,
    /// A provider lookup handle: `h1`, …
    ProviderLookup,
    /// A client lookup handle: `q1`, …
    ClientLookup,
    /// An async call: `a1`, …
    AsyncCall,
}

impl LabelKind {
    pub const fn prefix(self) -> char {
        match self {
            LabelKind::Session => 's',
            LabelKind::ProviderLookup => 'h',
            LabelKind::ClientLookup => 'q',
            LabelKind::AsyncCall => 'a',
        }
    }
}

/// A label for an opaque value: kind and number, numbered from 1 per run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    pub kind: LabelKind,
    pub n: u32,
}

impl Label {
    pub const fn new(kind: LabelKind, n: u32) -> Label {
        Label { kind, n }
    }

    /// Parses `s3`, `h1`, `q2`, `a10`.
    pub fn parse(s: &str) -> Option<Label> {
        let mut chars = s.chars();
        let kind = match chars.next()? {
            's' => LabelKind::Session,
            'h' => LabelKind::ProviderLookup,
            'q' => LabelKind::ClientLookup,
            'a' => LabelKind::AsyncCall,
            _ => return None,
        };
        let digits = chars.as_str();
        if digits.is_empty()
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        digits.parse().ok().map(|n| Label { kind, n })
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Written as two pieces rather than through `write!`: the dispatcher turns a label into
        // text for most lookup calls' arguments, and nested formatting cost several times this.
        f.write_char(self.kind.prefix())?;
        f.write_str(itoa::Buffer::new().format(self.n))
    }
}

/// What became of a WSAProviderCompleteAsyncCall (S6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CompletionOutcome {
    /// A client thread was waiting for it and got it.
    Delivered,
    /// Accepted, but nobody waits any more (the client, session or lookup ended first).
    Discarded,
    /// Unknown or already-completed handle: WSAEINVAL to the provider, P3 broken.
    Rejected,
}

impl CompletionOutcome {
    pub const fn name(self) -> &'static str {
        match self {
            CompletionOutcome::Delivered => "delivered",
            CompletionOutcome::Discarded => "discarded",
            CompletionOutcome::Rejected => "rejected",
        }
    }
    pub fn from_name(s: &str) -> Option<CompletionOutcome> {
        match s {
            "delivered" => Some(CompletionOutcome::Delivered),
            "discarded" => Some(CompletionOutcome::Discarded),
            "rejected" => Some(CompletionOutcome::Rejected),
            _ => None,
        }
    }
}

/// The kind of a contained provider fault (P4, and live-mode deadlines).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    Panic,
    Crash,
    Timeout,
}

impl FaultKind {
    pub const fn name(self) -> &'static str {
        match self {
            FaultKind::Panic => "panic",
            FaultKind::Crash => "crash",
            FaultKind::Timeout => "timeout",
        }
    }
    /// What the provider did, for a sentence: `provider {verb} in NSPv2…`.
    pub const fn verb(self) -> &'static str {
        match self {
            FaultKind::Panic => "panicked",
            FaultKind::Crash => "crashed",
            FaultKind::Timeout => "timed out",
        }
    }
    pub fn from_name(s: &str) -> Option<FaultKind> {
        match s {
            "panic" => Some(FaultKind::Panic),
            "crash" => Some(FaultKind::Crash),
            "timeout" => Some(FaultKind::Timeout),
            _ => None,
        }
    }
}

/// One lifecycle event: the `ev` kinds of docs/trace-format.md with their fields, in order
/// (but for `nsp.call`'s provider, see below).
///
/// `ret` is the function's integer return; `err` the calling thread's last error after the
/// call (0 when none).
///
/// The kind is a byte of its own (`repr(u8)`): every event meets four or five matches on its
/// kind (the run's observer, the checker twice, the sink behind it), and left to the compiler
/// the kind was folded into a field of `nsp.call`, which each match decoded first. Such an
/// enum keeps each kind's fields in the order written, so `nsp.call` puts its provider (a
/// 16-byte-aligned GUID) after its labels, where it leaves no gap; placed first, it made every
/// event 96 bytes instead of 80 (the size is checked below).
#[derive(Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Event {
    ProcessStart {
        pid: Pid,
        name: String,
        role: Role,
    },
    ProcessExit {
        pid: Pid,
        how: ExitHow,
    },
    CatalogInstall {
        provider: Guid,
        name: String,
        namespace: Namespace,
        version: u32,
        ret: i32,
        err: u32,
    },
    CatalogUninstall {
        provider: Guid,
        ret: i32,
        err: u32,
    },
    CatalogEnable {
        provider: Guid,
        enabled: bool,
        ret: i32,
        err: u32,
    },
    ProviderAdvertise {
        pid: Pid,
        provider: Guid,
        ret: i32,
        err: u32,
        /// The optional entry points the table leaves null, in table order.
        absent: Vec<NspFn>,
    },
    ProviderUnadvertise {
        pid: Pid,
        provider: Guid,
        ret: i32,
        err: u32,
    },
    ApiCall {
        pid: Pid,
        tid: Tid,
        call: ApiFn,
        args: Fields,
    },
    ApiReturn {
        pid: Pid,
        tid: Tid,
        call: ApiFn,
        ret: i32,
        err: u32,
        result: Option<Fields>,
    },
    NspCall {
        func: NspFn,
        /// The client served.
        pid: Pid,
        session: Option<Label>,
        lookup: Option<Label>,
        async_call: Option<Label>,
        provider: Guid,
        args: Option<Fields>,
    },
    NspReturn {
        provider: Guid,
        func: NspFn,
        pid: Pid,
        /// `None` for a void function.
        ret: Option<i32>,
        err: u32,
        /// Startup only: `Some(label or null)`. `None` for every other function.
        session: Option<Option<Label>>,
        /// Begin only, on success: the h-label produced.
        lookup: Option<Label>,
    },
    AsyncComplete {
        provider: Guid,
        async_call: Label,
        err: u32,
        outcome: CompletionOutcome,
    },
    Fault {
        provider: Guid,
        func: NspFn,
        kind: FaultKind,
        detail: String,
    },
    Violation {
        rule: String,
        detail: String,
    },
    End {
        events: u64,
        violations: u64,
    },
}

impl Event {
    /// The `ev` string of this event's kind.
    pub const fn kind(&self) -> &'static str {
        match self {
            Event::ProcessStart { .. } => "process.start",
            Event::ProcessExit { .. } => "process.exit",
            Event::CatalogInstall { .. } => "catalog.install",
            Event::CatalogUninstall { .. } => "catalog.uninstall",
            Event::CatalogEnable { .. } => "catalog.enable",
            Event::ProviderAdvertise { .. } => "provider.advertise",
            Event::ProviderUnadvertise { .. } => "provider.unadvertise",
            Event::ApiCall { .. } => "api.call",
            Event::ApiReturn { .. } => "api.return",
            Event::NspCall { .. } => "nsp.call",
            Event::NspReturn { .. } => "nsp.return",
            Event::AsyncComplete { .. } => "async.complete",
            Event::Fault { .. } => "fault",
            Event::Violation { .. } => "violation",
            Event::End { .. } => "end",
        }
    }
}

// Events are moved from sink to sink by the hundred thousand: a field order that leaves gaps
// (see `Event`) should not go unnoticed.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Event>() == 80);

/// An event with its place in the run: `seq` (0, 1, … per line) and virtual time `t` (µs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamped {
    pub seq: u64,
    pub t: u64,
    pub event: Event,
}

/// Where the dispatcher's events go, one at a time, in order.
pub trait EventSink {
    /// Records one event that happened at virtual time `t`.
    fn record(&mut self, t: u64, event: Event);

    /// `false` lets the dispatcher skip building events nobody reads. Must not change during a
    /// run.
    fn enabled(&self) -> bool {
        true
    }

    /// Whether a failure (a `violation` line) has passed through this sink. A run told to
    /// stop at its first failure asks after every scheduling step.
    fn failed(&self) -> bool {
        false
    }

    /// `false` lets the dispatcher leave out what only a reader of the trace needs: `args` and
    /// `result` objects (empty instead) and process and provider names (empty). The checker
    /// judges no rule by them, so exploration, which only wants verdicts, skips building them.
    /// Must not change during a run.
    fn wants_details(&self) -> bool {
        self.enabled()
    }
}

/// Discards everything (benchmarks).
#[derive(Clone, Copy, Debug, Default)]
pub struct NullSink;

impl EventSink for NullSink {
    fn record(&mut self, _t: u64, _event: Event) {}
    fn enabled(&self) -> bool {
        false
    }
}

/// Keeps every event in memory, stamped (tests, replay comparison).
#[derive(Clone, Debug, Default)]
pub struct VecSink {
    pub events: Vec<Stamped>,
}

impl VecSink {
    pub fn new() -> Self {
        VecSink::default()
    }
}

impl EventSink for VecSink {
    fn record(&mut self, t: u64, event: Event) {
        let seq = self.events.len() as u64;
        self.events.push(Stamped { seq, t, event });
    }
}

impl<S: EventSink + ?Sized> EventSink for &mut S {
    fn record(&mut self, t: u64, event: Event) {
        (**self).record(t, event)
    }
    fn enabled(&self) -> bool {
        (**self).enabled()
    }
    fn failed(&self) -> bool {
        (**self).failed()
    }

    fn wants_details(&self) -> bool {
        (**self).wants_details()
    }
}

impl<S: EventSink + ?Sized> EventSink for Box<S> {
    fn record(&mut self, t: u64, event: Event) {
        (**self).record(t, event)
    }
    fn enabled(&self) -> bool {
        (**self).enabled()
    }
    fn failed(&self) -> bool {
        (**self).failed()
    }

    fn wants_details(&self) -> bool {
        (**self).wants_details()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_print_and_parse() {
        for (text, kind, n) in [
            ("s1", LabelKind::Session, 1),
            ("h12", LabelKind::ProviderLookup, 12),
            ("q3", LabelKind::ClientLookup, 3),
            ("a100", LabelKind::AsyncCall, 100),
            ("q4294967295", LabelKind::ClientLookup, u32::MAX),
        ] {
            let label = Label::new(kind, n);
            assert_eq!(label.to_string(), text);
            assert_eq!(Label::parse(text), Some(label));
        }
        for bad in ["", "s", "x1", "s0", "s01", "s-1", "s1a"] {
            assert_eq!(Label::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn names_round_trip() {
        for f in ApiFn::ALL {
            assert_eq!(ApiFn::from_name(f.name()), Some(f));
        }
        for how in [ExitHow::Exit, ExitHow::Crash, ExitHow::Kill] {
            assert_eq!(ExitHow::from_name(how.name()), Some(how));
        }
        for o in [
            CompletionOutcome::Delivered,
            CompletionOutcome::Discarded,
            CompletionOutcome::Rejected,
        ] {
            assert_eq!(CompletionOutcome::from_name(o.name()), Some(o));
        }
    }

    #[test]
    fn vec_sink_numbers_events_from_zero() {
        let mut sink = VecSink::new();
        sink.record(
            5,
            Event::ProcessExit {
                pid: Pid(1),
                how: ExitHow::Crash,
            },
        );
        sink.record(
            9,
            Event::End {
                events: 1,
                violations: 0,
            },
        );
        assert_eq!(sink.events[0].seq, 0);
        assert_eq!(sink.events[1].seq, 1);
        assert_eq!(sink.events[1].t, 9);
        assert_eq!(sink.events[0].event.kind(), "process.exit");
    }
}
