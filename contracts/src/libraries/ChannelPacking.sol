// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChannelEscrow} from "../interfaces/IChannelEscrow.sol";

/// @title ChannelPacking
/// @notice A channel lives in one storage word so that settling it touches exactly one slot:
/// bits 0–95 deposit, 96–191 settled, 192–231 closesAt, 232–239 state, 240–255 zero.
/// @dev The settlement hot path (ChannelEscrow.settleBatch) reads and writes the same layout in assembly
/// using the constants below; everything else goes through `pack`/`unpack`.
library ChannelPacking {
    uint256 internal constant AMOUNT_MASK = (1 << 96) - 1;
    uint256 internal constant SETTLED_SHIFT = 96;
    uint256 internal constant CLOSES_AT_SHIFT = 192;
    uint256 internal constant STATE_SHIFT = 232;
    uint256 internal constant TIME_MASK = (1 << 40) - 1;

    function pack(IChannelEscrow.Channel memory c) internal pure returns (uint256) {
        return uint256(c.deposit) | (uint256(c.settled) << SETTLED_SHIFT) | (uint256(c.closesAt) << CLOSES_AT_SHIFT)
            | (uint256(c.state) << STATE_SHIFT);
    }

    /// @dev The word of a newly opened channel: `deposit`, nothing settled, state Open.
    function opened(uint96 deposit) internal pure returns (uint256) {
        return uint256(deposit) | (uint256(IChannelEscrow.ChannelState.Open) << STATE_SHIFT);
    }

    /// @dev The tombstone of a closed channel: final amounts kept for the record, state Closed.
    function closed(uint96 deposit_, uint96 settled_) internal pure returns (uint256) {
        return uint256(deposit_) | (uint256(settled_) << SETTLED_SHIFT)
            | (uint256(IChannelEscrow.ChannelState.Closed) << STATE_SHIFT);
    }

    function deposit(uint256 word) internal pure returns (uint96) {
        return uint96(word);
    }

    function settled(uint256 word) internal pure returns (uint96) {
        return uint96(word >> SETTLED_SHIFT);
    }

    function state(uint256 word) internal pure returns (IChannelEscrow.ChannelState) {
        // Only this library writes channel words, so the state byte always holds a valid enum value.
        return IChannelEscrow.ChannelState(uint8(word >> STATE_SHIFT));
    }

    function unpack(uint256 word) internal pure returns (IChannelEscrow.Channel memory c) {
        c.deposit = deposit(word);
        c.settled = settled(word);
        c.closesAt = uint40(word >> CLOSES_AT_SHIFT);
        c.state = state(word);
    }
}
