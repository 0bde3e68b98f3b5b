// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {CommonBase} from "forge-std/Base.sol";

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {PaymentHash} from "../../src/libraries/PaymentHash.sol";
import {deployEscrow} from "./DeployEscrow.sol";
import {PaymentHashHarness} from "./PaymentHashHarness.sol";
import {PaymentSigner} from "./PaymentSigner.sol";

/// @notice The fixed inputs of test/fixtures/eip712.json and the messages built from them, shared by the
/// script that writes the fixture and the test that checks it.
abstract contract Eip712FixtureInputs is CommonBase {
    using PaymentSigner for IChannelEscrow;

    string internal constant FIXTURE_PATH = "test/fixtures/eip712.json";
    uint256 internal constant FIXTURE_CHAIN_ID = 31_337;
    address internal constant FIXTURE_ESCROW = 0x1000000000000000000000000000000000000001;
    address internal constant FIXTURE_TOKEN = 0x2000000000000000000000000000000000000002;
    address internal constant FIXTURE_RELAYER = 0x3000000000000000000000000000000000000003;
    uint256 internal constant PAYER_KEY = 0x7061796572000000000000000000000000000000000000000000000000000001;
    uint256 internal constant PAYEE_KEY = 0x7061796565000000000000000000000000000000000000000000000000000002;
    uint32 internal constant SALT = 0xC0FFEE;
    uint40 internal constant DEADLINE = 1_900_000_000;

    struct FixtureMessage {
        string name;
        bytes typeString;
        bytes encodedData;
        bytes32 structHash;
        bytes32 digest;
        address signer;
        IChannelEscrow.CompactSignature sig;
    }

    /// @dev The escrow at a fixed address on chain 31337, so the domain separator is fixed too.
    function _deployFixtureEscrow() internal returns (IChannelEscrow escrow) {
        vm.chainId(FIXTURE_CHAIN_ID);
        vm.etch(FIXTURE_ESCROW, address(deployEscrow(FIXTURE_TOKEN, 1 hours)).code);
        escrow = IChannelEscrow(FIXTURE_ESCROW);
        // Immutables were baked into the copied code; the EIP-712 cache compares against the deploying
        // address, so the separator is recomputed for FIXTURE_ESCROW on every call — still the right value.
    }

    function _messages(IChannelEscrow escrow) internal returns (FixtureMessage[] memory m) {
        PaymentHashHarness h = new PaymentHashHarness();
        address payee = vm.addr(PAYEE_KEY);
        address payer = vm.addr(PAYER_KEY);
        IChannelEscrow.CompactSignature memory none;
        m = new FixtureMessage[](7);

        m[0] = _msg(
            escrow,
            "receipt",
            PaymentHash.RECEIPT_TYPE,
            abi.encode(payee, SALT, uint96(1_500_000_000_000_000_000)),
            h.receipt(payee, SALT, 1_500_000_000_000_000_000),
            PAYER_KEY
        );
        // Every message names a relayer and (where it has one) a nonzero channel nonce, so that the fixture
        // pins the encoding of both; the withdrawal names none (zero: anyone may submit).
        IChannelEscrow.OpenAuth memory open =
            IChannelEscrow.OpenAuth(payer, payee, SALT, 5e18, 1e15, FIXTURE_RELAYER, 3, DEADLINE, none);
        m[1] = _msg(
            escrow,
            "openChannel",
            PaymentHash.OPEN_CHANNEL_TYPE,
            abi.encode(payee, SALT, open.deposit, open.fee, FIXTURE_RELAYER, open.channelNonce, DEADLINE),
            h.openChannel(open),
            PAYER_KEY
        );
        IChannelEscrow.TopUpAuth memory topUp =
            IChannelEscrow.TopUpAuth(payer, payee, SALT, 8e18, 2e15, FIXTURE_RELAYER, 4, DEADLINE, none);
        m[2] = _msg(
            escrow,
            "topUp",
            PaymentHash.TOP_UP_TYPE,
            abi.encode(payee, SALT, topUp.deposit, topUp.fee, FIXTURE_RELAYER, topUp.channelNonce, DEADLINE),
            h.topUp(topUp),
            PAYER_KEY
        );
        IChannelEscrow.CloseAuth memory close =
            IChannelEscrow.CloseAuth(payer, payee, SALT, 3e15, FIXTURE_RELAYER, DEADLINE, none);
        m[3] = _msg(
            escrow,
            "requestClose",
            PaymentHash.REQUEST_CLOSE_TYPE,
            abi.encode(payee, SALT, close.fee, FIXTURE_RELAYER, DEADLINE),
            h.requestClose(close),
            PAYER_KEY
        );
        IChannelEscrow.WithdrawAuth memory withdrawal =
            IChannelEscrow.WithdrawAuth(payee, payer, 4e18, 4e15, address(0), 9, DEADLINE, none);
        m[4] = _msg(
            escrow,
            "withdrawal",
            PaymentHash.WITHDRAWAL_TYPE,
            abi.encode(payer, withdrawal.amount, withdrawal.fee, address(0), withdrawal.nonce, DEADLINE),
            h.withdrawal(withdrawal),
            PAYEE_KEY
        );
        IChannelEscrow.SettleFeeCapAuth memory cap =
            IChannelEscrow.SettleFeeCapAuth(payee, 125, FIXTURE_RELAYER, 3, DEADLINE, none);
        m[5] = _msg(
            escrow,
            "settleFeeCap",
            PaymentHash.SETTLE_FEE_CAP_TYPE,
            abi.encode(cap.bps, FIXTURE_RELAYER, cap.nonce, DEADLINE),
            h.settleFeeCap(cap),
            PAYEE_KEY
        );
        IChannelEscrow.CooperativeCloseAuth memory coop =
            IChannelEscrow.CooperativeCloseAuth(payer, payee, SALT, 2e18, 5e15, FIXTURE_RELAYER, 6, DEADLINE);
        m[6] = _msg(
            escrow,
            "cooperativeClose",
            PaymentHash.COOPERATIVE_CLOSE_TYPE,
            abi.encode(payer, payee, SALT, coop.cumulative, coop.fee, FIXTURE_RELAYER, coop.channelNonce, DEADLINE),
            h.cooperativeClose(coop),
            PAYER_KEY
        );
    }

    function _msg(
        IChannelEscrow escrow,
        string memory name,
        bytes memory typeString,
        bytes memory encodedData,
        bytes32 structHash,
        uint256 key
    ) private view returns (FixtureMessage memory m) {
        m.name = name;
        m.typeString = typeString;
        m.encodedData = encodedData;
        m.structHash = structHash;
        m.digest = escrow.digest(structHash);
        m.signer = vm.addr(key);
        m.sig = PaymentSigner.signDigest(key, m.digest);
    }
}
