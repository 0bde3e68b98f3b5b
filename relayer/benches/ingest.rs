//! `make bench-relayer`: receipt ingest throughput of a real relayer process over HTTP, on SQLite and on
//! PostgreSQL, the signature recovery ceiling of this machine, and the latency at a moderate rate.
//!
//! The relayer runs as its own process (`piecepay-relayer run`), its channel table seeded with 10,000
//! open channels; this process is the load generator. Receipts are signed before the clock starts, so
//! the load generator spends its time sending. Every receipt must come back `accepted`, and after the
//! relayer exits its database must hold every channel's last acknowledged receipt: only then does a line
//! say `durable=yes`.
//!
//! Prints exactly:
//! ```text
//! relayer ingest receipts_per_s=N durable=yes db=sqlite
//! relayer ingest receipts_per_s=N durable=yes db=postgres
//! relayer recover_ceiling receipts_per_s=M
//! relayer p99_ms=X rate=R
//! ```
//! Knobs (environment): `BENCH_RELAYER_ROUNDS` (receipts per channel, default 12),
//! `BENCH_RELAYER_CONCURRENCY` (requests in flight, default 8), `BENCH_RELAYER_RATE` (receipts/s of
//! the latency run, default 1000), `BENCH_RELAYER_DB` (`sqlite` or `postgres`: only that ingest line),
//! `BENCH_RELAYER_LOG` (the relayer's `RUST_LOG`, default `warn`; `piecepay_relayer::ingest=debug`
//! logs each group commit's phases).

#![allow(missing_docs)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use piecepay_protocol::{
    Receipt, SigningKey, SolStruct,
    alloy_primitives::{Address, B256, address, aliases::U96},
    domain,
    relayer_api::{ReceiptSubmission, SubmitReceiptsRequest},
};
use piecepay_relayer::{Store, store::ChannelRecord};
use piecepay_test_support::{
    TempDir,
    postgres::PostgresServer,
    relayer::{Relayer, RelayerCommand},
    sqlite_url, temp_dir,
};

const CHAIN_ID: u64 = 31_337;
const ESCROW: Address = address!("0xE5e5E5E5e5e5E5E5E5E5e5E5e5e5e5E5e5e5e5e5");
const PAYERS: u32 = 100;
const SALTS: u32 = 100;
const CHANNELS: usize = (PAYERS * SALTS) as usize;
const PER_REQUEST: usize = 500;
const UNIT: u128 = 1_000;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Fixture {
    payers: Vec<SigningKey>,
    payee: Address,
    channels: Vec<ChannelRecord>,
}

impl Fixture {
    fn new() -> Self {
        let payers: Vec<_> = (0..PAYERS)
            .map(|i| {
                let mut bytes = [0x11u8; 32];
                bytes[28..].copy_from_slice(&(i + 1).to_be_bytes());
                SigningKey::from_bytes(&B256::from(bytes)).unwrap()
            })
            .collect();
        let payee = Address::repeat_byte(0x50);
        let channels = payers
            .iter()
            .flat_map(|payer| {
                (0..SALTS).map(move |salt| ChannelRecord {
                    channel_id: piecepay_protocol::channel_id(payer.address(), payee, salt),
                    payer: payer.address(),
                    payee,
                    salt,
                    state: piecepay_protocol::relayer_api::ChannelState::Open,
                    deposit: u128::MAX >> 40,
                    settled: 0,
                    closes_at: None,
                    updated_block: 1,
                })
            })
            .collect();
        Self {
            payers,
            payee,
            channels,
        }
    }

    /// Request bodies for `rounds` receipts per channel (round r pays (r + 1) × UNIT), each body
    /// carrying PER_REQUEST distinct channels; signed on every core.
    fn bodies(&self, rounds: usize, first_round: usize) -> Vec<Vec<u8>> {
        let domain = domain(CHAIN_ID, ESCROW);
        let jobs: Vec<(usize, usize)> = (first_round..first_round + rounds)
            .flat_map(|round| {
                (0..CHANNELS)
                    .step_by(PER_REQUEST)
                    .map(move |start| (round, start))
            })
            .collect();
        let next = AtomicUsize::new(0);
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let mut out: Vec<Option<Vec<u8>>> = vec![None; jobs.len()];
        let slots: Vec<std::sync::Mutex<&mut Option<Vec<u8>>>> =
            out.iter_mut().map(std::sync::Mutex::new).collect();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&(round, start)) = jobs.get(i) else {
                            break;
                        };
                        let receipts = (start..(start + PER_REQUEST).min(CHANNELS))
                            .map(|c| {
                                let payer = &self.payers[c / SALTS as usize];
                                let receipt = Receipt {
                                    payee: self.payee,
                                    salt: (c % SALTS as usize) as u32,
                                    cumulative: U96::from((round as u128 + 1) * UNIT),
                                };
                                let signature = payer
                                    .sign_digest(&receipt.eip712_signing_hash(&domain))
                                    .unwrap();
                                ReceiptSubmission::new(&receipt, &signature)
                            })
                            .collect();
                        let body = serde_json::to_vec(&SubmitReceiptsRequest::new(
                            CHAIN_ID, ESCROW, receipts,
                        ))
                        .unwrap();
                        **slots[i].lock().unwrap() = Some(body);
                    }
                });
            }
        });
        drop(slots);
        out.into_iter().map(Option::unwrap).collect()
    }
}

/// A relayer process on `database_url` (its config in a temp dir), stopped with SIGTERM; SIGKILLed if
/// dropped while running.
struct Node {
    relayer: Relayer,
    _dir: TempDir,
}

impl Node {
    fn start(database_url: &str) -> Self {
        let dir = temp_dir();
        let config = dir.path().join("relayer.toml");
        std::fs::write(
            &config,
            format!(
                "[chain]\nchain_id = {CHAIN_ID}\nescrow = \"{ESCROW}\"\n\
                 [database]\nurl = \"{database_url}\"\nmax_connections = 8\n\
                 [api]\nlisten = \"127.0.0.1:0\"\nrate_limit_per_second = 0\n"
            ),
        )
        .unwrap();
        let log = std::env::var("BENCH_RELAYER_LOG").unwrap_or_else(|_| "warn".to_owned());
        let relayer = RelayerCommand::new(env!("CARGO_BIN_EXE_piecepay-relayer"), config)
            .env("RUST_LOG", &log)
            .start();
        Self { relayer, _dir: dir }
    }

    fn url(&self) -> String {
        format!("{}/v1/receipts", self.relayer.url())
    }

    fn stop(self) {
        self.relayer.stop();
    }
}

/// Sends every body with `concurrency` requests in flight; returns receipts/s. Panics unless every
/// receipt is accepted.
async fn blast(url: &str, bodies: Arc<Vec<Vec<u8>>>, concurrency: usize) -> f64 {
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, bodies, next, accepted) = (
                client.clone(),
                url.to_owned(),
                Arc::clone(&bodies),
                Arc::clone(&next),
                Arc::clone(&accepted),
            );
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    let response = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .expect("relayer reachable");
                    assert!(
                        response.status().is_success(),
                        "status {}",
                        response.status()
                    );
                    let text = response.text().await.unwrap();
                    let n = text.matches("\"status\":\"accepted\"").count();
                    assert_eq!(
                        n,
                        PER_REQUEST,
                        "not all accepted: {}",
                        &text[..text.len().min(300)]
                    );
                    accepted.fetch_add(n as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    accepted.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

async fn seed(url: &str, fixture: &Fixture) {
    let store = Store::open(url, 2).await.unwrap();
    store.upsert_channels(&fixture.channels).await.unwrap();
    store.close().await;
}

/// After the relayer exited: does the database hold every channel's last acknowledged receipt?
async fn durable(url: &str, fixture: &Fixture, last: u128) -> bool {
    let store = Store::connect(url, 2).await.unwrap();
    let ids: Vec<B256> = fixture.channels.iter().map(|c| c.channel_id).collect();
    let snapshots = store.snapshots(&ids).await.unwrap();
    store.close().await;
    ids.iter()
        .all(|id| snapshots.get(id).and_then(|s| s.held) == Some(last))
}

/// Request bodies, shared by the sending tasks.
type Bodies = Arc<Vec<Vec<u8>>>;

async fn ingest(
    db: &str,
    url: &str,
    fixture: &Fixture,
    warmup: &Bodies,
    bodies: &Bodies,
    rounds: usize,
    concurrency: usize,
) {
    seed(url, fixture).await;
    let relayer = Node::start(url);
    // A warm-up round (connections, prepared statements, page cache) is not timed.
    blast(&relayer.url(), Arc::clone(warmup), concurrency).await;
    let relayer_cpu = cpu_seconds(relayer.relayer.pid());
    let own_cpu = cpu_seconds(std::process::id());
    let started = Instant::now();
    let rate = blast(&relayer.url(), Arc::clone(bodies), concurrency).await;
    let wall = started.elapsed().as_secs_f64();
    // Where the two cores went, for tuning: the relayer's threads by name, and this process.
    let threads = thread_cpu(relayer.relayer.pid());
    eprintln!(
        "{db}: wall {wall:.2} s, cpu relayer {:.2} s {threads}, load generator {:.2} s",
        cpu_seconds(relayer.relayer.pid()) - relayer_cpu,
        cpu_seconds(std::process::id()) - own_cpu,
    );
    relayer.stop();
    let durable = durable(url, fixture, (rounds as u128 + 1) * UNIT).await;
    println!(
        "relayer ingest receipts_per_s={:.0} durable={} db={db}",
        rate,
        if durable { "yes" } else { "no" }
    );
}

/// User + system CPU seconds of process `pid` so far (Linux `/proc`; 0 elsewhere).
fn cpu_seconds(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(0.0, |stat| stat_cpu(&stat).1)
}

/// `(thread name, CPU seconds)` from a `/proc/…/stat` line.
fn stat_cpu(stat: &str) -> (String, f64) {
    let name = stat
        .split_once('(')
        .and_then(|(_, rest)| rest.rsplit_once(')'))
        .map_or("?", |(name, _)| name);
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    // After the name: state is field 3, utime 14 and stime 15 (1-based), in ticks of 1/100 s.
    let ticks = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<f64>().ok());
    let cpu = ticks(14).unwrap_or(0.0) + ticks(15).unwrap_or(0.0);
    (name.to_owned(), cpu / 100.0)
}

/// The CPU seconds of `pid`'s live threads, summed by thread name, e.g. `(tokio-runtime-w 3.1, …)`.
fn thread_cpu(pid: u32) -> String {
    let mut by_name: Vec<(String, f64)> = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (name, cpu) = stat_cpu(&stat);
        match by_name.iter_mut().find(|(n, _)| *n == name) {
            Some((_, total)) => *total += cpu,
            None => by_name.push((name, cpu)),
        }
    }
    let parts: Vec<String> = by_name
        .iter()
        .map(|(name, cpu)| format!("{name} {cpu:.2}"))
        .collect();
    format!("(threads since start: {})", parts.join(", "))
}

fn recover_ceiling() -> f64 {
    let key = SigningKey::from_bytes(&B256::repeat_byte(7)).unwrap();
    let domain = domain(CHAIN_ID, ESCROW);
    let receipt = Receipt {
        payee: Address::repeat_byte(2),
        salt: 1,
        cumulative: U96::from(5u8),
    };
    let digest = receipt.eip712_signing_hash(&domain);
    let signature = key.sign_digest(&digest).unwrap();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let window = Duration::from_secs(2);
    let started = Instant::now();
    let total: u64 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut n = 0u64;
                    while started.elapsed() < window {
                        for _ in 0..100 {
                            assert_eq!(signature.recover(&digest), Ok(key.address()));
                        }
                        n += 100;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    total as f64 / started.elapsed().as_secs_f64()
}

/// Single-receipt requests at a fixed `rate` per second for `seconds`, open loop; returns p99 in ms.
async fn latency(url: &str, fixture: &Fixture, rate: usize, seconds: usize) -> f64 {
    let domain = domain(CHAIN_ID, ESCROW);
    let count = rate * seconds;
    let bodies: Vec<Vec<u8>> = (0..count)
        .map(|i| {
            let c = i % CHANNELS;
            let receipt = Receipt {
                payee: fixture.payee,
                salt: (c % SALTS as usize) as u32,
                cumulative: U96::from(1_000_000 + i as u128),
            };
            let signature = fixture.payers[c / SALTS as usize]
                .sign_digest(&receipt.eip712_signing_hash(&domain))
                .unwrap();
            serde_json::to_vec(&SubmitReceiptsRequest::new(
                CHAIN_ID,
                ESCROW,
                vec![ReceiptSubmission::new(&receipt, &signature)],
            ))
            .unwrap()
        })
        .collect();
    let client = reqwest::Client::new();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for (i, body) in bodies.into_iter().enumerate() {
        tokio::time::sleep_until(started + interval * i as u32).await;
        let (client, url) = (client.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let response = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success());
            let text = response.text().await.unwrap();
            assert!(text.contains("\"accepted\""), "{text}");
            sent.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    for task in tasks {
        latencies.push(task.await.unwrap());
    }
    latencies.sort_unstable();
    latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)].as_secs_f64() * 1_000.0
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken from the command line.
    let rounds = env_or("BENCH_RELAYER_ROUNDS", 12);
    let concurrency = env_or("BENCH_RELAYER_CONCURRENCY", 8);
    let rate = env_or("BENCH_RELAYER_RATE", 1_000);
    // `sqlite` or `postgres`: only that engine's ingest line (a quick loop while tuning).
    let only = std::env::var("BENCH_RELAYER_DB").ok();
    let runs = |db: &str| only.as_deref().is_none_or(|o| o == db);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let fixture = Fixture::new();
    eprintln!(
        "signing {} receipts for {CHANNELS} channels…",
        (rounds + 1) * CHANNELS
    );
    let warmup = Arc::new(fixture.bodies(1, 0));
    let bodies = Arc::new(fixture.bodies(rounds, 1));
    runtime.block_on(async {
        let run = async |db: &str, url: &str| {
            ingest(db, url, &fixture, &warmup, &bodies, rounds, concurrency).await;
        };
        if runs("sqlite") {
            let dir = temp_dir();
            run("sqlite", &sqlite_url(dir.path(), "relayer.db")).await;
        }
        if runs("postgres") {
            let postgres = PostgresServer::start().unwrap();
            run("postgres", &postgres.create_database("bench").unwrap()).await;
        }
    });
    if only.is_some() {
        return;
    }
    println!(
        "relayer recover_ceiling receipts_per_s={:.0}",
        recover_ceiling()
    );
    runtime.block_on(async {
        let dir = temp_dir();
        let url = sqlite_url(dir.path(), "relayer.db");
        seed(&url, &fixture).await;
        let relayer = Node::start(&url);
        let p99 = latency(&relayer.url(), &fixture, rate, 3).await;
        relayer.stop();
        println!("relayer p99_ms={p99:.1} rate={rate}");
    });
}
