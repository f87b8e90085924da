//! PCT, probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi, Nagarakatte,
//! ASPLOS 2010): each schedulable entity gets a random priority; the highest-priority runnable
//! one always runs; at d−1 randomly chosen steps the running entity drops to a priority below
//! all initial ones. A bug of depth d is found with probability at least 1/(n·k^(d−1)).
//!
//! Entities are threads (by pid and tid) and deferred work items (by id); an entity seen for
//! the first time gets its priority then, so processes and work created mid-run take part.

use super::{Choice, Choices, Strategy};
use crate::event::{Pid, Tid};
use crate::sim::faults::Fault;
use crate::sim::rng::Pcg32;
use crate::sim::runnable::Slot;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Entity {
    Thread(Pid, Tid),
    Work(u64),
    Clock,
    Fault(Fault),
}

impl Entity {
    fn of(choice: &Choice) -> Entity {
        match *choice {
            Choice::Step { pid, tid, .. } => Entity::Thread(pid, tid),
            Choice::Work { id, .. } => Entity::Work(id),
            Choice::Tick { .. } => Entity::Clock,
            Choice::Fault(f) => Entity::Fault(f),
        }
    }
}

/// The PCT strategy.
///
/// Picking costs O(log n) in the number of entities, not a scan of them: threads and exits
/// (the world's runnable slots, one entity each) keep their priorities in a vector indexed
/// by slot, and the runnable ones sit in an ordered set by priority, kept up to date from the
/// runnable set's log; the few other entities (deferred work, the clock, faults) are looked
/// up in a map. The picks are those of the textbook loop over the choice list: entities seen
/// for the first time get their priorities in list order, and among equal priorities the
/// earliest choice wins.
#[derive(Clone, Debug)]
pub struct Pct {
    depth: u32,
    max_steps: u64,
    rng: Pcg32,
    /// Priorities of threads and exits, by slot.
    slot_priorities: Vec<Option<u64>>,
    /// Runnable slots that have a priority, highest first (then lowest slot, as listed).
    ranked: BTreeSet<(Reverse<u64>, Slot)>,
    /// Runnable slots that have none yet.
    unseen: BTreeSet<Slot>,
    /// Priorities of every other entity (and of threads offered as a plain list).
    others: BTreeMap<Entity, u64>,
    change_points: Vec<u64>,
    step: u64,
}

impl Pct {
    /// `depth` is the bug depth d aimed at (≥ 1); `max_steps` an estimate of the run's length k,
    /// over which the change points are spread.
    pub fn new(depth: u32, max_steps: u64) -> Self {
        Pct {
            depth: depth.max(1),
            max_steps: max_steps.max(1),
            rng: Pcg32::from_seed(0),
            slot_priorities: Vec::new(),
            ranked: BTreeSet::new(),
            unseen: BTreeSet::new(),
            others: BTreeMap::new(),
            change_points: Vec::new(),
            step: 0,
        }
    }

    /// A fresh initial priority: above every change-point priority (which are < depth).
    fn initial(&mut self) -> u64 {
        u64::from(self.depth) + self.rng.below(1 << 40)
    }

    fn priority(&mut self, entity: Entity) -> u64 {
        if let Some(p) = self.others.get(&entity) {
            return *p;
        }
        let p = self.initial();
        self.others.insert(entity, p);
        p
    }

    fn slot_priority(&self, slot: Slot) -> Option<u64> {
        self.slot_priorities.get(slot as usize).copied().flatten()
    }

    fn set_slot_priority(&mut self, slot: Slot, p: u64) {
        let i = slot as usize;
        if i >= self.slot_priorities.len() {
            self.slot_priorities.resize(i + 1, None);
        }
        self.slot_priorities[i] = Some(p);
    }

    /// Brings the ranked and unseen sets up to date with what became runnable or stopped
    /// being since the last pick.
    fn follow(&mut self, log: &[(Slot, bool)]) {
        for &(slot, on) in log {
            match (on, self.slot_priority(slot)) {
                (true, Some(p)) => {
                    self.ranked.insert((Reverse(p), slot));
                }
                (true, None) => {
                    self.unseen.insert(slot);
                }
                (false, Some(p)) => {
                    self.ranked.remove(&(Reverse(p), slot));
                }
                (false, None) => {
                    self.unseen.remove(&slot);
                }
            }
        }
    }
}

impl Strategy for Pct {
    fn begin(&mut self, seed: u64) {
        self.rng = Pcg32::from_seed(seed);
        self.slot_priorities.clear();
        self.ranked.clear();
        self.unseen.clear();
        self.others.clear();
        self.step = 0;
        self.change_points = (1..self.depth)
            .map(|_| 1 + self.rng.below(self.max_steps))
            .collect();
    }

    fn pick(&mut self, choices: &Choices<'_>, _emitted: u64) -> Option<usize> {
        self.step += 1;
        if let Some(r) = choices.runnable() {
            self.follow(r.log());
        }
        // First sight, in list order: runnable slots (threads, exits), then the rest.
        while let Some(slot) = self.unseen.pop_first() {
            let p = self.initial();
            self.set_slot_priority(slot, p);
            self.ranked.insert((Reverse(p), slot));
        }
        let mut best_other: Option<(u64, usize, Entity)> = None;
        for (i, choice) in choices.tail() {
            let entity = Entity::of(&choice);
            let p = self.priority(entity);
            if best_other.is_none_or(|(bp, _, _)| p > bp) {
                best_other = Some((p, i, entity));
            }
        }
        let best_slot = self.ranked.first().copied();
        // A slot is listed before every other choice, so it wins a tie.
        let (at, chosen) = match (best_slot, best_other) {
            (Some((Reverse(p), slot)), other) if other.is_none_or(|(bp, _, _)| p >= bp) => {
                (choices.index_of_slot(slot), Err(slot))
            }
            (_, Some((_, i, entity))) => (i, Ok(entity)),
            (_, None) => return None,
        };
        // At the i-th change point the chosen entity drops to priority i (below all initial).
        if let Some(i) = self.change_points.iter().position(|c| *c == self.step) {
            let p = i as u64;
            match chosen {
                Ok(entity) => {
                    self.others.insert(entity, p);
                }
                Err(slot) => {
                    if let Some(old) = self.slot_priority(slot) {
                        self.ranked.remove(&(Reverse(old), slot));
                    }
                    self.set_slot_priority(slot, p);
                    self.ranked.insert((Reverse(p), slot));
                }
            }
        }
        Some(at)
    }

    fn draw(&mut self, bound: u64) -> u64 {
        self.rng.below(bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::strategy::Actor;

    fn thread(p: u32) -> Choice {
        Choice::Step {
            pid: Pid(p),
            tid: Tid(1),
            actor: Actor::Thread(Pid(p), Tid(1)),
            step: 0,
        }
    }

    #[test]
    fn depth_one_runs_one_thread_until_it_is_not_runnable() {
        let choices = [thread(1), thread(2), thread(3)];
        let mut s = Pct::new(1, 100);
        s.begin(11);
        let first = s.pick(&Choices::list(&choices), 0);
        for _ in 0..20 {
            assert_eq!(s.pick(&Choices::list(&choices), 0), first, "no change points at depth 1");
        }
    }

    #[test]
    fn change_points_switch_threads_and_runs_are_reproducible() {
        let choices = [thread(1), thread(2)];
        let run = |seed| {
            let mut s = Pct::new(3, 10);
            s.begin(seed);
            (0..10)
                .map(|_| s.pick(&Choices::list(&choices), 0).unwrap_or(9))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        let switched = (0..50).any(|seed| {
            let r = run(seed);
            r.windows(2).any(|w| w[0] != w[1])
        });
        assert!(
            switched,
            "some seed must place a change point that switches threads"
        );
    }
}
