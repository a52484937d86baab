//! The LDAP authenticator against a real OpenLDAP `slapd` (Debian's), set up
//! by `.ci/slapd.sh start` with a test directory: users with `mail` and
//! `mailLocalAddress`, an AD-style disabled account (`userAccountControl:
//! 514`), one with `mailEnabled: FALSE`, users whose names look like filter
//! and DN injection payloads, a non-ASCII name, an entry that exists twice,
//! a service account, StartTLS and LDAPS with a CA the script makes, and
//! `allow bind_anon_dn` (an empty password would *succeed* as anonymous).
//!
//! Without the server (`SMTP_AUTH_LDAP_URL` unset) every test here is
//! skipped with a loud message; with `SMTP_AUTH_CI=1` a missing server
//! fails them. `.ci/run` starts slapd, runs them, and stops it.

mod common;

/// Writes past the test harness's output capture (which takes only the
/// `print!` family), so a skip is seen in every run.
fn loud(message: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "\n*** {message} ***\n");
}

#[cfg(not(feature = "ldap"))]
#[test]
fn ldap_tests_need_the_ldap_feature() {
    loud(
        "SKIPPED: the LDAP tests need `--features ldap` and a slapd \
         (eval \"$(.ci/slapd.sh start)\"); .ci/run runs them",
    );
}

#[cfg(feature = "ldap")]
mod with_ldap {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use smtp_auth::ldap::{DisabledRule, LdapAuthenticator, LdapConfig, LdapProblem};
    use smtp_auth::responder::block_on;
    use smtp_auth::sasl::Verdict;
    use smtp_auth::{
        Authenticator, Ownership, Profile, Responder, Secret, SenderOwners, SubmissionPolicy,
    };

    use crate::common::{answerer, auth_plain, config, t0, tls_info, Driver, PEER};

    fn ci() -> bool {
        std::env::var("SMTP_AUTH_CI").is_ok_and(|v| v == "1")
    }

    /// Where the test slapd is (from `.ci/slapd.sh start`).
    struct Env {
        url: String,
        ldaps_url: String,
        ca: Vec<u8>,
        base: String,
        suffix: String,
        bind_dn: String,
        bind_pw: String,
    }

    impl Env {
        /// The `host:port` of the plain (StartTLS) listener.
        fn addr(&self) -> SocketAddr {
            self.url
                .trim_start_matches("ldap://")
                .trim_end_matches('/')
                .parse()
                .expect("SMTP_AUTH_LDAP_URL is ldap://IP:PORT")
        }
    }

    fn env(test: &str) -> Option<Env> {
        let var = |k: &str| std::env::var(k).ok();
        let Some(url) = var("SMTP_AUTH_LDAP_URL") else {
            assert!(
                !ci(),
                "SMTP_AUTH_CI=1 but no slapd for {test}: SMTP_AUTH_LDAP_URL is unset \
                 (eval \"$(.ci/slapd.sh start)\")"
            );
            crate::loud(&format!(
                "SKIPPED {test}: no slapd (SMTP_AUTH_LDAP_URL unset); \
                 run eval \"$(.ci/slapd.sh start)\" first"
            ));
            return None;
        };
        let need = |k: &str| var(k).unwrap_or_else(|| panic!("{k} unset (.ci/slapd.sh start)"));
        let ca = std::fs::read(need("SMTP_AUTH_LDAP_CA")).expect("CA file");
        let bind_pw = std::fs::read_to_string(need("SMTP_AUTH_LDAP_BIND_PASSWORD_FILE"))
            .expect("service password file")
            .trim_end()
            .to_owned();
        Some(Env {
            url,
            ldaps_url: need("SMTP_AUTH_LDAPS_URL"),
            ca,
            base: need("SMTP_AUTH_LDAP_BASE"),
            suffix: need("SMTP_AUTH_LDAP_SUFFIX"),
            bind_dn: need("SMTP_AUTH_LDAP_BIND_DN"),
            bind_pw,
        })
    }

    macro_rules! env_or_skip {
        () => {
            match env(module_path_test!()) {
                Some(e) => e,
                None => return,
            }
        };
    }

    macro_rules! module_path_test {
        () => {{
            fn f() {}
            let name = std::any::type_name_of_val(&f);
            name.strip_suffix("::f").unwrap_or(name)
        }};
    }

    const FILTER: &str = "(&(objectClass=inetOrgPerson)(uid=%u))";

    fn rules(c: LdapConfig) -> LdapConfig {
        c.address_attributes(["mail", "mailLocalAddress"])
            .disabled_when(DisabledRule::ActiveDirectory)
            .disabled_when(DisabledRule::equals("mailEnabled", "FALSE"))
            .operation_timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(10))
    }

    /// Search-then-bind over StartTLS, with the service account.
    fn search_config(e: &Env) -> LdapConfig {
        rules(
            LdapConfig::search(&e.url, &e.base, FILTER)
                .service_account(&e.bind_dn, Secret::new(e.bind_pw.clone()))
                .ca_pem(e.ca.clone()),
        )
    }

    /// A bind-DN template over LDAPS, no service account.
    fn template_config(e: &Env) -> LdapConfig {
        rules(
            LdapConfig::bind_template(&e.ldaps_url, format!("uid=%u,{}", e.base))
                .ca_pem(e.ca.clone()),
        )
    }

    fn secret(s: &str) -> Secret<String> {
        Secret::new(s.to_owned())
    }

    fn verify(a: &LdapAuthenticator, user: &str, password: &str) -> Verdict {
        block_on(a.verify_password(user, &secret(password)))
    }

    /// Collects the problems the authenticator reports.
    fn recorder(c: LdapConfig) -> (LdapConfig, Arc<Mutex<Vec<LdapProblem>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        (
            c.on_problem(move |p| s.lock().unwrap().push(p.clone())),
            seen,
        )
    }

    const PASSWORDS: &[(&str, &str)] = &[
        ("alice", "wonderland"),
        ("bob", "builder"),
        ("admin", "admin-pw"),
        ("*)(uid=*", "star-pw"),
        ("x,+\"\\<>;=y", "special-pw"),
        ("jürgen", "jürgen-pw"),
    ];

    #[test]
    fn search_then_bind_over_starttls() {
        let e = env_or_skip!();
        let a = search_config(&e).build().unwrap();
        assert_eq!(verify(&a, "alice", "wonderland"), Verdict::Valid);
        assert_eq!(
            verify(&a, "ALICE", "wonderland"),
            Verdict::Valid,
            "uid is caseIgnore"
        );
        assert_eq!(verify(&a, "alice", "wonderlan"), Verdict::Invalid);
        assert_eq!(verify(&a, "bob", "wonderland"), Verdict::Invalid);
        let before = a.stats();
        assert_eq!(verify(&a, "ghost", "wonderland"), Verdict::UnknownUser);
        let after = a.stats();
        assert_eq!(
            after.dummy_binds,
            before.dummy_binds + 1,
            "an unknown user costs a bind too"
        );
        // Disabled only after the right password; a wrong one is Invalid.
        assert_eq!(
            verify(&a, "carol", "carol-pw"),
            Verdict::Disabled,
            "AD uac 514"
        );
        assert_eq!(verify(&a, "carol", "wrong"), Verdict::Invalid);
        assert_eq!(
            verify(&a, "dave", "dave-pw"),
            Verdict::Disabled,
            "mailEnabled FALSE"
        );
        assert_eq!(verify(&a, "dave", "wrong"), Verdict::Invalid);
        assert_eq!(
            verify(&a, "erin", "erin-pw"),
            Verdict::Valid,
            "uac 512, TRUE"
        );
        let s = a.stats();
        assert_eq!(s.connections_opened, 1, "one connection, reused: {s:?}");
        assert!(s.service_binds >= 1 && s.user_binds >= 8, "{s:?}");
        assert!(!format!("{a:?}").contains(&e.bind_pw), "no secret in Debug");
    }

    #[test]
    fn bind_template_over_ldaps() {
        let e = env_or_skip!();
        let a = template_config(&e).build().unwrap();
        assert_eq!(verify(&a, "alice", "wonderland"), Verdict::Valid);
        assert_eq!(verify(&a, "alice", "x"), Verdict::Invalid);
        // The server answers invalidCredentials for a DN that does not
        // exist too: the template mode cannot tell, and reports Invalid.
        assert_eq!(verify(&a, "ghost", "wonderland"), Verdict::Invalid);
        assert_eq!(verify(&a, "carol", "carol-pw"), Verdict::Disabled);
        assert_eq!(verify(&a, "carol", "x"), Verdict::Invalid);
        assert_eq!(verify(&a, "dave", "dave-pw"), Verdict::Disabled);
        assert_eq!(verify(&a, "dave", "x"), Verdict::Invalid);
        assert_eq!(a.stats().service_binds, 0);
        assert_eq!(
            a.cached_addresses("alice"),
            Some(vec![
                "alice@example.org".to_owned(),
                "a.liddell@example.org".to_owned(),
                "sales@example.org".to_owned()
            ]),
            "read as the user after the bind"
        );
    }

    #[test]
    fn ldaps_search_and_starttls_template_work_too() {
        let e = env_or_skip!();
        let a = rules(
            LdapConfig::search(&e.ldaps_url, &e.base, FILTER)
                .service_account(&e.bind_dn, Secret::new(e.bind_pw.clone()))
                .ca_pem(e.ca.clone()),
        )
        .build()
        .unwrap();
        assert_eq!(verify(&a, "alice", "wonderland"), Verdict::Valid);
        assert_eq!(verify(&a, "carol", "carol-pw"), Verdict::Disabled);
        let b = rules(
            LdapConfig::bind_template(&e.url, format!("uid=%u,{}", e.base)).ca_pem(e.ca.clone()),
        )
        .build()
        .unwrap();
        assert_eq!(verify(&b, "bob", "builder"), Verdict::Valid);
        assert_eq!(verify(&b, "bob", "x"), Verdict::Invalid);
    }

    /// The premise: this slapd accepts a DN with an empty password as an
    /// anonymous bind. An authenticator that sent one would say Valid.
    #[tokio::test(flavor = "current_thread")]
    async fn slapd_really_accepts_unauthenticated_binds() {
        let e = env_or_skip!();
        let (conn, mut ldap) = ldap3::LdapConnAsync::new(&e.url).await.unwrap();
        ldap3::drive!(conn);
        let r = ldap
            .simple_bind(&format!("uid=alice,{}", e.base), "")
            .await
            .unwrap();
        assert_eq!(r.rc, 0, "unauthenticated bind succeeds: {r:?}");
        let who = ldap.extended(ldap3::exop::WhoAmI).await.unwrap();
        let ldap3::result::ExopResult(exop, _) = who;
        let id = exop
            .val
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default();
        assert_eq!(id, "", "as anonymous");
        let _ = ldap.unbind().await;
    }

    #[test]
    fn empty_password_never_reaches_a_bind() {
        let e = env_or_skip!();
        for c in [search_config(&e), template_config(&e)] {
            let a = c.build().unwrap();
            for user in ["alice", "ghost", "carol", "*"] {
                assert_eq!(verify(&a, user, ""), Verdict::Invalid, "{user}");
            }
            let s = a.stats();
            assert_eq!(s.empty_passwords, 4);
            assert_eq!(
                (
                    s.connections_opened,
                    s.user_binds,
                    s.service_binds,
                    s.dummy_binds
                ),
                (0, 0, 0, 0),
                "no I/O at all: {s:?}"
            );
        }
        // And through a session: PLAIN with an empty password is 535.
        let a = search_config(&e).build().unwrap();
        let mut d = session(&a);
        assert_eq!(
            d.says(&auth_plain("alice", "")),
            "535 5.7.8 Authentication credentials invalid\r\n"
        );
        assert_eq!(a.stats().user_binds, 0);
    }

    /// Names that would rewrite an unescaped filter or DN. With any known
    /// user's password none of them may authenticate, nor make the check
    /// fail: they are unknown (or, in template mode, invalid).
    const PAYLOADS: &[&str] = &[
        "*",
        "*)(uid=*)",
        "*)(uid=",
        "admin)(|(uid=*",
        "admin)(|(uid=*))",
        "alice)(uid=*",
        "*)(|(objectClass=*",
        "a\0b",
        "admin\0",
        r"\2a",
        r"\61lice",
        "alice*",
        "al*ce",
        "(uid=alice)",
        "admin,ou=people,dc=example,dc=org",
        "alice,ou=people",
        "x,+\"\\<>;=",
        "#alice",
        "alicé",
        "ａｌｉｃｅ",
        "jürgen*",
        "uid=alice",
    ];

    /// Spellings the server itself matches to alice's entry (RFC 4518
    /// string preparation: insignificant spaces, compatibility forms).
    /// They are alice — with alice's password only.
    const ALICE_TO_THE_SERVER: &[&str] = &[" alice", "alice ", "ａｌｉｃｅ"];

    fn payloads_match_nothing(a: &LdapAuthenticator, unknown: Verdict) {
        for user in PAYLOADS.iter().chain(ALICE_TO_THE_SERVER) {
            for (owner, password) in PASSWORDS {
                let v = verify(a, user, password);
                if ALICE_TO_THE_SERVER.contains(user) {
                    let expected = if *owner == "alice" {
                        Verdict::Valid
                    } else {
                        Verdict::Invalid
                    };
                    assert_eq!(v, expected, "{user:?} with {owner}'s password");
                    continue;
                }
                assert_eq!(v, unknown, "{user:?} with {owner}'s password");
            }
        }
    }

    #[test]
    fn r4515_injection_names_match_no_other_entry_in_search_mode() {
        let e = env_or_skip!();
        let (c, problems) = recorder(search_config(&e));
        let a = c.build().unwrap();
        payloads_match_nothing(&a, Verdict::UnknownUser);
        // The entries whose names look like payloads are found exactly.
        for (user, password) in PASSWORDS {
            assert_eq!(verify(&a, user, password), Verdict::Valid, "{user:?}");
            assert_eq!(verify(&a, user, "wrong"), Verdict::Invalid, "{user:?}");
        }
        assert_eq!(
            verify(&a, "*)(uid=*", "wonderland"),
            Verdict::Invalid,
            "the entry named *)(uid=* itself, not alice"
        );
        assert!(
            problems.lock().unwrap().is_empty(),
            "no errors: {:?}",
            problems.lock().unwrap()
        );
    }

    #[test]
    fn r4514_injection_names_match_no_other_entry_in_template_mode() {
        let e = env_or_skip!();
        let (c, problems) = recorder(template_config(&e));
        let a = c.build().unwrap();
        payloads_match_nothing(&a, Verdict::Invalid);
        for (user, password) in PASSWORDS {
            assert_eq!(verify(&a, user, password), Verdict::Valid, "{user:?}");
            assert_eq!(verify(&a, user, "wrong"), Verdict::Invalid, "{user:?}");
        }
        assert!(
            problems.lock().unwrap().is_empty(),
            "no errors: {:?}",
            problems.lock().unwrap()
        );
    }

    #[test]
    fn ambiguous_filter_refuses_the_login() {
        let e = env_or_skip!();
        let (c, problems) = recorder(rules(
            LdapConfig::search(&e.url, &e.suffix, "(uid=%u)")
                .service_account(&e.bind_dn, Secret::new(e.bind_pw.clone()))
                .ca_pem(e.ca.clone()),
        ));
        let a = c.build().unwrap();
        assert_eq!(verify(&a, "twin", "twin-pw"), Verdict::UnknownUser);
        assert_eq!(*problems.lock().unwrap(), [LdapProblem::AmbiguousUser]);
        assert_eq!(verify(&a, "alice", "wonderland"), Verdict::Valid);
    }

    #[test]
    fn wrong_service_password_or_ca_is_unavailable() {
        let e = env_or_skip!();
        let (c, problems) = recorder(rules(
            LdapConfig::search(&e.url, &e.base, FILTER)
                .service_account(&e.bind_dn, secret("not-the-password"))
                .ca_pem(e.ca.clone()),
        ));
        let a = c.build().unwrap();
        assert_eq!(verify(&a, "alice", "wonderland"), Verdict::Unavailable);
        assert_eq!(*problems.lock().unwrap(), [LdapProblem::ServiceBind(49)]);

        // A CA that did not sign the server's certificate.
        let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        for url in [&e.url, &e.ldaps_url] {
            let (c, problems) = recorder(rules(
                LdapConfig::search(url.as_str(), &e.base, FILTER)
                    .service_account(&e.bind_dn, Secret::new(e.bind_pw.clone()))
                    .ca_pem(other.cert.pem()),
            ));
            let a = c.build().unwrap();
            assert_eq!(
                verify(&a, "alice", "wonderland"),
                Verdict::Unavailable,
                "{url}"
            );
            let p = problems.lock().unwrap();
            assert!(matches!(p[..], [LdapProblem::Connect(_)]), "{url}: {p:?}");
        }
    }

    /// A session on port 465 answered by the Responder over `a`, with `a`
    /// also the policy's source of sender addresses.
    fn session(a: &LdapAuthenticator) -> Driver {
        let policy = SubmissionPolicy::builder().sender_owners(a.clone()).build();
        let responder = Arc::new(Responder::new(a.clone(), policy));
        let cfg = config()
            .profile(Profile::ImplicitTls)
            .mechanisms(responder.mechanisms())
            .build();
        let mut d = Driver::custom(cfg, PEER, Some(tls_info()), answerer(responder), t0());
        d.line("EHLO client.example");
        d
    }

    /// A TCP proxy in front of slapd that can be pulled away, and counts
    /// the connections it accepted.
    struct Proxy {
        port: u16,
        accepted: Arc<AtomicUsize>,
        rt: Option<tokio::runtime::Runtime>,
    }

    impl Proxy {
        fn start(target: SocketAddr) -> Proxy {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let listener = rt
                .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                .unwrap();
            let port = listener.local_addr().unwrap().port();
            let accepted = Arc::new(AtomicUsize::new(0));
            let count = Arc::clone(&accepted);
            rt.spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    count.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        if let Ok(mut out) = tokio::net::TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                        }
                    });
                }
            });
            Proxy {
                port,
                accepted,
                rt: Some(rt),
            }
        }

        fn url(&self) -> String {
            format!("ldap://127.0.0.1:{}", self.port)
        }

        /// Closes the listener and every proxied connection: the server is
        /// gone.
        fn stop(&mut self) {
            if let Some(rt) = self.rt.take() {
                rt.shutdown_timeout(Duration::from_secs(2));
            }
        }
    }

    #[test]
    fn r4954_server_stopped_gives_454_through_a_session() {
        let e = env_or_skip!();
        let mut proxy = Proxy::start(e.addr());
        let (c, problems) = recorder(
            rules(
                LdapConfig::search(proxy.url(), &e.base, FILTER)
                    .service_account(&e.bind_dn, Secret::new(e.bind_pw.clone()))
                    .ca_pem(e.ca.clone()),
            )
            .connect_timeout(Duration::from_secs(2)),
        );
        let a = c.build().unwrap();
        let mut d = session(&a);
        assert_eq!(
            d.says(&auth_plain("alice", "wonderland")),
            "235 2.7.0 Authentication successful\r\n"
        );
        proxy.stop();
        // The pooled connection is dead and nothing listens any more.
        for user in ["alice", "ghost"] {
            let mut d = session(&a);
            let t = Instant::now();
            assert_eq!(
                d.says(&auth_plain(user, "wonderland")),
                "454 4.7.0 Temporary authentication failure\r\n",
                "never 535"
            );
            assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        }
        let p = problems.lock().unwrap();
        assert!(
            p.iter().all(|p| matches!(p, LdapProblem::Connect(_))),
            "{p:?}"
        );
    }

    #[test]
    fn unreachable_server_is_unavailable() {
        let e = env_or_skip!();
        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let a = rules(
            LdapConfig::bind_template(
                format!("ldaps://127.0.0.1:{port}"),
                format!("uid=%u,{}", e.base),
            )
            .ca_pem(e.ca.clone()),
        )
        .build()
        .unwrap();
        assert_eq!(verify(&a, "alice", "wonderland"), Verdict::Unavailable);
    }

    /// A server that accepts TCP connections and never answers.
    fn blackhole() -> (std::net::TcpListener, String) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("ldap://{}", l.local_addr().unwrap());
        (l, url)
    }

    #[test]
    fn slow_server_times_out_as_unavailable() {
        let e = env_or_skip!();
        let (_hole, url) = blackhole();
        for starttls in [false, true] {
            let (c, problems) = recorder(
                LdapConfig::bind_template(url.as_str(), format!("uid=%u,{}", e.base))
                    .ca_pem(e.ca.clone())
                    .starttls(starttls)
                    .connect_timeout(Duration::from_millis(300))
                    .operation_timeout(Duration::from_millis(300)),
            );
            let a = c.build().unwrap();
            let t = Instant::now();
            assert_eq!(verify(&a, "alice", "wonderland"), Verdict::Unavailable);
            let took = t.elapsed();
            assert!(
                took >= Duration::from_millis(250) && took < Duration::from_secs(3),
                "starttls={starttls}: {took:?}"
            );
            assert_eq!(*problems.lock().unwrap(), [LdapProblem::Timeout]);
            assert_eq!(a.stats().timeouts, 1);
        }
    }

    #[test]
    fn pool_is_bounded_and_reused() {
        let e = env_or_skip!();
        let proxy = Proxy::start(e.addr());
        let a = rules(
            LdapConfig::search(proxy.url(), &e.base, FILTER)
                .service_account(&e.bind_dn, Secret::new(e.bind_pw.clone()))
                .ca_pem(e.ca.clone()),
        )
        .pool_size(2)
        .pool_wait(Duration::from_secs(30))
        .build()
        .unwrap();
        let verdicts: Vec<Verdict> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..12)
                .map(|i| {
                    let a = &a;
                    s.spawn(move || {
                        let (u, p) = if i % 2 == 0 {
                            ("alice", "wonderland")
                        } else {
                            ("bob", "builder")
                        };
                        verify(a, u, p)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(
            verdicts.iter().all(|v| *v == Verdict::Valid),
            "{verdicts:?}"
        );
        let opened = a.stats().connections_opened;
        assert!((1..=2).contains(&opened), "{opened}");
        assert_eq!(proxy.accepted.load(Ordering::SeqCst) as u64, opened);
    }

    #[test]
    fn busy_pool_gives_unavailable_after_the_wait_bound() {
        let e = env_or_skip!();
        let (_hole, url) = blackhole();
        let (c, problems) = recorder(
            LdapConfig::bind_template(url.as_str(), format!("uid=%u,{}", e.base))
                .starttls(false)
                .pool_size(1)
                .pool_wait(Duration::from_millis(200))
                .connect_timeout(Duration::from_secs(3))
                .operation_timeout(Duration::from_secs(3)),
        );
        let a = c.build().unwrap();
        std::thread::scope(|s| {
            let slow = s.spawn(|| verify(&a, "alice", "wonderland"));
            std::thread::sleep(Duration::from_millis(300));
            let t = Instant::now();
            assert_eq!(verify(&a, "bob", "builder"), Verdict::Unavailable);
            let took = t.elapsed();
            assert!(
                took >= Duration::from_millis(150) && took < Duration::from_millis(2500),
                "{took:?}"
            );
            assert!(
                !slow.is_finished(),
                "the first check still holds the only slot"
            );
            assert_eq!(slow.join().unwrap(), Verdict::Unavailable);
        });
        let p = problems.lock().unwrap();
        assert!(p.contains(&LdapProblem::PoolBusy), "{p:?}");
        assert!(p.contains(&LdapProblem::Timeout), "{p:?}");
        assert_eq!(a.stats().pool_busy, 1);
    }

    #[test]
    fn r6409_sender_ownership_from_mail_and_alternate_addresses() {
        let e = env_or_skip!();
        let a = search_config(&e).build().unwrap();
        let mut d = session(&a);
        assert_eq!(
            d.says(&auth_plain("alice", "wonderland")),
            "235 2.7.0 Authentication successful\r\n"
        );
        let not_owned = "550 5.7.1 Sender address not authorized for this user\r\n";
        for (sender, reply) in [
            ("alice@example.org", "250 2.1.0 Sender OK\r\n"),
            ("a.liddell@example.org", "250 2.1.0 Sender OK\r\n"),
            ("SALES@example.org", "250 2.1.0 Sender OK\r\n"),
            ("bob@example.org", not_owned),
            ("star@example.org", not_owned),
            ("alice@example.org.evil", not_owned),
        ] {
            assert_eq!(d.says(&format!("MAIL FROM:<{sender}>")), reply, "{sender}");
            d.says("RSET");
        }
        // AUTH= is checked the same way.
        assert_eq!(
            d.says("MAIL FROM:<alice@example.org> AUTH=bob@example.org"),
            not_owned
        );
        // Another account's session does not get alice's addresses.
        let mut d = session(&a);
        d.says(&auth_plain("bob", "builder"));
        assert_eq!(d.says("MAIL FROM:<a.liddell@example.org>"), not_owned);
        assert_eq!(
            d.says("MAIL FROM:<bob@example.org>"),
            "250 2.1.0 Sender OK\r\n"
        );
    }

    #[test]
    fn uncached_addresses_are_read_again_or_refused_temporarily() {
        let e = env_or_skip!();
        let mut proxy = Proxy::start(e.addr());
        // No cache: every MAIL FROM reads the entry with the service account.
        let a = rules(
            LdapConfig::search(proxy.url(), &e.base, FILTER)
                .service_account(&e.bind_dn, Secret::new(e.bind_pw.clone()))
                .ca_pem(e.ca.clone()),
        )
        .address_cache(Duration::ZERO, 1)
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
        let mut d = session(&a);
        d.says(&auth_plain("alice", "wonderland"));
        assert!(a.cached_addresses("alice").is_none());
        let searches = a.stats().searches;
        assert_eq!(
            d.says("MAIL FROM:<a.liddell@example.org>"),
            "250 2.1.0 Sender OK\r\n"
        );
        assert_eq!(a.stats().searches, searches + 1, "read again");
        d.says("RSET");
        assert_eq!(
            d.says("MAIL FROM:<bob@example.org>"),
            "550 5.7.1 Sender address not authorized for this user\r\n"
        );
        d.says("RSET");
        proxy.stop();
        assert_eq!(
            d.says("MAIL FROM:<a.liddell@example.org>"),
            "451 4.3.0 Local error in processing\r\n",
            "directory down: temporary, never 550"
        );
        assert_eq!(
            block_on(a.ownership("alice", "alice@example.org")),
            Ownership::Unavailable
        );
    }

    #[test]
    fn ownership_without_service_account_uses_the_cache_only() {
        let e = env_or_skip!();
        let a = template_config(&e)
            .address_cache(Duration::from_secs(60), 10)
            .build()
            .unwrap();
        assert_eq!(
            block_on(a.ownership("alice", "a.liddell@example.org")),
            Ownership::NotOwned,
            "nothing cached, nothing to ask with"
        );
        assert_eq!(verify(&a, "alice", "wonderland"), Verdict::Valid);
        assert_eq!(
            block_on(a.ownership("Alice", "A.Liddell@example.org")),
            Ownership::Owned
        );
        assert_eq!(verify(&a, "carol", "carol-pw"), Verdict::Disabled);
        assert!(
            a.cached_addresses("carol").is_none(),
            "a disabled login caches nothing"
        );
    }

    /// Inside a current-thread tokio runtime the futures are awaited
    /// without blocking it (the I/O runs on the authenticator's thread);
    /// the async Responder path gives the same verdicts.
    #[tokio::test(flavor = "current_thread")]
    async fn async_driver_on_a_current_thread_runtime() {
        let e = env_or_skip!();
        let a = search_config(&e).build().unwrap();
        let (p1, p2) = (secret("wonderland"), secret("carol-pw"));
        let (v1, v2) = tokio::join!(
            a.verify_password("alice", &p1),
            a.verify_password("carol", &p2),
        );
        assert_eq!((v1, v2), (Verdict::Valid, Verdict::Disabled));
        let r = Responder::new(a.clone(), SubmissionPolicy::default());
        let req = smtp_auth::sasl::Request::VerifyPassword {
            authcid: "bob".into(),
            password: secret("builder"),
        };
        assert_eq!(
            r.resolve(&req).await,
            smtp_auth::sasl::Resolution::Verdict(Verdict::Valid)
        );
        // Dropping the authenticator inside the runtime is fine.
        drop(r);
        drop(a);
    }

    #[test]
    fn embedder_runtime_can_carry_the_io() {
        let e = env_or_skip!();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let a = search_config(&e)
            .runtime(rt.handle().clone())
            .build()
            .unwrap();
        assert_eq!(verify(&a, "alice", "wonderland"), Verdict::Valid);
        assert_eq!(
            rt.block_on(a.verify_password("bob", &secret("x"))),
            Verdict::Invalid
        );
        drop(a);
        rt.shutdown_timeout(Duration::from_secs(2));
    }

    #[test]
    fn r4954_wire_replies_through_a_session() {
        let e = env_or_skip!();
        let a = search_config(&e).build().unwrap();
        for (user, password, reply) in [
            (
                "alice",
                "wonderland",
                "235 2.7.0 Authentication successful\r\n",
            ),
            (
                "alice",
                "nope",
                "535 5.7.8 Authentication credentials invalid\r\n",
            ),
            (
                "ghost",
                "nope",
                "535 5.7.8 Authentication credentials invalid\r\n",
            ),
            (
                "*)(uid=*",
                "wonderland",
                "535 5.7.8 Authentication credentials invalid\r\n",
            ),
            (
                "carol",
                "wrong",
                "535 5.7.8 Authentication credentials invalid\r\n",
            ),
            ("carol", "carol-pw", "525 5.7.13 User account disabled\r\n"),
        ] {
            let mut d = session(&a);
            assert_eq!(d.says(&auth_plain(user, password)), reply, "{user:?}");
        }
    }
}
