// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Script} from "forge-std/Script.sol";

import {PieceToken} from "../src/PieceToken.sol";
import {IChannelEscrow} from "../src/interfaces/IChannelEscrow.sol";
import {deployEscrow} from "../test/utils/DeployEscrow.sol";
import {PaymentSigner} from "../test/utils/PaymentSigner.sol";

/// @notice Funds many escrow accounts in one transaction, so the benchmark's setup stays short.
contract BatchDepositor {
    function depositAll(PieceToken token, IChannelEscrow escrow, address[] calldata accounts, uint256 amount) external {
        token.transferFrom(msg.sender, address(this), amount * accounts.length);
        token.approve(address(escrow), amount * accounts.length);
        for (uint256 i; i < accounts.length; ++i) {
            escrow.deposit(accounts[i], amount);
        }
    }
}

/// @notice Gas benchmark, broadcast to a local anvil by `make bench-gas`. It performs the measured
/// transactions in steady state; tools/gas-report.py reads their receipts (gasUsed: what the transaction
/// really paid, base cost and calldata included) and prints the benchmark lines.
/// Measured, in this order: per size N in (1, 10, 50, 200) a warm-up settleBatch then the measured
/// settleBatch of N receipts; openChannelsBySig of 100 channels; cooperativeClose; depositWithPermit; withdraw;
/// fundChannelsWithPermit twice (a new payer's first channel from wallet tokens, then adding to it).
contract GasBench is Script {
    using PaymentSigner for IChannelEscrow;

    uint256 internal constant FUNDS = 1000e18;
    uint96 internal constant CHANNEL_DEPOSIT = 100e18;
    uint16 internal constant FEE_BPS = 25;

    PieceToken internal token;
    IChannelEscrow internal escrow;
    BatchDepositor internal depositor;
    uint40 internal deadline;
    address internal relayer;

    function run() external {
        uint256 relayerKey = vm.envUint("PRIVATE_KEY");
        relayer = vm.addr(relayerKey);
        deadline = uint40(block.timestamp + 1 days);

        vm.startBroadcast(relayerKey);
        token = new PieceToken("Piece", "PIECE", relayer, 1e30);
        escrow = deployEscrow(address(token), 1 hours);
        depositor = new BatchDepositor();
        token.approve(address(depositor), type(uint256).max);
        token.approve(address(escrow), type(uint256).max);
        // The relayer already holds an escrow balance (steady state for fee credits).
        escrow.deposit(relayer, 1e18);

        uint256[4] memory sizes = [uint256(1), 10, 50, 200];
        for (uint256 i; i < sizes.length; ++i) {
            _benchSettle(sizes[i], 1000 * (i + 1));
        }
        _benchOpen();
        _benchCooperativeClose();
        _benchDepositWithPermit();
        escrow.withdraw(relayer, 1e18);
        uint256 onboardKey = _keys("onboard", 1, 1)[0];
        token.transfer(vm.addr(onboardKey), 100e18);
        payable(vm.addr(onboardKey)).transfer(1 ether);
        vm.stopBroadcast();
        _benchOnboarding(onboardKey);
    }

    /// @dev N channels of N distinct payers to N/10 payees (at least 1), all opened and settled once
    /// before the measured batch, so every slot touched already holds a non-zero value.
    function _benchSettle(uint256 n, uint256 keyBase) internal {
        uint256 payees = n < 10 ? 1 : n / 10;
        uint256[] memory payerKeys = _keys("payer", keyBase, n);
        uint256[] memory payeeKeys = _keys("payee", keyBase, payees);
        _fund(payerKeys);
        _setFeeCaps(payeeKeys);

        IChannelEscrow.OpenAuth[] memory opens = new IChannelEscrow.OpenAuth[](n);
        for (uint256 i; i < n; ++i) {
            opens[i] = escrow.signOpen(
                payerKeys[i],
                IChannelEscrow.OpenAuth({
                    payer: vm.addr(payerKeys[i]),
                    payee: vm.addr(payeeKeys[i % payees]),
                    salt: 1,
                    deposit: CHANNEL_DEPOSIT,
                    fee: 0,
                    relayer: address(0),
                    channelNonce: 0,
                    deadline: deadline,
                    sig: IChannelEscrow.CompactSignature(0, 0)
                })
            );
        }
        escrow.openChannelsBySig(opens);
        escrow.settleBatch(_batch(payerKeys, payeeKeys, 1e18));
        escrow.settleBatch(_batch(payerKeys, payeeKeys, 2e18));
    }

    /// @dev Receipts grouped by payee: payer i pays payee i % payees.
    function _batch(uint256[] memory payerKeys, uint256[] memory payeeKeys, uint96 cumulative)
        internal
        view
        returns (bytes memory batch)
    {
        uint256 payees = payeeKeys.length;
        for (uint256 p; p < payees; ++p) {
            address payee = vm.addr(payeeKeys[p]);
            uint16 count = uint16((payerKeys.length - p + payees - 1) / payees);
            batch = bytes.concat(batch, PaymentSigner.groupHeader(payee, FEE_BPS, count));
            for (uint256 i = p; i < payerKeys.length; i += payees) {
                IChannelEscrow.CompactSignature memory sig = escrow.signReceipt(payerKeys[i], payee, 1, cumulative);
                batch = bytes.concat(batch, PaymentSigner.packReceipt(1, cumulative, sig));
            }
        }
    }

    /// @dev 20 payers each open 5 channels to 5 of 25 seeders: a leecher joining a swarm, through its
    /// relayer (named in each signed open, as the SDK does).
    function _benchOpen() internal {
        uint256[] memory payerKeys = _keys("opener", 1, 20);
        uint256[] memory seederKeys = _keys("seeder", 1, 25);
        _fund(payerKeys);
        IChannelEscrow.OpenAuth[] memory opens = new IChannelEscrow.OpenAuth[](100);
        for (uint256 i; i < 100; ++i) {
            uint256 payer = i / 5;
            opens[i] = escrow.signOpen(
                payerKeys[payer],
                IChannelEscrow.OpenAuth({
                    payer: vm.addr(payerKeys[payer]),
                    payee: vm.addr(seederKeys[(payer + i) % 25]),
                    salt: 7,
                    deposit: 10e18,
                    fee: 1e15,
                    relayer: relayer,
                    channelNonce: 0,
                    deadline: deadline,
                    sig: IChannelEscrow.CompactSignature(0, 0)
                })
            );
        }
        escrow.openChannelsBySig(opens);
    }

    /// @dev Closes one of the 200-batch channels (settled at 2e18) at 3e18, both parties signing.
    function _benchCooperativeClose() internal {
        uint256 payerKey = _keys("payer", 4000, 1)[0];
        uint256 payeeKey = _keys("payee", 4000, 1)[0];
        IChannelEscrow.CooperativeCloseAuth memory auth = IChannelEscrow.CooperativeCloseAuth({
            payer: vm.addr(payerKey),
            payee: vm.addr(payeeKey),
            salt: 1,
            cumulative: 3e18,
            fee: 0,
            relayer: address(0),
            channelNonce: 0,
            deadline: deadline
        });
        escrow.cooperativeClose(
            auth, escrow.signCooperativeClose(payerKey, auth), escrow.signCooperativeClose(payeeKey, auth)
        );
    }

    /// @dev A payer that already has an escrow balance deposits more with a permit, submitted by the relayer.
    function _benchDepositWithPermit() internal {
        uint256 ownerKey = _keys("payer", 4000, 2)[1];
        address owner = vm.addr(ownerKey);
        token.transfer(owner, 10e18);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(
            ownerKey,
            PaymentSigner.permitDigest(address(token), owner, address(escrow), 10e18, token.nonces(owner), deadline)
        );
        escrow.depositWithPermit(owner, 10e18, deadline, v, r, s); // the relayer submits; the owner pays no gas
    }

    /// @dev A new payer (wallet tokens, some ETH, no escrow account, never permitted) opens its first
    /// channel in one transaction, then adds to it with a second permit.
    function _benchOnboarding(uint256 payerKey) internal {
        address payee = vm.addr(_keys("seeder", 1, 1)[0]);
        IChannelEscrow.ChannelFunding[] memory channels = new IChannelEscrow.ChannelFunding[](1);
        channels[0] = IChannelEscrow.ChannelFunding({payee: payee, salt: 1, amount: 10e18});
        IChannelEscrow.CompactSignature memory sig =
            PaymentSigner.signPermit(address(token), payerKey, address(escrow), 10e18, 0, deadline);
        vm.startBroadcast(payerKey);
        escrow.fundChannelsWithPermit(10e18, deadline, sig, channels);
        channels[0].amount = 5e18;
        sig = PaymentSigner.signPermit(address(token), payerKey, address(escrow), 5e18, 1, deadline);
        escrow.fundChannelsWithPermit(5e18, deadline, sig, channels);
        vm.stopBroadcast();
    }

    function _fund(uint256[] memory keys) internal {
        address[] memory accounts = new address[](keys.length);
        for (uint256 i; i < keys.length; ++i) {
            accounts[i] = vm.addr(keys[i]);
        }
        depositor.depositAll(token, escrow, accounts, FUNDS);
    }

    function _setFeeCaps(uint256[] memory payeeKeys) internal {
        IChannelEscrow.SettleFeeCapAuth[] memory caps = new IChannelEscrow.SettleFeeCapAuth[](payeeKeys.length);
        for (uint256 i; i < payeeKeys.length; ++i) {
            caps[i] = escrow.signFeeCap(
                payeeKeys[i],
                IChannelEscrow.SettleFeeCapAuth({
                    payee: vm.addr(payeeKeys[i]),
                    bps: 100,
                    relayer: relayer,
                    nonce: 0,
                    deadline: deadline,
                    sig: IChannelEscrow.CompactSignature(0, 0)
                })
            );
        }
        escrow.setSettleFeeCapsBySig(caps);
    }

    function _keys(string memory role, uint256 base, uint256 n) internal pure returns (uint256[] memory keys) {
        keys = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            keys[i] = uint256(keccak256(abi.encode("piecepay.bench", role, base + i)));
        }
    }
}
