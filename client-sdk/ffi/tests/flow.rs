//! The C ABI driven from Rust the way a torrent client drives it: both sides of a channel, through the
//! `extern "C"` functions and the bytes they exchange.

#![allow(unsafe_code)]

mod common;

use std::ptr;

use common::*;
use piecepay_ffi::*;
use piecepay_protocol::{
    CompactSignature, CooperativeClose, Receipt, SigningKey, SolStruct,
    alloy_primitives::{
        Address, B256,
        aliases::{U40, U96},
    },
    channel_id, domain,
};
use piecepay_wire::{Code, Message};

fn error_code(reply: &[u8]) -> String {
    match Message::decode(reply).expect("an error reply decodes") {
        Message::Error(error) => error.code.as_str().to_owned(),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// A receipt of the test channel for `cumulative`, signed by someone else than its payer.
fn forged_receipt(cumulative: u128) -> Message {
    let forger = SigningKey::from_bytes(&B256::repeat_byte(0x33)).unwrap();
    let message = Receipt {
        payee: address_of(PAYEE_KEY),
        salt: 7,
        cumulative: U96::from(cumulative),
    };
    let signature = forger
        .sign_digest(&message.eip712_signing_hash(&domain(CHAIN, Address::from(ESCROW))))
        .unwrap();
    Message::Receipt(piecepay_wire::Receipt {
        salt: 7,
        cumulative,
        signature,
    })
}

#[test]
fn pays_per_piece_within_the_credit_window() {
    let (mut payer, mut payee) = open_pair(2, 100 * PRICE);
    let payer_address = address_of(PAYER_KEY);
    let payee_address = address_of(PAYEE_KEY);

    for piece in 1..=5u128 {
        let now = NOW + 10 + piece as u64;
        assert!(payee.check_request().ok().has(PIECEPAY_ACTION_SERVE));
        payee.on_piece_served(now).ok();
        let receipt = payer.on_piece_verified(now).ok();
        assert!(matches!(receipt.message(), Message::Receipt(r) if r.cumulative == piece * PRICE));

        // The peer owes its whole credit (two pieces served, one paid, the other in flight): verifying
        // is due at once. The caller runs it (off its network thread).
        let held = payee.on_message(&receipt.reply, now).ok();
        assert!(held.has(PIECEPAY_ACTION_VERIFY_RECEIPT) && held.reply.is_empty());
        let ack = payee.verify_receipt(now).ok();
        assert!(ack.has(PIECEPAY_ACTION_PERSIST_RECEIPT));
        assert!(ack.has(PIECEPAY_ACTION_SERVE));
        assert_eq!(ack.amount, piece * PRICE);
        let acked = payer.on_message(&ack.reply, now).ok();
        assert_eq!(acked.received, PiecepayMessageKind::ReceiptAck);
        assert_eq!(acked.amount, piece * PRICE);
    }

    let latest = payee.latest_receipt().unwrap();
    assert_eq!(u128::from(latest.cumulative), 5 * PRICE);
    assert_eq!(latest.payer, payer_address.0.0);
    assert_eq!(latest.payee, payee_address.0.0);
    assert_eq!(
        latest.channel_id,
        channel_id(payer_address, payee_address, 7).0
    );
    assert_eq!(payer.latest_receipt().unwrap(), latest);
    // The receipt is what the escrow checks: the payer's signature over EIP-712 Receipt.
    let message = Receipt {
        payee: payee_address,
        salt: 7,
        cumulative: U96::from(5 * PRICE),
    };
    let digest = message.eip712_signing_hash(&domain(CHAIN, Address::from(ESCROW)));
    let signature = CompactSignature::from_slice(&latest.signature).unwrap();
    assert_eq!(signature.recover(&digest), Ok(payer_address));

    let (payer_info, payee_info) = (payer.info(), payee.info());
    assert_eq!(payer_info.state, PiecepayState::Open);
    assert_eq!(payee_info.state, PiecepayState::Open);
    assert_eq!(u128::from(payer_info.acknowledged), 5 * PRICE);
    assert_eq!(u128::from(payee_info.served), 5 * PRICE);
    assert_eq!(payee_info.pieces, 5);
    assert_eq!(payer_info.channel_id, payee_info.channel_id);
}

#[test]
fn chokes_over_credit_and_serves_again_once_paid() {
    let (mut payer, mut payee) = open_pair(2, 100 * PRICE);
    assert!(
        payee
            .on_piece_served(NOW + 2)
            .ok()
            .has(PIECEPAY_ACTION_SERVE)
    );
    let choke = payee.on_piece_served(NOW + 3).ok();
    assert!(choke.has(PIECEPAY_ACTION_CHOKE));
    let Message::PaymentRequired(required) = choke.message() else {
        panic!("payment_required expected")
    };
    assert_eq!(required.reason, Code::OVER_CREDIT);
    assert_eq!((required.paid, required.served), (0, 2 * PRICE));

    // Told once: further requests are refused without repeating it.
    let again = payee.check_request().ok();
    assert!(again.has(PIECEPAY_ACTION_CHOKE));
    assert!(again.reply.is_empty());

    let told = payer.on_message(&choke.reply, NOW + 3).ok();
    assert!(told.has(PIECEPAY_ACTION_PEER_CODE));
    assert_eq!(told.code, "over_credit");

    let first = payer.on_piece_verified(NOW + 4).ok();
    let held = payee.on_message(&first.reply, NOW + 4).ok();
    assert!(held.has(PIECEPAY_ACTION_VERIFY_RECEIPT) && held.has(PIECEPAY_ACTION_CHOKE));
    let ack = payee.verify_receipt(NOW + 4).ok();
    assert!(
        ack.has(PIECEPAY_ACTION_SERVE),
        "one piece of credit is free again"
    );
}

#[test]
fn refused_receipts_are_answered_and_change_nothing() {
    let (mut payer, mut payee) = open_pair(4, 100 * PRICE);
    let first = payer.on_piece_verified(NOW + 2).ok();
    let second = payer.on_piece_verified(NOW + 2).ok();
    payee.on_message(&first.reply, NOW + 2).ok();
    payee.on_message(&second.reply, NOW + 2).ok();
    // Nothing was served: both wait for the caller's timer, which accepts the newest.
    assert_eq!(payee.verify_receipt(NOW + 2).ok().amount, 2 * PRICE);
    let before = payee.info();

    // The very receipt already accepted (its acknowledgement may have been lost) is acknowledged again.
    let again = payee.on_message(&second.reply, NOW + 3).ok();
    assert!(matches!(again.message(), Message::ReceiptAck(a) if a.cumulative == 2 * PRICE));

    let stale = payee.on_message(&first.reply, NOW + 3);
    assert_eq!(stale.status, PiecepayStatus::StaleReceipt);
    assert_eq!(last_code(), "stale_receipt");
    assert_eq!(error_code(&stale.reply), "stale_receipt");
    assert!(!stale.has(PIECEPAY_ACTION_PERSIST_RECEIPT));

    // A receipt signed by someone else than the channel's payer.
    let forged = forged_receipt(3 * PRICE);
    payee.on_message(&forged.encode().unwrap(), NOW + 3).ok();
    let refused = payee.verify_receipt(NOW + 3);
    assert_eq!(refused.status, PiecepayStatus::WrongSigner);
    assert_eq!(error_code(&refused.reply), "wrong_signer");

    // Above the deposit.
    let greedy = forged_receipt(101 * PRICE);
    assert_eq!(
        payee.on_message(&greedy.encode().unwrap(), NOW + 3).status,
        PiecepayStatus::ExceedsDeposit
    );

    assert_eq!(payee.info(), before);
}

/// The payee serves `served` pieces, then the payer pays for `paid` pieces; returns the payee's outcome of
/// each receipt, in order.
fn serve_and_pay(payer: &mut Payer, payee: &mut Payee, served: u32, paid: u32) -> Vec<Out> {
    for _ in 0..served {
        payee.on_piece_served(NOW + 2).ok();
    }
    (0..paid)
        .map(|_| {
            let receipt = payer.on_piece_verified(NOW + 2).ok();
            payee.on_message(&receipt.reply, NOW + 2).ok()
        })
        .collect()
}

#[test]
fn the_allowance_counts_the_pieces_left_before_the_choke() {
    // Four pieces of credit, a deposit of six.
    let (mut payer, mut payee) = open_pair(4, 6 * PRICE);
    assert_eq!(payee.allowance(), 4);
    // Each piece served takes one: `SERVE` while some are left, `CHOKE` exactly when none is.
    for left in (0..4).rev() {
        let out = payee.on_piece_served(NOW + 2).ok();
        assert_eq!(payee.allowance(), left);
        assert_eq!(out.has(PIECEPAY_ACTION_SERVE), left > 0);
        assert_eq!(out.has(PIECEPAY_ACTION_CHOKE), left == 0);
    }
    // A receipt for three counts once verified, and only as far as the deposit left (two pieces).
    let held = serve_and_pay(&mut payer, &mut payee, 0, 3);
    assert!(held.iter().all(|out| out.has(PIECEPAY_ACTION_CHOKE)));
    assert_eq!(payee.allowance(), 0, "held, not yet verified");
    let verified = payee.verify_receipt(NOW + 2).ok();
    assert!(verified.has(PIECEPAY_ACTION_SERVE));
    assert_eq!(payee.allowance(), 2);
    // NULL: nothing to serve.
    // SAFETY: NULL is allowed.
    assert_eq!(unsafe { piecepay_payee_allowance(ptr::null()) }, 0);
}

#[test]
fn receipts_behind_the_served_are_held_and_verified_together() {
    let (mut payer, mut payee) = open_pair(8, 100 * PRICE);
    // Three pieces served, two paid: the peer owes one piece of its eight of credit. Nothing is verified
    // yet, nothing acknowledged, nothing to persist; the peer is still served.
    let held = serve_and_pay(&mut payer, &mut payee, 3, 2);
    for out in &held {
        assert!(out.reply.is_empty());
        assert!(!out.has(PIECEPAY_ACTION_PERSIST_RECEIPT));
        assert!(out.has(PIECEPAY_ACTION_SERVE));
    }
    assert_eq!(payee.latest_receipt(), Err(PiecepayStatus::NotFound));
    assert_eq!(u128::from(payee.info().paid), 0);

    // The fourth piece served leaves the peer owing half its credit: verifying the held receipt is due.
    let fourth = payee.on_piece_served(NOW + 3).ok();
    assert!(fourth.has(PIECEPAY_ACTION_VERIFY_RECEIPT));
    assert!(fourth.has(PIECEPAY_ACTION_SERVE));
    let verified = payee.verify_receipt(NOW + 3).ok();
    assert!(verified.has(PIECEPAY_ACTION_PERSIST_RECEIPT));
    assert_eq!(verified.amount, 2 * PRICE);
    // One acknowledgement covers both receipts.
    let acked = payer.on_message(&verified.reply, NOW + 3).ok();
    assert_eq!(acked.received, PiecepayMessageKind::ReceiptAck);
    assert_eq!(u128::from(payer.info().acknowledged), 2 * PRICE);
    assert_eq!(
        u128::from(payee.latest_receipt().unwrap().cumulative),
        2 * PRICE
    );
    // Nothing is held any more: verifying again does nothing.
    let nothing = payee.verify_receipt(NOW + 3).ok();
    assert!(nothing.reply.is_empty());
    assert!(!nothing.has(PIECEPAY_ACTION_PERSIST_RECEIPT));

    // A payer that keeps up is not verified per receipt either: its receipts wait for the caller's timer.
    let caught_up = serve_and_pay(&mut payer, &mut payee, 0, 2);
    assert!(caught_up.iter().all(|out| out.reply.is_empty()));
    let timer = payee.verify_receipt(NOW + 4).ok();
    assert!(timer.has(PIECEPAY_ACTION_PERSIST_RECEIPT));
    assert_eq!(timer.amount, 4 * PRICE);
    assert_eq!(u128::from(payee.info().paid), 4 * PRICE);
}

#[test]
fn a_payer_far_behind_asks_for_verification_on_every_receipt() {
    // Credit 2: half of it is one piece, so any lag makes each receipt due at once (eager verification).
    let (mut payer, mut payee) = open_pair(2, 100 * PRICE);
    let outs = serve_and_pay(&mut payer, &mut payee, 2, 1);
    assert!(outs[0].has(PIECEPAY_ACTION_VERIFY_RECEIPT));
    assert!(!outs[0].has(PIECEPAY_ACTION_PERSIST_RECEIPT));
    assert_eq!(payee.verify_receipt(NOW + 3).ok().amount, PRICE);
}

#[test]
fn a_held_receipt_that_fails_is_answered_and_let_go() {
    let (mut payer, mut payee) = open_pair(8, 100 * PRICE);
    serve_and_pay(&mut payer, &mut payee, 2, 0);
    // A receipt with a valid shape signed by someone else is held like any other …
    let forged = forged_receipt(PRICE);
    let held = payee.on_message(&forged.encode().unwrap(), NOW + 2).ok();
    assert!(held.reply.is_empty());
    // … and refused when verified: an error reply, nothing accepted, nothing held any more.
    let refused = payee.verify_receipt(NOW + 3);
    assert_eq!(refused.status, PiecepayStatus::WrongSigner);
    assert_eq!(error_code(&refused.reply), "wrong_signer");
    assert!(!refused.has(PIECEPAY_ACTION_PERSIST_RECEIPT));
    assert_eq!(u128::from(payee.info().paid), 0);
    assert!(payee.verify_receipt(NOW + 3).ok().reply.is_empty());

    // The payer's own receipts are accepted afterwards.
    serve_and_pay(&mut payer, &mut payee, 0, 2);
    assert!(
        payee
            .verify_receipt(NOW + 4)
            .ok()
            .has(PIECEPAY_ACTION_PERSIST_RECEIPT)
    );
    assert_eq!(u128::from(payee.info().paid), 2 * PRICE);
}

#[test]
fn receipts_at_or_below_the_one_held_are_stale_unless_resent() {
    let (mut payer, mut payee) = open_pair(8, 100 * PRICE);
    payee.on_piece_served(NOW + 2).ok();
    let first = payer.on_piece_verified(NOW + 2).ok();
    payee.on_message(&first.reply, NOW + 2).ok();
    assert!(
        payee
            .verify_receipt(NOW + 2)
            .ok()
            .has(PIECEPAY_ACTION_PERSIST_RECEIPT)
    );
    serve_and_pay(&mut payer, &mut payee, 3, 0);
    let second = payer.on_piece_verified(NOW + 2).ok();
    let third = payer.on_piece_verified(NOW + 2).ok();
    // Held unverified: nothing to reply yet.
    let held_without_reply = |payee: &mut Payee| {
        payee
            .on_message(&third.reply, NOW + 2)
            .ok()
            .reply
            .is_empty()
    };
    assert!(held_without_reply(&mut payee));
    // Below the one held (the payer never sends receipts out of order): stale, the held one stays.
    let stale = payee.on_message(&second.reply, NOW + 2);
    assert_eq!(stale.status, PiecepayStatus::StaleReceipt);
    assert_eq!(error_code(&stale.reply), "stale_receipt");
    // The held one again: still held.
    assert!(held_without_reply(&mut payee));
    // The acknowledged one again (its ack was lost): acknowledged again at once; the held one stays held.
    let again = payee.on_message(&first.reply, NOW + 2).ok();
    assert!(matches!(again.message(), Message::ReceiptAck(a) if a.cumulative == PRICE));
    assert_eq!(payee.verify_receipt(NOW + 3).ok().amount, 3 * PRICE);
    assert_eq!(u128::from(payee.info().paid), 3 * PRICE);
}

#[test]
fn malformed_and_unknown_messages_get_an_error_reply() {
    let mut payee = Payee::new(&payee_config(2)).unwrap();
    let mut payer = Payer::new(&payer_config()).unwrap();
    for (bytes, status, code) in [
        (
            b"".as_slice(),
            PiecepayStatus::MalformedMessage,
            "malformed",
        ),
        (
            b"d1:t3:bide",
            PiecepayStatus::MalformedMessage,
            "missing_field",
        ),
        (
            b"d1:ti1ee",
            PiecepayStatus::MalformedMessage,
            "not_a_message",
        ),
        (
            b"d1:t5:helloe",
            PiecepayStatus::UnknownMessage,
            "unknown_message",
        ),
        (b"le", PiecepayStatus::MalformedMessage, "not_a_message"),
        (
            b"d1:bi1e1:ai1ee",
            PiecepayStatus::MalformedMessage,
            "not_canonical",
        ),
    ] {
        let out = payee.on_message(bytes, NOW);
        assert_eq!(out.status, status, "{bytes:?}");
        assert_eq!(error_code(&out.reply), code, "{bytes:?}");
        assert_eq!(last_code(), code);
        let out = payer.on_message(bytes, NOW);
        assert_eq!(
            (out.status, error_code(&out.reply).as_str()),
            (status, code)
        );
    }
    let too_large = vec![b'x'; PIECEPAY_MAX_MESSAGE_LEN + 1];
    assert_eq!(
        error_code(&payee.on_message(&too_large, NOW).reply),
        "too_large"
    );

    // A message for the other role.
    let terms = payee.terms();
    let out = payee.on_message(&terms, NOW);
    assert_eq!(out.status, PiecepayStatus::UnexpectedMessage);
    let Message::Error(error) = Message::decode(&out.reply).unwrap() else {
        panic!()
    };
    assert_eq!(error.regarding.as_ref().map(Code::as_str), Some("terms"));

    // A receipt before any bid.
    let receipt = piecepay_wire::Receipt {
        salt: 7,
        cumulative: 1,
        signature: CompactSignature::new(B256::ZERO, B256::ZERO),
    };
    let out = payee.on_message(&Message::Receipt(receipt).encode().unwrap(), NOW);
    assert_eq!(out.status, PiecepayStatus::UnexpectedMessage);

    // A peer's error is reported, never answered.
    let error = payee.on_message(&out.reply, NOW).ok();
    assert!(error.reply.is_empty());
    assert_eq!(error.code, "unexpected_message");
    assert_eq!(error.received, PiecepayMessageKind::Error);
}

#[test]
fn a_low_bid_is_rejected_and_raised_to_the_minimum() {
    let mut payee = Payee::new(&payee_config(2)).unwrap();
    let mut payer = Payer::new(&payer_config()).unwrap();
    let low = Message::Bid(piecepay_wire::Bid {
        price: PRICE - 1,
        payer: address_of(PAYER_KEY),
        salt: 7,
    });
    let reject = payee.on_message(&low.encode().unwrap(), NOW).ok();
    let Message::Reject(rejected) = reject.message() else {
        panic!("reject expected")
    };
    assert_eq!(rejected.code.as_str(), "bid_too_low");
    assert_eq!(rejected.min_price, Some(PRICE));

    // The payer has not seen terms yet: a reject alone raises its bid to the minimum asked.
    payer.on_message(&payee.terms(), NOW).ok();
    let raised = payer.on_message(&reject.reply, NOW).ok();
    assert_eq!(raised.code, "bid_too_low");

    // Choked later: the bid goes up by one step, at most every 10 s.
    let up = payer.on_choked(NOW + 20).ok();
    let Message::Bid(bid) = up.message() else {
        panic!("bid expected")
    };
    assert_eq!(bid.price, PRICE + 100);
    assert!(payer.on_choked(NOW + 21).ok().reply.is_empty());
    let accept = payee.on_message(&up.reply, NOW + 21).ok();
    assert!(matches!(accept.message(), Message::Accept(a) if a.price == PRICE + 100));
}

#[test]
fn terms_for_another_escrow_or_above_the_max_are_refused() {
    let mut other = payee_config(2);
    other.escrow = [0x99; 20];
    let payee = Payee::new(&other).unwrap();
    let mut payer = Payer::new(&payer_config()).unwrap();
    let out = payer.on_message(&payee.terms(), NOW);
    assert_eq!(out.status, PiecepayStatus::TermsMismatch);
    assert_eq!(error_code(&out.reply), "terms_mismatch");

    let mut dear = payee_config(2);
    dear.min_price = (PRICE * 3).into();
    let payee = Payee::new(&dear).unwrap();
    let out = payer.on_message(&payee.terms(), NOW);
    assert_eq!(out.status, PiecepayStatus::PriceAboveMax);
    assert_eq!(error_code(&out.reply), "price_above_max");
}

#[test]
fn an_exhausted_deposit_asks_for_a_top_up() {
    let (mut payer, mut payee) = open_pair(10, 2 * PRICE);
    let mut choke = None;
    for now in [NOW + 2, NOW + 3] {
        choke = Some(payee.on_piece_served(now).ok());
        let receipt = payer.on_piece_verified(now).ok();
        payee.on_message(&receipt.reply, now).ok();
    }
    // Serving the piece that used up the deposit choked the peer and told it why.
    let choke = choke.unwrap();
    let refused = payer.on_piece_verified(NOW + 4);
    assert_eq!(refused.status, PiecepayStatus::TopUpNeeded);
    assert!(refused.reply.is_empty());
    assert!(refused.has(PIECEPAY_ACTION_TOP_UP));

    assert!(choke.has(PIECEPAY_ACTION_CHOKE));
    assert!(payee.check_request().ok().has(PIECEPAY_ACTION_CHOKE));
    let Message::PaymentRequired(required) = choke.message() else {
        panic!()
    };
    assert_eq!(required.reason, Code::DEPOSIT_EXHAUSTED);
    let told = payer.on_message(&choke.reply, NOW + 4).ok();
    assert!(told.has(PIECEPAY_ACTION_TOP_UP));
    assert!(told.amount >= 3 * PRICE);

    let announce = payer.channel_funded(told.amount, NOW + 5).ok();
    let check = payee.on_message(&announce.reply, NOW + 5).ok();
    assert_eq!(check.amount, told.amount);
    assert!(
        payee
            .channel_funded(check.amount, NOW + 5)
            .ok()
            .has(PIECEPAY_ACTION_SERVE)
    );
    assert!(payer.on_piece_verified(NOW + 6).ok().message().kind() == "receipt");
}

#[test]
fn cooperative_close_is_co_signed() {
    let (mut payer, mut payee) = open_pair(2, 100 * PRICE);
    serve_and_pay(&mut payer, &mut payee, 1, 1);

    assert_eq!(
        payer.cooperative_close().err(),
        Some(PiecepayStatus::NotFound)
    );
    let close = payer.close(NOW + 3).ok();
    let cosigned = payee.on_message(&close.reply, NOW + 3).ok();
    assert!(cosigned.has(PIECEPAY_ACTION_CLOSE_SIGNED) && cosigned.has(PIECEPAY_ACTION_CHOKE));
    let done = payer.on_message(&cosigned.reply, NOW + 3).ok();
    assert!(done.has(PIECEPAY_ACTION_CLOSE_SIGNED));

    let (a, b) = (
        payer.cooperative_close().unwrap(),
        payee.cooperative_close().unwrap(),
    );
    assert_eq!(a, b);
    assert_eq!(u128::from(a.cumulative), PRICE);
    let message = CooperativeClose {
        payer: Address::from(a.payer),
        payee: Address::from(a.payee),
        salt: a.salt,
        cumulative: U96::from(PRICE),
        fee: U96::ZERO,
        relayer: Address::from(a.relayer),
        channelNonce: a.channel_nonce,
        deadline: U40::from(a.deadline),
    };
    let digest = message.eip712_signing_hash(&domain(CHAIN, Address::from(ESCROW)));
    let recover = |sig: &[u8; 64]| CompactSignature::from_slice(sig).unwrap().recover(&digest);
    assert_eq!(recover(&a.payer_signature), Ok(address_of(PAYER_KEY)));
    assert_eq!(recover(&a.payee_signature), Ok(address_of(PAYEE_KEY)));

    // Closing: no more receipts are signed, no more pieces served.
    assert_eq!(
        payer.on_piece_verified(NOW + 4).status,
        PiecepayStatus::InvalidState
    );
    assert!(payee.check_request().ok().has(PIECEPAY_ACTION_CHOKE));
}

#[test]
fn a_close_accepts_the_held_receipt_first() {
    let (mut payer, mut payee) = open_pair(8, 100 * PRICE);
    let held = serve_and_pay(&mut payer, &mut payee, 3, 1);
    assert!(held[0].reply.is_empty());
    let close = payer.close(NOW + 3).ok();
    let cosigned = payee.on_message(&close.reply, NOW + 3).ok();
    assert!(cosigned.has(PIECEPAY_ACTION_PERSIST_RECEIPT));
    assert!(cosigned.has(PIECEPAY_ACTION_CLOSE_SIGNED));
    assert_eq!(
        u128::from(payee.latest_receipt().unwrap().cumulative),
        PRICE
    );
    assert_eq!(
        u128::from(payee.cooperative_close().unwrap().cumulative),
        PRICE
    );
}

#[test]
fn a_channel_for_another_salt_is_refused() {
    let (payer, mut payee) = open_pair(2, 100 * PRICE);
    let wrong = Message::Channel(piecepay_wire::ChannelFunded {
        payer: address_of(PAYER_KEY),
        salt: 8,
        id: channel_id(address_of(PAYER_KEY), address_of(PAYEE_KEY), 8),
        deposit: 5,
        tx: None,
    });
    let out = payee.on_message(&wrong.encode().unwrap(), NOW + 5);
    assert_eq!(out.status, PiecepayStatus::ChannelMismatch);
    assert!(!out.has(PIECEPAY_ACTION_CHECK_CHANNEL));
    assert_eq!(payer.info().state, PiecepayState::Open);
}

#[test]
fn bad_arguments_never_crash() {
    let mut handle = ptr::null_mut();
    let mut outcome = PiecepayOutcome::default();
    // SAFETY: NULL pointers are what is being tested; every other pointer is valid.
    unsafe {
        assert_eq!(
            piecepay_payee_new(ptr::null(), &mut handle),
            PiecepayStatus::NullArgument
        );
        assert!(handle.is_null());
        assert_eq!(last_code(), "null_argument");
        assert_eq!(
            piecepay_payee_new(&payee_config(2), ptr::null_mut()),
            PiecepayStatus::NullArgument
        );
        assert_eq!(
            piecepay_payee_on_message(ptr::null_mut(), ptr::null(), 0, NOW, &mut outcome),
            PiecepayStatus::NullArgument
        );
        let payee = Payee::new(&payee_config(2)).unwrap();
        assert_eq!(
            piecepay_payee_on_message(payee.0, ptr::null(), 5, NOW, &mut outcome),
            PiecepayStatus::InvalidArgument
        );
        assert_eq!(
            piecepay_payee_on_message(payee.0, ptr::null(), 0, NOW, ptr::null_mut()),
            PiecepayStatus::NullArgument
        );
        assert_eq!(
            piecepay_payee_verify_receipt(ptr::null_mut(), NOW, &mut outcome),
            PiecepayStatus::NullArgument
        );
        assert_eq!(
            piecepay_payee_verify_receipt(payee.0, NOW, ptr::null_mut()),
            PiecepayStatus::NullArgument
        );
        piecepay_payee_free(ptr::null_mut());
        piecepay_payer_free(ptr::null_mut());
        piecepay_bytes_free(PiecepayBytes::empty());
    }
    let mut bad = payee_config(2);
    bad.secret_key = [0; 32];
    assert_eq!(
        Payee::new(&bad).err(),
        Some(PiecepayStatus::InvalidSecretKey)
    );
    let mut bad = payee_config(0);
    bad.min_price = 0u128.into();
    assert_eq!(Payee::new(&bad).err(), Some(PiecepayStatus::InvalidPolicy));
    let mut bad = payer_config();
    bad.auth_ttl = 0;
    assert_eq!(Payer::new(&bad).err(), Some(PiecepayStatus::InvalidPolicy));
}

#[test]
fn codec_helpers() {
    let mut kind = PiecepayMessageKind::None;
    let payee = Payee::new(&payee_config(2)).unwrap();
    let terms = payee.terms();
    // SAFETY: valid buffers and NUL-terminated strings.
    unsafe {
        assert_eq!(
            piecepay_message_kind(terms.as_ptr(), terms.len(), &mut kind),
            PiecepayStatus::Ok
        );
        assert_eq!(kind, PiecepayMessageKind::Terms);
        assert_eq!(
            piecepay_message_kind(b"x".as_ptr(), 1, &mut kind),
            PiecepayStatus::MalformedMessage
        );
        assert_eq!(kind, PiecepayMessageKind::None);

        let mut bytes = PiecepayBytes::empty();
        assert_eq!(
            piecepay_encode_error(c"shutting_down".as_ptr(), c"bye".as_ptr(), &mut bytes),
            PiecepayStatus::Ok
        );
        assert_eq!(error_code(bytes.as_slice()), "shutting_down");
        piecepay_bytes_free(bytes);
        let mut bytes = PiecepayBytes::empty();
        assert_eq!(
            piecepay_encode_error(c"Not A Code".as_ptr(), ptr::null(), &mut bytes),
            PiecepayStatus::InvalidArgument
        );
        assert!(bytes.data.is_null());
    }
    assert_eq!(piecepay_negotiate_version(1), 1);
    assert_eq!(piecepay_negotiate_version(9), PIECEPAY_VERSION);
    assert_eq!(piecepay_negotiate_version(0), 0);
}
