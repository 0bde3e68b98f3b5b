// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";
import {UnitTest} from "./UnitHelpers.sol";

contract OpenChannelTest is UnitTest {
    using PaymentSigner for IChannelEscrow;

    // ---------------------------------------------------------------------------------------------
    // openChannel
    // ---------------------------------------------------------------------------------------------

    function test_open_locksDepositFromFreeBalance() external {
        _fund(payer, 10e18);
        bytes32 expectedId = escrow.channelId(payer, payee, 1);
        uint256 escrowTokens = token.balanceOf(address(escrow));
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.ChannelOpened(expectedId, payer, payee, 1, 6e18, 0);
        vm.prank(payer);
        bytes32 id = escrow.openChannel(payee, 1, 6e18);
        vm.snapshotGasLastCall("openChannel");
        assertEq(id, expectedId);
        _assertChannel(id, 6e18, 0, 0, IChannelEscrow.ChannelState.Open);
        assertEq(escrow.balanceOf(payer), 4e18);
        assertEq(escrow.balanceOf(payee), 0);
        // No token moves on open.
        assertEq(token.balanceOf(address(escrow)), escrowTokens);
    }

    function test_open_wholeBalance() external {
        bytes32 id = _openChannel(3, 10e18);
        assertEq(escrow.balanceOf(payer), 0);
        _assertChannel(id, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_open_severalSaltsAreIndependent() external {
        _fund(payer, 10e18);
        vm.startPrank(payer);
        bytes32 a = escrow.openChannel(payee, 1, 1e18);
        bytes32 b = escrow.openChannel(payee, 2, 2e18);
        bytes32 c = escrow.openChannel(stranger, 1, 3e18);
        vm.stopPrank();
        assertTrue(a != b && a != c && b != c);
        _assertChannel(a, 1e18, 0, 0, IChannelEscrow.ChannelState.Open);
        _assertChannel(b, 2e18, 0, 0, IChannelEscrow.ChannelState.Open);
        _assertChannel(c, 3e18, 0, 0, IChannelEscrow.ChannelState.Open);
        assertEq(escrow.balanceOf(payer), 4e18);
    }

    function test_open_reverseDirectionIsAnotherChannel() external {
        _openChannel(1, 1e18);
        _fund(payee, 1e18);
        vm.prank(payee);
        bytes32 back = escrow.openChannel(payer, 1, 1e18);
        assertEq(back, escrow.channelId(payee, payer, 1));
        _assertChannel(back, 1e18, 0, 0, IChannelEscrow.ChannelState.Open);
    }

    /// @dev The payer's `openChannel(to, 1, amount)` reverts with `err`.
    function _assertOpenReverts(address to, uint96 amount, bytes memory err) private {
        _assertRevertAs(payer, abi.encodeCall(IChannelEscrow.openChannel, (to, 1, amount)), err);
    }

    function test_RevertWhen_openToZeroAddress() external {
        _fund(payer, 10e18);
        _assertOpenReverts(address(0), 1e18, abi.encodeWithSelector(IChannelEscrow.ZeroAddress.selector));
    }

    function test_RevertWhen_openToSelf() external {
        _fund(payer, 10e18);
        _assertOpenReverts(payer, 1e18, abi.encodeWithSelector(IChannelEscrow.SelfChannel.selector, payer));
    }

    function test_RevertWhen_openWithZeroAmount() external {
        _fund(payer, 10e18);
        _assertOpenReverts(payee, 0, abi.encodeWithSelector(IChannelEscrow.ZeroAmount.selector));
    }

    function test_RevertWhen_openExistingChannel() external {
        bytes32 id = _openChannel(1, 1e18);
        _fund(payer, 1e18);
        _assertOpenReverts(payee, 1e18, abi.encodeWithSelector(IChannelEscrow.ChannelExists.selector, id));
        assertEq(escrow.balanceOf(payer), 1e18);
    }

    function test_RevertWhen_openClosedChannelTombstone() external {
        bytes32 id = _openChannel(1, 1e18);
        _closeByPayee(1);
        _assertChannel(id, 1e18, 0, 0, IChannelEscrow.ChannelState.Closed);
        _assertOpenReverts(payee, 1e18, abi.encodeWithSelector(IChannelEscrow.ChannelExists.selector, id));
    }

    function test_RevertWhen_openClosingChannel() external {
        bytes32 id = _openChannel(1, 1e18);
        _requestClose(1);
        _fund(payer, 1e18);
        _assertOpenReverts(payee, 1e18, abi.encodeWithSelector(IChannelEscrow.ChannelExists.selector, id));
    }

    function test_RevertWhen_openAboveFreeBalance() external {
        _fund(payer, 1e18);
        _assertOpenReverts(payee, 1e18 + 1, _insufficient(payer, 1e18, 1e18 + 1));
    }

    // ---------------------------------------------------------------------------------------------
    // openChannelsBySig
    // ---------------------------------------------------------------------------------------------

    function test_openBySig_opensAndPaysRelayer() external {
        _fund(payer, 10e18);
        bytes32 id = escrow.channelId(payer, payee, 5);
        IChannelEscrow.OpenAuth[] memory auths = _list(_openAuth(payerKey, 5, 6e18, 1e16));
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.ChannelOpened(id, payer, payee, 5, 6e18, 1e16);
        _expectFees(relayer, 1e16);
        vm.prank(relayer);
        bytes[] memory failures = escrow.openChannelsBySig(auths);
        vm.snapshotGasLastCall("openChannelsBySig_1");
        assertEq(failures.length, 1);
        assertEq(failures[0].length, 0);
        _assertChannel(id, 6e18, 0, 0, IChannelEscrow.ChannelState.Open);
        assertEq(escrow.balanceOf(payer), 4e18 - 1e16);
        assertEq(escrow.balanceOf(relayer), 1e16);
    }

    function test_openBySig_zeroFeeEmitsNoFeesCollected() external {
        _fund(payer, 10e18);
        IChannelEscrow.OpenAuth[] memory auths = _list(_openAuth(payerKey, 5, 6e18, 0));
        vm.recordLogs();
        vm.prank(relayer);
        escrow.openChannelsBySig(auths);
        _assertNoLog(IChannelEscrow.FeesCollected.selector);
        assertEq(escrow.balanceOf(relayer), 0);
        assertEq(
            uint8(escrow.channel(escrow.channelId(payer, payee, 5)).state), uint8(IChannelEscrow.ChannelState.Open)
        );
    }

    function test_openBySig_manyPayersInOneBatch() external {
        _fund(payer, 10e18);
        _fund(stranger, 10e18);
        IChannelEscrow.OpenAuth[] memory auths = new IChannelEscrow.OpenAuth[](3);
        auths[0] = _openAuth(payerKey, 1, 1e18, 1);
        auths[1] = _openAuth(payerKey, 2, 2e18, 2);
        auths[2] = _openAuth(strangerKey, 1, 3e18, 3);
        _expectFees(relayer, 6);
        vm.prank(relayer);
        bytes[] memory failures = escrow.openChannelsBySig(auths);
        for (uint256 i; i < 3; ++i) {
            assertEq(failures[i].length, 0);
        }
        _assertChannel(escrow.channelId(payer, payee, 1), 1e18, 0, 0, IChannelEscrow.ChannelState.Open);
        _assertChannel(escrow.channelId(payer, payee, 2), 2e18, 0, 0, IChannelEscrow.ChannelState.Open);
        _assertChannel(escrow.channelId(stranger, payee, 1), 3e18, 0, 0, IChannelEscrow.ChannelState.Open);
        assertEq(escrow.balanceOf(payer), 7e18 - 3);
        assertEq(escrow.balanceOf(stranger), 7e18 - 3);
        assertEq(escrow.balanceOf(relayer), 6);
    }

    function test_openBySig_emptyBatch() external {
        _assertEmptyBatchIsNoop(abi.encodeCall(IChannelEscrow.openChannelsBySig, (new IChannelEscrow.OpenAuth[](0))));
    }

    function test_openBySig_skipsBadEntriesAndAppliesOthers() external {
        _fund(payer, 10e18);
        bytes32 existing = _openExisting();
        IChannelEscrow.OpenAuth[] memory auths = new IChannelEscrow.OpenAuth[](9);
        auths[0] = _openAuth(payerKey, 10, 1e18, 1); // good
        auths[1] = _withDeadline(_openAuth(payerKey, 11, 1e18, 1), uint40(block.timestamp - 1)); // expired
        auths[2] = _openAuth(strangerKey, 12, 1e18, 1); // stranger signs for payer
        auths[2].payer = payer;
        auths[3] = _openAuth(payerKey, 99, 1e18, 1); // channel exists
        auths[4] = _openAuth(payerKey, 13, 9e18, 1); // deposit + fee above what is left
        auths[5] = escrow.signOpen(
            payerKey, IChannelEscrow.OpenAuth(payer, address(0), 14, 1e18, 1, address(0), 0, _deadline(), _noSig())
        ); // zero payee
        auths[6] = escrow.signOpen(
            payerKey, IChannelEscrow.OpenAuth(payer, payer, 15, 1e18, 1, address(0), 0, _deadline(), _noSig())
        ); // self
        auths[7] = _openAuth(payerKey, 16, 0, 1); // zero deposit
        auths[8] = _openAuth(payerKey, 17, 2e18, 2); // good

        bytes[] memory reasons = new bytes[](9);
        reasons[1] = _expired(block.timestamp - 1);
        reasons[2] = _invalidSigner(stranger, payer);
        reasons[3] = abi.encodeWithSelector(IChannelEscrow.ChannelExists.selector, existing);
        reasons[4] = _insufficient(payer, 9e18 - 1e18 - 1, 9e18 + 1);
        reasons[5] = abi.encodeWithSelector(IChannelEscrow.ZeroAddress.selector);
        reasons[6] = abi.encodeWithSelector(IChannelEscrow.SelfChannel.selector, payer);
        reasons[7] = abi.encodeWithSelector(IChannelEscrow.ZeroAmount.selector);

        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.ChannelOpened(escrow.channelId(payer, payee, 10), payer, payee, 10, 1e18, 1);
        _expectSkipped(reasons);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.ChannelOpened(escrow.channelId(payer, payee, 17), payer, payee, 17, 2e18, 2);
        _expectFees(relayer, 3);
        vm.prank(relayer);
        bytes[] memory failures = escrow.openChannelsBySig(auths);

        assertEq(failures, reasons);
        _assertChannel(escrow.channelId(payer, payee, 10), 1e18, 0, 0, IChannelEscrow.ChannelState.Open);
        _assertChannel(escrow.channelId(payer, payee, 17), 2e18, 0, 0, IChannelEscrow.ChannelState.Open);
        for (uint32 salt = 11; salt <= 16; ++salt) {
            _assertChannel(escrow.channelId(payer, payee, salt), 0, 0, 0, IChannelEscrow.ChannelState.None);
        }
        _assertChannel(existing, 1e18, 0, 0, IChannelEscrow.ChannelState.Open);
        assertEq(escrow.balanceOf(payer), 9e18 - 3e18 - 3);
        assertEq(escrow.balanceOf(relayer), 3);
    }

    function test_openBySig_replayOnTombstoneIsRejected() external {
        _fund(payer, 10e18);
        IChannelEscrow.OpenAuth memory a = _openAuth(payerKey, 1, 1e18, 1e15);
        vm.prank(relayer);
        escrow.openChannelsBySig(_list(a));
        bytes32 id = escrow.channelId(payer, payee, 1);
        _closeByPayee(1);
        bytes memory reason = abi.encodeWithSelector(IChannelEscrow.ChannelExists.selector, id);
        _assertSkippedAs(relayer, abi.encodeCall(IChannelEscrow.openChannelsBySig, (_list(a))), reason);
        _assertChannel(id, 1e18, 0, 0, IChannelEscrow.ChannelState.Closed);
        assertEq(escrow.balanceOf(payer), 10e18 - 1e15);
        assertEq(escrow.balanceOf(relayer), 1e15);
    }

    function _openExisting() private returns (bytes32 id) {
        vm.prank(payer);
        id = escrow.openChannel(payee, 99, 1e18);
    }

    function _withDeadline(IChannelEscrow.OpenAuth memory a, uint40 deadline)
        private
        view
        returns (IChannelEscrow.OpenAuth memory)
    {
        a.deadline = deadline;
        return escrow.signOpen(payerKey, a);
    }
}
