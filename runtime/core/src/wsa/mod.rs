//! Winsock values the dispatcher and providers exchange: error codes, namespaces, LUP flags,
//! GUIDs, WSAQUERYSET2 and WSANAMESPACE_INFOEX with their packed sizes, WSASetService's
//! operation (docs/semantics.md §11), and NS_EMAIL authority data with its installation blob
//! (nsemail.h).

pub mod error;
pub mod flags;
pub mod guid;
pub mod namespace;
pub mod napi;
pub mod nsinfo;
pub mod queryset;
pub mod service;

pub use error::{NO_ERROR, SOCKET_ERROR, WsaError};
pub use flags::LupFlags;
pub use guid::{Guid, GuidParseError};
pub use namespace::Namespace;
pub use napi::{Level, Napi};
pub use nsinfo::NsProviderInfo;
pub use queryset::{AfProtocols, CsAddr, QuerySet, WsaVersion, wire};
pub use service::{SetServiceFlags, SetServiceOp};
