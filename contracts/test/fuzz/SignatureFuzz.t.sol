// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentHash} from "../../src/libraries/PaymentHash.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";
import {EscrowFuzzBase} from "./EscrowFuzzBase.sol";

/// @notice Only the payer's own canonical (low-s) signature moves its channel.
contract SignatureFuzzTest is EscrowFuzzBase {
    using PaymentSigner for IChannelEscrow;

    uint32 internal constant SALT = 3;
    /// @dev secp256k1n − 2^255: a low `s` above this has a high-s twin n − s that still fits the 255 bits
    /// EIP-2098 leaves for `s`, i.e. a malleable twin that a compact signature can actually carry.
    uint256 internal constant TWIN_FITS_ABOVE = SECP256K1_ORDER - (1 << 255);

    /// @dev A receipt signed by any other key never settles the payer's channel; if the signer happens to
    /// have its own channel to the payee under that salt, it settles that one instead.
    function testFuzz_settle_otherKeyNeverSettlesPayersChannel(
        uint256 otherKeySeed,
        uint96 deposit,
        uint256 cumulativeSeed,
        bool signerHasChannel
    ) external {
        uint256 otherKey = _otherKey(otherKeySeed, payerKey);
        address other = vm.addr(otherKey);
        deposit = uint96(bound(deposit, 1, MAX_U96 / 2));
        uint96 cumulative = uint96(bound(cumulativeSeed, 1, uint256(deposit) * 2));
        bytes32 id = _openChannel(SALT, deposit);
        bytes32 otherId = escrow.channelId(other, payee, SALT);
        signerHasChannel = signerHasChannel && other != payee;
        if (signerHasChannel) {
            _fund(other, deposit);
            vm.prank(other);
            escrow.openChannel(payee, SALT, deposit);
        }
        Snapshot memory before = _snapshot(id);

        IChannelEscrow.SettleOutcome outcome = _settleAs(relayer, otherKey, SALT, cumulative, 0);

        assertEq(abi.encode(escrow.channel(id)), abi.encode(before.channel), "payer's channel untouched");
        assertEq(escrow.balanceOf(payer), before.payerFree, "payer untouched");
        if (signerHasChannel) {
            assertEq(uint8(outcome), uint8(IChannelEscrow.SettleOutcome.Settled), "settles the signer's channel");
            assertEq(escrow.channel(otherId).settled, _min(cumulative, deposit), "signer's channel settled");
        } else {
            assertEq(uint8(outcome), uint8(IChannelEscrow.SettleOutcome.UnknownChannel), "no channel of the signer");
            _assertUnchanged(before, id, "foreign receipt changed state");
        }
    }

    /// @dev Arbitrary signature bytes never settle the payer's channel.
    function testFuzz_settle_arbitrarySignatureNeverSettles(
        uint96 deposit,
        uint256 cumulativeSeed,
        bytes32 r,
        bytes32 vs
    ) external {
        deposit = uint96(bound(deposit, 1, MAX_U96));
        uint96 cumulative = uint96(bound(cumulativeSeed, 1, MAX_U96));
        bytes32 id = _openChannel(SALT, deposit);
        Snapshot memory before = _snapshot(id);

        IChannelEscrow.SettleOutcome outcome =
            _settleRaw(SALT, cumulative, IChannelEscrow.CompactSignature({r: r, vs: vs}));

        assertTrue(outcome != IChannelEscrow.SettleOutcome.Settled, "forged receipt settled");
        _assertUnchanged(before, id, "forged receipt changed state");
    }

    /// @dev The payer's own r with any high s (either parity) is refused as malleable.
    function testFuzz_settle_rejectsAnyHighS(uint96 deposit, uint256 cumulativeSeed, uint256 sSeed, bool parity)
        external
    {
        deposit = uint96(bound(deposit, 1, MAX_U96));
        uint96 cumulative = uint96(bound(cumulativeSeed, 1, MAX_U96));
        bytes32 id = _openChannel(SALT, deposit);
        IChannelEscrow.CompactSignature memory sig = escrow.signReceipt(payerKey, payee, SALT, cumulative);
        uint256 highS = bound(sSeed, HALF_ORDER + 1, (1 << 255) - 1);
        Snapshot memory before = _snapshot(id);

        IChannelEscrow.SettleOutcome outcome =
            _settleRaw(SALT, cumulative, IChannelEscrow.CompactSignature({r: sig.r, vs: _vs(parity ? 28 : 27, highS)}));

        assertEq(uint8(outcome), uint8(IChannelEscrow.SettleOutcome.MalleableSignature), "high s refused");
        _assertUnchanged(before, id, "high-s receipt changed state");
        assertEq(uint8(_settleRaw(SALT, cumulative, sig)), uint8(IChannelEscrow.SettleOutcome.Settled), "low s ok");
    }

    /// @dev The true malleable twin — (r, n − s, flipped parity), which recovers the very same payer — is
    /// refused, while the canonical form settles. The payer is whoever (r, s) recovers to for this receipt,
    /// with s chosen so that the twin fits a compact signature.
    function testFuzz_settle_rejectsMalleableTwinOfPayersSignature(
        uint256 rKeySeed,
        uint256 sSeed,
        bool parity,
        uint96 deposit,
        uint256 cumulativeSeed
    ) external {
        deposit = uint96(bound(deposit, 1, MAX_U96));
        uint96 cumulative = uint96(bound(cumulativeSeed, 1, MAX_U96));
        bytes32 digest = escrow.digest(PaymentHash.hashReceipt(payee, SALT, cumulative));
        (IChannelEscrow.CompactSignature memory low, IChannelEscrow.CompactSignature memory twin, address signer) =
            _signatureAndTwin(digest, rKeySeed, sSeed, parity);
        _fund(signer, deposit);
        vm.prank(signer);
        bytes32 id = escrow.openChannel(payee, SALT, deposit);
        Snapshot memory before = _snapshot(id);

        assertEq(
            uint8(_settleRaw(SALT, cumulative, twin)),
            uint8(IChannelEscrow.SettleOutcome.MalleableSignature),
            "malleable twin refused"
        );
        _assertUnchanged(before, id, "malleable twin changed state");
        assertEq(uint8(_settleRaw(SALT, cumulative, low)), uint8(IChannelEscrow.SettleOutcome.Settled), "low s ok");
        assertEq(escrow.channel(id).settled, _min(cumulative, deposit), "canonical form settles");
    }

    /// @dev Signed operations go through OpenZeppelin's ECDSA, which also refuses the malleable twin.
    function testFuzz_openBySig_rejectsMalleableTwin(uint256 rKeySeed, uint256 sSeed, bool parity, uint96 deposit)
        external
    {
        deposit = uint96(bound(deposit, 1, MAX_U96));
        uint40 deadline = _deadline();
        bytes32 digest = escrow.digest(
            keccak256(
                abi.encode(
                    PaymentHash.OPEN_CHANNEL_TYPEHASH, payee, SALT, deposit, uint96(0), address(0), uint16(0), deadline
                )
            )
        );
        (IChannelEscrow.CompactSignature memory low, IChannelEscrow.CompactSignature memory twin, address signer) =
            _signatureAndTwin(digest, rKeySeed, sSeed, parity);
        _fund(signer, deposit);
        bytes32 id = escrow.channelId(signer, payee, SALT);

        IChannelEscrow.OpenAuth[] memory auths = new IChannelEscrow.OpenAuth[](1);
        auths[0] = IChannelEscrow.OpenAuth(signer, payee, SALT, deposit, 0, address(0), 0, deadline, twin);
        vm.prank(relayer);
        assertEq(
            escrow.openChannelsBySig(auths)[0],
            abi.encodeWithSelector(IChannelEscrow.InvalidSigner.selector, address(0), signer),
            "malleable twin refused"
        );
        assertEq(uint8(escrow.channel(id).state), uint8(IChannelEscrow.ChannelState.None), "not opened");

        auths[0].sig = low;
        vm.prank(relayer);
        assertEq(escrow.openChannelsBySig(auths)[0], "", "canonical form opens");
        assertEq(escrow.channel(id).deposit, deposit, "opened");
    }

    /// @dev An open authorisation signed by anyone but the payer is refused and costs the payer nothing.
    function testFuzz_openBySig_rejectsOtherSigner(uint256 otherKeySeed, uint96 deposit) external {
        uint256 otherKey = _otherKey(otherKeySeed, payerKey);
        deposit = uint96(bound(deposit, 1, MAX_U96));
        _fund(payer, deposit);
        bytes32 id = escrow.channelId(payer, payee, SALT);
        Snapshot memory before = _snapshot(id);

        IChannelEscrow.OpenAuth[] memory auths = new IChannelEscrow.OpenAuth[](1);
        auths[0] = escrow.signOpen(
            otherKey, IChannelEscrow.OpenAuth(payer, payee, SALT, deposit, 0, address(0), 0, _deadline(), _noSig())
        );
        vm.prank(relayer);
        assertEq(
            escrow.openChannelsBySig(auths)[0],
            abi.encodeWithSelector(IChannelEscrow.InvalidSigner.selector, vm.addr(otherKey), payer),
            "other signer refused"
        );
        _assertUnchanged(before, id, "foreign open changed state");
    }

    /// @dev A cooperative close needs the payer's and the payee's signatures; any other key for either reverts.
    function testFuzz_cooperativeClose_rejectsOtherSigner(uint256 otherKeySeed, bool replacePayer, uint96 deposit)
        external
    {
        deposit = uint96(bound(deposit, 1, MAX_U96));
        uint256 replaced = replacePayer ? payerKey : payeeKey;
        uint256 otherKey = _otherKey(otherKeySeed, replaced);
        bytes32 id = _openChannel(SALT, deposit);
        Snapshot memory before = _snapshot(id);
        IChannelEscrow.CooperativeCloseAuth memory auth = _cooperativeCloseAuth(SALT, deposit, 0);
        IChannelEscrow.CompactSignature memory payerSig =
            escrow.signCooperativeClose(replacePayer ? otherKey : payerKey, auth);
        IChannelEscrow.CompactSignature memory payeeSig =
            escrow.signCooperativeClose(replacePayer ? payeeKey : otherKey, auth);

        vm.expectRevert(
            abi.encodeWithSelector(
                IChannelEscrow.InvalidSigner.selector, vm.addr(otherKey), replacePayer ? payer : payee
            )
        );
        escrow.cooperativeClose(auth, payerSig, payeeSig);
        _assertUnchanged(before, id, "foreign cooperative close changed state");
    }

    /// @dev A valid key other than `avoid`.
    function _otherKey(uint256 seed, uint256 avoid) internal pure returns (uint256 key) {
        key = boundPrivateKey(seed);
        if (key == avoid) key = key == SECP256K1_ORDER - 1 ? 1 : key + 1;
    }

    /// @dev A canonical signature of `digest` whose malleable twin fits a compact signature, that twin, and
    /// the address both recover to. r is the x of a real point (from signing with a fuzzed key).
    function _signatureAndTwin(bytes32 digest, uint256 rKeySeed, uint256 sSeed, bool parity)
        internal
        pure
        returns (
            IChannelEscrow.CompactSignature memory low,
            IChannelEscrow.CompactSignature memory twin,
            address signer
        )
    {
        (, bytes32 r,) = vm.sign(boundPrivateKey(rKeySeed), digest);
        uint256 lowS = bound(sSeed, TWIN_FITS_ABOVE + 1, HALF_ORDER);
        uint256 highS = SECP256K1_ORDER - lowS;
        uint8 v = parity ? 28 : 27;
        signer = ecrecover(digest, v, r, bytes32(lowS));
        assertTrue(signer != address(0), "low-s form recovers");
        assertEq(ecrecover(digest, 55 - v, r, bytes32(highS)), signer, "twin recovers the same signer");
        assertLt(highS, 1 << 255, "twin fits 255 bits");
        low = IChannelEscrow.CompactSignature({r: r, vs: _vs(v, lowS)});
        twin = IChannelEscrow.CompactSignature({r: r, vs: _vs(55 - v, highS)});
    }

    function _vs(uint8 v, uint256 s) internal pure returns (bytes32) {
        return bytes32(s | (uint256(v - 27) << 255));
    }

    function _settleRaw(uint32 salt, uint96 cumulative, IChannelEscrow.CompactSignature memory sig)
        internal
        returns (IChannelEscrow.SettleOutcome)
    {
        bytes memory batch = bytes.concat(
            PaymentSigner.groupHeader(payee, 0, 1), PaymentSigner.packReceipt(salt, cumulative, sig)
        );
        vm.prank(relayer);
        return IChannelEscrow.SettleOutcome(uint8(escrow.settleBatch(batch)[0]));
    }
}
