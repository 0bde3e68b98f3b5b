//! [`SqliteStore`]: the stores on one SQLite file, through sqlx.
//!
//! **Durability.** The database runs in WAL mode with `synchronous = FULL`. In WAL mode, `NORMAL` only
//! syncs the log at checkpoints: a commit survives a process crash but can be rolled back by a power loss
//! or OS crash. Both promises of this module are about what already left the process — a receipt-ack the
//! payer relies on, a receipt the payee holds — so a commit must be on disk before its call returns:
//! `FULL` syncs the WAL on every commit. Its cost (one `fsync`, milliseconds on many disks) is amortised
//! by batching, not by relaxing it: [`SqliteStore::save_receipts_if_higher`] and [`GroupCommit`] put many
//! receipts under one commit. WAL also lets readers run while a write commits.
//!
//! **Concurrency.** Every write is a single statement or one transaction whose first statement writes,
//! so SQLite takes the write lock up front and concurrent writers (other connections, other processes)
//! wait on `busy_timeout` instead of failing; the monotonic raises are `WHERE`-guarded upserts, atomic by
//! construction.
//!
//! [`GroupCommit`]: super::GroupCommit

use std::{path::Path, time::Duration};

use piecepay_protocol::CompactSignature;
use sqlx::{
    SqlitePool,
    migrate::Migrator,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
    },
};

mod codec;
mod payee;
mod payer;

use codec::{Key, channel_of};
pub(super) use payee::ReceiptRow;

use crate::{Amount, Cause, Channel, Error, Result};

/// The store's migrations (`client-sdk/sdk/migrations/`), embedded at build time. Running them is
/// idempotent: applied ones are recorded in `_sqlx_migrations` and skipped.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long a write waits for another writer's lock before failing with [`Error::Storage`].
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections in the pool opened by [`SqliteStore::open`]: SQLite has one writer at a time, a few
/// connections let reads proceed beside it.
const MAX_CONNECTIONS: u32 = 4;

/// Both stores ([`PayeeStore`](crate::store::PayeeStore), [`PayerStore`](crate::store::PayerStore)) on one SQLite database. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database at `path` with [`SqliteStore::connect_options`] and
    /// runs the migrations.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(Self::connect_options(path))
            .await
            .map_err(storage)?;
        Self::from_pool(pool).await
    }

    /// The options every connection needs: create if missing, WAL, `synchronous = FULL` (see the module
    /// docs for why), a busy timeout for concurrent writers, foreign keys on.
    pub fn connect_options(path: impl AsRef<Path>) -> SqliteConnectOptions {
        SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
    }

    /// A store on `pool` (whose connections should use [`SqliteStore::connect_options`]); runs the
    /// migrations.
    pub async fn from_pool(pool: SqlitePool) -> Result<Self> {
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// Runs the pending migrations; idempotent.
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| Error::Storage(Cause::new(e)))
    }

    /// The underlying pool.
    pub const fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes the pool, waiting for connections in use to be returned. Everything that returned `Ok`
    /// was durable already; closing only releases the file.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// [`PayeeStore::save_receipt_if_higher`](crate::store::PayeeStore::save_receipt_if_higher) for many receipts in **one transaction**, so they share a
    /// single commit (one `fsync`). Returns, per receipt and in order, whether it was stored, as if saved
    /// one after the other (several receipts of one channel: the highest ends stored).
    ///
    /// All or nothing: durable together when it returns `Ok`; an invalid entry refuses the whole batch
    /// before anything is written.
    pub async fn save_receipts_if_higher(
        &self,
        receipts: &[(&Channel, Amount, CompactSignature)],
    ) -> Result<Vec<bool>> {
        let rows = receipts
            .iter()
            .map(|(channel, cumulative, signature)| {
                ReceiptRow::new(channel, *cumulative, signature)
            })
            .collect::<Result<Vec<_>>>()?;
        self.commit_receipts(rows.iter()).await
    }

    /// The record of `channel` that `query` selects (keyed as [`Key::bind`] binds), decoded by `record`.
    async fn load_one<T>(
        &self,
        channel: &Channel,
        query: &'static str,
        record: fn(&SqliteRow, Channel) -> Result<T>,
    ) -> Result<Option<T>> {
        let row = Key::of(channel)?
            .bind(sqlx::query(query))
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?;
        row.map(|row| record(&row, channel.clone())).transpose()
    }

    /// Every record `query` selects, each decoded by `record` with the channel its row names.
    async fn load_all<T>(
        &self,
        query: &'static str,
        record: fn(&SqliteRow, Channel) -> Result<T>,
    ) -> Result<Vec<T>> {
        sqlx::query(query)
            .fetch_all(&self.pool)
            .await
            .map_err(storage)?
            .iter()
            .map(|row| record(row, channel_of(row)?))
            .collect()
    }

    /// Upserts already-validated receipt rows in one transaction.
    pub(super) async fn commit_receipts<'a>(
        &self,
        rows: impl ExactSizeIterator<Item = &'a ReceiptRow>,
    ) -> Result<Vec<bool>> {
        let mut stored = Vec::with_capacity(rows.len());
        let mut tx = self.pool.begin().await.map_err(storage)?;
        for row in rows {
            stored.push(row.upsert(&mut *tx).await?);
        }
        tx.commit().await.map_err(storage)?;
        Ok(stored)
    }
}

/// A database failure, as the crate's error.
pub(super) fn storage(error: sqlx::Error) -> Error {
    Error::Storage(Cause::new(error))
}

pub(super) fn corrupt(what: &str) -> Error {
    Error::CorruptRecord(what.to_owned())
}
