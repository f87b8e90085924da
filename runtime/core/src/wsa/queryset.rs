//! WSAQUERYSET2W as a Rust value, with the size a packed Windows buffer would need (S5.5).
//!
//! `wire_size` makes WSAEFAULT sizing real: a result fits a caller's buffer exactly when a
//! Windows provider could have packed it there. The layout is x64's; see [`wire`].

use super::{Guid, LupFlags, Namespace};
use std::net::SocketAddr;

/// The x64 sizes of the structures a packed WSAQUERYSET2W buffer holds, and the packing rule.
///
/// The fixed `WSAQUERYSET2W` comes first; then each present variable part, in field order,
/// each starting at an 8-byte-aligned offset: strings as UTF-16 with a NUL terminator, the
/// `WSAVERSION`, the provider `GUID`, the `AFPROTOCOLS` array, the `CSADDR_INFO` array followed
/// by each address's sockaddrs (remote, then local when present), the `BLOB` followed by its
/// bytes. Absent or empty parts take no space.
pub mod wire {
    /// `sizeof(WSAQUERYSET2W)` on x64.
    pub const QUERYSET2W_SIZE: u32 = 112;
    /// `sizeof(WSAVERSION)`.
    pub const WSAVERSION_SIZE: u32 = 8;
    /// `sizeof(GUID)`.
    pub const GUID_SIZE: u32 = 16;
    /// `sizeof(AFPROTOCOLS)`.
    pub const AFPROTOCOLS_SIZE: u32 = 8;
    /// Two `SOCKET_ADDRESS` (pointer + length, 16 each) and two `INT`s.
    pub const CSADDR_INFO_SIZE: u32 = 40;
    /// `sizeof(SOCKADDR_IN)`.
    pub const SOCKADDR_IN_SIZE: u32 = 16;
    /// `sizeof(SOCKADDR_IN6)`.
    pub const SOCKADDR_IN6_SIZE: u32 = 28;
    /// `BLOB`: a ULONG length, padding, a pointer.
    pub const BLOB_SIZE: u32 = 16;
    /// Each part of the packed buffer starts at a multiple of this.
    pub const ALIGN: u32 = 8;

    /// `AF_INET`.
    pub const AF_INET: i32 = 2;
    /// `AF_INET6` (Windows' number).
    pub const AF_INET6: i32 = 23;
    /// `SOCK_STREAM`.
    pub const SOCK_STREAM: i32 = 1;
    /// `SOCK_DGRAM`.
    pub const SOCK_DGRAM: i32 = 2;
    /// `IPPROTO_TCP`.
    pub const IPPROTO_TCP: i32 = 6;
    /// `IPPROTO_UDP`.
    pub const IPPROTO_UDP: i32 = 17;

    pub(crate) fn align(n: u64) -> u64 {
        n.div_ceil(u64::from(ALIGN)) * u64::from(ALIGN)
    }

    /// A NUL-terminated UTF-16 string's bytes.
    pub(crate) fn wide_len(s: &str) -> u64 {
        (s.encode_utf16().count() as u64 + 1) * 2
    }

    pub(crate) fn sockaddr_len(addr: &std::net::SocketAddr) -> u64 {
        u64::from(if addr.is_ipv4() {
            SOCKADDR_IN_SIZE
        } else {
            SOCKADDR_IN6_SIZE
        })
    }
}

/// WSAVERSION.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WsaVersion {
    /// The version number.
    pub version: u32,
    /// WSAECOMPARATOR: 0 equal, 1 not less than.
    pub how: u32,
}

/// AFPROTOCOLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AfProtocols {
    /// `iAddressFamily`.
    pub address_family: i32,
    /// `iProtocol`.
    pub protocol: i32,
}

/// CSADDR_INFO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsAddr {
    /// `RemoteAddr`.
    pub remote: SocketAddr,
    /// `LocalAddr`, if any.
    pub local: Option<SocketAddr>,
    /// `iSocketType`.
    pub socket_type: i32,
    /// `iProtocol`.
    pub protocol: i32,
}

impl CsAddr {
    /// A TCP stream address (what a mail host is).
    pub fn tcp(remote: SocketAddr) -> CsAddr {
        CsAddr {
            remote,
            local: None,
            socket_type: wire::SOCK_STREAM,
            protocol: wire::IPPROTO_TCP,
        }
    }
}

/// WSAQUERYSET2W: restrictions for a lookup, a lookup's result, or a registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuerySet {
    /// `lpszServiceInstanceName`: the name looked up or returned.
    pub service_instance_name: Option<String>,
    /// `lpVersion`.
    pub version: Option<WsaVersion>,
    /// `lpszComment`.
    pub comment: Option<String>,
    /// `dwNameSpace`.
    pub namespace: Namespace,
    /// `lpNSProviderId`: restrict a query to one provider.
    pub ns_provider_id: Option<Guid>,
    /// `lpszContext`.
    pub context: Option<String>,
    /// `lpafpProtocols`.
    pub protocols: Vec<AfProtocols>,
    /// `lpszQueryString`.
    pub query_string: Option<String>,
    /// `lpcsaBuffer`: the addresses.
    pub addresses: Vec<CsAddr>,
    /// `dwOutputFlags`.
    pub output_flags: u32,
    /// `lpBlob`: provider-specific bytes.
    pub blob: Option<Vec<u8>>,
}

impl Default for QuerySet {
    fn default() -> Self {
        QuerySet {
            service_instance_name: None,
            version: None,
            comment: None,
            namespace: Namespace::ALL,
            ns_provider_id: None,
            context: None,
            protocols: Vec::new(),
            query_string: None,
            addresses: Vec::new(),
            output_flags: 0,
            blob: None,
        }
    }
}

impl QuerySet {
    /// Lookup restrictions: a name in a namespace.
    pub fn restrictions(namespace: Namespace, name: &str) -> QuerySet {
        QuerySet {
            service_instance_name: Some(name.to_string()),
            namespace,
            ..QuerySet::default()
        }
    }

    /// The bytes a packed x64 buffer holding this query set needs (see [`wire`]).
    pub fn wire_size(&self) -> u32 {
        let mut size = u64::from(wire::QUERYSET2W_SIZE);
        let mut part = |bytes: u64| {
            if bytes > 0 {
                size = wire::align(size) + bytes;
            }
        };
        part(
            self.service_instance_name
                .as_deref()
                .map_or(0, wire::wide_len),
        );
        part(self.version.map_or(0, |_| u64::from(wire::WSAVERSION_SIZE)));
        part(self.comment.as_deref().map_or(0, wire::wide_len));
        part(
            self.ns_provider_id
                .map_or(0, |_| u64::from(wire::GUID_SIZE)),
        );
        part(self.context.as_deref().map_or(0, wire::wide_len));
        part(self.protocols.len() as u64 * u64::from(wire::AFPROTOCOLS_SIZE));
        part(self.query_string.as_deref().map_or(0, wire::wide_len));
        part(self.addresses.len() as u64 * u64::from(wire::CSADDR_INFO_SIZE));
        for a in &self.addresses {
            part(wire::sockaddr_len(&a.remote));
            if let Some(local) = &a.local {
                part(wire::sockaddr_len(local));
            }
        }
        if let Some(blob) = &self.blob {
            part(u64::from(wire::BLOB_SIZE));
            part(blob.len() as u64);
        }
        u32::try_from(size).unwrap_or(u32::MAX)
    }

    /// The result a provider returns for these LUP_RETURN_* flags: only the requested fields.
    /// Namespace, provider id and output flags are always kept; context and protocols travel
    /// with LUP_RETURN_TYPE (they describe the service class).
    pub fn project(&self, flags: LupFlags) -> QuerySet {
        // A field that is left out is not copied first.
        let keep = |f: LupFlags| flags.contains(f);
        QuerySet {
            service_instance_name: self
                .service_instance_name
                .as_ref()
                .filter(|_| keep(LupFlags::RETURN_NAME))
                .cloned(),
            version: self.version.filter(|_| keep(LupFlags::RETURN_VERSION)),
            comment: self
                .comment
                .as_ref()
                .filter(|_| keep(LupFlags::RETURN_COMMENT))
                .cloned(),
            namespace: self.namespace,
            ns_provider_id: self.ns_provider_id,
            context: self
                .context
                .as_ref()
                .filter(|_| keep(LupFlags::RETURN_TYPE))
                .cloned(),
            protocols: if keep(LupFlags::RETURN_TYPE) {
                self.protocols.clone()
            } else {
                Vec::new()
            },
            query_string: self
                .query_string
                .as_ref()
                .filter(|_| keep(LupFlags::RETURN_QUERY_STRING))
                .cloned(),
            addresses: if keep(LupFlags::RETURN_ADDR) {
                self.addresses.clone()
            } else {
                Vec::new()
            },
            output_flags: self.output_flags,
            blob: self
                .blob
                .as_ref()
                .filter(|_| keep(LupFlags::RETURN_BLOB))
                .cloned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_query_set_is_the_fixed_struct() {
        assert_eq!(QuerySet::default().wire_size(), 112);
    }

    #[test]
    fn wire_size_packs_each_part_at_8_byte_alignment() {
        let qs = QuerySet {
            service_instance_name: Some("alice@example.com".into()), // 17 units + NUL = 36 bytes
            addresses: vec![
                CsAddr::tcp("192.0.2.10:25".parse().expect("v4")),
                CsAddr::tcp("[2001:db8::1]:25".parse().expect("v6")),
            ],
            blob: Some(vec![1, 2, 3]),
            ..QuerySet::restrictions(Namespace::EMAIL, "x")
        };
        // 112 → name at 112: 148 → CSADDR array at 152: +80 = 232 → sockaddr_in at 232: 248
        // → sockaddr_in6 at 248: 276 → BLOB at 280: 296 → 3 bytes at 296: 299.
        assert_eq!(qs.wire_size(), 299);
    }

    #[test]
    fn projection_keeps_only_requested_fields_and_shrinks_the_size() {
        let full = QuerySet {
            service_instance_name: Some("alice@example.com".into()),
            comment: Some("mail".into()),
            addresses: vec![CsAddr::tcp("192.0.2.10:25".parse().expect("v4"))],
            blob: Some(vec![0; 10]),
            namespace: Namespace::EMAIL,
            ..QuerySet::default()
        };
        let name_only = full.project(LupFlags::RETURN_NAME);
        assert_eq!(
            name_only.service_instance_name.as_deref(),
            Some("alice@example.com")
        );
        assert!(
            name_only.addresses.is_empty()
                && name_only.comment.is_none()
                && name_only.blob.is_none()
        );
        assert_eq!(name_only.namespace, Namespace::EMAIL);
        let all = full.project(LupFlags::RETURN_ALL);
        assert_eq!(all, full);
        assert!(
            name_only.wire_size()
                < full
                    .project(LupFlags::RETURN_NAME | LupFlags::RETURN_ADDR)
                    .wire_size()
        );
        assert!(full.project(LupFlags::EMPTY).wire_size() == 112);
    }
}
