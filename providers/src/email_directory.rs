//! `email-directory`: an in-memory NS_EMAIL directory provider, written the way a Windows
//! developer would write one, and the base of the `buggy` kind.
//!
//! Behaviour:
//! - **Startup/Cleanup** keep a per-session argument and the session's lookup handles. The
//!   directory (the configured entries plus what SetService registered) is loaded by the first
//!   Startup and kept for as long as the provider instance lives (its host runs): sessions come
//!   and go, registrations stay (S7.1; the WSACleanup page: "WSACleanup does not unregister
//!   names"). What a session holds (its handles) is freed when it ends, so `held_state` reports
//!   no session and no lookup once the last one has ended (P5).
//! - **Begin** checks the name (a domain the provider does not serve → WSASERVICE_NOT_FOUND) and
//!   returns a fresh handle remembering the name and flags. A name `*@domain` lists every entry
//!   of the domain, `*` every entry.
//! - **NextEx** returns one result per call, keeping only the fields the LUP_RETURN_* flags ask
//!   for; a result larger than the buffer → WSAEFAULT with the required size, not consumed
//!   unless the next call passes LUP_FLUSHPREVIOUS (S5.5); after the last result
//!   WSA_E_NO_MORE; an unknown name WSANO_DATA.
//! - **End** frees the handle and cancels a pending NextEx with WSA_E_CANCELLED.
//! - **Completion** (`completion`): `inline` answers NextEx/SetServiceEx inside the call;
//!   `deferred` answers later, when the scheduler runs the provider's work; `until-cancelled`
//!   holds every NextEx until End on its handle (or the end of its session, whose handles the
//!   dispatcher ends first, S4.8) completes it with WSA_E_CANCELLED, so every seed exercises
//!   cancellation. SetServiceEx completes inline in that mode.
//! - **SetServiceEx** implements S7.2: REGISTER creates or overwrites (SERVICE_MULTIPLE: adds
//!   addresses); DEREGISTER removes addresses (all, or with SERVICE_MULTIPLE the given ones) and
//!   keeps the entry; DELETE removes the entry (with SERVICE_MULTIPLE only the given
//!   addresses, and the entry too once no address remains); a missing entry →
//!   WSASERVICE_NOT_FOUND.
//! - **Rundown** frees that session's state (its handles; a pending NextEx is cancelled).
//!
//! Options: `entries` (array of `{ name, addrs, comment, blob }`), `domains` (array of domains
//! served; empty = any), `authority` (`primary` | `secondary` | `wildcard`, for NS_EMAIL
//! routing; the scenario's `authority` key on `[[provider]]` says the same), `completion`
//! (`inline` | `deferred` | `until-cancelled`).
//!
//! A [`Bug`] turns the provider into one with a real-world ordering bug (the `buggy` kind).

use crate::options::{CompletionMode, EntryOption, domain_of};
use nspsim_core::handles::{Handle, HandleTable};
use nspsim_core::provider::{
    AsyncCall, HeldState, NextExOutput, NspContext, NspResult, NspV2Provider, ProviderLookup,
    RoutineTable, SessionArg, WorkToken,
};
use nspsim_core::wsa::{CsAddr, LupFlags, QuerySet, SetServiceFlags, SetServiceOp, WsaError};
use serde::Deserialize;
use sessions::{SHARED_ARG, SessionTable};
use std::collections::BTreeMap;
use std::sync::Arc;

mod sessions;

/// The `email-directory` options.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EmailOptions {
    #[serde(default)]
    pub entries: Vec<EntryOption>,
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default)]
    pub authority: Option<String>,
    #[serde(default)]
    pub completion: CompletionMode,
}

impl EmailOptions {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(a) = &self.authority
            && !matches!(a.as_str(), "primary" | "secondary" | "wildcard")
        {
            return Err(format!(
                "authority \"{a}\" is not one of \"primary\", \"secondary\", \"wildcard\""
            ));
        }
        let mut names: Vec<&str> = self.entries.iter().map(|e| e.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0].eq_ignore_ascii_case(w[1])) {
            return Err(format!("entries: \"{}\" is listed twice", w[0]));
        }
        Ok(())
    }
}

/// The ordering bugs of the `buggy` kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// Frees the directory on every Cleanup, though other sessions may still be using it.
    FreeOnFirstCleanup,
    /// Never frees a session on Rundown (leaks it).
    IgnoreRundown,
    /// End does not cancel a pending deferred NextEx, which later completes from freed state.
    CompleteAfterEnd,
    /// Hands every process the same session argument and frees it on the first session end.
    SharedSession,
}

impl Bug {
    pub const ALL: [Bug; 4] = [
        Bug::FreeOnFirstCleanup,
        Bug::IgnoreRundown,
        Bug::CompleteAfterEnd,
        Bug::SharedSession,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bug::FreeOnFirstCleanup => "free-on-first-cleanup",
            Bug::IgnoreRundown => "ignore-rundown",
            Bug::CompleteAfterEnd => "complete-after-end",
            Bug::SharedSession => "shared-session",
        }
    }

    pub fn from_name(s: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == s)
    }
}

/// Per-handle state.
#[derive(Debug)]
struct LookupState {
    session: Option<u64>,
    /// The name looked up, in lower case: the directory's key (made once, at Begin, and
    /// shared with the directory's own when the name is in it, as it nearly always is).
    key: Arc<str>,
    /// Index of the next result to return.
    cursor: usize,
    /// The last NextEx answered WSAEFAULT: that result is still the next one (S5.5).
    held_back: bool,
    /// A NextEx not yet completed.
    pending: Option<Pending>,
}

/// A NextEx the provider has not completed yet.
#[derive(Clone, Copy, Debug)]
struct Pending {
    call: AsyncCall,
    /// The deferred work that will answer it (`completion = "deferred"`), or `None` for a call
    /// held until it is cancelled (`completion = "until-cancelled"`).
    token: Option<u64>,
}

/// Deferred work: what a token stands for.
#[derive(Debug)]
enum Deferred {
    Next {
        call: AsyncCall,
        handle: u64,
        flags: LupFlags,
        buffer: u32,
    },
    Set {
        call: AsyncCall,
        result: Result<(), WsaError>,
    },
}

/// Entries by lower-case name.
type Directory = BTreeMap<Arc<str>, QuerySet>;

/// Options parsed once, with the directory they load, for every instance built from them
/// ([`ProviderKind::prepare`]): an exploration builds an instance per seed, and building the
/// directory (a tree of entries, each with its strings) was a few per cent of a seed.
///
/// [`ProviderKind::prepare`]: nspsim_core::registry::ProviderKind::prepare
#[derive(Debug)]
pub struct PreparedOptions {
    options: EmailOptions,
    directory: Arc<Directory>,
}

impl PreparedOptions {
    pub fn new(options: EmailOptions) -> PreparedOptions {
        let directory = options
            .entries
            .iter()
            .map(|e| (Arc::from(e.name.to_ascii_lowercase()), e.to_query_set()))
            .collect();
        PreparedOptions {
            options,
            directory: Arc::new(directory),
        }
    }
}

/// The directory, or the state a buggy provider reaches after freeing it too early
/// ([`EmailDirectory::directory`]; a function of the two fields, to borrow them alone).
fn loaded(directory: &Option<Arc<Directory>>, bug: Option<Bug>) -> Result<&Directory, WsaError> {
    match (directory, bug) {
        (Some(directory), _) => Ok(directory),
        (None, Some(bug)) => panic!("{}: directory used after it was freed", bug.name()),
        (None, None) => Err(WsaError::EINVAL),
    }
}

/// The `email-directory` provider.
#[derive(Debug)]
pub struct EmailDirectory {
    /// Shared by every instance built from the same prepared options (read only).
    prepared: Arc<PreparedOptions>,
    bug: Option<Bug>,
    /// The loaded directory; `None` before the first Startup (and, for the buggy kinds, once
    /// freed too early). Shared with the prepared options until a SetService changes it:
    /// then this instance gets its own copy.
    directory: Option<Arc<Directory>>,
    sessions: SessionTable,
    lookups: HandleTable<LookupState>,
    deferred: BTreeMap<u64, Deferred>,
    next_token: u64,
}

impl EmailDirectory {
    pub fn new(options: EmailOptions) -> Self {
        Self::shared(Arc::new(PreparedOptions::new(options)))
    }

    /// An instance over options parsed once for many instances ([`ProviderKind::prepare`]).
    ///
    /// [`ProviderKind::prepare`]: nspsim_core::registry::ProviderKind::prepare
    pub fn shared(prepared: Arc<PreparedOptions>) -> Self {
        EmailDirectory {
            prepared,
            bug: None,
            directory: None,
            sessions: SessionTable::default(),
            lookups: HandleTable::new(),
            deferred: BTreeMap::new(),
            next_token: 0,
        }
    }

    pub fn with_bug(mut self, bug: Bug) -> Self {
        self.bug = Some(bug);
        self
    }

    fn options(&self) -> &EmailOptions {
        &self.prepared.options
    }

    /// The directory, or the state a buggy provider reaches after freeing it too early: a
    /// use after free, which in a C provider is a crash and here is a panic (P4).
    fn directory(&self) -> Result<&Directory, WsaError> {
        loaded(&self.directory, self.bug)
    }

    /// [`EmailDirectory::directory`], to change: this instance's own copy from now on.
    fn directory_mut(&mut self) -> Result<&mut Directory, WsaError> {
        self.directory()?;
        self.directory
            .as_mut()
            .map(Arc::make_mut)
            .ok_or(WsaError::EINVAL)
    }

    /// The directory key `name` is looked up under: the directory's own copy when it has
    /// one (no allocation), else a new one (a name not listed yet, or a pattern). Keys are in
    /// lower case, so a name found as it is needs no lowering, as listed names nearly always
    /// are.
    fn key_of(&self, name: &str) -> Arc<str> {
        let directory = self.directory.as_deref();
        if let Some((key, _)) = directory.and_then(|d| d.get_key_value(name)) {
            return key.clone();
        }
        let lowered = name.to_ascii_lowercase();
        match directory.and_then(|d| d.get_key_value(lowered.as_str())) {
            Some((key, _)) => key.clone(),
            None => Arc::from(lowered),
        }
    }

    fn serves(&self, name: &str) -> bool {
        let options = self.options();
        if options.domains.is_empty() || options.authority.as_deref() == Some("wildcard") {
            return true;
        }
        domain_of(name).is_some_and(|d| options.domains.iter().any(|s| s.eq_ignore_ascii_case(&d)))
    }

    /// Whether a lookup of `key` (lower case) yields any result, and its result number `n`
    /// in name order. Borrowed: a NextEx copies out only the one result it returns.
    fn nth_result<'d>(
        directory: &'d Directory,
        key: &str,
        n: usize,
    ) -> (bool, Option<&'d QuerySet>) {
        if key == "*" {
            (!directory.is_empty(), directory.values().nth(n))
        } else if let Some(domain) = key.strip_prefix("*@") {
            let mut matching = directory
                .iter()
                .filter(|(name, _)| domain_of(name).as_deref() == Some(domain))
                .map(|(_, q)| q);
            let first = matching.next();
            let nth = match n {
                0 => first,
                n => matching.nth(n - 1),
            };
            (first.is_some(), nth)
        } else {
            let found = directory.get(key);
            (found.is_some(), found.filter(|_| n == 0))
        }
    }

    fn answer(
        &mut self,
        ctx: &mut NspContext,
        call: AsyncCall,
        handle: u64,
        flags: LupFlags,
        buffer: u32,
    ) {
        // The handle and the directory at once (fields apart): the result is borrowed, not
        // copied.
        let Some(lookup) = self.lookups.get_mut(Handle::from_raw(handle)) else {
            if self.bug == Some(Bug::CompleteAfterEnd) {
                panic!("complete-after-end: NextEx completed from a lookup handle freed by End");
            }
            ctx.complete_async_call(call, Err(WsaError::INVALID_HANDLE));
            return;
        };
        let directory = match loaded(&self.directory, self.bug) {
            Ok(directory) => directory,
            Err(e) => {
                ctx.complete_async_call(call, Err(e));
                return;
            }
        };
        lookup.pending = None;
        if lookup.held_back && flags.contains(LupFlags::FLUSHPREVIOUS) {
            lookup.cursor += 1; // S5.5: skip the result that did not fit
        }
        lookup.held_back = false;
        let (any, result) = Self::nth_result(directory, &lookup.key, lookup.cursor);
        if !any {
            ctx.complete_async_call(call, Err(WsaError::NO_DATA));
            return;
        }
        let Some(result) = result else {
            ctx.complete_async_call(call, Err(WsaError::E_NO_MORE));
            return;
        };
        let projected = result.project(flags);
        let required = projected.wire_size();
        if required > buffer {
            lookup.held_back = true;
            ctx.write_next_ex(call, NextExOutput::BufferTooSmall { required });
            ctx.complete_async_call(call, Err(WsaError::EFAULT));
        } else {
            lookup.cursor += 1;
            ctx.write_next_ex(call, NextExOutput::Result(projected));
            ctx.complete_async_call(call, Ok(()));
        }
    }

    fn set_service(
        &mut self,
        info: &QuerySet,
        op: SetServiceOp,
        flags: SetServiceFlags,
    ) -> Result<(), WsaError> {
        let name = info
            .service_instance_name
            .as_deref()
            .ok_or(WsaError::EINVAL)?
            .to_ascii_lowercase();
        let directory = self.directory_mut()?;
        let given = &info.addresses;
        let same = |a: &CsAddr, b: &CsAddr| a.remote == b.remote;
        match op {
            SetServiceOp::Register => {
                let entry = directory
                    .entry(Arc::from(name))
                    .or_insert_with(|| QuerySet {
                        addresses: Vec::new(),
                        ..info.clone()
                    });
                if flags.multiple() {
                    for a in given {
                        if !entry.addresses.iter().any(|e| same(e, a)) {
                            entry.addresses.push(a.clone());
                        }
                    }
                } else {
                    *entry = info.clone();
                }
                Ok(())
            }
            SetServiceOp::Deregister => {
                let entry = directory
                    .get_mut(name.as_str())
                    .ok_or(WsaError::SERVICE_NOT_FOUND)?;
                if flags.multiple() {
                    entry
                        .addresses
                        .retain(|e| !given.iter().any(|a| same(e, a)));
                } else {
                    entry.addresses.clear();
                }
                Ok(())
            }
            SetServiceOp::Delete => {
                if flags.multiple() {
                    let entry = directory
                        .get_mut(name.as_str())
                        .ok_or(WsaError::SERVICE_NOT_FOUND)?;
                    entry
                        .addresses
                        .retain(|e| !given.iter().any(|a| same(e, a)));
                    // S7.2: "only removes object from the namespace if no addresses remain".
                    if entry.addresses.is_empty() {
                        directory.remove(name.as_str());
                    }
                } else {
                    directory
                        .remove(name.as_str())
                        .ok_or(WsaError::SERVICE_NOT_FOUND)?;
                }
                Ok(())
            }
        }
    }

    fn defer(&mut self, ctx: &mut NspContext, work: Deferred) -> u64 {
        self.next_token += 1;
        self.deferred.insert(self.next_token, work);
        ctx.defer(WorkToken(self.next_token));
        self.next_token
    }

    /// Ends a session: its handles are freed (a pending NextEx cancelled). The directory stays:
    /// registrations outlive sessions (S7.1).
    fn end_session(&mut self, ctx: &mut NspContext, arg: Option<SessionArg>) {
        let key = arg.map_or(0, |a| a.raw());
        if self.bug == Some(Bug::SharedSession) {
            // The shared argument is freed by the first session that ends, whoever owns it.
            self.sessions.clear();
            self.directory = None;
            return;
        }
        if let Some(session) = self.sessions.remove(key) {
            for handle in session.handles {
                self.free_handle(ctx, handle);
            }
        }
    }

    fn free_handle(&mut self, ctx: &mut NspContext, handle: u64) {
        if let Some(lookup) = self.lookups.remove(Handle::from_raw(handle)) {
            if let Some(session) = lookup.session.and_then(|s| self.sessions.get_mut(s)) {
                session.handles.retain(|h| *h != handle);
            }
            if let Some(Pending { call, token }) = lookup.pending {
                if self.bug == Some(Bug::CompleteAfterEnd) {
                    return; // the bug: the deferred NextEx is left to complete later
                }
                if let Some(token) = token {
                    self.deferred.remove(&token);
                }
                ctx.complete_async_call(call, Err(WsaError::E_CANCELLED));
            }
        }
    }
}

impl NspV2Provider for EmailDirectory {
    fn routine_table(&self) -> RoutineTable {
        RoutineTable::full()
    }

    fn startup(&mut self, _ctx: &mut NspContext) -> NspResult<Option<SessionArg>> {
        if self.directory.is_none() {
            self.directory = Some(self.prepared.directory.clone());
        }
        let raw = if self.bug == Some(Bug::SharedSession) {
            self.sessions.open_shared();
            SHARED_ARG
        } else {
            self.sessions.open_next()
        };
        Ok(SessionArg::new(raw))
    }

    fn cleanup(&mut self, ctx: &mut NspContext, session: Option<SessionArg>) -> NspResult<()> {
        if self.bug == Some(Bug::FreeOnFirstCleanup) {
            let key = session.map_or(0, |a| a.raw());
            self.sessions.remove(key);
            self.directory = None; // the bug: frees what other sessions still use
            return Ok(());
        }
        if self.bug == Some(Bug::SharedSession) && !self.sessions.contains(SHARED_ARG) {
            panic!("shared-session: Cleanup of a session argument already freed");
        }
        self.end_session(ctx, session);
        Ok(())
    }

    fn lookup_service_begin(
        &mut self,
        ctx: &mut NspContext,
        restrictions: &QuerySet,
        _flags: LupFlags,
        session: Option<SessionArg>,
    ) -> NspResult<ProviderLookup> {
        let Some(name) = restrictions.service_instance_name.as_deref() else {
            return Err(ctx.fail(WsaError::EINVAL));
        };
        let key = session.map_or(0, |a| a.raw());
        if self.bug == Some(Bug::SharedSession) && !self.sessions.contains(key) {
            panic!("shared-session: session argument used after the first session freed it");
        }
        if let Err(e) = self.directory() {
            return Err(ctx.fail(e));
        }
        if !self.serves(name) {
            return Err(ctx.fail(WsaError::SERVICE_NOT_FOUND));
        }
        let name_key = self.key_of(name);
        let handle = self
            .lookups
            .insert(LookupState {
                session: session.map(|s| s.raw()),
                key: name_key,
                cursor: 0,
                held_back: false,
                pending: None,
            })
            .to_raw();
        if let Some(s) = self.sessions.get_mut(key) {
            s.handles.push(handle);
        }
        Ok(ProviderLookup(handle))
    }

    fn lookup_service_next_ex(
        &mut self,
        ctx: &mut NspContext,
        call: AsyncCall,
        lookup: ProviderLookup,
        flags: LupFlags,
        buffer_len: u32,
    ) {
        match self.options().completion {
            CompletionMode::Inline => self.answer(ctx, call, lookup.0, flags, buffer_len),
            CompletionMode::Deferred => {
                if !self.lookups.contains(Handle::from_raw(lookup.0)) {
                    ctx.complete_async_call(call, Err(WsaError::INVALID_HANDLE));
                    return;
                }
                let token = self.defer(
                    ctx,
                    Deferred::Next {
                        call,
                        handle: lookup.0,
                        flags,
                        buffer: buffer_len,
                    },
                );
                if let Some(l) = self.lookups.get_mut(Handle::from_raw(lookup.0)) {
                    l.pending = Some(Pending {
                        call,
                        token: Some(token),
                    });
                }
            }
            CompletionMode::UntilCancelled => {
                match self.lookups.get_mut(Handle::from_raw(lookup.0)) {
                    // Held: End on the handle, or the end of its session, cancels it.
                    Some(l) if l.pending.is_none() => {
                        l.pending = Some(Pending { call, token: None })
                    }
                    // The dispatcher never sends a second Next while one is pending (§13); a
                    // provider answers one anyway rather than lose the first.
                    Some(_) => ctx.complete_async_call(call, Err(WsaError::EINVAL)),
                    None => ctx.complete_async_call(call, Err(WsaError::INVALID_HANDLE)),
                }
            }
        }
    }

    fn lookup_service_end(
        &mut self,
        ctx: &mut NspContext,
        lookup: ProviderLookup,
    ) -> NspResult<()> {
        if !self.lookups.contains(Handle::from_raw(lookup.0)) {
            return Err(ctx.fail(WsaError::INVALID_HANDLE));
        }
        self.free_handle(ctx, lookup.0);
        Ok(())
    }

    fn set_service_ex(
        &mut self,
        ctx: &mut NspContext,
        call: AsyncCall,
        info: &QuerySet,
        op: SetServiceOp,
        flags: SetServiceFlags,
        _session: Option<SessionArg>,
    ) {
        let result = self.set_service(info, op, flags);
        match self.options().completion {
            CompletionMode::Inline | CompletionMode::UntilCancelled => {
                ctx.complete_async_call(call, result)
            }
            CompletionMode::Deferred => {
                self.defer(ctx, Deferred::Set { call, result });
            }
        }
    }

    fn client_session_rundown(&mut self, ctx: &mut NspContext, session: Option<SessionArg>) {
        if self.bug == Some(Bug::IgnoreRundown) {
            return; // the bug: the session and its state leak
        }
        self.end_session(ctx, session);
    }

    fn run_deferred(&mut self, ctx: &mut NspContext, token: WorkToken) {
        match self.deferred.remove(&token.0) {
            Some(Deferred::Next {
                call,
                handle,
                flags,
                buffer,
            }) => self.answer(ctx, call, handle, flags, buffer),
            Some(Deferred::Set { call, result }) => ctx.complete_async_call(call, result),
            None => {}
        }
    }

    fn held_state(&self) -> Option<HeldState> {
        Some(HeldState {
            sessions: self.sessions.len(),
            lookups: self.lookups.len(),
        })
    }
}
