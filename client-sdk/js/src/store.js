/**
 * Durable state (docs/sdk.md, "Persistence rules"): a payee never loses its highest receipt of a channel
 * once it acknowledged it; a payer never signs a receipt at or below one it already signed for the same
 * channel, across crashes and restarts.
 *
 * `Store` is the interface the WebTorrent integration uses; `FileStore` implements it over one
 * append-only log file, `MemoryStore` (tests, or a caller that persists elsewhere) keeps it in memory.
 *
 * @typedef {import('./outcome.js').AcceptedReceipt} StoredReceipt
 *
 * @typedef {object} Store
 * @property {(receipt: StoredReceipt) => Promise<boolean>} saveReceiptIfHigher payee: stores `receipt`
 *   unless one of at least its cumulative is held for its channel, and resolves once what the store holds
 *   for the channel is durable (so the caller may acknowledge). True if it was raised. Idempotent.
 * @property {(channelId: string) => Promise<StoredReceipt | null>} highestReceipt payee: the highest
 *   receipt held for a channel
 * @property {() => Promise<StoredReceipt[]>} receipts payee: the highest receipt of every channel (what
 *   is still to settle after a restart)
 * @property {(channelId: string, cumulative: bigint, sig: string) => Promise<void>} reserveSignature
 *   payer: durably raises the channel's signed high-water mark to `cumulative`, or rejects
 *   (`stale_receipt`) a cumulative at or below it. Resolves once durable: only then may the receipt leave.
 * @property {(channelId: string) => Promise<{ cumulative: bigint, sig: string } | null>} lastSignature
 *   payer: the high-water mark and its signature
 * @property {() => Promise<void>} close
 */

import { closeSync, fsyncSync, openSync } from 'node:fs';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

import { PiecepayError } from './errors.js';

/** Keeps the latest record of each kind per channel; shared by both implementations. */
class Ledger {
  constructor() {
    /** @type {Map<string, StoredReceipt>} */
    this.received = new Map();
    /** @type {Map<string, { cumulative: bigint, sig: string }>} */
    this.signed = new Map();
  }

  /** @param {StoredReceipt} receipt */
  raiseReceipt(receipt) {
    const key = receipt.channelId.toLowerCase();
    const held = this.received.get(key);
    if (held && held.cumulative >= receipt.cumulative) return false;
    this.received.set(key, { ...receipt, channelId: key });
    return true;
  }

  /** @param {string} channelId @param {bigint} cumulative @param {string} sig */
  raiseSignature(channelId, cumulative, sig) {
    const key = channelId.toLowerCase();
    const held = this.signed.get(key);
    if (held && held.cumulative >= cumulative) {
      throw new PiecepayError('stale_receipt', `channel ${key} already signed ${held.cumulative}; refusing ${cumulative}`);
    }
    this.signed.set(key, { cumulative, sig });
  }
}

/** A `Store` in memory: nothing survives the process. `FileStore` adds the file. */
export class MemoryStore {
  /** @param {Ledger} [ledger] */
  constructor(ledger = new Ledger()) {
    this.ledger = ledger;
  }

  /** @param {StoredReceipt} receipt */
  async saveReceiptIfHigher(receipt) {
    return this.ledger.raiseReceipt(receipt);
  }

  /** @param {string} channelId */
  async highestReceipt(channelId) {
    return this.ledger.received.get(channelId.toLowerCase()) ?? null;
  }

  async receipts() {
    return [...this.ledger.received.values()];
  }

  /** @param {string} channelId @param {bigint} cumulative @param {string} sig */
  async reserveSignature(channelId, cumulative, sig) {
    this.ledger.raiseSignature(channelId, cumulative, sig);
  }

  /** @param {string} channelId */
  async lastSignature(channelId) {
    return this.ledger.signed.get(channelId.toLowerCase()) ?? null;
  }

  async close() {}
}

/**
 * A `Store` over one append-only file of JSON lines, one record per change, `fdatasync`ed before a save
 * resolves. Saves made while a sync runs share the next one (group commit), so many peers cost one sync
 * per batch, not one each. At open, the file is read back (a last line torn by a crash is dropped: its
 * save never resolved) and rewritten compactly, one line per channel and kind; it is compacted again when
 * it grows to several times that.
 */
export class FileStore extends MemoryStore {
  /**
   * Opens (creating it if needed) the store at `path`.
   *
   * @param {string} path
   */
  static async open(path) {
    await mkdir(dirname(path), { recursive: true });
    const ledger = new Ledger();
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if (/** @type {NodeJS.ErrnoException} */ (error).code !== 'ENOENT') throw error;
    }
    const lines = text.split('\n');
    // Only newline-terminated lines were ever acknowledged: a torn tail is dropped.
    lines.pop();
    for (const [i, line] of lines.entries()) {
      let record;
      try {
        record = JSON.parse(line);
      } catch (cause) {
        throw new PiecepayError('corrupt_store', `${path}:${i + 1} is not a record`, { cause });
      }
      apply(ledger, record);
    }
    const store = new FileStore(path, ledger);
    await store.compact();
    return store;
  }

  /**
   * @param {string} path
   * @param {Ledger} ledger
   */
  constructor(path, ledger) {
    super(ledger);
    this.path = path;
    /** @type {import('node:fs/promises').FileHandle | null} */
    this.file = null;
    this.lines = 0;
    /** @type {string[]} records waiting for the next write */
    this.pending = [];
    /** @type {Promise<void> | null} the write that will take `pending` */
    this.next = null;
    /** @type {Promise<void>} the last write scheduled, failed or not: writes run one after another */
    this.tail = Promise.resolve();
    /** @type {unknown} a write that failed: the file may end in a torn line, so nothing more is written */
    this.failed = null;
    this.closed = false;
  }

  /** @param {StoredReceipt} receipt */
  async saveReceiptIfHigher(receipt) {
    const raised = this.ledger.raiseReceipt(receipt);
    // Whether raised or not, what is held for the channel may still be on its way to disk: wait for it.
    await (raised ? this.append(receiptRecord(receipt)) : this.settled());
    return raised;
  }

  /** @param {string} channelId @param {bigint} cumulative @param {string} sig */
  async reserveSignature(channelId, cumulative, sig) {
    // Raised in memory first: a later reservation is compared with this one even before it is durable,
    // and a failed write leaves the mark high (the payer then signs higher, never lower).
    this.ledger.raiseSignature(channelId, cumulative, sig);
    await this.append(signatureRecord(channelId.toLowerCase(), cumulative, sig));
  }

  /**
   * Appends `line` with the next group write; resolves once it is on disk.
   *
   * @param {string} line
   */
  append(line) {
    if (this.closed) return Promise.reject(new PiecepayError('store_closed', 'the store is closed'));
    if (this.failed) return Promise.reject(new PiecepayError('store_failed', `${this.path}: an earlier write failed`, { cause: this.failed }));
    this.pending.push(line);
    if (!this.next) {
      this.next = this.tail.then(() => this.flush());
      this.tail = this.next.catch(() => {});
    }
    return this.next;
  }

  /** Resolves once every write begun so far is on disk (or failed). */
  settled() {
    return this.tail;
  }

  async flush() {
    // Lines appended from here on go to the following write.
    this.next = null;
    const batch = this.pending;
    this.pending = [];
    if (this.failed) throw new PiecepayError('store_failed', `${this.path}: an earlier write failed`, { cause: this.failed });
    try {
      if (!this.file) this.file = await open(this.path, 'a');
      await this.file.write(`${batch.join('\n')}\n`);
      await this.file.datasync();
    } catch (error) {
      this.failed = error;
      throw new PiecepayError('store_failed', `${this.path}: ${/** @type {Error} */ (error).message}`, { cause: error });
    }
    this.lines += batch.length;
    if (this.lines > 4 * (this.ledger.received.size + this.ledger.signed.size) + 1024) {
      // The batch is durable whatever becomes of this: a failed compaction leaves the long file as it was.
      await this.compact().catch(() => {});
    }
  }

  /** Rewrites the file with one line per channel and kind: temporary file, sync, rename, sync the folder. */
  async compact() {
    const records = [
      ...[...this.ledger.received.values()].map(receiptRecord),
      ...[...this.ledger.signed.entries()].map(([id, s]) => signatureRecord(id, s.cumulative, s.sig)),
    ];
    const temp = `${this.path}.tmp`;
    const out = await open(temp, 'w');
    try {
      await out.write(records.length ? `${records.join('\n')}\n` : '');
      await out.datasync();
    } finally {
      await out.close();
    }
    await this.file?.close();
    this.file = null;
    await rename(temp, this.path);
    syncDirectory(dirname(this.path));
    this.lines = records.length;
  }

  async close() {
    await this.settled();
    this.closed = true;
    await this.file?.close();
    this.file = null;
  }
}

/** A rename is durable once its folder is synced. */
function syncDirectory(/** @type {string} */ dir) {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** @param {StoredReceipt} r */
function receiptRecord(r) {
  return JSON.stringify({
    kind: 'receipt',
    channel_id: r.channelId.toLowerCase(),
    payer: r.payer,
    payee: r.payee,
    salt: r.salt,
    cumulative: r.cumulative.toString(),
    sig: r.sig,
  });
}

/** @param {string} channelId @param {bigint} cumulative @param {string} sig */
function signatureRecord(channelId, cumulative, sig) {
  return JSON.stringify({ kind: 'signed', channel_id: channelId, cumulative: cumulative.toString(), sig });
}

/**
 * @param {Ledger} ledger
 * @param {any} record
 */
function apply(ledger, record) {
  if (record.kind === 'receipt') {
    ledger.raiseReceipt({
      channelId: record.channel_id,
      payer: record.payer,
      payee: record.payee,
      salt: record.salt,
      cumulative: BigInt(record.cumulative),
      sig: record.sig,
    });
  } else if (record.kind === 'signed') {
    const held = ledger.signed.get(record.channel_id);
    if (!held || held.cumulative < BigInt(record.cumulative)) {
      ledger.signed.set(record.channel_id, { cumulative: BigInt(record.cumulative), sig: record.sig });
    }
  }
}
