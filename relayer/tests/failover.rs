//! Two relayer processes on one PostgreSQL: both serve the API, exactly one leads, and when the leader
//! dies (SIGKILL) the other takes over.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::*;
use piecepay_protocol::relayer_api::{SubmitReceiptsRequest, paths};
use piecepay_relayer::{
    Store,
    test_support::{PostgresServer, TempDir},
};

struct Node {
    child: Child,
    base: String,
}

impl Node {
    fn start(dir: &TempDir, name: &str, database_url: &str) -> Self {
        let config = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "[chain]\nchain_id = {CHAIN_ID}\nescrow = \"{ESCROW}\"\n\
                 [database]\nurl = \"{database_url}\"\n[api]\nlisten = \"127.0.0.1:0\"\n"
            ),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_piecepay-relayer"))
            .args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .trim()
            .strip_prefix("listening on ")
            .expect("node started")
            .to_owned();
        Self {
            child,
            base: format!("http://{address}"),
        }
    }

    async fn is_leader(&self, client: &reqwest::Client) -> Option<bool> {
        let text = client
            .get(format!("{}{}", self.base, paths::METRICS))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("piecepay_leader "))
            .map(|v| v.trim() == "1")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_for(what: &str, timeout: Duration, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follower_takes_over_when_the_leader_dies() {
    let server = PostgresServer::start().unwrap();
    let url = server.create_database("failover").unwrap();
    let store = Store::open(&url, 2).await.unwrap();
    let channel = open_channel(payer().address(), payee().address(), 7, 1_000);
    store.upsert_channels(&[channel]).await.unwrap();
    let dir = TempDir::new("piecepay-failover").unwrap();
    let client = reqwest::Client::new();

    let first = Node::start(&dir, "a", &url);
    wait_for(
        "the first node to lead",
        Duration::from_secs(20),
        async || first.is_leader(&client).await == Some(true),
    )
    .await;
    let second = Node::start(&dir, "b", &url);
    wait_for(
        "the second node to serve",
        Duration::from_secs(20),
        async || second.is_leader(&client).await.is_some(),
    )
    .await;
    // Several election rounds pass: still exactly one leader.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(first.is_leader(&client).await, Some(true));
        assert_eq!(second.is_leader(&client).await, Some(false));
    }

    // Any node serves the API over the shared database.
    let body = SubmitReceiptsRequest::new(
        CHAIN_ID,
        ESCROW,
        vec![submission(&payer(), payee().address(), 7, 40)],
    );
    let response = client
        .post(format!("{}{}", second.base, paths::RECEIPTS))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let text = client
        .get(format!("{}/v1/channels/{}", first.base, channel.channel_id))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let status: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(status["latest_receipt"]["cumulative"], "40");

    let mut first = first;
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let started = Instant::now();
    wait_for(
        "the second node to take over",
        Duration::from_secs(20),
        async || second.is_leader(&client).await == Some(true),
    )
    .await;
    eprintln!("takeover after {:?}", started.elapsed());
    store.close().await;
}
