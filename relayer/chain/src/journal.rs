//! [`TxJournal`]: the submitter's durable record of every transaction it signs, and the types it stores.
//!
//! A job is calldata for the escrow (a `settleBatch`, a `…BySig` batch) under an id the caller chooses.
//! Its life, one state per row:
//!
//! ```text
//! Queued ──record_intent──▶ Prepared ──record_signed──▶ Pending ──mark_included──▶ Included ──mark_confirmed──▶ Confirmed
//!   │  ▲                      │                          │  ▲  ▲                     │  │
//!   │  └────────requeue───────┴──────────────────────────┘  │  └──record_signed──┘     │  └──requeue (a cancel confirmed,
//!   │                                                       └───────mark_pending───────┘     or the nonce taken by another tx)
//!   └──mark_failed──▶ Failed                                   (the inclusion was reorged out)
//! ```
//!
//! The rules that make a crash at any point harmless:
//! - the nonce, gas limit and fees are stored (`record_intent`) **before** signing;
//! - the signed bytes and hash are stored (`record_signed`) **before** broadcast, so after a restart the
//!   submitter rebroadcasts them or finds their receipt, and never signs the job again under a new nonce
//!   while an old signed one could still be mined;
//! - a job leaves `Included` only once its block is `confirmations` deep (`mark_confirmed`), or back to
//!   `Pending` if that block is no longer canonical (`mark_pending`).
//!
//! `mark_broadcast` (the node took an attempt) changes no state; it is there for journals that report
//! what was sent.

use core::future::Future;

use alloy::primitives::{B256, Bytes};
use serde::{Deserialize, Serialize};

use crate::{BlockRef, Fees, Result};

/// A job's id, chosen by whoever enqueues it (the node uses its batch id). Unique per journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TxId(pub u64);

impl core::fmt::Display for TxId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.fmt(f)
    }
}

/// What the submitter chose for a job before signing: stored by [`JournalOp::RecordIntent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TxIntent {
    /// The signer's nonce the job's transaction uses (every replacement and a cancel reuse it).
    pub nonce: u64,
    /// Gas limit of the job's transaction (estimated, with a margin).
    pub gas_limit: u64,
    /// Fees of the first attempt (their type is the chain's when it was chosen).
    pub fees: Fees,
}

/// One signed transaction of a job: the first, a fee-bumped replacement, or a cancel. All attempts of a
/// job share its nonce, so at most one of them is ever mined.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignedAttempt {
    /// The transaction hash.
    pub hash: B256,
    /// The EIP-2718 encoded signed transaction, as `eth_sendRawTransaction` takes it.
    pub raw: Bytes,
    /// Its fees.
    pub fees: Fees,
    /// A cancel: a zero-value transfer to the signer itself, with no calldata, that frees the nonce.
    pub cancel: bool,
}

/// Where one of a job's attempts was mined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Inclusion {
    /// The mined attempt's hash.
    pub tx_hash: B256,
    /// The block.
    pub block: BlockRef,
    /// Whether it succeeded (status 1). A reverted job transaction is final: the escrow refused the
    /// calldata itself (settlement and `…BySig` entries are skipped, never reverted, so this means a
    /// malformed batch or an out-of-gas).
    pub success: bool,
    /// Gas it used.
    pub gas_used: u64,
    /// Whether the mined attempt is the cancel (the job's calldata was not executed).
    pub cancel: bool,
}

/// Why a job went back to [`TxState::Queued`] (its calldata was never executed; it will get a new nonce).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequeueReason {
    /// Its cancel was mined and is confirmed.
    Cancelled,
    /// Its nonce was used by a transaction that is none of its attempts (sent from the same key
    /// elsewhere), or its attempts were never accepted and the nonce was released.
    NonceTaken,
}

impl RequeueReason {
    /// A stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cancelled => "cancelled",
            Self::NonceTaken => "nonce_taken",
        }
    }
}

/// A job's state, carrying what the state knows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TxState {
    /// Stored, no nonce yet.
    Queued,
    /// Nonce, gas limit and fees chosen; nothing signed is stored, so nothing was broadcast.
    Prepared {
        /// The choice.
        intent: TxIntent,
    },
    /// At least one attempt signed and stored; any of them may have been broadcast.
    Pending {
        /// Nonce, gas limit, first fees.
        intent: TxIntent,
        /// Every attempt, oldest first; the last has the highest fees.
        attempts: Vec<SignedAttempt>,
    },
    /// One attempt is mined, not yet `confirmations` deep.
    Included {
        /// Nonce, gas limit, first fees.
        intent: TxIntent,
        /// Every attempt (kept: a reorg may bring the job back to `Pending`).
        attempts: Vec<SignedAttempt>,
        /// Where.
        inclusion: Inclusion,
    },
    /// Mined and `confirmations` deep: final.
    Confirmed {
        /// Where.
        inclusion: Inclusion,
    },
    /// Refused before anything was signed (gas estimation reverted): final.
    Failed {
        /// Why (the error's message; a revert's data in hex).
        reason: String,
    },
}

impl TxState {
    /// A stable snake_case name.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Prepared { .. } => "prepared",
            Self::Pending { .. } => "pending",
            Self::Included { .. } => "included",
            Self::Confirmed { .. } => "confirmed",
            Self::Failed { .. } => "failed",
        }
    }

    /// Whether the state is final (`Confirmed`, `Failed`).
    pub const fn is_final(&self) -> bool {
        matches!(self, Self::Confirmed { .. } | Self::Failed { .. })
    }

    /// The job's nonce, once chosen and while it holds one.
    pub const fn nonce(&self) -> Option<u64> {
        match self {
            Self::Prepared { intent }
            | Self::Pending { intent, .. }
            | Self::Included { intent, .. } => Some(intent.nonce),
            _ => None,
        }
    }
}

/// A job as the journal stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxRecord {
    /// Its id.
    pub id: TxId,
    /// The calldata sent to the escrow (selector and arguments).
    pub calldata: Bytes,
    /// Where it is.
    pub state: TxState,
}

/// The submitter's durable journal. The node implements it over its database; [`MemoryJournal`]
/// (tests) and [`FileJournal`] (a JSON-lines file, fsynced) are provided here.
///
/// [`MemoryJournal`]: crate::MemoryJournal
/// [`FileJournal`]: crate::FileJournal
///
/// Three calls: [`enqueue`](Self::enqueue) a job, read the [`unfinished`](Self::unfinished) ones, and
/// [`apply`](Self::apply) one [`JournalOp`] to a job. Which op is allowed from which state is
/// [`TxState::after`], shared by every implementation, so an implementation only stores.
///
/// **Durability**: every write is durable (committed, fsynced) when its future resolves `Ok`; the
/// submitter takes the next dangerous step (signing, broadcasting) only after that.
///
/// **Ordering**: one submitter writes a journal at a time (the node's leader); ops for one job come in
/// the order of the state diagram in the [module docs](self). Implementations need no locking beyond one
/// transaction per call.
///
/// **Idempotency**: repeating a call that already took effect (same id, same arguments, e.g. after a
/// crash between the write and the next step) succeeds and changes nothing. An op the diagram does not
/// allow from the job's state fails with [`Error::InvalidTransition`](crate::Error::InvalidTransition)
/// and changes nothing; an unknown id fails with [`Error::UnknownTx`](crate::Error::UnknownTx). A failed
/// call changes nothing.
pub trait TxJournal: Send + Sync {
    /// Stores a new job as [`TxState::Queued`]. An id that exists with the same calldata is a no-op
    /// (whatever its state); with other calldata it is [`Error::DuplicateTx`](crate::Error::DuplicateTx).
    fn enqueue(&self, id: TxId, calldata: Bytes) -> impl Future<Output = Result<()>> + Send;

    /// Every job that is not final (`Queued`, `Prepared`, `Pending`, `Included`), in id order. What the
    /// submitter loads at start and on every tick.
    fn unfinished(&self) -> impl Future<Output = Result<Vec<TxRecord>>> + Send;

    /// Moves job `id` to [`TxState::after`] `op` and stores it (nothing is written when `after` says the
    /// op is a no-op).
    fn apply(&self, id: TxId, op: JournalOp) -> impl Future<Output = Result<()>> + Send;
}

/// One [`TxJournal::apply`] write, as data. [`TxState::after`] holds the rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum JournalOp {
    /// `Queued → Prepared`: stores the nonce, gas limit and fees, before anything is signed. Also allowed
    /// from `Prepared` with the same intent (idempotent) or another one (a restart that found nothing
    /// signed may choose again; nothing of the old intent was ever broadcast).
    RecordIntent(TxIntent),
    /// `Prepared | Pending → Pending`: appends a signed attempt, before it is broadcast. An attempt whose
    /// hash is already stored is a no-op.
    RecordSigned(SignedAttempt),
    /// `Pending | Included`, no change of state: the node accepted the stored attempt with this hash (or
    /// already had it), so it may be mined from now on. Journals that keep only states store nothing; the
    /// node's marks the job's batch `submitted` (never before: a signed attempt the node refused, say for
    /// want of funds, was not sent).
    MarkBroadcast(B256),
    /// `Pending | Included → Included`: one of the job's attempts (`inclusion.tx_hash`) was mined. From
    /// `Included` it replaces the inclusion (the same transaction re-mined in another block).
    MarkIncluded(Inclusion),
    /// `Included → Pending`: the inclusion's block is no longer canonical (a reorg); the attempts are kept
    /// and will be rebroadcast. A no-op from `Pending`.
    MarkPending,
    /// `Included → Confirmed`: the inclusion (the stored one) is `confirmations` deep. Final. A no-op from
    /// `Confirmed`.
    MarkConfirmed(Inclusion),
    /// `Prepared | Pending | Included → Queued`: the job's calldata was not executed and its nonce is
    /// used or released; it will be prepared again with a new nonce. Drops the intent and attempts. A
    /// no-op from `Queued`.
    Requeue(RequeueReason),
    /// `Queued → Failed`: refused before a nonce was chosen (gas estimation reverted). Final. A no-op
    /// from `Failed`.
    MarkFailed(String),
}

impl JournalOp {
    /// A stable snake_case name of the op.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::RecordIntent(_) => "record_intent",
            Self::RecordSigned(_) => "record_signed",
            Self::MarkBroadcast(_) => "mark_broadcast",
            Self::MarkIncluded(_) => "mark_included",
            Self::MarkPending => "mark_pending",
            Self::MarkConfirmed(_) => "mark_confirmed",
            Self::Requeue(_) => "requeue",
            Self::MarkFailed(_) => "mark_failed",
        }
    }
}

impl TxState {
    /// The state after `op`, by the rules of [`JournalOp`]: `Ok(None)` for a no-op (nothing to store),
    /// [`Error::InvalidTransition`](crate::Error::InvalidTransition) for a transition the diagram does
    /// not allow (job `id` is for the message).
    pub fn after(&self, id: TxId, op: &JournalOp) -> Result<Option<Self>> {
        use JournalOp as Op;
        let invalid = || crate::Error::InvalidTransition {
            id: id.0,
            operation: op.name(),
            state: self.name(),
        };
        Ok(Some(match (self, op) {
            (Self::Queued, Op::RecordIntent(intent)) => Self::Prepared { intent: *intent },
            (Self::Prepared { intent: old }, Op::RecordIntent(intent)) => {
                if old == intent {
                    return Ok(None);
                }
                Self::Prepared { intent: *intent }
            }
            (Self::Prepared { intent }, Op::RecordSigned(attempt)) => Self::Pending {
                intent: *intent,
                attempts: vec![attempt.clone()],
            },
            (Self::Pending { intent, attempts }, Op::RecordSigned(attempt)) => {
                if attempts.iter().any(|a| a.hash == attempt.hash) {
                    return Ok(None);
                }
                let mut attempts = attempts.clone();
                attempts.push(attempt.clone());
                Self::Pending {
                    intent: *intent,
                    attempts,
                }
            }
            (Self::Included { attempts, .. }, Op::RecordSigned(attempt))
                if attempts.iter().any(|a| a.hash == attempt.hash) =>
            {
                return Ok(None);
            }
            (
                Self::Pending { attempts, .. } | Self::Included { attempts, .. },
                Op::MarkBroadcast(hash),
            ) if attempts.iter().any(|a| a.hash == *hash) => {
                return Ok(None);
            }
            (Self::Pending { intent, attempts }, Op::MarkIncluded(inclusion))
            | (
                Self::Included {
                    intent, attempts, ..
                },
                Op::MarkIncluded(inclusion),
            ) => {
                if !attempts.iter().any(|a| a.hash == inclusion.tx_hash) {
                    return Err(invalid());
                }
                if matches!(self, Self::Included { inclusion: old, .. } if old == inclusion) {
                    return Ok(None);
                }
                Self::Included {
                    intent: *intent,
                    attempts: attempts.clone(),
                    inclusion: *inclusion,
                }
            }
            (
                Self::Included {
                    intent, attempts, ..
                },
                Op::MarkPending,
            ) => Self::Pending {
                intent: *intent,
                attempts: attempts.clone(),
            },
            (Self::Pending { .. }, Op::MarkPending) => return Ok(None),
            (Self::Included { inclusion: old, .. }, Op::MarkConfirmed(inclusion)) => {
                if old != inclusion {
                    return Err(invalid());
                }
                Self::Confirmed {
                    inclusion: *inclusion,
                }
            }
            (Self::Confirmed { inclusion: old }, Op::MarkConfirmed(inclusion))
                if old == inclusion =>
            {
                return Ok(None);
            }
            (
                Self::Prepared { .. } | Self::Pending { .. } | Self::Included { .. },
                Op::Requeue(_),
            ) => Self::Queued,
            (Self::Queued, Op::Requeue(_)) => return Ok(None),
            (Self::Queued, Op::MarkFailed(reason)) => Self::Failed {
                reason: reason.clone(),
            },
            (Self::Failed { .. }, Op::MarkFailed(_)) => return Ok(None),
            _ => return Err(invalid()),
        }))
    }
}

/// A shared journal is a journal (the node hands one `Arc` to its submitter and its API).
impl<T: TxJournal + ?Sized> TxJournal for std::sync::Arc<T> {
    fn enqueue(&self, id: TxId, calldata: Bytes) -> impl Future<Output = Result<()>> + Send {
        (**self).enqueue(id, calldata)
    }
    fn unfinished(&self) -> impl Future<Output = Result<Vec<TxRecord>>> + Send {
        (**self).unfinished()
    }
    fn apply(&self, id: TxId, op: JournalOp) -> impl Future<Output = Result<()>> + Send {
        (**self).apply(id, op)
    }
}
