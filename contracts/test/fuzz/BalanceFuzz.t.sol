// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";
import {EscrowFuzzBase} from "./EscrowFuzzBase.sol";

/// @notice Free balances: deposits and withdrawals conserve tokens; signed withdrawals take exactly the
/// next nonce.
contract BalanceFuzzTest is EscrowFuzzBase {
    using PaymentSigner for IChannelEscrow;

    uint256 internal constant MAX_AMOUNT = INITIAL_FUNDS;
    uint256 internal constant MAX_USED_NONCES = 3;

    /// @dev Signed 1-token withdrawals with nonces 0, 1, 2, signed once here rather than in every run.
    IChannelEscrow.WithdrawAuth[][MAX_USED_NONCES] internal setupWithdrawals;

    function setUp() public override {
        super.setUp();
        for (uint256 i; i < MAX_USED_NONCES; ++i) {
            IChannelEscrow.WithdrawAuth[] memory auths = _signedWithdrawal(payer, 1, 0, uint64(i));
            setupWithdrawals[i].push(auths[0]);
        }
    }

    /// @dev deposit → withdraw part to anyone → withdraw the rest: every token is accounted for at each step.
    function testFuzz_depositWithdraw_roundTripConservesTokens(
        uint256 depositSeed,
        uint256 withdrawSeed,
        address to,
        address beneficiary
    ) external {
        to = _recipient(to);
        // The escrow refuses to credit itself (EscrowAddress); that refusal has its own unit test.
        if (beneficiary == address(0) || beneficiary == address(escrow)) beneficiary = payer;
        uint256 amount = bound(depositSeed, 1, MAX_AMOUNT);
        uint256 part = bound(withdrawSeed, 1, amount);
        uint256 escrowTokens = token.balanceOf(address(escrow));
        uint256 payerTokens = token.balanceOf(payer);
        uint256 freeBefore = escrow.balanceOf(beneficiary);

        vm.prank(payer);
        escrow.deposit(beneficiary, amount);
        assertEq(escrow.balanceOf(beneficiary), freeBefore + amount, "credited to the beneficiary");
        assertEq(token.balanceOf(payer), payerTokens - amount, "pulled from the caller");
        assertEq(token.balanceOf(address(escrow)), escrowTokens + amount, "escrow holds the deposit");

        uint256 toTokens = token.balanceOf(to);
        vm.prank(beneficiary);
        escrow.withdraw(to, part);
        assertEq(escrow.balanceOf(beneficiary), freeBefore + amount - part, "debited");
        assertEq(token.balanceOf(to), toTokens + part, "recipient got the tokens");
        assertEq(token.balanceOf(address(escrow)), escrowTokens + amount - part, "escrow released them");

        if (amount > part) {
            vm.prank(beneficiary);
            escrow.withdraw(to, amount - part);
        }
        assertEq(escrow.balanceOf(beneficiary), freeBefore, "round trip restores the free balance");
        assertEq(token.balanceOf(address(escrow)), escrowTokens, "round trip restores the escrow's tokens");
        assertEq(token.balanceOf(to), toTokens + amount, "recipient got everything");
    }

    function testFuzz_withdraw_revertsAboveFreeBalance(uint256 depositSeed, uint256 withdrawSeed) external {
        uint256 amount = bound(depositSeed, 0, MAX_AMOUNT);
        uint256 tooMuch = bound(withdrawSeed, amount + 1, type(uint256).max);
        if (amount != 0) _fund(payer, amount);

        vm.expectRevert(abi.encodeWithSelector(IChannelEscrow.InsufficientBalance.selector, payer, amount, tooMuch));
        vm.prank(payer);
        escrow.withdraw(payer, tooMuch);
    }

    /// @dev The next nonce applies: amount to `to`, fee to the submitter, nonce + 1; a replay is refused.
    function testFuzz_withdrawBySig_nextNonceApplies(
        uint256 used,
        uint256 amountSeed,
        uint256 feeSeed,
        uint256 spareSeed,
        address to
    ) external {
        to = _recipient(to);
        used = _useNonces(used);
        uint128 amount = uint128(bound(amountSeed, 1, MAX_AMOUNT));
        uint128 fee = uint128(bound(feeSeed, 0, MAX_AMOUNT));
        uint256 spare = bound(spareSeed, 0, MAX_AMOUNT);
        _fund(payer, uint256(amount) + fee + spare);
        uint256 toTokens = token.balanceOf(to);
        uint256 relayerFree = escrow.balanceOf(relayer);

        IChannelEscrow.WithdrawAuth[] memory auths = _signedWithdrawal(to, amount, fee, uint64(used));
        vm.prank(relayer);
        assertEq(escrow.withdrawBySig(auths)[0], "", "applied");
        assertEq(escrow.nonceOf(payer), used + 1, "nonce used");
        assertEq(escrow.balanceOf(payer), spare, "debited amount + fee");
        assertEq(escrow.balanceOf(relayer), relayerFree + fee, "fee to the submitter");
        assertEq(token.balanceOf(to), toTokens + amount, "amount to the recipient");
        _assertReplayRefused(auths, uint64(used));
    }

    function _assertReplayRefused(IChannelEscrow.WithdrawAuth[] memory auths, uint64 used) internal {
        Snapshot memory before = _snapshot(bytes32(0));
        vm.prank(relayer);
        assertEq(
            escrow.withdrawBySig(auths)[0],
            abi.encodeWithSelector(IChannelEscrow.InvalidNonce.selector, payer, used + 1, used),
            "replay refused"
        );
        _assertUnchanged(before, bytes32(0), "replay changed state");
    }

    /// @dev Any nonce but the next one is refused and changes nothing.
    function testFuzz_withdrawBySig_rejectsAnyOtherNonce(uint256 used, uint256 offset, uint256 amountSeed) external {
        used = _useNonces(used);
        // Every uint64 except `used`: used + [1, 2^64 − 1] (mod 2^64).
        uint64 nonce;
        unchecked {
            nonce = uint64(used) + uint64(bound(offset, 1, type(uint64).max));
        }
        uint128 amount = uint128(bound(amountSeed, 1, MAX_AMOUNT));
        _fund(payer, amount);
        Snapshot memory before = _snapshot(bytes32(0));

        IChannelEscrow.WithdrawAuth[] memory auths = _signedWithdrawal(payer, amount, 0, nonce);
        vm.prank(relayer);
        assertEq(
            escrow.withdrawBySig(auths)[0],
            abi.encodeWithSelector(IChannelEscrow.InvalidNonce.selector, payer, uint64(used), nonce),
            "wrong nonce refused"
        );
        _assertUnchanged(before, bytes32(0), "wrong nonce changed state");
    }

    /// @dev A signed withdrawal skipped for lack of funds must leave everything as it was, nonce included
    /// (the contract promises "otherwise nothing changed" for a skipped entry), so the same authorisation
    /// still works once the funds arrive.
    function testFuzz_withdrawBySig_skippedForFundsKeepsNonce(uint256 used, uint256 freeSeed, uint256 amountSeed)
        external
    {
        used = _useNonces(used);
        uint256 free = bound(freeSeed, 0, MAX_AMOUNT - 1);
        uint128 amount = uint128(bound(amountSeed, free + 1, MAX_AMOUNT));
        if (free != 0) _fund(payer, free);
        Snapshot memory before = _snapshot(bytes32(0));

        IChannelEscrow.WithdrawAuth[] memory auths = _signedWithdrawal(payer, amount, 0, uint64(used));
        vm.prank(relayer);
        assertEq(
            escrow.withdrawBySig(auths)[0],
            abi.encodeWithSelector(IChannelEscrow.InsufficientBalance.selector, payer, free, amount),
            "refused for lack of funds"
        );
        _assertUnchanged(before, bytes32(0), "withdrawal refused for funds changed state");

        _fund(payer, amount - free);
        vm.prank(relayer);
        assertEq(escrow.withdrawBySig(auths)[0], "", "the same authorisation applies once funded");
    }

    /// @dev Performs `bound(used, 0, 3)` valid signed withdrawals first, so the next nonce varies.
    function _useNonces(uint256 used) internal returns (uint256) {
        used = bound(used, 0, MAX_USED_NONCES);
        if (used != 0) _fund(payer, used);
        for (uint256 i; i < used; ++i) {
            vm.prank(relayer);
            assertEq(escrow.withdrawBySig(setupWithdrawals[i])[0], "", "setup withdrawal");
        }
        assertEq(escrow.nonceOf(payer), used, "nonces used");
        return used;
    }

    function _signedWithdrawal(address to, uint128 amount, uint128 fee, uint64 nonce)
        internal
        view
        returns (IChannelEscrow.WithdrawAuth[] memory auths)
    {
        auths = new IChannelEscrow.WithdrawAuth[](1);
        auths[0] = escrow.signWithdraw(
            payerKey, IChannelEscrow.WithdrawAuth(payer, to, amount, fee, address(0), nonce, _deadline(), _noSig())
        );
    }

    /// @dev Any address but zero (refused) and the escrow itself (tokens would stay, unaccounted).
    function _recipient(address to) internal view returns (address) {
        return to == address(0) || to == address(escrow) ? stranger : to;
    }
}
