// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";
import {UnitTest} from "./UnitHelpers.sol";

contract WithdrawTest is UnitTest {
    using PaymentSigner for IChannelEscrow;

    address private receiver = makeAddr("receiver");

    // ---------------------------------------------------------------------------------------------
    // withdraw
    // ---------------------------------------------------------------------------------------------

    function test_withdraw_sendsTokensAndDebits() external {
        _fund(payer, 10e18);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.Withdrawn(payer, receiver, 4e18, 0);
        vm.prank(payer);
        escrow.withdraw(receiver, 4e18);
        vm.snapshotGasLastCall("withdraw");
        assertEq(escrow.balanceOf(payer), 6e18);
        assertEq(token.balanceOf(receiver), 4e18);
        assertEq(token.balanceOf(address(escrow)), 6e18);
        assertEq(escrow.nonceOf(payer), 0);
    }

    function test_withdraw_wholeBalance() external {
        _fund(payer, 10e18);
        vm.prank(payer);
        escrow.withdraw(payer, 10e18);
        assertEq(escrow.balanceOf(payer), 0);
        assertEq(token.balanceOf(payer), INITIAL_FUNDS + 10e18);
    }

    function test_RevertWhen_withdrawToZeroAddress() external {
        _fund(payer, 10e18);
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.ZeroAddress.selector));
        vm.prank(payer);
        escrow.withdraw(address(0), 1e18);
    }

    /// @dev Tokens sent to the escrow's own address would sit there outside every balance, for good.
    function test_RevertWhen_withdrawToEscrowItself() external {
        _fund(payer, 10e18);
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.EscrowAddress.selector));
        vm.prank(payer);
        escrow.withdraw(address(escrow), 1e18);
    }

    function test_withdrawBySig_toEscrowItselfIsSkipped() external {
        _fund(payer, 10e18);
        IChannelEscrow.WithdrawAuth[] memory auths = new IChannelEscrow.WithdrawAuth[](2);
        auths[0] = _withdrawAuth(payerKey, address(escrow), 1e18, 0, 0);
        auths[1] = _withdrawAuth(payerKey, receiver, 1e18, 0, 0);
        bytes memory reason = abi.encodeWithSelector(IChannelEscrow.EscrowAddress.selector);
        bytes[] memory failures =
            _assertSkippedAs(address(this), abi.encodeCall(IChannelEscrow.withdrawBySig, (auths)), reason);
        assertEq(failures[1].length, 0, "the nonce the skipped entry did not use goes to the next");
        assertEq(escrow.balanceOf(payer), 9e18);
    }

    function test_RevertWhen_withdrawZeroAmount() external {
        _fund(payer, 10e18);
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.ZeroAmount.selector));
        vm.prank(payer);
        escrow.withdraw(receiver, 0);
    }

    function test_RevertWhen_withdrawAboveBalance() external {
        _fund(payer, 10e18);
        vm.expectRevert(_insufficient(payer, 10e18, 10e18 + 1));
        vm.prank(payer);
        escrow.withdraw(receiver, 10e18 + 1);
    }

    function test_RevertWhen_withdrawLockedFunds() external {
        _openChannel(1, 10e18);
        vm.expectRevert(_insufficient(payer, 0, 1));
        vm.prank(payer);
        escrow.withdraw(payer, 1);
    }

    // ---------------------------------------------------------------------------------------------
    // withdrawBySig
    // ---------------------------------------------------------------------------------------------

    function test_withdrawBySig_appliesAndPaysRelayer() external {
        _fund(payer, 10e18);
        IChannelEscrow.WithdrawAuth memory a = _withdrawAuth(payerKey, receiver, 4e18, 1e17, 0);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.Withdrawn(payer, receiver, 4e18, 1e17);
        _expectFees(relayer, 1e17);
        vm.prank(relayer);
        bytes[] memory failures = escrow.withdrawBySig(_list(a));
        vm.snapshotGasLastCall("withdrawBySig_1");
        assertEq(failures.length, 1);
        assertEq(failures[0].length, 0);
        assertEq(escrow.balanceOf(payer), 10e18 - 4e18 - 1e17);
        assertEq(escrow.balanceOf(relayer), 1e17);
        assertEq(token.balanceOf(receiver), 4e18);
        assertEq(escrow.nonceOf(payer), 1);
    }

    function test_withdrawBySig_zeroFeeEmitsNoFeesCollected() external {
        _fund(payer, 10e18);
        IChannelEscrow.WithdrawAuth[] memory auths = _list(_withdrawAuth(payerKey, receiver, 4e18, 0, 0));
        vm.recordLogs();
        vm.prank(relayer);
        escrow.withdrawBySig(auths);
        _assertNoLog(IChannelEscrow.FeesCollected.selector);
        assertEq(escrow.balanceOf(relayer), 0);
        assertEq(token.balanceOf(receiver), 4e18);
    }

    function test_withdrawBySig_sequentialNoncesInOneBatchSumFees() external {
        _fund(payer, 10e18);
        _fund(payee, 10e18);
        IChannelEscrow.WithdrawAuth[] memory auths = new IChannelEscrow.WithdrawAuth[](3);
        auths[0] = _withdrawAuth(payerKey, receiver, 1e18, 1, 0);
        auths[1] = _withdrawAuth(payerKey, receiver, 2e18, 2, 1);
        auths[2] = _withdrawAuth(payeeKey, payee, 3e18, 4, 0);
        _expectFees(relayer, 7);
        vm.prank(relayer);
        bytes[] memory failures = escrow.withdrawBySig(auths);
        for (uint256 i; i < 3; ++i) {
            assertEq(failures[i].length, 0);
        }
        assertEq(escrow.nonceOf(payer), 2);
        assertEq(escrow.nonceOf(payee), 1);
        assertEq(escrow.balanceOf(payer), 7e18 - 3);
        assertEq(escrow.balanceOf(payee), 7e18 - 4);
        assertEq(escrow.balanceOf(relayer), 7);
        assertEq(token.balanceOf(receiver), 3e18);
    }

    function test_withdrawBySig_emptyBatch() external {
        _assertEmptyBatchIsNoop(abi.encodeCall(IChannelEscrow.withdrawBySig, (new IChannelEscrow.WithdrawAuth[](0))));
    }

    function test_withdrawBySig_skipsBadEntriesAndAppliesOthers() external {
        _fund(payer, 10e18);
        _fund(stranger, 1e18);
        IChannelEscrow.WithdrawAuth[] memory auths = new IChannelEscrow.WithdrawAuth[](5);
        // 0: expired.
        auths[0] = _withdrawAuth(payerKey, receiver, 1e18, 1, 0);
        auths[0].deadline = uint40(block.timestamp - 1);
        auths[0] = escrow.signWithdraw(payerKey, auths[0]);
        // 1: signed by the stranger on the payer's behalf.
        auths[1] = _withdrawAuth(strangerKey, receiver, 1e18, 1, 0);
        auths[1].owner = payer;
        // 2: good.
        auths[2] = _withdrawAuth(payerKey, receiver, 2e18, 5, 0);
        // 3: nonce from the future.
        auths[3] = _withdrawAuth(payerKey, receiver, 1e18, 1, 7);
        // 4: good, second of the payer.
        auths[4] = _withdrawAuth(payerKey, receiver, 3e18, 6, 1);

        bytes memory expired = _expired(block.timestamp - 1);
        bytes memory badSigner = _invalidSigner(stranger, payer);
        bytes memory badNonce = abi.encodeWithSelector(IChannelEscrow.InvalidNonce.selector, payer, 1, 7);
        _expectSkipped(0, expired);
        _expectSkipped(1, badSigner);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.Withdrawn(payer, receiver, 2e18, 5);
        _expectSkipped(3, badNonce);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.Withdrawn(payer, receiver, 3e18, 6);
        _expectFees(relayer, 11);
        vm.prank(relayer);
        bytes[] memory failures = escrow.withdrawBySig(auths);

        assertEq(failures[0], expired);
        assertEq(failures[1], badSigner);
        assertEq(failures[2].length, 0);
        assertEq(failures[3], badNonce);
        assertEq(failures[4].length, 0);
        assertEq(escrow.balanceOf(payer), 5e18 - 11);
        assertEq(escrow.balanceOf(stranger), 1e18);
        assertEq(escrow.balanceOf(relayer), 11);
        assertEq(escrow.nonceOf(payer), 2);
        assertEq(token.balanceOf(receiver), 5e18);
    }

    function test_withdrawBySig_skipsZeroRecipient() external {
        _fund(payer, 10e18);
        bytes memory reason = abi.encodeWithSelector(IChannelEscrow.ZeroAddress.selector);
        _assertSkippedAs(
            address(this),
            abi.encodeCall(IChannelEscrow.withdrawBySig, (_list(_withdrawAuth(payerKey, address(0), 1e18, 1, 0)))),
            reason
        );
        assertEq(escrow.balanceOf(payer), 10e18);
    }

    function test_withdrawBySig_skipsZeroAmount() external {
        _fund(payer, 10e18);
        bytes memory reason = abi.encodeWithSelector(IChannelEscrow.ZeroAmount.selector);
        IChannelEscrow.WithdrawAuth[] memory auths = _list(_withdrawAuth(payerKey, receiver, 0, 1e18, 0));
        _assertSkippedAs(relayer, abi.encodeCall(IChannelEscrow.withdrawBySig, (auths)), reason);
        assertEq(escrow.balanceOf(payer), 10e18);
        assertEq(escrow.balanceOf(relayer), 0);
    }

    /// @dev The fee counts: amount + fee above the balance is skipped even though amount alone fits.
    function test_withdrawBySig_skipsWhenAmountPlusFeeExceedsBalance() external {
        _fund(payer, 10e18);
        bytes memory reason = _insufficient(payer, 10e18, 10e18 + 1);
        IChannelEscrow.WithdrawAuth[] memory auths = _list(_withdrawAuth(payerKey, receiver, 10e18, 1, 0));
        vm.recordLogs();
        _assertSkippedAs(relayer, abi.encodeCall(IChannelEscrow.withdrawBySig, (auths)), reason);
        assertEq(escrow.balanceOf(payer), 10e18);
        assertEq(escrow.balanceOf(relayer), 0);
        assertEq(token.balanceOf(receiver), 0);
        _assertNoLog(IChannelEscrow.FeesCollected.selector);
    }

    /// @dev A skipped entry must leave state untouched, nonce included: the single call would have
    /// reverted and kept the nonce. FAILS on the current src: the nonce is consumed before the balance
    /// check, so an authorisation that cannot be paid yet is burned anyway.
    function test_withdrawBySig_skippedForBalanceKeepsNonce() external {
        _fund(payer, 1e18);
        escrow.withdrawBySig(_list(_withdrawAuth(payerKey, receiver, 2e18, 0, 0)));
        assertEq(escrow.nonceOf(payer), 0, "nonce consumed by a skipped withdrawal");
    }

    /// @dev Consequence of the nonce burn above: once the payer has funds, its nonce-0 authorisation
    /// can no longer be executed.
    function test_withdrawBySig_skippedAuthRemainsUsableOnceFunded() external {
        _fund(payer, 1e18);
        IChannelEscrow.WithdrawAuth memory a = _withdrawAuth(payerKey, receiver, 2e18, 0, 0);
        escrow.withdrawBySig(_list(a));
        _fund(payer, 1e18);
        bytes[] memory failures = escrow.withdrawBySig(_list(a));
        assertEq(failures[0].length, 0, "signed withdrawal burned by an earlier skip");
        assertEq(token.balanceOf(receiver), 2e18);
    }

    function test_withdrawBySig_replayIsRejected() external {
        _fund(payer, 10e18);
        IChannelEscrow.WithdrawAuth memory a = _withdrawAuth(payerKey, receiver, 1e18, 1e15, 0);
        vm.prank(relayer);
        escrow.withdrawBySig(_list(a));
        bytes memory reason = abi.encodeWithSelector(IChannelEscrow.InvalidNonce.selector, payer, 1, 0);
        _assertSkippedAs(relayer, abi.encodeCall(IChannelEscrow.withdrawBySig, (_list(a))), reason);
        assertEq(escrow.balanceOf(payer), 9e18 - 1e15);
        assertEq(escrow.balanceOf(relayer), 1e15);
        assertEq(token.balanceOf(receiver), 1e18);
    }

    function test_withdrawBySig_sameAuthTwiceInOneBatch() external {
        _fund(payer, 10e18);
        IChannelEscrow.WithdrawAuth memory a = _withdrawAuth(payerKey, receiver, 1e18, 0, 0);
        IChannelEscrow.WithdrawAuth[] memory auths = new IChannelEscrow.WithdrawAuth[](2);
        auths[0] = a;
        auths[1] = a;
        bytes[] memory failures = escrow.withdrawBySig(auths);
        assertEq(failures[0].length, 0);
        assertEq(failures[1], abi.encodeWithSelector(IChannelEscrow.InvalidNonce.selector, payer, 1, 0));
        assertEq(token.balanceOf(receiver), 1e18);
    }

    function test_withdrawBySig_tamperedAmountIsRejected() external {
        _fund(payer, 10e18);
        IChannelEscrow.WithdrawAuth memory a = _withdrawAuth(payerKey, receiver, 1e18, 0, 0);
        a.amount = 9e18;
        address recovered = _recover(_digest(_withdrawHash(a)), a.sig);
        bytes[] memory failures = escrow.withdrawBySig(_list(a));
        assertEq(failures[0], _invalidSigner(recovered, payer));
        assertTrue(recovered != payer);
        assertEq(escrow.balanceOf(payer), 10e18);
    }
}
