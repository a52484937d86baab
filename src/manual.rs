//! # Manual: the threats this crate defends against
//!
//! A submission server is the front door to a mail system: whoever gets
//! past it sends mail in your users' names. This page lists the attacks the
//! crate is built against (the `ATK-nn` classes of the project's RFC
//! checklist), what the [`Session`](crate::Session) does about each, and —
//! because a sans-IO library only decides, while the embedder moves the
//! bytes — **what the embedder must not undo**.
//!
//! Every defence here is exercised by `tests/hostile.rs` (one table row per
//! attack variant, with the exact replies), by the property tests and by
//! the fuzz targets in `fuzz/`.
//!
//! ## STARTTLS command injection (ATK-01, CVE-2011-0411)
//!
//! An attacker on the path appends commands to the client's `STARTTLS` in
//! the same TCP segment (`STARTTLS\r\nAUTH PLAIN …\r\n`). A server that
//! keeps those bytes buffered runs them after the handshake as if they had
//! come over TLS.
//!
//! What the session does: on `STARTTLS` it sends `220 2.0.0`, throws away
//! every byte buffered behind the command, and emits
//! [`Output::StartTls`](crate::Output::StartTls). Until
//! [`tls_established`](crate::Session::tls_established) it sends nothing
//! (not even on shutdown: a plaintext reply would land in the handshake)
//! and counts, then discards, whatever arrives
//! ([`Event::PlaintextDiscarded`](crate::Event::PlaintextDiscarded) reports
//! it). After the handshake it forgets the EHLO, any transaction (body
//! pieces already handed out, such as `BDAT` chunks, are voided with
//! [`Output::DiscardData`](crate::Output::DiscardData)) and any
//! authentication (RFC 3207 §4.2), and refuses a second `STARTTLS`.
//!
//! The embedder must not:
//!
//! * start the handshake before writing every `Send` that came before
//!   `StartTls` (the client waits for the `220`);
//! * hand the TLS library bytes it already read from the plaintext socket.
//!   A buffered reader around the TCP stream may hold bytes that arrived
//!   behind `STARTTLS`: build the TLS stream on the raw socket, or feed
//!   those bytes to [`receive`](crate::Session::receive) (which discards
//!   them), never to the TLS layer;
//! * call `tls_established` for a handshake that has not completed, or
//!   with another connection's [`TlsInfo`](crate::TlsInfo) (its channel
//!   binding authenticates *this* connection to SCRAM `-PLUS`).
//!
//! ## STARTTLS stripping and plaintext passwords (ATK-02, R4954-4.23)
//!
//! PLAIN, LOGIN, XOAUTH2 and OAUTHBEARER reveal the secret. They are not
//! advertised before TLS, and trying one gets `504 5.5.4 Encryption
//! required` before the password is even decoded. Do not turn on
//! [`allow_plaintext_auth`](crate::ConfigBuilder::allow_plaintext_auth)
//! outside a loopback test listener; prefer implicit TLS on port 465
//! ([`Profile::ImplicitTls`](crate::Profile::ImplicitTls)) or
//! [`require_tls`](crate::ConfigBuilder::require_tls) on 587, so that a
//! stripped `STARTTLS` leaves a client with nothing to send its password to.
//!
//! ## SMTP smuggling (ATK-03, CVE-2023-51764/5/6)
//!
//! Servers that disagree about where a message ends (`<LF>.<LF>`,
//! `<CR>.<CR>`, `<LF>.<CR><LF>`, …) let an attacker hide a second
//! transaction inside the first message's body; the hidden `MAIL FROM`
//! escapes the sender-ownership check.
//!
//! What the session does: only CR LF ends a line — in commands, in AUTH
//! responses and in bodies — and only `<CRLF>.<CRLF>` ends DATA. A body
//! with a bare CR or bare LF is received to its real end and refused with
//! `550 5.6.11` ([`BareLineEndings::Reject`](crate::BareLineEndings::Reject),
//! the default), so it can never be relayed to a server that would split it.
//!
//! The embedder must not:
//!
//! * normalise line endings (or decode, re-chunk by lines, or strip
//!   anything) before [`receive`](crate::Session::receive): pass the bytes
//!   exactly as read;
//! * store or relay a body other than the concatenated
//!   [`Output::Data`](crate::Output::Data) pieces, or keep pieces after
//!   [`Output::DiscardData`](crate::Output::DiscardData);
//! * choose [`BareLineEndings::Pass`](crate::BareLineEndings::Pass) for
//!   mail it relays to other servers, unless it re-encodes bare line
//!   endings itself.
//!
//! ## Line limits and bounded memory (ATK-10, R4954-4.13/4.14)
//!
//! Every buffer has a limit from [`Limits`](crate::Limits): a command line
//! is at most 512 octets (`500 5.5.2`), an AUTH line or SASL response at
//! most 12288 (`500 5.5.6` beyond; bearer tokens need that much), an
//! over-long line is skipped to its CRLF without being held, and pipelined
//! input held while a question is open is capped by `buffered_input`
//! (`421 4.7.0` beyond). `receive` frames a large read a piece at a time,
//! so 10 MB without a CRLF costs about one line buffer, however it is read.
//! `BDAT` chunks and DATA bodies are handed out as they arrive, never held.
//!
//! The heap a session holds is about `max(line limit, buffered_input)`
//! plus 8 KiB for input, plus what one read produces before the next
//! `poll`: the read's body bytes and replies — at most about 32 reply
//! octets per input octet, for a client pipelining `EHLO x` — plus the
//! transaction's recipient list. `tests/heap_bound.rs` measures it with a
//! counting allocator.
//!
//! The embedder must not:
//!
//! * feed unbounded reads: read a few KiB at a time (4–16 KiB keeps the
//!   reply batch of the worst pipelining client small) and drain
//!   [`poll`](crate::Session::poll) after every `receive`;
//! * keep reading while [`wants_read`](crate::Session::wants_read) is false;
//! * skip the timeouts: ask [`timeout`](crate::Session::timeout) and call
//!   [`handle_timeout`](crate::Session::handle_timeout), or a slow-loris
//!   client holds the connection (and the open exchange) forever;
//! * raise the limits far above the RFC floors "to be safe": each one is a
//!   per-connection memory grant to anyone who can connect.
//!
//! ## User enumeration (ATK-07)
//!
//! Unknown user and wrong password give the same `535 5.7.8` bytes, for
//! every mechanism; LOGIN asks for the password even for an unknown user;
//! SCRAM answers an unknown user with a salt derived from the
//! [`fake_salt_key`](crate::ConfigBuilder::fake_salt_key) and the normal
//! iteration count, and fails with `e=invalid-proof` like a wrong password;
//! a lock-out refusal is sent before any credential is looked at, so it
//! does not reveal whether the password was right.
//!
//! The embedder must not:
//!
//! * answer an unknown user differently from a wrong password: use
//!   [`Verdict::Invalid`](crate::sasl::Verdict::Invalid) and
//!   [`Lookup::NotFound`](crate::sasl::Lookup::NotFound), never a custom
//!   reply text;
//! * return faster for unknown users (verify against a dummy hash), or
//!   compare secrets with `==` (use a constant-time comparison);
//! * use a different `fake_salt_key` on each server of a fleet, or leave it
//!   unset there (each server then draws its own, and an unknown user gets
//!   a different salt from each).
//!
//! ## Brute force, spraying and lock-out (ATK-09, R4954-9.3)
//!
//! Before the first credential check of an attempt the session asks
//! [`Question::MayAuthenticate`](crate::Question::MayAuthenticate) with the
//! claimed user and the client address; a refusal
//! ([`Reply::AUTH_TEMPORARY_FAILURE`](crate::Reply::AUTH_TEMPORARY_FAILURE))
//! ends the attempt without consulting the backend, so password spraying
//! never reaches it. Every attempt's end is reported with
//! [`Question::AuthResult`](crate::Question::AuthResult), whose answer may
//! carry a tar-pit delay ([`Output::Delay`](crate::Output::Delay)). After
//! `auth_failures` failures (at least 3) the session closes with
//! `421 4.7.0`.
//!
//! The embedder must not:
//!
//! * answer `MayAuthenticate` by checking the password, or skip counting in
//!   `AuthResult`: the counters are what stops guessing across connections;
//! * count only per user: that lets anyone lock the real user out (count
//!   per address and per address and user as well, and exempt known-good
//!   pairs);
//! * ignore `Output::Delay` while still writing the reply at once, or make
//!   the delay so long the reply misses the client's timeout (RFC 6409 §5:
//!   well under 2 minutes).
//!
//! ## Secret redaction (ATK-11)
//!
//! Passwords, tokens and decoded SASL payloads live in a
//! [`Secret`](crate::Secret), whose `Debug` prints a redaction; the
//! `Debug` of an `AUTH` command shows only the initial response's length;
//! events carry user names, never credentials; errors carry offsets, never
//! the offending byte.
//!
//! The embedder must not:
//!
//! * log the raw bytes given to `receive` or the lines of an AUTH exchange
//!   (a base64 line is a password in thin disguise);
//! * log what [`Secret::expose`](crate::Secret::expose) returns, or keep
//!   exposed secrets longer than the check needs;
//! * put credential details into a [`Reply`](crate::Reply) text: replies
//!   reach the client, and anyone on a plaintext path.
//!
//! ## Parsing hostile input (ATK-04, ATK-05)
//!
//! The command grammar refuses control characters (NUL, CR, LF, DEL, C1)
//! anywhere in a line and invalid UTF-8 in any text it returns; xtext
//! (`AUTH=`) and base64 are decoded strictly (canonical base64 only, no
//! whitespace, padding only at the end); every decoded identity (authcid,
//! authzid, LOGIN user) is UTF-8 without control characters and at most
//! 255 octets, and `AUTH=` must decode to a valid mailbox. The grammar, the decoders, every SASL mechanism and
//! the whole session are fuzzed (`fuzz/README.md`). No input is a panic:
//! bad client input is always a reply.
//!
//! The embedder must not put identities from its own backend (a token's
//! subject, a certificate's name) into headers or logs unchecked: the
//! session validates what the client sends, not what the embedder answers.
