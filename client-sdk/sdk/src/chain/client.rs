//! [`ChainClient`]: one account's view of one escrow over JSON-RPC.

use core::fmt;
use std::time::Duration;

use alloy::{
    contract::SolCallBuilder,
    eips::BlockNumberOrTag,
    network::{Ethereum, EthereumWallet},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionReceipt,
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolEvent},
};
use piecepay_protocol::{
    CompactSignature, CooperativeClose, Eip712Domain, OpenChannel, RequestClose, SettleFeeCap,
    SigningKey, SolStruct, TopUp, Withdrawal,
    alloy_primitives::{Address, B256, U256},
    domain,
    settle_batch::{ChannelSettled, SettleBatch, SettleOutcome, SettledGroup},
};

use super::{
    bindings::{
        ChannelEscrow::{self, ChannelEscrowInstance},
        IChannelEscrow, Permit,
        PieceToken::{self, PieceTokenInstance},
    },
    revert::decode_revert,
};
use crate::{Amount, Cause, Error, Result, Signed, SignedReceipt, channel::to_u96};

/// A mined, successful transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tx {
    /// The transaction hash.
    pub hash: B256,
    /// The block it was mined in.
    pub block_number: Option<u64>,
    /// Gas it used.
    pub gas_used: u64,
}

impl Tx {
    fn of(receipt: &TransactionReceipt) -> Self {
        Self {
            hash: receipt.transaction_hash,
            block_number: receipt.block_number,
            gas_used: receipt.gas_used,
        }
    }
}

/// A channel's lifecycle on chain, with what each state carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelStatus {
    /// The id was never opened.
    None,
    /// Open: receipts settle, the payer may top up.
    Open,
    /// The payer requested the close: receipts settle until `closes_at`, then anyone may finalize.
    Closing {
        /// End of the challenge window (unix seconds, the escrow's `closesAt`).
        closes_at: u64,
    },
    /// Closed: a tombstone, the id is never reused.
    Closed,
}

/// A channel as the escrow stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChannelInfo {
    /// Tokens locked by the payer.
    pub deposit: Amount,
    /// Cumulative amount credited to the payee so far.
    pub settled: Amount,
    /// Where the channel is in its lifecycle.
    pub status: ChannelStatus,
    /// The channel's nonce: opens, top-ups and cooperative closes must be signed under it
    /// (`advanceChannelNonce` moves it on, voiding what was signed before).
    pub nonce: u16,
}

/// A channel opened: the `ChannelOpened` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Opened {
    /// The transaction.
    pub tx: Tx,
    /// The new channel's id.
    pub channel_id: B256,
    /// Its deposit.
    pub deposit: Amount,
}

/// A deposit raised: the `ChannelToppedUp` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ToppedUp {
    /// The transaction.
    pub tx: Tx,
    /// The new total deposit.
    pub deposit: Amount,
}

/// A unilateral close started: the `CloseRequested` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChallengeStarted {
    /// The transaction.
    pub tx: Tx,
    /// End of the challenge window.
    pub closes_at: u64,
}

/// A channel closed, however: the `ChannelClosed` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Closed {
    /// The transaction.
    pub tx: Tx,
    /// What the payee kept; the payer got `deposit − settled` back.
    pub settled: Amount,
}

/// What a `settleBatch` transaction did, from its events.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SettleReport {
    /// The transaction.
    pub tx: Tx,
    /// Channels whose settled total rose (`ReceiptsSettled`).
    pub settled: Vec<ChannelSettled>,
    /// Receipts skipped (`ReceiptSkipped`): the channel id derived from the recovered signer, and why.
    pub skipped: Vec<(B256, SettleOutcome)>,
    /// Payee groups skipped unread because the submitter may not take the fee they claim
    /// (`GroupSkipped`: above the payee's cap, or the submitter is not the payee's fee relayer); their
    /// receipts are [`SettleOutcome::FeeAboveCap`] and may be resubmitted with fee 0.
    pub skipped_groups: Vec<SkippedGroup>,
    /// The sum credited over all payees, fees included.
    pub credited: U256,
    /// The submitter's fees out of `credited`.
    pub fees: U256,
}

/// A payee group `settleBatch` skipped before reading its receipts: the `GroupSkipped` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SkippedGroup {
    /// The group's payee.
    pub payee: Address,
    /// The fee the group claimed, in basis points.
    pub fee_bps: u16,
    /// How many receipts it held.
    pub receipts: u16,
}

/// What a gasless (`…BySig`) batch did: every entry was applied except those in `skipped`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BySigReport {
    /// The transaction.
    pub tx: Tx,
    /// `AuthorizationSkipped` entries: the index in the batch and the error the single operation would
    /// have reverted with.
    pub skipped: Vec<(usize, Error)>,
}

/// An EIP-2612 permit signed by a token holder for the escrow, as `depositWithPermit` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignedPermit {
    /// The token holder, whose escrow balance the deposit credits.
    pub owner: Address,
    /// The amount the escrow may pull and deposit.
    pub value: Amount,
    /// Unix time after which the permit is void.
    pub deadline: u64,
    /// The holder's signature over the `Permit` in the token's domain.
    pub signature: CompactSignature,
}

/// One account's client for one escrow: its transactions (signed by the account's key) and reads.
///
/// Every write waits until the transaction is mined (with the configured confirmations) and returns what
/// its events say; a call the escrow would refuse fails before anything is sent (gas estimation runs it)
/// with the escrow's custom error mapped to [`Error`] (stable [`code`](Error::code)s). Feed the results to
/// the sans-IO state machines: [`Opened`] → `on_opened` / `on_channel_opened`, [`ChallengeStarted`] →
/// `on_close_requested`, [`SettleReport`] → `on_settled`, [`Closed`] → `on_closed`.
///
/// Writes are not idempotent by themselves (a repeated open fails with `channel_exists`, a repeated
/// withdrawal withdraws twice); settlement and the cumulative messages are, by the escrow's design.
/// Submitting gasless batches for others is the relayer's job; the `…_by_sig` calls let a peer that has
/// ETH submit its own (or anyone's) signed operations.
#[derive(Clone)]
pub struct ChainClient<P = DynProvider> {
    provider: P,
    key: SigningKey,
    escrow: ChannelEscrowInstance<P>,
    token: PieceTokenInstance<P>,
    domain: Eip712Domain,
    chain_id: u64,
    confirmations: u64,
    receipt_timeout: Duration,
}

impl<P: Provider<Ethereum>> fmt::Debug for ChainClient<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainClient")
            .field("account", &self.key.address())
            .field("escrow", self.escrow.address())
            .field("token", self.token.address())
            .field("chain_id", &self.chain_id)
            .finish_non_exhaustive()
    }
}

/// An error of a contract call: the escrow's (or token's) revert mapped, anything else an RPC failure.
fn contract_error(error: alloy::contract::Error) -> Error {
    match error.as_revert_data() {
        Some(data) => decode_revert(&data),
        None => Error::Rpc(Cause::new(error)),
    }
}

fn rpc_error(error: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Rpc(Cause::new(error))
}

/// Each `(signer, signed message)` as its `…Auth` (`auth` is the message's, from the protocol crate).
fn auths<M, A>(
    signed: &[(Address, Signed<M>)],
    auth: fn(&M, Address, &CompactSignature) -> A,
) -> Vec<A> {
    signed
        .iter()
        .map(|(signer, s)| auth(&s.message, *signer, &s.signature))
        .collect()
}

fn amount(value: U256) -> Result<Amount> {
    Amount::try_from(value)
        .map_err(|_| Error::UnexpectedChainData(format!("amount {value} above 2^128")))
}

impl ChainClient<DynProvider> {
    /// Connects to the JSON-RPC endpoint `rpc_url` (`http://…`; `https://…` with the `chain-tls`
    /// feature) as the account of `secret_key`, for the escrow at `escrow`. Checks the escrow like
    /// [`new`](ChainClient::new).
    pub async fn connect(rpc_url: &str, secret_key: &B256, escrow: Address) -> Result<Self> {
        let key = SigningKey::from_bytes(secret_key)?;
        let signer = PrivateKeySigner::from_bytes(secret_key)
            .map_err(|_| piecepay_protocol::Error::InvalidSecretKey)?;
        // Simple nonce management (the pending count, asked per transaction): alloy's default cached
        // nonce manager reserves a nonce before gas estimation, so a refused call would leave a gap that
        // stalls every later transaction.
        let provider = ProviderBuilder::default()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(EthereumWallet::from(signer))
            .connect(rpc_url)
            .await
            .map_err(rpc_error)?
            .erased();
        Self::new(provider, key, escrow).await
    }
}

impl<P: Provider<Ethereum> + Clone> ChainClient<P> {
    /// A client over `provider`, which must sign transactions from `key`'s address (a wallet filler
    /// holding that key). `key` also signs the messages this client makes itself (permits).
    ///
    /// Writes are sequential (each waits for its receipt). Give the provider a nonce manager that does
    /// not reserve nonces for transactions that are never sent, such as alloy's `SimpleNonceManager`
    /// ([`connect`](ChainClient::connect) does): a call the escrow refuses fails at gas estimation.
    ///
    /// Reads the chain id and the escrow's token, and checks that `escrow` has code whose
    /// `DOMAIN_SEPARATOR()` is piecepay's for this chain and address ([`Error::EscrowMismatch`]
    /// otherwise), so signatures made for [`domain`](Self::domain) are the escrow's.
    pub async fn new(provider: P, key: SigningKey, escrow: Address) -> Result<Self> {
        let chain_id = provider.get_chain_id().await.map_err(rpc_error)?;
        if provider
            .get_code_at(escrow)
            .await
            .map_err(rpc_error)?
            .is_empty()
        {
            return Err(Error::EscrowMismatch {
                escrow,
                reason: "no contract at this address",
            });
        }
        let domain = domain(chain_id, escrow);
        let instance = ChannelEscrow::new(escrow, provider.clone());
        let reason = match instance.DOMAIN_SEPARATOR().call().await {
            Ok(separator) if separator == domain.separator() => None,
            Ok(_) => Some("its DOMAIN_SEPARATOR is not piecepay's for this chain and address"),
            // The node did not answer: not a verdict on the address.
            Err(alloy::contract::Error::TransportError(e)) if e.as_error_resp().is_none() => {
                return Err(rpc_error(e));
            }
            Err(_) => Some("it has no DOMAIN_SEPARATOR()"),
        };
        if let Some(reason) = reason {
            return Err(Error::EscrowMismatch { escrow, reason });
        }
        let token = instance.TOKEN().call().await.map_err(contract_error)?;
        Ok(Self {
            token: PieceToken::new(token, provider.clone()),
            escrow: instance,
            provider,
            key,
            domain,
            chain_id,
            confirmations: 1,
            receipt_timeout: Duration::from_secs(120),
        })
    }

    /// Waits for `confirmations` blocks (default 1: mined) before a write returns.
    #[must_use]
    pub const fn with_confirmations(mut self, confirmations: u64) -> Self {
        self.confirmations = confirmations;
        self
    }

    /// Gives up waiting for a sent transaction's receipt after `timeout` (default 120 s) with
    /// [`Error::TransactionPending`], which carries its hash: it may still be mined later.
    #[must_use]
    pub const fn with_receipt_timeout(mut self, timeout: Duration) -> Self {
        self.receipt_timeout = timeout;
        self
    }

    /// The account this client sends from.
    pub const fn address(&self) -> Address {
        self.key.address()
    }

    /// The escrow's address.
    pub fn escrow(&self) -> Address {
        *self.escrow.address()
    }

    /// The escrow's ERC-20 token.
    pub fn token(&self) -> Address {
        *self.token.address()
    }

    /// The chain id.
    pub const fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The escrow's EIP-712 domain (chain id and escrow address): what every piecepay message is signed in.
    pub const fn domain(&self) -> &Eip712Domain {
        &self.domain
    }

    /// The underlying provider, for anything this client does not wrap.
    pub const fn provider(&self) -> &P {
        &self.provider
    }

    // --- reads ---------------------------------------------------------------------------------

    /// The channel `channel_id` as stored (all zero and [`ChannelStatus::None`] if never opened).
    pub async fn channel(&self, channel_id: B256) -> Result<ChannelInfo> {
        let channel = self
            .escrow
            .channel(channel_id)
            .call()
            .await
            .map_err(contract_error)?;
        let status = match channel.state {
            0 => ChannelStatus::None,
            1 => ChannelStatus::Open,
            2 => ChannelStatus::Closing {
                closes_at: channel.closesAt.to(),
            },
            3 => ChannelStatus::Closed,
            other => {
                return Err(Error::UnexpectedChainData(format!("channel state {other}")));
            }
        };
        Ok(ChannelInfo {
            deposit: channel.deposit.to(),
            settled: channel.settled.to(),
            status,
            nonce: channel.nonce,
        })
    }

    /// `account`'s free balance in the escrow.
    pub async fn balance_of(&self, account: Address) -> Result<Amount> {
        amount(
            self.escrow
                .balanceOf(account)
                .call()
                .await
                .map_err(contract_error)?,
        )
    }

    /// The next nonce `account` must sign (withdrawals, fee caps).
    pub async fn nonce_of(&self, account: Address) -> Result<u64> {
        self.escrow
            .nonceOf(account)
            .call()
            .await
            .map_err(contract_error)
    }

    /// The settlement fee setting `account` made as a payee: the cap in basis points and the one relayer
    /// that may keep up to it (the zero address: none).
    pub async fn settle_fee_cap_of(&self, account: Address) -> Result<(u16, Address)> {
        let cap = self
            .escrow
            .settleFeeCapOf(account)
            .call()
            .await
            .map_err(contract_error)?;
        Ok((cap.bps, cap.relayer))
    }

    /// The unilateral-close challenge window, in seconds.
    pub async fn challenge_period(&self) -> Result<u64> {
        Ok(self
            .escrow
            .CHALLENGE_PERIOD()
            .call()
            .await
            .map_err(contract_error)?
            .to())
    }

    /// `account`'s balance of the escrow's token (outside the escrow).
    pub async fn token_balance_of(&self, account: Address) -> Result<U256> {
        self.token
            .balanceOf(account)
            .call()
            .await
            .map_err(contract_error)
    }

    /// The latest block's timestamp: the `now` the escrow checks deadlines and challenge windows against.
    pub async fn block_timestamp(&self) -> Result<u64> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(rpc_error)?
            .ok_or_else(|| Error::UnexpectedChainData("no latest block".into()))?;
        Ok(block.header.timestamp)
    }

    // --- free balances -------------------------------------------------------------------------

    /// Deposits `amount` tokens into this account's free balance: approves the escrow for `amount` first
    /// if its allowance is lower (a second transaction), then `deposit`.
    pub async fn deposit(&self, amount: Amount) -> Result<Tx> {
        self.deposit_to(self.address(), amount).await
    }

    /// Deposits `amount` of this account's tokens into `account`'s free balance (approving first if
    /// needed, like [`deposit`](Self::deposit)). Fails with [`Error::InsufficientTokens`] before
    /// approving anything if the account holds fewer tokens.
    pub async fn deposit_to(&self, account: Address, amount: Amount) -> Result<Tx> {
        let value = U256::from(amount);
        let balance = self.token_balance_of(self.address()).await?;
        if balance < value {
            return Err(Error::InsufficientTokens {
                account: self.address(),
                balance,
                needed: value,
            });
        }
        let allowance = self
            .token
            .allowance(self.address(), self.escrow())
            .call()
            .await
            .map_err(contract_error)?;
        if allowance < value {
            self.send(self.token.approve(self.escrow(), value)).await?;
        }
        let receipt = self.send(self.escrow.deposit(account, value)).await?;
        Ok(Tx::of(&receipt))
    }

    /// Signs an EIP-2612 permit letting the escrow pull `value` of this account's tokens until `deadline`,
    /// in the token's own EIP-712 domain (read with EIP-5267 `eip712Domain()`) at its current nonce. Give
    /// it to a relayer, or submit it with [`deposit_with_signed_permit`](Self::deposit_with_signed_permit).
    pub async fn sign_permit(&self, value: Amount, deadline: u64) -> Result<SignedPermit> {
        let owner = self.address();
        let nonce = self
            .token
            .nonces(owner)
            .call()
            .await
            .map_err(contract_error)?;
        let d = self
            .token
            .eip712Domain()
            .call()
            .await
            .map_err(contract_error)?;
        // EIP-5267: bit i of `fields` says whether the i-th domain field is used.
        let has = |bit: u8| d.fields[0] & (1 << bit) != 0;
        let token_domain = Eip712Domain::new(
            has(0).then(|| d.name.into()),
            has(1).then(|| d.version.into()),
            has(2).then_some(d.chainId),
            has(3).then_some(d.verifyingContract),
            has(4).then_some(d.salt),
        );
        let permit = Permit {
            owner,
            spender: self.escrow(),
            value: U256::from(value),
            nonce,
            deadline: U256::from(deadline),
        };
        let signature = self
            .key
            .sign_digest(&permit.eip712_signing_hash(&token_domain))?;
        Ok(SignedPermit {
            owner,
            value,
            deadline,
            signature,
        })
    }

    /// Deposits `value` of this account's tokens with a permit instead of an approval: signs it
    /// ([`sign_permit`](Self::sign_permit)) and submits `depositWithPermit` in one transaction.
    pub async fn deposit_with_permit(&self, value: Amount, deadline: u64) -> Result<Tx> {
        let permit = self.sign_permit(value, deadline).await?;
        self.deposit_with_signed_permit(&permit).await
    }

    /// Submits `depositWithPermit` for anyone's signed permit (the deposit goes to the permit's owner).
    pub async fn deposit_with_signed_permit(&self, permit: &SignedPermit) -> Result<Tx> {
        let s = permit.signature.s();
        let v = 27 + u8::from(permit.signature.y_parity());
        let call = self.escrow.depositWithPermit(
            permit.owner,
            U256::from(permit.value),
            U256::from(permit.deadline),
            v,
            permit.signature.r,
            s,
        );
        Ok(Tx::of(&self.send(call).await?))
    }

    /// Opens (or tops up, for one already open) this account's channels from its wallet tokens in one
    /// transaction: signs an EIP-2612 permit for the sum of `channels`' amounts and submits
    /// `fundChannelsWithPermit`, which pulls the tokens and puts each amount straight into its channel
    /// (no approval, no free-balance round trip). `channels` are `(payee, salt, amount)`; all are funded
    /// or the call fails.
    pub async fn fund_channels_with_permit(
        &self,
        channels: &[(Address, u32, Amount)],
        deadline: u64,
    ) -> Result<Tx> {
        let total = channels
            .iter()
            .try_fold(0u128, |sum, &(_, _, amount)| sum.checked_add(amount))
            .ok_or(Error::AmountTooLarge {
                amount: Amount::MAX,
            })?;
        let permit = self.sign_permit(total, deadline).await?;
        let fundings = channels
            .iter()
            .map(|&(payee, salt, amount)| {
                Ok(IChannelEscrow::ChannelFunding {
                    payee,
                    salt,
                    amount: to_u96(amount)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let call = self.escrow.fundChannelsWithPermit(
            U256::from(permit.value),
            U256::from(permit.deadline),
            (&permit.signature).into(),
            fundings,
        );
        Ok(Tx::of(&self.send(call).await?))
    }

    /// Voids every withdrawal and fee setting this account signed and nobody submitted yet: moves its
    /// account nonce on.
    pub async fn advance_nonce(&self) -> Result<Tx> {
        Ok(Tx::of(&self.send(self.escrow.advanceNonce()).await?))
    }

    /// Voids every open, top-up and cooperative close signed for the channel (`payer`, `payee`, `salt`)
    /// under its current nonce: moves the channel's nonce on. Only the payer or the payee may.
    pub async fn advance_channel_nonce(
        &self,
        payer: Address,
        payee: Address,
        salt: u32,
    ) -> Result<Tx> {
        let call = self.escrow.advanceChannelNonce(payer, payee, salt);
        Ok(Tx::of(&self.send(call).await?))
    }

    /// Withdraws `amount` of this account's free balance to `to`.
    pub async fn withdraw(&self, to: Address, amount: Amount) -> Result<Tx> {
        let receipt = self
            .send(self.escrow.withdraw(to, U256::from(amount)))
            .await?;
        Ok(Tx::of(&receipt))
    }

    // --- channels ------------------------------------------------------------------------------

    /// Opens this account's channel to `payee` with `salt`, locking `deposit` from its free balance.
    pub async fn open_channel(&self, payee: Address, salt: u32, deposit: Amount) -> Result<Opened> {
        let receipt = self
            .send(self.escrow.openChannel(payee, salt, to_u96(deposit)?))
            .await?;
        let opened: ChannelEscrow::ChannelOpened = self.event(&receipt)?;
        Ok(Opened {
            tx: Tx::of(&receipt),
            channel_id: opened.channelId,
            deposit: opened.deposit.to(),
        })
    }

    /// Adds `amount` (an increment, as the escrow's `topUp` takes it; gasless top-ups sign a new total)
    /// from this account's free balance to its open channel with `payee`.
    pub async fn top_up(&self, payee: Address, salt: u32, amount: Amount) -> Result<ToppedUp> {
        let receipt = self
            .send(self.escrow.topUp(payee, salt, to_u96(amount)?))
            .await?;
        let topped: ChannelEscrow::ChannelToppedUp = self.event(&receipt)?;
        Ok(ToppedUp {
            tx: Tx::of(&receipt),
            deposit: topped.deposit.to(),
        })
    }

    /// Starts the unilateral close of this account's channel to `payee` (the challenge window).
    pub async fn request_close(&self, payee: Address, salt: u32) -> Result<ChallengeStarted> {
        let receipt = self.send(self.escrow.requestClose(payee, salt)).await?;
        let requested: ChannelEscrow::CloseRequested = self.event(&receipt)?;
        Ok(ChallengeStarted {
            tx: Tx::of(&receipt),
            closes_at: requested.closesAt.to(),
        })
    }

    /// Finalizes a unilateral close after its challenge window (anyone may): the payer gets
    /// `deposit − settled` back.
    pub async fn finalize_close(
        &self,
        payer: Address,
        payee: Address,
        salt: u32,
    ) -> Result<Closed> {
        let receipt = self
            .send(self.escrow.finalizeClose(payer, payee, salt))
            .await?;
        self.closed(&receipt)
    }

    /// Closes, as the payee, the channel `payer` opened to this account with `salt`, at once (settle its
    /// last receipt first: what is not settled goes back to the payer).
    pub async fn close_by_payee(&self, payer: Address, salt: u32) -> Result<Closed> {
        let receipt = self.send(self.escrow.closeByPayee(payer, salt)).await?;
        self.closed(&receipt)
    }

    /// Submits a cooperative close both parties signed (anyone may): settles up to its cumulative and
    /// closes at once.
    pub async fn cooperative_close(
        &self,
        close: &CooperativeClose,
        payer_signature: &CompactSignature,
        payee_signature: &CompactSignature,
    ) -> Result<Closed> {
        let call = self.escrow.cooperativeClose(
            close.auth(),
            payer_signature.into(),
            payee_signature.into(),
        );
        let receipt = self.send(call).await?;
        self.closed(&receipt)
    }

    // --- settlement ----------------------------------------------------------------------------

    /// Submits `batch` to `settleBatch` (see [`SettleBatch`]). Entries that cannot settle are skipped,
    /// not reverted, so submitting a batch twice is harmless; the report lists both.
    pub async fn settle(&self, batch: &SettleBatch) -> Result<SettleReport> {
        let receipt = self
            .send(self.escrow.settleBatch(batch.encode().into()))
            .await?;
        let mut report = SettleReport {
            tx: Tx::of(&receipt),
            settled: Vec::new(),
            skipped: Vec::new(),
            skipped_groups: Vec::new(),
            credited: U256::ZERO,
            fees: U256::ZERO,
        };
        for settled in self.events::<ChannelEscrow::ReceiptsSettled>(&receipt) {
            let groups = SettledGroup::decode_all(&settled.settlements).ok_or_else(|| {
                Error::UnexpectedChainData(format!(
                    "ReceiptsSettled settlements of {} bytes",
                    settled.settlements.len()
                ))
            })?;
            for group in groups {
                report.credited += U256::from(group.credited);
                report.fees += U256::from(group.fee);
                report.settled.extend(group.channels());
            }
        }
        for group in self.events::<ChannelEscrow::GroupSkipped>(&receipt) {
            report.skipped_groups.push(SkippedGroup {
                payee: group.payee,
                fee_bps: group.feeBps,
                receipts: group.receipts,
            });
        }
        for skipped in self.events::<ChannelEscrow::ReceiptSkipped>(&receipt) {
            let outcome = SettleOutcome::from_byte(skipped.outcome).ok_or_else(|| {
                Error::UnexpectedChainData(format!("settle outcome {}", skipped.outcome))
            })?;
            report.skipped.push((skipped.channelId, outcome));
        }
        Ok(report)
    }

    /// Settles one payer-signed receipt with no fee: what a payee does itself when no relayer is
    /// reachable (or the challenge deadline is near).
    pub async fn settle_receipt(&self, receipt: &SignedReceipt) -> Result<SettleReport> {
        let mut batch = SettleBatch::new();
        batch.push(&receipt.message, &receipt.signature, 0);
        self.settle(&batch).await
    }

    /// What `settleBatch` would do with each receipt of `batch` now (an `eth_call`, nothing sent), in the
    /// order of [`SettleBatch::receipts`].
    pub async fn preflight_settle(&self, batch: &SettleBatch) -> Result<Vec<SettleOutcome>> {
        let outcomes = self
            .escrow
            .settleBatch(batch.encode().into())
            .from(self.address())
            .call()
            .await
            .map_err(contract_error)?;
        outcomes
            .iter()
            .map(|&byte| {
                SettleOutcome::from_byte(byte)
                    .ok_or_else(|| Error::UnexpectedChainData(format!("settle outcome {byte}")))
            })
            .collect()
    }

    /// Sets this account's settlement fee setting as a payee: `relayer` may keep at most `bps` of what it
    /// settles for it; anyone else (or everyone, for the zero address) settles it for no fee.
    pub async fn set_settle_fee_cap(&self, bps: u16, relayer: Address) -> Result<Tx> {
        let receipt = self.send(self.escrow.setSettleFeeCap(bps, relayer)).await?;
        Ok(Tx::of(&receipt))
    }

    // --- gasless operations, submitted by this account -------------------------------------------

    /// Submits signed opens, each `(payer, signed OpenChannel)`; fees go to this account.
    pub async fn open_channels_by_sig(
        &self,
        opens: &[(Address, Signed<OpenChannel>)],
    ) -> Result<BySigReport> {
        self.by_sig(
            self.escrow
                .openChannelsBySig(auths(opens, OpenChannel::auth)),
        )
        .await
    }

    /// Submits signed top-ups (to new totals), each `(payer, signed TopUp)`; fees go to this account.
    pub async fn top_ups_by_sig(
        &self,
        top_ups: &[(Address, Signed<TopUp>)],
    ) -> Result<BySigReport> {
        self.by_sig(self.escrow.topUpsBySig(auths(top_ups, TopUp::auth)))
            .await
    }

    /// Submits signed close requests, each `(payer, signed RequestClose)`; fees go to this account.
    pub async fn request_closes_by_sig(
        &self,
        closes: &[(Address, Signed<RequestClose>)],
    ) -> Result<BySigReport> {
        self.by_sig(
            self.escrow
                .requestClosesBySig(auths(closes, RequestClose::auth)),
        )
        .await
    }

    /// Submits signed withdrawals, each `(owner, signed Withdrawal)`; fees go to this account.
    pub async fn withdraw_by_sig(
        &self,
        withdrawals: &[(Address, Signed<Withdrawal>)],
    ) -> Result<BySigReport> {
        self.by_sig(
            self.escrow
                .withdrawBySig(auths(withdrawals, Withdrawal::auth)),
        )
        .await
    }

    /// Submits signed settlement fee caps, each `(payee, signed SettleFeeCap)`.
    pub async fn set_settle_fee_caps_by_sig(
        &self,
        caps: &[(Address, Signed<SettleFeeCap>)],
    ) -> Result<BySigReport> {
        self.by_sig(
            self.escrow
                .setSettleFeeCapsBySig(auths(caps, SettleFeeCap::auth)),
        )
        .await
    }

    // --- plumbing ------------------------------------------------------------------------------

    /// Sends `call` from this account and waits for its receipt; fails if it would revert (mapped) or
    /// did revert.
    async fn send<C: SolCall>(
        &self,
        call: SolCallBuilder<&P, C, Ethereum>,
    ) -> Result<TransactionReceipt> {
        let pending = call
            .from(self.address())
            .send()
            .await
            .map_err(contract_error)?;
        // Known before waiting, so a wait that ends without a receipt still says what may be mined.
        let tx_hash = *pending.tx_hash();
        let receipt = pending
            .with_required_confirmations(self.confirmations)
            .with_timeout(Some(self.receipt_timeout))
            .get_receipt()
            .await
            .map_err(|e| Error::TransactionPending {
                tx_hash,
                reason: e.to_string(),
            })?;
        if !receipt.status() {
            return Err(Error::TransactionFailed {
                tx_hash: receipt.transaction_hash,
            });
        }
        Ok(receipt)
    }

    async fn by_sig<C: SolCall>(
        &self,
        call: SolCallBuilder<&P, C, Ethereum>,
    ) -> Result<BySigReport> {
        let receipt = self.send(call).await?;
        let skipped = self
            .events::<ChannelEscrow::AuthorizationSkipped>(&receipt)
            .map(|s| {
                let index = usize::try_from(s.index).unwrap_or(usize::MAX);
                (index, decode_revert(&s.reason))
            })
            .collect();
        Ok(BySigReport {
            tx: Tx::of(&receipt),
            skipped,
        })
    }

    /// The escrow's events of type `E` in `receipt`, in log order.
    fn events<'a, E: SolEvent + 'a>(
        &'a self,
        receipt: &'a TransactionReceipt,
    ) -> impl Iterator<Item = E> + 'a {
        let escrow = self.escrow();
        receipt
            .logs()
            .iter()
            .filter(move |log| log.address() == escrow)
            .filter_map(|log| E::decode_log(&log.inner).ok().map(|log| log.data))
    }

    /// The escrow's first event of type `E` in `receipt`, which the call always emits.
    fn event<E: SolEvent>(&self, receipt: &TransactionReceipt) -> Result<E> {
        self.events::<E>(receipt).next().ok_or_else(|| {
            Error::UnexpectedChainData(format!(
                "no {} event in transaction {}",
                E::SIGNATURE,
                receipt.transaction_hash
            ))
        })
    }

    fn closed(&self, receipt: &TransactionReceipt) -> Result<Closed> {
        let closed: ChannelEscrow::ChannelClosed = self.event(receipt)?;
        Ok(Closed {
            tx: Tx::of(receipt),
            settled: closed.settled.to(),
        })
    }
}
