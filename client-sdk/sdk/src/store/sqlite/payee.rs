//! [`PayeeStore`] on SQLite: the monotonic receipt upsert (the hot path), payee snapshots, settlement
//! progress, what is still unsettled.

use piecepay_protocol::{
    CompactSignature, Receipt,
    alloy_primitives::{Address, B256, aliases::U96},
};
use sqlx::{SqliteExecutor, sqlite::SqliteRow};

use super::{
    SqliteStore,
    codec::{
        Key, address, amount, credit_columns, get, get_amount, get_opt_amount, get_opt_time,
        get_time, parse_channel_amount, parse_time, required, salt, signature, signed_receipt,
        terms_of, time,
    },
    corrupt, storage,
};
use crate::{
    Amount, Channel, Error, MAX_AMOUNT, PayeeChannel, PayeeState, Result, SignedReceipt,
    payee::{Account, PayeeClose},
    store::{PayeeRecord, PayeeStore, SettlementProgress, Unsettled},
};

/// The hot path: one statement, an upsert that only ever raises the stored cumulative. `changes()` is 1
/// exactly when it inserted or raised.
const UPSERT_RECEIPT: &str = "\
INSERT INTO payee_receipts (chain_id, escrow, channel_id, payee, salt, cumulative, signature, stored_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, unixepoch())
ON CONFLICT (chain_id, escrow, channel_id) DO UPDATE SET
    cumulative = excluded.cumulative,
    signature = excluded.signature,
    stored_at = excluded.stored_at
WHERE excluded.cumulative > payee_receipts.cumulative";

/// A validated, encoded receipt ready for [`UPSERT_RECEIPT`].
#[derive(Debug)]
pub(in crate::store) struct ReceiptRow {
    key: Key,
    payee: Address,
    salt: u32,
    cumulative: String,
    signature: [u8; CompactSignature::LEN],
}

impl ReceiptRow {
    /// Checks and encodes a receipt of `channel`; nothing is written.
    pub(in crate::store) fn new(
        channel: &Channel,
        cumulative: Amount,
        signature: &CompactSignature,
    ) -> Result<Self> {
        if cumulative == 0 {
            return Err(Error::ZeroAmount);
        }
        if cumulative > MAX_AMOUNT {
            return Err(Error::AmountTooLarge { amount: cumulative });
        }
        Ok(Self {
            key: Key::of(channel)?,
            payee: channel.payee(),
            salt: channel.salt(),
            cumulative: amount(cumulative),
            signature: signature.to_bytes(),
        })
    }

    pub(super) async fn upsert<'e>(&self, executor: impl SqliteExecutor<'e>) -> Result<bool> {
        let done = self
            .key
            .bind(sqlx::query(UPSERT_RECEIPT))
            .bind(self.payee.as_slice())
            .bind(i64::from(self.salt))
            .bind(self.cumulative.as_str())
            .bind(self.signature.as_slice())
            .execute(executor)
            .await
            .map_err(storage)?;
        Ok(done.rows_affected() == 1)
    }
}

const UPSERT_PAYEE: &str = "\
INSERT INTO payee_channels (chain_id, escrow, channel_id, payer, payee, salt, price, credit_kind, credit,
    phase, deposit, served, pieces_served, settled, handed, submitted, pending_since,
    close_kind, close_at, close_cumulative, updated_at, sent_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)
ON CONFLICT (chain_id, escrow, channel_id) DO UPDATE SET
    price = excluded.price,
    credit_kind = excluded.credit_kind,
    credit = excluded.credit,
    phase = excluded.phase,
    deposit = excluded.deposit,
    served = excluded.served,
    pieces_served = excluded.pieces_served,
    settled = max(payee_channels.settled, excluded.settled),
    handed = max(payee_channels.handed, excluded.handed),
    submitted = max(payee_channels.submitted, excluded.submitted),
    pending_since = excluded.pending_since,
    close_kind = excluded.close_kind,
    close_at = excluded.close_at,
    close_cumulative = excluded.close_cumulative,
    updated_at = excluded.updated_at,
    sent_at = excluded.sent_at";

/// A payee channel row with its receipt (if any) beside it.
const PAYEE_ONE: &str = "\
SELECT c.*, r.cumulative AS receipt_cumulative, r.signature AS receipt_signature, r.stored_at
FROM payee_channels c LEFT JOIN payee_receipts r USING (chain_id, escrow, channel_id)
WHERE c.chain_id = ?1 AND c.escrow = ?2 AND c.channel_id = ?3";

/// Every payee channel row with its receipt (if any) beside it.
const PAYEE_ALL: &str = "\
SELECT c.*, r.cumulative AS receipt_cumulative, r.signature AS receipt_signature, r.stored_at
FROM payee_channels c LEFT JOIN payee_receipts r USING (chain_id, escrow, channel_id)
ORDER BY c.chain_id, c.escrow, c.channel_id";

/// A payee snapshot as columns.
struct PayeeColumns {
    phase: &'static str,
    deposit: Amount,
    served: Amount,
    pieces_served: i64,
    settled: Amount,
    handed: Amount,
    submitted: Amount,
    pending_since: Option<i64>,
    sent_at: Option<i64>,
    close_kind: Option<&'static str>,
    close_at: Option<i64>,
    close_cumulative: Option<String>,
}

impl PayeeColumns {
    fn of(state: &PayeeState) -> Result<Self> {
        let mut columns = Self {
            phase: state.name(),
            deposit: 0,
            served: 0,
            pieces_served: 0,
            settled: 0,
            handed: 0,
            submitted: 0,
            pending_since: None,
            sent_at: None,
            close_kind: None,
            close_at: None,
            close_cumulative: None,
        };
        if let Some(account) = state.account() {
            columns.deposit = account.deposit;
            columns.served = account.served;
            // A statistic, not a decision input (`served` is): saturating loses nothing that matters.
            columns.pieces_served = i64::try_from(account.pieces_served).unwrap_or(i64::MAX);
            columns.settled = account.settled;
            columns.handed = account.handed;
            columns.submitted = account.submitted;
            columns.pending_since = account.pending_since.map(time).transpose()?;
            columns.sent_at = account.sent_at.map(time).transpose()?;
        }
        match state {
            PayeeState::Closing { close, .. } => match *close {
                PayeeClose::Challenge { closes_at } => {
                    columns.close_kind = Some("challenge");
                    columns.close_at = Some(time(closes_at)?);
                }
                PayeeClose::Cooperative {
                    cumulative,
                    deadline,
                } => {
                    columns.close_kind = Some("cooperative");
                    columns.close_at = Some(time(deadline)?);
                    columns.close_cumulative = Some(amount(cumulative));
                }
                PayeeClose::ByPayee => columns.close_kind = Some("by_payee"),
            },
            PayeeState::Closed { deposit, settled } => {
                columns.deposit = *deposit;
                columns.settled = *settled;
            }
            PayeeState::Proposed | PayeeState::Open { .. } => {}
        }
        Ok(columns)
    }
}

/// A payee record from a [`PAYEE_ONE`] / [`PAYEE_ALL`] row and its `channel`.
fn payee_record(row: &SqliteRow, channel: Channel) -> Result<PayeeRecord> {
    let terms = terms_of(row)?;
    let updated_at = get_time(row, "updated_at")?;
    let deposit = get_amount(row, "deposit")?;
    let settled = get_amount(row, "settled")?;
    let state = match get::<String>(row, "phase")?.as_str() {
        "proposed" => PayeeState::Proposed,
        "closed" => PayeeState::Closed { deposit, settled },
        phase @ ("open" | "closing") => {
            let receipt = match get::<Option<String>>(row, "receipt_cumulative")? {
                Some(text) => {
                    let cumulative = parse_channel_amount(&text, "receipt cumulative")?;
                    let sig = signature(&get::<Vec<u8>>(row, "receipt_signature")?)?;
                    Some(signed_receipt(&channel, cumulative, sig)?)
                }
                None => None,
            };
            let mut account = Account {
                deposit,
                served: get_amount(row, "served")?,
                pieces_served: parse_time(get(row, "pieces_served")?, "pieces_served")?,
                receipt,
                settled,
                handed: get_amount(row, "handed")?,
                submitted: get_amount(row, "submitted")?,
                pending_since: get_opt_time(row, "pending_since")?,
                sent_at: get_opt_time(row, "sent_at")?,
            };
            // A receipt saved on the hot path after the last snapshot is unsent value the snapshot does
            // not know of: date it from when it was stored, so age-based settlement still fires.
            let sent = account.settled.max(account.handed).max(account.submitted);
            if account.pending_since.is_none() && account.paid() > sent {
                account.pending_since = get_opt_time(row, "stored_at")?;
            }
            // Such a receipt may also be above the snapshot's deposit: it was accepted against a top-up
            // the snapshot missed. The chain's deposit is at least the receipt, so that is the deposit to
            // restore with (a lower bound; the caller re-reads the chain at start-up).
            if let Some(receipt) = &account.receipt {
                account.deposit = account.deposit.max(receipt.cumulative());
            }
            if phase == "open" {
                PayeeState::Open { account }
            } else {
                let close_at = get_opt_time(row, "close_at")?;
                let close = match get::<Option<String>>(row, "close_kind")?.as_deref() {
                    Some("challenge") => PayeeClose::Challenge {
                        closes_at: required(close_at, "closes_at")?,
                    },
                    Some("cooperative") => PayeeClose::Cooperative {
                        cumulative: required(
                            get_opt_amount(row, "close_cumulative")?,
                            "close_cumulative",
                        )?,
                        deadline: required(close_at, "close deadline")?,
                    },
                    Some("by_payee") => PayeeClose::ByPayee,
                    _ => return Err(corrupt("unknown close_kind")),
                };
                PayeeState::Closing { account, close }
            }
        }
        _ => return Err(corrupt("unknown payee phase")),
    };
    Ok(PayeeRecord {
        channel,
        terms,
        state,
        updated_at,
    })
}

impl PayeeStore for SqliteStore {
    async fn save_receipt_if_higher(
        &self,
        channel: &Channel,
        cumulative: Amount,
        signature: &CompactSignature,
    ) -> Result<bool> {
        ReceiptRow::new(channel, cumulative, signature)?
            .upsert(&self.pool)
            .await
    }

    async fn latest_receipt(&self, channel: &Channel) -> Result<Option<SignedReceipt>> {
        let key = Key::of(channel)?;
        let row = key
            .bind(sqlx::query(
                "SELECT cumulative, signature FROM payee_receipts
                 WHERE chain_id = ?1 AND escrow = ?2 AND channel_id = ?3",
            ))
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?;
        row.map(|row| {
            let cumulative =
                parse_channel_amount(&get::<String>(&row, "cumulative")?, "cumulative")?;
            signed_receipt(
                channel,
                cumulative,
                signature(&get::<Vec<u8>>(&row, "signature")?)?,
            )
        })
        .transpose()
    }

    async fn save_payee(&self, channel: &PayeeChannel) -> Result<()> {
        let ch = channel.channel();
        let key = Key::of(ch)?;
        let columns = PayeeColumns::of(channel.state())?;
        let receipt = channel
            .latest_receipt()
            .map(|r| ReceiptRow::new(ch, r.cumulative(), &r.signature))
            .transpose()?;
        let (credit_kind, credit) = credit_columns(channel.terms());
        let updated_at = time(channel.updated_at())?;

        let mut tx = self.pool.begin().await.map_err(storage)?;
        key.bind(sqlx::query(UPSERT_PAYEE))
            .bind(ch.payer().as_slice())
            .bind(ch.payee().as_slice())
            .bind(i64::from(ch.salt()))
            .bind(amount(channel.terms().price()))
            .bind(credit_kind)
            .bind(credit)
            .bind(columns.phase)
            .bind(amount(columns.deposit))
            .bind(amount(columns.served))
            .bind(columns.pieces_served)
            .bind(amount(columns.settled))
            .bind(amount(columns.handed))
            .bind(amount(columns.submitted))
            .bind(columns.pending_since)
            .bind(columns.close_kind)
            .bind(columns.close_at)
            .bind(columns.close_cumulative)
            .bind(updated_at)
            .bind(columns.sent_at)
            .execute(&mut *tx)
            .await
            .map_err(storage)?;
        if let Some(receipt) = receipt {
            receipt.upsert(&mut *tx).await?;
        }
        tx.commit().await.map_err(storage)
    }

    async fn load_payee(&self, channel: &Channel) -> Result<Option<PayeeRecord>> {
        self.load_one(channel, PAYEE_ONE, payee_record).await
    }

    async fn payee_channels(&self) -> Result<Vec<PayeeRecord>> {
        self.load_all(PAYEE_ALL, payee_record).await
    }

    async fn record_settlement(
        &self,
        channel: &Channel,
        progress: SettlementProgress,
    ) -> Result<()> {
        let key = Key::of(channel)?;
        let (sql, value) = match progress {
            SettlementProgress::Handed(value) => (
                "UPDATE payee_channels SET handed = max(handed, ?4)
                 WHERE chain_id = ?1 AND escrow = ?2 AND channel_id = ?3",
                value,
            ),
            SettlementProgress::Submitted(value) => (
                "UPDATE payee_channels SET submitted = max(submitted, ?4)
                 WHERE chain_id = ?1 AND escrow = ?2 AND channel_id = ?3",
                value,
            ),
            SettlementProgress::Settled(value) => (
                "UPDATE payee_channels SET settled = max(settled, ?4)
                 WHERE chain_id = ?1 AND escrow = ?2 AND channel_id = ?3",
                value,
            ),
        };
        if value > MAX_AMOUNT {
            return Err(Error::AmountTooLarge { amount: value });
        }
        let done = key
            .bind(sqlx::query(sql))
            .bind(amount(value))
            .execute(&self.pool)
            .await
            .map_err(storage)?;
        if done.rows_affected() == 0 {
            return Err(Error::UnknownChannel {
                channel: channel.id(),
            });
        }
        Ok(())
    }

    async fn unsettled(&self) -> Result<Vec<Unsettled>> {
        let rows = sqlx::query(UNSETTLED)
            .fetch_all(&self.pool)
            .await
            .map_err(storage)?;
        rows.iter()
            .map(|row| {
                let chain_id = parse_time(get(row, "chain_id")?, "chain_id")?;
                let escrow = address(&get::<Vec<u8>>(row, "escrow")?, "escrow")?;
                let cumulative =
                    parse_channel_amount(&get::<String>(row, "cumulative")?, "cumulative")?;
                let receipt = SignedReceipt {
                    message: Receipt {
                        payee: address(&get::<Vec<u8>>(row, "payee")?, "payee")?,
                        salt: salt(get(row, "salt")?)?,
                        cumulative: U96::try_from(cumulative)
                            .map_err(|_| corrupt("cumulative exceeds the uint96 range"))?,
                    },
                    signature: signature(&get::<Vec<u8>>(row, "signature")?)?,
                };
                Ok(Unsettled {
                    chain_id,
                    escrow,
                    channel_id: B256::try_from(get::<Vec<u8>>(row, "channel_id")?.as_slice())
                        .map_err(|_| corrupt("channel_id is not 32 bytes"))?,
                    receipt,
                    settled: get_amount(row, "settled")?,
                    handed: get_amount(row, "handed")?,
                    submitted: get_amount(row, "submitted")?,
                })
            })
            .collect()
    }
}

/// Receipts above what the chain settled, on channels not stored as closed.
const UNSETTLED: &str = "\
SELECT r.chain_id, r.escrow, r.channel_id, r.payee, r.salt, r.cumulative, r.signature,
    coalesce(c.settled, '000000000000000000000000000000000000000') AS settled,
    coalesce(c.handed, '000000000000000000000000000000000000000') AS handed,
    coalesce(c.submitted, '000000000000000000000000000000000000000') AS submitted
FROM payee_receipts r LEFT JOIN payee_channels c USING (chain_id, escrow, channel_id)
WHERE r.cumulative > coalesce(c.settled, '000000000000000000000000000000000000000')
    AND coalesce(c.phase, '') <> 'closed'
ORDER BY r.chain_id, r.escrow, r.channel_id";
