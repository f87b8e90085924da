//! The registry of provider kinds a scenario can name (`kind = "…"`).
//!
//! `runtime` knows no concrete provider: the `providers` crate fills a [`Registry`] with its
//! kinds, and the scenario parser and the scheduler look kinds up here. Options arrive as JSON
//! (converted from the scenario's `[provider.options]` table) and are validated when the
//! scenario is loaded, so a bad option stops the run before anything starts.

use crate::provider::NspV2Provider;
use serde_json::Value;

/// One documented option of a provider kind (for `nspsim providers` and error messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionDoc {
    pub name: &'static str,
    /// The value's shape, e.g. `"inline" | "deferred"` or `array of { name, addrs }`.
    pub shape: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

/// A provider kind: a name, its documentation, and a factory.
pub trait ProviderKind: Send + Sync {
    fn name(&self) -> &'static str;
    /// One line: what this kind is for.
    fn summary(&self) -> &'static str;
    fn options(&self) -> &'static [OptionDoc];
    /// Checks options without building anything. `Err` says what is wrong, naming the option.
    fn validate(&self, options: &Value) -> Result<(), String>;
    /// Builds a provider instance from validated options.
    fn build(&self, options: &Value) -> Result<Box<dyn NspV2Provider>, String>;
}

/// The kinds available to scenarios, in registration order.
#[derive(Default)]
pub struct Registry {
    kinds: Vec<Box<dyn ProviderKind>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a kind; a later kind with the same name replaces the earlier one.
    pub fn register(&mut self, kind: Box<dyn ProviderKind>) {
        self.kinds.retain(|k| k.name() != kind.name());
        self.kinds.push(kind);
    }

    pub fn get(&self, name: &str) -> Option<&dyn ProviderKind> {
        self.kinds
            .iter()
            .find(|k| k.name() == name)
            .map(|k| k.as_ref())
    }

    pub fn kinds(&self) -> impl Iterator<Item = &dyn ProviderKind> {
        self.kinds.iter().map(|k| k.as_ref())
    }

    /// The kinds, moved out (to wrap them, as live mode does).
    pub fn into_kinds(self) -> Vec<Box<dyn ProviderKind>> {
        self.kinds
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.kinds.iter().map(|k| k.name()).collect()
    }
}
