//! CRLF line framing over the session's input buffer, with a per-state line
//! limit. An over-long line is consumed to its end and reported once; the
//! buffer never grows past the limit while that happens.

use bytes::BytesMut;

/// What [`LineReader::next_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Framed {
    /// A complete line; the bytes exclude the CRLF.
    Line(BytesMut),
    /// A line longer than the limit ended; its bytes were thrown away.
    TooLong,
    /// No complete line yet.
    Incomplete,
}

/// Holds unprocessed input and frames it into lines. Only CR LF ends a
/// line (RFC 5321 §2.3.8): a bare LF or CR stays inside the line.
#[derive(Debug, Default)]
pub(crate) struct LineReader {
    buf: BytesMut,
    /// Inside an over-long line being thrown away.
    skipping: bool,
    /// While skipping, the last byte thrown away was CR.
    skipped_cr: bool,
    /// An over-long line ended and is not yet reported.
    overflowed: bool,
    /// A prefix of `buf` already known to hold no CRLF.
    scanned: usize,
    /// The last over-long line began with `AUTH ` (so its refusal is the
    /// AUTH one, RFC 4954 §4: `500 5.5.6`).
    long_auth: bool,
}

impl LineReader {
    pub(crate) fn push(&mut self, data: &[u8]) {
        if self.skipping {
            self.skip(data);
        } else {
            self.buf.extend_from_slice(data);
        }
    }

    /// Unprocessed bytes held.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Heap capacity held, for memory accounting.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The unprocessed bytes (for body decoding).
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Drops the first `n` unprocessed bytes.
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        let _ = self.buf.split_to(n);
        self.scanned = self.scanned.saturating_sub(n);
    }

    /// Throws away everything buffered; returns how many bytes that was.
    pub(crate) fn clear(&mut self) -> usize {
        let n = self.buf.len();
        self.buf = BytesMut::new();
        self.skipping = false;
        self.skipped_cr = false;
        self.overflowed = false;
        self.scanned = 0;
        n
    }

    /// Frames the next line of at most `limit` octets, CRLF included.
    pub(crate) fn next_line(&mut self, limit: usize) -> Framed {
        if std::mem::take(&mut self.overflowed) {
            return Framed::TooLong;
        }
        if self.skipping {
            return Framed::Incomplete;
        }
        let window = self.buf.len().min(limit);
        // Restart one byte early: a CR may end the scanned prefix.
        let from = self.scanned.saturating_sub(1).min(window);
        if let Some(end) = find_crlf(&self.buf[from..window]).map(|p| p + from) {
            let mut line = self.buf.split_to(end + 2);
            line.truncate(end);
            self.scanned = 0;
            return Framed::Line(line);
        }
        self.scanned = window;
        if self.buf.len() < limit {
            return Framed::Incomplete;
        }
        // Over-long: throw the line away up to its CRLF, keeping no more of
        // it than we already hold.
        let head = self.buf.iter().position(|&b| b != b' ').unwrap_or(0);
        self.long_auth = self
            .buf
            .get(head..head + 5)
            .is_some_and(|v| v.eq_ignore_ascii_case(b"AUTH "));
        let rest = self.buf.split_off(limit);
        let last_was_cr = self.buf.last() == Some(&b'\r');
        self.buf.clear();
        self.scanned = 0;
        self.skipping = true;
        self.skipped_cr = last_was_cr;
        self.skip(&rest);
        if std::mem::take(&mut self.overflowed) {
            Framed::TooLong
        } else {
            Framed::Incomplete
        }
    }

    /// Whether the over-long line last reported began with `AUTH `.
    pub(crate) fn long_line_was_auth(&self) -> bool {
        self.long_auth
    }

    fn skip(&mut self, data: &[u8]) {
        let mut prev_cr = self.skipped_cr;
        for (i, &b) in data.iter().enumerate() {
            if b == b'\n' && prev_cr {
                self.skipping = false;
                self.skipped_cr = false;
                self.overflowed = true;
                self.buf.extend_from_slice(&data[i + 1..]);
                return;
            }
            prev_cr = b == b'\r';
        }
        self.skipped_cr = prev_cr;
    }
}

fn find_crlf(hay: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(p) = memchr::memchr(b'\n', &hay[from..]) {
        let at = from + p;
        if at > 0 && hay[at - 1] == b'\r' {
            return Some(at - 1);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(f: Framed) -> Vec<u8> {
        match f {
            Framed::Line(l) => l.to_vec(),
            other => panic!("expected a line, got {other:?}"),
        }
    }

    #[test]
    fn r5321_2_3_8_only_crlf_ends_a_line() {
        let mut r = LineReader::default();
        r.push(b"NOOP\nRSET\rX\r\nQUIT\r\n");
        assert_eq!(line(r.next_line(512)), b"NOOP\nRSET\rX");
        assert_eq!(line(r.next_line(512)), b"QUIT");
        assert_eq!(r.next_line(512), Framed::Incomplete);
    }

    #[test]
    fn crlf_split_across_pushes() {
        let mut r = LineReader::default();
        r.push(b"NOOP\r");
        assert_eq!(r.next_line(512), Framed::Incomplete);
        r.push(b"\n");
        assert_eq!(line(r.next_line(512)), b"NOOP");
    }

    #[test]
    fn line_of_exactly_the_limit_passes_one_more_fails() {
        let mut r = LineReader::default();
        let mut ok = vec![b'a'; 510];
        ok.extend_from_slice(b"\r\n");
        r.push(&ok);
        assert_eq!(line(r.next_line(512)).len(), 510);
        let mut long = vec![b'a'; 511];
        long.extend_from_slice(b"\r\nNOOP\r\n");
        r.push(&long);
        assert_eq!(r.next_line(512), Framed::TooLong);
        assert_eq!(line(r.next_line(512)), b"NOOP");
    }

    #[test]
    fn over_long_line_is_skipped_with_bounded_buffer() {
        let mut r = LineReader::default();
        r.push(&[b'x'; 600]);
        assert_eq!(r.next_line(512), Framed::Incomplete);
        for _ in 0..1000 {
            r.push(&[b'y'; 1000]);
            assert!(r.buffered() <= 512);
            assert_eq!(r.next_line(512), Framed::Incomplete);
        }
        r.push(b"\r");
        assert_eq!(r.next_line(512), Framed::Incomplete);
        r.push(b"\nQUIT\r\n");
        assert_eq!(r.next_line(512), Framed::TooLong);
        assert_eq!(line(r.next_line(512)), b"QUIT");
    }

    #[test]
    fn crlf_straddling_the_limit_is_too_long() {
        let mut r = LineReader::default();
        let mut v = vec![b'a'; 511];
        v.extend_from_slice(b"\r\nNOOP\r\n");
        r.push(&v);
        assert_eq!(r.next_line(512), Framed::TooLong);
        assert_eq!(line(r.next_line(512)), b"NOOP");
    }
}
