// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";
import {UnitTest} from "./UnitHelpers.sol";

/// @notice requestClose, requestClosesBySig, finalizeClose and closeByPayee.
contract CloseTest is UnitTest {
    using PaymentSigner for IChannelEscrow;

    // ---------------------------------------------------------------------------------------------
    // requestClose
    // ---------------------------------------------------------------------------------------------

    function test_requestClose_startsChallengeWindow() external {
        bytes32 id = _openChannel(1, 10e18);
        _settle(1, 3e18);
        uint40 closesAt = uint40(block.timestamp) + CHALLENGE_PERIOD;
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.CloseRequested(id, closesAt, 0);
        _requestClose(1);
        _assertChannel(id, 10e18, 3e18, closesAt, IChannelEscrow.ChannelState.Closing);
        // Nothing is refunded yet.
        assertEq(escrow.balanceOf(payer), 0);
        assertEq(escrow.balanceOf(payee), 3e18);
    }

    /// @dev `requestClose(payee, 1)` called by `caller` reverts with `err`.
    function _assertRequestCloseReverts(address caller, address payee_, bytes memory err) private {
        _assertRevertAs(caller, abi.encodeCall(IChannelEscrow.requestClose, (payee_, 1)), err);
    }

    function test_RevertWhen_requestCloseUnknownChannel() external {
        bytes32 id = escrow.channelId(payer, payee, 1);
        _assertRequestCloseReverts(payer, payee, _invalidState(id, IChannelEscrow.ChannelState.None));
    }

    /// @dev The payee cannot request a close: the call looks up the caller's own (non-existent) channel.
    function test_RevertWhen_requestCloseByPayee() external {
        _openChannel(1, 10e18);
        bytes32 reverse = escrow.channelId(payee, payer, 1);
        _assertRequestCloseReverts(payee, payer, _invalidState(reverse, IChannelEscrow.ChannelState.None));
    }

    function test_RevertWhen_requestCloseTwice() external {
        bytes32 id = _openChannel(1, 10e18);
        uint40 closesAt = _requestClose(1);
        vm.warp(block.timestamp + 10);
        _assertRequestCloseReverts(payer, payee, _invalidState(id, IChannelEscrow.ChannelState.Closing));
        // The window was not extended.
        _assertChannel(id, 10e18, 0, closesAt, IChannelEscrow.ChannelState.Closing);
    }

    function test_RevertWhen_requestCloseClosedChannel() external {
        bytes32 id = _openChannel(1, 10e18);
        _closeByPayee(1);
        _assertRequestCloseReverts(payer, payee, _invalidState(id, IChannelEscrow.ChannelState.Closed));
    }

    // ---------------------------------------------------------------------------------------------
    // requestClosesBySig
    // ---------------------------------------------------------------------------------------------

    function test_requestCloseBySig_startsWindowAndPaysRelayer() external {
        bytes32 id = _openChannel(1, 10e18);
        _fund(payer, 1e18);
        IChannelEscrow.CloseAuth[] memory auths = _list(_closeAuth(payerKey, 1, 1e16));
        uint40 closesAt = uint40(block.timestamp) + CHALLENGE_PERIOD;
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.CloseRequested(id, closesAt, 1e16);
        _expectFees(relayer, 1e16);
        vm.prank(relayer);
        bytes[] memory failures = escrow.requestClosesBySig(auths);
        assertEq(failures[0].length, 0);
        _assertChannel(id, 10e18, 0, closesAt, IChannelEscrow.ChannelState.Closing);
        assertEq(escrow.balanceOf(payer), 1e18 - 1e16);
        assertEq(escrow.balanceOf(relayer), 1e16);
    }

    function test_requestCloseBySig_skipsBadEntriesAndAppliesOthers() external {
        bytes32 id1 = _openChannel(1, 10e18);
        bytes32 id2 = _openChannel(2, 10e18);
        bytes32 closed = _openChannel(3, 10e18);
        _closeByPayee(3); // refunds 10e18 to the payer
        IChannelEscrow.CloseAuth[] memory auths = new IChannelEscrow.CloseAuth[](6);
        auths[0] = _closeAuth(payerKey, 1, 1); // good
        auths[1] = _closeAuth(payerKey, 3, 1); // closed
        auths[2] = _closeAuth(payerKey, 4, 1); // unknown
        auths[3] = _closeAuth(payerKey, 2, 10e18); // fee above balance (10e18 − 1 left)
        auths[4] = _closeAuth(strangerKey, 2, 1); // wrong signer
        auths[4].payer = payer;
        auths[5] = _closeAuth(payerKey, 2, 2); // good

        bytes[] memory reasons = new bytes[](6);
        reasons[1] = _invalidState(closed, IChannelEscrow.ChannelState.Closed);
        reasons[2] = _invalidState(escrow.channelId(payer, payee, 4), IChannelEscrow.ChannelState.None);
        reasons[3] = _insufficient(payer, 10e18 - 1, 10e18);
        reasons[4] = _invalidSigner(stranger, payer);

        uint40 closesAt = uint40(block.timestamp) + CHALLENGE_PERIOD;
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.CloseRequested(id1, closesAt, 1);
        _expectSkipped(reasons);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.CloseRequested(id2, closesAt, 2);
        _expectFees(relayer, 3);
        vm.prank(relayer);
        bytes[] memory failures = escrow.requestClosesBySig(auths);

        assertEq(failures, reasons);
        _assertChannel(id1, 10e18, 0, closesAt, IChannelEscrow.ChannelState.Closing);
        _assertChannel(id2, 10e18, 0, closesAt, IChannelEscrow.ChannelState.Closing);
        _assertChannel(closed, 10e18, 0, 0, IChannelEscrow.ChannelState.Closed);
        assertEq(escrow.balanceOf(payer), 10e18 - 3);
        assertEq(escrow.balanceOf(relayer), 3);
    }

    function test_requestCloseBySig_replayIsRejected() external {
        bytes32 id = _openChannel(1, 10e18);
        _fund(payer, 1e18);
        IChannelEscrow.CloseAuth[] memory auths = _list(_closeAuth(payerKey, 1, 1e16));
        vm.prank(relayer);
        escrow.requestClosesBySig(auths);
        uint40 closesAt = uint40(block.timestamp) + CHALLENGE_PERIOD;
        vm.warp(block.timestamp + 60);
        bytes memory reason = _invalidState(id, IChannelEscrow.ChannelState.Closing);
        _assertSkippedAs(relayer, abi.encodeCall(IChannelEscrow.requestClosesBySig, (auths)), reason);
        _assertChannel(id, 10e18, 0, closesAt, IChannelEscrow.ChannelState.Closing);
        assertEq(escrow.balanceOf(payer), 1e18 - 1e16);
        assertEq(escrow.balanceOf(relayer), 1e16);
    }

    function test_requestCloseBySig_skipsExpired() external {
        bytes32 id = _openChannel(1, 10e18);
        IChannelEscrow.CloseAuth memory a = _closeAuth(payerKey, 1, 0);
        vm.warp(a.deadline + 1);
        _expectSkipped(0, _expired(a.deadline));
        bytes[] memory failures = escrow.requestClosesBySig(_list(a));
        assertEq(failures[0], _expired(a.deadline));
        _assertChannel(id, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_requestCloseBySig_emptyBatch() external {
        _assertEmptyBatchIsNoop(abi.encodeCall(IChannelEscrow.requestClosesBySig, (new IChannelEscrow.CloseAuth[](0))));
    }

    // ---------------------------------------------------------------------------------------------
    // finalizeClose
    // ---------------------------------------------------------------------------------------------

    function test_finalizeClose_refundsUnsettledAfterWindow() external {
        bytes32 id = _openChannel(1, 10e18);
        _settle(1, 3e18);
        _requestCloseAndLetExpire(1);
        _expectChannelClosed(id, 3e18, 0);
        vm.prank(stranger); // anyone may finalize
        escrow.finalizeClose(payer, payee, 1);
        _assertChannel(id, 10e18, 3e18, 0, IChannelEscrow.ChannelState.Closed);
        assertEq(escrow.balanceOf(payer), 7e18);
        assertEq(escrow.balanceOf(payee), 3e18);
        assertEq(escrow.balanceOf(stranger), 0);
    }

    function test_finalizeClose_includesSettlementsDuringWindow() external {
        bytes32 id = _openChannel(1, 10e18);
        uint40 closesAt = _requestClose(1);
        vm.warp(closesAt);
        _settle(1, 6e18);
        vm.warp(closesAt + 1);
        escrow.finalizeClose(payer, payee, 1);
        _assertChannel(id, 10e18, 6e18, 0, IChannelEscrow.ChannelState.Closed);
        assertEq(escrow.balanceOf(payer), 4e18);
        assertEq(escrow.balanceOf(payee), 6e18);
    }

    function test_finalizeClose_fullySettledRefundsNothing() external {
        bytes32 id = _openChannel(1, 10e18);
        _settle(1, 10e18);
        _requestCloseAndLetExpire(1);
        _expectChannelClosed(id, 10e18, 0);
        escrow.finalizeClose(payer, payee, 1);
        assertEq(escrow.balanceOf(payer), 0);
    }

    function test_RevertWhen_finalizeAtExactlyClosesAt() external {
        bytes32 id = _openChannel(1, 10e18);
        uint40 closesAt = _requestClose(1);
        vm.warp(closesAt);
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.ChallengePeriodActive.selector, id, closesAt));
        escrow.finalizeClose(payer, payee, 1);
    }

    function test_RevertWhen_finalizeRightAfterRequest() external {
        bytes32 id = _openChannel(1, 10e18);
        uint40 closesAt = _requestClose(1);
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.ChallengePeriodActive.selector, id, closesAt));
        escrow.finalizeClose(payer, payee, 1);
    }

    function test_RevertWhen_finalizeOpenChannel() external {
        bytes32 id = _openChannel(1, 10e18);
        vm.expectRevert(_invalidState(id, IChannelEscrow.ChannelState.Open));
        escrow.finalizeClose(payer, payee, 1);
    }

    function test_RevertWhen_finalizeUnknownChannel() external {
        bytes32 id = escrow.channelId(payer, payee, 1);
        vm.expectRevert(_invalidState(id, IChannelEscrow.ChannelState.None));
        escrow.finalizeClose(payer, payee, 1);
    }

    function test_RevertWhen_finalizeTwice() external {
        bytes32 id = _openChannel(1, 10e18);
        _requestCloseAndLetExpire(1);
        escrow.finalizeClose(payer, payee, 1);
        vm.expectRevert(_invalidState(id, IChannelEscrow.ChannelState.Closed));
        escrow.finalizeClose(payer, payee, 1);
        assertEq(escrow.balanceOf(payer), 10e18);
    }

    // ---------------------------------------------------------------------------------------------
    // closeByPayee
    // ---------------------------------------------------------------------------------------------

    function test_closeByPayee_closesOpenChannelAtOnce() external {
        bytes32 id = _openChannel(1, 10e18);
        _settle(1, 4e18);
        _expectChannelClosed(id, 4e18, 0);
        _closeByPayee(1);
        _assertChannel(id, 10e18, 4e18, 0, IChannelEscrow.ChannelState.Closed);
        assertEq(escrow.balanceOf(payer), 6e18);
        assertEq(escrow.balanceOf(payee), 4e18);
    }

    function test_closeByPayee_worksWhileClosing() external {
        bytes32 id = _openChannel(1, 10e18);
        _requestClose(1);
        _settle(1, 2e18);
        _expectChannelClosed(id, 2e18, 0);
        _closeByPayee(1);
        _assertChannel(id, 10e18, 2e18, 0, IChannelEscrow.ChannelState.Closed);
        assertEq(escrow.balanceOf(payer), 8e18);
    }

    function test_closeByPayee_worksAfterWindowEnded() external {
        bytes32 id = _openChannel(1, 10e18);
        _requestCloseAndLetExpire(1);
        _closeByPayee(1);
        _assertChannel(id, 10e18, 0, 0, IChannelEscrow.ChannelState.Closed);
        assertEq(escrow.balanceOf(payer), 10e18);
    }

    /// @dev `closeByPayee(payer, 1)` called by `caller` reverts with `err`.
    function _assertCloseByPayeeReverts(address caller, bytes memory err) private {
        _assertRevertAs(caller, abi.encodeCall(IChannelEscrow.closeByPayee, (payer, 1)), err);
    }

    function test_RevertWhen_closeByPayeeUnknownChannel() external {
        bytes32 id = escrow.channelId(payer, payee, 1);
        _assertCloseByPayeeReverts(payee, _invalidState(id, IChannelEscrow.ChannelState.None));
    }

    function test_RevertWhen_closeByPayeeClosedChannel() external {
        bytes32 id = _openChannel(1, 10e18);
        _closeByPayee(1);
        _assertCloseByPayeeReverts(payee, _invalidState(id, IChannelEscrow.ChannelState.Closed));
        assertEq(escrow.balanceOf(payer), 10e18);
    }

    /// @dev Only the payee can close at once: anyone else names a channel of its own, which does not exist.
    function test_RevertWhen_closeByPayeeCalledByStranger() external {
        bytes32 id = _openChannel(1, 10e18);
        bytes32 strangers = escrow.channelId(payer, stranger, 1);
        _assertCloseByPayeeReverts(stranger, _invalidState(strangers, IChannelEscrow.ChannelState.None));
        _assertChannel(id, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_RevertWhen_closeByPayeeCalledByPayer() external {
        _openChannel(1, 10e18);
        bytes32 selfId = escrow.channelId(payer, payer, 1);
        _assertCloseByPayeeReverts(payer, _invalidState(selfId, IChannelEscrow.ChannelState.None));
    }
}
