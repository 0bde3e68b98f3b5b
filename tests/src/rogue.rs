//! A misbehaving buyer: a bare BitTorrent peer (BEP 3 handshake and messages, BEP 10 extended
//! messages) speaking the piecepay extension through the SDK's own [`PayerSession`], which bids on a
//! seller's terms and then claims a funded channel it never opened — what no shipped client does, so
//! it lives here and not behind a switch of the command-line client.

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use piecepay_deploy::devnet::DevnetInfo;
use piecepay_sdk::{
    Actions, Amount, PayerConfig, PayerSession, PayerSessionConfig,
    protocol::{SigningKey, alloy_primitives::B256},
    wire::{
        Message,
        bencode::{self, Value},
        handshake::{EXTENSION_NAME, VERSION, VERSION_KEY},
    },
};

/// BEP 10: bit 0x10 of the handshake's reserved byte 5 announces extended messages.
const EXTENSION_BIT: u8 = 0x10;
/// The BitTorrent message ids used here.
const UNCHOKE: u8 = 1;
const INTERESTED: u8 = 2;
const REQUEST: u8 = 6;
const PIECE: u8 = 7;
const EXTENDED: u8 = 20;
/// The id this peer asks piecepay messages to be sent to (its extended handshake's `m`).
const OUR_PIECEPAY_ID: u8 = 3;
/// Bytes per request (BEP 3's usual block).
const BLOCK: u32 = 16 * 1024;

/// What the seller did with the liar.
#[derive(Clone, Debug, Default)]
pub struct Treatment {
    /// Whether the seller accepted its bid and it then claimed the channel.
    pub claimed: bool,
    /// The codes of the seller's piecepay `error` messages.
    pub errors: Vec<String>,
    /// Piece bytes the seller sent it.
    pub piece_bytes: u64,
    /// Pieces of which it got every byte (what a buyer can use: a piece is checked whole).
    pub whole_pieces: u32,
    /// Whether the seller closed the connection (and after how long).
    pub disconnected: Option<Duration>,
}

/// The torrent to ask for: its info hash and the shape of its pieces.
#[derive(Clone, Copy, Debug)]
pub struct Torrent {
    /// SHA-1 of the info dictionary.
    pub info_hash: [u8; 20],
    /// Pieces in it.
    pub pieces: u32,
    /// Bytes per piece (the last one may be shorter; it is not asked for).
    pub piece_len: u32,
}

/// The info hash of a `magnet:?xt=urn:btih:<40 hex digits>` link.
pub fn magnet_info_hash(magnet: &str) -> anyhow::Result<[u8; 20]> {
    let hex = magnet
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("xt=urn:btih:"))
        .with_context(|| format!("no btih in {magnet}"))?;
    let bytes = piecepay_sdk::protocol::alloy_primitives::hex::decode(hex)?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("{hex} is not a SHA-1 info hash"))
}

/// Connects to the seller at `addr`, bids up to `max_price` on its terms, claims a channel of `deposit`
/// that does not exist on chain, asks for every piece, and watches for `watch`; what the seller did.
pub fn claim_a_missing_channel(
    addr: &str,
    torrent: Torrent,
    info: &DevnetInfo,
    max_price: Amount,
    deposit: Amount,
    watch: Duration,
) -> anyhow::Result<Treatment> {
    let mut stream = connect(addr, &torrent.info_hash, Instant::now() + watch)?;
    let ours = Value::Dict(BTreeMap::from([
        (
            b"m".to_vec(),
            Value::Dict(BTreeMap::from([(
                EXTENSION_NAME.as_bytes().to_vec(),
                Value::Int(OUR_PIECEPAY_ID.into()),
            )])),
        ),
        (VERSION_KEY.as_bytes().to_vec(), Value::Int(VERSION.into())),
    ]));
    send(&mut stream, EXTENDED, &[&[0], &ours.encode()])?;
    send(&mut stream, INTERESTED, &[])?;

    // A key of its own, which never funded anything.
    let mut liar = PayerSession::new(PayerSessionConfig {
        chain_id: info.chain_id,
        escrow: info.escrow,
        token: info.token,
        key: SigningKey::from_bytes(&B256::repeat_byte(0x42))?,
        salt: 1,
        max_price,
        bid_step: max_price,
        budget: Amount::MAX,
        channel: PayerConfig::default(),
    })?;
    let mut their_id = None;
    let mut seen = Treatment::default();
    let mut requested = false;
    let mut got: BTreeMap<u32, u32> = BTreeMap::new();
    let started = Instant::now();
    let deadline = started + watch;
    while Instant::now() < deadline {
        let (id, payload) = match read_message(&mut stream, deadline) {
            Ok(Some(message)) => message,
            Ok(None) => continue,
            Err(Closed) => {
                seen.disconnected = Some(started.elapsed());
                break;
            }
        };
        match id {
            UNCHOKE if !requested => {
                requested = true;
                for piece in 0..torrent.pieces {
                    for begin in (0..torrent.piece_len).step_by(BLOCK as usize) {
                        let len = BLOCK.min(torrent.piece_len - begin);
                        let request = [piece, begin, len].map(u32::to_be_bytes).concat();
                        send(&mut stream, REQUEST, &[&request])?;
                    }
                }
            }
            PIECE if payload.len() > 8 => {
                let block = (payload.len() - 8) as u32;
                seen.piece_bytes += u64::from(block);
                let piece = u32::from_be_bytes(payload[..4].try_into()?);
                let bytes = got.entry(piece).or_default();
                *bytes += block;
                if *bytes == torrent.piece_len {
                    seen.whole_pieces += 1;
                }
            }
            EXTENDED if payload.first() == Some(&0) => {
                their_id = bencode::decode(&payload[1..])?
                    .as_dict()
                    .and_then(|d| d.get(b"m".as_slice()))
                    .and_then(Value::as_dict)
                    .and_then(|m| m.get(EXTENSION_NAME.as_bytes()))
                    .and_then(Value::as_int);
            }
            EXTENDED if payload.first() == Some(&OUR_PIECEPAY_ID) => {
                let message = Message::decode(&payload[1..])?;
                if let Message::Error(e) = &message {
                    seen.errors.push(e.code.as_str().to_owned());
                    continue;
                }
                let now = unix_now();
                let mut outcome = liar.on_message(message, now)?;
                if outcome.has(Actions::OPEN_CHANNEL) {
                    // The lie: "funded", without a transaction.
                    outcome = liar.channel_funded(deposit, None, now)?;
                    seen.claimed = true;
                }
                if let Some(reply) = outcome.reply {
                    let to = their_id
                        .and_then(|id| u8::try_from(id).ok())
                        .context("a piecepay message before the seller's extended handshake")?;
                    send(&mut stream, EXTENDED, &[&[to], &reply.encode()?])?;
                }
            }
            _ => {}
        }
    }
    Ok(seen)
}

/// Connects and exchanges BitTorrent handshakes, again while the seller drops the connection (a torrent
/// that is still starting turns peers away) until `deadline`.
fn connect(addr: &str, info_hash: &[u8; 20], deadline: Instant) -> anyhow::Result<TcpStream> {
    let mut reserved = [0u8; 8];
    reserved[5] |= EXTENSION_BIT;
    let mut handshake = vec![19u8];
    handshake.extend_from_slice(b"BitTorrent protocol");
    handshake.extend_from_slice(&reserved);
    handshake.extend_from_slice(info_hash);
    handshake.extend_from_slice(b"-PPROGUE-0123456789a");
    loop {
        let attempt = || -> anyhow::Result<TcpStream> {
            let mut stream =
                TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
            stream.set_read_timeout(Some(Duration::from_millis(200)))?;
            stream.write_all(&handshake)?;
            let mut theirs = [0u8; 68];
            read_exact_by(&mut stream, &mut theirs, deadline)?;
            if theirs[1..20] != *b"BitTorrent protocol" || theirs[25] & EXTENSION_BIT == 0 {
                bail!("the seller's handshake does not offer extended messages");
            }
            Ok(stream)
        };
        match attempt() {
            Ok(stream) => return Ok(stream),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// `<len><id><parts…>`.
fn send(stream: &mut TcpStream, id: u8, parts: &[&[u8]]) -> anyhow::Result<()> {
    let len = 1 + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut out = u32::try_from(len)?.to_be_bytes().to_vec();
    out.push(id);
    for part in parts {
        out.extend_from_slice(part);
    }
    stream.write_all(&out)?;
    Ok(())
}

/// The connection ended (closed, reset, or a message that makes no sense).
struct Closed;

/// The next message (id, payload), `None` for a keep-alive or when nothing arrived for a while.
fn read_message(
    stream: &mut TcpStream,
    deadline: Instant,
) -> Result<Option<(u8, Vec<u8>)>, Closed> {
    let mut len = [0u8; 4];
    match stream.read(&mut len[..1]) {
        Ok(0) => return Err(Closed),
        Ok(_) => {}
        Err(e) if is_timeout(&e) => return Ok(None),
        Err(_) => return Err(Closed),
    }
    read_exact_by(stream, &mut len[1..], deadline).map_err(|_| Closed)?;
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 {
        return Ok(None);
    }
    if len > 1 << 20 {
        return Err(Closed);
    }
    let mut body = vec![0u8; len];
    read_exact_by(stream, &mut body, deadline).map_err(|_| Closed)?;
    let id = body.remove(0);
    Ok(Some((id, body)))
}

/// `read_exact` through the stream's short read timeout, until `deadline`.
fn read_exact_by(
    stream: &mut TcpStream,
    mut buf: &mut [u8],
    deadline: Instant,
) -> anyhow::Result<()> {
    while !buf.is_empty() {
        match stream.read(buf) {
            Ok(0) => bail!("the seller closed the connection"),
            Ok(n) => buf = &mut buf[n..],
            Err(e) if is_timeout(&e) && Instant::now() < deadline => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
