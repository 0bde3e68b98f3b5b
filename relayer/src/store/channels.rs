//! The escrow's channels as indexed, and payees' fee caps.

use piecepay_protocol::{
    alloy_primitives::{Address, B256},
    relayer_api::{ChannelState, ChannelStatus, HeldReceipt},
};

use sqlx::AssertSqlSafe;

// Dynamic SQL here only varies in its count of `$n` placeholders; values are always bound.
use super::{Store, codec, with_pool};
use crate::Result;

/// A channel as the indexer records it (the escrow's state at the confirmation depth).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChannelRecord {
    /// `channel_id(payer, payee, salt)`.
    pub channel_id: B256,
    /// The payer.
    pub payer: Address,
    /// The payee.
    pub payee: Address,
    /// The salt.
    pub salt: u32,
    /// Its state.
    pub state: ChannelState,
    /// Its deposit.
    pub deposit: u128,
    /// Its settled total.
    pub settled: u128,
    /// End of the challenge window while closing.
    pub closes_at: Option<u64>,
    /// The block of the last event that changed it.
    pub updated_block: u64,
}

impl ChannelRecord {
    /// A channel as the escrow opens it at `block`: open, `deposit` in, nothing settled.
    pub const fn opened(
        channel_id: B256,
        payer: Address,
        payee: Address,
        salt: u32,
        deposit: u128,
        block: u64,
    ) -> Self {
        Self {
            channel_id,
            payer,
            payee,
            salt,
            state: ChannelState::Open,
            deposit,
            settled: 0,
            closes_at: None,
            updated_block: block,
        }
    }
}

type ChannelRow = (
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    i64,
    String,
    String,
    String,
    Option<i64>,
    i64,
    Option<String>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
);

/// Rows per multi-row insert: 9 parameters each, within both engines' limits.
const UPSERT_CHUNK: usize = 500;

/// The one statement that writes channels (seeding, and the indexer's transaction): inserts or replaces
/// `rows` of them, whose 9 columns each [`bind_channel`] binds in this order.
pub(super) fn upsert_sql(rows: usize) -> String {
    let values = (0..rows)
        .map(|i| format!("({})", codec::placeholders(i * 9 + 1, 9)))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO channels (channel_id, payer, payee, salt, state, deposit, settled, closes_at, \
         updated_block) VALUES {values} ON CONFLICT (channel_id) DO UPDATE SET \
         state = excluded.state, deposit = excluded.deposit, settled = excluded.settled, \
         closes_at = excluded.closes_at, updated_block = excluded.updated_block"
    )
}

/// Binds channel `$c`'s columns to `$query` in [`upsert_sql`]'s order: a [`Result`] of the query (a
/// time beyond the column refuses). A macro, as the query's type is each engine's own.
macro_rules! bind_channel {
    ($query:expr, $c:expr) => {{
        let c: &$crate::store::ChannelRecord = $c;
        let query = $query;
        (move || -> $crate::Result<_> {
            Ok(query
                .bind(c.channel_id.as_slice())
                .bind(c.payer.as_slice())
                .bind(c.payee.as_slice())
                .bind(i64::from(c.salt))
                .bind($crate::store::codec::state(c.state))
                .bind($crate::store::codec::amount(c.deposit))
                .bind($crate::store::codec::amount(c.settled))
                .bind($crate::store::codec::opt_int(c.closes_at)?)
                .bind($crate::store::codec::int(c.updated_block)?))
        })()
    }};
}
pub(super) use bind_channel;

impl Store {
    /// Inserts or replaces channels (the indexer's writes, and seeding in tests and benches), in one
    /// transaction.
    pub async fn upsert_channels(&self, channels: &[ChannelRecord]) -> Result<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for chunk in channels.chunks(UPSERT_CHUNK) {
                let mut query = sqlx::query(AssertSqlSafe(upsert_sql(chunk.len())));
                for c in chunk {
                    query = bind_channel!(query, c)?;
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// A channel as indexed, or `None`.
    pub async fn channel_record(&self, channel_id: &B256) -> Result<Option<ChannelRecord>> {
        Ok(self
            .channel_row(channel_id)
            .await?
            .map(|(record, _)| record))
    }

    /// `GET /v1/channels/{id}`: the channel and the receipt held for it, or `None` if never indexed.
    pub async fn channel_status(&self, channel_id: &B256) -> Result<Option<ChannelStatus>> {
        let Some((record, held)) = self.channel_row(channel_id).await? else {
            return Ok(None);
        };
        let indexed_block = self.indexed_block().await?.max(record.updated_block);
        Ok(Some(ChannelStatus {
            channel_id: record.channel_id,
            payer: record.payer,
            payee: record.payee,
            salt: record.salt,
            state: record.state,
            deposit: record.deposit,
            settled: record.settled,
            closes_at: record
                .closes_at
                .filter(|_| record.state == ChannelState::Closing),
            latest_receipt: held,
            indexed_block,
        }))
    }

    async fn channel_row(
        &self,
        channel_id: &B256,
    ) -> Result<Option<(ChannelRecord, Option<HeldReceipt>)>> {
        let row: Option<ChannelRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT c.channel_id, c.payer, c.payee, c.salt, c.state, c.deposit, c.settled, \
                 c.closes_at, c.updated_block, r.cumulative, r.r, r.vs \
                 FROM channels c LEFT JOIN receipts r ON r.channel_id = c.channel_id \
                 WHERE c.channel_id = $1",
            )
            .bind(channel_id.as_slice())
            .fetch_optional(pool)
            .await?
        });
        row.map(decode_channel).transpose()
    }

    /// Sets a payee's settlement fee cap (from the escrow's events).
    pub async fn set_fee_cap(&self, payee: &Address, bps: u16) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO payees (payee, fee_cap_bps) VALUES ($1, $2) \
                 ON CONFLICT (payee) DO UPDATE SET fee_cap_bps = excluded.fee_cap_bps",
            )
            .bind(payee.as_slice())
            .bind(i64::from(bps))
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}

fn decode_channel(row: ChannelRow) -> Result<(ChannelRecord, Option<HeldReceipt>)> {
    let (id, payer, payee, salt, state, deposit, settled, closes_at, block, cumulative, r, vs) =
        row;
    let (state, deposit, settled, closes_at) =
        codec::parse_channel_state(&state, &deposit, &settled, closes_at)?;
    let record = ChannelRecord {
        channel_id: codec::b256(&id, "channels.channel_id")?,
        payer: codec::address(&payer, "channels.payer")?,
        payee: codec::address(&payee, "channels.payee")?,
        salt: u32::try_from(salt).map_err(|_| codec::corrupt("channels.salt"))?,
        state,
        deposit,
        settled,
        closes_at,
        updated_block: codec::parse_int(block, "channels.updated_block")?,
    };
    let held = match (cumulative, r, vs) {
        (Some(cumulative), Some(r), Some(vs)) => Some(HeldReceipt {
            cumulative: codec::parse_amount(&cumulative, "receipts.cumulative")?,
            signature: codec::signature(&r, &vs)?,
        }),
        _ => None,
    };
    Ok((record, held))
}
