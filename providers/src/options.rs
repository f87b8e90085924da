//! Options shared by the directory-backed kinds: entries and completion mode.
//!
//! Options arrive as JSON (the scenario's `[provider.options]` table). Unknown keys are errors,
//! like everywhere else in a scenario.

use nspsim_core::wsa::{CsAddr, Namespace, QuerySet};
use serde::Deserialize;
use std::net::SocketAddr;

/// One directory entry as a scenario writes it:
/// `{ name = "alice@example.com", addrs = ["192.0.2.10:25"], comment = "…", blob = "…" }`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EntryOption {
    pub name: String,
    #[serde(default)]
    pub addrs: Vec<SocketAddr>,
    #[serde(default)]
    pub comment: Option<String>,
    /// Opaque bytes, given as text (its UTF-8 bytes are the blob).
    #[serde(default)]
    pub blob: Option<String>,
}

impl EntryOption {
    /// The entry as the WSAQUERYSET2 a lookup would return before projection.
    pub fn to_query_set(&self) -> QuerySet {
        QuerySet {
            service_instance_name: Some(self.name.clone()),
            comment: self.comment.clone(),
            namespace: Namespace::EMAIL,
            addresses: self.addrs.iter().copied().map(CsAddr::tcp).collect(),
            blob: self.blob.as_ref().map(|b| b.as_bytes().to_vec()),
            ..QuerySet::default()
        }
    }
}

/// When a provider completes its async calls (S6.3).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CompletionMode {
    /// Inside NextEx / SetServiceEx, as Microsoft's sample does.
    #[default]
    Inline,
    /// Later, when the scheduler runs the provider's deferred work.
    Deferred,
    /// NextEx is held, never answered, until it is cancelled: by NSPv2LookupServiceEnd on its
    /// handle or the end of its session, which complete it with WSA_E_CANCELLED. Makes every
    /// seed exercise cancellation. SetServiceEx completes inline.
    #[serde(rename = "until-cancelled")]
    UntilCancelled,
}

/// Parses a kind's options, turning serde's message into one that names the kind.
pub fn parse<T: for<'de> Deserialize<'de>>(
    kind: &str,
    options: &serde_json::Value,
) -> Result<T, String> {
    let value = if options.is_null() {
        serde_json::Value::Object(serde_json::Map::new())
    } else {
        options.clone()
    };
    serde_json::from_value(value).map_err(|e| format!("{kind} options: {e}"))
}

/// The domain of an email address (`example.com` of `alice@example.com`), lowercased.
pub fn domain_of(name: &str) -> Option<String> {
    name.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase())
}

/// Splits one kind-specific key off an options object, leaving the rest (for kinds that extend
/// another kind's options, like `buggy` and `faulty` extend `email-directory`'s).
pub fn split_key(
    kind: &str,
    options: &serde_json::Value,
    key: &str,
) -> Result<(Option<serde_json::Value>, serde_json::Value), String> {
    match options {
        serde_json::Value::Null => Ok((None, serde_json::Value::Object(serde_json::Map::new()))),
        serde_json::Value::Object(map) => {
            let mut rest = map.clone();
            let taken = rest.remove(key);
            Ok((taken, serde_json::Value::Object(rest)))
        }
        _ => Err(format!("{kind} options: expected a table of options")),
    }
}
