//! Deterministic simulation: the seeded RNG and the scheduling strategies.

pub mod rng;
pub mod strategy;
