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

use crate::{Result, Settings, api::Metrics, chain::Chain, store::Store};

/// The advisory lock key of the leader: "piecepay" in ASCII, as a big-endian i64.
pub const LOCK_KEY: i64 = 0x7069_6563_6570_6179;

/// How often a follower tries to take the lock, and a leader checks its connection.
const POLL: Duration = Duration::from_millis(500);

/// Runs the leader's duties over `chain` whenever this node is the leader, until `stop` turns true. A
/// node without a chain (no `chain.rpc_url`) has no duties: it serves the API and leaves them to a node
/// that has one.
pub async fn run(
    settings: Arc<Settings>,
    store: Store,
    chain: Option<Chain>,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let Some(chain) = chain else {
        let _ = stop.wait_for(|s| *s).await;
        return Ok(());
    };
    let Some(pool) = store.postgres_pool() else {
        metrics.leader.store(1, Ordering::Relaxed);
        return crate::duties::run(settings, store, chain, metrics, stop).await;
    };
    // The lock's connection is made like the pool's (host, TLS, credentials).
    let options = pool.connect_options();
    // What this node last said about its role, so that it says it once per change.
    let mut said = Role::Starting;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        match try_lead(&options).await {
            Ok(Some(mut connection)) => {
                tracing::info!(
                    "became leader: indexing, settling and submitting for this database"
                );
                said = Role::Leader;
                metrics.leader.store(1, Ordering::Relaxed);
                let (stop_duties, duties_stopped) = watch::channel(false);
                let duties = tokio::spawn(crate::duties::run(
                    Arc::clone(&settings),
                    store.clone(),
                    chain.clone(),
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
            Ok(None) => {
                if said != Role::StandingBy {
                    tracing::info!(
                        "standing by: another node holds the leader lock; serving the API, and taking \
                         over the chain duties if that node goes"
                    );
                    said = Role::StandingBy;
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, "leader election: database unreachable");
                said = Role::Starting;
            }
        }
        tokio::select! {
            _ = stop.changed() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Starting,
    Leader,
    StandingBy,
}

/// A connection holding the leader lock, or `None` if another node holds it.
async fn try_lead(options: &PgConnectOptions) -> Result<Option<PgConnection>> {
    let mut connection = PgConnection::connect_with(options).await?;
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
