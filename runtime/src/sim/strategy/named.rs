//! The strategies a user picks by name (`--strategy`, a regression file's `strategy=`), and
//! the one factory that builds them.
//!
//! [`StrategyName`] is a strategy one run follows; [`Portfolio`] is what exploration runs a
//! range of seeds under: one strategy, or random walk and PCT in turn. The command line
//! parses both from the names here, so a new strategy is added in this file alone.

use super::{Pct, RandomWalk, Strategy};
use std::fmt;
use std::str::FromStr;

/// A strategy one run follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StrategyName {
    /// Uniform random walk over the runnable choices.
    Random,
    /// Probabilistic concurrency testing (depth 3).
    Pct,
}

impl StrategyName {
    pub const ALL: [StrategyName; 2] = [StrategyName::Random, StrategyName::Pct];

    pub const fn name(self) -> &'static str {
        match self {
            StrategyName::Random => "random",
            StrategyName::Pct => "pct",
        }
    }

    /// What it does, in a line (the command line's help).
    pub const fn summary(self) -> &'static str {
        match self {
            StrategyName::Random => "Uniform random walk over the runnable choices",
            StrategyName::Pct => "Probabilistic concurrency testing (depth 3)",
        }
    }

    /// A fresh strategy of this name, for runs of at most `max_steps` steps.
    pub fn build(self, max_steps: u64) -> Box<dyn Strategy> {
        match self {
            StrategyName::Random => Box::new(RandomWalk::new()),
            StrategyName::Pct => Box::new(pct(max_steps)),
        }
    }

    /// Calls `f` with a fresh strategy of this name ([`StrategyName::build`]), kept on the
    /// stack: exploration makes one per seed, and boxing it cost an allocation each.
    pub fn with_built<R>(self, max_steps: u64, f: impl FnOnce(&mut dyn Strategy) -> R) -> R {
        match self {
            StrategyName::Random => f(&mut RandomWalk::new()),
            StrategyName::Pct => f(&mut pct(max_steps)),
        }
    }
}

/// PCT of depth 3 for runs of at most `max_steps` steps. PCT spreads its change points over
/// the run's expected length; a step limit is far longer than a typical run, so most points
/// would fall after its end.
fn pct(max_steps: u64) -> Pct {
    Pct::new(3, max_steps.min(10_000))
}

impl fmt::Display for StrategyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for StrategyName {
    type Err = String;

    fn from_str(s: &str) -> Result<StrategyName, String> {
        StrategyName::ALL
            .into_iter()
            .find(|n| n.name() == s)
            .ok_or_else(|| {
                let all = StrategyName::ALL.map(StrategyName::name);
                format!(
                    "unknown strategy \"{s}\"; expected one of {}",
                    all.join(", ")
                )
            })
    }
}

/// Which strategy each seed of an exploration runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Portfolio {
    One(StrategyName),
    /// Even seeds random walk, odd seeds PCT.
    Both,
}

impl Portfolio {
    const BOTH: &'static str = "portfolio";

    /// The names it is parsed from: every strategy's, then `portfolio`.
    pub fn names() -> impl Iterator<Item = &'static str> {
        StrategyName::ALL
            .into_iter()
            .map(StrategyName::name)
            .chain([Portfolio::BOTH])
    }

    pub fn for_seed(self, seed: u64) -> StrategyName {
        match self {
            Portfolio::One(s) => s,
            Portfolio::Both if seed % 2 == 0 => StrategyName::Random,
            Portfolio::Both => StrategyName::Pct,
        }
    }
}

impl fmt::Display for Portfolio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Portfolio::One(s) => s.fmt(f),
            Portfolio::Both => f.write_str(Portfolio::BOTH),
        }
    }
}

impl FromStr for Portfolio {
    type Err = String;

    fn from_str(s: &str) -> Result<Portfolio, String> {
        if s == Portfolio::BOTH {
            return Ok(Portfolio::Both);
        }
        s.parse().map(Portfolio::One).map_err(|_| {
            let all: Vec<_> = Portfolio::names().collect();
            format!(
                "unknown strategy \"{s}\"; expected one of {}",
                all.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in StrategyName::ALL {
            assert_eq!(s.to_string().parse(), Ok(s));
            assert_eq!(Portfolio::One(s).to_string().parse(), Ok(Portfolio::One(s)));
        }
        assert_eq!("portfolio".parse(), Ok(Portfolio::Both));
        assert!("portfolio".parse::<StrategyName>().is_err());
        assert!("dfs".parse::<Portfolio>().is_err());
    }

    #[test]
    fn the_portfolio_alternates_by_seed() {
        assert_eq!(Portfolio::Both.for_seed(4), StrategyName::Random);
        assert_eq!(Portfolio::Both.for_seed(7), StrategyName::Pct);
        assert_eq!(
            Portfolio::One(StrategyName::Pct).for_seed(4),
            StrategyName::Pct
        );
    }
}
