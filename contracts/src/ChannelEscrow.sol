// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

// The EVM-generation-specific guard: transient storage, or a storage word in the `legacy` build (foundry.toml).
import {EscrowReentrancyGuard} from "@piecepay/evm/EscrowReentrancyGuard.sol";

import {IChannelEscrow} from "./interfaces/IChannelEscrow.sol";
import {ChannelPacking} from "./libraries/ChannelPacking.sol";
import {PaymentHash} from "./libraries/PaymentHash.sol";

/// @title ChannelEscrow
/// @notice Non-custodial pay-per-piece payment channels. See IChannelEscrow and docs/contracts.md.
/// @dev Immutable and ownerless. Accounting bound: the escrow refuses deposits that would make it hold
/// more than 2^128−1 tokens, and every free balance and channel amount is part of those holdings, so
/// balance arithmetic bounded by them cannot overflow (the `unchecked` blocks below rely on this).
contract ChannelEscrow is IChannelEscrow, EIP712, EscrowReentrancyGuard {
    using SafeERC20 for IERC20;
    using PaymentHash for *;
    using ChannelPacking for Channel;

    /// @notice Free balance, signed-operation nonce and settlement fee setting, packed into one slot:
    /// bits 0–127 balance, 128–191 nonce, 192–207 fee cap, 208–239 fee relayer id, 240–255 zero. The
    /// settlement loop reads the fee setting from the word it credits (ChannelEscrow._settleGroups).
    struct Account {
        uint128 balance;
        uint64 nonce;
        uint16 settleFeeCapBps;
        /// @dev The id (see `_relayerIds`) of the one relayer that may take the fee; 0: none.
        uint32 settleFeeRelayer;
    }

    /// @inheritdoc IChannelEscrow
    address public immutable TOKEN;
    /// @inheritdoc IChannelEscrow
    uint40 public immutable CHALLENGE_PERIOD;

    uint40 private constant MAX_CHALLENGE_PERIOD = 30 days;
    uint16 private constant BPS = 10_000;
    /// @dev Passed as the signed channel nonce of a direct call, which has none to check.
    uint256 private constant ANY_NONCE = type(uint256).max;

    /// @dev Settlement batch layout (see settleBatch): a 24-byte group header, then 80-byte receipts.
    uint256 private constant GROUP_HEADER_SIZE = 24;
    uint256 private constant RECEIPT_SIZE = 80;
    /// @dev settleBatch's scratch memory at 0x80 (its layout: _settleGroups).
    uint256 private constant SCRATCH_SIZE = 0x360;
    /// @dev secp256k1n / 2: signatures with a larger `s` are the malleable twin of a low-s one.
    uint256 private constant HALF_CURVE_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    // Written through storage pointers and assembly (_accountSlot), which slither 0.11.6 does not follow.
    // slither-disable-next-line uninitialized-state
    mapping(address account => Account) private _accounts;
    /// @dev Relayer ids: a payee's fee setting names its relayer by a 32-bit id so that it fits the account
    /// word the settlement loop reads anyway (an address would cost a second cold slot per payee group).
    /// Ids are handed out, from 1, the first time a fee setting names an address; they grant nothing.
    mapping(address relayer => uint32 id) private _relayerIds;
    mapping(uint32 id => address relayer) private _relayers;
    uint32 private _relayerCount;

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
        if (account == address(this)) revert EscrowAddress();
        uint256 received = _pull(msg.sender, amount);
        _credit(account, received);
        emit Deposited(account, msg.sender, received);
    }

    /// @inheritdoc IChannelEscrow
    function depositWithPermit(address owner, uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
    {
        // A permit that someone front-ran has already set the allowance it carries; ignoring the failure
        // here lets the transfer below decide, so front-running cannot block the deposit.
        try IERC20Permit(TOKEN).permit(owner, address(this), amount, deadline, v, r, s) {} catch {}
        uint256 received = _pull(owner, amount);
        _credit(owner, received);
        emit Deposited(owner, owner, received);
    }

    /// @inheritdoc IChannelEscrow
    function withdraw(address to, uint256 amount) external nonReentrant {
        _revertIfFailed(_debitWithdrawal(msg.sender, to, amount, 0));
        IERC20(TOKEN).safeTransfer(to, amount);
    }

    /// @inheritdoc IChannelEscrow
    function withdrawBySig(WithdrawAuth[] calldata auths) external nonReentrant returns (bytes[] memory failures) {
        failures = new bytes[](auths.length);
        bytes32 domainSeparator = _domainSeparatorV4();
        uint256 fees = 0;
        for (uint256 i; i < auths.length; ++i) {
            WithdrawAuth calldata a = auths[i];
            (bytes32 structHash, bool canonical) = a.hash();
            bytes memory failure = canonical
                ? _checkSigned(domainSeparator, structHash, a.sig, a.owner, a.relayer, a.deadline)
                : _nonCanonical(_start(a), PaymentHash.WITHDRAW_WIDTHS);
            if (failure.length == 0) failure = _checkNonce(a.owner, a.nonce);
            if (failure.length == 0) failure = _debitWithdrawal(a.owner, a.to, a.amount, a.fee);
            if (failure.length == 0) {
                // The nonce is used only by an applied entry: a skipped one stays valid for later.
                _bumpNonce(a.owner);
                IERC20(TOKEN).safeTransfer(a.to, a.amount);
                fees += a.fee;
            } else {
                _skip(failures, i, failure);
            }
        }
        _collectFees(fees);
    }

    /// @inheritdoc IChannelEscrow
    function advanceNonce() external {
        _bumpNonce(msg.sender);
    }

    // ---------------------------------------------------------------------------------------------
    // Opening and funding channels
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IChannelEscrow
    function openChannel(address payee, uint32 salt, uint96 amount) external returns (bytes32 id) {
        id = PaymentHash.channelId(msg.sender, payee, salt);
        _revertIfFailed(_open(id, msg.sender, payee, salt, amount, 0, ANY_NONCE));
    }

    /// @inheritdoc IChannelEscrow
    function openChannelsBySig(OpenAuth[] calldata auths) external returns (bytes[] memory failures) {
        failures = new bytes[](auths.length);
        bytes32 domainSeparator = _domainSeparatorV4();
        uint256 fees = 0;
        for (uint256 i; i < auths.length; ++i) {
            (bytes memory failure, uint96 fee) = _openBySig(auths[i], domainSeparator);
            if (failure.length == 0) fees += fee;
            else _skip(failures, i, failure);
        }
        _collectFees(fees);
    }

    /// @dev One entry of openChannelsBySig; returns its failure (empty: applied) and the fee it pays.
    function _openBySig(OpenAuth calldata a, bytes32 domainSeparator)
        private
        returns (bytes memory failure, uint96 fee)
    {
        (bytes32 structHash, bool canonical) = a.hash();
        if (!canonical) return (_nonCanonical(_start(a), PaymentHash.OPEN_WIDTHS), 0);
        // Canonical, so every field is its raw word: read without the ABI decoder's checks.
        address payer;
        address relayer;
        uint40 deadline;
        assembly ("memory-safe") {
            payer := calldataload(a)
            fee := calldataload(add(a, 0x80))
            relayer := calldataload(add(a, 0xa0))
            deadline := calldataload(add(a, 0xe0))
        }
        failure = _checkSigned(domainSeparator, structHash, a.sig, payer, relayer, deadline);
        if (failure.length != 0) return (failure, 0);
        address payee;
        uint32 salt;
        uint96 amount;
        uint256 channelNonce;
        assembly ("memory-safe") {
            payee := calldataload(add(a, 0x20))
            salt := calldataload(add(a, 0x40))
            amount := calldataload(add(a, 0x60))
            channelNonce := calldataload(add(a, 0xc0))
        }
        failure = _open(PaymentHash.channelId(payer, payee, salt), payer, payee, salt, amount, fee, channelNonce);
    }

    /// @inheritdoc IChannelEscrow
    function fundChannelsWithPermit(
        uint256 value,
        uint256 deadline,
        CompactSignature calldata sig,
        ChannelFunding[] calldata channels
    ) external nonReentrant {
        // As in depositWithPermit: a failed permit (front-run, or an allowance already given) is left to
        // the transfer below to judge.
        try IERC20Permit(TOKEN)
            .permit(
                msg.sender, address(this), value, deadline, uint8(27 + (uint256(sig.vs) >> 255)), sig.r, _s(sig.vs)
            ) {}
            catch {}
        // Logged before the channels take it, so that an indexer sees the balance rise first; the whole
        // call reverts unless exactly `total` arrives (below).
        // slither-disable-next-line uninitialized-local
        uint256 total;
        for (uint256 i; i < channels.length; ++i) {
            // Cannot overflow: each amount is below 2^96, and calldata holds far fewer than 2^160 entries.
            unchecked {
                total += channels[i].amount;
            }
        }
        if (total == 0) revert ZeroAmount();
        emit Deposited(msg.sender, msg.sender, total);
        for (uint256 i; i < channels.length; ++i) {
            ChannelFunding calldata c = channels[i];
            address payee = c.payee;
            uint32 salt = c.salt;
            uint96 amount = c.amount;
            bytes32 id = PaymentHash.channelId(msg.sender, payee, salt);
            uint256 word = ChannelPacking.load(id);
            if (ChannelPacking.state(word) == ChannelState.None) {
                _revertIfFailed(_checkNewChannel(id, word, msg.sender, payee, amount, ANY_NONCE));
                ChannelPacking.store(id, ChannelPacking.opened(amount, ChannelPacking.nonce(word)));
                emit ChannelOpened(id, msg.sender, payee, salt, amount, 0);
            } else {
                if (amount == 0) revert ZeroAmount();
                uint256 newDeposit = uint256(ChannelPacking.deposit(word)) + amount;
                _revertIfFailed(_checkRaise(id, word, newDeposit, ANY_NONCE));
                _writeDeposit(id, word, newDeposit, 0);
            }
        }
        uint256 received = _pull(msg.sender, total);
        if (received != total) revert TransferShortfall(total, received);
    }

    /// @inheritdoc IChannelEscrow
    function topUp(address payee, uint32 salt, uint96 amount) external {
        if (amount == 0) revert ZeroAmount();
        bytes32 id = PaymentHash.channelId(msg.sender, payee, salt);
        _revertIfFailed(
            _topUpTo(id, msg.sender, uint256(ChannelPacking.deposit(ChannelPacking.load(id))) + amount, 0, ANY_NONCE)
        );
    }

    /// @inheritdoc IChannelEscrow
    function topUpsBySig(TopUpAuth[] calldata auths) external returns (bytes[] memory failures) {
        failures = new bytes[](auths.length);
        bytes32 domainSeparator = _domainSeparatorV4();
        uint256 fees = 0;
        for (uint256 i; i < auths.length; ++i) {
            TopUpAuth calldata a = auths[i];
            (bytes32 structHash, bool canonical) = a.hash();
            bytes memory failure = canonical
                ? _checkSigned(domainSeparator, structHash, a.sig, a.payer, a.relayer, a.deadline)
                : _nonCanonical(_start(a), PaymentHash.TOP_UP_WIDTHS);
            if (failure.length == 0) {
                failure = _topUpTo(
                    PaymentHash.channelId(a.payer, a.payee, a.salt), a.payer, a.deposit, a.fee, a.channelNonce
                );
            }
            if (failure.length == 0) fees += a.fee;
            else _skip(failures, i, failure);
        }
        _collectFees(fees);
    }

    // ---------------------------------------------------------------------------------------------
    // Settlement
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IChannelEscrow
    function settleBatch(bytes calldata batch) external returns (bytes memory outcomes) {
        // The settlement loop's scratch memory: SCRATCH_SIZE bytes at 0x80, the first allocation of the call
        // (see _settleGroups). Reserved before anything else, so its addresses are constants.
        assembly ("memory-safe") {
            // Nothing is allocated before this point in settleBatch; if a compiler ever did, every
            // settlement would revert here (and every settlement test fail) rather than misbehave.
            if iszero(eq(mload(0x40), 0x80)) { invalid() }
            mstore(0x40, add(0x80, SCRATCH_SIZE))
        }
        // One outcome byte per receipt; the batch cannot hold more receipts than this. Settled receipts
        // leave their byte 0; the length is trimmed to the receipts actually present.
        outcomes = new bytes(batch.length / RECEIPT_SIZE);
        _collectFees(_settleGroups(batch, outcomes));
    }

    /// @dev settleBatch's work, in one assembly block: the gas-critical part of the escrow. Per group: parse
    /// the header, read the payee's account word (its fee setting, then its credit), refuse the group
    /// whole if its fee is not the caller's to take, settle its receipts, credit the payee, append the
    /// group to the batch's one ReceiptsSettled (logged at the end). Per receipt: hash the struct and the digest, recover the payer (it is not sent), derive the channel id
    /// from it, read and write the one channel slot. test/symbolic/SettleEquivalence.t.sol proves it equal
    /// to the plain-Solidity SettleReference on bounded batches. Returns the fees the caller earned.
    ///
    /// Scratch memory, reserved by settleBatch at 0x80 (constant addresses keep the loop short, and what
    /// lives here is not on the stack, which the receipt loop needs for itself):
    ///   0x080 typehash, then the recovered payer | 0x0a0 payee | 0x0c0 salt | 0x0e0 cumulative
    ///         (words 0–3: the receipt's struct hash; words 0–2 after recovery: its channel id)
    ///   0x100 0x1901 ‖ domainSeparator ‖ structHash (66 bytes: the EIP-712 digest)
    ///   0x160 digest | 0x180 v | 0x1a0 r | 0x1c0 s (ecrecover's input)
    ///   0x220 the group's first receipt (calldata) | 0x240 its first outcome byte (memory)
    ///   0x260 ReceiptSkipped data (the outcome) | 0x280 its topic
    ///   0x2a0 the fees so far | 0x2c0 the caller's relayer id (all ones until read)
    ///   0x2e0 where the next settled group goes in ReceiptsSettled's data | 0x300 GroupSkipped's topic
    ///   0x320 MalformedBatch's selector
    ///   0x340 the batch's calldata offset
    ///   0x360 the payee's account slot | 0x380 its account word | 0x3a0 the group's feeBps
    ///   0x3c0 the group's credit so far
    /// ReceiptsSettled's data is built after the outcomes, in free memory, and logged once at the end: 0x20,
    /// length, then per group that settled anything a 54-byte header `payee (20) ‖ credited (16) ‖ fee (16)
    /// ‖ count (2)` and its packed 36-byte entries. One log per batch, not per group: a log's base cost and
    /// topics and an ABI head per group (~2,300 gas) against a 54-byte header (432) and one buffer's memory.
    function _settleGroups(bytes calldata batch, bytes memory outcomes) private returns (uint256 fees) {
        bytes32 domainSeparator = _domainSeparatorV4();
        bytes32 settledTopic = ReceiptsSettled.selector;
        bytes32 skippedTopic = ReceiptSkipped.selector;
        bytes32 groupSkippedTopic = GroupSkipped.selector;
        bytes4 malformed = MalformedBatch.selector;
        assembly ("memory-safe") {
            // A receipt at calldata `p` that the common case (see settleReceipts) does not take, its payer
            // recovered: settled up to target = min(cumulative, deposit) if that is more than settled and the
            // channel is open or closing within its challenge window; else skipped, its SettleOutcome written
            // at its outcome byte and logged: 1 UnknownChannel, 2 ChannelClosed, 3 ChallengeExpired, 4 Stale,
            // 5 MalleableSignature (later checks take precedence). Takes the group's next entry and returns
            // it, moved past the entry it writes if it settles. Rare, so it re-derives the channel slot and
            // word (warm by now) rather than take them as arguments: fewer stack slots in the loop.
            function settleOrSkip(p, entry) -> next {
                next := entry
                let slot := keccak256(0x80, 0x60)
                let word := sload(slot)
                let cumulative := mload(0xe0)
                let settled := and(shr(96, word), 0xffffffffffffffffffffffff)
                let target := and(word, 0xffffffffffffffffffffffff)
                if lt(cumulative, target) { target := cumulative }
                let outcome := mul(4, iszero(gt(target, settled)))
                let state := shr(248, word)
                if eq(state, 2) { if gt(timestamp(), and(shr(192, word), 0xffffffffff)) { outcome := 3 } }
                if eq(state, 3) { outcome := 2 }
                if iszero(state) { outcome := 1 }
                if gt(mload(0x1c0), HALF_CURVE_ORDER) { outcome := 5 }
                switch outcome
                case 0 {
                    sstore(slot, or(and(word, not(shl(96, 0xffffffffffffffffffffffff))), shl(96, target)))
                    // Cannot overflow: at most 2^16 receipts of at most 2^96 each.
                    mstore(0x3c0, add(mload(0x3c0), sub(target, settled)))
                    // The entry: payer (20) ‖ salt (4) ‖ settled (12).
                    mstore(entry, or(or(shl(96, mload(0x80)), shl(64, mload(0xc0))), shr(32, target)))
                    mstore(add(entry, 0x20), shl(224, target))
                    next := add(entry, 36)
                }
                default {
                    mstore8(add(mload(0x240), div(sub(p, mload(0x220)), 80)), outcome)
                    mstore(0x260, outcome)
                    log2(0x260, 0x20, mload(0x280), slot)
                }
            }

            // Settles the receipts in calldata [p, end) of the group whose payee is at 0xa0: adds what it
            // credits to the word at 0x3c0 and appends an entry per settled receipt from `entry` on; returns
            // where the entries end. Only p, end and that pointer live on the stack across iterations. The
            // common case runs straight through; anything else goes to settleOrSkip.
            function settleReceipts(p, end, entry) -> next {
                next := entry
                for {} lt(p, end) { p := add(p, 80) } {
                    // RECEIPT_TYPEHASH (PaymentHash), as a literal: the fixture test settles the fixture's
                    // signed receipt through this loop, so a wrong value cannot pass.
                    mstore(0x80, 0xcb94042996b0f55c8170d1f022df52f6af9f0b192ae2777da06c62206beeab6c)
                    // The receipt's first word: salt (4) ‖ cumulative (12) ‖ the first half of r. Stored at
                    // 0xdc it puts the salt in the low bytes of word 0xc0 (whose high bytes nothing else
                    // writes: they stay zero); the cumulative's word, written next, overwrites the rest.
                    let head := calldataload(p)
                    mstore(0xdc, head)
                    let cumulative := shr(160, shl(32, head))
                    mstore(0xe0, cumulative)
                    mstore(0x122, keccak256(0x80, 0x80))
                    mstore(0x160, keccak256(0x100, 0x42))
                    // EIP-2098: the top bit of vs is the parity (v = 27 or 28), the rest is s.
                    let vs := calldataload(add(p, 48))
                    mstore(0x180, add(27, shr(255, vs)))
                    mstore(0x1a0, calldataload(add(p, 16)))
                    mstore(0x1c0, shr(1, shl(1, vs)))
                    // The payer is recovered into word 0. A failed recovery returns nothing and leaves the
                    // zero written here: payer 0 owns no channel. Zeroed for every receipt, so a bad
                    // signature never inherits the previous receipt's payer.
                    mstore(0x80, 0)
                    pop(staticcall(gas(), 1, 0x160, 0x80, 0x80, 0x20))
                    // The channel id is its storage slot (ChannelPacking).
                    let slot := keccak256(0x80, 0x60)
                    let word := sload(slot)
                    let settled := and(shr(96, word), 0xffffffffffffffffffffffff)
                    // The common case: an open channel (state, the top byte, 1), settled < cumulative ≤
                    // deposit (so target = cumulative), a low-s signature. Everything else, settleOrSkip.
                    // (xor(state, 1) is "state != 1", not an exponent: slither reads `^`.)
                    // slither-disable-next-line incorrect-exp
                    if or(
                        or(xor(shr(248, word), 1), gt(cumulative, and(word, 0xffffffffffffffffffffffff))),
                        or(iszero(gt(cumulative, settled)), gt(mload(0x1c0), HALF_CURVE_ORDER))
                    ) {
                        next := settleOrSkip(p, next)
                        continue
                    }
                    // settled < cumulative < 2^96: adding the difference at bit 96 sets settled to
                    // cumulative and carries into nothing.
                    let credited := sub(cumulative, settled)
                    sstore(slot, add(word, shl(96, credited)))
                    mstore(0x3c0, add(mload(0x3c0), credited))
                    // The entry, payer (20) ‖ salt (4) ‖ settled (12): salt and settled are the receipt's
                    // first 16 bytes. The 16 bytes of r after them are overwritten by the next entry, or
                    // by the zero padding after the last.
                    mstore(next, shl(96, mload(0x80)))
                    mstore(add(next, 20), head)
                    next := add(next, 36)
                }
            }

            // One payee group: its header, its receipts in calldata [first, last). The fee check first,
            // before any receipt is read: a fee needs feeBps ≤ the payee's cap (bits 192–207 of its account
            // word) and the caller to be the relayer the payee named (its id in bits 208–239). Keeps what it
            // needs after its receipts in scratch memory, not on the stack, which the receipt loop needs.
            function settleGroup(header, first, last) {
                let payee := shr(96, header)
                let feeBps := and(shr(80, header), 0xffff)
                let count := and(shr(64, header), 0xffff)
                mstore(0x00, payee)
                mstore(0x20, _accounts.slot)
                let accountSlot := keccak256(0x00, 0x40)
                let account := sload(accountSlot)
                if feeBps {
                    let callerId := mload(0x2c0)
                    if eq(callerId, not(0)) {
                        mstore(0x00, caller())
                        mstore(0x20, _relayerIds.slot)
                        callerId := and(sload(keccak256(0x00, 0x40)), 0xffffffff)
                        mstore(0x2c0, callerId)
                    }
                    if or(
                        gt(feeBps, and(shr(192, account), 0xffff)),
                        or(iszero(callerId), iszero(eq(callerId, and(shr(208, account), 0xffffffff))))
                    ) {
                        // SettleOutcome 6, FeeAboveCap, for every receipt of the group.
                        let out := mload(0x240)
                        for { let o := out } lt(o, add(out, count)) { o := add(o, 1) } { mstore8(o, 6) }
                        mstore(0x240, add(out, count))
                        mstore(0x00, feeBps)
                        mstore(0x20, count)
                        log2(0x00, 0x40, mload(0x300), payee)
                        leave
                    }
                }
                mstore(0xa0, payee)
                mstore(0x220, first)
                mstore(0x360, accountSlot)
                mstore(0x380, account)
                mstore(0x3a0, feeBps)
                mstore(0x3c0, 0)
                // The group's entries go after room for its 54-byte header, written once they are known.
                let group := mload(0x2e0)
                let entriesEnd := settleReceipts(first, last, add(group, 54))
                let credited := mload(0x3c0)
                mstore(0x240, add(mload(0x240), div(sub(last, mload(0x220)), 80)))
                if credited {
                    // feeBps ≤ the payee's cap ≤ 10,000 here (else the group was skipped), so fee ≤ credited.
                    let fee := div(mul(credited, mload(0x3a0)), 10000)
                    // The balance is the low 128 bits and balance + credit is part of holdings < 2^128 (see
                    // the contract's note): the sum never carries into the nonce. For the same reason
                    // credited (and fee ≤ credited) fit the header's 16 bytes each.
                    sstore(mload(0x360), add(mload(0x380), sub(credited, fee)))
                    mstore(0x2a0, add(mload(0x2a0), fee))
                    // The header, payee (20) ‖ credited (16) ‖ fee (16) ‖ count (2), in two writes inside
                    // its 54 bytes (the entries after it are written already): bytes 0–31, then 22–53,
                    // which rewrites bytes 22–31 (credited's bytes 2–11) with the same values.
                    mstore(group, or(shl(96, mload(0xa0)), shr(32, credited)))
                    mstore(
                        add(group, 22),
                        or(or(shl(144, credited), shl(16, fee)), div(sub(entriesEnd, add(group, 54)), 36))
                    )
                    mstore(0x2e0, entriesEnd)
                }
            }

            // MalformedBatch(offset of `at` in the batch).
            function malformedAt(at) {
                mstore(0x00, mload(0x320))
                mstore(0x04, sub(at, mload(0x340)))
                revert(0x00, 0x24)
            }

            mstore(0x100, shl(240, 0x1901))
            mstore(0x102, domainSeparator)
            mstore(0x240, add(outcomes, 0x20))
            mstore(0x280, skippedTopic)
            mstore(0x2a0, 0)
            // The caller's relayer id, read when a group first claims a fee (ids are below 2^32).
            mstore(0x2c0, not(0))
            // ReceiptsSettled's data: its ABI head (offset 0x20, length) at free memory, the groups after it.
            let log := mload(0x40)
            mstore(0x2e0, add(log, 0x40))
            mstore(0x300, groupSkippedTopic)
            mstore(0x320, malformed)
            mstore(0x340, batch.offset)
            let end := add(batch.offset, batch.length)
            for { let cursor := batch.offset } lt(cursor, end) {} {
                if lt(sub(end, cursor), 24) { malformedAt(cursor) }
                let header := calldataload(cursor)
                let first := add(cursor, 24)
                // Cannot overflow: count < 2^16 and calldata offsets are far below 2^64.
                cursor := add(first, mul(and(shr(64, header), 0xffff), 80))
                if gt(cursor, end) { malformedAt(first) }
                settleGroup(header, first, cursor)
            }
            mstore(outcomes, sub(mload(0x240), add(outcomes, 0x20)))
            fees := mload(0x2a0)
            // One ReceiptsSettled for the batch, if anything settled: the bytes zero-padded to whole words.
            let length := sub(mload(0x2e0), add(log, 0x40))
            if length {
                mstore(log, 0x20)
                mstore(add(log, 0x20), length)
                mstore(add(log, add(0x40, length)), 0)
                log1(log, add(0x40, and(add(length, 31), not(31))), settledTopic)
            }
        }
    }

    /// @inheritdoc IChannelEscrow
    function setSettleFeeCap(uint16 bps, address relayer) external {
        _revertIfFailed(_setSettleFeeCap(msg.sender, bps, relayer));
    }

    /// @inheritdoc IChannelEscrow
    function setSettleFeeCapsBySig(SettleFeeCapAuth[] calldata auths) external returns (bytes[] memory failures) {
        failures = new bytes[](auths.length);
        bytes32 domainSeparator = _domainSeparatorV4();
        for (uint256 i; i < auths.length; ++i) {
            SettleFeeCapAuth calldata a = auths[i];
            (bytes32 structHash, bool canonical) = a.hash();
            // The fee cap pays no fee, so anyone may submit it: its `relayer` names who may take
            // settlement fees, not who submits.
            bytes memory failure = canonical
                ? _checkSigned(domainSeparator, structHash, a.sig, a.payee, address(0), a.deadline)
                : _nonCanonical(_start(a), PaymentHash.FEE_CAP_WIDTHS);
            if (failure.length == 0) failure = _checkNonce(a.payee, a.nonce);
            if (failure.length == 0) failure = _setSettleFeeCap(a.payee, a.bps, a.relayer);
            if (failure.length == 0) _bumpNonce(a.payee);
            else _skip(failures, i, failure);
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
        bytes32 domainSeparator = _domainSeparatorV4();
        uint256 fees = 0;
        for (uint256 i; i < auths.length; ++i) {
            CloseAuth calldata a = auths[i];
            (bytes32 structHash, bool canonical) = a.hash();
            bytes memory failure = canonical
                ? _checkSigned(domainSeparator, structHash, a.sig, a.payer, a.relayer, a.deadline)
                : _nonCanonical(_start(a), PaymentHash.CLOSE_WIDTHS);
            if (failure.length == 0) {
                failure = _requestClose(PaymentHash.channelId(a.payer, a.payee, a.salt), a.payer, a.fee);
            }
            if (failure.length == 0) fees += a.fee;
            else _skip(failures, i, failure);
        }
        _collectFees(fees);
    }

    /// @inheritdoc IChannelEscrow
    function finalizeClose(address payer, address payee, uint32 salt) external {
        bytes32 id = PaymentHash.channelId(payer, payee, salt);
        uint256 word = ChannelPacking.load(id);
        ChannelState state = ChannelPacking.state(word);
        if (state != ChannelState.Closing) revert InvalidChannelState(id, state);
        uint40 closesAt = uint40(word >> ChannelPacking.CLOSES_AT_SHIFT);
        // slither-disable-next-line timestamp
        if (block.timestamp <= closesAt) revert ChallengePeriodActive(id, closesAt);
        _close(id, word, payer);
    }

    /// @inheritdoc IChannelEscrow
    function closeByPayee(address payer, uint32 salt) external {
        bytes32 id = PaymentHash.channelId(payer, msg.sender, salt);
        uint256 word = ChannelPacking.load(id);
        ChannelState state = ChannelPacking.state(word);
        if (state != ChannelState.Open && state != ChannelState.Closing) revert InvalidChannelState(id, state);
        _close(id, word, payer);
    }

    /// @inheritdoc IChannelEscrow
    function advanceChannelNonce(address payer, address payee, uint32 salt) external {
        bytes32 id = PaymentHash.channelId(payer, payee, salt);
        if (msg.sender != payer && msg.sender != payee) revert NotChannelParty(id, msg.sender);
        uint256 word = ChannelPacking.load(id);
        // A closed channel never changes again: nothing signed for it can apply anyway.
        if (ChannelPacking.state(word) == ChannelState.Closed) revert InvalidChannelState(id, ChannelState.Closed);
        uint16 nonce = ChannelPacking.nonce(word);
        if (nonce == type(uint16).max) revert ChannelNonceExhausted(id);
        unchecked {
            // Cannot overflow: checked just above; the nonce field is the bits the addition lands in.
            ChannelPacking.store(id, word + (1 << ChannelPacking.NONCE_SHIFT));
            emit ChannelNonceAdvanced(id, nonce + 1);
        }
    }

    /// @inheritdoc IChannelEscrow
    function cooperativeClose(
        CooperativeCloseAuth calldata auth,
        CompactSignature calldata payerSig,
        CompactSignature calldata payeeSig
    ) external {
        (bytes32 structHash, bool canonical) = auth.hash();
        if (!canonical) {
            revert NonCanonicalField(PaymentHash.firstDirtyField(_start(auth), PaymentHash.COOPERATIVE_CLOSE_WIDTHS));
        }
        // Canonical, so every field is its raw word: read without the ABI decoder's checks (or masks).
        uint40 deadline;
        address relayer;
        address payer;
        address payee;
        assembly ("memory-safe") {
            deadline := calldataload(add(auth, 0xe0))
            relayer := calldataload(add(auth, 0xa0))
            payer := calldataload(auth)
            payee := calldataload(add(auth, 0x20))
        }
        // slither-disable-next-line timestamp
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        if (_wrongRelayer(relayer)) revert WrongRelayer(relayer, msg.sender);
        (address byPayer, address byPayee) = _recoverPair(_digest(_domainSeparatorV4(), structHash), payerSig, payeeSig);
        bool bad;
        assembly ("memory-safe") {
            // Either signature recovered another address, or none (0): one test for both, the hot path.
            bad := or(or(xor(byPayer, payer), iszero(byPayer)), or(xor(byPayee, payee), iszero(byPayee)))
        }
        if (bad) {
            if (byPayer != payer || byPayer == address(0)) revert InvalidSigner(byPayer, payer);
            revert InvalidSigner(byPayee, payee);
        }
        _closeCooperatively(auth, payer, payee);
    }

    /// @dev cooperativeClose's effects, once both signatures are checked: settle up to the agreed amount,
    /// refund the payer (who pays the fee), leave the tombstone, log. Three slots: the channel, the payee's
    /// account (only if the close raises `settled`) and the payer's; one read and one write each.
    function _closeCooperatively(CooperativeCloseAuth calldata auth, address payer, address payee) private {
        bytes32 id = PaymentHash.channelId(payer, payee, uint32(_word(auth, 2)));
        uint256 word = ChannelPacking.load(id);
        // Open (1) or Closing (2): state − 1 ≤ 1, wrapping for None (0).
        unchecked {
            if ((word >> ChannelPacking.STATE_SHIFT) - 1 > 1) {
                revert InvalidChannelState(id, ChannelPacking.state(word));
            }
        }
        uint16 nonce = ChannelPacking.nonce(word);
        uint16 signedNonce = uint16(_word(auth, 6));
        if (signedNonce != nonce) revert InvalidChannelNonce(id, nonce, signedNonce);

        uint256 settled;
        uint256 refund;
        uint256 fee = _word(auth, 4);
        bytes32 payerSlot = _accountSlot(payer);
        uint256 available;
        assembly ("memory-safe") {
            let deposit_ := and(word, 0xffffffffffffffffffffffff)
            settled := and(shr(96, word), 0xffffffffffffffffffffffff)
            // The agreed amount can only raise what is settled, and never beyond the deposit.
            let cumulative := calldataload(add(auth, 0x60))
            if gt(cumulative, deposit_) { cumulative := deposit_ }
            if gt(cumulative, settled) {
                // The payee's credit: its balance is the low 128 bits, and balance + credit is part of
                // holdings < 2^128, so the sum never carries into the nonce.
                mstore(0x00, payee)
                mstore(0x20, _accounts.slot)
                let payeeSlot := keccak256(0x00, 0x40)
                sstore(payeeSlot, add(sload(payeeSlot), sub(cumulative, settled)))
                settled := cumulative
            }
            // The tombstone: amounts and nonce kept, state Closed, closesAt cleared (ChannelPacking).
            sstore(id, or(or(deposit_, shl(96, settled)), or(shl(232, nonce), shl(248, 3))))
            refund := sub(deposit_, settled)
            // Cannot overflow: the payer's balance and the refund are both part of holdings < 2^128.
            available := add(and(sload(payerSlot), 0xffffffffffffffffffffffffffffffff), refund)
        }
        // The payer gets the rest of the deposit back and pays the fee from it (or from its free balance).
        if (available < fee) revert InsufficientBalance(payer, available, fee);
        assembly ("memory-safe") {
            // balance + refund − fee is in [0, 2^128): the low 128 bits stay the balance.
            sstore(payerSlot, sub(add(sload(payerSlot), refund), fee))
        }
        emit ChannelClosed(id, uint96(settled), uint96(fee));
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
    function settleFeeCapOf(address account) external view returns (uint16 bps, address relayer) {
        Account storage a = _accounts[account];
        return (a.settleFeeCapBps, _relayers[a.settleFeeRelayer]);
    }

    // ---------------------------------------------------------------------------------------------
    // Internals. Functions returning `bytes memory failure` check everything before changing anything:
    // an empty result means the operation was applied, otherwise nothing changed and the result is the
    // ABI-encoded custom error. Direct calls revert with it; signed batches skip the entry and log it.
    // ---------------------------------------------------------------------------------------------

    /// @dev Pulls `amount` from `from` and returns what arrived (a fee-on-transfer token delivers less),
    /// refusing holdings above 2^128 − 1. The caller credits it and logs `Deposited`.
    function _pull(address from, uint256 amount) private returns (uint256 received) {
        if (amount == 0) revert ZeroAmount();
        IERC20 token = IERC20(TOKEN);
        uint256 before = token.balanceOf(address(this));
        // slither-disable-next-line arbitrary-send-erc20,arbitrary-send-erc20-permit
        token.safeTransferFrom(from, address(this), amount); // `from` is the caller or the permit's owner
        uint256 holdings = token.balanceOf(address(this));
        if (holdings > type(uint128).max) revert HoldingsOverflow(holdings);
        received = holdings - before;
    }

    /// @dev The accounting half of a withdrawal; the caller then transfers `amount` to `to` (interaction last).
    function _debitWithdrawal(address owner, address to, uint256 amount, uint256 fee)
        private
        returns (bytes memory failure)
    {
        if (to == address(0)) return abi.encodeWithSelector(ZeroAddress.selector);
        if (to == address(this)) return abi.encodeWithSelector(EscrowAddress.selector);
        if (amount == 0) return abi.encodeWithSelector(ZeroAmount.selector);
        failure = _debit(owner, amount + fee);
        if (failure.length != 0) return failure;
        emit Withdrawn(owner, to, amount, fee);
    }

    /// @dev Opens channel `id` with `amount` from the payer's free balance; `signedNonce` is the channel
    /// nonce a signed open carries (ANY_NONCE for a direct call).
    function _open(
        bytes32 id,
        address payer,
        address payee,
        uint32 salt,
        uint96 amount,
        uint96 fee,
        uint256 signedNonce
    ) private returns (bytes memory failure) {
        uint256 word = ChannelPacking.load(id);
        failure = _checkNewChannel(id, word, payer, payee, amount, signedNonce);
        if (failure.length != 0) return failure;
        failure = _debit(payer, uint256(amount) + fee);
        if (failure.length != 0) return failure;
        ChannelPacking.store(id, ChannelPacking.opened(amount, ChannelPacking.nonce(word)));
        emit ChannelOpened(id, payer, payee, salt, amount, fee);
    }

    function _checkNewChannel(
        bytes32 id,
        uint256 word,
        address payer,
        address payee,
        uint96 amount,
        uint256 signedNonce
    ) private pure returns (bytes memory failure) {
        if (payee == address(0)) return abi.encodeWithSelector(ZeroAddress.selector);
        if (payee == payer) return abi.encodeWithSelector(SelfChannel.selector, payer);
        if (amount == 0) return abi.encodeWithSelector(ZeroAmount.selector);
        if (ChannelPacking.state(word) != ChannelState.None) return abi.encodeWithSelector(ChannelExists.selector, id);
        return _checkChannelNonce(id, word, signedNonce);
    }

    function _checkChannelNonce(bytes32 id, uint256 word, uint256 signedNonce)
        private
        pure
        returns (bytes memory failure)
    {
        uint16 nonce = ChannelPacking.nonce(word);
        if (signedNonce != ANY_NONCE && signedNonce != nonce) {
            return abi.encodeWithSelector(InvalidChannelNonce.selector, id, nonce, uint16(signedNonce));
        }
    }

    /// @dev Raises channel `id`'s deposit to `newDeposit`, the payer paying the increase and `fee` from its
    /// free balance.
    function _topUpTo(bytes32 id, address payer, uint256 newDeposit, uint96 fee, uint256 signedNonce)
        private
        returns (bytes memory failure)
    {
        uint256 word = ChannelPacking.load(id);
        failure = _checkRaise(id, word, newDeposit, signedNonce);
        if (failure.length != 0) return failure;
        // Cannot underflow: _checkRaise checked newDeposit > deposit.
        failure = _debit(payer, newDeposit - ChannelPacking.deposit(word) + fee);
        if (failure.length != 0) return failure;
        _writeDeposit(id, word, newDeposit, fee);
    }

    function _checkRaise(bytes32 id, uint256 word, uint256 newDeposit, uint256 signedNonce)
        private
        pure
        returns (bytes memory failure)
    {
        ChannelState state = ChannelPacking.state(word);
        if (state != ChannelState.Open) return abi.encodeWithSelector(InvalidChannelState.selector, id, state);
        failure = _checkChannelNonce(id, word, signedNonce);
        if (failure.length != 0) return failure;
        if (newDeposit > type(uint96).max) return abi.encodeWithSelector(DepositOverflow.selector, newDeposit);
        uint96 current = ChannelPacking.deposit(word);
        if (newDeposit <= current) return abi.encodeWithSelector(StaleTopUp.selector, id, current, newDeposit);
    }

    /// @dev Writes a deposit raise checked by `_checkRaise` (and paid for) and logs it.
    function _writeDeposit(bytes32 id, uint256 word, uint256 newDeposit, uint96 fee) private {
        ChannelPacking.store(id, (word & ~ChannelPacking.AMOUNT_MASK) | newDeposit);
        emit ChannelToppedUp(id, uint96(newDeposit), fee);
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
        ChannelPacking.store(id, c.pack());
        emit CloseRequested(id, c.closesAt, fee);
    }

    function _setSettleFeeCap(address payee, uint16 bps, address relayer) private returns (bytes memory failure) {
        if (bps > BPS) return abi.encodeWithSelector(FeeCapTooHigh.selector, bps);
        uint32 id = _relayerIds[relayer];
        if (id == 0 && relayer != address(0)) {
            uint32 count = _relayerCount;
            if (count == type(uint32).max) return abi.encodeWithSelector(RelayerIdsExhausted.selector);
            unchecked {
                // Cannot overflow: checked just above.
                id = count + 1;
            }
            _relayerCount = id;
            _relayerIds[relayer] = id;
            _relayers[id] = relayer;
        }
        Account storage a = _accounts[payee];
        a.settleFeeCapBps = bps;
        a.settleFeeRelayer = id;
        emit SettleFeeCapSet(payee, bps, relayer);
    }

    /// @dev Refunds what the payee has not been paid to the payer and leaves a `Closed` tombstone, so the
    /// id (and every receipt ever signed for it) can never be used again.
    function _close(bytes32 id, uint256 word, address payer) private {
        uint96 deposit_ = ChannelPacking.deposit(word);
        uint96 settled = ChannelPacking.settled(word);
        ChannelPacking.store(id, ChannelPacking.closed(deposit_, settled, ChannelPacking.nonce(word)));
        _credit(payer, deposit_ - settled);
        emit ChannelClosed(id, settled, 0);
    }

    /// @dev Adds `amount` to `account`'s free balance with one read and one write of its slot. The balance
    /// is the low 128 bits of the account word, and every credit comes out of holdings < 2^128 (see the
    /// contract's note), so the sum never carries into the nonce bits.
    function _credit(address account, uint256 amount) private {
        bytes32 slot = _accountSlot(account);
        assembly ("memory-safe") {
            sstore(slot, add(sload(slot), amount))
        }
    }

    /// @dev The storage slot of `account`'s Account word.
    function _accountSlot(address account) private pure returns (bytes32 slot) {
        assembly ("memory-safe") {
            mstore(0x00, account)
            mstore(0x20, _accounts.slot)
            slot := keccak256(0x00, 0x40)
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
        Account storage a = _accounts[account];
        uint64 next;
        unchecked {
            // Cannot overflow: 2^64 signed operations will not happen.
            next = a.nonce + 1;
        }
        a.nonce = next;
        emit NonceAdvanced(account, next);
    }

    /// @dev The checks every signed operation shares, cheapest first: deadline, submitter, signer. The
    /// domain separator binds chain id and this contract.
    function _checkSigned(
        bytes32 domainSeparator,
        bytes32 structHash,
        CompactSignature calldata sig,
        address expected,
        address relayer,
        uint40 deadline
    ) private view returns (bytes memory failure) {
        failure = _checkSubmission(relayer, deadline);
        if (failure.length != 0) return failure;
        address recovered = _recover(_digest(domainSeparator, structHash), sig.r, sig.vs);
        if (recovered != expected || recovered == address(0)) {
            return abi.encodeWithSelector(InvalidSigner.selector, recovered, expected);
        }
    }

    /// @dev A signed operation may be submitted until its deadline, by its named relayer (anyone if zero).
    function _checkSubmission(address relayer, uint40 deadline) private view returns (bytes memory failure) {
        // slither-disable-next-line timestamp
        if (block.timestamp > deadline) return abi.encodeWithSelector(SignatureExpired.selector, deadline);
        if (_wrongRelayer(relayer)) return abi.encodeWithSelector(WrongRelayer.selector, relayer, msg.sender);
    }

    /// @dev Whether a signed operation naming `relayer` may not be submitted by the caller: it names
    /// someone (zero names anyone) and that is not the caller. Branch-free: it runs for every entry.
    function _wrongRelayer(address relayer) private view returns (bool wrong) {
        assembly ("memory-safe") {
            wrong := and(iszero(iszero(relayer)), iszero(eq(relayer, caller())))
        }
    }

    /// @dev Recovers the signers of two compact signatures over one digest, as `_recover` does each.
    function _recoverPair(bytes32 digest, CompactSignature calldata first, CompactSignature calldata second)
        private
        view
        returns (address a, address b)
    {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, digest)
            // EIP-2098 signature at calldata `sig` → its signer at memory `out`, 0 if invalid or high-s: a
            // high-s signature gets v = 0, which ecrecover refuses, and a refused recovery returns nothing,
            // leaving the zero written first.
            function recoverInto(mem, sig, out) {
                let vs := calldataload(add(sig, 0x20))
                let s := shr(1, shl(1, vs))
                mstore(add(mem, 0x20), mul(add(27, shr(255, vs)), iszero(gt(s, HALF_CURVE_ORDER))))
                mstore(add(mem, 0x40), calldataload(sig))
                mstore(add(mem, 0x60), s)
                mstore(out, 0)
                pop(staticcall(gas(), 1, mem, 0x80, out, 0x20))
            }
            recoverInto(m, first, add(m, 0x80))
            recoverInto(m, second, add(m, 0xa0))
            a := mload(add(m, 0x80))
            b := mload(add(m, 0xa0))
        }
    }

    /// @dev The EIP-712 digest `keccak256(0x1901 ‖ domainSeparator ‖ structHash)`, in scratch memory.
    function _digest(bytes32 domainSeparator, bytes32 structHash) private pure returns (bytes32 d) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, shl(240, 0x1901))
            mstore(add(m, 0x02), domainSeparator)
            mstore(add(m, 0x22), structHash)
            d := keccak256(m, 0x42)
        }
    }

    /// @dev EIP-2098 compact-signature recovery; 0 for an invalid or malleable (high-s) signature.
    /// Same rules as OpenZeppelin's ECDSA.tryRecover(hash, r, vs) — the tests check the same attacks —
    /// without its error plumbing, which costs ~600 gas per signature on the gasless paths.
    function _recover(bytes32 digest, bytes32 r, bytes32 vs) private view returns (address signer) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            let s := shr(1, shl(1, vs))
            mstore(m, digest)
            // v = 27 or 28; 0, which ecrecover refuses, for a high-s signature.
            mstore(add(m, 0x20), mul(add(27, shr(255, vs)), iszero(gt(s, HALF_CURVE_ORDER))))
            mstore(add(m, 0x40), r)
            mstore(add(m, 0x60), s)
            // Zeroed before every call: a refused recovery returns nothing and must leave 0 here, not
            // whatever the last recovery wrote.
            mstore(add(m, 0x80), 0)
            pop(staticcall(gas(), 1, m, 0x80, add(m, 0x80), 0x20))
            signer := mload(add(m, 0x80))
        }
    }

    /// @dev `s` of an EIP-2098 `vs`.
    function _s(bytes32 vs) private pure returns (bytes32) {
        return bytes32((uint256(vs) << 1) >> 1);
    }

    function _channel(bytes32 id) private view returns (Channel memory) {
        return ChannelPacking.unpack(ChannelPacking.load(id));
    }

    /// @dev The failure of an entry that is not canonical ABI, naming its first dirty field.
    function _nonCanonical(uint256 start, uint256 widths) private pure returns (bytes memory) {
        return abi.encodeWithSelector(NonCanonicalField.selector, PaymentHash.firstDirtyField(start, widths));
    }

    /// @dev Records a skipped batch entry: its reason in the returned list and in the log.
    function _skip(bytes[] memory failures, uint256 index, bytes memory failure) private {
        failures[index] = failure;
        emit AuthorizationSkipped(index, failure);
    }

    function _revertIfFailed(bytes memory failure) private pure {
        if (failure.length == 0) return;
        assembly ("memory-safe") {
            revert(add(failure, 0x20), mload(failure))
        }
    }

    /// @dev Word `i` of the cooperative close `a`, raw: only for a struct checked canonical.
    function _word(CooperativeCloseAuth calldata a, uint256 i) private pure returns (uint256 w) {
        assembly ("memory-safe") {
            w := calldataload(add(a, shl(5, i)))
        }
    }

    // Calldata offset of a signed struct, for PaymentHash.firstDirtyField.

    function _start(OpenAuth calldata a) private pure returns (uint256 p) {
        assembly ("memory-safe") {
            p := a
        }
    }

    function _start(TopUpAuth calldata a) private pure returns (uint256 p) {
        assembly ("memory-safe") {
            p := a
        }
    }

    function _start(CloseAuth calldata a) private pure returns (uint256 p) {
        assembly ("memory-safe") {
            p := a
        }
    }

    function _start(WithdrawAuth calldata a) private pure returns (uint256 p) {
        assembly ("memory-safe") {
            p := a
        }
    }

    function _start(SettleFeeCapAuth calldata a) private pure returns (uint256 p) {
        assembly ("memory-safe") {
            p := a
        }
    }

    function _start(CooperativeCloseAuth calldata a) private pure returns (uint256 p) {
        assembly ("memory-safe") {
            p := a
        }
    }
}
