//! nspsim's emulator: a user-mode model of what Windows' Ws2_32.dll does between client
//! processes and namespace service providers version 2 (NSPv2).
//!
//! The contract is `docs/semantics.md` (rules S, L, P); modules cite the rules they implement.
//!
//! - Winsock values: [`wsa`] (errors, namespaces, flags, GUIDs, WSAQUERYSET2).
//! - The provider side: [`provider`] (the routine table as a trait, and the provider context).
//! - The dispatcher: [`dispatcher`], the Ws2_32 face, one submodule per Windows concept
//!   (process, session, lookup, async call, set service, advertisement, catalog operations)
//!   and one provider-call seam; beside it [`catalog`] (the catalog data structure) and
//!   [`handles`] (generation-checked handle tables).
//! - What leaves the dispatcher: [`event`].

pub use nspsim_core::{handles, provider, wsa};

pub mod catalog;
pub mod checker;
pub mod config;
pub mod dispatcher;
pub mod event;
pub mod live;
pub mod registry;
pub mod scenario;
pub mod script;
pub mod sim;
pub mod trace;
mod vec_map;

pub use catalog::{Authority, Catalog, CatalogEntry, EmailRouting, email_candidates};
pub use config::{Config, Profile, StartupPolicy};
pub use dispatcher::{ApiError, ApiResult, Dispatcher, LookupHandle, Wake, WakeOutcome, WorkItem};
pub use event::{
    ApiFn, Event, EventSink, ExitHow, Label, LabelKind, NullSink, Pid, Role, Stamped, Tid, VecSink,
};
pub use provider::{
    AsyncCall, EntryPoint, NextExOutput, NspContext, NspFn, NspResult, NspV2Provider,
    ProviderLookup, RoutineTable, SessionArg, SocketError, WorkToken,
};
pub use wsa::{Guid, LupFlags, Namespace, QuerySet, SetServiceFlags, SetServiceOp, WsaError};
