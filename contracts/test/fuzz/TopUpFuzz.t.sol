// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";
import {EscrowFuzzBase} from "./EscrowFuzzBase.sol";

/// @notice Top-ups name a new total deposit: it rises exactly, the payer pays delta + fee, and a stale or
/// replayed authorisation is rejected without taking anything.
contract TopUpFuzzTest is EscrowFuzzBase {
    using PaymentSigner for IChannelEscrow;

    uint32 internal constant SALT = 5;

    /// @dev The payer's signed top-up of channel SALT to `newTotal` for `fee`, as a one-entry batch.
    function _topUpBatch(uint96 newTotal, uint96 fee) internal view returns (IChannelEscrow.TopUpAuth[] memory auths) {
        auths = new IChannelEscrow.TopUpAuth[](1);
        auths[0] = escrow.signTopUp(
            payerKey, IChannelEscrow.TopUpAuth(payer, payee, SALT, newTotal, fee, address(0), 0, _deadline(), _noSig())
        );
    }

    /// @dev Submits signed top-ups as the relayer; returns the per-entry failures.
    function _submit(IChannelEscrow.TopUpAuth[] memory auths) internal returns (bytes[] memory) {
        vm.prank(relayer);
        return escrow.topUpsBySig(auths);
    }

    function testFuzz_topUpBySig_raisesDepositToNewTotal(
        uint96 deposit,
        uint256 newTotalSeed,
        uint256 feeSeed,
        uint256 spareSeed,
        uint256 settledSeed
    ) external {
        deposit = uint96(bound(deposit, 1, MAX_U96 - 1));
        uint96 newTotal = uint96(bound(newTotalSeed, uint256(deposit) + 1, MAX_U96));
        uint96 fee = uint96(bound(feeSeed, 0, 1e27));
        uint256 spare = bound(spareSeed, 0, 1e24);
        bytes32 id = _openChannel(SALT, deposit);
        uint96 settled = _settleSome(SALT, deposit, settledSeed);
        _fund(payer, uint256(newTotal - deposit) + fee + spare);
        Snapshot memory before = _snapshot(id);

        IChannelEscrow.TopUpAuth[] memory auths = _topUpBatch(newTotal, fee);
        bytes[] memory failures = _submit(auths);

        assertEq(failures[0], "", "applied");
        assertEq(escrow.channel(id).deposit, newTotal, "deposit = new total");
        assertEq(escrow.channel(id).settled, settled, "settled untouched");
        assertEq(escrow.balanceOf(payer), spare, "free balance fell by delta + fee");
        assertEq(escrow.balanceOf(relayer), before.relayerFree + fee, "relayer got the fee");
        assertEq(token.balanceOf(address(escrow)), before.escrowTokens, "top-up moves no tokens");

        // Replaying the same authorisation finds the deposit already there.
        Snapshot memory afterTopUp = _snapshot(id);
        failures = _submit(auths);
        assertEq(
            failures[0],
            abi.encodeWithSelector(IChannelEscrow.StaleTopUp.selector, id, newTotal, newTotal),
            "replay rejected as stale"
        );
        _assertUnchanged(afterTopUp, id, "replayed top-up changed state");
    }

    /// @dev A total at or below the current deposit is stale and costs the payer nothing, fee included.
    function testFuzz_topUpBySig_rejectsStaleTotal(uint96 deposit, uint256 newTotalSeed, uint256 feeSeed) external {
        deposit = uint96(bound(deposit, 1, MAX_U96));
        uint96 newTotal = uint96(bound(newTotalSeed, 0, deposit));
        uint96 fee = uint96(bound(feeSeed, 0, 1e24));
        bytes32 id = _openChannel(SALT, deposit);
        if (fee != 0) _fund(payer, fee);
        Snapshot memory before = _snapshot(id);

        IChannelEscrow.TopUpAuth[] memory auths = _topUpBatch(newTotal, fee);
        bytes[] memory failures = _submit(auths);

        assertEq(
            failures[0], abi.encodeWithSelector(IChannelEscrow.StaleTopUp.selector, id, deposit, newTotal), "stale"
        );
        _assertUnchanged(before, id, "stale top-up changed state");
    }

    /// @dev The direct top-up adds `amount` to the deposit and takes exactly `amount` from the free balance.
    function testFuzz_topUp_addsAmount(uint96 deposit, uint256 amountSeed, uint256 spareSeed) external {
        deposit = uint96(bound(deposit, 1, MAX_U96 - 1));
        uint96 amount = uint96(bound(amountSeed, 1, MAX_U96 - deposit));
        uint256 spare = bound(spareSeed, 0, 1e24);
        bytes32 id = _openChannel(SALT, deposit);
        _fund(payer, uint256(amount) + spare);
        uint256 escrowTokens = token.balanceOf(address(escrow));

        vm.prank(payer);
        escrow.topUp(payee, SALT, amount);

        assertEq(escrow.channel(id).deposit, uint256(deposit) + amount, "deposit rose by amount");
        assertEq(escrow.balanceOf(payer), spare, "free balance fell by amount");
        assertEq(token.balanceOf(address(escrow)), escrowTokens, "top-up moves no tokens");
    }

    /// @dev Once a close is requested the deposit is frozen, signed or not.
    function testFuzz_topUp_rejectedOnceClosing(uint96 deposit, uint256 newTotalSeed) external {
        deposit = uint96(bound(deposit, 1, MAX_U96 - 1));
        uint96 newTotal = uint96(bound(newTotalSeed, uint256(deposit) + 1, MAX_U96));
        bytes32 id = _openChannel(SALT, deposit);
        _fund(payer, newTotal - deposit);
        _requestClose(SALT);
        Snapshot memory before = _snapshot(id);
        bytes memory closing = abi.encodeWithSelector(
            IChannelEscrow.InvalidChannelState.selector, id, IChannelEscrow.ChannelState.Closing
        );

        IChannelEscrow.TopUpAuth[] memory auths = _topUpBatch(newTotal, 0);
        assertEq(_submit(auths)[0], closing, "signed top-up of a closing channel");
        vm.expectRevert(closing);
        vm.prank(payer);
        escrow.topUp(payee, SALT, newTotal - deposit);
        _assertUnchanged(before, id, "top-up of a closing channel changed state");
    }
}
