// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";

import {PieceToken} from "../../../src/PieceToken.sol";
import {IChannelEscrow} from "../../../src/interfaces/IChannelEscrow.sol";
import {PaymentHash} from "../../../src/libraries/PaymentHash.sol";
import {PaymentSigner} from "../../utils/PaymentSigner.sol";

/// @notice Drives the escrow through every user-facing operation for a few actors (all with keys, each
/// payer and payee) and salts, and keeps an exact model of what the escrow must hold: free balances,
/// nonces, fee caps and channels. Each action predicts its outcome from the model — success, or the exact
/// custom error / settle outcome — and a mismatch or unexpected revert is recorded as a violation (handler
/// reverts are invisible with fail_on_revert = false, so nothing here is allowed to revert).
contract EscrowHandler is CommonBase, StdCheats, StdUtils {
    using PaymentSigner for IChannelEscrow;

    /// @notice Handler entry points, for per-action call counters.
    enum Action {
        Deposit,
        Withdraw,
        WithdrawBySig,
        OpenChannel,
        OpenChannelsBySig,
        TopUp,
        TopUpsBySig,
        SetSettleFeeCap,
        SettleBatch,
        RequestClose,
        Warp,
        FinalizeClose,
        CloseByPayee,
        CooperativeClose,
        FundChannelsWithPermit,
        AdvanceNonce,
        AdvanceChannelNonce
    }

    uint256 public constant ACTION_COUNT = 17;
    uint256 public constant ACTORS = 3;
    uint256 public constant SALTS = 4;
    /// @dev Everyone whose free balance can change: the actors and the relayer.
    uint256 public constant ACCOUNTS = ACTORS + 1;

    uint256 internal constant MAX_AMOUNT = 1e21;
    uint256 internal constant MAX_FEE = 1e18;
    uint256 internal constant BPS = 10_000;
    uint256 internal constant HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;
    uint96 internal constant MAX_U96 = type(uint96).max;

    uint256 internal constant NONE = 1 << uint256(IChannelEscrow.ChannelState.None);
    uint256 internal constant OPEN = 1 << uint256(IChannelEscrow.ChannelState.Open);
    uint256 internal constant CLOSING = 1 << uint256(IChannelEscrow.ChannelState.Closing);
    uint256 internal constant CLOSED = 1 << uint256(IChannelEscrow.ChannelState.Closed);

    IChannelEscrow public immutable escrow;
    PieceToken public immutable token;
    uint40 internal immutable challengePeriod;
    bytes32 internal immutable domainSeparator;

    address[ACCOUNTS] internal accountList;
    uint256[ACTORS] internal keys;
    uint32[SALTS] internal salts = [uint32(0), 7, 0x80000000, type(uint32).max];
    /// @dev A key no actor has: its receipts belong to no channel.
    uint256 internal immutable strangerKey;
    /// @dev A token holder outside the escrow's accounting, to receive withdrawals.
    address internal immutable sink;

    struct ChannelRef {
        uint8 payer;
        uint8 payee;
        uint8 salt;
    }

    /// @dev Every channel id the actors can open, and its parties.
    bytes32[] internal ids;
    mapping(bytes32 id => ChannelRef) internal refOf;

    // --- Model -----------------------------------------------------------------------------------
    mapping(bytes32 id => IChannelEscrow.Channel) internal model;
    mapping(address account => uint256) public ghostFree;
    mapping(address account => uint64) public ghostNonce;
    mapping(address account => uint16) public ghostCap;
    /// @dev The relayer each payee's fee cap names (zero: none).
    mapping(address account => address) public ghostFeeRelayer;
    /// @dev Token flows into and out of the escrow.
    uint256 public ghostDeposited;
    uint256 public ghostWithdrawn;
    /// @dev Highest cumulative the channel's payer ever released a canonical signature for (receipts and
    /// cooperative closes).
    mapping(bytes32 id => uint256) public ghostMaxSigned;
    /// @dev Unilateral closes (finalizeClose) and payee closes: what the payer's free balance rose by,
    /// and deposit − settled as the escrow stored it just before.
    bytes32[] internal refundedIds;
    mapping(bytes32 id => uint256) public ghostRefundExpected;
    mapping(bytes32 id => uint256) public ghostRefundReceived;
    /// @dev The channel as it was right after it closed.
    mapping(bytes32 id => IChannelEscrow.Channel) internal closedAs;
    /// @dev The escrow's channels as seen after the previous action, to check each step only moves forward.
    mapping(bytes32 id => IChannelEscrow.Channel) internal lastSeen;

    /// @dev The last receipt released for a channel, for replays.
    struct Released {
        uint96 cumulative;
        bytes32 r;
        bytes32 vs;
        bool exists;
    }

    mapping(bytes32 id => Released) internal lastReleased;

    /// @dev Block time, kept here so that warps survive between calls whatever the executor does.
    uint256 public ghostNow;

    // --- Counters --------------------------------------------------------------------------------
    uint256[ACTION_COUNT] public calls;
    /// @dev The action's main effect happened.
    uint256[ACTION_COUNT] public applied;
    /// @dev The action was meant to be refused (stale, replayed, bad signature...) and was, exactly as predicted.
    uint256[ACTION_COUNT] public rejected;
    uint256 public channelsOpened;
    uint256 public receiptsSettled;
    uint256 public receiptsRefused;
    /// @dev Receipts per SettleOutcome, as predicted and confirmed.
    uint256[7] public outcomeCounts;
    uint256 public channelsClosed;
    uint256 public unilateralCloses;

    uint256 public violations;
    /// @dev The subset of violations found by the step-to-step channel checks.
    uint256 public transitionViolations;
    string public firstViolation;

    Action internal current;
    string[ACTION_COUNT] internal actionNames = [
        "deposit",
        "withdraw",
        "withdrawBySig",
        "openChannel",
        "openChannelsBySig",
        "topUp",
        "topUpsBySig",
        "setSettleFeeCap",
        "settleBatch",
        "requestClose",
        "warp",
        "finalizeClose",
        "closeByPayee",
        "cooperativeClose",
        "fundChannelsWithPermit",
        "advanceNonce",
        "advanceChannelNonce"
    ];
    bool internal recorded;

    constructor(IChannelEscrow escrow_, PieceToken token_) {
        escrow = escrow_;
        token = token_;
        challengePeriod = escrow_.CHALLENGE_PERIOD();
        domainSeparator = escrow_.DOMAIN_SEPARATOR();
        for (uint256 i; i < ACTORS; ++i) {
            (accountList[i], keys[i]) = makeAddrAndKey(string.concat("actor", vm.toString(i)));
        }
        accountList[ACTORS] = makeAddr("relayer");
        (, strangerKey) = makeAddrAndKey("stranger");
        sink = makeAddr("sink");
        for (uint256 p; p < ACTORS; ++p) {
            for (uint256 q; q < ACTORS; ++q) {
                if (p == q) continue;
                for (uint256 s; s < SALTS; ++s) {
                    bytes32 id = PaymentHash.channelId(accountList[p], accountList[q], salts[s]);
                    ids.push(id);
                    refOf[id] = ChannelRef(uint8(p), uint8(q), uint8(s));
                }
            }
        }
        ghostNow = block.timestamp;
    }

    /// @dev Called by the test after funding the accounts with tokens: every account approves the escrow.
    function approveAll() external {
        for (uint256 i; i < ACCOUNTS; ++i) {
            vm.prank(accountList[i]);
            token.approve(address(escrow), type(uint256).max);
        }
    }

    modifier step(Action action) {
        vm.warp(ghostNow);
        current = action;
        recorded = false;
        ++calls[uint256(action)];
        _;
        if (!recorded) _violation("action recorded no outcome");
        _checkTransitions();
    }

    // =============================================================================================
    // Free balances
    // =============================================================================================

    function deposit(uint256 fromSeed, uint256 toSeed, uint256 amount) external step(Action.Deposit) {
        address from = _account(fromSeed);
        address to = _account(toSeed);
        amount = _bound(amount, 1, MAX_AMOUNT);
        uint256 tokensBefore = token.balanceOf(from);
        vm.prank(from);
        try escrow.deposit(to, amount) {
            ghostFree[to] += amount;
            ghostDeposited += amount;
            _check(token.balanceOf(from) + amount == tokensBefore, "deposit pulled another amount");
            _applied();
        } catch (bytes memory err) {
            _unexpected("deposit", err);
        }
    }

    function withdraw(uint256 ownerSeed, uint256 toSeed, uint256 amount) external step(Action.Withdraw) {
        address owner = _account(ownerSeed);
        address to = _recipient(toSeed);
        if (!_ensureFree(owner, 1)) return;
        amount = _bound(amount, 1, ghostFree[owner]);
        uint256 tokensBefore = token.balanceOf(to);
        vm.prank(owner);
        try escrow.withdraw(to, amount) {
            ghostFree[owner] -= amount;
            ghostWithdrawn += amount;
            _check(token.balanceOf(to) == tokensBefore + amount, "withdraw sent another amount");
            _applied();
        } catch (bytes memory err) {
            _unexpected("withdraw", err);
        }
    }

    /// @dev Mostly the next nonce (then replayed: refused); sometimes any other nonce or an expired
    /// deadline (refused, nothing changes).
    function withdrawBySig(uint256 ownerSeed, uint256 toSeed, uint256 amount, uint256 fee, uint256 mode)
        external
        step(Action.WithdrawBySig)
    {
        uint256 o = ownerSeed % ACTORS;
        address owner = accountList[o];
        address to = _recipient(toSeed);
        address relayer = accountList[ACTORS];
        if (!_ensureFree(owner, 1)) return;
        amount = _bound(amount, 1, ghostFree[owner]);
        fee = _bound(fee, 0, _min(MAX_FEE, ghostFree[owner] - amount));
        uint64 expected = ghostNonce[owner];
        IChannelEscrow.WithdrawAuth memory a = IChannelEscrow.WithdrawAuth(
            owner, to, uint128(amount), uint128(fee), _namedRelayer(mode), expected, _deadline(mode), _noSig()
        );
        bytes memory refusal;
        if (mode % 8 == 2) {
            a.relayer = accountList[o];
            refusal = abi.encodeWithSelector(IChannelEscrow.WrongRelayer.selector, a.relayer, relayer);
        } else if (mode % 8 == 0) {
            unchecked {
                a.nonce = expected + uint64(_bound(mode >> 8, 1, type(uint64).max));
            }
            refusal = abi.encodeWithSelector(IChannelEscrow.InvalidNonce.selector, owner, expected, a.nonce);
        } else if (mode % 8 == 1) {
            a.deadline = uint40(ghostNow - 1);
            refusal = abi.encodeWithSelector(IChannelEscrow.SignatureExpired.selector, a.deadline);
        }
        IChannelEscrow.WithdrawAuth[] memory auths = new IChannelEscrow.WithdrawAuth[](1);
        auths[0] = escrow.signWithdraw(keys[o], a);
        uint256 tokensBefore = token.balanceOf(to);

        if (refusal.length != 0) {
            if (_expectWithdrawalRefused(auths, refusal)) _rejected();
            return;
        }
        vm.prank(relayer);
        try escrow.withdrawBySig(auths) returns (bytes[] memory failures) {
            if (!_check(_entry(failures, 0).length == 0, "signed withdrawal refused")) return;
            ghostFree[owner] -= amount + fee;
            ghostFree[relayer] += fee;
            ghostNonce[owner] = expected + 1;
            ghostWithdrawn += amount;
            _check(token.balanceOf(to) == tokensBefore + amount, "signed withdrawal sent another amount");
            _applied();
        } catch (bytes memory err) {
            _unexpected("withdrawBySig", err);
            return;
        }
        // A replay finds the nonce used.
        _expectWithdrawalRefused(
            auths, abi.encodeWithSelector(IChannelEscrow.InvalidNonce.selector, owner, expected + 1, expected)
        );
    }

    function _expectWithdrawalRefused(IChannelEscrow.WithdrawAuth[] memory auths, bytes memory refusal)
        internal
        returns (bool)
    {
        bytes32 before = _stateHash();
        vm.prank(accountList[ACTORS]);
        try escrow.withdrawBySig(auths) returns (bytes[] memory failures) {
            return _check(keccak256(_entry(failures, 0)) == keccak256(refusal), "signed withdrawal: wrong refusal")
                && _check(_stateHash() == before, "refused signed withdrawal changed state");
        } catch (bytes memory err) {
            _unexpected("withdrawBySig (refused)", err);
            return false;
        }
    }

    // =============================================================================================
    // Opening and funding
    // =============================================================================================

    /// @dev Opens a fresh channel; sometimes (or once every id is taken) re-opens a taken id — open, closing
    /// or a closed tombstone — and expects ChannelExists.
    function openChannel(uint256 channelSeed, uint256 amount) external step(Action.OpenChannel) {
        (bool fresh, bytes32 id) = _find(channelSeed, NONE);
        (bool taken, bytes32 takenId) = _find(channelSeed, OPEN | CLOSING | CLOSED);
        if (fresh && !(taken && amount % 8 == 0)) {
            if (_openDirect(id, amount)) _applied();
            return;
        }
        ChannelRef memory r = refOf[takenId];
        vm.prank(accountList[r.payer]);
        try escrow.openChannel(accountList[r.payee], salts[r.salt], 1) {
            _violation("opened a taken channel id");
        } catch (bytes memory err) {
            _check(
                keccak256(err) == keccak256(abi.encodeWithSelector(IChannelEscrow.ChannelExists.selector, takenId)),
                "taken id: wrong error"
            );
            _rejected();
        }
    }

    /// @dev One fresh signed open, plus sometimes a second entry that must be refused: a replay of the
    /// first (ChannelExists), an expired one, or one signed by another key.
    function openChannelsBySig(uint256 channelSeed, uint256 amount, uint256 fee, uint256 mode)
        external
        step(Action.OpenChannelsBySig)
    {
        (bool fresh, bytes32 id) = _find(channelSeed, NONE);
        if (!fresh) {
            _recordNothingToDo();
            return;
        }
        ChannelRef memory r = refOf[id];
        address payer = accountList[r.payer];
        address relayer = accountList[ACTORS];
        amount = _bound(amount, 1, MAX_AMOUNT);
        fee = _bound(fee, 0, MAX_FEE);
        if (!_ensureFree(payer, amount + fee)) return;

        (IChannelEscrow.OpenAuth[] memory auths, bytes memory refusal) = _signedOpens(id, amount, fee, mode);
        vm.prank(relayer);
        try escrow.openChannelsBySig(auths) returns (bytes[] memory failures) {
            if (!_check(_entry(failures, 0).length == 0, "signed open refused")) return;
            if (auths.length == 2) {
                _check(keccak256(_entry(failures, 1)) == keccak256(refusal), "signed open: wrong refusal");
            }
            ghostFree[payer] -= amount + fee;
            ghostFree[relayer] += fee;
            _modelOpen(id, amount);
            _applied();
        } catch (bytes memory err) {
            _unexpected("openChannelsBySig", err);
        }
    }

    /// @dev The payer's signed open of `id`, and sometimes a second entry with the refusal it must get.
    function _signedOpens(bytes32 id, uint256 amount, uint256 fee, uint256 mode)
        internal
        view
        returns (IChannelEscrow.OpenAuth[] memory auths, bytes memory refusal)
    {
        uint8 payer = refOf[id].payer;
        auths = new IChannelEscrow.OpenAuth[](mode % 4 == 0 ? 1 : 2);
        uint40 deadline = _deadline(mode);
        auths[0] = _signedOpen(id, keys[payer], amount, fee, deadline);
        if (auths.length == 1) return (auths, refusal);
        uint256 kind = (mode >> 2) % 5;
        if (kind == 0) {
            auths[1] = auths[0];
            refusal = abi.encodeWithSelector(IChannelEscrow.ChannelExists.selector, id);
        } else if (kind == 3) {
            // Names another relayer: only that one may submit it.
            auths[1] = _signedOpen(id, keys[payer], amount, fee, deadline);
            auths[1].relayer = accountList[payer];
            auths[1] = escrow.signOpen(keys[payer], auths[1]);
            refusal =
                abi.encodeWithSelector(IChannelEscrow.WrongRelayer.selector, accountList[payer], accountList[ACTORS]);
        } else if (kind == 4 && _otherFresh(id, mode) != bytes32(0)) {
            // Another channel never opened, signed under a channel nonce it does not have (yet).
            bytes32 other = _otherFresh(id, mode);
            auths[1] = _signedOpen(other, keys[refOf[other].payer], amount, fee, deadline);
            auths[1].channelNonce = model[other].nonce + 1;
            auths[1] = escrow.signOpen(keys[refOf[other].payer], auths[1]);
            refusal = abi.encodeWithSelector(
                IChannelEscrow.InvalidChannelNonce.selector, other, model[other].nonce, model[other].nonce + 1
            );
        } else if (kind == 1) {
            auths[1] = _signedOpen(id, keys[payer], amount, fee, uint40(ghostNow - 1));
            refusal = abi.encodeWithSelector(IChannelEscrow.SignatureExpired.selector, ghostNow - 1);
        } else if (kind == 0 || kind == 4) {
            auths[1] = auths[0];
            refusal = abi.encodeWithSelector(IChannelEscrow.ChannelExists.selector, id);
        } else {
            uint256 otherKey = keys[(payer + 1 + (mode >> 4) % (ACTORS - 1)) % ACTORS];
            auths[1] = _signedOpen(id, otherKey, amount, fee, deadline);
            refusal =
                abi.encodeWithSelector(IChannelEscrow.InvalidSigner.selector, vm.addr(otherKey), accountList[payer]);
        }
    }

    /// @dev A channel never opened other than `id`, or zero.
    function _otherFresh(bytes32 id, uint256 seed) internal view returns (bytes32) {
        uint256 n = ids.length;
        for (uint256 i; i < n; ++i) {
            bytes32 other = ids[(seed % n + i) % n];
            if (other != id && model[other].state == IChannelEscrow.ChannelState.None) return other;
        }
        return bytes32(0);
    }

    function _signedOpen(bytes32 id, uint256 key, uint256 amount, uint256 fee, uint40 deadline)
        internal
        view
        returns (IChannelEscrow.OpenAuth memory)
    {
        ChannelRef memory r = refOf[id];
        return escrow.signOpen(
            key,
            IChannelEscrow.OpenAuth(
                accountList[r.payer],
                accountList[r.payee],
                salts[r.salt],
                uint96(amount),
                uint96(fee),
                _namedRelayer(deadline),
                model[id].nonce,
                deadline,
                _noSig()
            )
        );
    }

    function topUp(uint256 channelSeed, uint256 amount) external step(Action.TopUp) {
        (bool ok, bytes32 id) = _openChannelFor(channelSeed, amount);
        if (!ok) return;
        ChannelRef memory r = refOf[id];
        address payer = accountList[r.payer];
        amount = _bound(amount, 1, MAX_AMOUNT);
        if (!_ensureFree(payer, amount)) return;
        vm.prank(payer);
        try escrow.topUp(accountList[r.payee], salts[r.salt], uint96(amount)) {
            ghostFree[payer] -= amount;
            model[id].deposit += uint96(amount);
            _applied();
        } catch (bytes memory err) {
            _unexpected("topUp", err);
        }
    }

    /// @dev Raises an open channel's deposit to a new total (then replays it: stale), or signs a stale total.
    function topUpsBySig(uint256 channelSeed, uint256 delta, uint256 fee, uint256 mode)
        external
        step(Action.TopUpsBySig)
    {
        (bool ok, bytes32 id) = _openChannelFor(channelSeed, delta);
        if (!ok) return;
        ChannelRef memory r = refOf[id];
        address payer = accountList[r.payer];
        address relayer = accountList[ACTORS];
        uint96 oldTotal = model[id].deposit;
        bool stale = mode % 5 == 0;
        uint96 newTotal = stale ? uint96(_bound(delta, 0, oldTotal)) : oldTotal + uint96(_bound(delta, 1, MAX_AMOUNT));
        fee = _bound(fee, 0, MAX_FEE);
        if (!stale && !_ensureFree(payer, newTotal - oldTotal + fee)) return;

        IChannelEscrow.TopUpAuth[] memory auths = new IChannelEscrow.TopUpAuth[](2);
        auths[0] = escrow.signTopUp(
            keys[r.payer],
            IChannelEscrow.TopUpAuth(
                payer,
                accountList[r.payee],
                salts[r.salt],
                newTotal,
                uint96(fee),
                _namedRelayer(mode),
                model[id].nonce,
                _deadline(mode),
                _noSig()
            )
        );
        auths[1] = auths[0];
        bytes memory replayRefusal = abi.encodeWithSelector(IChannelEscrow.StaleTopUp.selector, id, newTotal, newTotal);
        bytes memory staleRefusal = abi.encodeWithSelector(IChannelEscrow.StaleTopUp.selector, id, oldTotal, newTotal);
        bytes32 before = _stateHash();
        vm.prank(relayer);
        try escrow.topUpsBySig(auths) returns (bytes[] memory failures) {
            if (stale) {
                _check(keccak256(_entry(failures, 0)) == keccak256(staleRefusal), "stale top-up: wrong refusal");
                _check(keccak256(_entry(failures, 1)) == keccak256(staleRefusal), "stale top-up: wrong refusal");
                _check(_stateHash() == before, "stale top-up changed state");
                _rejected();
                return;
            }
            if (!_check(_entry(failures, 0).length == 0, "signed top-up refused")) return;
            _check(keccak256(_entry(failures, 1)) == keccak256(replayRefusal), "replayed top-up: wrong refusal");
            ghostFree[payer] -= newTotal - oldTotal + fee;
            ghostFree[relayer] += fee;
            model[id].deposit = newTotal;
            _applied();
        } catch (bytes memory err) {
            _unexpected("topUpsBySig", err);
        }
    }

    // =============================================================================================
    // Settlement
    // =============================================================================================

    /// @dev Mostly names the relayer; sometimes another actor (who then earns the fees when it submits) or
    /// nobody.
    function setSettleFeeCap(uint256 payeeSeed, uint256 bps, uint256 relayerSeed)
        external
        step(Action.SetSettleFeeCap)
    {
        address payee = accountList[payeeSeed % ACTORS];
        bps = _bound(bps, 0, BPS);
        uint256 pick = relayerSeed % 6;
        address named =
            pick == 0 ? address(0) : pick == 1 ? accountList[(relayerSeed >> 8) % ACTORS] : accountList[ACTORS];
        vm.prank(payee);
        try escrow.setSettleFeeCap(uint16(bps), named) {
            ghostCap[payee] = uint16(bps);
            ghostFeeRelayer[payee] = named;
            _applied();
        } catch (bytes memory err) {
            _unexpected("setSettleFeeCap", err);
        }
    }

    struct Planned {
        uint32 salt;
        uint96 cumulative;
        bytes32 r;
        bytes32 vs;
    }

    struct Group {
        uint8 payee;
        uint16 feeBps;
        Planned[] receipts;
    }

    /// @dev One or two payee groups of one to three receipts: fresh, stale, above the deposit, replayed,
    /// signed by a stranger or another actor, high-s or corrupted; sometimes a fee above the payee's cap.
    /// The batch is sometimes submitted twice: the second time must change nothing.
    function settleBatch(uint256 seed, uint256 submitterSeed) external step(Action.SettleBatch) {
        uint8 firstPayee = uint8(seed % ACTORS);
        // Make sure the first receipt has something to settle against.
        (bool live, bytes32 liveId) = _findLiveFor(firstPayee, seed >> 8);
        if (!live) {
            (bool fresh, bytes32 freshId) = _findNoneFor(firstPayee, seed >> 8);
            if (fresh && _openDirect(freshId, seed >> 16)) {
                live = true;
                liveId = freshId;
            }
        }
        Group[] memory groups = new Group[](1 + (seed >> 24) % 2);
        for (uint256 g; g < groups.length; ++g) {
            uint256 gSeed = uint256(keccak256(abi.encode(seed, g)));
            groups[g] = _planGroup(g == 0 ? firstPayee : uint8(gSeed % ACTORS), gSeed, g == 0 && live, liveId);
        }
        address submitter = _account(submitterSeed);
        // The live receipt always goes through, so that every settleBatch call settles something: its group
        // claims no more than this submitter may take.
        if (live) {
            address payee = accountList[firstPayee];
            groups[0].feeBps = ghostFeeRelayer[payee] == submitter ? uint16(_min(groups[0].feeBps, ghostCap[payee])) : 0;
        }
        if (!_submitBatch(groups, submitter)) return;
        _applied();
        if ((seed >> 32) % 4 == 0) _resubmit(groups, submitter);
    }

    /// @dev The second submission of a batch: predicted to settle nothing (so the prediction leaves the
    /// model as it is), and checked to change nothing.
    function _resubmit(Group[] memory groups, address submitter) internal {
        bytes32 before = _stateHash();
        (bytes memory expected, uint256 settles) = _predictSettle(groups, submitter);
        if (!_check(settles == 0, "model: resubmitted batch would settle")) return;
        vm.prank(submitter);
        try escrow.settleBatch(_pack(groups)) returns (bytes memory outcomes) {
            _check(keccak256(outcomes) == keccak256(expected), "resubmitted batch: outcomes");
            _check(_stateHash() == before, "resubmitted batch changed state");
        } catch (bytes memory err) {
            _unexpected("settleBatch (resubmitted)", err);
        }
    }

    function _planGroup(uint8 payee, uint256 seed, bool firstIsLive, bytes32 liveId)
        internal
        returns (Group memory group)
    {
        group.payee = payee;
        uint16 cap = ghostCap[accountList[payee]];
        if (seed % 8 == 0) {
            group.feeBps = uint16(_bound(seed >> 8, uint256(cap) + 1, uint256(cap) + 1000));
        } else {
            group.feeBps = uint16(_bound(seed >> 8, 0, cap));
        }
        group.receipts = new Planned[](1 + (seed >> 32) % 3);
        for (uint256 i; i < group.receipts.length; ++i) {
            uint256 rSeed = uint256(keccak256(abi.encode(seed, i)));
            bytes32 id;
            if (i == 0 && firstIsLive) {
                id = liveId;
            } else if (rSeed % 3 != 0) {
                // Mostly a channel the payee has (any state), so that stale and replayed receipts meet one.
                (, id) = _findExistingFor(payee, rSeed >> 8);
            }
            if (id == bytes32(0)) {
                uint8 payer = uint8((payee + 1 + rSeed % (ACTORS - 1)) % ACTORS);
                id = PaymentHash.channelId(accountList[payer], accountList[payee], salts[(rSeed >> 8) % SALTS]);
            }
            group.receipts[i] = _planReceipt(id, rSeed >> 16, i == 0 && firstIsLive);
        }
    }

    /// @dev A receipt for channel `id` (its payer, payee and salt), in one of the modes listed at settleBatch.
    function _planReceipt(bytes32 id, uint256 seed, bool forceFresh) internal returns (Planned memory p) {
        ChannelRef memory r = refOf[id];
        IChannelEscrow.Channel memory c = model[id];
        p.salt = salts[r.salt];
        uint256 mode = forceFresh ? 0 : seed % 10;
        seed >>= 8;
        if (mode == 4) {
            p.cumulative = uint96(_bound(seed, 0, c.settled));
        } else if (mode == 5 && c.deposit < MAX_U96) {
            p.cumulative = uint96(_bound(seed, uint256(c.deposit) + 1, MAX_U96));
        } else {
            p.cumulative = _freshCumulative(c, seed);
        }
        uint256 key = keys[r.payer];
        if (mode == 6 && lastReleased[id].exists) {
            Released memory old = lastReleased[id];
            return Planned(p.salt, old.cumulative, old.r, old.vs);
        } else if (mode == 7) {
            key = strangerKey;
        } else if (mode == 8) {
            // Another actor's key: a valid receipt of *its* channel to this payee, if it has one.
            uint256 signer = (r.payer + 1 + seed % (ACTORS - 1)) % ACTORS;
            key = signer == r.payee ? strangerKey : keys[signer];
        }
        IChannelEscrow.CompactSignature memory sig = escrow.signReceipt(key, accountList[r.payee], p.salt, p.cumulative);
        p.r = sig.r;
        p.vs = sig.vs;
        if (mode == 9) {
            // Never released in canonical form, so not a signed amount: either a high s or a corrupted r.
            if (seed % 2 == 0) {
                uint256 highS = _bound(seed >> 1, HALF_ORDER + 1, (1 << 255) - 1);
                p.vs = bytes32((uint256(sig.vs) & (1 << 255)) | highS);
            } else {
                p.r = bytes32(uint256(sig.r) ^ (1 + (seed >> 1) % 255));
            }
            return p;
        }
        _recordSigned(key, accountList[r.payee], p.salt, p.cumulative);
        lastReleased[PaymentHash.channelId(vm.addr(key), accountList[r.payee], p.salt)] =
            Released(p.cumulative, p.r, p.vs, true);
    }

    /// @dev Above what is settled and within the deposit when possible, else anything.
    function _freshCumulative(IChannelEscrow.Channel memory c, uint256 seed) internal pure returns (uint96) {
        if (c.settled < c.deposit) return uint96(_bound(seed, uint256(c.settled) + 1, c.deposit));
        return uint96(_bound(seed, 1, MAX_AMOUNT));
    }

    /// @dev Submits the batch, checks every outcome byte against the model and applies the model.
    function _submitBatch(Group[] memory groups, address submitter) internal returns (bool) {
        bytes memory batch = _pack(groups);
        vm.prank(submitter);
        try escrow.settleBatch(batch) returns (bytes memory outcomes) {
            (bytes memory expected, uint256 settles) = _predictSettle(groups, submitter);
            receiptsSettled += settles;
            receiptsRefused += expected.length - settles;
            for (uint256 i; i < expected.length; ++i) {
                ++outcomeCounts[uint8(expected[i])];
            }
            return _check(keccak256(outcomes) == keccak256(expected), "settle outcomes differ from the model");
        } catch (bytes memory err) {
            _unexpected("settleBatch", err);
            return false;
        }
    }

    /// @dev Applies the escrow's rules to the model, receipt by receipt (the payer is whoever the signature
    /// recovers to), and returns the outcome byte each receipt must get.
    function _predictSettle(Group[] memory groups, address submitter)
        internal
        returns (bytes memory outcomes, uint256 settles)
    {
        uint256 total;
        for (uint256 g; g < groups.length; ++g) {
            total += groups[g].receipts.length;
        }
        outcomes = new bytes(total);
        uint256 k;
        uint256 fees;
        for (uint256 g; g < groups.length; ++g) {
            (uint256 groupSettles, uint256 fee) = _predictGroup(groups[g], outcomes, k, submitter);
            k += groups[g].receipts.length;
            settles += groupSettles;
            fees += fee;
        }
        ghostFree[submitter] += fees;
    }

    /// @dev One payee group: outcomes from index `k`, the payee credited the group's increase minus its fee.
    /// A group claiming a fee the submitter may not take (above the cap, or the submitter is not the
    /// relayer the payee named) is refused whole: FeeAboveCap for each receipt, none of them looked at.
    function _predictGroup(Group memory group, bytes memory outcomes, uint256 k, address submitter)
        internal
        returns (uint256 settles, uint256 fee)
    {
        address payee = accountList[group.payee];
        bool feeAllowed = group.feeBps == 0
            || (group.feeBps <= ghostCap[payee] && ghostFeeRelayer[payee] == submitter && submitter != address(0));
        if (!feeAllowed) {
            for (uint256 i; i < group.receipts.length; ++i) {
                outcomes[k + i] = bytes1(uint8(IChannelEscrow.SettleOutcome.FeeAboveCap));
            }
            return (0, 0);
        }
        uint256 credited;
        for (uint256 i; i < group.receipts.length; ++i) {
            (bytes32 id, uint8 outcome) = _predictReceipt(payee, group.receipts[i]);
            outcomes[k + i] = bytes1(outcome);
            if (outcome != uint8(IChannelEscrow.SettleOutcome.Settled)) continue;
            ++settles;
            uint96 target = uint96(_min(group.receipts[i].cumulative, model[id].deposit));
            credited += target - model[id].settled;
            model[id].settled = target;
        }
        fee = credited * group.feeBps / BPS;
        ghostFree[payee] += credited - fee;
    }

    function _predictReceipt(address payee, Planned memory p) internal view returns (bytes32 id, uint8 outcome) {
        uint256 s = uint256(p.vs) & ((1 << 255) - 1);
        uint8 v = uint8(27 + (uint256(p.vs) >> 255));
        bytes32 digest = keccak256(
            abi.encodePacked(hex"1901", domainSeparator, PaymentHash.hashReceipt(payee, p.salt, p.cumulative))
        );
        address signer = ecrecover(digest, v, p.r, bytes32(s));
        id = PaymentHash.channelId(signer, payee, p.salt);
        IChannelEscrow.Channel memory c = model[id];
        if (s > HALF_ORDER) return (id, uint8(IChannelEscrow.SettleOutcome.MalleableSignature));
        if (c.state == IChannelEscrow.ChannelState.None) {
            return (id, uint8(IChannelEscrow.SettleOutcome.UnknownChannel));
        }
        if (c.state == IChannelEscrow.ChannelState.Closed) {
            return (id, uint8(IChannelEscrow.SettleOutcome.ChannelClosed));
        }
        if (c.state == IChannelEscrow.ChannelState.Closing && ghostNow > c.closesAt) {
            return (id, uint8(IChannelEscrow.SettleOutcome.ChallengeExpired));
        }
        if (_min(p.cumulative, c.deposit) <= c.settled) return (id, uint8(IChannelEscrow.SettleOutcome.Stale));
        return (id, uint8(IChannelEscrow.SettleOutcome.Settled));
    }

    function _pack(Group[] memory groups) internal view returns (bytes memory batch) {
        for (uint256 g; g < groups.length; ++g) {
            Group memory group = groups[g];
            batch = bytes.concat(
                batch, abi.encodePacked(_actorAddress(group.payee), group.feeBps, uint16(group.receipts.length))
            );
            for (uint256 i; i < group.receipts.length; ++i) {
                Planned memory p = group.receipts[i];
                batch = bytes.concat(batch, abi.encodePacked(p.salt, p.cumulative, p.r, p.vs));
            }
        }
    }

    /// @dev Settles one fresh receipt for `id` as the relayer, with no fee (used before closes).
    function _settleFresh(bytes32 id, uint256 seed) internal {
        ChannelRef memory r = refOf[id];
        Group[] memory groups = new Group[](1);
        groups[0].payee = r.payee;
        groups[0].receipts = new Planned[](1);
        IChannelEscrow.Channel memory c = model[id];
        uint96 cumulative = _freshCumulative(c, seed);
        IChannelEscrow.CompactSignature memory sig =
            escrow.signReceipt(keys[r.payer], accountList[r.payee], salts[r.salt], cumulative);
        _recordSigned(keys[r.payer], accountList[r.payee], salts[r.salt], cumulative);
        groups[0].receipts[0] = Planned(salts[r.salt], cumulative, sig.r, sig.vs);
        lastReleased[id] = Released(cumulative, sig.r, sig.vs, true);
        _submitBatch(groups, accountList[ACTORS]);
    }

    // =============================================================================================
    // Closing
    // =============================================================================================

    /// @dev Starts the close of an open channel, directly or by signature (then replayed: refused); sometimes
    /// aims at a channel that is not open and expects InvalidChannelState.
    function requestClose(uint256 channelSeed, uint256 fee, uint256 mode) external step(Action.RequestClose) {
        if (mode % 6 == 0) {
            (bool found, bytes32 notOpen) = _find(channelSeed, CLOSING | CLOSED);
            if (found) {
                _refuseRequestClose(notOpen);
                return;
            }
        }
        (bool ok, bytes32 id) = _openChannelFor(channelSeed, fee);
        if (!ok) return;
        if (mode % 2 == 0) {
            if (_requestCloseDirect(id)) _applied();
            return;
        }
        ChannelRef memory r = refOf[id];
        address payer = accountList[r.payer];
        address relayer = accountList[ACTORS];
        fee = _bound(fee, 0, MAX_FEE);
        if (!_ensureFree(payer, fee)) return;
        IChannelEscrow.CloseAuth[] memory auths = new IChannelEscrow.CloseAuth[](2);
        auths[0] = escrow.signClose(
            keys[r.payer],
            IChannelEscrow.CloseAuth(
                payer, accountList[r.payee], salts[r.salt], uint96(fee), _namedRelayer(mode), _deadline(mode), _noSig()
            )
        );
        auths[1] = auths[0];
        vm.prank(relayer);
        try escrow.requestClosesBySig(auths) returns (bytes[] memory failures) {
            if (!_check(_entry(failures, 0).length == 0, "signed close request refused")) return;
            _check(
                keccak256(_entry(failures, 1))
                    == keccak256(
                        abi.encodeWithSelector(
                            IChannelEscrow.InvalidChannelState.selector, id, IChannelEscrow.ChannelState.Closing
                        )
                    ),
                "replayed close request: wrong refusal"
            );
            ghostFree[payer] -= fee;
            ghostFree[relayer] += fee;
            _modelRequestClose(id);
            _applied();
        } catch (bytes memory err) {
            _unexpected("requestClosesBySig", err);
        }
    }

    function warp(uint256 seconds_) external step(Action.Warp) {
        _warpTo(ghostNow + _bound(seconds_, 1, 2 * uint256(challengePeriod)));
        _applied();
    }

    /// @dev Request (if needed) → maybe settle in the window, sometimes in its very last second → maybe try
    /// too early (refused) → wait out the window → maybe a late receipt (refused) → finalize, by anyone.
    /// Records what the payer got back. Sometimes first tries an open or closed channel (refused).
    function finalizeClose(uint256 channelSeed, uint256 callerSeed, uint256 mode) external step(Action.FinalizeClose) {
        if (mode % 7 == 0) {
            (bool wrong, bytes32 wrongId) = _find(channelSeed >> 8, OPEN | CLOSED);
            if (wrong) {
                _expectFinalizeRefused(
                    wrongId,
                    abi.encodeWithSelector(IChannelEscrow.InvalidChannelState.selector, wrongId, model[wrongId].state)
                );
            }
        }
        (bool found, bytes32 id) = _find(channelSeed, CLOSING);
        if (!found) {
            bool ok;
            (ok, id) = _openChannelFor(channelSeed, mode);
            if (!ok || !_requestCloseDirect(id)) return;
        }
        uint40 closesAt = model[id].closesAt;
        if (ghostNow <= closesAt) {
            if (mode % 4 == 1) _warpTo(closesAt);
            if (mode % 4 != 0) _settleFresh(id, mode >> 8);
            if (mode % 3 == 0) {
                _expectFinalizeRefused(
                    id, abi.encodeWithSelector(IChannelEscrow.ChallengePeriodActive.selector, id, closesAt)
                );
            }
            _warpTo(uint256(closesAt) + 1 + _bound(mode >> 16, 0, challengePeriod));
        }
        if (mode % 5 == 0) _settleFresh(id, mode >> 24);

        ChannelRef memory r = refOf[id];
        address payer = accountList[r.payer];
        IChannelEscrow.Channel memory c = escrow.channel(id);
        uint256 payerBefore = escrow.balanceOf(payer);
        vm.prank(_account(callerSeed));
        try escrow.finalizeClose(payer, accountList[r.payee], salts[r.salt]) {
            _recordRefund(id, c, payer, payerBefore);
            ghostFree[payer] += model[id].deposit - model[id].settled;
            _modelClose(id);
            ++unilateralCloses;
            _applied();
        } catch (bytes memory err) {
            _unexpected("finalizeClose", err);
        }
    }

    /// @dev The payee settles its last receipt (usually) and closes at once, from Open or Closing. Sometimes
    /// first tries a closed or never-opened channel (refused).
    function closeByPayee(uint256 channelSeed, uint256 mode) external step(Action.CloseByPayee) {
        if (mode % 6 == 0) {
            (bool wrong, bytes32 wrongId) = _find(channelSeed >> 8, NONE | CLOSED);
            if (wrong) _expectCloseByPayeeRefused(wrongId);
        }
        (bool found, bytes32 id) = _find(channelSeed, OPEN | CLOSING);
        if (!found) {
            (found, id) = _openChannelFor(channelSeed, mode);
            if (!found) return;
        }
        if (mode % 4 != 0) _settleFresh(id, mode >> 8);
        ChannelRef memory r = refOf[id];
        address payer = accountList[r.payer];
        IChannelEscrow.Channel memory c = escrow.channel(id);
        uint256 payerBefore = escrow.balanceOf(payer);
        vm.prank(accountList[r.payee]);
        try escrow.closeByPayee(payer, salts[r.salt]) {
            _recordRefund(id, c, payer, payerBefore);
            ghostFree[payer] += model[id].deposit - model[id].settled;
            _modelClose(id);
            _applied();
        } catch (bytes memory err) {
            _unexpected("closeByPayee", err);
        }
    }

    /// @dev A cooperative close as planned by `_planCooperativeClose`.
    struct Coop {
        IChannelEscrow.CooperativeCloseAuth auth;
        IChannelEscrow.CompactSignature payerSig;
        IChannelEscrow.CompactSignature payeeSig;
        uint96 settled;
        uint96 target;
        uint256 available;
        bool unaffordable;
        address submitter;
    }

    /// @dev Both parties sign a cumulative below the settled amount, between it and the deposit, or above the
    /// deposit, and a fee the payer can afford (sometimes one it cannot: the close must revert). The same
    /// signed terms are then replayed: refused, the channel being closed.
    function cooperativeClose(uint256 channelSeed, uint256 cumulativeSeed, uint256 fee, uint256 mode)
        external
        step(Action.CooperativeClose)
    {
        (bool found, bytes32 id) = _find(channelSeed, OPEN | CLOSING);
        if (!found) {
            (found, id) = _openChannelFor(channelSeed, cumulativeSeed);
            if (!found) return;
        }
        Coop memory k = _planCooperativeClose(id, cumulativeSeed, fee, mode);
        bytes32 before = _stateHash();
        vm.prank(k.submitter);
        try escrow.cooperativeClose(k.auth, k.payerSig, k.payeeSig) {
            if (!_check(!k.unaffordable, "cooperative close with an unaffordable fee went through")) return;
            ghostFree[k.auth.payee] += k.target - k.settled;
            ghostFree[k.auth.payer] += model[id].deposit - k.target;
            ghostFree[k.auth.payer] -= k.auth.fee;
            ghostFree[k.submitter] += k.auth.fee;
            model[id].settled = k.target;
            _modelClose(id);
            _applied();
        } catch (bytes memory err) {
            if (!k.unaffordable) {
                _unexpected("cooperativeClose", err);
                return;
            }
            _check(
                keccak256(err)
                    == keccak256(
                        abi.encodeWithSelector(
                            IChannelEscrow.InsufficientBalance.selector, k.auth.payer, k.available, k.auth.fee
                        )
                    ),
                "unaffordable cooperative close: wrong error"
            );
            _check(_stateHash() == before, "reverted cooperative close changed state");
            _rejected();
            return;
        }
        vm.prank(k.submitter);
        try escrow.cooperativeClose(k.auth, k.payerSig, k.payeeSig) {
            _violation("cooperative close replayed on a closed channel");
        } catch (bytes memory err) {
            _check(
                keccak256(err)
                    == keccak256(
                        abi.encodeWithSelector(
                            IChannelEscrow.InvalidChannelState.selector, id, IChannelEscrow.ChannelState.Closed
                        )
                    ),
                "replayed cooperative close: wrong error"
            );
        }
    }

    function _planCooperativeClose(bytes32 id, uint256 cumulativeSeed, uint256 fee, uint256 mode)
        internal
        returns (Coop memory k)
    {
        ChannelRef memory r = refOf[id];
        IChannelEscrow.Channel memory c = model[id];
        k.submitter = _account(mode >> 8);
        k.auth = IChannelEscrow.CooperativeCloseAuth(
            accountList[r.payer],
            accountList[r.payee],
            salts[r.salt],
            0,
            0,
            (mode >> 12) % 2 == 0 ? address(0) : k.submitter,
            c.nonce,
            _deadline(mode)
        );
        uint256 kind = mode % 3;
        if (kind == 0) k.auth.cumulative = uint96(_bound(cumulativeSeed, 0, c.settled));
        else if (kind == 1) k.auth.cumulative = uint96(_bound(cumulativeSeed, c.settled, c.deposit));
        else k.auth.cumulative = uint96(_bound(cumulativeSeed, c.deposit, MAX_U96));
        k.settled = c.settled;
        k.target = uint96(_max(c.settled, _min(k.auth.cumulative, c.deposit)));
        k.available = ghostFree[k.auth.payer] + (c.deposit - k.target);
        k.unaffordable = (mode >> 2) % 8 == 0 && k.available < MAX_U96;
        k.auth.fee = k.unaffordable
            ? uint96(_bound(fee, k.available + 1, _min(MAX_U96, k.available + MAX_FEE)))
            : uint96(_bound(fee, 0, _min(k.available, MAX_FEE)));
        k.payerSig = escrow.signCooperativeClose(keys[r.payer], k.auth);
        k.payeeSig = escrow.signCooperativeClose(keys[r.payee], k.auth);
        // The payer signed this amount whether or not the close goes through.
        _raiseMaxSigned(id, k.auth.cumulative);
    }

    // =============================================================================================
    // Onboarding and cancellation
    // =============================================================================================

    /// @dev A payer funds one or two of its channels straight from its wallet with a permit: opens the
    /// ones never opened, tops up the open ones. Sometimes one of them is closing or closed: the whole call
    /// must revert and change nothing.
    function fundChannelsWithPermit(uint256 channelSeed, uint256 amount, uint256 mode)
        external
        step(Action.FundChannelsWithPermit)
    {
        (bool found, bytes32 first) = _find(channelSeed, NONE | OPEN);
        if (!found) {
            _recordNothingToDo();
            return;
        }
        ChannelRef memory r = refOf[first];
        address payer = accountList[r.payer];
        bool refused = mode % 6 == 0;
        bytes32 second = first;
        if (mode % 3 == 1 || refused) {
            // A second channel of the same payer: another one that can be funded, or (refused) one that cannot.
            for (uint256 i; i < ids.length; ++i) {
                bytes32 id = ids[((channelSeed >> 8) + i) % ids.length];
                IChannelEscrow.ChannelState st = model[id].state;
                bool fundable = st == IChannelEscrow.ChannelState.None || st == IChannelEscrow.ChannelState.Open;
                if (id != first && refOf[id].payer == r.payer && fundable != refused) {
                    second = id;
                    break;
                }
            }
            if (second == first) refused = false;
        }
        amount = _bound(amount, 1, MAX_AMOUNT);
        IChannelEscrow.ChannelFunding[] memory channels = new IChannelEscrow.ChannelFunding[](second == first ? 1 : 2);
        channels[0] = IChannelEscrow.ChannelFunding(accountList[r.payee], salts[r.salt], uint96(amount));
        if (second != first) {
            ChannelRef memory r2 = refOf[second];
            channels[1] = IChannelEscrow.ChannelFunding(accountList[r2.payee], salts[r2.salt], uint96(amount));
        }
        // A permit for the largest allowance: the wallet keeps approving every later deposit.
        IChannelEscrow.CompactSignature memory sig = PaymentSigner.signPermit(
            address(token), keys[r.payer], address(escrow), type(uint256).max, token.nonces(payer), ghostNow + 1 hours
        );
        uint256 tokensBefore = token.balanceOf(payer);
        bytes32 before = _stateHash();
        vm.prank(payer);
        try escrow.fundChannelsWithPermit(type(uint256).max, ghostNow + 1 hours, sig, channels) {
            if (!_check(!refused, "funded a channel that is not open")) return;
            _check(token.balanceOf(payer) + amount * channels.length == tokensBefore, "pulled another amount");
            ghostDeposited += amount * channels.length;
            _modelFund(first, amount);
            if (second != first) _modelFund(second, amount);
            _applied();
        } catch (bytes memory err) {
            if (!refused) {
                _unexpected("fundChannelsWithPermit", err);
                return;
            }
            _check(
                keccak256(err)
                    == keccak256(
                        abi.encodeWithSelector(IChannelEscrow.InvalidChannelState.selector, second, model[second].state)
                    ),
                "refused funding: wrong error"
            );
            _check(_stateHash() == before, "refused funding changed state");
            _rejected();
        }
    }

    function _modelFund(bytes32 id, uint256 amount) internal {
        if (model[id].state == IChannelEscrow.ChannelState.None) _modelOpen(id, amount);
        else model[id].deposit += uint96(amount);
    }

    /// @dev An actor voids what it signed under its nonce; a withdrawal signed under the old one is then
    /// refused.
    function advanceNonce(uint256 actorSeed, uint256 amount) external step(Action.AdvanceNonce) {
        uint256 o = actorSeed % ACTORS;
        address owner = accountList[o];
        uint64 old = ghostNonce[owner];
        vm.prank(owner);
        try escrow.advanceNonce() {
            ghostNonce[owner] = old + 1;
        } catch (bytes memory err) {
            _unexpected("advanceNonce", err);
            return;
        }
        if (_ensureFree(owner, 1)) {
            IChannelEscrow.WithdrawAuth[] memory auths = new IChannelEscrow.WithdrawAuth[](1);
            auths[0] = escrow.signWithdraw(
                keys[o],
                IChannelEscrow.WithdrawAuth(
                    owner,
                    sink,
                    uint128(_bound(amount, 1, ghostFree[owner])),
                    0,
                    address(0),
                    old,
                    _deadline(amount),
                    _noSig()
                )
            );
            _expectWithdrawalRefused(
                auths, abi.encodeWithSelector(IChannelEscrow.InvalidNonce.selector, owner, old + 1, old)
            );
        }
        _applied();
    }

    /// @dev The payer or the payee of a channel not yet closed (never opened, open or closing) voids what was
    /// signed for it; a top-up signed under the old nonce (if the channel is open) is then refused. On a
    /// closed channel the call is refused.
    function advanceChannelNonce(uint256 channelSeed, uint256 mode) external step(Action.AdvanceChannelNonce) {
        if (mode % 5 == 0) {
            (bool closed, bytes32 closedId) = _find(channelSeed, CLOSED);
            if (closed) {
                ChannelRef memory rc = refOf[closedId];
                vm.prank(accountList[rc.payer]);
                try escrow.advanceChannelNonce(accountList[rc.payer], accountList[rc.payee], salts[rc.salt]) {
                    _violation("advanced the nonce of a closed channel");
                } catch (bytes memory err) {
                    _check(
                        keccak256(err)
                            == keccak256(
                                abi.encodeWithSelector(
                                    IChannelEscrow.InvalidChannelState.selector,
                                    closedId,
                                    IChannelEscrow.ChannelState.Closed
                                )
                            ),
                        "nonce of a closed channel: wrong error"
                    );
                    _rejected();
                }
                return;
            }
        }
        (bool found, bytes32 id) = _find(channelSeed, NONE | OPEN | CLOSING);
        if (!found) {
            _recordNothingToDo();
            return;
        }
        ChannelRef memory r = refOf[id];
        uint16 old = model[id].nonce;
        vm.prank(accountList[(mode >> 4) % 2 == 0 ? r.payer : r.payee]);
        try escrow.advanceChannelNonce(accountList[r.payer], accountList[r.payee], salts[r.salt]) {
            model[id].nonce = old + 1;
        } catch (bytes memory err) {
            _unexpected("advanceChannelNonce", err);
            return;
        }
        if (model[id].state == IChannelEscrow.ChannelState.Open) {
            IChannelEscrow.TopUpAuth[] memory auths = new IChannelEscrow.TopUpAuth[](1);
            auths[0] = escrow.signTopUp(
                keys[r.payer],
                IChannelEscrow.TopUpAuth(
                    accountList[r.payer],
                    accountList[r.payee],
                    salts[r.salt],
                    model[id].deposit + 1,
                    0,
                    address(0),
                    old,
                    _deadline(mode),
                    _noSig()
                )
            );
            bytes32 before = _stateHash();
            vm.prank(accountList[ACTORS]);
            try escrow.topUpsBySig(auths) returns (bytes[] memory failures) {
                _check(
                    keccak256(_entry(failures, 0))
                        == keccak256(
                            abi.encodeWithSelector(IChannelEscrow.InvalidChannelNonce.selector, id, old + 1, old)
                        ),
                    "top-up under an advanced nonce: wrong refusal"
                );
                _check(_stateHash() == before, "top-up under an advanced nonce changed state");
            } catch (bytes memory err) {
                _unexpected("topUpsBySig (old nonce)", err);
                return;
            }
        }
        _applied();
    }

    // =============================================================================================
    // Views for the invariants
    // =============================================================================================

    function channelIds() external view returns (bytes32[] memory) {
        return ids;
    }

    function accounts() external view returns (address[ACCOUNTS] memory) {
        return accountList;
    }

    /// @dev The model, in `channelIds()` and `accounts()` order (one call, so checking it stays cheap).
    function modelState()
        external
        view
        returns (
            IChannelEscrow.Channel[] memory channels,
            uint256[ACCOUNTS] memory free,
            uint64[ACCOUNTS] memory nonces,
            uint16[ACCOUNTS] memory caps,
            address[ACCOUNTS] memory feeRelayers
        )
    {
        channels = new IChannelEscrow.Channel[](ids.length);
        for (uint256 i; i < ids.length; ++i) {
            channels[i] = model[ids[i]];
        }
        for (uint256 i; i < ACCOUNTS; ++i) {
            address a = accountList[i];
            (free[i], nonces[i], caps[i], feeRelayers[i]) =
            (ghostFree[a], ghostNonce[a], ghostCap[a], ghostFeeRelayer[a]);
        }
    }

    /// @dev Per channel, in `channelIds()` order: the highest cumulative its payer signed.
    function maxSignedAll() external view returns (uint256[] memory maxSigned) {
        maxSigned = new uint256[](ids.length);
        for (uint256 i; i < ids.length; ++i) {
            maxSigned[i] = ghostMaxSigned[ids[i]];
        }
    }

    /// @dev Per channel, in `channelIds()` order: the channel as it was when it closed (zero if still open).
    function closedChannels() external view returns (IChannelEscrow.Channel[] memory closed) {
        closed = new IChannelEscrow.Channel[](ids.length);
        for (uint256 i; i < ids.length; ++i) {
            closed[i] = closedAs[ids[i]];
        }
    }

    function refundedChannelIds() external view returns (bytes32[] memory) {
        return refundedIds;
    }

    function callCounts()
        external
        view
        returns (uint256[ACTION_COUNT] memory, uint256[ACTION_COUNT] memory, uint256[ACTION_COUNT] memory)
    {
        return (calls, applied, rejected);
    }

    // =============================================================================================
    // Helpers
    // =============================================================================================

    function _account(uint256 seed) internal view returns (address) {
        return accountList[seed % ACCOUNTS];
    }

    function _actorAddress(uint8 index) internal view returns (address) {
        return accountList[index];
    }

    /// @dev Withdrawals go to the accounts or to an outside address, never to the escrow itself.
    function _recipient(uint256 seed) internal view returns (address) {
        uint256 i = seed % (ACCOUNTS + 1);
        return i == ACCOUNTS ? sink : accountList[i];
    }

    /// @dev The relayer a signed operation names: the handler's relayer (who submits them all), or nobody.
    function _namedRelayer(uint256 seed) internal view returns (address) {
        return (seed >> 3) % 2 == 0 ? accountList[ACTORS] : address(0);
    }

    function _deadline(uint256 seed) internal view returns (uint40) {
        return uint40(ghostNow + _bound(seed >> 40, 0, 1 days));
    }

    function _noSig() internal pure returns (IChannelEscrow.CompactSignature memory) {
        return IChannelEscrow.CompactSignature(0, 0);
    }

    /// @dev First channel from `seed` onwards whose model state is in `mask`.
    function _find(uint256 seed, uint256 mask) internal view returns (bool, bytes32) {
        uint256 n = ids.length;
        for (uint256 i; i < n; ++i) {
            bytes32 id = ids[(seed % n + i) % n];
            if (mask & (1 << uint256(model[id].state)) != 0) return (true, id);
        }
        return (false, bytes32(0));
    }

    /// @dev An open channel (opening a fresh one if there is none).
    function _openChannelFor(uint256 seed, uint256 amountSeed) internal returns (bool, bytes32) {
        (bool found, bytes32 id) = _find(seed, OPEN);
        if (found) return (true, id);
        (found, id) = _find(seed, NONE);
        if (found && _openDirect(id, amountSeed)) return (true, id);
        if (!found) _recordNothingToDo();
        return (false, bytes32(0));
    }

    /// @dev A channel of `payee` that receipts can still settle (Open, or Closing within the window).
    function _findLiveFor(uint8 payee, uint256 seed) internal view returns (bool, bytes32) {
        uint256 n = ids.length;
        for (uint256 i; i < n; ++i) {
            bytes32 id = ids[(seed % n + i) % n];
            IChannelEscrow.Channel memory c = model[id];
            if (refOf[id].payee != payee || c.settled == c.deposit) continue;
            if (
                c.state == IChannelEscrow.ChannelState.Open
                    || (c.state == IChannelEscrow.ChannelState.Closing && ghostNow <= c.closesAt)
            ) return (true, id);
        }
        return (false, bytes32(0));
    }

    function _findExistingFor(uint8 payee, uint256 seed) internal view returns (bool, bytes32) {
        uint256 n = ids.length;
        for (uint256 i; i < n; ++i) {
            bytes32 id = ids[(seed % n + i) % n];
            if (refOf[id].payee == payee && model[id].state != IChannelEscrow.ChannelState.None) return (true, id);
        }
        return (false, bytes32(0));
    }

    function _findNoneFor(uint8 payee, uint256 seed) internal view returns (bool, bytes32) {
        uint256 n = ids.length;
        for (uint256 i; i < n; ++i) {
            bytes32 id = ids[(seed % n + i) % n];
            if (refOf[id].payee == payee && model[id].state == IChannelEscrow.ChannelState.None) return (true, id);
        }
        return (false, bytes32(0));
    }

    /// @dev Deposits into `account`'s free balance from its own tokens until it holds `amount`.
    function _ensureFree(address account, uint256 amount) internal returns (bool) {
        uint256 free = ghostFree[account];
        if (free >= amount) return true;
        uint256 shortfall = amount - free;
        vm.prank(account);
        try escrow.deposit(account, shortfall) {
            ghostFree[account] += shortfall;
            ghostDeposited += shortfall;
            return true;
        } catch (bytes memory err) {
            _unexpected("deposit (top up free balance)", err);
            return false;
        }
    }

    function _openDirect(bytes32 id, uint256 amountSeed) internal returns (bool) {
        ChannelRef memory r = refOf[id];
        address payer = accountList[r.payer];
        uint256 amount = _bound(amountSeed, 1, MAX_AMOUNT);
        if (!_ensureFree(payer, amount)) return false;
        vm.prank(payer);
        try escrow.openChannel(accountList[r.payee], salts[r.salt], uint96(amount)) returns (bytes32 opened) {
            _check(opened == id, "openChannel returned another id");
            ghostFree[payer] -= amount;
            _modelOpen(id, amount);
            return true;
        } catch (bytes memory err) {
            _unexpected("openChannel", err);
            return false;
        }
    }

    function _requestCloseDirect(bytes32 id) internal returns (bool) {
        ChannelRef memory r = refOf[id];
        vm.prank(accountList[r.payer]);
        try escrow.requestClose(accountList[r.payee], salts[r.salt]) {
            _modelRequestClose(id);
            return true;
        } catch (bytes memory err) {
            _unexpected("requestClose", err);
            return false;
        }
    }

    function _refuseRequestClose(bytes32 id) internal {
        ChannelRef memory r = refOf[id];
        bool refused = _expectRefused(
            accountList[r.payer],
            abi.encodeCall(IChannelEscrow.requestClose, (accountList[r.payee], salts[r.salt])),
            _notInState(id),
            "close requested on a channel that is not open",
            "requestClose on a non-open channel: wrong error"
        );
        if (refused) _rejected();
    }

    function _expectFinalizeRefused(bytes32 id, bytes memory expected) internal {
        ChannelRef memory r = refOf[id];
        _expectRefused(
            address(this),
            abi.encodeCall(IChannelEscrow.finalizeClose, (accountList[r.payer], accountList[r.payee], salts[r.salt])),
            expected,
            "finalized a channel that is not closing, or within its challenge window",
            "refused finalize: wrong error"
        );
    }

    function _expectCloseByPayeeRefused(bytes32 id) internal {
        ChannelRef memory r = refOf[id];
        _expectRefused(
            accountList[r.payee],
            abi.encodeCall(IChannelEscrow.closeByPayee, (accountList[r.payer], salts[r.salt])),
            _notInState(id),
            "payee closed a channel that is not open or closing",
            "refused closeByPayee: wrong error"
        );
    }

    /// @dev The refusal of an operation on channel `id` in the state the model has for it.
    function _notInState(bytes32 id) internal view returns (bytes memory) {
        return abi.encodeWithSelector(IChannelEscrow.InvalidChannelState.selector, id, model[id].state);
    }

    /// @dev Calls the escrow as `caller` with `call`, which must revert with exactly `expected`: a success is
    /// the violation `accepted`, another error the violation `wrongError`. Returns whether it reverted.
    function _expectRefused(
        address caller,
        bytes memory call,
        bytes memory expected,
        string memory accepted,
        string memory wrongError
    ) internal returns (bool refused) {
        vm.prank(caller);
        (bool ok, bytes memory err) = address(escrow).call(call);
        if (ok) _violation(accepted);
        else _check(keccak256(err) == keccak256(expected), wrongError);
        return !ok;
    }

    /// @dev Entry `i` of a signed batch's failures; a missing entry is a violation (not an index panic,
    /// which would revert the handler call and hide it).
    function _entry(bytes[] memory failures, uint256 i) internal returns (bytes memory) {
        if (_check(i < failures.length, "signed batch returned too few entries")) return failures[i];
        return "<missing>";
    }

    function _warpTo(uint256 timestamp) internal {
        ghostNow = timestamp;
        vm.warp(timestamp);
    }

    function _modelOpen(bytes32 id, uint256 amount) internal {
        model[id] = IChannelEscrow.Channel(uint96(amount), 0, 0, model[id].nonce, IChannelEscrow.ChannelState.Open);
        ++channelsOpened;
    }

    function _modelRequestClose(bytes32 id) internal {
        model[id].state = IChannelEscrow.ChannelState.Closing;
        model[id].closesAt = uint40(ghostNow) + challengePeriod;
    }

    function _modelClose(bytes32 id) internal {
        model[id].state = IChannelEscrow.ChannelState.Closed;
        model[id].closesAt = 0;
        closedAs[id] = escrow.channel(id);
        ++channelsClosed;
    }

    /// @dev After a close: what the payer's free balance rose by, against deposit − settled as stored just
    /// before. Computed without reverting whatever the escrow did (a handler revert would hide the bug).
    function _recordRefund(bytes32 id, IChannelEscrow.Channel memory before, address payer, uint256 payerBefore)
        internal
    {
        uint256 payerAfter = escrow.balanceOf(payer);
        refundedIds.push(id);
        ghostRefundExpected[id] =
            _check(before.settled <= before.deposit, "settled above deposit") ? before.deposit - before.settled : 0;
        ghostRefundReceived[id] = _check(payerAfter >= payerBefore, "payer's free balance fell on a close")
            ? payerAfter - payerBefore
            : type(uint256).max;
    }

    function _recordSigned(uint256 key, address payee, uint32 salt, uint96 cumulative) internal {
        _raiseMaxSigned(PaymentHash.channelId(vm.addr(key), payee, salt), cumulative);
    }

    function _raiseMaxSigned(bytes32 id, uint256 cumulative) internal {
        if (cumulative > ghostMaxSigned[id]) ghostMaxSigned[id] = cumulative;
    }

    /// @dev Checks the escrow's channels against the previous step: deposits and settled amounts never
    /// fall, states only move forward, and a closed channel never changes again.
    function _checkTransitions() internal {
        for (uint256 i; i < ids.length; ++i) {
            bytes32 id = ids[i];
            IChannelEscrow.Channel memory c = escrow.channel(id);
            IChannelEscrow.Channel memory prev = lastSeen[id];
            _checkTransition(c.deposit >= prev.deposit, "deposit decreased");
            _checkTransition(c.settled >= prev.settled, "settled decreased");
            _checkTransition(c.nonce >= prev.nonce, "channel nonce decreased");
            _checkTransition(uint8(c.state) >= uint8(prev.state), "state moved backwards");
            if (prev.state == IChannelEscrow.ChannelState.Closed) {
                _checkTransition(keccak256(abi.encode(c)) == keccak256(abi.encode(prev)), "closed channel changed");
            }
            lastSeen[id] = c;
        }
    }

    /// @dev Everything the escrow stores about the accounts and channels, hashed.
    function _stateHash() internal view returns (bytes32 h) {
        for (uint256 i; i < ACCOUNTS; ++i) {
            address a = accountList[i];
            (uint16 bps, address named) = escrow.settleFeeCapOf(a);
            h = keccak256(abi.encode(h, escrow.balanceOf(a), escrow.nonceOf(a), bps, named));
        }
        for (uint256 i; i < ids.length; ++i) {
            h = keccak256(abi.encode(h, escrow.channel(ids[i])));
        }
        h = keccak256(abi.encode(h, token.balanceOf(address(escrow))));
    }

    function _applied() internal {
        ++applied[uint256(current)];
        recorded = true;
    }

    function _rejected() internal {
        ++rejected[uint256(current)];
        recorded = true;
    }

    /// @dev Every channel id is taken: nothing for this action to do. Counted as a refusal.
    function _recordNothingToDo() internal {
        ++rejected[uint256(current)];
        recorded = true;
    }

    function _checkTransition(bool ok, string memory what) internal {
        if (!ok) ++transitionViolations;
        _check(ok, what);
    }

    function _check(bool ok, string memory what) internal returns (bool) {
        if (!ok) _violation(what);
        return ok;
    }

    function _unexpected(string memory what, bytes memory err) internal {
        _violation(string.concat(what, " reverted: ", vm.toString(err)));
        recorded = true;
    }

    function _violation(string memory what) internal {
        if (violations == 0) firstViolation = string.concat(_actionName(), ": ", what);
        ++violations;
    }

    function _actionName() internal view returns (string memory) {
        return actionNames[uint256(current)];
    }

    function _min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }

    function _max(uint256 a, uint256 b) internal pure returns (uint256) {
        return a > b ? a : b;
    }
}
