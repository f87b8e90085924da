//! This crate's own `nspsim`: the stock command line with the mailbox kinds registered, to
//! replay the traces its tests write and to run its scenarios by hand.
//!
//! ```text
//! cargo run -p nspsim-example-provider --example nspsim -- providers
//! cargo run -p nspsim-example-provider --example nspsim -- replay target/nspsim/…/….jsonl
//! cargo run -p nspsim-example-provider --example nspsim -- explore providers/example-rust/tests/lifecycle.toml
//! ```

fn main() -> std::process::ExitCode {
    let mut kinds = nspsim::builtin_kinds();
    kinds.register(Box::new(nspsim_example_provider::MailboxKind::fixed()));
    kinds.register(Box::new(nspsim_example_provider::MailboxKind::buggy()));
    nspsim::cli::main_with(kinds)
}
