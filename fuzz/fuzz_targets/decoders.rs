//! The strict decoders: SASL base64 (RFC 4954 §4, R4954-4.11/4.12) and
//! xtext (RFC 3461 §4, the `AUTH=` parameter; ATK-04, ATK-05).
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_auth::command::xtext;
use smtp_auth::sasl::encoding;

fuzz_target!(|data: &[u8]| {
    // base64: only the canonical encoding is accepted, so what decodes
    // re-encodes to exactly the input (`=` is the empty response).
    match encoding::decode(data) {
        Ok(bytes) => {
            let again = encoding::encode(&bytes);
            if data == b"=" {
                assert!(bytes.is_empty());
            } else {
                assert_eq!(again.as_bytes(), data, "non-canonical base64 accepted");
            }
            assert_eq!(encoding::encoded_len(bytes.len()), again.len());
        }
        Err(e) => {
            // Errors never show the offending byte.
            let _ = e.to_string();
        }
    }
    assert_eq!(
        encoding::decode(encoding::encode(data).as_bytes()).as_deref(),
        Ok(data)
    );

    // xtext: a decoded value never holds a control character, and it
    // encodes to xtext that decodes back to it.
    if let Ok(s) = xtext::decode(data) {
        assert!(
            !s.chars().any(char::is_control),
            "control character decoded"
        );
        let encoded = xtext::encode(&s);
        assert!(encoded
            .bytes()
            .all(|b| (33..=126).contains(&b) && b != b'='));
        assert_eq!(xtext::decode(encoded.as_bytes()).as_deref(), Ok(&*s));
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let encoded = xtext::encode(s);
        match xtext::decode(encoded.as_bytes()) {
            Ok(d) => assert_eq!(&*d, s),
            Err(_) => assert!(s.chars().any(char::is_control)),
        }
    }
});
