// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

import {PieceToken} from "../../src/PieceToken.sol";
import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {deployEscrow} from "../utils/DeployEscrow.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";
import {FeeOnTransferToken, UnitTest} from "./UnitHelpers.sol";

contract DepositTest is UnitTest {
    address private holder;
    uint256 private holderKey;

    function setUp() public override {
        super.setUp();
        (holder, holderKey) = _walletWithoutAllowance("holder");
    }

    // ---------------------------------------------------------------------------------------------
    // deposit
    // ---------------------------------------------------------------------------------------------

    function test_deposit_creditsAccountAndPullsTokens() external {
        uint256 escrowBefore = token.balanceOf(address(escrow));
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.Deposited(payer, payer, 7e18);
        vm.prank(payer);
        escrow.deposit(payer, 7e18);
        vm.snapshotGasLastCall("deposit");
        assertEq(escrow.balanceOf(payer), 7e18);
        assertEq(token.balanceOf(payer), INITIAL_FUNDS - 7e18);
        assertEq(token.balanceOf(address(escrow)), escrowBefore + 7e18);
    }

    function test_deposit_forAnotherAccount() external {
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.Deposited(stranger, payer, 3e18);
        vm.prank(payer);
        escrow.deposit(stranger, 3e18);
        assertEq(escrow.balanceOf(stranger), 3e18);
        assertEq(escrow.balanceOf(payer), 0);
        assertEq(token.balanceOf(payer), INITIAL_FUNDS - 3e18);
    }

    function test_deposit_accumulates() external {
        _fund(payer, 1e18);
        _fund(payer, 2e18);
        assertEq(escrow.balanceOf(payer), 3e18);
        assertEq(token.balanceOf(address(escrow)), 3e18);
    }

    function test_deposit_feeOnTransferCreditsWhatArrived() external {
        FeeOnTransferToken fot = new FeeOnTransferToken(address(this), 1000e18);
        IChannelEscrow e = deployEscrow(address(fot), CHALLENGE_PERIOD);
        fot.approve(address(e), type(uint256).max);
        vm.expectEmit(true, true, true, true, address(e));
        emit IChannelEscrow.Deposited(payer, address(this), 99e18);
        e.deposit(payer, 100e18);
        assertEq(e.balanceOf(payer), 99e18);
        assertEq(fot.balanceOf(address(e)), 99e18);
    }

    function test_deposit_upToHoldingsBound() external {
        PieceToken big = new PieceToken("Big", "BIG", address(this), 1 << 130);
        IChannelEscrow e = deployEscrow(address(big), CHALLENGE_PERIOD);
        big.approve(address(e), type(uint256).max);
        e.deposit(payer, type(uint128).max);
        assertEq(e.balanceOf(payer), type(uint128).max);
    }

    function test_RevertWhen_depositExceedsHoldingsBound() external {
        PieceToken big = new PieceToken("Big", "BIG", address(this), 1 << 130);
        IChannelEscrow e = deployEscrow(address(big), CHALLENGE_PERIOD);
        big.approve(address(e), type(uint256).max);
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.HoldingsOverflow.selector, uint256(1) << 128));
        e.deposit(payer, uint256(1) << 128);
    }

    function test_RevertWhen_depositPushesHoldingsOverBound() external {
        PieceToken big = new PieceToken("Big", "BIG", address(this), 1 << 130);
        IChannelEscrow e = deployEscrow(address(big), CHALLENGE_PERIOD);
        big.approve(address(e), type(uint256).max);
        e.deposit(payer, type(uint128).max - 5);
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.HoldingsOverflow.selector, uint256(1) << 128));
        e.deposit(stranger, 6);
        assertEq(e.balanceOf(stranger), 0);
        assertEq(e.balanceOf(payer), type(uint128).max - 5);
    }

    /// @dev Tokens sent straight to the escrow are not credited but do count towards the bound.
    function test_RevertWhen_holdingsIncludeDirectTransfers() external {
        PieceToken big = new PieceToken("Big", "BIG", address(this), 1 << 130);
        IChannelEscrow e = deployEscrow(address(big), CHALLENGE_PERIOD);
        big.approve(address(e), type(uint256).max);
        big.transfer(address(e), type(uint128).max);
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.HoldingsOverflow.selector, uint256(1) << 128));
        e.deposit(payer, 1);
    }

    function test_RevertWhen_depositToZeroAddress() external {
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.ZeroAddress.selector));
        vm.prank(payer);
        escrow.deposit(address(0), 1e18);
    }

    /// @dev Tokens credited to the escrow's own account could never leave: refused.
    function test_RevertWhen_depositToEscrowItself() external {
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.EscrowAddress.selector));
        vm.prank(payer);
        escrow.deposit(address(escrow), 1e18);
    }

    function test_RevertWhen_depositZeroAmount() external {
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.ZeroAmount.selector));
        vm.prank(payer);
        escrow.deposit(payer, 0);
    }

    function test_RevertWhen_depositWithoutAllowance() external {
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(escrow), 0, 1e18)
        );
        vm.prank(holder);
        escrow.deposit(holder, 1e18);
    }

    function test_RevertWhen_depositAboveTokenBalance() external {
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientBalance.selector, payer, INITIAL_FUNDS, INITIAL_FUNDS + 1
            )
        );
        vm.prank(payer);
        escrow.deposit(payer, INITIAL_FUNDS + 1);
    }

    // ---------------------------------------------------------------------------------------------
    // depositWithPermit
    // ---------------------------------------------------------------------------------------------

    function test_depositWithPermit_appliesPermitAndDeposits() external {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(holderKey, holder, 40e18, deadline);
        _assertRelayedPermitDeposit(deadline, v, r, s);
        assertEq(token.allowance(holder, address(escrow)), 0);
        assertEq(escrow.balanceOf(relayer), 0);
    }

    function test_depositWithPermit_frontRunPermitStillDeposits() external {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(holderKey, holder, 40e18, deadline);
        // An attacker lifts the permit from the mempool and spends it first.
        vm.prank(stranger);
        token.permit(holder, address(escrow), 40e18, deadline, v, r, s);
        _assertRelayedPermitDeposit(deadline, v, r, s);
    }

    function test_RevertWhen_depositWithPermitHasNoPermitAndNoAllowance() external {
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(escrow), 0, 40e18)
        );
        vm.prank(relayer);
        escrow.depositWithPermit(holder, 40e18, block.timestamp + 1 hours, 27, bytes32(0), bytes32(0));
    }

    function test_RevertWhen_depositWithPermitSignedByAnotherKey() external {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(strangerKey, holder, 40e18, deadline);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(escrow), 0, 40e18)
        );
        escrow.depositWithPermit(holder, 40e18, deadline, v, r, s);
        assertEq(token.nonces(holder), 0);
    }

    function test_RevertWhen_depositWithPermitExpired() external {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(holderKey, holder, 40e18, deadline);
        vm.warp(deadline + 1);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(escrow), 0, 40e18)
        );
        escrow.depositWithPermit(holder, 40e18, deadline, v, r, s);
    }

    function test_RevertWhen_depositWithPermitZeroAmount() external {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(holderKey, holder, 0, deadline);
        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.ZeroAmount.selector));
        escrow.depositWithPermit(holder, 0, deadline, v, r, s);
    }

    /// @dev Surprising but harmless: with a standing allowance, anyone can move the owner's tokens into the
    /// owner's own free balance (the bogus permit is ignored). The owner keeps the funds and can withdraw.
    function test_depositWithPermit_anyoneCanSweepStandingAllowanceIntoOwnersBalance() external {
        // payer approved the escrow for max in setUp.
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.Deposited(payer, payer, 5e18);
        vm.prank(stranger);
        escrow.depositWithPermit(payer, 5e18, 0, 0, bytes32(0), bytes32(0));
        assertEq(escrow.balanceOf(payer), 5e18);
        assertEq(escrow.balanceOf(stranger), 0);
    }

    /// @dev The relayer deposits 40e18 of the holder's wallet with the permit (v, r, s): all of it is
    /// credited to the holder and the permit's nonce is used.
    function _assertRelayedPermitDeposit(uint256 deadline, uint8 v, bytes32 r, bytes32 s) private {
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.Deposited(holder, holder, 40e18);
        vm.prank(relayer);
        escrow.depositWithPermit(holder, 40e18, deadline, v, r, s);
        assertEq(escrow.balanceOf(holder), 40e18);
        assertEq(token.balanceOf(holder), 60e18);
        assertEq(token.nonces(holder), 1);
    }

    /// @dev A permit of `owner`'s tokens for the escrow, signed by `key` (the owner's or another).
    function _signPermit(uint256 key, address owner, uint256 value, uint256 deadline)
        private
        view
        returns (uint8, bytes32, bytes32)
    {
        return vm.sign(
            key,
            PaymentSigner.permitDigest(address(token), owner, address(escrow), value, token.nonces(owner), deadline)
        );
    }
}
