//! Deterministic simulation: the seeded RNG and the scheduling strategies.

pub mod faults;
pub mod replayer;
pub mod rng;
pub mod strategy;
pub mod world;

pub use world::{RunError, RunReport, run};
