// WebTorrent with piecepay on both sides, on loopback, against a real devnet: a leecher opens its channel
// through the relayer and pays every piece; the seeder checks the channel on chain, serves within credit,
// stores the receipts and hands them to the relayer, which settles them on chain. Then peers that do not
// behave: one that stops paying, one without the extension, one sending garbage.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import WebTorrent from 'webtorrent';

import { addressOf, channelId, digest, domain, signDigest, signingKey } from '../src/eip712.js';
import { checkOnChain, openViaRelayer } from '../src/funding.js';
import { FileStore } from '../src/store.js';
import { Piecepay } from '../src/webtorrent.js';
import * as wire from '../src/wire.js';
import { eventually, startTestbed } from './support/devnet.js';
import { connectRawPeer } from './support/raw-peer.js';

const PRICE = 10n ** 15n;
const CREDIT = 8;
const PIECE = 64 * 1024;
const DATA = randomBytes(64 * PIECE);
const LOOPBACK = { dht: false, tracker: false, lsd: false, utp: false, webSeeds: false };

let bed;
let devnet;
let chain;
let relayer;
let dir;
/** The seeder every test talks to: WebTorrent with piecepay, selling. */
let seeder;

before(async () => {
  bed = await startTestbed('webtorrent', { peers: 4, leechers: 3, deposit: 100 });
  ({ devnet, chain, relayer, dir } = bed);
  seeder = await startSeeder(bed.seeders()[0].key);
});

after(async () => {
  await seeder?.stop();
  await bed?.stop();
});

async function startSeeder(key) {
  const client = new WebTorrent(LOOPBACK);
  const store = await FileStore.open(join(dir, 'seeder.jsonl'));
  const payments = new Piecepay({
    chainId: devnet.chain_id,
    escrow: devnet.escrow,
    token: devnet.token,
    store,
    payee: { key, price: PRICE, creditPieces: CREDIT, checkChannel: checkOnChain(chain), relayer, settleDelayMs: 200 },
  });
  const torrent = await new Promise((resolve) => client.seed(DATA, { name: 'data.bin', pieceLength: PIECE, announce: [] }, resolve));
  payments.attach(torrent);
  if (!client.listening) await new Promise((resolve) => client.once('listening', resolve));
  return {
    client,
    payments,
    torrent,
    port: client.address().port,
    stop: async () => {
      await payments.destroy();
      await new Promise((resolve) => client.destroy(resolve));
    },
  };
}


test('a WebTorrent leecher pays every piece to a WebTorrent seeder; the receipts settle on chain', { timeout: 60_000 }, async () => {
  const leecherKey = bed.leechers()[0].key;
  const client = new WebTorrent(LOOPBACK);
  const payments = new Piecepay({
    chainId: devnet.chain_id,
    escrow: devnet.escrow,
    token: devnet.token,
    store: await FileStore.open(join(dir, 'leecher.jsonl')),
    payer: { key: leecherKey, maxPrice: PRICE * 2n, salt: () => 5, fund: openViaRelayer(relayer, { deposit: 10n ** 18n, chain }) },
  });
  const warnings = [];
  for (const p of [payments, seeder.payments]) p.on('warning', (e) => warnings.push(e));
  const torrent = client.add(seeder.torrent.torrentFile, { path: join(dir, 'leecher'), announce: [] });
  payments.attach(torrent);
  torrent.addPeer(`127.0.0.1:${seeder.port}`);
  await new Promise((resolve) => torrent.once('done', resolve));
  assert.ok(Buffer.from(await new Promise((resolve, reject) => torrent.files[0].getBuffer((e, b) => (e ? reject(e) : resolve(b))))).equals(DATA));

  const pieces = BigInt(torrent.pieces.length);
  const id = channelId(addressOf(signingKey(leecherKey)), seeder.payments.payeeAddress, 5);
  const channel = payments.channels.get(seeder.payments.payeeAddress);
  // The payer paid every piece, and the payee acknowledged all of it.
  await eventually(() => channel.acknowledged === pieces * PRICE);
  assert.equal(payments.stats.piecesPaid, Number(pieces));
  assert.equal(payments.stats.piecesUnpaid, 0);
  // The payee holds the receipt for all of it, durably; the relayer settles it on chain.
  assert.equal((await seeder.payments.store.highestReceipt(id)).cumulative, pieces * PRICE);
  await eventually(async () => (await chain.channel(id)).settled === pieces * PRICE);
  assert.equal(seeder.payments.stats.piecesServedFree, 0);
  assert.ok(seeder.payments.stats.piecesServedPaid >= Number(pieces));
  assert.equal(payments.stats.protocolErrors + seeder.payments.stats.protocolErrors, 0);
  assert.deepEqual(warnings, []);
  await payments.destroy();
  await new Promise((resolve) => client.destroy(resolve));
});

test('over its credit a peer waits for its receipt to be verified; one that stops paying is refused and choked', { timeout: 60_000 }, async () => {
  const leecher = bed.leechers()[1];
  const key = signingKey(leecher.key);
  const payerChain = await bed.chainAs(leecher.key);
  await payerChain.openChannel(seeder.payments.payeeAddress, 77, 10n ** 18n);
  payerChain.destroy();
  const peer = await connectRawPeer({ port: seeder.port, infoHash: seeder.torrent.infoHash });
  const terms = await peer.nextOf('terms');
  assert.equal(terms.price, PRICE);
  assert.equal(terms.credit_pieces, CREDIT);
  peer.send(wire.encode({ t: 'bid', price: PRICE, payer: addressOf(key).toLowerCase(), salt: 77 }));
  assert.equal((await peer.nextOf('accept')).price, PRICE);
  // Before the channel is funded an interested peer is told why it is choked, and its requests are refused.
  peer.wire.interested();
  assert.equal((await peer.nextOf('payment_required')).reason, 'not_open');
  peer.request(0, 0, 16384);
  await peer.until(() => peer.events.rejects > 0);
  const id = channelId(addressOf(key), seeder.payments.payeeAddress, 77);
  peer.send(wire.encode({ t: 'channel', payer: addressOf(key).toLowerCase(), salt: 77, id, deposit: 10n ** 18n }));
  await peer.until(() => peer.events.unchokes > 0);
  const dom = domain(devnet.chain_id, devnet.escrow);
  const pay = (pieces) => {
    const cumulative = BigInt(pieces) * PRICE;
    const sig = signDigest(key, digest(dom, 'Receipt', { payee: seeder.payments.payeeAddress, salt: 77, cumulative }));
    peer.send(wire.encode({ t: 'receipt', salt: 77, cumulative, sig }));
    return cumulative;
  };
  const ask = (from, to) => {
    for (let p = from; p < to; p += 1) for (let o = 0; o < PIECE; o += 16384) peer.request(p, o, 16384);
  };
  const blocks = PIECE / 16384;
  const rejectsBefore = peer.events.rejects;

  // A window's worth is served; the pieces asked for beyond it are held back, not refused.
  ask(0, CREDIT);
  await peer.until(() => peer.events.pieces.length === CREDIT * blocks);
  ask(CREDIT, CREDIT + 4);
  // The receipt for the window frees credit: it is verified at once, and the held pieces follow.
  const paid = pay(CREDIT);
  assert.equal((await peer.nextOf('receipt_ack')).cumulative, paid);
  await peer.until(() => peer.events.pieces.length === (CREDIT + 4) * blocks);
  assert.equal(peer.events.chokes, 0, 'flow control, no choke');
  assert.equal(peer.events.rejects, rejectsBefore);

  // A peer that stops paying: asked for all at once, its pipeline is served (§7 counts pieces sent), then
  // a window's worth is held back, and the next request is refused: payment_required, choke, rejects.
  ask(CREDIT + 4, 24);
  await peer.until(() => peer.events.pieces.length === 24 * blocks);
  ask(24, 24 + CREDIT + 1);
  const required = await peer.nextOf('payment_required');
  assert.equal(required.reason, 'over_credit');
  assert.equal(required.served, 24n * PRICE);
  assert.equal(required.paid, paid);
  await peer.until(() => peer.events.chokes > 0 && peer.events.rejects >= rejectsBefore + (CREDIT + 1) * blocks);
  assert.equal(peer.events.pieces.length, 24 * blocks, 'nothing beyond the pipeline served');
  // Paying brings it back within credit: acknowledged, unchoked.
  const all = pay(24);
  assert.equal((await peer.nextOf('receipt_ack')).cumulative, all);
  await peer.until(() => peer.events.unchokes > 1);
  peer.close();
});

test('a peer without the extension is not served (no free share): its requests are rejected', { timeout: 60_000 }, async () => {
  const stock = await connectRawPeer({ port: seeder.port, infoHash: seeder.torrent.infoHash, piecepay: false });
  stock.wire.interested();
  stock.request(1, 0, 16384);
  await stock.until(() => stock.events.rejects > 0);
  assert.equal(stock.events.unchokes, 0);
  assert.deepEqual(stock.events.pieces, []);
  stock.close();
});

test('garbage from a peer is answered with error replies, never a crash, and the seeder goes on serving', { timeout: 60_000 }, async () => {
  const peer = await connectRawPeer({ port: seeder.port, infoHash: seeder.torrent.infoHash });
  await peer.nextOf('terms');
  const before = seeder.payments.stats.protocolErrors;
  const cases = [
    ['d1:t5:helloe', 'unknown_message', 'hello'],
    ['i42e', 'not_a_message', undefined],
    ['d1:t3:bid', 'malformed', undefined],
    ['d5:pricei-1e1:t3:bide', 'invalid_field', 'bid'],
    ['d1:t7:receipte', 'missing_field', 'receipt'],
    ['d5:pricei03e1:t3:bide', 'not_canonical', undefined],
    [wire.encode({ t: 'receipt', salt: 1, cumulative: 5n, sig: `0x${'ab'.repeat(64)}` }), 'unexpected_message', 'receipt'],
    [wire.encode({ t: 'accept', price: 1n, credit_pieces: 1 }), 'unexpected_message', 'accept'],
    ['x'.repeat(5000), 'too_large', undefined],
  ];
  for (const [bytes, code, re] of cases) {
    peer.send(bytes);
    const reply = await peer.nextOf('error');
    assert.equal(reply.code, code, String(bytes).slice(0, 40));
    assert.equal(reply.re, re, String(bytes).slice(0, 40));
  }
  // An error is not answered.
  peer.send(wire.encode({ t: 'error', code: 'whatever' }));
  assert.equal(seeder.payments.stats.protocolErrors, before + cases.length);
  // The connection still works: a proper bid is accepted.
  peer.send(wire.encode({ t: 'bid', price: PRICE, payer: `0x${'42'.repeat(20)}`, salt: 1 }));
  assert.equal((await peer.nextOf('accept')).price, PRICE);
  peer.close();
});
