//! Test support: a real anvil with the real contracts (piecepay-test-support's `Chain`), channels opened
//! by real payers through the SDK's client, receipts signed by them.
//!
//! anvil comes from the pinned npm toolchain (`make setup`); without it the tests fail, never skip.
#![allow(dead_code)] // each test file uses a part

use std::ops::{Deref, DerefMut};

use piecepay_protocol::{
    CompactSignature, Receipt, SigningKey, alloy_primitives::aliases::U96, channel_id, domain,
    settle_batch::SettleBatch,
};
use piecepay_relayer_chain::alloy::{
    primitives::{Address, B256},
    providers::Provider,
};
use piecepay_sdk::chain::{ChainClient, bindings::ChannelEscrow};
use piecepay_test_support::{chain::Chain, keys::DEPLOYER_KEY};

/// Every test channel's deposit.
pub(crate) const DEPOSIT: u128 = 1_000_000;

/// anvil with PieceToken and ChannelEscrow deployed (the test-support [`Chain`]), and the channels of
/// these tests.
pub(crate) struct Devnet(Chain);

impl Deref for Devnet {
    type Target = Chain;

    fn deref(&self) -> &Chain {
        &self.0
    }
}

impl DerefMut for Devnet {
    fn deref_mut(&mut self) -> &mut Chain {
        &mut self.0
    }
}

impl Devnet {
    pub(crate) async fn start() -> Self {
        Self(Chain::start().await)
    }

    /// A client for the account of `secret`, with ETH for gas.
    pub(crate) async fn client(&self, secret: &B256) -> ChainClient {
        let key = SigningKey::from_bytes(secret).unwrap();
        self.set_balance(key.address()).await;
        ChainClient::connect(self.anvil.url(), secret, self.escrow)
            .await
            .unwrap()
    }

    /// `count` payers (keys `0x11…`, `0x12…`), each with a channel of [`DEPOSIT`] to `payee` (salt 1).
    pub(crate) async fn open_channels(&self, count: u8, payee: Address) -> Vec<Payer> {
        let deployer = self.client(&DEPLOYER_KEY).await;
        let mut payers = Vec::new();
        for i in 0..count {
            let secret = B256::repeat_byte(0x11 + i);
            let key = SigningKey::from_bytes(&secret).unwrap();
            deployer.deposit_to(key.address(), DEPOSIT).await.unwrap();
            let client = self.client(&secret).await;
            let opened = client.open_channel(payee, 1, DEPOSIT).await.unwrap();
            assert_eq!(opened.channel_id, channel_id(key.address(), payee, 1));
            payers.push(Payer {
                key,
                payee,
                salt: 1,
                channel_id: opened.channel_id,
            });
        }
        payers
    }

    /// The payers' receipts for `cumulative` each, in one settle batch with no fee.
    pub(crate) async fn batch(&self, payers: &[Payer], cumulative: u128) -> SettleBatch {
        let chain_id = self.deployer.get_chain_id().await.unwrap();
        let separator = domain(chain_id, self.escrow).separator();
        let mut batch = SettleBatch::new();
        for payer in payers {
            let (receipt, signature) = payer.sign(&separator, cumulative);
            batch.push(&receipt, &signature, 0);
        }
        batch
    }

    /// A channel's settled total on chain.
    pub(crate) async fn settled(&self, channel_id: B256) -> u128 {
        let channel = ChannelEscrow::new(self.escrow, self.deployer.clone())
            .channel(channel_id)
            .call()
            .await
            .unwrap();
        channel.settled.to()
    }

    /// Asserts that every channel of `payers` settled up to `cumulative`, in `settlements`
    /// `ReceiptsSettled` logs with nothing skipped (no receipt sent twice).
    pub(crate) async fn assert_settled(
        &self,
        payers: &[Payer],
        cumulative: u128,
        settlements: usize,
    ) {
        for payer in payers {
            assert_eq!(self.settled(payer.channel_id).await, cumulative);
        }
        assert_eq!(self.settle_logs().await, (settlements, 0));
    }

    /// `account`'s free balance in the escrow.
    pub(crate) async fn balance(&self, account: Address) -> u128 {
        ChannelEscrow::new(self.escrow, self.deployer.clone())
            .balanceOf(account)
            .call()
            .await
            .unwrap()
            .to()
    }

    /// How many `ReceiptsSettled` and `ReceiptSkipped` logs the escrow emitted so far (canonical chain).
    pub(crate) async fn settle_logs(&self) -> (usize, usize) {
        use piecepay_relayer_chain::alloy::{rpc::types::Filter, sol_types::SolEvent};
        let filter = Filter::new().address(self.escrow).from_block(0);
        let logs = self.deployer.get_logs(&filter).await.unwrap();
        let topic = |t| logs.iter().filter(|l| l.topic0() == Some(&t)).count();
        (
            topic(ChannelEscrow::ReceiptsSettled::SIGNATURE_HASH),
            topic(ChannelEscrow::ReceiptSkipped::SIGNATURE_HASH),
        )
    }
}

/// A payer with one channel.
pub(crate) struct Payer {
    pub key: SigningKey,
    pub payee: Address,
    pub salt: u32,
    pub channel_id: B256,
}

impl Payer {
    pub(crate) fn sign(&self, separator: &B256, cumulative: u128) -> (Receipt, CompactSignature) {
        let receipt = Receipt {
            payee: self.payee,
            salt: self.salt,
            cumulative: U96::from(cumulative),
        };
        let signature = self
            .key
            .sign_digest(&receipt.signing_hash(separator))
            .unwrap();
        (receipt, signature)
    }
}
