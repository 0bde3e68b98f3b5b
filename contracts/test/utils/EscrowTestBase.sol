// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";

import {PieceToken} from "../../src/PieceToken.sol";
import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {deployEscrow} from "./DeployEscrow.sol";
import {PaymentSigner} from "./PaymentSigner.sol";

/// @notice Shared set-up for escrow tests: a token, an escrow, and named actors with keys.
abstract contract EscrowTestBase is Test {
    using PaymentSigner for IChannelEscrow;

    uint40 internal constant CHALLENGE_PERIOD = 1 hours;
    uint256 internal constant INITIAL_FUNDS = 1000e18;

    PieceToken internal token;
    IChannelEscrow internal escrow;

    address internal payer;
    uint256 internal payerKey;
    address internal payee;
    uint256 internal payeeKey;
    address internal relayer = makeAddr("relayer");
    address internal stranger;
    uint256 internal strangerKey;

    function setUp() public virtual {
        (payer, payerKey) = makeAddrAndKey("payer");
        (payee, payeeKey) = makeAddrAndKey("payee");
        (stranger, strangerKey) = makeAddrAndKey("stranger");
        token = new PieceToken("Piece", "PIECE", address(this), 1e30);
        escrow = deployEscrow(address(token), CHALLENGE_PERIOD);
        token.approve(address(escrow), type(uint256).max);
        token.transfer(payer, INITIAL_FUNDS);
        token.transfer(payee, INITIAL_FUNDS);
        vm.prank(payer);
        token.approve(address(escrow), type(uint256).max);
        vm.prank(payee);
        token.approve(address(escrow), type(uint256).max);
    }

    /// @dev Credits `amount` to `account`'s free balance from this test contract's tokens.
    function _fund(address account, uint256 amount) internal {
        escrow.deposit(account, amount);
    }

    /// @dev Funds the payer and opens payer→payee with `deposit`; returns the channel id.
    function _openChannel(uint32 salt, uint96 deposit) internal returns (bytes32 id) {
        return _openChannelTo(payee, salt, deposit);
    }

    /// @dev Funds the payer and opens payer→`to` with `deposit`; returns the channel id.
    function _openChannelTo(address to, uint32 salt, uint96 deposit) internal returns (bytes32 id) {
        _fund(payer, deposit);
        vm.prank(payer);
        id = escrow.openChannel(to, salt, deposit);
    }

    /// @dev Funds the payer and adds `amount` to payer→payee channel `salt`.
    function _topUp(uint32 salt, uint96 amount) internal {
        _fund(payer, amount);
        vm.prank(payer);
        escrow.topUp(payee, salt, amount);
    }

    /// @dev The payer asks to close payer→payee channel `salt`; returns when its challenge window ends.
    function _requestClose(uint32 salt) internal returns (uint40 closesAt) {
        vm.prank(payer);
        escrow.requestClose(payee, salt);
        closesAt = uint40(block.timestamp) + CHALLENGE_PERIOD;
    }

    /// @dev The payer asks to close payer→payee channel `salt`, then time moves past its challenge window.
    function _requestCloseAndLetExpire(uint32 salt) internal {
        vm.warp(_requestClose(salt) + 1);
    }

    /// @dev The payee closes payer→payee channel `salt` at once.
    function _closeByPayee(uint32 salt) internal {
        vm.prank(payee);
        escrow.closeByPayee(payer, salt);
    }

    /// @dev Terms for closing payer→payee channel `salt` by agreement (any submitter, nonce 0, an hour to run).
    function _cooperativeCloseAuth(uint32 salt, uint96 cumulative, uint96 fee)
        internal
        view
        returns (IChannelEscrow.CooperativeCloseAuth memory)
    {
        return IChannelEscrow.CooperativeCloseAuth(payer, payee, salt, cumulative, fee, address(0), 0, _deadline());
    }

    /// @dev The payer's and the payee's signatures of cooperative-close terms `a`, for escrow `e`.
    function _cooperativeCloseSigs(IChannelEscrow e, IChannelEscrow.CooperativeCloseAuth memory a)
        internal
        view
        returns (IChannelEscrow.CompactSignature memory payerSig, IChannelEscrow.CompactSignature memory payeeSig)
    {
        payerSig = e.signCooperativeClose(payerKey, a);
        payeeSig = e.signCooperativeClose(payeeKey, a);
    }

    /// @dev Settles one payer→payee receipt as the relayer and returns its outcome.
    function _settle(uint32 salt, uint96 cumulative) internal returns (IChannelEscrow.SettleOutcome) {
        bytes memory batch = escrow.singleReceiptBatch(payerKey, payee, salt, cumulative, 0);
        vm.prank(relayer);
        bytes memory outcomes = escrow.settleBatch(batch);
        return IChannelEscrow.SettleOutcome(uint8(outcomes[0]));
    }

    /// @dev The settlement fee cap `account` set, in basis points.
    function _capOf(address account) internal view returns (uint16 bps) {
        (bps,) = escrow.settleFeeCapOf(account);
    }

    function _deadline() internal view returns (uint40) {
        return uint40(block.timestamp + 1 hours);
    }

    function _noSig() internal pure returns (IChannelEscrow.CompactSignature memory) {
        return IChannelEscrow.CompactSignature(0, 0);
    }
}
