//! What a driver sees of the dispatcher besides its methods: the client API's error and result
//! types, the client lookup handle, the wakes of blocking calls that finished, deferred work
//! items, and the live mode's timeout payload.
//!
//! Nothing here holds dispatcher state; drivers (the simulator, the live host, scripts) and
//! other crates name these types through `nspsim_runtime::dispatcher` or the crate root.

use crate::event::{Label, Pid, Tid};
use crate::provider::{NspFn, WorkToken};
use crate::wsa::{Guid, QuerySet, WsaError};
use std::cell::Cell;
use std::fmt;

/// A client API failure: the Winsock error, plus the buffer length the call wrote back when
/// it failed with WSAEFAULT (S2.4, S5.5).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ApiError {
    pub code: WsaError,
    pub required_len: Option<u32>,
}

impl ApiError {
    pub fn buffer_too_small(required: u32) -> Self {
        ApiError {
            code: WsaError::EFAULT,
            required_len: Some(required),
        }
    }
}

impl From<WsaError> for ApiError {
    fn from(code: WsaError) -> Self {
        ApiError {
            code,
            required_len: None,
        }
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.required_len {
            Some(n) => write!(f, "{} (buffer needs {n} bytes)", self.code),
            None => write!(f, "{}", self.code),
        }
    }
}

impl std::error::Error for ApiError {}

pub type ApiResult<T> = Result<T, ApiError>;

/// The client lookup handle WSALookupServiceBegin returns. Opaque and forgeable, like a
/// Windows HANDLE: the dispatcher validates it on every use (S5.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LookupHandle(pub u64);

/// A blocking call that finished after the driver was told `Pending`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wake {
    pub pid: Pid,
    pub tid: Tid,
    pub outcome: WakeOutcome,
}

// Moved once from the dispatcher to the driver: boxing the result would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WakeOutcome {
    LookupServiceNext(ApiResult<QuerySet>),
    SetService(ApiResult<()>),
}

/// A provider's request for a deferred turn (S6.3), waiting for the driver to run it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkItem {
    pub id: u64,
    pub provider: Guid,
    pub token: WorkToken,
    /// The entry point during which the work was requested (for fault reports).
    pub origin: NspFn,
    /// The async call that entry point was serving (NextEx, SetServiceEx), if any: what a
    /// replay matches an `async.complete` line against.
    pub serves: Option<Label>,
}

pub use crate::provider::{HarnessFailure, ProviderCrash, ProviderTimeout};

thread_local! {
    static IN_PROVIDER_CALL: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is inside a provider entry point right now. A panic hook uses it to
/// stay quiet about provider panics, which the dispatcher contains and reports itself (P4).
pub fn in_provider_call() -> bool {
    IN_PROVIDER_CALL.with(|c| c.get())
}

/// Only the provider-call seam says when a provider entry point runs (twice per call, so
/// inline).
#[inline]
pub(super) fn set_in_provider_call(inside: bool) {
    IN_PROVIDER_CALL.with(|c| c.set(inside));
}
