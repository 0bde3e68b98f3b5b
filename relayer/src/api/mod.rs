//! The HTTP API (`docs/relayer-api.md`): routes, middleware (metrics, rate limit, timeout) and the
//! shared state handlers read.

pub mod edge;
mod error;
mod handlers;
pub mod metrics;
pub mod openapi;
mod rate_limit;

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use axum::{
    Router,
    extract::{ConnectInfo, MatchedPath, Request, State},
    http::{HeaderValue, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use piecepay_protocol::{
    Eip712Domain,
    relayer_api::{ErrorCode, paths},
};

pub use error::{Failure, JsonBody, json_response};
pub use metrics::Metrics;
pub use rate_limit::RateLimiter;

use crate::{Settings, chain::Chain, ingest::Ingest, store::Store};

/// What every handler shares. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The resolved configuration.
    pub settings: Arc<Settings>,
    /// The escrow's EIP-712 domain.
    pub domain: Arc<Eip712Domain>,
    /// The database.
    pub store: Store,
    /// The receipt pipeline.
    pub ingest: Ingest,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Per-client limits.
    pub limiter: Arc<RateLimiter>,
    /// Set once shutdown begins: `/readyz` turns 503 so load balancers stop sending.
    pub shutting_down: Arc<AtomicBool>,
    /// The chain as this node sees it (`None` without `chain.rpc_url`): readiness and the signer's funds.
    pub chain: Option<Chain>,
}

impl AppState {
    /// State for `settings` over `store`; starts the ingest committer on the current runtime.
    pub fn new(settings: Settings, store: Store, metrics: Arc<Metrics>) -> Self {
        let domain = piecepay_protocol::domain(settings.chain_id, settings.escrow);
        let ingest = Ingest::spawn(
            store.clone(),
            domain.clone(),
            settings.config.ingest.max_commit_receipts,
            settings.config.ingest.verify_threads,
        );
        let api = &settings.config.api;
        let limiter = RateLimiter::new(api.rate_limit_per_second, api.rate_limit_burst);
        Self {
            settings: Arc::new(settings),
            domain: Arc::new(domain),
            store,
            ingest,
            metrics,
            limiter: Arc::new(limiter),
            shutting_down: Arc::new(AtomicBool::new(false)),
            chain: None,
        }
    }
}

/// The API's router with every middleware, ready to serve (with `ConnectInfo<SocketAddr>` for the
/// rate limit; without it all clients share one bucket).
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route(paths::INFO, get(handlers::info))
        .route(paths::RECEIPTS, post(handlers::submit_receipts))
        .route(paths::OPERATIONS, post(handlers::submit_operations))
        .route(paths::OPERATION, get(handlers::operation))
        .route(paths::CHANNEL, get(handlers::channel))
        .route(paths::SETTLEMENT, get(handlers::settlement))
        .route(paths::OPENAPI, get(handlers::openapi))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .layer(middleware::from_fn_with_state(state.clone(), timeout));
    Router::new()
        .route(paths::HEALTH, get(handlers::health))
        .route(paths::READY, get(handlers::ready))
        .route(paths::METRICS, get(handlers::metrics))
        .merge(v1)
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Counts every request by matched route and status, with its latency.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .observe_request(&route, response.status().as_u16(), started.elapsed());
    response
}

/// 429 `rate_limited` with `Retry-After` once a client exceeds its budget.
async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    if let Err(wait) = state.limiter.check(client, Instant::now()) {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut response = Failure::new(
            ErrorCode::RateLimited,
            format!("too many requests from {client}; retry in {seconds} s"),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        return response;
    }
    next.run(request).await
}

/// 503 `timeout` for a request that outlasts the configured timeout. Its work is dropped: a receipt
/// batch not yet in a commit is never committed (see [`crate::ingest`] for the one narrow exception).
async fn timeout(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = state.settings.config.api.request_timeout();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Failure::new(
            ErrorCode::Timeout,
            format!(
                "the request took longer than {} ms; retry",
                limit.as_millis()
            ),
        )
        .into_response(),
    }
}

impl AppState {
    /// Marks the node as shutting down (readiness fails from now on).
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }
}
