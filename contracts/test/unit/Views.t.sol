// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";
import {UnitTest} from "./UnitHelpers.sol";

contract ViewsTest is UnitTest {
    function test_channelId_isKeccakOfAbiEncodedTriple() external view {
        assertEq(escrow.channelId(payer, payee, 7), keccak256(abi.encode(payer, payee, uint32(7))));
        assertEq(
            escrow.channelId(payer, payee, type(uint32).max), keccak256(abi.encode(payer, payee, type(uint32).max))
        );
    }

    function test_channelId_isDirectionalAndSaltBound() external view {
        bytes32 id = escrow.channelId(payer, payee, 1);
        assertTrue(id != escrow.channelId(payee, payer, 1));
        assertTrue(id != escrow.channelId(payer, payee, 2));
        assertTrue(id != escrow.channelId(payer, stranger, 1));
    }

    function test_channel_unknownIsZero() external view {
        _assertChannel(keccak256("nothing"), 0, 0, 0, IChannelEscrow.ChannelState.None);
    }

    function test_channel_reflectsEveryField() external {
        bytes32 id = _openChannel(1, 10e18);
        _assertChannel(id, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
        _settle(1, 4e18);
        _assertChannel(id, 10e18, 4e18, 0, IChannelEscrow.ChannelState.Open);
        uint40 closesAt = _requestClose(1);
        _assertChannel(id, 10e18, 4e18, closesAt, IChannelEscrow.ChannelState.Closing);
        vm.warp(closesAt + 1);
        escrow.finalizeClose(payer, payee, 1);
        _assertChannel(id, 10e18, 4e18, 0, IChannelEscrow.ChannelState.Closed);
    }

    function test_channel_packsMaximalValuesWithoutBleeding() external {
        uint96 max = type(uint96).max;
        bytes32 id = _openChannel(1, max);
        _settle(1, max);
        _assertChannel(id, max, max, 0, IChannelEscrow.ChannelState.Open);
        vm.warp(type(uint40).max - CHALLENGE_PERIOD);
        _requestClose(1);
        _assertChannel(id, max, max, type(uint40).max, IChannelEscrow.ChannelState.Closing);
    }

    function test_balanceOf_tracksFreeBalance() external {
        assertEq(escrow.balanceOf(payer), 0);
        _fund(payer, 5e18);
        assertEq(escrow.balanceOf(payer), 5e18);
        vm.prank(payer);
        escrow.openChannel(payee, 1, 2e18);
        assertEq(escrow.balanceOf(payer), 3e18);
    }

    function test_nonceOf_advancesWithSignedOperations() external {
        assertEq(escrow.nonceOf(payee), 0);
        escrow.setSettleFeeCapsBySig(_list(_feeCapAuth(payeeKey, 10, 0)));
        assertEq(escrow.nonceOf(payee), 1);
        _fund(payee, 1e18);
        escrow.withdrawBySig(_list(_withdrawAuth(payeeKey, payee, 1e18, 0, 1)));
        assertEq(escrow.nonceOf(payee), 2);
    }

    function test_settleFeeCapOf_defaultsToZero() external {
        assertEq(_capOf(payee), 0);
        vm.prank(payee);
        escrow.setSettleFeeCap(250, relayer);
        assertEq(_capOf(payee), 250);
        assertEq(_capOf(payer), 0);
    }

    function test_domainSeparator_followsChainId() external {
        bytes32 before = escrow.DOMAIN_SEPARATOR();
        vm.chainId(4242);
        bytes32 afterFork = escrow.DOMAIN_SEPARATOR();
        assertTrue(before != afterFork);
        assertEq(afterFork, PaymentSigner.domainSeparator(4242, address(escrow)));
    }
}
