// `make bench-js`: the JavaScript client's two numbers.
//   js verify_receipt us=N      the payee's check of one receipt (digest over the cached domain separator,
//                               signature recovery, comparison): median of batches of 200
//   js throughput_mib_s paid=A free=B ratio=R
//                               a WebTorrent leecher downloading from a WebTorrent seeder on loopback
//                               (seeder in its own process), with piecepay on both sides (every piece paid,
//                               receipts stored durably on both sides) and without; medians over rounds
//                               that alternate the two and flip their order every round
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import MemoryChunkStore from 'memory-chunk-store';
import WebTorrent from 'webtorrent';

import { ReceiptHasher, addressOf, channelId, domain, recoverDigest, signDigest, signingKey } from '../src/eip712.js';
import { FileStore } from '../src/store.js';
import { Piecepay } from '../src/webtorrent.js';
import { BENCH_CHAIN, PAYEE_KEY, PAYER_KEY, PRICE } from './keys.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const SIZE_MIB = Number(process.env.BENCH_SIZE_MIB ?? 64);
const PIECE_KIB = 256;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function benchVerify() {
  const dom = domain(BENCH_CHAIN.chainId, BENCH_CHAIN.escrow);
  const hasher = new ReceiptHasher(dom);
  const payer = signingKey(PAYER_KEY);
  const payerAddress = addressOf(payer);
  const payee = addressOf(signingKey(PAYEE_KEY));
  const id = channelId(payerAddress, payee, 7);
  const receipts = Array.from({ length: 200 }, (_, i) => {
    const cumulative = PRICE * BigInt(i + 1);
    return { cumulative, sig: signDigest(payer, hasher.digest(payee, 7, cumulative)) };
  });
  const batches = [];
  for (let b = 0; b < 15; b += 1) {
    const start = process.hrtime.bigint();
    for (const r of receipts) {
      const signer = recoverDigest(hasher.digest(payee, 7, r.cumulative), r.sig);
      if (signer !== payerAddress || channelId(signer, payee, 7) !== id) throw new Error('bench: a receipt did not verify');
    }
    batches.push(Number(process.hrtime.bigint() - start) / 1000 / receipts.length);
  }
  // The first batches warm the JIT up.
  return median(batches.slice(3));
}

function startSeeder(mode, dir) {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./seeder.js', import.meta.url)), mode, String(SIZE_MIB), String(PIECE_KIB), dir], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bench seeder (${mode}) exited ${code}`)));
    createInterface({ input: child.stdout }).once('line', (line) => {
      const { port, torrent } = JSON.parse(line);
      resolve({ port, torrent: Buffer.from(torrent, 'base64'), stop: () => child.stdin.end() });
    });
  });
}

/** One download from `seeder`: MiB/s from the moment the leecher is connected until it has every piece. */
async function transfer(seeder, paid, dir, round) {
  const client = new WebTorrent({ dht: false, tracker: false, lsd: false, utp: false, webSeeds: false });
  let payments = null;
  if (paid) {
    payments = new Piecepay({
      ...BENCH_CHAIN,
      store: await FileStore.open(join(dir, `leecher-${round}.jsonl`)),
      payer: { key: PAYER_KEY, maxPrice: PRICE, salt: () => round, fund: async () => ({ deposit: 10n ** 24n }) },
    });
  }
  const torrent = client.add(seeder.torrent, { store: MemoryChunkStore, announce: [] });
  if (payments) payments.attach(torrent);
  const connected = new Promise((resolve) => torrent.once('wire', resolve));
  const done = new Promise((resolve) => torrent.once('done', resolve));
  torrent.addPeer(`127.0.0.1:${seeder.port}`);
  await connected;
  const start = process.hrtime.bigint();
  await done;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (payments) {
    // A paid run that did not pay every piece measured something else: refuse it.
    const pieces = torrent.pieces.length;
    if (payments.stats.piecesPaid !== pieces) throw new Error(`paid run: ${payments.stats.piecesPaid} of ${pieces} pieces paid`);
    await payments.destroy();
  }
  await new Promise((resolve) => client.destroy(resolve));
  return SIZE_MIB / seconds;
}

const dir = mkdtempSync(join(tmpdir(), 'piecepay-bench-js-'));
try {
  console.log(`js verify_receipt us=${Math.round(benchVerify())}`);
  const seeders = { paid: await startSeeder('paid', dir), free: await startSeeder('free', dir) };
  const results = { paid: [], free: [] };
  // One untimed transfer of each first: cold caches, JIT.
  await transfer(seeders.paid, true, dir, 0);
  await transfer(seeders.free, false, dir, 0);
  for (let r = 1; r <= ROUNDS; r += 1) {
    for (const mode of r % 2 ? ['paid', 'free'] : ['free', 'paid']) {
      const mib = await transfer(seeders[mode], mode === 'paid', dir, r);
      results[mode].push(mib);
      process.stderr.write(`bench round ${r} ${mode}: ${mib.toFixed(1)} MiB/s\n`);
    }
  }
  const paid = median(results.paid);
  const free = median(results.free);
  console.log(`js throughput_mib_s paid=${paid.toFixed(1)} free=${free.toFixed(1)} ratio=${(paid / free).toFixed(3)}`);
  seeders.paid.stop();
  seeders.free.stop();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
