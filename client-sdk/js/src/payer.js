/**
 * The payer's side (docs/wire-protocol.md §3, §5): a `PayerChannel` per payee — its salt, deposit and
 * the receipts signed on it, shared by every connection to that payee, so no reconnection can make it
 * sign below what it signed before — and a `PayerSession` per connection, which reads the payee's terms,
 * bids, announces the channel and relays the payee's answers. Sans-IO, like the payee.
 *
 * Channel states: `proposed` (a bid accepted, not funded) → `opening` (a gasless open signed) → `open`
 * (pay per verified piece) → `closing` (a close signed: no receipt after it) → `closed`.
 */

import { ZeroAddress, getAddress } from 'ethers';

import { PiecepayError } from './errors.js';
import { Party, ReceiptHasher, addressOf, channelId, digest, recoverDigest, signDigest } from './eip712.js';
import { dispatch, unexpected } from './outcome.js';
import * as wire from './wire.js';

const MAX_UINT40 = (1n << 40n) - 1n;

/**
 * @typedef {object} PayerChannelConfig
 * @property {import('ethers').SigningKey} key
 * @property {ReturnType<typeof import('./eip712.js').domain>} domain
 * @property {string} payee
 * @property {number} salt
 * @property {ReceiptHasher} [hasher]
 * @property {string} [relayer] the only relayer that may submit what this channel signs (opens, top-ups,
 *   cooperative closes) and so take their fees; default: the zero address, anyone
 * @property {number} [channelNonce] the channel's nonce on the escrow (`channel(id).nonce`), which those
 *   signatures carry; default 0 (a channel whose nonce was never advanced)
 */

export class PayerChannel {
  /** @param {PayerChannelConfig} config */
  constructor(config) {
    this.key = config.key;
    this.domain = config.domain;
    this.hasher = config.hasher ?? new ReceiptHasher(config.domain);
    this.payer = addressOf(config.key);
    this.payee = getAddress(config.payee);
    if (this.payee === this.payer || BigInt(this.payee) === 0n) {
      throw new PiecepayError('invalid_channel', 'a channel needs a payee that is neither zero nor the payer');
    }
    if (!Number.isInteger(config.salt) || config.salt < 0 || config.salt > 0xffffffff) {
      throw new PiecepayError('invalid_channel', `salt ${config.salt} is not a uint32`);
    }
    this.salt = config.salt;
    this.id = channelId(this.payer, this.payee, this.salt);
    this.relayer = getAddress(config.relayer ?? ZeroAddress);
    this.channelNonce = config.channelNonce ?? 0;
    /** @type {'proposed' | 'opening' | 'open' | 'closing' | 'closed'} */
    this.state = 'proposed';
    /** The price in force (accepted). */
    this.price = 0n;
    /** The payee's credit window in token base units, as accepted (0 until a bid is). */
    this.credit = 0n;
    this.deposit = 0n;
    /** Value owed for pieces that passed their hash check. */
    this.owed = 0n;
    /** The highest cumulative signed: never signed again, nor anything below it. */
    this.signed = 0n;
    /** @type {string | null} the signature of `signed` */
    this.lastSig = null;
    /** The highest cumulative the payee acknowledged. */
    this.acknowledged = 0n;
    this.piecesPaid = 0;
    /** @type {{ message: Record<string, any>, sig: string } | null} the cooperative close signed */
    this.closing = null;
  }

  /**
   * Resumes from what the store holds: the highest cumulative signed before (this run or an earlier one).
   * What was owed up to it counts as paid.
   *
   * @param {bigint} signed
   * @param {string | null} [sig]
   */
  restore(signed, sig = null) {
    if (signed <= this.signed) return;
    this.signed = signed;
    this.lastSig = sig;
    if (this.owed < signed) this.owed = signed;
  }

  /**
   * Signs the gasless open of this channel (EIP-712 `OpenChannel`) for a relayer to submit: proposed →
   * opening.
   *
   * @param {bigint} deposit
   * @param {bigint} fee what the submitting relayer takes
   * @param {bigint} deadline unix seconds
   * @param {string} [relayer] the only relayer that may submit it (default: the channel's `relayer`)
   */
  signOpen(deposit, fee, deadline, relayer = this.relayer) {
    if (this.state !== 'proposed' && this.state !== 'opening') {
      throw new PiecepayError('invalid_state', `cannot open a channel that is ${this.state}`);
    }
    if (deposit <= 0n) throw new PiecepayError('zero_amount', 'a channel needs a deposit');
    checkUint40(deadline);
    const message = { payee: this.payee, salt: this.salt, deposit, fee, relayer: getAddress(relayer), channelNonce: this.channelNonce, deadline };
    const sig = signDigest(this.key, digest(this.domain, 'OpenChannel', message));
    this.state = 'opening';
    return { payer: this.payer, ...message, sig };
  }

  /**
   * Signs a top-up of this channel to a new total `deposit` (EIP-712 `TopUp`) for a relayer to submit.
   *
   * @param {bigint} deposit the new total
   * @param {bigint} fee
   * @param {bigint} deadline
   * @param {string} [relayer] the only relayer that may submit it (default: the channel's `relayer`)
   */
  signTopUp(deposit, fee, deadline, relayer = this.relayer) {
    if (this.state !== 'open') throw new PiecepayError('invalid_state', `cannot top up a channel that is ${this.state}`);
    if (deposit <= this.deposit) throw new PiecepayError('stale_top_up', `a top-up to ${deposit} is not above ${this.deposit}`);
    checkUint40(deadline);
    const message = { payee: this.payee, salt: this.salt, deposit, fee, relayer: getAddress(relayer), channelNonce: this.channelNonce, deadline };
    return { payer: this.payer, ...message, sig: signDigest(this.key, digest(this.domain, 'TopUp', message)) };
  }

  /**
   * The chain shows the channel funded with `deposit` (opened, adopted, or topped up).
   *
   * @param {bigint} deposit
   */
  funded(deposit) {
    if (this.state === 'closing' || this.state === 'closed') {
      throw new PiecepayError('invalid_state', `cannot fund a channel that is ${this.state}`);
    }
    if (deposit <= 0n) throw new PiecepayError('zero_amount', 'the channel holds no deposit');
    if (deposit > this.deposit) this.deposit = deposit;
    this.state = 'open';
  }

  /**
   * `pieces` pieces passed their hash check: they are owed for at the price in force.
   *
   * @param {number} [pieces]
   */
  piecesVerified(pieces = 1) {
    if (this.state !== 'open') throw new PiecepayError('invalid_state', `cannot pay on a channel that is ${this.state}`);
    this.owed += this.price * BigInt(pieces);
    this.piecesPaid += pieces;
  }

  /** Whether pieces are owed and not yet covered by a signed receipt. */
  behind() {
    return this.owed > this.signed;
  }

  /**
   * Signs the receipt covering everything owed (one receipt may cover every piece verified since the
   * last one, like a delayed acknowledgement), or null when nothing is owed. The caller stores it
   * durably before it sends it (docs/sdk.md, "Persistence rules"); the channel never signs at or below
   * it again, stored or not.
   *
   * @returns {{ cumulative: bigint, sig: string, bytes: Uint8Array } | null}
   * @throws {PiecepayError} `top_up_needed` when what is owed passes the deposit (what fits is not
   *   signed either: the payee would refuse it only once it is over the deposit, so the caller tops up)
   */
  signNext() {
    if (this.state !== 'open') throw new PiecepayError('invalid_state', `cannot sign on a channel that is ${this.state}`);
    if (this.owed <= this.signed) return null;
    if (this.owed > this.deposit) {
      throw new PiecepayError('top_up_needed', `${this.owed} owed is above the deposit ${this.deposit}`);
    }
    const cumulative = this.owed;
    const sig = signDigest(this.key, this.hasher.digest(this.payee, this.salt, cumulative));
    this.signed = cumulative;
    this.lastSig = sig;
    return { cumulative, sig, bytes: wire.encode({ t: 'receipt', salt: this.salt, cumulative, sig }) };
  }

  /**
   * The last receipt signed, to send again (its acknowledgement went missing), or null.
   */
  lastReceipt() {
    if (this.lastSig === null) return null;
    return wire.encode({ t: 'receipt', salt: this.salt, cumulative: this.signed, sig: this.lastSig });
  }

  /**
   * The `channel` announcement for the payee.
   *
   * @param {string} [tx] the transaction that opened or topped it up (a hint)
   */
  announcement(tx) {
    /** @type {wire.ChannelMessage} */
    const message = { t: 'channel', payer: this.payer.toLowerCase(), salt: this.salt, id: this.id, deposit: this.deposit };
    if (tx) message.tx = tx.toLowerCase();
    return wire.encode(message);
  }

  /**
   * Signs a cooperative close at the highest cumulative signed: open → closing; no receipt after it.
   *
   * @param {bigint} fee what the submitting relayer (the channel's `relayer`, or anyone if zero) takes
   * @param {bigint} deadline unix seconds
   */
  close(fee, deadline) {
    if (this.state !== 'open' && this.state !== 'closing') {
      throw new PiecepayError('invalid_state', `cannot close a channel that is ${this.state}`);
    }
    checkUint40(deadline);
    const message = {
      payer: this.payer,
      payee: this.payee,
      salt: this.salt,
      cumulative: this.signed,
      fee,
      relayer: this.relayer,
      channelNonce: this.channelNonce,
      deadline,
    };
    const sig = signDigest(this.key, digest(this.domain, 'CooperativeClose', message));
    this.closing = { message, sig };
    this.state = 'closing';
    return wire.encode(wire.closeMessage(message, sig));
  }
}

/** @param {bigint} deadline */
function checkUint40(deadline) {
  if (deadline < 0n || deadline > MAX_UINT40) throw new PiecepayError('deadline_out_of_range', 'the deadline does not fit uint40');
}

/**
 * @typedef {import('./eip712.js').PartyConfig & PayerPolicy} PayerConfig the payer's key, the escrow it
 *   trusts (terms naming another are refused), and how it buys
 *
 * @typedef {object} PayerPolicy
 * @property {bigint} maxPrice the most paid for one piece
 * @property {bigint} [bid] the price to offer when above the payee's asking price (jumping its unchoke
 *   queue), at most `maxPrice`
 * @property {(payee: string) => PayerChannel | null} channelTo the channel to a payee (shared by every
 *   connection to it), or null to not buy from it
 */

export class PayerSession extends Party {
  /** @param {PayerConfig} config */
  constructor(config) {
    super(config);
    this.maxPrice = config.maxPrice;
    this.offer = config.bid ?? 0n;
    this.channelTo = config.channelTo;
    /** @type {PayerChannel | null} */
    this.channel = null;
    /** The price last bid. */
    this.bidPrice = 0n;
    /** Whether the payee accepted a bid on this connection. */
    this.accepted = false;
    /** Whether the payee was told about the funded channel on this connection. */
    this.announced = false;
  }

  /**
   * Handles bytes from the peer.
   *
   * @param {Uint8Array} bytes
   */
  onMessage(bytes) {
    return dispatch(bytes, (message, out) => {
      switch (message.t) {
        case 'terms':
          return this.onTerms(message, out);
        case 'accept':
          return this.onAccept(message, out);
        case 'reject':
          out.peerCode = message.code;
          return this.onReject(message, out);
        case 'receipt_ack':
          if (this.channel && message.cumulative > this.channel.acknowledged) {
            this.channel.acknowledged = message.cumulative <= this.channel.signed ? message.cumulative : this.channel.signed;
          }
          return undefined;
        case 'payment_required':
          out.peerCode = message.reason;
          return this.onPaymentRequired(message, out);
        case 'close':
          return this.onClose(message, out);
        default:
          throw unexpected(message.t, 'it is sent by the other role');
      }
    });
  }

  /** @param {wire.TermsMessage} terms @param {import('./outcome.js').Outcome} out */
  onTerms(terms, out) {
    if (terms.chain !== this.chainId) throw mismatch('chain');
    if (getAddress(terms.escrow) !== this.escrow) throw mismatch('escrow');
    if (getAddress(terms.token) !== this.token) throw mismatch('token');
    const payee = getAddress(terms.payee);
    if (this.channel && this.channel.payee !== payee) throw mismatch('payee');
    if (terms.price > this.maxPrice) {
      throw new PiecepayError('price_above_max', `price ${terms.price} is above the most this payer pays, ${this.maxPrice}`);
    }
    const channel = this.channel ?? this.channelTo(payee);
    // Not a payee this payer buys from: it stays silent, and the peer serves it as it serves anyone.
    if (!channel) return;
    this.channel = channel;
    this.bidPrice = this.offer > terms.price ? (this.offer < this.maxPrice ? this.offer : this.maxPrice) : terms.price;
    out.reply = this.bid();
  }

  bid() {
    const channel = /** @type {PayerChannel} */ (this.channel);
    return wire.encode({ t: 'bid', price: this.bidPrice, payer: this.address.toLowerCase(), salt: channel.salt });
  }

  /** @param {wire.AcceptMessage} accept @param {import('./outcome.js').Outcome} out */
  onAccept(accept, out) {
    const channel = this.channel;
    if (!channel) throw unexpected('accept', 'no bid was made');
    if (accept.price > this.bidPrice) {
      throw new PiecepayError('invalid_terms', `accepted price ${accept.price} is above the bid ${this.bidPrice}`);
    }
    if (channel.state === 'closing' || channel.state === 'closed') throw unexpected('accept', `the channel is ${channel.state}`);
    channel.price = accept.price;
    channel.credit = accept.credit_pieces !== undefined ? accept.price * BigInt(accept.credit_pieces) : /** @type {bigint} */ (accept.credit_amount);
    this.accepted = true;
    if (channel.state === 'open') {
      // A payee met again on a new connection: its new conversation has to hear about the channel.
      out.reply = channel.announcement();
      this.announced = true;
    } else {
      out.open = { payee: channel.payee, salt: channel.salt, id: channel.id };
    }
  }

  /** @param {wire.RejectMessage} reject @param {import('./outcome.js').Outcome} out */
  onReject(reject, out) {
    const min = reject.min_price;
    if (this.channel && min !== undefined && min > this.bidPrice && min <= this.maxPrice) {
      this.bidPrice = min;
      out.reply = this.bid();
    }
  }

  /** @param {wire.PaymentRequiredMessage} required @param {import('./outcome.js').Outcome} out */
  onPaymentRequired(required, out) {
    const channel = this.channel;
    if (!channel) return;
    if (required.reason === 'not_open' && channel.state === 'open' && this.accepted) {
      // The payee may have missed (or not yet checked) the announcement: repeat it.
      out.reply = channel.announcement();
    } else if (required.reason === 'deposit_exhausted' && channel.state === 'open') {
      // Enough for what the payee served plus one piece, or twice the deposit, whichever is more.
      const needed = required.served + channel.price;
      const twice = channel.deposit * 2n;
      const total = needed > twice ? needed : twice;
      out.topUp = total < wire.MAX_AMOUNT ? total : wire.MAX_AMOUNT;
    }
  }

  /** @param {wire.CloseMessage} close @param {import('./outcome.js').Outcome} out */
  onClose(close, out) {
    const ours = this.channel?.closing;
    if (!this.channel || !ours) throw unexpected('close', 'the payer proposes cooperative closes');
    const m = ours.message;
    const same =
      close.cumulative === m.cumulative &&
      close.fee === m.fee &&
      getAddress(close.relayer ?? ZeroAddress) === m.relayer &&
      (close.nonce ?? 0) === m.channelNonce &&
      close.deadline === m.deadline;
    if (!same) {
      throw unexpected('close', 'it differs from the close the payer signed');
    }
    const signer = recoverDigest(digest(this.domain, 'CooperativeClose', m), close.sig);
    if (signer !== this.channel.payee) {
      throw new PiecepayError('wrong_signer', `the close is co-signed by ${signer}, not the payee ${this.channel.payee}`);
    }
    out.closeSigned = {
      payer: m.payer,
      payee: m.payee,
      salt: m.salt,
      cumulative: m.cumulative,
      fee: m.fee,
      relayer: m.relayer,
      channelNonce: m.channelNonce,
      deadline: m.deadline,
      payerSig: ours.sig,
      payeeSig: close.sig,
    };
  }

  /**
   * The channel is funded (the caller opened or adopted it, `channel.funded(deposit)`): the `channel`
   * message announcing it on this connection.
   *
   * @param {string} [tx]
   */
  announce(tx) {
    if (!this.channel || this.channel.state !== 'open') throw new PiecepayError('invalid_state', 'no funded channel to announce');
    this.announced = true;
    return this.channel.announcement(tx);
  }
}

/** @param {string} what */
function mismatch(what) {
  return new PiecepayError('terms_mismatch', `the terms name another ${what} than the escrow this payer trusts`);
}
