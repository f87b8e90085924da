//! PLACEHOLDER, replaced wholesale when the `marshal` branch is merged: the interface the rest of
//! `c_library` codes against, with a minimal body (the service instance name and the namespace
//! only). The real module packs every field and validates every pointer of a result.

use nspsim_core::wsa::{Namespace, QuerySet};
use std::fmt;

/// A WSAQUERYSET2W as Win64 lays it out, ready to copy into the host: `bytes` starts with the
/// 112-byte struct; pointer fields hold offsets from the start of `bytes` (0 = NULL) and every
/// non-NULL pointer field's byte offset is listed in `relocs`, in increasing order. The host
/// copies `bytes` into an 8-aligned buffer at address B and adds B to the u64 at each reloc.
pub struct QuerySetImage {
    /// The struct, then its variable parts.
    pub bytes: Vec<u8>,
    /// Offsets of the non-NULL pointer fields, increasing.
    pub relocs: Vec<u32>,
}

const SIZE: usize = 112;
const NAME: usize = 8;
const NAME_SPACE: usize = 32;

/// The image of `qs` (placeholder: name and namespace only).
pub fn query_set_image(qs: &QuerySet) -> QuerySetImage {
    let mut bytes = vec![0u8; SIZE];
    bytes[0..4].copy_from_slice(&(SIZE as u32).to_le_bytes());
    bytes[NAME_SPACE..NAME_SPACE + 4].copy_from_slice(&qs.namespace.code().to_le_bytes());
    let mut relocs = Vec::new();
    if let Some(name) = &qs.service_instance_name {
        let at = bytes.len() as u64;
        bytes[NAME..NAME + 8].copy_from_slice(&at.to_le_bytes());
        relocs.push(NAME as u32);
        for u in name.encode_utf16().chain(std::iter::once(0)) {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
    }
    QuerySetImage { bytes, relocs }
}

/// A malformed result: which field, and what is wrong with it (Display: one sentence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultError {
    /// The field, as Microsoft's reference names it.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for ResultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.problem)
    }
}

fn u32_at(buf: &[u8], at: usize, field: &'static str) -> Result<u32, ResultError> {
    buf.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or(ResultError {
            field,
            problem: "lies outside the buffer".into(),
        })
}

fn u64_at(buf: &[u8], at: usize, field: &'static str) -> Result<u64, ResultError> {
    buf.get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or(ResultError {
            field,
            problem: "lies outside the buffer".into(),
        })
}

/// Parses what a provider wrote into a NextEx buffer that lived at address `base` in the host
/// (placeholder: name and namespace only).
pub fn read_next_ex_result(buf: &[u8], base: u64) -> Result<QuerySet, ResultError> {
    let size = u32_at(buf, 0, "dwSize")?;
    if size as usize != SIZE {
        return Err(ResultError {
            field: "dwSize",
            problem: format!("is {size}, not sizeof(WSAQUERYSET2W) = 112"),
        });
    }
    let namespace = Namespace(u32_at(buf, NAME_SPACE, "dwNameSpace")?);
    let ptr = u64_at(buf, NAME, "lpszServiceInstanceName")?;
    let service_instance_name = if ptr == 0 {
        None
    } else {
        let bad = |problem: &str| ResultError {
            field: "lpszServiceInstanceName",
            problem: problem.into(),
        };
        let off = ptr
            .checked_sub(base)
            .and_then(|o| usize::try_from(o).ok())
            .filter(|o| *o < buf.len())
            .ok_or_else(|| bad("points outside the buffer"))?;
        let mut units = Vec::new();
        let mut at = off;
        loop {
            let b = buf
                .get(at..at + 2)
                .ok_or_else(|| bad("has no NUL terminator inside the buffer"))?;
            let u = u16::from_le_bytes([b[0], b[1]]);
            if u == 0 {
                break;
            }
            units.push(u);
            at += 2;
        }
        Some(String::from_utf16(&units).map_err(|_| bad("is not valid UTF-16"))?)
    };
    Ok(QuerySet {
        service_instance_name,
        namespace,
        ..QuerySet::default()
    })
}
