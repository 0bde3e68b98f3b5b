// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {EscrowTestBase} from "../utils/EscrowTestBase.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";

/// @notice Helpers shared by the fuzz suites: whole-state snapshots (so "nothing changed" is checked
/// exactly, byte for byte) and bounded amounts.
abstract contract EscrowFuzzBase is EscrowTestBase {
    using PaymentSigner for IChannelEscrow;

    /// @dev secp256k1n / 2, the largest `s` a canonical (low-s) signature may carry.
    uint256 internal constant HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;
    uint96 internal constant MAX_U96 = type(uint96).max;

    /// @dev Everything a payer→payee channel operation may touch.
    struct Snapshot {
        uint256 escrowTokens;
        uint256 payerFree;
        uint256 payeeFree;
        uint256 relayerFree;
        uint64 payerNonce;
        IChannelEscrow.Channel channel;
    }

    function _snapshot(bytes32 id) internal view returns (Snapshot memory s) {
        s.escrowTokens = token.balanceOf(address(escrow));
        s.payerFree = escrow.balanceOf(payer);
        s.payeeFree = escrow.balanceOf(payee);
        s.relayerFree = escrow.balanceOf(relayer);
        s.payerNonce = escrow.nonceOf(payer);
        s.channel = escrow.channel(id);
    }

    function _assertUnchanged(Snapshot memory before, bytes32 id, string memory what) internal view {
        assertEq(abi.encode(_snapshot(id)), abi.encode(before), what);
    }

    function _min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }

    function _max(uint256 a, uint256 b) internal pure returns (uint256) {
        return a > b ? a : b;
    }

    /// @dev A cumulative anywhere in [0, 2·deposit] (clipped to uint96): below, at and above the deposit.
    function _boundCumulative(uint256 seed, uint96 deposit) internal pure returns (uint96) {
        return uint96(bound(seed, 0, _min(uint256(deposit) * 2, MAX_U96)));
    }

    /// @dev A settlement fee cap in [0, 10⁴] bps and a group fee at or below it.
    function _boundFeeWithinCap(uint256 capSeed, uint256 feeSeed) internal pure returns (uint16 cap, uint16 feeBps) {
        cap = uint16(bound(capSeed, 0, 10_000));
        feeBps = uint16(bound(feeSeed, 0, cap));
    }

    /// @dev Settles part of payer→payee channel `salt` as the relayer, for no fee: `seed` picks the amount
    /// in [0, deposit] (0 settles nothing). Returns the channel's settled amount.
    function _settleSome(uint32 salt, uint96 deposit, uint256 seed) internal returns (uint96 settled) {
        settled = uint96(bound(seed, 0, deposit));
        if (settled != 0) _settleAs(relayer, payerKey, salt, settled, 0);
    }

    /// @dev Settles a one-receipt batch signed by `key` for payee/salt, submitted by `submitter`.
    function _settleAs(address submitter, uint256 key, uint32 salt, uint96 cumulative, uint16 feeBps)
        internal
        returns (IChannelEscrow.SettleOutcome)
    {
        bytes memory batch = escrow.singleReceiptBatch(key, payee, salt, cumulative, feeBps);
        vm.prank(submitter);
        bytes memory outcomes = escrow.settleBatch(batch);
        assertEq(outcomes.length, 1, "one outcome per receipt");
        return IChannelEscrow.SettleOutcome(uint8(outcomes[0]));
    }

    function _setCap(uint16 bps) internal {
        vm.prank(payee);
        escrow.setSettleFeeCap(bps, relayer);
    }
}
