//! Line 1 of a trace: format version, mode, seed, policies and the embedded scenario.

use super::json::DecodeError;
use serde_json::Value;
use std::fmt::Write;

/// The format version this nspsim writes and reads.
pub const VERSION: u32 = 1;

/// Sim (deterministic scheduler) or live (real threads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Sim,
    Live,
}

impl Mode {
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Sim => "sim",
            Mode::Live => "live",
        }
    }
}

/// The trace header.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceHeader {
    pub version: u32,
    pub mode: Mode,
    pub seed: u64,
    pub profile: String,
    pub startup_policy: String,
    /// The whole scenario that was run, so the trace replays from the file alone.
    pub scenario: Value,
}

impl TraceHeader {
    /// Line 1, with its `\n`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let text = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        let _ = writeln!(
            out,
            "{{\"nsptrace\":{},\"mode\":\"{}\",\"seed\":{},\"profile\":{},\"startup_policy\":{},\"scenario\":{}}}",
            self.version,
            self.mode.name(),
            self.seed,
            text(&self.profile),
            text(&self.startup_policy),
            serde_json::to_string(&self.scenario).unwrap_or_else(|_| "{}".into()),
        );
        out
    }

    /// Parses line 1 (without its `\n`).
    pub fn decode(line: &str) -> Result<TraceHeader, DecodeError> {
        let e = |m: &str| DecodeError(m.to_string());
        let value: Value = serde_json::from_str(line)
            .map_err(|err| DecodeError(format!("header is not JSON: {err}")))?;
        let o = value
            .as_object()
            .ok_or_else(|| e("the header must be a JSON object"))?;
        let version = o.get("nsptrace").and_then(Value::as_u64).ok_or_else(|| {
            e("the header needs `nsptrace`, the format version (this is not an nsptrace file?)")
        })?;
        if version != u64::from(VERSION) {
            return Err(DecodeError(format!(
                "nsptrace version {version} is not supported; this nspsim reads version {VERSION}"
            )));
        }
        let text = |k: &str| {
            o.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| DecodeError(format!("the header needs `{k}` as a string")))
        };
        let mode = match text("mode")?.as_str() {
            "sim" => Mode::Sim,
            "live" => Mode::Live,
            other => {
                return Err(DecodeError(format!(
                    "`mode` must be \"sim\" or \"live\", not \"{other}\""
                )));
            }
        };
        Ok(TraceHeader {
            version: VERSION,
            mode,
            seed: o
                .get("seed")
                .and_then(Value::as_u64)
                .ok_or_else(|| e("the header needs `seed` as a non-negative integer"))?,
            profile: text("profile")?,
            startup_policy: text("startup_policy")?,
            scenario: o
                .get("scenario")
                .cloned()
                .ok_or_else(|| e("the header needs `scenario`"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_the_documented_layout_and_round_trips() {
        let h = TraceHeader {
            version: 1,
            mode: Mode::Sim,
            seed: 7,
            profile: "win7".into(),
            startup_policy: "per-process".into(),
            scenario: serde_json::json!({ "name": "crash-after-lookup" }),
        };
        let line = h.encode();
        assert_eq!(
            line,
            "{\"nsptrace\":1,\"mode\":\"sim\",\"seed\":7,\"profile\":\"win7\",\"startup_policy\":\"per-process\",\"scenario\":{\"name\":\"crash-after-lookup\"}}\n"
        );
        assert_eq!(TraceHeader::decode(line.trim_end()), Ok(h));
    }

    #[test]
    fn an_unknown_version_is_refused_by_number() {
        let e = TraceHeader::decode(r#"{"nsptrace":2,"mode":"sim"}"#).expect_err("v2");
        assert_eq!(
            e.0,
            "nsptrace version 2 is not supported; this nspsim reads version 1"
        );
        assert!(TraceHeader::decode(r#"{"mode":"sim"}"#).is_err());
    }
}
