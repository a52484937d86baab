//! The SMTP command grammar on bytes mapped onto an SMTP alphabet of
//! characters and tokens (verbs, parameters, mechanism names).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = fuzz_support::alphabet::map(data);
    fuzz_support::check_command(&line);
});
