// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";
import {EscrowFuzzBase} from "./EscrowFuzzBase.sol";

/// @notice Every way a channel closes refunds exactly deposit − settled to the payer and moves no tokens.
contract CloseFuzzTest is EscrowFuzzBase {
    using PaymentSigner for IChannelEscrow;

    uint32 internal constant SALT = 9;

    /// @dev request → settle within the window → finalize: the payer gets back exactly deposit − settled,
    /// late receipts are refused and the escrow's token balance does not move.
    function testFuzz_unilateralClose_refundsDepositMinusSettled(
        uint96 deposit,
        uint256 settledSeed,
        uint256 inWindowSeed,
        uint256 settleDelay,
        uint256 finalizeDelay,
        address finalizer
    ) external {
        deposit = uint96(bound(deposit, 1, MAX_U96));
        bytes32 id = _openChannel(SALT, deposit);
        uint96 settledBefore = _settleSome(SALT, deposit, settledSeed);
        Snapshot memory beforeClose = _snapshot(id);

        uint40 closesAt = _requestCloseChecked(id);
        // Still within the window (closesAt itself included): receipts settle.
        vm.warp(block.timestamp + bound(settleDelay, 0, CHALLENGE_PERIOD));
        uint96 inWindow = _boundCumulative(inWindowSeed, deposit);
        _settleAs(relayer, payerKey, SALT, inWindow, 0);
        uint96 settled = uint96(_max(settledBefore, _min(inWindow, deposit)));
        assertEq(escrow.channel(id).settled, settled, "in-window receipt settles");

        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.ChallengePeriodActive.selector, id, closesAt));
        escrow.finalizeClose(payer, payee, SALT);

        vm.warp(uint256(closesAt) + 1 + bound(finalizeDelay, 0, 365 days));
        _assertLateReceiptRefused(id);

        vm.prank(finalizer);
        escrow.finalizeClose(payer, payee, SALT);

        IChannelEscrow.Channel memory c = escrow.channel(id);
        assertEq(uint8(c.state), uint8(IChannelEscrow.ChannelState.Closed), "closed");
        assertEq(c.settled, settled, "settled kept in the tombstone");
        assertEq(c.deposit, deposit, "deposit kept in the tombstone");
        assertEq(c.closesAt, 0, "closesAt cleared");
        // finalizeClose pays nobody a fee, so whoever the finalizer is, the payer sees only the refund.
        assertEq(escrow.balanceOf(payer), beforeClose.payerFree + deposit - settled, "payer refunded deposit - settled");
        assertEq(escrow.balanceOf(payee), settled, "payee keeps exactly what settled");
        assertEq(token.balanceOf(address(escrow)), beforeClose.escrowTokens, "closing moves no tokens");

        _assertClosedForGood(id);
    }

    function _requestCloseChecked(bytes32 id) internal returns (uint40 closesAt) {
        closesAt = _requestClose(SALT);
        assertEq(escrow.channel(id).closesAt, closesAt, "closesAt = now + challenge period");
        assertEq(uint8(escrow.channel(id).state), uint8(IChannelEscrow.ChannelState.Closing), "closing");
    }

    function _assertLateReceiptRefused(bytes32 id) internal {
        Snapshot memory before = _snapshot(id);
        assertEq(
            uint8(_settleAs(relayer, payerKey, SALT, MAX_U96, 0)),
            uint8(IChannelEscrow.SettleOutcome.ChallengeExpired),
            "late receipt refused"
        );
        _assertUnchanged(before, id, "late receipt changed state");
    }

    /// @dev The payee closes at once, from Open or Closing: the payer gets deposit − settled.
    function testFuzz_closeByPayee_refundsDepositMinusSettled(uint96 deposit, uint256 settledSeed, bool closingFirst)
        external
    {
        deposit = uint96(bound(deposit, 1, MAX_U96));
        bytes32 id = _openChannel(SALT, deposit);
        uint96 settled = _settleSome(SALT, deposit, settledSeed);
        if (closingFirst) {
            _requestClose(SALT);
        }
        Snapshot memory before = _snapshot(id);

        _closeByPayee(SALT);

        assertEq(escrow.balanceOf(payer), before.payerFree + deposit - settled, "payer refunded deposit - settled");
        assertEq(escrow.balanceOf(payee), before.payeeFree, "payee balance untouched by the close");
        assertEq(token.balanceOf(address(escrow)), before.escrowTokens, "closing moves no tokens");
        assertEq(escrow.channel(id).settled, settled, "settled kept");
        _assertClosedForGood(id);
    }

    /// @dev For a cumulative below the settled amount, between it and the deposit, or above the deposit, and
    /// any fee the payer can afford (from its free balance plus the refund): the payee ends with
    /// max(settled, min(cumulative, deposit)), the payer gets the rest minus the fee, the submitter the fee.
    function testFuzz_cooperativeClose_splitsAtAgreedCumulative(
        uint96 deposit,
        uint256 settledSeed,
        uint256 cumulativeSeed,
        uint256 mode,
        uint256 spareSeed,
        uint256 feeSeed,
        bool closingFirst
    ) external {
        deposit = uint96(bound(deposit, 1, MAX_U96));
        bytes32 id = _openChannel(SALT, deposit);
        uint96 settled = _settleSome(SALT, deposit, settledSeed);
        uint96 cumulative = _cumulativeFor(mode, cumulativeSeed, settled, deposit);
        uint96 spare = uint96(bound(spareSeed, 0, 1e24));
        if (spare != 0) _fund(payer, spare);
        if (closingFirst) {
            _requestClose(SALT);
        }
        uint96 target = uint96(_max(settled, _min(cumulative, deposit)));
        uint96 refund = deposit - target;
        uint96 fee = uint96(bound(feeSeed, 0, uint256(spare) + refund));
        Snapshot memory before = _snapshot(id);

        IChannelEscrow.CooperativeCloseAuth memory auth = _cooperativeCloseAuth(SALT, cumulative, fee);
        (IChannelEscrow.CompactSignature memory payerSig, IChannelEscrow.CompactSignature memory payeeSig) =
            _cooperativeCloseSigs(escrow, auth);
        vm.prank(relayer);
        escrow.cooperativeClose(auth, payerSig, payeeSig);

        assertEq(escrow.channel(id).settled, target, "settled = max(settled, min(cumulative, deposit))");
        assertEq(escrow.balanceOf(payee), before.payeeFree + target - settled, "payee credited the raise");
        assertEq(escrow.balanceOf(payer), before.payerFree + refund - fee, "payer gets the rest minus the fee");
        assertEq(escrow.balanceOf(relayer), before.relayerFree + fee, "submitter gets the fee");
        assertEq(token.balanceOf(address(escrow)), before.escrowTokens, "closing moves no tokens");
        _assertClosedForGood(id);

        // The same signed terms cannot close it again.
        vm.expectRevert(
            abi.encodeWithSelector(IChannelEscrow.InvalidChannelState.selector, id, IChannelEscrow.ChannelState.Closed)
        );
        escrow.cooperativeClose(auth, payerSig, payeeSig);
    }

    /// @dev A fee above what the payer has after the refund reverts the whole close.
    function testFuzz_cooperativeClose_revertsWhenFeeUnaffordable(
        uint96 deposit,
        uint256 settledSeed,
        uint256 cumulativeSeed,
        uint256 mode,
        uint256 spareSeed,
        uint256 feeSeed
    ) external {
        deposit = uint96(bound(deposit, 1, MAX_U96 / 2));
        bytes32 id = _openChannel(SALT, deposit);
        uint96 settled = _settleSome(SALT, deposit, settledSeed);
        uint96 cumulative = _cumulativeFor(mode, cumulativeSeed, settled, deposit);
        uint96 spare = uint96(bound(spareSeed, 0, 1e24));
        if (spare != 0) _fund(payer, spare);
        uint256 available = uint256(spare) + deposit - _max(settled, _min(cumulative, deposit));
        uint96 fee = uint96(bound(feeSeed, available + 1, MAX_U96));
        Snapshot memory before = _snapshot(id);

        IChannelEscrow.CooperativeCloseAuth memory auth = _cooperativeCloseAuth(SALT, cumulative, fee);
        (IChannelEscrow.CompactSignature memory payerSig, IChannelEscrow.CompactSignature memory payeeSig) =
            _cooperativeCloseSigs(escrow, auth);
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.InsufficientBalance.selector, payer, available, fee));
        vm.prank(relayer);
        escrow.cooperativeClose(auth, payerSig, payeeSig);
        _assertUnchanged(before, id, "failed cooperative close changed state");
    }

    /// @dev mode 0: at or below settled; 1: between settled and the deposit; 2: at or above the deposit.
    function _cumulativeFor(uint256 mode, uint256 seed, uint96 settled, uint96 deposit) internal pure returns (uint96) {
        mode = mode % 3;
        if (mode == 0) return uint96(bound(seed, 0, settled));
        if (mode == 1) return uint96(bound(seed, settled, deposit));
        return uint96(bound(seed, deposit, MAX_U96));
    }

    /// @dev A closed channel is a tombstone: no receipt, top-up or close touches it again.
    function _assertClosedForGood(bytes32 id) internal {
        assertEq(uint8(escrow.channel(id).state), uint8(IChannelEscrow.ChannelState.Closed), "closed");
        Snapshot memory closed = _snapshot(id);
        bytes memory notOpen =
            abi.encodeWithSelector(IChannelEscrow.InvalidChannelState.selector, id, IChannelEscrow.ChannelState.Closed);

        assertEq(
            uint8(_settleAs(relayer, payerKey, SALT, MAX_U96, 0)),
            uint8(IChannelEscrow.SettleOutcome.ChannelClosed),
            "receipt on a closed channel"
        );
        _fund(payer, 1);
        closed.payerFree += 1;
        closed.escrowTokens += 1;
        vm.expectRevert(notOpen);
        vm.prank(payer);
        escrow.topUp(payee, SALT, 1);
        vm.expectRevert(notOpen);
        vm.prank(payer);
        escrow.requestClose(payee, SALT);
        vm.expectRevert(notOpen);
        escrow.finalizeClose(payer, payee, SALT);
        vm.expectRevert(notOpen);
        vm.prank(payee);
        escrow.closeByPayee(payer, SALT);
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.ChannelExists.selector, id));
        vm.prank(payer);
        escrow.openChannel(payee, SALT, 1);
        _assertUnchanged(closed, id, "closed channel changed");
    }
}
