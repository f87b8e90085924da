//! Live mode: the dispatcher under real concurrency (issue 8, in progress).
//!
//! So far: [`host`], providers on host threads of their own behind request/reply channels,
//! with call deadlines reported as `timeout` faults.

pub mod host;

pub use host::{RemoteProvider, hosted};
