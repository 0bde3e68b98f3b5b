//! The node's view of the chain (a node with `chain.rpc_url`): the provider, the checks made before the
//! node serves, and the monitor behind readiness, the signer's funds and their metrics.
//!
//! **Before serving** ([`Chain::check`]): the endpoint answers, serves the escrow's chain id, has the
//! escrow's code at the configured address (and it is piecepay's escrow for that domain: its
//! `DOMAIN_SEPARATOR()`), and the signer's balance can be read. Each mistake is one error naming the key
//! and what was found.
//!
//! **While serving** ([`Chain::monitor`]): the head, the gas price and the signer's balance, read every
//! few poll intervals. They feed `/readyz` (`chain`: read recently; `signer`: it can pay), the metrics,
//! and the gasless-operation rule: operations are refused (`relayer_unfunded`) while the balance cannot
//! pay for one full settlement batch at twice the current gas price — the headroom the submitter's fees
//! leave for the base fee to rise.

use std::{
    sync::{Arc, PoisonError, RwLock},
    time::{Duration, Instant},
};

use piecepay_protocol::{
    alloy_primitives::Address, alloy_sol_types::SolCall, bindings::ChannelEscrow,
    relayer_api::ReadinessCheck,
};
use piecepay_relayer_chain::{
    Error as ChainError, FeeMarket,
    alloy::{
        providers::{DynProvider, Provider},
        rpc::types::{TransactionInput, TransactionRequest},
    },
    rpc,
};

use crate::{Error, Result, Settings, api::Metrics, batcher};

/// What the monitor read last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainView {
    /// The chain's head block.
    pub head: u64,
    /// `eth_gasPrice`, in wei.
    pub gas_price: u128,
    /// The signer's balance, in wei.
    pub balance: u128,
    /// What one full settlement batch may cost at the current gas price (see the module docs), in wei.
    pub required: u128,
}

#[derive(Debug, Default)]
struct Health {
    /// The last successful read, and when.
    last: Option<(ChainView, Instant)>,
    /// The last read's failure, if it failed.
    error: Option<String>,
    /// Whether the balance was below `signer.warn_balance` (warned once per crossing).
    low: bool,
    /// Whether the balance could not pay (warned once per crossing).
    unfunded: bool,
}

/// The chain as this node sees it. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Chain {
    provider: DynProvider,
    /// The endpoint, without anything secret.
    shown: String,
    signer: Address,
    settings: Arc<Settings>,
    health: Arc<RwLock<Health>>,
}

impl Chain {
    /// The chain of `settings`, `None` for a node without `chain.rpc_url` (or without a signer, which a
    /// resolved configuration with an RPC URL always has).
    pub fn connect(settings: &Arc<Settings>) -> Result<Option<Self>> {
        let (Some(url), Some(signer)) = (&settings.rpc_url, &settings.signer) else {
            return Ok(None);
        };
        Ok(Some(Self {
            provider: rpc::connect(url, &settings.extra_roots)?,
            shown: rpc::redacted(url),
            signer: signer.address(),
            settings: Arc::clone(settings),
            health: Arc::default(),
        }))
    }

    /// The provider (one connection pool for the node's duties and its monitor).
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The checks before serving: the endpoint serves the configured chain, the escrow is there, the
    /// signer's balance is read (and logged, with a warning if it is low). Returns what it read.
    pub async fn check(&self) -> Result<ChainView> {
        let settings = &self.settings;
        let chain_id = self
            .provider
            .get_chain_id()
            .await
            .map_err(|e| ChainError::rpc(format!("eth_chainId at {}", self.shown), e))?;
        if chain_id != settings.chain_id {
            return Err(Error::Config(format!(
                "chain.rpc_url ({}) serves chain {chain_id}, but {} says the escrow is on chain {}",
                self.shown,
                chain_id_source(settings),
                settings.chain_id
            )));
        }
        let escrow = settings.escrow;
        let code = self
            .provider
            .get_code_at(escrow)
            .await
            .map_err(|e| ChainError::rpc(format!("eth_getCode({escrow})"), e))?;
        if code.is_empty() {
            return Err(Error::Config(format!(
                "no contract at chain.escrow {escrow} on chain {chain_id} ({}): the deployment is on \
                 another network, or this chain was reset since (a restarted devnet?)",
                self.shown
            )));
        }
        let expected = piecepay_protocol::domain(chain_id, escrow).separator();
        match self.call(ChannelEscrow::DOMAIN_SEPARATORCall {}).await {
            Ok(separator) if separator == expected => {}
            found => {
                return Err(Error::Config(format!(
                    "the contract at chain.escrow {escrow} is not piecepay's escrow for chain \
                     {chain_id} (DOMAIN_SEPARATOR() {})",
                    found.map_or_else(|e| format!("failed: {e}"), |s| format!("is {s}"))
                )));
            }
        }
        if !settings.token.is_zero() {
            let token = self.call(ChannelEscrow::TOKENCall {}).await?;
            if token != settings.token {
                return Err(Error::Config(format!(
                    "chain.token {} is not the escrow's token {token}",
                    settings.token
                )));
            }
        }
        let view = self.read().await?;
        let fee_market = self.fee_market().await?;
        tracing::info!(
            endpoint = %self.shown,
            chain_id,
            head = view.head,
            fee_market = %fee_market,
            gas_price_wei = %view.gas_price,
            signer = %self.signer,
            balance_wei = %view.balance,
            "chain checked: the escrow is there"
        );
        if view.gas_price > settings.max_gas_price {
            // Prices move, so not an error; but until this one falls, nothing the node sends is mined.
            tracing::warn!(
                code = "gas_price_above_cap",
                gas_price_wei = %view.gas_price,
                max_gas_price_wei = %settings.max_gas_price,
                "the chain's gas price is above chain.max_gas_price: settlements and gasless operations \
                 wait until it falls below, or raise chain.max_gas_price"
            );
        }
        self.record(Ok(view));
        Ok(view)
    }

    /// The chain's fee market by its latest block (see [`FeeMarket`]): the kind of transaction the
    /// submitter will send.
    async fn fee_market(&self) -> Result<FeeMarket> {
        let latest = rpc::latest_block(&self.provider).await?;
        Ok(FeeMarket::of_base_fee(latest.header.base_fee_per_gas))
    }

    /// Reads the head, the gas price and the signer's balance every `every`, forever (run it in a task):
    /// what `/readyz`, the metrics and the operations rule go by.
    pub async fn monitor(self, every: Duration, metrics: Arc<Metrics>) {
        loop {
            tokio::time::sleep(every).await;
            let read = self.read().await;
            if let Ok(view) = &read {
                metrics.set_signer_funds(view.balance, view.required, self.settings.warn_balance);
            }
            self.record(read);
        }
    }

    /// Readiness: `chain` (read successfully within `stale_after`) and `signer` (it can pay).
    pub fn readiness(&self, stale_after: Duration) -> [ReadinessCheck; 2] {
        let health = self.health.read().unwrap_or_else(PoisonError::into_inner);
        let chain = match (&health.last, &health.error) {
            (Some((_, at)), None) if at.elapsed() <= stale_after => None,
            // The cause is in the log; the probe gets the gist.
            (_, Some(_)) => Some("the chain endpoint does not answer".to_owned()),
            (Some((_, at)), None) => Some(format!(
                "the chain endpoint was last read {} s ago",
                at.elapsed().as_secs()
            )),
            (None, None) => Some("the chain endpoint was not read yet".to_owned()),
        };
        let signer = match &health.last {
            Some((view, _)) if view.balance < view.required => Some(format!(
                "the signer {} has {} wei, less than a settlement batch may cost ({} wei): fund it",
                self.signer, view.balance, view.required
            )),
            Some(_) => None,
            None => Some("the signer's balance was not read yet".to_owned()),
        };
        [check("chain", chain), check("signer", signer)]
    }

    /// `Err(why)` while the signer cannot pay for gas (by the last read), else `Ok`.
    pub fn can_pay(&self) -> Result<(), String> {
        let health = self.health.read().unwrap_or_else(PoisonError::into_inner);
        match &health.last {
            Some((view, _)) if view.balance < view.required => Err(format!(
                "the relayer's account has {} wei, less than a settlement batch may cost ({} wei); \
                 its operator has been told",
                view.balance, view.required
            )),
            _ => Ok(()),
        }
    }

    async fn read(&self) -> Result<ChainView> {
        let head = self
            .provider
            .get_block_number()
            .await
            .map_err(|e| ChainError::rpc(format!("eth_blockNumber at {}", self.shown), e))?;
        let gas_price = self
            .provider
            .get_gas_price()
            .await
            .map_err(|e| ChainError::rpc("eth_gasPrice", e))?;
        let balance = self
            .provider
            .get_balance(self.signer)
            .await
            .map_err(|e| ChainError::rpc(format!("eth_getBalance({})", self.signer), e))?;
        let full_batch = batcher::BASE_GAS
            + batcher::GAS_PER_RECEIPT * self.settings.config.batch.max_receipts as u64;
        Ok(ChainView {
            head,
            gas_price,
            balance: u128::try_from(balance).unwrap_or(u128::MAX),
            required: u128::from(full_batch).saturating_mul(gas_price.saturating_mul(2)),
        })
    }

    /// Stores a read, and logs what changed (once per change, not every read).
    fn record(&self, read: Result<ChainView>) {
        let mut health = self.health.write().unwrap_or_else(PoisonError::into_inner);
        match read {
            Ok(view) => {
                if let Some(error) = health.error.take() {
                    tracing::info!(endpoint = %self.shown, previous = %error, "the chain endpoint answers again");
                }
                let low = view.balance < self.settings.warn_balance;
                if low && !health.low {
                    tracing::warn!(
                        signer = %self.signer,
                        balance_wei = %view.balance,
                        warn_below_wei = %self.settings.warn_balance,
                        "the signer's balance is below signer.warn_balance: fund it"
                    );
                }
                let unfunded = view.balance < view.required;
                if unfunded && !health.unfunded {
                    tracing::error!(
                        signer = %self.signer,
                        balance_wei = %view.balance,
                        required_wei = %view.required,
                        "the signer cannot pay for a settlement batch: gasless operations are refused \
                         and /readyz fails until it is funded"
                    );
                } else if !unfunded && health.unfunded {
                    tracing::info!(signer = %self.signer, balance_wei = %view.balance, "the signer is funded again");
                }
                health.low = low;
                health.unfunded = unfunded;
                health.last = Some((view, Instant::now()));
            }
            Err(error) => {
                let text = error.to_string();
                if health.error.as_deref() != Some(text.as_str()) {
                    tracing::warn!(error = %text, "reading the chain failed; retrying");
                }
                health.error = Some(text);
            }
        }
    }

    async fn call<C: SolCall>(&self, call: C) -> Result<C::Return> {
        let what = || format!("eth_call {} on {}", C::SIGNATURE, self.settings.escrow);
        let request = TransactionRequest::default()
            .to(self.settings.escrow)
            .input(TransactionInput::new(call.abi_encode().into()));
        let output = self
            .provider
            .call(request)
            .await
            .map_err(|e| ChainError::rpc(what(), e))?;
        Ok(C::abi_decode_returns(&output).map_err(|e| ChainError::rpc(what(), e))?)
    }
}

fn check(name: &str, detail: Option<String>) -> ReadinessCheck {
    ReadinessCheck {
        name: name.to_owned(),
        ok: detail.is_none(),
        detail,
    }
}

/// Where the escrow's chain id comes from, for messages.
fn chain_id_source(settings: &Settings) -> String {
    match (
        &settings.config.chain.chain_id,
        &settings.config.chain.manifest,
    ) {
        (None, Some(manifest)) => format!("the manifest {}", manifest.display()),
        _ => "chain.chain_id".to_owned(),
    }
}
