//! [`PayerStore`] on SQLite: payer snapshots that never lower the reserved cumulative, and the
//! reservation of a receipt before it leaves the process.

use piecepay_protocol::CompactSignature;
use sqlx::{SqliteConnection, sqlite::SqliteRow};

use super::{
    SqliteStore,
    codec::{
        Key, amount, credit_columns, get, get_amount, get_opt_amount, get_opt_time, get_time,
        parse_channel_amount, required, signature, signed_receipt, terms_of, time,
    },
    corrupt, storage,
};
use crate::{
    Amount, Channel, Error, MAX_AMOUNT, PayerChannel, PayerState, Result,
    payer::{PayerClose, PendingTopUp},
    store::{PayerRecord, PayerStore},
};

/// The snapshot upsert. Guarded so it never lowers the reserved cumulative: `changes()` is 0 when the
/// snapshot's receipt is below the stored one, and the caller reports it.
const UPSERT_PAYER: &str = "\
INSERT INTO payer_channels (chain_id, escrow, channel_id, payer, payee, salt, price, credit_kind, credit,
    phase, deposit, open_deadline, top_up_deposit, top_up_deadline, close_kind, close_at, settled,
    cumulative, signature, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)
ON CONFLICT (chain_id, escrow, channel_id) DO UPDATE SET
    price = excluded.price,
    credit_kind = excluded.credit_kind,
    credit = excluded.credit,
    phase = excluded.phase,
    deposit = excluded.deposit,
    open_deadline = excluded.open_deadline,
    top_up_deposit = excluded.top_up_deposit,
    top_up_deadline = excluded.top_up_deadline,
    close_kind = excluded.close_kind,
    close_at = excluded.close_at,
    settled = excluded.settled,
    signature = CASE WHEN excluded.cumulative > payer_channels.cumulative
        THEN excluded.signature ELSE payer_channels.signature END,
    cumulative = excluded.cumulative,
    updated_at = excluded.updated_at
WHERE excluded.cumulative >= payer_channels.cumulative";

/// The reservation: raise only, `changes()` is 1 exactly when it raised.
/// The reservation: only on a channel stored as open, within its stored deposit (so the stored record always
/// restores), and only raising — or the very same receipt again (signing is deterministic), so a
/// reservation whose outcome was lost can be retried. `changes()` is 1 exactly when it took.
const RESERVE: &str = "\
UPDATE payer_channels SET cumulative = ?4, signature = ?5
WHERE chain_id = ?1 AND escrow = ?2 AND channel_id = ?3 AND phase = 'open' AND deposit >= ?4
  AND (cumulative < ?4 OR (cumulative = ?4 AND signature = ?5))";

/// A stored payer phase as the `&'static` name [`Error::InvalidState`] carries.
fn payer_phase_name(phase: &str) -> &'static str {
    match phase {
        "proposed" => "proposed",
        "opening" => "opening",
        "closing" => "closing",
        "closed" => "closed",
        _ => "unknown",
    }
}

/// Why a reservation did not take.
const RESERVE_REFUSAL: &str = "\
SELECT phase, deposit, cumulative FROM payer_channels WHERE chain_id = ?1 AND escrow = ?2 AND channel_id = ?3";

const PAYER_ONE: &str =
    "SELECT * FROM payer_channels WHERE chain_id = ?1 AND escrow = ?2 AND channel_id = ?3";
const PAYER_ALL: &str = "SELECT * FROM payer_channels ORDER BY chain_id, escrow, channel_id";

/// A payer snapshot as columns.
struct PayerColumns {
    deposit: Amount,
    open_deadline: Option<i64>,
    top_up: Option<(String, i64)>,
    close_kind: Option<&'static str>,
    close_at: Option<i64>,
    settled: Amount,
}

impl PayerColumns {
    fn of(state: &PayerState) -> Result<Self> {
        let mut columns = Self {
            deposit: state.deposit().unwrap_or(0),
            open_deadline: None,
            top_up: None,
            close_kind: None,
            close_at: None,
            settled: 0,
        };
        match state {
            PayerState::Proposed => {}
            PayerState::Opening { deposit, deadline } => {
                columns.deposit = *deposit;
                columns.open_deadline = Some(time(*deadline)?);
            }
            PayerState::Open { top_up, .. } => {
                columns.top_up = top_up
                    .map(|t| Ok::<_, Error>((amount(t.deposit), time(t.deadline)?)))
                    .transpose()?;
            }
            PayerState::Closing { close, .. } => {
                let (kind, at) = match *close {
                    PayerClose::Cooperative { deadline } => ("cooperative", deadline),
                    PayerClose::Requested { deadline } => ("requested", deadline),
                    PayerClose::Challenge { closes_at } => ("challenge", closes_at),
                };
                columns.close_kind = Some(kind);
                columns.close_at = Some(time(at)?);
            }
            PayerState::Closed { settled, .. } => columns.settled = *settled,
        }
        Ok(columns)
    }
}

fn payer_record(row: &SqliteRow, channel: Channel) -> Result<PayerRecord> {
    let terms = terms_of(row)?;
    let updated_at = get_time(row, "updated_at")?;
    let deposit = get_amount(row, "deposit")?;
    let cumulative = parse_channel_amount(&get::<String>(row, "cumulative")?, "cumulative")?;
    let receipt = match get::<Option<Vec<u8>>>(row, "signature")? {
        Some(bytes) if cumulative > 0 => {
            Some(signed_receipt(&channel, cumulative, signature(&bytes)?)?)
        }
        None if cumulative == 0 => None,
        _ => return Err(corrupt("cumulative and signature disagree")),
    };
    let phase = get::<String>(row, "phase")?;
    if receipt.is_some() && matches!(phase.as_str(), "proposed" | "opening") {
        return Err(corrupt("a receipt on a channel that is not open"));
    }
    let close_at = get_opt_time(row, "close_at")?;
    let state = match phase.as_str() {
        "proposed" => PayerState::Proposed,
        "opening" => PayerState::Opening {
            deposit,
            deadline: required(get_opt_time(row, "open_deadline")?, "open_deadline")?,
        },
        "open" => PayerState::Open {
            deposit,
            receipt,
            top_up: match get_opt_amount(row, "top_up_deposit")? {
                Some(top_up) => Some(PendingTopUp {
                    deposit: top_up,
                    deadline: required(get_opt_time(row, "top_up_deadline")?, "top_up_deadline")?,
                }),
                None => None,
            },
        },
        "closing" => PayerState::Closing {
            deposit,
            receipt,
            close: match get::<Option<String>>(row, "close_kind")?.as_deref() {
                Some("cooperative") => PayerClose::Cooperative {
                    deadline: required(close_at, "close deadline")?,
                },
                Some("requested") => PayerClose::Requested {
                    deadline: required(close_at, "close deadline")?,
                },
                Some("challenge") => PayerClose::Challenge {
                    closes_at: required(close_at, "closes_at")?,
                },
                _ => return Err(corrupt("unknown close_kind")),
            },
        },
        "closed" => PayerState::Closed {
            deposit,
            settled: get_amount(row, "settled")?,
            receipt,
        },
        _ => return Err(corrupt("unknown payer phase")),
    };
    Ok(PayerRecord {
        channel,
        terms,
        state,
        updated_at,
    })
}

impl SqliteStore {
    /// [`PayerStore::reserve_signature`] on `conn`, which may be inside a transaction the caller commits
    /// (the client agent records what the receipt pays for in the same commit); its promises hold once
    /// that commit is durable. Outside a transaction it commits at once, like the trait method.
    pub async fn reserve_signature_in(
        conn: &mut SqliteConnection,
        channel: &Channel,
        cumulative: Amount,
        signature: &CompactSignature,
    ) -> Result<()> {
        let key = Key::of(channel)?;
        if cumulative == 0 {
            return Err(Error::ZeroAmount);
        }
        // Also refuses amounts above the uint96 range.
        let receipt = signed_receipt(channel, cumulative, *signature)
            .map_err(|_| Error::AmountTooLarge { amount: cumulative })?;
        channel.verify_receipt(&receipt.message, &receipt.signature)?;

        let done = key
            .bind(sqlx::query(RESERVE))
            .bind(amount(cumulative))
            .bind(signature.to_bytes().as_slice())
            .execute(&mut *conn)
            .await
            .map_err(storage)?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        let Some(row) = key
            .bind(sqlx::query(RESERVE_REFUSAL))
            .fetch_optional(&mut *conn)
            .await
            .map_err(storage)?
        else {
            return Err(Error::UnknownChannel {
                channel: channel.id(),
            });
        };
        let deposit = get_amount(&row, "deposit")?;
        match get::<String>(&row, "phase")?.as_str() {
            "open" if cumulative > deposit => Err(Error::ExceedsDeposit {
                cumulative,
                deposit,
            }),
            "open" => Err(Error::NonIncreasingCumulative {
                cumulative,
                latest: get_amount(&row, "cumulative")?,
            }),
            phase => Err(Error::InvalidState {
                action: "reserve a receipt on",
                state: payer_phase_name(phase),
            }),
        }
    }

    /// The reserved cumulative of the channel under `key`, if it is stored.
    async fn reserved(&self, key: &Key) -> Result<Option<Amount>> {
        let row = key
            .bind(sqlx::query(
                "SELECT cumulative FROM payer_channels
                 WHERE chain_id = ?1 AND escrow = ?2 AND channel_id = ?3",
            ))
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?;
        row.map(|row| parse_channel_amount(&get::<String>(&row, "cumulative")?, "cumulative"))
            .transpose()
    }
}

impl PayerStore for SqliteStore {
    async fn save_payer(&self, channel: &PayerChannel) -> Result<()> {
        let ch = channel.channel();
        let key = Key::of(ch)?;
        let columns = PayerColumns::of(channel.state())?;
        let receipt = channel.latest_receipt();
        let cumulative = channel.cumulative();
        if cumulative > MAX_AMOUNT {
            return Err(Error::AmountTooLarge { amount: cumulative });
        }
        let (credit_kind, credit) = credit_columns(channel.terms());
        let updated_at = time(channel.updated_at())?;

        let done = key
            .bind(sqlx::query(UPSERT_PAYER))
            .bind(ch.payer().as_slice())
            .bind(ch.payee().as_slice())
            .bind(i64::from(ch.salt()))
            .bind(amount(channel.terms().price()))
            .bind(credit_kind)
            .bind(credit)
            .bind(channel.state().name())
            .bind(amount(columns.deposit))
            .bind(columns.open_deadline)
            .bind(columns.top_up.as_ref().map(|(deposit, _)| deposit.clone()))
            .bind(columns.top_up.as_ref().map(|(_, deadline)| *deadline))
            .bind(columns.close_kind)
            .bind(columns.close_at)
            .bind(amount(columns.settled))
            .bind(amount(cumulative))
            .bind(receipt.map(|r| r.signature.to_bytes().to_vec()))
            .bind(updated_at)
            .execute(&self.pool)
            .await
            .map_err(storage)?;
        if done.rows_affected() == 0 {
            let latest = self.reserved(&key).await?.unwrap_or_default();
            return Err(Error::NonIncreasingCumulative { cumulative, latest });
        }
        Ok(())
    }

    async fn reserve_signature(
        &self,
        channel: &Channel,
        cumulative: Amount,
        signature: &CompactSignature,
    ) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        Self::reserve_signature_in(&mut conn, channel, cumulative, signature).await
    }

    async fn signed_cumulative(&self, channel: &Channel) -> Result<Option<Amount>> {
        self.reserved(&Key::of(channel)?).await
    }

    async fn load_payer(&self, channel: &Channel) -> Result<Option<PayerRecord>> {
        self.load_one(channel, PAYER_ONE, payer_record).await
    }

    async fn payer_channels(&self) -> Result<Vec<PayerRecord>> {
        self.load_all(PAYER_ALL, payer_record).await
    }
}
