//! The per-peer sessions in Rust: what the C ABI's flow tests check through C, plus what only Rust
//! callers (the client agent, the in-process engine) use — several pieces paid by one receipt, the
//! budget, sessions restored from their channel.

use piecepay_sdk::{
    Actions, Amount, CreditWindow, Outcome, PayeePolicy, PayeeSession, PayeeSessionConfig,
    PayerConfig, PayerSession, PayerSessionConfig, protocol::alloy_primitives::Address,
    wire::Message,
};
use piecepay_test_support::keys::key;

const CHAIN: u64 = 31_337;
const PRICE: Amount = 1_000;
const NOW: u64 = 1_700_000_000;

fn payee_config(credit: u32) -> PayeeSessionConfig {
    PayeeSessionConfig {
        chain_id: CHAIN,
        escrow: Address::repeat_byte(0xe5),
        token: Address::repeat_byte(0x70),
        key: key(0x22),
        policy: PayeePolicy {
            min_price: PRICE,
            credit: CreditWindow::Pieces(credit),
        },
    }
}

fn payer_config(budget: Amount) -> PayerSessionConfig {
    PayerSessionConfig {
        chain_id: CHAIN,
        escrow: Address::repeat_byte(0xe5),
        token: Address::repeat_byte(0x70),
        key: key(0x11),
        salt: 7,
        max_price: 2 * PRICE,
        bid_step: 100,
        budget,
        channel: PayerConfig::default(),
    }
}

/// The reply of `outcome`, encoded and decoded as it crosses the wire.
fn wire(outcome: &Outcome) -> Vec<u8> {
    outcome.reply.as_ref().expect("a reply").encode().unwrap()
}

/// terms → bid → accept → open → channel → checked: both sides open with `deposit`.
fn open_pair(credit: u32, deposit: Amount, budget: Amount) -> (PayerSession, PayeeSession) {
    let mut payee = PayeeSession::new(payee_config(credit)).unwrap();
    let mut payer = PayerSession::new(payer_config(budget)).unwrap();
    let terms = payee.terms_message().encode().unwrap();
    let bid = payer.on_bytes(&terms, NOW).unwrap();
    assert_eq!(bid.received, Some("terms"));
    let accept = payee.on_bytes(&wire(&bid), NOW).unwrap();
    let agreed = payer.on_bytes(&wire(&accept), NOW).unwrap();
    assert!(agreed.has(Actions::OPEN_CHANNEL));
    payer.open(deposit, 0, NOW).unwrap();
    let announce = payer.channel_funded(deposit, None, NOW).unwrap();
    let check = payee.on_bytes(&wire(&announce), NOW).unwrap();
    assert!(check.has(Actions::CHECK_CHANNEL));
    assert_eq!(check.amount, deposit);
    let funded = payee.channel_funded(deposit, NOW).unwrap();
    assert!(funded.has(Actions::SERVE));
    (payer, payee)
}

#[test]
fn one_receipt_pays_every_piece_passed_while_the_last_was_in_flight() {
    let (mut payer, mut payee) = open_pair(8, 100 * PRICE, Amount::MAX);
    for _ in 0..3 {
        assert!(payee.on_piece_served(NOW).unwrap().has(Actions::SERVE));
    }
    let receipt = payer.pay_pieces(3, NOW).unwrap();
    let Some(Message::Receipt(sent)) = &receipt.reply else {
        panic!("a receipt");
    };
    assert_eq!(sent.cumulative, 3 * PRICE);
    assert_eq!(payer.info().pieces, 3);
    payee.on_bytes(&wire(&receipt), NOW).unwrap();
    let acked = payee.verify_receipt(NOW).unwrap();
    assert!(acked.has(Actions::PERSIST_RECEIPT));
    assert_eq!(acked.amount, 3 * PRICE);
    let ack = payer.on_bytes(&wire(&acked), NOW).unwrap();
    assert_eq!((ack.received, ack.amount), (Some("receipt_ack"), 3 * PRICE));
    assert_eq!(payer.info().acknowledged, 3 * PRICE);
    assert_eq!(
        payer.pay_pieces(0, NOW).unwrap_err().error.code(),
        "zero_amount"
    );
}

/// The delayed-acknowledgement rule (`docs/wire-protocol.md` §5.6) at its limit: the payer's receipt
/// lags until the payee has served its whole credit window and stops; one receipt for every piece
/// passed meanwhile pays them all, and serving resumes.
#[test]
fn one_receipt_for_a_whole_credit_window_lets_the_payee_serve_again() {
    const CREDIT: u32 = 8;
    let (mut payer, mut payee) = open_pair(CREDIT, 100 * PRICE, Amount::MAX);
    for served in 1..=CREDIT {
        let out = payee.on_piece_served(NOW).unwrap();
        assert_eq!(out.has(Actions::SERVE), served < CREDIT, "piece {served}");
    }
    assert!(
        !payee.may_serve(),
        "the window is used up: nothing more until paid"
    );
    let receipt = payer.pay_pieces(u64::from(CREDIT), NOW).unwrap();
    let held = payee.on_bytes(&wire(&receipt), NOW).unwrap();
    assert_eq!(held.received, Some("receipt"));
    let acked = payee.verify_receipt(NOW).unwrap();
    assert!(acked.has(Actions::PERSIST_RECEIPT));
    assert_eq!(acked.amount, Amount::from(CREDIT) * PRICE);
    assert!(payee.may_serve(), "paid up: the whole window is open again");
    let info = payee.info();
    assert_eq!(
        (info.served, info.paid),
        (Amount::from(CREDIT) * PRICE, Amount::from(CREDIT) * PRICE)
    );
}

/// At low rates the same payer sends one receipt per piece: each raises the cumulative by one price
/// and is acknowledged before the next piece passes.
#[test]
fn at_low_rates_every_piece_gets_its_own_receipt() {
    let (mut payer, mut payee) = open_pair(8, 100 * PRICE, Amount::MAX);
    for piece in 1..=5u64 {
        assert!(payee.on_piece_served(NOW).unwrap().has(Actions::SERVE));
        let receipt = payer.on_piece_verified(NOW).unwrap();
        let Some(Message::Receipt(sent)) = &receipt.reply else {
            panic!("a receipt for piece {piece}");
        };
        assert_eq!(sent.cumulative, Amount::from(piece) * PRICE);
        payee.on_bytes(&wire(&receipt), NOW).unwrap();
        let acked = payee.verify_receipt(NOW).unwrap();
        assert_eq!(acked.amount, Amount::from(piece) * PRICE);
        let ack = payer.on_bytes(&wire(&acked), NOW).unwrap();
        assert_eq!(ack.amount, Amount::from(piece) * PRICE);
    }
    assert_eq!(payer.info().pieces, 5);
}

#[test]
fn a_payment_past_the_budget_is_refused_and_signs_nothing() {
    let (mut payer, _payee) = open_pair(8, 100 * PRICE, 2 * PRICE);
    payer.on_piece_verified(NOW).unwrap();
    payer.on_piece_verified(NOW).unwrap();
    let refused = payer.on_piece_verified(NOW).unwrap_err();
    assert_eq!(refused.error.code(), "over_budget");
    assert!(refused.outcome.reply.is_none());
    assert_eq!(payer.info().paid, 2 * PRICE);
    assert_eq!(payer.bidder().spent(), 2 * PRICE);
}

#[test]
fn a_payment_over_the_deposit_asks_for_a_top_up_and_signs_nothing() {
    let (mut payer, _payee) = open_pair(8, 2 * PRICE, Amount::MAX);
    let refused = payer.pay_pieces(3, NOW).unwrap_err();
    assert_eq!(refused.error.code(), "top_up_needed");
    assert!(refused.outcome.has(Actions::TOP_UP));
    assert!(refused.outcome.amount >= 3 * PRICE);
    assert_eq!(payer.info().paid, 0);
}

#[test]
fn restored_sessions_go_on_from_their_channels() {
    let (mut payer, mut payee) = open_pair(8, 100 * PRICE, 10 * PRICE);
    payee.on_piece_served(NOW).unwrap();
    let receipt = payer.on_piece_verified(NOW).unwrap();
    payee.on_bytes(&wire(&receipt), NOW).unwrap();
    payee.verify_receipt(NOW).unwrap();

    // A restart: the sessions are rebuilt from the channels as a store gives them back.
    let spent = payer.bidder().spent();
    let mut payer = PayerSession::restore(
        payer_config(10 * PRICE),
        payer.channel().unwrap().clone(),
        spent,
    )
    .unwrap();
    let mut payee =
        PayeeSession::restore(payee_config(8), payee.channel().unwrap().clone()).unwrap();
    assert_eq!(payer.payee(), Some(key(0x22).address()));
    assert_eq!(payer.bidder().price(), PRICE);
    assert_eq!(payer.bidder().remaining_budget(), 9 * PRICE);

    assert!(payee.check_request().has(Actions::SERVE));
    payee.on_piece_served(NOW + 1).unwrap();
    let next = payer.on_piece_verified(NOW + 1).unwrap();
    let Some(Message::Receipt(sent)) = &next.reply else {
        panic!("a receipt");
    };
    assert_eq!(
        sent.cumulative,
        2 * PRICE,
        "above every receipt signed before"
    );
    payee.on_bytes(&wire(&next), NOW + 1).unwrap();
    assert_eq!(payee.verify_receipt(NOW + 1).unwrap().amount, 2 * PRICE);

    // A channel of another payer, or on another escrow, is not restored into this session.
    let foreign = PayerSessionConfig {
        key: key(0x33),
        ..payer_config(PRICE)
    };
    let refused = PayerSession::restore(foreign, payer.channel().unwrap().clone(), 0);
    assert_eq!(refused.unwrap_err().code(), "invalid_channel");
    let elsewhere = PayeeSessionConfig {
        escrow: Address::repeat_byte(0xe6),
        ..payee_config(8)
    };
    let refused = PayeeSession::restore(elsewhere, payee.channel().unwrap().clone());
    assert_eq!(refused.unwrap_err().code(), "invalid_channel");
}

#[test]
fn refused_messages_are_answered_and_change_nothing() {
    let (mut payer, mut payee) = open_pair(2, 100 * PRICE, Amount::MAX);
    let before = payee.info();
    // A payer's message sent to the payer, garbage, and a peer's error.
    let bid = payer.bid().encode().unwrap();
    let refused = payer.on_bytes(&bid, NOW);
    assert_eq!(refused.unwrap_err().error.code(), "unexpected_message");
    let garbage = payee.on_bytes(b"d1:t", NOW).unwrap_err();
    assert_eq!(garbage.error.code(), "malformed");
    assert!(matches!(garbage.outcome.reply, Some(Message::Error(_))));
    let error = garbage.outcome.reply.unwrap().encode().unwrap();
    let told = payer.on_bytes(&error, NOW).unwrap();
    assert!(told.has(Actions::PEER_CODE) && told.reply.is_none());
    assert_eq!(told.peer_code.unwrap().as_str(), "malformed");
    assert_eq!(payee.info(), before);
}
