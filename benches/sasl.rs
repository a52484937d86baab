//! Each mechanism's server exchange, base64 included — PLAIN, LOGIN,
//! CRAM-MD5, SCRAM-SHA-256 from stored keys (4096 iterations) — side by
//! side with rsasl (PLAIN, LOGIN, SCRAM-SHA-256; rsasl has no CRAM-MD5) and
//! the floor: base64 decoding of the same payloads, one HMAC-MD5, one SCRAM
//! proof check.

#[path = "support/mod.rs"]
mod support;

#[path = "support/rsasl_peer.rs"]
mod rsasl_peer;

use std::hint::black_box;

use criterion::Throughput;
use smtp_auth::sasl::encoding;

use support::{contender, hmac_sha256, sha256, side_by_side, Exchanges, ScramClient, Store};

/// The floor for SCRAM's server side: ClientSignature = HMAC(StoredKey,
/// AuthMessage), ClientKey = proof XOR ClientSignature, H(ClientKey) ==
/// StoredKey, ServerSignature = HMAC(ServerKey, AuthMessage).
fn scram_proof_check(stored: &[u8], server: &[u8], auth_message: &[u8], proof: &[u8; 32]) -> bool {
    let signature = hmac_sha256(stored, &[auth_message]);
    let mut key = *proof;
    for (k, s) in key.iter_mut().zip(signature) {
        *k ^= s;
    }
    let ok = sha256(&key) == stored;
    black_box(hmac_sha256(server, &[auth_message]));
    ok
}

fn hmac_md5(key: &[u8], data: &[u8]) -> [u8; 16] {
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<md5::Md5> as KeyInit>::new_from_slice(key).expect("any key");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn main() {
    let store = Store::new();
    let ours = Exchanges::new();
    let peer = rsasl_peer::Peer::new();
    let client = ScramClient::new();
    let mut out = Vec::with_capacity(256);
    assert!(ours.plain(&store));
    assert!(ours.login(&store));
    assert!(ours.cram_md5(&store));
    assert!(ours.scram(&store));
    assert!(ours.scram_with_client(&store, &client));
    assert!(peer.plain(&mut out));
    assert!(peer.login(&mut out));
    assert!(peer.scram(&client, &mut out));

    // Floor inputs: the same payloads, an auth message of the real size.
    let cram_challenge = b"<1896.697170952@mx.example.org>";
    let auth_message = format!(
        "{},r={}AAAAAAAAAAAAAAAAAAAAAAAA,s={},i=4096,c=biws,r={}AAAAAAAAAAAAAAAAAAAAAAAA",
        std::str::from_utf8(support::SCRAM_CLIENT_FIRST_BARE).unwrap(),
        "rOprNGfwEbeRWgbNEkqO",
        encoding::encode(support::SCRAM_SALT),
        "rOprNGfwEbeRWgbNEkqO",
    );
    let stored = store.scram.stored_key().to_vec();
    let server = store.scram.server_key().to_vec();
    let proof = {
        let sig = hmac_sha256(&stored, &[auth_message.as_bytes()]);
        let mut p = client.client_key;
        for (a, b) in p.iter_mut().zip(sig) {
            *a ^= b;
        }
        p
    };
    assert!(scram_proof_check(
        &stored,
        &server,
        auth_message.as_bytes(),
        &proof
    ));

    if support::run_criterion() {
        let mut c = support::criterion();
        let mut g = c.benchmark_group("sasl/exchange");
        g.throughput(Throughput::Elements(1));
        g.bench_function("PLAIN/ours", |b| b.iter(|| ours.plain(&store)));
        g.bench_function("PLAIN/rsasl", |b| b.iter(|| peer.plain(&mut out)));
        g.bench_function("PLAIN/floor-base64", |b| {
            b.iter(|| encoding::decode(black_box(&ours.plain_ir)).unwrap().len())
        });
        g.bench_function("LOGIN/ours", |b| b.iter(|| ours.login(&store)));
        g.bench_function("LOGIN/rsasl", |b| b.iter(|| peer.login(&mut out)));
        g.bench_function("CRAM-MD5/ours", |b| b.iter(|| ours.cram_md5(&store)));
        g.bench_function("CRAM-MD5/floor-hmac-md5", |b| {
            b.iter(|| hmac_md5(black_box(support::PASSWORD.as_bytes()), cram_challenge))
        });
        g.bench_function("SCRAM-SHA-256/ours", |b| b.iter(|| ours.scram(&store)));
        g.bench_function("SCRAM-SHA-256/ours+client", |b| {
            b.iter(|| ours.scram_with_client(&store, &client))
        });
        g.bench_function("SCRAM-SHA-256/rsasl+client", |b| {
            b.iter(|| peer.scram(&client, &mut out))
        });
        g.bench_function("SCRAM-SHA-256/floor-proof", |b| {
            b.iter(|| scram_proof_check(&stored, &server, auth_message.as_bytes(), &proof))
        });
        g.finish();
        c.final_summary();
    }
    if support::only_listing() && support::profile_filter().is_none() {
        return;
    }
    let unit = ("exchange", 1.0);
    let mut out2 = Vec::with_capacity(256);
    side_by_side(
        "sasl: PLAIN",
        unit,
        None,
        vec![
            contender("ours", "smtp-auth PLAIN", || {
                black_box(ours.plain(&store));
            }),
            contender("peer", "rsasl PLAIN (step64)", || {
                black_box(peer.plain(&mut out2));
            }),
            contender("floor", "base64 decode of the payload", || {
                black_box(encoding::decode(black_box(&ours.plain_ir)).unwrap());
            }),
        ],
    );
    side_by_side(
        "sasl: LOGIN",
        unit,
        None,
        vec![
            contender("ours", "smtp-auth LOGIN", || {
                black_box(ours.login(&store));
            }),
            contender("peer", "rsasl LOGIN (step64)", || {
                black_box(peer.login(&mut out2));
            }),
            contender("floor", "base64 decode of both payloads", || {
                black_box(encoding::decode(black_box(&ours.login_user)).unwrap());
                black_box(encoding::decode(black_box(&ours.login_password)).unwrap());
            }),
        ],
    );
    side_by_side(
        "sasl: CRAM-MD5",
        unit,
        None,
        vec![
            contender("ours", "smtp-auth CRAM-MD5", || {
                black_box(ours.cram_md5(&store));
            }),
            contender("floor", "one HMAC-MD5", || {
                black_box(hmac_md5(
                    black_box(support::PASSWORD.as_bytes()),
                    cram_challenge,
                ));
            }),
        ],
    );
    side_by_side(
        "sasl: SCRAM-SHA-256 (stored keys, 4096 iterations)",
        unit,
        None,
        vec![
            contender("ours", "smtp-auth SCRAM + bench client", || {
                black_box(ours.scram_with_client(&store, &client));
            }),
            contender("peer", "rsasl SCRAM + bench client", || {
                black_box(peer.scram(&client, &mut out2));
            }),
            contender("floor", "one SCRAM proof check", || {
                black_box(scram_proof_check(
                    &stored,
                    &server,
                    auth_message.as_bytes(),
                    &proof,
                ));
            }),
            contender("info", "smtp-auth SCRAM alone (fixed nonce)", || {
                black_box(ours.scram(&store));
            }),
            contender("info", "bench client alone (client-final)", || {
                black_box(client.client_final(black_box(b"r=rOprNGfwEbeRWgbNEkqOAAAAAAAAAAAAAAAAAAAAAAAA,s=TmFDbE5hQ2xOYUNsLWJlbmNo,i=4096")));
            }),
        ],
    );
}
