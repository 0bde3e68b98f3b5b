// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";
import {EscrowFuzzBase} from "./EscrowFuzzBase.sol";

/// @notice Settlement arithmetic for any deposit, receipt sequence and fee: the payee is credited
/// min(highest cumulative, deposit) in total, the submitter floor(credited·bps/10⁴) of each group.
contract SettleFuzzTest is EscrowFuzzBase {
    using PaymentSigner for IChannelEscrow;

    uint32 internal constant SALT = 42;
    uint256 internal constant MAX_RECEIPTS = 6;

    /// @dev One receipt per batch, in fuzzed order: after each, settled = min(max cumulative so far, deposit),
    /// the payee got the increase minus the fee and the submitter the fee; stale receipts change nothing.
    function testFuzz_settle_creditsHighestCumulativeCappedAtDeposit(
        uint96 deposit,
        uint256[MAX_RECEIPTS] memory cumulativeSeeds,
        uint256 count,
        uint256 capSeed,
        uint256 feeSeed,
        address submitter
    ) external {
        deposit = uint96(bound(deposit, 1, MAX_U96));
        count = bound(count, 1, MAX_RECEIPTS);
        (uint16 cap, uint16 feeBps) = _boundFeeWithinCap(capSeed, feeSeed);
        bytes32 id = _openChannel(SALT, deposit);
        // The payee names the submitter as its relayer: the only one who may take the fee.
        if (submitter == address(0)) submitter = relayer;
        vm.prank(payee);
        escrow.setSettleFeeCap(cap, submitter);

        uint256 highest;
        uint256 feesPaid;
        for (uint256 i; i < count; ++i) {
            uint96 cumulative = _boundCumulative(cumulativeSeeds[i], deposit);
            highest = _max(highest, cumulative);
            feesPaid += _settleAndCheck(id, cumulative, highest, feeBps, submitter);
        }
        assertLe(escrow.channel(id).settled, deposit, "never beyond the deposit");
        if (submitter != payee) {
            assertEq(escrow.balanceOf(payee) + feesPaid, _min(highest, deposit), "payee + fees = credited total");
        }
    }

    /// @dev Settles one receipt and checks it moved settled to min(highest cumulative, deposit), paying the
    /// increase minus floor(increase · bps / 10⁴) to the payee and that fee to the submitter. Returns the fee.
    function _settleAndCheck(bytes32 id, uint96 cumulative, uint256 highest, uint16 feeBps, address submitter)
        internal
        returns (uint256 fee)
    {
        Snapshot memory before = _snapshot(id);
        uint256 submitterBefore = escrow.balanceOf(submitter);

        IChannelEscrow.SettleOutcome outcome = _settleAs(submitter, payerKey, SALT, cumulative, feeBps);

        uint256 expectedSettled = _min(highest, before.channel.deposit);
        uint256 credited = expectedSettled - before.channel.settled;
        fee = credited * feeBps / 10_000;
        if (credited == 0) {
            assertEq(uint8(outcome), uint8(IChannelEscrow.SettleOutcome.Stale), "stale outcome");
            assertEq(escrow.balanceOf(submitter), submitterBefore, "stale: submitter unchanged");
            _assertUnchanged(before, id, "stale receipt changed state");
            return 0;
        }
        IChannelEscrow.Channel memory c = escrow.channel(id);
        assertEq(uint8(outcome), uint8(IChannelEscrow.SettleOutcome.Settled), "settled outcome");
        assertEq(c.settled, expectedSettled, "settled = min(highest cumulative, deposit)");
        assertEq(c.deposit, before.channel.deposit, "deposit untouched");
        assertEq(token.balanceOf(address(escrow)), before.escrowTokens, "settling moves no tokens");
        if (submitter == payee) {
            assertEq(escrow.balanceOf(payee), before.payeeFree + credited, "payee submitting keeps it all");
        } else {
            assertEq(escrow.balanceOf(payee), before.payeeFree + credited - fee, "payee gets credited - fee");
            assertEq(escrow.balanceOf(submitter), submitterBefore + fee, "submitter gets the fee");
        }
    }

    /// @dev All receipts in one group of one batch: per-receipt outcomes follow the running settled total,
    /// one fee is taken on the group's credit, and re-submitting the batch changes nothing.
    function testFuzz_settle_oneGroupThenResubmitIsNoop(
        uint96 deposit,
        uint256[MAX_RECEIPTS] memory cumulativeSeeds,
        uint256 count,
        uint96 alreadySettled,
        uint256 capSeed,
        uint256 feeSeed
    ) external {
        deposit = uint96(bound(deposit, 1, MAX_U96));
        count = bound(count, 1, MAX_RECEIPTS);
        (uint16 cap, uint16 feeBps) = _boundFeeWithinCap(capSeed, feeSeed);
        bytes32 id = _openChannel(SALT, deposit);
        alreadySettled = _settleSome(SALT, deposit, alreadySettled);
        _setCap(cap);

        (bytes memory batch, bytes memory expectedOutcomes, uint256 finalSettled) =
            _groupOf(cumulativeSeeds, count, feeBps, deposit, alreadySettled);
        uint256 credited = finalSettled - alreadySettled;
        uint256 fee = credited * feeBps / 10_000;
        Snapshot memory before = _snapshot(id);

        vm.prank(relayer);
        assertEq(escrow.settleBatch(batch), expectedOutcomes, "per-receipt outcomes");
        assertEq(escrow.channel(id).settled, finalSettled, "settled = max target");
        assertEq(escrow.balanceOf(payee), before.payeeFree + credited - fee, "payee credited - fee");
        assertEq(escrow.balanceOf(relayer), before.relayerFree + fee, "one floor(fee) per group");
        assertEq(token.balanceOf(address(escrow)), before.escrowTokens, "settling moves no tokens");

        Snapshot memory afterFirst = _snapshot(id);
        vm.prank(relayer);
        bytes memory outcomes = escrow.settleBatch(batch);
        for (uint256 i; i < count; ++i) {
            assertEq(uint8(outcomes[i]), uint8(IChannelEscrow.SettleOutcome.Stale), "resubmitted receipt is stale");
        }
        _assertUnchanged(afterFirst, id, "re-submitting a batch changed state");
    }

    /// @dev One group of `count` receipts for the payer→payee channel, the outcome each must get (a receipt
    /// settles only if min(cumulative, deposit) beats the running total) and the final settled total.
    function _groupOf(
        uint256[MAX_RECEIPTS] memory cumulativeSeeds,
        uint256 count,
        uint16 feeBps,
        uint96 deposit,
        uint256 settled
    ) internal view returns (bytes memory batch, bytes memory outcomes, uint256) {
        batch = PaymentSigner.groupHeader(payee, feeBps, uint16(count));
        outcomes = new bytes(count);
        for (uint256 i; i < count; ++i) {
            uint96 cumulative = _boundCumulative(cumulativeSeeds[i], deposit);
            batch = bytes.concat(
                batch,
                PaymentSigner.packReceipt(SALT, cumulative, escrow.signReceipt(payerKey, payee, SALT, cumulative))
            );
            if (_min(cumulative, deposit) > settled) {
                settled = _min(cumulative, deposit);
            } else {
                outcomes[i] = bytes1(uint8(IChannelEscrow.SettleOutcome.Stale));
            }
        }
        return (batch, outcomes, settled);
    }

    /// @dev A group whose fee is above the payee's cap is skipped whole, whatever its receipts.
    function testFuzz_settle_feeAboveCapSkipsGroup(
        uint96 deposit,
        uint256 cumulativeSeed,
        uint256 capSeed,
        uint16 feeBps
    ) external {
        deposit = uint96(bound(deposit, 1, MAX_U96));
        uint16 cap = uint16(bound(capSeed, 0, 10_000));
        feeBps = uint16(bound(feeBps, uint256(cap) + 1, type(uint16).max));
        uint96 cumulative = uint96(bound(cumulativeSeed, 1, MAX_U96));
        bytes32 id = _openChannel(SALT, deposit);
        _setCap(cap);
        Snapshot memory before = _snapshot(id);

        assertEq(
            uint8(_settleAs(relayer, payerKey, SALT, cumulative, feeBps)),
            uint8(IChannelEscrow.SettleOutcome.FeeAboveCap),
            "fee above cap"
        );
        _assertUnchanged(before, id, "group above the cap changed state");
    }

    /// @dev Several channels of one payee in one group: each settles independently, the payee is credited
    /// the sum and the fee is taken once on that sum.
    function testFuzz_settle_groupSumsChannelsOfOnePayee(
        uint96[3] memory deposits,
        uint256[3] memory cumulativeSeeds,
        uint256 capSeed,
        uint256 feeSeed
    ) external {
        (uint16 cap, uint16 feeBps) = _boundFeeWithinCap(capSeed, feeSeed);
        _setCap(cap);
        bytes memory batch = PaymentSigner.groupHeader(payee, feeBps, 3);
        uint256 credited;
        for (uint32 salt; salt < 3; ++salt) {
            uint96 deposit = uint96(bound(deposits[salt], 1, MAX_U96 / 4));
            _openChannel(salt, deposit);
            uint96 cumulative = _boundCumulative(cumulativeSeeds[salt], deposit);
            credited += _min(cumulative, deposit);
            batch = bytes.concat(
                batch,
                PaymentSigner.packReceipt(salt, cumulative, escrow.signReceipt(payerKey, payee, salt, cumulative))
            );
        }
        vm.prank(relayer);
        escrow.settleBatch(batch);

        uint256 fee = credited * feeBps / 10_000;
        assertEq(escrow.balanceOf(payee), credited - fee, "payee gets the group's credit minus one fee");
        assertEq(escrow.balanceOf(relayer), fee, "relayer gets floor(sum * bps / 10^4)");
    }
}
