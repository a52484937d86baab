//! SCRAM-SHA-1/-256 and their -PLUS variants against an edited real client:
//! nonces, proofs, channel binding, iteration counts (RFC 5802, RFC 7677).
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_auth::sasl::Mechanism;

fuzz_target!(|input: fuzz_support::sasl::SaslInput| {
    fuzz_support::sasl::run(
        &[
            Mechanism::ScramSha256,
            Mechanism::ScramSha1,
            Mechanism::ScramSha256Plus,
            Mechanism::ScramSha1Plus,
        ],
        &input,
    );
});
