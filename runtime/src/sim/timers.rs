//! The timer queue of a run: slots waiting for their virtual time, earliest first, and among
//! those due at the same time, lowest slot first.
//!
//! A binary heap gives that order at O(log n) per entry, with n the number of waiting
//! threads: with thousands of clients nearly every one waits on the queue at once, and the
//! heap's sifting made a step dearer with more processes (issue 16). Virtual time takes few
//! distinct values, so entries are grouped by due time instead: pushing appends to its time's
//! bucket, and a bucket is sorted once, when it first comes up. The order entries leave in is
//! exactly the heap's, so a run (and its trace) is the same either way.

use super::runnable::Slot;
use std::collections::VecDeque;

/// Pending `(due, slot)` entries. Duplicates are the caller's to avoid (the world arms a slot
/// once per due time).
#[derive(Clone, Debug, Default)]
pub struct Timers {
    /// By due time, earliest first. A new due time is nearly always the latest (a step's
    /// thread is due a step's time from now), so it is found from the back.
    buckets: VecDeque<Bucket>,
    /// Emptied buckets' room, for the next due time: with few threads nearly every push
    /// opens a bucket, and an allocation each time cost more than the heap it replaced.
    spare: Vec<Vec<Slot>>,
}

/// The slots due at one time: sorted descending (the next one is last) unless `unsorted`.
#[derive(Clone, Debug)]
struct Bucket {
    due: u64,
    slots: Vec<Slot>,
    unsorted: bool,
}

impl Timers {
    pub fn new() -> Timers {
        Timers::default()
    }

    pub fn clear(&mut self) {
        for b in self.buckets.drain(..) {
            let mut slots = b.slots;
            slots.clear();
            self.spare.push(slots);
        }
    }

    pub fn push(&mut self, due: u64, slot: Slot) {
        let at = match self.buckets.back() {
            Some(last) if last.due == due => self.buckets.len() - 1,
            Some(last) if last.due > due => self.place(due),
            _ => {
                self.open(self.buckets.len(), due);
                self.buckets.len() - 1
            }
        };
        let bucket = &mut self.buckets[at];
        // Appending in descending order keeps a bucket sorted for free.
        if bucket.slots.last().is_some_and(|last| *last < slot) {
            bucket.unsorted = true;
        }
        bucket.slots.push(slot);
    }

    /// The index of `due`'s bucket, opened if need be, when it is not the latest.
    fn place(&mut self, due: u64) -> usize {
        match self.buckets.binary_search_by_key(&due, |b| b.due) {
            Ok(at) => at,
            Err(at) => {
                self.open(at, due);
                at
            }
        }
    }

    fn open(&mut self, at: usize, due: u64) {
        let slots = self.spare.pop().unwrap_or_default();
        self.buckets.insert(
            at,
            Bucket {
                due,
                slots,
                unsorted: false,
            },
        );
    }

    /// The first entry: earliest due time, then lowest slot.
    pub fn peek(&mut self) -> Option<(u64, Slot)> {
        let first = self.buckets.front_mut()?;
        if first.unsorted {
            first.slots.sort_unstable_by(|a, b| b.cmp(a));
            first.unsorted = false;
        }
        first.slots.last().map(|slot| (first.due, *slot))
    }

    /// Removes the first entry ([`Timers::peek`]'s).
    pub fn pop(&mut self) -> Option<(u64, Slot)> {
        let next = self.peek()?;
        let first = self.buckets.front_mut()?;
        first.slots.pop();
        if first.slots.is_empty()
            && let Some(b) = self.buckets.pop_front()
        {
            self.spare.push(b.slots);
        }
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng::Pcg32;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    #[test]
    fn entries_leave_in_the_order_a_binary_heap_gives() {
        let mut rng = Pcg32::from_seed(11);
        let mut timers = Timers::new();
        let mut heap = BinaryHeap::new();
        let mut live = std::collections::BTreeSet::new();
        for _ in 0..20_000 {
            match rng.below(3) {
                0 | 1 => {
                    let entry = (rng.below(6) * 10, rng.below(50) as Slot);
                    if live.insert(entry) {
                        timers.push(entry.0, entry.1);
                        heap.push(Reverse(entry));
                    }
                }
                _ => {
                    assert_eq!(timers.peek(), heap.peek().map(|r| r.0));
                    let popped = timers.pop();
                    assert_eq!(popped, heap.pop().map(|r| r.0));
                    if let Some(e) = popped {
                        live.remove(&e);
                    }
                }
            }
        }
        while let Some(Reverse(e)) = heap.pop() {
            assert_eq!(timers.pop(), Some(e));
        }
        assert_eq!(timers.pop(), None);
    }
}
