//! [`Submitter`]: gets each job of a [`TxJournal`] mined once, from one signer.

use core::{future::Future, time::Duration};
use std::{collections::HashMap, sync::Arc};

use alloy::{
    consensus::{SignableTransaction, Signed, TxEip1559, TxEnvelope, TxLegacy},
    eips::{BlockNumberOrTag, Encodable2718},
    network::TxSignerSync,
    primitives::{Address, B256, Bytes, Signature, TxKind, U256},
    providers::{DynProvider, Provider},
    rpc::types::{TransactionInput, TransactionReceipt, TransactionRequest},
    signers::local::PrivateKeySigner,
    transports::TransportError,
};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::{
    BlockRef, Error, FeeMarket, FeePolicy, Fees, NonceManager, Result, SendErrorKind, TxId,
    TxJournal, TxRecord, TxState, classify_send_error,
    journal::{Inclusion, JournalOp, RequeueReason, SignedAttempt, TxIntent},
};

/// Gas of a cancel: a plain transfer.
const CANCEL_GAS: u64 = 21_000;

/// How the submitter sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubmitterConfig {
    /// The escrow every job's calldata is sent to.
    pub escrow: Address,
    /// A job is final once `head − inclusion block ≥ confirmations` (0: when mined).
    pub confirmations: u64,
    /// Fee pricing and escalation.
    pub fees: FeePolicy,
    /// The most jobs holding a nonce (prepared, pending or included) at once.
    pub max_in_flight: usize,
    /// An attempt not mined after this long is replaced with bumped fees.
    pub stuck_after: Duration,
    /// Replacements of a job before it is cancelled with a no-op.
    pub max_bumps: u32,
    /// Percent added to the gas estimate (state moves between estimate and inclusion).
    pub gas_margin_percent: u64,
    /// Pause between rounds in [`Submitter::run`].
    pub poll_interval: Duration,
}

impl SubmitterConfig {
    /// Defaults for `escrow`: 2 confirmations, 16 in flight, replace after 30 s, cancel after 8 bumps,
    /// 25 % gas margin, 1 s rounds, [`FeePolicy::default`].
    pub fn new(escrow: Address) -> Self {
        Self {
            escrow,
            confirmations: 2,
            fees: FeePolicy::default(),
            max_in_flight: 16,
            stuck_after: Duration::from_secs(30),
            max_bumps: 8,
            gas_margin_percent: 25,
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// A point between two steps of sending, reported to the [`Submitter::with_checkpoint`] hook: where a
/// crash is most dangerous, so tests kill the process exactly there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checkpoint {
    /// The intent (nonce, gas, fees) is stored; nothing is signed.
    IntentRecorded {
        /// The job.
        id: TxId,
        /// Its nonce.
        nonce: u64,
    },
    /// An attempt is signed and stored, not yet broadcast.
    Signed {
        /// The job.
        id: TxId,
        /// The attempt.
        hash: B256,
    },
    /// An attempt was handed to the node; the journal does not know yet whether it was accepted.
    Broadcast {
        /// The job.
        id: TxId,
        /// The attempt.
        hash: B256,
    },
}

impl Checkpoint {
    /// A stable snake_case name (`intent_recorded`, `signed`, `broadcast`).
    pub const fn name(&self) -> &'static str {
        match self {
            Self::IntentRecorded { .. } => "intent_recorded",
            Self::Signed { .. } => "signed",
            Self::Broadcast { .. } => "broadcast",
        }
    }
}

/// What a [`tick`](Submitter::tick) did to one job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubmitterEvent {
    /// An attempt was broadcast: the first, a rebroadcast, a replacement or a cancel.
    Sent {
        /// The job.
        id: TxId,
        /// Its nonce.
        nonce: u64,
        /// The attempt.
        hash: B256,
        /// Its fees.
        fees: Fees,
        /// What kind of send.
        kind: SendKind,
    },
    /// The node refused an attempt (classified); the job stays and is reconciled next round.
    SendRefused {
        /// The job.
        id: TxId,
        /// The attempt.
        hash: B256,
        /// The refusal's class.
        kind: SendErrorKind,
        /// The node's message.
        message: String,
    },
    /// An attempt was mined.
    Included {
        /// The job.
        id: TxId,
        /// Where.
        inclusion: Inclusion,
    },
    /// The inclusion's block was reorged out: back to pending.
    Reorged {
        /// The job.
        id: TxId,
        /// The block that is gone.
        block: BlockRef,
    },
    /// Final: mined and `confirmations` deep (`inclusion.success` false: it reverted).
    Confirmed {
        /// The job.
        id: TxId,
        /// Where.
        inclusion: Inclusion,
    },
    /// Back to queued (its calldata was not executed).
    Requeued {
        /// The job.
        id: TxId,
        /// Why.
        reason: RequeueReason,
    },
    /// Final: gas estimation reverted, nothing was signed.
    Failed {
        /// The job.
        id: TxId,
        /// The error.
        reason: String,
    },
}

/// Why an attempt was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SendKind {
    /// The job's first attempt.
    First,
    /// A stored attempt sent again (after a restart, or dropped by the node).
    Rebroadcast,
    /// A replacement with bumped fees.
    Replacement,
    /// A cancel: a no-op to the signer with bumped fees.
    Cancel,
}

/// The hook called at each [`Checkpoint`].
pub type CheckpointHook = Arc<dyn Fn(&Checkpoint) + Send + Sync>;

/// Sends the jobs of `J` from one signer, each mined once.
///
/// Every [`tick`](Submitter::tick) reloads the journal's unfinished jobs and moves each one step, checking
/// the chain first and writing the journal before every dangerous step:
///
/// - `Queued`: gas estimated (a revert makes the job `Failed`), a nonce allocated, the intent stored,
///   then signed, stored, broadcast (up to `max_in_flight` jobs hold a nonce at once);
/// - `Prepared` (a crash before signing): signed with the stored intent, stored, broadcast;
/// - `Pending`: a receipt of any attempt → `Included`; the nonce mined by something else, `confirmations`
///   deep → requeued;
///   the last attempt unknown to the node (dropped, or a restart) → rebroadcast as is; not mined after
///   `stuck_after` → replaced with its fees bumped ([`FeePolicy::bump`]), or after `max_bumps` replacements
///   cancelled;
///
/// Attempts are EIP-1559 or legacy (`gasPrice`) transactions, by the chain's [`FeeMarket`] read at start;
/// the journal, nonce, replacement and cancel rules are the same for both.
/// - `Included`: the receipt gone or in another block → back to `Pending` (or re-included); `confirmations`
///   deep → `Confirmed` (a mined cancel → requeued).
pub struct Submitter<J> {
    provider: DynProvider,
    signer: PrivateKeySigner,
    chain_id: u64,
    /// The chain's fee market, read once at start: every new attempt is signed for it.
    fee_market: FeeMarket,
    journal: J,
    config: SubmitterConfig,
    nonces: NonceManager,
    /// When the latest attempt of a job was broadcast by this process; none after a restart, so every
    /// stored attempt is rebroadcast once first.
    last_sent: HashMap<TxId, Instant>,
    checkpoint: Option<CheckpointHook>,
}

impl<J> core::fmt::Debug for Submitter<J> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Submitter")
            .field("address", &self.signer.address())
            .field("chain_id", &self.chain_id)
            .field("fee_market", &self.fee_market)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The chain as one round saw it.
struct View {
    head: u64,
    /// `eth_getTransactionCount(latest)`: nonces below it are mined.
    mined: u64,
    market: Option<Fees>,
}

impl<J: TxJournal> Submitter<J> {
    /// A submitter signing with `signer` over `provider`.
    ///
    /// Reads the chain id and the chain's [`FeeMarket`] from the latest block (`baseFeePerGas` present:
    /// EIP-1559; absent: legacy `gasPrice` transactions) and logs which, once. A chain that moves to London
    /// later still takes legacy transactions until the next start.
    pub async fn new(
        provider: DynProvider,
        signer: PrivateKeySigner,
        journal: J,
        config: SubmitterConfig,
    ) -> Result<Self> {
        config.fees.validate()?;
        if config.max_in_flight == 0 {
            return Err(Error::Config("max_in_flight must be at least 1".into()));
        }
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(Error::rpc_of("eth_chainId"))?;
        let latest = crate::rpc::latest_block(&provider).await?;
        let fee_market = FeeMarket::of_base_fee(latest.header.base_fee_per_gas);
        match fee_market {
            FeeMarket::Eip1559 => tracing::info!(
                chain_id,
                fee_market = %fee_market,
                block = latest.header.number,
                "the chain has a base fee (London or later): sending EIP-1559 transactions"
            ),
            FeeMarket::Legacy => tracing::info!(
                chain_id,
                fee_market = %fee_market,
                block = latest.header.number,
                "the chain has no base fee (before London): sending legacy gasPrice transactions"
            ),
        }
        Ok(Self {
            provider,
            signer,
            chain_id,
            fee_market,
            journal,
            config,
            nonces: NonceManager::default(),
            last_sent: HashMap::new(),
            checkpoint: None,
        })
    }

    /// Calls `hook` at each [`Checkpoint`] (tests use it to kill the process there).
    #[must_use]
    pub fn with_checkpoint(mut self, hook: CheckpointHook) -> Self {
        self.checkpoint = Some(hook);
        self
    }

    /// The signer's address (`msg.sender` of every job, the receiver of its fees).
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The chain's fee market, as read at start: the type of every new attempt.
    pub const fn fee_market(&self) -> FeeMarket {
        self.fee_market
    }

    /// The journal.
    pub const fn journal(&self) -> &J {
        &self.journal
    }

    /// The config.
    pub const fn config(&self) -> &SubmitterConfig {
        &self.config
    }

    /// Stores a job (see [`TxJournal::enqueue`]); the next tick sends it.
    pub async fn enqueue(&self, id: TxId, calldata: Bytes) -> Result<()> {
        self.journal.enqueue(id, calldata).await
    }

    /// Runs [`tick`](Self::tick) every `poll_interval` until `shutdown` resolves. Errors of a round are
    /// logged and the round retried; the journal keeps everything a crash would need.
    pub async fn run(&mut self, shutdown: impl Future<Output = ()>) -> Result<()> {
        tokio::pin!(shutdown);
        loop {
            match self.tick().await {
                Ok(events) => {
                    for event in events {
                        tracing::info!(?event, "submitter");
                    }
                }
                Err(e) => tracing::warn!(code = e.code(), error = %e, "submitter round failed"),
            }
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
    }

    /// One round over every unfinished job; returns what changed.
    pub async fn tick(&mut self) -> Result<Vec<SubmitterEvent>> {
        let mut events = Vec::new();
        let mut records = self.journal.unfinished().await?;
        let address = self.address();
        // The nonce count first, receipts after: a transaction mined in between shows up as a receipt,
        // never as "nonce taken".
        let mined = self
            .provider
            .get_transaction_count(address)
            .latest()
            .await
            .map_err(Error::rpc_of("eth_getTransactionCount"))?;
        let pending = self
            .provider
            .get_transaction_count(address)
            .pending()
            .await
            .map_err(Error::rpc_of("eth_getTransactionCount"))?;
        let head = self
            .provider
            .get_block_number()
            .await
            .map_err(Error::rpc_of("eth_blockNumber"))?;
        let highest = records.iter().filter_map(|r| r.state.nonce()).max();
        self.nonces.resync(mined, pending, highest);
        let mut view = View {
            head,
            mined,
            market: None,
        };
        // Nonce order for the jobs that hold one, then queued ones by id.
        records.sort_by_key(|r| (r.state.nonce().is_none(), r.state.nonce(), r.id));
        let mut in_flight = records.iter().filter(|r| r.state.nonce().is_some()).count();
        let live: Vec<TxId> = records.iter().map(|r| r.id).collect();
        for record in records {
            let id = record.id;
            let result = match &record.state {
                TxState::Queued => {
                    if in_flight >= self.config.max_in_flight {
                        continue;
                    }
                    let result = self.start(&record, &mut view, &mut events).await;
                    if matches!(result, Ok(true)) {
                        in_flight += 1;
                    }
                    result.map(drop)
                }
                TxState::Prepared { intent } => {
                    let attempt = self.sign(&record.calldata, intent, intent.fees, false)?;
                    self.send_new(id, intent.nonce, attempt, SendKind::First, &mut events)
                        .await
                }
                TxState::Pending { intent, attempts } => {
                    self.pending(
                        id,
                        &record.calldata,
                        intent,
                        attempts,
                        &mut view,
                        &mut events,
                    )
                    .await
                }
                TxState::Included {
                    inclusion,
                    attempts,
                    ..
                } => {
                    self.included(id, *inclusion, attempts, &view, &mut events)
                        .await
                }
                TxState::Confirmed { .. } | TxState::Failed { .. } => Ok(()),
            };
            if let Err(e) = result {
                // One job's RPC trouble must not stop the others; store errors end the round.
                if matches!(e, Error::Store(_)) {
                    return Err(e);
                }
                tracing::warn!(%id, code = e.code(), error = %e, "job step failed");
            }
        }
        self.last_sent.retain(|id, _| live.contains(id));
        Ok(events)
    }

    /// `Queued` → estimate, intent, sign, send. `Ok(true)` if the job now holds a nonce.
    async fn start(
        &mut self,
        record: &TxRecord,
        view: &mut View,
        events: &mut Vec<SubmitterEvent>,
    ) -> Result<bool> {
        let id = record.id;
        let request = TransactionRequest::default()
            .from(self.address())
            .to(self.config.escrow)
            .input(TransactionInput::new(record.calldata.clone()));
        let estimate = match self.provider.estimate_gas(request).await {
            Ok(gas) => gas,
            Err(error) => {
                if let Some(data) = error.as_error_resp().and_then(|e| e.as_revert_data()) {
                    let reason = Error::Reverted { data }.to_string();
                    self.journal
                        .apply(id, JournalOp::MarkFailed(reason.clone()))
                        .await?;
                    events.push(SubmitterEvent::Failed { id, reason });
                    return Ok(false);
                }
                return Err(Error::rpc("eth_estimateGas", error));
            }
        };
        let gas_limit = estimate
            .saturating_mul(100 + self.config.gas_margin_percent)
            .div_ceil(100);
        let fees = self.market(view).await?;
        let nonce = self.nonces.allocate();
        let intent = TxIntent {
            nonce,
            gas_limit,
            fees,
        };
        self.journal
            .apply(id, JournalOp::RecordIntent(intent))
            .await?;
        self.hook(&Checkpoint::IntentRecorded { id, nonce });
        let attempt = self.sign(&record.calldata, &intent, fees, false)?;
        self.send_new(id, nonce, attempt, SendKind::First, events)
            .await?;
        Ok(true)
    }

    async fn pending(
        &mut self,
        id: TxId,
        calldata: &Bytes,
        intent: &TxIntent,
        attempts: &[SignedAttempt],
        view: &mut View,
        events: &mut Vec<SubmitterEvent>,
    ) -> Result<()> {
        for attempt in attempts.iter().rev() {
            if let Some(receipt) = self.receipt(attempt.hash).await? {
                let Some(inclusion) = inclusion_of(&receipt, attempt.cancel) else {
                    continue;
                };
                self.journal
                    .apply(id, JournalOp::MarkIncluded(inclusion))
                    .await?;
                self.last_sent.remove(&id);
                events.push(SubmitterEvent::Included { id, inclusion });
                return Ok(());
            }
        }
        if view.mined > intent.nonce {
            // Mined, but by none of this job's attempts (receipts were asked after the count). Only once
            // that is `confirmations` deep: a lagging node's receipt or a reorg could still show the
            // nonce as this job's.
            let settled_at = view.head.saturating_sub(self.config.confirmations);
            let confirmed_count = self
                .provider
                .get_transaction_count(self.address())
                .number(settled_at)
                .await
                .map_err(Error::rpc_of("eth_getTransactionCount"))?;
            if confirmed_count <= intent.nonce {
                return Ok(());
            }
            self.journal
                .apply(id, JournalOp::Requeue(RequeueReason::NonceTaken))
                .await?;
            self.last_sent.remove(&id);
            events.push(SubmitterEvent::Requeued {
                id,
                reason: RequeueReason::NonceTaken,
            });
            return Ok(());
        }
        let Some(last) = attempts.last() else {
            // A journal that lost the attempts of a pending job: nothing was stored as sent, so sign the
            // intent again (deterministic: the same bytes if it was ever sent).
            let attempt = self.sign(calldata, intent, intent.fees, false)?;
            return self
                .send_new(id, intent.nonce, attempt, SendKind::First, events)
                .await;
        };
        let since = self.last_sent.get(&id).map(Instant::elapsed);
        match since {
            // Never sent by this process (a restart): send the stored bytes again, never re-sign.
            None => {
                self.broadcast(id, intent.nonce, last, SendKind::Rebroadcast, events)
                    .await
            }
            Some(waited) if waited >= self.config.stuck_after => {
                let market = self.market(view).await?;
                let replacements = attempts
                    .iter()
                    .filter(|a| !a.cancel)
                    .count()
                    .saturating_sub(1);
                let cancel = last.cancel
                    || u32::try_from(replacements).unwrap_or(u32::MAX) >= self.config.max_bumps;
                match self.config.fees.bump(last.fees, market) {
                    Some(fees) => {
                        let attempt = self.sign(calldata, intent, fees, cancel)?;
                        let kind = if cancel {
                            SendKind::Cancel
                        } else {
                            SendKind::Replacement
                        };
                        self.send_new(id, intent.nonce, attempt, kind, events).await
                    }
                    None => {
                        // At the cap: all that is left is to keep the best attempt in the pool.
                        tracing::warn!(%id, nonce = intent.nonce, "fees at the cap; waiting");
                        self.broadcast(id, intent.nonce, last, SendKind::Rebroadcast, events)
                            .await
                    }
                }
            }
            Some(_) => {
                // Still waiting; a node that lost the attempt (dropped, restarted) gets it again so its
                // nonce is filled and later ones do not stall.
                let known = self
                    .provider
                    .get_transaction_by_hash(last.hash)
                    .await
                    .map_err(Error::rpc_of("eth_getTransactionByHash"))?
                    .is_some();
                if known {
                    return Ok(());
                }
                let at = self.last_sent.get(&id).copied();
                self.broadcast(id, intent.nonce, last, SendKind::Rebroadcast, events)
                    .await?;
                // A rebroadcast does not restart the clock towards a replacement.
                if let Some(at) = at {
                    self.last_sent.insert(id, at);
                }
                Ok(())
            }
        }
    }

    /// Job `id`, included in block `was` until a reorg, is included as `now` in the new fork: journals it
    /// and reports both.
    async fn remined(
        &mut self,
        id: TxId,
        was: BlockRef,
        now: Inclusion,
        events: &mut Vec<SubmitterEvent>,
    ) -> Result<()> {
        self.journal.apply(id, JournalOp::MarkIncluded(now)).await?;
        events.push(SubmitterEvent::Reorged { id, block: was });
        events.push(SubmitterEvent::Included { id, inclusion: now });
        Ok(())
    }

    async fn included(
        &mut self,
        id: TxId,
        inclusion: Inclusion,
        attempts: &[SignedAttempt],
        view: &View,
        events: &mut Vec<SubmitterEvent>,
    ) -> Result<()> {
        let receipt = self.receipt(inclusion.tx_hash).await?;
        let now = receipt
            .as_ref()
            .and_then(|r| inclusion_of(r, inclusion.cancel));
        match now {
            Some(current) if current.block == inclusion.block => {
                if view.head.saturating_sub(inclusion.block.number) < self.config.confirmations {
                    return Ok(());
                }
                if inclusion.cancel {
                    self.journal
                        .apply(id, JournalOp::Requeue(RequeueReason::Cancelled))
                        .await?;
                    events.push(SubmitterEvent::Requeued {
                        id,
                        reason: RequeueReason::Cancelled,
                    });
                } else {
                    self.journal
                        .apply(id, JournalOp::MarkConfirmed(inclusion))
                        .await?;
                    events.push(SubmitterEvent::Confirmed { id, inclusion });
                }
            }
            // Re-mined in another block by the reorg.
            Some(current) => self.remined(id, inclusion.block, current, events).await?,
            None => {
                // Another attempt of the same nonce may have been mined instead in the new fork.
                for attempt in attempts.iter().filter(|a| a.hash != inclusion.tx_hash) {
                    if let Some(other) = self
                        .receipt(attempt.hash)
                        .await?
                        .and_then(|r| inclusion_of(&r, attempt.cancel))
                    {
                        return self.remined(id, inclusion.block, other, events).await;
                    }
                }
                self.journal.apply(id, JournalOp::MarkPending).await?;
                // Rebroadcast at once next round, before any bump.
                self.last_sent.remove(&id);
                events.push(SubmitterEvent::Reorged {
                    id,
                    block: inclusion.block,
                });
            }
        }
        Ok(())
    }

    /// Stores a freshly signed attempt, then broadcasts it.
    async fn send_new(
        &mut self,
        id: TxId,
        nonce: u64,
        attempt: SignedAttempt,
        kind: SendKind,
        events: &mut Vec<SubmitterEvent>,
    ) -> Result<()> {
        self.journal
            .apply(id, JournalOp::RecordSigned(attempt.clone()))
            .await?;
        self.hook(&Checkpoint::Signed {
            id,
            hash: attempt.hash,
        });
        self.broadcast(id, nonce, &attempt, kind, events).await
    }

    /// Sends a stored attempt. A refusal is classified and reported; the next round reconciles.
    async fn broadcast(
        &mut self,
        id: TxId,
        nonce: u64,
        attempt: &SignedAttempt,
        kind: SendKind,
        events: &mut Vec<SubmitterEvent>,
    ) -> Result<()> {
        let result = self.provider.send_raw_transaction(&attempt.raw).await;
        self.hook(&Checkpoint::Broadcast {
            id,
            hash: attempt.hash,
        });
        self.last_sent.insert(id, Instant::now());
        let taken = match result {
            Ok(_) => {
                events.push(SubmitterEvent::Sent {
                    id,
                    nonce,
                    hash: attempt.hash,
                    fees: attempt.fees,
                    kind,
                });
                true
            }
            Err(error) => self.refused(id, attempt, error, events)? == SendErrorKind::AlreadyKnown,
        };
        if taken {
            self.journal
                .apply(id, JournalOp::MarkBroadcast(attempt.hash))
                .await?;
        }
        Ok(())
    }

    /// Classifies and reports a refused send; returns the refusal's class.
    fn refused(
        &mut self,
        id: TxId,
        attempt: &SignedAttempt,
        error: TransportError,
        events: &mut Vec<SubmitterEvent>,
    ) -> Result<SendErrorKind> {
        let Some(response) = error.as_error_resp() else {
            // No answer: the request may or may not have reached the node. Possibly sent; the next round
            // asks the chain.
            return Err(Error::rpc("eth_sendRawTransaction", error));
        };
        let kind = classify_send_error(&response.message);
        if kind == SendErrorKind::FeeTooLow {
            // Replace at the next round instead of waiting `stuck_after`.
            if let Some(past) = Instant::now().checked_sub(self.config.stuck_after) {
                self.last_sent.insert(id, past);
            }
        }
        tracing::debug!(%id, kind = kind.as_str(), message = %response.message, "send refused");
        events.push(SubmitterEvent::SendRefused {
            id,
            hash: attempt.hash,
            kind,
            message: response.message.to_string(),
        });
        Ok(kind)
    }

    /// Signs the job's transaction (or its cancel) at its nonce with `fees`. Deterministic (RFC 6979), so
    /// signing the same intent again after a crash gives the same bytes and hash.
    fn sign(
        &self,
        calldata: &Bytes,
        intent: &TxIntent,
        fees: Fees,
        cancel: bool,
    ) -> Result<SignedAttempt> {
        let (to, gas_limit, input) = if cancel {
            (self.address(), CANCEL_GAS, Bytes::new())
        } else {
            (self.config.escrow, intent.gas_limit, calldata.clone())
        };
        let envelope = match fees {
            Fees::Eip1559 {
                max_fee_per_gas,
                max_priority_fee_per_gas,
            } => self.envelope(TxEip1559 {
                chain_id: self.chain_id,
                nonce: intent.nonce,
                gas_limit,
                max_fee_per_gas,
                max_priority_fee_per_gas,
                to: TxKind::Call(to),
                value: U256::ZERO,
                access_list: Default::default(),
                input,
            })?,
            // EIP-155: the chain id in the signature, so the bytes replay on no other chain.
            Fees::Legacy { gas_price } => self.envelope(TxLegacy {
                chain_id: Some(self.chain_id),
                nonce: intent.nonce,
                gas_price,
                gas_limit,
                to: TxKind::Call(to),
                value: U256::ZERO,
                input,
            })?,
        };
        Ok(SignedAttempt {
            hash: *envelope.tx_hash(),
            raw: envelope.encoded_2718().into(),
            fees,
            cancel,
        })
    }

    /// `tx` signed by the signer, as the envelope `eth_sendRawTransaction` takes.
    fn envelope<T>(&self, mut tx: T) -> Result<TxEnvelope>
    where
        T: SignableTransaction<Signature>,
        TxEnvelope: From<Signed<T>>,
    {
        let signature = self
            .signer
            .sign_transaction_sync(&mut tx)
            .map_err(|_| Error::InvalidKey)?;
        Ok(TxEnvelope::from(tx.into_signed(signature)))
    }

    /// The market's fees, asked once per round.
    async fn market(&self, view: &mut View) -> Result<Fees> {
        if let Some(fees) = view.market {
            return Ok(fees);
        }
        let fees = match self.fee_market {
            FeeMarket::Eip1559 => self.market_eip1559().await?,
            FeeMarket::Legacy => {
                let price = self
                    .provider
                    .get_gas_price()
                    .await
                    .map_err(Error::rpc_of("eth_gasPrice"))?;
                self.config.fees.market_legacy(price)
            }
        };
        view.market = Some(fees);
        Ok(fees)
    }

    /// EIP-1559 fees from the next block's base fee and the node's suggested tip.
    async fn market_eip1559(&self) -> Result<Fees> {
        let history = self
            .provider
            .get_fee_history(1, BlockNumberOrTag::Latest, &[])
            .await
            .map_err(Error::rpc_of("eth_feeHistory"))?;
        let base_fee = history
            .next_block_base_fee()
            .or_else(|| history.latest_block_base_fee())
            .unwrap_or_default();
        let tip = self
            .provider
            .get_max_priority_fee_per_gas()
            .await
            .map_err(Error::rpc_of("eth_maxPriorityFeePerGas"))?;
        Ok(self.config.fees.market_eip1559(base_fee, tip))
    }

    async fn receipt(&self, hash: B256) -> Result<Option<TransactionReceipt>> {
        self.provider
            .get_transaction_receipt(hash)
            .await
            .map_err(Error::rpc_of("eth_getTransactionReceipt"))
    }

    fn hook(&self, checkpoint: &Checkpoint) {
        if let Some(hook) = &self.checkpoint {
            hook(checkpoint);
        }
    }
}

/// The inclusion a receipt reports, `None` for a receipt without a block (a pending one).
fn inclusion_of(receipt: &TransactionReceipt, cancel: bool) -> Option<Inclusion> {
    Some(Inclusion {
        tx_hash: receipt.transaction_hash,
        block: BlockRef::new(receipt.block_number?, receipt.block_hash?),
        success: receipt.status(),
        gas_used: receipt.gas_used,
        cancel,
    })
}
