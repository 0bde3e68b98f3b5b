// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {EscrowTestBase} from "../utils/EscrowTestBase.sol";

contract SmokeTest is EscrowTestBase {
    function test_openPaySettleClose() external {
        bytes32 id = _openChannel(1, 10e18);
        assertEq(uint8(_settle(1, 3e18)), uint8(IChannelEscrow.SettleOutcome.Settled));
        assertEq(escrow.balanceOf(payee), 3e18);
        vm.prank(payee);
        escrow.closeByPayee(payer, 1);
        assertEq(escrow.balanceOf(payer), 7e18);
        assertEq(uint8(escrow.channel(id).state), uint8(IChannelEscrow.ChannelState.Closed));
    }
}
