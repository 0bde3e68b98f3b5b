#![doc = include_str!("../README.md")]

pub mod admission;
pub mod amount;
pub mod auth;
pub mod bindings;
pub mod column;
pub mod eip712;
pub mod error;
pub mod relayer_api;
pub mod settle_batch;
pub mod signature;

pub use alloy_primitives;
pub use alloy_sol_types::{self, Eip712Domain, SolStruct};

pub use amount::{Amount, CreditWindow, MAX_AMOUNT};
pub use eip712::{
    CooperativeClose, OpenChannel, RECEIPT_TYPEHASH, Receipt, RequestClose, SettleFeeCap, TopUp,
    Withdrawal, channel_id, domain, signing_hash,
};
pub use error::{Error, Result};
pub use signature::{CompactSignature, SigningKey};
