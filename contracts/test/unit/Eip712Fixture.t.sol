// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";
import {Test} from "forge-std/Test.sol";

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentHash} from "../../src/libraries/PaymentHash.sol";
import {Eip712FixtureInputs} from "../utils/Eip712FixtureInputs.sol";

/// @notice Pins the contracts' EIP-712 definition to test/fixtures/eip712.json, which the Rust side checks
/// too. A failure here means a type changed: regenerate with `make eip712-fixture` and update Rust.
contract Eip712FixtureTest is Test, Eip712FixtureInputs {
    string internal json;
    IChannelEscrow internal escrow;

    function setUp() external {
        json = vm.readFile(FIXTURE_PATH);
        escrow = _deployFixtureEscrow();
    }

    function test_fixture_domain() external view {
        assertEq(vm.parseJsonString(json, ".domainName"), PaymentHash.DOMAIN_NAME);
        assertEq(vm.parseJsonString(json, ".domainVersion"), PaymentHash.DOMAIN_VERSION);
        assertEq(vm.parseJsonUint(json, ".chainId"), block.chainid);
        assertEq(vm.parseJsonAddress(json, ".verifyingContract"), address(escrow));
        assertEq(vm.parseJsonBytes32(json, ".domainSeparator"), escrow.DOMAIN_SEPARATOR());
        (, string memory name, string memory version, uint256 chainId, address verifyingContract,,) =
            IERC5267(address(escrow)).eip712Domain();
        assertEq(name, PaymentHash.DOMAIN_NAME);
        assertEq(version, PaymentHash.DOMAIN_VERSION);
        assertEq(chainId, FIXTURE_CHAIN_ID);
        assertEq(verifyingContract, FIXTURE_ESCROW);
    }

    function test_fixture_keysAndChannelId() external view {
        address payer = vm.parseJsonAddress(json, ".payer");
        address payee = vm.parseJsonAddress(json, ".payee");
        assertEq(payer, vm.addr(uint256(vm.parseJsonBytes32(json, ".payerKey"))));
        assertEq(payee, vm.addr(uint256(vm.parseJsonBytes32(json, ".payeeKey"))));
        assertEq(vm.parseJsonBytes32(json, ".channelId"), escrow.channelId(payer, payee, SALT));
    }

    function test_fixture_messages() external {
        FixtureMessage[] memory messages = _messages(escrow);
        for (uint256 i; i < messages.length; ++i) {
            FixtureMessage memory m = messages[i];
            string memory at = string.concat(".", m.name);
            assertEq(vm.parseJsonString(json, string.concat(at, ".type")), string(m.typeString), m.name);
            assertEq(vm.parseJsonBytes32(json, string.concat(at, ".typehash")), keccak256(m.typeString), m.name);
            assertEq(vm.parseJsonBytes(json, string.concat(at, ".encodedData")), m.encodedData, m.name);
            assertEq(
                vm.parseJsonBytes32(json, string.concat(at, ".structHash")),
                keccak256(bytes.concat(keccak256(m.typeString), m.encodedData)),
                m.name
            );
            assertEq(vm.parseJsonBytes32(json, string.concat(at, ".structHash")), m.structHash, m.name);
            assertEq(vm.parseJsonBytes32(json, string.concat(at, ".digest")), m.digest, m.name);
            assertEq(vm.parseJsonAddress(json, string.concat(at, ".signer")), m.signer, m.name);
            assertEq(vm.parseJsonBytes32(json, string.concat(at, ".r")), m.sig.r, m.name);
            assertEq(vm.parseJsonBytes32(json, string.concat(at, ".vs")), m.sig.vs, m.name);
            bytes32 s = bytes32(uint256(m.sig.vs) & ((1 << 255) - 1));
            uint8 v = uint8(uint256(m.sig.vs) >> 255) + 27;
            assertEq(ecrecover(m.digest, v, m.sig.r, s), m.signer, m.name);
        }
    }

    /// @dev PaymentHash's typehashes are literals (so that they are not hashed at run time): each must be
    /// keccak256 of its type string.
    function test_typehashLiteralsMatchTypeStrings() external pure {
        assertEq(PaymentHash.RECEIPT_TYPEHASH, keccak256(PaymentHash.RECEIPT_TYPE));
        assertEq(PaymentHash.OPEN_CHANNEL_TYPEHASH, keccak256(PaymentHash.OPEN_CHANNEL_TYPE));
        assertEq(PaymentHash.TOP_UP_TYPEHASH, keccak256(PaymentHash.TOP_UP_TYPE));
        assertEq(PaymentHash.REQUEST_CLOSE_TYPEHASH, keccak256(PaymentHash.REQUEST_CLOSE_TYPE));
        assertEq(PaymentHash.WITHDRAWAL_TYPEHASH, keccak256(PaymentHash.WITHDRAWAL_TYPE));
        assertEq(PaymentHash.SETTLE_FEE_CAP_TYPEHASH, keccak256(PaymentHash.SETTLE_FEE_CAP_TYPE));
        assertEq(PaymentHash.COOPERATIVE_CLOSE_TYPEHASH, keccak256(PaymentHash.COOPERATIVE_CLOSE_TYPE));
    }

    /// @dev The settlement hot path hashes receipts in assembly: the fixture's receipt signature must
    /// settle through it, proving the assembly encoding equals PaymentHash's.
    function test_fixture_receiptSettlesThroughAssemblyPath() external {
        address payee = vm.parseJsonAddress(json, ".payee");
        // Give the channel a deposit by writing its storage word directly (the fixture token is not a
        // real contract): deposit 2e18, state Open (the top byte). The word lives at slot `id` (ChannelPacking).
        bytes32 id = vm.parseJsonBytes32(json, ".channelId");
        vm.store(address(escrow), id, bytes32(uint256(2e18) | (uint256(1) << 248)));
        assertEq(uint8(escrow.channel(id).state), uint8(IChannelEscrow.ChannelState.Open), "storage layout changed");

        bytes memory batch = abi.encodePacked(
            payee,
            uint16(0),
            uint16(1),
            SALT,
            uint96(1_500_000_000_000_000_000),
            vm.parseJsonBytes32(json, ".receipt.r"),
            vm.parseJsonBytes32(json, ".receipt.vs")
        );
        bytes memory outcomes = escrow.settleBatch(batch);
        assertEq(uint8(outcomes[0]), uint8(IChannelEscrow.SettleOutcome.Settled));
        assertEq(escrow.channel(id).settled, 1_500_000_000_000_000_000);
        assertEq(escrow.balanceOf(payee), 1_500_000_000_000_000_000);
    }
}
