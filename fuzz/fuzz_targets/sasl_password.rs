//! PLAIN, LOGIN and CRAM-MD5 server exchanges against an edited real client
//! (ATK-05, ATK-07, ATK-08).
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_auth::sasl::Mechanism;

fuzz_target!(|input: fuzz_support::sasl::SaslInput| {
    fuzz_support::sasl::run(
        &[Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5],
        &input,
    );
});
