//! [`Store`]: the relayer's database, SQLite (one node, embedded, the default) or PostgreSQL (several
//! nodes sharing one database), with the same schema, the same SQL and the same tests.
//!
//! **One SQL for both.** Statements use `$1, $2, …` placeholders, which both engines read, each in
//! ascending order of first use; they avoid engine-specific syntax except where a comment says so.
//! Every method is written once and compiled for each pool by `with_pool!`.
//!
//! **Durability.** SQLite runs in WAL mode with `synchronous = FULL`: every commit is on disk before it
//! returns (`NORMAL` would only sync at checkpoints, so a power loss could undo an acknowledged receipt).
//! PostgreSQL's default `synchronous_commit = on` gives the same. The relayer answers 2xx only after the
//! commit returned.
//!
//! **Monotonic receipts.** The receipt upsert is guarded (`WHERE stored < new`), so whatever the
//! interleaving of nodes or tasks, a channel's held receipt only ever rises.

mod channels;
mod codec;
mod indexer;
mod journal;
mod operations;
mod receipts;
mod settlement;

use std::{future::Future, path::Path, str::FromStr, time::Duration};

use sqlx::{
    Connection, PgConnection, PgPool, SqliteConnection, SqlitePool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

pub use channels::ChannelRecord;
pub use indexer::ChannelEffect;
pub use journal::OPERATION_JOB_BASE;
pub use operations::OperationRow;
pub use receipts::{ReceiptWrite, ReceiptWriter};
pub use settlement::{BatchEntry, SettlementCandidate, Unsettled};

use crate::{Error, Result};

/// The SQLite schema (`relayer/migrations/sqlite/`), embedded at build time.
pub static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// The PostgreSQL schema (`relayer/migrations/postgres/`), embedded at build time.
pub static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long an SQLite write waits for another writer's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a caller waits for a pooled connection before the store reports itself unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the first connection may take before the database counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Awaits one connection to `target`, closing it; its failure, or silence past [`CONNECT_TIMEOUT`], is
/// [`Error::DatabaseUnreachable`].
async fn reachable<C: Connection>(
    connect: impl Future<Output = sqlx::Result<C>>,
    target: String,
) -> Result<()> {
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .unwrap_or_else(|_| {
            Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
            )))
        });
    match connected {
        Ok(connection) => {
            let _ = connection.close().await;
            Ok(())
        }
        Err(source) => Err(Error::DatabaseUnreachable { target, source }),
    }
}

/// Which engine a [`Store`] runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite, one file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// `sqlite` or `postgres`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the store's concrete pool; the body is compiled once per engine.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// The relayer's database. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
}

impl Store {
    /// Connects to `url` (`sqlite://path` — created if missing — or `postgres://…`) with at most
    /// `max_connections` connections. Does not migrate: call [`migrate`](Self::migrate).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        Self::connect_with(url, max_connections, None).await
    }

    /// [`connect`](Self::connect), with `ca_file` as PostgreSQL's `sslrootcert` unless the URL names one
    /// (extra root certificates for `sslmode=verify-ca`/`verify-full`, beside the platform's).
    ///
    /// One connection is made first, alone, so that an unreachable database fails at once with
    /// [`Error::DatabaseUnreachable`] naming it and saying why (refused, authentication, TLS, …), rather
    /// than as a pool that timed out.
    pub async fn connect_with(
        url: &str,
        max_connections: u32,
        ca_file: Option<&Path>,
    ) -> Result<Self> {
        let max_connections = max_connections.max(1);
        let invalid = |e: sqlx::Error| Error::Config(format!("database.url: {e}"));
        let pool = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(invalid)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(BUSY_TIMEOUT)
                .foreign_keys(true);
            let target = format!("sqlite://{}", options.get_filename().display());
            reachable(SqliteConnection::connect_with(&options), target).await?;
            Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await?,
            )
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let mut options = PgConnectOptions::from_str(url).map_err(invalid)?;
            if let Some(ca_file) = ca_file
                && !url.contains("sslrootcert=")
            {
                options = options.ssl_root_cert(ca_file);
            }
            let target = format!(
                "postgres://{}@{}:{}/{}",
                options.get_username(),
                options.get_host(),
                options.get_port(),
                options.get_database().unwrap_or(options.get_username())
            );
            reachable(PgConnection::connect_with(&options), target).await?;
            Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await?,
            )
        } else {
            return Err(Error::Config(
                "database.url must start with sqlite: or postgres:".to_owned(),
            ));
        };
        Ok(Self { pool })
    }

    /// Connects and migrates.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self> {
        let store = Self::connect(url, max_connections).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Runs the pending migrations; idempotent, and safe for several nodes at once (sqlx takes a lock).
    pub async fn migrate(&self) -> Result<()> {
        match &self.pool {
            Pool::Sqlite(pool) => SQLITE_MIGRATOR.run(pool).await?,
            Pool::Postgres(pool) => POSTGRES_MIGRATOR.run(pool).await?,
        }
        Ok(())
    }

    /// The engine.
    pub const fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// The PostgreSQL pool, for leader election (advisory locks live on one connection, made with the
    /// pool's options: `pool.connect_options()`).
    pub const fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.pool {
            Pool::Postgres(pool) => Some(pool),
            Pool::Sqlite(_) => None,
        }
    }

    /// Whether the database answers (`SELECT 1`).
    pub async fn ping(&self) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Closes the pool, waiting for connections in use. Everything acknowledged was committed already.
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await);
    }

    /// A named value of the `relayer_meta` table.
    pub async fn meta(&self, name: &str) -> Result<Option<String>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar::<_, String>("SELECT value FROM relayer_meta WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Sets a named value of the `relayer_meta` table.
    pub async fn set_meta(&self, name: &str, value: &str) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO relayer_meta (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind(name)
            .bind(value)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The block the indexer has processed up to (its confirmed cursor), 0 before its first run.
    pub async fn indexed_block(&self) -> Result<u64> {
        match self.meta(INDEXED_BLOCK).await? {
            Some(text) => text
                .parse()
                .map_err(|_| Error::CorruptRecord("relayer_meta.indexed_block".to_owned())),
            None => Ok(0),
        }
    }

    /// Records the indexer's confirmed cursor.
    pub async fn set_indexed_block(&self, block: u64) -> Result<()> {
        self.set_meta(INDEXED_BLOCK, &block.to_string()).await
    }

    /// Unix time the leader last saw its indexer caught up with the chain (`None`: never), shared by
    /// every node on the database: what `/readyz` goes by.
    pub async fn indexer_caught_up_at(&self) -> Result<Option<u64>> {
        self.meta(INDEXER_CAUGHT_UP_AT)
            .await?
            .map(|text| {
                text.parse().map_err(|_| {
                    Error::CorruptRecord("relayer_meta.indexer_caught_up_at".to_owned())
                })
            })
            .transpose()
    }

    /// Records that the indexer is caught up at unix time `now`.
    pub async fn set_indexer_caught_up_at(&self, now: u64) -> Result<()> {
        self.set_meta(INDEXER_CAUGHT_UP_AT, &now.to_string()).await
    }
}

/// `relayer_meta` name of the indexer's confirmed cursor.
const INDEXED_BLOCK: &str = "indexed_block";
/// `relayer_meta` name of the last time the indexer was seen caught up.
const INDEXER_CAUGHT_UP_AT: &str = "indexer_caught_up_at";
