//! The verdict side of a run: the lifecycle checker, attached to simulations and replays
//! online (a `violation` line right after the event that broke a rule).

pub use crate::checker::{Checked, Report, Violation as Finding, check};
