//! Performing a scenario's steps against the dispatcher, one call at a time. The simulated
//! world and the live driver both run scripts through here, so a step means the same calls,
//! in the same order, in both modes.
//!
//! `sleep` and `expect` are the driver's business (time, and the previous outcome), and so is
//! when a step runs; this module only makes the calls.

use crate::catalog::CatalogEntry;
use crate::dispatcher::{ApiError, Dispatcher, LookupHandle};
use crate::event::{EventSink, ExitHow, Pid, Role, Tid};
use crate::provider::NspV2Provider;
use crate::registry::Providers;
use crate::scenario::{NextCount, ProviderSpec, Scenario, Step, Target};
use crate::wsa::{CsAddr, Guid, LupFlags, Namespace, QuerySet, SetServiceFlags, WsaError};
use std::collections::BTreeMap;
use std::task::Poll;

/// What a step returned, for `expect`: its integer return and error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub ret: i64,
    pub err: Option<WsaError>,
}

impl Outcome {
    pub const OK: Outcome = Outcome { ret: 0, err: None };

    pub fn of<T>(r: &Result<T, ApiError>) -> Outcome {
        match r {
            Ok(_) => Outcome::OK,
            Err(e) => Outcome::failed(e.code),
        }
    }

    pub fn of_wsa<T>(r: &Result<T, WsaError>) -> Outcome {
        match r {
            Ok(_) => Outcome::OK,
            Err(e) => Outcome::failed(*e),
        }
    }

    pub fn failed(e: WsaError) -> Outcome {
        Outcome {
            ret: -1,
            err: Some(e),
        }
    }

    /// WSAStartup returns its error code itself (S4.1).
    fn with_code_ret(self) -> Outcome {
        match self.err {
            Some(e) => Outcome {
                ret: i64::from(e.code()),
                err: Some(e),
            },
            None => self,
        }
    }
}

/// A process's named lookup handles (`lookup_begin … as`), with the flags they were begun with.
pub type Handles = BTreeMap<String, (LookupHandle, LupFlags)>;

/// How a call step went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Performed {
    Done(Outcome),
    /// The call waits for an async completion; its result comes as a wake.
    Waiting,
    /// The process ended (`exit`, `crash`).
    Exited,
}

/// The catalog entry a provider spec installs.
pub fn catalog_entry(p: &ProviderSpec) -> CatalogEntry {
    let entry = CatalogEntry::new(p.id, p.name.clone(), p.namespace).with_version(p.version);
    match &p.napi {
        Some(napi) => entry.with_napi(napi.clone()),
        None => entry,
    }
}

/// The WSAQUERYSET2 a lookup or set-service step passes.
pub fn restrictions(target: Target, name: Option<&str>) -> QuerySet {
    let (namespace, provider): (Namespace, Option<Guid>) = match target {
        Target::Namespace(ns) => (ns, None),
        Target::Provider(id) => (Namespace::ALL, Some(id)),
    };
    QuerySet {
        service_instance_name: name.map(str::to_string),
        namespace,
        ns_provider_id: provider,
        ..QuerySet::default()
    }
}

/// Performs one call step (everything but `lookup`, `sleep` and `expect`) for (pid, tid).
#[allow(clippy::too_many_arguments)]
pub fn perform<S: EventSink>(
    d: &mut Dispatcher<S>,
    scenario: &Scenario,
    providers: &dyn Providers,
    pid: Pid,
    tid: Tid,
    step: &Step,
    handles: &mut Handles,
) -> Performed {
    let waiting_or = |p: Poll<Result<_, ApiError>>| match p {
        Poll::Ready(r) => Performed::Done(Outcome::of::<()>(&r.map(|_| ()))),
        Poll::Pending => Performed::Waiting,
    };
    // A handle whose lookup_begin failed is used anyway, as a careless client would: the
    // dispatcher answers WSA_INVALID_HANDLE.
    let named = |handles: &Handles, name: &str| {
        handles
            .get(name)
            .copied()
            .unwrap_or((LookupHandle(0), LupFlags::EMPTY))
    };
    let outcome = match step {
        Step::Startup { version } => {
            Outcome::of_wsa(&d.wsa_startup(pid, tid, *version)).with_code_ret()
        }
        Step::Cleanup => Outcome::of(&d.wsa_cleanup(pid, tid)),
        Step::LookupBegin {
            target,
            name,
            flags,
            as_name,
        } => {
            let q = restrictions(*target, name.as_deref());
            let r = d.wsa_lookup_service_begin(pid, tid, &q, *flags);
            if let Ok(h) = &r {
                handles.insert(as_name.clone(), (*h, *flags));
            }
            Outcome::of(&r)
        }
        Step::LookupNext {
            handle,
            flags,
            buffer,
        } => {
            let (h, begun) = named(handles, handle);
            return waiting_or(
                d.wsa_lookup_service_next(pid, tid, h, flags.unwrap_or(begun), *buffer)
                    .map(|r| r.map(|_| ())),
            );
        }
        Step::LookupEnd { handle } => {
            Outcome::of(&d.wsa_lookup_service_end(pid, tid, named(handles, handle).0))
        }
        Step::SetService {
            action,
            target,
            name,
            addrs,
            multiple,
        } => {
            let mut info = restrictions(*target, name.as_deref());
            info.addresses = addrs.iter().copied().map(CsAddr::tcp).collect();
            let flags = if *multiple {
                SetServiceFlags::SERVICE_MULTIPLE
            } else {
                SetServiceFlags::EMPTY
            };
            return waiting_or(d.wsa_set_service(pid, tid, &info, *action, flags));
        }
        Step::EnumProviders { buffer } => {
            match d.wsa_enum_name_space_providers_ex(pid, tid, *buffer) {
                Ok(list) => Outcome {
                    ret: list.len() as i64,
                    err: None,
                },
                Err(e) => Outcome::failed(e.code),
            }
        }
        Step::Advertise { provider } => {
            let built = scenario
                .provider(*provider)
                .and_then(|p| providers.build(p).ok());
            match built {
                Some(code) => Outcome::of_wsa(&d.wsa_advertise_provider(pid, tid, *provider, code)),
                None => Outcome::failed(WsaError::EINVAL),
            }
        }
        Step::Unadvertise { provider } => {
            Outcome::of_wsa(&d.wsa_unadvertise_provider(pid, tid, *provider))
        }
        Step::Install { provider } => match scenario.provider(*provider) {
            Some(p) => Outcome::of_wsa(&d.install_provider(catalog_entry(p))),
            None => Outcome::failed(WsaError::EINVAL),
        },
        Step::Uninstall { provider } => Outcome::of_wsa(&d.uninstall_provider(*provider)),
        Step::Enable { provider } => Outcome::of_wsa(&d.enable_provider(*provider, true)),
        Step::Disable { provider } => Outcome::of_wsa(&d.enable_provider(*provider, false)),
        Step::Exit | Step::Crash => {
            let how = if *step == Step::Crash {
                ExitHow::Crash
            } else {
                ExitHow::Exit
            };
            d.exit_process(pid, how);
            return Performed::Exited;
        }
        // The driver's business; `lookup` goes through [`LookupLoop`].
        Step::Lookup { .. } | Step::Sleep { .. } | Step::Expect { .. } => Outcome::OK,
    };
    Performed::Done(outcome)
}

/// A `lookup` step in progress: Begin, then Next until the end (or `next` results), then End.
/// Each call is one [`LookupLoop::step`].
#[derive(Clone, Debug)]
pub struct LookupLoop {
    query: QuerySet,
    flags: LupFlags,
    buffer: u32,
    limit: Option<u32>,
    handle: Option<LookupHandle>,
    results: u32,
    /// The first error other than WSA_E_NO_MORE, which the step reports.
    error: Option<WsaError>,
    /// Next is done; End comes next.
    ending: bool,
}

/// How one call of a lookup loop went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopStep {
    /// Another call follows.
    More,
    /// A Next waits for its completion; feed its result to [`LookupLoop::on_next`].
    Waiting,
    /// The whole `lookup` step is over.
    Done(Outcome),
}

impl LookupLoop {
    /// `None` when `step` is not a `lookup`.
    pub fn of(step: &Step) -> Option<LookupLoop> {
        let Step::Lookup {
            target,
            name,
            flags,
            next,
            buffer,
        } = step
        else {
            return None;
        };
        Some(LookupLoop {
            query: restrictions(*target, name.as_deref()),
            flags: *flags,
            buffer: *buffer,
            limit: match next {
                NextCount::All => None,
                NextCount::Count(n) => Some(*n),
            },
            handle: None,
            results: 0,
            error: None,
            ending: matches!(next, NextCount::Count(0)),
        })
    }

    /// Makes the loop's next call.
    pub fn step<S: EventSink>(&mut self, d: &mut Dispatcher<S>, pid: Pid, tid: Tid) -> LoopStep {
        let Some(handle) = self.handle else {
            return match d.wsa_lookup_service_begin(pid, tid, &self.query, self.flags) {
                Ok(h) => {
                    self.handle = Some(h);
                    LoopStep::More
                }
                Err(e) => LoopStep::Done(Outcome::failed(e.code)),
            };
        };
        if self.ending {
            let end = d.wsa_lookup_service_end(pid, tid, handle);
            return LoopStep::Done(match (self.error, end) {
                (Some(e), _) => Outcome::failed(e),
                (None, Err(e)) => Outcome::failed(e.code),
                (None, Ok(())) => Outcome {
                    ret: i64::from(self.results),
                    err: None,
                },
            });
        }
        match d.wsa_lookup_service_next(pid, tid, handle, self.flags, self.buffer) {
            Poll::Ready(r) => {
                self.on_next(r.map(|_| ()));
                LoopStep::More
            }
            Poll::Pending => LoopStep::Waiting,
        }
    }

    /// A Next returned (at once, or later as a wake).
    pub fn on_next(&mut self, r: Result<(), ApiError>) {
        match r {
            Ok(()) => self.results += 1,
            Err(e) if e.code == WsaError::E_NO_MORE => self.ending = true,
            Err(e) => {
                self.error.get_or_insert(e.code);
                self.ending = true;
            }
        }
        if self.limit.is_some_and(|n| self.results >= n) {
            self.ending = true;
        }
    }
}

/// A run that could not start.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("provider \"{provider}\" (kind {kind}) cannot be built: {message}")]
    Build {
        provider: String,
        kind: String,
        message: String,
    },
}

/// Builds a provider instance from its spec.
pub fn build(
    providers: &dyn Providers,
    p: &ProviderSpec,
) -> Result<Box<dyn NspV2Provider>, RunError> {
    providers.build(p).map_err(|message| RunError::Build {
        provider: p.name.clone(),
        kind: p.kind.clone(),
        message,
    })
}

/// A process of the scenario, started.
#[derive(Clone, Debug)]
pub struct Started<'a> {
    pub pid: Pid,
    pub name: String,
    pub role: Role,
    /// Implicit hosts stay up when their (empty) script is over.
    pub stays_up: bool,
    /// Each thread's script, main thread first, borrowed from the scenario (a run reads its
    /// scripts; copying them for every seed of an exploration is waste).
    pub threads: Vec<(Tid, &'a [Step])>,
}

/// Starts a scenario: installs the catalog, starts every process with its threads in pid
/// order (declared hosts, implicit hosts, clients), and brings implicit hosts up (WSAStartup,
/// then advertise their installed providers) before any client moves. Sim and live start
/// alike, so their pids and first events agree.
pub fn set_up<'a, S: EventSink>(
    d: &mut Dispatcher<S>,
    scenario: &'a Scenario,
    providers: &dyn Providers,
) -> Result<Vec<Started<'a>>, RunError> {
    // Every provider is built before anything runs, so a bad kind fails first; the instances
    // of installed providers of implicit hosts are the ones advertised below (building is
    // pure, and parsing options twice per run was a tenth of an exploration's time).
    let mut built = Vec::with_capacity(scenario.providers.len());
    for p in &scenario.providers {
        built.push(Some(build(providers, p)?));
    }
    for p in scenario.providers.iter().filter(|p| p.installed) {
        let _ = d.install_provider(catalog_entry(p));
        if !p.enabled {
            let _ = d.enable_provider(p.id, false);
        }
    }
    let implicit = scenario.implicit_hosts();
    let mut started =
        Vec::with_capacity(scenario.hosts.len() + implicit.len() + scenario.processes.len());
    let mut start = |d: &mut Dispatcher<S>,
                     name: &str,
                     role: Role,
                     stays_up: bool,
                     scripts: Vec<&'a [Step]>| {
        let pid = d.create_process(name, role);
        let threads = scripts
            .into_iter()
            .enumerate()
            .map(|(i, steps)| {
                let tid = if i == 0 {
                    Tid(1)
                } else {
                    d.create_thread(pid).unwrap_or(Tid(i as u32 + 1))
                };
                (tid, steps)
            })
            .collect();
        started.push(Started {
            pid,
            name: name.to_string(),
            role,
            stays_up,
            threads,
        });
        pid
    };
    for h in &scenario.hosts {
        start(d, &h.name, Role::Host, false, vec![&h.steps]);
    }
    for name in implicit {
        let pid = start(d, name, Role::Host, true, vec![&[]]);
        let _ = d.wsa_startup(pid, Tid(1), (2, 2));
        for (p, instance) in scenario.providers.iter().zip(built.iter_mut()) {
            if p.host != name || !p.installed {
                continue;
            }
            let provider = match instance.take() {
                Some(provider) => provider,
                // Two implicit hosts never share a provider; rebuild rather than assume it.
                None => build(providers, p)?,
            };
            let _ = d.wsa_advertise_provider(pid, Tid(1), p.id, provider);
        }
    }
    for p in &scenario.processes {
        let mut scripts: Vec<&'a [Step]> = vec![&p.steps];
        scripts.extend(p.threads.iter().map(|t| &t.steps[..]));
        start(d, &p.name, Role::Client, false, scripts);
    }
    Ok(started)
}

#[cfg(test)]
mod napi_tests {
    use super::*;
    use crate::catalog::{Level, Napi};

    #[test]
    fn a_provider_spec_installs_its_napi_data_and_version() {
        let napi =
            Napi::per_domain(false, [("x.org".to_string(), Level::Secondary)]).expect("legal napi");
        let spec = ProviderSpec {
            id: Guid::from_u128(7),
            name: "p".into(),
            namespace: Namespace::EMAIL,
            kind: "k".into(),
            host: "h".into(),
            installed: true,
            enabled: true,
            napi: Some(napi.clone()),
            options: serde_json::json!({}),
            version: 3,
        };
        let entry = catalog_entry(&spec);
        assert_eq!(entry.napi(), Some(&napi));
        assert_eq!(entry.version, 3);
        assert_eq!(entry.blob, None, "the blob is written at install time");
        let plain = catalog_entry(&ProviderSpec { napi: None, ..spec });
        assert_eq!(plain.napi(), None);
    }
}
