// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Vm} from "forge-std/Vm.sol";

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";
import {UnitTest} from "./UnitHelpers.sol";

/// @notice A failed `ecrecover` returns no data and leaves its output memory as it was. Every recovery in
/// the escrow zeroes its output first, so a bad signature recovers address 0 — never whatever that memory
/// held (the previous receipt's payer, or a word of the entry being checked). These tests pin the zeroing
/// on each recovery path; each fails, with a forged payment or a wrong event, if it is removed.
contract RecoveryZeroingTest is UnitTest {
    using PaymentSigner for IChannelEscrow;

    /// @dev A signature ecrecover refuses (r = 0) with a low s.
    IChannelEscrow.CompactSignature private BAD = IChannelEscrow.CompactSignature(bytes32(0), bytes32(uint256(1)));

    // ---------------------------------------------------------------------------------------------
    // settleBatch
    // ---------------------------------------------------------------------------------------------

    /// @dev `batch`, a good receipt then BAD for `payee_`'s channel `salt`, settles the first; the second
    /// reads as payer 0's, which has no channel.
    function _assertGoodThenPayerZero(bytes memory batch, address payee_, uint32 salt) private {
        _expectReceiptSkipped(escrow.channelId(address(0), payee_, salt), IChannelEscrow.SettleOutcome.UnknownChannel);
        assertEq(
            _settleAs(relayer, batch),
            _o(IChannelEscrow.SettleOutcome.Settled, IChannelEscrow.SettleOutcome.UnknownChannel)
        );
    }

    /// @dev Within a group: a good receipt of (payer, salt 1), then a bad signature for salt 2, which the
    /// payer also has. Inheriting the payer would settle salt 2; the recovered 0 owns no channel, and the
    /// skip names the channel of payer 0.
    function test_settle_badSignatureAfterGoodOneWithinGroup() external {
        bytes32 one = _openChannel(1, 10e18);
        bytes32 two = _openChannel(2, 10e18);
        bytes memory batch = bytes.concat(
            _header(payee, 0, 2), _entry(payerKey, payee, 1, 1e18), PaymentSigner.packReceipt(2, 5e18, BAD)
        );
        _assertGoodThenPayerZero(batch, payee, 2);
        _assertChannel(one, 10e18, 1e18, 0, IChannelEscrow.ChannelState.Open);
        _assertChannel(two, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
        assertEq(escrow.balanceOf(payee), 1e18);
    }

    /// @dev Across groups: the payer recovered in one group must not carry into the next.
    function test_settle_badSignatureAfterGoodOneAcrossGroups() external {
        bytes32 one = _openChannel(1, 10e18);
        bytes32 other = _openChannelTo(stranger, 1, 10e18);
        bytes memory batch = bytes.concat(
            _header(payee, 0, 1),
            _entry(payerKey, payee, 1, 1e18),
            _header(stranger, 0, 1),
            PaymentSigner.packReceipt(1, 5e18, BAD)
        );
        _assertGoodThenPayerZero(batch, stranger, 1);
        _assertChannel(one, 10e18, 1e18, 0, IChannelEscrow.ChannelState.Open);
        _assertChannel(other, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
        assertEq(escrow.balanceOf(stranger), 0);
    }

    // ---------------------------------------------------------------------------------------------
    // Signed operations (`_recover`)
    // ---------------------------------------------------------------------------------------------

    /// @dev The words of the entry being checked sit in the memory the recovery writes its output to (an
    /// open's `fee`, right there). A forger picks a payer whose address, as a number, fits the fee: without
    /// the zeroing, a failed recovery would "recover" that payer and open — and charge — its channel.
    function test_openBySig_badSignatureRecoversZeroNotAnEntryWord() external {
        address victim = address(uint160(3e17));
        _fund(victim, 5e18);
        IChannelEscrow.OpenAuth[] memory auths = new IChannelEscrow.OpenAuth[](2);
        _fund(payer, 2e18);
        auths[0] = _openAuth(payerKey, 1, 1e18, 0); // a good one first
        auths[1] =
            IChannelEscrow.OpenAuth(victim, payee, 1, 1e18, uint96(uint160(victim)), address(0), 0, _deadline(), BAD);
        vm.prank(relayer);
        bytes[] memory failures = escrow.openChannelsBySig(auths);
        assertEq(failures[0].length, 0);
        assertEq(failures[1], _invalidSigner(address(0), victim));
        assertEq(escrow.balanceOf(victim), 5e18);
        assertEq(uint8(escrow.channel(escrow.channelId(victim, payee, 1)).state), 0);
    }

    /// @dev The same with a withdrawal's `relayer` word: naming oneself as relayer puts one's own address
    /// in that memory, so the forger would withdraw its own... address-as-owner's funds. Recovery gives 0.
    function test_withdrawBySig_badSignatureRecoversZero() external {
        _fund(relayer, 3e18);
        IChannelEscrow.WithdrawAuth memory a =
            IChannelEscrow.WithdrawAuth(relayer, stranger, 1e18, 0, relayer, 0, _deadline(), BAD);
        vm.prank(relayer);
        bytes[] memory failures = escrow.withdrawBySig(_list(a));
        assertEq(failures[0], _invalidSigner(address(0), relayer));
        assertEq(escrow.balanceOf(relayer), 3e18);
    }

    // ---------------------------------------------------------------------------------------------
    // Cooperative close (`_recoverPair`)
    // ---------------------------------------------------------------------------------------------

    /// @dev A close whose agreed `cumulative` equals its payer's address as a number: that word is in the
    /// memory the payer's recovery writes to. Without the zeroing, the payee alone (with a bad payer
    /// signature) could close the channel.
    function test_cooperativeClose_badPayerSignatureRecoversZero() external {
        address victim = address(uint160(3e18));
        _fund(victim, 10e18);
        vm.prank(victim);
        bytes32 id = escrow.openChannel(payee, 1, 10e18);
        IChannelEscrow.CooperativeCloseAuth memory a = IChannelEscrow.CooperativeCloseAuth(
            victim, payee, 1, uint96(uint160(victim)), 0, address(0), 0, _deadline()
        );
        IChannelEscrow.CompactSignature memory payeeSig = escrow.signCooperativeClose(payeeKey, a);
        vm.expectRevert(_invalidSigner(address(0), victim));
        vm.prank(payee);
        escrow.cooperativeClose(a, BAD, payeeSig);
        _assertChannel(id, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
    }

    /// @dev The payee's recovery writes where the close's `fee` word sits: a payee whose address fits the
    /// fee would, without the zeroing, "co-sign" with a bad signature after the payer's good one.
    function test_cooperativeClose_badPayeeSignatureAfterGoodPayerRecoversZero() external {
        address victim = address(uint160(1e15));
        _fund(payer, 10e18 + 1e15);
        vm.prank(payer);
        bytes32 id = escrow.openChannel(victim, 1, 10e18);
        IChannelEscrow.CooperativeCloseAuth memory a = IChannelEscrow.CooperativeCloseAuth(
            payer, victim, 1, 4e18, uint96(uint160(victim)), address(0), 0, _deadline()
        );
        IChannelEscrow.CompactSignature memory payerSig = escrow.signCooperativeClose(payerKey, a);
        vm.expectRevert(_invalidSigner(address(0), victim));
        escrow.cooperativeClose(a, payerSig, BAD);
        _assertChannel(id, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
    }
}
