//! The rule table: every rule a `violation` line can name, declared once with its id, family,
//! text and when it is decided (docs/semantics.md §9 L1–L10, §10 P1–P4, the project's P5,
//! and docs/scenario-format.md's `expect`).
//!
//! Everything else derives from [`RULES`]: the [`Rule`] type and [`Rule::parse`], the listing
//! (`nspsim check --help`), which rules the checker computes (the rest it passes through) and
//! which it cannot decide on a trace cut short. A new rule is one row here, plus the code that
//! judges it.

/// Where a rule comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// L: the lifecycle the dispatcher must keep (§9).
    Lifecycle,
    /// P: what a provider owes (§10); reported, never fatal.
    Provider,
    /// `expect`: a scenario's own assertion about a call's outcome.
    Scenario,
}

/// When, and by whom, a rule is decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decided {
    /// By the checker, at the event that breaks it.
    AtEvent,
    /// By the checker, in part only at the end of the run (what is owed and never came): not
    /// decidable on a trace cut short.
    AtEnd,
    /// Not from events: the run judges it (P5 from what a provider reports it holds, `expect`
    /// from the scenario's script) and writes the `violation` line; the checker passes it on.
    ByTheRun,
}

/// One row of the rule table.
#[derive(Debug)]
pub struct RuleSpec {
    pub rule: Rule,
    /// The name `violation` lines carry.
    pub id: &'static str,
    pub family: Family,
    pub decided: Decided,
    /// One line, for listings.
    pub text: &'static str,
}

impl RuleSpec {
    /// The checker recomputes this rule from events (a recorded line for it is not counted).
    pub fn computed(&self) -> bool {
        self.decided != Decided::ByTheRun
    }
}

/// Declares [`Rule`] (one variant per row, plus [`Rule::Other`]), [`RULES`] and
/// [`Rule::name`] from one list, so a rule's id and its variant cannot drift apart.
macro_rules! rule_table {
    ($($variant:ident $id:literal $family:ident $decided:ident $text:literal,)*) => {
        /// A rule a `violation` line names: a row of [`RULES`], or an id the table does not
        /// know (from a trace written by something else), which is passed through.
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Rule {
            $(#[doc = $text] $variant,)*
            /// An id the table does not know.
            Other(String),
        }

        /// Every rule, in listing order.
        pub static RULES: &[RuleSpec] = &[$(RuleSpec {
            rule: Rule::$variant,
            id: $id,
            family: Family::$family,
            decided: Decided::$decided,
            text: $text,
        },)*];

        impl Rule {
            /// The id `violation` lines carry.
            pub fn name(&self) -> &str {
                match self {
                    $(Rule::$variant => $id,)*
                    Rule::Other(id) => id,
                }
            }
        }
    };
}

rule_table! {
    L1 "L1" Lifecycle AtEvent
        "a session's first provider call is NSPv2Startup (unless Startup is absent or a stub)",
    L2 "L2" Lifecycle AtEvent
        "every call of a session carries the session argument Startup produced",
    L3 "L3" Lifecycle AtEnd
        "a session ends exactly once: one Cleanup or one Rundown",
    L4 "L4" Lifecycle AtEvent
        "no provider call for a session after it ended",
    L5 "L5" Lifecycle AtEnd
        "an abnormal end gets one Rundown per live session after the exit; an orderly last WSACleanup gets Cleanups and no Rundown",
    L6 "L6" Lifecycle AtEnd
        "every provider lookup handle is closed by exactly one NSPv2LookupServiceEnd, before its session ends",
    L7 "L7" Lifecycle AtEnd
        "every async call is completed exactly once",
    L8 "L8" Lifecycle AtEvent
        "no provider call reaches a provider that is not advertised and enabled",
    L9 "L9" Lifecycle AtEvent
        "NSPv2Startup runs only for a process whose WSAStartup succeeded and is outstanding",
    L10 "L10" Lifecycle AtEvent
        "after a process's last WSACleanup, its API calls fail with WSANOTINITIALISED",
    P1 "P1" Provider AtEvent
        "SOCKET_ERROR comes with a non-zero last error",
    P2 "P2" Provider AtEvent
        "errors come from the function's documented set",
    P3 "P3" Provider AtEvent
        "each hAsyncCall is completed exactly once, and only hAsyncCalls it was given",
    P4 "P4" Provider AtEvent
        "a panic or crash inside a provider call (contained, but a provider bug)",
    P5 "P5" Provider ByTheRun
        "once every session of a provider has ended, it holds no session or lookup state",
    Expect "expect" Scenario ByTheRun
        "a scenario's expect step: the previous step ended with the error (or success) and return value it names",
}

impl Rule {
    /// The rule a `violation` line names: a table row by its id, else [`Rule::Other`].
    pub fn parse(s: &str) -> Rule {
        RULES
            .iter()
            .find(|r| r.id == s)
            .map_or_else(|| Rule::Other(s.to_string()), |r| r.rule.clone())
    }

    /// Its row of the table (none for [`Rule::Other`]).
    pub fn spec(&self) -> Option<&'static RuleSpec> {
        RULES.iter().find(|r| r.rule == *self)
    }

    /// The checker recomputes it from events; the rest (rules judged by the run, and ids the
    /// table does not know) are passed through from the trace.
    pub fn computed(&self) -> bool {
        self.spec().is_some_and(RuleSpec::computed)
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Every rule (the table), for listings.
pub fn rules() -> &'static [RuleSpec] {
    RULES
}

/// The rules decided only at the end of a run, in table order: not decidable on a trace cut
/// short.
pub fn decided_at_end() -> impl Iterator<Item = &'static RuleSpec> {
    RULES.iter().filter(|r| r.decided == Decided::AtEnd)
}
