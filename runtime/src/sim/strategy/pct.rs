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
use std::collections::BTreeMap;

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
    /// Priorities by slot, and the runnable slots that have one.
    ranked: Buckets,
    /// Runnable slots that have none yet (`unseen[slot]`), and a list of them in any order,
    /// with repeats and slots that have since stopped being runnable: sorted at the next pick.
    unseen: Vec<bool>,
    unseen_list: Vec<Slot>,
}

impl Ranking {
    fn clear(&mut self) {
        self.ranked.clear();
        self.unseen.clear();
        self.unseen_list.clear();
    }

    /// Brings the sets up to date with what became runnable or stopped being since the last
    /// pick.
    fn follow(&mut self, log: &[(Slot, bool)]) {
        for &(slot, on) in log {
            match (on, self.ranked.priority(slot)) {
                (true, Some(p)) => self.ranked.enter(slot, p),
                (true, None) => {
                    let i = slot as usize;
                    if i >= self.unseen.len() {
                        self.unseen.resize(i + 1, false);
                    }
                    if !self.unseen[i] {
                        self.unseen[i] = true;
                        self.unseen_list.push(slot);
                    }
                }
                (false, Some(_)) => self.ranked.leave(slot),
                (false, None) => {
                    if let Some(u) = self.unseen.get_mut(slot as usize) {
                        *u = false;
                    }
                }
            }
        }
    }

    /// Gives runnable slots seen for the first time their priorities, in slot order.
    fn first_sight(&mut self, mut initial: impl FnMut() -> u64) {
        if self.unseen_list.is_empty() {
            return;
        }
        let mut list = std::mem::take(&mut self.unseen_list);
        list.sort_unstable();
        list.dedup();
        for slot in list.drain(..) {
            if let Some(u) = self.unseen.get_mut(slot as usize)
                && *u
            {
                *u = false;
                self.set(slot, initial());
            }
        }
        self.unseen_list = list;
    }

    /// Sets a runnable slot's priority.
    fn set(&mut self, slot: Slot, p: u64) {
        self.ranked.enter(slot, p);
    }

    /// The highest priority among runnable slots, and the first slot that has it.
    fn best(&self) -> Option<(u64, Slot)> {
        self.ranked.best()
    }
}

/// Runnable slots by priority in a bucket queue: bucket `b` holds the slots whose priorities
/// have `b` as their top bits, so the best runnable slot is in the highest non-empty bucket,
/// found through a few words of bits. PCT's initial priorities are uniform below
/// 2^`PRIORITY_BITS`, and there are about as many buckets as slots, so a bucket holds one or
/// two slots and a slot that enters or leaves costs a few steps whatever the number of slots.
/// (A tournament tree did the same in O(log n), but the slot that leaves is usually the one
/// that ran, the best, and each of those walked every level from leaf to root.) Priorities
/// that crowd one bucket (ties, the change points' low ones) cost a longer scan of it, never a
/// different answer.
#[derive(Clone, Debug, Default)]
struct Buckets {
    /// By slot: its priority, and while runnable its neighbours in its bucket (one place, so
    /// following a log reads one line per slot).
    slots: Vec<Seat>,
    /// By bucket: the first slot in it, or `NONE`.
    heads: Vec<Slot>,
    /// Which buckets hold a slot.
    occupied: Bits,
    /// A priority's bucket is the priority shifted right by this (the last one above).
    shift: u32,
}

/// A slot's standing.
#[derive(Clone, Copy, Debug, Default)]
enum Seat {
    /// No priority yet.
    #[default]
    Unranked,
    /// A priority, not runnable.
    Idle(u64),
    /// A priority, runnable: in its bucket's list.
    Runnable(Link),
}

/// A runnable slot in its bucket's list (neighbours `NONE` at the ends).
#[derive(Clone, Copy, Debug)]
struct Link {
    p: u64,
    prev: Slot,
    next: Slot,
}

/// No slot: the end of a bucket's list.
const NONE: Slot = Slot::MAX;

impl Buckets {
    fn clear(&mut self) {
        self.slots.fill(Seat::Unranked);
        self.heads.fill(NONE);
        self.occupied.clear();
    }

    fn bucket(&self, p: u64) -> usize {
        ((p >> self.shift) as usize).min(self.heads.len() - 1)
    }

    fn priority(&self, slot: Slot) -> Option<u64> {
        match self.slots.get(slot as usize)? {
            Seat::Unranked => None,
            Seat::Idle(p) | Seat::Runnable(Link { p, .. }) => Some(*p),
        }
    }

    /// Makes `slot` runnable with priority `p` (moving it if it already was).
    fn enter(&mut self, slot: Slot, p: u64) {
        if slot as usize >= self.slots.len() {
            self.grow(slot as usize + 1);
        }
        if let Seat::Runnable(link) = self.slots[slot as usize] {
            self.unlink(link);
        }
        let b = self.bucket(p);
        let next = self.heads[b];
        match self.link_mut(next) {
            Some(l) => l.prev = slot,
            None => self.occupied.insert(b),
        }
        self.heads[b] = slot;
        self.slots[slot as usize] = Seat::Runnable(Link {
            p,
            prev: NONE,
            next,
        });
    }

    /// Makes `slot` not runnable; it keeps its priority.
    fn leave(&mut self, slot: Slot) {
        if let Some(seat) = self.slots.get_mut(slot as usize)
            && let Seat::Runnable(link) = *seat
        {
            *seat = Seat::Idle(link.p);
            self.unlink(link);
        }
    }

    /// Takes a runnable slot's link out of its bucket's list.
    fn unlink(&mut self, Link { p, prev, next }: Link) {
        let b = self.bucket(p);
        match self.link_mut(prev) {
            Some(l) => l.next = next,
            None => self.heads[b] = next,
        }
        if let Some(l) = self.link_mut(next) {
            l.prev = prev;
        }
        if self.heads[b] == NONE {
            self.occupied.remove(b);
        }
    }

    fn link_mut(&mut self, slot: Slot) -> Option<&mut Link> {
        match self.slots.get_mut(slot as usize)? {
            Seat::Runnable(link) => Some(link),
            _ => None,
        }
    }

    /// The highest priority among runnable slots, and the lowest slot that has it.
    fn best(&self) -> Option<(u64, Slot)> {
        let mut slot = self.heads[self.occupied.last()?];
        let mut best: Option<(u64, Slot)> = None;
        while let Some(&Seat::Runnable(Link { p, next, .. })) = self.slots.get(slot as usize) {
            if best.is_none_or(|(bp, bs)| p > bp || (p == bp && slot < bs)) {
                best = Some((p, slot));
            }
            slot = next;
        }
        best
    }

    /// Room for `n` slots at least, with as many buckets; the priorities and runnable slots
    /// kept.
    fn grow(&mut self, n: usize) {
        let size = n.next_power_of_two().max(2 * self.slots.len()).max(64);
        let old = std::mem::replace(&mut self.slots, vec![Seat::Unranked; size]);
        self.heads = vec![NONE; size];
        self.occupied = Bits::new(size);
        self.shift = PRIORITY_BITS.saturating_sub(size.ilog2());
        for (slot, seat) in (0..).zip(old) {
            match seat {
                Seat::Unranked => {}
                Seat::Idle(p) => self.slots[slot as usize] = Seat::Idle(p),
                Seat::Runnable(Link { p, .. }) => self.enter(slot, p),
            }
        }
    }
}

/// A set of small numbers that finds its largest in a few steps: a bit per number, and above
/// them a bit per word of the level below, up to a single word.
#[derive(Clone, Debug, Default)]
struct Bits {
    /// `levels[0]` holds the numbers; the last level is one word.
    levels: Vec<Vec<u64>>,
}

impl Bits {
    /// Room for numbers below `n`.
    fn new(n: usize) -> Bits {
        let mut levels = Vec::new();
        let mut words = n.div_ceil(64).max(1);
        loop {
            levels.push(vec![0; words]);
            if words == 1 {
                return Bits { levels };
            }
            words = words.div_ceil(64);
        }
    }

    fn clear(&mut self) {
        for level in &mut self.levels {
            level.fill(0);
        }
    }

    fn insert(&mut self, mut i: usize) {
        for level in &mut self.levels {
            let word = &mut level[i / 64];
            let was = *word;
            *word |= 1 << (i % 64);
            if was != 0 {
                // The levels above have this word already.
                break;
            }
            i /= 64;
        }
    }

    fn remove(&mut self, mut i: usize) {
        for level in &mut self.levels {
            let word = &mut level[i / 64];
            *word &= !(1 << (i % 64));
            if *word != 0 {
                break;
            }
            i /= 64;
        }
    }

    fn last(&self) -> Option<usize> {
        let mut i = 0;
        for level in self.levels.iter().rev() {
            let word = *level.get(i)?;
            if word == 0 {
                return None;
            }
            i = i * 64 + 63 - word.leading_zeros() as usize;
        }
        // No levels: room for nothing yet.
        (!self.levels.is_empty()).then_some(i)
    }
}

/// Initial priorities are uniform below 2^this (plus the depth).
const PRIORITY_BITS: u32 = 40;

/// What a pick chose, to lower its priority at a change point.
#[derive(Clone, Copy)]
enum Chosen {
    Thread(Slot),
    ProcessFault(Slot),
    Other(Entity),
}

/// The PCT strategy.
///
/// Picking costs about the same at any number of entities, not a scan of them: threads and
/// exits (the world's runnable slots, one entity each) and faults on processes (a second set
/// of slots) keep their priorities in vectors indexed by slot, and the runnable ones sit in
/// bucket queues by priority, kept up to date from the runnable sets' logs; the few other
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
        u64::from(depth) + rng.below(1 << PRIORITY_BITS)
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

    /// The ranking's best is what a scan of the runnable slots finds: the highest priority,
    /// then the lowest slot; first sight hands out priorities in slot order.
    #[test]
    fn ranking_agrees_with_a_scan() {
        const N: usize = 45;
        let mut r = Ranking::default();
        let mut rng = Pcg32::from_seed(9);
        let mut runnable = [false; N];
        let mut prio: [Option<u64>; N] = [None; N];
        let mut next = 0u64;
        for round in 0..3_000 {
            let mut log = Vec::new();
            for _ in 0..1 + rng.below(4) {
                let s = rng.below(N as u64) as usize;
                runnable[s] = !runnable[s];
                log.push((s as Slot, runnable[s]));
            }
            r.follow(&log);
            let mut given = Vec::new();
            r.first_sight(|| {
                next += 1;
                // Few distinct priorities, so ties are decided by slot.
                let p = next % 7;
                given.push(p);
                p
            });
            let mut expected_given = Vec::new();
            for s in 0..N {
                if runnable[s] && prio[s].is_none() {
                    let p = given[expected_given.len()];
                    expected_given.push(p);
                    prio[s] = Some(p);
                }
            }
            assert_eq!(given, expected_given);
            let scan = (0..N)
                .filter(|s| runnable[*s])
                .filter_map(|s| Some((prio[s]?, s as Slot)))
                .fold(None, |best: Option<(u64, Slot)>, (p, s)| match best {
                    Some((bp, _)) if bp >= p => best,
                    _ => Some((p, s)),
                });
            assert_eq!(r.best(), scan, "round {round}");
            if let Some((_, s)) = scan
                && round % 5 == 0
            {
                r.set(s, 0);
                prio[s as usize] = Some(0);
            }
            if round == 1_500 {
                r.clear();
                runnable = [false; N];
                prio = [None; N];
            }
        }
    }

    /// The bucket queue's best and priorities are the reference model's: the highest priority,
    /// then the lowest slot, through random entries (again with a new priority), leaves (that
    /// keep the priority), growth past the buckets there were and clears, with priorities that
    /// tie, crowd one bucket or lie beyond the range the buckets are cut for.
    #[test]
    fn buckets_agree_with_a_model() {
        let mut b = Buckets::default();
        // Priorities by slot, and whether runnable.
        let mut model: BTreeMap<Slot, (u64, bool)> = BTreeMap::new();
        let mut rng = Pcg32::from_seed(5);
        for round in 0..20_000 {
            let bound = if round < 2_000 { 40 } else { 700 };
            let slot = rng.below(bound) as Slot;
            match rng.below(10) {
                0..=4 => {
                    let p = match rng.below(5) {
                        0 => rng.below(4),
                        1 => u64::MAX - rng.below(2),
                        2 => (1 << PRIORITY_BITS) + rng.below(3),
                        _ => rng.below(1 << PRIORITY_BITS),
                    };
                    b.enter(slot, p);
                    model.insert(slot, (p, true));
                }
                5..=8 => {
                    b.leave(slot);
                    if let Some((_, on)) = model.get_mut(&slot) {
                        *on = false;
                    }
                }
                _ if round % 4_999 == 0 => {
                    b.clear();
                    model.clear();
                }
                _ => {}
            }
            let expected = model.iter().filter(|(_, (_, on))| *on).fold(
                None,
                |best: Option<(u64, Slot)>, (&s, &(p, _))| match best {
                    Some((bp, _)) if bp >= p => best,
                    _ => Some((p, s)),
                },
            );
            assert_eq!(b.best(), expected, "round {round}");
            let other = rng.below(bound) as Slot;
            assert_eq!(b.priority(other), model.get(&other).map(|(p, _)| *p));
        }
    }

    /// The bit set's largest is the reference set's, at sizes of one, two and three levels.
    #[test]
    fn bits_agree_with_a_model() {
        let mut rng = Pcg32::from_seed(3);
        for n in [1, 64, 65, 4_096, 4_097, 300_000] {
            let mut bits = Bits::new(n);
            let mut model = std::collections::BTreeSet::new();
            for _ in 0..5_000 {
                // Mostly near the top, so the words there fill and empty again.
                let i = if rng.below(2) == 0 {
                    n - 1 - rng.below(n.min(200) as u64) as usize
                } else {
                    rng.below(n as u64) as usize
                };
                if model.insert(i) {
                    bits.insert(i);
                } else {
                    model.remove(&i);
                    bits.remove(i);
                }
                assert_eq!(bits.last(), model.last().copied(), "n {n}");
            }
            bits.clear();
            assert_eq!(bits.last(), None);
        }
    }
}
