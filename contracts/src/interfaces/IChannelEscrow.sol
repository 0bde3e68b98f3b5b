// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IChannelEscrow
/// @notice Pay-per-piece payment channels over one ERC-20 token.
/// @dev Money flows: a payer deposits tokens into its free balance, opens channels payer→payee funded from
/// that balance, and pays with off-chain EIP-712 receipts carrying a cumulative amount. Settlement credits
/// the payee's free balance with `cumulative − settled`, never more than the channel deposit. Every
/// operation a peer needs can be authorised by signature and submitted — batched — by anyone (a relayer),
/// who may take a fee only within a limit the paying side signed (gasless operations) or set on chain
/// (settlement), and only if the paying side named it: a signed operation names the one relayer that may
/// submit it (or anyone, when zero), a payee's settlement fee cap names the one relayer that may take it.
/// The contract has no owner and no upgrade path: nobody but the parties moves user funds.
///
/// A channel is identified by `channelId = keccak256(abi.encode(payer, payee, salt))`; a channel id is
/// never reused (closed channels stay as tombstones), so an old receipt can never pay into a new channel.
interface IChannelEscrow {
    // ---------------------------------------------------------------------------------------------
    // Types
    // ---------------------------------------------------------------------------------------------

    /// @notice Lifecycle of a channel. `None` means the id was never opened.
    enum ChannelState {
        None,
        Open,
        Closing,
        Closed
    }

    /// @notice Channel as stored: one slot, `deposit | settled << 96 | closesAt << 192 | nonce << 232 |
    /// state << 248`.
    /// @param deposit Total tokens locked by the payer for this channel.
    /// @param settled Cumulative amount already credited to the payee (monotonic, ≤ deposit).
    /// @param closesAt While `Closing`: the end of the challenge window (unix seconds); 0 otherwise.
    /// @param nonce The channel nonce that signed opens, top-ups and cooperative closes of this channel
    /// must carry; advancing it (`advanceChannelNonce`) voids every one signed before. Kept in `None`
    /// state too, so an open can be voided before it lands.
    /// @param state Lifecycle state.
    struct Channel {
        uint96 deposit;
        uint96 settled;
        uint40 closesAt;
        uint16 nonce;
        ChannelState state;
    }

    /// @notice Why a receipt in a settlement batch was not settled (0 means it was).
    enum SettleOutcome {
        Settled,
        UnknownChannel,
        ChannelClosed,
        ChallengeExpired,
        Stale,
        MalleableSignature,
        FeeAboveCap
    }

    /// @notice An EIP-2098 compact signature (64 bytes): `vs` holds the parity bit on top of `s`.
    struct CompactSignature {
        bytes32 r;
        bytes32 vs;
    }

    // Every `…Auth` struct is laid out in calldata exactly as EIP-712 encodes its message (one word per
    // field, in the type string's order; see PaymentHash), after the signer it names. `relayer` is the
    // only account that may submit the operation, and so collect its `fee`; zero lets anyone submit.

    /// @notice Payer's authorisation to open a channel funded from its free balance. Replay-safe: a channel
    /// id opens once. `channelNonce` must be the channel's nonce (0 unless it was advanced).
    struct OpenAuth {
        address payer;
        address payee;
        uint32 salt;
        uint96 deposit;
        uint96 fee;
        address relayer;
        uint16 channelNonce;
        uint40 deadline;
        CompactSignature sig;
    }

    /// @notice Payer's authorisation to raise a channel's deposit to `deposit` (a new total, like a
    /// cumulative receipt): a replay finds the deposit already there and is rejected, fee included.
    struct TopUpAuth {
        address payer;
        address payee;
        uint32 salt;
        uint96 deposit;
        uint96 fee;
        address relayer;
        uint16 channelNonce;
        uint40 deadline;
        CompactSignature sig;
    }

    /// @notice Payer's authorisation to start the unilateral close of a channel. It carries no nonce: it
    /// is the payer's way out, and a nonce either party could advance would let the payee block it.
    struct CloseAuth {
        address payer;
        address payee;
        uint32 salt;
        uint96 fee;
        address relayer;
        uint40 deadline;
        CompactSignature sig;
    }

    /// @notice Account owner's authorisation to withdraw `amount` of its free balance to `to`.
    struct WithdrawAuth {
        address owner;
        address to;
        uint128 amount;
        uint128 fee;
        address relayer;
        uint64 nonce;
        uint40 deadline;
        CompactSignature sig;
    }

    /// @notice Payee's authorisation to set its settlement fee cap and the relayer that may take it (see
    /// `setSettleFeeCap`).
    struct SettleFeeCapAuth {
        address payee;
        uint16 bps;
        address relayer;
        uint64 nonce;
        uint40 deadline;
        CompactSignature sig;
    }

    /// @notice Terms of a cooperative close, signed by both payer and payee: the payee ends with
    /// `max(settled, cumulative)` (capped at the deposit), the payer gets the rest back and pays `fee`
    /// from its free balance to the submitter. Either party voids it by advancing the channel nonce.
    struct CooperativeCloseAuth {
        address payer;
        address payee;
        uint32 salt;
        uint96 cumulative;
        uint96 fee;
        address relayer;
        uint16 channelNonce;
        uint40 deadline;
    }

    /// @notice One channel of `fundChannelsWithPermit`: opened with `amount` if it was never opened, else
    /// (if open) topped up by `amount`.
    struct ChannelFunding {
        address payee;
        uint32 salt;
        uint96 amount;
    }

    // ---------------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------------

    /// @notice An amount that must be positive was zero.
    error ZeroAmount();
    /// @notice An address that must be set was zero.
    error ZeroAddress();
    /// @notice A channel's payer and payee must differ.
    error SelfChannel(address account);
    /// @notice `account`'s free balance `available` is below `required`.
    error InsufficientBalance(address account, uint256 available, uint256 required);
    /// @notice The escrow would hold more than 2^128−1 tokens, the bound that keeps balances in one slot.
    error HoldingsOverflow(uint256 holdings);
    /// @notice A channel deposit would exceed 2^96−1.
    error DepositOverflow(uint256 deposit);
    /// @notice The channel id is taken (open or closed); pick another salt.
    error ChannelExists(bytes32 channelId);
    /// @notice The channel is not in a state that allows this operation.
    error InvalidChannelState(bytes32 channelId, ChannelState state);
    /// @notice The challenge window of a closing channel has not ended yet.
    error ChallengePeriodActive(bytes32 channelId, uint40 closesAt);
    /// @notice A top-up must raise the deposit above `current`.
    error StaleTopUp(bytes32 channelId, uint96 current, uint96 requested);
    /// @notice A signed authorisation's deadline has passed.
    error SignatureExpired(uint256 deadline);
    /// @notice A signature recovered to `recovered` instead of `expected` (zero for a malformed signature).
    error InvalidSigner(address recovered, address expected);
    /// @notice A signed nonce is not the account's next nonce.
    error InvalidNonce(address account, uint64 expected, uint64 provided);
    /// @notice A settlement fee cap above 100% (10,000 bps).
    error FeeCapTooHigh(uint16 bps);
    /// @notice The challenge period given at construction is outside [1 s, 30 days].
    error InvalidChallengePeriod(uint256 period);
    /// @notice A settlement batch is not a whole number of well-formed groups.
    error MalformedBatch(uint256 offset);
    /// @notice A signed operation names `expected` as its only submitter; `caller` submitted it.
    error WrongRelayer(address expected, address caller);
    /// @notice A signed operation carries channel nonce `provided`; the channel's is `expected`.
    error InvalidChannelNonce(bytes32 channelId, uint16 expected, uint16 provided);
    /// @notice A channel's nonce cannot be advanced past 2^16 − 1.
    error ChannelNonceExhausted(bytes32 channelId);
    /// @notice Only a channel's payer or payee may advance its nonce.
    error NotChannelParty(bytes32 channelId, address caller);
    /// @notice Field `field` (0-based, in struct order) of a signed entry is not a canonical ABI word: bits
    /// set above its type's width. The entry is skipped; the rest of the batch goes on.
    error NonCanonicalField(uint256 field);
    /// @notice The escrow's own address as an account or recipient: tokens there could never leave.
    error EscrowAddress();
    /// @notice A token transfer into the escrow delivered `received` instead of `expected` (a token that
    /// takes a fee on transfer: use `deposit`, which credits what arrives).
    error TransferShortfall(uint256 expected, uint256 received);
    /// @notice All 2^32 − 1 relayer ids are taken.
    error RelayerIdsExhausted();

    // ---------------------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------------------

    /// @notice `amount` tokens from `from` were credited to `account`'s free balance.
    event Deposited(address indexed account, address indexed from, uint256 amount);
    /// @notice `amount` tokens left `account`'s free balance for `to`; `account` also paid `fee` to the submitter.
    event Withdrawn(address indexed account, address indexed to, uint256 amount, uint256 fee);
    /// @notice `relayer`'s free balance was credited `amount`: the sum of the fees named by the other
    /// events of this call (`fee` fields), paid for submitting them.
    event FeesCollected(address indexed relayer, uint256 amount);
    /// @notice `payee` allows `relayer` (only) up to `bps` of each settlement credited to it as a fee.
    event SettleFeeCapSet(address indexed payee, uint16 bps, address indexed relayer);
    /// @notice `account`'s next nonce is now `nonce`: a signed withdrawal or fee cap used the one before,
    /// or the account advanced it (`advanceNonce`). Every nonce change has exactly one such event.
    event NonceAdvanced(address indexed account, uint64 nonce);
    /// @notice The channel's nonce is now `nonce`: everything signed for it under an older one is void.
    event ChannelNonceAdvanced(bytes32 indexed channelId, uint16 nonce);
    /// @notice A channel was opened with `deposit` taken from the payer's free balance; the payer also
    /// paid `fee` to the submitter (0 when it opened the channel itself).
    event ChannelOpened(
        bytes32 indexed channelId, address indexed payer, address indexed payee, uint32 salt, uint96 deposit, uint96 fee
    );
    /// @notice A channel's deposit was raised to `deposit` (the new total); the payer paid `fee` to the submitter.
    event ChannelToppedUp(bytes32 indexed channelId, uint96 deposit, uint96 fee);
    /// @notice Receipts were settled, one event per `settleBatch` that settled any. `settlements` holds,
    /// per payee group that settled at least one receipt, a header `payee (20) ‖ credited (16) ‖ fee (16)
    /// ‖ count (2)` followed by `count` packed 36-byte entries `payer (20) ‖ salt (4) ‖ settled (12)`: the
    /// payee was credited `credited − fee`, `fee` went to the submitter, and each channel (payer, payee,
    /// salt) now has settled total `settled`; its id is `keccak256(abi.encode(payer, payee, salt))`.
    /// @dev One event per batch rather than per group or receipt (a log with its topics and ABI head costs
    /// ~2,300 gas, a group header here 432, an entry 288), and packed entries rather than ABI-encoded
    /// `(channelId, settled)` pairs (512 gas each): together what keeps settlement near the ECDSA floor.
    /// The trade: the payee is not an indexed topic, so a payee finds its settlements by reading every
    /// `ReceiptsSettled` of the escrow and walking the groups.
    event ReceiptsSettled(bytes settlements);
    /// @notice A receipt in a batch was not settled, for `outcome`. `channelId` is derived from the
    /// recovered signer, so for a bad signature it names no real channel.
    event ReceiptSkipped(bytes32 indexed channelId, SettleOutcome outcome);
    /// @notice A settlement group claimed a fee the caller may not take (above the payee's cap, or the
    /// caller is not the payee's fee relayer): its `receipts` receipts were skipped unread (`FeeAboveCap`).
    event GroupSkipped(address indexed payee, uint16 feeBps, uint16 receipts);
    /// @notice The payer started a unilateral close; receipts settle until `closesAt`. The payer paid `fee`
    /// to the submitter.
    event CloseRequested(bytes32 indexed channelId, uint40 closesAt, uint96 fee);
    /// @notice The channel closed with final settled total `settled`: the payer's free balance got
    /// `deposit − settled` back (the deposit is known from `ChannelOpened`/`ChannelToppedUp`), a cooperative
    /// close may have raised `settled` (crediting the payee the increase), and the payer paid `fee` to the
    /// submitter.
    event ChannelClosed(bytes32 indexed channelId, uint96 settled, uint96 fee);
    /// @notice Entry `index` of a gasless batch was not applied; `reason` is the ABI-encoded custom error
    /// that the single operation would have reverted with.
    event AuthorizationSkipped(uint256 indexed index, bytes reason);

    // ---------------------------------------------------------------------------------------------
    // Free balances
    // ---------------------------------------------------------------------------------------------

    /// @notice Pulls `amount` tokens from the caller and credits what arrived to `account`'s free balance.
    /// @dev Credits the balance increase actually observed, so fee-on-transfer tokens are accounted correctly.
    function deposit(address account, uint256 amount) external;

    /// @notice Gasless deposit: applies `owner`'s EIP-2612 permit for this escrow, then pulls `amount`
    /// from `owner` into `owner`'s own free balance. A permit already used (front-run) is tolerated as
    /// long as the allowance is there.
    function depositWithPermit(address owner, uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external;

    /// @notice Sends `amount` of the caller's free balance to `to`. Does not use the caller's nonce.
    function withdraw(address to, uint256 amount) external;

    /// @notice Applies signed withdrawals; fees go to the caller. Invalid entries are skipped with
    /// `AuthorizationSkipped`. @return failures Per entry: empty if applied, else the revert reason.
    function withdrawBySig(WithdrawAuth[] calldata auths) external returns (bytes[] memory failures);

    /// @notice Voids every withdrawal and fee cap the caller signed under its current nonce.
    function advanceNonce() external;

    // ---------------------------------------------------------------------------------------------
    // Channels
    // ---------------------------------------------------------------------------------------------

    /// @notice Opens the caller's channel to `payee`, locking `amount` from the caller's free balance.
    /// @return channelId The new channel's id.
    function openChannel(address payee, uint32 salt, uint96 amount) external returns (bytes32 channelId);

    /// @notice Opens channels from payer signatures (batched by a relayer); fees go to the caller.
    /// @return failures Per entry: empty if applied, else the ABI-encoded error (also emitted).
    function openChannelsBySig(OpenAuth[] calldata auths) external returns (bytes[] memory failures);

    /// @notice Opens (or tops up) the caller's channels from its wallet tokens in one transaction: applies
    /// the caller's EIP-2612 permit for this escrow (`value`, `deadline`, `sig` in compact form; a permit
    /// that fails, e.g. because it was front-run, is ignored and the allowance decides), pulls the sum of
    /// the amounts and puts each straight into its channel. Reverts if any channel cannot be funded.
    function fundChannelsWithPermit(
        uint256 value,
        uint256 deadline,
        CompactSignature calldata sig,
        ChannelFunding[] calldata channels
    ) external;

    /// @notice Adds `amount` from the caller's free balance to its open channel with `payee`.
    function topUp(address payee, uint32 salt, uint96 amount) external;

    /// @notice Raises deposits from payer signatures (new totals); fees go to the caller.
    /// @return failures Per entry: empty if applied, else the ABI-encoded error (also emitted).
    function topUpsBySig(TopUpAuth[] calldata auths) external returns (bytes[] memory failures);

    /// @notice Settles a packed batch of receipts. Never reverts for a bad entry: each is settled or skipped
    /// with `ReceiptSkipped`, so re-submitting a batch is harmless. Fees go to the caller.
    /// @dev Layout (big-endian, no padding), a sequence of groups, one per payee:
    /// `payee (20) ‖ feeBps (2) ‖ count (2) ‖ count × [salt (4) ‖ cumulative (12) ‖ r (32) ‖ vs (32)]`.
    /// `feeBps` is what the caller claims of the amount credited to that payee. A group whose fee the
    /// caller may not take (above the payee's cap, or the caller is not the relayer the payee named) is
    /// skipped whole before any of its receipts is read (`FeeAboveCap`, one `GroupSkipped` event); with
    /// `feeBps` 0 anyone may settle. What settled is logged once for the whole batch (`ReceiptsSettled`).
    /// @return outcomes One byte per receipt, a `SettleOutcome` (for pre-flight `eth_call`s).
    function settleBatch(bytes calldata batch) external returns (bytes memory outcomes);

    /// @notice Sets the largest share (basis points) of settlements credited to the caller that `relayer`
    /// — and no one else — may keep as a fee. Defaults to 0 and no relayer: nobody is paid to settle for
    /// you unless you say so; a zero `relayer` means no relayer may take a fee.
    function setSettleFeeCap(uint16 bps, address relayer) external;

    /// @notice Sets fee caps from payee signatures (gasless payees).
    /// @return failures Per entry: empty if applied, else the ABI-encoded error (also emitted).
    function setSettleFeeCapsBySig(SettleFeeCapAuth[] calldata auths) external returns (bytes[] memory failures);

    /// @notice Starts the unilateral close of the caller's channel to `payee`; receipts can still be
    /// settled during the challenge period, then anyone may `finalizeClose`.
    function requestClose(address payee, uint32 salt) external;

    /// @notice Starts unilateral closes from payer signatures; fees go to the caller.
    /// @return failures Per entry: empty if applied, else the ABI-encoded error (also emitted).
    function requestClosesBySig(CloseAuth[] calldata auths) external returns (bytes[] memory failures);

    /// @notice After the challenge period: refunds `deposit − settled` to the payer and closes. Anyone may call.
    function finalizeClose(address payer, address payee, uint32 salt) external;

    /// @notice The payee closes its channel at once (settle the last receipt first); the rest goes back to the payer.
    function closeByPayee(address payer, uint32 salt) external;

    /// @notice Voids every open, top-up and cooperative close signed for channel (payer, payee, salt)
    /// under its current nonce. Only the payer or the payee; on a channel never opened too (voiding a
    /// signed open), not on a closed one.
    function advanceChannelNonce(address payer, address payee, uint32 salt) external;

    /// @notice Closes a channel at once with both parties' signatures over `auth`; submitted by
    /// `auth.relayer`, or anyone if it is zero.
    function cooperativeClose(
        CooperativeCloseAuth calldata auth,
        CompactSignature calldata payerSig,
        CompactSignature calldata payeeSig
    ) external;

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @notice The ERC-20 token held in escrow.
    function TOKEN() external view returns (address);

    /// @notice Length of the unilateral-close challenge window, in seconds.
    function CHALLENGE_PERIOD() external view returns (uint40);

    /// @notice The EIP-712 domain separator (binds chain id and this contract).
    function DOMAIN_SEPARATOR() external view returns (bytes32);

    /// @notice Id of the channel `payer → payee` with `salt`.
    function channelId(address payer, address payee, uint32 salt) external pure returns (bytes32);

    /// @notice A channel's stored state.
    function channel(bytes32 channelId) external view returns (Channel memory);

    /// @notice `account`'s free balance.
    function balanceOf(address account) external view returns (uint256);

    /// @notice The next nonce `account` must sign (withdrawals, fee caps).
    function nonceOf(address account) external view returns (uint64);

    /// @notice The settlement fee cap `account` set as a payee, in basis points, and the one relayer that
    /// may take it (zero: none).
    function settleFeeCapOf(address account) external view returns (uint16 bps, address relayer);
}
