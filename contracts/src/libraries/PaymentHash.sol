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
    // Each typehash is a literal: keccak256 of a `bytes constant` is not folded at compile time, and the
    // contract would hash the type string on every call. test/unit/Eip712Fixture.t.sol checks every
    // literal against keccak256 of its type string.

    string internal constant DOMAIN_NAME = "piecepay";
    string internal constant DOMAIN_VERSION = "1";

    bytes internal constant RECEIPT_TYPE = "Receipt(address payee,uint32 salt,uint96 cumulative)";
    bytes32 internal constant RECEIPT_TYPEHASH = 0xcb94042996b0f55c8170d1f022df52f6af9f0b192ae2777da06c62206beeab6c;

    bytes internal constant OPEN_CHANNEL_TYPE =
        "OpenChannel(address payee,uint32 salt,uint96 deposit,uint96 fee,address relayer,uint16 channelNonce,uint40 deadline)";
    bytes32 internal constant OPEN_CHANNEL_TYPEHASH =
        0x0aec5f811f2e209152c05f30489bb3ae8fcce0c37bd89f52733dabc370567be1;

    bytes internal constant TOP_UP_TYPE =
        "TopUp(address payee,uint32 salt,uint96 deposit,uint96 fee,address relayer,uint16 channelNonce,uint40 deadline)";
    bytes32 internal constant TOP_UP_TYPEHASH = 0x20d241a6d6c7dd4745dee2f91c9f7c51314b6d2c73437363883ea5fd23840723;

    bytes internal constant REQUEST_CLOSE_TYPE =
        "RequestClose(address payee,uint32 salt,uint96 fee,address relayer,uint40 deadline)";
    bytes32 internal constant REQUEST_CLOSE_TYPEHASH =
        0x324956330150fbc1126a840616f1a2dfe039f42b410392d4d58cf0fa96cbaf43;

    bytes internal constant WITHDRAWAL_TYPE =
        "Withdrawal(address to,uint128 amount,uint128 fee,address relayer,uint64 nonce,uint40 deadline)";
    bytes32 internal constant WITHDRAWAL_TYPEHASH = 0x95d6925523c840a3c2bd821a0d945b011ae0a57c9ad514f9d59f6016b9095e4c;

    bytes internal constant SETTLE_FEE_CAP_TYPE =
        "SettleFeeCap(uint16 bps,address relayer,uint64 nonce,uint40 deadline)";
    bytes32 internal constant SETTLE_FEE_CAP_TYPEHASH =
        0x0aebf16c43cbe0c6e6ca4273f7780221f5ddc7a62edef8ce99a3ee0834911b16;

    bytes internal constant COOPERATIVE_CLOSE_TYPE =
        "CooperativeClose(address payer,address payee,uint32 salt,uint96 cumulative,uint96 fee,address relayer,uint16 channelNonce,uint40 deadline)";
    bytes32 internal constant COOPERATIVE_CLOSE_TYPEHASH =
        0x2a0d84de4bb8f03bed50cdb70c6ad098c1ffa1750ca2cfd42a15fb20cc8d4218;

    /// @notice Struct hash of a receipt. The settlement hot path inlines the same encoding in assembly
    /// (ChannelEscrow.settleBatch); the fixture test checks the two agree.
    function hashReceipt(address payee, uint32 salt, uint96 cumulative) internal pure returns (bytes32) {
        return keccak256(abi.encode(RECEIPT_TYPEHASH, payee, salt, cumulative));
    }

    // A signed struct's static ABI layout in calldata is exactly EIP-712's encodeData of its signed fields
    // (one 32-byte word each, in type-string order), so its struct hash is the typehash followed by a copy
    // of those words: no decoding, no allocation. Each function names the words it copies; the fixture
    // test checks every one against an explicit abi.encode of the fields.
    //
    // Each also says whether the struct is canonical: no bits set above any field's type width, the signer
    // word included. Reading a dirty field through Solidity would revert the whole batch; a `…BySig` loop
    // checks this first and skips only the dirty entry (`NonCanonicalField`) before reading any field.
    // `*_WIDTHS` list each struct's field widths in bytes, one byte per field, field 0 lowest; a width of 32
    // (bytes32, or no field: the list always has eight) is never dirty.

    uint256 internal constant OPEN_WIDTHS = 0x0502140c0c041414; // payer … deadline
    uint256 internal constant TOP_UP_WIDTHS = OPEN_WIDTHS;
    uint256 internal constant CLOSE_WIDTHS = 0x202005140c041414; // payer, payee, salt, fee, relayer, deadline
    uint256 internal constant WITHDRAW_WIDTHS = 0x2005081410101414; // owner, to, amount, fee, relayer, nonce, deadline
    uint256 internal constant FEE_CAP_WIDTHS = 0x2020200508140214; // payee, bps, relayer, nonce, deadline
    uint256 internal constant COOPERATIVE_CLOSE_WIDTHS = 0x0502140c0c041414; // payer … deadline

    /// @dev OpenAuth words 1–7: payee, salt, deposit, fee, relayer, channelNonce, deadline (word 0, the
    /// payer, is the signer).
    function hash(IChannelEscrow.OpenAuth calldata a) internal pure returns (bytes32 h, bool canonical) {
        uint256 start;
        assembly ("memory-safe") {
            start := a
        }
        return _hashChecked(OPEN_CHANNEL_TYPEHASH, start, 1, 7, OPEN_WIDTHS);
    }

    /// @dev TopUpAuth words 1–7: payee, salt, deposit, fee, relayer, channelNonce, deadline.
    function hash(IChannelEscrow.TopUpAuth calldata a) internal pure returns (bytes32 h, bool canonical) {
        uint256 start;
        assembly ("memory-safe") {
            start := a
        }
        return _hashChecked(TOP_UP_TYPEHASH, start, 1, 7, TOP_UP_WIDTHS);
    }

    /// @dev CloseAuth words 1–5: payee, salt, fee, relayer, deadline.
    function hash(IChannelEscrow.CloseAuth calldata a) internal pure returns (bytes32 h, bool canonical) {
        uint256 start;
        assembly ("memory-safe") {
            start := a
        }
        return _hashChecked(REQUEST_CLOSE_TYPEHASH, start, 1, 5, CLOSE_WIDTHS);
    }

    /// @dev WithdrawAuth words 1–6: to, amount, fee, relayer, nonce, deadline (word 0, the owner, is the
    /// signer).
    function hash(IChannelEscrow.WithdrawAuth calldata a) internal pure returns (bytes32 h, bool canonical) {
        uint256 start;
        assembly ("memory-safe") {
            start := a
        }
        return _hashChecked(WITHDRAWAL_TYPEHASH, start, 1, 6, WITHDRAW_WIDTHS);
    }

    /// @dev SettleFeeCapAuth words 1–4: bps, relayer, nonce, deadline (word 0, the payee, is the signer).
    function hash(IChannelEscrow.SettleFeeCapAuth calldata a) internal pure returns (bytes32 h, bool canonical) {
        uint256 start;
        assembly ("memory-safe") {
            start := a
        }
        return _hashChecked(SETTLE_FEE_CAP_TYPEHASH, start, 1, 4, FEE_CAP_WIDTHS);
    }

    /// @dev CooperativeCloseAuth words 0–7: payer, payee, salt, cumulative, fee, relayer, channelNonce,
    /// deadline.
    function hash(IChannelEscrow.CooperativeCloseAuth calldata a) internal pure returns (bytes32 h, bool canonical) {
        uint256 start;
        assembly ("memory-safe") {
            start := a
        }
        return _hashChecked(COOPERATIVE_CLOSE_TYPEHASH, start, 0, 8, COOPERATIVE_CLOSE_WIDTHS);
    }

    /// @notice The first field (0-based) of the struct at calldata `start` whose word has bits above its
    /// width in `widths` (see `*_WIDTHS`), or 8 if none does: the context of a `NonCanonicalField` error.
    function firstDirtyField(uint256 start, uint256 widths) internal pure returns (uint256 i) {
        for (; i < 8; ++i) {
            uint256 bits = ((widths >> (8 * i)) & 0xff) * 8;
            uint256 word;
            assembly ("memory-safe") {
                word := calldataload(add(start, shl(5, i)))
            }
            if (bits < 256 && word >> bits != 0) return i;
        }
    }

    /// @dev keccak256(typehash ‖ `count` words of calldata from word `from` of the struct at `start`),
    /// hashed in scratch memory; `canonical` tells whether the struct's eight words fit `widths`.
    function _hashChecked(bytes32 typehash, uint256 start, uint256 from, uint256 count, uint256 widths)
        private
        pure
        returns (bytes32 h, bool canonical)
    {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, typehash)
            calldatacopy(add(m, 0x20), add(start, shl(5, from)), shl(5, count))
            h := keccak256(m, add(0x20, shl(5, count)))
            // Each word shifted right by its width in bits is zero iff the word is canonical; a width of 32
            // bytes shifts by 256, which is always zero. Unrolled: `widths` is a constant at every call site.
            function dirty(w, s, i) -> d {
                d := shr(shl(3, and(shr(shl(3, i), w), 0xff)), calldataload(add(s, shl(5, i))))
            }
            canonical := iszero(
                or(
                    or(
                        or(dirty(widths, start, 0), dirty(widths, start, 1)),
                        or(dirty(widths, start, 2), dirty(widths, start, 3))
                    ),
                    or(
                        or(dirty(widths, start, 4), dirty(widths, start, 5)),
                        or(dirty(widths, start, 6), dirty(widths, start, 7))
                    )
                )
            )
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
