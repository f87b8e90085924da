//! The `args`/`result` object a trace line writes for a WSAQUERYSET2: trace machinery, so it
//! lives here rather than beside [`QuerySet`] in nspsim-core.

use crate::wsa::QuerySet;
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// A [`QuerySet`] as trace fields.
pub trait QuerySetFields {
    /// The JSON object a trace prints for this query set: only present fields, sorted keys.
    fn to_fields(&self) -> BTreeMap<Cow<'static, str>, Value>;
}

impl QuerySetFields for QuerySet {
    fn to_fields(&self) -> BTreeMap<Cow<'static, str>, Value> {
        let mut f = BTreeMap::new();
        if !self.addresses.is_empty() {
            let addrs: Vec<String> = self
                .addresses
                .iter()
                .map(|a| address_text(&a.remote))
                .collect();
            f.insert("addrs".into(), json!(addrs));
        }
        if let Some(blob) = &self.blob {
            f.insert("blob_len".into(), json!(blob.len()));
        }
        if let Some(c) = &self.comment {
            f.insert("comment".into(), json!(c));
        }
        if let Some(c) = &self.context {
            f.insert("context".into(), json!(c));
        }
        if let Some(n) = &self.service_instance_name {
            f.insert("name".into(), json!(n));
        }
        f.insert("namespace".into(), json!(self.namespace.code()));
        if self.output_flags != 0 {
            f.insert("output_flags".into(), json!(self.output_flags));
        }
        if let Some(p) = self.ns_provider_id {
            f.insert("provider".into(), json!(p.to_string()));
        }
        if let Some(q) = &self.query_string {
            f.insert("query_string".into(), json!(q));
        }
        if let Some(v) = self.version {
            f.insert("version".into(), json!(v.version));
        }
        f
    }
}

/// `addr` as its `Display` writes it. An IPv4 address, what most scenarios use, is written
/// without the formatting machinery, which took some 1,600 instructions an address: about 8 %
/// of building the events of the sim bench's run.
fn address_text(addr: &SocketAddr) -> String {
    let SocketAddr::V4(v4) = addr else {
        return addr.to_string();
    };
    let mut out = String::with_capacity(21);
    let mut digits = itoa::Buffer::new();
    for (i, octet) in v4.ip().octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(digits.format(octet));
    }
    out.push(':');
    out.push_str(digits.format(v4.port()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wsa::{CsAddr, Namespace};

    #[test]
    fn trace_fields_are_sorted_and_only_present_ones() {
        let qs = QuerySet {
            addresses: vec![CsAddr::tcp("[::1]:25".parse().expect("v6"))],
            ..QuerySet::restrictions(Namespace::EMAIL, "a@b")
        };
        let text = serde_json::to_string(&qs.to_fields()).expect("json");
        assert_eq!(
            text,
            r#"{"addrs":["[::1]:25"],"name":"a@b","namespace":37}"#
        );
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        let mut cases: Vec<SocketAddr> = [
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "192.0.2.10:25",
            "10.0.100.9:8080",
            "[::1]:25",
            "[2001:db8::1]:443",
        ]
        .iter()
        .map(|s| s.parse().expect("address"))
        .collect();
        // Every octet value in each place, and ports of every length.
        for n in 0..=255u8 {
            let port = [0, 9, 10, 99, 100, 999, 1000, 9999, 10000, 65535][usize::from(n) % 10];
            cases.push(SocketAddr::from(([n, 255 - n, n / 3, n / 7], port)));
        }
        for a in cases {
            assert_eq!(address_text(&a), a.to_string());
        }
    }
}
