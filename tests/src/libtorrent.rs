//! Real BitTorrent transfers for a run: the libtorrent plugin's demo program (`piecepay-torrent demo`,
//! client-sdk/integrations/libtorrent) with one libtorrent session per peer on loopback, paying per piece
//! through the C ABI on the channels this run opened on chain.
//!
//! The program writes the seeders' latest receipts (`--receipts`, JSON lines) and per-pair counts
//! (`--stats`, one JSON document); both are read back here, and every receipt is verified against its
//! channel before the relayer gets it.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
};

use anyhow::{Context, bail, ensure};
use piecepay_sdk::{
    Amount, SignedReceipt,
    protocol::{
        CompactSignature, Receipt,
        alloy_primitives::{Address, B256, aliases::U96, hex},
    },
};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::swarm::{PairStats, Swarm};

/// Where the program is and where it may write.
#[derive(Clone, Debug)]
pub struct Libtorrent {
    /// `piecepay-torrent`, built by `make -C client-sdk/integrations/libtorrent`.
    pub bin: PathBuf,
    /// Its working directory (torrent data, receipts, stats).
    pub dir: PathBuf,
}

/// What the transfer left: each pair's counts and each seeder's latest receipts.
#[derive(Clone, Debug, Default)]
pub struct Transferred {
    /// By `(leecher, seeder)`.
    pub stats: BTreeMap<(usize, usize), PairStats>,
    /// By seeder: the latest receipt of each of its channels.
    pub receipts: Vec<Vec<SignedReceipt>>,
}

#[derive(Deserialize)]
struct Stats {
    ok: bool,
    pairs: Vec<PairLine>,
    problems: Vec<String>,
}

#[derive(Deserialize)]
struct PairLine {
    leecher: usize,
    seeder: usize,
    pieces_delivered: u64,
    receipts_signed: u64,
    paid_accepted: String,
}

#[derive(Deserialize)]
struct ReceiptLine {
    payer: Address,
    payee: Address,
    salt: u32,
    cumulative: String,
    signature: String,
}

/// The parameters the program needs for a swarm of `swarm`'s shape, on `escrow` of `chain_id`.
pub struct Params<'a> {
    /// The escrow's chain.
    pub chain_id: u64,
    /// The escrow.
    pub escrow: Address,
    /// Seeders' secret keys, in swarm order.
    pub seeder_keys: &'a [B256],
    /// Leechers' secret keys, in swarm order.
    pub leecher_keys: &'a [B256],
    /// Salt of leecher `l`'s channel to seeder `s` is `salt_base + s`.
    pub salt_base: u32,
    /// Every channel's deposit.
    pub deposit: Amount,
    /// Price of a piece.
    pub price: Amount,
    /// File size in KiB.
    pub file_kib: usize,
    /// Piece length in KiB.
    pub piece_kib: usize,
}

impl Libtorrent {
    /// Where `make -C client-sdk/integrations/libtorrent` puts the program in this checkout.
    pub fn default_bin() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../client-sdk/integrations/libtorrent/build/dev/piecepay-torrent")
    }

    /// [`Self::default_bin`], which must have been built (tests: `make test-torrent` builds it first).
    ///
    /// # Panics
    /// When it is missing, saying how to build it.
    pub fn built_bin() -> PathBuf {
        let bin = Self::default_bin();
        assert!(
            bin.is_file(),
            "{} is missing: build it with `make -C client-sdk/integrations/libtorrent`",
            bin.display()
        );
        bin
    }

    /// Runs the transfer; `progress` gets each leecher's piece count as the program reports it.
    pub async fn transfer(
        &self,
        params: &Params<'_>,
        swarm: &Swarm,
        progress: &mut dyn FnMut(&[usize], usize),
    ) -> anyhow::Result<Transferred> {
        ensure!(
            self.bin.is_file(),
            "{} is missing: build it with `make -C client-sdk/integrations/libtorrent`",
            self.bin.display()
        );
        std::fs::create_dir_all(&self.dir)?;
        let (receipts_path, stats_path) =
            (self.dir.join("receipts.jsonl"), self.dir.join("stats.json"));
        let keys = |keys: &[B256]| {
            keys.iter()
                .map(|k| format!("{k}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut child = tokio::process::Command::new(&self.bin)
            .arg("demo")
            .args(["--chain-id", &params.chain_id.to_string()])
            .args(["--escrow", &params.escrow.to_string()])
            .args(["--seeder-keys", &keys(params.seeder_keys)])
            .args(["--leecher-keys", &keys(params.leecher_keys)])
            .args(["--salt-base", &params.salt_base.to_string()])
            .args(["--deposit", &params.deposit.to_string()])
            .args(["--price", &params.price.to_string()])
            .args(["--size-kib", &params.file_kib.to_string()])
            .args(["--piece-kib", &params.piece_kib.to_string()])
            .arg("--receipts")
            .arg(&receipts_path)
            .arg("--stats")
            .arg(&stats_path)
            .arg("--dir")
            .arg(self.dir.join("torrent"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;

        // Progress lines look like `progress: leecher0 12/64 leecher1 9/64 receipts=21`.
        let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
        let mut tail = Vec::new();
        let leechers = params.leecher_keys.len();
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.strip_prefix("progress:") {
                let mut done = vec![0; leechers];
                let mut total = 0;
                for (name, count) in rest.split_whitespace().zip(rest.split_whitespace().skip(1)) {
                    let Some(l) = name
                        .strip_prefix("leecher")
                        .and_then(|i| i.parse::<usize>().ok())
                    else {
                        continue;
                    };
                    if let Some((got, of)) = count.split_once('/')
                        && let (Ok(got), Ok(of)) = (got.parse(), of.parse())
                        && l < leechers
                    {
                        done[l] = got;
                        total = of;
                    }
                }
                progress(&done, total);
            } else {
                tail.push(line);
                if tail.len() > 40 {
                    tail.remove(0);
                }
            }
        }
        let status = child.wait().await?;
        let stats: Stats = read_json(&stats_path).with_context(|| tail.join("\n"))?;
        if !status.success() || !stats.ok {
            bail!(
                "piecepay-torrent failed ({status}): {}\n{}",
                stats.problems.join("; "),
                tail.join("\n")
            );
        }
        read_results(&stats, &receipts_path, swarm)
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The program's counts and receipts, each receipt checked against the swarm's channel of its pair.
fn read_results(stats: &Stats, receipts: &Path, swarm: &Swarm) -> anyhow::Result<Transferred> {
    let (seeders, _) = swarm.size();
    let mut out = Transferred {
        receipts: vec![Vec::new(); seeders],
        ..Transferred::default()
    };
    for pair in &stats.pairs {
        out.stats.insert(
            (pair.leecher, pair.seeder),
            PairStats {
                pieces: pair.pieces_delivered,
                // The payee verifies lazily (one accepted receipt stands for several), so the receipts
                // are counted where they are signed; `paid` is what the payee accepted.
                receipts: pair.receipts_signed,
                paid: pair.paid_accepted.parse().context("paid_accepted")?,
            },
        );
    }
    let text = std::fs::read_to_string(receipts)
        .with_context(|| format!("reading {}", receipts.display()))?;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let r: ReceiptLine = serde_json::from_str(line).context("a receipt line")?;
        let cumulative: Amount = r.cumulative.parse().context("cumulative")?;
        let signature = CompactSignature::from_slice(&hex::decode(&r.signature)?)?;
        let receipt = SignedReceipt {
            message: Receipt {
                payee: r.payee,
                salt: r.salt,
                cumulative: U96::try_from(cumulative).context("cumulative beyond uint96")?,
            },
            signature,
        };
        let (l, s) =
            pair_of(swarm, r.payer, r.payee).context("a receipt for no channel of ours")?;
        let channel = swarm.channel(l, s).expect("pair");
        ensure!(
            channel.salt() == r.salt,
            "receipt salt {} for {l} → {s}",
            r.salt
        );
        channel.verify_receipt(&receipt.message, &receipt.signature)?;
        ensure!(
            out.stats.get(&(l, s)).is_some_and(|p| p.paid == cumulative),
            "receipt of {l} → {s} disagrees with the stats"
        );
        out.receipts[s].push(receipt);
    }
    Ok(out)
}

/// The `(leecher, seeder)` whose channel goes from `payer` to `payee`.
fn pair_of(swarm: &Swarm, payer: Address, payee: Address) -> Option<(usize, usize)> {
    let (seeders, leechers) = swarm.size();
    (0..leechers)
        .flat_map(|l| (0..seeders).map(move |s| (l, s)))
        .find(|&(l, s)| {
            swarm
                .channel(l, s)
                .is_some_and(|c| c.payer() == payer && c.payee() == payee)
        })
}
