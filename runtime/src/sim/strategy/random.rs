//! Random walk: every runnable choice is equally likely at every step.

use super::{Choices, Strategy};
use crate::sim::rng::Pcg32;

/// A seeded uniform random walk over the runnable choices.
#[derive(Clone, Debug)]
pub struct RandomWalk {
    rng: Pcg32,
}

impl RandomWalk {
    pub fn new() -> Self {
        RandomWalk {
            rng: Pcg32::from_seed(0),
        }
    }
}

impl Default for RandomWalk {
    fn default() -> Self {
        Self::new()
    }
}

impl Strategy for RandomWalk {
    fn begin(&mut self, seed: u64) {
        self.rng = Pcg32::from_seed(seed);
    }

    fn pick(&mut self, choices: &Choices<'_>, _emitted: u64) -> Option<usize> {
        Some(self.rng.below(choices.len() as u64) as usize)
    }

    fn draw(&mut self, bound: u64) -> u64 {
        self.rng.below(bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Pid, Tid};
    use crate::sim::strategy::Actor;
    use crate::sim::strategy::Choice;

    fn steps(n: u32) -> Vec<Choice> {
        (1..=n)
            .map(|p| Choice::Step {
                pid: Pid(p),
                tid: Tid(1),
                actor: Actor::Thread(Pid(p), Tid(1)),
                step: 0,
            })
            .collect()
    }

    #[test]
    fn same_seed_same_picks_different_seed_different_picks() {
        let choices = steps(4);
        let run = |seed| {
            let mut s = RandomWalk::new();
            s.begin(seed);
            (0..32)
                .map(|_| s.pick(&Choices::list(&choices), 0).unwrap_or(99))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
        assert!(run(5).iter().all(|i| *i < 4));
    }
}
