//! `piecepay-deploy`: deploys the token and the escrow to an EVM JSON-RPC endpoint and writes
//! `<deployments-dir>/<chainId>.json`; against a chain that has a manifest, verifies it instead.
//! See docs/deploy.md.

use std::{io::Write, path::PathBuf, process::ExitCode, time::Duration};

use alloy::primitives::{Address, U256};
use anyhow::Context as _;
use clap::Parser;
use piecepay_deploy::{
    artifacts::Build,
    chain::TxOptions,
    deploy::{self, DeployRequest, Mode, Outcome, TokenRequest, TxCost},
    signer::{KEY_ENV, KeySource, PASSWORD_ENV},
};

/// Deploys piecepay's PieceToken (or uses an existing ERC-20) and ChannelEscrow to any EVM JSON-RPC
/// endpoint, verifies the code on chain against the embedded forge artifacts and writes the chain's
/// manifest. A chain that already has a manifest is verified and reported, not deployed to again.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// The chain's JSON-RPC endpoint.
    #[arg(long, env = "PIECEPAY_RPC_URL")]
    rpc_url: String,

    /// Environment variable holding the deployer's hex private key.
    #[arg(long, default_value = KEY_ENV, value_name = "VAR")]
    key_env: String,

    /// Encrypted JSON keystore of the deployer (instead of --key-env).
    #[arg(long, env = "PIECEPAY_KEYSTORE", value_name = "FILE")]
    keystore: Option<PathBuf>,

    /// Environment variable holding the keystore's password; when unset, the password is prompted for.
    #[arg(long, default_value = PASSWORD_ENV, value_name = "VAR")]
    password_env: String,

    /// The escrow's unilateral-close challenge window: seconds, or with a unit (90m, 24h, 7d).
    /// Default 24h when deploying.
    #[arg(long, env = "PIECEPAY_CHALLENGE_PERIOD", value_parser = parse_duration, value_name = "DURATION")]
    challenge_period: Option<u64>,

    /// Use this existing ERC-20 instead of deploying a PieceToken.
    #[arg(long, value_name = "ADDRESS")]
    token: Option<Address>,

    /// The new PieceToken's name (and EIP-712 domain name). Default "Piece".
    #[arg(long, value_name = "NAME")]
    token_name: Option<String>,

    /// The new PieceToken's symbol. Default "PIECE".
    #[arg(long, value_name = "SYMBOL")]
    token_symbol: Option<String>,

    /// The new PieceToken's fixed supply in base units (decimal; 18 decimals). Default 10^27 (10^9 tokens).
    #[arg(long, value_parser = parse_u256, value_name = "AMOUNT")]
    token_supply: Option<U256>,

    /// Who receives the new PieceToken's supply. Default: the deployer.
    #[arg(long, value_name = "ADDRESS")]
    token_holder: Option<Address>,

    /// Directory of the per-chain manifests, relative to the current directory (from the repository's
    /// root the default is the repository's own).
    #[arg(
        long,
        env = "PIECEPAY_DEPLOYMENTS_DIR",
        value_name = "DIR",
        default_value = "deploy/deployments"
    )]
    deployments_dir: PathBuf,

    /// Deploy anew even if the chain has a manifest, and overwrite it (e.g. after a devnet restart).
    #[arg(long, visible_alias = "force", conflicts_with = "verify_only")]
    replace: bool,

    /// Only verify the chain's manifest; never deploy (an error if there is none).
    #[arg(long)]
    verify_only: bool,

    /// Blocks each deployment transaction must be buried under before it counts.
    #[arg(long, default_value_t = 1, value_name = "N")]
    confirmations: u64,

    /// Seconds to wait for each transaction's confirmations.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    timeout: u64,

    /// Send legacy (pre-EIP-1559) transactions priced at eth_gasPrice even though the chain has a base
    /// fee (on a chain without one they are legacy anyway).
    #[arg(long)]
    legacy: bool,

    /// Which build of the contracts to deploy: `auto` probes the chain and takes the current build
    /// (evm_version prague) where it runs, else the legacy one (berlin); `current` or `legacy` insists
    /// (still refused on a chain that cannot run it).
    #[arg(long, value_enum, default_value_t = BuildArg::Auto)]
    build: BuildArg,

    /// Print the manifest as JSON on stdout (progress stays on stderr).
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum BuildArg {
    /// The newest build the chain runs.
    Auto,
    /// contracts/out/ (evm_version prague).
    Current,
    /// contracts/out-legacy/ (evm_version berlin).
    Legacy,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    piecepay_deploy::exit_code(run(Cli::parse()).await)
}

/// Writes a line, whatever becomes of it: a closed terminal or pipe (`| head`, a killed log reader) must
/// not stop a deployment half way — the println! family panics on a write error.
fn say(out: &mut impl Write, line: &str) {
    let _ = writeln!(out, "{line}");
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let key = match cli.keystore {
        Some(path) => KeySource::Keystore {
            path,
            password_env: cli.password_env,
        },
        None => KeySource::Env(cli.key_env),
    };
    let mode = if cli.replace {
        Mode::Replace
    } else if cli.verify_only {
        Mode::VerifyOnly
    } else {
        Mode::Ensure
    };
    let request = DeployRequest {
        rpc_url: cli.rpc_url,
        deployments_dir: cli.deployments_dir,
        key,
        token: TokenRequest {
            existing: cli.token,
            name: cli.token_name,
            symbol: cli.token_symbol,
            supply: cli.token_supply,
            holder: cli.token_holder,
        },
        challenge_period: cli.challenge_period,
        mode,
        build: match cli.build {
            BuildArg::Auto => None,
            BuildArg::Current => Some(Build::Current),
            BuildArg::Legacy => Some(Build::Legacy),
        },
        tx: TxOptions {
            confirmations: cli.confirmations,
            timeout: Duration::from_secs(cli.timeout),
            legacy: cli.legacy,
        },
    };
    let mut stderr = std::io::stderr();
    let outcome = deploy::run(&request, &mut |line| say(&mut stderr, line)).await?;
    let (verb, path, report, costs) = match &outcome {
        Outcome::Deployed {
            path,
            report,
            costs,
            ..
        } => ("deployed", path, report, &costs[..]),
        Outcome::Existing { path, report, .. } => {
            ("existing deployment verified", path, report, &[][..])
        }
    };
    for check in &report.checks {
        say(&mut stderr, &format!("  ok: {check}"));
    }
    let manifest = outcome.manifest();
    let mut stdout = std::io::stdout();
    if cli.json {
        let json = serde_json::to_string_pretty(manifest).context("serializing the manifest")?;
        say(&mut stdout, &json);
        // The summary is for people: beside the JSON, not in it.
        for line in cost_summary(costs) {
            say(&mut stderr, &line);
        }
    } else {
        let shown = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        let lines = [
            format!("{verb} on chain {}", manifest.chain_id),
            format!("  manifest  {}", shown.display()),
            format!("  token     {}", manifest.token.address),
            format!("  escrow    {}", manifest.escrow.address),
            format!(
                "  challenge {} s",
                manifest.escrow.constructor_args.challenge_period
            ),
            format!(
                "  evm       {}",
                build_name(&manifest.escrow.artifact.evm_version)
            ),
            format!(
                "  block     {} {}",
                manifest.deployment_block.number, manifest.deployment_block.hash
            ),
        ];
        for line in lines.into_iter().chain(cost_summary(costs)) {
            say(&mut stdout, &line);
        }
    }
    Ok(())
}

/// The build an EVM version names, for people: `legacy build (evm_version berlin)`.
fn build_name(evm_version: &str) -> String {
    match Build::for_evm_version(evm_version) {
        Some(build) => format!("{build} build (evm_version {evm_version})"),
        None => format!("evm_version {evm_version}"),
    }
}

/// Gas and cost per deployment transaction and in total, in the chain's coin (10^18 wei).
fn cost_summary(costs: &[TxCost]) -> Vec<String> {
    if costs.is_empty() {
        return Vec::new();
    }
    let coin = |wei: u128| {
        format!(
            "{}.{:06}",
            wei / 10u128.pow(18),
            wei % 10u128.pow(18) / 10u128.pow(12)
        )
    };
    let gwei = |wei: u128| {
        format!(
            "{}.{:03}",
            wei / 1_000_000_000,
            wei % 1_000_000_000 / 1_000_000
        )
    };
    let mut lines = vec!["  gas:".to_owned()];
    for c in costs {
        lines.push(format!(
            "    {:<14} {:>9} gas at {} gwei = {} (tx {})",
            c.contract,
            c.gas_used,
            gwei(c.gas_price),
            coin(c.wei()),
            c.transaction
        ));
    }
    let gas: u64 = costs.iter().map(|c| c.gas_used).sum();
    let wei: u128 = costs.iter().map(TxCost::wei).sum();
    lines.push(format!(
        "    {:<14} {gas:>9} gas, {} of the chain's coin",
        "total",
        coin(wei)
    ));
    lines
}

/// Seconds, or a number with a unit s, m, h or d.
fn parse_duration(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit {unit:?}: use s, m, h or d")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 86400, 90m, 24h, 7d)"))?;
    n.checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too long"))
}

fn parse_u256(text: &str) -> Result<U256, String> {
    let digits: String = text.chars().filter(|c| *c != '_').collect();
    U256::from_str_radix(&digits, 10)
        .map_err(|e| format!("{text:?} is not a decimal amount of base units: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("86400"), Ok(86_400));
        assert_eq!(parse_duration("90m"), Ok(5_400));
        assert_eq!(parse_duration("24h"), Ok(86_400));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        for bad in ["", "d", "1w", "1.5h", "-1", "99999999999999999999"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn amounts() {
        assert_eq!(parse_u256("1_000"), Ok(U256::from(1_000)));
        assert!(parse_u256("0x10").is_err());
        assert!(parse_u256("1e18").is_err());
    }

    #[test]
    fn costs_are_summed_in_the_chain_s_coin() {
        let costs = [
            TxCost {
                contract: "PieceToken",
                transaction: Default::default(),
                gas_used: 1_000_000,
                gas_price: 1_500_000_000,
            },
            TxCost {
                contract: "ChannelEscrow",
                transaction: Default::default(),
                gas_used: 2_000_000,
                gas_price: 1_000_000_000,
            },
        ];
        let lines = cost_summary(&costs);
        assert!(
            lines[1].contains("1000000 gas at 1.500 gwei = 0.001500"),
            "{lines:?}"
        );
        assert!(lines[3].contains("3000000 gas, 0.003500"), "{lines:?}");
        assert!(cost_summary(&[]).is_empty());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
