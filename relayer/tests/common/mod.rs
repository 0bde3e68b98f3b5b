//! Shared setup of this crate's integration tests: a store on each engine, fixtures.

#![allow(dead_code, missing_docs)]

use std::sync::Arc;

use piecepay_protocol::{
    CompactSignature, Receipt, SigningKey, SolStruct,
    alloy_primitives::{Address, aliases::U96},
    channel_id,
    relayer_api::ReceiptSubmission,
};
use piecepay_relayer::{
    Store,
    store::{BatchEntry, ChannelRecord, ReceiptWrite},
};
use piecepay_test_support::{TempDir, postgres::PostgresServer, sqlite_url, temp_dir};

pub(crate) use piecepay_test_support::keys::{
    TEST_CHAIN_ID as CHAIN_ID, TEST_ESCROW as ESCROW, key, test_domain,
};

/// What keeps a test store's database alive.
pub(crate) enum Guard {
    Sqlite(TempDir),
    Postgres(Arc<PostgresServer>),
}

impl Guard {
    /// A second connection to a SQLite store's file, behind the store's back (to lock or corrupt it).
    pub(crate) async fn sqlite_connection(&self) -> sqlx::SqliteConnection {
        use sqlx::Connection as _;
        let Self::Sqlite(dir) = self else {
            panic!("not a SQLite store")
        };
        sqlx::SqliteConnection::connect(&sqlite_url(dir.path(), "relayer.db"))
            .await
            .unwrap()
    }
}

pub(crate) async fn sqlite_store() -> (Store, Guard) {
    let dir = temp_dir();
    let store = Store::open(&sqlite_url(dir.path(), "relayer.db"), 4)
        .await
        .unwrap();
    (store, Guard::Sqlite(dir))
}

pub(crate) async fn postgres_store() -> (Store, Guard) {
    let server = PostgresServer::shared().unwrap();
    let url = server.fresh_database().unwrap();
    let store = Store::open(&url, 4).await.unwrap();
    (store, Guard::Postgres(server))
}

/// Defines `$name::sqlite` and `$name::postgres`, each running `$body(store)` on its engine.
#[macro_export]
macro_rules! both_engines {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (store, _guard) = $crate::common::sqlite_store().await;
                ($body)(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let (store, _guard) = $crate::common::postgres_store().await;
                ($body)(store).await;
            }
        }
    };
}

/// The fixture payer and payee of docs/relayer-api.md.
pub(crate) fn payer() -> SigningKey {
    key(1)
}

pub(crate) fn payee() -> SigningKey {
    key(2)
}

pub(crate) fn open_channel(
    payer: Address,
    payee: Address,
    salt: u32,
    deposit: u128,
) -> ChannelRecord {
    ChannelRecord::opened(
        channel_id(payer, payee, salt),
        payer,
        payee,
        salt,
        deposit,
        1,
    )
}

pub(crate) fn sign_receipt(
    payer: &SigningKey,
    payee: Address,
    salt: u32,
    cumulative: u128,
) -> (Receipt, CompactSignature) {
    let receipt = Receipt {
        payee,
        salt,
        cumulative: U96::from(cumulative),
    };
    let signature = payer
        .sign_digest(&receipt.eip712_signing_hash(&test_domain()))
        .unwrap();
    (receipt, signature)
}

/// The test payer's channel `salt` to the test payee (1,000 deposited), stored with a receipt for
/// `cumulative` received at `at`.
pub(crate) async fn channel_with_receipt(
    store: &Store,
    salt: u32,
    cumulative: u128,
    at: u64,
) -> ChannelRecord {
    let payee = payee().address();
    let channel = open_channel(payer().address(), payee, salt, 1_000);
    store.upsert_channels(&[channel]).await.unwrap();
    let write = ReceiptWrite {
        channel_id: channel.channel_id,
        cumulative,
        signature: sign_receipt(&payer(), payee, salt, cumulative).1,
    };
    store.raise_receipts(&[write], at).await.unwrap();
    channel
}

/// A settlement batch of `channel`'s receipt for `cumulative` (received at `since`) and its job, created
/// at `now` with `calldata`; the batch id (= the job's).
pub(crate) async fn settlement_job(
    store: &Store,
    channel: &ChannelRecord,
    cumulative: u128,
    since: u64,
    now: u64,
    calldata: &[u8],
) -> i64 {
    let entry = BatchEntry {
        channel_id: channel.channel_id,
        cumulative,
        pending_since: since,
    };
    store
        .create_settlement_job(&[entry], cumulative, now, calldata)
        .await
        .unwrap()
}

pub(crate) fn submission(
    payer: &SigningKey,
    payee: Address,
    salt: u32,
    cumulative: u128,
) -> ReceiptSubmission {
    let (receipt, signature) = sign_receipt(payer, payee, salt, cumulative);
    ReceiptSubmission::new(&receipt, &signature)
}

/// Settings for a node on `database_url` serving the fixture escrow; `extra` is appended TOML.
pub(crate) fn settings(database_url: &str, extra: &str) -> piecepay_relayer::Settings {
    let text = format!(
        "[chain]\nchain_id = {CHAIN_ID}\nescrow = \"{ESCROW}\"\n\
         [database]\nurl = \"{database_url}\"\n\
         [fees]\nmin_open = \"1000\"\nmin_top_up = \"1000\"\nmin_request_close = \"1000\"\n\
         min_withdraw = \"2000\"\n{extra}"
    );
    piecepay_relayer::Config::from_toml(&text, [])
        .unwrap()
        .resolve(|_| None)
        .unwrap()
}
