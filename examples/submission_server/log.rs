//! One log line per [`Event`], as `key=value` pairs a human and fail2ban can
//! both read. `contrib/fail2ban/filter.d/smtp-auth.conf` matches the
//! `auth-failed` line; a test checks that it still does.

use smtp_auth::Event;

/// The log line for an event, without timestamp or level.
pub fn event_line(event: &Event) -> String {
    fn user(u: &Option<String>) -> String {
        match u {
            Some(u) => format!("{:?}", u),
            None => "-".to_owned(),
        }
    }
    match event {
        Event::Connected { peer, tls } => format!("connected peer={peer} tls={tls}"),
        Event::TlsEstablished {
            peer,
            version,
            cipher,
        } => format!("tls peer={peer} version={version} cipher={cipher}"),
        Event::PlaintextDiscarded { peer, bytes } => {
            format!("starttls-injection peer={peer} discarded={bytes}")
        }
        Event::AuthSucceeded {
            peer,
            identity,
            mechanism,
        } => format!("auth-ok peer={peer} user={identity:?} mechanism={mechanism}"),
        Event::AuthFailed {
            peer,
            user: claimed,
            mechanism,
            reason,
        } => format!(
            "auth-failed peer={peer} user={} mechanism={} reason={reason}",
            user(claimed),
            mechanism.map_or("-".to_owned(), |m| m.to_string()),
        ),
        Event::SenderRefused {
            peer,
            identity,
            sender,
            code,
        } => format!(
            "sender-refused peer={peer} user={} sender={sender:?} code={code}",
            user(identity)
        ),
        Event::RecipientRefused {
            peer,
            identity,
            recipient,
            code,
        } => format!(
            "recipient-refused peer={peer} user={} recipient={recipient:?} code={code}",
            user(identity)
        ),
        Event::MessageAccepted {
            peer,
            identity,
            size,
            recipients,
        } => format!(
            "message-accepted peer={peer} user={} size={size} recipients={recipients}",
            user(identity)
        ),
        Event::MessageRefused { peer, code } => format!("message-refused peer={peer} code={code}"),
        Event::Closed { peer, reason } => format!("closed peer={peer} reason={reason:?}"),
        Event::LimiterUnavailable {
            peer,
            check,
            error,
            refused,
        } => format!(
            "limiter-unavailable peer={peer} check={check:?} refused={refused} error={error:?}"
        ),
        other => format!("{other:?}"),
    }
}
