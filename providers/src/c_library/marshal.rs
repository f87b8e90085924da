//! Marshalling between nspsim's [`QuerySet`] and the bytes of a Win64 `WSAQUERYSET2W`, for C
//! providers that run in a host process (issue #12, "Marshalling and bad provider output").
//!
//! Two directions, two levels of trust:
//!
//! - [`query_set_image`] turns a query set nspsim built (a client's restrictions for
//!   `NSPv2LookupServiceBegin`, a registration for `NSPv2SetServiceEx`) into the bytes of a
//!   packed `WSAQUERYSET2W` plus a relocation list. The host copies the bytes into an 8-aligned
//!   buffer and adds its address to each listed pointer field, so the provider sees an ordinary
//!   Windows query set. The image is packed exactly as [`QuerySet::wire_size`] counts
//!   (`image.bytes.len() == qs.wire_size()`), so sizes nspsim reports and bytes it sends agree.
//! - [`read_next_ex_result`] reads what a provider wrote into the buffer of an
//!   `NSPv2LookupServiceNextEx` that completed successfully (S5.4). That is untrusted output:
//!   every pointer, length, count, string and address family is checked against the buffer
//!   before anything is read, so a malformed result becomes a [`ResultError`] naming the field
//!   the way Microsoft's reference pages do (a provider-rule violation for the caller to
//!   report), never a panic, an out-of-bounds read or an allocation sized by an unchecked count.
//!
//! WSAEFAULT sizing (S5.5) is not parsed here: a provider that answers WSAEFAULT writes only
//! `*lpdwBufferLength` (the required length, which goes back to the client as it is), which the
//! caller reads as a plain `DWORD`; nothing in the buffer is meaningful then, so this module
//! must not be called on it. Conversely a result the provider did fit in the client's buffer
//! fits, even when nspsim's own packing ([`QuerySet::wire_size`], 8-aligned parts) of the same
//! query set would be a few bytes longer than the provider's tighter one.
//!
//! Layout: every size and offset below is the Win64 one listed in
//! `providers/c/layout/layout.def` (the tests parse that file and compare).

use nspsim_core::wsa::{AfProtocols, CsAddr, Guid, Namespace, QuerySet, WsaVersion, wire};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Win64 sizes and field offsets used by this module (each one is checked against
/// `providers/c/layout/layout.def` by the tests).
pub mod win64 {
    /// `sizeof(WSAQUERYSET2W)`.
    pub const WSAQUERYSET2W_SIZE: usize = 112;
    /// `WSAQUERYSET2W.dwSize`.
    pub const QS_DW_SIZE: usize = 0;
    /// `WSAQUERYSET2W.lpszServiceInstanceName`.
    pub const QS_SERVICE_INSTANCE_NAME: usize = 8;
    /// `WSAQUERYSET2W.lpVersion`.
    pub const QS_VERSION: usize = 16;
    /// `WSAQUERYSET2W.lpszComment`.
    pub const QS_COMMENT: usize = 24;
    /// `WSAQUERYSET2W.dwNameSpace`.
    pub const QS_NAME_SPACE: usize = 32;
    /// `WSAQUERYSET2W.lpNSProviderId`.
    pub const QS_NS_PROVIDER_ID: usize = 40;
    /// `WSAQUERYSET2W.lpszContext`.
    pub const QS_CONTEXT: usize = 48;
    /// `WSAQUERYSET2W.dwNumberOfProtocols`.
    pub const QS_NUMBER_OF_PROTOCOLS: usize = 56;
    /// `WSAQUERYSET2W.lpafpProtocols`.
    pub const QS_AFP_PROTOCOLS: usize = 64;
    /// `WSAQUERYSET2W.lpszQueryString`.
    pub const QS_QUERY_STRING: usize = 72;
    /// `WSAQUERYSET2W.dwNumberOfCsAddrs`.
    pub const QS_NUMBER_OF_CS_ADDRS: usize = 80;
    /// `WSAQUERYSET2W.lpcsaBuffer`.
    pub const QS_CSA_BUFFER: usize = 88;
    /// `WSAQUERYSET2W.dwOutputFlags`.
    pub const QS_OUTPUT_FLAGS: usize = 96;
    /// `WSAQUERYSET2W.lpBlob`.
    pub const QS_BLOB: usize = 104;

    /// `sizeof(WSAVERSION)`.
    pub const WSAVERSION_SIZE: usize = 8;
    /// `WSAVERSION.dwVersion`.
    pub const VERSION_DW_VERSION: usize = 0;
    /// `WSAVERSION.ecHow`.
    pub const VERSION_EC_HOW: usize = 4;

    /// `sizeof(GUID)`.
    pub const GUID_SIZE: usize = 16;
    /// `GUID.Data1` (a 32-bit `unsigned long`).
    pub const GUID_DATA1: usize = 0;
    /// `GUID.Data2`.
    pub const GUID_DATA2: usize = 4;
    /// `GUID.Data3`.
    pub const GUID_DATA3: usize = 6;
    /// `GUID.Data4` (8 bytes, in text order).
    pub const GUID_DATA4: usize = 8;

    /// `sizeof(AFPROTOCOLS)`.
    pub const AFPROTOCOLS_SIZE: usize = 8;
    /// `AFPROTOCOLS.iAddressFamily`.
    pub const AFP_ADDRESS_FAMILY: usize = 0;
    /// `AFPROTOCOLS.iProtocol`.
    pub const AFP_PROTOCOL: usize = 4;

    /// `sizeof(CSADDR_INFO)`.
    pub const CSADDR_INFO_SIZE: usize = 40;
    /// `CSADDR_INFO.LocalAddr`.
    pub const CSADDR_LOCAL_ADDR: usize = 0;
    /// `CSADDR_INFO.RemoteAddr`.
    pub const CSADDR_REMOTE_ADDR: usize = 16;
    /// `CSADDR_INFO.iSocketType`.
    pub const CSADDR_SOCKET_TYPE: usize = 32;
    /// `CSADDR_INFO.iProtocol`.
    pub const CSADDR_PROTOCOL: usize = 36;

    /// `sizeof(SOCKET_ADDRESS)`.
    pub const SOCKET_ADDRESS_SIZE: usize = 16;
    /// `SOCKET_ADDRESS.lpSockaddr`.
    pub const SA_LP_SOCKADDR: usize = 0;
    /// `SOCKET_ADDRESS.iSockaddrLength`.
    pub const SA_SOCKADDR_LENGTH: usize = 8;

    /// `SOCKADDR.sa_family` (the family of every sockaddr is its first `ADDRESS_FAMILY`).
    pub const SOCKADDR_FAMILY: usize = 0;
    /// `sizeof(SOCKADDR_IN)`.
    pub const SOCKADDR_IN_SIZE: usize = 16;
    /// `SOCKADDR_IN.sin_port` (network order).
    pub const SIN_PORT: usize = 2;
    /// `SOCKADDR_IN.sin_addr` (network order).
    pub const SIN_ADDR: usize = 4;
    /// `sizeof(SOCKADDR_IN6)`.
    pub const SOCKADDR_IN6_SIZE: usize = 28;
    /// `SOCKADDR_IN6.sin6_port` (network order).
    pub const SIN6_PORT: usize = 2;
    /// `SOCKADDR_IN6.sin6_flowinfo`.
    pub const SIN6_FLOWINFO: usize = 4;
    /// `SOCKADDR_IN6.sin6_addr` (network order).
    pub const SIN6_ADDR: usize = 8;
    /// `SOCKADDR_IN6.sin6_scope_id`.
    pub const SIN6_SCOPE_ID: usize = 24;

    /// `sizeof(BLOB)`.
    pub const BLOB_SIZE: usize = 16;
    /// `BLOB.cbSize`.
    pub const BLOB_CB_SIZE: usize = 0;
    /// `BLOB.pBlobData`.
    pub const BLOB_DATA: usize = 8;

    /// `AF_INET`.
    pub const AF_INET: u16 = 2;
    /// `AF_INET6` (Windows' value, not the host's).
    pub const AF_INET6: u16 = 23;

    /// Every object in an image starts at a multiple of this (what `wire_size` assumes, and
    /// enough for any pointer or `DWORD` in these structures).
    pub const ALIGN: usize = 8;
}

use win64::*;

/// A WSAQUERYSET2W as Win64 lays it out, ready to copy into the host: `bytes` starts with the
/// 112-byte struct; pointer fields hold offsets from the start of `bytes` (0 = NULL) and every
/// non-NULL pointer field's byte offset is listed in `relocs`, in increasing order. The host
/// copies `bytes` into an 8-aligned buffer at address B and adds B to the u64 at each reloc.
///
/// After the struct come the pointed-to objects, each at an 8-aligned offset, in the order
/// [`QuerySet::wire_size`] counts them: `lpszServiceInstanceName`, `lpVersion`, `lpszComment`,
/// `lpNSProviderId`, `lpszContext`, the `lpafpProtocols` array, `lpszQueryString`, the
/// `lpcsaBuffer` array, then for each `CSADDR_INFO` its remote and (if any) local sockaddr, then
/// the `BLOB` and its bytes. Padding bytes are zero.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuerySetImage {
    /// The struct and everything it points to.
    pub bytes: Vec<u8>,
    /// Byte offsets (into `bytes`) of the non-NULL pointer fields, increasing.
    pub relocs: Vec<u32>,
}

impl QuerySetImage {
    /// The bytes as the host holds them once copied to address `base`: each pointer field at a
    /// reloc gets `base` added (wrapping, as the host's pointer arithmetic would).
    pub fn relocated(&self, base: u64) -> Vec<u8> {
        let mut bytes = self.bytes.clone();
        for &at in &self.relocs {
            let at = at as usize;
            if let Some(slot) = bytes.get_mut(at..at + 8) {
                let value = le_u64(slot, 0).wrapping_add(base);
                slot.copy_from_slice(&value.to_le_bytes());
            }
        }
        bytes
    }
}

/// Builds the Win64 `WSAQUERYSET2W` image of `qs` (see [`QuerySetImage`]).
///
/// What the struct cannot carry exactly, and what the image does then:
/// - a string holding U+0000: an `LPWSTR` ends at its first NUL, so the provider (and
///   [`read_next_ex_result`]) sees only the text before it; the rest is still in the image, so
///   `bytes.len() == qs.wire_size()` holds for every query set (a Windows client's string could
///   not hold a NUL at all);
/// - `Some` empty blob: a `BLOB` with `cbSize` 0 and a NULL `pBlobData` (read back as `Some`
///   empty); an empty `protocols` or `addresses`: a NULL pointer and a count of 0;
/// - `SocketAddrV6::flowinfo` and `scope_id` go into `sin6_flowinfo` / `sin6_scope_id` as the
///   32-bit values they are, little-endian in memory (what Rust's std does on Windows), so they
///   round-trip; ports and addresses are in network order.
///
/// # Panics
/// If the image would be 4 GiB or larger (relocations are 32-bit; a Windows query set's length
/// is a `DWORD` too).
pub fn query_set_image(qs: &QuerySet) -> QuerySetImage {
    let mut img = Builder {
        bytes: vec![0; WSAQUERYSET2W_SIZE],
        relocs: Vec::new(),
    };
    img.put_u32(QS_DW_SIZE, WSAQUERYSET2W_SIZE as u32);
    img.put_u32(QS_NAME_SPACE, qs.namespace.code());
    img.put_u32(QS_OUTPUT_FLAGS, qs.output_flags);

    if let Some(s) = &qs.service_instance_name {
        let at = img.append(&wide(s));
        img.put_ptr(QS_SERVICE_INSTANCE_NAME, at);
    }
    if let Some(v) = qs.version {
        let mut b = [0u8; WSAVERSION_SIZE];
        b[VERSION_DW_VERSION..][..4].copy_from_slice(&v.version.to_le_bytes());
        b[VERSION_EC_HOW..][..4].copy_from_slice(&v.how.to_le_bytes());
        let at = img.append(&b);
        img.put_ptr(QS_VERSION, at);
    }
    if let Some(s) = &qs.comment {
        let at = img.append(&wide(s));
        img.put_ptr(QS_COMMENT, at);
    }
    if let Some(g) = qs.ns_provider_id {
        let at = img.append(&guid_bytes(g));
        img.put_ptr(QS_NS_PROVIDER_ID, at);
    }
    if let Some(s) = &qs.context {
        let at = img.append(&wide(s));
        img.put_ptr(QS_CONTEXT, at);
    }
    img.put_u32(QS_NUMBER_OF_PROTOCOLS, count_u32(qs.protocols.len()));
    if !qs.protocols.is_empty() {
        let mut b = Vec::with_capacity(qs.protocols.len() * AFPROTOCOLS_SIZE);
        for p in &qs.protocols {
            b.extend_from_slice(&p.address_family.to_le_bytes());
            b.extend_from_slice(&p.protocol.to_le_bytes());
        }
        let at = img.append(&b);
        img.put_ptr(QS_AFP_PROTOCOLS, at);
    }
    if let Some(s) = &qs.query_string {
        let at = img.append(&wide(s));
        img.put_ptr(QS_QUERY_STRING, at);
    }
    img.put_u32(QS_NUMBER_OF_CS_ADDRS, count_u32(qs.addresses.len()));
    if !qs.addresses.is_empty() {
        // The array first (its sockaddr pointers are filled in below), then the sockaddrs.
        let array = img.append(&vec![0; qs.addresses.len() * CSADDR_INFO_SIZE]);
        img.put_ptr(QS_CSA_BUFFER, array);
        for (i, a) in qs.addresses.iter().enumerate() {
            let entry = array + i * CSADDR_INFO_SIZE;
            img.put_u32(entry + CSADDR_SOCKET_TYPE, a.socket_type as u32);
            img.put_u32(entry + CSADDR_PROTOCOL, a.protocol as u32);
            let remote = sockaddr_bytes(&a.remote);
            let at = img.append(&remote);
            img.put_ptr(entry + CSADDR_REMOTE_ADDR + SA_LP_SOCKADDR, at);
            img.put_u32(
                entry + CSADDR_REMOTE_ADDR + SA_SOCKADDR_LENGTH,
                remote.len() as u32,
            );
            if let Some(local) = &a.local {
                let local = sockaddr_bytes(local);
                let at = img.append(&local);
                img.put_ptr(entry + CSADDR_LOCAL_ADDR + SA_LP_SOCKADDR, at);
                img.put_u32(
                    entry + CSADDR_LOCAL_ADDR + SA_SOCKADDR_LENGTH,
                    local.len() as u32,
                );
            }
        }
    }
    if let Some(data) = &qs.blob {
        let blob = img.append(&[0; BLOB_SIZE]);
        img.put_ptr(QS_BLOB, blob);
        img.put_u32(blob + BLOB_CB_SIZE, count_u32(data.len()));
        if !data.is_empty() {
            let at = img.append(data);
            img.put_ptr(blob + BLOB_DATA, at);
        }
    }
    img.relocs.sort_unstable();
    QuerySetImage {
        bytes: img.bytes,
        relocs: img.relocs,
    }
}

/// The image under construction.
struct Builder {
    bytes: Vec<u8>,
    relocs: Vec<u32>,
}

impl Builder {
    fn put(&mut self, at: usize, b: &[u8]) {
        self.bytes[at..at + b.len()].copy_from_slice(b);
    }
    fn put_u32(&mut self, at: usize, v: u32) {
        self.put(at, &v.to_le_bytes());
    }
    /// A pointer field holding `target` (an offset into the image, never 0: objects follow the
    /// 112-byte struct), recorded for relocation.
    fn put_ptr(&mut self, at: usize, target: usize) {
        self.put(at, &(target as u64).to_le_bytes());
        self.relocs.push(offset_u32(at));
    }
    /// Appends `b` at the next 8-aligned offset and returns that offset.
    fn append(&mut self, b: &[u8]) -> usize {
        let at = self.bytes.len().next_multiple_of(ALIGN);
        self.bytes.resize(at, 0);
        self.bytes.extend_from_slice(b);
        offset_u32(self.bytes.len());
        at
    }
}

fn offset_u32(n: usize) -> u32 {
    u32::try_from(n).expect("a WSAQUERYSET2W image must stay below 4 GiB")
}

fn count_u32(n: usize) -> u32 {
    u32::try_from(n).expect("a WSAQUERYSET2W count must fit a DWORD")
}

/// UTF-16LE with a NUL terminator. A U+0000 inside is encoded too (so the image stays the size
/// `wire_size` counts), and ends the string for any reader, C's or this module's.
fn wide(s: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(s.len() * 2 + 2);
    for unit in s.encode_utf16() {
        b.extend_from_slice(&unit.to_le_bytes());
    }
    b.extend_from_slice(&[0, 0]);
    b
}

/// `Guid` holds the 128 bits in text order; Windows stores Data1..Data3 little-endian and
/// Data4 as bytes in text order.
fn guid_bytes(g: Guid) -> [u8; GUID_SIZE] {
    let v = g.0;
    let mut b = [0u8; GUID_SIZE];
    b[GUID_DATA1..][..4].copy_from_slice(&((v >> 96) as u32).to_le_bytes());
    b[GUID_DATA2..][..2].copy_from_slice(&((v >> 80) as u16).to_le_bytes());
    b[GUID_DATA3..][..2].copy_from_slice(&((v >> 64) as u16).to_le_bytes());
    b[GUID_DATA4..][..8].copy_from_slice(&(v as u64).to_be_bytes());
    b
}

fn guid_from_bytes(b: &[u8]) -> Guid {
    let data1 = u128::from(le_u32(b, GUID_DATA1));
    let data2 = u128::from(le_u16(b, GUID_DATA2));
    let data3 = u128::from(le_u16(b, GUID_DATA3));
    let data4 = u128::from(u64::from_be_bytes(array_at(b, GUID_DATA4)));
    Guid((data1 << 96) | (data2 << 80) | (data3 << 64) | data4)
}

/// A `SOCKADDR_IN` or `SOCKADDR_IN6` with Windows' family values.
fn sockaddr_bytes(a: &SocketAddr) -> Vec<u8> {
    match a {
        SocketAddr::V4(a) => {
            let mut b = vec![0u8; SOCKADDR_IN_SIZE];
            b[SOCKADDR_FAMILY..][..2].copy_from_slice(&AF_INET.to_le_bytes());
            b[SIN_PORT..][..2].copy_from_slice(&a.port().to_be_bytes());
            b[SIN_ADDR..][..4].copy_from_slice(&a.ip().octets());
            b
        }
        SocketAddr::V6(a) => {
            let mut b = vec![0u8; SOCKADDR_IN6_SIZE];
            b[SOCKADDR_FAMILY..][..2].copy_from_slice(&AF_INET6.to_le_bytes());
            b[SIN6_PORT..][..2].copy_from_slice(&a.port().to_be_bytes());
            b[SIN6_FLOWINFO..][..4].copy_from_slice(&a.flowinfo().to_le_bytes());
            b[SIN6_ADDR..][..16].copy_from_slice(&a.ip().octets());
            b[SIN6_SCOPE_ID..][..4].copy_from_slice(&a.scope_id().to_le_bytes());
            b
        }
    }
}

// ---- Reading ---------------------------------------------------------------------------------

/// A malformed result: which field, and what is wrong with it (Display: one sentence that
/// names the field the way the Windows docs do, e.g. `lpszServiceInstanceName`).
///
/// `field` is a fixed name so callers can match on it. Fields of array elements are written
/// with a literal `[i]` (`lpcsaBuffer[i].RemoteAddr.lpSockaddr`); `problem` then starts with
/// the element's index, `(i = 1) …`, so the message names the exact element. The buffer-level
/// errors (too small, or at an address where it would wrap) name `lpqsResults`, NextEx's
/// parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultError {
    /// The field, as Microsoft's reference pages spell it.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for ResultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed NSPv2LookupServiceNextEx result: {} {}",
            self.field, self.problem
        )
    }
}

impl std::error::Error for ResultError {}

/// Parses what a provider wrote into a NextEx buffer that lived at address `base` in the host
/// (`buf` is the whole buffer, as long as the client's buffer length).
///
/// Checks, each failing with the field it names:
/// - the buffer holds at least a `WSAQUERYSET2W` (112 bytes) and `[base, base + len)` does not
///   wrap the address space (`lpqsResults`); `dwSize` is 112;
/// - every non-NULL pointer points into `[base, base + len)` and the whole object it points to
///   (struct, array of `count` elements, sockaddr of `iSockaddrLength` bytes, blob of `cbSize`
///   bytes) ends inside the buffer. A pointer outside names the pointer field; an object that
///   starts inside but runs past the end names its length or count when it has one
///   (`dwNumberOfCsAddrs`, `dwNumberOfProtocols`, `lpBlob->cbSize`, `iSockaddrLength`), else the
///   pointer. Arithmetic is 64-bit and checked, so no count or pointer can overflow it. A
///   zero-length object's pointer may also point just past the end. Misaligned pointers are
///   accepted (x64 does not fault on them; everything is read byte-wise). Overlapping objects
///   are not an error: the bytes are read as each field's type;
/// - a count above 0 with a NULL array pointer, a `cbSize` above 0 with a NULL `pBlobData`, a
///   negative `iSockaddrLength`, or a NULL `lpSockaddr` with a non-zero length;
/// - strings end with a NUL inside the buffer, and are valid UTF-16: an unpaired surrogate is
///   rejected, naming the string, because [`QuerySet`] holds Rust strings and a lossy
///   replacement would hand the client a name the provider never wrote;
/// - a sockaddr's `iSockaddrLength` holds `sa_family`, the family is `AF_INET` (2) or
///   `AF_INET6` (23), and the length is at least `sizeof(SOCKADDR_IN)` (16) or
///   `sizeof(SOCKADDR_IN6)` (28) for it (longer, such as a `SOCKADDR_STORAGE`, is accepted);
/// - a `CSADDR_INFO` has a `RemoteAddr` ([`CsAddr::remote`] is not optional); `LocalAddr` may be
///   NULL (length 0), which is `local: None`.
///
/// The result means what the mock providers' results mean: NULL strings, version, provider id
/// and blob are `None`; a NULL array is an empty `Vec`; `dwNameSpace` and `dwOutputFlags` are
/// taken as written. Nothing is allocated before the bytes it describes are known to be in the
/// buffer, so every allocation is bounded by `buf.len()`.
pub fn read_next_ex_result(buf: &[u8], base: u64) -> Result<QuerySet, ResultError> {
    let r = Reader::new(buf, base)?;
    let qs = r.slice(0, WSAQUERYSET2W_SIZE);
    let dw_size = le_u32(qs, QS_DW_SIZE);
    if dw_size as usize != WSAQUERYSET2W_SIZE {
        return Err(ResultError {
            field: "dwSize",
            problem: format!("is {dw_size}, not sizeof(WSAQUERYSET2W) = {WSAQUERYSET2W_SIZE}"),
        });
    }

    let service_instance_name = r.string(
        le_u64(qs, QS_SERVICE_INSTANCE_NAME),
        "lpszServiceInstanceName",
    )?;
    let version = r
        .object(
            le_u64(qs, QS_VERSION),
            WSAVERSION_SIZE,
            Loc::new("lpVersion"),
            "a WSAVERSION",
        )?
        .map(|v| WsaVersion {
            version: le_u32(v, VERSION_DW_VERSION),
            how: le_u32(v, VERSION_EC_HOW),
        });
    let comment = r.string(le_u64(qs, QS_COMMENT), "lpszComment")?;
    let ns_provider_id = r
        .object(
            le_u64(qs, QS_NS_PROVIDER_ID),
            GUID_SIZE,
            Loc::new("lpNSProviderId"),
            "a GUID",
        )?
        .map(guid_from_bytes);
    let context = r.string(le_u64(qs, QS_CONTEXT), "lpszContext")?;

    let protocols = match r.array(
        le_u64(qs, QS_AFP_PROTOCOLS),
        le_u32(qs, QS_NUMBER_OF_PROTOCOLS),
        AFPROTOCOLS_SIZE,
        ("lpafpProtocols", "dwNumberOfProtocols", "AFPROTOCOLS"),
    )? {
        None => Vec::new(),
        Some(array) => array
            .chunks_exact(AFPROTOCOLS_SIZE)
            .map(|p| AfProtocols {
                address_family: le_i32(p, AFP_ADDRESS_FAMILY),
                protocol: le_i32(p, AFP_PROTOCOL),
            })
            .collect(),
    };
    let query_string = r.string(le_u64(qs, QS_QUERY_STRING), "lpszQueryString")?;

    let addresses = match r.array(
        le_u64(qs, QS_CSA_BUFFER),
        le_u32(qs, QS_NUMBER_OF_CS_ADDRS),
        CSADDR_INFO_SIZE,
        ("lpcsaBuffer", "dwNumberOfCsAddrs", "CSADDR_INFO"),
    )? {
        None => Vec::new(),
        Some(array) => {
            let mut addresses = Vec::with_capacity(array.len() / CSADDR_INFO_SIZE);
            for (i, entry) in array.chunks_exact(CSADDR_INFO_SIZE).enumerate() {
                addresses.push(r.csaddr(entry, i as u64)?);
            }
            addresses
        }
    };

    let blob = match r.object(le_u64(qs, QS_BLOB), BLOB_SIZE, Loc::new("lpBlob"), "a BLOB")? {
        None => None,
        Some(b) => {
            let size = le_u32(b, BLOB_CB_SIZE);
            let data = le_u64(b, BLOB_DATA);
            if size == 0 {
                // Nothing is read, but a stray pointer still is a broken result.
                if data != 0 {
                    r.locate(data, 0, Loc::new("lpBlob->pBlobData"), None, "0 bytes")?;
                }
                Some(Vec::new())
            } else if data == 0 {
                return Err(Loc::new("lpBlob->pBlobData")
                    .fail(format!("is NULL but lpBlob->cbSize is {size}")));
            } else {
                let at = r.locate(
                    data,
                    u64::from(size),
                    Loc::new("lpBlob->pBlobData"),
                    Some(Loc::new("lpBlob->cbSize")),
                    &format!("{size} bytes"),
                )?;
                Some(r.slice(at, size as usize).to_vec())
            }
        }
    };

    Ok(QuerySet {
        service_instance_name,
        version,
        comment,
        namespace: Namespace(le_u32(qs, QS_NAME_SPACE)),
        ns_provider_id,
        context,
        protocols,
        query_string,
        addresses,
        output_flags: le_u32(qs, QS_OUTPUT_FLAGS),
        blob,
    })
}

/// A field named in an error, with the element index when it belongs to an array element.
#[derive(Clone, Copy)]
struct Loc {
    field: &'static str,
    index: Option<u64>,
}

impl Loc {
    fn new(field: &'static str) -> Loc {
        Loc { field, index: None }
    }
    fn at(field: &'static str, index: u64) -> Loc {
        Loc {
            field,
            index: Some(index),
        }
    }
    fn fail(self, problem: String) -> ResultError {
        ResultError {
            field: self.field,
            problem: match self.index {
                Some(i) => format!("(i = {i}) {problem}"),
                None => problem,
            },
        }
    }
}

/// The names of one `SOCKET_ADDRESS` member's fields.
struct SockaddrNames {
    pointer: &'static str,
    length: &'static str,
    family: &'static str,
}

const LOCAL_NAMES: SockaddrNames = SockaddrNames {
    pointer: "lpcsaBuffer[i].LocalAddr.lpSockaddr",
    length: "lpcsaBuffer[i].LocalAddr.iSockaddrLength",
    family: "lpcsaBuffer[i].LocalAddr.lpSockaddr->sa_family",
};
const REMOTE_NAMES: SockaddrNames = SockaddrNames {
    pointer: "lpcsaBuffer[i].RemoteAddr.lpSockaddr",
    length: "lpcsaBuffer[i].RemoteAddr.iSockaddrLength",
    family: "lpcsaBuffer[i].RemoteAddr.lpSockaddr->sa_family",
};

/// The result buffer, as the host's addresses see it.
struct Reader<'a> {
    buf: &'a [u8],
    base: u64,
    /// `base + buf.len()`, known not to overflow.
    end: u64,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], base: u64) -> Result<Reader<'a>, ResultError> {
        let len = buf.len() as u64;
        let buffer = Loc::new("lpqsResults");
        if buf.len() < WSAQUERYSET2W_SIZE {
            return Err(buffer.fail(format!(
                "is a {len}-byte buffer, too small for a WSAQUERYSET2W ({WSAQUERYSET2W_SIZE} bytes)"
            )));
        }
        let end = base.checked_add(len).ok_or_else(|| {
            buffer.fail(format!(
                "is a {len}-byte buffer that would wrap past the top of the address space"
            ))
        })?;
        Ok(Reader { buf, base, end })
    }

    /// `size` bytes at `offset` (callers pass ranges [`Reader::locate`] checked).
    fn slice(&self, offset: usize, size: usize) -> &'a [u8] {
        // Never short: every range was checked first. An empty slice would read as zeros
        // rather than panic if that ever changed.
        self.buf
            .get(offset..offset.saturating_add(size))
            .unwrap_or_default()
    }

    /// The offset of an object of `size` bytes at address `ptr`, once it is known to lie inside
    /// the buffer. A start outside blames `pointer`; an end past the buffer blames `length`
    /// (the count or size field that made it long) or, without one, `pointer`.
    fn locate(
        &self,
        ptr: u64,
        size: u64,
        pointer: Loc,
        length: Option<Loc>,
        what: &str,
    ) -> Result<usize, ResultError> {
        let outside = || {
            // Where it points is left out: the host's addresses change from run to run (ASLR),
            // and this text goes into the trace.
            pointer.fail(format!(
                "points outside the {}-byte result buffer (every pointer of a result must point into the buffer)",
                self.buf.len()
            ))
        };
        // A zero-length object may sit at `end`; anything else starts strictly before it.
        if ptr < self.base || ptr > self.end || (size > 0 && ptr == self.end) {
            return Err(outside());
        }
        let offset = ptr - self.base;
        let fits = offset
            .checked_add(size)
            .is_some_and(|last| last <= self.buf.len() as u64);
        if !fits {
            let past = offset.saturating_add(size) - self.buf.len() as u64;
            let problem = format!(
                "makes {what} at offset {offset} of the {}-byte result buffer, which runs {past} bytes past its end",
                self.buf.len()
            );
            return Err(length.unwrap_or(pointer).fail(problem));
        }
        Ok(offset as usize)
    }

    /// A fixed-size struct behind a pointer field; NULL is `None`.
    fn object(
        &self,
        ptr: u64,
        size: usize,
        pointer: Loc,
        what: &str,
    ) -> Result<Option<&'a [u8]>, ResultError> {
        if ptr == 0 {
            return Ok(None);
        }
        let at = self.locate(ptr, size as u64, pointer, None, what)?;
        Ok(Some(self.slice(at, size)))
    }

    /// An array of `count` elements of `size` bytes; NULL with a count of 0 is `None`.
    fn array(
        &self,
        ptr: u64,
        count: u32,
        size: usize,
        (pointer, counter, what): (&'static str, &'static str, &str),
    ) -> Result<Option<&'a [u8]>, ResultError> {
        if ptr == 0 {
            if count == 0 {
                return Ok(None);
            }
            return Err(Loc::new(pointer).fail(format!("is NULL but {counter} is {count}")));
        }
        // u32 × a struct size cannot overflow u64; the range check bounds it by the buffer
        // before anything is allocated for it.
        let bytes = u64::from(count) * size as u64;
        let at = self.locate(
            ptr,
            bytes,
            Loc::new(pointer),
            Some(Loc::new(counter)),
            &format!("{count} {what} ({bytes} bytes)"),
        )?;
        Ok(Some(self.slice(at, bytes as usize)))
    }

    /// A NUL-terminated UTF-16LE string; NULL is `None`.
    fn string(&self, ptr: u64, field: &'static str) -> Result<Option<String>, ResultError> {
        if ptr == 0 {
            return Ok(None);
        }
        let loc = Loc::new(field);
        // One byte must be inside; whether a whole terminated string is, the scan below tells.
        let at = self.locate(ptr, 1, loc, None, "a string")?;
        let tail = self.slice(at, self.buf.len() - at);
        let units = tail
            .chunks_exact(2)
            .map(|u| u16::from_le_bytes([u[0], u[1]]));
        let Some(len) = units.clone().position(|u| u == 0) else {
            return Err(loc.fail(format!(
                "has no NUL terminator between offset {at} and the end of the {}-byte result buffer",
                self.buf.len()
            )));
        };
        let mut text = String::with_capacity(len);
        let mut unit = 0; // index of the unit the next char starts at
        for c in char::decode_utf16(units.take(len)) {
            match c {
                Ok(c) => {
                    text.push(c);
                    unit += c.len_utf16();
                }
                Err(e) => {
                    return Err(loc.fail(format!(
                        "holds an unpaired UTF-16 surrogate U+{:04X} at unit {unit}, which nspsim rejects rather than alter the text",
                        e.unpaired_surrogate()
                    )));
                }
            }
        }
        Ok(Some(text))
    }

    /// One `CSADDR_INFO` (the 40 bytes of element `i`).
    fn csaddr(&self, entry: &[u8], i: u64) -> Result<CsAddr, ResultError> {
        let remote = self.socket_address(&entry[CSADDR_REMOTE_ADDR..], &REMOTE_NAMES, i)?;
        let local = self.socket_address(&entry[CSADDR_LOCAL_ADDR..], &LOCAL_NAMES, i)?;
        let Some(remote) = remote else {
            return Err(Loc::at(REMOTE_NAMES.pointer, i).fail(
                "is NULL; a result address needs a remote address (nspsim's CsAddr has no other form)"
                    .to_string(),
            ));
        };
        Ok(CsAddr {
            remote,
            local,
            socket_type: le_i32(entry, CSADDR_SOCKET_TYPE),
            protocol: le_i32(entry, CSADDR_PROTOCOL),
        })
    }

    /// One `SOCKET_ADDRESS` (`sa` starts at it); a NULL `lpSockaddr` with length 0 is `None`.
    fn socket_address(
        &self,
        sa: &[u8],
        names: &SockaddrNames,
        i: u64,
    ) -> Result<Option<SocketAddr>, ResultError> {
        let ptr = le_u64(sa, SA_LP_SOCKADDR);
        let length = le_i32(sa, SA_SOCKADDR_LENGTH);
        let length_loc = Loc::at(names.length, i);
        if ptr == 0 {
            if length != 0 {
                return Err(length_loc.fail(format!("is {length} but lpSockaddr is NULL")));
            }
            return Ok(None);
        }
        let Ok(size) = usize::try_from(length) else {
            return Err(length_loc.fail(format!("is negative ({length})")));
        };
        let at = self.locate(
            ptr,
            size as u64,
            Loc::at(names.pointer, i),
            Some(length_loc),
            &format!("a {size}-byte sockaddr"),
        )?;
        if size < 2 {
            return Err(length_loc.fail(format!("is {size}, too short to hold sa_family")));
        }
        let s = self.slice(at, size);
        let family = le_u16(s, SOCKADDR_FAMILY);
        let (needed, name) = match family {
            AF_INET => (SOCKADDR_IN_SIZE, "SOCKADDR_IN"),
            AF_INET6 => (SOCKADDR_IN6_SIZE, "SOCKADDR_IN6"),
            other => {
                return Err(Loc::at(names.family, i).fail(format!(
                    "is {other}, neither AF_INET ({AF_INET}) nor AF_INET6 ({AF_INET6})"
                )));
            }
        };
        if size < needed {
            return Err(length_loc.fail(format!(
                "is {size}, shorter than sizeof({name}) = {needed} for its family"
            )));
        }
        Ok(Some(if family == AF_INET {
            SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(array_at::<4>(s, SIN_ADDR)),
                u16::from_be_bytes(array_at(s, SIN_PORT)),
            ))
        } else {
            SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(array_at::<16>(s, SIN6_ADDR)),
                u16::from_be_bytes(array_at(s, SIN6_PORT)),
                le_u32(s, SIN6_FLOWINFO),
                le_u32(s, SIN6_SCOPE_ID),
            ))
        }))
    }
}

/// `N` bytes at `at` in `b`; zeros if `b` is too short (callers only pass checked ranges, so
/// that never happens, and it cannot panic if it did).
fn array_at<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    b.get(at..at.saturating_add(N))
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0; N])
}

fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(array_at(b, at))
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(array_at(b, at))
}

fn le_i32(b: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(array_at(b, at))
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(array_at(b, at))
}

/// Keeps `wire`'s sizes and this module's in step: `wire_size` and the image must agree.
const _: () = {
    assert!(wire::QUERYSET2W_SIZE as usize == WSAQUERYSET2W_SIZE);
    assert!(wire::CSADDR_INFO_SIZE as usize == CSADDR_INFO_SIZE);
    assert!(wire::SOCKADDR_IN_SIZE as usize == SOCKADDR_IN_SIZE);
    assert!(wire::SOCKADDR_IN6_SIZE as usize == SOCKADDR_IN6_SIZE);
    assert!(wire::BLOB_SIZE as usize == BLOB_SIZE);
    assert!(wire::GUID_SIZE as usize == GUID_SIZE);
    assert!(wire::WSAVERSION_SIZE as usize == WSAVERSION_SIZE);
    assert!(wire::AFPROTOCOLS_SIZE as usize == AFPROTOCOLS_SIZE);
    assert!(wire::ALIGN as usize == ALIGN);
    assert!(wire::AF_INET == AF_INET as i32);
    assert!(wire::AF_INET6 == AF_INET6 as i32);
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    /// A host address: 8-aligned, high enough to look like a heap pointer.
    const BASE: u64 = 0x7f3a_1c20_4000;

    /// What the host does: the image copied to `base`, its relocations applied.
    fn image_relocated_to(qs: &QuerySet, base: u64) -> Vec<u8> {
        query_set_image(qs).relocated(base)
    }

    fn v4(s: &str) -> SocketAddr {
        s.parse().expect("an IPv4 socket address")
    }

    /// A mock provider's result for one directory entry, built as `options.rs` builds it.
    fn mock_entry() -> QuerySet {
        crate::options::EntryOption {
            name: "bob@contoso.com".into(),
            addrs: vec![v4("192.0.2.11:25"), v4("192.0.2.12:587")],
            comment: Some("Bob Baker".into()),
            blob: Some("mx-policy".into()),
        }
        .to_query_set()
    }

    /// Every field set, both families, a local address, non-BMP text, odd lengths.
    fn full() -> QuerySet {
        QuerySet {
            service_instance_name: Some("ærøskøbing@例え.jp 𝄞".into()),
            version: Some(WsaVersion {
                version: 0x0002_0001,
                how: 1,
            }),
            comment: Some("".into()),
            namespace: Namespace::EMAIL,
            ns_provider_id: Some(
                "6c3f4a52-1d2e-4b7a-9c1e-5a0b8d7e2f31"
                    .parse()
                    .expect("a GUID"),
            ),
            context: Some("ctx".into()),
            protocols: vec![
                AfProtocols {
                    address_family: 2,
                    protocol: 6,
                },
                AfProtocols {
                    address_family: 23,
                    protocol: 17,
                },
            ],
            query_string: Some("?q=1".into()),
            addresses: vec![
                CsAddr::tcp(v4("192.0.2.10:25")),
                CsAddr {
                    remote: SocketAddr::V6(SocketAddrV6::new(
                        "2001:db8::1".parse().expect("v6"),
                        587,
                        0x000a_bcde,
                        7,
                    )),
                    local: Some(v4("0.0.0.0:0")),
                    socket_type: 2,
                    protocol: 17,
                },
            ],
            output_flags: 0x10,
            blob: Some(vec![1, 2, 3]),
        }
    }

    fn representative() -> Vec<QuerySet> {
        vec![
            QuerySet::default(),
            QuerySet::restrictions(Namespace::EMAIL, "alice@contoso.com"),
            mock_entry(),
            mock_entry().project(nspsim_core::LupFlags::RETURN_NAME),
            full(),
            QuerySet {
                blob: Some(Vec::new()),
                ..QuerySet::default()
            },
        ]
    }

    // ---- round trips -------------------------------------------------------------------------

    #[test]
    fn representative_query_sets_round_trip_at_several_bases() {
        for qs in representative() {
            for base in [8, 0x1000, BASE, u64::MAX - 0x10_0000] {
                let bytes = image_relocated_to(&qs, base);
                assert_eq!(
                    read_next_ex_result(&bytes, base),
                    Ok(qs.clone()),
                    "base {base:#x}"
                );
            }
        }
    }

    #[test]
    fn the_image_is_packed_as_wire_size_counts_and_its_relocs_are_the_pointers() {
        for qs in representative() {
            let img = query_set_image(&qs);
            assert_eq!(img.bytes.len() as u32, qs.wire_size(), "{qs:?}");
            assert!(img.relocs.windows(2).all(|w| w[0] < w[1]), "increasing");
            for &at in &img.relocs {
                let target = le_u64(&img.bytes, at as usize);
                assert!(
                    target as usize >= WSAQUERYSET2W_SIZE && target as usize <= img.bytes.len(),
                    "reloc at {at} points to {target}"
                );
                assert_eq!(target % ALIGN as u64, 0, "objects are 8-aligned");
            }
            // Exactly the non-NULL pointer fields of the struct are relocated.
            for field in [
                QS_SERVICE_INSTANCE_NAME,
                QS_VERSION,
                QS_COMMENT,
                QS_NS_PROVIDER_ID,
                QS_CONTEXT,
                QS_AFP_PROTOCOLS,
                QS_QUERY_STRING,
                QS_CSA_BUFFER,
                QS_BLOB,
            ] {
                let non_null = le_u64(&img.bytes, field) != 0;
                assert_eq!(img.relocs.contains(&(field as u32)), non_null);
            }
        }
        // The full one: 9 struct pointers, 2 remote + 1 local lpSockaddr, 1 pBlobData.
        assert_eq!(query_set_image(&full()).relocs.len(), 13);
    }

    #[test]
    fn a_string_ends_at_an_embedded_nul_and_an_empty_blob_has_no_data_pointer() {
        let qs = QuerySet {
            service_instance_name: Some("abc\0def".into()),
            blob: Some(Vec::new()),
            ..QuerySet::default()
        };
        assert_eq!(query_set_image(&qs).bytes.len() as u32, qs.wire_size());
        let got = read_next_ex_result(&image_relocated_to(&qs, BASE), BASE).expect("valid");
        assert_eq!(got.service_instance_name.as_deref(), Some("abc"));
        assert_eq!(got.blob, Some(Vec::new()));
        let img = query_set_image(&qs);
        let blob = le_u64(&img.bytes, QS_BLOB) as usize;
        assert_eq!(le_u64(&img.bytes, blob + BLOB_DATA), 0);
    }

    fn text() -> impl Strategy<Value = String> {
        proptest::collection::vec(any::<char>().prop_filter("no NUL", |c| *c != '\0'), 0..12)
            .prop_map(|cs| cs.into_iter().collect())
    }

    fn socket_addr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>())
                .prop_map(|(ip, port)| SocketAddr::V4(SocketAddrV4::new(ip.into(), port))),
            (any::<[u8; 16]>(), any::<u16>(), any::<u32>(), any::<u32>()).prop_map(
                |(ip, port, flow, scope)| SocketAddr::V6(SocketAddrV6::new(
                    ip.into(),
                    port,
                    flow,
                    scope
                ))
            ),
        ]
    }

    fn query_set() -> impl Strategy<Value = QuerySet> {
        let strings = (
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
        );
        let scalars = (
            proptest::option::of(any::<(u32, u32)>()),
            any::<u32>(),
            proptest::option::of(any::<u128>()),
            any::<u32>(),
        );
        let arrays = (
            proptest::collection::vec(any::<(i32, i32)>(), 0..4),
            proptest::collection::vec(
                (
                    socket_addr(),
                    proptest::option::of(socket_addr()),
                    any::<i32>(),
                    any::<i32>(),
                ),
                0..4,
            ),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        );
        (strings, scalars, arrays).prop_map(
            |(
                (name, comment, context, query),
                (version, ns, id, out),
                (protocols, addresses, blob),
            )| QuerySet {
                service_instance_name: name,
                version: version.map(|(version, how)| WsaVersion { version, how }),
                comment,
                namespace: Namespace(ns),
                ns_provider_id: id.map(Guid),
                context,
                protocols: protocols
                    .into_iter()
                    .map(|(address_family, protocol)| AfProtocols {
                        address_family,
                        protocol,
                    })
                    .collect(),
                query_string: query,
                addresses: addresses
                    .into_iter()
                    .map(|(remote, local, socket_type, protocol)| CsAddr {
                        remote,
                        local,
                        socket_type,
                        protocol,
                    })
                    .collect(),
                output_flags: out,
                blob,
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn generated_query_sets_round_trip(qs in query_set(), base in (1u64..(1 << 47)).prop_map(|b| b * 8)) {
            let bytes = image_relocated_to(&qs, base);
            prop_assert_eq!(bytes.len() as u32, qs.wire_size());
            prop_assert_eq!(read_next_ex_result(&bytes, base), Ok(qs));
        }

        #[test]
        fn a_result_in_a_larger_client_buffer_reads_the_same(qs in query_set(), slack in 0usize..64) {
            let mut bytes = image_relocated_to(&qs, BASE);
            bytes.resize(bytes.len() + slack, 0xa5);
            prop_assert_eq!(read_next_ex_result(&bytes, BASE), Ok(qs));
        }
    }

    // ---- layout ------------------------------------------------------------------------------

    /// `layout.def`'s `LAYOUT_SIZE` and `LAYOUT_FIELD` entries, as `"size T"` and
    /// `"offset T.field"`, and its constants as `"const NAME"`.
    fn layout_def() -> BTreeMap<String, i64> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("c/layout/layout.def");
        let text = std::fs::read_to_string(&path).expect("read providers/c/layout/layout.def");
        let mut m = BTreeMap::new();
        for line in text.lines().map(str::trim) {
            let Some((kind, rest)) = line.split_once('(') else {
                continue;
            };
            let Some(args) = rest.strip_suffix(')') else {
                continue;
            };
            let args: Vec<&str> = args.split(',').map(str::trim).collect();
            let number = |s: &str| match s.strip_prefix("0x") {
                Some(hex) => i64::from_str_radix(hex, 16).expect("a hex number"),
                None => s.parse().expect("a number"),
            };
            match (kind, args.as_slice()) {
                ("LAYOUT_SIZE", [t, n]) => m.insert(format!("size {t}"), number(n)),
                ("LAYOUT_FIELD", [t, f, n]) => m.insert(format!("offset {t}.{f}"), number(n)),
                ("LAYOUT_CONST" | "LAYOUT_CONST_NOT_IN_MINGW", [c, n]) => {
                    m.insert(format!("const {c}"), number(n))
                }
                _ => None,
            };
        }
        m
    }

    #[test]
    fn the_module_constants_are_layout_def_entries() {
        let def = layout_def();
        let ours: &[(&str, usize)] = &[
            ("size WSAQUERYSET2W", WSAQUERYSET2W_SIZE),
            ("offset WSAQUERYSET2W.dwSize", QS_DW_SIZE),
            (
                "offset WSAQUERYSET2W.lpszServiceInstanceName",
                QS_SERVICE_INSTANCE_NAME,
            ),
            ("offset WSAQUERYSET2W.lpVersion", QS_VERSION),
            ("offset WSAQUERYSET2W.lpszComment", QS_COMMENT),
            ("offset WSAQUERYSET2W.dwNameSpace", QS_NAME_SPACE),
            ("offset WSAQUERYSET2W.lpNSProviderId", QS_NS_PROVIDER_ID),
            ("offset WSAQUERYSET2W.lpszContext", QS_CONTEXT),
            (
                "offset WSAQUERYSET2W.dwNumberOfProtocols",
                QS_NUMBER_OF_PROTOCOLS,
            ),
            ("offset WSAQUERYSET2W.lpafpProtocols", QS_AFP_PROTOCOLS),
            ("offset WSAQUERYSET2W.lpszQueryString", QS_QUERY_STRING),
            (
                "offset WSAQUERYSET2W.dwNumberOfCsAddrs",
                QS_NUMBER_OF_CS_ADDRS,
            ),
            ("offset WSAQUERYSET2W.lpcsaBuffer", QS_CSA_BUFFER),
            ("offset WSAQUERYSET2W.dwOutputFlags", QS_OUTPUT_FLAGS),
            ("offset WSAQUERYSET2W.lpBlob", QS_BLOB),
            ("size WSAVERSION", WSAVERSION_SIZE),
            ("offset WSAVERSION.dwVersion", VERSION_DW_VERSION),
            ("offset WSAVERSION.ecHow", VERSION_EC_HOW),
            ("size GUID", GUID_SIZE),
            ("offset GUID.Data1", GUID_DATA1),
            ("offset GUID.Data2", GUID_DATA2),
            ("offset GUID.Data3", GUID_DATA3),
            ("offset GUID.Data4", GUID_DATA4),
            ("size AFPROTOCOLS", AFPROTOCOLS_SIZE),
            ("offset AFPROTOCOLS.iAddressFamily", AFP_ADDRESS_FAMILY),
            ("offset AFPROTOCOLS.iProtocol", AFP_PROTOCOL),
            ("size CSADDR_INFO", CSADDR_INFO_SIZE),
            ("offset CSADDR_INFO.LocalAddr", CSADDR_LOCAL_ADDR),
            ("offset CSADDR_INFO.RemoteAddr", CSADDR_REMOTE_ADDR),
            ("offset CSADDR_INFO.iSocketType", CSADDR_SOCKET_TYPE),
            ("offset CSADDR_INFO.iProtocol", CSADDR_PROTOCOL),
            ("size SOCKET_ADDRESS", SOCKET_ADDRESS_SIZE),
            ("offset SOCKET_ADDRESS.lpSockaddr", SA_LP_SOCKADDR),
            ("offset SOCKET_ADDRESS.iSockaddrLength", SA_SOCKADDR_LENGTH),
            ("offset SOCKADDR.sa_family", SOCKADDR_FAMILY),
            ("size SOCKADDR_IN", SOCKADDR_IN_SIZE),
            ("offset SOCKADDR_IN.sin_family", SOCKADDR_FAMILY),
            ("offset SOCKADDR_IN.sin_port", SIN_PORT),
            ("offset SOCKADDR_IN.sin_addr", SIN_ADDR),
            ("size SOCKADDR_IN6", SOCKADDR_IN6_SIZE),
            ("offset SOCKADDR_IN6.sin6_family", SOCKADDR_FAMILY),
            ("offset SOCKADDR_IN6.sin6_port", SIN6_PORT),
            ("offset SOCKADDR_IN6.sin6_flowinfo", SIN6_FLOWINFO),
            ("offset SOCKADDR_IN6.sin6_addr", SIN6_ADDR),
            ("offset SOCKADDR_IN6.sin6_scope_id", SIN6_SCOPE_ID),
            ("size BLOB", BLOB_SIZE),
            ("offset BLOB.cbSize", BLOB_CB_SIZE),
            ("offset BLOB.pBlobData", BLOB_DATA),
            ("const AF_INET", AF_INET.into()),
            ("const AF_INET6", AF_INET6.into()),
        ];
        for (key, value) in ours {
            assert_eq!(
                def.get(*key).copied(),
                Some(*value as i64),
                "{key}: layout.def says {:?}, the module uses {value}",
                def.get(*key)
            );
        }
    }

    /// Reads the image at layout.def's offsets, not the module's constants: every object lands
    /// where Win64 puts it, with Windows' values.
    #[test]
    fn the_image_has_each_field_at_its_layout_def_offset() {
        let def = layout_def();
        let off = |key: &str| -> usize {
            usize::try_from(
                *def.get(key)
                    .unwrap_or_else(|| panic!("{key} in layout.def")),
            )
            .expect("an offset")
        };
        let qs = full();
        let b = query_set_image(&qs).bytes;
        let q = |f: &str| off(&format!("offset WSAQUERYSET2W.{f}"));
        let ptr = |at: usize| le_u64(&b, at) as usize;
        let wstr = |at: usize| {
            let units: Vec<u16> = b[at..]
                .chunks_exact(2)
                .map(|u| u16::from_le_bytes([u[0], u[1]]))
                .take_while(|&u| u != 0)
                .collect();
            String::from_utf16(&units).expect("UTF-16")
        };
        assert_eq!(le_u32(&b, q("dwSize")) as i64, def["size WSAQUERYSET2W"]);
        assert_eq!(le_u32(&b, q("dwNameSpace")), 37);
        assert_eq!(le_u32(&b, q("dwOutputFlags")), 0x10);
        assert_eq!(
            Some(wstr(ptr(q("lpszServiceInstanceName")))),
            qs.service_instance_name
        );
        assert_eq!(wstr(ptr(q("lpszComment"))), "");
        assert_eq!(wstr(ptr(q("lpszContext"))), "ctx");
        assert_eq!(wstr(ptr(q("lpszQueryString"))), "?q=1");
        let version = ptr(q("lpVersion"));
        assert_eq!(
            le_u32(&b, version + off("offset WSAVERSION.dwVersion")),
            0x0002_0001
        );
        assert_eq!(le_u32(&b, version + off("offset WSAVERSION.ecHow")), 1);
        let guid = ptr(q("lpNSProviderId"));
        assert_eq!(le_u32(&b, guid + off("offset GUID.Data1")), 0x6c3f_4a52);
        assert_eq!(le_u16(&b, guid + off("offset GUID.Data2")), 0x1d2e);
        assert_eq!(le_u16(&b, guid + off("offset GUID.Data3")), 0x4b7a);
        let d4 = guid + off("offset GUID.Data4");
        assert_eq!(
            b[d4..d4 + 8],
            [0x9c, 0x1e, 0x5a, 0x0b, 0x8d, 0x7e, 0x2f, 0x31]
        );
        assert_eq!(le_u32(&b, q("dwNumberOfProtocols")), 2);
        let afp = ptr(q("lpafpProtocols")) + def["size AFPROTOCOLS"] as usize;
        assert_eq!(
            le_i32(&b, afp + off("offset AFPROTOCOLS.iAddressFamily")),
            23
        );
        assert_eq!(le_i32(&b, afp + off("offset AFPROTOCOLS.iProtocol")), 17);

        assert_eq!(le_u32(&b, q("dwNumberOfCsAddrs")), 2);
        let csa = ptr(q("lpcsaBuffer"));
        let second = csa + def["size CSADDR_INFO"] as usize;
        let remote = second + off("offset CSADDR_INFO.RemoteAddr");
        let local = second + off("offset CSADDR_INFO.LocalAddr");
        assert_eq!(
            le_i32(&b, second + off("offset CSADDR_INFO.iSocketType")),
            2
        );
        assert_eq!(le_i32(&b, second + off("offset CSADDR_INFO.iProtocol")), 17);
        let sa_len = off("offset SOCKET_ADDRESS.iSockaddrLength");
        let sa_ptr = off("offset SOCKET_ADDRESS.lpSockaddr");
        assert_eq!(le_i32(&b, remote + sa_len) as i64, def["size SOCKADDR_IN6"]);
        assert_eq!(le_i32(&b, local + sa_len) as i64, def["size SOCKADDR_IN"]);
        let six = ptr(remote + sa_ptr);
        assert_eq!(
            le_u16(&b, six + off("offset SOCKADDR_IN6.sin6_family")) as i64,
            def["const AF_INET6"]
        );
        let port = six + off("offset SOCKADDR_IN6.sin6_port");
        assert_eq!(b[port..port + 2], 587u16.to_be_bytes());
        assert_eq!(
            le_u32(&b, six + off("offset SOCKADDR_IN6.sin6_flowinfo")),
            0x000a_bcde
        );
        let addr = six + off("offset SOCKADDR_IN6.sin6_addr");
        assert_eq!(b[addr..addr + 2], [0x20, 0x01]);
        assert_eq!(
            le_u32(&b, six + off("offset SOCKADDR_IN6.sin6_scope_id")),
            7
        );
        let first_remote = ptr(csa + off("offset CSADDR_INFO.RemoteAddr") + sa_ptr);
        assert_eq!(
            le_u16(&b, first_remote + off("offset SOCKADDR_IN.sin_family")) as i64,
            def["const AF_INET"]
        );
        let port = first_remote + off("offset SOCKADDR_IN.sin_port");
        assert_eq!(b[port..port + 2], 25u16.to_be_bytes());
        let addr = first_remote + off("offset SOCKADDR_IN.sin_addr");
        assert_eq!(b[addr..addr + 4], [192, 0, 2, 10]);
        // The first entry has no LocalAddr: NULL and 0.
        let first_local = csa + off("offset CSADDR_INFO.LocalAddr");
        assert_eq!(le_u64(&b, first_local + sa_ptr), 0);
        assert_eq!(le_i32(&b, first_local + sa_len), 0);

        let blob = ptr(q("lpBlob"));
        assert_eq!(le_u32(&b, blob + off("offset BLOB.cbSize")), 3);
        let data = ptr(blob + off("offset BLOB.pBlobData"));
        assert_eq!(b[data..data + 3], [1, 2, 3]);
    }

    // ---- malformed results -------------------------------------------------------------------

    /// `full()` relocated to `BASE`, with room after it for planted objects.
    fn valid() -> Vec<u8> {
        let mut b = image_relocated_to(&full(), BASE);
        b.resize(b.len() + 64, 0);
        b
    }

    fn set_u64(b: &mut [u8], at: usize, v: u64) {
        b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    fn set_u32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// The buffer offset a pointer field at `at` points to.
    fn target(b: &[u8], at: usize) -> usize {
        (le_u64(b, at) - BASE) as usize
    }

    /// The `SOCKET_ADDRESS` of entry `i` of `lpcsaBuffer`, `remote` or local.
    fn socket_address_at(b: &[u8], i: usize, remote: bool) -> usize {
        target(b, QS_CSA_BUFFER)
            + i * CSADDR_INFO_SIZE
            + if remote {
                CSADDR_REMOTE_ADDR
            } else {
                CSADDR_LOCAL_ADDR
            }
    }

    #[track_caller]
    fn rejects(b: &[u8], field: &str, problem_has: &str) -> ResultError {
        let e = read_next_ex_result(b, BASE).expect_err("a malformed result");
        assert_eq!(e.field, field, "{e}");
        assert!(e.problem.contains(problem_has), "{e}");
        assert!(
            e.to_string().contains(field),
            "Display names the field: {e}"
        );
        e
    }

    #[test]
    fn a_buffer_shorter_than_the_struct_is_rejected() {
        assert_eq!(
            read_next_ex_result(&[0; 111], BASE)
                .expect_err("too small")
                .field,
            "lpqsResults"
        );
        assert_eq!(
            read_next_ex_result(&[], 0).expect_err("empty").field,
            "lpqsResults"
        );
    }

    #[test]
    fn a_buffer_that_would_wrap_the_address_space_is_rejected() {
        let b = image_relocated_to(&QuerySet::default(), 0);
        let e = read_next_ex_result(&b, u64::MAX - 50).expect_err("wraps");
        assert_eq!(e.field, "lpqsResults");
    }

    #[test]
    fn dw_size_must_be_112() {
        let mut b = valid();
        set_u32(&mut b, QS_DW_SIZE, 120);
        rejects(&b, "dwSize", "is 120");
    }

    #[test]
    fn pointers_outside_the_buffer_name_their_field() {
        let len = valid().len() as u64;
        let cases: &[(usize, u64, &str)] = &[
            (
                QS_SERVICE_INSTANCE_NAME,
                BASE - 2,
                "lpszServiceInstanceName",
            ),
            (QS_VERSION, BASE + len, "lpVersion"),
            (QS_COMMENT, 0x10, "lpszComment"),
            (QS_NS_PROVIDER_ID, u64::MAX, "lpNSProviderId"),
            (QS_CONTEXT, BASE + len + 100, "lpszContext"),
            (QS_AFP_PROTOCOLS, BASE - 8, "lpafpProtocols"),
            (QS_QUERY_STRING, BASE - 1, "lpszQueryString"),
            (QS_CSA_BUFFER, BASE + len, "lpcsaBuffer"),
            (QS_BLOB, 1, "lpBlob"),
        ];
        for &(at, value, field) in cases {
            let mut b = valid();
            set_u64(&mut b, at, value);
            rejects(&b, field, "outside the");
        }
    }

    #[test]
    fn a_sockaddr_pointer_outside_names_the_element() {
        let mut b = valid();
        let sa = socket_address_at(&b, 1, true);
        set_u64(&mut b, sa + SA_LP_SOCKADDR, 0x1234);
        let e = rejects(
            &b,
            "lpcsaBuffer[i].RemoteAddr.lpSockaddr",
            "(i = 1) points outside the",
        );
        assert!(e.to_string().starts_with(
            "malformed NSPv2LookupServiceNextEx result: lpcsaBuffer[i].RemoteAddr.lpSockaddr (i = 1)"
        ));
        let mut b = valid();
        let sa = socket_address_at(&b, 1, false);
        let end = BASE + b.len() as u64;
        set_u64(&mut b, sa + SA_LP_SOCKADDR, end);
        rejects(&b, "lpcsaBuffer[i].LocalAddr.lpSockaddr", "(i = 1)");
        let mut b = valid();
        let blob = target(&b, QS_BLOB);
        set_u64(&mut b, blob + BLOB_DATA, BASE - 100);
        rejects(&b, "lpBlob->pBlobData", "outside the");
    }

    #[test]
    fn an_object_that_starts_inside_but_ends_outside_is_rejected() {
        for (at, size, field) in [
            (QS_VERSION, WSAVERSION_SIZE, "lpVersion"),
            (QS_NS_PROVIDER_ID, GUID_SIZE, "lpNSProviderId"),
            (QS_BLOB, BLOB_SIZE, "lpBlob"),
        ] {
            let mut b = valid();
            let len = b.len() as u64;
            set_u64(&mut b, at, BASE + len - size as u64 + 3);
            rejects(&b, field, "runs 3 bytes past its end");
        }
    }

    #[test]
    fn lengths_and_counts_past_the_end_name_the_length() {
        let mut b = valid();
        let blob = target(&b, QS_BLOB);
        set_u32(&mut b, blob + BLOB_CB_SIZE, 1000);
        rejects(&b, "lpBlob->cbSize", "past its end");

        let mut b = valid();
        let sa = socket_address_at(&b, 0, true);
        set_u32(&mut b, sa + SA_SOCKADDR_LENGTH, 10_000);
        rejects(&b, "lpcsaBuffer[i].RemoteAddr.iSockaddrLength", "(i = 0)");

        let mut b = valid();
        set_u32(&mut b, QS_NUMBER_OF_CS_ADDRS, 1000);
        rejects(&b, "dwNumberOfCsAddrs", "1000 CSADDR_INFO (40000 bytes)");

        let mut b = valid();
        set_u32(&mut b, QS_NUMBER_OF_PROTOCOLS, 100);
        rejects(&b, "dwNumberOfProtocols", "past its end");
    }

    #[test]
    fn a_count_of_four_billion_fails_fast_without_allocating_for_it() {
        for (count, ptr, field) in [
            (QS_NUMBER_OF_CS_ADDRS, QS_CSA_BUFFER, "dwNumberOfCsAddrs"),
            (
                QS_NUMBER_OF_PROTOCOLS,
                QS_AFP_PROTOCOLS,
                "dwNumberOfProtocols",
            ),
        ] {
            let mut b = valid();
            set_u32(&mut b, count, u32::MAX);
            rejects(&b, field, "4294967295");
            // Also with the array at the very last byte and at the top of the address space.
            let last = BASE + b.len() as u64 - 1;
            set_u64(&mut b, ptr, last);
            rejects(&b, field, "4294967295");
            let top = u64::MAX - b.len() as u64;
            let mut relocated = image_relocated_to(&full(), top);
            set_u32(&mut relocated, count, u32::MAX);
            let e = read_next_ex_result(&relocated, top).expect_err("too many");
            assert_eq!(e.field, field);
        }
        let mut b = valid();
        let blob = target(&b, QS_BLOB);
        set_u32(&mut b, blob + BLOB_CB_SIZE, u32::MAX);
        rejects(&b, "lpBlob->cbSize", "4294967295 bytes");
        let mut b = valid();
        let sa = socket_address_at(&b, 1, true);
        set_u32(&mut b, sa + SA_SOCKADDR_LENGTH, i32::MAX as u32);
        rejects(&b, "lpcsaBuffer[i].RemoteAddr.iSockaddrLength", "(i = 1)");
    }

    #[test]
    fn a_string_without_its_terminator_in_the_buffer_is_rejected() {
        let mut b = valid();
        let len = b.len();
        b[len - 7..].fill(b'A'); // three and a half 'A' units, no NUL
        set_u64(&mut b, QS_COMMENT, BASE + len as u64 - 7);
        rejects(&b, "lpszComment", "no NUL terminator");
        set_u64(&mut b, QS_COMMENT, BASE + len as u64 - 1); // one byte: not even one unit
        rejects(&b, "lpszComment", "no NUL terminator");
    }

    #[test]
    fn an_array_count_with_a_null_pointer_is_rejected() {
        let mut b = valid();
        set_u64(&mut b, QS_AFP_PROTOCOLS, 0);
        rejects(&b, "lpafpProtocols", "is NULL but dwNumberOfProtocols is 2");
        let mut b = valid();
        set_u64(&mut b, QS_CSA_BUFFER, 0);
        rejects(&b, "lpcsaBuffer", "is NULL but dwNumberOfCsAddrs is 2");
        let mut b = valid();
        let blob = target(&b, QS_BLOB);
        set_u64(&mut b, blob + BLOB_DATA, 0);
        rejects(&b, "lpBlob->pBlobData", "is NULL but lpBlob->cbSize is 3");
    }

    #[test]
    fn an_empty_array_may_have_a_pointer_but_not_a_stray_one() {
        let mut b = valid();
        set_u32(&mut b, QS_NUMBER_OF_CS_ADDRS, 0);
        set_u32(&mut b, QS_NUMBER_OF_PROTOCOLS, 0);
        let end = BASE + b.len() as u64;
        set_u64(&mut b, QS_AFP_PROTOCOLS, end); // just past the end: 0 bytes
        let got = read_next_ex_result(&b, BASE).expect("empty arrays");
        assert!(got.addresses.is_empty() && got.protocols.is_empty());
        set_u64(&mut b, QS_CSA_BUFFER, 0xdead_beef);
        rejects(&b, "lpcsaBuffer", "outside the");
    }

    #[test]
    fn sockaddr_families_and_lengths_are_checked() {
        let family_at = |b: &[u8], i: usize| target(b, socket_address_at(b, i, true));
        let mut b = valid();
        let sa = family_at(&b, 0);
        b[sa..sa + 2].copy_from_slice(&10u16.to_le_bytes()); // Linux's AF_INET6
        rejects(
            &b,
            "lpcsaBuffer[i].RemoteAddr.lpSockaddr->sa_family",
            "is 10, neither AF_INET (2) nor AF_INET6 (23)",
        );

        // AF_INET6 with an AF_INET-sized length.
        let mut b = valid();
        let len_at = socket_address_at(&b, 1, true) + SA_SOCKADDR_LENGTH;
        set_u32(&mut b, len_at, 16);
        rejects(
            &b,
            "lpcsaBuffer[i].RemoteAddr.iSockaddrLength",
            "(i = 1) is 16, shorter than sizeof(SOCKADDR_IN6) = 28",
        );
        set_u32(&mut b, len_at, 1);
        rejects(
            &b,
            "lpcsaBuffer[i].RemoteAddr.iSockaddrLength",
            "too short to hold sa_family",
        );
        set_u32(&mut b, len_at, -5i32 as u32);
        rejects(
            &b,
            "lpcsaBuffer[i].RemoteAddr.iSockaddrLength",
            "is negative (-5)",
        );

        // A longer length (a SOCKADDR_STORAGE's 128, say) is fine while it fits.
        let mut b = valid();
        let len_at = socket_address_at(&b, 0, true) + SA_SOCKADDR_LENGTH;
        set_u32(&mut b, len_at, 20);
        assert_eq!(read_next_ex_result(&b, BASE), Ok(full()));
    }

    #[test]
    fn a_csaddr_needs_a_remote_address_and_a_null_local_one_has_length_0() {
        let mut b = valid();
        let sa = socket_address_at(&b, 0, true);
        set_u64(&mut b, sa + SA_LP_SOCKADDR, 0);
        set_u32(&mut b, sa + SA_SOCKADDR_LENGTH, 0);
        rejects(
            &b,
            "lpcsaBuffer[i].RemoteAddr.lpSockaddr",
            "(i = 0) is NULL",
        );

        let mut b = valid();
        let sa = socket_address_at(&b, 0, false);
        set_u32(&mut b, sa + SA_SOCKADDR_LENGTH, 16);
        rejects(
            &b,
            "lpcsaBuffer[i].LocalAddr.iSockaddrLength",
            "is 16 but lpSockaddr is NULL",
        );
    }

    #[test]
    fn an_unpaired_surrogate_is_rejected_naming_the_string() {
        for unit in [0xd800u16, 0xdc00] {
            let mut b = valid();
            let name = target(&b, QS_CONTEXT); // "ctx"
            b[name + 2..name + 4].copy_from_slice(&unit.to_le_bytes());
            rejects(&b, "lpszContext", "unpaired UTF-16 surrogate");
        }
        // A high surrogate right before the terminator.
        let mut b = valid();
        let q = target(&b, QS_QUERY_STRING); // "?q=1"
        b[q + 6..q + 8].copy_from_slice(&0xdbffu16.to_le_bytes());
        rejects(&b, "lpszQueryString", "U+DBFF at unit 3");
        // A pair is fine; its low half alone is not (unit 2 of "ctx" → "c", 0xd83d, 0xde00).
        let mut b = valid();
        let ctx = target(&b, QS_CONTEXT);
        b[ctx + 2..ctx + 6].copy_from_slice(&[0x3d, 0xd8, 0x00, 0xde]);
        let got = read_next_ex_result(&b, BASE).expect("a surrogate pair");
        assert_eq!(got.context.as_deref(), Some("c\u{1f600}"));
        b[ctx + 2..ctx + 4].copy_from_slice(&[0x41, 0x00]);
        rejects(&b, "lpszContext", "U+DE00 at unit 2");
    }

    /// The image with one byte inserted after the struct: every object, and so every pointer
    /// the reader follows, is misaligned (as a packing provider such as contoso.c may leave
    /// them). x64 allows it, so the reader must too.
    fn misaligned(qs: &QuerySet, base: u64) -> Vec<u8> {
        let img = query_set_image(qs);
        let mut bytes = img.bytes.clone();
        bytes.insert(WSAQUERYSET2W_SIZE, 0xee);
        for &at in &img.relocs {
            let at = at as usize;
            let at = if at >= WSAQUERYSET2W_SIZE { at + 1 } else { at };
            let value = le_u64(&bytes, at) + 1 + base;
            set_u64(&mut bytes, at, value);
        }
        bytes
    }

    #[test]
    fn misaligned_objects_are_read_byte_wise() {
        for qs in representative() {
            assert_eq!(read_next_ex_result(&misaligned(&qs, BASE), BASE), Ok(qs));
        }
    }

    /// SplitMix64: a fixed, dependency-free stream of test inputs.
    struct SplitMix(u64);

    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Random bytes at random bases, and valid results with random bytes and fields changed:
    /// the reader never panics, and whatever it accepts is a query set that round-trips.
    #[test]
    fn random_and_mutated_buffers_never_panic() {
        let mut rng = SplitMix(0x6e73_7073_696d);
        let seeds = [full(), mock_entry(), QuerySet::default()];
        let mut accepted = 0;
        for round in 0..4000 {
            let base = match rng.below(4) {
                0 => rng.next(),
                1 => u64::MAX - rng.below(4096),
                2 => rng.below(4096),
                _ => BASE,
            };
            let bytes = if round % 2 == 0 {
                let len = rng.below(400) as usize;
                let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                if b.len() >= WSAQUERYSET2W_SIZE && rng.below(2) == 0 {
                    set_u32(&mut b, QS_DW_SIZE, WSAQUERYSET2W_SIZE as u32);
                }
                b
            } else {
                let qs = &seeds[rng.below(seeds.len() as u64) as usize];
                let mut b = image_relocated_to(qs, base);
                let len = b.len() as u64;
                // Zero to three changes, so a fair share of inputs stay valid and the reader's
                // deeper checks (not only the first one) get random values to judge.
                for _ in 0..rng.below(4) {
                    let at = rng.below(len) as usize;
                    match rng.below(3) {
                        0 => b[at] = rng.next() as u8,
                        1 if at + 4 <= b.len() => set_u32(&mut b, at, rng.below(64) as u32),
                        _ if at + 8 <= b.len() => {
                            let near = base.wrapping_add(rng.below(len + 16)).wrapping_sub(8);
                            set_u64(&mut b, at, near);
                        }
                        _ => {}
                    }
                }
                if rng.below(4) == 0 {
                    b.truncate(rng.below(len + 1).max(len - 16) as usize);
                }
                b
            };
            match read_next_ex_result(&bytes, base) {
                Ok(qs) => {
                    accepted += 1;
                    let again = image_relocated_to(&qs, BASE);
                    assert_eq!(read_next_ex_result(&again, BASE), Ok(qs));
                }
                // A rejection's text reaches the trace: no address may be in it (the host's
                // addresses change from run to run), so the provider adapter passes it as is.
                Err(e) if base > 1 << 20 => {
                    let text = e.to_string();
                    assert!(
                        !text.contains(&format!("{base:x}")) && !text.contains(&base.to_string()),
                        "{text}"
                    );
                }
                Err(_) => {}
            }
        }
        println!("{accepted} of 4000 inputs were accepted and round-tripped");
        assert!(accepted > 0, "some mutations leave a valid result");
    }

    // ---- a real C provider's output ----------------------------------------------------------

    /// A one-thread stand-in for the provider host: `contoso.c` itself (included unchanged), the
    /// Winsock and kernel32 functions it calls, and a `main` that relocates a query set image
    /// read from stdin as the host will, passes it to contoso's Begin, and prints what contoso's
    /// NextEx wrote into a 1024-byte client buffer, with the buffer's address.
    const HOST_C: &str = r#"/* A one-thread stand-in for the provider host: contoso.c itself (included, unchanged), the
 * Winsock and kernel32 functions it calls, and a main that passes it a query set image read
 * from stdin, as the host will, and prints what its NextEx wrote. */
#include "contoso.c"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int g_LastError;
static const NSPV2_ROUTINE *g_Table;
static INT g_Completed = -1;

int WSAAPI WSAStartup(WORD v, LPWSADATA d) { ZeroMemory(d, sizeof(*d)); d->wVersion = v; d->wHighVersion = v; return 0; }
int WSAAPI WSACleanup(void) { return 0; }
int WSAAPI WSAGetLastError(void) { return g_LastError; }
void WSAAPI WSASetLastError(int e) { g_LastError = e; }
VOID WINAPI InitializeCriticalSection(LPCRITICAL_SECTION c) { (void)c; }
VOID WINAPI EnterCriticalSection(LPCRITICAL_SECTION c) { (void)c; }
VOID WINAPI LeaveCriticalSection(LPCRITICAL_SECTION c) { (void)c; }
VOID WINAPI DeleteCriticalSection(LPCRITICAL_SECTION c) { (void)c; }
HANDLE WINAPI GetProcessHeap(void) { return (HANDLE)1; }
LPVOID WINAPI HeapAlloc(HANDLE h, DWORD f, SIZE_T n) { (void)h; (void)f; return calloc(1, n); }
BOOL WINAPI HeapFree(HANDLE h, DWORD f, LPVOID p) { (void)h; (void)f; free(p); return TRUE; }
int WINAPI lstrlenW(LPCWSTR s) { int n = 0; while (s[n]) n++; return n; }
static WCHAR Lower(WCHAR c) { return (WCHAR)((c >= 'A' && c <= 'Z') ? c + 32 : c); }
int WINAPI lstrcmpW(LPCWSTR a, LPCWSTR b) { while (*a && *a == *b) { a++; b++; } return (int)*a - (int)*b; }
int WINAPI lstrcmpiW(LPCWSTR a, LPCWSTR b) { while (*a && Lower(*a) == Lower(*b)) { a++; b++; } return (int)Lower(*a) - (int)Lower(*b); }
LPWSTR WINAPI lstrcpynW(LPWSTR d, LPCWSTR s, int n) { int i = 0; for (; i < n - 1 && s[i]; i++) d[i] = s[i]; d[i] = 0; return d; }
BOOL WINAPI QueueUserWorkItem(LPTHREAD_START_ROUTINE f, PVOID c, ULONG fl) { (void)f; (void)c; (void)fl; return FALSE; }
INT WSAAPI WSAAdvertiseProvider(const GUID *id, const LPCNSPV2_ROUTINE r) { (void)id; g_Table = r; return 0; }
INT WSAAPI WSAUnadvertiseProvider(const GUID *id) { (void)id; return 0; }
INT WSAAPI WSAProviderCompleteAsyncCall(HANDLE h, INT code) { (void)h; g_Completed = code; return 0; }

int main(void)
{
    static uint64_t out[128]; /* the client's 1024-byte NextEx buffer, 8-aligned */
    char *argv[] = { "contoso", NULL };
    unsigned n, m, i, byte, reloc;
    uint64_t *store;
    unsigned char *image;
    GUID id = CONTOSO_PROVIDER_ID;
    LPVOID session = NULL;
    HANDLE lookup = NULL;
    DWORD len;

    /* The image and its relocations, as the dispatcher sends them: "N b0 b1 ... M r0 r1 ..." */
    if (scanf("%u", &n) != 1) return 2;
    store = calloc(n / 8 + 1, 8);
    image = (unsigned char *)store;
    for (i = 0; i < n; i++) {
        if (scanf("%x", &byte) != 1) return 2;
        image[i] = (unsigned char)byte;
    }
    if (scanf("%u", &m) != 1) return 2;
    for (i = 0; i < m; i++) {
        uint64_t v;
        if (scanf("%u", &reloc) != 1 || reloc + 8 > n) return 2;
        memcpy(&v, image + reloc, 8);
        v += (uint64_t)(uintptr_t)image;
        memcpy(image + reloc, &v, 8);
    }

    if (ContosoHostMain(1, argv) != 0 || g_Table == NULL) return 3;
    if (g_Table->NSPv2Startup(&id, &session) != NO_ERROR) return 4;
    if (g_Table->NSPv2LookupServiceBegin(&id, (LPWSAQUERYSET2W)image,
                                         LUP_RETURN_NAME | LUP_RETURN_COMMENT | LUP_RETURN_ADDR, session,
                                         &lookup) != NO_ERROR) {
        printf("begin %d\n", WSAGetLastError());
        return 0;
    }
    len = 120;
    g_Table->NSPv2LookupServiceNextEx((HANDLE)1, lookup, 0, &len, (LPWSAQUERYSET2W)out);
    printf("small %d %u\n", g_Completed, (unsigned)len);
    len = sizeof(out);
    g_Table->NSPv2LookupServiceNextEx((HANDLE)2, lookup, 0, &len, (LPWSAQUERYSET2W)out);
    printf("next %d\nbase %llx\nbytes", g_Completed, (unsigned long long)(uintptr_t)out);
    for (i = 0; i < sizeof(out); i++) printf(" %02x", ((unsigned char *)out)[i]);
    printf("\n");
    len = sizeof(out);
    g_Table->NSPv2LookupServiceNextEx((HANDLE)3, lookup, 0, &len, (LPWSAQUERYSET2W)out);
    printf("last %d\n", g_Completed);
    g_Table->NSPv2LookupServiceEnd(lookup);
    g_Table->NSPv2Cleanup(&id, session);
    return 0;
}
"#;

    #[test]
    fn contoso_c_reads_our_image_and_its_result_parses_to_the_mock_s_result() {
        use std::io::Write;
        use std::process::{Command, Stdio};

        if Command::new("cc").arg("--version").output().is_err() {
            println!("skipped: no `cc` on this machine to build the contoso.c round trip");
            return;
        }
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir: PathBuf =
            std::env::temp_dir().join(format!("nspsim-marshal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let src = dir.join("host.c");
        let exe = dir.join("host");
        std::fs::write(&src, HOST_C).expect("write host.c");
        let cc = Command::new("cc")
            .args([
                "-std=c11",
                "-fshort-wchar",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-I",
            ])
            .arg(manifest.join("c/include"))
            .arg("-I")
            .arg(manifest.join("c/examples"))
            .arg(&src)
            .arg("-o")
            .arg(&exe)
            .output()
            .expect("run cc");
        assert!(
            cc.status.success(),
            "cc failed:\n{}",
            String::from_utf8_lossy(&cc.stderr)
        );

        // Begin gets our image of the client's restrictions (contoso matches names
        // case-insensitively, as the mock does).
        let img = query_set_image(&QuerySet::restrictions(Namespace::EMAIL, "BOB@contoso.com"));
        let mut input = format!("{}", img.bytes.len());
        for b in &img.bytes {
            input += &format!(" {b:02x}");
        }
        input += &format!(" {}", img.relocs.len());
        for r in &img.relocs {
            input += &format!(" {r}");
        }
        let mut child = Command::new(&exe)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run the host program");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("feed the image");
        let out = child.wait_with_output().expect("host output");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(out.status.success(), "host exited with {}", out.status);
        let stdout = String::from_utf8(out.stdout).expect("text");
        let line = |key: &str| -> &str {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .unwrap_or_else(|| panic!("no `{key}` line in:\n{stdout}"))
                .trim()
        };

        // S5.5: too small a buffer gives WSAEFAULT and contoso's required size (its own packing).
        assert_eq!(line("small "), "10014 276");
        assert_eq!(line("next "), "0");
        assert_eq!(line("last "), "10110", "WSA_E_NO_MORE after the one entry");
        let base = u64::from_str_radix(line("base "), 16).expect("a hex address");
        let bytes: Vec<u8> = line("bytes")
            .split_whitespace()
            .map(|h| u8::from_str_radix(h, 16).expect("a hex byte"))
            .collect();
        assert_eq!(bytes.len(), 1024);

        let flags = nspsim_core::LupFlags::RETURN_NAME
            | nspsim_core::LupFlags::RETURN_COMMENT
            | nspsim_core::LupFlags::RETURN_ADDR;
        let mock = crate::options::EntryOption {
            name: "bob@contoso.com".into(),
            addrs: vec![v4("192.0.2.11:25"), v4("192.0.2.12:587")],
            comment: Some("Bob Baker".into()),
            blob: None,
        }
        .to_query_set()
        .project(flags);
        assert_eq!(read_next_ex_result(&bytes, base), Ok(mock));
        // Contoso packs without padding: the result fits 276 bytes, while nspsim's packing of
        // the same query set (`wire_size`, 8-aligned parts) needs 280. A result a provider
        // delivered in a buffer must not be judged again by `wire_size`.
        let tight = read_next_ex_result(&bytes[..276], base).expect("fits 276 bytes");
        assert_eq!(tight.wire_size(), 280);
        assert_eq!(
            read_next_ex_result(&bytes[..275], base)
                .expect_err("one byte short")
                .field,
            "lpszComment"
        );
    }
}
