//! RPC-capable contract instances (`#[sol(rpc)]`) over the same forge artifacts as
//! [`piecepay_protocol::bindings`], whose build script keeps them up to date; never copied by hand.
//!
//! `ChannelEscrow::new(address, provider)` and `PieceToken::new(..)` give typed call builders;
//! `ChannelEscrow::deploy(provider, token, challenge_period)` deploys the artifact's bytecode (devnets and
//! tests). The ABI types themselves (calls, events, errors) are the protocol crate's to use off-chain.

// Generated from the ABI: no docs, and `permit`'s call builder takes the ABI's seven parameters.
#![allow(missing_docs, clippy::too_many_arguments)]

use alloy::sol;

sol!(
    #[sol(rpc)]
    ChannelEscrow,
    "../../contracts/out/ChannelEscrow.sol/ChannelEscrow.json"
);

sol!(
    #[sol(rpc)]
    PieceToken,
    "../../contracts/out/PieceToken.sol/PieceToken.json"
);

sol! {
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
