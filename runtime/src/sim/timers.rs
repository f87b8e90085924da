//! The timer queue of a run: slots waiting for their virtual time, earliest first, and among
//! those due at the same time, lowest slot first.
//!
//! A binary heap gives that order at O(log n) per entry, with n the number of waiting
//! threads: with thousands of clients nearly every one waits on the queue at once, and the
//! heap's sifting made a step dearer with more processes (issue 16). Virtual time takes few
//! distinct values, so entries are grouped by due time instead: pushing appends to its time's
//! bucket, and a bucket is sorted when it first comes up; an entry for the time that is up
//! already is put in its place. The order entries leave in is exactly the heap's, duplicates
//! included, so a run (and its trace) is the same either way.

use super::runnable::Slot;
use std::collections::VecDeque;

/// Pending `(due, slot)` entries.
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
    /// Looked at by [`Timers::peek`]: its time is being waited for, and entries may be taken
    /// from it before it is empty.
    peeked: bool,
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
        match bucket.slots.last() {
            // Appending in descending order keeps a bucket sorted for free.
            Some(last) if *last < slot => {
                if bucket.peeked && !bucket.unsorted {
                    // A bucket being looked at (a replay of a live trace peeks at every step)
                    // takes the entry in its place, rather than a sort of the whole bucket
                    // at the next peek. One still filling up is sorted once, when it is up.
                    let place = bucket.slots.partition_point(|s| *s > slot);
                    bucket.slots.insert(place, slot);
                    return;
                }
                bucket.unsorted = true;
            }
            _ => {}
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
        let bucket = Bucket {
            due,
            slots,
            unsorted: false,
            peeked: false,
        };
        // The latest time nearly always: `insert` at the end still shifts by the general path.
        if at == self.buckets.len() {
            self.buckets.push_back(bucket);
        } else {
            self.buckets.insert(at, bucket);
        }
    }

    /// The first entry: earliest due time, then lowest slot.
    pub fn peek(&mut self) -> Option<(u64, Slot)> {
        let first = self.buckets.front_mut()?;
        first.peeked = true;
        if first.unsorted {
            first.slots.sort_unstable_by(|a, b| b.cmp(a));
            first.unsorted = false;
        }
        first.slots.last().map(|slot| (first.due, *slot))
    }

    /// Removes the first entry ([`Timers::peek`]'s).
    pub fn pop(&mut self) -> Option<(u64, Slot)> {
        self.pop_due(u64::MAX)
    }

    /// Removes the first entry if it is due by `t`: [`Timers::peek`] and [`Timers::pop`] in
    /// one look at the front bucket, for the world's loop over the entries that came due.
    pub fn pop_due(&mut self, t: u64) -> Option<(u64, Slot)> {
        let (due, slot) = self.peek()?;
        if due > t {
            return None;
        }
        let first = self.buckets.front_mut()?;
        first.slots.pop();
        if first.slots.is_empty()
            && let Some(b) = self.buckets.pop_front()
        {
            self.spare.push(b.slots);
        }
        Some((due, slot))
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
        for round in 0..20_000 {
            match rng.below(5) {
                // Duplicates included: they leave as often as they were pushed.
                0 | 1 => {
                    let (due, slot) = (rng.below(6) * 10, rng.below(50) as Slot);
                    timers.push(due, slot);
                    heap.push(Reverse((due, slot)));
                }
                // A peek sorts the front bucket; later pushes into it go in their place.
                2 => assert_eq!(timers.peek(), heap.peek().map(|r| r.0)),
                // Only what is due by a time leaves (the world's loop as time moves on).
                3 => {
                    let t = rng.below(6) * 10;
                    let due = heap.peek().is_some_and(|r| r.0.0 <= t);
                    let expected = if due { heap.pop().map(|r| r.0) } else { None };
                    assert_eq!(timers.pop_due(t), expected);
                }
                _ => assert_eq!(timers.pop(), heap.pop().map(|r| r.0)),
            }
            if round % 5_000 == 4_999 {
                timers.clear();
                heap.clear();
            }
        }
        while let Some(Reverse(e)) = heap.pop() {
            assert_eq!(timers.pop(), Some(e));
        }
        assert_eq!(timers.pop(), None);
    }
}
