//! The highest receipt per channel: what ingest reads (snapshots) and raises.
//!
//! [`Store::snapshots`] and [`Store::raise_receipts`] take any pooled connection; the ingest committer
//! uses a [`ReceiptWriter`] instead, which keeps one connection (its page cache stays warm) and can tell
//! whether anyone else committed since it last looked, so that the committer may cache what it read.

use std::collections::{HashMap, HashSet};

use piecepay_protocol::{CompactSignature, alloy_primitives::B256, relayer_api::ChannelSnapshot};

use sqlx::{AssertSqlSafe, Postgres, Sqlite, pool::PoolConnection};

// Dynamic SQL here only varies in its count of placeholders; values are always bound.
#[cfg(test)]
use super::with_pool;
use super::{Backend, Pool, Store, codec};
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

/// Page cache of the committer's SQLite connection, in KiB (SQLite's default is 2 MiB per
/// connection): a commit touches pages all over the `channels` and `receipts` b-trees, and rereading
/// them from the OS costs a system call each.
const WRITER_CACHE_KIB: u32 = 64 * 1024;

type SnapshotRow = (Vec<u8>, String, String, String, Option<i64>, Option<String>);

/// A connection taken from the store's pool, of either engine.
#[derive(Debug)]
enum Conn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

/// Runs `$body` with `$conn` bound to the concrete connection (`&mut SqliteConnection` or
/// `&mut PgConnection`); the body is compiled once per engine.
macro_rules! with_conn {
    ($held:expr, |$conn:ident| $body:expr) => {
        match $held {
            Conn::Sqlite(held) => {
                let $conn = &mut **held;
                $body
            }
            Conn::Postgres(held) => {
                let $conn = &mut **held;
                $body
            }
        }
    };
}

impl Conn {
    async fn acquire(store: &Store) -> Result<Self> {
        Ok(match &store.pool {
            Pool::Sqlite(pool) => Self::Sqlite(pool.acquire().await?),
            Pool::Postgres(pool) => Self::Postgres(pool.acquire().await?),
        })
    }

    /// Closes the connection instead of returning it to the pool (after an error its state is unknown).
    fn discard(self) {
        match self {
            Self::Sqlite(mut conn) => conn.close_on_drop(),
            Self::Postgres(mut conn) => conn.close_on_drop(),
        }
    }
}

impl Store {
    /// The snapshot ([`ChannelSnapshot`]) of each channel in `ids` that is indexed; unknown channels are
    /// absent from the map.
    pub async fn snapshots(&self, ids: &[B256]) -> Result<HashMap<B256, ChannelSnapshot>> {
        read_snapshots(&mut Conn::acquire(self).await?, ids).await
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
        raise(&mut Conn::acquire(self).await?, writes, now).await
    }

    /// A [`ReceiptWriter`] on this store (it takes its connection on first use).
    pub fn receipt_writer(&self) -> ReceiptWriter {
        // Keeping a connection only pays on SQLite (it is what makes `data_version` meaningful), and
        // is only harmless when the pool has another one for everything else.
        let keep = match &self.pool {
            Pool::Sqlite(pool) => pool.options().get_max_connections() > 1,
            Pool::Postgres(_) => false,
        };
        ReceiptWriter {
            store: self.clone(),
            keep,
            conn: None,
            data_version: None,
        }
    }
}

/// [`Store::snapshots`] and [`Store::raise_receipts`] for the ingest committer, on SQLite on one
/// connection kept across calls (unless the pool has only one). After an error that connection is
/// closed and the next call takes a new one.
#[derive(Debug)]
pub struct ReceiptWriter {
    store: Store,
    /// Whether to keep `conn` between calls.
    keep: bool,
    conn: Option<Conn>,
    /// SQLite's `PRAGMA data_version` of `conn` when last checked.
    data_version: Option<i64>,
}

impl ReceiptWriter {
    /// Whether rows read through this writer may have been changed by someone else since the previous
    /// call. On SQLite: whether any other connection (the indexer, the batcher, another process)
    /// committed since, by `PRAGMA data_version`, which only other connections' commits change; true
    /// on the first call and after an error. On PostgreSQL (other nodes write without this node
    /// noticing), and on a pool of one connection (none is kept): always true.
    pub async fn others_committed(&mut self) -> Result<bool> {
        if !self.keep {
            return Ok(true);
        }
        let previous = self.data_version.take();
        let current = self
            .with(async |conn| match conn {
                Conn::Sqlite(conn) => Ok(Some(
                    sqlx::query_scalar::<_, i64>("PRAGMA data_version")
                        .fetch_one(&mut **conn)
                        .await?,
                )),
                Conn::Postgres(_) => Ok(None),
            })
            .await?;
        self.data_version = current;
        Ok(current.is_none() || previous != current)
    }

    /// Resolves once the store's pool starts closing. Closing waits for every connection, the kept
    /// one included: [`release`](Self::release) it then.
    pub fn closing(&self) -> impl Future<Output = ()> + Send + 'static {
        match &self.store.pool {
            Pool::Sqlite(pool) => pool.close_event(),
            Pool::Postgres(pool) => pool.close_event(),
        }
    }

    /// Gives the kept connection back to the pool; the next call takes one again (and
    /// [`others_committed`](Self::others_committed) then answers true).
    pub fn release(&mut self) {
        self.conn = None;
        self.data_version = None;
    }

    /// [`Store::snapshots`] on this writer's connection.
    pub async fn snapshots(&mut self, ids: &[B256]) -> Result<HashMap<B256, ChannelSnapshot>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        self.with(async |conn| read_snapshots(conn, ids).await)
            .await
    }

    /// [`Store::raise_receipts`] on this writer's connection.
    pub async fn raise_receipts(&mut self, writes: &[ReceiptWrite], now: u64) -> Result<Vec<B256>> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        self.with(async |conn| raise(conn, writes, now).await).await
    }

    /// Runs `f` on the connection, taking one first if needed; on error closes it and forgets the
    /// data version (whatever was read through it is then suspect).
    async fn with<T>(&mut self, f: impl AsyncFnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        if !self.keep {
            return f(&mut Conn::acquire(&self.store).await?).await;
        }
        if self.conn.is_none() {
            let mut conn = Conn::acquire(&self.store).await?;
            if let Conn::Sqlite(sqlite) = &mut conn {
                let pragma = format!("PRAGMA cache_size = -{WRITER_CACHE_KIB}");
                sqlx::query(AssertSqlSafe(pragma))
                    .execute(&mut **sqlite)
                    .await?;
            }
            self.conn = Some(conn);
        }
        let conn = self.conn.as_mut().expect("taken above");
        let result = f(conn).await;
        if result.is_err() {
            self.data_version = None;
            if let Some(conn) = self.conn.take() {
                conn.discard();
            }
        }
        result
    }
}

async fn read_snapshots(conn: &mut Conn, ids: &[B256]) -> Result<HashMap<B256, ChannelSnapshot>> {
    let backend = conn.backend();
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(READ_CHUNK) {
        let sql = format!(
            "SELECT c.channel_id, c.state, c.deposit, c.settled, c.closes_at, r.cumulative \
             FROM channels c LEFT JOIN receipts r ON r.channel_id = c.channel_id \
             WHERE c.channel_id IN ({})",
            placeholders(backend, 1, chunk.len())
        );
        let rows: Vec<SnapshotRow> = with_conn!(conn, |conn| {
            let mut query = sqlx::query_as(AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.as_slice());
            }
            query.fetch_all(conn).await?
        });
        for (id, state, deposit, settled, closes_at, held) in rows {
            let (state, deposit, settled, closes_at) =
                codec::parse_channel_state(&state, &deposit, &settled, closes_at)?;
            let snapshot = ChannelSnapshot {
                state,
                deposit,
                settled,
                closes_at,
                held: held
                    .map(|h| codec::parse_amount(&h, "receipts.cumulative"))
                    .transpose()?,
            };
            out.insert(codec::b256(&id, "channels.channel_id")?, snapshot);
        }
    }
    Ok(out)
}

async fn raise(conn: &mut Conn, writes: &[ReceiptWrite], now: u64) -> Result<Vec<B256>> {
    let backend = conn.backend();
    let mut raised = HashSet::with_capacity(writes.len());
    // Raised rows that were already in a settlement batch (`pending_since` NULL): pending again.
    let mut repend = Vec::new();
    with_conn!(conn, |conn| {
        let mut tx = sqlx::Connection::begin(conn).await?;
        for chunk in writes.chunks(WRITE_CHUNK) {
            let values = (0..chunk.len())
                .map(|i| format!("({})", placeholders(backend, i * 6 + 1, 6)))
                .collect::<Vec<_>>()
                .join(", ");
            // `pending_since` is not in the SET list: naming it, even to keep its value, makes SQLite
            // rewrite its index entry, a third of the upsert's cost. Rows it must change (NULL) are
            // returned and set below.
            let sql = format!(
                "INSERT INTO receipts (channel_id, cumulative, r, vs, received_at, pending_since) \
                 VALUES {values} \
                 ON CONFLICT (channel_id) DO UPDATE SET cumulative = excluded.cumulative, \
                 r = excluded.r, vs = excluded.vs, received_at = excluded.received_at \
                 WHERE receipts.cumulative < excluded.cumulative \
                 RETURNING channel_id, pending_since"
            );
            let mut query = sqlx::query_as::<_, (Vec<u8>, Option<i64>)>(AssertSqlSafe(sql));
            for w in chunk {
                query = query
                    .bind(w.channel_id.as_slice())
                    .bind(codec::amount(w.cumulative))
                    .bind(w.signature.r.as_slice())
                    .bind(w.signature.vs.as_slice())
                    .bind(codec::int(now)?)
                    .bind(codec::int(now)?);
            }
            for (id, pending_since) in query.fetch_all(&mut *tx).await? {
                let id = codec::b256(&id, "receipts.channel_id")?;
                if pending_since.is_none() {
                    repend.push(id);
                }
                raised.insert(id);
            }
        }
        for chunk in repend.chunks(READ_CHUNK) {
            let sql = format!(
                "UPDATE receipts SET pending_since = {} WHERE pending_since IS NULL \
                 AND channel_id IN ({})",
                placeholders(backend, 1, 1),
                placeholders(backend, 2, chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(codec::int(now)?);
            for id in chunk {
                query = query.bind(id.as_slice());
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    Ok(writes
        .iter()
        .map(|w| w.channel_id)
        .filter(|id| !raised.contains(id))
        .collect())
}

impl Conn {
    const fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
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

#[cfg(test)]
mod tests {
    use piecepay_protocol::relayer_api::ChannelState;
    use piecepay_test_support::{postgres::PostgresServer, sqlite_url, temp_dir};

    use super::*;
    use crate::store::ChannelRecord;

    /// Raises and `pending_since` as a settlement batch leaves it (NULL), through a kept writer.
    async fn pending_since_follows_batches(store: Store) {
        let id = B256::repeat_byte(9);
        store
            .upsert_channels(&[ChannelRecord {
                channel_id: id,
                payer: Default::default(),
                payee: Default::default(),
                salt: 0,
                state: ChannelState::Open,
                deposit: 1_000,
                settled: 0,
                closes_at: None,
                updated_block: 1,
            }])
            .await
            .unwrap();
        let mut writer = store.receipt_writer();
        let write = |cumulative| ReceiptWrite {
            channel_id: id,
            cumulative,
            signature: CompactSignature::new(B256::repeat_byte(1), B256::repeat_byte(2)),
        };
        // Raises the held receipt to `cumulative` at `now`; returns the channels not raised.
        let mut raise = async |cumulative, now| {
            let writes = [write(cumulative)];
            writer.raise_receipts(&writes, now).await.unwrap()
        };
        let pending = async || -> Option<i64> {
            with_pool!(store, |pool| {
                sqlx::query_scalar("SELECT pending_since FROM receipts WHERE channel_id = $1")
                    .bind(id.as_slice())
                    .fetch_one(pool)
                    .await
                    .unwrap()
            })
        };
        assert!(raise(10, 100).await.is_empty());
        assert_eq!(pending().await, Some(100));
        // Still waiting for a batch: the oldest arrival stays.
        assert!(raise(20, 200).await.is_empty());
        assert_eq!(pending().await, Some(100));
        // Put in a batch, then raised: pending again from this raise.
        with_pool!(store, |pool| {
            sqlx::query("UPDATE receipts SET pending_since = NULL")
                .execute(pool)
                .await
                .unwrap();
        });
        assert!(raise(30, 300).await.is_empty());
        assert_eq!(pending().await, Some(300));
        // Not raised (equal): nothing changes, and the channel is reported.
        assert_eq!(raise(30, 400).await, vec![id]);
        assert_eq!(pending().await, Some(300));
        assert_eq!(writer.snapshots(&[id]).await.unwrap()[&id].held, Some(30));
    }

    #[tokio::test]
    async fn pending_since_follows_batches_on_sqlite() {
        let dir = temp_dir();
        let store = Store::open(&sqlite_url(dir.path(), "relayer.db"), 4)
            .await
            .unwrap();
        pending_since_follows_batches(store).await;
    }

    #[tokio::test]
    async fn pending_since_follows_batches_on_postgres() {
        let server = PostgresServer::shared().unwrap();
        let store = Store::open(&server.fresh_database().unwrap(), 4)
            .await
            .unwrap();
        pending_since_follows_batches(store).await;
    }
}
