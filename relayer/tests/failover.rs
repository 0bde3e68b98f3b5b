//! Two relayer processes on one PostgreSQL, each with the chain: both serve the API, exactly one leads,
//! the other says it stands by, and when the leader dies (SIGKILL) the other takes over.

mod chain_support;

use std::time::{Duration, Instant};

use chain_support::{Engine, Net, RelayerProcess, wait_for};
use piecepay_protocol::{SigningKey, relayer_api::paths};

async fn is_leader(node: &RelayerProcess, client: &reqwest::Client) -> Option<bool> {
    let text = client
        .get(format!("{}{}", node.base, paths::METRICS))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follower_stands_by_and_takes_over_when_the_leader_dies() {
    let mut net = Net::start(1, 3_600).await;
    let url = net.database_url(Engine::Postgres, "failover");
    let config = net.relayer_config(&url, "");
    let client = reqwest::Client::new();

    let first = RelayerProcess::start(&config, &net.dir.path().join("a.log"), &[]);
    wait_for(
        "the first node to lead",
        Duration::from_secs(30),
        || async { (is_leader(&first, &client).await == Some(true)).then_some(()) },
    )
    .await;
    let second = RelayerProcess::start(&config, &net.dir.path().join("b.log"), &[]);
    wait_for(
        "the second node to say it stands by",
        Duration::from_secs(30),
        || async {
            let log = std::fs::read_to_string(&second.log).unwrap_or_default();
            log.contains("standing by").then_some(())
        },
    )
    .await;
    // Several election rounds pass: still exactly one leader.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(is_leader(&first, &client).await, Some(true));
        assert_eq!(is_leader(&second, &client).await, Some(false));
    }

    // Any node serves the API over the shared database: a channel the leader indexed takes a receipt
    // through the follower.
    let payer = net.payers()[0];
    let payee = SigningKey::from_bytes(&net.payee()).unwrap().address();
    let opened = net
        .client(&payer)
        .await
        .open_channel(payee, 1, 1_000)
        .await
        .unwrap();
    wait_for(
        "the leader to index the open",
        Duration::from_secs(30),
        || async {
            second
                .client()
                .channel(opened.channel_id)
                .await
                .unwrap()
                .map(drop)
        },
    )
    .await;
    second
        .submit(&net, vec![net.receipt(&payer, payee, 1, 40)])
        .await;

    let mut first = first;
    first.kill();
    let started = Instant::now();
    wait_for(
        "the second node to take over",
        Duration::from_secs(30),
        || async { (is_leader(&second, &client).await == Some(true)).then_some(()) },
    )
    .await;
    eprintln!("takeover after {:?}", started.elapsed());
}
