//! The dispatcher alone, events discarded: WSALookupServiceBegin + Next×2 + End against an
//! inline in-memory provider (issue 2's throughput figure). Four client API calls per
//! iteration; divan reports time per iteration.
//!
//! Run: `cargo bench -p nspsim-runtime --bench dispatcher`

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use common::{TinyProvider, guid};
use nspsim_runtime::wsa::{LupFlags, Namespace, QuerySet};
use nspsim_runtime::{CatalogEntry, Config, Dispatcher, NullSink, Pid, Role, Tid};

fn main() {
    divan::main();
}

fn world() -> (Dispatcher<NullSink>, Pid) {
    let mut d = Dispatcher::new(Config::default(), NullSink);
    d.install_provider(CatalogEntry::new(guid(1), "mail", Namespace::EMAIL))
        .expect("install");
    let host = d.create_process("host", Role::Host);
    d.wsa_startup(host, Tid(1), (2, 2)).expect("startup");
    let provider = TinyProvider::new().with_entry("alice@example.com", &["192.0.2.10:25"]);
    d.wsa_advertise_provider(host, Tid(1), guid(1), Box::new(provider))
        .expect("advertise");
    let client = d.create_process("client", Role::Client);
    d.wsa_startup(client, Tid(1), (2, 2)).expect("startup");
    (d, client)
}

/// Begin, Next (a result), Next (WSA_E_NO_MORE), End: four client API calls.
#[divan::bench]
fn lookup_begin_next2_end(bencher: divan::Bencher) {
    let (mut d, client) = world();
    let q = QuerySet::restrictions(Namespace::EMAIL, "alice@example.com");
    let flags = LupFlags::RETURN_NAME | LupFlags::RETURN_ADDR;
    bencher
        .counter(divan::counter::ItemsCount::new(4usize))
        .bench_local(|| {
            let h = d
                .wsa_lookup_service_begin(client, Tid(1), &q, flags)
                .expect("begin");
            for _ in 0..2 {
                let _ = divan::black_box(d.wsa_lookup_service_next(client, Tid(1), h, flags, 4096));
            }
            d.wsa_lookup_service_end(client, Tid(1), h).expect("end");
        });
}
