//! Schedules: the moves a run made, recorded, and replayed leniently onto a smaller scenario.
//!
//! Shrinking needs to re-run a failure on a scenario with steps, threads or processes taken
//! away and with moves taken out of its interleaving. The event-level [`super::FollowTrace`] cannot
//! do that: once a step is gone, the recorded events no longer line up. A [`Schedule`] follows
//! *moves* instead (one per scheduling step: who ran, which deferred work, a tick of time, an
//! injected fault), and skips the moves the smaller scenario can no longer make. What the
//! shrinker keeps is then recorded as a trace and checked with the event-level replay, so the
//! trace handed to the user replays exactly.

use super::{Actor, Choice, Choices, Strategy};
use crate::event::{Label, Pid, Tid};
use crate::sim::faults::Fault;
use crate::wsa::Guid;

/// One scheduling step, named so that it still means something in a smaller scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Move {
    /// A thread's (or a process's exit, a catalog change's) next step.
    Step(Actor),
    /// Deferred work of a provider, serving this async call when it was asked for one.
    Work {
        provider: Guid,
        serves: Option<Label>,
    },
    /// Virtual time passes.
    Tick,
    /// An injected fault.
    Fault(Fault),
}

impl Move {
    /// The move `choice` makes.
    pub fn of(choice: &Choice) -> Move {
        match *choice {
            Choice::Step { actor, .. } => Move::Step(actor),
            Choice::Work {
                provider, serves, ..
            } => Move::Work { provider, serves },
            Choice::Tick { .. } => Move::Tick,
            Choice::Fault(f) => Move::Fault(f),
        }
    }

    /// The process this move belongs to, when it belongs to one.
    pub fn pid(&self) -> Option<Pid> {
        match self {
            Move::Step(
                Actor::Thread(p, _)
                | Actor::Exit(p, _)
                | Actor::Advertise(p, _)
                | Actor::Unadvertise(p, _),
            ) => Some(*p),
            Move::Fault(
                Fault::Crash(p) | Fault::Kill(p) | Fault::Exit(p) | Fault::HostCrash(p),
            ) => Some(*p),
            _ => None,
        }
    }

    /// The same move with its process numbers passed through `f` (processes renumbered after
    /// one was taken away).
    pub fn map_pid(self, f: impl Fn(Pid) -> Pid) -> Move {
        match self {
            Move::Step(Actor::Thread(p, t)) => Move::Step(Actor::Thread(f(p), t)),
            Move::Step(Actor::Exit(p, how)) => Move::Step(Actor::Exit(f(p), how)),
            Move::Step(Actor::Advertise(p, g)) => Move::Step(Actor::Advertise(f(p), g)),
            Move::Step(Actor::Unadvertise(p, g)) => Move::Step(Actor::Unadvertise(f(p), g)),
            Move::Fault(Fault::Crash(p)) => Move::Fault(Fault::Crash(f(p))),
            Move::Fault(Fault::Kill(p)) => Move::Fault(Fault::Kill(f(p))),
            Move::Fault(Fault::Exit(p)) => Move::Fault(Fault::Exit(f(p))),
            Move::Fault(Fault::HostCrash(p)) => Move::Fault(Fault::HostCrash(f(p))),
            other => other,
        }
    }

    /// Where `choice` makes this move; for deferred work, the same provider serving another
    /// call will do when the very call is not there (labels shift as steps are taken away).
    /// A thread's move costs a lookup in its process's slots, not a scan of every choice.
    fn find(&self, choices: &Choices<'_>) -> Option<usize> {
        match *self {
            Move::Work { provider, serves } => choices
                .position_in_middle(|c| matches!(c, Choice::Work { provider: p, serves: s, .. } if *p == provider && *s == serves))
                .or_else(|| {
                    choices
                        .position_in_middle(|c| matches!(c, Choice::Work { provider: p, .. } if *p == provider))
                }),
            _ => choices.find_move(self),
        }
    }
}

/// The script step a move ran: thread `tid` of process `pid`, its step at index `step`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepAt {
    pub pid: Pid,
    pub tid: Tid,
    pub step: u32,
}

/// Wraps a strategy and writes down every move it makes, with the script step each thread
/// move ran (a `lookup` step makes one move per call).
pub struct Recording<S> {
    pub inner: S,
    pub moves: Vec<(Move, Option<StepAt>)>,
}

impl<S: Strategy> Recording<S> {
    pub fn new(inner: S) -> Self {
        Recording {
            inner,
            moves: Vec::new(),
        }
    }
}

impl<S: Strategy> Strategy for Recording<S> {
    fn begin(&mut self, seed: u64) {
        self.moves.clear();
        self.inner.begin(seed);
    }

    fn pick(&mut self, choices: &Choices<'_>, emitted: u64) -> Option<usize> {
        let at = self.inner.pick(choices, emitted)?;
        if let Some(c) = choices.get(at) {
            let step_at = match c {
                Choice::Step { pid, tid, step, .. } if tid.0 > 0 => Some(StepAt { pid, tid, step }),
                _ => None,
            };
            self.moves.push((Move::of(&c), step_at));
        }
        Some(at)
    }

    fn draw(&mut self, bound: u64) -> u64 {
        self.inner.draw(bound)
    }

    fn stop_reason(&self) -> Option<String> {
        self.inner.stop_reason()
    }
}

/// Follows a list of moves: at each pick, the earliest move still in the list that a choice
/// can make now is made and struck off. A move that cannot be made yet (its thread is still
/// asleep, its work not yet asked for) waits its turn; one that never can (its step was taken
/// away) is left over. When nothing in the list can be made, threads run in pid and tid order,
/// then deferred work, then time passes; no fault is injected that the list does not name.
#[derive(Clone, Debug)]
pub struct Schedule {
    moves: Vec<Move>,
    /// For each move, the first move at or after it not yet made (`moves.len()`: none); a
    /// made move points on, and lookups shorten the paths they walk, so passing over the
    /// moves already made costs next to nothing, however many there are.
    next: Vec<u32>,
}

impl Schedule {
    pub fn new(moves: Vec<Move>) -> Self {
        let next = (0..=moves.len() as u32).collect();
        Schedule { moves, next }
    }

    /// The first move at or after `i` not yet made.
    fn unmade_from(&mut self, i: usize) -> usize {
        let mut root = i;
        while self.next[root] as usize != root {
            root = self.next[root] as usize;
        }
        let mut at = i;
        while at != root {
            let on = self.next[at] as usize;
            self.next[at] = root as u32;
            at = on;
        }
        root
    }
}

impl Strategy for Schedule {
    fn begin(&mut self, _seed: u64) {
        for (i, n) in self.next.iter_mut().enumerate() {
            *n = i as u32;
        }
    }

    fn pick(&mut self, choices: &Choices<'_>, _emitted: u64) -> Option<usize> {
        let mut i = self.unmade_from(0);
        while i < self.moves.len() {
            if let Some(at) = self.moves[i].find(choices) {
                self.next[i] = i as u32 + 1;
                return Some(at);
            }
            i = self.unmade_from(i + 1);
        }
        choices
            .first_step()
            .or_else(|| choices.position_in_middle(|c| matches!(c, Choice::Work { .. })))
            .or_else(|| choices.position_in_middle(|c| matches!(c, Choice::Tick { .. })))
    }

    /// Faults are offered at every step; the moves decide which strike.
    fn draw(&mut self, _bound: u64) -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ExitHow;

    fn step(pid: u32, tid: u32) -> Choice {
        Choice::Step {
            pid: Pid(pid),
            tid: Tid(tid),
            actor: Actor::Thread(Pid(pid), Tid(tid)),
            step: 0,
        }
    }

    #[test]
    fn follows_the_moves_and_passes_over_those_that_cannot_be_made_yet() {
        let mut s = Schedule::new(vec![
            Move::Step(Actor::Thread(Pid(3), Tid(1))),
            Move::Step(Actor::Thread(Pid(9), Tid(1))), // gone
            Move::Step(Actor::Thread(Pid(4), Tid(1))), // asleep at first
            Move::Step(Actor::Thread(Pid(2), Tid(1))),
        ]);
        s.begin(0);
        let choices = [step(2, 1), step(3, 1)];
        assert_eq!(s.pick(&Choices::list(&choices), 0), Some(1));
        assert_eq!(
            s.pick(&Choices::list(&choices), 0),
            Some(0),
            "pid 4 is not runnable yet"
        );
        assert_eq!(
            s.pick(&Choices::list(&[step(2, 1), step(4, 1)]), 0),
            Some(1),
            "its turn kept"
        );
        // Nothing left that can be made: the first thread in pid order.
        assert_eq!(
            s.pick(&Choices::list(&[step(5, 1), step(3, 1)]), 0),
            Some(0)
        );
    }

    #[test]
    fn never_injects_a_fault_of_its_own() {
        let mut s = Schedule::new(Vec::new());
        let crash = Choice::Fault(Fault::Crash(Pid(2)));
        assert_eq!(
            s.pick(&Choices::list(&[crash, Choice::Tick { to: 5 }]), 0),
            Some(1)
        );
        assert_eq!(s.pick(&Choices::list(&[crash]), 0), None);
    }

    #[test]
    fn work_falls_back_to_the_same_provider() {
        let g = Guid(7);
        let label = Label::new(crate::event::LabelKind::AsyncCall, 2);
        let m = Move::Work {
            provider: g,
            serves: Some(label),
        };
        let other = Choice::Work {
            id: 1,
            provider: Guid(8),
            serves: Some(label),
        };
        let same_provider = Choice::Work {
            id: 2,
            provider: g,
            serves: None,
        };
        assert_eq!(m.find(&Choices::list(&[other, same_provider])), Some(1));
    }

    #[test]
    fn recording_writes_down_what_the_inner_strategy_picked() {
        let mut r = Recording::new(Schedule::new(vec![Move::Step(Actor::Exit(
            Pid(2),
            ExitHow::Exit,
        ))]));
        r.begin(0);
        let exit = Choice::Step {
            pid: Pid(2),
            tid: Tid(0),
            actor: Actor::Exit(Pid(2), ExitHow::Exit),
            step: 0,
        };
        assert_eq!(r.pick(&Choices::list(&[step(1, 1), exit]), 0), Some(1));
        assert_eq!(
            r.moves,
            vec![(Move::Step(Actor::Exit(Pid(2), ExitHow::Exit)), None)]
        );
        assert_eq!(r.pick(&Choices::list(&[step(1, 1)]), 0), Some(0));
        assert_eq!(
            r.moves[1].1,
            Some(StepAt {
                pid: Pid(1),
                tid: Tid(1),
                step: 0
            })
        );
        assert_eq!(
            Move::Step(Actor::Thread(Pid(3), Tid(1))).map_pid(|p| Pid(p.0 - 1)),
            Move::Step(Actor::Thread(Pid(2), Tid(1)))
        );
    }
}
