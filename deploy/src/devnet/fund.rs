//! Token funding of devnet accounts: a transfer from the holder, and optionally an escrow deposit.

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, B256, U256},
    providers::DynProvider,
    rpc::types::TransactionRequest,
};
use piecepay_protocol::{
    alloy_sol_types::SolCall,
    bindings::{ChannelEscrow, PieceToken},
};

use crate::{Result, chain, chain::TxOptions, signer::from_bytes};

/// Sends `amount` of `token` from the account behind `holder` to `to`.
pub async fn transfer(
    holder: &DynProvider,
    token: Address,
    to: Address,
    amount: U256,
    options: TxOptions,
) -> Result<()> {
    let call = PieceToken::transferCall { to, value: amount };
    let tx = TransactionRequest::default()
        .with_to(token)
        .with_input(call.abi_encode());
    chain::send(holder, tx, &format!("transfer to {to}"), options).await?;
    Ok(())
}

/// Has the account of `key` approve and deposit `amount` of `token` into its own free balance in `escrow`.
pub async fn deposit(
    rpc_url: &str,
    key: &B256,
    token: Address,
    escrow: Address,
    amount: U256,
    options: TxOptions,
) -> Result<()> {
    let signer = from_bytes(key)?;
    let account = signer.address();
    let provider = chain::connect_signer(rpc_url, signer).await?;
    let approve = PieceToken::approveCall {
        spender: escrow,
        value: amount,
    };
    let tx = TransactionRequest::default()
        .with_to(token)
        .with_input(approve.abi_encode());
    chain::send(&provider, tx, &format!("approve by {account}"), options).await?;
    let deposit = ChannelEscrow::depositCall { account, amount };
    let tx = TransactionRequest::default()
        .with_to(escrow)
        .with_input(deposit.abi_encode());
    chain::send(&provider, tx, &format!("deposit by {account}"), options).await?;
    Ok(())
}
