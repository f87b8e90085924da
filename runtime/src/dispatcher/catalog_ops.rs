//! The catalog as the running system sees it: installs, uninstalls and enables while a run goes
//! on (S2.1), and WSAEnumNameSpaceProvidersEx (S2.4).
//!
//! The catalog itself (ordering, snapshots) is `catalog`; this module traces its changes and
//! applies their consequences to live sessions.

use super::api::{ApiError, ApiResult};
use super::{Detach, Dispatcher, Work, emit};
use crate::catalog::CatalogEntry;
use crate::event::{ApiFn, Event, EventSink, Fields, Pid, Tid};
use crate::wsa::{Guid, NsProviderInfo, SOCKET_ERROR, WsaError, error::code_of, nsinfo};
use serde_json::json;

impl<S: EventSink> Dispatcher<S> {
    /// WSCInstallNameSpace (S2.1).
    pub fn install_provider(&mut self, entry: CatalogEntry) -> Result<(), WsaError> {
        let (provider, name, namespace, version) = (
            entry.id,
            self.detail_name(&entry.name),
            entry.namespace,
            entry.version,
        );
        let outcome = self.tables.catalog.install(entry);
        emit!(
            self,
            Event::CatalogInstall {
                provider,
                name,
                namespace,
                version,
                ret: if outcome.is_ok() { 0 } else { SOCKET_ERROR },
                err: code_of(outcome),
            }
        );
        outcome
    }

    /// WSCUnInstallNameSpace (S2.1). An advertised provider becomes unreachable (L8).
    pub fn uninstall_provider(&mut self, id: Guid) -> Result<(), WsaError> {
        let outcome = self.tables.catalog.uninstall(id).map(|_| ());
        emit!(
            self,
            Event::CatalogUninstall {
                provider: id,
                ret: if outcome.is_ok() { 0 } else { SOCKET_ERROR },
                err: code_of(outcome),
            }
        );
        if outcome.is_ok() {
            self.detach_unreachable(id);
        }
        outcome
    }

    /// WSCEnableNSProvider (S2.1). Disabling an advertised provider makes it unreachable (L8).
    pub fn enable_provider(&mut self, id: Guid, enabled: bool) -> Result<(), WsaError> {
        let was_enabled = self.tables.catalog.is_enabled(id);
        let outcome = self.tables.catalog.set_enabled(id, enabled);
        emit!(
            self,
            Event::CatalogEnable {
                provider: id,
                enabled,
                ret: if outcome.is_ok() { 0 } else { SOCKET_ERROR },
                err: code_of(outcome),
            }
        );
        if outcome.is_ok() && was_enabled && !enabled {
            self.detach_unreachable(id);
        }
        outcome
    }

    fn detach_unreachable(&mut self, id: Guid) {
        if self.is_loaded(id) {
            self.enqueue(Work::Detach {
                provider: id,
                how: Detach::Unreachable,
            });
            self.pump();
        }
    }

    /// WSAEnumNameSpaceProvidersEx (S2.4): the entries this process can see; a buffer that is
    /// too small gets WSAEFAULT with the required length.
    pub fn wsa_enum_name_space_providers_ex(
        &mut self,
        pid: Pid,
        tid: Tid,
        buffer_len: u32,
    ) -> ApiResult<Vec<NsProviderInfo>> {
        self.check_caller(pid, tid)?;
        self.api_call(pid, tid, ApiFn::WSAEnumNameSpaceProvidersEx, || {
            Fields::from([("buffer".into(), json!(buffer_len))])
        });
        let outcome = self
            .check_started(pid)
            .map_err(ApiError::from)
            .and_then(|()| {
                let epoch = self.catalog_epoch(pid);
                let entries = self.tables.catalog.enumerate(epoch);
                let required = nsinfo::wire_size(&entries);
                if required > buffer_len {
                    Err(ApiError::buffer_too_small(required))
                } else {
                    Ok(entries)
                }
            });
        let (ret, err) = match &outcome {
            Ok(entries) => (entries.len() as i32, 0),
            Err(e) => (SOCKET_ERROR, e.code.code()),
        };
        self.set_last_error(pid, tid, err);
        emit!(
            self,
            Event::ApiReturn {
                pid,
                tid,
                call: ApiFn::WSAEnumNameSpaceProvidersEx,
                ret,
                err,
                result: match &outcome {
                    _ if !self.sink.wants_details() => None,
                    Ok(entries) => Some(Fields::from([(
                        "providers".into(),
                        json!(
                            entries
                                .iter()
                                .map(|e| e.provider.to_string())
                                .collect::<Vec<_>>()
                        ),
                    )])),
                    Err(e) => e
                        .required_len
                        .map(|n| Fields::from([("buffer".into(), json!(n))])),
                },
            }
        );
        outcome
    }
}
