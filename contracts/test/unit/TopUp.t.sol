// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";
import {UnitTest} from "./UnitHelpers.sol";

contract TopUpTest is UnitTest {
    using PaymentSigner for IChannelEscrow;

    // ---------------------------------------------------------------------------------------------
    // topUp
    // ---------------------------------------------------------------------------------------------

    function test_topUp_raisesDeposit() external {
        bytes32 id = _openChannel(1, 5e18);
        _fund(payer, 4e18);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.ChannelToppedUp(id, 8e18, 0);
        vm.prank(payer);
        escrow.topUp(payee, 1, 3e18);
        vm.snapshotGasLastCall("topUp");
        _assertChannel(id, 8e18, 0, 0, IChannelEscrow.ChannelState.Open);
        assertEq(escrow.balanceOf(payer), 1e18);
    }

    function test_topUp_keepsSettled() external {
        bytes32 id = _openChannel(1, 5e18);
        _settle(1, 5e18);
        _topUp(1, 2e18);
        _assertChannel(id, 7e18, 5e18, 0, IChannelEscrow.ChannelState.Open);
        assertEq(uint8(_settle(1, 7e18)), uint8(IChannelEscrow.SettleOutcome.Settled));
        assertEq(escrow.balanceOf(payee), 7e18);
    }

    function test_topUp_toMaxDeposit() external {
        bytes32 id = _openChannel(1, 1);
        _topUp(1, type(uint96).max - 1);
        _assertChannel(id, type(uint96).max, 0, 0, IChannelEscrow.ChannelState.Open);
    }

    /// @dev `topUp(payee, 1, amount)` called by `caller` reverts with `err`.
    function _assertTopUpReverts(address caller, uint96 amount, bytes memory err) private {
        _assertRevertAs(caller, abi.encodeCall(IChannelEscrow.topUp, (payee, 1, amount)), err);
    }

    function test_RevertWhen_topUpZeroAmount() external {
        _openChannel(1, 5e18);
        _fund(payer, 1e18);
        _assertTopUpReverts(payer, 0, abi.encodeWithSelector(IChannelEscrow.ZeroAmount.selector));
    }

    function test_RevertWhen_topUpUnknownChannel() external {
        _fund(payer, 1e18);
        bytes32 id = escrow.channelId(payer, payee, 1);
        _assertTopUpReverts(payer, 1e18, _invalidState(id, IChannelEscrow.ChannelState.None));
    }

    /// @dev The caller's own channel is meant: the payee cannot top up the payer's channel by naming itself.
    function test_RevertWhen_topUpBySomeoneElse() external {
        _openChannel(1, 5e18);
        _fund(stranger, 1e18);
        bytes32 strangersId = escrow.channelId(stranger, payee, 1);
        _assertTopUpReverts(stranger, 1e18, _invalidState(strangersId, IChannelEscrow.ChannelState.None));
    }

    function test_RevertWhen_topUpClosingChannel() external {
        bytes32 id = _openChannel(1, 5e18);
        _requestClose(1);
        _fund(payer, 1e18);
        _assertTopUpReverts(payer, 1e18, _invalidState(id, IChannelEscrow.ChannelState.Closing));
    }

    function test_RevertWhen_topUpClosedChannel() external {
        bytes32 id = _openChannel(1, 5e18);
        _closeByPayee(1);
        _assertTopUpReverts(payer, 1e18, _invalidState(id, IChannelEscrow.ChannelState.Closed));
    }

    function test_RevertWhen_topUpOverflowsDeposit() external {
        _openChannel(1, type(uint96).max);
        _fund(payer, 1);
        _assertTopUpReverts(payer, 1, abi.encodeWithSelector(IChannelEscrow.DepositOverflow.selector, uint256(1) << 96));
    }

    function test_RevertWhen_topUpOverflowsWithMaxAmount() external {
        _openChannel(1, 2);
        uint256 total = 2 + uint256(type(uint96).max);
        _assertTopUpReverts(
            payer, type(uint96).max, abi.encodeWithSelector(IChannelEscrow.DepositOverflow.selector, total)
        );
    }

    function test_RevertWhen_topUpAboveFreeBalance() external {
        _openChannel(1, 5e18);
        _fund(payer, 1e18);
        _assertTopUpReverts(payer, 2e18, _insufficient(payer, 1e18, 2e18));
    }

    // ---------------------------------------------------------------------------------------------
    // topUpsBySig
    // ---------------------------------------------------------------------------------------------

    function test_topUpBySig_raisesToSignedTotalAndPaysRelayer() external {
        bytes32 id = _openChannel(1, 5e18);
        _fund(payer, 4e18);
        IChannelEscrow.TopUpAuth[] memory auths = _list(_topUpAuth(payerKey, 1, 8e18, 1e16));
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.ChannelToppedUp(id, 8e18, 1e16);
        _expectFees(relayer, 1e16);
        vm.prank(relayer);
        bytes[] memory failures = escrow.topUpsBySig(auths);
        vm.snapshotGasLastCall("topUpsBySig_1");
        assertEq(failures[0].length, 0);
        _assertChannel(id, 8e18, 0, 0, IChannelEscrow.ChannelState.Open);
        assertEq(escrow.balanceOf(payer), 1e18 - 1e16);
        assertEq(escrow.balanceOf(relayer), 1e16);
    }

    function test_topUpBySig_replayIsStale() external {
        bytes32 id = _openChannel(1, 5e18);
        _fund(payer, 4e18);
        IChannelEscrow.TopUpAuth memory a = _topUpAuth(payerKey, 1, 8e18, 1e16);
        vm.prank(relayer);
        escrow.topUpsBySig(_list(a));
        bytes memory reason = abi.encodeWithSelector(IChannelEscrow.StaleTopUp.selector, id, 8e18, 8e18);
        vm.recordLogs();
        _assertSkippedAs(relayer, abi.encodeCall(IChannelEscrow.topUpsBySig, (_list(a))), reason);
        _assertNoLog(IChannelEscrow.FeesCollected.selector);
        _assertChannel(id, 8e18, 0, 0, IChannelEscrow.ChannelState.Open);
        assertEq(escrow.balanceOf(payer), 1e18 - 1e16);
        assertEq(escrow.balanceOf(relayer), 1e16);
    }

    function test_topUpBySig_skipsBadEntriesAndAppliesOthers() external {
        bytes32 id1 = _openChannel(1, 5e18);
        bytes32 id2 = _openChannel(2, 5e18);
        bytes32 closing = _openChannel(3, 5e18);
        _requestClose(3);
        _fund(payer, 3e18);

        IChannelEscrow.TopUpAuth[] memory auths = new IChannelEscrow.TopUpAuth[](8);
        auths[0] = _topUpAuth(payerKey, 1, 6e18, 1); // good: +1e18
        auths[1] = _topUpAuth(payerKey, 2, 4e18, 1); // below the current deposit
        auths[2] = _topUpAuth(payerKey, 2, 5e18, 1); // equal to the current deposit
        auths[3] = _topUpAuth(payerKey, 3, 6e18, 1); // closing
        auths[4] = _topUpAuth(payerKey, 4, 6e18, 1); // unknown
        auths[5] = _topUpAuth(payerKey, 2, 9e18, 1); // +4e18 + fee, above what is left
        auths[6] = _topUpAuth(strangerKey, 2, 6e18, 1); // wrong signer
        auths[6].payer = payer;
        auths[7] = _topUpAuth(payerKey, 2, 6e18, 2); // good: +1e18

        bytes[] memory reasons = new bytes[](8);
        reasons[1] = abi.encodeWithSelector(IChannelEscrow.StaleTopUp.selector, id2, 5e18, 4e18);
        reasons[2] = abi.encodeWithSelector(IChannelEscrow.StaleTopUp.selector, id2, 5e18, 5e18);
        reasons[3] = _invalidState(closing, IChannelEscrow.ChannelState.Closing);
        reasons[4] = _invalidState(escrow.channelId(payer, payee, 4), IChannelEscrow.ChannelState.None);
        reasons[5] = _insufficient(payer, 2e18 - 1, 4e18 + 1);
        reasons[6] = _invalidSigner(stranger, payer);

        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.ChannelToppedUp(id1, 6e18, 1);
        _expectSkipped(reasons);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.ChannelToppedUp(id2, 6e18, 2);
        _expectFees(relayer, 3);
        vm.prank(relayer);
        bytes[] memory failures = escrow.topUpsBySig(auths);

        assertEq(failures, reasons);
        _assertChannel(id1, 6e18, 0, 0, IChannelEscrow.ChannelState.Open);
        _assertChannel(id2, 6e18, 0, 0, IChannelEscrow.ChannelState.Open);
        _assertChannel(
            closing, 5e18, 0, uint40(block.timestamp) + CHALLENGE_PERIOD, IChannelEscrow.ChannelState.Closing
        );
        assertEq(escrow.balanceOf(payer), 1e18 - 3);
        assertEq(escrow.balanceOf(relayer), 3);
    }

    function test_topUpBySig_skipsExpiredAndClosed() external {
        bytes32 id = _openChannel(1, 5e18);
        _fund(payer, 5e18);
        IChannelEscrow.TopUpAuth memory a = _topUpAuth(payerKey, 1, 6e18, 0);
        IChannelEscrow.TopUpAuth[] memory auths = new IChannelEscrow.TopUpAuth[](1);
        auths[0] = a;
        vm.warp(a.deadline + 1);
        _expectSkipped(0, _expired(a.deadline));
        bytes[] memory failures = escrow.topUpsBySig(auths);
        assertEq(failures[0], _expired(a.deadline));

        _closeByPayee(1);
        auths[0] = _topUpAuth(payerKey, 1, 6e18, 0);
        failures = escrow.topUpsBySig(auths);
        assertEq(failures[0], _invalidState(id, IChannelEscrow.ChannelState.Closed));
        _assertChannel(id, 5e18, 0, 0, IChannelEscrow.ChannelState.Closed);
        assertEq(escrow.balanceOf(payer), 10e18);
    }

    function test_topUpBySig_emptyBatch() external {
        _assertEmptyBatchIsNoop(abi.encodeCall(IChannelEscrow.topUpsBySig, (new IChannelEscrow.TopUpAuth[](0))));
    }
}
