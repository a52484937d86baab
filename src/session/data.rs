//! DATA bodies: dot-unstuffing and the strict `<CRLF>.<CRLF>` terminator
//! (RFC 5321 §4.1.1.4, §4.5.2), decoded incrementally over any split of the
//! input; and BDAT chunk counting (RFC 3030).
//!
//! Only CR LF ends a line here. A bare LF or bare CR is body content: it
//! never ends the message and never starts a line whose leading dot could
//! be taken as a terminator (SMTP smuggling, CVE-2023-51764/5/6). Whether
//! such a body is then refused is the caller's choice.

/// Where the decoder is within the current line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// At the start of a line (after CR LF, or at the start of the body).
    LineStart,
    /// Saw `.` at the start of a line.
    Dot,
    /// Saw `.` CR at the start of a line.
    DotCr,
    /// Inside a line.
    Middle,
    /// Saw CR inside a line (or after a stuffed dot).
    Cr,
}

/// An incremental DATA body decoder.
#[derive(Debug, Clone)]
pub(crate) struct DotDecoder {
    position: Position,
    /// Octets of body produced so far.
    size: u64,
    /// A bare CR or LF was seen.
    bare: bool,
}

/// What one call to [`DotDecoder::decode`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// Input octets consumed.
    pub consumed: usize,
    /// True when `<CRLF>.<CRLF>` was reached; the input after it is not consumed.
    pub finished: bool,
}

impl DotDecoder {
    pub(crate) fn new() -> Self {
        Self {
            position: Position::LineStart,
            size: 0,
            bare: false,
        }
    }

    /// Body octets produced so far (after unstuffing).
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Whether a bare CR or bare LF was seen.
    pub(crate) fn saw_bare_line_ending(&self) -> bool {
        self.bare
    }

    /// Decodes `input`, appending body octets to `out` (when `Some`; `None`
    /// discards them but still counts size and finds the end).
    pub(crate) fn decode(&mut self, input: &[u8], mut out: Option<&mut Vec<u8>>) -> Decoded {
        let mut emit = |bytes: &[u8], size: &mut u64| {
            *size += bytes.len() as u64;
            if let Some(o) = out.as_deref_mut() {
                o.extend_from_slice(bytes);
            }
        };
        // Runs of ordinary bytes are copied in one go.
        let mut run_start = 0;
        let mut i = 0;
        while i < input.len() {
            if self.position == Position::Middle {
                // Inside a line only CR and LF matter: skip to the next one
                // (the run being copied goes on).
                match memchr::memchr2(b'\r', b'\n', &input[i..]) {
                    Some(offset) => i += offset,
                    None => break,
                }
            }
            let b = input[i];
            match self.position {
                Position::Middle => match b {
                    b'\r' => {
                        emit(&input[run_start..i], &mut self.size);
                        self.position = Position::Cr;
                        run_start = i + 1;
                    }
                    b'\n' => {
                        // Bare LF: content, and still the middle of a line.
                        self.bare = true;
                    }
                    _ => {}
                },
                Position::Cr => {
                    match b {
                        b'\n' => {
                            emit(b"\r\n", &mut self.size);
                            self.position = Position::LineStart;
                        }
                        b'\r' => {
                            // The held CR was bare; this one is held now.
                            self.bare = true;
                            emit(b"\r", &mut self.size);
                        }
                        _ => {
                            self.bare = true;
                            emit(b"\r", &mut self.size);
                            self.position = Position::Middle;
                            run_start = i;
                            i += 1;
                            continue;
                        }
                    }
                    run_start = i + 1;
                }
                Position::LineStart => {
                    match b {
                        b'.' => self.position = Position::Dot,
                        b'\r' => self.position = Position::Cr,
                        b'\n' => {
                            self.bare = true;
                            emit(b"\n", &mut self.size);
                            self.position = Position::Middle;
                        }
                        _ => {
                            self.position = Position::Middle;
                            run_start = i;
                            i += 1;
                            continue;
                        }
                    }
                    run_start = i + 1;
                }
                Position::Dot => {
                    match b {
                        b'\r' => self.position = Position::DotCr,
                        _ => {
                            // A stuffed dot: dropped; this byte starts the line's content.
                            self.position = Position::Middle;
                            if b == b'\n' {
                                self.bare = true;
                            }
                            run_start = i;
                            i += 1;
                            continue;
                        }
                    }
                    run_start = i + 1;
                }
                Position::DotCr => {
                    if b == b'\n' {
                        self.position = Position::LineStart;
                        return Decoded {
                            consumed: i + 1,
                            finished: true,
                        };
                    }
                    // ".\r" then something else: the dot was stuffed, the CR
                    // is bare content.
                    self.bare = true;
                    emit(b"\r", &mut self.size);
                    self.position = Position::Middle;
                    if b == b'\r' {
                        self.position = Position::Cr;
                        run_start = i + 1;
                    } else {
                        run_start = i;
                    }
                }
            }
            i += 1;
        }
        if self.position == Position::Middle {
            emit(&input[run_start..], &mut self.size);
        }
        Decoded {
            consumed: input.len(),
            finished: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `step` bytes; returns body, end
    /// offset (if the terminator was found), and the bare flag.
    fn run(input: &[u8], step: usize) -> (Vec<u8>, Option<usize>, bool) {
        let mut d = DotDecoder::new();
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < input.len() {
            let end = (pos + step).min(input.len());
            let r = d.decode(&input[pos..end], Some(&mut out));
            pos += r.consumed;
            if r.finished {
                assert_eq!(d.size(), out.len() as u64);
                return (out, Some(pos), d.saw_bare_line_ending());
            }
        }
        (out, None, d.saw_bare_line_ending())
    }

    fn all_splits(input: &[u8]) -> (Vec<u8>, Option<usize>, bool) {
        let first = run(input, input.len().max(1));
        for step in 1..input.len() {
            assert_eq!(run(input, step), first, "step {step}");
        }
        first
    }

    #[test]
    fn r5321_4_5_2_unstuffing_and_terminator() {
        let (body, end, bare) = all_splits(b"Hi\r\n..dot\r\n.\r\nNEXT");
        assert_eq!(body, b"Hi\r\n.dot\r\n");
        assert_eq!(end, Some(14));
        assert!(!bare);
    }

    #[test]
    fn empty_body() {
        let (body, end, _) = all_splits(b".\r\n");
        assert_eq!(body, b"");
        assert_eq!(end, Some(3));
    }

    #[test]
    fn atk_03_smuggling_variants_never_terminate() {
        for v in [
            &b"a\n.\nb"[..],
            b"a\r.\rb",
            b"a\n.\r\nb",
            b"a\r\n.\nb",
            b"a\r.\r\nb",
            b"a\n.\rb",
        ] {
            let (body, end, bare) = all_splits(v);
            assert_eq!(end, None, "{v:?} must not end the message");
            assert!(bare, "{v:?} must be flagged");
            assert!(!body.is_empty());
        }
    }

    #[test]
    fn smuggled_variant_then_real_end() {
        let (body, end, bare) = all_splits(b"a\n.\nMAIL FROM:<x>\r\n.\r\n");
        assert_eq!(body, b"a\n.\nMAIL FROM:<x>\r\n");
        assert_eq!(end, Some(22));
        assert!(bare);
    }

    #[test]
    fn bare_cr_before_crlf_is_kept() {
        let (body, end, bare) = all_splits(b"a\r\r\n.\r\n");
        assert_eq!(body, b"a\r\r\n");
        assert_eq!(end, Some(7));
        assert!(bare);
    }

    #[test]
    fn dot_cr_non_lf_keeps_cr_drops_stuffed_dot() {
        let (body, end, bare) = all_splits(b".\rx\r\n.\r\n");
        assert_eq!(body, b"\rx\r\n");
        assert_eq!(end, Some(8));
        assert!(bare);
    }

    #[test]
    fn discarding_still_counts_and_finds_the_end() {
        let mut d = DotDecoder::new();
        let r = d.decode(b"abc\r\n..\r\n.\r\n", None);
        assert!(r.finished);
        assert_eq!(d.size(), 8);
    }
}
