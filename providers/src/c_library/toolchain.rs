//! The C side of nspsim, shipped inside the binary: the provider host's sources and the Windows
//! headers are embedded with `include_str!`, written to a cache directory, and the host is
//! compiled there at first use with the system's C compiler. So `cargo install nspsim` is
//! enough: `nspsim cc-flags` and C providers work without the repository.
//!
//! The cache is `$NSPSIM_CACHE_DIR`, else `$XDG_CACHE_HOME/nspsim`, else `$HOME/.cache/nspsim`,
//! and inside it a directory named by a hash of every embedded file, the C compiler (`$CC` as
//! given) and the target (architecture and OS), so a newer nspsim never runs an older host and
//! a host built by another compiler or for another architecture (a cache directory shared
//! between machines, or `CC` changed to a cross or sanitizing compiler) is never taken. Files are written under a temporary name and renamed into place, so two
//! nspsim processes that race to fill the cache both end up with complete files.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The host's sources (PROTOCOL.md is embedded too: it is part of what a host version is).
const HOST_SOURCES: [(&str, &str); 4] = [
    ("nspsim_host.c", include_str!("../../c/host/nspsim_host.c")),
    (
        "nspsim_winapi.c",
        include_str!("../../c/host/nspsim_winapi.c"),
    ),
    ("nspsim_host.h", include_str!("../../c/host/nspsim_host.h")),
    ("PROTOCOL.md", include_str!("../../c/host/PROTOCOL.md")),
];

/// The headers a provider compiles against (`providers/c/include`).
const HEADERS: [(&str, &str); 5] = [
    ("nspsim_win.h", include_str!("../../c/include/nspsim_win.h")),
    ("windows.h", include_str!("../../c/include/windows.h")),
    ("winsock2.h", include_str!("../../c/include/winsock2.h")),
    ("ws2spi.h", include_str!("../../c/include/ws2spi.h")),
    ("ws2tcpip.h", include_str!("../../c/include/ws2tcpip.h")),
];

/// Which host binary: plain, or built with AddressSanitizer so that a provider built with
/// `-fsanitize=address` finds the sanitizer's runtime already loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Variant {
    Plain,
    Address,
}

impl Variant {
    fn file_name(self) -> &'static str {
        match self {
            Variant::Plain => "nspsim_host",
            Variant::Address => "nspsim_host_asan",
        }
    }
}

/// FNV-1a, 64 bits: stable across Rust versions and platforms, unlike std's hashers, which
/// matters because it names a directory on disk.
fn fnv1a(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
}

/// The name of this nspsim's cache subdirectory: a hash of every embedded file, the compiler
/// and the target (see the module documentation).
pub fn sources_hash() -> String {
    let (program, pre) = compiler();
    cache_key(&program, &pre, std::env::consts::ARCH, std::env::consts::OS)
}

/// [`sources_hash`] for a given compiler and target.
fn cache_key(program: &str, pre: &[String], arch: &str, os: &str) -> String {
    let mut h = 0xcbf2_9ce4_8422_2325_u64;
    for (name, text) in HOST_SOURCES.iter().chain(HEADERS.iter()) {
        fnv1a(&mut h, name.as_bytes());
        fnv1a(&mut h, &[0]);
        fnv1a(&mut h, text.as_bytes());
        fnv1a(&mut h, &[0]);
    }
    for word in [program, arch, os]
        .into_iter()
        .chain(pre.iter().map(String::as_str))
    {
        fnv1a(&mut h, word.as_bytes());
        fnv1a(&mut h, &[0]);
    }
    format!("{h:016x}")
}

/// The cache root (see the module documentation).
pub fn cache_root() -> Result<PathBuf, String> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(d) = var("NSPSIM_CACHE_DIR") {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = var("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(d).join("nspsim"));
    }
    if let Some(d) = var("HOME") {
        return Ok(PathBuf::from(d).join(".cache").join("nspsim"));
    }
    Err("no cache directory for nspsim's C host: set NSPSIM_CACHE_DIR (or HOME)".into())
}

/// This version's cache directory.
fn version_dir() -> Result<PathBuf, String> {
    Ok(cache_root()?.join(sources_hash()))
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// A name beside `target` no other writer uses: the process id and a counter.
fn temp_beside(target: &Path) -> PathBuf {
    let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp.{}.{n}", std::process::id()));
    target.with_file_name(name)
}

/// Writes `text` to `path` unless it is already there with that content.
fn write_file(path: &Path, text: &str) -> Result<(), String> {
    if std::fs::read(path).is_ok_and(|b| b == text.as_bytes()) {
        return Ok(());
    }
    let tmp = temp_beside(path);
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot write {}: {e}", path.display())
        })
}

fn write_all(dir: &Path, files: &[(&str, &str)]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for (name, text) in files {
        write_file(&dir.join(name), text)?;
    }
    Ok(())
}

/// The directory holding the Windows headers a provider compiles against; written on first use.
pub fn include_dir() -> Result<PathBuf, String> {
    let dir = version_dir()?.join("include");
    write_all(&dir, &HEADERS)?;
    Ok(dir)
}

/// The flags that compile and link a provider shared library on this platform, one per item
/// (`nspsim cc-flags` prints them on one line).
pub fn cc_flags() -> Result<Vec<String>, String> {
    let include = include_dir()?;
    let mut flags = vec![
        format!("-I{}", include.display()),
        "-std=c11".to_string(),
        "-fshort-wchar".to_string(),
    ];
    flags.extend(shared_library_flags().iter().map(|s| s.to_string()));
    Ok(flags)
}

/// How a shared library that leaves the Winsock/kernel32 symbols for its host is linked.
#[cfg(target_os = "macos")]
fn shared_library_flags() -> &'static [&'static str] {
    // macOS: untested here (no macOS machine); `dynamic_lookup` defers the provider's
    // undefined symbols to load time, where the host's exports satisfy them.
    &["-dynamiclib", "-undefined", "dynamic_lookup"]
}

#[cfg(not(target_os = "macos"))]
fn shared_library_flags() -> &'static [&'static str] {
    &["-shared", "-fPIC"]
}

/// The file name a provider library conventionally has here (`libNAME.so`, `libNAME.dylib`).
pub fn library_file_name(name: &str) -> String {
    if cfg!(target_os = "macos") {
        format!("lib{name}.dylib")
    } else {
        format!("lib{name}.so")
    }
}

/// The C compiler: `$CC` (which may carry arguments, such as `ccache cc`), else `cc`.
pub fn compiler() -> (String, Vec<String>) {
    let cc = std::env::var("CC")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| "cc".to_string());
    let mut words = cc.split_whitespace().map(str::to_string);
    let program = words.next().unwrap_or_else(|| "cc".to_string());
    (program, words.collect())
}

/// Runs the C compiler with `args`; `Err` carries what it printed, or how to install one.
pub fn run_compiler(args: &[String]) -> Result<(), String> {
    let (program, pre) = compiler();
    let out = Command::new(&program)
        .args(&pre)
        .args(args)
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "no C compiler: `{program}` was not found. nspsim compiles its C provider host with \
                     the system's C compiler ($CC, else cc); install one (Debian/Ubuntu: \
                     apt-get install gcc; Fedora: dnf install gcc; macOS: xcode-select --install)"
                )
            } else {
                format!("cannot run the C compiler `{program}`: {e}")
            }
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program} {}` failed ({}):\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        ))
    }
}

/// Serializes compilation within this process; other processes are handled by the rename.
static COMPILING: Mutex<()> = Mutex::new(());

/// The host executable for `variant`, compiled into the cache on first use.
pub fn host_binary(variant: Variant) -> Result<PathBuf, String> {
    let dir = version_dir()?;
    let exe = dir.join(variant.file_name());
    if exe.is_file() {
        return Ok(exe);
    }
    let _guard = COMPILING.lock().unwrap_or_else(|e| e.into_inner());
    if exe.is_file() {
        return Ok(exe);
    }
    let include = include_dir()?;
    let src = dir.join("host");
    write_all(&src, &HOST_SOURCES)?;
    let tmp = temp_beside(&exe);
    let mut args: Vec<String> = ["-std=c11", "-O2", "-fshort-wchar", "-rdynamic", "-pthread"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if variant == Variant::Address {
        args.extend([
            "-fsanitize=address".into(),
            "-fno-omit-frame-pointer".into(),
        ]);
    }
    args.push(format!("-I{}", include.display()));
    args.push(format!("-I{}", src.display()));
    args.push("-o".into());
    args.push(tmp.display().to_string());
    args.push(src.join("nspsim_host.c").display().to_string());
    args.push(src.join("nspsim_winapi.c").display().to_string());
    // dlopen lives in libdl on older glibc; macOS has it in libSystem.
    if cfg!(target_os = "linux") {
        args.push("-ldl".into());
    }
    let built =
        run_compiler(&args).map_err(|e| format!("cannot build nspsim's C provider host: {e}"));
    if let Err(e) = built {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &exe).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot install {}: {e}", exe.display())
    })?;
    Ok(exe)
}

#[cfg(test)]
mod tests {
    use super::cache_key;

    #[test]
    fn the_cache_key_names_the_compiler_and_the_target() {
        let base = cache_key("cc", &[], "x86_64", "linux");
        assert_eq!(base, cache_key("cc", &[], "x86_64", "linux"));
        assert_ne!(base, cache_key("clang", &[], "x86_64", "linux"));
        assert_ne!(base, cache_key("/usr/bin/cc", &[], "x86_64", "linux"));
        assert_ne!(base, cache_key("cc", &["-m32".into()], "x86_64", "linux"));
        assert_ne!(base, cache_key("cc", &[], "aarch64", "linux"));
        assert_ne!(base, cache_key("cc", &[], "x86_64", "macos"));
    }
}
