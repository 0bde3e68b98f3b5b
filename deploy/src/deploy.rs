//! One deployment: the token (new or existing) and the escrow, verified, recorded in the chain's manifest;
//! or, when the chain already has a manifest, the recorded deployment verified instead.

use std::path::{Path, PathBuf};

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, B256, Bytes, U256, aliases::U40, keccak256},
    providers::{DynProvider, Provider},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
};
use piecepay_protocol::{
    alloy_sol_types::SolConstructor,
    bindings::{ChannelEscrow, PieceToken},
};

use crate::{
    Artifact, Error, Manifest, Result,
    artifacts::Build,
    chain::{self, ChainProbe, TxOptions},
    manifest::{
        ArtifactInfo, BlockRef, EscrowArgs, EscrowEntry, FORMAT, TokenArgs, TokenEntry, TokenOrigin,
    },
    pending::{self, Pending, Sent, Step},
    signer::KeySource,
    verify::{Report, verify},
};

/// The escrow refuses challenge windows above this (`MAX_CHALLENGE_PERIOD`, 30 days).
pub const MAX_CHALLENGE_PERIOD: u64 = 30 * 24 * 3600;
/// The challenge window when none is given: one day.
pub const DEFAULT_CHALLENGE_PERIOD: u64 = 24 * 3600;
/// The new token's name when none is given.
pub const DEFAULT_TOKEN_NAME: &str = "Piece";
/// The new token's symbol when none is given.
pub const DEFAULT_TOKEN_SYMBOL: &str = "PIECE";
/// The new token's supply when none is given: 10^9 tokens of 18 decimals.
pub const DEFAULT_TOKEN_SUPPLY: u128 = 1_000_000_000 * 10u128.pow(18);

/// What to do when the chain already has a manifest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Deploy if the chain has no manifest; otherwise verify and report the recorded deployment.
    #[default]
    Ensure,
    /// Only verify the recorded deployment; a chain without a manifest is an error.
    VerifyOnly,
    /// Deploy anew and overwrite the manifest, whatever it says.
    Replace,
}

/// The token to use: an existing ERC-20, or a new `PieceToken`. Fields left `None` take the defaults when
/// deploying, and are not compared with an existing manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenRequest {
    /// Use this ERC-20 instead of deploying one (excludes the other fields).
    pub existing: Option<Address>,
    /// The new token's name ([`DEFAULT_TOKEN_NAME`]).
    pub name: Option<String>,
    /// The new token's symbol ([`DEFAULT_TOKEN_SYMBOL`]).
    pub symbol: Option<String>,
    /// The new token's supply in base units ([`DEFAULT_TOKEN_SUPPLY`]).
    pub supply: Option<U256>,
    /// Who receives the supply (the deployer).
    pub holder: Option<Address>,
}

/// What one deployment transaction cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxCost {
    /// The contract it created.
    pub contract: &'static str,
    /// The transaction.
    pub transaction: B256,
    /// Gas it used.
    pub gas_used: u64,
    /// The price it paid per gas, in wei (the effective gas price).
    pub gas_price: u128,
}

impl TxCost {
    /// `gas_used × gas_price`, in wei.
    pub const fn wei(&self) -> u128 {
        self.gas_used as u128 * self.gas_price
    }
}

/// One run of the deploy command.
#[derive(Clone, Debug)]
pub struct DeployRequest {
    /// The chain's JSON-RPC endpoint.
    pub rpc_url: String,
    /// The directory of the per-chain manifests.
    pub deployments_dir: PathBuf,
    /// The deployer's key (loaded only when something is deployed).
    pub key: KeySource,
    /// The token.
    pub token: TokenRequest,
    /// The escrow's challenge window in seconds ([`DEFAULT_CHALLENGE_PERIOD`]).
    pub challenge_period: Option<u64>,
    /// What to do about an existing manifest.
    pub mode: Mode,
    /// The build to deploy; `None`: the one the chain runs ([`pick_build`]).
    pub build: Option<Build>,
    /// How transactions are sent (legacy ones regardless of `tx.legacy` on a chain without a base fee).
    pub tx: TxOptions,
}

/// What a run did.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Contracts were deployed, verified, and the manifest written.
    Deployed {
        /// The new manifest.
        manifest: Manifest,
        /// Where it was written.
        path: PathBuf,
        /// The verification of the new deployment.
        report: Report,
        /// What each deployment transaction cost.
        costs: Vec<TxCost>,
    },
    /// The chain's manifest was found and its deployment verified; nothing was sent.
    Existing {
        /// The manifest.
        manifest: Manifest,
        /// Where it is.
        path: PathBuf,
        /// The verification.
        report: Report,
    },
}

impl Outcome {
    /// The manifest, deployed or existing.
    pub fn manifest(&self) -> &Manifest {
        match self {
            Self::Deployed { manifest, .. } | Self::Existing { manifest, .. } => manifest,
        }
    }
}

/// The build to deploy on a chain probed as `probe`: the current one where it runs, else the legacy one
/// where that runs; `forced` (the operator's choice) only if it runs. A chain that runs neither is
/// `unsupported_chain`.
pub fn pick_build(probe: &ChainProbe, forced: Option<Build>, chain_id: u64) -> Result<Build> {
    let runs = |build| match build {
        Build::Current => probe.cancun,
        Build::Legacy => probe.istanbul,
    };
    let why = |build| match build {
        Build::Current => {
            "the current build (evm_version prague) needs PUSH0, transient storage (EIP-1153) and MCOPY \
             (EIP-5656), which arrived with Shanghai and Cancun"
        }
        Build::Legacy => {
            "the legacy build (evm_version berlin) needs CHAINID and SELFBALANCE, which arrived with \
             Istanbul"
        }
    };
    match forced {
        Some(build) if runs(build) => Ok(build),
        Some(build) => Err(Error::UnsupportedChain {
            chain_id,
            reason: format!("{} ({})", why(build), probe.describe()),
        }),
        None => Build::ALL
            .into_iter()
            .find(|b| runs(*b))
            .ok_or_else(|| Error::UnsupportedChain {
                chain_id,
                reason: format!(
                    "{}; {} ({})",
                    why(Build::Current),
                    why(Build::Legacy),
                    probe.describe()
                ),
            }),
    }
}

/// Runs `request`: validates it, then deploys or verifies. `progress` receives one line per step. The key
/// is loaded (and a keystore password asked for) only when something is to be deployed.
pub async fn run(request: &DeployRequest, progress: &mut dyn FnMut(&str)) -> Result<Outcome> {
    run_inner(request, None, progress).await
}

/// [`run`] with the deployer's signer given instead of loaded from `request.key` (the devnet's way).
pub async fn run_with_signer(
    request: &DeployRequest,
    signer: PrivateKeySigner,
    progress: &mut dyn FnMut(&str),
) -> Result<Outcome> {
    run_inner(request, Some(signer), progress).await
}

async fn run_inner(
    request: &DeployRequest,
    signer: Option<PrivateKeySigner>,
    progress: &mut dyn FnMut(&str),
) -> Result<Outcome> {
    validate(request)?;
    let provider = chain::connect(&request.rpc_url).await?;
    let chain_id = chain::chain_id(&provider).await?;
    let dir = &request.deployments_dir;
    let path = crate::manifest::path(dir, chain_id);
    progress(&format!("chain {chain_id} at {}", request.rpc_url));

    let existing = Manifest::load(dir, chain_id)?;
    match (request.mode, existing) {
        (Mode::VerifyOnly, None) => Err(Error::ManifestMissing { chain_id, path }),
        (Mode::Ensure | Mode::VerifyOnly, Some(manifest)) => {
            progress(&format!("found {}; verifying it", path.display()));
            check_conflicts(request, &manifest)?;
            let report = verify(&provider, &manifest).await?;
            Ok(Outcome::Existing {
                manifest,
                path,
                report,
            })
        }
        (Mode::Ensure | Mode::Replace, _) => {
            // Before the key is loaded (a keystore may prompt): a chain refused asks for nothing.
            let probe = chain::probe(&provider).await?;
            progress(&format!("chain {chain_id} runs: {}", probe.describe()));
            let build = pick_build(&probe, request.build, chain_id)?;
            let mut options = request.tx;
            // A chain without EIP-1559 refuses type-2 transactions.
            options.legacy |= probe.base_fee.is_none();
            progress(&format!(
                "using the {build} build (evm_version {}) and {} transactions",
                build.evm_version()?,
                if options.legacy {
                    "legacy (type-0, gasPrice)"
                } else {
                    "EIP-1559 (type-2)"
                }
            ));
            let signer = match signer {
                Some(signer) => signer,
                None => request.key.load()?,
            };
            let deployer = signer.address();
            let wallet = EthereumWallet::from(signer);
            progress(&format!("deploying from {deployer}"));
            let mut deployment = Deployment {
                provider: &provider,
                wallet: &wallet,
                deployer,
                dir,
                build,
                options,
                costs: Vec::new(),
            };
            let manifest = deployment.deploy(request, chain_id, &mut *progress).await?;
            let costs = deployment.costs;
            progress("verifying the deployed code");
            let report = verify(&provider, &manifest).await?;
            let path = manifest.store(dir)?;
            // Only now is the deployment complete: its record of what was sent goes.
            Pending::remove(dir, chain_id)?;
            Ok(Outcome::Deployed {
                manifest,
                path,
                report,
                costs,
            })
        }
    }
}

/// Refuses requests that cannot work before anything is sent.
fn validate(request: &DeployRequest) -> Result<()> {
    let bad = |m: &str| Err(Error::InvalidInput(m.into()));
    if let Some(period) = request.challenge_period
        && (period == 0 || period > MAX_CHALLENGE_PERIOD)
    {
        return Err(Error::InvalidInput(format!(
            "challenge period {period} s is out of range: the escrow accepts 1 to {MAX_CHALLENGE_PERIOD} s (30 days)"
        )));
    }
    let t = &request.token;
    if t.existing.is_some()
        && (t.name.is_some() || t.symbol.is_some() || t.supply.is_some() || t.holder.is_some())
    {
        return bad(
            "--token (an existing token) excludes --token-name/--token-symbol/--token-supply/--token-holder",
        );
    }
    if t.existing == Some(Address::ZERO) {
        return bad("the token address must not be the zero address");
    }
    if t.name.as_deref() == Some("") || t.symbol.as_deref() == Some("") {
        return bad("the token name and symbol must not be empty");
    }
    if t.supply == Some(U256::ZERO) {
        return bad("the token supply must be positive");
    }
    if t.holder == Some(Address::ZERO) {
        return bad("the token holder must not be the zero address");
    }
    if request.tx.confirmations == 0 {
        return bad("confirmations must be at least 1");
    }
    request.key.check()
}

/// Parameters given explicitly that the recorded deployment does not have.
fn check_conflicts(request: &DeployRequest, manifest: &Manifest) -> Result<()> {
    let mut conflicts = Vec::new();
    let args = manifest.escrow.constructor_args;
    if let Some(period) = request.challenge_period
        && period != args.challenge_period
    {
        conflicts.push(format!(
            "challenge period {period} s asked, the deployment has {} s",
            args.challenge_period
        ));
    }
    let t = &request.token;
    if let Some(token) = t.existing
        && token != manifest.token.address
    {
        conflicts.push(format!(
            "token {token} asked, the deployment uses {}",
            manifest.token.address
        ));
    }
    let new_token_asked =
        t.name.is_some() || t.symbol.is_some() || t.supply.is_some() || t.holder.is_some();
    match &manifest.token.constructor_args {
        Some(recorded) => {
            let differs = [
                t.name.as_ref().is_some_and(|n| *n != recorded.name),
                t.symbol.as_ref().is_some_and(|s| *s != recorded.symbol),
                t.supply.is_some_and(|s| s != recorded.supply),
                t.holder.is_some_and(|h| h != recorded.holder),
            ];
            if differs.contains(&true) {
                conflicts.push(format!(
                    "new-token parameters differ from the deployed token ({} {}, supply {} to {})",
                    recorded.name, recorded.symbol, recorded.supply, recorded.holder
                ));
            }
        }
        None if new_token_asked => conflicts.push(format!(
            "a new token asked, the deployment uses the existing token {}",
            manifest.token.address
        )),
        None => {}
    }
    if conflicts.is_empty() {
        Ok(())
    } else {
        Err(Error::ConfigConflict(format!(
            "chain {} already has a deployment: {}",
            manifest.chain_id,
            conflicts.join("; ")
        )))
    }
}

/// One deployment's transactions: signed, recorded ([`Pending`]), sent and waited for.
struct Deployment<'a> {
    provider: &'a DynProvider,
    wallet: &'a EthereumWallet,
    deployer: Address,
    dir: &'a Path,
    build: Build,
    options: TxOptions,
    costs: Vec<TxCost>,
}

/// A contract created by one transaction.
struct Created {
    address: Address,
    transaction: alloy::primitives::B256,
    block: BlockRef,
    code_hash: alloy::primitives::B256,
}

impl Deployment<'_> {
    async fn deploy(
        &mut self,
        request: &DeployRequest,
        chain_id: u64,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Manifest> {
        let t = &request.token;
        // The token: the one given, or a new one with these arguments.
        let new_token = match t.existing {
            Some(_) => None,
            None => Some(TokenArgs {
                name: t.name.clone().unwrap_or_else(|| DEFAULT_TOKEN_NAME.into()),
                symbol: t
                    .symbol
                    .clone()
                    .unwrap_or_else(|| DEFAULT_TOKEN_SYMBOL.into()),
                holder: t.holder.unwrap_or(self.deployer),
                supply: t.supply.unwrap_or(U256::from(DEFAULT_TOKEN_SUPPLY)),
            }),
        };
        let challenge_period = request.challenge_period.unwrap_or(DEFAULT_CHALLENGE_PERIOD);
        let genesis = chain::block(self.provider, 0)
            .await?
            .map(|b| b.hash)
            .unwrap_or_default();
        let asked = Pending::new(
            chain_id,
            genesis,
            self.deployer,
            new_token.clone(),
            t.existing,
            challenge_period,
        );
        let record = pending::path(self.dir, chain_id);
        let mut pending = match Pending::load(self.dir, chain_id)? {
            Some(found) if found.matches(&asked) => {
                progress(&format!(
                    "resuming the deployment recorded in {}",
                    record.display()
                ));
                found
            }
            Some(found) if found.genesis != genesis => {
                progress(&format!(
                    "{} is of a chain this one replaced (another genesis block): starting afresh",
                    record.display()
                ));
                asked
            }
            Some(_) => {
                return Err(Error::ConfigConflict(format!(
                    "{} records an unfinished deployment with other parameters (or deployer): run \
                     again with those to finish it, or delete the file to start anew",
                    record.display()
                )));
            }
            None => asked,
        };

        let token = match new_token {
            // No new token: `existing` is set (validate refuses new-token flags with it).
            None => existing_token(self.provider, t.existing.unwrap_or_default()).await?,
            Some(args) => {
                let artifact = self.build.token()?;
                let constructor = PieceToken::constructorCall {
                    name_: args.name.clone(),
                    symbol_: args.symbol.clone(),
                    holder: args.holder,
                    supply: args.supply,
                };
                progress(&format!(
                    "deploying PieceToken {} ({}), supply {} to {}",
                    args.name, args.symbol, args.supply, args.holder
                ));
                let created = self
                    .create(
                        &mut pending,
                        Step::Token,
                        artifact,
                        constructor.abi_encode(),
                        progress,
                    )
                    .await?;
                TokenEntry {
                    address: created.address,
                    origin: TokenOrigin::Deployed,
                    code_hash: created.code_hash,
                    transaction: Some(created.transaction),
                    block: Some(created.block),
                    constructor_args: Some(args),
                    artifact: Some(ArtifactInfo::of(artifact)),
                }
            }
        };

        let args = EscrowArgs {
            token: token.address,
            challenge_period,
        };
        let artifact = self.build.escrow()?;
        let constructor = ChannelEscrow::constructorCall {
            token: args.token,
            challengePeriod: U40::from(args.challenge_period),
        };
        progress(&format!(
            "deploying ChannelEscrow for token {}, challenge period {} s",
            args.token, args.challenge_period
        ));
        let created = self
            .create(
                &mut pending,
                Step::Escrow,
                artifact,
                constructor.abi_encode(),
                progress,
            )
            .await?;
        Ok(Manifest {
            format: FORMAT.into(),
            chain_id,
            deployer: self.deployer,
            created_at: now(),
            deployment_block: created.block,
            token,
            escrow: EscrowEntry {
                address: created.address,
                code_hash: created.code_hash,
                transaction: created.transaction,
                block: created.block,
                constructor_args: args,
                artifact: ArtifactInfo::of(artifact),
            },
        })
    }

    /// Creates `step`'s contract: the transaction recorded for it if the chain can still mine it (mined,
    /// pending, or dropped and sent again as it was), else a new one, signed, recorded, then sent.
    async fn create(
        &mut self,
        pending: &mut Pending,
        step: Step,
        artifact: &Artifact,
        constructor_args: Vec<u8>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Created> {
        let action = format!("deploying {}", step.contract());
        let sent = match pending.sent(step).cloned() {
            Some(sent) => self.resume(sent, &action, progress).await?,
            None => None,
        };
        let sent = match sent {
            Some(sent) => sent,
            None => {
                let mut init = artifact.creation_code.to_vec();
                init.extend_from_slice(&constructor_args);
                let nonce = self
                    .provider
                    .get_transaction_count(self.deployer)
                    .pending()
                    .await
                    .map_err(|e| Error::rpc_chain("eth_getTransactionCount", &e))?;
                let tx = TransactionRequest::default().with_deploy_code(Bytes::from(init));
                let signed = chain::sign(
                    self.provider,
                    self.wallet,
                    self.deployer,
                    nonce,
                    tx,
                    &action,
                    self.options,
                )
                .await?;
                let sent = Sent {
                    step,
                    address: self.deployer.create(nonce),
                    tx: signed,
                };
                // Recorded before it is sent: whatever happens next, a rerun knows about it.
                pending.record(self.dir, sent.clone())?;
                chain::broadcast(self.provider, &sent.tx, &action).await?;
                progress(&format!(
                    "{action}: sent {} (nonce {}, to create {})",
                    sent.tx.hash, sent.tx.nonce, sent.address
                ));
                sent
            }
        };
        let receipt =
            chain::confirmed(self.provider, sent.tx.hash, &action, self.options, progress).await?;
        if receipt.contract_address != Some(sent.address) {
            return Err(Error::TransactionFailed {
                action,
                reason: format!(
                    "receipt of {} names {:?} as the created contract, not {}",
                    receipt.transaction_hash, receipt.contract_address, sent.address
                ),
            });
        }
        let block = chain::receipt_block(self.provider, &receipt).await?;
        let code = chain::code_at(self.provider, sent.address).await?;
        self.costs.push(TxCost {
            contract: step.contract(),
            transaction: receipt.transaction_hash,
            gas_used: receipt.gas_used,
            gas_price: receipt.effective_gas_price,
        });
        progress(&format!(
            "{} at {} (tx {}, block {})",
            step.contract(),
            sent.address,
            receipt.transaction_hash,
            block.number
        ));
        Ok(Created {
            address: sent.address,
            transaction: receipt.transaction_hash,
            block,
            code_hash: keccak256(&code),
        })
    }

    /// A recorded transaction, if the chain can still mine it or has: mined or pending as it is, or
    /// dropped and sent again. `None` if its nonce went to another transaction (it never will be).
    async fn resume(
        &self,
        sent: Sent,
        action: &str,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Option<Sent>> {
        let hash = sent.tx.hash;
        let rpc =
            |what: &str, e: &dyn std::error::Error| Error::rpc_chain(format!("{what}({hash})"), e);
        if self
            .provider
            .get_transaction_receipt(hash)
            .await
            .map_err(|e| rpc("eth_getTransactionReceipt", &e))?
            .is_some()
        {
            progress(&format!("{action}: {hash}, recorded before, was mined"));
            return Ok(Some(sent));
        }
        if self
            .provider
            .get_transaction_by_hash(hash)
            .await
            .map_err(|e| rpc("eth_getTransactionByHash", &e))?
            .is_some()
        {
            progress(&format!("{action}: {hash}, recorded before, is pending"));
            return Ok(Some(sent));
        }
        let used = self
            .provider
            .get_transaction_count(self.deployer)
            .latest()
            .await
            .map_err(|e| Error::rpc_chain("eth_getTransactionCount", &e))?;
        if used > sent.tx.nonce {
            progress(&format!(
                "{action}: {hash}, recorded before, can never be mined (its nonce {} went to \
                 another transaction): signing anew",
                sent.tx.nonce
            ));
            return Ok(None);
        }
        progress(&format!(
            "{action}: {hash}, recorded before, was dropped: sending it again"
        ));
        chain::broadcast(self.provider, &sent.tx, action).await?;
        Ok(Some(sent))
    }
}

/// The entry of an existing ERC-20, after checking there is a contract that answers `totalSupply()`.
async fn existing_token(provider: &DynProvider, address: Address) -> Result<TokenEntry> {
    let code = chain::code_at(provider, address).await?;
    if code.is_empty() {
        return Err(Error::InvalidInput(format!(
            "--token {address}: there is no contract at that address on this chain"
        )));
    }
    chain::call(provider, address, PieceToken::totalSupplyCall {})
        .await
        .map_err(|e| {
            Error::InvalidInput(format!(
                "--token {address}: the contract does not answer ERC-20 totalSupply() ({e})"
            ))
        })?;
    Ok(TokenEntry {
        address,
        origin: TokenOrigin::Existing,
        code_hash: keccak256(&code),
        transaction: None,
        block: None,
        constructor_args: None,
        artifact: None,
    })
}

/// Now, RFC 3339 in UTC to the second.
fn now() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second())
        .unwrap_or(now)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> DeployRequest {
        DeployRequest {
            rpc_url: "http://127.0.0.1:1".into(),
            deployments_dir: "/nonexistent".into(),
            key: KeySource::Env("X".into()),
            token: TokenRequest::default(),
            challenge_period: None,
            mode: Mode::Ensure,
            build: None,
            tx: TxOptions::default(),
        }
    }

    #[test]
    fn bad_requests_are_refused_before_any_rpc() {
        let cases: [fn(&mut DeployRequest); 8] = [
            |r| r.challenge_period = Some(0),
            |r| r.challenge_period = Some(MAX_CHALLENGE_PERIOD + 1),
            |r| {
                r.token.existing = Some(Address::repeat_byte(1));
                r.token.symbol = Some("X".into());
            },
            |r| r.token.existing = Some(Address::ZERO),
            |r| r.token.name = Some(String::new()),
            |r| r.token.supply = Some(U256::ZERO),
            |r| r.token.holder = Some(Address::ZERO),
            |r| r.tx.confirmations = 0,
        ];
        for (i, case) in cases.iter().enumerate() {
            let mut r = request();
            case(&mut r);
            let err = validate(&r).unwrap_err();
            assert_eq!(err.code(), "invalid_input", "case {i}: {err}");
        }
        validate(&request()).unwrap();
        let mut r = request();
        r.challenge_period = Some(MAX_CHALLENGE_PERIOD);
        validate(&r).unwrap();
    }

    #[test]
    fn the_build_is_the_newest_the_chain_runs() {
        let chain = |cancun, istanbul| ChainProbe {
            cancun,
            push0: cancun,
            istanbul,
            base_fee: None,
        };
        let prague = chain(true, true);
        let berlin = chain(false, true);
        let petersburg = chain(false, false);
        assert_eq!(pick_build(&prague, None, 1).unwrap(), Build::Current);
        assert_eq!(pick_build(&berlin, None, 1).unwrap(), Build::Legacy);
        assert_eq!(
            pick_build(&prague, Some(Build::Legacy), 1).unwrap(),
            Build::Legacy
        );
        for (probe, forced) in [
            (petersburg, None),
            (berlin, Some(Build::Current)),
            (petersburg, Some(Build::Legacy)),
        ] {
            let err = pick_build(&probe, forced, 1029).unwrap_err();
            assert_eq!(err.code(), "unsupported_chain", "{err}");
            assert!(err.to_string().contains("chain 1029"), "{err}");
        }
    }

    #[test]
    fn timestamps_are_rfc3339_seconds() {
        let t = now();
        assert!(t.ends_with('Z') && !t.contains('.'), "{t}");
        assert!(t.parse::<jiff::Timestamp>().is_ok());
    }
}
