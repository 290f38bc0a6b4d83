#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mailwire_webhook::fuzzing::verify(data));
