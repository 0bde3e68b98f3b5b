//! The HTTP edge over real sockets against the relayer binary: a slow request head is cut off, idle
//! connections are closed, connections past the cap get a JSON 503, a client that half-closes after its
//! request is answered every time, and the requests hyper cannot parse (a 100 KB URI, a garbage request
//! line, oversized headers) get the API's JSON error body like every other non-2xx.

mod chain_support;

use std::{
    io::{ErrorKind, Read, Write},
    net::{Shutdown, TcpStream},
    time::{Duration, Instant},
};

use chain_support::{RelayerProcess, api_only_config};
use piecepay_protocol::relayer_api::{ApiError, ErrorCode};

/// An API-only node (no chain) with `api` appended to its `[api]` section.
fn node(dir: &tempfile::TempDir, api: &str) -> RelayerProcess {
    let extra = format!("rate_limit_per_second = 0\n{api}\n");
    let config = api_only_config(dir.path(), "relayer", "sqlite://relayer.db", &extra);
    RelayerProcess::start(&config, &dir.path().join("relayer.log"), &[])
}

fn connect(node: &RelayerProcess) -> TcpStream {
    let stream = TcpStream::connect(node.base.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Reads until the server closes (or the read timeout): what it sent.
fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8_192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("read: {e} after {} bytes", out.len()),
        }
    }
}

/// One response's status and, for an error, its body as the API's error.
fn response(bytes: &[u8]) -> (u16, Option<ApiError>) {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {text:?}"));
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no content-length in {head}"))
        .parse()
        .unwrap();
    let body = &body.as_bytes()[..length];
    (status, serde_json::from_slice(body).ok())
}

/// Whether the server closed `stream` (a read sees the end or a reset) within `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1_024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn a_slow_request_head_is_cut_off_and_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(
        &dir,
        "header_read_timeout_ms = 1000\nidle_timeout_ms = 30000",
    );
    let mut slow: Vec<TcpStream> = (0..20).map(|_| connect(&node)).collect();
    for stream in &mut slow {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: relayer\r\n")
            .unwrap();
    }
    let started = Instant::now();
    // A trickle of header lines, one every 200 ms per connection, until the server hangs up on each.
    let mut open: Vec<bool> = vec![true; slow.len()];
    while open.iter().any(|o| *o) && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(200));
        for (stream, open) in slow.iter_mut().zip(&mut open) {
            if *open && stream.write_all(b"X-Slow: 1\r\n").is_err() {
                *open = false;
            }
        }
        for (stream, open) in slow.iter_mut().zip(&mut open) {
            if *open && closed_within(stream, Duration::from_millis(1)) {
                *open = false;
            }
        }
    }
    let took = started.elapsed();
    assert!(open.iter().all(|o| !o), "still open after {took:?}");
    assert!(took < Duration::from_secs(4), "cut off after {took:?}");
    // Meanwhile and after, a normal request is served.
    let mut stream = connect(&node);
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: relayer\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(response(&read_all(&mut stream)).0, 200);
}

#[test]
fn idle_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(&dir, "idle_timeout_ms = 1000");
    let mut idle: Vec<TcpStream> = (0..50).map(|_| connect(&node)).collect();
    // A kept-alive connection after a request is idle too.
    let mut kept = connect(&node);
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: relayer\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1_024];
    let n = kept.read(&mut buf).unwrap();
    assert_eq!(response(&buf[..n]).0, 200);
    let started = Instant::now();
    for stream in idle.iter_mut().chain(std::iter::once(&mut kept)) {
        assert!(closed_within(stream, Duration::from_secs(5)), "not closed");
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(500),
        "closed too soon: {took:?}"
    );
    assert!(took < Duration::from_secs(4), "closed after {took:?}");
}

#[test]
fn connections_past_the_cap_get_a_json_503() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(&dir, "max_connections = 8\nidle_timeout_ms = 30000");
    let mut held: Vec<TcpStream> = (0..8).map(|_| connect(&node)).collect();
    // Every one of the 8 is served (keep-alive), and holds its slot.
    for stream in &mut held {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: relayer\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 1_024];
        let n = stream.read(&mut buf).unwrap();
        assert_eq!(response(&buf[..n]).0, 200);
    }
    let mut ninth = connect(&node);
    let (status, body) = response(&read_all(&mut ninth));
    assert_eq!(status, 503);
    assert_eq!(body.unwrap().code, ErrorCode::Unavailable);
    // A slot freed is a slot for the next client.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut stream = connect(&node);
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: relayer\r\nConnection: close\r\n\r\n")
            .unwrap();
        if response(&read_all(&mut stream)).0 == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot was not reused");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_client_that_half_closes_after_its_request_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(&dir, "");
    let body = r#"{"chain_id": 31337, "escrow": "0xE5e5E5E5e5e5E5E5E5E5e5E5e5e5e5E5e5e5e5e5", "receipts": []}"#;
    for i in 0..20 {
        let mut stream = connect(&node);
        let request = if i % 2 == 0 {
            "GET /healthz HTTP/1.1\r\nHost: relayer\r\n\r\n".to_owned()
        } else {
            format!(
                "POST /v1/receipts HTTP/1.1\r\nHost: relayer\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        stream.write_all(request.as_bytes()).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let (status, error) = response(&read_all(&mut stream));
        if i % 2 == 0 {
            assert_eq!(status, 200, "try {i}");
        } else {
            assert_eq!(status, 400, "try {i}");
            assert_eq!(error.unwrap().code, ErrorCode::EmptyBatch);
        }
    }
}

#[test]
fn requests_hyper_cannot_parse_get_json_error_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(&dir, "");
    let long_uri = format!(
        "GET /v1/{} HTTP/1.1\r\nHost: relayer\r\n\r\n",
        "a".repeat(100_000)
    );
    // Ten times the ~400 KB read buffer: hyper checks its limit between reads, so a head just past it that
    // arrives in a few large reads can still be parsed (seen with 500 KB under load: 200 OK, not 431).
    let big_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: relayer\r\nX-Big: {}\r\n\r\n",
        "b".repeat(4_000_000)
    );
    let cases: [(&[u8], u16, ErrorCode); 4] = [
        (long_uri.as_bytes(), 414, ErrorCode::UriTooLong),
        (b"GARBAGE\r\n\r\n", 400, ErrorCode::MalformedRequest),
        (
            b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
            400,
            ErrorCode::MalformedRequest,
        ),
        (big_header.as_bytes(), 431, ErrorCode::HeadersTooLarge),
    ];
    for (request, status, code) in cases {
        let mut stream = connect(&node);
        // The server may answer and close before it read everything: a write error is fine.
        let _ = stream.write_all(request);
        let (got, error) = response(&read_all(&mut stream));
        let shown = String::from_utf8_lossy(&request[..40.min(request.len())]).into_owned();
        assert_eq!(got, status, "{shown}");
        let error = error.unwrap_or_else(|| panic!("no JSON body for {shown}"));
        assert_eq!(error.code, code, "{shown}");
        assert!(!error.message.is_empty());
    }
    // Routing errors were JSON already; still are.
    let mut stream = connect(&node);
    stream
        .write_all(b"DELETE /v1/info HTTP/1.1\r\nHost: relayer\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (status, error) = response(&read_all(&mut stream));
    assert_eq!(status, 405);
    assert_eq!(error.unwrap().code, ErrorCode::MethodNotAllowed);
    // And the node serves on, keep-alive included: two requests, one connection.
    let mut stream = connect(&node);
    stream
        .write_all(
            b"GET /healthz HTTP/1.1\r\nHost: relayer\r\n\r\nGET /healthz HTTP/1.1\r\nHost: relayer\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let all = String::from_utf8(read_all(&mut stream)).unwrap();
    assert_eq!(all.matches("HTTP/1.1 200 OK").count(), 2, "{all}");
}
