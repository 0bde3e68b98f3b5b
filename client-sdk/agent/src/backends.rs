//! The deployment the agent works on, and the two ways it reaches it: an RPC node (the chain itself)
//! and relayers (their HTTP API). Reads prefer the chain; gasless operations and receipts go to the
//! first relayer that answers.

use std::{path::Path, time::Duration};

use piecepay_deploy::manifest::{FORMAT, Manifest};
use piecepay_protocol::{
    Amount, Eip712Domain,
    alloy_primitives::{Address, B256},
    domain,
    relayer_api::{ChannelState, Operation, OperationResult, OperationStatus, ReceiptResult},
};
use piecepay_sdk::{
    SignedReceipt,
    chain::{ChainClient, ChannelStatus},
    relayer_client::{RelayerClient, RelayerClientConfig, RetryPolicy},
};

use crate::{
    Error, Result,
    config::{ChainConfig, RelayerConfig},
    wallet::SecretKey,
};

/// Which escrow, on which chain, with which token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    /// The chain id.
    pub chain_id: u64,
    /// The escrow.
    pub escrow: Address,
    /// Its token.
    pub token: Address,
}

impl Deployment {
    /// The escrow's EIP-712 domain.
    pub fn domain(&self) -> Eip712Domain {
        domain(self.chain_id, self.escrow)
    }
}

/// A channel as the chain (or a relayer indexing it) shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OnChain {
    pub deposit: Amount,
    pub settled: Amount,
    pub phase: Phase,
}

/// A channel's lifecycle on chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    None,
    Open,
    Closing { closes_at: u64 },
    Closed,
}

/// One relayer.
#[derive(Clone, Debug)]
pub(crate) struct Relayer {
    pub url: String,
    pub client: RelayerClient,
}

/// Where the agent reads the chain and sends what it signed.
#[derive(Clone, Debug)]
pub(crate) struct Backends {
    pub deployment: Deployment,
    pub chain: Option<ChainClient>,
    pub relayers: Vec<Relayer>,
}

/// A relayer that could not be asked at start-up: reported, and tried again whenever it is needed.
#[derive(Clone, Debug)]
pub(crate) struct Unreachable {
    pub url: String,
    pub reason: String,
}

impl Backends {
    /// Resolves the deployment from `config` (the manifest, or the explicit keys), connects the RPC node
    /// and the relayers and checks that each serves this chain and escrow. A relayer that does not answer
    /// is kept (it may come up later) and returned as unreachable; one that answers for another
    /// deployment is a configuration error.
    pub(crate) async fn connect(
        chain: &ChainConfig,
        relayer: &RelayerConfig,
        key: &SecretKey,
    ) -> Result<(Self, Vec<Unreachable>)> {
        let (mut chain_id, mut escrow, mut token) = (chain.chain_id, chain.escrow, chain.token);
        if let Some(path) = &chain.manifest {
            let manifest = read_manifest(path)?;
            let conflict = |what: &str| {
                Error::Deployment(format!(
                    "chain.{what} disagrees with the manifest {}",
                    path.display()
                ))
            };
            if chain_id.is_some_and(|id| id != manifest.chain_id) {
                return Err(conflict("chain_id"));
            }
            if escrow.is_some_and(|e| e != manifest.escrow.address) {
                return Err(conflict("escrow"));
            }
            if token.is_some_and(|t| t != manifest.token.address) {
                return Err(conflict("token"));
            }
            chain_id = Some(manifest.chain_id);
            escrow = Some(manifest.escrow.address);
            token = Some(manifest.token.address);
        }
        let (chain_id, escrow) = chain_id
            .zip(escrow)
            .ok_or_else(|| Error::config(None, "chain: set manifest, or chain_id and escrow"))?;

        let client = match &chain.rpc_url {
            Some(url) => {
                let client = ChainClient::connect(url, key.bytes(), escrow)
                    .await
                    .map_err(|e| Error::Deployment(format!("chain.rpc_url {url}: {e}")))?;
                if client.chain_id() != chain_id {
                    return Err(Error::Deployment(format!(
                        "chain.rpc_url {url} serves chain {}, the deployment is on chain {chain_id}",
                        client.chain_id()
                    )));
                }
                if token.is_some_and(|t| t != client.token()) {
                    return Err(Error::Deployment(format!(
                        "the escrow {escrow} holds token {}, the configuration says {}",
                        client.token(),
                        token.unwrap_or_default()
                    )));
                }
                token = Some(client.token());
                Some(client)
            }
            None => None,
        };

        let mut relayers = Vec::new();
        let mut unreachable = Vec::new();
        for url in &relayer.urls {
            let client = RelayerClient::new(RelayerClientConfig {
                base_url: url.clone(),
                request_timeout: Duration::from_millis(relayer.timeout_ms),
                connect_timeout: Duration::from_millis(relayer.timeout_ms.min(3_000)),
                retry: RetryPolicy {
                    max_attempts: 2,
                    initial_backoff: Duration::from_millis(200),
                    max_backoff: Duration::from_secs(1),
                },
            })
            .map_err(|e| Error::config(None, format!("relayer.urls: {url}: {e}")))?;
            match client.info().await {
                Ok(info) if (info.chain_id, info.escrow) != (chain_id, escrow) => {
                    return Err(Error::Deployment(format!(
                        "relayer {url} serves escrow {} on chain {}, the deployment is {escrow} on chain {chain_id}",
                        info.escrow, info.chain_id
                    )));
                }
                Ok(info) => {
                    if token.is_some_and(|t| t != info.token) {
                        return Err(Error::Deployment(format!(
                            "relayer {url} says the token is {}, the deployment says {}",
                            info.token,
                            token.unwrap_or_default()
                        )));
                    }
                    token = Some(info.token);
                }
                Err(e) => unreachable.push(Unreachable {
                    url: url.clone(),
                    reason: e.to_string(),
                }),
            }
            relayers.push(Relayer {
                url: url.clone(),
                client,
            });
        }
        if client.is_none() && unreachable.len() == relayers.len() {
            return Err(Error::Unavailable(
                "no RPC node is configured and no relayer answers: nothing to check channels against"
                    .into(),
            ));
        }
        let token = token.ok_or_else(|| {
            Error::Unavailable("the escrow's token is unknown: configure chain.token".into())
        })?;
        Ok((
            Self {
                deployment: Deployment {
                    chain_id,
                    escrow,
                    token,
                },
                chain: client,
                relayers,
            },
            unreachable,
        ))
    }

    /// The channel `id` as the chain shows it (the RPC node), or else as the first relayer that knows it
    /// has indexed it. `None` when nobody could be asked.
    pub(crate) async fn channel(&self, id: B256) -> Option<OnChain> {
        if let Some(chain) = &self.chain
            && let Ok(info) = chain.channel(id).await
        {
            return Some(OnChain {
                deposit: info.deposit,
                settled: info.settled,
                phase: match info.status {
                    ChannelStatus::None => Phase::None,
                    ChannelStatus::Open => Phase::Open,
                    ChannelStatus::Closing { closes_at } => Phase::Closing { closes_at },
                    ChannelStatus::Closed => Phase::Closed,
                },
            });
        }
        for relayer in &self.relayers {
            match relayer.client.channel(id).await {
                Ok(Some(status)) => {
                    return Some(OnChain {
                        deposit: status.deposit,
                        settled: status.settled,
                        phase: match status.state {
                            ChannelState::Open => Phase::Open,
                            ChannelState::Closing => Phase::Closing {
                                closes_at: status.closes_at.unwrap_or(0),
                            },
                            ChannelState::Closed => Phase::Closed,
                        },
                    });
                }
                // Not indexed (yet): as far as this relayer knows, the channel does not exist.
                Ok(None) => {
                    return Some(OnChain {
                        deposit: 0,
                        settled: 0,
                        phase: Phase::None,
                    });
                }
                Err(_) => continue,
            }
        }
        None
    }

    /// Submits `operation` to the first relayer that answers; its id.
    pub(crate) async fn submit(&self, operation: &Operation) -> Result<B256> {
        let mut last = None;
        for relayer in &self.relayers {
            match relayer
                .client
                .submit_signed_operations(
                    self.deployment.chain_id,
                    self.deployment.escrow,
                    std::slice::from_ref(operation),
                )
                .await
            {
                Ok(results) => {
                    return match results.into_iter().next() {
                        Some(OperationResult::Queued(q) | OperationResult::Duplicate(q)) => {
                            Ok(q.operation_id)
                        }
                        Some(OperationResult::Rejected(e)) => Err(Error::Unavailable(format!(
                            "relayer {} refused the {} operation: {}: {}",
                            relayer.url,
                            operation.kind().as_str(),
                            e.code,
                            e.message
                        ))),
                        None => Err(Error::Unavailable(format!(
                            "relayer {} answered no result",
                            relayer.url
                        ))),
                    };
                }
                Err(e) => last = Some(format!("{}: {e}", relayer.url)),
            }
        }
        Err(Error::Unavailable(format!(
            "no relayer took the {} operation ({})",
            operation.kind().as_str(),
            last.unwrap_or_else(|| "none configured".into())
        )))
    }

    /// Where a gasless operation stands, from the relayers.
    pub(crate) async fn operation(&self, id: B256) -> Option<OperationStatus> {
        for relayer in &self.relayers {
            if let Ok(Some(status)) = relayer.client.operation(id).await {
                return Some(status);
            }
        }
        None
    }

    /// Hands `receipt` to the first relayer that holds it afterwards (accepted or duplicate): its URL.
    pub(crate) async fn hand(&self, receipt: &SignedReceipt) -> Result<String> {
        let mut last = None;
        for relayer in &self.relayers {
            match relayer
                .client
                .submit_signed_receipts(
                    self.deployment.chain_id,
                    self.deployment.escrow,
                    std::slice::from_ref(receipt),
                )
                .await
            {
                Ok(results) => match results.first() {
                    Some(ReceiptResult::Accepted(_) | ReceiptResult::Duplicate(_)) => {
                        return Ok(relayer.url.clone());
                    }
                    Some(ReceiptResult::Rejected(e)) => {
                        last = Some(format!(
                            "{} refused it: {}: {}",
                            relayer.url, e.code, e.message
                        ));
                    }
                    None => last = Some(format!("{} answered no result", relayer.url)),
                },
                Err(e) => last = Some(format!("{}: {e}", relayer.url)),
            }
        }
        Err(Error::Unavailable(format!(
            "no relayer took the receipt ({})",
            last.unwrap_or_else(|| "none configured".into())
        )))
    }

    /// The RPC node's client, or why there is none.
    pub(crate) fn chain(&self, what: &str) -> Result<&ChainClient> {
        self.chain
            .as_ref()
            .ok_or_else(|| Error::Unavailable(format!("{what} needs chain.rpc_url (an RPC node)")))
    }
}

/// Reads the deploy tool's manifest at `path` (its format, and that the escrow's token is its token).
fn read_manifest(path: &Path) -> Result<Manifest> {
    let invalid =
        |reason: String| Error::Deployment(format!("manifest {}: {reason}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    if manifest.format != FORMAT {
        return Err(invalid(format!(
            "format {:?}, this agent reads {FORMAT:?}",
            manifest.format
        )));
    }
    if manifest.escrow.constructor_args.token != manifest.token.address {
        return Err(invalid(
            "the escrow's token is not the manifest's token".into(),
        ));
    }
    Ok(manifest)
}
