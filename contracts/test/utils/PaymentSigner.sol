// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Vm} from "forge-std/Vm.sol";

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentHash} from "../../src/libraries/PaymentHash.sol";

/// @notice Signs piecepay messages with forge's `vm.sign` and packs settlement batches, for tests and scripts.
/// Struct hashes come from PaymentHash, the contracts' own definition, re-encoded here from memory structs.
library PaymentSigner {
    Vm private constant VM = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    function digest(IChannelEscrow escrow, bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", escrow.DOMAIN_SEPARATOR(), structHash));
    }

    /// @dev The EIP-712 domain separator of a piecepay escrow at `verifyingContract` on `chainId`, from the
    /// literal name and version (not PaymentHash's constants), so that it also checks those.
    function domainSeparator(uint256 chainId, address verifyingContract) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("piecepay"),
                keccak256("1"),
                chainId,
                verifyingContract
            )
        );
    }

    /// @dev EIP-2098 compact form of vm.sign's (v, r, s); vm.sign always yields low-s signatures.
    function signDigest(uint256 key, bytes32 hash) internal pure returns (IChannelEscrow.CompactSignature memory) {
        (uint8 v, bytes32 r, bytes32 s) = VM.sign(key, hash);
        return IChannelEscrow.CompactSignature({r: r, vs: bytes32(uint256(s) | (uint256(v - 27) << 255))});
    }

    /// @dev The (v, r, s) form of a compact signature, as ecrecover and EIP-2612 `permit` take it.
    function expand(IChannelEscrow.CompactSignature memory sig) internal pure returns (uint8 v, bytes32 r, bytes32 s) {
        v = uint8(27 + (uint256(sig.vs) >> 255));
        r = sig.r;
        s = bytes32((uint256(sig.vs) << 1) >> 1);
    }

    function signReceipt(IChannelEscrow escrow, uint256 payerKey, address payee, uint32 salt, uint96 cumulative)
        internal
        view
        returns (IChannelEscrow.CompactSignature memory)
    {
        return signDigest(payerKey, digest(escrow, PaymentHash.hashReceipt(payee, salt, cumulative)));
    }

    /// @dev One 80-byte receipt entry of a settlement batch.
    function packReceipt(uint32 salt, uint96 cumulative, IChannelEscrow.CompactSignature memory sig)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodePacked(salt, cumulative, sig.r, sig.vs);
    }

    /// @dev The 24-byte header that starts a payee's group in a settlement batch.
    function groupHeader(address payee, uint16 feeBps, uint16 count) internal pure returns (bytes memory) {
        return abi.encodePacked(payee, feeBps, count);
    }

    /// @dev A one-receipt batch, signed by `payerKey`.
    function singleReceiptBatch(
        IChannelEscrow escrow,
        uint256 payerKey,
        address payee,
        uint32 salt,
        uint96 cumulative,
        uint16 feeBps
    ) internal view returns (bytes memory) {
        return bytes.concat(
            groupHeader(payee, feeBps, 1),
            packReceipt(salt, cumulative, signReceipt(escrow, payerKey, payee, salt, cumulative))
        );
    }

    // Struct hashes by an explicit abi.encode of the fields, independent of the contract's word copying.

    function hashOpen(IChannelEscrow.OpenAuth memory a) internal pure returns (bytes32) {
        return keccak256(encodeOpen(a));
    }

    /// @dev The words hashOpen hashes: the typehash, then one word per signed field (word 7: the deadline).
    function encodeOpen(IChannelEscrow.OpenAuth memory a) internal pure returns (bytes memory) {
        return abi.encode(
            PaymentHash.OPEN_CHANNEL_TYPEHASH, a.payee, a.salt, a.deposit, a.fee, a.relayer, a.channelNonce, a.deadline
        );
    }

    function hashTopUp(IChannelEscrow.TopUpAuth memory a) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                PaymentHash.TOP_UP_TYPEHASH, a.payee, a.salt, a.deposit, a.fee, a.relayer, a.channelNonce, a.deadline
            )
        );
    }

    function hashClose(IChannelEscrow.CloseAuth memory a) internal pure returns (bytes32) {
        return keccak256(abi.encode(PaymentHash.REQUEST_CLOSE_TYPEHASH, a.payee, a.salt, a.fee, a.relayer, a.deadline));
    }

    function hashWithdraw(IChannelEscrow.WithdrawAuth memory a) internal pure returns (bytes32) {
        return
            keccak256(
                abi.encode(PaymentHash.WITHDRAWAL_TYPEHASH, a.to, a.amount, a.fee, a.relayer, a.nonce, a.deadline)
            );
    }

    function hashFeeCap(IChannelEscrow.SettleFeeCapAuth memory a) internal pure returns (bytes32) {
        return keccak256(abi.encode(PaymentHash.SETTLE_FEE_CAP_TYPEHASH, a.bps, a.relayer, a.nonce, a.deadline));
    }

    function hashCooperativeClose(IChannelEscrow.CooperativeCloseAuth memory a) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                PaymentHash.COOPERATIVE_CLOSE_TYPEHASH,
                a.payer,
                a.payee,
                a.salt,
                a.cumulative,
                a.fee,
                a.relayer,
                a.channelNonce,
                a.deadline
            )
        );
    }

    function signOpen(IChannelEscrow escrow, uint256 key, IChannelEscrow.OpenAuth memory a)
        internal
        view
        returns (IChannelEscrow.OpenAuth memory)
    {
        a.sig = signDigest(key, digest(escrow, hashOpen(a)));
        return a;
    }

    function signTopUp(IChannelEscrow escrow, uint256 key, IChannelEscrow.TopUpAuth memory a)
        internal
        view
        returns (IChannelEscrow.TopUpAuth memory)
    {
        a.sig = signDigest(key, digest(escrow, hashTopUp(a)));
        return a;
    }

    function signClose(IChannelEscrow escrow, uint256 key, IChannelEscrow.CloseAuth memory a)
        internal
        view
        returns (IChannelEscrow.CloseAuth memory)
    {
        a.sig = signDigest(key, digest(escrow, hashClose(a)));
        return a;
    }

    function signWithdraw(IChannelEscrow escrow, uint256 key, IChannelEscrow.WithdrawAuth memory a)
        internal
        view
        returns (IChannelEscrow.WithdrawAuth memory)
    {
        a.sig = signDigest(key, digest(escrow, hashWithdraw(a)));
        return a;
    }

    function signFeeCap(IChannelEscrow escrow, uint256 key, IChannelEscrow.SettleFeeCapAuth memory a)
        internal
        view
        returns (IChannelEscrow.SettleFeeCapAuth memory)
    {
        a.sig = signDigest(key, digest(escrow, hashFeeCap(a)));
        return a;
    }

    function signCooperativeClose(IChannelEscrow escrow, uint256 key, IChannelEscrow.CooperativeCloseAuth memory a)
        internal
        view
        returns (IChannelEscrow.CompactSignature memory)
    {
        return signDigest(key, digest(escrow, hashCooperativeClose(a)));
    }

    /// @dev An EIP-2612 permit of `token` for `spender`, signed by `key`, in compact form.
    function signPermit(address token, uint256 key, address spender, uint256 value, uint256 nonce, uint256 deadline)
        internal
        view
        returns (IChannelEscrow.CompactSignature memory)
    {
        return signDigest(key, permitDigest(token, VM.addr(key), spender, value, nonce, deadline));
    }

    /// @dev The digest an EIP-2612 permit of `owner`'s `token` for `spender` signs.
    function permitDigest(address token, address owner, address spender, uint256 value, uint256 nonce, uint256 deadline)
        internal
        view
        returns (bytes32)
    {
        bytes32 permitTypehash =
            keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
        bytes32 structHash = keccak256(abi.encode(permitTypehash, owner, spender, value, nonce, deadline));
        (, bytes memory separator) = token.staticcall(abi.encodeWithSignature("DOMAIN_SEPARATOR()"));
        return keccak256(abi.encodePacked(hex"1901", abi.decode(separator, (bytes32)), structHash));
    }
}
