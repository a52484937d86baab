//! The EHLO reply: the capability list from the [`Config`](crate::Config),
//! the TLS state and the mechanisms offered on this connection.

use crate::config::Config;
use crate::sasl::Mechanism;
use crate::tls::TlsInfo;

use super::Session;

/// The mechanisms `config` offers on a connection in this TLS state. A free
/// function over the two fields, so EHLO can write into the output buffer
/// while it walks the list.
fn offered<'a>(config: &'a Config, tls: Option<&TlsInfo>) -> impl Iterator<Item = Mechanism> + 'a {
    let cb = tls.is_some_and(|t| t.channel_binding.is_some());
    let cert = tls.is_some_and(|t| t.client_certificate.is_some());
    let tls = tls.is_some();
    config
        .mechanisms
        .iter()
        .copied()
        .filter(move |&m| config.offers(m, tls, cb, cert))
}

impl Session {
    /// The mechanisms offered on this connection now (RFC 4954 §3: the
    /// list may differ before and after TLS).
    pub fn offered_mechanisms(&self) -> impl Iterator<Item = Mechanism> + '_ {
        offered(&self.config, self.tls.as_ref())
    }

    /// Writes the multi-line EHLO reply. EHLO lines carry no enhanced
    /// status code: keywords must start the line (RFC 5321 §4.1.1.1).
    /// Written straight into the output batch, without allocating.
    pub(super) fn write_ehlo(&mut self, client: &str) {
        let starttls = self.tls.is_none() && self.config.starttls;
        let auth = self.offered_mechanisms().next().is_some();
        let (digits, start) = decimal(self.config.limits.message_size);
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
        put(out, false, &[b"SIZE ", &digits[start..]]);
        let enabled = statics.iter().filter(|(_, on)| *on).count();
        for (i, (text, _)) in statics.iter().filter(|(_, on)| *on).enumerate() {
            put(out, !auth && i + 1 == enabled, &[text]);
        }
        if auth {
            out.extend_from_slice(b"250 AUTH");
            for m in offered(&self.config, self.tls.as_ref()) {
                out.extend_from_slice(b" ");
                out.extend_from_slice(m.name().as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// The decimal digits of `v`, on the stack: `buf[start..]`.
fn decimal(mut v: u64) -> ([u8; 20], usize) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return (buf, i);
        }
    }
}
