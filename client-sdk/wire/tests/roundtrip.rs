//! Property tests: every value and message round-trips through its canonical encoding, and no input,
//! random or mutated from a valid message, makes the codec panic or break its promises.

use std::collections::BTreeMap;

use piecepay_protocol::{
    CompactSignature,
    alloy_primitives::{Address, B256},
};
use piecepay_wire::{
    Accept, Bid, ChannelFunded, Close, Code, CreditWindow, ErrorMessage, MAX_AMOUNT, Message,
    PaymentRequired, Receipt, ReceiptAck, Reject, Terms,
    bencode::{self, Limits, Value},
    check::decode_roundtrip,
};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i128>().prop_map(Value::Int),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
            proptest::collection::btree_map(
                proptest::collection::vec(any::<u8>(), 0..8),
                inner,
                0..6
            )
            .prop_map(Value::Dict),
        ]
    })
}

fn amount() -> impl Strategy<Value = u128> {
    prop_oneof![Just(0), Just(MAX_AMOUNT), 0..=MAX_AMOUNT]
}

fn address() -> impl Strategy<Value = Address> {
    any::<[u8; 20]>().prop_map(Address::from)
}

fn hash() -> impl Strategy<Value = B256> {
    any::<[u8; 32]>().prop_map(B256::from)
}

fn signature() -> impl Strategy<Value = CompactSignature> {
    (hash(), hash()).prop_map(|(r, vs)| CompactSignature::new(r, vs))
}

fn code() -> impl Strategy<Value = Code> {
    "[a-z0-9_]{1,64}".prop_map(|text| Code::new(&text).expect("the regex makes codes"))
}

fn credit() -> impl Strategy<Value = CreditWindow> {
    prop_oneof![
        any::<u32>().prop_map(CreditWindow::Pieces),
        amount().prop_map(CreditWindow::Amount)
    ]
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (
            any::<u64>(),
            address(),
            address(),
            address(),
            amount(),
            credit()
        )
            .prop_map(
                |(chain_id, escrow, token, payee, price, credit)| Message::Terms(Terms {
                    chain_id,
                    escrow,
                    token,
                    payee,
                    price,
                    credit
                })
            ),
        (amount(), address(), any::<u32>()).prop_map(|(price, payer, salt)| Message::Bid(Bid {
            price,
            payer,
            salt
        })),
        (amount(), credit()).prop_map(|(price, credit)| Message::Accept(Accept { price, credit })),
        (code(), proptest::option::of(amount()))
            .prop_map(|(code, min_price)| Message::Reject(Reject { code, min_price })),
        (
            address(),
            any::<u32>(),
            hash(),
            amount(),
            proptest::option::of(hash())
        )
            .prop_map(
                |(payer, salt, id, deposit, tx)| Message::Channel(ChannelFunded {
                    payer,
                    salt,
                    id,
                    deposit,
                    tx
                })
            ),
        (any::<u32>(), amount(), signature()).prop_map(|(salt, cumulative, signature)| {
            Message::Receipt(Receipt {
                salt,
                cumulative,
                signature,
            })
        }),
        amount().prop_map(|cumulative| Message::ReceiptAck(ReceiptAck { cumulative })),
        (code(), amount(), amount(), proptest::option::of(amount())).prop_map(
            |(reason, paid, served, deposit)| Message::PaymentRequired(PaymentRequired {
                reason,
                paid,
                served,
                deposit
            })
        ),
        (
            amount(),
            amount(),
            proptest::option::of(address()),
            any::<u16>(),
            any::<u64>(),
            signature()
        )
            .prop_map(|(cumulative, fee, relayer, nonce, deadline, signature)| {
                Message::Close(Close {
                    cumulative,
                    fee,
                    relayer: relayer.unwrap_or(Address::ZERO),
                    nonce,
                    deadline,
                    signature,
                })
            }),
        (
            code(),
            proptest::option::of("\\PC{0,60}"),
            proptest::option::of(code())
        )
            .prop_map(|(code, message, regarding)| Message::Error(ErrorMessage {
                code,
                message: message.filter(|m| !m.is_empty()),
                regarding
            })),
    ]
}

const ROOMY: Limits = Limits {
    max_len: 1 << 20,
    max_depth: 16,
};

proptest! {
    #[test]
    fn values_round_trip(value in value()) {
        let encoded = value.encode();
        prop_assert_eq!(bencode::decode_with(&encoded, ROOMY), Ok(value));
    }

    #[test]
    fn messages_round_trip(message in message()) {
        let encoded = message.encode().unwrap();
        prop_assert!(encoded.len() <= piecepay_wire::MAX_MESSAGE_LEN);
        prop_assert_eq!(Message::decode(&encoded), Ok(message.clone()));
        // Canonical: the bytes are exactly the re-encoding of what they decode to.
        prop_assert_eq!(bencode::decode(&encoded).unwrap().encode(), encoded);
        prop_assert_eq!(decode_roundtrip(&bencode::decode(&message.encode().unwrap()).unwrap().encode()), Some(message));
    }

    #[test]
    fn unknown_fields_are_ignored(message in message(), extra in value()) {
        let Value::Dict(mut dict) = bencode::decode(&message.encode().unwrap()).unwrap() else {
            unreachable!("messages are dictionaries")
        };
        dict.insert(b"zz_future_field".to_vec(), extra);
        let extended = Value::Dict(dict).encode();
        prop_assume!(extended.len() <= piecepay_wire::MAX_MESSAGE_LEN);
        if let Ok(decoded) = Message::decode(&extended) {
            prop_assert_eq!(decoded, message);
        } else {
            // Only the limits may refuse it (an `extra` nested too deep).
            prop_assert_eq!(Message::decode(&extended).unwrap_err().code(), "too_deep");
        }
    }

    #[test]
    fn random_bytes_never_break_the_codec(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_roundtrip(&bytes);
    }

    #[test]
    fn mutated_messages_never_break_the_codec(
        message in message(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..6),
    ) {
        let mut bytes = message.encode().unwrap();
        for (at, byte, op) in edits {
            if bytes.is_empty() {
                break;
            }
            let at = at.index(bytes.len());
            match op {
                0 => bytes[at] = byte,
                1 => { bytes.remove(at); }
                _ => bytes.insert(at, byte),
            }
        }
        decode_roundtrip(&bytes);
    }
}

#[test]
fn unsorted_message_keys_are_refused() {
    let mut dict = BTreeMap::new();
    dict.insert(b"cumulative".to_vec(), Value::Int(5));
    dict.insert(b"t".to_vec(), Value::bytes("receipt_ack"));
    let canonical = Value::Dict(dict).encode();
    assert!(Message::decode(&canonical).is_ok());
    let swapped = b"d1:t11:receipt_ack10:cumulativei5ee";
    assert_eq!(
        Message::decode(swapped).unwrap_err().code(),
        "not_canonical"
    );
}

#[test]
fn out_of_range_fields_are_refused_both_ways() {
    let too_much = MAX_AMOUNT + 1;
    let ack = Message::ReceiptAck(ReceiptAck {
        cumulative: too_much,
    });
    assert_eq!(ack.encode().unwrap_err().code(), "invalid_field");
    let bytes = format!("d10:cumulativei{too_much}e1:t11:receipt_acke");
    assert_eq!(
        Message::decode(bytes.as_bytes()).unwrap_err().code(),
        "invalid_field"
    );
    let negative = b"d10:cumulativei-1e1:t11:receipt_acke";
    assert_eq!(
        Message::decode(negative).unwrap_err().code(),
        "invalid_field"
    );
    let salt = format!(
        "d10:cumulativei1e4:salti{}e3:sig64:{}1:t7:receipte",
        u64::from(u32::MAX) + 1,
        "x".repeat(64)
    );
    assert_eq!(
        Message::decode(salt.as_bytes()).unwrap_err().code(),
        "invalid_field"
    );
    let long_text = Message::Error(ErrorMessage {
        code: Code::OTHER,
        message: Some("x".repeat(257)),
        regarding: None,
    });
    assert_eq!(long_text.encode().unwrap_err().code(), "invalid_field");
}

#[test]
fn credit_must_be_exactly_one_of_two() {
    let both = b"d13:credit_amounti5e13:credit_piecesi1e5:pricei1e1:t6:accepte";
    assert_eq!(Message::decode(both).unwrap_err().code(), "invalid_field");
    let neither = b"d5:pricei1e1:t6:accepte";
    assert_eq!(
        Message::decode(neither).unwrap_err().code(),
        "missing_field"
    );
}

#[test]
fn error_replies_name_what_they_answer() {
    let error = Message::decode(b"d1:t5:hello").unwrap_err();
    assert_eq!(error.code(), "malformed");
    let error = Message::decode(b"d1:t5:helloe").unwrap_err();
    let Message::Error(reply) = Message::error_reply(&error) else {
        unreachable!()
    };
    assert_eq!(reply.code.as_str(), "unknown_message");
    assert_eq!(reply.regarding.as_ref().map(Code::as_str), Some("hello"));
    // A type that is not even a code is not echoed back.
    let error = Message::decode(b"d1:t5:HELLOe").unwrap_err();
    let Message::Error(reply) = Message::error_reply(&error) else {
        unreachable!()
    };
    assert_eq!(reply.regarding, None);
}
