// A hand-driven BitTorrent peer (bittorrent-protocol's Wire over a TCP socket) that speaks piecepay's
// handshake and lets a test send any bytes as piecepay messages — well-formed or not — and watch what
// comes back: the seeders' answers to a peer no real client would be.
import { randomBytes } from 'node:crypto';
import net from 'node:net';

import Protocol from 'bittorrent-protocol';

import * as wire from '../../src/wire.js';

/**
 * Connects to a seeder of `infoHash` at 127.0.0.1:`port`, with the fast extension and, unless
 * `piecepay: false`, piecepay in its extended handshake.
 *
 * @param {{ port: number, infoHash: string, piecepay?: boolean }} options
 */
export async function connectRawPeer({ port, infoHash, piecepay = true }) {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  const w = new Protocol('tcpOutgoing');
  socket.pipe(w).pipe(socket);
  /** @type {Uint8Array[]} */
  const received = [];
  const events = { chokes: 0, unchokes: 0, rejects: 0, pieces: /** @type {number[]} */ ([]) };
  /** @type {(() => void)[]} */
  let waiters = [];
  const wake = () => {
    const now = waiters;
    waiters = [];
    for (const w of now) w();
  };
  class Recorder {
    constructor(/** @type {any} */ wire) {
      wire.extendedHandshake.piecepay_v = 1;
    }
    onMessage(/** @type {Buffer} */ buf) {
      received.push(Uint8Array.from(buf));
      wake();
    }
  }
  /** @type {any} */ (Recorder.prototype).name = 'piecepay';
  if (piecepay) w.use(Recorder);
  w.on('choke', () => { events.chokes += 1; wake(); });
  w.on('unchoke', () => { events.unchokes += 1; wake(); });
  w.on('reject', () => { events.rejects += 1; wake(); });
  w.on('piece', (index) => { events.pieces.push(index); wake(); });
  w.on('extended', wake);
  w.on('close', wake);
  w.handshake(infoHash, randomBytes(20), { fast: true });

  /**
   * Resolves once `ready()` holds (checked on every wire event), or rejects after `ms`.
   *
   * @template T
   * @param {() => T} ready
   * @param {number} [ms]
   * @returns {Promise<NonNullable<T>>}
   */
  async function until(ready, ms = 10_000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = ready();
      if (value) return /** @type {NonNullable<T>} */ (value);
      if (Date.now() > deadline) throw new Error('the peer did not answer in time');
      await new Promise((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  if (piecepay) await until(() => w.peerExtendedMapping.piecepay);
  let read = 0;
  return {
    wire: w,
    events,
    until,
    /**
     * Sends a BEP 3 `request` whatever the peer's choke says (bittorrent-protocol itself would not
     * send one to a peer choking it): a misbehaving peer's request.
     *
     * @param {number} index @param {number} offset @param {number} length
     */
    request(index, offset, length) {
      w._message(6, [index, offset, length], null);
    },
    /** @param {Uint8Array | string} bytes */
    send(bytes) {
      w.extended('piecepay', Buffer.from(bytes));
    },
    /**
     * The next piecepay message received (decoded), skipping none.
     *
     * @param {number} [ms]
     */
    async next(ms) {
      await until(() => received.length > read, ms);
      return wire.decode(received[read++]);
    },
    /**
     * The next message of type `t`, skipping others.
     *
     * @param {string} t
     */
    async nextOf(t, ms = 10_000) {
      for (;;) {
        const m = await this.next(ms);
        if (m.t === t) return m;
      }
    },
    close() {
      w.destroy();
      socket.destroy();
    },
  };
}
