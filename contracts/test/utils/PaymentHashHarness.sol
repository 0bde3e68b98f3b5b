// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentHash} from "../../src/libraries/PaymentHash.sol";

/// @notice Exposes PaymentHash (which hashes calldata structs) to tests and scripts holding memory structs:
/// each returns the struct hash; the `canonical…` functions the encoding check.
contract PaymentHashHarness {
    function receipt(address payee, uint32 salt, uint96 cumulative) external pure returns (bytes32) {
        return PaymentHash.hashReceipt(payee, salt, cumulative);
    }

    function openChannel(IChannelEscrow.OpenAuth calldata a) external pure returns (bytes32 h) {
        (h,) = PaymentHash.hash(a);
    }

    function topUp(IChannelEscrow.TopUpAuth calldata a) external pure returns (bytes32 h) {
        (h,) = PaymentHash.hash(a);
    }

    function requestClose(IChannelEscrow.CloseAuth calldata a) external pure returns (bytes32 h) {
        (h,) = PaymentHash.hash(a);
    }

    function withdrawal(IChannelEscrow.WithdrawAuth calldata a) external pure returns (bytes32 h) {
        (h,) = PaymentHash.hash(a);
    }

    function settleFeeCap(IChannelEscrow.SettleFeeCapAuth calldata a) external pure returns (bytes32 h) {
        (h,) = PaymentHash.hash(a);
    }

    function cooperativeClose(IChannelEscrow.CooperativeCloseAuth calldata a) external pure returns (bytes32 h) {
        (h,) = PaymentHash.hash(a);
    }

    function channelId(address payer, address payee, uint32 salt) external pure returns (bytes32) {
        return PaymentHash.channelId(payer, payee, salt);
    }
}
