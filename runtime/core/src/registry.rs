//! The registry of provider kinds a scenario can name (`kind = "…"`).
//!
//! `runtime` knows no concrete provider: the `providers` crate fills a [`Registry`] with its
//! kinds, and the scenario parser and the scheduler look kinds up here. Options arrive as JSON
//! (converted from the scenario's `[provider.options]` table) and are validated when the
//! scenario is loaded, so a bad option stops the run before anything starts.
//!
//! A run gets its provider instances through [`Providers`]: straight from the registry (options
//! parsed at every build), or from a [`Prepared`] set whose options were parsed once, which is
//! what exploration uses, since it builds the same providers for every seed.

use crate::provider::NspV2Provider;
use crate::scenario::ProviderSpec;
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

/// Builds provider instances from options parsed once ([`ProviderKind::prepare`]).
pub type Factory<'a> = Box<dyn Fn() -> Result<Box<dyn NspV2Provider>, String> + Send + Sync + 'a>;

/// Where a run gets its provider instances.
pub trait Providers: Sync {
    /// Builds an instance of a scenario's provider; `Err` says why it cannot be built.
    fn build(&self, p: &ProviderSpec) -> Result<Box<dyn NspV2Provider>, String>;
}

impl Providers for Registry {
    fn build(&self, p: &ProviderSpec) -> Result<Box<dyn NspV2Provider>, String> {
        let kind = self
            .get(&p.kind)
            .ok_or_else(|| "no such kind in the registry".to_string())?;
        kind.build(&p.options)
    }
}

/// Factories for a list of provider specs (a scenario's), options parsed once. A spec it was
/// not prepared for is built from the registry, so it serves any scenario, only faster for
/// its own.
pub struct Prepared<'a> {
    registry: &'a Registry,
    factories: Vec<(&'a ProviderSpec, Factory<'a>)>,
}

impl<'a> Prepared<'a> {
    /// Prepares every spec; `Err` names the first that cannot be built.
    pub fn new(registry: &'a Registry, specs: &'a [ProviderSpec]) -> Result<Self, String> {
        let mut factories = Vec::with_capacity(specs.len());
        for p in specs {
            let kind = registry
                .get(&p.kind)
                .ok_or_else(|| format!("{}: no such kind in the registry", p.name))?;
            let factory = kind
                .prepare(&p.options)
                .map_err(|e| format!("{}: {e}", p.name))?;
            factories.push((p, factory));
        }
        Ok(Prepared {
            registry,
            factories,
        })
    }
}

impl Providers for Prepared<'_> {
    fn build(&self, p: &ProviderSpec) -> Result<Box<dyn NspV2Provider>, String> {
        // The whole spec must match, options included; comparing JSON options costs about as
        // much as a short run's dispatcher work, so specs from the very scenario prepared
        // (the common case) are recognised by address first.
        let found = self
            .factories
            .iter()
            .find(|(spec, _)| std::ptr::eq(*spec, p))
            .or_else(|| self.factories.iter().find(|(spec, _)| *spec == p));
        match found {
            Some((_, factory)) => factory(),
            None => self.registry.build(p),
        }
    }
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
