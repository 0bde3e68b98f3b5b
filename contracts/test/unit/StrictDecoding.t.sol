// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";
import {UnitTest} from "./UnitHelpers.sol";

/// @notice Signed entries are accepted only in their canonical ABI encoding. A word with bits above its
/// field's width (a "dirty" word) — whether a submitter dirtied an honestly signed entry or the signer
/// signed the dirty words themselves — skips that entry with `NonCanonicalField(field)` and nothing else:
/// the rest of the batch applies. (Read through Solidity's ABI decoder, one such entry reverted the batch.)
contract StrictDecodingTest is UnitTest {
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
        return _orWord(data, FIRST_ENTRY + (entry * words + field) * 32, bits);
    }

    /// @dev ORs `bits` into the word at byte `at` of `data`.
    function _orWord(bytes memory data, uint256 at, uint256 bits) private pure returns (bytes memory) {
        assembly ("memory-safe") {
            let p := add(add(data, 0x20), at)
            mstore(p, or(mload(p), bits))
        }
        return data;
    }

    /// @dev The one-entry batch call `data` with `bits` set in its entry's word `field` (of `words`): the
    /// entry is skipped as non-canonical in that field.
    function _assertDirtyFieldSkipped(bytes memory data, uint256 words, uint256 field, uint256 bits) private {
        assertEq(_call(_dirty(data, 0, words, field, bits))[0], _nonCanonical(field));
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
        bytes32 structHash = keccak256(_orWord(PaymentSigner.encodeOpen(a), 7 * 32, 1 << 200)); // dirty deadline
        a.sig = PaymentSigner.signDigest(payerKey, _digest(structHash));
        bytes memory data = abi.encodeCall(IChannelEscrow.openChannelsBySig, (_list(a)));
        data = _dirty(data, 0, 10, 7, 1 << 200);
        bytes[] memory failures = _call(data);
        assertEq(failures[0], _nonCanonical(7));
        assertEq(escrow.balanceOf(payer), 10e18);
    }

    function test_openBySig_dirtySignerWord() external {
        _fund(payer, 10e18);
        _assertDirtyFieldSkipped(
            abi.encodeCall(IChannelEscrow.openChannelsBySig, (_list(_openAuth(payerKey, 1, 1e18, 0)))), 10, 0, 1 << 160
        );
    }

    function test_topUpBySig_dirtyChannelNonce() external {
        _openChannel(1, 1e18);
        _fund(payer, 1e18);
        _assertDirtyFieldSkipped(
            abi.encodeCall(IChannelEscrow.topUpsBySig, (_list(_topUpAuth(payerKey, 1, 2e18, 0)))), 10, 6, 1 << 16
        );
    }

    function test_requestCloseBySig_dirtyFee() external {
        _openChannel(1, 1e18);
        _assertDirtyFieldSkipped(
            abi.encodeCall(IChannelEscrow.requestClosesBySig, (_list(_closeAuth(payerKey, 1, 0)))), 8, 3, 1 << 96
        );
        assertEq(
            uint8(escrow.channel(escrow.channelId(payer, payee, 1)).state), uint8(IChannelEscrow.ChannelState.Open)
        );
    }

    function test_withdrawBySig_dirtyRecipient() external {
        _fund(payee, 2e18);
        _assertDirtyFieldSkipped(
            abi.encodeCall(IChannelEscrow.withdrawBySig, (_list(_withdrawAuth(payeeKey, payee, 1e18, 0, 0)))),
            9,
            1,
            1 << 255
        );
        assertEq(escrow.balanceOf(payee), 2e18);
        assertEq(escrow.nonceOf(payee), 0);
    }

    function test_feeCapBySig_dirtyBps() external {
        _assertDirtyFieldSkipped(
            abi.encodeCall(IChannelEscrow.setSettleFeeCapsBySig, (_list(_feeCapAuth(payeeKey, 100, 0)))), 7, 1, 1 << 16
        );
        assertEq(_capOf(payee), 0);
    }

    function test_RevertWhen_cooperativeCloseHasDirtyField() external {
        _openChannel(1, 10e18);
        IChannelEscrow.CooperativeCloseAuth memory a = _cooperativeCloseAuth(1, 4e18, 0);
        (IChannelEscrow.CompactSignature memory payerSig, IChannelEscrow.CompactSignature memory payeeSig) =
            _cooperativeCloseSigs(escrow, a);
        bytes memory data = abi.encodeCall(IChannelEscrow.cooperativeClose, (a, payerSig, payeeSig));
        // The struct is inline right after the selector: field 3 (cumulative, uint96) at byte 4 + 3·32.
        _assertRevertAs(relayer, _orWord(data, 4 + 3 * 32, 1 << 100), _nonCanonical(3));
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
