//! LUP_* control flags of WSALookupServiceBegin/Next (NSPV2_SEMANTICS.md §11, S5.6).
//!
//! The values are the header's (the client-side reference pages swap FLUSHCACHE and
//! FLUSHPREVIOUS; §12).

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
];

impl LupFlags {
    pub const EMPTY: LupFlags = LupFlags(0);
    pub const DEEP: LupFlags = LupFlags(0x1);
    pub const CONTAINERS: LupFlags = LupFlags(0x2);
    pub const NOCONTAINERS: LupFlags = LupFlags(0x4);
    pub const NEAREST: LupFlags = LupFlags(0x8);
    pub const RETURN_NAME: LupFlags = LupFlags(0x10);
    pub const RETURN_TYPE: LupFlags = LupFlags(0x20);
    pub const RETURN_VERSION: LupFlags = LupFlags(0x40);
    pub const RETURN_COMMENT: LupFlags = LupFlags(0x80);
    pub const RETURN_ADDR: LupFlags = LupFlags(0x100);
    pub const RETURN_BLOB: LupFlags = LupFlags(0x200);
    pub const RETURN_ALIASES: LupFlags = LupFlags(0x400);
    pub const RETURN_QUERY_STRING: LupFlags = LupFlags(0x800);
    pub const RETURN_ALL: LupFlags = LupFlags(0xFF0);
    pub const FLUSHCACHE: LupFlags = LupFlags(0x1000);
    pub const FLUSHPREVIOUS: LupFlags = LupFlags(0x2000);
    pub const NON_AUTHORITATIVE: LupFlags = LupFlags(0x4000);
    pub const RES_SERVICE: LupFlags = LupFlags(0x8000);
    pub const RETURN_PREFERRED_NAMES: LupFlags = LupFlags(0x10000);

    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: LupFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn intersects(self, other: LupFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// One flag by its Windows name; `LUP_RETURN_ALL` is accepted too.
    pub fn from_name(name: &str) -> Option<LupFlags> {
        if name == "LUP_RETURN_ALL" {
            return Some(LupFlags::RETURN_ALL);
        }
        NAMES.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
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

    pub fn known_names() -> impl Iterator<Item = &'static str> {
        NAMES.iter().map(|(_, n)| *n)
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
        assert_eq!(format!("{:?}", LupFlags(0x100000)), "0x100000");
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
