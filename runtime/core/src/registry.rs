//! The registry of provider kinds a scenario can name (`kind = "…"`).
//!
//! The runtime knows no concrete provider: the `providers` crate fills a [`Registry`] with its
//! kinds, and the scenario parser and the scheduler look kinds up here. Options arrive as JSON
//! (converted from the scenario's `[provider.options]` table) and are validated when the
//! scenario is loaded, so a bad option stops the run before anything starts.
//!
//! A run gets its provider instances through the runtime's `Providers` (nspsim-runtime's
//! `registry` module): straight from the registry, or from a set prepared once per scenario.

use crate::provider::NspV2Provider;
use crate::wsa::Guid;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

/// One documented option of a provider kind (for `nspsim providers` and error messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionDoc {
    /// The key in `[provider.options]`.
    pub name: &'static str,
    /// The value's shape, e.g. `"inline" | "deferred"` or `array of { name, addrs }`.
    pub shape: &'static str,
    /// The value used when the option is absent, as the scenario would write it; `""` for an
    /// option that must be given (listed as required).
    pub default: &'static str,
    /// One line: what the option does.
    pub help: &'static str,
}

/// A provider kind: a name, its documentation, and a factory.
pub trait ProviderKind: Send + Sync {
    /// The kind's name: what a scenario writes in `kind = "…"`.
    fn name(&self) -> &'static str;
    /// One line: what this kind is for.
    fn summary(&self) -> &'static str;
    /// The options the kind takes, documented (`nspsim providers` prints them).
    fn options(&self) -> &'static [OptionDoc];
    /// Checks options without building anything. `Err` says what is wrong, naming the option.
    fn validate(&self, options: &Value) -> Result<(), String>;
    /// Builds a provider instance from validated options.
    fn build(&self, options: &Value) -> Result<Box<dyn NspV2Provider>, String>;

    /// Builds an instance for a live run (`nspsim run --live`), where the instance runs on a
    /// host thread of its own and real time passes: a kind whose provider starts threads (a C
    /// provider's `QueueUserWorkItem`) starts real ones here instead of deferring work to the
    /// scheduler. The default is [`build`](ProviderKind::build).
    fn build_live(&self, options: &Value) -> Result<Box<dyn NspV2Provider>, String> {
        self.build(options)
    }

    /// The options as this installation's instances must see them, or `None` to use them as
    /// written (the default). A kind whose instances need more than their options learns it
    /// here: the provider id the catalog holds (the only GUID its code may advertise, S3.1),
    /// its name, and the directory that relative file names in the options are relative to.
    /// Called before [`prepare`] and [`build`]; a trace embeds the options as written, so it is
    /// the same on every machine.
    ///
    /// [`prepare`]: ProviderKind::prepare
    /// [`build`]: ProviderKind::build
    fn bind(&self, options: &Value, installation: &Installation<'_>) -> Option<Value> {
        let _ = (options, installation);
        None
    }

    /// A factory of instances with these options, for building many: a kind whose options are
    /// costly to parse parses them here, once. Every instance must be what [`build`] would
    /// return. The default keeps the options and calls [`build`] each time.
    ///
    /// [`build`]: ProviderKind::build
    fn prepare(&self, options: &Value) -> Result<Factory<'_>, String> {
        self.validate(options)?;
        let options = options.clone();
        Ok(Box::new(move || self.build(&options)))
    }
}

/// Where a scenario installs a provider of some kind ([`ProviderKind::bind`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Installation<'a> {
    /// The provider id in the catalog.
    pub id: Guid,
    /// The provider's name in the scenario.
    pub name: &'a str,
    /// The directory of the file the scenario came from (a scenario file, or the trace it was
    /// embedded in); `None` for a scenario built in memory, whose relative names are relative
    /// to the working directory.
    pub base_dir: Option<&'a Path>,
}

/// Builds provider instances from options parsed once ([`ProviderKind::prepare`]).
pub type Factory<'a> = Box<dyn Fn() -> Result<Box<dyn NspV2Provider>, String> + Send + Sync + 'a>;

/// The kinds available to scenarios, in registration order. Cloning shares the kinds.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: Vec<Arc<dyn ProviderKind>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a kind; a later kind with the same name replaces the earlier one.
    pub fn register(&mut self, kind: Box<dyn ProviderKind>) {
        self.kinds.retain(|k| k.name() != kind.name());
        self.kinds.push(Arc::from(kind));
    }

    /// The kind registered under `name`.
    pub fn get(&self, name: &str) -> Option<&dyn ProviderKind> {
        self.kinds
            .iter()
            .find(|k| k.name() == name)
            .map(|k| k.as_ref())
    }

    /// Every kind, in registration order.
    pub fn kinds(&self) -> impl Iterator<Item = &dyn ProviderKind> {
        self.kinds.iter().map(|k| k.as_ref())
    }

    /// The kinds, moved out (to wrap them, as live mode does).
    pub fn into_kinds(self) -> Vec<Arc<dyn ProviderKind>> {
        self.kinds
    }

    /// The kinds' names, in registration order.
    pub fn names(&self) -> Vec<&'static str> {
        self.kinds.iter().map(|k| k.name()).collect()
    }
}
