//! PCT, probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi, Nagarakatte,
//! ASPLOS 2010): each schedulable entity gets a random priority; the highest-priority runnable
//! one always runs; at d−1 randomly chosen steps the running entity drops to a priority below
//! all initial ones. A bug of depth d is found with probability at least 1/(n·k^(d−1)).
//!
//! Entities are threads (by pid and tid) and deferred work items (by id); an entity seen for
//! the first time gets its priority then, so processes and work created mid-run take part.

use super::{Choice, Strategy};
use crate::event::{Pid, Tid};
use crate::sim::faults::Fault;
use crate::sim::rng::Pcg32;

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
#[derive(Clone, Debug)]
pub struct Pct {
    depth: u32,
    max_steps: u64,
    rng: Pcg32,
    /// Priorities by entity, in order of first sight. A run has a handful of entities, so a
    /// scan beats a map (picking is on every step).
    priorities: Vec<(Entity, u64)>,
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
            // Room for a typical run's threads, work items and faults.
            priorities: Vec::with_capacity(16),
            change_points: Vec::new(),
            step: 0,
        }
    }

    fn priority(&mut self, entity: Entity) -> u64 {
        if let Some((_, p)) = self.priorities.iter().find(|(e, _)| *e == entity) {
            return *p;
        }
        // Initial priorities sit above every change-point priority (which are < depth).
        let p = u64::from(self.depth) + self.rng.below(1 << 40);
        self.priorities.push((entity, p));
        p
    }

    fn set_priority(&mut self, entity: Entity, p: u64) {
        match self.priorities.iter_mut().find(|(e, _)| *e == entity) {
            Some(slot) => slot.1 = p,
            None => self.priorities.push((entity, p)),
        }
    }
}

impl Strategy for Pct {
    fn begin(&mut self, seed: u64) {
        self.rng = Pcg32::from_seed(seed);
        self.priorities.clear();
        self.step = 0;
        self.change_points = (1..self.depth)
            .map(|_| 1 + self.rng.below(self.max_steps))
            .collect();
    }

    fn pick(&mut self, choices: &[Choice], _emitted: u64) -> Option<usize> {
        self.step += 1;
        let mut best: Option<(u64, usize)> = None;
        for (i, choice) in choices.iter().enumerate() {
            let p = self.priority(Entity::of(choice));
            if best.is_none_or(|(bp, _)| p > bp) {
                best = Some((p, i));
            }
        }
        let (_, at) = best?;
        // At the i-th change point the chosen entity drops to priority i (below all initial).
        if let Some(i) = self.change_points.iter().position(|c| *c == self.step) {
            self.set_priority(Entity::of(&choices[at]), i as u64);
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
        let first = s.pick(&choices, 0);
        for _ in 0..20 {
            assert_eq!(s.pick(&choices, 0), first, "no change points at depth 1");
        }
    }

    #[test]
    fn change_points_switch_threads_and_runs_are_reproducible() {
        let choices = [thread(1), thread(2)];
        let run = |seed| {
            let mut s = Pct::new(3, 10);
            s.begin(seed);
            (0..10)
                .map(|_| s.pick(&choices, 0).unwrap_or(9))
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
