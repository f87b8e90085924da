//! NS_EMAIL authority data (nsemail.h, S5.2): NAPI_PROVIDER_LEVEL, a provider's per-domain
//! claims and wildcard flag ([`Napi`]), and their wire form, NAPI_PROVIDER_INSTALLATION_BLOB,
//! which WSCInstallNameSpaceEx is given and WSAEnumNameSpaceProvidersEx returns as the
//! provider's blob.
//!
//! Layout (nsemail.h; x86-64, little-endian `DWORD`s), checked against Microsoft's pages for
//! both structures and mingw-w64's nsemail.h:
//!
//! ```text
//! NAPI_PROVIDER_INSTALLATION_BLOB  (20 bytes)
//!   DWORD dwVersion;          the provider's version (we write the catalog entry's)
//!   DWORD dwProviderType;     NAPI_PROVIDER_TYPE: ProviderType_Application = 1, ProviderType_Service = 2
//!   DWORD fSupportsWildCard;  0 or 1
//!   DWORD cDomains;
//!   DWORD OffsetFirstDomain;  4-byte aligned ("at least a four-byte boundary")
//! NAPI_DOMAIN_DESCRIPTION_BLOB     (16 bytes each)
//!   DWORD AuthLevel;                    NAPI_PROVIDER_LEVEL: None 0, Secondary 1, Primary 2
//!   DWORD cchDomainName;                UTF-16 units, NUL not counted
//!   DWORD OffsetNextDomainDescription;
//!   DWORD OffsetThisDomainName;         2-byte aligned; NUL termination "recommended"
//! ```
//!
//! Where the pages are silent, this encoder's policy: every offset counts from the start of
//! the installation blob; the descriptions follow the header back to back (the first at 20),
//! then the names, each NUL-terminated; the last description's OffsetNextDomainDescription is
//! 0, and so is OffsetFirstDomain when there is no domain. dwProviderType is always
//! ProviderType_Application, the only type Windows supports ("ProviderType_Service … is not
//! currently supported").

use std::fmt;

/// `sizeof(NAPI_PROVIDER_INSTALLATION_BLOB)`.
pub const INSTALLATION_BLOB_SIZE: u32 = 20;
/// `sizeof(NAPI_DOMAIN_DESCRIPTION_BLOB)`.
pub const DOMAIN_DESCRIPTION_SIZE: u32 = 16;
/// NAPI_PROVIDER_TYPE `ProviderType_Application`.
pub const PROVIDER_TYPE_APPLICATION: u32 = 1;
/// NAPI_PROVIDER_TYPE `ProviderType_Service`.
pub const PROVIDER_TYPE_SERVICE: u32 = 2;

/// NAPI_PROVIDER_LEVEL: a provider's authority for one domain (S5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// `ProviderLevel_None` (0): listed, but no authority.
    None,
    /// `ProviderLevel_Secondary` (1).
    Secondary,
    /// `ProviderLevel_Primary` (2).
    Primary,
}

impl Level {
    /// Every level.
    pub const ALL: [Level; 3] = [Level::Primary, Level::Secondary, Level::None];

    /// The scenario name: `"primary"`, `"secondary"` or `"none"`.
    pub const fn name(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Secondary => "secondary",
            Level::Primary => "primary",
        }
    }

    /// The level written `"primary"`, `"secondary"` or `"none"`.
    pub fn from_name(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.name() == s)
    }

    /// The NAPI_PROVIDER_LEVEL value.
    pub const fn code(self) -> u32 {
        match self {
            Level::None => 0,
            Level::Secondary => 1,
            Level::Primary => 2,
        }
    }

    /// The level with this `NAPI_PROVIDER_LEVEL` number.
    pub const fn from_code(code: u32) -> Option<Level> {
        match code {
            0 => Some(Level::None),
            1 => Some(Level::Secondary),
            2 => Some(Level::Primary),
            _ => None,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a provider claims for domains: one level for every domain (the scenario's `authority`
/// shorthand), or a list of domains with a level each.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Claims {
    /// Only [`Level::Primary`] or [`Level::Secondary`] (built by [`Napi::every_domain`]).
    Every(Level),
    /// Non-empty names, no two equal ignoring ASCII case (built by [`Napi::per_domain`]).
    Listed(Vec<(String, Level)>),
}

/// Why [`Napi::per_domain`] refused a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NapiError {
    /// A domain name is empty (its index in the list).
    EmptyDomain(usize),
    /// Two entries name the same domain, ignoring case (the indexes of both).
    DuplicateDomain {
        /// The first entry naming the domain.
        first: usize,
        /// The later entry naming it again.
        second: usize,
    },
    /// A domain name holds a NUL character, which its wire form cannot carry (its index).
    NulInDomain(usize),
}

impl fmt::Display for NapiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NapiError::EmptyDomain(i) => write!(f, "domain {i} is empty"),
            NapiError::DuplicateDomain { first, second } => {
                write!(f, "domains {first} and {second} are the same domain")
            }
            NapiError::NulInDomain(i) => write!(f, "domain {i} holds a NUL character"),
        }
    }
}

impl std::error::Error for NapiError {}

/// A NS_EMAIL provider's authority data (S5.2, nsemail.h): the wildcard flag and the domains
/// it claims, each with a [`Level`]. Every value is legal: names are non-empty and never listed
/// twice (DNS names compare ignoring case), and an every-domain claim is primary or secondary.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Napi {
    wildcard: bool,
    claims: Claims,
}

impl Napi {
    /// The wildcard flag alone (`authority = "wildcard"`): no domain claimed.
    pub const fn wildcard_only() -> Napi {
        Napi {
            wildcard: true,
            claims: Claims::Listed(Vec::new()),
        }
    }

    /// Primary for every domain (`authority = "primary"`), no wildcard flag.
    pub const fn primary_for_every_domain() -> Napi {
        Napi {
            wildcard: false,
            claims: Claims::Every(Level::Primary),
        }
    }

    /// Secondary for every domain (`authority = "secondary"`), no wildcard flag.
    pub const fn secondary_for_every_domain() -> Napi {
        Napi {
            wildcard: false,
            claims: Claims::Every(Level::Secondary),
        }
    }

    /// `level` for every domain (`authority = "primary"` / `"secondary"`), no wildcard flag.
    /// `None` for [`Level::None`], which would claim nothing (use [`Napi::per_domain`] with no
    /// domain for that).
    pub fn every_domain(level: Level) -> Option<Napi> {
        (level != Level::None).then_some(Napi {
            wildcard: false,
            claims: Claims::Every(level),
        })
    }

    /// The per-domain form: `wildcard` and a list of (domain, level), kept in the given order.
    pub fn per_domain(
        wildcard: bool,
        domains: impl IntoIterator<Item = (String, Level)>,
    ) -> Result<Napi, NapiError> {
        let domains: Vec<(String, Level)> = domains.into_iter().collect();
        for (i, (name, _)) in domains.iter().enumerate() {
            if name.is_empty() {
                return Err(NapiError::EmptyDomain(i));
            }
            if name.contains('\0') {
                return Err(NapiError::NulInDomain(i));
            }
            if let Some(first) = domains[..i]
                .iter()
                .position(|(d, _)| d.eq_ignore_ascii_case(name))
            {
                return Err(NapiError::DuplicateDomain { first, second: i });
            }
        }
        Ok(Napi {
            wildcard,
            claims: Claims::Listed(domains),
        })
    }

    /// `fSupportsWildCard`: the provider may be called for any name (S5.2).
    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }

    /// The provider's level for `domain` (compared ignoring ASCII case, as DNS names are):
    /// `None` when it makes no claim for it. `Some(Level::None)` is an explicit "no authority".
    pub fn level_for(&self, domain: &str) -> Option<Level> {
        match &self.claims {
            Claims::Every(level) => Some(*level),
            Claims::Listed(domains) => domains
                .iter()
                .find(|(d, _)| d.eq_ignore_ascii_case(domain))
                .map(|(_, l)| *l),
        }
    }

    /// The level claimed for every domain (the `authority` shorthand), if that is the form.
    pub fn all_domains(&self) -> Option<Level> {
        match &self.claims {
            Claims::Every(level) => Some(*level),
            Claims::Listed(_) => None,
        }
    }

    /// The listed domains and levels, in the given order (`None` for an every-domain claim).
    pub fn domains(&self) -> Option<&[(String, Level)]> {
        match &self.claims {
            Claims::Every(_) => None,
            Claims::Listed(d) => Some(d),
        }
    }

    /// The NAPI_PROVIDER_INSTALLATION_BLOB of this data with `dwVersion = version` (see the
    /// module docs for the layout). `None` for an every-domain claim, which the blob cannot
    /// express (it lists domains; there is no "every domain" entry), and for data whose wire
    /// form would not fit in 4 GiB.
    pub fn to_blob(&self, version: u32) -> Option<Vec<u8>> {
        let Claims::Listed(domains) = &self.claims else {
            return None;
        };
        let wide: Vec<Vec<u16>> = domains
            .iter()
            .map(|(d, _)| d.encode_utf16().collect())
            .collect();
        let count = u32::try_from(domains.len()).ok()?;
        let descriptions_end = DOMAIN_DESCRIPTION_SIZE
            .checked_mul(count)?
            .checked_add(INSTALLATION_BLOB_SIZE)?;
        let first = if count == 0 {
            0
        } else {
            INSTALLATION_BLOB_SIZE
        };
        let mut out = Vec::with_capacity(descriptions_end as usize);
        for dword in [
            version,
            PROVIDER_TYPE_APPLICATION,
            u32::from(self.wildcard),
            count,
            first,
        ] {
            out.extend_from_slice(&dword.to_le_bytes());
        }
        let mut name_at = descriptions_end;
        for (i, ((_, level), name)) in domains.iter().zip(&wide).enumerate() {
            let units = u32::try_from(name.len()).ok()?;
            let next = if i + 1 < domains.len() {
                INSTALLATION_BLOB_SIZE + DOMAIN_DESCRIPTION_SIZE * (i as u32 + 1)
            } else {
                0
            };
            for dword in [level.code(), units, next, name_at] {
                out.extend_from_slice(&dword.to_le_bytes());
            }
            name_at = name_at.checked_add(units.checked_add(1)?.checked_mul(2)?)?;
        }
        for name in &wide {
            for unit in name.iter().chain(&[0]) {
                out.extend_from_slice(&unit.to_le_bytes());
            }
        }
        Some(out)
    }
}

/// A NAPI_PROVIDER_INSTALLATION_BLOB read back ([`decode_blob`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedBlob {
    /// `dwVersion`.
    pub version: u32,
    /// `dwProviderType`.
    pub provider_type: u32,
    /// `fSupportsWildCard`.
    pub wildcard: bool,
    /// Each domain with its raw `AuthLevel` (a [`Level`] code, or anything a writer put there).
    pub domains: Vec<(String, u32)>,
}

impl DecodedBlob {
    /// The data as a [`Napi`], if every level is a NAPI_PROVIDER_LEVEL and the list is legal.
    pub fn to_napi(&self) -> Option<Napi> {
        let domains: Option<Vec<(String, Level)>> = self
            .domains
            .iter()
            .map(|(d, code)| Some((d.clone(), Level::from_code(*code)?)))
            .collect();
        Napi::per_domain(self.wildcard, domains?).ok()
    }
}

/// Why [`decode_blob`] could not read a blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobError {
    /// A structure or name reaches past the end (what was being read, at which offset).
    OutOfBounds(&'static str, u32),
    /// An offset breaks its alignment rule (what, offset).
    Misaligned(&'static str, u32),
    /// A domain name is not valid UTF-16 (its index).
    BadName(usize),
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobError::OutOfBounds(what, at) => write!(f, "{what} at {at} is out of bounds"),
            BlobError::Misaligned(what, at) => write!(f, "{what} at {at} is misaligned"),
            BlobError::BadName(i) => write!(f, "domain {i} is not valid UTF-16"),
        }
    }
}

impl std::error::Error for BlobError {}

/// Reads a NAPI_PROVIDER_INSTALLATION_BLOB, following OffsetFirstDomain and each
/// OffsetNextDomainDescription for `cDomains` descriptions (offsets from the blob's start),
/// checking every bound and alignment. Never trusts a count or offset.
pub fn decode_blob(bytes: &[u8]) -> Result<DecodedBlob, BlobError> {
    let dword = |what: &'static str, at: u32| -> Result<u32, BlobError> {
        let start = at as usize;
        bytes
            .get(start..start.saturating_add(4))
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes)
            .ok_or(BlobError::OutOfBounds(what, at))
    };
    let version = dword("dwVersion", 0)?;
    let provider_type = dword("dwProviderType", 4)?;
    let wildcard = dword("fSupportsWildCard", 8)? != 0;
    let count = dword("cDomains", 12)?;
    let mut at = dword("OffsetFirstDomain", 16)?;
    // Each description takes 16 bytes: a count the blob cannot hold is out of bounds.
    if u64::from(count) * u64::from(DOMAIN_DESCRIPTION_SIZE) > bytes.len() as u64 {
        return Err(BlobError::OutOfBounds("cDomains", 12));
    }
    let mut domains = Vec::with_capacity(count as usize);
    for i in 0..count as usize {
        if at % 4 != 0 {
            return Err(BlobError::Misaligned("NAPI_DOMAIN_DESCRIPTION_BLOB", at));
        }
        let level = dword("AuthLevel", at)?;
        let units = dword("cchDomainName", at.saturating_add(4))?;
        let next = dword("OffsetNextDomainDescription", at.saturating_add(8))?;
        let name_at = dword("OffsetThisDomainName", at.saturating_add(12))?;
        if name_at % 2 != 0 {
            return Err(BlobError::Misaligned("OffsetThisDomainName", name_at));
        }
        let start = name_at as usize;
        let end = start.saturating_add((units as usize).saturating_mul(2));
        let raw = bytes
            .get(start..end)
            .ok_or(BlobError::OutOfBounds("domain name", name_at))?;
        let wide: Vec<u16> = raw
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let name = String::from_utf16(&wide).map_err(|_| BlobError::BadName(i))?;
        domains.push((name, level));
        at = next;
    }
    Ok(DecodedBlob {
        version,
        provider_type,
        wildcard,
        domains,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    fn utf16z(s: &str) -> Vec<u8> {
        s.encode_utf16()
            .chain([0])
            .flat_map(|u| u.to_le_bytes())
            .collect()
    }

    #[test]
    fn levels_are_nsemail_values() {
        assert_eq!(Level::None.code(), 0);
        assert_eq!(Level::Secondary.code(), 1);
        assert_eq!(Level::Primary.code(), 2);
        for l in Level::ALL {
            assert_eq!(Level::from_code(l.code()), Some(l));
            assert_eq!(Level::from_name(l.name()), Some(l));
        }
        assert_eq!(Level::from_code(3), None);
        assert_eq!(Level::from_name("Primary"), None);
    }

    #[test]
    fn blob_is_byte_exact_for_two_domains() {
        let napi = Napi::per_domain(
            true,
            [
                ("contoso.com".to_string(), Level::Primary),
                ("x.org".to_string(), Level::Secondary),
            ],
        )
        .expect("legal");
        let blob = napi.to_blob(7).expect("expressible");
        // Header: version 7, application, wildcard, 2 domains, first at 20.
        let mut want = le(&[7, 1, 1, 2, 20]);
        // contoso.com: primary, 11 units, next at 36, name at 20 + 2 × 16 = 52.
        want.extend(le(&[2, 11, 36, 52]));
        // x.org: secondary, 5 units, last, name at 52 + (11 + 1) × 2 = 76.
        want.extend(le(&[1, 5, 0, 76]));
        want.extend(utf16z("contoso.com"));
        want.extend(utf16z("x.org"));
        assert_eq!(blob, want);
        assert_eq!(blob.len(), 76 + 12);
        let back = decode_blob(&blob).expect("decodes");
        assert_eq!(
            back,
            DecodedBlob {
                version: 7,
                provider_type: PROVIDER_TYPE_APPLICATION,
                wildcard: true,
                domains: vec![("contoso.com".into(), 2), ("x.org".into(), 1)],
            }
        );
        assert_eq!(back.to_napi(), Some(napi));
    }

    #[test]
    fn blob_of_wildcard_alone_and_of_nothing() {
        assert_eq!(Napi::wildcard_only().to_blob(1), Some(le(&[1, 1, 1, 0, 0])));
        let none = Napi::per_domain(false, []).expect("legal");
        assert_eq!(none.to_blob(3), Some(le(&[3, 1, 0, 0, 0])));
        assert_eq!(
            decode_blob(&le(&[3, 1, 0, 0, 0])).map(|d| d.to_napi()),
            Ok(Some(none))
        );
    }

    #[test]
    fn blob_names_are_utf16_and_level_none_is_written() {
        let napi =
            Napi::per_domain(false, [("bücher.de".to_string(), Level::None)]).expect("legal");
        let blob = napi.to_blob(1).expect("blob");
        let mut want = le(&[1, 1, 0, 1, 20, 0, 9, 0, 36]);
        want.extend(utf16z("bücher.de"));
        assert_eq!(blob, want);
        assert_eq!(decode_blob(&blob).map(|d| d.to_napi()), Ok(Some(napi)));
    }

    #[test]
    fn every_domain_claims_have_no_blob() {
        let primary = Napi::every_domain(Level::Primary).expect("primary");
        assert_eq!(primary.to_blob(1), None);
        assert_eq!(Napi::every_domain(Level::None), None);
    }

    #[test]
    fn per_domain_rejects_illegal_lists() {
        let d = |s: &str, l| (s.to_string(), l);
        assert_eq!(
            Napi::per_domain(false, [d("a.org", Level::Primary), d("", Level::None)]),
            Err(NapiError::EmptyDomain(1))
        );
        assert_eq!(
            Napi::per_domain(
                false,
                [
                    d("a.org", Level::Primary),
                    d("b.org", Level::Primary),
                    d("A.ORG", Level::Secondary)
                ]
            ),
            Err(NapiError::DuplicateDomain {
                first: 0,
                second: 2
            })
        );
        assert_eq!(
            Napi::per_domain(false, [d("a\0b", Level::Primary)]),
            Err(NapiError::NulInDomain(0))
        );
    }

    #[test]
    fn level_for_ignores_case_and_tells_no_claim_from_none() {
        let napi = Napi::per_domain(
            false,
            [
                ("Contoso.COM".to_string(), Level::Primary),
                ("y.org".to_string(), Level::None),
            ],
        )
        .expect("legal");
        assert_eq!(napi.level_for("contoso.com"), Some(Level::Primary));
        assert_eq!(napi.level_for("CONTOSO.com"), Some(Level::Primary));
        assert_eq!(napi.level_for("y.org"), Some(Level::None));
        assert_eq!(napi.level_for("z.org"), None);
        assert!(!napi.is_wildcard());
        let every = Napi::every_domain(Level::Secondary).expect("secondary");
        assert_eq!(every.level_for("anything.example"), Some(Level::Secondary));
        assert_eq!(every.all_domains(), Some(Level::Secondary));
        assert_eq!(every.domains(), None);
    }

    #[test]
    fn decoder_checks_every_bound() {
        let good = Napi::per_domain(true, [("a.org".to_string(), Level::Primary)])
            .expect("legal")
            .to_blob(1)
            .expect("blob");
        // Every truncation short of the name fails cleanly (its NUL is optional), never panics.
        for len in 0..good.len() - 2 {
            assert!(decode_blob(&good[..len]).is_err(), "truncated to {len}");
        }
        // A huge count.
        let mut huge = good.clone();
        huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            decode_blob(&huge),
            Err(BlobError::OutOfBounds("cDomains", 12))
        );
        // A misaligned description and name.
        let mut odd = good.clone();
        odd[16..20].copy_from_slice(&21u32.to_le_bytes());
        assert!(matches!(decode_blob(&odd), Err(BlobError::Misaligned(..))));
        let mut odd_name = good.clone();
        odd_name[32..36].copy_from_slice(&37u32.to_le_bytes());
        assert_eq!(
            decode_blob(&odd_name),
            Err(BlobError::Misaligned("OffsetThisDomainName", 37))
        );
        // An unpaired surrogate.
        let mut bad = good;
        bad[36..38].copy_from_slice(&0xD800u16.to_le_bytes());
        assert_eq!(decode_blob(&bad), Err(BlobError::BadName(0)));
    }
}
