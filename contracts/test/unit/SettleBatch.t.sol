// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Vm} from "forge-std/Vm.sol";

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentHash} from "../../src/libraries/PaymentHash.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";
import {UnitTest} from "./UnitHelpers.sol";

contract SettleBatchTest is UnitTest {
    using PaymentSigner for IChannelEscrow;

    IChannelEscrow.SettleOutcome private constant SETTLED = IChannelEscrow.SettleOutcome.Settled;
    IChannelEscrow.SettleOutcome private constant UNKNOWN = IChannelEscrow.SettleOutcome.UnknownChannel;
    IChannelEscrow.SettleOutcome private constant CLOSED = IChannelEscrow.SettleOutcome.ChannelClosed;
    IChannelEscrow.SettleOutcome private constant EXPIRED = IChannelEscrow.SettleOutcome.ChallengeExpired;
    IChannelEscrow.SettleOutcome private constant STALE = IChannelEscrow.SettleOutcome.Stale;
    IChannelEscrow.SettleOutcome private constant MALLEABLE = IChannelEscrow.SettleOutcome.MalleableSignature;
    IChannelEscrow.SettleOutcome private constant FEE_ABOVE_CAP = IChannelEscrow.SettleOutcome.FeeAboveCap;

    address private payee2 = makeAddr("payee2");

    /// @dev One-receipt batch for payer → payee, signed by the payer.
    function _one(uint32 salt, uint96 cumulative, uint16 feeBps) private view returns (bytes memory) {
        return bytes.concat(_header(payee, feeBps, 1), _entry(payerKey, payee, salt, cumulative));
    }

    /// @dev A one-group batch of two payer → payee receipts, signed by the payer.
    function _two(uint32 salt1, uint96 cumulative1, uint32 salt2, uint96 cumulative2, uint16 feeBps)
        private
        view
        returns (bytes memory)
    {
        return bytes.concat(
            _header(payee, feeBps, 2),
            _entry(payerKey, payee, salt1, cumulative1),
            _entry(payerKey, payee, salt2, cumulative2)
        );
    }

    function _setCap(address who, uint16 bps) private {
        vm.prank(who);
        escrow.setSettleFeeCap(bps, relayer);
    }

    // ---------------------------------------------------------------------------------------------
    // Paying
    // ---------------------------------------------------------------------------------------------

    function test_settle_paysCumulative() external {
        bytes32 id = _openChannel(1, 10e18);
        bytes memory batch = _one(1, 3e18, 0);
        _expectReceiptsSettled(_group(payee, 3e18, 0, _settled(payer, 1, 3e18)));
        bytes memory outcomes = _settleAs(relayer, batch);
        vm.snapshotGasLastCall("settleBatch_1receipt");
        assertEq(outcomes, _o(SETTLED));
        assertEq(escrow.balanceOf(payee), 3e18);
        assertEq(escrow.balanceOf(relayer), 0);
        assertEq(escrow.balanceOf(payer), 0);
        _assertChannel(id, 10e18, 3e18, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_settle_paysDelta() external {
        bytes32 id = _openChannel(1, 10e18);
        _settle(1, 3e18);
        bytes memory batch = _one(1, 8e18, 0);
        _expectReceiptsSettled(_group(payee, 5e18, 0, _settled(payer, 1, 8e18)));
        bytes memory outcomes = _settleAs(relayer, batch);
        assertEq(outcomes, _o(SETTLED));
        assertEq(escrow.balanceOf(payee), 8e18);
        _assertChannel(id, 10e18, 8e18, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_settle_movesNoTokens() external {
        _openChannel(1, 10e18);
        uint256 held = token.balanceOf(address(escrow));
        _settle(1, 3e18);
        assertEq(token.balanceOf(address(escrow)), held);
        assertEq(token.balanceOf(payee), INITIAL_FUNDS);
    }

    function test_settle_cappedAtDeposit() external {
        bytes32 id = _openChannel(1, 10e18);
        bytes memory batch = _one(1, 25e18, 0);
        _expectReceiptsSettled(_group(payee, 10e18, 0, _settled(payer, 1, 10e18)));
        assertEq(_settleAs(relayer, batch), _o(SETTLED));
        assertEq(escrow.balanceOf(payee), 10e18);
        _assertChannel(id, 10e18, 10e18, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_settle_aboveDepositAfterCapIsStale() external {
        bytes32 id = _openChannel(1, 10e18);
        _settle(1, 25e18);
        bytes memory batch = _one(1, 30e18, 0);
        _assertReceiptSkipped(batch, id, STALE);
        assertEq(escrow.balanceOf(payee), 10e18);
    }

    /// @dev A receipt capped at the old deposit pays the rest after a top-up.
    function test_settle_cappedReceiptPaysRestAfterTopUp() external {
        bytes32 id = _openChannel(1, 10e18);
        _settle(1, 15e18);
        _topUp(1, 10e18);
        assertEq(uint8(_settle(1, 15e18)), uint8(SETTLED));
        assertEq(escrow.balanceOf(payee), 15e18);
        _assertChannel(id, 20e18, 15e18, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_settle_byAnyoneWithoutFee() external {
        bytes32 id = _openChannel(1, 10e18);
        assertEq(_settleAs(stranger, _one(1, 4e18, 0)), _o(SETTLED));
        assertEq(escrow.balanceOf(payee), 4e18);
        assertEq(escrow.balanceOf(stranger), 0);
        _assertChannel(id, 10e18, 4e18, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_settle_byPayeeItself() external {
        _openChannel(1, 10e18);
        assertEq(_settleAs(payee, _one(1, 4e18, 0)), _o(SETTLED));
        assertEq(escrow.balanceOf(payee), 4e18);
    }

    // ---------------------------------------------------------------------------------------------
    // Skips
    // ---------------------------------------------------------------------------------------------

    function test_settle_lowerCumulativeIsStale() external {
        bytes32 id = _openChannel(1, 10e18);
        _settle(1, 5e18);
        bytes memory batch = _one(1, 3e18, 0);
        vm.recordLogs();
        _assertReceiptSkipped(batch, id, STALE);
        _assertNoLog(IChannelEscrow.ReceiptsSettled.selector);
        assertEq(escrow.balanceOf(payee), 5e18);
        _assertChannel(id, 10e18, 5e18, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_settle_equalCumulativeIsStale() external {
        _openChannel(1, 10e18);
        _settle(1, 5e18);
        assertEq(uint8(_settle(1, 5e18)), uint8(STALE));
        assertEq(escrow.balanceOf(payee), 5e18);
    }

    function test_settle_zeroCumulativeIsStale() external {
        bytes32 id = _openChannel(1, 10e18);
        assertEq(uint8(_settle(1, 0)), uint8(STALE));
        _assertChannel(id, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_settle_resubmittedBatchIsIdempotent() external {
        _setCap(payee, 100);
        bytes32 id1 = _openChannel(1, 10e18);
        bytes32 id2 = _openChannel(2, 10e18);
        bytes memory batch = _two(1, 4e18, 2, 6e18, 100);
        assertEq(_settleAs(relayer, batch), _o(SETTLED, SETTLED));
        assertEq(escrow.balanceOf(payee), 10e18 - 1e17);
        assertEq(escrow.balanceOf(relayer), 1e17);

        _expectReceiptSkipped(id1, STALE);
        _expectReceiptSkipped(id2, STALE);
        vm.recordLogs();
        assertEq(_settleAs(relayer, batch), _o(STALE, STALE));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(_countLogs(logs, IChannelEscrow.ReceiptsSettled.selector), 0);
        assertEq(_countLogs(logs, IChannelEscrow.FeesCollected.selector), 0);
        assertEq(escrow.balanceOf(payee), 10e18 - 1e17);
        assertEq(escrow.balanceOf(relayer), 1e17);
        _assertChannel(id1, 10e18, 4e18, 0, IChannelEscrow.ChannelState.Open);
        _assertChannel(id2, 10e18, 6e18, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_settle_unknownChannel() external {
        bytes32 id = escrow.channelId(payer, payee, 9);
        bytes memory batch = _one(9, 1e18, 0);
        _assertReceiptSkipped(batch, id, UNKNOWN);
        assertEq(escrow.balanceOf(payee), 0);
        _assertChannel(id, 0, 0, 0, IChannelEscrow.ChannelState.None);
    }

    function test_settle_closedChannel() external {
        bytes32 id = _openChannel(1, 10e18);
        _settle(1, 2e18);
        _closeByPayee(1);
        bytes memory batch = _one(1, 5e18, 0);
        _assertReceiptSkipped(batch, id, CLOSED);
        assertEq(escrow.balanceOf(payee), 2e18);
        assertEq(escrow.balanceOf(payer), 8e18);
        _assertChannel(id, 10e18, 2e18, 0, IChannelEscrow.ChannelState.Closed);
    }

    function test_settle_duringChallengeWindow() external {
        bytes32 id = _openChannel(1, 10e18);
        uint40 closesAt = _requestClose(1);
        vm.warp(closesAt - 1);
        assertEq(uint8(_settle(1, 4e18)), uint8(SETTLED));
        assertEq(escrow.balanceOf(payee), 4e18);
        _assertChannel(id, 10e18, 4e18, closesAt, IChannelEscrow.ChannelState.Closing);
    }

    function test_settle_atExactlyClosesAt() external {
        bytes32 id = _openChannel(1, 10e18);
        uint40 closesAt = _requestClose(1);
        vm.warp(closesAt);
        assertEq(uint8(_settle(1, 4e18)), uint8(SETTLED));
        _assertChannel(id, 10e18, 4e18, closesAt, IChannelEscrow.ChannelState.Closing);
    }

    function test_settle_afterClosesAtIsChallengeExpired() external {
        bytes32 id = _openChannel(1, 10e18);
        uint40 closesAt = _requestClose(1);
        vm.warp(closesAt + 1);
        bytes memory batch = _one(1, 4e18, 0);
        _assertReceiptSkipped(batch, id, EXPIRED);
        assertEq(escrow.balanceOf(payee), 0);
        _assertChannel(id, 10e18, 0, closesAt, IChannelEscrow.ChannelState.Closing);
    }

    function test_settle_staleDuringChallengeWindow() external {
        _openChannel(1, 10e18);
        _settle(1, 4e18);
        _requestClose(1);
        assertEq(uint8(_settle(1, 4e18)), uint8(STALE));
    }

    /// @dev A genuine high-s signature (hand-made, with its signer's channel opened): skipped as malleable,
    /// while its low-s twin settles.
    function test_settle_highSSignatureIsMalleable() external {
        bytes32 digest_ = _digest(PaymentHash.hashReceipt(payee, 77, 1e18));
        (address signer, IChannelEscrow.CompactSignature memory high, IChannelEscrow.CompactSignature memory low) =
            _highSPair(digest_);
        _fund(signer, 5e18);
        vm.prank(signer);
        bytes32 id = escrow.openChannel(payee, 77, 5e18);

        bytes memory batch = bytes.concat(_header(payee, 0, 1), PaymentSigner.packReceipt(77, 1e18, high));
        _assertReceiptSkipped(batch, id, MALLEABLE);
        assertEq(escrow.balanceOf(payee), 0);
        _assertChannel(id, 5e18, 0, 0, IChannelEscrow.ChannelState.Open);

        batch = bytes.concat(_header(payee, 0, 1), PaymentSigner.packReceipt(77, 1e18, low));
        assertEq(_settleAs(relayer, batch), _o(SETTLED));
        assertEq(escrow.balanceOf(payee), 1e18);
    }

    /// @dev s' = n − s with the parity bit flipped, from a real (low-s) signature. EIP-2098 cannot carry this
    /// twin (bit 255 of s' is lost), so it never reaches the payer's channel: it is not settled.
    function test_settle_malleatedRealSignatureIsNotSettled() external {
        bytes32 id = _openChannel(1, 10e18);
        IChannelEscrow.CompactSignature memory sig = escrow.signReceipt(payerKey, payee, 1, 4e18);
        IChannelEscrow.CompactSignature memory twin = _malleate(sig);
        bytes32 digest_ = _digest(PaymentHash.hashReceipt(payee, 1, 4e18));
        // n − s does not fit in 255 bits, so the contract reads a different s and recovers a stranger.
        assertGe(SECP256K1_N - (uint256(sig.vs) & (PARITY_BIT - 1)), PARITY_BIT);
        IChannelEscrow.SettleOutcome expected = UNKNOWN;
        bytes32 skippedId = escrow.channelId(_recover(digest_, twin), payee, 1);

        bytes memory batch = bytes.concat(_header(payee, 0, 1), PaymentSigner.packReceipt(1, 4e18, twin));
        _assertReceiptSkipped(batch, skippedId, expected);
        assertTrue(skippedId != id);
        assertEq(escrow.balanceOf(payee), 0);
        _assertChannel(id, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
    }

    /// @dev Any s in (n/2, 2^255) is flagged before the channel is even looked at.
    function test_settle_highSGarbageIsMalleable() external {
        _openChannel(1, 10e18);
        IChannelEscrow.CompactSignature memory sig = IChannelEscrow.CompactSignature(GX, bytes32(HALF_N + 12_345));
        bytes memory batch = bytes.concat(_header(payee, 0, 1), PaymentSigner.packReceipt(1, 4e18, sig));
        assertEq(_settleAs(relayer, batch), _o(MALLEABLE));
        assertEq(escrow.balanceOf(payee), 0);
    }

    function test_settle_zeroSignatureIsUnknownChannel() external {
        _openChannel(1, 10e18);
        bytes memory batch = bytes.concat(_header(payee, 0, 1), PaymentSigner.packReceipt(1, 4e18, _noSig()));
        // ecrecover fails, the payer reads as address(0), which owns no channel.
        _assertReceiptSkipped(batch, escrow.channelId(address(0), payee, 1), UNKNOWN);
        assertEq(escrow.balanceOf(payee), 0);
    }

    function test_settle_garbageSignatureIsUnknownChannel() external {
        bytes32 id = _openChannel(1, 10e18);
        IChannelEscrow.CompactSignature memory sig =
            IChannelEscrow.CompactSignature(GX, bytes32(uint256(keccak256("garbage")) >> 2));
        address recovered = _recover(_digest(PaymentHash.hashReceipt(payee, 1, 4e18)), sig);
        assertTrue(recovered != address(0) && recovered != payer);
        bytes memory batch = bytes.concat(_header(payee, 0, 1), PaymentSigner.packReceipt(1, 4e18, sig));
        _assertReceiptSkipped(batch, escrow.channelId(recovered, payee, 1), UNKNOWN);
        assertEq(escrow.balanceOf(payee), 0);
        _assertChannel(id, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_settle_tamperedCumulativeIsUnknownChannel() external {
        bytes32 id = _openChannel(1, 10e18);
        IChannelEscrow.CompactSignature memory sig = escrow.signReceipt(payerKey, payee, 1, 1e18);
        bytes memory batch = bytes.concat(_header(payee, 0, 1), PaymentSigner.packReceipt(1, 9e18, sig));
        assertEq(_settleAs(relayer, batch), _o(UNKNOWN));
        assertEq(escrow.balanceOf(payee), 0);
        _assertChannel(id, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
    }

    /// @dev Later checks take precedence: a group above the fee cap reports FeeAboveCap for every receipt,
    /// whatever else is wrong with it.
    function test_settle_feeAboveCapTakesPrecedence() external {
        _openChannel(1, 10e18);
        _settle(1, 5e18);
        bytes memory batch = bytes.concat(
            _header(payee, 1, 3),
            _entry(payerKey, payee, 1, 6e18), // would settle
            _entry(payerKey, payee, 1, 2e18), // stale
            _entry(payerKey, payee, 99, 2e18) // unknown
        );
        assertEq(_settleAs(relayer, batch), _o(FEE_ABOVE_CAP, FEE_ABOVE_CAP, FEE_ABOVE_CAP));
        assertEq(escrow.balanceOf(payee), 5e18);
    }

    function test_settle_malleableTakesPrecedenceOverState() external {
        _openChannel(1, 10e18);
        _closeByPayee(1);
        IChannelEscrow.CompactSignature memory sig = IChannelEscrow.CompactSignature(GX, bytes32(HALF_N + 1));
        bytes memory batch = bytes.concat(_header(payee, 0, 1), PaymentSigner.packReceipt(1, 4e18, sig));
        assertEq(_settleAs(relayer, batch), _o(MALLEABLE));
    }

    function test_settle_closedTakesPrecedenceOverStale() external {
        bytes32 id = _openChannel(1, 10e18);
        _settle(1, 5e18);
        _closeByPayee(1);
        assertEq(uint8(_settle(1, 1e18)), uint8(CLOSED));
        _assertChannel(id, 10e18, 5e18, 0, IChannelEscrow.ChannelState.Closed);
    }

    function test_settle_expiredTakesPrecedenceOverStale() external {
        _openChannel(1, 10e18);
        _settle(1, 5e18);
        _requestClose(1);
        vm.warp(block.timestamp + CHALLENGE_PERIOD + 1);
        assertEq(uint8(_settle(1, 1e18)), uint8(EXPIRED));
    }

    // ---------------------------------------------------------------------------------------------
    // Fees
    // ---------------------------------------------------------------------------------------------

    function test_settle_defaultCapRefusesAnyFee() external {
        bytes32 id = _openChannel(1, 10e18);
        bytes memory batch = _one(1, 4e18, 1);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.GroupSkipped(payee, 1, 1);
        vm.recordLogs();
        assertEq(_settleAs(relayer, batch), _o(FEE_ABOVE_CAP));
        _assertNoLog(IChannelEscrow.FeesCollected.selector);
        assertEq(escrow.balanceOf(payee), 0);
        assertEq(escrow.balanceOf(relayer), 0);
        _assertChannel(id, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_settle_feeAboveCapSkipsWholeGroup() external {
        _setCap(payee, 100);
        bytes32 id1 = _openChannel(1, 10e18);
        bytes32 id2 = _openChannel(2, 10e18);
        bytes memory batch = _two(1, 4e18, 2, 6e18, 101);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.GroupSkipped(payee, 101, 2);
        vm.recordLogs();
        assertEq(_settleAs(relayer, batch), _o(FEE_ABOVE_CAP, FEE_ABOVE_CAP));
        assertEq(_countLogs(vm.getRecordedLogs(), IChannelEscrow.ReceiptSkipped.selector), 0, "receipts unread");
        assertEq(escrow.balanceOf(payee), 0);
        assertEq(escrow.balanceOf(relayer), 0);
        _assertChannel(id1, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
        _assertChannel(id2, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_settle_feeAtCapSplitsCredit() external {
        _setCap(payee, 500);
        _openChannel(1, 10e18);
        bytes memory batch = _one(1, 10e18, 500);
        _expectReceiptsSettled(_group(payee, 10e18, 5e17, _settled(payer, 1, 10e18)));
        _expectFees(relayer, 5e17);
        assertEq(_settleAs(relayer, batch), _o(SETTLED));
        assertEq(escrow.balanceOf(payee), 10e18 - 5e17);
        assertEq(escrow.balanceOf(relayer), 5e17);
        assertEq(escrow.balanceOf(payer), 0);
    }

    function test_settle_feeBelowCap() external {
        _setCap(payee, 500);
        _openChannel(1, 10e18);
        bytes memory batch = _one(1, 10e18, 100);
        _expectReceiptsSettled(_group(payee, 10e18, 1e17, _settled(payer, 1, 10e18)));
        _expectFees(relayer, 1e17);
        _settleAs(relayer, batch);
        assertEq(escrow.balanceOf(payee), 10e18 - 1e17);
        assertEq(escrow.balanceOf(relayer), 1e17);
    }

    function test_settle_feeIsOnDeltaNotCumulative() external {
        _setCap(payee, 1000);
        _openChannel(1, 10e18);
        _settle(1, 6e18);
        bytes memory batch = _one(1, 8e18, 1000);
        _expectReceiptsSettled(_group(payee, 2e18, 2e17, _settled(payer, 1, 8e18)));
        _settleAs(relayer, batch);
        assertEq(escrow.balanceOf(payee), 8e18 - 2e17);
        assertEq(escrow.balanceOf(relayer), 2e17);
    }

    function test_settle_fullFeeCap() external {
        _setCap(payee, 10_000);
        _openChannel(1, 10e18);
        _settleAs(relayer, _one(1, 3e18, 10_000));
        assertEq(escrow.balanceOf(payee), 0);
        assertEq(escrow.balanceOf(relayer), 3e18);
    }

    function test_settle_feeRoundsDown() external {
        _setCap(payee, 50);
        _openChannel(1, 10e18);
        bytes memory batch = _one(1, 199, 50); // 199 × 50 / 10,000 = 0.995 → 0
        _expectReceiptsSettled(_group(payee, 199, 0, _settled(payer, 1, 199)));
        vm.recordLogs();
        _settleAs(relayer, batch);
        _assertNoLog(IChannelEscrow.FeesCollected.selector);
        assertEq(escrow.balanceOf(payee), 199);
        assertEq(escrow.balanceOf(relayer), 0);
    }

    function test_settle_zeroFeeClaimAlwaysAllowed() external {
        _setCap(payee, 500);
        _openChannel(1, 10e18);
        vm.recordLogs();
        assertEq(_settleAs(relayer, _one(1, 1e18, 0)), _o(SETTLED));
        _assertNoLog(IChannelEscrow.FeesCollected.selector);
        assertEq(escrow.balanceOf(payee), 1e18);
    }

    /// @dev A stale receipt in a fee-bearing group earns nothing.
    function test_settle_noFeeWhenNothingCredited() external {
        _setCap(payee, 500);
        _openChannel(1, 10e18);
        _settle(1, 5e18);
        vm.recordLogs();
        assertEq(_settleAs(relayer, _one(1, 5e18, 500)), _o(STALE));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(_countLogs(logs, IChannelEscrow.FeesCollected.selector), 0);
        assertEq(_countLogs(logs, IChannelEscrow.ReceiptsSettled.selector), 0);
        assertEq(escrow.balanceOf(relayer), 0);
    }

    /// @dev Only the relayer the payee named may take its fee: a copier replaying the relayer's batch
    /// (same calldata, another sender) gets the whole group skipped and settles nothing.
    function test_settle_feeOnlyForTheNamedRelayer() external {
        _setCap(payee, 500);
        bytes32 id = _openChannel(1, 10e18);
        bytes memory batch = _one(1, 4e18, 25);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.GroupSkipped(payee, 25, 1);
        assertEq(_settleAs(stranger, batch), _o(FEE_ABOVE_CAP));
        assertEq(escrow.balanceOf(stranger), 0);
        _assertChannel(id, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
        // The named relayer's own submission still lands, fee included.
        assertEq(_settleAs(relayer, batch), _o(SETTLED));
        assertEq(escrow.balanceOf(relayer), 1e16);
        assertEq(escrow.balanceOf(payee), 4e18 - 1e16);
    }

    /// @dev Anyone may settle a payee's receipts for no fee, whichever relayer it named.
    function test_settle_othersSettleForFree() external {
        _setCap(payee, 500);
        bytes32 id = _openChannel(1, 10e18);
        assertEq(_settleAs(stranger, _one(1, 4e18, 0)), _o(SETTLED));
        assertEq(escrow.balanceOf(payee), 4e18);
        assertEq(escrow.balanceOf(stranger), 0);
        _assertChannel(id, 10e18, 4e18, 0, IChannelEscrow.ChannelState.Open);
    }

    /// @dev A cap with no relayer named (zero) grants nobody a fee, however high.
    function test_settle_capWithoutRelayerGrantsNoFee() external {
        vm.prank(payee);
        escrow.setSettleFeeCap(10_000, address(0));
        _openChannel(1, 10e18);
        assertEq(_settleAs(relayer, _one(1, 4e18, 1)), _o(FEE_ABOVE_CAP));
        assertEq(escrow.balanceOf(payee), 0);
    }

    /// @dev Renaming the relayer moves the fee right at once: the old one's pending batch is refused.
    function test_settle_renamedRelayerLosesTheFee() external {
        _setCap(payee, 500);
        _openChannel(1, 10e18);
        vm.prank(payee);
        escrow.setSettleFeeCap(500, stranger);
        assertEq(_settleAs(relayer, _one(1, 4e18, 25)), _o(FEE_ABOVE_CAP));
        assertEq(_settleAs(stranger, _one(1, 4e18, 25)), _o(SETTLED));
        assertEq(escrow.balanceOf(stranger), 1e16);
    }

    /// @dev The griefing the fee check before the loop prevents: a payee that lowers its cap just before
    /// a 40-receipt batch lands used to make it burn ~224,000 gas (a recovery and a storage read per
    /// receipt) for nothing. Now the group is refused from its header: bounded execution gas, no receipt
    /// read (no ReceiptSkipped log, no channel touched).
    function test_settle_refusedGroupFailsCheap() external {
        uint16 receipts = 40;
        _fund(payer, uint256(receipts) * 1e18);
        bytes memory batch = _header(payee, 25, receipts);
        for (uint32 salt = 1; salt <= receipts; ++salt) {
            vm.prank(payer);
            escrow.openChannel(payee, salt, 1e18);
            batch = bytes.concat(batch, _entry(payerKey, payee, salt, 1e18));
        }
        _setCap(payee, 10); // lowered below the 25 bps the batch claims
        vm.recordLogs();
        vm.prank(relayer);
        bytes memory outcomes = escrow.settleBatch(batch);
        // The escrow's own gas (its call frame: ~6,600 on both builds), not what this contract pays to copy
        // the batch and the outcomes around the call, which the legacy build of the test pays ~9,000 for (no
        // MCOPY before Cancun). One recovery alone costs 3,000 (ecrecover) plus the hashing.
        assertLt(vm.lastCallGas().gasTotalUsed, 10_000, "a refused group costs no recovery");
        assertEq(outcomes.length, receipts);
        for (uint256 i; i < receipts; ++i) {
            assertEq(uint8(outcomes[i]), uint8(FEE_ABOVE_CAP));
        }
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(_countLogs(logs, IChannelEscrow.ReceiptSkipped.selector), 0);
        assertEq(_countLogs(logs, IChannelEscrow.GroupSkipped.selector), 1);
        assertEq(escrow.channel(escrow.channelId(payer, payee, 1)).settled, 0);
    }

    // ---------------------------------------------------------------------------------------------
    // Batch shapes
    // ---------------------------------------------------------------------------------------------

    function test_settle_multiplePayeeGroups() external {
        _setCap(payee, 100);
        _setCap(payee2, 200);
        bytes32 a1 = _openChannel(1, 10e18);
        bytes32 a2 = _openChannel(2, 10e18);
        bytes32 b1 = _openChannelTo(payee2, 1, 10e18);
        bytes memory batch = bytes.concat(
            _header(payee, 100, 2),
            _entry(payerKey, payee, 1, 2e18),
            _entry(payerKey, payee, 2, 3e18),
            _header(payee2, 200, 1),
            _entry(payerKey, payee2, 1, 10e18)
        );
        _expectReceiptsSettled(
            bytes.concat(
                _group(payee, 5e18, 5e16, bytes.concat(_settled(payer, 1, 2e18), _settled(payer, 2, 3e18))),
                _group(payee2, 10e18, 2e17, _settled(payer, 1, 10e18))
            )
        );
        _expectFees(relayer, 5e16 + 2e17);
        vm.recordLogs();
        assertEq(_settleAs(relayer, batch), _o(SETTLED, SETTLED, SETTLED));
        vm.snapshotGasLastCall("settleBatch_3receipts_2payees");
        assertEq(_countLogs(vm.getRecordedLogs(), IChannelEscrow.FeesCollected.selector), 1);
        assertEq(escrow.balanceOf(payee), 5e18 - 5e16);
        assertEq(escrow.balanceOf(payee2), 10e18 - 2e17);
        assertEq(escrow.balanceOf(relayer), 5e16 + 2e17);
        _assertChannel(a1, 10e18, 2e18, 0, IChannelEscrow.ChannelState.Open);
        _assertChannel(a2, 10e18, 3e18, 0, IChannelEscrow.ChannelState.Open);
        _assertChannel(b1, 10e18, 10e18, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_settle_oneGroupAboveCapOtherGroupSettles() external {
        _setCap(payee2, 200);
        bytes32 a1 = _openChannel(1, 10e18);
        bytes32 b1 = _openChannelTo(payee2, 1, 10e18);
        bytes memory batch = bytes.concat(
            _header(payee, 200, 1),
            _entry(payerKey, payee, 1, 2e18),
            _header(payee2, 200, 1),
            _entry(payerKey, payee2, 1, 5e18)
        );
        assertEq(_settleAs(relayer, batch), _o(FEE_ABOVE_CAP, SETTLED));
        assertEq(escrow.balanceOf(payee), 0);
        assertEq(escrow.balanceOf(payee2), 5e18 - 1e17);
        assertEq(escrow.balanceOf(relayer), 1e17);
        _assertChannel(a1, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
        _assertChannel(b1, 10e18, 5e18, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_settle_samePayeeInTwoGroups() external {
        _openChannel(1, 10e18);
        _openChannel(2, 10e18);
        bytes memory batch = bytes.concat(_one(1, 1e18, 0), _one(2, 2e18, 0));
        _expectReceiptsSettled(
            bytes.concat(
                _group(payee, 1e18, 0, _settled(payer, 1, 1e18)), _group(payee, 2e18, 0, _settled(payer, 2, 2e18))
            )
        );
        assertEq(_settleAs(relayer, batch), _o(SETTLED, SETTLED));
        assertEq(escrow.balanceOf(payee), 3e18);
    }

    /// @dev One ReceiptsSettled for the whole batch, its groups in batch order; a group whose receipts all
    /// skipped (here: an unknown channel) and a group refused for its fee are left out of it.
    function test_settle_oneEventForSeveralGroups() external {
        _setCap(payee2, 200);
        _openChannel(1, 10e18);
        _openChannel(2, 10e18);
        _openChannelTo(payee2, 1, 10e18);
        bytes memory batch = _two(1, 1e18, 2, 2e18, 0);
        // An unknown channel: the group settles nothing.
        batch = bytes.concat(batch, _header(payee2, 0, 1), _entry(payerKey, payee2, 9, 1e18));
        // Above the payee's cap (0): the group is refused.
        batch = bytes.concat(batch, _header(payee, 300, 1), _entry(payerKey, payee, 1, 5e18));
        batch = bytes.concat(
            batch, _header(payee2, 200, 2), _entry(payerKey, payee2, 1, 3e18), _entry(payerKey, payee2, 1, 7e18)
        );
        bytes memory expected = bytes.concat(
            _group(payee, 3e18, 0, bytes.concat(_settled(payer, 1, 1e18), _settled(payer, 2, 2e18))),
            _group(payee2, 7e18, 14e16, bytes.concat(_settled(payer, 1, 3e18), _settled(payer, 1, 7e18)))
        );
        vm.recordLogs();
        bytes memory outcomes = bytes.concat(_o(SETTLED, SETTLED, UNKNOWN), _o(FEE_ABOVE_CAP, SETTLED, SETTLED));
        assertEq(_settleAs(relayer, batch), outcomes);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(_countLogs(logs, IChannelEscrow.ReceiptsSettled.selector), 1);
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] != IChannelEscrow.ReceiptsSettled.selector) continue;
            assertEq(logs[i].topics.length, 1, "no indexed payee");
            assertEq(logs[i].data, abi.encode(expected), "groups, ABI-encoded as one bytes");
        }
        assertEq(escrow.balanceOf(payee), 3e18);
        assertEq(escrow.balanceOf(payee2), 7e18 - 14e16);
    }

    /// @dev Several groups, none of which settles anything: no ReceiptsSettled at all.
    function test_settle_noEventWhenNoGroupSettles() external {
        _openChannel(1, 10e18);
        _settle(1, 5e18);
        bytes memory batch = bytes.concat(
            _one(1, 5e18, 0), // stale
            _header(payee, 500, 1),
            _entry(payerKey, payee, 1, 9e18), // above the cap
            _one(7, 1e18, 0) // unknown channel
        );
        vm.recordLogs();
        assertEq(_settleAs(relayer, batch), _o(STALE, FEE_ABOVE_CAP, UNKNOWN));
        assertEq(_countLogs(vm.getRecordedLogs(), IChannelEscrow.ReceiptsSettled.selector), 0);
        assertEq(escrow.balanceOf(payee), 5e18);
    }

    function test_settle_sameChannelTwiceAscending() external {
        bytes32 id = _openChannel(1, 10e18);
        bytes memory batch = _two(1, 3e18, 1, 5e18, 0);
        _expectReceiptsSettled(_group(payee, 5e18, 0, bytes.concat(_settled(payer, 1, 3e18), _settled(payer, 1, 5e18))));
        assertEq(_settleAs(relayer, batch), _o(SETTLED, SETTLED));
        assertEq(escrow.balanceOf(payee), 5e18);
        _assertChannel(id, 10e18, 5e18, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_settle_sameChannelTwiceDescending() external {
        bytes32 id = _openChannel(1, 10e18);
        bytes memory batch = _two(1, 5e18, 1, 3e18, 0);
        _expectReceiptSkipped(id, STALE);
        _expectReceiptsSettled(_group(payee, 5e18, 0, _settled(payer, 1, 5e18)));
        assertEq(_settleAs(relayer, batch), _o(SETTLED, STALE));
        assertEq(escrow.balanceOf(payee), 5e18);
    }

    function test_settle_sameReceiptTwiceInOneBatchPaysOnce() external {
        bytes32 id = _openChannel(1, 10e18);
        bytes memory entry = _entry(payerKey, payee, 1, 4e18);
        bytes memory batch = bytes.concat(_header(payee, 0, 2), entry, entry);
        assertEq(_settleAs(relayer, batch), _o(SETTLED, STALE));
        assertEq(escrow.balanceOf(payee), 4e18);
        _assertChannel(id, 10e18, 4e18, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_settle_mixedOutcomesInOneGroup() external {
        bytes32 open1 = _openChannel(1, 10e18);
        bytes32 closed = _openChannel(2, 10e18);
        _closeByPayee(2);
        bytes memory batch = bytes.concat(
            _header(payee, 0, 4),
            _entry(payerKey, payee, 3, 1e18), // unknown
            _entry(payerKey, payee, 1, 4e18), // settles
            _entry(payerKey, payee, 2, 1e18), // closed
            _entry(payerKey, payee, 1, 2e18) // stale after the second entry
        );
        _expectReceiptSkipped(escrow.channelId(payer, payee, 3), UNKNOWN);
        _expectReceiptSkipped(closed, CLOSED);
        _expectReceiptSkipped(open1, STALE);
        _expectReceiptsSettled(_group(payee, 4e18, 0, _settled(payer, 1, 4e18)));
        bytes memory outcomes = _settleAs(relayer, batch);
        assertEq(outcomes, abi.encodePacked(uint8(UNKNOWN), uint8(SETTLED), uint8(CLOSED), uint8(STALE)));
        assertEq(escrow.balanceOf(payee), 4e18);
    }

    function test_settle_receiptsOfSeveralPayers() external {
        bytes32 a = _openChannel(1, 10e18);
        _fund(stranger, 10e18);
        vm.prank(stranger);
        bytes32 b = escrow.openChannel(payee, 1, 10e18);
        bytes memory batch =
            bytes.concat(_header(payee, 0, 2), _entry(payerKey, payee, 1, 1e18), _entry(strangerKey, payee, 1, 2e18));
        _expectReceiptsSettled(
            _group(payee, 3e18, 0, bytes.concat(_settled(payer, 1, 1e18), _settled(stranger, 1, 2e18)))
        );
        assertEq(_settleAs(relayer, batch), _o(SETTLED, SETTLED));
        _assertChannel(a, 10e18, 1e18, 0, IChannelEscrow.ChannelState.Open);
        _assertChannel(b, 10e18, 2e18, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_settle_emptyBatch() external {
        vm.recordLogs();
        bytes memory outcomes = _settleAs(relayer, "");
        assertEq(outcomes.length, 0);
        assertEq(vm.getRecordedLogs().length, 0);
    }

    function test_settle_emptyGroup() external {
        vm.recordLogs();
        bytes memory outcomes = _settleAs(relayer, _header(payee, 0, 0));
        assertEq(outcomes.length, 0);
        assertEq(vm.getRecordedLogs().length, 0);
    }

    function test_settle_emptyGroupsAroundAReceipt() external {
        _openChannel(1, 10e18);
        bytes memory batch = bytes.concat(_header(payee2, 0, 0), _one(1, 4e18, 0), _header(payee, 0, 0));
        assertEq(_settleAs(relayer, batch), _o(SETTLED));
        assertEq(escrow.balanceOf(payee), 4e18);
    }

    function test_RevertWhen_batchHeaderTruncated() external {
        bytes memory header = _header(payee, 0, 1);
        bytes memory batch = new bytes(23);
        for (uint256 i; i < 23; ++i) {
            batch[i] = header[i];
        }
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.MalformedBatch.selector, 0));
        escrow.settleBatch(batch);
    }

    function test_RevertWhen_batchIsOneByte() external {
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.MalformedBatch.selector, 0));
        escrow.settleBatch(hex"00");
    }

    function test_RevertWhen_secondGroupHeaderTruncated() external {
        _openChannel(1, 10e18);
        bytes memory batch = bytes.concat(_one(1, 4e18, 0), hex"0102030405");
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.MalformedBatch.selector, 104));
        escrow.settleBatch(batch);
        // The valid first group was not applied either: the whole call reverted.
        assertEq(escrow.balanceOf(payee), 0);
    }

    function test_RevertWhen_receiptMissing() external {
        _openChannel(1, 10e18);
        bytes memory batch = bytes.concat(_header(payee, 0, 2), _entry(payerKey, payee, 1, 4e18));
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.MalformedBatch.selector, 24));
        escrow.settleBatch(batch);
    }

    function test_RevertWhen_receiptTruncated() external {
        _openChannel(1, 10e18);
        bytes memory entry = _entry(payerKey, payee, 1, 4e18);
        bytes memory cut = new bytes(79);
        for (uint256 i; i < 79; ++i) {
            cut[i] = entry[i];
        }
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.MalformedBatch.selector, 24));
        escrow.settleBatch(bytes.concat(_header(payee, 0, 1), cut));
    }

    function test_RevertWhen_secondGroupReceiptTruncated() external {
        _openChannel(1, 10e18);
        bytes memory batch = bytes.concat(_one(1, 4e18, 0), _header(payee2, 0, 1), new bytes(40));
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.MalformedBatch.selector, 104 + 24));
        escrow.settleBatch(batch);
    }

    function test_RevertWhen_countOverstatesReceipts() external {
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.MalformedBatch.selector, 24));
        escrow.settleBatch(bytes.concat(_header(payee, 0, type(uint16).max), new bytes(800)));
    }
}
