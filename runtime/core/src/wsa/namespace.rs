//! Namespace identifiers (docs/semantics.md §11).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A Winsock namespace (`NS_*`). Any number is representable; the named ones are constants.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Namespace(pub u32);

const NAMES: &[(Namespace, &str)] = &[
    (Namespace::ALL, "NS_ALL"),
    (Namespace::DNS, "NS_DNS"),
    (Namespace::NLA, "NS_NLA"),
    (Namespace::BTH, "NS_BTH"),
    (Namespace::EMAIL, "NS_EMAIL"),
    (Namespace::PNRPNAME, "NS_PNRPNAME"),
    (Namespace::PNRPCLOUD, "NS_PNRPCLOUD"),
];

impl Namespace {
    /// `NS_ALL` (0).
    pub const ALL: Namespace = Namespace(0);
    /// `NS_DNS` (12).
    pub const DNS: Namespace = Namespace(12);
    /// `NS_NLA` (15).
    pub const NLA: Namespace = Namespace(15);
    /// `NS_BTH` (16).
    pub const BTH: Namespace = Namespace(16);
    /// `NS_EMAIL` (37).
    pub const EMAIL: Namespace = Namespace(37);
    /// `NS_PNRPNAME` (38).
    pub const PNRPNAME: Namespace = Namespace(38);
    /// `NS_PNRPCLOUD` (39).
    pub const PNRPCLOUD: Namespace = Namespace(39);

    /// The `NS_*` number.
    pub const fn code(self) -> u32 {
        self.0
    }

    /// The `NS_*` name of a namespace nspsim knows.
    pub fn name(self) -> Option<&'static str> {
        NAMES.iter().find(|(n, _)| *n == self).map(|(_, s)| *s)
    }

    /// The namespace with this `NS_*` name.
    pub fn from_name(name: &str) -> Option<Namespace> {
        NAMES.iter().find(|(_, s)| *s == name).map(|(n, _)| *n)
    }

    /// A Windows name (`NS_EMAIL`) or a decimal number.
    pub fn parse(s: &str) -> Option<Namespace> {
        Namespace::from_name(s).or_else(|| s.parse().ok().map(Namespace))
    }

    /// Every `NS_*` name nspsim knows.
    pub fn known_names() -> impl Iterator<Item = &'static str> {
        NAMES.iter().map(|(_, s)| *s)
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(Namespace::parse("NS_EMAIL"), Some(Namespace(37)));
        assert_eq!(Namespace::parse("12"), Some(Namespace::DNS));
        assert_eq!(Namespace::parse("NS_MAIL"), None);
        assert_eq!(Namespace::EMAIL.to_string(), "NS_EMAIL");
        assert_eq!(Namespace(99).to_string(), "99");
        assert_eq!(Namespace::ALL.code(), 0);
        for name in Namespace::known_names() {
            assert_eq!(Namespace::parse(name).and_then(Namespace::name), Some(name));
        }
    }
}
