//! The simulated world: one thread runs every process of a scenario over the sans-IO
//! dispatcher, under a [`Strategy`].
//!
//! - Processes are started at t = 0, in pid order: declared `[[host]]`s, implicit hosts, then
//!   `[[process]]`es. Implicit hosts start, advertise their installed providers and stay up.
//! - At every step the strategy picks one runnable choice: a thread whose next step is due, or
//!   a provider's deferred work item (S6.3). A thread step that makes an API call costs
//!   [`STEP_US`] of virtual time; `sleep` and `expect` are not choices (they produce no event)
//!   and run as soon as the step before them finishes. When nothing is runnable, virtual time
//!   jumps to the next thread that is due; when only deferred work is runnable, letting time
//!   pass first is one more choice, so a completion can come after a sleeping thread wakes.
//! - A thread whose call waits for an async completion is not runnable until the dispatcher
//!   wakes it. A process exits (as with `exit`) when all its threads have run out of steps
//!   (a script that ends in a `sleep` is over that long after its last call), except implicit
//!   hosts, which stay up.
//! - A run may be told to stop after the step in which its first failure shows
//!   ([`RunOptions::stop_at_failure`]), as exploration does.
//! - Exploration may inject faults ([`super::faults`]) as choices of their own; after the
//!   first one, `expect` steps are no longer checked (they describe fault-free behaviour).
//! - Every choice goes through the strategy and nothing else decides anything, so (scenario,
//!   seed, strategy) fixes the run, byte for byte.
//! - A step costs the same with 3 processes as with 10,000: which threads, exits and faults
//!   can move is kept up to date as they change ([`super::runnable`]; the slots a step touched
//!   are refreshed at its end, and threads waiting for their time sit in a timer queue,
//!   [`super::timers`]), never rebuilt by walking every thread.
//! - A thread keeps a run's scheduling buffers for its next run ([`Room`]): exploration makes
//!   thousands of short runs per worker. Only their room is kept; every buffer is emptied or
//!   reset before use, so a run is the same on a fresh thread as after any other run.

use super::faults::{Fault, FaultPlan, InjectedFaultKind, KindSet};
use super::runnable::{Runnable, Slot};
use super::strategy::{Actor, Choice, Choices, Strategy};
use super::timers::Timers;
use crate::checker::{self, ExpectStep, Got};
use crate::config::Config;
use crate::dispatcher::DispatcherRoom;
use crate::event::{Event, EventSink, ExitHow, Pid, Role, Tid};
use crate::provider::HarnessFailure;
use crate::registry::Providers;
use crate::scenario::{Expectation, Scenario, Step};
use crate::script::{
    self, Handles, LookupCursor, LoopStep, Observer, Observing, Outcome, Performed,
};
pub use crate::script::{RunError, catalog_entry};
use crate::wsa::QuerySet;
use crate::{ApiError, Dispatcher, Wake, WakeOutcome};

use std::ops::Range;

/// Virtual time one API call takes.
pub const STEP_US: u64 = 10;

/// The default bound on scheduling steps: a run that needs more is reported as a livelock.
pub const DEFAULT_MAX_STEPS: u64 = 1_000_000;

/// Exploration's step limit for a scenario of few scripted steps: a livelocking seed is given
/// up sooner than a run's, since exploration meets many.
pub const EXPLORE_MAX_STEPS: u64 = 100_000;

/// Moves a scripted step may take in a run without any livelock: a lookup is a Begin, a NextEx
/// per result and one more, and an End, any of them waiting for a deferred completion.
const MOVES_PER_STEP: u64 = 16;

/// Exploration's step limit for `scenario` when none is given: [`EXPLORE_MAX_STEPS`], or 16
/// moves per scripted step (hosts' and clients') when that is more. A large scenario needs it:
/// 10,000 clients of four steps each make 110,000 moves with no livelock at all. A lookup of
/// many results may take more moves than 16; `--max-steps` is there for it.
pub fn explore_max_steps(scenario: &Scenario) -> u64 {
    let hosts: usize = scenario.hosts.iter().map(|h| h.steps.len()).sum();
    let clients: usize = scenario
        .processes
        .iter()
        .map(|p| p.steps.len() + p.threads.iter().map(|t| t.steps.len()).sum::<usize>())
        .sum();
    let scripted = hosts + clients;
    EXPLORE_MAX_STEPS
        .max(u64::try_from(scripted).map_or(u64::MAX, |n| n.saturating_mul(MOVES_PER_STEP)))
}

/// [`RunReport::stopped`] of a run stopped at its first failure.
pub const STOPPED_AT_FAILURE: &str = "stopped at the first failure";

/// How a run ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Scheduling steps taken.
    pub steps: u64,
    /// Virtual time at the end (µs).
    pub end_time: u64,
    /// Failed `expect` steps, one sentence each (also written to the trace as violations).
    pub expect_failures: Vec<String>,
    /// Threads still waiting in a call that nothing will complete.
    pub stuck: Vec<String>,
    /// Why the run stopped early (step limit, or a replay that could not go on).
    pub stopped: Option<String>,
}

impl RunReport {
    pub fn stopped_at_failure(&self) -> bool {
        self.stopped.as_deref() == Some(STOPPED_AT_FAILURE)
    }

    pub fn hit_step_limit(&self) -> bool {
        self.stopped
            .as_deref()
            .is_some_and(|s| s.starts_with("step limit"))
    }
}

/// The dispatcher configuration a scenario asks for.
pub fn config_of(scenario: &Scenario) -> Config {
    Config {
        profile: scenario.profile,
        startup_policy: scenario.startup_policy,
    }
}

/// Fault slots per process: a process's are `(pid - 1) * FAULTS_PER_PROCESS` on.
pub(crate) const FAULTS_PER_PROCESS: usize = 3;

/// The faults that may strike a process of this role, in the order they are offered, one
/// per fault slot.
fn process_faults(
    role: Role,
    pid: Pid,
) -> [Option<(InjectedFaultKind, Fault)>; FAULTS_PER_PROCESS] {
    match role {
        Role::Client => [
            Some((InjectedFaultKind::Crash, Fault::Crash(pid))),
            Some((InjectedFaultKind::Kill, Fault::Kill(pid))),
            Some((InjectedFaultKind::Exit, Fault::Exit(pid))),
        ],
        Role::Host => [
            Some((InjectedFaultKind::HostCrash, Fault::HostCrash(pid))),
            None,
            None,
        ],
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ThreadState {
    /// Its next step is due at `ready_at`.
    Ready,
    /// In a call waiting for an async completion.
    Waiting,
    /// Out of steps.
    Done,
}

/// One scripted thread. What deciding whether it can move reads ([`World::slot_state`]) comes
/// first, in declaration order (`repr(C)`: 32 bytes), then the `lookup` step in progress (its
/// cursor's fields that every call reads come first), then the last outcome, which only the
/// end of a step writes. Aligned to a cache line, so that a lookup's call reads the first two
/// lines of its thread and nothing else of the world's: when time moves on, every waiting
/// thread is looked at, and with thousands of clients each line read is a miss. (The lookup's
/// query is not kept here, nor in a box of its own: only its Begin reads it, from
/// [`Room::query`].) It borrows nothing, so the threads' vector is kept by the thread for its
/// next run ([`Room::threads`]), and aligned room is not asked of the allocator every run.
#[repr(C, align(64))]
struct ThreadRun {
    pid: Pid,
    tid: Tid,
    /// Its script: an index into [`World::scripts`].
    script: u32,
    state: ThreadState,
    /// Its process has not ended: [`ProcRun::alive`], copied here so that deciding whether
    /// the thread can move reads this record only (the process's is another miss).
    alive: bool,
    /// In a `lookup` step: `lookup` is its cursor.
    in_lookup: bool,
    pc: usize,
    ready_at: u64,
    /// The `lookup` step in progress, when `in_lookup`; otherwise the last one's, ready to be
    /// restarted in place (building a cursor and moving it here cost a copy of it per lookup).
    lookup: LookupCursor,
    /// The outcome of its last call step; `None` before the first, and after a step that
    /// was not run (an `expect` after it is not judged).
    last: Option<Outcome>,
}

impl ThreadRun {
    /// The record becomes a new thread's, as if just made: every field is named (so one added
    /// later cannot be left out) and reset, but the cursor, which is not read before a
    /// `lookup` step restarts it ([`LookupCursor::restart`] sets every field of it).
    fn start(&mut self, pid: Pid, tid: Tid, script: u32) {
        let ThreadRun {
            pid: thread_pid,
            tid: thread_tid,
            script: thread_script,
            state,
            alive,
            in_lookup,
            pc,
            ready_at,
            lookup: _,
            last,
        } = self;
        *thread_pid = pid;
        *thread_tid = tid;
        *thread_script = script;
        *state = ThreadState::Ready;
        *alive = true;
        *in_lookup = false;
        *pc = 0;
        *ready_at = 0;
        *last = None;
    }
}

struct ProcRun<'a> {
    /// Borrowed from the scenario.
    name: &'a str,
    /// Its threads' indices in [`World::threads`] (a process's threads are listed together).
    threads: Range<usize>,
    role: Role,
    /// Implicit hosts stay up when they run out of steps.
    stays_up: bool,
    alive: bool,
    /// Handles named by `lookup_begin … as`.
    handles: Handles,
    /// A pending implicit exit (all threads ran out of steps).
    exiting: bool,
    /// When that exit is due: a script that ends with a `sleep` keeps its process up until
    /// the sleep is over.
    exit_at: u64,
}

/// A scenario being run.
pub struct World<'a, S: EventSink> {
    scenario: &'a Scenario,
    /// Where provider instances come from (a registry, or factories prepared once).
    providers: &'a dyn Providers,
    d: Dispatcher<S>,
    threads: Vec<ThreadRun>,
    /// The threads' scripts, borrowed from the scenario (scripts are only read), each once:
    /// the threads one template made share one ([`script::SetUpPlan`]).
    scripts: Vec<&'a [Step]>,
    procs: Vec<ProcRun<'a>>,
    now: u64,
    report: RunReport,
    emitted: u64,
    /// Faults injected so far. An `expect` describes fault-free behaviour, so once a fault
    /// has struck, later `expect`s are not checked.
    faults_injected: u64,
    /// The fault kinds the run's plan has on.
    faults: KindSet,
    /// The run's scheduling buffers, kept by the thread for its next run ([`Room`]).
    room: Room,
}

/// Counts the events that pass (but `violation` lines, which are verdicts, not moves), so a
/// replay strategy knows where it is; and lets the [`Observer`] see them (for `expect`).
struct Counting<S> {
    inner: S,
    count: u64,
    observer: Observer,
    /// The observer needs events even when the inner sink discards them.
    observed: bool,
}

impl<S: EventSink> EventSink for Counting<S> {
    #[inline]
    fn record(&mut self, t: u64, event: Event) {
        if !matches!(event, Event::Violation { .. }) {
            self.count += 1;
        }
        self.observer.observe(&event);
        self.inner.record(t, event);
    }
    fn enabled(&self) -> bool {
        self.observed || self.inner.enabled()
    }
    fn failed(&self) -> bool {
        self.inner.failed()
    }

    fn wants_details(&self) -> bool {
        self.inner.wants_details()
    }
}

impl<S: EventSink> Observing for Counting<S> {
    fn observer(&mut self) -> &mut Observer {
        &mut self.observer
    }
}

/// Runs `scenario` under `strategy` with `seed`, sending every event to `sink`. Returns the
/// report and the sink (for the caller to finish). `providers` is usually the registry.
pub fn run<S: EventSink>(
    scenario: &Scenario,
    providers: &dyn Providers,
    strategy: &mut dyn Strategy,
    seed: u64,
    sink: S,
    max_steps: u64,
) -> Result<(RunReport, S), RunError> {
    let options = RunOptions {
        seed,
        max_steps,
        faults: FaultPlan::none(),
        free_time: false,
        stop_at_failure: false,
    };
    run_with(scenario, providers, strategy, sink, &options)
}

/// What a run is told besides its scenario.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub seed: u64,
    pub max_steps: u64,
    /// Faults the scheduler may inject (exploration; replays offer every kind).
    pub faults: FaultPlan,
    /// Letting time pass is a choice at every step, not only when only deferred work can run
    /// (replaying a live trace, whose threads moved in real time).
    pub free_time: bool,
    /// Stop after the scheduling step in which the sink first reports a failure
    /// ([`EventSink::failed`]): exploration wants the failure, not its aftermath. The report
    /// says so in `stopped`, and the trace of such a run is cut short (no `end` line).
    pub stop_at_failure: bool,
}

/// [`run`] with faults.
pub fn run_with<S: EventSink>(
    scenario: &Scenario,
    providers: &dyn Providers,
    strategy: &mut dyn Strategy,
    sink: S,
    options: &RunOptions,
) -> Result<(RunReport, S), RunError> {
    run_planned(&RunPlan::new(scenario), providers, strategy, sink, options)
}

/// What the runs of one scenario share, worked out from the scenario alone (what set-up and
/// the [`Observer`] need, the dispatcher's configuration): exploration runs one scenario
/// thousands of times, and makes this once for them all ([`run_planned`]).
#[derive(Clone, Debug)]
pub struct RunPlan<'a> {
    set_up: script::SetUpPlan<'a>,
    /// A run's observer before its first event.
    observer: Observer,
    config: Config,
}

impl<'a> RunPlan<'a> {
    pub fn new(scenario: &'a Scenario) -> RunPlan<'a> {
        RunPlan {
            set_up: script::SetUpPlan::new(scenario),
            observer: Observer::for_scenario(scenario),
            config: config_of(scenario),
        }
    }

    /// The scenario it runs.
    pub fn scenario(&self) -> &'a Scenario {
        self.set_up.scenario()
    }
}

/// [`run_with`], by a plan made once for many runs of its scenario.
pub fn run_planned<S: EventSink>(
    plan: &RunPlan<'_>,
    providers: &dyn Providers,
    strategy: &mut dyn Strategy,
    sink: S,
    options: &RunOptions,
) -> Result<(RunReport, S), RunError> {
    let scenario = plan.scenario();
    let (seed, max_steps) = (options.seed, options.max_steps);
    let observer = plan.observer.clone();
    let counting = Counting {
        inner: sink,
        count: 0,
        observed: observer.keeps_results(),
        observer,
    };
    let mut room: Room = ROOM.with_borrow_mut(Option::take).unwrap_or_default();
    let tables = std::mem::take(&mut room.dispatcher);
    let mut world = World {
        scenario,
        providers,
        d: Dispatcher::with_room(plan.config, counting, tables),
        threads: std::mem::take(&mut room.threads),
        scripts: Vec::new(),
        procs: Vec::new(),
        now: 0,
        report: RunReport::default(),
        emitted: 0,
        faults_injected: 0,
        faults: options.faults.kind_set(),
        room,
    };
    // One buffer for the faults offered at a step, reused from step to step.
    let mut faults = Vec::new();
    strategy.begin(seed);
    // A provider whose code can no longer be run, by no doing of its own, abandons the run
    // (`HarnessFailure`): it unwinds from the provider call to here, past every frame that
    // would otherwise judge it.
    let driven = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        world.setup(&plan.set_up)?;
        loop {
            world.emitted = world.d.sink().count;
            if world.report.steps >= max_steps {
                world.report.stopped = Some(format!(
                    "step limit of {max_steps} reached: the run does not end (a livelock?)"
                ));
                break;
            }
            let plan = &options.faults;
            let offer_faults = !plan.is_none()
                && (plan.rate_ppm >= 1_000_000
                    || strategy.draw(1_000_000) < u64::from(plan.rate_ppm));
            let movable = !world.room.runnable.is_empty() || !world.d.pending_work().is_empty();
            // Only deferred work can run now: letting time pass first is a choice too (S6.3).
            let tick = if movable && (options.free_time || world.room.runnable.is_empty()) {
                world.next_due()
            } else {
                None
            };
            faults.clear();
            let offer_faults = offer_faults && movable;
            if offer_faults {
                world.provider_fault_choices(&mut faults);
            }
            if !movable {
                match world.next_due() {
                    Some(t) => {
                        world.advance(t);
                        continue;
                    }
                    None => break,
                }
            }
            let choices = Choices::of_world(
                &world.room.runnable,
                world.d.pending_work(),
                tick,
                &world.room.process_faults,
                offer_faults,
                &faults,
            )
            .with_threads(&world.room.thread_starts);
            let Some(choice) = strategy
                .pick(&choices, world.emitted)
                .and_then(|i| choices.get(i))
            else {
                world.report.stopped = Some(
                    strategy
                        .stop_reason()
                        .unwrap_or_else(|| "the strategy stopped the run".to_string()),
                );
                break;
            };
            world.room.runnable.clear_log();
            world.room.process_faults.clear_log();
            world.report.steps += 1;
            world.execute(choice);
            if options.stop_at_failure && world.d.sink().failed() {
                world.report.stopped = Some(STOPPED_AT_FAILURE.to_string());
                break;
            }
        }
        world.finish();
        Ok(())
    }));
    match driven {
        Ok(result) => result?,
        Err(payload) => match payload.downcast::<HarnessFailure>() {
            Ok(h) => return Err(RunError::Abandoned { detail: h.detail }),
            Err(other) => std::panic::resume_unwind(other),
        },
    }
    let (sink, tables) = world.d.into_parts();
    world.room.dispatcher = tables;
    world.room.threads = std::mem::take(&mut world.threads);
    ROOM.set(Some(world.room));
    Ok((world.report, sink.inner))
}

/// The buffers a run grows that borrow nothing from its scenario, kept by the thread for its
/// next run: exploration makes thousands of short runs on each worker, and starting each with
/// the room the last one grew saves a score of allocations per seed. Only room is kept: a run
/// empties every buffer before use ([`World::setup`], [`Dispatcher::with_room`]), and a Begin's
/// query is filled from its step before it is read ([`LookupCursor::restart`]), so no run
/// depends on the one before. A run that fails to set up, or is abandoned, does not give its
/// room back.
#[derive(Default)]
struct Room {
    /// The threads' records (emptied by [`World::setup`]).
    threads: Vec<ThreadRun>,
    /// The dispatcher's tables ([`DispatcherRoom`]: emptied when a run ends, and again when
    /// the next one builds its dispatcher).
    dispatcher: DispatcherRoom,
    /// Wakes being delivered, kept between steps so that polling allocates nothing.
    wakes: Vec<Wake>,
    /// The query of the next lookup's Begin, filled from its step when the step starts
    /// ([`LookupCursor::restart`]): one for every lookup of the run, since only a Begin reads
    /// it. Boxed: the room moves into the world and back at every run.
    query: Box<QuerySet>,
    /// The threads and exits that can move now (slots: threads, then one exit per process).
    runnable: Runnable,
    /// Slots whose state changed during the current step, to bring `runnable` up to date.
    dirty: Vec<Slot>,
    /// When slots that are waiting for their time are due, earliest first. An entry whose
    /// slot has since changed is stale, and dropped when it comes up.
    timers: Timers,
    /// The due time each slot has an entry for in `timers`, so none is pushed twice.
    armed: Vec<Option<u64>>,
    /// The faults the plan allows on each live process ([`FAULTS_PER_PROCESS`] slots each),
    /// kept up to date as processes exit, so offering them does not walk every process.
    process_faults: Runnable,
    /// Where each process's thread slots start (process `pid` has slots
    /// `thread_starts[pid - 1]..thread_starts[pid]`), so a strategy finds a thread's choice
    /// without a scan.
    thread_starts: Vec<u32>,
}

thread_local! {
    /// This thread's [`Room`], between runs.
    static ROOM: std::cell::RefCell<Option<Room>> = const { std::cell::RefCell::new(None) };
}

impl<'a, S: Observing> World<'a, S> {
    fn setup(&mut self, plan: &script::SetUpPlan<'a>) -> Result<(), RunError> {
        self.procs.reserve(plan.scenario().processes.len());
        // The last run's thread records are taken over in place (a new record moved into
        // the vector is a copy of a few cache lines), then the vector is cut to this run's.
        let mut used = 0;
        let (threads, procs, scripts) = (&mut self.threads, &mut self.procs, &mut self.scripts);
        script::set_up_planned(&mut self.d, plan, self.providers, |p| {
            let first = used;
            for (tid, steps) in p.threads {
                // The plan hands the threads of one template the same script (the same slice),
                // one process after the other.
                let script = match scripts.last() {
                    Some(last) if std::ptr::eq(*last, steps) => scripts.len() - 1,
                    _ => {
                        scripts.push(steps);
                        scripts.len() - 1
                    }
                };
                let script = u32::try_from(script).unwrap_or(u32::MAX);
                match threads.get_mut(used) {
                    Some(t) => t.start(p.pid, tid, script),
                    None => threads.push(ThreadRun {
                        pid: p.pid,
                        tid,
                        script,
                        pc: 0,
                        ready_at: 0,
                        state: ThreadState::Ready,
                        alive: true,
                        last: None,
                        in_lookup: false,
                        lookup: LookupCursor::idle(),
                    }),
                }
                used += 1;
            }
            procs.push(ProcRun {
                name: p.name,
                threads: first..used,
                role: p.role,
                stays_up: p.stays_up,
                alive: true,
                handles: Handles::new(),
                exiting: false,
                exit_at: 0,
            });
        })?;
        self.threads.truncate(used);
        let slots = self.threads.len() + self.procs.len();
        self.room.wakes.clear();
        self.room.thread_starts.clear();
        self.room.thread_starts.extend(
            self.procs
                .iter()
                .map(|p| p.threads.start as u32)
                .chain(std::iter::once(self.threads.len() as u32)),
        );
        self.room.runnable.reset(slots);
        self.room.armed.clear();
        self.room.armed.resize(slots, None);
        self.room.timers.clear();
        self.room.dirty.clear();
        // `sleep`/`expect` at the head of a script run before the first choice.
        for i in 0..self.threads.len() {
            self.run_eager(i);
        }
        self.room.dirty.clear();
        for slot in 0..slots {
            self.refresh(slot as Slot);
        }
        self.room
            .process_faults
            .reset(self.procs.len() * FAULTS_PER_PROCESS);
        for (i, p) in self.procs.iter().enumerate() {
            let pid = Pid(i as u32 + 1);
            for (j, offered) in process_faults(p.role, pid).into_iter().enumerate() {
                if let Some((kind, fault)) = offered
                    && self.faults.has(kind)
                {
                    let slot = (i * FAULTS_PER_PROCESS + j) as Slot;
                    self.room
                        .process_faults
                        .set(slot, Some(Choice::Fault(fault)));
                }
            }
        }
        Ok(())
    }

    /// The exit slot of process `pid`.
    fn exit_slot(&self, pid: Pid) -> Slot {
        (self.threads.len() + (pid.0 as usize).saturating_sub(1)) as Slot
    }

    /// Thread `i` changed: its choice is brought up to date at the end of the step.
    fn touch(&mut self, i: usize) {
        self.mark_dirty(i as Slot);
    }

    fn mark_dirty(&mut self, slot: Slot) {
        // A step touches its thread several times in a row: once is enough.
        if self.room.dirty.last() != Some(&slot) {
            self.room.dirty.push(slot);
        }
    }

    /// What `slot` offers now, or when it is due if it waits for its time.
    fn slot_state(&self, slot: Slot) -> (Option<Choice>, Option<u64>) {
        let i = slot as usize;
        if let Some(t) = self.threads.get(i) {
            if !t.alive || t.state != ThreadState::Ready {
                return (None, None);
            }
            if t.ready_at > self.now {
                return (None, Some(t.ready_at));
            }
            let choice = self.actor_of(t).map(|actor| Choice::Step {
                pid: t.pid,
                tid: t.tid,
                actor,
                step: u32::try_from(t.pc).unwrap_or(u32::MAX),
            });
            return (choice, None);
        }
        let p = i - self.threads.len();
        match self.procs.get(p) {
            // A process whose threads all ran out of steps exits, as a choice of its own.
            Some(proc) if proc.alive && proc.exiting => {
                if proc.exit_at > self.now {
                    return (None, Some(proc.exit_at));
                }
                let pid = Pid(p as u32 + 1);
                let choice = Choice::Step {
                    pid,
                    tid: Tid(0),
                    actor: Actor::Exit(pid, ExitHow::Exit),
                    step: 0,
                };
                (Some(choice), None)
            }
            _ => (None, None),
        }
    }

    /// Brings `slot`'s choice up to date, and arms its timer if it waits for its time.
    fn refresh(&mut self, slot: Slot) {
        let (choice, due) = self.slot_state(slot);
        self.room.runnable.set(slot, choice);
        if let Some(t) = due
            && let Some(armed) = self.room.armed.get_mut(slot as usize)
            && *armed != Some(t)
        {
            *armed = Some(t);
            self.room.timers.push(t, slot);
        }
    }

    fn refresh_dirty(&mut self) {
        // By index: refreshing marks nothing dirty, and the buffer stays where it is.
        for k in 0..self.room.dirty.len() {
            let slot = self.room.dirty[k];
            self.refresh(slot);
        }
        self.room.dirty.clear();
    }

    /// Virtual time moves on to `t`: the slots due by then become runnable.
    fn advance(&mut self, t: u64) {
        self.now = t;
        self.d.set_time(t);
        while let Some((due, slot)) = self.room.timers.pop_due(t) {
            self.disarm(slot, due);
            self.refresh(slot);
        }
    }

    fn disarm(&mut self, slot: Slot, due: u64) {
        if let Some(armed) = self.room.armed.get_mut(slot as usize)
            && *armed == Some(due)
        {
            *armed = None;
        }
    }

    fn proc_mut(&mut self, pid: Pid) -> Option<&mut ProcRun<'a>> {
        self.procs.get_mut((pid.0 as usize).checked_sub(1)?)
    }

    fn proc(&self, pid: Pid) -> Option<&ProcRun<'a>> {
        self.procs.get((pid.0 as usize).checked_sub(1)?)
    }

    /// Thread `t`'s script (empty if it had too many to index, which no run reaches).
    fn script(&self, t: &ThreadRun) -> &'a [Step] {
        self.scripts.get(t.script as usize).copied().unwrap_or(&[])
    }

    /// What the first event of a thread's next step will name.
    fn actor_of(&self, t: &ThreadRun) -> Option<Actor> {
        if t.in_lookup {
            return Some(Actor::Thread(t.pid, t.tid));
        }
        Some(match self.script(t).get(t.pc)? {
            Step::Advertise { provider } => Actor::Advertise(t.pid, *provider),
            Step::Unadvertise { provider } => Actor::Unadvertise(t.pid, *provider),
            Step::Exit => Actor::Exit(t.pid, ExitHow::Exit),
            Step::Crash => Actor::Exit(t.pid, ExitHow::Crash),
            Step::Install { provider } => Actor::Install(*provider),
            Step::Uninstall { provider } => Actor::Uninstall(*provider),
            Step::Enable { provider } => Actor::Enable(*provider, true),
            Step::Disable { provider } => Actor::Enable(*provider, false),
            _ => Actor::Thread(t.pid, t.tid),
        })
    }

    /// The earliest time a ready thread (or a process's exit after a final `sleep`) is due.
    fn next_due(&mut self) -> Option<u64> {
        while let Some((due, slot)) = self.room.timers.peek() {
            if due > self.now && self.slot_state(slot).1 == Some(due) {
                return Some(due);
            }
            // Stale: the slot changed since (or its time has come, and it was refreshed).
            self.room.timers.pop();
            self.disarm(slot, due);
        }
        None
    }

    /// Where thread `tid` of process `pid` is in [`World::threads`]. Found through
    /// [`Room::thread_starts`], not the process's record: a step would otherwise read one more
    /// cold record (with thousands of clients, a cache miss per step) only to learn where its
    /// thread is. Tids are usually the process's threads in order from 1, so the guess is
    /// checked against the thread itself, which the step reads next anyway.
    fn thread_index(&self, pid: Pid, tid: Tid) -> Option<usize> {
        let p = (pid.0 as usize).checked_sub(1)?;
        let start = *self.room.thread_starts.get(p)? as usize;
        let end = *self.room.thread_starts.get(p + 1)? as usize;
        let guess = start + (tid.0 as usize).checked_sub(1)?;
        if guess < end && self.threads.get(guess).is_some_and(|t| t.tid == tid) {
            return Some(guess);
        }
        (start..end).find(|i| self.threads.get(*i).is_some_and(|t| t.tid == tid))
    }

    /// The faults on providers that can strike now, in a fixed order (those on processes are
    /// kept in `process_faults`).
    fn provider_fault_choices(&self, out: &mut Vec<Choice>) {
        for p in &self.scenario.providers {
            if self.faults.has(InjectedFaultKind::Unadvertise)
                && let Some(host) = self.d.advertiser(p.id)
                && self.d.startup_count(host) > 0
                && !self.d.is_waiting(host, Tid(1))
            {
                out.push(Choice::Fault(Fault::Unadvertise(p.id)));
            }
            if self.faults.has(InjectedFaultKind::Disable) && self.d.catalog().is_enabled(p.id) {
                out.push(Choice::Fault(Fault::Disable(p.id)));
            }
        }
    }

    fn inject(&mut self, fault: Fault) {
        self.faults_injected += 1;
        match fault {
            Fault::Crash(pid) | Fault::HostCrash(pid) => {
                self.d.exit_process(pid, ExitHow::Crash);
                self.mark_exited(pid);
            }
            Fault::Kill(pid) => {
                self.d.exit_process(pid, ExitHow::Kill);
                self.mark_exited(pid);
            }
            Fault::Exit(pid) => {
                self.d.exit_process(pid, ExitHow::Exit);
                self.mark_exited(pid);
            }
            Fault::Unadvertise(id) => {
                if let Some(host) = self.d.advertiser(id) {
                    let _ = self.d.wsa_unadvertise_provider(host, Tid(1), id);
                }
            }
            Fault::Disable(id) => {
                let _ = self.d.enable_provider(id, false);
            }
        }
    }

    fn execute(&mut self, choice: Choice) {
        match choice {
            Choice::Fault(fault) => self.inject(fault),
            Choice::Tick { to } => self.advance(to),
            Choice::Work { id, .. } => {
                self.d.run_work(id);
            }
            Choice::Step {
                pid, tid: Tid(0), ..
            } => {
                self.d.exit_process(pid, ExitHow::Exit);
                self.mark_exited(pid);
            }
            Choice::Step { pid, tid, .. } => {
                if let Some(i) = self.thread_index(pid, tid) {
                    self.step_thread(i);
                }
            }
        }
        self.deliver_wakes();
        self.refresh_dirty();
    }

    /// Applies wakes: threads whose blocking call finished become ready.
    fn deliver_wakes(&mut self) {
        self.d.take_wakes_into(&mut self.room.wakes);
        // Most steps wake no one: the buffer is taken out (to be read while the world
        // changes) only when there is something in it.
        if self.room.wakes.is_empty() {
            return;
        }
        let mut wakes = std::mem::take(&mut self.room.wakes);
        for wake in &wakes {
            let Some(i) = self.thread_index(wake.pid, wake.tid) else {
                continue;
            };
            if self.threads[i].state != ThreadState::Waiting {
                continue;
            }
            self.threads[i].state = ThreadState::Ready;
            self.touch(i);
            match &wake.outcome {
                WakeOutcome::LookupServiceNext(r) => self.after_next(i, r),
                WakeOutcome::SetService(r) => self.finish_step(i, Outcome::of(r)),
            }
        }
        wakes.clear();
        self.room.wakes = wakes;
    }

    fn mark_exited(&mut self, pid: Pid) {
        let Some(p) = self.proc_mut(pid) else {
            return;
        };
        p.alive = false;
        p.exiting = false;
        let threads = p.threads.clone();
        let first = (pid.0 as usize - 1) * FAULTS_PER_PROCESS;
        for slot in first..first + FAULTS_PER_PROCESS {
            self.room.process_faults.set(slot as Slot, None);
        }
        for i in threads {
            self.threads[i].state = ThreadState::Done;
            self.threads[i].alive = false;
            self.touch(i);
        }
        let exit = self.exit_slot(pid);
        self.mark_dirty(exit);
    }

    /// Runs one API-calling step (or one call of a `lookup`) of thread `i`.
    fn step_thread(&mut self, i: usize) {
        self.touch(i);
        let (pid, tid) = (self.threads[i].pid, self.threads[i].tid);
        // The script outlives the world, so the step is borrowed, not copied.
        let Some(step) = self.script(&self.threads[i]).get(self.threads[i].pc) else {
            return;
        };
        if !self.threads[i].in_lookup {
            let t = &mut self.threads[i];
            t.in_lookup = t.lookup.restart(step, &mut self.room.query);
        }
        if self.threads[i].in_lookup {
            // The room's query is this lookup's: a lookup's first call, its Begin (the only
            // call that reads the query), is made by the step that restarted its cursor.
            let lp = &mut self.threads[i].lookup;
            match lp.step(&mut self.d, pid, tid, &self.room.query) {
                LoopStep::More => self.threads[i].ready_at = self.now + STEP_US,
                LoopStep::Waiting => self.threads[i].state = ThreadState::Waiting,
                LoopStep::Done(outcome) => {
                    self.threads[i].in_lookup = false;
                    self.finish_step(i, outcome);
                }
            }
            return;
        }
        let performed = script::perform(
            &mut self.d,
            self.scenario,
            self.providers,
            pid,
            tid,
            step,
            &mut self.procs[(pid.0 - 1) as usize].handles,
        );
        match performed {
            Performed::Done(outcome) => self.finish_step(i, outcome),
            Performed::Waiting => self.threads[i].state = ThreadState::Waiting,
            Performed::Exited => self.mark_exited(pid),
            Performed::NotRun(reason) => {
                if self.faults_injected == 0 {
                    let t = &self.threads[i];
                    let name = self.proc(pid).map_or("?", |p| p.name);
                    let v = checker::step_not_run_violation(pid, name, tid, t.pc + 1, &reason);
                    self.report.expect_failures.push(v.detail.clone());
                    self.d.record_external(v.into_event());
                }
                let t = &mut self.threads[i];
                t.last = None;
                t.pc += 1;
                t.ready_at = self.now + STEP_US;
                self.run_eager(i);
            }
        }
    }

    /// A Next of thread `i` returned: continue its `lookup` loop, or finish its step.
    fn after_next(&mut self, i: usize, r: &Result<QuerySet, ApiError>) {
        self.touch(i);
        let (pid, tid) = (self.threads[i].pid, self.threads[i].tid);
        if self.threads[i].in_lookup {
            self.threads[i].lookup.on_next(&mut self.d, pid, tid, r);
            self.threads[i].ready_at = self.now + STEP_US;
        } else {
            let outcome = script::next_outcome(&mut self.d, pid, tid, r);
            self.finish_step(i, outcome);
        }
    }

    /// A step finished with `outcome`: advance, then run the `sleep`s and `expect`s after it.
    fn finish_step(&mut self, i: usize, outcome: Outcome) {
        self.touch(i);
        let pid = self.threads[i].pid;
        if let Some(step) = self.script(&self.threads[i]).get(self.threads[i].pc)
            && let Some(p) = self.procs.get_mut((pid.0 as usize).wrapping_sub(1))
        {
            script::note_required(&mut p.handles, step, &outcome);
        }
        let t = &mut self.threads[i];
        t.last = Some(outcome);
        t.pc += 1;
        t.ready_at = self.now + STEP_US;
        self.run_eager(i);
    }

    /// Runs the steps that are not choices (`sleep`, `expect`) at the head of thread `i`'s
    /// script; marks the thread done when its script is over.
    fn run_eager(&mut self, i: usize) {
        self.touch(i);
        // Sleeping at the end of the script: the process stays up that much longer.
        let mut trailing_sleep: u64 = 0;
        loop {
            let t = &self.threads[i];
            if t.state == ThreadState::Done || t.in_lookup {
                return;
            }
            match self.script(t).get(t.pc) {
                Some(&Step::Sleep { us }) => {
                    let t = &mut self.threads[i];
                    t.ready_at = t.ready_at.max(self.now).saturating_add(us);
                    t.pc += 1;
                    trailing_sleep = trailing_sleep.saturating_add(us);
                }
                Some(Step::Expect(x)) => {
                    self.check_expect(i, x);
                    self.threads[i].pc += 1;
                }
                Some(_) => return,
                None => {
                    self.threads[i].state = ThreadState::Done;
                    let pid = self.threads[i].pid;
                    let exit = self.exit_slot(pid);
                    self.mark_dirty(exit);
                    let siblings = self.proc(pid).map_or(i..i + 1, |p| p.threads.clone());
                    let all_done = self.threads[siblings]
                        .iter()
                        .all(|t| t.state == ThreadState::Done);
                    // A script that ends in `sleep`s is over that long after its last call (so a
                    // trailing `sleep 0` changes nothing).
                    let done_at = self.now.saturating_add(trailing_sleep);
                    if let Some(p) = self.proc_mut(pid) {
                        p.exit_at = p.exit_at.max(done_at);
                        if all_done && p.alive && !p.stays_up {
                            p.exiting = true;
                        }
                    }
                    return;
                }
            }
        }
    }

    fn check_expect(&mut self, i: usize, expect: &Expectation) {
        if self.faults_injected > 0 {
            return;
        }
        let t = &self.threads[i];
        let Some(got) = &t.last else {
            return; // the step before was not run, and said so
        };
        let step = ExpectStep {
            pid: t.pid,
            process: self.proc(t.pid).map_or("?", |p| p.name),
            tid: t.tid,
            step: t.pc + 1,
            expect,
            providers: &self.scenario.providers,
        };
        let got = Got {
            err: got.err,
            ret: got.ret,
            version: got.version,
            required: got.required,
            results: &got.results,
        };
        if let Some(v) = checker::expect_violation(&step, &got) {
            self.report.expect_failures.push(v.detail.clone());
            self.d.record_external(v.into_event());
        }
    }

    /// `expect_calls`, judged at the end of a run without injected faults (like `expect`
    /// steps) that was not stopped early.
    fn check_expect_calls(&mut self) {
        if self.scenario.expect_calls.is_empty()
            || self.faults_injected > 0
            || self.report.stopped.is_some()
        {
            return;
        }
        let counts = self.d.sink_mut().observer().calls();
        let procs = &self.procs;
        let verdicts = checker::expect_calls_violations(self.scenario, &counts, |name| {
            procs
                .iter()
                .position(|p| p.name == name)
                .map(|i| Pid(i as u32 + 1))
        });
        for v in verdicts {
            self.report.expect_failures.push(v.detail.clone());
            self.d.record_external(v.into_event());
        }
    }

    fn finish(&mut self) {
        self.check_expect_calls();
        self.report.end_time = self.now;
        for t in &self.threads {
            let alive = self.proc(t.pid).is_some_and(|p| p.alive);
            if alive && t.state == ThreadState::Waiting {
                let name = self.proc(t.pid).map_or("?", |p| p.name);
                self.report.stuck.push(format!(
                    "pid {} ({name}) thread {} still waits for an async call that was never completed",
                    t.pid.0, t.tid.0
                ));
            }
        }
    }
}
