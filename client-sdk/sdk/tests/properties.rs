//! Property tests of the rules the channel core must never break, over random sequences of calls:
//! (a) a payee's accounted total is the sum of the deltas it accepted and the highest cumulative it
//! accepted; (b) a payer never signs beyond its deposit, and its signed cumulatives strictly increase;
//! (c) a bid never exceeds its maximum price; and the unchoke ranking keeps its slot promises.

use std::collections::HashSet;

use piecepay_sdk::{
    Amount, BidPolicy, Bidder, Candidate, Channel, CreditWindow, Error, PayeeChannel, PayerChannel,
    PayerConfig, Payment, Terms, UnchokePolicy,
    bidding::BidUpdate,
    protocol::{
        Receipt, SolStruct,
        alloy_primitives::{Address, aliases::U96},
        domain,
    },
    rank_unchoke,
};
use piecepay_test_support::keys::key;
use proptest::prelude::*;

const T0: u64 = 1_700_000_000;

fn channel() -> Channel {
    Channel::new(
        domain(31_337, Address::repeat_byte(0xe5)),
        key(1).address(),
        key(2).address(),
        42,
    )
    .unwrap()
}

#[derive(Clone, Debug)]
enum PayeeOp {
    /// A receipt for `cumulative`, signed by the payer or (forged) by someone else.
    Receipt {
        cumulative: Amount,
        forged: bool,
    },
    Serve,
    TopUp(Amount),
}

fn payee_op() -> impl Strategy<Value = PayeeOp> {
    prop_oneof![
        6 => (0..1_500u128, prop::bool::weighted(0.1))
            .prop_map(|(cumulative, forged)| PayeeOp::Receipt { cumulative, forged }),
        2 => Just(PayeeOp::Serve),
        1 => (1..500u128).prop_map(PayeeOp::TopUp),
    ]
}

#[derive(Clone, Debug)]
enum PayerOp {
    Pay(Amount),
    PayPiece,
    PayUpTo(Amount),
    TopUp(Amount),
    ToppedUp(Amount),
    Price(Amount),
}

fn payer_op() -> impl Strategy<Value = PayerOp> {
    prop_oneof![
        4 => (0..60u128).prop_map(PayerOp::Pay),
        4 => Just(PayerOp::PayPiece),
        2 => (0..1_500u128).prop_map(PayerOp::PayUpTo),
        1 => (0..1_500u128).prop_map(PayerOp::TopUp),
        1 => (0..1_500u128).prop_map(PayerOp::ToppedUp),
        1 => (1..40u128).prop_map(PayerOp::Price),
    ]
}

#[derive(Clone, Debug)]
enum BidOp {
    Choked(u64),
    Rejected(Amount, u64),
    Paid(Amount),
}

fn bid_op() -> impl Strategy<Value = BidOp> {
    prop_oneof![
        (0..100u64).prop_map(BidOp::Choked),
        (0..2_000u128, 0..100u64).prop_map(|(min, dt)| BidOp::Rejected(min, dt)),
        (0..500u128).prop_map(BidOp::Paid),
    ]
}

fn bid_policy() -> impl Strategy<Value = BidPolicy> {
    (
        1..1_000u128,
        0..1_000u128,
        1..300u128,
        0..30u64,
        0..100_000u128,
    )
        .prop_map(|(start, extra, step, raise_interval, budget)| BidPolicy {
            start,
            max_price: start + extra,
            step,
            raise_interval,
            budget,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// (a) The payee's accounted total equals the sum of the deltas it accepted and the highest cumulative
    /// it accepted; every refusal is the one the rules predict and changes nothing.
    #[test]
    fn payee_accounts_exactly_what_it_accepted(
        deposit in 1..1_000u128,
        ops in prop::collection::vec(payee_op(), 1..40),
    ) {
        let channel = channel();
        let terms = Terms::new(7, CreditWindow::Pieces(3)).unwrap();
        let mut payee = PayeeChannel::new(channel.clone(), terms, T0);
        payee.on_channel_opened(deposit, T0).unwrap();
        let (payer, forger) = (key(1), key(3));
        let (mut deposit, mut highest, mut sum_of_deltas) = (deposit, 0u128, 0u128);

        for (i, op) in ops.into_iter().enumerate() {
            let now = T0 + i as u64;
            match op {
                PayeeOp::Receipt { cumulative, forged } => {
                    let receipt = Receipt {
                        payee: channel.payee(),
                        salt: channel.salt(),
                        cumulative: U96::from(cumulative),
                    };
                    let signer = if forged { &forger } else { &payer };
                    let signature = signer
                        .sign_digest(&receipt.eip712_signing_hash(channel.domain()))
                        .unwrap();
                    let before = payee.clone();
                    match payee.on_receipt(&receipt, &signature, now) {
                        // The cumulative held, signed by the payer again: accepted again for nothing.
                        Ok(accepted) if cumulative == highest => {
                            prop_assert!(!forged);
                            prop_assert_eq!(accepted.delta, 0);
                            prop_assert_eq!(&payee, &before);
                        }
                        Ok(accepted) => {
                            prop_assert!(!forged);
                            prop_assert!(cumulative > highest && cumulative <= deposit);
                            prop_assert_eq!(accepted.cumulative, cumulative);
                            prop_assert_eq!(accepted.delta, cumulative - highest);
                            sum_of_deltas += accepted.delta;
                            highest = cumulative;
                        }
                        Err(error) => {
                            // The held cumulative is a duplicate only if the payer signed it.
                            let expected = if cumulative == highest && highest > 0 {
                                prop_assert!(forged, "a duplicate was refused: {error}");
                                "wrong_signer"
                            } else if cumulative <= highest {
                                "stale_receipt"
                            } else if cumulative > deposit {
                                "exceeds_deposit"
                            } else {
                                prop_assert!(forged, "a valid receipt was refused: {error}");
                                "wrong_signer"
                            };
                            prop_assert_eq!(error.code(), expected);
                            prop_assert_eq!(&payee, &before);
                        }
                    }
                }
                PayeeOp::Serve => {
                    let _ = payee.on_piece_served(now).unwrap();
                }
                PayeeOp::TopUp(more) => {
                    deposit += more;
                    payee.on_topped_up(deposit, now).unwrap();
                }
            }
            prop_assert_eq!(payee.paid(), sum_of_deltas);
            prop_assert_eq!(payee.paid(), highest);
            prop_assert_eq!(
                payee.latest_receipt().map_or(0, |r| r.cumulative()),
                highest
            );
        }
    }

    /// (b) A payer never signs beyond its deposit, and the cumulatives it signs strictly increase; a
    /// payment it cannot cover signs nothing.
    #[test]
    fn payer_signs_strictly_increasing_cumulatives_within_its_deposit(
        deposit in 1..1_000u128,
        price in 1..40u128,
        ops in prop::collection::vec(payer_op(), 1..40),
    ) {
        let terms = Terms::new(price, CreditWindow::Pieces(2)).unwrap();
        let config = PayerConfig { auth_ttl: 60, top_up_threshold: 50, top_up_amount: 200, ..PayerConfig::default() };
        let mut payer = PayerChannel::new(key(1), channel(), terms, config, T0).unwrap();
        let _ = payer.open(deposit, 0, T0).unwrap();
        payer.on_opened(deposit, T0).unwrap();
        let (mut deposit, mut signed) = (deposit, Vec::<Amount>::new());

        for (i, op) in ops.into_iter().enumerate() {
            let now = T0 + i as u64;
            let before = payer.cumulative();
            let payment = match op {
                PayerOp::Pay(amount) => Some(payer.pay(amount, now)),
                PayerOp::PayPiece => Some(payer.pay_piece(now)),
                PayerOp::PayUpTo(cumulative) => Some(payer.pay_up_to(cumulative, now)),
                PayerOp::TopUp(total) => {
                    let result = payer.top_up(total, 0, now);
                    prop_assert_eq!(result.is_ok(), total > deposit);
                    None
                }
                PayerOp::ToppedUp(total) => {
                    let result = payer.on_topped_up(total, now);
                    prop_assert_eq!(result.is_ok(), total > deposit);
                    if total > deposit {
                        deposit = total;
                    }
                    None
                }
                PayerOp::Price(price) => {
                    payer
                        .update_terms(Terms::new(price, CreditWindow::Pieces(2)).unwrap(), now)
                        .unwrap();
                    None
                }
            };
            match payment {
                Some(Ok(Payment::Paid { receipt, .. })) => {
                    let cumulative = receipt.cumulative();
                    prop_assert!(cumulative > before);
                    prop_assert!(cumulative <= deposit);
                    prop_assert!(signed.last().is_none_or(|last| cumulative > *last));
                    prop_assert_eq!(
                        payer.channel().verify_receipt(&receipt.message, &receipt.signature),
                        Ok(cumulative)
                    );
                    signed.push(cumulative);
                }
                Some(Ok(Payment::TopUpNeeded { required, suggested, .. })) => {
                    prop_assert!(required > deposit);
                    prop_assert!(suggested >= required.min(piecepay_sdk::MAX_AMOUNT));
                    prop_assert_eq!(payer.cumulative(), before);
                }
                Some(Err(error)) => {
                    let expected =
                        matches!(error, Error::ZeroAmount | Error::NonIncreasingCumulative { .. });
                    prop_assert!(expected, "unexpected refusal: {}", error);
                    prop_assert_eq!(payer.cumulative(), before);
                }
                None => prop_assert_eq!(payer.cumulative(), before),
            }
            prop_assert!(payer.cumulative() <= deposit);
            prop_assert_eq!(payer.cumulative(), signed.last().copied().unwrap_or(0));
        }
        prop_assert!(signed.windows(2).all(|w| w[0] < w[1]));
    }

    /// (c) A bid never exceeds its maximum price (nor drops below its start), never decreases, and a raise
    /// is always covered by the remaining budget.
    #[test]
    fn bid_never_exceeds_max_price(
        policy in bid_policy(),
        ops in prop::collection::vec(bid_op(), 1..60),
    ) {
        let mut bidder = Bidder::new(policy).unwrap();
        let mut now = T0;
        for op in ops {
            let before = bidder.price();
            let update = match op {
                BidOp::Choked(dt) => {
                    now += dt;
                    Some(bidder.on_choked(now))
                }
                BidOp::Rejected(min_price, dt) => {
                    now += dt;
                    Some(bidder.on_rejected(min_price, now))
                }
                BidOp::Paid(amount) => {
                    bidder.on_paid(amount);
                    None
                }
            };
            if let Some(BidUpdate::Raised { price }) = update {
                prop_assert!(price > before);
                prop_assert!(price <= bidder.remaining_budget());
            }
            prop_assert!(bidder.price() <= policy.max_price);
            prop_assert!(bidder.price() >= policy.start);
            prop_assert!(bidder.price() >= before);
        }
    }

    /// The unchoke ranking fills at most `slots`, each peer once, keeps the reserved share for peers that
    /// do not pay when there are enough of them, and gives paid slots to the highest bids.
    #[test]
    fn unchoke_keeps_its_slot_promises(
        slots in 0..12usize,
        reserved_percent in 0..=100u8,
        bids in prop::collection::vec((prop::option::of(0..50u128), 0..100u64), 0..30),
    ) {
        let policy = UnchokePolicy { slots, reserved_percent };
        let candidates: Vec<_> = bids
            .iter()
            .enumerate()
            .map(|(peer, &(bid, reciprocation))| Candidate { peer, bid, reciprocation })
            .collect();
        let ranked = rank_unchoke(&policy, candidates.clone());
        let pays = |peer: usize| candidates[peer].bid.is_some_and(|b| b > 0);

        prop_assert_eq!(ranked.len(), slots.min(candidates.len()));
        prop_assert_eq!(ranked.iter().collect::<HashSet<_>>().len(), ranked.len());
        let free_total = candidates.iter().filter(|c| !pays(c.peer)).count();
        let free_unchoked = ranked.iter().filter(|p| !pays(**p)).count();
        prop_assert!(free_unchoked >= policy.reserved_slots().min(free_total).min(slots));
        // Every paying peer left out bids no more than every paying peer let in.
        let lowest_in = ranked.iter().filter(|p| pays(**p)).map(|p| candidates[*p].bid).min();
        if let Some(lowest_in) = lowest_in {
            for c in candidates.iter().filter(|c| pays(c.peer) && !ranked.contains(&c.peer)) {
                prop_assert!(c.bid <= lowest_in);
            }
        }
    }
}
