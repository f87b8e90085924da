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
//! `*lpdwBufferLength`, which the caller reads as a plain `DWORD`; nothing in the buffer is
//! meaningful then, so this module must not be called on it.
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
/// - a string holding U+0000: an `LPWSTR` ends at its first NUL, so the string is cut there (a
///   Windows client's string could not hold one either);
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

/// NUL-terminated UTF-16LE, cut at the first U+0000 (an `LPWSTR` ends there).
fn wide(s: &str) -> Vec<u8> {
    let s = s.split('\0').next().unwrap_or_default();
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
                "is a {len}-byte buffer at {base:#x}, which would wrap past the top of the address space"
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
            pointer.fail(format!(
                "points to {ptr:#x}, outside the {}-byte result buffer at {:#x}",
                self.buf.len(),
                self.base
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
        char::decode_utf16(units.take(len))
            .enumerate()
            .map(|(i, c)| {
                c.map_err(|e| {
                    loc.fail(format!(
                        "holds an unpaired UTF-16 surrogate {:#06x} (at or near unit {i}); nspsim rejects it rather than change the text",
                        e.unpaired_surrogate()
                    ))
                })
            })
            .collect::<Result<String, _>>()
            .map(Some)
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
