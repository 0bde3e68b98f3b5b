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
        return _cooperativeCloseAuth(1, cumulative, fee);
    }

    function _close(address caller, IChannelEscrow.CooperativeCloseAuth memory a) private {
        (IChannelEscrow.CompactSignature memory payerSig, IChannelEscrow.CompactSignature memory payeeSig) =
            _cooperativeCloseSigs(escrow, a);
        vm.prank(caller);
        escrow.cooperativeClose(a, payerSig, payeeSig);
    }

    /// @dev `cooperativeClose(a, payerSig, payeeSig)` reverts with `err`.
    function _assertCloseReverts(
        IChannelEscrow.CooperativeCloseAuth memory a,
        IChannelEscrow.CompactSignature memory payerSig,
        IChannelEscrow.CompactSignature memory payeeSig,
        bytes memory err
    ) private {
        _assertRevertAs(relayer, abi.encodeCall(IChannelEscrow.cooperativeClose, (a, payerSig, payeeSig)), err);
    }

    /// @dev `a`, signed by `payerSigner` in the payer's place and `payeeSigner` in the payee's, reverts with `err`.
    function _assertCloseRevertsSignedBy(
        IChannelEscrow.CooperativeCloseAuth memory a,
        uint256 payerSigner,
        uint256 payeeSigner,
        bytes memory err
    ) private {
        _assertCloseReverts(
            a, escrow.signCooperativeClose(payerSigner, a), escrow.signCooperativeClose(payeeSigner, a), err
        );
    }

    function test_cooperativeClose_paysAgreedAmountRefundsRestAndPaysFee() external {
        _fund(payer, 1e18);
        IChannelEscrow.CooperativeCloseAuth memory a = _auth(5e18, 1e16);
        _expectChannelClosed(id, 5e18, 1e16);
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
        _expectChannelClosed(id, 4e18, 0);
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
        _requestClose(1);
        _expectChannelClosed(id, 3e18, 0);
        _close(relayer, _auth(3e18, 0));
        _assertChannel(id, 10e18, 3e18, 0, IChannelEscrow.ChannelState.Closed);
        assertEq(escrow.balanceOf(payer), 7e18);
    }

    function test_cooperativeClose_worksAfterChallengeWindowEnded() external {
        _requestClose(1);
        vm.warp(block.timestamp + CHALLENGE_PERIOD + 1);
        _close(relayer, _auth(3e18, 0));
        _assertChannel(id, 10e18, 3e18, 0, IChannelEscrow.ChannelState.Closed);
        assertEq(escrow.balanceOf(payee), 3e18);
    }

    function test_cooperativeClose_belowSettledDoesNotLowerSettled() external {
        _settle(1, 6e18);
        _expectChannelClosed(id, 6e18, 0);
        _close(relayer, _auth(1e18, 0));
        _assertChannel(id, 10e18, 6e18, 0, IChannelEscrow.ChannelState.Closed);
        assertEq(escrow.balanceOf(payee), 6e18);
        assertEq(escrow.balanceOf(payer), 4e18);
    }

    function test_cooperativeClose_aboveDepositIsCapped() external {
        _expectChannelClosed(id, 10e18, 0);
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
        vm.warp(a.deadline + 1);
        _assertCloseRevertsSignedBy(a, payerKey, payeeKey, _expired(a.deadline));
    }

    function test_RevertWhen_cooperativeClosePayerSigFromStranger() external {
        _assertCloseRevertsSignedBy(_auth(3e18, 0), strangerKey, payeeKey, _invalidSigner(stranger, payer));
    }

    function test_RevertWhen_cooperativeClosePayeeSigFromStranger() external {
        _assertCloseRevertsSignedBy(_auth(3e18, 0), payerKey, strangerKey, _invalidSigner(stranger, payee));
    }

    /// @dev The payer's signature in both places.
    function test_RevertWhen_cooperativeCloseOnlyPayerSigned() external {
        _assertCloseRevertsSignedBy(_auth(3e18, 0), payerKey, payerKey, _invalidSigner(payer, payee));
    }

    function test_RevertWhen_cooperativeCloseSignaturesSwapped() external {
        _assertCloseRevertsSignedBy(_auth(3e18, 0), payeeKey, payerKey, _invalidSigner(payee, payer));
    }

    function test_RevertWhen_cooperativeClosePayerSigMissing() external {
        IChannelEscrow.CooperativeCloseAuth memory a = _auth(3e18, 0);
        _assertCloseReverts(a, _noSig(), escrow.signCooperativeClose(payeeKey, a), _invalidSigner(address(0), payer));
    }

    function test_RevertWhen_cooperativeCloseTermsTampered() external {
        IChannelEscrow.CooperativeCloseAuth memory a = _auth(3e18, 0);
        (IChannelEscrow.CompactSignature memory payerSig, IChannelEscrow.CompactSignature memory payeeSig) =
            _cooperativeCloseSigs(escrow, a);
        a.cumulative = 9e18; // the payee raises its share after the payer signed
        bytes memory err = _signerMismatch(PaymentSigner.hashCooperativeClose(a), payerSig, payer);
        _assertCloseReverts(a, payerSig, payeeSig, err);
    }

    function test_RevertWhen_cooperativeCloseUnknownChannel() external {
        IChannelEscrow.CooperativeCloseAuth memory a = _auth(3e18, 0);
        a.salt = 2;
        bytes memory err = _invalidState(escrow.channelId(payer, payee, 2), IChannelEscrow.ChannelState.None);
        _assertCloseRevertsSignedBy(a, payerKey, payeeKey, err);
    }

    function test_RevertWhen_cooperativeCloseReplayed() external {
        IChannelEscrow.CooperativeCloseAuth memory a = _auth(3e18, 1e15);
        _close(relayer, a);
        _assertCloseRevertsSignedBy(a, payerKey, payeeKey, _invalidState(id, IChannelEscrow.ChannelState.Closed));
        assertEq(escrow.balanceOf(relayer), 1e15);
        assertEq(escrow.balanceOf(payer), 7e18 - 1e15);
    }

    function test_RevertWhen_cooperativeCloseFeeAboveBalanceAndRefund() external {
        _fund(payer, 1e18);
        // Available = free balance 1e18 + refund 5e18.
        _assertCloseRevertsSignedBy(_auth(5e18, 6e18 + 1), payerKey, payeeKey, _insufficient(payer, 6e18, 6e18 + 1));
        _assertChannel(id, 10e18, 2e18, 0, IChannelEscrow.ChannelState.Open);
        assertEq(escrow.balanceOf(payer), 1e18);
        assertEq(escrow.balanceOf(payee), 2e18);
    }
}
