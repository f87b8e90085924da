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

/// Priorities of the entities behind one runnable set's slots, and which of those runnable
/// now rank highest.
#[derive(Clone, Debug, Default)]
struct Ranking {
    /// Priorities by slot.
    priorities: Vec<Option<u64>>,
    /// Runnable slots that have a priority, highest first (then lowest slot, as listed).
    ranked: BTreeSet<(Reverse<u64>, Slot)>,
    /// Runnable slots that have none yet.
    unseen: BTreeSet<Slot>,
}

impl Ranking {
    fn clear(&mut self) {
        self.priorities.clear();
        self.ranked.clear();
        self.unseen.clear();
    }

    fn priority(&self, slot: Slot) -> Option<u64> {
        self.priorities.get(slot as usize).copied().flatten()
    }

    /// Brings the sets up to date with what became runnable or stopped being since the last
    /// pick.
    fn follow(&mut self, log: &[(Slot, bool)]) {
        for &(slot, on) in log {
            match (on, self.priority(slot)) {
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

    /// Gives runnable slots seen for the first time their priorities, in slot order.
    fn first_sight(&mut self, mut initial: impl FnMut() -> u64) {
        while let Some(slot) = self.unseen.pop_first() {
            self.set(slot, initial());
        }
    }

    /// Sets a runnable slot's priority.
    fn set(&mut self, slot: Slot, p: u64) {
        if let Some(old) = self.priority(slot) {
            self.ranked.remove(&(Reverse(old), slot));
        }
        let i = slot as usize;
        if i >= self.priorities.len() {
            self.priorities.resize(i + 1, None);
        }
        self.priorities[i] = Some(p);
        self.ranked.insert((Reverse(p), slot));
    }

    /// The highest priority among runnable slots, and the first slot that has it.
    fn best(&self) -> Option<(u64, Slot)> {
        self.ranked.first().map(|&(Reverse(p), slot)| (p, slot))
    }
}

/// What a pick chose, to lower its priority at a change point.
#[derive(Clone, Copy)]
enum Chosen {
    Thread(Slot),
    ProcessFault(Slot),
    Other(Entity),
}

/// The PCT strategy.
///
/// Picking costs O(log n) in the number of entities, not a scan of them: threads and exits
/// (the world's runnable slots, one entity each) and faults on processes (a second set of
/// slots) keep their priorities in vectors indexed by slot, and the runnable ones sit in
/// ordered sets by priority, kept up to date from the runnable sets' logs; the few other
/// entities (deferred work, the clock, faults on providers) are looked up in a map. The picks
/// are those of the textbook loop over the choice list: entities seen for the first time get
/// their priorities in list order, and among equal priorities the earliest choice wins.
#[derive(Clone, Debug)]
pub struct Pct {
    depth: u32,
    max_steps: u64,
    rng: Pcg32,
    threads: Ranking,
    process_faults: Ranking,
    /// Priorities of every other entity (and of every choice of a plain list).
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
            threads: Ranking::default(),
            process_faults: Ranking::default(),
            others: BTreeMap::new(),
            change_points: Vec::new(),
            step: 0,
        }
    }

    /// A fresh initial priority: above every change-point priority (which are < depth).
    fn initial(rng: &mut Pcg32, depth: u32) -> u64 {
        u64::from(depth) + rng.below(1 << 40)
    }

    /// The best of `items` (index, choice) and `best` so far; entities seen for the first time
    /// get their priorities in order. A later choice wins only with a higher priority.
    fn scan(
        &mut self,
        items: impl Iterator<Item = (usize, Choice)>,
        best: &mut Option<(u64, usize, Chosen)>,
    ) {
        for (i, choice) in items {
            let entity = Entity::of(&choice);
            let p = match self.others.get(&entity) {
                Some(p) => *p,
                None => {
                    let p = Self::initial(&mut self.rng, self.depth);
                    self.others.insert(entity, p);
                    p
                }
            };
            if best.is_none_or(|(bp, _, _)| p > bp) {
                *best = Some((p, i, Chosen::Other(entity)));
            }
        }
    }
}

/// `candidate` replaces `best` if its priority is higher (it is listed later).
fn better(best: &mut Option<(u64, usize, Chosen)>, candidate: Option<(u64, usize, Chosen)>) {
    if let Some(c) = candidate
        && best.is_none_or(|(bp, _, _)| c.0 > bp)
    {
        *best = Some(c);
    }
}

impl Strategy for Pct {
    fn begin(&mut self, seed: u64) {
        self.rng = Pcg32::from_seed(seed);
        self.threads.clear();
        self.process_faults.clear();
        self.others.clear();
        self.step = 0;
        self.change_points = (1..self.depth)
            .map(|_| 1 + self.rng.below(self.max_steps))
            .collect();
    }

    fn pick(&mut self, choices: &Choices<'_>, _emitted: u64) -> Option<usize> {
        self.step += 1;
        let (rng, depth) = (&mut self.rng, self.depth);
        if let Some(r) = choices.runnable() {
            self.threads.follow(r.log());
        }
        if let Some(f) = choices.process_faults_log() {
            self.process_faults.follow(f);
        }
        // In list order: threads and exits, work and time, faults on processes, the rest.
        self.threads.first_sight(|| Self::initial(rng, depth));
        let mut best = self
            .threads
            .best()
            .map(|(p, slot)| (p, choices.index_of_slot(slot), Chosen::Thread(slot)));
        self.scan(choices.middle(), &mut best);
        if choices.process_faults().is_some() {
            let (rng, depth) = (&mut self.rng, self.depth);
            self.process_faults
                .first_sight(|| Self::initial(rng, depth));
            let fault = self.process_faults.best().map(|(p, slot)| {
                (
                    p,
                    choices.index_of_fault_slot(slot),
                    Chosen::ProcessFault(slot),
                )
            });
            better(&mut best, fault);
        }
        self.scan(choices.rest(), &mut best);
        let (_, at, chosen) = best?;
        // At the i-th change point the chosen entity drops to priority i (below all initial).
        if let Some(i) = self.change_points.iter().position(|c| *c == self.step) {
            let p = i as u64;
            match chosen {
                Chosen::Thread(slot) => self.threads.set(slot, p),
                Chosen::ProcessFault(slot) => self.process_faults.set(slot, p),
                Chosen::Other(entity) => {
                    self.others.insert(entity, p);
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
            assert_eq!(
                s.pick(&Choices::list(&choices), 0),
                first,
                "no change points at depth 1"
            );
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
