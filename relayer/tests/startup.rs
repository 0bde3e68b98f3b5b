//! What an operator sees, against a real anvil with the real contracts: every misconfiguration is one line
//! `error[<code>]: …` naming the key and the cause, before the node says `listening`; an unfunded signer
//! makes the node not ready and refuse gasless operations (`relayer_unfunded`) until it is funded, and a
//! transaction the node refused is never reported `submitted`; a gas price above `chain.max_gas_price` is
//! one warning and never paid; logs are JSON on request and never carry terminal colours into a file.

mod chain_support;

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use chain_support::{Engine, Net, RelayerProcess, wait_for};
use piecepay_protocol::{
    SigningKey,
    alloy_primitives::{Address, B256, U256},
    relayer_api::{OperationState, SubmitOperationsRequest, paths},
};
use piecepay_relayer_chain::alloy::providers::Provider;
use piecepay_test_support::read_listening_address;
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(60);

/// What a `piecepay-relayer` run that must fail printed.
struct Failure {
    code: String,
    line: String,
}

/// Runs `piecepay-relayer <args>` from `cwd` and expects it to fail before serving: exit status 1,
/// nothing on stdout, and a last stderr line `error[<code>]: <message>`.
fn fails(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Failure {
    let mut command = Command::new(env!("CARGO_BIN_EXE_piecepay-relayer"));
    for (name, _) in std::env::vars() {
        if name.starts_with("PIECEPAY_") {
            command.env_remove(name);
        }
    }
    let output = command
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(!stdout.contains("listening"), "served: {stdout}");
    let line = stderr.lines().last().unwrap_or_default().to_owned();
    let code = line
        .strip_prefix("error[")
        .and_then(|rest| rest.split_once(']'))
        .map(|(code, _)| code.to_owned())
        .unwrap_or_else(|| panic!("not one error line: {stderr}"));
    Failure { code, line }
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mistake_is_one_line_before_listening() {
    let mut net = Net::start(1, 3_600).await;
    let url = net.database_url(Engine::Sqlite, "startup");
    let good = std::fs::read_to_string(net.relayer_config(&url, "")).unwrap();
    let dir = net.dir.path().to_owned();
    let run = |name: &str, text: String, env: &[(&str, &str)]| {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        fails(&["run", "--config", path.to_str().unwrap()], &dir, env)
    };
    let with = |from: &str, to: &str| {
        assert!(good.contains(from), "{from}");
        good.replacen(from, to, 1)
    };
    let rpc = format!("rpc_url = \"{}\"", net.info.rpc_url);
    let closed = closed_port();
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&net.info.manifest).unwrap()).unwrap();
    let mut sepolia = manifest.clone();
    sepolia["chain_id"] = json!(11_155_111);
    let sepolia_path = dir.join("11155111.json");
    std::fs::write(&sepolia_path, sepolia.to_string()).unwrap();
    let manifest_line = format!("manifest = \"{}\"", net.info.manifest.display());
    let refused_rpc = format!("127.0.0.1:{closed}");
    let refused_pg = format!("postgres://postgres@127.0.0.1:{closed}/relayer");
    let cases: Vec<(&str, String, &str, Vec<&str>)> = vec![
        (
            "not-a-url",
            with(&rpc, "rpc_url = \"not a url\""),
            "config",
            vec!["chain.rpc_url", "not a URL"],
        ),
        (
            "no-scheme",
            with(&rpc, "rpc_url = \"localhost:8545\""),
            "config",
            vec!["chain.rpc_url", "http://"],
        ),
        (
            "websocket",
            with(&rpc, "rpc_url = \"ws://127.0.0.1:8545\""),
            "config",
            vec!["chain.rpc_url", "ws:// is not supported"],
        ),
        (
            "closed-rpc",
            with(&rpc, &format!("rpc_url = \"http://127.0.0.1:{closed}\"")),
            "chain",
            vec!["eth_chainId", &refused_rpc, "refused"],
        ),
        (
            "wrong-chain",
            with(
                &manifest_line,
                &format!("manifest = \"{}\"", sepolia_path.display()),
            ),
            "config",
            vec!["serves chain 31337", "11155111.json", "on chain 11155111"],
        ),
        (
            "no-escrow-code",
            with(
                &manifest_line,
                &format!(
                    "{manifest_line}\nescrow = \"{}\"",
                    Address::repeat_byte(0x42)
                ),
            ),
            "config",
            vec!["no contract at chain.escrow"],
        ),
        (
            "not-the-escrow",
            with(
                &manifest_line,
                &format!("{manifest_line}\nescrow = \"{}\"", net.info.token),
            ),
            "config",
            vec!["is not piecepay's escrow"],
        ),
        (
            "closed-postgres",
            with(
                &format!("url = \"{url}\""),
                &format!("url = \"postgres://postgres@127.0.0.1:{closed}/relayer\""),
            ),
            "database_unreachable",
            vec![&refused_pg, "refused"],
        ),
        (
            "bad-ca-file",
            format!("{good}\n[tls]\nca_file = \"relayer.key\"\n"),
            "config",
            vec!["tls.ca_file", "relayer.key"],
        ),
        (
            "typo",
            with("rate_limit_per_second", "rate_limit_per_sec"),
            "config",
            vec!["rate_limit_per_sec", "typo.toml"],
        ),
    ];
    for (name, text, code, words) in cases {
        let failure = run(name, text, &[]);
        assert_eq!(failure.code, code, "{name}: {}", failure.line);
        for word in words {
            assert!(
                failure.line.contains(word),
                "{name}: {word:?} in {}",
                failure.line
            );
        }
    }
    // A key the signer file does not hold.
    let failure = run(
        "no-key",
        with("[signer]\nkey_file", "[signer]\nkey_env = \"UNSET_KEY\"\n#"),
        &[],
    );
    assert!(failure.line.contains("UNSET_KEY"), "{}", failure.line);

    // A port another process holds: every check passed, the bind is what fails.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let failure = run(
        "taken-port",
        with(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        ),
        &[],
    );
    assert_eq!(failure.code, "config");
    assert!(failure.line.contains("api.listen"), "{}", failure.line);
}

#[test]
fn migrate_needs_a_complete_config_and_paths_follow_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config_dir = dir.path().join("etc");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let empty = config_dir.join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let failure = fails(
        &["migrate", "--config", empty.to_str().unwrap()],
        &elsewhere,
        &[],
    );
    assert_eq!(failure.code, "config");
    assert!(failure.line.contains("chain.chain_id"), "{}", failure.line);
    assert!(
        std::fs::read_dir(&elsewhere).unwrap().next().is_none(),
        "created nothing"
    );

    // A complete file: its relative SQLite path is next to it, wherever the node runs from.
    let config = config_dir.join("relayer.toml");
    std::fs::write(
        &config,
        format!(
            "[chain]\nchain_id = 31337\nescrow = \"{}\"\n[database]\nurl = \"sqlite://data.db\"\n",
            Address::repeat_byte(0xe5)
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_piecepay-relayer"))
        .args(["migrate", "--config", config.to_str().unwrap()])
        .current_dir(&elsewhere)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(config_dir.join("data.db").exists());
    assert!(!elsewhere.join("data.db").exists());
}

async fn ready(base: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{base}{}", paths::READY))
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn check<'a>(readiness: &'a Value, name: &str) -> &'a Value {
    readiness["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {readiness}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfunded_signer_is_not_ready_and_refuses_operations_until_funded() {
    let mut net = Net::start(1, 3_600).await;
    net.rpc(
        "anvil_setBalance",
        json!([net.relayer_address(), U256::ZERO]),
    )
    .await;
    let url = net.database_url(Engine::Sqlite, "unfunded");
    let config = net.relayer_config(&url, "");
    let relayer = RelayerProcess::start(&config, &net.dir.path().join("relayer.log"), &[]);

    // Ready in every other respect: the indexer catches up, the chain answers.
    let readiness = wait_for("the indexer to catch up", TIMEOUT, || async {
        let (status, body) = ready(&relayer.base).await;
        (check(&body, "indexer")["ok"] == true).then_some((status, body))
    })
    .await;
    assert_eq!(readiness.0, 503);
    assert_eq!(check(&readiness.1, "chain")["ok"], true);
    let signer = check(&readiness.1, "signer");
    assert_eq!(signer["ok"], false);
    assert!(
        signer["detail"].as_str().unwrap().contains("fund it"),
        "{signer}"
    );
    let metrics = relayer.client().metrics().await.unwrap();
    assert!(
        metrics.contains("piecepay_signer_balance_wei 0\n"),
        "{metrics}"
    );

    // Gasless operations are refused whole, with a code of their own.
    let payer = net.payers()[0];
    let payee = SigningKey::from_bytes(&net.payee()).unwrap().address();
    let now = net.client(&payer).await.block_timestamp().await.unwrap();
    let open = net.signed_open(&payer, payee, 3, 25, now + 3_600);
    let request = SubmitOperationsRequest::new(net.chain_id, net.info.escrow, vec![(&open).into()]);
    let response = reqwest::Client::new()
        .post(format!("{}{}", relayer.base, paths::OPERATIONS))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "relayer_unfunded", "{body}");
    // Receipts need no gas: still taken.
    relayer.open_indexed(&net, &payer, payee, 1, 1_000).await;
    relayer
        .submit(&net, vec![net.receipt(&payer, payee, 1, 10)])
        .await;

    // Funded: ready, and the operation goes through.
    net.rpc(
        "anvil_setBalance",
        json!([net.relayer_address(), U256::from(10u128.pow(20))]),
    )
    .await;
    wait_for("the node to be ready", TIMEOUT, || async {
        (ready(&relayer.base).await.0 == 200).then_some(())
    })
    .await;
    relayer.applied(&net, open).await;
}

/// Queues an open of the first payer's channel on `salt` with `relayer` and waits until its log says the
/// node refused the transaction; the operation's id.
async fn queue_an_open_the_node_refuses(net: &Net, relayer: &RelayerProcess, salt: u32) -> B256 {
    let payer = net.payers()[0];
    let payee = SigningKey::from_bytes(&net.payee()).unwrap().address();
    let now = net.client(&payer).await.block_timestamp().await.unwrap();
    let id = relayer
        .queue(net, net.signed_open(&payer, payee, salt, 25, now + 3_600))
        .await;
    wait_for("the node to refuse the transaction", TIMEOUT, || async {
        let log = std::fs::read_to_string(&relayer.log).unwrap_or_default();
        log.contains("the node refused a transaction").then_some(())
    })
    .await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_the_node_refused_is_not_reported_submitted() {
    let mut net = Net::start(1, 3_600).await;
    let url = net.database_url(Engine::Sqlite, "refused");
    let config = net.relayer_config(&url, "");
    // The node read its balance at start and will not again for a minute: it takes the operation, then
    // finds at broadcast that it cannot pay.
    let relayer = RelayerProcess::start(
        &config,
        &net.dir.path().join("relayer.log"),
        &[("PIECEPAY_RELAYER__CHAIN__MONITOR_INTERVAL_MS", "60000")],
    );
    net.rpc(
        "anvil_setBalance",
        json!([net.relayer_address(), U256::ZERO]),
    )
    .await;
    let id = queue_an_open_the_node_refuses(&net, &relayer, 4).await;
    for _ in 0..5 {
        let status = relayer.client().operation(id).await.unwrap().unwrap();
        assert_eq!(status.status, OperationState::Pending, "{status:?}");
        assert_eq!(status.transaction_hash, None);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    net.rpc(
        "anvil_setBalance",
        json!([net.relayer_address(), U256::from(10u128.pow(20))]),
    )
    .await;
    wait_for("the operation to be applied", TIMEOUT, || async {
        let status = relayer.client().operation(id).await.unwrap()?;
        (status.status == OperationState::Applied).then_some(())
    })
    .await;
    let refusals = std::fs::read_to_string(&relayer.log)
        .unwrap()
        .matches("the node refused a transaction")
        .count();
    assert!(
        refusals <= 2,
        "the same refusal is not logged every round: {refusals}"
    );
}

/// The start names the chain's fee market; a gas price above `chain.max_gas_price` is one warning with a
/// code (prices move, so the node still serves), and what the node signs at the cap waits, pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gas_price_above_the_cap_is_one_warning_and_never_paid() {
    let mut net = Net::start(1, 3_600).await;
    let url = net.database_url(Engine::Sqlite, "cap");
    let config = net.relayer_config(&url, "");
    let cap: u128 = 1_000_000; // 0.001 gwei: below anvil's price
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[chain]\n",
        &format!("[chain]\nmax_gas_price = \"{cap}\"\n"),
    );
    std::fs::write(&config, text).unwrap();
    let relayer = RelayerProcess::start(&config, &net.dir.path().join("relayer.log"), &[]);
    let log = std::fs::read_to_string(&relayer.log).unwrap();
    let checked = log
        .lines()
        .find(|l| l.contains("chain checked"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(checked.contains("fee_market=eip1559"), "{checked}");
    let warnings: Vec<_> = log
        .lines()
        .filter(|l| l.contains("gas_price_above_cap"))
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(
        warnings[0].contains("chain.max_gas_price"),
        "{}",
        warnings[0]
    );

    // An operation is signed at the cap, which is below the base fee: the node refuses it, and it stays
    // pending (anvil's base fee falls on empty blocks; under the cap it would be taken).
    let id = queue_an_open_the_node_refuses(&net, &relayer, 5).await;
    let status = relayer.client().operation(id).await.unwrap().unwrap();
    assert_eq!(status.status, OperationState::Pending, "{status:?}");
    assert_eq!(status.transaction_hash, None);
    let sent = net
        .provider
        .get_transaction_count(net.relayer_address())
        .pending()
        .await
        .unwrap();
    assert_eq!(sent, 0, "nothing in the pool or mined");
}

#[test]
fn logs_are_json_on_request_and_never_coloured_in_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("relayer.toml");
    std::fs::write(
        &config,
        format!(
            "[chain]\nchain_id = 31337\nescrow = \"{}\"\n[api]\nlisten = \"127.0.0.1:0\"\n",
            Address::repeat_byte(0xe5)
        ),
    )
    .unwrap();
    for format in ["text", "json"] {
        let log = dir.path().join(format!("{format}.log"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_piecepay-relayer"))
            .args(["--log-format", format, "run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .env_remove("NO_COLOR")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        read_listening_address(child.stdout.take().unwrap(), || {
            std::fs::read_to_string(&log).unwrap_or_default()
        });
        // "relayer serving" follows "listening on" closely; wait for it rather than race it.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(&log)
            .unwrap()
            .contains("relayer serving")
        {
            assert!(std::time::Instant::now() < deadline, "no log line");
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(!text.contains('\u{1b}'), "ANSI in a file: {text}");
        if format == "json" {
            for line in text.lines() {
                let value: Value =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                assert!(
                    value["level"].is_string() && value["fields"].is_object(),
                    "{line}"
                );
            }
        }
    }
}
