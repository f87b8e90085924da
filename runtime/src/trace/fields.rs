//! The `args`/`result` object a trace line writes for a WSAQUERYSET2: trace machinery, so it
//! lives here rather than beside [`QuerySet`] in nspsim-core.

use crate::wsa::QuerySet;
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::BTreeMap;

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
                .map(|a| a.remote.to_string())
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
}
