//! The chain adapter: the escrow and its token over JSON-RPC (alloy), for one account.
//!
//! [`ChainClient`] wraps every escrow function a peer needs — deposit (with an approval or an EIP-2612
//! permit), open, top-up, the three closes, withdraw, self-settlement of receipts through `settleBatch`,
//! the settlement fee cap — plus the reads (channel, balance, nonce, fee cap, the EIP-712 domain) and the
//! gasless `…BySig` batches for a peer that has ETH to submit signed operations itself. It is the IO
//! around the sans-IO [`payer`](crate::payer) and [`payee`](crate::payee) state machines: they decide
//! and sign, this submits and reports the chain's events back.
//!
//! Contract reverts become [`Error`](crate::Error)s with stable codes ([`decode_revert`]).
//!
//! Fees are the provider's: [`ChainClient::connect`]'s gas filler (alloy's `GasFiller`) sends EIP-1559
//! transactions, and legacy `gasPrice` ones on a chain whose latest block has no base fee (before London,
//! as BitTorrent Chain): its EIP-1559 estimate then fails as unsupported and it falls back to
//! `eth_gasPrice`.

pub mod bindings;
mod client;
mod revert;

/// The alloy this module is built on, to build providers and wallets of the same version.
pub use alloy;

pub use client::{
    BySigReport, ChainClient, ChallengeStarted, ChannelInfo, ChannelStatus, Closed, Opened,
    SettleReport, SignedPermit, SkippedGroup, ToppedUp, Tx,
};
/// A settle report's entries ([`SettleReport::settled`]), as the relayer's indexer applies them too.
pub use piecepay_protocol::settle_batch::ChannelSettled;
pub use revert::{channel_state_name, decode_revert};
