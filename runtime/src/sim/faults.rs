//! Injected faults: what exploration does to a scenario besides reordering it.
//!
//! A fault is a scheduler choice like any other ([`super::strategy::Choice::Fault`]), so it is
//! drawn from the run's seed and leaves ordinary events behind (`process.exit` with `crash` or
//! `kill`, `provider.unadvertise`, `catalog.enable`), from which a replay recovers it. Which
//! kinds are on, and how often they strike, is a [`FaultPlan`], drawn per seed like swarm
//! testing: each seed tests a different mix.

use super::rng::Pcg32;
use crate::event::Pid;
use crate::wsa::Guid;
use std::fmt;

/// One injected fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// A client process crashes (S4.7), whatever it was doing, a pending call included.
    Crash(Pid),
    /// A client process is killed from outside (S4.7).
    Kill(Pid),
    /// A client process calls ExitProcess now, WSAStartups outstanding or not (S4.7).
    Exit(Pid),
    /// A host process crashes: its providers go with it (S3.4).
    HostCrash(Pid),
    /// A host unadvertises one of its providers (S3.4).
    Unadvertise(Guid),
    /// An administrator disables a provider in the catalog (L8).
    Disable(Guid),
}

/// The kinds of injected fault, for plans and command lines (not the `kind` of a trace
/// `fault` line, which is [`crate::event::FaultKind`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InjectedFaultKind {
    Crash,
    Kill,
    Exit,
    HostCrash,
    Unadvertise,
    Disable,
}

impl InjectedFaultKind {
    pub const ALL: [InjectedFaultKind; 6] = [
        InjectedFaultKind::Crash,
        InjectedFaultKind::Kill,
        InjectedFaultKind::Exit,
        InjectedFaultKind::HostCrash,
        InjectedFaultKind::Unadvertise,
        InjectedFaultKind::Disable,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            InjectedFaultKind::Crash => "crash",
            InjectedFaultKind::Kill => "kill",
            InjectedFaultKind::Exit => "exit",
            InjectedFaultKind::HostCrash => "host-crash",
            InjectedFaultKind::Unadvertise => "unadvertise",
            InjectedFaultKind::Disable => "disable",
        }
    }

    pub fn from_name(s: &str) -> Option<InjectedFaultKind> {
        InjectedFaultKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// A set of fault kinds: whether a kind is on, asked at every step a fault may be offered,
/// without searching the plan's list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindSet(u8);

impl KindSet {
    pub fn of(kinds: &[InjectedFaultKind]) -> KindSet {
        KindSet(kinds.iter().fold(0, |set, k| set | KindSet::bit(*k)))
    }

    pub fn has(self, kind: InjectedFaultKind) -> bool {
        self.0 & KindSet::bit(kind) != 0
    }

    fn bit(kind: InjectedFaultKind) -> u8 {
        1 << kind as u8
    }
}

impl Fault {
    pub fn kind(self) -> InjectedFaultKind {
        match self {
            Fault::Crash(_) => InjectedFaultKind::Crash,
            Fault::Kill(_) => InjectedFaultKind::Kill,
            Fault::Exit(_) => InjectedFaultKind::Exit,
            Fault::HostCrash(_) => InjectedFaultKind::HostCrash,
            Fault::Unadvertise(_) => InjectedFaultKind::Unadvertise,
            Fault::Disable(_) => InjectedFaultKind::Disable,
        }
    }
}

/// Which fault kinds are on in a run, and how often a fault is offered to the scheduler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultPlan {
    pub kinds: Vec<InjectedFaultKind>,
    /// Chance, per scheduling step, that the enabled faults are among the choices, in parts
    /// per million. Replays offer them at every step (the events decide).
    pub rate_ppm: u32,
}

impl FaultPlan {
    /// No faults.
    pub fn none() -> FaultPlan {
        FaultPlan {
            kinds: Vec::new(),
            rate_ppm: 0,
        }
    }

    /// Every kind, offered at every step: what a replay needs to follow any recorded fault.
    pub fn all_always() -> FaultPlan {
        FaultPlan {
            kinds: InjectedFaultKind::ALL.to_vec(),
            rate_ppm: 1_000_000,
        }
    }

    pub fn is_none(&self) -> bool {
        self.kinds.is_empty() || self.rate_ppm == 0
    }

    /// The swarm plan of a seed: each allowed kind on or off, and a rate, all drawn from the
    /// seed (a stream of its own, so the schedule's stream is untouched).
    pub fn swarm(seed: u64, allowed: &[InjectedFaultKind]) -> FaultPlan {
        let mut rng = Pcg32::new(seed, 0x0053_5741_524d); // "SWARM"
        let mut kinds: Vec<InjectedFaultKind> = allowed
            .iter()
            .copied()
            .filter(|_| rng.chance(1, 2))
            .collect();
        if kinds.is_empty()
            && let Some(k) = allowed.get(rng.below(allowed.len().max(1) as u64) as usize)
        {
            kinds.push(*k);
        }
        const RATES: [u32; 4] = [5_000, 20_000, 60_000, 150_000];
        FaultPlan {
            kinds,
            rate_ppm: RATES[rng.below(RATES.len() as u64) as usize],
        }
    }

    pub fn has(&self, kind: InjectedFaultKind) -> bool {
        self.kinds.contains(&kind)
    }

    /// Its kinds, as a set.
    pub fn kind_set(&self) -> KindSet {
        KindSet::of(&self.kinds)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Crash(p) => write!(f, "crash of pid {}", p.0),
            Fault::Kill(p) => write!(f, "kill of pid {}", p.0),
            Fault::Exit(p) => write!(f, "exit of pid {}", p.0),
            Fault::HostCrash(p) => write!(f, "crash of host pid {}", p.0),
            Fault::Unadvertise(g) => write!(f, "unadvertise of {g}"),
            Fault::Disable(g) => write!(f, "disable of {g}"),
        }
    }
}

impl fmt::Display for FaultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_none() {
            return f.write_str("no faults");
        }
        let names: Vec<_> = self.kinds.iter().map(|k| k.name()).collect();
        write!(
            f,
            "{} at {:.1}% of steps",
            names.join("+"),
            f64::from(self.rate_ppm) / 10_000.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swarm_plans_are_a_function_of_the_seed_and_vary() {
        let all = InjectedFaultKind::ALL;
        assert_eq!(FaultPlan::swarm(3, &all), FaultPlan::swarm(3, &all));
        let distinct: std::collections::BTreeSet<String> = (0..64)
            .map(|s| FaultPlan::swarm(s, &all).to_string())
            .collect();
        assert!(distinct.len() > 8, "{distinct:?}");
        for s in 0..64 {
            let plan = FaultPlan::swarm(s, &[InjectedFaultKind::Crash]);
            assert_eq!(
                plan.kinds,
                [InjectedFaultKind::Crash],
                "a single allowed kind is always on"
            );
        }
    }

    #[test]
    fn a_kind_set_has_the_plans_kinds_and_no_others() {
        for s in 0..64 {
            let plan = FaultPlan::swarm(s, &InjectedFaultKind::ALL);
            let set = plan.kind_set();
            for k in InjectedFaultKind::ALL {
                assert_eq!(set.has(k), plan.has(k), "{plan}: {}", k.name());
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for k in InjectedFaultKind::ALL {
            assert_eq!(InjectedFaultKind::from_name(k.name()), Some(k));
        }
        assert_eq!(FaultPlan::none().to_string(), "no faults");
    }
}
