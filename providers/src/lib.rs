//! Mock NSPv2 providers for nspsim, selectable from a scenario by `kind`.
//!
//! | kind | what it is |
//! |---|---|
//! | `email-directory` | an in-memory NS_EMAIL directory written the way a Windows developer would ([`email_directory`]) |
//! | `minimal` | only the three required entry points; every optional slot null ([`minimal`]) |
//! | `minimal-stubs` | the same, with WSAEOPNOTSUPP stubs in the optional slots |
//! | `faulty` | an `email-directory` that injects faults by option ([`faulty`]) |
//! | `buggy` | an `email-directory` with one real-world ordering bug (`bug = …`) |
//! | `c-library` | your own provider in C, loaded into a host process forked per run ([`c_library`]) |
//!
//! [`registry`] returns a [`Registry`] with every kind, which the scenario loader and the
//! scheduler use; `runtime` itself never names a concrete provider.

pub mod c_library;
pub mod email_directory;
pub mod faulty;
pub mod minimal;
pub mod options;

use email_directory::{Bug, EmailDirectory, EmailOptions, PreparedOptions};
use faulty::{Fault, Faulty, FaultyOptions};
use minimal::{Minimal, MinimalOptions};
use nspsim_core::provider::NspV2Provider;
use nspsim_core::registry::{Factory, OptionDoc, ProviderKind, Registry};
use serde_json::Value;
use std::sync::Arc;

/// Every provider kind of this crate.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Box::new(EmailDirectoryKind));
    r.register(Box::new(MinimalKind { stubs: false }));
    r.register(Box::new(MinimalKind { stubs: true }));
    r.register(Box::new(FaultyKind));
    r.register(Box::new(BuggyKind));
    r.register(Box::new(c_library::CLibraryKind));
    r
}

const ENTRIES: OptionDoc = OptionDoc {
    name: "entries",
    shape: "array of { name, addrs = [\"ip:port\", …], comment, blob }",
    default: "[]",
    help: "the directory's entries (email addresses and their mail hosts)",
};
const DOMAINS: OptionDoc = OptionDoc {
    name: "domains",
    shape: "array of domain names",
    default: "[] (any domain)",
    help: "domains this provider serves; a lookup for another domain fails Begin with WSASERVICE_NOT_FOUND",
};
const AUTHORITY: OptionDoc = OptionDoc {
    name: "authority",
    shape: "\"primary\" | \"secondary\" | \"wildcard\"",
    default: "none",
    help: "NS_EMAIL routing level (same as the scenario's `authority` key); a wildcard serves every domain",
};
const COMPLETION: OptionDoc = OptionDoc {
    name: "completion",
    shape: "\"inline\" | \"deferred\" | \"until-cancelled\"",
    default: "\"inline\"",
    help: "complete NextEx/SetServiceEx inside the call, or later when the scheduler runs the provider's work; \"until-cancelled\" holds every NextEx until NSPv2LookupServiceEnd on its handle or the end of its session completes it with WSA_E_CANCELLED (SetServiceEx completes inline)",
};
const BUG: OptionDoc = OptionDoc {
    name: "bug",
    shape: "\"free-on-first-cleanup\" | \"ignore-rundown\" | \"complete-after-end\" | \"shared-session\"",
    default: "",
    help: "the ordering bug to carry",
};

struct EmailDirectoryKind;

impl ProviderKind for EmailDirectoryKind {
    fn name(&self) -> &'static str {
        "email-directory"
    }
    fn summary(&self) -> &'static str {
        "an in-memory NS_EMAIL directory: refcounted sessions, LUP_RETURN_* projection, WSAEFAULT sizing, the whole S7.2 set-service table"
    }
    fn options(&self) -> &'static [OptionDoc] {
        &[ENTRIES, DOMAINS, AUTHORITY, COMPLETION]
    }
    fn validate(&self, options: &Value) -> Result<(), String> {
        options::parse::<EmailOptions>(self.name(), options)?.validate()
    }
    fn build(&self, options: &Value) -> Result<Box<dyn NspV2Provider>, String> {
        let opts: EmailOptions = options::parse(self.name(), options)?;
        opts.validate()?;
        Ok(Box::new(EmailDirectory::new(opts)))
    }
    fn prepare(&self, options: &Value) -> Result<Factory<'_>, String> {
        let opts: EmailOptions = options::parse(self.name(), options)?;
        opts.validate()?;
        let prepared = Arc::new(PreparedOptions::new(opts));
        Ok(Box::new(move || {
            Ok(Box::new(EmailDirectory::shared(prepared.clone())) as Box<dyn NspV2Provider>)
        }))
    }
}

struct MinimalKind {
    stubs: bool,
}

impl ProviderKind for MinimalKind {
    fn name(&self) -> &'static str {
        if self.stubs {
            "minimal-stubs"
        } else {
            "minimal"
        }
    }
    fn summary(&self) -> &'static str {
        if self.stubs {
            "only the three required entry points, with WSAEOPNOTSUPP stubs in the optional slots"
        } else {
            "only the three required entry points; Startup, Cleanup, SetServiceEx and Rundown left null"
        }
    }
    fn options(&self) -> &'static [OptionDoc] {
        &[ENTRIES]
    }
    fn validate(&self, options: &Value) -> Result<(), String> {
        options::parse::<MinimalOptions>(self.name(), options).map(|_| ())
    }
    fn build(&self, options: &Value) -> Result<Box<dyn NspV2Provider>, String> {
        Ok(Box::new(Minimal::new(
            options::parse(self.name(), options)?,
            self.stubs,
        )))
    }
    fn prepare(&self, options: &Value) -> Result<Factory<'_>, String> {
        let entries = Minimal::entries(&options::parse(self.name(), options)?);
        let stubs = self.stubs;
        Ok(Box::new(move || {
            Ok(Box::new(Minimal::shared(entries.clone(), stubs)) as Box<dyn NspV2Provider>)
        }))
    }
}

/// `buggy` options: `bug`, plus everything `email-directory` takes.
fn buggy_options(options: &Value) -> Result<(Bug, EmailOptions), String> {
    let (bug, rest) = options::split_key("buggy", options, "bug")?;
    let name = bug
        .as_ref()
        .and_then(Value::as_str)
        .ok_or("buggy options: `bug` is required: the name of the bug to carry")?;
    let bug = Bug::from_name(name).ok_or_else(|| {
        let known: Vec<_> = Bug::ALL.iter().map(|b| b.name()).collect();
        format!(
            "buggy options: unknown bug \"{name}\"; expected one of {}",
            known.join(", ")
        )
    })?;
    let opts: EmailOptions = options::parse("buggy", &rest)?;
    opts.validate()?;
    Ok((bug, opts))
}

struct BuggyKind;

impl ProviderKind for BuggyKind {
    fn name(&self) -> &'static str {
        "buggy"
    }
    fn summary(&self) -> &'static str {
        "an email-directory with one real-world ordering bug, for seeing nspsim catch it"
    }
    fn options(&self) -> &'static [OptionDoc] {
        &[BUG, ENTRIES, DOMAINS, AUTHORITY, COMPLETION]
    }
    fn validate(&self, options: &Value) -> Result<(), String> {
        buggy_options(options).map(|_| ())
    }
    fn build(&self, options: &Value) -> Result<Box<dyn NspV2Provider>, String> {
        let (bug, opts) = buggy_options(options)?;
        Ok(Box::new(EmailDirectory::new(opts).with_bug(bug)))
    }
    fn prepare(&self, options: &Value) -> Result<Factory<'_>, String> {
        let (bug, opts) = buggy_options(options)?;
        let prepared = Arc::new(PreparedOptions::new(opts));
        Ok(Box::new(move || {
            Ok(
                Box::new(EmailDirectory::shared(prepared.clone()).with_bug(bug))
                    as Box<dyn NspV2Provider>,
            )
        }))
    }
}

const FAULTS: OptionDoc = OptionDoc {
    name: "faults",
    shape: "array of { fault = \"fail\" | \"panic\" | \"silent-error\" | \"never-complete\" | \"complete-twice\" | \"bad-code\", entry_point, error, on_call }",
    default: "[]",
    help: "faults to inject; entry_point defaults to NSPv2LookupServiceNextEx, on_call to every call",
};

struct FaultyKind;

impl ProviderKind for FaultyKind {
    fn name(&self) -> &'static str {
        "faulty"
    }
    fn summary(&self) -> &'static str {
        "an email-directory that fails, panics, never completes or completes twice on purpose"
    }
    fn options(&self) -> &'static [OptionDoc] {
        &[FAULTS, ENTRIES, DOMAINS, AUTHORITY, COMPLETION]
    }
    fn validate(&self, options: &Value) -> Result<(), String> {
        FaultyOptions::parse(options)?.split().map(|_| ())
    }
    fn build(&self, options: &Value) -> Result<Box<dyn NspV2Provider>, String> {
        let (faults, opts) = FaultyOptions::parse(options)?.split()?;
        Ok(Box::new(Faulty::new(faults, opts)))
    }
    fn prepare(&self, options: &Value) -> Result<Factory<'_>, String> {
        let (faults, opts) = FaultyOptions::parse(options)?.split()?;
        let faults: Arc<[Fault]> = faults.into();
        let prepared = Arc::new(PreparedOptions::new(opts));
        Ok(Box::new(move || {
            Ok(Box::new(Faulty::shared(faults.clone(), prepared.clone()))
                as Box<dyn NspV2Provider>)
        }))
    }
}
