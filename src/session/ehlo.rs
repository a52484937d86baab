//! The EHLO reply: the capability list from the [`Config`](crate::Config),
//! the TLS state and the mechanisms offered on this connection.

use crate::sasl::Mechanism;

use super::Session;

impl Session {
    /// The mechanisms offered on this connection now (RFC 4954 §3: the
    /// list may differ before and after TLS).
    pub fn offered_mechanisms(&self) -> impl Iterator<Item = Mechanism> + '_ {
        let tls = self.tls.as_ref();
        let cb = tls.is_some_and(|t| t.channel_binding.is_some());
        let cert = tls.is_some_and(|t| t.client_certificate.is_some());
        self.config
            .mechanisms
            .iter()
            .copied()
            .filter(move |&m| self.config.offers(m, tls.is_some(), cb, cert))
    }

    /// Writes the multi-line EHLO reply. EHLO lines carry no enhanced
    /// status code: keywords must start the line (RFC 5321 §4.1.1.1).
    /// Written straight into the output batch, without allocating.
    pub(super) fn write_ehlo(&mut self, client: &str) {
        let starttls = self.tls.is_none() && self.config.starttls;
        let auth = self.offered_mechanisms().next().is_some();
        let mut size = itoa_u64(self.config.limits.message_size);
        let size = size.as_str();
        let statics: [(&[u8], bool); 7] = [
            (b"PIPELINING", true),
            (b"8BITMIME", true),
            (b"ENHANCEDSTATUSCODES", true),
            (b"SMTPUTF8", true),
            (b"CHUNKING", true),
            (b"BINARYMIME", true),
            (b"STARTTLS", starttls),
        ];
        self.reserve_out();
        let out = &mut self.out;
        let put = |out: &mut bytes::BytesMut, last: bool, parts: &[&[u8]]| {
            out.extend_from_slice(if last { b"250 " } else { b"250-" });
            for p in parts {
                out.extend_from_slice(p);
            }
            out.extend_from_slice(b"\r\n");
        };
        let hostname = self.config.hostname.as_bytes();
        put(out, false, &[hostname, b" greets ", client.as_bytes()]);
        put(out, false, &[b"SIZE ", size.as_bytes()]);
        let enabled = statics.iter().filter(|(_, on)| *on).count();
        for (i, (text, _)) in statics.iter().filter(|(_, on)| *on).enumerate() {
            put(out, !auth && i + 1 == enabled, &[text]);
        }
        if auth {
            out.extend_from_slice(b"250 AUTH");
            let tls = self.tls.as_ref();
            let cb = tls.is_some_and(|t| t.channel_binding.is_some());
            let cert = tls.is_some_and(|t| t.client_certificate.is_some());
            for m in &self.config.mechanisms {
                if self.config.offers(*m, tls.is_some(), cb, cert) {
                    out.extend_from_slice(b" ");
                    out.extend_from_slice(m.name().as_bytes());
                }
            }
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Formats a `u64` on the stack.
fn itoa_u64(mut v: u64) -> StackStr {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    StackStr { buf, start: i }
}

struct StackStr {
    buf: [u8; 20],
    start: usize,
}

impl StackStr {
    fn as_str(&mut self) -> &str {
        std::str::from_utf8(&self.buf[self.start..]).unwrap_or("0")
    }
}
