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

use piecepay_protocol::{
    CompactSignature, Receipt,
    alloy_primitives::{Address, B256, aliases::U96},
    domain,
};
use sqlx::{
    Row, SqliteExecutor, SqlitePool,
    migrate::Migrator,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
    },
};

use super::{PayeeRecord, PayeeStore, PayerRecord, PayerStore, SettlementProgress, Unsettled};
use crate::{
    Amount, Channel, CreditWindow, Error, MAX_AMOUNT, PayeeChannel, PayeeState, PayerChannel,
    PayerState, Result, SignedReceipt, Terms,
    payee::{Account, PayeeClose},
    payer::{PayerClose, PendingTopUp},
};

/// The store's migrations (`client-sdk/sdk/migrations/`), embedded at build time. Running them is
/// idempotent: applied ones are recorded in `_sqlx_migrations` and skipped.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long a write waits for another writer's lock before failing with [`Error::Storage`].
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections in the pool opened by [`SqliteStore::open`]: SQLite has one writer at a time, a few
/// connections let reads proceed beside it.
const MAX_CONNECTIONS: u32 = 4;

/// Both stores ([`PayeeStore`], [`PayerStore`]) on one SQLite database. Cheap to clone (a pool handle).
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
            .map_err(|e| Error::Storage(format!("migration failed: {e}")))
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

    /// [`PayeeStore::save_receipt_if_higher`] for many receipts in **one transaction**, so they share a
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
fn storage(error: sqlx::Error) -> Error {
    Error::Storage(error.to_string())
}

fn corrupt(what: &str) -> Error {
    Error::CorruptRecord(what.to_owned())
}

// --- encodings (see the migration's header) ------------------------------------------------------

/// An amount as the schema's 39-digit zero-padded decimal: any `u128` fits, and fixed width makes text
/// order numeric order.
fn amount(value: Amount) -> String {
    format!("{value:039}")
}

fn parse_amount(text: &str, column: &str) -> Result<Amount> {
    if text.len() != 39 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(corrupt(&format!("{column} is not a 39-digit amount")));
    }
    text.parse()
        .map_err(|_| corrupt(&format!("{column} exceeds u128")))
}

/// A receipt-range amount (the escrow's uint96) from its column.
fn parse_channel_amount(text: &str, column: &str) -> Result<Amount> {
    let value = parse_amount(text, column)?;
    if value > MAX_AMOUNT {
        return Err(corrupt(&format!("{column} exceeds the uint96 range")));
    }
    Ok(value)
}

/// A unix time as an SQLite integer; beyond `i64` is refused (it is beyond any escrow deadline too).
fn time(value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::DeadlineOutOfRange { deadline: value })
}

fn parse_time(value: i64, column: &str) -> Result<u64> {
    u64::try_from(value).map_err(|_| corrupt(&format!("{column} is negative")))
}

fn address(bytes: &[u8], column: &str) -> Result<Address> {
    Address::try_from(bytes).map_err(|_| corrupt(&format!("{column} is not 20 bytes")))
}

fn signature(bytes: &[u8]) -> Result<CompactSignature> {
    CompactSignature::from_slice(bytes).map_err(|_| corrupt("signature is not 64 bytes"))
}

fn salt(value: i64) -> Result<u32> {
    u32::try_from(value).map_err(|_| corrupt("salt is not a uint32"))
}

fn get<'r, T>(row: &'r SqliteRow, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(column)
        .map_err(|e| corrupt(&format!("{column}: {e}")))
}

fn get_amount(row: &SqliteRow, column: &str) -> Result<Amount> {
    parse_amount(&get::<String>(row, column)?, column)
}

fn get_opt_amount(row: &SqliteRow, column: &str) -> Result<Option<Amount>> {
    get::<Option<String>>(row, column)?
        .map(|text| parse_amount(&text, column))
        .transpose()
}

fn get_time(row: &SqliteRow, column: &str) -> Result<u64> {
    parse_time(get(row, column)?, column)
}

fn get_opt_time(row: &SqliteRow, column: &str) -> Result<Option<u64>> {
    get::<Option<i64>>(row, column)?
        .map(|value| parse_time(value, column))
        .transpose()
}

fn required<T>(value: Option<T>, what: &str) -> Result<T> {
    value.ok_or_else(|| corrupt(&format!("{what} missing")))
}

/// A signed receipt of `channel` for `cumulative`, as the escrow would read it.
fn signed_receipt(
    channel: &Channel,
    cumulative: Amount,
    signature: CompactSignature,
) -> Result<SignedReceipt> {
    Ok(SignedReceipt {
        message: Receipt {
            payee: channel.payee(),
            salt: channel.salt(),
            cumulative: U96::try_from(cumulative)
                .map_err(|_| corrupt("cumulative exceeds the uint96 range"))?,
        },
        signature,
    })
}

/// Where a channel's rows live: its escrow's domain and its id.
#[derive(Clone, Copy, Debug)]
pub(super) struct Key {
    chain_id: i64,
    escrow: Address,
    id: B256,
}

impl Key {
    /// The key of `channel`, whose domain must be a piecepay escrow's (so the chain id and escrow
    /// address rebuild it exactly).
    fn of(channel: &Channel) -> Result<Self> {
        let d = channel.domain();
        let (Some(chain_id), Some(escrow)) = (d.chain_id, d.verifying_contract) else {
            return Err(Error::InvalidChannel(
                "the domain lacks a chain id or an escrow address",
            ));
        };
        let chain_id = u64::try_from(chain_id)
            .ok()
            .filter(|id| i64::try_from(*id).is_ok())
            .ok_or(Error::InvalidChannel("chain id above 2^63 - 1"))?;
        if *d != domain(chain_id, escrow) {
            return Err(Error::InvalidChannel("not a piecepay escrow domain"));
        }
        Ok(Self {
            chain_id: chain_id.cast_signed(),
            escrow,
            id: channel.id(),
        })
    }

    /// Binds the key as the first three parameters (`chain_id`, `escrow`, `channel_id`).
    fn bind<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
        query
            .bind(self.chain_id)
            .bind(self.escrow.as_slice())
            .bind(self.id.as_slice())
    }
}

/// The channel of a stored row, rebuilt from its domain columns and parties and checked against its id.
fn channel_of(row: &SqliteRow) -> Result<Channel> {
    let chain_id = parse_time(get(row, "chain_id")?, "chain_id")?;
    let escrow = address(&get::<Vec<u8>>(row, "escrow")?, "escrow")?;
    let payer = address(&get::<Vec<u8>>(row, "payer")?, "payer")?;
    let payee = address(&get::<Vec<u8>>(row, "payee")?, "payee")?;
    let channel = Channel::new(
        domain(chain_id, escrow),
        payer,
        payee,
        salt(get(row, "salt")?)?,
    )
    .map_err(|e| corrupt(&format!("channel: {e}")))?;
    if channel.id().as_slice() != get::<Vec<u8>>(row, "channel_id")?.as_slice() {
        return Err(corrupt("channel_id does not match payer, payee and salt"));
    }
    Ok(channel)
}

fn terms_of(row: &SqliteRow) -> Result<Terms> {
    let price = get_amount(row, "price")?;
    let credit = get_amount(row, "credit")?;
    let credit = match get::<String>(row, "credit_kind")?.as_str() {
        "pieces" => CreditWindow::Pieces(
            u32::try_from(credit).map_err(|_| corrupt("credit pieces exceed u32"))?,
        ),
        "amount" => CreditWindow::Amount(credit),
        _ => return Err(corrupt("unknown credit_kind")),
    };
    Terms::new(price, credit).map_err(|e| corrupt(&format!("terms: {e}")))
}

/// `(credit_kind, credit)` columns of `terms`.
fn credit_columns(terms: &Terms) -> (&'static str, String) {
    match terms.credit() {
        CreditWindow::Pieces(pieces) => ("pieces", amount(Amount::from(pieces))),
        CreditWindow::Amount(value) => ("amount", amount(value)),
    }
}

// --- payee ---------------------------------------------------------------------------------------

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
pub(super) struct ReceiptRow {
    key: Key,
    payee: Address,
    salt: u32,
    cumulative: String,
    signature: [u8; CompactSignature::LEN],
}

impl ReceiptRow {
    /// Checks and encodes a receipt of `channel`; nothing is written.
    pub(super) fn new(
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

    async fn upsert<'e>(&self, executor: impl SqliteExecutor<'e>) -> Result<bool> {
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

/// A payee record from a [`PAYEE_ONE`] / [`PAYEE_ALL`] row; `channel` when the caller has it already.
fn payee_record(row: &SqliteRow, channel: Option<&Channel>) -> Result<PayeeRecord> {
    let channel = match channel {
        Some(channel) => channel.clone(),
        None => channel_of(row)?,
    };
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
        let key = Key::of(channel)?;
        let row = key
            .bind(sqlx::query(PAYEE_ONE))
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?;
        row.map(|row| payee_record(&row, Some(channel))).transpose()
    }

    async fn payee_channels(&self) -> Result<Vec<PayeeRecord>> {
        sqlx::query(PAYEE_ALL)
            .fetch_all(&self.pool)
            .await
            .map_err(storage)?
            .iter()
            .map(|row| payee_record(row, None))
            .collect()
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

// --- payer ---------------------------------------------------------------------------------------

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

fn payer_record(row: &SqliteRow, channel: Option<&Channel>) -> Result<PayerRecord> {
    let channel = match channel {
        Some(channel) => channel.clone(),
        None => channel_of(row)?,
    };
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
            .execute(&self.pool)
            .await
            .map_err(storage)?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        let Some(row) = key
            .bind(sqlx::query(RESERVE_REFUSAL))
            .fetch_optional(&self.pool)
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

    async fn signed_cumulative(&self, channel: &Channel) -> Result<Option<Amount>> {
        self.reserved(&Key::of(channel)?).await
    }

    async fn load_payer(&self, channel: &Channel) -> Result<Option<PayerRecord>> {
        let key = Key::of(channel)?;
        let row = key
            .bind(sqlx::query(PAYER_ONE))
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?;
        row.map(|row| payer_record(&row, Some(channel))).transpose()
    }

    async fn payer_channels(&self) -> Result<Vec<PayerRecord>> {
        sqlx::query(PAYER_ALL)
            .fetch_all(&self.pool)
            .await
            .map_err(storage)?
            .iter()
            .map(|row| payer_record(row, None))
            .collect()
    }
}
