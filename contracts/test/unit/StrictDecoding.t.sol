// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentHash} from "../../src/libraries/PaymentHash.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";
import {UnitTest} from "./UnitHelpers.sol";

/// @notice Signed entries are accepted only in their canonical ABI encoding. A word with bits above its
/// field's width (a "dirty" word) — whether a submitter dirtied an honestly signed entry or the signer
/// signed the dirty words themselves — skips that entry with `NonCanonicalField(field)` and nothing else:
/// the rest of the batch applies. (Read through Solidity's ABI decoder, one such entry reverted the batch.)
contract StrictDecodingTest is UnitTest {
    using PaymentSigner for IChannelEscrow;

    /// @dev Calldata of `f(S[])` with static structs: selector, offset, length, then the entries inline.
    uint256 private constant FIRST_ENTRY = 4 + 0x40;

    function _nonCanonical(uint256 field) private pure returns (bytes memory) {
        return abi.encodeWithSelector(IChannelEscrow.NonCanonicalField.selector, field);
    }

    /// @dev ORs `bits` into word `field` of entry `entry` (of `words` words each) in `data`.
    function _dirty(bytes memory data, uint256 entry, uint256 words, uint256 field, uint256 bits)
        private
        pure
        returns (bytes memory)
    {
        uint256 at = FIRST_ENTRY + (entry * words + field) * 32;
        assembly ("memory-safe") {
            let p := add(add(data, 0x20), at)
            mstore(p, or(mload(p), bits))
        }
        return data;
    }

    function _call(bytes memory data) private returns (bytes[] memory failures) {
        vm.prank(relayer);
        (bool ok, bytes memory ret) = address(escrow).call(data);
        assertTrue(ok, "a dirty entry reverted the whole batch");
        failures = abi.decode(ret, (bytes[]));
    }

    function test_openBySig_dirtyEntrySkippedOthersApply() external {
        _fund(payer, 10e18);
        IChannelEscrow.OpenAuth[] memory auths = new IChannelEscrow.OpenAuth[](3);
        auths[0] = _openAuth(payerKey, 1, 1e18, 0);
        auths[1] = _openAuth(payerKey, 2, 1e18, 0);
        auths[2] = _openAuth(payerKey, 3, 1e18, 0);
        bytes memory data = abi.encodeCall(IChannelEscrow.openChannelsBySig, (auths));
        // Entry 1's salt (field 2, uint32) with a bit above 32 set: the honest signature no longer matches
        // the words, but the entry must be refused for its encoding before anything is read.
        data = _dirty(data, 1, 10, 2, 1 << 32);
        _expectSkipped(1, _nonCanonical(2));
        bytes[] memory failures = _call(data);
        assertEq(failures[0].length, 0);
        assertEq(failures[1], _nonCanonical(2));
        assertEq(failures[2].length, 0);
        assertEq(uint8(escrow.channel(escrow.channelId(payer, payee, 2)).state), 0);
        assertEq(escrow.balanceOf(payer), 8e18);
    }

    /// @dev The signer signed the dirty words themselves (the struct hash copies raw words): still refused.
    function test_openBySig_dirtyWordsSignedAsTheyAreStillRefused() external {
        _fund(payer, 10e18);
        IChannelEscrow.OpenAuth memory a = _openAuth(payerKey, 1, 1e18, 0);
        uint256 dirtyDeadline = uint256(a.deadline) | (1 << 200);
        bytes32 structHash = keccak256(
            abi.encode(
                PaymentHash.OPEN_CHANNEL_TYPEHASH,
                a.payee,
                a.salt,
                a.deposit,
                a.fee,
                a.relayer,
                a.channelNonce,
                dirtyDeadline
            )
        );
        a.sig = PaymentSigner.signDigest(payerKey, _digest(structHash));
        bytes memory data = abi.encodeCall(IChannelEscrow.openChannelsBySig, (_list(a)));
        data = _dirty(data, 0, 10, 7, 1 << 200);
        bytes[] memory failures = _call(data);
        assertEq(failures[0], _nonCanonical(7));
        assertEq(escrow.balanceOf(payer), 10e18);
    }

    function test_openBySig_dirtySignerWord() external {
        _fund(payer, 10e18);
        bytes memory data = abi.encodeCall(IChannelEscrow.openChannelsBySig, (_list(_openAuth(payerKey, 1, 1e18, 0))));
        data = _dirty(data, 0, 10, 0, 1 << 160);
        assertEq(_call(data)[0], _nonCanonical(0));
    }

    function test_topUpBySig_dirtyChannelNonce() external {
        _openChannel(1, 1e18);
        _fund(payer, 1e18);
        bytes memory data = abi.encodeCall(IChannelEscrow.topUpsBySig, (_list(_topUpAuth(payerKey, 1, 2e18, 0))));
        data = _dirty(data, 0, 10, 6, 1 << 16);
        assertEq(_call(data)[0], _nonCanonical(6));
    }

    function test_requestCloseBySig_dirtyFee() external {
        _openChannel(1, 1e18);
        bytes memory data = abi.encodeCall(IChannelEscrow.requestClosesBySig, (_list(_closeAuth(payerKey, 1, 0))));
        data = _dirty(data, 0, 8, 3, 1 << 96);
        assertEq(_call(data)[0], _nonCanonical(3));
        assertEq(
            uint8(escrow.channel(escrow.channelId(payer, payee, 1)).state), uint8(IChannelEscrow.ChannelState.Open)
        );
    }

    function test_withdrawBySig_dirtyRecipient() external {
        _fund(payee, 2e18);
        bytes memory data =
            abi.encodeCall(IChannelEscrow.withdrawBySig, (_list(_withdrawAuth(payeeKey, payee, 1e18, 0, 0))));
        data = _dirty(data, 0, 9, 1, 1 << 255);
        assertEq(_call(data)[0], _nonCanonical(1));
        assertEq(escrow.balanceOf(payee), 2e18);
        assertEq(escrow.nonceOf(payee), 0);
    }

    function test_feeCapBySig_dirtyBps() external {
        bytes memory data = abi.encodeCall(IChannelEscrow.setSettleFeeCapsBySig, (_list(_feeCapAuth(payeeKey, 100, 0))));
        data = _dirty(data, 0, 7, 1, 1 << 16);
        assertEq(_call(data)[0], _nonCanonical(1));
        assertEq(_capOf(payee), 0);
    }

    function test_RevertWhen_cooperativeCloseHasDirtyField() external {
        _openChannel(1, 10e18);
        IChannelEscrow.CooperativeCloseAuth memory a =
            IChannelEscrow.CooperativeCloseAuth(payer, payee, 1, 4e18, 0, address(0), 0, _deadline());
        bytes memory data = abi.encodeCall(
            IChannelEscrow.cooperativeClose,
            (a, escrow.signCooperativeClose(payerKey, a), escrow.signCooperativeClose(payeeKey, a))
        );
        // The struct is inline right after the selector: field 3 (cumulative, uint96) at byte 4 + 3·32.
        assembly ("memory-safe") {
            let p := add(add(data, 0x20), add(4, 0x60))
            mstore(p, or(mload(p), shl(100, 1)))
        }
        (bool ok, bytes memory ret) = address(escrow).call(data);
        assertFalse(ok);
        assertEq(ret, _nonCanonical(3));
    }

    function testFuzz_openBySig_anyDirtyFieldSkipsOnlyItsEntry(uint256 field, uint256 bit) external {
        _fund(payer, 10e18);
        uint256[8] memory widths = [uint256(160), 160, 32, 96, 96, 160, 16, 40];
        field = bound(field, 0, 7);
        bit = bound(bit, widths[field], 255);
        IChannelEscrow.OpenAuth[] memory auths = new IChannelEscrow.OpenAuth[](2);
        auths[0] = _openAuth(payerKey, 1, 1e18, 0);
        auths[1] = _openAuth(payerKey, 2, 1e18, 0);
        bytes memory data = abi.encodeCall(IChannelEscrow.openChannelsBySig, (auths));
        data = _dirty(data, 0, 10, field, 1 << bit);
        bytes[] memory failures = _call(data);
        assertEq(failures[0], _nonCanonical(field));
        assertEq(failures[1].length, 0);
    }
}
