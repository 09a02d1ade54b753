//! Connections: hyper's HTTP/1.1 on tokio, optionally behind rustls. Each request is read
//! under its route's body limit (from Content-Length before a byte of the body is read, and
//! while reading a chunked one), then handled on a blocking worker with its own SQLite
//! connection (`pool.rs`). Slow or stalled clients cost a task and a socket, never a worker.
//! Backup uploads are not read into memory: they are streamed to a spool file (`spool.rs`)
//! under a budget the route gives before the first byte (the device's quota), and the
//! handler reads them from there.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use super::conn::WriteTimeout;
use super::limits::{BodyClass, Limits};
use super::pool::Pool;
use super::spool::{Spool, SpooledBody};
use super::{compress, split_target, Request, Response};
use crate::error::ApiError;
use crate::routes::{self, Auth};

pub struct Shared {
    pub pool: Arc<Pool>,
    /// Where spooled uploads are written (`spool.rs`).
    pub spool_dir: std::path::PathBuf,
    pub limits: Limits,
    pub tls: Option<TlsAcceptor>,
}

/// Accepts until `stop` says so (or its sender is gone), then lets the connections finish
/// what they are answering for at most `limits.shutdown_grace`; idle ones close at once.
pub async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(shared.limits.max_connections.max(1)));
    let (quit_tx, quit_rx) = watch::channel(false);
    // Every connection task holds a sender; `recv` answers None once all are gone.
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    loop {
        let slot = tokio::select! {
            s = Arc::clone(&slots).acquire_owned() => s,
            _ = stop.changed() => break,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, most likely: wait for some to close.
                log::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Answers go out as soon as they are written: no Nagle wait for the client's
        // delayed ACK on a kept-alive connection.
        if let Err(e) = stream.set_nodelay(true) {
            log::debug!("TCP_NODELAY on a connection from {peer}: {e}");
        }
        let (shared, quit, alive) = (Arc::clone(&shared), quit_rx.clone(), alive_tx.clone());
        tokio::spawn(async move {
            connection(stream, peer, shared, quit).await;
            drop(slot);
            drop(alive);
        });
    }
    drop(listener);
    let _ = quit_tx.send(true);
    drop(alive_tx);
    let grace = shared.limits.shutdown_grace;
    if timeout(grace, alive_rx.recv()).await.is_err() {
        log::warn!("connections still busy after {grace:?}; closing them");
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    quit: watch::Receiver<bool>,
) {
    let io = WriteTimeout::new(stream, shared.limits.write_timeout);
    match shared.tls.clone() {
        None => serve_http(TokioIo::new(io), peer, false, shared, quit).await,
        Some(acceptor) => {
            let handshake = timeout(shared.limits.tls_handshake_timeout, acceptor.accept(io));
            match handshake.await {
                Ok(Ok(tls)) => serve_http(TokioIo::new(tls), peer, true, shared, quit).await,
                Ok(Err(e)) => log::debug!("TLS handshake with {peer} failed: {e}"),
                Err(_) => log::debug!("TLS handshake with {peer} timed out"),
            }
        }
    }
}

async fn serve_http<I>(
    io: I,
    peer: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    mut quit: watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let limits = shared.limits.clone();
    let service = service_fn(move |req| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(handle(shared, req, peer, tls).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = quit.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        // Timeouts, resets, clients that hang up: their own business.
        log::debug!("connection from {peer}: {e}");
    }
}

/// The head of a request as our `Request`, with no body yet.
fn head(req: &hyper::Request<Incoming>, peer: SocketAddr, tls: bool) -> Request {
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let (path, query) = split_target(target);
    Request {
        method: req.method().as_str().to_owned(),
        path,
        query,
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: Vec::new(),
        spooled: None,
        peer: Some(peer),
        tls,
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
    tls: bool,
) -> hyper::Response<Full<Bytes>> {
    let started = Instant::now();
    let mut request = head(&req, peer, tls);
    let method = request.method.clone();
    // The query string can carry search terms; log the path only.
    let path = request.path.clone();
    let route = routes::route_limits(&request.method, &request.path);
    let limit = shared.limits.body(route.body);
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    // Until the body is read to its end, an early answer must close the connection: the rest
    // of the body is still on the wire.
    let mut body_read = declared == Some(0);
    let outcome: Result<Response, Failure> = async {
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(ApiError::TooLarge(limit).into());
        }
        let idle = shared.limits.body_read_timeout;
        if route.body.spooled() {
            // Checked before a byte is read: the caller, its headers, and what it may send.
            let gate = clone_head(&request);
            let budget = shared
                .pool
                .run(move |ctx| routes::spool_budget(ctx, &gate, route))
                .await?;
            if declared.is_some_and(|n| n > budget.max_bytes) {
                return Err(budget.over.into());
            }
            let to = Spool::new(&shared.spool_dir);
            request.spooled = Some(spool_body(req.into_body(), to, limit, budget, idle).await?);
        } else {
            if route.body != BodyClass::Small && route.auth != Auth::None {
                // A large body is read only for a caller who may send it.
                let gate = clone_head(&request);
                let auth = route.auth;
                shared
                    .pool
                    .run(move |ctx| routes::authorize(ctx, &gate, auth))
                    .await?;
            }
            request.body = read_body(req.into_body(), limit, idle).await?;
        }
        body_read = true;
        let accept_encoding = request.header("accept-encoding").map(str::to_owned);
        // Compressed on the worker, off the async threads.
        let handled = shared
            .pool
            .run(move |ctx| {
                routes::dispatch(ctx, &request)
                    .map(|r| compress::negotiate(accept_encoding.as_deref(), r))
            })
            .await;
        Ok(handled?)
    }
    .await;
    let response = match outcome {
        Ok(r) => r,
        Err(Failure::Api(e)) => {
            if e.status() >= 500 {
                log::error!("{method} {path}: {e}");
            }
            Response::from_error(&e)
        }
        Err(Failure::SlowBody) => {
            json_error(408, "timeout", "the request body did not arrive in time")
        }
    };
    log::info!(
        "{method} {path} -> {} ({} bytes, {} ms)",
        response.status,
        response.body.len(),
        started.elapsed().as_millis()
    );
    to_hyper(response, !body_read)
}

enum Failure {
    Api(ApiError),
    SlowBody,
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(e)
    }
}

fn clone_head(r: &Request) -> Request {
    Request {
        method: r.method.clone(),
        path: r.path.clone(),
        query: r.query.clone(),
        headers: r.headers.clone(),
        body: Vec::new(),
        spooled: None,
        peer: r.peer,
        tls: r.tls,
    }
}

/// Reads a body of at most `limit` bytes; a chunked one is cut off as soon as it passes the
/// limit, so no more than `limit` bytes (plus one read buffer) are ever held.
async fn read_body(mut body: Incoming, limit: usize, idle: Duration) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    loop {
        let frame = match timeout(idle, body.frame()).await {
            Err(_) => return Err(Failure::SlowBody),
            Ok(None) => return Ok(out),
            Ok(Some(Err(e))) => {
                return Err(
                    ApiError::BadRequest(format!("could not read the request body: {e}")).into(),
                )
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(ApiError::TooLarge(limit).into());
            }
            out.extend_from_slice(&data);
        }
    }
}

/// Streams a body to disk, refusing it as soon as it passes the route's limit (413) or its
/// budget (`budget.over`, e.g. 507): no more than one spool buffer is ever held, and a refused
/// or broken-off upload leaves nothing (the spool file is unlinked from the start).
async fn spool_body(
    mut body: Incoming,
    mut to: Spool,
    limit: usize,
    budget: routes::Budget,
    idle: Duration,
) -> Result<SpooledBody, Failure> {
    loop {
        let frame = match timeout(idle, body.frame()).await {
            Err(_) => return Err(Failure::SlowBody),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(
                    ApiError::BadRequest(format!("could not read the request body: {e}")).into(),
                )
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            let len = to.len() + data.len() as u64;
            if len > limit as u64 {
                return Err(ApiError::TooLarge(limit).into());
            }
            if len > budget.max_bytes {
                return Err(budget.over.into());
            }
            to.push(&data).await.map_err(spool_failed)?;
        }
    }
    Ok(to.finish().await.map_err(spool_failed)?)
}

fn spool_failed(e: std::io::Error) -> ApiError {
    // A full disk is the server's problem, not the client's.
    ApiError::Internal(format!("spooling an upload to disk: {e}"))
}

/// The same JSON error shape as `Response::from_error`, for failures that happen before a
/// handler exists.
fn json_error(status: u16, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": code, "message": message });
    Response {
        status,
        content_type: "application/json",
        headers: Vec::new(),
        body: body.to_string().into_bytes(),
    }
}

fn to_hyper(resp: Response, close: bool) -> hyper::Response<Full<Bytes>> {
    let mut out = hyper::Response::new(Full::new(Bytes::from(resp.body)));
    *out.status_mut() =
        StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = out.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(resp.content_type));
    for (k, v) in resp.headers {
        match (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            (Ok(k), Ok(v)) => {
                headers.append(k, v);
            }
            _ => log::warn!("dropped an answer header that is not valid HTTP: {k}"),
        }
    }
    if close {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    out
}
