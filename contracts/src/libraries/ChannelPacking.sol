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

    function unpack(uint256 word) internal pure returns (IChannelEscrow.Channel memory c) {
        c.deposit = uint96(word);
        c.settled = uint96(word >> SETTLED_SHIFT);
        c.closesAt = uint40(word >> CLOSES_AT_SHIFT);
        // Only `pack` writes channel words, so the state byte always holds a valid enum value.
        c.state = IChannelEscrow.ChannelState(uint8(word >> STATE_SHIFT));
    }
}
