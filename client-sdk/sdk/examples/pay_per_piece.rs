//! A payer and a payee in one process: open a channel on a deployed escrow, pay a few pieces with
//! signed receipts, and close cooperatively. See `docs/sdk.md` for running it against a local anvil.
//!
//! ```sh
//! RPC_URL=http://127.0.0.1:8545 ESCROW=0x… PAYER_KEY=0x… PAYEE_KEY=0x… \
//!   cargo run -p piecepay-sdk --example pay_per_piece
//! ```
//!
//! The payer's account must hold tokens of the escrow's token and both accounts ETH for gas. Both sides
//! persist in a SQLite store in a temp dir, in the order the SDK requires: the payer reserves each
//! receipt before it "leaves", the payee saves each receipt before it "acknowledges" it.

use std::{error::Error, str::FromStr};

use piecepay_sdk::{
    Amount, Channel, CreditWindow, PayeeChannel, PayerChannel, PayerConfig, Payment, Terms,
    chain::ChainClient,
    protocol::{
        SigningKey,
        alloy_primitives::{Address, B256},
    },
    store::{PayeeStore, PayerStore, SqliteStore, pay_durably},
};

const PRICE: Amount = 1_000;
const DEPOSIT: Amount = 50_000;
const PIECES: u32 = 5;

fn env(name: &str) -> Result<String, Box<dyn Error>> {
    std::env::var(name).map_err(|_| format!("set {name}").into())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let rpc_url = env("RPC_URL")?;
    let escrow = Address::from_str(&env("ESCROW")?)?;
    let payer_secret = B256::from_str(&env("PAYER_KEY")?)?;
    let payee_secret = B256::from_str(&env("PAYEE_KEY")?)?;
    let (payer_key, payee_key) = (
        SigningKey::from_bytes(&payer_secret)?,
        SigningKey::from_bytes(&payee_secret)?,
    );

    // Chain adapters: each party sends its own transactions.
    let payer_chain = ChainClient::connect(&rpc_url, &payer_secret, escrow).await?;
    let payee_chain = ChainClient::connect(&rpc_url, &payee_secret, escrow).await?;

    // Stores: here one file each in a temp dir (a real client keeps them).
    let dir = std::env::temp_dir().join(format!("piecepay-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let payer_store = SqliteStore::open(dir.join("payer.db")).await?;
    let payee_store = SqliteStore::open(dir.join("payee.db")).await?;

    // Both agree on the channel and its terms (off chain, e.g. in the wire handshake). A fresh salt per
    // run: a closed channel's id cannot be reopened.
    let now = payer_chain.block_timestamp().await?;
    let salt = now as u32;
    let channel = Channel::new(
        payer_chain.domain().clone(),
        payer_key.address(),
        payee_key.address(),
        salt,
    )?;
    let terms = Terms::new(PRICE, CreditWindow::Pieces(2))?;
    let mut payer = PayerChannel::new(
        payer_key.clone(),
        channel.clone(),
        terms,
        PayerConfig::default(),
        now,
    )?;
    let mut payee = PayeeChannel::new(channel.clone(), terms, now);
    payer_store.save_payer(&payer).await?;
    payee_store.save_payee(&payee).await?;

    // Payer: fund the escrow balance, open the channel on chain.
    payer_chain.deposit(DEPOSIT).await?;
    let _signed_open = payer.open(DEPOSIT, 0, now)?;
    payer_store.save_payer(&payer).await?;
    let opened = payer_chain
        .open_channel(payee_key.address(), salt, DEPOSIT)
        .await?;
    payer.on_opened(opened.deposit, now)?;
    payer_store.save_payer(&payer).await?;
    println!(
        "opened channel {} with {}",
        opened.channel_id, opened.deposit
    );

    // Payee: trust the chain, not the peer.
    let info = payee_chain.channel(channel.id()).await?;
    payee.on_channel_opened(info.deposit, now)?;
    payee_store.save_payee(&payee).await?;

    // Pay per piece.
    for piece in 1..=PIECES {
        let _ = payee.on_piece_served(now)?; // the payee served a piece
        // Payer: sign and durably reserve the receipt before it leaves.
        let Payment::Paid { receipt, .. } =
            pay_durably(&payer_store, &mut payer, PRICE, now).await?
        else {
            return Err("the deposit should cover every piece".into());
        };
        // … the receipt travels to the payee …
        // Payee: verify and accept, persist, then acknowledge.
        let accepted = payee.on_receipt(&receipt.message, &receipt.signature, now)?;
        payee_store
            .save_receipt_if_higher(&channel, accepted.cumulative, &receipt.signature)
            .await?;
        println!("piece {piece}: paid, cumulative {}", accepted.cumulative);
    }

    // Cooperative close: the payer signs, the payee co-signs, anyone submits (here the payee).
    let now = payer_chain.block_timestamp().await?;
    let close = payer.cooperative_close(0, now)?;
    payer_store.save_payer(&payer).await?;
    let co_signed = payee.cooperative_close(&close.message, &close.signature, &payee_key, now)?;
    payee_store.save_payee(&payee).await?;
    let closed = payee_chain
        .cooperative_close(&close.message, &close.signature, &co_signed.signature)
        .await?;
    payer.on_closed(closed.settled, now)?;
    payee.on_closed(closed.settled, now)?;
    payer_store.save_payer(&payer).await?;
    payee_store.save_payee(&payee).await?;
    println!(
        "closed: payee got {}, payer's free balance {}",
        closed.settled,
        payer_chain.balance_of(payer_key.address()).await?
    );

    payer_store.close().await;
    payee_store.close().await;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
