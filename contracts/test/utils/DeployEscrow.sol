// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Vm} from "forge-std/Vm.sol";

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";

Vm constant ESCROW_DEPLOYER_VM = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

/// @notice Deploys ChannelEscrow from its compiled artifact (out/ChannelEscrow.sol/ChannelEscrow.json,
/// out-legacy/ under the legacy profile), from the calling contract, as `new ChannelEscrow(…)` would.
/// @dev Tests and scripts never import src/ChannelEscrow.sol: foundry.toml compiles that file through the
/// IR pipeline, together with every file that imports it, and solc-js takes minutes per test file there.
/// They use IChannelEscrow for the type, errors, events and structs, and deploy through here.
function deployEscrow(address token, uint40 challengePeriod) returns (IChannelEscrow) {
    return IChannelEscrow(
        ESCROW_DEPLOYER_VM.deployCode("ChannelEscrow.sol:ChannelEscrow", abi.encode(token, challengePeriod))
    );
}
