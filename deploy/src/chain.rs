//! The JSON-RPC calls this crate makes: providers, typed `eth_call`s, transactions waited on to a receipt,
//! and the deploy command's own transactions — signed here, so that each can be recorded before it is
//! sent ([`sign`], [`broadcast`], [`confirmed`]).

use std::time::{Duration, Instant};

use alloy::{
    eips::{BlockNumberOrTag, Encodable2718},
    network::{Ethereum, EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::{Address, B256, Bytes, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::local::PrivateKeySigner,
};
use piecepay_protocol::alloy_sol_types::SolCall;
use serde::{Deserialize, Serialize};

use crate::{Error, Result, manifest::BlockRef};

/// How transactions are sent and waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxOptions {
    /// Blocks a transaction must be buried under before it counts (1 = mined).
    pub confirmations: u64,
    /// How long to wait for those confirmations.
    pub timeout: Duration,
    /// Send legacy (type 0) transactions priced at `eth_gasPrice`, for chains without EIP-1559. The
    /// deploy command and the devnet set it themselves when the chain has no base fee ([`base_fee`]).
    pub legacy: bool,
}

impl Default for TxOptions {
    fn default() -> Self {
        Self {
            confirmations: 1,
            timeout: Duration::from_secs(300),
            legacy: false,
        }
    }
}

/// A read-only provider for `rpc_url`.
pub async fn connect(rpc_url: &str) -> Result<DynProvider> {
    check_url(rpc_url)?;
    let provider = ProviderBuilder::new()
        .connect(rpc_url)
        .await
        .map_err(|e| Error::rpc_chain(format!("connecting to {rpc_url}"), &e))?;
    Ok(provider.erased())
}

/// A provider for `rpc_url` that signs and sends as `signer` (nonce, gas and fees filled in by alloy).
pub async fn connect_signer(rpc_url: &str, signer: PrivateKeySigner) -> Result<DynProvider> {
    check_url(rpc_url)?;
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect(rpc_url)
        .await
        .map_err(|e| Error::rpc_chain(format!("connecting to {rpc_url}"), &e))?;
    Ok(provider.erased())
}

fn check_url(rpc_url: &str) -> Result<()> {
    if !rpc_url.starts_with("https://") && !rpc_url.starts_with("http://") {
        return Err(Error::InvalidInput(format!(
            "RPC URL {rpc_url:?} must start with http:// or https:// (WebSocket endpoints are not supported)"
        )));
    }
    Ok(())
}

/// Creation code that uses what the current build needs beyond Berlin — PUSH0 (Shanghai), transient
/// storage (EIP-1153, `ReentrancyGuardTransient`) and MCOPY (EIP-5656) — and returns the word 1:
/// `tstore(0, 1); mstore(0, tload(0)); mcopy(32, 0, 32); return(32, 32)`.
const CANCUN_PROBE: [u8; 19] = [
    0x60, 0x01, 0x5f, 0x5d, 0x5f, 0x5c, 0x5f, 0x52, 0x60, 0x20, 0x5f, 0x60, 0x20, 0x5e, 0x60, 0x20,
    0x60, 0x20, 0xf3,
];

/// Creation code that uses only PUSH0 and returns the word 1: `mstore(push0, 1); return(push0, 32)`.
const PUSH0_PROBE: [u8; 8] = [0x60, 0x01, 0x5f, 0x52, 0x60, 0x20, 0x5f, 0xf3];

/// Creation code that uses the newest opcodes the legacy build needs — CHAINID (OpenZeppelin's EIP712
/// domain) and SELFBALANCE, both Istanbul's — and returns the chain id:
/// `pop(selfbalance()); mstore(0, chainid()); return(0, 32)`.
const ISTANBUL_PROBE: [u8; 11] = [
    0x47, 0x50, 0x46, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3,
];

/// What a chain's EVM runs, found by `eth_call`ing tiny creation codes, and whether it prices gas the
/// EIP-1559 way. A chain that lacks an opcode would take a deployment using it and then fail every call
/// that reaches it, so this is asked before anything is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainProbe {
    /// PUSH0, TSTORE/TLOAD and MCOPY all run: the current build can be deployed.
    pub cancun: bool,
    /// PUSH0 runs (Shanghai); for the report only, the builds need all of Cancun's or none.
    pub push0: bool,
    /// CHAINID and SELFBALANCE run (Istanbul): the legacy build can be deployed.
    pub istanbul: bool,
    /// The latest block's `baseFeePerGas`; `None` on a chain without EIP-1559 (before London), which
    /// takes only legacy (`gasPrice`) transactions.
    pub base_fee: Option<u64>,
}

impl ChainProbe {
    /// One line for the operator: what the chain has and lacks.
    pub fn describe(&self) -> String {
        let has = |yes: bool, what: &str| format!("{}{what}", if yes { "" } else { "no " });
        let fee = match self.base_fee {
            Some(fee) => format!("base fee {fee} wei (EIP-1559)"),
            None => "no base fee (no EIP-1559)".into(),
        };
        format!(
            "{}, {}, {}, {fee}",
            has(self.push0, "PUSH0"),
            has(self.cancun, "transient storage/MCOPY"),
            has(self.istanbul, "CHAINID/SELFBALANCE"),
        )
    }
}

/// Probes the chain behind `provider` ([`ChainProbe`]).
pub async fn probe(provider: &DynProvider) -> Result<ChainProbe> {
    let word_one = |out: Option<Bytes>| {
        out.is_some_and(|o| o.len() == 32 && o[31] == 1 && o[..31].iter().all(|b| *b == 0))
    };
    let chain_id = chain_id(provider).await?;
    let istanbul = run_probe(provider, &ISTANBUL_PROBE)
        .await?
        .is_some_and(|o| o.len() == 32 && U256::from_be_slice(&o) == U256::from(chain_id));
    Ok(ChainProbe {
        cancun: word_one(run_probe(provider, &CANCUN_PROBE).await?),
        push0: word_one(run_probe(provider, &PUSH0_PROBE).await?),
        istanbul,
        base_fee: base_fee(provider).await?,
    })
}

/// The output of `eth_call`ing `creation_code`; `None` when the node refuses to run it (an opcode it
/// does not have comes back as an execution error).
async fn run_probe(provider: &DynProvider, creation_code: &'static [u8]) -> Result<Option<Bytes>> {
    let tx = TransactionRequest::default().with_deploy_code(Bytes::from_static(creation_code));
    match provider.call(tx).await {
        Ok(output) => Ok(Some(output)),
        Err(e) if e.as_error_resp().is_some() => Ok(None),
        Err(e) => Err(Error::rpc_chain("eth_call (EVM version probe)", &e)),
    }
}

/// The latest block's `baseFeePerGas`, `None` on a chain without EIP-1559.
pub async fn base_fee(provider: &DynProvider) -> Result<Option<u64>> {
    let block = provider
        .get_block_by_number(BlockNumberOrTag::Latest)
        .await
        .map_err(|e| Error::rpc_chain("eth_getBlockByNumber(latest)", &e))?
        .ok_or_else(|| {
            Error::rpc(
                "eth_getBlockByNumber(latest)",
                "the node has no latest block",
            )
        })?;
    Ok(block.header.base_fee_per_gas)
}

/// A transaction signed, not necessarily sent: what is recorded before it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTx {
    /// Its hash.
    pub hash: B256,
    /// Its nonce.
    pub nonce: u64,
    /// The EIP-2718 bytes `eth_sendRawTransaction` takes (sent again as they are if it was dropped).
    pub raw: Bytes,
}

/// Percent added to the gas estimate: the state may move between estimate and inclusion.
const GAS_MARGIN_PERCENT: u64 = 20;

/// Fills `tx` as `from`'s transaction number `nonce` — gas estimated with a margin, fees by
/// `options` (EIP-1559 from the chain's fee history, or with `legacy` a type-0 gas price) — and signs
/// it with `wallet`. Nothing is sent.
pub async fn sign(
    provider: &DynProvider,
    wallet: &EthereumWallet,
    from: Address,
    nonce: u64,
    tx: TransactionRequest,
    action: &str,
    options: TxOptions,
) -> Result<SignedTx> {
    let chain_id = chain_id(provider).await?;
    let mut tx = tx.with_from(from).with_nonce(nonce).with_chain_id(chain_id);
    let gas = provider
        .estimate_gas(tx.clone())
        .await
        .map_err(|e| Error::rpc_chain(format!("estimating the gas of {action}"), &e))?;
    tx.set_gas_limit(gas.saturating_mul(100 + GAS_MARGIN_PERCENT).div_ceil(100));
    if options.legacy {
        tx.set_gas_price(gas_price(provider).await?);
    } else {
        let fees = provider
            .estimate_eip1559_fees()
            .await
            .map_err(|e| Error::rpc_chain("eth_feeHistory (EIP-1559 fees)", &e))?;
        tx.set_max_fee_per_gas(fees.max_fee_per_gas);
        tx.set_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
    }
    let envelope = <TransactionRequest as NetworkTransactionBuilder<Ethereum>>::build(tx, wallet)
        .await
        .map_err(|e| Error::TransactionFailed {
            action: action.into(),
            reason: format!("cannot sign it: {e}"),
        })?;
    Ok(SignedTx {
        hash: *envelope.tx_hash(),
        nonce,
        raw: envelope.encoded_2718().into(),
    })
}

/// Sends a signed transaction. A node that already has it (a rerun resending it) is not an error.
pub async fn broadcast(provider: &DynProvider, tx: &SignedTx, action: &str) -> Result<()> {
    match provider.send_raw_transaction(&tx.raw).await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_error_resp().is_some_and(|r| {
                let m = r.message.to_ascii_lowercase();
                m.contains("already known") || m.contains("already imported")
            }) =>
        {
            Ok(())
        }
        Err(e) => Err(Error::rpc_chain(
            format!("sending {action} ({})", tx.hash),
            &e,
        )),
    }
}

/// How often [`confirmed`] looks for a receipt, and says it is still waiting when nothing changed.
const POLL: Duration = Duration::from_millis(500);
const HEARTBEAT: Duration = Duration::from_secs(15);

/// Waits until `hash` is mined and `options.confirmations` deep (or `options.timeout` passes), telling
/// `progress` when it is mined, at each new confirmation, and every few seconds while nothing happens.
/// A reverted transaction is an error.
pub async fn confirmed(
    provider: &DynProvider,
    hash: B256,
    action: &str,
    options: TxOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<TransactionReceipt> {
    let started = Instant::now();
    let mut said = Instant::now();
    let mut depth_said = 0;
    loop {
        let receipt = provider
            .get_transaction_receipt(hash)
            .await
            .map_err(|e| Error::rpc_chain(format!("eth_getTransactionReceipt({hash})"), &e))?;
        match receipt {
            Some(receipt) if !receipt.status() => {
                return Err(Error::TransactionFailed {
                    action: action.into(),
                    reason: format!("transaction {hash} reverted"),
                });
            }
            Some(receipt) => {
                let mined = receipt.block_number.unwrap_or_default();
                let head = provider
                    .get_block_number()
                    .await
                    .map_err(|e| Error::rpc_chain("eth_blockNumber", &e))?;
                let depth = head.saturating_sub(mined) + 1;
                if depth >= options.confirmations.max(1) {
                    return Ok(receipt);
                }
                if depth != depth_said {
                    progress(&format!(
                        "{action}: mined in block {mined}, {depth}/{} confirmations",
                        options.confirmations
                    ));
                    depth_said = depth;
                    said = Instant::now();
                }
            }
            None if said.elapsed() >= HEARTBEAT => {
                progress(&format!(
                    "{action}: waiting for {hash} to be mined ({} s)",
                    started.elapsed().as_secs()
                ));
                said = Instant::now();
            }
            None => {}
        }
        if started.elapsed() >= options.timeout {
            return Err(Error::Rpc {
                action: format!("waiting for {action} ({hash})"),
                reason: format!(
                    "not {} blocks deep after {} s; run the same command again to go on waiting",
                    options.confirmations,
                    options.timeout.as_secs()
                ),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The chain's id.
pub async fn chain_id(provider: &DynProvider) -> Result<u64> {
    provider
        .get_chain_id()
        .await
        .map_err(|e| Error::rpc_chain("eth_chainId", &e))
}

/// The runtime code at `address` (empty when there is no contract).
pub async fn code_at(provider: &DynProvider, address: Address) -> Result<Bytes> {
    provider
        .get_code_at(address)
        .await
        .map_err(|e| Error::rpc_chain(format!("eth_getCode({address})"), &e))
}

/// Block `number` as a [`BlockRef`], `None` if the chain has no such block.
pub async fn block(provider: &DynProvider, number: u64) -> Result<Option<BlockRef>> {
    let block = provider
        .get_block_by_number(BlockNumberOrTag::Number(number))
        .await
        .map_err(|e| Error::rpc_chain(format!("eth_getBlockByNumber({number})"), &e))?;
    Ok(block.map(|b| BlockRef {
        number,
        hash: b.header.hash,
        timestamp: b.header.timestamp,
    }))
}

/// `eth_call` of `call` on `to`, decoded.
pub async fn call<C: SolCall>(provider: &DynProvider, to: Address, call: C) -> Result<C::Return> {
    let action = || format!("eth_call {} on {to}", C::SIGNATURE);
    let tx = TransactionRequest::default()
        .with_to(to)
        .with_input(call.abi_encode());
    let output = provider
        .call(tx)
        .await
        .map_err(|e| Error::rpc_chain(action(), &e))?;
    C::abi_decode_returns(&output).map_err(|e| Error::rpc_chain(action(), &e))
}

/// The node's legacy gas price (`eth_gasPrice`), for `--legacy` transactions.
async fn gas_price(provider: &DynProvider) -> Result<u128> {
    provider
        .get_gas_price()
        .await
        .map_err(|e| Error::rpc_chain("eth_gasPrice", &e))
}

/// Sends `tx` and waits for its receipt; a reverted transaction is an error.
pub async fn send(
    provider: &DynProvider,
    mut tx: TransactionRequest,
    action: &str,
    options: TxOptions,
) -> Result<TransactionReceipt> {
    if options.legacy {
        tx.set_gas_price(gas_price(provider).await?);
    }
    let pending = provider
        .send_transaction(tx)
        .await
        .map_err(|e| Error::rpc_chain(format!("sending {action}"), &e))?;
    let hash = *pending.tx_hash();
    let receipt = pending
        .with_required_confirmations(options.confirmations.max(1))
        .with_timeout(Some(options.timeout))
        .get_receipt()
        .await
        .map_err(|e| Error::rpc_chain(format!("waiting for {action} ({hash})"), &e))?;
    if !receipt.status() {
        return Err(Error::TransactionFailed {
            action: action.into(),
            reason: format!("transaction {hash} reverted"),
        });
    }
    Ok(receipt)
}

/// The block a receipt's transaction is in.
pub async fn receipt_block(
    provider: &DynProvider,
    receipt: &TransactionReceipt,
) -> Result<BlockRef> {
    let (Some(number), Some(hash)) = (receipt.block_number, receipt.block_hash) else {
        return Err(Error::rpc(
            "reading a receipt",
            format!("receipt of {} has no block", receipt.transaction_hash),
        ));
    };
    let found = block(provider, number).await?;
    match found {
        Some(b) if b.hash == hash => Ok(b),
        _ => Err(Error::rpc(
            format!("eth_getBlockByNumber({number})"),
            format!(
                "block {number} is not the one holding {} any more (reorganised?)",
                receipt.transaction_hash
            ),
        )),
    }
}
