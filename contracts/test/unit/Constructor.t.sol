// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {deployEscrow} from "../utils/DeployEscrow.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";
import {UnitTest} from "./UnitHelpers.sol";

contract ConstructorTest is UnitTest {
    function test_constructor_setsTokenAndChallengePeriod() external view {
        assertEq(escrow.TOKEN(), address(token));
        assertEq(escrow.CHALLENGE_PERIOD(), CHALLENGE_PERIOD);
    }

    function test_constructor_domainBindsChainAndContract() external view {
        assertEq(escrow.DOMAIN_SEPARATOR(), PaymentSigner.domainSeparator(block.chainid, address(escrow)));
        (bytes1 fields, string memory name, string memory version, uint256 chainId, address verifying,,) =
            IERC5267(address(escrow)).eip712Domain();
        assertEq(fields, hex"0f");
        assertEq(name, "piecepay");
        assertEq(version, "1");
        assertEq(chainId, block.chainid);
        assertEq(verifying, address(escrow));
    }

    function test_constructor_acceptsBoundsOfChallengePeriod() external {
        assertEq(deployEscrow(address(token), 1).CHALLENGE_PERIOD(), 1);
        assertEq(deployEscrow(address(token), 30 days).CHALLENGE_PERIOD(), 30 days);
    }

    function test_constructor_noBalancesOrChannels() external {
        IChannelEscrow fresh = deployEscrow(address(token), CHALLENGE_PERIOD);
        assertEq(fresh.balanceOf(payer), 0);
        assertEq(fresh.nonceOf(payer), 0);
        (uint16 bps, address feeRelayer) = fresh.settleFeeCapOf(payee);
        assertEq(bps, 0);
        assertEq(feeRelayer, address(0));
        assertEq(uint8(fresh.channel(fresh.channelId(payer, payee, 1)).state), uint8(IChannelEscrow.ChannelState.None));
    }

    function test_RevertWhen_tokenIsZeroAddress() external {
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.ZeroAddress.selector));
        deployEscrow(address(0), CHALLENGE_PERIOD);
    }

    function test_RevertWhen_challengePeriodIsZero() external {
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.InvalidChallengePeriod.selector, 0));
        deployEscrow(address(token), 0);
    }

    function test_RevertWhen_challengePeriodAboveThirtyDays() external {
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.InvalidChallengePeriod.selector, 30 days + 1));
        deployEscrow(address(token), 30 days + 1);
    }

    function test_RevertWhen_challengePeriodIsMaxUint40() external {
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.InvalidChallengePeriod.selector, type(uint40).max));
        deployEscrow(address(token), type(uint40).max);
    }
}
