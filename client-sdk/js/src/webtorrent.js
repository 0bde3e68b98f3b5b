/**
 * piecepay for WebTorrent (1.x, Node): a `wire.use()` extension that advertises `piecepay` in the BEP 10
 * handshake, sells pieces (payee: a peer is served only within its credit window on a channel checked on
 * chain, or within a free share; otherwise its requests are refused — BEP 6 `reject` when the fast
 * extension is on — and it is choked) and buys them (payer: every piece that passed its hash check is paid
 * to the peer that supplied most of its bytes). README.md "WebTorrent" shows the API; the sessions it runs
 * per peer are src/payee.js and src/payer.js.
 *
 * How it hooks into WebTorrent, which has no payment hooks of its own:
 * - requests: a listener put before WebTorrent's own sees each `request` first; refusing it chokes the
 *   peer, which drops (or, with BEP 6, rejects) its queued requests, so WebTorrent's read of the block
 *   answers nothing;
 * - unchoking: the wire's `unchoke` is wrapped, so WebTorrent's choker cannot unchoke a peer that may not
 *   be served; the extension unchokes it itself once it may;
 * - served pieces: the wire's `piece` is wrapped to count the bytes of each piece sent;
 * - verified pieces: WebTorrent announces a piece (`have`) to every peer once its hash checked, and only
 *   then (BEP 3): the wire's `have` is wrapped, and the first call for a piece pays its main supplier.
 */

import { EventEmitter } from 'node:events';

import { PiecepayError } from './errors.js';
import { domain as escrowDomain, signingKey, addressOf } from './eip712.js';
import { EXTENSION_NAME, VERSION, VERSION_KEY, negotiate } from './handshake.js';
import { PayeeSession } from './payee.js';
import { PayerChannel, PayerSession } from './payer.js';
import { MemoryStore } from './store.js';
import * as wire from './wire.js';

/** Messages the payee receives, and those the payer receives (`close` goes either way). */
const TO_PAYEE = new Set(['bid', 'channel', 'receipt']);
const TO_PAYER = new Set(['terms', 'accept', 'reject', 'receipt_ack', 'payment_required']);

/**
 * @typedef {object} PayeeOptions selling pieces
 * @property {string} key the payee's secret key (0x-hex); receipts pay its address
 * @property {bigint} price the lowest price per piece, token base units
 * @property {number} [creditPieces] pieces served ahead of payment (default 64; or `creditAmount`)
 * @property {bigint} [creditAmount]
 * @property {(claim: import('./outcome.js').ChannelClaim) => Promise<bigint | null>} checkChannel the
 *   deposit the chain (or a relayer the payee trusts) shows for a channel a peer announced, or null when
 *   it is not open: `checkOnChain(chain)` reads it from the escrow
 * @property {import('./relayer.js').RelayerClient} [relayer] receipts are handed to it for settlement
 * @property {number} [settleDelayMs] how long accepted receipts wait to be handed over together (1000)
 * @property {boolean} [lazy] verify receipts lazily (default true, docs/wire-protocol.md §5.6)
 *
 * @typedef {object} PayerOptions buying pieces
 * @property {string} key the payer's secret key (0x-hex)
 * @property {bigint} maxPrice the most paid for one piece
 * @property {bigint} [bid] the price offered when above a payee's asking price (jumps its queue)
 * @property {(payee: string) => number | null} [salt] the salt of the channel to `payee`, or null to not
 *   buy from it (default: a random salt per payee)
 * @property {(channel: PayerChannel) => Promise<{ deposit: bigint, tx?: string }>} fund opens (or adopts)
 *   the channel on chain and resolves with its deposit once it is there: `openViaRelayer`, `openOnChain`,
 *   `adoptOpen` (src/funding.js) make one
 * @property {(channel: PayerChannel, total: bigint) => Promise<bigint>} [topUp] tops the channel up to
 *   `total` and resolves with the new deposit; without it a payer whose deposit runs out stops paying
 * @property {number} [batchDelayMs] how long a verified piece may wait for its receipt when it owes less
 *   than a quarter of the payee's credit window (default 20; 0: a receipt per piece, as fast as they can
 *   be signed and stored)
 *
 * @typedef {object} PiecepayOptions
 * @property {bigint | number} chainId the escrow's chain
 * @property {string} escrow the escrow both sides trust
 * @property {string} token the ERC-20 it holds
 * @property {import('./store.js').Store} [store] where receipts (payee) and signatures (payer) are kept
 *   durably (default: in memory, lost at exit)
 * @property {PayeeOptions} [payee]
 * @property {PayerOptions} [payer]
 * @property {number} [freePieces] pieces served to a peer without an open channel before it is choked (0)
 * @property {number} [tickMs] the timer that verifies held receipts (1000)
 */

/**
 * Payments for every torrent of a WebTorrent client: `attach(torrent)` each one. Events: `receipt`
 * (payee: a receipt accepted and stored), `paid` (payer: a receipt sent), `closed` (a cooperative close
 * co-signed), `protocol-error` (a peer's message refused, or the peer's `error`), `settled` (receipts
 * handed to the relayer), `warning` (anything else that went wrong; never thrown).
 */
export class Piecepay extends EventEmitter {
  /** @param {PiecepayOptions} options */
  constructor(options) {
    super();
    this.chainId = BigInt(options.chainId);
    this.escrow = options.escrow;
    this.token = options.token;
    this.domain = escrowDomain(this.chainId, this.escrow);
    this.store = options.store ?? new MemoryStore();
    this.freePieces = options.freePieces ?? 0;
    this.payee = options.payee ? { creditPieces: options.payee.creditAmount === undefined ? 64 : undefined, ...options.payee } : null;
    this.payer = options.payer ?? null;
    this.payerKey = this.payer ? signingKey(this.payer.key) : null;
    /** The payee's address, when selling; the payer's, when buying. */
    this.payeeAddress = this.payee ? addressOf(signingKey(this.payee.key)) : null;
    this.payerAddress = this.payerKey ? addressOf(this.payerKey) : null;
    if (this.payee) this.newPayeeSession(); // a bad key, price or credit fails here, not per peer
    /** @type {Map<string, PayerChannel>} by payee address */
    this.channels = new Map();
    /** @type {Map<string, Promise<void>>} funding under way, by channel id */
    this.funding = new Map();
    /** @type {Map<string, PeerExtension>} the connection each channel's receipts go over, by channel id */
    this.carriers = new Map();
    /** @type {Set<PeerExtension>} */
    this.peers = new Set();
    /** @type {Map<string, bigint>} the cumulative last handed to the relayer, by channel id */
    this.handed = new Map();
    this.settleTimer = null;
    this.stats = {
      peers: 0,
      peersWithExtension: 0,
      piecesServedPaid: 0,
      piecesServedFree: 0,
      requestsRefused: 0,
      piecesHeld: 0,
      chokes: 0,
      receiptsAccepted: 0,
      receiptsRejected: 0,
      piecesPaid: 0,
      piecesUnpaid: 0,
      receiptsSent: 0,
      protocolErrors: 0,
      peerErrors: 0,
    };
    this.timer = setInterval(() => this.tick(), options.tickMs ?? 1000);
    this.timer.unref();
  }

  /**
   * Adds payments to `torrent`: every peer connection it makes from now on runs the extension.
   *
   * @param {any} torrent a WebTorrent `Torrent`
   */
  attach(torrent) {
    const ledger = new SupplyLedger();
    const Extension = extensionClass(this, torrent, ledger);
    torrent.on('wire', (w) => {
      w.use(Extension);
      noDelay(torrent, w);
    });
  }

  /**
   * One side of channels on this client's escrow: what both sessions start from, with that side's key.
   *
   * @param {string | import('ethers').SigningKey} key
   * @returns {import('./eip712.js').PartyConfig}
   */
  partyConfig(key) {
    return { chainId: this.chainId, escrow: this.escrow, token: this.token, key };
  }

  newPayeeSession() {
    const p = /** @type {PayeeOptions} */ (this.payee);
    return new PayeeSession({
      ...this.partyConfig(p.key),
      price: p.price,
      creditPieces: p.creditPieces,
      creditAmount: p.creditAmount,
      lazy: p.lazy,
    });
  }

  newPayerSession() {
    const p = /** @type {PayerOptions} */ (this.payer);
    return new PayerSession({
      ...this.partyConfig(/** @type {import('ethers').SigningKey} */ (this.payerKey)),
      maxPrice: p.maxPrice,
      bid: p.bid,
      channelTo: (payee) => this.channelTo(payee),
    });
  }

  /**
   * The channel to `payee`, one for the client's lifetime (every connection to that payee pays on it).
   *
   * @param {string} payee
   * @returns {PayerChannel | null}
   */
  channelTo(payee) {
    const found = this.channels.get(payee);
    if (found) return found;
    const p = /** @type {PayerOptions} */ (this.payer);
    const salt = p.salt ? p.salt(payee) : Math.floor(Math.random() * 0x100000000);
    if (salt === null) return null;
    const channel = new PayerChannel({ key: /** @type {any} */ (this.payerKey), domain: this.domain, payee, salt });
    this.channels.set(payee, channel);
    return channel;
  }

  /**
   * Funds `channel` once, whichever connection asks: restores what the store says was signed on it, then
   * lets the caller's `fund` open or adopt it.
   *
   * @param {PayerChannel} channel
   */
  fund(channel) {
    let pending = this.funding.get(channel.id);
    if (!pending) {
      pending = (async () => {
        const signed = await this.store.lastSignature(channel.id);
        if (signed) channel.restore(signed.cumulative, signed.sig);
        const { deposit } = await /** @type {PayerOptions} */ (this.payer).fund(channel);
        channel.funded(deposit);
      })();
      // A failed funding may be tried again by the next accept.
      pending.catch(() => this.funding.delete(channel.id));
      this.funding.set(channel.id, pending);
    }
    return pending;
  }

  /**
   * Pieces of `channel` passed their hash check: pays for them now when they add up to a quarter of the
   * payee's credit window, else within `batchDelayMs` — like a delayed acknowledgement, one receipt then
   * covers every piece verified meanwhile. A signature costs about a millisecond here (pure JavaScript),
   * which at loopback speeds is more than a piece takes to arrive; the price per piece does not change,
   * and what is owed unpaid stays far inside the window the payee extends.
   *
   * @param {PayerChannel} channel
   */
  payFor(channel) {
    const c = /** @type {PayerChannel & { payTimer?: NodeJS.Timeout | null }} */ (channel);
    const quarter = channel.credit / 4n;
    const delay = this.payer?.batchDelayMs ?? 20;
    if (delay === 0 || channel.owed - channel.signed >= (quarter > channel.price ? quarter : channel.price)) {
      this.pump(channel);
    } else if (!c.payTimer) {
      c.payTimer = setTimeout(() => {
        c.payTimer = null;
        this.pump(channel);
      }, delay);
    }
  }

  /**
   * Signs and sends the receipts `channel` owes, one at a time: while one is being stored, pieces that
   * pass their check accumulate, and the next receipt covers them all (the signature rate adapts to the
   * store's, the price per piece does not).
   *
   * @param {PayerChannel} channel
   */
  async pump(channel) {
    const c = /** @type {PayerChannel & { pumping?: boolean, payTimer?: NodeJS.Timeout | null }} */ (channel);
    if (c.payTimer) {
      clearTimeout(c.payTimer);
      c.payTimer = null;
    }
    if (c.pumping) return;
    c.pumping = true;
    try {
      while (channel.state === 'open' && channel.behind()) {
        let receipt;
        try {
          receipt = channel.signNext();
        } catch (error) {
          if (error instanceof PiecepayError && error.code === 'top_up_needed') {
            await this.topUp(channel, channel.owed);
            if (channel.owed > channel.deposit) return;
            continue;
          }
          throw error;
        }
        if (!receipt) break;
        // Durable before it leaves: a crash can never make this payer sign below it.
        await this.store.reserveSignature(channel.id, receipt.cumulative, receipt.sig);
        this.carriers.get(channel.id)?.send(receipt.bytes);
        this.stats.receiptsSent += 1;
        this.emit('paid', { channelId: channel.id, payee: channel.payee, cumulative: receipt.cumulative });
      }
    } catch (error) {
      this.warn(error);
    } finally {
      c.pumping = false;
    }
  }

  /**
   * Tops `channel` up so it covers `needed`, through the payer's `topUp` (twice the deposit at least).
   *
   * @param {PayerChannel} channel
   * @param {bigint} needed
   */
  async topUp(channel, needed) {
    const hook = this.payer?.topUp;
    if (!hook) {
      this.warn(new PiecepayError('top_up_needed', `channel ${channel.id} needs ${needed}, holds ${channel.deposit}`));
      return;
    }
    const total = needed > channel.deposit * 2n ? needed : channel.deposit * 2n;
    const deposit = await hook(channel, total < wire.MAX_AMOUNT ? total : wire.MAX_AMOUNT);
    channel.funded(deposit);
    this.carriers.get(channel.id)?.send(channel.announcement());
  }

  /**
   * Hands the receipts accepted since the last hand-over to the relayer, soon (grouped).
   */
  settleSoon() {
    if (!this.payee?.relayer || this.settleTimer) return;
    this.settleTimer = setTimeout(() => {
      this.settleTimer = null;
      this.settle().catch((error) => this.warn(error));
    }, this.payee.settleDelayMs ?? 1000);
  }

  /**
   * Hands every receipt not yet handed over to the payee's relayer now; resolves with the relayer's
   * results.
   */
  async settle() {
    const relayer = this.payee?.relayer;
    if (!relayer) return [];
    const due = (await this.store.receipts()).filter((r) => r.cumulative > (this.handed.get(r.channelId) ?? 0n));
    if (due.length === 0) return [];
    const results = await relayer.submitReceipts(due);
    results.forEach((result, i) => {
      if (result.status !== 'rejected') this.handed.set(due[i].channelId, due[i].cumulative);
      else this.warn(new PiecepayError(result.code, `relayer refused the receipt of ${due[i].channelId}: ${result.message}`));
    });
    this.emit('settled', results);
    return results;
  }

  /** The highest receipt of every channel this client was paid on. */
  async latestReceipts() {
    return this.store.receipts();
  }

  tick() {
    for (const peer of this.peers) peer.tick();
  }

  /** @param {unknown} error something that went wrong and is not a peer's fault: reported, never thrown */
  warn(error) {
    this.emit('warning', error);
  }

  /** Pays what is owed, verifies what is held, hands the receipts to the relayer, closes the store. */
  async destroy() {
    clearInterval(this.timer);
    await Promise.all([...this.channels.values()].map((channel) => this.pump(channel)));
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = null;
    await Promise.all([...this.peers].map((peer) => peer.flush()));
    await this.settle().catch((error) => this.warn(error));
    await this.store.close();
  }
}

/**
 * Which peer supplied how much of each piece being downloaded, so a verified piece is paid to the one
 * that supplied most of it — the peer that sent it all whenever one did, which is the piece its payee
 * counted as served.
 */
class SupplyLedger {
  constructor() {
    /** @type {Map<number, Map<PeerExtension, number>>} */
    this.pieces = new Map();
  }

  /** @param {number} index @param {PeerExtension} peer @param {number} bytes */
  supplied(index, peer, bytes) {
    let suppliers = this.pieces.get(index);
    if (!suppliers) this.pieces.set(index, (suppliers = new Map()));
    suppliers.set(peer, (suppliers.get(peer) ?? 0) + bytes);
  }

  /**
   * The piece passed its hash check: its main supplier, once (later calls for the same piece get null).
   *
   * @param {number} index
   */
  verified(index) {
    const suppliers = this.pieces.get(index);
    if (!suppliers) return null;
    this.pieces.delete(index);
    let best = null;
    let most = 0;
    for (const [peer, bytes] of suppliers) {
      if (bytes > most) [best, most] = [peer, bytes];
    }
    return best;
  }
}

/** @typedef {InstanceType<ReturnType<typeof extensionClass>>} PeerExtension */

/**
 * The `wire.use()` extension class for one torrent (bittorrent-protocol instantiates it per wire).
 *
 * @param {Piecepay} payments
 * @param {any} torrent
 * @param {SupplyLedger} ledger
 */
function extensionClass(payments, torrent, ledger) {
  class PiecepayExtension {
    /** @param {any} w the bittorrent-protocol `Wire` */
    constructor(w) {
      this.wire = w;
      w.extendedHandshake[VERSION_KEY] = VERSION;
      /** @type {PayeeSession | null} */
      this.payee = null;
      /** @type {PayerSession | null} */
      this.payer = null;
      /** Messages are handled one after another, each once the previous one's IO is done. */
      this.queue = Promise.resolve();
      /**
       * Pieces begun and not yet sent whole: the blocks sent (offset → length), whether the piece is paid
       * or free, and whether it is in flight — counted against the deposit (and the free share). A choke
       * drops the peer's requests, so it takes every piece out of flight; one asked for again is checked
       * again.
       *
       * @type {Map<number, { blocks: Map<number, number>, paid: boolean, active: boolean, held?: boolean }>}
       */
      this.sending = new Map();
      this.freeServed = 0;
      /** @type {{ index: number, offset: number, buffer: Buffer }[]} blocks held back for credit */
      this.held = [];
      this.closed = false;
      payments.stats.peers += 1;
      payments.peers.add(this);
      if (payments.payee) this.gate();
      if (payments.payer) this.track();
      w.once('close', () => this.onClose());
    }

    /** BEP 10: the peer's extended handshake names piecepay (bittorrent-protocol calls this only then). */
    onExtendedHandshake(/** @type {any} */ handshake) {
      if (this.payee || this.payer || negotiate(handshake) === null) return;
      payments.stats.peersWithExtension += 1;
      if (payments.payer) this.payer = payments.newPayerSession();
      if (payments.payee) {
        this.payee = payments.newPayeeSession();
        this.send(this.payee.terms());
      }
      this.queue = this.queue.then(() => this.tellWhyChoked());
    }

    /** @param {Buffer} buf */
    onMessage(buf) {
      const bytes = Uint8Array.from(buf);
      this.queue = this.queue.then(() => this.handle(bytes)).catch((error) => payments.warn(error));
    }

    /** @param {Uint8Array} bytes */
    async handle(bytes) {
      if (this.closed) return;
      const type = wire.peekType(bytes);
      if (type === 'error') {
        payments.stats.peerErrors += 1;
        payments.emit('protocol-error', { peer: this.peerName(), error: wire.decode(bytes), from: 'peer' });
        return;
      }
      // Each type has one direction; with both roles on one connection, `close` goes to the payer when
      // it proposed one (the payee's answer), else to the payee.
      let role = this.payee ?? this.payer;
      if (type !== null && TO_PAYER.has(type)) role = this.payer ?? this.payee;
      if (type === 'close' && this.payer?.channel?.closing) role = this.payer;
      if (!role) return; // no piecepay handshake from this peer: nothing to answer with
      const out = role === this.payee ? this.payee.onMessage(bytes, unixNow()) : /** @type {PayerSession} */ (this.payer).onMessage(bytes);
      if (type === 'receipt' && out.error) payments.stats.receiptsRejected += 1;
      await this.apply(out);
    }

    /** @param {import('./outcome.js').Outcome} out */
    async apply(out) {
      if (out.error) {
        payments.stats.protocolErrors += 1;
        payments.emit('protocol-error', { peer: this.peerName(), error: out.error, from: 'us' });
      }
      if (out.persist) {
        // Durable before the acknowledgement (the reply) leaves.
        await payments.store.saveReceiptIfHigher(out.persist);
        payments.stats.receiptsAccepted += 1;
        payments.emit('receipt', out.persist);
        payments.settleSoon();
      }
      if (out.reply) this.send(out.reply);
      // Over credit, the pieces asked for are held back (see onRequest), not refused: no choke for that.
      if (out.serve === true || (out.serve === false && this.payee?.decision(this.inFlight()).reason !== 'over_credit')) {
        this.serve(out.serve);
      }
      // A receipt with pieces held back for it: verify it now, it is what they wait for.
      if (out.received === 'receipt' && this.held.length > 0 && this.payee?.held) await this.apply(this.payee.tick());
      if (out.checkChannel) await this.checkChannel(out.checkChannel);
      if (out.open) await this.funded();
      if (out.topUp !== null && this.payer?.channel) await payments.topUp(this.payer.channel, out.topUp);
      if (out.closeSigned) payments.emit('closed', out.closeSigned);
    }

    // --- selling --------------------------------------------------------------------------------------

    /** The peer announced a channel: trust the chain, not the peer (§5.5). */
    async checkChannel(/** @type {import('./outcome.js').ChannelClaim} */ claim) {
      const session = /** @type {PayeeSession} */ (this.payee);
      const deposit = await /** @type {PayeeOptions} */ (payments.payee).checkChannel(claim);
      if (deposit === null || deposit <= 0n) return; // not open: the peer stays on the free share
      if (session.state === 'proposed') {
        // A channel met before (an earlier connection or run): go on from its highest receipt.
        const held = await payments.store.highestReceipt(claim.id);
        if (held) session.restoreReceipt(held);
      }
      await this.apply(session.channelFunded(deposit));
    }

    /** Puts the credit check in front of WebTorrent's serving. */
    gate() {
      const w = this.wire;
      w.prependListener('request', (/** @type {number} */ index) => this.onRequest(index));
      // A choked peer's requests never reach the listener (the wire refuses them itself), so a peer that
      // wants pieces and may not have them is told why when it says it is interested.
      w.on('interested', () => this.tellWhyChoked());
      const unchoke = w.unchoke.bind(w);
      this.unchoke = unchoke;
      w.unchoke = () => {
        if (this.mayServe()) unchoke();
      };
      const piece = w.piece.bind(w);
      this.sendBlock = (/** @type {number} */ index, /** @type {number} */ offset, /** @type {Buffer} */ buffer) => {
        piece(index, offset, buffer);
        this.onBlockSent(index, offset, buffer.length);
      };
      w.piece = (/** @type {number} */ index, /** @type {number} */ offset, /** @type {Buffer} */ buffer) => {
        if (this.sending.get(index)?.held) this.held.push({ index, offset, buffer });
        else /** @type {any} */ (this.sendBlock)(index, offset, buffer);
      };
    }

    /** Pieces in flight. */
    inFlight() {
      let n = 0;
      for (const piece of this.sending.values()) if (piece.active) n += 1;
      return n;
    }

    /** Whether this peer may be unchoked now: a funded channel within its limits, or free pieces left. */
    mayServe() {
      if (this.payee?.state === 'open') return this.payee.decision(this.inFlight()).serve;
      return this.freeServed + this.inFlight() < payments.freePieces;
    }

    /** `payment_required` (once per choke) to an interested peer that speaks piecepay and may not be served. */
    tellWhyChoked() {
      if (!this.payee || !this.wire.peerInterested || this.mayServe()) return;
      const reply = this.payee.checkRequest(this.inFlight()).reply;
      if (reply) this.send(reply);
    }

    /** @param {number} index */
    onRequest(index) {
      const begun = this.sending.get(index);
      if (begun?.active) return; // its credit was checked when it was asked for
      /** @param {boolean} paid @param {boolean} [held] */
      const start = (paid, held = false) => {
        if (begun) Object.assign(begun, { active: true, held });
        else this.sending.set(index, { blocks: new Map(), paid, active: true, held });
      };
      if (this.payee?.state === 'open') {
        let { serve, reason } = this.payee.decision(this.inFlight());
        if (!serve && reason === 'over_credit' && this.payee.held) {
          // The receipt held may cover it: verify it now (its acknowledgement follows in turn).
          const out = this.payee.tick();
          this.queue = this.queue.then(() => this.apply(out)).catch((e) => payments.warn(e));
          ({ serve, reason } = this.payee.decision(this.inFlight()));
        }
        if (serve) {
          start(true);
        } else if (reason === 'over_credit' && this.heldPieces() < this.payee.creditPieces()) {
          // Over credit with payment on its way: hold the piece back until a receipt frees credit (flow
          // control), up to a window's worth held; beyond that, or for any other reason, refuse.
          payments.stats.piecesHeld += 1;
          start(true, true);
        } else {
          this.refuse(this.payee.checkRequest(this.inFlight()).reply);
        }
      } else if (this.freeServed + this.inFlight() < payments.freePieces) {
        start(false);
      } else {
        // Speaks piecepay but has no open channel: tell it why, once per choke.
        this.refuse(this.payee ? this.payee.checkRequest().reply : null);
      }
    }

    /**
     * Refuses a request beyond the peer's limit (§7): `payment_required`, then a choke, which drops the
     * peer's queued requests (or rejects them, under BEP 6), so WebTorrent's answer to them goes nowhere.
     *
     * @param {Uint8Array | null} reply
     */
    refuse(reply) {
      payments.stats.requestsRefused += 1;
      if (reply) this.send(reply);
      this.serve(false);
    }

    /** @param {boolean} serve */
    serve(serve) {
      const w = this.wire;
      if (serve) {
        if (w.amChoking) /** @type {() => void} */ (this.unchoke)();
        this.release();
      } else if (!w.amChoking) {
        payments.stats.chokes += 1;
        w.choke();
        for (const piece of this.sending.values()) Object.assign(piece, { active: false, held: false });
        // The blocks held back answer requests the choke dropped: they are refused too (BEP 6).
        for (const b of this.held.splice(0)) if (w.hasFast) w.reject(b.index, b.offset, b.buffer.length);
      }
    }

    /** Pieces held back for credit. */
    heldPieces() {
      let n = 0;
      for (const piece of this.sending.values()) if (piece.held) n += 1;
      return n;
    }

    /** Sends the blocks held back, piece by piece, while the peer's credit allows. */
    release() {
      const payee = this.payee;
      while (this.held.length > 0 && payee?.state === 'open') {
        const index = this.held[0].index;
        const piece = this.sending.get(index);
        if (piece?.held) {
          if (!payee.decision(this.inFlight()).serve) return;
          piece.held = false;
        }
        const blocks = this.held.filter((b) => b.index === index);
        this.held = this.held.filter((b) => b.index !== index);
        for (const b of blocks) /** @type {any} */ (this.sendBlock)(b.index, b.offset, b.buffer);
      }
    }

    /** @param {number} index @param {number} offset @param {number} length */
    onBlockSent(index, offset, length) {
      const piece = this.sending.get(index);
      if (!piece) return;
      piece.blocks.set(offset, length);
      let sent = 0;
      for (const n of piece.blocks.values()) sent += n;
      if (sent < pieceLength(torrent, index)) return;
      this.sending.delete(index);
      if (piece.paid && this.payee?.state === 'open') {
        payments.stats.piecesServedPaid += 1;
        // Counted at once (the next request's credit check needs it); its outcome in turn.
        const out = this.payee.onPieceServed();
        this.queue = this.queue.then(() => this.apply(out)).catch((e) => payments.warn(e));
      } else {
        payments.stats.piecesServedFree += 1;
        this.freeServed += 1;
        if (!this.mayServe()) this.serve(false);
      }
    }

    // --- buying ---------------------------------------------------------------------------------------

    /** Counts who supplies what, and pays for each piece once it passed its hash check. */
    track() {
      const w = this.wire;
      w.on('piece', (/** @type {number} */ index, /** @type {number} */ _offset, /** @type {Buffer} */ buffer) => {
        ledger.supplied(index, this, buffer.length);
      });
      const have = w.have.bind(w);
      w.have = (/** @type {number} */ index) => {
        have(index);
        ledger.verified(index)?.pieceVerified();
      };
    }

    /** A piece this peer supplied most of passed its hash check. */
    pieceVerified() {
      const channel = this.payer?.channel;
      if (!channel || channel.state !== 'open' || !this.payer?.announced) {
        payments.stats.piecesUnpaid += 1;
        return;
      }
      channel.piecesVerified(1);
      payments.stats.piecesPaid += 1;
      payments.payFor(channel);
    }

    /** The payee accepted our bid: fund the channel (once, whichever connection asked), announce it. */
    async funded() {
      const session = /** @type {PayerSession} */ (this.payer);
      const channel = /** @type {PayerChannel} */ (session.channel);
      await payments.fund(channel);
      if (this.closed) return;
      this.send(session.announce());
      this.carry(channel);
    }

    /** Receipts of `channel` go over this connection from now on. @param {PayerChannel} channel */
    carry(channel) {
      payments.carriers.set(channel.id, this);
      // A receipt signed while no connection carried it, or whose acknowledgement never came.
      if (channel.signed > channel.acknowledged) {
        const last = channel.lastReceipt();
        if (last) this.send(last);
      }
      payments.pump(channel);
    }

    // --- both -----------------------------------------------------------------------------------------

    /** @param {Uint8Array} bytes */
    send(bytes) {
      const w = this.wire;
      if (this.closed || w.destroyed || !w.peerExtendedMapping[EXTENSION_NAME]) return;
      w.extended(EXTENSION_NAME, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    }

    tick() {
      if (!this.payee) return;
      const payee = this.payee;
      this.queue = this.queue.then(() => this.apply(payee.tick())).catch((e) => payments.warn(e));
    }

    /** Verifies a receipt still held (after everything queued on this connection), and stores it. */
    flush() {
      this.queue = this.queue
        .then(async () => {
          const out = this.payee?.flush();
          if (out?.persist) {
            await payments.store.saveReceiptIfHigher(out.persist);
            payments.stats.receiptsAccepted += 1;
            payments.emit('receipt', out.persist);
          }
          if (out?.error) payments.stats.receiptsRejected += 1;
        })
        .catch((e) => payments.warn(e));
      return this.queue;
    }

    onClose() {
      // A receipt held unverified is still worth accepting once the connection is gone.
      this.queue = this.flush().finally(() => {
          this.closed = true;
          payments.peers.delete(this);
          const channel = this.payer?.channel;
          if (channel && payments.carriers.get(channel.id) === this) payments.carriers.delete(channel.id);
          if (this.payee) payments.settleSoon();
        });
    }

    peerName() {
      const w = this.wire;
      return w.remoteAddress ? `${w.remoteAddress}:${w.remotePort}` : w.peerId ?? 'peer';
    }
  }
  PiecepayExtension.prototype.name = EXTENSION_NAME;
  return PiecepayExtension;
}

/**
 * Turns Nagle's algorithm off on the connection of `w` (WebTorrent leaves it on): piecepay's messages are
 * small and each waits for the last, so with it every step of the negotiation and every receipt could
 * wait for a delayed acknowledgement (40 ms on Linux). WebTorrent keeps the socket on its `Peer`, found
 * through the torrent's peer table; a connection not found there is left as it is.
 *
 * @param {any} torrent
 * @param {any} w
 */
function noDelay(torrent, w) {
  for (const peer of Object.values(torrent._peers ?? {})) {
    if (peer?.wire === w && typeof peer.conn?.setNoDelay === 'function') peer.conn.setNoDelay(true);
  }
}

/**
 * @param {any} torrent
 * @param {number} index
 */
function pieceLength(torrent, index) {
  return index === torrent.pieces.length - 1 ? torrent.lastPieceLength : torrent.pieceLength;
}

function unixNow() {
  return Math.floor(Date.now() / 1000);
}
