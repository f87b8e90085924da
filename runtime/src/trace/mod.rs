//! nsptrace version 1 (docs/trace-format.md): the header, one line per event with the documented
//! key order, the `end` line; writing (in memory or through a writer thread to a file renamed
//! into place when complete) and reading with line-numbered errors.

pub mod fast;
pub mod fields;
pub mod guid_text;
pub mod header;
pub mod json;
pub mod reader;
pub mod writer;

pub use fields::QuerySetFields;
pub use guid_text::GuidTexts;
pub use header::{Mode, TraceHeader, VERSION};
pub use json::{DecodeError, decode_event, encode_event, encode_parts, encode_parts_with};
pub use reader::{
    MAX_EVENT_LINE_BYTES, MAX_HEADER_LINE_BYTES, ReadError, Trace, parse_trace, read_from,
    read_trace, read_trace_and_text,
};
pub use writer::{
    Recorder, TraceBuffer, TraceError, TraceFile, TraceSummary, remove_temp_files, write_atomically,
};
