//! Limits on everything a scenario can ask for (DESIGN.md, TigerBeetle style). A scenario over
//! a limit is rejected at load time with an error naming the limit and the value.

/// Largest scenario file, in bytes.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// `[[provider]]` tables.
pub const MAX_PROVIDERS: usize = 64;
/// `[[host]]` tables.
pub const MAX_HOSTS: usize = 64;
/// Processes made by `[[process]]` tables (a table with `count = N` makes N).
pub const MAX_PROCESSES: usize = 16_384;
/// Steps of every process together, templates expanded: what a template may make is
/// bounded as a file is (a 1 MiB file holds far fewer).
pub const MAX_TOTAL_STEPS: usize = 1 << 20;
/// Threads of one process, counting its main thread (so at most 15 `[[process.thread]]`).
pub const MAX_THREADS_PER_PROCESS: usize = 16;
/// Steps of one thread (a host's script counts as one thread).
pub const MAX_STEPS_PER_THREAD: usize = 1024;
/// `buffer` of `lookup`, `lookup_next` and `enum_providers`, in bytes.
pub const MAX_BUFFER_BYTES: u32 = 1024 * 1024;
/// `us` of `sleep` (one hour of virtual time).
pub const MAX_SLEEP_US: u64 = 3_600_000_000;
/// Length in characters of every name: scenario, provider, host, process, handle, service
/// instance, provider kind.
pub const MAX_NAME_CHARS: usize = 256;
/// Domains of one provider's `napi` table.
pub const MAX_NAPI_DOMAINS: usize = 64;
/// `addrs` of one `set_service`.
pub const MAX_ADDRS: usize = 64;
/// `next` of a `lookup` given as a count.
pub const MAX_NEXT_COUNT: u32 = 1_000_000;
/// Nesting of arrays and tables (only `[provider.options]` nests more than three deep).
pub const MAX_DEPTH: usize = 32;
/// Entries of one `expect`'s `results`.
pub const MAX_EXPECT_RESULTS: usize = 1024;
/// Entries of `expect_calls`.
pub const MAX_EXPECT_CALLS: usize = 256;
/// Errors of one `expect`'s `err` list.
pub const MAX_EXPECT_ERRORS: usize = 32;
