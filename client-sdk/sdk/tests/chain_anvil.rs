//! The chain adapter against a real anvil: the escrow and token deployed from forge's artifacts, and the
//! sans-IO payer and payee driving real channels — open, pay per piece, each of the three closes, withdraw,
//! self-settlement through `settleBatch`, a permit deposit, gasless batches, and contract errors mapped to
//! their codes. Every balance is checked on chain, exactly. The main flows run on a Berlin chain too (no
//! base fee: legacy transactions, the escrow's build for old EVMs).
//!
//! anvil comes from the pinned npm toolchain (`make setup`); if it is missing the tests fail, they never
//! skip.
#![cfg(feature = "chain")]

use piecepay_sdk::{
    Amount, Channel, CreditWindow, Error, PayeeChannel, PayerChannel, PayerConfig, Payment,
    ServeDecision, Terms,
    chain::{
        ChainClient, ChannelInfo, ChannelSettled, ChannelStatus, SkippedGroup, Tx,
        alloy::providers::Provider, bindings::PieceToken,
    },
    protocol::{
        CooperativeClose, SigningKey, SolStruct,
        alloy_primitives::{
            Address, B256, U256,
            aliases::{U40, U96},
        },
        channel_id,
        settle_batch::{SettleBatch, SettleOutcome},
    },
};
use piecepay_test_support::{
    anvil::Anvil,
    chain::{CHALLENGE_PERIOD, Chain, fee_market, tx_type},
};

const PAYER: u8 = 0x11;
const PAYEE: u8 = 0x22;
const RELAYER: u8 = 0x33;
const PAYER_TOKENS: u128 = 1_000_000;
const PRICE: Amount = 1_000;

/// The account of key `byte…byte` on `net`, with ETH for gas and `tokens` of the token, and its client.
async fn account(net: &Chain, byte: u8, tokens: u128) -> (SigningKey, ChainClient) {
    let secret = B256::repeat_byte(byte);
    let key = SigningKey::from_bytes(&secret).unwrap();
    net.set_balance(key.address()).await;
    if tokens > 0 {
        PieceToken::new(net.token, net.deployer.clone())
            .transfer(key.address(), U256::from(tokens))
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
    }
    let client = ChainClient::connect(net.anvil.url(), &secret, net.escrow)
        .await
        .unwrap();
    assert_eq!(client.token(), net.token);
    assert_eq!(client.chain_id(), 31_337);
    (key, client)
}

// --- a channel driven by the sans-IO state machines -------------------------------------------------

/// One channel: the payer's and payee's state machines and their clients.
struct Pair<'a> {
    payer: PayerChannel,
    payee: PayeeChannel,
    payer_client: &'a ChainClient,
    payee_client: &'a ChainClient,
    id: B256,
}

impl<'a> Pair<'a> {
    /// Agrees terms, has the payer sign the open, submits it (`by` the payer itself with `openChannel`, or
    /// a relayer with `openChannelsBySig` and `fee`) and confirms it to both sides from the chain.
    async fn open(
        payer_key: &SigningKey,
        payer_client: &'a ChainClient,
        payee_client: &'a ChainClient,
        salt: u32,
        deposit: Amount,
        relayer: Option<(&ChainClient, Amount)>,
    ) -> Self {
        let now = payer_client.block_timestamp().await.unwrap();
        let channel = Channel::new(
            payer_client.domain().clone(),
            payer_client.address(),
            payee_client.address(),
            salt,
        )
        .unwrap();
        let terms = Terms::new(PRICE, CreditWindow::Pieces(2)).unwrap();
        let mut payer = PayerChannel::new(
            payer_key.clone(),
            channel.clone(),
            terms,
            PayerConfig::default(),
            now,
        )
        .unwrap();
        let mut payee = PayeeChannel::new(channel.clone(), terms, now);

        let fee = relayer.map_or(0, |(_, fee)| fee);
        let signed = payer.open(deposit, fee, now).unwrap();
        let opened_deposit = match relayer {
            None => {
                let opened = payer_client
                    .open_channel(payee_client.address(), salt, deposit)
                    .await
                    .unwrap();
                assert_eq!(opened.channel_id, channel.id());
                opened.deposit
            }
            Some((relayer, _)) => {
                let report = relayer
                    .open_channels_by_sig(&[(payer_client.address(), signed)])
                    .await
                    .unwrap();
                assert_eq!(report.skipped, []);
                deposit
            }
        };
        payer.on_opened(opened_deposit, now).unwrap();

        // The payee trusts the chain, not the peer: it reads the channel before serving.
        let info = payee_client.channel(channel.id()).await.unwrap();
        assert_eq!(
            info,
            ChannelInfo {
                deposit,
                settled: 0,
                status: ChannelStatus::Open,
                nonce: 0,
            }
        );
        payee.on_channel_opened(info.deposit, now).unwrap();
        Self {
            payer,
            payee,
            payer_client,
            payee_client,
            id: channel.id(),
        }
    }

    /// Serves and pays `pieces` pieces: each receipt signed by the payer, verified and accepted by the payee.
    async fn pay_pieces(&mut self, pieces: u32) {
        let now = self.payer_client.block_timestamp().await.unwrap();
        for _ in 0..pieces {
            assert_eq!(self.payee.serve_decision(), ServeDecision::Serve);
            let _ = self.payee.on_piece_served(now).unwrap();
            let Payment::Paid { receipt, .. } = self.payer.pay_piece(now).unwrap() else {
                panic!("the deposit covers every piece of these tests");
            };
            let accepted = self
                .payee
                .on_receipt(&receipt.message, &receipt.signature, now)
                .unwrap();
            assert_eq!(accepted.delta, PRICE);
        }
    }

    async fn info(&self) -> ChannelInfo {
        self.payee_client.channel(self.id).await.unwrap()
    }
}

/// anvil at Berlin (no base fee, no PUSH0: what BitTorrent Chain runs) with the contracts deployed; the
/// deploy tool picks their build for old EVMs.
async fn berlin() -> Chain {
    Chain::deploy(Anvil::start_hardfork("berlin").await).await
}

/// Checks `tx` is of the type the chain's latest block calls for: legacy without a base fee, EIP-1559
/// with one.
async fn assert_sent_for_the_chain(net: &Chain, tx: &Tx) {
    let (market, _) = fee_market(&net.deployer).await;
    let receipt = net
        .deployer
        .get_transaction_receipt(tx.hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(receipt.transaction_type(), tx_type(market));
}

async fn escrow_balance(client: &ChainClient, account: Address) -> Amount {
    client.balance_of(account).await.unwrap()
}

async fn tokens(client: &ChainClient, account: Address) -> U256 {
    client.token_balance_of(account).await.unwrap()
}

// --- tests ---------------------------------------------------------------------------------------

#[tokio::test]
async fn cooperative_close_after_paying_per_piece_then_withdraw() {
    cooperative_close_then_withdraw(Chain::start().await).await;
}

/// The same on a Berlin chain (no base fee: alloy's gas filler sends legacy `gasPrice` transactions).
#[tokio::test]
async fn cooperative_close_then_withdraw_on_berlin() {
    cooperative_close_then_withdraw(berlin().await).await;
}

async fn cooperative_close_then_withdraw(net: Chain) {
    let (payer_key, payer) = account(&net, PAYER, PAYER_TOKENS).await;
    let (payee_key, payee) = account(&net, PAYEE, 0).await;

    let deposit = payer.deposit(100_000).await.unwrap();
    assert_sent_for_the_chain(&net, &deposit).await;
    assert_eq!(escrow_balance(&payer, payer.address()).await, 100_000);
    assert_eq!(
        tokens(&payer, payer.address()).await,
        U256::from(PAYER_TOKENS - 100_000)
    );

    let mut pair = Pair::open(&payer_key, &payer, &payee, 1, 50_000, None).await;
    assert_eq!(escrow_balance(&payer, payer.address()).await, 50_000);
    pair.pay_pieces(5).await;
    assert_eq!(pair.payee.paid(), 5 * PRICE);

    // Both sign the close; anyone may submit it (here the payee).
    let now = payer.block_timestamp().await.unwrap();
    let close = pair.payer.cooperative_close(0, now).unwrap();
    let co_signed = pair
        .payee
        .cooperative_close(&close.message, &close.signature, &payee_key, now)
        .unwrap();
    let closed = payee
        .cooperative_close(&close.message, &close.signature, &co_signed.signature)
        .await
        .unwrap();
    assert_eq!(closed.settled, 5 * PRICE);
    pair.payer.on_closed(closed.settled, now).unwrap();
    pair.payee.on_closed(closed.settled, now).unwrap();
    assert_eq!(
        pair.info().await,
        ChannelInfo {
            deposit: 50_000,
            settled: 5_000,
            status: ChannelStatus::Closed,
            nonce: 0,
        }
    );
    assert_eq!(escrow_balance(&payer, payee.address()).await, 5_000);
    assert_eq!(escrow_balance(&payer, payer.address()).await, 95_000);

    payee.withdraw(payee.address(), 5_000).await.unwrap();
    let withdrawal = payer.withdraw(payer.address(), 95_000).await.unwrap();
    assert_sent_for_the_chain(&net, &withdrawal).await;
    assert_eq!(escrow_balance(&payer, payee.address()).await, 0);
    assert_eq!(escrow_balance(&payer, payer.address()).await, 0);
    assert_eq!(tokens(&payer, payee.address()).await, U256::from(5_000));
    assert_eq!(
        tokens(&payer, payer.address()).await,
        U256::from(PAYER_TOKENS - 5_000)
    );
    assert_eq!(tokens(&payer, net.escrow).await, U256::ZERO);
}

#[tokio::test]
async fn close_by_payee_after_self_settling_its_last_receipt() {
    let net = Chain::start().await;
    let (payer_key, payer) = account(&net, PAYER, PAYER_TOKENS).await;
    let (_, payee) = account(&net, PAYEE, 0).await;
    payer.deposit(100_000).await.unwrap();
    let mut pair = Pair::open(&payer_key, &payer, &payee, 2, 40_000, None).await;
    pair.pay_pieces(3).await;

    let now = payee.block_timestamp().await.unwrap();
    let plan = pair.payee.close(now).unwrap();
    let receipt = plan.settle_first.expect("nothing settled yet");
    let report = payee.settle_receipt(&receipt).await.unwrap();
    assert_eq!(
        report.settled,
        [ChannelSettled {
            channel_id: pair.id,
            settled: 3_000
        }]
    );
    assert_eq!(report.skipped, []);
    assert_eq!(
        (report.credited, report.fees),
        (U256::from(3_000), U256::ZERO)
    );
    pair.payee.on_settled(3_000, now).unwrap();

    // Settling the same receipt again is harmless: skipped as stale, nothing credited.
    let again = payee.settle_receipt(&receipt).await.unwrap();
    assert_eq!(again.settled, []);
    assert_eq!(again.skipped, [(pair.id, SettleOutcome::Stale)]);
    assert_eq!(escrow_balance(&payee, payee.address()).await, 3_000);

    let closed = payee.close_by_payee(payer.address(), 2).await.unwrap();
    assert_eq!(closed.settled, 3_000);
    pair.payee.on_closed(closed.settled, now).unwrap();
    pair.payer.on_closed(closed.settled, now).unwrap();
    assert_eq!(pair.info().await.status, ChannelStatus::Closed);
    assert_eq!(escrow_balance(&payee, payee.address()).await, 3_000);
    assert_eq!(escrow_balance(&payee, payer.address()).await, 97_000);

    payee.withdraw(payee.address(), 3_000).await.unwrap();
    payer.withdraw(payer.address(), 97_000).await.unwrap();
    assert_eq!(tokens(&payee, payee.address()).await, U256::from(3_000));
    assert_eq!(
        tokens(&payee, payer.address()).await,
        U256::from(PAYER_TOKENS - 3_000)
    );
    assert_eq!(tokens(&payee, net.escrow).await, U256::ZERO);
}

#[tokio::test]
async fn unilateral_close_settled_in_the_challenge_window_then_finalized() {
    let net = Chain::start().await;
    let (payer_key, payer) = account(&net, PAYER, PAYER_TOKENS).await;
    let (_, payee) = account(&net, PAYEE, 0).await;
    let (_, anyone) = account(&net, RELAYER, 0).await;
    payer.deposit(100_000).await.unwrap();
    let mut pair = Pair::open(&payer_key, &payer, &payee, 3, 60_000, None).await;
    pair.pay_pieces(4).await;

    let now = payer.block_timestamp().await.unwrap();
    let _ = pair.payer.request_close(0, now).unwrap();
    let started = payer.request_close(payee.address(), 3).await.unwrap();
    let mined_at = payer.block_timestamp().await.unwrap();
    assert_eq!(started.closes_at, mined_at + CHALLENGE_PERIOD);
    pair.payer
        .on_close_requested(started.closes_at, now)
        .unwrap();
    pair.payee
        .on_close_requested(started.closes_at, now)
        .unwrap();
    assert_eq!(
        pair.info().await.status,
        ChannelStatus::Closing {
            closes_at: started.closes_at
        }
    );

    // Too early to finalize: the escrow's ChallengePeriodActive, mapped to the core's code.
    let early = anyone
        .finalize_close(payer.address(), payee.address(), 3)
        .await
        .unwrap_err();
    assert_eq!(
        early,
        Error::ChallengePeriodActive {
            closes_at: started.closes_at
        }
    );
    assert_eq!(early.code(), "challenge_period_active");

    // The payee settles its latest receipt itself within the window (watchtower duty with no relayer).
    let latest = pair.payee.latest_receipt().unwrap().clone();
    let mut batch = SettleBatch::new();
    batch.push(&latest.message, &latest.signature, 0);
    assert_eq!(
        payee.preflight_settle(&batch).await.unwrap(),
        [SettleOutcome::Settled]
    );
    let report = payee.settle(&batch).await.unwrap();
    assert_eq!(
        report.settled,
        [ChannelSettled {
            channel_id: pair.id,
            settled: 4_000
        }]
    );
    pair.payee.on_settled(4_000, now).unwrap();

    net.advance(CHALLENGE_PERIOD + 1).await;
    let now = anyone.block_timestamp().await.unwrap();
    let args = pair.payer.finalize(now).unwrap();
    let closed = anyone
        .finalize_close(args.payer, args.payee, args.salt)
        .await
        .unwrap();
    assert_eq!(closed.settled, 4_000);
    pair.payer.on_closed(closed.settled, now).unwrap();
    pair.payee.on_closed(closed.settled, now).unwrap();
    assert_eq!(
        pair.info().await,
        ChannelInfo {
            deposit: 60_000,
            settled: 4_000,
            status: ChannelStatus::Closed,
            nonce: 0,
        }
    );
    assert_eq!(escrow_balance(&payer, payer.address()).await, 96_000);
    assert_eq!(escrow_balance(&payer, payee.address()).await, 4_000);
    assert_eq!(escrow_balance(&payer, anyone.address()).await, 0);

    payer.withdraw(payer.address(), 96_000).await.unwrap();
    payee.withdraw(payee.address(), 4_000).await.unwrap();
    assert_eq!(
        tokens(&payer, payer.address()).await,
        U256::from(PAYER_TOKENS - 4_000)
    );
    assert_eq!(tokens(&payer, payee.address()).await, U256::from(4_000));
    assert_eq!(tokens(&payer, net.escrow).await, U256::ZERO);
}

#[tokio::test]
async fn permit_deposit_gasless_open_and_relayed_settlement_within_the_fee_cap() {
    permit_gasless_open_and_relayed_settlement(Chain::start().await).await;
}

#[tokio::test]
async fn permit_gasless_open_and_relayed_settlement_on_berlin() {
    permit_gasless_open_and_relayed_settlement(berlin().await).await;
}

async fn permit_gasless_open_and_relayed_settlement(net: Chain) {
    let (payer_key, payer) = account(&net, PAYER, PAYER_TOKENS).await;
    let (_, payee) = account(&net, PAYEE, 0).await;
    let (_, relayer) = account(&net, RELAYER, 0).await;

    // One transaction, no approval: the permit is signed in the token's own EIP-712 domain.
    let deadline = payer.block_timestamp().await.unwrap() + 600;
    payer.deposit_with_permit(100_000, deadline).await.unwrap();
    assert_eq!(escrow_balance(&payer, payer.address()).await, 100_000);
    assert_eq!(
        tokens(&payer, payer.address()).await,
        U256::from(PAYER_TOKENS - 100_000)
    );

    // The relayer submits the payer's signed open and earns the signed fee.
    let mut pair = Pair::open(&payer_key, &payer, &payee, 4, 50_000, Some((&relayer, 25))).await;
    assert_eq!(escrow_balance(&payer, relayer.address()).await, 25);
    assert_eq!(
        escrow_balance(&payer, payer.address()).await,
        100_000 - 50_000 - 25
    );
    pair.pay_pieces(2).await;

    // A fee the payee never allowed: the whole group is skipped, nothing moves.
    let latest = pair.payee.latest_receipt().unwrap().clone();
    let mut batch = SettleBatch::new();
    batch.push(&latest.message, &latest.signature, 100);
    let refused = relayer.settle(&batch).await.unwrap();
    // The whole group is skipped before any receipt is read (one event, no per-receipt outcome).
    assert_eq!(
        refused.skipped_groups,
        [SkippedGroup {
            payee: payee.address(),
            fee_bps: 100,
            receipts: 1
        }]
    );
    assert!(refused.skipped.is_empty());
    assert_eq!(
        relayer.preflight_settle(&batch).await.unwrap(),
        [SettleOutcome::FeeAboveCap]
    );
    assert_eq!(escrow_balance(&payer, payee.address()).await, 0);

    // Within the cap the payee set, the relayer keeps its 1%.
    payee
        .set_settle_fee_cap(100, relayer.address())
        .await
        .unwrap();
    assert_eq!(
        payee.settle_fee_cap_of(payee.address()).await.unwrap(),
        (100, relayer.address())
    );
    let report = relayer.settle(&batch).await.unwrap();
    assert_sent_for_the_chain(&net, &report.tx).await;
    assert_eq!(
        report.settled,
        [ChannelSettled {
            channel_id: pair.id,
            settled: 2_000
        }]
    );
    assert_eq!(
        (report.credited, report.fees),
        (U256::from(2_000), U256::from(20))
    );
    assert_eq!(escrow_balance(&payer, payee.address()).await, 1_980);
    assert_eq!(escrow_balance(&payer, relayer.address()).await, 45);
    assert_eq!(pair.info().await.settled, 2_000);

    relayer.withdraw(relayer.address(), 45).await.unwrap();
    assert_eq!(tokens(&payer, relayer.address()).await, U256::from(45));
}

#[tokio::test]
async fn contract_errors_map_to_their_codes() {
    let net = Chain::start().await;
    let (payer_key, payer) = account(&net, PAYER, PAYER_TOKENS).await;
    let (_, payee) = account(&net, PAYEE, 0).await;
    let (_, relayer) = account(&net, RELAYER, 0).await;

    // Not an escrow: the token (another domain) and an account without code.
    for address in [net.token, payee.address()] {
        let error = ChainClient::connect(net.anvil.url(), &B256::repeat_byte(PAYER), address)
            .await
            .unwrap_err();
        assert_eq!(error.code(), "escrow_mismatch");
    }

    // More tokens than the payer holds: refused before any approval is sent.
    let error = payer.deposit(PAYER_TOKENS + 1).await.unwrap_err();
    assert_eq!(
        error,
        Error::InsufficientTokens {
            account: payer.address(),
            balance: U256::from(PAYER_TOKENS),
            needed: U256::from(PAYER_TOKENS + 1)
        }
    );

    payer.deposit(10_000).await.unwrap();
    let error = payer.withdraw(payer.address(), 10_001).await.unwrap_err();
    assert_eq!(
        error,
        Error::InsufficientBalance {
            account: payer.address(),
            available: U256::from(10_000),
            required: U256::from(10_001)
        }
    );
    assert_eq!(error.code(), "insufficient_balance");

    let error = payer
        .open_channel(payer.address(), 1, 1_000)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_channel");

    let opened = payer.open_channel(payee.address(), 5, 1_000).await.unwrap();
    assert_eq!(
        opened.channel_id,
        channel_id(payer.address(), payee.address(), 5)
    );
    let error = payer
        .open_channel(payee.address(), 5, 1_000)
        .await
        .unwrap_err();
    assert_eq!(
        error,
        Error::ChannelExists {
            channel_id: opened.channel_id
        }
    );

    let topped = payer.top_up(payee.address(), 5, 500).await.unwrap();
    assert_eq!(topped.deposit, 1_500);
    payer.request_close(payee.address(), 5).await.unwrap();
    let error = payer.top_up(payee.address(), 5, 500).await.unwrap_err();
    assert_eq!(
        error,
        Error::InvalidChannelState {
            channel_id: opened.channel_id,
            state: "closing"
        }
    );

    // A gasless batch never reverts for a bad entry: the replayed open is reported with its error.
    let now = payer.block_timestamp().await.unwrap();
    let channel =
        Channel::new(payer.domain().clone(), payer.address(), payee.address(), 6).unwrap();
    let terms = Terms::new(PRICE, CreditWindow::Pieces(1)).unwrap();
    let mut machine =
        PayerChannel::new(payer_key, channel, terms, PayerConfig::default(), now).unwrap();
    let signed = machine.open(1_000, 0, now).unwrap();
    let entries = [(payer.address(), signed)];
    assert_eq!(
        relayer
            .open_channels_by_sig(&entries)
            .await
            .unwrap()
            .skipped,
        []
    );
    let replay = relayer.open_channels_by_sig(&entries).await.unwrap();
    assert_eq!(replay.skipped.len(), 1);
    assert_eq!(replay.skipped[0].0, 0);
    assert_eq!(replay.skipped[0].1.code(), "channel_exists");
    assert_eq!(
        escrow_balance(&payer, payer.address()).await,
        10_000 - 1_500 - 1_000
    );
}

#[tokio::test]
async fn one_transaction_funding_and_nonce_cancellation() {
    let net = Chain::start().await;
    let (payer_key, payer) = account(&net, PAYER, PAYER_TOKENS).await;
    let (payee_key, payee) = account(&net, PAYEE, 0).await;
    let (_, relayer) = account(&net, RELAYER, 0).await;
    let deadline = payer.block_timestamp().await.unwrap() + 600;

    // From wallet tokens to two funded channels in one call: no approval, the free balance untouched.
    payer
        .fund_channels_with_permit(
            &[(payee.address(), 1, 30_000), (payee.address(), 2, 20_000)],
            deadline,
        )
        .await
        .unwrap();
    let first = channel_id(payer.address(), payee.address(), 1);
    let second = channel_id(payer.address(), payee.address(), 2);
    for (id, deposit) in [(first, 30_000), (second, 20_000)] {
        let info = payer.channel(id).await.unwrap();
        assert_eq!(
            (info.deposit, info.status, info.nonce),
            (deposit, ChannelStatus::Open, 0)
        );
    }
    assert_eq!(escrow_balance(&payer, payer.address()).await, 0);
    assert_eq!(
        tokens(&payer, payer.address()).await,
        U256::from(PAYER_TOKENS - 50_000)
    );
    // The same call tops up an open channel.
    payer
        .fund_channels_with_permit(&[(payee.address(), 1, 5_000)], deadline)
        .await
        .unwrap();
    assert_eq!(payer.channel(first).await.unwrap().deposit, 35_000);

    // A cooperative close signed under the channel's nonce 0, then voided by the payee advancing it.
    let close = CooperativeClose {
        payer: payer.address(),
        payee: payee.address(),
        salt: 2,
        cumulative: U96::ZERO,
        fee: U96::ZERO,
        relayer: relayer.address(),
        channelNonce: 0,
        deadline: U40::from(deadline),
    };
    let digest = close.eip712_signing_hash(payer.domain());
    let (payer_sig, payee_sig) = (
        payer_key.sign_digest(&digest).unwrap(),
        payee_key.sign_digest(&digest).unwrap(),
    );
    // Named for the relayer: nobody else may submit it.
    let error = payer
        .cooperative_close(&close, &payer_sig, &payee_sig)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "wrong_relayer");
    payee
        .advance_channel_nonce(payer.address(), payee.address(), 2)
        .await
        .unwrap();
    assert_eq!(payer.channel(second).await.unwrap().nonce, 1);
    let error = relayer
        .cooperative_close(&close, &payer_sig, &payee_sig)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "channel_nonce_mismatch");
    assert_eq!(
        payer.channel(second).await.unwrap().status,
        ChannelStatus::Open
    );

    // The account nonce: advancing it voids a signed, unsubmitted withdrawal.
    assert_eq!(payer.nonce_of(payer.address()).await.unwrap(), 0);
    payer.advance_nonce().await.unwrap();
    assert_eq!(payer.nonce_of(payer.address()).await.unwrap(), 1);
}
