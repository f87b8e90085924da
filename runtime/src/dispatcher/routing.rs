//! Which providers a client call goes to, in order (S5.1, S5.2, S7.1): the catalog as the
//! calling process sees it (S2.3), filtered to enabled and advertised entries (S3.3).

use super::Dispatcher;
use crate::catalog::Authority;
use crate::event::{EventSink, Pid};
use crate::wsa::{Guid, Namespace, WsaError};

impl<S: EventSink> Dispatcher<S> {
    /// The providers a call is routed to, in order (S5.1, S5.2, S7.1).
    pub(super) fn route(
        &self,
        pid: Pid,
        namespace: Namespace,
        provider: Option<Guid>,
    ) -> Result<Vec<Guid>, WsaError> {
        let epoch = self.catalog_epoch(pid);
        if let Some(id) = provider {
            if !self.catalog.is_visible(id, epoch) || !self.catalog.is_enabled(id) {
                return Err(WsaError::EINVAL);
            }
            // S3.3: an installed provider that is not advertised is skipped silently.
            return Ok(if self.is_advertised(id) {
                vec![id]
            } else {
                vec![]
            });
        }
        let mut routed: Vec<(u8, Guid)> = self
            .catalog
            .visible(epoch)
            .filter(|e| e.enabled && self.is_advertised(e.entry.id))
            .filter(|e| namespace == Namespace::ALL || e.entry.namespace == namespace)
            .map(|e| (Authority::rank(e.entry.authority), e.entry.id))
            .collect();
        if namespace == Namespace::EMAIL {
            // Stable: catalog order within each authority level (S5.2).
            routed.sort_by_key(|(rank, _)| *rank);
        }
        Ok(routed.into_iter().map(|(_, id)| id).collect())
    }

    /// Whether a NS_EMAIL query over `routed` stops at the first provider that answers (S5.2,
    /// S7.1): only when some routed provider carries an authority level.
    pub(super) fn authority_routing(&self, namespace: Namespace, routed: &[Guid]) -> bool {
        namespace == Namespace::EMAIL
            && routed
                .iter()
                .any(|id| self.catalog.get(*id).is_some_and(|e| e.authority.is_some()))
    }
}
