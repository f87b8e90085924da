//! Memory of many live sessions: 100,000 started client processes, each with a live session
//! on 3 providers (issue 2's memory figure). Prints peak RSS and bytes per session.
//!
//! Run: `cargo run --release -p nspsim-runtime --example memory [processes]`

use nspsim_runtime::provider::{
    AsyncCall, NspContext, NspResult, NspV2Provider, ProviderLookup, RoutineTable, SessionArg,
};
use nspsim_runtime::wsa::{Guid, LupFlags, Namespace, QuerySet, WsaError};
use nspsim_runtime::{CatalogEntry, Config, Dispatcher, NullSink, Role, Tid};

/// A provider that opens sessions and answers every lookup with WSA_E_NO_MORE.
struct Counter {
    next: u64,
}

impl NspV2Provider for Counter {
    fn routine_table(&self) -> RoutineTable {
        RoutineTable::full()
    }
    fn startup(&mut self, _: &mut NspContext) -> NspResult<Option<SessionArg>> {
        self.next += 1;
        Ok(SessionArg::new(self.next))
    }
    fn cleanup(&mut self, _: &mut NspContext, _: Option<SessionArg>) -> NspResult<()> {
        Ok(())
    }
    fn lookup_service_begin(
        &mut self,
        _: &mut NspContext,
        _: &QuerySet,
        _: LupFlags,
        _: Option<SessionArg>,
    ) -> NspResult<ProviderLookup> {
        Ok(ProviderLookup(1))
    }
    fn lookup_service_next_ex(
        &mut self,
        ctx: &mut NspContext,
        call: AsyncCall,
        _: ProviderLookup,
        _: LupFlags,
        _: u32,
    ) {
        ctx.complete_async_call(call, Err(WsaError::E_NO_MORE));
    }
    fn lookup_service_end(&mut self, _: &mut NspContext, _: ProviderLookup) -> NspResult<()> {
        Ok(())
    }
}

fn rss_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let processes: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let before = rss_kib("VmRSS:").unwrap_or(0);
    let mut d = Dispatcher::new(Config::default(), NullSink);
    let host = d.create_process("host", Role::Host);
    d.wsa_startup(host, Tid(1), (2, 2)).expect("startup");
    for n in 1..=3u128 {
        let id = Guid::from_u128(n);
        d.install_provider(CatalogEntry::new(id, format!("p{n}"), Namespace::EMAIL))
            .expect("install");
        d.wsa_advertise_provider(host, Tid(1), id, Box::new(Counter { next: 0 }))
            .expect("advertise");
    }
    let q = QuerySet::restrictions(Namespace::EMAIL, "x@example.com");
    for i in 0..processes {
        let pid = d.create_process("client", Role::Client);
        d.wsa_startup(pid, Tid(1), (2, 2)).expect("startup");
        // One lookup opens a session with each of the three providers.
        let h = d
            .wsa_lookup_service_begin(pid, Tid(1), &q, LupFlags::NON_AUTHORITATIVE)
            .expect("begin");
        d.wsa_lookup_service_end(pid, Tid(1), h).expect("end");
        if i == 0 {
            assert_eq!(d.live_sessions(pid), 3);
        }
    }
    let after = rss_kib("VmRSS:").unwrap_or(0);
    let peak = rss_kib("VmHWM:").unwrap_or(0);
    let sessions = u64::from(processes) * 3;
    let grown = after.saturating_sub(before) * 1024;
    println!("processes: {processes}, live sessions: {sessions}");
    println!(
        "peak RSS: {:.1} MiB; grown by {:.1} MiB; {} bytes per session (process included)",
        peak as f64 / 1024.0,
        grown as f64 / (1024.0 * 1024.0),
        grown / sessions.max(1)
    );
}
