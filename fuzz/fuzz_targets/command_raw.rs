//! The SMTP command grammar on raw bytes (ATK-04, ATK-05).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fuzz_support::check_command(data);
});
