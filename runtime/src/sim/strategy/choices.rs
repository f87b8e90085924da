//! What a strategy picks from: the runnable choices of one step, in a fixed order (threads by
//! pid and tid, process exits by pid, deferred work by age, letting time pass, faults on
//! processes by pid, faults on providers).
//!
//! The world does not list them: threads and exits are read from its [`Runnable`] set (the
//! k-th one in O(log n)), faults on processes from a second one, deferred work from the
//! dispatcher's queue, so offering 10,000 runnable threads costs what offering 3 does. A strategy that wants a scan still has
//! [`Choices::iter`]; one that keeps an index of its own (PCT) reads the runnable set's log.

use super::Choice;
use crate::dispatcher::WorkItem;
use crate::sim::runnable::{Runnable, Slot};

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
