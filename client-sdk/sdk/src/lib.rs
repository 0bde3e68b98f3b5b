#![doc = include_str!("../README.md")]

pub mod bidding;
#[cfg(feature = "chain")]
pub mod chain;
pub mod channel;
pub mod error;
pub mod payee;
pub mod payer;
#[cfg(feature = "relayer-client")]
pub mod relayer_client;
pub mod session;
pub mod store;

pub use piecepay_protocol as protocol;
pub use piecepay_wire as wire;

pub use bidding::{BidPolicy, BidUpdate, Bidder, Candidate, UnchokePolicy, rank_unchoke};
pub use channel::{Amount, Channel, CreditWindow, MAX_AMOUNT, Signed, SignedReceipt, Terms};
pub use error::{Cause, Error, Result};
pub use payee::{
    DeferredReceipt, PayeeChannel, PayeePolicy, PayeeState, ServeDecision, SettlePolicy, Settlement,
};
pub use payer::{PayerChannel, PayerConfig, PayerState, Payment};
pub use session::{
    Actions, Handled, Outcome, PayeeSession, PayeeSessionConfig, PayerSession, PayerSessionConfig,
    Refused,
};
