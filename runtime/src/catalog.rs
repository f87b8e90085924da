//! The namespace provider catalog (S2): what is installed, in which order, and enabled or not.
//!
//! The catalog is an ordered list (S2.2): every routing decision walks it front to back. Each
//! install is stamped with a catalog epoch; a client process remembers the epoch of its first
//! successful WSAStartup and sees only entries installed up to then (S2.3), which costs one
//! integer per process instead of a copy of the catalog.

use crate::wsa::{Guid, Namespace, NsProviderInfo, WsaError};
use std::fmt;

/// NS_EMAIL routing rank of a provider (S5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Authority {
    Primary,
    Secondary,
    Wildcard,
}

impl Authority {
    pub const ALL: [Authority; 3] = [
        Authority::Primary,
        Authority::Secondary,
        Authority::Wildcard,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Authority::Primary => "primary",
            Authority::Secondary => "secondary",
            Authority::Wildcard => "wildcard",
        }
    }

    pub fn from_name(s: &str) -> Option<Authority> {
        match s {
            "primary" => Some(Authority::Primary),
            "secondary" => Some(Authority::Secondary),
            "wildcard" => Some(Authority::Wildcard),
            _ => None,
        }
    }

    /// Sort key for S5.2: primary, then secondaries, then providers without a level, then
    /// wildcard (a provider that states no level is more specific than a catch-all).
    pub(crate) fn rank(level: Option<Authority>) -> u8 {
        match level {
            Some(Authority::Primary) => 0,
            Some(Authority::Secondary) => 1,
            None => 2,
            Some(Authority::Wildcard) => 3,
        }
    }
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What WSCInstallNameSpace is given (S2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogEntry {
    pub id: Guid,
    pub name: String,
    pub namespace: Namespace,
    pub version: u32,
    pub blob: Option<Vec<u8>>,
    pub authority: Option<Authority>,
}

impl CatalogEntry {
    pub fn new(id: Guid, name: impl Into<String>, namespace: Namespace) -> Self {
        CatalogEntry {
            id,
            name: name.into(),
            namespace,
            version: 1,
            blob: None,
            authority: None,
        }
    }

    pub fn with_authority(mut self, authority: Authority) -> Self {
        self.authority = Some(authority);
        self
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Installed {
    pub entry: CatalogEntry,
    pub enabled: bool,
    /// The catalog epoch of this install (S2.3).
    pub epoch: u64,
}

/// The ordered catalog.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    entries: Vec<Installed>,
    epoch: u64,
}

impl Catalog {
    pub fn new() -> Self {
        Self::default()
    }

    /// The current epoch: what a process records at its first WSAStartup (S2.3).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// WSCInstallNameSpace (S2.1): a duplicate id → WSANO_RECOVERY.
    pub fn install(&mut self, entry: CatalogEntry) -> Result<(), WsaError> {
        if self.position(entry.id).is_some() {
            return Err(WsaError::NO_RECOVERY);
        }
        self.epoch += 1;
        self.entries.push(Installed {
            entry,
            enabled: true,
            epoch: self.epoch,
        });
        Ok(())
    }

    /// WSCUnInstallNameSpace (S2.1): an unknown id → WSAEINVAL.
    pub fn uninstall(&mut self, id: Guid) -> Result<CatalogEntry, WsaError> {
        let at = self.position(id).ok_or(WsaError::EINVAL)?;
        Ok(self.entries.remove(at).entry)
    }

    /// WSCEnableNSProvider (S2.1): an unknown id → WSAEINVAL.
    pub fn set_enabled(&mut self, id: Guid, enabled: bool) -> Result<(), WsaError> {
        let at = self.position(id).ok_or(WsaError::EINVAL)?;
        self.entries[at].enabled = enabled;
        Ok(())
    }

    /// Moves an entry to a new place in the order (S2.2).
    pub fn reorder(&mut self, id: Guid, to: usize) -> Result<(), WsaError> {
        let at = self.position(id).ok_or(WsaError::EINVAL)?;
        let item = self.entries.remove(at);
        let to = to.min(self.entries.len());
        self.entries.insert(to, item);
        Ok(())
    }

    fn position(&self, id: Guid) -> Option<usize> {
        self.entries.iter().position(|e| e.entry.id == id)
    }

    pub fn get(&self, id: Guid) -> Option<&CatalogEntry> {
        self.installed(id).map(|i| &i.entry)
    }

    pub(crate) fn installed(&self, id: Guid) -> Option<&Installed> {
        self.entries.iter().find(|e| e.entry.id == id)
    }

    pub fn is_enabled(&self, id: Guid) -> bool {
        self.installed(id).is_some_and(|e| e.enabled)
    }

    /// Entries a process that started at `epoch` can see, in catalog order (S2.3).
    pub(crate) fn visible(&self, epoch: u64) -> impl Iterator<Item = &Installed> {
        self.entries.iter().filter(move |e| e.epoch <= epoch)
    }

    /// Whether `id` is visible to a process that started at `epoch`.
    pub(crate) fn is_visible(&self, id: Guid, epoch: u64) -> bool {
        self.installed(id).is_some_and(|e| e.epoch <= epoch)
    }

    /// WSAEnumNameSpaceProvidersEx's entries for a process that started at `epoch` (S2.4).
    pub fn enumerate(&self, epoch: u64) -> Vec<NsProviderInfo> {
        self.visible(epoch)
            .map(|e| NsProviderInfo {
                provider: e.entry.id,
                namespace: e.entry.namespace,
                active: e.enabled,
                version: e.entry.version,
                name: e.entry.name.clone(),
                blob: e.entry.blob.clone(),
            })
            .collect()
    }

    /// All entries in order (for diagnostics and the CLI).
    pub fn entries(&self) -> impl Iterator<Item = (&CatalogEntry, bool)> {
        self.entries.iter().map(|e| (&e.entry, e.enabled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u128) -> CatalogEntry {
        CatalogEntry::new(Guid::from_u128(n), format!("p{n}"), Namespace::EMAIL)
    }

    #[test]
    fn s2_1_install_errors() {
        let mut c = Catalog::new();
        c.install(entry(1)).expect("first install");
        assert_eq!(c.install(entry(1)), Err(WsaError::NO_RECOVERY));
        assert_eq!(c.uninstall(Guid::from_u128(9)), Err(WsaError::EINVAL));
        assert_eq!(
            c.set_enabled(Guid::from_u128(9), false),
            Err(WsaError::EINVAL)
        );
        c.set_enabled(Guid::from_u128(1), false).expect("known id");
        assert!(!c.is_enabled(Guid::from_u128(1)));
        assert_eq!(
            c.uninstall(Guid::from_u128(1)).map(|e| e.name),
            Ok("p1".into())
        );
        assert!(c.get(Guid::from_u128(1)).is_none());
    }

    #[test]
    fn s2_2_catalog_keeps_install_order_unless_reordered() {
        let mut c = Catalog::new();
        for n in [3, 1, 2] {
            c.install(entry(n)).expect("install");
        }
        let order = |c: &Catalog| c.entries().map(|(e, _)| e.id.0).collect::<Vec<_>>();
        assert_eq!(order(&c), [3, 1, 2]);
        c.reorder(Guid::from_u128(2), 0).expect("reorder");
        assert_eq!(order(&c), [2, 3, 1]);
    }

    #[test]
    fn s2_3_a_process_sees_the_catalog_of_its_first_startup() {
        let mut c = Catalog::new();
        c.install(entry(1)).expect("install");
        let seen_at = c.epoch();
        c.install(entry(2)).expect("install");
        let visible: Vec<_> = c.visible(seen_at).map(|e| e.entry.id.0).collect();
        assert_eq!(visible, [1]);
        assert!(!c.is_visible(Guid::from_u128(2), seen_at));
        // Reinstalling an id makes it a new install, invisible to the old snapshot.
        c.uninstall(Guid::from_u128(1)).expect("uninstall");
        c.install(entry(1)).expect("reinstall");
        assert!(!c.is_visible(Guid::from_u128(1), seen_at));
        assert_eq!(c.enumerate(c.epoch()).len(), 2);
    }
}
