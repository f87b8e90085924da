//! What a strategy picks from: the runnable choices of one step, in a fixed order (threads by
//! pid and tid, process exits by pid, deferred work by age, letting time pass, faults on
//! processes by pid, faults on providers).
//!
//! The world does not list them: threads and exits are read from its [`Runnable`] set (the
//! k-th one in O(log n)), faults on processes from a second one, deferred work from the
//! dispatcher's queue, so offering 10,000 runnable threads costs what offering 3 does. A strategy that wants a scan still has
//! [`Choices::iter`]; one that keeps an index of its own (PCT) reads the runnable set's log.

use super::{Actor, Choice, Move};
use crate::dispatcher::WorkItem;
use crate::event::Pid;
use crate::sim::faults::Fault;
use crate::sim::runnable::{Runnable, Slot};
use crate::sim::world::FAULTS_PER_PROCESS;

/// The runnable choices of one step.
#[derive(Clone, Copy, Debug)]
pub struct Choices<'a> {
    /// Threads and exits; `None` for a plain list.
    runnable: Option<&'a Runnable>,
    work: &'a [WorkItem],
    tick: Option<u64>,
    /// Faults on processes (the world's set, offered or not: a strategy follows its log).
    process_faults: Option<&'a Runnable>,
    /// Whether they are among the choices.
    faults_offered: bool,
    /// Faults on providers; for a plain list, the whole list.
    rest: &'a [Choice],
    /// Where each process's thread slots start (`[pid - 1]`, and one past the last thread
    /// at the end); empty when unknown. Exit slots follow the threads, one per process.
    thread_starts: &'a [u32],
}

impl<'a> Choices<'a> {
    /// A plain list (tests, and callers with a handful of choices).
    pub fn list(choices: &'a [Choice]) -> Choices<'a> {
        Choices {
            runnable: None,
            work: &[],
            tick: None,
            process_faults: None,
            faults_offered: false,
            rest: choices,
            thread_starts: &[],
        }
    }

    /// The world's choices: its runnable threads and exits, the dispatcher's deferred work,
    /// letting time pass to `tick`, and when `faults_offered`, faults on processes and on
    /// providers.
    pub(crate) fn of_world(
        runnable: &'a Runnable,
        work: &'a [WorkItem],
        tick: Option<u64>,
        process_faults: &'a Runnable,
        faults_offered: bool,
        provider_faults: &'a [Choice],
    ) -> Choices<'a> {
        Choices {
            runnable: Some(runnable),
            work,
            tick,
            process_faults: Some(process_faults),
            faults_offered,
            rest: provider_faults,
            thread_starts: &[],
        }
    }

    /// Where each process's thread slots start, so [`Choices::find_move`] looks at one
    /// process's slots instead of every thread's.
    pub(crate) fn with_threads(self, thread_starts: &'a [u32]) -> Choices<'a> {
        Choices {
            thread_starts,
            ..self
        }
    }

    /// The index of the first choice that makes move `m` (`Move::of(choice) == m`): the same
    /// answer as `position(|c| Move::of(c) == m)`, but a thread's move looks at its process's
    /// slots alone (by rank, O(log n)), a fault on a process at its fault slots, and time at
    /// its one place. Catalog steps, which name no process, and deferred work are scanned.
    pub fn find_move(&self, m: &Move) -> Option<usize> {
        let same = |c: &Choice| Move::of(c) == *m;
        let Some(r) = self.runnable else {
            return self.position(same);
        };
        match *m {
            Move::Step(actor) => {
                let pid = match actor {
                    Actor::Thread(p, _)
                    | Actor::Exit(p, _)
                    | Actor::Advertise(p, _)
                    | Actor::Unadvertise(p, _) => p,
                    // Only thread and exit slots offer steps.
                    _ => return r.iter().position(|(_, c)| same(&c)),
                };
                let Some((threads, exit)) = self.slots_of(pid) else {
                    return r.iter().position(|(_, c)| same(&c));
                };
                threads
                    .chain(std::iter::once(exit))
                    .find(|s| r.choice(*s).is_some_and(|c| same(&c)))
                    .map(|s| r.rank(s))
            }
            Move::Tick => self.tick.map(|_| self.slots() + self.work.len()),
            Move::Work { .. } => self.middle().find(|(_, c)| same(c)).map(|(i, _)| i),
            Move::Fault(
                Fault::Crash(p) | Fault::Kill(p) | Fault::Exit(p) | Fault::HostCrash(p),
            ) => {
                let f = self.process_faults()?;
                let first = (p.0 as usize).checked_sub(1)? * FAULTS_PER_PROCESS;
                (first..first + FAULTS_PER_PROCESS)
                    .map(|s| s as Slot)
                    .find(|s| f.choice(*s).is_some_and(|c| same(&c)))
                    .map(|s| self.index_of_fault_slot(s))
            }
            Move::Fault(_) => self.rest().find(|(_, c)| same(c)).map(|(i, _)| i),
        }
    }

    /// Process `pid`'s thread slots and its exit slot, when the world said where they are.
    fn slots_of(&self, pid: Pid) -> Option<(std::ops::Range<Slot>, Slot)> {
        let i = (pid.0 as usize).checked_sub(1)?;
        let start = *self.thread_starts.get(i)?;
        let end = *self.thread_starts.get(i + 1)?;
        let threads_total = *self.thread_starts.last()?;
        Some((start..end, threads_total + i as Slot))
    }

    /// The index of the first choice that satisfies `pred` among deferred work and letting
    /// time pass (for a plain list: among all of it). Threads, exits and faults are passed
    /// over, so `pred` must hold for none of them.
    pub fn position_in_middle(&self, pred: impl FnMut(&Choice) -> bool) -> Option<usize> {
        let mut pred = pred;
        if self.runnable.is_none() {
            return self.position(pred);
        }
        self.middle().find(|(_, c)| pred(c)).map(|(i, _)| i)
    }

    /// The index of the first thread or exit step (for a plain list: the first `Step`).
    pub fn first_step(&self) -> Option<usize> {
        match self.runnable {
            // Every runnable slot offers a step, and nothing else does.
            Some(r) => (!r.is_empty()).then_some(0),
            None => self.position(|c| matches!(c, Choice::Step { .. })),
        }
    }

    fn slots(&self) -> usize {
        self.runnable.map_or(0, Runnable::len)
    }

    /// Where faults on processes start.
    fn faults_at(&self) -> usize {
        self.slots() + self.work.len() + usize::from(self.tick.is_some())
    }

    fn fault_slots(&self) -> usize {
        self.process_faults().map_or(0, Runnable::len)
    }

    pub fn len(&self) -> usize {
        self.faults_at() + self.fault_slots() + self.rest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th choice.
    pub fn get(&self, i: usize) -> Option<Choice> {
        let mut i = i;
        if let Some(r) = self.runnable {
            if i < r.len() {
                return r.select(i).and_then(|s| r.choice(s));
            }
            i -= r.len();
        }
        if let Some(w) = self.work.get(i) {
            return Some(work_choice(w));
        }
        i -= self.work.len();
        if let Some(to) = self.tick {
            if i == 0 {
                return Some(Choice::Tick { to });
            }
            i -= 1;
        }
        if let Some(r) = self.process_faults() {
            if i < r.len() {
                return r.select(i).and_then(|s| r.choice(s));
            }
            i -= r.len();
        }
        self.rest.get(i).copied()
    }

    /// Every choice, in order (a walk over every thread: for strategies that scan).
    pub fn iter(&self) -> impl Iterator<Item = Choice> + 'a {
        let slots = self
            .runnable
            .into_iter()
            .flat_map(|r| r.iter().map(|(_, c)| c));
        let faults = self
            .process_faults()
            .into_iter()
            .flat_map(|r| r.iter().map(|(_, c)| c));
        slots
            .chain(self.middle().map(|(_, c)| c))
            .chain(faults)
            .chain(self.rest().map(|(_, c)| c))
    }

    /// The index of the first choice that satisfies `pred`.
    pub fn position(&self, pred: impl FnMut(&Choice) -> bool) -> Option<usize> {
        let mut pred = pred;
        self.iter().position(|c| pred(&c))
    }

    /// The runnable set behind the thread and exit choices, if any.
    pub(crate) fn runnable(&self) -> Option<&'a Runnable> {
        self.runnable
    }

    /// The faults on processes, if they are offered.
    pub(crate) fn process_faults(&self) -> Option<&'a Runnable> {
        self.process_faults.filter(|_| self.faults_offered)
    }

    /// What changed among the faults on processes since the last pick, offered or not.
    pub(crate) fn process_faults_log(&self) -> Option<&'a [(Slot, bool)]> {
        self.process_faults.map(Runnable::log)
    }

    /// The index of a runnable slot's choice.
    pub(crate) fn index_of_slot(&self, slot: Slot) -> usize {
        self.runnable.map_or(0, |r| r.rank(slot))
    }

    /// The index of a fault slot's choice.
    pub(crate) fn index_of_fault_slot(&self, slot: Slot) -> usize {
        self.faults_at() + self.process_faults().map_or(0, |r| r.rank(slot))
    }

    /// Deferred work and letting time pass, with their indices.
    pub(crate) fn middle(&self) -> impl Iterator<Item = (usize, Choice)> + 'a {
        let work = self.work.iter().map(work_choice);
        let tick = self.tick.map(|to| Choice::Tick { to });
        let base = self.slots();
        work.chain(tick)
            .enumerate()
            .map(move |(i, c)| (base + i, c))
    }

    /// Faults on providers (or a whole plain list), with their indices.
    pub(crate) fn rest(&self) -> impl Iterator<Item = (usize, Choice)> + 'a {
        let base = self.faults_at() + self.fault_slots();
        self.rest
            .iter()
            .enumerate()
            .map(move |(i, c)| (base + i, *c))
    }
}

fn work_choice(w: &WorkItem) -> Choice {
    Choice::Work {
        id: w.id,
        provider: w.provider,
        serves: w.serves,
    }
}
