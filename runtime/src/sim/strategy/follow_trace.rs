//! Following a trace: a strategy that takes the event order of a recorded trace.
//!
//! The schedule is recovered from the events themselves, not from a seed, so a hand-edited or
//! shrunk trace replays too. At each pick, the next recorded event names who moved next: an
//! `api.call` its thread, a `process.exit` or `provider.(un)advertise` its process's step, a
//! `catalog.*` line its provider's catalog step (and, when no scripted step matches, the
//! injected fault that produces the same line), an `async.complete` (or a `fault`) the
//! provider's deferred work serving that async call; a recorded `t` later than anything that
//! can run now, the passing of time. Deferred work that left no event is run only when
//! nothing recorded is left to match, which cannot change what was recorded.

use super::{Actor, Choice, Choices, Move, Strategy};
use crate::event::{Event, ExitHow, Stamped};
use crate::sim::faults::Fault;

/// Follows a recorded event sequence.
#[derive(Clone, Debug)]
pub struct FollowTrace<'a> {
    /// The recorded events that a choice produces: `violation` lines are verdicts written by
    /// the checker and the scheduler, not moves, so they are left out here and not counted in
    /// `emitted` either.
    recorded: Vec<&'a Stamped>,
    stop: Option<String>,
    /// A live trace's `t` is real time: follow the order alone, and let virtual time pass
    /// only when nothing runnable matches the next event.
    order_only: bool,
}

impl<'a> FollowTrace<'a> {
    pub fn new(recorded: &'a [Stamped]) -> Self {
        FollowTrace {
            recorded: recorded
                .iter()
                .filter(|s| !matches!(s.event, Event::Violation { .. }))
                .collect(),
            stop: None,
            order_only: false,
        }
    }

    /// A replay of a live trace: the order counts, `t` does not.
    pub fn order_only(recorded: &'a [Stamped]) -> Self {
        FollowTrace {
            order_only: true,
            ..FollowTrace::new(recorded)
        }
    }

    /// The step whose first event is `event`, when a scripted step can produce it.
    fn actor_for(event: &Event) -> Option<Actor> {
        Some(match event {
            Event::ApiCall { pid, tid, .. } => Actor::Thread(*pid, *tid),
            Event::ProcessExit { pid, how } => Actor::Exit(*pid, *how),
            Event::ProviderAdvertise { pid, provider, .. } => Actor::Advertise(*pid, *provider),
            Event::ProviderUnadvertise { pid, provider, .. } => Actor::Unadvertise(*pid, *provider),
            Event::CatalogInstall { provider, .. } => Actor::Install(*provider),
            Event::CatalogUninstall { provider, .. } => Actor::Uninstall(*provider),
            Event::CatalogEnable {
                provider, enabled, ..
            } => Actor::Enable(*provider, *enabled),
            _ => return None,
        })
    }

    /// The injected faults that produce `event`, when no scripted step does (a crash: a
    /// client's crash, or a host's).
    fn faults_for(event: &Event) -> [Option<Fault>; 2] {
        match event {
            Event::ProcessExit {
                pid,
                how: ExitHow::Crash,
            } => [Some(Fault::Crash(*pid)), Some(Fault::HostCrash(*pid))],
            Event::ProcessExit {
                pid,
                how: ExitHow::Kill,
            } => [Some(Fault::Kill(*pid)), None],
            Event::ProcessExit {
                pid,
                how: ExitHow::Exit,
            } => [Some(Fault::Exit(*pid)), None],
            Event::ProviderUnadvertise { provider, .. } => {
                [Some(Fault::Unadvertise(*provider)), None]
            }
            Event::CatalogEnable {
                provider,
                enabled: false,
                ..
            } => [Some(Fault::Disable(*provider)), None],
            _ => [None, None],
        }
    }

    fn work_for(event: &Event, choices: &Choices<'_>) -> Option<usize> {
        let (provider, label) = match event {
            Event::AsyncComplete {
                provider,
                async_call,
                ..
            } => (*provider, Some(*async_call)),
            Event::Fault { provider, .. } => (*provider, None),
            _ => return None,
        };
        let of_provider =
            |c: &Choice| matches!(c, Choice::Work { provider: p, .. } if *p == provider);
        label
            .and_then(|l| {
                choices.position_in_middle(
                    |c| matches!(c, Choice::Work { provider: p, serves: Some(s), .. } if *p == provider && *s == l),
                )
            })
            .or_else(|| choices.position_in_middle(of_provider))
    }
}

impl Strategy for FollowTrace<'_> {
    fn begin(&mut self, _seed: u64) {
        self.stop = None;
    }

    fn pick(&mut self, choices: &Choices<'_>, emitted: u64) -> Option<usize> {
        let next = usize::try_from(emitted)
            .ok()
            .and_then(|i| self.recorded.get(i).copied())
            .filter(|s| !matches!(s.event, Event::End { .. }));
        let Some(next) = next else {
            // Nothing recorded is left: only silent deferred work may still run.
            let silent = choices.position_in_middle(|c| matches!(c, Choice::Work { .. }));
            if silent.is_none() {
                self.stop = Some(format!(
                    "the recorded trace ends after {emitted} events, but the scenario still has steps to run"
                ));
            }
            return silent;
        };
        // Time passes when the next recorded event is due later than anything runnable now
        // (for a live trace: when nothing runnable matches it).
        let tick = || {
            choices.position_in_middle(
                |c| matches!(c, Choice::Tick { to } if self.order_only || next.t >= *to),
            )
        };
        let matching = || {
            Self::actor_for(&next.event)
                .and_then(|actor| choices.find_move(&Move::Step(actor)))
                .or_else(|| {
                    Self::faults_for(&next.event)
                        .into_iter()
                        .flatten()
                        .filter_map(|f| choices.find_move(&Move::Fault(f)))
                        .min()
                })
                .or_else(|| Self::work_for(&next.event, choices))
        };
        let found = if self.order_only {
            matching().or_else(tick)
        } else {
            tick().or_else(matching)
        };
        if found.is_none() {
            self.stop = Some(format!(
                "seq {}: no runnable step or deferred work can produce the recorded `{}` event next",
                next.seq,
                next.event.kind()
            ));
        }
        found
    }

    fn draw(&mut self, _bound: u64) -> u64 {
        0
    }

    fn stop_reason(&self) -> Option<String> {
        self.stop.clone()
    }
}
