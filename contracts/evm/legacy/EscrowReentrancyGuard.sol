// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @notice The escrow's reentrancy guard for chains without transient storage (before Cancun, e.g.
/// BitTorrent Chain): the lock is an ordinary storage word at OpenZeppelin's namespaced slot, so it
/// shifts none of the escrow's own slots. It costs more gas per guarded call than the transient guard
/// (docs/contracts.md, "EVM generations").
abstract contract EscrowReentrancyGuard is ReentrancyGuard {}
