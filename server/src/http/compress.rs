//! gzip for JSON answers when the client accepts it (`Accept-Encoding`): contact pages shrink
//! about sixfold. Small answers, non-JSON bodies (backups are zip archives, photos JPEG) and
//! answers carrying an ETag (their tag names the identity bytes) go out as they are.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

use super::Response;

/// Below this a gzip header and the CPU cost buy nothing.
pub const MIN_COMPRESS_BYTES: usize = 1024;

/// Level 6 (zlib's default): level 9 saves under 2% more on contact pages at twice the time.
const LEVEL: u32 = 6;

/// Compresses `resp` when the request's `Accept-Encoding` allows gzip and the answer is worth
/// it.
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
    if !accepts_gzip(accept_encoding) {
        return resp;
    }
    let mut enc = GzEncoder::new(
        Vec::with_capacity(resp.body.len() / 4),
        Compression::new(LEVEL),
    );
    match enc.write_all(&resp.body).and_then(|()| enc.finish()) {
        Ok(gz) => {
            resp.body = gz;
            resp.headers
                .push(("Content-Encoding".into(), "gzip".into()));
        }
        // Writing into a Vec does not fail; if it ever did, the plain answer is still right.
        Err(e) => log::warn!("gzip of an answer failed, sent uncompressed: {e}"),
    }
    resp
}

/// `gzip` (or `x-gzip`, or `*`) listed with a q-value above zero.
pub fn accepts_gzip(header: Option<&str>) -> bool {
    let Some(header) = header else {
        return false;
    };
    header.split(',').any(|item| {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let q_zero = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        !q_zero
            && (coding.eq_ignore_ascii_case("gzip")
                || coding.eq_ignore_ascii_case("x-gzip")
                || coding == "*")
    })
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn req(accept: Option<&str>) -> Option<&str> {
        accept
    }

    fn big_json() -> Response {
        Response::bytes("application/json", vec![b'a'; 10_000])
    }

    #[test]
    fn accept_encoding_is_read_with_q_values() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("br, GZIP;q=0.5")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(Some("zstd, br")));
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn large_json_is_gzipped_when_asked_and_round_trips() {
        let out = negotiate(req(Some("gzip")), big_json());
        assert!(out
            .headers
            .contains(&("Content-Encoding".into(), "gzip".into())));
        assert!(out.body.len() < 200, "{}", out.body.len());
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&out.body[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, vec![b'a'; 10_000]);
    }

    #[test]
    fn small_unasked_non_json_and_tagged_answers_go_out_as_they_are() {
        let plain = |r: &Response| !r.headers.iter().any(|(k, _)| k == "Content-Encoding");
        assert!(plain(&negotiate(req(None), big_json())));
        assert!(plain(&negotiate(req(Some("identity")), big_json())));
        let small = Response::bytes("application/json", vec![b'a'; 100]);
        assert!(plain(&negotiate(req(Some("gzip")), small)));
        let zip = Response::bytes("application/zip", vec![b'a'; 10_000]);
        assert!(plain(&negotiate(req(Some("gzip")), zip)));
        let tagged = big_json().with_header("ETag", "\"v1\"".into());
        assert!(plain(&negotiate(req(Some("gzip")), tagged)));
    }
}
