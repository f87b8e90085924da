//! WSASetService's operation (WSAESETSERVICEOP) and control flags (S7.2).

use serde::{Deserialize, Serialize};

/// WSAESETSERVICEOP.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SetServiceOp {
    /// RNRSERVICE_REGISTER: create or overwrite (with SERVICE_MULTIPLE: add addresses).
    Register = 0,
    /// RNRSERVICE_DEREGISTER: remove addresses, keep the entry.
    Deregister = 1,
    /// RNRSERVICE_DELETE: remove the entry (with SERVICE_MULTIPLE: only the given addresses).
    Delete = 2,
}

impl SetServiceOp {
    /// Every operation, in `RNRSERVICE_*` order.
    pub const ALL: [SetServiceOp; 3] = [
        SetServiceOp::Register,
        SetServiceOp::Deregister,
        SetServiceOp::Delete,
    ];

    /// The `RNRSERVICE_*` number.
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The operation with this `RNRSERVICE_*` number.
    pub fn from_code(code: u32) -> Option<SetServiceOp> {
        SetServiceOp::ALL.into_iter().find(|op| op.code() == code)
    }

    /// The Windows name.
    pub const fn name(self) -> &'static str {
        match self {
            SetServiceOp::Register => "RNRSERVICE_REGISTER",
            SetServiceOp::Deregister => "RNRSERVICE_DEREGISTER",
            SetServiceOp::Delete => "RNRSERVICE_DELETE",
        }
    }

    /// The scenario spelling.
    pub const fn action(self) -> &'static str {
        match self {
            SetServiceOp::Register => "register",
            SetServiceOp::Deregister => "deregister",
            SetServiceOp::Delete => "delete",
        }
    }

    /// "register" / "deregister" / "delete", a RNRSERVICE_* name, or the number.
    pub fn parse(s: &str) -> Option<SetServiceOp> {
        SetServiceOp::ALL
            .into_iter()
            .find(|op| op.action() == s || op.name() == s)
            .or_else(|| s.parse().ok().and_then(SetServiceOp::from_code))
    }
}

/// WSASetService's control flags.
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, Default, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct SetServiceFlags(pub u32);

impl SetServiceFlags {
    /// No flags.
    pub const EMPTY: SetServiceFlags = SetServiceFlags(0);
    /// `SERVICE_MULTIPLE`: the addresses given are a subset to add or remove.
    pub const SERVICE_MULTIPLE: SetServiceFlags = SetServiceFlags(0x1);

    /// Whether SERVICE_MULTIPLE is set.
    pub const fn multiple(self) -> bool {
        self.0 & SetServiceFlags::SERVICE_MULTIPLE.0 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s7_2_operation_codes_and_spellings() {
        assert_eq!(
            SetServiceOp::parse("register"),
            Some(SetServiceOp::Register)
        );
        assert_eq!(
            SetServiceOp::parse("RNRSERVICE_DELETE"),
            Some(SetServiceOp::Delete)
        );
        assert_eq!(SetServiceOp::parse("1"), Some(SetServiceOp::Deregister));
        assert_eq!(SetServiceOp::parse("3"), None);
        assert_eq!(SetServiceOp::Delete.code(), 2);
        assert!(SetServiceFlags::SERVICE_MULTIPLE.multiple());
        assert!(!SetServiceFlags::EMPTY.multiple());
    }
}
