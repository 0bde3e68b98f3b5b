// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChannelEscrow} from "../interfaces/IChannelEscrow.sol";

/// @title PaymentHash
/// @notice The one place that defines piecepay's EIP-712 types: literal type strings, their typehashes and
/// struct hashing. The Rust protocol crate mirrors these strings, and test/fixtures/eip712.json pins both
/// sides to the same hashes.
/// @dev Signed structs never carry the signer: it is recovered from the signature and then checked against
/// the party the call names (or, for receipts, used to derive the channel id), so it need not be sent twice.
library PaymentHash {
    string internal constant DOMAIN_NAME = "piecepay";
    string internal constant DOMAIN_VERSION = "1";

    bytes internal constant RECEIPT_TYPE = "Receipt(address payee,uint32 salt,uint96 cumulative)";
    bytes32 internal constant RECEIPT_TYPEHASH = keccak256(RECEIPT_TYPE);

    bytes internal constant OPEN_CHANNEL_TYPE =
        "OpenChannel(address payee,uint32 salt,uint96 deposit,uint96 fee,uint40 deadline)";
    bytes32 internal constant OPEN_CHANNEL_TYPEHASH = keccak256(OPEN_CHANNEL_TYPE);

    bytes internal constant TOP_UP_TYPE = "TopUp(address payee,uint32 salt,uint96 deposit,uint96 fee,uint40 deadline)";
    bytes32 internal constant TOP_UP_TYPEHASH = keccak256(TOP_UP_TYPE);

    bytes internal constant REQUEST_CLOSE_TYPE = "RequestClose(address payee,uint32 salt,uint96 fee,uint40 deadline)";
    bytes32 internal constant REQUEST_CLOSE_TYPEHASH = keccak256(REQUEST_CLOSE_TYPE);

    bytes internal constant WITHDRAWAL_TYPE =
        "Withdrawal(address to,uint128 amount,uint128 fee,uint64 nonce,uint40 deadline)";
    bytes32 internal constant WITHDRAWAL_TYPEHASH = keccak256(WITHDRAWAL_TYPE);

    bytes internal constant SETTLE_FEE_CAP_TYPE = "SettleFeeCap(uint16 bps,uint64 nonce,uint40 deadline)";
    bytes32 internal constant SETTLE_FEE_CAP_TYPEHASH = keccak256(SETTLE_FEE_CAP_TYPE);

    bytes internal constant COOPERATIVE_CLOSE_TYPE =
        "CooperativeClose(address payer,address payee,uint32 salt,uint96 cumulative,uint96 fee,uint40 deadline)";
    bytes32 internal constant COOPERATIVE_CLOSE_TYPEHASH = keccak256(COOPERATIVE_CLOSE_TYPE);

    /// @notice Struct hash of a receipt. The settlement hot path inlines the same encoding in assembly
    /// (ChannelEscrow.settleBatch); the fixture test checks the two agree.
    function hashReceipt(address payee, uint32 salt, uint96 cumulative) internal pure returns (bytes32) {
        return keccak256(abi.encode(RECEIPT_TYPEHASH, payee, salt, cumulative));
    }

    function hash(IChannelEscrow.OpenAuth calldata a) internal pure returns (bytes32) {
        return keccak256(abi.encode(OPEN_CHANNEL_TYPEHASH, a.payee, a.salt, a.deposit, a.fee, a.deadline));
    }

    function hash(IChannelEscrow.TopUpAuth calldata a) internal pure returns (bytes32) {
        return keccak256(abi.encode(TOP_UP_TYPEHASH, a.payee, a.salt, a.deposit, a.fee, a.deadline));
    }

    function hash(IChannelEscrow.CloseAuth calldata a) internal pure returns (bytes32) {
        return keccak256(abi.encode(REQUEST_CLOSE_TYPEHASH, a.payee, a.salt, a.fee, a.deadline));
    }

    function hash(IChannelEscrow.WithdrawAuth calldata a) internal pure returns (bytes32) {
        return keccak256(abi.encode(WITHDRAWAL_TYPEHASH, a.to, a.amount, a.fee, a.nonce, a.deadline));
    }

    function hash(IChannelEscrow.SettleFeeCapAuth calldata a) internal pure returns (bytes32) {
        return keccak256(abi.encode(SETTLE_FEE_CAP_TYPEHASH, a.bps, a.nonce, a.deadline));
    }

    function hash(IChannelEscrow.CooperativeCloseAuth calldata a) internal pure returns (bytes32) {
        return
            keccak256(abi.encode(COOPERATIVE_CLOSE_TYPEHASH, a.payer, a.payee, a.salt, a.cumulative, a.fee, a.deadline));
    }

    /// @notice `keccak256(abi.encode(payer, payee, salt))`: the channel id, never reused.
    function channelId(address payer, address payee, uint32 salt) internal pure returns (bytes32) {
        return keccak256(abi.encode(payer, payee, salt));
    }
}
