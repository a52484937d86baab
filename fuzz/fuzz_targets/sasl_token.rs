//! XOAUTH2, OAUTHBEARER (GS2 header, kvpairs, error acknowledgement) and
//! EXTERNAL against an edited real client (RFC 7628, RFC 4422 App. A).
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_auth::sasl::Mechanism;

fuzz_target!(|input: fuzz_support::sasl::SaslInput| {
    fuzz_support::sasl::run(
        &[
            Mechanism::OAuthBearer,
            Mechanism::XOAuth2,
            Mechanism::External,
        ],
        &input,
    );
});
