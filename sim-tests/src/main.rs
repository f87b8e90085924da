//! `nspsim`: run NSPv2 lifecycle scenarios deterministically, replay and check their traces.
//!
//! The whole command line is [`nspsim::cli::main_with`]; this binary gives it the built-in
//! provider kinds.

/// Exploration allocates and frees small objects at every step of every seed; mimalloc's
/// per-thread free lists make the shuttle model's seeds about 9% faster than glibc's malloc
/// (69.3k → 75.5k seeds/s, `bench/compare-shuttle.sh`). Nothing that reaches a trace depends
/// on the allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    nspsim::cli::main_with(nspsim_providers::registry())
}
