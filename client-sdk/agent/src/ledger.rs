//! The agent's own table: what each channel's payments were for, per torrent. Everything else it stores
//! is the SDK store's (channels, receipts, settlement progress), in the same SQLite file.

use std::collections::HashMap;

use piecepay_protocol::{Amount, CompactSignature, alloy_primitives::B256, column};
use piecepay_sdk::{Channel, store::SqliteStore};
use sqlx::{Row, SqliteConnection, migrate::Migrator};

use crate::{Error, Result, backends::Deployment};

/// A torrent's info-hash (BitTorrent v1, or a v2 hash truncated to 20 bytes as BEP 52 does on the wire).
pub type InfoHash = [u8; 20];

/// Which side of a channel an entry is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    Payer,
    Payee,
}

impl Role {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Payer => "payer",
            Self::Payee => "payee",
        }
    }
}

/// Pieces and their value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Pieces.
    pub pieces: u64,
    /// Their value at the price in force when each changed hands.
    pub amount: Amount,
}

impl Tally {
    pub(crate) fn add(&mut self, pieces: u64, amount: Amount) {
        self.pieces = self.pieces.saturating_add(pieces);
        self.amount = self.amount.saturating_add(amount);
    }
}

/// The ledger's migrations, recorded in their own table so they never meet the SDK store's.
fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.dangerous_set_table_name("_piecepay_agent_migrations");
    migrator
}

/// Creates the ledger's table if needed.
pub(crate) async fn migrate(store: &SqliteStore) -> Result<()> {
    migrator()
        .run(store.pool())
        .await
        .map_err(|e| Error::Storage(sqlx::Error::Migrate(Box::new(e))))
}

/// Every entry of `role` for this deployment: `channel → torrent → tally`.
pub(crate) async fn load(
    store: &SqliteStore,
    deployment: &Deployment,
    role: Role,
) -> Result<HashMap<B256, HashMap<InfoHash, Tally>>> {
    let rows = sqlx::query(
        "SELECT channel_id, info_hash, pieces, amount FROM agent_ledger
         WHERE chain_id = ?1 AND escrow = ?2 AND role = ?3",
    )
    .bind(chain_id(deployment)?)
    .bind(deployment.escrow.as_slice())
    .bind(role.as_str())
    .fetch_all(store.pool())
    .await?;
    let mut out: HashMap<B256, HashMap<InfoHash, Tally>> = HashMap::new();
    for row in rows {
        let corrupt = |what: &str| {
            Error::Sdk(piecepay_sdk::Error::CorruptRecord(format!(
                "agent_ledger.{what}"
            )))
        };
        let channel = B256::try_from(row.try_get::<Vec<u8>, _>("channel_id")?.as_slice())
            .map_err(|_| corrupt("channel_id"))?;
        let info_hash: InfoHash = row
            .try_get::<Vec<u8>, _>("info_hash")?
            .try_into()
            .map_err(|_| corrupt("info_hash"))?;
        let pieces =
            u64::try_from(row.try_get::<i64, _>("pieces")?).map_err(|_| corrupt("pieces"))?;
        let amount = column::parse_amount(&row.try_get::<String, _>("amount")?)
            .ok_or_else(|| corrupt("amount"))?;
        out.entry(channel)
            .or_default()
            .insert(info_hash, Tally { pieces, amount });
    }
    Ok(out)
}

/// Writes the totals of `entries` (absolute, not increments) on `conn`, inside the caller's transaction.
pub(crate) async fn write(
    conn: &mut SqliteConnection,
    deployment: &Deployment,
    role: Role,
    channel: B256,
    entries: impl IntoIterator<Item = (InfoHash, Tally)>,
) -> Result<()> {
    for (info_hash, tally) in entries {
        sqlx::query(
            "INSERT INTO agent_ledger (chain_id, escrow, role, channel_id, info_hash, pieces, amount)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (chain_id, escrow, role, channel_id, info_hash) DO UPDATE SET
                 pieces = excluded.pieces, amount = excluded.amount",
        )
        .bind(chain_id(deployment)?)
        .bind(deployment.escrow.as_slice())
        .bind(role.as_str())
        .bind(channel.as_slice())
        .bind(info_hash.as_slice())
        .bind(i64::try_from(tally.pieces).unwrap_or(i64::MAX))
        .bind(column::amount(tally.amount))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Reserves the payer's receipt and records what it paid for in **one** commit: the receipt only leaves
/// the process once both are durable, and the ledger never disagrees with what was signed.
pub(crate) async fn reserve_payment(
    store: &SqliteStore,
    deployment: &Deployment,
    channel: &Channel,
    cumulative: Amount,
    signature: &CompactSignature,
    totals: impl IntoIterator<Item = (InfoHash, Tally)>,
) -> Result<()> {
    let mut tx = store.pool().begin().await?;
    SqliteStore::reserve_signature_in(&mut tx, channel, cumulative, signature).await?;
    write(&mut tx, deployment, Role::Payer, channel.id(), totals).await?;
    tx.commit().await?;
    Ok(())
}

/// Writes payee totals in their own commit (the lazy snapshot of what was served).
pub(crate) async fn write_served(
    store: &SqliteStore,
    deployment: &Deployment,
    channel: B256,
    totals: impl IntoIterator<Item = (InfoHash, Tally)>,
) -> Result<()> {
    let mut tx = store.pool().begin().await?;
    write(&mut tx, deployment, Role::Payee, channel, totals).await?;
    tx.commit().await?;
    Ok(())
}

fn chain_id(deployment: &Deployment) -> Result<i64> {
    column::time(deployment.chain_id)
        .ok_or_else(|| Error::Deployment(format!("chain id {} above 2^63", deployment.chain_id)))
}
