// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IChannelEscrow} from "./interfaces/IChannelEscrow.sol";
import {ChannelPacking} from "./libraries/ChannelPacking.sol";
import {PaymentHash} from "./libraries/PaymentHash.sol";

/// @title ChannelEscrow
/// @notice Non-custodial pay-per-piece payment channels. See IChannelEscrow and docs/contracts.md.
/// @dev Immutable and ownerless. Accounting bound: the escrow refuses deposits that would make it hold
/// more than 2^128−1 tokens, and every free balance and channel amount is part of those holdings, so
/// balance arithmetic bounded by them cannot overflow (the `unchecked` blocks below rely on this).
contract ChannelEscrow is IChannelEscrow, EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using PaymentHash for *;
    using ChannelPacking for Channel;

    /// @notice Free balance, signed-operation nonce and settlement fee cap, packed into one slot.
    struct Account {
        uint128 balance;
        uint64 nonce;
        uint16 settleFeeCapBps;
    }

    /// @inheritdoc IChannelEscrow
    address public immutable TOKEN;
    /// @inheritdoc IChannelEscrow
    uint40 public immutable CHALLENGE_PERIOD;

    uint40 private constant MAX_CHALLENGE_PERIOD = 30 days;
    uint16 private constant BPS = 10_000;

    /// @dev Settlement batch layout (see settleBatch): a 24-byte group header, then 80-byte receipts.
    uint256 private constant GROUP_HEADER_SIZE = 24;
    uint256 private constant RECEIPT_SIZE = 80;
    /// @dev secp256k1n / 2: signatures with a larger `s` are the malleable twin of a low-s one.
    uint256 private constant HALF_CURVE_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    mapping(address account => Account) private _accounts;
    /// @dev Channel words in the ChannelPacking layout.
    mapping(bytes32 channelId => uint256 word) private _channels;

    constructor(address token, uint40 challengePeriod) EIP712(PaymentHash.DOMAIN_NAME, PaymentHash.DOMAIN_VERSION) {
        if (token == address(0)) revert ZeroAddress();
        if (challengePeriod == 0 || challengePeriod > MAX_CHALLENGE_PERIOD) {
            revert InvalidChallengePeriod(challengePeriod);
        }
        TOKEN = token;
        CHALLENGE_PERIOD = challengePeriod;
    }

    // ---------------------------------------------------------------------------------------------
    // Free balances
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IChannelEscrow
    function deposit(address account, uint256 amount) external nonReentrant {
        if (account == address(0)) revert ZeroAddress();
        _pull(msg.sender, account, amount);
    }

    /// @inheritdoc IChannelEscrow
    function depositWithPermit(address owner, uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
    {
        // A permit that someone front-ran has already set the allowance it carries; ignoring the failure
        // here lets the transfer below decide, so front-running cannot block the deposit.
        try IERC20Permit(TOKEN).permit(owner, address(this), amount, deadline, v, r, s) {} catch {}
        _pull(owner, owner, amount);
    }

    /// @inheritdoc IChannelEscrow
    function withdraw(address to, uint256 amount) external nonReentrant {
        _revertIfFailed(_debitWithdrawal(msg.sender, to, amount, 0));
        IERC20(TOKEN).safeTransfer(to, amount);
    }

    /// @inheritdoc IChannelEscrow
    function withdrawBySig(WithdrawAuth[] calldata auths) external nonReentrant returns (bytes[] memory failures) {
        failures = new bytes[](auths.length);
        uint256 fees = 0;
        for (uint256 i; i < auths.length; ++i) {
            WithdrawAuth calldata a = auths[i];
            bytes memory failure = _checkSigned(a.hash(), a.sig, a.owner, a.deadline);
            if (failure.length == 0) failure = _checkNonce(a.owner, a.nonce);
            if (failure.length == 0) failure = _debitWithdrawal(a.owner, a.to, a.amount, a.fee);
            fees += _recordOutcome(failures, i, failure, a.fee);
            // The nonce is used only by an applied entry: a skipped one stays valid for later.
            if (failure.length == 0) {
                _bumpNonce(a.owner);
                IERC20(TOKEN).safeTransfer(a.to, a.amount);
            }
        }
        _collectFees(fees);
    }

    // ---------------------------------------------------------------------------------------------
    // Opening and funding channels
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IChannelEscrow
    function openChannel(address payee, uint32 salt, uint96 amount) external returns (bytes32 id) {
        id = PaymentHash.channelId(msg.sender, payee, salt);
        _revertIfFailed(_open(id, msg.sender, payee, salt, amount, 0));
    }

    /// @inheritdoc IChannelEscrow
    function openChannelsBySig(OpenAuth[] calldata auths) external returns (bytes[] memory failures) {
        failures = new bytes[](auths.length);
        uint256 fees = 0;
        for (uint256 i; i < auths.length; ++i) {
            OpenAuth calldata a = auths[i];
            address payer = a.payer;
            uint96 fee = a.fee;
            bytes memory failure = _checkSigned(a.hash(), a.sig, payer, a.deadline);
            if (failure.length == 0) {
                address payee = a.payee;
                uint32 salt = a.salt;
                failure = _open(PaymentHash.channelId(payer, payee, salt), payer, payee, salt, a.deposit, fee);
            }
            fees += _recordOutcome(failures, i, failure, fee);
        }
        _collectFees(fees);
    }

    /// @inheritdoc IChannelEscrow
    function topUp(address payee, uint32 salt, uint96 amount) external {
        if (amount == 0) revert ZeroAmount();
        bytes32 id = PaymentHash.channelId(msg.sender, payee, salt);
        _revertIfFailed(_topUpTo(id, msg.sender, uint256(_channel(id).deposit) + amount, 0));
    }

    /// @inheritdoc IChannelEscrow
    function topUpsBySig(TopUpAuth[] calldata auths) external returns (bytes[] memory failures) {
        failures = new bytes[](auths.length);
        uint256 fees = 0;
        for (uint256 i; i < auths.length; ++i) {
            TopUpAuth calldata a = auths[i];
            bytes memory failure = _checkSigned(a.hash(), a.sig, a.payer, a.deadline);
            if (failure.length == 0) {
                failure = _topUpTo(PaymentHash.channelId(a.payer, a.payee, a.salt), a.payer, a.deposit, a.fee);
            }
            fees += _recordOutcome(failures, i, failure, a.fee);
        }
        _collectFees(fees);
    }

    // ---------------------------------------------------------------------------------------------
    // Settlement
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IChannelEscrow
    function settleBatch(bytes calldata batch) external returns (bytes memory outcomes) {
        // One outcome byte per receipt; the batch cannot hold more receipts than this.
        outcomes = new bytes(batch.length / RECEIPT_SIZE);
        bytes32 domainSeparator = _domainSeparatorV4();
        uint256 receipts;
        uint256 feeTotal;
        uint256 cursor;
        while (cursor < batch.length) {
            uint256 outPtr;
            assembly ("memory-safe") {
                outPtr := add(add(outcomes, 0x20), receipts)
            }
            (uint256 count, uint256 fee) = _settleGroup(batch, cursor, domainSeparator, outPtr);
            unchecked {
                // Cannot overflow: bounded by the batch length and by holdings < 2^128.
                cursor += GROUP_HEADER_SIZE + count * RECEIPT_SIZE;
                receipts += count;
                feeTotal += fee;
            }
        }
        _collectFees(feeTotal);
        // Trim the upper-bound allocation to the receipts actually present.
        assembly ("memory-safe") {
            mstore(outcomes, receipts)
        }
    }

    /// @dev Settles the group starting at `cursor` and credits its payee; returns the group's receipt
    /// count and the fee the caller earned from it. Outcome bytes go to `outPtr` onwards.
    function _settleGroup(bytes calldata batch, uint256 cursor, bytes32 domainSeparator, uint256 outPtr)
        private
        returns (uint256 count, uint256 fee)
    {
        if (batch.length - cursor < GROUP_HEADER_SIZE) revert MalformedBatch(cursor);
        uint256 header;
        uint256 first;
        assembly ("memory-safe") {
            // Only the top 24 bytes are used, and they are inside the batch (checked above).
            header := calldataload(add(batch.offset, cursor))
            first := add(add(batch.offset, cursor), GROUP_HEADER_SIZE)
        }
        address payee = address(uint160(header >> 96));
        uint256 feeBps = (header >> 80) & 0xffff;
        count = (header >> 64) & 0xffff;
        if (batch.length - cursor - GROUP_HEADER_SIZE < count * RECEIPT_SIZE) {
            revert MalformedBatch(cursor + GROUP_HEADER_SIZE);
        }

        Account storage payeeAccount = _accounts[payee];
        uint256 m = _prepareSettleScratch(payee, feeBps <= payeeAccount.settleFeeCapBps, domainSeparator);
        (uint256 credited, uint256 entriesEnd) = _settleReceipts(m, first, first + count * RECEIPT_SIZE, outPtr);
        if (credited != 0) {
            // feeBps ≤ the payee's cap ≤ 10,000 here (else nothing was credited), so fee ≤ credited.
            fee = credited * feeBps / BPS;
            _credit(payee, credited - fee);
            bytes32 topic = ReceiptsSettled.selector;
            assembly ("memory-safe") {
                // ReceiptsSettled's data, ABI-encoded in place in front of the Settlement entries that
                // _settleReceipts wrote from m+0x300: credited, fee, offset of the array, its length.
                mstore(add(m, 0x280), credited)
                mstore(add(m, 0x2a0), fee)
                mstore(add(m, 0x2c0), 0x60)
                mstore(add(m, 0x2e0), shr(6, sub(entriesEnd, add(m, 0x300))))
                log2(add(m, 0x280), sub(entriesEnd, add(m, 0x280)), topic, payee)
            }
        }
    }

    /// @dev Writes the per-group constants of `_settleReceipts` into scratch memory above the free-memory
    /// pointer (nothing is allocated until `_settleReceipts` returns) and returns its address. Layout:
    ///   0x000 typehash, then payer | 0x020 payee | 0x040 salt | 0x060 cumulative   (struct hash, channel id)
    ///   0x080 0x1901 ‖ domainSeparator ‖ structHash (66 bytes)                     (EIP-712 digest)
    ///   0x0e0 digest | 0x100 v | 0x120 r | 0x140 s | 0x160 recovered               (ecrecover in/out)
    ///   0x180 channel id | 0x1a0 mapping slot index                                (storage slot)
    ///   0x1c0 skip event data | 0x1e0 RECEIPT_TYPEHASH | 0x220 ReceiptSkipped topic
    ///   0x240 block.timestamp | 0x260 fee allowed (0/1)
    ///   0x280 ReceiptsSettled data: credited, fee, 0x60, length, then one (channelId, settled) per settled receipt
    function _prepareSettleScratch(address payee, bool feeAllowed, bytes32 domainSeparator)
        private
        view
        returns (uint256 m)
    {
        bytes32 receiptTypehash = PaymentHash.RECEIPT_TYPEHASH;
        bytes32 skippedTopic = ReceiptSkipped.selector;
        assembly ("memory-safe") {
            m := mload(0x40)
            mstore(add(m, 0x20), payee)
            mstore(add(m, 0x80), shl(240, 0x1901))
            mstore(add(m, 0x82), domainSeparator)
            mstore(add(m, 0x1a0), _channels.slot)
            mstore(add(m, 0x1e0), receiptTypehash)
            mstore(add(m, 0x220), skippedTopic)
            mstore(add(m, 0x240), timestamp())
            mstore(add(m, 0x260), feeAllowed)
        }
    }

    /// @dev The gas-critical loop over the 80-byte receipts in calldata [p, end). Per receipt: hash the
    /// struct and the digest, recover the payer (it is not sent), derive the channel id from it, read and
    /// write the one channel slot. Writes a SettleOutcome byte per skipped receipt at outPtr (settled ones
    /// stay 0), appends a Settlement entry per settled receipt from m+0x300, and returns the amount to credit
    /// to the payee and the end of the entries.
    function _settleReceipts(uint256 m, uint256 p, uint256 end, uint256 outPtr)
        private
        returns (uint256 credited, uint256 entries)
    {
        assembly ("memory-safe") {
            entries := add(m, 0x300)
            for {} lt(p, end) {
                p := add(p, 80)
                outPtr := add(outPtr, 1)
            } {
                mstore(m, mload(add(m, 0x1e0)))
                mstore(add(m, 0x40), shr(224, calldataload(p)))
                mstore(add(m, 0x60), shr(160, calldataload(add(p, 4))))
                mstore(add(m, 0xa2), keccak256(m, 0x80))
                mstore(add(m, 0xe0), keccak256(add(m, 0x80), 0x42))
                // EIP-2098: the top bit of vs is the parity (v = 27 or 28), the rest is s.
                let vs := calldataload(add(p, 48))
                mstore(add(m, 0x100), add(27, shr(255, vs)))
                mstore(add(m, 0x120), calldataload(add(p, 16)))
                mstore(add(m, 0x140), shr(1, shl(1, vs)))
                // A failed recovery returns nothing and leaves the zeroed output: payer 0 owns no channel.
                mstore(add(m, 0x160), 0)
                pop(staticcall(gas(), 1, add(m, 0xe0), 0x80, add(m, 0x160), 0x20))
                mstore(m, mload(add(m, 0x160)))
                mstore(add(m, 0x180), keccak256(m, 0x60))
                let slot := keccak256(add(m, 0x180), 0x40)
                let word := sload(slot)
                let settled := and(shr(96, word), 0xffffffffffffffffffffffff)
                // Never beyond the deposit: settle min(cumulative, deposit).
                let target := and(word, 0xffffffffffffffffffffffff)
                if lt(mload(add(m, 0x60)), target) { target := mload(add(m, 0x60)) }

                // SettleOutcome codes: 1 UnknownChannel, 2 ChannelClosed, 3 ChallengeExpired, 4 Stale,
                // 5 MalleableSignature, 6 FeeAboveCap. Later checks take precedence. Bits above the state
                // byte are always zero, so shr(232, word) is the state.
                let outcome := mul(4, iszero(gt(target, settled)))
                if eq(shr(232, word), 2) {
                    if gt(mload(add(m, 0x240)), and(shr(192, word), 0xffffffffff)) { outcome := 3 }
                }
                if eq(shr(232, word), 3) { outcome := 2 }
                if iszero(shr(232, word)) { outcome := 1 }
                if gt(mload(add(m, 0x140)), HALF_CURVE_ORDER) { outcome := 5 }
                if iszero(mload(add(m, 0x260))) { outcome := 6 }

                switch outcome
                case 0 {
                    sstore(slot, or(and(word, not(shl(96, 0xffffffffffffffffffffffff))), shl(96, target)))
                    // Cannot overflow: at most 2^16 receipts of at most 2^96 each.
                    credited := add(credited, sub(target, settled))
                    mstore(entries, mload(add(m, 0x180)))
                    mstore(add(entries, 0x20), target)
                    entries := add(entries, 0x40)
                }
                default {
                    mstore8(outPtr, outcome)
                    mstore(add(m, 0x1c0), outcome)
                    log2(add(m, 0x1c0), 0x20, mload(add(m, 0x220)), mload(add(m, 0x180)))
                }
            }
        }
    }

    /// @inheritdoc IChannelEscrow
    function setSettleFeeCap(uint16 bps) external {
        _revertIfFailed(_setSettleFeeCap(msg.sender, bps));
    }

    /// @inheritdoc IChannelEscrow
    function setSettleFeeCapsBySig(SettleFeeCapAuth[] calldata auths) external returns (bytes[] memory failures) {
        failures = new bytes[](auths.length);
        for (uint256 i; i < auths.length; ++i) {
            SettleFeeCapAuth calldata a = auths[i];
            bytes memory failure = _checkSigned(a.hash(), a.sig, a.payee, a.deadline);
            if (failure.length == 0) failure = _checkNonce(a.payee, a.nonce);
            if (failure.length == 0) failure = _setSettleFeeCap(a.payee, a.bps);
            if (failure.length == 0) _bumpNonce(a.payee);
            _recordOutcome(failures, i, failure, 0);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Closing
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IChannelEscrow
    function requestClose(address payee, uint32 salt) external {
        _revertIfFailed(_requestClose(PaymentHash.channelId(msg.sender, payee, salt), msg.sender, 0));
    }

    /// @inheritdoc IChannelEscrow
    function requestClosesBySig(CloseAuth[] calldata auths) external returns (bytes[] memory failures) {
        failures = new bytes[](auths.length);
        uint256 fees = 0;
        for (uint256 i; i < auths.length; ++i) {
            CloseAuth calldata a = auths[i];
            bytes memory failure = _checkSigned(a.hash(), a.sig, a.payer, a.deadline);
            if (failure.length == 0) {
                failure = _requestClose(PaymentHash.channelId(a.payer, a.payee, a.salt), a.payer, a.fee);
            }
            fees += _recordOutcome(failures, i, failure, a.fee);
        }
        _collectFees(fees);
    }

    /// @inheritdoc IChannelEscrow
    function finalizeClose(address payer, address payee, uint32 salt) external {
        bytes32 id = PaymentHash.channelId(payer, payee, salt);
        Channel memory c = _channel(id);
        if (c.state != ChannelState.Closing) revert InvalidChannelState(id, c.state);
        if (block.timestamp <= c.closesAt) revert ChallengePeriodActive(id, c.closesAt);
        _close(id, c, payer);
    }

    /// @inheritdoc IChannelEscrow
    function closeByPayee(address payer, uint32 salt) external {
        bytes32 id = PaymentHash.channelId(payer, msg.sender, salt);
        Channel memory c = _channel(id);
        if (c.state != ChannelState.Open && c.state != ChannelState.Closing) revert InvalidChannelState(id, c.state);
        _close(id, c, payer);
    }

    /// @inheritdoc IChannelEscrow
    function cooperativeClose(
        CooperativeCloseAuth calldata auth,
        CompactSignature calldata payerSig,
        CompactSignature calldata payeeSig
    ) external {
        uint40 deadline = auth.deadline;
        // slither-disable-next-line timestamp
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        bytes32 digest = _hashTypedDataV4(auth.hash());
        address payer = auth.payer;
        address payee = auth.payee;
        _requireSigner(digest, payerSig, payer);
        _requireSigner(digest, payeeSig, payee);
        bytes32 id = PaymentHash.channelId(payer, payee, auth.salt);
        uint256 word = _channels[id];
        ChannelState state = ChannelPacking.state(word);
        if (state != ChannelState.Open && state != ChannelState.Closing) revert InvalidChannelState(id, state);

        // The agreed amount can only raise what is settled, and never beyond the deposit.
        uint96 deposit = ChannelPacking.deposit(word);
        uint96 settled = ChannelPacking.settled(word);
        uint96 cumulative = auth.cumulative;
        if (cumulative > deposit) cumulative = deposit;
        if (cumulative > settled) {
            _credit(payee, cumulative - settled);
            settled = cumulative;
        }
        // The payer gets the rest of the deposit back and pays the fee from it (or from its free balance).
        _credit(payer, deposit - settled);
        uint96 fee = auth.fee;
        if (fee != 0) _revertIfFailed(_debit(payer, fee));
        _channels[id] = ChannelPacking.closed(deposit, settled);
        emit ChannelClosed(id, settled, fee);
        _collectFees(fee);
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IChannelEscrow
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc IChannelEscrow
    function channelId(address payer, address payee, uint32 salt) external pure returns (bytes32) {
        return PaymentHash.channelId(payer, payee, salt);
    }

    /// @inheritdoc IChannelEscrow
    function channel(bytes32 id) external view returns (Channel memory) {
        return _channel(id);
    }

    /// @inheritdoc IChannelEscrow
    function balanceOf(address account) external view returns (uint256) {
        return _accounts[account].balance;
    }

    /// @inheritdoc IChannelEscrow
    function nonceOf(address account) external view returns (uint64) {
        return _accounts[account].nonce;
    }

    /// @inheritdoc IChannelEscrow
    function settleFeeCapOf(address account) external view returns (uint16) {
        return _accounts[account].settleFeeCapBps;
    }

    // ---------------------------------------------------------------------------------------------
    // Internals. Functions returning `bytes memory failure` check everything before changing anything:
    // an empty result means the operation was applied, otherwise nothing changed and the result is the
    // ABI-encoded custom error. Direct calls revert with it; signed batches skip the entry and log it.
    // ---------------------------------------------------------------------------------------------

    function _pull(address from, address account, uint256 amount) private {
        if (amount == 0) revert ZeroAmount();
        IERC20 token = IERC20(TOKEN);
        uint256 before = token.balanceOf(address(this));
        // slither-disable-next-line arbitrary-send-erc20,arbitrary-send-erc20-permit
        token.safeTransferFrom(from, address(this), amount); // `from` is the caller, or the permit's owner credited below
        uint256 holdings = token.balanceOf(address(this));
        if (holdings > type(uint128).max) revert HoldingsOverflow(holdings);
        uint256 received = holdings - before;
        _credit(account, received);
        emit Deposited(account, from, received);
    }

    /// @dev The accounting half of a withdrawal; the caller then transfers `amount` to `to` (interaction last).
    function _debitWithdrawal(address owner, address to, uint256 amount, uint256 fee)
        private
        returns (bytes memory failure)
    {
        if (to == address(0)) return abi.encodeWithSelector(ZeroAddress.selector);
        if (amount == 0) return abi.encodeWithSelector(ZeroAmount.selector);
        failure = _debit(owner, amount + fee);
        if (failure.length != 0) return failure;
        emit Withdrawn(owner, to, amount, fee);
    }

    function _open(bytes32 id, address payer, address payee, uint32 salt, uint96 amount, uint96 fee)
        private
        returns (bytes memory failure)
    {
        if (payee == address(0)) return abi.encodeWithSelector(ZeroAddress.selector);
        if (payee == payer) return abi.encodeWithSelector(SelfChannel.selector, payer);
        if (amount == 0) return abi.encodeWithSelector(ZeroAmount.selector);
        if (_channels[id] != 0) return abi.encodeWithSelector(ChannelExists.selector, id);
        failure = _debit(payer, uint256(amount) + fee);
        if (failure.length != 0) return failure;
        _channels[id] = ChannelPacking.opened(amount);
        emit ChannelOpened(id, payer, payee, salt, amount, fee);
    }

    function _topUpTo(bytes32 id, address payer, uint256 newDeposit, uint96 fee)
        private
        returns (bytes memory failure)
    {
        Channel memory c = _channel(id);
        if (c.state != ChannelState.Open) {
            return abi.encodeWithSelector(InvalidChannelState.selector, id, c.state);
        }
        if (newDeposit > type(uint96).max) return abi.encodeWithSelector(DepositOverflow.selector, newDeposit);
        if (newDeposit <= c.deposit) return abi.encodeWithSelector(StaleTopUp.selector, id, c.deposit, newDeposit);
        failure = _debit(payer, newDeposit - c.deposit + fee);
        if (failure.length != 0) return failure;
        c.deposit = uint96(newDeposit);
        _channels[id] = c.pack();
        emit ChannelToppedUp(id, c.deposit, fee);
    }

    function _requestClose(bytes32 id, address payer, uint96 fee) private returns (bytes memory failure) {
        Channel memory c = _channel(id);
        if (c.state != ChannelState.Open) {
            return abi.encodeWithSelector(InvalidChannelState.selector, id, c.state);
        }
        failure = _debit(payer, fee);
        if (failure.length != 0) return failure;
        c.state = ChannelState.Closing;
        // Cannot overflow in practice: uint40 seconds last until the year 36812.
        c.closesAt = uint40(block.timestamp) + CHALLENGE_PERIOD;
        _channels[id] = c.pack();
        emit CloseRequested(id, c.closesAt, fee);
    }

    function _setSettleFeeCap(address payee, uint16 bps) private returns (bytes memory failure) {
        if (bps > BPS) return abi.encodeWithSelector(FeeCapTooHigh.selector, bps);
        _accounts[payee].settleFeeCapBps = bps;
        emit SettleFeeCapSet(payee, bps);
    }

    /// @dev Refunds what the payee has not been paid to the payer and leaves a `Closed` tombstone, so the
    /// id (and every receipt ever signed for it) can never be used again.
    function _close(bytes32 id, Channel memory c, address payer) private {
        _channels[id] = ChannelPacking.closed(c.deposit, c.settled);
        _credit(payer, c.deposit - c.settled);
        emit ChannelClosed(id, c.settled, 0);
    }

    /// @dev Adds `amount` to `account`'s free balance with one read and one write of its slot. The balance
    /// is the low 128 bits of the account word, and every credit comes out of holdings < 2^128 (see the
    /// contract's note), so the sum never carries into the nonce bits.
    function _credit(address account, uint256 amount) private {
        assembly ("memory-safe") {
            mstore(0x00, account)
            mstore(0x20, _accounts.slot)
            let slot := keccak256(0x00, 0x40)
            sstore(slot, add(sload(slot), amount))
        }
    }

    function _debit(address account, uint256 amount) private returns (bytes memory failure) {
        Account storage a = _accounts[account];
        uint256 available = a.balance;
        if (available < amount) {
            return abi.encodeWithSelector(InsufficientBalance.selector, account, available, amount);
        }
        unchecked {
            // Cannot underflow: checked just above.
            a.balance = uint128(available - amount);
        }
    }

    /// @dev Credits the submitter with fees already debited from the parties (named in their events).
    function _collectFees(uint256 fees) private {
        if (fees == 0) return;
        _credit(msg.sender, fees);
        emit FeesCollected(msg.sender, fees);
    }

    function _checkNonce(address account, uint64 nonce) private view returns (bytes memory failure) {
        uint64 expected = _accounts[account].nonce;
        if (nonce != expected) return abi.encodeWithSelector(InvalidNonce.selector, account, expected, nonce);
    }

    function _bumpNonce(address account) private {
        unchecked {
            // Cannot overflow: 2^64 signed operations will not happen.
            ++_accounts[account].nonce;
        }
    }

    /// @dev Checks deadline and signer of a signed operation; the domain separator binds chain id and
    /// this contract.
    function _checkSigned(bytes32 structHash, CompactSignature calldata sig, address expected, uint40 deadline)
        private
        view
        returns (bytes memory failure)
    {
        // slither-disable-next-line timestamp
        if (block.timestamp > deadline) return abi.encodeWithSelector(SignatureExpired.selector, deadline);
        address recovered = _recover(_hashTypedDataV4(structHash), sig.r, sig.vs);
        if (recovered != expected || recovered == address(0)) {
            return abi.encodeWithSelector(InvalidSigner.selector, recovered, expected);
        }
        return failure;
    }

    function _requireSigner(bytes32 digest, CompactSignature calldata sig, address expected) private view {
        address recovered = _recover(digest, sig.r, sig.vs);
        if (recovered != expected || recovered == address(0)) revert InvalidSigner(recovered, expected);
    }

    /// @dev EIP-2098 compact-signature recovery; 0 for an invalid or malleable (high-s) signature.
    /// Same rules as OpenZeppelin's ECDSA.tryRecover(hash, r, vs) — the tests check the same attacks —
    /// without its error plumbing, which costs ~600 gas per signature on the gasless paths.
    function _recover(bytes32 digest, bytes32 r, bytes32 vs) private view returns (address signer) {
        assembly ("memory-safe") {
            let s := shr(1, shl(1, vs))
            if iszero(gt(s, HALF_CURVE_ORDER)) {
                let m := mload(0x40)
                mstore(m, digest)
                mstore(add(m, 0x20), add(27, shr(255, vs)))
                mstore(add(m, 0x40), r)
                mstore(add(m, 0x60), s)
                mstore(add(m, 0x80), 0)
                pop(staticcall(gas(), 1, m, 0x80, add(m, 0x80), 0x20))
                signer := mload(add(m, 0x80))
            }
        }
    }

    function _channel(bytes32 id) private view returns (Channel memory) {
        return ChannelPacking.unpack(_channels[id]);
    }

    /// @dev Records a batch entry's outcome; returns the fee it earned (0 if it was skipped).
    function _recordOutcome(bytes[] memory failures, uint256 index, bytes memory failure, uint256 fee)
        private
        returns (uint256 earned)
    {
        if (failure.length == 0) return fee;
        failures[index] = failure;
        emit AuthorizationSkipped(index, failure);
    }

    function _revertIfFailed(bytes memory failure) private pure {
        if (failure.length == 0) return;
        assembly ("memory-safe") {
            revert(add(failure, 0x20), mload(failure))
        }
    }
}
