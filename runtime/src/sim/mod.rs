//! Deterministic simulation: the seeded RNG and the scheduling strategies.
//!
//! - [`world`]: one run of a scenario, every choice drawn from a strategy.
//! - [`strategy`]: who moves next (random walk, PCT, following a trace or recorded moves), and
//!   the strategies a user picks by name.
//! - [`faults`]: the faults the scheduler may inject, and a run's plan of them.
//! - [`replayer`]: `nspsim replay`: re-run a trace and compare the bytes.
//! - [`rng`]: the seeded generator every draw comes from.
//! - [`runnable`]: the threads and exits that can move now, kept up to date step by step.
//! - [`timers`]: the threads and exits waiting for their virtual time, earliest first.

pub mod faults;
pub mod replayer;
pub mod rng;
pub mod runnable;
pub mod strategy;
pub mod timers;
pub mod world;

pub use world::{RunError, RunReport, run};
