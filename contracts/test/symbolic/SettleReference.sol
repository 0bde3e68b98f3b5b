// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PaymentHash} from "../../src/libraries/PaymentHash.sol";

/// @notice settleBatch's rules written plainly — slices, abi.encode, Solidity's `ecrecover`, mappings,
/// checked arithmetic, one outcome decision per receipt — for SettleEquivalence.t.sol to prove
/// ChannelEscrow's assembly settlement loop equal to. It keeps the escrow's packed words (channel,
/// account) so that states compare word for word; only the outcomes, storage and fees are modelled, not
/// the events.
contract SettleReference {
    uint256 private constant MASK96 = (1 << 96) - 1;
    uint256 private constant HALF_CURVE_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    bytes32 private immutable DOMAIN_SEPARATOR;
    mapping(bytes32 id => uint256 word) public channelWord;
    /// @dev balance 0–127, nonce 128–191, fee cap 192–207, fee relayer id 208–239 (as ChannelEscrow).
    mapping(address account => uint256 word) public accountWord;
    mapping(address relayer => uint32 id) public relayerId;

    constructor(bytes32 domainSeparator) {
        DOMAIN_SEPARATOR = domainSeparator;
    }

    function setChannel(bytes32 id, uint256 word) external {
        channelWord[id] = word;
    }

    function setAccount(address account, uint256 word) external {
        accountWord[account] = word;
    }

    function setRelayerId(address relayer, uint32 id) external {
        relayerId[relayer] = id;
    }

    function settleBatch(bytes calldata batch) external returns (bytes memory outcomes) {
        outcomes = new bytes(batch.length / 80);
        uint256 n;
        uint256 fees;
        uint256 cursor;
        while (cursor < batch.length) {
            require(batch.length - cursor >= 24, "malformed header");
            uint256 count = uint16(bytes2(batch[cursor + 22:cursor + 24]));
            require(batch.length - cursor - 24 >= count * 80, "malformed receipts");
            fees += _settleGroup(batch[cursor:cursor + 24 + count * 80], outcomes, n);
            cursor += 24 + count * 80;
            n += count;
        }
        assembly ("memory-safe") {
            mstore(outcomes, n)
        }
        if (fees != 0) accountWord[msg.sender] += fees;
    }

    /// @dev One group (header and receipts); writes its outcomes from index `n`, returns the caller's fee.
    function _settleGroup(bytes calldata group, bytes memory outcomes, uint256 n) private returns (uint256 fee) {
        address payee = address(bytes20(group[0:20]));
        uint256 feeBps = uint16(bytes2(group[20:22]));
        uint256 count = uint16(bytes2(group[22:24]));
        if (!_feeAllowed(payee, feeBps)) {
            for (uint256 i; i < count; ++i) {
                outcomes[n + i] = bytes1(uint8(6)); // FeeAboveCap
            }
            return 0;
        }
        uint256 credited = _settleReceipts(payee, group[24:], outcomes, n);
        // No fee claimed, none computed: the same result, without the checked product's overflow test, whose
        // 0 / credited halmos first leaves uninterpreted (not known to be 0) in every query of a credit.
        if (credited != 0 && feeBps != 0) fee = credited * feeBps / 10_000;
        if (credited != 0) accountWord[payee] += credited - fee;
    }

    /// @dev A fee is the caller's to take if it is within the payee's cap and the caller is the relayer the
    /// payee named; no fee is anyone's.
    function _feeAllowed(address payee, uint256 feeBps) private view returns (bool) {
        if (feeBps == 0) return true;
        uint256 account = accountWord[payee];
        uint256 named = (account >> 208) & 0xffffffff;
        return feeBps <= ((account >> 192) & 0xffff) && named != 0 && named == relayerId[msg.sender];
    }

    function _settleReceipts(address payee, bytes calldata receipts, bytes memory outcomes, uint256 n)
        private
        returns (uint256 credited)
    {
        for (uint256 i; i < receipts.length / 80; ++i) {
            (uint8 outcome, uint256 increase) = _settleOne(payee, receipts[i * 80:(i + 1) * 80]);
            outcomes[n + i] = bytes1(outcome);
            credited += increase;
        }
    }

    function _settleOne(address payee, bytes calldata receipt) private returns (uint8 outcome, uint256 increase) {
        uint32 salt = uint32(bytes4(receipt[0:4]));
        uint96 cumulative = uint96(bytes12(receipt[4:16]));
        bytes32 r = bytes32(receipt[16:48]);
        uint256 vs = uint256(bytes32(receipt[48:80]));
        uint256 s = vs & ((1 << 255) - 1);
        bytes32 digest =
            keccak256(abi.encodePacked(hex"1901", DOMAIN_SEPARATOR, PaymentHash.hashReceipt(payee, salt, cumulative)));
        address payer = ecrecover(digest, uint8(27 + (vs >> 255)), r, bytes32(s));
        bytes32 id = keccak256(abi.encode(payer, payee, salt));
        uint256 word = channelWord[id];
        uint256 deposit = word & MASK96;
        uint256 settled = (word >> 96) & MASK96;
        uint256 closesAt = (word >> 192) & ((1 << 40) - 1);
        uint256 state = word >> 248;
        uint256 target = cumulative < deposit ? cumulative : deposit;

        if (s > HALF_CURVE_ORDER) return (5, 0); // MalleableSignature
        if (state == 0) return (1, 0); // UnknownChannel
        if (state == 3) return (2, 0); // ChannelClosed
        if (state == 2 && block.timestamp > closesAt) return (3, 0); // ChallengeExpired
        if (target <= settled) return (4, 0); // Stale
        channelWord[id] = (word & ~(MASK96 << 96)) | (target << 96);
        return (0, target - settled);
    }
}
