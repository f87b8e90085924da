//! The NSPv2 routine table as a Rust trait, and the provider-side context.
//!
//! A provider is untrusted code that implements the seven NSPv2 entry points (S1.1). The
//! dispatcher never knows a concrete provider: it holds a `Box<dyn NspV2Provider>` per
//! advertised id and calls it through this trait.
//!
//! - [`RoutineTable`] is what a provider declares at advertise time: its `cbSize`, its version
//!   fields and, for each entry point, whether the slot is filled. An optional entry point may be
//!   absent (a null slot: never called, S1.3) or present; a present one may still be a stub that
//!   fails with WSAEOPNOTSUPP, which the dispatcher treats like an absent one (S1.3) but records
//!   as a real call.
//! - Fallible entry points follow the Windows convention (S1.4): they return `Ok` or
//!   `Err(SocketError)`, and the error code travels separately, through the thread's last error
//!   ([`NspContext::set_last_error`]). That is what lets a provider break P1 (SOCKET_ERROR with no
//!   last error), which the dispatcher must survive.
//! - `NSPv2LookupServiceNextEx` and `NSPv2SetServiceEx` return nothing: the provider finishes them
//!   with [`NspContext::complete_async_call`] (WSAProviderCompleteAsyncCall, S6), either inside
//!   the call or later. "Later" is explicit: the provider asks for a deferred turn with
//!   [`NspContext::defer`], and the driver (the deterministic scheduler or the live host thread)
//!   decides when [`NspV2Provider::run_deferred`] runs. A provider never starts threads of its own,
//!   which keeps every interleaving in the scheduler's hands (S6.3).

use crate::wsa::{Guid, LupFlags, QuerySet, SetServiceFlags, SetServiceOp, WsaError};
use std::fmt;
use std::num::NonZeroU64;

/// The size of the C routine table on 64-bit Windows (S1.1): three u32, four bytes of padding,
/// seven pointers.
pub const NSPV2_ROUTINE_SIZE: u32 = 72;
/// The size of the C routine table on 32-bit Windows (S1.1).
pub const NSPV2_ROUTINE_SIZE_32: u32 = 40;

/// The seven NSPv2 entry points, in routine-table order (S1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NspFn {
    /// NSPv2Startup: open a client session.
    Startup,
    /// NSPv2Cleanup: the orderly end of a session.
    Cleanup,
    /// NSPv2LookupServiceBegin: start a query.
    LookupServiceBegin,
    /// NSPv2LookupServiceNextEx: the next result of a query (completes asynchronously).
    LookupServiceNextEx,
    /// NSPv2LookupServiceEnd: end a query.
    LookupServiceEnd,
    /// NSPv2SetServiceEx: register, deregister or delete a service (completes asynchronously).
    SetServiceEx,
    /// NSPv2ClientSessionRundown: the abnormal end of a session (its client died).
    ClientSessionRundown,
}

impl NspFn {
    /// Every entry point, in table order.
    pub const ALL: [NspFn; 7] = [
        NspFn::Startup,
        NspFn::Cleanup,
        NspFn::LookupServiceBegin,
        NspFn::LookupServiceNextEx,
        NspFn::LookupServiceEnd,
        NspFn::SetServiceEx,
        NspFn::ClientSessionRundown,
    ];

    /// The entry point's Windows name, as traces write it (`fn`).
    pub const fn name(self) -> &'static str {
        match self {
            NspFn::Startup => "NSPv2Startup",
            NspFn::Cleanup => "NSPv2Cleanup",
            NspFn::LookupServiceBegin => "NSPv2LookupServiceBegin",
            NspFn::LookupServiceNextEx => "NSPv2LookupServiceNextEx",
            NspFn::LookupServiceEnd => "NSPv2LookupServiceEnd",
            NspFn::SetServiceEx => "NSPv2SetServiceEx",
            NspFn::ClientSessionRundown => "NSPv2ClientSessionRundown",
        }
    }

    /// The entry point with this Windows name (`NSPv2Startup`, …).
    pub fn from_name(name: &str) -> Option<NspFn> {
        NspFn::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether the table may leave this slot null (S1.2).
    pub const fn is_optional(self) -> bool {
        matches!(
            self,
            NspFn::Startup | NspFn::Cleanup | NspFn::SetServiceEx | NspFn::ClientSessionRundown
        )
    }

    /// Whether the function returns nothing (S1.4): its `ret` is traced as null.
    pub const fn is_void(self) -> bool {
        matches!(
            self,
            NspFn::LookupServiceNextEx | NspFn::SetServiceEx | NspFn::ClientSessionRundown
        )
    }

    /// The error codes the reference documents for this entry point (P2).
    pub fn documented_errors(self) -> &'static [WsaError] {
        use WsaError as E;
        match self {
            NspFn::Startup | NspFn::Cleanup | NspFn::SetServiceEx => &[
                E::NOT_ENOUGH_MEMORY,
                E::EACCES,
                E::EINVAL,
                E::EOPNOTSUPP,
                E::SERVICE_NOT_FOUND,
            ],
            NspFn::LookupServiceBegin => &[
                E::NOT_ENOUGH_MEMORY,
                E::EINVAL,
                E::SERVICE_NOT_FOUND,
                E::NO_DATA,
            ],
            NspFn::LookupServiceNextEx => &[
                E::INVALID_HANDLE,
                E::NOT_ENOUGH_MEMORY,
                E::EFAULT,
                E::EINVAL,
                E::SERVICE_NOT_FOUND,
                E::E_NO_MORE,
                E::E_CANCELLED,
                E::NO_DATA,
                // The documented older spellings of WSA_E_NO_MORE and WSA_E_CANCELLED.
                E::ENOMORE,
                E::ECANCELLED,
            ],
            NspFn::LookupServiceEnd => &[E::INVALID_HANDLE, E::NOT_ENOUGH_MEMORY],
            // A void function reports nothing; there is no set to keep to.
            NspFn::ClientSessionRundown => &[],
        }
    }
}

impl fmt::Display for NspFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a routine-table slot is filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryPoint {
    /// A null slot. Legal only for optional entry points (S1.2); never called (S1.3).
    Absent,
    /// A filled slot: the dispatcher calls it, even if it is only a WSAEOPNOTSUPP stub.
    Present,
}

/// What a provider hands to WSAAdvertiseProvider besides its code: the C table's header and
/// which slots are filled (S1.1, S1.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoutineTable {
    /// `cbSize`. Smaller than [`NSPV2_ROUTINE_SIZE`] → WSAEINVAL at advertise time (S1.5).
    pub cb_size: u32,
    /// Recorded, not checked (S1.5).
    pub major_version: u32,
    /// Recorded, not checked (S1.5).
    pub minor_version: u32,
    /// One entry per [`NspFn`], in table order.
    pub entries: [EntryPoint; 7],
}

impl RoutineTable {
    /// A full table: every entry point present.
    pub const fn full() -> Self {
        RoutineTable {
            cb_size: NSPV2_ROUTINE_SIZE,
            major_version: 2,
            minor_version: 0,
            entries: [EntryPoint::Present; 7],
        }
    }

    /// Only the three required entry points (S1.2); every optional slot null.
    pub const fn required_only() -> Self {
        let mut table = RoutineTable::full();
        table.entries[NspFn::Startup as usize] = EntryPoint::Absent;
        table.entries[NspFn::Cleanup as usize] = EntryPoint::Absent;
        table.entries[NspFn::SetServiceEx as usize] = EntryPoint::Absent;
        table.entries[NspFn::ClientSessionRundown as usize] = EntryPoint::Absent;
        table
    }

    /// The same table with one slot changed.
    pub const fn with(mut self, f: NspFn, entry: EntryPoint) -> Self {
        self.entries[f as usize] = entry;
        self
    }

    /// Whether the slot of `f` is filled.
    pub const fn has(&self, f: NspFn) -> bool {
        matches!(self.entries[f as usize], EntryPoint::Present)
    }

    /// The optional entry points left null, in table order (the trace's `absent`).
    pub fn absent_optional(&self) -> Vec<NspFn> {
        NspFn::ALL
            .into_iter()
            .filter(|f| f.is_optional() && !self.has(*f))
            .collect()
    }

    /// The first required entry point left null, if any (S3.1).
    pub fn missing_required(&self) -> Option<NspFn> {
        NspFn::ALL
            .into_iter()
            .find(|f| !f.is_optional() && !self.has(*f))
    }
}

/// The failure marker of the SOCKET_ERROR convention (S1.4). The code itself is the thread's
/// last error, set through [`NspContext::set_last_error`] (or, when a provider breaks P1, not at
/// all). Use [`NspContext::fail`] to set both at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketError;

/// The return of a fallible entry point.
pub type NspResult<T> = Result<T, SocketError>;

/// The opaque, pointer-sized client session argument a provider's Startup produces (S4.5). Null
/// is `None` wherever one is passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionArg(pub NonZeroU64);

impl SessionArg {
    /// A session argument from its raw value; `None` for 0 (null).
    pub fn new(raw: u64) -> Option<SessionArg> {
        NonZeroU64::new(raw).map(SessionArg)
    }
    /// The raw pointer-sized value.
    pub fn raw(self) -> u64 {
        self.0.get()
    }
}

/// The opaque `hLookup` a provider's Begin returns. Any value is legal, even 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProviderLookup(pub u64);

/// An `hAsyncCall`: the dispatcher's name for one NextEx or SetServiceEx call (S6.1). Fresh for
/// every call and never reused within a run; providers must treat it as opaque.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AsyncCall(pub u64);

/// A provider's own name for a piece of deferred work ([`NspContext::defer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkToken(pub u64);

/// What NextEx writes into the caller's buffer before it completes (S5.5).
// Written once per NextEx and moved, never stored in bulk: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NextExOutput {
    /// One result, written into `lpqsResults`.
    Result(QuerySet),
    /// The buffer was too small: the required length goes to `*lpdwBufferLength`, and the
    /// provider completes the call with WSAEFAULT.
    /// The buffer was too small: the provider completes with WSAEFAULT and reports `required` bytes.
    BufferTooSmall {
        /// The length the result needs, in bytes.
        required: u32,
    },
}

/// Which client a provider call serves. Real providers see this through RPC impersonation; mocks
/// may use it for diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallSite {
    /// The provider called.
    pub provider: Guid,
    /// The client process served (0 for deferred work, which serves no one in particular).
    pub pid: u32,
}

/// One thing a provider did through its context, in the order it did it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContextOp {
    /// [`NspContext::write_next_ex`]. Boxed: a result is a few hundred bytes, and every
    /// operation is moved into the context's list and out again; the box is what the
    /// dispatcher keeps until the call completes.
    WriteNextEx(AsyncCall, Box<NextExOutput>),
    /// [`NspContext::complete_async_call`].
    Complete(AsyncCall, Result<(), WsaError>),
    /// [`NspContext::defer`].
    Defer(WorkToken),
}

/// The provider's view of Ws2_32 during one call: its thread's last error, the async-call
/// completion API, and the request for deferred work.
///
/// Everything is buffered and applied by the dispatcher after the entry point returns, in the
/// order the provider did it; so a completion made inside NextEx is an inline completion (S6.3),
/// and the same context type serves the simulated and the live driver.
#[derive(Debug)]
pub struct NspContext {
    site: CallSite,
    last_error: Option<WsaError>,
    ops: Vec<ContextOp>,
}

impl NspContext {
    /// A fresh context for one call at `site`.
    #[inline]
    pub fn new(site: CallSite) -> Self {
        Self::with_buffer(site, Vec::new())
    }

    /// A context whose operations go into `ops` (cleared first): a caller that makes many
    /// provider calls hands back the buffer [`NspContext::take_ops`] returned, and most calls
    /// then allocate nothing.
    #[inline]
    pub fn with_buffer(site: CallSite, mut ops: Vec<ContextOp>) -> Self {
        // Callers hand the buffer back emptied; dropping leftovers (a loop over boxed
        // results) is kept out of line so that this stays small enough to inline.
        if !ops.is_empty() {
            drop_ops(&mut ops);
        }
        NspContext {
            site,
            last_error: None,
            ops,
        }
    }

    /// Which provider and client this call serves.
    #[inline]
    pub fn site(&self) -> CallSite {
        self.site
    }

    /// WSASetLastError on the calling thread (S4.2).
    #[inline]
    pub fn set_last_error(&mut self, err: WsaError) {
        self.last_error = Some(err);
    }

    /// Sets the last error and returns the SOCKET_ERROR marker: `return Err(ctx.fail(e))`.
    #[inline]
    pub fn fail(&mut self, err: WsaError) -> SocketError {
        self.set_last_error(err);
        SocketError
    }

    /// Fills NextEx's output for `call` (the buffer and `*lpdwBufferLength`).
    #[inline]
    pub fn write_next_ex(&mut self, call: AsyncCall, output: NextExOutput) {
        self.ops
            .push(ContextOp::WriteNextEx(call, Box::new(output)));
    }

    /// WSAProviderCompleteAsyncCall (S6.2). The code is `Ok(())` or a Winsock error.
    #[inline]
    pub fn complete_async_call(&mut self, call: AsyncCall, code: Result<(), WsaError>) {
        self.ops.push(ContextOp::Complete(call, code));
    }

    /// Ask the driver to call [`NspV2Provider::run_deferred`] with `token` at a time of its
    /// choosing (S6.3).
    #[inline]
    pub fn defer(&mut self, token: WorkToken) {
        self.ops.push(ContextOp::Defer(token));
    }

    /// Records an operation the provider made through another context, as if made through
    /// this one: a driver that runs the provider's code elsewhere (a host thread or process)
    /// hands its operations back here, in order.
    #[inline]
    pub fn replay(&mut self, op: ContextOp) {
        self.ops.push(op);
    }

    /// The last error the provider set in this call, if any.
    #[inline]
    pub fn last_error(&self) -> Option<WsaError> {
        self.last_error
    }

    /// Takes the buffered operations, leaving the context empty.
    #[inline]
    pub fn take_ops(&mut self) -> Vec<ContextOp> {
        std::mem::take(&mut self.ops)
    }
}

/// [`NspContext::with_buffer`]'s rare case: a buffer handed back with operations in it.
#[cold]
#[inline(never)]
fn drop_ops(ops: &mut Vec<ContextOp>) {
    ops.clear();
}

/// The panic payload a provider proxy raises when a call misses its deadline (a live host, or
/// a C provider's host process that does not answer): the dispatcher contains it like a panic
/// (P4) and reports it as a `timeout` fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderTimeout {
    /// The entry point that did not return.
    pub func: NspFn,
    /// The deadline it missed, in milliseconds.
    pub after_ms: u64,
}

impl fmt::Display for ProviderTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} did not return within {} ms",
            self.func, self.after_ms
        )
    }
}

/// The panic payload a provider proxy raises when the process its code runs in died during a
/// call (a C provider's host: a signal, `exit`, a sanitizer report). The dispatcher contains it
/// (P4) and reports a `crash` fault whose detail is this text: it names the signal or exit
/// status and the entry point that was running, and must not depend on addresses or timing,
/// because it is written to the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderCrash {
    /// What happened, e.g. `host killed by SIGSEGV during NSPv2LookupServiceNextEx`.
    pub detail: String,
}

impl fmt::Display for ProviderCrash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

/// The panic payload a provider proxy raises when nspsim can no longer run the provider's
/// code for a reason that is not the provider's doing: the machinery around it failed (a C
/// provider's fork server is gone, so how its host ended cannot be known). It is no finding: a
/// sim run is abandoned with an error, never judged, so that exploration does not report a
/// crash the provider did not cause. Live mode, whose threads cannot be abandoned, reports it
/// as a crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HarnessFailure {
    /// What failed, e.g. `host ended (how is unknown: its fork server is gone) during …`.
    pub detail: String,
}

impl fmt::Display for HarnessFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

/// What a provider can report about the state it holds (for P5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeldState {
    /// Client sessions open (Startup without Cleanup or Rundown yet).
    pub sessions: usize,
    /// Lookups open (Begin without End yet).
    pub lookups: usize,
}

/// An NSPv2 namespace provider: the routine table of S1.1 as a trait.
///
/// Optional entry points have default bodies that behave like WSAEOPNOTSUPP stubs, but whether
/// the dispatcher calls them at all is decided by [`NspV2Provider::routine_table`], which every
/// provider must state explicitly.
pub trait NspV2Provider: Send {
    /// The table header and which slots are filled (S1.1, S1.2, S1.5).
    fn routine_table(&self) -> RoutineTable;

    /// NSPv2Startup: open a client session and produce its argument (S4.3).
    fn startup(&mut self, ctx: &mut NspContext) -> NspResult<Option<SessionArg>> {
        Err(ctx.fail(WsaError::EOPNOTSUPP))
    }

    /// NSPv2Cleanup: the orderly end of a session (S4.6).
    fn cleanup(&mut self, ctx: &mut NspContext, session: Option<SessionArg>) -> NspResult<()> {
        let _ = session;
        Err(ctx.fail(WsaError::EOPNOTSUPP))
    }

    /// NSPv2LookupServiceBegin (S5.3).
    fn lookup_service_begin(
        &mut self,
        ctx: &mut NspContext,
        restrictions: &QuerySet,
        flags: LupFlags,
        session: Option<SessionArg>,
    ) -> NspResult<ProviderLookup>;

    /// NSPv2LookupServiceNextEx (S5.4): void; finishes with a completion of `call`.
    fn lookup_service_next_ex(
        &mut self,
        ctx: &mut NspContext,
        call: AsyncCall,
        lookup: ProviderLookup,
        flags: LupFlags,
        buffer_len: u32,
    );

    /// NSPv2LookupServiceEnd (S5.7).
    fn lookup_service_end(&mut self, ctx: &mut NspContext, lookup: ProviderLookup)
    -> NspResult<()>;

    /// NSPv2SetServiceEx (S7): void; finishes with a completion of `call`.
    fn set_service_ex(
        &mut self,
        ctx: &mut NspContext,
        call: AsyncCall,
        info: &QuerySet,
        op: SetServiceOp,
        flags: SetServiceFlags,
        session: Option<SessionArg>,
    ) {
        let _ = (info, op, flags, session);
        ctx.complete_async_call(call, Err(WsaError::EOPNOTSUPP));
    }

    /// NSPv2ClientSessionRundown: the abnormal end of a session (S4.7). Void.
    fn client_session_rundown(&mut self, ctx: &mut NspContext, session: Option<SessionArg>) {
        let _ = (ctx, session);
    }

    /// A deferred turn the provider asked for with [`NspContext::defer`].
    fn run_deferred(&mut self, ctx: &mut NspContext, token: WorkToken) {
        let _ = (ctx, token);
    }

    /// The session and lookup state the provider holds, if it can tell (P5).
    fn held_state(&self) -> Option<HeldState> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s1_1_table_order_and_names() {
        let names: Vec<_> = NspFn::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            [
                "NSPv2Startup",
                "NSPv2Cleanup",
                "NSPv2LookupServiceBegin",
                "NSPv2LookupServiceNextEx",
                "NSPv2LookupServiceEnd",
                "NSPv2SetServiceEx",
                "NSPv2ClientSessionRundown"
            ]
        );
        for f in NspFn::ALL {
            assert_eq!(NspFn::from_name(f.name()), Some(f));
        }
    }

    #[test]
    fn s1_1_c_layout_size_matches_windows() {
        // Mirror of NSPV2_ROUTINE: cbSize, dwMajorVersion, dwMinorVersion, then seven pointers.
        #[repr(C)]
        #[allow(dead_code)]
        struct NspV2RoutineC {
            cb_size: u32,
            major: u32,
            minor: u32,
            fns: [usize; 7],
        }
        let expected = if cfg!(target_pointer_width = "64") {
            NSPV2_ROUTINE_SIZE
        } else {
            NSPV2_ROUTINE_SIZE_32
        };
        assert_eq!(std::mem::size_of::<NspV2RoutineC>() as u32, expected);
    }

    #[test]
    fn s1_2_required_and_optional_slots() {
        let table = RoutineTable::required_only();
        assert_eq!(table.missing_required(), None);
        assert_eq!(
            table.absent_optional(),
            [
                NspFn::Startup,
                NspFn::Cleanup,
                NspFn::SetServiceEx,
                NspFn::ClientSessionRundown
            ]
        );
        let broken = RoutineTable::full().with(NspFn::LookupServiceEnd, EntryPoint::Absent);
        assert_eq!(broken.missing_required(), Some(NspFn::LookupServiceEnd));
        assert!(RoutineTable::full().absent_optional().is_empty());
    }

    #[test]
    fn context_keeps_operations_in_order() {
        let mut ctx = NspContext::new(CallSite {
            provider: Guid::NIL,
            pid: 1,
        });
        assert_eq!(ctx.fail(WsaError::EINVAL), SocketError);
        ctx.defer(WorkToken(3));
        ctx.complete_async_call(AsyncCall(1), Ok(()));
        assert_eq!(ctx.last_error(), Some(WsaError::EINVAL));
        assert_eq!(
            ctx.take_ops(),
            [
                ContextOp::Defer(WorkToken(3)),
                ContextOp::Complete(AsyncCall(1), Ok(()))
            ]
        );
        assert!(ctx.take_ops().is_empty());
    }
}
