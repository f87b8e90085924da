//! Live mode: the dispatcher under real concurrency — providers on host threads
//! ([`host`]), client threads as tokio tasks, real time ([`driver`]). A live trace replays in
//! sim mode, where the race it recorded can be studied forever.

pub mod driver;
pub mod host;
pub mod wait;

pub use driver::{LiveOptions, LiveReport, run_live};
pub use host::{RemoteProvider, hosted};
