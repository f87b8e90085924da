//! The live driver: the sans-IO dispatcher under real concurrency.
//!
//! - The dispatcher runs on the calling thread (Ws2_32 and its RPC endpoint, in one place);
//!   every provider runs on a host thread of its own ([`super::host`]).
//! - Each thread of each scenario process is a tokio task on a multi-thread runtime. A task
//!   sleeps for real, and sends each call step to the dispatcher thread over a crossbeam
//!   channel; the dispatcher performs it ([`crate::script`]) and answers on a oneshot channel,
//!   at once or, for a call that waits on an async completion, when the completion comes.
//! - Deferred provider work runs on the provider's host thread whenever the dispatcher has no
//!   client call to serve (for a C provider in live mode that includes polling its real
//!   threads); once every client is done, what is left gets one completion deadline. A call
//!   that waits longer than the completion deadline, or a provider call that does not return
//!   within the call deadline, is a `fault` of kind `timeout`: the provider is unadvertised
//!   and the run goes on. Nothing waits forever.
//! - Times are real microseconds since the start (`mode: live` traces). The order of events is
//!   the order the dispatcher thread served them, so the trace replays in sim mode.

use super::wait;
use crate::checker::{self, ExpectStep, Got, Verdict};
use crate::event::{EventSink, Pid, Tid};
use crate::registry::Registry;
use crate::scenario::{ProviderSpec, Scenario, Step};
use crate::script::{
    self, Handles, LookupLoop, LoopStep, Observed, Observer, Outcome, Performed, RunError,
};
use crate::sim::world::config_of;
use crate::{Dispatcher, WakeOutcome};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Live-run settings.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// A provider entry point that does not return within this is a timeout fault.
    pub call_deadline: Duration,
    /// A client call that waits longer than this for its async completion is a timeout fault.
    pub completion_deadline: Duration,
    /// The whole run is stopped after this (reported, never a hang).
    pub run_limit: Duration,
    /// Tokio worker threads for the clients. One is enough and is fastest on small machines:
    /// client tasks only send requests; the dispatcher thread, like Ws2_32, is where calls
    /// are served, and every provider has a host thread of its own already.
    pub workers: usize,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            call_deadline: Duration::from_secs(2),
            completion_deadline: Duration::from_secs(2),
            run_limit: Duration::from_secs(60),
            workers: 1,
        }
    }
}

/// How a live run went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveReport {
    /// Real microseconds the run took.
    pub elapsed_us: u64,
    /// Client calls served.
    pub calls: u64,
    /// Latencies of served client calls, µs, sorted.
    pub latencies_us: Vec<u64>,
    pub expect_failures: Vec<String>,
    /// Why the run stopped early, if it did.
    pub stopped: Option<String>,
}

impl LiveReport {
    /// The latency at quantile `q` (0..=1), µs.
    pub fn latency(&self, q: f64) -> u64 {
        if self.latencies_us.is_empty() {
            return 0;
        }
        let at = ((self.latencies_us.len() - 1) as f64 * q).round() as usize;
        self.latencies_us[at.min(self.latencies_us.len() - 1)]
    }
}

/// What a client task sends the dispatcher thread.
enum Request {
    Step {
        pid: Pid,
        tid: Tid,
        step: Step,
        sent: Instant,
        reply: oneshot::Sender<Performed>,
    },
    /// A thread's `expect` step did not hold.
    ExpectFailed(Verdict),
    /// A thread's script is over.
    Finished { pid: Pid },
}

/// A call waiting for its async completion.
struct Waiting {
    since: Instant,
    sent: Instant,
    lookup: Option<LookupLoop>,
    /// The step, when it is a `lookup_next` (whose WSAEFAULT length its handle keeps).
    next: Option<Step>,
    reply: oneshot::Sender<Performed>,
}

/// Runs `scenario` live. `registry` should host its providers on threads
/// ([`super::hosted`]); the caller chooses, so tests can also run in-process providers.
pub fn run_live<S: EventSink>(
    scenario: &Scenario,
    registry: &Registry,
    sink: S,
    options: &LiveOptions,
) -> Result<(LiveReport, S), RunError> {
    let start = Instant::now();
    let sink = Observed {
        inner: sink,
        observer: Observer::for_scenario(scenario),
    };
    let mut d = Dispatcher::new(config_of(scenario), sink);
    let started = script::set_up(&mut d, scenario, registry)?;
    let (tx, rx) = unbounded::<Request>();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.workers.max(1))
        .enable_time()
        .build()
        .map_err(|e| RunError::Build {
            provider: "(live runtime)".into(),
            kind: "tokio".into(),
            message: e.to_string(),
        })?;
    let mut alive: BTreeMap<Pid, (usize, bool)> = BTreeMap::new(); // threads left, stays up
    let pids: Vec<(String, Pid)> = started
        .iter()
        .map(|p| (p.name.to_string(), p.pid))
        .collect();
    for p in &started {
        alive.insert(p.pid, (p.threads.len(), p.stays_up));
        if p.stays_up {
            continue;
        }
        for (tid, steps) in &p.threads {
            runtime.spawn(client(
                p.pid,
                p.name.to_string(),
                *tid,
                steps.to_vec(),
                scenario.providers.clone(),
                tx.clone(),
            ));
        }
    }
    drop(tx);
    let mut serve = Serve {
        d,
        scenario,
        registry,
        start,
        handles: BTreeMap::new(),
        waiting: BTreeMap::new(),
        alive,
        report: LiveReport::default(),
        options,
    };
    serve.run(&rx);
    runtime.shutdown_timeout(Duration::from_millis(100));
    serve.check_expect_calls(&pids);
    let Serve { d, mut report, .. } = serve;
    report.elapsed_us = start.elapsed().as_micros() as u64;
    report.latencies_us.sort_unstable();
    Ok((report, d.into_sink().inner))
}

/// One scenario thread as a tokio task.
async fn client(
    pid: Pid,
    name: String,
    tid: Tid,
    steps: Vec<Step>,
    providers: Vec<ProviderSpec>,
    tx: Sender<Request>,
) {
    // `None` after a step that was not run: the `expect` after it is not judged.
    let mut last = Some(Outcome::OK);
    for (i, step) in steps.into_iter().enumerate() {
        match step {
            Step::Sleep { us } => tokio::time::sleep(Duration::from_micros(us)).await,
            Step::Expect(x) => {
                let Some(got) = &last else { continue };
                let step = ExpectStep {
                    pid,
                    process: &name,
                    tid,
                    step: i + 1,
                    expect: &x,
                    providers: &providers,
                };
                let got = Got {
                    err: got.err,
                    ret: got.ret,
                    version: got.version,
                    required: got.required,
                    results: &got.results,
                };
                if let Some(v) = checker::expect_violation(&step, &got) {
                    let _ = tx.send(Request::ExpectFailed(v));
                }
            }
            step => {
                let (reply, answer) = oneshot::channel();
                let request = Request::Step {
                    pid,
                    tid,
                    step,
                    sent: Instant::now(),
                    reply,
                };
                if tx.send(request).is_err() {
                    return;
                }
                match answer.await {
                    Ok(Performed::Done(o)) => last = Some(o),
                    Ok(Performed::NotRun(reason)) => {
                        let v = checker::step_not_run_violation(pid, &name, tid, i + 1, &reason);
                        let _ = tx.send(Request::ExpectFailed(v));
                        last = None;
                    }
                    Ok(Performed::Exited) | Ok(Performed::Waiting) | Err(_) => return,
                }
            }
        }
    }
    let _ = tx.send(Request::Finished { pid });
}

/// The dispatcher thread's state.
struct Serve<'a, S: EventSink> {
    d: Dispatcher<Observed<S>>,
    scenario: &'a Scenario,
    registry: &'a Registry,
    start: Instant,
    handles: BTreeMap<Pid, Handles>,
    waiting: BTreeMap<(Pid, Tid), Waiting>,
    alive: BTreeMap<Pid, (usize, bool)>,
    report: LiveReport,
    options: &'a LiveOptions,
}

impl<S: EventSink> Serve<'_, S> {
    fn tick(&mut self) {
        self.d.set_time(self.start.elapsed().as_micros() as u64);
    }

    fn run(&mut self, rx: &Receiver<Request>) {
        loop {
            if self.start.elapsed() > self.options.run_limit {
                self.report.stopped = Some(format!(
                    "the run limit of {} s was reached",
                    self.options.run_limit.as_secs()
                ));
                return;
            }
            // Deferred work runs when no client call is waiting to be served.
            let idle = if self.d.pending_work().is_empty() {
                Duration::from_millis(1)
            } else {
                Duration::ZERO
            };
            match wait::recv_deadline(rx, wait::SPIN, idle) {
                Ok(request) => {
                    self.tick();
                    self.serve(request);
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(item) = self.d.pending_work().first().copied() {
                        self.tick();
                        self.d.run_work(item.id);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // Every task is done; finish the provider work still pending. Work can
                    // queue more work (a C provider polls its threads while one runs and a call
                    // of its is not completed), so it is bounded: no client waits any more,
                    // and work still going after a completion deadline is a provider that
                    // never finishes (a thread that never completes a crashed client's call).
                    let draining = Instant::now();
                    while let Some(item) = self.d.pending_work().first().copied() {
                        if draining.elapsed() > self.options.completion_deadline {
                            self.report.stopped = Some(format!(
                                "provider work was still going {} ms after the last client finished",
                                self.options.completion_deadline.as_millis()
                            ));
                            return;
                        }
                        self.tick();
                        self.d.run_work(item.id);
                        self.deliver_wakes();
                    }
                    return;
                }
            }
            self.deliver_wakes();
            self.enforce_deadlines();
        }
    }

    fn serve(&mut self, request: Request) {
        match request {
            Request::ExpectFailed(v) => {
                self.report.expect_failures.push(v.detail.clone());
                self.d.record_external(v.into_event());
            }
            Request::Finished { pid } => {
                if let Some((left, stays_up)) = self.alive.get_mut(&pid) {
                    *left = left.saturating_sub(1);
                    if *left == 0 && !*stays_up && self.d.is_alive(pid) {
                        // A process whose threads all ran out of steps exits.
                        self.d.exit_process(pid, crate::event::ExitHow::Exit);
                        self.process_ended(pid);
                    }
                }
            }
            Request::Step {
                pid,
                tid,
                step,
                sent,
                reply,
            } => {
                if !self.d.is_alive(pid) {
                    let _ = reply.send(Performed::Exited);
                    return;
                }
                if let Some(lookup) = LookupLoop::of(&step) {
                    self.drive_lookup(pid, tid, lookup, sent, reply);
                    return;
                }
                let handles = self.handles.entry(pid).or_default();
                let performed = script::perform(
                    &mut self.d,
                    self.scenario,
                    self.registry,
                    pid,
                    tid,
                    &step,
                    handles,
                );
                match performed {
                    Performed::Waiting => {
                        let next = matches!(step, Step::LookupNext { .. }).then_some(step);
                        self.waiting.insert(
                            (pid, tid),
                            Waiting {
                                since: Instant::now(),
                                sent,
                                lookup: None,
                                next,
                                reply,
                            },
                        );
                    }
                    Performed::Exited => {
                        let _ = reply.send(Performed::Exited);
                        self.process_ended(pid);
                    }
                    Performed::Done(outcome) => {
                        script::note_required(handles, &step, &outcome);
                        self.answer(sent, reply, Performed::Done(outcome));
                    }
                    not_run @ Performed::NotRun(_) => {
                        let _ = reply.send(not_run);
                    }
                }
            }
        }
    }

    fn answer(&mut self, sent: Instant, reply: oneshot::Sender<Performed>, performed: Performed) {
        self.report.calls += 1;
        self.report
            .latencies_us
            .push(sent.elapsed().as_micros() as u64);
        let _ = reply.send(performed);
    }

    /// Runs a compound `lookup` until it is over or a Next waits.
    fn drive_lookup(
        &mut self,
        pid: Pid,
        tid: Tid,
        mut lookup: LookupLoop,
        sent: Instant,
        reply: oneshot::Sender<Performed>,
    ) {
        loop {
            match lookup.step(&mut self.d, pid, tid) {
                LoopStep::More => continue,
                LoopStep::Done(o) => return self.answer(sent, reply, Performed::Done(o)),
                LoopStep::Waiting => {
                    self.waiting.insert(
                        (pid, tid),
                        Waiting {
                            since: Instant::now(),
                            sent,
                            lookup: Some(lookup),
                            next: None,
                            reply,
                        },
                    );
                    return;
                }
            }
        }
    }

    fn deliver_wakes(&mut self) {
        for wake in self.d.take_wakes() {
            let Some(w) = self.waiting.remove(&(wake.pid, wake.tid)) else {
                continue;
            };
            match (wake.outcome, w.lookup) {
                (WakeOutcome::LookupServiceNext(r), Some(mut lookup)) => {
                    lookup.on_next(&mut self.d, wake.pid, wake.tid, &r);
                    self.drive_lookup(wake.pid, wake.tid, lookup, w.sent, w.reply);
                }
                (WakeOutcome::LookupServiceNext(r), None) => {
                    let outcome = script::next_outcome(&mut self.d, wake.pid, wake.tid, &r);
                    if let Some(step) = &w.next {
                        let handles = self.handles.entry(wake.pid).or_default();
                        script::note_required(handles, step, &outcome);
                    }
                    self.answer(w.sent, w.reply, Performed::Done(outcome));
                }
                (WakeOutcome::SetService(r), _) => {
                    self.answer(w.sent, w.reply, Performed::Done(Outcome::of(&r)))
                }
            }
        }
    }

    /// A call waiting too long for its completion: its provider is faulted (timeout), which
    /// lets the call move on (S3.4).
    fn enforce_deadlines(&mut self) {
        let late: Vec<(Pid, Tid, u64)> = self
            .waiting
            .iter()
            .filter(|(_, w)| w.since.elapsed() > self.options.completion_deadline)
            .map(|((p, t), w)| (*p, *t, w.since.elapsed().as_millis() as u64))
            .collect();
        for (pid, tid, ms) in late {
            self.tick();
            if !self.d.time_out_wait(pid, tid, ms) {
                // Nothing to time out (the process ended): nobody will answer this call.
                if let Some(w) = self.waiting.remove(&(pid, tid)) {
                    let _ = w.reply.send(Performed::Exited);
                }
            }
            self.deliver_wakes();
        }
    }

    /// `expect_calls`, at the end of the run (live mode injects no faults: a provider's
    /// timeout is the provider's failure, which the counts may well be about).
    fn check_expect_calls(&mut self, pids: &[(String, Pid)]) {
        if self.scenario.expect_calls.is_empty() || self.report.stopped.is_some() {
            return;
        }
        let counts = self.d.sink_mut().observer.calls();
        let verdicts = checker::expect_calls_violations(self.scenario, &counts, |name| {
            pids.iter().find(|(n, _)| n == name).map(|(_, p)| *p)
        });
        for v in verdicts {
            self.report.expect_failures.push(v.detail.clone());
            self.d.record_external(v.into_event());
        }
    }

    /// A process ended: calls its threads still wait in are over.
    fn process_ended(&mut self, pid: Pid) {
        let waiting: Vec<(Pid, Tid)> = self
            .waiting
            .keys()
            .copied()
            .filter(|(p, _)| *p == pid)
            .collect();
        for key in waiting {
            if let Some(w) = self.waiting.remove(&key) {
                let _ = w.reply.send(Performed::Exited);
            }
        }
        if let Some((left, _)) = self.alive.get_mut(&pid) {
            *left = 0;
        }
    }
}
