//! Contract reverts as [`Error`]s with stable codes.
//!
//! The escrow's custom errors (and the token's, which bubble up through the escrow's transfers) are decoded
//! with the protocol crate's ABI types. Where the escrow refuses what the channel core also refuses, the
//! error is the core's (`ZeroAmount`, `StaleTopUp`, `SignatureExpired`, `WrongSigner`, …) so a caller
//! handles one code wherever the refusal comes from. Also used for the `reason` of `AuthorizationSkipped`,
//! which is the revert data the single operation would have produced.

use piecepay_protocol::{
    alloy_primitives::{Bytes, U256},
    alloy_sol_types::SolInterface,
    bindings::{
        ChannelEscrow::ChannelEscrowErrors as Escrow, PieceToken::PieceTokenErrors as Token,
    },
};

use crate::{Amount, Error};

/// The error a contract call reverted with, from its revert data.
///
/// Unknown data (a panic, a revert string, another contract's error, empty data) is
/// [`Error::Reverted`] with the raw bytes.
pub fn decode_revert(data: &[u8]) -> Error {
    if let Ok(error) = Escrow::abi_decode(data) {
        return escrow_error(error);
    }
    if let Ok(error) = Token::abi_decode(data)
        && let Some(mapped) = token_error(&error)
    {
        return mapped;
    }
    Error::Reverted {
        data: Bytes::copy_from_slice(data),
    }
}

/// The on-chain `ChannelState` byte as the name [`Error::InvalidChannelState`] reports.
pub const fn channel_state_name(state: u8) -> &'static str {
    match state {
        0 => "none",
        1 => "open",
        2 => "closing",
        3 => "closed",
        _ => "unknown",
    }
}

fn saturating_u64(value: U256) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

fn saturating_amount(value: U256) -> Amount {
    Amount::try_from(value).unwrap_or(Amount::MAX)
}

fn escrow_error(error: Escrow) -> Error {
    match error {
        Escrow::ZeroAmount(_) => Error::ZeroAmount,
        Escrow::ZeroAddress(_) => Error::InvalidChannel("zero address"),
        Escrow::SelfChannel(_) => Error::InvalidChannel("payer and payee are the same"),
        Escrow::InsufficientBalance(e) => Error::InsufficientBalance {
            account: e.account,
            available: e.available,
            required: e.required,
        },
        Escrow::HoldingsOverflow(e) => Error::HoldingsOverflow {
            holdings: e.holdings,
        },
        Escrow::DepositOverflow(e) => Error::AmountTooLarge {
            amount: saturating_amount(e.deposit),
        },
        Escrow::ChannelExists(e) => Error::ChannelExists {
            channel_id: e.channelId,
        },
        Escrow::InvalidChannelState(e) => Error::InvalidChannelState {
            channel_id: e.channelId,
            state: channel_state_name(e.state),
        },
        Escrow::ChallengePeriodActive(e) => Error::ChallengePeriodActive {
            closes_at: e.closesAt.to(),
        },
        Escrow::StaleTopUp(e) => Error::StaleTopUp {
            deposit: e.current.to(),
            requested: e.requested.to(),
        },
        Escrow::SignatureExpired(e) => Error::SignatureExpired {
            deadline: saturating_u64(e.deadline),
        },
        Escrow::InvalidSigner(e) => Error::WrongSigner {
            recovered: e.recovered,
            expected: e.expected,
        },
        Escrow::InvalidNonce(e) => Error::InvalidNonce {
            account: e.account,
            expected: e.expected,
            provided: e.provided,
        },
        Escrow::FeeCapTooHigh(e) => Error::FeeCapTooHigh { bps: e.bps },
        Escrow::InvalidChallengePeriod(e) => Error::InvalidChallengePeriod { period: e.period },
        Escrow::MalformedBatch(e) => Error::MalformedBatch { offset: e.offset },
        Escrow::SafeERC20FailedOperation(e) => Error::TokenTransferFailed { token: e.token },
        Escrow::WrongRelayer(e) => Error::WrongRelayer {
            expected: e.expected,
            caller: e.caller,
        },
        Escrow::InvalidChannelNonce(e) => Error::ChannelNonceMismatch {
            channel_id: e.channelId,
            expected: e.expected,
            provided: e.provided,
        },
        Escrow::EscrowAddress(_) => Error::InvalidChannel("the escrow's own address as an account"),
        // Reentrancy (impossible with a plain ERC-20), EIP-712 name errors (constructor only), and what
        // this SDK never sends (non-canonical words, a stranger advancing a channel nonce, exhausted
        // nonces and relayer ids, a fee-on-transfer shortfall): raw.
        other => Error::Reverted {
            data: other.abi_encode().into(),
        },
    }
}

fn token_error(error: &Token) -> Option<Error> {
    Some(match error {
        Token::ERC20InsufficientAllowance(e) => Error::InsufficientAllowance {
            spender: e.spender,
            allowance: e.allowance,
            needed: e.needed,
        },
        Token::ERC20InsufficientBalance(e) => Error::InsufficientTokens {
            account: e.sender,
            balance: e.balance,
            needed: e.needed,
        },
        Token::ERC2612ExpiredSignature(e) => Error::SignatureExpired {
            deadline: saturating_u64(e.deadline),
        },
        Token::ERC2612InvalidSigner(e) => Error::WrongSigner {
            recovered: e.signer,
            expected: e.owner,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use piecepay_protocol::{
        alloy_primitives::{Address, B256, aliases::U96},
        alloy_sol_types::SolError,
        bindings::{ChannelEscrow as E, PieceToken as T},
    };

    use super::*;

    #[test]
    fn escrow_errors_map_to_their_codes() {
        let a = Address::repeat_byte(1);
        let id = B256::repeat_byte(2);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (E::ZeroAmount {}.abi_encode(), "zero_amount"),
            (E::ZeroAddress {}.abi_encode(), "invalid_channel"),
            (
                E::SelfChannel { account: a }.abi_encode(),
                "invalid_channel",
            ),
            (
                E::InsufficientBalance {
                    account: a,
                    available: U256::from(1),
                    required: U256::from(2),
                }
                .abi_encode(),
                "insufficient_balance",
            ),
            (
                E::HoldingsOverflow {
                    holdings: U256::MAX,
                }
                .abi_encode(),
                "holdings_overflow",
            ),
            (
                E::DepositOverflow { deposit: U256::MAX }.abi_encode(),
                "amount_too_large",
            ),
            (
                E::ChannelExists { channelId: id }.abi_encode(),
                "channel_exists",
            ),
            (
                E::InvalidChannelState {
                    channelId: id,
                    state: 3,
                }
                .abi_encode(),
                "invalid_channel_state",
            ),
            (
                E::ChallengePeriodActive {
                    channelId: id,
                    closesAt: 9u64.try_into().unwrap(),
                }
                .abi_encode(),
                "challenge_period_active",
            ),
            (
                E::StaleTopUp {
                    channelId: id,
                    current: U96::from(5),
                    requested: U96::from(4),
                }
                .abi_encode(),
                "stale_top_up",
            ),
            (
                E::SignatureExpired {
                    deadline: U256::from(7),
                }
                .abi_encode(),
                "signature_expired",
            ),
            (
                E::InvalidSigner {
                    recovered: a,
                    expected: Address::ZERO,
                }
                .abi_encode(),
                "wrong_signer",
            ),
            (
                E::InvalidNonce {
                    account: a,
                    expected: 1,
                    provided: 0,
                }
                .abi_encode(),
                "invalid_nonce",
            ),
            (
                E::FeeCapTooHigh { bps: 10_001 }.abi_encode(),
                "fee_cap_too_high",
            ),
            (
                E::InvalidChallengePeriod { period: U256::ZERO }.abi_encode(),
                "invalid_challenge_period",
            ),
            (
                E::MalformedBatch {
                    offset: U256::from(24),
                }
                .abi_encode(),
                "malformed_batch",
            ),
            (
                E::SafeERC20FailedOperation { token: a }.abi_encode(),
                "token_transfer_failed",
            ),
            (E::ReentrancyGuardReentrantCall {}.abi_encode(), "reverted"),
            (
                T::ERC20InsufficientAllowance {
                    spender: a,
                    allowance: U256::ZERO,
                    needed: U256::from(1),
                }
                .abi_encode(),
                "insufficient_allowance",
            ),
            (
                T::ERC20InsufficientBalance {
                    sender: a,
                    balance: U256::ZERO,
                    needed: U256::from(1),
                }
                .abi_encode(),
                "insufficient_tokens",
            ),
            (
                T::ERC2612ExpiredSignature {
                    deadline: U256::from(1),
                }
                .abi_encode(),
                "signature_expired",
            ),
            (
                T::ERC2612InvalidSigner {
                    signer: a,
                    owner: Address::ZERO,
                }
                .abi_encode(),
                "wrong_signer",
            ),
            (
                T::ERC20InvalidReceiver { receiver: a }.abi_encode(),
                "reverted",
            ),
            (vec![], "reverted"),
            (vec![0xde, 0xad, 0xbe, 0xef], "reverted"),
        ];
        for (data, code) in cases {
            assert_eq!(decode_revert(&data).code(), code, "{data:02x?}");
        }
    }

    #[test]
    fn mapped_errors_keep_their_context() {
        let data = E::StaleTopUp {
            channelId: B256::ZERO,
            current: U96::from(5),
            requested: U96::from(4),
        }
        .abi_encode();
        assert_eq!(
            decode_revert(&data),
            Error::StaleTopUp {
                deposit: 5,
                requested: 4
            }
        );
        let data = E::InvalidChannelState {
            channelId: B256::repeat_byte(7),
            state: 2,
        }
        .abi_encode();
        assert_eq!(
            decode_revert(&data),
            Error::InvalidChannelState {
                channel_id: B256::repeat_byte(7),
                state: "closing"
            }
        );
        assert_eq!(
            decode_revert(&[1, 2]),
            Error::Reverted {
                data: Bytes::from_static(&[1, 2])
            }
        );
    }
}
