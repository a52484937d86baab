//! [`Policy`]: what a client may do, and [`SubmissionPolicy`], the default
//! policy for a submission server.
//!
//! The policy answers every [`Question`](crate::Question) that is not about
//! credentials: may this client try to authenticate now, what follows a
//! failed attempt, is an unauthenticated address trusted, may this identity
//! use this sender, this many recipients, this large a message. It returns
//! a [`Decision`]: the [`Answer`] for the session plus the [`Event`]s the
//! policy itself has to report (a lock-out started or ended, a quota
//! reached). The driver hands the answer to the session and the events to
//! its log, next to the session's own.
//!
//! # The default submission policy
//!
//! [`SubmissionPolicy`] keeps its counters in a [`Limiter`] (in memory by
//! default, shared by a fleet later) and applies:
//!
//! | rule | default | reply |
//! |---|---|---|
//! | failures of one account from one client network | 5 in 15 min → locked 5 min, doubling up to 1 h | `454 4.7.0`, credentials not checked |
//! | failures of one account from anywhere (distributed guessing) | 10 in 15 min → locked 5 min, doubling up to 1 h; a known-good network of that account is exempt | `454 4.7.0` |
//! | failures from one client network (password spraying) | 20 in 15 min → locked 15 min, doubling up to 24 h | `454 4.7.0` |
//! | client network | IPv4 /32, IPv6 /64 | |
//! | known-good account+network | 30 days after a successful login | |
//! | delay after each failure | 1 s, doubling per failure in the window, at most 8 s | [`Output::Delay`](crate::Output::Delay) |
//! | failures in one session | closed by the session after [`Limits::auth_failures`](crate::Limits::auth_failures) (3) | `421 4.7.0` |
//! | sender and trusted `AUTH=` | must be owned by the identity; `<>` always allowed (R6409-3.2.2) | `550 5.7.1` |
//! | messages per identity | 200 per hour | `451 4.7.1` |
//! | recipients per identity | 1000 per hour | `452 4.5.3` |
//! | message size per identity | none beyond the listener's `SIZE` | `552 5.3.4` |
//! | unauthenticated relay (Relay profile) | local domains only (none configured: nothing) | `550 5.7.1` |
//! | trusted without AUTH | nobody (configured networks; legacy POP-before-SMTP off) | `530 5.7.0` |
//! | the limiter cannot answer (shared store down or slow) | fail closed ([`LimiterFailure`]); [`Event::LimiterUnavailable`] | `454 4.7.0` for AUTH, credentials not checked; `451 4.3.0` where a quota applies |
//!
//! Unknown users are counted exactly like known ones, so a lock-out never
//! tells an attacker which accounts exist (ATK-07). The exemption of
//! known-good networks from the account lock (ATK-09, Mailu #2880) keeps an
//! attacker who guesses at an account from locking its owner out; the owner
//! is still subject to the per-network rules.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::{ready, Future};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::event::{Event, LimiterCheck, QuotaKind};
use crate::limiter::{
    FailureRule, Key, KeyState, Limiter, LimiterError, MemoryLimiter, Network, Quota,
};
use crate::question::{Answer, AuthAttempt, AuthResult, MailFrom, MessageInfo, RcptTo};
use crate::reply::Reply;
use crate::senders::{DynSenderOwners, Ownership, SenderLoginMap, SenderOwners};

/// A policy's answer to one question: the answer for the session, and the
/// events the policy reports (lock-outs, quotas) for the embedder's log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Decision {
    /// Pass it to [`Session::answer`](crate::Session::answer).
    pub answer: Answer,
    /// Log these with the session's own events.
    pub events: Vec<Event>,
}

impl Decision {
    /// Yes ([`Answer::Allow`]).
    pub fn allow() -> Self {
        Self::new(Answer::Allow)
    }

    /// Answer with `reply` (a refusal, or a 2xx with your own text).
    pub fn reply(reply: Reply) -> Self {
        Self::new(Answer::Reply(reply))
    }

    /// An authentication attempt is recorded; hold the reply for `delay`.
    pub fn recorded(delay: Duration) -> Self {
        Self::new(Answer::Recorded { delay })
    }

    /// Any answer, without events.
    pub fn new(answer: Answer) -> Self {
        Self {
            answer,
            events: Vec::new(),
        }
    }

    /// Adds an event.
    pub fn with_event(mut self, event: Event) -> Self {
        self.events.push(event);
        self
    }
}

/// What clients may do. Every method has a default; override the ones you
/// need. The methods return futures (see [`Authenticator`](crate::Authenticator)
/// for why): a policy that asks a shared store awaits it, one that does not
/// returns at once.
pub trait Policy: Send + Sync {
    /// Before any credential is checked: may this client try to log in as
    /// this user now? A refusal ([`Reply::AUTH_TEMPORARY_FAILURE`]) skips
    /// the credential backend entirely. Default: yes.
    fn may_authenticate(
        &self,
        attempt: &AuthAttempt,
        now: SystemTime,
    ) -> impl Future<Output = Decision> + Send {
        let _ = (attempt, now);
        ready(Decision::allow())
    }

    /// An attempt ended: count it. Answer [`Decision::recorded`] with the
    /// delay before the reply. Default: no delay.
    fn auth_result(
        &self,
        result: &AuthResult,
        now: SystemTime,
    ) -> impl Future<Output = Decision> + Send {
        let _ = (result, now);
        ready(Decision::recorded(Duration::ZERO))
    }

    /// An unauthenticated client on a submission listener began a
    /// transaction: trust its address without AUTH? Default: no, `530`.
    fn trust(&self, peer: IpAddr, now: SystemTime) -> impl Future<Output = Decision> + Send {
        let _ = (peer, now);
        ready(Decision::reply(Reply::AUTH_REQUIRED))
    }

    /// `MAIL FROM`. Default: allowed.
    fn mail_from(&self, mail: &MailFrom, now: SystemTime) -> impl Future<Output = Decision> + Send {
        let _ = (mail, now);
        ready(Decision::allow())
    }

    /// `RCPT TO`. Default: allowed.
    fn rcpt_to(&self, rcpt: &RcptTo, now: SystemTime) -> impl Future<Output = Decision> + Send {
        let _ = (rcpt, now);
        ready(Decision::allow())
    }

    /// The message is complete. `Allow` means the policy accepts it; the
    /// embedder must still store it durably before passing the answer on.
    /// Default: allowed.
    fn message(
        &self,
        message: &MessageInfo,
        now: SystemTime,
    ) -> impl Future<Output = Decision> + Send {
        let _ = (message, now);
        ready(Decision::allow())
    }
}

macro_rules! forward_policy {
    ($($ty:ty),*) => {$(
        impl<T: Policy + ?Sized> Policy for $ty {
            fn may_authenticate(
                &self,
                attempt: &AuthAttempt,
                now: SystemTime,
            ) -> impl Future<Output = Decision> + Send {
                (**self).may_authenticate(attempt, now)
            }
            fn auth_result(
                &self,
                result: &AuthResult,
                now: SystemTime,
            ) -> impl Future<Output = Decision> + Send {
                (**self).auth_result(result, now)
            }
            fn trust(&self, peer: IpAddr, now: SystemTime) -> impl Future<Output = Decision> + Send {
                (**self).trust(peer, now)
            }
            fn mail_from(
                &self,
                mail: &MailFrom,
                now: SystemTime,
            ) -> impl Future<Output = Decision> + Send {
                (**self).mail_from(mail, now)
            }
            fn rcpt_to(&self, rcpt: &RcptTo, now: SystemTime) -> impl Future<Output = Decision> + Send {
                (**self).rcpt_to(rcpt, now)
            }
            fn message(
                &self,
                message: &MessageInfo,
                now: SystemTime,
            ) -> impl Future<Output = Decision> + Send {
                (**self).message(message, now)
            }
        }
    )*};
}

forward_policy!(Arc<T>, &T, Box<T>);

/// Addresses that recently logged in to a POP3 or IMAP server, trusted to
/// submit mail without AUTH for a while: what POP-before-SMTP did.
///
/// **Legacy, off by default.** RFC 6409 §3.3 lists its weaknesses: the
/// trust outlives the login by the window, every client behind the same
/// address (NAT, carrier-grade NAT, a shared Wi-Fi) is trusted with it, and
/// it ties the submission server to the mailbox server. Offer it only to
/// migrate old clients, with a short window.
///
/// The mailbox server calls [`record`](Self::record) after each successful
/// login; [`SubmissionPolicy`] consults it for [`Question::Trust`](crate::Question::Trust).
/// Bounded: at most `capacity` addresses, the oldest dropped first.
pub struct RecentAuthentications {
    ttl: Duration,
    capacity: usize,
    inner: Mutex<Recent>,
}

#[derive(Default)]
struct Recent {
    expiry: HashMap<IpAddr, SystemTime>,
    order: VecDeque<(IpAddr, SystemTime)>,
}

impl fmt::Debug for RecentAuthentications {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecentAuthentications")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl RecentAuthentications {
    /// Trust each recorded address for `ttl` (10 to 30 minutes was usual).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            capacity: 10_000,
            inner: Mutex::new(Recent::default()),
        }
    }

    /// Keeps at most this many addresses (default 10 000).
    pub fn capacity(mut self, n: usize) -> Self {
        self.capacity = n.max(1);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A client at `addr` logged in to the mailbox server at `now`.
    pub fn record(&self, addr: IpAddr, now: SystemTime) {
        let addr = addr.to_canonical();
        let until = now + self.ttl;
        let mut r = self.lock();
        r.expiry.insert(addr, until);
        r.order.push_back((addr, until));
        // Drop expired and superseded records, then the oldest beyond the
        // capacity; the queue stays within twice the capacity.
        while let Some(&(a, t)) = r.order.front() {
            let live = r.expiry.get(&a) == Some(&t);
            let over = r.expiry.len() > self.capacity || r.order.len() > 2 * self.capacity;
            if live && t > now && !over {
                break;
            }
            r.order.pop_front();
            if live {
                r.expiry.remove(&a);
            }
        }
    }

    /// Whether `addr` logged in within the window before `now`.
    pub fn contains(&self, addr: IpAddr, now: SystemTime) -> bool {
        let addr = addr.to_canonical();
        self.lock().expiry.get(&addr).is_some_and(|&t| t > now)
    }

    /// Addresses held now.
    pub fn len(&self) -> usize {
        self.lock().expiry.len()
    }

    /// True when no address is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the [`SubmissionPolicy`] does when its [`Limiter`] cannot answer
/// (a shared store is down, or slower than its timeout). Either way it
/// reports [`Event::LimiterUnavailable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum LimiterFailure {
    /// Refuse what needs the counters, with a temporary reply: `AUTH` gets
    /// `454 4.7.0` without the authenticator being asked (REPLY-20), and
    /// `MAIL FROM`, `RCPT TO` and the end of data get `451 4.3.0` while a
    /// quota applies. The default: an outage never lifts a lock-out or a
    /// quota, at the price of refusing logins until the store is back.
    #[default]
    Closed,
    /// Go on without the counters: credentials are checked by the
    /// authenticator alone (no lock-out) and quotas are not enforced.
    /// Availability first; use it only where the backend has throttling of
    /// its own, and watch the events.
    Open,
}

#[derive(Debug, Clone)]
struct Rules {
    per_network: Option<FailureRule>,
    per_account: Option<FailureRule>,
    per_account_network: Option<FailureRule>,
    known_good_for: Duration,
    v4_prefix: u8,
    v6_prefix: u8,
    failure_delay: Duration,
    max_failure_delay: Duration,
    trusted: Vec<Network>,
    recent: Option<Arc<RecentAuthentications>>,
    senders: Option<Arc<SenderLoginMap>>,
    owners: Option<OwnerSource>,
    identity_owns_itself: bool,
    check_ownership: bool,
    messages: Option<Quota>,
    recipients: Option<Quota>,
    max_message_size: Option<u64>,
    local_domains: Vec<String>,
    on_limiter_failure: LimiterFailure,
}

impl Default for Rules {
    fn default() -> Self {
        let min = |m: u64| Duration::from_secs(60 * m);
        Self {
            per_network: Some(FailureRule::new(20, min(15), min(15)).max_lock(min(24 * 60))),
            per_account: Some(FailureRule::new(10, min(15), min(5)).max_lock(min(60))),
            per_account_network: Some(FailureRule::new(5, min(15), min(5)).max_lock(min(60))),
            known_good_for: Duration::from_secs(30 * 86_400),
            v4_prefix: 32,
            v6_prefix: 64,
            failure_delay: Duration::from_secs(1),
            max_failure_delay: Duration::from_secs(8),
            trusted: Vec::new(),
            recent: None,
            senders: None,
            owners: None,
            identity_owns_itself: true,
            check_ownership: true,
            messages: Some(Quota::per_hour(200)),
            recipients: Some(Quota::per_hour(1000)),
            max_message_size: None,
            local_domains: Vec::new(),
            on_limiter_failure: LimiterFailure::Closed,
        }
    }
}

/// A [`SenderOwners`] source held by the policy.
#[derive(Clone)]
struct OwnerSource(Arc<dyn DynSenderOwners>);

impl fmt::Debug for OwnerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SenderOwners")
    }
}

/// The default policy for a submission server; see the [module
/// docs](self) for what it does and its defaults. Build it with
/// [`SubmissionPolicy::builder`].
#[derive(Debug)]
pub struct SubmissionPolicy<L = MemoryLimiter> {
    limiter: L,
    rules: Rules,
}

/// Builds a [`SubmissionPolicy`].
#[derive(Debug)]
pub struct SubmissionPolicyBuilder<L = MemoryLimiter> {
    limiter: L,
    rules: Rules,
}

impl SubmissionPolicy {
    /// Starts a configuration with the defaults and an in-memory limiter.
    pub fn builder() -> SubmissionPolicyBuilder {
        SubmissionPolicyBuilder {
            limiter: MemoryLimiter::new(),
            rules: Rules::default(),
        }
    }
}

impl Default for SubmissionPolicy {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl<L> SubmissionPolicyBuilder<L> {
    /// Keeps counters in `limiter` (e.g. one shared by a fleet, or an
    /// `Arc` shared by several listeners).
    pub fn limiter<M: Limiter>(self, limiter: M) -> SubmissionPolicyBuilder<M> {
        SubmissionPolicyBuilder {
            limiter,
            rules: self.rules,
        }
    }

    /// Locks a client network after too many failures (`None`: never).
    pub fn lock_network(mut self, rule: Option<FailureRule>) -> Self {
        self.rules.per_network = rule;
        self
    }

    /// Locks an account after too many failures from anywhere (`None`:
    /// never).
    pub fn lock_account(mut self, rule: Option<FailureRule>) -> Self {
        self.rules.per_account = rule;
        self
    }

    /// Locks an account for one client network after too many failures
    /// from it (`None`: never).
    pub fn lock_account_network(mut self, rule: Option<FailureRule>) -> Self {
        self.rules.per_account_network = rule;
        self
    }

    /// How long a successful login exempts its account+network pair from
    /// the account lock (zero: no exemption).
    pub fn known_good_for(mut self, d: Duration) -> Self {
        self.rules.known_good_for = d;
        self
    }

    /// The prefix lengths client addresses are grouped by (defaults 32 and
    /// 64).
    pub fn network_prefixes(mut self, ipv4: u8, ipv6: u8) -> Self {
        self.rules.v4_prefix = ipv4.min(32);
        self.rules.v6_prefix = ipv6.min(128);
        self
    }

    /// The delay after a failure: `first`, doubling with each further
    /// failure in the window, at most `max` (keep it well below RFC 6409
    /// §5.3's two minutes).
    pub fn failure_delay(mut self, first: Duration, max: Duration) -> Self {
        self.rules.failure_delay = first;
        self.rules.max_failure_delay = max.max(first);
        self
    }

    /// Networks trusted to submit without AUTH (and to relay on the Relay
    /// profile).
    pub fn trusted_networks(mut self, networks: impl IntoIterator<Item = Network>) -> Self {
        self.rules.trusted = networks.into_iter().collect();
        self
    }

    /// Trusts addresses that recently logged in to a mailbox server
    /// (legacy POP-before-SMTP; see [`RecentAuthentications`]).
    pub fn recent_authentications(mut self, recent: Arc<RecentAuthentications>) -> Self {
        self.rules.recent = Some(recent);
        self
    }

    /// Which identities own which senders.
    pub fn sender_login_map(mut self, map: Arc<SenderLoginMap>) -> Self {
        self.rules.senders = Some(map);
        self
    }

    /// A further source of sender ownership that may need I/O (e.g. the
    /// addresses an LDAP directory lists for the account), asked when
    /// neither the identity itself nor the sender login map shows
    /// ownership. When it cannot answer, the sender is refused with
    /// `451 4.3.0` (temporary), not `550`.
    pub fn sender_owners(mut self, owners: impl SenderOwners + 'static) -> Self {
        self.rules.owners = Some(OwnerSource(Arc::new(owners)));
        self
    }

    /// Whether an identity that is itself an address owns that address
    /// (default yes).
    pub fn identity_owns_itself(mut self, on: bool) -> Self {
        self.rules.identity_owns_itself = on;
        self
    }

    /// Whether senders are checked for ownership at all (default yes).
    pub fn check_sender_ownership(mut self, on: bool) -> Self {
        self.rules.check_ownership = on;
        self
    }

    /// Messages per identity (`None`: unlimited).
    pub fn message_quota(mut self, quota: Option<Quota>) -> Self {
        self.rules.messages = quota;
        self
    }

    /// Recipients per identity (`None`: unlimited).
    pub fn recipient_quota(mut self, quota: Option<Quota>) -> Self {
        self.rules.recipients = quota;
        self
    }

    /// The largest message an identity may send, in octets (`None`: the
    /// listener's `SIZE` only).
    pub fn max_message_size(mut self, octets: Option<u64>) -> Self {
        self.rules.max_message_size = octets;
        self
    }

    /// Domains this server accepts mail for without authentication (the
    /// Relay profile).
    pub fn local_domains<S: Into<String>>(mut self, domains: impl IntoIterator<Item = S>) -> Self {
        self.rules.local_domains = domains
            .into_iter()
            .map(|d| d.into().to_lowercase())
            .collect();
        self
    }

    /// What to do when the limiter cannot answer (default
    /// [`LimiterFailure::Closed`]).
    pub fn on_limiter_failure(mut self, mode: LimiterFailure) -> Self {
        self.rules.on_limiter_failure = mode;
        self
    }

    /// Finishes the policy.
    pub fn build(self) -> SubmissionPolicy<L> {
        SubmissionPolicy {
            limiter: self.limiter,
            rules: self.rules,
        }
    }
}

fn limiter_event(peer: IpAddr, check: LimiterCheck, error: LimiterError, refused: bool) -> Event {
    let LimiterError::Unavailable(error) = error;
    Event::LimiterUnavailable {
        peer,
        check,
        error,
        refused,
    }
}

/// Counters are kept per lower-cased name, so `Alice` cannot dodge the
/// lock on `alice`.
fn fold(name: &str) -> Box<str> {
    name.to_lowercase().into_boxed_str()
}

impl<L: Limiter> SubmissionPolicy<L> {
    /// The limiter the counters live in.
    pub fn limiter(&self) -> &L {
        &self.limiter
    }

    fn network(&self, peer: IpAddr) -> Network {
        Network::grouping(peer, self.rules.v4_prefix, self.rules.v6_prefix)
    }

    fn is_trusted(&self, peer: IpAddr, now: SystemTime) -> bool {
        self.rules.trusted.iter().any(|n| n.contains(peer))
            || self
                .rules
                .recent
                .as_ref()
                .is_some_and(|r| r.contains(peer, now))
    }

    fn owns(&self, identity: &str, address: &str) -> bool {
        (self.rules.identity_owns_itself && identity.to_lowercase() == address.to_lowercase())
            || self
                .rules
                .senders
                .as_ref()
                .is_some_and(|m| m.owns(identity, address))
    }

    /// [`owns`](Self::owns), then the [`SenderOwners`] source, if any.
    async fn ownership(&self, identity: &str, address: &str) -> Ownership {
        if self.owns(identity, address) {
            return Ownership::Owned;
        }
        match &self.rules.owners {
            Some(source) => source.0.owns_boxed(identity, address).await,
            None => Ownership::NotOwned,
        }
    }

    fn is_local(&self, recipient: &str) -> bool {
        if recipient.eq_ignore_ascii_case("postmaster") {
            return true;
        }
        recipient.rsplit_once('@').is_some_and(|(_, domain)| {
            let domain = domain.to_lowercase();
            self.rules.local_domains.contains(&domain)
        })
    }

    fn delay_after(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.rules
            .failure_delay
            .saturating_mul(1u32 << doublings)
            .min(self.rules.max_failure_delay)
    }

    async fn gate(&self, attempt: &AuthAttempt, now: SystemTime) -> Decision {
        let net = self.network(attempt.peer);
        let account = fold(&attempt.user);
        let keys = [
            Key::Network(net),
            Key::Account(account.clone()),
            Key::AccountNetwork(account, net),
        ];
        let states = match self.limiter.inspect(&keys, now).await {
            Ok(s) if s.len() == keys.len() => s,
            Ok(_) => {
                let e = LimiterError::Unavailable("wrong number of states".into());
                return self.limiter_failed(
                    attempt.peer,
                    LimiterCheck::Authenticate,
                    e,
                    Reply::AUTH_TEMPORARY_FAILURE,
                );
            }
            // REPLY-20: no answer from the counters is a temporary failure,
            // never a pass (unless configured to fail open).
            Err(e) => {
                return self.limiter_failed(
                    attempt.peer,
                    LimiterCheck::Authenticate,
                    e,
                    Reply::AUTH_TEMPORARY_FAILURE,
                )
            }
        };
        let mut decision = Decision::allow();
        for (key, state) in keys.iter().zip(&states) {
            if state.lock_ended {
                decision.events.push(Event::LockoutEnded {
                    peer: attempt.peer,
                    key: key.clone(),
                });
            }
        }
        let locked = |s: &KeyState| s.locked_until.is_some();
        let (net_s, acct_s, pair_s) = (&states[0], &states[1], &states[2]);
        let exempt = !self.rules.known_good_for.is_zero() && pair_s.known_good;
        if locked(net_s) || locked(pair_s) || (locked(acct_s) && !exempt) {
            // REPLY-21: refused without running the credential check.
            decision.answer = Answer::Reply(Reply::AUTH_TEMPORARY_FAILURE);
        }
        decision
    }

    async fn record(&self, result: &AuthResult, now: SystemTime) -> Decision {
        let net = self.network(result.peer);
        let reason = match &result.outcome {
            Ok(_) => {
                let mut decision = Decision::recorded(Duration::ZERO);
                if let Some(user) = &result.user {
                    let key = Key::AccountNetwork(fold(user), net);
                    let marked = self
                        .limiter
                        .record_success(&key, self.rules.known_good_for, now)
                        .await;
                    if let Err(e) = marked {
                        decision.events.push(limiter_event(
                            result.peer,
                            LimiterCheck::AuthSuccess,
                            e,
                            false,
                        ));
                    }
                }
                return decision;
            }
            Err(reason) => *reason,
        };
        if !reason.counts_as_guess() {
            return Decision::recorded(Duration::ZERO);
        }
        let mut hits = Vec::with_capacity(3);
        if let Some(rule) = self.rules.per_network {
            hits.push((Key::Network(net), rule));
        }
        if let Some(user) = &result.user {
            let account = fold(user);
            if let Some(rule) = self.rules.per_account {
                hits.push((Key::Account(account.clone()), rule));
            }
            if let Some(rule) = self.rules.per_account_network {
                hits.push((Key::AccountNetwork(account, net), rule));
            }
        }
        let counts =
            match self.limiter.record_failure(&hits, now).await {
                Ok(c) => c,
                // Not counted: hold the reply as long as the policy ever does.
                Err(e) => {
                    return Decision::recorded(self.rules.max_failure_delay).with_event(
                        limiter_event(result.peer, LimiterCheck::AuthFailure, e, false),
                    )
                }
            };
        let mut decision = Decision::recorded(Duration::ZERO);
        let mut worst = 1;
        for ((key, _), failures) in hits.into_iter().zip(counts) {
            if !matches!(key, Key::Account(_)) {
                worst = worst.max(failures.count);
            }
            if failures.lock_ended {
                decision.events.push(Event::LockoutEnded {
                    peer: result.peer,
                    key: key.clone(),
                });
            }
            if let Some(lock) = failures.lock_started {
                decision.events.push(Event::LockoutStarted {
                    peer: result.peer,
                    key,
                    failures: failures.count,
                    duration: lock.duration,
                    until: lock.until,
                });
            }
        }
        decision.answer = Answer::Recorded {
            delay: self.delay_after(worst),
        };
        decision
    }

    /// The limiter did not answer: refuse with `refusal` (fail closed) or
    /// allow (fail open), and report it either way.
    fn limiter_failed(
        &self,
        peer: IpAddr,
        check: LimiterCheck,
        error: LimiterError,
        refusal: Reply,
    ) -> Decision {
        match self.rules.on_limiter_failure {
            LimiterFailure::Closed => {
                Decision::reply(refusal).with_event(limiter_event(peer, check, error, true))
            }
            LimiterFailure::Open => {
                Decision::allow().with_event(limiter_event(peer, check, error, false))
            }
        }
    }

    fn quota_reached(
        peer: IpAddr,
        identity: &str,
        quota: QuotaKind,
        limit: u64,
        reply: Reply,
    ) -> Decision {
        Decision::reply(reply).with_event(Event::QuotaReached {
            peer,
            identity: identity.to_owned(),
            quota,
            limit,
        })
    }

    async fn sender(&self, mail: &MailFrom, now: SystemTime) -> Decision {
        if !mail.other.is_empty() {
            return Decision::reply(Reply::PARAMETER_NOT_IMPLEMENTED);
        }
        let Some(identity) = &mail.identity else {
            // Relay profile, or a trusted address: no identity to own it.
            return Decision::allow();
        };
        if let (Some(max), Some(size)) = (self.rules.max_message_size, mail.size) {
            if size > max {
                return Self::quota_reached(
                    mail.peer,
                    identity,
                    QuotaKind::MessageSize,
                    max,
                    Reply::MESSAGE_TOO_LARGE,
                );
            }
        }
        if self.rules.check_ownership {
            // R6409-3.2.2: the null sender is never refused for ownership.
            if !mail.sender.is_empty() {
                match self.ownership(identity, &mail.sender).await {
                    Ownership::Owned => {}
                    Ownership::NotOwned => return Decision::reply(Reply::SENDER_NOT_OWNED),
                    Ownership::Unavailable => return Decision::reply(Reply::LOCAL_ERROR),
                }
            }
            // RFC 4954 §5: a trusted AUTH= names who submitted; it must be
            // the identity's too. AUTH=<> claims nobody.
            if let Some(auth) = mail.auth.as_deref().filter(|a| !a.is_empty()) {
                match self.ownership(identity, auth).await {
                    Ownership::Owned => {}
                    Ownership::NotOwned => return Decision::reply(Reply::SENDER_NOT_OWNED),
                    Ownership::Unavailable => return Decision::reply(Reply::LOCAL_ERROR),
                }
            }
        }
        // Peek only: the message is counted when it is complete.
        self.quota(mail.peer, identity, QuotaKind::Messages, 0, now)
            .await
            .unwrap_or_else(Decision::allow)
    }

    async fn recipient(&self, rcpt: &RcptTo, now: SystemTime) -> Decision {
        if !rcpt.other.is_empty() {
            return Decision::reply(Reply::PARAMETER_NOT_IMPLEMENTED);
        }
        let Some(identity) = &rcpt.identity else {
            if self.is_trusted(rcpt.peer, now) || self.is_local(&rcpt.recipient) {
                return Decision::allow();
            }
            // R6409-9.1: no open relay.
            return Decision::reply(Reply::RELAY_DENIED);
        };
        self.quota(rcpt.peer, identity, QuotaKind::Recipients, 1, now)
            .await
            .unwrap_or_else(Decision::allow)
    }

    async fn body(&self, message: &MessageInfo, now: SystemTime) -> Decision {
        let Some(identity) = &message.identity else {
            return Decision::allow();
        };
        if let Some(max) = self.rules.max_message_size {
            if message.size > max {
                return Self::quota_reached(
                    message.peer,
                    identity,
                    QuotaKind::MessageSize,
                    max,
                    Reply::MESSAGE_TOO_LARGE,
                );
            }
        }
        self.quota(message.peer, identity, QuotaKind::Messages, 1, now)
            .await
            .unwrap_or_else(Decision::allow)
    }

    /// Takes `amount` units of the identity's message or recipient quota
    /// (0: only looks whether it is used up). `None` when within the quota;
    /// else the decision: the quota is reached (`451 4.7.1` / `452 4.5.3`),
    /// or the limiter failed (refused when closed, allowed with an event
    /// when open).
    async fn quota(
        &self,
        peer: IpAddr,
        identity: &str,
        kind: QuotaKind,
        amount: u32,
        now: SystemTime,
    ) -> Option<Decision> {
        let (quota, key, reply, check) = match kind {
            QuotaKind::Recipients => (
                self.rules.recipients?,
                Key::Recipients(fold(identity)),
                Reply::RECIPIENT_QUOTA,
                LimiterCheck::RecipientQuota,
            ),
            _ => (
                self.rules.messages?,
                Key::Messages(fold(identity)),
                Reply::RATE_LIMITED,
                LimiterCheck::MessageQuota,
            ),
        };
        match self.limiter.take(&key, quota, amount, now).await {
            Ok(t) if (amount == 0 && t.used >= quota.limit) || !t.allowed => Some(
                Self::quota_reached(peer, identity, kind, u64::from(quota.limit), reply),
            ),
            Ok(_) => None,
            // Failing open allows, but still reports the outage.
            Err(e) => Some(self.limiter_failed(peer, check, e, Reply::LOCAL_ERROR)),
        }
    }
}

impl<L: Limiter> Policy for SubmissionPolicy<L> {
    fn may_authenticate(
        &self,
        attempt: &AuthAttempt,
        now: SystemTime,
    ) -> impl Future<Output = Decision> + Send {
        self.gate(attempt, now)
    }

    fn auth_result(
        &self,
        result: &AuthResult,
        now: SystemTime,
    ) -> impl Future<Output = Decision> + Send {
        self.record(result, now)
    }

    fn trust(&self, peer: IpAddr, now: SystemTime) -> impl Future<Output = Decision> + Send {
        ready(if self.is_trusted(peer, now) {
            Decision::allow()
        } else {
            Decision::reply(Reply::AUTH_REQUIRED)
        })
    }

    fn mail_from(&self, mail: &MailFrom, now: SystemTime) -> impl Future<Output = Decision> + Send {
        self.sender(mail, now)
    }

    fn rcpt_to(&self, rcpt: &RcptTo, now: SystemTime) -> impl Future<Output = Decision> + Send {
        self.recipient(rcpt, now)
    }

    fn message(
        &self,
        message: &MessageInfo,
        now: SystemTime,
    ) -> impl Future<Output = Decision> + Send {
        self.body(message, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::UNIX_EPOCH;

    #[test]
    fn recent_authentications_expire_and_stay_bounded() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let r = RecentAuthentications::new(Duration::from_secs(600)).capacity(100);
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        assert!(!r.contains(ip, t));
        r.record(ip, t);
        assert!(r.contains(ip, t + Duration::from_secs(599)));
        assert!(!r.contains(ip, t + Duration::from_secs(600)));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert!(r.contains(mapped, t), "IPv4-mapped is the same client");
        for i in 0..100_000u32 {
            r.record(IpAddr::V4(Ipv4Addr::from(i)), t + Duration::from_secs(1));
        }
        assert!(r.len() <= 100, "{}", r.len());
        assert!(r.lock().order.len() <= 200);
    }

    #[test]
    fn delays_double_and_cap() {
        let p = SubmissionPolicy::default();
        let d: Vec<u64> = (1..=6).map(|n| p.delay_after(n).as_secs()).collect();
        assert_eq!(d, [1, 2, 4, 8, 8, 8]);
    }
}
