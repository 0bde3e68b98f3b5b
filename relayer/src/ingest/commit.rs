//! The group committer: one task takes every request waiting since its last commit, admits their
//! receipts against the channels' snapshots, raises the held receipts in one transaction, and answers
//! each request once that transaction is durable.
//!
//! **Snapshot cache.** Reading the snapshots was a third of a commit's database time. The committer
//! keeps the snapshots it read, with its own raises applied, for as long as nobody else commits to the
//! database: on SQLite its [`ReceiptWriter`] asks `PRAGMA data_version` before every commit, and any
//! other connection's commit (the indexer, the batcher, another process) drops the whole cache. On
//! PostgreSQL other nodes raise receipts unseen, so the cache is dropped before every commit: each
//! commit reads what it needs, as before.

use std::{
    collections::{HashMap, HashSet},
    time::Instant,
};

use piecepay_protocol::{
    alloy_primitives::B256,
    relayer_api::{ApiError, ChannelSnapshot, ErrorCode, ReceiptResult},
};
use tokio::sync::{mpsc, oneshot};

use super::{Verified, decide, unix_now};
use crate::{
    Error, Result,
    store::{ReceiptWriter, Store},
};

/// Most channels whose snapshots are kept between commits (about 120 bytes each); past it the cache
/// starts afresh.
const MAX_CACHED: usize = 250_000;

/// A request waiting for the next commit, and where to answer it.
pub(super) struct Job {
    pub(super) receipts: Vec<Verified>,
    pub(super) reply: oneshot::Sender<Result<Vec<ReceiptResult>, ApiError>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("receipts", &self.receipts.len())
            .finish()
    }
}

/// Commits the jobs of `queue` until every sender is gone. A commit takes more waiting requests only
/// while it holds fewer than `max_receipts` receipts (a request is never split).
pub(super) async fn run(store: Store, mut queue: mpsc::Receiver<Job>, max_receipts: usize) {
    let mut committer = Committer {
        writer: store.receipt_writer(),
        snapshots: HashMap::new(),
    };
    let mut jobs: Vec<Job> = Vec::new();
    let mut closing = std::pin::pin!(committer.writer.closing());
    let mut closed = false;
    loop {
        let first = tokio::select! {
            job = queue.recv() => job,
            () = &mut closing, if !closed => {
                // The pool waits for every connection to come back before it closes; later
                // commits fail (503) like any other database error.
                committer.writer.release();
                closed = true;
                continue;
            }
        };
        let Some(first) = first else { break };
        let mut total = first.receipts.len();
        jobs.push(first);
        while total < max_receipts {
            match queue.try_recv() {
                Ok(job) => {
                    total += job.receipts.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        // Callers that gave up (request timeout) are not committed: their 503 said nothing was.
        jobs.retain(|job| !job.reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        match committer.commit(&jobs).await {
            Ok(results) => {
                for (job, results) in jobs.drain(..).zip(results) {
                    let _ = job.reply.send(Ok(results));
                }
            }
            Err(error) => {
                tracing::error!(error = %error, requests = jobs.len(), "receipt commit failed");
                let answer = match error {
                    Error::CorruptRecord(_) => {
                        ApiError::new(ErrorCode::Internal, "the relayer failed to store receipts")
                    }
                    _ => ApiError::new(
                        ErrorCode::Unavailable,
                        "the relayer's database is unavailable",
                    ),
                };
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(answer.clone()));
                }
            }
        }
    }
}

struct Committer {
    writer: ReceiptWriter,
    /// What the database holds for these channels, as far as this committer knows (see the module
    /// documentation for when that is trusted).
    snapshots: HashMap<B256, ChannelSnapshot>,
}

impl Committer {
    async fn commit(&mut self, jobs: &[Job]) -> Result<Vec<Vec<ReceiptResult>>> {
        let result = self.try_commit(jobs).await;
        if result.is_err() {
            // A failed commit may or may not have been applied: know nothing.
            self.snapshots.clear();
        }
        result
    }

    async fn try_commit(&mut self, jobs: &[Job]) -> Result<Vec<Vec<ReceiptResult>>> {
        let started = Instant::now();
        if self.writer.others_committed().await? {
            self.snapshots.clear();
        }
        let mut seen = HashSet::new();
        let missing: Vec<B256> = jobs
            .iter()
            .flat_map(|job| job.receipts.iter())
            .filter_map(|r| r.as_ref().ok().map(|r| r.channel_id))
            .filter(|id| !self.snapshots.contains_key(id) && seen.insert(*id))
            .collect();
        let read = self.writer.snapshots(&missing).await?;
        self.snapshots.extend(read);
        let read_at = Instant::now();
        let now = unix_now();
        let receipts = || jobs.iter().map(|j| &j.receipts[..]);
        let decision = decide(receipts(), &self.snapshots, now);
        let writes: Vec<_> = decision.writes.values().copied().collect();
        let decided_at = Instant::now();
        let lost = self.writer.raise_receipts(&writes, now).await?;
        tracing::debug!(
            requests = jobs.len(),
            read = missing.len(),
            writes = writes.len(),
            lost = lost.len(),
            read_us = micros(read_at - started),
            decide_us = micros(decided_at - read_at),
            write_us = micros(decided_at.elapsed()),
            "group commit"
        );
        if lost.is_empty() {
            for write in &writes {
                if let Some(snapshot) = self.snapshots.get_mut(&write.channel_id) {
                    snapshot.held = Some(write.cumulative);
                }
            }
            if self.snapshots.len() > MAX_CACHED {
                self.snapshots.clear();
            }
            return Ok(decision.results);
        }
        // Another node stored an equal or higher receipt for these channels between our read and our
        // write: answer from what is stored now. Every receipt of ours for them is at most what it
        // holds, so this yields only `duplicate` and `stale_receipt` there, and nothing more to write.
        let stored = self.writer.snapshots(&lost).await?;
        self.snapshots.extend(stored);
        let redo = decide(receipts(), &self.snapshots, now);
        // Our raises that did apply are not in the cache: start afresh.
        self.snapshots.clear();
        if lost.iter().any(|id| redo.writes.contains_key(id)) {
            return Err(Error::Internal(
                "a receipt raise was lost and still wins on re-read".to_owned(),
            ));
        }
        Ok(redo.results)
    }
}

fn micros(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use piecepay_protocol::{
        Eip712Domain, Receipt, SigningKey, SolStruct,
        alloy_primitives::{Address, aliases::U96},
        channel_id, domain,
        relayer_api::{ChannelState, ReceiptSubmission},
    };

    use piecepay_test_support::{postgres::PostgresServer, sqlite_url, temp_dir};

    use crate::{
        ingest::Ingest,
        store::{ChannelRecord, ReceiptWrite, Store},
    };

    use super::*;

    const SALT: u32 = 7;

    fn payer() -> SigningKey {
        SigningKey::from_bytes(&B256::repeat_byte(1)).unwrap()
    }

    fn payee() -> Address {
        Address::repeat_byte(2)
    }

    fn escrow_domain() -> Eip712Domain {
        domain(31_337, Address::repeat_byte(0xe5))
    }

    fn channel(state: ChannelState) -> ChannelRecord {
        ChannelRecord {
            channel_id: channel_id(payer().address(), payee(), SALT),
            payer: payer().address(),
            payee: payee(),
            salt: SALT,
            state,
            deposit: 1_000,
            settled: 0,
            closes_at: None,
            updated_block: 1,
        }
    }

    fn submission(cumulative: u128) -> ReceiptSubmission {
        let receipt = Receipt {
            payee: payee(),
            salt: SALT,
            cumulative: U96::from(cumulative),
        };
        let signature = payer()
            .sign_digest(&receipt.eip712_signing_hash(&escrow_domain()))
            .unwrap();
        ReceiptSubmission::new(&receipt, &signature)
    }

    /// Submits one receipt through `ingest` and returns its outcome's code.
    async fn submit(ingest: &Ingest, cumulative: u128) -> &'static str {
        let verified = ingest.verify(vec![submission(cumulative)]).await;
        match &ingest.submit(verified).await.unwrap()[..] {
            [ReceiptResult::Accepted(_)] => "accepted",
            [ReceiptResult::Duplicate(_)] => "duplicate",
            [ReceiptResult::Rejected(error)] => error.code.as_str(),
            other => panic!("one result expected, got {other:?}"),
        }
    }

    /// The store at `url` (`connections` at most), the test's channel in `state`.
    async fn store_with_channel(url: &str, connections: u32) -> Store {
        let store = Store::open(url, connections).await.unwrap();
        set_state(&store, ChannelState::Open).await;
        store
    }

    /// What the indexer would write when the channel enters `state`.
    async fn set_state(store: &Store, state: ChannelState) {
        store.upsert_channels(&[channel(state)]).await.unwrap();
    }

    /// A node's ingest on `store`: the test domain, one committer.
    fn node(store: Store) -> Ingest {
        Ingest::spawn(store, escrow_domain(), 8_192, 1)
    }

    async fn held(store: &Store) -> Option<u128> {
        let id = channel(ChannelState::Open).channel_id;
        store.snapshots(&[id]).await.unwrap()[&id].held
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_sqlite_cache_yields_to_other_connections_commits() {
        let dir = temp_dir();
        let store = store_with_channel(&sqlite_url(dir.path(), "relayer.db"), 4).await;
        let ingest = node(store.clone());
        assert_eq!(submit(&ingest, 10).await, "accepted");
        // Answered from the cache, which holds the committer's own raise.
        assert_eq!(submit(&ingest, 10).await, "duplicate");
        assert_eq!(submit(&ingest, 9).await, "stale_receipt");
        assert_eq!(held(&store).await, Some(10));

        // Another connection raises the receipt: the committer's next read sees it.
        let signature = submission(50).signature.parse("signature").unwrap();
        let write = ReceiptWrite {
            channel_id: channel(ChannelState::Open).channel_id,
            cumulative: 50,
            signature,
        };
        assert!(store.raise_receipts(&[write], 1).await.unwrap().is_empty());
        assert_eq!(submit(&ingest, 30).await, "stale_receipt");
        assert_eq!(submit(&ingest, 50).await, "duplicate");

        // The indexer closes the channel: a cached `open` would accept (nothing in the upsert
        // checks the channel's state).
        set_state(&store, ChannelState::Closed).await;
        assert_eq!(submit(&ingest, 60).await, "channel_closed");
        assert_eq!(held(&store).await, Some(50));

        // The kept connection does not hold up closing the pool while the node is still up.
        tokio::time::timeout(std::time::Duration::from_secs(10), store.close())
            .await
            .expect("the pool closes");
        let verified = ingest.verify(vec![submission(70)]).await;
        let error = ingest.submit(verified).await.unwrap_err();
        assert_eq!(error.code, ErrorCode::Unavailable);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_one_connection_pool_is_not_kept_by_the_committer() {
        let dir = temp_dir();
        let store = store_with_channel(&sqlite_url(dir.path(), "relayer.db"), 1).await;
        let ingest = node(store.clone());
        assert_eq!(submit(&ingest, 10).await, "accepted");
        // Would wait for the pool's only connection (and time out) if the committer kept it.
        assert_eq!(held(&store).await, Some(10));
        set_state(&store, ChannelState::Closed).await;
        assert_eq!(submit(&ingest, 20).await, "channel_closed");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_nodes_on_one_postgres_see_each_others_receipts() {
        let server = PostgresServer::shared().unwrap();
        let url = server.fresh_database().unwrap();
        let a = store_with_channel(&url, 4).await;
        let node_a = node(a.clone());
        let node_b = node(Store::open(&url, 4).await.unwrap());
        assert_eq!(submit(&node_a, 10).await, "accepted");
        assert_eq!(submit(&node_b, 10).await, "duplicate");
        assert_eq!(submit(&node_b, 20).await, "accepted");
        assert_eq!(submit(&node_a, 15).await, "stale_receipt");
        assert_eq!(submit(&node_a, 20).await, "duplicate");
        assert_eq!(held(&a).await, Some(20));
    }
}
