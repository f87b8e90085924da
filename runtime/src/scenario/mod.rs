//! Scenario files (docs/scenario-format.md, version 1): parsing, validation and the typed model.
//!
//! [`parse`] (or [`load`]) turns TOML text into a [`Scenario`] in which every value is typed,
//! every default is filled in and every reference is resolved; anything wrong is a
//! [`ScenarioError`] naming file, line and column and what was expected. The checks, in file
//! order, are:
//!
//! - unknown keys anywhere (at the top level, in `[[provider]]`, `[[host]]`, `[[process]]`,
//!   `[[process.thread]]`, and per step: a key that does not belong to the step's `op` is an
//!   error naming the op and the key); `[provider.options]` is the kind's business;
//! - types, Windows names (`namespace`, `flags`, `err`: a name from docs/semantics.md §11 or a
//!   number), GUIDs, addresses, `version` ("M.m");
//! - [`limits`], each error naming the limit and the value;
//! - provider ids and names unique; host and process names unique (one space: both are
//!   processes); provider kinds registered and their options accepted by the kind;
//! - references: `provider` of `advertise`, `unadvertise`, `install`, `uninstall`, `enable`,
//!   `disable` must name a declared provider (by name or id); `provider` of `lookup`,
//!   `lookup_begin` and `set_service` too, except that any full GUID is accepted there (to
//!   exercise unknown-provider errors). All are resolved to the provider's id.
//! - handles: `lookup_next`/`lookup_end` must name the `as` of an earlier `lookup_begin` of the
//!   same process, where "earlier" is program text order of that process: its main `steps`,
//!   then each `[[process.thread]]` in order (a host is one thread). A handle name is defined
//!   once per process.
//! - step order within a thread: `expect` is never a thread's first step, nor right after
//!   `expect` or `sleep` (no outcome to check); nothing follows `exit` or `crash` (it would
//!   never run).
//! - expectations (docs/scenario-format.md, "Expectations"): `version` only right after a
//!   `startup`, `required` only after `lookup`, `lookup_next` or `enum_providers` and only with
//!   WSAEFAULT, `results` only after `lookup` or `lookup_next` (at most one result after a
//!   `lookup_next`, consistent with `err`), providers in `results` and `expect_calls` declared,
//!   `expect_calls` processes declared; `buffer = "required"` only after an earlier
//!   `lookup_next` of the same handle.
//!
//! Choices beyond docs/scenario-format.md, all documented on the model too:
//!
//! - `[[provider]]` `host` defaults to `"<provider name>-host"`, an implicit host
//!   ([`Scenario::implicit_hosts`]). A `host` given must name a `[[host]]`, a `[[process]]` (a
//!   client may host) or some provider's implicit host; any other name is an error at `host`
//!   (a typo would otherwise quietly make a host process).
//! - `[[provider]]` `version` (optional, default 1) is the catalog entry's version.
//! - `lookup`, `lookup_begin`, `set_service`: `name` is optional; absent passes a NULL name.
//! - `lookup_begin` needs `as`; its `next`/`buffer` are not accepted (Begin returns no results).
//! - `lookup_next` without `flags` uses the flags of the `lookup_begin` that defined the handle
//!   ([`Step::LookupNext`] keeps `None`).
//! - `flags` is a list of names or numbers (or one of them); strings may also be numbers
//!   (`"0x2000"`).
//! - `expect` needs `err`; `"NO_ERROR"`, `"0"` and `0` mean success.
//! - `seed` may also be a string (decimal or `0x` hex) for seeds above 2^63 − 1, which TOML
//!   integers cannot hold.
//! - A `[[process]]` without `steps` has an empty main thread.
//!
//! The JSON form ([`Scenario::to_json`], [`Scenario::from_json`]) is embedded in trace headers;
//! it goes through the same checks when read back.

mod error;
mod json_form;
pub mod limits;
mod model;
mod node;
mod parse;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_expect;

pub use error::ScenarioError;
pub use model::{
    Authority, CallCount, ExpectCalls, ExpectErr, Expectation, ExpectedResult, HostSpec, Level,
    Napi, NextBuffer, NextCount, ProcessSpec, ProcessTemplate, Profile, ProviderSpec, Scenario,
    StartupPolicy, Step, Target, ThreadSpec,
};
pub use parse::JSON_FILE;

use crate::registry::Registry;
use std::io::Read;
use std::path::Path;

/// Parses and validates a scenario. `file_name` is only used in errors.
pub fn parse(file_name: &str, text: &str, registry: &Registry) -> Result<Scenario, ScenarioError> {
    parse::from_toml(file_name, text, Some(registry))
}

/// Reads a scenario file (at most [`limits::MAX_FILE_BYTES`], UTF-8) and [`parse`]s it. A file
/// that cannot be read is a `ScenarioError` without a position (line and column 0); one over
/// the size limit is one at line 1, column 1.
pub fn load(path: &Path, registry: &Registry) -> Result<Scenario, ScenarioError> {
    let file_name = path.display().to_string();
    let at_start = |message: String, expected: Option<String>| ScenarioError {
        file: file_name.clone(),
        line: 1,
        column: 1,
        message,
        expected,
        source_line: None,
    };
    let unreadable = |e: std::io::Error| ScenarioError {
        file: file_name.clone(),
        line: 0,
        column: 0,
        message: format!("cannot read {file_name}: {e}"),
        expected: None,
        source_line: None,
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    let cap = u64::try_from(limits::MAX_FILE_BYTES)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    file.take(cap).read_to_end(&mut bytes).map_err(unreadable)?;
    if bytes.len() > limits::MAX_FILE_BYTES {
        return Err(at_start(
            format!(
                "the file is over the limit MAX_FILE_BYTES = {}",
                limits::MAX_FILE_BYTES
            ),
            None,
        ));
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let prefix = String::from_utf8_lossy(bytes.get(..valid).unwrap_or(&[])).into_owned();
            let (line, column, source_line) = error::position(&prefix, prefix.len());
            return Err(ScenarioError {
                file: file_name,
                line,
                column,
                message: "the scenario is not UTF-8 text".into(),
                expected: Some("UTF-8 text".into()),
                source_line: Some(source_line),
            });
        }
    };
    let mut scenario = parse(&file_name, &text, registry)?;
    if let Some(dir) = path.parent() {
        scenario.set_base_dir(dir);
    }
    Ok(scenario)
}
