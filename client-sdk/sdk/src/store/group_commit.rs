//! [`GroupCommit`]: many concurrent receipt saves, one durable commit.

use piecepay_protocol::CompactSignature;
use tokio::sync::{mpsc, oneshot};

use super::{
    PayeeRecord, PayeeStore, SettlementProgress, SqliteStore, Unsettled, sqlite::ReceiptRow,
};
use crate::{Amount, Cause, Channel, Error, PayeeChannel, Result, SignedReceipt};

/// A receipt waiting for the next commit, and where to say how it went.
struct Pending {
    row: ReceiptRow,
    done: oneshot::Sender<Result<bool>>,
}

/// A [`PayeeStore`] whose [`save_receipt_if_higher`](PayeeStore::save_receipt_if_higher) joins a group
/// commit: one committer task takes every save queued since its last commit (up to `max_batch`), upserts
/// them in one transaction and answers each caller once that transaction is durable. The other methods
/// go straight to the [`SqliteStore`].
///
/// **How it amortises.** A durable commit costs one `fsync` whatever it holds. There is no timer: when
/// idle, a save commits at once, alone (no added latency); while a commit is in flight, arriving saves
/// queue, and the next commit takes them all. Under load each `fsync` is shared by about
/// (arrival rate × commit time) receipts, so the per-receipt cost falls as the load rises — the same
/// trick as a database's group commit, done where the acknowledgements wait.
///
/// Guarantees are [`PayeeStore`]'s: a save returns `Ok` only once its transaction committed (with
/// [`SqliteStore`]'s `synchronous = FULL`); receipts invalid on their own are refused before they are
/// queued and never spoil a batch; if a commit fails, every save in it gets the error and none of them
/// is stored. Dropping a save's future before it completes may or may not leave the receipt stored
/// (queued already, or still waiting for queue room), which is harmless: the caller got no `Ok` and
/// acknowledged nothing, and saves are idempotent.
///
/// Cheap to clone; the committer stops when the last clone is dropped. Must be created inside a tokio
/// runtime.
#[derive(Clone, Debug)]
pub struct GroupCommit {
    store: SqliteStore,
    queue: mpsc::Sender<Pending>,
}

impl GroupCommit {
    /// Starts the committer on the current tokio runtime, committing at most `max_batch` receipts per
    /// transaction (at least 1). At most `4 × max_batch` saves wait in the queue; further callers wait
    /// for room (back-pressure).
    pub fn spawn(store: SqliteStore, max_batch: usize) -> Self {
        let max_batch = max_batch.max(1);
        let (queue, pending) = mpsc::channel(max_batch.saturating_mul(4));
        tokio::spawn(commit_loop(store.clone(), pending, max_batch));
        Self { store, queue }
    }

    /// The store underneath.
    pub const fn store(&self) -> &SqliteStore {
        &self.store
    }
}

async fn commit_loop(store: SqliteStore, mut pending: mpsc::Receiver<Pending>, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    while pending.recv_many(&mut batch, max_batch).await > 0 {
        let result = store.commit_receipts(batch.iter().map(|p| &p.row)).await;
        match result {
            Ok(stored) => {
                for (p, stored) in batch.drain(..).zip(stored) {
                    // The caller may have stopped waiting; its receipt is stored all the same.
                    let _ = p.done.send(Ok(stored));
                }
            }
            Err(error) => {
                for p in batch.drain(..) {
                    let _ = p.done.send(Err(error.clone()));
                }
            }
        }
    }
}

fn stopped() -> Error {
    Error::Storage(Cause::msg("the group commit task stopped"))
}

impl PayeeStore for GroupCommit {
    async fn save_receipt_if_higher(
        &self,
        channel: &Channel,
        cumulative: Amount,
        signature: &CompactSignature,
    ) -> Result<bool> {
        let row = ReceiptRow::new(channel, cumulative, signature)?;
        let (done, outcome) = oneshot::channel();
        self.queue
            .send(Pending { row, done })
            .await
            .map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }

    async fn latest_receipt(&self, channel: &Channel) -> Result<Option<SignedReceipt>> {
        self.store.latest_receipt(channel).await
    }

    async fn save_payee(&self, channel: &PayeeChannel) -> Result<()> {
        self.store.save_payee(channel).await
    }

    async fn load_payee(&self, channel: &Channel) -> Result<Option<PayeeRecord>> {
        self.store.load_payee(channel).await
    }

    async fn payee_channels(&self) -> Result<Vec<PayeeRecord>> {
        self.store.payee_channels().await
    }

    async fn record_settlement(
        &self,
        channel: &Channel,
        progress: SettlementProgress,
    ) -> Result<()> {
        self.store.record_settlement(channel, progress).await
    }

    async fn unsettled(&self) -> Result<Vec<Unsettled>> {
        self.store.unsettled().await
    }
}
