//! `nspsim`: run NSPv2 lifecycle scenarios deterministically, replay and check their traces.
//!
//! The whole command line is [`nspsim::cli::main_with`]; this binary gives it the built-in
//! provider kinds.

fn main() -> std::process::ExitCode {
    nspsim::cli::main_with(nspsim_providers::registry())
}
