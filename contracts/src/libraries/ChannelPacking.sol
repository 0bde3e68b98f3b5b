// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChannelEscrow} from "../interfaces/IChannelEscrow.sol";

/// @title ChannelPacking
/// @notice A channel lives in one storage word so that settling it touches exactly one slot:
/// bits 0–95 deposit, 96–191 settled, 192–231 closesAt, 232–247 nonce, 248–255 state.
/// @dev The state is the top byte, so `word >> 248` is the state with no mask (the settlement hot path,
/// ChannelEscrow.settleBatch, reads and writes this layout in assembly using the constants below);
/// everything else goes through these functions.
///
/// A channel's word is stored at the storage slot numbered by its id, not in a mapping: the settlement
/// loop then hashes once per receipt fewer (~50 gas). No other storage can be there: every other slot is
/// a small number (a state variable) or keccak256 of a 64-byte (mapping key, slot) pair, a channel id is
/// keccak256 of a 96-byte (payer, payee, salt) tuple, and finding two such preimages with one hash is a
/// keccak256 collision.
library ChannelPacking {
    uint256 internal constant AMOUNT_MASK = (1 << 96) - 1;
    uint256 internal constant SETTLED_SHIFT = 96;
    uint256 internal constant CLOSES_AT_SHIFT = 192;
    uint256 internal constant NONCE_SHIFT = 232;
    uint256 internal constant STATE_SHIFT = 248;
    uint256 internal constant TIME_MASK = (1 << 40) - 1;

    /// @dev The word of channel `id` (0 for an id never used).
    function load(bytes32 id) internal view returns (uint256 word) {
        assembly ("memory-safe") {
            word := sload(id)
        }
    }

    function store(bytes32 id, uint256 word) internal {
        assembly ("memory-safe") {
            sstore(id, word)
        }
    }

    function pack(IChannelEscrow.Channel memory c) internal pure returns (uint256) {
        return uint256(c.deposit) | (uint256(c.settled) << SETTLED_SHIFT) | (uint256(c.closesAt) << CLOSES_AT_SHIFT)
            | (uint256(c.nonce) << NONCE_SHIFT) | (uint256(c.state) << STATE_SHIFT);
    }

    /// @dev The word of a newly opened channel: `deposit`, nothing settled, state Open; the nonce is kept
    /// (it may have been advanced before the channel was opened).
    function opened(uint96 deposit_, uint16 nonce_) internal pure returns (uint256) {
        return uint256(deposit_) | (uint256(nonce_) << NONCE_SHIFT)
            | (uint256(IChannelEscrow.ChannelState.Open) << STATE_SHIFT);
    }

    /// @dev The tombstone of a closed channel: final amounts and nonce kept for the record, state Closed.
    function closed(uint96 deposit_, uint96 settled_, uint16 nonce_) internal pure returns (uint256) {
        return uint256(deposit_) | (uint256(settled_) << SETTLED_SHIFT) | (uint256(nonce_) << NONCE_SHIFT)
            | (uint256(IChannelEscrow.ChannelState.Closed) << STATE_SHIFT);
    }

    function deposit(uint256 word) internal pure returns (uint96) {
        return uint96(word);
    }

    function settled(uint256 word) internal pure returns (uint96) {
        return uint96(word >> SETTLED_SHIFT);
    }

    function nonce(uint256 word) internal pure returns (uint16) {
        return uint16(word >> NONCE_SHIFT);
    }

    function state(uint256 word) internal pure returns (IChannelEscrow.ChannelState) {
        // Only this library writes channel words, so the state byte always holds a valid enum value.
        return IChannelEscrow.ChannelState(uint8(word >> STATE_SHIFT));
    }

    function unpack(uint256 word) internal pure returns (IChannelEscrow.Channel memory c) {
        c.deposit = deposit(word);
        c.settled = settled(word);
        c.closesAt = uint40(word >> CLOSES_AT_SHIFT);
        c.nonce = nonce(word);
        c.state = state(word);
    }
}
