//! The fast path for reading an event line: a hand-written parser for exactly the canonical form
//! [`super::json::encode_event`] writes (keys in the documented order, no whitespace, integers
//! without signs or leading zeros where the format has none, strings without escapes, `args`
//! and `result` keys sorted).
//!
//! Replay and check read every line of a trace, and serde_json's per-line cost was half of a
//! replay. The fast path says only "this line is canonical, and here is its event", or
//! nothing: anything else (an escape, a float, a key out of order, a value out of range, an
//! error of any kind) goes to the general serde path, which decides and words the error, so
//! errors are exactly those of the general path. Two properties hold it to that path (tested
//! on every golden trace's lines and on their mutations, `sim-tests/tests/fast_trace_lines.rs`):
//! whatever it accepts, the general path decodes to the same event, and encoding that event
//! gives the line back byte for byte.

use crate::event::{
    ApiFn, CompletionOutcome, Event, ExitHow, FaultKind, Fields, Label, Pid, Role, Stamped, Tid,
};
use crate::provider::NspFn;
use crate::wsa::{Guid, Namespace};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Deeper `args` values are left to the general path (serde_json's own limit is 128).
const MAX_DEPTH: usize = 16;

/// The `args` and `result` keys the dispatcher writes (sorted): kept as `&'static str` rather
/// than a `String` each, as the dispatcher's own events hold them.
const KNOWN_KEYS: &[&str] = &[
    "addrs",
    "blob_len",
    "buffer",
    "comment",
    "context",
    "flags",
    "handle",
    "name",
    "namespace",
    "op",
    "output_flags",
    "provider",
    "query_string",
    "version",
];

/// The event of a canonical line (without its `\n`); `None` for anything else.
pub fn decode_canonical(line: &str) -> Option<Stamped> {
    let mut c = Cursor { line, at: 0 };
    c.lit("{\"seq\":")?;
    let seq = c.uint()?;
    c.lit(",\"t\":")?;
    let t = c.uint()?;
    c.lit(",\"ev\":")?;
    let kind = c.string()?;
    let event = match kind {
        "process.start" => Event::ProcessStart {
            pid: c.pid()?,
            name: c.key_string(",\"name\":")?.to_string(),
            role: Role::from_name(c.key_string(",\"role\":")?)?,
        },
        "process.exit" => Event::ProcessExit {
            pid: c.pid()?,
            how: ExitHow::from_name(c.key_string(",\"how\":")?)?,
        },
        "catalog.install" => Event::CatalogInstall {
            provider: c.provider()?,
            name: c.key_string(",\"name\":")?.to_string(),
            namespace: Namespace(c.key_u32(",\"namespace\":")?),
            version: c.key_u32(",\"version\":")?,
            ret: c.key_i32(",\"ret\":")?,
            err: c.key_u32(",\"err\":")?,
        },
        "catalog.uninstall" => Event::CatalogUninstall {
            provider: c.provider()?,
            ret: c.key_i32(",\"ret\":")?,
            err: c.key_u32(",\"err\":")?,
        },
        "catalog.enable" => Event::CatalogEnable {
            provider: c.provider()?,
            enabled: {
                c.lit(",\"enabled\":")?;
                c.boolean()?
            },
            ret: c.key_i32(",\"ret\":")?,
            err: c.key_u32(",\"err\":")?,
        },
        "provider.advertise" => Event::ProviderAdvertise {
            pid: c.pid()?,
            provider: c.provider()?,
            ret: c.key_i32(",\"ret\":")?,
            err: c.key_u32(",\"err\":")?,
            absent: {
                c.lit(",\"absent\":[")?;
                let mut absent = Vec::new();
                if !c.eat(b']') {
                    loop {
                        let f = NspFn::from_name(c.string()?).filter(|f| f.is_optional())?;
                        absent.push(f);
                        if c.eat(b']') {
                            break;
                        }
                        c.lit(",")?;
                    }
                }
                absent
            },
        },
        "provider.unadvertise" => Event::ProviderUnadvertise {
            pid: c.pid()?,
            provider: c.provider()?,
            ret: c.key_i32(",\"ret\":")?,
            err: c.key_u32(",\"err\":")?,
        },
        "api.call" => Event::ApiCall {
            pid: c.pid()?,
            tid: Tid(c.key_u32(",\"tid\":")?),
            call: ApiFn::from_name(c.key_string(",\"call\":")?)?,
            args: {
                c.lit(",\"args\":")?;
                c.fields()?
            },
        },
        "api.return" => Event::ApiReturn {
            pid: c.pid()?,
            tid: Tid(c.key_u32(",\"tid\":")?),
            call: ApiFn::from_name(c.key_string(",\"call\":")?)?,
            ret: c.key_i32(",\"ret\":")?,
            err: c.key_u32(",\"err\":")?,
            result: if c.lit(",\"result\":").is_some() {
                Some(c.fields()?)
            } else {
                None
            },
        },
        "nsp.call" => Event::NspCall {
            provider: c.provider()?,
            func: NspFn::from_name(c.key_string(",\"fn\":")?)?,
            pid: c.pid()?,
            session: {
                c.lit(",\"session\":")?;
                c.label_or_null()?
            },
            lookup: c.opt_label(",\"lookup\":")?,
            async_call: c.opt_label(",\"async\":")?,
            args: if c.lit(",\"args\":").is_some() {
                Some(c.fields()?)
            } else {
                None
            },
        },
        "nsp.return" => Event::NspReturn {
            provider: c.provider()?,
            func: NspFn::from_name(c.key_string(",\"fn\":")?)?,
            pid: c.pid()?,
            ret: {
                c.lit(",\"ret\":")?;
                if c.lit("null").is_some() {
                    None
                } else {
                    Some(c.i32()?)
                }
            },
            err: c.key_u32(",\"err\":")?,
            session: if c.lit(",\"session\":").is_some() {
                Some(c.label_or_null()?)
            } else {
                None
            },
            lookup: c.opt_label(",\"lookup\":")?,
        },
        "async.complete" => Event::AsyncComplete {
            provider: c.provider()?,
            async_call: Label::parse(c.key_string(",\"async\":")?)?,
            err: c.key_u32(",\"err\":")?,
            outcome: CompletionOutcome::from_name(c.key_string(",\"outcome\":")?)?,
        },
        "fault" => Event::Fault {
            provider: c.provider()?,
            func: NspFn::from_name(c.key_string(",\"fn\":")?)?,
            kind: FaultKind::from_name(c.key_string(",\"kind\":")?)?,
            detail: c.key_string(",\"detail\":")?.to_string(),
        },
        "violation" => Event::Violation {
            rule: c.key_string(",\"rule\":")?.to_string(),
            detail: c.key_string(",\"detail\":")?.to_string(),
        },
        "end" => Event::End {
            events: {
                c.lit(",\"events\":")?;
                c.uint()?
            },
            violations: {
                c.lit(",\"violations\":")?;
                c.uint()?
            },
        },
        _ => return None,
    };
    c.lit("}")?;
    (c.at == line.len()).then_some(Stamped { seq, t, event })
}

struct Cursor<'a> {
    line: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.line.as_bytes().get(self.at).copied()
    }

    #[inline]
    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.at += 1;
        }
        hit
    }

    /// Exactly `s` next (consumed), or `None` (nothing consumed).
    #[inline]
    fn lit(&mut self, s: &str) -> Option<()> {
        let rest = self.line.as_bytes().get(self.at..)?;
        rest.starts_with(s.as_bytes()).then(|| self.at += s.len())
    }

    /// A canonical non-negative integer: `0`, or digits without a leading zero, fitting a u64.
    /// What follows is checked by the caller's next literal, so `1.5` or `1e3` fail there.
    #[inline]
    fn uint(&mut self) -> Option<u64> {
        let bytes = self.line.as_bytes();
        let start = self.at;
        let mut n: u64 = 0;
        while let Some(&b) = bytes.get(self.at).filter(|b| b.is_ascii_digit()) {
            n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
            self.at += 1;
        }
        let digits = self.at - start;
        (digits == 1 || (digits > 1 && bytes[start] != b'0')).then_some(n)
    }

    /// A canonical integer that fits an i64; `-0` is left out (serde_json reads it as a float).
    fn int(&mut self) -> Option<i64> {
        if self.eat(b'-') {
            let n = self.uint()?;
            (n != 0).then_some(())?;
            0i64.checked_sub_unsigned(n)
        } else {
            i64::try_from(self.uint()?).ok()
        }
    }

    fn i32(&mut self) -> Option<i32> {
        i32::try_from(self.int()?).ok()
    }

    fn boolean(&mut self) -> Option<bool> {
        if self.lit("true").is_some() {
            Some(true)
        } else {
            self.lit("false").map(|()| false)
        }
    }

    /// A string without escapes or control characters (which a canonical line writes only
    /// escaped), borrowed from the line.
    #[inline]
    fn string(&mut self) -> Option<&'a str> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.at;
        let bytes = self.line.as_bytes();
        loop {
            match *bytes.get(self.at)? {
                b'"' => break,
                b'\\' | 0..0x20 => return None,
                _ => self.at += 1,
            }
        }
        let s = self.line.get(start..self.at)?;
        self.at += 1;
        Some(s)
    }

    #[inline]
    fn key_string(&mut self, key: &str) -> Option<&'a str> {
        self.lit(key)?;
        self.string()
    }

    #[inline]
    fn key_u32(&mut self, key: &str) -> Option<u32> {
        self.lit(key)?;
        u32::try_from(self.uint()?).ok()
    }

    #[inline]
    fn key_i32(&mut self, key: &str) -> Option<i32> {
        self.lit(key)?;
        self.i32()
    }

    #[inline]
    fn pid(&mut self) -> Option<Pid> {
        self.key_u32(",\"pid\":").map(Pid)
    }

    /// `,"provider":` and a GUID in canonical lowercase form (what the writer writes).
    fn provider(&mut self) -> Option<Guid> {
        let s = self.key_string(",\"provider\":")?;
        let bytes = s.as_bytes();
        if bytes.len() != 36 || [8, 13, 18, 23].iter().any(|&i| bytes[i] != b'-') {
            return None;
        }
        // Two halves of 16 digits each: shifting a u64 is cheaper than shifting a u128.
        let mut halves = [0u64; 2];
        let parts: [&[u8]; 5] = [
            &bytes[..8],
            &bytes[9..13],
            &bytes[14..18],
            &bytes[19..23],
            &bytes[24..],
        ];
        let mut digits = 0;
        for part in parts {
            for &b in part {
                let digit = match b {
                    b'0'..=b'9' => b - b'0',
                    b'a'..=b'f' => b - b'a' + 10,
                    _ => return None,
                };
                let half = &mut halves[digits / 16];
                *half = (*half << 4) | u64::from(digit);
                digits += 1;
            }
        }
        let v = (u128::from(halves[0]) << 64) | u128::from(halves[1]);
        Some(Guid(v))
    }

    fn label_or_null(&mut self) -> Option<Option<Label>> {
        if self.lit("null").is_some() {
            Some(None)
        } else {
            Label::parse(self.string()?).map(Some)
        }
    }

    /// An optional label key: `Some(None)` when the key is absent, `None` when it is there but
    /// not a label.
    fn opt_label(&mut self, key: &str) -> Option<Option<Label>> {
        if self.lit(key).is_none() {
            return Some(None);
        }
        Label::parse(self.string()?).map(Some)
    }

    /// An `args` or `result` object, keys strictly ascending (as a BTreeMap writes them).
    fn fields(&mut self) -> Option<Fields> {
        let mut fields = Fields::new();
        self.object(0, |k, v| {
            let key = match KNOWN_KEYS.binary_search(&k) {
                Ok(i) => Cow::Borrowed(KNOWN_KEYS[i]),
                Err(_) => Cow::Owned(k.to_string()),
            };
            fields.insert(key, v);
        })?;
        Some(fields)
    }

    /// An object with keys strictly ascending; each pair goes to `put`.
    fn object(&mut self, depth: usize, mut put: impl FnMut(&str, Value)) -> Option<()> {
        if !self.eat(b'{') {
            return None;
        }
        if self.eat(b'}') {
            return Some(());
        }
        let mut last: Option<&str> = None;
        loop {
            let k = self.string()?;
            if last.is_some_and(|last| last >= k) {
                return None;
            }
            last = Some(k);
            self.lit(":")?;
            let v = self.value(depth + 1)?;
            put(k, v);
            if self.eat(b'}') {
                return Some(());
            }
            self.lit(",")?;
        }
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(Value::from),
            b'-' => self.int().map(Value::from),
            b'0'..=b'9' => self.uint().map(Value::from),
            b't' | b'f' => self.boolean().map(Value::Bool),
            b'n' => self.lit("null").map(|()| Value::Null),
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                if !self.eat(b']') {
                    loop {
                        items.push(self.value(depth + 1)?);
                        if self.eat(b']') {
                            break;
                        }
                        self.lit(",")?;
                    }
                }
                Some(Value::Array(items))
            }
            b'{' => {
                let mut map = Map::new();
                self.object(depth, |k, v| {
                    map.insert(k.to_string(), v);
                })?;
                Some(Value::Object(map))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_keys_are_sorted_for_the_binary_search() {
        assert!(super::KNOWN_KEYS.windows(2).all(|w| w[0] < w[1]));
    }
}
