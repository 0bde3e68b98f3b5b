// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";
import {UnitTest} from "./UnitHelpers.sol";

contract CooperativeCloseTest is UnitTest {
    using PaymentSigner for IChannelEscrow;

    bytes32 private id;

    function setUp() public override {
        super.setUp();
        id = _openChannel(1, 10e18);
        _settle(1, 2e18);
    }

    function _auth(uint96 cumulative, uint96 fee) private view returns (IChannelEscrow.CooperativeCloseAuth memory) {
        return IChannelEscrow.CooperativeCloseAuth(payer, payee, 1, cumulative, fee, address(0), 0, _deadline());
    }

    function _close(address caller, IChannelEscrow.CooperativeCloseAuth memory a) private {
        IChannelEscrow.CompactSignature memory payerSig = escrow.signCooperativeClose(payerKey, a);
        IChannelEscrow.CompactSignature memory payeeSig = escrow.signCooperativeClose(payeeKey, a);
        vm.prank(caller);
        escrow.cooperativeClose(a, payerSig, payeeSig);
    }

    function test_cooperativeClose_paysAgreedAmountRefundsRestAndPaysFee() external {
        _fund(payer, 1e18);
        IChannelEscrow.CooperativeCloseAuth memory a = _auth(5e18, 1e16);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.ChannelClosed(id, 5e18, 1e16);
        _expectFees(relayer, 1e16);
        _close(relayer, a);
        vm.snapshotGasLastCall("cooperativeClose");
        _assertChannel(id, 10e18, 5e18, 0, IChannelEscrow.ChannelState.Closed);
        assertEq(escrow.balanceOf(payee), 5e18);
        assertEq(escrow.balanceOf(payer), 1e18 + 5e18 - 1e16);
        assertEq(escrow.balanceOf(relayer), 1e16);
    }

    function test_cooperativeClose_zeroFeeEmitsNoFeesCollected() external {
        IChannelEscrow.CooperativeCloseAuth memory a = _auth(4e18, 0);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.ChannelClosed(id, 4e18, 0);
        vm.recordLogs();
        _close(stranger, a);
        _assertNoLog(IChannelEscrow.FeesCollected.selector);
        assertEq(escrow.balanceOf(payee), 4e18);
        assertEq(escrow.balanceOf(payer), 6e18);
        assertEq(escrow.balanceOf(stranger), 0);
    }

    /// @dev The payer may pay the fee out of the refund this very call produces.
    function test_cooperativeClose_feePaidFromRefund() external {
        assertEq(escrow.balanceOf(payer), 0);
        _close(relayer, _auth(5e18, 5e18));
        assertEq(escrow.balanceOf(payer), 0);
        assertEq(escrow.balanceOf(relayer), 5e18);
        assertEq(escrow.balanceOf(payee), 5e18);
    }

    function test_cooperativeClose_worksWhileClosing() external {
        vm.prank(payer);
        escrow.requestClose(payee, 1);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.ChannelClosed(id, 3e18, 0);
        _close(relayer, _auth(3e18, 0));
        _assertChannel(id, 10e18, 3e18, 0, IChannelEscrow.ChannelState.Closed);
        assertEq(escrow.balanceOf(payer), 7e18);
    }

    function test_cooperativeClose_worksAfterChallengeWindowEnded() external {
        vm.prank(payer);
        escrow.requestClose(payee, 1);
        vm.warp(block.timestamp + CHALLENGE_PERIOD + 1);
        _close(relayer, _auth(3e18, 0));
        _assertChannel(id, 10e18, 3e18, 0, IChannelEscrow.ChannelState.Closed);
        assertEq(escrow.balanceOf(payee), 3e18);
    }

    function test_cooperativeClose_belowSettledDoesNotLowerSettled() external {
        _settle(1, 6e18);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.ChannelClosed(id, 6e18, 0);
        _close(relayer, _auth(1e18, 0));
        _assertChannel(id, 10e18, 6e18, 0, IChannelEscrow.ChannelState.Closed);
        assertEq(escrow.balanceOf(payee), 6e18);
        assertEq(escrow.balanceOf(payer), 4e18);
    }

    function test_cooperativeClose_aboveDepositIsCapped() external {
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.ChannelClosed(id, 10e18, 0);
        _close(relayer, _auth(type(uint96).max, 0));
        _assertChannel(id, 10e18, 10e18, 0, IChannelEscrow.ChannelState.Closed);
        assertEq(escrow.balanceOf(payee), 10e18);
        assertEq(escrow.balanceOf(payer), 0);
    }

    function test_cooperativeClose_atDeadline() external {
        IChannelEscrow.CooperativeCloseAuth memory a = _auth(3e18, 0);
        vm.warp(a.deadline);
        _close(relayer, a);
        _assertChannel(id, 10e18, 3e18, 0, IChannelEscrow.ChannelState.Closed);
    }

    function test_RevertWhen_cooperativeCloseExpired() external {
        IChannelEscrow.CooperativeCloseAuth memory a = _auth(3e18, 0);
        IChannelEscrow.CompactSignature memory payerSig = escrow.signCooperativeClose(payerKey, a);
        IChannelEscrow.CompactSignature memory payeeSig = escrow.signCooperativeClose(payeeKey, a);
        vm.warp(a.deadline + 1);
        vm.expectRevert(_expired(a.deadline));
        escrow.cooperativeClose(a, payerSig, payeeSig);
    }

    function test_RevertWhen_cooperativeClosePayerSigFromStranger() external {
        IChannelEscrow.CooperativeCloseAuth memory a = _auth(3e18, 0);
        IChannelEscrow.CompactSignature memory payerSig = escrow.signCooperativeClose(strangerKey, a);
        IChannelEscrow.CompactSignature memory payeeSig = escrow.signCooperativeClose(payeeKey, a);
        vm.expectRevert(_invalidSigner(stranger, payer));
        escrow.cooperativeClose(a, payerSig, payeeSig);
    }

    function test_RevertWhen_cooperativeClosePayeeSigFromStranger() external {
        IChannelEscrow.CooperativeCloseAuth memory a = _auth(3e18, 0);
        IChannelEscrow.CompactSignature memory payerSig = escrow.signCooperativeClose(payerKey, a);
        IChannelEscrow.CompactSignature memory payeeSig = escrow.signCooperativeClose(strangerKey, a);
        vm.expectRevert(_invalidSigner(stranger, payee));
        escrow.cooperativeClose(a, payerSig, payeeSig);
    }

    function test_RevertWhen_cooperativeCloseOnlyPayerSigned() external {
        IChannelEscrow.CooperativeCloseAuth memory a = _auth(3e18, 0);
        IChannelEscrow.CompactSignature memory payerSig = escrow.signCooperativeClose(payerKey, a);
        vm.expectRevert(_invalidSigner(payer, payee));
        escrow.cooperativeClose(a, payerSig, payerSig);
    }

    function test_RevertWhen_cooperativeCloseSignaturesSwapped() external {
        IChannelEscrow.CooperativeCloseAuth memory a = _auth(3e18, 0);
        IChannelEscrow.CompactSignature memory payerSig = escrow.signCooperativeClose(payerKey, a);
        IChannelEscrow.CompactSignature memory payeeSig = escrow.signCooperativeClose(payeeKey, a);
        vm.expectRevert(_invalidSigner(payee, payer));
        escrow.cooperativeClose(a, payeeSig, payerSig);
    }

    function test_RevertWhen_cooperativeClosePayerSigMissing() external {
        IChannelEscrow.CooperativeCloseAuth memory a = _auth(3e18, 0);
        IChannelEscrow.CompactSignature memory payeeSig = escrow.signCooperativeClose(payeeKey, a);
        vm.expectRevert(_invalidSigner(address(0), payer));
        escrow.cooperativeClose(a, _noSig(), payeeSig);
    }

    function test_RevertWhen_cooperativeCloseTermsTampered() external {
        IChannelEscrow.CooperativeCloseAuth memory a = _auth(3e18, 0);
        IChannelEscrow.CompactSignature memory payerSig = escrow.signCooperativeClose(payerKey, a);
        IChannelEscrow.CompactSignature memory payeeSig = escrow.signCooperativeClose(payeeKey, a);
        a.cumulative = 9e18; // the payee raises its share after the payer signed
        address recovered = _recover(PaymentSigner.digest(escrow, PaymentSigner.hashCooperativeClose(a)), payerSig);
        vm.expectRevert(_invalidSigner(recovered, payer));
        escrow.cooperativeClose(a, payerSig, payeeSig);
    }

    function test_RevertWhen_cooperativeCloseUnknownChannel() external {
        IChannelEscrow.CooperativeCloseAuth memory a = _auth(3e18, 0);
        a.salt = 2;
        IChannelEscrow.CompactSignature memory payerSig = escrow.signCooperativeClose(payerKey, a);
        IChannelEscrow.CompactSignature memory payeeSig = escrow.signCooperativeClose(payeeKey, a);
        vm.expectRevert(_invalidState(escrow.channelId(payer, payee, 2), IChannelEscrow.ChannelState.None));
        escrow.cooperativeClose(a, payerSig, payeeSig);
    }

    function test_RevertWhen_cooperativeCloseReplayed() external {
        IChannelEscrow.CooperativeCloseAuth memory a = _auth(3e18, 1e15);
        IChannelEscrow.CompactSignature memory payerSig = escrow.signCooperativeClose(payerKey, a);
        IChannelEscrow.CompactSignature memory payeeSig = escrow.signCooperativeClose(payeeKey, a);
        vm.prank(relayer);
        escrow.cooperativeClose(a, payerSig, payeeSig);
        vm.expectRevert(_invalidState(id, IChannelEscrow.ChannelState.Closed));
        vm.prank(relayer);
        escrow.cooperativeClose(a, payerSig, payeeSig);
        assertEq(escrow.balanceOf(relayer), 1e15);
        assertEq(escrow.balanceOf(payer), 7e18 - 1e15);
    }

    function test_RevertWhen_cooperativeCloseFeeAboveBalanceAndRefund() external {
        _fund(payer, 1e18);
        IChannelEscrow.CooperativeCloseAuth memory a = _auth(5e18, 6e18 + 1);
        IChannelEscrow.CompactSignature memory payerSig = escrow.signCooperativeClose(payerKey, a);
        IChannelEscrow.CompactSignature memory payeeSig = escrow.signCooperativeClose(payeeKey, a);
        // Available = free balance 1e18 + refund 5e18.
        vm.expectRevert(_insufficient(payer, 6e18, 6e18 + 1));
        vm.prank(relayer);
        escrow.cooperativeClose(a, payerSig, payeeSig);
        _assertChannel(id, 10e18, 2e18, 0, IChannelEscrow.ChannelState.Open);
        assertEq(escrow.balanceOf(payer), 1e18);
        assertEq(escrow.balanceOf(payee), 2e18);
    }
}
