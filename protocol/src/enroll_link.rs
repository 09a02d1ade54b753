//! The enrollment link: a server's URL and a one-time enrollment code in one string. It is
//! what the console's QR code holds, and what an app's scanner or `contacts-agent enroll
//! --link` reads back into the two values `POST /v1/enroll` needs.
//!
//! `<server URL>/enroll#code=<code>`, the code percent-encoded. The code rides in the
//! fragment, which browsers never send: a link opened by mistake in a browser leaves no code
//! in a server's or a proxy's access log. Defined here, once, for the server that writes it
//! and the agent that reads it.

/// The path segment that ends a link's server URL.
pub const PATH: &str = "/enroll";
const CODE_PREFIX: &str = "#code=";
/// The longest code `POST /v1/enroll` accepts (`EnrollRequest.enrollment_code`).
pub const MAX_CODE: usize = 64;

/// The two values of an enrollment link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollLink {
    /// As the link gives it, without a trailing `/`: what the agent is told to talk to.
    pub server_url: String,
    pub code: String,
}

/// Why a string is not an enrollment link. Never carries the string itself: it holds a
/// one-time code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("not an enrollment link: expected <server URL>/enroll#code=<code>")]
    Shape,
    #[error("the enrollment link's server URL must start with https:// or http://")]
    Scheme,
    #[error("the enrollment link carries no code")]
    NoCode,
    #[error(
        "the enrollment link's code is not valid percent-encoded text of at most 64 characters"
    )]
    BadCode,
}

/// The link for `code` on the server at `server_url` (a trailing `/` is dropped).
pub fn format(server_url: &str, code: &str) -> String {
    format!(
        "{}{PATH}{CODE_PREFIX}{}",
        server_url.trim_end_matches('/'),
        encode(code)
    )
}

/// The server URL and code of a link `format` wrote (surrounding spaces ignored, as a
/// pasted link often has them).
pub fn parse(link: &str) -> Result<EnrollLink, LinkError> {
    let link = link.trim();
    let (base, code) = link.split_once(CODE_PREFIX).ok_or(LinkError::Shape)?;
    let server_url = base.strip_suffix(PATH).ok_or(LinkError::Shape)?;
    let lower = server_url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or(LinkError::Scheme)?;
    if rest.is_empty() || server_url.contains(['?', '#']) {
        return Err(LinkError::Shape);
    }
    if code.is_empty() {
        return Err(LinkError::NoCode);
    }
    let code = decode(code).ok_or(LinkError::BadCode)?;
    if code.is_empty() || code.chars().count() > MAX_CODE || code.chars().any(char::is_control) {
        return Err(LinkError::BadCode);
    }
    Ok(EnrollLink {
        server_url: server_url.trim_end_matches('/').to_owned(),
        code,
    })
}

/// RFC 3986 unreserved characters as they are, every other byte as `%XX`.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `None` for a `%` not followed by two hex digits, or bytes that are not UTF-8.
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_link_names_the_server_and_carries_the_code_in_the_fragment() {
        let link = format("https://mdm.example.com/contacts/", "3f9a0c1d");
        assert_eq!(
            link,
            "https://mdm.example.com/contacts/enroll#code=3f9a0c1d"
        );
        assert_eq!(
            parse(&format!("  {link}\n")).unwrap(),
            EnrollLink {
                server_url: "https://mdm.example.com/contacts".into(),
                code: "3f9a0c1d".into()
            }
        );
    }

    #[test]
    fn what_is_not_a_link_is_refused_without_repeating_it() {
        let cases = [
            ("3f9a0c1d", LinkError::Shape),
            ("https://mdm.example.com/#code=3f9a", LinkError::Shape),
            ("https://mdm.example.com/enroll?code=3f9a", LinkError::Shape),
            (
                "https://mdm.example.com/enroll#token=3f9a",
                LinkError::Shape,
            ),
            ("ftp://mdm.example.com/enroll#code=3f9a", LinkError::Scheme),
            ("https:///enroll#code=3f9a", LinkError::Shape),
            ("https://mdm.example.com/enroll#code=", LinkError::NoCode),
            (
                "https://mdm.example.com/enroll#code=%zz",
                LinkError::BadCode,
            ),
            (
                "https://mdm.example.com/enroll#code=%0A",
                LinkError::BadCode,
            ),
        ];
        for (link, want) in cases {
            assert_eq!(parse(link), Err(want), "{link}");
        }
        let long = format!("https://m.example/enroll#code={}", "a".repeat(65));
        assert_eq!(parse(&long), Err(LinkError::BadCode));
        assert!(!LinkError::BadCode.to_string().contains("3f9a"));
    }

    proptest! {
        #[test]
        fn any_code_and_server_come_back_as_they_went(
            host in "[a-z][a-z0-9-]{0,20}(\\.[a-z]{2,5}){0,2}",
            port in proptest::option::of(1u16..),
            prefix in "(/[a-z0-9._~-]{1,8}){0,2}",
            code in "[^\\p{Cc}]{1,64}",
            https in any::<bool>(),
        ) {
            let scheme = if https { "https" } else { "http" };
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let server = format!("{scheme}://{host}{port}{prefix}");
            let parsed = parse(&format(&server, &code)).unwrap();
            prop_assert_eq!(parsed, EnrollLink { server_url: server, code });
        }
    }
}
