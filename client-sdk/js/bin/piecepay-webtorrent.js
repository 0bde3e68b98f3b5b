#!/usr/bin/env node
// piecepay-webtorrent: seed a file selling its pieces, or download a torrent paying for each piece, with
// WebTorrent over TCP and piecepay's extension. `piecepay-webtorrent --help` lists the options.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import WebTorrent from 'webtorrent';

import { ChainClient } from '../src/chain.js';
import { PiecepayError } from '../src/errors.js';
import { checkOnChain, openOnChain, openViaRelayer } from '../src/funding.js';
import { RelayerClient } from '../src/relayer.js';
import { FileStore, MemoryStore } from '../src/store.js';
import { Piecepay } from '../src/webtorrent.js';

const USAGE = `usage:
  piecepay-webtorrent seed FILE --rpc-url URL --escrow ADDRESS [options]
      seed FILE and sell its pieces; runs until SIGINT or SIGTERM, then verifies what it holds and hands
      its receipts to the relayer
  piecepay-webtorrent download TORRENT --rpc-url URL --escrow ADDRESS --peer HOST:PORT [options]
      download TORRENT (a .torrent file) paying per piece; exits once every piece is in, paid and
      acknowledged

options:
  --key HEX               the secret key (default: the PIECEPAY_KEY environment variable)
  --rpc-url URL           the chain's JSON-RPC endpoint
  --escrow ADDRESS        the escrow (its token is read from it)
  --relayer URL           a relayer: the seeder hands it receipts, the downloader opens channels through it
  --store FILE            where receipts and signatures are kept durably (default: in memory)
  --peer HOST:PORT        a peer to connect to (repeatable)
  --port N                the TCP port to listen on (default: any free one)
  --json                  machine-readable lines on stdout (events and the final report)
seed:
  --price P               price per piece, token base units (default 1000)
  --credit-pieces N       pieces served ahead of payment (default 64)
  --free-pieces N         pieces served to a peer without an open channel (default 0)
  --piece-length BYTES    (default 262144)
  --torrent-out FILE      write the .torrent there
  --confirmations N       blocks a channel must be buried under before it is served on (default 0)
download:
  --out DIR               where to write the download (default: the current directory)
  --max-price P           the most paid for one piece (default 1000000)
  --deposit D             deposit of each channel opened (default 10^18)
  --salt S                the salt of every channel (default: random per payee); a channel open on chain
                          with it is adopted instead of opened
  --fee F                 the most a relayer may take for opening (default: its minimum)
  --timeout-s T           give up after T seconds (default 600)`;

const OPTIONS = /** @type {const} */ ({
  key: { type: 'string' },
  'rpc-url': { type: 'string' },
  escrow: { type: 'string' },
  relayer: { type: 'string' },
  store: { type: 'string' },
  peer: { type: 'string', multiple: true },
  port: { type: 'string' },
  json: { type: 'boolean' },
  price: { type: 'string' },
  'credit-pieces': { type: 'string' },
  'free-pieces': { type: 'string' },
  'piece-length': { type: 'string' },
  'torrent-out': { type: 'string' },
  confirmations: { type: 'string' },
  out: { type: 'string' },
  'max-price': { type: 'string' },
  deposit: { type: 'string' },
  salt: { type: 'string' },
  fee: { type: 'string' },
  'timeout-s': { type: 'string' },
  help: { type: 'boolean' },
});

/** Exit statuses: 0 done, 1 the run failed, 2 a usage error. */
class UsageError extends Error {}

/** @param {Record<string, any>} values @param {string} name @param {bigint} [fallback] */
function amount(values, name, fallback) {
  const text = values[name];
  if (text === undefined) {
    if (fallback === undefined) throw new UsageError(`--${name} is required`);
    return fallback;
  }
  if (!/^(0|[1-9][0-9]*)$/.test(text)) throw new UsageError(`--${name} wants a decimal amount in base units`);
  return BigInt(text);
}

/** @param {Record<string, any>} values @param {string} name @param {number} fallback @param {number} max */
function integer(values, name, fallback, max) {
  const text = values[name];
  if (text === undefined) return fallback;
  if (!/^(0|[1-9][0-9]*)$/.test(text) || Number(text) > max) throw new UsageError(`--${name} wants a number up to ${max}`);
  return Number(text);
}

/** @param {string} peer */
function checkPeer(peer) {
  if (!/^[^:\s]+:[0-9]{1,5}$/.test(peer)) throw new UsageError(`--peer ${peer}: wants HOST:PORT`);
  return peer;
}

function main() {
  let parsed;
  try {
    parsed = parseArgs({ options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    return fail(new UsageError(/** @type {Error} */ (error).message));
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0) {
    process.stdout.write(`${USAGE}\n`);
    return Promise.resolve(values.help ? 0 : 2);
  }
  const [command, target] = positionals;
  const run = command === 'seed' ? seed : command === 'download' ? download : null;
  if (!run || !target || positionals.length !== 2) return fail(new UsageError(`expected seed FILE or download TORRENT\n${USAGE}`));
  return run(target, values).catch(fail);
}

/** @param {unknown} error */
async function fail(error) {
  if (error instanceof UsageError) {
    process.stderr.write(`piecepay-webtorrent: usage error: ${error.message}\n`);
    return 2;
  }
  const code = error instanceof PiecepayError ? error.code : 'internal';
  process.stderr.write(`piecepay-webtorrent: error[${code}]: ${/** @type {Error} */ (error).message}\n`);
  return 1;
}

/**
 * What both commands share: the key, the chain, the store, the relayer, the WebTorrent client.
 *
 * @param {Record<string, any>} values
 */
async function common(values) {
  const key = values.key ?? process.env.PIECEPAY_KEY;
  if (!key || !/^0x[0-9a-fA-F]{64}$/.test(key)) throw new UsageError('--key (or PIECEPAY_KEY) wants a 0x-prefixed 32-byte hex secret key');
  if (!values['rpc-url']) throw new UsageError('--rpc-url is required');
  if (!values.escrow || !/^0x[0-9a-fA-F]{40}$/.test(values.escrow)) throw new UsageError('--escrow wants a 0x-prefixed address');
  const peers = (values.peer ?? []).map(checkPeer);
  const port = integer(values, 'port', 0, 65535);
  const chain = await ChainClient.connect({ rpcUrl: values['rpc-url'], escrow: values.escrow, key, confirmations: integer(values, 'confirmations', 0, 1000) });
  const relayer = values.relayer ? new RelayerClient(values.relayer, { chainId: chain.chainId, escrow: chain.escrowAddress }) : undefined;
  const store = values.store ? await FileStore.open(values.store) : new MemoryStore();
  // Loopback and LAN use: peers are given, nothing is discovered.
  const client = new WebTorrent({ dht: false, tracker: false, lsd: false, utp: false, webSeeds: false, torrentPort: port });
  client.on('error', (error) => report({ event: 'warning', message: String(error.message ?? error) }));
  const json = Boolean(values.json);
  /** @param {Record<string, unknown>} event */
  function report(event) {
    if (json) process.stdout.write(`${JSON.stringify(event, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
    else process.stderr.write(`${Object.entries(event).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
  }
  return { key, chain, relayer, store, client, peers, report };
}

/**
 * @param {Piecepay} payments
 * @param {(event: Record<string, unknown>) => void} report
 */
function forward(payments, report) {
  payments.on('protocol-error', ({ peer, error, from }) => report({ event: 'protocol_error', peer, from, code: error.code }));
  payments.on('warning', (error) => report({ event: 'warning', message: String(error?.message ?? error) }));
}

/** @param {string} file @param {Record<string, any>} values */
async function seed(file, values) {
  const price = amount(values, 'price', 1000n);
  const creditPieces = integer(values, 'credit-pieces', 64, 0xffffffff);
  const pieceLength = integer(values, 'piece-length', 262_144, 1 << 26);
  const { key, chain, relayer, store, client, peers, report } = await common(values);
  const payments = new Piecepay({
    chainId: chain.chainId,
    escrow: chain.escrowAddress,
    token: chain.tokenAddress,
    store,
    freePieces: integer(values, 'free-pieces', 0, 0xffffffff),
    payee: { key, price, creditPieces, checkChannel: checkOnChain(chain), relayer },
  });
  forward(payments, report);
  payments.on('receipt', (r) => report({ event: 'receipt', channel_id: r.channelId, payer: r.payer, cumulative: r.cumulative }));
  const torrent = await new Promise((resolve, reject) => {
    client.once('error', reject);
    client.seed(file, { pieceLength, announce: [] }, resolve);
  });
  payments.attach(torrent);
  for (const peer of peers) torrent.addPeer(peer);
  if (values['torrent-out']) writeFileSync(values['torrent-out'], torrent.torrentFile);
  const port = await listeningPort(client);
  report({ event: 'listening', port, info_hash: torrent.infoHash, address: payments.payeeAddress, pieces: torrent.pieces.length });
  await new Promise((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await payments.destroy();
  report({ event: 'done', stats: payments.stats, receipts: await store.receipts() });
  await new Promise((resolve) => client.destroy(resolve));
  chain.destroy();
  return 0;
}

/** @param {string} torrentFile @param {Record<string, any>} values */
async function download(torrentFile, values) {
  const maxPrice = amount(values, 'max-price', 1_000_000n);
  const deposit = amount(values, 'deposit', 10n ** 18n);
  const salt = values.salt === undefined ? null : integer(values, 'salt', 0, 0xffffffff);
  const fee = values.fee === undefined ? undefined : amount(values, 'fee');
  const timeoutS = integer(values, 'timeout-s', 600, 86_400);
  let metadata;
  try {
    metadata = readFileSync(torrentFile);
  } catch (error) {
    throw new UsageError(`${torrentFile}: ${/** @type {Error} */ (error).message}`);
  }
  const { key, chain, relayer, store, client, peers, report } = await common(values);
  if (peers.length === 0) throw new UsageError('download needs at least one --peer');
  const payments = new Piecepay({
    chainId: chain.chainId,
    escrow: chain.escrowAddress,
    token: chain.tokenAddress,
    store,
    payer: {
      key,
      maxPrice,
      salt: salt === null ? undefined : () => salt,
      fund: relayer ? openViaRelayer(relayer, { deposit, fee, chain }) : openOnChain(chain, deposit),
    },
  });
  forward(payments, report);
  const torrent = client.add(metadata, { path: values.out ?? process.cwd(), announce: [] });
  payments.attach(torrent);
  for (const peer of peers) torrent.addPeer(peer);
  const started = Date.now();
  const done = new Promise((resolve) => torrent.once('done', resolve));
  // Done when every piece is in, and every piece is paid and acknowledged (or nobody sells).
  const settled = () =>
    [...payments.channels.values()].every((c) => c.state !== 'open' || (!c.behind() && c.acknowledged === c.signed));
  const deadline = started + timeoutS * 1000;
  let timer;
  const expired = new Promise((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutS * 1000);
  });
  let timedOut = !(await Promise.race([done.then(() => true), expired]));
  clearTimeout(timer);
  while (!timedOut && !settled()) {
    timedOut = Date.now() > deadline;
    await sleep(50);
  }
  const channels = [...payments.channels.values()].map((c) => ({
    channel_id: c.id,
    payee: c.payee,
    salt: c.salt,
    state: c.state,
    pieces: c.piecesPaid,
    signed: c.signed,
    acknowledged: c.acknowledged,
  }));
  report({
    event: 'done',
    seconds: (Date.now() - started) / 1000,
    pieces: torrent.pieces.length,
    complete: torrent.done,
    stats: payments.stats,
    channels,
  });
  await payments.destroy();
  await new Promise((resolve) => client.destroy(resolve));
  chain.destroy();
  return timedOut ? 1 : 0;
}

/** @param {number} ms */
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** @param {any} client */
async function listeningPort(client) {
  if (!client.listening) await new Promise((resolve) => client.once('listening', resolve));
  return client.address().port;
}

main().then((status) => {
  process.exitCode = status;
});
