// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Vm} from "forge-std/Vm.sol";

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {deployEscrow} from "../utils/DeployEscrow.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";
import {FeeOnTransferToken, UnitTest} from "./UnitHelpers.sol";

/// @notice One-transaction onboarding: wallet tokens and an EIP-2612 permit to one or several open (or
/// topped-up) channels, no escrow balance involved.
contract FundWithPermitTest is UnitTest {
    using PaymentSigner for IChannelEscrow;

    address private holder;
    uint256 private holderKey;

    function setUp() public override {
        super.setUp();
        (holder, holderKey) = _walletWithoutAllowance("holder");
    }

    function _funding(address to, uint32 salt, uint96 amount)
        private
        pure
        returns (IChannelEscrow.ChannelFunding memory)
    {
        return IChannelEscrow.ChannelFunding(to, salt, amount);
    }

    function _permit(uint256 value) private view returns (IChannelEscrow.CompactSignature memory) {
        return
            PaymentSigner.signPermit(
                address(token), holderKey, address(escrow), value, token.nonces(holder), _deadline()
            );
    }

    function _fund(IChannelEscrow.ChannelFunding[] memory channels, uint256 value) private {
        IChannelEscrow.CompactSignature memory sig = _permit(value);
        vm.prank(holder);
        escrow.fundChannelsWithPermit(value, _deadline(), sig, channels);
    }

    /// @dev Funding `channels` with a permit for `value` reverts with `err`.
    function _assertFundReverts(uint256 value, IChannelEscrow.ChannelFunding[] memory channels, bytes memory err)
        private
    {
        bytes memory call =
            abi.encodeCall(IChannelEscrow.fundChannelsWithPermit, (value, _deadline(), _permit(value), channels));
        _assertRevertAs(holder, call, err);
    }

    function test_fund_opensFirstChannelFromWallet() external {
        bytes32 id = escrow.channelId(holder, payee, 1);
        uint256 held = token.balanceOf(address(escrow));
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.Deposited(holder, holder, 10e18);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.ChannelOpened(id, holder, payee, 1, 10e18, 0);
        _fund(_list(_funding(payee, 1, 10e18)), 10e18);
        vm.snapshotGasLastCall("fundChannelsWithPermit_firstChannel");
        _assertChannel(id, 10e18, 0, 0, IChannelEscrow.ChannelState.Open);
        assertEq(escrow.balanceOf(holder), 0, "nothing left in the free balance");
        assertEq(token.balanceOf(holder), 90e18);
        assertEq(token.balanceOf(address(escrow)), held + 10e18);
        assertEq(token.allowance(holder, address(escrow)), 0, "the permit's allowance is spent");
    }

    function test_fund_opensSeveralAndTopsUpInOneCall() external {
        _fund(_list(_funding(payee, 1, 4e18)), 4e18);
        IChannelEscrow.ChannelFunding[] memory channels = new IChannelEscrow.ChannelFunding[](3);
        channels[0] = _funding(payee, 1, 1e18); // open: topped up
        channels[1] = _funding(payee, 2, 2e18); // new
        channels[2] = _funding(stranger, 1, 3e18); // new, another payee
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.Deposited(holder, holder, 6e18);
        _fund(channels, 6e18);
        _assertChannel(escrow.channelId(holder, payee, 1), 5e18, 0, 0, IChannelEscrow.ChannelState.Open);
        _assertChannel(escrow.channelId(holder, payee, 2), 2e18, 0, 0, IChannelEscrow.ChannelState.Open);
        _assertChannel(escrow.channelId(holder, stranger, 1), 3e18, 0, 0, IChannelEscrow.ChannelState.Open);
        assertEq(token.balanceOf(holder), 90e18);
    }

    /// @dev A front-run permit (already applied by someone else) is ignored: the allowance it set decides.
    function test_fund_toleratesFrontRunPermit() external {
        IChannelEscrow.CompactSignature memory sig = _permit(10e18);
        (uint8 v, bytes32 r, bytes32 s) = PaymentSigner.expand(sig);
        token.permit(holder, address(escrow), 10e18, _deadline(), v, r, s);
        vm.prank(holder);
        escrow.fundChannelsWithPermit(10e18, _deadline(), sig, _list(_funding(payee, 1, 10e18)));
        assertEq(escrow.channel(escrow.channelId(holder, payee, 1)).deposit, 10e18);
    }

    /// @dev With an allowance already given (approve or an earlier permit for more), no permit is needed.
    function test_fund_withExistingAllowanceAndNoPermit() external {
        vm.prank(holder);
        token.approve(address(escrow), type(uint256).max);
        vm.prank(holder);
        escrow.fundChannelsWithPermit(0, 0, _noSig(), _list(_funding(payee, 1, 3e18)));
        assertEq(escrow.channel(escrow.channelId(holder, payee, 1)).deposit, 3e18);
    }

    /// @dev The channel keeps a nonce advanced before it was opened (its pending signed open stays void).
    function test_fund_keepsAdvancedChannelNonce() external {
        vm.prank(holder);
        escrow.advanceChannelNonce(holder, payee, 1);
        _fund(_list(_funding(payee, 1, 1e18)), 1e18);
        IChannelEscrow.Channel memory c = escrow.channel(escrow.channelId(holder, payee, 1));
        assertEq(c.nonce, 1);
        assertEq(uint8(c.state), uint8(IChannelEscrow.ChannelState.Open));
    }

    function test_RevertWhen_fundWithoutPermitOrAllowance() external {
        IChannelEscrow.ChannelFunding[] memory channels = _list(_funding(payee, 1, 1e18));
        vm.expectRevert();
        vm.prank(holder);
        escrow.fundChannelsWithPermit(0, 0, _noSig(), channels);
    }

    function test_RevertWhen_fundClosedChannel() external {
        _fund(_list(_funding(payee, 1, 1e18)), 1e18);
        bytes32 id = escrow.channelId(holder, payee, 1);
        vm.prank(payee);
        escrow.closeByPayee(holder, 1);
        _assertFundReverts(1e18, _list(_funding(payee, 1, 1e18)), _invalidState(id, IChannelEscrow.ChannelState.Closed));
    }

    function test_RevertWhen_fundClosingChannel() external {
        _fund(_list(_funding(payee, 1, 1e18)), 1e18);
        bytes32 id = escrow.channelId(holder, payee, 1);
        vm.prank(holder);
        escrow.requestClose(payee, 1);
        _assertFundReverts(
            1e18, _list(_funding(payee, 1, 1e18)), _invalidState(id, IChannelEscrow.ChannelState.Closing)
        );
    }

    /// @dev One bad channel reverts the whole call: nothing opened, nothing pulled.
    function test_RevertWhen_fundSelfChannelAmongOthers() external {
        IChannelEscrow.ChannelFunding[] memory channels = new IChannelEscrow.ChannelFunding[](2);
        channels[0] = _funding(payee, 1, 1e18);
        channels[1] = _funding(holder, 1, 1e18);
        _assertFundReverts(2e18, channels, abi.encodeWithSelector(IChannelEscrow.SelfChannel.selector, holder));
        assertEq(token.balanceOf(holder), 100e18);
    }

    function test_RevertWhen_fundZeroPayee() external {
        _assertFundReverts(
            1e18, _list(_funding(address(0), 1, 1e18)), abi.encodeWithSelector(IChannelEscrow.ZeroAddress.selector)
        );
    }

    function test_RevertWhen_fundZeroAmountNewChannel() external {
        _assertFundReverts(
            1e18, _list(_funding(payee, 1, 0)), abi.encodeWithSelector(IChannelEscrow.ZeroAmount.selector)
        );
    }

    function test_RevertWhen_fundZeroAmountTopUp() external {
        _fund(_list(_funding(payee, 1, 1e18)), 1e18);
        _assertFundReverts(
            1e18, _list(_funding(payee, 1, 0)), abi.encodeWithSelector(IChannelEscrow.ZeroAmount.selector)
        );
    }

    function test_RevertWhen_fundNothing() external {
        _assertFundReverts(
            1e18, new IChannelEscrow.ChannelFunding[](0), abi.encodeWithSelector(IChannelEscrow.ZeroAmount.selector)
        );
    }

    function test_RevertWhen_fundTopUpOverflowsDeposit() external {
        uint96 max = type(uint96).max;
        deal(address(token), holder, uint256(max) + 1);
        vm.prank(holder);
        token.approve(address(escrow), type(uint256).max);
        vm.prank(holder);
        escrow.fundChannelsWithPermit(0, 0, _noSig(), _list(_funding(payee, 1, max)));
        bytes32 id = escrow.channelId(holder, payee, 1);
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.DepositOverflow.selector, uint256(max) + 1));
        vm.prank(holder);
        escrow.fundChannelsWithPermit(0, 0, _noSig(), _list(_funding(payee, 1, 1)));
        assertEq(escrow.channel(id).deposit, max);
    }

    /// @dev A token that takes a fee on transfer delivers less than the channels were promised: refused
    /// (such a token is funded through `deposit`, which credits what arrives).
    function test_RevertWhen_fundWithFeeOnTransferToken() external {
        FeeOnTransferToken fot = new FeeOnTransferToken(holder, 100e18);
        IChannelEscrow e = deployEscrow(address(fot), CHALLENGE_PERIOD);
        vm.prank(holder);
        fot.approve(address(e), type(uint256).max);
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.TransferShortfall.selector, 10e18, 9.9e18));
        vm.prank(holder);
        e.fundChannelsWithPermit(0, 0, _noSig(), _list(_funding(payee, 1, 10e18)));
    }

    /// @dev Indexers see the balance rise (Deposited) before the channels take it (ChannelOpened).
    function test_fund_logsDepositBeforeTheChannels() external {
        vm.recordLogs();
        _fund(_list(_funding(payee, 1, 1e18)), 1e18);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 deposited = type(uint256).max;
        uint256 opened = type(uint256).max;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(escrow)) continue;
            if (logs[i].topics[0] == IChannelEscrow.Deposited.selector) deposited = i;
            if (logs[i].topics[0] == IChannelEscrow.ChannelOpened.selector) opened = i;
        }
        assertLt(deposited, opened);
    }
}
