//! The main job with real clients: seeders and leechers as separate `piecepay-torrent` processes, each
//! with its own agent, key and SQLite file, on a running devnet. Whoever runs it only funds the leechers'
//! escrow balances from another wallet (docs/agent.md, "Wallet") and watches: the leechers' agents open their
//! channels gaslessly, the seeders' agents check them on chain and hand receipts to the relayer, the
//! leechers close cooperatively once complete, then every client withdraws its free balance. The books are
//! then read from the chain.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use piecepay_deploy::devnet::DevnetInfo;
use piecepay_sdk::{
    Amount,
    chain::{
        ChainClient, ChannelStatus,
        alloy::{
            providers::{Provider, ProviderBuilder},
            rpc::types::Filter,
            sol_types::SolEvent,
        },
        bindings::ChannelEscrow,
    },
    protocol::{
        alloy_primitives::{Address, B256},
        settle_batch::SettledGroup,
    },
};
use serde_json::Value;

use crate::{
    client::{Client, Pieces, Policy, amount, run_command, write_config},
    run::{Balances, SettlementTx, settlement_txs},
};

/// What to run.
#[derive(Clone, Debug)]
pub struct Job {
    /// `piecepay-torrent`.
    pub bin: PathBuf,
    /// Where the clients keep their configurations, databases, files and logs.
    pub dir: PathBuf,
    /// Seeders (each seeds the same generated file).
    pub seeders: usize,
    /// Size of the file in KiB.
    pub file_kib: usize,
    /// Piece length in KiB.
    pub piece_kib: usize,
    /// Price of a piece (every seeder asks it, every leecher pays up to it).
    pub price: Amount,
    /// Pieces a seeder serves ahead of payment.
    pub credit_pieces: u64,
    /// What each leecher's agent locks per channel (its budget: one such deposit per seeder).
    pub deposit_per_channel: Amount,
    /// How long a leecher seeds on once complete, before it closes its channels: the seeders' receipts
    /// reach the relayer and its settlements the chain meanwhile (else the closes settle everything).
    pub linger: Duration,
    /// How long a leecher may take to download, pay and close.
    pub timeout: Duration,
}

/// What the job is doing, for display.
pub trait Progress {
    /// A new phase starts.
    fn phase(&mut self, name: &str);
    /// Every leecher's pieces (`None` once it exited), two seconds apart while they download and close.
    fn transfer(&mut self, elapsed: Duration, leechers: &[Option<Pieces>]);
}

/// One channel at the end: from the leecher's report and the chain.
#[derive(Clone, Debug)]
pub struct ChannelOutcome {
    /// Leecher index.
    pub leecher: usize,
    /// Seeder index.
    pub seeder: usize,
    /// The channel.
    pub id: B256,
    /// Pieces the leecher paid on it.
    pub pieces: u64,
    /// What the leecher signed (its highest receipt).
    pub paid: Amount,
    /// What the seeder holds (its highest receipt accepted, or what the close settled).
    pub earned: Amount,
    /// Deposit on chain.
    pub deposit: Amount,
    /// Settled to the seeder on chain.
    pub settled: Amount,
    /// Closed on chain.
    pub closed: bool,
}

/// One account's books.
#[derive(Clone, Debug)]
pub struct AccountBooks {
    /// "seeder 0", "leecher 1", "relayer".
    pub name: String,
    /// Its address.
    pub address: Address,
    /// Before the clients started.
    pub before: Balances,
    /// After every close and withdrawal.
    pub after: Balances,
    /// Deposits of its channels not closed (and not paid out) at the end.
    pub locked: Amount,
}

/// The job's result.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Pieces in the file.
    pub pieces: usize,
    /// Price of a piece.
    pub price: Amount,
    /// Pieces the leechers' agents paid for.
    pub pieces_paid: u64,
    /// Every channel.
    pub channels: Vec<ChannelOutcome>,
    /// The relayer's settlement transactions.
    pub settlements: Vec<SettlementTx>,
    /// Receipts those settled (one per channel and settlement; each covers every piece paid before it).
    pub receipts_settled: u64,
    /// Receipts the seeders' agents handed to the relayer (their `receipt_handed` events).
    pub receipts_handed: usize,
    /// Every client's account, then the relayer's.
    pub accounts: Vec<AccountBooks>,
    /// Seconds the transfer took (first leecher started → last leecher complete and closed).
    pub transfer_secs: f64,
    /// Whether every check on the chain's numbers passed.
    pub onchain_matches: bool,
    /// The checks that failed, in words.
    pub mismatches: Vec<String>,
}

impl Outcome {
    /// Channels closed on chain.
    pub fn closed(&self) -> usize {
        self.channels.iter().filter(|c| c.closed).count()
    }

    /// Every channel closed and every unspent deposit back in its leecher's wallet.
    pub fn refunded(&self) -> bool {
        self.closed() == self.channels.len()
            && self
                .accounts
                .iter()
                .all(|a| a.locked == 0 && a.after.escrow == 0)
    }

    /// Whether the relayer settled something of what the seeders handed it (trivially, when they handed
    /// nothing).
    pub fn relayer_settled(&self) -> bool {
        self.receipts_handed == 0 || !self.settlements.is_empty()
    }

    /// Gas of all settlement transactions.
    pub fn gas_used(&self) -> u64 {
        self.settlements.iter().map(|s| s.gas_used).sum()
    }
}

struct Account {
    name: String,
    address: Address,
    key: B256,
}

/// Runs `job` on `info`'s devnet, whose peers are the clients' keys and whose deployer holds tokens to
/// fund the leechers.
pub async fn run(
    info: &DevnetInfo,
    job: &Job,
    progress: &mut dyn Progress,
) -> anyhow::Result<Outcome> {
    let relayer = info.relayer.as_ref().context("the devnet runs a relayer")?;
    let role = |role: &str| -> Vec<Account> {
        info.accounts(role)
            .enumerate()
            .map(|(i, a)| Account {
                name: format!("{role} {i}"),
                address: a.address,
                key: a.key,
            })
            .collect()
    };
    let (seeders, leechers) = (role("seeder"), role("leecher"));
    ensure!(
        seeders.len() == job.seeders && !leechers.is_empty(),
        "the devnet has {} seeders, {} leechers",
        seeders.len(),
        leechers.len()
    );
    let chain = ChainClient::connect(&info.rpc_url, &info.deployer.key, info.escrow).await?;
    let relayer_account = Account {
        name: "relayer".into(),
        address: relayer.account.address,
        key: relayer.account.key,
    };
    let everyone: Vec<&Account> = seeders
        .iter()
        .chain(&leechers)
        .chain([&relayer_account])
        .collect();
    // The leechers' keys hold nothing: another wallet (the deployer's, which holds the token supply) puts
    // each one's budget into its escrow balance, which bounds what a stolen client key could spend.
    progress.phase("funding each leecher's escrow balance from another wallet (the deployer's)");
    let budget = job.deposit_per_channel * job.seeders as Amount;
    for a in &leechers {
        chain
            .deposit_to(a.address, budget)
            .await
            .with_context(|| format!("funding {}", a.name))?;
    }
    let mut before = Vec::new();
    for a in &everyone {
        before.push(balances(&chain, a.address).await?);
    }
    std::fs::create_dir_all(&job.dir)?;
    let dir = |name: &str| job.dir.join(name).to_string_lossy().into_owned();
    let (size, piece) = (job.file_kib.to_string(), job.piece_kib.to_string());

    // Writes `name`'s agent configuration and starts its client: `command` (serve, download) with that
    // configuration and `options`; the configuration's path comes back with the client.
    let start = |name: &str,
                 policy: Policy,
                 command: &str,
                 options: &[&str],
                 key: B256|
     -> anyhow::Result<(Client, String)> {
        let config = write_config(info, &job.dir, name, policy);
        let config = config.to_string_lossy().into_owned();
        let argv = [&[command, "--config", &config][..], options].concat();
        let client = Client::start(&job.bin, &argv, key, job.dir.join(format!("{name}.log")))?;
        Ok((client, config))
    };

    progress.phase("starting the seeders");
    let mut seeder_clients = Vec::new();
    for (s, account) in seeders.iter().enumerate() {
        let name = format!("seeder{s}");
        let policy = Policy::Seller {
            price: job.price,
            credit_pieces: job.credit_pieces,
            free_pieces: 0,
        };
        let options = [
            "--size-kib",
            &size,
            "--piece-kib",
            &piece,
            "--dir",
            &dir(&name),
        ];
        seeder_clients.push(start(&name, policy, "serve", &options, account.key)?.0);
    }
    let field = |c: &Client, k: &str| c.hello[k].as_str().unwrap_or_default().to_owned();
    let torrent = field(&seeder_clients[0], "torrent");
    let peers: Vec<String> = seeder_clients.iter().map(|c| field(c, "listen")).collect();
    let peers = peers.join(",");

    progress.phase("leechers downloading, paying, closing");
    let started = Instant::now();
    let timeout = job.timeout.as_secs().to_string();
    let linger = job.linger.as_secs().to_string();
    let mut leecher_clients = Vec::new();
    let mut leecher_configs = Vec::new();
    for (l, account) in leechers.iter().enumerate() {
        let name = format!("leecher{l}");
        let policy = Policy::Buyer {
            max_price: job.price,
            budget,
            deposit_per_channel: job.deposit_per_channel,
        };
        let options = [
            "--torrent",
            &torrent,
            "--peer",
            &peers,
            "--dir",
            &dir(&name),
            "--linger-s",
            &linger,
            "--close",
            "yes",
            "--timeout-s",
            &timeout,
        ];
        let (client, config) = start(&name, policy, "download", &options, account.key)?;
        leecher_clients.push(client);
        leecher_configs.push(config);
    }
    let deadline = started + job.timeout + Duration::from_secs(30);
    let mut next = Instant::now();
    while !leecher_clients.iter_mut().all(Client::exited) {
        if Instant::now() >= next {
            let done: Vec<_> = leecher_clients
                .iter_mut()
                .map(|c| (!c.exited()).then(|| c.progress()))
                .collect();
            progress.transfer(started.elapsed(), &done);
            next += Duration::from_secs(2);
        }
        if Instant::now() > deadline {
            bail!("the leechers did not finish within {:?}", job.timeout);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let transfer_secs = started.elapsed().as_secs_f64();
    let mut leecher_reports = Vec::new();
    for (l, c) in leecher_clients.iter_mut().enumerate() {
        let (report, ok) = c.finish(Duration::from_secs(1))?;
        ensure!(ok, "leecher {l} failed: {report}\n{}", c.tail(30));
        leecher_reports.push(report);
    }

    progress.phase("stopping the seeders");
    let mut seeder_reports = Vec::new();
    let mut seeder_configs = Vec::new();
    let mut receipts_handed = 0;
    for (s, c) in seeder_clients.iter_mut().enumerate() {
        let (report, ok) = c.terminate()?;
        ensure!(ok, "seeder {s} failed: {report}\n{}", c.tail(30));
        seeder_reports.push(report);
        receipts_handed += c.events("receipt_handed").len();
        seeder_configs.push(job.dir.join(format!("seeder{s}.toml")));
    }

    progress.phase("withdrawing every free balance");
    let configs = seeder_configs
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .chain(leecher_configs);
    for (account, config) in seeders.iter().chain(&leechers).zip(configs) {
        // A seeder that served nothing has nothing to withdraw, and `withdraw` refuses a zero amount.
        if chain.balance_of(account.address).await? == 0 {
            continue;
        }
        run_command(&job.bin, &["withdraw", "--config", &config], account.key)
            .with_context(|| format!("{} withdraws", account.name))?;
    }

    progress.phase("reading the books from the chain");
    let mut channels = Vec::new();
    let mut pieces_paid = 0;
    for (l, report) in leecher_reports.iter().enumerate() {
        for t in report["torrents"].as_array().into_iter().flatten() {
            pieces_paid += t["pieces_paid"].as_u64().unwrap_or(0);
        }
        for p in report["peers"].as_array().into_iter().flatten() {
            let payee: Address = p["peer"].as_str().unwrap_or_default().parse()?;
            let s = seeders
                .iter()
                .position(|a| a.address == payee)
                .with_context(|| format!("leecher {l} paid {payee}, no seeder"))?;
            let id: B256 = p["channel_id"].as_str().unwrap_or_default().parse()?;
            let earned = seeder_reports[s]["peers"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|q| q["channel_id"] == p["channel_id"])
                .map(|q| amount(&q["paid"]))
                .transpose()?
                .unwrap_or(0);
            let on_chain = chain.channel(id).await?;
            channels.push(ChannelOutcome {
                leecher: l,
                seeder: s,
                id,
                pieces: p["pieces"].as_u64().unwrap_or(0),
                paid: amount(&p["paid"])?,
                earned,
                deposit: on_chain.deposit,
                settled: on_chain.settled,
                closed: on_chain.status == ChannelStatus::Closed,
            });
        }
    }
    let (settlements, receipts_settled) = settlements(&info.rpc_url, info.escrow).await?;
    let mut accounts = Vec::new();
    for (a, before) in everyone.iter().zip(before) {
        let locked = channels
            .iter()
            .filter(|c| !c.closed && leechers[c.leecher].address == a.address)
            .map(|c| c.deposit - c.settled)
            .sum();
        accounts.push(AccountBooks {
            name: a.name.clone(),
            address: a.address,
            before,
            after: balances(&chain, a.address).await?,
            locked,
        });
    }
    let reported = |reports: &[Value], key: &str| -> anyhow::Result<Vec<Amount>> {
        reports.iter().map(|r| amount(&r[key])).collect()
    };
    let mismatches = check_books(
        &channels,
        &accounts,
        &reported(&leecher_reports, "spent")?,
        &reported(&seeder_reports, "earned")?,
        pieces_paid,
        job.price,
    );
    Ok(Outcome {
        pieces: (job.file_kib.div_ceil(job.piece_kib)),
        price: job.price,
        pieces_paid,
        channels,
        settlements,
        receipts_settled,
        receipts_handed,
        accounts,
        transfer_secs,
        onchain_matches: mismatches.is_empty(),
        mismatches,
    })
}

async fn balances(chain: &ChainClient, account: Address) -> anyhow::Result<Balances> {
    Ok(Balances {
        token: chain
            .token_balance_of(account)
            .await?
            .try_into()
            .context("token balance beyond u128")?,
        escrow: chain.balance_of(account).await?,
    })
}

/// Every `ReceiptsSettled` of the escrow: the transactions and how many receipts they settled.
async fn settlements(rpc_url: &str, escrow: Address) -> anyhow::Result<(Vec<SettlementTx>, u64)> {
    let provider = ProviderBuilder::new().connect(rpc_url).await?;
    let logs = provider
        .get_logs(
            &Filter::new()
                .address(escrow)
                .event_signature(ChannelEscrow::ReceiptsSettled::SIGNATURE_HASH)
                .from_block(0),
        )
        .await?;
    let mut receipts = 0;
    let mut hashes = std::collections::BTreeSet::new();
    for log in &logs {
        let event = ChannelEscrow::ReceiptsSettled::decode_log_data(log.data())?;
        let groups = SettledGroup::decode_all(&event.settlements)
            .context("ReceiptsSettled settlements that are not whole groups")?;
        receipts += groups.iter().map(|g| g.entries.len() as u64).sum::<u64>();
        hashes.extend(log.transaction_hash);
    }
    Ok((settlement_txs(rpc_url, hashes).await?, receipts))
}

/// The books must add up on chain: every channel settled to what its leecher signed and its seeder
/// holds; each leecher's report spent and each seeder's earned what the chain paid; each leecher's wallet
/// and escrow down by exactly what it paid (nothing else lost, nothing locked at the end), each seeder's up
/// by exactly what it earned; the relayer took nothing; the pieces paid are what was spent at the price.
fn check_books(
    channels: &[ChannelOutcome],
    accounts: &[AccountBooks],
    spent: &[Amount],
    earned: &[Amount],
    pieces_paid: u64,
    price: Amount,
) -> Vec<String> {
    let mut mismatches = Vec::new();
    for c in channels {
        if c.settled != c.paid || c.earned != c.paid {
            mismatches.push(format!(
                "leecher {} → seeder {}: signed {}, seeder holds {}, settled on chain {}",
                c.leecher, c.seeder, c.paid, c.earned, c.settled
            ));
        }
    }
    let total = |a: &AccountBooks, b: Balances| b.token + b.escrow + a.locked;
    let (seeders, leechers) = (earned.len(), spent.len());
    // What the channels that `of` picks settled, summed.
    let settled = |of: &dyn Fn(&ChannelOutcome) -> bool| -> Amount {
        channels.iter().filter(|c| of(c)).map(|c| c.settled).sum()
    };
    for (i, a) in accounts.iter().enumerate() {
        let (role_sum, reported, sign): (Amount, Amount, bool) = if i < seeders {
            (settled(&|c| c.seeder == i), earned[i], true)
        } else if i < seeders + leechers {
            let l = i - seeders;
            (settled(&|c| c.leecher == l), spent[l], false)
        } else {
            (0, 0, true)
        };
        let (b, after) = (a.before.token + a.before.escrow, total(a, a.after));
        let expected = if sign {
            b.checked_add(role_sum)
        } else {
            b.checked_sub(role_sum)
        };
        if expected != Some(after) || reported != role_sum {
            mismatches.push(format!(
                "{}: wallet + escrow + locked {b} → {after}, on chain {} {role_sum}, its agent reports {reported}",
                a.name,
                if sign { "earned" } else { "paid" },
            ));
        }
    }
    let spent_total: Amount = spent.iter().sum();
    if Amount::from(pieces_paid) * price != spent_total {
        mismatches.push(format!(
            "{pieces_paid} pieces paid at {price} is not the {spent_total} spent"
        ));
    }
    mismatches
}
