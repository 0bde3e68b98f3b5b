// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Vm} from "forge-std/Vm.sol";

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {EscrowTestBase} from "../utils/EscrowTestBase.sol";
import {PaymentSigner} from "../utils/PaymentSigner.sol";

/// @notice A token that burns 1% of every transfer, to check that deposits credit what actually arrived.
contract FeeOnTransferToken is ERC20 {
    constructor(address holder, uint256 supply) ERC20("Fee", "FEE") {
        _mint(holder, supply);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && to != address(0)) {
            uint256 burned = value / 100;
            super._update(from, address(0), burned);
            value -= burned;
        }
        super._update(from, to, value);
    }
}

/// @notice Helpers shared by the unit tests: auth builders, digests, batch packing, signature forgery and
/// state/event assertions that EscrowTestBase does not provide.
abstract contract UnitTest is EscrowTestBase {
    using PaymentSigner for IChannelEscrow;

    /// @dev secp256k1 group order and its half (the low-s bound of EIP-2 / OpenZeppelin ECDSA).
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    uint256 internal constant HALF_N = SECP256K1_N / 2;
    /// @dev x coordinate of the generator: a valid `r` for hand-made signatures.
    bytes32 internal constant GX = 0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798;
    uint256 internal constant PARITY_BIT = 1 << 255;

    // ---------------------------------------------------------------------------------------------
    // Struct hashes and digests (as the escrow computes them)
    // ---------------------------------------------------------------------------------------------

    function _openHash(IChannelEscrow.OpenAuth memory a) internal pure returns (bytes32) {
        return PaymentSigner.hashOpen(a);
    }

    function _topUpHash(IChannelEscrow.TopUpAuth memory a) internal pure returns (bytes32) {
        return PaymentSigner.hashTopUp(a);
    }

    function _closeHash(IChannelEscrow.CloseAuth memory a) internal pure returns (bytes32) {
        return PaymentSigner.hashClose(a);
    }

    function _withdrawHash(IChannelEscrow.WithdrawAuth memory a) internal pure returns (bytes32) {
        return PaymentSigner.hashWithdraw(a);
    }

    function _feeCapHash(IChannelEscrow.SettleFeeCapAuth memory a) internal pure returns (bytes32) {
        return PaymentSigner.hashFeeCap(a);
    }

    /// @dev The EIP-712 digest the escrow under test expects for `structHash`.
    function _digest(bytes32 structHash) internal view returns (bytes32) {
        return PaymentSigner.digest(escrow, structHash);
    }

    /// @dev A digest under a domain that differs from the escrow's in chain id and/or contract address.
    function _foreignDigest(uint256 chainId, address verifyingContract, bytes32 structHash)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(
            abi.encodePacked(hex"1901", PaymentSigner.domainSeparator(chainId, verifyingContract), structHash)
        );
    }

    /// @dev What plain ecrecover yields for a compact signature (the escrow's "recovered" for a low-s one).
    function _recover(bytes32 digest_, IChannelEscrow.CompactSignature memory sig) internal pure returns (address) {
        (uint8 v, bytes32 r, bytes32 s) = PaymentSigner.expand(sig);
        return ecrecover(digest_, v, r, s);
    }

    /// @dev The refusal of `sig` checked against the escrow's digest of `structHash` where `expected` must
    /// sign: `InvalidSigner` naming whoever the signature recovers to for those terms.
    function _signerMismatch(bytes32 structHash, IChannelEscrow.CompactSignature memory sig, address expected)
        internal
        view
        returns (bytes memory)
    {
        return _invalidSigner(_recover(_digest(structHash), sig), expected);
    }

    // ---------------------------------------------------------------------------------------------
    // Signature forgery
    // ---------------------------------------------------------------------------------------------

    /// @dev The textbook malleable twin of a compact signature: s' = n − s with the parity bit flipped.
    /// EIP-2098 has no room for it when s' ≥ 2^255 (almost always): bit 255 of s' is then lost.
    function _malleate(IChannelEscrow.CompactSignature memory sig)
        internal
        pure
        returns (IChannelEscrow.CompactSignature memory)
    {
        uint256 s = uint256(sig.vs) & (PARITY_BIT - 1);
        uint256 parity = uint256(sig.vs) >> 255;
        uint256 sTwin = SECP256K1_N - s;
        return IChannelEscrow.CompactSignature({r: sig.r, vs: bytes32(((sTwin << 1) >> 1) | ((1 - parity) << 255))});
    }

    /// @dev A hand-made signature over `digest_` whose s is high but still fits EIP-2098 (s = n/2 + 1), with
    /// its valid low-s twin. Nobody knows the signer's key, but the signer is a real address that can be
    /// funded and pranked, so the pair shows what the escrow does with a genuine malleable signature.
    function _highSPair(bytes32 digest_)
        internal
        pure
        returns (
            address signer,
            IChannelEscrow.CompactSignature memory high,
            IChannelEscrow.CompactSignature memory low
        )
    {
        uint256 sHigh = HALF_N + 1;
        uint256 sLow = SECP256K1_N - sHigh;
        high = IChannelEscrow.CompactSignature({r: GX, vs: bytes32(sHigh)});
        low = IChannelEscrow.CompactSignature({r: GX, vs: bytes32(sLow | PARITY_BIT)});
        signer = ecrecover(digest_, 27, GX, bytes32(sHigh));
        require(signer != address(0) && signer == ecrecover(digest_, 28, GX, bytes32(sLow)), "bad twin");
    }

    // ---------------------------------------------------------------------------------------------
    // Auth builders (payer → payee, deadline one hour ahead, signed by the named key)
    // ---------------------------------------------------------------------------------------------

    function _openAuth(uint256 key, uint32 salt, uint96 deposit_, uint96 fee)
        internal
        view
        returns (IChannelEscrow.OpenAuth memory)
    {
        return escrow.signOpen(
            key, IChannelEscrow.OpenAuth(vm.addr(key), payee, salt, deposit_, fee, address(0), 0, _deadline(), _noSig())
        );
    }

    function _topUpAuth(uint256 key, uint32 salt, uint96 newDeposit, uint96 fee)
        internal
        view
        returns (IChannelEscrow.TopUpAuth memory)
    {
        return escrow.signTopUp(
            key,
            IChannelEscrow.TopUpAuth(vm.addr(key), payee, salt, newDeposit, fee, address(0), 0, _deadline(), _noSig())
        );
    }

    function _closeAuth(uint256 key, uint32 salt, uint96 fee) internal view returns (IChannelEscrow.CloseAuth memory) {
        return escrow.signClose(
            key, IChannelEscrow.CloseAuth(vm.addr(key), payee, salt, fee, address(0), _deadline(), _noSig())
        );
    }

    function _withdrawAuth(uint256 key, address to, uint128 amount, uint128 fee, uint64 nonce)
        internal
        view
        returns (IChannelEscrow.WithdrawAuth memory)
    {
        return escrow.signWithdraw(
            key, IChannelEscrow.WithdrawAuth(vm.addr(key), to, amount, fee, address(0), nonce, _deadline(), _noSig())
        );
    }

    function _feeCapAuth(uint256 key, uint16 bps, uint64 nonce)
        internal
        view
        returns (IChannelEscrow.SettleFeeCapAuth memory)
    {
        return escrow.signFeeCap(
            key, IChannelEscrow.SettleFeeCapAuth(vm.addr(key), bps, relayer, nonce, _deadline(), _noSig())
        );
    }

    function _list(IChannelEscrow.OpenAuth memory a) internal pure returns (IChannelEscrow.OpenAuth[] memory l) {
        l = new IChannelEscrow.OpenAuth[](1);
        l[0] = a;
    }

    function _list(IChannelEscrow.TopUpAuth memory a) internal pure returns (IChannelEscrow.TopUpAuth[] memory l) {
        l = new IChannelEscrow.TopUpAuth[](1);
        l[0] = a;
    }

    function _list(IChannelEscrow.CloseAuth memory a) internal pure returns (IChannelEscrow.CloseAuth[] memory l) {
        l = new IChannelEscrow.CloseAuth[](1);
        l[0] = a;
    }

    function _list(IChannelEscrow.WithdrawAuth memory a)
        internal
        pure
        returns (IChannelEscrow.WithdrawAuth[] memory l)
    {
        l = new IChannelEscrow.WithdrawAuth[](1);
        l[0] = a;
    }

    function _list(IChannelEscrow.SettleFeeCapAuth memory a)
        internal
        pure
        returns (IChannelEscrow.SettleFeeCapAuth[] memory l)
    {
        l = new IChannelEscrow.SettleFeeCapAuth[](1);
        l[0] = a;
    }

    function _list(IChannelEscrow.ChannelFunding memory c)
        internal
        pure
        returns (IChannelEscrow.ChannelFunding[] memory l)
    {
        l = new IChannelEscrow.ChannelFunding[](1);
        l[0] = c;
    }

    /// @dev A wallet holding 100 tokens that never approved the escrow and has no escrow account: only a
    /// permit lets the escrow pull its tokens.
    function _walletWithoutAllowance(string memory name) internal returns (address account, uint256 key) {
        (account, key) = makeAddrAndKey(name);
        token.transfer(account, 100e18);
    }

    // ---------------------------------------------------------------------------------------------
    // Settlement batches
    // ---------------------------------------------------------------------------------------------

    /// @dev One 80-byte receipt entry signed by `key` for `payee_`'s channel `salt`.
    function _entry(uint256 key, address payee_, uint32 salt, uint96 cumulative) internal view returns (bytes memory) {
        return PaymentSigner.packReceipt(salt, cumulative, escrow.signReceipt(key, payee_, salt, cumulative));
    }

    function _header(address payee_, uint16 feeBps, uint16 count) internal pure returns (bytes memory) {
        return PaymentSigner.groupHeader(payee_, feeBps, count);
    }

    function _settleAs(address caller, bytes memory batch) internal returns (bytes memory outcomes) {
        vm.prank(caller);
        outcomes = escrow.settleBatch(batch);
    }

    function _o(IChannelEscrow.SettleOutcome a) internal pure returns (bytes memory) {
        return abi.encodePacked(uint8(a));
    }

    function _o(IChannelEscrow.SettleOutcome a, IChannelEscrow.SettleOutcome b) internal pure returns (bytes memory) {
        return abi.encodePacked(uint8(a), uint8(b));
    }

    function _o(IChannelEscrow.SettleOutcome a, IChannelEscrow.SettleOutcome b, IChannelEscrow.SettleOutcome c)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodePacked(uint8(a), uint8(b), uint8(c));
    }

    /// @dev One group of ReceiptsSettled's `settlements`: the header `payee (20) ‖ credited (16) ‖ fee (16) ‖
    /// count (2)`, then the group's packed entries (`_settled`).
    function _group(address payee_, uint128 credited, uint128 fee, bytes memory entries)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodePacked(payee_, credited, fee, uint16(entries.length / 36), entries);
    }

    /// @dev ReceiptsSettled's packed entry for channel (payer_, salt) settled at `settled`.
    function _settled(address payer_, uint32 salt, uint96 settled) internal pure returns (bytes memory) {
        return abi.encodePacked(payer_, salt, settled);
    }

    // ---------------------------------------------------------------------------------------------
    // Assertions
    // ---------------------------------------------------------------------------------------------

    function _assertChannel(
        bytes32 id,
        uint96 deposit_,
        uint96 settled,
        uint40 closesAt,
        IChannelEscrow.ChannelState state
    ) internal view {
        IChannelEscrow.Channel memory c = escrow.channel(id);
        assertEq(c.deposit, deposit_, "deposit");
        assertEq(c.settled, settled, "settled");
        assertEq(c.closesAt, closesAt, "closesAt");
        assertEq(uint8(c.state), uint8(state), "state");
    }

    function _expectSkipped(uint256 index, bytes memory reason) internal {
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.AuthorizationSkipped(index, reason);
    }

    /// @dev Expects AuthorizationSkipped, in entry order, for every entry of a signed batch that `reasons`
    /// gives a refusal; an entry with an empty reason is applied and logs no skip.
    function _expectSkipped(bytes[] memory reasons) internal {
        for (uint256 i; i < reasons.length; ++i) {
            if (reasons[i].length != 0) _expectSkipped(i, reasons[i]);
        }
    }

    /// @dev Expects the batch's one ReceiptsSettled log, with `settlements` built from `_group`s.
    function _expectReceiptsSettled(bytes memory settlements) internal {
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.ReceiptsSettled(settlements);
    }

    function _expectChannelClosed(bytes32 id, uint96 settled, uint96 fee) internal {
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.ChannelClosed(id, settled, fee);
    }

    function _expectReceiptSkipped(bytes32 id, IChannelEscrow.SettleOutcome outcome) internal {
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.ReceiptSkipped(id, outcome);
    }

    /// @dev Settles the one-receipt `batch` as the relayer and asserts that its receipt is skipped with
    /// `outcome`, both logged (ReceiptSkipped for channel `id`) and returned.
    function _assertReceiptSkipped(bytes memory batch, bytes32 id, IChannelEscrow.SettleOutcome outcome) internal {
        _expectReceiptSkipped(id, outcome);
        assertEq(_settleAs(relayer, batch), _o(outcome));
    }

    /// @dev Calls the escrow as `caller` with `call` and asserts that it reverts with exactly `err`.
    function _assertRevertAs(address caller, bytes memory call, bytes memory err) internal {
        vm.prank(caller);
        (bool ok, bytes memory ret) = address(escrow).call(call);
        assertFalse(ok, "the call succeeded");
        assertEq(ret, err, "revert reason");
    }

    /// @dev Calls a signed-batch entry point (`call`) as `caller` and asserts that its first entry is skipped
    /// with exactly `reason`, both logged (AuthorizationSkipped) and returned; returns all the failures.
    function _assertSkippedAs(address caller, bytes memory call, bytes memory reason)
        internal
        returns (bytes[] memory failures)
    {
        _expectSkipped(0, reason);
        vm.prank(caller);
        (bool ok, bytes memory ret) = address(escrow).call(call);
        assertTrue(ok, "the batch reverted");
        failures = abi.decode(ret, (bytes[]));
        assertEq(failures[0], reason, "failure of the first entry");
    }

    /// @dev A signed-batch entry point (`call`) given no entries: it returns no failures and logs nothing.
    function _assertEmptyBatchIsNoop(bytes memory call) internal {
        vm.recordLogs();
        (bool ok, bytes memory ret) = address(escrow).call(call);
        assertTrue(ok, "an empty batch reverted");
        assertEq(abi.decode(ret, (bytes[])).length, 0, "failures");
        assertEq(vm.getRecordedLogs().length, 0, "logs");
    }

    function _expectFees(address relayer_, uint256 amount) internal {
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IChannelEscrow.FeesCollected(relayer_, amount);
    }

    /// @dev Asserts that none of the logs recorded since `vm.recordLogs()` has `topic0`.
    function _assertNoLog(bytes32 topic0) internal {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics.length != 0) assertTrue(logs[i].topics[0] != topic0, "unexpected event");
        }
    }

    function _countLogs(Vm.Log[] memory logs, bytes32 topic0) internal pure returns (uint256 n) {
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics.length != 0 && logs[i].topics[0] == topic0) ++n;
        }
    }

    function _invalidState(bytes32 id, IChannelEscrow.ChannelState state) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IChannelEscrow.InvalidChannelState.selector, id, state);
    }

    function _insufficient(address account, uint256 available, uint256 required) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IChannelEscrow.InsufficientBalance.selector, account, available, required);
    }

    function _invalidSigner(address recovered, address expected) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IChannelEscrow.InvalidSigner.selector, recovered, expected);
    }

    function _expired(uint256 deadline) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IChannelEscrow.SignatureExpired.selector, deadline);
    }
}
