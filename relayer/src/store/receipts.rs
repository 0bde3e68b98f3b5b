//! The highest receipt per channel: what ingest reads (snapshots) and raises.

use std::collections::{HashMap, HashSet};

use piecepay_protocol::{CompactSignature, alloy_primitives::B256, relayer_api::ChannelSnapshot};

use sqlx::AssertSqlSafe;

// Dynamic SQL here only varies in its count of `$n` placeholders; values are always bound.
use super::{Backend, Store, codec, with_pool};
use crate::Result;

/// A receipt to store as its channel's highest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReceiptWrite {
    /// The channel.
    pub channel_id: B256,
    /// The receipt's cumulative.
    pub cumulative: u128,
    /// The payer's signature.
    pub signature: CompactSignature,
}

/// Ids per snapshot query.
const READ_CHUNK: usize = 1_000;

/// Rows per multi-row upsert: 6 parameters each, within both engines' limits.
const WRITE_CHUNK: usize = 1_000;

type SnapshotRow = (Vec<u8>, String, String, String, Option<i64>, Option<String>);

impl Store {
    /// The snapshot ([`ChannelSnapshot`]) of each channel in `ids` that is indexed; unknown channels are
    /// absent from the map.
    pub async fn snapshots(&self, ids: &[B256]) -> Result<HashMap<B256, ChannelSnapshot>> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(READ_CHUNK) {
            let sql = format!(
                "SELECT c.channel_id, c.state, c.deposit, c.settled, c.closes_at, r.cumulative \
                 FROM channels c LEFT JOIN receipts r ON r.channel_id = c.channel_id \
                 WHERE c.channel_id IN ({})",
                placeholders(self.backend(), 1, chunk.len())
            );
            let rows: Vec<SnapshotRow> = with_pool!(self, |pool| {
                let mut query = sqlx::query_as(AssertSqlSafe(sql));
                for id in chunk {
                    query = query.bind(id.as_slice());
                }
                query.fetch_all(pool).await?
            });
            for (id, state, deposit, settled, closes_at, held) in rows {
                let snapshot = ChannelSnapshot {
                    state: codec::parse_state(&state)?,
                    deposit: codec::parse_amount(&deposit, "channels.deposit")?,
                    settled: codec::parse_amount(&settled, "channels.settled")?,
                    closes_at: closes_at
                        .map(|t| codec::parse_int(t, "channels.closes_at"))
                        .transpose()?,
                    held: held
                        .map(|h| codec::parse_amount(&h, "receipts.cumulative"))
                        .transpose()?,
                };
                out.insert(codec::b256(&id, "channels.channel_id")?, snapshot);
            }
        }
        Ok(out)
    }

    /// Raises each channel's held receipt to the one in `writes`, in **one transaction**, durable when
    /// this returns. A write whose channel already holds an equal or higher receipt (another node was
    /// faster) changes nothing; its channel id is returned so the caller can answer from the stored
    /// one instead.
    ///
    /// `now` becomes the row's `received_at`, and its `pending_since` if nothing was waiting for a
    /// settlement batch yet.
    pub async fn raise_receipts(&self, writes: &[ReceiptWrite], now: u64) -> Result<Vec<B256>> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let mut raised = HashSet::with_capacity(writes.len());
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for chunk in writes.chunks(WRITE_CHUNK) {
                let values = (0..chunk.len())
                    .map(|i| format!("({})", placeholders(self.backend(), i * 6 + 1, 6)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "INSERT INTO receipts (channel_id, cumulative, r, vs, received_at, pending_since) \
                     VALUES {values} \
                     ON CONFLICT (channel_id) DO UPDATE SET cumulative = excluded.cumulative, \
                     r = excluded.r, vs = excluded.vs, received_at = excluded.received_at, \
                     pending_since = COALESCE(receipts.pending_since, excluded.pending_since) \
                     WHERE receipts.cumulative < excluded.cumulative \
                     RETURNING channel_id"
                );
                let mut query = sqlx::query_scalar::<_, Vec<u8>>(AssertSqlSafe(sql));
                for w in chunk {
                    query = query
                        .bind(w.channel_id.as_slice())
                        .bind(codec::amount(w.cumulative))
                        .bind(w.signature.r.as_slice())
                        .bind(w.signature.vs.as_slice())
                        .bind(codec::int(now))
                        .bind(codec::int(now));
                }
                for id in query.fetch_all(&mut *tx).await? {
                    raised.insert(codec::b256(&id, "receipts.channel_id")?);
                }
            }
            tx.commit().await?;
        });
        Ok(writes
            .iter()
            .map(|w| w.channel_id)
            .filter(|id| !raised.contains(id))
            .collect())
    }
}

/// `count` bind placeholders from the `first`: `$n` on PostgreSQL, anonymous `?` on SQLite, where
/// binding `$n` costs a linear search of the statement's parameter names per parameter (quadratic in
/// a 6,000-parameter upsert: most of its time).
fn placeholders(backend: Backend, first: usize, count: usize) -> String {
    match backend {
        Backend::Postgres => codec::placeholders(first, count),
        Backend::Sqlite => {
            let mut out = String::with_capacity(count * 3);
            for i in 0..count {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push('?');
            }
            out
        }
    }
}
