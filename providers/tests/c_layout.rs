//! Layout proof for nspsim's own C headers (`providers/c/include`, issue #12).
//!
//! Three independent sources must agree on every entry of `providers/c/layout/layout.def`:
//! - nspsim's headers, through `layout_probe.c` (compiled here with the host `cc`): its
//!   `_Static_assert`s check each literal at compile time and its output is parsed below;
//! - `windows-sys` (generated from Windows' own metadata): every entry is compared with
//!   `size_of`/`offset_of!`/the constant of the same name;
//! - mingw-w64's Windows headers, through `mingw_check.c` (compiled with
//!   `x86_64-w64-mingw32-gcc -fsyntax-only`; skipped when the cross compiler is absent unless
//!   `CI` is set).
//!
//! Then the example provider `providers/c/examples/contoso.c` must build warning-free as a
//! shared object against our headers and as an object file against mingw-w64's.

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::mem::{offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use windows_sys::Win32::Foundation as foundation;
use windows_sys::Win32::Networking::WinSock as ws;
use windows_sys::Win32::Security as security;
use windows_sys::Win32::System::Com as com;
use windows_sys::Win32::System::Memory as memory;
use windows_sys::Win32::System::Threading as threading;

const MINGW_CC: &str = "x86_64-w64-mingw32-gcc";

fn c_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("c")
}

fn include_dir() -> PathBuf {
    c_dir().join("include")
}

fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("c_layout")
        .join(name);
    std::fs::create_dir_all(&dir).expect("create the test's output directory");
    dir
}

/// Runs a compiler (or the probe) and fails the test with its stderr if it does not succeed.
fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    assert!(
        out.status.success(),
        "{shown} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The host compiler with the flags every nspsim C provider is built with.
fn host_cc() -> Command {
    let mut cmd = Command::new("cc");
    cmd.args([
        "-std=c11",
        "-fshort-wchar",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-I",
    ]);
    cmd.arg(include_dir());
    cmd
}

/// The mingw-w64 cross compiler, or `None` (with a message) when it is absent and `CI` is
/// unset. Under CI its absence is a failure: `.ci/run` installs it.
fn mingw_cc() -> Option<Command> {
    let found = Command::new(MINGW_CC)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(Command::new(MINGW_CC));
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but {MINGW_CC} is missing (Debian: apt-get install gcc-mingw-w64-x86-64; .ci/run does this)"
    );
    println!(
        "skipped: {MINGW_CC} not found; install gcc-mingw-w64-x86-64 to check against mingw-w64's headers"
    );
    None
}

/// What windows-sys says for every entry of layout.def, keyed as layout_probe.c prints them.
fn windows_sys_values() -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    macro_rules! size {
        ($m:ident, $c:ident => $t:ty) => {
            $m.insert(
                concat!("size ", stringify!($c)).to_string(),
                size_of::<$t>() as i64,
            )
        };
    }
    macro_rules! field {
        ($m:ident, $c:ident . $cf:ident => $t:ty, $rf:ident) => {
            $m.insert(
                concat!("offset ", stringify!($c), ".", stringify!($cf)).to_string(),
                offset_of!($t, $rf) as i64,
            )
        };
    }
    macro_rules! konst {
        ($m:ident, $c:ident => $e:expr) => {
            $m.insert(concat!("const ", stringify!($c)).to_string(), $e as i64)
        };
    }
    // Scalar types (Windows is LLP64).
    // windows-sys maps these typedefs to Rust primitives of the documented widths (Microsoft's
    // "Windows Data Types" page: LONG, ULONG, DWORD, INT, BOOL 32-bit; WCHAR 16-bit; the
    // *_PTR types pointer-sized).
    size!(m, CHAR => i8);
    size!(m, UCHAR => u8);
    size!(m, BYTE => u8);
    size!(m, BOOLEAN => u8);
    size!(m, SHORT => i16);
    size!(m, USHORT => u16);
    size!(m, WORD => u16);
    size!(m, WCHAR => u16);
    size!(m, ADDRESS_FAMILY => ws::ADDRESS_FAMILY);
    size!(m, INT => i32);
    size!(m, UINT => u32);
    size!(m, LONG => i32);
    size!(m, ULONG => u32);
    size!(m, DWORD => u32);
    size!(m, BOOL => windows_sys::core::BOOL);
    size!(m, WSAESETSERVICEOP => ws::WSAESETSERVICEOP);
    size!(m, WSAECOMPARATOR => ws::WSAECOMPARATOR);
    size!(m, LONGLONG => i64);
    size!(m, ULONGLONG => u64);
    size!(m, INT_PTR => isize);
    size!(m, UINT_PTR => usize);
    size!(m, LONG_PTR => isize);
    size!(m, ULONG_PTR => usize);
    size!(m, DWORD_PTR => usize);
    size!(m, SIZE_T => usize);
    size!(m, HANDLE => foundation::HANDLE);
    size!(m, LPVOID => *mut c_void);
    size!(m, SOCKET => ws::SOCKET);
    size!(m, LPWSTR => windows_sys::core::PWSTR);
    // Structures.
    size!(m, GUID => windows_sys::core::GUID);
    field!(m, GUID.Data1 => windows_sys::core::GUID, data1);
    field!(m, GUID.Data2 => windows_sys::core::GUID, data2);
    field!(m, GUID.Data3 => windows_sys::core::GUID, data3);
    field!(m, GUID.Data4 => windows_sys::core::GUID, data4);
    size!(m, BLOB => com::BLOB);
    field!(m, BLOB.cbSize => com::BLOB, cbSize);
    field!(m, BLOB.pBlobData => com::BLOB, pBlobData);
    size!(m, IN_ADDR => ws::IN_ADDR);
    field!(m, IN_ADDR.S_un => ws::IN_ADDR, S_un);
    size!(m, IN6_ADDR => ws::IN6_ADDR);
    field!(m, IN6_ADDR.u => ws::IN6_ADDR, u);
    size!(m, SOCKADDR => ws::SOCKADDR);
    field!(m, SOCKADDR.sa_family => ws::SOCKADDR, sa_family);
    field!(m, SOCKADDR.sa_data => ws::SOCKADDR, sa_data);
    size!(m, SOCKADDR_IN => ws::SOCKADDR_IN);
    field!(m, SOCKADDR_IN.sin_family => ws::SOCKADDR_IN, sin_family);
    field!(m, SOCKADDR_IN.sin_port => ws::SOCKADDR_IN, sin_port);
    field!(m, SOCKADDR_IN.sin_addr => ws::SOCKADDR_IN, sin_addr);
    field!(m, SOCKADDR_IN.sin_zero => ws::SOCKADDR_IN, sin_zero);
    size!(m, SCOPE_ID => ws::SCOPE_ID);
    size!(m, SOCKADDR_IN6 => ws::SOCKADDR_IN6);
    field!(m, SOCKADDR_IN6.sin6_family => ws::SOCKADDR_IN6, sin6_family);
    field!(m, SOCKADDR_IN6.sin6_port => ws::SOCKADDR_IN6, sin6_port);
    field!(m, SOCKADDR_IN6.sin6_flowinfo => ws::SOCKADDR_IN6, sin6_flowinfo);
    field!(m, SOCKADDR_IN6.sin6_addr => ws::SOCKADDR_IN6, sin6_addr);
    field!(m, SOCKADDR_IN6.sin6_scope_id => ws::SOCKADDR_IN6, Anonymous);
    field!(m, SOCKADDR_IN6.sin6_scope_struct => ws::SOCKADDR_IN6, Anonymous);
    size!(m, SOCKADDR_STORAGE => ws::SOCKADDR_STORAGE);
    field!(m, SOCKADDR_STORAGE.ss_family => ws::SOCKADDR_STORAGE, ss_family);
    field!(m, SOCKADDR_STORAGE.__ss_pad1 => ws::SOCKADDR_STORAGE, __ss_pad1);
    field!(m, SOCKADDR_STORAGE.__ss_align => ws::SOCKADDR_STORAGE, __ss_align);
    field!(m, SOCKADDR_STORAGE.__ss_pad2 => ws::SOCKADDR_STORAGE, __ss_pad2);
    size!(m, SOCKET_ADDRESS => ws::SOCKET_ADDRESS);
    field!(m, SOCKET_ADDRESS.lpSockaddr => ws::SOCKET_ADDRESS, lpSockaddr);
    field!(m, SOCKET_ADDRESS.iSockaddrLength => ws::SOCKET_ADDRESS, iSockaddrLength);
    size!(m, CSADDR_INFO => ws::CSADDR_INFO);
    field!(m, CSADDR_INFO.LocalAddr => ws::CSADDR_INFO, LocalAddr);
    field!(m, CSADDR_INFO.RemoteAddr => ws::CSADDR_INFO, RemoteAddr);
    field!(m, CSADDR_INFO.iSocketType => ws::CSADDR_INFO, iSocketType);
    field!(m, CSADDR_INFO.iProtocol => ws::CSADDR_INFO, iProtocol);
    size!(m, AFPROTOCOLS => ws::AFPROTOCOLS);
    field!(m, AFPROTOCOLS.iAddressFamily => ws::AFPROTOCOLS, iAddressFamily);
    field!(m, AFPROTOCOLS.iProtocol => ws::AFPROTOCOLS, iProtocol);
    size!(m, WSAVERSION => ws::WSAVERSION);
    field!(m, WSAVERSION.dwVersion => ws::WSAVERSION, dwVersion);
    field!(m, WSAVERSION.ecHow => ws::WSAVERSION, ecHow);
    size!(m, WSAQUERYSET2W => ws::WSAQUERYSET2W);
    field!(m, WSAQUERYSET2W.dwSize => ws::WSAQUERYSET2W, dwSize);
    field!(m, WSAQUERYSET2W.lpszServiceInstanceName => ws::WSAQUERYSET2W, lpszServiceInstanceName);
    field!(m, WSAQUERYSET2W.lpVersion => ws::WSAQUERYSET2W, lpVersion);
    field!(m, WSAQUERYSET2W.lpszComment => ws::WSAQUERYSET2W, lpszComment);
    field!(m, WSAQUERYSET2W.dwNameSpace => ws::WSAQUERYSET2W, dwNameSpace);
    field!(m, WSAQUERYSET2W.lpNSProviderId => ws::WSAQUERYSET2W, lpNSProviderId);
    field!(m, WSAQUERYSET2W.lpszContext => ws::WSAQUERYSET2W, lpszContext);
    field!(m, WSAQUERYSET2W.dwNumberOfProtocols => ws::WSAQUERYSET2W, dwNumberOfProtocols);
    field!(m, WSAQUERYSET2W.lpafpProtocols => ws::WSAQUERYSET2W, lpafpProtocols);
    field!(m, WSAQUERYSET2W.lpszQueryString => ws::WSAQUERYSET2W, lpszQueryString);
    field!(m, WSAQUERYSET2W.dwNumberOfCsAddrs => ws::WSAQUERYSET2W, dwNumberOfCsAddrs);
    field!(m, WSAQUERYSET2W.lpcsaBuffer => ws::WSAQUERYSET2W, lpcsaBuffer);
    field!(m, WSAQUERYSET2W.dwOutputFlags => ws::WSAQUERYSET2W, dwOutputFlags);
    field!(m, WSAQUERYSET2W.lpBlob => ws::WSAQUERYSET2W, lpBlob);
    size!(m, WSADATA => ws::WSADATA);
    field!(m, WSADATA.wVersion => ws::WSADATA, wVersion);
    field!(m, WSADATA.wHighVersion => ws::WSADATA, wHighVersion);
    field!(m, WSADATA.iMaxSockets => ws::WSADATA, iMaxSockets);
    field!(m, WSADATA.iMaxUdpDg => ws::WSADATA, iMaxUdpDg);
    field!(m, WSADATA.lpVendorInfo => ws::WSADATA, lpVendorInfo);
    field!(m, WSADATA.szDescription => ws::WSADATA, szDescription);
    field!(m, WSADATA.szSystemStatus => ws::WSADATA, szSystemStatus);
    size!(m, NSPV2_ROUTINE => ws::NSPV2_ROUTINE);
    field!(m, NSPV2_ROUTINE.cbSize => ws::NSPV2_ROUTINE, cbSize);
    field!(m, NSPV2_ROUTINE.dwMajorVersion => ws::NSPV2_ROUTINE, dwMajorVersion);
    field!(m, NSPV2_ROUTINE.dwMinorVersion => ws::NSPV2_ROUTINE, dwMinorVersion);
    field!(m, NSPV2_ROUTINE.NSPv2Startup => ws::NSPV2_ROUTINE, NSPv2Startup);
    field!(m, NSPV2_ROUTINE.NSPv2Cleanup => ws::NSPV2_ROUTINE, NSPv2Cleanup);
    field!(m, NSPV2_ROUTINE.NSPv2LookupServiceBegin => ws::NSPV2_ROUTINE, NSPv2LookupServiceBegin);
    field!(m, NSPV2_ROUTINE.NSPv2LookupServiceNextEx => ws::NSPV2_ROUTINE, NSPv2LookupServiceNextEx);
    field!(m, NSPV2_ROUTINE.NSPv2LookupServiceEnd => ws::NSPV2_ROUTINE, NSPv2LookupServiceEnd);
    field!(m, NSPV2_ROUTINE.NSPv2SetServiceEx => ws::NSPV2_ROUTINE, NSPv2SetServiceEx);
    field!(m, NSPV2_ROUTINE.NSPv2ClientSessionRundown => ws::NSPV2_ROUTINE, NSPv2ClientSessionRundown);
    size!(m, SECURITY_ATTRIBUTES => security::SECURITY_ATTRIBUTES);
    field!(m, SECURITY_ATTRIBUTES.nLength => security::SECURITY_ATTRIBUTES, nLength);
    field!(m, SECURITY_ATTRIBUTES.lpSecurityDescriptor => security::SECURITY_ATTRIBUTES, lpSecurityDescriptor);
    field!(m, SECURITY_ATTRIBUTES.bInheritHandle => security::SECURITY_ATTRIBUTES, bInheritHandle);
    // Constants.
    konst!(m, NO_ERROR => foundation::NO_ERROR);
    konst!(m, SOCKET_ERROR => ws::SOCKET_ERROR);
    konst!(m, INVALID_SOCKET => ws::INVALID_SOCKET);
    konst!(m, AF_UNSPEC => ws::AF_UNSPEC);
    konst!(m, AF_INET => ws::AF_INET);
    konst!(m, AF_INET6 => ws::AF_INET6);
    konst!(m, SOCK_STREAM => ws::SOCK_STREAM);
    konst!(m, SOCK_DGRAM => ws::SOCK_DGRAM);
    konst!(m, IPPROTO_TCP => ws::IPPROTO_TCP);
    konst!(m, IPPROTO_UDP => ws::IPPROTO_UDP);
    konst!(m, WSADESCRIPTION_LEN => ws::WSADESCRIPTION_LEN);
    konst!(m, WSASYS_STATUS_LEN => ws::WSASYS_STATUS_LEN);
    konst!(m, RNRSERVICE_REGISTER => ws::RNRSERVICE_REGISTER);
    konst!(m, RNRSERVICE_DEREGISTER => ws::RNRSERVICE_DEREGISTER);
    konst!(m, RNRSERVICE_DELETE => ws::RNRSERVICE_DELETE);
    konst!(m, COMP_EQUAL => ws::COMP_EQUAL);
    konst!(m, COMP_NOTLESS => ws::COMP_NOTLESS);
    konst!(m, SERVICE_MULTIPLE => ws::SERVICE_MULTIPLE);
    konst!(m, NS_ALL => ws::NS_ALL);
    konst!(m, NS_SAP => ws::NS_SAP);
    konst!(m, NS_NDS => ws::NS_NDS);
    konst!(m, NS_PEER_BROWSE => ws::NS_PEER_BROWSE);
    konst!(m, NS_SLP => ws::NS_SLP);
    konst!(m, NS_DHCP => ws::NS_DHCP);
    konst!(m, NS_TCPIP_LOCAL => ws::NS_TCPIP_LOCAL);
    konst!(m, NS_TCPIP_HOSTS => ws::NS_TCPIP_HOSTS);
    konst!(m, NS_DNS => ws::NS_DNS);
    konst!(m, NS_NETBT => ws::NS_NETBT);
    konst!(m, NS_WINS => ws::NS_WINS);
    konst!(m, NS_NLA => ws::NS_NLA);
    // NS_BTH, NS_PNRPNAME and NS_PNRPCLOUD live in windows-sys features this test does not
    // enable (Devices_Bluetooth, NetworkManagement_P2P): compared with the documented values
    // (docs/semantics.md §11, Microsoft's WSAQUERYSET page).
    konst!(m, NS_BTH => 16);
    konst!(m, NS_LOCALNAME => ws::NS_LOCALNAME);
    konst!(m, NS_NBP => ws::NS_NBP);
    konst!(m, NS_MS => ws::NS_MS);
    konst!(m, NS_STDA => ws::NS_STDA);
    konst!(m, NS_NTDS => ws::NS_NTDS);
    konst!(m, NS_EMAIL => ws::NS_EMAIL);
    konst!(m, NS_PNRPNAME => 38);
    konst!(m, NS_PNRPCLOUD => 39);
    konst!(m, NS_X500 => ws::NS_X500);
    konst!(m, NS_NIS => ws::NS_NIS);
    konst!(m, NS_NISPLUS => ws::NS_NISPLUS);
    konst!(m, NS_WRQ => ws::NS_WRQ);
    konst!(m, NS_NETDES => ws::NS_NETDES);
    konst!(m, LUP_DEEP => ws::LUP_DEEP);
    konst!(m, LUP_CONTAINERS => ws::LUP_CONTAINERS);
    konst!(m, LUP_NOCONTAINERS => ws::LUP_NOCONTAINERS);
    konst!(m, LUP_NEAREST => ws::LUP_NEAREST);
    konst!(m, LUP_RETURN_NAME => ws::LUP_RETURN_NAME);
    konst!(m, LUP_RETURN_TYPE => ws::LUP_RETURN_TYPE);
    konst!(m, LUP_RETURN_VERSION => ws::LUP_RETURN_VERSION);
    konst!(m, LUP_RETURN_COMMENT => ws::LUP_RETURN_COMMENT);
    konst!(m, LUP_RETURN_ADDR => ws::LUP_RETURN_ADDR);
    konst!(m, LUP_RETURN_BLOB => ws::LUP_RETURN_BLOB);
    konst!(m, LUP_RETURN_ALIASES => ws::LUP_RETURN_ALIASES);
    konst!(m, LUP_RETURN_QUERY_STRING => ws::LUP_RETURN_QUERY_STRING);
    konst!(m, LUP_RETURN_ALL => ws::LUP_RETURN_ALL);
    konst!(m, LUP_FLUSHCACHE => ws::LUP_FLUSHCACHE);
    konst!(m, LUP_FLUSHPREVIOUS => ws::LUP_FLUSHPREVIOUS);
    konst!(m, LUP_NON_AUTHORITATIVE => ws::LUP_NON_AUTHORITATIVE);
    konst!(m, LUP_RES_SERVICE => ws::LUP_RES_SERVICE);
    konst!(m, LUP_SECURE => ws::LUP_SECURE);
    konst!(m, LUP_RETURN_PREFERRED_NAMES => ws::LUP_RETURN_PREFERRED_NAMES);
    konst!(m, LUP_DNS_ONLY => ws::LUP_DNS_ONLY);
    konst!(m, LUP_RETURN_RESPONSE_FLAGS => ws::LUP_RETURN_RESPONSE_FLAGS);
    konst!(m, LUP_ADDRCONFIG => ws::LUP_ADDRCONFIG);
    konst!(m, LUP_DUAL_ADDR => ws::LUP_DUAL_ADDR);
    konst!(m, LUP_FILESERVER => ws::LUP_FILESERVER);
    konst!(m, LUP_DISABLE_IDN_ENCODING => ws::LUP_DISABLE_IDN_ENCODING);
    konst!(m, LUP_API_ANSI => ws::LUP_API_ANSI);
    konst!(m, LUP_RESOLUTION_HANDLE => ws::LUP_RESOLUTION_HANDLE);
    konst!(m, RES_UNUSED_1 => ws::RES_UNUSED_1);
    konst!(m, RES_FLUSH_CACHE => ws::RES_FLUSH_CACHE);
    konst!(m, RES_SERVICE => ws::RES_SERVICE);
    konst!(m, RES_SOFT_SEARCH => ws::RES_SOFT_SEARCH);
    konst!(m, RES_FIND_MULTIPLE => ws::RES_FIND_MULTIPLE);
    konst!(m, RESULT_IS_ALIAS => ws::RESULT_IS_ALIAS);
    konst!(m, RESULT_IS_ADDED => ws::RESULT_IS_ADDED);
    konst!(m, RESULT_IS_CHANGED => ws::RESULT_IS_CHANGED);
    konst!(m, RESULT_IS_DELETED => ws::RESULT_IS_DELETED);
    konst!(m, HEAP_ZERO_MEMORY => memory::HEAP_ZERO_MEMORY);
    konst!(m, LMEM_FIXED => memory::LMEM_FIXED);
    konst!(m, LMEM_ZEROINIT => memory::LMEM_ZEROINIT);
    konst!(m, LPTR => memory::LPTR);
    konst!(m, WT_EXECUTEDEFAULT => threading::WT_EXECUTEDEFAULT);
    // Error codes.
    konst!(m, WSA_INVALID_HANDLE => ws::WSA_INVALID_HANDLE);
    konst!(m, WSA_NOT_ENOUGH_MEMORY => ws::WSA_NOT_ENOUGH_MEMORY);
    konst!(m, WSA_INVALID_PARAMETER => ws::WSA_INVALID_PARAMETER);
    konst!(m, WSA_OPERATION_ABORTED => ws::WSA_OPERATION_ABORTED);
    konst!(m, WSA_IO_INCOMPLETE => ws::WSA_IO_INCOMPLETE);
    konst!(m, WSA_IO_PENDING => ws::WSA_IO_PENDING);
    konst!(m, WSABASEERR => ws::WSABASEERR);
    konst!(m, WSAEINTR => ws::WSAEINTR);
    konst!(m, WSAEBADF => ws::WSAEBADF);
    konst!(m, WSAEACCES => ws::WSAEACCES);
    konst!(m, WSAEFAULT => ws::WSAEFAULT);
    konst!(m, WSAEINVAL => ws::WSAEINVAL);
    konst!(m, WSAEMFILE => ws::WSAEMFILE);
    konst!(m, WSAEWOULDBLOCK => ws::WSAEWOULDBLOCK);
    konst!(m, WSAEINPROGRESS => ws::WSAEINPROGRESS);
    konst!(m, WSAEALREADY => ws::WSAEALREADY);
    konst!(m, WSAENOTSOCK => ws::WSAENOTSOCK);
    konst!(m, WSAEDESTADDRREQ => ws::WSAEDESTADDRREQ);
    konst!(m, WSAEMSGSIZE => ws::WSAEMSGSIZE);
    konst!(m, WSAEPROTOTYPE => ws::WSAEPROTOTYPE);
    konst!(m, WSAENOPROTOOPT => ws::WSAENOPROTOOPT);
    konst!(m, WSAEPROTONOSUPPORT => ws::WSAEPROTONOSUPPORT);
    konst!(m, WSAESOCKTNOSUPPORT => ws::WSAESOCKTNOSUPPORT);
    konst!(m, WSAEOPNOTSUPP => ws::WSAEOPNOTSUPP);
    konst!(m, WSAEPFNOSUPPORT => ws::WSAEPFNOSUPPORT);
    konst!(m, WSAEAFNOSUPPORT => ws::WSAEAFNOSUPPORT);
    konst!(m, WSAEADDRINUSE => ws::WSAEADDRINUSE);
    konst!(m, WSAEADDRNOTAVAIL => ws::WSAEADDRNOTAVAIL);
    konst!(m, WSAENETDOWN => ws::WSAENETDOWN);
    konst!(m, WSAENETUNREACH => ws::WSAENETUNREACH);
    konst!(m, WSAENETRESET => ws::WSAENETRESET);
    konst!(m, WSAECONNABORTED => ws::WSAECONNABORTED);
    konst!(m, WSAECONNRESET => ws::WSAECONNRESET);
    konst!(m, WSAENOBUFS => ws::WSAENOBUFS);
    konst!(m, WSAEISCONN => ws::WSAEISCONN);
    konst!(m, WSAENOTCONN => ws::WSAENOTCONN);
    konst!(m, WSAESHUTDOWN => ws::WSAESHUTDOWN);
    konst!(m, WSAETOOMANYREFS => ws::WSAETOOMANYREFS);
    konst!(m, WSAETIMEDOUT => ws::WSAETIMEDOUT);
    konst!(m, WSAECONNREFUSED => ws::WSAECONNREFUSED);
    konst!(m, WSAELOOP => ws::WSAELOOP);
    konst!(m, WSAENAMETOOLONG => ws::WSAENAMETOOLONG);
    konst!(m, WSAEHOSTDOWN => ws::WSAEHOSTDOWN);
    konst!(m, WSAEHOSTUNREACH => ws::WSAEHOSTUNREACH);
    konst!(m, WSAENOTEMPTY => ws::WSAENOTEMPTY);
    konst!(m, WSAEPROCLIM => ws::WSAEPROCLIM);
    konst!(m, WSAEUSERS => ws::WSAEUSERS);
    konst!(m, WSAEDQUOT => ws::WSAEDQUOT);
    konst!(m, WSAESTALE => ws::WSAESTALE);
    konst!(m, WSAEREMOTE => ws::WSAEREMOTE);
    konst!(m, WSASYSNOTREADY => ws::WSASYSNOTREADY);
    konst!(m, WSAVERNOTSUPPORTED => ws::WSAVERNOTSUPPORTED);
    konst!(m, WSANOTINITIALISED => ws::WSANOTINITIALISED);
    konst!(m, WSAEDISCON => ws::WSAEDISCON);
    konst!(m, WSAENOMORE => ws::WSAENOMORE);
    konst!(m, WSAECANCELLED => ws::WSAECANCELLED);
    konst!(m, WSAEINVALIDPROCTABLE => ws::WSAEINVALIDPROCTABLE);
    konst!(m, WSAEINVALIDPROVIDER => ws::WSAEINVALIDPROVIDER);
    konst!(m, WSAEPROVIDERFAILEDINIT => ws::WSAEPROVIDERFAILEDINIT);
    konst!(m, WSASYSCALLFAILURE => ws::WSASYSCALLFAILURE);
    konst!(m, WSASERVICE_NOT_FOUND => ws::WSASERVICE_NOT_FOUND);
    konst!(m, WSATYPE_NOT_FOUND => ws::WSATYPE_NOT_FOUND);
    konst!(m, WSA_E_NO_MORE => ws::WSA_E_NO_MORE);
    konst!(m, WSA_E_CANCELLED => ws::WSA_E_CANCELLED);
    konst!(m, WSAEREFUSED => ws::WSAEREFUSED);
    konst!(m, WSAHOST_NOT_FOUND => ws::WSAHOST_NOT_FOUND);
    konst!(m, WSATRY_AGAIN => ws::WSATRY_AGAIN);
    konst!(m, WSANO_RECOVERY => ws::WSANO_RECOVERY);
    konst!(m, WSANO_DATA => ws::WSANO_DATA);
    konst!(m, WSA_QOS_RECEIVERS => ws::WSA_QOS_RECEIVERS);
    konst!(m, WSA_QOS_SENDERS => ws::WSA_QOS_SENDERS);
    konst!(m, WSA_QOS_NO_SENDERS => ws::WSA_QOS_NO_SENDERS);
    konst!(m, WSA_QOS_NO_RECEIVERS => ws::WSA_QOS_NO_RECEIVERS);
    konst!(m, WSA_QOS_REQUEST_CONFIRMED => ws::WSA_QOS_REQUEST_CONFIRMED);
    konst!(m, WSA_QOS_ADMISSION_FAILURE => ws::WSA_QOS_ADMISSION_FAILURE);
    konst!(m, WSA_QOS_POLICY_FAILURE => ws::WSA_QOS_POLICY_FAILURE);
    konst!(m, WSA_QOS_BAD_STYLE => ws::WSA_QOS_BAD_STYLE);
    konst!(m, WSA_QOS_BAD_OBJECT => ws::WSA_QOS_BAD_OBJECT);
    konst!(m, WSA_QOS_TRAFFIC_CTRL_ERROR => ws::WSA_QOS_TRAFFIC_CTRL_ERROR);
    konst!(m, WSA_QOS_GENERIC_ERROR => ws::WSA_QOS_GENERIC_ERROR);
    konst!(m, WSA_QOS_ESERVICETYPE => ws::WSA_QOS_ESERVICETYPE);
    konst!(m, WSA_QOS_EFLOWSPEC => ws::WSA_QOS_EFLOWSPEC);
    konst!(m, WSA_QOS_EPROVSPECBUF => ws::WSA_QOS_EPROVSPECBUF);
    konst!(m, WSA_QOS_EFILTERSTYLE => ws::WSA_QOS_EFILTERSTYLE);
    konst!(m, WSA_QOS_EFILTERTYPE => ws::WSA_QOS_EFILTERTYPE);
    konst!(m, WSA_QOS_EFILTERCOUNT => ws::WSA_QOS_EFILTERCOUNT);
    konst!(m, WSA_QOS_EOBJLENGTH => ws::WSA_QOS_EOBJLENGTH);
    konst!(m, WSA_QOS_EFLOWCOUNT => ws::WSA_QOS_EFLOWCOUNT);
    konst!(m, WSA_QOS_EUNKOWNPSOBJ => ws::WSA_QOS_EUNKOWNPSOBJ);
    konst!(m, WSA_QOS_EPOLICYOBJ => ws::WSA_QOS_EPOLICYOBJ);
    konst!(m, WSA_QOS_EFLOWDESC => ws::WSA_QOS_EFLOWDESC);
    konst!(m, WSA_QOS_EPSFLOWSPEC => ws::WSA_QOS_EPSFLOWSPEC);
    konst!(m, WSA_QOS_EPSFILTERSPEC => ws::WSA_QOS_EPSFILTERSPEC);
    konst!(m, WSA_QOS_ESDMODEOBJ => ws::WSA_QOS_ESDMODEOBJ);
    konst!(m, WSA_QOS_ESHAPERATEOBJ => ws::WSA_QOS_ESHAPERATEOBJ);
    konst!(m, WSA_QOS_RESERVED_PETYPE => ws::WSA_QOS_RESERVED_PETYPE);
    konst!(m, WSA_SECURE_HOST_NOT_FOUND => ws::WSA_SECURE_HOST_NOT_FOUND);
    konst!(m, WSA_IPSEC_NAME_POLICY_ERROR => ws::WSA_IPSEC_NAME_POLICY_ERROR);
    m
}

/// Parses layout_probe's output: key → (value under our headers, literal in layout.def).
fn parse_probe(stdout: &str) -> BTreeMap<String, (i64, i64)> {
    let mut probed = BTreeMap::new();
    for line in stdout.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(parts.len(), 4, "unexpected probe line {line:?}");
        let actual: i64 = parts[2].parse().expect("probe value");
        let expected: i64 = parts[3].parse().expect("layout.def value");
        let key = format!("{} {}", parts[0], parts[1]);
        assert!(
            probed.insert(key, (actual, expected)).is_none(),
            "duplicate entry {line:?}"
        );
    }
    probed
}

#[test]
fn our_headers_match_windows_sys() {
    let dir = out_dir("probe");
    let exe = dir.join("layout_probe");
    run(host_cc()
        .arg("-I")
        .arg(c_dir().join("layout"))
        .arg(c_dir().join("layout/layout_probe.c"))
        .arg("-o")
        .arg(&exe));
    let out = run(&mut Command::new(&exe));
    let probed = parse_probe(&String::from_utf8_lossy(&out.stdout));
    let reference = windows_sys_values();

    let only_probed: Vec<_> = probed
        .keys()
        .filter(|k| !reference.contains_key(*k))
        .collect();
    let only_reference: Vec<_> = reference
        .keys()
        .filter(|k| !probed.contains_key(*k))
        .collect();
    assert!(
        only_probed.is_empty() && only_reference.is_empty(),
        "layout.def and this test's windows-sys table list different entries: \
         only in layout.def {only_probed:?}, only here {only_reference:?}"
    );

    let mut mismatches = Vec::new();
    for (key, &(ours, literal)) in &probed {
        let windows = reference[key];
        if ours != literal || ours != windows {
            mismatches.push(format!(
                "{key}: our headers {ours}, layout.def {literal}, windows-sys {windows}"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "layout mismatches:\n{}",
        mismatches.join("\n")
    );

    let count = |p: &str| probed.keys().filter(|k| k.starts_with(p)).count();
    println!(
        "compared {} sizes, {} field offsets and {} constants with windows-sys",
        count("size "),
        count("offset "),
        count("const ")
    );
    // The two tables the emulator depends on, spelled out (docs/semantics.md S1.1).
    assert_eq!(probed["size NSPV2_ROUTINE"].0, 72);
    assert_eq!(probed["size WSAQUERYSET2W"].0, 112);
}

#[test]
fn mingw_headers_agree_with_layout_def() {
    let Some(mut cc) = mingw_cc() else { return };
    run(cc
        .args([
            "-std=c11",
            "-fsyntax-only",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-I",
        ])
        .arg(c_dir().join("layout"))
        .arg(c_dir().join("layout/mingw_check.c")));
}

/// Our headers coexist with the C library's stdio/stdlib/string, work from C++ (`extern "C"`,
/// no clash with libstdc++), and CRITICAL_SECTION can hold this host's pthread mutex.
#[test]
fn headers_work_beside_libc_and_from_cxx() {
    let dir = out_dir("coexist");
    let src = dir.join("coexist.c");
    std::fs::write(
        &src,
        r#"#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>
#include <winsock2.h>
#include <ws2tcpip.h>
#include <ws2spi.h>
#include <pthread.h>
#ifdef __cplusplus
#include <string>
#include <vector>
#define NSPSIM_ALIGNOF(t) alignof(t)
#else
#define NSPSIM_ALIGNOF(t) _Alignof(t)
#endif
NSPSIM_STATIC_ASSERT(sizeof(CRITICAL_SECTION) >= sizeof(pthread_mutex_t), "CRITICAL_SECTION too small");
NSPSIM_STATIC_ASSERT(NSPSIM_ALIGNOF(CRITICAL_SECTION) >= NSPSIM_ALIGNOF(pthread_mutex_t), "CRITICAL_SECTION under-aligned");
NSPSIM_STATIC_ASSERT(sizeof(L"ab") == 6, "L literals are UTF-16");
NSPSIM_STATIC_ASSERT(MAKEWORD(2, 2) == 0x0202 && LOBYTE(0x0102) == 2 && HIBYTE(0x0102) == 1, "MAKEWORD");
static LONG volatile counter;
int probe(void) {
    LONG v = InterlockedIncrement(&counter);
    v += InterlockedCompareExchange(&counter, 5, 1);
    v += InterlockedExchange(&counter, 0) + InterlockedDecrement(&counter);
    return (int)v + (int)htons(1) + (int)ntohl(htonl(7u)) + (int)ntohs(1);
}
"#,
    )
    .expect("write coexist.c");
    run(host_cc().args(["-pedantic", "-fsyntax-only"]).arg(&src));
    let mut cxx = Command::new("c++");
    cxx.args([
        "-std=c++17",
        "-fshort-wchar",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-fsyntax-only",
        "-x",
        "c++",
        "-I",
    ])
    .arg(include_dir())
    .arg(&src);
    run(&mut cxx);
}

#[test]
fn contoso_builds_as_a_shared_object() {
    let dir = out_dir("contoso");
    let lib = dir.join(if cfg!(target_os = "macos") {
        "libcontoso.dylib"
    } else {
        "libcontoso.so"
    });
    let mut cc = host_cc();
    if cfg!(target_os = "macos") {
        cc.args(["-dynamiclib", "-undefined", "dynamic_lookup"]);
    } else {
        cc.args(["-shared", "-fPIC"]);
    }
    run(cc
        .arg(c_dir().join("examples/contoso.c"))
        .arg("-o")
        .arg(&lib));
    assert!(lib.is_file(), "{} was not written", lib.display());
}

#[test]
fn contoso_is_genuine_windows_code() {
    let Some(mut cc) = mingw_cc() else { return };
    let obj = out_dir("contoso-mingw").join("contoso.obj");
    run(cc
        .args(["-std=c11", "-c", "-Wall", "-Wextra", "-Werror"])
        .arg(c_dir().join("examples/contoso.c"))
        .arg("-o")
        .arg(&obj));
}
