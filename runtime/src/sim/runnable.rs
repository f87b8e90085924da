//! The runnable set: which threads and process exits can move now, kept up to date as they
//! change rather than rebuilt from every thread at every step, so that a step costs the same
//! with 3 processes as with 10,000.
//!
//! Each thread and each process exit has a fixed *slot*: threads first, in pid and tid order,
//! then one exit slot per process, in pid order. That is the order the choices are listed in
//! (see [`super::strategy::Choices`]), so a choice's index is its slot's rank among the
//! occupied slots, and the k-th choice is the k-th occupied slot: a Fenwick tree of occupied
//! slots answers both in O(log n).
//!
//! Every change is also written to a log, which a strategy that keeps its own index of the
//! runnable choices (PCT) reads at its next pick; the world clears it after every pick.

use super::strategy::Choice;

/// A dense index: threads `0..threads`, then process exits.
pub type Slot = u32;

/// The occupied slots and the choice each one offers.
#[derive(Clone, Debug, Default)]
pub struct Runnable {
    /// The choice a slot offers now, if it is runnable.
    slots: Vec<Option<Choice>>,
    /// Counts of occupied slots (a Fenwick tree, 1-based inside).
    tree: Vec<u32>,
    occupied: u32,
    /// Slots that became runnable (`true`) or stopped being (`false`) since the last pick,
    /// in the order it happened.
    log: Vec<(Slot, bool)>,
}

impl Runnable {
    /// `n` slots, none runnable.
    pub fn new(n: usize) -> Runnable {
        Runnable {
            slots: vec![None; n],
            tree: vec![0; n + 1],
            occupied: 0,
            // Setup makes every slot's first change.
            log: Vec::with_capacity(n),
        }
    }

    /// How many slots are runnable.
    pub fn len(&self) -> usize {
        self.occupied as usize
    }

    pub fn is_empty(&self) -> bool {
        self.occupied == 0
    }

    /// Slot `slot` offers `choice` now (`None`: it is not runnable).
    pub fn set(&mut self, slot: Slot, choice: Option<Choice>) {
        let Some(at) = self.slots.get_mut(slot as usize) else {
            return;
        };
        let was = at.is_some();
        *at = choice;
        match (was, choice.is_some()) {
            (false, true) => {
                self.add(slot, true);
                self.log.push((slot, true));
            }
            (true, false) => {
                self.add(slot, false);
                self.log.push((slot, false));
            }
            _ => {}
        }
    }

    fn add(&mut self, slot: Slot, on: bool) {
        if on {
            self.occupied += 1;
        } else {
            self.occupied -= 1;
        }
        let mut i = slot as usize + 1;
        while i < self.tree.len() {
            if on {
                self.tree[i] += 1;
            } else {
                self.tree[i] -= 1;
            }
            i += i & i.wrapping_neg();
        }
    }

    /// The choice slot `slot` offers, if it is runnable.
    pub fn choice(&self, slot: Slot) -> Option<Choice> {
        self.slots.get(slot as usize).copied().flatten()
    }

    /// How many runnable slots come before `slot`: its choice's index.
    pub fn rank(&self, slot: Slot) -> usize {
        let mut i = (slot as usize).min(self.tree.len().saturating_sub(1));
        let mut n = 0;
        while i > 0 {
            n += self.tree[i] as usize;
            i &= i - 1;
        }
        n
    }

    /// The `k`-th runnable slot (from 0), if there are more than `k`.
    pub fn select(&self, k: usize) -> Option<Slot> {
        if k >= self.len() {
            return None;
        }
        // Binary lifting: the largest prefix holding at most k occupied slots ends just
        // before the one sought. Whether a level is taken is a coin flip to the branch
        // predictor, so it is taken arithmetically: with thousands of slots, mispredicted
        // branches here cost more than the loads.
        let mut pos = 0;
        let mut left = k as u32;
        let mut step = (self.tree.len() - 1).checked_ilog2().map_or(0, |b| 1 << b);
        while step > 0 {
            let next = pos + step;
            let count = self.tree.get(next).copied().unwrap_or(u32::MAX);
            let take = usize::from(count <= left);
            pos += step * take;
            left -= count * take as u32;
            step >>= 1;
        }
        Slot::try_from(pos).ok()
    }

    /// The runnable slots in order (a walk over every slot: for strategies that scan).
    pub fn iter(&self) -> impl Iterator<Item = (Slot, Choice)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, c)| Some((i as Slot, (*c)?)))
    }

    /// What changed since the log was last cleared.
    pub fn log(&self) -> &[(Slot, bool)] {
        &self.log
    }

    pub fn clear_log(&mut self) {
        self.log.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Pid, Tid};
    use crate::sim::strategy::Actor;

    fn step(p: u32) -> Option<Choice> {
        Some(Choice::Step {
            pid: Pid(p),
            tid: Tid(1),
            actor: Actor::Thread(Pid(p), Tid(1)),
            step: 0,
        })
    }

    #[test]
    fn select_and_rank_agree_with_a_scan() {
        let mut r = Runnable::new(37);
        let mut on = [false; 37];
        let mut rng = crate::sim::rng::Pcg32::from_seed(5);
        for _ in 0..2_000 {
            let s = rng.below(37) as usize;
            on[s] = !on[s];
            r.set(s as Slot, if on[s] { step(s as u32) } else { None });
            let listed: Vec<usize> = (0..37).filter(|i| on[*i]).collect();
            assert_eq!(r.len(), listed.len());
            for (k, slot) in listed.iter().enumerate() {
                assert_eq!(r.select(k), Some(*slot as Slot));
                assert_eq!(r.rank(*slot as Slot), k);
            }
            assert_eq!(r.select(listed.len()), None);
        }
    }

    #[test]
    fn the_log_says_what_changed_in_order() {
        let mut r = Runnable::new(4);
        r.set(2, step(3));
        r.set(2, step(3));
        r.set(0, step(1));
        r.set(2, None);
        assert_eq!(r.log(), &[(2, true), (0, true), (2, false)]);
        r.clear_log();
        assert!(r.log().is_empty());
    }
}
