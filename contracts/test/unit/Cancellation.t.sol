// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Vm} from "forge-std/Vm.sol";

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {ChannelPacking} from "../../src/libraries/ChannelPacking.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";
import {UnitTest} from "./UnitHelpers.sol";

/// @notice Cancelling signed operations before their deadline: the account nonce (withdrawals, fee caps;
/// `advanceNonce`) and the channel nonce (opens, top-ups, cooperative closes; `advanceChannelNonce`), and
/// the events an indexer rebuilds both from.
contract CancellationTest is UnitTest {
    using PaymentSigner for IChannelEscrow;

    function _invalidChannelNonce(bytes32 id, uint16 expected, uint16 provided) private pure returns (bytes memory) {
        return abi.encodeWithSelector(IChannelEscrow.InvalidChannelNonce.selector, id, expected, provided);
    }

    function _advance(address who, uint32 salt) private {
        vm.prank(who);
        escrow.advanceChannelNonce(payer, payee, salt);
    }

    // ---------------------------------------------------------------------------------------------
    // Account nonce
    // ---------------------------------------------------------------------------------------------

    function test_advanceNonce_voidsSignedWithdrawal() external {
        _fund(payee, 2e18);
        IChannelEscrow.WithdrawAuth memory a = _withdrawAuth(payeeKey, payee, 1e18, 0, 0);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.NonceAdvanced(payee, 1);
        vm.prank(payee);
        escrow.advanceNonce();
        assertEq(escrow.nonceOf(payee), 1);
        bytes[] memory failures = escrow.withdrawBySig(_list(a));
        assertEq(failures[0], abi.encodeWithSelector(IChannelEscrow.InvalidNonce.selector, payee, 1, 0));
        assertEq(escrow.balanceOf(payee), 2e18);
    }

    function test_advanceNonce_voidsSignedFeeCap() external {
        IChannelEscrow.SettleFeeCapAuth memory a = _feeCapAuth(payeeKey, 300, 0);
        vm.prank(payee);
        escrow.advanceNonce();
        bytes[] memory failures = escrow.setSettleFeeCapsBySig(_list(a));
        assertEq(failures[0], abi.encodeWithSelector(IChannelEscrow.InvalidNonce.selector, payee, 1, 0));
        assertEq(_capOf(payee), 0);
    }

    /// @dev Every nonce change logs the next nonce, so an indexer rebuilds nonces from events alone; a
    /// direct withdrawal, which uses no nonce, logs none (the finding: it logged the same event as a
    /// fee-0 signed one, which does).
    function test_nonceEvents_onlyWhereTheNonceMoves() external {
        _fund(payee, 3e18);
        vm.recordLogs();
        vm.prank(payee);
        escrow.withdraw(payee, 1e18);
        assertEq(_countLogs(vm.getRecordedLogs(), IChannelEscrow.NonceAdvanced.selector), 0, "direct withdraw");

        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.NonceAdvanced(payee, 1);
        escrow.withdrawBySig(_list(_withdrawAuth(payeeKey, payee, 1e18, 0, 0)));
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.NonceAdvanced(payee, 2);
        escrow.setSettleFeeCapsBySig(_list(_feeCapAuth(payeeKey, 10, 1)));
        vm.recordLogs();
        escrow.withdrawBySig(_list(_withdrawAuth(payeeKey, payee, 1e18, 0, 0))); // stale: skipped
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(_countLogs(logs, IChannelEscrow.NonceAdvanced.selector), 0, "a skipped entry moves no nonce");
        assertEq(escrow.nonceOf(payee), 2);
    }

    // ---------------------------------------------------------------------------------------------
    // Channel nonce
    // ---------------------------------------------------------------------------------------------

    function test_advanceChannelNonce_voidsSignedOpenBeforeItLands() external {
        _fund(payer, 2e18);
        IChannelEscrow.OpenAuth memory a = _openAuth(payerKey, 1, 1e18, 0);
        bytes32 id = escrow.channelId(payer, payee, 1);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.ChannelNonceAdvanced(id, 1);
        _advance(payer, 1);
        IChannelEscrow.Channel memory c = escrow.channel(id);
        assertEq(c.nonce, 1);
        assertEq(uint8(c.state), uint8(IChannelEscrow.ChannelState.None));
        bytes[] memory failures = escrow.openChannelsBySig(_list(a));
        assertEq(failures[0], _invalidChannelNonce(id, 1, 0));
        // A new open signed under the new nonce opens it, and the channel keeps its nonce.
        a.channelNonce = 1;
        a = escrow.signOpen(payerKey, a);
        failures = escrow.openChannelsBySig(_list(a));
        assertEq(failures[0].length, 0);
        c = escrow.channel(id);
        assertEq(c.nonce, 1);
        assertEq(c.deposit, 1e18);
    }

    /// @dev A direct open by the payer itself carries no signature and no nonce to check.
    function test_openChannel_directIgnoresTheNonce() external {
        _advance(payee, 1);
        bytes32 id = _openChannel(1, 1e18);
        assertEq(escrow.channel(id).nonce, 1);
    }

    function test_advanceChannelNonce_voidsSignedTopUp() external {
        bytes32 id = _openChannel(1, 1e18);
        _fund(payer, 1e18);
        IChannelEscrow.TopUpAuth memory a = _topUpAuth(payerKey, 1, 2e18, 0);
        _advance(payer, 1);
        bytes[] memory failures = escrow.topUpsBySig(_list(a));
        assertEq(failures[0], _invalidChannelNonce(id, 1, 0));
        _assertChannel(id, 1e18, 0, 0, IChannelEscrow.ChannelState.Open);
    }

    /// @dev The cooperative close that later receipts cannot cheat: a payee that co-signed a close and
    /// then wants to keep trading voids its signature first; the payer's stale close then fails, and the
    /// later, higher receipt settles.
    function test_advanceChannelNonce_payeeOutlivesItsCoSignedClose() external {
        bytes32 id = _openChannel(1, 10e18);
        IChannelEscrow.CooperativeCloseAuth memory close = _cooperativeCloseAuth(1, 2e18, 0);
        (IChannelEscrow.CompactSignature memory payerSig, IChannelEscrow.CompactSignature memory payeeSig) =
            _cooperativeCloseSigs(escrow, close);
        _advance(payee, 1); // the payee voids its co-signature, then serves on
        assertEq(uint8(_settle(1, 6e18)), uint8(IChannelEscrow.SettleOutcome.Settled));
        vm.expectRevert(_invalidChannelNonce(id, 1, 0));
        vm.prank(payer);
        escrow.cooperativeClose(close, payerSig, payeeSig);
        _assertChannel(id, 10e18, 6e18, 0, IChannelEscrow.ChannelState.Open);
        assertEq(escrow.channel(id).nonce, 1);
    }

    /// @dev Without the cancel the stale close still pays the payee everything already settled: a close
    /// never lowers `settled`. What it cuts off is the receipts not yet settled — which is why the payee
    /// serves nothing after co-signing (the SDK's PayeeChannel enforces it) unless it voids the close first.
    function test_cooperativeClose_staleCloseNeverLowersSettled() external {
        bytes32 id = _openChannel(1, 10e18);
        IChannelEscrow.CooperativeCloseAuth memory close = _cooperativeCloseAuth(1, 2e18, 0);
        (IChannelEscrow.CompactSignature memory payerSig, IChannelEscrow.CompactSignature memory payeeSig) =
            _cooperativeCloseSigs(escrow, close);
        _settle(1, 6e18);
        vm.prank(payer);
        escrow.cooperativeClose(close, payerSig, payeeSig);
        _assertChannel(id, 10e18, 6e18, 0, IChannelEscrow.ChannelState.Closed);
        assertEq(escrow.balanceOf(payee), 6e18);
        assertEq(escrow.balanceOf(payer), 4e18);
    }

    function test_advanceChannelNonce_byPayeeOrPayerOnClosingChannel() external {
        bytes32 id = _openChannel(1, 10e18);
        _requestClose(1);
        _advance(payee, 1);
        _advance(payer, 1);
        IChannelEscrow.Channel memory c = escrow.channel(id);
        assertEq(c.nonce, 2);
        assertEq(uint8(c.state), uint8(IChannelEscrow.ChannelState.Closing));
        assertEq(c.closesAt, block.timestamp + CHALLENGE_PERIOD, "the rest of the word is kept");
    }

    function test_RevertWhen_advanceChannelNonceByStranger() external {
        bytes32 id = _openChannel(1, 1e18);
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.NotChannelParty.selector, id, stranger));
        vm.prank(stranger);
        escrow.advanceChannelNonce(payer, payee, 1);
    }

    function test_RevertWhen_advanceChannelNonceOnClosedChannel() external {
        bytes32 id = _openChannel(1, 1e18);
        _closeByPayee(1);
        vm.expectRevert(_invalidState(id, IChannelEscrow.ChannelState.Closed));
        _advance(payer, 1);
    }

    function test_RevertWhen_channelNonceExhausted() external {
        bytes32 id = _openChannel(1, 1e18);
        // Put the channel at the last nonce (ChannelPacking: bits 232–247; the word lives at slot `id`).
        uint256 word = uint256(vm.load(address(escrow), id));
        vm.store(address(escrow), id, bytes32(word | (uint256(type(uint16).max) << ChannelPacking.NONCE_SHIFT)));
        assertEq(escrow.channel(id).nonce, type(uint16).max, "storage layout changed");
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.ChannelNonceExhausted.selector, id));
        _advance(payer, 1);
    }

    function testFuzz_advanceChannelNonce_keepsTheRestOfTheWord(uint8 times, uint96 settled) external {
        bytes32 id = _openChannel(1, 10e18);
        settled = uint96(bound(settled, 1, 10e18));
        _settle(1, settled);
        IChannelEscrow.Channel memory before = escrow.channel(id);
        uint256 n = bound(times, 1, 20);
        for (uint256 i; i < n; ++i) {
            _advance(i % 2 == 0 ? payer : payee, 1);
        }
        IChannelEscrow.Channel memory c = escrow.channel(id);
        assertEq(c.nonce, n);
        assertEq(c.deposit, before.deposit);
        assertEq(c.settled, before.settled);
        assertEq(c.closesAt, before.closesAt);
        assertEq(uint8(c.state), uint8(before.state));
    }
}
