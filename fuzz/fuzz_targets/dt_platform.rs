#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stile_fuzz_targets::dt_platform::run(data));
