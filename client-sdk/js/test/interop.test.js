// Interoperability on loopback, against a real devnet (anvil, the contracts, a relayer): this package's CLI
// (WebTorrent) and libtorrent with piecepay's plugin (client-sdk/integrations/libtorrent), each paying the
// other, two implementations written from the same documents. Every piece is paid and acknowledged, the
// receipts settle on chain, and garbage sent to either seeder is answered with `error` replies.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import * as bencode from '../src/bencode.js';
import { addressOf, channelId, domain, signingKey } from '../src/eip712.js';
import { openViaRelayer } from '../src/funding.js';
import { PayerChannel } from '../src/payer.js';
import * as wire from '../src/wire.js';
import { eventually, startTestbed } from './support/devnet.js';
import { startCli, startLibtorrent } from './support/processes.js';
import { connectRawPeer } from './support/raw-peer.js';

const PRICE = 10n ** 15n;
const DEPOSIT = 10n ** 18n;
const PIECE_KIB = 64;

let bed;
let devnet;
let chain;
let relayer;
let dir;

before(async () => {
  bed = await startTestbed('interop', { peers: 4, leechers: 2, deposit: 100 });
  ({ devnet, chain, relayer, dir } = bed);
});

after(() => bed?.stop());

/** The info-hash of a .torrent file: SHA-1 of its (canonical) info dictionary. */
function infoHash(torrentFile) {
  const torrent = bencode.decode(readFileSync(torrentFile), { maxLen: Infinity });
  return createHash('sha1').update(bencode.encode(torrent.get('info'))).digest('hex');
}

/** Malformed and misdirected messages, and the code each seeder must answer with (the shared vectors' codes). */
const GARBAGE = [
  ['d1:t5:helloe', 'unknown_message'],
  ['i42e', 'not_a_message'],
  ['d1:t3:bid', 'malformed'],
  ['d5:pricei-1e1:t3:bide', 'invalid_field'],
  ['d1:t7:receipte', 'missing_field'],
  ['d5:pricei03e1:t3:bide', 'not_canonical'],
  [`i${'9'.repeat(40)}e`, 'integer_out_of_range'],
  ['x'.repeat(5000), 'too_large'],
];

/** Sends every garbage message to a seeder and checks each `error` reply; the connection stays up. */
async function sendGarbage(port, torrentFile) {
  const peer = await connectRawPeer({ port, infoHash: infoHash(torrentFile) });
  await peer.nextOf('terms');
  for (const [bytes, code] of GARBAGE) {
    peer.send(bytes);
    assert.equal((await peer.nextOf('error')).code, code, bytes.slice(0, 30));
  }
  // A message of the other role is refused as such, and an error is never answered.
  peer.send(wire.encode({ t: 'receipt_ack', cumulative: 1n }));
  assert.equal((await peer.nextOf('error')).re, 'receipt_ack');
  peer.send(wire.encode({ t: 'error', code: 'whatever' }));
  peer.close();
}

test('a WebTorrent leecher pays a libtorrent seeder; the seeder\'s receipts settle on chain', { timeout: 180_000 }, async () => {
  const [payer] = bed.leechers();
  const [, payee] = bed.seeders();
  const salt = 1001;
  // The payer opens its channel gaslessly, through the relayer; the libtorrent seeder is told it (checked
  // on chain here: the plugin takes the caller's word, it does not read the chain).
  const channel = new PayerChannel({ key: signingKey(payer.key), domain: domain(devnet.chain_id, devnet.escrow), payee: payee.address, salt });
  await openViaRelayer(relayer, { deposit: DEPOSIT })(channel);
  assert.equal((await chain.channel(channel.id)).deposit, DEPOSIT);

  const seeder = startLibtorrent('seed', {
    key: payee.key,
    chainId: devnet.chain_id,
    escrow: devnet.escrow,
    token: devnet.token,
    price: PRICE,
    creditPieces: 16,
    channels: [{ peer: payer.address, salt, deposit: DEPOSIT }],
    sizeKib: 2048,
    pieceKib: PIECE_KIB,
    dir: join(dir, 'lt-seed'),
  });
  try {
    const hello = await seeder.next();
    const port = Number(hello.listen.split(':')[1]);
    await sendGarbage(port, hello.torrent);

    const leecher = startCli(['download', hello.torrent, '--key', payer.key, '--rpc-url', devnet.rpc_url, '--escrow', devnet.escrow,
      '--relayer', devnet.relayer.url, '--peer', `127.0.0.1:${port}`, '--salt', String(salt), '--max-price', String(PRICE),
      '--out', join(dir, 'js-download'), '--store', join(dir, 'js-leecher.jsonl'), '--timeout-s', '120']);
    const done = await leecher.next((l) => l.event === 'done', 150_000);
    assert.equal(await leecher.exited, 0, leecher.log.join('\n'));
    const pieces = BigInt(done.pieces);
    assert.equal(done.complete, true);
    assert.equal(done.stats.piecesPaid, done.pieces, 'the leecher paid every piece');
    assert.equal(done.stats.piecesUnpaid, 0);
    assert.equal(done.stats.protocolErrors, 0);
    assert.equal(done.channels[0].channel_id, channel.id);
    assert.equal(BigInt(done.channels[0].acknowledged), pieces * PRICE, 'and the seeder acknowledged it all');
    assert.ok(readFileSync(join(dir, 'js-download', 'interop.bin')).equals(readFileSync(join(dir, 'lt-seed', 'seed', 'interop.bin'))));

    const { lines } = await seeder.stop();
    const report = lines.at(-1);
    assert.equal(report.receipts.length, 1);
    assert.equal(BigInt(report.receipts[0].cumulative), pieces * PRICE, 'the seeder holds the receipt for every piece');
    assert.equal(report.counters.receipts_rejected, 0);
    assert.equal(report.counters.protocol_errors, GARBAGE.length + 1, 'only the garbage was refused');
    // The seeder's receipt, handed to the relayer, settles on chain.
    const r = report.receipts[0];
    const [result] = await relayer.submitReceipts([{ payee: r.payee, salt: r.salt, cumulative: BigInt(r.cumulative), sig: r.signature }]);
    assert.notEqual(result.status, 'rejected', result.message);
    await eventually(async () => (await chain.channel(channel.id)).settled === pieces * PRICE);
  } finally {
    await seeder.stop();
  }
});

test('a libtorrent leecher pays a WebTorrent seeder; the seeder hands its receipts to the relayer', { timeout: 180_000 }, async () => {
  const [, payer] = bed.leechers();
  const [payee] = bed.seeders();
  const salt = 2002;
  // The payer's channel, opened on chain by the payer itself.
  const payerChain = await bed.chainAs(payer.key);
  await payerChain.openChannel(payee.address, salt, DEPOSIT);
  payerChain.destroy();
  const id = channelId(payer.address, payee.address, salt);

  mkdirSync(join(dir, 'js-seed'), { recursive: true });
  const file = join(dir, 'js-seed', 'shared.bin');
  writeFileSync(file, randomBytes(2 * 1024 * 1024 + 12345));
  const torrentFile = join(dir, 'shared.torrent');
  const seeder = startCli(['seed', file, '--key', payee.key, '--rpc-url', devnet.rpc_url, '--escrow', devnet.escrow, '--relayer', devnet.relayer.url,
    '--price', String(PRICE), '--credit-pieces', '16', '--piece-length', String(PIECE_KIB * 1024), '--torrent-out', torrentFile,
    '--store', join(dir, 'js-seeder.jsonl')]);
  let leecher = null;
  try {
    const listening = await seeder.next((l) => l.event === 'listening');
    assert.equal(listening.address, addressOf(signingKey(payee.key)));
    await sendGarbage(listening.port, torrentFile);

    leecher = startLibtorrent('leech', {
      key: payer.key,
      chainId: devnet.chain_id,
      escrow: devnet.escrow,
      token: devnet.token,
      price: PRICE,
      torrent: torrentFile,
      peer: `127.0.0.1:${listening.port}`,
      channels: [{ peer: payee.address, salt, deposit: DEPOSIT }],
      dir: join(dir, 'lt-leech'),
    });
    await leecher.next();
    const pieces = BigInt(listening.pieces);
    // The seeder stored (and acknowledged) a receipt for every piece.
    await seeder.next((l) => l.event === 'receipt' && BigInt(l.cumulative) === pieces * PRICE, 120_000);
    const { lines } = await leecher.stop();
    const report = lines.at(-1);
    assert.equal(report.have, report.pieces, 'the leecher has every piece');
    assert.equal(BigInt(report.pieces), pieces);
    assert.equal(report.counters.pieces_paid, report.pieces, 'and paid every one');
    assert.equal(report.counters.pieces_unpaid, 0);
    assert.equal(report.counters.protocol_errors, 0);
    assert.equal(BigInt(report.channels[0].cumulative), pieces * PRICE);
    assert.ok(readFileSync(join(dir, 'lt-leech', 'download', 'shared.bin')).equals(readFileSync(file)));

    const stopped = await seeder.stop();
    assert.equal(stopped.status, 0, stopped.log.join('\n'));
    const done = stopped.lines.find((l) => l.event === 'done');
    assert.equal(done.stats.receiptsRejected, 1, 'the garbage receipt without fields, no other');
    assert.equal(done.stats.protocolErrors, GARBAGE.length + 1, 'only the garbage was refused');
    assert.equal(done.stats.piecesServedFree, 0);
    assert.equal(BigInt(done.receipts[0].cumulative), pieces * PRICE);
    // Handed to the relayer on the way out; settled on chain.
    await eventually(async () => (await chain.channel(id)).settled === pieces * PRICE);
  } finally {
    await leecher?.stop();
    await seeder.stop();
  }
});
