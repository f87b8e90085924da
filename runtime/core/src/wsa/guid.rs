//! GUIDs: provider ids, in the canonical lowercase hyphenated text form traces use.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A GUID, held as its 128-bit value in text order (the first hex digit is the top nibble), so
/// ordering GUIDs orders their text.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Guid(pub u128);

/// A string that is not a GUID.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected a GUID like 6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60, got \"{0}\"")]
pub struct GuidParseError(pub String);

impl Guid {
    /// The all-zero GUID (GUID_NULL).
    pub const NIL: Guid = Guid(0);

    /// A GUID from its 128 bits, written most significant first (`{xxxxxxxx-…}` order).
    pub const fn from_u128(v: u128) -> Guid {
        Guid(v)
    }
}

impl FromStr for Guid {
    type Err = GuidParseError;

    /// `8-4-4-4-12` hex digits, any case, optionally in braces. No allocation: traces parse
    /// one GUID per provider event.
    fn from_str(s: &str) -> Result<Guid, GuidParseError> {
        let err = || GuidParseError(s.to_string());
        let inner = match s.as_bytes() {
            [b'{', .., b'}'] => &s[1..s.len() - 1],
            _ => s,
        };
        let bytes = inner.as_bytes();
        if bytes.len() != 36 {
            return Err(err());
        }
        let mut value: u128 = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if b != b'-' {
                    return Err(err());
                }
                continue;
            }
            let digit = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => return Err(err()),
            };
            value = (value << 4) | u128::from(digit);
        }
        Ok(Guid(value))
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            (v >> 96) as u32,
            (v >> 80) as u16,
            (v >> 64) as u16,
            (v >> 48) as u16,
            v & 0xffff_ffff_ffff
        )
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Guid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Guid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_lowercase_hyphenated() {
        let text = "6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60";
        let g: Guid = text.parse().expect("valid");
        assert_eq!(g.to_string(), text);
        assert_eq!(
            "{6F0E2A57-2F7C-4D8B-9A3E-1C2B3D4E5F60}".parse::<Guid>(),
            Ok(g)
        );
        assert_eq!(
            Guid::NIL.to_string(),
            "00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(Guid(1).to_string(), "00000000-0000-0000-0000-000000000001");
    }

    #[test]
    fn rejects_what_is_not_a_guid() {
        for bad in [
            "",
            "6f0e2a57",
            "6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f6",
            "6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f600",
            "6f0e2a57-2f7c-4d8b-9a3e1c2b-3d4e5f60",
            "6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5fzz",
            "{6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60",
            "+f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60",
        ] {
            let e = bad.parse::<Guid>().expect_err(bad);
            assert!(e.to_string().contains("expected a GUID"), "{e}");
        }
    }

    #[test]
    fn order_is_text_order() {
        let a: Guid = "00000000-0000-0000-0000-00000000000a"
            .parse()
            .expect("valid");
        let b: Guid = "10000000-0000-0000-0000-000000000000"
            .parse()
            .expect("valid");
        assert!(a < b);
        assert_eq!(
            serde_json::to_string(&a).ok(),
            Some("\"00000000-0000-0000-0000-00000000000a\"".into())
        );
    }
}
