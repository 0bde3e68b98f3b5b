//! The leader's duties: index the escrow, settle in batches, submit transactions.
//!
//! Three loops share the node's database and one RPC endpoint:
//! - the **indexer** ([`piecepay_relayer_chain::Indexer`] over the store's `IndexerStore`) follows the
//!   escrow's events `chain.confirmations` deep into `channels` and `payees`, rewinding on reorgs;
//! - the **batcher** ([`settle`], [`operations`]) runs every `batch.interval_ms`: it plans settlements
//!   with the pure policy ([`crate::batcher`]), drops what the pre-flight `eth_call` says would be
//!   skipped, and stores each batch **together with** its journal job in one transaction; gasless
//!   operations likewise, one `…BySig` batch per kind;
//! - the **submitter** ([`piecepay_relayer_chain::Submitter`] over the store's `TxJournal`) gets each job
//!   mined once. It reloads the unfinished jobs every round, so after a restart stored attempts are
//!   rebroadcast or matched to their receipts, never signed again under a new nonce.
//!
//! Stopping (`stop` turns true: shutdown or lost leadership) drops the loops wherever they are; every
//! write they make is one transaction, so that is as safe as a crash, which the journal is built for.

pub mod operations;
pub mod settle;

use std::{
    collections::HashMap,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use piecepay_relayer_chain::{
    Error as ChainError, Indexer, IndexerConfig, SendErrorKind, Submitter, SubmitterConfig,
    SubmitterEvent, TxId,
    alloy::{
        primitives::Address,
        providers::{DynProvider, Provider},
        signers::local::PrivateKeySigner,
    },
};
use tokio::sync::{Notify, watch};

pub use piecepay_protocol::auth::calldata as operations_calldata;

use crate::{
    Error, Result, Settings,
    api::Metrics,
    chain::Chain,
    ingest::unix_now,
    store::{OPERATION_JOB_BASE, Store},
};

/// Environment variable naming a submitter checkpoint (`intent_recorded`, `signed`, `broadcast`) at which
/// the process stops dead (it prints `CRASH-POINT <name> <job>` on stdout and freezes the submitter) so
/// that a crash test can kill it exactly there. Never set it in production.
pub const CRASH_AT_ENV: &str = "PIECEPAY_RELAYER_TEST_CRASH_AT";

/// What the batcher rounds share.
#[derive(Clone, Debug)]
pub struct Context {
    /// The node's settings.
    pub settings: Arc<Settings>,
    /// The database.
    pub store: Store,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The chain.
    pub provider: DynProvider,
    /// The submitter's address (`msg.sender` of the pre-flight calls).
    pub address: Address,
}

/// Runs the duties over `chain` until `stop` turns true.
pub async fn run(
    settings: Arc<Settings>,
    store: Store,
    chain: Chain,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut stopped = stop.clone();
    let stop_signal = async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    tokio::pin!(stop_signal);
    let key = settings
        .submitter_key
        .clone()
        .ok_or_else(|| Error::Config("a node with chain.rpc_url needs a signer key".into()))?;
    let signer = PrivateKeySigner::from_bytes(key.secret())
        .map_err(|_| Error::Config("the signer key is not a valid secp256k1 key".into()))?;
    let poll = Duration::from_millis(settings.config.chain.poll_interval_ms.max(10));
    let provider = chain.provider().clone();
    // The endpoint may be down when this node takes over: retry until it answers or we are stopped.
    let submitter = loop {
        let attempt = submitter(&settings, &provider, signer.clone(), store.clone());
        tokio::select! {
            () = &mut stop_signal => return Ok(()),
            started = attempt => match started {
                Ok(submitter) => break submitter,
                Err(error @ Error::Config(_)) => return Err(error),
                Err(error) => tracing::warn!(error = %error, "chain unreachable; retrying"),
            },
        }
        tokio::select! {
            () = &mut stop_signal => return Ok(()),
            () = tokio::time::sleep(poll.max(Duration::from_millis(500))) => {}
        }
    };
    let chain = &settings.config.chain;
    let indexer = Indexer::new(
        provider.clone(),
        store.clone(),
        IndexerConfig {
            escrow: settings.escrow,
            start_block: settings.start_block,
            confirmations: chain.confirmations,
            max_range: 2_000,
            history: 128.max(chain.confirmations.saturating_mul(4)),
            poll_interval: poll,
        },
    )?;
    let context = Context {
        settings: Arc::clone(&settings),
        store,
        metrics: Arc::clone(&metrics),
        address: submitter.address(),
        provider,
    };
    tracing::info!(relayer = %context.address, escrow = %settings.escrow, "leading: indexing, settling, submitting");
    let kick = Arc::new(Notify::new());
    tokio::select! {
        () = &mut stop_signal => Ok(()),
        result = indexer.run(std::future::pending()) => {
            let error = match result {
                Err(error) => Error::from(error),
                Ok(()) => Error::Internal("the indexer stopped".into()),
            };
            tracing::error!(error = %error, "the indexer stopped; the chain duties stop with it");
            Err(error)
        }
        () = submit_loop(submitter, Arc::clone(&metrics), Arc::clone(&kick), poll) => Ok(()),
        () = batch_loop(context, kick) => Ok(()),
    }
}

/// The submitter, once the endpoint answers and serves the configured chain.
async fn submitter(
    settings: &Settings,
    provider: &DynProvider,
    signer: PrivateKeySigner,
    store: Store,
) -> Result<Submitter<Store>> {
    let chain_id = provider
        .get_chain_id()
        .await
        .map_err(|e| ChainError::rpc("eth_chainId", e))?;
    if chain_id != settings.chain_id {
        return Err(Error::Config(format!(
            "chain.rpc_url serves chain {chain_id}, the escrow's domain is chain {}",
            settings.chain_id
        )));
    }
    let chain = &settings.config.chain;
    let mut config = SubmitterConfig::new(settings.escrow);
    config.confirmations = chain.confirmations;
    config.poll_interval = Duration::from_millis(chain.poll_interval_ms.max(10));
    config.fees.max_fee_cap = settings.max_gas_price;
    let mut submitter = Submitter::new(provider.clone(), signer, store, config).await?;
    if let Ok(point) = std::env::var(CRASH_AT_ENV) {
        submitter = submitter.with_checkpoint(Arc::new(move |checkpoint| {
            if checkpoint.name() == point {
                crash_point(checkpoint);
            }
        }));
    }
    Ok(submitter)
}

/// The test hook of [`CRASH_AT_ENV`]: announce, then freeze the submitter for good.
fn crash_point(checkpoint: &piecepay_relayer_chain::Checkpoint) {
    use std::io::Write as _;
    let id = match checkpoint {
        piecepay_relayer_chain::Checkpoint::IntentRecorded { id, .. }
        | piecepay_relayer_chain::Checkpoint::Signed { id, .. }
        | piecepay_relayer_chain::Checkpoint::Broadcast { id, .. } => *id,
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "CRASH-POINT {} {id}", checkpoint.name());
    let _ = out.flush();
    drop(out);
    // Off the async worker first, so the API's tasks queued on it keep running elsewhere.
    tokio::task::block_in_place(|| {
        loop {
            std::thread::park();
        }
    });
}

/// A refusal the node repeats every round (an unfunded signer, say) is logged at most this often.
const REPEAT_WARNING_EVERY: Duration = Duration::from_secs(60);

async fn submit_loop(
    mut submitter: Submitter<Store>,
    metrics: Arc<Metrics>,
    kick: Arc<Notify>,
    poll: Duration,
) {
    let mut warned: HashMap<(TxId, SendErrorKind), Instant> = HashMap::new();
    loop {
        let busy = match submitter.tick().await {
            Ok(events) => {
                for event in &events {
                    match event {
                        SubmitterEvent::Confirmed { id, inclusion } => {
                            metrics
                                .gas_used
                                .fetch_add(inclusion.gas_used, Ordering::Relaxed);
                            tracing::info!(?event, "submitter");
                            if id.0 < OPERATION_JOB_BASE && inclusion.success && !inclusion.cancel {
                                observe_settled(submitter.journal(), &metrics, id.0).await;
                            }
                        }
                        SubmitterEvent::SendRefused { id, kind, .. } => {
                            let last = warned.get(&(*id, *kind));
                            if last.is_none_or(|at| at.elapsed() >= REPEAT_WARNING_EVERY) {
                                warned.insert((*id, *kind), Instant::now());
                                tracing::warn!(?event, "submitter: the node refused a transaction");
                            } else {
                                tracing::debug!(?event, "submitter");
                            }
                        }
                        SubmitterEvent::Failed { .. } => tracing::warn!(?event, "submitter"),
                        _ => tracing::info!(?event, "submitter"),
                    }
                }
                warned.retain(|_, at| at.elapsed() < REPEAT_WARNING_EVERY * 10);
                events.iter().any(|e| {
                    matches!(
                        e,
                        SubmitterEvent::Sent { .. }
                            | SubmitterEvent::Included { .. }
                            | SubmitterEvent::Reorged { .. }
                            | SubmitterEvent::Requeued { .. }
                    )
                })
            }
            Err(error) => {
                tracing::warn!(code = error.code(), error = %error, "submitter round failed");
                false
            }
        };
        // Something moved: look again soon, a confirmation may be a block away.
        let pause = if busy { poll / 4 } else { poll };
        tokio::select! {
            () = kick.notified() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// Records how long the value of a confirmed settlement batch waited.
async fn observe_settled(store: &Store, metrics: &Metrics, batch_id: u64) {
    let batch_id = i64::try_from(batch_id).unwrap_or(i64::MAX);
    match store.settle_latencies(batch_id, unix_now()).await {
        Ok(latencies) => latencies
            .into_iter()
            .for_each(|s| metrics.observe_settle_latency(s)),
        Err(error) => tracing::warn!(error = %error, batch_id, "time to settle not recorded"),
    }
}

/// Blocks the indexer may trail the chain by, beyond its confirmation depth, and still count as caught
/// up: a few poll intervals' worth of new blocks.
const CAUGHT_UP_SLACK_BLOCKS: u64 = 16;

/// How often the "caught up" mark is rewritten (a durable write): well inside `/readyz`'s tolerance.
const CAUGHT_UP_MARK_EVERY: Duration = Duration::from_secs(5);

/// Measures the indexer's lag (the metric) and, when it is caught up, marks it so in the database for
/// every node's `/readyz`, at most every [`CAUGHT_UP_MARK_EVERY`]. `marked` is when it last did.
async fn watch_indexer(context: &Context, marked: &mut Option<Instant>) {
    let (Ok(head), Ok(Some(cursor))) = (
        context.provider.get_block_number().await,
        context.store.indexer_cursor().await,
    ) else {
        return;
    };
    let lag = head.saturating_sub(cursor.number);
    context
        .metrics
        .indexer_lag_blocks
        .store(i64::try_from(lag).unwrap_or(i64::MAX), Ordering::Relaxed);
    let caught_up = lag <= context.settings.config.chain.confirmations + CAUGHT_UP_SLACK_BLOCKS;
    if !caught_up || marked.is_some_and(|at| at.elapsed() < CAUGHT_UP_MARK_EVERY) {
        return;
    }
    match context.store.set_indexer_caught_up_at(unix_now()).await {
        Ok(()) => *marked = Some(Instant::now()),
        Err(error) => tracing::warn!(error = %error, "could not record the indexer as caught up"),
    }
}

async fn batch_loop(context: Context, kick: Arc<Notify>) {
    let interval = Duration::from_millis(context.settings.config.batch.interval_ms.max(10));
    let mut settler = settle::Settler::default();
    let mut marked = None;
    loop {
        let mut queued = false;
        match settler.round(&context).await {
            Ok(q) => queued |= q,
            Err(error) => {
                tracing::warn!(code = error.code(), error = %error, "settlement round failed")
            }
        }
        match operations::round(&context).await {
            Ok(q) => queued |= q,
            Err(error) => {
                tracing::warn!(code = error.code(), error = %error, "operations round failed")
            }
        }
        if queued {
            kick.notify_one();
        }
        watch_indexer(&context, &mut marked).await;
        tokio::time::sleep(interval).await;
    }
}
