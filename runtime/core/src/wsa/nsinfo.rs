//! WSANAMESPACE_INFOEXW: what WSAEnumNameSpaceProvidersEx returns, and its buffer size (S2.4).

use super::queryset::wire;
use super::{Guid, Namespace};

/// `sizeof(WSANAMESPACE_INFOEXW)` on x64: GUID 16, DWORD 4, BOOL 4, DWORD 4, padding 4,
/// LPWSTR 8, BLOB 16.
pub const INFOEXW_SIZE: u32 = 56;

/// One catalog entry as a client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NsProviderInfo {
    /// The provider's id (`NSProviderId`).
    pub provider: Guid,
    /// `dwNameSpace`.
    pub namespace: Namespace,
    /// `fActive`: whether the provider is enabled.
    pub active: bool,
    /// The catalog entry's version (`dwVersion`).
    pub version: u32,
    /// The display name (`lpszIdentifier`).
    pub name: String,
    /// `ProviderSpecific`: the NS_EMAIL installation blob, if any.
    pub blob: Option<Vec<u8>>,
}

/// The bytes a packed x64 buffer holding `entries` needs: all fixed structs first, then each
/// entry's name (UTF-16 + NUL) and blob bytes, each at an 8-byte-aligned offset.
pub fn wire_size(entries: &[NsProviderInfo]) -> u32 {
    let mut size = entries.len() as u64 * u64::from(INFOEXW_SIZE);
    for e in entries {
        size = wire::align(size) + wire::wide_len(&e.name);
        if let Some(blob) = e.blob.as_ref().filter(|b| !b.is_empty()) {
            size = wire::align(size) + blob.len() as u64;
        }
    }
    u32::try_from(size).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s2_4_buffer_size_is_fixed_structs_then_names_and_blobs() {
        let entry = |name: &str, blob: Option<Vec<u8>>| NsProviderInfo {
            provider: Guid(1),
            namespace: Namespace::EMAIL,
            active: true,
            version: 1,
            name: name.into(),
            blob,
        };
        assert_eq!(wire_size(&[]), 0);
        // 2 × 56 = 112; "mail" = 10 bytes → 122; at 128 "dns" = 8 → 136; blob 5 → 141.
        assert_eq!(
            wire_size(&[entry("mail", None), entry("dns", Some(vec![0; 5]))]),
            141
        );
    }
}
