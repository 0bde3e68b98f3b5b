//! `piecepay-agent`: an agent from a configuration file, on the command line.
//!
//! - `report`, `withdraw`, `close`: the account's books, taking its money out, closing its channels;
//! - `serve` and `fetch`: two agents paying for synthetic pieces over a plain TCP connection, without a
//!   torrent engine — a smoke test of a deployment, and what the agent's process tests (kill -9,
//!   restart) run. The pieces are 16 bytes derived from their index; the framing is this program's own.
//!
//! The keystore's password comes from the variable the configuration names (`password_env`), or the
//! terminal.

use std::{
    collections::BTreeSet,
    fs::OpenOptions,
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::ExitCode,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use clap::{Parser, Subcommand};
use piecepay_agent::{Agent, PeerLink};
use piecepay_protocol::alloy_primitives::{Address, hex};

#[derive(Parser)]
#[command(
    name = "piecepay-agent",
    about = "A piecepay client agent from a configuration file"
)]
struct Cli {
    /// The agent's configuration (TOML, docs/agent.md).
    #[arg(long)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prints the report (spend and earnings per torrent and per peer, balances) as JSON.
    Report,
    /// Withdraws from the free balance (all of it by default) and prints the transaction.
    Withdraw {
        /// Recipient (default: the agent's own account).
        #[arg(long)]
        to: Option<Address>,
        /// Amount in token base units (default: the whole free balance).
        #[arg(long)]
        amount: Option<u128>,
    },
    /// Closes every channel this agent pays on and hands every receipt it holds to a relayer, then
    /// prints the events for `--wait` seconds.
    Close {
        /// Seconds to print events for.
        #[arg(long, default_value_t = 10)]
        wait: u64,
    },
    /// Sells synthetic pieces of `--torrent` to whoever connects, until stdin closes.
    Serve {
        /// Address to listen on (`127.0.0.1:0`: any port); printed as `listening on ADDR`.
        #[arg(long)]
        listen: String,
        /// The torrent's info-hash, 40 hex digits.
        #[arg(long)]
        torrent: String,
    },
    /// Buys synthetic pieces `0..pieces` of `--torrent` from a `serve`r, remembering those it has in
    /// `--have` (so a restarted fetch goes on where it stopped), then prints the report.
    Fetch {
        /// The server's address.
        #[arg(long)]
        connect: String,
        /// The torrent's info-hash, 40 hex digits.
        #[arg(long)]
        torrent: String,
        /// How many pieces.
        #[arg(long)]
        pieces: u32,
        /// The file of pieces already fetched (one index a line).
        #[arg(long)]
        have: PathBuf,
        /// Milliseconds to wait after each piece (to stretch a transfer).
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("piecepay-agent: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let agent = Agent::from_file(&cli.config, None).map_err(|e| e.to_string())?;
    match cli.command {
        Command::Report => print_json(&agent.report()),
        Command::Withdraw { to, amount } => {
            let tx = agent.withdraw(to, amount).map_err(|e| e.to_string())?;
            println!("withdrawn in transaction {tx}");
        }
        Command::Close { wait } => {
            agent.close_all().map_err(|e| e.to_string())?;
            let deadline = Instant::now() + Duration::from_secs(wait);
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                if let Some(event) = agent.wait_event(left) {
                    print_json(&event);
                }
            }
        }
        Command::Serve { listen, torrent } => serve(&agent, &listen, info_hash(&torrent)?)?,
        Command::Fetch {
            connect,
            torrent,
            pieces,
            have,
            delay_ms,
        } => {
            fetch(
                &agent,
                &connect,
                info_hash(&torrent)?,
                pieces,
                &have,
                delay_ms,
            )?;
            print_json(&agent.report());
        }
    }
    agent.shutdown().map_err(|e| e.to_string())
}

fn print_json(value: &impl serde::Serialize) {
    println!("{}", serde_json::to_string(value).unwrap_or_default());
}

fn info_hash(text: &str) -> Result<[u8; 20], String> {
    let bytes = hex::decode(text).map_err(|e| format!("--torrent: {e}"))?;
    bytes
        .try_into()
        .map_err(|_| "--torrent: expected 40 hex digits".to_owned())
}

// --- the synthetic transfer ---------------------------------------------------------------------

const PIECEPAY: u8 = 1;
const REQUEST: u8 = 2;
const PIECE: u8 = 3;
const CHOKE: u8 = 4;

/// The bytes of synthetic piece `index`.
fn piece(index: u32) -> [u8; 16] {
    let mut data = [0u8; 16];
    for (i, byte) in data.iter_mut().enumerate() {
        *byte = (index as u8).wrapping_mul(31).wrapping_add(i as u8);
    }
    data
}

fn write_frame(stream: &Mutex<TcpStream>, kind: u8, payload: &[u8]) -> std::io::Result<()> {
    let mut frame = Vec::with_capacity(5 + payload.len());
    frame.extend_from_slice(
        &u32::try_from(payload.len() + 1)
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    frame.push(kind);
    frame.extend_from_slice(payload);
    stream
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .write_all(&frame)
}

fn read_frame(stream: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > 1 << 16 {
        return Err(std::io::Error::other("bad frame length"));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body)?;
    let kind = body.remove(0);
    Ok((kind, body))
}

/// Sends whatever the agent queued for `link`, now and whenever it queues more, until the connection
/// fails.
fn pump_outbox(link: Arc<PeerLink>, stream: Arc<Mutex<TcpStream>>) {
    std::thread::spawn(move || {
        loop {
            for message in link.take_outgoing() {
                if write_frame(&stream, PIECEPAY, &message).is_err() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
}

fn serve(agent: &Agent, listen: &str, torrent: [u8; 20]) -> Result<(), String> {
    let listener = TcpListener::bind(listen).map_err(|e| format!("--listen {listen}: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on {address}");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    // Stop when stdin closes (the parent's way to ask for a graceful stop).
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopper = stop.clone();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        stopper.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    std::thread::scope(|scope| {
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            match listener.accept() {
                Ok((stream, peer)) => {
                    let _ = stream.set_nonblocking(false);
                    let link = Arc::new(agent.attach(torrent, &peer.to_string()));
                    scope.spawn(move || serve_peer(link, stream));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
    })
}

fn serve_peer(link: Arc<PeerLink>, mut stream: TcpStream) {
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let writer = Arc::new(Mutex::new(writer));
    link.start();
    pump_outbox(link.clone(), writer.clone());
    while let Ok((kind, body)) = read_frame(&mut stream) {
        let sent = match kind {
            PIECEPAY => {
                link.on_message(&body);
                Ok(())
            }
            REQUEST if body.len() == 4 => {
                let index = u32::from_be_bytes(body.try_into().expect("4 bytes"));
                if link.may_serve() {
                    let mut payload = index.to_be_bytes().to_vec();
                    payload.extend_from_slice(&piece(index));
                    let sent = write_frame(&writer, PIECE, &payload);
                    link.on_piece_served();
                    sent
                } else {
                    write_frame(&writer, CHOKE, &[])
                }
            }
            _ => Ok(()),
        };
        if sent.is_err() {
            break;
        }
    }
}

fn fetch(
    agent: &Agent,
    connect: &str,
    torrent: [u8; 20],
    pieces: u32,
    have_path: &PathBuf,
    delay_ms: u64,
) -> Result<(), String> {
    let mut have: BTreeSet<u32> = match std::fs::File::open(have_path) {
        Ok(file) => BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter_map(|line| line.trim().parse().ok())
            .collect(),
        Err(_) => BTreeSet::new(),
    };
    let mut have_file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(have_path)
        .map_err(|e| format!("--have {}: {e}", have_path.display()))?;
    // A server that went away (restarted) is dialled again for a while.
    let give_up = Duration::from_secs(60);
    let mut last_progress = Instant::now();
    while (have.len() as u32) < pieces {
        let Ok(mut stream) = TcpStream::connect(connect) else {
            if last_progress.elapsed() > give_up {
                return Err(format!("cannot reach {connect}"));
            }
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        let writer = Arc::new(Mutex::new(stream.try_clone().map_err(|e| e.to_string())?));
        let link = Arc::new(agent.attach(torrent, connect));
        pump_outbox(link.clone(), writer.clone());
        let next = |have: &BTreeSet<u32>| (0..pieces).find(|i| !have.contains(i));
        let mut asked = next(&have);
        if let Some(index) = asked
            && write_frame(&writer, REQUEST, &index.to_be_bytes()).is_err()
        {
            continue;
        }
        while let Ok((kind, body)) = read_frame(&mut stream) {
            let request = match kind {
                PIECEPAY => {
                    link.on_message(&body);
                    false
                }
                PIECE if body.len() == 20 => {
                    let index = u32::from_be_bytes(body[..4].try_into().expect("4 bytes"));
                    if body[4..] == piece(index) && have.insert(index) {
                        // Recorded before it is paid: a crash in between leaves it unpaid (within the
                        // credit window), never paid twice.
                        writeln!(have_file, "{index}").map_err(|e| e.to_string())?;
                        have_file.sync_data().map_err(|e| e.to_string())?;
                        link.on_piece_verified();
                        last_progress = Instant::now();
                    }
                    std::thread::sleep(Duration::from_millis(delay_ms));
                    true
                }
                CHOKE => {
                    link.on_choked();
                    std::thread::sleep(Duration::from_millis(20));
                    true
                }
                _ => false,
            };
            if request {
                asked = next(&have);
                let Some(index) = asked else {
                    break;
                };
                if write_frame(&writer, REQUEST, &index.to_be_bytes()).is_err() {
                    break;
                }
            }
            if last_progress.elapsed() > give_up {
                return Err("no piece for a minute".into());
            }
        }
        if (have.len() as u32) == pieces {
            // Pay for the last pieces before leaving: keep reading until the payments are acknowledged.
            let deadline = Instant::now() + Duration::from_secs(20);
            stream
                .set_read_timeout(Some(Duration::from_millis(50)))
                .map_err(|e| e.to_string())?;
            while link.state().payment_due && Instant::now() < deadline {
                if let Ok((PIECEPAY, body)) = read_frame(&mut stream) {
                    link.on_message(&body);
                }
            }
        }
    }
    Ok(())
}
