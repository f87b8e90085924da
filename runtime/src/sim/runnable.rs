//! The runnable set: which threads and process exits can move now, kept up to date as they
//! change rather than rebuilt from every thread at every step, so that a step costs the same
//! with 3 processes as with 10,000.
//!
//! Each thread and each process exit has a fixed *slot*: threads first, in pid and tid order,
//! then one exit slot per process, in pid order. That is the order the choices are listed in
//! (see [`super::strategy::Choices`]), so a choice's index is its slot's rank among the
//! occupied slots, and the k-th choice is the k-th occupied slot. Occupancy is a bit per slot,
//! 64 to a word, with a Fenwick tree of the words' counts: rank and select walk the tree
//! (O(log(n/64))) and then count bits in one word. A tree over single slots answered the same
//! in O(log n), but with thousands of slots its levels fell out of the first-level cache and a
//! random walk's every pick waited on a dozen dependent loads.
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
    /// Bit `s % 64` of word `s / 64`: slot `s` is runnable.
    words: Vec<u64>,
    /// Counts of runnable slots per word (a Fenwick tree, 1-based inside).
    tree: Vec<u32>,
    occupied: u32,
    /// Slots that became runnable (`true`) or stopped being (`false`) since the last pick,
    /// in the order it happened.
    log: Vec<(Slot, bool)>,
}

impl Runnable {
    /// `n` slots, none runnable.
    pub fn new(n: usize) -> Runnable {
        let words = n.div_ceil(64);
        Runnable {
            slots: vec![None; n],
            words: vec![0; words],
            tree: vec![0; words + 1],
            occupied: 0,
            // Setup makes every slot's first change.
            log: Vec::with_capacity(n),
        }
    }

    /// Back to [`Runnable::new`]`(n)`, keeping the room already allocated: a thread that runs
    /// many short runs (exploration) reuses one set.
    pub fn reset(&mut self, n: usize) {
        // Every field named, so that a field added later cannot be left out of the reset.
        let Runnable {
            slots,
            words,
            tree,
            occupied,
            log,
        } = self;
        let w = n.div_ceil(64);
        slots.clear();
        slots.resize(n, None);
        words.clear();
        words.resize(w, 0);
        tree.clear();
        tree.resize(w + 1, 0);
        *occupied = 0;
        log.clear();
        log.reserve(n);
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
        let (word, bit) = (slot as usize / 64, slot % 64);
        if on {
            self.occupied += 1;
            self.words[word] |= 1 << bit;
        } else {
            self.occupied -= 1;
            self.words[word] &= !(1 << bit);
        }
        let mut i = word + 1;
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
        let slot = (slot as usize).min(self.slots.len());
        let (word, bit) = (slot / 64, slot % 64);
        let mut i = word;
        let mut n = 0;
        while i > 0 {
            n += self.tree[i] as usize;
            i &= i - 1;
        }
        let below = self.words.get(word).map_or(0, |w| w & ((1 << bit) - 1));
        n + below.count_ones() as usize
    }

    /// The `k`-th runnable slot (from 0), if there are more than `k`.
    pub fn select(&self, k: usize) -> Option<Slot> {
        if k >= self.len() {
            return None;
        }
        // Binary lifting over the words: the largest prefix of words holding at most k
        // runnable slots ends just before the word that holds the one sought. Whether a
        // level is taken is a coin flip to the branch predictor, so it is taken
        // arithmetically.
        let mut word = 0;
        let mut left = k as u32;
        let mut step = (self.tree.len() - 1).checked_ilog2().map_or(0, |b| 1 << b);
        while step > 0 {
            let next = word + step;
            let count = self.tree.get(next).copied().unwrap_or(u32::MAX);
            let take = usize::from(count <= left);
            word += step * take;
            left -= count * take as u32;
            step >>= 1;
        }
        let bit = nth_set_bit(*self.words.get(word)?, left)?;
        Slot::try_from(word * 64 + bit as usize).ok()
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

/// The position of the `n`-th set bit of `w` (from 0, lowest first), if it has more than `n`:
/// the `n` lowest are cleared, one at a time. (Counting bits by halves took longer: without a
/// target feature, a population count is a dozen instructions.)
fn nth_set_bit(w: u64, n: u32) -> Option<u32> {
    let mut w = w;
    for _ in 0..n {
        w &= w.wrapping_sub(1);
    }
    (w != 0).then(|| w.trailing_zeros())
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
        // Less than a word, words and a part, and enough words for the tree to matter.
        for n in [1, 37, 64, 65, 200, 1_000] {
            let mut r = Runnable::new(n);
            let mut on = vec![false; n];
            let mut rng = crate::sim::rng::Pcg32::from_seed(5);
            for _ in 0..1_500 {
                let s = rng.below(n as u64) as usize;
                on[s] = !on[s];
                r.set(s as Slot, if on[s] { step(s as u32) } else { None });
                let listed: Vec<usize> = (0..n).filter(|i| on[*i]).collect();
                assert_eq!(r.len(), listed.len());
                for (k, slot) in listed.iter().enumerate() {
                    assert_eq!(r.select(k), Some(*slot as Slot), "{n} slots");
                    assert_eq!(r.rank(*slot as Slot), k, "{n} slots");
                }
                assert_eq!(r.select(listed.len()), None);
                assert_eq!(r.rank(n as Slot), listed.len());
            }
        }
    }

    #[test]
    fn the_nth_set_bit_is_found_in_every_word() {
        let mut rng = crate::sim::rng::Pcg32::from_seed(9);
        for _ in 0..2_000 {
            let w = (rng.below(u64::from(u32::MAX)) << 32) ^ rng.below(u64::from(u32::MAX));
            let set: Vec<u32> = (0..64).filter(|b| w & (1 << b) != 0).collect();
            for (n, bit) in set.iter().enumerate() {
                assert_eq!(nth_set_bit(w, n as u32), Some(*bit));
            }
            assert_eq!(nth_set_bit(w, set.len() as u32), None);
        }
        assert_eq!(nth_set_bit(u64::MAX, 63), Some(63));
        assert_eq!(nth_set_bit(1 << 63, 0), Some(63));
    }

    #[test]
    fn a_reset_set_is_a_new_one() {
        let mut r = Runnable::new(300);
        for s in [0, 5, 64, 65, 299] {
            r.set(s, step(s));
        }
        r.set(5, None);
        for n in [0, 10, 64, 300, 500] {
            r.reset(n);
            assert_eq!(
                format!("{r:?}"),
                format!("{:?}", Runnable::new(n)),
                "{n} slots"
            );
            r.set(1, step(1));
            assert_eq!(r.select(0), (n > 1).then_some(1), "{n} slots");
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
