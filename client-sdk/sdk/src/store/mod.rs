//! Persistence: the IO adapter that keeps the two promises the channel core cannot keep on its own.
//!
//! - A **payee never loses its highest receipt**: [`PayeeStore::save_receipt_if_higher`] is a durable,
//!   monotonic upsert; acknowledge a receipt to the payer only after it returned.
//! - A **payer never signs a receipt below one it already signed** for the channel, across crashes and
//!   restarts: [`PayerStore::reserve_signature`] durably raises the channel's signed high-water mark
//!   before the receipt leaves the process, and refuses anything at or below it.
//!
//! The traits are narrow and say, per method, what is durable when it returns and what a repeated call
//! does. The channel state machines stay sans-IO: the store takes and gives back their public state
//! ([`PayeeRecord`], [`PayerRecord`]), rebuilt with their `restore` (which re-checks signatures and
//! bounds).
//!
//! With the default `sqlite` feature: [`SqliteStore`] (sqlx, WAL, `synchronous = FULL`, embedded
//! migrations) and [`GroupCommit`], which folds concurrent receipt saves into one transaction.
//!
//! ```text
//! payee:  on_receipt(..)?  ->  store.save_receipt_if_higher(..).await?  ->  send receipt-ack
//! payer:  pay_piece(..)?   ->  store.reserve_signature(..).await?       ->  send receipt
//! both:   after any other transition: store.save_payee(..) / save_payer(..)
//! ```

use core::future::Future;

use piecepay_protocol::{
    CompactSignature, SigningKey,
    alloy_primitives::{Address, B256},
};

use crate::{
    Amount, Channel, PayeeChannel, PayeeState, PayerChannel, PayerConfig, PayerState, Payment,
    Result, SignedReceipt, Terms, payee::SettleRoute,
};

#[cfg(feature = "sqlite")]
mod group_commit;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "sqlite")]
pub use group_commit::GroupCommit;
#[cfg(feature = "sqlite")]
pub use sqlite::{MIGRATOR, SqliteStore};

/// The payee's side of the store.
///
/// Every write is atomic. "Durable" means committed such that neither a process crash nor (for
/// [`SqliteStore`], with `synchronous = FULL`) a power loss can undo it. Methods that take a [`Channel`]
/// key it by its escrow's domain (chain id, escrow address) and its id; a channel whose domain is not a
/// piecepay escrow's ([`piecepay_protocol::domain`]) is refused with
/// [`Error::InvalidChannel`](crate::Error::InvalidChannel). A refused call stores nothing.
pub trait PayeeStore {
    /// Stores `cumulative` with the payer's `signature` as `channel`'s highest receipt if it is above the
    /// one stored — an atomic compare-and-raise, so the stored cumulative only ever rises — and returns
    /// whether it was stored.
    ///
    /// - **Durable before it returns `Ok`**: acknowledge the receipt only after this.
    /// - **Idempotent and order-insensitive**: saving the same or a lower receipt again returns
    ///   `Ok(false)` and changes nothing; concurrent callers on one channel end with the highest of their
    ///   receipts stored (and exactly one of the calls that saved it returns `true`).
    /// - Works without [`save_payee`](Self::save_payee) having been called: a receipt is never refused for
    ///   want of metadata.
    /// - The signature is not checked here: store what [`PayeeChannel::on_receipt`] accepted. Refused:
    ///   a zero cumulative ([`Error::ZeroAmount`](crate::Error::ZeroAmount)), one above
    ///   [`MAX_AMOUNT`](crate::MAX_AMOUNT) ([`Error::AmountTooLarge`](crate::Error::AmountTooLarge)).
    /// - If the returned future is dropped before completing, the receipt may or may not be stored; call
    ///   again (harmless) before acknowledging.
    fn save_receipt_if_higher(
        &self,
        channel: &Channel,
        cumulative: Amount,
        signature: &CompactSignature,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// The highest receipt stored for `channel`, if any: what to settle. Sees every save that returned.
    fn latest_receipt(
        &self,
        channel: &Channel,
    ) -> impl Future<Output = Result<Option<SignedReceipt>>> + Send;

    /// Snapshots `channel` (terms, state, `updated_at`) so it can be restored: call it after every
    /// transition other than an accepted receipt (opened, topped up, piece served, settlement sent or
    /// seen, closing, closed).
    ///
    /// - **Durable and atomic** when it returns.
    /// - The state's receipt goes through the same monotonic raise as
    ///   [`save_receipt_if_higher`](Self::save_receipt_if_higher), and settlement progress (`settled`,
    ///   `handed`, `submitted`) through the same max as [`record_settlement`](Self::record_settlement): an
    ///   older snapshot never lowers either. Everything else is last-writer-wins, so save one channel's
    ///   snapshots in the order of its transitions.
    /// - Idempotent: saving the same snapshot again changes nothing.
    fn save_payee(&self, channel: &PayeeChannel) -> impl Future<Output = Result<()>> + Send;

    /// The stored snapshot of `channel` merged with its highest receipt and settlement progress, or `None`
    /// if it was never saved. Rebuild the machine with [`PayeeRecord::restore`].
    fn load_payee(
        &self,
        channel: &Channel,
    ) -> impl Future<Output = Result<Option<PayeeRecord>>> + Send;

    /// Every saved payee channel, as [`load_payee`](Self::load_payee) returns them: what to restore at
    /// start-up.
    fn payee_channels(&self) -> impl Future<Output = Result<Vec<PayeeRecord>>> + Send;

    /// Records settlement progress of `channel`: a receipt handed to a relayer, submitted on chain, or
    /// settled by the chain (mirrors [`PayeeChannel::on_settlement_sent`] and
    /// [`PayeeChannel::on_settled`]).
    ///
    /// - **Durable** when it returns; each of the three amounts only ever rises (stored as a max), so
    ///   replays and out-of-order chain events are harmless (idempotent).
    /// - Needs the channel saved ([`save_payee`](Self::save_payee)); otherwise
    ///   [`Error::UnknownChannel`](crate::Error::UnknownChannel).
    fn record_settlement(
        &self,
        channel: &Channel,
        progress: SettlementProgress,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Every channel whose highest receipt is above what the chain settled, except channels stored as
    /// closed: what a payee (or its watchtower) still has to get settled. Includes receipts whose channel
    /// was never saved. Ordered by (chain id, escrow, channel id).
    fn unsettled(&self) -> impl Future<Output = Result<Vec<Unsettled>>> + Send;
}

/// The payer's side of the store.
///
/// Same conventions as [`PayeeStore`]: atomic writes, durable when they return, channels keyed by domain
/// and id, a refused call stores nothing.
pub trait PayerStore {
    /// Snapshots `channel` (terms, state with its latest receipt, `updated_at`): call it before the first
    /// signed message of the channel leaves the process (the open) and after every transition other than a
    /// payment, which [`reserve_signature`](Self::reserve_signature) covers.
    ///
    /// - **Durable and atomic** when it returns; idempotent.
    /// - Refused with [`Error::NonIncreasingCumulative`](crate::Error::NonIncreasingCumulative) (and
    ///   nothing stored) if the state's receipt is below the highest cumulative stored: the machine is
    ///   behind the store and would sign below a receipt it already signed. Restore it with
    ///   [`load_payer`](Self::load_payer) instead.
    fn save_payer(&self, channel: &PayerChannel) -> impl Future<Output = Result<()>> + Send;

    /// Reserves `cumulative` as `channel`'s highest signed receipt, with its `signature`, **before** the
    /// receipt leaves the process: the payer signs in memory ([`PayerChannel::pay`] and friends), calls
    /// this, and sends the receipt only if it returned `Ok` (see [`pay_durably`]).
    ///
    /// - An atomic compare-and-raise: refused with
    ///   [`Error::NonIncreasingCumulative`](crate::Error::NonIncreasingCumulative) if `cumulative` is not
    ///   above the stored one — drop that receipt, do not send it. So no sequence of crashes, restarts or
    ///   racing processes can get a receipt out that is below one already reserved.
    /// - Idempotent for the very same receipt: the stored cumulative with the stored signature is accepted
    ///   again (signing is deterministic, so a re-signed receipt is byte-identical), so a call whose
    ///   outcome was lost can be retried. **Durable before it returns `Ok`.**
    /// - Only on a channel stored as open and within its stored deposit, so the stored record always
    ///   restores: [`Error::InvalidState`](crate::Error::InvalidState) or
    ///   [`Error::ExceedsDeposit`](crate::Error::ExceedsDeposit) otherwise — save the channel
    ///   ([`save_payer`](Self::save_payer)) after `on_opened` and `on_topped_up` before paying.
    /// - Needs the channel saved; otherwise [`Error::UnknownChannel`](crate::Error::UnknownChannel). The
    ///   signature is verified against the channel (the payer's, for this channel) so the store never holds
    ///   a receipt `restore` would refuse.
    fn reserve_signature(
        &self,
        channel: &Channel,
        cumulative: Amount,
        signature: &CompactSignature,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The highest cumulative reserved for `channel` (0 if none), or `None` if the channel was never saved.
    fn signed_cumulative(
        &self,
        channel: &Channel,
    ) -> impl Future<Output = Result<Option<Amount>>> + Send;

    /// The stored snapshot of `channel`, its receipt replaced by the highest reserved one, or `None` if it
    /// was never saved. Rebuild the machine with [`PayerRecord::restore`].
    fn load_payer(
        &self,
        channel: &Channel,
    ) -> impl Future<Output = Result<Option<PayerRecord>>> + Send;

    /// Every saved payer channel, as [`load_payer`](Self::load_payer) returns them.
    fn payer_channels(&self) -> impl Future<Output = Result<Vec<PayerRecord>>> + Send;
}

/// Pays `amount` on `channel` and reserves the receipt in `store` before returning it: the one safe order
/// for a payer. Returns [`Payment::TopUpNeeded`] unchanged (nothing was signed or stored).
///
/// If the reservation is refused or fails, the error is returned, the receipt is not sent and `channel`
/// is put back as it was: the receipt never left the process, and if the failed call did store it after
/// all, paying the same amount again signs the same bytes (signing is deterministic), which the store
/// accepts again. So a retry pays for the piece once, never twice.
pub async fn pay_durably<S: PayerStore>(
    store: &S,
    channel: &mut PayerChannel,
    amount: Amount,
    now: u64,
) -> Result<Payment> {
    let before = channel.clone();
    let payment = channel.pay(amount, now)?;
    if let Payment::Paid { receipt, .. } = &payment
        && let Err(error) = store
            .reserve_signature(channel.channel(), receipt.cumulative(), &receipt.signature)
            .await
    {
        *channel = before;
        return Err(error);
    }
    Ok(payment)
}

/// Settlement progress of a payee channel; each amount is a cumulative and only ever rises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SettlementProgress {
    /// The receipt of this cumulative was handed to a relayer.
    Handed(Amount),
    /// The receipt of this cumulative was submitted on chain by the payee itself.
    Submitted(Amount),
    /// The chain settled the channel up to this cumulative.
    Settled(Amount),
}

impl SettlementProgress {
    /// The progress a [`Settlement`](crate::Settlement) sent by `route` makes.
    pub const fn sent(route: SettleRoute, cumulative: Amount) -> Self {
        match route {
            SettleRoute::Relayer => Self::Handed(cumulative),
            SettleRoute::OnChain => Self::Submitted(cumulative),
        }
    }
}

/// A channel's highest receipt that the chain has not settled yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsettled {
    /// The escrow's chain.
    pub chain_id: u64,
    /// The escrow.
    pub escrow: Address,
    /// The channel id.
    pub channel_id: B256,
    /// The highest receipt: what to settle.
    pub receipt: SignedReceipt,
    /// What the chain settled (0 if the channel was never saved).
    pub settled: Amount,
    /// The highest cumulative handed to a relayer.
    pub handed: Amount,
    /// The highest cumulative submitted on chain by the payee.
    pub submitted: Amount,
}

/// A payee channel as stored: what [`PayeeChannel::restore`] takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayeeRecord {
    /// The channel's identity.
    pub channel: Channel,
    /// The terms in force.
    pub terms: Terms,
    /// The state, with the highest stored receipt and settlement progress merged in.
    pub state: PayeeState,
    /// `now` of the last saved transition.
    pub updated_at: u64,
}

impl PayeeRecord {
    /// The record of `channel` as it is now.
    pub fn of(channel: &PayeeChannel) -> Self {
        Self {
            channel: channel.channel().clone(),
            terms: *channel.terms(),
            state: channel.state().clone(),
            updated_at: channel.updated_at(),
        }
    }

    /// Rebuilds the machine, checking the record ([`PayeeChannel::restore`]: the receipt is the payer's
    /// for this channel, nothing exceeds the deposit).
    pub fn restore(self) -> Result<PayeeChannel> {
        PayeeChannel::restore(self.channel, self.terms, self.state, self.updated_at)
    }
}

/// A payer channel as stored: what [`PayerChannel::restore`] takes, less the key and the configuration,
/// which are never stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayerRecord {
    /// The channel's identity.
    pub channel: Channel,
    /// The terms in force.
    pub terms: Terms,
    /// The state, its receipt the highest reserved one.
    pub state: PayerState,
    /// `now` of the last saved transition.
    pub updated_at: u64,
}

impl PayerRecord {
    /// The record of `channel` as it is now.
    pub fn of(channel: &PayerChannel) -> Self {
        Self {
            channel: channel.channel().clone(),
            terms: *channel.terms(),
            state: channel.state().clone(),
            updated_at: channel.updated_at(),
        }
    }

    /// Rebuilds the machine with the payer's `key` and `config`, checking the record
    /// ([`PayerChannel::restore`]). Its next receipt is above every reserved one.
    pub fn restore(self, key: SigningKey, config: PayerConfig) -> Result<PayerChannel> {
        PayerChannel::restore(
            key,
            self.channel,
            self.terms,
            config,
            self.state,
            self.updated_at,
        )
    }
}
