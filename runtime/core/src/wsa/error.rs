//! Winsock error codes (docs/semantics.md §11).
//!
//! [`WsaError`] is any non-zero Winsock code: the named ones are constants, and a provider may
//! still complete a call with a code outside the documented set (P2), which must survive a
//! round trip through the dispatcher and the trace.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::num::NonZeroU32;

/// No error.
pub const NO_ERROR: u32 = 0;
/// The failure return of Winsock functions that return `int` (S1.4).
pub const SOCKET_ERROR: i32 = -1;

/// A non-zero Winsock error code.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WsaError(NonZeroU32);

const fn code(n: u32) -> WsaError {
    match NonZeroU32::new(n) {
        Some(n) => WsaError(n),
        None => panic!("a Winsock error code is never 0"),
    }
}

/// Every named code with its Windows name, ascending.
const NAMES: &[(WsaError, &str)] = &[
    (WsaError::INVALID_HANDLE, "WSA_INVALID_HANDLE"),
    (WsaError::NOT_ENOUGH_MEMORY, "WSA_NOT_ENOUGH_MEMORY"),
    (WsaError::INVALID_PARAMETER, "WSA_INVALID_PARAMETER"),
    (WsaError::EACCES, "WSAEACCES"),
    (WsaError::EFAULT, "WSAEFAULT"),
    (WsaError::EINVAL, "WSAEINVAL"),
    (WsaError::EINPROGRESS, "WSAEINPROGRESS"),
    (WsaError::EOPNOTSUPP, "WSAEOPNOTSUPP"),
    (WsaError::SYSNOTREADY, "WSASYSNOTREADY"),
    (WsaError::VERNOTSUPPORTED, "WSAVERNOTSUPPORTED"),
    (WsaError::NOTINITIALISED, "WSANOTINITIALISED"),
    (WsaError::ENOMORE, "WSAENOMORE"),
    (WsaError::ECANCELLED, "WSAECANCELLED"),
    (WsaError::EINVALIDPROCTABLE, "WSAEINVALIDPROCTABLE"),
    (WsaError::EINVALIDPROVIDER, "WSAEINVALIDPROVIDER"),
    (WsaError::EPROVIDERFAILEDINIT, "WSAEPROVIDERFAILEDINIT"),
    (WsaError::SYSCALLFAILURE, "WSASYSCALLFAILURE"),
    (WsaError::SERVICE_NOT_FOUND, "WSASERVICE_NOT_FOUND"),
    (WsaError::TYPE_NOT_FOUND, "WSATYPE_NOT_FOUND"),
    (WsaError::E_NO_MORE, "WSA_E_NO_MORE"),
    (WsaError::E_CANCELLED, "WSA_E_CANCELLED"),
    (WsaError::HOST_NOT_FOUND, "WSAHOST_NOT_FOUND"),
    (WsaError::NO_RECOVERY, "WSANO_RECOVERY"),
    (WsaError::NO_DATA, "WSANO_DATA"),
];

impl WsaError {
    /// `WSA_INVALID_HANDLE` (6).
    pub const INVALID_HANDLE: WsaError = code(6);
    /// `WSA_NOT_ENOUGH_MEMORY` (8).
    pub const NOT_ENOUGH_MEMORY: WsaError = code(8);
    /// `WSA_INVALID_PARAMETER` (87).
    pub const INVALID_PARAMETER: WsaError = code(87);
    /// `WSAEACCES` (10013).
    pub const EACCES: WsaError = code(10013);
    /// `WSAEFAULT` (10014).
    pub const EFAULT: WsaError = code(10014);
    /// `WSAEINVAL` (10022).
    pub const EINVAL: WsaError = code(10022);
    /// A blocking call is in progress on this thread.
    pub const EINPROGRESS: WsaError = code(10036);
    /// `WSAEOPNOTSUPP` (10045).
    pub const EOPNOTSUPP: WsaError = code(10045);
    /// `WSASYSNOTREADY` (10091).
    pub const SYSNOTREADY: WsaError = code(10091);
    /// `WSAVERNOTSUPPORTED` (10092).
    pub const VERNOTSUPPORTED: WsaError = code(10092);
    /// `WSANOTINITIALISED` (10093).
    pub const NOTINITIALISED: WsaError = code(10093);
    /// `WSAENOMORE` (10102).
    pub const ENOMORE: WsaError = code(10102);
    /// `WSAECANCELLED` (10103).
    pub const ECANCELLED: WsaError = code(10103);
    /// `WSAEINVALIDPROCTABLE` (10104).
    pub const EINVALIDPROCTABLE: WsaError = code(10104);
    /// `WSAEINVALIDPROVIDER` (10105).
    pub const EINVALIDPROVIDER: WsaError = code(10105);
    /// `WSAEPROVIDERFAILEDINIT` (10106).
    pub const EPROVIDERFAILEDINIT: WsaError = code(10106);
    /// `WSASYSCALLFAILURE` (10107).
    pub const SYSCALLFAILURE: WsaError = code(10107);
    /// `WSASERVICE_NOT_FOUND` (10108).
    pub const SERVICE_NOT_FOUND: WsaError = code(10108);
    /// `WSATYPE_NOT_FOUND` (10109).
    pub const TYPE_NOT_FOUND: WsaError = code(10109);
    /// `WSA_E_NO_MORE` (10110).
    pub const E_NO_MORE: WsaError = code(10110);
    /// `WSA_E_CANCELLED` (10111).
    pub const E_CANCELLED: WsaError = code(10111);
    /// `WSAHOST_NOT_FOUND` (11001).
    pub const HOST_NOT_FOUND: WsaError = code(11001);
    /// `WSANO_RECOVERY` (11003).
    pub const NO_RECOVERY: WsaError = code(11003);
    /// `WSANO_DATA` (11004).
    pub const NO_DATA: WsaError = code(11004);

    /// The Winsock number.
    pub const fn code(self) -> u32 {
        self.0.get()
    }

    /// `None` for 0 (no error); any other code is an error, named or not.
    pub const fn from_code(code: u32) -> Option<WsaError> {
        match NonZeroU32::new(code) {
            Some(n) => Some(WsaError(n)),
            None => None,
        }
    }

    /// The Windows name, for the codes §11 names.
    pub fn name(self) -> Option<&'static str> {
        NAMES.iter().find(|(e, _)| *e == self).map(|(_, n)| *n)
    }

    /// A Windows name, exactly as spelled (`WSAEINVAL`, `WSA_E_NO_MORE`).
    pub fn from_name(name: &str) -> Option<WsaError> {
        NAMES.iter().find(|(_, n)| *n == name).map(|(e, _)| *e)
    }

    /// A Windows name or a decimal number ≥ 1.
    pub fn parse(s: &str) -> Option<WsaError> {
        WsaError::from_name(s).or_else(|| s.parse::<u32>().ok().and_then(WsaError::from_code))
    }

    /// Every named code, ascending.
    pub fn known() -> impl Iterator<Item = WsaError> {
        NAMES.iter().map(|(e, _)| *e)
    }

    /// Every Windows name, in code order (for "expected one of" messages).
    pub fn known_names() -> impl Iterator<Item = &'static str> {
        NAMES.iter().map(|(_, n)| *n)
    }
}

/// The code of a result: 0 for success.
pub fn code_of(r: Result<(), WsaError>) -> u32 {
    r.err().map_or(NO_ERROR, WsaError::code)
}

impl fmt::Display for WsaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.code()),
            None => write!(f, "error {}", self.code()),
        }
    }
}

impl fmt::Debug for WsaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for WsaError {}

impl Serialize for WsaError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.code())
    }
}

impl<'de> Deserialize<'de> for WsaError {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u32::deserialize(d)?;
        WsaError::from_code(n)
            .ok_or_else(|| serde::de::Error::custom("a Winsock error code is never 0"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_windows_constant_and_number() {
        assert_eq!(WsaError::EINVAL.to_string(), "WSAEINVAL (10022)");
        assert_eq!(WsaError::E_NO_MORE.to_string(), "WSA_E_NO_MORE (10110)");
        assert_eq!(
            WsaError::INVALID_HANDLE.to_string(),
            "WSA_INVALID_HANDLE (6)"
        );
        assert_eq!(
            WsaError::from_code(12345).map(|e| e.to_string()),
            Some("error 12345".into())
        );
    }

    #[test]
    fn codes_match_section_11() {
        let expected = [
            (6, "WSA_INVALID_HANDLE"),
            (8, "WSA_NOT_ENOUGH_MEMORY"),
            (87, "WSA_INVALID_PARAMETER"),
            (10013, "WSAEACCES"),
            (10014, "WSAEFAULT"),
            (10022, "WSAEINVAL"),
            (10045, "WSAEOPNOTSUPP"),
            (10091, "WSASYSNOTREADY"),
            (10092, "WSAVERNOTSUPPORTED"),
            (10093, "WSANOTINITIALISED"),
            (10102, "WSAENOMORE"),
            (10103, "WSAECANCELLED"),
            (10104, "WSAEINVALIDPROCTABLE"),
            (10105, "WSAEINVALIDPROVIDER"),
            (10106, "WSAEPROVIDERFAILEDINIT"),
            (10107, "WSASYSCALLFAILURE"),
            (10108, "WSASERVICE_NOT_FOUND"),
            (10109, "WSATYPE_NOT_FOUND"),
            (10110, "WSA_E_NO_MORE"),
            (10111, "WSA_E_CANCELLED"),
            (11001, "WSAHOST_NOT_FOUND"),
            (11003, "WSANO_RECOVERY"),
            (11004, "WSANO_DATA"),
        ];
        for (code, name) in expected {
            let e = WsaError::from_name(name).expect(name);
            assert_eq!(e.code(), code, "{name}");
            assert_eq!(e.name(), Some(name));
        }
        let known: Vec<u32> = WsaError::known().map(WsaError::code).collect();
        let mut sorted = known.clone();
        sorted.sort_unstable();
        assert_eq!(known, sorted, "NAMES stays in code order");
    }

    #[test]
    fn parse_accepts_names_and_numbers_but_not_zero() {
        assert_eq!(WsaError::parse("WSANO_DATA"), Some(WsaError::NO_DATA));
        assert_eq!(WsaError::parse("10022"), Some(WsaError::EINVAL));
        assert_eq!(WsaError::parse("99999").map(WsaError::code), Some(99999));
        assert_eq!(WsaError::parse("0"), None);
        assert_eq!(WsaError::parse("wsaeinval"), None);
        assert_eq!(WsaError::parse(""), None);
        assert_eq!(WsaError::from_code(0), None);
        assert_eq!(code_of(Ok(())), 0);
        assert_eq!(code_of(Err(WsaError::EFAULT)), 10014);
    }

    #[test]
    fn serde_is_the_bare_number() {
        assert_eq!(
            serde_json::to_string(&WsaError::EFAULT).ok(),
            Some("10014".into())
        );
        assert_eq!(
            serde_json::from_str::<WsaError>("11004").ok(),
            Some(WsaError::NO_DATA)
        );
        assert!(serde_json::from_str::<WsaError>("0").is_err());
    }
}
