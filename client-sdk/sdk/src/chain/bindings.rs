//! The contracts' bindings with their RPC-capable instances: [`piecepay_protocol::bindings`], which this
//! crate's `chain` feature builds with its `rpc` feature (one generation from forge's artifacts for the
//! whole workspace), and EIP-2612's `Permit`, which no artifact declares.
//!
//! `ChannelEscrow::new(address, provider)` and `PieceToken::new(..)` give typed call builders;
//! `ChannelEscrow::deploy(provider, token, challenge_period)` deploys the artifact's bytecode (devnets and
//! tests).

pub use piecepay_protocol::bindings::{ChannelEscrow, IChannelEscrow, PieceToken};

alloy::sol! {
    /// EIP-2612's `permit` message, signed by a token holder in the token's EIP-712 domain (read from the
    /// token's EIP-5267 `eip712Domain()`): `spender` may move `value` of `owner`'s tokens until `deadline`.
    #[derive(Debug, PartialEq, Eq)]
    struct Permit {
        address owner;
        address spender;
        uint256 value;
        uint256 nonce;
        uint256 deadline;
    }
}
