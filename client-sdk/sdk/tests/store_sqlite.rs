//! The SQLite store against real database files in a temporary directory: receipts only ever rise (under
//! concurrent writers, across restarts, for any interleaving), a payer can never get a cumulative at or
//! below the stored one, migrations are idempotent, and bad input is an error, never a panic.

#![cfg(feature = "sqlite")]

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
};

use piecepay_sdk::{
    Amount, Channel, CreditWindow, Error, MAX_AMOUNT, PayeeChannel, PayeeState, PayerChannel,
    PayerConfig, PayerState, Payment, Terms,
    payee::{SettlePolicy, SettleRoute},
    protocol::{
        CompactSignature, Eip712Domain, Receipt, SolStruct,
        alloy_primitives::{Address, B256, U256, aliases::U96},
        domain,
    },
    store::{
        GroupCommit, MIGRATOR, PayeeStore, PayerStore, SettlementProgress, SqliteStore, pay_durably,
    },
};
use piecepay_test_support::keys::{key, test_domain};
use piecepay_test_support::{TempDir, temp_dir};
use proptest::{
    collection::vec,
    prelude::*,
    test_runner::{Config, TestRunner},
};

const T0: u64 = 1_700_000_000;
const PRICE: Amount = 10;

/// The store's database file in `dir`.
fn db(dir: &TempDir) -> PathBuf {
    dir.path().join("store.db")
}

fn channel(salt: u32) -> Channel {
    Channel::new(test_domain(), key(1).address(), key(2).address(), salt).unwrap()
}

fn terms() -> Terms {
    Terms::new(PRICE, CreditWindow::Pieces(2)).unwrap()
}

/// A receipt of `channel` for `cumulative`, really signed by the payer (key 1).
fn signed(channel: &Channel, cumulative: Amount) -> (Receipt, CompactSignature) {
    let receipt = Receipt {
        payee: channel.payee(),
        salt: channel.salt(),
        cumulative: U96::from(cumulative),
    };
    let signature = key(1)
        .sign_digest(&receipt.eip712_signing_hash(channel.domain()))
        .unwrap();
    (receipt, signature)
}

/// A stand-in signature that names its cumulative, so a test can tell which save a stored row came
/// from. The payee store does not verify signatures (the state machine did).
fn tag(cumulative: Amount) -> CompactSignature {
    CompactSignature::new(B256::from(U256::from(cumulative)), B256::repeat_byte(0x5a))
}

/// A payee channel, open with `deposit`.
fn open_payee(channel: &Channel, deposit: Amount) -> PayeeChannel {
    let mut payee = PayeeChannel::new(channel.clone(), terms(), T0);
    payee.on_channel_opened(deposit, T0).unwrap();
    payee
}

/// A payer channel, open with `deposit`, saved at every step as the store's docs ask.
async fn open_payer(store: &SqliteStore, channel: &Channel, deposit: Amount) -> PayerChannel {
    let mut payer =
        PayerChannel::new(key(1), channel.clone(), terms(), PayerConfig::default(), T0).unwrap();
    store.save_payer(&payer).await.unwrap();
    payer.open(deposit, 0, T0).unwrap();
    store.save_payer(&payer).await.unwrap();
    payer.on_opened(deposit, T0).unwrap();
    store.save_payer(&payer).await.unwrap();
    payer
}

fn paid(payment: Payment) -> Amount {
    match payment {
        Payment::Paid { receipt, .. } => receipt.cumulative(),
        Payment::TopUpNeeded { .. } => panic!("expected a payment"),
    }
}

/// A permutation of `1..=n` that differs per `seed` (a small LCG shuffle; no RNG crate needed).
fn shuffled(n: u128, seed: u64) -> Vec<Amount> {
    let mut values: Vec<Amount> = (1..=n).collect();
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    for i in (1..values.len()).rev() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        values.swap(i, (state >> 33) as usize % (i + 1));
    }
    values
}

// --- payee -----------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_only_rise_under_concurrent_writers() {
    let dir = temp_dir();
    // Two pools on one file, as two processes would have, plus a group commit over one of them.
    let first = SqliteStore::open(db(&dir)).await.unwrap();
    let second = SqliteStore::open(db(&dir)).await.unwrap();
    let group = GroupCommit::spawn(first.clone(), 16);
    let ch = channel(1);
    const N: u128 = 60;

    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..6u64 {
        let (first, second, group, ch) = (first.clone(), second.clone(), group.clone(), ch.clone());
        tasks.spawn(async move {
            let mut stored_max = Vec::new();
            for value in shuffled(N, writer) {
                let stored = match writer % 3 {
                    0 => first.save_receipt_if_higher(&ch, value, &tag(value)).await,
                    1 => second.save_receipt_if_higher(&ch, value, &tag(value)).await,
                    _ => group.save_receipt_if_higher(&ch, value, &tag(value)).await,
                }
                .unwrap();
                if value == N {
                    stored_max.push(stored);
                }
            }
            stored_max
        });
    }
    let mut max_saved = 0;
    while let Some(stored_max) = tasks.join_next().await {
        max_saved += stored_max.unwrap().into_iter().filter(|s| *s).count();
    }
    assert_eq!(max_saved, 1, "exactly one save of the maximum stored it");
    for store in [&first, &second] {
        let latest = store.latest_receipt(&ch).await.unwrap().unwrap();
        assert_eq!(latest.cumulative(), N);
        assert_eq!(latest.signature, tag(N), "the signature is the maximum's");
        assert_eq!((latest.message.payee, latest.message.salt), (ch.payee(), 1));
    }
    assert!(
        !first.save_receipt_if_higher(&ch, N, &tag(N)).await.unwrap(),
        "a replay stores nothing"
    );
}

#[tokio::test]
async fn highest_receipt_survives_restart() {
    let dir = temp_dir();
    let (ch, other) = (channel(1), channel(2));
    let store = SqliteStore::open(db(&dir)).await.unwrap();
    for (value, expected) in [(10, true), (30, true), (20, false), (30, false)] {
        let stored = store
            .save_receipt_if_higher(&ch, value, &tag(value))
            .await
            .unwrap();
        assert_eq!(stored, expected, "save of {value}");
    }
    assert!(
        store
            .save_receipt_if_higher(&other, 5, &tag(5))
            .await
            .unwrap()
    );
    store.close().await;

    let store = SqliteStore::open(db(&dir)).await.unwrap();
    let latest = store.latest_receipt(&ch).await.unwrap().unwrap();
    assert_eq!((latest.cumulative(), latest.signature), (30, tag(30)));
    assert_eq!(
        store
            .latest_receipt(&other)
            .await
            .unwrap()
            .unwrap()
            .cumulative(),
        5
    );
    assert_eq!(store.latest_receipt(&channel(3)).await.unwrap(), None);
    assert!(
        !store
            .save_receipt_if_higher(&ch, 29, &tag(29))
            .await
            .unwrap()
    );
    assert!(
        store
            .save_receipt_if_higher(&ch, MAX_AMOUNT, &tag(MAX_AMOUNT))
            .await
            .unwrap(),
        "the whole uint96 range is stored exactly"
    );
    store.close().await;
    let store = SqliteStore::open(db(&dir)).await.unwrap();
    assert_eq!(
        store
            .latest_receipt(&ch)
            .await
            .unwrap()
            .unwrap()
            .cumulative(),
        MAX_AMOUNT
    );
}

#[tokio::test]
async fn a_payee_channel_restores_with_its_highest_receipt() {
    let dir = temp_dir();
    let ch = channel(7);
    let store = SqliteStore::open(db(&dir)).await.unwrap();
    let mut payee = open_payee(&ch, 100);
    store.save_payee(&payee).await.unwrap();

    // Serve and accept as a payee does: accepted receipts go through the hot path only.
    for (i, cumulative) in [10u128, 20, 30].into_iter().enumerate() {
        let _ = payee.on_piece_served(T0 + i as u64).unwrap();
        store.save_payee(&payee).await.unwrap();
        let (receipt, signature) = signed(&ch, cumulative);
        let accepted = payee
            .on_receipt(&receipt, &signature, T0 + i as u64)
            .unwrap();
        assert!(
            store
                .save_receipt_if_higher(&ch, accepted.cumulative, &signature)
                .await
                .unwrap()
        );
    }
    // The last snapshot was taken before the last receipt: the store still restores the receipt.
    payee
        .on_settlement_sent(SettleRoute::Relayer, 10, T0 + 5)
        .unwrap();
    store
        .record_settlement(&ch, SettlementProgress::sent(SettleRoute::Relayer, 10))
        .await
        .unwrap();
    store
        .record_settlement(&ch, SettlementProgress::Settled(10))
        .await
        .unwrap();
    store
        .record_settlement(&ch, SettlementProgress::Settled(5))
        .await
        .unwrap();
    store.close().await;

    let store = SqliteStore::open(db(&dir)).await.unwrap();
    let record = store.load_payee(&ch).await.unwrap().unwrap();
    let restored = record.restore().unwrap();
    assert_eq!(restored.latest_receipt().unwrap().cumulative(), 30);
    let account = restored.state().account().unwrap();
    assert_eq!(
        (account.deposit, account.settled, account.handed),
        (100, 10, 10),
        "settlement progress only rises"
    );
    assert!(
        account.pending_since.is_some(),
        "unsent value is dated, so age-based settlement fires"
    );
    let policy = SettlePolicy {
        min_value: 20,
        max_age: 3_600,
        relayer_margin: 600,
        self_settle_margin: 60,
        resend_after: 900,
    };
    assert_eq!(
        restored
            .settlement(&policy, T0 + 10)
            .map(|s| s.receipt.cumulative()),
        Some(30)
    );
    assert_eq!(store.payee_channels().await.unwrap().len(), 1);

    // A stale snapshot never lowers the receipt or the settlement progress.
    let stale = open_payee(&ch, 100);
    store.save_payee(&stale).await.unwrap();
    let again = store.load_payee(&ch).await.unwrap().unwrap();
    let account = again.state.account().unwrap();
    assert_eq!(account.receipt.as_ref().unwrap().cumulative(), 30);
    assert_eq!((account.settled, account.handed), (10, 10));

    // Closing and closed states round-trip.
    let mut closing = restored.clone();
    closing.on_close_requested(T0 + 900, T0 + 20).unwrap();
    store.save_payee(&closing).await.unwrap();
    let back = store
        .load_payee(&ch)
        .await
        .unwrap()
        .unwrap()
        .restore()
        .unwrap();
    assert_eq!(back.state(), closing.state());
    closing.on_closed(30, T0 + 30).unwrap();
    store.save_payee(&closing).await.unwrap();
    let back = store.load_payee(&ch).await.unwrap().unwrap();
    assert_eq!(
        back.state,
        PayeeState::Closed {
            deposit: 100,
            settled: 30
        }
    );
}

#[tokio::test]
async fn unsettled_lists_what_the_chain_has_not_settled() {
    let dir = temp_dir();
    let store = SqliteStore::open(db(&dir)).await.unwrap();
    let (a, b, c, orphan) = (channel(1), channel(2), channel(3), channel(4));
    for ch in [&a, &b, &c] {
        store.save_payee(&open_payee(ch, 1_000)).await.unwrap();
    }
    for (ch, value) in [(&a, 50), (&b, 70), (&c, 90), (&orphan, 5)] {
        store
            .save_receipt_if_higher(ch, value, &tag(value))
            .await
            .unwrap();
    }
    store
        .record_settlement(&b, SettlementProgress::Settled(70))
        .await
        .unwrap();
    store
        .record_settlement(&a, SettlementProgress::Handed(50))
        .await
        .unwrap();
    let mut closed = open_payee(&c, 1_000);
    closed.on_closed(0, T0).unwrap();
    store.save_payee(&closed).await.unwrap();

    let mut unsettled = store.unsettled().await.unwrap();
    unsettled.sort_by_key(|u| u.receipt.cumulative());
    let summary: Vec<_> = unsettled
        .iter()
        .map(|u| (u.channel_id, u.receipt.cumulative(), u.settled, u.handed))
        .collect();
    assert_eq!(
        summary,
        vec![(orphan.id(), 5, 0, 0), (a.id(), 50, 0, 50)],
        "b is settled, c is closed; a receipt without a saved channel is listed"
    );
    let u = &unsettled[1];
    assert_eq!((u.chain_id, u.escrow), (31_337, Address::repeat_byte(0xe5)));
    assert_eq!(u.receipt.signature, tag(50));
}

// --- payer -----------------------------------------------------------------------------------------

#[tokio::test]
async fn payer_never_gets_a_cumulative_at_or_below_the_stored_one() {
    let dir = temp_dir();
    let ch = channel(9);
    let store = SqliteStore::open(db(&dir)).await.unwrap();
    let mut payer = open_payer(&store, &ch, 1_000).await;
    let behind = payer.clone();

    for expected in [10, 20, 30] {
        assert_eq!(
            paid(pay_durably(&store, &mut payer, PRICE, T0).await.unwrap()),
            expected
        );
    }
    assert_eq!(store.signed_cumulative(&ch).await.unwrap(), Some(30));

    // The very receipt already reserved may be reserved again (a retry whose outcome was lost); signing
    // is deterministic, so it is byte-identical to the one that may have left.
    let (_, same) = signed(&ch, 30);
    assert_eq!(store.reserve_signature(&ch, 30, &same).await, Ok(()));
    // A lower cumulative is refused, however it is signed.
    for cumulative in [20, 1] {
        let (_, signature) = signed(&ch, cumulative);
        assert_eq!(
            store.reserve_signature(&ch, cumulative, &signature).await,
            Err(Error::NonIncreasingCumulative {
                cumulative,
                latest: 30
            })
        );
    }
    // A machine behind the store can neither reserve nor overwrite the store with its snapshot.
    let mut behind = behind;
    let Payment::Paid { receipt, .. } = behind.pay(PRICE, T0).unwrap() else {
        panic!()
    };
    assert_eq!(
        store
            .reserve_signature(&ch, receipt.cumulative(), &receipt.signature)
            .await
            .unwrap_err()
            .code(),
        "non_increasing_cumulative"
    );
    assert_eq!(
        store.save_payer(&behind).await,
        Err(Error::NonIncreasingCumulative {
            cumulative: 10,
            latest: 30
        })
    );
    assert_eq!(store.signed_cumulative(&ch).await.unwrap(), Some(30));

    // Crash: the last snapshot is at 0 (payments were only reserved). The restart resumes above 30.
    drop(payer);
    store.close().await;
    let store = SqliteStore::open(db(&dir)).await.unwrap();
    let record = store.load_payer(&ch).await.unwrap().unwrap();
    assert_eq!(record.state.cumulative(), 30);
    let mut payer = record.restore(key(1), PayerConfig::default()).unwrap();
    assert_eq!(
        paid(pay_durably(&store, &mut payer, PRICE, T0).await.unwrap()),
        40
    );

    // Two restored machines racing for the same next cumulative sign the same bytes: whichever gets it
    // out, only one receipt at 50 exists.
    let record = store.load_payer(&ch).await.unwrap().unwrap();
    let (mut one, mut two) = (
        record
            .clone()
            .restore(key(1), PayerConfig::default())
            .unwrap(),
        record.restore(key(1), PayerConfig::default()).unwrap(),
    );
    let (a, b) = tokio::join!(
        pay_durably(&store, &mut one, PRICE, T0),
        pay_durably(&store, &mut two, PRICE, T0)
    );
    let (Payment::Paid { receipt: a, .. }, Payment::Paid { receipt: b, .. }) =
        (a.unwrap(), b.unwrap())
    else {
        panic!("both paid")
    };
    assert_eq!(a, b);
    assert_eq!(store.signed_cumulative(&ch).await.unwrap(), Some(50));

    // Later transitions are snapshotted; their state round-trips.
    payer = one;
    payer.top_up(2_000, 1, T0).unwrap();
    store.save_payer(&payer).await.unwrap();
    drop(two);
    let back = store.load_payer(&ch).await.unwrap().unwrap();
    assert_eq!(&back.state, payer.state());
    payer.request_close(0, T0).unwrap();
    store.save_payer(&payer).await.unwrap();
    payer.on_close_requested(T0 + 100, T0).unwrap();
    store.save_payer(&payer).await.unwrap();
    let back = store.load_payer(&ch).await.unwrap().unwrap();
    assert!(matches!(back.state, PayerState::Closing { .. }));
    assert_eq!(&back.state, payer.state());
    payer.on_closed(50, T0 + 200).unwrap();
    store.save_payer(&payer).await.unwrap();
    let back = store.payer_channels().await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(&back[0].state, payer.state());
    assert_eq!(back[0].channel, ch);
    back[0]
        .clone()
        .restore(key(1), PayerConfig::default())
        .unwrap();
}

#[tokio::test]
async fn opening_states_round_trip() {
    let dir = temp_dir();
    let store = SqliteStore::open(db(&dir)).await.unwrap();
    let ch = channel(3);
    let mut payer =
        PayerChannel::new(key(1), ch.clone(), terms(), PayerConfig::default(), T0).unwrap();
    store.save_payer(&payer).await.unwrap();
    assert_eq!(
        store.load_payer(&ch).await.unwrap().unwrap().state,
        PayerState::Proposed
    );
    assert_eq!(store.signed_cumulative(&ch).await.unwrap(), Some(0));
    payer.open(500, 3, T0).unwrap();
    store.save_payer(&payer).await.unwrap();
    let back = store.load_payer(&ch).await.unwrap().unwrap();
    assert_eq!(&back.state, payer.state());
    assert_eq!(back.terms, terms());
    assert_eq!(store.load_payer(&channel(4)).await.unwrap(), None);
    assert_eq!(store.signed_cumulative(&channel(4)).await.unwrap(), None);
}

// --- migrations ------------------------------------------------------------------------------------

#[tokio::test]
async fn migrations_are_idempotent_and_the_database_is_durable() {
    let dir = temp_dir();
    let store = SqliteStore::open(db(&dir)).await.unwrap();
    store
        .save_receipt_if_higher(&channel(1), 42, &tag(42))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    store.close().await;
    let store = SqliteStore::open(db(&dir)).await.unwrap();
    store.migrate().await.unwrap();

    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(applied as usize, MIGRATOR.iter().count());
    assert_eq!(
        store
            .latest_receipt(&channel(1))
            .await
            .unwrap()
            .unwrap()
            .cumulative(),
        42
    );
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(journal, "wal");
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(synchronous, 2, "FULL");
}

// --- bad input -------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_input_is_an_error_not_a_panic() {
    let dir = temp_dir();
    let store = SqliteStore::open(db(&dir)).await.unwrap();
    let ch = channel(1);

    // Amounts.
    let code = |r: Result<bool, Error>| r.unwrap_err().code();
    assert_eq!(
        code(store.save_receipt_if_higher(&ch, 0, &tag(0)).await),
        "zero_amount"
    );
    assert_eq!(
        store
            .save_receipt_if_higher(&ch, MAX_AMOUNT + 1, &tag(1))
            .await,
        Err(Error::AmountTooLarge {
            amount: MAX_AMOUNT + 1
        })
    );
    assert_eq!(
        code(
            store
                .save_receipts_if_higher(&[(&ch, 5, tag(5)), (&ch, u128::MAX, tag(1))])
                .await
                .map(|_| true)
        ),
        "amount_too_large"
    );
    assert_eq!(
        store.latest_receipt(&ch).await,
        Ok(None),
        "a refused batch stores nothing"
    );

    // Domains that are not a piecepay escrow's are refused by the channel itself.
    let foreign = Eip712Domain::new(
        Some("other".into()),
        Some("1".into()),
        Some(U256::from(1)),
        Some(Address::repeat_byte(1)),
        None,
    );
    let huge_chain = domain(u64::MAX, Address::repeat_byte(1));
    let no_chain = Eip712Domain::new(None, None, None, Some(Address::repeat_byte(1)), None);
    for d in [foreign, no_chain] {
        assert_eq!(
            Channel::new(d, key(1).address(), key(2).address(), 1)
                .unwrap_err()
                .code(),
            "invalid_channel"
        );
    }
    // A chain id SQLite cannot hold (above i64) is an escrow domain, but not one this store takes.
    for d in [huge_chain] {
        let other = Channel::new(d, key(1).address(), key(2).address(), 1).unwrap();
        assert_eq!(
            code(store.save_receipt_if_higher(&other, 1, &tag(1)).await),
            "invalid_channel"
        );
        assert_eq!(
            store.latest_receipt(&other).await.unwrap_err().code(),
            "invalid_channel"
        );
    }

    // Unknown channels.
    assert_eq!(
        store
            .record_settlement(&ch, SettlementProgress::Settled(1))
            .await,
        Err(Error::UnknownChannel { channel: ch.id() })
    );
    let (_, signature) = signed(&ch, 10);
    assert_eq!(
        store.reserve_signature(&ch, 10, &signature).await,
        Err(Error::UnknownChannel { channel: ch.id() })
    );

    // Reservations the channel's payer did not sign, or out of range.
    let mut payer = open_payer(&store, &ch, 100).await;
    let forged = key(3)
        .sign_digest(&signed(&ch, 10).0.eip712_signing_hash(ch.domain()))
        .unwrap();
    assert_eq!(
        store
            .reserve_signature(&ch, 10, &forged)
            .await
            .unwrap_err()
            .code(),
        "wrong_signer"
    );
    assert_eq!(
        store
            .reserve_signature(&ch, 11, &signature)
            .await
            .unwrap_err()
            .code(),
        "wrong_signer",
        "a signature over another cumulative"
    );
    for (cumulative, code) in [(0, "zero_amount"), (MAX_AMOUNT + 1, "amount_too_large")] {
        assert_eq!(
            store
                .reserve_signature(&ch, cumulative, &signature)
                .await
                .unwrap_err()
                .code(),
            code
        );
    }
    assert_eq!(store.signed_cumulative(&ch).await.unwrap(), Some(0));
    assert_eq!(
        store
            .record_settlement(&ch, SettlementProgress::Settled(1))
            .await
            .unwrap_err()
            .code(),
        "unknown_channel",
        "payer and payee channels are kept apart"
    );
    store.save_payee(&open_payee(&ch, 100)).await.unwrap();
    assert_eq!(
        store
            .record_settlement(&ch, SettlementProgress::Settled(MAX_AMOUNT + 1))
            .await
            .unwrap_err()
            .code(),
        "amount_too_large"
    );

    // Times beyond what the store (and the escrow) can hold.
    let mut late = open_payee(&ch, 100);
    let _ = late.on_piece_served(u64::MAX).unwrap();
    assert_eq!(
        store.save_payee(&late).await,
        Err(Error::DeadlineOutOfRange { deadline: u64::MAX })
    );
    payer.update_terms(terms(), u64::MAX).unwrap();
    assert_eq!(
        store.save_payer(&payer).await.unwrap_err().code(),
        "deadline_out_of_range"
    );

    // A damaged row is reported, not trusted.
    store
        .save_receipt_if_higher(&ch, 10, &tag(10))
        .await
        .unwrap();
    for damage in [
        "999999999999999999999999999999999999999", // beyond u128
        "000000000079228162514264337593543950336", // 2^96: beyond uint96
    ] {
        sqlx::query("UPDATE payee_receipts SET cumulative = ?1")
            .bind(damage)
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(
            store.latest_receipt(&ch).await.unwrap_err().code(),
            "corrupt_record"
        );
    }
    sqlx::query("UPDATE payer_channels SET phase = 'opening'")
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(
        store.load_payer(&ch).await.unwrap_err().code(),
        "corrupt_record"
    );
    // The schema itself refuses malformed amounts.
    assert!(
        sqlx::query("UPDATE payee_receipts SET cumulative = '12'")
            .execute(store.pool())
            .await
            .is_err()
    );

    // Files that are not a database, or cannot be created.
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x42; 8_192]).unwrap();
    assert_eq!(
        SqliteStore::open(&garbage).await.unwrap_err().code(),
        "storage"
    );
    assert_eq!(
        SqliteStore::open(dir.path().join("missing/dir/store.db"))
            .await
            .unwrap_err()
            .code(),
        "storage"
    );
}

// --- group commit ----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_answers_each_save_and_batches_them() {
    let dir = temp_dir();
    let store = SqliteStore::open(db(&dir)).await.unwrap();
    let group = GroupCommit::spawn(store.clone(), 64);
    let channels: Vec<Channel> = (0..32).map(channel).collect();

    let mut tasks = tokio::task::JoinSet::new();
    for ch in channels.clone() {
        let group = group.clone();
        tasks.spawn(async move {
            let mut results = Vec::new();
            for value in [3, 1, 2, 3] {
                results.push(group.save_receipt_if_higher(&ch, value, &tag(value)).await);
            }
            results
        });
    }
    while let Some(results) = tasks.join_next().await {
        assert_eq!(
            results.unwrap(),
            vec![Ok(true), Ok(false), Ok(false), Ok(false)]
        );
    }
    for ch in &channels {
        assert_eq!(
            group
                .latest_receipt(ch)
                .await
                .unwrap()
                .unwrap()
                .cumulative(),
            3
        );
    }
    // An invalid save is refused on its own, before it is queued.
    assert_eq!(
        group
            .save_receipt_if_higher(&channels[0], 0, &tag(0))
            .await
            .unwrap_err()
            .code(),
        "zero_amount"
    );
    // The explicit batch: one transaction, per-entry answers in order.
    assert_eq!(
        store
            .save_receipts_if_higher(&[
                (&channels[0], 4, tag(4)),
                (&channels[0], 6, tag(6)),
                (&channels[0], 5, tag(5)),
                (&channels[1], 3, tag(3)),
            ])
            .await
            .unwrap(),
        vec![true, true, false, false]
    );
    assert_eq!(
        store
            .latest_receipt(&channels[0])
            .await
            .unwrap()
            .unwrap()
            .signature,
        tag(6)
    );
}

// --- property --------------------------------------------------------------------------------------

/// Saves as lanes of (value) run concurrently; each lane is one writer's sequence.
fn lanes() -> impl Strategy<Value = Vec<Vec<Amount>>> {
    let value = prop_oneof![
        3 => 1..40u128,                 // collisions and duplicates
        1 => 1..=MAX_AMOUNT,            // the whole range, encoding included
        1 => Just(MAX_AMOUNT),
    ];
    vec(vec(value, 0..8), 1..4)
}

#[test]
fn the_stored_receipt_is_the_max_of_any_interleaving() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = temp_dir();
    let store = runtime.block_on(SqliteStore::open(db(&dir))).unwrap();
    let group = runtime.block_on(async { GroupCommit::spawn(store.clone(), 8) });
    let salt = AtomicU32::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 32,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&lanes(), |lanes| {
            // A fresh channel per case, so cases do not see each other's receipts.
            let ch = channel(salt.fetch_add(1, Ordering::Relaxed));
            let (sequential, concurrent) = (channel(1_000_000 + ch.salt()), ch);
            runtime.block_on(async {
                // One interleaving, in order: each answer is "above everything before".
                let mut max = 0;
                for value in lanes.iter().flatten().copied() {
                    let stored = store
                        .save_receipt_if_higher(&sequential, value, &tag(value))
                        .await
                        .unwrap();
                    prop_assert_eq!(stored, value > max);
                    max = max.max(value);
                }
                let latest = store.latest_receipt(&sequential).await.unwrap();
                prop_assert_eq!(
                    latest.map(|r| (r.cumulative(), r.signature)),
                    (max > 0).then(|| (max, tag(max)))
                );

                // The scheduler's interleavings: lanes race, alternating direct and grouped saves.
                let mut tasks = tokio::task::JoinSet::new();
                for (i, lane) in lanes.iter().cloned().enumerate() {
                    let (store, group, ch) = (store.clone(), group.clone(), concurrent.clone());
                    tasks.spawn(async move {
                        let mut saved_max = 0;
                        for value in lane {
                            let stored = if i % 2 == 0 {
                                store.save_receipt_if_higher(&ch, value, &tag(value)).await
                            } else {
                                group.save_receipt_if_higher(&ch, value, &tag(value)).await
                            }
                            .unwrap();
                            if stored {
                                saved_max = saved_max.max(value);
                            }
                        }
                        saved_max
                    });
                }
                let mut saved_max = 0;
                while let Some(lane_max) = tasks.join_next().await {
                    saved_max = saved_max.max(lane_max.unwrap());
                }
                prop_assert_eq!(saved_max, max, "the maximum was stored by one of its saves");
                let latest = store.latest_receipt(&concurrent).await.unwrap();
                prop_assert_eq!(
                    latest.map(|r| (r.cumulative(), r.signature)),
                    (max > 0).then(|| (max, tag(max)))
                );
                Ok(())
            })
        })
        .unwrap();
}

// --- records that must always restore ------------------------------------------------------------

#[tokio::test]
async fn a_reservation_never_makes_the_stored_payer_unrestorable() {
    let dir = temp_dir();
    let store = SqliteStore::open(db(&dir)).await.unwrap();

    // Paid after on_opened without saving it: the row still says "opening". The reservation is refused,
    // so the row keeps restoring, and so does every other channel.
    let (early, healthy) = (channel(21), channel(22));
    let _ok = open_payer(&store, &healthy, 100).await;
    let mut payer =
        PayerChannel::new(key(1), early.clone(), terms(), PayerConfig::default(), T0).unwrap();
    payer.open(100, 0, T0).unwrap();
    store.save_payer(&payer).await.unwrap();
    payer.on_opened(100, T0).unwrap();
    let refused = pay_durably(&store, &mut payer, PRICE, T0)
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        Error::InvalidState {
            action: "reserve a receipt on",
            state: "opening"
        }
    );
    assert_eq!(store.payer_channels().await.unwrap().len(), 2);

    // Topped up in memory, not saved: a receipt above the stored deposit is refused too.
    let mut payer = open_payer(&store, &channel(23), 10).await;
    payer.on_topped_up(100, T0).unwrap();
    let Payment::Paid { receipt, .. } = payer.pay(50, T0).unwrap() else {
        panic!("within the new deposit")
    };
    assert_eq!(
        store
            .reserve_signature(payer.channel(), 50, &receipt.signature)
            .await,
        Err(Error::ExceedsDeposit {
            cumulative: 50,
            deposit: 10
        })
    );
    for record in store.payer_channels().await.unwrap() {
        record.restore(key(1), PayerConfig::default()).unwrap();
    }
}

#[tokio::test]
async fn after_a_failed_reservation_the_payer_pays_that_piece_once() {
    let dir = temp_dir();
    let store = SqliteStore::open(db(&dir)).await.unwrap();
    let ch = channel(24);
    let mut payer = open_payer(&store, &ch, 10).await;
    // The top-up is not saved yet, so reserving a receipt above the stored deposit fails: nothing leaves
    // and the machine is put back.
    payer.on_topped_up(100, T0).unwrap();
    let before = payer.clone();
    assert_eq!(
        pay_durably(&store, &mut payer, 2 * PRICE, T0).await,
        Err(Error::ExceedsDeposit {
            cumulative: 20,
            deposit: 10
        })
    );
    assert_eq!(payer.state(), before.state());
    assert_eq!(
        payer.latest_receipt(),
        None,
        "no unsaved receipt to hand out"
    );
    // Saved now, the retry pays the same piece at the same cumulative, not one more.
    store.save_payer(&payer).await.unwrap();
    assert_eq!(
        paid(
            pay_durably(&store, &mut payer, 2 * PRICE, T0)
                .await
                .unwrap()
        ),
        20
    );
    assert_eq!(store.signed_cumulative(&ch).await.unwrap(), Some(20));
}

#[tokio::test]
async fn a_payee_receipt_above_the_snapshot_deposit_still_restores() {
    let dir = temp_dir();
    let store = SqliteStore::open(db(&dir)).await.unwrap();
    let ch = channel(25);
    let mut payee = open_payee(&ch, 10);
    store.save_payee(&payee).await.unwrap();
    // A top-up seen in memory, a receipt above the old deposit accepted and saved on the hot path, then a
    // crash before the next snapshot.
    payee.on_topped_up(100, T0).unwrap();
    let (receipt, signature) = signed(&ch, 50);
    payee.on_receipt(&receipt, &signature, T0).unwrap();
    assert!(
        store
            .save_receipt_if_higher(&ch, 50, &signature)
            .await
            .unwrap()
    );
    drop(payee);
    let record = store.load_payee(&ch).await.unwrap().unwrap();
    let payee = record.restore().unwrap();
    assert_eq!(payee.paid(), 50);
    let PayeeState::Open { account } = payee.state() else {
        panic!("open")
    };
    assert_eq!(
        account.deposit, 50,
        "the receipt bounds the chain's deposit from below"
    );
}
