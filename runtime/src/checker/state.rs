//! The checker's model of a run, rebuilt from events: processes and their WSAStartup counts,
//! providers' reachability and routine tables, sessions, provider lookup handles, async calls.
//!
//! It mirrors the dispatcher's documented policies where a session ends without a call: a
//! provider that is unadvertised, disabled or uninstalled takes its sessions with it (S3.4,
//! L8), and an absent Cleanup or Rundown ends a session where the call would have been made
//! (S1.3).

use super::{Rule, Violation};
use crate::event::{ApiFn, ExitHow, Label, Pid, Tid};
use crate::provider::NspFn;
use crate::vec_map::VecMap;
use crate::wsa::Guid;
use smallvec::{SmallVec, smallvec};

/// Indices into [`Model::sessions`]: a process's, or one provider's of a process (a few).
pub(super) type Indices = SmallVec<[usize; 2]>;

#[derive(Debug, Default)]
pub(super) struct Process {
    pub startups: u32,
    pub alive: bool,
    /// Ended by a crash, a kill, or an exit with WSAStartups outstanding (S4.7).
    pub abnormal: bool,
    pub exited: bool,
    /// Indices into [`Model::sessions`] by provider (a process has sessions with a few),
    /// oldest first: finding a process's sessions does not walk every process's, and they
    /// sit with the rest of its record (inline for the usual one provider and two sessions).
    pub sessions: SmallVec<[(Guid, Indices); 1]>,
}

#[derive(Debug, Default)]
pub(super) struct Provider {
    pub advertised: bool,
    pub installed: bool,
    pub enabled: bool,
    /// Optional entry points the advertised table leaves null.
    pub absent: Vec<NspFn>,
}

impl Provider {
    pub fn reachable(&self) -> bool {
        self.advertised && self.installed && self.enabled
    }
    pub fn has(&self, f: NspFn) -> bool {
        !self.absent.contains(&f)
    }
}

/// How a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ended {
    Cleanup(u64),
    Rundown(u64),
    Silently(u64),
}

impl Ended {
    pub fn describe(self) -> String {
        match self {
            Ended::Cleanup(seq) => format!("ended by NSPv2Cleanup at seq {seq}"),
            Ended::Rundown(seq) => format!("ended by NSPv2ClientSessionRundown at seq {seq}"),
            Ended::Silently(seq) => format!("ended without a call at seq {seq}"),
        }
    }
}

#[derive(Debug)]
pub(super) struct Session {
    pub pid: Pid,
    pub provider: Guid,
    pub label: Option<Label>,
    pub ended: Option<Ended>,
    /// S4.6 (`per-wsastartup`): a non-final WSACleanup left it excess while it still had open
    /// provider lookup handles; new calls do not go through it, and it ends with Cleanup once
    /// its last handle is closed.
    pub retiring: bool,
    /// Reported under L3/L5 already (so the end of the run does not report it again).
    pub reported: bool,
    /// Provider lookup handles opened in this session (closed ones included; the handle
    /// table says which are still open). Inline for the usual few.
    pub handles: SmallVec<[Label; 2]>,
}

#[derive(Debug)]
pub(super) struct Handle {
    pub session: usize,
    pub provider: Guid,
    pub pid: Pid,
    pub closed: Option<u64>,
}

#[derive(Debug)]
pub(super) struct AsyncCall {
    pub provider: Guid,
    pub pid: Pid,
    pub func: NspFn,
    pub completed: bool,
    /// Its provider's code is gone (unadvertised, host ended, faulted): no completion is owed.
    pub exempt: bool,
}

/// After an abnormal exit, the Rundowns still owed, until the aftermath closes (L5).
#[derive(Debug)]
pub(super) struct Aftermath {
    pub pid: Pid,
    pub exit_seq: u64,
    /// Sessions owed a Rundown.
    pub owed: Vec<usize>,
    /// Sessions whose provider has no Rundown: they end silently once their handles are
    /// closed (S4.8, S1.3), at the close of the aftermath.
    pub silent: Vec<usize>,
}

#[derive(Debug)]
pub(super) struct Model {
    pub per_wsastartup: bool,
    pub seq: u64,
    pub processes: VecMap<Pid, Process>,
    pub providers: VecMap<Guid, Provider>,
    pub sessions: Vec<Session>,
    pub handles: VecMap<Label, Handle>,
    pub asyncs: VecMap<Label, AsyncCall>,
    pub aftermath: Option<Aftermath>,
    /// A `fault` was seen and its call's `nsp.return` has not come yet: that return carries the
    /// dispatcher's WSASYSCALLFAILURE, not the provider's error.
    pub faulted_call: bool,
    /// API calls made while their process had no WSAStartup outstanding (L10).
    pub uninitialised_calls: VecMap<(Pid, Tid), ApiFn>,
}

impl Model {
    pub fn new(per_wsastartup: bool) -> Model {
        Model {
            per_wsastartup,
            seq: 0,
            processes: VecMap::new(),
            providers: VecMap::new(),
            // Room for a small run's sessions: growing from empty cost more than the rest of
            // the bookkeeping for the runs exploration makes by the hundred thousand.
            sessions: Vec::with_capacity(8),
            handles: VecMap::new(),
            asyncs: VecMap::new(),
            aftermath: None,
            faulted_call: false,
            uninitialised_calls: VecMap::new(),
        }
    }

    /// Back to the model of a run that has not started, keeping the room its containers grew
    /// (exploration checks runs by the hundred thousand, each much like the one before).
    pub fn reset(&mut self, per_wsastartup: bool) {
        // Every field, named: a field added later must be reset here too.
        let Model {
            per_wsastartup: policy,
            seq,
            processes,
            providers,
            sessions,
            handles,
            asyncs,
            aftermath,
            faulted_call,
            uninitialised_calls,
        } = self;
        *policy = per_wsastartup;
        *seq = 0;
        processes.clear();
        providers.clear();
        sessions.clear();
        handles.clear();
        asyncs.clear();
        *aftermath = None;
        *faulted_call = false;
        uninitialised_calls.clear();
    }

    pub fn violation(&self, rule: Rule, detail: String) -> Violation {
        Violation {
            rule,
            seq: self.seq,
            detail,
        }
    }

    #[inline]
    pub fn process(&mut self, pid: Pid) -> &mut Process {
        self.processes.get_or_insert_with(pid, || Process {
            alive: true,
            ..Process::default()
        })
    }

    pub fn provider(&mut self, id: Guid) -> &mut Provider {
        self.providers.get_or_insert_with(id, Provider::default)
    }

    #[inline]
    pub fn reachable(&self, id: Guid) -> bool {
        self.providers.get(&id).is_some_and(Provider::reachable)
    }

    #[inline]
    pub fn has(&self, id: Guid, f: NspFn) -> bool {
        self.providers.get(&id).is_none_or(|p| p.has(f))
    }

    /// Live sessions of (pid, provider), oldest first.
    pub fn live(&self, pid: Pid, provider: Guid) -> Indices {
        self.live_iter(pid, provider).collect()
    }

    /// The newest live session of (pid, provider) that new calls go through: a retiring one
    /// takes no new call (S4.6).
    #[inline]
    pub fn newest_live(&self, pid: Pid, provider: Guid) -> Option<usize> {
        self.live_iter(pid, provider)
            .rev()
            .find(|i| !self.sessions[*i].retiring)
    }

    /// Every session of `pid` (with any provider, ended or not), oldest first.
    pub fn sessions_of_pid(&self, pid: Pid) -> Indices {
        let mut all: Indices = self
            .processes
            .get(&pid)
            .into_iter()
            .flat_map(|p| &p.sessions)
            .flat_map(|(_, v)| v.iter().copied())
            .collect();
        all.sort_unstable();
        all
    }

    /// Every session of (pid, provider), ended or not, oldest first.
    #[inline]
    pub fn sessions_of(&self, pid: Pid, provider: Guid) -> &[usize] {
        self.processes
            .get(&pid)
            .and_then(|p| p.sessions.iter().find(|(p, _)| *p == provider))
            .map_or(&[], |(_, v)| v.as_slice())
    }

    /// [`Model::live`] without collecting (most callers want only the newest). Inline: out of
    /// line, its caller's filter went through a returned iterator.
    #[inline]
    pub fn live_iter(
        &self,
        pid: Pid,
        provider: Guid,
    ) -> impl DoubleEndedIterator<Item = usize> + '_ {
        self.sessions_of(pid, provider)
            .iter()
            .copied()
            .filter(|i| self.sessions.get(*i).is_some_and(|s| s.ended.is_none()))
    }

    pub fn open_session(&mut self, pid: Pid, provider: Guid, label: Option<Label>) -> usize {
        self.sessions.push(Session {
            pid,
            provider,
            label,
            ended: None,
            retiring: false,
            reported: false,
            handles: SmallVec::new(),
        });
        let i = self.sessions.len() - 1;
        // A process the trace never started gets a record here; no rule reads one that has
        // neither a WSAStartup nor an exit any differently from none.
        let of = &mut self.process(pid).sessions;
        match of.iter_mut().find(|(p, _)| *p == provider) {
            Some((_, v)) => v.push(i),
            None => of.push((provider, smallvec![i])),
        }
        i
    }

    /// Ends a session; its open handles die with it (silently: the caller judges L6 first).
    pub fn end_session(&mut self, i: usize, how: Ended) {
        if let Some(s) = self.sessions.get_mut(i) {
            s.ended = Some(how);
        }
        let seq = self.seq;
        // Two fields of the model at once: no copy of the handle list needed.
        if let Some(s) = self.sessions.get(i) {
            for label in &s.handles {
                if let Some(h) = self.handles.get_mut(label).filter(|h| h.closed.is_none()) {
                    h.closed = Some(seq);
                }
            }
        }
        if let Some(a) = &mut self.aftermath {
            a.owed.retain(|o| *o != i);
        }
    }

    /// The provider became unreachable: its sessions end without calls (S3.4, L8).
    pub fn detach(&mut self, provider: Guid, code_gone: bool) {
        let seq = self.seq;
        let live: Vec<usize> = self
            .sessions
            .iter()
            .enumerate()
            .filter(|(_, s)| s.provider == provider && s.ended.is_none())
            .map(|(i, _)| i)
            .collect();
        for i in live {
            self.end_session(i, Ended::Silently(seq));
        }
        if code_gone {
            for a in self.asyncs.values_mut().filter(|a| a.provider == provider) {
                a.exempt = true;
            }
        }
    }

    /// L5: every Rundown owed after an abnormal exit must have come by now (something new
    /// started, or the run ended).
    #[inline]
    pub fn close_aftermath(&mut self, out: &mut Vec<Violation>) {
        if let Some(a) = self.aftermath.take() {
            self.close(a, out);
        }
    }

    fn close(&mut self, a: Aftermath, out: &mut Vec<Violation>) {
        for i in a.silent {
            if self.sessions.get(i).is_some_and(|s| s.ended.is_none()) {
                self.end_session(i, Ended::Silently(self.seq));
            }
        }
        for i in a.owed {
            let Some(s) = self.sessions.get_mut(i) else {
                continue;
            };
            if s.ended.is_some() {
                continue;
            }
            s.reported = true;
            let (pid, provider, label) = (s.pid, s.provider, label_text(s.label));
            out.push(Violation {
                rule: Rule::L5,
                seq: self.seq,
                detail: format!(
                    "pid {} ended abnormally at seq {} but its session {label} with provider {provider} got no NSPv2ClientSessionRundown",
                    pid.0, a.exit_seq
                ),
            });
        }
    }

    /// The process ended; returns whether abnormally (S4.7).
    pub fn exit(&mut self, pid: Pid, how: ExitHow) -> bool {
        let p = self.process(pid);
        let abnormal = how != ExitHow::Exit || p.startups > 0;
        p.alive = false;
        p.exited = true;
        p.abnormal = abnormal;
        abnormal
    }
}

/// A session label as a trace would print it.
pub(super) fn label_text(l: Option<Label>) -> String {
    l.map_or_else(|| "null".to_string(), |l| l.to_string())
}

impl Model {
    /// Whether session `i` has a provider lookup handle still open ([`Model::open_handles`]
    /// without collecting them).
    pub fn has_open_handles(&self, i: usize) -> bool {
        self.sessions.get(i).is_some_and(|s| {
            s.handles.iter().any(|l| {
                self.handles
                    .get(l)
                    .is_some_and(|h| h.session == i && h.closed.is_none())
            })
        })
    }

    /// The still-open provider lookup handles of session `i`.
    pub fn open_handles(&self, i: usize) -> Vec<Label> {
        self.sessions.get(i).map_or_else(Vec::new, |s| {
            s.handles
                .iter()
                .copied()
                .filter(|l| {
                    self.handles
                        .get(l)
                        .is_some_and(|h| h.session == i && h.closed.is_none())
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::LabelKind;
    use std::collections::BTreeMap;

    /// Whether a key's guessed place hits (keys in order, no gaps) or misses (gaps, keys out
    /// of order, other kinds of label with the same numbers), the map answers as a
    /// `BTreeMap` does.
    #[test]
    fn a_vec_map_with_guessed_places_agrees_with_a_btree_map() {
        let mut m = VecMap::new();
        let mut b = BTreeMap::new();
        let mut rng = crate::sim::rng::Pcg32::from_seed(3);
        let kinds = [LabelKind::ProviderLookup, LabelKind::AsyncCall];
        for i in 0..3_000u32 {
            let n = match rng.below(4) {
                0 => rng.below(u64::from(i) + 2) as u32,
                1 => i + rng.below(3) as u32,
                _ => i,
            };
            let k = Label::new(kinds[rng.below(8).min(1) as usize], n);
            match rng.below(5) {
                0 => assert_eq!(m.remove(&k), b.remove(&k)),
                1 => assert_eq!(m.get(&k), b.get(&k)),
                _ => assert_eq!(m.insert(k, i), b.insert(k, i)),
            }
        }
        let all: Vec<_> = (&m).into_iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(all, b.into_iter().collect::<Vec<_>>());
    }
}
