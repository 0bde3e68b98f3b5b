//! Receipt ingest: signatures verified in parallel on the blocking pool, then a **group commit**
//! (`commit`) — one committer task takes every request waiting since its last commit, admits their
//! receipts in arrival order against the channels' snapshots, raises the held receipts in one
//! transaction, and answers each request once that transaction is durable.
//!
//! **How it amortises.** A durable commit costs one `fsync` whatever it holds. There is no timer: when
//! idle, a request commits at once, alone; while a commit is in flight, arriving requests queue, and the
//! next commit takes them all (up to `max_commit_receipts`). Recovery (~30 µs per signature) runs on
//! every core meanwhile.
//!
//! **Guarantees.** A request's results are sent only after the transaction holding its accepted
//! receipts committed; if the commit fails, every request in it gets the error (503) and none of its
//! receipts is stored. A request whose caller went away (timeout, disconnect) before its commit started
//! is dropped from the group; one that goes away during the commit may still be stored — harmless, since
//! resubmitting is answered `duplicate`.

mod commit;
mod decide;

use std::{sync::Arc, time::SystemTime};

use piecepay_protocol::{
    Eip712Domain, SolStruct,
    alloy_primitives::{B256, keccak256},
    relayer_api::{ApiError, ErrorCode, ReceiptResult, ReceiptSubmission, RecoveredReceipt},
};
use tokio::sync::{Semaphore, mpsc, oneshot};

pub use decide::{Decision, Verified, decide};

use commit::Job;

use crate::store::Store;

/// Receipts per verification task: below this a request is verified in one task.
const VERIFY_CHUNK: usize = 64;

/// The ingest pipeline. Cheap to clone; the committer stops when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct Ingest {
    /// The domain's separator, hashed once rather than per receipt.
    separator: B256,
    queue: mpsc::Sender<Job>,
    verify_threads: usize,
    /// One permit per verification thread, shared by all requests: more CPU-bound threads than cores
    /// would only take time slices from the committer, the serial stage.
    verifiers: Arc<Semaphore>,
}

impl Ingest {
    /// Starts the committer on the current runtime. `max_commit_receipts` bounds one transaction;
    /// `verify_threads` (0: one per core) bounds how many blocking tasks verify at once, all requests
    /// together.
    pub fn spawn(
        store: Store,
        domain: Eip712Domain,
        max_commit_receipts: usize,
        verify_threads: usize,
    ) -> Self {
        let verify_threads = match verify_threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let (queue, jobs) = mpsc::channel(1_024);
        tokio::spawn(commit::run(store, jobs, max_commit_receipts.max(1)));
        Self {
            separator: domain.separator(),
            queue,
            verify_threads,
            verifiers: Arc::new(Semaphore::new(verify_threads)),
        }
    }

    /// Parses and verifies `receipts` (fields, signature, recovery), in parallel on the blocking pool.
    /// Results are in order.
    pub async fn verify(&self, receipts: Vec<ReceiptSubmission>) -> Vec<Verified> {
        let tasks = receipts
            .len()
            .div_ceil(VERIFY_CHUNK)
            .clamp(1, self.verify_threads);
        let chunk = receipts.len().div_ceil(tasks).max(1);
        let mut handles = Vec::with_capacity(tasks);
        let mut receipts = receipts.into_iter();
        loop {
            let part: Vec<ReceiptSubmission> = receipts.by_ref().take(chunk).collect();
            if part.is_empty() {
                break;
            }
            let separator = self.separator;
            let verifiers = Arc::clone(&self.verifiers);
            handles.push(tokio::spawn(async move {
                // The semaphore is never closed.
                let _permit = verifiers.acquire_owned().await.ok();
                tokio::task::spawn_blocking(move || {
                    part.iter()
                        .map(|r| verify_one(r, &separator))
                        .collect::<Vec<_>>()
                })
                .await
            }));
        }
        let mut out = Vec::new();
        for handle in handles {
            match handle.await {
                Ok(Ok(part)) => out.extend(part),
                // Only a panic in libsecp256k1 or the runtime shutting down gets here.
                Ok(Err(_)) | Err(_) => out.push(Err(ApiError::new(
                    ErrorCode::Internal,
                    "signature verification failed unexpectedly",
                ))),
            }
        }
        out
    }

    /// Admits and stores verified receipts; returns one result per receipt once they are durable.
    pub async fn submit(&self, receipts: Vec<Verified>) -> Result<Vec<ReceiptResult>, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { receipts, reply })
            .await
            .map_err(|_| shutting_down())?;
        answer.await.map_err(|_| shutting_down())?
    }
}

/// [`ReceiptSubmission::verify`] with the domain separator precomputed: the same checks, the same
/// results (a unit test holds them equal), four hashes fewer per receipt.
pub fn verify_one(submission: &ReceiptSubmission, separator: &B256) -> Verified {
    let parsed = submission.parse()?;
    let mut message = [0u8; 66];
    message[..2].copy_from_slice(&[0x19, 0x01]);
    message[2..34].copy_from_slice(separator.as_slice());
    message[34..].copy_from_slice(parsed.receipt.eip712_hash_struct().as_slice());
    let payer = parsed.signature.recover(&keccak256(message))?;
    Ok(RecoveredReceipt {
        channel_id: parsed.receipt.channel_id(payer),
        payer,
        cumulative: parsed.receipt.cumulative.to::<u128>(),
        receipt: parsed.receipt,
        signature: parsed.signature,
    })
}

fn shutting_down() -> ApiError {
    ApiError::new(ErrorCode::Unavailable, "the relayer is shutting down")
}

/// The current unix time in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use piecepay_protocol::{
        Receipt, SigningKey,
        alloy_primitives::{Address, aliases::U96},
        domain,
    };

    use super::*;

    #[test]
    fn verify_one_matches_the_protocol_verify() {
        let domain = domain(31_337, Address::repeat_byte(0xe5));
        let key = SigningKey::from_bytes(&B256::repeat_byte(1)).unwrap();
        let receipt = Receipt {
            payee: Address::repeat_byte(2),
            salt: 7,
            cumulative: U96::from(9u8),
        };
        let signature = key
            .sign_digest(&receipt.eip712_signing_hash(&domain))
            .unwrap();
        let good = ReceiptSubmission::new(&receipt, &signature);
        let mut high_s = good.clone();
        high_s.signature.vs = format!("0x{}", "ff".repeat(32));
        let mut zero = good.clone();
        zero.cumulative = "0".into();
        for submission in [good, high_s, zero] {
            assert_eq!(
                verify_one(&submission, &domain.separator()),
                submission.verify(&domain)
            );
        }
    }
}
