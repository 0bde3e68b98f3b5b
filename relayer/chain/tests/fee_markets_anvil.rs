//! The submitter in both fee markets, on a real anvil: `berlin` (no base fee: legacy `gasPrice`
//! transactions, as on BitTorrent Chain) and `london` (EIP-1559). Each rule runs on both: a job sent and
//! confirmed once, a fee spike answered with a replacement, a dropped transaction sent again, a stuck job
//! cancelled and sent again under a new nonce, a restart that resumes from the journal file.
//!
//! The jobs call a counter contract (no PUSH0: it deploys on Berlin) instead of the escrow, so the rules
//! are checked without the escrow's build for old EVMs; the counter counts how often a job's calldata ran.

use std::{sync::Arc, time::Duration};

use piecepay_relayer_chain::{
    FeeMarket, Fees, FileJournal, Inclusion, MemoryJournal, SendKind, Submitter, SubmitterConfig,
    SubmitterEvent, TxId, TxJournal, TxRecord, TxState,
    alloy::{
        consensus::TxType,
        primitives::{Address, B256, U256, hex},
        providers::{DynProvider, Provider},
        rpc::types::TransactionRequest,
        signers::local::PrivateKeySigner,
    },
};
use piecepay_test_support::{
    anvil::Anvil,
    chain::{provider, wallet_provider},
    keys::{DEPLOYER_KEY, RELAYER_KEY},
    submitter::{assert_cancelled_then_sent_again, tick_until, tick_until_cancelled},
    temp_dir,
};
use serde_json::{Value, json};

const GWEI: u128 = 1_000_000_000;
const TIMEOUT: Duration = Duration::from_secs(60);

/// Init code of a contract whose every call adds one to storage slot 0: `PUSH1 0 SLOAD PUSH1 1 ADD
/// PUSH1 0 SSTORE STOP`, returned by `PUSH1 10 DUP1 PUSH1 11 PUSH1 0 CODECOPY PUSH1 0 RETURN`.
const COUNTER_INIT: &str = "600a80600b6000396000f360005460010160005500";

/// An anvil running `hardfork` with the counter deployed.
struct Net {
    anvil: Anvil,
    hardfork: &'static str,
    deployer: DynProvider,
    counter: Address,
}

impl Net {
    async fn start(hardfork: &'static str) -> Self {
        let anvil = Anvil::start_hardfork(hardfork).await;
        // The deployer's wallet provider fills fees as alloy does: legacy where the block has no base fee.
        let deployer = wallet_provider(anvil.url(), &DEPLOYER_KEY).await;
        let request = TransactionRequest::default()
            .input(hex::decode(COUNTER_INIT).unwrap().into())
            .create();
        let receipt = deployer
            .send_transaction(request)
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        let counter = receipt.contract_address.unwrap();
        let signer = PrivateKeySigner::from_bytes(&RELAYER_KEY).unwrap();
        let net = Self {
            anvil,
            hardfork,
            deployer,
            counter,
        };
        net.rpc(
            "anvil_setBalance",
            json!([signer.address(), U256::from(10u128.pow(20))]),
        )
        .await;
        net
    }

    fn market(&self) -> FeeMarket {
        if self.hardfork == "berlin" {
            FeeMarket::Legacy
        } else {
            FeeMarket::Eip1559
        }
    }

    async fn rpc(&self, method: &'static str, params: Value) -> Value {
        self.deployer
            .raw_request::<Value, Value>(method.into(), params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    async fn mine(&self) {
        self.rpc("anvil_mine", json!([1])).await;
    }

    /// How many times job calldata ran.
    async fn count(&self) -> U256 {
        self.deployer
            .get_storage_at(self.counter, U256::ZERO)
            .await
            .unwrap()
    }

    /// Makes gas `price` wei from the next block on: a base fee (EIP-1559) or the node's minimum gas price
    /// (legacy), which is also what `eth_gasPrice` answers then.
    async fn spike(&self, price: u128) {
        match self.market() {
            FeeMarket::Eip1559 => {
                self.rpc(
                    "anvil_setNextBlockBaseFeePerGas",
                    json!([price.to_string()]),
                )
                .await
            }
            FeeMarket::Legacy => {
                self.rpc("anvil_setMinGasPrice", json!([price.to_string()]))
                    .await
            }
        };
    }

    async fn submitter<J: TxJournal>(&self, journal: J, config: SubmitterConfig) -> Submitter<J> {
        let signer = PrivateKeySigner::from_bytes(&RELAYER_KEY).unwrap();
        let sub = Submitter::new(provider(self.anvil.url()).await, signer, journal, config)
            .await
            .unwrap();
        assert_eq!(sub.fee_market(), self.market(), "{}", self.hardfork);
        sub
    }

    /// A submitter on `journal` with automine off, and job 1 sent once: its first attempt's hash and fees.
    async fn send_first<J: TxJournal>(
        &self,
        journal: J,
        config: SubmitterConfig,
    ) -> (Submitter<J>, B256, Fees) {
        let mut sub = self.submitter(journal, config).await;
        self.rpc("evm_setAutomine", json!([false])).await;
        let (id, calldata) = job(1);
        sub.enqueue(id, calldata).await.unwrap();
        let events = sub.tick().await.unwrap();
        let [
            SubmitterEvent::Sent {
                hash,
                fees,
                nonce: 0,
                kind: SendKind::First,
                ..
            },
        ] = events[..]
        else {
            panic!("{events:?}");
        };
        assert_eq!(fees.market(), self.market());
        (sub, hash, fees)
    }

    fn config(&self, stuck_after: Duration) -> SubmitterConfig {
        let mut config = SubmitterConfig::new(self.counter);
        config.confirmations = 1;
        config.stuck_after = stuck_after;
        config
    }

    /// Checks a mined attempt is of the chain's type and paid what its fees say.
    async fn assert_mined_as(&self, hash: B256, fees: Fees) {
        assert_eq!(fees.market(), self.market(), "{fees:?}");
        let receipt = self
            .deployer
            .get_transaction_receipt(hash)
            .await
            .unwrap()
            .unwrap();
        let want = match self.market() {
            FeeMarket::Eip1559 => TxType::Eip1559,
            FeeMarket::Legacy => TxType::Legacy,
        };
        assert_eq!(receipt.transaction_type(), want, "{}", self.hardfork);
        assert!(receipt.effective_gas_price <= fees.fee_cap());
        if self.market() == FeeMarket::Legacy {
            assert_eq!(receipt.effective_gas_price, fees.fee_cap());
        }
    }
}

fn job(id: u64) -> (TxId, piecepay_relayer_chain::alloy::primitives::Bytes) {
    (TxId(id), id.to_be_bytes().to_vec().into())
}

/// Ticks, mining a block after each, until job `id` is confirmed; returns every event and the inclusion.
async fn drive_to_confirmed(
    net: &Net,
    sub: &mut Submitter<impl JournalView>,
    id: u64,
) -> (Vec<SubmitterEvent>, Inclusion) {
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(inclusion) = sub.journal().confirmed(id) {
            return (events, inclusion);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} not confirmed on {}: {events:?}",
            net.hardfork
        );
        events.extend(sub.tick().await.unwrap());
        net.mine().await;
    }
}

/// The journals these tests read back.
trait JournalView: TxJournal {
    fn record(&self, id: TxId) -> Option<TxRecord>;

    fn confirmed(&self, id: u64) -> Option<Inclusion> {
        match self.record(TxId(id))?.state {
            TxState::Confirmed { inclusion } => Some(inclusion),
            _ => None,
        }
    }
}

impl JournalView for Arc<MemoryJournal> {
    fn record(&self, id: TxId) -> Option<TxRecord> {
        self.get(id)
    }
}

impl JournalView for Arc<FileJournal> {
    fn record(&self, id: TxId) -> Option<TxRecord> {
        self.get(id)
    }
}

async fn sends_once(hardfork: &'static str) {
    let net = Net::start(hardfork).await;
    let journal = Arc::new(MemoryJournal::new());
    let mut sub = net
        .submitter(journal.clone(), net.config(Duration::from_secs(30)))
        .await;
    for id in [1, 2] {
        let (id, calldata) = job(id);
        sub.enqueue(id, calldata).await.unwrap();
    }
    let (events, _) = drive_to_confirmed(&net, &mut sub, 2).await;
    let (_, first) = drive_to_confirmed(&net, &mut sub, 1).await;
    let sent: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            SubmitterEvent::Sent {
                hash, fees, kind, ..
            } => Some((*hash, *fees, *kind)),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 2, "{events:?}");
    for (hash, fees, kind) in sent {
        assert_eq!(kind, SendKind::First);
        net.assert_mined_as(hash, fees).await;
    }
    assert!(first.success && !first.cancel);
    assert_eq!(net.count().await, U256::from(2));
}

async fn a_fee_spike_is_outbid(hardfork: &'static str) {
    let net = Net::start(hardfork).await;
    let journal = Arc::new(MemoryJournal::new());
    let (mut sub, first, first_fees) = net
        .send_first(journal.clone(), net.config(Duration::from_millis(200)))
        .await;

    // The price jumps far above what the attempt offers. With a base fee, blocks come and go without
    // it; anvil's minimum gas price only gates admission to its pool, so on berlin no block is mined
    // until the replacement has taken the attempt's place.
    let spike = 100 * GWEI;
    assert!(first_fees.fee_cap() < spike);
    net.spike(spike).await;
    if net.market() == FeeMarket::Eip1559 {
        net.mine().await;
        net.mine().await;
    }
    sub.tick().await.unwrap();
    assert!(matches!(
        journal.get(TxId(1)).unwrap().state,
        TxState::Pending { .. }
    ));
    assert_eq!(net.count().await, U256::ZERO);

    // After `stuck_after`: replaced, at least +10 % on both caps and at least the market.
    let (replacement, fees) = tick_until(&mut sub, |e| match e {
        SubmitterEvent::Sent {
            kind: SendKind::Replacement,
            hash,
            fees,
            ..
        } => Some((*hash, *fees)),
        _ => None,
    })
    .await;
    assert_eq!(fees.market(), net.market());
    assert!(
        fees.fee_cap() * 100 >= first_fees.fee_cap() * 110,
        "{fees:?}"
    );
    assert!(
        fees.tip_cap() * 100 >= first_fees.tip_cap() * 110,
        "{fees:?}"
    );
    assert!(fees.fee_cap() >= spike, "follows the market: {fees:?}");
    let (events, inclusion) = drive_to_confirmed(&net, &mut sub, 1).await;
    assert_eq!(inclusion.tx_hash, replacement, "{events:?}");
    assert_ne!(inclusion.tx_hash, first);
    net.assert_mined_as(replacement, fees).await;
    assert_eq!(net.count().await, U256::from(1));
}

async fn a_dropped_transaction_is_sent_again(hardfork: &'static str) {
    let net = Net::start(hardfork).await;
    let journal = Arc::new(MemoryJournal::new());
    let (mut sub, hash, fees) = net
        .send_first(journal.clone(), net.config(Duration::from_secs(30)))
        .await;
    net.rpc("anvil_dropTransaction", json!([hash])).await;
    net.mine().await;
    assert_eq!(net.count().await, U256::ZERO);
    // The node forgot it: the same signed bytes go again, nothing is re-signed.
    let events = sub.tick().await.unwrap();
    assert!(
        matches!(events[..], [SubmitterEvent::Sent { hash: h, kind: SendKind::Rebroadcast, .. }] if h == hash),
        "{events:?}"
    );
    let (_, inclusion) = drive_to_confirmed(&net, &mut sub, 1).await;
    assert_eq!(inclusion.tx_hash, hash);
    net.assert_mined_as(hash, fees).await;
    assert_eq!(net.count().await, U256::from(1));
}

async fn a_stuck_job_is_cancelled_and_sent_again(hardfork: &'static str) {
    let net = Net::start(hardfork).await;
    let journal = Arc::new(MemoryJournal::new());
    let mut config = net.config(Duration::from_millis(100));
    config.max_bumps = 0; // the first time it is stuck, cancel
    let (mut sub, _, first_fees) = net.send_first(journal.clone(), config).await;
    let (cancel, cancel_fees) = tick_until_cancelled(&mut sub).await;
    assert_eq!(cancel_fees.market(), net.market());
    assert!(cancel_fees.fee_cap() * 100 >= first_fees.fee_cap() * 110);
    // The cancel took the job's place in the pool; confirmed, the job is requeued under nonce 1.
    net.mine().await;
    let (events, inclusion) = drive_to_confirmed(&net, &mut sub, 1).await;
    assert_cancelled_then_sent_again(&net.deployer, sub.address(), cancel, &events, &inclusion)
        .await;
    net.assert_mined_as(cancel, cancel_fees).await;
    assert_eq!(
        net.count().await,
        U256::from(1),
        "ran once, after the cancel"
    );
}

async fn a_restart_resumes_from_the_journal(hardfork: &'static str) {
    let net = Net::start(hardfork).await;
    let dir = temp_dir();
    let path = dir.path().join("journal.jsonl");
    let (hash, fees) = {
        let journal = Arc::new(FileJournal::open(&path).unwrap());
        let (_, hash, fees) = net
            .send_first(journal, net.config(Duration::from_secs(30)))
            .await;
        (hash, fees)
        // The submitter goes away with its attempt pending.
    };
    // The journal says which kind each stored fee is.
    let text = std::fs::read_to_string(&path).unwrap();
    let kind = format!(r#""type":"{}""#, net.market());
    assert!(text.contains(&kind), "{text}");
    // And the node loses its pool too.
    net.rpc("anvil_dropTransaction", json!([hash])).await;

    let journal = Arc::new(FileJournal::open(&path).unwrap());
    let mut sub = net
        .submitter(journal.clone(), net.config(Duration::from_secs(30)))
        .await;
    let (events, inclusion) = drive_to_confirmed(&net, &mut sub, 1).await;
    assert!(
        events.iter().all(|e| !matches!(
            e,
            SubmitterEvent::Sent {
                kind: SendKind::First | SendKind::Replacement | SendKind::Cancel,
                ..
            }
        )),
        "nothing re-signed: {events:?}"
    );
    assert_eq!(inclusion.tx_hash, hash);
    net.assert_mined_as(hash, fees).await;
    assert_eq!(net.count().await, U256::from(1));
}

/// Each rule once per fee market.
macro_rules! on_both_markets {
    ($($rule:ident),* $(,)?) => {
        mod berlin {
            $(#[tokio::test]
            async fn $rule() {
                super::$rule("berlin").await;
            })*
        }
        mod london {
            $(#[tokio::test]
            async fn $rule() {
                super::$rule("london").await;
            })*
        }
    };
}

on_both_markets!(
    sends_once,
    a_fee_spike_is_outbid,
    a_dropped_transaction_is_sent_again,
    a_stuck_job_is_cancelled_and_sent_again,
    a_restart_resumes_from_the_journal,
);
