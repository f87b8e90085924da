//! nspsim-core: what an NSPv2 namespace provider written for nspsim depends on.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod provider;
pub mod registry;
pub mod wsa;

pub use provider::{
    AsyncCall, EntryPoint, NextExOutput, NspContext, NspFn, NspResult, NspV2Provider,
    ProviderLookup, RoutineTable, SessionArg, SocketError, WorkToken,
};
pub use registry::{Factory, OptionDoc, ProviderKind, Registry};
pub use wsa::{Guid, LupFlags, Namespace, QuerySet, SetServiceFlags, SetServiceOp, WsaError};
