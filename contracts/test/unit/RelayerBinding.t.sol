// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";
import {UnitTest} from "./UnitHelpers.sol";

/// @notice Fees bound to a relayer: a signed operation that names a relayer is the named relayer's alone
/// to submit (and so to be paid for), whoever copies it from the mempool; one that names nobody (zero) is
/// anyone's. Every `…BySig` kind and the cooperative close.
contract RelayerBindingTest is UnitTest {
    using PaymentSigner for IChannelEscrow;

    function _wrongRelayer(address named, address caller) private pure returns (bytes memory) {
        return abi.encodeWithSelector(IChannelEscrow.WrongRelayer.selector, named, caller);
    }

    // ---------------------------------------------------------------------------------------------
    // Opens
    // ---------------------------------------------------------------------------------------------

    function _namedOpen(uint32 salt, address named) private view returns (IChannelEscrow.OpenAuth memory a) {
        a = _openAuth(payerKey, salt, 1e18, 1e15);
        a.relayer = named;
        a = escrow.signOpen(payerKey, a);
    }

    function test_openBySig_namedRelayerSubmitsAndIsPaid() external {
        _fund(payer, 2e18);
        bytes32 id = escrow.channelId(payer, payee, 1);
        IChannelEscrow.OpenAuth[] memory auths = _list(_namedOpen(1, relayer));
        _expectFees(relayer, 1e15);
        vm.prank(relayer);
        bytes[] memory failures = escrow.openChannelsBySig(auths);
        assertEq(failures[0].length, 0);
        _assertChannel(id, 1e18, 0, 0, IChannelEscrow.ChannelState.Open);
        assertEq(escrow.balanceOf(relayer), 1e15);
    }

    /// @dev The copier's transaction lands first and is refused: the open, and its fee, stay the relayer's.
    function test_openBySig_copierIsRefusedAndPaysNothing() external {
        _fund(payer, 2e18);
        IChannelEscrow.OpenAuth[] memory auths = _list(_namedOpen(1, relayer));
        _expectSkipped(0, _wrongRelayer(relayer, stranger));
        vm.prank(stranger);
        bytes[] memory failures = escrow.openChannelsBySig(auths);
        assertEq(failures[0], _wrongRelayer(relayer, stranger));
        assertEq(escrow.balanceOf(stranger), 0);
        assertEq(escrow.balanceOf(payer), 2e18, "nothing debited");
        assertEq(uint8(escrow.channel(escrow.channelId(payer, payee, 1)).state), 0);
        vm.prank(relayer);
        failures = escrow.openChannelsBySig(auths);
        assertEq(failures[0].length, 0, "the named relayer still can");
        assertEq(escrow.balanceOf(relayer), 1e15);
    }

    function test_openBySig_zeroRelayerAnyoneSubmits() external {
        _fund(payer, 2e18);
        IChannelEscrow.OpenAuth[] memory auths = _list(_namedOpen(1, address(0)));
        _expectFees(stranger, 1e15);
        vm.prank(stranger);
        bytes[] memory failures = escrow.openChannelsBySig(auths);
        assertEq(failures[0].length, 0);
        assertEq(escrow.balanceOf(stranger), 1e15);
    }

    /// @dev The relayer is signed: swapping it for the copier's own address breaks the signature.
    function test_openBySig_relayerIsSigned() external {
        _fund(payer, 2e18);
        IChannelEscrow.OpenAuth memory a = _namedOpen(1, relayer);
        a.relayer = stranger;
        vm.prank(stranger);
        bytes[] memory failures = escrow.openChannelsBySig(_list(a));
        assertEq(bytes4(failures[0]), IChannelEscrow.InvalidSigner.selector);
    }

    // ---------------------------------------------------------------------------------------------
    // Top-ups, close requests, withdrawals
    // ---------------------------------------------------------------------------------------------

    function test_topUpBySig_boundToItsRelayer() external {
        bytes32 id = _openChannel(1, 1e18);
        _fund(payer, 2e18);
        IChannelEscrow.TopUpAuth memory a = _topUpAuth(payerKey, 1, 2e18, 1e15);
        a.relayer = relayer;
        a = escrow.signTopUp(payerKey, a);
        vm.prank(stranger);
        bytes[] memory failures = escrow.topUpsBySig(_list(a));
        assertEq(failures[0], _wrongRelayer(relayer, stranger));
        vm.prank(relayer);
        failures = escrow.topUpsBySig(_list(a));
        assertEq(failures[0].length, 0);
        _assertChannel(id, 2e18, 0, 0, IChannelEscrow.ChannelState.Open);
        assertEq(escrow.balanceOf(relayer), 1e15);
    }

    function test_requestCloseBySig_boundToItsRelayer() external {
        bytes32 id = _openChannel(1, 1e18);
        _fund(payer, 1e15);
        IChannelEscrow.CloseAuth memory a = _closeAuth(payerKey, 1, 1e15);
        a.relayer = relayer;
        a = escrow.signClose(payerKey, a);
        vm.prank(stranger);
        bytes[] memory failures = escrow.requestClosesBySig(_list(a));
        assertEq(failures[0], _wrongRelayer(relayer, stranger));
        _assertChannel(id, 1e18, 0, 0, IChannelEscrow.ChannelState.Open);
        vm.prank(relayer);
        failures = escrow.requestClosesBySig(_list(a));
        assertEq(failures[0].length, 0);
        assertEq(uint8(escrow.channel(id).state), uint8(IChannelEscrow.ChannelState.Closing));
    }

    function test_withdrawBySig_boundToItsRelayer() external {
        _fund(payee, 3e18);
        IChannelEscrow.WithdrawAuth memory a = _withdrawAuth(payeeKey, payee, 1e18, 1e15, 0);
        a.relayer = relayer;
        a = escrow.signWithdraw(payeeKey, a);
        vm.prank(stranger);
        bytes[] memory failures = escrow.withdrawBySig(_list(a));
        assertEq(failures[0], _wrongRelayer(relayer, stranger));
        assertEq(escrow.nonceOf(payee), 0, "a refused entry keeps its nonce");
        vm.prank(relayer);
        failures = escrow.withdrawBySig(_list(a));
        assertEq(failures[0].length, 0);
        assertEq(escrow.balanceOf(relayer), 1e15);
        assertEq(escrow.nonceOf(payee), 1);
    }

    /// @dev A fee cap names who may take settlement fees; it pays no fee itself, so anyone may submit it.
    function test_feeCapBySig_anyoneSubmitsWhateverRelayerItNames() external {
        IChannelEscrow.SettleFeeCapAuth memory a = _feeCapAuth(payeeKey, 100, 0);
        assertEq(a.relayer, relayer);
        vm.prank(stranger);
        bytes[] memory failures = escrow.setSettleFeeCapsBySig(_list(a));
        assertEq(failures[0].length, 0);
        (uint16 bps, address named) = escrow.settleFeeCapOf(payee);
        assertEq(bps, 100);
        assertEq(named, relayer);
    }

    // ---------------------------------------------------------------------------------------------
    // Cooperative close
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_cooperativeCloseSubmittedByAnotherRelayer() external {
        _openChannel(1, 10e18);
        IChannelEscrow.CooperativeCloseAuth memory a =
            IChannelEscrow.CooperativeCloseAuth(payer, payee, 1, 4e18, 1e15, relayer, 0, _deadline());
        IChannelEscrow.CompactSignature memory payerSig = escrow.signCooperativeClose(payerKey, a);
        IChannelEscrow.CompactSignature memory payeeSig = escrow.signCooperativeClose(payeeKey, a);
        vm.expectRevert(_wrongRelayer(relayer, stranger));
        vm.prank(stranger);
        escrow.cooperativeClose(a, payerSig, payeeSig);
        vm.prank(relayer);
        escrow.cooperativeClose(a, payerSig, payeeSig);
        assertEq(escrow.balanceOf(relayer), 1e15);
    }

    function testFuzz_signedOperationOnlyForItsRelayer(address named, address caller) external {
        if (caller == address(0) || caller == payer) caller = stranger;
        _fund(payer, 2e18);
        IChannelEscrow.OpenAuth memory a = _namedOpen(1, named);
        vm.prank(caller);
        bytes[] memory failures = escrow.openChannelsBySig(_list(a));
        bool allowed = named == address(0) || named == caller;
        if (allowed) {
            assertEq(failures[0].length, 0);
            assertEq(escrow.balanceOf(caller), 1e15);
        } else {
            assertEq(failures[0], _wrongRelayer(named, caller));
            assertEq(escrow.balanceOf(payer), 2e18);
        }
    }
}
