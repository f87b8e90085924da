//! What an NSPv2 namespace provider written in Rust for nspsim depends on, and nothing more:
//! no async runtime, no TOML, no command line, no trace machinery.
//!
//! - [`wsa`]: the Winsock vocabulary: [`WsaError`] with the real numbers, [`Namespace`],
//!   [`LupFlags`], [`Guid`], the WSAQUERYSET2 as [`QuerySet`], [`SetServiceOp`].
//! - [`provider`]: the routine table as the [`NspV2Provider`] trait, and [`NspContext`], the
//!   provider's view of Ws2_32 during one call (its last error, WSAProviderCompleteAsyncCall,
//!   and deferred work the scheduler decides when to run).
//! - [`registry`]: a [`ProviderKind`] names a provider, documents its options and builds
//!   instances; a [`Registry`] holds the kinds a scenario may name with `kind = "…"`.
//! - [`handles`]: a table that issues generation-checked handles, O(1) by handle: a place
//!   for a provider's per-lookup state that refuses a handle already freed (the dispatcher
//!   keeps its own handles in these, and so do the mock providers).
//!
//! A provider never starts threads: a completion it wants to deliver later is a
//! [`NspContext::defer`] request, and the simulator (or live mode's host thread) picks the
//! moment, which is how nspsim explores every order of completions, cleanups and crashes.
//!
//! To run a provider under nspsim from `cargo test`, add the `nspsim` crate as a
//! dev-dependency and register your kind there (see its crate documentation).
//!
//! # Example
//!
//! A provider that knows one name, answered inline, and its kind:
//!
//! ```
//! use nspsim_core::provider::CallSite;
//! use nspsim_core::registry::{OptionDoc, ProviderKind, Registry};
//! use nspsim_core::wsa::{CsAddr, QuerySet};
//! use nspsim_core::{
//!     AsyncCall, Guid, LupFlags, Namespace, NextExOutput, NspContext, NspResult, NspV2Provider,
//!     ProviderLookup, RoutineTable, SessionArg, WsaError,
//! };
//!
//! /// Answers `alice@example.com` once per lookup.
//! #[derive(Default)]
//! struct OneName {
//!     next_lookup: u64,
//!     answered: Vec<u64>,
//! }
//!
//! impl NspV2Provider for OneName {
//!     fn routine_table(&self) -> RoutineTable {
//!         RoutineTable::required_only()
//!     }
//!     fn lookup_service_begin(
//!         &mut self,
//!         ctx: &mut NspContext,
//!         restrictions: &QuerySet,
//!         _flags: LupFlags,
//!         _session: Option<SessionArg>,
//!     ) -> NspResult<ProviderLookup> {
//!         if restrictions.service_instance_name.as_deref() != Some("alice@example.com") {
//!             return Err(ctx.fail(WsaError::SERVICE_NOT_FOUND));
//!         }
//!         self.next_lookup += 1;
//!         Ok(ProviderLookup(self.next_lookup))
//!     }
//!     fn lookup_service_next_ex(
//!         &mut self,
//!         ctx: &mut NspContext,
//!         call: AsyncCall,
//!         lookup: ProviderLookup,
//!         flags: LupFlags,
//!         _buffer_len: u32,
//!     ) {
//!         if self.answered.contains(&lookup.0) {
//!             return ctx.complete_async_call(call, Err(WsaError::E_NO_MORE));
//!         }
//!         self.answered.push(lookup.0);
//!         let result = QuerySet {
//!             addresses: vec![CsAddr::tcp("192.0.2.10:25".parse().expect("an address"))],
//!             ..QuerySet::restrictions(Namespace::EMAIL, "alice@example.com")
//!         };
//!         ctx.write_next_ex(call, NextExOutput::Result(result.project(flags)));
//!         ctx.complete_async_call(call, Ok(()));
//!     }
//!     fn lookup_service_end(&mut self, _ctx: &mut NspContext, lookup: ProviderLookup) -> NspResult<()> {
//!         self.answered.retain(|l| *l != lookup.0);
//!         Ok(())
//!     }
//! }
//!
//! /// `kind = "one-name"`; it takes no options.
//! struct OneNameKind;
//!
//! impl ProviderKind for OneNameKind {
//!     fn name(&self) -> &'static str {
//!         "one-name"
//!     }
//!     fn summary(&self) -> &'static str {
//!         "answers alice@example.com, inline"
//!     }
//!     fn options(&self) -> &'static [OptionDoc] {
//!         &[]
//!     }
//!     fn validate(&self, options: &serde_json::Value) -> Result<(), String> {
//!         match options.as_object() {
//!             Some(o) if !o.is_empty() => Err("one-name takes no options".into()),
//!             _ => Ok(()),
//!         }
//!     }
//!     fn build(&self, options: &serde_json::Value) -> Result<Box<dyn NspV2Provider>, String> {
//!         self.validate(options)?;
//!         Ok(Box::new(OneName::default()))
//!     }
//! }
//!
//! let mut registry = Registry::new();
//! registry.register(Box::new(OneNameKind));
//! assert_eq!(registry.names(), ["one-name"]);
//!
//! // Call the entry points by hand, the way the dispatcher does (nspsim does it for you).
//! let kind = registry.get("one-name").expect("registered");
//! let mut provider = kind.build(&serde_json::json!({})).expect("no options");
//! let mut ctx = NspContext::new(CallSite { provider: Guid::NIL, pid: 1 });
//! let query = QuerySet::restrictions(Namespace::EMAIL, "alice@example.com");
//! let lookup = provider
//!     .lookup_service_begin(&mut ctx, &query, LupFlags::RETURN_NAME, None)
//!     .expect("Begin");
//! provider.lookup_service_next_ex(&mut ctx, AsyncCall(1), lookup, LupFlags::RETURN_NAME, 4096);
//! assert_eq!(ctx.take_ops().len(), 2, "a result, then its completion");
//! assert!(kind.validate(&serde_json::json!({ "color": "red" })).is_err());
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod handles;
pub mod provider;
pub mod registry;
pub mod wsa;

pub use provider::{
    AsyncCall, EntryPoint, HarnessFailure, NextExOutput, NspContext, NspFn, NspResult,
    NspV2Provider, ProviderCrash, ProviderLookup, ProviderTimeout, RoutineTable, SessionArg,
    SocketError, WorkToken,
};
pub use registry::{Factory, Installation, OptionDoc, ProviderKind, Registry};
pub use wsa::{Guid, LupFlags, Namespace, QuerySet, SetServiceFlags, SetServiceOp, WsaError};
