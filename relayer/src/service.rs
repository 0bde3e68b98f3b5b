//! [`Node`]: one relayer node — checked before it serves, then the HTTP API on every node and, on the
//! leader, the chain duties.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::{net::TcpListener, sync::watch};

use crate::{
    Result, Settings,
    api::{self, AppState, Metrics},
    chain::Chain,
    leader,
    store::Store,
};

/// A node whose checks passed, ready to serve: the database reachable and migrated, and with
/// `chain.rpc_url` the chain checked ([`Chain::check`]: chain id, the escrow's code, the signer's
/// balance). Nothing is bound or served yet, so a misconfigured node fails before it says `listening`.
#[derive(Debug)]
pub struct Node {
    state: AppState,
    metrics: Arc<Metrics>,
}

impl Node {
    /// Runs the checks, in order; the first that fails is the error (one line naming what and why).
    pub async fn start(settings: Settings) -> Result<Self> {
        let database = &settings.config.database;
        let store = Store::connect_with(
            &database.url,
            database.max_connections,
            settings.config.tls.ca_file.as_deref(),
        )
        .await?;
        store.migrate().await?;
        let metrics = Arc::new(Metrics::default());
        let mut state = AppState::new(settings, store, Arc::clone(&metrics));
        if let Some(chain) = Chain::connect(&state.settings)? {
            let view = chain.check().await?;
            metrics.set_signer_funds(view.balance, view.required, state.settings.warn_balance);
            state.chain = Some(chain);
        }
        Ok(Self { state, metrics })
    }

    /// Serves the API on `listener` until `shutdown` completes, then drains: stops accepting, lets
    /// in-flight requests finish (their commits included), stops the leader's duties and closes the
    /// database.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let Self { state, metrics } = self;
        let store = state.store.clone();
        let (stop_duties, stopped) = watch::channel(false);
        let monitor = state.chain.clone().map(|chain| {
            let every = monitor_interval(&state.settings);
            tokio::spawn(chain.monitor(every, Arc::clone(&metrics)))
        });
        let duties = tokio::spawn({
            let settings = Arc::clone(&state.settings);
            let chain = state.chain.clone();
            let store = store.clone();
            async move {
                let result = leader::run(settings, store, chain, metrics, stopped).await;
                if let Err(error) = &result {
                    tracing::error!(code = error.code(), error = %error, "the leader's duties stopped");
                }
                result
            }
        });
        tracing::info!(
            address = %listener.local_addr()?,
            database = store.backend().as_str(),
            chain_id = state.settings.chain_id,
            escrow = %state.settings.escrow,
            "relayer serving"
        );
        let draining = state.clone();
        let limits = state.settings.config.api.edge();
        let served = api::edge::serve(listener, api::router(state), limits, async move {
            shutdown.await;
            draining.begin_shutdown();
            tracing::info!("shutting down: draining in-flight requests");
        })
        .await;
        let _ = stop_duties.send(true);
        if let Err(error) = duties.await {
            tracing::error!(error = %error, "leader duties panicked");
        }
        if let Some(monitor) = monitor {
            monitor.abort();
        }
        store.close().await;
        served?;
        Ok(())
    }
}

/// Serves the API on `listener` with `settings` until `shutdown` completes: [`Node::start`], then
/// [`Node::serve`].
pub async fn run(
    listener: TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    Node::start(settings).await?.serve(listener, shutdown).await
}

/// How often the chain monitor reads (`chain.monitor_interval_ms`).
pub(crate) fn monitor_interval(settings: &Settings) -> Duration {
    Duration::from_millis(settings.config.chain.monitor_interval_ms)
}
