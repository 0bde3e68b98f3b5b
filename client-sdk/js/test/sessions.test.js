// The sans-IO sessions talking to each other in process: negotiation, credit, lazy receipt verification,
// acknowledgements, the cooperative close, and refusals that change nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SigningKey, ZeroAddress } from 'ethers';

import { addressOf, digest, domain, recoverDigest, signDigest } from '../src/eip712.js';
import { PayeeSession } from '../src/payee.js';
import { PayerChannel, PayerSession } from '../src/payer.js';
import * as wire from '../src/wire.js';

const CHAIN = 31337n;
const ESCROW = '0xE5e5E5E5e5e5E5E5E5E5e5E5e5e5e5E5e5e5e5e5';
const TOKEN = '0x7070707070707070707070707070707070707070';
const PAYER_KEY = new SigningKey(`0x${'01'.repeat(32)}`);
const PAYEE_KEY = new SigningKey(`0x${'02'.repeat(32)}`);
const NOW = 1_700_000_000;

function payee(options = {}) {
  return new PayeeSession({ chainId: CHAIN, escrow: ESCROW, token: TOKEN, key: PAYEE_KEY, price: 1000n, creditPieces: 4, ...options });
}

function payer(options = {}) {
  const channels = new Map();
  const session = new PayerSession({
    chainId: CHAIN,
    escrow: ESCROW,
    token: TOKEN,
    key: PAYER_KEY,
    maxPrice: 5000n,
    channelTo: (to) => {
      if (!channels.has(to)) channels.set(to, new PayerChannel({ key: PAYER_KEY, domain: domain(CHAIN, ESCROW), payee: to, salt: 7 }));
      return channels.get(to);
    },
    ...options,
  });
  return session;
}

/** Both sides up to an open channel with `deposit`. */
function opened(deposit = 100_000n, payeeOptions = {}) {
  const a = payee(payeeOptions);
  const b = payer();
  const bid = b.onMessage(a.terms());
  assert.equal(wire.decode(bid.reply).t, 'bid');
  const accept = a.onMessage(bid.reply, NOW);
  assert.equal(a.state, 'proposed');
  const funding = b.onMessage(accept.reply);
  assert.deepEqual(funding.open, { payee: addressOf(PAYEE_KEY), salt: 7, id: b.channel.id });
  b.channel.funded(deposit);
  const claim = a.onMessage(b.announce(), NOW);
  assert.equal(claim.checkChannel.deposit, deposit);
  assert.equal(claim.checkChannel.id, b.channel.id);
  const funded = a.channelFunded(deposit);
  assert.equal(funded.serve, true);
  assert.equal(a.state, 'open');
  return { a, b };
}

/** The payer pays one piece; the payee takes the receipt. */
function payOne(a, b) {
  b.channel.piecesVerified(1);
  const receipt = b.channel.signNext();
  return a.onMessage(receipt.bytes, NOW);
}

test('negotiation to an open channel; a piece served and paid; lazy verification acknowledges in one go', () => {
  const { a, b } = opened();
  // Serve two pieces; the receipts are held (the peer owes less than half its credit).
  for (let i = 0; i < 2; i += 1) {
    assert.equal(a.checkRequest().serve, true);
    a.onPieceServed();
    const out = payOne(a, b);
    assert.equal(out.error, null);
    assert.equal(out.persist, null, 'held, not yet verified');
  }
  assert.equal(a.held.cumulative, 2000n);
  // The timer verifies the newest: one acknowledgement covers both.
  const tick = a.tick();
  assert.equal(tick.persist.cumulative, 2000n);
  assert.deepEqual(wire.decode(tick.reply), { t: 'receipt_ack', cumulative: 2000n });
  b.onMessage(tick.reply);
  assert.equal(b.channel.acknowledged, 2000n);
  // The persisted receipt is the payer's own signature over (payee, salt, cumulative).
  const hash = digest(domain(CHAIN, ESCROW), 'Receipt', { payee: a.address, salt: 7, cumulative: 2000n });
  assert.equal(recoverDigest(hash, tick.persist.sig), b.address);
});

test('credit: the payee chokes once over its window, with one payment_required, and unchokes when paid', () => {
  const { a, b } = opened();
  for (let i = 0; i < 3; i += 1) {
    assert.equal(a.checkRequest().serve, true);
    assert.equal(a.onPieceServed().serve, true);
  }
  // The fourth piece fills the window; the next request is refused, and the peer told why.
  assert.equal(a.onPieceServed().serve, false);
  const choke = a.checkRequest();
  assert.equal(choke.serve, false);
  assert.deepEqual(wire.decode(choke.reply), { t: 'payment_required', reason: 'over_credit', paid: 0n, served: 4000n });
  // Told once per choke.
  const again = a.checkRequest();
  assert.equal(again.serve, false);
  assert.equal(again.reply, null);
  // The payer pays all four; the receipt is due at once (owed ≥ half the window) and unchokes.
  b.channel.piecesVerified(4);
  const out = a.onMessage(b.channel.signNext().bytes, NOW);
  assert.equal(out.persist.cumulative, 4000n);
  assert.equal(out.serve, true);
  // Pieces in flight count against the deposit, not the window (§7 counts pieces sent).
  assert.equal(a.checkRequest(50).serve, true);
  assert.equal(a.checkRequest(96).serve, false, 'the deposit (100 pieces) would not cover them');
});

test('the deposit bounds serving and receipts', () => {
  const { a, b } = opened(2000n);
  a.onPieceServed();
  a.onPieceServed();
  const choke = a.checkRequest();
  assert.deepEqual(wire.decode(choke.reply), { t: 'payment_required', reason: 'deposit_exhausted', paid: 0n, served: 2000n, deposit: 2000n });
  const required = b.onMessage(choke.reply);
  assert.equal(required.peerCode, 'deposit_exhausted');
  assert.equal(required.topUp, 4000n);
  b.channel.piecesVerified(3);
  assert.throws(() => b.channel.signNext(), { code: 'top_up_needed' });
});

test('receipts: stale, over the deposit, forged, for another salt, and a resend', () => {
  const { a, b } = opened();
  a.onPieceServed();
  b.channel.piecesVerified(1);
  const first = b.channel.signNext();
  a.onMessage(first.bytes, NOW);
  a.tick();
  assert.equal(a.paid, 1000n);
  // The same receipt again: acknowledged again, no change.
  const again = a.onMessage(first.bytes, NOW);
  assert.equal(again.persist.cumulative, 1000n);
  assert.equal(wire.decode(again.reply).t, 'receipt_ack');
  const refuse = (message, code) => {
    const before = { paid: a.paid, held: a.held };
    const out = a.onMessage(wire.encode(message), NOW);
    assert.equal(out.error?.code, code);
    assert.deepEqual(wire.decode(out.reply), { ...wire.decode(out.reply), t: 'error', code, re: 'receipt' });
    assert.deepEqual({ paid: a.paid, held: a.held }, before, 'a refusal changes nothing');
  };
  refuse({ t: 'receipt', salt: 7, cumulative: 500n, sig: first.sig }, 'stale_receipt');
  refuse({ t: 'receipt', salt: 7, cumulative: 200_000n, sig: first.sig }, 'exceeds_deposit');
  refuse({ t: 'receipt', salt: 8, cumulative: 2000n, sig: first.sig }, 'channel_mismatch');
  // A forged receipt passes the cheap checks, is held, and fails when verified.
  const forged = signDigest(PAYEE_KEY, digest(domain(CHAIN, ESCROW), 'Receipt', { payee: a.address, salt: 7, cumulative: 3000n }));
  assert.equal(a.onMessage(wire.encode({ t: 'receipt', salt: 7, cumulative: 3000n, sig: forged }), NOW).error, null);
  const verified = a.tick();
  assert.equal(verified.error.code, 'wrong_signer');
  assert.equal(a.paid, 1000n);
  assert.equal(a.held, null);
  // A high-s signature is refused as such.
  // (EIP-2098 leaves room for s in (n/2, 2^255) only: the top bit is the parity.)
  const halfN = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n >> 1n;
  const highS = `${first.sig.slice(0, 66)}${(halfN + 1n).toString(16).padStart(64, '0')}`;
  a.onMessage(wire.encode({ t: 'receipt', salt: 7, cumulative: 4000n, sig: highS }), NOW);
  assert.equal(a.tick().error.code, 'signature_high_s');
});

test('cooperative close: the payer signs, the payee co-signs, both hold the same close', () => {
  const { a, b } = opened();
  a.onPieceServed();
  payOne(a, b);
  const proposal = b.channel.close(0n, BigInt(NOW + 3600));
  const answer = a.onMessage(proposal, NOW);
  assert.equal(answer.error, null);
  assert.equal(answer.persist.cumulative, 1000n, 'the held receipt is accepted with the close');
  assert.equal(answer.serve, false);
  assert.equal(a.state, 'closing');
  const done = b.onMessage(answer.reply);
  assert.deepEqual(done.closeSigned, answer.closeSigned);
  assert.throws(() => b.channel.signNext(), { code: 'invalid_state' });
});

test('a cooperative close names its relayer and channel nonce; both sign them, and the wire carries them', () => {
  const { a, b } = opened();
  a.onPieceServed();
  payOne(a, b);
  const relayer = `0x${'7e'.repeat(20)}`;
  b.channel.relayer = addressOf(new SigningKey(`0x${'77'.repeat(32)}`));
  b.channel.channelNonce = 3;
  const proposal = b.channel.close(5n, BigInt(NOW + 3600));
  const sent = wire.decode(proposal);
  assert.equal(sent.relayer, b.channel.relayer.toLowerCase());
  assert.equal(sent.nonce, 3);
  const answer = a.onMessage(proposal, NOW);
  assert.equal(answer.error, null);
  assert.equal(answer.closeSigned.relayer, b.channel.relayer);
  assert.equal(answer.closeSigned.channelNonce, 3);
  const done = b.onMessage(answer.reply);
  assert.deepEqual(done.closeSigned, answer.closeSigned);
  // The payee signed exactly those fields: its signature does not recover for another relayer or nonce.
  const m = { ...b.channel.closing.message };
  assert.equal(recoverDigest(digest(domain(CHAIN, ESCROW), 'CooperativeClose', m), answer.closeSigned.payeeSig), a.address);
  for (const other of [{ relayer }, { channelNonce: 4 }]) {
    const h = digest(domain(CHAIN, ESCROW), 'CooperativeClose', { ...m, ...other });
    assert.notEqual(recoverDigest(h, answer.closeSigned.payeeSig), a.address);
  }
});

test('a close below the receipts, expired or forged is refused and changes nothing', () => {
  const { a, b } = opened();
  a.onPieceServed();
  payOne(a, b);
  a.tick();
  const dom = domain(CHAIN, ESCROW);
  const close = (cumulative, deadline, key = PAYER_KEY) => {
    const m = { payer: b.address, payee: a.address, salt: 7, cumulative, fee: 0n, relayer: ZeroAddress, channelNonce: 0, deadline };
    return wire.encode({ t: 'close', cumulative, fee: 0n, deadline, sig: signDigest(key, digest(dom, 'CooperativeClose', m)) });
  };
  assert.equal(a.onMessage(close(500n, BigInt(NOW + 60)), NOW).error.code, 'close_below_receipts');
  assert.equal(a.onMessage(close(1000n, BigInt(NOW - 1)), NOW).error.code, 'signature_expired');
  const far = wire.encode({ t: 'close', cumulative: 1000n, fee: 0n, deadline: 1n << 41n, sig: `0x${'ab'.repeat(64)}` });
  assert.equal(a.onMessage(far, NOW).error.code, 'deadline_out_of_range');
  assert.equal(a.onMessage(close(1000n, BigInt(NOW + 60), PAYEE_KEY), NOW).error.code, 'wrong_signer');
  assert.equal(a.state, 'open');
});

test('bids: too low is rejected with the minimum, the payer raises within its maximum; terms it distrusts', () => {
  const a = payee({ price: 3000n });
  const b = payer({ bid: 0n });
  // The payer bids the asking price.
  const bid = wire.decode(b.onMessage(a.terms()).reply);
  assert.equal(bid.price, 3000n);
  const low = a.onMessage(wire.encode({ ...bid, price: 2000n }), NOW);
  assert.deepEqual(wire.decode(low.reply), { t: 'reject', code: 'bid_too_low', min_price: 3000n });
  b.bidPrice = 2000n;
  const raised = b.onMessage(low.reply);
  assert.equal(wire.decode(raised.reply).price, 3000n);
  // A payee asking above the payer's maximum, or on another escrow.
  const greedy = payee({ price: 6000n });
  assert.equal(payer().onMessage(greedy.terms()).error.code, 'price_above_max');
  const other = new PayeeSession({ chainId: 1n, escrow: ESCROW, token: TOKEN, key: PAYEE_KEY, price: 1000n, creditPieces: 4 });
  const out = payer().onMessage(other.terms());
  assert.equal(out.error.code, 'terms_mismatch');
  assert.deepEqual(wire.decode(out.reply), { ...wire.decode(out.reply), t: 'error', code: 'terms_mismatch', re: 'terms' });
});

test('messages of the wrong role or state are answered with an error; an error is never answered', () => {
  const a = payee();
  const b = payer();
  assert.equal(a.onMessage(a.terms(), NOW).error.code, 'unexpected_message');
  assert.equal(a.onMessage(wire.encode({ t: 'receipt', salt: 7, cumulative: 1n, sig: `0x${'ab'.repeat(64)}` }), NOW).error.code, 'unexpected_message');
  assert.equal(b.onMessage(wire.encode({ t: 'receipt_ack', cumulative: 1n })).error, null);
  assert.equal(b.onMessage(wire.encode({ t: 'bid', price: 1n, payer: `0x${'11'.repeat(20)}`, salt: 1 })).error.code, 'unexpected_message');
  const garbage = a.onMessage(Buffer.from('d1:t5:helloe'), NOW);
  assert.deepEqual(wire.decode(garbage.reply), { ...wire.decode(garbage.reply), t: 'error', code: 'unknown_message', re: 'hello' });
  const error = a.onMessage(wire.encode({ t: 'error', code: 'whatever' }), NOW);
  assert.equal(error.reply, null);
  assert.equal(error.peerCode, 'whatever');
  // A bid naming another channel than the one agreed.
  const { a: agreed } = opened();
  const other = agreed.onMessage(wire.encode({ t: 'bid', price: 1000n, payer: addressOf(PAYER_KEY).toLowerCase(), salt: 8 }), NOW);
  assert.equal(other.error.code, 'unexpected_message');
});

test('a payer never signs at or below what it signed before (restored from its store)', () => {
  const channel = new PayerChannel({ key: PAYER_KEY, domain: domain(CHAIN, ESCROW), payee: addressOf(PAYEE_KEY), salt: 7 });
  channel.restore(5000n);
  channel.price = 1000n;
  channel.funded(100_000n);
  assert.equal(channel.signNext(), null, 'what was signed before covers the pieces owed so far');
  channel.piecesVerified(1);
  assert.equal(channel.signNext().cumulative, 6000n);
});

test('eager verification acknowledges each receipt at once', () => {
  const { a, b } = opened(100_000n, { lazy: false });
  a.onPieceServed();
  assert.equal(payOne(a, b).persist.cumulative, 1000n);
});
