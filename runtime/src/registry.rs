//! The registry of provider kinds a scenario can name (`kind = "…"`): the kind types live in
//! `nspsim-core` (re-exported here, at their old paths), and this module adds where a run gets
//! its provider instances.
//!
//! A run gets them through [`Providers`]: straight from the registry (options parsed at every
//! build), or from a [`Prepared`] set whose options were parsed once, which is what exploration
//! uses, since it builds the same providers for every seed.

pub use nspsim_core::registry::*;

use crate::provider::NspV2Provider;
use crate::scenario::ProviderSpec;
use crate::script::RunError;
use serde_json::Value;
use std::borrow::Cow;

/// The spec's options as its kind must see them ([`ProviderKind::bind`]).
fn options_of<'a>(kind: &dyn ProviderKind, p: &'a ProviderSpec) -> Cow<'a, Value> {
    let installation = Installation {
        id: p.id,
        name: &p.name,
        base_dir: p.base_dir.as_deref(),
    };
    match kind.bind(&p.options, &installation) {
        Some(bound) => Cow::Owned(bound),
        None => Cow::Borrowed(&p.options),
    }
}

/// Where a run gets its provider instances.
pub trait Providers: Sync {
    /// Builds an instance of a scenario's provider; `Err` says why it cannot be built.
    fn build(&self, p: &ProviderSpec) -> Result<Box<dyn NspV2Provider>, String>;

    /// The registry the instances come from (what a scenario's kinds are checked against).
    fn registry(&self) -> &Registry;

    /// For many runs of `specs`: factories that parse options once (and start a C provider's
    /// fork server once), when building from `self` would redo that at every build; `None`
    /// when `self` already is such a set, or a spec cannot be prepared (each run then says why).
    fn prepare<'a>(&'a self, specs: &'a [ProviderSpec]) -> Option<Prepared<'a>> {
        let _ = specs;
        None
    }
}

impl Providers for Registry {
    fn build(&self, p: &ProviderSpec) -> Result<Box<dyn NspV2Provider>, String> {
        let kind = self
            .get(&p.kind)
            .ok_or_else(|| "no such kind in the registry".to_string())?;
        kind.build(&options_of(kind, p))
    }

    fn registry(&self) -> &Registry {
        self
    }

    fn prepare<'a>(&'a self, specs: &'a [ProviderSpec]) -> Option<Prepared<'a>> {
        Prepared::new(self, specs).ok()
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
    /// Prepares every spec; `Err` names the first that cannot be built, in the words a run
    /// would use, so a command can say so before it starts printing a run.
    pub fn new(registry: &'a Registry, specs: &'a [ProviderSpec]) -> Result<Self, RunError> {
        let mut factories = Vec::with_capacity(specs.len());
        for p in specs {
            let cannot = |message: String| RunError::Build {
                provider: p.name.clone(),
                kind: p.kind.clone(),
                message,
            };
            let kind = registry
                .get(&p.kind)
                .ok_or_else(|| cannot("no such kind in the registry".to_string()))?;
            let options = options_of(kind, p);
            let factory = kind.prepare(&options).map_err(cannot)?;
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

    fn registry(&self) -> &Registry {
        self.registry
    }
}
