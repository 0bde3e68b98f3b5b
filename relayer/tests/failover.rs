//! Two relayer processes on one PostgreSQL: both serve the API, exactly one leads, and when the leader
//! dies (SIGKILL) the other takes over.

mod common;

use std::time::{Duration, Instant};

use common::*;
use piecepay_protocol::relayer_api::{SubmitReceiptsRequest, paths};
use piecepay_relayer::Store;
use piecepay_test_support::{
    TempDir,
    postgres::PostgresServer,
    relayer::{Relayer, RelayerCommand},
    temp_dir, wait_for,
};

struct Node {
    relayer: Relayer,
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
        let relayer = RelayerCommand::new(env!("CARGO_BIN_EXE_piecepay-relayer"), config).start();
        Self {
            base: relayer.url().to_owned(),
            relayer,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follower_takes_over_when_the_leader_dies() {
    let server = PostgresServer::start().unwrap();
    let url = server.create_database("failover").unwrap();
    let store = Store::open(&url, 2).await.unwrap();
    let channel = open_channel(payer().address(), payee().address(), 7, 1_000);
    store.upsert_channels(&[channel]).await.unwrap();
    let dir = temp_dir();
    let client = reqwest::Client::new();

    let first = Node::start(&dir, "a", &url);
    wait_for(
        "the first node to lead",
        Duration::from_secs(20),
        async || (first.is_leader(&client).await == Some(true)).then_some(()),
    )
    .await;
    let second = Node::start(&dir, "b", &url);
    wait_for(
        "the second node to serve",
        Duration::from_secs(20),
        async || second.is_leader(&client).await.map(drop),
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
    first.relayer.kill();
    let started = Instant::now();
    wait_for(
        "the second node to take over",
        Duration::from_secs(20),
        async || (second.is_leader(&client).await == Some(true)).then_some(()),
    )
    .await;
    eprintln!("takeover after {:?}", started.elapsed());
    store.close().await;
}
