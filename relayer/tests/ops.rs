//! The operator's kit in `relayer/` and `relayer/ops/`, each piece checked for real: the example
//! configuration runs as it is against a devnet; the systemd unit passes `systemd-analyze verify` and its
//! command line and environment start the node; the alert rules pass `promtool check rules` and their
//! unit tests; the Grafana dashboard's queries are valid PromQL and name only metrics the node exports
//! (read from a running node's `/metrics`), as do the alerts.
//!
//! promtool comes from Debian's `prometheus` package (`make setup` installs it) and systemd-analyze from
//! `systemd`; a missing tool fails the test, it never skips.

mod chain_support;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use chain_support::{Net, RELAYER_KEY, wait_for};
use piecepay_protocol::relayer_api::paths;
use piecepay_test_support::read_listening_address;
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(60);

fn ops(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ops").join(file)
}

fn tool(name: &str, package: &str) -> PathBuf {
    let path = Path::new("/usr/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: install Debian's {package} (make setup does)",
        path.display()
    );
    path
}

/// Runs `program args` in `dir`; returns stdout and stderr, asserting it succeeded.
fn ok(program: &Path, args: &[&str], dir: &Path) -> (String, String) {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "{} {args:?}:\n{stdout}\n{stderr}",
        program.display()
    );
    (stdout, stderr)
}

#[test]
fn the_alert_rules_pass_promtool_and_their_tests() {
    let promtool = tool("promtool", "prometheus");
    let dir = ops("");
    let (stdout, _) = ok(&promtool, &["check", "rules", "alerts.yml"], &dir);
    assert!(stdout.contains("SUCCESS"), "{stdout}");
    let (stdout, _) = ok(&promtool, &["test", "rules", "alerts.test.yml"], &dir);
    assert!(stdout.contains("SUCCESS"), "{stdout}");
}

/// A node started from `argv`, with `env`, in `cwd`; killed on drop.
struct Started {
    child: Child,
    base: String,
}

impl Started {
    fn spawn(argv: &[String], env: &[(String, String)], log: &Path) -> Self {
        let mut command = Command::new(&argv[0]);
        for (name, _) in std::env::vars() {
            if name.starts_with("PIECEPAY_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .args(&argv[1..])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let address = read_listening_address(child.stdout.take().unwrap(), || {
            std::fs::read_to_string(log).unwrap_or_default()
        });
        Self {
            base: format!("http://{address}"),
            child,
        }
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn ready(base: &str) {
    wait_for("the node to be ready", TIMEOUT, || async {
        let response = reqwest::get(format!("{base}{}", paths::READY)).await.ok()?;
        (response.status() == 200).then_some(())
    })
    .await;
}

/// The values of `key=` lines of the unit's `[Service]` section, in order.
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_owned)
        .collect()
}

/// Every metric a node exports, from its exposition text: each `# TYPE` family, and for histograms its
/// `_bucket`, `_sum` and `_count` series.
fn exported(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        names.insert(name.to_owned());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

/// The `piecepay_*` metric names an expression reads.
fn referenced(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("piecepay_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.push(name);
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_config_and_the_unit_run_a_node_the_dashboard_and_alerts_fit() {
    let net = Net::start(1, 3_600).await;
    // The repository's layout, in a temporary root: the example beside a devnet manifest where it
    // expects one. The file is copied byte for byte.
    let root = net.dir.path().join("repo");
    std::fs::create_dir_all(root.join("relayer")).unwrap();
    std::fs::create_dir_all(root.join("deploy/deployments")).unwrap();
    let example = root.join("relayer/relayer.example.toml");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("relayer.example.toml"),
        &example,
    )
    .unwrap();
    std::fs::copy(
        &net.info.manifest,
        root.join("deploy/deployments/31337.json"),
    )
    .unwrap();
    let binary = env!("CARGO_BIN_EXE_piecepay-relayer").to_owned();
    // Only what differs on this machine: anvil's port (not 8545) and a free API port.
    let ports = [
        (
            "PIECEPAY_RELAYER__CHAIN__RPC_URL".to_owned(),
            net.info.rpc_url.clone(),
        ),
        (
            "PIECEPAY_RELAYER__API__LISTEN".to_owned(),
            "127.0.0.1:0".to_owned(),
        ),
    ];

    // 1. The example, as the file says to run it.
    let mut env = ports.to_vec();
    env.push(("PIECEPAY_RELAYER_KEY".to_owned(), RELAYER_KEY.to_string()));
    let argv = [
        binary.clone(),
        "run".into(),
        "--config".into(),
        example.display().to_string(),
    ];
    let node = Started::spawn(&argv, &env, &net.dir.path().join("example.log"));
    ready(&node.base).await;
    assert!(
        root.join("relayer/relayer.db").exists(),
        "the database is beside the file"
    );
    drop(node);

    // 2. The systemd unit: it verifies, and its command line and environment start the node (the
    // credential directory `%d` is a directory of the test's, holding the key).
    let systemd_analyze = tool("systemd-analyze", "systemd");
    let unit = std::fs::read_to_string(ops("piecepay-relayer.service")).unwrap();
    let credentials = net.dir.path().join("credentials");
    std::fs::create_dir_all(&credentials).unwrap();
    std::fs::write(credentials.join("relayer.key"), format!("{RELAYER_KEY}\n")).unwrap();
    let installed = unit
        .replace("/usr/local/bin/piecepay-relayer", &binary)
        .replace(
            "LoadCredential=relayer.key:/etc/piecepay/relayer.key",
            &format!(
                "LoadCredential=relayer.key:{}",
                credentials.join("relayer.key").display()
            ),
        );
    let unit_path = net.dir.path().join("piecepay-relayer.service");
    std::fs::write(&unit_path, &installed).unwrap();
    let (_, warnings) = ok(
        &systemd_analyze,
        &["verify", unit_path.to_str().unwrap()],
        net.dir.path(),
    );
    assert!(warnings.trim().is_empty(), "systemd-analyze: {warnings}");
    let exec = unit_values(&installed, "ExecStart");
    assert_eq!(exec.len(), 1);
    let argv: Vec<String> = exec[0]
        .split_whitespace()
        .map(|a| a.replace("/etc/piecepay/relayer.toml", &example.display().to_string()))
        .collect();
    let mut env = ports.to_vec();
    for assignment in unit_values(&installed, "Environment") {
        let (name, value) = assignment.split_once('=').unwrap();
        let value = value.replace("%d", &credentials.display().to_string());
        env.push((name.to_owned(), value));
    }
    let node = Started::spawn(&argv, &env, &net.dir.path().join("unit.log"));
    ready(&node.base).await;
    let log = std::fs::read_to_string(net.dir.path().join("unit.log")).unwrap();
    let first: Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert!(
        first["level"].is_string(),
        "the unit asks for JSON logs: {log}"
    );

    // 3. The dashboard and the alerts read only what the node exports.
    let client = reqwest::Client::new();
    client
        .get(format!("{}{}", node.base, paths::HEALTH))
        .send()
        .await
        .unwrap();
    let text = client
        .get(format!("{}{}", node.base, paths::METRICS))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exported = exported(&text);
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(ops("grafana-dashboard.json")).unwrap())
            .unwrap();
    let mut exprs = Vec::new();
    let mut ids = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "panel ids are unique"
        );
        for target in panel["targets"].as_array().unwrap() {
            exprs.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    assert!(exprs.len() >= 10);
    let alerts = std::fs::read_to_string(ops("alerts.yml")).unwrap();
    for (source, expr) in exprs
        .iter()
        .map(|e| ("dashboard", e.as_str()))
        .chain(std::iter::once(("alerts", alerts.as_str())))
    {
        let names = referenced(expr);
        assert!(!names.is_empty() || source == "alerts", "{expr}");
        for name in names {
            assert!(
                exported.contains(&name),
                "{source} reads {name}, which the node does not export: {expr}"
            );
        }
    }
    // The dashboard's queries are PromQL promtool accepts (as recording rules).
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, expr) in exprs.iter().enumerate() {
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::to_string(expr).unwrap()
        ));
    }
    let rules_path = net.dir.path().join("dashboard-rules.yml");
    std::fs::write(&rules_path, rules).unwrap();
    ok(
        &tool("promtool", "prometheus"),
        &["check", "rules", rules_path.to_str().unwrap()],
        net.dir.path(),
    );
}
