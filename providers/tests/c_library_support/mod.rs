//! Shared by the `c_library*` tests: compiling C fixtures with `nspsim cc-flags`' flags, and
//! driving a provider the way the dispatcher does.
#![allow(dead_code)] // each test crate uses a different part

use nspsim_core::provider::{CallSite, ContextOp};
use nspsim_core::{Guid, NspContext, NspV2Provider};
use nspsim_providers::c_library::{self, CLibraryOptions, toolchain};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The id probe.c and winapi.c advertise.
pub const ID: Guid = Guid(0x3c1d2e4f_5a6b_4c7d_8e9f_a0b1c2d3e4f5);
/// The id contoso.c advertises.
pub const CONTOSO_ID: Guid = Guid(0x6c3f4a52_1d2e_4b7a_9c1e_5a0b8d7e2f31);

/// A directory for this test process's libraries.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("c_library-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir
    })
}

/// Compiles `source` (a file under tests/c_library_fixtures, or an absolute path) into a shared
/// library with the flags `nspsim cc-flags` prints, warnings as errors. Cached per process.
pub fn library(source: &str) -> PathBuf {
    library_with(source, &[])
}

pub fn library_with(source: &str, extra: &[&str]) -> PathBuf {
    let src = if Path::new(source).is_absolute() {
        PathBuf::from(source)
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/c_library_fixtures")
            .join(source)
    };
    let stem = src
        .file_stem()
        .expect("a file")
        .to_string_lossy()
        .into_owned();
    let tag = extra.join("").replace(['-', '='], "");
    let out = scratch().join(toolchain::library_file_name(&format!("{stem}{tag}")));
    if out.is_file() {
        return out;
    }
    let mut args = toolchain::cc_flags().expect("cc-flags");
    args.extend(["-Wall", "-Wextra", "-Werror"].map(String::from));
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push("-o".into());
    // Threads of one test process may build the same fixture at once: each writes its own
    // file and renames it into place.
    let thread = format!("{:?}", std::thread::current().id())
        .replace(|c: char| !c.is_ascii_alphanumeric(), "");
    let tmp = PathBuf::from(format!("{}.{thread}.tmp", out.display()));
    args.push(tmp.display().to_string());
    args.push(src.display().to_string());
    toolchain::run_compiler(&args).unwrap_or_else(|e| panic!("{e}"));
    std::fs::rename(&tmp, &out).expect("rename");
    out
}

/// Options for probe.c's host main with these argv[1..].
pub fn probe(args: &[&str]) -> Value {
    json!({ "path": library("probe.c"), "entry": "ProbeMain", "args": args })
}

/// The options with the scenario's identity, as the runtime passes them.
pub fn bound(options: Value) -> Value {
    c_library::with_identity(&options, ID, "probe")
}

/// Builds an instance as the kind does.
pub fn build(options: Value) -> Result<Box<dyn NspV2Provider>, String> {
    use nspsim_core::ProviderKind;
    c_library::CLibraryKind.build(&bound(options))
}

/// Builds the concrete instance (for its host pid), with its fork server.
pub fn build_concrete(options: Value) -> Result<c_library::provider::CProvider, String> {
    let opts = CLibraryOptions::parse(&bound(options))?;
    let server = opts.spawn()?;
    opts.instance(&server)
}

/// A context for a call to the provider `ID` from process 1.
pub fn ctx() -> NspContext {
    ctx_for(ID)
}

pub fn ctx_for(provider: Guid) -> NspContext {
    NspContext::new(CallSite { provider, pid: 1 })
}

/// The operations of one call.
pub fn ops(ctx: &mut NspContext) -> Vec<ContextOp> {
    ctx.take_ops()
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state follows the command name's closing parenthesis.
            let state = stat
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start().chars().next());
            !matches!(state, Some(Some('Z')) | Some(None) | None)
        }
        Err(_) => false,
    }
}

/// Runs `f`, which must panic, and returns its payload.
pub fn panic_of<R>(f: impl FnOnce() -> R) -> Box<dyn std::any::Any + Send> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a contained panic"),
        Err(p) => p,
    }
}
