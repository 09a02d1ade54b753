//! `GET /enroll`: the page a browser shows for an enrollment link (`<server>/enroll#code=…`,
//! what the console's QR code holds) opened by hand — a phone's camera app, a link pasted
//! into a browser. It says what the link is and how a phone takes it in. The code rides in
//! the fragment, which the browser never sends: the server renders the page without it, and
//! the page's one nonce'd script copies it from the address into the page, as text only.

use std::fmt::Write;

use super::messages::{fill, M};
use super::view::esc;
use super::{bare, login};
use crate::enroll_qr;
use crate::error::ApiError;
use crate::http::{Params, Request, Response};
use crate::repo;
use crate::routes::Ctx;

/// Reads `#code=…` and shows it, and the CLI commands with it, as text (`textContent`,
/// never markup). Without a code it shows why. Sends nothing anywhere (the CSP allows no
/// connection either).
const SCRIPT: &str = "var m=/^#code=([^&#]+)$/.exec(location.hash),c=null;\
try{c=m&&decodeURIComponent(m[1])}catch(e){}\
var $=function(i){return document.getElementById(i)};\
if(c){$('code').textContent=c;$('cmd-code').textContent=c;$('cmd-link').textContent=location.href}\
else{$('no-code').hidden=false}";

pub fn page(ctx: &mut Ctx, req: &Request, _: &Params) -> Result<Response, ApiError> {
    let l = login::locale(req, None);
    // No usable Host and no --public-url: the page still explains; the commands say where
    // the server's address goes.
    let server = enroll_qr::server_url(ctx.public_url.as_deref(), req, ctx.behind_tls_proxy)
        .unwrap_or_else(|_| l.t(M::EnrollPageServerUnknown).to_owned());
    let placeholder = l.t(M::EnrollPageCodePlaceholder);
    let nonce = repo::random_hex(16)?;
    let mut b = String::new();
    let _ = write!(
        b,
        "<section id=enroll-what><p>{what}</p>\
         <h2>{code_h}</h2><p><code id=code class=\"code big\">{in_link}</code></p>\
         <p id=no-code class=warn hidden>{no_code}</p>\
         <p class=note id=why-fragment>{why}</p></section>\
         <section id=enroll-cli><h2>{cli_h}</h2><p>{cli}</p>\
         <pre><code>contacts-agent enroll --link '<span id=cmd-link>{link}</span>'</code></pre>\
         <p>{or}</p>\
         <pre><code>contacts-agent enroll --server {server} --code <span id=cmd-code>{placeholder}</span></code></pre></section>\
         <section id=enroll-android><h2>{android_h}</h2><p>{android}</p></section>\
         <script nonce={nonce}>{SCRIPT}</script>",
        what = esc(&fill(l.lang, M::EnrollPageWhat, &[("server", &server)])),
        code_h = esc(l.t(M::EnrollmentCode)),
        in_link = esc(l.t(M::EnrollPageCodeInLink)),
        no_code = esc(l.t(M::EnrollPageNoCode)),
        why = esc(l.t(M::EnrollPageWhyFragment)),
        cli_h = esc(l.t(M::EnrollPageCliTitle)),
        cli = esc(l.t(M::EnrollPageCli)),
        link = esc(&format!("{server}/enroll#code={placeholder}")),
        or = esc(l.t(M::EnrollPageCliOr)),
        server = esc(&server),
        placeholder = esc(placeholder),
        android_h = esc(l.t(M::EnrollPageAndroidTitle)),
        android = esc(l.t(M::EnrollPageAndroid)),
    );
    Ok(bare(&l, 200, l.t(M::EnrollPageTitle), &b, Some(&nonce))
        // The page's address holds a one-time code: never in a Referer, never cached.
        .with_header("Referrer-Policy", "no-referrer".into())
        .with_header("Cache-Control", "no-store".into())
        .with_header("Vary", "Accept-Language".into()))
}
