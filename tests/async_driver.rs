//! The same questions answered from async code (DESIGN.md §1): a tokio
//! driver awaits `Responder::answer_async` over a credential backend that
//! really awaits (a task behind a channel, with a sleep) and a limiter that
//! yields to the runtime. Its transcript — every line sent, question,
//! answer, event and delay, in order — is identical to the sync driver's
//! with `Responder::answer` over the in-memory backend.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot};

use common::{answerer, auth_plain, b64, config, store, t0, tls_info, Driver, TOKEN};
use smtp_auth::authenticator::Capabilities;
use smtp_auth::limiter::{
    FailureRule, Failures, Key, KeyState, Limiter, LimiterError, MemoryLimiter, Quota, Taken,
};
use smtp_auth::sasl::{
    CramMd5Secret, Lookup, Mechanism, ScramCredentials, ScramHash, TokenVerdict, Verdict,
};
use smtp_auth::{Authenticator, Output, Profile, Responder, Secret, Session, SubmissionPolicy};

/// What the backend task is asked.
enum Job {
    Verify(String, Secret<String>, oneshot::Sender<Verdict>),
    Cram(String, oneshot::Sender<Lookup<CramMd5Secret>>),
    Scram(String, ScramHash, oneshot::Sender<Lookup<ScramCredentials>>),
    Token(
        Mechanism,
        Option<String>,
        Secret<String>,
        oneshot::Sender<TokenVerdict>,
    ),
}

/// A credential backend in another task, reached over a channel, that
/// takes its time: what an SQL or LDAP client looks like.
struct RemoteStore {
    jobs: mpsc::Sender<Job>,
}

impl RemoteStore {
    fn spawn() -> Self {
        let (jobs, mut rx) = mpsc::channel::<Job>(8);
        tokio::spawn(async move {
            let store = store();
            while let Some(job) = rx.recv().await {
                tokio::time::sleep(Duration::from_millis(2)).await;
                match job {
                    Job::Verify(u, p, tx) => {
                        let _ = tx.send(store.verify_password(&u, &p).await);
                    }
                    Job::Cram(u, tx) => {
                        let _ = tx.send(store.cram_md5_secret(&u).await);
                    }
                    Job::Scram(u, h, tx) => {
                        let _ = tx.send(store.scram_credentials(&u, h).await);
                    }
                    Job::Token(m, u, t, tx) => {
                        let _ = tx.send(store.validate_token(m, u.as_deref(), &t).await);
                    }
                }
            }
        });
        Self { jobs }
    }
}

impl Authenticator for RemoteStore {
    fn capabilities(&self) -> Capabilities {
        store().capabilities()
    }

    async fn verify_password(&self, user: &str, password: &Secret<String>) -> Verdict {
        let (tx, rx) = oneshot::channel();
        if self
            .jobs
            .send(Job::Verify(user.to_owned(), password.clone(), tx))
            .await
            .is_err()
        {
            return Verdict::Unavailable;
        }
        rx.await.unwrap_or(Verdict::Unavailable)
    }

    async fn cram_md5_secret(&self, user: &str) -> Lookup<CramMd5Secret> {
        let (tx, rx) = oneshot::channel();
        if self
            .jobs
            .send(Job::Cram(user.to_owned(), tx))
            .await
            .is_err()
        {
            return Lookup::Unavailable;
        }
        rx.await.unwrap_or(Lookup::Unavailable)
    }

    async fn scram_credentials(&self, user: &str, hash: ScramHash) -> Lookup<ScramCredentials> {
        let (tx, rx) = oneshot::channel();
        if self
            .jobs
            .send(Job::Scram(user.to_owned(), hash, tx))
            .await
            .is_err()
        {
            return Lookup::Unavailable;
        }
        rx.await.unwrap_or(Lookup::Unavailable)
    }

    async fn validate_token(
        &self,
        mechanism: Mechanism,
        user: Option<&str>,
        token: &Secret<String>,
    ) -> TokenVerdict {
        let (tx, rx) = oneshot::channel();
        let job = Job::Token(mechanism, user.map(str::to_owned), token.clone(), tx);
        if self.jobs.send(job).await.is_err() {
            return TokenVerdict::Unavailable;
        }
        rx.await.unwrap_or(TokenVerdict::Unavailable)
    }
}

/// A limiter that yields to the runtime before each operation, as a
/// networked one would while its request is in flight.
struct YieldingLimiter(MemoryLimiter);

impl Limiter for YieldingLimiter {
    async fn inspect(&self, keys: &[Key], now: SystemTime) -> Result<Vec<KeyState>, LimiterError> {
        tokio::task::yield_now().await;
        self.0.inspect(keys, now).await
    }

    async fn record_failure(
        &self,
        hits: &[(Key, FailureRule)],
        now: SystemTime,
    ) -> Result<Vec<Failures>, LimiterError> {
        tokio::task::yield_now().await;
        self.0.record_failure(hits, now).await
    }

    async fn record_success(
        &self,
        key: &Key,
        remember: Duration,
        now: SystemTime,
    ) -> Result<(), LimiterError> {
        tokio::task::yield_now().await;
        self.0.record_success(key, remember, now).await
    }

    async fn take(
        &self,
        key: &Key,
        quota: Quota,
        amount: u32,
        now: SystemTime,
    ) -> Result<Taken, LimiterError> {
        tokio::task::yield_now().await;
        self.0.take(key, quota, amount, now).await
    }
}

enum Step {
    /// A new connection from this address, this many seconds after t0.
    Connect(&'static str, u64),
    Line(String),
}

fn script() -> Vec<Step> {
    use Step::*;
    let l = |s: &str| Line(s.to_owned());
    vec![
        Connect("192.0.2.10", 0),
        l("EHLO client.example"),
        Line(auth_plain("alice", "wrong")),
        Line(format!("AUTH LOGIN {}", b64(b"alice"))),
        Line(b64(b"wonderland")),
        l("MAIL FROM:<bob@example.org>"),
        l("MAIL FROM:<alice@example.org>"),
        l("RCPT TO:<friend@example.net>"),
        l("DATA"),
        l("Subject: async"),
        l(""),
        l("same transcript"),
        l("."),
        l("QUIT"),
        Connect("192.0.2.99", 10),
        l("EHLO client.example"),
        Line(auth_plain("ghost", "a")),
        Line(auth_plain("ghost", "b")),
        Line(auth_plain("ghost", "c")),
        Connect("192.0.2.99", 20),
        l("EHLO client.example"),
        Line(auth_plain("ghost", "d")),
        Line(auth_plain("ghost", "e")),
        Connect("192.0.2.99", 30),
        l("EHLO client.example"),
        Line(auth_plain("ghost", "f")),
        l("AUTH CRAM-MD5"),
        Line(b64(b"ghost 00000000000000000000000000000000")),
        Connect("198.51.100.4", 40),
        l("EHLO client.example"),
        Line(format!(
            "AUTH XOAUTH2 {}",
            b64(format!("user=alice\x01auth=Bearer {TOKEN}\x01\x01").as_bytes())
        )),
        l("MAIL FROM:<> AUTH=<>"),
        l("RCPT TO:<bounce@example.net>"),
        l("DATA"),
        l("."),
        l("QUIT"),
    ]
}

fn session_config() -> smtp_auth::Config {
    config()
        .profile(Profile::ImplicitTls)
        .mechanisms(store().capabilities().mechanisms())
        .build()
}

fn sync_transcript() -> Vec<String> {
    let responder = Arc::new(Responder::new(store(), common::policy().build()));
    let mut log = Vec::new();
    let mut driver: Option<Driver> = None;
    for step in script() {
        match step {
            Step::Connect(peer, secs) => {
                if let Some(d) = driver.take() {
                    log.extend(d.out.log);
                }
                log.push(format!("== {peer} +{secs}s"));
                driver = Some(Driver::custom(
                    session_config(),
                    peer.parse().unwrap(),
                    Some(tls_info()),
                    answerer(Arc::clone(&responder)),
                    t0() + Duration::from_secs(secs),
                ));
            }
            Step::Line(line) => driver.as_mut().expect("connected").line(&line),
        }
    }
    if let Some(d) = driver {
        log.extend(d.out.log);
    }
    log
}

type AsyncResponder = Responder<RemoteStore, SubmissionPolicy<YieldingLimiter>>;

/// The async driving loop: the sync test driver's, with `.await`.
async fn pump(
    session: &mut Session,
    responder: &AsyncResponder,
    wall: SystemTime,
    log: &mut Vec<String>,
) {
    while let Some(output) = session.poll() {
        match output {
            Output::Send(bytes) => {
                for line in String::from_utf8_lossy(&bytes).split_terminator("\r\n") {
                    log.push(format!("S: {line}"));
                }
            }
            Output::StartTls => log.push("-- starttls".into()),
            Output::Ask { id, question } => {
                log.push(format!("Q: {question:?}"));
                let decision = responder.answer_async(&question, wall).await;
                log.push(format!("A: {:?}", decision.answer));
                for e in &decision.events {
                    log.push(format!("E: {e:?}"));
                }
                session.answer(id, decision.answer).expect("answer fits");
            }
            Output::Event(e) => log.push(format!("E: {e:?}")),
            Output::Delay(d) => log.push(format!("D: {d:?}")),
            Output::Close => log.push("-- close".into()),
            _ => {}
        }
    }
}

async fn async_transcript() -> Vec<String> {
    let policy = common::policy()
        .limiter(YieldingLimiter(MemoryLimiter::new()))
        .build();
    let responder = Responder::new(RemoteStore::spawn(), policy);
    let config = Arc::new(session_config());
    let mut log = Vec::new();
    let mut current: Option<(Session, SystemTime)> = None;
    for step in script() {
        match step {
            Step::Connect(peer, secs) => {
                log.push(format!("== {peer} +{secs}s"));
                let wall = t0() + Duration::from_secs(secs);
                let mut s = Session::new(
                    Arc::clone(&config),
                    peer.parse().unwrap(),
                    Some(tls_info()),
                    Instant::now(),
                );
                pump(&mut s, &responder, wall, &mut log).await;
                current = Some((s, wall));
            }
            Step::Line(line) => {
                let (s, wall) = current.as_mut().expect("connected");
                log.push(format!("C: {line}"));
                s.receive(Instant::now(), format!("{line}\r\n").as_bytes());
                pump(s, &responder, *wall, &mut log).await;
            }
        }
    }
    log
}

#[tokio::test(flavor = "current_thread")]
async fn design_1_sync_responder_and_async_driver_give_identical_transcripts() {
    let expected = sync_transcript();
    let got = async_transcript().await;
    // The transcript covers what it should.
    for needle in [
        "S: 235 2.7.0 Authentication successful",
        "S: 550 5.7.1 Sender address not authorized for this user",
        "S: 250 2.0.0 Message accepted for delivery",
        "S: 421 4.7.0 Too many authentication failures, closing connection",
        "S: 454 4.7.0 Temporary authentication failure",
        "E: LockoutStarted",
        "D: 8s",
    ] {
        assert!(
            expected.iter().any(|l| l.starts_with(needle)),
            "missing {needle}\n{expected:#?}"
        );
    }
    for (i, (a, b)) in expected.iter().zip(&got).enumerate() {
        assert_eq!(a, b, "line {i} differs");
    }
    assert_eq!(expected.len(), got.len());
}

#[tokio::test(flavor = "current_thread")]
async fn the_limiter_conformance_suite_runs_from_async_code() {
    smtp_auth::limiter::conformance::run_all(|| YieldingLimiter(MemoryLimiter::new()), t0()).await;
}
