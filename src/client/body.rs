//! The DATA body on the wire: CRLF line endings and dot-stuffing
//! (RFC 5321 §4.5.2, §2.3.8), incrementally over any split of the input.

/// Turns a message into DATA bytes, piece by piece: every bare LF and bare
/// CR becomes CRLF (RFC 5321 §2.3.8: the only line ending SMTP knows, and
/// the one that cannot be read two ways by the relays downstream — SMTP
/// smuggling), a `.` at the start of a line is doubled (§4.5.2), and
/// [`finish`](Self::finish) ends the last line and writes `.` CRLF.
///
/// ```
/// use smtp_auth::client::DotStuffer;
///
/// let mut out = Vec::new();
/// let mut stuffer = DotStuffer::new();
/// stuffer.push(b"Subject: hi\n\n.hidden\r", &mut out);
/// stuffer.push(b"\n.\nend", &mut out);
/// stuffer.finish(&mut out);
/// assert_eq!(out, b"Subject: hi\r\n\r\n..hidden\r\n..\r\nend\r\n.\r\n");
/// ```
#[derive(Debug, Clone)]
pub struct DotStuffer {
    line_start: bool,
    pending_cr: bool,
    size: u64,
}

impl Default for DotStuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl DotStuffer {
    /// A stuffer at the start of a message.
    pub const fn new() -> Self {
        Self {
            line_start: true,
            pending_cr: false,
            size: 0,
        }
    }

    /// Octets of the normalised message so far (CRLF endings, before
    /// stuffing): what `SIZE=` declares (RFC 1870 §3).
    pub const fn size(&self) -> u64 {
        self.size
    }

    fn newline(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\r\n");
        self.size += 2;
        self.line_start = true;
    }

    /// Encodes the next piece of the message into `out`.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 64 + 2);
        let mut run = 0;
        for (i, &b) in input.iter().enumerate() {
            if self.pending_cr {
                self.pending_cr = false;
                // CR LF, or a bare CR: either way one line ending.
                self.newline(out);
                if b == b'\n' {
                    run = i + 1;
                    continue;
                }
            }
            match b {
                b'\r' | b'\n' => {
                    out.extend_from_slice(&input[run..i]);
                    self.size += (i - run) as u64;
                    run = i + 1;
                    if b == b'\r' {
                        self.pending_cr = true;
                    } else {
                        self.newline(out);
                    }
                }
                b'.' if self.line_start => {
                    out.extend_from_slice(&input[run..i]);
                    self.size += (i - run) as u64;
                    run = i;
                    out.push(b'.');
                    self.line_start = false;
                }
                _ => self.line_start = false,
            }
        }
        out.extend_from_slice(&input[run..]);
        self.size += (input.len() - run) as u64;
    }

    /// Ends the message: a final CRLF when the last line lacks one, then
    /// the terminator `.` CRLF.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        if self.pending_cr || !self.line_start {
            self.newline(out);
        }
        out.extend_from_slice(b".\r\n");
    }
}

/// Encodes a whole message for DATA, terminator included; returns the
/// wire bytes and the normalised size (for `SIZE=`).
pub fn encode_body(message: &[u8]) -> (Vec<u8>, u64) {
    let mut out = Vec::with_capacity(message.len() + 8);
    let mut stuffer = DotStuffer::new();
    stuffer.push(message, &mut out);
    let size = stuffer.size() + u64::from(stuffer.pending_cr || !stuffer.line_start) * 2;
    stuffer.finish(&mut out);
    (out, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(m: &[u8]) -> Vec<u8> {
        encode_body(m).0
    }

    #[test]
    fn r5321_4_5_2_leading_dots_are_doubled() {
        assert_eq!(enc(b".\r\n"), b"..\r\n.\r\n");
        assert_eq!(
            enc(b"a\r\n.b\r\n..c\r\nd.e\r\n"),
            b"a\r\n..b\r\n...c\r\nd.e\r\n.\r\n"
        );
        assert_eq!(enc(b".start"), b"..start\r\n.\r\n");
    }

    #[test]
    fn r5321_2_3_8_bare_line_endings_become_crlf() {
        assert_eq!(enc(b"a\nb\rc\r\n"), b"a\r\nb\r\nc\r\n.\r\n");
        assert_eq!(enc(b"a\r\r\nb"), b"a\r\n\r\nb\r\n.\r\n");
        assert_eq!(enc(b"a\n.\nb\r.\r"), b"a\r\n..\r\nb\r\n..\r\n.\r\n");
        // The smuggling sequences come out as plain lines, never as an end.
        assert_eq!(enc(b"x\n.\r\ny"), b"x\r\n..\r\ny\r\n.\r\n");
    }

    #[test]
    fn empty_and_unterminated_messages() {
        assert_eq!(encode_body(b""), (b".\r\n".to_vec(), 0));
        assert_eq!(encode_body(b"abc"), (b"abc\r\n.\r\n".to_vec(), 5));
        assert_eq!(encode_body(b"abc\r"), (b"abc\r\n.\r\n".to_vec(), 5));
        assert_eq!(encode_body(b".a\n"), (b"..a\r\n.\r\n".to_vec(), 4));
    }

    #[test]
    fn every_split_gives_the_same_bytes() {
        let msg: &[u8] = b"From: a\n.\r\n..x\r\r\n\rq\n.";
        let whole = enc(msg);
        for i in 0..=msg.len() {
            for j in i..=msg.len() {
                let mut out = Vec::new();
                let mut s = DotStuffer::new();
                s.push(&msg[..i], &mut out);
                s.push(&msg[i..j], &mut out);
                s.push(&msg[j..], &mut out);
                s.finish(&mut out);
                assert_eq!(out, whole, "split at {i}, {j}");
            }
        }
    }
}
