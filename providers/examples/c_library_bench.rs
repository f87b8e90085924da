//! Round-trip figures for C providers: how fast a call reaches the host process and returns,
//! and how fast a fresh instance (a fork) is made. Prints numbers; asserts nothing.
//!
//! ```sh
//! cargo run --release -p nspsim-providers --example c_library_bench
//! ```

use nspsim_core::provider::CallSite;
use nspsim_core::{AsyncCall, Guid, LupFlags, Namespace, NspContext, ProviderKind, QuerySet};
use nspsim_providers::c_library::{self, CLibraryKind, toolchain};
use std::time::Instant;

const CONTOSO: Guid = Guid(0x6c3f4a52_1d2e_4b7a_9c1e_5a0b8d7e2f31);

fn main() -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("nspsim-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let lib = dir.join(toolchain::library_file_name("contoso"));
    let mut args = toolchain::cc_flags()?;
    args.extend([
        "-O2".to_string(),
        "-o".to_string(),
        lib.display().to_string(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/c/examples/contoso.c").to_string(),
    ]);
    toolchain::run_compiler(&args)?;
    let options = c_library::with_identity(
        &serde_json::json!({ "path": lib, "entry": "ContosoHostMain" }),
        CONTOSO,
        "contoso",
    );
    let factory = CLibraryKind.prepare(&options)?;
    let mut ctx = NspContext::new(CallSite {
        provider: CONTOSO,
        pid: 1,
    });

    // The machine may be shared: every figure is the best of ten batches, the least disturbed
    // one, beside the median.
    let report = |what: &str, per_batch: u32, mut times: Vec<std::time::Duration>| {
        times.sort();
        let us = |d: std::time::Duration| d.as_secs_f64() * 1e6 / f64::from(per_batch);
        println!(
            "{what}: best {:.2} µs ({:.0}/s), median {:.2} µs",
            us(times[0]),
            1e6 / us(times[0]),
            us(times[times.len() / 2])
        );
    };

    // Instances: fork + connect + the host main + the greeting (the fork server prepares the
    // next child while a run uses the current one, so part of this overlaps in exploration).
    let mut times = Vec::new();
    for _ in 0..10 {
        let start = Instant::now();
        for _ in 0..50 {
            drop(factory()?);
        }
        times.push(start.elapsed());
    }
    report("fresh instance", 50, times);

    let mut p = factory()?;
    // The smallest call: Startup (no payload), then Cleanup.
    let mut times = Vec::new();
    for _ in 0..10 {
        let start = Instant::now();
        for _ in 0..5_000 {
            let s = p.startup(&mut ctx).map_err(|_| "Startup failed")?;
            p.cleanup(&mut ctx, s).map_err(|_| "Cleanup failed")?;
        }
        times.push(start.elapsed());
    }
    report("Startup/Cleanup round trip", 10_000, times);

    // A lookup: Begin (a query set image), NextEx (a 4 KiB buffer back, parsed), End.
    let session = p.startup(&mut ctx).map_err(|_| "Startup failed")?;
    let q = QuerySet::restrictions(Namespace::EMAIL, "bob@contoso.com");
    let flags = LupFlags::RETURN_NAME | LupFlags::RETURN_ADDR | LupFlags::RETURN_COMMENT;
    let mut times = Vec::new();
    let mut call = 0u64;
    for _ in 0..10 {
        let start = Instant::now();
        for _ in 0..2_000 {
            call += 1;
            let h = p
                .lookup_service_begin(&mut ctx, &q, flags, session)
                .map_err(|_| "Begin failed")?;
            p.lookup_service_next_ex(&mut ctx, AsyncCall(call), h, flags, 4096);
            let _ = ctx.take_ops();
            p.lookup_service_end(&mut ctx, h)
                .map_err(|_| "End failed")?;
        }
        times.push(start.elapsed());
    }
    report("Begin/NextEx/End, per call", 6_000, times);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
