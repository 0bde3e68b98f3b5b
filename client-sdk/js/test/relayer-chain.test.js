// The relayer client and the chain adapter against a real devnet: a gasless open through the relayer, receipts
// handed over and settled on chain, a payee settling itself, a cooperative close — and the relayer's
// refusals surfacing with their codes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { addressOf, channelId, domain, signingKey } from '../src/eip712.js';
import { openViaRelayer } from '../src/funding.js';
import { PayeeSession } from '../src/payee.js';
import { PayerChannel } from '../src/payer.js';
import * as wire from '../src/wire.js';
import { eventually, startTestbed } from './support/devnet.js';

let bed;
let devnet;
let relayer;
let chain;

before(async () => {
  bed = await startTestbed('relayer-chain', { peers: 4, leechers: 2, deposit: 100 });
  ({ devnet, relayer, chain } = bed);
});

after(() => bed?.stop());

const TOKEN = 10n ** 18n;

test('the relayer describes the escrow the devnet deployed', async () => {
  const info = await relayer.info();
  assert.equal(info.chain_id, devnet.chain_id);
  assert.equal(info.escrow.toLowerCase(), devnet.escrow.toLowerCase());
  assert.equal(typeof info.min_fees.open, 'bigint');
  assert.equal(chain.tokenAddress.toLowerCase(), devnet.token.toLowerCase());
});

test('open gaslessly through the relayer, pay, settle through the relayer, close cooperatively on chain', async () => {
  const [leecher] = bed.leechers();
  const [seeder] = bed.seeders();
  const key = signingKey(leecher.key);
  const dom = domain(devnet.chain_id, devnet.escrow);
  const channel = new PayerChannel({ key, domain: dom, payee: seeder.address, salt: 41 });
  channel.price = 10n ** 15n;
  const { deposit } = await openViaRelayer(relayer, { deposit: TOKEN, chain })(channel);
  channel.funded(deposit);
  assert.deepEqual(await chain.channel(channel.id), { deposit: TOKEN, settled: 0n, closesAt: 0n, nonce: 0, state: 'open' });
  // The payee's session sees the same channel.
  const payee = new PayeeSession({ chainId: devnet.chain_id, escrow: devnet.escrow, token: devnet.token, key: seeder.key, price: 10n ** 15n, creditPieces: 8 });
  assert.equal(channelId(addressOf(key), payee.address, 41), channel.id);

  channel.piecesVerified(3);
  const receipt = channel.signNext();
  const [accepted] = await relayer.submitReceipts([{ payee: seeder.address, salt: 41, cumulative: receipt.cumulative, sig: receipt.sig }]);
  assert.equal(accepted.status, 'accepted');
  assert.equal(accepted.channelId, channel.id);
  const [again] = await relayer.submitReceipts([{ payee: seeder.address, salt: 41, cumulative: receipt.cumulative, sig: receipt.sig }]);
  assert.equal(again.status, 'duplicate');
  // Settled on chain by the relayer's batcher.
  await eventually(async () => (await chain.channel(channel.id)).settled === receipt.cumulative);
  // The relayer reports it once its indexer reached the block (at its confirmation depth).
  await eventually(async () => (await relayer.settlement(channel.id)).settled === receipt.cumulative);
  assert.equal((await relayer.channel(channel.id)).latest_receipt.cumulative, receipt.cumulative);

  // A stale receipt is refused with the API's code; a malformed request fails as a whole.
  const [stale] = await relayer.submitReceipts([{ payee: seeder.address, salt: 41, cumulative: 1n, sig: receipt.sig }]);
  assert.equal(stale.status, 'rejected');
  assert.ok(['stale_receipt', 'wrong_signer', 'unknown_channel'].includes(stale.code), stale.code);
  await assert.rejects(relayer.submitOperations([{ type: 'open' }]), { code: 'invalid_request', status: 400 });
  assert.equal(await relayer.channel(`0x${'00'.repeat(32)}`), null);

  // One more piece, then a cooperative close: the payer signs, the payee co-signs, the payer submits it.
  channel.piecesVerified(1);
  const last = channel.signNext();
  payee.onMessage(bidFor(channel), 0);
  payee.channelFunded(deposit);
  payee.onMessage(last.bytes, 0);
  const proposal = channel.close(0n, BigInt(Math.floor(Date.now() / 1000) + 600));
  const answer = payee.onMessage(proposal, Math.floor(Date.now() / 1000));
  assert.equal(answer.error, null, answer.error?.message);
  const payerChain = await bed.chainAs(leecher.key);
  const before = await chain.balanceOf(seeder.address);
  await payerChain.cooperativeClose(answer.closeSigned);
  const closed = await chain.channel(channel.id);
  assert.equal(closed.state, 'closed');
  assert.equal(closed.settled, last.cumulative);
  assert.equal(await chain.balanceOf(seeder.address), before + (last.cumulative - receipt.cumulative));
  payerChain.destroy();
});

test('a payee settles its own receipt on chain (settleBatch) when no relayer is at hand', async () => {
  const [, leecher] = bed.leechers();
  const [, seeder] = bed.seeders();
  const payerChain = await bed.chainAs(leecher.key);
  const payeeChain = await bed.chainAs(seeder.key);
  const channel = new PayerChannel({ key: signingKey(leecher.key), domain: domain(devnet.chain_id, devnet.escrow), payee: seeder.address, salt: 9 });
  await payerChain.openChannel(seeder.address, 9, TOKEN);
  channel.funded(TOKEN);
  channel.price = 7n;
  channel.piecesVerified(2);
  const receipt = channel.signNext();
  await payeeChain.settle([{ payee: seeder.address, salt: 9, cumulative: receipt.cumulative, sig: receipt.sig }]);
  assert.equal((await chain.channel(channel.id)).settled, 14n);
  // An open signed for a deposit above the payer's balance is queued, then fails on chain with a reason.
  const broke = new PayerChannel({ key: signingKey(leecher.key), domain: domain(devnet.chain_id, devnet.escrow), payee: seeder.address, salt: 10 });
  await assert.rejects(openViaRelayer(relayer, { deposit: 10n ** 25n })(broke), { code: 'open_failed' });
  payerChain.destroy();
  payeeChain.destroy();
});

function bidFor(channel) {
  return wire.encode({ t: 'bid', price: channel.price, payer: channel.payer.toLowerCase(), salt: channel.salt });
}
