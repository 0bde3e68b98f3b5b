// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentHash} from "../../src/libraries/PaymentHash.sol";
import {SettleReference} from "./SettleReference.sol";

/// @notice Symbolic proof (halmos, `make test-symbolic`) that ChannelEscrow's assembly settlement loop behaves
/// exactly as the plain-Solidity SettleReference: for every value of every input below — signatures,
/// salts, cumulative amounts, the stored channel and account words, the fee claimed, fee cap, fee relayer,
/// the caller's relayer id, block time — both return the same outcome bytes and leave the same channel
/// words, payee account words and caller account word. The escrow checked is the deployed artifact
/// (out/ChannelEscrow.sol/ChannelEscrow.json, built through the IR pipeline), not a copy compiled into
/// this test.
///
/// Bounds: batches of two receipts, as one group of two (the loop's carried state: the credit, the
/// entries, the previous payer in scratch memory) and as two groups of one (the group loop: payee credit,
/// outcome offsets), and check_sameChannelTwice (two receipts of one channel, the first settling on the
/// common path below its deposit: the carried channel word and credit). `make test` runs check_oneReceipt
/// only; the two-receipt checks take minutes (docs/contracts.md, "Symbolic check"). Channels and accounts
/// are any well-formed words (state 0–3, settled ≤ deposit, balances below 2^127 so that credits stay
/// within the escrow's 2^128 holdings bound). `ecrecover` is an uninterpreted function and keccak256 an
/// injective one, so "any signature" covers valid, invalid (recovering 0) and malleable ones, and two
/// receipts of one channel. These checks claim no fee (see
/// _header); check_feeRule claims any fee on groups that credit nothing: whether a claim is allowed, not
/// the fee's amount. Events are not compared (the unit tests pin them). `forge test` runs only
/// test_storageLayout here (the `check_` functions are halmos's).
contract SettleEquivalenceTest is Test {
    /// @dev ChannelEscrow's storage: `_accounts` is slot 2, `_relayerIds` slot 3 (after EIP712's two
    /// string slots); a channel's word lives at the slot numbered by its id. test_storageLayout pins them.
    uint256 private constant ACCOUNTS_SLOT = 2;
    uint256 private constant RELAYER_IDS_SLOT = 3;
    uint256 private constant HALF_CURVE_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    IChannelEscrow internal escrow;
    SettleReference internal ref;

    function setUp() public {
        // No token is ever called by settleBatch; any nonzero address will do.
        bytes memory code =
            bytes.concat(vm.getCode("ChannelEscrow.sol:ChannelEscrow"), abi.encode(address(0x7070), uint40(1 hours)));
        address deployed;
        assembly ("memory-safe") {
            deployed := create(0, add(code, 0x20), mload(code))
        }
        require(deployed != address(0), "ChannelEscrow did not deploy");
        escrow = IChannelEscrow(deployed);
        ref = new SettleReference(escrow.DOMAIN_SEPARATOR());
    }

    struct SignedReceipt {
        uint32 salt;
        uint96 cumulative;
        bytes32 r;
        bytes32 vs;
        uint256 word;
    }

    /// @dev One group, one receipt.
    function check_oneReceipt(address caller, uint256 account, SignedReceipt memory a, uint40 time) public {
        address payee = address(0xbeef);
        vm.warp(time);
        _setAccount(payee, account);
        bytes32 idA = _setChannel(payee, a);
        bytes memory batch = bytes.concat(_header(payee, 1), _pack(a));
        uint256 diff = _compare(batch, caller);
        diff |= _wordDiff(idA);
        diff |= _accountDiff(payee);
        diff |= _accountDiff(caller);
        assertEq(diff, 0, "escrow and reference differ");
    }

    /// @dev One group of two receipts of one channel, the first settling on the escrow's common path (see
    /// _assumeSettles), the second any later receipt of that channel (any cumulative amount, any low- or
    /// high-s signature that recovers the same payer). Beyond check_oneReceipt: the second receipt reads the
    /// channel word the first wrote (settled moved to the first's cumulative), and the group's credit. Fixed:
    /// the payee, and the caller (no fee is claimed, so the caller's word is untouched; check_oneReceipt has it
    /// symbolic); no block time (the channel is open). Not covered here: a first receipt for exactly the
    /// deposit, or refused, or of another channel (check_oneGroupOfTwo, `make test-symbolic` only).
    /// The 200 ms branching timeout lets halmos drop infeasible escrow × reference branch pairs as it meets
    /// them: 117–409 paths, 167–586 s here (the timeout is wall-clock, so it prunes less on a loaded
    /// machine); with the default 1 ms it ran past 6 minutes and 329 paths unfinished.
    /// @custom:halmos --solver-timeout-branching 200ms
    function check_sameChannelTwice(
        uint256 account,
        SignedReceipt memory a,
        uint96 cumulativeB,
        bytes32 rB,
        bytes32 vsB
    ) public {
        address payee = address(0xbeef);
        address caller = address(0xca11);
        _setAccount(payee, account);
        _assumeSettles(a);
        SignedReceipt memory b = SignedReceipt(a.salt, cumulativeB, rB, vsB, 0);
        bytes32 id = _setChannel(payee, a);
        vm.assume(_channelId(payee, b) == id);
        uint256 diff = _compare(bytes.concat(_header(payee, 2), _pack(a), _pack(b)), caller);
        diff |= _wordDiff(id);
        diff |= _accountDiff(payee);
        diff |= _accountDiff(caller);
        assertEq(diff, 0, "escrow and reference differ");
    }

    /// @dev One group, two receipts.
    function check_oneGroupOfTwo(
        address payee,
        address caller,
        uint256 account,
        SignedReceipt memory a,
        SignedReceipt memory b,
        uint40 time
    ) public {
        vm.warp(time);
        _setAccount(payee, account);
        bytes32 idA = _setChannel(payee, a);
        bytes32 idB = _setChannel(payee, b);
        bytes memory batch = bytes.concat(_header(payee, 2), _pack(a), _pack(b));
        uint256 diff = _compare(batch, caller);
        diff |= _wordDiff(idA);
        diff |= _wordDiff(idB);
        diff |= _accountDiff(payee);
        diff |= _accountDiff(caller);
        assertEq(diff, 0, "escrow and reference differ");
    }

    /// @dev Two groups of one receipt each (any payees, equal or not).
    function check_twoGroupsOfOne(
        address payeeA,
        address payeeB,
        address caller,
        uint256 accountA,
        uint256 accountB,
        SignedReceipt memory a,
        SignedReceipt memory b,
        uint40 time
    ) public {
        vm.warp(time);
        _setAccount(payeeA, accountA);
        _setAccount(payeeB, accountB);
        bytes32 idA = _setChannel(payeeA, a);
        bytes32 idB = _setChannel(payeeB, b);
        uint256 diff = _compare(bytes.concat(_groupOfOne(payeeA, a), _groupOfOne(payeeB, b)), caller);
        diff |= _wordDiff(idA);
        diff |= _wordDiff(idB);
        diff |= _accountDiff(payeeA);
        diff |= _accountDiff(payeeB);
        diff |= _accountDiff(caller);
        assertEq(diff, 0, "escrow and reference differ");
    }

    /// @dev The fee rule: two groups, each claiming any fee (0–65,535 bps) against its payee's cap and named
    /// relayer, the caller's relayer id read once and reused by the second group. Each group's one receipt
    /// names no channel, so nothing is credited and no fee computed: the division by 10,000 stays off the
    /// solver (see _header); the fee's amount is the forge suites'.
    function check_feeRule(
        address payeeA,
        address payeeB,
        address caller,
        uint16 feeBpsA,
        uint16 feeBpsB,
        uint256 accountA,
        uint256 accountB,
        uint32 callerId,
        SignedReceipt memory a,
        SignedReceipt memory b
    ) public {
        _setAccount(payeeA, accountA);
        _setAccount(payeeB, accountB);
        _setRelayerId(caller, callerId);
        // No channel (state 0): each receipt credits nothing, in one outcome per path (or two, high-s).
        vm.assume(a.word >> 248 == 0);
        vm.assume(b.word >> 248 == 0);
        bytes32 idA = _setChannel(payeeA, a);
        bytes32 idB = _setChannel(payeeB, b);
        uint256 diff = _compare(
            bytes.concat(
                abi.encodePacked(payeeA, feeBpsA, uint16(1)),
                _pack(a),
                abi.encodePacked(payeeB, feeBpsB, uint16(1)),
                _pack(b)
            ),
            caller
        );
        diff |= _wordDiff(idA);
        diff |= _wordDiff(idB);
        diff |= _accountDiff(payeeA);
        diff |= _accountDiff(payeeB);
        diff |= _accountDiff(caller);
        assertEq(diff, 0, "escrow and reference differ");
    }

    /// @dev The slots this check writes are the escrow's (a layout change would make the check vacuous).
    function test_storageLayout() public {
        address payee = makeAddr("payee");
        vm.store(address(escrow), keccak256(abi.encode(payee, ACCOUNTS_SLOT)), bytes32(uint256(5) | (7 << 192)));
        assertEq(escrow.balanceOf(payee), 5);
        (uint16 bps,) = escrow.settleFeeCapOf(payee);
        assertEq(bps, 7);
        bytes32 id = escrow.channelId(payee, address(1), 2);
        vm.store(address(escrow), id, bytes32(uint256(9) | (1 << 248)));
        assertEq(escrow.channel(id).deposit, 9);
        vm.prank(payee);
        escrow.setSettleFeeCap(1, address(0xbeef));
        assertEq(uint256(vm.load(address(escrow), keccak256(abi.encode(address(0xbeef), RELAYER_IDS_SLOT)))), 1);
    }

    /// @dev A group header that claims no fee. A claimed fee is divided by 10,000 on both sides; every proof
    /// that needs that division's value (the payee's share credited − fee ≥ 0, the equal fees of two equal
    /// but differently built credits) has the solver bit-blast a 256-bit divider, minutes per query, more
    /// than CI can spend (docs/contracts.md, "Symbolic check"). Whether a claim is allowed is check_feeRule's;
    /// the fee's amount and split are the forge suites'.
    function _header(address payee, uint16 count) internal pure returns (bytes memory) {
        return abi.encodePacked(payee, uint16(0), count);
    }

    /// @dev Low-level calls, so that a revert is a failure: halmos drops paths on which the check itself
    /// reverts, which would leave inputs that make either side revert unchecked. On these well-formed
    /// batches neither side may revert. Returns a word that is nonzero iff the outcomes differ; each check ORs
    /// into it the words of each storage comparison (_wordDiff, _accountDiff) and asserts it zero once: one
    /// assertion query per path, not up to five (halmos checks each assertion that its branching check
    /// cannot refute with a solver query of its own).
    function _compare(bytes memory batch, address caller) internal returns (uint256 diff) {
        bytes memory call = abi.encodeCall(IChannelEscrow.settleBatch, (batch));
        vm.prank(caller);
        (bool settled, bytes memory got) = address(escrow).call(call);
        assertTrue(settled, "escrow reverted");
        vm.prank(caller);
        (bool referenceSettled, bytes memory want) = address(ref).call(call);
        assertTrue(referenceSettled, "reference reverted");
        diff = uint256(keccak256(got) ^ keccak256(want));
    }

    function _groupOfOne(address payee, SignedReceipt memory x) internal pure returns (bytes memory) {
        return bytes.concat(_header(payee, 1), _pack(x));
    }

    function _pack(SignedReceipt memory x) internal pure returns (bytes memory) {
        return abi.encodePacked(x.salt, x.cumulative, x.r, x.vs);
    }

    /// @dev Stores receipt `x`'s channel word under the id its signature leads to, in both contracts.
    function _setChannel(address payee, SignedReceipt memory x) internal returns (bytes32 id) {
        // A well-formed word: state 0–3 in the top byte, settled ≤ deposit.
        vm.assume(x.word >> 248 <= 3);
        vm.assume((x.word >> 96) & ((1 << 96) - 1) <= x.word & ((1 << 96) - 1));
        id = _channelId(payee, x);
        vm.store(address(escrow), id, bytes32(x.word));
        ref.setChannel(id, x.word);
    }

    /// @dev The channel receipt `x` names: its salt, and the payer its signature recovers.
    function _channelId(address payee, SignedReceipt memory x) internal view returns (bytes32) {
        bytes32 digest = keccak256(
            abi.encodePacked(hex"1901", escrow.DOMAIN_SEPARATOR(), PaymentHash.hashReceipt(payee, x.salt, x.cumulative))
        );
        address payer = ecrecover(digest, uint8(27 + (uint256(x.vs) >> 255)), x.r, bytes32((uint256(x.vs) << 1) >> 1));
        return keccak256(abi.encode(payer, payee, x.salt));
    }

    /// @dev Receipt `x` settles on the escrow's common path: its channel open (state 1), settled < cumulative
    /// < deposit (strictly: at the deposit the reference takes its `min`'s other branch, twice the paths), a
    /// low-s signature (so it settles whatever its signature recovers).
    function _assumeSettles(SignedReceipt memory x) internal pure {
        vm.assume(x.word >> 248 == 1);
        vm.assume((x.word >> 96) & ((1 << 96) - 1) < x.cumulative);
        vm.assume(x.cumulative < x.word & ((1 << 96) - 1));
        vm.assume(uint256(x.vs) << 1 >> 1 <= HALF_CURVE_ORDER);
    }

    function _setAccount(address who, uint256 word) internal {
        // Upper 16 bits zero, fee cap ≤ 100%, balance below 2^127 (holdings bound: credits cannot carry).
        vm.assume(word >> 240 == 0);
        vm.assume((word >> 192) & 0xffff <= 10_000);
        vm.assume(word & ((1 << 128) - 1) < 1 << 127);
        vm.store(address(escrow), keccak256(abi.encode(who, ACCOUNTS_SLOT)), bytes32(word));
        ref.setAccount(who, word);
    }

    function _setRelayerId(address who, uint32 id) internal {
        vm.store(address(escrow), keccak256(abi.encode(who, RELAYER_IDS_SLOT)), bytes32(uint256(id)));
        ref.setRelayerId(who, id);
    }

    /// @dev Nonzero iff the two sides' words for channel `id` differ.
    function _wordDiff(bytes32 id) internal view returns (uint256) {
        return uint256(vm.load(address(escrow), id)) ^ ref.channelWord(id);
    }

    /// @dev Nonzero iff the two sides' account words for `who` differ.
    function _accountDiff(address who) internal view returns (uint256) {
        return uint256(vm.load(address(escrow), keccak256(abi.encode(who, ACCOUNTS_SLOT)))) ^ ref.accountWord(who);
    }
}
