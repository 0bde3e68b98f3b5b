// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";
import {UnitTest} from "./UnitHelpers.sol";

contract SettleFeeCapTest is UnitTest {
    using PaymentSigner for IChannelEscrow;

    // ---------------------------------------------------------------------------------------------
    // setSettleFeeCap
    // ---------------------------------------------------------------------------------------------

    function test_setSettleFeeCap_setsAndEmits() external {
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.SettleFeeCapSet(payee, 250, relayer);
        vm.prank(payee);
        escrow.setSettleFeeCap(250, relayer);
        assertEq(_capOf(payee), 250);
        assertEq(escrow.nonceOf(payee), 0);
    }

    function test_setSettleFeeCap_canBeLoweredToZero() external {
        vm.startPrank(payee);
        escrow.setSettleFeeCap(250, relayer);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.SettleFeeCapSet(payee, 0, relayer);
        escrow.setSettleFeeCap(0, relayer);
        vm.stopPrank();
        assertEq(_capOf(payee), 0);
    }

    function test_setSettleFeeCap_hundredPercent() external {
        vm.prank(payee);
        escrow.setSettleFeeCap(10_000, relayer);
        assertEq(_capOf(payee), 10_000);
    }

    function test_setSettleFeeCap_keepsBalance() external {
        _fund(payee, 3e18);
        vm.prank(payee);
        escrow.setSettleFeeCap(1, relayer);
        assertEq(escrow.balanceOf(payee), 3e18);
    }

    function test_RevertWhen_feeCapAboveHundredPercent() external {
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.FeeCapTooHigh.selector, 10_001));
        vm.prank(payee);
        escrow.setSettleFeeCap(10_001, relayer);
    }

    function test_RevertWhen_feeCapMaxUint16() external {
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.FeeCapTooHigh.selector, type(uint16).max));
        vm.prank(payee);
        escrow.setSettleFeeCap(type(uint16).max, relayer);
    }

    /// @dev Lowering the cap stops a relayer from claiming the old rate.
    function test_setSettleFeeCap_loweringRejectsPendingFeeClaims() external {
        _openChannel(1, 10e18);
        vm.prank(payee);
        escrow.setSettleFeeCap(100, relayer);
        vm.prank(payee);
        escrow.setSettleFeeCap(50, relayer);
        bytes memory batch = escrow.singleReceiptBatch(payerKey, payee, 1, 1e18, 100);
        vm.prank(relayer);
        bytes memory outcomes = escrow.settleBatch(batch);
        assertEq(uint8(outcomes[0]), uint8(IChannelEscrow.SettleOutcome.FeeAboveCap));
        assertEq(escrow.balanceOf(relayer), 0);
    }

    function test_setSettleFeeCap_namesTheRelayer() external {
        vm.prank(payee);
        escrow.setSettleFeeCap(250, relayer);
        (uint16 bps, address named) = escrow.settleFeeCapOf(payee);
        assertEq(bps, 250);
        assertEq(named, relayer);
        vm.prank(payee);
        escrow.setSettleFeeCap(250, stranger);
        (, named) = escrow.settleFeeCapOf(payee);
        assertEq(named, stranger, "renamed");
    }

    function test_setSettleFeeCap_zeroRelayerNamesNobody() external {
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.SettleFeeCapSet(payee, 100, address(0));
        vm.prank(payee);
        escrow.setSettleFeeCap(100, address(0));
        (uint16 bps, address named) = escrow.settleFeeCapOf(payee);
        assertEq(bps, 100);
        assertEq(named, address(0));
    }

    /// @dev Two payees naming the same relayer share its id; each keeps its own cap.
    function test_setSettleFeeCap_sameRelayerForSeveralPayees() external {
        vm.prank(payee);
        escrow.setSettleFeeCap(100, relayer);
        vm.prank(stranger);
        escrow.setSettleFeeCap(300, relayer);
        (uint16 a, address ra) = escrow.settleFeeCapOf(payee);
        (uint16 b, address rb) = escrow.settleFeeCapOf(stranger);
        assertEq(a, 100);
        assertEq(b, 300);
        assertEq(ra, relayer);
        assertEq(rb, relayer);
    }

    function testFuzz_setSettleFeeCap_anyRelayer(address named, uint16 bps) external {
        bps = uint16(bound(bps, 0, 10_000));
        _fund(payee, 7e18);
        vm.prank(payee);
        escrow.setSettleFeeCap(bps, named);
        (uint16 got, address gotRelayer) = escrow.settleFeeCapOf(payee);
        assertEq(got, bps);
        assertEq(gotRelayer, named);
        assertEq(escrow.balanceOf(payee), 7e18, "the fee setting shares the balance's slot");
        assertEq(escrow.nonceOf(payee), 0);
    }

    /// @dev ChannelEscrow's `_relayerCount` (after EIP712's two string slots, `_accounts`, `_relayerIds` and
    /// `_relayers`); test_relayerCountSlot pins it, so the exhaustion tests below cannot pass vacuously.
    uint256 private constant RELAYER_COUNT_SLOT = 5;

    function test_relayerCountSlot() external {
        vm.prank(payee);
        escrow.setSettleFeeCap(1, relayer);
        vm.prank(stranger);
        escrow.setSettleFeeCap(1, stranger);
        assertEq(uint256(vm.load(address(escrow), bytes32(RELAYER_COUNT_SLOT))), 2);
    }

    /// @dev The last of the 2^32 − 1 relayer ids is handed out; the next new relayer is refused, while
    /// relayers that already hold an id, and naming nobody, still work.
    function test_RevertWhen_relayerIdsExhausted() external {
        vm.prank(stranger);
        escrow.setSettleFeeCap(1, stranger); // stranger holds id 1
        vm.store(address(escrow), bytes32(RELAYER_COUNT_SLOT), bytes32(uint256(type(uint32).max - 1)));
        vm.prank(payee);
        escrow.setSettleFeeCap(100, relayer); // the last id
        (, address named) = escrow.settleFeeCapOf(payee);
        assertEq(named, relayer);
        assertEq(uint256(vm.load(address(escrow), bytes32(RELAYER_COUNT_SLOT))), type(uint32).max);

        vm.expectRevert(IChannelEscrow.RelayerIdsExhausted.selector);
        vm.prank(payee);
        escrow.setSettleFeeCap(200, makeAddr("new relayer"));
        uint16 bps;
        (bps, named) = escrow.settleFeeCapOf(payee);
        assertEq(bps, 100, "a refused setting changes nothing");
        assertEq(named, relayer);

        vm.startPrank(payee);
        escrow.setSettleFeeCap(300, stranger);
        (bps, named) = escrow.settleFeeCapOf(payee);
        assertEq(bps, 300);
        assertEq(named, stranger);
        escrow.setSettleFeeCap(400, address(0));
        (bps, named) = escrow.settleFeeCapOf(payee);
        assertEq(bps, 400);
        assertEq(named, address(0));
        vm.stopPrank();
    }

    /// @dev The signed path skips the entry with the same error and keeps its nonce.
    function test_setFeeCapBySig_skipsWhenRelayerIdsExhausted() external {
        vm.store(address(escrow), bytes32(RELAYER_COUNT_SLOT), bytes32(uint256(type(uint32).max)));
        bytes memory reason = abi.encodeWithSelector(IChannelEscrow.RelayerIdsExhausted.selector);
        _assertSkippedAs(
            address(this),
            abi.encodeCall(IChannelEscrow.setSettleFeeCapsBySig, (_list(_feeCapAuth(payeeKey, 100, 0)))),
            reason
        );
        (uint16 bps, address named) = escrow.settleFeeCapOf(payee);
        assertEq(bps, 0);
        assertEq(named, address(0));
        assertEq(escrow.nonceOf(payee), 0);
    }

    // ---------------------------------------------------------------------------------------------
    // setSettleFeeCapsBySig
    // ---------------------------------------------------------------------------------------------

    function test_setFeeCapBySig_setsAndAdvancesNonce() external {
        IChannelEscrow.SettleFeeCapAuth[] memory auths = _list(_feeCapAuth(payeeKey, 300, 0));
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.SettleFeeCapSet(payee, 300, relayer);
        vm.recordLogs();
        vm.prank(relayer);
        bytes[] memory failures = escrow.setSettleFeeCapsBySig(auths);
        _assertNoLog(IChannelEscrow.FeesCollected.selector);
        assertEq(failures.length, 1);
        assertEq(failures[0].length, 0);
        assertEq(_capOf(payee), 300);
        assertEq(escrow.nonceOf(payee), 1);
        assertEq(escrow.balanceOf(relayer), 0);
    }

    function test_setFeeCapBySig_skipsBadEntriesAndAppliesOthers() external {
        IChannelEscrow.SettleFeeCapAuth[] memory auths = new IChannelEscrow.SettleFeeCapAuth[](5);
        auths[0] = _feeCapAuth(payeeKey, 100, 0); // good
        auths[1] = _feeCapAuth(payeeKey, 200, 0); // nonce already used by entry 0
        auths[2] = _feeCapAuth(strangerKey, 300, 1); // wrong signer
        auths[2].payee = payee;
        auths[3] = escrow.signFeeCap(
            payeeKey, IChannelEscrow.SettleFeeCapAuth(payee, 400, relayer, 1, uint40(block.timestamp - 1), _noSig())
        ); // expired
        auths[4] = _feeCapAuth(strangerKey, 500, 0); // good, another payee

        bytes[] memory reasons = new bytes[](5);
        reasons[1] = abi.encodeWithSelector(IChannelEscrow.InvalidNonce.selector, payee, 1, 0);
        reasons[2] = _invalidSigner(stranger, payee);
        reasons[3] = _expired(block.timestamp - 1);

        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.SettleFeeCapSet(payee, 100, relayer);
        _expectSkipped(reasons);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.SettleFeeCapSet(stranger, 500, relayer);
        bytes[] memory failures = escrow.setSettleFeeCapsBySig(auths);

        assertEq(failures, reasons);
        assertEq(_capOf(payee), 100);
        assertEq(_capOf(stranger), 500);
        assertEq(escrow.nonceOf(payee), 1);
        assertEq(escrow.nonceOf(stranger), 1);
    }

    function test_setFeeCapBySig_skipsCapTooHigh() external {
        escrow.setSettleFeeCapsBySig(_list(_feeCapAuth(payeeKey, 100, 0)));
        IChannelEscrow.SettleFeeCapAuth[] memory auths = _list(_feeCapAuth(payeeKey, 10_001, 1));
        bytes memory reason = abi.encodeWithSelector(IChannelEscrow.FeeCapTooHigh.selector, 10_001);
        _assertSkippedAs(address(this), abi.encodeCall(IChannelEscrow.setSettleFeeCapsBySig, (auths)), reason);
        assertEq(_capOf(payee), 100);
    }

    /// @dev A skipped entry must leave state untouched, nonce included (the nonce is bumped only once the
    /// cap is accepted).
    function test_setFeeCapBySig_skippedCapTooHighKeepsNonce() external {
        escrow.setSettleFeeCapsBySig(_list(_feeCapAuth(payeeKey, 10_001, 0)));
        assertEq(escrow.nonceOf(payee), 0, "nonce consumed by a skipped fee-cap authorisation");
    }

    function test_setFeeCapBySig_replayIsRejected() external {
        IChannelEscrow.SettleFeeCapAuth[] memory auths = _list(_feeCapAuth(payeeKey, 100, 0));
        escrow.setSettleFeeCapsBySig(auths);
        vm.prank(payee);
        escrow.setSettleFeeCap(0, relayer);
        bytes memory reason = abi.encodeWithSelector(IChannelEscrow.InvalidNonce.selector, payee, 1, 0);
        _assertSkippedAs(address(this), abi.encodeCall(IChannelEscrow.setSettleFeeCapsBySig, (auths)), reason);
        assertEq(_capOf(payee), 0);
    }

    function test_setFeeCapBySig_sharesNonceWithWithdrawals() external {
        _fund(payee, 1e18);
        escrow.withdrawBySig(_list(_withdrawAuth(payeeKey, payee, 1e18, 0, 0)));
        bytes[] memory failures = escrow.setSettleFeeCapsBySig(_list(_feeCapAuth(payeeKey, 100, 0)));
        assertEq(failures[0], abi.encodeWithSelector(IChannelEscrow.InvalidNonce.selector, payee, 1, 0));
        failures = escrow.setSettleFeeCapsBySig(_list(_feeCapAuth(payeeKey, 100, 1)));
        assertEq(failures[0].length, 0);
        assertEq(_capOf(payee), 100);
        assertEq(escrow.nonceOf(payee), 2);
    }

    function test_setFeeCapBySig_emptyBatch() external {
        _assertEmptyBatchIsNoop(
            abi.encodeCall(IChannelEscrow.setSettleFeeCapsBySig, (new IChannelEscrow.SettleFeeCapAuth[](0)))
        );
    }
}
