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

    // Instances: fork + connect + the host main + the greeting.
    let n = 500;
    let start = Instant::now();
    for _ in 0..n {
        drop(factory()?);
    }
    let per = start.elapsed() / n;
    println!("fresh instance (fork, host main, greeting): {per:?} each");

    let mut p = factory()?;
    // The smallest call: Startup (no payload), then Cleanup.
    let n = 100_000u32;
    let start = Instant::now();
    for _ in 0..n / 2 {
        let s = p.startup(&mut ctx).map_err(|_| "Startup failed")?;
        p.cleanup(&mut ctx, s).map_err(|_| "Cleanup failed")?;
    }
    let el = start.elapsed();
    println!(
        "Startup/Cleanup: {:.2} µs per call, {:.0} calls/s",
        el.as_secs_f64() * 1e6 / f64::from(n),
        f64::from(n) / el.as_secs_f64()
    );

    // A lookup: Begin (a query set image), NextEx (a 4 KiB buffer back, parsed), End.
    let session = p.startup(&mut ctx).map_err(|_| "Startup failed")?;
    let q = QuerySet::restrictions(Namespace::EMAIL, "bob@contoso.com");
    let flags = LupFlags::RETURN_NAME | LupFlags::RETURN_ADDR | LupFlags::RETURN_COMMENT;
    let rounds = 20_000u32;
    let start = Instant::now();
    for i in 0..rounds {
        let h = p
            .lookup_service_begin(&mut ctx, &q, flags, session)
            .map_err(|_| "Begin failed")?;
        p.lookup_service_next_ex(&mut ctx, AsyncCall(u64::from(i)), h, flags, 4096);
        let _ = ctx.take_ops();
        p.lookup_service_end(&mut ctx, h)
            .map_err(|_| "End failed")?;
    }
    let el = start.elapsed();
    let calls = f64::from(rounds * 3);
    println!(
        "Begin/NextEx/End: {:.2} µs per call, {:.0} calls/s",
        el.as_secs_f64() * 1e6 / calls,
        calls / el.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
