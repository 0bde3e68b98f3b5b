//! Leadership: exactly one node of a database runs the indexer, the batcher and the submitter.
//!
//! On SQLite there is one node, always the leader. On PostgreSQL the leader is whoever holds the session
//! advisory lock [`LOCK_KEY`] on a dedicated connection: the lock dies with that connection (process
//! crash, network partition, database restart), and every other node keeps trying to take it, so one
//! of them takes over within a poll interval. A leader that loses its connection stops its duties
//! before trying again.

use std::{sync::Arc, sync::atomic::Ordering, time::Duration};

use sqlx::{Connection, PgConnection, postgres::PgConnectOptions};
use tokio::sync::watch;

use crate::{Result, Settings, api::Metrics, store::Store};

/// The advisory lock key of the leader: "piecepay" in ASCII, as a big-endian i64.
pub const LOCK_KEY: i64 = 0x7069_6563_6570_6179;

/// How often a follower tries to take the lock, and a leader checks its connection.
const POLL: Duration = Duration::from_millis(500);

/// Runs the leader's duties whenever this node is the leader, until `stop` turns true.
pub async fn run(
    settings: Arc<Settings>,
    store: Store,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    if store.postgres_pool().is_none() {
        metrics.leader.store(1, Ordering::Relaxed);
        return crate::duties::run(settings, store, metrics, stop).await;
    }
    let url = settings.config.database.url.clone();
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        match try_lead(&url).await {
            Ok(Some(mut connection)) => {
                tracing::info!("became leader");
                metrics.leader.store(1, Ordering::Relaxed);
                let (stop_duties, duties_stopped) = watch::channel(false);
                let duties = tokio::spawn(crate::duties::run(
                    Arc::clone(&settings),
                    store.clone(),
                    Arc::clone(&metrics),
                    duties_stopped,
                ));
                // Lead while the lock's connection lives and nobody asked us to stop.
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        () = tokio::time::sleep(POLL) => {
                            if connection.ping().await.is_err() {
                                tracing::warn!("lost the leader lock's connection; stepping down");
                                break;
                            }
                        }
                    }
                }
                let _ = stop_duties.send(true);
                let _ = duties.await;
                metrics.leader.store(0, Ordering::Relaxed);
                let _ = connection.close().await;
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(error = %error, "leader election: database unreachable"),
        }
        tokio::select! {
            _ = stop.changed() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// A connection holding the leader lock, or `None` if another node holds it.
async fn try_lead(url: &str) -> Result<Option<PgConnection>> {
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e| crate::Error::Config(format!("database.url: {e}")))?;
    let mut connection = PgConnection::connect_with(&options).await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(LOCK_KEY)
        .fetch_one(&mut connection)
        .await?;
    if locked {
        Ok(Some(connection))
    } else {
        let _ = connection.close().await;
        Ok(None)
    }
}
