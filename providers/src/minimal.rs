//! `minimal` and `minimal-stubs`: providers with only the three required entry points.
//!
//! `minimal` leaves every optional slot of its routine table null (S1.2, S1.3): the dispatcher
//! must open and end its sessions without calling it. `minimal-stubs` fills the optional slots
//! with stubs that fail with WSAEOPNOTSUPP, which the dispatcher must treat the same way while
//! still tracing the calls. Both answer lookups inline from a fixed list of entries, one result
//! per NextEx, like Microsoft's own NSPv2 sample; they keep no per-session state.
//!
//! Options: `entries` (array of `{ name, addrs, comment, blob }`).

use crate::options::EntryOption;
use nspsim_core::handles::{Handle, HandleTable};
use nspsim_core::provider::{
    AsyncCall, HeldState, NextExOutput, NspContext, NspResult, NspV2Provider, ProviderLookup,
    RoutineTable, SessionArg,
};
use nspsim_core::wsa::{LupFlags, QuerySet, SetServiceFlags, SetServiceOp, WsaError};
use serde::Deserialize;
use std::sync::Arc;

/// The options of both minimal kinds.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MinimalOptions {
    #[serde(default)]
    pub entries: Vec<EntryOption>,
}

/// An open handle: the name looked up, the next result's index, and whether that result was
/// held back by a WSAEFAULT (S5.5).
#[derive(Debug)]
struct LookupState {
    name: String,
    cursor: usize,
    held_back: bool,
}

/// The `minimal` / `minimal-stubs` provider.
#[derive(Debug)]
pub struct Minimal {
    stubs: bool,
    /// Shared by every instance built from the same prepared options (read only).
    entries: Arc<[QuerySet]>,
    lookups: HandleTable<LookupState>,
}

impl Minimal {
    /// `stubs`: fill the optional slots with WSAEOPNOTSUPP stubs instead of leaving them null.
    pub fn new(options: MinimalOptions, stubs: bool) -> Self {
        Self::shared(Self::entries(&options), stubs)
    }

    /// The entries as the query sets lookups return, to share between instances.
    pub fn entries(options: &MinimalOptions) -> Arc<[QuerySet]> {
        options
            .entries
            .iter()
            .map(EntryOption::to_query_set)
            .collect()
    }

    /// An instance over entries converted once for many instances
    /// ([`ProviderKind::prepare`]).
    ///
    /// [`ProviderKind::prepare`]: nspsim_core::registry::ProviderKind::prepare
    pub fn shared(entries: Arc<[QuerySet]>, stubs: bool) -> Self {
        Minimal {
            stubs,
            entries,
            lookups: HandleTable::new(),
        }
    }
}

impl NspV2Provider for Minimal {
    fn routine_table(&self) -> RoutineTable {
        if self.stubs {
            RoutineTable::full()
        } else {
            RoutineTable::required_only()
        }
    }

    // The optional entry points keep the trait's defaults: WSAEOPNOTSUPP stubs. With `stubs`
    // off they are never called, because the table leaves them null.

    fn lookup_service_begin(
        &mut self,
        ctx: &mut NspContext,
        restrictions: &QuerySet,
        _flags: LupFlags,
        _session: Option<SessionArg>,
    ) -> NspResult<ProviderLookup> {
        let Some(name) = restrictions.service_instance_name.clone() else {
            return Err(ctx.fail(WsaError::EINVAL));
        };
        let handle = self.lookups.insert(LookupState {
            name,
            cursor: 0,
            held_back: false,
        });
        Ok(ProviderLookup(handle.to_raw()))
    }

    fn lookup_service_next_ex(
        &mut self,
        ctx: &mut NspContext,
        call: AsyncCall,
        lookup: ProviderLookup,
        flags: LupFlags,
        buffer_len: u32,
    ) {
        let Some(state) = self.lookups.get_mut(Handle::from_raw(lookup.0)) else {
            ctx.complete_async_call(call, Err(WsaError::INVALID_HANDLE));
            return;
        };
        if state.held_back && flags.contains(LupFlags::FLUSHPREVIOUS) {
            state.cursor += 1; // S5.5: skip the result that did not fit
        }
        state.held_back = false;
        let mut matching = self.entries.iter().filter(|e| {
            e.service_instance_name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(&state.name))
        });
        match matching.nth(state.cursor) {
            Some(entry) => {
                let result = entry.project(flags);
                let required = result.wire_size();
                if required > buffer_len {
                    state.held_back = true;
                    ctx.write_next_ex(call, NextExOutput::BufferTooSmall { required });
                    ctx.complete_async_call(call, Err(WsaError::EFAULT));
                } else {
                    state.cursor += 1;
                    ctx.write_next_ex(call, NextExOutput::Result(result));
                    ctx.complete_async_call(call, Ok(()));
                }
            }
            None if state.cursor == 0 => ctx.complete_async_call(call, Err(WsaError::NO_DATA)),
            None => ctx.complete_async_call(call, Err(WsaError::E_NO_MORE)),
        }
    }

    fn lookup_service_end(
        &mut self,
        ctx: &mut NspContext,
        lookup: ProviderLookup,
    ) -> NspResult<()> {
        match self.lookups.remove(Handle::from_raw(lookup.0)) {
            Some(_) => Ok(()),
            None => Err(ctx.fail(WsaError::INVALID_HANDLE)),
        }
    }

    fn set_service_ex(
        &mut self,
        ctx: &mut NspContext,
        call: AsyncCall,
        _info: &QuerySet,
        _op: SetServiceOp,
        _flags: SetServiceFlags,
        _session: Option<SessionArg>,
    ) {
        ctx.complete_async_call(call, Err(WsaError::EOPNOTSUPP));
    }

    fn held_state(&self) -> Option<HeldState> {
        Some(HeldState {
            sessions: 0,
            lookups: self.lookups.len(),
        })
    }
}
