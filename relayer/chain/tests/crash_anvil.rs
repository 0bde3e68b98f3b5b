//! kill -9 of the submitting process at each dangerous point, then a restart: every batch is settled
//! exactly once.
//!
//! The submitting process is this test binary run again as a child (`child_submitter_process`, which
//! does nothing unless [`CHILD_ENV`] is set) on a durable [`FileJournal`]. At the injected checkpoint it
//! prints a marker and stops; the parent kills it with SIGKILL there, starts it again without the crash
//! point and checks the chain: each batch mined once (one `ReceiptsSettled` per job, no `ReceiptSkipped`,
//! as many transactions from the relayer as jobs).

mod common;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, mpsc},
    thread,
    time::Duration,
};

use common::Devnet;
use piecepay_relayer_chain::{
    Checkpoint, FileJournal, Submitter, SubmitterConfig, TxId, TxJournal, TxState,
    alloy::{
        hex,
        primitives::{Address, Bytes},
        providers::Provider,
        signers::local::PrivateKeySigner,
    },
};
use piecepay_test_support::{chain::provider, keys::RELAYER_KEY};

/// Set in the child: the RPC URL; the other settings follow in their own variables.
const CHILD_ENV: &str = "PIECEPAY_CHAIN_CHILD_RPC";
const CRASH_MARKER: &str = "CHILD-AT-CRASH-POINT";
const DONE_MARKER: &str = "CHILD-ALL-CONFIRMED";
const JOBS: u64 = 3;

/// The child: a submitter on the file journal that enqueues the jobs (idempotent) and runs until all are
/// confirmed, mining a block per round. Does nothing in a normal test run.
#[test]
fn child_submitter_process() {
    let Ok(rpc) = std::env::var(CHILD_ENV) else {
        return;
    };
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let escrow: Address = var("PIECEPAY_CHAIN_CHILD_ESCROW").parse().unwrap();
    let journal_path = PathBuf::from(var("PIECEPAY_CHAIN_CHILD_JOURNAL"));
    let crash_at = var("PIECEPAY_CHAIN_CHILD_CRASH_AT");
    let jobs: Vec<Bytes> = var("PIECEPAY_CHAIN_CHILD_JOBS")
        .split(',')
        .map(|h| hex::decode(h).unwrap().into())
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let provider = provider(&rpc).await;
        let journal = Arc::new(FileJournal::open(&journal_path).unwrap());
        let mut config = SubmitterConfig::new(escrow);
        config.confirmations = 1;
        let signer = PrivateKeySigner::from_bytes(&RELAYER_KEY).unwrap();
        let hook = move |checkpoint: &Checkpoint| {
            let id = match checkpoint {
                Checkpoint::IntentRecorded { id, .. }
                | Checkpoint::Signed { id, .. }
                | Checkpoint::Broadcast { id, .. } => *id,
            };
            // Crash in the middle of the second job, with the first one in flight.
            if checkpoint.name() == crash_at && id == TxId(2) {
                say(&format!("{CRASH_MARKER} {}", checkpoint.name()));
                loop {
                    thread::park(); // the parent kills this process here
                }
            }
        };
        let mut submitter = Submitter::new(provider.clone(), signer, journal.clone(), config)
            .await
            .unwrap()
            .with_checkpoint(Arc::new(hook));
        for (i, calldata) in jobs.into_iter().enumerate() {
            submitter
                .enqueue(TxId(i as u64 + 1), calldata)
                .await
                .unwrap();
        }
        while !journal.unfinished().await.unwrap().is_empty() {
            submitter.tick().await.unwrap();
            provider
                .raw_request::<_, serde_json::Value>("anvil_mine".into(), [1])
                .await
                .unwrap();
        }
        say(DONE_MARKER);
    });
}

/// A line on the child's real stdout (the test harness captures `println!`, even with `--nocapture`
/// on some toolchains; writing to the handle does not go through the capture).
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The child process, killed (SIGKILL) on drop so a failing test leaves no orphan.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the child; returns it and its stdout lines.
fn spawn_child(
    net: &Devnet,
    journal: &Path,
    jobs: &str,
    crash_at: &str,
) -> (ChildGuard, mpsc::Receiver<String>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_submitter_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, net.anvil.url())
        .env("PIECEPAY_CHAIN_CHILD_ESCROW", net.escrow.to_string())
        .env("PIECEPAY_CHAIN_CHILD_JOURNAL", journal)
        .env("PIECEPAY_CHAIN_CHILD_CRASH_AT", crash_at)
        .env("PIECEPAY_CHAIN_CHILD_JOBS", jobs)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (ChildGuard(child), rx)
}

fn wait_for_line(lines: &mpsc::Receiver<String>, marker: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            // The harness's "test child_submitter_process ... " has no newline: the marker ends its line.
            Ok(line) if line.contains(marker) => return,
            Ok(_) => {}
            Err(e) => panic!("child never printed {marker}: {e}"),
        }
    }
}

async fn crash_and_restart(crash_at: &str) {
    let net = Devnet::start().await;
    let payee = Address::repeat_byte(0xee);
    let payers = net.open_channels(3, payee).await;
    let relayer = PrivateKeySigner::from_bytes(&RELAYER_KEY)
        .unwrap()
        .address();
    net.set_balance(relayer).await;
    // Three batches raising every channel: 100, 200, 300.
    let mut jobs = Vec::new();
    for job in 1..=JOBS {
        let batch = net.batch(&payers, u128::from(job) * 100).await;
        jobs.push(hex::encode(batch.calldata()));
    }
    let jobs = jobs.join(",");
    let journal = std::env::temp_dir().join(format!(
        "piecepay-chain-crash-{}-{crash_at}.jsonl",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&journal);

    let (mut child, lines) = spawn_child(&net, &journal, &jobs, crash_at);
    wait_for_line(&lines, CRASH_MARKER);
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();
    let state = FileJournal::open(&journal)
        .unwrap()
        .get(TxId(2))
        .unwrap()
        .state;
    let expected = match crash_at {
        "intent_recorded" => "prepared",
        _ => "pending",
    };
    assert_eq!(state.name(), expected, "journal at the crash: {state:?}");

    let (mut child, lines) = spawn_child(&net, &journal, &jobs, "");
    wait_for_line(&lines, DONE_MARKER);
    assert!(child.0.wait().unwrap().success());

    let journal_after = FileJournal::open(&journal).unwrap();
    let mut hashes = Vec::new();
    for id in 1..=JOBS {
        let TxState::Confirmed { inclusion } = journal_after.get(TxId(id)).unwrap().state else {
            panic!("job {id} not confirmed");
        };
        assert!(inclusion.success && !inclusion.cancel);
        hashes.push(inclusion.tx_hash);
    }
    hashes.dedup();
    assert_eq!(hashes.len(), JOBS as usize);
    for payer in &payers {
        assert_eq!(net.settled(payer.channel_id).await, 300);
    }
    assert_eq!(net.balance(payee).await, 3 * 300);
    // Exactly once: one settle group per job, nothing skipped (a resent batch would log skips), and
    // the relayer sent exactly one transaction per job.
    assert_eq!(net.settle_logs().await, (JOBS as usize, 0));
    assert_eq!(
        net.deployer.get_transaction_count(relayer).await.unwrap(),
        JOBS
    );
    let _ = std::fs::remove_file(&journal);
}

// Multi-threaded: `wait_for_line` blocks the test's thread while anvil's log is read on a worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_the_intent_before_signing() {
    crash_and_restart("intent_recorded").await;
}

// Multi-threaded: `wait_for_line` blocks the test's thread while anvil's log is read on a worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_signing_before_sending() {
    crash_and_restart("signed").await;
}

// Multi-threaded: `wait_for_line` blocks the test's thread while anvil's log is read on a worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_sending_before_the_journal_write() {
    crash_and_restart("broadcast").await;
}
