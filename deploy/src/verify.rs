//! Checks that a manifest's deployment is on the chain, exactly as recorded.
//!
//! For the escrow (and a token this tool deployed): the runtime code is the embedded artifact's — of the
//! build the manifest names by its EVM version — with the immutables masked, the immutables hold the constructor arguments and the EIP-712 domain of that chain
//! and address ([`crate::code`]), and the getters (`TOKEN()`, `CHALLENGE_PERIOD()`, `eip712Domain()`,
//! `name()`, `symbol()`) return them. For a pre-existing token: it has code and the code hash is the
//! recorded one. Then the deployment blocks still have the recorded hashes.

use alloy::{
    primitives::{Address, B256, U256, keccak256},
    providers::DynProvider,
};
use piecepay_protocol::{
    bindings::{ChannelEscrow, PieceToken},
    eip712::{DOMAIN_NAME, DOMAIN_VERSION},
};

use crate::{
    Artifact, Error, Manifest, Result,
    artifacts::Build,
    chain,
    code::{eip712_immutables, match_runtime, multiset_difference},
    manifest::{ArtifactInfo, BlockRef, TokenOrigin},
};

/// OpenZeppelin's `ERC20Permit` signs in an EIP-712 domain of this version.
const TOKEN_DOMAIN_VERSION: &str = "1";

/// What a successful verification checked, one line per check, for the operator.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The checks that passed.
    pub checks: Vec<String>,
}

/// Verifies `manifest` against the chain behind `provider` (whose chain id must be the manifest's).
pub async fn verify(provider: &DynProvider, manifest: &Manifest) -> Result<Report> {
    let mut report = Report::default();
    let chain_id = manifest.chain_id;
    let found = chain::chain_id(provider).await?;
    if found != chain_id {
        return Err(Error::InvalidInput(format!(
            "the RPC endpoint is chain {found}, the manifest is for chain {chain_id}"
        )));
    }

    // Token.
    let token = &manifest.token;
    let code = existing_code(provider, "token", token.address, chain_id).await?;
    match (token.origin, &token.constructor_args) {
        (TokenOrigin::Deployed, Some(args)) => {
            let artifact = match &token.artifact {
                Some(info) => recorded_build(info, "token", token.address)?.token()?,
                None => Artifact::token()?,
            };
            let values = runtime(artifact, "token", token.address, &code)?;
            let expected =
                eip712_immutables(&args.name, TOKEN_DOMAIN_VERSION, chain_id, token.address);
            check_immutables("token", token.address, &values, &expected)?;
            let name = chain::call(provider, token.address, PieceToken::nameCall {}).await?;
            let symbol = chain::call(provider, token.address, PieceToken::symbolCall {}).await?;
            expect_eq("token", token.address, "name()", &name, &args.name)?;
            expect_eq("token", token.address, "symbol()", &symbol, &args.symbol)?;
            report.checks.push(format!(
                "token {}: PieceToken runtime code and its {} immutables match the artifact ({}, evm_version {})",
                token.address,
                values.len(),
                artifact.compiler,
                artifact.evm_version
            ));
            report
                .checks
                .push(format!("token name {name:?}, symbol {symbol:?}"));
        }
        (TokenOrigin::Deployed, None) => {
            return Err(Error::InvalidInput(
                "the manifest's deployed token has no constructor_args".into(),
            ));
        }
        (TokenOrigin::Existing, _) => {
            report.checks.push(format!(
                "token {}: existing contract, code present",
                token.address
            ));
        }
    }
    expect_code_hash("token", token.address, &code, token.code_hash)?;
    report
        .checks
        .push(format!("token code hash {}", token.code_hash));

    // Escrow.
    let escrow = &manifest.escrow;
    let args = escrow.constructor_args;
    let code = existing_code(provider, "escrow", escrow.address, chain_id).await?;
    let artifact = recorded_build(&escrow.artifact, "escrow", escrow.address)?.escrow()?;
    let values = runtime(artifact, "escrow", escrow.address, &code)?;
    let mut expected = vec![
        args.token.into_word(),
        B256::from(U256::from(args.challenge_period)),
    ];
    expected.extend(eip712_immutables(
        DOMAIN_NAME,
        DOMAIN_VERSION,
        chain_id,
        escrow.address,
    ));
    check_immutables("escrow", escrow.address, &values, &expected)?;
    let onchain_token = chain::call(provider, escrow.address, ChannelEscrow::TOKENCall {}).await?;
    expect_eq(
        "escrow",
        escrow.address,
        "TOKEN()",
        &onchain_token,
        &args.token,
    )?;
    let period = chain::call(
        provider,
        escrow.address,
        ChannelEscrow::CHALLENGE_PERIODCall {},
    )
    .await?;
    let period = period.to::<u64>();
    expect_eq(
        "escrow",
        escrow.address,
        "CHALLENGE_PERIOD()",
        &period,
        &args.challenge_period,
    )?;
    let domain = chain::call(provider, escrow.address, ChannelEscrow::eip712DomainCall {}).await?;
    expect_eq(
        "escrow",
        escrow.address,
        "eip712Domain().name",
        &domain.name.as_str(),
        &DOMAIN_NAME,
    )?;
    expect_eq(
        "escrow",
        escrow.address,
        "eip712Domain().chainId",
        &domain.chainId,
        &U256::from(chain_id),
    )?;
    expect_eq(
        "escrow",
        escrow.address,
        "eip712Domain().verifyingContract",
        &domain.verifyingContract,
        &escrow.address,
    )?;
    let separator = chain::call(
        provider,
        escrow.address,
        ChannelEscrow::DOMAIN_SEPARATORCall {},
    )
    .await?;
    expect_eq(
        "escrow",
        escrow.address,
        "DOMAIN_SEPARATOR()",
        &separator,
        &piecepay_protocol::domain(chain_id, escrow.address).separator(),
    )?;
    expect_code_hash("escrow", escrow.address, &code, escrow.code_hash)?;
    report.checks.push(format!(
        "escrow {}: ChannelEscrow runtime code and its {} immutables match the artifact ({}, evm_version {})",
        escrow.address,
        values.len(),
        artifact.compiler,
        artifact.evm_version
    ));
    report.checks.push(format!(
        "escrow TOKEN() = {onchain_token}, CHALLENGE_PERIOD() = {period} s, EIP-712 domain {:?} v{} on chain {chain_id}",
        domain.name, domain.version
    ));

    // Blocks.
    let mut blocks = vec![manifest.deployment_block, escrow.block];
    blocks.extend(token.block);
    for recorded in blocks {
        check_block(provider, recorded).await?;
    }
    report.checks.push(format!(
        "deployment block {} {} is on chain",
        manifest.deployment_block.number, manifest.deployment_block.hash
    ));
    Ok(report)
}

async fn existing_code(
    provider: &DynProvider,
    contract: &'static str,
    address: Address,
    chain_id: u64,
) -> Result<alloy::primitives::Bytes> {
    let code = chain::code_at(provider, address).await?;
    if code.is_empty() {
        return Err(Error::ContractMissing {
            contract,
            address,
            chain_id,
        });
    }
    Ok(code)
}

/// The embedded build a manifest's artifact entry names.
fn recorded_build(info: &ArtifactInfo, contract: &'static str, address: Address) -> Result<Build> {
    Build::for_evm_version(&info.evm_version).ok_or_else(|| Error::CodeMismatch {
        contract,
        address,
        reason: format!(
            "the manifest records a build for evm_version {:?}; this tool embeds builds for {}",
            info.evm_version,
            Build::ALL
                .iter()
                .filter_map(|b| b.evm_version().ok())
                .collect::<Vec<_>>()
                .join(" and ")
        ),
    })
}

fn runtime(
    artifact: &Artifact,
    contract: &'static str,
    address: Address,
    code: &[u8],
) -> Result<Vec<B256>> {
    match_runtime(artifact, code).map_err(|reason| Error::CodeMismatch {
        contract,
        address,
        reason,
    })
}

fn check_immutables(
    contract: &'static str,
    address: Address,
    found: &[B256],
    expected: &[B256],
) -> Result<()> {
    let (missing, unexpected) = multiset_difference(found, expected);
    if missing.is_empty() && unexpected.is_empty() {
        return Ok(());
    }
    Err(Error::ImmutableMismatch {
        contract,
        address,
        reason: format!(
            "immutables differ from the manifest's constructor arguments and EIP-712 domain: expected \
             {missing:?}, found {unexpected:?} instead"
        ),
    })
}

fn expect_eq<T: PartialEq + std::fmt::Debug>(
    contract: &'static str,
    address: Address,
    what: &str,
    found: &T,
    expected: &T,
) -> Result<()> {
    if found == expected {
        return Ok(());
    }
    Err(Error::ImmutableMismatch {
        contract,
        address,
        reason: format!("{what} is {found:?}, the manifest says {expected:?}"),
    })
}

fn expect_code_hash(
    contract: &'static str,
    address: Address,
    code: &[u8],
    expected: B256,
) -> Result<()> {
    let found = keccak256(code);
    if found == expected {
        return Ok(());
    }
    Err(Error::CodeMismatch {
        contract,
        address,
        reason: format!("code hash is {found}, the manifest recorded {expected}"),
    })
}

async fn check_block(provider: &DynProvider, recorded: BlockRef) -> Result<()> {
    let found = chain::block(provider, recorded.number).await?;
    match found {
        Some(b) if b.hash == recorded.hash => Ok(()),
        other => Err(Error::BlockMismatch {
            number: recorded.number,
            expected: recorded.hash,
            found: other.map_or(B256::ZERO, |b| b.hash),
        }),
    }
}
