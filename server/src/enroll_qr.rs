//! A device's enrollment as a phone takes it in: the link (server URL + one-time code,
//! `contacts_agent_protocol::enroll_link`) and that link as a QR code, rendered here as SVG.
//! Pure functions and one lookup; the console and the admin API both call them.

use crate::sql::Conn;
use contacts_agent_protocol::enroll_link;
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use serde::Serialize;

use crate::error::ApiError;
use crate::http::Request;
use crate::repo::{self, DeviceState};

/// Pixels per QR module at the SVG's own size (it scales with CSS like any SVG): a 33-module
/// code with its quiet zone is 264 px wide, easy for a phone camera to read off a screen.
const MODULE_PX: u32 = 8;

/// The outstanding enrollment of a device, ready to show: its code, when it expires, the
/// link a scanner reads, and that link as an SVG QR code.
#[derive(Debug, Clone, Serialize)]
pub struct Enrollment {
    pub device_id: String,
    pub enrollment_code: String,
    pub expires_at: String,
    pub link: String,
    /// A standalone `<svg>` element (no XML declaration), fit to inline in HTML or to serve
    /// as `image/svg+xml`. Holds only the code's modules: no text of anyone's.
    pub qr_svg: String,
}

/// `text` as a QR code in SVG (error correction M: a code on a screen loses little to
/// damage, and a smaller code reads from further away).
pub fn qr_svg(text: &str) -> Result<String, ApiError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| ApiError::Internal(format!("cannot make a QR code of the link: {e}")))?;
    let image = code
        .render::<svg::Color>()
        .quiet_zone(true)
        .module_dimensions(MODULE_PX, MODULE_PX)
        .build();
    // The declaration is for a file on its own; inside HTML it would be a bogus comment.
    Ok(image
        .trim_start_matches(r#"<?xml version="1.0" standalone="yes"?>"#)
        .to_owned())
}

/// The device's outstanding enrollment on the server at `server_url`. A device that holds a
/// working token (enrolled or retiring) and has no new code is a 409, as is one whose code
/// expired or was voided (retired): issue a new code first
/// (`POST /v1/admin/devices/{id}/enrollment-code`).
pub fn enrollment(conn: &Conn, device_id: &str, server_url: &str) -> Result<Enrollment, ApiError> {
    let d = repo::get_device(conn, device_id)?;
    let Some((code, expires_at)) = repo::outstanding_code(conn, device_id)? else {
        return Err(ApiError::Conflict(match d.state {
            DeviceState::Enrolled | DeviceState::Retiring => {
                "the device is already enrolled; issue a new code to move it to another phone"
                    .into()
            }
            DeviceState::Retired => {
                "the device is retired; issue a new code to enroll it again".into()
            }
            DeviceState::AwaitingEnrollment | DeviceState::Revoked => {
                "the device's enrollment code expired; issue a new one".into()
            }
        }));
    };
    let link = enroll_link::format(server_url, &code);
    Ok(Enrollment {
        device_id: d.id,
        qr_svg: qr_svg(&link)?,
        enrollment_code: code,
        expires_at,
        link,
    })
}

/// The URL phones reach this server at: the configured public URL (`--public-url`, for a
/// server behind a proxy or a name), else the scheme and `Host` of the admin's own request.
pub fn server_url(
    public_url: Option<&str>,
    req: &Request,
    behind_tls_proxy: bool,
) -> Result<String, ApiError> {
    if let Some(url) = public_url {
        return Ok(url.trim_end_matches('/').to_owned());
    }
    let host = req
        .header("host")
        .filter(|h| valid_host(h))
        .ok_or_else(|| {
            ApiError::BadRequest(
                "the request has no usable Host header to build the enrollment link from; \
                 start the server with --public-url"
                    .into(),
            )
        })?;
    let scheme = if req.tls || behind_tls_proxy {
        "https"
    } else {
        "http"
    };
    Ok(format!("{scheme}://{host}"))
}

/// A host name or address with an optional port: nothing that could turn the link into
/// another URL (a path, credentials, a fragment).
fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rasterizes the SVG `qr_svg` writes (one pixel per unit of its view box) by reading
    /// back its path of rectangles, so the test decodes what a browser would draw.
    fn raster(svg: &str) -> (usize, Vec<bool>) {
        let size: usize = svg
            .split("width=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .and_then(|s| s.parse().ok())
            .unwrap();
        let d = svg
            .split(" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let mut dark = vec![false; size * size];
        for rect in d.split('M').filter(|r| !r.is_empty()) {
            // "x y h w v h H x V y"
            let nums: Vec<usize> = rect
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().unwrap())
                .collect();
            let (x, y, w, h) = (nums[0], nums[1], nums[2], nums[3]);
            for yy in y..y + h {
                for xx in x..x + w {
                    dark[yy * size + xx] = true;
                }
            }
        }
        (size, dark)
    }

    fn decode(svg: &str) -> String {
        let (size, dark) = raster(svg);
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(size, size, |x, y| {
            if dark[y * size + x] {
                0
            } else {
                255
            }
        });
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1);
        grids[0].decode().unwrap().1
    }

    #[test]
    fn the_qr_code_reads_back_as_the_enrollment_link() {
        let link = enroll_link::format("https://mdm.example.com", "0123456789abcdef01234567");
        let svg = qr_svg(&link).unwrap();
        assert!(svg.starts_with("<svg "), "{}", &svg[..40]);
        assert!(!svg.contains("<script") && !svg.contains("<?xml"));
        assert_eq!(decode(&svg), link);
        // A longer server URL makes a bigger code that still reads back.
        let long = enroll_link::format(
            "https://contacts-mdm.eu-west.corp.example.com:8443/tenants/acme-industries",
            "0123456789abcdef01234567",
        );
        assert_eq!(decode(&qr_svg(&long).unwrap()), long);
    }

    #[test]
    fn the_server_url_comes_from_the_configuration_or_the_admins_own_request() {
        let mut req = Request::new("GET", "/v1/admin/devices/d/enrollment-qr");
        req.headers.push(("host".into(), "127.0.0.1:8080".into()));
        assert_eq!(
            server_url(None, &req, false).unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            server_url(None, &req, true).unwrap(),
            "https://127.0.0.1:8080"
        );
        assert_eq!(
            server_url(Some("https://mdm.example.com/"), &req, false).unwrap(),
            "https://mdm.example.com"
        );
        for bad in ["evil.example/x?", "a@b", "", "host#frag"] {
            let mut req = Request::new("GET", "/");
            req.headers.push(("host".into(), bad.into()));
            assert!(server_url(None, &req, false).is_err(), "{bad}");
        }
    }
}
