//! LUP_* control flags of WSALookupServiceBegin/Next (docs/semantics.md §11, S5.6).
//!
//! The values are the header's (winsock2.h; the client-side reference pages swap FLUSHCACHE and
//! FLUSHPREVIOUS; §12). Every LUP_ name of the header is accepted except LUP_RESERVED_UNUSED
//! (0x80000), which is not a flag. LUP_SECURE has the same value as LUP_RES_SERVICE (0x8000) in
//! the header: both names parse, and a set is always written with LUP_RES_SERVICE.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign};

/// A set of LUP_* flags.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LupFlags(pub u32);

const NAMES: &[(LupFlags, &str)] = &[
    (LupFlags::DEEP, "LUP_DEEP"),
    (LupFlags::CONTAINERS, "LUP_CONTAINERS"),
    (LupFlags::NOCONTAINERS, "LUP_NOCONTAINERS"),
    (LupFlags::NEAREST, "LUP_NEAREST"),
    (LupFlags::RETURN_NAME, "LUP_RETURN_NAME"),
    (LupFlags::RETURN_TYPE, "LUP_RETURN_TYPE"),
    (LupFlags::RETURN_VERSION, "LUP_RETURN_VERSION"),
    (LupFlags::RETURN_COMMENT, "LUP_RETURN_COMMENT"),
    (LupFlags::RETURN_ADDR, "LUP_RETURN_ADDR"),
    (LupFlags::RETURN_BLOB, "LUP_RETURN_BLOB"),
    (LupFlags::RETURN_ALIASES, "LUP_RETURN_ALIASES"),
    (LupFlags::RETURN_QUERY_STRING, "LUP_RETURN_QUERY_STRING"),
    (LupFlags::FLUSHCACHE, "LUP_FLUSHCACHE"),
    (LupFlags::FLUSHPREVIOUS, "LUP_FLUSHPREVIOUS"),
    (LupFlags::NON_AUTHORITATIVE, "LUP_NON_AUTHORITATIVE"),
    (LupFlags::RES_SERVICE, "LUP_RES_SERVICE"),
    (
        LupFlags::RETURN_PREFERRED_NAMES,
        "LUP_RETURN_PREFERRED_NAMES",
    ),
    (LupFlags::DNS_ONLY, "LUP_DNS_ONLY"),
    (LupFlags::RETURN_RESPONSE_FLAGS, "LUP_RETURN_RESPONSE_FLAGS"),
    (LupFlags::ADDRCONFIG, "LUP_ADDRCONFIG"),
    (LupFlags::DUAL_ADDR, "LUP_DUAL_ADDR"),
    (LupFlags::FILESERVER, "LUP_FILESERVER"),
    (LupFlags::DISABLE_IDN_ENCODING, "LUP_DISABLE_IDN_ENCODING"),
    (LupFlags::API_ANSI, "LUP_API_ANSI"),
    (LupFlags::EXTENDED_QUERYSET, "LUP_EXTENDED_QUERYSET"),
    (LupFlags::SECURE_WITH_FALLBACK, "LUP_SECURE_WITH_FALLBACK"),
    (
        LupFlags::EXCLUSIVE_CUSTOM_SERVERS,
        "LUP_EXCLUSIVE_CUSTOM_SERVERS",
    ),
    (LupFlags::REQUIRE_SECURE, "LUP_REQUIRE_SECURE"),
    (LupFlags::RETURN_TTL, "LUP_RETURN_TTL"),
    (LupFlags::FORCE_CLEAR_TEXT, "LUP_FORCE_CLEAR_TEXT"),
    (LupFlags::RESOLUTION_HANDLE, "LUP_RESOLUTION_HANDLE"),
];

/// Names accepted on input but never written: a second name for a value [`NAMES`] has, or a
/// union of several bits.
const ALIASES: &[(LupFlags, &str)] = &[
    (LupFlags::RETURN_ALL, "LUP_RETURN_ALL"),
    (LupFlags::SECURE, "LUP_SECURE"),
];

impl LupFlags {
    /// No flags.
    pub const EMPTY: LupFlags = LupFlags(0);
    /// `LUP_DEEP` (0x1).
    pub const DEEP: LupFlags = LupFlags(0x1);
    /// `LUP_CONTAINERS` (0x2).
    pub const CONTAINERS: LupFlags = LupFlags(0x2);
    /// `LUP_NOCONTAINERS` (0x4).
    pub const NOCONTAINERS: LupFlags = LupFlags(0x4);
    /// `LUP_NEAREST` (0x8).
    pub const NEAREST: LupFlags = LupFlags(0x8);
    /// `LUP_RETURN_NAME` (0x10).
    pub const RETURN_NAME: LupFlags = LupFlags(0x10);
    /// `LUP_RETURN_TYPE` (0x20).
    pub const RETURN_TYPE: LupFlags = LupFlags(0x20);
    /// `LUP_RETURN_VERSION` (0x40).
    pub const RETURN_VERSION: LupFlags = LupFlags(0x40);
    /// `LUP_RETURN_COMMENT` (0x80).
    pub const RETURN_COMMENT: LupFlags = LupFlags(0x80);
    /// `LUP_RETURN_ADDR` (0x100).
    pub const RETURN_ADDR: LupFlags = LupFlags(0x100);
    /// `LUP_RETURN_BLOB` (0x200).
    pub const RETURN_BLOB: LupFlags = LupFlags(0x200);
    /// `LUP_RETURN_ALIASES` (0x400).
    pub const RETURN_ALIASES: LupFlags = LupFlags(0x400);
    /// `LUP_RETURN_QUERY_STRING` (0x800).
    pub const RETURN_QUERY_STRING: LupFlags = LupFlags(0x800);
    /// `LUP_RETURN_ALL`: every `LUP_RETURN_*` bit of 0xFF0.
    pub const RETURN_ALL: LupFlags = LupFlags(0xFF0);
    /// `LUP_FLUSHCACHE` (0x1000).
    pub const FLUSHCACHE: LupFlags = LupFlags(0x1000);
    /// `LUP_FLUSHPREVIOUS` (0x2000).
    pub const FLUSHPREVIOUS: LupFlags = LupFlags(0x2000);
    /// `LUP_NON_AUTHORITATIVE` (0x4000).
    pub const NON_AUTHORITATIVE: LupFlags = LupFlags(0x4000);
    /// `LUP_RES_SERVICE` (0x8000).
    pub const RES_SERVICE: LupFlags = LupFlags(0x8000);
    /// `LUP_RETURN_PREFERRED_NAMES` (0x10000).
    pub const RETURN_PREFERRED_NAMES: LupFlags = LupFlags(0x10000);
    /// The header gives LUP_SECURE the value of LUP_RES_SERVICE.
    pub const SECURE: LupFlags = LupFlags(0x8000);
    /// `LUP_DNS_ONLY` (0x2_0000).
    pub const DNS_ONLY: LupFlags = LupFlags(0x2_0000);
    /// `LUP_RETURN_RESPONSE_FLAGS` (0x4_0000).
    pub const RETURN_RESPONSE_FLAGS: LupFlags = LupFlags(0x4_0000);
    /// `LUP_ADDRCONFIG` (0x10_0000).
    pub const ADDRCONFIG: LupFlags = LupFlags(0x10_0000);
    /// `LUP_DUAL_ADDR` (0x20_0000).
    pub const DUAL_ADDR: LupFlags = LupFlags(0x20_0000);
    /// `LUP_FILESERVER` (0x40_0000).
    pub const FILESERVER: LupFlags = LupFlags(0x40_0000);
    /// `LUP_DISABLE_IDN_ENCODING` (0x80_0000).
    pub const DISABLE_IDN_ENCODING: LupFlags = LupFlags(0x80_0000);
    /// `LUP_API_ANSI` (0x100_0000).
    pub const API_ANSI: LupFlags = LupFlags(0x100_0000);
    /// `LUP_EXTENDED_QUERYSET` (0x200_0000).
    pub const EXTENDED_QUERYSET: LupFlags = LupFlags(0x200_0000);
    /// `LUP_SECURE_WITH_FALLBACK` (0x400_0000).
    pub const SECURE_WITH_FALLBACK: LupFlags = LupFlags(0x400_0000);
    /// `LUP_EXCLUSIVE_CUSTOM_SERVERS` (0x800_0000).
    pub const EXCLUSIVE_CUSTOM_SERVERS: LupFlags = LupFlags(0x800_0000);
    /// `LUP_REQUIRE_SECURE` (0x1000_0000).
    pub const REQUIRE_SECURE: LupFlags = LupFlags(0x1000_0000);
    /// `LUP_RETURN_TTL` (0x2000_0000).
    pub const RETURN_TTL: LupFlags = LupFlags(0x2000_0000);
    /// `LUP_FORCE_CLEAR_TEXT` (0x4000_0000).
    pub const FORCE_CLEAR_TEXT: LupFlags = LupFlags(0x4000_0000);
    /// `LUP_RESOLUTION_HANDLE` (0x8000_0000).
    pub const RESOLUTION_HANDLE: LupFlags = LupFlags(0x8000_0000);

    /// The raw `DWORD`.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: LupFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any bit of `other` is set.
    pub const fn intersects(self, other: LupFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// One flag by its Windows name; `LUP_RETURN_ALL` and `LUP_SECURE` are accepted too.
    pub fn from_name(name: &str) -> Option<LupFlags> {
        NAMES
            .iter()
            .chain(ALIASES)
            .find(|(_, n)| *n == name)
            .map(|(f, _)| *f)
    }

    /// One name, or a number (decimal or `0x` hex).
    pub fn parse(s: &str) -> Option<LupFlags> {
        if let Some(f) = LupFlags::from_name(s) {
            return Some(f);
        }
        match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(hex) => u32::from_str_radix(hex, 16).ok().map(LupFlags),
            None => s.parse().ok().map(LupFlags),
        }
    }

    /// The union of several names; `Err` carries the first one that is not a flag.
    pub fn from_names<'a, I: IntoIterator<Item = &'a str>>(names: I) -> Result<LupFlags, String> {
        names.into_iter().try_fold(LupFlags::EMPTY, |acc, name| {
            LupFlags::parse(name)
                .map(|f| acc | f)
                .ok_or_else(|| name.to_string())
        })
    }

    /// The names of the single-bit flags set, in bit order.
    pub fn names(self) -> Vec<&'static str> {
        NAMES
            .iter()
            .filter(|(f, _)| self.contains(*f))
            .map(|(_, n)| *n)
            .collect()
    }

    /// Every name [`LupFlags::from_name`] accepts: the single-bit names in bit order, then the
    /// aliases.
    pub fn known_names() -> impl Iterator<Item = &'static str> {
        NAMES.iter().chain(ALIASES).map(|(_, n)| *n)
    }
}

/// S5.6: flags given to Next only narrow Begin's, except FLUSHPREVIOUS and RES_SERVICE, which
/// always apply.
pub fn narrow_for_next(begin: LupFlags, next: LupFlags) -> LupFlags {
    (begin & next) | (next & (LupFlags::FLUSHPREVIOUS | LupFlags::RES_SERVICE))
}

impl BitOr for LupFlags {
    type Output = LupFlags;
    fn bitor(self, rhs: LupFlags) -> LupFlags {
        LupFlags(self.0 | rhs.0)
    }
}

impl BitAnd for LupFlags {
    type Output = LupFlags;
    fn bitand(self, rhs: LupFlags) -> LupFlags {
        LupFlags(self.0 & rhs.0)
    }
}

impl BitOrAssign for LupFlags {
    fn bitor_assign(&mut self, rhs: LupFlags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for LupFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.names();
        let known = names
            .iter()
            .fold(0, |acc, n| acc | LupFlags::from_name(n).map_or(0, |f| f.0));
        let rest = self.0 & !known;
        let mut parts: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        if rest != 0 || parts.is_empty() {
            parts.push(format!("{rest:#x}"));
        }
        f.write_str(&parts.join("|"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_numbers_and_unions() {
        assert_eq!(LupFlags::parse("LUP_RETURN_ADDR"), Some(LupFlags(0x100)));
        assert_eq!(LupFlags::parse("0x2000"), Some(LupFlags::FLUSHPREVIOUS));
        assert_eq!(LupFlags::parse("272"), Some(LupFlags(0x110)));
        assert_eq!(LupFlags::parse("LUP_RETURN_ALL"), Some(LupFlags(0xFF0)));
        assert_eq!(
            LupFlags::from_names(["LUP_RETURN_NAME", "LUP_RETURN_ADDR"]),
            Ok(LupFlags(0x110))
        );
        assert_eq!(
            LupFlags::from_names(["LUP_RETURN_NAME", "LUP_NOPE"]),
            Err("LUP_NOPE".into())
        );
        assert_eq!(
            LupFlags(0x110).names(),
            ["LUP_RETURN_NAME", "LUP_RETURN_ADDR"]
        );
        assert_eq!(
            format!("{:?}", LupFlags(0x110)),
            "LUP_RETURN_NAME|LUP_RETURN_ADDR"
        );
        assert_eq!(format!("{:?}", LupFlags(0x100000)), "LUP_ADDRCONFIG");
    }

    #[test]
    fn every_documented_name_parses_to_the_header_value() {
        // winsock2.h (Windows SDK), checked against mingw-w64's copy.
        let header: &[(&str, u32)] = &[
            ("LUP_DEEP", 0x0001),
            ("LUP_CONTAINERS", 0x0002),
            ("LUP_NOCONTAINERS", 0x0004),
            ("LUP_NEAREST", 0x0008),
            ("LUP_RETURN_NAME", 0x0010),
            ("LUP_RETURN_TYPE", 0x0020),
            ("LUP_RETURN_VERSION", 0x0040),
            ("LUP_RETURN_COMMENT", 0x0080),
            ("LUP_RETURN_ADDR", 0x0100),
            ("LUP_RETURN_BLOB", 0x0200),
            ("LUP_RETURN_ALIASES", 0x0400),
            ("LUP_RETURN_QUERY_STRING", 0x0800),
            ("LUP_RETURN_ALL", 0x0FF0),
            ("LUP_RES_SERVICE", 0x8000),
            ("LUP_FLUSHCACHE", 0x1000),
            ("LUP_FLUSHPREVIOUS", 0x2000),
            ("LUP_NON_AUTHORITATIVE", 0x4000),
            ("LUP_SECURE", 0x8000),
            ("LUP_RETURN_PREFERRED_NAMES", 0x1_0000),
            ("LUP_DNS_ONLY", 0x2_0000),
            ("LUP_RETURN_RESPONSE_FLAGS", 0x4_0000),
            ("LUP_ADDRCONFIG", 0x10_0000),
            ("LUP_DUAL_ADDR", 0x20_0000),
            ("LUP_FILESERVER", 0x40_0000),
            ("LUP_DISABLE_IDN_ENCODING", 0x80_0000),
            ("LUP_API_ANSI", 0x100_0000),
            ("LUP_EXTENDED_QUERYSET", 0x200_0000),
            ("LUP_SECURE_WITH_FALLBACK", 0x400_0000),
            ("LUP_EXCLUSIVE_CUSTOM_SERVERS", 0x800_0000),
            ("LUP_REQUIRE_SECURE", 0x1000_0000),
            ("LUP_RETURN_TTL", 0x2000_0000),
            ("LUP_FORCE_CLEAR_TEXT", 0x4000_0000),
            ("LUP_RESOLUTION_HANDLE", 0x8000_0000),
        ];
        for (name, value) in header {
            assert_eq!(LupFlags::parse(name), Some(LupFlags(*value)), "{name}");
        }
        let known: Vec<_> = LupFlags::known_names().collect();
        assert_eq!(known.len(), header.len(), "{known:?}");
        assert_eq!(LupFlags::parse("LUP_RESERVED_UNUSED"), None);
    }

    #[test]
    fn every_bit_has_one_written_name_and_names_round_trip() {
        // Each single bit is written with one name; aliases are read, never written.
        assert_eq!(LupFlags::SECURE.names(), ["LUP_RES_SERVICE"]);
        assert_eq!(
            LupFlags(0x8000_0000 | 0x10_0000).names(),
            ["LUP_ADDRCONFIG", "LUP_RESOLUTION_HANDLE"]
        );
        let bits: Vec<u32> = NAMES.iter().map(|(f, _)| f.bits()).collect();
        assert!(bits.iter().all(|b| b.count_ones() == 1));
        let mut sorted = bits.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), bits.len(), "no bit has two written names");
        for (f, _) in NAMES {
            let back = LupFlags::from_names(f.names());
            assert_eq!(back, Ok(*f));
        }
        assert_eq!(
            format!("{:?}", LupFlags(0x8_0000)),
            "0x80000",
            "the reserved bit stays a number"
        );
    }

    #[test]
    fn values_follow_the_header_not_the_swapped_pages() {
        assert_eq!(LupFlags::FLUSHCACHE.bits(), 0x1000);
        assert_eq!(LupFlags::FLUSHPREVIOUS.bits(), 0x2000);
    }

    #[test]
    fn s5_6_next_only_narrows_except_flushprevious_and_res_service() {
        let begin = LupFlags::RETURN_NAME | LupFlags::RETURN_ADDR;
        let next = LupFlags::RETURN_NAME
            | LupFlags::RETURN_BLOB
            | LupFlags::FLUSHPREVIOUS
            | LupFlags::RES_SERVICE;
        assert_eq!(
            narrow_for_next(begin, next),
            LupFlags::RETURN_NAME | LupFlags::FLUSHPREVIOUS | LupFlags::RES_SERVICE
        );
        assert_eq!(narrow_for_next(begin, LupFlags::EMPTY), LupFlags::EMPTY);
    }
}
