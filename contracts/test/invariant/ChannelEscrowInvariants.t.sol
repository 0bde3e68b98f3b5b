// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {StdInvariant} from "forge-std/StdInvariant.sol";

import {IChannelEscrow} from "../../src/interfaces/IChannelEscrow.sol";
import {EscrowTestBase} from "../utils/EscrowTestBase.sol";
import {EscrowHandler} from "./handlers/EscrowHandler.sol";

/// @notice Solvency and channel-lifecycle invariants of the escrow under random sequences of every
/// operation (see EscrowHandler), checked exactly against on-chain state and the handler's ghosts.
contract ChannelEscrowInvariants is EscrowTestBase {
    uint256 internal constant ACCOUNT_TOKENS = 1e27;
    /// @dev EscrowHandler.ACCOUNTS (array lengths need a literal-valued constant here).
    uint256 internal constant ACCOUNTS = 4;

    EscrowHandler internal handler;
    bytes32[] internal ids;
    address[] internal accounts;

    function setUp() public override {
        super.setUp();
        handler = new EscrowHandler(escrow, token);
        address[ACCOUNTS] memory list = handler.accounts();
        for (uint256 i; i < list.length; ++i) {
            accounts.push(list[i]);
            token.transfer(list[i], ACCOUNT_TOKENS);
        }
        handler.approveAll();
        ids = handler.channelIds();
        assertEq(handler.ACCOUNTS(), ACCOUNTS, "account count");

        bytes4[] memory selectors = new bytes4[](17);
        selectors[0] = EscrowHandler.deposit.selector;
        selectors[1] = EscrowHandler.withdraw.selector;
        selectors[2] = EscrowHandler.withdrawBySig.selector;
        selectors[3] = EscrowHandler.openChannel.selector;
        selectors[4] = EscrowHandler.openChannelsBySig.selector;
        selectors[5] = EscrowHandler.topUp.selector;
        selectors[6] = EscrowHandler.topUpsBySig.selector;
        selectors[7] = EscrowHandler.setSettleFeeCap.selector;
        selectors[8] = EscrowHandler.settleBatch.selector;
        selectors[9] = EscrowHandler.requestClose.selector;
        selectors[10] = EscrowHandler.warp.selector;
        selectors[11] = EscrowHandler.finalizeClose.selector;
        selectors[12] = EscrowHandler.closeByPayee.selector;
        selectors[13] = EscrowHandler.cooperativeClose.selector;
        selectors[14] = EscrowHandler.fundChannelsWithPermit.selector;
        selectors[15] = EscrowHandler.advanceNonce.selector;
        selectors[16] = EscrowHandler.advanceChannelNonce.selector;
        targetContract(address(handler));
        targetSelector(StdInvariant.FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// @dev Every property below, after every handler call. One invariant function on purpose: forge runs a
    /// separate campaign per `invariant_*` function, and under the profiles' fixed seed those campaigns replay
    /// the very same call sequences, so one function per property would multiply the run time (5× at the ci
    /// depth) without exploring anything new. Each check's messages start with its number.
    function invariant_escrowAccountingAndChannelLifecycle() external view {
        IChannelEscrow.Channel[] memory channels = new IChannelEscrow.Channel[](ids.length);
        for (uint256 i; i < ids.length; ++i) {
            channels[i] = escrow.channel(ids[i]);
        }
        _checkSolvency(channels);
        _checkSettledWithinDepositAndSigned(channels);
        _checkCloseRefunds();
        _checkChannelsOnlyMoveForward(channels);
        _checkModel(channels);
    }

    /// @dev 1. Solvency, exactly: the escrow holds every free balance plus what open and closing channels
    /// still lock (deposit − settled) — and that is exactly what flowed in minus what flowed out.
    function _checkSolvency(IChannelEscrow.Channel[] memory channels) internal view {
        uint256 free;
        for (uint256 i; i < accounts.length; ++i) {
            free += escrow.balanceOf(accounts[i]);
        }
        uint256 locked;
        for (uint256 i; i < channels.length; ++i) {
            IChannelEscrow.Channel memory c = channels[i];
            assertLe(c.settled, c.deposit, "1: settled above the deposit");
            if (c.state != IChannelEscrow.ChannelState.Closed) locked += c.deposit - c.settled;
        }
        uint256 held = token.balanceOf(address(escrow));
        assertEq(held, free + locked, "1: escrow tokens != free balances + unsettled deposits");
        assertEq(held, handler.ghostDeposited() - handler.ghostWithdrawn(), "1: escrow tokens != deposited - withdrawn");
    }

    /// @dev 2. No channel pays more than its deposit, nor more than its payer ever signed for.
    function _checkSettledWithinDepositAndSigned(IChannelEscrow.Channel[] memory channels) internal view {
        uint256[] memory maxSigned = handler.maxSignedAll();
        for (uint256 i; i < channels.length; ++i) {
            assertLe(channels[i].settled, channels[i].deposit, "2: settled above the deposit");
            assertLe(channels[i].settled, maxSigned[i], "2: settled above the highest signed cumulative");
        }
    }

    /// @dev 3. After a unilateral close (finalizeClose) or a payee close, the payer's free balance rose by
    /// exactly deposit − settled (recorded when it closed), which is still what the tombstone says.
    function _checkCloseRefunds() internal view {
        bytes32[] memory refunded = handler.refundedChannelIds();
        for (uint256 i; i < refunded.length; ++i) {
            bytes32 id = refunded[i];
            IChannelEscrow.Channel memory c = escrow.channel(id);
            assertEq(
                handler.ghostRefundReceived(id), handler.ghostRefundExpected(id), "3: payer refund != deposit - settled"
            );
            assertLe(c.settled, c.deposit, "3: settled above the deposit");
            assertEq(handler.ghostRefundExpected(id), c.deposit - c.settled, "3: tombstone disagrees with the refund");
        }
    }

    /// @dev 4. Channels only move forward: deposit and settled never fall and states never go back (checked by
    /// the handler after every step), and a closed channel is frozen as it was when it closed.
    function _checkChannelsOnlyMoveForward(IChannelEscrow.Channel[] memory channels) internal view {
        assertEq(handler.transitionViolations(), 0, string.concat("4: ", handler.firstViolation()));
        IChannelEscrow.Channel[] memory closedAs = handler.closedChannels();
        for (uint256 i; i < channels.length; ++i) {
            if (channels[i].state != IChannelEscrow.ChannelState.Closed) continue;
            assertEq(abi.encode(channels[i]), abi.encode(closedAs[i]), "4: closed channel changed");
        }
    }

    /// @dev 5. The escrow's whole state equals the handler's model, and every action had exactly the predicted
    /// outcome (success, refusal with the exact error, per-receipt settle outcomes).
    function _checkModel(IChannelEscrow.Channel[] memory channels) internal view {
        assertEq(handler.violations(), 0, string.concat("5: ", handler.firstViolation()));
        (
            IChannelEscrow.Channel[] memory modelled,
            uint256[ACCOUNTS] memory free,
            uint64[ACCOUNTS] memory nonces,
            uint16[ACCOUNTS] memory caps,
            address[ACCOUNTS] memory feeRelayers
        ) = handler.modelState();
        for (uint256 i; i < ACCOUNTS; ++i) {
            address a = accounts[i];
            assertEq(escrow.balanceOf(a), free[i], "5: free balance differs from the model");
            assertEq(escrow.nonceOf(a), nonces[i], "5: nonce differs from the model");
            (uint16 bps, address named) = escrow.settleFeeCapOf(a);
            assertEq(bps, caps[i], "5: fee cap differs from the model");
            assertEq(named, feeRelayers[i], "5: fee relayer differs from the model");
        }
        for (uint256 i; i < channels.length; ++i) {
            assertEq(abi.encode(channels[i]), abi.encode(modelled[i]), "5: channel differs from the model");
        }
    }

    /// @dev The run was not vacuous: every handler call was either applied or refused exactly as predicted,
    /// most were applied, and the actions that should move money did.
    function afterInvariant() external view {
        assertEq(handler.violations(), 0, handler.firstViolation());
        (uint256[17] memory calls, uint256[17] memory applied, uint256[17] memory rejected) = handler.callCounts();
        uint256 totalCalls;
        uint256 totalApplied;
        for (uint256 a; a < calls.length; ++a) {
            assertEq(calls[a], applied[a] + rejected[a], "a handler call was neither applied nor refused");
            totalCalls += calls[a];
            totalApplied += applied[a];
        }
        assertGe(totalApplied * 2, totalCalls, "most handler calls must be applied");
        if (
            calls[uint256(EscrowHandler.Action.OpenChannel)] + calls[uint256(EscrowHandler.Action.OpenChannelsBySig)]
                != 0
        ) {
            assertGt(handler.channelsOpened(), 0, "no channel opened");
        }
        if (calls[uint256(EscrowHandler.Action.SettleBatch)] != 0) {
            assertGt(handler.receiptsSettled(), 0, "no receipt settled");
        }
        if (calls[uint256(EscrowHandler.Action.FinalizeClose)] != 0) {
            assertGt(handler.unilateralCloses(), 0, "no unilateral close finalized");
        }
        if (calls[uint256(EscrowHandler.Action.CloseByPayee)] != 0) {
            assertGt(handler.channelsClosed(), 0, "no channel closed");
        }
    }
}
