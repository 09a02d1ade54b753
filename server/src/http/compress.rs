//! Compression of JSON answers when the client accepts it (`Accept-Encoding`): contact pages
//! shrink about sevenfold. zstd when the client lists it (the agent does), gzip otherwise
//! (browsers, other clients). Small answers, non-JSON bodies (backups are zip archives, photos
//! JPEG) and answers carrying an ETag (their tag names the identity bytes) go out as they are.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

use super::Response;

/// Below this a compression header and the CPU cost buy nothing.
pub const MIN_COMPRESS_BYTES: usize = 1024;

/// gzip level 6 (zlib's default): level 9 saves under 2% more on contact pages at twice the
/// time; level 1 costs a third of the CPU but sends 1.6× the bytes.
const GZIP_LEVEL: u32 = 6;

/// zstd level 1: on contact pages as small as gzip -6 at a fifth of its CPU
/// (docs/decisions.md, "Compression").
const ZSTD_LEVEL: i32 = 1;

/// A content coding the server writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Zstd,
    Gzip,
}

impl Coding {
    fn name(self) -> &'static str {
        match self {
            Coding::Zstd => "zstd",
            Coding::Gzip => "gzip",
        }
    }

    fn encode(self, body: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            Coding::Zstd => zstd::bulk::compress(body, ZSTD_LEVEL),
            Coding::Gzip => {
                let mut enc = GzEncoder::new(
                    Vec::with_capacity(body.len() / 4),
                    Compression::new(GZIP_LEVEL),
                );
                enc.write_all(body)?;
                enc.finish()
            }
        }
    }
}

/// Compresses `resp` when the request's `Accept-Encoding` allows a coding and the answer is
/// worth it.
pub fn negotiate(accept_encoding: Option<&str>, mut resp: Response) -> Response {
    if resp.content_type != "application/json"
        || resp.body.len() < MIN_COMPRESS_BYTES
        || resp.headers.iter().any(|(k, _)| {
            k.eq_ignore_ascii_case("etag") || k.eq_ignore_ascii_case("content-encoding")
        })
    {
        return resp;
    }
    // Every answer that could be compressed varies with the request's Accept-Encoding.
    resp.headers.push(("Vary".into(), "Accept-Encoding".into()));
    let Some(coding) = choose(accept_encoding) else {
        return resp;
    };
    match coding.encode(&resp.body) {
        Ok(body) => {
            resp.body = body;
            resp.headers
                .push(("Content-Encoding".into(), coding.name().into()));
        }
        // Writing into a Vec does not fail; if it ever did, the plain answer is still right.
        Err(e) => log::warn!(
            "{} of an answer failed, sent uncompressed: {e}",
            coding.name()
        ),
    }
    resp
}

/// The coding to answer in: zstd when listed by name with a q-value above zero, else gzip
/// (or `x-gzip`) likewise, else gzip for `*` (what every client understands), else none.
pub fn choose(header: Option<&str>) -> Option<Coding> {
    let header = header?;
    let listed = |name: &str| {
        header.split(',').any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            !q_zero && coding.eq_ignore_ascii_case(name)
        })
    };
    if listed("zstd") {
        Some(Coding::Zstd)
    } else if listed("gzip") || listed("x-gzip") || listed("*") {
        Some(Coding::Gzip)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn big_json() -> Response {
        Response::bytes("application/json", vec![b'a'; 10_000])
    }

    #[test]
    fn accept_encoding_is_read_with_q_values_and_zstd_preferred() {
        assert_eq!(choose(Some("gzip")), Some(Coding::Gzip));
        assert_eq!(choose(Some("br, GZIP;q=0.5")), Some(Coding::Gzip));
        assert_eq!(choose(Some("*")), Some(Coding::Gzip));
        assert_eq!(choose(Some("gzip;q=0")), None);
        assert_eq!(choose(Some("identity")), None);
        assert_eq!(choose(Some("br")), None);
        assert_eq!(choose(None), None);
        assert_eq!(choose(Some("zstd, gzip")), Some(Coding::Zstd));
        assert_eq!(choose(Some("gzip, ZSTD;q=0.1")), Some(Coding::Zstd));
        assert_eq!(choose(Some("zstd;q=0, gzip")), Some(Coding::Gzip));
        assert_eq!(choose(Some("zstd;q=0")), None);
    }

    fn encoding(r: &Response) -> Option<&str> {
        r.headers
            .iter()
            .find(|(k, _)| k == "Content-Encoding")
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn large_json_is_gzipped_when_asked_and_round_trips() {
        let out = negotiate(Some("gzip"), big_json());
        assert_eq!(encoding(&out), Some("gzip"));
        assert!(out.body.len() < 200, "{}", out.body.len());
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&out.body[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, vec![b'a'; 10_000]);
    }

    #[test]
    fn large_json_is_zstd_when_asked_and_round_trips() {
        let out = negotiate(Some("zstd, gzip"), big_json());
        assert_eq!(encoding(&out), Some("zstd"));
        assert!(out.body.len() < 200, "{}", out.body.len());
        let plain = zstd::stream::decode_all(&out.body[..]).unwrap();
        assert_eq!(plain, vec![b'a'; 10_000]);
    }

    #[test]
    fn small_unasked_non_json_and_tagged_answers_go_out_as_they_are() {
        let plain = |r: &Response| encoding(r).is_none();
        assert!(plain(&negotiate(None, big_json())));
        assert!(plain(&negotiate(Some("identity"), big_json())));
        let small = Response::bytes("application/json", vec![b'a'; 100]);
        assert!(plain(&negotiate(Some("zstd, gzip"), small)));
        let zip = Response::bytes("application/zip", vec![b'a'; 10_000]);
        assert!(plain(&negotiate(Some("zstd, gzip"), zip)));
        let tagged = big_json().with_header("ETag", "\"v1\"".into());
        assert!(plain(&negotiate(Some("zstd, gzip"), tagged)));
    }
}
