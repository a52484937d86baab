//! The grammar allocates nothing on the success path (DESIGN §7,
//! httparse/smtp-proto style), except to decode `+XX` escapes in `AUTH=`.
//!
//! One counting global allocator for this test binary; the count is
//! per-thread so the test harness's own threads do not disturb it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use smtp_auth::command::{parse, AuthParam, Command, ForwardPath, ReversePath};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn bump() {
    // `try_with`: the slot may be gone while the thread is being torn down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// only addition is a thread-local counter, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    let after = ALLOCATIONS.with(Cell::get);
    (out, after - before)
}

const TYPICAL: &[&[u8]] = &[
    b"EHLO client.example.com",
    b"ehlo [192.0.2.1]",
    b"EHLO [IPv6:2001:db8::1]",
    b"HELO DESKTOP-AB_12",
    b"STARTTLS",
    b"AUTH PLAIN AHVzZXIAcGFzc3dvcmQ=",
    b"AUTH LOGIN",
    b"AUTH PLAIN =",
    b"MAIL FROM:<alice@example.org>",
    b"MAIL FROM:<>",
    b"MAIL FROM: <alice@example.org> SIZE=12345 BODY=8BITMIME",
    b"MAIL FROM:<alice@example.org> AUTH=alice@example.org",
    b"MAIL FROM:<> AUTH=<>",
    b"MAIL FROM:<\"john doe\"@example.org> RET=HDRS ENVID=QQ314159",
    b"MAIL FROM:<@a.example,@b.example:u@c.example>",
    "MAIL FROM:<用户@例子.广告> SMTPUTF8".as_bytes(),
    b"RCPT TO:<bob@example.net>",
    b"RCPT TO:<Postmaster>",
    b"RCPT TO:<bob@[IPv6:::ffff:192.0.2.1]> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.net",
    b"DATA",
    b"BDAT 1000 LAST",
    b"RSET",
    b"NOOP",
    b"QUIT",
    b"VRFY postmaster",
    b"HELP",
];

#[test]
fn typical_lines_parse_without_allocating() {
    for line in TYPICAL {
        let (result, n) = allocations_during(|| {
            let cmd = parse(line);
            // Touch the parsed data so nothing is optimised away, and walk
            // the zero-copy parameter list (which must not allocate either).
            if let Ok(Command::Mail { params, .. }) = &cmd {
                assert!(params.other.iter().count() < 10);
            }
            if let Ok(Command::Rcpt { params, .. }) = &cmd {
                assert!(params.other.iter().count() < 10);
            }
            cmd.is_ok()
        });
        assert!(result, "{:?} did not parse", String::from_utf8_lossy(line));
        assert_eq!(n, 0, "{:?} allocated", String::from_utf8_lossy(line));
    }
}

#[test]
fn common_errors_do_not_allocate_either() {
    for line in [
        &b""[..],
        b"FOO",
        b"MAIL FROM:<a@>",
        b"RCPT TO:<>",
        b"MAIL FROM:<a@b> SIZE=1 SIZE=2",
        b"AUTH",
        b"STARTTLS x",
    ] {
        let (result, n) = allocations_during(|| parse(line).map(|_| ()).map_err(|e| e.reply()));
        assert!(result.is_err());
        assert_eq!(n, 0, "{:?} allocated", String::from_utf8_lossy(line));
    }
}

#[test]
fn xtext_escapes_are_the_one_allocation() {
    let (auth, n) = allocations_during(|| match parse(b"MAIL FROM:<a@b> AUTH=a+2Bb@example.com") {
        Ok(Command::Mail {
            from: ReversePath::Mailbox(_),
            params,
        }) => params.auth,
        _ => None,
    });
    assert_eq!(auth, Some(AuthParam::Mailbox("a+b@example.com".into())));
    assert_eq!(n, 1);
}

#[test]
fn the_counter_works() {
    let (_, n) = allocations_during(|| match parse(b"RCPT TO:<Postmaster>") {
        Ok(Command::Rcpt {
            to: ForwardPath::Postmaster,
            ..
        }) => Some(String::from("x")),
        _ => None,
    });
    assert_eq!(n, 1);
}
