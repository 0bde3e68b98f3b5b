#![doc = include_str!("../README.md")]

pub mod bencode;
pub mod check;
pub mod error;
pub mod handshake;
pub mod message;

pub use error::{Error, Result};
pub use message::{
    Accept, Amount, Bid, ChannelFunded, Close, Code, CreditWindow, ErrorMessage, MAX_AMOUNT,
    Message, PaymentRequired, Receipt, ReceiptAck, Reject, Terms,
};

/// The most bytes one message may have. The largest version-1 message (`terms`) takes about 200; the
/// margin leaves room for optional fields of later versions.
pub const MAX_MESSAGE_LEN: usize = 4096;
