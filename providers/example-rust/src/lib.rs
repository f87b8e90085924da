//! An example of a provider crate tested with nspsim: `mailbox`, a small NS_EMAIL directory
//! whose lookups complete later (deferred), the way a provider that asks a server does.
//!
//! It comes in two variants, the point of the example:
//!
//! - [`MailboxKind::buggy`] (`kind = "mailbox-buggy"`) frees a client session's state when
//!   the session ends (NSPv2Cleanup or NSPv2ClientSessionRundown), but leaves that session's
//!   pending NextEx completions scheduled; when one runs, it reads the freed state. A client
//!   that crashes while its NextEx waits is enough, and nspsim's exploration finds it.
//! - [`MailboxKind::fixed`] (`kind = "mailbox"`) cancels a lookup's pending completion with
//!   WSA_E_CANCELLED when the lookup ends or its session does, and ignores a deferred turn
//!   whose call is gone.
//!
//! The crate depends on `nspsim-core` only; its tests (`tests/explore.rs`) use `nspsim`.
//!
//! ```
//! use nspsim_core::registry::ProviderKind;
//! use nspsim_example_provider::MailboxKind;
//!
//! let kind = MailboxKind::fixed();
//! let options = serde_json::json!({ "entries": [ { "name": "a@b.c", "addrs": ["192.0.2.1:25"] } ] });
//! assert!(kind.validate(&options).is_ok());
//! assert!(kind.validate(&serde_json::json!({ "entires": [] })).unwrap_err().contains("entires"));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use nspsim_core::registry::{OptionDoc, ProviderKind};
use nspsim_core::wsa::{CsAddr, Namespace, QuerySet};
use nspsim_core::{
    AsyncCall, EntryPoint, LupFlags, NextExOutput, NspContext, NspFn, NspResult, NspV2Provider,
    ProviderLookup, RoutineTable, SessionArg, WorkToken, WsaError,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// The mailbox directory's kinds: [`MailboxKind::fixed`] and [`MailboxKind::buggy`].
#[derive(Clone, Copy, Debug)]
pub struct MailboxKind {
    fixed: bool,
}

impl MailboxKind {
    /// `kind = "mailbox"`: pending completions are cancelled when their lookup or session ends.
    pub fn fixed() -> MailboxKind {
        MailboxKind { fixed: true }
    }

    /// `kind = "mailbox-buggy"`: frees a session's state under its pending completions.
    pub fn buggy() -> MailboxKind {
        MailboxKind { fixed: false }
    }
}

const OPTIONS: &[OptionDoc] = &[
    OptionDoc {
        name: "entries",
        shape: "array of { name, addrs = [\"ip:port\", …] }",
        default: "[]",
        help: "the directory: e-mail addresses and their mail hosts",
    },
    OptionDoc {
        name: "completion",
        shape: "\"deferred\" | \"inline\"",
        default: "\"deferred\"",
        help: "complete NextEx later, when the scheduler runs the provider's work, or inside the call",
    },
];

/// The options, parsed.
#[derive(Clone, Debug, Default)]
struct Options {
    entries: BTreeMap<String, Vec<SocketAddr>>,
    inline: bool,
}

fn parse(kind: &str, options: &Value) -> Result<Options, String> {
    let mut out = Options::default();
    let Some(table) = options.as_object() else {
        return Ok(out); // no [provider.options]
    };
    for (key, value) in table {
        match key.as_str() {
            "entries" => {
                let list = value
                    .as_array()
                    .ok_or_else(|| format!("{kind}: `entries` must be an array"))?;
                for (i, e) in list.iter().enumerate() {
                    let name = e["name"]
                        .as_str()
                        .ok_or_else(|| format!("{kind}: `entries[{i}].name` must be a string"))?;
                    let addrs = e["addrs"].as_array().map_or(&[][..], |a| a.as_slice());
                    let addrs = addrs
                        .iter()
                        .map(|a| a.as_str().and_then(|a| a.parse().ok()))
                        .collect::<Option<Vec<SocketAddr>>>()
                        .ok_or_else(|| {
                            format!("{kind}: `entries[{i}].addrs` must be \"ip:port\" strings")
                        })?;
                    out.entries.insert(name.to_ascii_lowercase(), addrs);
                }
            }
            "completion" => match value.as_str() {
                Some("deferred") => out.inline = false,
                Some("inline") => out.inline = true,
                _ => {
                    return Err(format!(
                        "{kind}: `completion` must be \"deferred\" or \"inline\""
                    ));
                }
            },
            other => {
                return Err(format!(
                    "{kind}: unknown option `{other}`; expected entries or completion"
                ));
            }
        }
    }
    Ok(out)
}

impl ProviderKind for MailboxKind {
    fn name(&self) -> &'static str {
        if self.fixed {
            "mailbox"
        } else {
            "mailbox-buggy"
        }
    }
    fn summary(&self) -> &'static str {
        if self.fixed {
            "the example crate's NS_EMAIL mailbox directory, deferred completions cancelled with their lookup"
        } else {
            "the example mailbox with its ordering bug: frees session state under a pending completion"
        }
    }
    fn options(&self) -> &'static [OptionDoc] {
        OPTIONS
    }
    fn validate(&self, options: &Value) -> Result<(), String> {
        parse(self.name(), options).map(|_| ())
    }
    fn build(&self, options: &Value) -> Result<Box<dyn NspV2Provider>, String> {
        Ok(Box::new(Mailbox::new(
            parse(self.name(), options)?,
            self.fixed,
        )))
    }
}

/// What a client session holds.
#[derive(Debug, Default)]
struct Session {
    /// Results handed out in this session.
    answered: u64,
}

/// An open lookup.
#[derive(Debug)]
struct Lookup {
    session: Option<SessionArg>,
    /// The results still to hand out.
    results: Vec<QuerySet>,
    flags: LupFlags,
}

/// A NextEx waiting for its deferred turn.
#[derive(Debug)]
struct Pending {
    call: AsyncCall,
    lookup: u64,
    buffer_len: u32,
}

/// The provider: one instance per advertised provider, state for every client of it.
#[derive(Debug)]
struct Mailbox {
    options: Options,
    fixed: bool,
    sessions: BTreeMap<u64, Session>,
    lookups: BTreeMap<u64, Lookup>,
    pending: BTreeMap<u64, Pending>,
    next_id: u64,
}

impl Mailbox {
    fn new(options: Options, fixed: bool) -> Mailbox {
        Mailbox {
            options,
            fixed,
            sessions: BTreeMap::new(),
            lookups: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_id: 1,
        }
    }

    fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Hands out the next result of `lookup` for `call` and completes it.
    fn answer(&mut self, ctx: &mut NspContext, call: AsyncCall, lookup: u64, buffer_len: u32) {
        let Some(l) = self.lookups.get_mut(&lookup) else {
            return ctx.complete_async_call(call, Err(WsaError::INVALID_HANDLE));
        };
        // The session's bookkeeping: the state the buggy variant frees too early.
        if let Some(s) = l.session {
            let session = self
                .sessions
                .get_mut(&s.raw())
                .expect("the session's state is still there");
            session.answered += 1;
        }
        let Some(next) = l.results.first() else {
            return ctx.complete_async_call(call, Err(WsaError::E_NO_MORE));
        };
        let result = next.project(l.flags);
        let required = result.wire_size();
        if required > buffer_len {
            ctx.write_next_ex(call, NextExOutput::BufferTooSmall { required });
            return ctx.complete_async_call(call, Err(WsaError::EFAULT));
        }
        l.results.remove(0);
        ctx.write_next_ex(call, NextExOutput::Result(result));
        ctx.complete_async_call(call, Ok(()));
    }

    /// Completes the pending calls of the lookups `which` picks with WSA_E_CANCELLED.
    fn cancel_pending(&mut self, ctx: &mut NspContext, which: impl Fn(u64) -> bool) {
        let cancelled: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| which(p.lookup))
            .map(|(t, _)| *t)
            .collect();
        for token in cancelled {
            if let Some(p) = self.pending.remove(&token) {
                ctx.complete_async_call(p.call, Err(WsaError::E_CANCELLED));
            }
        }
    }

    /// The end of a session, orderly or not.
    fn end_session(&mut self, ctx: &mut NspContext, session: Option<SessionArg>) {
        let Some(s) = session else { return };
        self.sessions.remove(&s.raw());
        if self.fixed {
            let of_session: Vec<u64> = self
                .lookups
                .iter()
                .filter(|(_, l)| l.session == Some(s))
                .map(|(id, _)| *id)
                .collect();
            self.cancel_pending(ctx, |l| of_session.contains(&l));
            self.lookups.retain(|_, l| l.session != Some(s));
        }
        // The buggy variant stops here: the session's state is gone, but its lookups' pending
        // completions are still scheduled, and `answer` reads that state when they run.
    }
}

impl NspV2Provider for Mailbox {
    fn routine_table(&self) -> RoutineTable {
        RoutineTable::full().with(NspFn::SetServiceEx, EntryPoint::Absent)
    }

    fn startup(&mut self, _ctx: &mut NspContext) -> NspResult<Option<SessionArg>> {
        let id = self.fresh_id();
        self.sessions.insert(id, Session::default());
        Ok(SessionArg::new(id))
    }

    fn cleanup(&mut self, ctx: &mut NspContext, session: Option<SessionArg>) -> NspResult<()> {
        self.end_session(ctx, session);
        Ok(())
    }

    fn client_session_rundown(&mut self, ctx: &mut NspContext, session: Option<SessionArg>) {
        self.end_session(ctx, session);
    }

    fn lookup_service_begin(
        &mut self,
        ctx: &mut NspContext,
        restrictions: &QuerySet,
        flags: LupFlags,
        session: Option<SessionArg>,
    ) -> NspResult<ProviderLookup> {
        let Some(name) = restrictions.service_instance_name.as_deref() else {
            return Err(ctx.fail(WsaError::EINVAL));
        };
        let Some(addrs) = self.options.entries.get(&name.to_ascii_lowercase()) else {
            return Err(ctx.fail(WsaError::SERVICE_NOT_FOUND));
        };
        let result = QuerySet {
            addresses: addrs.iter().map(|a| CsAddr::tcp(*a)).collect(),
            ..QuerySet::restrictions(Namespace::EMAIL, name)
        };
        let id = self.fresh_id();
        self.lookups.insert(
            id,
            Lookup {
                session,
                results: vec![result],
                flags,
            },
        );
        Ok(ProviderLookup(id))
    }

    fn lookup_service_next_ex(
        &mut self,
        ctx: &mut NspContext,
        call: AsyncCall,
        lookup: ProviderLookup,
        _flags: LupFlags,
        buffer_len: u32,
    ) {
        if !self.lookups.contains_key(&lookup.0) {
            return ctx.complete_async_call(call, Err(WsaError::INVALID_HANDLE));
        }
        if self.options.inline {
            return self.answer(ctx, call, lookup.0, buffer_len);
        }
        let token = self.fresh_id();
        self.pending.insert(
            token,
            Pending {
                call,
                lookup: lookup.0,
                buffer_len,
            },
        );
        ctx.defer(WorkToken(token));
    }

    fn lookup_service_end(
        &mut self,
        ctx: &mut NspContext,
        lookup: ProviderLookup,
    ) -> NspResult<()> {
        if self.fixed {
            self.cancel_pending(ctx, |l| l == lookup.0);
            return match self.lookups.remove(&lookup.0) {
                Some(_) => Ok(()),
                None => Err(ctx.fail(WsaError::INVALID_HANDLE)),
            };
        }
        // The buggy variant forgets the results but keeps the lookup, with its session link,
        // for a completion still pending on it.
        match self.lookups.get_mut(&lookup.0) {
            Some(l) => {
                l.results.clear();
                Ok(())
            }
            None => Err(ctx.fail(WsaError::INVALID_HANDLE)),
        }
    }

    fn run_deferred(&mut self, ctx: &mut NspContext, token: WorkToken) {
        // A call cancelled meanwhile has no turn left.
        if let Some(p) = self.pending.remove(&token.0) {
            self.answer(ctx, p.call, p.lookup, p.buffer_len);
        }
    }
}
