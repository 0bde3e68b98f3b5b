// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @notice The escrow's reentrancy guard for the current EVM (Cancun and later): the lock lives in
/// transient storage (EIP-1153). The `legacy` build selects evm/legacy/ instead (foundry.toml remaps the
/// import path of ChannelEscrow.sol per profile); both give ChannelEscrow the same `nonReentrant` and ABI.
abstract contract EscrowReentrancyGuard is ReentrancyGuardTransient {}
