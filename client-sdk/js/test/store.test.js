// The stores keep their promises: monotonic, idempotent, durable before they resolve — checked against a
// real process killed with SIGKILL in the middle of saving.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';

import { FileStore, MemoryStore } from '../src/store.js';

const ID = `0x${'11'.repeat(32)}`;
const receipt = (cumulative) => ({ channelId: ID, payer: `0x${'aa'.repeat(20)}`, payee: `0x${'bb'.repeat(20)}`, salt: 7, cumulative, sig: `0x${'cd'.repeat(64)}` });

for (const [name, make] of [
  ['MemoryStore', async () => new MemoryStore()],
  ['FileStore', async (dir) => FileStore.open(join(dir, 'store.jsonl'))],
]) {
  test(`${name}: receipts only ever rise; signatures never repeat or go down`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'piecepay-store-'));
    t.after(() => rmSync(dir, { recursive: true }));
    const store = await make(dir);
    assert.equal(await store.saveReceiptIfHigher(receipt(10n)), true);
    assert.equal(await store.saveReceiptIfHigher(receipt(10n)), false, 'idempotent');
    assert.equal(await store.saveReceiptIfHigher(receipt(5n)), false);
    assert.equal((await store.highestReceipt(ID.toUpperCase().replace('0X', '0x'))).cumulative, 10n);
    assert.equal((await store.receipts()).length, 1);
    await store.reserveSignature(ID, 100n, 'sig100');
    await assert.rejects(store.reserveSignature(ID, 100n, 'again'), { code: 'stale_receipt' });
    await assert.rejects(store.reserveSignature(ID, 50n, 'lower'), { code: 'stale_receipt' });
    await store.reserveSignature(ID, 200n, 'sig200');
    assert.deepEqual(await store.lastSignature(ID), { cumulative: 200n, sig: 'sig200' });
    assert.equal(await store.lastSignature(`0x${'22'.repeat(32)}`), null);
    await store.close();
  });
}

test('FileStore: concurrent saves share syncs, survive reopening, and a torn last line is dropped', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'piecepay-store-'));
  const path = join(dir, 'store.jsonl');
  const store = await FileStore.open(path);
  await Promise.all(Array.from({ length: 200 }, (_, i) => store.saveReceiptIfHigher(receipt(BigInt(i + 1)))));
  await Promise.all(Array.from({ length: 50 }, (_, i) => store.reserveSignature(`0x${i.toString(16).padStart(64, '0')}`, 1n, 's')));
  await store.close();
  appendFileSync(path, '{"kind":"receipt","channel_id":"0x');
  const again = await FileStore.open(path);
  assert.equal((await again.highestReceipt(ID)).cumulative, 200n);
  assert.equal((await again.lastSignature(`0x${'0'.repeat(63)}7`)).cumulative, 1n);
  await again.close();
  rmSync(dir, { recursive: true });
});

test('FileStore: every save that resolved survives SIGKILL', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'piecepay-store-'));
  const path = join(dir, 'store.jsonl');
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    import { FileStore } from ${JSON.stringify(new URL('../src/store.js', import.meta.url).href)};
    const store = await FileStore.open(${JSON.stringify(path)});
    for (let i = 1n; ; i += 1n) {
      await store.reserveSignature('${ID}', i, 'sig' + i);
      await store.saveReceiptIfHigher({ channelId: '${ID}', payer: '0x', payee: '0x', salt: 7, cumulative: i, sig: 's' });
      process.stdout.write(i + '\\n');
    }
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  let last = 0n;
  for await (const line of createInterface({ input: child.stdout })) {
    last = BigInt(line);
    if (last >= 300n) {
      child.kill('SIGKILL');
      break;
    }
  }
  await new Promise((resolve) => child.once('exit', resolve));
  const store = await FileStore.open(path);
  assert.ok((await store.lastSignature(ID)).cumulative >= last, 'a reservation reported durable was lost');
  assert.ok((await store.highestReceipt(ID)).cumulative >= last, 'a receipt reported durable was lost');
  await store.close();
  rmSync(dir, { recursive: true });
});
