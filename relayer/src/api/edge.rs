//! The HTTP edge: accepting connections and serving HTTP/1.1 on them with the limits a server facing the
//! internet needs (axum's own `serve` has none of them):
//!
//! - **connection cap** (`api.max_connections`): past it a new connection is answered `503 unavailable`
//!   (JSON) and closed, so file descriptors and memory stay bounded;
//! - **header read timeout** (`api.header_read_timeout_ms`): a client that started a request and has not
//!   finished its head by then (a slowloris trickle) is disconnected;
//! - **idle timeout** (`api.idle_timeout_ms`): a connection with no request in progress and no byte
//!   either way for that long is closed;
//! - **half-close**: a client may shut down its sending side after its request and still gets the
//!   response;
//! - **JSON bodies on hyper's own errors**: hyper answers a request it cannot parse itself (400 for a
//!   malformed request line or header, 414 for a URI over 64 KiB, 431 for headers over its buffer) with
//!   an empty body; `Guarded` puts the API's `{code, message}` in it (`malformed_request`,
//!   `uri_too_long`, `headers_too_large`), as for every other non-2xx.
//!
//! A request already being handled is bounded by the request timeout (`api.request_timeout_ms`) instead.
//! Shutdown stops accepting and lets every connection finish the request it is in.

use std::{
    convert::Infallible,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    extract::{ConnectInfo, Request},
    response::Response,
};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use piecepay_protocol::relayer_api::{ApiError, ErrorCode};
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{Notify, Semaphore, watch},
};
use tower::{Service, ServiceExt as _};

/// The edge's limits (`[api]` in the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Longest a request head may take once its first byte arrived.
    pub header_read_timeout: Duration,
    /// Longest a connection may sit with no request in progress and no traffic.
    pub idle_timeout: Duration,
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes; then stops accepting and
/// waits for the open connections to finish the requests they are in.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    // Closed when shutdown begins; every connection task holds a receiver, and the sender's `closed()`
    // says when the last one finished.
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait for connections to close rather than
                    // spin on accept.
                    tracing::warn!(error = %error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tokio::spawn(refuse(stream, limits.max_connections));
            continue;
        };
        let router = router.clone();
        let stopping = stopping.clone();
        tokio::spawn(async move {
            connection(stream, remote, router, limits, stopping).await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(stopping);
    stop.closed().await;
    Ok(())
}

/// One connection, until it ends, times out, or shutdown lets it finish its request.
async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    router: Router,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let service = router.map_request(move |request: Request<Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(remote));
        request
    });
    let service = TowerToHyperService::new(Tracked {
        inner: service,
        activity: Arc::clone(&activity),
    });
    let io = TokioIo::new(Guarded {
        inner: stream,
        activity: Arc::clone(&activity),
        replacement: None,
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // The two timeouts are ours (below): hyper's one timer counts idle time as header time.
        .header_read_timeout(None)
        .half_close(true)
        .keep_alive(true);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut draining = false;
    loop {
        let deadline = activity.deadline(&limits);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%remote, error = %error, "connection ended with an error");
                }
                return;
            }
            changed = stopping.changed(), if !draining => {
                draining = true;
                let _ = changed;
                connection.as_mut().graceful_shutdown();
            }
            () = activity.head_started.notified() => {}
            () = tokio::time::sleep_until(deadline.into()) => {
                if let Some(why) = activity.expired(&limits, Instant::now()) {
                    tracing::debug!(%remote, why, "closing the connection");
                    return;
                }
            }
        }
    }
}

/// A connection past the cap: `503 unavailable`, then closed. The request, if any, is not read.
async fn refuse(mut stream: TcpStream, cap: usize) {
    let response = raw_response(
        503,
        &ApiError::new(
            ErrorCode::Unavailable,
            format!("the relayer has its {cap} connections open; retry"),
        ),
    );
    let answer = async {
        stream.write_all(&response).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), answer).await;
}

/// A whole HTTP/1.1 response with `error` as its JSON body, closing the connection.
fn raw_response(status: u16, error: &ApiError) -> Vec<u8> {
    let body = serde_json::to_vec(error).unwrap_or_default();
    let reason = axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// What a connection is doing, shared by its IO, its service and its supervisor. Times are
/// milliseconds since `start` (0: none).
#[derive(Debug)]
struct Activity {
    start: Instant,
    /// The last byte read or written.
    last: AtomicU64,
    /// When the first byte of a request head arrived, while that head is incomplete (+1, 0: none).
    head_since: AtomicU64,
    /// Requests being handled.
    in_flight: AtomicUsize,
    /// Responses the service produced whose head has not been written yet.
    owed: AtomicUsize,
    /// Wakes the supervisor when a head starts: its deadline moved closer.
    head_started: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
            head_since: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            owed: AtomicUsize::new(0),
            head_started: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn read(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let now = self.now();
        self.last.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) == 0 {
            // Between requests, a byte starts a head (a no-op if one is under way).
            let started = self
                .head_since
                .compare_exchange(0, now + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok();
            if started {
                self.head_started.notify_one();
            }
        }
    }

    fn wrote(&self) {
        self.last.store(self.now(), Ordering::Relaxed);
    }

    /// When to look again.
    fn deadline(&self, limits: &Limits) -> Instant {
        let at = |ms: u64, after: Duration| self.start + Duration::from_millis(ms) + after;
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Instant::now() + limits.idle_timeout;
        }
        match self.head_since.load(Ordering::Acquire) {
            0 => at(self.last.load(Ordering::Relaxed), limits.idle_timeout),
            since => at(since - 1, limits.header_read_timeout),
        }
    }

    /// Why the connection should close at `now`, if it should.
    fn expired(&self, limits: &Limits, now: Instant) -> Option<&'static str> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let elapsed =
            |ms: u64| now.saturating_duration_since(self.start + Duration::from_millis(ms));
        match self.head_since.load(Ordering::Acquire) {
            0 if elapsed(self.last.load(Ordering::Relaxed)) >= limits.idle_timeout => Some("idle"),
            0 => None,
            since if elapsed(since - 1) >= limits.header_read_timeout => {
                Some("request head too slow")
            }
            _ => None,
        }
    }
}

/// The router, counting the requests it handles for [`Activity`].
#[derive(Clone)]
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

/// Counts a request as in flight until its response is produced (or its handling is dropped).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.wrote();
    }
}

impl<S> Service<Request<Incoming>> for Tracked<S>
where
    S: Service<Request<Incoming>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let activity = Arc::clone(&self.activity);
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.head_since.store(0, Ordering::Release);
        activity.owed.fetch_add(1, Ordering::AcqRel);
        let guard = InFlight(activity);
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await;
            drop(guard);
            response
        })
    }
}

/// The connection's socket, watched for [`Activity`]; the response heads hyper writes on its own for a
/// request it could not parse get the API's JSON body.
struct Guarded {
    inner: TcpStream,
    activity: Arc<Activity>,
    /// A response written in place of hyper's, and how much of it went out.
    replacement: Option<(Vec<u8>, usize)>,
}

/// hyper's own error answers, by the status it uses, with the API's code for each.
fn parse_error(status: &[u8]) -> Option<(u16, ErrorCode, &'static str)> {
    match status {
        b"400" => Some((
            400,
            ErrorCode::MalformedRequest,
            "the request is not HTTP/1.1 the relayer can read (request line or header syntax)",
        )),
        b"414" => Some((
            414,
            ErrorCode::UriTooLong,
            "the request's URI is longer than 64 KiB",
        )),
        b"431" => Some((
            431,
            ErrorCode::HeadersTooLarge,
            "the request's headers are too large",
        )),
        _ => None,
    }
}

impl Guarded {
    /// Writes what is left of a replacement; `Ready(Ok)` once it is all out.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, sent)) = &mut self.replacement {
            if *sent == bytes.len() {
                self.replacement = None;
                break;
            }
            let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *sent += n;
        }
        Poll::Ready(Ok(()))
    }

    /// If `buf` starts a response head nobody asked the service for, the length of that head and the
    /// response to write instead.
    fn unasked_error(&self, buf: &[u8]) -> Option<(usize, Vec<u8>)> {
        let status = buf.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
        if status[0] == b'1' {
            return None; // 100 Continue: not the final answer
        }
        // A head the service produced: one fewer owed.
        if self
            .activity
            .owed
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
        {
            return None;
        }
        let (status, code, message) = parse_error(status)?;
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        Some((end, raw_response(status, &ApiError::new(code, message))))
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            this.activity.read(buf.filled().len() - before);
        }
        result
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_replacement(cx))?;
        this.activity.wrote();
        if let Some((consumed, replacement)) = this.unasked_error(buf) {
            this.replacement = Some((replacement, 0));
            // hyper's head is taken whole; the replacement goes out now and on flush.
            let _ = this.poll_replacement(cx)?;
            return Poll::Ready(Ok(consumed));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_connections: 4,
            header_read_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn idle_and_slow_heads_expire_on_their_own_clocks() {
        let activity = Activity::new();
        let t0 = activity.start;
        // Why the connection closes `after` seconds past `from`, if it does.
        let expired = |from: Instant, after: u64| {
            activity.expired(&limits(), from + Duration::from_secs(after))
        };
        assert_eq!(expired(t0, 9), None);
        assert_eq!(expired(t0, 10), Some("idle"));
        // A head starts: its own, shorter clock.
        activity.read(5);
        let started = t0 + Duration::from_millis(activity.head_since.load(Ordering::Relaxed) - 1);
        assert_eq!(expired(started, 1), None);
        assert_eq!(expired(started, 2), Some("request head too slow"));
        // More bytes of the same head do not restart it.
        activity.read(5);
        assert_eq!(expired(started, 2), Some("request head too slow"));
        // Handled: no clock runs while a request is in flight.
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.head_since.store(0, Ordering::Release);
        assert_eq!(expired(t0, 3_600), None);
    }

    #[test]
    fn error_responses_carry_the_api_body() {
        let response = raw_response(414, &ApiError::new(ErrorCode::UriTooLong, "too long"));
        let text = String::from_utf8(response).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let error: ApiError = serde_json::from_str(body).unwrap();
        assert_eq!(error.code, ErrorCode::UriTooLong);
    }
}
