//! The GS2 header (RFC 5801 §4) that SCRAM (RFC 5802 §7) and OAUTHBEARER
//! (RFC 7628 §3.1) put in front of their first message, and the
//! `saslname` escaping of `,` and `=` both use.

use super::identity;

/// The channel-binding flag of a GS2 header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CbFlag {
    /// `n`: the client does not support channel binding.
    No,
    /// `y`: the client supports it but thinks the server does not.
    ClientOnly,
    /// `p=<name>`: the client binds to the channel with this type.
    Binding(String),
}

/// A parsed GS2 header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) flag: CbFlag,
    /// The unescaped authzid (`a=`), if present.
    pub(crate) authzid: Option<String>,
    /// The header exactly as sent, trailing comma included: SCRAM's `c=`
    /// must repeat it byte for byte.
    pub(crate) raw: Vec<u8>,
}

/// What is wrong with a GS2 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Error {
    /// The header breaks the grammar.
    Syntax,
    /// The authzid is badly escaped or not an acceptable identity.
    Name,
}

/// Splits `msg` into its GS2 header and the rest.
pub(crate) fn parse(msg: &[u8]) -> Result<(Header, &[u8]), Error> {
    let mut parts = msg.splitn(3, |&b| b == b',');
    let (Some(flag), Some(authz), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Error::Syntax);
    };
    let flag = match flag {
        b"n" => CbFlag::No,
        b"y" => CbFlag::ClientOnly,
        _ => {
            let name = flag.strip_prefix(b"p=").ok_or(Error::Syntax)?;
            // cb-name = 1*(ALPHA / DIGIT / "." / "-")
            if name.is_empty()
                || name.len() > 64
                || !name
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'.' || *b == b'-')
            {
                return Err(Error::Syntax);
            }
            CbFlag::Binding(String::from_utf8_lossy(name).into_owned())
        }
    };
    let authzid = if authz.is_empty() {
        None
    } else {
        let name = authz.strip_prefix(b"a=").ok_or(Error::Syntax)?;
        Some(unescape(name).ok_or(Error::Name)?)
    };
    let raw_len = msg.len() - rest.len();
    let raw = msg.get(..raw_len).ok_or(Error::Syntax)?.to_vec();
    Ok((Header { flag, authzid, raw }, rest))
}

/// Decodes a `saslname`: `=2C` is `,`, `=3D` is `=`, any other `=` is an
/// error (R5802-5.1.2), and the result must be an acceptable identity
/// (UTF-8, 1–255 octets, no control characters; ATK-04).
pub(crate) fn unescape(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = raw.iter();
    while let Some(&b) = i.next() {
        match b {
            b'=' => match (i.next(), i.next()) {
                (Some(b'2'), Some(b'C')) => out.push(b','),
                (Some(b'3'), Some(b'D')) => out.push(b'='),
                _ => return None,
            },
            b',' => return None,
            _ => out.push(b),
        }
    }
    identity(&out)
}

/// Encodes a name as a `saslname`.
pub(crate) fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            ',' => out.push_str("=2C"),
            '=' => out.push_str("=3D"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r5802_5_1_headers() {
        let (h, rest) = parse(b"n,,n=user,r=x").unwrap();
        assert_eq!(h.flag, CbFlag::No);
        assert_eq!(h.authzid, None);
        assert_eq!(h.raw, b"n,,");
        assert_eq!(rest, b"n=user,r=x");

        let (h, rest) = parse(b"y,a=ad=2Cm=3Din,rest").unwrap();
        assert_eq!(h.flag, CbFlag::ClientOnly);
        assert_eq!(h.authzid.as_deref(), Some("ad,m=in"));
        assert_eq!(h.raw, b"y,a=ad=2Cm=3Din,");
        assert_eq!(rest, b"rest");

        let (h, _) = parse(b"p=tls-exporter,,").unwrap();
        assert_eq!(h.flag, CbFlag::Binding("tls-exporter".into()));
    }

    #[test]
    fn r5802_5_1_bad_headers() {
        for bad in [
            &b""[..],
            b"n",
            b"n,",
            b"x,,",
            b"N,,",
            b"p,,",
            b"p=,,",
            b"p=tls_exporter,,",
            b"n,u=x,",
            b"F,n,,",
        ] {
            assert_eq!(parse(bad), Err(Error::Syntax), "{bad:?}");
        }
        for bad in [
            &b"n,a=,"[..],
            b"n,a=x=2,",
            b"n,a=x=2c,",
            b"n,a=x\r,",
            b"n,a=\xff,",
        ] {
            assert_eq!(parse(bad), Err(Error::Name), "{bad:?}");
        }
    }

    #[test]
    fn r5802_5_1_2_saslname_escaping() {
        assert_eq!(escape("a,b=c"), "a=2Cb=3Dc");
        assert_eq!(unescape(b"a=2Cb=3Dc").as_deref(), Some("a,b=c"));
        assert_eq!(unescape("jürgen".as_bytes()).as_deref(), Some("jürgen"));
        for bad in [&b"a=b"[..], b"a=", b"a=2", b"a=3d", b"a,b", b"", b"a\0b"] {
            assert_eq!(unescape(bad), None, "{bad:?}");
        }
    }
}
