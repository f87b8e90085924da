//! The namespace provider catalog (S2): what is installed, in which order, and enabled or not.
//!
//! The catalog is an ordered list (S2.2): every routing decision walks it front to back. Each
//! install is stamped with a catalog epoch; a client process remembers the epoch of its first
//! successful WSAStartup and sees only entries installed up to then (S2.3), which costs one
//! integer per process instead of a copy of the catalog.
//!
//! An NS_EMAIL entry may carry authority data ([`Napi`]: per-domain levels and a wildcard flag,
//! S5.2); [`email_candidates`] computes S5.2's candidate order from it, and the install writes
//! it as the entry's NAPI_PROVIDER_INSTALLATION_BLOB, which WSAEnumNameSpaceProvidersEx returns
//! (S2.4). An explicit blob given to the install wins: it is what WSCInstallNameSpaceEx was
//! given, and it is returned as is; the NAPI blob is computed only for an entry without one.

pub use crate::wsa::napi::{Level, Napi};
use crate::wsa::{Guid, Namespace, NsProviderInfo, WsaError};
use std::fmt;

/// The scenario's `authority` shorthand for NS_EMAIL routing (S5.2): `primary` / `secondary`
/// = that level for every domain, `wildcard` = the wildcard flag alone.
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
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Authority {
    /// The NAPI data this shorthand stands for.
    pub fn napi(self) -> Napi {
        match self {
            Authority::Wildcard => Napi::wildcard_only(),
            Authority::Primary => Napi::primary_for_every_domain(),
            Authority::Secondary => Napi::secondary_for_every_domain(),
        }
    }

    /// The shorthand `napi` is, if it is one (so a scenario that wrote the shorthand writes it
    /// back the same way).
    pub fn of(napi: &Napi) -> Option<Authority> {
        Authority::ALL.into_iter().find(|a| a.napi() == *napi)
    }
}

/// What WSCInstallNameSpace(Ex) is given (S2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogEntry {
    pub id: Guid,
    pub name: String,
    pub namespace: Namespace,
    pub version: u32,
    /// The provider blob. `None` at install time for an entry with NAPI data becomes its
    /// NAPI_PROVIDER_INSTALLATION_BLOB ([`Catalog::install`]).
    pub blob: Option<Vec<u8>>,
    /// NS_EMAIL authority data (S5.2); set with [`CatalogEntry::with_napi`].
    napi: Option<Napi>,
}

impl CatalogEntry {
    pub fn new(id: Guid, name: impl Into<String>, namespace: Namespace) -> Self {
        CatalogEntry {
            id,
            name: name.into(),
            namespace,
            version: 1,
            blob: None,
            napi: None,
        }
    }

    /// The shorthand: `authority.napi()` ([`Authority::napi`]).
    pub fn with_authority(self, authority: Authority) -> Self {
        self.with_napi(authority.napi())
    }

    pub fn with_napi(mut self, napi: Napi) -> Self {
        self.napi = Some(napi);
        self
    }

    pub fn with_version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    pub fn with_blob(mut self, blob: Vec<u8>) -> Self {
        self.blob = Some(blob);
        self
    }

    /// The entry's NS_EMAIL authority data, if it has any.
    pub fn napi(&self) -> Option<&Napi> {
        self.napi.as_ref()
    }

    /// The entry's level for `domain` (S5.2; `None`: no NAPI data, or no claim for it).
    pub fn level_for(&self, domain: &str) -> Option<Level> {
        self.napi.as_ref().and_then(|n| n.level_for(domain))
    }

    /// Whether the entry is a wildcard provider (S5.2).
    pub fn is_wildcard(&self) -> bool {
        self.napi.as_ref().is_some_and(Napi::is_wildcard)
    }
}

/// How S5.2 routes one NS_EMAIL name ([`email_candidates`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmailRouting {
    /// Authority routing applies: the name has a domain part and some entry carries NAPI data.
    Authority {
        /// The S5.2 candidates, in order: the domain's primary (the first primary claim in
        /// catalog order), then its secondaries, then the wildcard providers, each in catalog
        /// order, none twice. A later primary claim for the domain is ignored (that entry comes
        /// only as a wildcard, if it is one); no claim or level `none` → only as a wildcard.
        candidates: Vec<Guid>,
        /// The entries without any NAPI data, in catalog order. S5.2 routes them as S5.1 does;
        /// the suggested place is after the candidates ([`EmailRouting::order`]).
        without_napi: Vec<Guid>,
    },
    /// Authority routing does not apply (the name has no domain part, or no entry carries NAPI
    /// data): route as S5.1/S5.3, every entry in catalog order.
    CatalogOrder,
}

impl EmailRouting {
    /// Under authority routing, the candidates followed by the entries without NAPI data;
    /// `None` for [`EmailRouting::CatalogOrder`].
    pub fn order(&self) -> Option<Vec<Guid>> {
        match self {
            EmailRouting::Authority {
                candidates,
                without_napi,
            } => Some(candidates.iter().chain(without_napi).copied().collect()),
            EmailRouting::CatalogOrder => None,
        }
    }
}

/// The domain part of a name `user@domain` (after the last `@`), if it is not empty.
pub fn email_domain(name: &str) -> Option<&str> {
    name.rsplit_once('@')
        .map(|(_, d)| d)
        .filter(|d| !d.is_empty())
}

/// S5.2's candidate order for `name` over `entries`: the visible, enabled, advertised NS_EMAIL
/// entries, in catalog order. Pure: the dispatcher calls it with what it routes.
pub fn email_candidates<'a>(
    entries: impl IntoIterator<Item = &'a CatalogEntry>,
    name: &str,
) -> EmailRouting {
    let Some(domain) = email_domain(name) else {
        return EmailRouting::CatalogOrder;
    };
    let mut seen: Vec<Guid> = Vec::new();
    let mut primary: Option<Guid> = None;
    let (mut secondaries, mut wildcards, mut without_napi) = (Vec::new(), Vec::new(), Vec::new());
    let mut any_napi = false;
    for entry in entries {
        if seen.contains(&entry.id) {
            continue;
        }
        seen.push(entry.id);
        let Some(napi) = entry.napi() else {
            without_napi.push(entry.id);
            continue;
        };
        any_napi = true;
        match napi.level_for(domain) {
            Some(Level::Primary) if primary.is_none() => primary = Some(entry.id),
            Some(Level::Secondary) => secondaries.push(entry.id),
            // A later primary, level `none`, or no claim: a candidate only as a wildcard.
            _ if napi.is_wildcard() => wildcards.push(entry.id),
            _ => {}
        }
    }
    if !any_napi {
        return EmailRouting::CatalogOrder;
    }
    let candidates = primary
        .into_iter()
        .chain(secondaries)
        .chain(wildcards)
        .collect();
    EmailRouting::Authority {
        candidates,
        without_napi,
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

    /// Empties the catalog back to a new one's state (epoch 0), keeping its room.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.epoch = 0;
    }

    /// The current epoch: what a process records at its first WSAStartup (S2.3).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// WSCInstallNameSpace (S2.1): a duplicate id → WSANO_RECOVERY. An entry with NAPI data
    /// and no blob gets its NAPI_PROVIDER_INSTALLATION_BLOB as its blob (S2.4); an explicit
    /// blob is kept as given.
    pub fn install(&mut self, mut entry: CatalogEntry) -> Result<(), WsaError> {
        if self.position(entry.id).is_some() {
            return Err(WsaError::NO_RECOVERY);
        }
        if entry.blob.is_none() {
            entry.blob = entry.napi.as_ref().and_then(|n| n.to_blob(entry.version));
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

    fn id(n: u128) -> Guid {
        Guid::from_u128(n)
    }

    fn claims(n: u128, wildcard: bool, domains: &[(&str, Level)]) -> CatalogEntry {
        let napi = Napi::per_domain(wildcard, domains.iter().map(|(d, l)| (d.to_string(), *l)))
            .expect("legal napi");
        entry(n).with_napi(napi)
    }

    fn candidates(entries: &[CatalogEntry], name: &str) -> Vec<u128> {
        match email_candidates(entries, name) {
            EmailRouting::Authority { candidates, .. } => {
                candidates.into_iter().map(|g| g.0).collect()
            }
            EmailRouting::CatalogOrder => panic!("authority routing applies to {name}"),
        }
    }

    #[test]
    fn s5_2_first_primary_then_secondaries_then_wildcards_in_catalog_order() {
        use Level::{None as NoLevel, Primary, Secondary};
        let entries = [
            claims(1, true, &[]),                            // wildcard only
            claims(2, false, &[("contoso.com", Secondary)]), // secondary
            claims(3, false, &[("contoso.com", Primary)]),   // the primary
            claims(4, false, &[("contoso.com", Primary)]),   // a later primary: ignored
            claims(5, true, &[("contoso.com", Primary)]),    // a later primary, but wildcard
            claims(6, false, &[("contoso.com", Secondary)]), // secondary
            claims(7, false, &[("contoso.com", NoLevel)]),   // level none: never
            claims(8, true, &[("contoso.com", NoLevel)]),    // level none, wildcard
            claims(9, false, &[("other.org", Primary)]),     // no claim: never
            claims(10, true, &[("other.org", Primary)]),     // no claim, wildcard
        ];
        assert_eq!(
            candidates(&entries, "alice@contoso.com"),
            [3, 2, 6, 1, 5, 8, 10]
        );
        // Domains compare ignoring case.
        assert_eq!(
            candidates(&entries, "alice@CONTOSO.Com"),
            [3, 2, 6, 1, 5, 8, 10]
        );
        // other.org: 9 is primary; 10 is a later primary and a wildcard.
        assert_eq!(candidates(&entries, "bob@other.org"), [9, 1, 5, 8, 10]);
        // A domain nobody claims: the wildcards only.
        assert_eq!(candidates(&entries, "carol@nowhere.net"), [1, 5, 8, 10]);
    }

    #[test]
    fn s5_2_a_wildcard_primary_is_a_candidate_once_at_its_primary_place() {
        let entries = [
            claims(1, false, &[("x.org", Level::Secondary)]),
            claims(2, true, &[("x.org", Level::Primary)]),
            claims(3, true, &[("x.org", Level::Secondary)]),
            claims(4, true, &[]),
        ];
        assert_eq!(candidates(&entries, "a@x.org"), [2, 1, 3, 4]);
        // No one is listed twice, even if the caller passes an entry twice.
        let twice = [entries[1].clone(), entries[1].clone(), entries[3].clone()];
        assert_eq!(candidates(&twice, "a@x.org"), [2, 4]);
    }

    #[test]
    fn s5_2_shorthand_levels_claim_every_domain() {
        let entries = [
            entry(1).with_authority(Authority::Wildcard),
            entry(2).with_authority(Authority::Secondary),
            entry(3).with_authority(Authority::Primary),
            entry(4).with_authority(Authority::Primary),
        ];
        // One primary per domain: 4 is ignored (it is no wildcard).
        assert_eq!(candidates(&entries, "a@any.example"), [3, 2, 1]);
    }

    #[test]
    fn s5_2_names_without_a_domain_and_entries_without_napi_route_as_s5_1() {
        let entries = [
            entry(1),
            claims(2, false, &[("x.org", Level::Primary)]),
            entry(3),
            claims(4, true, &[]),
        ];
        for name in ["alice", "alice@", "*", ""] {
            assert_eq!(
                email_candidates(&entries, name),
                EmailRouting::CatalogOrder,
                "{name:?}"
            );
        }
        // Nobody carries NAPI data: S5.1 order.
        assert_eq!(
            email_candidates(&[entry(1), entry(3)], "a@x.org"),
            EmailRouting::CatalogOrder
        );
        // Mixed: the NAPI candidates, and apart, the entries without NAPI data.
        let routing = email_candidates(&entries, "a@x.org");
        assert_eq!(
            routing,
            EmailRouting::Authority {
                candidates: vec![id(2), id(4)],
                without_napi: vec![id(1), id(3)],
            }
        );
        assert_eq!(routing.order(), Some(vec![id(2), id(4), id(1), id(3)]));
        assert_eq!(EmailRouting::CatalogOrder.order(), None);
        // `*@domain` lists a domain: its domain part routes it.
        assert_eq!(candidates(&entries, "*@X.ORG"), [2, 4]);
        // The last `@` splits.
        assert_eq!(candidates(&entries, "\"a@b\"@x.org"), [2, 4]);
    }

    #[test]
    fn entry_accessors_and_the_shorthand() {
        let e = claims(1, true, &[("x.org", Level::Secondary)]);
        assert_eq!(e.level_for("X.org"), Some(Level::Secondary));
        assert_eq!(e.level_for("y.org"), None);
        assert!(e.is_wildcard());
        let plain = entry(2);
        assert_eq!((plain.napi(), plain.level_for("x.org")), (None, None));
        assert!(!plain.is_wildcard());
        for a in Authority::ALL {
            let e = entry(3).with_authority(a);
            assert_eq!(Authority::of(e.napi().expect("napi")), Some(a));
            assert_eq!(Authority::from_name(a.name()), Some(a));
        }
        assert_eq!(
            Authority::of(
                claims(4, false, &[("x.org", Level::Primary)])
                    .napi()
                    .expect("napi")
            ),
            None,
            "per-domain data is no shorthand"
        );
    }

    #[test]
    fn s2_4_install_writes_the_napi_blob_unless_a_blob_was_given() {
        let mut c = Catalog::new();
        let napi = claims(1, true, &[("contoso.com", Level::Primary)]).with_version(4);
        let want = napi.napi().and_then(|n| n.to_blob(4)).expect("blob");
        c.install(napi).expect("install");
        c.install(entry(2).with_authority(Authority::Wildcard))
            .expect("install");
        c.install(entry(3).with_authority(Authority::Primary))
            .expect("install");
        c.install(claims(4, false, &[("x.org", Level::Primary)]).with_blob(b"mine".to_vec()))
            .expect("install");
        c.install(entry(5)).expect("install");
        let blobs: Vec<_> = c.enumerate(c.epoch()).into_iter().map(|i| i.blob).collect();
        assert_eq!(blobs[0], Some(want.clone()));
        let decoded = crate::wsa::napi::decode_blob(&want).expect("decodes");
        assert_eq!((decoded.version, decoded.wildcard), (4, true));
        assert_eq!(decoded.domains, [("contoso.com".to_string(), 2)]);
        // The wildcard shorthand: the flag, no domain.
        assert_eq!(
            blobs[1].as_deref().map(crate::wsa::napi::decode_blob),
            Some(Ok(crate::wsa::napi::DecodedBlob {
                version: 1,
                provider_type: crate::wsa::napi::PROVIDER_TYPE_APPLICATION,
                wildcard: true,
                domains: vec![],
            }))
        );
        // "primary for every domain" has no blob form; an explicit blob wins; no NAPI, no blob.
        assert_eq!(blobs[2], None);
        assert_eq!(blobs[3].as_deref(), Some(&b"mine"[..]));
        assert_eq!(blobs[4], None);
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
