//! Which providers a client call goes to, in order (S5.1, S5.2, S7.1): the catalog as the
//! calling process sees it (S2.3), filtered to enabled and advertised entries (S3.3).
//!
//! NS_EMAIL names with a domain part, in a namespace where some routed provider carries NAPI
//! data, follow S5.2: [`email_candidates`] gives the domain's candidates (the first primary
//! claim, the secondaries, the wildcards; a provider with no claim, or level `none`, only as a
//! wildcard). Policy (§13): providers without NAPI data come after the candidates
//! ([`crate::catalog::EmailRouting::order`]) and are asked the same way, one at a time, only
//! when every candidate before them was unavailable or could not resolve. Everything else
//! routes as S5.1 says: every routed provider, in catalog order.

use super::Dispatcher;
use crate::catalog::email_candidates;
use crate::event::{EventSink, Pid};
use crate::wsa::{Guid, Namespace, WsaError};
use smallvec::{SmallVec, smallvec};

/// Providers in routing order: inline for the usual few, since a route is worked out at
/// every Begin.
pub(super) type Providers = SmallVec<[Guid; 4]>;

/// Where a client call goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Route {
    /// S5.1/S5.3: every routed provider, in catalog order; each is called.
    Every(Providers),
    /// S5.2 (and S7.1 for registration): NS_EMAIL authority routing. The candidates in
    /// order, then the providers without NAPI data; asked one at a time unless the lookup says
    /// LUP_NON_AUTHORITATIVE.
    Authority(Providers),
}

impl Route {
    pub fn providers(&self) -> &[Guid] {
        match self {
            Route::Every(p) | Route::Authority(p) => p,
        }
    }
}

impl<S: EventSink> Dispatcher<S> {
    /// The providers a call about `name` is routed to, in order (S5.1, S5.2, S7.1).
    pub(super) fn route(
        &self,
        pid: Pid,
        namespace: Namespace,
        provider: Option<Guid>,
        name: Option<&str>,
    ) -> Result<Route, WsaError> {
        let epoch = self.catalog_epoch(pid);
        if let Some(id) = provider {
            if !self.tables.catalog.is_visible(id, epoch) || !self.tables.catalog.is_enabled(id) {
                return Err(WsaError::EINVAL);
            }
            // S3.3: an installed provider that is not advertised is skipped silently.
            return Ok(Route::Every(if self.is_advertised(id) {
                smallvec![id]
            } else {
                Providers::new()
            }));
        }
        let routed = || {
            self.tables
                .catalog
                .visible(epoch)
                .filter(|e| e.enabled && self.is_advertised(e.entry.id))
                .filter(|e| namespace == Namespace::ALL || e.entry.namespace == namespace)
        };
        // One walk finds both the catalog-order route and whether any routed entry has NAPI
        // data; without any, S5.2 routes in catalog order too.
        let mut every = Providers::new();
        let mut napi = false;
        for e in routed() {
            napi |= e.entry.napi().is_some();
            every.push(e.entry.id);
        }
        if namespace == Namespace::EMAIL
            && napi
            && let Some(order) =
                email_candidates(routed().map(|e| &e.entry), name.unwrap_or("")).order()
        {
            return Ok(Route::Authority(Providers::from_vec(order)));
        }
        Ok(Route::Every(every))
    }
}
