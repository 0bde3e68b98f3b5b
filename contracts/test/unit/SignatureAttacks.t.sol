// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentHash} from "../../src/libraries/PaymentHash.sol";
import {deployEscrow} from "../utils/DeployEscrow.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";
import {UnitTest} from "./UnitHelpers.sol";

/// @notice Every signed message must be bound to its chain, its escrow, its exact terms and its signer,
/// and must not be usable twice.
contract SignatureAttacksTest is UnitTest {
    using PaymentSigner for IChannelEscrow;

    uint256 private constant OTHER_CHAIN = 4242;

    IChannelEscrow private other;
    IChannelEscrow private iother;
    /// @dev Kept in storage: the optimiser may re-read `block.chainid` after `vm.chainId` otherwise.
    uint256 private homeChain;

    function setUp() public override {
        super.setUp();
        // A second escrow on the same token, where the payer holds the same channel.
        other = deployEscrow(address(token), CHALLENGE_PERIOD);
        iother = IChannelEscrow(address(other));
        homeChain = block.chainid;
        token.approve(address(other), type(uint256).max);
    }

    function _oneReceipt(uint32 salt, uint96 cumulative, IChannelEscrow.CompactSignature memory sig)
        private
        view
        returns (bytes memory)
    {
        return bytes.concat(_header(payee, 0, 1), PaymentSigner.packReceipt(salt, cumulative, sig));
    }

    // ---------------------------------------------------------------------------------------------
    // Receipts
    // ---------------------------------------------------------------------------------------------

    function test_rejects_receiptReplayedOnAnotherChain() external {
        bytes32 id = _openChannel(1, 10e18);
        IChannelEscrow.CompactSignature memory sig = escrow.signReceipt(payerKey, payee, 1, 4e18);
        vm.chainId(OTHER_CHAIN); // the same escrow address on a fork
        bytes32 digest_ = _digest(PaymentHash.hashReceipt(payee, 1, 4e18));
        _assertReceiptSkipped(
            _oneReceipt(1, 4e18, sig),
            escrow.channelId(_recover(digest_, sig), payee, 1),
            IChannelEscrow.SettleOutcome.UnknownChannel
        );
        assertEq(escrow.balanceOf(payee), 0);
        _assertChannel(id, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
        // The very same receipt is good at home.
        vm.chainId(homeChain);
        assertEq(_settleAs(relayer, _oneReceipt(1, 4e18, sig)), _o(IChannelEscrow.SettleOutcome.Settled));
        assertEq(escrow.balanceOf(payee), 4e18);
    }

    function test_rejects_receiptSignedUnderForeignChainDomain() external {
        bytes32 id = _openChannel(1, 10e18);
        bytes32 foreign = _foreignDigest(OTHER_CHAIN, address(escrow), PaymentHash.hashReceipt(payee, 1, 4e18));
        IChannelEscrow.CompactSignature memory sig = PaymentSigner.signDigest(payerKey, foreign);
        assertEq(_settleAs(relayer, _oneReceipt(1, 4e18, sig)), _o(IChannelEscrow.SettleOutcome.UnknownChannel));
        assertEq(escrow.balanceOf(payee), 0);
        _assertChannel(id, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_rejects_receiptForAnotherEscrow() external {
        bytes32 id = _openChannel(1, 10e18);
        other.deposit(payer, 10e18);
        vm.prank(payer);
        other.openChannel(payee, 1, 10e18);
        IChannelEscrow.CompactSignature memory sig = iother.signReceipt(payerKey, payee, 1, 4e18);
        bytes memory batch = _oneReceipt(1, 4e18, sig);
        assertEq(_settleAs(relayer, batch), _o(IChannelEscrow.SettleOutcome.UnknownChannel));
        assertEq(escrow.balanceOf(payee), 0);
        _assertChannel(id, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
        // It pays where it was meant to.
        vm.prank(relayer);
        assertEq(other.settleBatch(batch), _o(IChannelEscrow.SettleOutcome.Settled));
        assertEq(other.balanceOf(payee), 4e18);
    }

    function test_rejects_receiptReplayedOnAnotherSalt() external {
        _openChannel(1, 10e18);
        bytes32 id2 = _openChannel(2, 10e18);
        IChannelEscrow.CompactSignature memory sig = escrow.signReceipt(payerKey, payee, 1, 4e18);
        assertEq(_settleAs(relayer, _oneReceipt(2, 4e18, sig)), _o(IChannelEscrow.SettleOutcome.UnknownChannel));
        _assertChannel(id2, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
        assertEq(escrow.balanceOf(payee), 0);
    }

    function test_rejects_receiptReplayedForAnotherPayee() external {
        address payee2 = makeAddr("payee2");
        _openChannel(1, 10e18);
        bytes32 id2 = _openChannelTo(payee2, 1, 10e18);
        IChannelEscrow.CompactSignature memory sig = escrow.signReceipt(payerKey, payee, 1, 4e18);
        bytes memory batch = bytes.concat(_header(payee2, 0, 1), PaymentSigner.packReceipt(1, 4e18, sig));
        assertEq(_settleAs(relayer, batch), _o(IChannelEscrow.SettleOutcome.UnknownChannel));
        _assertChannel(id2, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
        assertEq(escrow.balanceOf(payee2), 0);
    }

    function test_rejects_receiptSignedByNonPayer() external {
        bytes32 id = _openChannel(1, 10e18);
        bytes memory batch = bytes.concat(_header(payee, 0, 1), _entry(strangerKey, payee, 1, 4e18));
        _assertReceiptSkipped(batch, escrow.channelId(stranger, payee, 1), IChannelEscrow.SettleOutcome.UnknownChannel);
        _assertChannel(id, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_rejects_receiptSignedByPayeeItself() external {
        bytes32 id = _openChannel(1, 10e18);
        bytes memory batch = bytes.concat(_header(payee, 0, 1), _entry(payeeKey, payee, 1, 10e18));
        assertEq(_settleAs(payee, batch), _o(IChannelEscrow.SettleOutcome.UnknownChannel));
        _assertChannel(id, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
        assertEq(escrow.balanceOf(payee), 0);
    }

    function test_rejects_receiptOfClosedChannelReplayedOnNewSalt() external {
        bytes32 old = _openChannel(1, 10e18);
        IChannelEscrow.CompactSignature memory sig = escrow.signReceipt(payerKey, payee, 1, 4e18);
        _closeByPayee(1);
        bytes32 fresh = _openChannel(2, 10e18);
        assertEq(_settleAs(relayer, _oneReceipt(1, 4e18, sig)), _o(IChannelEscrow.SettleOutcome.ChannelClosed));
        assertEq(_settleAs(relayer, _oneReceipt(2, 4e18, sig)), _o(IChannelEscrow.SettleOutcome.UnknownChannel));
        _assertChannel(old, 10e18, 0, 0, IChannelEscrow.ChannelState.Closed);
        _assertChannel(fresh, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_rejects_receiptHighS() external {
        bytes32 digest_ = _digest(PaymentHash.hashReceipt(payee, 5, 2e18));
        (address signer, IChannelEscrow.CompactSignature memory high,) = _highSPair(digest_);
        _fund(signer, 5e18);
        vm.prank(signer);
        bytes32 id = escrow.openChannel(payee, 5, 5e18);
        assertEq(_settleAs(relayer, _oneReceipt(5, 2e18, high)), _o(IChannelEscrow.SettleOutcome.MalleableSignature));
        _assertChannel(id, 5e18, 0, 0, IChannelEscrow.ChannelState.Open);
    }

    // ---------------------------------------------------------------------------------------------
    // Open authorisations
    // ---------------------------------------------------------------------------------------------

    /// @dev The payer (funded with 10e18) submits open `a`, whose signature is not the payer's over a's terms:
    /// refused with InvalidSigner naming whoever it recovers to, and nothing is taken.
    function _assertOpenRefusedAsForged(IChannelEscrow.OpenAuth memory a) private {
        bytes[] memory failures = escrow.openChannelsBySig(_list(a));
        assertEq(failures[0], _signerMismatch(_openHash(a), a.sig, payer));
        assertEq(escrow.balanceOf(payer), 10e18);
    }

    function test_rejects_openAuthReplayedOnAnotherChain() external {
        _fund(payer, 10e18);
        IChannelEscrow.OpenAuth memory a = _openAuth(payerKey, 1, 1e18, 0);
        vm.chainId(OTHER_CHAIN);
        address recovered = _recover(_digest(_openHash(a)), a.sig);
        assertTrue(recovered != payer);
        bytes memory reason = _invalidSigner(recovered, payer);
        _assertSkippedAs(address(this), abi.encodeCall(IChannelEscrow.openChannelsBySig, (_list(a))), reason);
        _assertChannel(escrow.channelId(payer, payee, 1), 0, 0, 0, IChannelEscrow.ChannelState.None);
        assertEq(escrow.balanceOf(payer), 10e18);
    }

    function test_rejects_openAuthForAnotherEscrow() external {
        _fund(payer, 10e18);
        IChannelEscrow.OpenAuth memory a = iother.signOpen(
            payerKey, IChannelEscrow.OpenAuth(payer, payee, 1, 1e18, 0, address(0), 0, _deadline(), _noSig())
        );
        _assertOpenRefusedAsForged(a);
    }

    function test_rejects_openAuthSignedUnderForeignDomain() external {
        _fund(payer, 10e18);
        IChannelEscrow.OpenAuth memory a =
            IChannelEscrow.OpenAuth(payer, payee, 1, 1e18, 0, address(0), 0, _deadline(), _noSig());
        a.sig = PaymentSigner.signDigest(payerKey, _foreignDigest(block.chainid, address(other), _openHash(a)));
        _assertOpenRefusedAsForged(a);
    }

    function test_rejects_openAuthReplayed() external {
        _fund(payer, 10e18);
        IChannelEscrow.OpenAuth[] memory auths = _list(_openAuth(payerKey, 1, 1e18, 1e15));
        vm.prank(relayer);
        escrow.openChannelsBySig(auths);
        bytes32 id = escrow.channelId(payer, payee, 1);
        bytes memory reason = abi.encodeWithSelector(IChannelEscrow.ChannelExists.selector, id);
        _assertSkippedAs(relayer, abi.encodeCall(IChannelEscrow.openChannelsBySig, (auths)), reason);
        _assertChannel(id, 1e18, 0, 0, IChannelEscrow.ChannelState.Open);
        assertEq(escrow.balanceOf(payer), 9e18 - 1e15);
        assertEq(escrow.balanceOf(relayer), 1e15);
    }

    function test_rejects_openAuthExpired() external {
        _fund(payer, 10e18);
        IChannelEscrow.OpenAuth memory a = _openAuth(payerKey, 1, 1e18, 0);
        vm.warp(a.deadline + 1);
        bytes[] memory failures = escrow.openChannelsBySig(_list(a));
        assertEq(failures[0], _expired(a.deadline));
        assertEq(escrow.balanceOf(payer), 10e18);
    }

    function test_openAuth_validAtExactDeadline() external {
        _fund(payer, 10e18);
        IChannelEscrow.OpenAuth memory a = _openAuth(payerKey, 1, 1e18, 0);
        vm.warp(a.deadline);
        bytes[] memory failures = escrow.openChannelsBySig(_list(a));
        assertEq(failures[0].length, 0);
        assertEq(escrow.balanceOf(payer), 9e18);
    }

    function test_rejects_openAuthSignerNotPayer() external {
        _fund(payer, 10e18);
        IChannelEscrow.OpenAuth memory a = _openAuth(strangerKey, 1, 1e18, 0);
        a.payer = payer;
        bytes[] memory failures = escrow.openChannelsBySig(_list(a));
        assertEq(failures[0], _invalidSigner(stranger, payer));
        assertEq(escrow.balanceOf(payer), 10e18);
    }

    function test_rejects_openAuthTamperedDeposit() external {
        _fund(payer, 10e18);
        IChannelEscrow.OpenAuth memory a = _openAuth(payerKey, 1, 1e18, 0);
        a.deposit = 9e18;
        _assertOpenRefusedAsForged(a);
    }

    function test_rejects_openAuthHighS() external {
        IChannelEscrow.OpenAuth memory a =
            IChannelEscrow.OpenAuth(address(0), payee, 1, 1e18, 0, address(0), 0, _deadline(), _noSig());
        (address signer, IChannelEscrow.CompactSignature memory high, IChannelEscrow.CompactSignature memory low) =
            _highSPair(_digest(_openHash(a)));
        _fund(signer, 10e18);
        a.payer = signer;
        a.sig = high;
        bytes memory reason = _invalidSigner(address(0), signer);
        bytes[] memory failures =
            _assertSkippedAs(address(this), abi.encodeCall(IChannelEscrow.openChannelsBySig, (_list(a))), reason);
        assertEq(escrow.balanceOf(signer), 10e18);
        // The low-s twin of the same signature is the one that counts.
        a.sig = low;
        failures = escrow.openChannelsBySig(_list(a));
        assertEq(failures[0].length, 0);
        _assertChannel(escrow.channelId(signer, payee, 1), 1e18, 0, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_rejects_openAuthMalleatedRealSignature() external {
        _fund(payer, 10e18);
        IChannelEscrow.OpenAuth memory a = _openAuth(payerKey, 1, 1e18, 0);
        a.sig = _malleate(a.sig);
        _assertOpenRefusedAsForged(a);
    }

    /// @dev Typed data separates message kinds: a receipt signature is no open authorisation.
    function test_rejects_receiptSignatureUsedAsOpenAuth() external {
        _fund(payer, 10e18);
        IChannelEscrow.OpenAuth memory a =
            IChannelEscrow.OpenAuth(payer, payee, 1, 1e18, 0, address(0), 0, _deadline(), _noSig());
        a.sig = escrow.signReceipt(payerKey, payee, 1, 1e18);
        _assertOpenRefusedAsForged(a);
    }

    // ---------------------------------------------------------------------------------------------
    // Top-up, close, withdrawal and fee-cap authorisations
    // ---------------------------------------------------------------------------------------------

    /// @dev Top-up `a` of the payer's channel 1 (opened with 5e18, another 5e18 free) must be refused with
    /// `reason`: the channel keeps its deposit and nothing is taken from the payer.
    function _assertTopUpRefused(IChannelEscrow.TopUpAuth memory a, bytes memory reason) private {
        bytes[] memory failures = escrow.topUpsBySig(_list(a));
        assertEq(failures[0], reason);
        _assertChannel(escrow.channelId(payer, payee, 1), 5e18, 0, 0, IChannelEscrow.ChannelState.Open);
        assertEq(escrow.balanceOf(payer), 5e18);
    }

    function test_rejects_topUpAuthReplayedOnAnotherChain() external {
        _openChannel(1, 5e18);
        _fund(payer, 5e18);
        IChannelEscrow.TopUpAuth memory a = _topUpAuth(payerKey, 1, 8e18, 0);
        vm.chainId(OTHER_CHAIN);
        _assertTopUpRefused(a, _signerMismatch(_topUpHash(a), a.sig, payer));
    }

    function test_rejects_topUpAuthSignerNotPayer() external {
        _openChannel(1, 5e18);
        _fund(payer, 5e18);
        IChannelEscrow.TopUpAuth memory a = _topUpAuth(payeeKey, 1, 8e18, 0);
        a.payer = payer;
        _assertTopUpRefused(a, _invalidSigner(payee, payer));
    }

    function test_rejects_topUpAuthExpired() external {
        _openChannel(1, 5e18);
        _fund(payer, 5e18);
        IChannelEscrow.TopUpAuth memory a = _topUpAuth(payerKey, 1, 8e18, 0);
        vm.warp(a.deadline + 1);
        _assertTopUpRefused(a, _expired(a.deadline));
    }

    /// @dev Close request `a` for the payer's channel 1 (opened with 5e18) must be refused with `reason`: the
    /// channel stays open, with no challenge window started.
    function _assertCloseRefused(IChannelEscrow.CloseAuth memory a, bytes memory reason) private {
        bytes[] memory failures = escrow.requestClosesBySig(_list(a));
        assertEq(failures[0], reason);
        _assertChannel(escrow.channelId(payer, payee, 1), 5e18, 0, 0, IChannelEscrow.ChannelState.Open);
    }

    function test_rejects_closeAuthReplayedOnAnotherChain() external {
        _openChannel(1, 5e18);
        IChannelEscrow.CloseAuth memory a = _closeAuth(payerKey, 1, 0);
        vm.chainId(OTHER_CHAIN);
        _assertCloseRefused(a, _signerMismatch(_closeHash(a), a.sig, payer));
    }

    /// @dev The payee cannot start the payer's unilateral close with its own signature.
    function test_rejects_closeAuthSignerNotPayer() external {
        _openChannel(1, 5e18);
        IChannelEscrow.CloseAuth memory a = _closeAuth(payeeKey, 1, 0);
        a.payer = payer;
        _assertCloseRefused(a, _invalidSigner(payee, payer));
    }

    function test_rejects_closeAuthExpired() external {
        _openChannel(1, 5e18);
        IChannelEscrow.CloseAuth memory a = _closeAuth(payerKey, 1, 0);
        vm.warp(a.deadline + 1);
        _assertCloseRefused(a, _expired(a.deadline));
    }

    /// @dev The payer (funded with 10e18) submits withdrawal `a`, which must be refused with `reason`: nothing
    /// leaves the payer's balance and its nonce stays unused.
    function _assertWithdrawRefused(IChannelEscrow.WithdrawAuth memory a, bytes memory reason) private {
        bytes[] memory failures = escrow.withdrawBySig(_list(a));
        assertEq(failures[0], reason);
        assertEq(escrow.nonceOf(payer), 0);
        assertEq(escrow.balanceOf(payer), 10e18);
    }

    function test_rejects_withdrawAuthReplayed() external {
        _fund(payer, 10e18);
        IChannelEscrow.WithdrawAuth[] memory auths = _list(_withdrawAuth(payerKey, stranger, 1e18, 0, 0));
        escrow.withdrawBySig(auths);
        bytes memory reason = abi.encodeWithSelector(IChannelEscrow.InvalidNonce.selector, payer, 1, 0);
        _assertSkippedAs(address(this), abi.encodeCall(IChannelEscrow.withdrawBySig, (auths)), reason);
        assertEq(token.balanceOf(stranger), 1e18);
        assertEq(escrow.balanceOf(payer), 9e18);
    }

    function test_rejects_withdrawAuthReplayedOnAnotherEscrow() external {
        _fund(payer, 10e18);
        other.deposit(payer, 10e18);
        IChannelEscrow.WithdrawAuth[] memory auths = _list(_withdrawAuth(payerKey, stranger, 1e18, 0, 0));
        escrow.withdrawBySig(auths);
        bytes[] memory failures = other.withdrawBySig(auths);
        // Same nonce (0) on both escrows: only the domain keeps it from paying twice.
        address recovered = _recover(PaymentSigner.digest(iother, _withdrawHash(auths[0])), auths[0].sig);
        assertEq(failures[0], _invalidSigner(recovered, payer));
        assertEq(other.balanceOf(payer), 10e18);
        assertEq(token.balanceOf(stranger), 1e18);
    }

    function test_rejects_withdrawAuthReplayedOnAnotherChain() external {
        _fund(payer, 10e18);
        IChannelEscrow.WithdrawAuth memory a = _withdrawAuth(payerKey, stranger, 1e18, 0, 0);
        vm.chainId(OTHER_CHAIN);
        _assertWithdrawRefused(a, _signerMismatch(_withdrawHash(a), a.sig, payer));
    }

    function test_rejects_withdrawAuthRedirected() external {
        _fund(payer, 10e18);
        IChannelEscrow.WithdrawAuth memory a = _withdrawAuth(payerKey, payer, 1e18, 0, 0);
        a.to = stranger;
        _assertWithdrawRefused(a, _signerMismatch(_withdrawHash(a), a.sig, payer));
        assertEq(token.balanceOf(stranger), 0);
    }

    function test_rejects_withdrawAuthSignerNotOwner() external {
        _fund(payer, 10e18);
        IChannelEscrow.WithdrawAuth memory a = _withdrawAuth(strangerKey, stranger, 1e18, 0, 0);
        a.owner = payer;
        _assertWithdrawRefused(a, _invalidSigner(stranger, payer));
    }

    function test_rejects_withdrawAuthExpired() external {
        _fund(payer, 10e18);
        IChannelEscrow.WithdrawAuth memory a = _withdrawAuth(payerKey, payer, 1e18, 0, 0);
        vm.warp(a.deadline + 1);
        _assertWithdrawRefused(a, _expired(a.deadline));
    }

    function test_rejects_withdrawAuthHighS() external {
        IChannelEscrow.WithdrawAuth memory a =
            IChannelEscrow.WithdrawAuth(address(0), stranger, 1e18, 0, address(0), 0, _deadline(), _noSig());
        (address signer, IChannelEscrow.CompactSignature memory high, IChannelEscrow.CompactSignature memory low) =
            _highSPair(_digest(_withdrawHash(a)));
        _fund(signer, 10e18);
        a.owner = signer;
        a.sig = high;
        bytes[] memory failures = escrow.withdrawBySig(_list(a));
        assertEq(failures[0], _invalidSigner(address(0), signer));
        assertEq(escrow.nonceOf(signer), 0);
        a.sig = low;
        failures = escrow.withdrawBySig(_list(a));
        assertEq(failures[0].length, 0);
        assertEq(token.balanceOf(stranger), 1e18);
    }

    /// @dev Fee cap `a` for the payee must be refused with `reason`: the payee's cap stays 0.
    function _assertFeeCapRefused(IChannelEscrow.SettleFeeCapAuth memory a, bytes memory reason) private {
        bytes[] memory failures = escrow.setSettleFeeCapsBySig(_list(a));
        assertEq(failures[0], reason);
        assertEq(_capOf(payee), 0);
    }

    function test_rejects_feeCapAuthReplayedOnAnotherChain() external {
        IChannelEscrow.SettleFeeCapAuth memory a = _feeCapAuth(payeeKey, 10_000, 0);
        vm.chainId(OTHER_CHAIN);
        _assertFeeCapRefused(a, _signerMismatch(_feeCapHash(a), a.sig, payee));
    }

    /// @dev A relayer cannot raise its own allowance: only the payee's signature sets the payee's cap.
    function test_rejects_feeCapAuthSignedByRelayer() external {
        (address relayer2, uint256 relayer2Key) = makeAddrAndKey("relayer2");
        IChannelEscrow.SettleFeeCapAuth memory a = _feeCapAuth(relayer2Key, 10_000, 0);
        a.payee = payee;
        _assertFeeCapRefused(a, _invalidSigner(relayer2, payee));
    }

    function test_rejects_feeCapAuthExpired() external {
        IChannelEscrow.SettleFeeCapAuth memory a = _feeCapAuth(payeeKey, 100, 0);
        vm.warp(a.deadline + 1);
        _assertFeeCapRefused(a, _expired(a.deadline));
    }

    // ---------------------------------------------------------------------------------------------
    // Cooperative close
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_cooperativeCloseReplayedOnAnotherChain() external {
        _openChannel(1, 10e18);
        IChannelEscrow.CooperativeCloseAuth memory a = _cooperativeCloseAuth(1, 10e18, 0);
        (IChannelEscrow.CompactSignature memory payerSig, IChannelEscrow.CompactSignature memory payeeSig) =
            _cooperativeCloseSigs(escrow, a);
        vm.chainId(OTHER_CHAIN);
        vm.expectRevert(_signerMismatch(PaymentSigner.hashCooperativeClose(a), payerSig, payer));
        escrow.cooperativeClose(a, payerSig, payeeSig);
    }

    function test_RevertWhen_cooperativeCloseSigsReusedOnAnotherSalt() external {
        _openChannel(1, 10e18);
        _openChannel(2, 10e18);
        IChannelEscrow.CooperativeCloseAuth memory a = _cooperativeCloseAuth(1, 10e18, 0);
        (IChannelEscrow.CompactSignature memory payerSig, IChannelEscrow.CompactSignature memory payeeSig) =
            _cooperativeCloseSigs(escrow, a);
        a.salt = 2;
        vm.expectRevert(_signerMismatch(PaymentSigner.hashCooperativeClose(a), payerSig, payer));
        escrow.cooperativeClose(a, payerSig, payeeSig);
    }

    function test_RevertWhen_cooperativeCloseForAnotherEscrow() external {
        _openChannel(1, 10e18);
        IChannelEscrow.CooperativeCloseAuth memory a = _cooperativeCloseAuth(1, 10e18, 0);
        (IChannelEscrow.CompactSignature memory payerSig, IChannelEscrow.CompactSignature memory payeeSig) =
            _cooperativeCloseSigs(iother, a);
        vm.expectRevert(_signerMismatch(PaymentSigner.hashCooperativeClose(a), payerSig, payer));
        escrow.cooperativeClose(a, payerSig, payeeSig);
    }

    function test_RevertWhen_cooperativeClosePayerSigHighS() external {
        _openChannel(1, 10e18);
        IChannelEscrow.CooperativeCloseAuth memory a = _cooperativeCloseAuth(1, 10e18, 0);
        IChannelEscrow.CompactSignature memory high = IChannelEscrow.CompactSignature(GX, bytes32(HALF_N + 1));
        IChannelEscrow.CompactSignature memory payeeSig = escrow.signCooperativeClose(payeeKey, a);
        // High s is refused before any comparison: it recovers to nobody.
        vm.expectRevert(_invalidSigner(address(0), payer));
        escrow.cooperativeClose(a, high, payeeSig);
    }

    function test_RevertWhen_cooperativeClosePayeeSigHighS() external {
        _openChannel(1, 10e18);
        IChannelEscrow.CooperativeCloseAuth memory a = _cooperativeCloseAuth(1, 10e18, 0);
        IChannelEscrow.CompactSignature memory payerSig = escrow.signCooperativeClose(payerKey, a);
        IChannelEscrow.CompactSignature memory high = IChannelEscrow.CompactSignature(GX, bytes32(HALF_N + 1));
        vm.expectRevert(_invalidSigner(address(0), payee));
        escrow.cooperativeClose(a, payerSig, high);
    }
}
