/**
 * The payee's session with one peer (docs/wire-protocol.md §3, §5, §7): terms, bids, the channel
 * check, credit, receipts (verified lazily, §5.6), the cooperative close. Sans-IO: it takes the bytes
 * the peer sent and the time, and returns an `Outcome` (src/outcome.js) — the reply and what to do.
 *
 * States: `negotiating` (no bid accepted) → `proposed` (bid accepted, channel not seen funded) → `open`
 * (funded: serve within credit, accept receipts) → `closing` (a close was co-signed: serve no more) →
 * `closed`. The chain is the caller's to read: a `channel` message only asks for the check
 * (`checkChannel`), and `channelFunded` records the deposit the chain shows.
 */

import { ZeroAddress, getAddress } from 'ethers';

import { PiecepayError } from './errors.js';
import { Party, ReceiptHasher, channelId, digest, recoverDigest, signDigest } from './eip712.js';
import { dispatch, outcome, unexpected } from './outcome.js';
import * as wire from './wire.js';

const MAX_UINT40 = (1n << 40n) - 1n;

/**
 * @typedef {import('./eip712.js').PartyConfig & PayeeTerms} PayeeConfig the payee's key (receipts pay
 *   its address), its escrow, and its terms
 *
 * @typedef {object} PayeeTerms
 * @property {bigint} price the lowest price per piece accepted, token base units
 * @property {number} [creditPieces] the credit window in pieces (exactly one of the two)
 * @property {bigint} [creditAmount] the credit window in token base units
 * @property {boolean} [lazy] verify receipts lazily (§5.6; default true): hold the newest, verify it when
 *   the credit runs out, on `tick`, before a close and on `flush`
 */

export class PayeeSession extends Party {
  /** @param {PayeeConfig} config */
  constructor(config) {
    super(config);
    this.hasher = new ReceiptHasher(this.domain);
    this.minPrice = config.price;
    if ((config.creditPieces === undefined) === (config.creditAmount === undefined)) {
      throw new PiecepayError('invalid_terms', 'give exactly one of creditPieces, creditAmount');
    }
    /** @type {{ credit_pieces?: number, credit_amount?: bigint }} */
    this.credit = config.creditPieces !== undefined ? { credit_pieces: config.creditPieces } : { credit_amount: config.creditAmount };
    // The message refuses what a peer would refuse: a price or credit out of range fails here, once.
    this.termsBytes = wire.encode(this.termsMessage());
    if (this.creditLimit(this.minPrice) === 0n) throw new PiecepayError('invalid_terms', 'a credit window of zero serves nothing');
    this.lazy = config.lazy ?? true;

    /** @type {'negotiating' | 'proposed' | 'open' | 'closing' | 'closed'} */
    this.state = 'negotiating';
    /** @type {{ payer: string, salt: number, id: string } | null} */
    this.channel = null;
    /** The price in force (the accepted bid). */
    this.price = 0n;
    this.deposit = 0n;
    /** Value served on this connection, each piece at the price in force when it was sent. */
    this.served = 0n;
    this.piecesServed = 0;
    /** The highest cumulative accepted (verified), on this channel's whole life. */
    this.paid = 0n;
    /** @type {{ cumulative: bigint, sig: string } | null} the receipt of `paid` */
    this.latest = null;
    /** @type {{ cumulative: bigint, sig: string } | null} newest receipt, checked cheaply, not verified */
    this.held = null;
    /** Whether the peer was told `payment_required` since it was last served (once per choke). */
    this.toldChoked = false;
    /** @type {import('./outcome.js').SignedClose | null} */
    this.close = null;
  }

  /** The `terms` message (the hello), to send once both handshakes advertised piecepay. */
  termsMessage() {
    return /** @type {wire.TermsMessage} */ ({
      t: 'terms',
      chain: this.chainId,
      escrow: this.escrow.toLowerCase(),
      token: this.token.toLowerCase(),
      payee: this.address.toLowerCase(),
      price: this.minPrice,
      ...this.credit,
    });
  }

  /** The encoded `terms` message. */
  terms() {
    return this.termsBytes;
  }

  /**
   * Resumes a channel from what the store holds: the highest receipt accepted on it before (another
   * connection, an earlier run). Its signature is checked again.
   *
   * @param {{ cumulative: bigint, sig: string }} receipt
   */
  restoreReceipt(receipt) {
    if (!this.channel) throw new PiecepayError('invalid_state', 'no channel to restore a receipt on');
    if (receipt.cumulative <= this.paid) return;
    this.verify(receipt);
    this.paid = receipt.cumulative;
    this.latest = receipt;
  }

  /**
   * Handles bytes from the peer.
   *
   * @param {Uint8Array} bytes
   * @param {number} now unix seconds
   */
  onMessage(bytes, now) {
    return dispatch(bytes, (message, out) => {
      switch (message.t) {
        case 'bid':
          return this.onBid(message, out);
        case 'channel':
          return this.onChannel(message, out);
        case 'receipt':
          return this.onReceipt(message, out);
        case 'close':
          return this.onClose(message, now, out);
        default:
          throw unexpected(message.t, 'it is sent by the other role');
      }
    });
  }

  /** @param {wire.BidMessage} bid @param {import('./outcome.js').Outcome} out */
  onBid(bid, out) {
    if (bid.price < this.minPrice) {
      out.reply = wire.encode({ t: 'reject', code: 'bid_too_low', min_price: this.minPrice });
      return;
    }
    if (this.state === 'closing' || this.state === 'closed') throw unexpected('bid', `the channel is ${this.state}`);
    const payer = getAddress(bid.payer);
    if (this.channel) {
      if (this.channel.payer !== payer || this.channel.salt !== bid.salt) {
        throw unexpected('bid', 'it names another channel than the one agreed');
      }
    } else {
      if (payer === this.address || BigInt(payer) === 0n) {
        throw new PiecepayError('invalid_channel', 'a channel needs a payer that is neither zero nor the payee');
      }
      this.channel = { payer, salt: bid.salt, id: channelId(payer, this.address, bid.salt) };
      this.state = 'proposed';
    }
    // A renegotiated price applies to the pieces served from now on.
    this.price = bid.price;
    out.reply = wire.encode({ t: 'accept', price: bid.price, ...this.credit });
    out.serve = this.decision().serve;
  }

  /** @param {wire.ChannelMessage} claim @param {import('./outcome.js').Outcome} out */
  onChannel(claim, out) {
    if (!this.channel) throw unexpected('channel', 'no bid was accepted yet');
    const { payer, salt, id } = this.channel;
    if (getAddress(claim.payer) !== payer || claim.salt !== salt || claim.id !== id) {
      throw new PiecepayError('channel_mismatch', `the channel announced is not ${id}`, { regarding: 'channel' });
    }
    out.checkChannel = { payer, salt, id, deposit: claim.deposit, ...(claim.tx ? { tx: claim.tx } : {}) };
  }

  /**
   * The caller read the chain: the channel holds `deposit`. Opens it, or records a top-up.
   *
   * @param {bigint} deposit
   */
  channelFunded(deposit) {
    const out = outcome();
    if (!this.channel) throw new PiecepayError('invalid_state', 'no bid was accepted yet');
    if (this.state === 'proposed') {
      if (deposit <= 0n) throw new PiecepayError('zero_amount', 'the channel holds no deposit');
      if (deposit < this.paid) throw new PiecepayError('exceeds_deposit', 'the deposit is below a receipt already accepted');
      this.deposit = deposit;
      this.state = 'open';
    } else if (this.state === 'open') {
      if (deposit > this.deposit) this.deposit = deposit;
    } else {
      throw new PiecepayError('invalid_state', `cannot fund a channel that is ${this.state}`);
    }
    this.decide(out, true);
    return out;
  }

  /**
   * The credit check before serving a request for a piece not yet begun (§7): serve iff one more piece
   * keeps `served − paid + price ≤ credit` and `served + price ≤ deposit`. The deposit check also counts
   * the `inFlight` pieces begun and not yet sent whole: nothing beyond the deposit can ever be paid. The
   * credit check counts pieces sent, as §7 says: a payer's request pipeline may run ahead of its
   * payments by what is in flight (a window counting it too would stall any payer whose pipeline is
   * deeper than the window — WebTorrent asks for a second's worth of blocks).
   * When it fails, `reply` is a `payment_required` the first time since the peer was last served.
   *
   * @param {number} [inFlight]
   */
  checkRequest(inFlight = 0) {
    const out = outcome();
    this.decide(out, true, inFlight);
    return out;
  }

  /** A whole piece went to the peer: counts it at the price in force, and says whether the next may go. */
  onPieceServed() {
    const out = outcome();
    if (this.state !== 'open') throw new PiecepayError('invalid_state', `cannot serve a piece on a channel that is ${this.state}`);
    this.served += this.price;
    this.piecesServed += 1;
    if (this.verificationDue()) this.verifyHeld(out);
    // The peer is told when a request is refused (checkRequest), not here: it may pay before it asks.
    this.decide(out, false);
    return out;
  }

  /**
   * The caller's timer (about once a second): verifies the receipt held, if any, so the last receipt of a
   * transfer is acknowledged within a second.
   */
  tick() {
    const out = outcome();
    this.verifyHeld(out);
    // Decided again even with nothing to verify: a peer choked for pieces in flight may be served again.
    if (out.serve === null && this.channel) this.decide(out, false);
    return out;
  }

  /** The connection is ending: a receipt held is still worth accepting (same as `tick`). */
  flush() {
    return this.tick();
  }

  /** @param {wire.ReceiptMessage} receipt @param {import('./outcome.js').Outcome} out */
  onReceipt(receipt, out) {
    if (!this.channel) throw unexpected('receipt', 'no bid was accepted yet');
    if (this.state !== 'open' && this.state !== 'closing') {
      throw new PiecepayError('invalid_state', `cannot accept a receipt on a channel that is ${this.state}`);
    }
    if (receipt.salt !== this.channel.salt) {
      throw new PiecepayError('channel_mismatch', `a receipt for salt ${receipt.salt}, not ${this.channel.salt}`);
    }
    const arrived = { cumulative: receipt.cumulative, sig: receipt.sig };
    // The receipt already accepted, sent again because its acknowledgement went missing: acknowledge it
    // again (the caller's store is idempotent), no recovery.
    if (this.latest && this.latest.cumulative === arrived.cumulative && this.latest.sig === arrived.sig) {
      this.acknowledge(out);
      return;
    }
    // Cheap checks first: a stale flood costs no signature recovery (§5.6).
    if (arrived.cumulative <= this.paid) {
      throw new PiecepayError('stale_receipt', `cumulative ${arrived.cumulative} is not above ${this.paid} accepted`);
    }
    if (arrived.cumulative > this.deposit) {
      throw new PiecepayError('exceeds_deposit', `cumulative ${arrived.cumulative} is above the deposit ${this.deposit}`);
    }
    if (this.held) {
      if (this.held.cumulative === arrived.cumulative && this.held.sig === arrived.sig) return;
      if (arrived.cumulative <= this.held.cumulative) {
        throw new PiecepayError('stale_receipt', `cumulative ${arrived.cumulative} is not above ${this.held.cumulative} held`);
      }
    }
    this.held = arrived;
    if (!this.lazy || this.verificationDue()) this.verifyHeld(out);
    else out.serve = this.decision().serve;
  }

  /**
   * Whether the receipt held should be verified now: without it the next piece would be over the credit
   * window (counted against the last verified receipt), the peer is being refused, or the channel is no
   * longer simply open. Otherwise it waits for `tick`: a signature recovery costs milliseconds in
   * JavaScript, and one verification accepts every receipt before it. (The reference payee, whose
   * recovery costs 40 µs, verifies at half the window.)
   */
  verificationDue() {
    if (!this.held) return false;
    // Not simply open, or refusing the peer for want of payment: the receipt decides what happens next.
    if (this.state !== 'open' || this.toldChoked) return true;
    const owed = this.served > this.paid ? this.served - this.paid : 0n;
    return owed + this.price > this.creditLimit(this.price);
  }

  /**
   * Verifies the receipt held and accepts it: `persist` and its `receipt_ack` as the reply. One that fails
   * is let go and answered with its `error`.
   *
   * @param {import('./outcome.js').Outcome} out
   */
  verifyHeld(out) {
    const held = this.held;
    if (!held) return;
    this.held = null;
    if (this.state === 'closed') return;
    try {
      this.verify(held);
    } catch (error) {
      if (!(error instanceof PiecepayError)) throw error;
      out.error = error;
      out.reply = wire.encode(wire.errorReply(error, 'receipt'));
      return;
    }
    this.paid = held.cumulative;
    this.latest = held;
    this.acknowledge(out);
  }

  /**
   * Checks a receipt's signature: it must recover the channel's payer, and the channel id derived from
   * the recovered payer, this payee and the salt must be the channel's.
   *
   * @param {{ cumulative: bigint, sig: string }} receipt
   */
  verify(receipt) {
    const channel = /** @type {NonNullable<typeof this.channel>} */ (this.channel);
    const hash = this.hasher.digest(this.address, channel.salt, receipt.cumulative);
    const signer = recoverDigest(hash, receipt.sig);
    if (signer !== channel.payer) {
      throw new PiecepayError('wrong_signer', `the receipt is signed by ${signer}, not the payer ${channel.payer}`);
    }
    if (channelId(signer, this.address, channel.salt) !== channel.id) {
      throw new PiecepayError('channel_mismatch', 'the receipt is for another channel');
    }
  }

  /** @param {import('./outcome.js').Outcome} out */
  acknowledge(out) {
    const channel = /** @type {NonNullable<typeof this.channel>} */ (this.channel);
    const latest = /** @type {NonNullable<typeof this.latest>} */ (this.latest);
    out.persist = {
      channelId: channel.id,
      payer: channel.payer,
      payee: this.address,
      salt: channel.salt,
      cumulative: latest.cumulative,
      sig: latest.sig,
    };
    out.reply = wire.encode({ t: 'receipt_ack', cumulative: latest.cumulative });
    // The reply is the acknowledgement; a peer still over its limit was told when it was choked.
    this.decide(out, false);
  }

  /** @param {wire.CloseMessage} close @param {number} now @param {import('./outcome.js').Outcome} out */
  onClose(close, now, out) {
    if (!this.channel) throw unexpected('close', 'no bid was accepted yet');
    if (this.state !== 'open' && this.state !== 'closing') {
      throw new PiecepayError('invalid_state', `cannot close a channel that is ${this.state}`);
    }
    if (close.deadline > MAX_UINT40) throw new PiecepayError('deadline_out_of_range', 'the deadline does not fit uint40');
    if (close.deadline < BigInt(now)) throw new PiecepayError('signature_expired', `the close expired at ${close.deadline}`);
    // The close is checked against the highest receipt accepted, the one held included (verified
    // here, accepted only if the close is co-signed: a refused close changes nothing).
    let accepted = null;
    if (this.held) {
      try {
        this.verify(this.held);
        accepted = this.held;
      } catch (error) {
        if (!(error instanceof PiecepayError)) throw error;
      }
    }
    const paid = accepted ? accepted.cumulative : this.paid;
    if (close.cumulative < paid) {
      throw new PiecepayError('close_below_receipts', `the close pays ${close.cumulative}, below ${paid} accepted`);
    }
    const message = {
      payer: this.channel.payer,
      payee: this.address,
      salt: this.channel.salt,
      cumulative: close.cumulative,
      fee: close.fee,
      relayer: getAddress(close.relayer ?? ZeroAddress),
      channelNonce: close.nonce ?? 0,
      deadline: close.deadline,
    };
    const hash = digest(this.domain, 'CooperativeClose', message);
    const signer = recoverDigest(hash, close.sig);
    if (signer !== this.channel.payer) {
      throw new PiecepayError('wrong_signer', `the close is signed by ${signer}, not the payer ${this.channel.payer}`);
    }
    const payeeSig = signDigest(this.key, hash);
    if (this.held) {
      // Verified above, or failed and dropped: the close answers for it.
      this.held = null;
      if (accepted) {
        this.paid = accepted.cumulative;
        this.latest = accepted;
        out.persist = { channelId: this.channel.id, payer: this.channel.payer, payee: this.address, salt: this.channel.salt, ...accepted };
      }
    }
    this.close = { ...message, payerSig: close.sig, payeeSig };
    this.state = 'closing';
    out.reply = wire.encode(wire.closeMessage(message, payeeSig));
    out.closeSigned = this.close;
    out.serve = false;
  }

  /** The channel was closed on chain. */
  onClosed() {
    this.state = 'closed';
    this.held = null;
  }

  /** The credit window in pieces at the price in force. */
  creditPieces() {
    if (this.credit.credit_pieces !== undefined) return this.credit.credit_pieces;
    return this.price > 0n ? Number(/** @type {bigint} */ (this.credit.credit_amount) / this.price) : 0;
  }

  /**
   * The credit limit at `price`.
   *
   * @param {bigint} price
   */
  creditLimit(price) {
    return this.credit.credit_pieces !== undefined ? price * BigInt(this.credit.credit_pieces) : /** @type {bigint} */ (this.credit.credit_amount);
  }

  /**
   * Whether one more piece may be served, and why not (§7). Deposit first: a peer over both limits has to
   * top up, paying alone would not do.
   *
   * @param {number} [inFlight] pieces begun and not yet counted as served (the deposit check counts them)
   * @returns {{ serve: boolean, reason?: string }}
   */
  decision(inFlight = 0) {
    if (this.state === 'closing' || this.state === 'closed') return { serve: false, reason: 'closing' };
    if (this.state !== 'open') return { serve: false, reason: 'not_open' };
    if (this.served + BigInt(inFlight + 1) * this.price > this.deposit) return { serve: false, reason: 'deposit_exhausted' };
    const owed = this.served > this.paid ? this.served - this.paid : 0n;
    if (owed + this.price > this.creditLimit(this.price)) return { serve: false, reason: 'over_credit' };
    return { serve: true };
  }

  /**
   * Sets `serve`; a choke not yet told to the peer is told with `payment_required` when `mayReply`.
   *
   * @param {import('./outcome.js').Outcome} out
   * @param {boolean} mayReply
   * @param {number} [inFlight]
   */
  decide(out, mayReply, inFlight = 0) {
    const { serve, reason } = this.decision(inFlight);
    out.serve = serve;
    if (serve) {
      this.toldChoked = false;
      return;
    }
    if (mayReply && !this.toldChoked && out.reply === null) {
      /** @type {wire.PaymentRequiredMessage} */
      const required = { t: 'payment_required', reason: /** @type {string} */ (reason), paid: this.paid, served: this.served };
      if (reason === 'deposit_exhausted') required.deposit = this.deposit;
      out.reply = wire.encode(required);
      this.toldChoked = true;
    }
  }
}
