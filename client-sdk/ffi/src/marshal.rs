//! Conversions between the SDK's session values and the C structs: the whole of what the C ABI adds to
//! the sessions, which live in `piecepay_sdk::session`.

use piecepay_protocol::{
    SigningKey,
    alloy_primitives::{Address, B256},
    amount::from_u96,
};
use piecepay_sdk::{
    Channel, CreditWindow, Handled, Outcome, PayeePolicy, PayeeSessionConfig, PayerConfig,
    PayerSessionConfig, SignedReceipt,
    session::{CosignedClose, SessionInfo, SessionState},
};
use piecepay_wire::Message;

use crate::{
    PiecepayChannelInfo, PiecepayCooperativeClose, PiecepayOutcome, PiecepayPayeeConfig,
    PiecepayPayerConfig, PiecepayReceipt, PiecepayState, Result, bytes::PiecepayBytes,
    types::PiecepayMessageKind,
};

/// `message` encoded for C, failing on out-of-range values (the sessions never build one).
pub(crate) fn encode(message: &Message) -> Result<PiecepayBytes> {
    Ok(PiecepayBytes::from_vec(message.encode()?))
}

/// Copies `outcome` into `out` (zeroed by the caller), encoding its reply.
fn fill(out: &mut PiecepayOutcome, outcome: Outcome) -> Result<()> {
    out.actions = outcome.actions.bits();
    out.amount = outcome.amount.into();
    out.received = outcome
        .received
        .map_or(PiecepayMessageKind::None, PiecepayMessageKind::of_kind);
    if let Some(code) = &outcome.peer_code {
        out.set_peer_code(code.as_str());
    }
    if let Some(reply) = &outcome.reply {
        out.reply = encode(reply)?;
    }
    Ok(())
}

/// Fills `out` from what a session call returned; a refusal fills it too (its reply is the `error` for
/// the peer) and becomes the call's error.
pub(crate) fn handled(out: &mut PiecepayOutcome, result: Handled) -> Result<()> {
    match result {
        Ok(outcome) => fill(out, outcome),
        Err(refused) => {
            fill(out, refused.outcome)?;
            Err(refused.error.into())
        }
    }
}

/// A C payer configuration as the SDK's.
pub(crate) fn payer_config(config: &PiecepayPayerConfig) -> Result<PayerSessionConfig> {
    Ok(PayerSessionConfig {
        chain_id: config.chain_id,
        escrow: Address::from(config.escrow),
        token: Address::from(config.token),
        key: SigningKey::from_bytes(&B256::from(config.secret_key))?,
        salt: config.salt,
        max_price: config.max_price.into(),
        bid_step: config.bid_step.into(),
        budget: config.budget.into(),
        channel: PayerConfig {
            auth_ttl: config.auth_ttl,
            ..PayerConfig::default()
        },
    })
}

/// A C payee configuration as the SDK's.
pub(crate) fn payee_config(config: &PiecepayPayeeConfig) -> Result<PayeeSessionConfig> {
    Ok(PayeeSessionConfig {
        chain_id: config.chain_id,
        escrow: Address::from(config.escrow),
        token: Address::from(config.token),
        key: SigningKey::from_bytes(&B256::from(config.secret_key))?,
        policy: PayeePolicy {
            min_price: config.min_price.into(),
            credit: CreditWindow::Pieces(config.credit_pieces),
        },
    })
}

/// A signed receipt of `channel` as the C struct.
pub(crate) fn receipt(channel: &Channel, receipt: &SignedReceipt) -> PiecepayReceipt {
    PiecepayReceipt {
        channel_id: channel.id().0,
        payer: channel.payer().0.0,
        payee: channel.payee().0.0,
        salt: channel.salt(),
        cumulative: receipt.cumulative().into(),
        signature: receipt.signature.to_bytes(),
    }
}

/// A cooperative close with both signatures as the C struct.
pub(crate) fn close(close: &CosignedClose) -> PiecepayCooperativeClose {
    let message = &close.message;
    PiecepayCooperativeClose {
        payer: message.payer.0.0,
        payee: message.payee.0.0,
        salt: message.salt,
        cumulative: from_u96(message.cumulative).into(),
        fee: from_u96(message.fee).into(),
        relayer: message.relayer.0.0,
        channel_nonce: message.channelNonce,
        deadline: message.deadline.to::<u64>(),
        payer_signature: close.payer_signature.to_bytes(),
        payee_signature: close.payee_signature.to_bytes(),
    }
}

/// A session snapshot as the C struct.
pub(crate) fn info(info: &SessionInfo) -> PiecepayChannelInfo {
    PiecepayChannelInfo {
        state: match info.state {
            SessionState::Negotiating => PiecepayState::Negotiating,
            SessionState::Proposed => PiecepayState::Proposed,
            SessionState::Opening => PiecepayState::Opening,
            SessionState::Open => PiecepayState::Open,
            SessionState::Closing => PiecepayState::Closing,
            SessionState::Closed => PiecepayState::Closed,
        },
        channel_id: info.channel_id.0,
        price: info.price.into(),
        deposit: info.deposit.into(),
        paid: info.paid.into(),
        acknowledged: info.acknowledged.into(),
        served: info.served.into(),
        pieces: info.pieces,
    }
}
