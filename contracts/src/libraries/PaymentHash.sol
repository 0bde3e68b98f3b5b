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

    // A signed struct's static ABI layout in calldata is exactly EIP-712's encodeData of its signed fields
    // (one 32-byte word each, in type-string order), so its struct hash is the typehash followed by a copy
    // of those words: no decoding, no allocation. Each function names the words it copies; the fixture
    // test checks every one against an explicit abi.encode of the fields.

    /// @dev OpenAuth words 1–5: payee, salt, deposit, fee, deadline (word 0, the payer, is the signer).
    function hash(IChannelEscrow.OpenAuth calldata a) internal pure returns (bytes32) {
        uint256 words;
        assembly ("memory-safe") {
            words := add(a, 0x20)
        }
        return _hashWords(OPEN_CHANNEL_TYPEHASH, words, 5);
    }

    /// @dev TopUpAuth words 1–5: payee, salt, deposit, fee, deadline.
    function hash(IChannelEscrow.TopUpAuth calldata a) internal pure returns (bytes32) {
        uint256 words;
        assembly ("memory-safe") {
            words := add(a, 0x20)
        }
        return _hashWords(TOP_UP_TYPEHASH, words, 5);
    }

    /// @dev CloseAuth words 1–4: payee, salt, fee, deadline.
    function hash(IChannelEscrow.CloseAuth calldata a) internal pure returns (bytes32) {
        uint256 words;
        assembly ("memory-safe") {
            words := add(a, 0x20)
        }
        return _hashWords(REQUEST_CLOSE_TYPEHASH, words, 4);
    }

    /// @dev WithdrawAuth words 1–5: to, amount, fee, nonce, deadline (word 0, the owner, is the signer).
    function hash(IChannelEscrow.WithdrawAuth calldata a) internal pure returns (bytes32) {
        uint256 words;
        assembly ("memory-safe") {
            words := add(a, 0x20)
        }
        return _hashWords(WITHDRAWAL_TYPEHASH, words, 5);
    }

    /// @dev SettleFeeCapAuth words 1–3: bps, nonce, deadline (word 0, the payee, is the signer).
    function hash(IChannelEscrow.SettleFeeCapAuth calldata a) internal pure returns (bytes32) {
        uint256 words;
        assembly ("memory-safe") {
            words := add(a, 0x20)
        }
        return _hashWords(SETTLE_FEE_CAP_TYPEHASH, words, 3);
    }

    /// @dev CooperativeCloseAuth words 0–5: payer, payee, salt, cumulative, fee, deadline.
    function hash(IChannelEscrow.CooperativeCloseAuth calldata a) internal pure returns (bytes32) {
        uint256 words;
        assembly ("memory-safe") {
            words := a
        }
        return _hashWords(COOPERATIVE_CLOSE_TYPEHASH, words, 6);
    }

    /// @dev keccak256(typehash ‖ `count` words of calldata from `words`), hashed in scratch memory.
    function _hashWords(bytes32 typehash, uint256 words, uint256 count) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, typehash)
            calldatacopy(add(m, 0x20), words, shl(5, count))
            h := keccak256(m, add(0x20, shl(5, count)))
        }
    }

    /// @notice `keccak256(abi.encode(payer, payee, salt))`: the channel id, never reused.
    function channelId(address payer, address payee, uint32 salt) internal pure returns (bytes32 id) {
        // keccak256(abi.encode(payer, payee, salt)), hashed in scratch memory: no allocation per call.
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, payer)
            mstore(add(m, 0x20), payee)
            mstore(add(m, 0x40), salt)
            id := keccak256(m, 0x60)
        }
    }
}
