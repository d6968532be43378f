#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stile_fuzz_targets::host_bundle::run(data));
