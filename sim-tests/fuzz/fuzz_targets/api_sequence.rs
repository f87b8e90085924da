#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nspsim::fuzzing::api_sequence(data));
