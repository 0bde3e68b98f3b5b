//! [`run`]: one relayer node — the HTTP API on every node, and, on the leader, the chain duties.

use std::{future::Future, net::SocketAddr, sync::Arc};

use tokio::{net::TcpListener, sync::watch};

use crate::{
    Result, Settings,
    api::{self, AppState, Metrics},
    leader,
    store::Store,
};

/// Serves the API on `listener` with `settings` until `shutdown` completes, then drains: stops
/// accepting, lets in-flight requests finish (their commits included), stops the leader's duties and
/// closes the database.
///
/// Opens and migrates the database first; a node whose database is unreachable does not start.
pub async fn run(
    listener: TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let store = Store::open(
        &settings.config.database.url,
        settings.config.database.max_connections,
    )
    .await?;
    let metrics = Arc::new(Metrics::default());
    let state = AppState::new(settings, store.clone(), Arc::clone(&metrics));
    let (stop_duties, stopped) = watch::channel(false);
    let duties = tokio::spawn(leader::run(
        Arc::clone(&state.settings),
        store.clone(),
        metrics,
        stopped,
    ));
    tracing::info!(
        address = %listener.local_addr()?,
        database = store.backend().as_str(),
        chain_id = state.settings.chain_id,
        escrow = %state.settings.escrow,
        "relayer serving"
    );
    let draining = state.clone();
    let app = api::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            draining.begin_shutdown();
            tracing::info!("shutting down: draining in-flight requests");
        })
        .await;
    let _ = stop_duties.send(true);
    match duties.await {
        Ok(Err(error)) => tracing::error!(error = %error, "leader duties ended with an error"),
        Err(error) => tracing::error!(error = %error, "leader duties panicked"),
        Ok(Ok(())) => {}
    }
    store.close().await;
    served?;
    Ok(())
}
