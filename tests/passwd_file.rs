//! Dovecot's passwd-file, read unchanged: every scheme of a file made by
//! `doveadm pw` verifies; which mechanisms a user can use follows from the
//! scheme; malformed lines are reported by number and skipped; the file
//! reloads without a restart; unknown users cost the same work (ATK-06).
#![cfg(feature = "passwd-file")]

mod common;

use std::sync::Arc;

use common::{answerer, auth_plain, client_auth, config, t0, tls_info, Driver, PEER};
use smtp_auth::passwd_file::{Scheme, Work};
use smtp_auth::responder::block_on;
use smtp_auth::sasl::{Credentials, Lookup, Mechanism, ScramHash, Verdict};
use smtp_auth::{
    AuthFailure, Authenticator, Event, PasswdFile, Profile, Responder, Secret, SubmissionPolicy,
};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dovecot.passwd");
const PASSWORD: &str = "correct horse";

fn pw(s: &str) -> Secret<String> {
    Secret::new(s.to_owned())
}

fn fixture() -> PasswdFile {
    let (store, report) = PasswdFile::open(FIXTURE).expect("fixture readable");
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.entries, 13);
    store
}

#[test]
fn a_dovecot_file_works_as_it_is() {
    let store = fixture();
    let users = [
        ("plain", Scheme::Plain),
        ("plainb64", Scheme::Plain),
        ("argon", Scheme::Argon2id),
        ("argoni", Scheme::Argon2i),
        ("bcrypt", Scheme::BlfCrypt),
        ("sha512", Scheme::Sha512Crypt),
        ("sha512r", Scheme::Sha512Crypt),
        ("sha256", Scheme::Sha256Crypt),
        ("cram", Scheme::CramMd5),
        ("scram1", Scheme::ScramSha1),
        ("scram256", Scheme::ScramSha256),
        ("crypt", Scheme::Sha512Crypt),
    ];
    for (user, scheme) in users {
        assert_eq!(store.scheme(user), Some(scheme), "{user}");
        assert_eq!(
            block_on(store.verify_password(user, &pw(PASSWORD))),
            Verdict::Valid,
            "{user}"
        );
        assert_eq!(
            block_on(store.verify_password(user, &pw("Correct horse"))),
            Verdict::Invalid,
            "{user}"
        );
    }
    // `nologin` in the extra fields: the right password says "disabled".
    assert_eq!(
        block_on(store.verify_password("gone", &pw(PASSWORD))),
        Verdict::Disabled
    );
    assert_eq!(
        block_on(store.verify_password("gone", &pw("x"))),
        Verdict::Invalid
    );
    assert_eq!(
        block_on(store.verify_password("nobody", &pw(PASSWORD))),
        Verdict::UnknownUser
    );
    let debug = format!("{store:?}");
    assert!(
        !debug.contains("argon2") && !debug.contains(PASSWORD),
        "{debug}"
    );
}

#[test]
fn r2195_2_4_mechanisms_follow_the_scheme() {
    let store = fixture();
    let cram = |u: &str| matches!(block_on(store.cram_md5_secret(u)), Lookup::Found(_));
    let scram = |u: &str, h| matches!(block_on(store.scram_credentials(u, h)), Lookup::Found(_));
    for u in ["plain", "cram"] {
        assert!(cram(u), "{u}");
    }
    for u in [
        "argon", "bcrypt", "sha512", "scram1", "scram256", "nobody", "gone",
    ] {
        assert!(!cram(u), "{u}");
    }
    assert!(scram("plain", ScramHash::Sha1) && scram("plain", ScramHash::Sha256));
    assert!(scram("scram1", ScramHash::Sha1) && !scram("scram1", ScramHash::Sha256));
    assert!(scram("scram256", ScramHash::Sha256) && !scram("scram256", ScramHash::Sha1));
    for u in ["argon", "bcrypt", "sha256", "cram", "nobody"] {
        assert!(!scram(u, ScramHash::Sha256), "{u}");
    }
    assert_eq!(
        store.capabilities().mechanisms(),
        [
            Mechanism::ScramSha256Plus,
            Mechanism::ScramSha256,
            Mechanism::ScramSha1Plus,
            Mechanism::ScramSha1,
            Mechanism::CramMd5,
            Mechanism::Plain,
            Mechanism::Login
        ]
    );
    // A file of bcrypt hashes offers only what they can serve.
    let (bcrypt_only, _) = PasswdFile::parse(
        "u:{BLF-CRYPT}$2y$04$2s.44YIm1RZEFxPT8o5yf.VrUjo4rBnqfKjtS5S9WU0Tq0jQ9lXZO\n",
    );
    assert_eq!(
        bcrypt_only.capabilities().mechanisms(),
        [Mechanism::Plain, Mechanism::Login]
    );
}

fn session(store: Arc<PasswdFile>) -> Driver {
    let responder = Arc::new(Responder::new(
        Arc::clone(&store),
        SubmissionPolicy::default(),
    ));
    let c = config()
        .profile(Profile::ImplicitTls)
        .mechanisms(responder.mechanisms())
        .build();
    let mut d = Driver::custom(c, PEER, Some(tls_info()), answerer(responder), t0());
    d.line("EHLO client.example");
    d
}

#[test]
fn sessions_log_in_with_every_mechanism_the_scheme_allows() {
    let store = Arc::new(fixture());
    let ok = "235 2.7.0 Authentication successful\r\n";
    let invalid = "535 5.7.8 Authentication credentials invalid\r\n";
    let cases = [
        (Mechanism::Plain, "argon", ok),
        (Mechanism::Login, "sha256", ok),
        (Mechanism::CramMd5, "cram", ok),
        (Mechanism::CramMd5, "plain", ok),
        (Mechanism::CramMd5, "bcrypt", invalid),
        (Mechanism::ScramSha256, "scram256", ok),
        (Mechanism::ScramSha1, "scram1", ok),
        (Mechanism::ScramSha256, "plain", ok),
        (Mechanism::ScramSha256, "bcrypt", invalid),
        (Mechanism::ScramSha1, "scram256", invalid),
    ];
    for (mechanism, user, expected) in cases {
        let mut d = session(Arc::clone(&store));
        let reply = client_auth(&mut d, mechanism, Credentials::password(user, PASSWORD));
        assert_eq!(reply, expected, "{mechanism} {user}");
    }
    let mut d = session(Arc::clone(&store));
    assert_eq!(
        d.says(&auth_plain("gone", PASSWORD)),
        "525 5.7.13 User account disabled\r\n"
    );
    assert!(d.out.events.iter().any(|e| matches!(
        e,
        Event::AuthFailed {
            reason: AuthFailure::Disabled,
            ..
        }
    )));
}

#[test]
fn malformed_lines_are_reported_by_number_and_skipped() {
    let text = "\
# comment
good:{PLAIN}hunter-one

ssha:{SSHA}c2VjcmV0LXR3bw==
open:{PLAIN
empty:
:{PLAIN}no-user
bad-bcrypt:{BLF-CRYPT}$2y$04$short
bad-argon:{ARGON2ID}$argon2id$v=19$m=oops$hunter-three
bad-sha:{SHA512-CRYPT}$5$saltsalt$hunter-four
md5crypt:$1$saltsalt$hunter-five
bad-cram:{CRAM-MD5}hunter-six
bad-scram:{SCRAM-SHA-256}4096,hunter-seven
wrong-enc:{BLF-CRYPT.b64}hunter-eight
free:{PLAIN}x::::::nopassword
good:{PLAIN}duplicate
also-good:{SHA256-CRYPT}$5$7Vn/KDfvWrImuBjF$ftDbdoLpdleDCHHO7b/VNXB03r0ziviGtPm6zoQhC20
";
    let (store, report) = PasswdFile::parse(text);
    assert_eq!(report.entries, 2);
    let lines: Vec<usize> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    for e in &report.errors {
        let text = e.to_string();
        assert!(!text.contains("hunter"), "{text}");
        assert!(!text.contains("duplicate"), "{text}");
    }
    assert!(
        report.errors[0].reason.contains("SSHA"),
        "{:?}",
        report.errors[0]
    );
    assert_eq!(
        block_on(store.verify_password("good", &pw("hunter-one"))),
        Verdict::Valid
    );
    assert_eq!(
        block_on(store.verify_password("also-good", &pw(PASSWORD))),
        Verdict::Valid
    );
    assert_eq!(
        block_on(store.verify_password("ssha", &pw("hunter-two"))),
        Verdict::UnknownUser
    );
}

#[test]
fn the_file_reloads_without_a_restart() {
    let dir = std::env::temp_dir().join(format!("smtp-auth-passwd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("users");
    std::fs::write(&path, "alice:{PLAIN}one\n").unwrap();
    let (store, _) = PasswdFile::open(&path).unwrap();
    let store = Arc::new(store);
    assert_eq!(
        block_on(store.verify_password("alice", &pw("one"))),
        Verdict::Valid
    );
    assert_eq!(store.reload_if_changed().unwrap(), None, "unchanged");
    std::fs::write(&path, "alice:{PLAIN}two\nbob:{PLAIN}three\nbroken\n").unwrap();
    let report = store.reload_if_changed().unwrap().expect("changed");
    assert_eq!((report.entries, report.errors.len()), (2, 1));
    assert_eq!(
        block_on(store.verify_password("alice", &pw("one"))),
        Verdict::Invalid
    );
    assert_eq!(
        block_on(store.verify_password("alice", &pw("two"))),
        Verdict::Valid
    );
    assert_eq!(
        block_on(store.verify_password("bob", &pw("three"))),
        Verdict::Valid
    );
    // A session sees the new table too.
    let mut d = session(Arc::clone(&store));
    assert_eq!(
        d.says(&auth_plain("bob", "three")),
        "235 2.7.0 Authentication successful\r\n"
    );
    // Gone or unreadable: the last good table stays.
    std::fs::remove_file(&path).unwrap();
    assert!(store.reload_if_changed().is_err());
    assert_eq!(
        block_on(store.verify_password("bob", &pw("three"))),
        Verdict::Valid
    );
    let _ = std::fs::remove_dir(&dir);
}

fn delta(
    before: &std::collections::BTreeMap<Work, u64>,
    after: &std::collections::BTreeMap<Work, u64>,
) -> Vec<(Work, u64)> {
    after
        .iter()
        .map(|(w, n)| (w.clone(), n - before.get(w).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[test]
fn atk_06_unknown_users_cost_the_same_hash_work_as_known_ones() {
    // Mostly bcrypt (cost 4), one SHA-512-crypt: the dummy is bcrypt cost 4.
    let text = "\
a:{BLF-CRYPT}$2y$04$2s.44YIm1RZEFxPT8o5yf.VrUjo4rBnqfKjtS5S9WU0Tq0jQ9lXZO
b:{BLF-CRYPT}$2y$04$51/ZeKdDp3PGOOmFphKBLOhnt5aMmx62S7sDXRXrrZUTgsNaFKsWK
c:{SHA512-CRYPT}$6$LrSnsEgiNC/pakwg$qEqQ/zDjLf9kNXsd60e6sYNOYox8hLIi4OQcRHvjlyPmV5VVdmTt2o3M.H0gzJpyIEMSkql0AXyV3zo/ETOa41
p:{PLAIN}plain-user
";
    let (store, report) = PasswdFile::parse(text);
    assert!(report.is_clean(), "{report:?}");
    let bcrypt4 = Work {
        scheme: Scheme::BlfCrypt,
        cost: "4".into(),
    };
    let w0 = store.work();
    assert_eq!(
        block_on(store.verify_password("a", &pw("guess"))),
        Verdict::Invalid
    );
    let w1 = store.work();
    assert_eq!(
        block_on(store.verify_password("nobody", &pw("guess"))),
        Verdict::UnknownUser
    );
    let w2 = store.work();
    assert_eq!(delta(&w0, &w1), [(bcrypt4.clone(), 1)], "known user");
    assert_eq!(
        delta(&w1, &w2),
        [(bcrypt4, 1)],
        "unknown user: the same work"
    );

    // SCRAM: a {PLAIN} user's lookup derives keys (PBKDF2); an unknown
    // user's, or one whose scheme cannot serve SCRAM, does the same.
    let derive = Work {
        scheme: Scheme::ScramSha256,
        cost: "i=4096".into(),
    };
    for user in ["p", "nobody", "a"] {
        let before = store.work();
        let _ = block_on(store.scram_credentials(user, ScramHash::Sha256));
        assert_eq!(
            delta(&before, &store.work()),
            [(derive.clone(), 1)],
            "{user}"
        );
    }

    // Through a session too: unknown and known users cost one bcrypt each.
    let store = Arc::new(store);
    let before = store.work();
    let mut d = session(Arc::clone(&store));
    let r1 = d.says(&auth_plain("b", "guess"));
    let r2 = d.says(&auth_plain("zed", "guess"));
    assert_eq!(r1, r2, "the same reply (ATK-07)");
    let spent: u64 = delta(&before, &store.work()).iter().map(|(_, n)| n).sum();
    assert_eq!(spent, 2);
}
